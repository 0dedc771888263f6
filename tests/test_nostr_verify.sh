#!/usr/bin/env bash
# nostr-verify and nostr-keygen end to end: real events, altered events,
# garbage, NUL bytes, a 5 MB line, empty input; key round trips.
# Usage: test_nostr_verify.sh BUILD_DIR   (ctest runs it from tests/)
set -u
build=${1:?usage: $0 BUILD_DIR}
verify=$build/nostr-verify
keygen=$build/nostr-keygen
passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
# expect_eq WHAT EXPECTED ACTUAL
expect_eq() { if [ "$2" == "$3" ]; then ok; else bad "$1: expected [$2], got [$3]"; fi; }
# run_verify INPUT_FILE: sets out and rc
run_verify() { out=$("$verify" < "$1" 2> "$tmp/stderr"); rc=$?; }

for p in "$verify" "$keygen"; do
  if [ ! -x "$p" ]; then echo "missing $p"; echo "0 passed, 1 failed"; exit 1; fi
done

# Three real events (from shared/data/events-real.jsonl, harvested from public
# relays' data; see that file's README): kind 1, kind 30078 with a \n escape
# and a tag, kind 0 with escaped JSON content.
E1='{"id":"85ea32eb708aba00cd6b546c64fa8f738c24b269a0f37a4b9e19ec75a1b1cfec","pubkey":"fd5989ddfadd9e2af6ceb8b63942a9e31b37367e89917931ede3b2ea76823f10","created_at":1741372905,"kind":1,"tags":[],"content":"Is there a website or app that shows Nostr traffic by date?","sig":"59fd15343344da927d216d3882004c0ef58ae0f5f37874404df8df5664de92ce6866baadc6155f2657f71ba40d54aa2eca4306d887e0bc268089dbcd6f5d4a11"}'
E2='{"id":"66bb0c400a7f2ab49f768b0dfeb2c3b44c065da819161198c9737a3e8a5047ff","pubkey":"4523be58d395b1b196a9b8c82b038b6895cb02b683d0c253a955068dba1facd0","created_at":1683879073,"kind":30078,"tags":[["d","zappedit.com"]],"content":"coffeechain\n","sig":"97645b609cd10ca664b79ad85f107d32ef9cc90bafa3d96dad739c888eac1d14faf38315b5ce1a78982268b462c6fb147d1d1ed162b2d6bcc20d60315d094bb0"}'
E3='{"id":"1263c31010df39efd2cb2e7b01b9c9879c3d911542e79206b7e2cc643cc5916a","pubkey":"af59b8ab0cd097b23858ec9b1917b9c52612537c8379d6611c89aeca0a01f83f","created_at":1640771143,"kind":0,"tags":[],"content":"{\"name\":\"joa\",\"about\":\"Hey\"}","sig":"20221c2affaf62775d1464d7369b5a4d0690de35d0deed6d2f5ab9083299df403c5b3a39e713e119b5651fe48457d3d03dfe0cc89dcfef2b18c661118b39b05c"}'
ID1=85ea32eb708aba00cd6b546c64fa8f738c24b269a0f37a4b9e19ec75a1b1cfec
ID2=66bb0c400a7f2ab49f768b0dfeb2c3b44c065da819161198c9737a3e8a5047ff
ID3=1263c31010df39efd2cb2e7b01b9c9879c3d911542e79206b7e2cc643cc5916a

# --- valid events; blank lines are skipped; CRLF and a missing final newline are fine
printf '%s\n\n%s\r\n  \n%s' "$E1" "$E2" "$E3" > "$tmp/valid"
run_verify "$tmp/valid"
expect_eq "valid: exit" 0 "$rc"
expect_eq "valid: output" "$(printf 'ok %s\nok %s\nok %s\n3 valid, 0 invalid' "$ID1" "$ID2" "$ID3")" "$out"

# --- altered events
alt_content=${E1/Is there/Was there}               # id no longer matches
alt_sig=${E1/\"sig\":\"59fd/\"sig\":\"59fe}         # signature of someone else's message
alt_hex=${E1/85ea32eb/85EA32EB}                    # uppercase hex is not NIP-01
alt_kind=${E1/\"kind\":1,/\"kind\":\"1\",}         # wrongly typed field
# A consistent id for a public key that is not on the curve (BIP-340 vector 5)
badpub=eefdea4cdb677750a420fee807eacf21eb9898ae79b9768766e4faa04a2d4a34
badpub_id=$(printf '[0,"%s",1700000000,1,[],"x"]' "$badpub" | sha256sum | cut -c1-64)
alt_pub=$(printf '{"id":"%s","pubkey":"%s","created_at":1700000000,"kind":1,"tags":[],"content":"x","sig":"%0128d"}' \
  "$badpub_id" "$badpub" 0)
printf '%s\n' "$alt_content" "$alt_sig" "$alt_hex" "$alt_kind" "$alt_pub" '{"id":"abc' '[1,2,3]' "$E2" > "$tmp/altered"
run_verify "$tmp/altered"
expect_eq "altered: exit" 1 "$rc"
mapfile -t lines <<< "$out"
expect_eq "altered: line count" 9 "${#lines[@]}"
expect_eq "altered: content" "invalid $ID1 bad-id:" "$(cut -d' ' -f1-3 <<< "${lines[0]}")"
expect_eq "altered: sig" "invalid $ID1 bad-sig:" "$(cut -d' ' -f1-3 <<< "${lines[1]}")"
expect_eq "altered: hex" "invalid ? bad-field:" "$(cut -d' ' -f1-3 <<< "${lines[2]}")"
expect_eq "altered: kind type" "invalid ? bad-field:" "$(cut -d' ' -f1-3 <<< "${lines[3]}")"
expect_eq "altered: pubkey" "invalid $badpub_id bad-pubkey:" "$(cut -d' ' -f1-3 <<< "${lines[4]}")"
expect_eq "altered: truncated json" "invalid ? bad-json:" "$(cut -d' ' -f1-3 <<< "${lines[5]}")"
if [[ "${lines[5]}" =~ at\ offset\ [0-9]+$ ]]; then ok; else bad "altered: no offset in [${lines[5]}]"; fi
expect_eq "altered: not an object" "invalid ?" "$(cut -d' ' -f1-2 <<< "${lines[6]}")"
expect_eq "altered: valid after invalid" "ok $ID2" "${lines[7]}"
expect_eq "altered: summary" "1 valid, 7 invalid" "${lines[8]}"

# --- garbage and NUL bytes: every line invalid, no crash
head -c 3000 /dev/urandom > "$tmp/garbage"
printf '{"id":"\0\0"}\n\0\0\0\n{"content":"a\0b"}\n' >> "$tmp/garbage"
run_verify "$tmp/garbage"
expect_eq "garbage: exit" 1 "$rc"
if [[ "$(tail -n 1 <<< "$out")" =~ ^0\ valid,\ [1-9][0-9]*\ invalid$ ]]; then ok; else bad "garbage: summary [$(tail -n 1 <<< "$out")]"; fi
others=$(head -n -1 <<< "$out" | grep -cv '^invalid ? ')
expect_eq "garbage: every result line is 'invalid ?'" 0 "$others"
if [ -s "$tmp/stderr" ]; then bad "garbage: stderr: $(head -c 200 "$tmp/stderr")"; else ok; fi

# --- a 5 MB line is skipped as too large; the lines around it still count
{
  printf '%s\n' "$E1"
  printf '{"content":"'; head -c 5000000 /dev/zero | tr '\0' a; printf '"}\n'
  printf '%s\n' "$E3"
} > "$tmp/huge"
run_verify "$tmp/huge"
expect_eq "huge: exit" 1 "$rc"
expect_eq "huge: output" "$(printf 'ok %s\ninvalid ? too-large: line over 4194304 bytes\nok %s\n2 valid, 1 invalid' "$ID1" "$ID3")" "$out"
# 2 MB (over the parser's 1 MiB default, under the line cap) is parsed
{ printf '{"content":"'; head -c 2000000 /dev/zero | tr '\0' b; printf '"}\n'; } > "$tmp/big"
run_verify "$tmp/big"
expect_eq "big: reason" "invalid ? bad-field:" "$(head -n 1 <<< "$out" | cut -d' ' -f1-3)"

# --- empty input and blank lines only
: > "$tmp/empty"
run_verify "$tmp/empty"
expect_eq "empty: exit" 0 "$rc"
expect_eq "empty: output" "0 valid, 0 invalid" "$out"
printf '\n\n \r\n' > "$tmp/blank"
run_verify "$tmp/blank"
expect_eq "blank: output" "0 valid, 0 invalid" "$out"

# --- nostr-keygen
gen=$("$keygen"); rc=$?
expect_eq "keygen: exit" 0 "$rc"
mapfile -t k <<< "$gen"
expect_eq "keygen: 4 lines" 4 "${#k[@]}"
if [[ "${k[0]}" =~ ^sec\ [0-9a-f]{64}$ && "${k[1]}" =~ ^nsec\ nsec1[02-9ac-hj-np-z]{58}$ &&
      "${k[2]}" =~ ^pub\ [0-9a-f]{64}$ && "${k[3]}" =~ ^npub\ npub1[02-9ac-hj-np-z]{58}$ ]]; then ok
else bad "keygen: format [$gen]"; fi
again=$("$keygen" --sec "${k[1]#nsec }")
expect_eq "keygen: nsec round trip" "$gen" "$again"
upper=$(tr a-f A-F <<< "${k[0]#sec }")
again=$("$keygen" --sec "$upper")
expect_eq "keygen: uppercase hex round trip" "$gen" "$again"
other=$("$keygen")
if [ "$other" != "$gen" ]; then ok; else bad "keygen: two runs gave the same key"; fi
# the NIP-19 examples (19.md): this nsec's public key is the example npub
nip19=$("$keygen" --sec=nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5)
expect_eq "keygen: NIP-19 nsec" "sec 67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa
nsec nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5
pub 7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e
npub npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg" "$nip19"
out=$("$keygen" --sec 0000000000000000000000000000000000000000000000000000000000000000 2> /dev/null); rc=$?
expect_eq "keygen: zero key exit" 1 "$rc"
expect_eq "keygen: zero key prints nothing" "" "$out"
out=$("$keygen" --sec "${k[3]#npub }" 2> /dev/null); rc=$?
expect_eq "keygen: npub is not a secret" 1 "$rc"
"$keygen" -h | grep -q '^usage: nostr-keygen'; expect_eq "keygen: -h" 0 "$?"
"$keygen" --bogus > /dev/null 2>&1; expect_eq "keygen: bad option exit" 2 "$?"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
