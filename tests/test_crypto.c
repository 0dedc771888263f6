/* NIP-44 v2 and NIP-04 encryption, base64: every NIP-44 vector of
 * paulmillr/nip44, the NIP-04 vectors, round trips, tampering, limits. */
#include "test.h"
#include <mbedtls/chacha20.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>

static nostr_ctx *CTX;

/* ---- a vector is a flat JSON object: read its fields by name ---- */

#define MAX_FIELDS 12
typedef struct field {
    char key[64];
    int type; /* NOSTR_JSON_* */
    nostr_str s;
    long long num;
    int flag;
} field;

typedef struct record {
    field f[MAX_FIELDS];
    size_t n;
} record;

static int read_record(nostr_json *r, nostr_arena *a, record *rec)
{
    char key[64];
    size_t klen;
    int rc;
    rec->n = 0;
    if (nostr_json_object_begin(r)) return -1;
    while ((rc = nostr_json_object_next(r, key, sizeof key, &klen)) > 0) {
        field *f;
        if (rec->n == MAX_FIELDS) return -1;
        f = &rec->f[rec->n++];
        memcpy(f->key, key, sizeof key);
        f->type = nostr_json_peek(r);
        if (f->type == NOSTR_JSON_STRING)
            rc = nostr_json_string(r, a, &f->s);
        else if (f->type == NOSTR_JSON_NUMBER)
            rc = nostr_json_int64(r, &f->num);
        else if (f->type == NOSTR_JSON_TRUE || f->type == NOSTR_JSON_FALSE)
            rc = nostr_json_bool(r, &f->flag);
        else
            rc = nostr_json_skip(r);
        if (rc) return rc;
    }
    return rc;
}

static const field *get(const record *rec, const char *key)
{
    size_t i;
    for (i = 0; i < rec->n; i++)
        if (strcmp(rec->f[i].key, key) == 0) return &rec->f[i];
    fprintf(stderr, "%s: vector has no field %s\n", test_current, key);
    return NULL;
}

static nostr_str get_str(const record *rec, const char *key)
{
    const field *f = get(rec, key);
    nostr_str none = {"", 0};
    return f && f->type == NOSTR_JSON_STRING ? f->s : none;
}

/* Decode the hex field into out[n]; 1 on success. */
static int get_hex(const record *rec, const char *key, unsigned char *out, size_t n)
{
    nostr_str s = get_str(rec, key);
    return nostr_hex_decode(s.ptr, s.len, out, n) == NOSTR_OK;
}

/* Walk an array of records, calling fn on each; returns how many. */
static int each_record(nostr_json *r, void (*fn)(const record *))
{
    static unsigned char mem[1 << 16];
    nostr_arena a;
    record rec;
    int count = 0;
    nostr_arena_init(&a, mem, sizeof mem, NULL);
    if (nostr_json_array_begin(r)) return -1;
    while (nostr_json_array_next(r) == 1) {
        nostr_arena_reset(&a);
        if (read_record(r, &a, &rec) != 0) break;
        fn(&rec);
        count++;
    }
    nostr_arena_free(&a);
    return r->err.code ? -1 : count;
}

/* ---- test-side reference pieces (mbedTLS, not our code) ---- */

static void ref_hmac(const unsigned char key[32], const unsigned char *msg, size_t len, unsigned char out[32])
{
    mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, 32, msg, len, out);
}

/* keys = HKDF-Expand(ckey, nonce, 76) */
static void ref_message_keys(const unsigned char ckey[32], const unsigned char nonce[32], unsigned char keys[76])
{
    mbedtls_hkdf_expand(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), ckey, 32, nonce, 32, keys, 76);
}

/* Build a correctly authenticated payload around any padded plaintext. */
static void ref_seal(const unsigned char ckey[32], const unsigned char nonce[32], const unsigned char *padded,
                     size_t padded_len, nostr_buf *out)
{
    unsigned char keys[76];
    unsigned char *raw = (unsigned char *)malloc(65 + padded_len);
    ref_message_keys(ckey, nonce, keys);
    raw[0] = 2;
    memcpy(raw + 1, nonce, 32);
    mbedtls_chacha20_crypt(keys, keys + 32, 0, padded_len, padded, raw + 33);
    ref_hmac(keys + 44, raw + 1, 32 + padded_len, raw + 33 + padded_len);
    nostr_buf_clear(out);
    CHECK_EQ(nostr_base64_encode(raw, 65 + padded_len, out), NOSTR_OK);
    free(raw);
}

static int decode_payload(const nostr_buf *payload, unsigned char *raw, size_t cap, size_t *raw_len)
{
    return nostr_base64_decode(payload->data, payload->len, raw, cap, raw_len);
}

/* ---- NIP-44 vectors ---- */

static int n_conv, n_keys, n_padded, n_encdec, n_long, n_bad_lengths, n_bad_conv, n_bad_decrypt;

static void v_get_conversation_key(const record *v)
{
    unsigned char sec[32], pub[32], want[32], got[32];
    CHECK(get_hex(v, "sec1", sec, 32) && get_hex(v, "pub2", pub, 32) && get_hex(v, "conversation_key", want, 32));
    CHECK_EQ(nostr_nip44_conversation_key(CTX, sec, pub, got), NOSTR_OK);
    CHECK_MEM(got, want, 32);
    n_conv++;
}

/* The message keys are internal: check that a payload made with
 * (conversation key, nonce) is exactly ChaCha20 under the vector's
 * chacha_key/chacha_nonce and carries HMAC under its hmac_key. */
static unsigned char keys_ckey[32];

static void v_message_keys(const record *v)
{
    static const char msg[] = "a message long enough that ChaCha20 needs three 64-byte blocks for it, "
                              "prefix and padding included";
    size_t mlen = sizeof msg - 1, padded_len = 2 + (size_t)nostr_nip44_calc_padded_len(sizeof msg - 1), raw_len;
    unsigned char nonce[32], ckey[32], cnonce[12], hkey[32], mac[32];
    unsigned char padded[256], ct[256], raw[512];
    nostr_buf out;
    CHECK(get_hex(v, "nonce", nonce, 32) && get_hex(v, "chacha_key", ckey, 32) &&
          get_hex(v, "chacha_nonce", cnonce, 12) && get_hex(v, "hmac_key", hkey, 32));
    memset(padded, 0, sizeof padded);
    padded[0] = (unsigned char)(mlen >> 8);
    padded[1] = (unsigned char)mlen;
    memcpy(padded + 2, msg, mlen);
    mbedtls_chacha20_crypt(ckey, cnonce, 0, padded_len, padded, ct);

    nostr_buf_init(&out, NULL);
    CHECK_EQ(nostr_nip44_encrypt_nonce(keys_ckey, nonce, msg, mlen, &out), NOSTR_OK);
    CHECK_EQ(decode_payload(&out, raw, sizeof raw, &raw_len), NOSTR_OK);
    CHECK_EQ(raw_len, 65 + padded_len);
    CHECK_EQ(raw[0], 2);
    CHECK_MEM(raw + 1, nonce, 32);
    CHECK_MEM(raw + 33, ct, padded_len);
    ref_hmac(hkey, raw + 1, 32 + padded_len, mac);
    CHECK_MEM(raw + 33 + padded_len, mac, 32);
    nostr_buf_free(&out);
    n_keys++;
}

static void run_get_message_keys(nostr_json *r)
{
    char key[64];
    size_t klen;
    int have_ckey = 0;
    CHECK_EQ(nostr_json_object_begin(r), NOSTR_OK);
    while (nostr_json_object_next(r, key, sizeof key, &klen) > 0) {
        if (strcmp(key, "conversation_key") == 0) {
            CHECK_EQ(nostr_json_hex(r, keys_ckey, 32), NOSTR_OK);
            have_ckey = 1;
        } else if (strcmp(key, "keys") == 0) {
            CHECK(have_ckey); /* the file lists it first */
            CHECK_EQ(each_record(r, v_message_keys), 32);
        } else {
            nostr_json_skip(r);
        }
    }
}

static void run_calc_padded_len(nostr_json *r)
{
    CHECK_EQ(nostr_json_array_begin(r), NOSTR_OK);
    while (nostr_json_array_next(r) == 1) {
        long long len = 0, want = 0;
        CHECK_EQ(nostr_json_array_begin(r), NOSTR_OK);
        CHECK(nostr_json_array_next(r) == 1 && nostr_json_int64(r, &len) == NOSTR_OK);
        CHECK(nostr_json_array_next(r) == 1 && nostr_json_int64(r, &want) == NOSTR_OK);
        CHECK_EQ(nostr_json_array_next(r), 0);
        CHECK_EQ(nostr_nip44_calc_padded_len((uint64_t)len), want);
        if (len >= 1 && len <= 65535) { /* and the payload really has that size */
            static unsigned char nonce[32], ckey[32];
            char *plain = (char *)malloc((size_t)len);
            nostr_buf out;
            memset(plain, 'a', (size_t)len);
            nostr_buf_init(&out, NULL);
            CHECK_EQ(nostr_nip44_encrypt_nonce(ckey, nonce, plain, (size_t)len, &out), NOSTR_OK);
            CHECK_EQ(out.len, (65 + 2 + (size_t)want + 2) / 3 * 4);
            nostr_buf_free(&out);
            free(plain);
        }
        n_padded++;
    }
}

static void v_encrypt_decrypt(const record *v)
{
    unsigned char sec1[32], sec2[32], ckey[32], nonce[32], got[32];
    nostr_str plain = get_str(v, "plaintext"), payload = get_str(v, "payload");
    nostr_keys k1, k2;
    nostr_buf out;
    CHECK(get_hex(v, "sec1", sec1, 32) && get_hex(v, "sec2", sec2, 32) && get_hex(v, "conversation_key", ckey, 32) &&
          get_hex(v, "nonce", nonce, 32));
    CHECK_EQ(nostr_keys_from_secret(CTX, sec1, &k1), NOSTR_OK);
    CHECK_EQ(nostr_keys_from_secret(CTX, sec2, &k2), NOSTR_OK);
    nostr_buf_init(&out, NULL);
    /* sender: conversation key from (sec1, pub2), then the exact payload */
    CHECK_EQ(nostr_nip44_conversation_key(CTX, sec1, k2.pub, got), NOSTR_OK);
    CHECK_MEM(got, ckey, 32);
    CHECK_EQ(nostr_nip44_encrypt_nonce(got, nonce, plain.ptr, plain.len, &out), NOSTR_OK);
    CHECK_STR(out.data, payload.ptr);
    /* receiver: the same key from (sec2, pub1), then the plaintext */
    CHECK_EQ(nostr_nip44_conversation_key(CTX, sec2, k1.pub, got), NOSTR_OK);
    CHECK_MEM(got, ckey, 32);
    nostr_buf_clear(&out);
    CHECK_EQ(nostr_nip44_decrypt(got, payload.ptr, payload.len, &out), NOSTR_OK);
    CHECK_EQ(out.len, plain.len);
    CHECK_MEM(out.data, plain.ptr, plain.len);
    nostr_buf_free(&out);
    nostr_keys_wipe(&k1);
    nostr_keys_wipe(&k2);
    n_encdec++;
}

static void v_long_msg(const record *v)
{
    unsigned char ckey[32], nonce[32], want_plain[32], want_payload[32], h[32];
    nostr_str pattern = get_str(v, "pattern");
    const field *repeat = get(v, "repeat");
    size_t n = repeat ? (size_t)repeat->num : 0, i;
    char *plain = (char *)malloc(pattern.len * n + 1);
    nostr_buf out;
    CHECK(get_hex(v, "conversation_key", ckey, 32) && get_hex(v, "nonce", nonce, 32) &&
          get_hex(v, "plaintext_sha256", want_plain, 32) && get_hex(v, "payload_sha256", want_payload, 32));
    for (i = 0; i < n; i++) memcpy(plain + i * pattern.len, pattern.ptr, pattern.len);
    nostr_sha256(plain, pattern.len * n, h);
    CHECK_MEM(h, want_plain, 32);
    nostr_buf_init(&out, NULL);
    CHECK_EQ(nostr_nip44_encrypt_nonce(ckey, nonce, plain, pattern.len * n, &out), NOSTR_OK);
    nostr_sha256(out.data, out.len, h);
    CHECK_MEM(h, want_payload, 32);
    {
        nostr_buf back;
        nostr_buf_init(&back, NULL);
        CHECK_EQ(nostr_nip44_decrypt(ckey, out.data, out.len, &back), NOSTR_OK);
        CHECK_EQ(back.len, pattern.len * n);
        CHECK_MEM(back.data, plain, back.len);
        nostr_buf_free(&back);
    }
    nostr_buf_free(&out);
    free(plain);
    n_long++;
}

static void run_bad_lengths(nostr_json *r)
{
    static unsigned char ckey[32] = {1}, nonce[32] = {2};
    CHECK_EQ(nostr_json_array_begin(r), NOSTR_OK);
    while (nostr_json_array_next(r) == 1) {
        long long len = -1;
        char *plain;
        nostr_buf out;
        CHECK_EQ(nostr_json_int64(r, &len), NOSTR_OK);
        plain = (char *)malloc((size_t)len + 1);
        memset(plain, 'a', (size_t)len);
        nostr_buf_init(&out, NULL);
        CHECK_EQ(nostr_nip44_encrypt_nonce(ckey, nonce, plain, (size_t)len, &out),
                 len == 0 ? NOSTR_ERR_ARG : NOSTR_ERR_TOO_LARGE);
        CHECK_EQ(out.len, 0);
        nostr_buf_free(&out);
        free(plain);
        n_bad_lengths++;
    }
}

static void v_bad_conversation_key(const record *v)
{
    unsigned char sec[32], pub[32], got[32];
    const char *note = get_str(v, "note").ptr;
    int rc;
    CHECK(get_hex(v, "sec1", sec, 32) && get_hex(v, "pub2", pub, 32));
    rc = nostr_nip44_conversation_key(CTX, sec, pub, got);
    /* the note names the culprit: "sec1 ..." or "pub2 ..." */
    CHECK_EQ(rc, strncmp(note, "sec1", 4) == 0 ? NOSTR_ERR_SECKEY : NOSTR_ERR_PUBKEY);
    n_bad_conv++;
}

static int expected_decrypt_error(const char *note)
{
    if (strncmp(note, "unknown encryption version", 26) == 0) return NOSTR_ERR_VERSION;
    if (strcmp(note, "invalid base64") == 0) return NOSTR_ERR_BASE64;
    if (strcmp(note, "invalid MAC") == 0) return NOSTR_ERR_MAC;
    if (strcmp(note, "invalid padding") == 0) return NOSTR_ERR_PADDING;
    if (strncmp(note, "invalid payload length", 22) == 0) return NOSTR_ERR_BASE64; /* all too short */
    return 1;                                                                       /* unknown note: fail */
}

static void v_bad_decrypt(const record *v)
{
    unsigned char ckey[32];
    nostr_str payload = get_str(v, "payload");
    nostr_buf out;
    CHECK(get_hex(v, "conversation_key", ckey, 32));
    nostr_buf_init(&out, NULL);
    CHECK_EQ(nostr_nip44_decrypt(ckey, payload.ptr, payload.len, &out), expected_decrypt_error(get_str(v, "note").ptr));
    CHECK_EQ(out.len, 0);
    nostr_buf_free(&out);
    n_bad_decrypt++;
}

static void run_group(nostr_json *r, int valid)
{
    char key[64];
    size_t klen;
    CHECK_EQ(nostr_json_object_begin(r), NOSTR_OK);
    while (nostr_json_object_next(r, key, sizeof key, &klen) > 0) {
        if (valid && strcmp(key, "get_conversation_key") == 0)
            each_record(r, v_get_conversation_key);
        else if (valid && strcmp(key, "get_message_keys") == 0)
            run_get_message_keys(r);
        else if (valid && strcmp(key, "calc_padded_len") == 0)
            run_calc_padded_len(r);
        else if (valid && strcmp(key, "encrypt_decrypt") == 0)
            each_record(r, v_encrypt_decrypt);
        else if (valid && strcmp(key, "encrypt_decrypt_long_msg") == 0)
            each_record(r, v_long_msg);
        else if (!valid && strcmp(key, "encrypt_msg_lengths") == 0)
            run_bad_lengths(r);
        else if (!valid && strcmp(key, "get_conversation_key") == 0)
            each_record(r, v_bad_conversation_key);
        else if (!valid && strcmp(key, "decrypt") == 0)
            each_record(r, v_bad_decrypt);
        else {
            fprintf(stderr, "unexpected section %s\n", key);
            CHECK(0);
            nostr_json_skip(r);
        }
    }
}

static void test_nip44_vectors(void)
{
    size_t len = 0;
    char *text = test_read_file("nip44.vectors.json", &len);
    char key[64];
    size_t klen;
    nostr_json r;
    CHECK(text != NULL);
    if (!text) return;
    nostr_json_init(&r, text, len, NULL);
    CHECK_EQ(nostr_json_object_begin(&r), NOSTR_OK);
    while (nostr_json_object_next(&r, key, sizeof key, &klen) > 0) {
        char k2[40];
        CHECK_STR(key, "v2");
        CHECK_EQ(nostr_json_object_begin(&r), NOSTR_OK);
        while (nostr_json_object_next(&r, k2, sizeof k2, &klen) > 0) run_group(&r, strcmp(k2, "valid") == 0);
    }
    CHECK_EQ(nostr_json_finish(&r), NOSTR_OK);
    /* every vector of the file was run */
    CHECK_EQ(n_conv, 35);
    CHECK_EQ(n_keys, 32);
    CHECK_EQ(n_padded, 24);
    CHECK_EQ(n_encdec, 10);
    CHECK_EQ(n_long, 3);
    CHECK_EQ(n_bad_lengths, 4);
    CHECK_EQ(n_bad_conv, 8);
    CHECK_EQ(n_bad_decrypt, 12);
    free(text);
}

/* ---- NIP-44 beyond the vectors ---- */

static void test_nip44_padded_len_edges(void)
{
    CHECK_EQ(nostr_nip44_calc_padded_len(0), 0);
    CHECK_EQ(nostr_nip44_calc_padded_len(1), 32);
    CHECK_EQ(nostr_nip44_calc_padded_len(257), 320);
    CHECK_EQ(nostr_nip44_calc_padded_len(65535), 65536);
    CHECK_EQ(nostr_nip44_calc_padded_len(65537), 81920);
    CHECK(nostr_nip44_calc_padded_len(0xffffffffu) == 0x100000000ull);
    CHECK_EQ(nostr_nip44_calc_padded_len(0x100000000ull), 0);
}

static void test_nip44_round_trips(void)
{
    static const size_t sizes[] = {1, 2, 31, 32, 33, 64, 65, 255, 256, 257, 1000, 4097, 65535};
    nostr_keys a, b;
    unsigned char ab[32], ba[32];
    char *plain = (char *)malloc(65535);
    nostr_buf p1, p2, back;
    size_t i;
    CHECK_EQ(nostr_keys_generate(CTX, &a), NOSTR_OK);
    CHECK_EQ(nostr_keys_generate(CTX, &b), NOSTR_OK);
    CHECK_EQ(nostr_nip44_conversation_key(CTX, a.sec, b.pub, ab), NOSTR_OK);
    CHECK_EQ(nostr_nip44_conversation_key(CTX, b.sec, a.pub, ba), NOSTR_OK);
    CHECK_MEM(ab, ba, 32);
    nostr_buf_init(&p1, NULL);
    nostr_buf_init(&p2, NULL);
    nostr_buf_init(&back, NULL);
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        CHECK_EQ(nostr_random(CTX, plain, n), NOSTR_OK);
        nostr_buf_clear(&p1);
        nostr_buf_clear(&p2);
        nostr_buf_clear(&back);
        CHECK_EQ(nostr_nip44_encrypt(CTX, ab, plain, n, &p1), NOSTR_OK);
        CHECK_EQ(nostr_nip44_encrypt(CTX, ab, plain, n, &p2), NOSTR_OK);
        CHECK(p1.len == p2.len && memcmp(p1.data, p2.data, p1.len) != 0); /* fresh nonce each time */
        CHECK_EQ(strlen(p1.data), p1.len);
        CHECK_EQ(p1.len, (65 + 2 + (size_t)nostr_nip44_calc_padded_len(n) + 2) / 3 * 4);
        CHECK_EQ(nostr_nip44_decrypt(ba, p1.data, p1.len, &back), NOSTR_OK);
        CHECK(back.len == n && memcmp(back.data, plain, n) == 0);
        CHECK_EQ(back.data[back.len], 0);
    }
    /* the largest message makes the largest payload the decoder accepts */
    CHECK_EQ(p1.len, 87472);
    CHECK_EQ(nostr_buf_append(&p1, "AAAA", 4), NOSTR_OK);
    nostr_buf_clear(&back);
    CHECK_EQ(nostr_nip44_decrypt(ba, p1.data, p1.len, &back), NOSTR_ERR_TOO_LARGE);
    /* another key cannot open it */
    ab[0] ^= 1;
    CHECK_EQ(nostr_nip44_decrypt(ab, p2.data, p2.len, &back), NOSTR_ERR_MAC);
    CHECK_EQ(back.len, 0);
    nostr_buf_free(&p1);
    nostr_buf_free(&p2);
    nostr_buf_free(&back);
    nostr_keys_wipe(&a);
    nostr_keys_wipe(&b);
    free(plain);
}

/* Change one byte of the decoded payload, re-encode, decrypt. */
static int tampered(const unsigned char ckey[32], const nostr_buf *payload, size_t at, unsigned char x)
{
    unsigned char raw[256];
    size_t raw_len;
    nostr_buf t, out;
    int rc;
    CHECK_EQ(decode_payload(payload, raw, sizeof raw, &raw_len), NOSTR_OK);
    raw[at < raw_len ? at : raw_len - 1] ^= x;
    nostr_buf_init(&t, NULL);
    nostr_buf_init(&out, NULL);
    CHECK_EQ(nostr_base64_encode(raw, raw_len, &t), NOSTR_OK);
    rc = nostr_nip44_decrypt(ckey, t.data, t.len, &out);
    CHECK_EQ(out.len, 0);
    nostr_buf_free(&t);
    nostr_buf_free(&out);
    return rc;
}

static void test_nip44_tamper(void)
{
    unsigned char ckey[32], nonce[32];
    nostr_buf p;
    size_t i;
    memset(ckey, 7, 32);
    memset(nonce, 9, 32);
    nostr_buf_init(&p, NULL);
    CHECK_EQ(nostr_nip44_encrypt_nonce(ckey, nonce, "hello", 5, &p), NOSTR_OK); /* raw is 99 bytes */
    CHECK_EQ(tampered(ckey, &p, 0, 0x03), NOSTR_ERR_VERSION);                   /* version 1 */
    for (i = 1; i < 99; i += 7) CHECK_EQ(tampered(ckey, &p, i, 0x80), NOSTR_ERR_MAC); /* nonce, ct, mac */
    CHECK_EQ(tampered(ckey, &p, 98, 0x01), NOSTR_ERR_MAC);
    /* base64 damage */
    p.data[10] = '*';
    {
        nostr_buf out;
        nostr_buf_init(&out, NULL);
        CHECK_EQ(nostr_nip44_decrypt(ckey, p.data, p.len, &out), NOSTR_ERR_BASE64);
        CHECK_EQ(nostr_nip44_decrypt(ckey, p.data, p.len - 1, &out), NOSTR_ERR_BASE64);
        p.data[0] = '#';
        CHECK_EQ(nostr_nip44_decrypt(ckey, p.data, p.len, &out), NOSTR_ERR_VERSION);
        CHECK_EQ(nostr_nip44_decrypt(ckey, "#", 1, &out), NOSTR_ERR_VERSION);
        CHECK_EQ(nostr_nip44_decrypt(ckey, "", 0, &out), NOSTR_ERR_BASE64);
        CHECK_EQ(nostr_nip44_decrypt(NULL, "", 0, &out), NOSTR_ERR_ARG);
        CHECK_EQ(out.len, 0);
        nostr_buf_free(&out);
    }
    nostr_buf_free(&p);
}

/* Authenticated payloads with wrong padding or prefix, built by the test's
 * own (mbedTLS) sealer: the MAC passes, the padding check must not. */
static int open_padded(const unsigned char *padded, size_t padded_len, nostr_buf *out)
{
    static const unsigned char ckey[32] = {3}, nonce[32] = {4};
    nostr_buf p;
    int rc;
    nostr_buf_init(&p, NULL);
    ref_seal(ckey, nonce, padded, padded_len, &p);
    nostr_buf_clear(out);
    rc = nostr_nip44_decrypt(ckey, p.data, p.len, out);
    nostr_buf_free(&p);
    return rc;
}

static void test_nip44_padding(void)
{
    unsigned char padded[2 + 320];
    nostr_buf out;
    nostr_buf_init(&out, NULL);
    memset(padded, 0, sizeof padded);
    memcpy(padded + 2, "abc", 3);
    padded[1] = 3;
    CHECK_EQ(open_padded(padded, 34, &out), NOSTR_OK); /* the well-formed reference */
    CHECK(out.len == 3 && memcmp(out.data, "abc", 3) == 0);
    padded[30] = 0x55; /* NIP-44 does not require zero padding bytes */
    CHECK_EQ(open_padded(padded, 34, &out), NOSTR_OK);
    padded[30] = 0;
    CHECK_EQ(open_padded(padded, 66, &out), NOSTR_ERR_PADDING); /* 3 bytes pad to 32, not 64 */
    CHECK_EQ(out.len, 0);
    padded[1] = 0; /* length 0, or the extended (>= 64 KiB) prefix */
    CHECK_EQ(open_padded(padded, 34, &out), NOSTR_ERR_PADDING);
    padded[5] = 3;
    CHECK_EQ(open_padded(padded, 34, &out), NOSTR_ERR_PADDING);
    padded[5] = 0;
    padded[1] = 33; /* longer than the padded space */
    CHECK_EQ(open_padded(padded, 34, &out), NOSTR_ERR_PADDING);
    padded[1] = 33;
    CHECK_EQ(open_padded(padded, 66, &out), NOSTR_OK);
    CHECK_EQ(out.len, 33);
    padded[0] = 1; /* 289 bytes pad to 320 */
    padded[1] = 33;
    CHECK_EQ(open_padded(padded, 322, &out), NOSTR_OK);
    CHECK_EQ(out.len, 289);
    CHECK_EQ(open_padded(padded, 290, &out), NOSTR_ERR_PADDING);
    CHECK_EQ(open_padded(padded, 33, &out), NOSTR_ERR_BASE64); /* decoded size 98 < 99 */
    nostr_buf_free(&out);
}

static void test_nip44_buffers(void)
{
    static const unsigned char ckey[32] = {5}, nonce[32] = {6};
    char mem[512];
    nostr_buf out, fixed, back;
    size_t need;
    nostr_buf_init(&out, NULL);
    CHECK_EQ(nostr_nip44_encrypt_nonce(ckey, nonce, "hi", 2, &out), NOSTR_OK);
    need = out.len + 1;
    CHECK_EQ(need, 133);
    /* fixed buffers: exactly the payload and its NUL */
    nostr_buf_init_fixed(&fixed, mem, need - 1);
    CHECK_EQ(nostr_nip44_encrypt_nonce(ckey, nonce, "hi", 2, &fixed), NOSTR_ERR_BUFFER);
    CHECK_EQ(fixed.len, 0);
    nostr_buf_init_fixed(&fixed, mem, need);
    CHECK_EQ(nostr_nip44_encrypt_nonce(ckey, nonce, "hi", 2, &fixed), NOSTR_OK);
    CHECK_STR(fixed.data, out.data);
    /* decrypt into a fixed buffer needs 3/4 of the payload for scratch */
    nostr_buf_init_fixed(&back, mem + 200, 99);
    CHECK_EQ(nostr_nip44_decrypt(ckey, out.data, out.len, &back), NOSTR_ERR_BUFFER);
    nostr_buf_init_fixed(&back, mem + 200, 100);
    CHECK_EQ(nostr_nip44_decrypt(ckey, out.data, out.len, &back), NOSTR_OK);
    CHECK_STR(back.data, "hi");
    {
        size_t i, dirty = 0; /* the scratch behind the plaintext was wiped */
        for (i = 3; i < 99; i++) dirty |= (unsigned char)back.data[i];
        CHECK_EQ(dirty, 0);
    }
    /* both append to what the buffer holds */
    nostr_buf_clear(&back);
    nostr_buf_init(&back, NULL);
    CHECK_EQ(nostr_buf_append_str(&back, "prefix:"), NOSTR_OK);
    CHECK_EQ(nostr_nip44_decrypt(ckey, out.data, out.len, &back), NOSTR_OK);
    CHECK_STR(back.data, "prefix:hi");
    out.data[20] = out.data[20] == 'A' ? 'B' : 'A';
    CHECK_EQ(nostr_nip44_decrypt(ckey, out.data, out.len, &back), NOSTR_ERR_MAC);
    CHECK_STR(back.data, "prefix:hi");
    nostr_buf_clear(&out);
    CHECK_EQ(nostr_buf_append_str(&out, "x"), NOSTR_OK);
    CHECK_EQ(nostr_nip44_encrypt_nonce(ckey, nonce, "hi", 2, &out), NOSTR_OK);
    CHECK_EQ(out.len, 133);
    CHECK_STR(out.data + 1, fixed.data);
    nostr_buf_free(&out);
    nostr_buf_free(&back);
}

static int failing_rng(void *user, unsigned char *out, size_t n)
{
    int *calls = (int *)user;
    memset(out, 0x42, n);
    return (*calls)++ == 0 ? 0 : -1; /* the context's own seed, then nothing */
}

static void test_rng_failure(void)
{
    nostr_ctx_config cfg;
    nostr_ctx *ctx;
    int calls = 0;
    unsigned char ckey[32] = {1}, sec[32] = {0}, pub[32];
    nostr_keys k;
    nostr_buf out;
    memset(&cfg, 0, sizeof cfg);
    cfg.rng = failing_rng;
    cfg.rng_user = &calls;
    ctx = nostr_ctx_new(&cfg);
    CHECK(ctx != NULL);
    if (!ctx) return;
    sec[31] = 1;
    CHECK_EQ(nostr_keys_from_secret(CTX, sec, &k), NOSTR_OK);
    memcpy(pub, k.pub, 32);
    nostr_buf_init(&out, NULL);
    CHECK_EQ(nostr_nip44_encrypt(ctx, ckey, "x", 1, &out), NOSTR_ERR_RNG);
    CHECK_EQ(nostr_nip04_encrypt(ctx, sec, pub, "x", 1, &out), NOSTR_ERR_RNG);
    CHECK_EQ(out.len, 0);
    nostr_buf_free(&out);
    nostr_ctx_free(ctx);
}

/* ---- NIP-04 ---- */

static int n04_valid, n04_invalid;

static void v_nip04_valid(const record *v)
{
    unsigned char ssec[32], spub[32], rsec[32], rpub[32], iv[16];
    nostr_str ct = get_str(v, "ciphertext"), plain = get_str(v, "plaintext"), iv64 = get_str(v, "iv_base64");
    const field *reproduces = get(v, "encrypt_with_this_iv_reproduces_ciphertext");
    size_t iv_len = 0;
    nostr_keys ks, kr;
    nostr_buf out;
    CHECK(get_hex(v, "sender_sec", ssec, 32) && get_hex(v, "sender_pub", spub, 32) &&
          get_hex(v, "recipient_sec", rsec, 32) && get_hex(v, "recipient_pub", rpub, 32));
    CHECK_EQ(nostr_keys_from_secret(CTX, ssec, &ks), NOSTR_OK);
    CHECK_EQ(nostr_keys_from_secret(CTX, rsec, &kr), NOSTR_OK);
    CHECK_MEM(ks.pub, spub, 32);
    CHECK_MEM(kr.pub, rpub, 32);
    nostr_buf_init(&out, NULL);
    /* the recipient reads it, and so does the sender (symmetric key) */
    CHECK_EQ(nostr_nip04_decrypt(CTX, rsec, spub, ct.ptr, ct.len, &out), NOSTR_OK);
    CHECK(out.len == plain.len && memcmp(out.data, plain.ptr, plain.len) == 0);
    nostr_buf_clear(&out);
    CHECK_EQ(nostr_nip04_decrypt(CTX, ssec, rpub, ct.ptr, ct.len, &out), NOSTR_OK);
    CHECK(out.len == plain.len && memcmp(out.data, plain.ptr, plain.len) == 0);
    /* the same iv gives the same cipher text */
    CHECK_EQ(nostr_base64_decode(iv64.ptr, iv64.len, iv, sizeof iv, &iv_len), NOSTR_OK);
    CHECK_EQ(iv_len, 16);
    CHECK(reproduces && reproduces->flag);
    nostr_buf_clear(&out);
    CHECK_EQ(nostr_nip04_encrypt_iv(CTX, ssec, rpub, iv, plain.ptr, plain.len, &out), NOSTR_OK);
    CHECK_STR(out.data, ct.ptr);
    nostr_buf_free(&out);
    nostr_keys_wipe(&ks);
    nostr_keys_wipe(&kr);
    n04_valid++;
}

static void v_nip04_invalid(const record *v)
{
    unsigned char rsec[32], spub[32];
    nostr_str ct = get_str(v, "ciphertext");
    nostr_buf out;
    int rc;
    CHECK(get_hex(v, "recipient_sec", rsec, 32) && get_hex(v, "sender_pub", spub, 32));
    nostr_buf_init(&out, NULL);
    rc = nostr_nip04_decrypt(CTX, rsec, spub, ct.ptr, ct.len, &out);
    CHECK(rc == NOSTR_ERR_BASE64 || rc == NOSTR_ERR_PADDING);
    CHECK_EQ(out.len, 0);
    nostr_buf_free(&out);
    n04_invalid++;
}

static void test_nip04_vectors(void)
{
    size_t len = 0, klen;
    char *text = test_read_file("nip04-vectors.json", &len);
    char key[64];
    nostr_json r;
    CHECK(text != NULL);
    if (!text) return;
    nostr_json_init(&r, text, len, NULL);
    CHECK_EQ(nostr_json_object_begin(&r), NOSTR_OK);
    while (nostr_json_object_next(&r, key, sizeof key, &klen) > 0) {
        if (strcmp(key, "valid") == 0)
            each_record(&r, v_nip04_valid);
        else if (strcmp(key, "invalid") == 0)
            each_record(&r, v_nip04_invalid);
        else
            nostr_json_skip(&r);
    }
    CHECK_EQ(nostr_json_finish(&r), NOSTR_OK);
    CHECK_EQ(n04_valid, 4);
    CHECK_EQ(n04_invalid, 3);
    free(text);
}

static void test_nip04_round_trips(void)
{
    static const size_t sizes[] = {0, 1, 15, 16, 17, 31, 32, 1000};
    nostr_keys a, b;
    char plain[1000];
    nostr_buf p, back;
    size_t i;
    CHECK_EQ(nostr_keys_generate(CTX, &a), NOSTR_OK);
    CHECK_EQ(nostr_keys_generate(CTX, &b), NOSTR_OK);
    nostr_buf_init(&p, NULL);
    nostr_buf_init(&back, NULL);
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i], ct_chars = ((n / 16 + 1) * 16 + 2) / 3 * 4;
        CHECK_EQ(nostr_random(CTX, plain, n), NOSTR_OK);
        nostr_buf_clear(&p);
        nostr_buf_clear(&back);
        CHECK_EQ(nostr_nip04_encrypt(CTX, a.sec, b.pub, plain, n, &p), NOSTR_OK);
        CHECK_EQ(p.len, ct_chars + 4 + 24);
        CHECK(memcmp(p.data + ct_chars, "?iv=", 4) == 0);
        CHECK_EQ(nostr_nip04_decrypt(CTX, b.sec, a.pub, p.data, p.len, &back), NOSTR_OK);
        CHECK(back.len == n && memcmp(back.data, plain, n) == 0);
    }
    /* malformed payloads */
    nostr_buf_clear(&back);
    CHECK_EQ(nostr_nip04_decrypt(CTX, b.sec, a.pub, p.data, p.len - 4, &back), NOSTR_ERR_BASE64); /* short iv */
    CHECK_EQ(nostr_nip04_decrypt(CTX, b.sec, a.pub, p.data + 4, p.len - 4, &back), NOSTR_ERR_PADDING);
    CHECK_EQ(nostr_nip04_decrypt(CTX, b.sec, a.pub, "?iv=AAAAAAAAAAAAAAAAAAAAAA==", 28, &back), NOSTR_ERR_PADDING);
    CHECK_EQ(nostr_nip04_decrypt(CTX, b.sec, a.pub, "AAAA?iv=AAAAAAAAAAAAAAAAAAAAAA==", 32, &back),
             NOSTR_ERR_PADDING); /* 3 bytes: not a block */
    CHECK_EQ(nostr_nip04_decrypt(CTX, b.sec, a.pub, "AAAA?IV=AAAAAAAAAAAAAAAAAAAAAA==", 32, &back), NOSTR_ERR_BASE64);
    CHECK_EQ(nostr_nip04_decrypt(CTX, b.sec, a.pub, "AAAA?iv=AAAAAAAAAAAAAAAAAAAAAAAA", 32, &back), NOSTR_ERR_BASE64);
    CHECK_EQ(back.len, 0);
    /* keys */
    {
        unsigned char zero[32] = {0}, bad_pub[32];
        memset(bad_pub, 0xff, 32);
        CHECK_EQ(nostr_nip04_encrypt(CTX, zero, b.pub, "x", 1, &back), NOSTR_ERR_SECKEY);
        CHECK_EQ(nostr_nip04_encrypt(CTX, a.sec, bad_pub, "x", 1, &back), NOSTR_ERR_PUBKEY);
        CHECK_EQ(nostr_nip04_decrypt(CTX, a.sec, bad_pub, p.data, p.len, &back), NOSTR_ERR_PUBKEY);
        CHECK_EQ(nostr_nip04_decrypt(NULL, a.sec, b.pub, p.data, p.len, &back), NOSTR_ERR_ARG);
        CHECK_EQ(nostr_nip44_conversation_key(NULL, a.sec, b.pub, zero), NOSTR_ERR_ARG);
        CHECK_EQ(back.len, 0);
    }
    nostr_buf_free(&p);
    nostr_buf_free(&back);
    nostr_keys_wipe(&a);
    nostr_keys_wipe(&b);
}

/* ---- base64 ---- */

static void check_b64(const char *raw, const char *enc)
{
    unsigned char buf[64];
    size_t n = 99;
    nostr_buf out;
    nostr_buf_init(&out, NULL);
    CHECK_EQ(nostr_base64_encode((const unsigned char *)raw, strlen(raw), &out), NOSTR_OK);
    CHECK_STR(out.data ? out.data : "", enc);
    CHECK_EQ(nostr_base64_decode(enc, strlen(enc), buf, sizeof buf, &n), NOSTR_OK);
    CHECK(n == strlen(raw) && memcmp(buf, raw, n) == 0);
    nostr_buf_free(&out);
}

static int b64_rejects(const char *s)
{
    unsigned char buf[64];
    size_t n = 99;
    int rc = nostr_base64_decode(s, strlen(s), buf, sizeof buf, &n);
    CHECK_EQ(n, 0);
    return rc;
}

static void test_base64(void)
{
    unsigned char data[300], back[300];
    char text[512];
    size_t n, len;
    nostr_buf out;
    /* RFC 4648 section 10 */
    check_b64("", "");
    check_b64("f", "Zg==");
    check_b64("fo", "Zm8=");
    check_b64("foo", "Zm9v");
    check_b64("foob", "Zm9vYg==");
    check_b64("fooba", "Zm9vYmE=");
    check_b64("foobar", "Zm9vYmFy");
    check_b64("\xfb\xff\xbf", "+/+/");
    /* rejects: length, characters, padding, non-canonical bits */
    CHECK_EQ(b64_rejects("Zg="), NOSTR_ERR_BASE64);
    CHECK_EQ(b64_rejects("Zg"), NOSTR_ERR_BASE64);
    CHECK_EQ(b64_rejects("Zm9vY"), NOSTR_ERR_BASE64);
    CHECK_EQ(b64_rejects("Z==="), NOSTR_ERR_BASE64);
    CHECK_EQ(b64_rejects("===="), NOSTR_ERR_BASE64);
    CHECK_EQ(b64_rejects("Zg==Zg=="), NOSTR_ERR_BASE64);
    CHECK_EQ(b64_rejects("Z=g="), NOSTR_ERR_BASE64);
    CHECK_EQ(b64_rejects("Zm9!"), NOSTR_ERR_BASE64);
    CHECK_EQ(b64_rejects("Zm9v\n"), NOSTR_ERR_BASE64);
    CHECK_EQ(b64_rejects("Zm 9"), NOSTR_ERR_BASE64);
    CHECK_EQ(b64_rejects("-_-_"), NOSTR_ERR_BASE64); /* URL-safe alphabet */
    CHECK_EQ(b64_rejects("Zh=="), NOSTR_ERR_BASE64); /* "f" with stray low bits */
    CHECK_EQ(b64_rejects("Zm9="), NOSTR_ERR_BASE64);
    CHECK_EQ(b64_rejects("Zm\xc3\xa9"), NOSTR_ERR_BASE64);
    {
        char nul[4] = {'Z', 'm', 0, 'v'};
        CHECK_EQ(nostr_base64_decode(nul, 4, data, sizeof data, &n), NOSTR_ERR_BASE64);
    }
    /* capacity: exact fits, one less does not */
    CHECK_EQ(nostr_base64_decode("Zm9vYmE=", 8, data, 5, &n), NOSTR_OK);
    CHECK_EQ(n, 5);
    CHECK_EQ(nostr_base64_decode("Zm9vYmE=", 8, data, 4, &n), NOSTR_ERR_BUFFER);
    CHECK_EQ(nostr_base64_decode(NULL, 0, NULL, 0, &n), NOSTR_OK);
    CHECK_EQ(n, 0);
    CHECK_EQ(nostr_base64_decode("Zg==", 4, data, 1, NULL), NOSTR_ERR_ARG);
    /* every length and byte value round trips; decoding in place works */
    for (n = 0; n < sizeof data; n++) data[n] = (unsigned char)(n * 37 + 11);
    nostr_buf_init(&out, NULL);
    for (n = 0; n <= sizeof data; n += (n < 20 ? 1 : 13)) {
        nostr_buf_clear(&out);
        CHECK_EQ(nostr_base64_encode(data, n, &out), NOSTR_OK);
        CHECK_EQ(out.len, (n + 2) / 3 * 4);
        CHECK_EQ(nostr_base64_decode(out.data, out.len, back, sizeof back, &len), NOSTR_OK);
        CHECK(len == n && memcmp(back, data, n) == 0);
        memcpy(text, out.data, out.len);
        CHECK_EQ(nostr_base64_decode(text, out.len, (unsigned char *)text, sizeof text, &len), NOSTR_OK);
        CHECK(len == n && memcmp(text, data, n) == 0);
    }
    /* a fixed buffer needs the encoding and its NUL */
    {
        char mem[9];
        nostr_buf fixed;
        nostr_buf_init_fixed(&fixed, mem, 8);
        CHECK_EQ(nostr_base64_encode((const unsigned char *)"foobar", 6, &fixed), NOSTR_ERR_BUFFER);
        nostr_buf_init_fixed(&fixed, mem, 9);
        CHECK_EQ(nostr_base64_encode((const unsigned char *)"foobar", 6, &fixed), NOSTR_OK);
        CHECK_STR(mem, "Zm9vYmFy");
    }
    CHECK_EQ(nostr_base64_encode(NULL, 1, &out), NOSTR_ERR_ARG);
    nostr_buf_free(&out);
}

int main(void)
{
    CTX = nostr_ctx_new(NULL);
    if (!CTX) {
        fprintf(stderr, "nostr_ctx_new failed\n");
        return 1;
    }
    TEST_RUN(test_base64);
    TEST_RUN(test_nip44_vectors);
    TEST_RUN(test_nip44_padded_len_edges);
    TEST_RUN(test_nip44_round_trips);
    TEST_RUN(test_nip44_tamper);
    TEST_RUN(test_nip44_padding);
    TEST_RUN(test_nip44_buffers);
    TEST_RUN(test_rng_failure);
    TEST_RUN(test_nip04_vectors);
    TEST_RUN(test_nip04_round_trips);
    nostr_ctx_free(CTX);
    return TEST_DONE();
}
