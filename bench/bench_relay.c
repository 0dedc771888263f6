/* The relay in process, no sockets: nostr_relay over the built-in store,
 * fed pre-framed WebSocket messages on fake connections.
 *
 *   bench_relay [--events N|FILE] [--req-events N|FILE] [--mode ingest|req|all]
 *               [--rounds R] [--conns F] [--batch B] [--threads T] [--reqs Q]
 *
 * Events: bench_events.h (N generated events shaped like the real corpus,
 * cached in /tmp/distrise-bench, or a JSONL file). Defaults: 50,000 for
 * ingest, 1,000,000 for REQ, 3 rounds, 4 connections, batches of 64
 * messages per connection, 2 verify threads, 2000 REQs.
 *
 * Ingest: each EVENT message is framed in advance as a client would send
 * it (masked text frame), the frames of a connection laid end to end. One
 * loop iteration feeds the next B frames of every connection in one
 * nostr_relay_feed call each, hands finished verifications back
 * (nostr_relay_verify_done), commits the store (group commit: for the
 * on-disk store one write and one fsync per iteration) and drains every
 * connection's output through a client framer, counting OKs - what
 * nostr-relay's loop does per wakeup, minus the sockets. events/s = events
 * / (first feed to last OK). Four cases per round, each on a fresh relay
 * and store: memory store or on-disk store (a temp dir under
 * /tmp/distrise-bench, fsync on), verify inline (on the loop's thread) or
 * on T worker threads through cb.verify. The bare verify rate
 * (nostr_event_verify on one thread) is measured in each round too, and
 * each rate is printed with its ratio to it and to T times it.
 *
 * REQ: the REQ event set is put straight into a memory built-in store
 * through the store interface (the put rate is printed), then Q REQs of
 * the load generator's mix (authors+limit 20, kinds+limit 20, #e or #p
 * +limit 20, since/until 60 s window +limit 50) go through the relay one
 * at a time on one connection: feed the frame, drain the output to EOSE.
 * p50/p99 per round and per filter type; the target is p99 under 5 ms
 * with 1M events.
 *
 * Every figure is the median over R rounds, rounds listed in brackets. */
#define _GNU_SOURCE
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "bench_events.h"
#include "nostr_relay.h"
#include "bench_util.h"

enum { MAX_ROUNDS = 32, NTYPES = 5 };

static void die(const char *msg)
{
    fprintf(stderr, "bench_relay: %s\n", msg);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

static double med(const double *v, int n)
{
    double c[MAX_ROUNDS];
    memcpy(c, v, (size_t)n * sizeof *v);
    return pct(c, (size_t)n, 50);
}

static void print_metric(const char *name, const double *v, int n, const char *unit, int prec)
{
    char vals[512];
    size_t at = 0;
    int i;
    vals[0] = 0;
    for (i = 0; i < n && at < sizeof vals - 32; i++)
        at += (size_t)snprintf(vals + at, sizeof vals - at, i ? " %.*f" : "%.*f", prec, v[i]);
    printf("%-36s %12.*f %-9s (%s%s)\n", name, prec, med(v, n), unit, n > 1 ? "median of " : "", vals);
    fflush(stdout);
}

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- verify workers: FIFO of jobs linked through job->app ---- */

typedef struct job_fifo {
    nostr_relay_verify_job *head, *tail;
} job_fifo;

typedef struct vpool {
    pthread_mutex_t mu;
    pthread_cond_t work, done_cv;
    job_fifo todo, done;
    size_t pending; /* handed out, not yet given back to the relay */
    int stop, nthreads;
    pthread_t th[16];
    const nostr_ctx *ctx;
} vpool;

static void fifo_push(job_fifo *q, nostr_relay_verify_job *j)
{
    j->app = NULL;
    if (q->tail)
        q->tail->app = j;
    else
        q->head = j;
    q->tail = j;
}

static void *vworker(void *arg)
{
    vpool *vp = (vpool *)arg;
    pthread_mutex_lock(&vp->mu);
    for (;;) {
        nostr_relay_verify_job *batch, *j, *last = NULL;
        int n = 0;
        while (!vp->todo.head && !vp->stop) pthread_cond_wait(&vp->work, &vp->mu);
        if (vp->stop && !vp->todo.head) break;
        batch = vp->todo.head;
        for (j = batch; j && n < 32; j = (nostr_relay_verify_job *)j->app, n++) last = j;
        vp->todo.head = (nostr_relay_verify_job *)last->app;
        if (!vp->todo.head) vp->todo.tail = NULL;
        last->app = NULL;
        pthread_mutex_unlock(&vp->mu);
        for (j = batch; j; j = (nostr_relay_verify_job *)j->app) j->result = nostr_event_verify(vp->ctx, j->event);
        pthread_mutex_lock(&vp->mu);
        for (j = batch; j;) {
            nostr_relay_verify_job *next = (nostr_relay_verify_job *)j->app;
            fifo_push(&vp->done, j);
            j = next;
        }
        pthread_cond_signal(&vp->done_cv);
    }
    pthread_mutex_unlock(&vp->mu);
    return NULL;
}

static void vpool_start(vpool *vp, const nostr_ctx *ctx, int n)
{
    int i;
    memset(vp, 0, sizeof *vp);
    pthread_mutex_init(&vp->mu, NULL);
    pthread_cond_init(&vp->work, NULL);
    pthread_cond_init(&vp->done_cv, NULL);
    vp->ctx = ctx;
    for (i = 0; i < n && i < 16; i++)
        if (pthread_create(&vp->th[i], NULL, vworker, vp) == 0) vp->nthreads++;
}

static void vpool_stop(vpool *vp)
{
    int i;
    pthread_mutex_lock(&vp->mu);
    vp->stop = 1;
    pthread_cond_broadcast(&vp->work);
    pthread_mutex_unlock(&vp->mu);
    for (i = 0; i < vp->nthreads; i++) pthread_join(vp->th[i], NULL);
}

/* after vpool_stop and the last vpool_drain */
static void vpool_free(vpool *vp)
{
    pthread_cond_destroy(&vp->work);
    pthread_cond_destroy(&vp->done_cv);
    pthread_mutex_destroy(&vp->mu);
}

static int verify_cb(void *user, nostr_relay_verify_job *job)
{
    vpool *vp = (vpool *)user;
    pthread_mutex_lock(&vp->mu);
    fifo_push(&vp->todo, job);
    vp->pending++;
    pthread_cond_signal(&vp->work);
    pthread_mutex_unlock(&vp->mu);
    return 0;
}

static size_t vpool_pending(vpool *vp)
{
    size_t n;
    pthread_mutex_lock(&vp->mu);
    n = vp->pending;
    pthread_mutex_unlock(&vp->mu);
    return n;
}

/* Give finished jobs back to the relay; with wait, block until at least
 * one is done (when any is pending). */
static void vpool_drain(vpool *vp, nostr_relay *r, int wait)
{
    nostr_relay_verify_job *j;
    pthread_mutex_lock(&vp->mu);
    while (wait && !vp->done.head && vp->pending) pthread_cond_wait(&vp->done_cv, &vp->mu);
    j = vp->done.head;
    vp->done.head = vp->done.tail = NULL;
    pthread_mutex_unlock(&vp->mu);
    while (j) {
        nostr_relay_verify_job *next = (nostr_relay_verify_job *)j->app;
        pthread_mutex_lock(&vp->mu);
        vp->pending--;
        pthread_mutex_unlock(&vp->mu);
        nostr_relay_verify_done(r, j);
        j = next;
    }
}

/* ---- fake connections ---- */

typedef struct fconn {
    nostr_relay_conn *rc;
    nostr_ws client;   /* reads the relay's frames */
    unsigned char *in; /* pre-framed input */
    size_t in_len, in_pos;
    size_t *ends; /* ends[k]: offset after frame k */
    size_t nframes, next_frame;
    size_t oks, refused, eose, rows, closed;
    char last_refusal[160];
    unsigned xs;
} fconn;

static int sink_send(void *user, const void *p, size_t n)
{
    (void)user;
    (void)p;
    (void)n;
    return 0;
}

static int cap_send(void *user, const void *p, size_t n)
{
    return nostr_buf_append((nostr_buf *)user, p, n) == NOSTR_OK ? 0 : -1;
}

static int xs_rng(void *user, unsigned char *out, size_t n)
{
    unsigned *s = (unsigned *)user;
    size_t i;
    for (i = 0; i < n; i++) {
        *s ^= *s << 13;
        *s ^= *s >> 17;
        *s ^= *s << 5;
        out[i] = (unsigned char)*s;
    }
    return 0;
}

static void client_msg(void *user, int opcode, const char *d, size_t n)
{
    fconn *f = (fconn *)user;
    (void)opcode;
    if (n >= 7 && !memcmp(d, "[\"OK\",\"", 7)) {
        if (n > 7 + 64 + 6 && !memcmp(d + 7 + 64, "\",true", 6)) {
            f->oks++;
        } else {
            f->refused++;
            snprintf(f->last_refusal, sizeof f->last_refusal, "%.*s", (int)(n < 150 ? n : 150), d);
        }
    } else if (n >= 9 && !memcmp(d, "[\"EVENT\",", 9)) {
        f->rows++;
    } else if (n >= 8 && !memcmp(d, "[\"EOSE\",", 8)) {
        f->eose++;
    } else if (n >= 10 && !memcmp(d, "[\"CLOSED\",", 10)) {
        f->closed++;
        f->eose++;
        snprintf(f->last_refusal, sizeof f->last_refusal, "%.*s", (int)(n < 150 ? n : 150), d);
    }
}

static void fconn_client_init(fconn *f)
{
    nostr_ws_config cfg;
    nostr_ws_callbacks cb;
    memset(&cfg, 0, sizeof cfg);
    memset(&cb, 0, sizeof cb);
    cfg.rng = xs_rng;
    cfg.rng_user = &f->xs;
    cfg.max_frame = cfg.max_message = 64u << 20;
    cb.user = f;
    cb.send = sink_send;
    cb.on_message = client_msg;
    f->xs = 0x12345u;
    if (nostr_ws_init(&f->client, NOSTR_WS_CLIENT, &cfg, &cb) != NOSTR_OK) die("ws init");
}

/* Drain c's output into its client framer. */
static void drain(nostr_relay *r, fconn *f)
{
    const void *p;
    size_t n;
    while ((n = nostr_relay_output(f->rc, &p)) > 0) {
        if (nostr_ws_feed(&f->client, p, n) != NOSTR_OK) die("relay output is not valid WebSocket");
        nostr_relay_consume(r, f->rc, n);
    }
}

static void wake_cb(void *user, void *conn_user)
{
    (void)user;
    (void)conn_user;
}

/* Accept a fake connection and upgrade it (the 101 and AUTH drained). */
static void fconn_open(nostr_relay *r, fconn *f)
{
    static const unsigned char key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    nostr_buf req;
    nostr_http_parser hp;
    const void *p;
    size_t n, used = 0;
    f->rc = nostr_relay_accept(r, "127.0.0.1", f);
    if (!f->rc) die("accept refused");
    nostr_buf_init(&req, NULL);
    nostr_ws_client_request(&req, "127.0.0.1:7777", "/", key, NULL);
    nostr_relay_feed(r, f->rc, req.data, req.len);
    nostr_buf_free(&req);
    n = nostr_relay_output(f->rc, &p);
    nostr_http_parser_init(&hp, NOSTR_HTTP_RESPONSE, NULL);
    if (nostr_http_feed(&hp, p, n, &used) != NOSTR_HTTP_DONE || nostr_ws_client_check_response(&hp.msg, key, NULL))
        die("upgrade failed");
    nostr_http_parser_free(&hp);
    fconn_client_init(f);
    if (n > used) nostr_ws_feed(&f->client, (const char *)p + used, n - used);
    nostr_relay_consume(r, f->rc, n);
    drain(r, f);
}

/* Frame messages as a client sends them, end to end. */
static void frame_events(const bench_events *be, fconn *fs, int nconns, size_t n)
{
    nostr_buf msg;
    int k;
    size_t i;
    nostr_buf_init(&msg, NULL);
    for (k = 0; k < nconns; k++) {
        fconn *f = &fs[k];
        nostr_buf out;
        nostr_ws ws;
        nostr_ws_config cfg;
        nostr_ws_callbacks cb;
        unsigned xs = 0x9876u + (unsigned)k;
        memset(&cfg, 0, sizeof cfg);
        memset(&cb, 0, sizeof cb);
        cfg.rng = xs_rng;
        cfg.rng_user = &xs;
        nostr_buf_init(&out, NULL);
        cb.user = &out;
        cb.send = cap_send;
        nostr_ws_init(&ws, NOSTR_WS_CLIENT, &cfg, &cb);
        f->nframes = 0;
        f->ends = (size_t *)xmalloc((n / (size_t)nconns + 1) * sizeof *f->ends);
        for (i = (size_t)k; i < n; i += (size_t)nconns) {
            nostr_buf_clear(&msg);
            nostr_buf_append(&msg, "[\"EVENT\",", 9);
            nostr_buf_append(&msg, be->json[i], be->len[i]);
            nostr_buf_append_char(&msg, ']');
            if (nostr_ws_send_text(&ws, (const char *)msg.data, msg.len) != NOSTR_OK) die("cannot frame an event");
            f->ends[f->nframes++] = out.len;
        }
        nostr_ws_free(&ws);
        f->in = (unsigned char *)out.data; /* keep the buffer */
        f->in_len = out.len;
    }
    nostr_buf_free(&msg);
}

/* ---- stores ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static nostr_store_builtin *open_builtin(const char *dir)
{
    nostr_store_builtin_config cfg;
    nostr_store_builtin *s = NULL;
    nostr_error err;
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = dir;
    if (nostr_store_builtin_open(&s, &cfg, &err) != NOSTR_OK) {
        fprintf(stderr, "bench_relay: store open %s: %s\n", dir ? dir : "(memory)", err.msg);
        exit(1);
    }
    return s;
}

static nostr_relay *new_relay(nostr_ctx *ctx, nostr_store *st, vpool *vp)
{
    nostr_relay_config cfg;
    nostr_relay_callbacks cb;
    nostr_relay *r;
    memset(&cfg, 0, sizeof cfg);
    memset(&cb, 0, sizeof cb);
    cfg.ctx = ctx;
    cfg.limits.events_per_s = cfg.limits.reqs_per_s = cfg.limits.ip_events_per_s = -1;
    cfg.limits.max_conns_per_ip = 100000;
    cb.wake = wake_cb;
    if (vp) {
        cb.user = vp;
        cb.verify = verify_cb;
    }
    r = nostr_relay_new(&cfg, &cb, st);
    if (!r) die("nostr_relay_new failed");
    nostr_relay_tick(r, wall_ms());
    return r;
}

/* ---- ingest ---- */

typedef struct ingest_result {
    double rate;
    size_t oks, refused;
    char refusal[160];
} ingest_result;

static ingest_result run_ingest(nostr_ctx *ctx, fconn *fs, int nconns, size_t n, int batch, int disk, int threads)
{
    char dir[256];
    nostr_store_builtin *sb;
    nostr_store st;
    nostr_relay *r;
    vpool vp;
    ingest_result res;
    double t0, t_last = 0;
    size_t done = 0;
    long long last_tick;
    int k;
    memset(&res, 0, sizeof res);
    snprintf(dir, sizeof dir, "%s/store-%ld", BENCH_CACHE_DIR, (long)getpid());
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    sb = open_builtin(disk ? dir : NULL);
    st = nostr_store_builtin_iface(sb);
    if (threads) vpool_start(&vp, ctx, threads);
    r = new_relay(ctx, &st, threads ? &vp : NULL);
    for (k = 0; k < nconns; k++) {
        fs[k].in_pos = 0;
        fs[k].next_frame = 0;
        fs[k].oks = fs[k].refused = 0;
        fs[k].last_refusal[0] = 0;
        fconn_open(r, &fs[k]);
    }
    last_tick = wall_ms();
    t0 = bench__now();
    while (done < n) {
        size_t before = done;
        int fed = 0;
        /* backpressure: with workers, feed only while few jobs wait */
        if (!threads || vpool_pending(&vp) < (size_t)(batch * nconns * 4)) {
            for (k = 0; k < nconns; k++) {
                fconn *f = &fs[k];
                size_t last = f->next_frame + (size_t)batch, end;
                if (f->next_frame >= f->nframes) continue;
                if (last > f->nframes) last = f->nframes;
                end = f->ends[last - 1];
                nostr_relay_feed(r, f->rc, f->in + f->in_pos, end - f->in_pos);
                f->in_pos = end;
                f->next_frame = last;
                fed = 1;
            }
        }
        if (threads) vpool_drain(&vp, r, !fed);
        nostr_store_builtin_commit(sb);
        for (done = 0, k = 0; k < nconns; k++) {
            drain(r, &fs[k]);
            done += fs[k].oks + fs[k].refused;
        }
        if (done > before) t_last = bench__now();
        if (wall_ms() - last_tick >= 200) {
            last_tick = wall_ms();
            nostr_relay_tick(r, last_tick);
        }
        if (!fed && done == before && (!threads || !vpool_pending(&vp))) {
            fprintf(stderr, "bench_relay: stalled at %zu of %zu answers\n", done, n);
            break;
        }
    }
    res.rate = t_last > t0 ? (double)done / (t_last - t0) : 0;
    for (k = 0; k < nconns; k++) {
        res.oks += fs[k].oks;
        res.refused += fs[k].refused;
        if (fs[k].last_refusal[0]) snprintf(res.refusal, sizeof res.refusal, "%s", fs[k].last_refusal);
        nostr_relay_closed(r, fs[k].rc);
        nostr_ws_free(&fs[k].client);
    }
    if (threads) {
        vpool_stop(&vp);
        vpool_drain(&vp, r, 0);
        vpool_free(&vp);
    }
    nostr_relay_free(r);
    nostr_store_builtin_close(sb);
    if (disk) nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return res;
}

static void phase_ingest(const bench_events *be, int rounds, int nconns, int batch, int threads)
{
    static const char *names[4] = {"memory, verify inline", "memory, verify on threads", "disk, verify inline",
                                   "disk, verify on threads"};
    double rate[4][MAX_ROUNDS], bare[MAX_ROUNDS], ratio1[4][MAX_ROUNDS], ratioT[4][MAX_ROUNDS];
    fconn *fs = (fconn *)xmalloc((size_t)nconns * sizeof *fs);
    nostr_ctx *ctx = nostr_ctx_new(NULL);
    size_t n = be->n;
    int r, c, k;
    if (!ctx) die("no context");
    frame_events(be, fs, nconns, n);
    printf("# ingest in process: %zu events (%.1f MB) from %s, %d connections, %d messages per feed, %d verify "
           "threads\n",
           n, (double)be->bytes / 1e6, be->path, nconns, batch, threads);
    for (r = 0; r < rounds; r++) {
        bare[r] = bench_events_verify_rate(be, 20000, 1.0);
        for (c = 0; c < 4; c++) {
            ingest_result res = run_ingest(ctx, fs, nconns, n, batch, c >= 2, c & 1 ? threads : 0);
            rate[c][r] = res.rate;
            ratio1[c][r] = bare[r] > 0 ? res.rate / bare[r] : 0;
            ratioT[c][r] = bare[r] > 0 ? res.rate / (bare[r] * (c & 1 ? threads : 1)) : 0;
            if (r == 0 && res.refused)
                printf("# %s: %zu OK true, %zu refused (e.g. %s)\n", names[c], res.oks, res.refused, res.refusal);
        }
    }
    print_metric("bare_verify_per_s_1thread", bare, rounds, "events/s", 0);
    for (c = 0; c < 4; c++) {
        char name[80];
        static const char *keys[4] = {"mem_inline", "mem_threads", "disk_inline", "disk_threads"};
        snprintf(name, sizeof name, "ingest_%s_per_s", keys[c]);
        print_metric(name, rate[c], rounds, "events/s", 0);
        snprintf(name, sizeof name, "ingest_%s_over_bare", keys[c]);
        print_metric(name, ratio1[c], rounds, "ratio", 2);
        if (c & 1) {
            snprintf(name, sizeof name, "ingest_%s_over_bare_x%d", keys[c], threads);
            print_metric(name, ratioT[c], rounds, "ratio", 2);
        }
    }
    for (k = 0; k < nconns; k++) {
        free(fs[k].in);
        free(fs[k].ends);
    }
    free(fs);
    nostr_ctx_free(ctx);
}

/* ---- REQ latency ---- */

static void count_put(void *user, int result, const char *msg)
{
    (void)msg;
    if (result == NOSTR_STORE_SAVED) (*(size_t *)user)++;
}

static const char *type_names[NTYPES] = {"authors", "kinds", "#e", "#p", "since/until"};

static void make_filter(const bench_events *be, const bench_event_meta *meta, unsigned long long *s, int type,
                        char *out, size_t cap)
{
    char h[65];
    const bench_event_meta *m;
    int tries = 0;
    do m = &meta[bench__next(s) % be->n];
    while (tries++ < 1000 && (!m->ok || (type == 2 && !m->has_e) || (type == 3 && !m->has_p) ||
                              nostr_kind_class(m->kind) == NOSTR_KIND_EPHEMERAL));
    switch (type) {
    case 0:
        nostr_hex_encode(m->pubkey, 32, h);
        snprintf(out, cap, "{\"authors\":[\"%s\"],\"limit\":20}", h);
        break;
    case 1: snprintf(out, cap, "{\"kinds\":[%u],\"limit\":20}", m->kind); break;
    case 2:
    case 3:
        nostr_hex_encode(type == 2 ? m->e : m->p, 32, h);
        snprintf(out, cap, "{\"#%c\":[\"%s\"],\"limit\":20}", type == 2 ? 'e' : 'p', h);
        break;
    default:
        snprintf(out, cap, "{\"since\":%lld,\"until\":%lld,\"limit\":50}", m->created_at - 30, m->created_at + 30);
        break;
    }
}

static void phase_req(const bench_events *be, int rounds, int nreqs)
{
    nostr_ctx *ctx = nostr_ctx_new(NULL);
    nostr_store_builtin *sb = open_builtin(NULL);
    nostr_store st = nostr_store_builtin_iface(sb);
    nostr_store_builtin_stats sst;
    bench_event_meta *meta = (bench_event_meta *)xmalloc(be->n * sizeof *meta);
    double p50[MAX_ROUNDS], p99[MAX_ROUNDS], qps[MAX_ROUNDS], rows[MAX_ROUNDS];
    double tp50[NTYPES][MAX_ROUNDS], tp99[NTYPES][MAX_ROUNDS], put_rate;
    double *lat = (double *)xmalloc((size_t)nreqs * sizeof *lat), *tl[NTYPES];
    size_t ntl[NTYPES], i, saved = 0;
    nostr_arena a;
    nostr_relay *r;
    fconn f;
    nostr_ws cws;
    nostr_ws_config wcfg;
    nostr_ws_callbacks wcb;
    nostr_buf framed, msg;
    unsigned xs = 777;
    double t0;
    int rd, t;
    if (!ctx) die("no context");
    for (t = 0; t < NTYPES; t++) tl[t] = (double *)xmalloc((size_t)nreqs * sizeof(double));
    bench_events_meta(be, meta);
    /* load through the store interface */
    nostr_arena_init(&a, NULL, 0, NULL);
    t0 = bench__now();
    for (i = 0; i < be->n; i++) {
        nostr_event ev;
        if (nostr_event_parse(&ev, be->json[i], be->len[i], &a, NULL, NULL) == NOSTR_OK &&
            nostr_kind_class(ev.kind) != NOSTR_KIND_EPHEMERAL)
            st.put(st.self, &ev, be->json[i], be->len[i], count_put, &saved);
        nostr_arena_reset(&a);
        if (i % 10000 == 9999) nostr_store_builtin_commit(sb);
    }
    nostr_store_builtin_commit(sb);
    put_rate = (double)be->n / (bench__now() - t0);
    nostr_arena_free(&a);
    nostr_store_builtin_stats_get(sb, &sst);
    printf("# REQ in process: %zu events from %s put through the store interface at %.0f events/s: %llu live "
           "(%zu saved), store memory %.0f MB\n",
           be->n, be->path, put_rate, sst.events, saved, (double)sst.memory / 1e6);
    printf("%-36s %12.0f %-9s\n", "store_put_memory_per_s", put_rate, "events/s");

    r = new_relay(ctx, &st, NULL);
    memset(&f, 0, sizeof f);
    fconn_open(r, &f);
    memset(&wcfg, 0, sizeof wcfg);
    memset(&wcb, 0, sizeof wcb);
    wcfg.rng = xs_rng;
    wcfg.rng_user = &xs;
    nostr_buf_init(&framed, NULL);
    nostr_buf_init(&msg, NULL);
    wcb.user = &framed;
    wcb.send = cap_send;
    nostr_ws_init(&cws, NOSTR_WS_CLIENT, &wcfg, &wcb);
    for (rd = 0; rd < rounds; rd++) {
        unsigned long long s = bench__splitmix(0xabcdef + (unsigned long long)rd) | 1;
        size_t rows0 = f.rows, closed0 = f.closed;
        double el = 0;
        int q;
        for (t = 0; t < NTYPES; t++) ntl[t] = 0;
        for (q = 0; q < nreqs; q++) {
            char filt[300];
            size_t eose0 = f.eose;
            double q0;
            int type = q % NTYPES;
            make_filter(be, meta, &s, type, filt, sizeof filt);
            nostr_buf_clear(&msg);
            nostr_buf_append_str(&msg, "[\"REQ\",\"q\",");
            nostr_buf_append_str(&msg, filt);
            nostr_buf_append_char(&msg, ']');
            nostr_buf_clear(&framed);
            nostr_ws_send_text(&cws, (const char *)msg.data, msg.len);
            q0 = bench__now();
            nostr_relay_feed(r, f.rc, framed.data, framed.len);
            drain(r, &f);
            lat[q] = (bench__now() - q0) * 1e3;
            el += lat[q];
            tl[type][ntl[type]++] = lat[q];
            if (f.eose == eose0) die("no EOSE after a REQ (the store answers later?)");
            /* CLOSE, not timed */
            nostr_buf_clear(&framed);
            nostr_ws_send_text(&cws, "[\"CLOSE\",\"q\"]", 13);
            nostr_relay_feed(r, f.rc, framed.data, framed.len);
            drain(r, &f);
        }
        p50[rd] = pct(lat, (size_t)nreqs, 50);
        p99[rd] = pct(lat, (size_t)nreqs, 99);
        qps[rd] = el > 0 ? (double)nreqs / (el / 1e3) : 0;
        rows[rd] = (double)(f.rows - rows0) / nreqs;
        for (t = 0; t < NTYPES; t++) {
            tp50[t][rd] = pct(tl[t], ntl[t], 50);
            tp99[t][rd] = pct(tl[t], ntl[t], 99);
        }
        if (f.closed > closed0) printf("# %zu REQs CLOSED, e.g. %s\n", f.closed - closed0, f.last_refusal);
    }
    print_metric("req_p50_ms", p50, rounds, "ms", 3);
    print_metric("req_p99_ms", p99, rounds, "ms", 3);
    print_metric("req_per_s_1thread", qps, rounds, "REQ/s", 0);
    print_metric("req_rows_per_req", rows, rounds, "events", 1);
    for (t = 0; t < NTYPES; t++) {
        char name[64];
        snprintf(name, sizeof name, "req_%s_p50_ms", type_names[t]);
        print_metric(name, tp50[t], rounds, "ms", 3);
        snprintf(name, sizeof name, "req_%s_p99_ms", type_names[t]);
        print_metric(name, tp99[t], rounds, "ms", 3);
    }
    nostr_ws_free(&cws);
    nostr_buf_free(&framed);
    nostr_buf_free(&msg);
    nostr_relay_closed(r, f.rc);
    nostr_ws_free(&f.client);
    nostr_relay_free(r);
    nostr_store_builtin_close(sb);
    for (t = 0; t < NTYPES; t++) free(tl[t]);
    free(lat);
    free(meta);
    nostr_ctx_free(ctx);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_relay [--events N|FILE] [--req-events N|FILE] [--mode ingest|req|all] [--rounds R]\n"
                    "                   [--conns F] [--batch B] [--threads T] [--reqs Q]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *events = "50000", *req_events = "1000000", *mode = "all";
    int rounds = 3, conns = 4, batch = 64, threads = 2, reqs = 2000, a;
    for (a = 1; a < argc; a++) {
        const char *o = argv[a], *v = a + 1 < argc ? argv[a + 1] : NULL;
        if (!v) usage();
        a++;
        if (!strcmp(o, "--events"))
            events = v;
        else if (!strcmp(o, "--req-events"))
            req_events = v;
        else if (!strcmp(o, "--mode"))
            mode = v;
        else if (!strcmp(o, "--rounds"))
            rounds = atoi(v);
        else if (!strcmp(o, "--conns"))
            conns = atoi(v);
        else if (!strcmp(o, "--batch"))
            batch = atoi(v);
        else if (!strcmp(o, "--threads"))
            threads = atoi(v);
        else if (!strcmp(o, "--reqs"))
            reqs = atoi(v);
        else
            usage();
    }
    if (rounds < 1 || rounds > MAX_ROUNDS || conns < 1 || batch < 1 || threads < 1 || threads > 16 || reqs < 1) usage();
    if (strcmp(mode, "ingest") && strcmp(mode, "req") && strcmp(mode, "all")) usage();
    if (mkdir(BENCH_CACHE_DIR, 0755) != 0 && errno != EEXIST) die("cannot create " BENCH_CACHE_DIR);
    if (strcmp(mode, "req")) {
        bench_events be;
        if (bench_events_load(&be, events) != 0) return 1;
        phase_ingest(&be, rounds, conns, batch, threads);
        bench_events_free(&be);
    }
    if (strcmp(mode, "ingest")) {
        bench_events be;
        if (bench_events_load(&be, req_events) != 0) return 1;
        phase_req(&be, rounds, reqs);
        bench_events_free(&be);
    }
    return 0;
}
