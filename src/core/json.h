/* ---- json: strict pull reader and writer helpers (RFC 8259) ----
 *
 * The reader walks a buffer without building a tree and without heap
 * allocation: the caller asks for the value it expects next. Strings are
 * unescaped into an arena (or a caller buffer) and validated as UTF-8;
 * \uXXXX surrogate pairs are joined, lone surrogates rejected. Numbers
 * for integer fields must be plain integers (no fraction or exponent).
 * Any error sticks: later calls return the same code, and r->err holds the
 * code, a message and the byte offset. */

/* Limits for everything that parses JSON. A zeroed struct (or NULL) means
 * the defaults in brackets. */
typedef struct nostr_limits {
    size_t max_input;         /* [1 MiB]   bytes of one JSON text */
    size_t max_depth;         /* [32]      nesting of arrays and objects */
    size_t max_string;        /* [1 MiB]   bytes of one decoded string */
    size_t max_tags;          /* [10000]   tags in one event */
    size_t max_tag_items;     /* [1000]    strings in one tag */
    size_t max_filters;       /* [64]      filters in one REQ or COUNT */
    size_t max_filter_values; /* [10000] values in one filter list */
} nostr_limits;

#define NOSTR_DEFAULT_MAX_INPUT (1u << 20)
#define NOSTR_DEFAULT_MAX_DEPTH 32u
#define NOSTR_DEFAULT_MAX_STRING (1u << 20)
#define NOSTR_DEFAULT_MAX_TAGS 10000u
#define NOSTR_DEFAULT_MAX_TAG_ITEMS 1000u
#define NOSTR_DEFAULT_MAX_FILTERS 64u
#define NOSTR_DEFAULT_MAX_FILTER_VALUES 10000u

/* Fill zero fields of *out from *in (which may be NULL) with defaults. */
NOSTRDEF void nostr_limits_resolve(nostr_limits *out, const nostr_limits *in);

enum {
    NOSTR_JSON_NONE = 0, /* end of input or error */
    NOSTR_JSON_OBJECT,
    NOSTR_JSON_ARRAY,
    NOSTR_JSON_STRING,
    NOSTR_JSON_NUMBER,
    NOSTR_JSON_TRUE,
    NOSTR_JSON_FALSE,
    NOSTR_JSON_NULL
};

typedef struct nostr_json {
    const char *start, *p, *end;
    size_t depth;
    nostr_limits lim;
    nostr_error err;         /* err.code != 0 once anything failed */
    unsigned char first[64]; /* per depth: 1 before the first member/element */
} nostr_json;

NOSTRDEF void nostr_json_init(nostr_json *r, const char *json, size_t len, const nostr_limits *lim);
/* Type of the next value (after white space), or NOSTR_JSON_NONE. */
NOSTRDEF int nostr_json_peek(nostr_json *r);
/* Offset of the reader in the input. */
NOSTRDEF size_t nostr_json_offset(const nostr_json *r);

/* Objects: begin, then loop on next until it returns 0 (end) or < 0.
 * next reads the key (unescaped into key[0..cap), NUL-terminated) and the
 * colon; a key longer than cap-1 is reported with *keylen = cap (it can
 * then never equal a known key). */
NOSTRDEF int nostr_json_object_begin(nostr_json *r);
NOSTRDEF int nostr_json_object_next(nostr_json *r, char *key, size_t cap, size_t *keylen);
/* Arrays: begin, then loop on next: 1 = an element follows, 0 = end. */
NOSTRDEF int nostr_json_array_begin(nostr_json *r);
NOSTRDEF int nostr_json_array_next(nostr_json *r);

/* Scalars. Each fails with NOSTR_ERR_FIELD when the next value is of
 * another type, so callers can name the field in their own message. */
NOSTRDEF int nostr_json_string(nostr_json *r, nostr_arena *a, nostr_str *out);
NOSTRDEF int nostr_json_string_buf(nostr_json *r, char *buf, size_t cap, size_t *len);
/* A string of exactly 2*n lowercase hex digits, decoded into out. */
NOSTRDEF int nostr_json_hex(nostr_json *r, unsigned char *out, size_t n);
NOSTRDEF int nostr_json_int64(nostr_json *r, long long *out);
NOSTRDEF int nostr_json_uint64(nostr_json *r, unsigned long long *out);
NOSTRDEF int nostr_json_bool(nostr_json *r, int *out);
NOSTRDEF int nostr_json_null(nostr_json *r);
/* Validate and skip any one value. */
NOSTRDEF int nostr_json_skip(nostr_json *r);
/* Only white space may remain. */
NOSTRDEF int nostr_json_finish(nostr_json *r);
/* Record a caller-detected error at the current offset (first one wins). */
NOSTRDEF int nostr_json_fail(nostr_json *r, int code, const char *msg);

/* Validate that [s, s+len) is well-formed UTF-8 (no overlongs, no
 * surrogates, at most U+10FFFF). Returns 1 when valid. */
NOSTRDEF int nostr_utf8_valid(const char *s, size_t len);

/* Append s as a JSON string literal (quotes included) with the escaping
 * that NIP-01 canonical form and JSON.stringify use: \" \\ \n \r \t \b \f,
 * other bytes below 0x20 as \u00xx (lowercase hex), all else verbatim. */
NOSTRDEF int nostr_json_write_string(nostr_buf *b, const char *s, size_t len);
