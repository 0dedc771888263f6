/* The built-in store: the conformance suite (memory and on disk), then
 * what only it promises: persistence across reopen, completions only at
 * commit, a torn or corrupt log tail cut at every byte, compaction, the
 * directory lock, index vacuum, and query answers on the real corpus
 * against a brute-force scan with nostr_filter_matches. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "test.h"
#include "nostr_relay.h"
#include "store_conformance.h"

static nostr_ctx *ctx;

/* ---- helpers ---- */

static void tmpdir(char *out, size_t cap)
{
    snprintf(out, cap, "/tmp/test-store-XXXXXX");
    if (!mkdtemp(out)) abort();
}

static void rmdir_all(const char *dir)
{
    const char *names[] = {"events.log", "events.log.bad", "events.log.tmp"};
    char p[512];
    size_t i;
    for (i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

static char *log_path(const char *dir, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/events.log", dir);
    return buf;
}

static long long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/* no_fsync for the tests that reopen hundreds of times: durability
 * against power loss is not what they check. */
static int fast_fsync;

static nostr_store_builtin *open_store(const char *dir)
{
    nostr_store_builtin *s = NULL;
    nostr_store_builtin_config cfg;
    nostr_error err;
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = dir;
    cfg.no_fsync = fast_fsync;
    if (nostr_store_builtin_open(&s, &cfg, &err) != NOSTR_OK) {
        fprintf(stderr, "open %s: %s\n", dir ? dir : "(memory)", err.msg);
        return NULL;
    }
    return s;
}

static unsigned long long live_events(nostr_store_builtin *s)
{
    nostr_store_builtin_stats st;
    nostr_store_builtin_stats_get(s, &st);
    return st.events;
}

typedef struct tev {
    nostr_event ev;
    char *json;
    size_t len;
    nostr_arena a;
} tev;

/* A signed event; tags as "name|value|..." strings, then NULL. */
static tev *mk(const nostr_keys *k, unsigned kind, long long t, const char *content, ...)
{
    tev *e = (tev *)calloc(1, sizeof *e);
    nostr_buf b;
    va_list ap;
    const char *tag;
    nostr_arena_init(&e->a, NULL, 0, NULL);
    nostr_event_init(&e->ev, &e->a, kind, t, content, strlen(content));
    va_start(ap, content);
    while ((tag = va_arg(ap, const char *)) != NULL) {
        char copy[256], *p = copy;
        const char *items[8];
        size_t n = 0;
        snprintf(copy, sizeof copy, "%s", tag);
        items[n++] = p;
        while ((p = strchr(p, '|')) != NULL && n < 8) {
            *p++ = 0;
            items[n++] = p;
        }
        nostr_event_add_tag(&e->ev, &e->a, items, n);
    }
    va_end(ap);
    if (nostr_event_sign(ctx, &e->ev, k) != NOSTR_OK) abort();
    nostr_buf_init(&b, NULL);
    nostr_event_to_json(&e->ev, &b);
    e->json = b.data;
    e->len = b.len;
    return e;
}

static void tev_free(tev *e)
{
    if (!e) return;
    free(e->json);
    nostr_arena_free(&e->a);
    free(e);
}

static void key_from(unsigned char b, nostr_keys *k)
{
    unsigned char sec[32];
    memset(sec, b, sizeof sec);
    if (nostr_keys_from_secret(ctx, sec, k) != NOSTR_OK) abort();
}

typedef struct putw {
    int fired, result;
} putw;

static void put_cb(void *u, int result, const char *msg)
{
    putw *w = (putw *)u;
    (void)msg;
    w->fired++;
    w->result = result;
}

/* put without waiting: the callback result so far in w */
static int put_nowait(nostr_store *it, const tev *e, putw *w)
{
    memset(w, 0, sizeof *w);
    return it->put(it->self, &e->ev, e->json, e->len, put_cb, w);
}

static int put_commit(nostr_store *it, const tev *e)
{
    putw w;
    if (put_nowait(it, e, &w) != NOSTR_OK) return -100;
    if (!w.fired) it->commit(it->self);
    return w.fired == 1 ? w.result : -101;
}

/* Query rows collected as one string of ids (hex, newline separated). */
typedef struct rows {
    nostr_buf ids;
    unsigned long long n, done_count;
    int done;
} rows;

static void rows_row(void *u, const char *json, size_t len)
{
    rows *r = (rows *)u;
    unsigned char mem[16384];
    nostr_arena a;
    nostr_event ev;
    char hex[65];
    nostr_arena_init(&a, mem, sizeof mem, NULL);
    if (nostr_event_parse(&ev, json, len, &a, NULL, NULL) == NOSTR_OK) {
        nostr_hex_encode(ev.id, 32, hex);
        nostr_buf_append(&r->ids, hex, 64);
        nostr_buf_append_char(&r->ids, '\n');
    } else {
        nostr_buf_append_str(&r->ids, "BAD\n");
    }
    nostr_arena_free(&a);
    r->n++;
}

static void rows_done(void *u, int rc, unsigned long long count)
{
    rows *r = (rows *)u;
    r->done++;
    r->done_count = rc == NOSTR_OK ? count : (unsigned long long)-1;
}

/* All rows of the filters as an id list (caller frees). */
static char *query_ids(nostr_store *it, const nostr_filter *fs, size_t n, long long now, unsigned long long *count)
{
    rows r;
    memset(&r, 0, sizeof r);
    nostr_buf_init(&r.ids, NULL);
    nostr_buf_append_str(&r.ids, "");
    if (it->query(it->self, fs, n, now, rows_row, rows_done, &r) != NOSTR_OK || r.done != 1 || r.done_count != r.n) {
        nostr_buf_free(&r.ids);
        return NULL;
    }
    if (count) *count = r.n;
    return r.ids.data;
}

static unsigned long long count_of(nostr_store *it, const nostr_filter *fs, size_t n, long long now)
{
    rows r;
    memset(&r, 0, sizeof r);
    if (it->count(it->self, fs, n, now, rows_done, &r) != NOSTR_OK || r.done != 1) return (unsigned long long)-1;
    return r.done_count;
}

static nostr_filter parse_filter(const char *json, nostr_arena *a)
{
    nostr_filter f;
    if (nostr_filter_parse(&f, json, strlen(json), a, NULL, NULL) != NOSTR_OK) abort();
    return f;
}

/* Everything in the store, as ids in query order. */
static char *dump_all(nostr_store *it, unsigned long long *n)
{
    nostr_filter f;
    memset(&f, 0, sizeof f);
    return query_ids(it, &f, 1, 0, n);
}

/* ---- conformance ---- */

static void test_conformance_memory(void)
{
    nostr_store_builtin *s = open_store(NULL);
    nostr_store it;
    CHECK(s != NULL);
    if (!s) return;
    it = nostr_store_builtin_iface(s);
    store_conformance_run(&it, ctx);
    test_current = "test_conformance_memory";
    it.destroy(it.self);
}

/* On disk; then reopen: replay rebuilds the same state (replacements,
 * deletions, purges), and deleted ids are still refused. */
static void test_conformance_disk(void)
{
    char dir[64];
    nostr_store_builtin *s;
    nostr_store it;
    char *before, *after;
    unsigned long long nb = 0, na = 0, live;
    tmpdir(dir, sizeof dir);
    s = open_store(dir);
    CHECK(s != NULL);
    if (!s) return;
    it = nostr_store_builtin_iface(s);
    store_conformance_run(&it, ctx);
    test_current = "test_conformance_disk";
    before = dump_all(&it, &nb);
    live = live_events(s);
    CHECK(nb > 30);
    CHECK_EQ(nb, live);
    nostr_store_builtin_close(s);
    s = open_store(dir);
    CHECK(s != NULL);
    if (s) {
        it = nostr_store_builtin_iface(s);
        after = dump_all(&it, &na);
        CHECK_EQ(na, nb);
        CHECK(before && after && strcmp(before, after) == 0);
        CHECK_EQ(live_events(s), live);
        free(after);
        /* compaction keeps the same state, and so does replaying it */
        CHECK_EQ(nostr_store_builtin_compact(s), NOSTR_OK);
        nostr_store_builtin_close(s);
        s = open_store(dir);
        CHECK(s != NULL);
        if (s) {
            it = nostr_store_builtin_iface(s);
            after = dump_all(&it, &na);
            CHECK(before && after && strcmp(before, after) == 0);
            free(after);
            it.destroy(it.self);
        }
    }
    free(before);
    rmdir_all(dir);
}

/* ---- persistence and group commit ---- */

static void test_persistence(void)
{
    enum { N = 300 };
    char dir[64], path[128];
    nostr_store_builtin *s;
    nostr_store it;
    nostr_keys k;
    tev *evs[N];
    putw w[N];
    int i, ok = 1;
    tmpdir(dir, sizeof dir);
    key_from(7, &k);
    s = open_store(dir);
    CHECK(s != NULL);
    if (!s) return;
    it = nostr_store_builtin_iface(s);
    for (i = 0; i < N; i++) {
        char c[32];
        snprintf(c, sizeof c, "persist %d", i);
        evs[i] = mk(&k, 1, 1600000000 + i % 50, c, "t|persist", (const char *)NULL);
    }
    for (i = 0; i < N; i++) {
        CHECK_EQ(put_nowait(&it, evs[i], &w[i]), NOSTR_OK);
        if (i % 37 == 0) it.commit(it.self); /* several group commits */
    }
    CHECK_EQ(it.commit(it.self), NOSTR_OK);
    for (i = 0; i < N; i++) ok &= w[i].fired == 1 && w[i].result == NOSTR_STORE_SAVED;
    CHECK(ok);
    nostr_store_builtin_close(s);
    CHECK(file_size(log_path(dir, path, sizeof path)) > N * 300);
    s = open_store(dir);
    CHECK(s != NULL);
    if (s) {
        it = nostr_store_builtin_iface(s);
        CHECK_EQ(live_events(s), N);
        for (i = 0; i < N; i++) ok &= it.has(it.self, evs[i]->ev.id) == 1;
        CHECK(ok);
        CHECK_EQ(put_commit(&it, evs[5]), NOSTR_STORE_DUPLICATE);
        {
            nostr_arena a;
            nostr_filter f;
            nostr_arena_init(&a, NULL, 0, NULL);
            f = parse_filter("{\"#t\":[\"persist\"]}", &a);
            CHECK_EQ(count_of(&it, &f, 1, 0), N);
            nostr_arena_free(&a);
        }
        nostr_store_builtin_close(s);
    }
    for (i = 0; i < N; i++) tev_free(evs[i]);
    rmdir_all(dir);
}

/* A put is visible at once, but SAVED only after commit's fsync; the other
 * answers come at once. Memory mode completes at once. */
static void test_group_commit(void)
{
    char dir[64], path[128];
    nostr_store_builtin *s;
    nostr_store it;
    nostr_keys k;
    tev *a, *b, *old;
    putw wa, wb, wd, wo;
    long long size0;
    tmpdir(dir, sizeof dir);
    key_from(8, &k);
    a = mk(&k, 1, 1600000001, "first", (const char *)NULL);
    b = mk(&k, 10002, 1600000002, "list v2", (const char *)NULL);
    old = mk(&k, 10002, 1600000000, "list v1", (const char *)NULL);
    s = open_store(dir);
    CHECK(s != NULL);
    if (!s) return;
    it = nostr_store_builtin_iface(s);
    size0 = file_size(log_path(dir, path, sizeof path));
    CHECK(size0 > 0);
    CHECK_EQ(put_nowait(&it, a, &wa), NOSTR_OK);
    CHECK_EQ(put_nowait(&it, b, &wb), NOSTR_OK);
    CHECK_EQ(wa.fired, 0);
    CHECK_EQ(wb.fired, 0);
    CHECK_EQ(it.has(it.self, a->ev.id), 1); /* visible before commit */
    {
        nostr_filter f;
        memset(&f, 0, sizeof f);
        CHECK_EQ(count_of(&it, &f, 1, 0), 2);
    }
    CHECK_EQ(put_nowait(&it, a, &wd), NOSTR_OK); /* duplicate: answered at once */
    CHECK_EQ(wd.fired, 1);
    CHECK_EQ(wd.result, NOSTR_STORE_DUPLICATE);
    CHECK_EQ(put_nowait(&it, old, &wo), NOSTR_OK);
    CHECK_EQ(wo.fired, 1);
    CHECK_EQ(wo.result, NOSTR_STORE_SUPERSEDED);
    CHECK_EQ(file_size(path), size0); /* nothing written yet */
    CHECK_EQ(it.commit(it.self), NOSTR_OK);
    CHECK_EQ(wa.fired, 1);
    CHECK_EQ(wa.result, NOSTR_STORE_SAVED);
    CHECK_EQ(wb.fired, 1);
    CHECK_EQ(wb.result, NOSTR_STORE_SAVED);
    CHECK_EQ(file_size(path), size0 + 2 * 9 + (long long)(a->len + b->len));
    CHECK_EQ(it.commit(it.self), NOSTR_OK); /* nothing pending: no second call */
    CHECK_EQ(wa.fired, 1);
    /* destroy writes what was put but calls nothing */
    {
        tev *c = mk(&k, 1, 1600000003, "written by destroy", (const char *)NULL);
        putw wc;
        CHECK_EQ(put_nowait(&it, c, &wc), NOSTR_OK);
        it.destroy(it.self);
        CHECK_EQ(wc.fired, 0);
        s = open_store(dir);
        CHECK(s != NULL);
        if (s) {
            CHECK_EQ(live_events(s), 3);
            nostr_store_builtin_close(s);
        }
        tev_free(c);
    }
    /* memory only: SAVED at once */
    s = open_store(NULL);
    if (s) {
        it = nostr_store_builtin_iface(s);
        CHECK_EQ(put_nowait(&it, a, &wa), NOSTR_OK);
        CHECK_EQ(wa.fired, 1);
        CHECK_EQ(wa.result, NOSTR_STORE_SAVED);
        it.destroy(it.self);
    }
    tev_free(a);
    tev_free(b);
    tev_free(old);
    rmdir_all(dir);
}

/* Pipelined commit: the batch is written on another thread while puts go
 * on; they join the next batch. One batch at a time. */
static void *write_batch(void *b)
{
    return (void *)(size_t)(nostr_store_builtin_commit_write((nostr_store_builtin_batch *)b) == NOSTR_OK);
}

static void test_pipelined_commit(void)
{
    char dir[64], path[128];
    nostr_store_builtin *s;
    nostr_store it;
    nostr_keys k;
    tev *a, *b, *c;
    putw wa, wb, wc;
    nostr_store_builtin_batch *batch = NULL, *other = (nostr_store_builtin_batch *)&wa;
    pthread_t th;
    void *ok = NULL;
    long long size0;
    tmpdir(dir, sizeof dir);
    key_from(9, &k);
    a = mk(&k, 1, 1600000001, "in the first batch", (const char *)NULL);
    b = mk(&k, 1, 1600000002, "also in the first batch", (const char *)NULL);
    c = mk(&k, 1, 1600000003, "put while the first is written", (const char *)NULL);
    s = open_store(dir);
    CHECK(s != NULL);
    if (!s) return;
    it = nostr_store_builtin_iface(s);
    size0 = file_size(log_path(dir, path, sizeof path));
    CHECK_EQ(nostr_store_builtin_commit_begin(s, &batch), NOSTR_OK);
    CHECK(batch == NULL); /* nothing to write */
    CHECK_EQ(put_nowait(&it, a, &wa), NOSTR_OK);
    CHECK_EQ(put_nowait(&it, b, &wb), NOSTR_OK);
    CHECK_EQ(nostr_store_builtin_commit_begin(s, &batch), NOSTR_OK);
    CHECK(batch != NULL);
    if (!batch) return;
    CHECK_EQ(nostr_store_builtin_commit_begin(s, &other), NOSTR_ERR_BUSY);
    CHECK(other == NULL);
    CHECK_EQ(nostr_store_builtin_commit(s), NOSTR_ERR_BUSY);
    CHECK_EQ(nostr_store_builtin_compact(s), NOSTR_ERR_BUSY);
    CHECK_EQ(pthread_create(&th, NULL, write_batch, batch), 0);
    CHECK_EQ(put_nowait(&it, c, &wc), NOSTR_OK); /* goes on while the batch is written */
    CHECK_EQ(it.has(it.self, c->ev.id), 1);
    pthread_join(th, &ok);
    CHECK(ok != NULL);
    CHECK_EQ(wa.fired, 0); /* written, but completed only at end */
    CHECK_EQ(file_size(path), size0 + 2 * 9 + (long long)(a->len + b->len));
    CHECK_EQ(nostr_store_builtin_commit_end(s, batch), NOSTR_OK);
    CHECK_EQ(wa.fired, 1);
    CHECK_EQ(wa.result, NOSTR_STORE_SAVED);
    CHECK_EQ(wb.fired, 1);
    CHECK_EQ(wc.fired, 0); /* the next batch's */
    CHECK_EQ(nostr_store_builtin_commit_end(s, batch), NOSTR_ERR_ARG); /* ended once */
    CHECK_EQ(nostr_store_builtin_commit_begin(s, &batch), NOSTR_OK);
    CHECK(batch != NULL);
    if (batch) {
        CHECK_EQ(nostr_store_builtin_commit_write(batch), NOSTR_OK);
        CHECK_EQ(nostr_store_builtin_commit_end(s, batch), NOSTR_OK);
    }
    CHECK_EQ(wc.fired, 1);
    CHECK_EQ(wc.result, NOSTR_STORE_SAVED);
    nostr_store_builtin_close(s);
    s = open_store(dir);
    CHECK(s != NULL);
    if (s) {
        CHECK_EQ(live_events(s), 3);
        it = nostr_store_builtin_iface(s);
        /* a write that fails (the file size limit, EFBIG): the batch's puts
         * fail, the store refuses more, and nothing torn is kept */
        {
            struct rlimit old, lim;
            tev *d = mk(&k, 1, 1600000004, "does not fit under the file size limit", (const char *)NULL);
            putw wd, we;
            signal(SIGXFSZ, SIG_IGN);
            getrlimit(RLIMIT_FSIZE, &old);
            lim = old;
            lim.rlim_cur = (rlim_t)file_size(path) + 4;
            CHECK_EQ(put_nowait(&it, d, &wd), NOSTR_OK);
            CHECK_EQ(nostr_store_builtin_commit_begin(s, &batch), NOSTR_OK);
            CHECK(batch != NULL);
            setrlimit(RLIMIT_FSIZE, &lim);
            if (batch) CHECK_EQ(nostr_store_builtin_commit_write(batch), NOSTR_ERR_CLOSED);
            setrlimit(RLIMIT_FSIZE, &old);
            if (batch) CHECK_EQ(nostr_store_builtin_commit_end(s, batch), NOSTR_ERR_CLOSED);
            CHECK_EQ(wd.fired, 1);
            CHECK_EQ(wd.result, NOSTR_ERR_CLOSED);
            CHECK_EQ(put_nowait(&it, a, &we), NOSTR_ERR_CLOSED);
            nostr_store_builtin_close(s);
            s = open_store(dir); /* the 4 torn bytes are cut at open */
            CHECK(s != NULL);
            if (s) {
                CHECK_EQ(live_events(s), 3);
                nostr_store_builtin_close(s);
            }
            signal(SIGXFSZ, SIG_DFL);
            tev_free(d);
        }
    }
    tev_free(a);
    tev_free(b);
    tev_free(c);
    rmdir_all(dir);
}

/* A completion that puts again and commits from inside commit: every
 * completion runs exactly once. */
typedef struct reenter {
    nostr_store *it;
    tev *next;
    putw inner;
    int fired;
} reenter;

static void reenter_cb(void *u, int result, const char *msg)
{
    reenter *r = (reenter *)u;
    (void)msg;
    r->fired++;
    if (result == NOSTR_STORE_SAVED && r->next) {
        tev *e = r->next;
        r->next = NULL;
        CHECK_EQ(r->it->put(r->it->self, &e->ev, e->json, e->len, put_cb, &r->inner), NOSTR_OK);
        CHECK_EQ(r->it->commit(r->it->self), NOSTR_OK);
    }
}

static void test_reentrant(void)
{
    char dir[64];
    nostr_store_builtin *s;
    nostr_store it;
    nostr_keys k;
    tev *a, *b, *c;
    reenter r;
    putw wc;
    tmpdir(dir, sizeof dir);
    key_from(11, &k);
    a = mk(&k, 1, 1600000001, "outer", (const char *)NULL);
    b = mk(&k, 1, 1600000002, "inner", (const char *)NULL);
    c = mk(&k, 1, 1600000003, "same batch as outer", (const char *)NULL);
    s = open_store(dir);
    if (!s) return;
    it = nostr_store_builtin_iface(s);
    memset(&r, 0, sizeof r);
    r.it = &it;
    r.next = b;
    CHECK_EQ(it.put(it.self, &a->ev, a->json, a->len, reenter_cb, &r), NOSTR_OK);
    CHECK_EQ(put_nowait(&it, c, &wc), NOSTR_OK);
    CHECK_EQ(it.commit(it.self), NOSTR_OK);
    CHECK_EQ(r.fired, 1);
    CHECK_EQ(r.inner.fired, 1);
    CHECK_EQ(r.inner.result, NOSTR_STORE_SAVED);
    CHECK_EQ(wc.fired, 1);
    CHECK_EQ(it.commit(it.self), NOSTR_OK);
    CHECK_EQ(r.fired, 1);
    CHECK_EQ(wc.fired, 1);
    nostr_store_builtin_close(s);
    s = open_store(dir);
    CHECK(s != NULL);
    if (s) {
        CHECK_EQ(live_events(s), 3);
        nostr_store_builtin_close(s);
    }
    tev_free(a);
    tev_free(b);
    tev_free(c);
    rmdir_all(dir);
}

/* A second open of the same directory fails while the first is open. */
static void test_lock(void)
{
    char dir[64];
    nostr_store_builtin *s, *s2 = NULL;
    nostr_store_builtin_config cfg;
    nostr_error err;
    tmpdir(dir, sizeof dir);
    s = open_store(dir);
    CHECK(s != NULL);
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = dir;
    CHECK(nostr_store_builtin_open(&s2, &cfg, &err) != NOSTR_OK);
    CHECK(s2 == NULL);
    CHECK(err.msg && strstr(err.msg, "locked"));
    nostr_store_builtin_close(s);
    s2 = open_store(dir);
    CHECK(s2 != NULL);
    nostr_store_builtin_close(s2);
    rmdir_all(dir);
}

/* ---- crash simulation ---- */

static char *read_whole(const char *path, size_t *n)
{
    return test_read_file(path, n);
}

static void write_whole(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(data, 1, n, f) != n) abort();
    fclose(f);
}

/* A log of K events, the offset of each record (and the end). */
#define CRASH_K 12
static void make_log(const char *dir, tev **evs, long long *offs)
{
    nostr_store_builtin *s = open_store(dir);
    nostr_store it = nostr_store_builtin_iface(s);
    char path[128];
    int i;
    log_path(dir, path, sizeof path);
    for (i = 0; i < CRASH_K; i++) {
        offs[i] = file_size(path);
        CHECK_EQ(put_commit(&it, evs[i]), NOSTR_STORE_SAVED);
    }
    offs[CRASH_K] = file_size(path);
    nostr_store_builtin_close(s);
}

/* Reopen a damaged log: expect the first `keep` events, the file cut at
 * offs[keep], stats.truncated = bytes cut; the store still takes puts. */
static void check_reopen(const char *dir, tev **evs, const long long *offs, long long size, int keep, tev *extra)
{
    nostr_store_builtin *s = open_store(dir);
    nostr_store it;
    nostr_store_builtin_stats st;
    char path[128];
    int i, ok = 1;
    CHECK(s != NULL);
    if (!s) return;
    it = nostr_store_builtin_iface(s);
    nostr_store_builtin_stats_get(s, &st);
    CHECK_EQ(st.events, keep);
    CHECK_EQ(st.truncated, size - offs[keep]);
    CHECK_EQ(st.log_bytes, offs[keep]);
    CHECK_EQ(file_size(log_path(dir, path, sizeof path)), offs[keep]);
    for (i = 0; i < CRASH_K; i++) ok &= it.has(it.self, evs[i]->ev.id) == (i < keep);
    CHECK(ok);
    CHECK_EQ(put_commit(&it, extra), NOSTR_STORE_SAVED);
    nostr_store_builtin_close(s);
    s = open_store(dir);
    CHECK(s != NULL);
    if (s) {
        nostr_store_builtin_stats_get(s, &st);
        CHECK_EQ(st.events, keep + 1);
        CHECK_EQ(st.truncated, 0);
        nostr_store_builtin_close(s);
    }
}

static void test_crash_tail(void)
{
    char dir[64], path[128], bad[160];
    tev *evs[CRASH_K], *extra;
    long long offs[CRASH_K + 1], off;
    char *full;
    size_t n;
    nostr_keys k;
    int i, cut_ok = 1;
    key_from(9, &k);
    for (i = 0; i < CRASH_K; i++) {
        char c[64];
        snprintf(c, sizeof c, "crash test event %d with \"quotes\"", i);
        evs[i] = mk(&k, 1, 1600000000 + i, c, "d|x", (const char *)NULL);
    }
    extra = mk(&k, 1, 1600001000, "after the crash", (const char *)NULL);
    tmpdir(dir, sizeof dir);
    make_log(dir, evs, offs);
    log_path(dir, path, sizeof path);
    snprintf(bad, sizeof bad, "%s.bad", path);
    full = read_whole(path, &n);
    CHECK(full != NULL && (long long)n == offs[CRASH_K]);
    if (!full) return;
    /* the kind 30023 events replace each other: only the last is live */
    /* truncate at every byte of the last record */
    for (off = offs[CRASH_K - 1]; off < offs[CRASH_K]; off++) {
        int before = test_failed;
        write_whole(path, full, (size_t)off);
        check_reopen(dir, evs, offs, off, CRASH_K - 1, extra);
        cut_ok &= test_failed == before;
        if (test_failed != before) {
            fprintf(stderr, "  (cut at %lld)\n", off);
            break;
        }
    }
    CHECK(cut_ok);
    /* a flipped byte anywhere in the last record: that record is lost */
    for (off = offs[CRASH_K - 1]; off < offs[CRASH_K]; off += 7) {
        int before = test_failed;
        write_whole(path, full, n);
        {
            char *copy = (char *)malloc(n);
            CHECK(copy != NULL && off >= 0 && (size_t)off < n); /* also tells gcc -O3 that off is in range */
            if (!copy || off < 0 || (size_t)off >= n) {
                free(copy);
                break;
            }
            memcpy(copy, full, n);
            copy[off] ^= 0x20;
            write_whole(path, copy, n);
            free(copy);
        }
        check_reopen(dir, evs, offs, offs[CRASH_K], CRASH_K - 1, extra);
        if (test_failed != before) {
            fprintf(stderr, "  (flip at %lld)\n", off);
            break;
        }
    }
    /* a flip in the middle of record 5: everything before it kept, the
     * rest cut and saved in events.log.bad */
    {
        char *copy = (char *)malloc(n);
        size_t badn = 0;
        char *b;
        memcpy(copy, full, n);
        copy[(offs[5] + offs[6]) / 2] ^= 1;
        write_whole(path, copy, n);
        check_reopen(dir, evs, offs, offs[CRASH_K], 5, extra);
        b = read_whole(bad, &badn);
        CHECK(b != NULL && (long long)badn == offs[CRASH_K] - offs[5]);
        CHECK(b && memcmp(b, copy + offs[5], badn) == 0);
        free(b);
        free(copy);
    }
    /* a damaged header: not a log of ours, refused and left alone */
    {
        nostr_store_builtin *s = NULL;
        nostr_store_builtin_config cfg;
        nostr_error err;
        char *copy = (char *)malloc(n);
        memcpy(copy, full, n);
        copy[12] ^= 1;
        write_whole(path, copy, n);
        memset(&cfg, 0, sizeof cfg);
        cfg.dir = dir;
        CHECK(nostr_store_builtin_open(&s, &cfg, &err) != NOSTR_OK);
        CHECK_EQ(file_size(path), (long long)n);
        free(copy);
        /* torn inside the header (a crash creating the log): starts over */
        write_whole(path, full, 10);
        s = open_store(dir);
        CHECK(s != NULL);
        if (s) {
            CHECK_EQ(live_events(s), 0);
            nostr_store_builtin_close(s);
        }
    }
    free(full);
    for (i = 0; i < CRASH_K; i++) tev_free(evs[i]);
    tev_free(extra);
    rmdir_all(dir);
}

/* ---- compaction ---- */

static void test_compaction(void)
{
    char dir[64], path[128];
    nostr_store_builtin *s;
    nostr_store it;
    nostr_store_builtin_stats st;
    nostr_keys k;
    tev *evs[64];
    int n = 0, i;
    char *before, *after;
    unsigned long long nb, na;
    long long size_before, size_after;
    char exp[64], etag[80];
    key_from(10, &k);
    tmpdir(dir, sizeof dir);
    s = open_store(dir);
    if (!s) return;
    it = nostr_store_builtin_iface(s);
    for (i = 0; i < 20; i++) { /* 20 versions of one replaceable event */
        char c[32];
        snprintf(c, sizeof c, "{\"name\":\"v%d\"}", i);
        evs[n++] = mk(&k, 0, 1600000000 + i, c, (const char *)NULL);
    }
    for (i = 0; i < 20; i++) { /* 20 notes, 10 then deleted */
        char c[32];
        snprintf(c, sizeof c, "note %d", i);
        evs[n++] = mk(&k, 1, 1600000100 + i, c, (const char *)NULL);
    }
    snprintf(exp, sizeof exp, "expiration|%d", 1600000500);
    evs[n++] = mk(&k, 1, 1600000200, "expires", exp, (const char *)NULL);
    for (i = 0; i < n; i++) CHECK_EQ(put_commit(&it, evs[i]), NOSTR_STORE_SAVED);
    for (i = 0; i < 10; i++) {
        snprintf(etag, sizeof etag, "e|%s", "");
        nostr_hex_encode(evs[20 + i]->ev.id, 32, etag + 2);
        evs[n] = mk(&k, 5, 1600000300 + i, "", etag, (const char *)NULL);
        CHECK_EQ(put_commit(&it, evs[n]), NOSTR_STORE_SAVED);
        n++;
    }
    CHECK_EQ(it.purge(it.self, 1600000600), 1);
    it.commit(it.self);
    nostr_store_builtin_stats_get(s, &st);
    CHECK_EQ(st.events, 1 + 10 + 10);
    CHECK(st.dead_bytes > 0);
    size_before = file_size(log_path(dir, path, sizeof path));
    CHECK_EQ(st.log_bytes, size_before);
    before = dump_all(&it, &nb);
    CHECK_EQ(nostr_store_builtin_compact(s), NOSTR_OK);
    nostr_store_builtin_stats_get(s, &st);
    size_after = file_size(path);
    CHECK(size_after < size_before);
    CHECK_EQ(st.log_bytes, size_after);
    CHECK_EQ(st.dead_bytes, 0);
    {
        /* exactly the live set: header + one record per live event */
        long long want = 9 + 21;
        for (i = 0; i < n; i++)
            if (it.has(it.self, evs[i]->ev.id) == 1) want += 9 + (long long)evs[i]->len;
        CHECK_EQ(size_after, want);
    }
    /* puts after compaction go to the new file */
    {
        tev *late = mk(&k, 1, 1600000999, "after compaction", (const char *)NULL);
        CHECK_EQ(put_commit(&it, late), NOSTR_STORE_SAVED);
        CHECK_EQ(file_size(path), size_after + 9 + (long long)late->len);
        nostr_store_builtin_close(s);
        s = open_store(dir);
        CHECK(s != NULL);
        if (s) {
            it = nostr_store_builtin_iface(s);
            CHECK_EQ(live_events(s), 22);
            CHECK_EQ(it.has(it.self, late->ev.id), 1);
            /* deleted ids still refused after compaction dropped them */
            CHECK_EQ(put_commit(&it, evs[20]), NOSTR_STORE_DELETED);
            CHECK_EQ(put_commit(&it, evs[3]), NOSTR_STORE_SUPERSEDED);
            after = dump_all(&it, &na);
            CHECK_EQ(na, nb + 1);
            CHECK(after && before && strcmp(after + 65, before) == 0); /* late is newest */
            free(after);
            nostr_store_builtin_close(s);
        }
        tev_free(late);
    }
    free(before);
    for (i = 0; i < n; i++) tev_free(evs[i]);
    rmdir_all(dir);
}

/* ---- vacuum: many replacements, slots reused, answers unchanged ---- */

static void test_vacuum(void)
{
    nostr_store_builtin *s = open_store(NULL);
    nostr_store it;
    nostr_keys k[4];
    nostr_arena a;
    nostr_filter f;
    tev *keep[100];
    int i, j;
    unsigned long long n;
    char *ids;
    if (!s) return;
    it = nostr_store_builtin_iface(s);
    for (j = 0; j < 4; j++) key_from((unsigned char)(20 + j), &k[j]);
    for (i = 0; i < 100; i++) {
        char c[32];
        snprintf(c, sizeof c, "kept %d", i);
        keep[i] = mk(&k[i % 4], 1, 1600000000 + i, c, "t|keep", (const char *)NULL);
        CHECK_EQ(put_commit(&it, keep[i]), NOSTR_STORE_SAVED);
    }
    /* 4 x 1600 versions: 6396 dead entries, vacuumed along the way */
    for (i = 0; i < 1600; i++)
        for (j = 0; j < 4; j++) {
            char c[32];
            tev *e;
            snprintf(c, sizeof c, "v%d", i);
            e = mk(&k[j], 10002, 1600000000 + i, c, "t|repl", (const char *)NULL);
            CHECK_EQ(put_commit(&it, e), NOSTR_STORE_SAVED);
            tev_free(e);
        }
    CHECK_EQ(live_events(s), 104);
    nostr_arena_init(&a, NULL, 0, NULL);
    f = parse_filter("{\"#t\":[\"repl\"]}", &a);
    CHECK_EQ(count_of(&it, &f, 1, 0), 4);
    f = parse_filter("{\"kinds\":[1],\"limit\":10}", &a);
    ids = query_ids(&it, &f, 1, 0, &n);
    CHECK_EQ(n, 10);
    if (ids) {
        char hex[65];
        nostr_hex_encode(keep[99]->ev.id, 32, hex);
        CHECK(strncmp(ids, hex, 64) == 0);
    }
    free(ids);
    f = parse_filter("{\"#t\":[\"keep\"]}", &a);
    CHECK_EQ(count_of(&it, &f, 1, 0), 100);
    nostr_arena_free(&a);
    for (i = 0; i < 100; i++) tev_free(keep[i]);
    it.destroy(it.self);
}

/* Content escaped in the JSON text (quotes, newline, a needless \u
 * escape) is searched decoded. */
static void test_search_escaped(void)
{
    nostr_store_builtin *s = open_store(NULL);
    nostr_store it;
    nostr_keys k;
    nostr_arena a;
    nostr_filter f;
    tev *e;
    char *json, *p;
    nostr_event ev;
    nostr_arena pa;
    putw w;
    if (!s) return;
    it = nostr_store_builtin_iface(s);
    key_from(30, &k);
    e = mk(&k, 1, 1600000000, "Hello \"World\"\nsecond line", (const char *)NULL);
    /* rewrite "Hello" as "\u0048ello" in the text: same event, other text */
    json = (char *)malloc(e->len + 16);
    p = strstr(e->json, "Hello");
    memcpy(json, e->json, (size_t)(p - e->json));
    strcpy(json + (p - e->json), "\\u0048ello");
    strcat(json, p + 1 + 4);
    nostr_arena_init(&pa, NULL, 0, NULL);
    CHECK_EQ(nostr_event_parse(&ev, json, strlen(json), &pa, NULL, NULL), NOSTR_OK);
    CHECK_EQ(it.put(it.self, &ev, json, strlen(json), put_cb, &w), NOSTR_OK);
    nostr_arena_init(&a, NULL, 0, NULL);
    f = parse_filter("{\"search\":\"hello WORLD\"}", &a);
    CHECK_EQ(count_of(&it, &f, 1, 0), 1);
    f = parse_filter("{\"search\":\"line second\"}", &a);
    CHECK_EQ(count_of(&it, &f, 1, 0), 1);
    f = parse_filter("{\"search\":\"u0048ello\"}", &a);
    CHECK_EQ(count_of(&it, &f, 1, 0), 0);
    {
        rows r;
        memset(&r, 0, sizeof r);
        /* the row is the text as put */
        f = parse_filter("{}", &a);
        nostr_buf_init(&r.ids, NULL);
        CHECK_EQ(it.query(it.self, &f, 1, 0, rows_row, rows_done, &r), NOSTR_OK);
        CHECK_EQ(r.n, 1);
        nostr_buf_free(&r.ids);
    }
    nostr_arena_free(&a);
    nostr_arena_free(&pa);
    free(json);
    tev_free(e);
    it.destroy(it.self);
}

/* Sign e again and rewrite its JSON (after tags were added to it). */
static void resign(tev *e, const nostr_keys *k)
{
    nostr_buf b;
    CHECK_EQ(nostr_event_sign(ctx, &e->ev, k), NOSTR_OK);
    free(e->json);
    nostr_buf_init(&b, NULL);
    nostr_event_to_json(&e->ev, &b);
    e->json = b.data;
    e->len = b.len;
}

/* An event with more tag keys than one indexing chunk (16): duplicates
 * across chunk boundaries, long values (keys on the heap), and a map that
 * grows in the middle of a chunk whose keys were looked up before it grew. */
static void test_many_tags(void)
{
    enum { NT = 70 };
    nostr_store_builtin *s = open_store(NULL);
    nostr_store it;
    nostr_keys k;
    nostr_arena a;
    tev *first, *big;
    char vals[NT][320];
    int i;
    if (!s) return;
    it = nostr_store_builtin_iface(s);
    key_from(31, &k);
    for (i = 0; i < NT; i++) {
        if (i % 10 == 7) { /* long: over the chunk's key buffer */
            memset(vals[i], 'a' + i % 26, 300);
            vals[i][300] = 0;
            vals[i][0] = (char)('0' + i % 10);
        } else if (i % 2) {
            snprintf(vals[i], sizeof vals[i], "%064x", i * 7919);
        } else {
            snprintf(vals[i], sizeof vals[i], "v%d", i);
        }
    }
    /* first: some of the values, so their keys exist before big's chunks */
    first = mk(&k, 1, 1600000000, "first", (const char *)NULL);
    for (i = 0; i < NT; i += 5) {
        const char *items[2];
        items[0] = "p";
        items[1] = vals[i];
        nostr_event_add_tag(&first->ev, &first->a, items, 2);
    }
    resign(first, &k);
    CHECK_EQ(put_commit(&it, first), NOSTR_STORE_SAVED);
    /* big: every value, and values 3, 15, 16 and 33 again at chunk edges */
    big = mk(&k, 1, 1600000001, "big", (const char *)NULL);
    for (i = 0; i < NT + 4; i++) {
        static const int again[4] = {3, 15, 16, 33};
        const char *items[2];
        items[0] = "p";
        items[1] = i < NT ? vals[i] : vals[again[i - NT]];
        nostr_event_add_tag(&big->ev, &big->a, items, 2);
    }
    resign(big, &k);
    CHECK_EQ(put_commit(&it, big), NOSTR_STORE_SAVED);
    nostr_arena_init(&a, NULL, 0, NULL);
    for (i = 0; i < NT; i++) {
        nostr_buf fj;
        nostr_filter f;
        unsigned long long n = 0;
        char *ids;
        nostr_buf_init(&fj, NULL);
        nostr_buf_append_str(&fj, "{\"#p\":[\"");
        nostr_buf_append_str(&fj, vals[i]);
        nostr_buf_append_str(&fj, "\"]}");
        f = parse_filter(fj.data, &a);
        ids = query_ids(&it, &f, 1, 0, &n);
        CHECK(ids != NULL);
        CHECK_EQ(n, i % 5 == 0 ? 2 : 1); /* each event once, however often it names the value */
        CHECK_EQ(count_of(&it, &f, 1, 0), n);
        free(ids);
        nostr_buf_free(&fj);
    }
    nostr_arena_free(&a);
    tev_free(first);
    tev_free(big);
    it.destroy(it.self);
}

/* ---- the real corpus against a brute-force scan ---- */

typedef struct cev {
    nostr_event ev;
    const char *json;
    size_t len;
    int live;
} cev;

static int cev_order(const void *x, const void *y)
{
    const cev *a = *(const cev *const *)x, *b = *(const cev *const *)y;
    if (a->ev.created_at != b->ev.created_at) return a->ev.created_at > b->ev.created_at ? -1 : 1;
    return memcmp(a->ev.id, b->ev.id, 32);
}

static unsigned long long rng_state = 0x853c49e6748fea9bULL;
static unsigned rnd(unsigned n)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return n ? (unsigned)((rng_state >> 33) % n) : 0;
}

/* Which corpus events a store keeps: the newest (lowest id on ties) per
 * replaceable/addressable key, minus what kind 5 events of the same
 * author name by e tag or by a coordinate (at or before its time). */
static void corpus_liveness(cev *c, size_t n)
{
    size_t i, j, t;
    for (i = 0; i < n; i++) c[i].live = 1;
    for (i = 0; i < n; i++) {
        int cls = nostr_kind_class(c[i].ev.kind);
        if (cls != NOSTR_KIND_REPLACEABLE && cls != NOSTR_KIND_ADDRESSABLE) continue;
        for (j = 0; j < n; j++) {
            nostr_str di, dj;
            if (j == i || c[j].ev.kind != c[i].ev.kind || memcmp(c[j].ev.pubkey, c[i].ev.pubkey, 32) != 0) continue;
            if (cls == NOSTR_KIND_ADDRESSABLE) {
                di = nostr_event_d_tag(&c[i].ev);
                dj = nostr_event_d_tag(&c[j].ev);
                if (di.len != dj.len || memcmp(di.ptr, dj.ptr, di.len) != 0) continue;
            }
            if (c[j].ev.created_at > c[i].ev.created_at ||
                (c[j].ev.created_at == c[i].ev.created_at && memcmp(c[j].ev.id, c[i].ev.id, 32) < 0))
                c[i].live = 0;
        }
    }
    for (i = 0; i < n; i++) {
        const nostr_event *d = &c[i].ev;
        if (d->kind != 5) continue;
        for (t = 0; t < d->tag_count; t++) {
            const nostr_tag *tg = &d->tags[t];
            if (tg->count < 2 || tg->items[0].len != 1) continue;
            for (j = 0; j < n; j++) {
                const nostr_event *e = &c[j].ev;
                if (memcmp(e->pubkey, d->pubkey, 32) != 0 || e->kind == 5) continue;
                if (tg->items[0].ptr[0] == 'e') {
                    char hex[65];
                    nostr_hex_encode(e->id, 32, hex);
                    if (tg->items[1].len == 64 && memcmp(tg->items[1].ptr, hex, 64) == 0) c[j].live = 0;
                } else if (tg->items[0].ptr[0] == 'a') {
                    char coord[300];
                    int cls = nostr_kind_class(e->kind);
                    nostr_str dd = nostr_event_d_tag(e);
                    char hex[65];
                    if (cls != NOSTR_KIND_REPLACEABLE && cls != NOSTR_KIND_ADDRESSABLE) continue;
                    if (cls == NOSTR_KIND_REPLACEABLE) dd.len = 0;
                    nostr_hex_encode(e->pubkey, 32, hex);
                    snprintf(coord, sizeof coord, "%u:%s:%.*s", e->kind, hex, (int)dd.len, dd.ptr);
                    if (strlen(coord) == tg->items[1].len && memcmp(coord, tg->items[1].ptr, tg->items[1].len) == 0 &&
                        e->created_at <= d->created_at)
                        c[j].live = 0;
                }
            }
        }
    }
}

/* A random filter drawn from the corpus' own values. */
static void random_filter(const cev *c, size_t n, nostr_buf *b)
{
    const cev *e = &c[rnd((unsigned)n)];
    char hex[65];
    int first = 1, what = (int)rnd(9);
    size_t i;
    nostr_buf_append_char(b, '{');
#define SEP() (first ? (void)(first = 0) : (void)nostr_buf_append_char(b, ','))
    if (what == 0) { /* ids */
        unsigned m = 1 + rnd(4), j;
        SEP();
        nostr_buf_append_str(b, "\"ids\":[");
        for (j = 0; j < m; j++) {
            nostr_hex_encode(c[rnd((unsigned)n)].ev.id, 32, hex);
            if (j) nostr_buf_append_char(b, ',');
            nostr_buf_append_str(b, "\"");
            nostr_buf_append_str(b, hex);
            nostr_buf_append_str(b, "\"");
        }
        nostr_buf_append_str(b, "]");
    }
    if (what == 1 || what == 2 || what == 7) { /* authors */
        unsigned m = rnd(16) ? 1 + rnd(what == 7 ? 40 : 3) : 0, j; /* sometimes empty: matches nothing */
        SEP();
        nostr_buf_append_str(b, "\"authors\":[");
        for (j = 0; j < m; j++) {
            nostr_hex_encode(j ? c[rnd((unsigned)n)].ev.pubkey : e->ev.pubkey, 32, hex);
            if (j) nostr_buf_append_char(b, ',');
            nostr_buf_append_str(b, "\"");
            nostr_buf_append_str(b, hex);
            nostr_buf_append_str(b, "\"");
        }
        nostr_buf_append_str(b, "]");
    }
    if (what == 2 || what == 3 || what == 7 || rnd(4) == 0) { /* kinds */
        SEP();
        nostr_buf_append_str(b, "\"kinds\":[");
        if (rnd(16)) nostr_buf_append_u64(b, e->ev.kind); /* sometimes []: matches nothing */
        if (rnd(2) && b->data[b->len - 1] != '[') {
            nostr_buf_append_char(b, ',');
            nostr_buf_append_u64(b, c[rnd((unsigned)n)].ev.kind);
        }
        nostr_buf_append_str(b, "]");
    }
    if (what == 4 || what == 5 || rnd(5) == 0) { /* one or two tags of e */
        int tags = 0;
        for (i = 0; i < e->ev.tag_count && tags < 1 + (what == 5); i++) {
            const nostr_tag *t = &e->ev.tags[rnd((unsigned)e->ev.tag_count)];
            char name[8];
            if (t->count < 2 || t->items[0].len != 1) continue;
            if (!((t->items[0].ptr[0] >= 'a' && t->items[0].ptr[0] <= 'z') ||
                  (t->items[0].ptr[0] >= 'A' && t->items[0].ptr[0] <= 'Z')))
                continue;
            if (strchr(t->items[1].ptr, '"') || strchr(t->items[1].ptr, '\\') || t->items[1].len > 200) continue;
            if (strstr(b->data, "\"#") && strchr(b->data, t->items[0].ptr[0])) continue;
            snprintf(name, sizeof name, "\"#%c\":[", t->items[0].ptr[0]);
            {
                /* skip a name already used */
                char probe[8];
                snprintf(probe, sizeof probe, "\"#%c\"", t->items[0].ptr[0]);
                if (strstr(b->data, probe)) continue;
            }
            SEP();
            nostr_buf_append_str(b, name);
            nostr_buf_append_char(b, '"');
            nostr_buf_append(b, t->items[1].ptr, t->items[1].len);
            nostr_buf_append_char(b, '"');
            if (rnd(2)) nostr_buf_append_str(b, ",\"zzz-not-there\"");
            nostr_buf_append_str(b, "]");
            tags++;
        }
    }
    if (what == 6 || rnd(3) == 0) { /* a time window around e */
        long long lo = e->ev.created_at - (long long)rnd(86400 * 30), hi = e->ev.created_at + (long long)rnd(86400);
        if (rnd(2)) {
            SEP();
            nostr_buf_append_str(b, "\"since\":");
            nostr_buf_append_i64(b, lo);
        }
        if (rnd(2)) {
            SEP();
            nostr_buf_append_str(b, "\"until\":");
            nostr_buf_append_i64(b, hi);
        }
    }
    if (what == 8 && e->ev.content.len > 3) { /* a word of e's content */
        size_t s = rnd((unsigned)e->ev.content.len), k;
        const char *p = e->ev.content.ptr;
        while (s < e->ev.content.len && !(p[s] >= 'a' && p[s] <= 'z')) s++;
        for (k = s; k < e->ev.content.len && k - s < 8 && p[k] >= 'a' && p[k] <= 'z'; k++) {
        }
        if (k > s) {
            SEP();
            nostr_buf_append_str(b, "\"search\":\"");
            nostr_buf_append(b, p + s, k - s);
            nostr_buf_append_str(b, "\"");
        }
    }
    if (rnd(3)) {
        SEP();
        nostr_buf_append_str(b, "\"limit\":");
        nostr_buf_append_u64(b, rnd(3) ? 1 + rnd(30) : rnd(600));
    }
#undef SEP
    nostr_buf_append_char(b, '}');
}

/* What a correct store answers, by scanning every live event. */
static char *oracle(cev *c, size_t n, const nostr_filter *fs, size_t nf, long long now, int use_limit,
                    unsigned long long *count)
{
    cev **hit = (cev **)malloc(n * sizeof *hit), **all = (cev **)malloc(n * sizeof *all);
    size_t i, f, nall = 0;
    nostr_buf b;
    nostr_buf_init(&b, NULL);
    nostr_buf_append_str(&b, "");
    for (f = 0; f < nf; f++) {
        size_t nh = 0, lim;
        for (i = 0; i < n; i++) {
            long long exp;
            if (!c[i].live || !nostr_filter_matches(&fs[f], &c[i].ev)) continue;
            exp = nostr_event_expiration(&c[i].ev);
            if (exp && exp <= now) continue;
            if ((fs[f].fields & NOSTR_FILTER_SEARCH) &&
                !nostr_search_match(fs[f].search.ptr, fs[f].search.len, c[i].ev.content.ptr, c[i].ev.content.len))
                continue;
            hit[nh++] = &c[i];
        }
        qsort(hit, nh, sizeof *hit, cev_order);
        lim = use_limit && (fs[f].fields & NOSTR_FILTER_LIMIT) && fs[f].limit < nh ? (size_t)fs[f].limit : nh;
        for (i = 0; i < lim; i++) {
            size_t j;
            for (j = 0; j < nall && all[j] != hit[i]; j++) {
            }
            if (j == nall) all[nall++] = hit[i];
        }
    }
    qsort(all, nall, sizeof *all, cev_order);
    for (i = 0; i < nall; i++) {
        char hex[65];
        nostr_hex_encode(all[i]->ev.id, 32, hex);
        nostr_buf_append(&b, hex, 64);
        nostr_buf_append_char(&b, '\n');
    }
    *count = nall;
    free(hit);
    free(all);
    return b.data;
}

static void test_corpus_oracle(void)
{
    size_t len, n = 0, i;
    char *data = test_read_file("events-real.jsonl", &len), *p, *nl;
    cev *c;
    nostr_arena a, fa;
    nostr_store_builtin *s;
    nostr_store it;
    int round, bad = 0, rounds = 400, live = 0;
    long long maxt = 0;
    CHECK(data != NULL);
    if (!data) return;
    c = (cev *)calloc(4096, sizeof *c);
    nostr_arena_init(&a, NULL, 0, NULL);
    for (p = data; p < data + len && n < 4096; p = nl + 1) {
        nl = strchr(p, '\n');
        if (!nl) nl = data + len;
        if (nl > p && nostr_event_parse(&c[n].ev, p, (size_t)(nl - p), &a, NULL, NULL) == NOSTR_OK) {
            c[n].json = p;
            c[n].len = (size_t)(nl - p);
            if (c[n].ev.created_at > maxt) maxt = c[n].ev.created_at;
            n++;
        }
        if (nl == data + len) break;
    }
    CHECK(n > 2000);
    corpus_liveness(c, n);
    s = open_store(NULL);
    if (!s) return;
    it = nostr_store_builtin_iface(s);
    for (i = 0; i < n; i++) {
        putw w;
        memset(&w, 0, sizeof w);
        CHECK_EQ(it.put(it.self, &c[i].ev, c[i].json, c[i].len, put_cb, &w), NOSTR_OK);
        CHECK_EQ(w.fired, 1);
    }
    for (i = 0; i < n; i++) live += c[i].live;
    CHECK_EQ(live_events(s), live);
    for (i = 0; i < n; i++)
        if (c[i].live != it.has(it.self, c[i].ev.id)) {
            bad++;
        }
    CHECK_EQ(bad, 0);
    nostr_arena_init(&fa, NULL, 0, NULL);
    for (round = 0; round < rounds; round++) {
        nostr_filter fs[3];
        size_t nf = 1 + rnd(3), k;
        nostr_buf text;
        char *got, *want;
        unsigned long long ng = 0, nw = 0, cw = 0;
        long long now = rnd(4) ? maxt + 1 : maxt - (long long)rnd(86400 * 365);
        nostr_buf_init(&text, NULL);
        for (k = 0; k < nf; k++) {
            nostr_buf_clear(&text);
            random_filter(c, n, &text);
            if (nostr_filter_parse(&fs[k], text.data, text.len, &fa, NULL, NULL) != NOSTR_OK) {
                fprintf(stderr, "bad random filter %s\n", text.data);
                abort();
            }
        }
        got = query_ids(&it, fs, nf, now, &ng);
        want = oracle(c, n, fs, nf, now, 1, &nw);
        if (!got || strcmp(got, want) != 0) {
            bad++;
            if (bad < 4) {
                nostr_buf fj;
                nostr_buf_init(&fj, NULL);
                for (k = 0; k < nf; k++) {
                    nostr_filter_to_json(&fs[k], &fj);
                    nostr_buf_append_char(&fj, ' ');
                }
                fprintf(stderr, "mismatch for %s: got %llu rows, want %llu\n", fj.data, ng, nw);
                nostr_buf_free(&fj);
            }
        }
        free(want);
        want = oracle(c, n, fs, nf, now, 0, &cw);
        if (count_of(&it, fs, nf, now) != cw) bad++;
        free(want);
        free(got);
        nostr_buf_free(&text);
        nostr_arena_reset(&fa);
    }
    CHECK_EQ(bad, 0);
    nostr_arena_free(&fa);
    it.destroy(it.self);
    nostr_arena_free(&a);
    free(c);
    free(data);
}

int main(void)
{
    ctx = nostr_ctx_new(NULL);
    TEST_RUN(test_conformance_memory);
    TEST_RUN(test_conformance_disk);
    TEST_RUN(test_persistence);
    TEST_RUN(test_group_commit);
    TEST_RUN(test_pipelined_commit);
    TEST_RUN(test_reentrant);
    TEST_RUN(test_lock);
    fast_fsync = 1;
    TEST_RUN(test_crash_tail);
    fast_fsync = 0;
    TEST_RUN(test_compaction);
    TEST_RUN(test_vacuum);
    TEST_RUN(test_search_escaped);
    TEST_RUN(test_many_tags);
    TEST_RUN(test_corpus_oracle);
    nostr_ctx_free(ctx);
    return TEST_DONE();
}
