/* A loopback load generator for Nostr relays: WebSocket clients in one
 * thread (epoll, non-blocking sockets, nostr.h's NOSTR_WS_CLIENT framer),
 * measuring a relay at a ws:// URL from outside, as a load generator on
 * another process would.
 *
 *   bench_relay_load --url ws://127.0.0.1:PORT/ [--events FILE|N] [--mode MODE]
 *                    [--conns C] [--inflight K] [--rounds R] [--pid PID]
 *                    [--reqs Q] [--req-conns C] [--req-inflight K]
 *                    [--subs S] [--fanout-events M] [--idle N] [--timeout S]
 *                    [--max-message BYTES]
 *
 * MODE is ingest, req, fanout, idle or all (default all: idle first, on
 * the fresh relay, then ingest, req, fanout).
 * --events: a JSONL file of signed events or a number N of generated ones
 * (bench_events.h: shaped like the real corpus, cached in
 * /tmp/distrise-bench); default 100000. The set is split so that no event
 * is sent twice in one run (a duplicate costs a relay no signature work):
 * the last R*M kind-1 events are kept for fan-out, the rest is cut into R
 * ingest slices. Run each invocation against a fresh relay. Events whose
 * EVENT message is over --max-message bytes (default 131072, the WebSocket
 * message limit of strfry and nostr-relay, beyond which a relay closes the
 * connection) are not sent; should the relay close a publishing
 * connection anyway, its unanswered events count as lost and a new
 * connection takes its place.
 *
 * (a) ingest: C connections (default 8), each keeping up to K EVENTs
 *     without an OK (default 500), send one slice per round. events/s =
 *     OKs / (last OK - first send); OK latency from the moment the EVENT
 *     was framed to its OK (p50, p99). Before each round the bare verify
 *     rate is measured on this thread (nostr_event_verify, one core) and
 *     on two threads at once (the machine's limit with both cores busy,
 *     often well under twice one core's), and ingest is printed as a
 *     ratio of each and of twice the first.
 * (b) req: Q REQs (default 2000) over C connections (default 4), each
 *     keeping up to K open (default 25), built from the events OKed:
 *     {"authors":[a],"limit":20}, {"kinds":[k],"limit":20},
 *     {"#e":[id],"limit":20} or {"#p":[pk],"limit":20} (alternately), and
 *     {"since":t-30,"until":t+30,"limit":50}, one of each in turn. Each
 *     REQ is CLOSEd at its EOSE. REQ/s = Q / elapsed; time to EOSE from
 *     the moment the REQ was framed (p50, p99); rows per REQ.
 * (c) fanout: S subscribers (default 200), each with
 *     ["REQ","f",{"kinds":[1],"limit":0}], wait for every EOSE; then one
 *     publisher sends M kind-1 events (default 2000, K in flight).
 *     deliveries/s = deliveries / (last delivery - first send); delivery
 *     latency p50/p99 (EVENT framed to arrival at a subscriber).
 * (d) idle: open N WebSocket connections (default 1000) that send
 *     nothing, wait for the handshakes (and the relay's AUTH challenge if
 *     it sends one), then relay RSS growth / N from /proc/PID/status
 *     VmRSS. The relay's PID is --pid, else the process listening on the
 *     URL's port (found through /proc/net/tcp and /proc/PID/fd). Kernel
 *     socket buffers are not part of RSS and are not counted.
 *
 * Output: one line per metric, "name value unit (detail)", the value the
 * median over rounds. With a PID, each phase also prints the CPU the
 * relay and this program used (seconds, and as cores busy on average), so
 * it shows how the two share the machine's cores. The relay should run
 * without rate limits and with max_conns_per_ip above N + S + C. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "bench_events.h"
#include "nostr.h"
#include "bench_util.h"

enum { ROLE_PUB, ROLE_REQ, ROLE_SUB, ROLE_IDLE };
enum { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_DEAD };
enum { MAX_ROUNDS = 32, READ_BUF = 1 << 18, MAX_HANDSHAKES = 64 };

typedef struct bench bench;

typedef struct lconn {
    bench *b;
    int fd, state, role;
    unsigned char key[16];
    nostr_http_parser http;
    nostr_ws ws;
    int ws_live;
    nostr_buf out;   /* framed bytes not yet written */
    size_t out_off;  /* written prefix of out */
    int want_out;    /* EPOLLOUT registered */
    size_t inflight; /* publisher: EVENTs without OK; req: open REQs */
    int got_auth, eose;
    unsigned long long delivered;
    unsigned xs; /* masking key generator */
} lconn;

typedef struct req_slot {
    double sent;
    unsigned long long rows;
    int done;
} req_slot;

struct bench {
    /* configuration */
    char url[256], hostport[96], path[256];
    struct sockaddr_in addr;
    int port, conns, inflight, rounds, reqs, req_conns, req_inflight, subs, fanout_events, idle;
    size_t max_message;
    double timeout;
    long pid;
    /* the event set */
    bench_events ev;
    bench_event_meta *meta;
    size_t *tab; /* id -> index + 1, open addressing */
    size_t tab_mask;
    double *sent_at;
    unsigned char *acked, *stored; /* stored: OK true (so REQs can name it) */
    struct lconn **owner;          /* the connection an event was sent on */
    /* loop */
    int ep;
    char *rbuf;
    nostr_buf scratch;
    lconn **all;
    size_t nall, capall;
    /* publisher phase */
    const size_t *list;
    size_t list_n, list_pos, acks, ok_true, ok_dup, ok_false, lost;
    double *lat;
    size_t nlat;
    double last_ok;
    char reasons[4][160];
    size_t nreasons;
    /* req phase */
    req_slot *rq;
    char **filters;
    size_t rq_n, rq_next, rq_done, rq_closed;
    double last_eose;
    /* fanout phase */
    double *dlat;
    size_t ndlat, dcap;
    double last_delivery;
    unsigned long long deliveries;
    unsigned long long rx_bytes; /* read from every socket */
    /* progress */
    int pub_active, req_active; /* refill after reads only while a phase runs */
    double last_progress;
    unsigned notices;
};

static double now(void)
{
    return bench__now();
}

static void die(const char *msg)
{
    fprintf(stderr, "bench_relay_load: %s\n", msg);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

static double med(double *v, int n)
{
    double c[MAX_ROUNDS];
    memcpy(c, v, (size_t)n * sizeof *v);
    return pct(c, (size_t)n, 50);
}

static void print_metric(const char *name, double *v, int n, const char *unit, const char *fmt)
{
    int i;
    char vals[512];
    size_t at = 0;
    vals[0] = 0;
    for (i = 0; i < n && at < sizeof vals - 32; i++)
        at += (size_t)snprintf(vals + at, sizeof vals - at, i ? " %.*f" : "%.*f", fmt[0] - '0', v[i]);
    printf("%-30s %12.*f %-12s (%s%s)\n", name, fmt[0] - '0', med(v, n), unit, n > 1 ? "median of " : "", vals);
    fflush(stdout);
}

/* ---- the relay process: RSS and CPU from /proc ---- */

static long find_pid_by_port(int port)
{
    static const char *files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    unsigned long inode = 0;
    char line[512], want[64], link[128];
    size_t f;
    DIR *d;
    struct dirent *e;
    for (f = 0; f < 2 && !inode; f++) {
        FILE *fp = fopen(files[f], "r");
        if (!fp) continue;
        while (fgets(line, sizeof line, fp)) {
            char local[80], rem[80];
            unsigned st, lport;
            unsigned long ino;
            char *colon;
            if (sscanf(line, " %*d: %79s %79s %x %*s %*s %*s %*s %*s %lu", local, rem, &st, &ino) != 4) continue;
            colon = strrchr(local, ':');
            if (!colon || sscanf(colon + 1, "%x", &lport) != 1) continue;
            if (st == 0x0A && (int)lport == port) {
                inode = ino;
                break;
            }
        }
        fclose(fp);
    }
    if (!inode) return 0;
    snprintf(want, sizeof want, "socket:[%lu]", inode);
    d = opendir("/proc");
    if (!d) return 0;
    while ((e = readdir(d)) != NULL) {
        char fdpath[300];
        DIR *fd;
        struct dirent *fe;
        long pid = strtol(e->d_name, NULL, 10);
        if (pid <= 0) continue;
        snprintf(fdpath, sizeof fdpath, "/proc/%ld/fd", pid);
        fd = opendir(fdpath);
        if (!fd) continue;
        while ((fe = readdir(fd)) != NULL) {
            char p[600];
            ssize_t k;
            snprintf(p, sizeof p, "%s/%s", fdpath, fe->d_name);
            k = readlink(p, link, sizeof link - 1);
            if (k <= 0) continue;
            link[k] = 0;
            if (!strcmp(link, want)) {
                closedir(fd);
                closedir(d);
                return pid;
            }
        }
        closedir(fd);
    }
    closedir(d);
    return 0;
}

/* VmRSS in KiB, or -1 */
static long rss_kib(long pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    f = fopen(path, "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* CPU seconds (user + system, all threads) of pid, or -1 */
static double proc_cpu_s(long pid)
{
    char path[64], buf[2048];
    unsigned long long ut, st;
    FILE *f;
    size_t k;
    char *p;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (!f) return -1;
    k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = 0;
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec * 1e-6;
}

/* CPU seconds all cores spent busy (not idle or waiting for I/O), from
 * /proc/stat: the relay, this program, a database and anything else; *irq
 * gets the part spent in interrupts and softirqs, which is where the
 * kernel moves loopback TCP traffic and which no process is charged for */
static double machine_busy_s(double *irq)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    int k;
    *irq = 0;
    if (!f) return -1;
    k = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
               &v[7]);
    fclose(f);
    if (k < 7) return -1;
    *irq = (double)(v[5] + v[6]) / (double)sysconf(_SC_CLK_TCK);
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

typedef struct cpu_mark {
    double wall, self, relay, machine, irq;
} cpu_mark;

static void cpu_start(bench *b, cpu_mark *m)
{
    m->wall = now();
    m->self = self_cpu_s();
    m->relay = b->pid ? proc_cpu_s(b->pid) : -1;
    m->machine = machine_busy_s(&m->irq);
}

/* Add the time since cpu_start to acc (summed over a phase's rounds). */
static void cpu_stop(bench *b, const cpu_mark *m, cpu_mark *acc)
{
    acc->wall += now() - m->wall;
    acc->self += self_cpu_s() - m->self;
    if (b->pid && m->relay >= 0) acc->relay += proc_cpu_s(b->pid) - m->relay;
    if (m->machine >= 0) {
        double irq, busy = machine_busy_s(&irq);
        acc->machine += busy - m->machine;
        acc->irq += irq - m->irq;
    }
}

/* How the phase used the cores: the relay (all its threads), this
 * program, the kernel's interrupt work (loopback TCP), and other
 * processes (a database server, other work on a shared machine). */
static void cpu_report(const char *phase, const cpu_mark *a)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double other = a->machine - a->self - a->relay - a->irq;
    if (a->wall <= 0) return;
    if (other < 0) other = 0; /* per-process and per-CPU clock ticks round apart */
    printf("%-30s cores busy over %.1f s: relay %.2f, load generator %.2f, softirq %.2f, other processes %.2f "
           "(machine %.2f of %ld)\n",
           phase, a->wall, a->relay / a->wall, a->self / a->wall, a->irq / a->wall, other / a->wall,
           a->machine / a->wall, ncpu);
    fflush(stdout);
}

/* ---- id lookup: event index by id ---- */

static unsigned long long id_key(const unsigned char id[32])
{
    unsigned long long k;
    memcpy(&k, id, 8);
    return k;
}

static void build_table(bench *b)
{
    size_t cap = 1, i;
    while (cap < b->ev.n * 2 + 2) cap *= 2;
    b->tab = (size_t *)xmalloc(cap * sizeof *b->tab);
    b->tab_mask = cap - 1;
    for (i = 0; i < b->ev.n; i++) {
        size_t h;
        if (!b->meta[i].ok) continue;
        h = (size_t)id_key(b->meta[i].id) & b->tab_mask;
        while (b->tab[h]) {
            if (!memcmp(b->meta[b->tab[h] - 1].id, b->meta[i].id, 32)) break; /* duplicate line */
            h = (h + 1) & b->tab_mask;
        }
        if (!b->tab[h]) b->tab[h] = i + 1;
    }
}

/* the event index for 64 hex characters at p, or -1 */
static long lookup_hex(bench *b, const char *p)
{
    unsigned char id[32];
    size_t h;
    if (nostr_hex_decode(p, 64, id, 32) != NOSTR_OK) return -1;
    h = (size_t)id_key(id) & b->tab_mask;
    while (b->tab[h]) {
        if (!memcmp(b->meta[b->tab[h] - 1].id, id, 32)) return (long)(b->tab[h] - 1);
        h = (h + 1) & b->tab_mask;
    }
    return -1;
}

/* ---- connections ---- */

static void conn_dead(lconn *c);

static void set_out(lconn *c, int on)
{
    struct epoll_event e;
    if (c->want_out == on || c->fd < 0) return;
    memset(&e, 0, sizeof e);
    e.events = EPOLLIN | (on ? EPOLLOUT : 0);
    e.data.ptr = c;
    epoll_ctl(c->b->ep, EPOLL_CTL_MOD, c->fd, &e);
    c->want_out = on;
}

static void conn_flush(lconn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t w = write(c->fd, c->out.data + c->out_off, c->out.len - c->out_off);
        if (w > 0) {
            c->out_off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_out(c, 1);
            return;
        }
        conn_dead(c);
        return;
    }
    nostr_buf_clear(&c->out);
    c->out_off = 0;
    set_out(c, 0);
}

static int ws_send(void *user, const void *p, size_t n)
{
    lconn *c = (lconn *)user;
    if (c->out_off > 0 && c->out_off == c->out.len) {
        nostr_buf_clear(&c->out);
        c->out_off = 0;
    }
    return nostr_buf_append(&c->out, p, n) == NOSTR_OK ? 0 : -1;
}

static int ws_rng(void *user, unsigned char *out, size_t n)
{
    lconn *c = (lconn *)user;
    size_t i;
    for (i = 0; i < n; i++) {
        c->xs ^= c->xs << 13;
        c->xs ^= c->xs >> 17;
        c->xs ^= c->xs << 5;
        out[i] = (unsigned char)c->xs;
    }
    return 0;
}

static void on_message(void *user, int opcode, const char *d, size_t n);

static void ws_closed(void *user, int code, const char *reason, size_t len)
{
    lconn *c = (lconn *)user;
    if (c->b->notices < 5 && code != 1000 && code != 1001)
        fprintf(stderr, "bench_relay_load: relay closed a connection: %d %.*s\n", code, (int)len, reason);
}

static lconn *conn_new(bench *b, int role)
{
    lconn *c = (lconn *)xmalloc(sizeof *c);
    struct epoll_event e;
    int one = 1;
    c->b = b;
    c->role = role;
    c->xs = (unsigned)(b->nall * 2654435761u) | 1;
    nostr_buf_init(&c->out, NULL);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket failed (raise ulimit -n?)");
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&b->addr, sizeof b->addr) != 0 && errno != EINPROGRESS) {
        perror("connect");
        die("cannot connect to the relay");
    }
    c->state = ST_CONNECTING;
    memset(&e, 0, sizeof e);
    e.events = EPOLLIN | EPOLLOUT;
    e.data.ptr = c;
    c->want_out = 1;
    if (epoll_ctl(b->ep, EPOLL_CTL_ADD, c->fd, &e) != 0) die("epoll_ctl failed");
    if (b->nall == b->capall) {
        b->capall = b->capall ? b->capall * 2 : 64;
        b->all = (lconn **)realloc(b->all, b->capall * sizeof *b->all);
        if (!b->all) die("out of memory");
    }
    b->all[b->nall++] = c;
    return c;
}

static void conn_dead(lconn *c)
{
    if (c->state == ST_DEAD) return;
    if (c->state == ST_HANDSHAKE) nostr_http_parser_free(&c->http);
    if (c->fd >= 0) {
        epoll_ctl(c->b->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = ST_DEAD;
}

/* close and free every connection */
static void close_all(bench *b)
{
    size_t i;
    for (i = 0; i < b->nall; i++) {
        lconn *c = b->all[i];
        conn_dead(c);
        if (c->ws_live) nostr_ws_free(&c->ws);
        nostr_buf_free(&c->out);
        free(c);
    }
    b->nall = 0;
}

static void start_handshake(lconn *c)
{
    bench *b = c->b;
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err) {
        fprintf(stderr, "bench_relay_load: connect: %s\n", strerror(err ? err : errno));
        conn_dead(c);
        return;
    }
    ws_rng(c, c->key, sizeof c->key);
    nostr_http_parser_init(&c->http, NOSTR_HTTP_RESPONSE, NULL);
    c->state = ST_HANDSHAKE;
    if (nostr_ws_client_request(&c->out, b->hostport, b->path, c->key, NULL) != NOSTR_OK) die("bad request");
    conn_flush(c);
}

static void finish_handshake(lconn *c, const char *rest, size_t n)
{
    nostr_ws_config cfg;
    nostr_ws_callbacks cb;
    nostr_error err;
    if (nostr_ws_client_check_response(&c->http.msg, c->key, &err) != NOSTR_OK) {
        fprintf(stderr, "bench_relay_load: upgrade refused: %d %s (%s)\n", c->http.msg.status, c->http.msg.reason.ptr,
                err.msg);
        conn_dead(c);
        return;
    }
    nostr_http_parser_free(&c->http);
    memset(&cfg, 0, sizeof cfg);
    memset(&cb, 0, sizeof cb);
    cfg.rng = ws_rng;
    cfg.rng_user = c;
    cfg.max_frame = cfg.max_message = 16u << 20;
    cb.user = c;
    cb.send = ws_send;
    cb.on_message = on_message;
    cb.on_close = ws_closed;
    if (nostr_ws_init(&c->ws, NOSTR_WS_CLIENT, &cfg, &cb) != NOSTR_OK) die("ws init");
    c->ws_live = 1;
    c->state = ST_OPEN;
    if (n) nostr_ws_feed(&c->ws, rest, n);
}

static void after_read(lconn *c);

static void conn_read(lconn *c)
{
    bench *b = c->b;
    int reads;
    for (reads = 0; reads < 8 && c->state != ST_DEAD; reads++) {
        ssize_t k = read(c->fd, b->rbuf, READ_BUF);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (k <= 0) {
            if (c->ws_live) nostr_ws_abort(&c->ws);
            conn_dead(c);
            break;
        }
        b->rx_bytes += (unsigned long long)k;
        if (c->state == ST_HANDSHAKE) {
            size_t used = 0;
            int rc = nostr_http_feed(&c->http, b->rbuf, (size_t)k, &used);
            if (rc == NOSTR_HTTP_DONE)
                finish_handshake(c, b->rbuf + used, (size_t)k - used);
            else if (rc < 0) {
                fprintf(stderr, "bench_relay_load: bad HTTP response\n");
                conn_dead(c);
            }
        } else if (c->state == ST_OPEN) {
            if (nostr_ws_feed(&c->ws, b->rbuf, (size_t)k) != NOSTR_OK || nostr_ws_state(&c->ws) == NOSTR_WS_CLOSED) {
                conn_dead(c);
                break;
            }
        }
        if ((size_t)k < READ_BUF) break;
    }
    if (c->state == ST_OPEN) after_read(c);
    if (c->state != ST_DEAD && c->out.len > c->out_off) conn_flush(c);
}

/* Run the loop once (up to ms milliseconds of waiting). */
static void poll_once(bench *b, int ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(b->ep, evs, 512, ms), i;
    for (i = 0; i < n; i++) {
        lconn *c = (lconn *)evs[i].data.ptr;
        if (c->state == ST_DEAD) continue;
        if (c->state == ST_CONNECTING) {
            if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) start_handshake(c);
            continue;
        }
        if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) conn_read(c);
        if (c->state != ST_DEAD && (evs[i].events & EPOLLOUT)) conn_flush(c);
    }
}

/* Open n connections of role (at most MAX_HANDSHAKES at a time) and wait
 * for their upgrades; returns how many are open. */
static size_t open_conns(bench *b, size_t n, int role, lconn **out)
{
    size_t made = 0, open = 0, i, pending;
    double t0 = now();
    while (now() - t0 < b->timeout) {
        pending = 0;
        open = 0;
        for (i = 0; i < made; i++) {
            if (out[i]->state == ST_OPEN)
                open++;
            else if (out[i]->state != ST_DEAD)
                pending++;
        }
        if (made == n && pending == 0) break;
        while (made < n && pending < MAX_HANDSHAKES) {
            out[made++] = conn_new(b, role);
            pending++;
        }
        poll_once(b, 50);
    }
    if (open < n) fprintf(stderr, "bench_relay_load: %zu of %zu connections opened\n", open, n);
    return open;
}

static int send_text(lconn *c, const char *s, size_t n)
{
    if (c->state != ST_OPEN) return -1;
    return nostr_ws_send_text(&c->ws, s, n) == NOSTR_OK ? 0 : -1;
}

/* ---- messages from the relay ---- */

static void on_ok(bench *b, lconn *c, const char *d, size_t n)
{
    long idx;
    int ok;
    const char *p, *msg;
    double t = now();
    if (n < 7 + 64 + 7) return;
    idx = lookup_hex(b, d + 7);
    p = d + 7 + 64;
    if (memcmp(p, "\",", 2) != 0) return;
    p += 2;
    ok = !strncmp(p, "true", 4);
    msg = strchr(p, '"');
    if (c->inflight) c->inflight--;
    if (idx < 0 || b->acked[idx]) return;
    b->acked[idx] = 1;
    b->acks++;
    b->last_ok = t;
    b->last_progress = t;
    b->lat[b->nlat++] = (t - b->sent_at[idx]) * 1e3;
    if (ok) {
        b->stored[idx] = 1;
        if (msg && !strncmp(msg + 1, "duplicate:", 10))
            b->ok_dup++;
        else
            b->ok_true++;
    } else {
        size_t r;
        b->ok_false++;
        for (r = 0; r < b->nreasons; r++)
            if (msg && !strncmp(b->reasons[r], msg + 1, strcspn(b->reasons[r], ":"))) break;
        if (r == b->nreasons && b->nreasons < 4 && msg)
            snprintf(b->reasons[b->nreasons++], sizeof b->reasons[0], "%.*s",
                     (int)(d + n - msg - 3 > 150 ? 150 : d + n - msg - 3), msg + 1);
    }
}

/* "q<index>" at p (up to the closing quote) -> index, or -1 */
static long sub_index(const char *p, const char *end)
{
    long k = 0;
    if (p >= end || *p != 'q') return -1;
    for (p++; p < end && *p != '"'; p++) {
        if (*p < '0' || *p > '9') return -1;
        k = k * 10 + (*p - '0');
    }
    return k;
}

static void on_message(void *user, int opcode, const char *d, size_t n)
{
    lconn *c = (lconn *)user;
    bench *b = c->b;
    (void)opcode;
    if (n >= 7 && !memcmp(d, "[\"OK\",\"", 7)) {
        on_ok(b, c, d, n);
    } else if (n >= 10 && !memcmp(d, "[\"EVENT\",\"", 10)) {
        if (c->role == ROLE_SUB) {
            const char *idp;
            double t = now();
            long idx;
            if (!c->eose) return; /* stored events before EOSE */
            c->delivered++;
            b->deliveries++;
            b->last_delivery = t;
            b->last_progress = t;
            idp = (const char *)memmem(d + 10, n - 10, "\"id\":\"", 6);
            if (idp && idp + 6 + 64 <= d + n && (idx = lookup_hex(b, idp + 6)) >= 0 && b->ndlat < b->dcap)
                b->dlat[b->ndlat++] = (t - b->sent_at[idx]) * 1e3;
        } else if (c->role == ROLE_REQ) {
            long k = sub_index(d + 10, d + n);
            if (k >= 0 && (size_t)k < b->rq_n) b->rq[k].rows++;
        }
    } else if (n >= 9 && !memcmp(d, "[\"EOSE\",\"", 9)) {
        if (c->role == ROLE_SUB) {
            c->eose = 1;
        } else if (c->role == ROLE_REQ) {
            long k = sub_index(d + 9, d + n);
            char msg[64];
            double t = now();
            if (k < 0 || (size_t)k >= b->rq_n || b->rq[k].done) return;
            b->rq[k].done = 1;
            b->rq_done++;
            b->lat[b->nlat++] = (t - b->rq[k].sent) * 1e3;
            b->last_eose = t;
            b->last_progress = t;
            if (c->inflight) c->inflight--;
            send_text(c, msg, (size_t)snprintf(msg, sizeof msg, "[\"CLOSE\",\"q%ld\"]", k));
        }
    } else if (n >= 11 && !memcmp(d, "[\"CLOSED\",\"", 11)) {
        long k = sub_index(d + 11, d + n);
        if (b->notices++ < 5) fprintf(stderr, "bench_relay_load: %.*s\n", (int)(n > 200 ? 200 : n), d);
        if (c->role == ROLE_REQ && k >= 0 && (size_t)k < b->rq_n && !b->rq[k].done) {
            b->rq[k].done = 1;
            b->rq_done++;
            b->rq_closed++;
            b->last_progress = now();
            if (c->inflight) c->inflight--;
        }
    } else if (n >= 8 && !memcmp(d, "[\"AUTH\",", 8)) {
        c->got_auth = 1;
    } else if (n >= 10 && !memcmp(d, "[\"NOTICE\",", 10)) {
        if (b->notices++ < 5) fprintf(stderr, "bench_relay_load: %.*s\n", (int)(n > 200 ? 200 : n), d);
    }
}

/* ---- sending ---- */

static void fill_pub(lconn *c)
{
    bench *b = c->b;
    while (c->state == ST_OPEN && c->inflight < (size_t)b->inflight && b->list_pos < b->list_n) {
        size_t idx = b->list[b->list_pos++];
        nostr_buf_clear(&b->scratch);
        nostr_buf_append(&b->scratch, "[\"EVENT\",", 9);
        nostr_buf_append(&b->scratch, b->ev.json[idx], b->ev.len[idx]);
        nostr_buf_append_char(&b->scratch, ']');
        b->sent_at[idx] = now();
        b->owner[idx] = c;
        if (send_text(c, (const char *)b->scratch.data, b->scratch.len) != 0) {
            fprintf(stderr, "bench_relay_load: event %zu not sent (not UTF-8?)\n", idx);
            b->acked[idx] = 1;
            b->acks++;
            continue;
        }
        c->inflight++;
    }
}

static void fill_req(lconn *c)
{
    bench *b = c->b;
    while (c->state == ST_OPEN && c->inflight < (size_t)b->req_inflight && b->rq_next < b->rq_n) {
        size_t k = b->rq_next++;
        nostr_buf_clear(&b->scratch);
        nostr_buf_append_str(&b->scratch, "[\"REQ\",\"q");
        nostr_buf_append_u64(&b->scratch, k);
        nostr_buf_append_str(&b->scratch, "\",");
        nostr_buf_append_str(&b->scratch, b->filters[k]);
        nostr_buf_append_char(&b->scratch, ']');
        b->rq[k].sent = now();
        if (send_text(c, (const char *)b->scratch.data, b->scratch.len) != 0) break;
        c->inflight++;
    }
}

static void after_read(lconn *c)
{
    if (c->role == ROLE_PUB && c->b->pub_active)
        fill_pub(c);
    else if (c->role == ROLE_REQ && c->b->req_active)
        fill_req(c);
}

/* ---- phases ---- */

/* Publish the events of list over conns (K in flight each) until every
 * one has its OK or nothing moves for b->timeout. Returns events/s and
 * fills lat / nlat. */
static double publish(bench *b, lconn **conns, int nconns, const size_t *list, size_t n, double *t_first)
{
    size_t i, acks0 = b->acks, want;
    double t0;
    int k;
    b->list = list;
    b->list_n = n;
    b->list_pos = 0;
    b->nlat = 0;
    want = 0;
    for (i = 0; i < n; i++) want += !b->acked[list[i]];
    t0 = now();
    if (t_first) *t_first = t0;
    b->last_ok = t0;
    b->last_progress = t0;
    b->pub_active = 1;
    for (k = 0; k < nconns; k++) {
        fill_pub(conns[k]);
        conn_flush(conns[k]);
    }
    while (b->acks - acks0 < want) {
        poll_once(b, 100);
        for (k = 0; k < nconns; k++) {
            if (conns[k]->state != ST_DEAD) continue;
            /* the relay closed it: what it had in flight is lost; go on
             * with a new connection */
            for (i = 0; i < b->list_pos; i++) {
                size_t idx = list[i];
                if (b->owner[idx] == conns[k] && !b->acked[idx]) {
                    b->acked[idx] = 1;
                    b->acks++;
                    b->lost++;
                }
            }
            if (open_conns(b, 1, ROLE_PUB, &conns[k]) != 1) die("cannot reconnect a publisher");
            b->last_progress = now();
            fill_pub(conns[k]);
            conn_flush(conns[k]);
        }
        if (now() - b->last_progress > b->timeout) {
            fprintf(stderr, "bench_relay_load: no OK for %.0f s; %zu of %zu answered\n", b->timeout, b->acks - acks0,
                    want);
            break;
        }
    }
    b->pub_active = 0;
    if (b->last_ok <= t0) return 0;
    return (double)(b->acks - acks0) / (b->last_ok - t0);
}

static void print_reasons(bench *b)
{
    size_t r;
    for (r = 0; r < b->nreasons; r++) printf("%-30s %s\n", "  rejected, e.g.", b->reasons[r]);
    b->nreasons = 0;
}

static void phase_ingest(bench *b, const size_t *region, size_t nregion)
{
    double rate[MAX_ROUNDS], p50[MAX_ROUNDS], p99[MAX_ROUNDS], bare[MAX_ROUNDS], r1[MAX_ROUNDS], r2[MAX_ROUNDS];
    double bare2[MAX_ROUNDS], rb2[MAX_ROUNDS];
    lconn **conns = (lconn **)xmalloc((size_t)b->conns * sizeof *conns);
    size_t okt = 0, okd = 0, okf = 0, lost0 = b->lost;
    cpu_mark cm, acc;
    int r;
    memset(&acc, 0, sizeof acc);
    printf("# ingest: %d connections x %d in flight, %zu events in %d slices\n", b->conns, b->inflight, nregion,
           b->rounds);
    if (open_conns(b, (size_t)b->conns, ROLE_PUB, conns) == 0) die("no connection for ingest");
    for (r = 0; r < b->rounds; r++) {
        size_t lo = nregion * (size_t)r / (size_t)b->rounds, hi = nregion * (size_t)(r + 1) / (size_t)b->rounds;
        size_t t0 = b->ok_true, d0 = b->ok_dup, f0 = b->ok_false;
        bare[r] = bench_events_verify_rate(&b->ev, 20000, 1.0);
        bare2[r] = bench_events_verify_rate_threads(&b->ev, 20000, 1.0, 2);
        cpu_start(b, &cm);
        rate[r] = publish(b, conns, b->conns, region + lo, hi - lo, NULL);
        cpu_stop(b, &cm, &acc);
        p50[r] = pct(b->lat, b->nlat, 50);
        p99[r] = pct(b->lat, b->nlat, 99);
        r1[r] = bare[r] > 0 ? rate[r] / bare[r] : 0;
        r2[r] = bare[r] > 0 ? rate[r] / (2 * bare[r]) : 0;
        rb2[r] = bare2[r] > 0 ? rate[r] / bare2[r] : 0;
        okt += b->ok_true - t0;
        okd += b->ok_dup - d0;
        okf += b->ok_false - f0;
    }
    print_metric("ingest_events_per_s", rate, b->rounds, "events/s", "0");
    print_metric("ingest_ok_p50_ms", p50, b->rounds, "ms", "2");
    print_metric("ingest_ok_p99_ms", p99, b->rounds, "ms", "2");
    print_metric("bare_verify_per_s_1core", bare, b->rounds, "events/s", "0");
    print_metric("ingest_over_bare_1core", r1, b->rounds, "ratio", "2");
    print_metric("ingest_over_bare_2cores", r2, b->rounds, "ratio", "2");
    print_metric("bare_verify_per_s_2threads", bare2, b->rounds, "events/s", "0");
    print_metric("ingest_over_bare_2threads", rb2, b->rounds, "ratio", "2");
    printf("%-30s %zu stored, %zu duplicate, %zu refused, %zu lost (the relay closed their connection)\n",
           "ingest_answers", okt, okd, okf, b->lost - lost0);
    cpu_report("ingest_cpu", &acc);
    print_reasons(b);
    free(conns);
    close_all(b);
}

static void hex64(const unsigned char *in, char *out)
{
    nostr_hex_encode(in, 32, out);
}

/* Q filters drawn from the stored events (seeded by round). */
static void make_filters(bench *b, size_t *pool, size_t npool, int round)
{
    unsigned long long s = bench__splitmix(0xfeed + (unsigned long long)round) | 1;
    size_t k;
    for (k = 0; k < b->rq_n; k++) {
        char f[300], h[65];
        int tries;
        const bench_event_meta *m = &b->meta[pool[bench__next(&s) % npool]];
        switch (k % 5) {
        case 0:
            hex64(m->pubkey, h);
            snprintf(f, sizeof f, "{\"authors\":[\"%s\"],\"limit\":20}", h);
            break;
        case 1: snprintf(f, sizeof f, "{\"kinds\":[%u],\"limit\":20}", m->kind); break;
        case 2:
        case 3:
            for (tries = 0; tries < 100 && !(k % 5 == 2 ? m->has_e : m->has_p); tries++)
                m = &b->meta[pool[bench__next(&s) % npool]];
            hex64(k % 5 == 2 ? m->e : m->p, h);
            snprintf(f, sizeof f, "{\"#%c\":[\"%s\"],\"limit\":20}", k % 5 == 2 ? 'e' : 'p', h);
            break;
        default:
            snprintf(f, sizeof f, "{\"since\":%lld,\"until\":%lld,\"limit\":50}", m->created_at - 30,
                     m->created_at + 30);
            break;
        }
        free(b->filters[k]);
        b->filters[k] = strdup(f);
    }
}

static void phase_req(bench *b, const size_t *region, size_t nregion)
{
    double rate[MAX_ROUNDS], p50[MAX_ROUNDS], p99[MAX_ROUNDS], rows[MAX_ROUNDS], kib[MAX_ROUNDS];
    lconn **conns = (lconn **)xmalloc((size_t)b->req_conns * sizeof *conns);
    size_t *pool = (size_t *)xmalloc(nregion * sizeof *pool), npool = 0, i, closed = 0;
    cpu_mark cm, acc;
    int r, k;
    memset(&acc, 0, sizeof acc);
    for (i = 0; i < nregion; i++)
        if (b->stored[region[i]] && nostr_kind_class(b->meta[region[i]].kind) != NOSTR_KIND_EPHEMERAL)
            pool[npool++] = region[i];
    if (!npool) {
        printf("# req: no stored events to query\n");
        free(pool);
        free(conns);
        return;
    }
    printf("# req: %d REQs per round over %d connections x %d open, from %zu stored events\n", b->reqs, b->req_conns,
           b->req_inflight, npool);
    b->rq_n = (size_t)b->reqs;
    b->rq = (req_slot *)xmalloc(b->rq_n * sizeof *b->rq);
    b->filters = (char **)xmalloc(b->rq_n * sizeof *b->filters);
    if (open_conns(b, (size_t)b->req_conns, ROLE_REQ, conns) == 0) die("no connection for REQ");
    for (r = 0; r < b->rounds; r++) {
        double t0;
        unsigned long long nrows = 0, rx0 = b->rx_bytes;
        make_filters(b, pool, npool, r);
        memset(b->rq, 0, b->rq_n * sizeof *b->rq);
        b->rq_next = b->rq_done = b->rq_closed = 0;
        b->nlat = 0;
        cpu_start(b, &cm);
        t0 = b->last_eose = b->last_progress = now();
        b->req_active = 1;
        for (k = 0; k < b->req_conns; k++) {
            fill_req(conns[k]);
            conn_flush(conns[k]);
        }
        while (b->rq_done < b->rq_n) {
            poll_once(b, 100);
            if (now() - b->last_progress > b->timeout) {
                fprintf(stderr, "bench_relay_load: no EOSE for %.0f s; %zu of %zu done\n", b->timeout, b->rq_done,
                        b->rq_n);
                break;
            }
        }
        b->req_active = 0;
        cpu_stop(b, &cm, &acc);
        rate[r] = b->last_eose > t0 ? (double)(b->rq_done - b->rq_closed) / (b->last_eose - t0) : 0;
        p50[r] = pct(b->lat, b->nlat, 50);
        p99[r] = pct(b->lat, b->nlat, 99);
        for (i = 0; i < b->rq_n; i++) nrows += b->rq[i].rows;
        rows[r] = (double)nrows / (double)b->rq_n;
        kib[r] = (double)(b->rx_bytes - rx0) / 1024.0 / (double)b->rq_n;
        closed += b->rq_closed;
    }
    print_metric("req_per_s", rate, b->rounds, "REQ/s", "0");
    print_metric("req_eose_p50_ms", p50, b->rounds, "ms", "2");
    print_metric("req_eose_p99_ms", p99, b->rounds, "ms", "2");
    print_metric("req_rows_per_req", rows, b->rounds, "events", "1");
    print_metric("req_kib_per_req", kib, b->rounds, "KiB", "1");
    if (closed) printf("%-30s %zu\n", "req_closed_by_relay", closed);
    cpu_report("req_cpu", &acc);
    for (i = 0; i < b->rq_n; i++) free(b->filters[i]);
    free(b->filters);
    free(b->rq);
    b->rq = NULL;
    b->filters = NULL;
    b->rq_n = 0;
    free(pool);
    free(conns);
    close_all(b);
}

static void phase_fanout(bench *b, const size_t *reserve, size_t nreserve)
{
    double rate[MAX_ROUNDS], p50[MAX_ROUNDS], p99[MAX_ROUNDS];
    lconn **subs = (lconn **)xmalloc((size_t)b->subs * sizeof *subs), *pub;
    size_t nsubs, per = nreserve / (size_t)b->rounds, i;
    const char *req = "[\"REQ\",\"f\",{\"kinds\":[1],\"limit\":0}]";
    double t0;
    cpu_mark cm, acc;
    int r;
    memset(&acc, 0, sizeof acc);
    if (per == 0) {
        printf("# fanout: no kind-1 events left for it\n");
        free(subs);
        return;
    }
    nsubs = open_conns(b, (size_t)b->subs, ROLE_SUB, subs);
    printf("# fanout: %zu subscribers of kinds [1], %zu events per round\n", nsubs, per);
    for (i = 0; i < nsubs; i++) {
        send_text(subs[i], req, strlen(req));
        conn_flush(subs[i]);
    }
    t0 = now();
    for (;;) {
        size_t e = 0;
        for (i = 0; i < nsubs; i++) e += subs[i]->eose || subs[i]->state != ST_OPEN;
        if (e == nsubs) break;
        if (now() - t0 > b->timeout) {
            fprintf(stderr, "bench_relay_load: only %zu of %zu subscriptions got EOSE\n", e, nsubs);
            break;
        }
        poll_once(b, 50);
    }
    if (open_conns(b, 1, ROLE_PUB, &pub) != 1) die("no publisher connection");
    b->dcap = nsubs * per;
    b->dlat = (double *)xmalloc(b->dcap * sizeof *b->dlat);
    for (r = 0; r < b->rounds; r++) {
        unsigned long long want, ok0 = b->ok_true;
        double tf = 0;
        b->deliveries = 0;
        b->ndlat = 0;
        cpu_start(b, &cm);
        publish(b, &pub, 1, reserve + per * (size_t)r, per, &tf);
        want = (b->ok_true - ok0) * (unsigned long long)nsubs;
        b->last_progress = now();
        while (b->deliveries < want && now() - b->last_progress < 5.0) poll_once(b, 100);
        if (b->deliveries < want)
            fprintf(stderr, "bench_relay_load: %llu of %llu deliveries arrived\n", b->deliveries, want);
        cpu_stop(b, &cm, &acc);
        rate[r] = b->last_delivery > tf ? (double)b->deliveries / (b->last_delivery - tf) : 0;
        p50[r] = pct(b->dlat, b->ndlat, 50);
        p99[r] = pct(b->dlat, b->ndlat, 99);
    }
    print_metric("fanout_deliveries_per_s", rate, b->rounds, "deliveries/s", "0");
    print_metric("fanout_latency_p50_ms", p50, b->rounds, "ms", "2");
    print_metric("fanout_latency_p99_ms", p99, b->rounds, "ms", "2");
    cpu_report("fanout_cpu", &acc);
    print_reasons(b);
    free(b->dlat);
    b->dlat = NULL;
    free(subs);
    close_all(b);
}

static void phase_idle(bench *b)
{
    lconn **conns = (lconn **)xmalloc((size_t)b->idle * sizeof *conns);
    long before, after;
    size_t n, i, authed;
    double t0;
    if (!b->pid) {
        printf("# idle: no relay PID (give --pid); skipped\n");
        free(conns);
        return;
    }
    before = rss_kib(b->pid);
    n = open_conns(b, (size_t)b->idle, ROLE_IDLE, conns);
    t0 = now();
    do {
        poll_once(b, 50);
        for (authed = 0, i = 0; i < n; i++) authed += conns[i]->got_auth;
    } while (authed < n && now() - t0 < 2.0);
    t0 = now();
    while (now() - t0 < 0.5) poll_once(b, 50);
    after = rss_kib(b->pid);
    printf("# idle: %zu WebSocket connections open (%zu got an AUTH challenge); relay RSS %ld -> %ld KiB\n", n, authed,
           before, after);
    if (n && before > 0 && after > 0) {
        double per = (double)(after - before) * 1024.0 / (double)n;
        printf("%-30s %12.0f %-12s (%ld KiB over %zu connections)\n", "idle_bytes_per_conn", per, "bytes",
               after - before, n);
    }
    free(conns);
    close_all(b);
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(stderr, "usage: bench_relay_load --url ws://127.0.0.1:PORT/ [--events FILE|N] "
                    "[--mode ingest|req|fanout|idle|all]\n"
                    "       [--conns C] [--inflight K] [--rounds R] [--pid PID] [--reqs Q] [--req-conns C]\n"
                    "       [--req-inflight K] [--subs S] [--fanout-events M] [--idle N] [--timeout S]\n"
                    "       [--max-message BYTES]\n");
    exit(2);
}

static void parse_url(bench *b, const char *url)
{
    char host[64];
    const char *p, *slash, *colon;
    if (strncmp(url, "ws://", 5) != 0) die("only ws:// URLs");
    p = url + 5;
    slash = strchr(p, '/');
    if (!slash) slash = p + strlen(p);
    colon = memchr(p, ':', (size_t)(slash - p));
    if (!colon || colon - p >= (long)sizeof host) die("the URL needs host:port");
    snprintf(host, sizeof host, "%.*s", (int)(colon - p), p);
    b->port = atoi(colon + 1);
    if (!strcmp(host, "localhost")) snprintf(host, sizeof host, "127.0.0.1");
    memset(&b->addr, 0, sizeof b->addr);
    b->addr.sin_family = AF_INET;
    b->addr.sin_port = htons((unsigned short)b->port);
    if (inet_pton(AF_INET, host, &b->addr.sin_addr) != 1) die("the URL's host must be an IPv4 address");
    snprintf(b->hostport, sizeof b->hostport, "%.*s", (int)(slash - p), p);
    snprintf(b->path, sizeof b->path, "%s", *slash ? slash : "/");
}

int main(int argc, char **argv)
{
    static bench B;
    bench *b = &B;
    const char *url = NULL, *events = "100000", *mode = "all";
    size_t *region, *reserve, nregion = 0, nreserve = 0, want_reserve, i, good;
    int a, m_ingest, m_req, m_fanout, m_idle;
    struct rlimit rl;
    double t0;
    b->conns = 8;
    b->inflight = 500;
    b->rounds = 3;
    b->reqs = 2000;
    b->req_conns = 4;
    b->req_inflight = 25;
    b->subs = 200;
    b->fanout_events = 2000;
    b->idle = 1000;
    b->timeout = 60;
    b->max_message = 131072;
    for (a = 1; a < argc; a++) {
        const char *o = argv[a], *v = a + 1 < argc ? argv[a + 1] : NULL;
        if (!strcmp(o, "-h") || !strcmp(o, "--help") || !v) usage();
        a++;
        if (!strcmp(o, "--url"))
            url = v;
        else if (!strcmp(o, "--events"))
            events = v;
        else if (!strcmp(o, "--mode"))
            mode = v;
        else if (!strcmp(o, "--conns"))
            b->conns = atoi(v);
        else if (!strcmp(o, "--inflight"))
            b->inflight = atoi(v);
        else if (!strcmp(o, "--rounds"))
            b->rounds = atoi(v);
        else if (!strcmp(o, "--pid"))
            b->pid = atol(v);
        else if (!strcmp(o, "--reqs"))
            b->reqs = atoi(v);
        else if (!strcmp(o, "--req-conns"))
            b->req_conns = atoi(v);
        else if (!strcmp(o, "--req-inflight"))
            b->req_inflight = atoi(v);
        else if (!strcmp(o, "--subs"))
            b->subs = atoi(v);
        else if (!strcmp(o, "--fanout-events"))
            b->fanout_events = atoi(v);
        else if (!strcmp(o, "--idle"))
            b->idle = atoi(v);
        else if (!strcmp(o, "--timeout"))
            b->timeout = atof(v);
        else if (!strcmp(o, "--max-message"))
            b->max_message = (size_t)atol(v);
        else
            usage();
    }
    if (!url || b->conns < 1 || b->inflight < 1 || b->rounds < 1 || b->rounds > MAX_ROUNDS || b->reqs < 1 ||
        b->req_conns < 1 || b->req_inflight < 1 || b->subs < 1 || b->fanout_events < 1 || b->idle < 1)
        usage();
    m_ingest = !strcmp(mode, "ingest") || !strcmp(mode, "all");
    m_req = !strcmp(mode, "req") || !strcmp(mode, "all");
    m_fanout = !strcmp(mode, "fanout") || !strcmp(mode, "all");
    m_idle = !strcmp(mode, "idle") || !strcmp(mode, "all");
    if (!m_ingest && !m_req && !m_fanout && !m_idle) usage();
    parse_url(b, url);
    snprintf(b->url, sizeof b->url, "%s", url);
    signal(SIGPIPE, SIG_IGN);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (!b->pid) b->pid = find_pid_by_port(b->port);

    if (bench_events_load(&b->ev, events) != 0) return 1;
    t0 = now();
    b->meta = (bench_event_meta *)xmalloc(b->ev.n * sizeof *b->meta);
    good = bench_events_meta(&b->ev, b->meta);
    build_table(b);
    b->sent_at = (double *)xmalloc(b->ev.n * sizeof *b->sent_at);
    b->acked = (unsigned char *)xmalloc(b->ev.n);
    b->stored = (unsigned char *)xmalloc(b->ev.n);
    b->owner = (lconn **)xmalloc(b->ev.n * sizeof *b->owner);
    b->lat = (double *)xmalloc((b->ev.n > (size_t)b->reqs ? b->ev.n : (size_t)b->reqs) * sizeof *b->lat);
    b->rbuf = (char *)xmalloc(READ_BUF);
    nostr_buf_init(&b->scratch, NULL);
    b->ep = epoll_create1(EPOLL_CLOEXEC);
    if (b->ep < 0) die("epoll_create1 failed");
    printf("# bench_relay_load %s: %zu events (%zu parsed, %.1f MB) from %s; relay pid %ld; rounds %d\n", b->url,
           b->ev.n, good, (double)b->ev.bytes / 1e6, b->ev.path, b->pid, b->rounds);

    /* the last rounds*M kind-1 events for fan-out, the rest for ingest */
    region = (size_t *)xmalloc(b->ev.n * sizeof *region);
    reserve = (size_t *)xmalloc(b->ev.n * sizeof *reserve);
    want_reserve = m_fanout ? (size_t)b->fanout_events * (size_t)b->rounds : 0;
    {
        size_t cut = b->ev.n, skipped = 0;
        while (cut > 0 && nreserve < want_reserve && b->ev.n - cut < b->ev.n / 2) {
            cut--;
            if (b->meta[cut].ok && b->meta[cut].kind == 1) nreserve++;
        }
        nreserve = 0;
        for (i = 0; i < b->ev.n; i++) {
            if (!b->meta[i].ok) continue;
            if (b->ev.len[i] + 11 > b->max_message)
                skipped++;
            else if (i >= cut && b->meta[i].kind == 1)
                reserve[nreserve++] = i;
            else if (i < cut)
                region[nregion++] = i;
        }
        if (skipped)
            printf("# %zu events not sent: their EVENT message is over %zu bytes (the relay would close the "
                   "connection; --max-message)\n",
                   skipped, b->max_message);
    }
    (void)t0;

    /* idle first: RSS growth on a fresh relay, before other phases leave
     * freed memory behind that new connections would reuse */
    if (m_idle) phase_idle(b);
    if (m_ingest) {
        phase_ingest(b, region, nregion);
    } else if (m_req) {
        /* REQ alone: make sure the relay has the events (not timed) */
        lconn **c = (lconn **)xmalloc((size_t)b->conns * sizeof *c);
        printf("# req: loading %zu events first (not timed)\n", nregion);
        open_conns(b, (size_t)b->conns, ROLE_PUB, c);
        publish(b, c, b->conns, region, nregion, NULL);
        free(c);
        close_all(b);
    }
    if (m_req) phase_req(b, region, nregion);
    if (m_fanout) phase_fanout(b, reserve, nreserve);

    free(region);
    free(reserve);
    free(b->meta);
    free(b->tab);
    free(b->sent_at);
    free(b->acked);
    free(b->stored);
    free(b->owner);
    free(b->lat);
    free(b->rbuf);
    free(b->all);
    nostr_buf_free(&b->scratch);
    close(b->ep);
    bench_events_free(&b->ev);
    return 0;
}
