/* The RFC 6455 framer and handshake: recorded streams at every split,
 * loopback of two framers, every protocol error, limits, close handshake. */
#include "test.h"

/* ---- recorder: every callback as one line of text, every sent byte ---- */

typedef struct rec {
    nostr_buf log; /* callbacks, one per line */
    nostr_buf out; /* bytes the framer sent */
    int closes;
    int fail_send; /* send returns this when non-zero */
} rec;

static uint32_t fnv(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

static void log_data(rec *r, const char *tag, int num, const char *p, size_t n)
{
    char line[128];
    snprintf(line, sizeof line, "%s%d:%zu:%08x:", tag, num, n, (unsigned)fnv(p, n));
    nostr_buf_append_str(&r->log, line);
    if (n <= 32) nostr_buf_append_hex(&r->log, (const unsigned char *)p, n);
    nostr_buf_append_char(&r->log, '\n');
}

static int rec_send(void *user, const void *p, size_t n)
{
    rec *r = (rec *)user;
    if (r->fail_send) return r->fail_send;
    return nostr_buf_append(&r->out, p, n);
}

static void rec_message(void *user, int opcode, const char *p, size_t n)
{
    rec *r = (rec *)user;
    CHECK(p[n] == 0);
    log_data(r, "M", opcode, p, n);
}

static void rec_pong(void *user, const char *p, size_t n)
{
    log_data((rec *)user, "P", 0, p, n);
}

static void rec_close(void *user, int code, const char *p, size_t n)
{
    rec *r = (rec *)user;
    r->closes++;
    log_data(r, "C", code, p, n);
}

/* Deterministic "random" masking keys, so runs compare byte for byte. */
static int counter_rng(void *user, unsigned char *out, size_t n)
{
    unsigned *c = (unsigned *)user;
    size_t i;
    for (i = 0; i < n; i++) out[i] = (unsigned char)(++*c * 167u + 13u);
    return 0;
}

typedef struct peer {
    nostr_ws ws;
    rec r;
    unsigned rng_state;
} peer;

static void peer_init_cfg(peer *p, int role, const nostr_ws_config *cfg0)
{
    nostr_ws_callbacks cb;
    nostr_ws_config cfg;
    memset(&cb, 0, sizeof cb);
    memset(p, 0, sizeof *p);
    if (cfg0)
        cfg = *cfg0;
    else
        memset(&cfg, 0, sizeof cfg);
    cfg.rng = counter_rng;
    cfg.rng_user = &p->rng_state;
    nostr_buf_init(&p->r.log, NULL);
    nostr_buf_init(&p->r.out, NULL);
    cb.user = &p->r;
    cb.send = rec_send;
    cb.on_message = rec_message;
    cb.on_pong = rec_pong;
    cb.on_close = rec_close;
    CHECK_EQ(nostr_ws_init(&p->ws, role, &cfg, &cb), NOSTR_OK);
}

static void peer_init(peer *p, int role)
{
    peer_init_cfg(p, role, NULL);
}

static void peer_free(peer *p)
{
    nostr_ws_free(&p->ws);
    nostr_buf_free(&p->r.log);
    nostr_buf_free(&p->r.out);
}

/* Feed a stream in pieces cut at the given points; stops at the first
 * non-OK result and returns it. */
static int feed_cuts(peer *p, const unsigned char *s, size_t n, const size_t *cuts, size_t ncuts)
{
    size_t at = 0, i;
    int rc = NOSTR_OK;
    for (i = 0; i <= ncuts && rc == NOSTR_OK; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        if (end < at) end = at;
        rc = nostr_ws_feed(&p->ws, s + at, end - at);
        at = end;
        if (p->ws.state == NOSTR_WS_CLOSED) break;
    }
    return rc;
}

/* Result of one run: the log, the sent bytes, the return code. */
typedef struct run {
    char *log, *out;
    size_t log_len, out_len;
    int rc;
} run;

static run run_cuts(int role, const nostr_ws_config *cfg, const unsigned char *s, size_t n, const size_t *cuts,
                    size_t ncuts)
{
    peer p;
    run r;
    peer_init_cfg(&p, role, cfg);
    r.rc = feed_cuts(&p, s, n, cuts, ncuts);
    r.log = (char *)malloc(p.r.log.len + 1);
    r.out = (char *)malloc(p.r.out.len + 1);
    memcpy(r.log, p.r.log.len ? p.r.log.data : "", p.r.log.len);
    memcpy(r.out, p.r.out.len ? p.r.out.data : "", p.r.out.len);
    r.log[p.r.log.len] = 0;
    r.log_len = p.r.log.len;
    r.out_len = p.r.out.len;
    peer_free(&p);
    return r;
}

static int run_same(const run *a, const run *b)
{
    return a->rc == b->rc && a->log_len == b->log_len && a->out_len == b->out_len &&
           memcmp(a->log, b->log, a->log_len) == 0 && memcmp(a->out, b->out, a->out_len) == 0;
}

static void run_free(run *r)
{
    free(r->log);
    free(r->out);
}

/* Feed whole, byte by byte, at every split point (and every pair of split
 * points for short streams, at sampled points for long ones): the
 * callbacks and the sent bytes must be identical. Returns the whole run. */
static run check_splits(int role, const nostr_ws_config *cfg, const unsigned char *s, size_t n)
{
    run whole = run_cuts(role, cfg, s, n, NULL, 0), other;
    size_t *cuts = (size_t *)malloc((n + 1) * sizeof *cuts), i, j, bad = 0;
    for (i = 0; i < n; i++) cuts[i] = i + 1;
    other = run_cuts(role, cfg, s, n, cuts, n ? n - 1 : 0);
    CHECK(run_same(&whole, &other));
    run_free(&other);
    for (i = 0; i <= n; i++) {
        size_t cut = i;
        if (n > 300 && i > 40 && i + 40 < n && i % 997 != 0) continue; /* sample long streams */
        other = run_cuts(role, cfg, s, n, &cut, 1);
        if (!run_same(&whole, &other)) bad++;
        run_free(&other);
    }
    CHECK_EQ(bad, 0);
    if (n <= 64) {
        for (i = 0; i <= n; i++)
            for (j = i; j <= n; j++) {
                size_t two[2];
                two[0] = i;
                two[1] = j;
                other = run_cuts(role, cfg, s, n, two, 2);
                if (!run_same(&whole, &other)) bad++;
                run_free(&other);
            }
        CHECK_EQ(bad, 0);
    }
    free(cuts);
    return whole;
}

static const unsigned char hello_masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};

/* ---- RFC 6455 section 5.7 examples ---- */

static void test_rfc_examples(void)
{
    static const unsigned char hello[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    static const unsigned char frag[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
    static const unsigned char ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    static const unsigned char pong_masked[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    static const unsigned char ping_masked[] = {0x89, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    char hello_line[64], line[64];
    run r;
    snprintf(hello_line, sizeof hello_line, "M1:5:%08x:48656c6c6f\n", (unsigned)fnv("Hello", 5));

    r = check_splits(NOSTR_WS_CLIENT, NULL, hello, sizeof hello);
    CHECK_EQ(r.rc, NOSTR_OK);
    CHECK_STR(r.log, hello_line);
    CHECK_EQ(r.out_len, 0);
    run_free(&r);

    r = check_splits(NOSTR_WS_SERVER, NULL, hello_masked, sizeof hello_masked);
    CHECK_EQ(r.rc, NOSTR_OK);
    CHECK_STR(r.log, hello_line);
    run_free(&r);

    r = check_splits(NOSTR_WS_CLIENT, NULL, frag, sizeof frag);
    CHECK_STR(r.log, hello_line);
    run_free(&r);

    /* a server answers a masked ping with an unmasked pong, same payload */
    r = check_splits(NOSTR_WS_SERVER, NULL, ping_masked, sizeof ping_masked);
    CHECK_EQ(r.log_len, 0);
    CHECK_EQ(r.out_len, 7);
    CHECK_MEM(r.out, "\x8a\x05Hello", 7);
    run_free(&r);

    /* a client answers with a masked pong */
    r = check_splits(NOSTR_WS_CLIENT, NULL, ping, sizeof ping);
    CHECK_EQ(r.out_len, 11);
    if (r.out_len == 11) {
        unsigned char un[5];
        int i;
        CHECK_EQ((unsigned char)r.out[0], 0x8a);
        CHECK_EQ((unsigned char)r.out[1], 0x85);
        for (i = 0; i < 5; i++) un[i] = (unsigned char)(r.out[6 + i] ^ r.out[2 + (i & 3)]);
        CHECK_MEM(un, "Hello", 5);
    }
    run_free(&r);

    r = check_splits(NOSTR_WS_SERVER, NULL, pong_masked, sizeof pong_masked);
    snprintf(line, sizeof line, "P0:5:%08x:48656c6c6f\n", (unsigned)fnv("Hello", 5));
    CHECK_STR(r.log, line);
    CHECK_EQ(r.out_len, 0);
    run_free(&r);
}

static void test_binary_lengths(void)
{
    size_t sizes[2] = {256, 65536}, k, i;
    for (k = 0; k < 2; k++) {
        size_t n = sizes[k], hl = n < 65536 ? 4 : 10;
        unsigned char *s = (unsigned char *)malloc(n + hl);
        char line[64];
        run r;
        s[0] = 0x82;
        if (hl == 4) {
            s[1] = 0x7E;
            s[2] = (unsigned char)(n >> 8);
            s[3] = (unsigned char)n;
        } else {
            s[1] = 0x7F;
            for (i = 0; i < 8; i++) s[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        }
        for (i = 0; i < n; i++) s[hl + i] = (unsigned char)(i * 7 + 3);
        r = check_splits(NOSTR_WS_CLIENT, NULL, s, n + hl);
        snprintf(line, sizeof line, "M2:%zu:%08x:\n", n, (unsigned)fnv((const char *)s + hl, n));
        CHECK_EQ(r.rc, NOSTR_OK);
        CHECK_STR(r.log, line);
        run_free(&r);
        free(s);
    }
}

/* Build a masked frame (server input) with a fixed key. */
static size_t masked_frame(unsigned char *out, int b0, const void *payload, size_t n)
{
    static const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
    size_t h = 2, i;
    out[0] = (unsigned char)b0;
    if (n <= 125) {
        out[1] = (unsigned char)(0x80 | n);
    } else if (n <= 0xFFFF) {
        out[1] = 0x80 | 126;
        out[2] = (unsigned char)(n >> 8);
        out[3] = (unsigned char)n;
        h = 4;
    } else {
        out[1] = 0x80 | 127;
        for (i = 0; i < 8; i++) out[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        h = 10;
    }
    memcpy(out + h, key, 4);
    for (i = 0; i < n; i++) out[h + 4 + i] = (unsigned char)(((const unsigned char *)payload)[i] ^ key[i & 3]);
    return h + 4 + n;
}

/* A fragmented text message with a ping and a pong between fragments, a
 * binary message, then a close: all at every split point. */
static void test_stream_with_controls(void)
{
    unsigned char s[512];
    size_t n = 0;
    char expect[512];
    run r;
    n += masked_frame(s + n, 0x01, "caf\xc3", 4); /* é split across fragments */
    n += masked_frame(s + n, 0x89, "p1", 2);
    n += masked_frame(s + n, 0x00, "\xa9 ", 2);
    n += masked_frame(s + n, 0x8A, "q", 1);
    n += masked_frame(s + n, 0x80, "ok", 2);
    n += masked_frame(s + n, 0x82, "", 0);
    n += masked_frame(s + n, 0x88, "\x03\xe8" "bye", 5);
    n += masked_frame(s + n, 0x81, "late", 4); /* after the close: ignored */
    r = check_splits(NOSTR_WS_SERVER, NULL, s, n);
    CHECK_EQ(r.rc, NOSTR_OK);
    snprintf(expect, sizeof expect, "P0:1:%08x:71\nM1:8:%08x:636166c3a9206f6b\nM2:0:%08x:\nC1000:3:%08x:627965\n",
             (unsigned)fnv("q", 1), (unsigned)fnv("caf\xc3\xa9 ok", 8), (unsigned)fnv("", 0),
             (unsigned)fnv("bye", 3));
    CHECK_STR(r.log, expect);
    /* sent: pong "p1", then the echoed close: code 1000, reason "bye" */
    CHECK_EQ(r.out_len, 11);
    CHECK_MEM(r.out, "\x8a\x02p1\x88\x05\x03\xe8" "bye", 11);
    run_free(&r);
}

/* ---- protocol errors: the right close code, then silence ---- */

/* Feed s to a fresh framer at every split; expect close `code` sent and
 * reported, NOSTR_ERR_WS, state CLOSED, and no message delivered. */
static void expect_fail_cfg(int role, const nostr_ws_config *cfg, const unsigned char *s, size_t n, int code,
                            int expect_rc)
{
    run r = check_splits(role, cfg, s, n);
    char want[32];
    size_t body = role == NOSTR_WS_CLIENT ? 6 : 2; /* a client's close is masked */
    CHECK_EQ(r.rc, expect_rc);
    snprintf(want, sizeof want, "C%d:", code);
    CHECK(strncmp(r.log, want, strlen(want)) == 0);
    CHECK(strchr(r.log, '\n') == r.log + r.log_len - 1); /* on_close only, once */
    CHECK(r.out_len >= body + 2);
    if (r.out_len >= body + 2) {
        unsigned char c0 = (unsigned char)r.out[body], c1 = (unsigned char)r.out[body + 1];
        if (role == NOSTR_WS_CLIENT) {
            c0 ^= (unsigned char)r.out[2];
            c1 ^= (unsigned char)r.out[3];
        }
        CHECK_EQ((unsigned char)r.out[0], 0x88);
        CHECK_EQ((c0 << 8) | c1, code);
    }
    if (strncmp(r.log, want, strlen(want)) != 0) fprintf(stderr, "  log was: %s", r.log);
    run_free(&r);
}

static void expect_fail(int role, const unsigned char *s, size_t n, int code)
{
    expect_fail_cfg(role, NULL, s, n, code, NOSTR_ERR_WS);
}

static void test_protocol_errors(void)
{
    unsigned char s[256];
    size_t n;
    static const unsigned char unmasked_text[] = {0x81, 0x02, 'h', 'i'};
    static const unsigned char high_bit[] = {0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1};
    int codes[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}, i;

    n = masked_frame(s, 0xC1, "x", 1); /* RSV1 */
    expect_fail(NOSTR_WS_SERVER, s, n, 1002);
    n = masked_frame(s, 0xA1, "x", 1); /* RSV2 */
    expect_fail(NOSTR_WS_SERVER, s, n, 1002);
    n = masked_frame(s, 0x91, "x", 1); /* RSV3 */
    expect_fail(NOSTR_WS_SERVER, s, n, 1002);
    n = masked_frame(s, 0x83, "x", 1); /* reserved data opcode */
    expect_fail(NOSTR_WS_SERVER, s, n, 1002);
    n = masked_frame(s, 0x8B, "x", 1); /* reserved control opcode */
    expect_fail(NOSTR_WS_SERVER, s, n, 1002);
    n = masked_frame(s, 0x09, "x", 1); /* fragmented ping */
    expect_fail(NOSTR_WS_SERVER, s, n, 1002);
    memset(s + 100, 'a', 126);
    n = masked_frame(s, 0x89, s + 100, 126); /* ping over 125 bytes */
    expect_fail(NOSTR_WS_SERVER, s, n, 1002);
    expect_fail(NOSTR_WS_SERVER, unmasked_text, sizeof unmasked_text, 1002); /* client must mask */
    n = masked_frame(s, 0x81, "hi", 2);
    expect_fail(NOSTR_WS_CLIENT, s, n, 1002); /* server must not mask */
    n = masked_frame(s, 0x80, "hi", 2);       /* continuation with nothing open */
    expect_fail(NOSTR_WS_SERVER, s, n, 1002);
    n = masked_frame(s, 0x01, "a", 1);
    n += masked_frame(s + n, 0x81, "b", 1); /* new message inside a fragmented one */
    expect_fail(NOSTR_WS_SERVER, s, n, 1002);
    expect_fail(NOSTR_WS_CLIENT, high_bit, sizeof high_bit, 1002);

    /* invalid UTF-8: whole message, and caught in the first fragment */
    n = masked_frame(s, 0x81, "a\xff", 2);
    expect_fail(NOSTR_WS_SERVER, s, n, 1007);
    n = masked_frame(s, 0x81, "\xed\xa0\x80", 3); /* surrogate */
    expect_fail(NOSTR_WS_SERVER, s, n, 1007);
    n = masked_frame(s, 0x01, "\xc0\xaf", 2); /* overlong, message not finished */
    expect_fail(NOSTR_WS_SERVER, s, n, 1007);
    n = masked_frame(s, 0x81, "ab\xe2\x82", 4); /* truncated at the end */
    expect_fail(NOSTR_WS_SERVER, s, n, 1007);
    n = masked_frame(s, 0x01, "ab\xe2\x82", 4); /* truncated, then finished with garbage */
    n += masked_frame(s + n, 0x80, "x", 1);
    expect_fail(NOSTR_WS_SERVER, s, n, 1007);
    /* binary may hold anything */
    {
        run r;
        n = masked_frame(s, 0x82, "\xff\xfe", 2);
        r = check_splits(NOSTR_WS_SERVER, NULL, s, n);
        CHECK_EQ(r.rc, NOSTR_OK);
        CHECK(r.log[0] == 'M');
        run_free(&r);
    }

    /* close frames */
    n = masked_frame(s, 0x88, "\x03", 1);
    expect_fail(NOSTR_WS_SERVER, s, n, 1002);
    for (i = 0; i < (int)(sizeof codes / sizeof codes[0]); i++) {
        unsigned char body[2];
        body[0] = (unsigned char)(codes[i] >> 8);
        body[1] = (unsigned char)codes[i];
        n = masked_frame(s, 0x88, body, 2);
        expect_fail(NOSTR_WS_SERVER, s, n, 1002);
    }
    n = masked_frame(s, 0x88, "\x03\xe8\xc3", 3); /* reason not UTF-8 */
    expect_fail(NOSTR_WS_SERVER, s, n, 1007);
}

static void test_valid_close_codes(void)
{
    int codes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999}, i;
    for (i = 0; i < (int)(sizeof codes / sizeof codes[0]); i++) {
        peer p;
        unsigned char s[16], body[2];
        size_t n;
        char want[32];
        body[0] = (unsigned char)(codes[i] >> 8);
        body[1] = (unsigned char)codes[i];
        n = masked_frame(s, 0x88, body, 2);
        peer_init(&p, NOSTR_WS_SERVER);
        CHECK_EQ(nostr_ws_feed(&p.ws, s, n), NOSTR_OK);
        CHECK_EQ(nostr_ws_state(&p.ws), NOSTR_WS_CLOSED);
        CHECK_EQ(p.r.out.len, 4); /* the code echoed */
        CHECK_MEM(p.r.out.data, "\x88\x02", 2);
        CHECK_MEM(p.r.out.data + 2, body, 2);
        snprintf(want, sizeof want, "C%d:0:", codes[i]);
        CHECK(strncmp(p.r.log.data, want, strlen(want)) == 0);
        CHECK(nostr_ws_close_code_valid(codes[i]));
        peer_free(&p);
        /* and we may send it: a server's close frame is 0x88, length, code */
        peer_init(&p, NOSTR_WS_SERVER);
        CHECK_EQ(nostr_ws_close(&p.ws, codes[i], "bye", 3), NOSTR_OK);
        CHECK_EQ(nostr_ws_state(&p.ws), NOSTR_WS_CLOSING);
        CHECK_EQ(p.r.out.len, 7);
        CHECK_MEM(p.r.out.data, "\x88\x05", 2);
        CHECK_MEM(p.r.out.data + 2, body, 2);
        CHECK_MEM(p.r.out.data + 4, "bye", 3);
        peer_free(&p);
    }
    CHECK_EQ(NOSTR_WS_CLOSE_RESTART, 1012);
    CHECK_EQ(NOSTR_WS_CLOSE_TRY_LATER, 1013);
    CHECK_EQ(NOSTR_WS_CLOSE_BAD_GATEWAY, 1014);
    {
        static const int bad[] = {-1, 0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535};
        for (i = 0; i < (int)(sizeof bad / sizeof bad[0]); i++) {
            peer p;
            CHECK(!nostr_ws_close_code_valid(bad[i]));
            if (bad[i] == 0) continue; /* 0 = a close frame without a code */
            peer_init(&p, NOSTR_WS_SERVER);
            CHECK_EQ(nostr_ws_close(&p.ws, bad[i], NULL, 0), NOSTR_ERR_ARG);
            CHECK_EQ(p.r.out.len, 0);
            CHECK_EQ(nostr_ws_state(&p.ws), NOSTR_WS_OPEN);
            peer_free(&p);
        }
    }
}

/* ---- close handshake ---- */

static void test_close_handshake(void)
{
    peer p;
    unsigned char s[64];
    size_t n;
    /* peer closes with no code: echo an empty close, report 1005 */
    peer_init(&p, NOSTR_WS_SERVER);
    n = masked_frame(s, 0x88, "", 0);
    CHECK_EQ(nostr_ws_feed(&p.ws, s, n), NOSTR_OK);
    CHECK_EQ(p.r.out.len, 2);
    CHECK_MEM(p.r.out.data, "\x88\x00", 2);
    CHECK_EQ(p.r.closes, 1);
    CHECK(strncmp(p.r.log.data, "C1005:0:", 8) == 0);
    CHECK_EQ(p.ws.close_code, 1005);
    /* nothing more is delivered or sent */
    n = masked_frame(s, 0x81, "x", 1);
    CHECK_EQ(nostr_ws_feed(&p.ws, s, n), NOSTR_ERR_CLOSED);
    CHECK_EQ(nostr_ws_send_text(&p.ws, "x", 1), NOSTR_ERR_CLOSED);
    CHECK_EQ(nostr_ws_send_ping(&p.ws, "x", 1), NOSTR_ERR_CLOSED);
    CHECK_EQ(nostr_ws_close(&p.ws, 1000, NULL, 0), NOSTR_OK); /* peer closed first: no-op */
    nostr_ws_abort(&p.ws);
    CHECK_EQ(p.r.closes, 1);
    CHECK_EQ(p.r.out.len, 2);
    peer_free(&p);

    /* we close first: CLOSING, input data dropped, pings not answered,
     * then the peer's close ends it */
    peer_init(&p, NOSTR_WS_SERVER);
    CHECK_EQ(nostr_ws_close(&p.ws, 5000, NULL, 0), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_ws_close(&p.ws, 1005, NULL, 0), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_ws_close(&p.ws, 1000, "\xff", 1), NOSTR_ERR_ARG);
    CHECK_EQ(p.r.out.len, 0);
    CHECK_EQ(nostr_ws_close(&p.ws, 1001, "going", 5), NOSTR_OK);
    CHECK_EQ(nostr_ws_state(&p.ws), NOSTR_WS_CLOSING);
    CHECK_EQ(p.r.out.len, 9);
    CHECK_MEM(p.r.out.data, "\x88\x07\x03\xe9going", 9);
    CHECK_EQ(nostr_ws_close(&p.ws, 1000, NULL, 0), NOSTR_ERR_CLOSED);
    CHECK_EQ(nostr_ws_send_binary(&p.ws, "x", 1), NOSTR_ERR_CLOSED);
    n = masked_frame(s, 0x81, "late", 4);
    n += masked_frame(s + n, 0x89, "pp", 2);
    CHECK_EQ(nostr_ws_feed(&p.ws, s, n), NOSTR_OK);
    CHECK_EQ(p.r.log.len, 0);
    CHECK_EQ(p.r.out.len, 9);
    n = masked_frame(s, 0x88, "\x03\xe9", 2);
    CHECK_EQ(nostr_ws_feed(&p.ws, s, n), NOSTR_OK);
    CHECK_EQ(nostr_ws_state(&p.ws), NOSTR_WS_CLOSED);
    CHECK_EQ(p.r.closes, 1);
    CHECK(strncmp(p.r.log.data, "C1001:0:", 8) == 0);
    CHECK_EQ(p.r.out.len, 9); /* no second close */
    peer_free(&p);

    /* close without a code */
    peer_init(&p, NOSTR_WS_CLIENT);
    CHECK_EQ(nostr_ws_close(&p.ws, 0, "x", 1), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_ws_close(&p.ws, 0, NULL, 0), NOSTR_OK);
    CHECK_EQ(p.r.out.len, 6); /* masked, empty */
    CHECK_EQ((unsigned char)p.r.out.data[1], 0x80);
    peer_free(&p);

    /* send failure: CLOSED, on_close(1006), the error returned */
    peer_init(&p, NOSTR_WS_SERVER);
    p.r.fail_send = NOSTR_ERR_NET;
    CHECK_EQ(nostr_ws_send_text(&p.ws, "hi", 2), NOSTR_ERR_NET);
    CHECK_EQ(nostr_ws_state(&p.ws), NOSTR_WS_CLOSED);
    CHECK_EQ(p.r.closes, 1);
    CHECK(strncmp(p.r.log.data, "C1006:", 6) == 0);
    CHECK_EQ(nostr_ws_send_text(&p.ws, "hi", 2), NOSTR_ERR_CLOSED);
    peer_free(&p);
    peer_init(&p, NOSTR_WS_SERVER);
    p.r.fail_send = 1; /* a positive failure becomes NOSTR_ERR_NET */
    n = masked_frame(s, 0x89, "", 0);
    CHECK_EQ(nostr_ws_feed(&p.ws, s, n), NOSTR_ERR_NET);
    CHECK_EQ(p.r.closes, 1);
    peer_free(&p);

    /* abort reports 1006 once */
    peer_init(&p, NOSTR_WS_CLIENT);
    nostr_ws_abort(&p.ws);
    nostr_ws_abort(&p.ws);
    CHECK_EQ(p.r.closes, 1);
    CHECK_EQ(p.ws.close_code, 1006);
    CHECK_EQ(nostr_ws_feed(&p.ws, "\x81\x00", 2), NOSTR_ERR_CLOSED);
    peer_free(&p);
}

/* ---- limits ---- */

static void test_limits(void)
{
    nostr_ws_config cfg;
    unsigned char *s = (unsigned char *)malloc(4096), big[1200];
    size_t n;
    run r;
    memset(&cfg, 0, sizeof cfg);
    memset(big, 'a', sizeof big);
    cfg.max_frame = 100;
    cfg.max_message = 250;
    /* exactly max_frame: fine; one more: 1009 */
    n = masked_frame(s, 0x82, big, 100);
    r = check_splits(NOSTR_WS_SERVER, &cfg, s, n);
    CHECK_EQ(r.rc, NOSTR_OK);
    CHECK(strncmp(r.log, "M2:100:", 7) == 0);
    run_free(&r);
    n = masked_frame(s, 0x82, big, 101);
    expect_fail_cfg(NOSTR_WS_SERVER, &cfg, s, n, 1009, NOSTR_ERR_WS);
    /* the message limit across fragments: 100+100+50 fits, 100+100+51 not */
    n = masked_frame(s, 0x01, big, 100);
    n += masked_frame(s + n, 0x00, big, 100);
    n += masked_frame(s + n, 0x80, big, 50);
    r = check_splits(NOSTR_WS_SERVER, &cfg, s, n);
    CHECK(strncmp(r.log, "M1:250:", 7) == 0);
    run_free(&r);
    n = masked_frame(s, 0x01, big, 100);
    n += masked_frame(s + n, 0x00, big, 100);
    n += masked_frame(s + n, 0x80, big, 51);
    expect_fail_cfg(NOSTR_WS_SERVER, &cfg, s, n, 1009, NOSTR_ERR_WS);
    /* control frames do not count against the data limits */
    n = masked_frame(s, 0x89, big, 125);
    r = check_splits(NOSTR_WS_SERVER, &cfg, s, n);
    CHECK_EQ(r.out_len, 127);
    run_free(&r);
    /* a huge declared length is refused before any payload arrives */
    {
        static const unsigned char huge[] = {0x82, 0x7F, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0};
        expect_fail(NOSTR_WS_CLIENT, huge, sizeof huge, 1009);
    }
    free(s);
}

/* The reassembly buffer comes from the configured allocator, is reused,
 * and an allocation failure closes with 1011. */
typedef struct count_al {
    int allocs, frees, fail;
} count_al;

static void *ca_alloc(void *u, size_t n)
{
    count_al *c = (count_al *)u;
    if (c->fail) return NULL;
    c->allocs++;
    return malloc(n);
}

static void *ca_realloc(void *u, void *p, size_t n)
{
    count_al *c = (count_al *)u;
    if (c->fail) return NULL;
    c->allocs++;
    return realloc(p, n);
}

static void ca_free(void *u, void *p)
{
    count_al *c = (count_al *)u;
    if (p) c->frees++;
    free(p);
}

static void test_allocator(void)
{
    nostr_ws_config cfg;
    count_al ca;
    peer p;
    unsigned char s[600], payload[500];
    size_t n;
    int i, allocs_after_first;
    memset(&cfg, 0, sizeof cfg);
    memset(&ca, 0, sizeof ca);
    memset(payload, 'z', sizeof payload);
    cfg.allocator.alloc = ca_alloc;
    cfg.allocator.realloc = ca_realloc;
    cfg.allocator.free = ca_free;
    cfg.allocator.user = &ca;
    peer_init_cfg(&p, NOSTR_WS_SERVER, &cfg);
    CHECK_EQ(ca.allocs, 0); /* init allocates nothing */
    n = masked_frame(s, 0x82, payload, sizeof payload);
    CHECK_EQ(nostr_ws_feed(&p.ws, s, n), NOSTR_OK);
    allocs_after_first = ca.allocs;
    CHECK(allocs_after_first >= 1);
    for (i = 0; i < 100; i++) CHECK_EQ(nostr_ws_feed(&p.ws, s, n), NOSTR_OK);
    CHECK_EQ(ca.allocs, allocs_after_first); /* reused */
    peer_free(&p);
    CHECK_EQ(ca.frees, 1);

    memset(&ca, 0, sizeof ca);
    ca.fail = 1;
    peer_init_cfg(&p, NOSTR_WS_SERVER, &cfg);
    CHECK_EQ(nostr_ws_feed(&p.ws, s, n), NOSTR_ERR_NOMEM);
    CHECK_EQ(nostr_ws_state(&p.ws), NOSTR_WS_CLOSED);
    CHECK(strncmp(p.r.log.data, "C1011:", 6) == 0);
    CHECK_MEM(p.r.out.data, "\x88", 1);
    peer_free(&p);
}

/* ---- loopback: a client and a server framer wired through queues ---- */

typedef struct link {
    peer client, server;
    size_t chunk; /* bytes moved per step */
    int echoes;
} link;

/* Move one peer's queued output into the other, chunk bytes per feed.
 * The queue is consumed from an offset and cleared at the end, not
 * shifted per chunk (that made a 1 MiB message in 7-byte chunks cost
 * gigabytes of memmove). */
static int pump_one(peer *from, peer *to, size_t chunk)
{
    size_t off = 0;
    if (!from->r.out.len) return 0;
    while (off < from->r.out.len && to->ws.state != NOSTR_WS_CLOSED) {
        size_t take = from->r.out.len - off < chunk ? from->r.out.len - off : chunk;
        nostr_ws_feed(&to->ws, from->r.out.data + off, take);
        off += take; /* the feed may append to from's queue (an echo): the loop sees it */
    }
    if (off < from->r.out.len) return 0; /* the other side is closed: the rest stays */
    from->r.out.len = 0;
    return 1;
}

static void pump(link *l)
{
    int moved = 1;
    while (moved) {
        moved = pump_one(&l->client, &l->server, l->chunk);
        moved |= pump_one(&l->server, &l->client, l->chunk);
    }
}

/* Server-side echo: the message callback queues the echo (send only
 * appends to the server's queue, so there is no re-entrant feed). */
static nostr_ws *echo_ws;
static void echo_message(void *user, int opcode, const char *p, size_t n)
{
    rec_message(user, opcode, p, n);
    if (opcode == NOSTR_WS_OP_TEXT)
        CHECK_EQ(nostr_ws_send_text(echo_ws, p, n), NOSTR_OK);
    else
        CHECK_EQ(nostr_ws_send_binary(echo_ws, p, n), NOSTR_OK);
}

static void test_loopback(void)
{
    size_t sizes[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 100, 125, 126, 127, 128, 1000, 8191, 8192, 8193, 8200, 65535,
                      65536, 65537, 100000, 300000, 1048576};
    size_t chunks[] = {1, 7, 4096, 1 << 20};
    size_t ci, si;
    char *data = (char *)malloc(1048576);
    for (si = 0; si < 1048576; si++) data[si] = (char)('a' + si % 26);
    for (ci = 0; ci < sizeof chunks / sizeof chunks[0]; ci++) {
        link l;
        size_t delivered = 0, nmsgs = 0;
        peer_init(&l.client, NOSTR_WS_CLIENT);
        peer_init(&l.server, NOSTR_WS_SERVER);
        l.server.ws.cb.on_message = echo_message;
        echo_ws = &l.server.ws;
        l.chunk = chunks[ci];
        for (si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            size_t n = sizes[si];
            char want[128];
            if (chunks[ci] == 1 && n > 70000) continue; /* byte by byte: keep it quick */
            nostr_buf_clear(&l.client.r.log);
            CHECK_EQ(nostr_ws_send_text(&l.client.ws, data, n), NOSTR_OK);
            pump(&l);
            snprintf(want, sizeof want, "M1:%zu:%08x:", n, (unsigned)fnv(data, n));
            CHECK(l.client.r.log.len > 0 && strncmp(l.client.r.log.data, want, strlen(want)) == 0);
            nostr_buf_clear(&l.client.r.log);
            CHECK_EQ(nostr_ws_send_binary(&l.client.ws, data + 1, n ? n - 1 : 0), NOSTR_OK);
            pump(&l);
            snprintf(want, sizeof want, "M2:%zu:%08x:", n ? n - 1 : 0, (unsigned)fnv(data + 1, n ? n - 1 : 0));
            CHECK(l.client.r.log.len > 0 && strncmp(l.client.r.log.data, want, strlen(want)) == 0);
            delivered += n;
            nmsgs += 2;
        }
        /* fragmented from the client, with a ping between the fragments */
        nostr_buf_clear(&l.client.r.log);
        CHECK_EQ(nostr_ws_send_frame(&l.client.ws, NOSTR_WS_OP_TEXT, 0, "frag", 4), NOSTR_OK);
        CHECK_EQ(nostr_ws_send_text(&l.client.ws, "x", 1), NOSTR_ERR_ARG); /* a message is open */
        CHECK_EQ(nostr_ws_send_ping(&l.client.ws, "are you there", 13), NOSTR_OK);
        CHECK_EQ(nostr_ws_send_frame(&l.client.ws, NOSTR_WS_OP_CONT, 0, "ment", 4), NOSTR_OK);
        CHECK_EQ(nostr_ws_send_frame(&l.client.ws, NOSTR_WS_OP_CONT, 1, "ed", 2), NOSTR_OK);
        CHECK_EQ(nostr_ws_send_frame(&l.client.ws, NOSTR_WS_OP_CONT, 1, "ed", 2), NOSTR_ERR_ARG);
        pump(&l);
        {
            char want[256];
            snprintf(want, sizeof want, "P0:13:%08x:61726520796f75207468657265\nM1:10:%08x:667261676d656e746564\n",
                     (unsigned)fnv("are you there", 13), (unsigned)fnv("fragmented", 10));
            CHECK_STR(l.client.r.log.data, want);
        }
        /* the client closes; the server echoes; both report once */
        CHECK_EQ(nostr_ws_close(&l.client.ws, 4000, "done", 4), NOSTR_OK);
        pump(&l);
        CHECK_EQ(nostr_ws_state(&l.client.ws), NOSTR_WS_CLOSED);
        CHECK_EQ(nostr_ws_state(&l.server.ws), NOSTR_WS_CLOSED);
        CHECK_EQ(l.client.r.closes, 1);
        CHECK_EQ(l.server.r.closes, 1);
        CHECK_EQ(l.client.ws.close_code, 4000);
        CHECK_EQ(l.server.ws.close_code, 4000);
        CHECK(nmsgs > 0 && delivered > 0);
        peer_free(&l.client);
        peer_free(&l.server);
    }
    free(data);
}

static void test_init_and_args(void)
{
    nostr_ws ws;
    nostr_ws_callbacks cb;
    nostr_ws_config cfg;
    peer p;
    memset(&cb, 0, sizeof cb);
    memset(&cfg, 0, sizeof cfg);
    CHECK_EQ(nostr_ws_init(&ws, NOSTR_WS_SERVER, NULL, &cb), NOSTR_ERR_ARG); /* no send */
    cb.send = rec_send;
    CHECK_EQ(nostr_ws_init(&ws, 7, NULL, &cb), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_ws_init(&ws, NOSTR_WS_CLIENT, &cfg, &cb), NOSTR_ERR_ARG); /* client without rng */
    CHECK_EQ(nostr_ws_init(&ws, NOSTR_WS_SERVER, NULL, &cb), NOSTR_OK);
    CHECK_EQ(nostr_ws_state(&ws), NOSTR_WS_OPEN);
    nostr_ws_free(&ws);
    peer_init(&p, NOSTR_WS_SERVER);
    CHECK_EQ(nostr_ws_send_text(&p.ws, "\xc3", 1), NOSTR_ERR_UTF8);
    CHECK_EQ(nostr_ws_send_ping(&p.ws, p.r.log.data, 126), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_ws_send_frame(&p.ws, NOSTR_WS_OP_CONT, 1, "x", 1), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_ws_send_frame(&p.ws, NOSTR_WS_OP_PING, 1, "x", 1), NOSTR_ERR_ARG);
    CHECK_EQ(p.r.out.len, 0);
    /* server frames: 7-, 16- and 64-bit lengths, unmasked */
    {
        static char big[70000];
        CHECK_EQ(nostr_ws_send_binary(&p.ws, big, 125), NOSTR_OK);
        CHECK_EQ(p.r.out.len, 127);
        CHECK_MEM(p.r.out.data, "\x82\x7d", 2);
        nostr_buf_clear(&p.r.out);
        CHECK_EQ(nostr_ws_send_binary(&p.ws, big, 126), NOSTR_OK);
        CHECK_EQ(p.r.out.len, 130);
        CHECK_MEM(p.r.out.data, "\x82\x7e\x00\x7e", 4);
        nostr_buf_clear(&p.r.out);
        CHECK_EQ(nostr_ws_send_binary(&p.ws, big, 65536), NOSTR_OK);
        CHECK_EQ(p.r.out.len, 65546);
        CHECK_MEM(p.r.out.data, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
    }
    peer_free(&p);
}

/* ---- handshake ---- */

static void test_accept_key(void)
{
    char out[29];
    char many[100];
    nostr_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out); /* RFC 6455 section 1.3 */
    CHECK_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    nostr_ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", 24, out); /* a second key, checked with Python hashlib */
    CHECK_STR(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    memset(many, 'A', sizeof many); /* key + GUID spans three SHA-1 blocks */
    nostr_ws_accept_key(many, sizeof many, out);
    CHECK_STR(out, "WXqNWiGhe0+utGv47+HlLjR7KVw=");
}

static int parse_http(nostr_http_parser *hp, int kind, const char *text, size_t *used)
{
    nostr_http_parser_init(hp, kind, NULL);
    return nostr_http_feed(hp, text, strlen(text), used);
}

static void test_server_handshake(void)
{
    static const char rfc_req[] = "GET /chat HTTP/1.1\r\n"
                                  "Host: server.example.com\r\n"
                                  "Upgrade: websocket\r\n"
                                  "Connection: Upgrade\r\n"
                                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                  "Origin: http://example.com\r\n"
                                  "Sec-WebSocket-Version: 13\r\n\r\n";
    nostr_http_parser hp;
    nostr_buf out;
    nostr_error err;
    size_t used = 0;
    nostr_buf_init(&out, NULL);
    CHECK_EQ(parse_http(&hp, NOSTR_HTTP_REQUEST, rfc_req, &used), NOSTR_HTTP_DONE);
    CHECK(nostr_ws_is_upgrade(&hp.msg));
    CHECK_EQ(nostr_ws_server_handshake(&hp.msg, &out, &err), NOSTR_OK);
    CHECK(strncmp(out.data, "HTTP/1.1 101 ", 13) == 0);
    CHECK(strstr(out.data, "\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != NULL);
    CHECK(strstr(out.data, "\r\nUpgrade: websocket\r\n") != NULL);
    CHECK(out.len > 4 && memcmp(out.data + out.len - 4, "\r\n\r\n", 4) == 0);
    nostr_http_parser_free(&hp);

    /* bad requests: the error answer and NOSTR_ERR_HTTP */
    {
        struct bad {
            const char *req;
            const char *status;
        } cases[] = {
            {"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
             "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
             "HTTP/1.1 426 "},
            {"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Version: 13\r\n\r\n",
             "HTTP/1.1 400 "},
            {"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
             "dGhlIHNhbXBsZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
             "HTTP/1.1 400 "},
            {"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
             "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
             "HTTP/1.1 400 "},
            {"POST / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
             "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n",
             "HTTP/1.1 400 "},
        };
        size_t i;
        for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            nostr_buf_clear(&out);
            CHECK_EQ(parse_http(&hp, NOSTR_HTTP_REQUEST, cases[i].req, &used), NOSTR_HTTP_DONE);
            memset(&err, 0, sizeof err);
            CHECK_EQ(nostr_ws_server_handshake(&hp.msg, &out, &err), NOSTR_ERR_HTTP);
            CHECK(err.msg != NULL);
            CHECK(out.len > 13 && strncmp(out.data, cases[i].status, 13) == 0);
            if (i == 0) CHECK(strstr(out.data, "Sec-WebSocket-Version: 13\r\n") != NULL);
            nostr_http_parser_free(&hp);
        }
    }
    nostr_buf_free(&out);
}

/* Client request -> server handshake -> client check, through the parser;
 * frames right after the 101 in the same read stay for the framer. */
static void test_client_handshake(void)
{
    unsigned char key[16];
    nostr_buf req, resp;
    nostr_http_parser hp;
    nostr_error err;
    size_t used = 0, i;
    for (i = 0; i < 16; i++) key[i] = (unsigned char)(i * 11 + 1);
    nostr_buf_init(&req, NULL);
    nostr_buf_init(&resp, NULL);
    CHECK_EQ(nostr_ws_client_request(&req, "relay.example:7447", "/nostr?x=1", key,
                                     "User-Agent: distrise-test\r\nOrigin: http://x\r\n"),
             NOSTR_OK);
    CHECK(strncmp(req.data, "GET /nostr?x=1 HTTP/1.1\r\n", 25) == 0);
    CHECK(strstr(req.data, "\r\nUser-Agent: distrise-test\r\nOrigin: http://x\r\n\r\n") != NULL);
    CHECK(strstr(req.data, "\r\nHost: relay.example:7447\r\n") != NULL);
    CHECK_EQ(parse_http(&hp, NOSTR_HTTP_REQUEST, req.data, &used), NOSTR_HTTP_DONE);
    CHECK_EQ(used, req.len);
    CHECK_EQ(nostr_ws_server_handshake(&hp.msg, &resp, &err), NOSTR_OK);
    nostr_http_parser_free(&hp);
    /* a text frame straight after the 101 */
    nostr_buf_append(&resp, "\x81\x02hi", 4);
    CHECK_EQ(parse_http(&hp, NOSTR_HTTP_RESPONSE, resp.data, &used), NOSTR_HTTP_DONE);
    CHECK_EQ(used, resp.len - 4);
    CHECK_EQ(nostr_ws_client_check_response(&hp.msg, key, &err), NOSTR_OK);
    key[0] ^= 1; /* another key: the accept value no longer matches */
    memset(&err, 0, sizeof err);
    CHECK_EQ(nostr_ws_client_check_response(&hp.msg, key, &err), NOSTR_ERR_HTTP);
    CHECK(err.msg != NULL && strstr(err.msg, "Accept") != NULL);
    key[0] ^= 1;
    nostr_http_parser_free(&hp);
    {
        peer p;
        peer_init(&p, NOSTR_WS_CLIENT);
        CHECK_EQ(nostr_ws_feed(&p.ws, resp.data + used, resp.len - used), NOSTR_OK);
        CHECK(strncmp(p.r.log.data, "M1:2:", 5) == 0);
        peer_free(&p);
    }
    /* responses a client must refuse */
    {
        const char *bad[] = {
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        };
        for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            CHECK_EQ(parse_http(&hp, NOSTR_HTTP_RESPONSE, bad[i], &used), NOSTR_HTTP_DONE);
            CHECK_EQ(nostr_ws_client_check_response(&hp.msg, key, NULL), NOSTR_ERR_HTTP);
            nostr_http_parser_free(&hp);
        }
    }
    /* an extension the client did not offer */
    {
        char text[512];
        char key_b64[25], accept[29];
        nostr_buf kb;
        nostr_buf_init_fixed(&kb, key_b64, sizeof key_b64);
        nostr_base64_encode(key, 16, &kb);
        nostr_ws_accept_key(key_b64, 24, accept);
        snprintf(text, sizeof text,
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
                 accept);
        CHECK_EQ(parse_http(&hp, NOSTR_HTTP_RESPONSE, text, &used), NOSTR_HTTP_DONE);
        CHECK_EQ(nostr_ws_client_check_response(&hp.msg, key, NULL), NOSTR_ERR_HTTP);
        nostr_http_parser_free(&hp);
    }
    CHECK_EQ(nostr_ws_client_request(&req, "", "/", key, NULL), NOSTR_ERR_ARG);
    nostr_buf_clear(&req);
    CHECK_EQ(nostr_ws_client_request(&req, "h", "/", key, "X: 1"), NOSTR_ERR_ARG);          /* no CRLF */
    CHECK_EQ(nostr_ws_client_request(&req, "h", "/", key, "X: 1\r\n\r\n"), NOSTR_ERR_ARG); /* empty line */
    CHECK_EQ(nostr_ws_client_request(&req, "h", "/", key, "X: 1\nY: 2\r\n"), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_ws_client_request(&req, "h", "/", key, "no colon\r\n"), NOSTR_ERR_ARG);
    CHECK_EQ(req.len, 0);
    CHECK_EQ(nostr_ws_client_request(&req, "h", NULL, key, ""), NOSTR_OK);
    CHECK(strncmp(req.data, "GET / HTTP/1.1\r\n", 16) == 0);
    nostr_buf_free(&req);
    nostr_buf_free(&resp);
}

int main(void)
{
    TEST_RUN(test_init_and_args);
    TEST_RUN(test_rfc_examples);
    TEST_RUN(test_binary_lengths);
    TEST_RUN(test_stream_with_controls);
    TEST_RUN(test_protocol_errors);
    TEST_RUN(test_valid_close_codes);
    TEST_RUN(test_close_handshake);
    TEST_RUN(test_limits);
    TEST_RUN(test_allocator);
    TEST_RUN(test_loopback);
    TEST_RUN(test_accept_key);
    TEST_RUN(test_server_handshake);
    TEST_RUN(test_client_handshake);
    return TEST_DONE();
}
