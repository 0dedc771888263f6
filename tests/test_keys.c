/* Context, key pairs and BIP-340: the official test vectors, key parsing,
 * custom RNG / allocator / logger hooks, and verification from two threads
 * sharing one context. */
#include "test.h"
#include <pthread.h>

static nostr_ctx *ctx;

static void hex_to(const char *hex, unsigned char *out, size_t n)
{
    CHECK_EQ(nostr_hex_decode_any_case(hex, strlen(hex), out, n), NOSTR_OK);
}

/* --- BIP-340 vectors (tests/data/bip340-test-vectors.csv) --- */

/* Split one CSV line into at most max fields (in place); returns the count. */
static int split_csv(char *line, char **fields, int max)
{
    int n = 0;
    fields[n++] = line;
    for (; *line && n < max; line++) {
        if (*line == ',') {
            *line = 0;
            fields[n++] = line + 1;
        }
    }
    return n;
}

static nostr_pubkey_cache *vector_keys; /* 4 slots: the vectors' keys collide */

static void check_vector(char **f, int *with_secret, int *variable_len)
{
    int index = atoi(f[0]);
    const char *sec_hex = f[1], *pub_hex = f[2], *aux_hex = f[3], *msg_hex = f[4], *sig_hex = f[5];
    int expect_valid = strcmp(f[6], "TRUE") == 0;
    /* Vectors 5 and 14 have public keys that are not valid x coordinates. */
    int bad_pubkey = index == 5 || index == 14;
    unsigned char pub[32], sig[64], msg[100], sig2[64], aux[32];
    size_t msglen = strlen(msg_hex) / 2;
    int rc;

    CHECK(msglen <= sizeof msg);
    if (msglen > sizeof msg) return;
    hex_to(pub_hex, pub, 32);
    hex_to(sig_hex, sig, 64);
    if (msglen) hex_to(msg_hex, msg, msglen);
    if (msglen != 32) (*variable_len)++;

    if (*sec_hex) {
        unsigned char sec[32];
        nostr_keys k;
        (*with_secret)++;
        hex_to(sec_hex, sec, 32);
        hex_to(aux_hex, aux, 32);
        CHECK_EQ(nostr_keys_from_secret(ctx, sec, &k), NOSTR_OK);
        CHECK_MEM(k.pub, pub, 32);
        CHECK_EQ(nostr_schnorr_sign_aux(ctx, &k, msglen ? msg : NULL, msglen, aux, sig2), NOSTR_OK);
        if (memcmp(sig2, sig, 64) != 0) fprintf(stderr, "vector %d: signature differs\n", index);
        CHECK_MEM(sig2, sig, 64);
        /* fresh randomness: a different but valid signature */
        CHECK_EQ(nostr_schnorr_sign(ctx, &k, msg, msglen, sig2), NOSTR_OK);
        CHECK_EQ(nostr_schnorr_verify(ctx, pub, msg, msglen, sig2), NOSTR_OK);
        nostr_keys_wipe(&k);
    }

    rc = nostr_schnorr_verify(ctx, pub, msglen ? msg : NULL, msglen, sig);
    if (expect_valid)
        CHECK_EQ(rc, NOSTR_OK);
    else
        CHECK_EQ(rc, bad_pubkey ? NOSTR_ERR_PUBKEY : NOSTR_ERR_SIG);
    /* a cache of parsed keys answers the same, on a miss and on a hit */
    CHECK_EQ(nostr_schnorr_verify_cached(ctx, vector_keys, pub, msglen ? msg : NULL, msglen, sig), rc);
    CHECK_EQ(nostr_schnorr_verify_cached(ctx, vector_keys, pub, msglen ? msg : NULL, msglen, sig), rc);
    CHECK_EQ(nostr_pubkey_check(ctx, pub), bad_pubkey ? NOSTR_ERR_PUBKEY : NOSTR_OK);
    if (expect_valid && msglen) {
        /* one flipped message bit breaks it */
        msg[0] ^= 1;
        CHECK_EQ(nostr_schnorr_verify(ctx, pub, msg, msglen, sig), NOSTR_ERR_SIG);
    }
}

static void test_bip340_vectors(void)
{
    vector_keys = nostr_pubkey_cache_new(NULL, 4);
    CHECK(vector_keys != NULL);
    size_t len;
    char *csv = test_read_file("bip340-test-vectors.csv", &len);
    char *line, *next;
    int rows = 0, with_secret = 0, variable_len = 0;
    CHECK(csv != NULL);
    if (!csv) return;
    line = strchr(csv, '\n') + 1; /* skip the header */
    for (; line && *line; line = next) {
        char *fields[8];
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        if (*line && line[strlen(line) - 1] == '\r') line[strlen(line) - 1] = 0;
        if (!*line) continue;
        CHECK(split_csv(line, fields, 8) >= 7);
        check_vector(fields, &with_secret, &variable_len);
        rows++;
    }
    CHECK_EQ(rows, 19);
    CHECK_EQ(with_secret, 8);
    CHECK_EQ(variable_len, 4);
    free(csv);
    nostr_pubkey_cache_free(vector_keys);
}

/* --- keys --- */

static void test_generate(void)
{
    nostr_keys a, b;
    unsigned char zero[32] = {0};
    CHECK_EQ(nostr_keys_generate(ctx, &a), NOSTR_OK);
    CHECK_EQ(nostr_keys_generate(ctx, &b), NOSTR_OK);
    CHECK(memcmp(a.sec, b.sec, 32) != 0);
    CHECK(memcmp(a.pub, b.pub, 32) != 0);
    CHECK(memcmp(a.sec, zero, 32) != 0);
    CHECK_EQ(nostr_pubkey_check(ctx, a.pub), NOSTR_OK);
    CHECK_EQ(nostr_pubkey_check(ctx, b.pub), NOSTR_OK);
    {
        /* the generated secret gives back the same key pair */
        nostr_keys c;
        CHECK_EQ(nostr_keys_from_secret(ctx, a.sec, &c), NOSTR_OK);
        CHECK_MEM(c.pub, a.pub, 32);
        CHECK_MEM(c.internal, a.internal, 96);
        /* aliasing: secret taken from the output struct itself */
        CHECK_EQ(nostr_keys_from_secret(ctx, c.sec, &c), NOSTR_OK);
        CHECK_MEM(c.pub, a.pub, 32);
    }
    nostr_keys_wipe(&a);
    CHECK(memcmp(a.sec, zero, 32) == 0);
    CHECK(memcmp(a.internal, zero, 32) == 0);
}

static void test_from_str(void)
{
    /* NIP-19 examples (nips 19.md, via shared/vectors/nip19-vectors.json):
     * nsec1vl029mg... = 67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa, whose
     * public key is the example npub10elfcs... = 7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e */
    const char *nsec = "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5";
    const char *lower = "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa";
    const char *upper = "67DEA2ED018072D675F5415ECFAED7D2597555E202D85B3D65EA4E58D2D92FFA";
    unsigned char sec[32], pub[32];
    nostr_keys a, b, c;
    hex_to(lower, sec, 32);
    CHECK_EQ(nostr_keys_from_str(ctx, lower, &a), NOSTR_OK);
    CHECK_MEM(a.sec, sec, 32);
    hex_to("7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e", pub, 32);
    CHECK_MEM(a.pub, pub, 32);
    CHECK_EQ(nostr_keys_from_str(ctx, upper, &b), NOSTR_OK);
    CHECK_MEM(b.sec, sec, 32);
    CHECK_MEM(b.pub, a.pub, 32);
    CHECK_EQ(nostr_keys_from_str(ctx, nsec, &c), NOSTR_OK);
    CHECK_MEM(c.sec, sec, 32);
    CHECK_MEM(c.pub, a.pub, 32);

    /* bad strings */
    CHECK_EQ(nostr_keys_from_str(ctx, "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffg", &a),
             NOSTR_ERR_HEX);
    CHECK(nostr_keys_from_str(ctx, "67dea2ed", &a) < 0);
    CHECK(nostr_keys_from_str(ctx, "", &a) < 0);
    /* an npub is not a secret key */
    CHECK(nostr_keys_from_str(ctx, "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg", &a) < 0);
    /* one changed character breaks the checksum */
    CHECK(nostr_keys_from_str(ctx, "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe6", &a) < 0);
    CHECK_EQ(nostr_keys_from_str(ctx, NULL, &a), NOSTR_ERR_ARG);
    {
        unsigned char zero[32] = {0};
        CHECK(memcmp(a.sec, zero, 32) == 0); /* failures leave nothing behind */
    }
}

static void test_bad_secrets(void)
{
    unsigned char sec[32];
    nostr_keys k;
    memset(sec, 0, 32);
    CHECK_EQ(nostr_keys_from_secret(ctx, sec, &k), NOSTR_ERR_SECKEY);
    /* the curve order n and above */
    hex_to("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", sec, 32);
    CHECK_EQ(nostr_keys_from_secret(ctx, sec, &k), NOSTR_ERR_SECKEY);
    memset(sec, 0xff, 32);
    CHECK_EQ(nostr_keys_from_secret(ctx, sec, &k), NOSTR_ERR_SECKEY);
    CHECK_EQ(nostr_keys_from_str(ctx, "0000000000000000000000000000000000000000000000000000000000000000", &k),
             NOSTR_ERR_SECKEY);
    CHECK_EQ(nostr_keys_from_str(ctx, "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", &k),
             NOSTR_ERR_SECKEY);
    /* n - 1 is the largest valid secret */
    hex_to("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364140", sec, 32);
    CHECK_EQ(nostr_keys_from_secret(ctx, sec, &k), NOSTR_OK);
    nostr_keys_wipe(&k);
}

/* Signing never crashes on a wiped or corrupted key pair, and the
 * signature's self-verification catches a public key that does not match. */
static void test_sign_misuse(void)
{
    nostr_keys k;
    unsigned char msg[32], sig[64];
    memset(msg, 7, sizeof msg);
    CHECK_EQ(nostr_keys_generate(ctx, &k), NOSTR_OK);
    k.pub[5] ^= 1;
    CHECK(nostr_schnorr_sign_aux(ctx, &k, msg, 32, NULL, sig) < 0);
    k.pub[5] ^= 1;
    CHECK_EQ(nostr_schnorr_sign_aux(ctx, &k, msg, 32, NULL, sig), NOSTR_OK);
    CHECK_EQ(nostr_schnorr_verify(ctx, k.pub, msg, 32, sig), NOSTR_OK);
    nostr_keys_wipe(&k);
    CHECK_EQ(nostr_schnorr_sign(ctx, &k, msg, 32, sig), NOSTR_ERR_SECKEY);
    CHECK_EQ(nostr_schnorr_sign(ctx, NULL, msg, 32, sig), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_schnorr_verify(ctx, NULL, msg, 32, sig), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_schnorr_verify(ctx, msg, NULL, 5, sig), NOSTR_ERR_ARG);
}

/* --- hooks --- */

/* A deterministic RNG: byte i of the stream is a simple function of a
 * counter, so the test can predict what the next call will return. */
typedef struct test_rng {
    unsigned counter;
    int calls;
    int fail_after; /* fail from this call on (0 = never) */
} test_rng;

static void test_rng_fill(unsigned *counter, unsigned char *out, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        *counter = *counter * 1103515245u + 12345u;
        out[i] = (unsigned char)(*counter >> 16);
    }
}

static int test_rng_fn(void *user, unsigned char *out, size_t n)
{
    test_rng *r = (test_rng *)user;
    r->calls++;
    if (r->fail_after && r->calls >= r->fail_after) return -1;
    test_rng_fill(&r->counter, out, n);
    return 0;
}

static int zero_rng_fn(void *user, unsigned char *out, size_t n)
{
    (void)user;
    memset(out, 0, n);
    return 0;
}

static void test_custom_rng(void)
{
    nostr_ctx_config cfg;
    test_rng r1, r2;
    nostr_ctx *c1, *c2;
    nostr_keys k1, k2;
    unsigned char msg[40], sig_rng[64], sig_aux[64], aux[32];
    unsigned counter;

    memset(&cfg, 0, sizeof cfg);
    memset(&r1, 0, sizeof r1);
    memset(&r2, 0, sizeof r2);
    r1.counter = r2.counter = 42;
    cfg.rng = test_rng_fn;
    cfg.rng_user = &r1;
    c1 = nostr_ctx_new(&cfg);
    cfg.rng_user = &r2;
    c2 = nostr_ctx_new(&cfg);
    CHECK(c1 && c2);
    if (!c1 || !c2) return;
    CHECK(r1.calls >= 1); /* context randomization drew from it */

    /* the same RNG stream gives the same key */
    CHECK_EQ(nostr_keys_generate(c1, &k1), NOSTR_OK);
    CHECK_EQ(nostr_keys_generate(c2, &k2), NOSTR_OK);
    CHECK_MEM(k1.sec, k2.sec, 32);

    /* sign draws its aux from the RNG: predict it and compare with sign_aux */
    memset(msg, 'm', sizeof msg);
    counter = r1.counter;
    test_rng_fill(&counter, aux, sizeof aux);
    CHECK_EQ(nostr_schnorr_sign(c1, &k1, msg, 32, sig_rng), NOSTR_OK);
    CHECK_EQ(nostr_schnorr_sign_aux(c1, &k1, msg, 32, aux, sig_aux), NOSTR_OK);
    CHECK_MEM(sig_rng, sig_aux, 64);
    counter = r1.counter;
    test_rng_fill(&counter, aux, sizeof aux);
    CHECK_EQ(nostr_schnorr_sign(c1, &k1, msg, sizeof msg, sig_rng), NOSTR_OK);
    CHECK_EQ(nostr_schnorr_sign_aux(c1, &k1, msg, sizeof msg, aux, sig_aux), NOSTR_OK);
    CHECK_MEM(sig_rng, sig_aux, 64);
    /* a different aux gives a different signature */
    aux[0] ^= 1;
    CHECK_EQ(nostr_schnorr_sign_aux(c1, &k1, msg, sizeof msg, aux, sig_aux), NOSTR_OK);
    CHECK(memcmp(sig_rng, sig_aux, 64) != 0);

    /* nostr_random passes through */
    counter = r1.counter;
    test_rng_fill(&counter, aux, sizeof aux);
    CHECK_EQ(nostr_random(c1, sig_aux, 32), NOSTR_OK);
    CHECK_MEM(sig_aux, aux, 32);

    /* a failing RNG is reported, not ignored */
    r1.fail_after = r1.calls + 1;
    CHECK_EQ(nostr_schnorr_sign(c1, &k1, msg, 32, sig_rng), NOSTR_ERR_RNG);
    CHECK_EQ(nostr_keys_generate(c1, &k2), NOSTR_ERR_RNG);
    CHECK_EQ(nostr_random(c1, aux, 1), NOSTR_ERR_RNG);
    nostr_ctx_free(c1);
    nostr_ctx_free(c2);

    /* an RNG failing at creation: no context */
    memset(&r1, 0, sizeof r1);
    r1.fail_after = 1;
    cfg.rng_user = &r1;
    CHECK(nostr_ctx_new(&cfg) == NULL);

    /* an RNG stuck on zeros gives up instead of looping forever */
    cfg.rng = zero_rng_fn;
    c1 = nostr_ctx_new(&cfg);
    CHECK(c1 != NULL);
    if (c1) CHECK_EQ(nostr_keys_generate(c1, &k1), NOSTR_ERR_RNG);
    nostr_ctx_free(c1);
    nostr_keys_wipe(&k1);
    nostr_keys_wipe(&k2);
}

typedef struct counting_alloc {
    int allocs, frees;
} counting_alloc;

static void *count_alloc(void *user, size_t size)
{
    ((counting_alloc *)user)->allocs++;
    return malloc(size);
}

static void *count_realloc(void *user, void *p, size_t size)
{
    ((counting_alloc *)user)->allocs++;
    return realloc(p, size);
}

static void count_free(void *user, void *p)
{
    ((counting_alloc *)user)->frees++;
    free(p);
}

static void test_custom_allocator(void)
{
    counting_alloc counts = {0, 0};
    nostr_ctx_config cfg;
    nostr_ctx *c;
    memset(&cfg, 0, sizeof cfg);
    cfg.allocator.alloc = count_alloc;
    cfg.allocator.realloc = count_realloc;
    cfg.allocator.free = count_free;
    cfg.allocator.user = &counts;
    c = nostr_ctx_new(&cfg);
    CHECK(c != NULL);
    CHECK(counts.allocs >= 1);
    CHECK_EQ(counts.frees, 0);
    CHECK(nostr_ctx_allocator(c) != NULL);
    if (nostr_ctx_allocator(c)) CHECK(nostr_ctx_allocator(c)->user == &counts);
    nostr_ctx_free(c);
    CHECK_EQ(counts.frees, counts.allocs);
    nostr_ctx_free(NULL);

    /* a zeroed config and NULL are the defaults */
    memset(&cfg, 0, sizeof cfg);
    c = nostr_ctx_new(&cfg);
    CHECK(c != NULL);
    nostr_ctx_free(c);
}

/* One slot: every key evicts the one before. A key that does not parse
 * leaves nothing behind; a valid key's entry never makes another key's
 * signature pass. */
static void test_pubkey_cache(void)
{
    static const char not_on_curve[] = "eefdea4cdb677750a420fee807eacf21eb9898ae79b9768766e4faa04a2d4a34";
    counting_alloc counts = {0, 0};
    nostr_allocator al;
    nostr_pubkey_cache *c;
    nostr_keys a, b;
    unsigned char msg[32], sig_a[64], sig_b[64], bad[32];
    int round;
    memset(&al, 0, sizeof al);
    al.alloc = count_alloc;
    al.realloc = count_realloc;
    al.free = count_free;
    al.user = &counts;
    memset(msg, 7, sizeof msg);
    hex_to(not_on_curve, bad, 32);
    CHECK_EQ(nostr_keys_generate(ctx, &a), NOSTR_OK);
    CHECK_EQ(nostr_keys_generate(ctx, &b), NOSTR_OK);
    CHECK_EQ(nostr_schnorr_sign(ctx, &a, msg, 32, sig_a), NOSTR_OK);
    CHECK_EQ(nostr_schnorr_sign(ctx, &b, msg, 32, sig_b), NOSTR_OK);
    c = nostr_pubkey_cache_new(&al, 1);
    CHECK(c != NULL);
    if (!c) return;
    CHECK_EQ(counts.allocs, 2);
    for (round = 0; round < 2; round++) {
        CHECK_EQ(nostr_schnorr_verify_cached(ctx, c, a.pub, msg, 32, sig_a), NOSTR_OK);
        CHECK_EQ(nostr_schnorr_verify_cached(ctx, c, a.pub, msg, 32, sig_a), NOSTR_OK); /* hit */
        CHECK_EQ(nostr_schnorr_verify_cached(ctx, c, a.pub, msg, 32, sig_b), NOSTR_ERR_SIG);
        CHECK_EQ(nostr_schnorr_verify_cached(ctx, c, bad, msg, 32, sig_a), NOSTR_ERR_PUBKEY);
        CHECK_EQ(nostr_schnorr_verify_cached(ctx, c, bad, msg, 32, sig_a), NOSTR_ERR_PUBKEY);
        CHECK_EQ(nostr_schnorr_verify_cached(ctx, c, a.pub, msg, 32, sig_a), NOSTR_OK);
        CHECK_EQ(nostr_schnorr_verify_cached(ctx, c, b.pub, msg, 32, sig_a), NOSTR_ERR_SIG);
        CHECK_EQ(nostr_schnorr_verify_cached(ctx, c, b.pub, msg, 32, sig_b), NOSTR_OK);
        msg[0] ^= 1; /* a changed message fails with the key cached */
        CHECK_EQ(nostr_schnorr_verify_cached(ctx, c, b.pub, msg, 32, sig_b), NOSTR_ERR_SIG);
        msg[0] ^= 1;
    }
    CHECK_EQ(nostr_schnorr_verify_cached(ctx, c, NULL, msg, 32, sig_a), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_schnorr_verify_cached(ctx, c, a.pub, NULL, 32, sig_a), NOSTR_ERR_ARG);
    /* no cache: the plain verify */
    CHECK_EQ(nostr_schnorr_verify_cached(ctx, NULL, a.pub, msg, 32, sig_a), NOSTR_OK);
    CHECK_EQ(nostr_schnorr_verify_cached(ctx, NULL, bad, msg, 32, sig_a), NOSTR_ERR_PUBKEY);
    nostr_pubkey_cache_free(c);
    CHECK_EQ(counts.frees, counts.allocs);
    nostr_pubkey_cache_free(NULL);
    CHECK(nostr_pubkey_cache_new(NULL, (size_t)1 << 30) == NULL); /* beyond 16M slots */
    c = nostr_pubkey_cache_new(NULL, 0);                          /* the default size */
    CHECK(c != NULL);
    CHECK_EQ(nostr_schnorr_verify_cached(ctx, c, b.pub, msg, 32, sig_b), NOSTR_OK);
    nostr_pubkey_cache_free(c);
    nostr_keys_wipe(&a);
    nostr_keys_wipe(&b);
}

typedef struct test_log {
    int count;
    int last_level;
    char last[64];
} test_log;

static void test_log_fn(void *user, int level, const char *msg)
{
    test_log *l = (test_log *)user;
    l->count++;
    l->last_level = level;
    snprintf(l->last, sizeof l->last, "%s", msg);
}

static void test_logger(void)
{
    test_log log;
    nostr_ctx_config cfg;
    nostr_ctx *c;
    memset(&log, 0, sizeof log);
    memset(&cfg, 0, sizeof cfg);
    cfg.log = test_log_fn;
    cfg.log_user = &log;
    cfg.log_level = NOSTR_LOG_WARN;
    c = nostr_ctx_new(&cfg);
    CHECK(c != NULL);
    if (!c) return;
    nostr_log(c, NOSTR_LOG_INFO, "info");
    nostr_log(c, NOSTR_LOG_DEBUG, "debug");
    CHECK_EQ(log.count, 0);
    nostr_log(c, NOSTR_LOG_WARN, "warn");
    CHECK_EQ(log.count, 1);
    CHECK_STR(log.last, "warn");
    nostr_log(c, NOSTR_LOG_ERROR, "error");
    CHECK_EQ(log.count, 2);
    CHECK_EQ(log.last_level, NOSTR_LOG_ERROR);
    nostr_ctx_free(c);
    nostr_log(NULL, NOSTR_LOG_ERROR, "no context: ignored");
    nostr_log(ctx, NOSTR_LOG_ERROR, "no logger: ignored");
}

/* --- two threads verifying with one context --- */

#define THREAD_SIGS 16
#define THREAD_ROUNDS 40

typedef struct verify_job {
    const unsigned char (*pubs)[32];
    const unsigned char (*msgs)[32];
    const unsigned char (*sigs)[64];
    int ok, bad, wrong;
} verify_job;

static void *verify_thread(void *arg)
{
    verify_job *job = (verify_job *)arg;
    int round, i;
    for (round = 0; round < THREAD_ROUNDS; round++) {
        for (i = 0; i < THREAD_SIGS; i++) {
            /* odd entries carry a corrupted signature */
            int rc = nostr_schnorr_verify(ctx, job->pubs[i], job->msgs[i], 32, job->sigs[i]);
            int expect = (i & 1) ? NOSTR_ERR_SIG : NOSTR_OK;
            if (rc == NOSTR_OK) job->ok++;
            else job->bad++;
            if (rc != expect) job->wrong++;
        }
    }
    return NULL;
}

static void test_threads(void)
{
    static unsigned char pubs[THREAD_SIGS][32], msgs[THREAD_SIGS][32], sigs[THREAD_SIGS][64];
    verify_job jobs[2];
    pthread_t tid[2];
    int i;
    for (i = 0; i < THREAD_SIGS; i++) {
        nostr_keys k;
        CHECK_EQ(nostr_keys_generate(ctx, &k), NOSTR_OK);
        memcpy(pubs[i], k.pub, 32);
        CHECK_EQ(nostr_random(ctx, msgs[i], 32), NOSTR_OK);
        CHECK_EQ(nostr_schnorr_sign(ctx, &k, msgs[i], 32, sigs[i]), NOSTR_OK);
        if (i & 1) sigs[i][40] ^= 0x10;
        nostr_keys_wipe(&k);
    }
    for (i = 0; i < 2; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].pubs = pubs;
        jobs[i].msgs = msgs;
        jobs[i].sigs = sigs;
        CHECK_EQ(pthread_create(&tid[i], NULL, verify_thread, &jobs[i]), 0);
    }
    for (i = 0; i < 2; i++) {
        CHECK_EQ(pthread_join(tid[i], NULL), 0);
        CHECK_EQ(jobs[i].ok, THREAD_ROUNDS * THREAD_SIGS / 2);
        CHECK_EQ(jobs[i].bad, THREAD_ROUNDS * THREAD_SIGS / 2);
        CHECK_EQ(jobs[i].wrong, 0);
    }
}

int main(void)
{
    ctx = nostr_ctx_new(NULL);
    CHECK(ctx != NULL);
    if (!ctx) return TEST_DONE();
    TEST_RUN(test_bip340_vectors);
    TEST_RUN(test_generate);
    TEST_RUN(test_from_str);
    TEST_RUN(test_bad_secrets);
    TEST_RUN(test_sign_misuse);
    TEST_RUN(test_custom_rng);
    TEST_RUN(test_custom_allocator);
    TEST_RUN(test_pubkey_cache);
    TEST_RUN(test_logger);
    TEST_RUN(test_threads);
    nostr_ctx_free(ctx);
    return TEST_DONE();
}
