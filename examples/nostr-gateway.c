/* nostr-gateway: many upstream relays into one database, served back fast.
 *
 *   nostr-gateway [--bind ADDR] [--port N] --db CONNINFO [--amqp URL] [--relay URL]...
 *                 [--token T | --token-file FILE] [--config FILE] [--threads N] [--batch N]
 *                 [--queue N] [--log-format text|json] [--backfill SECONDS] [--auth-key KEY]
 *
 * One epoll loop around nostr_gateway.h: upstream relays (ws:// or wss://)
 * through nostr_gateway's clients, signatures of new ids checked on worker
 * threads, valid events into a bounded in-process queue, and a consumer
 * thread writing batches to PostgreSQL or CockroachDB through pgwire (a
 * second connection), with provenance; it reports each stored item back to
 * the loop, which pushes new events to the read relay's subscribers. With
 * --amqp the queue goes through RabbitMQ instead (a publisher thread with
 * confirms, one durable queue per upstream; the consumer reads them all;
 * docs/gateway.md). The same port serves NIP-01 reads (REQ, COUNT; EVENT is refused), the REST
 * API (docs/gateway.md), GET /metrics and GET /healthz.
 *
 * The upstream list lives in the database (gateway_relays) and is
 * restored at start; --relay adds one when it is not there yet. SIGTERM or
 * SIGINT: stop reading upstreams, let the consumer commit what is queued
 * (at most 10 s), exit 0.
 *
 * --backfill: how far back a new upstream is read, in seconds (default
 * 3600; 0: everything it has). --auth-key (hex or nsec): the key the
 * gateway answers upstreams' NIP-42 AUTH challenges with; without it, a
 * key made at start (enough for relays that want any authenticated
 * client).
 *
 * --config FILE: "key = value" lines; keys bind, port, db, amqp, token, token_file,
 * relay (repeatable), threads, batch, queue, since_window, backfill,
 * dedup_ids, log_format, name. Flags override them. */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/signalfd.h>
#include "nostr_gateway.h"
#include "cli.h"
#include "serve.h"
#include "dashboard_files.h" /* examples/dashboard/, embedded by cmake/embed.cmake */

#define TICK_MS 250
#define MAX_EPOLL_EVENTS 256
#define MAX_RELAY_FLAGS 64

/* ---- options ---- */

typedef struct options {
    const char *bind, *db, *amqp, *token, *token_file, *name, *auth_key;
    long long port, threads, batch, queue, since_window, dedup_ids, backfill;
    const char *relays[MAX_RELAY_FLAGS];
    int nrelays;
    char *owned[256]; /* strings from the config file */
    int nowned;
} options;

static const char *keep(options *o, const char *v)
{
    char *c;
    if (o->nowned == 256 || !(c = strdup(v))) return NULL;
    o->owned[o->nowned++] = c;
    return c;
}

/* The token from a file (a mounted Kubernetes Secret, say), so it is not
 * in the process's arguments; the trailing newline is not part of it. */
static int read_token_file(options *o, const char *path)
{
    char buf[512];
    size_t n;
    FILE *f = fopen(path, "r");
    if (!f) {
        logf_(NOSTR_LOG_ERROR, "token file %s: %s", path, strerror(errno));
        return -1;
    }
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) n--;
    buf[n] = 0;
    if (!n || memchr(buf, '\n', n)) {
        logf_(NOSTR_LOG_ERROR, "token file %s: expected one line", path);
        return -1;
    }
    return (o->token = keep(o, buf)) ? 0 : -1;
}

static int set_option(options *o, const char *k, const char *v)
{
    long long n;
    if (!strcmp(k, "bind")) return (o->bind = keep(o, v)) ? 0 : -1;
    if (!strcmp(k, "db")) return (o->db = keep(o, v)) ? 0 : -1;
    if (!strcmp(k, "amqp")) return (o->amqp = keep(o, v)) ? 0 : -1;
    /* the last of token and token_file wins (flags come after the config);
     * the file is read once all are known */
    if (!strcmp(k, "token")) return o->token_file = NULL, (o->token = keep(o, v)) ? 0 : -1;
    if (!strcmp(k, "token_file")) return o->token = NULL, (o->token_file = keep(o, v)) ? 0 : -1;
    if (!strcmp(k, "name")) return (o->name = keep(o, v)) ? 0 : -1;
    if (!strcmp(k, "auth_key")) return (o->auth_key = keep(o, v)) ? 0 : -1;
    if (!strcmp(k, "relay")) {
        if (o->nrelays == MAX_RELAY_FLAGS) return -1;
        return (o->relays[o->nrelays++] = keep(o, v)) ? 0 : -1;
    }
    if (!strcmp(k, "log_format")) {
        if (strcmp(v, "text") && strcmp(v, "json")) return -1;
        log_json_format = !strcmp(v, "json");
        return 0;
    }
    n = parse_uint(v, 1LL << 40);
    if (n < 0) return -1;
    if (!strcmp(k, "port") && n <= 65535) o->port = n;
    else if (!strcmp(k, "threads") && n <= 64) o->threads = n;
    else if (!strcmp(k, "batch") && n >= 1 && n <= 10000) o->batch = n;
    else if (!strcmp(k, "queue") && n >= 1) o->queue = n;
    else if (!strcmp(k, "since_window")) o->since_window = n;
    else if (!strcmp(k, "backfill")) o->backfill = n ? n : -1; /* 0: everything the upstream has */
    else if (!strcmp(k, "dedup_ids") && n >= 1024) o->dedup_ids = n;
    else return -1;
    return 0;
}

static int load_config(options *o, const char *path)
{
    char line[4096];
    int lineno = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        logf_(NOSTR_LOG_ERROR, "config %s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        char *k = line, *eq, *v, *e;
        lineno++;
        while (*k == ' ' || *k == '\t') k++;
        if (*k == '#' || *k == '\n' || !*k) continue;
        if (!(eq = strchr(k, '='))) goto bad;
        *eq = 0;
        v = eq + 1;
        for (e = eq; e > k && (e[-1] == ' ' || e[-1] == '\t'); e--) e[-1] = 0;
        while (*v == ' ' || *v == '\t') v++;
        for (e = v + strlen(v); e > v && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' '); e--) e[-1] = 0;
        if (set_option(o, k, v) != 0) goto bad;
    }
    fclose(f);
    return 0;
bad:
    logf_(NOSTR_LOG_ERROR, "config %s line %d: bad setting", path, lineno);
    fclose(f);
    return -1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: nostr-gateway [--bind ADDR] [--port N] --db CONNINFO [--amqp URL] [--relay URL]...\n"
                 "                     [--token T | --token-file FILE] [--config FILE] [--threads N] [--batch N] [--queue N]\n"
                 "                     [--log-format text|json] [--backfill SECONDS] [--auth-key KEY]\n");
}

static int parse_args(options *o, int argc, char **argv)
{
    int i, missing = 0;
    const char *v;
    for (i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--config") || !strncmp(argv[i], "--config=", 9)) {
            if (!(v = option(argc, argv, &i, "--config", &missing)) || load_config(o, v) != 0) return -1;
        }
    for (i = 1; i < argc; i++) {
        static const char *const flags[][2] = {{"--bind", "bind"},     {"--port", "port"},   {"--db", "db"},
                                               {"--amqp", "amqp"},     {"--relay", "relay"}, {"--token", "token"},
                                               {"--token-file", "token_file"},
                                               {"--threads", "threads"}, {"--batch", "batch"}, {"--queue", "queue"},
                                               {"--log-format", "log_format"}, {"--name", "name"},
                                               {"--backfill", "backfill"}, {"--auth-key", "auth_key"}};
        size_t k;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            exit(0);
        }
        if ((v = option(argc, argv, &i, "--config", &missing))) continue;
        for (k = 0; k < sizeof flags / sizeof flags[0]; k++) {
            if ((v = option(argc, argv, &i, flags[k][0], &missing))) {
                if (set_option(o, flags[k][1], v) != 0) {
                    fprintf(stderr, "nostr-gateway: bad value for %s: %s\n", flags[k][0], v);
                    return -1;
                }
                break;
            }
            if (missing) break;
        }
        if (missing || k == sizeof flags / sizeof flags[0]) {
            fprintf(stderr, "nostr-gateway: %s %s\n", missing ? "missing value for" : "unknown option", argv[i]);
            return -1;
        }
    }
    if (!o->db) {
        fprintf(stderr, "nostr-gateway: --db CONNINFO is required\n");
        return -1;
    }
    if (o->token_file && read_token_file(o, o->token_file) != 0) return -1;
    return 0;
}

/* ---- the sink: a bounded queue to the consumer thread ----
 * The loop appends items (nostr_gateway's submit); the consumer takes up
 * to `batch` of them, writes them in one transaction (events, then where
 * each was seen), and hands them back with their store results; the loop
 * reports them to the gateway and pushes new events to subscribers. Items
 * stay counted against the queue's capacity until they come back, so a
 * slow database stops the upstream reads (back-pressure), not memory. */

typedef struct qitem {
    int relay_id;
    unsigned char id[32];
    char *json; /* NULL: provenance only */
    size_t len;
    long long seen_at;
    long long queued_ms;
    int result;  /* store result (consumer) */
    int counted; /* holds a place in the queue (sink.inflight) */
    int mine;    /* handed over by this run of the program (not an earlier one's, from the broker) */
    struct qitem *next;
} qitem;

#define MAX_KEYS 4096

typedef struct sink {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    qitem *head, *tail;         /* waiting for the consumer */
    qitem *back_head, *back_tail; /* stored, waiting for the loop */
    size_t inflight, cap;       /* items not yet back to the loop */
    long long oldest_ms;        /* queued_ms of the oldest item not back */
    int stop, efd;
    size_t batch;
    nostr_pgwire *pg;
    pthread_t thread;
    int started;
    unsigned long long batches;
    double commit_s_sum, last_commit_s;
    unsigned long long failures;
    /* consumer-only */
    nostr_arena arena;
    /* RabbitMQ (amqp_url set): a publisher thread takes the queue to the
     * broker, the consumer thread reads the brokers' queues */
    const char *amqp_url;
    pthread_t pub_thread;
    int pub_started;
    int keys[MAX_KEYS]; /* upstream ids whose queues the consumer reads */
    size_t nkeys;
    unsigned long long broker_depth;
    long long newest_stored_seen; /* seen_at of the last item stored (lag) */
    long long run;                /* this run's mark on its messages */
} sink;

static void put_done(void *user, int result, const char *msg)
{
    (void)msg;
    ((qitem *)user)->result = result;
}

/* Stored items to the loop. */
static void hand_back(sink *k, qitem *batch, qitem *last)
{
    uint64_t one = 1;
    pthread_mutex_lock(&k->mu);
    if (k->back_tail)
        k->back_tail->next = batch;
    else
        k->back_head = batch;
    k->back_tail = last;
    if (last) k->newest_stored_seen = last->seen_at;
    pthread_mutex_unlock(&k->mu);
    if (write(k->efd, &one, sizeof one) < 0) { /* already signalled */
    }
}

static int stopping_now(sink *k, int level)
{
    int v;
    pthread_mutex_lock(&k->mu);
    v = k->stop >= level;
    pthread_mutex_unlock(&k->mu);
    return v;
}

static void nap_ms(long ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

/* Write one batch; on failure again (after a pause), until it commits or
 * the program stops: items are only handed back once stored. */
static int consume_batch(sink *k, qitem *batch)
{
    long long wait_ms = 100;
    for (;;) {
        qitem *it;
        int rc = NOSTR_OK;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (it = batch; it && rc == NOSTR_OK; it = it->next) {
            it->result = NOSTR_STORE_DUPLICATE;
            if (it->json) {
                nostr_event ev;
                nostr_arena_reset(&k->arena);
                if (nostr_event_parse(&ev, it->json, it->len, &k->arena, NULL, NULL) == NOSTR_OK) {
                    nostr_store st = nostr_pgwire_iface(k->pg);
                    rc = st.put(st.self, &ev, it->json, it->len, put_done, it);
                }
            }
            if (rc == NOSTR_OK) rc = nostr_pgwire_seen(k->pg, it->id, it->relay_id, it->seen_at);
        }
        if (rc == NOSTR_OK) rc = nostr_pgwire_commit(k->pg);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (rc == NOSTR_OK) {
            double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
            pthread_mutex_lock(&k->mu);
            k->batches++;
            k->commit_s_sum += s;
            k->last_commit_s = s;
            pthread_mutex_unlock(&k->mu);
            return 0;
        }
        (void)nostr_pgwire_commit(k->pg); /* completes (fails) whatever was put, so nothing is half queued */
        pthread_mutex_lock(&k->mu);
        k->failures++;
        pthread_mutex_unlock(&k->mu);
        logf_(NOSTR_LOG_ERROR, "consumer: batch failed (%s), retrying in %lld ms", nostr_pgwire_last_error(k->pg),
              wait_ms);
        for (;;) {
            struct timespec ts;
            int stop;
            pthread_mutex_lock(&k->mu);
            stop = k->stop > 1; /* 2: give up now */
            pthread_mutex_unlock(&k->mu);
            if (stop) return -1;
            ts.tv_sec = 0;
            ts.tv_nsec = 50 * 1000000L;
            nanosleep(&ts, NULL);
            if ((wait_ms -= 50) <= 0) break;
        }
        wait_ms = 100;
    }
}

static void *consumer_main(void *arg)
{
    sink *k = (sink *)arg;
    for (;;) {
        qitem *batch, *last = NULL, *it;
        size_t n = 0;
        pthread_mutex_lock(&k->mu);
        while (!k->head && !k->stop) pthread_cond_wait(&k->cv, &k->mu);
        if (!k->head) {
            pthread_mutex_unlock(&k->mu);
            return NULL;
        }
        batch = k->head;
        for (it = batch; it && n < k->batch; it = it->next, n++) last = it;
        k->head = last->next;
        if (!k->head) k->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&k->mu);
        if (consume_batch(k, batch) != 0) {
            /* stopping with the database down: these were never stored; the
             * watermark did not pass them, so the next start fetches them again */
            while (batch) {
                it = batch->next;
                free(batch->json);
                free(batch);
                batch = it;
            }
            continue;
        }
        hand_back(k, batch, last);
    }
}

/* ---- RabbitMQ: one durable queue per upstream (docs/queue.md) ----
 * A message is "<relay_id> <seen_at> <hex id> <run>\n" and the event JSON
 * (none for a provenance record); run tells this run's messages from an
 * earlier run's still in the broker. The publisher frees an item's place in the
 * queue only when the broker confirmed it (persisted); a nack or a lost
 * connection puts it back to be published again. The consumer writes what
 * one poll delivered as one batch, acks it after the commit, and hands the
 * stored items to the loop; a message that cannot be read is rejected
 * (dead-lettered after max_deliveries). */

static void amqp_key(char *out, size_t cap, int relay_id)
{
    snprintf(out, cap, "r%d", relay_id);
}

static nostr_amqp *amqp_connect(sink *k, unsigned prefetch)
{
    nostr_amqp_config ac;
    nostr_amqp *a = NULL;
    nostr_error err;
    long wait = 200;
    memset(&ac, 0, sizeof ac);
    ac.url = k->amqp_url;
    ac.prefetch = prefetch;
    ac.log = log_msg;
    while (!stopping_now(k, 2)) {
        memset(&err, 0, sizeof err);
        if (nostr_amqp_open(&a, &ac, &err) == NOSTR_OK) return a;
        logf_(NOSTR_LOG_WARN, "rabbitmq: %s; trying again in %ld ms", err.msg ? err.msg : "cannot connect", wait);
        nap_ms(wait);
        if (wait < 5000) wait *= 2;
        if (stopping_now(k, 1) && !k->head) break;
    }
    return NULL;
}

static void amqp_reconnect(sink *k, nostr_amqp *a)
{
    long wait = 200;
    while (!stopping_now(k, 2)) {
        nostr_error err;
        memset(&err, 0, sizeof err);
        if (nostr_amqp_reconnect(a, &err) == NOSTR_OK) return;
        logf_(NOSTR_LOG_WARN, "rabbitmq: reconnect: %s; trying again in %ld ms", err.msg ? err.msg : "failed", wait);
        nap_ms(wait);
        if (wait < 5000) wait *= 2;
    }
}

static void pub_requeue(sink *k, qitem *it)
{
    pthread_mutex_lock(&k->mu);
    it->next = k->head;
    k->head = it;
    if (!k->tail) k->tail = it;
    pthread_mutex_unlock(&k->mu);
}

typedef struct pub_state {
    sink *k;
    size_t freed;
} pub_state;

static void pub_confirm(void *user, unsigned long long tag, int ok)
{
    pub_state *ps = (pub_state *)user;
    qitem *it = (qitem *)(uintptr_t)tag;
    if (!ok) {
        pub_requeue(ps->k, it);
        return;
    }
    free(it->json);
    free(it);
    ps->freed++;
}

static int pub_one(sink *k, nostr_amqp *a, qitem *it, int *declared, size_t *ndeclared, nostr_buf *msg)
{
    char key[32], hex[65];
    size_t i;
    amqp_key(key, sizeof key, it->relay_id);
    for (i = 0; i < *ndeclared && declared[i] != it->relay_id; i++) {
    }
    if (i == *ndeclared) {
        int rc = nostr_amqp_declare(a, key);
        if (rc != NOSTR_OK) return rc;
        if (*ndeclared < MAX_KEYS) declared[(*ndeclared)++] = it->relay_id;
    }
    nostr_hex_encode(it->id, 32, hex);
    nostr_buf_clear(msg);
    nostr_buf_append_i64(msg, it->relay_id);
    nostr_buf_append_char(msg, ' ');
    nostr_buf_append_i64(msg, it->seen_at);
    nostr_buf_append_char(msg, ' ');
    nostr_buf_append_str(msg, hex);
    nostr_buf_append_char(msg, ' ');
    nostr_buf_append_i64(msg, k->run);
    nostr_buf_append_char(msg, '\n');
    if (it->json) nostr_buf_append(msg, it->json, it->len);
    return nostr_amqp_publish(a, key, msg->data, msg->len, (unsigned long long)(uintptr_t)it);
}

static void *publisher_main(void *arg)
{
    sink *k = (sink *)arg;
    static int declared[MAX_KEYS]; /* this thread's alone */
    size_t ndeclared = 0;
    nostr_amqp *a = amqp_connect(k, 0);
    nostr_buf msg;
    pub_state ps;
    nostr_amqp_handlers h;
    uint64_t one = 1;
    long long last_depth = 0;
    nostr_buf_init(&msg, NULL);
    memset(&h, 0, sizeof h);
    ps.k = k;
    h.user = &ps;
    h.on_confirm = pub_confirm;
    while (a) {
        int down = 0;
        ps.freed = 0;
        for (;;) { /* publish until the queue is empty or the broker says wait */
            qitem *it;
            int rc;
            pthread_mutex_lock(&k->mu);
            it = k->head;
            if (it) {
                k->head = it->next;
                if (!k->head) k->tail = NULL;
                it->next = NULL;
            }
            pthread_mutex_unlock(&k->mu);
            if (!it) break;
            rc = pub_one(k, a, it, declared, &ndeclared, &msg);
            if (rc != NOSTR_OK) {
                pub_requeue(k, it);
                if (rc == NOSTR_ERR_NET) down = 1;
                break;
            }
        }
        if (!down && nostr_amqp_poll(a, 50, &h) == NOSTR_ERR_NET) down = 1;
        if (!down && monotonic_ms() - last_depth >= 1000) {
            /* the broker's view, for /metrics (here: the consumer may sit in a retry) */
            unsigned long long total = 0, d;
            size_t i;
            for (i = 0; i < ndeclared; i++) {
                char key[32];
                amqp_key(key, sizeof key, declared[i]);
                if (nostr_amqp_depth(a, key, &d, NULL) == NOSTR_OK) total += d;
            }
            pthread_mutex_lock(&k->mu);
            k->broker_depth = total;
            pthread_mutex_unlock(&k->mu);
            last_depth = monotonic_ms();
        }
        if (ps.freed) {
            pthread_mutex_lock(&k->mu);
            k->inflight -= ps.freed;
            pthread_mutex_unlock(&k->mu);
            if (write(k->efd, &one, sizeof one) < 0) { /* already signalled */
            }
        }
        if (down) {
            (void)nostr_amqp_poll(a, 0, &h); /* reports what was lost: back in the queue */
            amqp_reconnect(k, a);
            ndeclared = 0;
        }
        if (stopping_now(k, 2)) break;
        if (stopping_now(k, 1)) {
            int empty;
            pthread_mutex_lock(&k->mu);
            empty = !k->head;
            pthread_mutex_unlock(&k->mu);
            if (empty && !nostr_amqp_unconfirmed(a)) break;
        }
        if (!nostr_amqp_unconfirmed(a)) { /* idle: wait for items */
            pthread_mutex_lock(&k->mu);
            if (!k->head && !k->stop) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 100 * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&k->cv, &k->mu, &ts);
            }
            pthread_mutex_unlock(&k->mu);
        }
    }
    nostr_buf_free(&msg);
    nostr_amqp_close(a);
    return NULL;
}

typedef struct cons_state {
    sink *k;
    nostr_amqp *a;
    qitem *head, *tail;
    size_t n;
    unsigned long long last_tag;
    int any;
} cons_state;

static int parse_msg(const sink *k, const nostr_amqp_msg *m, qitem *it)
{
    const char *p = (const char *)m->body, *end = p + m->len, *nl = (const char *)memchr(p, '\n', m->len);
    long long rid = 0, seen = 0, run = 0;
    if (!nl || nl - p < 70) return -1;
    for (; p < nl && *p >= '0' && *p <= '9' && rid < 100000000; p++) rid = rid * 10 + (*p - '0');
    if (p >= nl || *p++ != ' ') return -1;
    for (; p < nl && *p >= '0' && *p <= '9' && seen < 100000000000LL; p++) seen = seen * 10 + (*p - '0');
    if (p >= nl || *p++ != ' ' || nl - p < 66 || nostr_hex_decode(p, 64, it->id, 32) != NOSTR_OK) return -1;
    for (p += 64; p < nl && (*p == ' ' || (*p >= '0' && *p <= '9')) && run < 100000000000000LL; p++)
        if (*p != ' ') run = run * 10 + (*p - '0');
    if (p != nl) return -1;
    it->relay_id = (int)rid;
    it->seen_at = seen;
    it->mine = run == k->run;
    it->len = (size_t)(end - nl - 1);
    if (it->len) {
        if (!(it->json = (char *)malloc(it->len))) return -1;
        memcpy(it->json, nl + 1, it->len);
    }
    return 0;
}

static void cons_message(void *user, const nostr_amqp_msg *m)
{
    cons_state *cs = (cons_state *)user;
    qitem *it = (qitem *)calloc(1, sizeof *it);
    if (!it || parse_msg(cs->k, m, it) != 0) {
        if (it) free(it->json);
        free(it);
        logf_(NOSTR_LOG_WARN, "consumer: a message on %s could not be read: rejected", m->key);
        (void)nostr_amqp_reject(cs->a, m->delivery_tag);
        return;
    }
    if (cs->tail)
        cs->tail->next = it;
    else
        cs->head = it;
    cs->tail = it;
    cs->n++;
    cs->last_tag = m->delivery_tag;
    cs->any = 1;
}

static void cons_drop(cons_state *cs)
{
    while (cs->head) {
        qitem *it = cs->head;
        cs->head = it->next;
        free(it->json);
        free(it);
    }
    cs->tail = NULL;
    cs->n = 0;
    cs->any = 0;
}

static void *amqp_consumer_main(void *arg)
{
    sink *k = (sink *)arg;
    size_t nconsumed = 0; /* keys[0, nconsumed) are being read */
    cons_state cs;
    nostr_amqp_handlers h;
    memset(&cs, 0, sizeof cs);
    cs.k = k;
    cs.a = amqp_connect(k, (unsigned)(k->batch * 2 > 65535 ? 65535 : k->batch * 2));
    memset(&h, 0, sizeof h);
    h.user = &cs;
    h.on_message = cons_message;
    if (cs.a) (void)nostr_amqp_declare(cs.a, NULL);
    while (cs.a && !stopping_now(k, 1)) {
        size_t i, nkeys;
        int keys[MAX_KEYS];
        pthread_mutex_lock(&k->mu);
        nkeys = k->nkeys;
        memcpy(keys, k->keys, nkeys * sizeof keys[0]);
        pthread_mutex_unlock(&k->mu);
        for (i = nconsumed; i < nkeys; i++) { /* upstreams added since */
            char key[32];
            amqp_key(key, sizeof key, keys[i]);
            if (nostr_amqp_declare(cs.a, key) != NOSTR_OK || nostr_amqp_consume(cs.a, key) != NOSTR_OK) break;
            nconsumed++;
        }
        if (nostr_amqp_poll(cs.a, 100, &h) == NOSTR_ERR_NET) {
            cons_drop(&cs); /* not acked: the broker delivers them again */
            amqp_reconnect(k, cs.a);
            continue;
        }
        /* fill the batch while deliveries keep coming (a commit per poll
         * would be a transaction per handful of events) */
        while (cs.any && cs.n < k->batch) {
            size_t before = cs.n;
            if (nostr_amqp_poll(cs.a, 5, &h) == NOSTR_ERR_NET || cs.n == before) break;
        }
        if (cs.any) {
            qitem *last = cs.tail;
            if (consume_batch(k, cs.head) != 0) { /* stopping with the database down */
                cons_drop(&cs);
                break;
            }
            (void)nostr_amqp_ack(cs.a, cs.last_tag, 1); /* lost with the channel: redelivered, stored again harmlessly */
            hand_back(k, cs.head, last);
            cs.head = cs.tail = NULL;
            cs.n = 0;
            cs.any = 0;
        }
    }
    cons_drop(&cs);
    nostr_amqp_close(cs.a);
    return NULL;
}

/* An upstream's queue for the consumer to read (at start and when added). */
static void sink_add_key(sink *k, int relay_id)
{
    size_t i;
    pthread_mutex_lock(&k->mu);
    for (i = 0; i < k->nkeys && k->keys[i] != relay_id; i++) {
    }
    if (i == k->nkeys && k->nkeys < MAX_KEYS) k->keys[k->nkeys++] = relay_id;
    pthread_mutex_unlock(&k->mu);
}

static int sink_submit(void *user, const nostr_gateway_item *item);

/* ---- the server ---- */

typedef struct upconn {
    nostr_gateway_upstream *up;
    int id; /* the upstream's: found again when it is removed */
    int fd, connecting;
    unsigned mask;
    int logged; /* what the log last said of it: 0 nothing, UP_LOGGED_OPEN, UP_LOGGED_DOWN */
    nostr_buf out; /* bytes the socket did not take yet */
    struct upconn *next;
} upconn;

enum { UP_LOGGED_OPEN = 1, UP_LOGGED_DOWN = 2 };

/* NIP-11 documents of upstreams, fetched on short-lived threads (the
 * fetch blocks) and handed to the loop through a list and an eventfd. */
typedef struct infos infos;
typedef struct info_job {
    infos *in;
    int id;
    char url[2048];
    nostr_buf body;
    int rc;
    char why[160];
    struct info_job *next;
} info_job;

struct infos {
    pthread_mutex_t mu;
    info_job *done;
    int running, efd;
    nostr_ctx *ctx;
};

typedef struct server {
    conn_server cs; /* first: the relay callbacks' user is either */
    infos info;
    nostr_gateway *gw;
    nostr_pgwire *pg; /* the loop's connection: reads, the relay list */
    nostr_store reads;
    sink k;
    verify_pool vp;
    int sigfd, stopping, paused;
    long long stop_deadline_ms;
    upconn *ups;      /* every upstream's socket state */
    upconn *dead_ups; /* removed this iteration: freed at its end */
} server;

static char tag_verify, tag_signal, tag_sink, tag_info;

static void *info_main(void *arg)
{
    info_job *j = (info_job *)arg;
    infos *in = j->in;
    nostr_error err;
    uint64_t one = 1;
    memset(&err, 0, sizeof err);
    j->rc = nostr_fetch_info(in->ctx, j->url, 5000, NULL, 0, &j->body, &err);
    if (j->rc != NOSTR_OK) snprintf(j->why, sizeof j->why, "%s", err.msg ? err.msg : nostr_strerror(j->rc));
    pthread_mutex_lock(&in->mu);
    j->next = in->done;
    in->done = j;
    in->running--;
    pthread_mutex_unlock(&in->mu);
    if (write(in->efd, &one, sizeof one) < 0) { /* already signalled */
    }
    return NULL;
}

static void fetch_info_cb(void *user, nostr_gateway_upstream *up, const char *url)
{
    server *s = (server *)user;
    nostr_gateway_upstream_info info;
    pthread_attr_t at;
    pthread_t t;
    info_job *j = (info_job *)calloc(1, sizeof *j);
    if (!j || s->info.efd < 0) {
        free(j);
        return;
    }
    nostr_gateway_upstream_describe(up, &info);
    j->id = info.id;
    snprintf(j->url, sizeof j->url, "%s", url);
    nostr_buf_init(&j->body, NULL);
    j->in = &s->info;
    pthread_mutex_lock(&s->info.mu);
    s->info.running++;
    pthread_mutex_unlock(&s->info.mu);
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &at, info_main, j) != 0) {
        pthread_mutex_lock(&s->info.mu);
        s->info.running--;
        pthread_mutex_unlock(&s->info.mu);
        free(j);
    }
    pthread_attr_destroy(&at);
}

static void info_drain(server *s, int apply)
{
    info_job *j;
    uint64_t cnt;
    if (read(s->info.efd, &cnt, sizeof cnt) < 0) { /* nothing signalled: look anyway */
    }
    pthread_mutex_lock(&s->info.mu);
    j = s->info.done;
    s->info.done = NULL;
    pthread_mutex_unlock(&s->info.mu);
    while (j) {
        info_job *next = j->next;
        nostr_gateway_upstream *up = apply ? nostr_gateway_find(s->gw, j->id) : NULL;
        if (up)
            nostr_gateway_set_info(s->gw, up, j->rc == NOSTR_OK ? j->body.data : NULL, j->body.len,
                                   j->rc == NOSTR_OK ? NULL : j->why);
        nostr_buf_free(&j->body);
        free(j);
        j = next;
    }
}

/* At exit: fetches still running use the context; wait for them (each
 * gives up after 5 s). */
static void info_wait(server *s)
{
    int i;
    for (i = 0; i < 120; i++) {
        int left;
        pthread_mutex_lock(&s->info.mu);
        left = s->info.running;
        pthread_mutex_unlock(&s->info.mu);
        if (!left) break;
        usleep(50000);
    }
    info_drain(s, 0);
}

/* Upstream sockets are marked in epoll's data pointer by its low bit
 * (upconn is at least 4-byte aligned), so one loop tells them from relay
 * connections. */
static void *up_tag(upconn *u)
{
    return (char *)u + 1;
}

static upconn *tag_up(void *tag)
{
    return ((uintptr_t)tag & 1) ? (upconn *)((char *)tag - 1) : NULL;
}

static void up_mask(server *s, upconn *u, unsigned mask)
{
    struct epoll_event ev;
    if (u->fd < 0 || mask == u->mask) return;
    memset(&ev, 0, sizeof ev);
    ev.events = mask;
    ev.data.ptr = up_tag(u);
    if (epoll_ctl(s->cs.epfd, EPOLL_CTL_MOD, u->fd, &ev) == 0) u->mask = mask;
}

static unsigned up_want(server *s, upconn *u)
{
    unsigned m = (u->connecting || u->out.len) ? (unsigned)EPOLLOUT : 0u;
    if (!u->connecting && !s->paused && !s->stopping) m |= EPOLLIN; /* stopping: no more input */
    return m;
}

static upconn *up_of(server *s, nostr_gateway_upstream *up)
{
    upconn *u = (upconn *)nostr_gateway_upstream_app(up);
    nostr_gateway_upstream_info info;
    if (u) return u;
    u = (upconn *)calloc(1, sizeof *u);
    if (!u) return NULL;
    nostr_gateway_upstream_describe(up, &info);
    u->up = up;
    u->id = info.id;
    u->fd = -1;
    u->next = s->ups;
    s->ups = u;
    nostr_buf_init(&u->out, NULL);
    nostr_gateway_upstream_set_app(up, u);
    return u;
}

static int up_connect(void *user, nostr_gateway_upstream *up, const char *host, int port)
{
    server *s = (server *)user;
    upconn *u = up_of(s, up);
    struct addrinfo hints, *res = NULL;
    struct epoll_event ev;
    char ps[16];
    int fd, one = 1;
    if (!u) return -1;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0 || !res) return -1; /* blocking: the example's one shortcut */
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || (connect(fd, res->ai_addr, res->ai_addrlen) != 0 && errno != EINPROGRESS)) {
        if (fd >= 0) close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    u->fd = fd;
    u->connecting = 1;
    u->out.len = 0;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLOUT;
    ev.data.ptr = up_tag(u);
    if (epoll_ctl(s->cs.epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        u->fd = -1;
        return -1;
    }
    u->mask = EPOLLOUT;
    return 0;
}

static int up_send(void *user, nostr_gateway_upstream *up, const void *data, size_t n)
{
    server *s = (server *)user;
    upconn *u = (upconn *)nostr_gateway_upstream_app(up);
    const char *p = (const char *)data;
    if (!u || u->fd < 0) return -1;
    while (!u->connecting && !u->out.len && n) {
        ssize_t w = send(u->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        return -1;
    }
    if (n && nostr_buf_append(&u->out, p, n) != NOSTR_OK) return -1;
    up_mask(s, u, up_want(s, u));
    return 0;
}

/* Forget the socket (it leaves the epoll set as it closes). */
static void up_drop(upconn *u)
{
    if (u->fd < 0) return;
    close(u->fd);
    u->fd = -1;
    u->mask = 0;
    u->connecting = 0;
    u->out.len = 0;
}

static void up_close(void *user, nostr_gateway_upstream *up)
{
    upconn *u = (upconn *)nostr_gateway_upstream_app(up);
    (void)user;
    if (u) up_drop(u);
}

/* The connection failed or the peer closed it: the client backs off and
 * reconnects. */
/* One log line when an upstream's WebSocket opens and one when it goes
 * down (with why), not one per reconnect attempt. Checked after its
 * socket's events and at every tick (timeouts). */
static void log_upstream(upconn *u)
{
    nostr_gateway_upstream_stats st; /* copied only when there is a line to write */
    nostr_gateway_upstream_info info;
    int state;
    if (!u->up) return;
    state = nostr_gateway_upstream_state(u->up);
    if (state == NOSTR_CLIENT_OPEN && u->logged != UP_LOGGED_OPEN) {
        nostr_gateway_upstream_describe(u->up, &info);
        logf_(NOSTR_LOG_INFO, "upstream %d open: %s", u->id, info.url);
        u->logged = UP_LOGGED_OPEN;
    } else if (state == NOSTR_CLIENT_BACKOFF && u->logged != UP_LOGGED_DOWN) {
        nostr_gateway_upstream_describe(u->up, &info);
        nostr_gateway_upstream_stats_get(u->up, &st);
        logf_(NOSTR_LOG_WARN, "upstream %d down: %s: %s; retrying", u->id, info.url,
              st.last_error[0] ? st.last_error : "no reason given");
        u->logged = UP_LOGGED_DOWN;
    }
}

static void log_upstreams(server *s)
{
    upconn *u;
    for (u = s->ups; u; u = u->next) log_upstream(u);
}

static void up_lost(server *s, upconn *u)
{
    up_drop(u);
    nostr_gateway_disconnected(s->gw, u->up, monotonic_ms());
}

static void up_flush(server *s, upconn *u)
{
    size_t off = 0;
    while (off < u->out.len) {
        ssize_t w = send(u->fd, u->out.data + off, u->out.len - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        up_lost(s, u);
        return;
    }
    if (off) {
        memmove(u->out.data, u->out.data + off, u->out.len - off);
        u->out.len -= off;
    }
    up_mask(s, u, up_want(s, u));
}

static void up_io(server *s, upconn *u, unsigned e);

static void up_event(server *s, upconn *u, unsigned e)
{
    if (u->fd < 0 || !u->up) return;
    up_io(s, u, e);
    log_upstream(u);
}

static void up_io(server *s, upconn *u, unsigned e)
{
    if (u->connecting) {
        int err = 0;
        socklen_t l = sizeof err;
        if (!(e & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            up_lost(s, u);
            return;
        }
        u->connecting = 0;
        nostr_gateway_connected(s->gw, u->up, monotonic_ms());
        if (u->fd >= 0) up_flush(s, u);
        return;
    }
    if ((e & EPOLLOUT) && u->out.len) up_flush(s, u);
    if (u->fd >= 0 && (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) && !s->paused && !s->stopping) {
        int i;
        for (i = 0; i < READS_PER_WAKEUP && u->fd >= 0 && !s->paused; i++) {
            ssize_t n = recv(u->fd, s->cs.readbuf, READ_CHUNK, 0);
            if (n > 0) {
                nostr_gateway_feed(s->gw, u->up, s->cs.readbuf, (size_t)n, monotonic_ms());
                s->paused = nostr_gateway_paused(s->gw);
                if (n < READ_CHUNK) break;
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            up_lost(s, u);
            break;
        }
    }
}

/* Back-pressure: while the gateway holds items the sink refused, no
 * upstream is read. */
static void update_pause(server *s)
{
    size_t i;
    int p = nostr_gateway_paused(s->gw);
    if (p == s->paused && !p && !s->stopping) return;
    s->paused = p;
    for (i = 0; i < nostr_gateway_count(s->gw); i++) {
        upconn *u = (upconn *)nostr_gateway_upstream_app(nostr_gateway_at(s->gw, i));
        if (u && u->fd >= 0) up_mask(s, u, up_want(s, u));
    }
}

/* ---- gateway callbacks ---- */

static long long unix_now(void *user)
{
    (void)user;
    return realtime_ms() / 1000;
}

static int sink_submit(void *user, const nostr_gateway_item *item)
{
    server *s = (server *)user;
    sink *k = &s->k;
    qitem *it;
    pthread_mutex_lock(&k->mu);
    if (k->inflight >= k->cap) {
        pthread_mutex_unlock(&k->mu);
        return NOSTR_ERR_BUSY;
    }
    pthread_mutex_unlock(&k->mu);
    it = (qitem *)calloc(1, sizeof *it);
    if (!it) return NOSTR_ERR_NOMEM;
    if (item->json && !(it->json = (char *)malloc(item->len))) {
        free(it);
        return NOSTR_ERR_NOMEM;
    }
    if (item->json) memcpy(it->json, item->json, item->len);
    it->len = item->len;
    it->relay_id = item->relay_id;
    memcpy(it->id, item->id, 32);
    it->seen_at = item->seen_at;
    it->queued_ms = monotonic_ms();
    it->counted = 1;
    it->mine = 1;
    pthread_mutex_lock(&k->mu);
    if (!k->inflight) k->oldest_ms = it->queued_ms;
    k->inflight++;
    if (k->tail)
        k->tail->next = it;
    else
        k->head = it;
    k->tail = it;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    return NOSTR_OK;
}

/* The queue's depth and lag for /api/stats and /metrics (each drain and
 * each tick: the broker's depth changes while nothing comes back). */
static void queue_stats(server *s)
{
    sink *k = &s->k;
    double lag;
    pthread_mutex_lock(&k->mu);
    if (!k->amqp_url) {
        lag = k->inflight ? (double)(monotonic_ms() - k->oldest_ms) / 1000.0 : 0;
        nostr_gateway_queue_stats(s->gw, k->inflight, lag);
    } else { /* the broker holds the queue: its depth, and how old the newest stored item was */
        lag = k->broker_depth && k->newest_stored_seen ? (double)(realtime_ms() / 1000 - k->newest_stored_seen) : 0;
        nostr_gateway_queue_stats(s->gw, k->inflight + k->broker_depth, lag < 0 ? 0 : lag);
    }
    pthread_mutex_unlock(&k->mu);
}

/* Stored items back from the consumer: report, push new events live. */
static void sink_drain(server *s)
{
    sink *k = &s->k;
    qitem *it;
    uint64_t cnt;
    size_t n = 0, stored = 0;
    if (read(k->efd, &cnt, sizeof cnt) < 0) { /* nothing signalled: look anyway */
    }
    pthread_mutex_lock(&k->mu);
    it = k->back_head;
    k->back_head = k->back_tail = NULL;
    pthread_mutex_unlock(&k->mu);
    while (it) {
        qitem *next = it->next;
        if (it->counted) n++;
        stored++;
        /* an earlier run's message (from the broker) moves no watermark of this run's */
        if (it->mine) nostr_gateway_stored(s->gw, it->relay_id, it->id);
        if (it->json && it->result == NOSTR_STORE_SAVED) {
            nostr_event ev;
            nostr_arena a;
            unsigned char mem[8192];
            nostr_arena_init(&a, mem, sizeof mem, NULL);
            if (nostr_event_parse(&ev, it->json, it->len, &a, NULL, NULL) == NOSTR_OK)
                nostr_relay_broadcast(s->cs.relay, &ev, it->json, it->len);
            nostr_arena_free(&a);
        }
        free(it->json);
        free(it);
        it = next;
    }
    pthread_mutex_lock(&k->mu);
    k->inflight -= n;
    if (k->head) k->oldest_ms = k->head->queued_ms;
    if (stored) nostr_gateway_batch_committed(s->gw, stored, k->last_commit_s);
    pthread_mutex_unlock(&k->mu);
    queue_stats(s);
    if (nostr_gateway_paused(s->gw)) nostr_gateway_sink_ready(s->gw);
    update_pause(s);
}

static int saved_cb(void *user, const nostr_gateway_upstream_info *info)
{
    server *s = (server *)user;
    nostr_pgwire_relay_row r;
    r.id = info->id;
    r.url = info->url;
    r.filters = info->filters;
    r.added_at = info->added_at;
    r.since_ts = info->since;
    if (nostr_pgwire_relay_save(s->pg, &r) != NOSTR_OK) {
        logf_(NOSTR_LOG_ERROR, "saving relay %s: %s", info->url, nostr_pgwire_last_error(s->pg));
        return -1;
    }
    logf_(NOSTR_LOG_INFO, "upstream %d added: %s", info->id, info->url);
    sink_add_key(&s->k, info->id);
    return 0;
}

static void removed_cb(void *user, int id)
{
    server *s = (server *)user;
    upconn **p;
    for (p = &s->ups; *p; p = &(*p)->next) {
        upconn *u = *p;
        if (u->id != id) continue;
        *p = u->next; /* its socket is closed already (nostr_gateway_remove) */
        u->up = NULL;
        u->next = s->dead_ups;
        s->dead_ups = u;
        break;
    }
    if (nostr_pgwire_relay_delete(s->pg, id) != NOSTR_OK)
        logf_(NOSTR_LOG_ERROR, "removing relay %d: %s", id, nostr_pgwire_last_error(s->pg));
    logf_(NOSTR_LOG_INFO, "upstream %d removed", id);
}

static void since_cb(void *user, int id, long long since)
{
    server *s = (server *)user;
    if (nostr_pgwire_relay_since(s->pg, id, since) != NOSTR_OK)
        logf_(NOSTR_LOG_WARN, "saving the watermark of relay %d: %s", id, nostr_pgwire_last_error(s->pg));
}

static int seen_on_cb(void *user, const unsigned char (*ids)[32], size_t n,
                      void (*row)(void *row_user, const unsigned char id[32], int relay_id, long long first_seen),
                      void *row_user)
{
    server *s = (server *)user;
    return nostr_pgwire_seen_on(s->pg, ids, n, row, row_user);
}

static const nostr_event *gjob_event(void *j)
{
    return ((nostr_gateway_verify_job *)j)->event;
}
static int *gjob_result(void *j)
{
    return &((nostr_gateway_verify_job *)j)->result;
}
static void **gjob_link(void *j)
{
    return &((nostr_gateway_verify_job *)j)->app;
}
static void gjob_done(void *owner, void *j)
{
    nostr_gateway_verify_done((nostr_gateway *)owner, (nostr_gateway_verify_job *)j);
}
static const verify_ops gateway_verify_ops = {gjob_event, gjob_result, gjob_link, gjob_done};

static int verify_cb(void *user, nostr_gateway_verify_job *job)
{
    server *s = (server *)user;
    if (!s->vp.nthreads) return -1;
    return verify_submit(&s->vp, job);
}

/* ---- the dashboard: static files built into the program ---- */

/* ASCII case-insensitive: does s[0..n) contain needle (lower case)? */
static int icontains(const char *s, size_t n, const char *needle)
{
    size_t m = strlen(needle), i, j;
    for (i = 0; i + m <= n; i++) {
        for (j = 0; j < m; j++) {
            char c = s[i + j];
            if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
            if (c != needle[j]) break;
        }
        if (j == m) return 1;
    }
    return 0;
}

/* A GET for NIP-11 (Accept: application/nostr+json, on any path) is the
 * read relay's to answer, as it would be without the dashboard. */
static int wants_nip11(const nostr_http_message *req)
{
    size_t i;
    for (i = 0; i < req->header_count; i++) {
        const nostr_http_header_field *h = &req->headers[i];
        if (h->name.len == 6 && icontains(h->name.ptr, 6, "accept") &&
            icontains(h->value.ptr, h->value.len, "application/nostr+json"))
            return 1;
    }
    return 0;
}

/* The embedded file a GET or HEAD asks for ("/" is /index.html), or NULL. */
static const dashboard_file *dashboard_find(const nostr_http_message *req)
{
    const char *path = req->path.ptr;
    size_t len = req->path.len, i;
    if (len == 1 && path[0] == '/') {
        path = "/index.html";
        len = strlen(path);
    }
    for (i = 0; i < DASHBOARD_FILE_COUNT; i++)
        if (strlen(dashboard_files[i].path) == len && !memcmp(dashboard_files[i].path, path, len))
            return &dashboard_files[i];
    return NULL;
}

/* The page loads only its own files (no inline script or style, nothing
 * from elsewhere); it talks to this origin's REST API. Event content it
 * shows is hostile, so a missed escape still cannot run a script. */
static int dashboard_serve(const dashboard_file *f, const nostr_http_message *req, nostr_buf *resp)
{
    static const nostr_http_kv hdr[] = {
        {"Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                                    "form-action 'self'; frame-ancestors 'none'"},
        {"X-Content-Type-Options", "nosniff"},
        {"Referrer-Policy", "no-referrer"},
        {"Cache-Control", "no-store"}};
    size_t before = resp->len;
    int head = req->method.len == 4 && !memcmp(req->method.ptr, "HEAD", 4);
    if (nostr_http_write_response(resp, 200, NULL, f->type, hdr, sizeof hdr / sizeof hdr[0], f->data, f->len,
                                  req->keep_alive) != NOSTR_OK) {
        resp->len = before;
        return 0; /* out of memory: the relay answers */
    }
    if (head) resp->len -= f->len; /* HEAD: the same fields (Content-Length too), no body */
    return 1;
}

/* GET /metrics: the read relay's series and the gateway's; the dashboard;
 * the REST API. A WebSocket upgrade never gets here (the relay takes it
 * first), so ws:// on / still reaches the read relay. */
static int http_hook(void *user, void *conn_user, const nostr_http_message *req, nostr_buf *resp)
{
    server *s = (server *)user;
    const dashboard_file *page;
    int get_or_head = (req->method.len == 3 && !memcmp(req->method.ptr, "GET", 3)) ||
                      (req->method.len == 4 && !memcmp(req->method.ptr, "HEAD", 4));
    (void)conn_user;
    if (get_or_head && !wants_nip11(req) && (page = dashboard_find(req)) != NULL)
        return dashboard_serve(page, req, resp);
    if (req->method.len == 3 && !memcmp(req->method.ptr, "GET", 3) && req->path.len == 8 &&
        !memcmp(req->path.ptr, "/metrics", 8)) {
        nostr_buf body;
        int rc;
        nostr_buf_init(&body, NULL);
        rc = nostr_relay_write_metrics(s->cs.relay, &body);
        if (rc == NOSTR_OK) rc = nostr_gateway_write_metrics(s->gw, &body);
        if (rc == NOSTR_OK)
            rc = nostr_http_write_response(resp, 200, NULL, "text/plain; version=0.0.4; charset=utf-8", NULL, 0,
                                           body.data, body.len, req->keep_alive);
        nostr_buf_free(&body);
        return rc == NOSTR_OK;
    }
    return nostr_gateway_http(s->gw, req, resp);
}

static void restore_relay(void *user, const nostr_pgwire_relay_row *r)
{
    server *s = (server *)user;
    nostr_error err;
    memset(&err, 0, sizeof err);
    if (nostr_gateway_add(s->gw, r->id, r->url, r->filters, r->since_ts, r->added_at, NULL, &err) != NOSTR_OK)
        logf_(NOSTR_LOG_ERROR, "restoring relay %s: %s", r->url, err.msg ? err.msg : "failed");
    else
        sink_add_key(&s->k, r->id);
}

static void known_id(void *user, const unsigned char id[32])
{
    nostr_gateway_known((nostr_gateway *)user, id);
}

static void free_ups(upconn **list)
{
    while (*list) {
        upconn *u = *list;
        *list = u->next;
        if (u->fd >= 0) close(u->fd);
        nostr_buf_free(&u->out);
        free(u);
    }
}

static void run_loop(server *s)
{
    struct epoll_event evs[MAX_EPOLL_EVENTS];
    long long next_tick = monotonic_ms();
    for (;;) {
        long long now = monotonic_ms(), gt;
        int i, n, timeout;
        if (s->stopping && now >= s->stop_deadline_ms) break;
        if (s->stopping) {
            size_t left;
            pthread_mutex_lock(&s->k.mu);
            left = s->k.inflight;
            pthread_mutex_unlock(&s->k.mu);
            if (!left && !s->cs.nconns) break;
        }
        if (now >= next_tick) {
            nostr_relay_tick(s->cs.relay, realtime_ms());
            if (!s->stopping) nostr_gateway_tick(s->gw, now);
            log_upstreams(s);
            serve_conns_tick(&s->cs, now);
            queue_stats(s);
            update_pause(s);
            next_tick = now + TICK_MS;
        }
        timeout = (int)(next_tick - now);
        gt = s->stopping ? -1 : nostr_gateway_next_timeout(s->gw);
        if (gt >= 0 && gt - now < timeout) timeout = gt - now < 0 ? 0 : (int)(gt - now);
        drain_wakes(&s->cs);
        n = epoll_wait(s->cs.epfd, evs, MAX_EPOLL_EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            logf_(NOSTR_LOG_ERROR, "epoll_wait: %s", strerror(errno));
            break;
        }
        now = monotonic_ms();
        if (gt >= 0 && now >= gt && !s->stopping) nostr_gateway_tick(s->gw, now);
        for (i = 0; i < n; i++) {
            void *tag = evs[i].data.ptr;
            /* the one-byte tags first: their addresses may be odd */
            if (tag == &tag_listener)
                accept_all(&s->cs);
            else if (tag == &tag_verify)
                verify_pool_drain(&s->vp, s->gw);
            else if (tag == &tag_sink)
                sink_drain(s);
            else if (tag == &tag_info)
                info_drain(s, 1);
            else if (tag == &tag_signal) {
                struct signalfd_siginfo si;
                while (read(s->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
                    logf_(NOSTR_LOG_INFO, "signal %s: stopping", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
                    if (s->stopping) s->stop_deadline_ms = 0;
                    s->stopping = 1;
                    s->stop_deadline_ms = monotonic_ms() + 10000;
                    nostr_relay_shutdown(s->cs.relay);
                }
            } else if (tag_up(tag))
                up_event(s, tag_up(tag), evs[i].events);
            else
                serve_conn_event(&s->cs, (conn *)tag, evs[i].events);
        }
        update_pause(s);
        drain_wakes(&s->cs);
        free_graveyard(&s->cs);
        free_ups(&s->dead_ups);
    }
}

/* The database's chatter (NOTICEs at schema creation) is debug level:
 * not shown. */
static void pg_log(void *user, int level, const char *msg)
{
    if (level <= NOSTR_LOG_INFO) log_msg(user, level, msg);
}

static int open_pg(const char *conninfo, nostr_pgwire **pg)
{
    nostr_pgwire_config pc;
    nostr_error err;
    memset(&pc, 0, sizeof pc);
    memset(&err, 0, sizeof err);
    pc.conninfo = conninfo;
    pc.create_schema = 1;
    pc.log = pg_log;
    if (nostr_pgwire_open(pg, &pc, &err) != NOSTR_OK) {
        logf_(NOSTR_LOG_ERROR, "database: %s", err.msg ? err.msg : "cannot open");
        return -1;
    }
    if (nostr_pgwire_gateway_schema(*pg) != NOSTR_OK) {
        logf_(NOSTR_LOG_ERROR, "database: gateway tables: %s", nostr_pgwire_last_error(*pg));
        return -1;
    }
    return 0;
}

static int run(options *o)
{
    server s;
    nostr_ctx *ctx = NULL;
    nostr_relay_config rcfg;
    nostr_relay_callbacks rcb;
    nostr_gateway_config gcfg;
    nostr_gateway_callbacks gcb;
    nostr_keys auth;
    sigset_t sigs;
    char where[128] = "";
    int rc = 1, i, nthreads;
    long long oldest = 0;
    size_t u;

    memset(&s, 0, sizeof s);
    memset(&auth, 0, sizeof auth);
    /* before any thread starts: every thread inherits the mask, so the
     * signals reach the loop's signalfd only */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    s.cs.epfd = s.cs.lfd = s.cs.spare_fd = s.sigfd = s.k.efd = -1;
    s.vp.efd = -1;
    pthread_mutex_init(&s.info.mu, NULL);
    s.info.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&s.k.mu, NULL);
    pthread_cond_init(&s.k.cv, NULL);
    nostr_arena_init(&s.k.arena, NULL, 0, NULL);
    s.k.cap = (size_t)(o->queue ? o->queue : 20000);
    s.k.batch = (size_t)(o->batch ? o->batch : 500);
    if (!(ctx = nostr_ctx_new(NULL))) goto out;
    s.info.ctx = ctx;
    s.k.amqp_url = o->amqp;
    s.k.run = realtime_ms();
    if (open_pg(o->db, &s.pg) != 0 || open_pg(o->db, &s.k.pg) != 0) goto out;
    s.reads = nostr_pgwire_iface(s.pg);

    memset(&rcfg, 0, sizeof rcfg);
    rcfg.ctx = ctx;
    rcfg.read_only = 1;
    rcfg.info.name = o->name ? o->name : "nostr-gateway";
    rcfg.info.description = "Distrise gateway: events aggregated from many relays (read only)";
    rcfg.info.software = "https://github.com/distrise/distrise";
    rcfg.limits.reqs_per_s = -1;
    memset(&rcb, 0, sizeof rcb);
    rcb.user = &s;
    rcb.wake = wake_cb;
    rcb.now_us = monotonic_us;
    rcb.http_hook = http_hook;
    rcb.log = log_msg;
    s.cs.relay = nostr_relay_new(&rcfg, &rcb, &s.reads);
    if (!s.cs.relay) goto out;
    nostr_relay_tick(s.cs.relay, realtime_ms());

    memset(&gcfg, 0, sizeof gcfg);
    gcfg.ctx = ctx;
    /* NIP-42: upstreams that ask get an AUTH signed with this key */
    if (o->auth_key ? nostr_keys_from_str(ctx, o->auth_key, &auth) : nostr_keys_generate(ctx, &auth)) {
        logf_(NOSTR_LOG_ERROR, "--auth-key: not a secret key (64 hex characters or nsec1...)");
        goto out;
    }
    gcfg.client.keys = &auth;
    gcfg.token = o->token;
    gcfg.since_window_s = o->since_window;
    gcfg.backfill_s = o->backfill;
    gcfg.dedup_ids = (size_t)o->dedup_ids;
    gcfg.reads = s.reads;
    memset(&gcb, 0, sizeof gcb);
    gcb.user = &s;
    gcb.connect = up_connect;
    gcb.send = up_send;
    gcb.close = up_close;
    gcb.submit = sink_submit;
    gcb.verify = verify_cb;
    gcb.saved = saved_cb;
    gcb.removed = removed_cb;
    gcb.since_changed = since_cb;
    gcb.seen_on = seen_on_cb;
    gcb.fetch_info = fetch_info_cb;
    gcb.unix_time = unix_now;
    gcb.log = log_msg;
    s.gw = nostr_gateway_new(&gcfg, &gcb);
    if (!s.gw) goto out;
    if (nostr_pgwire_relays_load(s.pg, restore_relay, &s) != NOSTR_OK) {
        logf_(NOSTR_LOG_ERROR, "loading the relay list: %s", nostr_pgwire_last_error(s.pg));
        goto out;
    }
    for (i = 0; i < o->nrelays; i++) {
        nostr_gateway_upstream *up;
        nostr_gateway_upstream_info info;
        nostr_error err;
        int r;
        memset(&err, 0, sizeof err);
        r = nostr_gateway_add(s.gw, 0, o->relays[i], NULL, 0, realtime_ms() / 1000, &up, &err);
        if (r == NOSTR_ERR_BUSY) continue; /* restored from the database */
        if (r != NOSTR_OK) {
            logf_(NOSTR_LOG_ERROR, "--relay %s: %s", o->relays[i], err.msg ? err.msg : nostr_strerror(r));
            goto out;
        }
        nostr_gateway_upstream_describe(up, &info);
        if (saved_cb(&s, &info) != 0) goto out;
    }
    /* ids stored since the oldest watermark: the first pages after a
     * restart are mostly these, and need no signature check */
    for (u = 0; u < nostr_gateway_count(s.gw); u++) {
        nostr_gateway_upstream_info info;
        nostr_gateway_upstream_describe(nostr_gateway_at(s.gw, u), &info);
        if (info.since && (!oldest || info.since < oldest)) oldest = info.since;
    }
    if (oldest)
        (void)nostr_pgwire_recent_ids(s.pg, oldest - (o->since_window ? o->since_window : 600), 1000000, known_id,
                                      s.gw);

    if ((s.cs.lfd = listen_on(o->bind ? o->bind : "127.0.0.1", o->port, where, sizeof where)) < 0) goto out;
    s.cs.epfd = epoll_create1(EPOLL_CLOEXEC);
    s.cs.readbuf = (char *)malloc(READ_CHUNK);
    s.cs.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    s.k.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s.cs.epfd < 0 || !s.cs.readbuf || s.k.efd < 0) goto out;
    nthreads = (int)o->threads;
    if (nthreads < 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = ncpu > 0 ? (int)(ncpu > 64 ? 64 : ncpu) : 1;
    }
    if (verify_pool_start(&s.vp, ctx, &gateway_verify_ops, nthreads) != 0) goto out;
    s.sigfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    if (pthread_create(&s.k.thread, NULL, o->amqp ? amqp_consumer_main : consumer_main, &s.k) != 0) goto out;
    s.k.started = 1;
    if (o->amqp) {
        if (pthread_create(&s.k.pub_thread, NULL, publisher_main, &s.k) != 0) goto out;
        s.k.pub_started = 1;
    }
    if (epoll_add(s.cs.epfd, s.cs.lfd, &tag_listener) != 0 || epoll_add(s.cs.epfd, s.k.efd, &tag_sink) != 0 ||
        epoll_add(s.cs.epfd, s.sigfd, &tag_signal) != 0 || epoll_add(s.cs.epfd, s.info.efd, &tag_info) != 0 ||
        (s.vp.nthreads && epoll_add(s.cs.epfd, s.vp.efd, &tag_verify) != 0))
        goto out;
    logf_(NOSTR_LOG_INFO, "nostr-gateway listening on %s, %zu upstream relays, %d verify threads", where,
          nostr_gateway_count(s.gw), s.vp.nthreads);

    run_loop(&s);
    rc = 0;
out:
    if (s.k.started || s.k.pub_started) {
        pthread_mutex_lock(&s.k.mu);
        s.k.stop = rc == 0 ? 1 : 2;
        pthread_cond_broadcast(&s.k.cv);
        pthread_mutex_unlock(&s.k.mu);
        if (s.k.pub_started) pthread_join(s.k.pub_thread, NULL);
        if (s.k.started) pthread_join(s.k.thread, NULL);
        sink_drain(&s);
    }
    verify_pool_stop(&s.vp);
    if (s.gw) verify_pool_drain(&s.vp, s.gw);
    info_wait(&s);
    while (s.cs.all) conn_close(&s.cs, s.cs.all, 0);
    drain_wakes(&s.cs);
    free_graveyard(&s.cs);
    free_ups(&s.dead_ups);
    if (s.gw) nostr_gateway_free(s.gw); /* closes the upstreams' sockets through up_close */
    free_ups(&s.ups);
    if (s.cs.relay) nostr_relay_free(s.cs.relay);
    while (s.k.head) {
        qitem *it = s.k.head;
        s.k.head = it->next;
        free(it->json);
        free(it);
    }
    if (s.k.pg) nostr_pgwire_close(s.k.pg);
    if (s.pg) nostr_pgwire_close(s.pg);
    nostr_arena_free(&s.k.arena);
    verify_pool_free(&s.vp);
    if (s.cs.lfd >= 0) close(s.cs.lfd);
    if (s.cs.epfd >= 0) close(s.cs.epfd);
    if (s.cs.spare_fd >= 0) close(s.cs.spare_fd);
    if (s.k.efd >= 0) close(s.k.efd);
    if (s.sigfd >= 0) close(s.sigfd);
    if (s.info.efd >= 0) close(s.info.efd);
    pthread_mutex_destroy(&s.info.mu);
    free(s.cs.readbuf);
    pthread_mutex_destroy(&s.k.mu);
    pthread_cond_destroy(&s.k.cv);
    nostr_keys_wipe(&auth);
    nostr_ctx_free(ctx);
    if (rc == 0) logf_(NOSTR_LOG_INFO, "stopped");
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    int rc, i;
    memset(&o, 0, sizeof o);
    o.port = 7778;
    o.threads = -1;
    if (parse_args(&o, argc, argv) != 0) {
        usage(stderr);
        rc = 2;
    } else {
        rc = run(&o);
    }
    for (i = 0; i < o.nowned; i++) free(o.owned[i]);
    return rc;
}
