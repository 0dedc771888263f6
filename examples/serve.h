/* serve.h - what nostr-relay and nostr-gateway share: clocks, log lines,
 * the verify worker pool, and the relay connections' side of an epoll
 * loop (accept, read, write, linger, close). Static functions; include it
 * once, after nostr_relay.h, in a file that defines _GNU_SOURCE. */
#ifndef NOSTR_EXAMPLES_SERVE_H
#define NOSTR_EXAMPLES_SERVE_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK 65536
#define READS_PER_WAKEUP 4 /* fairness: at most this many reads per readiness */
#define VERIFY_BATCH 32    /* jobs a worker takes at once */
#define LINGER_MS 2000     /* how long a closed connection may take to send its EOF */

/* ---- clocks ---- */

static long long realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long monotonic_us(void *user)
{
    struct timespec ts;
    (void)user;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- logging: one line per message on stderr, text or JSON ---- */

static const char *level_name(int level)
{
    switch (level) {
    case NOSTR_LOG_ERROR: return "error";
    case NOSTR_LOG_WARN: return "warn";
    case NOSTR_LOG_INFO: return "info";
    default: return "debug";
    }
}

static int log_json_format; /* set once in main before any thread starts */

static void log_msg(void *user, int level, const char *msg)
{
    char ts[40];
    long long now = realtime_ms();
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    (void)user;
    gmtime_r(&secs, &tm);
    strftime(ts, 24, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + strlen(ts), sizeof ts - strlen(ts), ".%03dZ", (int)(now % 1000));
    if (log_json_format) {
        nostr_buf b;
        nostr_buf_init(&b, NULL);
        nostr_buf_append_str(&b, "{\"ts\":\"");
        nostr_buf_append_str(&b, ts);
        nostr_buf_append_str(&b, "\",\"level\":\"");
        nostr_buf_append_str(&b, level_name(level));
        nostr_buf_append_str(&b, "\",\"msg\":");
        nostr_json_write_string(&b, msg, strlen(msg));
        nostr_buf_append_str(&b, "}\n");
        if (b.data) fwrite(b.data, 1, b.len, stderr);
        nostr_buf_free(&b);
    } else {
        fprintf(stderr, "%s %s %s\n", ts, level_name(level), msg);
    }
    fflush(stderr);
}

static void logf_(int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_msg(NULL, level, line);
}


/* ---- signature verification on worker threads ----
 * Jobs (the relay's or the gateway's verify jobs, seen through
 * verify_ops) are linked through their app field: a FIFO to the workers
 * under one mutex and condition variable, a FIFO back under another, and
 * an eventfd that wakes the loop, which hands each result back (ops.done). */

typedef struct verify_ops {
    const nostr_event *(*event)(void *job);
    int *(*result)(void *job);
    void **(*link)(void *job); /* the job's app field */
    void (*done)(void *owner, void *job);
} verify_ops;

typedef struct job_fifo {
    void *head, *tail;
} job_fifo;

static void fifo_push(const verify_ops *ops, job_fifo *q, void *job)
{
    *ops->link(job) = NULL;
    if (q->tail)
        *ops->link(q->tail) = job;
    else
        q->head = job;
    q->tail = job;
}

typedef struct verify_pool {
    const nostr_ctx *ctx;
    verify_ops ops;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_fifo todo;
    int stop;
    pthread_mutex_t done_mu;
    job_fifo done;
    int efd;
    pthread_t *threads;
    int nthreads, joined;
    unsigned long long submitted, completed; /* loop thread only: for /metrics */
} verify_pool;

static void *verify_worker(void *arg)
{
    verify_pool *vp = (verify_pool *)arg;
    /* this thread's parsed keys: authors repeat (NULL: verify uncached) */
    nostr_pubkey_cache *keys = nostr_pubkey_cache_new(NULL, 0);
    for (;;) {
        void *batch, *job, *last = NULL;
        int n = 0;
        uint64_t one = 1;
        pthread_mutex_lock(&vp->mu);
        while (!vp->todo.head && !vp->stop) pthread_cond_wait(&vp->cv, &vp->mu);
        if (!vp->todo.head) { /* stopping, and nothing left to do */
            pthread_mutex_unlock(&vp->mu);
            nostr_pubkey_cache_free(keys);
            return NULL;
        }
        /* take up to VERIFY_BATCH jobs, leave the rest to the other workers */
        batch = vp->todo.head;
        for (job = batch; job && n < VERIFY_BATCH; job = *vp->ops.link(job), n++) last = job;
        vp->todo.head = *vp->ops.link(last);
        if (!vp->todo.head) vp->todo.tail = NULL;
        *vp->ops.link(last) = NULL;
        pthread_mutex_unlock(&vp->mu);

        for (job = batch; job; job = *vp->ops.link(job))
            *vp->ops.result(job) = nostr_event_verify_cached(vp->ctx, keys, vp->ops.event(job));

        pthread_mutex_lock(&vp->done_mu);
        if (vp->done.tail)
            *vp->ops.link(vp->done.tail) = batch;
        else
            vp->done.head = batch;
        vp->done.tail = last;
        pthread_mutex_unlock(&vp->done_mu);
        if (write(vp->efd, &one, sizeof one) < 0) { /* the counter is already non-zero: the loop will look */
        }
    }
}

static int verify_submit(verify_pool *vp, void *job)
{
    vp->submitted++;
    pthread_mutex_lock(&vp->mu);
    fifo_push(&vp->ops, &vp->todo, job);
    pthread_cond_signal(&vp->cv);
    pthread_mutex_unlock(&vp->mu);
    return 0;
}

static int verify_pool_start(verify_pool *vp, const nostr_ctx *ctx, const verify_ops *ops, int nthreads)
{
    int i;
    memset(vp, 0, sizeof *vp);
    vp->ctx = ctx;
    vp->ops = *ops;
    vp->efd = -1;
    if (nthreads <= 0) return 0;
    vp->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    vp->threads = (pthread_t *)calloc((size_t)nthreads, sizeof *vp->threads);
    if (vp->efd < 0 || !vp->threads) return -1;
    pthread_mutex_init(&vp->mu, NULL);
    pthread_cond_init(&vp->cv, NULL);
    pthread_mutex_init(&vp->done_mu, NULL);
    for (i = 0; i < nthreads; i++) {
        if (pthread_create(&vp->threads[i], NULL, verify_worker, vp) != 0) break;
        vp->nthreads++;
    }
    return vp->nthreads > 0 ? 0 : -1;
}

/* Results back to their owner (the relay, the gateway), in the order they
 * finished. */
static void verify_pool_drain(verify_pool *vp, void *owner)
{
    void *job;
    uint64_t count;
    if (vp->nthreads == 0) return;
    if (read(vp->efd, &count, sizeof count) < 0) { /* EAGAIN: nothing signalled, look anyway */
    }
    pthread_mutex_lock(&vp->done_mu);
    job = vp->done.head;
    vp->done.head = vp->done.tail = NULL;
    pthread_mutex_unlock(&vp->done_mu);
    while (job) {
        void *next = *vp->ops.link(job);
        vp->completed++;
        vp->ops.done(owner, job); /* may free job */
        job = next;
    }
}

/* Workers finish what is queued, then exit. */
static void verify_pool_stop(verify_pool *vp)
{
    int i;
    if (vp->nthreads > 0 && !vp->joined) {
        vp->joined = 1;
        pthread_mutex_lock(&vp->mu);
        vp->stop = 1;
        pthread_cond_broadcast(&vp->cv);
        pthread_mutex_unlock(&vp->mu);
        for (i = 0; i < vp->nthreads; i++) pthread_join(vp->threads[i], NULL);
    }
}

static void verify_pool_free(verify_pool *vp)
{
    if (vp->nthreads > 0) {
        pthread_mutex_destroy(&vp->mu);
        pthread_cond_destroy(&vp->cv);
        pthread_mutex_destroy(&vp->done_mu);
    }
    free(vp->threads);
    if (vp->efd >= 0) close(vp->efd);
}


/* ---- relay connections ---- */

typedef struct conn {
    int fd;
    nostr_relay_conn *rc;
    unsigned mask; /* events registered with epoll */
    int on_wake_list;
    int dead;    /* closed; freed at the end of the loop iteration */
    int no_read; /* the relay takes no more input, or the peer sent EOF */
    int eof;
    int lingering; /* done with, write side shut: reading to EOF before close */
    long long linger_until_ms;
    struct conn *wake_next, *prev, *next;
    char ip[INET6_ADDRSTRLEN];
} conn;

/* What serving relay connections needs; a program's own server struct
 * starts with it (so a pointer to either is a pointer to both). */
typedef struct conn_server {
    nostr_relay *relay;
    int epfd, lfd, spare_fd;
    int accept_paused;
    long long resume_accept_ms;
    conn *wake_head, *wake_tail;
    conn *all;       /* live connections (doubly linked) */
    conn *graveyard; /* closed this iteration, linked through next */
    size_t nconns;
    char *readbuf;
    long long last_emfile_log_ms;
} conn_server;

/* epoll's data pointer for the listener. */
static char tag_listener;

static void wake_cb(void *user, void *conn_user)
{
    conn_server *s = (conn_server *)user;
    conn *c = (conn *)conn_user;
    if (c->on_wake_list || c->dead) return;
    c->on_wake_list = 1;
    c->wake_next = NULL;
    if (s->wake_tail)
        s->wake_tail->wake_next = c;
    else
        s->wake_head = c;
    s->wake_tail = c;
}

static void set_mask(conn_server *s, conn *c, unsigned mask)
{
    struct epoll_event ev;
    if (mask == c->mask) return;
    memset(&ev, 0, sizeof ev);
    ev.events = mask;
    ev.data.ptr = c;
    if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0) c->mask = mask;
}

static void conn_close(conn_server *s, conn *c, int err)
{
    if (c->dead) return;
    if (err && err != ECONNRESET && err != EPIPE) logf_(NOSTR_LOG_WARN, "connection %s: %s", c->ip, strerror(err));
    close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    c->dead = 1;
    if (c->rc) nostr_relay_closed(s->relay, c->rc);
    c->rc = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->all = c->next;
    if (c->next) c->next->prev = c->prev;
    c->next = s->graveyard;
    s->graveyard = c;
    s->nconns--;
}

/* The relay is done with c and everything is written. Closing a socket
 * with unread input makes the kernel send RST, which can destroy what the
 * peer has not read yet (the close frame, a slow reader's NOTICE). So shut
 * the write side (FIN after our last byte), discard input until the peer's
 * EOF, and close then, or after LINGER_MS. */
static void conn_linger(conn_server *s, conn *c)
{
    nostr_relay_closed(s->relay, c->rc);
    c->rc = NULL;
    if (shutdown(c->fd, SHUT_WR) != 0) {
        conn_close(s, c, 0);
        return;
    }
    c->lingering = 1;
    c->no_read = 0;
    c->linger_until_ms = monotonic_ms() + LINGER_MS;
    set_mask(s, c, EPOLLIN);
}

static void linger_read(conn_server *s, conn *c)
{
    int i;
    for (i = 0; i < READS_PER_WAKEUP; i++) {
        ssize_t n = recv(c->fd, s->readbuf, READ_CHUNK, 0);
        if (n > 0) continue;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        conn_close(s, c, 0); /* EOF or reset: done */
        return;
    }
}

/* Write what the relay has for c; EPOLLOUT only while some is left. */
static void conn_flush(conn_server *s, conn *c)
{
    for (;;) {
        const void *p;
        size_t len = nostr_relay_output(c->rc, &p);
        ssize_t w;
        if (len == 0) break;
        w = send(c->fd, p, len, MSG_NOSIGNAL);
        if (w > 0) {
            nostr_relay_consume(s->relay, c->rc, (size_t)w);
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_mask(s, c, (c->no_read ? 0u : (unsigned)EPOLLIN) | EPOLLOUT);
            return;
        }
        conn_close(s, c, w < 0 ? errno : EPIPE);
        return;
    }
    if (c->eof) {
        conn_close(s, c, 0);
        return;
    }
    if (nostr_relay_should_close(c->rc)) {
        conn_linger(s, c);
        return;
    }
    set_mask(s, c, c->no_read ? 0u : (unsigned)EPOLLIN);
}

static void drain_wakes(conn_server *s)
{
    long guard = 10000000; /* a wake during a flush queues c again; never loop forever */
    while (s->wake_head && guard-- > 0) {
        conn *c = s->wake_head;
        s->wake_head = c->wake_next;
        if (!s->wake_head) s->wake_tail = NULL;
        c->on_wake_list = 0;
        if (!c->dead && !c->lingering) conn_flush(s, c);
    }
}

static void conn_read(conn_server *s, conn *c)
{
    int i;
    for (i = 0; i < READS_PER_WAKEUP; i++) {
        ssize_t n = recv(c->fd, s->readbuf, READ_CHUNK, 0);
        if (n > 0) {
            if (nostr_relay_feed(s->relay, c->rc, s->readbuf, (size_t)n) == NOSTR_ERR_CLOSED) {
                /* the relay only waits to close it: stop reading, flush, close */
                c->no_read = 1;
                set_mask(s, c, c->mask & ~(unsigned)EPOLLIN);
                wake_cb(s, c);
                return;
            }
            wake_cb(s, c); /* look at its output after the feed */
            if (n < READ_CHUNK) return;
            continue;
        }
        if (n == 0) { /* peer is done sending: write what is pending, then close */
            c->no_read = c->eof = 1;
            set_mask(s, c, c->mask & ~(unsigned)EPOLLIN);
            wake_cb(s, c);
            return;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        conn_close(s, c, errno);
        return;
    }
}

static void pause_accept(conn_server *s, long long ms)
{
    if (s->accept_paused || s->lfd < 0) return;
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->lfd, NULL);
    s->accept_paused = 1;
    s->resume_accept_ms = monotonic_ms() + ms;
}

static void resume_accept(conn_server *s)
{
    struct epoll_event ev;
    if (!s->accept_paused || s->lfd < 0 || monotonic_ms() < s->resume_accept_ms) return;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = &tag_listener;
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev) == 0) s->accept_paused = 0;
}

/* Out of file descriptors: accept with the spare one and close at once, so
 * the pending connection does not keep the listener readable (a busy loop);
 * without a spare, stop listening for a while. Returns 1 when a connection
 * was refused, 0 when none was waiting or listening is paused. */
static int refuse_one(conn_server *s)
{
    long long now = monotonic_ms();
    int fd = -1;
    if (now - s->last_emfile_log_ms > 1000) {
        logf_(NOSTR_LOG_WARN, "out of file descriptors (%zu connections): refusing connections", s->nconns);
        s->last_emfile_log_ms = now;
    }
    if (s->spare_fd >= 0) {
        close(s->spare_fd);
        fd = accept(s->lfd, NULL, NULL);
        if (fd >= 0) close(fd);
        s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (s->spare_fd < 0) {
        pause_accept(s, 250);
        return 0;
    }
    return fd >= 0;
}

static void accept_all(conn_server *s)
{
    while (s->lfd >= 0 && !s->accept_paused) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        struct epoll_event ev;
        int one = 1, fd;
        conn *c;
        fd = accept4(s->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EMFILE || errno == ENFILE) {
                if (refuse_one(s)) continue;
                return;
            }
            logf_(NOSTR_LOG_ERROR, "accept: %s", strerror(errno));
            pause_accept(s, 250); /* ENOBUFS, ENOMEM...: try again later, not in a loop */
            return;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c = (conn *)calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, c->ip, sizeof c->ip);
        else
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->ip, sizeof c->ip);
        c->rc = nostr_relay_accept(s->relay, c->ip, c);
        memset(&ev, 0, sizeof ev);
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        if (!c->rc || epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            if (c->rc) nostr_relay_closed(s->relay, c->rc);
            close(fd);
            c->dead = 1; /* may sit on the wake list: freed with the graveyard */
            c->next = s->graveyard;
            s->graveyard = c;
            continue;
        }
        c->mask = EPOLLIN;
        c->next = s->all;
        if (s->all) s->all->prev = c;
        s->all = c;
        s->nconns++;
    }
}

static void free_graveyard(conn_server *s)
{
    while (s->graveyard) {
        conn *c = s->graveyard;
        s->graveyard = c->next;
        free(c); /* drain_wakes ran first, so c is on no list */
    }
}

/* One epoll readiness for a relay connection. */
static void serve_conn_event(conn_server *s, conn *c, unsigned e)
{
    if (c->dead) return;
    if (c->lingering) {
        linger_read(s, c);
        return;
    }
    if ((e & EPOLLIN) && !c->no_read) conn_read(s, c);
    if (c->dead) return;
    if (e & EPOLLOUT) wake_cb(s, c);
    if ((e & (EPOLLERR | EPOLLHUP)) && !(e & EPOLLIN)) {
        conn_flush(s, c); /* writes fail and close it, or it is done */
        if (!c->dead) conn_close(s, c, 0);
    }
}

/* Every tick: lingering connections past their time close; a stuck
 * reader's output may have been dropped by the relay's tick, so look again
 * at every connection waiting to write. */
static void serve_conns_tick(conn_server *s, long long now)
{
    conn *c, *next;
    if (s->accept_paused) resume_accept(s);
    for (c = s->all; c; c = next) {
        next = c->next;
        if (c->lingering && now >= c->linger_until_ms)
            conn_close(s, c, 0);
        else if (c->mask & EPOLLOUT)
            wake_cb(s, c);
    }
}

static int listen_on(const char *addr, long long port, char *shown, size_t shown_size)
{
    struct addrinfo hints, *res = NULL, *ai;
    char portstr[16];
    int fd = -1, one = 1, rc;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(portstr, sizeof portstr, "%lld", port);
    rc = getaddrinfo(addr, portstr, &hints, &res);
    if (rc != 0) {
        logf_(NOSTR_LOG_ERROR, "bind address %s: %s", addr, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0) break;
        rc = errno;
        close(fd);
        fd = -1;
        errno = rc;
    }
    if (fd < 0) {
        logf_(NOSTR_LOG_ERROR, "cannot listen on %s port %lld: %s", addr, port, strerror(errno));
    } else {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        char host[INET6_ADDRSTRLEN] = "?";
        unsigned p = 0;
        getsockname(fd, (struct sockaddr *)&ss, &sl);
        if (ss.ss_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
            p = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
            snprintf(shown, shown_size, "ws://[%s]:%u/", host, p);
        } else {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
            p = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            snprintf(shown, shown_size, "ws://%s:%u/", host, p);
        }
    }
    freeaddrinfo(res);
    return fd;
}

static int epoll_add(int epfd, int fd, void *tag)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = tag;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

#endif /* NOSTR_EXAMPLES_SERVE_H */
