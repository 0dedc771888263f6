#!/usr/bin/env bash
# `cmake --install` of the build directory into a temporary prefix puts the
# committed headers, the programs, distrise.pc and the CMake package there;
# then three consumers sign and verify an event: (a) plain cc with
# `pkg-config --cflags --libs distrise`, (b) a CMake project using
# find_package(distrise) and distrise::headers, (c) a CMake project using
# add_subdirectory() of this repository (which must configure and build
# nothing but distrise::headers). Every failure fails the test.
# Usage: test_install.sh BUILD_DIR   (ctest runs it from tests/)
set -u
build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }
# At most 2 build jobs: the machine is shared.
export CMAKE_BUILD_PARALLEL_LEVEL=2

if cmake --install "$build" --prefix "$prefix" > "$tmp/install.log" 2>&1; then ok; else
  bad "cmake --install failed:"; cat "$tmp/install.log" >&2; finish
fi

# The committed headers, byte for byte (no #line directives).
for h in nostr.h nostr_relay.h nostr_gateway.h; do
  if cmp -s "$root/$h" "$prefix/include/$h"; then ok; else bad "include/$h missing or not the committed $h"; fi
  if grep -q '^#line' "$prefix/include/$h" 2> /dev/null; then bad "include/$h has #line directives"; else ok; fi
done
# Every program the build has, and at least the five that need no adapter.
for p in nostr-relay nostr-publish nostr-req nostr-keygen nostr-verify nostr-gateway; do
  if [ -x "$build/$p" ] || [ "$p" != nostr-gateway ]; then
    if [ -x "$prefix/bin/$p" ]; then ok; else bad "bin/$p not installed"; fi
  fi
done
out=$("$prefix/bin/nostr-keygen" 2>&1)
case "$out" in *npub1*) ok ;; *) bad "installed nostr-keygen printed no npub: $out" ;; esac
pc=$(find "$prefix" -name distrise.pc | head -1)
if [ -n "$pc" ]; then ok; else bad "no distrise.pc installed"; fi
cmakedir=$(dirname "$(find "$prefix" -name distrise-config.cmake | head -1)")
for f in distrise-config.cmake distrise-config-version.cmake distrise-targets.cmake; do
  if [ -f "$cmakedir/$f" ]; then ok; else bad "no $f installed"; fi
done

# The consumer: sign an event, verify it, and refuse it with a flipped bit.
cat > "$tmp/app.c" << 'C'
#include <stdio.h>
#define NOSTR_IMPLEMENTATION
#include "nostr.h"

int main(void)
{
    nostr_ctx *ctx = nostr_ctx_new(NULL);
    nostr_keys k;
    nostr_arena a;
    nostr_event ev;
    int good, tampered;

    if (!ctx || nostr_keys_generate(ctx, &k) != NOSTR_OK)
        return 2;
    nostr_arena_init(&a, NULL, 0, NULL);
    if (nostr_build_text_note(&ev, &a, 1700000000, "installed") != NOSTR_OK ||
        nostr_event_sign(ctx, &ev, &k) != NOSTR_OK)
        return 3;
    good = nostr_event_verify(ctx, &ev);
    ev.sig[5] ^= 1;
    tampered = nostr_event_verify(ctx, &ev);
    printf("%s\n", good == NOSTR_OK && tampered != NOSTR_OK ? "signed and verified" : "verify failed");
    nostr_arena_free(&a);
    nostr_keys_wipe(&k);
    nostr_ctx_free(ctx);
    return good == NOSTR_OK && tampered != NOSTR_OK ? 0 : 1;
}
C
run_app() { # NAME EXE
  local out
  out=$("$2" 2>&1)
  if [ $? -eq 0 ] && [ "$out" = "signed and verified" ]; then ok; else bad "$1: the program printed: $out"; fi
}

# (a) pkg-config: the flags must point into the prefix.
if [ -n "$pc" ]; then
  flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs distrise 2> "$tmp/pc.err")
  if [ $? -eq 0 ]; then ok; else bad "pkg-config distrise failed: $(cat "$tmp/pc.err")"; fi
  incdir=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --variable=includedir distrise)
  if [ "$(cd "$incdir" 2> /dev/null && pwd)" = "$prefix/include" ]; then ok; else
    bad "pkg-config includedir is $incdir, not $prefix/include"
  fi
  # shellcheck disable=SC2086
  if cc -Wall -Wextra -Werror "$tmp/app.c" -o "$tmp/app_pc" $flags 2> "$tmp/cc.log"; then ok; else
    bad "(a) cc \$(pkg-config --cflags --libs distrise) failed:"; cat "$tmp/cc.log" >&2
  fi
  [ -x "$tmp/app_pc" ] && run_app "(a) pkg-config" "$tmp/app_pc"
fi

# cmake_project DIR HOW: a project building app.c against distrise::headers.
cmake_project() {
  mkdir -p "$1"
  cp "$tmp/app.c" "$1/app.c"
  cat > "$1/CMakeLists.txt" << CM
cmake_minimum_required(VERSION 3.16)
project(app C)
$2
add_executable(app app.c)
target_compile_options(app PRIVATE -Wall -Wextra -Werror)
target_link_libraries(app PRIVATE distrise::headers)
CM
}
# build_project NAME DIR CMAKE_ARGS...: configure, build, run.
build_project() {
  local name=$1 dir=$2
  shift 2
  if cmake -S "$dir" -B "$dir/build" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON "$@" > "$dir/configure.log" 2>&1; then ok; else
    bad "$name: configure failed:"; cat "$dir/configure.log" >&2; return 1
  fi
  if cmake --build "$dir/build" > "$dir/build.log" 2>&1; then ok; else
    bad "$name: build failed:"; cat "$dir/build.log" >&2; return 1
  fi
  run_app "$name" "$dir/build/app"
}

# (b) find_package against the install, and the headers come from it.
cmake_project "$tmp/fp" "find_package(distrise 0.1 REQUIRED)"
if build_project "(b) find_package" "$tmp/fp" -DCMAKE_PREFIX_PATH="$prefix"; then
  if grep -q -- "-I$prefix/include\|-isystem $prefix/include" "$tmp/fp/build/compile_commands.json"; then ok; else
    bad "(b) find_package: app.c not compiled against $prefix/include"
  fi
fi

# (c) add_subdirectory of the repository: only the headers target, no
# tests, programs, benchmarks or generated headers.
cmake_project "$tmp/sub" "add_subdirectory(\"$root\" distrise-build)"
if build_project "(c) add_subdirectory" "$tmp/sub"; then
  extra=$(find "$tmp/sub/build/distrise-build" \( -name 'test_*' -o -name 'bench_*' -o -name 'nostr-*' \
    -o -name 'libnostr.a' -o -name gen \) | head -3)
  if [ -z "$extra" ]; then ok; else bad "(c) add_subdirectory built more than the headers: $extra"; fi
  if grep -q -- "-I$root \|-isystem $root " "$tmp/sub/build/compile_commands.json"; then ok; else
    bad "(c) add_subdirectory: app.c not compiled against $root"
  fi
fi
finish
