/* Fuzz NIP-44 decryption with a fixed conversation key, NIP-04
 * decryption with fixed keys, and base64 decoding. The first byte picks
 * the target; the rest is the input. Properties checked besides "never
 * crashes": base64 decode then encode gives back the input (one accepted
 * encoding per byte string), a decrypted plaintext re-encrypts to a
 * payload that decrypts to it again, and failures leave the buffer as it
 * was. */
#define NOSTR_NO_BLOCKING
#define NOSTR_IMPLEMENTATION
#include "nostr.h"

#include <stdlib.h>
#include <string.h>

/* The conversation key of the NIP-44 vector sec1 = 1, sec2 = 2. */
static const unsigned char ckey[32] = {0xc4, 0x1c, 0x77, 0x53, 0x56, 0xfd, 0x92, 0xea, 0xdc, 0x63, 0xff,
                                       0x5a, 0x0d, 0xc1, 0xda, 0x21, 0x1b, 0x26, 0x8c, 0xbe, 0xa2, 0x23,
                                       0x16, 0x76, 0x70, 0x95, 0xb2, 0x87, 0x1e, 0xa1, 0x41, 0x2d};

static void check(int cond)
{
    if (!cond) abort();
}

static void fuzz_nip44(const char *s, size_t len)
{
    nostr_buf out, again, back;
    unsigned char nonce[32] = {1};
    int rc;
    nostr_buf_init(&out, NULL);
    rc = nostr_nip44_decrypt(ckey, s, len, &out);
    if (rc == NOSTR_OK) {
        check(out.len >= 1 && out.len <= 65535);
        nostr_buf_init(&again, NULL);
        nostr_buf_init(&back, NULL);
        check(nostr_nip44_encrypt_nonce(ckey, nonce, out.data, out.len, &again) == NOSTR_OK);
        check(nostr_nip44_decrypt(ckey, again.data, again.len, &back) == NOSTR_OK);
        check(back.len == out.len && memcmp(back.data, out.data, out.len) == 0);
        nostr_buf_free(&again);
        nostr_buf_free(&back);
    } else {
        check(out.len == 0);
    }
    nostr_buf_free(&out);
}

static void fuzz_nip04(const char *s, size_t len)
{
    static nostr_ctx *ctx;
    /* secret key 1, public key G: shared x = x(G) */
    static const unsigned char sec[32] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                          0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const unsigned char pub[32] = {0x79, 0xbe, 0x66, 0x7e, 0xf9, 0xdc, 0xbb, 0xac, 0x55, 0xa0, 0x62,
                                          0x95, 0xce, 0x87, 0x0b, 0x07, 0x02, 0x9b, 0xfc, 0xdb, 0x2d, 0xce,
                                          0x28, 0xd9, 0x59, 0xf2, 0x81, 0x5b, 0x16, 0xf8, 0x17, 0x98};
    nostr_buf out;
    int rc;
    if (!ctx) ctx = nostr_ctx_new(NULL); /* kept for the whole run */
    check(ctx != NULL);
    nostr_buf_init(&out, NULL);
    rc = nostr_nip04_decrypt(ctx, sec, pub, s, len, &out);
    if (rc != NOSTR_OK) check(out.len == 0);
    nostr_buf_free(&out);
}

static void fuzz_base64(const char *s, size_t len)
{
    unsigned char *dec = (unsigned char *)malloc(len / 4 * 3 + 1);
    size_t n = 0;
    nostr_buf enc;
    if (!dec) return;
    if (nostr_base64_decode(s, len, dec, len / 4 * 3, &n) == NOSTR_OK) {
        nostr_buf_init(&enc, NULL);
        check(nostr_base64_encode(dec, n, &enc) == NOSTR_OK);
        check(enc.len == len && memcmp(enc.data, s, len) == 0);
        nostr_buf_free(&enc);
    }
    free(dec);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    const char *s = (const char *)data + 1;
    if (size == 0) return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_nip44(s, size - 1);
        break;
    case 1:
        fuzz_nip04(s, size - 1);
        break;
    default:
        fuzz_base64(s, size - 1);
        break;
    }
    return 0;
}
