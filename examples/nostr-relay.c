/* nostr-relay: a small, fast Nostr relay - one epoll loop around the
 * sans-I/O relay of nostr_relay.h, signatures verified on worker threads.
 *
 *   nostr-relay [--bind ADDR] [--port N] [--data DIR] [--db CONNINFO] [--config FILE]
 *               [--name TEXT] [--max-event-bytes N] [--auth] [--threads N]
 *               [--log-format text|json]
 *
 * Serves ws://ADDR:PORT/ (default 127.0.0.1:7777), the NIP-11 document on
 * GET / with Accept: application/nostr+json, GET /metrics (Prometheus
 * text) and GET /healthz. Events go to the built-in store in DIR (default
 * ./nostr-data), or with --db to PostgreSQL / CockroachDB (a libpq
 * connection string). --port 0 takes a free port; the start line on
 * stderr names the address. SIGTERM or SIGINT: stop accepting, close every
 * WebSocket with 1001, flush output (at most shutdown_timeout_ms), commit
 * and close the store, exit 0. Exit 1 when the relay cannot start, 2 on
 * usage errors. Logs one line per start, stop and connection error on
 * stderr.
 *
 * --config FILE holds "key = value" lines ('#' starts a comment line);
 * command-line flags override it. Keys (docs/relay.md says more):
 *   bind, port, data, db, threads, log_format    as the flags of that name
 *   name, description, pubkey, contact, icon, posting_policy
 *                                  NIP-11 fields (pubkey: hex or npub)
 *   relay_url                      ws://host:port/ as clients see it; AUTH
 *                                  events must name it (unset: any URL)
 *   auth_required_write, auth_required_read   NIP-42 (true/false)
 *   kinds_allow, kinds_deny        kinds, e.g. "4, 1059, 20000-29999"
 *   pubkeys_allow, pubkeys_deny    hex or npub, comma-separated
 *   max_message, max_event_bytes, max_tags, max_tag_value, max_content,
 *   max_subs, max_filters, max_filter_values, max_limit, default_limit,
 *   max_future_s, max_past_s, min_pow, max_output, idle_timeout_ms,
 *   ping_interval_ms, events_per_s, events_burst, reqs_per_s, reqs_burst,
 *   ip_events_per_s, ip_events_burst, max_conns_per_ip
 *                                  the limits of nostr_relay_limits (0 = the
 *                                  library default; a negative rate means
 *                                  unlimited)
 *   serve_metrics                  answer GET /metrics (default true)
 *   compact                        built-in store at start: auto (when dead
 *                                  records are 1 MiB and a quarter of the
 *                                  log), always, never
 *   shutdown_timeout_ms            flush bound at exit (default 5000) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include "nostr_relay.h"
#include "cli.h"
#include "serve.h"

#define TICK_MS 250
#define MAX_EPOLL_EVENTS 256
#define MAX_KIND_LIST 70000 /* entries in a kinds list after expanding ranges */
#define MAX_PUBKEY_LIST 100000

/* ---- options: command line over config file ---- */

typedef struct options {
    const char *bind, *data, *db;
    long long port;
    long long threads; /* -1: one per CPU */
    int log_json;
    int compact; /* 0 auto, 1 always, -1 never */
    long long shutdown_timeout_ms;
    nostr_relay_config rc;
    unsigned *kinds_allow, *kinds_deny;
    unsigned char (*pubkeys_allow)[32], (*pubkeys_deny)[32];
    char **owned; /* strings kept from the config file */
    size_t owned_count;
} options;

static void options_free(options *o)
{
    size_t i;
    for (i = 0; i < o->owned_count; i++) free(o->owned[i]);
    free(o->owned);
    free(o->kinds_allow);
    free(o->kinds_deny);
    free(o->pubkeys_allow);
    free(o->pubkeys_deny);
}

static const char *keep_string(options *o, const char *s)
{
    char **grown = (char **)realloc(o->owned, (o->owned_count + 1) * sizeof *grown);
    char *copy = strdup(s);
    if (!grown || !copy) {
        free(copy);
        if (grown) o->owned = grown;
        return NULL;
    }
    o->owned = grown;
    o->owned[o->owned_count++] = copy;
    return copy;
}

typedef enum { LIM_SIZE, LIM_ULL, LIM_LL, LIM_INT, LIM_DOUBLE } limit_type;
typedef struct limit_key {
    const char *name;
    limit_type type;
    size_t offset;
} limit_key;

#define LIMIT(name, type)                                                                                              \
    {                                                                                                                  \
#name, type, offsetof(nostr_relay_limits, name)                                                                \
    }
static const limit_key limit_keys[] = {
    LIMIT(max_message, LIM_SIZE),
    LIMIT(max_event_bytes, LIM_SIZE),
    LIMIT(max_tags, LIM_SIZE),
    LIMIT(max_tag_value, LIM_SIZE),
    LIMIT(max_content, LIM_SIZE),
    LIMIT(max_subs, LIM_SIZE),
    LIMIT(max_filters, LIM_SIZE),
    LIMIT(max_filter_values, LIM_SIZE),
    LIMIT(max_limit, LIM_ULL),
    LIMIT(default_limit, LIM_ULL),
    LIMIT(max_future_s, LIM_LL),
    LIMIT(max_past_s, LIM_LL),
    LIMIT(min_pow, LIM_INT),
    LIMIT(max_output, LIM_SIZE),
    LIMIT(idle_timeout_ms, LIM_LL),
    LIMIT(ping_interval_ms, LIM_LL),
    LIMIT(events_per_s, LIM_DOUBLE),
    LIMIT(events_burst, LIM_DOUBLE),
    LIMIT(reqs_per_s, LIM_DOUBLE),
    LIMIT(reqs_burst, LIM_DOUBLE),
    LIMIT(ip_events_per_s, LIM_DOUBLE),
    LIMIT(ip_events_burst, LIM_DOUBLE),
    LIMIT(max_conns_per_ip, LIM_SIZE),
};

static int parse_double(const char *s, double *out)
{
    char *end;
    if (!*s) return -1;
    errno = 0;
    *out = strtod(s, &end);
    return (*end || errno) ? -1 : 0;
}

static int set_limit(nostr_relay_limits *lim, const limit_key *k, const char *v)
{
    char *base = (char *)lim + k->offset;
    long long n;
    double d;
    if (k->type == LIM_DOUBLE) {
        if (parse_double(v, &d) != 0) return -1;
        memcpy(base, &d, sizeof d);
        return 0;
    }
    if (k->type == LIM_INT) {
        n = parse_uint(v, 256);
        if (n < 0) return -1;
        *(int *)(void *)base = (int)n;
        return 0;
    }
    n = parse_uint(v, (long long)1 << 62);
    if (n < 0) return -1;
    if (k->type == LIM_SIZE)
        *(size_t *)(void *)base = (size_t)n;
    else if (k->type == LIM_ULL)
        *(unsigned long long *)(void *)base = (unsigned long long)n;
    else
        *(long long *)(void *)base = n;
    return 0;
}

static int parse_bool(const char *v)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1")) return 1;
    if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0")) return 0;
    return -1;
}

/* "1, 7, 20000-29999" -> a malloc'ed array. */
static int parse_kinds(const char *v, unsigned **out, size_t *count)
{
    unsigned *list = NULL;
    size_t n = 0;
    const char *p = v;
    while (*p) {
        char item[32];
        size_t len = strcspn(p, ", \t");
        long long lo, hi;
        char *dash;
        if (len == 0) {
            p++;
            continue;
        }
        if (len >= sizeof item) goto bad;
        memcpy(item, p, len);
        item[len] = 0;
        p += len;
        dash = strchr(item, '-');
        if (dash) *dash = 0;
        lo = parse_uint(item, 65535);
        hi = dash ? parse_uint(dash + 1, 65535) : lo;
        if (lo < 0 || hi < lo || n + (size_t)(hi - lo + 1) > MAX_KIND_LIST) goto bad;
        {
            unsigned *grown = (unsigned *)realloc(list, (n + (size_t)(hi - lo + 1)) * sizeof *list);
            if (!grown) goto bad;
            list = grown;
        }
        for (; lo <= hi; lo++) list[n++] = (unsigned)lo;
    }
    free(*out);
    *out = list;
    *count = n;
    return 0;
bad:
    free(list);
    return -1;
}

/* "hex64, npub1..." -> a malloc'ed array of keys. */
static int parse_pubkeys(const char *v, unsigned char (**out)[32], size_t *count)
{
    unsigned char(*list)[32] = NULL;
    size_t n = 0;
    const char *p = v;
    while (*p) {
        size_t len = strcspn(p, ", \t");
        unsigned char key[32];
        if (len == 0) {
            p++;
            continue;
        }
        if (nostr_hex_decode_any_case(p, len, key, 32) != NOSTR_OK &&
            nostr_nip19_decode_key(p, len, NOSTR_NIP19_NPUB, key, NULL) != NOSTR_OK)
            goto bad;
        if (n >= MAX_PUBKEY_LIST) goto bad;
        {
            unsigned char(*grown)[32] = (unsigned char(*)[32])realloc(list, (n + 1) * sizeof *list);
            if (!grown) goto bad;
            list = grown;
        }
        memcpy(list[n++], key, 32);
        p += len;
    }
    free(*out);
    *out = list;
    *count = n;
    return 0;
bad:
    free(list);
    return -1;
}

static int set_log_format(options *o, const char *v)
{
    if (!strcmp(v, "text"))
        o->log_json = 0;
    else if (!strcmp(v, "json"))
        o->log_json = 1;
    else
        return -1;
    return 0;
}

/* One "key = value" setting; -1 when the value is bad, -2 for an unknown key. */
static int apply_setting(options *o, const char *key, const char *v)
{
    nostr_relay_config *rc = &o->rc;
    nostr_relay_info *info = &rc->info;
    const char **text = NULL;
    size_t i;
    int b;
    for (i = 0; i < sizeof limit_keys / sizeof limit_keys[0]; i++)
        if (!strcmp(key, limit_keys[i].name)) return set_limit(&rc->limits, &limit_keys[i], v);
    if (!strcmp(key, "name"))
        text = &info->name;
    else if (!strcmp(key, "description"))
        text = &info->description;
    else if (!strcmp(key, "contact"))
        text = &info->contact;
    else if (!strcmp(key, "icon"))
        text = &info->icon;
    else if (!strcmp(key, "posting_policy"))
        text = &info->posting_policy;
    else if (!strcmp(key, "relay_url"))
        text = &rc->relay_url;
    else if (!strcmp(key, "bind"))
        text = &o->bind;
    else if (!strcmp(key, "data"))
        text = &o->data;
    else if (!strcmp(key, "db"))
        text = &o->db;
    if (text) {
        *text = keep_string(o, v);
        return *text ? 0 : -1;
    }
    if (!strcmp(key, "pubkey")) {
        unsigned char key32[32];
        char hex[65];
        if (nostr_hex_decode_any_case(v, strlen(v), key32, 32) != NOSTR_OK &&
            nostr_nip19_decode_key(v, strlen(v), NOSTR_NIP19_NPUB, key32, NULL) != NOSTR_OK)
            return -1;
        nostr_hex_encode(key32, 32, hex); /* NIP-11 wants lowercase hex */
        info->pubkey = keep_string(o, hex);
        return info->pubkey ? 0 : -1;
    }
    if (!strcmp(key, "port")) return (o->port = parse_uint(v, 65535)) < 0 ? -1 : 0;
    if (!strcmp(key, "threads")) return (o->threads = parse_uint(v, 256)) < 0 ? -1 : 0;
    if (!strcmp(key, "shutdown_timeout_ms")) return (o->shutdown_timeout_ms = parse_uint(v, 3600000)) < 0 ? -1 : 0;
    if (!strcmp(key, "log_format")) return set_log_format(o, v);
    if (!strcmp(key, "compact")) {
        if (!strcmp(v, "auto"))
            o->compact = 0;
        else if (!strcmp(v, "always"))
            o->compact = 1;
        else if (!strcmp(v, "never"))
            o->compact = -1;
        else
            return -1;
        return 0;
    }
    if (!strcmp(key, "auth_required_write") || !strcmp(key, "auth_required_read") || !strcmp(key, "serve_metrics")) {
        if ((b = parse_bool(v)) < 0) return -1;
        if (key[14] == 'w')
            rc->auth_required_write = b;
        else if (key[14] == 'r')
            rc->auth_required_read = b;
        else
            rc->serve_metrics = b ? 0 : -1;
        return 0;
    }
    if (!strcmp(key, "kinds_allow")) return parse_kinds(v, &o->kinds_allow, &rc->kinds_allow_count);
    if (!strcmp(key, "kinds_deny")) return parse_kinds(v, &o->kinds_deny, &rc->kinds_deny_count);
    if (!strcmp(key, "pubkeys_allow")) return parse_pubkeys(v, &o->pubkeys_allow, &rc->pubkeys_allow_count);
    if (!strcmp(key, "pubkeys_deny")) return parse_pubkeys(v, &o->pubkeys_deny, &rc->pubkeys_deny_count);
    return -2;
}

static char *trim(char *s)
{
    char *end;
    while (*s == ' ' || *s == '\t') s++;
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n')) *--end = 0;
    return s;
}

/* Read FILE; a message on stderr and -1 on the first bad line. */
static int load_config(options *o, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    int lineno = 0, rc = 0;
    if (!f) {
        fprintf(stderr, "nostr-relay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        char *p = trim(line), *eq, *key, *value;
        int r;
        lineno++;
        if (strlen(line) == sizeof line - 1 && line[sizeof line - 2] != '\n') {
            fprintf(stderr, "nostr-relay: %s:%d: line too long\n", path, lineno);
            rc = -1;
            break;
        }
        if (*p == 0 || *p == '#') continue;
        eq = strchr(p, '=');
        if (!eq) {
            fprintf(stderr, "nostr-relay: %s:%d: expected key = value\n", path, lineno);
            rc = -1;
            break;
        }
        *eq = 0;
        key = trim(p);
        value = trim(eq + 1);
        /* optional quotes around a value */
        if (strlen(value) >= 2 && value[0] == '"' && value[strlen(value) - 1] == '"') {
            value[strlen(value) - 1] = 0;
            value++;
        }
        r = apply_setting(o, key, value);
        if (r != 0) {
            fprintf(stderr, "nostr-relay: %s:%d: %s %s\n", path, lineno, r == -2 ? "unknown key" : "bad value for",
                    key);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: nostr-relay [--bind ADDR] [--port N] [--data DIR] [--db CONNINFO] [--config FILE]\n"
                 "                   [--name TEXT] [--max-event-bytes N] [--auth] [--threads N]\n"
                 "                   [--log-format text|json]\n"
                 "  --bind ADDR          listen address (default 127.0.0.1)\n"
                 "  --port N             TCP port (default 7777; 0 = any free port)\n"
                 "  --data DIR           built-in store directory (default ./nostr-data)\n"
                 "  --db CONNINFO        store events in PostgreSQL/CockroachDB instead (libpq string)\n"
                 "  --config FILE        \"key = value\" settings (docs/relay.md); flags override them\n"
                 "  --name TEXT          relay name in the NIP-11 document\n"
                 "  --max-event-bytes N  largest event accepted (default 65536)\n"
                 "  --auth               NIP-42: clients must AUTH before publishing\n"
                 "  --threads N          signature verification threads (default: one per CPU; 0 = inline)\n"
                 "  --log-format F       text (default) or json lines on stderr\n"
                 "Serves ws://ADDR:PORT/, NIP-11, /metrics and /healthz. SIGTERM/SIGINT stop it cleanly.\n");
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "nostr-relay: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    usage(stderr);
    return 2;
}

/* Returns -1 to go on, or an exit status. */
static int parse_args(options *o, int argc, char **argv)
{
    int i, missing = 0;
    const char *v;
    /* the config file first, so that flags override it */
    for (i = 1; i < argc; i++) {
        if ((v = option(argc, argv, &i, "--config", &missing)) != NULL) {
            if (load_config(o, v) != 0) return 2;
        }
        if (missing) return usage_error("missing value for", argv[i]);
    }
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--auth")) {
            o->rc.auth_required_write = 1;
        } else if ((v = option(argc, argv, &i, "--config", &missing)) != NULL) {
            /* loaded above */
        } else if ((v = option(argc, argv, &i, "--bind", &missing)) != NULL) {
            o->bind = v;
        } else if ((v = option(argc, argv, &i, "--port", &missing)) != NULL) {
            if ((o->port = parse_uint(v, 65535)) < 0) return usage_error("bad --port", v);
        } else if ((v = option(argc, argv, &i, "--data", &missing)) != NULL) {
            o->data = v;
        } else if ((v = option(argc, argv, &i, "--db", &missing)) != NULL) {
            o->db = v;
        } else if ((v = option(argc, argv, &i, "--name", &missing)) != NULL) {
            o->rc.info.name = v;
        } else if ((v = option(argc, argv, &i, "--max-event-bytes", &missing)) != NULL) {
            long long n = parse_uint(v, 64LL << 20);
            if (n < 256) return usage_error("bad --max-event-bytes (256 to 67108864)", v);
            o->rc.limits.max_event_bytes = (size_t)n;
        } else if ((v = option(argc, argv, &i, "--threads", &missing)) != NULL) {
            if ((o->threads = parse_uint(v, 256)) < 0) return usage_error("bad --threads", v);
        } else if ((v = option(argc, argv, &i, "--log-format", &missing)) != NULL) {
            if (set_log_format(o, v) != 0) return usage_error("bad --log-format (text or json)", v);
        } else if (missing) {
            return usage_error("missing value for", a);
        } else {
            return usage_error("unknown argument", a);
        }
        if (missing) return usage_error("missing value for", a);
    }
    if (o->db && *o->db == 0) return usage_error("empty --db", NULL);
#ifndef NOSTR_WITH_PGWIRE
    if (o->db) return usage_error("--db needs a build with NOSTR_WITH_PGWIRE", NULL);
#endif
    /* an event must fit in a WebSocket message: ["EVENT",<event>] */
    if (o->rc.limits.max_message == 0 && o->rc.limits.max_event_bytes + 1024 > 131072)
        o->rc.limits.max_message = o->rc.limits.max_event_bytes + 1024;
    o->rc.kinds_allow = o->kinds_allow;
    o->rc.kinds_deny = o->kinds_deny;
    o->rc.pubkeys_allow = (const unsigned char(*)[32])o->pubkeys_allow;
    o->rc.pubkeys_deny = (const unsigned char(*)[32])o->pubkeys_deny;
    return -1;
}

/* ---- the store's writes on a writer thread ----
 * The loop hands a batch (commit_begin) to the writer, which writes it
 * (the built-in store: write and fsync its log; pgwire: the transaction,
 * on a connection of its own) and wakes the loop through an eventfd; the
 * loop ends the batch (the puts' OKs go out) and hands over the next. The
 * loop never waits for the disk or the database, and one write covers
 * every event that arrived while the previous one ran. */

typedef struct committer {
    void *st; /* the store */
    int (*begin)(void *st, void **batch);
    int (*write)(void *batch);
    int (*end)(void *st, void *batch);
    pthread_t thread;
    int running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void *todo; /* handed to the writer */
    void *done; /* written, back to the loop */
    int stop;
    int efd;
    void *out;                  /* loop thread: begun, not yet ended */
    unsigned long long batches; /* loop thread: for /metrics */
} committer;

static int builtin_begin(void *st, void **b)
{
    nostr_store_builtin_batch *bb = NULL;
    int rc = nostr_store_builtin_commit_begin((nostr_store_builtin *)st, &bb);
    *b = bb;
    return rc;
}
static int builtin_write(void *b)
{
    return nostr_store_builtin_commit_write((nostr_store_builtin_batch *)b);
}
static int builtin_end(void *st, void *b)
{
    return nostr_store_builtin_commit_end((nostr_store_builtin *)st, (nostr_store_builtin_batch *)b);
}
#ifdef NOSTR_WITH_PGWIRE
static int pgwire_begin(void *st, void **b)
{
    nostr_pgwire_batch *pb = NULL;
    int rc = nostr_pgwire_commit_begin((nostr_pgwire *)st, &pb);
    *b = pb;
    return rc;
}
static int pgwire_write(void *b)
{
    return nostr_pgwire_commit_write((nostr_pgwire_batch *)b);
}
static int pgwire_end(void *st, void *b)
{
    return nostr_pgwire_commit_end((nostr_pgwire *)st, (nostr_pgwire_batch *)b);
}
#endif

static void *committer_main(void *arg)
{
    committer *cm = (committer *)arg;
    uint64_t one = 1;
    pthread_mutex_lock(&cm->mu);
    for (;;) {
        void *b;
        while (!cm->todo && !cm->stop) pthread_cond_wait(&cm->cv, &cm->mu);
        if (!cm->todo) break;
        b = cm->todo;
        cm->todo = NULL;
        pthread_mutex_unlock(&cm->mu);
        (void)cm->write(b); /* the loop sees the result at end */
        pthread_mutex_lock(&cm->mu);
        cm->done = b;
        pthread_cond_broadcast(&cm->cv);
        if (write(cm->efd, &one, sizeof one) < 0) { /* already signalled */
        }
    }
    pthread_mutex_unlock(&cm->mu);
    return NULL;
}

static int committer_start(committer *cm, void *st, int (*begin)(void *, void **), int (*write_)(void *),
                           int (*end)(void *, void *))
{
    memset(cm, 0, sizeof *cm);
    cm->st = st;
    cm->begin = begin;
    cm->write = write_;
    cm->end = end;
    cm->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (cm->efd < 0) return -1;
    pthread_mutex_init(&cm->mu, NULL);
    pthread_cond_init(&cm->cv, NULL);
    if (pthread_create(&cm->thread, NULL, committer_main, cm) != 0) {
        pthread_mutex_destroy(&cm->mu);
        pthread_cond_destroy(&cm->cv);
        close(cm->efd);
        cm->efd = -1;
        return -1;
    }
    cm->running = 1;
    return 0;
}

/* Loop thread: end the written batch, if there is one; with wait, wait
 * for the batch out. 0, or -1 when the write failed. */
static int committer_reap(committer *cm, int wait)
{
    void *b;
    uint64_t count;
    if (!cm->out) return 0;
    if (read(cm->efd, &count, sizeof count) < 0) { /* EAGAIN: look anyway */
    }
    pthread_mutex_lock(&cm->mu);
    while (wait && !cm->done) pthread_cond_wait(&cm->cv, &cm->mu);
    b = cm->done;
    cm->done = NULL;
    pthread_mutex_unlock(&cm->mu);
    if (!b) return 0;
    cm->out = NULL;
    cm->batches++;
    return cm->end(cm->st, b) == NOSTR_OK ? 0 : -1;
}

/* Loop thread: hand the next batch to the writer unless one is out. */
static int committer_kick(committer *cm)
{
    void *b = NULL;
    int rc;
    if (cm->out) return 0;
    rc = cm->begin(cm->st, &b);
    if (!b) return rc == NOSTR_OK ? 0 : -1;
    cm->out = b;
    pthread_mutex_lock(&cm->mu);
    cm->todo = b;
    pthread_cond_signal(&cm->cv);
    pthread_mutex_unlock(&cm->mu);
    return 0;
}

/* Wait for the batch out, then stop the writer. */
static void committer_stop(committer *cm)
{
    if (!cm->running) return;
    (void)committer_reap(cm, 1);
    pthread_mutex_lock(&cm->mu);
    cm->stop = 1;
    pthread_cond_signal(&cm->cv);
    pthread_mutex_unlock(&cm->mu);
    pthread_join(cm->thread, NULL);
    pthread_mutex_destroy(&cm->mu);
    pthread_cond_destroy(&cm->cv);
    close(cm->efd);
    cm->efd = -1;
    cm->running = 0;
}

/* ---- the server: listener, connections, the loop ---- */
typedef struct server {
    conn_server cs; /* first: the relay callbacks' user is either */
    int sigfd;
    int stopping;
    int serve_metrics;
    long long started_ms;
    long long stop_deadline_ms;
    long long last_commit_log_ms;
    verify_pool vp;
    /* the store */
    nostr_store store;
    nostr_store_builtin *builtin;
    committer cm; /* the store's writer */
#ifdef NOSTR_WITH_PGWIRE
    nostr_pgwire *pg;
#endif
} server;

/* Tags for epoll's data pointer other than connections. */
static char tag_verify, tag_signal, tag_commit;

static void metric(nostr_buf *b, const char *name, const char *type, const char *help, unsigned long long v)
{
    nostr_buf_append_str(b, "# HELP ");
    nostr_buf_append_str(b, name);
    nostr_buf_append_char(b, ' ');
    nostr_buf_append_str(b, help);
    nostr_buf_append_str(b, "\n# TYPE ");
    nostr_buf_append_str(b, name);
    nostr_buf_append_char(b, ' ');
    nostr_buf_append_str(b, type);
    nostr_buf_append_char(b, '\n');
    nostr_buf_append_str(b, name);
    nostr_buf_append_char(b, ' ');
    nostr_buf_append_u64(b, v);
    nostr_buf_append_char(b, '\n');
}

/* GET /metrics: the relay's metrics, then the program's own (verification
 * queue, store, start time). Everything else is the relay's to answer. */
static int http_hook(void *user, void *conn_user, const nostr_http_message *req, nostr_buf *resp)
{
    server *s = (server *)user;
    nostr_buf body;
    int rc;
    (void)conn_user;
    if (req->method.len != 3 || memcmp(req->method.ptr, "GET", 3) != 0 || req->path.len != 8 ||
        memcmp(req->path.ptr, "/metrics", 8) != 0 || !s->serve_metrics)
        return 0;
    nostr_buf_init(&body, NULL);
    rc = nostr_relay_write_metrics(s->cs.relay, &body);
    metric(&body, "nostr_relay_verify_threads", "gauge", "Signature verification threads.",
           (unsigned long long)s->vp.nthreads);
    metric(&body, "nostr_relay_verify_pending", "gauge", "Signature checks queued or running on the threads.",
           s->vp.submitted - s->vp.completed);
    if (s->builtin) {
        nostr_store_builtin_stats st;
        nostr_store_builtin_stats_get(s->builtin, &st);
        metric(&body, "nostr_store_events", "gauge", "Live events in the built-in store.", st.events);
        metric(&body, "nostr_store_log_bytes", "gauge", "Size of the built-in store's log.", st.log_bytes);
        metric(&body, "nostr_store_dead_bytes", "gauge", "Log bytes compaction would drop.", st.dead_bytes);
        metric(&body, "nostr_store_memory_bytes", "gauge", "Memory of the built-in store's events and indexes.",
               st.memory);
    }
    metric(&body, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch.",
           (unsigned long long)(s->started_ms / 1000));
    if (rc == NOSTR_OK && body.data)
        rc = nostr_http_write_response(resp, 200, NULL, "text/plain; version=0.0.4; charset=utf-8", NULL, 0, body.data,
                                       body.len, req->keep_alive);
    else
        rc = nostr_http_write_response(resp, 500, NULL, "text/plain", NULL, 0, "no memory\n", 10, 0);
    nostr_buf_free(&body);
    return rc == NOSTR_OK ? 1 : 0;
}

static int verify_cb(void *user, nostr_relay_verify_job *job)
{
    return verify_submit(&((server *)user)->vp, job);
}

/* Once per loop iteration (group commit): the store's batch goes to the
 * writer thread (here only when it could not be started). */
static int store_commit(server *s)
{
    if (s->cm.running) return committer_kick(&s->cm) == 0 ? NOSTR_OK : NOSTR_ERR_CLOSED;
    if (s->builtin) return nostr_store_builtin_commit(s->builtin);
#ifdef NOSTR_WITH_PGWIRE
    if (s->pg) return nostr_pgwire_commit(s->pg);
#endif
    return NOSTR_OK;
}

static const char *store_error(server *s)
{
#ifdef NOSTR_WITH_PGWIRE
    if (s->pg) return nostr_pgwire_last_error(s->pg);
#endif
    (void)s;
    return "";
}

/* The relay's verify jobs, as the worker pool sees them. */
static const nostr_event *rjob_event(void *j)
{
    return ((nostr_relay_verify_job *)j)->event;
}
static int *rjob_result(void *j)
{
    return &((nostr_relay_verify_job *)j)->result;
}
static void **rjob_link(void *j)
{
    return &((nostr_relay_verify_job *)j)->app;
}
static void rjob_done(void *owner, void *j)
{
    nostr_relay_verify_done((nostr_relay *)owner, (nostr_relay_verify_job *)j);
}
static const verify_ops relay_verify_ops = {rjob_event, rjob_result, rjob_link, rjob_done};

/* Open the store the options name; fills s->store. */
static int open_store(server *s, const options *o, char *what, size_t what_size)
{
    nostr_error err;
    memset(&err, 0, sizeof err);
    if (o->db) {
#ifdef NOSTR_WITH_PGWIRE
        nostr_pgwire_config pc;
        memset(&pc, 0, sizeof pc);
        pc.conninfo = o->db;
        pc.create_schema = 1;
        pc.log = log_msg;
        if (nostr_pgwire_open(&s->pg, &pc, &err) != NOSTR_OK) {
            logf_(NOSTR_LOG_ERROR, "database: %s", err.msg ? err.msg : "cannot connect");
            return -1;
        }
        s->store = nostr_pgwire_iface(s->pg);
        snprintf(what, what_size, "pgwire");
        return 0;
#else
        return -1;
#endif
    } else {
        nostr_store_builtin_config bc;
        nostr_store_builtin_stats st;
        memset(&bc, 0, sizeof bc);
        bc.dir = o->data;
        bc.log = log_msg;
        if (nostr_store_builtin_open(&s->builtin, &bc, &err) != NOSTR_OK) {
            logf_(NOSTR_LOG_ERROR, "store %s: %s", o->data, err.msg ? err.msg : nostr_strerror(err.code));
            return -1;
        }
        nostr_store_builtin_stats_get(s->builtin, &st);
        if (st.truncated) logf_(NOSTR_LOG_WARN, "store %s: cut %llu torn bytes off the log", o->data, st.truncated);
        if (o->compact > 0 || (o->compact == 0 && st.dead_bytes >= (1u << 20) && st.dead_bytes * 4 >= st.log_bytes)) {
            long long t0 = monotonic_ms();
            if (nostr_store_builtin_compact(s->builtin) == NOSTR_OK) {
                unsigned long long before = st.log_bytes;
                nostr_store_builtin_stats_get(s->builtin, &st);
                logf_(NOSTR_LOG_INFO, "store %s: compacted the log from %llu to %llu bytes in %lld ms", o->data, before,
                      st.log_bytes, monotonic_ms() - t0);
            } else {
                logf_(NOSTR_LOG_WARN, "store %s: compaction failed; going on with the old log", o->data);
            }
        }
        s->store = nostr_store_builtin_iface(s->builtin);
        snprintf(what, what_size, "built-in store %s (%llu events)", o->data, st.events);
        return 0;
    }
}

static void close_store(server *s)
{
    if (s->builtin) nostr_store_builtin_close(s->builtin);
#ifdef NOSTR_WITH_PGWIRE
    if (s->pg) nostr_pgwire_close(s->pg);
    s->pg = NULL;
#endif
    s->builtin = NULL;
}

static void begin_shutdown(server *s, long long timeout_ms)
{
    if (s->stopping) { /* a second signal: stop waiting for slow readers */
        s->stop_deadline_ms = monotonic_ms();
        return;
    }
    s->stopping = 1;
    s->stop_deadline_ms = monotonic_ms() + timeout_ms;
    logf_(NOSTR_LOG_INFO, "stopping: %zu connections to close", s->cs.nconns);
    if (s->cs.lfd >= 0) {
        if (!s->cs.accept_paused) epoll_ctl(s->cs.epfd, EPOLL_CTL_DEL, s->cs.lfd, NULL);
        close(s->cs.lfd);
        s->cs.lfd = -1;
    }
    nostr_relay_shutdown(s->cs.relay);
}

static void handle_signal(server *s, long long timeout_ms)
{
    struct signalfd_siginfo si;
    while (read(s->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        logf_(NOSTR_LOG_INFO, "signal %s", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
        begin_shutdown(s, timeout_ms);
    }
}

static void run_loop(server *s, const options *o)
{
    struct epoll_event evs[MAX_EPOLL_EVENTS];
    long long next_tick = monotonic_ms() + TICK_MS;
    for (;;) {
        long long now = monotonic_ms();
        int i, n, timeout = (int)(next_tick - now);
        if (s->stopping && (s->cs.nconns == 0 || now >= s->stop_deadline_ms)) break;
        if (timeout < 0) timeout = 0;
        if (timeout > TICK_MS) timeout = TICK_MS;
        n = epoll_wait(s->cs.epfd, evs, MAX_EPOLL_EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            logf_(NOSTR_LOG_ERROR, "epoll_wait: %s", strerror(errno));
            break;
        }
        for (i = 0; i < n; i++) {
            void *tag = evs[i].data.ptr;
            unsigned e = evs[i].events;
            if (tag == &tag_listener)
                accept_all(&s->cs);
            else if (tag == &tag_verify)
                verify_pool_drain(&s->vp, s->cs.relay);
            else if (tag == &tag_commit) {
                if (committer_reap(&s->cm, 0) != 0)
                    logf_(NOSTR_LOG_ERROR, "store: writing a batch failed%s%s", *store_error(s) ? ": " : "",
                          store_error(s));
            }
            else if (tag == &tag_signal)
                handle_signal(s, o->shutdown_timeout_ms);
            else
                serve_conn_event(&s->cs, (conn *)tag, e);
        }
        /* group commit: one fsync for every event since the last batch;
         * the completions queue the OKs */
        if (store_commit(s) != NOSTR_OK && monotonic_ms() - s->last_commit_log_ms >= 1000) {
            logf_(NOSTR_LOG_ERROR, "store commit failed%s%s", *store_error(s) ? ": " : "", store_error(s));
            s->last_commit_log_ms = monotonic_ms();
        }
        now = monotonic_ms();
        if (now >= next_tick) {
            nostr_relay_tick(s->cs.relay, realtime_ms());
            next_tick = now + TICK_MS;
            serve_conns_tick(&s->cs, now);
        }
        drain_wakes(&s->cs);
        free_graveyard(&s->cs);
    }
}

static int run(options *o)
{
    server s;
    nostr_relay_callbacks cb;
    nostr_ctx *ctx;
    sigset_t sigs;
    char where[128] = "", store_what[256] = "";
    int rc = 1, nthreads;

    memset(&s, 0, sizeof s);
    s.cs.epfd = s.cs.lfd = s.sigfd = s.cs.spare_fd = -1;
    s.vp.efd = -1;

    /* signals arrive through a signalfd; block them before any thread starts */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    ctx = nostr_ctx_new(NULL);
    s.cs.readbuf = (char *)malloc(READ_CHUNK);
    s.cs.epfd = epoll_create1(EPOLL_CLOEXEC);
    s.sigfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    if (!ctx || !s.cs.readbuf || s.cs.epfd < 0 || s.sigfd < 0) {
        logf_(NOSTR_LOG_ERROR, "cannot start: %s", strerror(errno ? errno : ENOMEM));
        goto out;
    }
    s.cs.lfd = listen_on(o->bind, o->port, where, sizeof where);
    if (s.cs.lfd < 0) goto out;
    if (open_store(&s, o, store_what, sizeof store_what) != 0) goto out;

    nthreads = (int)o->threads;
    if (nthreads < 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = ncpu > 0 ? (int)(ncpu > 64 ? 64 : ncpu) : 1;
    }
    if (verify_pool_start(&s.vp, ctx, &relay_verify_ops, nthreads) != 0) {
        logf_(NOSTR_LOG_ERROR, "cannot start verification threads");
        goto out;
    }

    memset(&cb, 0, sizeof cb);
    cb.user = &s;
    cb.wake = wake_cb;
    cb.now_us = monotonic_us;
    cb.log = log_msg;
    cb.http_hook = http_hook;
    if (s.vp.nthreads > 0) cb.verify = verify_cb;
    if (s.builtin && committer_start(&s.cm, s.builtin, builtin_begin, builtin_write, builtin_end) != 0) {
        logf_(NOSTR_LOG_ERROR, "cannot start the store's writer thread");
        goto out;
    }
#ifdef NOSTR_WITH_PGWIRE
    if (s.pg && committer_start(&s.cm, s.pg, pgwire_begin, pgwire_write, pgwire_end) != 0) {
        logf_(NOSTR_LOG_ERROR, "cannot start the store's writer thread");
        goto out;
    }
#endif
    s.serve_metrics = o->rc.serve_metrics != -1;
    s.started_ms = realtime_ms();
    o->rc.ctx = ctx;
    s.cs.relay = nostr_relay_new(&o->rc, &cb, &s.store);
    if (!s.cs.relay) {
        logf_(NOSTR_LOG_ERROR, "cannot create the relay (bad configuration or no memory)");
        goto out;
    }
    nostr_relay_tick(s.cs.relay, realtime_ms());

    s.cs.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (epoll_add(s.cs.epfd, s.cs.lfd, &tag_listener) != 0 || epoll_add(s.cs.epfd, s.sigfd, &tag_signal) != 0 ||
        (s.vp.nthreads > 0 && epoll_add(s.cs.epfd, s.vp.efd, &tag_verify) != 0) ||
        (s.cm.running && epoll_add(s.cs.epfd, s.cm.efd, &tag_commit) != 0)) {
        logf_(NOSTR_LOG_ERROR, "epoll: %s", strerror(errno));
        goto out;
    }
    logf_(NOSTR_LOG_INFO, "nostr-relay listening on %s, %s, %d verify thread%s%s", where, store_what, s.vp.nthreads,
          s.vp.nthreads == 1 ? "" : "s", o->rc.auth_required_write ? ", AUTH required to publish" : "");

    run_loop(&s, o);

    /* closing: the connections still open (slow readers past the bound) */
    while (s.cs.all) conn_close(&s.cs, s.cs.all, 0);
    verify_pool_stop(&s.vp);
    verify_pool_drain(&s.vp, s.cs.relay);
    committer_stop(&s.cm); /* the batch out is written and ended; the rest commits here */
    if (store_commit(&s) != NOSTR_OK) logf_(NOSTR_LOG_ERROR, "store commit failed");
    drain_wakes(&s.cs);
    free_graveyard(&s.cs);
    rc = 0;
out:
    committer_stop(&s.cm);
    /* the store first: its pending completions are dropped, not run into a freed relay */
    close_store(&s);
    if (s.cs.relay) nostr_relay_free(s.cs.relay);
    verify_pool_stop(&s.vp);
    verify_pool_free(&s.vp);
    while (s.cs.all) { /* only on a failed start */
        conn *c = s.cs.all;
        s.cs.all = c->next;
        close(c->fd);
        free(c);
    }
    free_graveyard(&s.cs);
    if (s.cs.lfd >= 0) close(s.cs.lfd);
    if (s.sigfd >= 0) close(s.sigfd);
    if (s.cs.epfd >= 0) close(s.cs.epfd);
    if (s.cs.spare_fd >= 0) close(s.cs.spare_fd);
    free(s.cs.readbuf);
    if (ctx) nostr_ctx_free(ctx);
    if (rc == 0) logf_(NOSTR_LOG_INFO, "stopped");
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    int rc;
#ifdef __GLIBC__
    /* Events in flight (thousands of copies waiting for verification) are
     * freed and allocated again all the time: with glibc's default the heap
     * top is given back to the kernel and faulted in again page by page
     * (page faults fell from 23% to 14% of the loop thread under the ingest
     * benchmark; the rest is the store growing). Keep up to 64 MiB
     * of free heap, and serve allocations up to 4 MiB from it. */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
#endif
    memset(&o, 0, sizeof o);
    o.bind = "127.0.0.1";
    o.port = 7777;
    o.data = "./nostr-data";
    o.threads = -1;
    o.shutdown_timeout_ms = 5000;
    o.rc.info.name = "nostr-relay";
    rc = parse_args(&o, argc, argv);
    if (rc < 0) {
        log_json_format = o.log_json;
        rc = run(&o);
    }
    options_free(&o);
    return rc;
}
