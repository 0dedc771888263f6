/* ---- nip19: bech32 entities (npub, nsec, note, nprofile, nevent, naddr) ---- */

/* Raw bech32 (BIP-173; NIP-19 strings may exceed 90 characters, so the
 * length limit is the caller's `max_len`, 0 = 5000). data holds 8-bit
 * bytes (converted from/to 5-bit groups here). */
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
    unsigned char key[32];    /* npub/nprofile pubkey, nsec secret, note/nevent id, unused for naddr */
    nostr_str identifier;     /* naddr 'd' identifier (TLV 0) */
    nostr_str *relays;        /* TLV 1, in order */
    size_t relay_count;
    unsigned char author[32]; /* TLV 2 (nevent optional, naddr required) */
    int has_author;
    unsigned kind;            /* TLV 3 (nevent optional, naddr required) */
    int has_kind;
} nostr_nip19;

/* Decode any of the six entity types; relays and identifier go into the
 * arena. Unknown TLV types are skipped. NOSTR_ERR_BECH32 (checksum, mixed
 * case, characters), NOSTR_ERR_PREFIX (unknown hrp), NOSTR_ERR_TLV. */
NOSTRDEF int nostr_nip19_decode(const char *s, size_t len, nostr_nip19 *out, nostr_arena *a, nostr_error *err);
/* Encode by out->type; TLVs in ascending type order. */
NOSTRDEF int nostr_nip19_encode(const nostr_nip19 *in, nostr_buf *out);
/* Shortcuts for the 32-byte kinds: hrp is "npub", "nsec" or "note". */
NOSTRDEF int nostr_nip19_encode_key(const char *hrp, const unsigned char key[32], nostr_buf *out);
/* Decode a string that must be of type `want` with a 32-byte payload
 * (npub/nsec/note; nprofile and nevent also give their key). */
NOSTRDEF int nostr_nip19_decode_key(const char *s, size_t len, nostr_nip19_type want, unsigned char key[32],
                                    nostr_error *err);
