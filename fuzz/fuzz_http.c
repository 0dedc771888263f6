/* libFuzzer target: the incremental HTTP/1.1 parser. The first byte
 * picks request or response, small or default limits, and a split
 * position; the rest is the byte stream. Parsed whole and split in two
 * (each piece a heap copy freed after feeding), the transcripts of
 * every message (pipelined ones too) must agree exactly, consumed must
 * stay inside what was fed, and every string must be NUL-terminated. */
#define NOSTR_NO_BLOCKING
#define NOSTR_IMPLEMENTATION
#include "nostr.h"

static void nostr_fuzz_http_str(nostr_buf *t, nostr_str s)
{
    if (!s.ptr || s.ptr[s.len] != 0) __builtin_trap();
    nostr_buf_append_u64(t, (unsigned long long)s.len);
    nostr_buf_append_char(t, ':');
    nostr_buf_append(t, s.ptr, s.len);
}

static void nostr_fuzz_http_msg(nostr_buf *t, const nostr_http_message *m, size_t end)
{
    size_t k;
    nostr_buf_append_str(t, "MSG ");
    nostr_buf_append_u64(t, (unsigned long long)end);
    nostr_buf_append_i64(t, m->status);
    nostr_buf_append_i64(t, m->version_minor);
    nostr_fuzz_http_str(t, m->method);
    nostr_fuzz_http_str(t, m->target);
    nostr_fuzz_http_str(t, m->path);
    nostr_fuzz_http_str(t, m->query);
    nostr_fuzz_http_str(t, m->reason);
    for (k = 0; k < m->header_count; k++) {
        nostr_fuzz_http_str(t, m->headers[k].name);
        nostr_fuzz_http_str(t, m->headers[k].value);
    }
    nostr_fuzz_http_str(t, m->body);
    nostr_buf_append_i64(t, m->content_length);
    nostr_buf_append_i64(t, m->chunked * 4 + m->keep_alive * 2 + m->upgrade);
    if (m->path.len > m->target.len || m->query.len > m->target.len) __builtin_trap();
}

static char *nostr_fuzz_http_dup(const unsigned char *s, size_t n)
{
    char *d = (char *)malloc(n ? n : 1);
    if (n) memcpy(d, s, n);
    return d;
}

/* Feed data[0..len) as pieces [0, cut) and [cut, len). */
static void nostr_fuzz_http_run(int kind, const nostr_http_config *cfg, const unsigned char *data, size_t len,
                                size_t cut, nostr_buf *t)
{
    nostr_http_parser p;
    size_t a = 0, msg_start = 0;
    int piece, stopped = 0;
    nostr_http_parser_init(&p, kind, cfg);
    for (piece = 0; piece < 2 && !stopped; piece++) {
        size_t b = piece == 0 ? cut : len, n = b - a, off = 0;
        char *copy = nostr_fuzz_http_dup(data + a, n);
        while (off < n && !stopped) {
            size_t used = (size_t)-1;
            int rc = nostr_http_feed(&p, copy + off, n - off, &used);
            if (rc == NOSTR_HTTP_DONE) {
                if (used > n - off) __builtin_trap();
                off += used;
                nostr_fuzz_http_msg(t, &p.msg, a + off);
                msg_start = a + off;
                if (p.msg.upgrade) stopped = 1;
                nostr_http_parser_reset(&p);
            } else if (rc == NOSTR_HTTP_MORE) {
                if (used != n - off) __builtin_trap();
                off = n;
            } else {
                if (rc != NOSTR_ERR_HTTP && rc != NOSTR_ERR_NOMEM) __builtin_trap();
                if (!p.err.msg || p.err.code != rc || msg_start + p.err.offset > len) __builtin_trap();
                if (rc == NOSTR_ERR_HTTP && p.status_hint != 400 && p.status_hint != 413 && p.status_hint != 431 &&
                    p.status_hint != 501 && p.status_hint != 505)
                    __builtin_trap();
                if (nostr_http_feed(&p, "x", 1, NULL) != rc) __builtin_trap();
                nostr_buf_append_str(t, "ERR ");
                nostr_buf_append_i64(t, rc);
                nostr_buf_append_i64(t, p.status_hint);
                nostr_buf_append_u64(t, (unsigned long long)(msg_start + p.err.offset));
                nostr_buf_append_str(t, p.err.msg);
                stopped = 1;
            }
        }
        memset(copy, 0xAA, n);
        free(copy);
        a = b;
    }
    if (!stopped) {
        int rc = nostr_http_finish(&p);
        if (rc == NOSTR_HTTP_DONE) nostr_fuzz_http_msg(t, &p.msg, len);
        nostr_buf_append_str(t, "EOF ");
        nostr_buf_append_i64(t, rc);
    }
    nostr_http_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    nostr_http_config cfg;
    nostr_buf whole, split;
    int kind;
    size_t cut;
    if (size < 1) return 0;
    kind = data[0] & 1 ? NOSTR_HTTP_RESPONSE : NOSTR_HTTP_REQUEST;
    memset(&cfg, 0, sizeof cfg);
    if (data[0] & 2) { /* small limits, so the fuzzer reaches them */
        cfg.max_header_bytes = 200;
        cfg.max_headers = 4;
        cfg.max_body = 64;
    }
    data++;
    size--;
    cut = size ? (size_t)(data[-1] >> 2) * size / 63 : 0;
    if (cut > size) cut = size;
    nostr_buf_init(&whole, NULL);
    nostr_buf_init(&split, NULL);
    nostr_fuzz_http_run(kind, &cfg, data, size, size, &whole);
    nostr_fuzz_http_run(kind, &cfg, data, size, cut, &split);
    if (whole.len != split.len || (whole.len && memcmp(whole.data, split.data, whole.len) != 0)) __builtin_trap();
    /* whatever was parsed, the query helpers never crash on the target */
    nostr_buf_free(&whole);
    nostr_buf_free(&split);
    {
        nostr_http_query_iter it;
        nostr_str n, v;
        nostr_buf out;
        nostr_buf_init(&out, NULL);
        nostr_http_query_begin(&it, (const char *)data, size, 0);
        while (nostr_http_query_next(&it, &n, &v)) {
            if (n.ptr + n.len > (const char *)data + size || v.ptr + v.len > (const char *)data + size) __builtin_trap();
            nostr_http_percent_decode(&out, v.ptr, v.len, 1);
        }
        nostr_http_query_param((const char *)data, size, "a", &out);
        nostr_buf_free(&out);
    }
    return 0;
}
