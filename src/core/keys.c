/* ---- keys: implementation ---- */

/* The context. Other modules reach libsecp256k1 through nostr__ctx_secp. */
struct nostr_ctx {
    nostr_allocator allocator;
    nostr_rng_fn rng;
    void *rng_user;
    nostr_log_fn log;
    void *log_user;
    int log_level;
    secp256k1_context *secp; /* randomized once at creation, then read-only */
};

/* The libsecp256k1 context, for other modules (ECDH in crypto.c). It is
 * read-only after creation, so callers may share it across threads. */
#if defined(__GNUC__)
__attribute__((unused))
#endif
static const secp256k1_context *
nostr__ctx_secp(const nostr_ctx *ctx)
{
    return ctx->secp;
}

/* nostr_keys.internal holds a secp256k1_keypair byte for byte. */
typedef char
    nostr__keys_keypair_size_check[(sizeof(secp256k1_keypair) == sizeof(((nostr_keys *)0)->internal)) ? 1 : -1];

/* --- the operating system's random source --- */

/* Read n bytes from /dev/urandom, unbuffered so no random bytes are left
 * behind in a stdio buffer. */
static int nostr__keys_urandom(unsigned char *out, size_t n)
{
    FILE *f = fopen("/dev/urandom", "rb");
    size_t done = 0;
    int stalls = 0;
    if (!f) return -1;
    setvbuf(f, NULL, _IONBF, 0);
    while (done < n) {
        size_t got = fread(out + done, 1, n - done, f);
        if (got == 0) {
            /* A signal can interrupt the read; give up only if it keeps failing. */
            if (feof(f) || ++stalls > 8) break;
            clearerr(f);
        }
        done += got;
    }
    fclose(f);
    return done == n ? 0 : -1;
}

#if defined(NOSTR__HAVE_GETRANDOM)
/* Returns -1 when the kernel or a seccomp filter refuses getrandom. */
static int nostr__keys_getrandom(unsigned char *out, size_t n)
{
    while (n > 0) {
        ssize_t got = getrandom(out, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (got == 0) return -1;
        out += got;
        n -= (size_t)got;
    }
    return 0;
}
#endif

static int nostr__keys_os_random(void *user, unsigned char *out, size_t n)
{
    (void)user;
#if defined(__APPLE__) || defined(__OpenBSD__) || defined(__FreeBSD__) || defined(__NetBSD__)
    arc4random_buf(out, n);
    return 0;
#else
#if defined(NOSTR__HAVE_GETRANDOM)
    if (nostr__keys_getrandom(out, n) == 0) return 0;
#endif
    return nostr__keys_urandom(out, n);
#endif
}

/* --- context --- */

/* libsecp256k1 aborts on an illegal argument by default. Our checks come
 * first, but a caller's corrupted nostr_keys can still reach it; log and
 * let the call fail instead (the result is then rejected by the checks
 * around it). */
static void nostr__keys_illegal(const char *message, void *data)
{
    nostr_log((const nostr_ctx *)data, NOSTR_LOG_ERROR, message);
}

NOSTRDEF nostr_ctx *nostr_ctx_new(const nostr_ctx_config *cfg)
{
    nostr_ctx_config defaults;
    nostr_ctx *ctx;
    unsigned char seed[32];
    int ok;

    memset(&defaults, 0, sizeof defaults);
    if (!cfg) cfg = &defaults;
    ctx = (nostr_ctx *)nostr_alloc(&cfg->allocator, sizeof *ctx);
    if (!ctx) return NULL;
    memset(ctx, 0, sizeof *ctx);
    ctx->allocator = cfg->allocator;
    ctx->rng = cfg->rng ? cfg->rng : nostr__keys_os_random;
    ctx->rng_user = cfg->rng ? cfg->rng_user : NULL;
    ctx->log = cfg->log;
    ctx->log_user = cfg->log_user;
    ctx->log_level = cfg->log_level;

    ctx->secp = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (!ctx->secp) {
        nostr_log(ctx, NOSTR_LOG_ERROR, "nostr_ctx_new: secp256k1_context_create failed");
        nostr_free(&ctx->allocator, ctx);
        return NULL;
    }
    secp256k1_context_set_illegal_callback(ctx->secp, nostr__keys_illegal, ctx);

    /* Blinding against side channels while signing; done once here so the
     * context is read-only afterwards and verification needs no lock. */
    ok = nostr_random(ctx, seed, sizeof seed) == NOSTR_OK && secp256k1_context_randomize(ctx->secp, seed);
    nostr_wipe(seed, sizeof seed);
    if (!ok) {
        nostr_log(ctx, NOSTR_LOG_ERROR, "nostr_ctx_new: random source failed");
        nostr_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

NOSTRDEF void nostr_ctx_free(nostr_ctx *ctx)
{
    nostr_allocator al;
    if (!ctx) return;
    if (ctx->secp) secp256k1_context_destroy(ctx->secp);
    al = ctx->allocator;
    nostr_free(&al, ctx);
}

NOSTRDEF const nostr_allocator *nostr_ctx_allocator(const nostr_ctx *ctx)
{
    return ctx ? &ctx->allocator : NULL;
}

NOSTRDEF int nostr_random(nostr_ctx *ctx, void *out, size_t n)
{
    if (!ctx || (!out && n)) return NOSTR_ERR_ARG;
    if (n == 0) return NOSTR_OK;
    if (ctx->rng(ctx->rng_user, (unsigned char *)out, n) != 0) {
        nostr_log(ctx, NOSTR_LOG_ERROR, "random source failed");
        return NOSTR_ERR_RNG;
    }
    return NOSTR_OK;
}

NOSTRDEF void nostr_log(const nostr_ctx *ctx, int level, const char *msg)
{
    if (!ctx || !ctx->log || level > ctx->log_level) return;
    ctx->log(ctx->log_user, level, msg ? msg : "");
}

/* --- key pairs --- */

NOSTRDEF int nostr_keys_from_secret(nostr_ctx *ctx, const unsigned char sec[32], nostr_keys *out)
{
    unsigned char secret[32];
    secp256k1_keypair kp;
    secp256k1_xonly_pubkey xpk;
    int rc = NOSTR_OK;

    if (!ctx || !sec || !out) return NOSTR_ERR_ARG;
    memcpy(secret, sec, 32); /* sec may point into *out */
    nostr_wipe(out, sizeof *out);
    if (!secp256k1_ec_seckey_verify(ctx->secp, secret) || !secp256k1_keypair_create(ctx->secp, &kp, secret)) {
        rc = NOSTR_ERR_SECKEY;
    } else if (!secp256k1_keypair_xonly_pub(ctx->secp, &xpk, NULL, &kp) ||
               !secp256k1_xonly_pubkey_serialize(ctx->secp, out->pub, &xpk)) {
        rc = NOSTR_ERR_CRYPTO;
    } else {
        memcpy(out->sec, secret, 32);
        memcpy(out->internal, &kp, sizeof kp);
    }
    nostr_wipe(secret, sizeof secret);
    nostr_wipe(&kp, sizeof kp);
    if (rc) nostr_wipe(out, sizeof *out);
    return rc;
}

NOSTRDEF int nostr_keys_generate(nostr_ctx *ctx, nostr_keys *out)
{
    unsigned char secret[32];
    int attempt, rc = NOSTR_ERR_RNG;

    if (!ctx || !out) return NOSTR_ERR_ARG;
    /* A uniform 32-byte string is out of range with probability ~2^-128;
     * a source that keeps producing them (e.g. all zeros) is broken. */
    for (attempt = 0; attempt < 64; attempt++) {
        rc = nostr_random(ctx, secret, sizeof secret);
        if (rc) break;
        if (secp256k1_ec_seckey_verify(ctx->secp, secret)) {
            rc = nostr_keys_from_secret(ctx, secret, out);
            break;
        }
        rc = NOSTR_ERR_RNG;
    }
    nostr_wipe(secret, sizeof secret);
    return rc;
}

NOSTRDEF int nostr_keys_from_str(nostr_ctx *ctx, const char *hex_or_nsec, nostr_keys *out)
{
    unsigned char secret[32];
    size_t len;
    int rc;

    if (!ctx || !hex_or_nsec || !out) return NOSTR_ERR_ARG;
    len = strlen(hex_or_nsec);
    if (len == 64)
        rc = nostr_hex_decode_any_case(hex_or_nsec, len, secret, sizeof secret);
    else
        rc = nostr_nip19_decode_key(hex_or_nsec, len, NOSTR_NIP19_NSEC, secret, NULL);
    if (rc == NOSTR_OK) rc = nostr_keys_from_secret(ctx, secret, out);
    nostr_wipe(secret, sizeof secret);
    if (rc) nostr_wipe(out, sizeof *out);
    return rc;
}

NOSTRDEF void nostr_keys_wipe(nostr_keys *k)
{
    if (k) nostr_wipe(k, sizeof *k);
}

NOSTRDEF int nostr_pubkey_check(const nostr_ctx *ctx, const unsigned char pub[32])
{
    secp256k1_xonly_pubkey xpk;
    if (!ctx || !pub) return NOSTR_ERR_ARG;
    return secp256k1_xonly_pubkey_parse(ctx->secp, &xpk, pub) ? NOSTR_OK : NOSTR_ERR_PUBKEY;
}

/* --- BIP-340 --- */

static int nostr__keys_all_zero(const unsigned char *p, size_t n)
{
    unsigned char acc = 0;
    size_t i;
    for (i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

NOSTRDEF int nostr_schnorr_sign_aux(const nostr_ctx *ctx, const nostr_keys *k, const unsigned char *msg, size_t msglen,
                                    const unsigned char *aux32, unsigned char sig[64])
{
    secp256k1_keypair kp;
    unsigned char aux[32];
    int ok, rc;

    if (!ctx || !k || !sig || (!msg && msglen)) return NOSTR_ERR_ARG;
    /* A wiped or never-filled key pair. */
    if (nostr__keys_all_zero(k->internal, sizeof k->internal)) return NOSTR_ERR_SECKEY;

    memcpy(&kp, k->internal, sizeof kp);
    if (aux32) memcpy(aux, aux32, sizeof aux);
    if (msglen == 32) {
        ok = secp256k1_schnorrsig_sign32(ctx->secp, sig, msg, &kp, aux32 ? aux : NULL);
    } else {
        secp256k1_schnorrsig_extraparams extra = SECP256K1_SCHNORRSIG_EXTRAPARAMS_INIT;
        extra.ndata = aux32 ? aux : NULL;
        ok = secp256k1_schnorrsig_sign_custom(ctx->secp, sig, msg, msglen, &kp, &extra);
    }
    nostr_wipe(&kp, sizeof kp);
    nostr_wipe(aux, sizeof aux);

    /* libsecp256k1 does not verify what it signed (BIP-340 says to): a
     * fault during signing can yield a signature that leaks the secret
     * key. Verifying costs about one more signing time, which is cheap next
     * to what signing is used for; it also catches a k->pub that does not
     * belong to k->internal. */
    if (!ok) {
        nostr_log(ctx, NOSTR_LOG_ERROR, "schnorr sign: libsecp256k1 refused the key pair");
        memset(sig, 0, 64);
        return NOSTR_ERR_SECKEY;
    }
    rc = nostr_schnorr_verify(ctx, k->pub, msg, msglen, sig);
    if (rc != NOSTR_OK) {
        nostr_log(ctx, NOSTR_LOG_ERROR, "schnorr sign: signature failed its own verification");
        memset(sig, 0, 64);
        return NOSTR_ERR_CRYPTO;
    }
    return NOSTR_OK;
}

NOSTRDEF int nostr_schnorr_sign(nostr_ctx *ctx, const nostr_keys *k, const unsigned char *msg, size_t msglen,
                                unsigned char sig[64])
{
    unsigned char aux[32];
    int rc;
    if (!ctx) return NOSTR_ERR_ARG;
    rc = nostr_random(ctx, aux, sizeof aux);
    if (rc == NOSTR_OK) rc = nostr_schnorr_sign_aux(ctx, k, msg, msglen, aux, sig);
    nostr_wipe(aux, sizeof aux);
    return rc;
}

NOSTRDEF int nostr_schnorr_verify(const nostr_ctx *ctx, const unsigned char pub[32], const unsigned char *msg,
                                  size_t msglen, const unsigned char sig[64])
{
    secp256k1_xonly_pubkey xpk;
    if (!ctx || !pub || !sig || (!msg && msglen)) return NOSTR_ERR_ARG;
    if (!secp256k1_xonly_pubkey_parse(ctx->secp, &xpk, pub)) return NOSTR_ERR_PUBKEY;
    return secp256k1_schnorrsig_verify(ctx->secp, sig, msg, msglen, &xpk) ? NOSTR_OK : NOSTR_ERR_SIG;
}

typedef struct nostr__pk_slot {
    unsigned char key[32];
    secp256k1_xonly_pubkey parsed;
    unsigned char used;
} nostr__pk_slot;

struct nostr_pubkey_cache {
    nostr_allocator al;
    size_t mask;
    nostr__pk_slot *slots;
};

NOSTRDEF nostr_pubkey_cache *nostr_pubkey_cache_new(const nostr_allocator *al, size_t slots)
{
    nostr_pubkey_cache *c;
    size_t n = 1;
    if (!slots) slots = 4096;
    if (slots > ((size_t)1 << 24)) return NULL;
    while (n < slots) n <<= 1;
    c = (nostr_pubkey_cache *)nostr_alloc(al, sizeof *c);
    if (!c) return NULL;
    memset(c, 0, sizeof *c);
    if (al) c->al = *al;
    c->mask = n - 1;
    c->slots = (nostr__pk_slot *)nostr_alloc(&c->al, n * sizeof *c->slots);
    if (!c->slots) {
        nostr_free(&c->al, c);
        return NULL;
    }
    memset(c->slots, 0, n * sizeof *c->slots);
    return c;
}

NOSTRDEF void nostr_pubkey_cache_free(nostr_pubkey_cache *c)
{
    nostr_allocator al;
    if (!c) return;
    al = c->al;
    nostr_free(&al, c->slots);
    nostr_free(&al, c);
}

NOSTRDEF int nostr_schnorr_verify_cached(const nostr_ctx *ctx, nostr_pubkey_cache *c, const unsigned char pub[32],
                                         const unsigned char *msg, size_t msglen, const unsigned char sig[64])
{
    nostr__pk_slot *s;
    size_t i;
    if (!c) return nostr_schnorr_verify(ctx, pub, msg, msglen, sig);
    if (!ctx || !pub || !sig || (!msg && msglen)) return NOSTR_ERR_ARG;
    /* keys are uniform for honest authors: their first bytes index well */
    i = ((size_t)pub[0] | (size_t)pub[1] << 8 | (size_t)pub[2] << 16 | (size_t)pub[3] << 24) & c->mask;
    s = &c->slots[i];
    if (!s->used || memcmp(s->key, pub, 32) != 0) {
        if (!secp256k1_xonly_pubkey_parse(ctx->secp, &s->parsed, pub)) {
            s->used = 0; /* parse may have written the slot */
            return NOSTR_ERR_PUBKEY;
        }
        memcpy(s->key, pub, 32);
        s->used = 1;
    }
    return secp256k1_schnorrsig_verify(ctx->secp, sig, msg, msglen, &s->parsed) ? NOSTR_OK : NOSTR_ERR_SIG;
}
