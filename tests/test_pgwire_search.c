/* NIP-50 search in the pgwire store against a real PostgreSQL (started by
 * tests/pg_harness.h, like test_pgwire.c). Covers: the words table written
 * at put (distinct words, ASCII lowered, split on non-alphanumeric ASCII,
 * UTF-8 kept inside words, 2..40 bytes with longer words cut, at most 64
 * per event); hits, misses, several words (all must be there),
 * case-insensitivity, whole words, punctuation and short terms (LIKE);
 * search with since/until, kinds, authors, a tag, several filters, COUNT;
 * words rows removed with deleted, replaced and expired events; the plan
 * reads words_word_idx and never scans events; an old database without
 * the words table: search still answers (a scan) when opened without
 * create_schema, and the table is filled when opened with it. */
#define _GNU_SOURCE
#include "pg_harness.h"
#include "test.h"
#include "nostr_relay.h"

#ifndef NOSTR_WITH_PGWIRE
#error "test_pgwire_search needs the build's NOSTR_WITH_PGWIRE"
#endif

static pg_harness pg;
static nostr_ctx *ctx;
static int db_seq;
static nostr_arena arena;

static void fresh_db(char *out, size_t outlen)
{
    char sql[64], name[32], err[512];
    snprintf(name, sizeof name, "s%d", ++db_seq);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    if (pg_harness_exec(&pg, sql, err, sizeof err) != 0) fprintf(stderr, "%s\n", err);
    pg_harness_conninfo_db(&pg, name, out, outlen);
}

static nostr_pgwire *open_store(const char *conninfo, int create)
{
    nostr_pgwire_config cfg;
    nostr_pgwire *s = NULL;
    nostr_error err;
    memset(&cfg, 0, sizeof cfg);
    cfg.conninfo = conninfo;
    cfg.create_schema = create;
    if (nostr_pgwire_open(&s, &cfg, &err) != NOSTR_OK) fprintf(stderr, "open: %s\n", err.msg ? err.msg : "?");
    return s;
}

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

typedef struct made {
    nostr_event ev;
    char *json;
    size_t len;
} made;

static nostr_keys key_of(int who)
{
    unsigned char sec[32];
    nostr_keys k;
    memset(sec, 0x21 * (who + 1), sizeof sec);
    if (nostr_keys_from_secret(ctx, sec, &k) != NOSTR_OK) abort();
    return k;
}

static made make(int who, unsigned kind, long long at, const char *content, const char *tag, const char *value)
{
    made m;
    nostr_keys k = key_of(who);
    nostr_buf b;
    if (nostr_event_init(&m.ev, &arena, kind, at, content, strlen(content)) != NOSTR_OK) abort();
    if (tag && nostr_event_add_tag4(&m.ev, &arena, tag, value, NULL, NULL) != NOSTR_OK) abort();
    if (nostr_event_sign(ctx, &m.ev, &k) != NOSTR_OK) abort();
    nostr_buf_init(&b, NULL);
    nostr_event_to_json(&m.ev, &b);
    m.json = nostr_arena_strdup(&arena, b.data, b.len);
    m.len = b.len;
    nostr_buf_free(&b);
    nostr_keys_wipe(&k);
    return m;
}

static int last_result;

static void on_put(void *user, int result, const char *msg)
{
    (void)user;
    (void)msg;
    last_result = result;
}

/* Put and commit one event; its result. */
static int save(nostr_store *st, nostr_pgwire *s, const made *m)
{
    last_result = -100;
    if (st->put(st->self, &m->ev, m->json, m->len, on_put, NULL) != NOSTR_OK) return -101;
    if (nostr_pgwire_commit(s) != NOSTR_OK) return -102;
    return last_result;
}

typedef struct rows {
    char json[16][1024];
    size_t n;
    int done;
} rows;

static void on_row(void *user, const char *json, size_t len)
{
    rows *r = (rows *)user;
    if (r->n < 16 && len < sizeof r->json[0]) {
        memcpy(r->json[r->n], json, len);
        r->json[r->n][len] = 0;
    }
    r->n++;
}

static void on_done(void *user, int rc, unsigned long long count)
{
    (void)rc;
    (void)count;
    ((rows *)user)->done++;
}

static unsigned long long counted;

static void on_count(void *user, int rc, unsigned long long count)
{
    (void)user;
    (void)rc;
    counted = count;
}

static nostr_filter parse(const char *fj)
{
    nostr_filter f;
    nostr_error err;
    if (nostr_filter_parse(&f, fj, strlen(fj), &arena, NULL, &err) != NOSTR_OK) {
        fprintf(stderr, "bad filter %s: %s\n", fj, err.msg);
        abort();
    }
    return f;
}

/* How many events a filter (JSON) returns at time now. */
static long nq_at(nostr_store *st, const char *fj, long long now, rows *r)
{
    nostr_filter f = parse(fj);
    memset(r, 0, sizeof *r);
    if (st->query(st->self, &f, 1, now, on_row, on_done, r) != NOSTR_OK || r->done != 1) return -1;
    return (long)r->n;
}

static long nq(nostr_store *st, const char *fj)
{
    rows r;
    return nq_at(st, fj, 2000000000LL, &r);
}

/* The first row's JSON is m's. */
static int first_is(nostr_store *st, const char *fj, const made *m)
{
    rows r;
    return nq_at(st, fj, 2000000000LL, &r) >= 1 && strcmp(r.json[0], m->json) == 0;
}

static long long words_of(const char *ci, const made *m)
{
    char sql[200], hex[65];
    nostr_hex_encode(m->ev.id, 32, hex);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM words WHERE event_id = '\\x%s'", hex);
    return sql_number(ci, sql);
}

/* The plan of one filter (EXPLAIN), as text in out (freed by the caller). */
static char *explain(nostr_pgwire *s, const char *fj, int analyze)
{
    nostr_filter f = parse(fj);
    nostr_buf out;
    nostr_buf_init(&out, NULL);
    if (nostr_pgwire_explain(s, &f, 1, 2000000000LL, analyze, &out) != NOSTR_OK || nostr_buf_append_char(&out, 0)) {
        nostr_buf_free(&out);
        return NULL;
    }
    return out.data;
}

static int index_scan(const char *plan)
{
    return plan && strstr(plan, "words_word_idx") && !strstr(plan, "Seq Scan on events") &&
           !strstr(plan, "Seq Scan on words");
}

/* ---- tests ---- */

static void test_words_and_matching(void)
{
    char ci[256], longw[128], filter[512];
    nostr_pgwire *s;
    nostr_store st;
    made m1, m2, m3, m4, m5, m6, m7;
    size_t i;
    fresh_db(ci, sizeof ci);
    s = open_store(ci, 1);
    CHECK(s != NULL);
    if (!s) return;
    st = nostr_pgwire_iface(s);
    m1 = make(0, 1, 1700000001, "The Quick brown fox, the QUICK dog!", NULL, NULL);
    m2 = make(1, 1, 1700000002, "quick thinking; e-mail me at foo-bar.example", NULL, NULL);
    m3 = make(0, 1, 1700000003, "caf\xc3\xa9 cr\xc3\xa8me \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e I x 7", NULL, NULL);
    m4 = make(1, 7, 1700000004, "Bitcoin BITCOIN bitcoin", "t", "coins");
    /* a word of 60 bytes: indexed by its first 40 */
    for (i = 0; i < 60; i++) longw[i] = (char)('a' + i % 26);
    longw[60] = 0;
    {
        char content[200];
        snprintf(content, sizeof content, "long %s end", longw);
        m5 = make(0, 1, 1700000005, content, NULL, NULL);
    }
    m6 = make(0, 1, 1700000006, "50% off a_b", NULL, NULL);
    {
        /* 100 distinct words: only the first 64 are indexed */
        char content[1200];
        size_t n = 0;
        for (i = 0; i < 100; i++) n += (size_t)snprintf(content + n, sizeof content - n, "w%03zu ", i);
        m7 = make(2, 1, 1700000007, content, NULL, NULL);
    }
    CHECK_EQ(save(&st, s, &m1), NOSTR_STORE_SAVED);
    CHECK_EQ(save(&st, s, &m2), NOSTR_STORE_SAVED);
    CHECK_EQ(save(&st, s, &m3), NOSTR_STORE_SAVED);
    CHECK_EQ(save(&st, s, &m4), NOSTR_STORE_SAVED);
    CHECK_EQ(save(&st, s, &m5), NOSTR_STORE_SAVED);
    CHECK_EQ(save(&st, s, &m6), NOSTR_STORE_SAVED);
    CHECK_EQ(save(&st, s, &m7), NOSTR_STORE_SAVED);

    /* the rows: distinct, lowered, split on ASCII punctuation, >= 2 bytes */
    CHECK_EQ(words_of(ci, &m1), 5); /* the quick brown fox dog: "the" and "quick" once */
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM words WHERE word IN ('the','quick','brown','fox','dog')"), 6);
    CHECK_EQ(words_of(ci, &m2), 8); /* quick thinking mail me at foo bar example; not "e" */
    CHECK_EQ(words_of(ci, &m3), 3); /* café crème 日本語; "I" "x" "7" too short */
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM words WHERE word = 'caf\xc3\xa9'"), 1);
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM words WHERE word = '\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e'"), 1);
    CHECK_EQ(words_of(ci, &m4), 1);
    CHECK_EQ(sql_number(ci, "SELECT max(octet_length(word)) FROM words"), 40);
    CHECK_EQ(words_of(ci, &m7), 64);

    /* hits, misses, all words, case */
    CHECK_EQ(nq(&st, "{\"search\":\"quick\"}"), 2);
    CHECK_EQ(nq(&st, "{\"search\":\"QuIcK\"}"), 2);
    CHECK(first_is(&st, "{\"search\":\"quick\"}", &m2)); /* newest first */
    CHECK_EQ(nq(&st, "{\"search\":\"quick fox\"}"), 1);
    CHECK(first_is(&st, "{\"search\":\"FOX quick\"}", &m1));
    CHECK_EQ(nq(&st, "{\"search\":\"quick fox thinking\"}"), 0);
    CHECK_EQ(nq(&st, "{\"search\":\"zebra\"}"), 0);
    CHECK_EQ(nq(&st, "{\"search\":\"quick zebra\"}"), 0);
    CHECK_EQ(nq(&st, "{\"search\":\"bitcoin\"}"), 1);
    CHECK_EQ(nq(&st, "{\"search\":\"  bitcoin  \\t BITCOIN \"}"), 1);
    /* whole words: a part of a word is not a hit */
    CHECK_EQ(nq(&st, "{\"search\":\"bitco\"}"), 0);
    CHECK_EQ(nq(&st, "{\"search\":\"coin\"}"), 0);
    /* UTF-8 inside words; non-ASCII letters are not case-folded */
    CHECK(first_is(&st, "{\"search\":\"CAF\xc3\xa9\"}", &m3));
    CHECK_EQ(nq(&st, "{\"search\":\"caf\xc3\x89\"}"), 0);
    CHECK_EQ(nq(&st, "{\"search\":\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e cr\xc3\xa8me\"}"), 1);
    CHECK_EQ(nq(&st, "{\"search\":\"caf\"}"), 0);
    /* punctuation in a term: its words, and the term as written */
    CHECK_EQ(nq(&st, "{\"search\":\"foo-bar\"}"), 1);
    CHECK_EQ(nq(&st, "{\"search\":\"bar-foo\"}"), 0);
    CHECK_EQ(nq(&st, "{\"search\":\"e-mail\"}"), 1);
    CHECK_EQ(nq(&st, "{\"search\":\"fox,\"}"), 1);
    CHECK_EQ(nq(&st, "{\"search\":\"50%\"}"), 1);
    CHECK_EQ(nq(&st, "{\"search\":\"5%\"}"), 0);
    /* no word of 2 bytes: a substring scan (LIKE) */
    CHECK_EQ(nq(&st, "{\"search\":\"a_b\"}"), 1);
    CHECK_EQ(nq(&st, "{\"search\":\"x\"}"), 4); /* fox, example, "x 7", the long word */
    CHECK_EQ(nq(&st, "{\"search\":\"%\"}"), 1);
    CHECK_EQ(nq(&st, "{\"search\":\"quick x\"}"), 2);
    /* a long word: by its first 40 bytes, then the whole term */
    snprintf(filter, sizeof filter, "{\"search\":\"%s\"}", longw);
    CHECK(first_is(&st, filter, &m5));
    longw[59] = 'z';
    snprintf(filter, sizeof filter, "{\"search\":\"%s\"}", longw);
    CHECK_EQ(nq(&st, filter), 0);
    longw[59] = 'h';
    /* the 64-word cap: a word past it is not found */
    CHECK_EQ(nq(&st, "{\"search\":\"w063\"}"), 1);
    CHECK_EQ(nq(&st, "{\"search\":\"w064\"}"), 0);

    /* with other conditions */
    CHECK_EQ(nq(&st, "{\"search\":\"quick\",\"limit\":1}"), 1);
    CHECK_EQ(nq(&st, "{\"search\":\"quick\",\"since\":1700000002}"), 1);
    CHECK_EQ(nq(&st, "{\"search\":\"quick\",\"until\":1700000001}"), 1);
    CHECK_EQ(nq(&st, "{\"search\":\"quick\",\"kinds\":[7]}"), 0);
    CHECK_EQ(nq(&st, "{\"search\":\"bitcoin\",\"kinds\":[7]}"), 1);
    CHECK_EQ(nq(&st, "{\"search\":\"bitcoin\",\"#t\":[\"coins\"]}"), 1);
    CHECK_EQ(nq(&st, "{\"search\":\"quick\",\"#t\":[\"coins\"]}"), 0);
    CHECK_EQ(nq(&st, "{\"search\":\"bitcoin quick\",\"#t\":[\"coins\",\"x\"]}"), 0);
    {
        char a0[65], a1[65];
        nostr_hex_encode(m1.ev.pubkey, 32, a0);
        nostr_hex_encode(m2.ev.pubkey, 32, a1);
        snprintf(filter, sizeof filter, "{\"search\":\"quick\",\"authors\":[\"%s\"]}", a1);
        CHECK(first_is(&st, filter, &m2));
        CHECK_EQ(nq(&st, filter), 1);
        snprintf(filter, sizeof filter, "{\"search\":\"quick\",\"authors\":[\"%s\",\"%s\"],\"limit\":5}", a0, a1);
        CHECK_EQ(nq(&st, filter), 2);
        snprintf(filter, sizeof filter, "{\"search\":\"fox\",\"ids\":[\"%s\"]}", a0);
        CHECK_EQ(nq(&st, filter), 0);
    }
    {
        /* several filters, and COUNT */
        nostr_filter f[2];
        rows r;
        f[0] = parse("{\"search\":\"quick\"}");
        f[1] = parse("{\"search\":\"fox brown\",\"limit\":3}");
        memset(&r, 0, sizeof r);
        CHECK_EQ(st.query(st.self, f, 2, 2000000000LL, on_row, on_done, &r), NOSTR_OK);
        CHECK_EQ(r.n, 2); /* m1 matched both, sent once */
        counted = 99;
        CHECK_EQ(st.count(st.self, f, 1, 2000000000LL, on_count, NULL), NOSTR_OK);
        CHECK_EQ(counted, 2);
        counted = 99;
        CHECK_EQ(st.count(st.self, f, 2, 2000000000LL, on_count, NULL), NOSTR_OK);
        CHECK_EQ(counted, 2);
    }
    nostr_pgwire_close(s);
}

static void test_words_removed(void)
{
    char ci[256], hex[65];
    nostr_pgwire *s;
    nostr_store st;
    made gone, del, v1, v2, exp1, keep;
    fresh_db(ci, sizeof ci);
    s = open_store(ci, 1);
    CHECK(s != NULL);
    if (!s) return;
    st = nostr_pgwire_iface(s);
    gone = make(0, 1, 1700000001, "ephemeral thoughts about deletion", NULL, NULL);
    keep = make(0, 1, 1700000002, "thoughts that stay", NULL, NULL);
    CHECK_EQ(save(&st, s, &gone), NOSTR_STORE_SAVED);
    CHECK_EQ(save(&st, s, &keep), NOSTR_STORE_SAVED);
    CHECK_EQ(words_of(ci, &gone), 4);
    CHECK_EQ(nq(&st, "{\"search\":\"thoughts\"}"), 2);
    /* NIP-09: the deleted event's words go with it */
    nostr_hex_encode(gone.ev.id, 32, hex);
    del = make(0, 5, 1700000003, "", "e", hex);
    CHECK_EQ(save(&st, s, &del), NOSTR_STORE_SAVED);
    CHECK_EQ(words_of(ci, &gone), 0);
    CHECK_EQ(nq(&st, "{\"search\":\"thoughts\"}"), 1);
    CHECK_EQ(nq(&st, "{\"search\":\"deletion\"}"), 0);
    CHECK_EQ(words_of(ci, &keep), 3);

    /* replaced: the old version's words go */
    v1 = make(1, 0, 1700000010, "{\"name\":\"alice\",\"about\":\"first version\"}", NULL, NULL);
    v2 = make(1, 0, 1700000011, "{\"name\":\"alice\",\"about\":\"second version\"}", NULL, NULL);
    CHECK_EQ(save(&st, s, &v1), NOSTR_STORE_SAVED);
    CHECK_EQ(nq(&st, "{\"search\":\"first\"}"), 1);
    CHECK_EQ(save(&st, s, &v2), NOSTR_STORE_SAVED);
    CHECK_EQ(words_of(ci, &v1), 0);
    CHECK_EQ(words_of(ci, &v2), 5); /* name alice about second version */
    CHECK_EQ(nq(&st, "{\"search\":\"first\"}"), 0);
    CHECK_EQ(nq(&st, "{\"search\":\"alice version\"}"), 1);

    /* expired: not returned after its time, and purge removes the rows */
    exp1 = make(2, 1, 1700000020, "soon expiring words", "expiration", "1800000000");
    CHECK_EQ(save(&st, s, &exp1), NOSTR_STORE_SAVED);
    CHECK_EQ(words_of(ci, &exp1), 3);
    {
        rows r;
        CHECK_EQ(nq_at(&st, "{\"search\":\"expiring\"}", 1700000100, &r), 1);
        CHECK_EQ(nq_at(&st, "{\"search\":\"expiring\"}", 1800000000, &r), 0);
    }
    CHECK_EQ(st.purge(st.self, 1800000001), 1);
    CHECK_EQ(words_of(ci, &exp1), 0);
    /* no rows for events that are not there */
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM words w WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = "
                            "w.event_id)"),
             0);
    nostr_pgwire_close(s);
}

/* Enough events for the planner to prefer indexes, then the plans. */
static void test_plan(void)
{
    static const char *const topics[] = {"bitcoin", "nostr", "coffee", "music", "rust", "linux", "cats", "books"};
    char ci[256], content[128];
    nostr_pgwire *s;
    nostr_store st;
    size_t i;
    char *plan;
    fresh_db(ci, sizeof ci);
    s = open_store(ci, 1);
    CHECK(s != NULL);
    if (!s) return;
    st = nostr_pgwire_iface(s);
    for (i = 0; i < 3000; i++) {
        made m;
        snprintf(content, sizeof content, "note %zu about %s and %s", i, topics[i % 8], topics[(i / 8) % 8]);
        m = make((int)(i % 5), i % 10 == 0 ? 7 : 1, 1700000000 + (long long)i, content, NULL, NULL);
        CHECK_EQ(st.put(st.self, &m.ev, m.json, m.len, on_put, NULL), NOSTR_OK);
        if (i % 500 == 499) {
            CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
            nostr_arena_reset(&arena);
        }
    }
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    CHECK_EQ(sql_number(ci, "ANALYZE"), 0);
    CHECK_EQ(nq(&st, "{\"search\":\"coffee\",\"limit\":20}"), 20);
    CHECK_EQ(nq(&st, "{\"search\":\"coffee cats\"}"), 94); /* i % 64 is 22 or 50 */
    CHECK_EQ(nq(&st, "{\"search\":\"1234\"}"), 1);

    plan = explain(s, "{\"search\":\"coffee\",\"limit\":20}", 1);
    CHECK(index_scan(plan));
    CHECK(plan && strstr(plan, "FROM words w JOIN events e"));
    if (!index_scan(plan)) fprintf(stderr, "%s\n", plan ? plan : "(none)");
    free(plan);
    plan = explain(s, "{\"search\":\"Coffee CATS\",\"limit\":20}", 0);
    CHECK(index_scan(plan));
    CHECK(plan && strstr(plan, "EXISTS"));
    if (!index_scan(plan)) fprintf(stderr, "%s\n", plan ? plan : "(none)");
    free(plan);
    plan = explain(s, "{\"search\":\"about\",\"kinds\":[7],\"since\":1700001000,\"until\":1700002000,\"limit\":20}", 0);
    CHECK(index_scan(plan));
    if (!index_scan(plan)) fprintf(stderr, "%s\n", plan ? plan : "(none)");
    free(plan);
    plan = explain(s, "{\"search\":\"x\",\"limit\":20}", 0); /* no word of 2 bytes: the documented scan */
    CHECK(plan && !strstr(plan, "words_word_idx") && strstr(plan, "LIKE"));
    free(plan);
    nostr_pgwire_close(s);
}

/* A database from before the words table: search still answers; opening
 * with create_schema fills the table from the stored events. */
static void test_upgrade(void)
{
    char ci[256], content[64];
    nostr_pgwire *s;
    nostr_store st;
    size_t i;
    char *plan;
    fresh_db(ci, sizeof ci);
    s = open_store(ci, 1);
    CHECK(s != NULL);
    if (!s) return;
    st = nostr_pgwire_iface(s);
    for (i = 0; i < 1203; i++) { /* more than two fill pages */
        made m;
        snprintf(content, sizeof content, "old event %zu %s", i, i % 3 ? "plain" : "special");
        m = make((int)(i % 4), 1, 1700000000 + (long long)(i / 2), content, NULL, NULL);
        CHECK_EQ(st.put(st.self, &m.ev, m.json, m.len, on_put, NULL), NOSTR_OK);
    }
    CHECK_EQ(nostr_pgwire_commit(s), NOSTR_OK);
    nostr_arena_reset(&arena);
    nostr_pgwire_close(s);
    /* as before this change */
    CHECK_EQ(sql_number(ci, "DROP TABLE words"), 0);
    CHECK_EQ(sql_number(ci, "DELETE FROM nostr_meta WHERE key = 'words'"), 0);

    /* without create_schema: no words table; search scans, puts work */
    s = open_store(ci, 0);
    CHECK(s != NULL);
    if (!s) return;
    st = nostr_pgwire_iface(s);
    CHECK_EQ(nq(&st, "{\"search\":\"special\"}"), 401);
    CHECK_EQ(nq(&st, "{\"search\":\"SPECIAL old\",\"limit\":10}"), 10);
    {
        made m = make(9, 1, 1700009000, "written without the words table, special", NULL, NULL);
        CHECK_EQ(save(&st, s, &m), NOSTR_STORE_SAVED);
    }
    plan = explain(s, "{\"search\":\"special\",\"limit\":10}", 0);
    CHECK(plan && !strstr(plan, "words"));
    free(plan);
    nostr_pgwire_close(s);

    /* with create_schema: created and filled */
    s = open_store(ci, 1);
    CHECK(s != NULL);
    if (!s) return;
    st = nostr_pgwire_iface(s);
    CHECK_EQ(sql_number(ci, "SELECT count(DISTINCT event_id) FROM words"), 1204);
    CHECK_EQ(sql_number(ci, "SELECT count(*) FROM nostr_meta WHERE key = 'words'"), 1);
    CHECK_EQ(nq(&st, "{\"search\":\"special\"}"), 402);
    CHECK_EQ(nq(&st, "{\"search\":\"special old\"}"), 401);
    CHECK_EQ(nq(&st, "{\"search\":\"1202\"}"), 1);
    plan = explain(s, "{\"search\":\"special\",\"limit\":10}", 0);
    CHECK(plan && strstr(plan, "words"));
    free(plan);
    nostr_pgwire_close(s);

    /* the table there but not filled (a fill cut short): opened without
     * create_schema, search scans and puts write words */
    CHECK_EQ(sql_number(ci, "DELETE FROM nostr_meta WHERE key = 'words'"), 0);
    CHECK_EQ(sql_number(ci, "DELETE FROM words WHERE word = 'special'"), 0);
    s = open_store(ci, 0);
    CHECK(s != NULL);
    if (!s) return;
    st = nostr_pgwire_iface(s);
    CHECK_EQ(nq(&st, "{\"search\":\"special\"}"), 402);
    {
        made m = make(9, 1, 1700009001, "partial table special", NULL, NULL);
        CHECK_EQ(save(&st, s, &m), NOSTR_STORE_SAVED);
        CHECK_EQ(words_of(ci, &m), 3);
    }
    nostr_pgwire_close(s);
    s = open_store(ci, 1); /* refilled */
    CHECK(s != NULL);
    if (!s) return;
    st = nostr_pgwire_iface(s);
    CHECK_EQ(nq(&st, "{\"search\":\"special\"}"), 403);
    nostr_pgwire_close(s);
}

int main(void)
{
    char err[4096];
    if (pg_harness_start(&pg, err, sizeof err) != 0) {
        fprintf(stderr, "test_pgwire_search: cannot start PostgreSQL: %s\n", err);
        test_failed++;
        return TEST_DONE();
    }
    ctx = nostr_ctx_new(NULL);
    nostr_arena_init(&arena, NULL, 0, NULL);
    TEST_RUN(test_words_and_matching);
    TEST_RUN(test_words_removed);
    TEST_RUN(test_plan);
    TEST_RUN(test_upgrade);
    nostr_arena_free(&arena);
    nostr_ctx_free(ctx);
    pg_harness_cleanup(&pg);
    return TEST_DONE();
}
