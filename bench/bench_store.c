/* Built-in store benchmark.
 *
 *   bench_store [CORPUS.jsonl] [N ...]        (defaults: tests/data/events-real.jsonl, 100000 1000000)
 *
 * For each N, N signed events of the corpus' shape (kinds, tags, content
 * sizes drawn from the corpus; p tags name generated authors, e tags
 * earlier generated events; fresh keys, ids and signatures) are generated
 * once and cached in /tmp/distrise-bench-store-N.jsonl (never in the
 * repository). Then, on one thread:
 *   - put rate into an on-disk store with one fsync per commit of 1, 100
 *     and 1000 puts, and without fsync for the whole set;
 *   - replay: reopening the N-event log;
 *   - query latency p50/p99 (time until done, rows included) for typical
 *     filters, limit 500, on the reopened store.
 * Latencies are over 2000 random queries of each shape; rates are the
 * median of 3 runs where a run is short enough. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "nostr_relay.h"
#include "bench_util.h"

#define T0 1700000000LL

typedef struct line_t {
    char *json;
    size_t len;
} line_t;

/* Split into lines in place. */
static line_t *split_lines(char *data, size_t len, size_t *n)
{
    size_t cap = 1024, k = 0;
    line_t *v = (line_t *)malloc(cap * sizeof *v);
    char *p = data, *end = data + len;
    while (p < end) {
        char *nl = (char *)memchr(p, '\n', (size_t)(end - p));
        if (!nl) nl = end;
        if (nl > p) {
            if (k == cap) v = (line_t *)realloc(v, (cap *= 2) * sizeof *v);
            v[k].json = p;
            v[k].len = (size_t)(nl - p);
            k++;
        }
        p = nl + 1;
    }
    *n = k;
    return v;
}

static unsigned long long rng = 0x9E3779B97F4A7C15ULL;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return n ? (unsigned)(rng % n) : 0;
}

static size_t n_authors(size_t n)
{
    return n / 100 < 1000 ? 1000 : n / 100;
}

static void author_key(nostr_ctx *ctx, size_t i, nostr_keys *k)
{
    unsigned char sec[32];
    memset(sec, 0x11, sizeof sec);
    sec[0] = (unsigned char)(i >> 24);
    sec[1] = (unsigned char)(i >> 16);
    sec[2] = (unsigned char)(i >> 8);
    sec[3] = (unsigned char)i;
    if (nostr_keys_from_secret(ctx, sec, k) != NOSTR_OK) abort();
}

/* Generate the N-event file (signing dominates: about a minute per 1M). */
static int generate(nostr_ctx *ctx, const line_t *corpus, size_t nc, size_t n, const char *path)
{
    size_t na = n_authors(n), i, j;
    nostr_keys *keys = (nostr_keys *)malloc(na * sizeof *keys);
    unsigned char(*ids)[32] = (unsigned char(*)[32])malloc(n * 32);
    nostr_event *tmpl = (nostr_event *)malloc(nc * sizeof *tmpl);
    nostr_arena ta, a;
    nostr_buf out;
    char tmp[600];
    FILE *f;
    double t = now_s();
    snprintf(tmp, sizeof tmp, "%s.part", path);
    f = fopen(tmp, "wb");
    if (!f || !keys || !ids || !tmpl) return -1;
    for (i = 0; i < na; i++) author_key(ctx, i, &keys[i]);
    nostr_arena_init(&ta, NULL, 0, NULL);
    for (i = j = 0; i < nc; i++)
        if (nostr_event_parse(&tmpl[j], corpus[i].json, corpus[i].len, &ta, NULL, NULL) == NOSTR_OK &&
            nostr_kind_class(tmpl[j].kind) != NOSTR_KIND_EPHEMERAL)
            j++;
    nc = j;
    nostr_arena_init(&a, NULL, 0, NULL);
    nostr_buf_init(&out, NULL);
    for (i = 0; i < n; i++) {
        const nostr_event *tp = &tmpl[rnd((unsigned)nc)];
        nostr_event ev;
        size_t t2;
        long long created = T0 + (long long)(i * (365ULL * 86400) / n) + (long long)rnd(600);
        nostr_arena_reset(&a);
        nostr_event_init(&ev, &a, tp->kind, created, tp->content.ptr, tp->content.len);
        for (t2 = 0; t2 < tp->tag_count; t2++) {
            const nostr_tag *tg = &tp->tags[t2];
            const char *items[16];
            char hex[65];
            size_t k, m = tg->count < 16 ? tg->count : 16;
            for (k = 0; k < m; k++) items[k] = tg->items[k].ptr;
            if (m >= 2 && tg->items[0].len == 1 && tg->items[0].ptr[0] == 'p') {
                nostr_hex_encode(keys[rnd((unsigned)na)].pub, 32, hex);
                items[1] = hex;
            } else if (m >= 2 && tg->items[0].len == 1 && tg->items[0].ptr[0] == 'e' && i > 0) {
                size_t back = 1 + rnd(i < 20000 ? (unsigned)i : 20000);
                nostr_hex_encode(ids[i - back], 32, hex);
                items[1] = hex;
            }
            nostr_event_add_tag(&ev, &a, items, m);
        }
        if (nostr_event_sign(ctx, &ev, &keys[rnd((unsigned)na)]) != NOSTR_OK) return -1;
        memcpy(ids[i], ev.id, 32);
        nostr_buf_clear(&out);
        nostr_event_to_json(&ev, &out);
        nostr_buf_append_char(&out, '\n');
        fwrite(out.data, 1, out.len, f);
        if (i && i % 100000 == 0) fprintf(stderr, "  generated %zu events (%.0f s)\n", i, now_s() - t);
    }
    fclose(f);
    rename(tmp, path);
    fprintf(stderr, "  generated %zu events in %.1f s -> %s\n", n, now_s() - t, path);
    nostr_buf_free(&out);
    nostr_arena_free(&a);
    nostr_arena_free(&ta);
    for (i = 0; i < na; i++) nostr_keys_wipe(&keys[i]);
    free(keys);
    free(ids);
    free(tmpl);
    return 0;
}

/* ---- store plumbing ---- */

static void put_done(void *user, int result, const char *msg)
{
    (void)msg;
    if (result < 0) ++*(int *)user;
}

static unsigned long long rows_bytes;
static void on_row(void *user, const char *json, size_t len)
{
    (void)user;
    rows_bytes += len + (unsigned char)json[len / 2];
}

static unsigned long long done_count;
static void on_done(void *user, int rc, unsigned long long count)
{
    (void)user;
    (void)rc;
    done_count = count;
}

static void rm_store(const char *dir)
{
    char p[600];
    snprintf(p, sizeof p, "%s/events.log", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/events.log.tmp", dir);
    unlink(p);
    rmdir(dir);
}

static nostr_store_builtin *open_dir(const char *dir, int no_fsync)
{
    nostr_store_builtin *s;
    nostr_store_builtin_config cfg;
    nostr_error err;
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = dir;
    cfg.no_fsync = no_fsync;
    if (nostr_store_builtin_open(&s, &cfg, &err) != NOSTR_OK) {
        fprintf(stderr, "open %s: %s\n", dir, err.msg);
        exit(1);
    }
    return s;
}

/* Put lines [0, count) committing every batch puts; events/s. */
static double put_rate(const line_t *lines, size_t count, size_t batch, int no_fsync)
{
    char dir[64];
    nostr_store_builtin *s;
    nostr_store it;
    nostr_arena a;
    unsigned char mem[1 << 16];
    size_t i;
    int errors = 0;
    double t;
    snprintf(dir, sizeof dir, "/tmp/bench-store-XXXXXX");
    if (!mkdtemp(dir)) exit(1);
    s = open_dir(dir, no_fsync);
    it = nostr_store_builtin_iface(s);
    nostr_arena_init(&a, mem, sizeof mem, NULL);
    t = now_s();
    for (i = 0; i < count; i++) {
        nostr_event ev;
        nostr_arena_reset(&a);
        if (nostr_event_parse(&ev, lines[i].json, lines[i].len, &a, NULL, NULL) != NOSTR_OK) exit(1);
        it.put(it.self, &ev, lines[i].json, lines[i].len, put_done, &errors);
        if ((i + 1) % batch == 0) it.commit(it.self);
    }
    it.commit(it.self);
    t = now_s() - t;
    nostr_arena_free(&a);
    nostr_store_builtin_close(s);
    rm_store(dir);
    if (errors) fprintf(stderr, "  %d puts failed\n", errors);
    return (double)count / t;
}

/* ---- queries ---- */

typedef struct shape {
    const char *name;
    nostr_filter *f; /* one per query */
    size_t nq;
} shape;

static int cmp_d(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* Thread CPU time: the machine is shared, and wall time includes being
 * preempted by other processes (several ms at a time). */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void run_shape(nostr_store *it, const shape *sh, int count)
{
    double *lat = (double *)malloc(sh->nq * sizeof *lat), *cpu = (double *)malloc(sh->nq * sizeof *cpu);
    unsigned long long rows = 0;
    size_t i;
    for (i = 0; i < sh->nq; i++) {
        double c = cpu_s(), t = now_s();
        if (count)
            it->count(it->self, &sh->f[i], 1, 0, on_done, NULL);
        else
            it->query(it->self, &sh->f[i], 1, 0, on_row, on_done, NULL);
        lat[i] = (now_s() - t) * 1e6;
        cpu[i] = (cpu_s() - c) * 1e6;
        rows += done_count;
        if (getenv("BENCH_SLOW") && lat[i] > 2000) {
            double t2 = now_s();
            it->query(it->self, &sh->f[i], 1, 0, on_row, on_done, NULL);
            fprintf(stderr, "slow query %zu: %.0f us, again %.0f us\n", i, lat[i], (now_s() - t2) * 1e6);
        }
    }
    qsort(lat, sh->nq, sizeof *lat, cmp_d);
    qsort(cpu, sh->nq, sizeof *cpu, cmp_d);
    printf("  %-40s wall p50 %7.1f p99 %7.1f us | cpu p50 %7.1f p99 %7.1f us | %.0f %s/query\n", sh->name,
           lat[sh->nq / 2], lat[sh->nq * 99 / 100], cpu[sh->nq / 2], cpu[sh->nq * 99 / 100],
           (double)rows / (double)sh->nq, count ? "counted" : "rows");
    free(lat);
    free(cpu);
}

static void bench_queries(nostr_store *it, const line_t *lines, size_t n)
{
    enum { NQ = 2000 };
    nostr_arena a, ea;
    size_t na = n_authors(n);
    nostr_keys *keys = (nostr_keys *)malloc(na * sizeof *keys);
    char(*some_ids)[65] = (char(*)[65])malloc(NQ * 65);
    nostr_ctx *ctx = nostr_ctx_new(NULL);
    shape sh;
    size_t i, j;
    char text[40000];
    nostr_buf b;
    nostr_arena_init(&a, NULL, 0, NULL);
    nostr_arena_init(&ea, NULL, 0, NULL);
    nostr_buf_init(&b, NULL);
    for (i = 0; i < na; i++) author_key(ctx, i, &keys[i]);
    for (i = 0; i < NQ; i++) { /* ids of random events, for #e */
        nostr_event ev;
        const line_t *l = &lines[rnd((unsigned)n)];
        nostr_arena_reset(&ea);
        nostr_event_parse(&ev, l->json, l->len, &ea, NULL, NULL);
        nostr_hex_encode(ev.id, 32, some_ids[i]);
    }
    sh.f = (nostr_filter *)malloc(NQ * sizeof *sh.f);
    sh.nq = NQ;
#define SHAPE(title, ...)                                                                                              \
    do {                                                                                                               \
        sh.name = title;                                                                                               \
        for (i = 0; i < NQ; i++) {                                                                                     \
            char hex[65];                                                                                              \
            long long w = T0 + (long long)rnd(365 * 86400);                                                            \
            nostr_hex_encode(keys[rnd((unsigned)na)].pub, 32, hex);                                                    \
            (void)w;                                                                                                   \
            snprintf(text, sizeof text, __VA_ARGS__);                                                                  \
            if (nostr_filter_parse(&sh.f[i], text, strlen(text), &a, NULL, NULL) != NOSTR_OK) abort();                 \
        }                                                                                                              \
    } while (0)
    SHAPE("author, limit 500", "{\"authors\":[\"%s\"],\"limit\":500}", hex);
    run_shape(it, &sh, 0);
    SHAPE("author + kind 1, limit 500", "{\"authors\":[\"%s\"],\"kinds\":[1],\"limit\":500}", hex);
    run_shape(it, &sh, 0);
    SHAPE("author + kind 0 (profile)", "{\"authors\":[\"%s\"],\"kinds\":[0]}", hex);
    run_shape(it, &sh, 0);
    SHAPE("kind 1, limit 500", "{\"kinds\":[1],\"limit\":500}%s", "");
    run_shape(it, &sh, 0);
    SHAPE("kind 7, limit 500", "{\"kinds\":[7],\"limit\":500}%s", "");
    run_shape(it, &sh, 0);
    SHAPE("#e, limit 500", "{\"#e\":[\"%s\"],\"limit\":500}", some_ids[i]);
    run_shape(it, &sh, 0);
    SHAPE("#p + kinds 1,7, limit 500", "{\"#p\":[\"%s\"],\"kinds\":[1,7],\"limit\":500}", hex);
    run_shape(it, &sh, 0);
    SHAPE("since/until 1 h window, limit 500", "{\"since\":%lld,\"until\":%lld,\"limit\":500}", w, w + 3600);
    run_shape(it, &sh, 0);
    SHAPE("since/until 1 day, kind 1, limit 500", "{\"kinds\":[1],\"since\":%lld,\"until\":%lld,\"limit\":500}", w,
          w + 86400);
    run_shape(it, &sh, 0);
    /* a home feed: 300 followed authors, notes and reposts */
    sh.name = "feed: 300 authors, kinds 1,6, limit 500";
    sh.nq = 500;
    for (i = 0; i < sh.nq; i++) {
        nostr_buf_clear(&b);
        nostr_buf_append_str(&b, "{\"kinds\":[1,6],\"limit\":500,\"authors\":[");
        for (j = 0; j < 300; j++) {
            char hex[65];
            nostr_hex_encode(keys[rnd((unsigned)na)].pub, 32, hex);
            if (j) nostr_buf_append_char(&b, ',');
            nostr_buf_append_char(&b, '"');
            nostr_buf_append(&b, hex, 64);
            nostr_buf_append_char(&b, '"');
        }
        nostr_buf_append_str(&b, "]}");
        if (nostr_filter_parse(&sh.f[i], b.data, b.len, &a, NULL, NULL) != NOSTR_OK) abort();
    }
    run_shape(it, &sh, 0);
    sh.nq = 200;
    SHAPE("COUNT kind 7", "{\"kinds\":[7]}%s", "");
    run_shape(it, &sh, 1);
#undef SHAPE
    nostr_buf_free(&b);
    nostr_arena_free(&a);
    nostr_arena_free(&ea);
    free(sh.f);
    free(some_ids);
    for (i = 0; i < na; i++) nostr_keys_wipe(&keys[i]);
    free(keys);
    nostr_ctx_free(ctx);
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) v = atol(line + 6);
    fclose(f);
    return v;
}

static void bench_size(nostr_ctx *ctx, const line_t *corpus, size_t nc, size_t n)
{
    char path[256], dir[64];
    size_t len, nl, i;
    char *data;
    line_t *lines;
    double r[3], t;
    nostr_store_builtin *s;
    nostr_store it;
    nostr_store_builtin_stats st;
    snprintf(path, sizeof path, "/tmp/distrise-bench-store-%zu.jsonl", n);
    data = read_all(path, &len);
    if (!data) {
        fprintf(stderr, "generating %zu events of the corpus' shape (cached in %s)...\n", n, path);
        if (generate(ctx, corpus, nc, n, path) != 0) exit(1);
        data = read_all(path, &len);
        if (!data) exit(1);
    }
    lines = split_lines(data, len, &nl);
    printf("\n%zu events (%.0f MB of JSON, %zu authors)\n", nl, (double)len / 1e6, n_authors(n));

    printf("put, on disk:\n");
    {
        size_t m1 = nl < 2000 ? nl : 2000, m2 = nl < 100000 ? nl : 100000;
        for (i = 0; i < 3; i++) r[i] = put_rate(lines, m1, 1, 0);
        printf("  fsync every put          %10.0f events/s  (median of 3 x %zu)\n", median(r, 3), m1);
        for (i = 0; i < 3; i++) r[i] = put_rate(lines, m2, 100, 0);
        printf("  fsync every 100 puts     %10.0f events/s  (median of 3 x %zu)\n", median(r, 3), m2);
        for (i = 0; i < 3; i++) r[i] = put_rate(lines, m2, 1000, 0);
        printf("  fsync every 1000 puts    %10.0f events/s  (median of 3 x %zu)\n", median(r, 3), m2);
    }

    /* the whole set without fsync, kept for replay and queries */
    snprintf(dir, sizeof dir, "/tmp/bench-store-XXXXXX");
    if (!mkdtemp(dir)) exit(1);
    s = open_dir(dir, 1);
    it = nostr_store_builtin_iface(s);
    {
        nostr_arena a;
        static unsigned char mem[1 << 20];
        int errors = 0;
        nostr_arena_init(&a, mem, sizeof mem, NULL);
        t = now_s();
        for (i = 0; i < nl; i++) {
            nostr_event ev;
            nostr_arena_reset(&a);
            if (nostr_event_parse(&ev, lines[i].json, lines[i].len, &a, NULL, NULL) != NOSTR_OK) exit(1);
            it.put(it.self, &ev, lines[i].json, lines[i].len, put_done, &errors);
            if ((i + 1) % 1000 == 0) it.commit(it.self);
        }
        it.commit(it.self);
        t = now_s() - t;
        nostr_arena_free(&a);
        printf("  no fsync, all %zu        %10.0f events/s (parse included)\n", nl, (double)nl / t);
    }
    nostr_store_builtin_close(s);
    t = now_s();
    s = open_dir(dir, 1);
    t = now_s() - t;
    it = nostr_store_builtin_iface(s);
    nostr_store_builtin_stats_get(s, &st);
    printf("replay (open): %.2f s, %.0f events/s; %llu live events, log %.0f MB, store memory %.0f MB, RSS %.0f MB\n",
           t, (double)nl / t, st.events, (double)st.log_bytes / 1e6, (double)st.memory / 1e6, (double)rss_kib() / 1024);
    t = now_s();
    nostr_store_builtin_compact(s);
    printf("compact: %.2f s\n", now_s() - t);
    printf("queries (%zu events):\n", nl);
    bench_queries(&it, lines, nl);
    nostr_store_builtin_close(s);
    rm_store(dir);
    free(lines);
    free(data);
}

int main(int argc, char **argv)
{
    const char *corpus_path = argc > 1 ? argv[1] : "tests/data/events-real.jsonl";
    size_t len, nc, k;
    char *data = read_all(corpus_path, &len);
    line_t *corpus;
    nostr_ctx *ctx = nostr_ctx_new(NULL);
    if (!data) {
        fprintf(stderr, "usage: bench_store [CORPUS.jsonl] [N ...]: cannot read %s\n", corpus_path);
        return 1;
    }
    corpus = split_lines(data, len, &nc);
    printf("bench_store: corpus %s (%zu events)\n", corpus_path, nc);
    if (argc > 2) {
        for (k = 2; k < (size_t)argc; k++) bench_size(ctx, corpus, nc, (size_t)strtoull(argv[k], NULL, 10));
    } else {
        bench_size(ctx, corpus, nc, 100000);
        bench_size(ctx, corpus, nc, 1000000);
    }
    free(corpus);
    free(data);
    nostr_ctx_free(ctx);
    return 0;
}
