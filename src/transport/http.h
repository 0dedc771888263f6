/* ---- http: incremental HTTP/1.1 parser and writers (RFC 9112) ---- */

/* Sans-I/O: feed the bytes you read, any split (down to one byte at a
 * time) gives the same result. One parser parses one message at a time,
 * a request or a response:
 *
 *     nostr_http_parser p;
 *     nostr_http_parser_init(&p, NOSTR_HTTP_REQUEST, NULL);
 *     while (n > 0) {
 *         size_t used;
 *         int rc = nostr_http_feed(&p, data, n, &used);
 *         if (rc < 0) { answer p.status_hint (400, 413, 431...) and close; }
 *         if (rc == NOSTR_HTTP_DONE) { handle(&p.msg); nostr_http_parser_reset(&p); }
 *         data += used; n -= used;
 *     }
 *     nostr_http_parser_free(&p);
 *
 * On NOSTR_HTTP_DONE, `used` counts exactly the bytes of the message; the
 * rest is the next pipelined message, or WebSocket frames after an
 * Upgrade / a 101 response. Everything in p.msg is copied out of the
 * caller's bytes (so the feed buffer may be reused) and stays valid until
 * nostr_http_parser_reset or _free.
 *
 * Strictness: CRLF line endings only (a bare LF or a CR without LF is
 * malformed: accepting them is how request smuggling starts), no
 * obs-fold, no whitespace before the colon, token characters in methods
 * and field names, Content-Length digits only (identical duplicates are
 * allowed, conflicting ones are not), Transfer-Encoding must be exactly
 * "chunked" (chunk extensions are ignored, trailers are skipped),
 * Content-Length together with Transfer-Encoding is malformed, an
 * HTTP/1.1 request needs exactly one Host. Empty lines before the start
 * line are skipped (RFC 9112 section 2.2). */

enum {
    NOSTR_HTTP_MORE = 1, /* need more bytes */
    NOSTR_HTTP_DONE = 2  /* p->msg holds a complete message */
};

enum { NOSTR_HTTP_REQUEST = 0, NOSTR_HTTP_RESPONSE = 1 };

/* Limits and allocator; a zeroed struct (or NULL) means the defaults. */
typedef struct nostr_http_config {
    size_t max_header_bytes;   /* start line + fields + blank line [8192]; also caps chunk trailers */
    size_t max_headers;        /* header field lines [64] */
    size_t max_body;           /* decoded body bytes [1 MiB] */
    const nostr_allocator *al; /* NULL = default; must outlive the parser */
} nostr_http_config;

/* A header field as received: name keeps its case, value is trimmed of
 * surrounding spaces and tabs. Both NUL-terminated. */
typedef struct nostr_http_header_field {
    nostr_str name, value;
} nostr_http_header_field;

/* A parsed message. All strings are NUL-terminated copies. */
typedef struct nostr_http_message {
    int is_response;
    int version_minor;  /* HTTP/1.<minor>: 0 or 1 (a higher minor is kept as sent) */
    nostr_str method;   /* request: "GET", ... (case-sensitive, as sent) */
    nostr_str target;   /* request: request-target as sent, e.g. "/path?a=1" */
    nostr_str path;     /* request: target up to the first '?' */
    nostr_str query;    /* request: after the first '?' (empty if none) */
    int status;         /* response: 100..999 */
    nostr_str reason;   /* response: reason phrase (may be empty) */
    nostr_http_header_field *headers;
    size_t header_count;
    nostr_str body;     /* decoded body (chunked framing removed); "" if none */
    long long content_length; /* the Content-Length field, or -1 */
    int chunked;        /* body came with Transfer-Encoding: chunked */
    int keep_alive;     /* the connection may carry another message after this one */
    int upgrade;        /* request: Connection has "upgrade" and an Upgrade field is
                           present; response: status 101 */
} nostr_http_message;

/* Parser state. The struct is visible so it can be embedded; read only
 * msg, status_hint and err. */
typedef struct nostr_http_parser {
    nostr_http_message msg; /* valid after NOSTR_HTTP_DONE until reset */
    int status_hint;        /* after an error: the status a server should answer:
                               400 malformed, 413 body too large, 431 header section too
                               large / too many fields, 501 unsupported transfer coding,
                               505 unsupported HTTP version, 500 out of memory */
    nostr_error err;        /* after an error: code, static message, offset counted
                               from the first byte of the message */
    /* internal */
    nostr_http_config cfg;
    int kind, state, no_body, saw_start, prev_cr;
    int result; /* sticky result once DONE or an error */
    size_t total;      /* bytes of this message consumed so far */
    size_t line_start; /* offset in head of the line being read */
    size_t fields;     /* header field lines seen */
    size_t chunk_line; /* bytes in the current chunk-size or trailer line */
    size_t trailer_bytes;
    unsigned long long remaining; /* body bytes left (Content-Length or chunk) */
    int chunk_digits;
    nostr_buf head; /* raw header section */
    nostr_buf body;
    nostr_arena arena; /* copies of the strings and the header array */
} nostr_http_parser;

/* kind: NOSTR_HTTP_REQUEST or NOSTR_HTTP_RESPONSE; cfg may be NULL. Does
 * not allocate. */
NOSTRDEF void nostr_http_parser_init(nostr_http_parser *p, int kind, const nostr_http_config *cfg);
/* Forget the message (its strings become invalid) and get ready for the
 * next one; keeps buffers for reuse. */
NOSTRDEF void nostr_http_parser_reset(nostr_http_parser *p);
NOSTRDEF void nostr_http_parser_free(nostr_http_parser *p);
/* Response parser only: the next response answers a HEAD request (or a
 * 2xx to CONNECT), so it has no body whatever its headers say. Call after
 * init/reset, before feeding; reset clears it. */
NOSTRDEF void nostr_http_parser_no_body(nostr_http_parser *p);

/* Feed bytes. Returns NOSTR_HTTP_MORE (all len bytes consumed),
 * NOSTR_HTTP_DONE (*consumed = bytes that belong to the message), or a
 * negative error (NOSTR_ERR_HTTP with p->status_hint and p->err;
 * NOSTR_ERR_NOMEM) with *consumed 0. Errors are sticky; feeding after
 * DONE without a reset returns NOSTR_ERR_ARG. consumed may be NULL.
 * p->err.offset points at the offending byte, or for framing errors
 * found once the fields are known (conflicting Content-Length, missing
 * Host, ...) at the end of the header section. */
NOSTRDEF int nostr_http_feed(nostr_http_parser *p, const void *data, size_t len, size_t *consumed);

/* The peer closed the connection. Returns NOSTR_HTTP_DONE when that ends
 * the message (a response body delimited by the close; keep_alive is 0),
 * NOSTR_ERR_CLOSED when no byte of a message had arrived, NOSTR_ERR_HTTP
 * (status_hint 400) when the message is truncated. Already DONE: DONE. */
NOSTRDEF int nostr_http_finish(nostr_http_parser *p);

/* First field named `name` (ASCII case-insensitive), or NULL. */
NOSTRDEF const nostr_str *nostr_http_header(const nostr_http_message *msg, const char *name);
/* 1 if any field named `name` holds `token` in its comma-separated list
 * (both case-insensitive), e.g. (msg, "Connection", "upgrade"); else 0. */
NOSTRDEF int nostr_http_header_has_token(const nostr_http_message *msg, const char *name, const char *token);
/* The keep-alive decision (msg->keep_alive): HTTP/1.1 unless
 * "Connection: close", HTTP/1.0 only with "Connection: keep-alive", and
 * never after a body delimited by the connection close. */
NOSTRDEF int nostr_http_keep_alive(const nostr_http_message *msg);

/* ---- writers: append to out; on error out is left as it was ---- */

/* A header field for the writers. */
typedef struct nostr_http_kv {
    const char *name;
    const char *value;
} nostr_http_kv;

/* "METHOD target HTTP/1.1", "Host: host" (omitted when host is NULL),
 * the given fields, "Content-Length: body_len" when body is not NULL,
 * blank line, body. Do not pass Host or Content-Length in headers.
 * Returns NOSTR_OK, NOSTR_ERR_ARG (method not a token, target empty or
 * with spaces/controls, a field name not a token, a value with CR, LF or
 * other controls), or the nostr_buf error. */
NOSTRDEF int nostr_http_write_request(nostr_buf *out, const char *method, const char *host, const char *target,
                                      const nostr_http_kv *headers, size_t header_count, const void *body,
                                      size_t body_len);

/* "HTTP/1.1 status reason" (reason NULL = the standard phrase),
 * "Content-Type: content_type" (when not NULL), the given fields,
 * "Content-Length: body_len" (except for 1xx, 204 and 304, which carry no
 * body), "Connection: close" when keep_alive is 0 (not for 1xx), blank
 * line, body. A 101 passes keep_alive 1 and its Upgrade / Connection
 * fields in headers. Returns like nostr_http_write_request (status must be
 * 100..999). */
NOSTRDEF int nostr_http_write_response(nostr_buf *out, int status, const char *reason, const char *content_type,
                                       const nostr_http_kv *headers, size_t header_count, const void *body,
                                       size_t body_len, int keep_alive);

/* Standard reason phrase for a status ("Not Found"), "" when unknown. */
NOSTRDEF const char *nostr_http_reason(int status);

/* ---- query strings (application/x-www-form-urlencoded) ---- */

/* Decode %XX escapes (either hex case) and, when plus_as_space, '+' as a
 * space; appends to out (NUL-terminated). The result may hold any byte,
 * including NUL: check it if that matters. NOSTR_ERR_HTTP on a '%' not
 * followed by two hex digits (out left as it was). */
NOSTRDEF int nostr_http_percent_decode(nostr_buf *out, const char *s, size_t len, int plus_as_space);
/* Percent-encode everything but ALPHA DIGIT "-._~" (uppercase hex). */
NOSTRDEF int nostr_http_percent_encode(nostr_buf *out, const char *s, size_t len);

/* Iterate over "a=1&b=2&c" pairs. `s` is a request-target (the query is
 * what follows the first '?'; none = no pairs) or, with is_query, the
 * query itself. A '#' ends the query. next() gives the raw (still
 * encoded) name and value of each non-empty pair (value empty when there
 * is no '='); returns 1, or 0 at the end. */
typedef struct nostr_http_query_iter {
    const char *p, *end;
} nostr_http_query_iter;
NOSTRDEF void nostr_http_query_begin(nostr_http_query_iter *it, const char *s, size_t len, int is_query);
NOSTRDEF int nostr_http_query_next(nostr_http_query_iter *it, nostr_str *raw_name, nostr_str *raw_value);

/* Find the first parameter whose decoded name equals `name` in a
 * request-target (e.g. msg->target) and append its decoded value ('+' is a
 * space) to out. Returns 1 when found, 0 when absent, NOSTR_ERR_HTTP on a
 * bad escape, or the nostr_buf error. */
NOSTRDEF int nostr_http_query_param(const char *target, size_t target_len, const char *name, nostr_buf *out);
