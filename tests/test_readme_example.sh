#!/usr/bin/env bash
# The README's C examples compile with the committed nostr.h as a user
# would (plain `cc`, the libraries the README names) and run; their output
# is checked. ctest passes the build directory as $1 (for nostr-verify).
set -u
build=$1
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }

# Every ```c block with a main() in README.md, in order.
python3 - "$root/README.md" "$tmp" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
blocks = [b for b in re.findall(r"```c\n(.*?)```", text, re.S) if "int main" in b]
for i, b in enumerate(blocks):
    open("%s/example%d.c" % (sys.argv[2], i), "w").write(b)
print(len(blocks))
PY
n=$(ls "$tmp"/example*.c 2>/dev/null | wc -l)
[ "$n" -ge 1 ] && ok || bad "no C example with main() in README.md"

for src in "$tmp"/example*.c; do
  exe=${src%.c}
  if cc -Wall -Wextra -Werror -I"$root" "$src" -o "$exe" -lsecp256k1 -lmbedtls -lmbedx509 -lmbedcrypto 2>"$tmp/cc.log"; then
    ok
  else
    bad "$(basename "$src") does not compile:"; cat "$tmp/cc.log"; continue
  fi
  out=$("$exe" 2>&1); rc=$?
  [ $rc -eq 0 ] && ok || bad "$(basename "$src") exited $rc: $out"
  # An EVENT message line, whose event nostr-verify accepts.
  ev=$(printf '%s\n' "$out" | sed -n 's/^\["EVENT",\(.*\)\]$/\1/p' | head -1)
  if [ -n "$ev" ]; then
    printf '%s\n' "$ev" | "$build/nostr-verify" >/dev/null && ok || bad "nostr-verify rejects the example's event: $ev"
    printf '%s' "$ev" | grep -q '"content":"hello world"' && ok || bad "content is not hello world"
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
