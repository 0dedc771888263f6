/* SHA-256 (FIPS 180-4 examples), streaming in odd chunks, the SHA-NI
 * path against the portable one, and HMAC-SHA256 (RFC 4231). */
#include "test.h"
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

static void hex32(const unsigned char d[32], char out[65])
{
    nostr_hex_encode(d, 32, out);
}

static void check_digest(const void *msg, size_t len, const char *want)
{
    unsigned char d[32];
    char h[65];
    nostr_sha256(msg, len, d);
    hex32(d, h);
    CHECK_STR(h, want);
    nostr_sha256_portable(msg, len, d);
    hex32(d, h);
    CHECK_STR(h, want);
}

static void test_fips_vectors(void)
{
    static const char v448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    static const char v896[] = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                               "mnopqrstnopqrstu";
    char *million = (char *)malloc(1000000);
    check_digest("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_digest("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check_digest(v448, sizeof v448 - 1, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    check_digest(v896, sizeof v896 - 1, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    CHECK(million != NULL);
    if (!million) return;
    memset(million, 'a', 1000000);
    check_digest(million, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(million);
}

/* A fixed pattern whose digest was computed with Python's hashlib. */
static unsigned char *pattern(size_t n)
{
    unsigned char *p = (unsigned char *)malloc(n ? n : 1);
    size_t i;
    for (i = 0; p && i < n; i++) p[i] = (unsigned char)((i * 131 + 7) & 255);
    return p;
}

static void test_streaming(void)
{
    static const size_t chunks[] = {1, 3, 7, 55, 56, 63, 64, 65, 127, 1000, 4099};
    const char *want = "5e36f5cea4f178344affaa2b166010422f54e15171b43f374816075d477ee60e";
    size_t n = 100000, c;
    unsigned char *data = pattern(n), d[32];
    char h[65];
    CHECK(data != NULL);
    if (!data) return;
    for (c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        nostr_sha256_ctx s;
        size_t off = 0, step = chunks[c];
        nostr_sha256_init(&s);
        while (off < n) {
            size_t take = n - off < step ? n - off : step;
            nostr_sha256_update(&s, data + off, take);
            off += take;
            step = step * 7 % 97 + 1; /* vary the chunk size as we go */
        }
        nostr_sha256_final(&s, d);
        hex32(d, h);
        CHECK_STR(h, want);
    }
    /* Zero-length updates change nothing. */
    {
        nostr_sha256_ctx s;
        nostr_sha256_init(&s);
        nostr_sha256_update(&s, "a", 0);
        nostr_sha256_update(&s, "abc", 3);
        nostr_sha256_update(&s, NULL, 0);
        nostr_sha256_final(&s, d);
        hex32(d, h);
        CHECK_STR(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
    free(data);
}

/* Every length around the padding and block boundaries, and at odd
 * alignments: the accelerated path must equal the portable one. */
static void test_paths_agree(void)
{
    size_t n = 1200, len, off;
    unsigned char *data = pattern(n + 8), a[32], b[32];
    int mismatches = 0;
    CHECK(data != NULL);
    if (!data) return;
    for (off = 0; off < 8; off += 3)
        for (len = 0; len <= n; len++) {
            nostr_sha256(data + off, len, a);
            nostr_sha256_portable(data + off, len, b);
            if (memcmp(a, b, 32) != 0) mismatches++;
        }
    CHECK_EQ(mismatches, 0);
    free(data);
#if defined(__x86_64__) || defined(__i386__)
    {
        unsigned eax, ebx, ecx, edx;
        int sha = __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (ebx >> 29 & 1);
        printf("CPU has SHA-NI: %s\n", sha ? "yes" : "no");
    }
#endif
}

static void check_hmac(const unsigned char *key, size_t klen, const void *msg, size_t mlen, const char *want)
{
    unsigned char d[32];
    char h[65];
    nostr_hmac_sha256(key, klen, (const unsigned char *)msg, mlen, d);
    hex32(d, h);
    CHECK(strncmp(h, want, strlen(want)) == 0);
}

static void test_hmac_rfc4231(void)
{
    unsigned char k[131], m[50];
    size_t i;
    memset(k, 0x0b, 20);
    check_hmac(k, 20, "Hi There", 8, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    check_hmac((const unsigned char *)"Jefe", 4, "what do ya want for nothing?", 28,
               "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(k, 0xaa, 20);
    memset(m, 0xdd, 50);
    check_hmac(k, 20, m, 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    for (i = 0; i < 25; i++) k[i] = (unsigned char)(i + 1);
    memset(m, 0xcd, 50);
    check_hmac(k, 25, m, 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    memset(k, 0x0c, 20);
    check_hmac(k, 20, "Test With Truncation", 20, "a3b6167473100ee06e0c796c2955552b"); /* truncated to 128 bits */
    memset(k, 0xaa, 131);
    check_hmac(k, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 54,
               "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    {
        const char *msg = "This is a test using a larger than block-size key and a larger than block-size data. The key "
                          "needs to be hashed before being used by the HMAC algorithm.";
        check_hmac(k, 131, msg, strlen(msg), "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
    }
}

int main(void)
{
    TEST_RUN(test_fips_vectors);
    TEST_RUN(test_streaming);
    TEST_RUN(test_paths_agree);
    TEST_RUN(test_hmac_rfc4231);
    return TEST_DONE();
}
