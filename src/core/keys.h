/* ---- keys: context, key pairs, BIP-340 Schnorr signatures ----
 *
 * A nostr_ctx holds the libsecp256k1 context, the random source, the
 * allocator and the logger: there is no global state. Creating one costs
 * a few hundred microseconds; make one per program (or per thread that
 * signs) and reuse it. Verification only reads the context, so any
 * number of threads may verify with one context at the same time. */

typedef struct nostr_ctx nostr_ctx;

/* Random source: fill out[0..n) and return 0, or non-zero on failure. */
typedef int (*nostr_rng_fn)(void *user, unsigned char *out, size_t n);

/* Zeroed means: C library allocator, the OS CSPRNG (getrandom or
 * /dev/urandom), no logging. */
typedef struct nostr_ctx_config {
    nostr_allocator allocator;
    nostr_rng_fn rng;
    void *rng_user;
    nostr_log_fn log;
    void *log_user;
    int log_level; /* highest NOSTR_LOG_* passed to log */
} nostr_ctx_config;

NOSTRDEF nostr_ctx *nostr_ctx_new(const nostr_ctx_config *cfg);
NOSTRDEF void nostr_ctx_free(nostr_ctx *ctx);
NOSTRDEF const nostr_allocator *nostr_ctx_allocator(const nostr_ctx *ctx);
NOSTRDEF int nostr_random(nostr_ctx *ctx, void *out, size_t n);
NOSTRDEF void nostr_log(const nostr_ctx *ctx, int level, const char *msg);

/* A key pair: the secret key, its x-only public key, and the parsed
 * libsecp256k1 key pair (so signing does not redo the point
 * multiplication). Wipe it with nostr_keys_wipe when done. */
typedef struct nostr_keys {
    unsigned char sec[32];
    unsigned char pub[32];
    unsigned char internal[96]; /* secp256k1_keypair */
} nostr_keys;

NOSTRDEF int nostr_keys_generate(nostr_ctx *ctx, nostr_keys *out);
NOSTRDEF int nostr_keys_from_secret(nostr_ctx *ctx, const unsigned char sec[32], nostr_keys *out);
/* 64 hex characters (either case) or an nsec1 bech32 string. */
NOSTRDEF int nostr_keys_from_str(nostr_ctx *ctx, const char *hex_or_nsec, nostr_keys *out);
NOSTRDEF void nostr_keys_wipe(nostr_keys *k);
/* Is pub a valid x-only public key (on the curve)? NOSTR_OK or NOSTR_ERR_PUBKEY. */
NOSTRDEF int nostr_pubkey_check(const nostr_ctx *ctx, const unsigned char pub[32]);

/* BIP-340 over a message of any length. sign takes fresh auxiliary
 * randomness from the context's RNG; sign_aux takes it from the caller
 * (aux32 may be NULL for none) for reproducible tests. */
NOSTRDEF int nostr_schnorr_sign(nostr_ctx *ctx, const nostr_keys *k, const unsigned char *msg, size_t msglen,
                                unsigned char sig[64]);
NOSTRDEF int nostr_schnorr_sign_aux(const nostr_ctx *ctx, const nostr_keys *k, const unsigned char *msg, size_t msglen,
                                    const unsigned char *aux32, unsigned char sig[64]);
/* NOSTR_OK when valid, NOSTR_ERR_PUBKEY when pub is not a curve point,
 * NOSTR_ERR_SIG otherwise. */
NOSTRDEF int nostr_schnorr_verify(const nostr_ctx *ctx, const unsigned char pub[32], const unsigned char *msg,
                                  size_t msglen, const unsigned char sig[64]);

/* Parsed public keys, for a thread that verifies many events by the same
 * authors: parsing an x-only key (a square root) is about a tenth of a
 * verify. Direct-mapped, `slots` rounded up to a power of two (0: 4096),
 * 96 bytes a slot. One cache per thread: a lookup writes it, and there
 * are no locks. A key is cached only once it has parsed, so the cached
 * verify answers exactly what nostr_schnorr_verify answers; keys chosen
 * to collide only cost the cache its use. c may be NULL (no cache). */
typedef struct nostr_pubkey_cache nostr_pubkey_cache;
NOSTRDEF nostr_pubkey_cache *nostr_pubkey_cache_new(const nostr_allocator *al, size_t slots);
NOSTRDEF void nostr_pubkey_cache_free(nostr_pubkey_cache *c);
NOSTRDEF int nostr_schnorr_verify_cached(const nostr_ctx *ctx, nostr_pubkey_cache *c, const unsigned char pub[32],
                                         const unsigned char *msg, size_t msglen, const unsigned char sig[64]);
