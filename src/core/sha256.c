/* ---- sha256: implementation ----
 *
 * Two block functions: portable C, and the x86 SHA extensions (SHA-NI).
 * Which one runs is decided per update from the CPU's feature bits,
 * without any state of our own:
 *   - built with -msha (or -march=native on such a CPU): SHA-NI always;
 *   - gcc >= 11 or clang >= 19: __builtin_cpu_supports("sha"), a load
 *     from the C runtime's feature table (filled once at program start);
 *   - anything else: portable C.
 * Executing CPUID ourselves on each call was rejected: under a
 * hypervisor or sandbox it traps (13 us measured on the development
 * machine, more than hashing a whole event), and caching its answer
 * would be global mutable state. */

static const uint32_t nostr__sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define NOSTR__SHA256_ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static uint32_t nostr__sha256_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void nostr__sha256_put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void nostr__sha256_blocks_c(uint32_t h[8], const unsigned char *p, size_t nblocks)
{
    uint32_t w[64];
    while (nblocks--) {
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
        int i;
        for (i = 0; i < 16; i++) w[i] = nostr__sha256_be32(p + 4 * i);
        for (i = 16; i < 64; i++) {
            uint32_t s0 = NOSTR__SHA256_ROTR(w[i - 15], 7) ^ NOSTR__SHA256_ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
            uint32_t s1 = NOSTR__SHA256_ROTR(w[i - 2], 17) ^ NOSTR__SHA256_ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        for (i = 0; i < 64; i++) {
            uint32_t S1 = NOSTR__SHA256_ROTR(e, 6) ^ NOSTR__SHA256_ROTR(e, 11) ^ NOSTR__SHA256_ROTR(e, 25);
            uint32_t ch = (e & f) ^ (~e & g);
            uint32_t t1 = hh + S1 + ch + nostr__sha256_k[i] + w[i];
            uint32_t S0 = NOSTR__SHA256_ROTR(a, 2) ^ NOSTR__SHA256_ROTR(a, 13) ^ NOSTR__SHA256_ROTR(a, 22);
            uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
            uint32_t t2 = S0 + maj;
            hh = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
        h[4] += e;
        h[5] += f;
        h[6] += g;
        h[7] += hh;
        p += 64;
    }
}

/* SHA-NI needs GNU-style target attributes and the intrinsics headers
 * (included by impl_includes.c on x86). */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define NOSTR__SHA256_HAVE_NI 1
#if defined(__SHA__) && defined(__SSE4_1__) && defined(__SSSE3__)
#define NOSTR__SHA256_NI_DETECT() 1
#elif (defined(__clang__) && __clang_major__ >= 19) || (!defined(__clang__) && __GNUC__ >= 11)
#define NOSTR__SHA256_NI_DETECT()                                                                                      \
    (__builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("ssse3"))
#else
#define NOSTR__SHA256_NI_DETECT() 0
#endif
#else
#define NOSTR__SHA256_HAVE_NI 0
#endif

#if NOSTR__SHA256_HAVE_NI
/* Four rounds: add the round constants to the message words, then two
 * sha256rnds2 (each does two rounds on the high and low halves). */
#define NOSTR__SHA256_NI_ROUNDS(msg, i)                                                                                \
    do {                                                                                                               \
        __m128i m_ = _mm_add_epi32((msg), _mm_loadu_si128((const __m128i *)(nostr__sha256_k + 4 * (i))));              \
        st1 = _mm_sha256rnds2_epu32(st1, st0, m_);                                                                     \
        st0 = _mm_sha256rnds2_epu32(st0, st1, _mm_shuffle_epi32(m_, 0x0E));                                            \
    } while (0)

/* Next four schedule words from the previous sixteen (w0 oldest). */
#define NOSTR__SHA256_NI_SCHEDULE(w0, w1, w2, w3)                                                                      \
    _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32((w0), (w1)), _mm_alignr_epi8((w3), (w2), 4)), (w3))

__attribute__((target("sha,sse4.1,ssse3"))) static void nostr__sha256_blocks_ni(uint32_t h[8], const unsigned char *p,
                                                                                size_t nblocks)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i st0, st1, tmp;
    /* h[0..7] = ABCDEFGH; the instructions want ABEF and CDGH. */
    tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)h), 0xB1);
    st1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(h + 4)), 0x1B);
    st0 = _mm_alignr_epi8(tmp, st1, 8);
    st1 = _mm_blend_epi16(st1, tmp, 0xF0);
    while (nblocks--) {
        __m128i save0 = st0, save1 = st1, w0, w1, w2, w3;
        int i;
        w0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)p), bswap);
        w1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), bswap);
        w2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), bswap);
        w3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), bswap);
        NOSTR__SHA256_NI_ROUNDS(w0, 0);
        NOSTR__SHA256_NI_ROUNDS(w1, 1);
        NOSTR__SHA256_NI_ROUNDS(w2, 2);
        NOSTR__SHA256_NI_ROUNDS(w3, 3);
        for (i = 4; i < 16; i += 4) {
            w0 = NOSTR__SHA256_NI_SCHEDULE(w0, w1, w2, w3);
            NOSTR__SHA256_NI_ROUNDS(w0, i);
            w1 = NOSTR__SHA256_NI_SCHEDULE(w1, w2, w3, w0);
            NOSTR__SHA256_NI_ROUNDS(w1, i + 1);
            w2 = NOSTR__SHA256_NI_SCHEDULE(w2, w3, w0, w1);
            NOSTR__SHA256_NI_ROUNDS(w2, i + 2);
            w3 = NOSTR__SHA256_NI_SCHEDULE(w3, w0, w1, w2);
            NOSTR__SHA256_NI_ROUNDS(w3, i + 3);
        }
        st0 = _mm_add_epi32(st0, save0);
        st1 = _mm_add_epi32(st1, save1);
        p += 64;
    }
    /* Back from ABEF/CDGH to ABCD and EFGH. */
    tmp = _mm_shuffle_epi32(st0, 0x1B);
    st1 = _mm_shuffle_epi32(st1, 0xB1);
    _mm_storeu_si128((__m128i *)h, _mm_blend_epi16(tmp, st1, 0xF0));
    _mm_storeu_si128((__m128i *)(h + 4), _mm_alignr_epi8(st1, tmp, 8));
}
#undef NOSTR__SHA256_NI_ROUNDS
#undef NOSTR__SHA256_NI_SCHEDULE
#endif

static void nostr__sha256_blocks(uint32_t h[8], const unsigned char *p, size_t nblocks, int accel)
{
#if NOSTR__SHA256_HAVE_NI
    if (accel && NOSTR__SHA256_NI_DETECT()) {
        nostr__sha256_blocks_ni(h, p, nblocks);
        return;
    }
#else
    (void)accel;
#endif
    nostr__sha256_blocks_c(h, p, nblocks);
}

NOSTRDEF void nostr_sha256_init(nostr_sha256_ctx *s)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof iv);
    s->total = 0;
    s->fill = 0;
}

static void nostr__sha256_update(nostr_sha256_ctx *s, const unsigned char *p, size_t len, int accel)
{
    if (!len) return; /* p may be NULL */
    s->total += len;
    if (s->fill) {
        size_t take = 64 - s->fill < len ? 64 - s->fill : len;
        memcpy(s->block + s->fill, p, take);
        s->fill += take;
        p += take;
        len -= take;
        if (s->fill < 64) return;
        nostr__sha256_blocks(s->h, s->block, 1, accel);
        s->fill = 0;
    }
    if (len >= 64) {
        nostr__sha256_blocks(s->h, p, len / 64, accel);
        p += len & ~(size_t)63;
        len &= 63;
    }
    if (len) {
        memcpy(s->block, p, len);
        s->fill = len;
    }
}

static void nostr__sha256_final(nostr_sha256_ctx *s, unsigned char out[32], int accel)
{
    uint64_t bits = s->total * 8;
    int i;
    s->block[s->fill++] = 0x80;
    if (s->fill > 56) {
        memset(s->block + s->fill, 0, 64 - s->fill);
        nostr__sha256_blocks(s->h, s->block, 1, accel);
        s->fill = 0;
    }
    memset(s->block + s->fill, 0, 56 - s->fill);
    nostr__sha256_put_be32(s->block + 56, (uint32_t)(bits >> 32));
    nostr__sha256_put_be32(s->block + 60, (uint32_t)bits);
    nostr__sha256_blocks(s->h, s->block, 1, accel);
    for (i = 0; i < 8; i++) nostr__sha256_put_be32(out + 4 * i, s->h[i]);
    s->fill = 0;
}

NOSTRDEF void nostr_sha256_update(nostr_sha256_ctx *s, const void *data, size_t len)
{
    nostr__sha256_update(s, (const unsigned char *)data, len, 1);
}

NOSTRDEF void nostr_sha256_final(nostr_sha256_ctx *s, unsigned char out[32])
{
    nostr__sha256_final(s, out, 1);
}

NOSTRDEF void nostr_sha256(const void *data, size_t len, unsigned char out[32])
{
    nostr_sha256_ctx s;
    nostr_sha256_init(&s);
    nostr__sha256_update(&s, (const unsigned char *)data, len, 1);
    nostr__sha256_final(&s, out, 1);
}

NOSTRDEF void nostr_sha256_portable(const void *data, size_t len, unsigned char out[32])
{
    nostr_sha256_ctx s;
    nostr_sha256_init(&s);
    nostr__sha256_update(&s, (const unsigned char *)data, len, 0);
    nostr__sha256_final(&s, out, 0);
}

/* RFC 2104 with a 64-byte block: keys longer than a block are hashed. */
NOSTRDEF void nostr_hmac_sha256(const unsigned char *key, size_t keylen, const unsigned char *msg, size_t msglen,
                                unsigned char out[32])
{
    unsigned char pad[64], inner[32];
    nostr_sha256_ctx s;
    size_t i;
    memset(pad, 0, sizeof pad);
    if (keylen > 64)
        nostr_sha256(key, keylen, pad);
    else if (keylen)
        memcpy(pad, key, keylen);
    for (i = 0; i < 64; i++) pad[i] ^= 0x36;
    nostr_sha256_init(&s);
    nostr_sha256_update(&s, pad, 64);
    nostr_sha256_update(&s, msg, msglen);
    nostr_sha256_final(&s, inner);
    for (i = 0; i < 64; i++) pad[i] ^= 0x36 ^ 0x5c;
    nostr_sha256_init(&s);
    nostr_sha256_update(&s, pad, 64);
    nostr_sha256_update(&s, inner, 32);
    nostr_sha256_final(&s, out);
    nostr_wipe(pad, sizeof pad);
    nostr_wipe(inner, sizeof inner);
    nostr_wipe(&s, sizeof s);
}
