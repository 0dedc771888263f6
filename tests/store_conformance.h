/* Store conformance suite: every semantic promised by the comment in
 * src/relay/store.h, asserted through the nostr_store interface only, so
 * the same checks run against every store (the built-in store in memory
 * and on disk, the pgwire store against PostgreSQL).
 *
 *   #include "test.h"
 *   #include "nostr_relay.h"
 *   #include "store_conformance.h"
 *   ...
 *   store_conformance_run(&iface, ctx);   the store must start empty
 *
 * Events are freshly signed with keys from fixed secret keys, created_at
 * in a fixed past range (around 2020-09) and ordinary kinds (1, 0, 3,
 * 5, 7, 10002, 30023), so a database store needs nothing special.
 *
 * Asynchronous stores: every call waits for its completion; while the
 * callback has not fired, the suite calls STORE_CONFORMANCE_WAIT(s)
 * (default: s->commit, when present) up to STORE_CONFORMANCE_SPINS times
 * and then fails the check. Define either macro before including this
 * file to change it (e.g. to poll a database socket). */
#ifndef STORE_CONFORMANCE_H
#define STORE_CONFORMANCE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef STORE_CONFORMANCE_WAIT
#define STORE_CONFORMANCE_WAIT(s) ((s)->commit ? (void)(s)->commit((s)->self) : (void)0)
#endif
#ifndef STORE_CONFORMANCE_SPINS
#define STORE_CONFORMANCE_SPINS 100000
#endif

#define SC_T0 1600000000LL           /* every created_at is SC_T0 + a small offset */
#define SC_NOW (SC_T0 + 100000000LL) /* "now" for queries: after every event */
#define SC_MAX_ROWS 256
#define SC_MAX_EVENTS 512

typedef struct sc_ev {
    nostr_event ev; /* tags and content in the suite's arena */
    char *json;     /* the text handed to put, NUL-terminated */
    size_t len;
} sc_ev;

typedef struct sc_suite {
    const nostr_store *s;
    nostr_ctx *ctx;
    nostr_keys keys[3]; /* A, B, C */
    nostr_arena arena;
    sc_ev *evs[SC_MAX_EVENTS];
    size_t nevs;
    char hex[16][65];
    unsigned hexi;
} sc_suite;

typedef struct sc_rows {
    sc_suite *S;
    unsigned char ids[SC_MAX_ROWS][32];
    size_t n;
    int fired, rc, verbatim_ok;
    unsigned long long count;
} sc_rows;

typedef struct sc_put_wait {
    int fired, result, calls;
} sc_put_wait;

enum { SC_A = 0, SC_B = 1, SC_C = 2 };

/* ---- plumbing ---- */

static const char *sc_hex(sc_suite *S, const unsigned char b[32])
{
    char *h = S->hex[S->hexi++ % 16];
    nostr_hex_encode(b, 32, h);
    return h;
}

static const char *sc_pub(sc_suite *S, int who)
{
    return sc_hex(S, S->keys[who].pub);
}

static void sc_wait(const nostr_store *s, const int *fired)
{
    long i;
    for (i = 0; !*fired && i < STORE_CONFORMANCE_SPINS; i++) STORE_CONFORMANCE_WAIT(s);
}

/* Build and sign an event; tags are strings "name|value|more", then NULL. */
static sc_ev *sc_make(sc_suite *S, int who, unsigned kind, long long created_at, const char *content, ...)
{
    sc_ev *e = (sc_ev *)calloc(1, sizeof *e);
    nostr_buf b;
    va_list ap;
    const char *t;
    if (!e || S->nevs == SC_MAX_EVENTS) abort();
    if (nostr_event_init(&e->ev, &S->arena, kind, created_at, content, strlen(content)) != NOSTR_OK) abort();
    va_start(ap, content);
    while ((t = va_arg(ap, const char *)) != NULL) {
        char copy[512];
        const char *items[8];
        size_t n = 0;
        char *p = copy;
        snprintf(copy, sizeof copy, "%s", t);
        items[n++] = p;
        while ((p = strchr(p, '|')) != NULL && n < 8) {
            *p++ = 0;
            items[n++] = p;
        }
        if (nostr_event_add_tag(&e->ev, &S->arena, items, n) != NOSTR_OK) abort();
    }
    va_end(ap);
    if (nostr_event_sign(S->ctx, &e->ev, &S->keys[who]) != NOSTR_OK) abort();
    nostr_buf_init(&b, NULL);
    if (nostr_event_to_json(&e->ev, &b) != NOSTR_OK) abort();
    e->json = b.data;
    e->len = b.len;
    S->evs[S->nevs++] = e;
    return e;
}

static void sc_put_done(void *user, int result, const char *msg)
{
    sc_put_wait *w = (sc_put_wait *)user;
    (void)msg;
    w->fired = 1;
    w->calls++;
    w->result = result;
}

/* put and wait: the NOSTR_STORE_* result, or a negative error. */
static int sc_put(sc_suite *S, const sc_ev *e)
{
    sc_put_wait w;
    int rc;
    memset(&w, 0, sizeof w);
    rc = S->s->put(S->s->self, &e->ev, e->json, e->len, sc_put_done, &w);
    CHECK_EQ(rc, NOSTR_OK);
    if (rc != NOSTR_OK) return rc;
    sc_wait(S->s, &w.fired);
    CHECK(w.fired);
    CHECK_EQ(w.calls, 1);
    return w.fired ? w.result : -1000;
}

static void sc_row(void *user, const char *json, size_t len)
{
    sc_rows *r = (sc_rows *)user;
    unsigned char mem[8192];
    nostr_arena a;
    nostr_event ev;
    size_t i;
    nostr_arena_init(&a, mem, sizeof mem, NULL);
    if (nostr_event_parse(&ev, json, len, &a, NULL, NULL) != NOSTR_OK) {
        r->verbatim_ok = 0;
    } else {
        int found = 0;
        for (i = 0; i < r->S->nevs; i++) {
            const sc_ev *e = r->S->evs[i];
            if (memcmp(e->ev.id, ev.id, 32) == 0) {
                found = 1;
                if (e->len != len || memcmp(e->json, json, len) != 0) r->verbatim_ok = 0;
            }
        }
        if (!found) r->verbatim_ok = 0;
        if (r->n < SC_MAX_ROWS) memcpy(r->ids[r->n], ev.id, 32);
        r->n++;
    }
    nostr_arena_free(&a);
}

static void sc_done(void *user, int rc, unsigned long long count)
{
    sc_rows *r = (sc_rows *)user;
    r->fired++;
    r->rc = rc;
    r->count = count;
}

/* Parse filters from JSON text ("{...}" each, printf-style). */
static nostr_filter sc_filter(sc_suite *S, const char *fmt, ...)
{
    char text[4096];
    nostr_filter f;
    nostr_error err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (nostr_filter_parse(&f, text, strlen(text), &S->arena, NULL, &err) != NOSTR_OK) {
        fprintf(stderr, "store_conformance: bad filter %s: %s\n", text, err.msg);
        abort();
    }
    return f;
}

static void sc_query(sc_suite *S, const nostr_filter *fs, size_t n, long long now, sc_rows *r)
{
    int rc;
    memset(r, 0, sizeof *r);
    r->S = S;
    r->verbatim_ok = 1;
    rc = S->s->query(S->s->self, fs, n, now, sc_row, sc_done, r);
    CHECK_EQ(rc, NOSTR_OK);
    if (rc != NOSTR_OK) return;
    sc_wait(S->s, &r->fired);
    CHECK_EQ(r->fired, 1);
    CHECK_EQ(r->rc, NOSTR_OK);
    CHECK_EQ(r->count, r->n);
    CHECK(r->verbatim_ok);
    CHECK(r->n <= SC_MAX_ROWS);
}

static unsigned long long sc_count(sc_suite *S, const nostr_filter *fs, size_t n, long long now)
{
    sc_rows r;
    int rc;
    memset(&r, 0, sizeof r);
    r.S = S;
    rc = S->s->count(S->s->self, fs, n, now, sc_done, &r);
    CHECK_EQ(rc, NOSTR_OK);
    if (rc != NOSTR_OK) return (unsigned long long)-1;
    sc_wait(S->s, &r.fired);
    CHECK_EQ(r.fired, 1);
    CHECK_EQ(r.rc, NOSTR_OK);
    return r.count;
}

/* The rows are exactly these events, in this order. */
static int sc_rows_are(const sc_rows *r, const sc_ev *const *want, size_t n)
{
    size_t i;
    if (r->n != n) return 0;
    for (i = 0; i < n; i++)
        if (memcmp(r->ids[i], want[i]->ev.id, 32) != 0) return 0;
    return 1;
}

/* The rows are these events in any order, each once. */
static int sc_rows_set(const sc_rows *r, const sc_ev *const *want, size_t n)
{
    size_t i, j;
    if (r->n != n) return 0;
    for (i = 0; i < n; i++) {
        size_t seen = 0;
        for (j = 0; j < r->n; j++) seen += memcmp(r->ids[j], want[i]->ev.id, 32) == 0;
        if (seen != 1) return 0;
    }
    return 1;
}

/* NIP-01 order: created_at descending, ties by id ascending. */
static int sc_order(const void *x, const void *y)
{
    const sc_ev *a = *(const sc_ev *const *)x, *b = *(const sc_ev *const *)y;
    if (a->ev.created_at != b->ev.created_at) return a->ev.created_at > b->ev.created_at ? -1 : 1;
    return memcmp(a->ev.id, b->ev.id, 32);
}

/* The rows are the first `limit` of these events in NIP-01 order. */
static int sc_rows_sorted(const sc_rows *r, size_t limit, const sc_ev **want, size_t n)
{
    qsort((void *)want, n, sizeof *want, sc_order);
    return sc_rows_are(r, want, n < limit ? n : limit);
}

#define SC_ROWS_SORTED(r, limit, ...)                                                                                  \
    do {                                                                                                               \
        const sc_ev *want_[] = {__VA_ARGS__};                                                                          \
        CHECK(sc_rows_sorted((r), (limit), want_, sizeof want_ / sizeof want_[0]));                                    \
    } while (0)
#define SC_ROWS_ARE(r, ...)                                                                                            \
    do {                                                                                                               \
        const sc_ev *want_[] = {__VA_ARGS__};                                                                          \
        CHECK(sc_rows_are((r), want_, sizeof want_ / sizeof want_[0]));                                                \
    } while (0)
#define SC_ROWS_SET(r, ...)                                                                                            \
    do {                                                                                                               \
        const sc_ev *want_[] = {__VA_ARGS__};                                                                          \
        CHECK(sc_rows_set((r), want_, sizeof want_ / sizeof want_[0]));                                                \
    } while (0)

static int sc_has(sc_suite *S, const sc_ev *e)
{
    return S->s->has ? S->s->has(S->s->self, e->ev.id) : -1;
}

/* ids compare as bytes (= as lowercase hex) */
static int sc_idcmp(const sc_ev *a, const sc_ev *b)
{
    return memcmp(a->ev.id, b->ev.id, 32);
}

/* Two signed events of (who, kind) at the same created_at, returned as
 * (lower id, higher id). */
static void sc_tied_pair(sc_suite *S, int who, unsigned kind, long long t, const char *d, sc_ev **lo, sc_ev **hi)
{
    char dtag[128];
    sc_ev *x, *y;
    snprintf(dtag, sizeof dtag, "d|%s", d ? d : "");
    x = d ? sc_make(S, who, kind, t, "tie one", dtag, (const char *)NULL)
          : sc_make(S, who, kind, t, "tie one", (const char *)NULL);
    y = d ? sc_make(S, who, kind, t, "tie two", dtag, (const char *)NULL)
          : sc_make(S, who, kind, t, "tie two", (const char *)NULL);
    if (sc_idcmp(x, y) < 0) {
        *lo = x;
        *hi = y;
    } else {
        *lo = y;
        *hi = x;
    }
}

/* ---- the semantics ---- */

/* Duplicates by id; has(). */
static void sc_test_duplicates(sc_suite *S)
{
    sc_ev *e = sc_make(S, SC_A, 1, SC_T0 + 10, "duplicate me", (const char *)NULL);
    sc_ev *never = sc_make(S, SC_A, 1, SC_T0 + 11, "never stored", (const char *)NULL);
    sc_rows r;
    nostr_filter f;
    test_current = "conformance: duplicates";
    CHECK(sc_has(S, e) != 1);
    CHECK_EQ(sc_put(S, e), NOSTR_STORE_SAVED);
    CHECK(sc_has(S, e) != 0);
    CHECK(sc_has(S, never) != 1);
    CHECK_EQ(sc_put(S, e), NOSTR_STORE_DUPLICATE);
    CHECK_EQ(sc_put(S, e), NOSTR_STORE_DUPLICATE);
    f = sc_filter(S, "{\"ids\":[\"%s\"]}", sc_hex(S, e->ev.id));
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, e);
    CHECK_EQ(sc_count(S, &f, 1, SC_NOW), 1);
}

/* Replaceable kinds: newest per pubkey+kind, ties to the lowest id. */
static void sc_test_replaceable(sc_suite *S)
{
    sc_ev *v1 = sc_make(S, SC_B, 0, SC_T0 + 100, "{\"name\":\"v1\"}", (const char *)NULL);
    sc_ev *v2 = sc_make(S, SC_B, 0, SC_T0 + 200, "{\"name\":\"v2\"}", (const char *)NULL);
    sc_ev *v0 = sc_make(S, SC_B, 0, SC_T0 + 50, "{\"name\":\"v0\"}", (const char *)NULL);
    sc_ev *other = sc_make(S, SC_C, 0, SC_T0 + 10, "{\"name\":\"c\"}", (const char *)NULL);
    sc_ev *c3 = sc_make(S, SC_B, 3, SC_T0 + 150, "",
                        "p|0000000000000000000000000000000000000000000000000000000000000001", (const char *)NULL);
    sc_ev *lo, *hi, *lo2, *hi2;
    sc_rows r;
    nostr_filter f;
    test_current = "conformance: replaceable";
    CHECK_EQ(sc_put(S, v1), NOSTR_STORE_SAVED);
    CHECK_EQ(sc_put(S, other), NOSTR_STORE_SAVED);
    CHECK_EQ(sc_put(S, c3), NOSTR_STORE_SAVED);
    CHECK_EQ(sc_put(S, v2), NOSTR_STORE_SAVED); /* replaces v1 */
    CHECK_EQ(sc_put(S, v0), NOSTR_STORE_SUPERSEDED);
    CHECK_EQ(sc_put(S, v2), NOSTR_STORE_DUPLICATE);
    f = sc_filter(S, "{\"authors\":[\"%s\"],\"kinds\":[0]}", sc_pub(S, SC_B));
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, v2);
    CHECK(sc_has(S, v1) != 1);
    CHECK(sc_has(S, v0) != 1);
    /* other authors' and other kinds' versions untouched */
    f = sc_filter(S, "{\"kinds\":[0,3],\"authors\":[\"%s\",\"%s\"]}", sc_pub(S, SC_B), sc_pub(S, SC_C));
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, v2, c3, other);

    /* tie on created_at: the lowest id wins, whichever comes first */
    sc_tied_pair(S, SC_A, 10002, SC_T0 + 300, NULL, &lo, &hi);
    CHECK_EQ(sc_put(S, hi), NOSTR_STORE_SAVED);
    CHECK_EQ(sc_put(S, lo), NOSTR_STORE_SAVED); /* replaces hi */
    CHECK_EQ(sc_put(S, hi), NOSTR_STORE_SUPERSEDED);
    f = sc_filter(S, "{\"authors\":[\"%s\"],\"kinds\":[10002]}", sc_pub(S, SC_A));
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, lo);
    sc_tied_pair(S, SC_A, 10003, SC_T0 + 300, NULL, &lo2, &hi2);
    CHECK_EQ(sc_put(S, lo2), NOSTR_STORE_SAVED);
    CHECK_EQ(sc_put(S, hi2), NOSTR_STORE_SUPERSEDED);
    f = sc_filter(S, "{\"authors\":[\"%s\"],\"kinds\":[10003]}", sc_pub(S, SC_A));
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, lo2);
    CHECK_EQ(sc_count(S, &f, 1, SC_NOW), 1);
}

/* Addressable kinds: newest per pubkey+kind+d tag (a missing d is ""). */
static void sc_test_addressable(sc_suite *S)
{
    sc_ev *a1 = sc_make(S, SC_C, 30023, SC_T0 + 100, "article a v1", "d|a", (const char *)NULL);
    sc_ev *a2 = sc_make(S, SC_C, 30023, SC_T0 + 200, "article a v2", "d|a", "t|blog", (const char *)NULL);
    sc_ev *b1 = sc_make(S, SC_C, 30023, SC_T0 + 150, "article b v1", "d|b", (const char *)NULL);
    sc_ev *n1 = sc_make(S, SC_C, 30023, SC_T0 + 120, "no d tag", (const char *)NULL);
    sc_ev *n2 = sc_make(S, SC_C, 30023, SC_T0 + 130, "empty d tag", "d|", (const char *)NULL);
    sc_ev *o1 = sc_make(S, SC_A, 30023, SC_T0 + 90, "A's article a", "d|a", (const char *)NULL);
    sc_ev *k1 = sc_make(S, SC_C, 30024, SC_T0 + 80, "other kind, same d", "d|a", (const char *)NULL);
    sc_ev *lo, *hi;
    sc_rows r;
    nostr_filter f;
    test_current = "conformance: addressable";
    CHECK_EQ(sc_put(S, a1), NOSTR_STORE_SAVED);
    CHECK_EQ(sc_put(S, b1), NOSTR_STORE_SAVED);
    CHECK_EQ(sc_put(S, o1), NOSTR_STORE_SAVED);
    CHECK_EQ(sc_put(S, k1), NOSTR_STORE_SAVED);
    CHECK_EQ(sc_put(S, a2), NOSTR_STORE_SAVED); /* replaces a1 only */
    CHECK_EQ(sc_put(S, a1), NOSTR_STORE_SUPERSEDED);
    CHECK_EQ(sc_put(S, n1), NOSTR_STORE_SAVED);
    CHECK_EQ(sc_put(S, n2), NOSTR_STORE_SAVED); /* d "" replaces no d */
    f = sc_filter(S, "{\"authors\":[\"%s\"],\"kinds\":[30023]}", sc_pub(S, SC_C));
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, a2, b1, n2);
    f = sc_filter(S, "{\"kinds\":[30023,30024],\"#d\":[\"a\"]}");
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, a2, o1, k1);
    /* tie on created_at: lowest id */
    sc_tied_pair(S, SC_C, 30023, SC_T0 + 400, "tie", &lo, &hi);
    CHECK_EQ(sc_put(S, hi), NOSTR_STORE_SAVED);
    CHECK_EQ(sc_put(S, lo), NOSTR_STORE_SAVED);
    CHECK_EQ(sc_put(S, hi), NOSTR_STORE_SUPERSEDED);
    f = sc_filter(S, "{\"kinds\":[30023],\"#d\":[\"tie\"]}");
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, lo);
}

/* NIP-09: e and a tags, own events only, deleted ids refused later. */
static void sc_test_deletion(sc_suite *S)
{
    char etag1[80], etag2[80], etag3[80], atag[200], atag_b[200], etag_future[80];
    sc_ev *e1 = sc_make(S, SC_A, 1, SC_T0 + 1000, "delete me", (const char *)NULL);
    sc_ev *e2 = sc_make(S, SC_A, 1, SC_T0 + 1001, "keep me", (const char *)NULL);
    sc_ev *b1 = sc_make(S, SC_B, 1, SC_T0 + 1002, "B's note, named by A's deletion", (const char *)NULL);
    sc_ev *art = sc_make(S, SC_A, 30023, SC_T0 + 1003, "article to delete", "d|gone", (const char *)NULL);
    sc_ev *art_keep = sc_make(S, SC_A, 30023, SC_T0 + 1004, "another article", "d|stays", (const char *)NULL);
    sc_ev *future = sc_make(S, SC_A, 1, SC_T0 + 1005, "deleted before it arrived", (const char *)NULL);
    sc_ev *future_b = NULL;
    sc_ev *del, *del_b, *art_old, *art_new, *e1_again;
    sc_rows r;
    nostr_filter f;
    test_current = "conformance: deletion";
    CHECK_EQ(sc_put(S, e1), NOSTR_STORE_SAVED);
    CHECK_EQ(sc_put(S, e2), NOSTR_STORE_SAVED);
    CHECK_EQ(sc_put(S, b1), NOSTR_STORE_SAVED);
    CHECK_EQ(sc_put(S, art), NOSTR_STORE_SAVED);
    CHECK_EQ(sc_put(S, art_keep), NOSTR_STORE_SAVED);
    snprintf(etag1, sizeof etag1, "e|%s", sc_hex(S, e1->ev.id));
    snprintf(etag2, sizeof etag2, "e|%s", sc_hex(S, b1->ev.id));
    snprintf(etag_future, sizeof etag_future, "e|%s", sc_hex(S, future->ev.id));
    snprintf(atag, sizeof atag, "a|30023:%s:gone", sc_pub(S, SC_A));
    del = sc_make(S, SC_A, 5, SC_T0 + 1100, "", etag1, etag2, atag, etag_future, "k|1", (const char *)NULL);
    CHECK_EQ(sc_put(S, del), NOSTR_STORE_SAVED);
    /* B's deletion naming A's events by e and a tag changes nothing */
    snprintf(etag3, sizeof etag3, "e|%s", sc_hex(S, e2->ev.id));
    snprintf(atag_b, sizeof atag_b, "a|30023:%s:stays", sc_pub(S, SC_A));
    del_b = sc_make(S, SC_B, 5, SC_T0 + 1101, "not yours", etag3, atag_b, (const char *)NULL);
    CHECK_EQ(sc_put(S, del_b), NOSTR_STORE_SAVED);

    f = sc_filter(S, "{\"authors\":[\"%s\",\"%s\"],\"since\":%lld,\"until\":%lld}", sc_pub(S, SC_A), sc_pub(S, SC_B),
                  SC_T0 + 1000, SC_T0 + 1200);
    sc_query(S, &f, 1, SC_NOW, &r);
    /* the deletions are stored; e1 and the article are gone; B's note is not A's to delete */
    SC_ROWS_ARE(&r, del_b, del, art_keep, b1, e2);
    CHECK(sc_has(S, e1) != 1);
    CHECK(sc_has(S, art) != 1);
    CHECK(sc_has(S, del) != 0);
    f = sc_filter(S, "{\"ids\":[\"%s\",\"%s\"]}", sc_hex(S, e1->ev.id), sc_hex(S, art->ev.id));
    CHECK_EQ(sc_count(S, &f, 1, SC_NOW), 0);
    f = sc_filter(S, "{\"kinds\":[5],\"#e\":[\"%s\"]}", sc_hex(S, e1->ev.id));
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, del);

    /* deleted ids are refused later */
    CHECK_EQ(sc_put(S, e1), NOSTR_STORE_DELETED);
    CHECK_EQ(sc_put(S, art), NOSTR_STORE_DELETED);
    /* an event named by its author's deletion before it arrived */
    CHECK_EQ(sc_put(S, future), NOSTR_STORE_DELETED);
    CHECK(sc_has(S, future) != 1);
    /* the a coordinate: versions up to the deletion's created_at refused, newer ones stored */
    art_old = sc_make(S, SC_A, 30023, SC_T0 + 1100, "older version, deleted", "d|gone", (const char *)NULL);
    art_new = sc_make(S, SC_A, 30023, SC_T0 + 1101, "new version after deletion", "d|gone", (const char *)NULL);
    CHECK_EQ(sc_put(S, art_old), NOSTR_STORE_DELETED);
    CHECK_EQ(sc_put(S, art_new), NOSTR_STORE_SAVED);
    f = sc_filter(S, "{\"kinds\":[30023],\"#d\":[\"gone\"]}");
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, art_new);
    /* a different event with the same content by another author is not deleted */
    e1_again = sc_make(S, SC_C, 1, SC_T0 + 1000, "delete me", (const char *)NULL);
    CHECK_EQ(sc_put(S, e1_again), NOSTR_STORE_SAVED);
    /* an id named by another author's deletion is accepted from its author */
    {
        char et[80];
        sc_ev *del_c;
        future_b = sc_make(S, SC_B, 1, SC_T0 + 1006, "C named me first", (const char *)NULL);
        snprintf(et, sizeof et, "e|%s", sc_hex(S, future_b->ev.id));
        del_c = sc_make(S, SC_C, 5, SC_T0 + 1102, "", et, (const char *)NULL);
        CHECK_EQ(sc_put(S, del_c), NOSTR_STORE_SAVED);
        CHECK_EQ(sc_put(S, future_b), NOSTR_STORE_SAVED);
    }
    f = sc_filter(S, "{\"ids\":[\"%s\",\"%s\",\"%s\"]}", sc_hex(S, future_b->ev.id), sc_hex(S, e2->ev.id),
                  sc_hex(S, art_keep->ev.id));
    CHECK_EQ(sc_count(S, &f, 1, SC_NOW), 3);
}

/* NIP-40: expired events hidden at query time, then purged. */
static void sc_test_expiration(sc_suite *S)
{
    char exp1[64], exp2[64];
    sc_ev *x1, *x2, *plain;
    sc_rows r;
    nostr_filter f;
    long long purged;
    test_current = "conformance: expiration";
    snprintf(exp1, sizeof exp1, "expiration|%lld", SC_T0 + 5000);
    snprintf(exp2, sizeof exp2, "expiration|%lld", SC_T0 + 6000);
    x1 = sc_make(S, SC_B, 7, SC_T0 + 2000, "+", exp1, (const char *)NULL);
    x2 = sc_make(S, SC_B, 7, SC_T0 + 2001, "-", exp2, (const char *)NULL);
    plain = sc_make(S, SC_B, 7, SC_T0 + 2002, "=", (const char *)NULL);
    CHECK_EQ(sc_put(S, x1), NOSTR_STORE_SAVED);
    CHECK_EQ(sc_put(S, x2), NOSTR_STORE_SAVED);
    CHECK_EQ(sc_put(S, plain), NOSTR_STORE_SAVED);
    f = sc_filter(S, "{\"kinds\":[7]}");
    sc_query(S, &f, 1, SC_T0 + 4999, &r);
    SC_ROWS_ARE(&r, plain, x2, x1);
    sc_query(S, &f, 1, SC_T0 + 5000, &r); /* expiration <= now: hidden */
    SC_ROWS_ARE(&r, plain, x2);
    CHECK_EQ(sc_count(S, &f, 1, SC_T0 + 5000), 2);
    CHECK_EQ(sc_count(S, &f, 1, SC_T0 + 4000), 3);
    f = sc_filter(S, "{\"ids\":[\"%s\"]}", sc_hex(S, x1->ev.id));
    sc_query(S, &f, 1, SC_T0 + 5001, &r);
    CHECK_EQ(r.n, 0);
    /* purge at T0+5500 removes x1 only */
    purged = S->s->purge(S->s->self, SC_T0 + 5500);
    CHECK_EQ(purged, 1);
    f = sc_filter(S, "{\"kinds\":[7]}");
    sc_query(S, &f, 1, SC_T0 + 3000, &r);
    SC_ROWS_ARE(&r, plain, x2);
    CHECK(sc_has(S, x1) != 1);
    purged = S->s->purge(S->s->self, SC_T0 + 5500);
    CHECK_EQ(purged, 0);
    purged = S->s->purge(S->s->self, SC_NOW);
    CHECK_EQ(purged, 1);
    sc_query(S, &f, 1, SC_T0, &r);
    SC_ROWS_ARE(&r, plain);
}

/* NIP-50: every word of the query in content, ASCII case-insensitive. */
static void sc_test_search(sc_suite *S)
{
    sc_ev *s1 = sc_make(S, SC_C, 1, SC_T0 + 3000, "The Quick brown fox jumps", (const char *)NULL);
    sc_ev *s2 = sc_make(S, SC_C, 1, SC_T0 + 3001, "a quick dog", (const char *)NULL);
    sc_ev *s3 = sc_make(S, SC_C, 1, SC_T0 + 3002, "lazy CAT, sleeping", (const char *)NULL);
    sc_rows r;
    nostr_filter f;
    const char *c = sc_pub(S, SC_C);
    test_current = "conformance: search";
    CHECK_EQ(sc_put(S, s1), NOSTR_STORE_SAVED);
    CHECK_EQ(sc_put(S, s2), NOSTR_STORE_SAVED);
    CHECK_EQ(sc_put(S, s3), NOSTR_STORE_SAVED);
    f = sc_filter(S, "{\"authors\":[\"%s\"],\"kinds\":[1],\"search\":\"quick\"}", c);
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, s2, s1);
    f = sc_filter(S, "{\"authors\":[\"%s\"],\"search\":\"QUICK  fox\"}", c);
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, s1);
    f = sc_filter(S, "{\"authors\":[\"%s\"],\"search\":\"cat\"}", c);
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, s3);
    CHECK_EQ(sc_count(S, &f, 1, SC_NOW), 1);
    f = sc_filter(S, "{\"authors\":[\"%s\"],\"search\":\"fox cat\"}", c);
    sc_query(S, &f, 1, SC_NOW, &r);
    CHECK_EQ(r.n, 0);
    f = sc_filter(S, "{\"search\":\"quick\",\"limit\":1}");
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, s2);
}

/* Filters, ordering, limits, several filters, count. */
static void sc_test_queries(sc_suite *S)
{
    enum { N = 12 };
    sc_ev *ev[N];
    sc_ev *lo, *hi;
    char ptag[80], etag[80];
    const char *a, *b;
    sc_rows r;
    nostr_filter f, f2, fs[3];
    long long t = SC_T0 + 10000;
    int i;
    test_current = "conformance: queries";
    snprintf(ptag, sizeof ptag, "p|%s", sc_pub(S, SC_B));
    /* A: kind 1 at t+0..t+5, tag t topic(i%3), odd: p B, even: T Upper */
    for (i = 0; i < 6; i++) {
        char content[64], ttag[32];
        snprintf(content, sizeof content, "query note %d", i);
        snprintf(ttag, sizeof ttag, "t|topic%d", i % 3);
        ev[i] = sc_make(S, SC_A, 1, t + i, content, ttag, i % 2 ? ptag : "T|Upper", (const char *)NULL);
    }
    /* B: kind 1111 at t+2..t+7 (ties with A's at t+2..t+5), e ev0, t topic1 */
    snprintf(etag, sizeof etag, "e|%s", sc_hex(S, ev[0]->ev.id));
    for (i = 6; i < N; i++) {
        char content[64];
        snprintf(content, sizeof content, "reply %d", i);
        ev[i] = sc_make(S, SC_B, 1111, t + i - 4, content, etag, "t|topic1", (const char *)NULL);
    }
    for (i = N - 1; i >= 0; i--) CHECK_EQ(sc_put(S, ev[i]), NOSTR_STORE_SAVED);
    sc_tied_pair(S, SC_C, 1, t + 100, NULL, &lo, &hi);
    CHECK_EQ(sc_put(S, hi), NOSTR_STORE_SAVED); /* regular kind: both stay */
    CHECK_EQ(sc_put(S, lo), NOSTR_STORE_SAVED);
    a = sc_pub(S, SC_A);
    b = sc_pub(S, SC_B);

    /* order: created_at descending, ties by id ascending */
    f = sc_filter(S, "{\"since\":%lld}", t);
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_SORTED(&r, 100, lo, hi, ev[0], ev[1], ev[2], ev[3], ev[4], ev[5], ev[6], ev[7], ev[8], ev[9], ev[10],
                   ev[11]);
    CHECK(memcmp(r.ids[0], lo->ev.id, 32) == 0);
    CHECK_EQ(sc_count(S, &f, 1, SC_NOW), 14);
    f = sc_filter(S, "{\"since\":%lld,\"until\":%lld}", t + 100, t + 100);
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, lo, hi);
    f = sc_filter(S, "{\"since\":%lld,\"until\":%lld,\"limit\":1}", t + 100, t + 100);
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, lo);
    f = sc_filter(S, "{\"since\":%lld,\"limit\":7}", t);
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_SORTED(&r, 7, lo, hi, ev[0], ev[1], ev[2], ev[3], ev[4], ev[5], ev[6], ev[7], ev[8], ev[9], ev[10], ev[11]);
    CHECK_EQ(sc_count(S, &f, 1, SC_NOW), 14);                          /* count ignores limit */
    f = sc_filter(S, "{\"until\":%lld,\"since\":%lld}", t + 4, t + 3); /* both bounds inclusive */
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_SORTED(&r, 100, ev[3], ev[4], ev[7], ev[8]);

    /* authors (+ kinds, since, until, limit) */
    f = sc_filter(S, "{\"authors\":[\"%s\"],\"limit\":3}", a);
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, ev[5], ev[4], ev[3]);
    f = sc_filter(S, "{\"authors\":[\"%s\"],\"kinds\":[1],\"since\":%lld,\"limit\":3}", a, t);
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, ev[5], ev[4], ev[3]);
    f = sc_filter(S, "{\"authors\":[\"%s\",\"%s\"],\"since\":%lld,\"until\":%lld}", a, b, t + 3, t + 5);
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_SORTED(&r, 100, ev[3], ev[4], ev[5], ev[7], ev[8], ev[9]);
    f = sc_filter(S, "{\"authors\":[\"%s\",\"%s\"],\"since\":%lld,\"limit\":5}", a, b, t);
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_SORTED(&r, 5, ev[0], ev[1], ev[2], ev[3], ev[4], ev[5], ev[6], ev[7], ev[8], ev[9], ev[10], ev[11]);
    /* limit 0: no rows; count ignores it */
    f = sc_filter(S, "{\"authors\":[\"%s\"],\"limit\":0}", a);
    f2 = sc_filter(S, "{\"authors\":[\"%s\"]}", a);
    sc_query(S, &f, 1, SC_NOW, &r);
    CHECK_EQ(r.n, 0);
    CHECK(sc_count(S, &f2, 1, SC_NOW) >= 6);
    CHECK_EQ(sc_count(S, &f, 1, SC_NOW), sc_count(S, &f2, 1, SC_NOW));

    /* ids */
    f = sc_filter(S, "{\"ids\":[\"%s\",\"%s\",\"%s\"]}", sc_hex(S, ev[0]->ev.id), sc_hex(S, ev[7]->ev.id),
                  sc_hex(S, ev[2]->ev.id));
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, ev[7], ev[2], ev[0]);
    f = sc_filter(S, "{\"ids\":[\"%s\",\"%s\"],\"kinds\":[1111]}", sc_hex(S, ev[0]->ev.id), sc_hex(S, ev[7]->ev.id));
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, ev[7]);
    f = sc_filter(S, "{\"ids\":[\"%s\",\"%s\",\"%s\"],\"limit\":2}", sc_hex(S, ev[0]->ev.id), sc_hex(S, ev[7]->ev.id),
                  sc_hex(S, ev[2]->ev.id));
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, ev[7], ev[2]);
    f = sc_filter(S, "{\"ids\":[\"%s\",\"%s\"]}", sc_hex(S, ev[6]->ev.id), sc_hex(S, ev[2]->ev.id)); /* tie */
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_SORTED(&r, 100, ev[2], ev[6]);

    /* kinds */
    f = sc_filter(S, "{\"kinds\":[1111]}");
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, ev[11], ev[10], ev[9], ev[8], ev[7], ev[6]);
    f = sc_filter(S, "{\"kinds\":[1111,1],\"since\":%lld,\"limit\":4}", t);
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, lo, hi, ev[11], ev[10]);
    f = sc_filter(S, "{\"kinds\":[1111,1],\"since\":%lld,\"until\":%lld}", t + 2, t + 2);
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_SORTED(&r, 100, ev[2], ev[6]);

    /* tags: #e, #p, uppercase #T, several values, several tags */
    f = sc_filter(S, "{\"#e\":[\"%s\"],\"limit\":2}", sc_hex(S, ev[0]->ev.id));
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, ev[11], ev[10]);
    f = sc_filter(S, "{\"#p\":[\"%s\"]}", b);
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, ev[5], ev[3], ev[1]);
    f = sc_filter(S, "{\"#T\":[\"Upper\"]}");
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, ev[4], ev[2], ev[0]);
    f = sc_filter(S, "{\"#t\":[\"upper\"]}");
    sc_query(S, &f, 1, SC_NOW, &r);
    CHECK_EQ(r.n, 0);
    f = sc_filter(S, "{\"#t\":[\"topic0\",\"topic2\"],\"authors\":[\"%s\"]}", a);
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, ev[5], ev[3], ev[2], ev[0]);
    f = sc_filter(S, "{\"#t\":[\"topic1\"],\"#p\":[\"%s\"]}", b);
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, ev[1]);
    f = sc_filter(S, "{\"#t\":[\"topic1\"],\"until\":%lld}", t + 3);
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_ARE(&r, ev[7], ev[6], ev[1]);
    CHECK_EQ(sc_count(S, &f, 1, SC_NOW), 3);
    f = sc_filter(S, "{\"#t\":[\"topic1\",\"topic2\"],\"since\":%lld,\"limit\":4}", t + 2);
    sc_query(S, &f, 1, SC_NOW, &r);
    SC_ROWS_SORTED(&r, 4, ev[2], ev[4], ev[5], ev[6], ev[7], ev[8], ev[9], ev[10], ev[11]);

    /* empty lists match nothing */
    f = sc_filter(S, "{\"authors\":[]}");
    sc_query(S, &f, 1, SC_NOW, &r);
    CHECK_EQ(r.n, 0);
    f = sc_filter(S, "{\"kinds\":[1],\"#t\":[]}");
    CHECK_EQ(sc_count(S, &f, 1, SC_NOW), 0);
    /* an empty list beside a full one: authors x kinds has no pairs */
    f = sc_filter(S, "{\"authors\":[\"%s\"],\"kinds\":[]}", a);
    sc_query(S, &f, 1, SC_NOW, &r);
    CHECK_EQ(r.n, 0);
    CHECK_EQ(sc_count(S, &f, 1, SC_NOW), 0);
    f = sc_filter(S, "{\"authors\":[],\"kinds\":[1],\"#t\":[\"topic1\"]}");
    sc_query(S, &f, 1, SC_NOW, &r);
    CHECK_EQ(r.n, 0);
    CHECK_EQ(sc_count(S, &f, 1, SC_NOW), 0);

    /* several filters: each filter's limit, the union sent once */
    fs[0] = sc_filter(S, "{\"authors\":[\"%s\"],\"since\":%lld,\"limit\":2}", a, t);                     /* ev5 ev4 */
    fs[1] = sc_filter(S, "{\"#t\":[\"topic2\"],\"since\":%lld,\"limit\":2}", t);                         /* ev5 ev2 */
    fs[2] = sc_filter(S, "{\"ids\":[\"%s\",\"%s\"]}", sc_hex(S, ev[4]->ev.id), sc_hex(S, ev[6]->ev.id)); /* ev6 ev4 */
    sc_query(S, fs, 3, SC_NOW, &r);
    SC_ROWS_SET(&r, ev[5], ev[4], ev[2], ev[6]);
    CHECK_EQ(sc_count(S, fs, 3, SC_NOW), 7);                                         /* ev0..ev5 and ev6 */
    fs[0] = sc_filter(S, "{\"kinds\":[1],\"since\":%lld,\"limit\":3}", t);           /* lo hi ev5 */
    fs[1] = sc_filter(S, "{\"authors\":[\"%s\"],\"since\":%lld,\"limit\":3}", b, t); /* ev11 ev10 ev9 */
    sc_query(S, fs, 2, SC_NOW, &r);
    SC_ROWS_SET(&r, lo, hi, ev[5], ev[11], ev[10], ev[9]);
    CHECK_EQ(sc_count(S, fs, 2, SC_NOW), 14);
    /* the same filter twice: each event once */
    fs[0] = sc_filter(S, "{\"kinds\":[1111]}");
    fs[1] = fs[0];
    sc_query(S, fs, 2, SC_NOW, &r);
    SC_ROWS_SET(&r, ev[11], ev[10], ev[9], ev[8], ev[7], ev[6]);
    CHECK_EQ(sc_count(S, fs, 2, SC_NOW), 6);
    /* no filters: nothing */
    sc_query(S, fs, 0, SC_NOW, &r);
    CHECK_EQ(r.n, 0);
    CHECK_EQ(sc_count(S, fs, 0, SC_NOW), 0);
}

/* Run every check. s must be empty; ctx signs the events. */
static void store_conformance_run(const nostr_store *s, nostr_ctx *ctx)
{
    sc_suite *S = (sc_suite *)calloc(1, sizeof *S);
    unsigned char sec[32];
    size_t i;
    int k;
    if (!S) abort();
    S->s = s;
    S->ctx = ctx;
    for (k = 0; k < 3; k++) {
        memset(sec, 0, sizeof sec);
        sec[31] = (unsigned char)(0x51 + k);
        sec[0] = 0x5c;
        if (nostr_keys_from_secret(ctx, sec, &S->keys[k]) != NOSTR_OK) abort();
    }
    nostr_arena_init(&S->arena, NULL, 0, NULL);
    sc_test_duplicates(S);
    sc_test_replaceable(S);
    sc_test_addressable(S);
    sc_test_deletion(S);
    sc_test_expiration(S);
    sc_test_search(S);
    sc_test_queries(S);
    for (i = 0; i < S->nevs; i++) {
        free(S->evs[i]->json);
        free(S->evs[i]);
    }
    nostr_arena_free(&S->arena);
    for (k = 0; k < 3; k++) nostr_keys_wipe(&S->keys[k]);
    free(S);
}

#endif
