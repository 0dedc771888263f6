/* bench_events.h - the event set shared by the relay benches.
 *
 *   bench_events be;
 *   if (bench_events_load(&be, spec) != 0) exit(1);   // spec: "N" or a JSONL file
 *   ... be.json[i], be.len[i] for i < be.n ...
 *   bench_events_free(&be);
 *
 * A spec that is a number N asks for N signed events shaped like the real
 * corpus tests/data/events-real.jsonl (2,013 real events), generated once
 * and cached as /tmp/distrise-bench/events-N.jsonl (never in the
 * repository); a later run with the same N reuses the file. Any other spec
 * is read as a JSONL file of events, one per line (e.g. the shared corpus
 * ../shared/data/events-real.jsonl).
 *
 * How an event is made: event i draws a real event (its "shape") at random
 * from the corpus, with a random generator seeded by i, so the set does
 * not depend on how many threads made it:
 *   - kind: the shape's, except 5 (a deletion would remove other events of
 *     the set) and 22242 (AUTH only) which become 1;
 *   - content: the shape's text verbatim, cut at 32 KiB (UTF-8 boundary);
 *   - tags: the shape's tags in order and with the same item counts;
 *     "e" values name an earlier event of the set, "a" values
 *     "kind:<author>:<d>", "p" values one of the 1000 authors, or in an
 *     event with more than 10 "p" tags (contact lists, lists) one of 10,000
 *     pubkeys, the authors among them; in the shared corpus (9,075 events)
 *     10.6 times as many pubkeys are named in "p" tags as sign events, and
 *     60% of the mentions of authors are in such long lists, which this
 *     reproduces (a #p query for an author finds replies and reactions as
 *     well as contact lists); other items are kept
 *     verbatim, cut at 1000 bytes; "expiration" and "-" tags are dropped
 *     (NIP-40/NIP-70 would make the relay refuse or hide them); tags stop
 *     when the event would pass about 60,000 bytes or 2000 tags, so every
 *     event fits strfry's and nostr-relay's default limits (64 KiB events,
 *     2000 tags, 1 KiB tag values);
 *   - author: one of 1000 keys (secret = SHA-256("distrise-bench-author-K"));
 *   - created_at: one second apart, the last event at the time of
 *     generation (so no event is in the future).
 * Replaceable (0, 3, 1xxxx) and addressable (3xxxx) kinds keep their
 * shares, so a relay replaces older versions as it would in real traffic;
 * ephemeral kinds (2xxxx) are delivered but never stored.
 * Signing (with the check after it) costs about 60 us an event; the work
 * is split over one thread per core (at most 8). Each thread writes its
 * part of the file; the parts are joined and renamed into place. The cache
 * carries no version: after changing the generator, delete
 * /tmp/distrise-bench.
 *
 * bench_events_meta parses every event and gives what the benches need to
 * build REQs: id, pubkey, kind, created_at, first "e" and "p" values.
 *
 * The including file defines _GNU_SOURCE (or _POSIX_C_SOURCE 200809L)
 * before its first #include and links nostr (nostr.h) and pthreads. */
#ifndef DISTRISE_BENCH_EVENTS_H
#define DISTRISE_BENCH_EVENTS_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "nostr.h"

#define BENCH_FN static __attribute__((unused))

enum {
    BENCH_AUTHORS = 1000,
    BENCH_PUBKEYS = 10000, /* pubkeys long "p" lists draw from (authors first) */
    BENCH_LONG_P = 10,     /* a tag list with more "p" tags than this is "long" */
    BENCH_MAX_CONTENT = 32768,
    BENCH_MAX_EVENT = 60000, /* target for the JSON size of an event */
    BENCH_MAX_TAGS = 2000,
    BENCH_MAX_ITEM = 1000,
    BENCH_MAX_THREADS = 8
};

#define BENCH_CACHE_DIR "/tmp/distrise-bench"

typedef struct bench_events {
    char *data; /* the file's bytes; lines NUL-terminated in place */
    size_t size;
    size_t n;          /* events */
    const char **json; /* json[i], len[i]: event i (no newline) */
    size_t *len;
    size_t bytes;   /* sum of len[] */
    char path[512]; /* where they came from */
} bench_events;

typedef struct bench_event_meta {
    unsigned char id[32], pubkey[32];
    unsigned char e[32], p[32]; /* first "e" / "p" tag values (valid when has_e/has_p) */
    long long created_at;
    unsigned kind;
    unsigned char ok, has_e, has_p; /* ok: parsed */
} bench_event_meta;

/* ---- small helpers ---- */

static unsigned long long bench__splitmix(unsigned long long x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* xorshift64*, one state per event or per thread */
static unsigned long long bench__next(unsigned long long *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static double bench__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *bench__read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) goto fail;
    buf = (char *)malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) goto fail;
    fclose(f);
    buf[n] = 0;
    *size = (size_t)n;
    return buf;
fail:
    free(buf);
    fclose(f);
    return NULL;
}

/* Split data into lines in place (NUL-terminating each); empty lines are
 * skipped. Returns the count, or (size_t)-1 when out of memory. */
static size_t bench__split(char *data, size_t size, const char ***json, size_t **len)
{
    size_t n = 0, cap = 1024;
    char *p = data, *end = data + size, *nl;
    const char **js = (const char **)malloc(cap * sizeof *js);
    size_t *ls = (size_t *)malloc(cap * sizeof *ls);
    if (!js || !ls) goto oom;
    while (p < end) {
        nl = (char *)memchr(p, '\n', (size_t)(end - p));
        if (!nl) nl = end;
        *nl = 0;
        if (nl > p && nl[-1] == '\r') nl[-1] = 0;
        if (*p) {
            if (n == cap) {
                const char **js2;
                size_t *ls2;
                cap *= 2;
                js2 = (const char **)realloc(js, cap * sizeof *js);
                if (!js2) goto oom;
                js = js2;
                ls2 = (size_t *)realloc(ls, cap * sizeof *ls);
                if (!ls2) goto oom;
                ls = ls2;
            }
            js[n] = p;
            ls[n] = strlen(p);
            n++;
        }
        p = nl + 1;
    }
    *json = js;
    *len = ls;
    return n;
oom:
    free(js);
    free(ls);
    return (size_t)-1;
}

/* A prefix of s at most max bytes long that does not cut a UTF-8 sequence. */
static size_t bench__utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max) return len;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80) max--;
    return max;
}

/* ---- generation ---- */

typedef struct bench__gen_shared {
    const nostr_event *shapes;
    size_t nshapes;
    const nostr_keys *keys; /* BENCH_AUTHORS */
    char (*pubhex)[65]; /* BENCH_PUBKEYS */
    unsigned char (*ids)[32]; /* n: ids of the events made so far (each thread its own range) */
    size_t n;
    long long t_end;
} bench__gen_shared;

typedef struct bench__gen_job {
    bench__gen_shared *sh;
    size_t from, to;
    char path[600];
    int rc;
    size_t done;
} bench__gen_job;

/* One event from shape, into ev (strings in a). */
static int bench__make_event(bench__gen_job *job, size_t i, nostr_event *ev, nostr_arena *a, size_t *author)
{
    const bench__gen_shared *sh = job->sh;
    unsigned long long rs = bench__splitmix(0x5eed0000ULL + i) | 1;
    const nostr_event *shape = &sh->shapes[bench__next(&rs) % sh->nshapes];
    unsigned kind = shape->kind == 5 || shape->kind == 22242 ? 1 : shape->kind;
    size_t clen = bench__utf8_cut(shape->content.ptr, shape->content.len, BENCH_MAX_CONTENT);
    size_t used, t, k, np = 0;
    const char *items[64];
    char **big = NULL;
    int rc;

    *author = (size_t)(bench__next(&rs) % BENCH_AUTHORS);
    rc = nostr_event_init(ev, a, kind, sh->t_end - (long long)(sh->n - 1 - i), shape->content.ptr, clen);
    if (rc) return rc;
    /* JSON size so far: fixed fields ~ 240 bytes, content with some escapes */
    used = 240 + clen + clen / 16;
    for (t = 0; t < shape->tag_count; t++)
        np += shape->tags[t].count >= 2 && !strcmp(shape->tags[t].items[0].ptr, "p");
    for (t = 0; t < shape->tag_count && ev->tag_count < BENCH_MAX_TAGS; t++) {
        const nostr_tag *tag = &shape->tags[t];
        const char **it = items;
        size_t need = 3;
        char *v;
        if (tag->count > 0 && (!strcmp(tag->items[0].ptr, "expiration") || !strcmp(tag->items[0].ptr, "-"))) continue;
        if (tag->count > 64) {
            big = (char **)nostr_arena_alloc(a, tag->count * sizeof(char *));
            if (!big) return NOSTR_ERR_NOMEM;
            it = (const char **)big;
        }
        for (k = 0; k < tag->count; k++) {
            size_t l = bench__utf8_cut(tag->items[k].ptr, tag->items[k].len, BENCH_MAX_ITEM);
            it[k] = nostr_arena_strdup(a, tag->items[k].ptr, l);
            if (!it[k]) return NOSTR_ERR_NOMEM;
        }
        if (tag->count >= 2) {
            const char *name = it[0];
            if (!strcmp(name, "e")) {
                v = (char *)nostr_arena_alloc(a, 65);
                if (!v) return NOSTR_ERR_NOMEM;
                if (i > job->from) {
                    nostr_hex_encode(sh->ids[job->from + bench__next(&rs) % (i - job->from)], 32, v);
                } else {
                    unsigned char r[32];
                    for (k = 0; k < 32; k++) r[k] = (unsigned char)bench__next(&rs);
                    nostr_hex_encode(r, 32, v);
                }
                it[1] = v;
            } else if (!strcmp(name, "p")) {
                it[1] = sh->pubhex[bench__next(&rs) % (np > BENCH_LONG_P ? BENCH_PUBKEYS : BENCH_AUTHORS)];
            } else if (!strcmp(name, "a")) {
                const char *colon = strchr(it[1], ':');
                unsigned ak = colon ? (unsigned)strtoul(it[1], NULL, 10) : 30023;
                v = (char *)nostr_arena_alloc(a, 100);
                if (!v) return NOSTR_ERR_NOMEM;
                snprintf(v, 100, "%u:%s:d%u", ak, sh->pubhex[bench__next(&rs) % BENCH_AUTHORS],
                         (unsigned)(bench__next(&rs) % 50));
                it[1] = v;
            }
        }
        for (k = 0; k < tag->count; k++) need += strlen(it[k]) + 3;
        if (used + need > BENCH_MAX_EVENT) break;
        used += need;
        if ((rc = nostr_event_add_tag(ev, a, it, tag->count)) != NOSTR_OK) return rc;
    }
    return NOSTR_OK;
}

static void *bench__gen_thread(void *arg)
{
    bench__gen_job *job = (bench__gen_job *)arg;
    nostr_ctx *ctx = nostr_ctx_new(NULL);
    nostr_arena a;
    nostr_buf out;
    FILE *f = fopen(job->path, "wb");
    size_t i;
    job->rc = -1;
    nostr_arena_init(&a, NULL, 0, NULL);
    nostr_buf_init(&out, NULL);
    if (!ctx || !f) goto done;
    for (i = job->from; i < job->to; i++) {
        nostr_event ev;
        size_t author;
        if (bench__make_event(job, i, &ev, &a, &author) != NOSTR_OK) goto done;
        if (nostr_event_sign(ctx, &ev, &job->sh->keys[author]) != NOSTR_OK) goto done;
        memcpy(job->sh->ids[i], ev.id, 32);
        nostr_buf_clear(&out);
        if (nostr_event_to_json(&ev, &out) != NOSTR_OK || nostr_buf_append_char(&out, '\n') != NOSTR_OK) goto done;
        if (fwrite(out.data, 1, out.len, f) != out.len) goto done;
        nostr_arena_reset(&a);
        job->done = i + 1 - job->from;
    }
    if (fflush(f) == 0) job->rc = 0;
done:
    if (f && fclose(f) != 0) job->rc = -1;
    nostr_buf_free(&out);
    nostr_arena_free(&a);
    if (ctx) nostr_ctx_free(ctx);
    return NULL;
}

/* Append the file at src to out; 0 or -1. */
static int bench__append_file(FILE *out, const char *src)
{
    char buf[1 << 16];
    size_t k;
    FILE *in = fopen(src, "rb");
    if (!in) return -1;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, k, out) != k) {
            fclose(in);
            return -1;
        }
    fclose(in);
    return 0;
}

/* The default shapes file: tests/data/events-real.jsonl next to this header. */
static void bench__shapes_path(char *out, size_t cap)
{
    const char *env = getenv("DISTRISE_BENCH_SHAPES");
    const char *me = __FILE__, *slash = strrchr(me, '/');
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return;
    }
    if (slash)
        snprintf(out, cap, "%.*s/../tests/data/events-real.jsonl", (int)(slash - me), me);
    else
        snprintf(out, cap, "tests/data/events-real.jsonl");
    if (access(out, R_OK) != 0) snprintf(out, cap, "tests/data/events-real.jsonl");
}

/* Generate n events into path (through path.tmp.PID); 0 or -1. */
static int bench__generate(const char *path, size_t n)
{
    char shapes_path[600], tmp[600];
    size_t size, nlines, i, nshapes = 0;
    char *data;
    const char **lj = NULL;
    size_t *ll = NULL;
    nostr_event *shapes = NULL;
    nostr_keys *keys = NULL;
    char(*pubhex)[65] = NULL;
    unsigned char(*ids)[32] = NULL;
    nostr_arena sa;
    nostr_ctx *ctx = NULL;
    bench__gen_shared sh;
    bench__gen_job jobs[BENCH_MAX_THREADS];
    pthread_t th[BENCH_MAX_THREADS];
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nthreads = ncpu < 1 ? 1 : ncpu > BENCH_MAX_THREADS ? BENCH_MAX_THREADS : (int)ncpu, t, rc = -1, started = 0;
    double t0 = bench__now();
    FILE *f = NULL;

    bench__shapes_path(shapes_path, sizeof shapes_path);
    data = bench__read_file(shapes_path, &size);
    if (!data) {
        fprintf(stderr, "bench_events: cannot read the corpus %s (set DISTRISE_BENCH_SHAPES)\n", shapes_path);
        return -1;
    }
    nostr_arena_init(&sa, NULL, 0, NULL);
    nlines = bench__split(data, size, &lj, &ll);
    if (nlines == (size_t)-1 || nlines == 0) goto out;
    shapes = (nostr_event *)malloc(nlines * sizeof *shapes);
    keys = (nostr_keys *)malloc(BENCH_AUTHORS * sizeof *keys);
    pubhex = (char(*)[65])malloc(BENCH_PUBKEYS * sizeof *pubhex);
    ids = (unsigned char(*)[32])malloc((n ? n : 1) * sizeof *ids);
    ctx = nostr_ctx_new(NULL);
    if (!shapes || !keys || !pubhex || !ids || !ctx) goto out;
    for (i = 0; i < nlines; i++)
        if (nostr_event_parse(&shapes[nshapes], lj[i], ll[i], &sa, NULL, NULL) == NOSTR_OK) nshapes++;
    if (!nshapes) goto out;
    for (i = 0; i < BENCH_AUTHORS; i++) {
        char seed[64];
        unsigned char sec[32];
        snprintf(seed, sizeof seed, "distrise-bench-author-%zu", i);
        nostr_sha256(seed, strlen(seed), sec);
        if (nostr_keys_from_secret(ctx, sec, &keys[i]) != NOSTR_OK) goto out;
        nostr_hex_encode(keys[i].pub, 32, pubhex[i]);
    }
    for (; i < BENCH_PUBKEYS; i++) {
        char seed[64];
        unsigned char pk[32];
        snprintf(seed, sizeof seed, "distrise-bench-pubkey-%zu", i);
        nostr_sha256(seed, strlen(seed), pk);
        nostr_hex_encode(pk, 32, pubhex[i]);
    }
    sh.shapes = shapes;
    sh.nshapes = nshapes;
    sh.keys = keys;
    sh.pubhex = pubhex;
    sh.ids = ids;
    sh.n = n;
    sh.t_end = (long long)time(NULL);
    fprintf(stderr, "bench_events: signing %zu events shaped like %s (%zu shapes, %d authors, %d threads)\n", n,
            shapes_path, nshapes, BENCH_AUTHORS, nthreads);
    for (t = 0; t < nthreads; t++) {
        jobs[t].sh = &sh;
        jobs[t].from = n * (size_t)t / (size_t)nthreads;
        jobs[t].to = n * (size_t)(t + 1) / (size_t)nthreads;
        jobs[t].rc = -1;
        jobs[t].done = 0;
        snprintf(jobs[t].path, sizeof jobs[t].path, "%s.part%d.%ld", path, t, (long)getpid());
    }
    for (t = 0; t < nthreads; t++) {
        if (pthread_create(&th[t], NULL, bench__gen_thread, &jobs[t]) != 0) break;
        started++;
    }
    for (t = 0; t < started; t++) pthread_join(th[t], NULL);
    if (started < nthreads) goto out;
    for (t = 0; t < nthreads; t++)
        if (jobs[t].rc != 0) {
            fprintf(stderr, "bench_events: generating failed (thread %d, %s)\n", t, strerror(errno));
            goto out;
        }
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    f = fopen(tmp, "wb");
    if (!f) goto out;
    for (t = 0; t < nthreads; t++)
        if (bench__append_file(f, jobs[t].path) != 0) goto out;
    if (fclose(f) != 0) {
        f = NULL;
        goto out;
    }
    f = NULL;
    if (rename(tmp, path) != 0) goto out;
    fprintf(stderr, "bench_events: %zu events in %.1f s -> %s\n", n, bench__now() - t0, path);
    rc = 0;
out:
    if (f) fclose(f);
    if (rc) remove(tmp);
    for (t = 0; t < started; t++) remove(jobs[t].path);
    if (keys)
        for (i = 0; i < BENCH_AUTHORS; i++) nostr_keys_wipe(&keys[i]);
    if (ctx) nostr_ctx_free(ctx);
    nostr_arena_free(&sa);
    free(shapes);
    free(keys);
    free(pubhex);
    free(ids);
    free(lj);
    free(ll);
    free(data);
    return rc;
}

/* ---- the API ---- */

BENCH_FN void bench_events_free(bench_events *be)
{
    free(be->data);
    free((void *)be->json);
    free(be->len);
    memset(be, 0, sizeof *be);
}

/* spec: a number N (generated or cached set) or a JSONL file. 0 or -1
 * (with a message on stderr). */
BENCH_FN int bench_events_load(bench_events *be, const char *spec)
{
    char *end;
    unsigned long long n;
    size_t i;
    memset(be, 0, sizeof *be);
    n = strtoull(spec, &end, 10);
    if (*spec && !*end) {
        if (n == 0) {
            fprintf(stderr, "bench_events: need at least one event\n");
            return -1;
        }
        if (mkdir(BENCH_CACHE_DIR, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "bench_events: cannot create %s: %s\n", BENCH_CACHE_DIR, strerror(errno));
            return -1;
        }
        snprintf(be->path, sizeof be->path, "%s/events-%llu.jsonl", BENCH_CACHE_DIR, n);
        if (access(be->path, R_OK) != 0 && bench__generate(be->path, (size_t)n) != 0) return -1;
    } else {
        snprintf(be->path, sizeof be->path, "%s", spec);
    }
    be->data = bench__read_file(be->path, &be->size);
    if (!be->data) {
        fprintf(stderr, "bench_events: cannot read %s\n", be->path);
        return -1;
    }
    be->n = bench__split(be->data, be->size, &be->json, &be->len);
    if (be->n == (size_t)-1 || be->n == 0) {
        fprintf(stderr, "bench_events: no events in %s\n", be->path);
        be->n = 0;
        bench_events_free(be);
        return -1;
    }
    for (i = 0; i < be->n; i++) be->bytes += be->len[i];
    return 0;
}

/* Parse every event into meta[0..n); returns how many parsed. */
BENCH_FN size_t bench_events_meta(const bench_events *be, bench_event_meta *meta)
{
    nostr_arena a;
    size_t i, good = 0, t;
    nostr_arena_init(&a, NULL, 0, NULL);
    for (i = 0; i < be->n; i++) {
        nostr_event ev;
        bench_event_meta *m = &meta[i];
        memset(m, 0, sizeof *m);
        if (nostr_event_parse(&ev, be->json[i], be->len[i], &a, NULL, NULL) == NOSTR_OK) {
            memcpy(m->id, ev.id, 32);
            memcpy(m->pubkey, ev.pubkey, 32);
            m->created_at = ev.created_at;
            m->kind = ev.kind;
            m->ok = 1;
            for (t = 0; t < ev.tag_count; t++) {
                const nostr_tag *tg = &ev.tags[t];
                if (tg->count < 2 || tg->items[0].len != 1 || tg->items[1].len != 64) continue;
                if (tg->items[0].ptr[0] == 'e' && !m->has_e)
                    m->has_e = nostr_hex_decode(tg->items[1].ptr, 64, m->e, 32) == NOSTR_OK;
                else if (tg->items[0].ptr[0] == 'p' && !m->has_p)
                    m->has_p = nostr_hex_decode(tg->items[1].ptr, 64, m->p, 32) == NOSTR_OK;
            }
            good++;
        }
        nostr_arena_reset(&a);
    }
    nostr_arena_free(&a);
    return good;
}

/* The bare verify rate on this thread: nostr_event_verify over events of
 * the set (parsed in advance, not timed), for at least min_s seconds.
 * Events per second, or 0 when none parsed. */
BENCH_FN double bench_events_verify_rate(const bench_events *be, size_t max_events, double min_s)
{
    nostr_ctx *ctx = nostr_ctx_new(NULL);
    nostr_arena a;
    nostr_event *evs;
    size_t n = be->n < max_events ? be->n : max_events, k = 0, i, done = 0;
    double t0, el = 0;
    volatile int sink = 0;
    if (!ctx) return 0;
    evs = (nostr_event *)malloc((n ? n : 1) * sizeof *evs);
    nostr_arena_init(&a, NULL, 0, NULL);
    for (i = 0; i < n && evs; i++)
        if (nostr_event_parse(&evs[k], be->json[i], be->len[i], &a, NULL, NULL) == NOSTR_OK) k++;
    if (k) {
        t0 = bench__now();
        do {
            for (i = 0; i < k; i++) sink += nostr_event_verify(ctx, &evs[i]) == NOSTR_OK;
            done += k;
            el = bench__now() - t0;
        } while (el < min_s);
    }
    (void)sink;
    nostr_arena_free(&a);
    free(evs);
    nostr_ctx_free(ctx);
    return k ? (double)done / el : 0;
}

/* The same on T threads at once, each over the same events: the sum of
 * their rates. This is the machine's verify limit with every core busy,
 * which can be well under T times the one-thread rate (cores sharing a
 * host, turbo, a noisy neighbour), and so the fair "both cores" limit. */
typedef struct bench__vthread {
    const bench_events *be;
    size_t max_events;
    double min_s, rate;
} bench__vthread;

static void *bench__verify_thread(void *arg)
{
    bench__vthread *t = (bench__vthread *)arg;
    t->rate = bench_events_verify_rate(t->be, t->max_events, t->min_s);
    return NULL;
}

BENCH_FN double bench_events_verify_rate_threads(const bench_events *be, size_t max_events, double min_s, int nthreads)
{
    pthread_t tid[16];
    bench__vthread t[16];
    double sum = 0;
    int i, started = 0;
    if (nthreads < 1) nthreads = 1;
    if (nthreads > 16) nthreads = 16;
    for (i = 0; i < nthreads; i++) {
        t[i].be = be;
        t[i].max_events = max_events;
        t[i].min_s = min_s;
        t[i].rate = 0;
        if (pthread_create(&tid[i], NULL, bench__verify_thread, &t[i]) != 0) break;
        started++;
    }
    for (i = 0; i < started; i++) {
        pthread_join(tid[i], NULL);
        sum += t[i].rate;
    }
    return started == nthreads ? sum : 0;
}

#endif
