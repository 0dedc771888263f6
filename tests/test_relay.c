/* The relay state machine on scripted byte streams: an in-test WebSocket
 * client (the library's client framer and handshake) talks to
 * nostr_relay over the built-in store in memory mode. HTTP (NIP-11,
 * /metrics, /healthz, 404, hook), EVENT with every rejection prefix,
 * REQ/EOSE/live, replacement, CLOSE, COUNT, AUTH, NIP-09/40/70, ephemeral
 * kinds, limits, rate limits, slow readers, idle and ping, byte-at-a-time
 * input, verification on "worker threads" (jobs completed later), an
 * asynchronous store (a wrapper over the built-in store that holds its
 * completions until the test releases them), connections closing with
 * work in flight, memory per idle connection. */
#define _POSIX_C_SOURCE 200809L
#include "nostr_relay.h"
#include "test.h"
#include <unistd.h>

#define NOW_S 1700000000LL
#define RELAY_URL "ws://127.0.0.1:7777/"

/* ---- counting allocator (memory per connection, leaks) ---- */

typedef struct counter {
    long long bytes, blocks;
} counter;

static void *c_alloc(void *user, size_t n)
{
    counter *c = (counter *)user;
    size_t *p = (size_t *)malloc(n + 16);
    if (!p) return NULL;
    p[0] = n;
    c->bytes += (long long)n;
    c->blocks++;
    return (char *)p + 16;
}

static void c_free(void *user, void *ptr)
{
    counter *c = (counter *)user;
    size_t *p;
    if (!ptr) return;
    p = (size_t *)((char *)ptr - 16);
    c->bytes -= (long long)p[0];
    c->blocks--;
    free(p);
}

static void *c_realloc(void *user, void *ptr, size_t n)
{
    void *q;
    size_t old;
    if (!ptr) return c_alloc(user, n);
    old = ((size_t *)((char *)ptr - 16))[0];
    q = c_alloc(user, n);
    if (!q) return NULL;
    memcpy(q, ptr, old < n ? old : n);
    c_free(user, ptr);
    return q;
}

/* ---- deterministic randomness (same bytes every run) ---- */

static int t_rng(void *user, unsigned char *out, size_t n)
{
    unsigned long long *s = (unsigned long long *)user;
    size_t i;
    for (i = 0; i < n; i++) {
        *s = *s * 6364136223846793005ull + 1442695040888963407ull;
        out[i] = (unsigned char)(*s >> 33);
    }
    return 0;
}

/* ---- garbage: strings freed at the end of each test ---- */

static char *garbage[4096];
static size_t ngarbage;

static char *keep(char *p)
{
    if (ngarbage < sizeof garbage / sizeof garbage[0]) garbage[ngarbage++] = p;
    return p;
}

static void collect(void)
{
    while (ngarbage) free(garbage[--ngarbage]);
}

static char *dupn(const char *s, size_t n)
{
    char *p = (char *)malloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

static char *fmt(const char *f, const char *a, const char *b)
{
    size_t n = strlen(f) + strlen(a) + (b ? strlen(b) : 0) + 1;
    char *p = (char *)malloc(n);
    snprintf(p, n, f, a, b ? b : "");
    return keep(p);
}

/* ---- a deferring store: the built-in store, answers held until released ---- */

typedef struct dop {
    int type; /* 1 put, 2 query, 3 count */
    int inner_done;
    nostr_store_put_fn put_done;
    nostr_store_row_fn row;
    nostr_store_done_fn done;
    void *user;
    int result;
    unsigned long long count;
    char *rows[64];
    size_t nrows;
} dop;

typedef struct dstore {
    nostr_store inner;
    dop *ops[256];
    size_t nops;
    int has_unknown; /* has() answers -1 */
    int fail_put;    /* put returns an error */
} dstore;

static void d_put_done(void *user, int result, const char *msg)
{
    dop *o = (dop *)user;
    (void)msg;
    o->result = result;
    o->inner_done = 1;
}

static void d_row(void *user, const char *json, size_t len)
{
    dop *o = (dop *)user;
    if (o->nrows < 64) o->rows[o->nrows++] = dupn(json, len);
}

static void d_done(void *user, int rc, unsigned long long count)
{
    dop *o = (dop *)user;
    o->result = rc;
    o->count = count;
    o->inner_done = 1;
}

static dop *d_new(dstore *d, int type, void *user)
{
    dop *o = (dop *)calloc(1, sizeof *o);
    o->type = type;
    o->user = user;
    d->ops[d->nops++] = o;
    return o;
}

static int d_put(void *self, const nostr_event *ev, const char *json, size_t len, nostr_store_put_fn done, void *user)
{
    dstore *d = (dstore *)self;
    dop *o;
    if (d->fail_put) return NOSTR_ERR_ARG;
    o = d_new(d, 1, user);
    o->put_done = done;
    return d->inner.put(d->inner.self, ev, json, len, d_put_done, o);
}

static int d_query(void *self, const nostr_filter *f, size_t n, long long now, nostr_store_row_fn row,
                   nostr_store_done_fn done, void *user)
{
    dstore *d = (dstore *)self;
    dop *o = d_new(d, 2, user);
    o->row = row;
    o->done = done;
    return d->inner.query(d->inner.self, f, n, now, d_row, d_done, o);
}

static int d_count(void *self, const nostr_filter *f, size_t n, long long now, nostr_store_done_fn done, void *user)
{
    dstore *d = (dstore *)self;
    dop *o = d_new(d, 3, user);
    o->done = done;
    return d->inner.count(d->inner.self, f, n, now, d_done, o);
}

static int d_has(void *self, const unsigned char id[32])
{
    dstore *d = (dstore *)self;
    return d->has_unknown ? -1 : d->inner.has(d->inner.self, id);
}

static int d_commit(void *self)
{
    dstore *d = (dstore *)self;
    return d->inner.commit(d->inner.self);
}

static long long d_purge(void *self, long long now)
{
    dstore *d = (dstore *)self;
    return d->inner.purge(d->inner.self, now);
}

/* Deliver the held answers (put answers only once the inner store
 * completed them, i.e. after its commit). Returns how many. */
static size_t d_release(dstore *d)
{
    size_t i, j, n = 0, kept = 0;
    for (i = 0; i < d->nops; i++) {
        dop *o = d->ops[i];
        if (!o->inner_done) {
            d->ops[kept++] = o;
            continue;
        }
        if (o->type == 1) {
            o->put_done(o->user, o->result, NULL);
        } else if (o->type == 2) {
            for (j = 0; j < o->nrows; j++) o->row(o->user, o->rows[j], strlen(o->rows[j]));
            o->done(o->user, o->result, o->nrows);
        } else {
            o->done(o->user, o->result, o->count);
        }
        for (j = 0; j < o->nrows; j++) free(o->rows[j]);
        free(o);
        n++;
    }
    d->nops = kept;
    return n;
}

static nostr_store d_iface(dstore *d)
{
    nostr_store s;
    memset(&s, 0, sizeof s);
    s.self = d;
    s.put = d_put;
    s.query = d_query;
    s.count = d_count;
    s.has = d_has;
    s.commit = d_commit;
    s.purge = d_purge;
    return s;
}

/* ---- the environment: a relay over a memory store ---- */

typedef struct tclient tclient;

typedef struct tenv {
    nostr_ctx *ctx;
    unsigned long long seed;
    nostr_store_builtin *sb;
    dstore d;
    int deferred;
    nostr_store store;
    nostr_relay *r;
    nostr_relay_config cfg;
    nostr_relay_callbacks cb;
    long long now_ms;
    counter mem;
    nostr_allocator al;
    tclient *clients[64];
    size_t nclients;
    int wakes;
    int offload; /* cb.verify takes jobs */
    nostr_relay_verify_job *jobs[64];
    size_t njobs;
    long long clock_us;
    int hook_calls;
    const char *dir; /* the built-in store on disk instead of memory */
} tenv;

static void env_wake(void *user, void *conn_user)
{
    tenv *e = (tenv *)user;
    (void)conn_user;
    e->wakes++;
}

static int env_verify(void *user, nostr_relay_verify_job *job)
{
    tenv *e = (tenv *)user;
    if (!e->offload || e->njobs == 64) return 1;
    e->jobs[e->njobs++] = job;
    return 0;
}

static long long env_now_us(void *user)
{
    tenv *e = (tenv *)user;
    return e->clock_us += 300; /* every query takes 0.3 ms */
}

static int env_hook(void *user, void *conn_user, const nostr_http_message *req, nostr_buf *resp)
{
    tenv *e = (tenv *)user;
    (void)conn_user;
    e->hook_calls++;
    if (req->path.len == 4 && memcmp(req->path.ptr, "/api", 4) == 0) {
        nostr_http_write_response(resp, 200, NULL, "application/json", NULL, 0, "{\"hook\":1}", 10, req->keep_alive);
        return 1;
    }
    return 0;
}

/* Prepare e (limits and policy go in e->cfg before env_start). */
static void env_init(tenv *e)
{
    nostr_ctx_config cc;
    memset(e, 0, sizeof *e);
    e->seed = 42;
    memset(&cc, 0, sizeof cc);
    cc.rng = t_rng;
    cc.rng_user = &e->seed;
    e->ctx = nostr_ctx_new(&cc);
    e->al.alloc = c_alloc;
    e->al.realloc = c_realloc;
    e->al.free = c_free;
    e->al.user = &e->mem;
    e->cfg.ctx = e->ctx;
    e->cfg.al = &e->al;
    e->cfg.relay_url = RELAY_URL;
    e->cfg.info.name = "test relay";
    e->cfg.info.description = "a \"quoted\" description";
    e->cfg.info.software = "distrise";
    e->now_ms = NOW_S * 1000;
    e->cb.user = e;
    e->cb.wake = env_wake;
    e->cb.verify = env_verify;
}

static void env_start(tenv *e)
{
    nostr_store_builtin_config sc;
    nostr_error err;
    memset(&sc, 0, sizeof sc);
    sc.dir = e->dir;
    CHECK(nostr_store_builtin_open(&e->sb, &sc, &err) == NOSTR_OK);
    e->store = nostr_store_builtin_iface(e->sb);
    if (e->deferred) {
        e->d.inner = e->store;
        e->store = d_iface(&e->d);
    }
    e->r = nostr_relay_new(&e->cfg, &e->cb, &e->store);
    CHECK(e->r != NULL);
    nostr_relay_tick(e->r, e->now_ms);
}

static void env_tick(tenv *e, long long add_ms)
{
    e->now_ms += add_ms;
    nostr_relay_tick(e->r, e->now_ms);
}

/* ---- the in-test client ---- */

struct tclient {
    tenv *e;
    nostr_relay_conn *c;
    nostr_ws ws;
    unsigned long long seed;
    nostr_buf tx;  /* the client framer's bytes, for the relay */
    nostr_buf raw; /* every byte the relay sent */
    nostr_http_parser hp;
    unsigned char key[16];
    int upgraded, ws_ready, closed, close_code;
    char *msgs[1024];
    size_t nmsgs, next;
    size_t bytewise; /* feed in pieces of this size (0 = whole) */
    char challenge[65];
    char http[8192]; /* the HTTP answers (non-WebSocket clients) */
    size_t http_len;
    int pings_seen;
};

static int tc_send_cb(void *user, const void *p, size_t n)
{
    tclient *t = (tclient *)user;
    return nostr_buf_append(&t->tx, p, n);
}

static void tc_msg_cb(void *user, int opcode, const char *p, size_t n)
{
    tclient *t = (tclient *)user;
    (void)opcode;
    if (t->nmsgs < 1024) t->msgs[t->nmsgs++] = dupn(p, n);
}

static void tc_close_cb(void *user, int code, const char *p, size_t n)
{
    tclient *t = (tclient *)user;
    (void)p;
    (void)n;
    t->closed = 1;
    t->close_code = code;
}

/* Move the relay's output into the client. */
static void tc_pump(tclient *t)
{
    const void *p;
    size_t len;
    if (!t->c) return;
    while ((len = nostr_relay_output(t->c, &p)) > 0) {
        const char *s = (const char *)p;
        nostr_buf_append(&t->raw, s, len);
        if (!t->upgraded) {
            if (t->http_len + len < sizeof t->http) {
                memcpy(t->http + t->http_len, s, len);
                t->http_len += len;
                t->http[t->http_len] = 0;
            }
        } else if (!t->ws_ready) {
            size_t used = 0;
            int rc = nostr_http_feed(&t->hp, s, len, &used);
            if (rc == NOSTR_HTTP_DONE) {
                CHECK(nostr_ws_client_check_response(&t->hp.msg, t->key, NULL) == NOSTR_OK);
                t->ws_ready = 1;
                if (used < len) nostr_ws_feed(&t->ws, s + used, len - used);
            }
        } else {
            nostr_ws_feed(&t->ws, s, len);
        }
        nostr_relay_consume(t->e->r, t->c, len);
    }
}

/* Feed the client's pending bytes to the relay. */
static void tc_flush(tclient *t)
{
    size_t i, step;
    if (!t->c || !t->tx.len) return;
    step = t->bytewise ? t->bytewise : t->tx.len;
    for (i = 0; i < t->tx.len; i += step) {
        size_t n = t->tx.len - i < step ? t->tx.len - i : step;
        nostr_relay_feed(t->e->r, t->c, t->tx.data + i, n);
    }
    nostr_buf_clear(&t->tx);
    tc_pump(t);
}

static void tc_raw(tclient *t, const char *bytes, size_t n)
{
    nostr_buf_append(&t->tx, bytes, n);
    tc_flush(t);
}

static void tc_accept(tenv *e, tclient *t, const char *ip)
{
    nostr_ws_config wc;
    nostr_ws_callbacks cb;
    memset(t, 0, sizeof *t);
    t->e = e;
    t->seed = 7 + e->nclients;
    nostr_buf_init(&t->tx, NULL);
    nostr_buf_init(&t->raw, NULL);
    nostr_http_parser_init(&t->hp, NOSTR_HTTP_RESPONSE, NULL);
    memset(&wc, 0, sizeof wc);
    wc.rng = t_rng;
    wc.rng_user = &t->seed;
    memset(&cb, 0, sizeof cb);
    cb.user = t;
    cb.send = tc_send_cb;
    cb.on_message = tc_msg_cb;
    cb.on_close = tc_close_cb;
    nostr_ws_init(&t->ws, NOSTR_WS_CLIENT, &wc, &cb);
    t->c = nostr_relay_accept(e->r, ip ? ip : "127.0.0.1", t);
    if (e->nclients < 64) e->clients[e->nclients++] = t;
}

static const char *tc_next(tclient *t)
{
    tc_pump(t);
    return t->next < t->nmsgs ? t->msgs[t->next++] : NULL;
}

/* Upgrade; the AUTH challenge is read. */
static void tc_open(tenv *e, tclient *t, const char *ip)
{
    const char *m;
    tc_accept(e, t, ip);
    CHECK(t->c != NULL);
    if (!t->c) return;
    t_rng(&t->seed, t->key, 16);
    CHECK(nostr_ws_client_request(&t->tx, "127.0.0.1:7777", "/", t->key, NULL) == NOSTR_OK);
    t->upgraded = 1;
    tc_flush(t);
    CHECK(t->ws_ready);
    m = tc_next(t);
    CHECK(m && strncmp(m, "[\"AUTH\",\"", 9) == 0 && strlen(m) == 9 + 32 + 2);
    if (m && strlen(m) == 43) {
        memcpy(t->challenge, m + 9, 32);
        t->challenge[32] = 0;
    }
}

static void tc_send(tclient *t, const char *text)
{
    CHECK(nostr_ws_send_text(&t->ws, text, strlen(text)) == NOSTR_OK);
    tc_flush(t);
}

static int starts(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

#define EXPECT_MSG(t, prefix)                                                                                          \
    do {                                                                                                               \
        const char *m_ = tc_next(t);                                                                                   \
        if (starts(m_, prefix)) {                                                                                      \
            test_passed++;                                                                                             \
        } else {                                                                                                       \
            test_failed++;                                                                                             \
            fprintf(stderr, "%s:%d: %s: expected %s\n   got %s\n", __FILE__, __LINE__, test_current, prefix,           \
                    m_ ? m_ : "(nothing)");                                                                            \
        }                                                                                                              \
    } while (0)

#define EXPECT_NONE(t)                                                                                                 \
    do {                                                                                                               \
        const char *m_ = tc_next(t);                                                                                   \
        if (!m_) {                                                                                                     \
            test_passed++;                                                                                             \
        } else {                                                                                                       \
            test_failed++;                                                                                             \
            fprintf(stderr, "%s:%d: %s: expected nothing, got %s\n", __FILE__, __LINE__, test_current, m_);            \
        }                                                                                                              \
    } while (0)

static void tc_free(tclient *t)
{
    size_t i;
    for (i = 0; i < t->nmsgs; i++) free(t->msgs[i]);
    t->nmsgs = t->next = 0;
    nostr_ws_free(&t->ws);
    nostr_buf_free(&t->tx);
    nostr_buf_free(&t->raw);
    nostr_http_parser_free(&t->hp);
}

static void tc_close(tclient *t)
{
    if (t->c) nostr_relay_closed(t->e->r, t->c);
    t->c = NULL;
}

static void env_settle(tenv *e)
{
    size_t i;
    nostr_store_builtin_commit(e->sb);
    if (e->deferred) d_release(&e->d);
    for (i = 0; i < e->nclients; i++) tc_pump(e->clients[i]);
}

static void env_free(tenv *e)
{
    size_t i;
    for (i = 0; i < e->nclients; i++) {
        tc_close(e->clients[i]);
        tc_free(e->clients[i]);
    }
    nostr_relay_free(e->r);
    nostr_store_builtin_close(e->sb); /* inner completions land in the wrapper's records */
    if (e->deferred) {
        for (i = 0; i < e->d.nops; i++) {
            size_t j;
            for (j = 0; j < e->d.ops[i]->nrows; j++) free(e->d.ops[i]->rows[j]);
            free(e->d.ops[i]);
        }
    }
    CHECK_EQ(e->mem.bytes, 0); /* the relay freed everything it allocated */
    nostr_ctx_free(e->ctx);
    collect();
}

/* ---- events ---- */

typedef const char *tagspec[4];

typedef struct tev {
    char *json; /* the event object */
    char *msg;  /* ["EVENT", json] */
    char id[65];
    nostr_event ev;
} tev;

static tev mk(tenv *e, const nostr_keys *k, unsigned kind, long long ts, const char *content, const tagspec *tags,
              size_t ntags, int pow_bits)
{
    tev t;
    nostr_arena a;
    nostr_buf b;
    size_t i;
    memset(&t, 0, sizeof t);
    nostr_arena_init(&a, NULL, 0, NULL);
    nostr_buf_init(&b, NULL);
    nostr_event_init(&t.ev, &a, kind, ts, content, strlen(content));
    for (i = 0; i < ntags; i++) nostr_event_add_tag4(&t.ev, &a, tags[i][0], tags[i][1], tags[i][2], tags[i][3]);
    memcpy(t.ev.pubkey, k->pub, 32); /* mining needs the final pubkey */
    if (pow_bits) CHECK(nostr_pow_mine(&t.ev, &a, pow_bits, 0) == NOSTR_OK);
    CHECK(nostr_event_sign(e->ctx, &t.ev, k) == NOSTR_OK);
    nostr_event_to_json(&t.ev, &b);
    t.json = keep(dupn(b.data, b.len));
    t.msg = fmt("[\"EVENT\",%s]", t.json, NULL);
    nostr_hex_encode(t.ev.id, 32, t.id);
    t.ev.tags = NULL; /* points into the arena, freed below */
    t.ev.tag_count = 0;
    t.ev.content.ptr = NULL;
    nostr_buf_free(&b);
    nostr_arena_free(&a);
    return t;
}

static tev note(tenv *e, const nostr_keys *k, long long ts, const char *content)
{
    return mk(e, k, 1, ts, content, NULL, 0, 0);
}

static const char *ok_true(const tev *t)
{
    return fmt("[\"OK\",\"%s\",true,\"\"]", t->id, NULL);
}

static const char *ok_msg(const tev *t, const char *ok_and_prefix)
{
    return fmt("[\"OK\",\"%s\",%s", t->id, ok_and_prefix);
}

static const char *ev_msg(const char *sub, const tev *t)
{
    char *s = fmt("[\"EVENT\",\"%s\",%s]", sub, t->json);
    return s;
}

static void keys(tenv *e, nostr_keys *k)
{
    CHECK(nostr_keys_generate(e->ctx, k) == NOSTR_OK);
}

/* Publish and expect the OK after the store's commit. */
static void publish(tenv *e, tclient *t, const tev *ev)
{
    tc_send(t, ev->msg);
    env_settle(e);
    EXPECT_MSG(t, ok_true(ev));
}

/* ---- HTTP ---- */

static void http_get(tenv *e, tclient *t, const char *req)
{
    tc_accept(e, t, NULL);
    tc_raw(t, req, strlen(req));
}

static void test_http(void)
{
    tenv e;
    tclient a, b, c, d, f, g, h;
    nostr_relay_stats st;
    env_init(&e);
    e.cfg.limits.max_past_s = 3600;
    e.cfg.limits.min_pow = 0;
    e.cb.http_hook = env_hook;
    env_start(&e);

    http_get(&e, &a, "GET / HTTP/1.1\r\nHost: x\r\nAccept: application/nostr+json\r\nConnection: close\r\n\r\n");
    CHECK(starts(a.http, "HTTP/1.1 200 OK\r\n"));
    CHECK(strstr(a.http, "Content-Type: application/nostr+json\r\n") != NULL);
    CHECK(strstr(a.http, "Access-Control-Allow-Origin: *\r\n") != NULL);
    CHECK(strstr(a.http, "\"name\":\"test relay\"") != NULL);
    CHECK(strstr(a.http, "\"description\":\"a \\\"quoted\\\" description\"") != NULL);
    CHECK(strstr(a.http, "\"software\":\"distrise\"") != NULL);
    CHECK(strstr(a.http, "\"supported_nips\":[1,9,11,13,40,42,45,50,70]") != NULL);
    CHECK(strstr(a.http, "\"max_message_length\":131072") != NULL);
    CHECK(strstr(a.http, "\"max_subscriptions\":200") != NULL);
    CHECK(strstr(a.http, "\"max_limit\":500") != NULL);
    CHECK(strstr(a.http, "\"max_event_tags\":2000") != NULL);
    CHECK(strstr(a.http, "\"max_content_length\":65536") != NULL);
    CHECK(strstr(a.http, "\"min_pow_difficulty\":0") != NULL);
    CHECK(strstr(a.http, "\"auth_required\":false") != NULL);
    CHECK(strstr(a.http, "\"restricted_writes\":false") != NULL);
    CHECK(strstr(a.http, "\"created_at_lower_limit\":3600") != NULL);
    CHECK(strstr(a.http, "\"created_at_upper_limit\":900") != NULL);
    CHECK(strstr(a.http, "\"default_limit\":500") != NULL);
    CHECK(strstr(a.http, "\"pubkey\"") == NULL); /* NULL fields are omitted */
    CHECK(nostr_relay_should_close(a.c));
    {
        /* the body is valid JSON */
        const char *body = strstr(a.http, "\r\n\r\n") + 4;
        nostr_json j;
        nostr_json_init(&j, body, strlen(body), NULL);
        CHECK(nostr_json_skip(&j) == NOSTR_OK && nostr_json_finish(&j) == NOSTR_OK);
    }

    /* keep-alive: two pipelined requests on one connection */
    http_get(&e, &b,
             "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(starts(b.http, "HTTP/1.1 200 OK\r\n"));
    CHECK(strstr(b.http, "\r\n\r\nok\nHTTP/1.1 404 Not Found\r\n") != NULL);
    CHECK(nostr_relay_should_close(b.c));

    http_get(&e, &c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(starts(c.http, "HTTP/1.1 200 OK\r\n"));
    CHECK(strstr(c.http, "# TYPE nostr_relay_connections gauge\nnostr_relay_connections 3\n") != NULL);
    CHECK(strstr(c.http, "nostr_relay_http_requests_total 4\n") != NULL);
    CHECK(strstr(c.http, "nostr_relay_events_rejected_total{reason=\"invalid\"} 0\n") != NULL);
    CHECK(strstr(c.http, "# TYPE nostr_relay_query_latency_seconds histogram\n") != NULL);
    CHECK(strstr(c.http, "nostr_relay_query_latency_seconds_bucket{le=\"+Inf\"} 0\n") != NULL);
    CHECK(strstr(c.http, "nostr_relay_query_latency_seconds_count 0\n") != NULL);
    CHECK(!nostr_relay_should_close(c.c)); /* keep-alive */

    http_get(&e, &d, "GET /api HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(starts(d.http, "HTTP/1.1 200 OK\r\n") && strstr(d.http, "{\"hook\":1}") != NULL);
    CHECK(e.hook_calls == 5); /* every plain request went to the hook first */

    http_get(&e, &f, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(starts(f.http, "HTTP/1.1 200 OK\r\n") && strstr(f.http, "Nostr client") != NULL);
    http_get(&e, &g, "OPTIONS / HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(starts(g.http, "HTTP/1.1 204 ") && strstr(g.http, "Access-Control-Allow-Methods:") != NULL);
    /* malformed: 400 and close */
    http_get(&e, &h, "GET / HTTP/1.1\nHost: x\n\n");
    CHECK(starts(h.http, "HTTP/1.1 400 "));
    CHECK(nostr_relay_should_close(h.c));
    CHECK(nostr_relay_feed(e.r, h.c, "x", 1) == NOSTR_ERR_CLOSED);
    nostr_relay_stats_get(e.r, &st);
    CHECK_EQ(st.connections, 7);
    CHECK_EQ(st.websockets, 0);
    env_free(&e);
}

static void test_upgrade_errors(void)
{
    tenv e;
    tclient a, b;
    env_init(&e);
    env_start(&e);
    http_get(&e, &a,
             "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Version: 12\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    CHECK(starts(a.http, "HTTP/1.1 426 "));
    CHECK(nostr_relay_should_close(a.c));
    /* the metrics page can be turned off */
    nostr_relay_free(e.r);
    e.cfg.serve_metrics = -1;
    e.r = nostr_relay_new(&e.cfg, &e.cb, &e.store);
    a.c = NULL;
    e.nclients = 0;
    tc_free(&a);
    http_get(&e, &b, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(starts(b.http, "HTTP/1.1 404 "));
    env_free(&e);
}

/* ---- the core flow ---- */

static void test_event_req_live(void)
{
    tenv e;
    tclient a, b;
    nostr_keys k;
    tev e1, e2, e3, e4;
    nostr_relay_stats st;
    env_init(&e);
    env_start(&e);
    keys(&e, &k);
    tc_open(&e, &a, NULL);
    tc_open(&e, &b, NULL);
    e1 = note(&e, &k, NOW_S - 30, "first");
    e2 = note(&e, &k, NOW_S - 20, "second");
    e3 = note(&e, &k, NOW_S - 10, "third");

    publish(&e, &a, &e1);
    publish(&e, &a, &e2);
    publish(&e, &a, &e3);

    /* stored events newest first, EOSE, then live */
    tc_send(&b, "[\"REQ\",\"s1\",{\"kinds\":[1]}]");
    EXPECT_MSG(&b, ev_msg("s1", &e3));
    EXPECT_MSG(&b, ev_msg("s1", &e2));
    EXPECT_MSG(&b, ev_msg("s1", &e1));
    EXPECT_MSG(&b, "[\"EOSE\",\"s1\"]");
    EXPECT_NONE(&b);
    e4 = note(&e, &k, NOW_S, "live");
    publish(&e, &a, &e4);
    EXPECT_MSG(&b, ev_msg("s1", &e4));
    EXPECT_NONE(&b);

    /* a filter's limit */
    tc_send(&b, "[\"REQ\",\"s2\",{\"authors\":[\""
                "0000000000000000000000000000000000000000000000000000000000000000"
                "\"]},{\"kinds\":[1],\"limit\":2}]");
    EXPECT_MSG(&b, ev_msg("s2", &e4));
    EXPECT_MSG(&b, ev_msg("s2", &e3));
    EXPECT_MSG(&b, "[\"EOSE\",\"s2\"]");

    /* duplicate: answered from store->has, OK true */
    tc_send(&a, e2.msg);
    EXPECT_MSG(&a, ok_msg(&e2, "true,\"duplicate: already have this event\"]"));

    /* CLOSE ends live delivery; the other subscription goes on */
    tc_send(&b, "[\"CLOSE\",\"s1\"]");
    EXPECT_NONE(&b);
    {
        tev e5 = note(&e, &k, NOW_S, "after close");
        publish(&e, &a, &e5);
        EXPECT_MSG(&b, ev_msg("s2", &e5));
        EXPECT_NONE(&b);
    }
    nostr_relay_stats_get(e.r, &st);
    CHECK_EQ(st.events_received, 6);
    CHECK_EQ(st.events_stored, 5);
    CHECK_EQ(st.rejected[NOSTR_RELAY_REJ_DUPLICATE], 1);
    CHECK_EQ(st.events_delivered, 2);
    CHECK_EQ(st.subscriptions, 1);
    CHECK_EQ(st.reqs, 2);
    CHECK_EQ(st.websockets, 2);
    env_free(&e);
}

/* On disk the store completes a put at the commit that made it durable:
 * the OK waits for it (strfry's rule), live delivery too. */
static void test_ok_after_commit(void)
{
    tenv e;
    tclient a, b, c;
    nostr_keys k;
    tev t;
    char dir[] = "/tmp/test_relay_XXXXXX", path[64];
    CHECK(mkdtemp(dir) != NULL);
    env_init(&e);
    e.dir = dir;
    env_start(&e);
    keys(&e, &k);
    tc_open(&e, &a, NULL);
    tc_open(&e, &b, NULL);
    tc_send(&b, "[\"REQ\",\"s\",{}]");
    EXPECT_MSG(&b, "[\"EOSE\",\"s\"]");
    t = note(&e, &k, NOW_S, "durable");
    tc_send(&a, t.msg);
    EXPECT_NONE(&a);
    EXPECT_NONE(&b);
    tc_send(&a, t.msg); /* visible to duplicate checks before the commit */
    EXPECT_MSG(&a, ok_msg(&t, "true,\"duplicate: already have this event\"]"));
    /* a REQ between the put and its commit gets the event with its stored
     * events, and not again live when the put completes */
    {
        tc_open(&e, &c, NULL);
        tc_send(&c, "[\"REQ\",\"late\",{}]");
        EXPECT_MSG(&c, ev_msg("late", &t));
        EXPECT_MSG(&c, "[\"EOSE\",\"late\"]");
        env_settle(&e);
        EXPECT_MSG(&a, ok_true(&t));
        EXPECT_MSG(&b, ev_msg("s", &t));
        EXPECT_NONE(&c);
    }
    env_free(&e);
    snprintf(path, sizeof path, "%s/events.log", dir);
    CHECK(remove(path) == 0);
    CHECK(rmdir(dir) == 0);
}

static void test_replace_sub(void)
{
    tenv e;
    tclient a, b;
    nostr_keys k;
    tev n1, m1, n2;
    env_init(&e);
    env_start(&e);
    keys(&e, &k);
    tc_open(&e, &a, NULL);
    tc_open(&e, &b, NULL);
    n1 = note(&e, &k, NOW_S - 5, "note");
    m1 = mk(&e, &k, 7, NOW_S - 4, "+", NULL, 0, 0);
    publish(&e, &a, &n1);
    publish(&e, &a, &m1);
    tc_send(&b, "[\"REQ\",\"x\",{\"kinds\":[1]}]");
    EXPECT_MSG(&b, ev_msg("x", &n1));
    EXPECT_MSG(&b, "[\"EOSE\",\"x\"]");
    /* same id, new filters: replaces */
    tc_send(&b, "[\"REQ\",\"x\",{\"kinds\":[7]}]");
    EXPECT_MSG(&b, ev_msg("x", &m1));
    EXPECT_MSG(&b, "[\"EOSE\",\"x\"]");
    n2 = note(&e, &k, NOW_S, "not for x any more");
    publish(&e, &a, &n2);
    EXPECT_NONE(&b);
    {
        nostr_relay_stats st;
        nostr_relay_stats_get(e.r, &st);
        CHECK_EQ(st.subscriptions, 1);
    }
    env_free(&e);
}

static void test_count(void)
{
    tenv e;
    tclient a;
    nostr_keys k;
    int i;
    env_init(&e);
    env_start(&e);
    keys(&e, &k);
    tc_open(&e, &a, NULL);
    for (i = 0; i < 3; i++) {
        tev n = note(&e, &k, NOW_S - i, i == 0 ? "zero" : i == 1 ? "one" : "two");
        publish(&e, &a, &n);
    }
    tc_send(&a, "[\"COUNT\",\"c\",{\"kinds\":[1]}]");
    EXPECT_MSG(&a, "[\"COUNT\",\"c\",{\"count\":3}]");
    tc_send(&a, "[\"COUNT\",\"c\",{\"kinds\":[1],\"limit\":1},{\"kinds\":[2]}]");
    EXPECT_MSG(&a, "[\"COUNT\",\"c\",{\"count\":3}]");
    tc_send(&a, "[\"COUNT\",\"c\",{\"kinds\":[\"x\"]}]");
    EXPECT_MSG(&a, "[\"CLOSED\",\"c\",\"invalid: ");
    env_free(&e);
}

static void test_search(void)
{
    tenv e;
    tclient a;
    nostr_keys k;
    tev n1, n2;
    env_init(&e);
    env_start(&e);
    keys(&e, &k);
    tc_open(&e, &a, NULL);
    n1 = note(&e, &k, NOW_S - 2, "Hello Nostr world");
    n2 = note(&e, &k, NOW_S - 1, "something else");
    publish(&e, &a, &n1);
    publish(&e, &a, &n2);
    tc_send(&a, "[\"REQ\",\"q\",{\"search\":\"nostr HELLO\"}]");
    EXPECT_MSG(&a, ev_msg("q", &n1));
    EXPECT_MSG(&a, "[\"EOSE\",\"q\"]");
    env_free(&e);
}

/* ---- EVENT rejections ---- */

/* A copy of json with the first character after `after` changed. */
static char *corrupt(const char *json, const char *after)
{
    char *s = keep(dupn(json, strlen(json)));
    char *p = strstr(s, after);
    if (p) {
        p += strlen(after);
        *p = *p == 'a' ? 'b' : 'a';
    }
    return s;
}

static void test_rejections(void)
{
    tenv e;
    tclient a;
    nostr_keys k, other;
    unsigned deny_kinds[1] = {4};
    unsigned char deny_keys[1][32];
    nostr_relay_stats st;
    env_init(&e);
    e.cfg.limits.max_past_s = 3600;
    e.cfg.limits.max_content = 100;
    e.cfg.limits.max_tags = 5;
    e.cfg.limits.max_tag_value = 20;
    e.cfg.limits.max_event_bytes = 2000;
    e.cfg.kinds_deny = deny_kinds;
    e.cfg.kinds_deny_count = 1;
    env_start(&e);
    keys(&e, &k);
    keys(&e, &other);
    memcpy(deny_keys[0], other.pub, 32);
    /* the relay keeps pointers to the lists: set after start is fine for a test */
    nostr_relay_free(e.r);
    e.cfg.pubkeys_deny = (const unsigned char(*)[32])deny_keys;
    e.cfg.pubkeys_deny_count = 1;
    e.r = nostr_relay_new(&e.cfg, &e.cb, &e.store);
    nostr_relay_tick(e.r, e.now_ms);
    tc_open(&e, &a, NULL);
    {
        tev t = note(&e, &k, NOW_S, "bad sig");
        tc_send(&a, fmt("[\"EVENT\",%s]", corrupt(t.json, "\"sig\":\""), NULL));
        EXPECT_MSG(&a, ok_msg(&t, "false,\"invalid: bad signature\"]"));
    }
    {
        tev t = note(&e, &k, NOW_S, "bad id");
        tc_send(&a, fmt("[\"EVENT\",%s]", corrupt(t.json, "\"content\":\""), NULL));
        EXPECT_MSG(&a, ok_msg(&t, "false,\"invalid: id is not"));
    }
    {
        char big[200];
        tev t;
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = 0;
        t = note(&e, &k, NOW_S, big);
        tc_send(&a, t.msg);
        EXPECT_MSG(&a, ok_msg(&t, "false,\"invalid: content too long (max 100 bytes)\"]"));
    }
    {
        tagspec tags[6] = {{"t", "a", NULL, NULL}, {"t", "b", NULL, NULL}, {"t", "c", NULL, NULL},
                           {"t", "d", NULL, NULL}, {"t", "e", NULL, NULL}, {"t", "f", NULL, NULL}};
        tev t = mk(&e, &k, 1, NOW_S, "tags", tags, 6, 0);
        tc_send(&a, t.msg);
        EXPECT_MSG(&a, ok_msg(&t, "false,\"invalid: "));
        t = mk(&e, &k, 1, NOW_S, "tags", tags, 5, 0);
        publish(&e, &a, &t);
    }
    {
        tagspec tags[1] = {{"t", "a very long tag value indeed", NULL, NULL}};
        tev t = mk(&e, &k, 1, NOW_S, "tag value", tags, 1, 0);
        tc_send(&a, t.msg);
        EXPECT_MSG(&a, ok_msg(&t, "false,\"invalid: tag value too long (max 20 bytes)\"]"));
    }
    {
        tev t = note(&e, &k, NOW_S + 901, "future");
        tc_send(&a, t.msg);
        EXPECT_MSG(&a, ok_msg(&t, "false,\"invalid: created_at is too far in the future\"]"));
        t = note(&e, &k, NOW_S + 899, "near future");
        publish(&e, &a, &t);
        t = note(&e, &k, NOW_S - 3601, "past");
        tc_send(&a, t.msg);
        EXPECT_MSG(&a, ok_msg(&t, "false,\"invalid: created_at is too far in the past\"]"));
    }
    {
        tagspec exp[1] = {{"expiration", "1699999990", NULL, NULL}};
        tagspec later[1] = {{"expiration", "1700000100", NULL, NULL}};
        tev t = mk(&e, &k, 1, NOW_S - 100, "expired", exp, 1, 0);
        tc_send(&a, t.msg);
        EXPECT_MSG(&a, ok_msg(&t, "false,\"invalid: event has expired\"]"));
        t = mk(&e, &k, 1, NOW_S - 100, "expires later", later, 1, 0);
        publish(&e, &a, &t);
    }
    {
        tev t = mk(&e, &k, 4, NOW_S, "dm", NULL, 0, 0);
        tc_send(&a, t.msg);
        EXPECT_MSG(&a, ok_msg(&t, "false,\"blocked: kind 4 is not accepted here\"]"));
        t = note(&e, &other, NOW_S, "denied pubkey");
        tc_send(&a, t.msg);
        EXPECT_MSG(&a, ok_msg(&t, "false,\"blocked: "));
    }
    {
        tev t = mk(&e, &k, 22242, NOW_S, "", NULL, 0, 0);
        tc_send(&a, t.msg);
        EXPECT_MSG(&a, ok_msg(&t, "false,\"invalid: kind 22242 is only for AUTH\"]"));
    }
    nostr_relay_stats_get(e.r, &st);
    CHECK_EQ(st.rejected[NOSTR_RELAY_REJ_BLOCKED], 2);
    CHECK_EQ(st.rejected[NOSTR_RELAY_REJ_INVALID], 9);
    {
        tagspec tags[5] = {{"p", "0123456789012345678", NULL, NULL},
                           {"p", "0123456789012345678", NULL, NULL},
                           {"p", "0123456789012345678", NULL, NULL},
                           {"p", "0123456789012345678", NULL, NULL},
                           {"p", "0123456789012345678", NULL, NULL}};
        char big[95];
        tev t;
        memset(big, 'y', sizeof big - 1);
        big[sizeof big - 1] = 0;
        e.cfg.limits.max_event_bytes = 300;
        nostr_relay_free(e.r);
        e.r = nostr_relay_new(&e.cfg, &e.cb, &e.store);
        nostr_relay_tick(e.r, e.now_ms);
        a.c = NULL;
        tc_free(&a);
        e.nclients = 0;
        tc_open(&e, &a, NULL);
        t = mk(&e, &k, 1, NOW_S, big, tags, 5, 0);
        tc_send(&a, t.msg);
        EXPECT_MSG(&a, ok_msg(&t, "false,\"invalid: event too large (max 300 bytes)\"]"));
    }
    env_free(&e);
}

static void test_allow_lists_pow(void)
{
    tenv e;
    tclient a, h;
    nostr_keys k, other;
    unsigned allow_kinds[2] = {1, 7};
    unsigned char allow_keys[1][32];
    env_init(&e);
    e.cfg.kinds_allow = allow_kinds;
    e.cfg.kinds_allow_count = 2;
    e.cfg.limits.min_pow = 8;
    env_start(&e);
    keys(&e, &k);
    keys(&e, &other);
    memcpy(allow_keys[0], k.pub, 32);
    nostr_relay_free(e.r);
    e.cfg.pubkeys_allow = (const unsigned char(*)[32])allow_keys;
    e.cfg.pubkeys_allow_count = 1;
    e.r = nostr_relay_new(&e.cfg, &e.cb, &e.store);
    nostr_relay_tick(e.r, e.now_ms);
    tc_open(&e, &a, NULL);
    {
        tev t = mk(&e, &k, 1, NOW_S, "mined", NULL, 0, 8);
        publish(&e, &a, &t);
        t = mk(&e, &k, 3, NOW_S, "mined", NULL, 0, 8);
        tc_send(&a, t.msg);
        EXPECT_MSG(&a, ok_msg(&t, "false,\"blocked: kind 3 is not accepted here\"]"));
        t = mk(&e, &other, 1, NOW_S, "mined", NULL, 0, 8);
        tc_send(&a, t.msg);
        EXPECT_MSG(&a, ok_msg(&t, "false,\"blocked: "));
        do {
            t = note(&e, &k, NOW_S, "not mined");
        } while (nostr_pow_difficulty(t.ev.id) >= 8);
        tc_send(&a, t.msg);
        EXPECT_MSG(&a, ok_msg(&t, "false,\"pow: difficulty "));
        CHECK(strstr(a.msgs[a.next - 1], " is less than 8\"]") != NULL);
    }
    {
        http_get(&e, &h, "GET / HTTP/1.1\r\nHost: x\r\nAccept: application/nostr+json\r\n\r\n");
        CHECK(strstr(h.http, "\"min_pow_difficulty\":8") != NULL);
        CHECK(strstr(h.http, "\"restricted_writes\":true") != NULL);
        CHECK(strstr(h.http, "created_at_lower_limit") == NULL);
    }
    env_free(&e);
}

/* A read relay (the gateway's): every EVENT is refused, reads work. */
static void test_read_only(void)
{
    tenv e;
    tclient a, h;
    nostr_keys k;
    env_init(&e);
    e.cfg.read_only = 1;
    env_start(&e);
    keys(&e, &k);
    tc_open(&e, &a, NULL);
    {
        tev t = note(&e, &k, NOW_S, "not here");
        tc_send(&a, t.msg);
        EXPECT_MSG(&a, ok_msg(&t, "false,\"blocked: this relay only serves reads\"]"));
        tc_send(&a, "[\"REQ\",\"s\",{\"kinds\":[1]}]");
        EXPECT_MSG(&a, "[\"EOSE\",\"s\"]");
    }
    http_get(&e, &h, "GET / HTTP/1.1\r\nHost: x\r\nAccept: application/nostr+json\r\n\r\n");
    CHECK(strstr(h.http, "\"restricted_writes\":true") != NULL);
    env_free(&e);
}

static void test_rate_limits(void)
{
    tenv e;
    tclient a, b, c;
    nostr_keys k;
    int i;
    env_init(&e);
    e.cfg.limits.events_per_s = 1;
    e.cfg.limits.events_burst = 2;
    e.cfg.limits.reqs_per_s = 1;
    e.cfg.limits.reqs_burst = 1;
    e.cfg.limits.ip_events_per_s = 1;
    e.cfg.limits.ip_events_burst = 3;
    env_start(&e);
    keys(&e, &k);
    tc_open(&e, &a, NULL);
    for (i = 0; i < 2; i++) {
        tev t = note(&e, &k, NOW_S - i, i ? "one" : "zero");
        publish(&e, &a, &t);
    }
    {
        tev t = note(&e, &k, NOW_S, "third");
        tc_send(&a, t.msg);
        EXPECT_MSG(&a, ok_msg(&t, "false,\"rate-limited: "));
        env_tick(&e, 1000); /* one token back */
        publish(&e, &a, &t);
    }
    /* the IP's bucket (3, 1/s): one left after a's three; b gets one */
    tc_open(&e, &b, NULL);
    {
        tev t = note(&e, &k, NOW_S, "b1"), u = note(&e, &k, NOW_S, "b2");
        publish(&e, &b, &t);
        tc_send(&b, u.msg);
        EXPECT_MSG(&b, ok_msg(&u, "false,\"rate-limited: slow down, too many events from this address\"]"));
    }
    /* another address is not limited by this one */
    tc_open(&e, &c, "10.0.0.2");
    {
        tev t = note(&e, &k, NOW_S, "c1");
        publish(&e, &c, &t);
    }
    /* REQ bucket */
    tc_send(&c, "[\"REQ\",\"r1\",{\"limit\":0}]");
    EXPECT_MSG(&c, "[\"EOSE\",\"r1\"]");
    tc_send(&c, "[\"REQ\",\"r2\",{\"limit\":0}]");
    EXPECT_MSG(&c, "[\"CLOSED\",\"r2\",\"rate-limited: ");
    env_tick(&e, 1000);
    tc_send(&c, "[\"REQ\",\"r2\",{\"limit\":0}]");
    EXPECT_MSG(&c, "[\"EOSE\",\"r2\"]");
    env_free(&e);
}

static void test_conns_per_ip(void)
{
    tenv e;
    tclient a, b, c;
    env_init(&e);
    e.cfg.limits.max_conns_per_ip = 2;
    env_start(&e);
    tc_accept(&e, &a, "192.0.2.1");
    tc_accept(&e, &b, "192.0.2.1");
    CHECK(a.c && b.c);
    CHECK(nostr_relay_accept(e.r, "192.0.2.1", NULL) == NULL);
    CHECK(strcmp(nostr_relay_conn_ip(a.c), "192.0.2.1") == 0);
    CHECK(nostr_relay_conn_user(a.c) == &a);
    tc_close(&a);
    tc_accept(&e, &c, "192.0.2.1");
    CHECK(c.c != NULL);
    /* entries of addresses without connections are freed after a while */
    tc_close(&b);
    tc_close(&c);
    env_tick(&e, 60000);
    env_free(&e);
}

/* ---- bad input on every message type ---- */

static void test_bad_input(void)
{
    tenv e;
    tclient a;
    nostr_keys k;
    tev t;
    env_init(&e);
    env_start(&e);
    keys(&e, &k);
    tc_open(&e, &a, NULL);
    t = note(&e, &k, NOW_S, "x");
    tc_send(&a, "not json");
    EXPECT_MSG(&a, "[\"NOTICE\",\"invalid: ");
    CHECK(strstr(a.msgs[a.next - 1], "(at byte ") != NULL);
    tc_send(&a, "{}");
    EXPECT_MSG(&a, "[\"NOTICE\",\"invalid: message must be a JSON array");
    tc_send(&a, "[\"HELLO\",1]");
    EXPECT_MSG(&a, "[\"NOTICE\",\"invalid: unknown message type");
    tc_send(&a, "[\"OK\",\"x\",true,\"\"]");
    EXPECT_MSG(&a, "[\"NOTICE\",\"invalid: message type is sent by relays only");
    tc_send(&a, "[]");
    EXPECT_MSG(&a, "[\"NOTICE\",\"invalid: ");
    /* EVENT: with a readable id -> OK false; without -> NOTICE */
    tc_send(&a, fmt("[\"EVENT\",{\"id\":\"%s\",\"kind\":\"one\"}]", t.id, NULL));
    EXPECT_MSG(&a, ok_msg(&t, "false,\"invalid: "));
    tc_send(&a, "[\"EVENT\",{\"kind\":1}]");
    EXPECT_MSG(&a, "[\"NOTICE\",\"invalid: ");
    tc_send(&a, "[\"EVENT\"]");
    EXPECT_MSG(&a, "[\"NOTICE\",\"invalid: missing event");
    tc_send(&a, fmt("[\"EVENT\",%s,1]", t.json, NULL));
    EXPECT_MSG(&a, ok_msg(&t, "false,\"invalid: too many elements"));
    /* REQ: a readable sub id -> CLOSED; else NOTICE */
    tc_send(&a, "[\"REQ\",\"s\",{\"kinds\":\"x\"}]");
    EXPECT_MSG(&a, "[\"CLOSED\",\"s\",\"invalid: ");
    tc_send(&a, "[\"REQ\",\"s\",{\"unknown\":1}]");
    EXPECT_MSG(&a, "[\"CLOSED\",\"s\",\"invalid: ");
    tc_send(&a, "[\"REQ\",\"s\"]");
    EXPECT_MSG(&a, "[\"CLOSED\",\"s\",\"invalid: missing filter");
    tc_send(&a, "[\"REQ\",\"\",{}]");
    EXPECT_MSG(&a, "[\"NOTICE\",\"invalid: subscription id must be 1..64 characters");
    tc_send(&a, "[\"REQ\",1,{}]");
    EXPECT_MSG(&a, "[\"NOTICE\",\"invalid: subscription id must be a string");
    tc_send(&a, "[\"REQ\",\"s\",{\"ids\":[\"abc\"]}]");
    EXPECT_MSG(&a, "[\"CLOSED\",\"s\",\"invalid: ");
    /* CLOSE */
    tc_send(&a, "[\"CLOSE\"]");
    EXPECT_MSG(&a, "[\"NOTICE\",\"invalid: missing subscription id");
    tc_send(&a, "[\"CLOSE\",\"s\",2]");
    EXPECT_MSG(&a, "[\"NOTICE\",\"invalid: too many elements");
    tc_send(&a, "[\"CLOSE\",\"never opened\"]");
    EXPECT_NONE(&a);
    /* COUNT */
    tc_send(&a, "[\"COUNT\",\"c\",[]]");
    EXPECT_MSG(&a, "[\"CLOSED\",\"c\",\"invalid: ");
    tc_send(&a, "[\"COUNT\"]");
    EXPECT_MSG(&a, "[\"NOTICE\",\"invalid: ");
    /* AUTH */
    tc_send(&a, "[\"AUTH\",\"challenge\"]");
    EXPECT_MSG(&a, "[\"NOTICE\",\"invalid: ");
    tc_send(&a, fmt("[\"AUTH\",{\"id\":\"%s\"}]", t.id, NULL));
    EXPECT_MSG(&a, ok_msg(&t, "false,\"invalid: "));
    /* binary frames */
    CHECK(nostr_ws_send_binary(&a.ws, "[]", 2) == NOSTR_OK);
    tc_flush(&a);
    EXPECT_MSG(&a, "[\"NOTICE\",\"invalid: binary messages are not supported\"]");
    /* deep nesting */
    {
        char deep[300];
        memset(deep, '[', sizeof deep - 1);
        deep[sizeof deep - 1] = 0;
        tc_send(&a, deep);
        EXPECT_MSG(&a, "[\"NOTICE\",\"invalid: ");
    }
    /* the connection lives on */
    CHECK(!nostr_relay_should_close(a.c));
    publish(&e, &a, &t);
    tc_send(&a, "[\"REQ\",\"ok\",{}]");
    EXPECT_MSG(&a, ev_msg("ok", &t));
    EXPECT_MSG(&a, "[\"EOSE\",\"ok\"]");
    /* a WebSocket protocol error ends it: unmasked frame from a client */
    tc_raw(&a, "\x81\x02[]", 4);
    CHECK(a.closed && a.close_code == NOSTR_WS_CLOSE_PROTOCOL);
    CHECK(nostr_relay_should_close(a.c));
    env_free(&e);
}

static void test_sub_limits(void)
{
    tenv e;
    tclient a;
    int i;
    char req[64];
    env_init(&e);
    e.cfg.limits.max_subs = 3;
    e.cfg.limits.max_filters = 2;
    e.cfg.limits.max_filter_values = 3;
    e.cfg.limits.max_limit = 2;
    e.cfg.limits.reqs_burst = 100;
    e.cfg.limits.max_message = 1000;
    env_start(&e);
    tc_open(&e, &a, NULL);
    for (i = 0; i < 3; i++) {
        snprintf(req, sizeof req, "[\"REQ\",\"s%d\",{}]", i);
        tc_send(&a, req);
        EXPECT_MSG(&a, "[\"EOSE\",");
    }
    tc_send(&a, "[\"REQ\",\"s3\",{}]");
    EXPECT_MSG(&a, "[\"CLOSED\",\"s3\",\"error: too many subscriptions (max 3)\"]");
    /* replacing an open one is fine */
    tc_send(&a, "[\"REQ\",\"s1\",{}]");
    EXPECT_MSG(&a, "[\"EOSE\",\"s1\"]");
    tc_send(&a, "[\"CLOSE\",\"s0\"]");
    tc_send(&a, "[\"REQ\",\"s3\",{},{},{}]");
    EXPECT_MSG(&a, "[\"CLOSED\",\"s3\",\"invalid: too many filters");
    tc_send(&a, "[\"REQ\",\"s3\",{\"kinds\":[1,2,3,4]}]");
    EXPECT_MSG(&a, "[\"CLOSED\",\"s3\",\"invalid: ");
    tc_send(&a, "[\"REQ\",\"s3\",{\"kinds\":[1,2,3]},{}]");
    EXPECT_MSG(&a, "[\"EOSE\",\"s3\"]");
    {
        nostr_relay_stats st;
        nostr_relay_stats_get(e.r, &st);
        CHECK_EQ(st.subscriptions, 3);
    }
    /* a message over max_message ends the connection (close 1009) */
    {
        char big[1100];
        memset(big, ' ', sizeof big - 1);
        big[0] = '[';
        big[sizeof big - 2] = ']';
        big[sizeof big - 1] = 0;
        tc_send(&a, big);
        CHECK(a.closed && a.close_code == NOSTR_WS_CLOSE_TOO_BIG);
        CHECK(nostr_relay_should_close(a.c));
    }
    env_free(&e);
}

static void test_limit_caps(void)
{
    tenv e;
    tclient a;
    nostr_keys k;
    int i;
    tev t[5];
    env_init(&e);
    e.cfg.limits.max_limit = 3;
    e.cfg.limits.default_limit = 2;
    env_start(&e);
    keys(&e, &k);
    tc_open(&e, &a, NULL);
    for (i = 0; i < 5; i++) {
        char c[8];
        snprintf(c, sizeof c, "n%d", i);
        t[i] = note(&e, &k, NOW_S - 10 + i, c);
        publish(&e, &a, &t[i]);
    }
    tc_send(&a, "[\"REQ\",\"d\",{\"kinds\":[1]}]"); /* default_limit */
    EXPECT_MSG(&a, ev_msg("d", &t[4]));
    EXPECT_MSG(&a, ev_msg("d", &t[3]));
    EXPECT_MSG(&a, "[\"EOSE\",\"d\"]");
    tc_send(&a, "[\"REQ\",\"m\",{\"kinds\":[1],\"limit\":100}]"); /* capped at max_limit */
    EXPECT_MSG(&a, ev_msg("m", &t[4]));
    EXPECT_MSG(&a, ev_msg("m", &t[3]));
    EXPECT_MSG(&a, ev_msg("m", &t[2]));
    EXPECT_MSG(&a, "[\"EOSE\",\"m\"]");
    tc_send(&a, "[\"REQ\",\"z\",{\"kinds\":[1],\"limit\":0}]"); /* live only */
    EXPECT_MSG(&a, "[\"EOSE\",\"z\"]");
    env_free(&e);
}

/* ---- AUTH, NIP-70 ---- */

static char *auth_msg(tenv *e, const nostr_keys *k, const char *relay, const char *challenge, long long ts,
                      unsigned kind)
{
    nostr_event ev;
    nostr_arena a;
    nostr_buf b;
    char *s;
    nostr_arena_init(&a, NULL, 0, NULL);
    nostr_buf_init(&b, NULL);
    nostr_build_auth(&ev, &a, ts, relay, challenge);
    ev.kind = kind;
    nostr_event_sign(e->ctx, &ev, k);
    nostr_buf_append_str(&b, "[\"AUTH\",");
    nostr_event_to_json(&ev, &b);
    nostr_buf_append_char(&b, ']');
    s = keep(dupn(b.data, b.len));
    nostr_buf_free(&b);
    nostr_arena_free(&a);
    return s;
}

static void test_auth(void)
{
    tenv e;
    tclient a, b, h;
    nostr_keys k, other;
    unsigned char pk[32];
    env_init(&e);
    e.cfg.auth_required_read = 1;
    e.cfg.auth_required_write = 1;
    env_start(&e);
    keys(&e, &k);
    keys(&e, &other);
    tc_open(&e, &a, NULL);
    tc_open(&e, &b, NULL);
    CHECK(strcmp(a.challenge, b.challenge) != 0);
    CHECK(!nostr_relay_conn_authed(a.c, pk));
    {
        tev t = note(&e, &k, NOW_S, "needs auth");
        tc_send(&a, t.msg);
        EXPECT_MSG(&a, ok_msg(&t, "false,\"auth-required: "));
    }
    tc_send(&a, "[\"REQ\",\"s\",{}]");
    EXPECT_MSG(&a, "[\"CLOSED\",\"s\",\"auth-required: ");
    tc_send(&a, "[\"COUNT\",\"c\",{}]");
    EXPECT_MSG(&a, "[\"CLOSED\",\"c\",\"auth-required: ");
    /* failures */
    tc_send(&a, auth_msg(&e, &k, RELAY_URL, b.challenge, NOW_S, 22242));
    EXPECT_MSG(&a, "[\"OK\",");
    CHECK(strstr(a.msgs[a.next - 1], "false,\"invalid: challenge does not match\"]") != NULL);
    tc_send(&a, auth_msg(&e, &k, "wss://elsewhere.example/", a.challenge, NOW_S, 22242));
    EXPECT_MSG(&a, "[\"OK\",");
    CHECK(strstr(a.msgs[a.next - 1], "false,\"invalid: relay tag does not match this relay\"]") != NULL);
    tc_send(&a, auth_msg(&e, &k, RELAY_URL, a.challenge, NOW_S - 601, 22242));
    EXPECT_MSG(&a, "[\"OK\",");
    CHECK(strstr(a.msgs[a.next - 1], "false,\"invalid: created_at is more than 10 minutes from now\"]") != NULL);
    tc_send(&a, auth_msg(&e, &k, RELAY_URL, a.challenge, NOW_S, 1));
    EXPECT_MSG(&a, "[\"OK\",");
    CHECK(strstr(a.msgs[a.next - 1], "false,\"invalid: AUTH event must be kind 22242\"]") != NULL);
    {
        char *m = auth_msg(&e, &k, RELAY_URL, a.challenge, NOW_S, 22242);
        tc_send(&a, corrupt(m, "\"sig\":\""));
        EXPECT_MSG(&a, "[\"OK\",");
        CHECK(strstr(a.msgs[a.next - 1], "false,\"invalid: bad signature\"]") != NULL);
    }
    CHECK(!nostr_relay_conn_authed(a.c, NULL));
    /* success: the URL normalised (case, default port, trailing slash) */
    tc_send(&a, auth_msg(&e, &k, "WS://127.0.0.1:7777", a.challenge, NOW_S + 500, 22242));
    EXPECT_MSG(&a, "[\"OK\",");
    CHECK(strstr(a.msgs[a.next - 1], ",true,\"\"]") != NULL);
    CHECK(nostr_relay_conn_authed(a.c, pk) && memcmp(pk, k.pub, 32) == 0);
    {
        tev t = note(&e, &k, NOW_S, "authed");
        publish(&e, &a, &t);
        tc_send(&a, "[\"REQ\",\"s\",{}]");
        EXPECT_MSG(&a, ev_msg("s", &t));
        EXPECT_MSG(&a, "[\"EOSE\",\"s\"]");
    }
    {
        http_get(&e, &h, "GET / HTTP/1.1\r\nHost: x\r\nAccept: application/nostr+json\r\n\r\n");
        CHECK(strstr(h.http, "\"auth_required\":true") != NULL);
    }
    env_free(&e);
}

static void test_protected(void)
{
    tenv e;
    tclient a;
    nostr_keys k, other;
    tagspec prot[1] = {{"-", NULL, NULL, NULL}};
    env_init(&e);
    e.cfg.relay_url = NULL; /* any relay tag */
    env_start(&e);
    keys(&e, &k);
    keys(&e, &other);
    tc_open(&e, &a, NULL);
    {
        tev t = mk(&e, &k, 1, NOW_S, "protected", prot, 1, 0);
        tc_send(&a, t.msg);
        EXPECT_MSG(&a, ok_msg(&t, "false,\"auth-required: this event may only be published by its author\"]"));
        tc_send(&a, auth_msg(&e, &other, "wss://anything/", a.challenge, NOW_S, 22242));
        EXPECT_MSG(&a, "[\"OK\",");
        tc_send(&a, t.msg);
        EXPECT_MSG(&a, ok_msg(&t, "false,\"restricted: this event may only be published by its author\"]"));
        tc_send(&a, auth_msg(&e, &k, "wss://anything/", a.challenge, NOW_S, 22242));
        EXPECT_MSG(&a, "[\"OK\",");
        publish(&e, &a, &t);
    }
    {
        nostr_relay_stats st;
        nostr_relay_stats_get(e.r, &st);
        CHECK_EQ(st.rejected[NOSTR_RELAY_REJ_AUTH_REQUIRED], 1);
        CHECK_EQ(st.rejected[NOSTR_RELAY_REJ_RESTRICTED], 1);
    }
    env_free(&e);
}

/* ---- store-side kinds: deletion, replaceable, ephemeral ---- */

static void test_deletion_replaceable(void)
{
    tenv e;
    tclient a, b;
    nostr_keys k, other;
    tev n1, n2, del, meta1, meta2, art1, adel;
    tagspec etag[1], atag[1], dtag[1] = {{"d", "slug", NULL, NULL}};
    char coord[200];
    env_init(&e);
    env_start(&e);
    keys(&e, &k);
    keys(&e, &other);
    tc_open(&e, &a, NULL);
    tc_open(&e, &b, NULL);
    n1 = note(&e, &k, NOW_S - 50, "to delete");
    n2 = note(&e, &k, NOW_S - 49, "to keep");
    publish(&e, &a, &n1);
    publish(&e, &a, &n2);
    tc_send(&b, "[\"REQ\",\"live\",{\"kinds\":[5]}]");
    EXPECT_MSG(&b, "[\"EOSE\",\"live\"]");
    etag[0][0] = "e";
    etag[0][1] = n1.id;
    etag[0][2] = NULL;
    etag[0][3] = NULL;
    del = mk(&e, &k, 5, NOW_S - 40, "", etag, 1, 0);
    publish(&e, &a, &del);
    EXPECT_MSG(&b, ev_msg("live", &del)); /* deletions are delivered too */
    tc_send(&a, "[\"REQ\",\"q\",{\"kinds\":[1]}]");
    EXPECT_MSG(&a, ev_msg("q", &n2));
    EXPECT_MSG(&a, "[\"EOSE\",\"q\"]");
    tc_send(&a, n1.msg);
    env_settle(&e);
    EXPECT_MSG(&a, ok_msg(&n1, "false,\"blocked: this event was deleted\"]"));

    /* replaceable: the newer wins, the older is answered as a duplicate */
    meta1 = mk(&e, &k, 0, NOW_S - 30, "{\"name\":\"old\"}", NULL, 0, 0);
    meta2 = mk(&e, &k, 0, NOW_S - 20, "{\"name\":\"new\"}", NULL, 0, 0);
    publish(&e, &a, &meta2);
    tc_send(&a, meta1.msg);
    env_settle(&e);
    EXPECT_MSG(&a, ok_msg(&meta1, "true,\"duplicate: have a newer version of this event\"]"));
    tc_send(&a, "[\"REQ\",\"m\",{\"kinds\":[0]}]");
    EXPECT_MSG(&a, ev_msg("m", &meta2));
    EXPECT_MSG(&a, "[\"EOSE\",\"m\"]");

    /* addressable, deleted by coordinate */
    art1 = mk(&e, &k, 30023, NOW_S - 15, "article", dtag, 1, 0);
    publish(&e, &a, &art1);
    {
        char pub[65];
        nostr_hex_encode(k.pub, 32, pub);
        snprintf(coord, sizeof coord, "30023:%s:slug", pub);
    }
    atag[0][0] = "a";
    atag[0][1] = coord;
    atag[0][2] = NULL;
    atag[0][3] = NULL;
    adel = mk(&e, &k, 5, NOW_S - 10, "", atag, 1, 0);
    publish(&e, &a, &adel);
    tc_send(&a, "[\"REQ\",\"art\",{\"kinds\":[30023]}]");
    EXPECT_MSG(&a, "[\"EOSE\",\"art\"]");
    /* someone else's deletion removes nothing */
    etag[0][1] = n2.id;
    {
        tev od = mk(&e, &other, 5, NOW_S - 5, "", etag, 1, 0);
        publish(&e, &a, &od);
        tc_send(&a, fmt("[\"REQ\",\"q2\",{\"ids\":[\"%s\"]}]", n2.id, NULL));
        EXPECT_MSG(&a, ev_msg("q2", &n2));
        EXPECT_MSG(&a, "[\"EOSE\",\"q2\"]");
    }
    env_free(&e);
}

static void test_ephemeral(void)
{
    tenv e;
    tclient a, b;
    nostr_keys k;
    tev t;
    nostr_relay_stats st;
    env_init(&e);
    env_start(&e);
    keys(&e, &k);
    tc_open(&e, &a, NULL);
    tc_open(&e, &b, NULL);
    tc_send(&b, "[\"REQ\",\"eph\",{\"kinds\":[20001]}]");
    EXPECT_MSG(&b, "[\"EOSE\",\"eph\"]");
    t = mk(&e, &k, 20001, NOW_S, "typing", NULL, 0, 0);
    tc_send(&a, t.msg);
    EXPECT_MSG(&a, ok_true(&t)); /* at once: no store */
    EXPECT_MSG(&b, ev_msg("eph", &t));
    tc_send(&b, "[\"REQ\",\"eph2\",{\"kinds\":[20001]}]");
    EXPECT_MSG(&b, "[\"EOSE\",\"eph2\"]");
    nostr_relay_stats_get(e.r, &st);
    CHECK_EQ(st.events_ephemeral, 1);
    CHECK_EQ(st.events_stored, 0);
    env_free(&e);
}

/* ---- slow readers, idle, ping, shutdown ---- */

static void test_slow_reader(void)
{
    tenv e;
    tclient a, slow;
    nostr_keys k;
    int i;
    nostr_relay_stats st;
    const void *p;
    env_init(&e);
    e.cfg.limits.max_output = 4096;
    e.cfg.limits.events_burst = 1000;
    e.cfg.limits.ip_events_burst = 1000;
    env_start(&e);
    keys(&e, &k);
    tc_open(&e, &a, NULL);
    tc_open(&e, &slow, "10.9.9.9");
    tc_send(&slow, "[\"REQ\",\"all\",{}]");
    EXPECT_MSG(&slow, "[\"EOSE\",\"all\"]");
    e.nclients = 1; /* env_settle pumps only a: slow reads nothing */
    for (i = 0; i < 30 && !nostr_relay_should_close(slow.c); i++) {
        char c[300];
        tev t;
        memset(c, 'a' + i % 26, sizeof c - 1);
        c[sizeof c - 1] = 0;
        t = note(&e, &k, NOW_S - i, c);
        publish(&e, &a, &t);
    }
    CHECK(i < 30);
    CHECK(nostr_relay_should_close(slow.c));
    CHECK(nostr_relay_output(slow.c, &p) < 4096);
    nostr_relay_stats_get(e.r, &st);
    CHECK_EQ(st.closed_slow, 1);
    /* the publisher is not affected */
    CHECK(!nostr_relay_should_close(a.c));
    /* a reader that never drains: tick gives up once it has read nothing
     * for 10 s of tick time (counted from the first tick after the close,
     * as the loop may have been busy); reading a little restarts the wait */
    env_tick(&e, 60000); /* first tick since the close */
    env_tick(&e, 9000);
    CHECK(nostr_relay_output(slow.c, &p) > 0);
    nostr_relay_consume(e.r, slow.c, 1);
    env_tick(&e, 2000);
    CHECK(nostr_relay_output(slow.c, &p) > 0);
    env_tick(&e, 9000);
    CHECK(nostr_relay_output(slow.c, &p) > 0);
    env_tick(&e, 1000);
    CHECK(nostr_relay_output(slow.c, &p) == 0);
    CHECK(nostr_relay_should_close(slow.c));
    e.clients[e.nclients++] = &slow;
    env_free(&e);
}

/* The client reads everything at the end: one partial frame completed,
 * the NOTICE, the close frame; the framer sees no protocol error. */
static void test_slow_reader_frames(void)
{
    tenv e;
    tclient a, slow;
    nostr_keys k;
    int i;
    const void *p;
    size_t len;
    env_init(&e);
    e.cfg.limits.max_output = 3000;
    e.cfg.limits.events_burst = 1000;
    e.cfg.limits.ip_events_burst = 1000;
    env_start(&e);
    keys(&e, &k);
    tc_open(&e, &a, NULL);
    tc_open(&e, &slow, "10.9.9.8");
    tc_send(&slow, "[\"REQ\",\"all\",{}]");
    EXPECT_MSG(&slow, "[\"EOSE\",\"all\"]");
    e.nclients = 1; /* only a is pumped by env_settle */
    for (i = 0; i < 20 && !nostr_relay_should_close(slow.c); i++) {
        char c[200];
        tev t;
        memset(c, 'a' + i % 26, sizeof c - 1);
        c[sizeof c - 1] = 0;
        t = note(&e, &k, NOW_S - i, c);
        publish(&e, &a, &t);
        if (i == 0) {
            /* the client takes 7 bytes of the first frame */
            len = nostr_relay_output(slow.c, &p);
            CHECK(len > 7);
            nostr_ws_feed(&slow.ws, p, 7);
            nostr_relay_consume(e.r, slow.c, 7);
        }
    }
    CHECK(nostr_relay_should_close(slow.c));
    tc_pump(&slow);
    CHECK(slow.closed && slow.close_code == NOSTR_WS_CLOSE_POLICY);
    EXPECT_MSG(&slow, "[\"EVENT\",\"all\",");
    EXPECT_MSG(&slow, "[\"NOTICE\",\"error: output buffer full (slow reader), closing\"]");
    EXPECT_NONE(&slow);
    e.clients[e.nclients++] = &slow;
    env_free(&e);
}

static void test_idle_ping(void)
{
    tenv e;
    tclient a, h;
    nostr_relay_stats st;
    const void *p;
    size_t len;
    env_init(&e);
    e.cfg.limits.ping_interval_ms = 1000;
    e.cfg.limits.idle_timeout_ms = 5000;
    env_start(&e);
    tc_open(&e, &a, NULL);
    tc_accept(&e, &h, NULL); /* an HTTP connection that never sends a request */
    env_tick(&e, 999);
    CHECK(nostr_relay_output(a.c, &p) == 0);
    env_tick(&e, 1);
    len = nostr_relay_output(a.c, &p);
    CHECK(len == 2 && memcmp(p, "\x89\x00", 2) == 0); /* ping */
    tc_pump(&a);
    CHECK(a.tx.len > 0); /* the client framer answered with a pong */
    env_tick(&e, 500);
    tc_flush(&a); /* input: no longer idle */
    env_tick(&e, 999);
    CHECK(nostr_relay_output(a.c, &p) == 0);
    env_tick(&e, 1);
    CHECK(nostr_relay_output(a.c, &p) == 2);
    tc_pump(&a);
    nostr_buf_clear(&a.tx); /* this pong is lost: the client went silent */
    CHECK(!nostr_relay_should_close(h.c));
    env_tick(&e, 3000);
    CHECK(nostr_relay_should_close(h.c)); /* the HTTP one idled out */
    CHECK(!nostr_relay_should_close(a.c));
    env_tick(&e, 2000);
    CHECK(nostr_relay_should_close(a.c));
    tc_pump(&a);
    CHECK(a.closed && a.close_code == NOSTR_WS_CLOSE_GOING_AWAY);
    nostr_relay_stats_get(e.r, &st);
    CHECK_EQ(st.closed_idle, 2);
    env_free(&e);
}

static void test_shutdown(void)
{
    tenv e;
    tclient a, h;
    env_init(&e);
    env_start(&e);
    tc_open(&e, &a, NULL);
    tc_accept(&e, &h, NULL);
    nostr_relay_shutdown(e.r);
    tc_pump(&a);
    CHECK(a.closed && a.close_code == NOSTR_WS_CLOSE_GOING_AWAY);
    CHECK(nostr_relay_should_close(a.c) && nostr_relay_should_close(h.c));
    CHECK(nostr_relay_accept(e.r, "127.0.0.1", NULL) == NULL);
    env_free(&e);
}

/* The client closes: the framer answers, the relay wants the socket closed. */
static void test_client_close(void)
{
    tenv e;
    tclient a;
    env_init(&e);
    env_start(&e);
    tc_open(&e, &a, NULL);
    CHECK(nostr_ws_close(&a.ws, 1000, "bye", 3) == NOSTR_OK);
    tc_flush(&a);
    CHECK(nostr_relay_should_close(a.c));
    CHECK(a.closed && a.close_code == 1000);
    env_free(&e);
}

/* ---- byte at a time ---- */

/* Run one scripted session; returns every byte the relay sent. */
static char *script_run(size_t piece, size_t *out_len, const tev *evs, size_t nev)
{
    tenv e;
    tclient a, b;
    size_t i;
    char *all;
    env_init(&e);
    env_start(&e);
    tc_open(&e, &a, NULL);
    tc_open(&e, &b, NULL);
    a.bytewise = piece;
    b.bytewise = piece;
    tc_send(&b, "[\"REQ\",\"live\",{\"kinds\":[1,20001]}]");
    for (i = 0; i < nev; i++) {
        tc_send(&a, evs[i].msg);
        env_settle(&e);
    }
    tc_send(&a, "[\"REQ\",\"q\",{\"limit\":10}]");
    tc_send(&a, "[\"COUNT\",\"n\",{}]");
    tc_send(&a, "garbage");
    tc_send(&a, "[\"REQ\",\"q\",{\"kinds\":[\"bad\"]}]");
    tc_send(&b, "[\"CLOSE\",\"live\"]");
    tc_raw(&a, "GET", 3); /* not a frame: protocol error */
    nostr_buf_append(&a.raw, "|", 1);
    nostr_buf_append(&a.raw, b.raw.data, b.raw.len);
    *out_len = a.raw.len;
    all = dupn(a.raw.data, a.raw.len);
    env_free(&e);
    return all;
}

static void test_bytewise(void)
{
    tenv e;
    nostr_keys k;
    tev evs[4];
    char *whole, *bytes, *threes;
    size_t n1, n2, n3, i;
    env_init(&e); /* only for making events */
    keys(&e, &k);
    evs[0] = note(&e, &k, NOW_S - 3, "one");
    evs[1] = mk(&e, &k, 20001, NOW_S - 2, "ephemeral", NULL, 0, 0);
    evs[2] = note(&e, &k, NOW_S - 1, "three");
    evs[3] = evs[0]; /* duplicate */
    for (i = 0; i < 4; i++) {
        evs[i].json = dupn(evs[i].json, strlen(evs[i].json));
        evs[i].msg = dupn(evs[i].msg, strlen(evs[i].msg));
    }
    nostr_ctx_free(e.ctx);
    collect();
    whole = script_run(0, &n1, evs, 4);
    bytes = script_run(1, &n2, evs, 4);
    threes = script_run(3, &n3, evs, 4);
    CHECK(n1 > 1000);
    CHECK(n1 == n2 && memcmp(whole, bytes, n1) == 0);
    CHECK(n1 == n3 && memcmp(whole, threes, n1) == 0);
    free(whole);
    free(bytes);
    free(threes);
    for (i = 0; i < 4; i++) {
        free(evs[i].json);
        free(evs[i].msg);
    }
}

/* ---- verification on "worker threads" ---- */

static void jobs_done(tenv *e, int reverse)
{
    size_t i, n = e->njobs;
    e->njobs = 0;
    for (i = 0; i < n; i++) {
        nostr_relay_verify_job *j = e->jobs[reverse ? n - 1 - i : i];
        j->result = nostr_event_verify(e->ctx, j->event);
        nostr_relay_verify_done(e->r, j);
    }
}

static void test_verify_async(void)
{
    tenv e;
    tclient a, b, c;
    nostr_keys k;
    tev t1, t2, t3, bad;
    env_init(&e);
    e.offload = 1;
    env_start(&e);
    keys(&e, &k);
    tc_open(&e, &a, NULL);
    tc_open(&e, &b, NULL);
    tc_send(&b, "[\"REQ\",\"l\",{}]");
    EXPECT_MSG(&b, "[\"EOSE\",\"l\"]");
    t1 = note(&e, &k, NOW_S - 3, "v1");
    t2 = note(&e, &k, NOW_S - 2, "v2");
    bad = note(&e, &k, NOW_S - 1, "bad");
    tc_send(&a, t1.msg);
    tc_send(&a, t2.msg);
    tc_send(&a, fmt("[\"EVENT\",%s]", corrupt(bad.json, "\"sig\":\""), NULL));
    CHECK_EQ(e.njobs, 3);
    env_settle(&e);
    EXPECT_NONE(&a);
    /* completed in reverse: OKs come out of order */
    jobs_done(&e, 1);
    env_settle(&e);
    EXPECT_MSG(&a, ok_msg(&bad, "false,\"invalid: bad signature\"]"));
    EXPECT_MSG(&a, ok_true(&t2));
    EXPECT_MSG(&a, ok_true(&t1));
    EXPECT_MSG(&b, ev_msg("l", &t2));
    EXPECT_MSG(&b, ev_msg("l", &t1));
    /* a duplicate is answered before any signature work */
    tc_send(&a, t1.msg);
    CHECK_EQ(e.njobs, 0);
    EXPECT_MSG(&a, ok_msg(&t1, "true,\"duplicate:"));
    /* the connection closes with a job out: the event is still stored
     * and delivered, without an OK */
    tc_open(&e, &c, NULL);
    t3 = note(&e, &k, NOW_S, "orphan");
    tc_send(&c, t3.msg);
    CHECK_EQ(e.njobs, 1);
    tc_close(&c);
    jobs_done(&e, 0);
    env_settle(&e);
    EXPECT_MSG(&b, ev_msg("l", &t3));
    tc_send(&b, fmt("[\"REQ\",\"id\",{\"ids\":[\"%s\"]}]", t3.id, NULL));
    EXPECT_MSG(&b, ev_msg("id", &t3));
    EXPECT_MSG(&b, "[\"EOSE\",\"id\"]");
    /* a job still out when the relay is freed is freed with it */
    tc_send(&a, note(&e, &k, NOW_S, "never verified").msg);
    CHECK_EQ(e.njobs, 1);
    e.njobs = 0;
    env_free(&e);
}

/* ---- an asynchronous store ---- */

static void test_store_async(void)
{
    tenv e;
    tclient a, b, c;
    nostr_keys k;
    tev t1, t2, t3, t4;
    env_init(&e);
    e.deferred = 1;
    env_start(&e);
    keys(&e, &k);
    tc_open(&e, &a, NULL);
    tc_open(&e, &b, NULL);
    t1 = note(&e, &k, NOW_S - 4, "one");
    t2 = note(&e, &k, NOW_S - 3, "two");
    t3 = note(&e, &k, NOW_S - 2, "three");
    tc_send(&a, t1.msg);
    nostr_store_builtin_commit(e.sb);
    EXPECT_NONE(&a);
    d_release(&e.d);
    EXPECT_MSG(&a, ok_true(&t1));

    /* REQ: no EOSE until the query completes; a live event meanwhile is
     * held and sent after EOSE */
    tc_send(&b, "[\"REQ\",\"s\",{\"kinds\":[1]}]");
    EXPECT_NONE(&b);
    tc_send(&a, t2.msg);
    nostr_store_builtin_commit(e.sb);
    /* release the put first, then the query */
    {
        dop *q = e.d.ops[0], *put = e.d.ops[1];
        CHECK(q->type == 2 && put->type == 1);
        e.d.ops[0] = put;
        e.d.ops[1] = q;
        e.d.nops = 1;
        d_release(&e.d);
        EXPECT_MSG(&a, ok_true(&t2));
        EXPECT_NONE(&b);
        e.d.ops[0] = q;
        e.d.nops = 1;
        d_release(&e.d);
    }
    EXPECT_MSG(&b, ev_msg("s", &t1));
    EXPECT_MSG(&b, "[\"EOSE\",\"s\"]");
    EXPECT_MSG(&b, ev_msg("s", &t2));
    EXPECT_NONE(&b);

    /* replacing a subscription whose query is in flight: the old query
     * emits nothing */
    tc_send(&b, "[\"REQ\",\"r\",{\"kinds\":[1]}]");
    tc_send(&b, "[\"REQ\",\"r\",{\"kinds\":[7]}]");
    d_release(&e.d);
    EXPECT_MSG(&b, "[\"EOSE\",\"r\"]");
    EXPECT_NONE(&b);
    /* CLOSE with a query in flight */
    tc_send(&b, "[\"REQ\",\"gone\",{}]");
    tc_send(&b, "[\"CLOSE\",\"gone\"]");
    d_release(&e.d);
    EXPECT_NONE(&b);

    /* has() cannot say: the put finds the duplicate */
    e.d.has_unknown = 1;
    tc_send(&a, t1.msg);
    env_settle(&e);
    EXPECT_MSG(&a, ok_msg(&t1, "true,\"duplicate: already have this event\"]"));
    e.d.has_unknown = 0;

    /* the store fails a put */
    e.d.fail_put = 1;
    tc_send(&a, t3.msg);
    EXPECT_MSG(&a, ok_msg(&t3, "false,\"error: "));
    e.d.fail_put = 0;

    /* a connection closes with a put, a query and a count in flight */
    tc_open(&e, &c, NULL);
    t4 = note(&e, &k, NOW_S - 1, "four");
    tc_send(&c, t4.msg);
    tc_send(&c, "[\"REQ\",\"x\",{}]");
    tc_send(&c, "[\"COUNT\",\"y\",{}]");
    CHECK_EQ(e.d.nops, 3);
    tc_close(&c);
    env_settle(&e);
    CHECK_EQ(e.d.nops, 0);
    EXPECT_MSG(&b, ev_msg("s", &t4)); /* stored and delivered all the same */
    tc_send(&a, "[\"COUNT\",\"n\",{}]");
    EXPECT_NONE(&a);
    d_release(&e.d);
    EXPECT_MSG(&a, "[\"COUNT\",\"n\",{\"count\":3}]");

    /* pending answers when the relay is freed are dropped with it */
    tc_send(&a, "[\"REQ\",\"late\",{}]");
    CHECK_EQ(e.d.nops, 1);
    env_free(&e);
}

/* ---- fan-out to many subscribers ---- */

static void test_fanout(void)
{
    tenv e;
    static tclient subs[40];
    tclient pub;
    nostr_keys k;
    tev t;
    int i;
    nostr_relay_stats st;
    env_init(&e);
    env_start(&e);
    keys(&e, &k);
    tc_open(&e, &pub, NULL);
    for (i = 0; i < 40; i++) {
        char req[80];
        tc_open(&e, &subs[i], "10.1.1.1");
        snprintf(req, sizeof req, "[\"REQ\",\"sub-%d\",{\"kinds\":[%d]}]", i, i % 2 ? 1 : 2);
        tc_send(&subs[i], req);
        EXPECT_MSG(&subs[i], "[\"EOSE\",");
    }
    t = note(&e, &k, NOW_S, "to the odd ones");
    publish(&e, &pub, &t);
    for (i = 0; i < 40; i++) {
        if (i % 2) {
            char sub[16];
            snprintf(sub, sizeof sub, "sub-%d", i);
            EXPECT_MSG(&subs[i], ev_msg(sub, &t));
        }
        EXPECT_NONE(&subs[i]);
    }
    nostr_relay_stats_get(e.r, &st);
    CHECK_EQ(st.events_delivered, 20);
    /* broadcast without a client */
    {
        tev u = mk(&e, &k, 2, NOW_S, "broadcast", NULL, 0, 0);
        nostr_event ev;
        nostr_arena ar;
        nostr_arena_init(&ar, NULL, 0, NULL);
        CHECK(nostr_event_parse(&ev, u.json, strlen(u.json), &ar, NULL, NULL) == NOSTR_OK);
        nostr_relay_broadcast(e.r, &ev, u.json, strlen(u.json));
        nostr_arena_free(&ar);
        EXPECT_MSG(&subs[0], ev_msg("sub-0", &u));
    }
    env_free(&e);
}

/* ---- metrics after activity, latency histogram ---- */

static void test_metrics(void)
{
    tenv e;
    tclient a;
    nostr_keys k;
    nostr_buf m;
    nostr_relay_stats st;
    tev t;
    env_init(&e);
    e.cb.now_us = env_now_us;
    env_start(&e);
    keys(&e, &k);
    tc_open(&e, &a, NULL);
    t = note(&e, &k, NOW_S, "m");
    publish(&e, &a, &t);
    tc_send(&a, "[\"REQ\",\"a\",{}]");
    tc_send(&a, "[\"REQ\",\"b\",{}]");
    tc_send(&a, "[\"COUNT\",\"c\",{}]");
    tc_send(&a, "nonsense");
    nostr_relay_stats_get(e.r, &st);
    CHECK_EQ(st.reqs, 2);
    CHECK_EQ(st.counts, 1);
    CHECK_EQ(st.query_latency[2], 2); /* 0.3 ms: the 0.25 < x <= 0.5 ms bucket */
    CHECK(st.query_latency_sum_s > 0.00059 && st.query_latency_sum_s < 0.00061);
    CHECK(st.bytes_in > 0 && st.bytes_out > 0);
    nostr_buf_init(&m, NULL);
    CHECK(nostr_relay_write_metrics(e.r, &m) == NOSTR_OK);
    CHECK(strstr(m.data, "nostr_relay_query_latency_seconds_bucket{le=\"0.00025\"} 0\n") != NULL);
    CHECK(strstr(m.data, "nostr_relay_query_latency_seconds_bucket{le=\"0.0005\"} 2\n") != NULL);
    CHECK(strstr(m.data, "nostr_relay_query_latency_seconds_bucket{le=\"+Inf\"} 2\n") != NULL);
    CHECK(strstr(m.data, "nostr_relay_query_latency_seconds_count 2\n") != NULL);
    CHECK(strstr(m.data, "nostr_relay_events_stored_total 1\n") != NULL);
    CHECK(strstr(m.data, "nostr_relay_subscriptions 2\n") != NULL);
    CHECK(strstr(m.data, "nostr_relay_websockets 1\n") != NULL);
    nostr_buf_free(&m);
    env_free(&e);
}

/* ---- memory per idle connection ---- */

static void test_idle_memory(void)
{
    tenv e;
    static tclient cs[100];
    long long before, after;
    int i;
    env_init(&e);
    env_start(&e);
    before = e.mem.bytes;
    for (i = 0; i < 100; i++) {
        tc_open(&e, &cs[i], "10.2.2.2");
        tc_send(&cs[i], "[\"REQ\",\"feed\",{\"kinds\":[1],\"limit\":10}]");
        EXPECT_MSG(&cs[i], "[\"EOSE\",\"feed\"]");
    }
    after = e.mem.bytes;
    printf("memory per idle WebSocket connection with one subscription: %lld bytes\n", (after - before) / 100);
    CHECK((after - before) / 100 < 16384);
    e.nclients = 0;
    for (i = 0; i < 100; i++) {
        tc_close(&cs[i]);
        tc_free(&cs[i]);
    }
    env_free(&e);
}

int main(void)
{
    TEST_RUN(test_http);
    TEST_RUN(test_upgrade_errors);
    TEST_RUN(test_event_req_live);
    TEST_RUN(test_ok_after_commit);
    TEST_RUN(test_replace_sub);
    TEST_RUN(test_count);
    TEST_RUN(test_search);
    TEST_RUN(test_rejections);
    TEST_RUN(test_allow_lists_pow);
    TEST_RUN(test_read_only);
    TEST_RUN(test_rate_limits);
    TEST_RUN(test_conns_per_ip);
    TEST_RUN(test_bad_input);
    TEST_RUN(test_sub_limits);
    TEST_RUN(test_limit_caps);
    TEST_RUN(test_auth);
    TEST_RUN(test_protected);
    TEST_RUN(test_deletion_replaceable);
    TEST_RUN(test_ephemeral);
    TEST_RUN(test_slow_reader);
    TEST_RUN(test_slow_reader_frames);
    TEST_RUN(test_idle_ping);
    TEST_RUN(test_shutdown);
    TEST_RUN(test_client_close);
    TEST_RUN(test_bytewise);
    TEST_RUN(test_verify_async);
    TEST_RUN(test_store_async);
    TEST_RUN(test_fanout);
    TEST_RUN(test_metrics);
    TEST_RUN(test_idle_memory);
    return TEST_DONE();
}
