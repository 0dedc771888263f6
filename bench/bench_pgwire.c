/* The pgwire store on PostgreSQL: put rate and query latency.
 *
 *   bench_pgwire [--conninfo CI] [--events N] [--runs R] [--shapes FILE] [--explain]
 *
 * Without --conninfo a throwaway PostgreSQL is started (tests/pg_harness.h:
 * temp dir, free port, fsync=off, so the put rate is the SQL path, not the
 * disk). N signed events (default 100,000) are generated once and cached
 * in /tmp/nostr-bench-pgwire-<N>.jsonl: each copies the shape of one event
 * of tests/data/events-real.jsonl in turn (kind, tag names and count,
 * content length), over 1000 authors, with e tags naming earlier events
 * and p tags naming the authors. Kind 5 becomes kind 1 so the row count
 * does not depend on which random targets a deletion names.
 *
 * Put: all N events into a fresh database in commits of 100, then into
 * another in commits of 1000: events/s (put + commit, wall clock).
 * Query, on the second database after ANALYZE: 1000 random queries of
 * each shape - authors + limit 20, kinds + limit 20, #e (a referenced
 * id) - p50 and p99 in ms; R runs (default 3), the median of each printed.
 * --explain prints the SQL and EXPLAIN ANALYZE of each filter type
 * (authors+limit, kinds+limit, ids, #e, #p, since/until) for docs/database.md. */
#define _GNU_SOURCE
#include "../tests/pg_harness.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nostr_relay.h"
#include "bench_util.h"

#define AUTHORS 1000

typedef struct line {
    char *json;
    size_t len;
} line;

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;

static unsigned long long rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static size_t split_lines(char *data, size_t size, line **out)
{
    size_t n = 0, cap = 1024;
    char *p = data, *nl;
    line *ls = (line *)malloc(cap * sizeof *ls);
    while (p < data + size) {
        nl = memchr(p, '\n', (size_t)(data + size - p));
        if (!nl) nl = data + size;
        if (nl > p) {
            if (n == cap) ls = (line *)realloc(ls, (cap *= 2) * sizeof *ls);
            ls[n].json = p;
            ls[n].len = (size_t)(nl - p);
            n++;
        }
        *nl = 0;
        p = nl + 1;
    }
    *out = ls;
    return n;
}

static const char *const words[] = {"nostr", "relay", "bitcoin", "hello", "world", "zap",  "note", "the",
                                    "a",     "of",    "gm",      "pura",  "vida",  "lorem", "ipsum", "2024"};

/* Generate n events shaped like the real corpus; write them to path. */
static int generate(const char *shapes, const char *path, size_t n)
{
    size_t size, nreal, i, j;
    char *data = read_all(shapes, &size);
    line *real;
    nostr_ctx *ctx = nostr_ctx_new(NULL);
    nostr_keys *keys = (nostr_keys *)malloc(AUTHORS * sizeof *keys);
    char(*pubhex)[65] = (char(*)[65])malloc(AUTHORS * 65);
    char(*idhex)[65] = (char(*)[65])malloc(n * 65);
    char *content = (char *)malloc(70000);
    nostr_arena a;
    nostr_buf out;
    FILE *f;
    double t0 = now_s();
    if (!data) {
        fprintf(stderr, "cannot read %s (run from the repository root, or --shapes FILE)\n", shapes);
        return -1;
    }
    nreal = split_lines(data, size, &real);
    for (i = 0; i < AUTHORS; i++) {
        unsigned char sec[32];
        for (j = 0; j < 32; j++) sec[j] = (unsigned char)rnd();
        sec[0] = 0x42; /* below the curve order */
        if (nostr_keys_from_secret(ctx, sec, &keys[i]) != NOSTR_OK) return -1;
        nostr_hex_encode(keys[i].pub, 32, pubhex[i]);
    }
    f = fopen(path, "wb");
    if (!f) return -1;
    nostr_arena_init(&a, NULL, 0, NULL);
    nostr_buf_init(&out, NULL);
    for (i = 0; i < n; i++) {
        nostr_event shape, ev;
        size_t clen = 0, want;
        unsigned kind;
        if (nostr_event_parse(&shape, real[i % nreal].json, real[i % nreal].len, &a, NULL, NULL) != NOSTR_OK) {
            nostr_arena_reset(&a);
            i--;
            n--;
            continue;
        }
        kind = shape.kind == 5 ? 1 : shape.kind;
        want = shape.content.len > 65536 ? 65536 : shape.content.len;
        while (clen < want) {
            const char *w = words[rnd() % (sizeof words / sizeof words[0])];
            size_t wl = strlen(w);
            if (clen + wl + 1 > want) break;
            if (clen) content[clen++] = ' ';
            memcpy(content + clen, w, wl);
            clen += wl;
        }
        content[clen] = 0;
        nostr_event_init(&ev, &a, kind, 1700000000 + (long long)i * 3, content, clen);
        for (j = 0; j < shape.tag_count; j++) {
            const nostr_tag *t = &shape.tags[j];
            char name[64], value[80];
            if (!t->count) continue;
            snprintf(name, sizeof name, "%.*s", (int)(t->items[0].len < 63 ? t->items[0].len : 63), t->items[0].ptr);
            if (strcmp(name, "e") == 0 && i > 0)
                snprintf(value, sizeof value, "%s", idhex[rnd() % i]);
            else if (strcmp(name, "p") == 0 || strcmp(name, "e") == 0)
                snprintf(value, sizeof value, "%s", pubhex[rnd() % AUTHORS]);
            else if (strcmp(name, "d") == 0)
                snprintf(value, sizeof value, "d%llu", rnd() % 20);
            else if (strcmp(name, "expiration") == 0)
                continue;
            else
                snprintf(value, sizeof value, "v%llu", rnd() % 100);
            nostr_event_add_tag4(&ev, &a, name, value, NULL, NULL);
        }
        nostr_event_sign(ctx, &ev, &keys[rnd() % AUTHORS]);
        nostr_hex_encode(ev.id, 32, idhex[i]);
        nostr_buf_clear(&out);
        nostr_event_to_json(&ev, &out);
        nostr_buf_append_char(&out, '\n');
        fwrite(out.data, 1, out.len, f);
        nostr_arena_reset(&a);
        if (i % 10000 == 9999) fprintf(stderr, "  generated %zu events\n", i + 1);
    }
    fclose(f);
    fprintf(stderr, "generated %zu events in %.1f s -> %s\n", n, now_s() - t0, path);
    for (i = 0; i < AUTHORS; i++) nostr_keys_wipe(&keys[i]);
    nostr_buf_free(&out);
    nostr_arena_free(&a);
    nostr_ctx_free(ctx);
    free(keys);
    free(pubhex);
    free(idhex);
    free(content);
    free(real);
    free(data);
    return 0;
}

/* ---- the store ---- */

static void on_put(void *user, int result, const char *msg)
{
    size_t *bad = (size_t *)user;
    if (result < 0) {
        (*bad)++;
        fprintf(stderr, "put failed: %s\n", msg ? msg : "?");
    }
}

typedef struct tally {
    size_t rows, bytes;
} tally;

static void on_row(void *user, const char *json, size_t len)
{
    tally *t = (tally *)user;
    (void)json;
    t->rows++;
    t->bytes += len;
}

static void on_done(void *user, int rc, unsigned long long count)
{
    (void)user;
    (void)count;
    if (rc) fprintf(stderr, "query failed: %d\n", rc);
}

static nostr_pgwire *open_db(const char *conninfo)
{
    nostr_pgwire_config cfg;
    nostr_pgwire *s = NULL;
    nostr_error err;
    memset(&cfg, 0, sizeof cfg);
    cfg.conninfo = conninfo;
    cfg.create_schema = 1;
    if (nostr_pgwire_open(&s, &cfg, &err) != NOSTR_OK) {
        fprintf(stderr, "open %s: %s\n", conninfo, err.msg);
        exit(1);
    }
    return s;
}

static void exec_sql(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

/* A fresh database (dropped first) on the server of base; its conninfo. */
static void fresh_db(const char *base, const char *name, char *out, size_t outlen)
{
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", name);
    exec_sql(base, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    exec_sql(base, sql);
    snprintf(out, outlen, "%s dbname=%s", base, name);
}

/* Put the events (contact lists left out when skip_kind3), committing
 * every `batch`; prints and returns events/s, with the tag rows/s. */
static double load(const char *what, nostr_pgwire *s, line *ls, size_t n, size_t batch, int skip_kind3)
{
    nostr_store st = nostr_pgwire_iface(s);
    nostr_arena a;
    size_t i, j, bad = 0, done = 0, tag_rows = 0;
    double t;
    nostr_arena_init(&a, NULL, 0, NULL);
    t = now_s();
    for (i = 0; i < n; i++) {
        nostr_event ev;
        if (nostr_event_parse(&ev, ls[i].json, ls[i].len, &a, NULL, NULL) != NOSTR_OK) continue;
        if (skip_kind3 && ev.kind == 3) continue;
        for (j = 0; j < ev.tag_count; j++) tag_rows += ev.tags[j].count >= 2 && ev.tags[j].items[0].len == 1;
        st.put(st.self, &ev, ls[i].json, ls[i].len, on_put, &bad);
        if (++done % batch == 0) {
            nostr_pgwire_commit(s);
            nostr_arena_reset(&a);
        }
    }
    nostr_pgwire_commit(s);
    t = now_s() - t;
    nostr_arena_free(&a);
    if (bad) fprintf(stderr, "%zu puts failed\n", bad);
    printf("put, %-44s %6.0f events/s (%6.0f tag rows/s)\n", what, (double)done / t, (double)tag_rows / t);
    return (double)done / t;
}

typedef struct shape {
    const char *name;
    char **filters; /* JSON, one per query */
} shape;

static void percentiles(double *v, size_t n, double *p50, double *p99)
{
    qsort(v, n, sizeof *v, cmp_double);
    *p50 = v[n / 2];
    *p99 = v[n * 99 / 100];
}

/* Run each filter once; latency per query in ms into lat. */
static void run_queries(nostr_pgwire *s, char **filters, size_t n, double *lat, tally *rows)
{
    nostr_store st = nostr_pgwire_iface(s);
    nostr_arena a;
    size_t i;
    nostr_arena_init(&a, NULL, 0, NULL);
    for (i = 0; i < n; i++) {
        nostr_filter f;
        double t0;
        nostr_filter_parse(&f, filters[i], strlen(filters[i]), &a, NULL, NULL);
        t0 = now_s();
        st.query(st.self, &f, 1, 2000000000LL, on_row, on_done, rows);
        lat[i] = (now_s() - t0) * 1e3;
        nostr_arena_reset(&a);
    }
    nostr_arena_free(&a);
}

/* Pull a JSON string field's value from an event line (ids and pubkeys). */
static void field(const char *json, const char *key, char out[65])
{
    const char *p = strstr(json, key);
    out[0] = 0;
    if (p) snprintf(out, 65, "%.64s", p + strlen(key));
}

static void explain(nostr_pgwire *s, const char *title, const char *fj)
{
    nostr_filter f;
    nostr_arena a;
    nostr_buf out;
    nostr_arena_init(&a, NULL, 0, NULL);
    nostr_buf_init(&out, NULL);
    if (nostr_filter_parse(&f, fj, strlen(fj), &a, NULL, NULL) != NOSTR_OK) {
        fprintf(stderr, "bad filter %s\n", fj);
        return;
    }
    nostr_pgwire_explain(s, &f, 1, 2000000000LL, 1, &out);
    printf("### %s\n\nfilter: %s\n\n%s\n", title, fj, out.data ? out.data : "");
    nostr_buf_free(&out);
    nostr_arena_free(&a);
}

int main(int argc, char **argv)
{
    const char *conninfo = NULL, *shapes_path = "tests/data/events-real.jsonl";
    size_t nevents = 100000, nlines, i, q;
    int runs = 3, do_explain = 0, r;
    char path[256], base[600], ci100[700], ci1000[700], err[4096];
    static pg_harness pg;
    size_t size;
    char *data;
    line *ls;
    nostr_pgwire *s;
    enum { NQ = 1000, NSHAPES = 5 };
    shape shapes[NSHAPES];
    for (r = 1; r < argc; r++) {
        if (!strcmp(argv[r], "--conninfo") && r + 1 < argc)
            conninfo = argv[++r];
        else if (!strcmp(argv[r], "--events") && r + 1 < argc)
            nevents = (size_t)atol(argv[++r]);
        else if (!strcmp(argv[r], "--runs") && r + 1 < argc)
            runs = atoi(argv[++r]);
        else if (!strcmp(argv[r], "--shapes") && r + 1 < argc)
            shapes_path = argv[++r];
        else if (!strcmp(argv[r], "--explain"))
            do_explain = 1;
        else {
            fprintf(stderr, "usage: bench_pgwire [--conninfo CI] [--events N] [--runs R] [--shapes FILE] [--explain]\n");
            return 2;
        }
    }
    snprintf(path, sizeof path, "/tmp/nostr-bench-pgwire-%zu.jsonl", nevents);
    if (access(path, R_OK) != 0 && generate(shapes_path, path, nevents) != 0) return 1;
    data = read_all(path, &size);
    if (!data) return 1;
    nlines = split_lines(data, size, &ls);
    if (!conninfo) {
        if (pg_harness_start(&pg, err, sizeof err) != 0) {
            fprintf(stderr, "cannot start PostgreSQL: %s\n", err);
            return 1;
        }
        snprintf(base, sizeof base, "host=127.0.0.1 port=%d user=postgres connect_timeout=10", pg.port);
    } else {
        snprintf(base, sizeof base, "%s", conninfo);
    }
    printf("bench_pgwire: %zu events from %s\n", nlines, path);

    fresh_db(base, "bench100", ci100, sizeof ci100);
    s = open_db(ci100);
    load("commits of 100:", s, ls, nlines, 100, 0);
    nostr_pgwire_close(s);
    exec_sql(base, "DROP DATABASE IF EXISTS bench100");
    fresh_db(base, "bench_no3", ci100, sizeof ci100);
    s = open_db(ci100);
    load("commits of 1000, contact lists left out:", s, ls, nlines, 1000, 1);
    nostr_pgwire_close(s);
    exec_sql(base, "DROP DATABASE IF EXISTS bench_no3");
    fresh_db(base, "bench1000", ci1000, sizeof ci1000);
    s = open_db(ci1000);
    load("commits of 1000:", s, ls, nlines, 1000, 0);
    exec_sql(ci1000, "ANALYZE");
    {
        char sql[200];
        PGconn *c = PQconnectdb(ci1000);
        PGresult *res = PQexec(c, "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM tags)");
        if (PQresultStatus(res) == PGRES_TUPLES_OK)
            printf("stored: %s events, %s tag rows\n", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
        PQclear(res);
        PQfinish(c);
        (void)sql;
    }

    /* the query sets, from the stored events */
    for (q = 0; q < NSHAPES; q++) shapes[q].filters = (char **)calloc(NQ, sizeof(char *));
    shapes[0].name = "authors+limit 20";
    shapes[1].name = "kinds+limit 20";
    shapes[2].name = "#e";
    shapes[3].name = "#p+limit 20";
    shapes[4].name = "feed 100 authors";
    for (i = 0; i < NQ; i++) {
        const line *l = &ls[rnd() % nlines];
        char pk[65], ref[65];
        static const unsigned kinds[] = {1, 7, 0, 6, 30000};
        const char *e;
        field(l->json, "\"pubkey\":\"", pk);
        shapes[0].filters[i] = (char *)malloc(128);
        snprintf(shapes[0].filters[i], 128, "{\"authors\":[\"%s\"],\"limit\":20}", pk);
        shapes[1].filters[i] = (char *)malloc(64);
        snprintf(shapes[1].filters[i], 64, "{\"kinds\":[%u],\"limit\":20}", kinds[rnd() % 5]);
        /* an id some event names in an e tag */
        do {
            l = &ls[rnd() % nlines];
            e = strstr(l->json, "[\"e\",\"");
        } while (!e);
        snprintf(ref, sizeof ref, "%.64s", e + 6);
        shapes[2].filters[i] = (char *)malloc(128);
        snprintf(shapes[2].filters[i], 128, "{\"#e\":[\"%s\"]}", ref);
        field(ls[rnd() % nlines].json, "\"pubkey\":\"", pk);
        shapes[3].filters[i] = (char *)malloc(128);
        snprintf(shapes[3].filters[i], 128, "{\"#p\":[\"%s\"],\"limit\":20}", pk);
        /* a home feed: 100 follows, notes and reposts, newest 50 */
        {
            size_t k, off;
            char *fj = (char *)malloc(100 * 67 + 128);
            off = (size_t)sprintf(fj, "{\"authors\":[");
            for (k = 0; k < 100; k++) {
                field(ls[rnd() % nlines].json, "\"pubkey\":\"", pk);
                off += (size_t)sprintf(fj + off, "%s\"%s\"", k ? "," : "", pk);
            }
            sprintf(fj + off, "],\"kinds\":[1,6],\"limit\":50}");
            shapes[4].filters[i] = fj;
        }
    }
    for (q = 0; q < NSHAPES; q++) {
        double *p50s = (double *)malloc((size_t)runs * sizeof *p50s), *p99s = (double *)malloc((size_t)runs * sizeof *p99s);
        double *lat = (double *)malloc(NQ * sizeof *lat);
        tally rows = {0, 0};
        run_queries(s, shapes[q].filters, 50, lat, &rows); /* warm up */
        rows.rows = rows.bytes = 0;
        for (r = 0; r < runs; r++) {
            run_queries(s, shapes[q].filters, NQ, lat, &rows);
            percentiles(lat, NQ, &p50s[r], &p99s[r]);
        }
        printf("query %-18s p50 %6.3f ms  p99 %6.3f ms  (%.1f rows, %.0f KB per query; median of %d runs of %d)\n",
               shapes[q].name, median(p50s, runs), median(p99s, runs), (double)rows.rows / ((double)runs * NQ),
               (double)rows.bytes / 1024.0 / ((double)runs * NQ), runs, NQ);
        free(p50s);
        free(p99s);
        free(lat);
    }

    if (do_explain) {
        const line *l = &ls[nlines / 2];
        char pk[65], id[65], ref[65], fj[400];
        const char *e;
        field(l->json, "\"pubkey\":\"", pk);
        field(l->json, "\"id\":\"", id);
        for (i = nlines / 3; !(e = strstr(ls[i].json, "[\"e\",\"")); i++) {}
        snprintf(ref, sizeof ref, "%.64s", e + 6);
        printf("\n## EXPLAIN ANALYZE (%zu generated events)\n\n", nlines);
        snprintf(fj, sizeof fj, "{\"authors\":[\"%s\"],\"limit\":20}", pk);
        explain(s, "authors + limit", fj);
        snprintf(fj, sizeof fj, "{\"kinds\":[7],\"limit\":20}");
        explain(s, "kinds + limit", fj);
        snprintf(fj, sizeof fj, "{\"ids\":[\"%s\"]}", id);
        explain(s, "ids", fj);
        snprintf(fj, sizeof fj, "{\"#e\":[\"%s\"]}", ref);
        explain(s, "#e", fj);
        snprintf(fj, sizeof fj, "{\"#p\":[\"%s\"],\"limit\":20}", pk);
        explain(s, "#p + limit", fj);
        snprintf(fj, sizeof fj, "{\"since\":%lld,\"until\":%lld}", 1700000000LL + (long long)nlines, 1700000000LL + (long long)nlines + 300);
        explain(s, "since/until", fj);
        snprintf(fj, sizeof fj, "{\"authors\":[\"%s\"],\"kinds\":[1],\"limit\":20}", pk);
        explain(s, "authors + kinds + limit", fj);
        snprintf(fj, sizeof fj, "{\"search\":\"pura vida\",\"limit\":20}");
        explain(s, "search (a scan)", fj);
        snprintf(fj, sizeof fj, "{\"#e\":[\"%s\",\"%s\"],\"limit\":20}", ref, id);
        explain(s, "#e with two values + limit (a semi-join)", fj);
        explain(s, "feed: 100 authors + kinds + limit", shapes[4].filters[0]);
    }
    nostr_pgwire_close(s);
    for (q = 0; q < NSHAPES; q++) {
        for (i = 0; i < NQ; i++) free(shapes[q].filters[i]);
        free(shapes[q].filters);
    }
    free(ls);
    free(data);
    if (!conninfo) pg_harness_cleanup(&pg);
    return 0;
}
