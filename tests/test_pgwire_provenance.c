/* The pgwire store's gateway tables against a real PostgreSQL, started by
 * tests/pg_harness.h in a temp dir (never a mock; missing binaries fail).
 * Covers: nostr_pgwire_gateway_schema is idempotent; provenance records
 * are written in the same transaction as the puts of the commit, for
 * every id queued (stored or not: with a queue per upstream a sighting
 * can come before its event), the first
 * sighting per (event, relay) wins (also inside one batch), another relay
 * adds a row; a commit with only records writes them; a failed commit
 * drops them and says so; seen_on returns exactly the recorded rows; the
 * upstream list saves, loads by id, updates url/filters only, refuses a
 * url of another id with NOSTR_ERR_BUSY and deletes (provenance stays);
 * relay_since only moves forward; recent_ids is newest first, ties by id,
 * bounded by since and max, and pages without gaps or repeats; after the
 * server ends the session (pg_terminate_backend) every call reconnects
 * and works. */
#define _GNU_SOURCE
#include "pg_harness.h"
#include "test.h"
#include "nostr_relay.h"

#ifndef NOSTR_WITH_PGWIRE
#error "test_pgwire_provenance needs the build's NOSTR_WITH_PGWIRE"
#endif

static pg_harness pg;
static nostr_ctx *ctx;
static nostr_arena arena;
static int db_seq;
static char logged[8192];

static void test_log(void *user, int level, const char *msg)
{
    size_t n = strlen(logged), m = strlen(msg);
    (void)user;
    (void)level;
    if (n + m + 2 < sizeof logged) {
        memcpy(logged + n, msg, m);
        logged[n + m] = '\n';
        logged[n + m + 1] = 0;
    }
}

/* A fresh database with the store's and the gateway's schema; its
 * conninfo in ci. */
static nostr_pgwire *fresh_store(char *ci, size_t cilen)
{
    char sql[64], name[32], err[512];
    nostr_pgwire_config cfg;
    nostr_pgwire *s = NULL;
    nostr_error e;
    snprintf(name, sizeof name, "p%d", ++db_seq);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    if (pg_harness_exec(&pg, sql, err, sizeof err) != 0) fprintf(stderr, "%s\n", err);
    pg_harness_conninfo_db(&pg, name, ci, cilen);
    memset(&cfg, 0, sizeof cfg);
    cfg.conninfo = ci;
    cfg.create_schema = 1;
    cfg.log = test_log;
    if (nostr_pgwire_open(&s, &cfg, &e) != NOSTR_OK) {
        fprintf(stderr, "open: %s\n%s", e.msg ? e.msg : "?", logged);
        return NULL;
    }
    if (nostr_pgwire_gateway_schema(s) != NOSTR_OK) {
        fprintf(stderr, "gateway schema: %s\n", nostr_pgwire_last_error(s));
        nostr_pgwire_close(s);
        return NULL;
    }
    return s;
}

/* One SQL answer as a number (test-side checks of the database itself). */
static long long sql_number(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    PGresult *r = PQexec(c, sql);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = atoll(PQgetvalue(r, 0, 0));
    else if (PQresultStatus(r) == PGRES_COMMAND_OK)
        v = 0;
    else
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    return v;
}

/* End the store's session from the server side, and wait until it is gone. */
static long long kill_sessions(const char *ci)
{
    /* OFFSET 0: the pids are chosen before any is ended (never this session's own) */
    return sql_number(ci, "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM (SELECT pid "
                          "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                          "OFFSET 0) a");
}

/* ---- events ---- */

typedef struct made {
    nostr_event ev;
    char *json;
    size_t len;
} made;

static made make(int who, unsigned kind, long long at, const char *content)
{
    made m;
    unsigned char sec[32];
    nostr_keys k;
    nostr_buf b;
    memset(sec, 0x11 * (who + 1), sizeof sec);
    if (nostr_keys_from_secret(ctx, sec, &k) != NOSTR_OK) abort();
    if (nostr_event_init(&m.ev, &arena, kind, at, content, strlen(content)) != NOSTR_OK) abort();
    if (nostr_event_sign(ctx, &m.ev, &k) != NOSTR_OK) abort();
    nostr_buf_init(&b, NULL);
    nostr_event_to_json(&m.ev, &b);
    m.json = nostr_arena_strdup(&arena, b.data, b.len);
    m.len = b.len;
    nostr_buf_free(&b);
    nostr_keys_wipe(&k);
    return m;
}

static void on_put(void *user, int result, const char *msg)
{
    (void)msg;
    *(int *)user = result;
}

static int put(nostr_pgwire *s, const made *m, int *result)
{
    nostr_store st = nostr_pgwire_iface(s);
    *result = 1000; /* not completed */
    return st.put(st.self, &m->ev, m->json, m->len, on_put, result);
}

/* ---- collected rows ---- */

typedef struct prov {
    unsigned char id[32];
    int relay;
    long long first;
} prov;

typedef struct provs {
    prov row[64];
    size_t n;
} provs;

static void on_prov(void *user, const unsigned char id[32], int relay_id, long long first_seen)
{
    provs *p = (provs *)user;
    if (p->n == sizeof p->row / sizeof p->row[0]) return;
    memcpy(p->row[p->n].id, id, 32);
    p->row[p->n].relay = relay_id;
    p->row[p->n++].first = first_seen;
}

/* seen_on for up to 4 events. */
static int seen_on(nostr_pgwire *s, provs *p, const made *a, const made *b, const made *c)
{
    unsigned char ids[3][32];
    size_t n = 0;
    if (a) memcpy(ids[n++], a->ev.id, 32);
    if (b) memcpy(ids[n++], b->ev.id, 32);
    if (c) memcpy(ids[n++], c->ev.id, 32);
    memset(p, 0, sizeof *p);
    return nostr_pgwire_seen_on(s, (const unsigned char(*)[32])ids, n, on_prov, p);
}

/* Is (id, relay, first) row i of p? */
static int prov_is(const provs *p, size_t i, const unsigned char *id, int relay, long long first)
{
    return i < p->n && memcmp(p->row[i].id, id, 32) == 0 && p->row[i].relay == relay && p->row[i].first == first;
}

/* ---- tests ---- */

static void test_schema(void)
{
    char ci[256];
    nostr_pgwire *s = fresh_store(ci, sizeof ci);
    CHECK(s != NULL);
    if (!s) return;
    CHECK_EQ(nostr_pgwire_gateway_schema(s), NOSTR_OK); /* again: nothing to do */
    CHECK_EQ(nostr_pgwire_gateway_schema(s), NOSTR_OK);
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM pg_indexes WHERE tablename = 'event_relays'"), 2);
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM pg_indexes WHERE tablename = 'gateway_relays'"), 2);
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM pg_indexes WHERE indexname = 'event_relays_relay_idx'"), 1);
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM pg_indexes WHERE tablename = 'events'"), 7); /* untouched */
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM event_relays"), 0);
    nostr_pgwire_close(s);
}

static void test_provenance(void)
{
    char ci[256];
    nostr_pgwire *s = fresh_store(ci, sizeof ci);
    made e1 = make(0, 1, 1700000001, "one"), e2 = make(0, 1, 1700000002, "two");
    made never = make(1, 1, 1700000003, "never stored");
    made v_new = make(1, 0, 1700000010, "{\"name\":\"new\"}"), v_old = make(1, 0, 1700000005, "{\"name\":\"old\"}");
    int r1, r2;
    provs p;
    CHECK(s != NULL);
    if (!s) return;

    /* puts and their sightings in one commit */
    CHECK_EQ(put(s, &e1, &r1), NOSTR_OK);
    CHECK_EQ(put(s, &e2, &r2), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_seen(s, e1.ev.id, 1, 100), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_seen(s, e2.ev.id, 1, 101), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_seen(s, e2.ev.id, 2, 102), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_seen(s, never.ev.id, 1, 103), NOSTR_OK); /* not stored (yet): recorded anyway */
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM event_relays"), 0); /* queued, not written */
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    CHECK_EQ(r1, NOSTR_STORE_SAVED);
    CHECK_EQ(r2, NOSTR_STORE_SAVED);
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM event_relays"), 4);
    /* the same transaction as the events */
    CHECK_EQ(sql_number(ci, "SELECT count(DISTINCT x) FROM (SELECT xmin::text AS x FROM events "
                            "UNION ALL SELECT xmin::text FROM event_relays) u"),
             1);
    CHECK_EQ(seen_on(s, &p, &never, NULL, NULL), NOSTR_OK);
    CHECK_EQ(p.n, 1);
    CHECK(prov_is(&p, 0, never.ev.id, 1, 103));
    CHECK_EQ(seen_on(s, &p, &e1, &e2, NULL), NOSTR_OK);
    CHECK_EQ(p.n, 3);
    {
        /* by event id, then first_seen */
        const made *lo = memcmp(e1.ev.id, e2.ev.id, 32) < 0 ? &e1 : &e2;
        size_t i = lo == &e1 ? 0 : 2, j = lo == &e1 ? 1 : 0;
        CHECK(prov_is(&p, i, e1.ev.id, 1, 100));
        CHECK(prov_is(&p, j, e2.ev.id, 1, 101));
        CHECK(prov_is(&p, j + 1, e2.ev.id, 2, 102));
    }

    /* redelivered: by another relay a new row; by the same relay the first sighting stays */
    CHECK_EQ(put(s, &e1, &r1), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_seen(s, e1.ev.id, 3, 200), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_seen(s, e1.ev.id, 1, 50), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    CHECK_EQ(r1, NOSTR_STORE_DUPLICATE);
    CHECK_EQ(seen_on(s, &p, &e1, NULL, NULL), NOSTR_OK);
    CHECK_EQ(p.n, 2);
    CHECK(prov_is(&p, 0, e1.ev.id, 1, 100));
    CHECK(prov_is(&p, 1, e1.ev.id, 3, 200));

    /* a commit with only records; a pair twice in one batch: the earliest */
    CHECK_EQ(nostr_pgwire_seen(s, e2.ev.id, 4, 305), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_seen(s, e2.ev.id, 4, 301), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_seen(s, e2.ev.id, 4, 309), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    CHECK_EQ(sql_number(ci, "SELECT first_seen FROM event_relays WHERE relay_id = 4"), 301);
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK); /* nothing queued */
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM event_relays"), 6);

    /* a refused put (an older replaceable version): its record is history, kept */
    CHECK_EQ(put(s, &v_new, &r1), NOSTR_OK);
    CHECK_EQ(put(s, &v_old, &r2), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_seen(s, v_new.ev.id, 1, 400), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_seen(s, v_old.ev.id, 1, 401), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    CHECK_EQ(r1, NOSTR_STORE_SAVED);
    CHECK_EQ(r2, NOSTR_STORE_SUPERSEDED);
    CHECK_EQ(seen_on(s, &p, &v_new, NULL, NULL), NOSTR_OK);
    CHECK_EQ(p.n, 1);
    CHECK(prov_is(&p, 0, v_new.ev.id, 1, 400));
    CHECK_EQ(seen_on(s, &p, &v_old, NULL, NULL), NOSTR_OK);
    CHECK_EQ(p.n, 1);
    CHECK(prov_is(&p, 0, v_old.ev.id, 1, 401));

    /* seen_on writes the queue first, like a query */
    CHECK_EQ(nostr_pgwire_seen(s, e2.ev.id, 5, 500), NOSTR_OK);
    CHECK_EQ(seen_on(s, &p, &e2, NULL, NULL), NOSTR_OK);
    CHECK_EQ(p.n, 4);
    CHECK(prov_is(&p, 3, e2.ev.id, 5, 500));
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    CHECK_EQ(seen_on(s, &p, NULL, NULL, NULL), NOSTR_OK); /* no ids: no rows */
    CHECK_EQ(p.n, 0);

    /* a failed transaction drops the records and commit says so; the next commit is clean */
    CHECK_EQ(sql_number(ci, "ALTER TABLE event_relays RENAME TO event_relays_away"), 0);
    CHECK_EQ(nostr_pgwire_seen(s, e1.ev.id, 6, 600), NOSTR_OK);
    CHECK(nostr_pgwire_commit(s) < 0);
    CHECK(strstr(nostr_pgwire_last_error(s), "event_relays") != NULL);
    CHECK_EQ(sql_number(ci, "ALTER TABLE event_relays_away RENAME TO event_relays"), 0);
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM event_relays WHERE relay_id = 6"), 0);
    CHECK_EQ(nostr_pgwire_seen(s, e1.ev.id, 6, 601), NOSTR_OK); /* redelivered */
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    CHECK_EQ(sql_number(ci, "SELECT first_seen FROM event_relays WHERE relay_id = 6"), 601);

    CHECK_EQ(nostr_pgwire_seen(NULL, e1.ev.id, 1, 1), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_pgwire_seen(s, NULL, 1, 1), NOSTR_ERR_ARG);
    nostr_pgwire_close(s);
}

/* ---- the upstream list ---- */

typedef struct relays {
    int id[8];
    char url[8][128], filters[8][128];
    long long added[8], since[8];
    size_t n;
} relays;

static void on_relay(void *user, const nostr_pgwire_relay_row *r)
{
    relays *l = (relays *)user;
    if (l->n == 8) return;
    l->id[l->n] = r->id;
    snprintf(l->url[l->n], sizeof l->url[0], "%s", r->url);
    snprintf(l->filters[l->n], sizeof l->filters[0], "%s", r->filters);
    l->added[l->n] = r->added_at;
    l->since[l->n++] = r->since_ts;
}

static int load(nostr_pgwire *s, relays *l)
{
    memset(l, 0, sizeof *l);
    return nostr_pgwire_relays_load(s, on_relay, l);
}

static nostr_pgwire_relay_row relay(int id, const char *url, const char *filters, long long added, long long since)
{
    nostr_pgwire_relay_row r;
    r.id = id;
    r.url = url;
    r.filters = filters;
    r.added_at = added;
    r.since_ts = since;
    return r;
}

static void test_relays(void)
{
    static const char *odd = "[{\"kinds\":[1],\"#t\":[\"'; DROP TABLE gateway_relays; --\"]},{\"limit\":5}]";
    char ci[256];
    nostr_pgwire *s = fresh_store(ci, sizeof ci);
    nostr_pgwire_relay_row r;
    relays l;
    CHECK(s != NULL);
    if (!s) return;
    CHECK_EQ(load(s, &l), NOSTR_OK);
    CHECK_EQ(l.n, 0);

    /* saved out of order, loaded by id; filters verbatim, NULL as [{}] */
    r = relay(3, "wss://c.example", "[{\"kinds\":[0,1]}]", 1000, 0);
    CHECK_EQ(nostr_pgwire_relay_save(s, &r), NOSTR_OK);
    r = relay(1, "wss://a.example", odd, 1001, 1699999000);
    CHECK_EQ(nostr_pgwire_relay_save(s, &r), NOSTR_OK);
    r = relay(2, "wss://b.example", NULL, 1002, 5);
    CHECK_EQ(nostr_pgwire_relay_save(s, &r), NOSTR_OK);
    CHECK_EQ(load(s, &l), NOSTR_OK);
    CHECK_EQ(l.n, 3);
    CHECK_EQ(l.id[0], 1);
    CHECK_EQ(l.id[1], 2);
    CHECK_EQ(l.id[2], 3);
    CHECK_STR(l.url[0], "wss://a.example");
    CHECK_STR(l.filters[0], odd);
    CHECK_EQ(l.added[0], 1001);
    CHECK_EQ(l.since[0], 1699999000);
    CHECK_STR(l.filters[1], "[{}]");
    CHECK_STR(l.url[2], "wss://c.example");
    CHECK_STR(l.filters[2], "[{\"kinds\":[0,1]}]");
    CHECK_EQ(l.since[2], 0);

    /* saved again: url and filters change, added_at and since_ts stay */
    r = relay(2, "wss://b2.example", "[{\"kinds\":[7]}]", 9999, 9999);
    CHECK_EQ(nostr_pgwire_relay_save(s, &r), NOSTR_OK);
    CHECK_EQ(load(s, &l), NOSTR_OK);
    CHECK_EQ(l.n, 3);
    CHECK_STR(l.url[1], "wss://b2.example");
    CHECK_STR(l.filters[1], "[{\"kinds\":[7]}]");
    CHECK_EQ(l.added[1], 1002);
    CHECK_EQ(l.since[1], 5);

    /* another id with a url already there: refused, nothing changes, the connection still works */
    r = relay(4, "wss://a.example", NULL, 1003, 0);
    CHECK_EQ(nostr_pgwire_relay_save(s, &r), NOSTR_ERR_BUSY);
    r = relay(3, "wss://a.example", NULL, 1003, 0);
    CHECK_EQ(nostr_pgwire_relay_save(s, &r), NOSTR_ERR_BUSY);
    CHECK(strstr(nostr_pgwire_last_error(s), "duplicate") != NULL);
    CHECK_EQ(load(s, &l), NOSTR_OK);
    CHECK_EQ(l.n, 3);
    CHECK_STR(l.url[2], "wss://c.example");
    r = relay(0, "wss://zero.example", NULL, 0, 0);
    CHECK_EQ(nostr_pgwire_relay_save(s, &r), NOSTR_ERR_ARG);
    r = relay(5, NULL, NULL, 0, 0);
    CHECK_EQ(nostr_pgwire_relay_save(s, &r), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_pgwire_relay_save(s, NULL), NOSTR_ERR_ARG);

    /* the watermark only moves forward */
    CHECK_EQ(nostr_pgwire_relay_since(s, 3, 1700000500), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_relay_since(s, 3, 1700000400), NOSTR_OK);
    CHECK_EQ(sql_number(ci, "SELECT since_ts FROM gateway_relays WHERE id = 3"), 1700000500);
    CHECK_EQ(nostr_pgwire_relay_since(s, 3, 1700000600), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_relay_since(s, 3, 1700000600), NOSTR_OK);
    CHECK_EQ(sql_number(ci, "SELECT since_ts FROM gateway_relays WHERE id = 3"), 1700000600);
    CHECK_EQ(nostr_pgwire_relay_since(s, 42, 1), NOSTR_OK); /* unknown id: nothing to move */
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM gateway_relays"), 3);

    /* deleted: gone from the list, its provenance stays; its url is free again */
    {
        made m = make(2, 1, 1700000000, "from relay 2");
        int res;
        CHECK_EQ(put(s, &m, &res), NOSTR_OK);
        CHECK_EQ(nostr_pgwire_seen(s, m.ev.id, 2, 77), NOSTR_OK);
        CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    }
    CHECK_EQ(nostr_pgwire_relay_delete(s, 2), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_relay_delete(s, 2), NOSTR_OK); /* again: nothing left to delete */
    CHECK_EQ(load(s, &l), NOSTR_OK);
    CHECK_EQ(l.n, 2);
    CHECK_EQ(l.id[0], 1);
    CHECK_EQ(l.id[1], 3);
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM event_relays WHERE relay_id = 2"), 1);
    r = relay(4, "wss://b2.example", NULL, 1004, 0);
    CHECK_EQ(nostr_pgwire_relay_save(s, &r), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_relays_load(s, NULL, NULL), NOSTR_ERR_ARG);
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM gateway_relays"), 3);
    nostr_pgwire_close(s);
}

/* ---- recent_ids ---- */

typedef struct ids {
    unsigned char (*id)[32];
    size_t n, cap;
} ids;

static void on_id(void *user, const unsigned char id[32])
{
    ids *l = (ids *)user;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->id = (unsigned char(*)[32])realloc(l->id, l->cap * 32);
    }
    memcpy(l->id[l->n++], id, 32);
}

static int recent(nostr_pgwire *s, long long since, size_t max, ids *l)
{
    free(l->id);
    memset(l, 0, sizeof *l);
    return nostr_pgwire_recent_ids(s, since, max, on_id, l);
}

/* The generated rows below: id g (big-endian in the last 4 bytes), created_at 1000 + g / 3. */
static long id_g(const unsigned char *id)
{
    return (long)id[28] << 24 | (long)id[29] << 16 | (long)id[30] << 8 | (long)id[31];
}

static void test_recent_ids(void)
{
    enum { N = 25001 }; /* three rows a second: page ends (10,000 rows) fall inside a second */
    char ci[256];
    nostr_pgwire *s = fresh_store(ci, sizeof ci);
    made m[5];
    int res, i, ok;
    ids l;
    size_t k;
    CHECK(s != NULL);
    if (!s) return;
    memset(&l, 0, sizeof l);

    /* stored events, one put but not committed yet (a read writes the queue first) */
    for (i = 0; i < 5; i++) {
        char content[32];
        snprintf(content, sizeof content, "recent %d", i);
        m[i] = make(i % 2, 1, 1700000000 + i, content);
        CHECK_EQ(put(s, &m[i], &res), NOSTR_OK);
        if (i == 3) CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    }
    CHECK_EQ(recent(s, 1700000001, 100, &l), NOSTR_OK);
    CHECK_EQ(l.n, 4);
    for (k = 0; k < l.n && k < 4; k++) CHECK_MEM(l.id[k], m[4 - k].ev.id, 32);
    CHECK_EQ(recent(s, 0, 2, &l), NOSTR_OK); /* bounded by max */
    CHECK_EQ(l.n, 2);
    if (l.n == 2) {
        CHECK_MEM(l.id[0], m[4].ev.id, 32);
        CHECK_MEM(l.id[1], m[3].ev.id, 32);
    }
    CHECK_EQ(recent(s, 1700000005, 100, &l), NOSTR_OK);
    CHECK_EQ(l.n, 0);
    CHECK_EQ(recent(s, 0, 0, &l), NOSTR_OK);
    CHECK_EQ(l.n, 0);
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);

    /* many rows, with ties: pages join without a gap or a repeat */
    CHECK_EQ(sql_number(ci, "INSERT INTO events (id, pubkey, created_at, kind, content, raw) "
                            "SELECT decode(lpad(to_hex(g), 64, '0'), 'hex'), '\\x00'::bytea, 1000 + g / 3, 1, '', '{}' "
                            "FROM generate_series(1, 25001) g"),
             0);
    CHECK_EQ(recent(s, 0, (size_t)N + 100, &l), NOSTR_OK);
    CHECK_EQ(l.n, (size_t)N + 5);
    /* strictly in order (newest second first, inside a second the lowest
     * id first), so with the count every row is there once */
    for (k = 6, ok = l.n > 5 && id_g(l.id[5]) == 24999; k < l.n && ok; k++) {
        long g = id_g(l.id[k]), prev = id_g(l.id[k - 1]);
        ok = g / 3 < prev / 3 || (g / 3 == prev / 3 && g > prev);
        if (!ok) fprintf(stderr, "recent_ids: row %zu is %ld after %ld\n", k, g, prev);
    }
    CHECK(ok);
    CHECK_EQ(id_g(l.id[l.n - 1]), 2);
    CHECK_EQ(recent(s, 1000 + 20000 / 3, 100000, &l), NOSTR_OK); /* since: created_at >= 7666 */
    CHECK_EQ(l.n, (size_t)(25001 - 3 * 6666 + 1) + 5);
    CHECK_EQ(id_g(l.id[l.n - 1]), 3 * 6666 + 2); /* the oldest second's highest id */
    CHECK_EQ(recent(s, 0, 10001, &l), NOSTR_OK); /* one row past a page */
    CHECK_EQ(l.n, 10001);
    CHECK_EQ(recent(s, 0, 10000, &l), NOSTR_OK);
    CHECK_EQ(l.n, 10000);
    CHECK_EQ(nostr_pgwire_recent_ids(s, 0, 1, NULL, NULL), NOSTR_ERR_ARG);
    free(l.id);
    nostr_pgwire_close(s);
}

/* ---- a lost session ---- */

static void test_lost_connection(void)
{
    char ci[256];
    nostr_pgwire *s = fresh_store(ci, sizeof ci);
    made e = make(0, 1, 1700000000, "across a lost session"), f = make(0, 1, 1700000001, "and another");
    nostr_pgwire_relay_row r = relay(1, "wss://a.example", NULL, 1, 0);
    relays l;
    ids li;
    provs p;
    int res;
    CHECK(s != NULL);
    if (!s) return;
    memset(&li, 0, sizeof li);
    logged[0] = 0;

    CHECK_EQ(kill_sessions(ci), 1); /* a commit with puts and records */
    CHECK_EQ(put(s, &e, &res), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_seen(s, e.ev.id, 1, 10), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    CHECK_EQ(res, NOSTR_STORE_SAVED);
    CHECK(strstr(logged, "connection lost") != NULL); /* it did notice */

    CHECK_EQ(kill_sessions(ci), 1); /* a commit with records only */
    CHECK_EQ(nostr_pgwire_seen(s, e.ev.id, 2, 20), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);

    CHECK_EQ(kill_sessions(ci), 1);
    CHECK_EQ(seen_on(s, &p, &e, NULL, NULL), NOSTR_OK);
    CHECK_EQ(p.n, 2);
    CHECK(prov_is(&p, 0, e.ev.id, 1, 10));
    CHECK(prov_is(&p, 1, e.ev.id, 2, 20));

    CHECK_EQ(kill_sessions(ci), 1);
    CHECK_EQ(nostr_pgwire_relay_save(s, &r), NOSTR_OK);
    CHECK_EQ(kill_sessions(ci), 1);
    CHECK_EQ(nostr_pgwire_relay_since(s, 1, 1700000000), NOSTR_OK);
    CHECK_EQ(kill_sessions(ci), 1);
    CHECK_EQ(load(s, &l), NOSTR_OK);
    CHECK_EQ(l.n, 1);
    CHECK_EQ(l.since[0], 1700000000);
    CHECK_EQ(kill_sessions(ci), 1);
    CHECK_EQ(nostr_pgwire_relay_delete(s, 1), NOSTR_OK);
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM gateway_relays"), 0);

    CHECK_EQ(kill_sessions(ci), 1); /* a read that writes queued puts first */
    CHECK_EQ(put(s, &f, &res), NOSTR_OK);
    CHECK_EQ(recent(s, 0, 10, &li), NOSTR_OK);
    CHECK_EQ(li.n, 2);
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    CHECK_EQ(res, NOSTR_STORE_SAVED);

    CHECK_EQ(kill_sessions(ci), 1);
    CHECK_EQ(nostr_pgwire_gateway_schema(s), NOSTR_OK);
    free(li.id);
    nostr_pgwire_close(s);
}

int main(void)
{
    char err[4096];
    if (pg_harness_start(&pg, err, sizeof err) != 0) {
        fprintf(stderr, "test_pgwire_provenance: cannot start PostgreSQL: %s\n", err);
        test_failed++;
        return TEST_DONE();
    }
    ctx = nostr_ctx_new(NULL);
    nostr_arena_init(&arena, NULL, 0, NULL);
    TEST_RUN(test_schema);
    TEST_RUN(test_provenance);
    TEST_RUN(test_relays);
    TEST_RUN(test_recent_ids);
    TEST_RUN(test_lost_connection);
    nostr_arena_free(&arena);
    nostr_ctx_free(ctx);
    pg_harness_cleanup(&pg);
    return TEST_DONE();
}
