/* ---- http: implementation ---- */

/* Parser states. The header section is collected whole in p->head (it is
 * bounded by max_header_bytes), each line checked as soon as its CRLF
 * arrives; at the blank line a second pass copies the strings into the
 * arena and decides the body framing. Body bytes go to p->body. */
enum {
    NOSTR__HTTP_HEAD = 0,
    NOSTR__HTTP_BODY_LENGTH,   /* Content-Length bytes left in p->remaining */
    NOSTR__HTTP_BODY_EOF,      /* response body delimited by the close */
    NOSTR__HTTP_CHUNK_SIZE,    /* hex digits of a chunk-size line */
    NOSTR__HTTP_CHUNK_BWS,     /* spaces after the size, before ';' or CR */
    NOSTR__HTTP_CHUNK_EXT,     /* chunk extension: ignored up to CR */
    NOSTR__HTTP_CHUNK_SIZE_LF, /* LF ending the chunk-size line */
    NOSTR__HTTP_CHUNK_DATA,
    NOSTR__HTTP_CHUNK_DATA_CR, /* CRLF after the chunk data */
    NOSTR__HTTP_CHUNK_DATA_LF,
    NOSTR__HTTP_TRAILER,       /* trailer fields after the last chunk: skipped */
    NOSTR__HTTP_DONE,
    NOSTR__HTTP_ERROR
};

#define NOSTR__HTTP_DEFAULT_HEADER_BYTES 8192
#define NOSTR__HTTP_DEFAULT_HEADERS 64
#define NOSTR__HTTP_DEFAULT_BODY (1024 * 1024)
#define NOSTR__HTTP_MAX_CHUNK_LINE 1024 /* chunk size + extensions */
#define NOSTR__HTTP_KEEP_BUFFER 65536   /* reset frees bigger buffers */

/* tchar from RFC 9110 section 5.6.2: method and field-name characters. */
static int nostr__http_is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Control characters that may never appear in a header section (HTAB is
 * allowed in field values; CR and LF are handled as line endings). */
static int nostr__http_is_ctl(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static unsigned char nostr__http_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static int nostr__http_ieq(const char *a, size_t alen, const char *b)
{
    size_t i;
    for (i = 0; i < alen; i++) {
        if (!b[i] || nostr__http_lower((unsigned char)a[i]) != nostr__http_lower((unsigned char)b[i])) return 0;
    }
    return b[alen] == 0;
}

static int nostr__http_fail(nostr_http_parser *p, int code, int hint, size_t offset, const char *msg)
{
    p->state = NOSTR__HTTP_ERROR;
    p->result = code;
    p->status_hint = hint;
    p->err.code = code;
    p->err.offset = offset;
    p->err.msg = msg;
    return code;
}

static int nostr__http_nomem(nostr_http_parser *p, size_t offset)
{
    return nostr__http_fail(p, NOSTR_ERR_NOMEM, 500, offset, "out of memory");
}

static int nostr__http_bad(nostr_http_parser *p, size_t offset, const char *msg)
{
    return nostr__http_fail(p, NOSTR_ERR_HTTP, 400, offset, msg);
}

/* ---- init / reset ---- */

static void nostr__http_clear_message(nostr_http_parser *p)
{
    nostr_http_message *m = &p->msg;
    m->is_response = p->kind == NOSTR_HTTP_RESPONSE;
    m->version_minor = 0;
    m->method.ptr = m->target.ptr = m->path.ptr = m->query.ptr = m->reason.ptr = m->body.ptr = "";
    m->method.len = m->target.len = m->path.len = m->query.len = m->reason.len = m->body.len = 0;
    m->status = 0;
    m->headers = NULL;
    m->header_count = 0;
    m->content_length = -1;
    m->chunked = m->keep_alive = m->upgrade = 0;
}

static void nostr__http_clear_state(nostr_http_parser *p)
{
    p->status_hint = 0;
    p->err.code = 0;
    p->err.offset = 0;
    p->err.msg = NULL;
    p->state = NOSTR__HTTP_HEAD;
    p->no_body = p->saw_start = p->prev_cr = 0;
    p->result = 0;
    p->total = p->line_start = p->fields = p->chunk_line = p->trailer_bytes = 0;
    p->remaining = 0;
    p->chunk_digits = 0;
    nostr__http_clear_message(p);
}

NOSTRDEF void nostr_http_parser_init(nostr_http_parser *p, int kind, const nostr_http_config *cfg)
{
    memset(p, 0, sizeof *p);
    if (cfg) p->cfg = *cfg;
    if (!p->cfg.max_header_bytes) p->cfg.max_header_bytes = NOSTR__HTTP_DEFAULT_HEADER_BYTES;
    if (!p->cfg.max_headers) p->cfg.max_headers = NOSTR__HTTP_DEFAULT_HEADERS;
    if (!p->cfg.max_body) p->cfg.max_body = NOSTR__HTTP_DEFAULT_BODY;
    p->kind = kind == NOSTR_HTTP_RESPONSE ? NOSTR_HTTP_RESPONSE : NOSTR_HTTP_REQUEST;
    nostr_buf_init(&p->head, p->cfg.al);
    nostr_buf_init(&p->body, p->cfg.al);
    nostr_arena_init(&p->arena, NULL, 0, p->cfg.al);
    nostr__http_clear_state(p);
}

NOSTRDEF void nostr_http_parser_reset(nostr_http_parser *p)
{
    /* A long-lived connection should not keep a one-off 1 MiB body. */
    if (p->body.cap > NOSTR__HTTP_KEEP_BUFFER) nostr_buf_free(&p->body);
    if (p->head.cap > NOSTR__HTTP_KEEP_BUFFER) nostr_buf_free(&p->head);
    nostr_buf_clear(&p->head);
    nostr_buf_clear(&p->body);
    nostr_arena_reset(&p->arena);
    nostr__http_clear_state(p);
}

NOSTRDEF void nostr_http_parser_free(nostr_http_parser *p)
{
    nostr_buf_free(&p->head);
    nostr_buf_free(&p->body);
    nostr_arena_free(&p->arena);
    nostr__http_clear_state(p);
}

NOSTRDEF void nostr_http_parser_no_body(nostr_http_parser *p)
{
    p->no_body = 1;
}

/* ---- start line and field lines ---- */

/* Offsets of the parts of a start line, relative to the line. */
typedef struct nostr__http_start {
    size_t method_len, target_off, target_len, reason_off, reason_len;
    int minor, status;
} nostr__http_start;

/* "HTTP/1.x" at l[0..8): 0 if fine, else an error (505 for another
 * major version). `at` is the line's offset for error reports. */
static int nostr__http_version(nostr_http_parser *p, const char *l, size_t n, size_t at, int *minor)
{
    if (n < 8 || memcmp(l, "HTTP/", 5) != 0 || l[6] != '.' || l[5] < '0' || l[5] > '9' || l[7] < '0' || l[7] > '9')
        return nostr__http_bad(p, at, "malformed HTTP version");
    if (l[5] != '1') return nostr__http_fail(p, NOSTR_ERR_HTTP, 505, at, "unsupported HTTP version");
    *minor = l[7] - '0';
    return 0;
}

/* request-line = method SP request-target SP HTTP-version */
static int nostr__http_request_line(nostr_http_parser *p, const char *l, size_t n, size_t at, nostr__http_start *st)
{
    size_t i = 0, t;
    while (i < n && nostr__http_is_tchar((unsigned char)l[i])) i++;
    if (i == 0 || i >= n || l[i] != ' ') return nostr__http_bad(p, at + i, "malformed method");
    st->method_len = i;
    t = ++i;
    /* request-target: visible ASCII only (RFC 3986 characters, plus the
     * few unsafe ones browsers still send); never spaces or controls */
    while (i < n && (unsigned char)l[i] > 0x20 && (unsigned char)l[i] < 0x7f) i++;
    if (i == t || i >= n || l[i] != ' ') return nostr__http_bad(p, at + i, "malformed request target");
    st->target_off = t;
    st->target_len = i - t;
    i++;
    if (n - i != 8) return nostr__http_bad(p, at + i, "malformed HTTP version");
    return nostr__http_version(p, l + i, n - i, at + i, &st->minor);
}

/* status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ]. A missing
 * "SP reason" is tolerated: some servers send "HTTP/1.1 200". */
static int nostr__http_status_line(nostr_http_parser *p, const char *l, size_t n, size_t at, nostr__http_start *st)
{
    size_t i;
    int rc = nostr__http_version(p, l, n, at, &st->minor);
    if (rc) return rc;
    if (n < 12 || l[8] != ' ') return nostr__http_bad(p, at + 8, "malformed status line");
    for (i = 9; i < 12; i++) {
        if (l[i] < '0' || l[i] > '9') return nostr__http_bad(p, at + i, "malformed status code");
    }
    st->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
    if (st->status < 100) return nostr__http_bad(p, at + 9, "malformed status code");
    if (n > 12 && l[12] != ' ') return nostr__http_bad(p, at + 12, "malformed status line");
    /* the reason phrase may hold anything but controls, checked per byte */
    st->reason_off = n > 12 ? 13 : 12;
    st->reason_len = n - st->reason_off;
    return 0;
}

/* field-line = field-name ":" OWS field-value OWS. Gives the name length
 * and the trimmed value. */
static int nostr__http_field_line(nostr_http_parser *p, const char *l, size_t n, size_t at, size_t *name_len,
                                  size_t *value_off, size_t *value_len)
{
    size_t i = 0, end = n;
    if (l[0] == ' ' || l[0] == '\t') return nostr__http_bad(p, at, "obsolete line folding");
    while (i < n && nostr__http_is_tchar((unsigned char)l[i])) i++;
    if (i < n && (l[i] == ' ' || l[i] == '\t')) return nostr__http_bad(p, at + i, "whitespace before colon");
    if (i == 0 || i >= n || l[i] != ':') return nostr__http_bad(p, at + i, "malformed header field name");
    *name_len = i++;
    while (i < end && (l[i] == ' ' || l[i] == '\t')) i++;
    while (end > i && (l[end - 1] == ' ' || l[end - 1] == '\t')) end--;
    *value_off = i;
    *value_len = end - i;
    return 0;
}

/* A line of the header section is complete: check it now, so garbage is
 * refused early; the copy happens once the whole section is in. */
static int nostr__http_check_line(nostr_http_parser *p, const char *l, size_t n, size_t at)
{
    nostr__http_start st;
    size_t a, b, c;
    if (!p->saw_start) {
        p->saw_start = 1;
        return p->kind == NOSTR_HTTP_REQUEST ? nostr__http_request_line(p, l, n, at, &st)
                                             : nostr__http_status_line(p, l, n, at, &st);
    }
    if (++p->fields > p->cfg.max_headers) return nostr__http_fail(p, NOSTR_ERR_HTTP, 431, at, "too many header fields");
    return nostr__http_field_line(p, l, n, at, &a, &b, &c);
}

/* ---- end of the header section: copy out, decide the framing ---- */

static int nostr__http_dup(nostr_http_parser *p, nostr_str *out, const char *s, size_t n)
{
    char *d = nostr_arena_strdup(&p->arena, s, n);
    if (!d) return NOSTR_ERR_NOMEM;
    out->ptr = d;
    out->len = n;
    return 0;
}

/* Copy the (already checked) start line and fields into msg. */
static int nostr__http_copy_head(nostr_http_parser *p)
{
    const char *h = p->head.data;
    size_t off = 0, k = 0, eol;
    nostr__http_start st;
    nostr_http_message *m = &p->msg;
    while (h[off] == '\r') off += 2; /* skipped empty lines */
    eol = (size_t)((const char *)memchr(h + off, '\n', p->head.len - off) - h) - 1;
    memset(&st, 0, sizeof st);
    if (p->kind == NOSTR_HTTP_REQUEST) {
        const char *q;
        nostr__http_request_line(p, h + off, eol - off, off, &st);
        if (nostr__http_dup(p, &m->method, h + off, st.method_len)) return NOSTR_ERR_NOMEM;
        if (nostr__http_dup(p, &m->target, h + off + st.target_off, st.target_len)) return NOSTR_ERR_NOMEM;
        q = (const char *)memchr(m->target.ptr, '?', m->target.len);
        m->path.len = q ? (size_t)(q - m->target.ptr) : m->target.len;
        if (nostr__http_dup(p, &m->path, m->target.ptr, m->path.len)) return NOSTR_ERR_NOMEM;
        if (q) m->query.ptr = q + 1; /* the tail of target is NUL-terminated already */
        m->query.len = q ? m->target.len - m->path.len - 1 : 0;
    } else {
        nostr__http_status_line(p, h + off, eol - off, off, &st);
        m->status = st.status;
        if (nostr__http_dup(p, &m->reason, h + off + st.reason_off, st.reason_len)) return NOSTR_ERR_NOMEM;
    }
    m->version_minor = st.minor;
    if (p->fields) {
        m->headers = (nostr_http_header_field *)nostr_arena_alloc(&p->arena, p->fields * sizeof *m->headers);
        if (!m->headers) return NOSTR_ERR_NOMEM;
    }
    for (off = eol + 2; k < p->fields; off = eol + 2, k++) {
        size_t name_len, value_off, value_len;
        eol = (size_t)((const char *)memchr(h + off, '\n', p->head.len - off) - h) - 1;
        nostr__http_field_line(p, h + off, eol - off, off, &name_len, &value_off, &value_len);
        if (nostr__http_dup(p, &m->headers[k].name, h + off, name_len)) return NOSTR_ERR_NOMEM;
        if (nostr__http_dup(p, &m->headers[k].value, h + off + value_off, value_len)) return NOSTR_ERR_NOMEM;
    }
    m->header_count = p->fields;
    return 0;
}

/* Walk a comma-separated list: the next non-empty element, trimmed. */
static int nostr__http_list_next(const char **cur, const char *end, const char **el, size_t *el_len)
{
    const char *s = *cur;
    while (s < end) {
        const char *e = s, *t;
        while (e < end && *e != ',') e++;
        *cur = e < end ? e + 1 : e;
        while (s < e && (*s == ' ' || *s == '\t')) s++;
        t = e;
        while (t > s && (t[-1] == ' ' || t[-1] == '\t')) t--;
        if (t > s) {
            *el = s;
            *el_len = (size_t)(t - s);
            return 1;
        }
        s = *cur;
    }
    return 0;
}

/* What the fields say about framing and the connection. */
typedef struct nostr__http_fields {
    long long content_length; /* -1 none, -2 more than we could ever accept */
    int te_seen, te_chunked, te_chunked_last, te_other;
    int hosts, conn_close, conn_keep_alive, conn_upgrade, upgrade_field;
} nostr__http_fields;

/* Content-Length = 1*DIGIT. Returns 0 or an error; huge values become -2
 * (a 413, not a 400: the syntax is fine). */
static int nostr__http_content_length(nostr_http_parser *p, const nostr_str *v, long long *out)
{
    size_t i;
    long long n = 0;
    if (v->len == 0) return nostr__http_bad(p, p->head.len, "Content-Length is not a number");
    for (i = 0; i < v->len; i++) {
        unsigned char c = (unsigned char)v->ptr[i];
        if (c < '0' || c > '9') return nostr__http_bad(p, p->head.len, "Content-Length is not a number");
        if (n >= 0) n = n > 99999999999999LL ? -2 : n * 10 + (c - '0');
    }
    *out = n;
    return 0;
}

static int nostr__http_scan_fields(nostr_http_parser *p, nostr__http_fields *f)
{
    size_t k;
    memset(f, 0, sizeof *f);
    f->content_length = -1;
    for (k = 0; k < p->msg.header_count; k++) {
        const nostr_str *name = &p->msg.headers[k].name, *v = &p->msg.headers[k].value;
        const char *cur = v->ptr, *end = v->ptr + v->len, *el;
        size_t el_len;
        if (nostr__http_ieq(name->ptr, name->len, "content-length")) {
            long long n;
            int rc = nostr__http_content_length(p, v, &n);
            if (rc) return rc;
            if (f->content_length != -1 && f->content_length != n)
                return nostr__http_bad(p, p->head.len, "conflicting Content-Length fields");
            f->content_length = n;
        } else if (nostr__http_ieq(name->ptr, name->len, "transfer-encoding")) {
            f->te_seen = 1;
            while (nostr__http_list_next(&cur, end, &el, &el_len)) {
                if (nostr__http_ieq(el, el_len, "chunked")) {
                    if (f->te_chunked) return nostr__http_bad(p, p->head.len, "chunked applied twice");
                    f->te_chunked = f->te_chunked_last = 1;
                } else {
                    f->te_other = 1;
                    f->te_chunked_last = 0;
                }
            }
        } else if (nostr__http_ieq(name->ptr, name->len, "host")) {
            f->hosts++;
        } else if (nostr__http_ieq(name->ptr, name->len, "connection")) {
            while (nostr__http_list_next(&cur, end, &el, &el_len)) {
                if (nostr__http_ieq(el, el_len, "close")) f->conn_close = 1;
                if (nostr__http_ieq(el, el_len, "keep-alive")) f->conn_keep_alive = 1;
                if (nostr__http_ieq(el, el_len, "upgrade")) f->conn_upgrade = 1;
            }
        } else if (nostr__http_ieq(name->ptr, name->len, "upgrade")) {
            f->upgrade_field = 1;
        }
    }
    return 0;
}

/* RFC 9112 section 6: which of Content-Length, chunked, nothing or the
 * connection close delimits the body. */
static int nostr__http_framing(nostr_http_parser *p, const nostr__http_fields *f)
{
    nostr_http_message *m = &p->msg;
    size_t at = p->head.len;
    int is_req = p->kind == NOSTR_HTTP_REQUEST;
    if (f->te_seen) {
        if (m->version_minor == 0) return nostr__http_bad(p, at, "Transfer-Encoding in an HTTP/1.0 message");
        if (f->content_length != -1) return nostr__http_bad(p, at, "both Content-Length and Transfer-Encoding");
        if (!f->te_chunked_last) return nostr__http_bad(p, at, "Transfer-Encoding does not end with chunked");
        if (f->te_other) return nostr__http_fail(p, NOSTR_ERR_HTTP, 501, at, "unsupported transfer coding");
    }
    if (is_req && (f->hosts > 1 || (f->hosts == 0 && m->version_minor >= 1)))
        return nostr__http_bad(p, at, f->hosts ? "more than one Host field" : "missing Host field");
    m->content_length = f->content_length == -2 ? LLONG_MAX : f->content_length;
    m->keep_alive = m->version_minor >= 1 ? !f->conn_close : (f->conn_keep_alive && !f->conn_close);
    m->upgrade = is_req ? (f->conn_upgrade && f->upgrade_field) : m->status == 101;
    if (!is_req && (p->no_body || m->status < 200 || m->status == 204 || m->status == 304)) {
        return NOSTR_HTTP_DONE;
    }
    if (f->te_seen) {
        m->chunked = 1;
        p->state = NOSTR__HTTP_CHUNK_SIZE;
        return NOSTR_HTTP_MORE;
    }
    if (f->content_length != -1) {
        if (f->content_length == -2 || (unsigned long long)f->content_length > p->cfg.max_body)
            return nostr__http_fail(p, NOSTR_ERR_HTTP, 413, at, "body too large");
        if (f->content_length == 0) return NOSTR_HTTP_DONE;
        if (nostr_buf_reserve(&p->body, (size_t)f->content_length)) return nostr__http_nomem(p, at);
        p->remaining = (unsigned long long)f->content_length;
        p->state = NOSTR__HTTP_BODY_LENGTH;
        return NOSTR_HTTP_MORE;
    }
    if (is_req) return NOSTR_HTTP_DONE;
    m->keep_alive = 0;
    p->state = NOSTR__HTTP_BODY_EOF;
    return NOSTR_HTTP_MORE;
}

static int nostr__http_head_done(nostr_http_parser *p)
{
    nostr__http_fields f;
    int rc;
    if (nostr__http_copy_head(p)) return nostr__http_nomem(p, p->head.len);
    rc = nostr__http_scan_fields(p, &f);
    if (rc) return rc;
    return nostr__http_framing(p, &f);
}

/* p->head ends with a complete line: skip it (an empty line before the
 * start line), check it, or end the header section (the blank line). */
static int nostr__http_end_of_line(nostr_http_parser *p)
{
    const char *line = p->head.data + p->line_start;
    size_t line_len = p->head.len - p->line_start - 2, at = p->line_start;
    p->line_start = p->head.len;
    if (line_len == 0) return p->saw_start ? nostr__http_head_done(p) : NOSTR_HTTP_MORE;
    return nostr__http_check_line(p, line, line_len, at) ? p->result : NOSTR_HTTP_MORE;
}

/* Collect header bytes up to the blank line, one line at a time. */
static int nostr__http_feed_head(nostr_http_parser *p, const unsigned char *s, size_t len, size_t *pos)
{
    size_t i = *pos, span = *pos;
    int rc = NOSTR_HTTP_MORE;
    while (i < len && rc == NOSTR_HTTP_MORE && p->state == NOSTR__HTTP_HEAD) {
        unsigned char c = s[i];
        size_t at = p->head.len + (i - span); /* == offset in the message */
        if (at >= p->cfg.max_header_bytes)
            return nostr__http_fail(p, NOSTR_ERR_HTTP, 431, at, "header section too large");
        if (p->prev_cr && c != '\n') return nostr__http_bad(p, at, "CR not followed by LF");
        if (c != '\r' && c != '\n' && nostr__http_is_ctl(c))
            return nostr__http_bad(p, at, "control character in header section");
        i++;
        if (c == '\r') {
            p->prev_cr = 1;
        } else if (c == '\n') {
            if (!p->prev_cr) return nostr__http_bad(p, at, "bare LF (lines must end with CRLF)");
            p->prev_cr = 0;
            if (nostr_buf_append(&p->head, s + span, i - span)) return nostr__http_nomem(p, at);
            span = i;
            rc = nostr__http_end_of_line(p);
        }
    }
    if (rc == NOSTR_HTTP_MORE && p->state == NOSTR__HTTP_HEAD && i > span) {
        if (nostr_buf_append(&p->head, s + span, i - span)) return nostr__http_nomem(p, p->head.len);
    }
    *pos = i;
    return rc;
}

/* ---- body ---- */

/* Append n body bytes; p->total is the offset of the first one. */
static int nostr__http_take_body(nostr_http_parser *p, const unsigned char *s, size_t n)
{
    if (n > p->cfg.max_body - p->body.len)
        return nostr__http_fail(p, NOSTR_ERR_HTTP, 413, p->total + (p->cfg.max_body - p->body.len), "body too large");
    if (nostr_buf_append(&p->body, s, n)) return nostr__http_nomem(p, p->total);
    return NOSTR_HTTP_MORE;
}

static int nostr__http_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = nostr__http_lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* One byte of chunk framing (size line, data CRLF, trailers); data bytes
 * are taken in bulk by the caller. `at` is the byte's message offset. */
static int nostr__http_chunk_byte(nostr_http_parser *p, unsigned char c, size_t at)
{
    int d;
    switch (p->state) {
    case NOSTR__HTTP_CHUNK_SIZE:
        d = nostr__http_hexval(c);
        if (d >= 0) {
            if (p->remaining > (~0ULL >> 4))
                return nostr__http_fail(p, NOSTR_ERR_HTTP, 413, at, "body too large");
            p->remaining = p->remaining * 16 + (unsigned)d;
            p->chunk_digits++;
            if (p->remaining > p->cfg.max_body - p->body.len)
                return nostr__http_fail(p, NOSTR_ERR_HTTP, 413, at, "body too large");
            break;
        }
        if (p->chunk_digits == 0) return nostr__http_bad(p, at, "malformed chunk size");
        p->state = NOSTR__HTTP_CHUNK_BWS;
        /* fall through */
    case NOSTR__HTTP_CHUNK_BWS:
        if (c == ' ' || c == '\t') break;
        if (c == ';') p->state = NOSTR__HTTP_CHUNK_EXT;
        else if (c == '\r') p->state = NOSTR__HTTP_CHUNK_SIZE_LF;
        else return nostr__http_bad(p, at, "malformed chunk size");
        break;
    case NOSTR__HTTP_CHUNK_EXT:
        if (c == '\r') p->state = NOSTR__HTTP_CHUNK_SIZE_LF;
        else if (nostr__http_is_ctl(c)) return nostr__http_bad(p, at, "control character in chunk extension");
        break;
    case NOSTR__HTTP_CHUNK_SIZE_LF:
        if (c != '\n') return nostr__http_bad(p, at, "CR not followed by LF");
        p->chunk_line = 0;
        p->chunk_digits = 0;
        p->state = p->remaining ? NOSTR__HTTP_CHUNK_DATA : NOSTR__HTTP_TRAILER;
        return NOSTR_HTTP_MORE;
    case NOSTR__HTTP_CHUNK_DATA_CR:
        if (c != '\r') return nostr__http_bad(p, at, "chunk data not followed by CRLF");
        p->state = NOSTR__HTTP_CHUNK_DATA_LF;
        return NOSTR_HTTP_MORE;
    case NOSTR__HTTP_CHUNK_DATA_LF:
        if (c != '\n') return nostr__http_bad(p, at, "chunk data not followed by CRLF");
        p->state = NOSTR__HTTP_CHUNK_SIZE;
        return NOSTR_HTTP_MORE;
    default: /* NOSTR__HTTP_TRAILER: check the line endings, skip the rest */
        if (++p->trailer_bytes > p->cfg.max_header_bytes)
            return nostr__http_fail(p, NOSTR_ERR_HTTP, 431, at, "trailer section too large");
        if (p->prev_cr && c != '\n') return nostr__http_bad(p, at, "CR not followed by LF");
        if (c == '\r') {
            p->prev_cr = 1;
        } else if (c == '\n') {
            if (!p->prev_cr) return nostr__http_bad(p, at, "bare LF (lines must end with CRLF)");
            p->prev_cr = 0;
            if (p->chunk_line == 0) return NOSTR_HTTP_DONE;
            p->chunk_line = 0;
        } else if (nostr__http_is_ctl(c)) {
            return nostr__http_bad(p, at, "control character in trailer");
        } else if (p->chunk_line++ == 0 && (c == ' ' || c == '\t')) {
            return nostr__http_bad(p, at, "obsolete line folding");
        }
        return NOSTR_HTTP_MORE;
    }
    if (++p->chunk_line > NOSTR__HTTP_MAX_CHUNK_LINE) return nostr__http_bad(p, at, "chunk-size line too long");
    return NOSTR_HTTP_MORE;
}

/* Body bytes from s[*pos]; p->total is the offset of s[*pos]. */
static int nostr__http_feed_body(nostr_http_parser *p, const unsigned char *s, size_t len, size_t *pos)
{
    size_t i = *pos, n = len - i;
    int rc;
    switch (p->state) {
    case NOSTR__HTTP_BODY_EOF:
        rc = nostr__http_take_body(p, s + i, n);
        if (rc < 0) return rc;
        *pos = len;
        return NOSTR_HTTP_MORE;
    case NOSTR__HTTP_BODY_LENGTH:
    case NOSTR__HTTP_CHUNK_DATA:
        if (n > p->remaining) n = (size_t)p->remaining;
        rc = nostr__http_take_body(p, s + i, n);
        if (rc < 0) return rc;
        *pos = i + n;
        p->remaining -= n;
        if (p->remaining == 0) {
            if (p->state == NOSTR__HTTP_BODY_LENGTH) return NOSTR_HTTP_DONE;
            p->state = NOSTR__HTTP_CHUNK_DATA_CR;
        }
        return NOSTR_HTTP_MORE;
    default:
        rc = nostr__http_chunk_byte(p, s[i], p->total);
        if (rc >= 0) *pos = i + 1;
        return rc;
    }
}

/* ---- feed ---- */

static void nostr__http_finish_message(nostr_http_parser *p)
{
    if (p->body.len) {
        p->msg.body.ptr = p->body.data;
        p->msg.body.len = p->body.len;
    }
    p->state = NOSTR__HTTP_DONE;
    p->result = NOSTR_HTTP_DONE;
}

NOSTRDEF int nostr_http_feed(nostr_http_parser *p, const void *data, size_t len, size_t *consumed)
{
    const unsigned char *s = (const unsigned char *)data;
    size_t i = 0;
    int rc = NOSTR_HTTP_MORE;
    if (consumed) *consumed = 0;
    if (p->state == NOSTR__HTTP_ERROR) return p->result;
    if (p->state == NOSTR__HTTP_DONE || (!data && len)) return NOSTR_ERR_ARG;
    while (i < len && rc == NOSTR_HTTP_MORE) {
        size_t start = i;
        if (p->state == NOSTR__HTTP_HEAD) rc = nostr__http_feed_head(p, s, len, &i);
        else rc = nostr__http_feed_body(p, s, len, &i);
        if (rc < 0) return rc;
        p->total += i - start;
    }
    if (rc == NOSTR_HTTP_DONE) nostr__http_finish_message(p);
    if (consumed) *consumed = i;
    return rc;
}

NOSTRDEF int nostr_http_finish(nostr_http_parser *p)
{
    switch (p->state) {
    case NOSTR__HTTP_DONE: return NOSTR_HTTP_DONE;
    case NOSTR__HTTP_ERROR: return p->result;
    case NOSTR__HTTP_BODY_EOF: nostr__http_finish_message(p); return NOSTR_HTTP_DONE;
    default:
        if (p->state == NOSTR__HTTP_HEAD && !p->saw_start && !p->prev_cr && p->line_start == p->head.len) {
            /* nothing but (skipped) empty lines: a clean close between messages */
            p->err.code = NOSTR_ERR_CLOSED;
            p->err.offset = 0;
            p->err.msg = "connection closed";
            return NOSTR_ERR_CLOSED;
        }
        return nostr__http_bad(p, p->total, "connection closed in the middle of a message");
    }
}

/* ---- header lookup ---- */

NOSTRDEF const nostr_str *nostr_http_header(const nostr_http_message *msg, const char *name)
{
    size_t k;
    for (k = 0; k < msg->header_count; k++) {
        if (nostr__http_ieq(msg->headers[k].name.ptr, msg->headers[k].name.len, name)) return &msg->headers[k].value;
    }
    return NULL;
}

NOSTRDEF int nostr_http_header_has_token(const nostr_http_message *msg, const char *name, const char *token)
{
    size_t k;
    for (k = 0; k < msg->header_count; k++) {
        const nostr_str *v = &msg->headers[k].value;
        const char *cur = v->ptr, *el;
        size_t el_len;
        if (!nostr__http_ieq(msg->headers[k].name.ptr, msg->headers[k].name.len, name)) continue;
        while (nostr__http_list_next(&cur, v->ptr + v->len, &el, &el_len)) {
            if (nostr__http_ieq(el, el_len, token)) return 1;
        }
    }
    return 0;
}

NOSTRDEF int nostr_http_keep_alive(const nostr_http_message *msg)
{
    return msg->keep_alive;
}

/* ---- writers ---- */

NOSTRDEF const char *nostr_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "";
    }
}

static int nostr__http_is_token(const char *s)
{
    if (!s || !*s) return 0;
    for (; *s; s++) {
        if (!nostr__http_is_tchar((unsigned char)*s)) return 0;
    }
    return 1;
}

/* Field values and reason phrases: no CR, LF or other controls, so a
 * caller's string can never inject a field or end the header section. */
static int nostr__http_is_text(const char *s)
{
    if (!s) return 0;
    for (; *s; s++) {
        if (nostr__http_is_ctl((unsigned char)*s)) return 0;
    }
    return 1;
}

static int nostr__http_is_target(const char *s)
{
    if (!s || !*s) return 0;
    for (; *s; s++) {
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f) return 0;
    }
    return 1;
}

static int nostr__http_check_fields(const nostr_http_kv *h, size_t n)
{
    size_t k;
    if (n && !h) return 0;
    for (k = 0; k < n; k++) {
        if (!nostr__http_is_token(h[k].name) || !nostr__http_is_text(h[k].value)) return 0;
    }
    return 1;
}

static int nostr__http_put_field(nostr_buf *out, const char *name, const char *value)
{
    int rc = nostr_buf_append_str(out, name);
    if (!rc) rc = nostr_buf_append(out, ": ", 2);
    if (!rc) rc = nostr_buf_append_str(out, value);
    if (!rc) rc = nostr_buf_append(out, "\r\n", 2);
    return rc;
}

/* The fields, Content-Length (when with_length), blank line and body. */
static int nostr__http_put_tail(nostr_buf *out, const nostr_http_kv *h, size_t n, int with_length, const void *body,
                                size_t body_len)
{
    size_t k;
    int rc = 0;
    for (k = 0; k < n && !rc; k++) rc = nostr__http_put_field(out, h[k].name, h[k].value);
    if (!rc && with_length) {
        rc = nostr_buf_append_str(out, "Content-Length: ");
        if (!rc) rc = nostr_buf_append_u64(out, (unsigned long long)body_len);
        if (!rc) rc = nostr_buf_append(out, "\r\n", 2);
    }
    if (!rc) rc = nostr_buf_append(out, "\r\n", 2);
    if (!rc && body_len) rc = nostr_buf_append(out, body, body_len);
    return rc;
}

/* Undo a partial write. */
static int nostr__http_rollback(nostr_buf *out, size_t len, int rc)
{
    if (rc && out->len > len) {
        out->len = len;
        out->data[len] = 0;
    }
    return rc;
}

NOSTRDEF int nostr_http_write_request(nostr_buf *out, const char *method, const char *host, const char *target,
                                      const nostr_http_kv *headers, size_t header_count, const void *body,
                                      size_t body_len)
{
    size_t start;
    int rc;
    if (!out || !nostr__http_is_token(method) || !nostr__http_is_target(target) || (host && !nostr__http_is_text(host)) ||
        !nostr__http_check_fields(headers, header_count) || (body_len && !body))
        return NOSTR_ERR_ARG;
    start = out->len;
    rc = nostr_buf_append_str(out, method);
    if (!rc) rc = nostr_buf_append_char(out, ' ');
    if (!rc) rc = nostr_buf_append_str(out, target);
    if (!rc) rc = nostr_buf_append(out, " HTTP/1.1\r\n", 11);
    if (!rc && host) rc = nostr__http_put_field(out, "Host", host);
    if (!rc) rc = nostr__http_put_tail(out, headers, header_count, body != NULL, body, body_len);
    return nostr__http_rollback(out, start, rc);
}

NOSTRDEF int nostr_http_write_response(nostr_buf *out, int status, const char *reason, const char *content_type,
                                       const nostr_http_kv *headers, size_t header_count, const void *body,
                                       size_t body_len, int keep_alive)
{
    size_t start;
    int rc, bodyless = status < 200 || status == 204 || status == 304;
    if (!reason) reason = nostr_http_reason(status);
    if (!out || status < 100 || status > 999 || !nostr__http_is_text(reason) ||
        (content_type && !nostr__http_is_text(content_type)) || !nostr__http_check_fields(headers, header_count) ||
        (body_len && (!body || bodyless)))
        return NOSTR_ERR_ARG;
    start = out->len;
    rc = nostr_buf_append(out, "HTTP/1.1 ", 9);
    if (!rc) rc = nostr_buf_append_u64(out, (unsigned long long)status);
    if (!rc) rc = nostr_buf_append_char(out, ' ');
    if (!rc) rc = nostr_buf_append_str(out, reason);
    if (!rc) rc = nostr_buf_append(out, "\r\n", 2);
    if (!rc && content_type) rc = nostr__http_put_field(out, "Content-Type", content_type);
    if (!rc && !keep_alive && status >= 200) rc = nostr__http_put_field(out, "Connection", "close");
    if (!rc) rc = nostr__http_put_tail(out, headers, header_count, !bodyless, body, body_len);
    return nostr__http_rollback(out, start, rc);
}

/* ---- query strings ---- */

NOSTRDEF int nostr_http_percent_decode(nostr_buf *out, const char *s, size_t len, int plus_as_space)
{
    size_t i, n = 0;
    char *d;
    int rc;
    for (i = 0; i < len; i++) {
        if (s[i] != '%') continue;
        if (len - i < 3 || nostr__http_hexval((unsigned char)s[i + 1]) < 0 || nostr__http_hexval((unsigned char)s[i + 2]) < 0)
            return NOSTR_ERR_HTTP;
    }
    rc = nostr_buf_reserve(out, len);
    if (rc) return rc;
    d = out->data + out->len;
    for (i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            c = (char)(nostr__http_hexval((unsigned char)s[i + 1]) * 16 + nostr__http_hexval((unsigned char)s[i + 2]));
            i += 2;
        } else if (c == '+' && plus_as_space) {
            c = ' ';
        }
        d[n++] = c;
    }
    out->len += n;
    out->data[out->len] = 0;
    return NOSTR_OK;
}

NOSTRDEF int nostr_http_percent_encode(nostr_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i, start = out->len;
    int rc = 0;
    for (i = 0; i < len && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            rc = nostr_buf_append_char(out, (char)c);
        } else {
            char esc[3];
            esc[0] = '%';
            esc[1] = hex[c >> 4];
            esc[2] = hex[c & 15];
            rc = nostr_buf_append(out, esc, 3);
        }
    }
    return nostr__http_rollback(out, start, rc);
}

NOSTRDEF void nostr_http_query_begin(nostr_http_query_iter *it, const char *s, size_t len, int is_query)
{
    const char *end = s + len, *hash;
    if (!is_query) {
        const char *q = (const char *)memchr(s, '?', len);
        s = q ? q + 1 : end;
    }
    hash = (const char *)memchr(s, '#', (size_t)(end - s));
    it->p = s;
    it->end = hash ? hash : end;
}

NOSTRDEF int nostr_http_query_next(nostr_http_query_iter *it, nostr_str *raw_name, nostr_str *raw_value)
{
    while (it->p < it->end) {
        const char *s = it->p, *amp = (const char *)memchr(s, '&', (size_t)(it->end - s));
        const char *e = amp ? amp : it->end, *eq;
        it->p = amp ? amp + 1 : it->end;
        if (e == s) continue; /* "a=1&&b=2" */
        eq = (const char *)memchr(s, '=', (size_t)(e - s));
        raw_name->ptr = s;
        raw_name->len = (size_t)((eq ? eq : e) - s);
        raw_value->ptr = eq ? eq + 1 : e;
        raw_value->len = eq ? (size_t)(e - eq - 1) : 0;
        return 1;
    }
    return 0;
}

/* Does the encoded `raw` decode to the C string `name`? A bad escape is
 * no match. */
static int nostr__http_name_matches(const nostr_str *raw, const char *name)
{
    size_t i = 0;
    for (; i < raw->len; i++, name++) {
        int c = (unsigned char)raw->ptr[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi, lo;
            if (raw->len - i < 3) return 0;
            hi = nostr__http_hexval((unsigned char)raw->ptr[i + 1]);
            lo = nostr__http_hexval((unsigned char)raw->ptr[i + 2]);
            if (hi < 0 || lo < 0) return 0;
            c = hi * 16 + lo;
            i += 2;
        }
        if (!*name || (unsigned char)*name != c) return 0;
    }
    return *name == 0;
}

NOSTRDEF int nostr_http_query_param(const char *target, size_t target_len, const char *name, nostr_buf *out)
{
    nostr_http_query_iter it;
    nostr_str n, v;
    int rc;
    nostr_http_query_begin(&it, target, target_len, 0);
    while (nostr_http_query_next(&it, &n, &v)) {
        if (!nostr__http_name_matches(&n, name)) continue;
        rc = nostr_http_percent_decode(out, v.ptr, v.len, 1);
        return rc ? rc : 1;
    }
    return 0;
}
