/* nostr_gateway as a state machine, with no sockets: each upstream is a
 * real nostr_relay (built-in store in memory) in this process, bytes
 * pumped between the gateway's client and the relay's connection. The
 * sink is a recording array that can say busy. */
#define _GNU_SOURCE
#include "test.h"
#include "nostr_gateway.h"

#define NOW_S 1760000000LL
#define MAXUP 4
#define MAXITEMS 200

typedef struct sim {
    nostr_relay *r;
    nostr_store_builtin *sb;
    nostr_store store;
    nostr_relay_conn *rc;
    nostr_gateway_upstream *up;
    int port, want_connect;
} sim;

typedef struct item {
    int relay_id;
    unsigned char id[32];
    int has_json;
    char json[1024];
} item;

typedef struct env {
    nostr_ctx *ctx;
    nostr_gateway *gw;
    sim sims[MAXUP];
    int nsims;
    long long now_ms;
    item items[MAXITEMS];
    int nitems;
    int busy_after; /* submit answers busy once nitems reaches it (-1: never) */
    long long since_seen[16];
    nostr_gateway_verify_job *held[64];
    int nheld, hold_verify;
    nostr_keys k;
} env;

/* ---- upstream relays ---- */

static void r_wake(void *user, void *conn_user)
{
    (void)user;
    (void)conn_user;
}

static void sim_start(env *e, sim *s, int port, size_t max_limit)
{
    nostr_store_builtin_config sc;
    nostr_relay_config rc;
    nostr_relay_callbacks cb;
    nostr_error err;
    memset(s, 0, sizeof *s);
    memset(&sc, 0, sizeof sc);
    CHECK(nostr_store_builtin_open(&s->sb, &sc, &err) == NOSTR_OK);
    s->store = nostr_store_builtin_iface(s->sb);
    memset(&rc, 0, sizeof rc);
    rc.ctx = e->ctx;
    rc.limits.max_limit = max_limit;
    rc.limits.default_limit = max_limit;
    memset(&cb, 0, sizeof cb);
    cb.user = s;
    cb.wake = r_wake;
    s->r = nostr_relay_new(&rc, &cb, &s->store);
    CHECK(s->r != NULL);
    nostr_relay_tick(s->r, NOW_S * 1000);
    s->port = port;
}

static void sim_stop(sim *s)
{
    if (s->rc) nostr_relay_closed(s->r, s->rc);
    s->rc = NULL;
    nostr_relay_free(s->r);
    nostr_store_builtin_close(s->sb);
}

static void put_done(void *user, int result, const char *msg)
{
    (void)msg;
    *(int *)user = result;
}

/* Straight into the upstream's store (no signature check: a relay that
 * serves a forged event is what the gateway must survive). */
static void sim_put(sim *s, const char *json)
{
    nostr_event ev;
    nostr_arena a;
    int res = -999;
    nostr_arena_init(&a, NULL, 0, NULL);
    CHECK(nostr_event_parse(&ev, json, strlen(json), &a, NULL, NULL) == NOSTR_OK);
    CHECK(s->store.put(s->store.self, &ev, json, strlen(json), put_done, &res) == NOSTR_OK);
    CHECK(nostr_store_builtin_commit(s->sb) == NOSTR_OK);
    CHECK(res == NOSTR_STORE_SAVED);
    nostr_arena_free(&a);
}

/* forge: 1 breaks the signature, 2 the id (content changed after signing) */
static char *make_event(env *e, long long ts, const char *content, int forge)
{
    nostr_event ev;
    nostr_arena a;
    nostr_buf b;
    char *out;
    nostr_arena_init(&a, NULL, 0, NULL);
    nostr_buf_init(&b, NULL);
    nostr_event_init(&ev, &a, 1, ts, content, strlen(content));
    CHECK(nostr_event_sign(e->ctx, &ev, &e->k) == NOSTR_OK);
    if (forge == 1) ev.sig[5] ^= 1;
    if (forge == 2) ev.content.ptr = "tampered", ev.content.len = 8;
    nostr_event_to_json(&ev, &b);
    out = strdup(b.data);
    nostr_buf_free(&b);
    nostr_arena_free(&a);
    return out;
}

/* ---- gateway callbacks ---- */

static sim *sim_by_up(env *e, nostr_gateway_upstream *up)
{
    (void)e;
    return (sim *)nostr_gateway_upstream_app(up);
}

static int g_connect(void *user, nostr_gateway_upstream *up, const char *host, int port)
{
    env *e = (env *)user;
    int i;
    CHECK_STR(host, "127.0.0.1");
    for (i = 0; i < e->nsims; i++)
        if (e->sims[i].port == port) {
            sim *s = &e->sims[i];
            nostr_gateway_upstream_set_app(up, s);
            s->up = up;
            s->rc = nostr_relay_accept(s->r, "127.0.0.1", s);
            s->want_connect = 1;
            return s->rc ? 0 : -1;
        }
    return -1;
}

static int g_send(void *user, nostr_gateway_upstream *up, const void *data, size_t n)
{
    sim *s = sim_by_up((env *)user, up);
    if (!s || !s->rc) return -1;
    (void)nostr_relay_feed(s->r, s->rc, data, n);
    return 0;
}

static void g_close(void *user, nostr_gateway_upstream *up)
{
    sim *s = sim_by_up((env *)user, up);
    if (s && s->rc) {
        nostr_relay_closed(s->r, s->rc);
        s->rc = NULL;
    }
}

static int g_submit(void *user, const nostr_gateway_item *it)
{
    env *e = (env *)user;
    item *x;
    if (e->busy_after >= 0 && e->nitems >= e->busy_after) return NOSTR_ERR_BUSY;
    if (e->nitems == MAXITEMS) return NOSTR_ERR_NOMEM;
    x = &e->items[e->nitems++];
    x->relay_id = it->relay_id;
    memcpy(x->id, it->id, 32);
    x->has_json = it->json != NULL;
    if (it->json) {
        CHECK(it->len < sizeof x->json);
        memcpy(x->json, it->json, it->len);
        x->json[it->len] = 0;
    }
    return NOSTR_OK;
}

static int g_verify(void *user, nostr_gateway_verify_job *job)
{
    env *e = (env *)user;
    if (!e->hold_verify || e->nheld == 64) return -1;
    e->held[e->nheld++] = job;
    return 0;
}

static void g_since(void *user, int id, long long since)
{
    env *e = (env *)user;
    if (id >= 0 && id < 16) e->since_seen[id] = since;
}

static long long g_time(void *user)
{
    return ((env *)user)->now_ms / 1000;
}

/* Move bytes both ways until nothing moves. */
static void pump(env *e)
{
    int moved = 1, guard = 0;
    while (moved && guard++ < 10000) {
        int i;
        moved = 0;
        for (i = 0; i < e->nsims; i++) {
            sim *s = &e->sims[i];
            const void *p;
            size_t n;
            if (s->want_connect) {
                s->want_connect = 0;
                nostr_gateway_connected(e->gw, s->up, e->now_ms);
                moved = 1;
            }
            if (!s->rc) continue;
            n = nostr_relay_output(s->rc, &p);
            if (n) {
                nostr_buf copy;
                nostr_buf_init(&copy, NULL);
                nostr_buf_append(&copy, p, n);
                nostr_relay_consume(s->r, s->rc, n);
                nostr_gateway_feed(e->gw, s->up, copy.data, copy.len, e->now_ms);
                nostr_buf_free(&copy);
                moved = 1;
            }
        }
    }
}

static void env_init(env *e, int nsims, size_t max_limit)
{
    nostr_gateway_config gc;
    nostr_gateway_callbacks cb;
    int i;
    memset(e, 0, sizeof *e);
    e->ctx = nostr_ctx_new(NULL);
    CHECK(e->ctx != NULL);
    CHECK(nostr_keys_generate(e->ctx, &e->k) == NOSTR_OK);
    e->now_ms = NOW_S * 1000;
    e->busy_after = -1;
    for (i = 0; i < nsims; i++) sim_start(e, &e->sims[i], 7000 + i, max_limit);
    e->nsims = nsims;
    memset(&gc, 0, sizeof gc);
    gc.ctx = e->ctx;
    gc.token = "tok";
    gc.dedup_ids = 4096;
    gc.since_window_s = 60;
    memset(&cb, 0, sizeof cb);
    cb.user = e;
    cb.connect = g_connect;
    cb.send = g_send;
    cb.close = g_close;
    cb.submit = g_submit;
    cb.verify = g_verify;
    cb.since_changed = g_since;
    cb.unix_time = g_time;
    e->gw = nostr_gateway_new(&gc, &cb);
    CHECK(e->gw != NULL);
}

static void env_free(env *e)
{
    int i;
    nostr_gateway_free(e->gw);
    for (i = 0; i < e->nsims; i++) sim_stop(&e->sims[i]);
    nostr_ctx_free(e->ctx);
}

static void add_up(env *e, int i, const char *filters)
{
    char url[64];
    nostr_error err;
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", e->sims[i].port);
    CHECK(nostr_gateway_add(e->gw, i + 1, url, filters, 0, NOW_S, NULL, &err) == NOSTR_OK);
}

static void run(env *e)
{
    int i;
    for (i = 0; i < 5; i++) {
        nostr_gateway_tick(e->gw, e->now_ms);
        pump(e);
        e->now_ms += 100;
    }
}

static int count_items(env *e, const unsigned char id[32], int relay_id, int with_json)
{
    int i, n = 0;
    for (i = 0; i < e->nitems; i++)
        if (!memcmp(e->items[i].id, id, 32) && (relay_id < 0 || e->items[i].relay_id == relay_id) &&
            (with_json < 0 || e->items[i].has_json == with_json))
            n++;
    return n;
}

static void id_of(const char *json, unsigned char id[32])
{
    const char *p = strstr(json, "\"id\":\"");
    CHECK(p != NULL);
    CHECK(nostr_hex_decode(p + 6, 64, id, 32) == NOSTR_OK);
}

/* ---- tests ---- */

/* The same events on two upstreams, a forged one on the first: each valid
 * event goes to the sink once with its JSON, every other sighting as a
 * provenance record; the forged one is counted and dropped. */
static void test_dedup_and_provenance(void)
{
    env e;
    char *ev[6], *forged;
    unsigned char id[32];
    int i;
    nostr_gateway_upstream_stats st;
    env_init(&e, 2, 500);
    for (i = 0; i < 6; i++) {
        char c[16];
        snprintf(c, sizeof c, "note %d", i);
        ev[i] = make_event(&e, NOW_S - 100 + i, c, 0);
        if (i != 5) sim_put(&e.sims[0], ev[i]); /* 0..4 on the first */
        if (i >= 3) sim_put(&e.sims[1], ev[i]); /* 3..5 on the second */
    }
    forged = make_event(&e, NOW_S - 50, "forged", 1);
    sim_put(&e.sims[0], forged);
    {
        char *wrong_id = make_event(&e, NOW_S - 40, "original", 2);
        sim_put(&e.sims[0], wrong_id);
        free(wrong_id);
    }
    add_up(&e, 0, NULL);
    add_up(&e, 1, NULL);
    run(&e);
    for (i = 0; i < 6; i++) {
        id_of(ev[i], id);
        CHECK_EQ(count_items(&e, id, -1, 1), 1);
        CHECK_EQ(count_items(&e, id, 1, -1), i != 5 ? 1 : 0);
        CHECK_EQ(count_items(&e, id, 2, -1), i >= 3 ? 1 : 0);
    }
    id_of(forged, id);
    CHECK_EQ(count_items(&e, id, -1, -1), 0);
    nostr_gateway_upstream_stats_get(nostr_gateway_find(e.gw, 1), &st);
    CHECK(st.received >= 7); /* the backfill's last page repeats its boundary */
    CHECK_EQ(st.invalid, 2);
    CHECK_EQ(st.state, NOSTR_CLIENT_OPEN);
    CHECK_EQ(nostr_gateway_upstream_state(nostr_gateway_find(e.gw, 1)), st.state);
    CHECK(strstr(st.last_error, "invalid") != NULL);
    CHECK(st.median_size > 200 && st.median_size < 400);
    CHECK(st.avg_size > 200);
    {
        /* added before the first tick: its events still count in the per-minute chart */
        unsigned long long sum = 0;
        nostr_gateway_tick(e.gw, e.now_ms + 6000);
        nostr_gateway_upstream_stats_get(nostr_gateway_find(e.gw, 1), &st);
        for (i = 0; i < NOSTR_GATEWAY_MINUTES; i++) sum += st.minutes[i];
        CHECK_EQ(sum, st.received);
    }
    nostr_gateway_upstream_stats_get(nostr_gateway_find(e.gw, 2), &st);
    CHECK(st.received >= 3);
    CHECK_EQ(st.invalid, 0);
    for (i = 0; i < 6; i++) free(ev[i]);
    free(forged);
    env_free(&e);
}

/* A forged copy must not block a good one: the id is forgotten when its
 * signature fails. While a first copy is being verified, a second
 * sighting waits and becomes a provenance record once it is valid. */
static void test_pending_and_forged_copies(void)
{
    env e;
    char *good, *bad;
    unsigned char id[32];
    int i;
    env_init(&e, 2, 500);
    good = make_event(&e, NOW_S - 10, "same id twice", 0);
    bad = strdup(good);
    {
        char *sig = strstr(bad, "\"sig\":\"");
        CHECK(sig != NULL);
        sig[7] = sig[7] == 'a' ? 'b' : 'a'; /* same id, broken signature */
    }
    sim_put(&e.sims[0], bad);
    sim_put(&e.sims[1], good);
    e.hold_verify = 1;
    add_up(&e, 0, NULL);
    run(&e);
    CHECK_EQ(e.nheld, 1);
    add_up(&e, 1, NULL);
    run(&e);
    /* the good copy arrived while the forged one was pending: it waits */
    id_of(good, id);
    CHECK_EQ(count_items(&e, id, -1, -1), 0);
    for (i = 0; i < e.nheld; i++) {
        e.held[i]->result = nostr_event_verify(e.ctx, e.held[i]->event);
        nostr_gateway_verify_done(e.gw, e.held[i]);
    }
    e.nheld = 0;
    /* forged: forgotten, so the second relay's copy (a waiter, not verified)
     * is not taken on trust; a fresh sighting is verified and stored */
    CHECK_EQ(count_items(&e, id, -1, 1), 0);
    e.hold_verify = 0;
    nostr_gateway_remove(e.gw, 2);
    add_up(&e, 1, NULL);
    run(&e);
    CHECK_EQ(count_items(&e, id, 2, 1), 1);
    free(good);
    free(bad);
    env_free(&e);
}

/* A valid first copy pending verification: the second relay's sighting
 * becomes a provenance record when it is done. */
static void test_waiter_becomes_provenance(void)
{
    env e;
    char *good;
    unsigned char id[32];
    env_init(&e, 2, 500);
    good = make_event(&e, NOW_S - 10, "slow verify", 0);
    sim_put(&e.sims[0], good);
    sim_put(&e.sims[1], good);
    e.hold_verify = 1;
    add_up(&e, 0, NULL);
    add_up(&e, 1, NULL);
    run(&e);
    CHECK_EQ(e.nheld, 1);
    id_of(good, id);
    CHECK_EQ(count_items(&e, id, -1, -1), 0);
    e.held[0]->result = nostr_event_verify(e.ctx, e.held[0]->event);
    nostr_gateway_verify_done(e.gw, e.held[0]);
    CHECK_EQ(count_items(&e, id, -1, 1), 1);
    CHECK_EQ(count_items(&e, id, -1, 0), 1);
    CHECK_EQ(count_items(&e, id, 1, -1) + count_items(&e, id, 2, -1), 2);
    free(good);
    env_free(&e);
}

/* An upstream whose relay caps answers at 10 events: the gateway pages
 * back (until = oldest seen) until nothing new comes, and gets all 35. */
static void test_backfill_pages(void)
{
    env e;
    char *ev[35];
    unsigned char id[32];
    int i, all = 1;
    env_init(&e, 1, 10);
    for (i = 0; i < 35; i++) {
        char c[16];
        snprintf(c, sizeof c, "page %d", i);
        ev[i] = make_event(&e, NOW_S - 1000 + i * 7, c, 0);
        sim_put(&e.sims[0], ev[i]);
    }
    add_up(&e, 0, NULL);
    run(&e);
    for (i = 0; i < 35; i++) {
        id_of(ev[i], id);
        all &= count_items(&e, id, 1, 1) == 1;
        free(ev[i]);
    }
    CHECK(all);
    CHECK_EQ(e.nitems, 35);
    env_free(&e);
}

/* The watermark moves to the newest event only once everything handed
 * over is stored, and a reconnect asks from it minus the window. */
static void test_watermark(void)
{
    env e;
    char *ev[3];
    int i;
    nostr_gateway_upstream_stats st;
    env_init(&e, 1, 500);
    for (i = 0; i < 3; i++) {
        ev[i] = make_event(&e, NOW_S - 300 + i * 100, "w", 0);
        sim_put(&e.sims[0], ev[i]);
    }
    add_up(&e, 0, NULL);
    run(&e);
    CHECK_EQ(e.nitems, 3);
    e.now_ms += 6000;
    nostr_gateway_tick(e.gw, e.now_ms);
    CHECK_EQ(e.since_seen[1], 0); /* nothing stored yet */
    nostr_gateway_stored(e.gw, 1, e.items[0].id);
    nostr_gateway_stored(e.gw, 1, e.items[1].id);
    CHECK_EQ(e.since_seen[1], 0);
    nostr_gateway_stored(e.gw, 1, e.items[2].id);
    CHECK_EQ(e.since_seen[1], NOW_S - 100);
    nostr_gateway_upstream_stats_get(nostr_gateway_find(e.gw, 1), &st);
    CHECK_EQ(st.since, NOW_S - 100);
    CHECK_EQ(st.stored, 3);
    for (i = 0; i < 3; i++) free(ev[i]);
    env_free(&e);
}

/* The sink says busy: items wait in order, the gateway reports paused,
 * and sink_ready hands them over; nothing is lost or repeated. */
static void test_backpressure(void)
{
    env e;
    char *ev[20];
    unsigned char id[32];
    int i, all = 1;
    nostr_gateway_stats gs;
    env_init(&e, 1, 500);
    for (i = 0; i < 20; i++) {
        ev[i] = make_event(&e, NOW_S - 500 + i, "bp", 0);
        sim_put(&e.sims[0], ev[i]);
    }
    e.busy_after = 5;
    add_up(&e, 0, NULL);
    run(&e);
    CHECK_EQ(e.nitems, 5);
    CHECK(nostr_gateway_paused(e.gw));
    nostr_gateway_stats_get(e.gw, &gs);
    CHECK_EQ(gs.backlog, 15);
    e.busy_after = 12;
    nostr_gateway_sink_ready(e.gw);
    CHECK_EQ(e.nitems, 12);
    CHECK(nostr_gateway_paused(e.gw));
    e.busy_after = -1;
    nostr_gateway_sink_ready(e.gw);
    CHECK(!nostr_gateway_paused(e.gw));
    CHECK_EQ(e.nitems, 20);
    for (i = 0; i < 20; i++) {
        id_of(ev[i], id);
        all &= count_items(&e, id, 1, 1) == 1;
        free(ev[i]);
    }
    CHECK(all);
    env_free(&e);
}

/* ---- REST ---- */

static int http(env *e, const char *raw, nostr_buf *resp, int *status)
{
    nostr_http_parser p;
    int rc;
    nostr_http_parser_init(&p, NOSTR_HTTP_REQUEST, NULL);
    CHECK(nostr_http_feed(&p, raw, strlen(raw), NULL) == NOSTR_HTTP_DONE);
    nostr_buf_clear(resp);
    rc = nostr_gateway_http(e->gw, &p.msg, resp);
    nostr_http_parser_free(&p);
    *status = 0;
    if (rc == 1 && resp->len > 12) *status = atoi((const char *)resp->data + 9);
    return rc;
}

static char *post(const char *path, const char *auth, const char *body)
{
    static char req[2048];
    snprintf(req, sizeof req, "POST %s HTTP/1.1\r\nHost: x\r\n%s%s%sContent-Length: %zu\r\n\r\n%s", path,
             auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "", strlen(body), body);
    return req;
}

static void test_rest(void)
{
    env e;
    nostr_buf r;
    int st;
    env_init(&e, 2, 500);
    nostr_buf_init(&r, NULL);
    CHECK(http(&e, "GET /api/relays HTTP/1.1\r\nHost: x\r\n\r\n", &r, &st) == 1);
    CHECK_EQ(st, 200);
    CHECK(strstr((const char *)r.data, "\r\n\r\n[]") != NULL);
    http(&e, post("/api/relays", NULL, "{\"url\":\"ws://127.0.0.1:7000/\"}"), &r, &st);
    CHECK_EQ(st, 401);
    http(&e, post("/api/relays", "Bearer nope", "{\"url\":\"ws://127.0.0.1:7000/\"}"), &r, &st);
    CHECK_EQ(st, 401);
    http(&e, post("/api/relays", "Bearer tok", "{\"url\":\"ftp://x/\"}"), &r, &st);
    CHECK_EQ(st, 400);
    CHECK(strstr((const char *)r.data, "{\"error\":") != NULL);
    http(&e, post("/api/relays", "Bearer tok", "{\"url\":\"ws://127.0.0.1:7000/\",\"filters\":[{\"kinds\":\"x\"}]}"), &r,
         &st);
    CHECK_EQ(st, 400);
    http(&e, post("/api/relays", "Bearer tok", "{\"url\":"), &r, &st);
    CHECK_EQ(st, 400);
    http(&e, post("/api/relays", "Bearer tok", "{\"url\":\"ws://127.0.0.1:7000/\",\"colour\":1}"), &r, &st);
    CHECK_EQ(st, 400);
    http(&e, post("/api/relays", "Bearer tok", "{\"url\":\"ws://127.0.0.1:7000/\",\"filters\":[{\"kinds\":[1]}]}"), &r,
         &st);
    CHECK_EQ(st, 201);
    CHECK(strstr((const char *)r.data, "\"filters\":[{\"kinds\":[1]}]") != NULL);
    http(&e, post("/api/relays", "Bearer tok", "{\"url\":\"ws://127.0.0.1:7000/\"}"), &r, &st);
    CHECK_EQ(st, 409);
    CHECK_EQ(nostr_gateway_count(e.gw), 1);
    http(&e, "DELETE /api/relays/1 HTTP/1.1\r\nHost: x\r\n\r\n", &r, &st);
    CHECK_EQ(st, 401);
    http(&e, "DELETE /api/relays/9 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n", &r, &st);
    CHECK_EQ(st, 404);
    http(&e, "DELETE /api/relays/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n", &r, &st);
    CHECK_EQ(st, 400);
    http(&e, "DELETE /api/relays/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n", &r, &st);
    CHECK_EQ(st, 200);
    CHECK_EQ(nostr_gateway_count(e.gw), 0);
    http(&e, "GET /api/stats HTTP/1.1\r\nHost: x\r\n\r\n", &r, &st);
    CHECK_EQ(st, 200);
    http(&e, "GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n", &r, &st);
    CHECK_EQ(st, 503); /* no reads configured */
    http(&e, "GET /api/nothing HTTP/1.1\r\nHost: x\r\n\r\n", &r, &st);
    CHECK_EQ(st, 404);
    CHECK(http(&e, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r, &st) == 0);
    add_up(&e, 0, NULL);
    run(&e);
    http(&e, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r, &st);
    CHECK_EQ(st, 200);
    CHECK(strstr((const char *)r.data, "nostr_gateway_upstream_up{relay=\"ws://127.0.0.1:7000/\"} 1") != NULL);
    nostr_buf_free(&r);
    env_free(&e);
}

int main(void)
{
    TEST_RUN(test_dedup_and_provenance);
    TEST_RUN(test_pending_and_forged_copies);
    TEST_RUN(test_waiter_becomes_provenance);
    TEST_RUN(test_backfill_pages);
    TEST_RUN(test_watermark);
    TEST_RUN(test_backpressure);
    TEST_RUN(test_rest);
    return TEST_DONE();
}
