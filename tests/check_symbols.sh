#!/usr/bin/env bash
# Every external symbol the library defines must start with nostr_ (stb
# rule: no collisions in the user's program). Internal helpers are static.
set -eu
lib=$1
bad=$(nm -g --defined-only "$lib" | awk 'NF==3 {print $3}' | grep -v '^nostr_' || true)
count=$(nm -g --defined-only "$lib" | awk 'NF==3' | wc -l)
if [ -n "$bad" ]; then
  echo "symbols without the nostr_ prefix:"; echo "$bad"
  echo "0 passed, 1 failed"; exit 1
fi
if [ "$count" -lt 10 ]; then echo "too few symbols ($count): wrong library?"; echo "0 passed, 1 failed"; exit 1; fi
echo "$count exported symbols, all prefixed nostr_"
echo "1 passed, 0 failed"
