/* ---- sha256: SHA-256 and HMAC-SHA256 (SHA-NI when the CPU has it) ---- */

typedef struct nostr_sha256_ctx {
    uint32_t h[8];
    uint64_t total;
    unsigned char block[64];
    size_t fill;
} nostr_sha256_ctx;

NOSTRDEF void nostr_sha256_init(nostr_sha256_ctx *s);
NOSTRDEF void nostr_sha256_update(nostr_sha256_ctx *s, const void *data, size_t len);
NOSTRDEF void nostr_sha256_final(nostr_sha256_ctx *s, unsigned char out[32]);
NOSTRDEF void nostr_sha256(const void *data, size_t len, unsigned char out[32]);
/* The same digest computed without CPU extensions (tests compare it with
 * the accelerated path). */
NOSTRDEF void nostr_sha256_portable(const void *data, size_t len, unsigned char out[32]);
NOSTRDEF void nostr_hmac_sha256(const unsigned char *key, size_t keylen, const unsigned char *msg, size_t msglen,
                                unsigned char out[32]);
