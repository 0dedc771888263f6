/* ---- nip19: bech32 entities (npub, nsec, note, nprofile, nevent, naddr) ---- */

/* Raw bech32 (BIP-173 checksum; NIP-19 strings may exceed BIP-173's 90
 * characters, so the limit is 5000). data holds 8-bit bytes (converted
 * from/to 5-bit groups here; decode rejects 5 or more padding bits and
 * non-zero padding). encode appends lowercase to out; its hrp must be
 * lowercase. decode accepts all-lowercase or all-uppercase, writes the
 * lowercased prefix into hrp (NOSTR_ERR_PREFIX if it needs more than
 * hrp_cap bytes with the NUL) and NOSTR_ERR_BUFFER if data_cap is short. */
NOSTRDEF int nostr_bech32_encode(const char *hrp, const unsigned char *data, size_t len, nostr_buf *out);
NOSTRDEF int nostr_bech32_decode(const char *s, size_t slen, char *hrp, size_t hrp_cap, unsigned char *data,
                                 size_t data_cap, size_t *data_len, nostr_error *err);

typedef enum nostr_nip19_type {
    NOSTR_NIP19_NONE = 0,
    NOSTR_NIP19_NPUB,
    NOSTR_NIP19_NSEC,
    NOSTR_NIP19_NOTE,
    NOSTR_NIP19_NPROFILE,
    NOSTR_NIP19_NEVENT,
    NOSTR_NIP19_NADDR
} nostr_nip19_type;

typedef struct nostr_nip19 {
    nostr_nip19_type type;
    unsigned char key[32]; /* npub/nprofile pubkey, nsec secret, note/nevent id, unused for naddr */
    nostr_str identifier;  /* naddr 'd' identifier (TLV 0) */
    nostr_str *relays;     /* TLV 1, in order */
    size_t relay_count;
    unsigned char author[32]; /* TLV 2 (nevent optional, naddr required) */
    int has_author;
    unsigned kind; /* TLV 3 (nevent optional, naddr required) */
    int has_kind;
} nostr_nip19;

/* Decode any of the six entity types; relays and identifier go into the
 * arena. Unknown TLV types are skipped. NOSTR_ERR_BECH32 (checksum, mixed
 * case, characters), NOSTR_ERR_PREFIX (unknown hrp), NOSTR_ERR_TLV
 * (truncated or wrong-length TLV, missing or duplicate TLV 0/2/3, or a
 * npub/nsec/note payload that is not 32 bytes). */
NOSTRDEF int nostr_nip19_decode(const char *s, size_t len, nostr_nip19 *out, nostr_arena *a, nostr_error *err);
/* Encode by in->type; TLVs in ascending type order. naddr needs
 * has_author and has_kind; a relay or identifier over 255 bytes gives
 * NOSTR_ERR_TLV, a string over 5000 characters NOSTR_ERR_TOO_LARGE. */
NOSTRDEF int nostr_nip19_encode(const nostr_nip19 *in, nostr_buf *out);
/* Shortcuts for the 32-byte kinds: hrp is "npub", "nsec" or "note". */
NOSTRDEF int nostr_nip19_encode_key(const char *hrp, const unsigned char key[32], nostr_buf *out);
/* Decode a string that must be of type `want` with a 32-byte payload
 * (npub/nsec/note; nprofile and nevent also give their key). */
NOSTRDEF int nostr_nip19_decode_key(const char *s, size_t len, nostr_nip19_type want, unsigned char key[32],
                                    nostr_error *err);
