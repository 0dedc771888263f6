#!/usr/bin/env bash
# The whole test suite: install what is missing, then
#   1. the committed headers match src/ (amalgamate.py --check)
#   2. gcc build, -Wall -Wextra -Werror, every ctest test
#   3. clang build with AddressSanitizer + UndefinedBehaviorSanitizer, every ctest test
#   3b. valgrind over the gcc-built C tests
#   4. every libFuzzer target for FUZZ_SECONDS (default 20) from its corpus
# Ends with "suites: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh || exit 1

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
JOBS=${JOBS:-$(nproc)}
pass=0; fail=0
step() { # name, command...
  local name=$1; shift
  echo "=== $name"
  if "$@"; then pass=$((pass+1)); echo "--- $name: ok"; else fail=$((fail+1)); echo "--- $name: FAILED"; fi
}

build_and_test() { # dir, cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" "$@" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; return 1; }
  if ! cmake --build "$dir" -j"$JOBS" >"$dir.build.log" 2>&1; then
    grep -E -A5 "error|Error" "$dir.build.log" | head -60; return 1
  fi
  (cd "$dir" && ctest --output-on-failure -j"$JOBS" --timeout 600)
}

# Valgrind over the gcc build's C tests: uninitialised reads that ASan does
# not see, and leaks. The interop test is left out (it spawns node).
valgrind_tests() {
  local ok=0 t
  for t in build/gcc/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *interop*) continue;; esac
    if ! (cd tests && valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
          "../$t" >/dev/null 2>"../build/valgrind-${t##*/}.log"); then
      echo "valgrind: ${t##*/} FAILED"; tail -40 "build/valgrind-${t##*/}.log"; ok=1
    else
      echo "valgrind: ${t##*/} clean"
    fi
  done
  return $ok
}

fuzz_all() {
  local dir=build/fuzz ok=0
  CC=clang CXX=clang++ cmake -S . -B "$dir" -DNOSTR_FUZZ=ON -DNOSTR_BENCH=OFF \
      -DNOSTR_WITH_PGWIRE=OFF -DNOSTR_WITH_RABBITMQ=OFF >/dev/null || return 1
  local targets=() src
  for src in fuzz/fuzz_*.c; do targets+=("$(basename "$src" .c)"); done
  cmake --build "$dir" -j"$JOBS" --target "${targets[@]}" >"$dir.build.log" 2>&1 ||
    { grep -E -A5 "error|Error" "$dir.build.log" | head -60; return 1; }
  for src in "${targets[@]}"; do
    local f=$dir/$src
    local name=${f##*/fuzz_} corpus=fuzz/corpus/${f##*/fuzz_}
    mkdir -p "$corpus" "$dir/new-$name" "$dir/crashes"
    echo "fuzz $name for ${FUZZ_SECONDS}s"
    # New inputs go to a scratch dir: the committed corpus changes only by hand.
    if ! "$f" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
         -artifact_prefix="$dir/crashes/$name-" -print_final_stats=0 "$dir/new-$name" "$corpus" \
         >"$dir/$name.log" 2>&1; then
      echo "fuzz $name FAILED: crash input kept in $dir/crashes (add it to $corpus)"
      # the sanitizer's report and stack (a plain tail shows only its shadow bytes), then the input
      grep -m1 -A30 -E "^==[0-9]+==ERROR|runtime error:|^SUMMARY|deadly signal|out-of-memory|timeout after" "$dir/$name.log"
      tail -4 "$dir/$name.log"; ok=1
    fi
  done
  return $ok
}

mkdir -p build
step "headers fresh (amalgamate.py --check)" python3 amalgamate.py --check
step "gcc build + tests" build_and_test build/gcc -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++
step "valgrind (gcc build)" valgrind_tests
step "clang ASan+UBSan build + tests" build_and_test build/asan -DCMAKE_C_COMPILER=clang \
     -DCMAKE_CXX_COMPILER=clang++ -DNOSTR_SANITIZE=ON -DNOSTR_BENCH=OFF
step "fuzz (${FUZZ_SECONDS}s per target)" fuzz_all
echo "suites: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
