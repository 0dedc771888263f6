/* ---- common: linkage, errors, allocator, arena, growable buffer, hex ---- */

#ifndef NOSTRDEF
#ifdef NOSTR_STATIC
#if defined(__GNUC__) || defined(__clang__)
#define NOSTRDEF static __attribute__((unused))
#else
#define NOSTRDEF static
#endif
#else
#define NOSTRDEF extern
#endif
#endif

/* Error codes. NOSTR_OK is 0, every error is negative; nostr_strerror()
 * names each one. Functions that parse also fill a nostr_error (when the
 * caller passes one) with a static message and the byte offset. */
enum {
    NOSTR_OK = 0,
    NOSTR_ERR_NOMEM = -1,        /* allocation failed or fixed arena full */
    NOSTR_ERR_ARG = -2,          /* invalid argument */
    NOSTR_ERR_BUFFER = -3,       /* caller's fixed buffer too small */
    NOSTR_ERR_JSON = -4,         /* malformed JSON */
    NOSTR_ERR_UTF8 = -5,         /* invalid UTF-8 or lone surrogate */
    NOSTR_ERR_DEPTH = -6,        /* nesting deeper than the limit */
    NOSTR_ERR_TOO_LARGE = -7,    /* input, string, array or number over a limit */
    NOSTR_ERR_FIELD = -8,        /* missing, duplicate or wrongly typed field */
    NOSTR_ERR_HEX = -9,          /* not lowercase hex of the right length */
    NOSTR_ERR_ID = -10,          /* id is not SHA-256 of the canonical form */
    NOSTR_ERR_SIG = -11,         /* BIP-340 signature does not verify */
    NOSTR_ERR_PUBKEY = -12,      /* not a valid x-only public key */
    NOSTR_ERR_SECKEY = -13,      /* not a valid secret key */
    NOSTR_ERR_KIND = -14,        /* kind out of range */
    NOSTR_ERR_CREATED_AT = -15,  /* created_at out of range */
    NOSTR_ERR_BECH32 = -16,      /* bad bech32 character, case or checksum */
    NOSTR_ERR_PREFIX = -17,      /* unexpected bech32 human-readable prefix */
    NOSTR_ERR_TLV = -18,         /* malformed or missing NIP-19 TLV */
    NOSTR_ERR_MESSAGE = -19,     /* unknown or malformed NIP-01 message */
    NOSTR_ERR_FILTER = -20,      /* malformed filter */
    NOSTR_ERR_CRYPTO = -21,      /* cryptographic backend failure */
    NOSTR_ERR_RNG = -22,         /* random number generator failure */
    NOSTR_ERR_MAC = -23,         /* authentication tag mismatch */
    NOSTR_ERR_PADDING = -24,     /* bad padding or length prefix */
    NOSTR_ERR_VERSION = -25,     /* unknown encryption version */
    NOSTR_ERR_BASE64 = -26,      /* malformed base64 */
    NOSTR_ERR_POW = -27,         /* proof of work below target / not found */
    NOSTR_ERR_UNSUPPORTED = -28, /* feature not compiled in */
    NOSTR_ERR_HTTP = -29,        /* malformed HTTP or over a limit */
    NOSTR_ERR_WS = -30,          /* WebSocket protocol error (connection closed) */
    NOSTR_ERR_TLS = -31,         /* TLS handshake or record failure */
    NOSTR_ERR_CLOSED = -32,      /* the connection is closed */
    NOSTR_ERR_TIMEOUT = -33,     /* no answer in time */
    NOSTR_ERR_NET = -34,         /* name resolution or socket failure */
    NOSTR_ERR_BUSY = -35,        /* an operation that allows one at a time is still out */
    NOSTR_ERR__LAST = -36
};

NOSTRDEF const char *nostr_strerror(int code);

/* Detail of a failure: code, a static message, and where in the input. */
typedef struct nostr_error {
    int code;
    size_t offset;   /* byte offset into the input, when it applies */
    const char *msg; /* static string; never freed */
} nostr_error;

/* Allocator hooks. A zeroed struct (or a NULL pointer where one is taken)
 * means NOSTR_MALLOC / NOSTR_REALLOC / NOSTR_FREE, which default to the C
 * library and may be redefined before the implementation is included. */
typedef struct nostr_allocator {
    void *(*alloc)(void *user, size_t size);
    void *(*realloc)(void *user, void *ptr, size_t size);
    void (*free)(void *user, void *ptr);
    void *user;
} nostr_allocator;

NOSTRDEF void *nostr_alloc(const nostr_allocator *al, size_t size);
NOSTRDEF void *nostr_realloc(const nostr_allocator *al, void *ptr, size_t size);
NOSTRDEF void nostr_free(const nostr_allocator *al, void *ptr);

/* Logger hook: level is one of NOSTR_LOG_*. */
enum { NOSTR_LOG_ERROR = 0, NOSTR_LOG_WARN = 1, NOSTR_LOG_INFO = 2, NOSTR_LOG_DEBUG = 3 };
typedef void (*nostr_log_fn)(void *user, int level, const char *msg);

/* A length-delimited string. Strings the library produces are also
 * NUL-terminated (ptr[len] == 0), but may contain NUL bytes inside. */
typedef struct nostr_str {
    const char *ptr;
    size_t len;
} nostr_str;

/* Arena: bump allocation from a first buffer (the caller's, or none), then
 * from heap blocks. Reset keeps the first buffer and frees the rest, so a
 * loop that reuses one arena with a big enough buffer never touches the
 * heap. A fixed arena never grows: it fails with NOSTR_ERR_NOMEM. */
typedef struct nostr_arena_block nostr_arena_block;
typedef struct nostr_arena {
    unsigned char *base; /* current block's memory */
    size_t cap, used;
    unsigned char *first; /* the caller's buffer, reused on reset */
    size_t first_cap;
    nostr_arena_block *blocks; /* heap blocks, newest first */
    const nostr_allocator *al;
    int fixed;
    size_t heap_blocks; /* heap blocks allocated since init (for tests) */
} nostr_arena;

NOSTRDEF void nostr_arena_init(nostr_arena *a, void *buf, size_t cap, const nostr_allocator *al);
NOSTRDEF void nostr_arena_init_fixed(nostr_arena *a, void *buf, size_t cap);
NOSTRDEF void *nostr_arena_alloc(nostr_arena *a, size_t size);                /* 8-byte aligned; NULL on failure */
NOSTRDEF char *nostr_arena_strdup(nostr_arena *a, const char *s, size_t len); /* NUL-terminated copy */
NOSTRDEF void nostr_arena_reset(nostr_arena *a);
NOSTRDEF void nostr_arena_free(nostr_arena *a);

/* Growable byte buffer for writers. A fixed buffer never grows: writes
 * past its end fail with NOSTR_ERR_BUFFER. The content is always kept
 * NUL-terminated (data[len] == 0) when there is room. */
typedef struct nostr_buf {
    char *data;
    size_t len, cap;
    const nostr_allocator *al;
    int fixed;
} nostr_buf;

NOSTRDEF void nostr_buf_init(nostr_buf *b, const nostr_allocator *al);
NOSTRDEF void nostr_buf_init_fixed(nostr_buf *b, void *mem, size_t cap);
NOSTRDEF int nostr_buf_reserve(nostr_buf *b, size_t extra);
NOSTRDEF int nostr_buf_append(nostr_buf *b, const void *p, size_t n);
NOSTRDEF int nostr_buf_append_str(nostr_buf *b, const char *s);
NOSTRDEF int nostr_buf_append_char(nostr_buf *b, char c);
NOSTRDEF int nostr_buf_append_i64(nostr_buf *b, long long v);
NOSTRDEF int nostr_buf_append_u64(nostr_buf *b, unsigned long long v);
NOSTRDEF int nostr_buf_append_hex(nostr_buf *b, const unsigned char *bytes, size_t n);
NOSTRDEF void nostr_buf_clear(nostr_buf *b);
NOSTRDEF void nostr_buf_free(nostr_buf *b);

/* Lowercase hex. decode accepts lowercase only (NIP-01 requires it) and
 * exactly 2*n characters; returns NOSTR_OK or NOSTR_ERR_HEX. */
NOSTRDEF void nostr_hex_encode(const unsigned char *bytes, size_t n, char *out /* 2n+1 */);
NOSTRDEF int nostr_hex_decode(const char *hex, size_t hexlen, unsigned char *out, size_t n);
NOSTRDEF int nostr_hex_decode_any_case(const char *hex, size_t hexlen, unsigned char *out, size_t n);

/* Wipe memory that held secrets (not optimised away). */
NOSTRDEF void nostr_wipe(void *p, size_t n);
