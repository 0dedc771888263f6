/* ---- pow: NIP-13 proof of work ---- */

/* Leading zero bits of a 32-byte id. */
NOSTRDEF int nostr_pow_difficulty(const unsigned char id[32]);
/* The target committed in the event's first ["nonce", n, target] tag,
 * when the id meets it; else 0 (go-nostr CommittedDifficulty). */
NOSTRDEF int nostr_pow_committed(const nostr_event *ev);
/* Mine: add (or replace) the nonce tag and search nonces until the id has
 * at least `bits` leading zero bits, trying at most max_tries (0 = no
 * limit). ev's pubkey and created_at must be final; sign afterwards.
 * NOSTR_OK, or NOSTR_ERR_POW when max_tries ran out. */
NOSTRDEF int nostr_pow_mine(nostr_event *ev, nostr_arena *a, int bits, unsigned long long max_tries);
