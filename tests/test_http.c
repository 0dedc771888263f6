/* The incremental HTTP/1.1 parser and writers: recorded byte streams
 * parsed whole, byte by byte and split at every point (same transcript
 * each time, with the fed bytes scribbled over and freed after each feed,
 * so the message may not point into them), malformed input with the
 * right status hint, limits, keep-alive, writers round-tripping through
 * the parser, query strings. */
#include "test.h"

#define LEN(s) (sizeof(s) - 1)

/* ---- recorded streams ---- */

static const char browser_get[] =
    "GET /index.html?lang=en&q=nostr+relay HTTP/1.1\r\n"
    "Host: relay.example.com\r\n"
    "Connection: keep-alive\r\n"
    "sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n"
    "sec-ch-ua-mobile: ?0\r\n"
    "sec-ch-ua-platform: \"Linux\"\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
    "application/signed-exchange;v=b3;q=0.7\r\n"
    "Sec-Fetch-Site: none\r\n"
    "Sec-Fetch-Mode: navigate\r\n"
    "Sec-Fetch-User: ?1\r\n"
    "Sec-Fetch-Dest: document\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n"
    "Cookie: theme=dark; session=\xc3\xa9t\xc3\xa9\r\n"
    "If-None-Match: \"5f3a-1a2b\"\r\n"
    "\r\n";

static const char ws_upgrade[] =
    "GET /nostr HTTP/1.1\r\n"
    "Host: relay.example.com:7777\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0\r\n"
    "Upgrade: websocket\r\n"
    "Origin: https://snort.social\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "\r\n"
    /* the client's first frame, masked: ["REQ","s",{}] */
    "\x81\x8e\x01\x02\x03\x04"
    "\x5a\x20\x51\x41\x50\x20\x2f\x26\x72\x20\x2f\x7f\x7c\x5f";

static const char nip11_get[] =
    "GET / HTTP/1.1\r\n"
    "Host: relay.example.com\r\n"
    "User-Agent: curl/8.5.0\r\n"
    "Accept: application/nostr+json\r\n"
    "\r\n";

static const char post_json[] =
    "POST /api/v1/events?dry_run=1 HTTP/1.1\r\n"
    "Host: gateway.example.com\r\n"
    "User-Agent: python-requests/2.31.0\r\n"
    "Accept-Encoding: gzip, deflate\r\n"
    "Accept: */*\r\n"
    "Connection: keep-alive\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 61\r\n"
    "\r\n"
    "{\"kind\":1,\"content\":\"hello\\r\\n\\r\\nworld\",\"tags\":[],\"ok\":true}";

static const char chunked_response[] =
    "HTTP/1.1 200 OK\r\n"
    "Server: nginx/1.24.0\r\n"
    "Date: Tue, 14 May 2024 09:12:01 GMT\r\n"
    "Content-Type: application/nostr+json\r\n"
    "Transfer-Encoding: chunked\r\n"
    "Connection: keep-alive\r\n"
    "Access-Control-Allow-Origin: *\r\n"
    "\r\n"
    "1a\r\n"
    "{\"name\":\"relay\",\"pubkey\":\"\r\n"
    "10;ext=\"a b\"\r\n"
    "abcdef0123456789\r\n"
    "0C \r\n" /* BWS before the CRLF */
    "\",\"x\":[1,2]}\r\n"
    "0\r\n"
    "Expires: never\r\n"
    "X-Trailer: 1\r\n"
    "\r\n";

static const char pipelined[] =
    "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    "GET /b?x=%20y HTTP/1.1\r\nHost: h\r\nAccept: application/nostr+json\r\n\r\n"
    "POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
    "\r\n" /* a stray CRLF after a body is skipped (RFC 9112 section 2.2) */
    "GET /d HTTP/1.0\r\n\r\n";

static const char ws_101[] =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "\r\n"
    "\x81\x05hello"
    "\x89\x00";

static const char close_delimited[] =
    "HTTP/1.0 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "until the connection closes\r\n\r\n";

/* ---- the transcript of a parse under a given split ---- */

static int problems; /* non-NUL-terminated strings, short MORE consumption */

static void put_str(nostr_buf *t, const char *label, nostr_str s)
{
    if (!s.ptr || s.ptr[s.len] != 0) problems++;
    nostr_buf_append_str(t, label);
    nostr_buf_append_char(t, '[');
    if (s.ptr) nostr_buf_append(t, s.ptr, s.len);
    nostr_buf_append_str(t, "]");
}

static void summarize(nostr_buf *t, const nostr_http_message *m, size_t end)
{
    char tmp[160];
    size_t k;
    if (m->is_response) {
        snprintf(tmp, sizeof tmp, "RESP %d 1.%d ", m->status, m->version_minor);
        nostr_buf_append_str(t, tmp);
        put_str(t, "reason", m->reason);
    } else {
        snprintf(tmp, sizeof tmp, "REQ 1.%d ", m->version_minor);
        nostr_buf_append_str(t, tmp);
        put_str(t, "method", m->method);
        put_str(t, " target", m->target);
        put_str(t, " path", m->path);
        put_str(t, " query", m->query);
    }
    nostr_buf_append_char(t, '\n');
    for (k = 0; k < m->header_count; k++) {
        put_str(t, "  H ", m->headers[k].name);
        put_str(t, "=", m->headers[k].value);
        nostr_buf_append_char(t, '\n');
    }
    snprintf(tmp, sizeof tmp, "  cl=%lld chunked=%d keep=%d upgrade=%d end=%lu ", m->content_length, m->chunked,
             m->keep_alive, m->upgrade, (unsigned long)end);
    nostr_buf_append_str(t, tmp);
    put_str(t, "body", m->body);
    nostr_buf_append_char(t, '\n');
}

/* A heap copy of exactly n bytes, so ASan sees any read past the end. */
static char *dup_exact(const char *s, size_t n)
{
    char *d = (char *)malloc(n ? n : 1);
    if (n) memcpy(d, s, n);
    return d;
}

static void scribble_free(char *p, size_t n)
{
    memset(p, 0xAA, n);
    free(p);
}

typedef struct run_opts {
    int kind;
    const nostr_http_config *cfg;
    int no_body; /* the response answers a HEAD */
    int eof;     /* the peer closes after the last byte */
} run_opts;

/* Feed `in` cut at cuts[0..ncuts) (increasing), resetting after each
 * message; stop at an Upgrade/101 (the rest is another protocol) or an
 * error. Writes everything observable into t. */
static void run(const run_opts *o, const char *in, size_t len, const size_t *cuts, size_t ncuts, nostr_buf *t)
{
    nostr_http_parser p;
    size_t piece, a = 0, msg_start = 0;
    int stopped = 0;
    char tmp[160];
    nostr_buf_clear(t);
    nostr_http_parser_init(&p, o->kind, o->cfg);
    if (o->no_body) nostr_http_parser_no_body(&p);
    for (piece = 0; piece <= ncuts && !stopped; piece++) {
        size_t b = piece < ncuts ? cuts[piece] : len, n = b - a, off = 0;
        char *copy = dup_exact(in + a, n);
        while (off < n && !stopped) {
            size_t used = 12345;
            int rc = nostr_http_feed(&p, copy + off, n - off, &used);
            if (rc == NOSTR_HTTP_DONE) {
                /* the message must not point into the fed bytes */
                size_t rest = n - off - used;
                char *next = dup_exact(copy + off + used, rest);
                scribble_free(copy, n);
                copy = next;
                a += off + used;
                n = rest;
                off = 0;
                summarize(t, &p.msg, a);
                msg_start = a;
                if (p.msg.upgrade) {
                    snprintf(tmp, sizeof tmp, "REST %lu\n", (unsigned long)(len - a));
                    nostr_buf_append_str(t, tmp);
                    stopped = 1;
                }
                nostr_http_parser_reset(&p);
            } else if (rc == NOSTR_HTTP_MORE) {
                if (used != n - off) problems++;
                off = n;
            } else {
                snprintf(tmp, sizeof tmp, "ERR %d hint %d at %lu: %s\n", rc, p.status_hint,
                         (unsigned long)(msg_start + p.err.offset), p.err.msg ? p.err.msg : "(null)");
                nostr_buf_append_str(t, tmp);
                if (nostr_http_feed(&p, "x", 1, NULL) != rc) problems++; /* sticky */
                stopped = 1;
            }
        }
        scribble_free(copy, n);
        a += off;
    }
    if (!stopped && o->eof) {
        int rc = nostr_http_finish(&p);
        if (rc == NOSTR_HTTP_DONE) summarize(t, &p.msg, len);
        snprintf(tmp, sizeof tmp, "EOF %d hint %d\n", rc, p.status_hint);
        nostr_buf_append_str(t, tmp);
    }
    nostr_http_parser_free(&p);
}

/* Parse whole, byte by byte and at every split into two pieces (and a
 * few three-piece splits); every transcript must equal the whole one,
 * which is returned in t. Returns the number of disagreeing splits. */
static int splits_agree(const run_opts *o, const char *in, size_t len, nostr_buf *t)
{
    nostr_buf other;
    size_t *cuts = (size_t *)malloc((len + 1) * sizeof(size_t));
    size_t k, j;
    int bad = 0;
    nostr_buf_init(&other, NULL);
    run(o, in, len, NULL, 0, t);
    for (k = 1; k < len; k++) cuts[k - 1] = k;
    run(o, in, len, cuts, len ? len - 1 : 0, &other);
    if (other.len != t->len || memcmp(other.data, t->data, t->len) != 0) {
        bad++;
        fprintf(stderr, "byte-by-byte differs:\n%s\n--- whole:\n%s\n", other.data, t->data);
    }
    for (k = 0; k <= len; k++) {
        cuts[0] = k;
        run(o, in, len, cuts, 1, &other);
        if (other.len != t->len || memcmp(other.data, t->data, t->len) != 0) {
            if (!bad) fprintf(stderr, "split at %lu differs:\n%s\n--- whole:\n%s\n", (unsigned long)k, other.data, t->data);
            bad++;
        }
    }
    for (k = 1; k < len; k += 7) {
        for (j = k; j <= len; j += 13) {
            cuts[0] = k;
            cuts[1] = j;
            run(o, in, len, cuts, 2, &other);
            if (other.len != t->len || memcmp(other.data, t->data, t->len) != 0) bad++;
        }
    }
    nostr_buf_free(&other);
    free(cuts);
    return bad;
}

static int contains(const nostr_buf *t, const char *needle)
{
    return t->data && strstr(t->data, needle) != NULL;
}

/* Count lines starting with prefix. */
static int count_lines(const nostr_buf *t, const char *prefix)
{
    const char *s = t->data;
    int n = 0;
    size_t pl = strlen(prefix);
    while (s && *s) {
        if (strncmp(s, prefix, pl) == 0) n++;
        s = strchr(s, '\n');
        if (s) s++;
    }
    return n;
}

static nostr_buf T;

static void streams_check(int kind, const char *in, size_t len, int eof)
{
    run_opts o;
    memset(&o, 0, sizeof o);
    o.kind = kind;
    o.eof = eof;
    problems = 0;
    CHECK_EQ(splits_agree(&o, in, len, &T), 0);
    CHECK_EQ(problems, 0);
}

static void test_browser_get(void)
{
    streams_check(NOSTR_HTTP_REQUEST, browser_get, LEN(browser_get), 0);
    CHECK(contains(&T, "REQ 1.1 method[GET] target[/index.html?lang=en&q=nostr+relay] path[/index.html] "
                       "query[lang=en&q=nostr+relay]\n"));
    CHECK_EQ(count_lines(&T, "  H "), 16);
    CHECK(contains(&T, "  H [Cookie]=[theme=dark; session=\xc3\xa9t\xc3\xa9]\n")); /* obs-text kept */
    CHECK(contains(&T, "  H [sec-ch-ua-mobile]=[?0]\n"));
    CHECK(contains(&T, "cl=-1 chunked=0 keep=1 upgrade=0 end=" ));
    CHECK(contains(&T, "body[]"));
    CHECK_EQ(count_lines(&T, "REQ"), 1);
    CHECK(!contains(&T, "ERR"));
}

static void test_ws_upgrade(void)
{
    char want[64];
    streams_check(NOSTR_HTTP_REQUEST, ws_upgrade, LEN(ws_upgrade), 0);
    CHECK(contains(&T, "method[GET] target[/nostr]"));
    CHECK(contains(&T, "  H [Sec-WebSocket-Key]=[dGhlIHNhbXBsZSBub25jZQ==]\n"));
    CHECK(contains(&T, "keep=1 upgrade=1"));
    /* consumed stops exactly before the frame: 20 frame bytes left */
    snprintf(want, sizeof want, "end=%lu ", (unsigned long)(LEN(ws_upgrade) - 20));
    CHECK(contains(&T, want));
    CHECK(contains(&T, "REST 20\n"));
}

static void test_nip11_get(void)
{
    nostr_http_parser p;
    size_t used;
    const nostr_str *accept;
    streams_check(NOSTR_HTTP_REQUEST, nip11_get, LEN(nip11_get), 1);
    CHECK(contains(&T, "  H [Accept]=[application/nostr+json]\n"));
    CHECK(contains(&T, "EOF -32 hint 0\n")); /* a clean close between messages */
    nostr_http_parser_init(&p, NOSTR_HTTP_REQUEST, NULL);
    CHECK_EQ(nostr_http_feed(&p, nip11_get, LEN(nip11_get), &used), NOSTR_HTTP_DONE);
    CHECK_EQ(used, LEN(nip11_get));
    accept = nostr_http_header(&p.msg, "accept");
    CHECK(accept != NULL);
    if (accept) CHECK_STR(accept->ptr, "application/nostr+json");
    CHECK(nostr_http_header(&p.msg, "ACCEPT") == accept);
    CHECK(nostr_http_header(&p.msg, "Accep") == NULL);
    CHECK(nostr_http_header(&p.msg, "Accept-Encoding") == NULL);
    CHECK_STR(nostr_http_header(&p.msg, "host")->ptr, "relay.example.com");
    CHECK_EQ(nostr_http_header_has_token(&p.msg, "accept", "application/nostr+json"), 1);
    CHECK_EQ(nostr_http_keep_alive(&p.msg), 1);
    /* feeding again before a reset is a caller bug */
    CHECK_EQ(nostr_http_feed(&p, "GET", 3, &used), NOSTR_ERR_ARG);
    CHECK_EQ(used, 0);
    CHECK_EQ(nostr_http_finish(&p), NOSTR_HTTP_DONE);
    nostr_http_parser_free(&p);
}

static void test_post_json(void)
{
    streams_check(NOSTR_HTTP_REQUEST, post_json, LEN(post_json), 1);
    CHECK(contains(&T, "method[POST] target[/api/v1/events?dry_run=1] path[/api/v1/events] query[dry_run=1]"));
    CHECK(contains(&T, "cl=61 chunked=0 keep=1 upgrade=0"));
    CHECK(contains(&T, "body[{\"kind\":1,\"content\":\"hello\\r\\n\\r\\nworld\",\"tags\":[],\"ok\":true}]"));
    CHECK(contains(&T, "EOF -32"));
}

static void test_chunked_response(void)
{
    streams_check(NOSTR_HTTP_RESPONSE, chunked_response, LEN(chunked_response), 1);
    CHECK(contains(&T, "RESP 200 1.1 reason[OK]\n"));
    CHECK(contains(&T, "cl=-1 chunked=1 keep=1 upgrade=0"));
    CHECK(contains(&T, "body[{\"name\":\"relay\",\"pubkey\":\"abcdef0123456789\",\"x\":[1,2]}]"));
    CHECK(!contains(&T, "Expires")); /* trailers are skipped */
    CHECK(contains(&T, "EOF -32"));
}

static void test_pipelined(void)
{
    char want[64];
    streams_check(NOSTR_HTTP_REQUEST, pipelined, LEN(pipelined), 1);
    CHECK_EQ(count_lines(&T, "REQ"), 4);
    CHECK(contains(&T, "target[/a]"));
    CHECK(contains(&T, "target[/b?x=%20y] path[/b] query[x=%20y]"));
    CHECK(contains(&T, "  H [Accept]=[application/nostr+json]\n"));
    CHECK(contains(&T, "cl=5 chunked=0 keep=1 upgrade=0 end=148 body[hello]"));
    CHECK(contains(&T, "REQ 1.0 method[GET] target[/d]"));
    snprintf(want, sizeof want, "keep=0 upgrade=0 end=%lu body[]", (unsigned long)LEN(pipelined));
    CHECK(contains(&T, want)); /* HTTP/1.0 without keep-alive */
    CHECK(!contains(&T, "ERR"));
    CHECK(contains(&T, "EOF -32"));
    CHECK_EQ(148, LEN("GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
                      "GET /b?x=%20y HTTP/1.1\r\nHost: h\r\nAccept: application/nostr+json\r\n\r\n"
                      "POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"));
}

static void test_ws_101(void)
{
    streams_check(NOSTR_HTTP_RESPONSE, ws_101, LEN(ws_101), 0);
    CHECK(contains(&T, "RESP 101 1.1 reason[Switching Protocols]\n"));
    CHECK(contains(&T, "  H [Sec-WebSocket-Accept]=[s3pPLMBiTxaQ9kYGzzhZRbK+xOo=]\n"));
    CHECK(contains(&T, "upgrade=1"));
    CHECK(contains(&T, "REST 9\n")); /* 7 + 2 frame bytes left to the WebSocket */
}

static void test_close_delimited(void)
{
    nostr_http_parser p;
    streams_check(NOSTR_HTTP_RESPONSE, close_delimited, LEN(close_delimited), 1);
    CHECK(contains(&T, "RESP 200 1.0 reason[OK]\n"));
    CHECK(contains(&T, "cl=-1 chunked=0 keep=0 upgrade=0 end=76 body[until the connection closes\r\n\r\n]"));
    CHECK(contains(&T, "EOF 2 hint 0\n"));
    CHECK_EQ(LEN(close_delimited), 76);
    /* closed in the middle of a message: truncated */
    nostr_http_parser_init(&p, NOSTR_HTTP_REQUEST, NULL);
    CHECK_EQ(nostr_http_feed(&p, "GET / HTTP/1.1\r\nHo", 18, NULL), NOSTR_HTTP_MORE);
    CHECK_EQ(nostr_http_finish(&p), NOSTR_ERR_HTTP);
    CHECK_EQ(p.status_hint, 400);
    nostr_http_parser_reset(&p);
    CHECK_EQ(nostr_http_feed(&p, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab", 50, NULL),
             NOSTR_HTTP_MORE);
    CHECK_EQ(nostr_http_finish(&p), NOSTR_ERR_HTTP);
    nostr_http_parser_reset(&p);
    CHECK_EQ(nostr_http_feed(&p, "\r\n\r\n", 4, NULL), NOSTR_HTTP_MORE); /* only empty lines */
    CHECK_EQ(nostr_http_finish(&p), NOSTR_ERR_CLOSED);
    nostr_http_parser_reset(&p);
    CHECK_EQ(nostr_http_feed(&p, "\r\n\r", 3, NULL), NOSTR_HTTP_MORE);
    CHECK_EQ(nostr_http_finish(&p), NOSTR_ERR_HTTP);
    nostr_http_parser_free(&p);
}

/* ---- responses without a body ---- */

static void test_bodyless_responses(void)
{
    static const char head_resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
    static const char interim[] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n"
                                  "\r\nHTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok";
    run_opts o;
    memset(&o, 0, sizeof o);
    o.kind = NOSTR_HTTP_RESPONSE;
    o.no_body = 1; /* only the first: reset clears it */
    problems = 0;
    CHECK_EQ(splits_agree(&o, head_resp, LEN(head_resp), &T), 0);
    CHECK(contains(&T, "RESP 200 1.1 reason[OK]\n  H [Content-Length]=[1234]\n  cl=1234 chunked=0 keep=1 upgrade=0 "
                       "end=41 body[]"));
    CHECK(contains(&T, "RESP 204 1.1 reason[No Content]"));
    o.no_body = 0;
    CHECK_EQ(splits_agree(&o, interim, LEN(interim), &T), 0);
    CHECK(contains(&T, "RESP 100 1.1 reason[Continue]\n  cl=-1 chunked=0 keep=1 upgrade=0 end=25 body[]"));
    CHECK(contains(&T, "RESP 304 1.1 reason[Not Modified]\n  H [Content-Length]=[9]\n  cl=9"));
    CHECK(contains(&T, "RESP 200 1.1 reason[]\n")); /* "HTTP/1.1 200" without a reason */
    CHECK(contains(&T, "body[ok]"));
    CHECK_EQ(problems, 0);
}

/* ---- malformed input ---- */

typedef struct bad_case {
    int kind;
    const char *in;
    int rc, hint;
    long offset; /* -1: not checked */
} bad_case;

static const bad_case bad_cases[] = {
    /* line endings */
    {NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\nHost: a\n\n", NOSTR_ERR_HTTP, 400, 14},
    {NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\n\r\n", NOSTR_ERR_HTTP, 400, 23},
    {NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", NOSTR_ERR_HTTP, 400, 24},
    {NOSTR_HTTP_REQUEST, "\n", NOSTR_ERR_HTTP, 400, 0},
    /* request line */
    {NOSTR_HTTP_REQUEST, "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", NOSTR_ERR_HTTP, 400, 4},
    {NOSTR_HTTP_REQUEST, "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", NOSTR_ERR_HTTP, 400, 1},
    {NOSTR_HTTP_REQUEST, " GET / HTTP/1.1\r\nHost: a\r\n\r\n", NOSTR_ERR_HTTP, 400, 0},
    {NOSTR_HTTP_REQUEST, "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", NOSTR_ERR_HTTP, 400, 6},
    {NOSTR_HTTP_REQUEST, "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", NOSTR_ERR_HTTP, 400, -1},
    {NOSTR_HTTP_REQUEST, "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", NOSTR_ERR_HTTP, 400, 5},
    {NOSTR_HTTP_REQUEST, "GET /\tx HTTP/1.1\r\nHost: a\r\n\r\n", NOSTR_ERR_HTTP, 400, 5},
    {NOSTR_HTTP_REQUEST, "GET / HTTPS/1.1\r\nHost: a\r\n\r\n", NOSTR_ERR_HTTP, 400, -1},
    {NOSTR_HTTP_REQUEST, "GET / http/1.1\r\nHost: a\r\n\r\n", NOSTR_ERR_HTTP, 400, 6},
    {NOSTR_HTTP_REQUEST, "GET / HTTP/1.10\r\nHost: a\r\n\r\n", NOSTR_ERR_HTTP, 400, 6},
    {NOSTR_HTTP_REQUEST, "GET / HTTP/1\r\nHost: a\r\n\r\n", NOSTR_ERR_HTTP, 400, 6},
    {NOSTR_HTTP_REQUEST, "GET / HTTP/2.0\r\nHost: a\r\n\r\n", NOSTR_ERR_HTTP, 505, 6},
    {NOSTR_HTTP_REQUEST, "GET / HTTP/0.9\r\nHost: a\r\n\r\n", NOSTR_ERR_HTTP, 505, 6},
    {NOSTR_HTTP_REQUEST, "GET\r\n\r\n", NOSTR_ERR_HTTP, 400, 3},
    {NOSTR_HTTP_REQUEST, "HTTP/1.1 200 OK\r\n\r\n", NOSTR_ERR_HTTP, 400, -1},
    {NOSTR_HTTP_REQUEST, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", NOSTR_ERR_HTTP, 400, 0}, /* TLS hello */
    /* field lines */
    {NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost : a\r\n\r\n", NOSTR_ERR_HTTP, 400, 20},
    {NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", NOSTR_ERR_HTTP, 400, 20},
    {NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  2\r\n\r\n", NOSTR_ERR_HTTP, 400, 33},
    {NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\r\n Host: a\r\n\r\n", NOSTR_ERR_HTTP, 400, 16},
    {NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nX\x01Y: 1\r\n\r\n", NOSTR_ERR_HTTP, 400, 26},
    {NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nX-Y: a\x7f\r\n\r\n", NOSTR_ERR_HTTP, 400, 31},
    {NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n", NOSTR_ERR_HTTP, 400, 25},
    {NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", NOSTR_ERR_HTTP, 400, 32},
    {NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nX(Y): 1\r\n\r\n", NOSTR_ERR_HTTP, 400, 26},
    {NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\r\nHo\xc3\xa9st: a\r\n\r\n", NOSTR_ERR_HTTP, 400, 18},
    /* Content-Length */
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", NOSTR_ERR_HTTP, 400, -1},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", NOSTR_ERR_HTTP, 400, -1},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", NOSTR_ERR_HTTP, 400, -1},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello", NOSTR_ERR_HTTP, 400, -1},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", NOSTR_ERR_HTTP, 400, -1},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", NOSTR_ERR_HTTP, 400, -1},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
     NOSTR_ERR_HTTP, 400, -1},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999999\r\n\r\n",
     NOSTR_ERR_HTTP, 413, -1},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n", NOSTR_ERR_HTTP, 413, -1},
    /* Transfer-Encoding */
    {NOSTR_HTTP_REQUEST,
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", NOSTR_ERR_HTTP,
     400, -1},
    {NOSTR_HTTP_REQUEST,
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", NOSTR_ERR_HTTP,
     400, -1},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", NOSTR_ERR_HTTP, 400, -1},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", NOSTR_ERR_HTTP, 400,
     -1},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", NOSTR_ERR_HTTP, 501,
     -1},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
     NOSTR_ERR_HTTP, 400, -1},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", NOSTR_ERR_HTTP, 400, -1},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", NOSTR_ERR_HTTP, 400, -1},
    /* Host */
    {NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\r\n\r\n", NOSTR_ERR_HTTP, 400, 18},
    {NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", NOSTR_ERR_HTTP, 400, -1},
    {NOSTR_HTTP_REQUEST, "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", NOSTR_ERR_HTTP, 400, -1},
    /* chunked bodies */
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", NOSTR_ERR_HTTP, 400,
     56},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", NOSTR_ERR_HTTP, 400,
     56},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
     NOSTR_ERR_HTTP, 400, 57},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n",
     NOSTR_ERR_HTTP, 400, 64},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\r\n",
     NOSTR_ERR_HTTP, 400, 65},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n",
     NOSTR_ERR_HTTP, 400, 58},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a\x01\r\nhello\r\n",
     NOSTR_ERR_HTTP, 400, 59},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\n\r\n",
     NOSTR_ERR_HTTP, 400, 63},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n z\r\n\r\n",
     NOSTR_ERR_HTTP, 400, 65},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n", NOSTR_ERR_HTTP,
     413, 61},
    {NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n",
     NOSTR_ERR_HTTP, 413, -1},
    /* status lines */
    {NOSTR_HTTP_RESPONSE, "HTTP/1.1 20 OK\r\n\r\n", NOSTR_ERR_HTTP, 400, -1},
    {NOSTR_HTTP_RESPONSE, "HTTP/1.1 200OK\r\n\r\n", NOSTR_ERR_HTTP, 400, 12},
    {NOSTR_HTTP_RESPONSE, "HTTP/1.1 099 Low\r\n\r\n", NOSTR_ERR_HTTP, 400, -1},
    {NOSTR_HTTP_RESPONSE, "HTTP/1.1  200 OK\r\n\r\n", NOSTR_ERR_HTTP, 400, -1},
    {NOSTR_HTTP_RESPONSE, "HTTP/1.1 200 O\x01K\r\n\r\n", NOSTR_ERR_HTTP, 400, 14},
    {NOSTR_HTTP_RESPONSE, "HTTP/2 200 OK\r\n\r\n", NOSTR_ERR_HTTP, 400, 0},
    {NOSTR_HTTP_RESPONSE, "GET / HTTP/1.1\r\n\r\n", NOSTR_ERR_HTTP, 400, 0},
    {NOSTR_HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", NOSTR_ERR_HTTP, 400,
     -1},
    {NOSTR_HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", NOSTR_ERR_HTTP, 400, -1},
};

static void test_malformed(void)
{
    size_t k;
    for (k = 0; k < sizeof bad_cases / sizeof bad_cases[0]; k++) {
        const bad_case *c = &bad_cases[k];
        nostr_http_parser p;
        size_t len = strlen(c->in), used;
        char *copy = dup_exact(c->in, len);
        run_opts o;
        int rc;
        nostr_http_parser_init(&p, c->kind, NULL);
        rc = nostr_http_feed(&p, copy, len, &used);
        if (rc == NOSTR_HTTP_MORE) rc = nostr_http_finish(&p); /* the truncated ones */
        if (rc != c->rc || p.status_hint != c->hint || (c->offset >= 0 && (long)p.err.offset != c->offset))
            fprintf(stderr, "case %lu: rc %d hint %d offset %lu (%s)\n", (unsigned long)k, rc, p.status_hint,
                    (unsigned long)p.err.offset, p.err.msg ? p.err.msg : "");
        CHECK_EQ(rc, c->rc);
        CHECK_EQ(p.status_hint, c->hint);
        CHECK(p.err.msg != NULL);
        CHECK(p.err.offset <= len);
        if (c->offset >= 0) CHECK_EQ(p.err.offset, c->offset);
        CHECK_EQ(p.err.code, c->rc);
        nostr_http_parser_free(&p);
        free(copy);
        /* and the same under every split */
        memset(&o, 0, sizeof o);
        o.kind = c->kind;
        o.eof = 1;
        problems = 0;
        CHECK_EQ(splits_agree(&o, c->in, len, &T), 0);
        CHECK_EQ(problems, 0);
        CHECK(contains(&T, "ERR") || contains(&T, "EOF -29"));
    }
}

/* Things that look odd but are allowed. */
static void test_lenient_but_valid(void)
{
    static const char in[] = "\r\n\r\n" /* empty lines before the request line */
                             "OPTIONS * HTTP/1.1\r\n"
                             "host:a\r\n"                         /* no space after the colon */
                             "X-Empty:\r\n"                       /* empty value */
                             "X-Spaces: \t padded value \t \r\n" /* OWS trimmed, inner kept */
                             "Content-Length: 3\r\n"
                             "content-length: 003\r\n" /* identical duplicate */
                             "Connection: foo, Keep-Alive , close\r\n"
                             "\r\nabc";
    streams_check(NOSTR_HTTP_REQUEST, in, LEN(in), 1);
    CHECK(contains(&T, "method[OPTIONS] target[*] path[*] query[]"));
    CHECK(contains(&T, "  H [host]=[a]\n  H [X-Empty]=[]\n  H [X-Spaces]=[padded value]\n"));
    CHECK(contains(&T, "cl=3 chunked=0 keep=0 upgrade=0"));
    CHECK(contains(&T, "body[abc]"));
    /* a 1.x minor above 1 is HTTP/1.1 for us; chunked with odd case, size case, no extension */
    {
        static const char in2[] = "POST /x HTTP/1.2\r\nHost: a\r\nTransfer-Encoding: , Chunked\r\n\r\n"
                                  "A\r\n0123456789\r\n00000a;x;y=\"1\"\r\nabcdefghij\r\n000\r\n\r\n";
        streams_check(NOSTR_HTTP_REQUEST, in2, LEN(in2), 1);
        CHECK(contains(&T, "REQ 1.2 method[POST]"));
        CHECK(contains(&T, "chunked=1 keep=1"));
        CHECK(contains(&T, "body[0123456789abcdefghij]"));
    }
}

static void test_keep_alive(void)
{
    static const struct {
        int kind;
        const char *in;
        int keep;
    } cases[] = {
        {NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1},
        {NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0},
        {NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n", 0},
        {NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", 1},
        {NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\nConnection: close\r\n\r\n", 0},
        {NOSTR_HTTP_REQUEST, "GET / HTTP/1.0\r\n\r\n", 0},
        {NOSTR_HTTP_REQUEST, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1},
        {NOSTR_HTTP_REQUEST, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1},
        {NOSTR_HTTP_REQUEST, "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", 0},
        {NOSTR_HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 1},
        {NOSTR_HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 0},
        {NOSTR_HTTP_RESPONSE, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n", 1},
        {NOSTR_HTTP_RESPONSE, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0},
    };
    size_t k;
    for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        nostr_http_parser p;
        size_t used;
        nostr_http_parser_init(&p, cases[k].kind, NULL);
        CHECK_EQ(nostr_http_feed(&p, cases[k].in, strlen(cases[k].in), &used), NOSTR_HTTP_DONE);
        CHECK_EQ(used, strlen(cases[k].in));
        CHECK_EQ(nostr_http_keep_alive(&p.msg), cases[k].keep);
        nostr_http_parser_free(&p);
    }
}

/* ---- limits ---- */

static int parse_with(const nostr_http_config *cfg, int kind, const char *in, size_t len, nostr_http_parser *p)
{
    size_t used;
    int rc;
    nostr_http_parser_init(p, kind, cfg);
    rc = nostr_http_feed(p, in, len ? len : strlen(in), &used);
    return rc;
}

static void test_limits(void)
{
    nostr_http_config cfg;
    nostr_http_parser p;
    nostr_buf b;
    size_t k;
    int rc;
    static const char head[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"; /* 27 bytes */
    memset(&cfg, 0, sizeof cfg);
    cfg.max_header_bytes = 27;
    cfg.max_headers = 2;
    cfg.max_body = 10;
    CHECK_EQ(parse_with(&cfg, NOSTR_HTTP_REQUEST, head, 27, &p), NOSTR_HTTP_DONE);
    nostr_http_parser_free(&p);
    cfg.max_header_bytes = 26;
    CHECK_EQ(parse_with(&cfg, NOSTR_HTTP_REQUEST, head, 27, &p), NOSTR_ERR_HTTP);
    CHECK_EQ(p.status_hint, 431);
    CHECK_EQ(p.err.offset, 26);
    nostr_http_parser_free(&p);
    /* leading empty lines count too */
    cfg.max_header_bytes = 28;
    CHECK_EQ(parse_with(&cfg, NOSTR_HTTP_REQUEST, "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, &p), NOSTR_ERR_HTTP);
    CHECK_EQ(p.status_hint, 431);
    nostr_http_parser_free(&p);
    cfg.max_header_bytes = 0; /* default 8 KiB */
    CHECK_EQ(parse_with(&cfg, NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\n\r\n", 0, &p), NOSTR_HTTP_DONE);
    nostr_http_parser_free(&p);
    CHECK_EQ(parse_with(&cfg, NOSTR_HTTP_REQUEST, "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", 0, &p),
             NOSTR_ERR_HTTP);
    CHECK_EQ(p.status_hint, 431);
    CHECK_EQ(p.err.offset, 31);
    nostr_http_parser_free(&p);
    /* body: exactly the limit, one over, chunked over */
    CHECK_EQ(parse_with(&cfg, NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789", 0,
                        &p),
             NOSTR_HTTP_DONE);
    CHECK_EQ(p.msg.body.len, 10);
    nostr_http_parser_free(&p);
    CHECK_EQ(parse_with(&cfg, NOSTR_HTTP_REQUEST, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", 0, &p),
             NOSTR_ERR_HTTP);
    CHECK_EQ(p.status_hint, 413);
    nostr_http_parser_free(&p);
    rc = parse_with(&cfg, NOSTR_HTTP_REQUEST,
                    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n",
                    0, &p);
    CHECK_EQ(rc, NOSTR_HTTP_DONE);
    CHECK_STR(p.msg.body.ptr, "helloworld");
    nostr_http_parser_free(&p);
    rc = parse_with(&cfg, NOSTR_HTTP_REQUEST,
                    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\nworld!\r\n", 0,
                    &p);
    CHECK_EQ(rc, NOSTR_ERR_HTTP);
    CHECK_EQ(p.status_hint, 413);
    CHECK_EQ(p.err.offset, 66); /* at the size digit that goes over */
    nostr_http_parser_free(&p);
    /* close-delimited response over the limit */
    rc = parse_with(&cfg, NOSTR_HTTP_RESPONSE, "HTTP/1.0 200 OK\r\n\r\n0123456789A", 0, &p);
    CHECK_EQ(rc, NOSTR_ERR_HTTP);
    CHECK_EQ(p.status_hint, 413);
    CHECK_EQ(p.err.offset, 29);
    nostr_http_parser_free(&p);
    /* trailer section limit */
    cfg.max_header_bytes = 64;
    cfg.max_body = 0;
    rc = parse_with(&cfg, NOSTR_HTTP_RESPONSE,
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
                    "X: 0123456789012345678901234567890123456789012345678901234567890123456789\r\n\r\n",
                    0, &p);
    CHECK_EQ(rc, NOSTR_ERR_HTTP);
    CHECK_EQ(p.status_hint, 431);
    nostr_http_parser_free(&p);
    /* default limits: 64 fields, 8 KiB of header */
    nostr_buf_init(&b, NULL);
    nostr_buf_append_str(&b, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (k = 1; k < 64; k++) nostr_buf_append_str(&b, "X-Field: value\r\n");
    nostr_buf_append_str(&b, "\r\n");
    CHECK_EQ(parse_with(NULL, NOSTR_HTTP_REQUEST, b.data, b.len, &p), NOSTR_HTTP_DONE);
    CHECK_EQ(p.msg.header_count, 64);
    nostr_http_parser_free(&p);
    b.len -= 2;
    nostr_buf_append_str(&b, "X-Field: value\r\n\r\n");
    CHECK_EQ(parse_with(NULL, NOSTR_HTTP_REQUEST, b.data, b.len, &p), NOSTR_ERR_HTTP);
    CHECK_EQ(p.status_hint, 431);
    nostr_http_parser_free(&p);
    nostr_buf_clear(&b);
    nostr_buf_append_str(&b, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    while (b.len < 8190 - 4) nostr_buf_append_char(&b, 'v');
    nostr_buf_append_str(&b, "\r\n\r\n"); /* exactly 8190 */
    CHECK_EQ(parse_with(NULL, NOSTR_HTTP_REQUEST, b.data, b.len, &p), NOSTR_HTTP_DONE);
    nostr_http_parser_free(&p);
    b.len -= 4;
    nostr_buf_append_str(&b, "vvv\r\n\r\n"); /* 8193 */
    CHECK_EQ(parse_with(NULL, NOSTR_HTTP_REQUEST, b.data, b.len, &p), NOSTR_ERR_HTTP);
    CHECK_EQ(p.status_hint, 431);
    CHECK_EQ(p.err.offset, 8192);
    nostr_http_parser_free(&p);
    /* a header line without an end: 431, not a wait forever */
    nostr_buf_clear(&b);
    while (b.len < 10000) nostr_buf_append_char(&b, 'A');
    CHECK_EQ(parse_with(NULL, NOSTR_HTTP_REQUEST, b.data, b.len, &p), NOSTR_ERR_HTTP);
    CHECK_EQ(p.status_hint, 431);
    nostr_http_parser_free(&p);
    /* default body limit 1 MiB */
    nostr_buf_clear(&b);
    nostr_buf_append_str(&b, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\n\r\n");
    k = b.len;
    nostr_buf_reserve(&b, 1048576);
    memset(b.data + b.len, 'z', 1048576);
    b.len += 1048576;
    CHECK_EQ(parse_with(NULL, NOSTR_HTTP_REQUEST, b.data, b.len, &p), NOSTR_HTTP_DONE);
    CHECK_EQ(p.msg.body.len, 1048576);
    CHECK(p.msg.body.ptr[1048575] == 'z' && p.msg.body.ptr[1048576] == 0);
    /* reset drops the big buffer but the parser keeps working */
    nostr_http_parser_reset(&p);
    CHECK_EQ(nostr_http_feed(&p, b.data, k + 5, NULL), NOSTR_HTTP_MORE);
    nostr_http_parser_free(&p);
    nostr_buf_free(&b);
}

/* ---- writers ---- */

static void test_write_request(void)
{
    nostr_buf b;
    nostr_http_parser p;
    size_t used;
    nostr_http_kv h[3];
    static const char body[] = "{\"a\":1}";
    h[0].name = "Content-Type";
    h[0].value = "application/json";
    h[1].name = "Upgrade";
    h[1].value = "websocket";
    h[2].name = "Connection";
    h[2].value = "Upgrade";
    nostr_buf_init(&b, NULL);
    CHECK_EQ(nostr_http_write_request(&b, "POST", "relay.example.com:443", "/api?x=1", h, 1, body, LEN(body)),
             NOSTR_OK);
    CHECK_STR(b.data, "POST /api?x=1 HTTP/1.1\r\nHost: relay.example.com:443\r\nContent-Type: application/json\r\n"
                      "Content-Length: 7\r\n\r\n{\"a\":1}");
    nostr_http_parser_init(&p, NOSTR_HTTP_REQUEST, NULL);
    CHECK_EQ(nostr_http_feed(&p, b.data, b.len, &used), NOSTR_HTTP_DONE);
    CHECK_EQ(used, b.len);
    CHECK_STR(p.msg.method.ptr, "POST");
    CHECK_STR(p.msg.path.ptr, "/api");
    CHECK_STR(p.msg.query.ptr, "x=1");
    CHECK_STR(nostr_http_header(&p.msg, "content-type")->ptr, "application/json");
    CHECK_EQ(p.msg.body.len, 7);
    CHECK_MEM(p.msg.body.ptr, body, 7);
    /* a GET with no body: no Content-Length; the upgrade fields */
    nostr_buf_clear(&b);
    CHECK_EQ(nostr_http_write_request(&b, "GET", "h", "/ws", h + 1, 2, NULL, 0), NOSTR_OK);
    CHECK_STR(b.data, "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    nostr_http_parser_reset(&p);
    CHECK_EQ(nostr_http_feed(&p, b.data, b.len, &used), NOSTR_HTTP_DONE);
    CHECK_EQ(p.msg.upgrade, 1);
    CHECK_EQ(nostr_http_header_has_token(&p.msg, "connection", "upgrade"), 1);
    CHECK_EQ(nostr_http_header_has_token(&p.msg, "upgrade", "WebSocket"), 1);
    CHECK_EQ(nostr_http_header_has_token(&p.msg, "upgrade", "websock"), 0);
    CHECK_EQ(nostr_http_header_has_token(&p.msg, "x-none", "websocket"), 0);
    /* an empty body still says Content-Length: 0 */
    nostr_buf_clear(&b);
    CHECK_EQ(nostr_http_write_request(&b, "POST", NULL, "/", NULL, 0, "", 0), NOSTR_OK);
    CHECK_STR(b.data, "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    /* refused arguments leave the buffer as it was */
    nostr_buf_clear(&b);
    nostr_buf_append_str(&b, "keep");
    h[0].name = "X-Evil";
    h[0].value = "a\r\nSet-Cookie: x";
    CHECK_EQ(nostr_http_write_request(&b, "GET", "h", "/", h, 1, NULL, 0), NOSTR_ERR_ARG);
    h[0].name = "X Evil";
    h[0].value = "a";
    CHECK_EQ(nostr_http_write_request(&b, "GET", "h", "/", h, 1, NULL, 0), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_http_write_request(&b, "G T", "h", "/", NULL, 0, NULL, 0), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_http_write_request(&b, "", "h", "/", NULL, 0, NULL, 0), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_http_write_request(&b, "GET", "h\r\n", "/", NULL, 0, NULL, 0), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_http_write_request(&b, "GET", "h", "/a b", NULL, 0, NULL, 0), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_http_write_request(&b, "GET", "h", "", NULL, 0, NULL, 0), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_http_write_request(&b, "GET", "h", "/", NULL, 0, NULL, 3), NOSTR_ERR_ARG);
    CHECK_STR(b.data, "keep");
    CHECK_EQ(b.len, 4);
    nostr_http_parser_free(&p);
    nostr_buf_free(&b);
}

static void test_write_response(void)
{
    nostr_buf b;
    nostr_http_parser p;
    size_t used;
    nostr_http_kv h[2];
    char small[40];
    static const char doc[] = "{\"name\":\"relay\",\"supported_nips\":[1,11]}";
    h[0].name = "Access-Control-Allow-Origin";
    h[0].value = "*";
    h[1].name = "Connection";
    h[1].value = "Upgrade";
    nostr_buf_init(&b, NULL);
    CHECK_EQ(nostr_http_write_response(&b, 200, NULL, "application/nostr+json", h, 1, doc, LEN(doc), 1), NOSTR_OK);
    CHECK_STR(b.data, "HTTP/1.1 200 OK\r\nContent-Type: application/nostr+json\r\nAccess-Control-Allow-Origin: *\r\n"
                      "Content-Length: 40\r\n\r\n{\"name\":\"relay\",\"supported_nips\":[1,11]}");
    nostr_http_parser_init(&p, NOSTR_HTTP_RESPONSE, NULL);
    CHECK_EQ(nostr_http_feed(&p, b.data, b.len, &used), NOSTR_HTTP_DONE);
    CHECK_EQ(used, b.len);
    CHECK_EQ(p.msg.status, 200);
    CHECK_STR(p.msg.reason.ptr, "OK");
    CHECK_EQ(p.msg.keep_alive, 1);
    CHECK_STR(p.msg.body.ptr, doc);
    /* not keep-alive, own reason, empty body */
    nostr_buf_clear(&b);
    CHECK_EQ(nostr_http_write_response(&b, 404, "Nope", NULL, NULL, 0, NULL, 0, 0), NOSTR_OK);
    CHECK_STR(b.data, "HTTP/1.1 404 Nope\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    nostr_http_parser_reset(&p);
    CHECK_EQ(nostr_http_feed(&p, b.data, b.len, &used), NOSTR_HTTP_DONE);
    CHECK_EQ(p.msg.keep_alive, 0);
    CHECK_STR(p.msg.reason.ptr, "Nope");
    CHECK_EQ(p.msg.content_length, 0);
    /* 101 and 204/304 carry no Content-Length */
    nostr_buf_clear(&b);
    h[0].name = "Upgrade";
    h[0].value = "websocket";
    CHECK_EQ(nostr_http_write_response(&b, 101, NULL, NULL, h, 2, NULL, 0, 1), NOSTR_OK);
    CHECK_STR(b.data, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    nostr_buf_append(&b, "\x81\x00", 2);
    nostr_http_parser_reset(&p);
    CHECK_EQ(nostr_http_feed(&p, b.data, b.len, &used), NOSTR_HTTP_DONE);
    CHECK_EQ(used, b.len - 2);
    CHECK_EQ(p.msg.upgrade, 1);
    nostr_buf_clear(&b);
    CHECK_EQ(nostr_http_write_response(&b, 204, NULL, NULL, NULL, 0, NULL, 0, 0), NOSTR_OK);
    CHECK_STR(b.data, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
    CHECK_STR(nostr_http_reason(431), "Request Header Fields Too Large");
    CHECK_STR(nostr_http_reason(299), "");
    nostr_buf_clear(&b);
    CHECK_EQ(nostr_http_write_response(&b, 299, NULL, NULL, NULL, 0, "x", 1, 1), NOSTR_OK);
    CHECK_STR(b.data, "HTTP/1.1 299 \r\nContent-Length: 1\r\n\r\nx");
    nostr_http_parser_reset(&p);
    CHECK_EQ(nostr_http_feed(&p, b.data, b.len, &used), NOSTR_HTTP_DONE);
    CHECK_EQ(p.msg.status, 299);
    CHECK_STR(p.msg.body.ptr, "x");
    /* refused */
    nostr_buf_clear(&b);
    CHECK_EQ(nostr_http_write_response(&b, 99, NULL, NULL, NULL, 0, NULL, 0, 1), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_http_write_response(&b, 1000, NULL, NULL, NULL, 0, NULL, 0, 1), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_http_write_response(&b, 200, "O\nK", NULL, NULL, 0, NULL, 0, 1), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_http_write_response(&b, 200, NULL, "text/\r\nplain", NULL, 0, NULL, 0, 1), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_http_write_response(&b, 204, NULL, NULL, NULL, 0, "x", 1, 1), NOSTR_ERR_ARG);
    CHECK_EQ(b.len, 0);
    /* a fixed buffer too small: error, contents as before */
    nostr_buf_free(&b);
    nostr_buf_init_fixed(&b, small, sizeof small);
    nostr_buf_append_str(&b, "abc");
    CHECK_EQ(nostr_http_write_response(&b, 200, NULL, "text/plain", NULL, 0, doc, LEN(doc), 1), NOSTR_ERR_BUFFER);
    CHECK_EQ(b.len, 3);
    CHECK_STR(b.data, "abc");
    nostr_http_parser_free(&p);
}

/* Many generated messages: writer -> parser gives back what went in,
 * also when several are pipelined and fed at odd splits. */
static void test_round_trip_pipeline(void)
{
    nostr_buf b, body;
    nostr_http_parser p;
    size_t k, off = 0, step = 1, msgs = 0;
    char target[64], value[64];
    nostr_buf_init(&b, NULL);
    nostr_buf_init(&body, NULL);
    for (k = 0; k < 40; k++) {
        nostr_http_kv h[1];
        snprintf(target, sizeof target, "/item/%lu?n=%lu", (unsigned long)k, (unsigned long)(k * 7));
        snprintf(value, sizeof value, "v%lu", (unsigned long)k);
        h[0].name = "X-Seq";
        h[0].value = value;
        nostr_buf_clear(&body);
        while (body.len < k * 3) nostr_buf_append_char(&body, (char)('a' + body.len % 26));
        CHECK_EQ(nostr_http_write_request(&b, k % 2 ? "PUT" : "GET", "example.org", target, h, 1,
                                          k % 2 ? body.data : NULL, k % 2 ? body.len : 0),
                 NOSTR_OK);
    }
    nostr_http_parser_init(&p, NOSTR_HTTP_REQUEST, NULL);
    while (off < b.len) {
        size_t n = step < b.len - off ? step : b.len - off, used;
        int rc = nostr_http_feed(&p, b.data + off, n, &used);
        if (rc < 0) break;
        off += used;
        if (rc == NOSTR_HTTP_DONE) {
            size_t want = msgs % 2 ? msgs * 3 : 0;
            snprintf(value, sizeof value, "v%lu", (unsigned long)msgs);
            CHECK_STR(nostr_http_header(&p.msg, "x-seq")->ptr, value);
            CHECK_EQ(p.msg.body.len, want);
            CHECK_STR(p.msg.method.ptr, msgs % 2 ? "PUT" : "GET");
            msgs++;
            nostr_http_parser_reset(&p);
        }
        step = step * 5 % 97 + 1;
    }
    CHECK_EQ(msgs, 40);
    CHECK_EQ(off, b.len);
    nostr_http_parser_free(&p);
    nostr_buf_free(&b);
    nostr_buf_free(&body);
}

/* ---- query strings ---- */

static int qp(const char *target, const char *name, nostr_buf *out)
{
    nostr_buf_clear(out);
    return nostr_http_query_param(target, strlen(target), name, out);
}

static void test_query(void)
{
    nostr_buf out;
    nostr_http_query_iter it;
    nostr_str n, v;
    static const char t[] = "/req?kinds=1%2C7&authors=ab+cd&empty=&flag&sp%20ace=x%2by&dup=1&dup=2&bad=%zz&pct=%7e%7E"
                            "&nul=a%00b#frag=1";
    nostr_buf_init(&out, NULL);
    CHECK_EQ(qp(t, "kinds", &out), 1);
    CHECK_STR(out.data, "1,7");
    CHECK_EQ(qp(t, "authors", &out), 1);
    CHECK_STR(out.data, "ab cd");
    CHECK_EQ(qp(t, "empty", &out), 1);
    CHECK_EQ(out.len, 0);
    CHECK_EQ(qp(t, "flag", &out), 1);
    CHECK_EQ(out.len, 0);
    CHECK_EQ(qp(t, "sp ace", &out), 1);
    CHECK_STR(out.data, "x+y");
    CHECK_EQ(qp(t, "dup", &out), 1);
    CHECK_STR(out.data, "1");
    CHECK_EQ(qp(t, "bad", &out), NOSTR_ERR_HTTP);
    CHECK_EQ(out.len, 0);
    CHECK_EQ(qp(t, "pct", &out), 1);
    CHECK_STR(out.data, "~~");
    CHECK_EQ(qp(t, "nul", &out), 1);
    CHECK_EQ(out.len, 3);
    CHECK_MEM(out.data, "a\0b", 3);
    CHECK_EQ(qp(t, "frag", &out), 0); /* after '#' */
    CHECK_EQ(qp(t, "missing", &out), 0);
    CHECK_EQ(qp(t, "kind", &out), 0);
    CHECK_EQ(qp(t, "kindss", &out), 0);
    CHECK_EQ(qp("/no-query", "a", &out), 0);
    CHECK_EQ(qp("/p?", "a", &out), 0);
    CHECK_EQ(qp("/p?a", "a", &out), 1);
    CHECK_EQ(qp("/p?%61=b%", "a", &out), NOSTR_ERR_HTTP); /* truncated escape */
    CHECK_EQ(qp("/p?%6=1&a=2", "a", &out), 1);           /* a bad escape in another name is no match */
    CHECK_STR(out.data, "2");
    CHECK_EQ(qp("/p?a=1=2", "a", &out), 1);
    CHECK_STR(out.data, "1=2");
    /* iterate: repeated names, empty pairs skipped */
    nostr_http_query_begin(&it, "dup=1&&dup=2&=x&y", 17, 1);
    CHECK_EQ(nostr_http_query_next(&it, &n, &v), 1);
    CHECK(n.len == 3 && memcmp(n.ptr, "dup", 3) == 0 && v.len == 1 && v.ptr[0] == '1');
    CHECK_EQ(nostr_http_query_next(&it, &n, &v), 1);
    CHECK(v.len == 1 && v.ptr[0] == '2');
    CHECK_EQ(nostr_http_query_next(&it, &n, &v), 1);
    CHECK(n.len == 0 && v.len == 1 && v.ptr[0] == 'x');
    CHECK_EQ(nostr_http_query_next(&it, &n, &v), 1);
    CHECK(n.len == 1 && n.ptr[0] == 'y' && v.len == 0);
    CHECK_EQ(nostr_http_query_next(&it, &n, &v), 0);
    CHECK_EQ(nostr_http_query_next(&it, &n, &v), 0);
    nostr_http_query_begin(&it, "/x?a=1", 6, 1); /* is_query: the '?' is part of the name */
    CHECK_EQ(nostr_http_query_next(&it, &n, &v), 1);
    CHECK_EQ(n.len, 4);
    /* decode / encode */
    nostr_buf_clear(&out);
    CHECK_EQ(nostr_http_percent_decode(&out, "a+b%2B%2b", 9, 0), NOSTR_OK);
    CHECK_STR(out.data, "a+b++");
    CHECK_EQ(nostr_http_percent_decode(&out, "%", 1, 0), NOSTR_ERR_HTTP);
    CHECK_EQ(nostr_http_percent_decode(&out, "%4", 2, 0), NOSTR_ERR_HTTP);
    CHECK_EQ(nostr_http_percent_decode(&out, "%g0", 3, 0), NOSTR_ERR_HTTP);
    CHECK_STR(out.data, "a+b++");
    nostr_buf_clear(&out);
    CHECK_EQ(nostr_http_percent_encode(&out, "a b/\xc3\xa9~-._&=+", 13), NOSTR_OK);
    CHECK_STR(out.data, "a%20b%2F%C3%A9~-._%26%3D%2B");
    {
        nostr_buf back;
        nostr_buf_init(&back, NULL);
        CHECK_EQ(nostr_http_percent_decode(&back, out.data, out.len, 1), NOSTR_OK);
        CHECK_STR(back.data, "a b/\xc3\xa9~-._&=+");
        nostr_buf_free(&back);
    }
    nostr_buf_free(&out);
}

int main(void)
{
    nostr_buf_init(&T, NULL);
    TEST_RUN(test_browser_get);
    TEST_RUN(test_ws_upgrade);
    TEST_RUN(test_nip11_get);
    TEST_RUN(test_post_json);
    TEST_RUN(test_chunked_response);
    TEST_RUN(test_pipelined);
    TEST_RUN(test_ws_101);
    TEST_RUN(test_close_delimited);
    TEST_RUN(test_bodyless_responses);
    TEST_RUN(test_malformed);
    TEST_RUN(test_lenient_but_valid);
    TEST_RUN(test_keep_alive);
    TEST_RUN(test_limits);
    TEST_RUN(test_write_request);
    TEST_RUN(test_write_response);
    TEST_RUN(test_round_trip_pipeline);
    TEST_RUN(test_query);
    nostr_buf_free(&T);
    return TEST_DONE();
}
