/* ---- blocking: implementation ----
 *
 * One socket, one nostr_client, and a poll(2) loop that runs until the
 * thing a call waits for has happened or its deadline passed. Output is
 * buffered (the socket is non-blocking) and flushed when poll says the
 * socket is writable. */

#ifndef NOSTR_NO_BLOCKING

/* No SIGPIPE from a socket the relay closed (Linux, BSDs); elsewhere the
 * app ignores SIGPIPE. */
#ifdef MSG_NOSIGNAL
#define NOSTR__BLK_SEND_FLAGS MSG_NOSIGNAL
#else
#define NOSTR__BLK_SEND_FLAGS 0
#endif

enum { NOSTR__BLK_NONE = 0, NOSTR__BLK_OPEN, NOSTR__BLK_OK, NOSTR__BLK_EOSE, NOSTR__BLK_COUNT };

typedef struct nostr__blk_sub {
    char sub[65];
    nostr_conn_event_fn fn;
    void *user;
} nostr__blk_sub;

struct nostr_conn {
    nostr_ctx *ctx;
    const nostr_allocator *al;
    nostr_client *client;
    int fd;
    int connecting;         /* non-blocking connect in progress */
    struct addrinfo *addrs; /* the resolved list while connecting */
    struct addrinfo *next_addr;
    char net_detail[160]; /* why the last connect failed */
    nostr_buf out;        /* bytes not written yet */
    size_t out_pos;
    /* what the current call waits for */
    int wait;
    int wait_done, wait_closed, stop;
    unsigned char wait_id[32];
    char wait_sub[65];
    int accepted, approximate;
    unsigned long long count;
    char *ok_msg;
    size_t ok_cap;
    int opened, dropped, drop_code;
    int closing; /* nostr_conn_close: keep the socket until the CLOSE frame is out */
    unsigned sub_counter;
    nostr__blk_sub *subs;
    size_t sub_count, sub_cap;
    char last_error[320];
    char last_notice[320];
};

static long long nostr__blk_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nostr__blk_copy(char *dst, size_t cap, const char *src)
{
    size_t n;
    if (!dst || cap == 0) return;
    n = src ? strlen(src) : 0;
    if (n >= cap) n = cap - 1;
    if (n) memcpy(dst, src, n);
    dst[n] = 0;
}

/* ---- socket ---- */

static void nostr__blk_close_fd(nostr_conn *conn)
{
    if (conn->fd >= 0) close(conn->fd);
    conn->fd = -1;
    conn->connecting = 0;
    nostr_buf_clear(&conn->out);
    conn->out_pos = 0;
}

static void nostr__blk_free_addrs(nostr_conn *conn)
{
    if (conn->addrs) freeaddrinfo(conn->addrs);
    conn->addrs = NULL;
    conn->next_addr = NULL;
}

/* Write what poll allows. Returns 0, or -1 when the socket is broken. */
static int nostr__blk_flush(nostr_conn *conn)
{
    while (conn->fd >= 0 && !conn->connecting && conn->out_pos < conn->out.len) {
        ssize_t n =
            send(conn->fd, conn->out.data + conn->out_pos, conn->out.len - conn->out_pos, NOSTR__BLK_SEND_FLAGS);
        if (n > 0) {
            conn->out_pos += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        } else {
            snprintf(conn->net_detail, sizeof conn->net_detail, "write failed: %s", strerror(errno));
            return -1;
        }
    }
    if (conn->out_pos == conn->out.len) {
        nostr_buf_clear(&conn->out);
        conn->out_pos = 0;
    }
    return 0;
}

/* Start a non-blocking connect to the next resolved address; on an
 * immediate result tell the client. Returns 0 while an attempt is alive. */
static int nostr__blk_try_next(nostr_conn *conn)
{
    while (conn->next_addr) {
        struct addrinfo *ai = conn->next_addr;
        int fd, one = 1;
        conn->next_addr = ai->ai_next;
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            snprintf(conn->net_detail, sizeof conn->net_detail, "socket: %s", strerror(errno));
            continue;
        }
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK) < 0) {
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            conn->fd = fd;
            conn->connecting = 0;
            nostr__blk_free_addrs(conn);
            nostr_client_connected(conn->client, nostr__blk_now());
            return 0;
        }
        if (errno == EINPROGRESS) {
            conn->fd = fd;
            conn->connecting = 1;
            return 0;
        }
        snprintf(conn->net_detail, sizeof conn->net_detail, "could not connect: %s", strerror(errno));
        close(fd);
    }
    nostr__blk_free_addrs(conn);
    return -1;
}

/* poll said the connecting socket is ready: did it connect? */
static void nostr__blk_finish_connect(nostr_conn *conn)
{
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0) soerr = errno;
    if (soerr == 0) {
        conn->connecting = 0;
        nostr__blk_free_addrs(conn);
        nostr_client_connected(conn->client, nostr__blk_now());
        return;
    }
    snprintf(conn->net_detail, sizeof conn->net_detail, "could not connect: %s", strerror(soerr));
    close(conn->fd);
    conn->fd = -1;
    conn->connecting = 0;
    if (nostr__blk_try_next(conn) != 0) nostr_client_disconnected(conn->client, nostr__blk_now());
}

/* ---- client callbacks ---- */

static int nostr__blk_send(void *user, const void *data, size_t n)
{
    nostr_conn *conn = (nostr_conn *)user;
    if (conn->fd < 0) return -1;
    if (nostr_buf_append(&conn->out, data, n) != NOSTR_OK) return -1;
    return nostr__blk_flush(conn);
}

static int nostr__blk_connect(void *user, const char *host, int port)
{
    nostr_conn *conn = (nostr_conn *)user;
    struct addrinfo hints;
    char service[16];
    int rc;
    nostr__blk_close_fd(conn);
    nostr__blk_free_addrs(conn);
    conn->net_detail[0] = 0;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(service, sizeof service, "%d", port);
    rc = getaddrinfo(host, service, &hints, &conn->addrs);
    if (rc != 0) {
        conn->addrs = NULL;
        snprintf(conn->net_detail, sizeof conn->net_detail, "could not resolve %.100s: %s", host, gai_strerror(rc));
        return -1;
    }
    conn->next_addr = conn->addrs;
    return nostr__blk_try_next(conn);
}

static void nostr__blk_on_close(void *user)
{
    nostr_conn *conn = (nostr_conn *)user;
    if (conn->closing) return; /* nostr_conn_close flushes and closes */
    nostr__blk_flush(conn);    /* a CLOSE frame, when there is room */
    nostr__blk_close_fd(conn);
    nostr__blk_free_addrs(conn);
}

static void nostr__blk_on_open(void *user)
{
    nostr_conn *conn = (nostr_conn *)user;
    conn->opened = 1;
    if (conn->wait == NOSTR__BLK_OPEN) conn->wait_done = 1;
}

static void nostr__blk_on_disconnect(void *user, int code, const char *message)
{
    nostr_conn *conn = (nostr_conn *)user;
    conn->dropped = 1;
    conn->drop_code = code;
    if (code == NOSTR_OK) return;
    if (code == NOSTR_ERR_NET && conn->net_detail[0])
        nostr__blk_copy(conn->last_error, sizeof conn->last_error, conn->net_detail);
    else
        nostr__blk_copy(conn->last_error, sizeof conn->last_error, message);
}

static nostr__blk_sub *nostr__blk_find_sub(nostr_conn *conn, const char *sub, size_t *index)
{
    size_t i;
    for (i = 0; i < conn->sub_count; i++)
        if (strcmp(conn->subs[i].sub, sub) == 0) {
            if (index) *index = i;
            return &conn->subs[i];
        }
    return NULL;
}

static void nostr__blk_remove_sub(nostr_conn *conn, const char *sub)
{
    size_t i;
    if (!nostr__blk_find_sub(conn, sub, &i)) return;
    memmove(conn->subs + i, conn->subs + i + 1, (conn->sub_count - i - 1) * sizeof *conn->subs);
    conn->sub_count--;
}

static void nostr__blk_on_event(void *user, const char *sub, const nostr_event *ev, const char *json, size_t len)
{
    nostr_conn *conn = (nostr_conn *)user;
    nostr__blk_sub *s = nostr__blk_find_sub(conn, sub, NULL);
    if (s && s->fn && s->fn(s->user, ev, json, len) != 0) conn->stop = 1;
}

static void nostr__blk_on_eose(void *user, const char *sub)
{
    nostr_conn *conn = (nostr_conn *)user;
    if (conn->wait == NOSTR__BLK_EOSE && strcmp(sub, conn->wait_sub) == 0) conn->wait_done = 1;
}

static void nostr__blk_on_ok(void *user, const unsigned char id[32], int accepted, const char *message)
{
    nostr_conn *conn = (nostr_conn *)user;
    if (conn->wait != NOSTR__BLK_OK || memcmp(id, conn->wait_id, 32) != 0) return;
    conn->wait_done = 1;
    conn->accepted = accepted;
    nostr__blk_copy(conn->ok_msg, conn->ok_cap, message);
}

static void nostr__blk_on_closed(void *user, const char *sub, const char *message)
{
    nostr_conn *conn = (nostr_conn *)user;
    nostr__blk_copy(conn->last_error, sizeof conn->last_error, message);
    if ((conn->wait == NOSTR__BLK_EOSE || conn->wait == NOSTR__BLK_COUNT) && strcmp(sub, conn->wait_sub) == 0) {
        conn->wait_done = 1;
        conn->wait_closed = 1;
    }
    nostr__blk_remove_sub(conn, sub);
}

static void nostr__blk_on_notice(void *user, const char *message)
{
    nostr_conn *conn = (nostr_conn *)user;
    nostr__blk_copy(conn->last_notice, sizeof conn->last_notice, message);
}

static void nostr__blk_on_count(void *user, const char *sub, unsigned long long count, int approximate)
{
    nostr_conn *conn = (nostr_conn *)user;
    if (conn->wait != NOSTR__BLK_COUNT || strcmp(sub, conn->wait_sub) != 0) return;
    conn->wait_done = 1;
    conn->count = count;
    conn->approximate = approximate;
}

static void nostr__blk_on_error(void *user, int code, const char *message)
{
    nostr_conn *conn = (nostr_conn *)user;
    (void)code;
    nostr__blk_copy(conn->last_error, sizeof conn->last_error, message);
}

static long long nostr__blk_unix_time(void *user)
{
    (void)user;
    return (long long)time(NULL);
}

/* ---- the loop ---- */

/* Wait for socket events until deadline (ms, monotonic) at most. */
static int nostr__blk_step(nostr_conn *conn, long long deadline)
{
    struct pollfd pfd;
    long long now = nostr__blk_now(), next = nostr_client_next_timeout(conn->client), wait = deadline - now;
    int rc;
    if (next >= 0 && next - now < wait) wait = next - now;
    if (wait < 0) wait = 0;
    if (wait > 1000) wait = 1000;
    if (conn->fd < 0) {
        rc = poll(NULL, 0, (int)wait);
        return rc < 0 && errno == EINTR ? NOSTR_ERR_CLOSED : NOSTR_OK;
    }
    pfd.fd = conn->fd;
    pfd.events = POLLIN;
    if (conn->connecting || conn->out_pos < conn->out.len) pfd.events |= POLLOUT;
    pfd.revents = 0;
    rc = poll(&pfd, 1, (int)wait);
    if (rc < 0) return errno == EINTR ? NOSTR_ERR_CLOSED : NOSTR_ERR_NET;
    if (rc == 0) return NOSTR_OK;
    if (conn->connecting) {
        nostr__blk_finish_connect(conn);
        return NOSTR_OK;
    }
    if ((pfd.revents & POLLOUT) && nostr__blk_flush(conn) != 0) {
        nostr__blk_close_fd(conn);
        nostr_client_disconnected(conn->client, nostr__blk_now());
        return NOSTR_OK;
    }
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[16384];
        ssize_t n = recv(conn->fd, buf, sizeof buf, 0);
        if (n > 0) {
            nostr_client_feed(conn->client, buf, (size_t)n, nostr__blk_now());
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            if (n < 0) snprintf(conn->net_detail, sizeof conn->net_detail, "read failed: %s", strerror(errno));
            nostr__blk_close_fd(conn);
            nostr_client_disconnected(conn->client, nostr__blk_now());
        }
    }
    return NOSTR_OK;
}

/* Run until the awaited thing happened (NOSTR_OK), the deadline passed
 * (NOSTR_ERR_TIMEOUT) or the connection is down for good
 * (NOSTR_ERR_CLOSED). interruptible: a signal ends the wait with OK. */
static int nostr__blk_run(nostr_conn *conn, int timeout_ms, int interruptible)
{
    long long deadline = nostr__blk_now() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        int state, rc;
        nostr_client_tick(conn->client, nostr__blk_now());
        if (conn->wait_done || conn->stop) return NOSTR_OK;
        state = nostr_client_state(conn->client);
        if (state == NOSTR_CLIENT_CLOSED ||
            (state == NOSTR_CLIENT_BACKOFF && nostr_client_next_attempt(conn->client) < 0))
            return NOSTR_ERR_CLOSED;
        if (conn->wait == NOSTR__BLK_OPEN && conn->dropped) return conn->drop_code ? conn->drop_code : NOSTR_ERR_CLOSED;
        if (nostr__blk_now() >= deadline) return NOSTR_ERR_TIMEOUT;
        rc = nostr__blk_step(conn, deadline);
        if (rc == NOSTR_ERR_CLOSED && interruptible) return NOSTR_OK; /* a signal */
        if (rc == NOSTR_ERR_NET) return rc;
    }
}

static void nostr__blk_begin(nostr_conn *conn, int wait)
{
    conn->wait = wait;
    conn->wait_done = 0;
    conn->wait_closed = 0;
    conn->stop = 0;
}

/* ---- API ---- */

static const char *nostr__blk_static_msg(int code)
{
    switch (code) {
    case NOSTR_ERR_NET: return "could not connect to the relay";
    case NOSTR_ERR_TLS: return "TLS failure";
    case NOSTR_ERR_HTTP: return "the relay refused the WebSocket upgrade";
    case NOSTR_ERR_WS: return "WebSocket protocol error";
    case NOSTR_ERR_TIMEOUT: return "timeout while connecting to the relay";
    default: return "connection closed";
    }
}

NOSTRDEF nostr_conn *nostr_conn_open(nostr_ctx *ctx, const char *url, int timeout_ms, const nostr_conn_options *opts,
                                     nostr_error *err)
{
    nostr_conn_options zero;
    nostr_client_config cfg;
    nostr_client_callbacks cb;
    nostr_conn *conn;
    int rc;
    if (!opts) {
        memset(&zero, 0, sizeof zero);
        opts = &zero;
    }
    nostr__blk_copy(opts->error_text, opts->error_text_cap, "");
    if (!ctx || !url) {
        nostr__fail(err, NOSTR_ERR_ARG, 0, "conn: need a context and a URL");
        return NULL;
    }
    conn = (nostr_conn *)nostr_alloc(nostr_ctx_allocator(ctx), sizeof *conn);
    if (!conn) {
        nostr__fail(err, NOSTR_ERR_NOMEM, 0, "conn: out of memory");
        return NULL;
    }
    memset(conn, 0, sizeof *conn);
    conn->ctx = ctx;
    conn->al = nostr_ctx_allocator(ctx);
    conn->fd = -1;
    nostr_buf_init(&conn->out, conn->al);
    cfg = opts->client;
    if (!cfg.answer_timeout_ms) cfg.answer_timeout_ms = 3600000;
    if (!cfg.connect_timeout_ms && timeout_ms > 0) cfg.connect_timeout_ms = timeout_ms;
    cfg.no_reconnect = 1; /* the first connection must work; reconnects are turned on once open */
    memset(&cb, 0, sizeof cb);
    cb.user = conn;
    cb.send = nostr__blk_send;
    cb.connect = nostr__blk_connect;
    cb.close = nostr__blk_on_close;
    cb.on_open = nostr__blk_on_open;
    cb.on_disconnect = nostr__blk_on_disconnect;
    cb.on_event = nostr__blk_on_event;
    cb.on_eose = nostr__blk_on_eose;
    cb.on_ok = nostr__blk_on_ok;
    cb.on_closed = nostr__blk_on_closed;
    cb.on_notice = nostr__blk_on_notice;
    cb.on_count = nostr__blk_on_count;
    cb.on_error = nostr__blk_on_error;
    cb.unix_time = nostr__blk_unix_time;
    conn->client = nostr_client_new(ctx, url, &cfg, &cb, err);
    if (!conn->client) {
        if (err && err->msg) nostr__blk_copy(opts->error_text, opts->error_text_cap, err->msg);
        nostr_conn_close(conn);
        return NULL;
    }
    nostr__blk_begin(conn, NOSTR__BLK_OPEN);
    nostr_client_start(conn->client, nostr__blk_now());
    rc = nostr__blk_run(conn, timeout_ms, 0);
    conn->wait = NOSTR__BLK_NONE;
    if (rc == NOSTR_OK && conn->opened) {
        nostr_client_set_reconnect(conn->client, !opts->no_reconnect);
        return conn;
    }
    if (rc == NOSTR_ERR_CLOSED && conn->drop_code) rc = conn->drop_code;
    if (rc == NOSTR_ERR_TIMEOUT && !conn->last_error[0])
        nostr__blk_copy(conn->last_error, sizeof conn->last_error, "timeout while connecting to the relay");
    nostr__fail(err, rc, 0, nostr__blk_static_msg(rc));
    nostr__blk_copy(opts->error_text, opts->error_text_cap,
                    conn->last_error[0] ? conn->last_error : nostr__blk_static_msg(rc));
    nostr_conn_close(conn);
    return NULL;
}

NOSTRDEF void nostr_conn_close(nostr_conn *conn)
{
    long long deadline;
    if (!conn) return;
    if (conn->client) {
        /* The CLOSE frame goes into the output buffer; give it a moment. */
        conn->closing = 1;
        nostr_client_close(conn->client, nostr__blk_now());
        deadline = nostr__blk_now() + 500;
        while (conn->fd >= 0 && !conn->connecting && conn->out_pos < conn->out.len && nostr__blk_now() < deadline) {
            struct pollfd pfd;
            pfd.fd = conn->fd;
            pfd.events = POLLOUT;
            pfd.revents = 0;
            if (poll(&pfd, 1, 100) < 0 && errno != EINTR) break;
            if (nostr__blk_flush(conn) != 0) break;
        }
        nostr_client_free(conn->client);
    }
    nostr__blk_close_fd(conn);
    nostr__blk_free_addrs(conn);
    nostr_buf_free(&conn->out);
    nostr_free(conn->al, conn->subs);
    nostr_free(conn->al, conn);
}

NOSTRDEF int nostr_conn_publish(nostr_conn *conn, const nostr_event *ev, int timeout_ms, int *accepted, char *msg,
                                size_t msgcap)
{
    int rc;
    if (!conn || !ev) return NOSTR_ERR_ARG;
    nostr__blk_copy(msg, msgcap, "");
    if (accepted) *accepted = 0;
    nostr__blk_begin(conn, NOSTR__BLK_OK);
    memcpy(conn->wait_id, ev->id, 32);
    conn->ok_msg = msg;
    conn->ok_cap = msgcap;
    rc = nostr_client_publish(conn->client, ev, nostr__blk_now());
    if (rc == NOSTR_OK) rc = nostr__blk_run(conn, timeout_ms, 0);
    if (rc == NOSTR_OK && accepted) *accepted = conn->accepted;
    conn->wait = NOSTR__BLK_NONE;
    conn->ok_msg = NULL;
    conn->ok_cap = 0;
    return rc;
}

/* A fresh subscription id: a prefix, a counter and random bits. */
static void nostr__blk_new_sub(nostr_conn *conn, const char *prefix, char out[65])
{
    unsigned char r[4] = {0, 0, 0, 0};
    char hex[9];
    nostr_random(conn->ctx, r, sizeof r);
    nostr_hex_encode(r, sizeof r, hex);
    snprintf(out, 65, "%s%u-%s", prefix, ++conn->sub_counter, hex);
}

static int nostr__blk_add_sub(nostr_conn *conn, const char *sub, nostr_conn_event_fn fn, void *user)
{
    if (conn->sub_count == conn->sub_cap) {
        size_t cap = conn->sub_cap ? conn->sub_cap * 2 : 4;
        nostr__blk_sub *grown = (nostr__blk_sub *)nostr_realloc(conn->al, conn->subs, cap * sizeof *conn->subs);
        if (!grown) return NOSTR_ERR_NOMEM;
        conn->subs = grown;
        conn->sub_cap = cap;
    }
    memset(&conn->subs[conn->sub_count], 0, sizeof *conn->subs);
    nostr__blk_copy(conn->subs[conn->sub_count].sub, 65, sub);
    conn->subs[conn->sub_count].fn = fn;
    conn->subs[conn->sub_count].user = user;
    conn->sub_count++;
    return NOSTR_OK;
}

NOSTRDEF int nostr_conn_query(nostr_conn *conn, const nostr_filter *filters, size_t n, int timeout_ms,
                              nostr_conn_event_fn cb, void *user)
{
    char sub[65];
    int rc;
    if (!conn || !filters || n == 0) return NOSTR_ERR_ARG;
    nostr__blk_new_sub(conn, "q", sub);
    rc = nostr__blk_add_sub(conn, sub, cb, user);
    if (rc) return rc;
    nostr__blk_begin(conn, NOSTR__BLK_EOSE);
    nostr__blk_copy(conn->wait_sub, sizeof conn->wait_sub, sub);
    rc = nostr_client_req(conn->client, sub, filters, n, nostr__blk_now());
    if (rc == NOSTR_OK) rc = nostr__blk_run(conn, timeout_ms, 0);
    if (rc == NOSTR_OK && conn->wait_closed) rc = NOSTR_ERR_CLOSED;
    if (!conn->wait_closed) nostr_client_close_sub(conn->client, sub);
    nostr__blk_remove_sub(conn, sub);
    conn->wait = NOSTR__BLK_NONE;
    conn->stop = 0;
    return rc;
}

NOSTRDEF int nostr_conn_count(nostr_conn *conn, const nostr_filter *filters, size_t n, int timeout_ms,
                              unsigned long long *count, int *approximate)
{
    char sub[65];
    int rc;
    if (!conn || !filters || n == 0) return NOSTR_ERR_ARG;
    nostr__blk_new_sub(conn, "c", sub);
    nostr__blk_begin(conn, NOSTR__BLK_COUNT);
    nostr__blk_copy(conn->wait_sub, sizeof conn->wait_sub, sub);
    rc = nostr_client_count(conn->client, sub, filters, n, nostr__blk_now());
    if (rc == NOSTR_OK) rc = nostr__blk_run(conn, timeout_ms, 0);
    if (rc == NOSTR_OK && conn->wait_closed) rc = NOSTR_ERR_CLOSED;
    if (rc == NOSTR_OK) {
        if (count) *count = conn->count;
        if (approximate) *approximate = conn->approximate;
    }
    conn->wait = NOSTR__BLK_NONE;
    return rc;
}

NOSTRDEF int nostr_conn_subscribe_live(nostr_conn *conn, const nostr_filter *filters, size_t n, nostr_conn_event_fn cb,
                                       void *user, char *sub_out)
{
    char sub[65];
    int rc;
    if (!conn || !filters || n == 0) return NOSTR_ERR_ARG;
    nostr__blk_new_sub(conn, "live", sub);
    rc = nostr__blk_add_sub(conn, sub, cb, user);
    if (rc) return rc;
    rc = nostr_client_req(conn->client, sub, filters, n, nostr__blk_now());
    if (rc) {
        nostr__blk_remove_sub(conn, sub);
        return rc;
    }
    if (sub_out) nostr__blk_copy(sub_out, 65, sub);
    return NOSTR_OK;
}

NOSTRDEF int nostr_conn_unsubscribe(nostr_conn *conn, const char *sub)
{
    if (!conn || !sub || !nostr__blk_find_sub(conn, sub, NULL)) return NOSTR_ERR_ARG;
    nostr__blk_remove_sub(conn, sub);
    nostr_client_close_sub(conn->client, sub);
    return NOSTR_OK;
}

NOSTRDEF int nostr_conn_poll(nostr_conn *conn, int timeout_ms)
{
    int rc;
    if (!conn) return NOSTR_ERR_ARG;
    nostr__blk_begin(conn, NOSTR__BLK_NONE);
    rc = nostr__blk_run(conn, timeout_ms, 1);
    conn->stop = 0;
    return rc == NOSTR_ERR_TIMEOUT ? NOSTR_OK : rc;
}

NOSTRDEF int nostr_conn_is_open(const nostr_conn *conn)
{
    return conn && nostr_client_state(conn->client) == NOSTR_CLIENT_OPEN;
}

NOSTRDEF const char *nostr_conn_last_error(const nostr_conn *conn)
{
    return conn ? conn->last_error : "";
}

NOSTRDEF const char *nostr_conn_last_notice(const nostr_conn *conn)
{
    return conn ? conn->last_notice : "";
}

NOSTRDEF nostr_client *nostr_conn_client(nostr_conn *conn)
{
    return conn ? conn->client : NULL;
}

/* ---- NIP-11 fetch ---- */

typedef struct nostr__fetch {
    int fd;
    nostr_buf wire; /* bytes for the socket */
    nostr_http_parser http;
    int http_rc; /* NOSTR_HTTP_MORE until the answer is complete, or an error */
} nostr__fetch;

static int nostr__fetch_send(void *user, const void *data, size_t n)
{
    return nostr_buf_append(&((nostr__fetch *)user)->wire, data, n) == NOSTR_OK ? 0 : -1;
}

static void nostr__fetch_plain(void *user, const char *data, size_t n)
{
    nostr__fetch *f = (nostr__fetch *)user;
    if (f->http_rc == NOSTR_HTTP_MORE) f->http_rc = nostr_http_feed(&f->http, data, n, NULL);
}

static int nostr__fetch_fail(nostr_error *err, int code, const char *msg)
{
    if (err) {
        err->code = code;
        err->msg = msg;
        err->offset = 0;
    }
    return code;
}

/* Wait for fd to be ready for ev until deadline: 1 ready, 0 timed out. */
static int nostr__fetch_wait(int fd, short ev, long long deadline)
{
    for (;;) {
        struct pollfd p;
        long long left = deadline - nostr__blk_now();
        int rc;
        if (left <= 0) return 0;
        p.fd = fd;
        p.events = ev;
        p.revents = 0;
        rc = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        if (rc > 0) return 1;
        if (rc < 0 && errno != EINTR) return 1; /* let the next call report it */
    }
}

static int nostr__fetch_connect(const nostr_client_url *u, long long deadline, nostr_error *err)
{
    struct addrinfo hints, *res = NULL, *ai;
    char port[16];
    int fd = -1;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof port, "%d", u->port);
    if (getaddrinfo(u->host, port, &hints, &res) != 0) return nostr__fetch_fail(err, NOSTR_ERR_NET, "cannot resolve the host name");
    for (ai = res; ai; ai = ai->ai_next) {
        int e = 0;
        socklen_t el = sizeof e;
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) continue;
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK) == 0 &&
            (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
             (errno == EINPROGRESS && nostr__fetch_wait(fd, POLLOUT, deadline) &&
              getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0)))
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) return nostr__fetch_fail(err, nostr__blk_now() >= deadline ? NOSTR_ERR_TIMEOUT : NOSTR_ERR_NET,
                                         "cannot connect to the relay");
    return fd;
}

static int nostr__fetch_flush(nostr__fetch *f, long long deadline)
{
    size_t off = 0;
    while (off < f->wire.len) {
        ssize_t w = send(f->fd, f->wire.data + off, f->wire.len - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (!nostr__fetch_wait(f->fd, POLLOUT, deadline)) return NOSTR_ERR_TIMEOUT;
        } else {
            return NOSTR_ERR_NET;
        }
    }
    f->wire.len = 0;
    return NOSTR_OK;
}

NOSTRDEF int nostr_fetch_info(nostr_ctx *ctx, const char *url, int timeout_ms, const char *ca_file, size_t max_bytes,
                              nostr_buf *out, nostr_error *err)
{
    static const nostr_http_kv hdr[] = {{"Accept", "application/nostr+json"}, {"Connection", "close"}};
    nostr_client_url u;
    nostr__fetch f;
    nostr_http_config hc;
    nostr_tls_config *tc = NULL;
    nostr_tls *tls = NULL;
    long long deadline = nostr__blk_now() + (timeout_ms > 0 ? timeout_ms : 10000);
    char buf[16384];
    int rc;
    if (!url || !out) return nostr__fetch_fail(err, NOSTR_ERR_ARG, "no URL");
    if ((rc = nostr_client_parse_url(url, &u, err)) != NOSTR_OK) return rc;
    memset(&f, 0, sizeof f);
    memset(&hc, 0, sizeof hc);
    hc.max_body = max_bytes ? max_bytes : 65536;
    nostr_buf_init(&f.wire, NULL);
    nostr_http_parser_init(&f.http, NOSTR_HTTP_RESPONSE, &hc);
    f.http_rc = NOSTR_HTTP_MORE;
    f.fd = nostr__fetch_connect(&u, deadline, err);
    if (f.fd < 0) {
        rc = f.fd;
        goto out;
    }
    rc = nostr_http_write_request(&f.wire, "GET", u.host_header, u.path, hdr, 2, NULL, 0);
    if (rc == NOSTR_OK && u.tls) {
        nostr_tls_config_opts o;
        nostr_tls_callbacks cb;
        nostr_buf req = f.wire; /* the request goes through TLS; the wire gets ciphertext */
        memset(&o, 0, sizeof o);
        o.ca_file = ca_file;
        cb.user = &f;
        cb.send = nostr__fetch_send;
        cb.on_plain = nostr__fetch_plain;
        nostr_buf_init(&f.wire, NULL);
        rc = nostr_tls_config_new(ctx, &o, &tc, err);
        if (rc == NOSTR_OK) rc = nostr_tls_new(tc, u.host, &cb, &tls, err);
        if (rc == NOSTR_OK) rc = nostr_tls_start(tls);
        if (rc == NOSTR_OK) rc = nostr_tls_write(tls, req.data, req.len);
        nostr_buf_free(&req);
    }
    while (rc == NOSTR_OK && f.http_rc == NOSTR_HTTP_MORE) {
        ssize_t n;
        if ((rc = nostr__fetch_flush(&f, deadline)) != NOSTR_OK) break;
        if (!nostr__fetch_wait(f.fd, POLLIN, deadline)) {
            rc = NOSTR_ERR_TIMEOUT;
            break;
        }
        n = recv(f.fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
        if (n <= 0) { /* the end: a body delimited by the close is complete now */
            f.http_rc = nostr_http_finish(&f.http);
            break;
        }
        if (tls) {
            int t = nostr_tls_feed(tls, buf, (size_t)n);
            if (t != NOSTR_OK && t != NOSTR_ERR_CLOSED) rc = t;
            if (t == NOSTR_ERR_CLOSED && f.http_rc == NOSTR_HTTP_MORE) f.http_rc = nostr_http_finish(&f.http);
        } else {
            nostr__fetch_plain(&f, buf, (size_t)n);
        }
    }
    if (rc == NOSTR_ERR_TLS && tls) {
        if (err) nostr_tls_get_error(tls, err);
    } else if (rc == NOSTR_ERR_TIMEOUT) {
        nostr__fetch_fail(err, rc, "no answer in time");
    } else if (rc == NOSTR_ERR_NET) {
        nostr__fetch_fail(err, rc, "the connection failed");
    } else if (rc == NOSTR_OK && f.http_rc != NOSTR_HTTP_DONE) {
        rc = nostr__fetch_fail(err, NOSTR_ERR_HTTP, "malformed or too large an answer");
    } else if (rc == NOSTR_OK && f.http.msg.status != 200) {
        rc = nostr__fetch_fail(err, NOSTR_ERR_HTTP, "the relay did not answer 200");
    } else if (rc == NOSTR_OK && !nostr_utf8_valid(f.http.msg.body.ptr, f.http.msg.body.len)) {
        rc = nostr__fetch_fail(err, NOSTR_ERR_HTTP, "the document is not UTF-8");
    } else if (rc == NOSTR_OK) {
        rc = nostr_buf_append(out, f.http.msg.body.ptr, f.http.msg.body.len);
    }
out:
    nostr_tls_free(tls);
    nostr_tls_config_free(tc);
    if (f.fd >= 0) close(f.fd);
    nostr_http_parser_free(&f.http);
    nostr_buf_free(&f.wire);
    return rc;
}

#endif /* NOSTR_NO_BLOCKING */
