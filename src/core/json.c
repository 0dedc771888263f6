/* ---- json: implementation ---- */

NOSTRDEF void nostr_limits_resolve(nostr_limits *out, const nostr_limits *in)
{
    nostr_limits z;
    if (!in) {
        memset(&z, 0, sizeof z);
        in = &z;
    }
    out->max_input = in->max_input ? in->max_input : NOSTR_DEFAULT_MAX_INPUT;
    out->max_depth = in->max_depth ? in->max_depth : NOSTR_DEFAULT_MAX_DEPTH;
    if (out->max_depth > 63) out->max_depth = 63;
    out->max_string = in->max_string ? in->max_string : NOSTR_DEFAULT_MAX_STRING;
    out->max_tags = in->max_tags ? in->max_tags : NOSTR_DEFAULT_MAX_TAGS;
    out->max_tag_items = in->max_tag_items ? in->max_tag_items : NOSTR_DEFAULT_MAX_TAG_ITEMS;
    out->max_filters = in->max_filters ? in->max_filters : NOSTR_DEFAULT_MAX_FILTERS;
    out->max_filter_values = in->max_filter_values ? in->max_filter_values : NOSTR_DEFAULT_MAX_FILTER_VALUES;
}

NOSTRDEF void nostr_json_init(nostr_json *r, const char *json, size_t len, const nostr_limits *lim)
{
    nostr_limits_resolve(&r->lim, lim);
    r->start = r->p = json;
    r->end = json + len;
    r->depth = 0;
    r->err.code = 0;
    r->err.offset = 0;
    r->err.msg = NULL;
    if (len > r->lim.max_input) nostr_json_fail(r, NOSTR_ERR_TOO_LARGE, "input larger than max_input");
}

NOSTRDEF size_t nostr_json_offset(const nostr_json *r)
{
    return (size_t)(r->p - r->start);
}

NOSTRDEF int nostr_json_fail(nostr_json *r, int code, const char *msg)
{
    if (!r->err.code) {
        r->err.code = code;
        r->err.offset = (size_t)(r->p - r->start);
        r->err.msg = msg;
    }
    return r->err.code;
}

static int nostr__json_fail_at(nostr_json *r, const char *at, int code, const char *msg)
{
    if (!r->err.code) r->p = at;
    return nostr_json_fail(r, code, msg);
}

static void nostr__json_ws(nostr_json *r)
{
    const char *p = r->p, *e = r->end;
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    r->p = p;
}

NOSTRDEF int nostr_json_peek(nostr_json *r)
{
    if (r->err.code) return NOSTR_JSON_NONE;
    nostr__json_ws(r);
    if (r->p >= r->end) return NOSTR_JSON_NONE;
    switch (*r->p) {
    case '{': return NOSTR_JSON_OBJECT;
    case '[': return NOSTR_JSON_ARRAY;
    case '"': return NOSTR_JSON_STRING;
    case 't': return NOSTR_JSON_TRUE;
    case 'f': return NOSTR_JSON_FALSE;
    case 'n': return NOSTR_JSON_NULL;
    default:
        if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9')) return NOSTR_JSON_NUMBER;
        return NOSTR_JSON_NONE;
    }
}

/* Expect a value of type `want` next; fail with NOSTR_ERR_FIELD (wrong
 * type) or NOSTR_ERR_JSON (not a value at all). */
static int nostr__json_expect(nostr_json *r, int want, const char *msg)
{
    int t = nostr_json_peek(r);
    if (r->err.code) return r->err.code;
    if (t == want) return NOSTR_OK;
    if (t == NOSTR_JSON_NONE) {
        if (r->p >= r->end) return nostr_json_fail(r, NOSTR_ERR_JSON, "unexpected end of input");
        return nostr_json_fail(r, NOSTR_ERR_JSON, "expected a JSON value");
    }
    return nostr_json_fail(r, NOSTR_ERR_FIELD, msg);
}

/* first[depth]: bit 0 = no member read yet, bit 1 = the container is an object. */
static int nostr__json_push(nostr_json *r, int is_object)
{
    if (r->depth >= r->lim.max_depth) return nostr_json_fail(r, NOSTR_ERR_DEPTH, "nesting deeper than max_depth");
    r->depth++;
    r->first[r->depth] = (unsigned char)(1 | (is_object ? 2 : 0));
    r->p++;
    return NOSTR_OK;
}

NOSTRDEF int nostr_json_object_begin(nostr_json *r)
{
    int rc = nostr__json_expect(r, NOSTR_JSON_OBJECT, "expected an object");
    return rc ? rc : nostr__json_push(r, 1);
}

NOSTRDEF int nostr_json_array_begin(nostr_json *r)
{
    int rc = nostr__json_expect(r, NOSTR_JSON_ARRAY, "expected an array");
    return rc ? rc : nostr__json_push(r, 0);
}

/* Shared by object_next and array_next: consume ',' between members or
 * the closing bracket. Returns 1 if a member follows, 0 at the end. */
static int nostr__json_next(nostr_json *r, char close)
{
    if (r->err.code) return r->err.code;
    nostr__json_ws(r);
    if (r->p >= r->end) return nostr_json_fail(r, NOSTR_ERR_JSON, "unexpected end of input");
    if (*r->p == close) {
        r->p++;
        r->depth--;
        return 0;
    }
    if (r->first[r->depth] & 1) {
        r->first[r->depth] &= (unsigned char)~1u;
        return 1;
    }
    if (*r->p != ',')
        return nostr_json_fail(r, NOSTR_ERR_JSON, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    r->p++;
    nostr__json_ws(r);
    if (r->p < r->end && *r->p == close) return nostr_json_fail(r, NOSTR_ERR_JSON, "trailing comma");
    return 1;
}

NOSTRDEF int nostr_json_array_next(nostr_json *r)
{
    return nostr__json_next(r, ']');
}

/* Length of the UTF-8 sequence starting at p (which holds a byte >= 0x80),
 * or 0 when it is not well-formed (RFC 3629 table). */
static size_t nostr__utf8_seq(const unsigned char *p, const unsigned char *e)
{
    unsigned c = p[0];
    if (c >= 0xC2 && c <= 0xDF) {
        if (e - p >= 2 && (p[1] & 0xC0) == 0x80) return 2;
        return 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned lo = 0x80, hi = 0xBF;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no UTF-16 surrogates */
        if (e - p >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80) return 3;
        return 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned lo = 0x80, hi = 0xBF;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F; /* at most U+10FFFF */
        if (e - p >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80) return 4;
        return 0;
    }
    return 0;
}

NOSTRDEF int nostr_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *e = p + len;
    while (p < e) {
        uint64_t v;
        if (e - p >= 8 && (memcpy(&v, p, 8), (v & 0x8080808080808080ull) == 0)) {
            p += 8; /* eight ASCII bytes: most of a Nostr message */
        } else if (*p < 0x80) {
            p++;
        } else {
            size_t n = nostr__utf8_seq(p, e);
            if (!n) return 0;
            p += n;
        }
    }
    return 1;
}

/* 8 bytes at a time: does any byte need the slow path (quote, backslash,
 * control character, or non-ASCII)? */
static int nostr__json_plain8(const unsigned char *p)
{
    uint64_t v;
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    memcpy(&v, p, 8);
    {
        uint64_t q = v ^ (ones * '"');
        uint64_t b = v ^ (ones * '\\');
        uint64_t has_q = (q - ones) & ~q;
        uint64_t has_b = (b - ones) & ~b;
        uint64_t has_ctl = (v - ones * 0x20) & ~v;
        return (((has_q | has_b | has_ctl) & highs) | (v & highs)) == 0;
    }
}

static int nostr__hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    int i;
    for (i = 0; i < 4; i++) {
        int d = nostr__hexval((unsigned char)p[i], 1);
        if (d < 0) return 0;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return 1;
}

/* Scan the string at r->p (which is '"'), validating it. When dst is not
 * NULL, write the unescaped bytes there (the caller sized it with the raw
 * length, which is never less than the decoded one). Returns the decoded
 * length through *outlen. */
static int nostr__json_scan_string(nostr_json *r, char *dst, size_t *outlen)
{
    const unsigned char *p = (const unsigned char *)r->p + 1, *e = (const unsigned char *)r->end;
    size_t n = 0;
    for (;;) {
        const unsigned char *run = p;
        while (e - p >= 8 && nostr__json_plain8(p)) p += 8;
        while (p < e && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
        if (dst && p > run) memcpy(dst + n, run, (size_t)(p - run));
        n += (size_t)(p - run);
        if (p >= e) return nostr__json_fail_at(r, (const char *)p, NOSTR_ERR_JSON, "unterminated string");
        if (*p == '"') {
            p++;
            break;
        }
        if (*p < 0x20) return nostr__json_fail_at(r, (const char *)p, NOSTR_ERR_JSON, "control character in string");
        if (*p >= 0x80) {
            size_t k = nostr__utf8_seq(p, e);
            if (!k) return nostr__json_fail_at(r, (const char *)p, NOSTR_ERR_UTF8, "invalid UTF-8 in string");
            if (dst) memcpy(dst + n, p, k);
            n += k;
            p += k;
            continue;
        }
        /* backslash escape */
        if (e - p < 2) return nostr__json_fail_at(r, (const char *)p, NOSTR_ERR_JSON, "unterminated string");
        {
            char c = 0;
            switch (p[1]) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '/': c = '/'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': break;
            default: return nostr__json_fail_at(r, (const char *)p, NOSTR_ERR_JSON, "invalid escape in string");
            }
            if (c) {
                if (dst) dst[n] = c;
                n++;
                p += 2;
                continue;
            }
        }
        {
            unsigned cp, lo;
            unsigned char u[4];
            size_t k;
            if (e - p < 6 || !nostr__hex4((const char *)p + 2, &cp))
                return nostr__json_fail_at(r, (const char *)p, NOSTR_ERR_JSON, "invalid \\u escape");
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return nostr__json_fail_at(r, (const char *)p, NOSTR_ERR_UTF8, "lone low surrogate in \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (e - p < 12 || p[6] != '\\' || p[7] != 'u' || !nostr__hex4((const char *)p + 8, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return nostr__json_fail_at(r, (const char *)p, NOSTR_ERR_UTF8, "lone high surrogate in \\u escape");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 12;
            } else {
                p += 6;
            }
            if (cp < 0x80) {
                u[0] = (unsigned char)cp;
                k = 1;
            } else if (cp < 0x800) {
                u[0] = (unsigned char)(0xC0 | cp >> 6);
                u[1] = (unsigned char)(0x80 | (cp & 0x3F));
                k = 2;
            } else if (cp < 0x10000) {
                u[0] = (unsigned char)(0xE0 | cp >> 12);
                u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
                u[2] = (unsigned char)(0x80 | (cp & 0x3F));
                k = 3;
            } else {
                u[0] = (unsigned char)(0xF0 | cp >> 18);
                u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
                u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
                u[3] = (unsigned char)(0x80 | (cp & 0x3F));
                k = 4;
            }
            if (dst) memcpy(dst + n, u, k);
            n += k;
        }
    }
    if (n > r->lim.max_string) return nostr_json_fail(r, NOSTR_ERR_TOO_LARGE, "string longer than max_string");
    r->p = (const char *)p;
    *outlen = n;
    return NOSTR_OK;
}

/* Raw length of the string at r->p up to and including its closing
 * quote, found without validating (validation follows in the scan). */
static size_t nostr__json_raw_len(const nostr_json *r)
{
    const char *p = r->p + 1;
    while (p < r->end) {
        const char *q = (const char *)memchr(p, '"', (size_t)(r->end - p));
        const char *b;
        size_t bs = 0;
        if (!q) break;
        for (b = q; b > p && b[-1] == '\\'; b--) bs++;
        if (!(bs & 1)) return (size_t)(q + 1 - r->p);
        p = q + 1;
    }
    return (size_t)(r->end - r->p);
}

NOSTRDEF int nostr_json_string(nostr_json *r, nostr_arena *a, nostr_str *out)
{
    int rc = nostr__json_expect(r, NOSTR_JSON_STRING, "expected a string");
    size_t raw, n = 0;
    char *dst;
    if (rc) return rc;
    raw = nostr__json_raw_len(r);
    dst = (char *)nostr_arena_alloc(a, raw);
    if (!dst) return nostr_json_fail(r, NOSTR_ERR_NOMEM, "out of memory");
    rc = nostr__json_scan_string(r, dst, &n);
    if (rc) return rc;
    dst[n] = 0; /* raw >= n + 1: the closing quote's byte holds the NUL */
    out->ptr = dst;
    out->len = n;
    return NOSTR_OK;
}

NOSTRDEF int nostr_json_string_buf(nostr_json *r, char *buf, size_t cap, size_t *len)
{
    int rc = nostr__json_expect(r, NOSTR_JSON_STRING, "expected a string");
    size_t n = 0;
    if (rc) return rc;
    if (nostr__json_raw_len(r) <= cap) {
        rc = nostr__json_scan_string(r, buf, &n);
        if (rc) return rc;
        if (n >= cap) return nostr_json_fail(r, NOSTR_ERR_TOO_LARGE, "string longer than its buffer");
        buf[n] = 0;
        *len = n;
        return NOSTR_OK;
    }
    /* Too long for the buffer in raw form: decode to learn the real size. */
    {
        const char *at = r->p;
        rc = nostr__json_scan_string(r, NULL, &n);
        if (rc) return rc;
        if (n < cap) {
            r->p = at;
            rc = nostr__json_scan_string(r, buf, &n);
            if (rc) return rc;
            buf[n] = 0;
            *len = n;
            return NOSTR_OK;
        }
        return nostr__json_fail_at(r, at, NOSTR_ERR_TOO_LARGE, "string longer than its buffer");
    }
}

NOSTRDEF int nostr_json_object_next(nostr_json *r, char *key, size_t cap, size_t *keylen)
{
    int rc = nostr__json_next(r, '}');
    if (rc <= 0) return rc;
    nostr__json_ws(r);
    if (r->p >= r->end || *r->p != '"') return nostr_json_fail(r, NOSTR_ERR_JSON, "expected a string key");
    {
        const char *at = r->p;
        size_t n = 0;
        if (nostr__json_raw_len(r) <= cap) {
            rc = nostr__json_scan_string(r, key, &n);
            if (rc) return rc;
        } else {
            rc = nostr__json_scan_string(r, NULL, &n);
            if (rc) return rc;
            if (n < cap) {
                r->p = at;
                rc = nostr__json_scan_string(r, key, &n);
                if (rc) return rc;
            }
        }
        if (n >= cap) {
            n = cap;
            if (cap) key[0] = 0;
        } else {
            key[n] = 0;
        }
        *keylen = n;
    }
    nostr__json_ws(r);
    if (r->p >= r->end || *r->p != ':') return nostr_json_fail(r, NOSTR_ERR_JSON, "expected ':' after key");
    r->p++;
    return 1;
}

NOSTRDEF int nostr_json_hex(nostr_json *r, unsigned char *out, size_t n)
{
    const char *at;
    int rc = nostr__json_expect(r, NOSTR_JSON_STRING, "expected a hex string");
    if (rc) return rc;
    at = r->p;
    /* The common case: exactly 2n hex digits and a closing quote. */
    if ((size_t)(r->end - at) >= 2 * n + 2 && at[2 * n + 1] == '"' &&
        nostr_hex_decode(at + 1, 2 * n, out, n) == NOSTR_OK) {
        r->p = at + 2 * n + 2;
        return NOSTR_OK;
    }
    {
        size_t len = 0;
        rc = nostr__json_scan_string(r, NULL, &len);
        if (rc) return rc;
        return nostr__json_fail_at(r, at, NOSTR_ERR_HEX,
                                   len == 2 * n ? "expected lowercase hex" : "hex string has the wrong length");
    }
}

/* Scan a JSON number at r->p. Sets *is_int when it has no fraction or
 * exponent; returns the end pointer or NULL when malformed. */
static const char *nostr__json_number_end(const char *p, const char *e, int *is_int)
{
    *is_int = 1;
    if (p < e && *p == '-') p++;
    if (p >= e) return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < e && *p >= '0' && *p <= '9') p++;
    } else {
        return NULL;
    }
    if (p < e && *p == '.') {
        *is_int = 0;
        p++;
        if (p >= e || *p < '0' || *p > '9') return NULL;
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        *is_int = 0;
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (p >= e || *p < '0' || *p > '9') return NULL;
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    return p;
}

NOSTRDEF int nostr_json_uint64(nostr_json *r, unsigned long long *out)
{
    int is_int;
    const char *end, *p;
    unsigned long long v = 0;
    int rc = nostr__json_expect(r, NOSTR_JSON_NUMBER, "expected a number");
    if (rc) return rc;
    end = nostr__json_number_end(r->p, r->end, &is_int);
    if (!end) return nostr_json_fail(r, NOSTR_ERR_JSON, "malformed number");
    if (!is_int) return nostr_json_fail(r, NOSTR_ERR_FIELD, "expected an integer");
    if (*r->p == '-') return nostr_json_fail(r, NOSTR_ERR_FIELD, "expected a non-negative integer");
    for (p = r->p; p < end; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (~0ull - d) / 10) return nostr_json_fail(r, NOSTR_ERR_TOO_LARGE, "integer too large");
        v = v * 10 + d;
    }
    r->p = end;
    *out = v;
    return NOSTR_OK;
}

NOSTRDEF int nostr_json_int64(nostr_json *r, long long *out)
{
    int neg, rc;
    unsigned long long v;
    if (nostr_json_peek(r) == NOSTR_JSON_NUMBER && *r->p == '-') {
        const char *at = r->p;
        r->p++;
        neg = 1;
        if (r->p >= r->end || *r->p < '0' || *r->p > '9')
            return nostr__json_fail_at(r, at, NOSTR_ERR_JSON, "malformed number");
        rc = nostr_json_uint64(r, &v);
        if (rc) {
            r->err.offset = (size_t)(at - r->start);
            return rc;
        }
    } else {
        neg = 0;
        rc = nostr_json_uint64(r, &v);
        if (rc) return rc;
    }
    if (v > (neg ? 9223372036854775808ull : 9223372036854775807ull))
        return nostr_json_fail(r, NOSTR_ERR_TOO_LARGE, "integer out of range");
    *out = neg ? (long long)(0 - v) : (long long)v;
    return NOSTR_OK;
}

static int nostr__json_literal(nostr_json *r, const char *lit, size_t n)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n) != 0)
        return nostr_json_fail(r, NOSTR_ERR_JSON, "invalid literal");
    r->p += n;
    return NOSTR_OK;
}

NOSTRDEF int nostr_json_bool(nostr_json *r, int *out)
{
    int t = nostr_json_peek(r);
    if (t == NOSTR_JSON_TRUE) {
        *out = 1;
        return nostr__json_literal(r, "true", 4);
    }
    if (t == NOSTR_JSON_FALSE) {
        *out = 0;
        return nostr__json_literal(r, "false", 5);
    }
    return nostr__json_expect(r, NOSTR_JSON_TRUE, "expected a boolean");
}

NOSTRDEF int nostr_json_null(nostr_json *r)
{
    int rc = nostr__json_expect(r, NOSTR_JSON_NULL, "expected null");
    return rc ? rc : nostr__json_literal(r, "null", 4);
}

NOSTRDEF int nostr_json_skip(nostr_json *r)
{
    size_t base = r->depth;
    char key[1];
    size_t kl;
    int rc;
    /* Iterative: containers push depth; each loop step consumes one token. */
    do {
        int t = nostr_json_peek(r);
        if (r->err.code) return r->err.code;
        switch (t) {
        case NOSTR_JSON_OBJECT:
            if ((rc = nostr_json_object_begin(r))) return rc;
            break;
        case NOSTR_JSON_ARRAY:
            if ((rc = nostr_json_array_begin(r))) return rc;
            break;
        case NOSTR_JSON_STRING: {
            size_t n;
            if ((rc = nostr__json_scan_string(r, NULL, &n))) return rc;
            break;
        }
        case NOSTR_JSON_NUMBER: {
            int is_int;
            const char *end = nostr__json_number_end(r->p, r->end, &is_int);
            if (!end) return nostr_json_fail(r, NOSTR_ERR_JSON, "malformed number");
            r->p = end;
            break;
        }
        case NOSTR_JSON_TRUE:
            if ((rc = nostr__json_literal(r, "true", 4))) return rc;
            break;
        case NOSTR_JSON_FALSE:
            if ((rc = nostr__json_literal(r, "false", 5))) return rc;
            break;
        case NOSTR_JSON_NULL:
            if ((rc = nostr__json_literal(r, "null", 4))) return rc;
            break;
        default: return nostr__json_expect(r, NOSTR_JSON_NULL, "expected a JSON value");
        }
        /* Move to the next value, closing every container that ends. */
        while (r->depth > base) {
            int more =
                (r->first[r->depth] & 2) ? nostr_json_object_next(r, key, sizeof key, &kl) : nostr_json_array_next(r);
            if (more < 0) return more;
            if (more > 0) break;
        }
    } while (r->depth > base);
    return r->err.code;
}

NOSTRDEF int nostr_json_finish(nostr_json *r)
{
    if (r->err.code) return r->err.code;
    nostr__json_ws(r);
    if (r->p != r->end) return nostr_json_fail(r, NOSTR_ERR_JSON, "trailing characters after JSON value");
    return NOSTR_OK;
}

/* Where escaped text goes: a nostr_buf here, a SHA-256 stream for event ids. */
typedef void (*nostr__json_emit_fn)(void *user, const void *p, size_t n);

/* Do the 8 bytes at p need no escaping (no quote, backslash or byte below
 * 0x20)? Non-ASCII passes: it is written verbatim. */
static int nostr__json_noescape8(const unsigned char *p)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t v, q, b;
    memcpy(&v, p, 8);
    q = v ^ (ones * '"');
    b = v ^ (ones * '\\');
    return ((((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v)) & highs) == 0;
}

/* The one escaper behind the canonical form, event JSON and every string
 * the writers emit, so the rules cannot drift apart (see json.h). */
static void nostr__json_escape(nostr__json_emit_fn emit, void *user, const char *str, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)str, *e = p + len;
    emit(user, "\"", 1);
    while (p < e) {
        const unsigned char *run = p;
        while (e - p >= 8 && nostr__json_noescape8(p)) p += 8;
        while (p < e && *p >= 0x20 && *p != '"' && *p != '\\') p++;
        if (p > run) emit(user, run, (size_t)(p - run));
        if (p >= e) break;
        {
            char esc[6] = {'\\', 0, 0, 0, 0, 0};
            size_t n = 2;
            switch (*p) {
            case '"': esc[1] = '"'; break;
            case '\\': esc[1] = '\\'; break;
            case '\n': esc[1] = 'n'; break;
            case '\r': esc[1] = 'r'; break;
            case '\t': esc[1] = 't'; break;
            case '\b': esc[1] = 'b'; break;
            case '\f': esc[1] = 'f'; break;
            default:
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex[*p >> 4];
                esc[5] = hex[*p & 15];
                n = 6;
            }
            emit(user, esc, n);
            p++;
        }
    }
    emit(user, "\"", 1);
}

typedef struct nostr__json_buf_emit {
    nostr_buf *b;
    int rc; /* first append error */
} nostr__json_buf_emit;

static void nostr__json_emit_buf(void *user, const void *p, size_t n)
{
    nostr__json_buf_emit *e = (nostr__json_buf_emit *)user;
    if (!e->rc) e->rc = nostr_buf_append(e->b, p, n);
}

NOSTRDEF int nostr_json_write_string(nostr_buf *b, const char *s, size_t len)
{
    nostr__json_buf_emit e;
    size_t before = b->len;
    e.b = b;
    e.rc = nostr_buf_reserve(b, len + 2); /* typical strings need no escapes */
    if (!e.rc) nostr__json_escape(nostr__json_emit_buf, &e, s, len);
    if (e.rc) {
        b->len = before; /* nothing half-written */
        if (b->cap) b->data[before] = 0;
    }
    return e.rc;
}
