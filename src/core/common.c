/* ---- common: implementation ---- */

#ifndef NOSTR_MALLOC
#include <stdlib.h>
#define NOSTR_MALLOC(sz) malloc(sz)
#define NOSTR_REALLOC(p, sz) realloc(p, sz)
#define NOSTR_FREE(p) free(p)
#endif

NOSTRDEF const char *nostr_strerror(int code)
{
    switch (code) {
    case NOSTR_OK: return "ok";
    case NOSTR_ERR_NOMEM: return "out of memory";
    case NOSTR_ERR_ARG: return "invalid argument";
    case NOSTR_ERR_BUFFER: return "buffer too small";
    case NOSTR_ERR_JSON: return "malformed JSON";
    case NOSTR_ERR_UTF8: return "invalid UTF-8";
    case NOSTR_ERR_DEPTH: return "JSON nested too deeply";
    case NOSTR_ERR_TOO_LARGE: return "input over a size limit";
    case NOSTR_ERR_FIELD: return "missing, duplicate or wrongly typed field";
    case NOSTR_ERR_HEX: return "bad hex string";
    case NOSTR_ERR_ID: return "event id does not match its content";
    case NOSTR_ERR_SIG: return "bad signature";
    case NOSTR_ERR_PUBKEY: return "invalid public key";
    case NOSTR_ERR_SECKEY: return "invalid secret key";
    case NOSTR_ERR_KIND: return "kind out of range";
    case NOSTR_ERR_CREATED_AT: return "created_at out of range";
    case NOSTR_ERR_BECH32: return "bad bech32 string";
    case NOSTR_ERR_PREFIX: return "unexpected bech32 prefix";
    case NOSTR_ERR_TLV: return "malformed TLV";
    case NOSTR_ERR_MESSAGE: return "unknown or malformed message";
    case NOSTR_ERR_FILTER: return "malformed filter";
    case NOSTR_ERR_CRYPTO: return "cryptographic backend failure";
    case NOSTR_ERR_RNG: return "random number generator failure";
    case NOSTR_ERR_MAC: return "authentication tag mismatch";
    case NOSTR_ERR_PADDING: return "bad padding";
    case NOSTR_ERR_VERSION: return "unknown encryption version";
    case NOSTR_ERR_BASE64: return "bad base64";
    case NOSTR_ERR_POW: return "proof of work not met";
    case NOSTR_ERR_UNSUPPORTED: return "not supported in this build";
    case NOSTR_ERR_HTTP: return "malformed HTTP message";
    case NOSTR_ERR_WS: return "WebSocket protocol error";
    case NOSTR_ERR_TLS: return "TLS failure";
    case NOSTR_ERR_CLOSED: return "connection closed";
    case NOSTR_ERR_TIMEOUT: return "timed out";
    case NOSTR_ERR_NET: return "network error";
    case NOSTR_ERR_BUSY: return "busy: one already in progress";
    default: return "unknown error";
    }
}

/* Fill an error report when the caller asked for one; returns code so
 * callers can write `return nostr__fail(err, CODE, off, "msg");`. */
#if defined(__GNUC__)
__attribute__((unused))
#endif
static int
nostr__fail(nostr_error *err, int code, size_t offset, const char *msg)
{
    if (err) {
        err->code = code;
        err->offset = offset;
        err->msg = msg;
    }
    return code;
}

NOSTRDEF void *nostr_alloc(const nostr_allocator *al, size_t size)
{
    if (al && al->alloc) return al->alloc(al->user, size);
    return NOSTR_MALLOC(size);
}

NOSTRDEF void *nostr_realloc(const nostr_allocator *al, void *ptr, size_t size)
{
    if (al && al->realloc) return al->realloc(al->user, ptr, size);
    return NOSTR_REALLOC(ptr, size);
}

NOSTRDEF void nostr_free(const nostr_allocator *al, void *ptr)
{
    if (!ptr) return;
    if (al && al->free) {
        al->free(al->user, ptr);
        return;
    }
    NOSTR_FREE(ptr);
}

/* ---- arena ---- */

struct nostr_arena_block {
    nostr_arena_block *next;
    size_t cap;
    /* memory follows, 16-byte aligned by the header's size */
    size_t pad_;
};

#define NOSTR__ARENA_MIN_BLOCK 4096

NOSTRDEF void nostr_arena_init(nostr_arena *a, void *buf, size_t cap, const nostr_allocator *al)
{
    a->base = a->first = (unsigned char *)buf;
    a->cap = a->first_cap = buf ? cap : 0;
    a->used = 0;
    a->blocks = NULL;
    a->al = al;
    a->fixed = 0;
    a->heap_blocks = 0;
}

NOSTRDEF void nostr_arena_init_fixed(nostr_arena *a, void *buf, size_t cap)
{
    nostr_arena_init(a, buf, cap, NULL);
    a->fixed = 1;
}

NOSTRDEF void *nostr_arena_alloc(nostr_arena *a, size_t size)
{
    size_t start = (a->used + 7u) & ~(size_t)7u;
    if (a->base && start <= a->cap && size <= a->cap - start) {
        a->used = start + size;
        return a->base + start;
    }
    if (a->fixed) return NULL;
    {
        size_t want = size > NOSTR__ARENA_MIN_BLOCK ? size : NOSTR__ARENA_MIN_BLOCK;
        size_t prev = a->blocks ? a->blocks->cap : a->first_cap;
        nostr_arena_block *blk;
        if (want < prev * 2 && prev * 2 < ((size_t)1 << 30)) want = prev * 2;
        if (want > (size_t)-1 - sizeof(nostr_arena_block)) return NULL;
        blk = (nostr_arena_block *)nostr_alloc(a->al, sizeof(nostr_arena_block) + want);
        if (!blk) return NULL;
        blk->next = a->blocks;
        blk->cap = want;
        a->blocks = blk;
        a->heap_blocks++;
        a->base = (unsigned char *)(blk + 1);
        a->cap = want;
        a->used = size;
        return a->base;
    }
}

NOSTRDEF char *nostr_arena_strdup(nostr_arena *a, const char *s, size_t len)
{
    char *p;
    if (len == (size_t)-1) return NULL;
    p = (char *)nostr_arena_alloc(a, len + 1);
    if (!p) return NULL;
    if (len) memcpy(p, s, len);
    p[len] = 0;
    return p;
}

NOSTRDEF void nostr_arena_reset(nostr_arena *a)
{
    nostr_arena_block *b = a->blocks;
    while (b) {
        nostr_arena_block *next = b->next;
        nostr_free(a->al, b);
        b = next;
    }
    a->blocks = NULL;
    a->base = a->first;
    a->cap = a->first_cap;
    a->used = 0;
}

NOSTRDEF void nostr_arena_free(nostr_arena *a)
{
    nostr_arena_reset(a);
}

/* ---- growable buffer ---- */

NOSTRDEF void nostr_buf_init(nostr_buf *b, const nostr_allocator *al)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->al = al;
    b->fixed = 0;
}

NOSTRDEF void nostr_buf_init_fixed(nostr_buf *b, void *mem, size_t cap)
{
    b->data = (char *)mem;
    b->len = 0;
    b->cap = cap;
    b->al = NULL;
    b->fixed = 1;
    if (cap) b->data[0] = 0;
}

/* Make room for `extra` more bytes plus the terminating NUL. */
NOSTRDEF int nostr_buf_reserve(nostr_buf *b, size_t extra)
{
    size_t need, ncap;
    char *nd;
    if (extra > (size_t)-1 - b->len - 1) return NOSTR_ERR_NOMEM;
    need = b->len + extra + 1;
    if (need <= b->cap) return NOSTR_OK;
    if (b->fixed) return NOSTR_ERR_BUFFER;
    ncap = b->cap ? b->cap : 256;
    while (ncap < need) ncap = ncap > ((size_t)-1) / 2 ? need : ncap * 2;
    nd = (char *)nostr_realloc(b->al, b->data, ncap);
    if (!nd) return NOSTR_ERR_NOMEM;
    b->data = nd;
    b->cap = ncap;
    return NOSTR_OK;
}

NOSTRDEF int nostr_buf_append(nostr_buf *b, const void *p, size_t n)
{
    int rc = nostr_buf_reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return NOSTR_OK;
}

NOSTRDEF int nostr_buf_append_str(nostr_buf *b, const char *s)
{
    return nostr_buf_append(b, s, strlen(s));
}

NOSTRDEF int nostr_buf_append_char(nostr_buf *b, char c)
{
    if (b->len + 2 > b->cap) {
        int rc = nostr_buf_reserve(b, 1);
        if (rc) return rc;
    }
    b->data[b->len++] = c;
    b->data[b->len] = 0;
    return NOSTR_OK;
}

NOSTRDEF int nostr_buf_append_u64(nostr_buf *b, unsigned long long v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return nostr_buf_append(b, tmp + i, sizeof tmp - i);
}

NOSTRDEF int nostr_buf_append_i64(nostr_buf *b, long long v)
{
    if (v < 0) {
        int rc = nostr_buf_append_char(b, '-');
        if (rc) return rc;
        return nostr_buf_append_u64(b, (unsigned long long)0 - (unsigned long long)v);
    }
    return nostr_buf_append_u64(b, (unsigned long long)v);
}

NOSTRDEF int nostr_buf_append_hex(nostr_buf *b, const unsigned char *bytes, size_t n)
{
    int rc;
    if (n > ((size_t)-1) / 2 - 1) return NOSTR_ERR_NOMEM;
    rc = nostr_buf_reserve(b, 2 * n);
    if (rc) return rc;
    nostr_hex_encode(bytes, n, b->data + b->len);
    b->len += 2 * n;
    return NOSTR_OK;
}

NOSTRDEF void nostr_buf_clear(nostr_buf *b)
{
    b->len = 0;
    if (b->cap) b->data[0] = 0;
}

NOSTRDEF void nostr_buf_free(nostr_buf *b)
{
    if (!b->fixed) nostr_free(b->al, b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- hex ---- */

NOSTRDEF void nostr_hex_encode(const unsigned char *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = 0;
}

/* Value of a hex digit, or -1. Uppercase only when `any_case`. */
static int nostr__hexval(unsigned char c, int any_case)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (any_case && c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode 2n lowercase hex digits at s into out, eight at a time without
 * branches (a digit-at-a-time decoder mispredicts on every random id and
 * cost more than half of the whole parse). Returns 0 when any character
 * is not lowercase hex; out is then garbage. */
static int nostr__hex_decode_lower(const char *s, unsigned char *out, size_t n)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull, lanes = 0x00ff00ff00ff00ffull;
    const unsigned char *p = (const unsigned char *)s;
    uint64_t bad = 0;
    size_t i;
    for (i = 0; i + 4 <= n; i += 4, p += 8) {
        uint64_t v = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
                     (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
        /* Per byte (all below 0x80): high bit of x + (0x80 - lo) is x >= lo,
         * high bit of x + (0x7f - hi) is x > hi; no carries cross bytes. */
        uint64_t digit = (v + ones * (0x80 - '0')) & ~(v + ones * (0x7f - '9'));
        uint64_t lower = (v + ones * (0x80 - 'a')) & ~(v + ones * (0x7f - 'f'));
        /* '0'-'9' are 0x30-0x39 and 'a'-'f' 0x61-0x66: the low nibble,
         * plus 9 when bit 6 is set. */
        uint64_t val = (v & ones * 0x0f) + ((v >> 6) & ones) * 9;
        uint64_t pairs = ((val & lanes) << 4) | ((val >> 8) & lanes);
        bad |= (v & highs) | (((digit | lower) & highs) ^ highs);
        out[i] = (unsigned char)pairs;
        out[i + 1] = (unsigned char)(pairs >> 16);
        out[i + 2] = (unsigned char)(pairs >> 32);
        out[i + 3] = (unsigned char)(pairs >> 48);
    }
    for (; i < n; i++, p += 2) {
        int hi = nostr__hexval(p[0], 0), lo = nostr__hexval(p[1], 0);
        if ((hi | lo) < 0) return 0;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return bad == 0;
}

static int nostr__hex_decode(const char *hex, size_t hexlen, unsigned char *out, size_t n, int any_case)
{
    size_t i;
    if (hexlen != 2 * n) return NOSTR_ERR_HEX;
    if (!any_case) return nostr__hex_decode_lower(hex, out, n) ? NOSTR_OK : NOSTR_ERR_HEX;
    for (i = 0; i < n; i++) {
        int hi = nostr__hexval((unsigned char)hex[2 * i], any_case);
        int lo = nostr__hexval((unsigned char)hex[2 * i + 1], any_case);
        if ((hi | lo) < 0) return NOSTR_ERR_HEX;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return NOSTR_OK;
}

NOSTRDEF int nostr_hex_decode(const char *hex, size_t hexlen, unsigned char *out, size_t n)
{
    return nostr__hex_decode(hex, hexlen, out, n, 0);
}

NOSTRDEF int nostr_hex_decode_any_case(const char *hex, size_t hexlen, unsigned char *out, size_t n)
{
    return nostr__hex_decode(hex, hexlen, out, n, 1);
}

NOSTRDEF void nostr_wipe(void *p, size_t n)
{
    volatile unsigned char *v = (volatile unsigned char *)p;
    while (n--) *v++ = 0;
}
