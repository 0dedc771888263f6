/* The pgwire store against a real PostgreSQL, started by tests/pg_harness.h
 * in a temp dir on a free port (never a mock; missing binaries fail).
 * Covers: the store conformance suite (tests/store_conformance.h); schema
 * creation is idempotent and a missing schema is a clear error at open;
 * raw JSON comes back byte for byte (every event of events-real.jsonl,
 * and escapes such as \u2028, \/ and \u00e9 that re-serialising would
 * lose); 1000 puts are one transaction and complete only at commit;
 * decisions inside one batch (duplicates, replaceable versions,
 * deletions before and after their targets) match one-at-a-time ones;
 * SQL metacharacters in tag values, d tags and searches are data; LIKE
 * wildcards in a search are literal; connection refused is a clear error;
 * a PostgreSQL restart between commits is survived, and a commit while
 * it is down reports an error and the next one works; the pipelined
 * commit (begin / write on another thread / end) completes what commit
 * would, one batch at a time and in order. */
#define _GNU_SOURCE
#include <pthread.h>
#include "pg_harness.h"
#include "test.h"
#include "nostr_relay.h"
#include "store_conformance.h"

#ifndef NOSTR_WITH_PGWIRE
#error "test_pgwire needs the build's NOSTR_WITH_PGWIRE"
#endif

static pg_harness pg;
static nostr_ctx *ctx;
static int db_seq;
static char logged[8192];

static void test_log(void *user, int level, const char *msg)
{
    size_t n = strlen(logged);
    (void)user;
    (void)level;
    if (n + strlen(msg) + 2 < sizeof logged) {
        memcpy(logged + n, msg, strlen(msg));
        logged[n + strlen(msg)] = '\n';
        logged[n + strlen(msg) + 1] = 0;
    }
}

/* A fresh database; its conninfo in out. */
static void fresh_db(char *out, size_t outlen)
{
    char sql[64], name[32], err[512];
    snprintf(name, sizeof name, "t%d", ++db_seq);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    if (pg_harness_exec(&pg, sql, err, sizeof err) != 0) fprintf(stderr, "%s\n", err);
    pg_harness_conninfo_db(&pg, name, out, outlen);
}

static nostr_pgwire *open_store(const char *conninfo, int create)
{
    nostr_pgwire_config cfg;
    nostr_pgwire *s = NULL;
    nostr_error err;
    int rc;
    memset(&cfg, 0, sizeof cfg);
    cfg.conninfo = conninfo;
    cfg.create_schema = create;
    cfg.log = test_log;
    rc = nostr_pgwire_open(&s, &cfg, &err);
    if (rc != NOSTR_OK) fprintf(stderr, "open: %s\n%s", err.msg ? err.msg : "?", logged);
    return s;
}

/* One SQL answer as a number (test-side checks of the database itself). */
static long long sql_number(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    PGresult *r = PQexec(c, sql);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) v = atoll(PQgetvalue(r, 0, 0));
    else fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    return v;
}

/* ---- events and callbacks ---- */

typedef struct made {
    nostr_event ev;
    char *json;
    size_t len;
} made;

static nostr_arena arena;

static nostr_keys key_of(int who)
{
    unsigned char sec[32];
    nostr_keys k;
    memset(sec, 0x11 * (who + 1), sizeof sec);
    if (nostr_keys_from_secret(ctx, sec, &k) != NOSTR_OK) abort();
    return k;
}

/* A signed event; tags as name, value pairs, NULL-terminated. */
static made make(int who, unsigned kind, long long at, const char *content, const char *tag, const char *value,
                 const char *tag2, const char *value2)
{
    made m;
    nostr_keys k = key_of(who);
    nostr_buf b;
    if (nostr_event_init(&m.ev, &arena, kind, at, content, strlen(content)) != NOSTR_OK) abort();
    if (tag && nostr_event_add_tag4(&m.ev, &arena, tag, value, NULL, NULL) != NOSTR_OK) abort();
    if (tag2 && nostr_event_add_tag4(&m.ev, &arena, tag2, value2, NULL, NULL) != NOSTR_OK) abort();
    if (nostr_event_sign(ctx, &m.ev, &k) != NOSTR_OK) abort();
    nostr_buf_init(&b, NULL);
    nostr_event_to_json(&m.ev, &b);
    m.json = nostr_arena_strdup(&arena, b.data, b.len);
    m.len = b.len;
    nostr_buf_free(&b);
    nostr_keys_wipe(&k);
    return m;
}

typedef struct put_result {
    int calls, result;
    char msg[256];
} put_result;

static void on_put(void *user, int result, const char *msg)
{
    put_result *r = (put_result *)user;
    r->calls++;
    r->result = result;
    snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "");
}

static int put(nostr_store *st, const made *m, put_result *r)
{
    memset(r, 0, sizeof *r);
    return st->put(st->self, &m->ev, m->json, m->len, on_put, r);
}

typedef struct rows {
    char **json;
    size_t *len;
    size_t n, cap;
    int done, rc;
    unsigned long long count;
} rows;

static void on_row(void *user, const char *json, size_t len)
{
    rows *r = (rows *)user;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->json = (char **)realloc(r->json, r->cap * sizeof *r->json);
        r->len = (size_t *)realloc(r->len, r->cap * sizeof *r->len);
    }
    r->json[r->n] = (char *)malloc(len + 1);
    memcpy(r->json[r->n], json, len);
    r->json[r->n][len] = 0;
    r->len[r->n++] = len;
}

static void on_done(void *user, int rc, unsigned long long count)
{
    rows *r = (rows *)user;
    r->done++;
    r->rc = rc;
    r->count = count;
}

static void rows_free(rows *r)
{
    size_t i;
    for (i = 0; i < r->n; i++) free(r->json[i]);
    free(r->json);
    free(r->len);
    memset(r, 0, sizeof *r);
}

/* Query with one filter given as JSON at time now; rows collected in r. */
static int query_at(nostr_store *st, const char *filter_json, long long now, rows *r)
{
    nostr_filter f;
    nostr_error err;
    int rc;
    memset(r, 0, sizeof *r);
    if (nostr_filter_parse(&f, filter_json, strlen(filter_json), &arena, NULL, &err) != NOSTR_OK) {
        fprintf(stderr, "bad filter %s: %s\n", filter_json, err.msg);
        return -1;
    }
    rc = st->query(st->self, &f, 1, now, on_row, on_done, r);
    if (rc == NOSTR_OK && r->done != 1) rc = -1;
    return rc;
}

static int query(nostr_store *st, const char *filter_json, rows *r)
{
    return query_at(st, filter_json, 2000000000LL, r);
}

/* ---- tests ---- */

static void test_conformance(void)
{
    char ci[256];
    nostr_pgwire *s;
    nostr_store st;
    fresh_db(ci, sizeof ci);
    s = open_store(ci, 1);
    CHECK(s != NULL);
    if (!s) return;
    st = nostr_pgwire_iface(s);
    store_conformance_run(&st, ctx);
    test_current = "test_conformance";
    st.destroy(st.self);
}

static void test_schema(void)
{
    char ci[256];
    nostr_pgwire *s1, *s2, *s3;
    nostr_pgwire_config cfg;
    nostr_error err;
    nostr_store st;
    put_result pr;
    made m = make(0, 1, 1700000000, "schema test", NULL, NULL, NULL, NULL);
    rows r;
    int rc;

    /* no schema and not asked to create it: a clear error at open */
    fresh_db(ci, sizeof ci);
    memset(&cfg, 0, sizeof cfg);
    cfg.conninfo = ci;
    cfg.log = test_log;
    logged[0] = 0;
    s1 = NULL;
    rc = nostr_pgwire_open(&s1, &cfg, &err);
    CHECK(rc != NOSTR_OK);
    CHECK(s1 == NULL);
    CHECK(err.msg && strstr(err.msg, "schema"));
    CHECK(strstr(logged, "nostr_meta") != NULL);

    /* created twice (the second while the first is open), then again */
    s1 = open_store(ci, 1);
    s2 = open_store(ci, 1);
    CHECK(s1 && s2);
    if (!s1 || !s2) return;
    st = nostr_pgwire_iface(s1);
    CHECK_EQ(put(&st, &m, &pr), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_commit(s1), NOSTR_OK);
    CHECK_EQ(pr.result, NOSTR_STORE_SAVED);
    nostr_pgwire_close(s1);
    nostr_pgwire_close(s2);
    s3 = open_store(ci, 1);
    CHECK(s3 != NULL);
    if (!s3) return;
    st = nostr_pgwire_iface(s3);
    CHECK_EQ(query(&st, "{\"kinds\":[1]}", &r), NOSTR_OK);
    CHECK_EQ(r.n, 1);
    rows_free(&r);
    nostr_pgwire_close(s3);
    s3 = open_store(ci, 0); /* the schema is there now */
    CHECK(s3 != NULL);
    nostr_pgwire_close(s3);
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM pg_indexes WHERE tablename IN ('events','tags')"), 9);
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM pg_indexes WHERE tablename = 'words'"), 2);
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM nostr_meta"), 2); /* 'schema', 'words' (filled) */
}

/* Replace every occurrence of `from` in s (NUL-terminated, in a malloc'd
 * buffer) with `to`; returns a new malloc'd string. */
static char *replace_all(const char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), n = 0;
    const char *p;
    char *out, *o;
    for (p = s; (p = strstr(p, from)) != NULL; p += fl) n++;
    out = (char *)malloc(strlen(s) + n * (tl > fl ? tl - fl : 0) + 1);
    for (o = out, p = s; *p;) {
        if (strncmp(p, from, fl) == 0) {
            memcpy(o, to, tl);
            o += tl;
            p += fl;
        } else {
            *o++ = *p++;
        }
    }
    *o = 0;
    return out;
}

static void test_raw_verbatim(void)
{
    char ci[256];
    nostr_pgwire *s;
    nostr_store st;
    size_t size, i, nlines = 0, saved = 0, matched = 0;
    char *data = test_read_file("events-real.jsonl", &size), *line, *next;
    char **lines = NULL;
    size_t *lens = NULL;
    put_result *res;
    nostr_arena a;
    rows r;
    CHECK(data != NULL);
    if (!data) return;
    fresh_db(ci, sizeof ci);
    s = open_store(ci, 1);
    CHECK(s != NULL);
    if (!s) return;
    st = nostr_pgwire_iface(s);
    for (line = data; line < data + size; line = next + 1) {
        next = strchr(line, '\n');
        if (!next) next = data + size;
        lines = (char **)realloc(lines, (nlines + 1) * sizeof *lines);
        lens = (size_t *)realloc(lens, (nlines + 1) * sizeof *lens);
        lines[nlines] = line;
        lens[nlines++] = (size_t)(next - line);
    }
    res = (put_result *)calloc(nlines + 2, sizeof *res);
    nostr_arena_init(&a, NULL, 0, NULL);
    for (i = 0; i < nlines; i++) {
        nostr_event ev;
        int rc = nostr_event_parse(&ev, lines[i], lens[i], &a, NULL, NULL);
        CHECK_EQ(rc, NOSTR_OK);
        if (rc) continue;
        CHECK_EQ(st.put(st.self, &ev, lines[i] + ev.json_offset, ev.json_len, on_put, &res[i]), NOSTR_OK);
        if (i % 500 == 499) nostr_arena_reset(&a);
    }
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    for (i = 0; i < nlines; i++) {
        CHECK_EQ(res[i].calls, 1);
        saved += res[i].result == NOSTR_STORE_SAVED;
        CHECK(res[i].result >= 0);
    }
    /* most are regular kinds; replaced versions and duplicates account for
     * the rest; some saved ones were deleted by later kind 5 events. At
     * time 0 nothing has expired, so every stored row comes back. */
    CHECK(saved > nlines * 9 / 10);
    CHECK_EQ(query_at(&st, "{}", 0, &r), NOSTR_OK);
    CHECK(r.n > saved * 9 / 10);
    CHECK_EQ(r.n, sql_number(ci, "SELECT count(*) FROM events"));
    for (i = 0; i < r.n; i++) {
        size_t j;
        for (j = 0; j < nlines; j++)
            if (lens[j] == r.len[i] && memcmp(lines[j], r.json[i], r.len[i]) == 0) {
                matched++;
                break;
            }
    }
    CHECK_EQ(matched, r.n); /* every row is one input line, byte for byte */
    rows_free(&r);

    /* Escapes a re-serialiser would change: \u2028 \u2029, \/ and \u00e9 */
    {
        made m = make(1, 1, 1700000001, "line\xe2\x80\xa8sep\xe2\x80\xa9 a/b caf\xc3\xa9 \"q\"", "t", "x/y", NULL,
                      NULL);
        char *t1 = replace_all(m.json, "\xe2\x80\xa8", "\\u2028");
        char *t2 = replace_all(t1, "\xe2\x80\xa9", "\\u2029");
        char *t3 = replace_all(t2, "/", "\\/");
        char *odd = replace_all(t3, "\xc3\xa9", "\\u00e9");
        nostr_event ev;
        put_result pr;
        char filter[200], idhex[65];
        CHECK_EQ(nostr_event_parse(&ev, odd, strlen(odd), &a, NULL, NULL), NOSTR_OK);
        CHECK_EQ(nostr_event_check(&ev, NULL, NULL), NOSTR_OK); /* same event, other spelling */
        CHECK(strstr(odd, "\\u2028") && strstr(odd, "\\/") && strstr(odd, "\\u00e9"));
        CHECK_EQ(st.put(st.self, &ev, odd, strlen(odd), on_put, &pr), NOSTR_OK);
        CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
        CHECK_EQ(pr.result, NOSTR_STORE_SAVED);
        nostr_hex_encode(ev.id, 32, idhex);
        snprintf(filter, sizeof filter, "{\"ids\":[\"%s\"]}", idhex);
        CHECK_EQ(query(&st, filter, &r), NOSTR_OK);
        CHECK_EQ(r.n, 1);
        if (r.n == 1) {
            CHECK_EQ(r.len[0], strlen(odd));
            CHECK_STR(r.json[0], odd);
        }
        rows_free(&r);
        /* and the tag value, unescaped, is what the index holds */
        CHECK_EQ(query(&st, "{\"#t\":[\"x/y\"]}", &r), NOSTR_OK);
        CHECK_EQ(r.n, 1);
        rows_free(&r);
        free(t1);
        free(t2);
        free(t3);
        free(odd);
    }
    nostr_arena_free(&a);
    free(res);
    free(lines);
    free(lens);
    free(data);
    nostr_pgwire_close(s);
}

static void test_batch(void)
{
    enum { N = 1000 };
    char ci[256];
    nostr_pgwire *s;
    nostr_store st;
    made *ms = (made *)calloc(N, sizeof *ms);
    put_result *res = (put_result *)calloc(N + 8, sizeof *res);
    size_t i, calls = 0;
    rows r;
    fresh_db(ci, sizeof ci);
    s = open_store(ci, 1);
    CHECK(s != NULL);
    if (!s) return;
    st = nostr_pgwire_iface(s);
    for (i = 0; i < N; i++) {
        char content[64], tv[32];
        snprintf(content, sizeof content, "batch event %zu", i);
        snprintf(tv, sizeof tv, "b%zu", i % 10);
        ms[i] = make((int)(i % 3), 1, 1700000000 + (long long)i, content, "t", tv, NULL, NULL);
        CHECK_EQ(put(&st, &ms[i], &res[i]), NOSTR_OK);
    }
    for (i = 0; i < N; i++) calls += (size_t)res[i].calls;
    CHECK_EQ(calls, 0); /* nothing completes before commit */
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    for (i = 0, calls = 0; i < N; i++) {
        calls += (size_t)res[i].calls;
        CHECK_EQ(res[i].result, NOSTR_STORE_SAVED);
    }
    CHECK_EQ(calls, N);
    CHECK_EQ(st.has(st.self, ms[N - 1].ev.id), 1);
    /* one transaction: every row carries the same inserting transaction id */
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM events"), N);
    CHECK_EQ(sql_number(ci, "SELECT count(DISTINCT xmin::text) FROM events"), 1);
    CHECK_EQ(sql_number(ci, "SELECT count(DISTINCT xmin::text) FROM tags"), 1);
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM tags"), N);
    CHECK_EQ(query(&st, "{\"#t\":[\"b3\"],\"limit\":5}", &r), NOSTR_OK);
    CHECK_EQ(r.n, 5);
    if (r.n == 5) CHECK_STR(r.json[0], ms[993].json);
    rows_free(&r);

    /* Decisions inside one batch: a duplicate, two replaceable versions
     * (older second), a deletion before its target and one after. */
    {
        made dup = ms[5];
        made v1 = make(0, 0, 1700005000, "{\"name\":\"v1\"}", NULL, NULL, NULL, NULL);
        made v2 = make(0, 0, 1700005001, "{\"name\":\"v2\"}", NULL, NULL, NULL, NULL);
        made target = make(0, 1, 1700005002, "target", NULL, NULL, NULL, NULL);
        made late = make(0, 1, 1700005003, "deleted before arriving", NULL, NULL, NULL, NULL);
        char hex1[65], hex2[65];
        made del1, del2;
        put_result pr[8];
        nostr_hex_encode(late.ev.id, 32, hex1);
        nostr_hex_encode(target.ev.id, 32, hex2);
        del1 = make(0, 5, 1700005004, "", "e", hex1, NULL, NULL);
        del2 = make(0, 5, 1700005005, "", "e", hex2, NULL, NULL);
        CHECK_EQ(put(&st, &dup, &pr[0]), NOSTR_OK);
        CHECK_EQ(put(&st, &v2, &pr[1]), NOSTR_OK);
        CHECK_EQ(put(&st, &v1, &pr[2]), NOSTR_OK);
        CHECK_EQ(put(&st, &del1, &pr[3]), NOSTR_OK);
        CHECK_EQ(put(&st, &late, &pr[4]), NOSTR_OK);
        CHECK_EQ(put(&st, &target, &pr[5]), NOSTR_OK);
        CHECK_EQ(put(&st, &del2, &pr[6]), NOSTR_OK);
        CHECK_EQ(put(&st, &v2, &pr[7]), NOSTR_OK);
        CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
        CHECK_EQ(pr[0].result, NOSTR_STORE_DUPLICATE);
        CHECK_EQ(pr[1].result, NOSTR_STORE_SAVED);
        CHECK_EQ(pr[2].result, NOSTR_STORE_SUPERSEDED);
        CHECK_EQ(pr[3].result, NOSTR_STORE_SAVED);
        CHECK_EQ(pr[4].result, NOSTR_STORE_DELETED);
        CHECK_EQ(pr[5].result, NOSTR_STORE_SAVED); /* saved, then deleted by del2 */
        CHECK_EQ(pr[6].result, NOSTR_STORE_SAVED);
        CHECK_EQ(pr[7].result, NOSTR_STORE_DUPLICATE);
        CHECK_EQ(query(&st, "{\"since\":1700005000}", &r), NOSTR_OK);
        CHECK_EQ(r.n, 3); /* v2, del1, del2 */
        rows_free(&r);
        CHECK_EQ(put(&st, &target, &pr[0]), NOSTR_OK);
        CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
        CHECK_EQ(pr[0].result, NOSTR_STORE_DELETED);
    }

    /* A query sees puts made before it; their completions still wait for commit. */
    {
        made m = make(2, 1, 1700009999, "seen before commit", NULL, NULL, NULL, NULL);
        put_result pr;
        CHECK_EQ(put(&st, &m, &pr), NOSTR_OK);
        CHECK_EQ(query(&st, "{\"since\":1700009999}", &r), NOSTR_OK);
        CHECK_EQ(r.n, 1);
        rows_free(&r);
        CHECK_EQ(pr.calls, 0);
        CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
        CHECK_EQ(pr.calls, 1);
        CHECK_EQ(pr.result, NOSTR_STORE_SAVED);
    }
    free(ms);
    free(res);
    nostr_pgwire_close(s);
}

static void *pipelined_write(void *b)
{
    return (void *)(long)nostr_pgwire_commit_write((nostr_pgwire_batch *)b);
}

/* begin, write and end on this thread; an error, or NOSTR_ERR_ARG when
 * nothing was queued */
static int pipelined_commit(nostr_pgwire *s)
{
    nostr_pgwire_batch *b = NULL;
    int rc = nostr_pgwire_commit_begin(s, &b);
    if (rc != NOSTR_OK) return rc;
    if (!b) return NOSTR_ERR_ARG;
    rc = nostr_pgwire_commit_write(b);
    if (rc != NOSTR_OK) {
        (void)nostr_pgwire_commit_end(s, b);
        return rc;
    }
    return nostr_pgwire_commit_end(s, b);
}

static void test_pipelined(void)
{
    enum { N = 200 };
    char ci[256];
    nostr_pgwire *s;
    nostr_pgwire_batch *b = NULL, *b2 = NULL;
    nostr_store st;
    made *ms = (made *)calloc(N, sizeof *ms);
    put_result *res = (put_result *)calloc(N, sizeof *res), pr[3];
    made late, early;
    size_t i, calls = 0;
    pthread_t th;
    void *ret = NULL;
    rows r;
    fresh_db(ci, sizeof ci);
    s = open_store(ci, 1);
    CHECK(s != NULL);
    if (!s) return;
    st = nostr_pgwire_iface(s);
    CHECK_EQ(nostr_pgwire_commit_begin(s, &b), NOSTR_OK);
    CHECK(b == NULL); /* nothing queued */
    for (i = 0; i < N; i++) {
        char content[64];
        snprintf(content, sizeof content, "pipelined %zu", i);
        ms[i] = make((int)(i % 3), 1, 1700000000 + (long long)i, content, "t", "pipe", NULL, NULL);
        CHECK_EQ(put(&st, &ms[i], &res[i]), NOSTR_OK);
    }
    CHECK_EQ(nostr_pgwire_commit_begin(s, &b), NOSTR_OK);
    CHECK(b != NULL);
    if (!b) return;
    CHECK_EQ(nostr_pgwire_commit_begin(s, &b2), NOSTR_ERR_BUSY); /* one batch out at a time */
    CHECK(b2 == NULL);
    /* while it is out: a new put waits for the next batch; commit and a
     * read write nothing (they would race the batch) */
    late = make(0, 1, 1700001000, "after the batch", "t", "pipe", NULL, NULL);
    CHECK_EQ(put(&st, &late, &pr[0]), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    CHECK_EQ(pr[0].calls, 0);
    CHECK_EQ(query(&st, "{\"#t\":[\"pipe\"]}", &r), NOSTR_OK);
    CHECK_EQ(r.n, 0);
    rows_free(&r);
    /* written on another thread, on the batch's own connection */
    CHECK_EQ(pthread_create(&th, NULL, pipelined_write, b), 0);
    CHECK_EQ(pthread_join(th, &ret), 0);
    CHECK_EQ((long)ret, NOSTR_OK);
    for (i = 0; i < N; i++) calls += (size_t)res[i].calls;
    CHECK_EQ(calls, 0); /* completions wait for end, on the store's thread */
    CHECK_EQ(nostr_pgwire_commit_end(s, b), NOSTR_OK);
    for (i = 0, calls = 0; i < N; i++) {
        calls += (size_t)res[i].calls;
        CHECK_EQ(res[i].result, NOSTR_STORE_SAVED);
    }
    CHECK_EQ(calls, N);
    CHECK_EQ(pr[0].calls, 0);
    CHECK_EQ(st.has(st.self, ms[N - 1].ev.id), 1);
    CHECK_EQ(sql_number(ci, "SELECT count(DISTINCT xmin::text) FROM events"), 1); /* one transaction */
    CHECK_EQ(nostr_pgwire_commit_end(s, b), NOSTR_ERR_ARG);                        /* not out any more */
    /* the next batch: the late put, a duplicate of the first batch's */
    CHECK_EQ(put(&st, &ms[0], &pr[1]), NOSTR_OK);
    CHECK_EQ(pipelined_commit(s), NOSTR_OK);
    CHECK_EQ(pr[0].calls, 1);
    CHECK_EQ(pr[0].result, NOSTR_STORE_SAVED);
    CHECK_EQ(pr[1].calls, 1);
    CHECK_EQ(pr[1].result, NOSTR_STORE_DUPLICATE);
    /* a put a read already wrote (no batch out) still completes through a batch */
    early = make(1, 1, 1700002000, "written by a read", "t", "pipe", NULL, NULL);
    CHECK_EQ(put(&st, &early, &pr[2]), NOSTR_OK);
    CHECK_EQ(query(&st, "{\"#t\":[\"pipe\"]}", &r), NOSTR_OK);
    CHECK_EQ(r.n, N + 2);
    rows_free(&r);
    CHECK_EQ(pr[2].calls, 0);
    CHECK_EQ(pipelined_commit(s), NOSTR_OK);
    CHECK_EQ(pr[2].calls, 1);
    CHECK_EQ(pr[2].result, NOSTR_STORE_SAVED);
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM events"), N + 2);
    free(ms);
    free(res);
    nostr_pgwire_close(s);
}

static void test_metachars(void)
{
    static const char *evil = "'; DROP TABLE events; --";
    char ci[256], filter[512];
    nostr_pgwire *s;
    nostr_store st;
    put_result pr[4];
    rows r;
    made m1, m2, m3, m4;
    fresh_db(ci, sizeof ci);
    s = open_store(ci, 1);
    CHECK(s != NULL);
    if (!s) return;
    st = nostr_pgwire_iface(s);
    m1 = make(0, 1, 1700000000, "robert'); DROP TABLE tags; -- \\ $1 %s", "t", evil, NULL, NULL);
    m2 = make(0, 30023, 1700000001, "addressable with an evil d", "d", evil, NULL, NULL);
    m3 = make(1, 1, 1700000002, "50% off", NULL, NULL, NULL, NULL);
    m4 = make(1, 1, 1700000003, "500 off a_b", NULL, NULL, NULL, NULL);
    CHECK_EQ(put(&st, &m1, &pr[0]), NOSTR_OK);
    CHECK_EQ(put(&st, &m2, &pr[1]), NOSTR_OK);
    CHECK_EQ(put(&st, &m3, &pr[2]), NOSTR_OK);
    CHECK_EQ(put(&st, &m4, &pr[3]), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    CHECK_EQ(pr[0].result, NOSTR_STORE_SAVED);
    CHECK_EQ(pr[1].result, NOSTR_STORE_SAVED);
    snprintf(filter, sizeof filter, "{\"#t\":[\"%s\"]}", evil);
    CHECK_EQ(query(&st, filter, &r), NOSTR_OK);
    CHECK_EQ(r.n, 1);
    if (r.n == 1) CHECK_STR(r.json[0], m1.json);
    rows_free(&r);
    snprintf(filter, sizeof filter, "{\"#d\":[\"%s\"],\"kinds\":[30023]}", evil);
    CHECK_EQ(query(&st, filter, &r), NOSTR_OK);
    CHECK_EQ(r.n, 1);
    rows_free(&r);
    CHECK_EQ(query(&st, "{\"search\":\"'); DROP TABLE tags; --\"}", &r), NOSTR_OK);
    CHECK_EQ(r.n, 1);
    rows_free(&r);
    CHECK_EQ(query(&st, "{\"search\":\"\\\\ $1 %s\"}", &r), NOSTR_OK);
    CHECK_EQ(r.n, 1);
    rows_free(&r);
    /* LIKE wildcards in a search are literal characters */
    CHECK_EQ(query(&st, "{\"search\":\"50%\"}", &r), NOSTR_OK);
    CHECK_EQ(r.n, 1);
    if (r.n == 1) CHECK_STR(r.json[0], m3.json);
    rows_free(&r);
    CHECK_EQ(query(&st, "{\"search\":\"a_b\"}", &r), NOSTR_OK);
    CHECK_EQ(r.n, 1);
    rows_free(&r);
    CHECK_EQ(query(&st, "{\"search\":\"0_o\"}", &r), NOSTR_OK);
    CHECK_EQ(r.n, 0);
    rows_free(&r);
    /* the tables are all still there */
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM events"), 4);
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM tags"), 2);
    nostr_pgwire_close(s);
}

static void test_long_values(void)
{
    char ci[256], *big, *filter;
    nostr_pgwire *s;
    nostr_store st;
    put_result pr[2];
    rows r;
    made m1, m2;
    size_t n = 5000;
    fresh_db(ci, sizeof ci);
    s = open_store(ci, 1);
    CHECK(s != NULL);
    if (!s) return;
    st = nostr_pgwire_iface(s);
    big = (char *)malloc(n + 1);
    memset(big, 'v', n);
    big[n] = 0;
    /* longer than a btree entry may be: indexed by hash, still found */
    m1 = make(0, 1, 1700000000, "long tag value", "r", big, NULL, NULL);
    m2 = make(0, 30000, 1700000001, "long d tag", "d", big, NULL, NULL);
    CHECK_EQ(put(&st, &m1, &pr[0]), NOSTR_OK);
    CHECK_EQ(put(&st, &m2, &pr[1]), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    CHECK_EQ(pr[0].result, NOSTR_STORE_SAVED);
    CHECK_EQ(pr[1].result, NOSTR_STORE_SAVED);
    filter = (char *)malloc(n + 64);
    snprintf(filter, n + 64, "{\"#r\":[\"%s\"]}", big);
    CHECK_EQ(query(&st, filter, &r), NOSTR_OK);
    CHECK_EQ(r.n, 1);
    rows_free(&r);
    snprintf(filter, n + 64, "{\"#d\":[\"%s\"]}", big);
    CHECK_EQ(query(&st, filter, &r), NOSTR_OK);
    CHECK_EQ(r.n, 1);
    rows_free(&r);
    big[n - 1] = 'w';
    snprintf(filter, n + 64, "{\"#r\":[\"%s\"]}", big);
    CHECK_EQ(query(&st, filter, &r), NOSTR_OK);
    CHECK_EQ(r.n, 0);
    rows_free(&r);
    free(filter);
    free(big);
    nostr_pgwire_close(s);
}

static void test_refused(void)
{
    char ci[256];
    nostr_pgwire_config cfg;
    nostr_pgwire *s = (nostr_pgwire *)&cfg; /* must be reset to NULL */
    nostr_error err;
    int port = pg_harness_free_port(), rc;
    snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=postgres dbname=postgres connect_timeout=5", port);
    memset(&cfg, 0, sizeof cfg);
    cfg.conninfo = ci;
    cfg.log = test_log;
    logged[0] = 0;
    rc = nostr_pgwire_open(&s, &cfg, &err);
    CHECK_EQ(rc, NOSTR_ERR_NET);
    CHECK_EQ(err.code, NOSTR_ERR_NET);
    CHECK(s == NULL);
    CHECK(err.msg && strstr(err.msg, "cannot connect"));
    CHECK(strstr(logged, "cannot connect") != NULL);
    CHECK(strstr(logged, "refused") != NULL); /* libpq's own words reach the log */
}

static void test_restart(void)
{
    char ci[256], err[2048];
    nostr_pgwire *s;
    nostr_store st;
    put_result pr;
    rows r;
    made m1 = make(0, 1, 1700000000, "before restart", NULL, NULL, NULL, NULL);
    made m2 = make(0, 1, 1700000001, "after restart", NULL, NULL, NULL, NULL);
    made m3 = make(0, 1, 1700000002, "while down", NULL, NULL, NULL, NULL);
    made m4 = make(0, 1, 1700000003, "back up", NULL, NULL, NULL, NULL);
    fresh_db(ci, sizeof ci);
    s = open_store(ci, 1);
    CHECK(s != NULL);
    if (!s) return;
    st = nostr_pgwire_iface(s);
    CHECK_EQ(put(&st, &m1, &pr), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    CHECK_EQ(pr.result, NOSTR_STORE_SAVED);

    /* restarted between commits: the store reconnects by itself */
    CHECK_EQ(pg_harness_stop_server(&pg), 0);
    CHECK_EQ(pg_harness_start_server(&pg, err, sizeof err), 0);
    CHECK_EQ(put(&st, &m2, &pr), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    CHECK_EQ(pr.result, NOSTR_STORE_SAVED);

    /* down at commit: an error for the put, a reason, then the next commit works */
    CHECK_EQ(pg_harness_stop_server(&pg), 0);
    CHECK_EQ(put(&st, &m3, &pr), NOSTR_OK);
    CHECK(nostr_pgwire_commit(s) < 0);
    CHECK_EQ(pr.calls, 1);
    CHECK(pr.result < 0);
    CHECK(pr.msg[0] != 0);
    CHECK(nostr_pgwire_last_error(s)[0] != 0);
    CHECK(query(&st, "{}", &r) < 0); /* queries fail plainly too */
    rows_free(&r);
    CHECK_EQ(pg_harness_start_server(&pg, err, sizeof err), 0);
    CHECK_EQ(put(&st, &m4, &pr), NOSTR_OK);
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    CHECK_EQ(pr.result, NOSTR_STORE_SAVED);
    CHECK_EQ(put(&st, &m3, &pr), NOSTR_OK); /* the failed one, sent again */
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    CHECK_EQ(pr.result, NOSTR_STORE_SAVED);
    CHECK_EQ(query(&st, "{}", &r), NOSTR_OK);
    CHECK_EQ(r.n, 4);
    rows_free(&r);
    nostr_pgwire_close(s);
}

static void test_explain(void)
{
    char ci[256];
    nostr_pgwire *s;
    nostr_filter f;
    nostr_buf out;
    static const char *fj = "{\"authors\":[\"0000000000000000000000000000000000000000000000000000000000000001\"],"
                            "\"limit\":10}";
    fresh_db(ci, sizeof ci);
    s = open_store(ci, 1);
    CHECK(s != NULL);
    if (!s) return;
    CHECK_EQ(nostr_filter_parse(&f, fj, strlen(fj), &arena, NULL, NULL), NOSTR_OK);
    nostr_buf_init(&out, NULL);
    CHECK_EQ(nostr_pgwire_explain(s, &f, 1, 2000000000LL, 0, &out), NOSTR_OK);
    CHECK(out.data && strstr(out.data, "SQL: SELECT e.id, e.created_at, e.raw FROM events e WHERE"));
    CHECK(out.data && strstr(out.data, "Limit"));
    nostr_buf_free(&out);
    nostr_pgwire_close(s);
}

int main(void)
{
    char err[4096];
    if (pg_harness_start(&pg, err, sizeof err) != 0) {
        fprintf(stderr, "test_pgwire: cannot start PostgreSQL: %s\n", err);
        test_failed++;
        return TEST_DONE();
    }
    ctx = nostr_ctx_new(NULL);
    nostr_arena_init(&arena, NULL, 0, NULL);
    TEST_RUN(test_conformance);
    TEST_RUN(test_schema);
    TEST_RUN(test_raw_verbatim);
    TEST_RUN(test_batch);
    TEST_RUN(test_pipelined);
    TEST_RUN(test_metachars);
    TEST_RUN(test_long_values);
    TEST_RUN(test_refused);
    TEST_RUN(test_explain);
    TEST_RUN(test_restart);
    nostr_arena_free(&arena);
    nostr_ctx_free(ctx);
    pg_harness_cleanup(&pg);
    return TEST_DONE();
}
