/* Interop with a real WebSocket implementation: the npm package `ws`
 * (tests/interop/node_modules) over loopback 127.0.0.1.
 *  (a) a small poll() server here (HTTP parser + server handshake + framer)
 *      echoes what node's `ws` client sends (tests/interop/ws_peer.mjs client);
 *  (b) node's WebSocketServer echoes, and the client side here connects
 *      (client handshake + response check + masking framer).
 * Missing node or node_modules is a failure, not a skip. Every loop is
 * bounded: 20 s per part at most. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <time.h>
#include "test.h"

#define INTEROP_DIR NOSTR_TEST_DATA "/../interop"
#define DEADLINE_MS 20000

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_nonblocking(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
}

/* ---- the node process: stdout (and stderr) read through a pipe ---- */

typedef struct node_proc {
    pid_t pid;
    int fd;        /* read end of its stdout, -1 at EOF */
    nostr_buf out; /* everything it printed */
    int status;    /* exit status once reaped, else -1 */
} node_proc;

static int node_start(node_proc *np, const char *mode, int port)
{
    int pipefd[2];
    char script[1024], port_s[16];
    snprintf(script, sizeof script, "%s/ws_peer.mjs", INTEROP_DIR);
    snprintf(port_s, sizeof port_s, "%d", port);
    nostr_buf_init(&np->out, NULL);
    np->status = -1;
    if (pipe(pipefd) != 0) return -1;
    np->pid = fork();
    if (np->pid < 0) return -1;
    if (np->pid == 0) {
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        close(pipefd[1]);
        execlp("node", "node", script, mode, port_s, (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    np->fd = pipefd[0];
    set_nonblocking(np->fd);
    return 0;
}

/* Collect what node printed; 1 at EOF. */
static int node_read(node_proc *np)
{
    char buf[4096];
    ssize_t n;
    if (np->fd < 0) return 1;
    while ((n = read(np->fd, buf, sizeof buf)) > 0) nostr_buf_append(&np->out, buf, (size_t)n);
    if (n == 0) {
        close(np->fd);
        np->fd = -1;
        return 1;
    }
    return 0;
}

/* Wait for node to exit (killing it after the deadline); its status. */
static int node_finish(node_proc *np, long long deadline)
{
    int st = 0;
    while (now_ms() < deadline) {
        struct pollfd p;
        p.fd = np->fd;
        p.events = POLLIN;
        if (np->fd >= 0) poll(&p, 1, 100);
        if (node_read(np)) break;
    }
    if (np->fd >= 0) {
        fprintf(stderr, "node did not finish in time: killing it\n");
        kill(np->pid, SIGKILL);
        close(np->fd);
        np->fd = -1;
    }
    while (waitpid(np->pid, &st, 0) < 0 && errno == EINTR) {
    }
    np->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    if (np->status != 0) fprintf(stderr, "node said:\n%s\n", np->out.len ? np->out.data : "(nothing)");
    return np->status;
}

/* ---- socket helpers ---- */

/* Send what is queued in out without blocking; -1 on a socket error. */
static int flush_out(int fd, nostr_buf *out)
{
    while (out->len > 0) {
        ssize_t n = send(fd, out->data, out->len, 0);
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        memmove(out->data, out->data + n, out->len - (size_t)n);
        out->len -= (size_t)n;
    }
    return 0;
}

/* ---- (a) C echo server, node `ws` client ---- */

typedef struct conn {
    int fd;
    int upgraded, done;
    nostr_http_parser hp;
    nostr_ws ws;
    nostr_buf out;
} conn;

#define MAX_CONNS 4

typedef struct server {
    conn conns[MAX_CONNS];
    int close_codes[MAX_CONNS * 2];
    char close_reasons[MAX_CONNS * 2][128];
    int ncloses;
    long messages;
} server;

static server S;

static void srv_message(void *user, int opcode, const char *p, size_t n)
{
    conn *c = (conn *)user;
    S.messages++;
    if (opcode == NOSTR_WS_OP_TEXT)
        CHECK_EQ(nostr_ws_send_text(&c->ws, p, n), NOSTR_OK);
    else
        CHECK_EQ(nostr_ws_send_binary(&c->ws, p, n), NOSTR_OK);
}

static void srv_close(void *user, int code, const char *reason, size_t n)
{
    (void)user;
    if (S.ncloses < MAX_CONNS * 2) {
        S.close_codes[S.ncloses] = code;
        snprintf(S.close_reasons[S.ncloses], sizeof S.close_reasons[0], "%.*s", (int)n, reason);
        S.ncloses++;
    }
}

static int srv_send(void *user, const void *p, size_t n)
{
    return nostr_buf_append(&((conn *)user)->out, p, n);
}

static void conn_upgrade(conn *c, const char *rest, size_t rest_len)
{
    nostr_error err;
    nostr_ws_callbacks cb;
    memset(&cb, 0, sizeof cb);
    memset(&err, 0, sizeof err);
    if (nostr_ws_server_handshake(&c->hp.msg, &c->out, &err) != NOSTR_OK) {
        fprintf(stderr, "handshake refused: %s\n", err.msg ? err.msg : "?");
        CHECK(0);
        c->done = 1;
        return;
    }
    cb.user = c;
    cb.send = srv_send;
    cb.on_message = srv_message;
    cb.on_close = srv_close;
    CHECK_EQ(nostr_ws_init(&c->ws, NOSTR_WS_SERVER, NULL, &cb), NOSTR_OK);
    c->upgraded = 1;
    if (rest_len) nostr_ws_feed(&c->ws, rest, rest_len);
}

static void conn_input(conn *c, const char *buf, size_t n)
{
    if (!c->upgraded) {
        size_t used = 0;
        int rc = nostr_http_feed(&c->hp, buf, n, &used);
        if (rc == NOSTR_HTTP_DONE) {
            conn_upgrade(c, buf + used, n - used);
        } else if (rc < 0) {
            fprintf(stderr, "bad HTTP request: %s\n", c->hp.err.msg ? c->hp.err.msg : "?");
            CHECK(0);
            c->done = 1;
        }
        return;
    }
    nostr_ws_feed(&c->ws, buf, n);
}

static void conn_close(conn *c)
{
    if (c->upgraded && nostr_ws_state(&c->ws) != NOSTR_WS_CLOSED) nostr_ws_abort(&c->ws);
    if (c->upgraded) nostr_ws_free(&c->ws);
    nostr_http_parser_free(&c->hp);
    nostr_buf_free(&c->out);
    close(c->fd);
    c->fd = -1;
}

static void conn_accept(int lfd)
{
    int fd = accept(lfd, NULL, NULL), i;
    if (fd < 0) return;
    for (i = 0; i < MAX_CONNS; i++)
        if (S.conns[i].fd < 0) break;
    if (i == MAX_CONNS) {
        close(fd);
        return;
    }
    memset(&S.conns[i], 0, sizeof S.conns[i]);
    S.conns[i].fd = fd;
    set_nonblocking(fd);
    nostr_http_parser_init(&S.conns[i].hp, NOSTR_HTTP_REQUEST, NULL);
    nostr_buf_init(&S.conns[i].out, NULL);
}

/* One poll round over the listener, the connections and node's output. */
static void server_round(int lfd, node_proc *np)
{
    struct pollfd pfd[MAX_CONNS + 2];
    int map[MAX_CONNS + 2], n = 0, i;
    static char buf[65536];
    pfd[n].fd = lfd;
    pfd[n].events = POLLIN;
    map[n++] = -1;
    if (np->fd >= 0) {
        pfd[n].fd = np->fd;
        pfd[n].events = POLLIN;
        map[n++] = -2;
    }
    for (i = 0; i < MAX_CONNS; i++) {
        if (S.conns[i].fd < 0) continue;
        pfd[n].fd = S.conns[i].fd;
        pfd[n].events = (short)(POLLIN | (S.conns[i].out.len ? POLLOUT : 0));
        map[n++] = i;
    }
    if (poll(pfd, (nfds_t)n, 100) <= 0) return;
    for (i = 0; i < n; i++) {
        conn *c;
        if (!pfd[i].revents) continue;
        if (map[i] == -1) {
            conn_accept(lfd);
            continue;
        }
        if (map[i] == -2) {
            node_read(np);
            continue;
        }
        c = &S.conns[map[i]];
        if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t got = recv(c->fd, buf, sizeof buf, 0);
            if (got > 0)
                conn_input(c, buf, (size_t)got);
            else if (got == 0 || (errno != EAGAIN && errno != EINTR))
                c->done = 2; /* peer gone */
        }
        if (flush_out(c->fd, &c->out) < 0) c->done = 2;
        if (c->upgraded && nostr_ws_state(&c->ws) == NOSTR_WS_CLOSED) c->done = 1;
        /* the server closes the TCP connection once its close is out */
        if (c->done == 2 || (c->done && c->out.len == 0)) conn_close(c);
    }
}

static int listen_loopback(int *port)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0) return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0; /* a free port, read back below */
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    set_nonblocking(fd);
    return fd;
}

static void test_c_server_node_client(void)
{
    node_proc np;
    int port = 0, lfd, i, open_conns = 1;
    long long deadline = now_ms() + DEADLINE_MS;
    memset(&S, 0, sizeof S);
    for (i = 0; i < MAX_CONNS; i++) S.conns[i].fd = -1;
    lfd = listen_loopback(&port);
    CHECK(lfd >= 0);
    if (lfd < 0) return;
    CHECK_EQ(node_start(&np, "client", port), 0);
    while (now_ms() < deadline && (np.fd >= 0 || open_conns)) {
        server_round(lfd, &np);
        for (open_conns = 0, i = 0; i < MAX_CONNS; i++) open_conns += S.conns[i].fd >= 0;
    }
    CHECK(now_ms() < deadline);
    for (i = 0; i < MAX_CONNS; i++)
        if (S.conns[i].fd >= 0) conn_close(&S.conns[i]);
    close(lfd);
    CHECK_EQ(node_finish(&np, deadline), 0);
    CHECK(np.out.len > 0 && strstr(np.out.data, "PASS client 26 messages") != NULL);
    /* 12 sizes x 2 + 2 fragmented messages + the bad one (not delivered) */
    CHECK_EQ(S.messages, 26);
    CHECK_EQ(S.ncloses, 2);
    CHECK_EQ(S.close_codes[0], 4001);
    CHECK_STR(S.close_reasons[0], "bye");
    CHECK_EQ(S.close_codes[1], 1007);
    nostr_buf_free(&np.out);
}

/* ---- (b) node `ws` echo server, C client ---- */

typedef struct client {
    int fd;
    int upgraded, failed;
    nostr_http_parser hp;
    nostr_ws ws;
    nostr_buf out;
    nostr_buf last;   /* the last message received */
    int last_opcode;
    long messages, pongs;
    char pong[128];
    int close_code;
    unsigned char key[16];
} client;

/* Frames are queued and written by the poll loop. */
static int cl_send(void *user, const void *p, size_t n)
{
    return nostr_buf_append(&((client *)user)->out, p, n);
}

static void cl_message(void *user, int opcode, const char *p, size_t n)
{
    client *c = (client *)user;
    nostr_buf_clear(&c->last);
    nostr_buf_append(&c->last, p, n);
    c->last_opcode = opcode;
    c->messages++;
}

static void cl_pong(void *user, const char *p, size_t n)
{
    client *c = (client *)user;
    c->pongs++;
    snprintf(c->pong, sizeof c->pong, "%.*s", (int)n, p);
}

static void cl_close(void *user, int code, const char *reason, size_t n)
{
    (void)reason;
    (void)n;
    ((client *)user)->close_code = code;
}

static void client_input(client *c, nostr_ctx *ctx, const char *buf, size_t n)
{
    if (!c->upgraded) {
        size_t used = 0;
        nostr_error err;
        int rc = nostr_http_feed(&c->hp, buf, n, &used);
        nostr_ws_callbacks cb;
        nostr_ws_config cfg;
        if (rc == NOSTR_HTTP_MORE) return;
        memset(&err, 0, sizeof err);
        if (rc < 0 || nostr_ws_client_check_response(&c->hp.msg, c->key, &err) != NOSTR_OK) {
            fprintf(stderr, "handshake failed: %s\n", err.msg ? err.msg : c->hp.err.msg);
            c->failed = 1;
            return;
        }
        memset(&cb, 0, sizeof cb);
        memset(&cfg, 0, sizeof cfg);
        cfg.ctx = ctx; /* masking keys from the context's RNG */
        cb.user = c;
        cb.send = cl_send;
        cb.on_message = cl_message;
        cb.on_pong = cl_pong;
        cb.on_close = cl_close;
        CHECK_EQ(nostr_ws_init(&c->ws, NOSTR_WS_CLIENT, &cfg, &cb), NOSTR_OK);
        c->upgraded = 1;
        buf += used;
        n -= used;
    }
    if (n) nostr_ws_feed(&c->ws, buf, n);
}

static nostr_ctx *CTX;
static client C;
static node_proc NP;
static long long DEADLINE;

/* Move bytes both ways until cond() holds; 0 on timeout or failure. */
static int client_until(int (*cond)(void))
{
    static char buf[65536];
    while (!cond()) {
        struct pollfd p[2];
        int n = 1;
        if (now_ms() > DEADLINE || C.failed || C.fd < 0) return 0;
        p[0].fd = C.fd;
        p[0].events = (short)(POLLIN | (C.out.len ? POLLOUT : 0));
        if (NP.fd >= 0) {
            p[1].fd = NP.fd;
            p[1].events = POLLIN;
            n = 2;
        }
        if (poll(p, (nfds_t)n, 100) <= 0) continue;
        if (n == 2 && p[1].revents) node_read(&NP);
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t got = recv(C.fd, buf, sizeof buf, 0);
            if (got > 0) {
                client_input(&C, CTX, buf, (size_t)got);
            } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                if (C.upgraded) nostr_ws_abort(&C.ws);
                close(C.fd);
                C.fd = -1;
                return cond();
            }
        }
        if (C.fd >= 0 && flush_out(C.fd, &C.out) < 0) C.failed = 1;
    }
    /* whatever the framer queued (pongs, close) goes out too */
    while (C.fd >= 0 && C.out.len && now_ms() < DEADLINE) {
        struct pollfd p;
        p.fd = C.fd;
        p.events = POLLOUT;
        poll(&p, 1, 100);
        if (flush_out(C.fd, &C.out) < 0) break;
    }
    return 1;
}

static long want_messages;
static int got_messages(void)
{
    return C.messages >= want_messages;
}
static int got_upgraded(void)
{
    return C.upgraded;
}
static int got_pong_and_message(void)
{
    return C.pongs >= 1 && C.messages >= want_messages;
}
static int got_closed(void)
{
    return C.upgraded && nostr_ws_state(&C.ws) == NOSTR_WS_CLOSED;
}

/* The same text as ws_peer.mjs: n UTF-8 bytes mixing 1-, 2- and 3-byte
 * characters. */
static void text_of_bytes(char *s, size_t n)
{
    static const char *parts[4] = {"a", "\xc3\xa9", "\xe2\x82\xac", "z"};
    size_t at = 0, i = 0;
    while (at < n) {
        const char *p = parts[i++ % 4];
        size_t len = strlen(p);
        if (at + len > n) {
            memset(s + at, 'x', n - at);
            break;
        }
        memcpy(s + at, p, len);
        at += len;
    }
}

static int connect_loopback(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    set_nonblocking(fd);
    return fd;
}

/* Read node's output until it printed "PORT n". */
static int node_port(long long deadline)
{
    while (now_ms() < deadline) {
        const char *p;
        struct pollfd pf;
        if (NP.out.len && (p = strstr(NP.out.data, "PORT ")) != NULL && strchr(p, '\n')) return atoi(p + 5);
        if (NP.fd < 0) return -1;
        pf.fd = NP.fd;
        pf.events = POLLIN;
        poll(&pf, 1, 100);
        node_read(&NP);
    }
    return -1;
}

static void test_node_server_c_client(void)
{
    size_t sizes[] = {0, 1, 2, 125, 126, 127, 1000, 65535, 65536, 65537, 131072, 200000}, i;
    char *text = (char *)malloc(200000);
    unsigned char *bin = (unsigned char *)malloc(200000);
    static const char whole[] = "frag\xc3\xa9\xe2\x82\xac" "end";
    int port;
    DEADLINE = now_ms() + DEADLINE_MS;
    memset(&C, 0, sizeof C);
    C.fd = -1;
    CTX = nostr_ctx_new(NULL);
    CHECK(CTX != NULL);
    nostr_buf_init(&C.out, NULL);
    nostr_buf_init(&C.last, NULL);
    nostr_http_parser_init(&C.hp, NOSTR_HTTP_RESPONSE, NULL);
    CHECK_EQ(node_start(&NP, "server", 0), 0);
    port = node_port(DEADLINE);
    CHECK(port > 0);
    if (port > 0) C.fd = connect_loopback(port);
    CHECK(C.fd >= 0);
    if (C.fd >= 0) {
        CHECK_EQ(nostr_random(CTX, C.key, sizeof C.key), NOSTR_OK);
        CHECK_EQ(nostr_ws_client_request(&C.out, "127.0.0.1", "/", C.key, "User-Agent: distrise-test\r\n"), NOSTR_OK);
        CHECK(client_until(got_upgraded));
    }
    if (C.upgraded) {
        for (i = 0; i < 200000; i++) bin[i] = (unsigned char)(i * 31 + 7);
        for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i];
            text_of_bytes(text, n);
            CHECK_EQ(nostr_ws_send_text(&C.ws, text, n), NOSTR_OK);
            want_messages = C.messages + 1;
            CHECK(client_until(got_messages));
            CHECK(C.last_opcode == NOSTR_WS_OP_TEXT && C.last.len == n && memcmp(C.last.data, text, n) == 0);
            CHECK_EQ(nostr_ws_send_binary(&C.ws, bin, n), NOSTR_OK);
            want_messages = C.messages + 1;
            CHECK(client_until(got_messages));
            CHECK(C.last_opcode == NOSTR_WS_OP_BINARY && C.last.len == n && memcmp(C.last.data, bin, n) == 0);
        }
        /* fragments with a UTF-8 character cut between them, a ping inside */
        CHECK_EQ(nostr_ws_send_frame(&C.ws, NOSTR_WS_OP_TEXT, 0, whole, 5), NOSTR_OK);
        CHECK_EQ(nostr_ws_send_ping(&C.ws, "cping", 5), NOSTR_OK);
        CHECK_EQ(nostr_ws_send_frame(&C.ws, NOSTR_WS_OP_CONT, 0, whole + 5, 3), NOSTR_OK);
        CHECK_EQ(nostr_ws_send_frame(&C.ws, NOSTR_WS_OP_CONT, 1, whole + 8, sizeof whole - 9), NOSTR_OK);
        want_messages = C.messages + 1;
        CHECK(client_until(got_pong_and_message));
        CHECK_STR(C.pong, "cping");
        CHECK(C.last.len == sizeof whole - 1 && memcmp(C.last.data, whole, sizeof whole - 1) == 0);
        /* the server sends fragments with a ping between them */
        CHECK_EQ(nostr_ws_send_text(&C.ws, "frag-please", 11), NOSTR_OK);
        want_messages = C.messages + 1;
        CHECK(client_until(got_messages));
        CHECK(C.last.len > 0 && strcmp(C.last.data, "h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac") == 0);
        /* close; node echoes the code */
        CHECK_EQ(nostr_ws_close(&C.ws, 1000, "done", 4), NOSTR_OK);
        CHECK(client_until(got_closed));
        CHECK_EQ(C.close_code, 1000);
    }
    if (C.fd >= 0) close(C.fd);
    CHECK_EQ(node_finish(&NP, DEADLINE), 0);
    CHECK(NP.out.len > 0 && strstr(NP.out.data, "PING cping\n") != NULL);
    CHECK(NP.out.len > 0 && strstr(NP.out.data, "CLOSE 1000 done messages=26 pongs=1\n") != NULL);
    CHECK(NP.out.len > 0 && strstr(NP.out.data, "PASS server") != NULL);
    if (C.upgraded) nostr_ws_free(&C.ws);
    nostr_http_parser_free(&C.hp);
    nostr_buf_free(&C.out);
    nostr_buf_free(&C.last);
    nostr_buf_free(&NP.out);
    nostr_ctx_free(CTX);
    free(text);
    free(bin);
}

static int have_node(void)
{
    char path[1024];
    if (system("node --version >/dev/null 2>&1") != 0) {
        fprintf(stderr, "FAIL: `node` is not on PATH: this test needs Node.js to run the `ws` peer\n");
        return 0;
    }
    snprintf(path, sizeof path, "%s/node_modules/ws/package.json", INTEROP_DIR);
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "FAIL: %s is missing: run `npm ci` in tests/interop\n", path);
        return 0;
    }
    return 1;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!have_node()) {
        CHECK(0);
        return TEST_DONE();
    }
    TEST_RUN(test_c_server_node_client);
    TEST_RUN(test_node_server_c_client);
    return TEST_DONE();
}
