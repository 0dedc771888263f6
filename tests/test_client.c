/* The relay client state machine against a scripted relay: the test plays
 * the relay as raw bytes (the 101 answer and unmasked server frames built
 * here by hand) and decodes the client's masked frames with its own small
 * decoder, so the framing is checked independently of websocket.c.
 * Covers: URL parsing; any split of the input gives the same callbacks;
 * OK correlation and answer timeouts; reconnect with exponential backoff
 * and full jitter on a fake clock; re-subscription and the send queue
 * after a reconnect; keep-alive pings; NIP-42 AUTH with and without keys;
 * bad input from the relay (bad JSON, invalid events, bad frames, bad
 * HTTP, random bytes) never crashes. */
#include "test.h"

/* ---- deterministic random source: xorshift, or a fixed 32-bit value ---- */

typedef struct test_rng {
    unsigned long long state;
    int fixed;           /* 1: every 4 bytes are `value`, big-endian */
    unsigned long value;
} test_rng;

static int rng_fill(void *user, unsigned char *out, size_t n)
{
    test_rng *r = (test_rng *)user;
    size_t i;
    for (i = 0; i < n; i++) {
        if (r->fixed) {
            out[i] = (unsigned char)(r->value >> (8 * (3 - i % 4)));
            continue;
        }
        r->state ^= r->state << 13;
        r->state ^= r->state >> 7;
        r->state ^= r->state << 17;
        out[i] = (unsigned char)r->state;
    }
    return 0;
}

/* ---- the fake app + relay ---- */

typedef struct fake {
    test_rng rng;
    nostr_ctx *ctx;
    nostr_client *c;
    nostr_buf sent; /* every byte the client wrote since the last connect */
    size_t sent_pos;
    nostr_buf log;  /* one line per callback */
    int connects, closes, connect_fail, send_fail;
    long long now;
    long long unix_now;
} fake;

static void logf_(fake *f, const char *line)
{
    nostr_buf_append_str(&f->log, line);
    nostr_buf_append_char(&f->log, '\n');
}

static int cb_send(void *user, const void *data, size_t n)
{
    fake *f = (fake *)user;
    if (f->send_fail) return -1;
    return nostr_buf_append(&f->sent, data, n) ? -1 : 0;
}

static int cb_connect(void *user, const char *host, int port)
{
    fake *f = (fake *)user;
    char line[300];
    f->connects++;
    snprintf(line, sizeof line, "connect %s %d", host, port);
    logf_(f, line);
    nostr_buf_clear(&f->sent);
    f->sent_pos = 0;
    return f->connect_fail ? -1 : 0;
}

static void cb_close(void *user)
{
    fake *f = (fake *)user;
    f->closes++;
    logf_(f, "close");
}

static void cb_open(void *user)
{
    logf_((fake *)user, "open");
}

static void cb_disconnect(void *user, int code, const char *message)
{
    char line[400];
    snprintf(line, sizeof line, "disconnect %d %s", code, message);
    logf_((fake *)user, line);
}

static void cb_event(void *user, const char *sub, const nostr_event *ev, const char *json, size_t len)
{
    char line[200], hex[65];
    nostr_hex_encode(ev->id, 32, hex);
    /* the raw span must be the event object */
    snprintf(line, sizeof line, "event %s %.16s raw=%d", sub, hex, len > 2 && json[0] == '{' && json[len - 1] == '}');
    logf_((fake *)user, line);
}

static void cb_eose(void *user, const char *sub)
{
    char line[100];
    snprintf(line, sizeof line, "eose %s", sub);
    logf_((fake *)user, line);
}

static void cb_ok(void *user, const unsigned char id[32], int accepted, const char *message)
{
    char line[400], hex[65];
    nostr_hex_encode(id, 32, hex);
    snprintf(line, sizeof line, "ok %.16s %d %s", hex, accepted, message);
    logf_((fake *)user, line);
}

static void cb_closed(void *user, const char *sub, const char *message)
{
    char line[400];
    snprintf(line, sizeof line, "closed %s %s", sub, message);
    logf_((fake *)user, line);
}

static void cb_notice(void *user, const char *message)
{
    char line[400];
    snprintf(line, sizeof line, "notice %s", message);
    logf_((fake *)user, line);
}

static void cb_count(void *user, const char *sub, unsigned long long count, int approximate)
{
    char line[200];
    snprintf(line, sizeof line, "count %s %llu %d", sub, count, approximate);
    logf_((fake *)user, line);
}

static void cb_challenge(void *user, const char *challenge)
{
    char line[400];
    snprintf(line, sizeof line, "challenge %s", challenge);
    logf_((fake *)user, line);
}

static void cb_auth(void *user, int accepted, const char *message)
{
    char line[400];
    snprintf(line, sizeof line, "auth %d %s", accepted, message);
    logf_((fake *)user, line);
}

static void cb_error(void *user, int code, const char *message)
{
    char line[400];
    (void)message;
    snprintf(line, sizeof line, "error %d", code);
    logf_((fake *)user, line);
}

static long long cb_unix_time(void *user)
{
    return ((fake *)user)->unix_now;
}

static void fake_init(fake *f, const nostr_client_config *cfg, const char *url)
{
    nostr_ctx_config cc;
    nostr_client_callbacks cb;
    memset(f, 0, sizeof *f);
    f->rng.state = 0x9e3779b97f4a7c15ULL;
    memset(&cc, 0, sizeof cc);
    cc.rng = rng_fill;
    cc.rng_user = &f->rng;
    f->ctx = nostr_ctx_new(&cc);
    nostr_buf_init(&f->sent, NULL);
    nostr_buf_init(&f->log, NULL);
    f->now = 1000;
    f->unix_now = 1700000000;
    memset(&cb, 0, sizeof cb);
    cb.user = f;
    cb.send = cb_send;
    cb.connect = cb_connect;
    cb.close = cb_close;
    cb.on_open = cb_open;
    cb.on_disconnect = cb_disconnect;
    cb.on_event = cb_event;
    cb.on_eose = cb_eose;
    cb.on_ok = cb_ok;
    cb.on_closed = cb_closed;
    cb.on_notice = cb_notice;
    cb.on_count = cb_count;
    cb.on_auth_challenge = cb_challenge;
    cb.on_auth = cb_auth;
    cb.on_error = cb_error;
    cb.unix_time = cb_unix_time;
    f->c = nostr_client_new(f->ctx, url ? url : "ws://relay.test:7777/nostr", cfg, &cb, NULL);
}

static void fake_free(fake *f)
{
    nostr_client_free(f->c);
    nostr_ctx_free(f->ctx);
    nostr_buf_free(&f->sent);
    nostr_buf_free(&f->log);
}

/* ---- relay side: frames by hand ---- */

static void frame(nostr_buf *out, int fin, int opcode, const char *payload, size_t len)
{
    unsigned char h[10];
    size_t hl = 2;
    h[0] = (unsigned char)((fin ? 0x80 : 0) | opcode);
    if (len < 126) {
        h[1] = (unsigned char)len;
    } else if (len < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        hl = 4;
    } else {
        int i;
        h[1] = 127;
        for (i = 0; i < 8; i++) h[2 + i] = (unsigned char)((unsigned long long)len >> (8 * (7 - i)));
        hl = 10;
    }
    nostr_buf_append(out, h, hl);
    nostr_buf_append(out, payload, len);
}

static void text(nostr_buf *out, const char *s)
{
    frame(out, 1, 1, s, strlen(s));
}

/* The 101 for the request the client sent (found in f->sent). */
static int answer_101(fake *f, nostr_buf *out)
{
    const char *key = strstr(f->sent.data ? f->sent.data : "", "Sec-WebSocket-Key: ");
    const char *end = strstr(f->sent.data ? f->sent.data : "", "\r\n\r\n");
    char accept[29];
    if (!key || !end) return 0;
    key += strlen("Sec-WebSocket-Key: ");
    nostr_ws_accept_key(key, 24, accept);
    nostr_buf_append_str(out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Accept: ");
    nostr_buf_append_str(out, accept);
    nostr_buf_append_str(out, "\r\n\r\n");
    f->sent_pos = (size_t)(end + 4 - f->sent.data);
    return 1;
}

/* Next frame the client sent: opcode, or 0 when none; unmasked payload in
 * payload (NUL-terminated). Returns -1 for an unmasked client frame. */
static int client_frame(fake *f, nostr_buf *payload)
{
    const unsigned char *p = (const unsigned char *)f->sent.data + f->sent_pos;
    size_t avail = f->sent.len - f->sent_pos, hl = 2, len, i;
    const unsigned char *mask;
    nostr_buf_clear(payload);
    if (avail < 2) return 0;
    if (!(p[1] & 0x80)) return -1;
    len = p[1] & 0x7f;
    if (len == 126) {
        if (avail < 4) return 0;
        len = ((size_t)p[2] << 8) | p[3];
        hl = 4;
    } else if (len == 127) {
        if (avail < 10) return 0;
        for (len = 0, i = 0; i < 8; i++) len = (len << 8) | p[2 + i];
        hl = 10;
    }
    if (avail < hl + 4 + len) return 0;
    mask = p + hl;
    for (i = 0; i < len; i++) nostr_buf_append_char(payload, (char)(p[hl + 4 + i] ^ mask[i % 4]));
    nostr_buf_append_char(payload, 0);
    payload->len--;
    f->sent_pos += hl + 4 + len;
    return p[0] & 0x0f;
}

/* All text messages the client sent since the last read, one per line. */
static void client_texts(fake *f, nostr_buf *out)
{
    nostr_buf pl;
    int op;
    nostr_buf_init(&pl, NULL);
    nostr_buf_clear(out);
    while ((op = client_frame(f, &pl)) > 0) {
        if (op != 1) continue;
        nostr_buf_append(out, pl.data, pl.len);
        nostr_buf_append_char(out, '\n');
    }
    nostr_buf_free(&pl);
}

/* Start, connect, and open the WebSocket (feeding extra after the 101). */
static void fake_open(fake *f, const char *extra, size_t extra_len)
{
    nostr_buf in;
    nostr_buf_init(&in, NULL);
    if (nostr_client_state(f->c) == NOSTR_CLIENT_IDLE) nostr_client_start(f->c, f->now);
    nostr_client_connected(f->c, f->now);
    answer_101(f, &in);
    nostr_buf_append(&in, extra, extra_len);
    nostr_client_feed(f->c, in.data, in.len, f->now);
    nostr_buf_free(&in);
}

static int log_has(fake *f, const char *line)
{
    char want[512];
    snprintf(want, sizeof want, "%s\n", line);
    return f->log.data && strstr(f->log.data, want) != NULL;
}

/* ---- events for the scripts ---- */

static char EV1[1024], EV2[1024], EVBAD[1024];
static char ID1[65], ID2[65];

static void make_events(void)
{
    nostr_ctx *ctx = nostr_ctx_new(NULL);
    nostr_keys k;
    unsigned char sec[32];
    nostr_arena a;
    nostr_event ev;
    nostr_buf b;
    int i;
    char *p;
    memset(sec, 0x11, sizeof sec);
    nostr_keys_from_secret(ctx, sec, &k);
    nostr_arena_init(&a, NULL, 0, NULL);
    nostr_buf_init(&b, NULL);
    for (i = 0; i < 2; i++) {
        nostr_build_text_note(&ev, &a, 1700000000 + i, i ? "second \"note\"" : "first note \xc3\xa9");
        nostr_event_sign(ctx, &ev, &k);
        nostr_buf_clear(&b);
        nostr_event_to_json(&ev, &b);
        snprintf(i ? EV2 : EV1, sizeof EV1, "%s", b.data);
        nostr_hex_encode(ev.id, 32, i ? ID2 : ID1);
    }
    /* EV1 with other content: id and signature no longer match */
    snprintf(EVBAD, sizeof EVBAD, "%s", EV1);
    p = strstr(EVBAD, "first note");
    if (p) p[0] = 'F';
    nostr_buf_free(&b);
    nostr_arena_free(&a);
    nostr_ctx_free(ctx);
}

/* ---- tests ---- */

static void test_url(void)
{
    nostr_client_url u;
    nostr_error e;
    CHECK_EQ(nostr_client_parse_url("ws://relay.example", &u, NULL), NOSTR_OK);
    CHECK_STR(u.host, "relay.example");
    CHECK_EQ(u.port, 80);
    CHECK_EQ(u.tls, 0);
    CHECK_STR(u.path, "/");
    CHECK_STR(u.host_header, "relay.example");
    CHECK_EQ(nostr_client_parse_url("WSS://Relay.Example:444/a/b?x=1&y=%20#frag", &u, NULL), NOSTR_OK);
    CHECK_STR(u.host, "relay.example");
    CHECK_EQ(u.port, 444);
    CHECK_EQ(u.tls, 1);
    CHECK_STR(u.path, "/a/b?x=1&y=%20");
    CHECK_STR(u.host_header, "relay.example:444");
    CHECK_EQ(nostr_client_parse_url("wss://relay.example:443?q", &u, NULL), NOSTR_OK);
    CHECK_STR(u.path, "/?q");
    CHECK_STR(u.host_header, "relay.example");
    CHECK_EQ(nostr_client_parse_url("ws://[::1]:7777/", &u, NULL), NOSTR_OK);
    CHECK_STR(u.host, "::1");
    CHECK_EQ(u.ipv6, 1);
    CHECK_STR(u.host_header, "[::1]:7777");
    CHECK_EQ(nostr_client_parse_url("ws://127.0.0.1:1", &u, NULL), NOSTR_OK);
    CHECK_EQ(u.port, 1);
    {
        static const char *bad[] = {"http://relay.example", "relay.example", "ws:/relay.example", "ws://",
                                    "ws://:80", "ws://host:0", "ws://host:65536", "ws://host:", "ws://user@host",
                                    "ws://host:12a", "ws://ho st", "ws://[::1", "ws://[zz]", "wss//x", "ws://h/p q",
                                    "ws://h/\x01", "ws://-h", ""};
        size_t i;
        for (i = 0; i < sizeof bad / sizeof *bad; i++) {
            memset(&e, 0, sizeof e);
            CHECK_EQ(nostr_client_parse_url(bad[i], &u, &e), NOSTR_ERR_ARG);
            CHECK(e.msg != NULL);
        }
        memset(&e, 0, sizeof e);
        nostr_client_parse_url("https://x", &u, &e);
        CHECK_STR(e.msg, "URL scheme must be ws:// or wss://");
    }
    /* a client for an unsupported URL is not created */
    {
        nostr_client_callbacks cb;
        nostr_ctx *ctx = nostr_ctx_new(NULL);
        memset(&cb, 0, sizeof cb);
        cb.send = cb_send;
        cb.connect = cb_connect;
        memset(&e, 0, sizeof e);
        CHECK(nostr_client_new(ctx, "http://relay.example", NULL, &cb, &e) == NULL);
        CHECK_EQ(e.code, NOSTR_ERR_ARG);
        cb.connect = NULL;
        CHECK(nostr_client_new(ctx, "ws://relay.example", NULL, &cb, &e) == NULL);
        nostr_ctx_free(ctx);
    }
}

/* The relay's part of one session, after the 101. */
static void script(nostr_buf *s)
{
    char m[2048];
    snprintf(m, sizeof m, "[\"EVENT\",\"sub1\",%s]", EV1);
    text(s, m);
    /* a fragmented message with a ping between the fragments */
    snprintf(m, sizeof m, "[\"EVENT\",\"sub1\",%s]", EV2);
    frame(s, 0, 1, m, 20);
    frame(s, 1, 9, "hi", 2);
    frame(s, 1, 0, m + 20, strlen(m) - 20);
    text(s, "[\"EOSE\",\"sub1\"]");
    text(s, "[\"NOTICE\",\"hello \\u00e9\"]");
    snprintf(m, sizeof m, "[\"OK\",\"%s\",true,\"\"]", ID2);
    text(s, m);
    snprintf(m, sizeof m, "[\"OK\",\"%s\",false,\"blocked: no\"]", ID1);
    text(s, m);
    snprintf(m, sizeof m, "[\"OK\",\"%s\",true,\"again\"]", ID1); /* answered already: ignored */
    text(s, m);
    text(s, "[\"COUNT\",\"cnt\",{\"count\":42,\"approximate\":true}]");
    text(s, "[\"EVENT\",\"unknown\",{}]"); /* malformed event: error */
    snprintf(m, sizeof m, "[\"EVENT\",\"nosuch\",%s]", EV1); /* not our subscription: dropped */
    text(s, m);
    text(s, "[\"CLOSED\",\"sub1\",\"error: shutting down\"]");
    snprintf(m, sizeof m, "[\"EVENT\",\"sub1\",%s]", EV1); /* after CLOSED: dropped */
    text(s, m);
    text(s, "not json");
    frame(s, 1, 2, "\x01\x02", 2); /* binary: dropped */
    frame(s, 1, 8, "\x03\xe8", 2);  /* close 1000 */
}

/* Feed the session with chunks of the given sizes (cycled); returns the log. */
static void run_split(const size_t *sizes, size_t nsizes, nostr_buf *log_out, nostr_buf *sent_out)
{
    fake f;
    nostr_buf in, tmp;
    nostr_filter flt;
    unsigned char evid[32];
    size_t pos = 0, k = 0;
    memset(&flt, 0, sizeof flt);
    fake_init(&f, NULL, NULL);
    nostr_buf_init(&in, NULL);
    nostr_buf_init(&tmp, NULL);
    nostr_client_start(f.c, f.now);
    nostr_client_connected(f.c, f.now);
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_UPGRADING);
    CHECK(strstr(f.sent.data, "GET /nostr HTTP/1.1\r\n") == f.sent.data);
    CHECK(strstr(f.sent.data, "Host: relay.test:7777\r\n") != NULL);
    CHECK(answer_101(&f, &in));
    CHECK_EQ(nostr_client_req(f.c, "sub1", &flt, 1, f.now), NOSTR_OK);
    nostr_hex_decode(ID1, 64, evid, 32);
    CHECK_EQ(nostr_client_publish_json(f.c, EV1, strlen(EV1), f.now), NOSTR_OK);
    CHECK_EQ(nostr_client_publish_json(f.c, EV2, strlen(EV2), f.now), NOSTR_OK);
    CHECK_EQ(nostr_client_count(f.c, "cnt", &flt, 1, f.now), NOSTR_OK);
    script(&in);
    while (pos < in.len) {
        size_t n = sizes[k++ % nsizes];
        if (n > in.len - pos) n = in.len - pos;
        nostr_client_feed(f.c, in.data + pos, n, f.now);
        pos += n;
    }
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_BACKOFF);
    client_texts(&f, &tmp);
    nostr_buf_append(log_out, f.log.data, f.log.len);
    nostr_buf_append(sent_out, tmp.data, tmp.len);
    /* the client answered the ping with a pong carrying "hi", and the close */
    {
        nostr_buf pl;
        int op, pong = 0, close = 0;
        nostr_buf_init(&pl, NULL);
        f.sent_pos = 0;
        answer_101(&f, &tmp); /* skip the request */
        while ((op = client_frame(&f, &pl)) != 0) {
            if (op == 10 && pl.len == 2 && memcmp(pl.data, "hi", 2) == 0) pong++;
            if (op == 8) close++;
            CHECK(op > 0); /* every client frame is masked */
            if (op < 0) break;
        }
        CHECK_EQ(pong, 1);
        CHECK_EQ(close, 1);
        nostr_buf_free(&pl);
    }
    nostr_buf_free(&in);
    nostr_buf_free(&tmp);
    fake_free(&f);
}

static void test_splits(void)
{
    static const size_t whole[] = {1u << 30}, one[] = {1}, odd[] = {3, 1, 7, 2, 64, 5, 13};
    nostr_buf ref, refsent, log, sent;
    char want[4096];
    nostr_buf_init(&ref, NULL);
    nostr_buf_init(&refsent, NULL);
    nostr_buf_init(&log, NULL);
    nostr_buf_init(&sent, NULL);
    run_split(whole, 1, &ref, &refsent);
    snprintf(want, sizeof want,
             "connect relay.test 7777\nopen\nevent sub1 %.16s raw=1\nevent sub1 %.16s raw=1\neose sub1\n"
             "notice hello \xc3\xa9\nok %.16s 1 \nok %.16s 0 blocked: no\ncount cnt 42 1\nerror %d\n"
             "closed sub1 error: shutting down\nerror %d\nerror %d\nclose\n"
             "disconnect %d relay closed the WebSocket (code 1000)\n",
             ID1, ID2, ID2, ID1, NOSTR_ERR_FIELD, NOSTR_ERR_MESSAGE, NOSTR_ERR_MESSAGE, NOSTR_ERR_CLOSED);
    CHECK_STR(ref.data, want);
    /* what the client sent once open: REQ, the two EVENTs, COUNT (in that order) */
    CHECK(refsent.data && strncmp(refsent.data, "[\"REQ\",\"sub1\",{}]\n[\"EVENT\",{", 27) == 0);
    CHECK(refsent.data && strstr(refsent.data, "\n[\"COUNT\",\"cnt\",{}]\n") != NULL);
    run_split(one, 1, &log, &sent);
    CHECK_STR(log.data, ref.data);
    CHECK_STR(sent.data, refsent.data);
    nostr_buf_clear(&log);
    nostr_buf_clear(&sent);
    run_split(odd, sizeof odd / sizeof *odd, &log, &sent);
    CHECK_STR(log.data, ref.data);
    CHECK_STR(sent.data, refsent.data);
    nostr_buf_free(&ref);
    nostr_buf_free(&refsent);
    nostr_buf_free(&log);
    nostr_buf_free(&sent);
}

static void test_ok_timeout(void)
{
    fake f;
    nostr_client_config cfg;
    nostr_buf in, out;
    char m[256], want[256];
    memset(&cfg, 0, sizeof cfg);
    cfg.answer_timeout_ms = 5000;
    cfg.ping_interval_ms = -1;
    fake_init(&f, &cfg, NULL);
    nostr_buf_init(&in, NULL);
    nostr_buf_init(&out, NULL);
    fake_open(&f, NULL, 0);
    CHECK_EQ(nostr_client_publish_json(f.c, EV1, strlen(EV1), f.now), NOSTR_OK);
    CHECK_EQ(nostr_client_publish_json(f.c, EV2, strlen(EV2), f.now + 3000), NOSTR_OK);
    CHECK_EQ(nostr_client_next_timeout(f.c), f.now + 5000);
    nostr_client_tick(f.c, f.now + 4999);
    CHECK(!log_has(&f, "ok"));
    nostr_client_tick(f.c, f.now + 5000);
    snprintf(want, sizeof want, "ok %.16s 0 timeout: no OK from the relay", ID1);
    CHECK(log_has(&f, want));
    /* a late OK for the first is ignored; the second is still waiting */
    snprintf(m, sizeof m, "[\"OK\",\"%s\",true,\"late\"]", ID1);
    text(&in, m);
    snprintf(m, sizeof m, "[\"OK\",\"%s\",true,\"fine\"]", ID2);
    text(&in, m);
    nostr_client_feed(f.c, in.data, in.len, f.now + 6000);
    snprintf(want, sizeof want, "ok %.16s 1 late", ID1);
    CHECK(!log_has(&f, want));
    snprintf(want, sizeof want, "ok %.16s 1 fine", ID2);
    CHECK(log_has(&f, want));
    CHECK_EQ(nostr_client_next_timeout(f.c), -1);
    /* COUNT timeout comes as CLOSED */
    {
        nostr_filter flt;
        memset(&flt, 0, sizeof flt);
        CHECK_EQ(nostr_client_count(f.c, "c1", &flt, 1, f.now + 7000), NOSTR_OK);
        nostr_client_tick(f.c, f.now + 12000);
        CHECK(log_has(&f, "closed c1 timeout: no COUNT answer from the relay"));
    }
    /* bad arguments */
    CHECK_EQ(nostr_client_publish_json(f.c, "{\"id\":1}", 8, f.now), NOSTR_ERR_FIELD);
    CHECK_EQ(nostr_client_publish_json(f.c, "{\"id\":", 6, f.now), NOSTR_ERR_JSON);
    {
        nostr_filter flt;
        char longsub[80];
        memset(&flt, 0, sizeof flt);
        memset(longsub, 'a', sizeof longsub);
        longsub[65] = 0;
        CHECK_EQ(nostr_client_req(f.c, longsub, &flt, 1, f.now), NOSTR_ERR_ARG);
        CHECK_EQ(nostr_client_req(f.c, "", &flt, 1, f.now), NOSTR_ERR_ARG);
        CHECK_EQ(nostr_client_req(f.c, "s", &flt, 0, f.now), NOSTR_ERR_ARG);
        CHECK_EQ(nostr_client_close_sub(f.c, "nosuch"), NOSTR_ERR_ARG);
    }
    nostr_buf_free(&in);
    nostr_buf_free(&out);
    fake_free(&f);
}

static void test_backoff(void)
{
    fake f;
    nostr_client_config cfg;
    long long bound = 500;
    int i;
    memset(&cfg, 0, sizeof cfg);
    cfg.connect_timeout_ms = 2000;
    fake_init(&f, &cfg, NULL);
    f.rng.fixed = 1;
    f.rng.value = 0x7fffffffUL;
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_IDLE);
    CHECK_EQ(nostr_client_next_timeout(f.c), -1);
    nostr_client_start(f.c, f.now);
    CHECK_EQ(f.connects, 1);
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_CONNECTING);
    /* each failure doubles the bound up to 60 s; the delay is rng % (bound + 1) */
    for (i = 0; i < 10; i++) {
        long long at;
        nostr_client_disconnected(f.c, f.now);
        CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_BACKOFF);
        CHECK_EQ(nostr_client_attempts(f.c), (unsigned)(i + 1));
        at = nostr_client_next_attempt(f.c);
        CHECK_EQ(at - f.now, (long long)(0x7fffffffUL % (unsigned long)(bound + 1)));
        CHECK_EQ(nostr_client_next_timeout(f.c), at);
        nostr_client_tick(f.c, at - 1);
        CHECK_EQ(f.connects, i + 1);
        f.now = at;
        nostr_client_tick(f.c, f.now);
        CHECK_EQ(f.connects, i + 2);
        bound = bound * 2 > 60000 ? 60000 : bound * 2;
    }
    CHECK_EQ(bound, 60000);
    /* full jitter: a zero draw reconnects at once */
    f.rng.value = 0;
    nostr_client_disconnected(f.c, f.now);
    CHECK_EQ(nostr_client_next_attempt(f.c), f.now);
    nostr_client_tick(f.c, f.now);
    /* the connect timeout covers TCP, TLS and the upgrade */
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_CONNECTING);
    nostr_client_connected(f.c, f.now + 10);
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_UPGRADING);
    CHECK_EQ(nostr_client_next_timeout(f.c), f.now + 2000);
    nostr_client_tick(f.c, f.now + 1999);
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_UPGRADING);
    f.closes = 0;
    nostr_client_tick(f.c, f.now + 2000);
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_BACKOFF);
    CHECK_EQ(f.closes, 1);
    {
        char want[100];
        snprintf(want, sizeof want, "disconnect %d timeout while connecting to the relay", NOSTR_ERR_TIMEOUT);
        CHECK(log_has(&f, want));
    }
    /* an open connection resets the count */
    f.now = nostr_client_next_attempt(f.c);
    nostr_client_tick(f.c, f.now);
    fake_open(&f, NULL, 0);
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_OPEN);
    CHECK_EQ(nostr_client_attempts(f.c), 0);
    f.rng.value = 0x7fffffffUL;
    nostr_client_disconnected(f.c, f.now);
    CHECK_EQ(nostr_client_next_attempt(f.c) - f.now, (long long)(0x7fffffffUL % 501));
    /* a connect callback that fails at once counts as a failure */
    f.connect_fail = 1;
    f.now = nostr_client_next_attempt(f.c);
    nostr_client_tick(f.c, f.now);
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_BACKOFF);
    CHECK_EQ(nostr_client_attempts(f.c), 2);
    /* no_reconnect via set_reconnect, then start again by hand */
    nostr_client_set_reconnect(f.c, 0);
    CHECK_EQ(nostr_client_next_attempt(f.c), -1);
    f.connect_fail = 0;
    CHECK_EQ(nostr_client_start(f.c, f.now), NOSTR_OK);
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_CONNECTING);
    nostr_client_close(f.c, f.now);
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_CLOSED);
    CHECK_EQ(nostr_client_start(f.c, f.now), NOSTR_ERR_CLOSED);
    fake_free(&f);
}

static void test_resubscribe(void)
{
    fake f;
    nostr_client_config cfg;
    nostr_filter flt;
    nostr_buf msgs, in;
    char want[2048];
    memset(&cfg, 0, sizeof cfg);
    cfg.max_pending = 4;
    memset(&flt, 0, sizeof flt);
    flt.fields = NOSTR_FILTER_LIMIT;
    flt.limit = 5;
    fake_init(&f, &cfg, NULL);
    nostr_buf_init(&msgs, NULL);
    nostr_buf_init(&in, NULL);
    /* requests made before the first connection wait in the queue */
    CHECK_EQ(nostr_client_req(f.c, "a", &flt, 1, f.now), NOSTR_OK);
    CHECK_EQ(nostr_client_req(f.c, "b", &flt, 1, f.now), NOSTR_OK);
    CHECK_EQ(nostr_client_publish_json(f.c, EV1, strlen(EV1), f.now), NOSTR_OK);
    CHECK_EQ(nostr_client_req(f.c, "c", &flt, 1, f.now), NOSTR_OK);
    CHECK_EQ(nostr_client_publish_json(f.c, EV2, strlen(EV2), f.now), NOSTR_ERR_TOO_LARGE); /* bound of 4 */
    CHECK_EQ(nostr_client_close_sub(f.c, "c"), NOSTR_OK); /* while closed: just forgotten */
    fake_open(&f, NULL, 0);
    client_texts(&f, &msgs);
    snprintf(want, sizeof want, "[\"REQ\",\"a\",{\"limit\":5}]\n[\"REQ\",\"b\",{\"limit\":5}]\n[\"EVENT\",%s]\n", EV1);
    CHECK_STR(msgs.data, want);
    /* replacing a subscription sends the new REQ; closing one sends CLOSE */
    flt.limit = 7;
    CHECK_EQ(nostr_client_req(f.c, "a", &flt, 1, f.now), NOSTR_OK);
    CHECK_EQ(nostr_client_close_sub(f.c, "b"), NOSTR_OK);
    client_texts(&f, &msgs);
    CHECK_STR(msgs.data, "[\"REQ\",\"a\",{\"limit\":7}]\n[\"CLOSE\",\"b\"]\n");
    /* the connection drops: after the reconnect the open subscription and
     * the unanswered publish are sent again, the closed one is not */
    nostr_client_disconnected(f.c, f.now);
    CHECK(log_has(&f, "disconnect -32 connection closed"));
    f.now = nostr_client_next_attempt(f.c);
    nostr_client_tick(f.c, f.now);
    CHECK_EQ(f.connects, 2);
    fake_open(&f, NULL, 0);
    client_texts(&f, &msgs);
    snprintf(want, sizeof want, "[\"EVENT\",%s]\n[\"REQ\",\"a\",{\"limit\":7}]\n", EV1);
    CHECK_STR(msgs.data, want);
    /* the relay closing the WebSocket also leads to a reconnect */
    frame(&in, 1, 8, "\x03\xe9", 2);
    CHECK_EQ(nostr_client_feed(f.c, in.data, in.len, f.now), NOSTR_ERR_CLOSED);
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_BACKOFF);
    CHECK(log_has(&f, "disconnect -32 relay closed the WebSocket (code 1001)"));
    /* a send failure drops the connection too */
    f.now = nostr_client_next_attempt(f.c);
    nostr_client_tick(f.c, f.now);
    fake_open(&f, NULL, 0);
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_OPEN);
    f.send_fail = 1;
    CHECK_EQ(nostr_client_req(f.c, "d", &flt, 1, f.now), NOSTR_OK); /* kept for the next connection */
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_BACKOFF);
    f.send_fail = 0;
    /* close: a CLOSE frame, then no more reconnects */
    f.now = nostr_client_next_attempt(f.c);
    nostr_client_tick(f.c, f.now);
    fake_open(&f, NULL, 0);
    client_texts(&f, &msgs);
    CHECK(strstr(msgs.data, "[\"REQ\",\"d\",") != NULL);
    nostr_client_close(f.c, f.now);
    {
        nostr_buf pl;
        nostr_buf_init(&pl, NULL);
        CHECK_EQ(client_frame(&f, &pl), 8);
        CHECK(pl.len >= 2 && (unsigned char)pl.data[0] == 0x03 && (unsigned char)pl.data[1] == 0xe8);
        nostr_buf_free(&pl);
    }
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_CLOSED);
    CHECK_EQ(nostr_client_publish_json(f.c, EV2, strlen(EV2), f.now), NOSTR_ERR_CLOSED);
    nostr_client_tick(f.c, f.now + 100000000);
    CHECK_EQ(f.connects, 4);
    nostr_buf_free(&msgs);
    nostr_buf_free(&in);
    fake_free(&f);
}

static void test_ping(void)
{
    fake f;
    nostr_client_config cfg;
    nostr_buf pl, in;
    memset(&cfg, 0, sizeof cfg);
    cfg.ping_interval_ms = 1000;
    cfg.pong_timeout_ms = 300;
    fake_init(&f, &cfg, NULL);
    nostr_buf_init(&pl, NULL);
    nostr_buf_init(&in, NULL);
    fake_open(&f, NULL, 0);
    CHECK_EQ(nostr_client_next_timeout(f.c), f.now + 1000);
    nostr_client_tick(f.c, f.now + 999);
    CHECK_EQ(client_frame(&f, &pl), 0);
    nostr_client_tick(f.c, f.now + 1000);
    CHECK_EQ(client_frame(&f, &pl), 9);
    CHECK_EQ(nostr_client_next_timeout(f.c), f.now + 1300);
    /* the pong arrives: no drop, next ping a second after it */
    frame(&in, 1, 10, "", 0);
    nostr_client_feed(f.c, in.data, in.len, f.now + 1100);
    nostr_client_tick(f.c, f.now + 1400);
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_OPEN);
    CHECK_EQ(client_frame(&f, &pl), 0);
    nostr_client_tick(f.c, f.now + 2100);
    CHECK_EQ(client_frame(&f, &pl), 9);
    /* no answer: the connection is dropped */
    nostr_client_tick(f.c, f.now + 2399);
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_OPEN);
    nostr_client_tick(f.c, f.now + 2400);
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_BACKOFF);
    CHECK(log_has(&f, "disconnect -33 relay did not answer a ping"));
    CHECK_EQ(f.closes, 1);
    nostr_buf_free(&pl);
    nostr_buf_free(&in);
    fake_free(&f);
}

/* Find and parse the client's ["AUTH", event]. */
static int parse_auth(const char *msgs, nostr_event *ev, nostr_arena *a)
{
    const char *p = strstr(msgs, "[\"AUTH\",");
    nostr_msg m;
    const char *end;
    if (!p) return 0;
    end = strchr(p, '\n');
    if (nostr_msg_parse(&m, NOSTR_FROM_CLIENT, p, (size_t)(end - p), a, NULL, NULL) != NOSTR_OK) return 0;
    *ev = m.event;
    return m.type == NOSTR_MSG_AUTH;
}

static void test_auth(void)
{
    fake f;
    nostr_client_config cfg;
    nostr_keys keys;
    nostr_filter flt;
    nostr_buf in, msgs;
    nostr_arena a;
    nostr_event ev;
    char m[512], want[2048], hex[65];
    const nostr_str *v;
    nostr_ctx *kctx = nostr_ctx_new(NULL);
    unsigned char sec[32];
    memset(sec, 0x22, sizeof sec);
    nostr_keys_from_secret(kctx, sec, &keys);
    memset(&cfg, 0, sizeof cfg);
    cfg.keys = &keys;
    memset(&flt, 0, sizeof flt);
    fake_init(&f, &cfg, "ws://relay.test:7777/nostr");
    nostr_buf_init(&in, NULL);
    nostr_buf_init(&msgs, NULL);
    nostr_arena_init(&a, NULL, 0, NULL);
    fake_open(&f, NULL, 0);
    CHECK_EQ(nostr_client_publish_json(f.c, EV1, strlen(EV1), f.now), NOSTR_OK);
    CHECK_EQ(nostr_client_req(f.c, "s", &flt, 1, f.now), NOSTR_OK);
    client_texts(&f, &msgs);
    /* the relay challenges and refuses both */
    text(&in, "[\"AUTH\",\"chal-1\"]");
    snprintf(m, sizeof m, "[\"OK\",\"%s\",false,\"auth-required: sign in\"]", ID1);
    text(&in, m);
    text(&in, "[\"CLOSED\",\"s\",\"auth-required: sign in\"]");
    nostr_client_feed(f.c, in.data, in.len, f.now);
    CHECK(!log_has(&f, "closed s auth-required: sign in"));
    CHECK(strstr(f.log.data, "\nok ") == NULL);
    CHECK_STR(nostr_client_challenge(f.c), "chal-1");
    client_texts(&f, &msgs);
    CHECK(parse_auth(msgs.data, &ev, &a));
    CHECK_EQ(ev.kind, 22242);
    CHECK_EQ(ev.created_at, 1700000000);
    CHECK_MEM(ev.pubkey, keys.pub, 32);
    CHECK_EQ(nostr_event_validate(f.ctx, &ev, NULL, NULL), NOSTR_OK);
    v = nostr_event_tag_value(&ev, "challenge");
    CHECK(v && strcmp(v->ptr, "chal-1") == 0);
    v = nostr_event_tag_value(&ev, "relay");
    CHECK(v && strcmp(v->ptr, "ws://relay.test:7777/nostr") == 0);
    CHECK(strstr(msgs.data, "[\"EVENT\"") == NULL); /* nothing re-sent before the AUTH OK */
    /* AUTH accepted: both are re-sent once */
    nostr_hex_encode(ev.id, 32, hex);
    nostr_buf_clear(&in);
    snprintf(m, sizeof m, "[\"OK\",\"%s\",true,\"\"]", hex);
    text(&in, m);
    nostr_client_feed(f.c, in.data, in.len, f.now);
    CHECK(log_has(&f, "auth 1 "));
    CHECK_EQ(nostr_client_authenticated(f.c), 1);
    client_texts(&f, &msgs);
    snprintf(want, sizeof want, "[\"EVENT\",%s]\n[\"REQ\",\"s\",{}]\n", EV1);
    CHECK_STR(msgs.data, want);
    /* a second auth-required after AUTH is final */
    nostr_buf_clear(&in);
    snprintf(m, sizeof m, "[\"OK\",\"%s\",false,\"auth-required: still no\"]", ID1);
    text(&in, m);
    text(&in, "[\"EOSE\",\"s\"]");
    nostr_client_feed(f.c, in.data, in.len, f.now);
    snprintf(want, sizeof want, "ok %.16s 0 auth-required: still no", ID1);
    CHECK(log_has(&f, want));
    CHECK(log_has(&f, "eose s"));
    nostr_buf_free(&in);
    nostr_buf_free(&msgs);
    nostr_arena_free(&a);
    fake_free(&f);

    /* without keys: the challenge is reported, refusals come through */
    fake_init(&f, NULL, NULL);
    nostr_buf_init(&in, NULL);
    nostr_buf_init(&msgs, NULL);
    nostr_arena_init(&a, NULL, 0, NULL);
    fake_open(&f, NULL, 0);
    CHECK_EQ(nostr_client_publish_json(f.c, EV2, strlen(EV2), f.now), NOSTR_OK);
    text(&in, "[\"AUTH\",\"chal-2\"]");
    snprintf(m, sizeof m, "[\"OK\",\"%s\",false,\"auth-required: sign in\"]", ID2);
    text(&in, m);
    nostr_client_feed(f.c, in.data, in.len, f.now);
    CHECK(log_has(&f, "challenge chal-2"));
    snprintf(want, sizeof want, "ok %.16s 0 auth-required: sign in", ID2);
    CHECK(log_has(&f, want));
    client_texts(&f, &msgs);
    CHECK(strstr(msgs.data, "AUTH") == NULL);
    /* the app signs an AUTH itself */
    nostr_build_auth(&ev, &a, 1700000000, "ws://relay.test:7777/nostr", "chal-2");
    nostr_event_sign(kctx, &ev, &keys);
    CHECK_EQ(nostr_client_auth(f.c, &ev), NOSTR_OK);
    client_texts(&f, &msgs);
    CHECK(strncmp(msgs.data, "[\"AUTH\",{", 9) == 0);
    nostr_hex_encode(ev.id, 32, hex);
    nostr_buf_clear(&in);
    snprintf(m, sizeof m, "[\"OK\",\"%s\",false,\"restricted: no\"]", hex);
    text(&in, m);
    nostr_client_feed(f.c, in.data, in.len, f.now);
    CHECK(log_has(&f, "auth 0 restricted: no"));
    CHECK_EQ(nostr_client_authenticated(f.c), 0);
    nostr_buf_free(&in);
    nostr_buf_free(&msgs);
    nostr_arena_free(&a);
    fake_free(&f);
    nostr_keys_wipe(&keys);
    nostr_ctx_free(kctx);
}

static void test_verify(void)
{
    fake f;
    nostr_client_config cfg;
    nostr_filter flt;
    nostr_buf in;
    char m[2048], want[100];
    memset(&flt, 0, sizeof flt);
    nostr_buf_init(&in, NULL);
    snprintf(m, sizeof m, "[\"EVENT\",\"s\",%s]", EVBAD);
    text(&in, m);
    /* default: checked and dropped */
    fake_init(&f, NULL, NULL);
    nostr_client_req(f.c, "s", &flt, 1, f.now);
    fake_open(&f, in.data, in.len);
    snprintf(want, sizeof want, "error %d", NOSTR_ERR_ID);
    CHECK(log_has(&f, want));
    CHECK(strstr(f.log.data, "event s") == NULL);
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_OPEN);
    fake_free(&f);
    /* verify_events off: delivered */
    memset(&cfg, 0, sizeof cfg);
    cfg.verify_events = NOSTR_CLIENT_NO_VERIFY;
    fake_init(&f, &cfg, NULL);
    nostr_client_req(f.c, "s", &flt, 1, f.now);
    fake_open(&f, in.data, in.len);
    CHECK(strstr(f.log.data, "event s") != NULL);
    fake_free(&f);
    nostr_buf_free(&in);
}

static void test_bad_input(void)
{
    fake f;
    nostr_buf in;
    test_rng junk;
    int round;
    char want[200];
    nostr_buf_init(&in, NULL);
    /* a 200 instead of the 101 */
    fake_init(&f, NULL, NULL);
    nostr_client_start(f.c, f.now);
    nostr_client_connected(f.c, f.now);
    nostr_buf_append_str(&in, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    CHECK_EQ(nostr_client_feed(f.c, in.data, in.len, f.now), NOSTR_ERR_HTTP);
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_BACKOFF);
    CHECK_EQ(f.closes, 1);
    /* garbage instead of HTTP */
    f.now = nostr_client_next_attempt(f.c);
    nostr_client_tick(f.c, f.now);
    nostr_client_connected(f.c, f.now);
    CHECK_EQ(nostr_client_feed(f.c, "\x16\x03\x01\x00garbage\r\n\r\n", 15, f.now), NOSTR_ERR_HTTP);
    /* a 101 with the wrong accept key */
    f.now = nostr_client_next_attempt(f.c);
    nostr_client_tick(f.c, f.now);
    nostr_client_connected(f.c, f.now);
    nostr_buf_clear(&in);
    nostr_buf_append_str(&in, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n");
    CHECK_EQ(nostr_client_feed(f.c, in.data, in.len, f.now), NOSTR_ERR_HTTP);
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_BACKOFF);
    /* a masked server frame is a protocol error: close 1002, reconnect */
    f.now = nostr_client_next_attempt(f.c);
    nostr_client_tick(f.c, f.now);
    fake_open(&f, "\x81\x82\x00\x00\x00\x00[]", 8);
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_BACKOFF);
    snprintf(want, sizeof want, "disconnect %d", NOSTR_ERR_WS);
    CHECK(strstr(f.log.data, want) != NULL);
    /* invalid UTF-8 in a text frame */
    f.now = nostr_client_next_attempt(f.c);
    nostr_client_tick(f.c, f.now);
    fake_open(&f, "\x81\x02\xff\xfe", 4);
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_BACKOFF);
    /* bytes after the connection is gone are ignored */
    CHECK_EQ(nostr_client_feed(f.c, "x", 1, f.now), NOSTR_ERR_CLOSED);
    fake_free(&f);

    /* random bytes after the 101, and random messages: never a crash */
    junk.state = 12345;
    junk.fixed = 0;
    for (round = 0; round < 300; round++) {
        unsigned char bytes[512];
        size_t n = 1 + (size_t)(round * 7 % 500), i;
        nostr_filter flt;
        memset(&flt, 0, sizeof flt);
        rng_fill(&junk, bytes, sizeof bytes);
        nostr_buf_clear(&in);
        if (round % 3 == 0) {
            /* well-framed text frames with mutated NIP-01 messages */
            char m[2048];
            snprintf(m, sizeof m, "[\"EVENT\",\"s\",%s]", EV1);
            for (i = 0; i < 4; i++) m[bytes[i] % strlen(m)] = (char)bytes[i + 4];
            frame(&in, 1, 1, m, strlen(m));
            text(&in, "[\"OK\",\"zz\",true,\"\"]");
            text(&in, "[\"COUNT\",\"s\",{\"count\":-1}]");
            text(&in, "[\"EOSE\"]");
            text(&in, "[\"AUTH\",\"\"]");
        } else {
            nostr_buf_append(&in, bytes, n);
        }
        fake_init(&f, NULL, NULL);
        nostr_client_req(f.c, "s", &flt, 1, f.now);
        fake_open(&f, in.data, in.len);
        nostr_client_tick(f.c, f.now + 100000);
        CHECK(nostr_client_state(f.c) >= NOSTR_CLIENT_CONNECTING && nostr_client_state(f.c) <= NOSTR_CLIENT_BACKOFF);
        fake_free(&f);
    }
    nostr_buf_free(&in);
}

/* Callbacks may call back into the client: close from on_eose, close_sub
 * from on_event. */
static nostr_client *reentry_client;
static void reentry_eose(void *user, const char *sub)
{
    (void)user;
    nostr_client_close_sub(reentry_client, sub);
    nostr_client_close(reentry_client, 0);
}

static void test_reentry(void)
{
    fake f;
    nostr_client_callbacks cb;
    nostr_filter flt;
    nostr_buf in;
    char m[2048];
    nostr_ctx_config cc;
    memset(&f, 0, sizeof f);
    f.rng.state = 77;
    memset(&cc, 0, sizeof cc);
    cc.rng = rng_fill;
    cc.rng_user = &f.rng;
    f.ctx = nostr_ctx_new(&cc);
    nostr_buf_init(&f.sent, NULL);
    nostr_buf_init(&f.log, NULL);
    nostr_buf_init(&in, NULL);
    memset(&cb, 0, sizeof cb);
    cb.user = &f;
    cb.send = cb_send;
    cb.connect = cb_connect;
    cb.close = cb_close;
    cb.on_event = cb_event;
    cb.on_eose = reentry_eose;
    f.c = nostr_client_new(f.ctx, "ws://relay.test", NULL, &cb, NULL);
    reentry_client = f.c;
    memset(&flt, 0, sizeof flt);
    nostr_client_req(f.c, "s", &flt, 1, 0);
    text(&in, "[\"EOSE\",\"s\"]");
    snprintf(m, sizeof m, "[\"EVENT\",\"s\",%s]", EV1);
    text(&in, m);
    fake_open(&f, in.data, in.len);
    CHECK_EQ(nostr_client_state(f.c), NOSTR_CLIENT_CLOSED);
    CHECK(strstr(f.log.data, "event") == NULL); /* nothing after the close */
    CHECK_EQ(f.closes, 1);
    fake_free(&f);
    nostr_buf_free(&in);
}

int main(void)
{
    make_events();
    TEST_RUN(test_url);
    TEST_RUN(test_splits);
    TEST_RUN(test_ok_timeout);
    TEST_RUN(test_backoff);
    TEST_RUN(test_resubscribe);
    TEST_RUN(test_ping);
    TEST_RUN(test_auth);
    TEST_RUN(test_verify);
    TEST_RUN(test_bad_input);
    TEST_RUN(test_reentry);
    return TEST_DONE();
}
