/* ---- crypto: implementation ----
 *
 * Primitives: ECDH from libsecp256k1; ChaCha20 (mbedtls_chacha20_crypt) and
 * AES-256-CBC (mbedtls_aes_crypt_cbc) from mbedTLS. The design names mbedTLS
 * for HMAC and HKDF as well; we use our own nostr_hmac_sha256 instead (the
 * same code that hashes every event, checked against the RFC 4231 vectors)
 * and build HKDF (RFC 5869) on it here, so there is one SHA-256 in the
 * library. Both are plain, fixed-size uses; the NIP-44 vectors check them.
 *
 * No heap: every function works inside the caller's nostr_buf. Encryption
 * builds the raw bytes at the end of the space it reserves and base64-
 * encodes them forwards in place; decryption decodes into the buffer,
 * decrypts there and keeps only the plaintext, wiping the rest. */

/* NIP-44 v2 sizes (the 2-byte length prefix form: plaintext up to 65535). */
enum {
    NOSTR__NIP44_VERSION = 2,
    NOSTR__NIP44_MAX_PLAIN = 65535,
    NOSTR__NIP44_MIN_PAYLOAD = 132, /* base64 characters */
    NOSTR__NIP44_MAX_PAYLOAD = 87472,
    NOSTR__NIP44_MIN_RAW = 99,    /* decoded bytes: 1 + 32 + 34 + 32 */
    NOSTR__NIP44_MAX_RAW = 65603, /* 1 + 32 + 65538 + 32 */
    NOSTR__NIP44_OVERHEAD = 65    /* version, nonce, mac */
};

static const char nostr__crypto_b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ---- base64 ---- */

static size_t nostr__crypto_b64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Encode n bytes to dst (no NUL). Each group reads its three bytes before
 * writing its four characters, so src may lie inside dst at offset
 * encoded_len(n) - n: the writer never overtakes the reader there. */
static void nostr__crypto_b64_encode_into(const unsigned char *src, size_t n, char *dst)
{
    const char *A = nostr__crypto_b64_alphabet;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = ((unsigned)src[i] << 16) | ((unsigned)src[i + 1] << 8) | src[i + 2];
        dst[0] = A[(v >> 18) & 63];
        dst[1] = A[(v >> 12) & 63];
        dst[2] = A[(v >> 6) & 63];
        dst[3] = A[v & 63];
        dst += 4;
    }
    if (n - i == 1) {
        unsigned v = (unsigned)src[i] << 16;
        dst[0] = A[(v >> 18) & 63];
        dst[1] = A[(v >> 12) & 63];
        dst[2] = '=';
        dst[3] = '=';
    } else if (n - i == 2) {
        unsigned v = ((unsigned)src[i] << 16) | ((unsigned)src[i + 1] << 8);
        dst[0] = A[(v >> 18) & 63];
        dst[1] = A[(v >> 12) & 63];
        dst[2] = A[(v >> 6) & 63];
        dst[3] = '=';
    }
}

static int nostr__crypto_b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Upper bound of the decoded size of len characters. */
static size_t nostr__crypto_b64_decoded_max(size_t len)
{
    return len / 4 * 3;
}

NOSTRDEF int nostr_base64_encode(const unsigned char *data, size_t len, nostr_buf *out)
{
    size_t enc;
    int rc;
    if (!out || (!data && len)) return NOSTR_ERR_ARG;
    if (len > ((size_t)-1) / 4 * 3 - 3) return NOSTR_ERR_TOO_LARGE;
    enc = nostr__crypto_b64_encoded_len(len);
    rc = nostr_buf_reserve(out, enc);
    if (rc) return rc;
    nostr__crypto_b64_encode_into(data, len, out->data + out->len);
    out->len += enc;
    out->data[out->len] = 0;
    return NOSTR_OK;
}

/* Strict RFC 4648: standard alphabet, padded to a multiple of four, '='
 * only at the end, no white space, unused trailing bits zero (so every
 * byte string has exactly one accepted encoding). Each group reads its four
 * characters before writing its three bytes, so out may equal s. */
NOSTRDEF int nostr_base64_decode(const char *s, size_t len, unsigned char *out, size_t cap, size_t *out_len)
{
    size_t pad = 0, dlen, i, o = 0;
    if ((!s && len) || !out_len) return NOSTR_ERR_ARG;
    *out_len = 0;
    if (len % 4 != 0) return NOSTR_ERR_BASE64;
    if (len && s[len - 1] == '=') pad = s[len - 2] == '=' ? 2 : 1;
    dlen = nostr__crypto_b64_decoded_max(len) - pad;
    if (dlen > cap) return NOSTR_ERR_BUFFER;
    if (!out && dlen) return NOSTR_ERR_ARG;
    for (i = 0; i < len; i += 4) {
        int last = i + 4 == len;
        int v0 = nostr__crypto_b64_value((unsigned char)s[i]);
        int v1 = nostr__crypto_b64_value((unsigned char)s[i + 1]);
        int v2 = last && pad == 2 ? 0 : nostr__crypto_b64_value((unsigned char)s[i + 2]);
        int v3 = last && pad >= 1 ? 0 : nostr__crypto_b64_value((unsigned char)s[i + 3]);
        unsigned v;
        if ((v0 | v1 | v2 | v3) < 0) return NOSTR_ERR_BASE64;
        if (last && pad == 2 && (v1 & 15)) return NOSTR_ERR_BASE64;
        if (last && pad == 1 && (v2 & 3)) return NOSTR_ERR_BASE64;
        v = ((unsigned)v0 << 18) | ((unsigned)v1 << 12) | ((unsigned)v2 << 6) | (unsigned)v3;
        out[o++] = (unsigned char)(v >> 16);
        if (o < dlen) out[o++] = (unsigned char)(v >> 8);
        if (o < dlen) out[o++] = (unsigned char)v;
    }
    *out_len = dlen;
    return NOSTR_OK;
}

/* ---- shared helpers ---- */

static int nostr__crypto_ct_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
    unsigned char diff = 0;
    size_t i;
    for (i = 0; i < n; i++) diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* secp256k1_ecdh hash callback: NIP-04 and NIP-44 use the bare x
 * coordinate of the shared point, not libsecp256k1's default hash. */
static int nostr__crypto_ecdh_copy_x(unsigned char *output, const unsigned char *x32, const unsigned char *y32,
                                     void *data)
{
    (void)y32;
    (void)data;
    memcpy(output, x32, 32);
    return 1;
}

/* shared_x = x(sec * P), P the even-y point with x coordinate pub. */
static int nostr__crypto_shared_x(const nostr_ctx *ctx, const unsigned char sec[32], const unsigned char pub[32],
                                  unsigned char shared[32])
{
    const secp256k1_context *secp;
    secp256k1_pubkey point;
    unsigned char compressed[33];
    if (!ctx || !sec || !pub || !shared) return NOSTR_ERR_ARG;
    secp = nostr__ctx_secp(ctx);
    if (!secp256k1_ec_seckey_verify(secp, sec)) return NOSTR_ERR_SECKEY;
    compressed[0] = 0x02;
    memcpy(compressed + 1, pub, 32);
    if (!secp256k1_ec_pubkey_parse(secp, &point, compressed, sizeof compressed)) return NOSTR_ERR_PUBKEY;
    if (!secp256k1_ecdh(secp, shared, &point, sec, nostr__crypto_ecdh_copy_x, NULL)) {
        nostr_wipe(shared, 32);
        return NOSTR_ERR_CRYPTO;
    }
    return NOSTR_OK;
}

/* RFC 5869 HKDF-Expand with SHA-256, for info up to 32 bytes and
 * okm_len up to 255 * 32: T(i) = HMAC(prk, T(i-1) || info || i). */
static void nostr__crypto_hkdf_expand(const unsigned char prk[32], const unsigned char *info, size_t info_len,
                                      unsigned char *okm, size_t okm_len)
{
    unsigned char block[32 + 32 + 1];
    unsigned char t[32];
    size_t t_len = 0, done = 0;
    unsigned char counter = 1;
    while (done < okm_len) {
        size_t take = okm_len - done < 32 ? okm_len - done : 32;
        memcpy(block, t, t_len);
        memcpy(block + t_len, info, info_len);
        block[t_len + info_len] = counter++;
        nostr_hmac_sha256(prk, 32, block, t_len + info_len + 1, t);
        t_len = 32;
        memcpy(okm + done, t, take);
        done += take;
    }
    nostr_wipe(block, sizeof block);
    nostr_wipe(t, sizeof t);
}

/* ---- NIP-44 v2 ---- */

NOSTRDEF uint64_t nostr_nip44_calc_padded_len(uint64_t len)
{
    uint64_t next_power = 1, chunk;
    if (len == 0 || len > 0xffffffffu) return 0;
    if (len <= 32) return 32;
    while (next_power <= len - 1) next_power <<= 1; /* 1 << (floor(log2(len - 1)) + 1) */
    chunk = next_power <= 256 ? 32 : next_power / 8;
    return chunk * ((len - 1) / chunk + 1);
}

NOSTRDEF int nostr_nip44_conversation_key(const nostr_ctx *ctx, const unsigned char sec[32],
                                          const unsigned char pub[32], unsigned char ckey[32])
{
    static const unsigned char salt[8] = {'n', 'i', 'p', '4', '4', '-', 'v', '2'};
    unsigned char shared[32];
    int rc;
    if (!ckey) return NOSTR_ERR_ARG;
    rc = nostr__crypto_shared_x(ctx, sec, pub, shared);
    if (rc == NOSTR_OK) nostr_hmac_sha256(salt, sizeof salt, shared, sizeof shared, ckey); /* HKDF-Extract */
    nostr_wipe(shared, sizeof shared);
    return rc;
}

/* HKDF-Expand(conversation key, nonce, 76) = chacha key 32 || chacha
 * nonce 12 || hmac key 32. */
enum { NOSTR__NIP44_CHACHA_NONCE = 32, NOSTR__NIP44_HMAC_KEY = 44, NOSTR__NIP44_KEYS = 76 };

static void nostr__crypto_nip44_message_keys(const unsigned char ckey[32], const unsigned char nonce[32],
                                             unsigned char keys[NOSTR__NIP44_KEYS])
{
    nostr__crypto_hkdf_expand(ckey, nonce, 32, keys, NOSTR__NIP44_KEYS);
}

/* Seal raw = version || nonce || padded plaintext (already in place) ||
 * room for the mac: encrypt the padded part in place, append the mac over
 * nonce || ciphertext. */
static int nostr__crypto_nip44_seal(const unsigned char ckey[32], unsigned char *raw, size_t padded_len)
{
    unsigned char keys[NOSTR__NIP44_KEYS];
    unsigned char *ct = raw + 33;
    int rc = NOSTR_OK;
    nostr__crypto_nip44_message_keys(ckey, raw + 1, keys);
    if (mbedtls_chacha20_crypt(keys, keys + NOSTR__NIP44_CHACHA_NONCE, 0, padded_len, ct, ct) != 0)
        rc = NOSTR_ERR_CRYPTO;
    else
        nostr_hmac_sha256(keys + NOSTR__NIP44_HMAC_KEY, 32, raw + 1, 32 + padded_len, ct + padded_len);
    nostr_wipe(keys, sizeof keys);
    return rc;
}

NOSTRDEF int nostr_nip44_encrypt_nonce(const unsigned char ckey[32], const unsigned char nonce[32], const char *plain,
                                       size_t len, nostr_buf *out)
{
    size_t padded_len, raw_len, enc_len;
    unsigned char *raw;
    int rc;
    if (!ckey || !nonce || !out || (!plain && len) || len == 0) return NOSTR_ERR_ARG;
    if (len > NOSTR__NIP44_MAX_PLAIN) return NOSTR_ERR_TOO_LARGE;
    padded_len = 2 + (size_t)nostr_nip44_calc_padded_len(len);
    raw_len = NOSTR__NIP44_OVERHEAD + padded_len;
    enc_len = nostr__crypto_b64_encoded_len(raw_len);
    rc = nostr_buf_reserve(out, enc_len);
    if (rc) return rc;
    /* Build the raw payload at the end of the reserved space; the base64
     * encoder then runs forwards in place (see encode_into). */
    raw = (unsigned char *)out->data + out->len + (enc_len - raw_len);
    raw[0] = NOSTR__NIP44_VERSION;
    memcpy(raw + 1, nonce, 32);
    raw[33] = (unsigned char)(len >> 8);
    raw[34] = (unsigned char)len;
    memcpy(raw + 35, plain, len);
    memset(raw + 35 + len, 0, padded_len - 2 - len);
    rc = nostr__crypto_nip44_seal(ckey, raw, padded_len);
    if (rc) {
        nostr_wipe(raw, raw_len);
        out->data[out->len] = 0;
        return rc;
    }
    nostr__crypto_b64_encode_into(raw, raw_len, out->data + out->len);
    out->len += enc_len;
    out->data[out->len] = 0;
    return NOSTR_OK;
}

NOSTRDEF int nostr_nip44_encrypt(nostr_ctx *ctx, const unsigned char ckey[32], const char *plain, size_t len,
                                 nostr_buf *out)
{
    unsigned char nonce[32];
    int rc = nostr_random(ctx, nonce, sizeof nonce);
    if (rc == NOSTR_OK) rc = nostr_nip44_encrypt_nonce(ckey, nonce, plain, len, out);
    return rc;
}

/* Open a decoded payload in place: check size, version and mac, decrypt,
 * check the padding, and move the plaintext to raw[0..*plain_len). */
static int nostr__crypto_nip44_open(const unsigned char ckey[32], unsigned char *raw, size_t raw_len, size_t *plain_len)
{
    unsigned char keys[NOSTR__NIP44_KEYS];
    unsigned char mac[32];
    unsigned char *ct = raw + 33;
    size_t ct_len, unpadded;
    int rc = NOSTR_OK;
    if (raw_len < NOSTR__NIP44_MIN_RAW) return NOSTR_ERR_BASE64;
    if (raw_len > NOSTR__NIP44_MAX_RAW) return NOSTR_ERR_TOO_LARGE;
    if (raw[0] != NOSTR__NIP44_VERSION) return NOSTR_ERR_VERSION;
    ct_len = raw_len - NOSTR__NIP44_OVERHEAD;
    nostr__crypto_nip44_message_keys(ckey, raw + 1, keys);
    nostr_hmac_sha256(keys + NOSTR__NIP44_HMAC_KEY, 32, raw + 1, 32 + ct_len, mac);
    if (!nostr__crypto_ct_equal(mac, ct + ct_len, 32))
        rc = NOSTR_ERR_MAC;
    else if (mbedtls_chacha20_crypt(keys, keys + NOSTR__NIP44_CHACHA_NONCE, 0, ct_len, ct, ct) != 0)
        rc = NOSTR_ERR_CRYPTO;
    nostr_wipe(keys, sizeof keys);
    if (rc) return rc;
    /* Authenticated, so these checks leak nothing an attacker can use. A
     * zero u16 prefix is the extended (>= 64 KiB) form, over our limit. */
    unpadded = ((size_t)ct[0] << 8) | ct[1];
    if (unpadded == 0 || ct_len != 2 + nostr_nip44_calc_padded_len(unpadded)) return NOSTR_ERR_PADDING;
    memmove(raw, ct + 2, unpadded);
    *plain_len = unpadded;
    return NOSTR_OK;
}

NOSTRDEF int nostr_nip44_decrypt(const unsigned char ckey[32], const char *payload, size_t len, nostr_buf *out)
{
    size_t cap, raw_len = 0, plain_len = 0;
    unsigned char *raw;
    int rc;
    if (!ckey || !out || (!payload && len)) return NOSTR_ERR_ARG;
    /* '#' flags a future non-base64 encoding: an unknown version, not bad base64. */
    if (len > 0 && payload[0] == '#') return NOSTR_ERR_VERSION;
    if (len < NOSTR__NIP44_MIN_PAYLOAD) return NOSTR_ERR_BASE64;
    if (len > NOSTR__NIP44_MAX_PAYLOAD) return NOSTR_ERR_TOO_LARGE;
    cap = nostr__crypto_b64_decoded_max(len);
    rc = nostr_buf_reserve(out, cap);
    if (rc) return rc;
    raw = (unsigned char *)out->data + out->len;
    rc = nostr_base64_decode(payload, len, raw, cap, &raw_len);
    if (rc == NOSTR_OK) rc = nostr__crypto_nip44_open(ckey, raw, raw_len, &plain_len);
    if (rc) plain_len = 0;
    nostr_wipe(raw + plain_len, cap - plain_len);
    out->len += plain_len;
    out->data[out->len] = 0;
    return rc;
}

/* ---- NIP-04 ---- */

/* AES-256-CBC over whole blocks in place. Each block goes through a stack
 * copy so mbedTLS never sees overlapping input and output. */
static int nostr__crypto_aes_cbc(const unsigned char key[32], int encrypt, const unsigned char iv_in[16],
                                 unsigned char *data, size_t len)
{
    mbedtls_aes_context aes;
    unsigned char iv[16], block[16];
    size_t i;
    int rc = NOSTR_OK;
    mbedtls_aes_init(&aes);
    memcpy(iv, iv_in, 16);
    if ((encrypt ? mbedtls_aes_setkey_enc(&aes, key, 256) : mbedtls_aes_setkey_dec(&aes, key, 256)) != 0)
        rc = NOSTR_ERR_CRYPTO;
    for (i = 0; rc == NOSTR_OK && i < len; i += 16) {
        memcpy(block, data + i, 16);
        if (mbedtls_aes_crypt_cbc(&aes, encrypt ? MBEDTLS_AES_ENCRYPT : MBEDTLS_AES_DECRYPT, 16, iv, block, data + i) !=
            0)
            rc = NOSTR_ERR_CRYPTO;
    }
    mbedtls_aes_free(&aes);
    nostr_wipe(block, sizeof block);
    nostr_wipe(iv, sizeof iv);
    return rc;
}

NOSTRDEF int nostr_nip04_encrypt_iv(const nostr_ctx *ctx, const unsigned char sec[32], const unsigned char pub[32],
                                    const unsigned char iv[16], const char *plain, size_t len, nostr_buf *out)
{
    unsigned char key[32];
    size_t ct_len, enc_len, total;
    unsigned char *ct;
    char *dst;
    int rc;
    if (!iv || !out || (!plain && len)) return NOSTR_ERR_ARG;
    if (len > ((size_t)-1) / 4) return NOSTR_ERR_TOO_LARGE;
    ct_len = (len / 16 + 1) * 16; /* PKCS#7 always adds 1..16 bytes */
    enc_len = nostr__crypto_b64_encoded_len(ct_len);
    total = enc_len + 4 + 24;
    rc = nostr__crypto_shared_x(ctx, sec, pub, key);
    if (rc == NOSTR_OK) rc = nostr_buf_reserve(out, total);
    if (rc) {
        nostr_wipe(key, sizeof key);
        return rc;
    }
    /* As in NIP-44: cipher text at the end of its base64 span, then encode in place. */
    dst = out->data + out->len;
    ct = (unsigned char *)dst + (enc_len - ct_len);
    memcpy(ct, plain, len);
    memset(ct + len, (int)(ct_len - len), ct_len - len);
    rc = nostr__crypto_aes_cbc(key, 1, iv, ct, ct_len);
    nostr_wipe(key, sizeof key);
    if (rc) {
        nostr_wipe(ct, ct_len);
        out->data[out->len] = 0;
        return rc;
    }
    nostr__crypto_b64_encode_into(ct, ct_len, dst);
    memcpy(dst + enc_len, "?iv=", 4);
    nostr__crypto_b64_encode_into(iv, 16, dst + enc_len + 4);
    out->len += total;
    out->data[out->len] = 0;
    return NOSTR_OK;
}

NOSTRDEF int nostr_nip04_encrypt(nostr_ctx *ctx, const unsigned char sec[32], const unsigned char pub[32],
                                 const char *plain, size_t len, nostr_buf *out)
{
    unsigned char iv[16];
    int rc = nostr_random(ctx, iv, sizeof iv);
    if (rc == NOSTR_OK) rc = nostr_nip04_encrypt_iv(ctx, sec, pub, iv, plain, len, out);
    return rc;
}

/* Split "<base64 ct>?iv=<base64 iv>" and decode the 16-byte iv. */
static int nostr__crypto_nip04_split(const char *payload, size_t len, size_t *ct_chars, unsigned char iv[16])
{
    const char *q = payload ? (const char *)memchr(payload, '?', len) : NULL;
    size_t at, iv_len = 0;
    if (!q) return NOSTR_ERR_BASE64;
    at = (size_t)(q - payload);
    if (len - at < 4 || memcmp(q, "?iv=", 4) != 0) return NOSTR_ERR_BASE64;
    if (nostr_base64_decode(q + 4, len - at - 4, iv, 16, &iv_len) != NOSTR_OK || iv_len != 16) return NOSTR_ERR_BASE64;
    *ct_chars = at;
    return NOSTR_OK;
}

/* Length of the PKCS#7 padding at the end of data (len >= 16, a multiple
 * of 16), or 0 when it is malformed. Reads the whole last block whatever
 * the pad byte says. */
static size_t nostr__crypto_pkcs7_len(const unsigned char *data, size_t len)
{
    unsigned pad = data[len - 1], bad = 0, i;
    for (i = 1; i <= 16; i++) {
        unsigned in_pad = i <= pad;
        bad |= in_pad & (data[len - i] != pad);
    }
    bad |= pad == 0 || pad > 16;
    return bad ? 0 : pad;
}

NOSTRDEF int nostr_nip04_decrypt(const nostr_ctx *ctx, const unsigned char sec[32], const unsigned char pub[32],
                                 const char *payload, size_t len, nostr_buf *out)
{
    unsigned char iv[16], key[32];
    size_t ct_chars = 0, cap, ct_len = 0, plain_len = 0;
    unsigned char *ct;
    int rc;
    if (!out || (!payload && len)) return NOSTR_ERR_ARG;
    rc = nostr__crypto_nip04_split(payload, len, &ct_chars, iv);
    if (rc) return rc;
    cap = nostr__crypto_b64_decoded_max(ct_chars);
    rc = nostr__crypto_shared_x(ctx, sec, pub, key);
    if (rc == NOSTR_OK) rc = nostr_buf_reserve(out, cap);
    if (rc) {
        nostr_wipe(key, sizeof key);
        return rc;
    }
    ct = (unsigned char *)out->data + out->len;
    rc = nostr_base64_decode(payload, ct_chars, ct, cap, &ct_len);
    if (rc == NOSTR_OK && (ct_len == 0 || ct_len % 16 != 0)) rc = NOSTR_ERR_PADDING;
    if (rc == NOSTR_OK) rc = nostr__crypto_aes_cbc(key, 0, iv, ct, ct_len);
    nostr_wipe(key, sizeof key);
    if (rc == NOSTR_OK) {
        size_t pad = nostr__crypto_pkcs7_len(ct, ct_len);
        if (pad == 0)
            rc = NOSTR_ERR_PADDING;
        else
            plain_len = ct_len - pad;
    }
    nostr_wipe(ct + plain_len, cap - plain_len);
    out->len += plain_len;
    out->data[out->len] = 0;
    return rc;
}
