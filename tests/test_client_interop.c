/* The client and the blocking layer against third-party code over
 * 127.0.0.1: tests/interop/relay.mjs (npm ws + nostr-tools) as the relay,
 * and nostr-tools' own Relay client (interop/client_peer.mjs) as a second
 * publisher. Publish (OK true, duplicate, invalid), query until EOSE,
 * COUNT, a live subscription receiving events published by another
 * connection and by nostr-tools, NIP-42 AUTH, and wss:// through node's
 * https server with a CA made by the openssl command (plus the unknown-CA
 * failure). Needs node, `npm ci --prefix tests/interop` and openssl: the
 * test fails, not skips, without them. Every child is killed at the end;
 * every wait is bounded. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>
#include <time.h>

static nostr_ctx *ctx;
static char tmpdir[256];

typedef struct relay_proc {
    pid_t pid;
    int in_fd; /* its stdin: closing it ends the relay (--watch-stdin) */
    int port;
} relay_proc;

/* Start node relay.mjs with extra arguments; read "PORT n" within 10 s. */
static int relay_start(relay_proc *r, const char *a1, const char *a2, const char *a3)
{
    int in[2], out[2];
    char line[64];
    size_t got = 0;
    long long deadline = (long long)time(NULL) + 10;
    memset(r, 0, sizeof *r);
    r->pid = -1;
    if (pipe(in) || pipe(out)) return -1;
    r->pid = fork();
    if (r->pid == 0) {
        const char *argv[10];
        int n = 0;
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        argv[n++] = "node";
        argv[n++] = "interop/relay.mjs";
        argv[n++] = "--watch-stdin";
        argv[n++] = "--max-seconds";
        argv[n++] = "60";
        if (a1) argv[n++] = a1;
        if (a2) argv[n++] = a2;
        if (a3) argv[n++] = a3;
        argv[n] = NULL;
        execvp("node", (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    r->in_fd = in[1];
    while (got < sizeof line - 1 && (long long)time(NULL) <= deadline) {
        struct pollfd p;
        ssize_t n;
        p.fd = out[0];
        p.events = POLLIN;
        if (poll(&p, 1, 1000) <= 0) continue;
        n = read(out[0], line + got, 1);
        if (n <= 0) break;
        if (line[got] == '\n') break;
        got++;
    }
    line[got] = 0;
    close(out[0]);
    if (sscanf(line, "PORT %d", &r->port) != 1) {
        fprintf(stderr, "relay.mjs did not start (is node installed and tests/interop/node_modules present?)\n");
        return -1;
    }
    return 0;
}

static void relay_stop(relay_proc *r)
{
    int status, i;
    if (r->pid <= 0) return;
    close(r->in_fd);
    kill(r->pid, SIGTERM);
    for (i = 0; i < 50 && waitpid(r->pid, &status, WNOHANG) == 0; i++) poll(NULL, 0, 100);
    if (i == 50) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, &status, 0);
    }
    r->pid = -1;
}

/* ---- events ---- */

static nostr_keys K1, K2;
static nostr_arena A;

static void sign_note(nostr_event *ev, const nostr_keys *k, long long created_at, const char *content)
{
    nostr_build_text_note(ev, &A, created_at, content);
    nostr_event_sign(ctx, ev, k);
}

typedef struct collected {
    int n;
    char ids[32][65];
    long long created[32];
} collected;

static int collect(void *user, const nostr_event *ev, const char *json, size_t len)
{
    collected *c = (collected *)user;
    nostr_event parsed;
    nostr_arena a;
    /* the raw JSON is the event itself */
    nostr_arena_init(&a, NULL, 0, NULL);
    CHECK(nostr_event_parse(&parsed, json, len, &a, NULL, NULL) == NOSTR_OK && memcmp(parsed.id, ev->id, 32) == 0);
    nostr_arena_free(&a);
    if (c->n < 32) {
        nostr_hex_encode(ev->id, 32, c->ids[c->n]);
        c->created[c->n] = ev->created_at;
    }
    c->n++;
    return 0;
}

static char url[128];

static void test_plain(void)
{
    relay_proc r;
    nostr_conn *conn, *other;
    nostr_error err;
    nostr_event ev[3], bad, live_ev;
    nostr_filter f;
    collected got;
    int accepted, i;
    char msg[256], id_hex[65], cmd[512], peer_id[80] = "";
    unsigned long long count = 0;
    nostr_conn_options opts;
    char detail[256];
    long long now = (long long)time(NULL);
    CHECK_EQ(relay_start(&r, NULL, NULL, NULL), 0);
    if (r.port <= 0) return;
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", r.port);
    memset(&err, 0, sizeof err);
    conn = nostr_conn_open(ctx, url, 5000, NULL, &err);
    CHECK(conn != NULL);
    if (!conn) {
        relay_stop(&r);
        return;
    }
    CHECK(nostr_conn_is_open(conn));
    /* publish: OK true, then the same again: duplicate */
    for (i = 0; i < 3; i++) sign_note(&ev[i], &K1, now - 100 + i, i == 0 ? "one" : i == 1 ? "two" : "three");
    for (i = 0; i < 3; i++) {
        CHECK_EQ(nostr_conn_publish(conn, &ev[i], 5000, &accepted, msg, sizeof msg), NOSTR_OK);
        CHECK_EQ(accepted, 1);
    }
    CHECK_EQ(nostr_conn_publish(conn, &ev[0], 5000, &accepted, msg, sizeof msg), NOSTR_OK);
    CHECK_EQ(accepted, 1);
    CHECK(strncmp(msg, "duplicate:", 10) == 0);
    /* an event with a broken signature: invalid */
    bad = ev[1];
    bad.sig[10] ^= 1;
    CHECK_EQ(nostr_conn_publish(conn, &bad, 5000, &accepted, msg, sizeof msg), NOSTR_OK);
    CHECK_EQ(accepted, 0);
    CHECK(strncmp(msg, "invalid:", 8) == 0);
    /* query until EOSE: newest first, limit honoured */
    memset(&f, 0, sizeof f);
    f.fields = NOSTR_FILTER_AUTHORS | NOSTR_FILTER_KINDS;
    f.authors = (unsigned char(*)[32])K1.pub;
    f.authors_count = 1;
    {
        unsigned kind1 = 1;
        f.kinds = &kind1;
        f.kinds_count = 1;
        memset(&got, 0, sizeof got);
        CHECK_EQ(nostr_conn_query(conn, &f, 1, 5000, collect, &got), NOSTR_OK);
        CHECK_EQ(got.n, 3);
        nostr_hex_encode(ev[2].id, 32, id_hex);
        CHECK_STR(got.ids[0], id_hex);
        CHECK(got.created[0] >= got.created[1] && got.created[1] >= got.created[2]);
        f.fields |= NOSTR_FILTER_LIMIT;
        f.limit = 2;
        memset(&got, 0, sizeof got);
        CHECK_EQ(nostr_conn_query(conn, &f, 1, 5000, collect, &got), NOSTR_OK);
        CHECK_EQ(got.n, 2);
        f.fields &= ~(unsigned)NOSTR_FILTER_LIMIT;
        /* COUNT */
        CHECK_EQ(nostr_conn_count(conn, &f, 1, 5000, &count, NULL), NOSTR_OK);
        CHECK_EQ(count, 3);
        f.kinds = NULL;
        f.fields &= ~(unsigned)NOSTR_FILTER_KINDS;
    }
    /* live: subscribed to K2's events; a second connection publishes one,
     * then nostr-tools' Relay publishes another */
    f.authors = (unsigned char(*)[32])K2.pub;
    memset(&got, 0, sizeof got);
    CHECK_EQ(nostr_conn_subscribe_live(conn, &f, 1, collect, &got, NULL), NOSTR_OK);
    CHECK_EQ(nostr_conn_poll(conn, 200), NOSTR_OK);
    CHECK_EQ(got.n, 0);
    other = nostr_conn_open(ctx, url, 5000, NULL, &err);
    CHECK(other != NULL);
    if (other) {
        sign_note(&live_ev, &K2, now, "live from a second connection");
        CHECK_EQ(nostr_conn_publish(other, &live_ev, 5000, &accepted, msg, sizeof msg), NOSTR_OK);
        CHECK_EQ(accepted, 1);
        nostr_conn_close(other);
    }
    for (i = 0; i < 50 && got.n < 1; i++) nostr_conn_poll(conn, 100);
    CHECK_EQ(got.n, 1);
    nostr_hex_encode(live_ev.id, 32, id_hex);
    CHECK_STR(got.ids[0], id_hex);
    {
        char sec_hex[65];
        FILE *p;
        nostr_hex_encode(K2.sec, 32, sec_hex);
        snprintf(cmd, sizeof cmd, "node interop/client_peer.mjs %s %s 'from nostr-tools'", url, sec_hex);
        p = popen(cmd, "r");
        CHECK(p != NULL);
        if (p) {
            if (!fgets(peer_id, sizeof peer_id, p)) peer_id[0] = 0;
            CHECK_EQ(pclose(p), 0);
        }
        peer_id[strcspn(peer_id, "\n")] = 0;
        CHECK_EQ(strlen(peer_id), 64);
    }
    for (i = 0; i < 50 && got.n < 2; i++) nostr_conn_poll(conn, 100);
    CHECK_EQ(got.n, 2);
    CHECK_STR(got.ids[1], peer_id);
    nostr_conn_close(conn);

    /* connection failures: a closed port, a bad URL */
    memset(&opts, 0, sizeof opts);
    opts.error_text = detail;
    opts.error_text_cap = sizeof detail;
    {
        relay_proc dead;
        char dead_url[64];
        /* a port that was just free: start and stop a relay to find one */
        CHECK_EQ(relay_start(&dead, NULL, NULL, NULL), 0);
        relay_stop(&dead);
        snprintf(dead_url, sizeof dead_url, "ws://127.0.0.1:%d", dead.port);
        memset(&err, 0, sizeof err);
        CHECK(nostr_conn_open(ctx, dead_url, 3000, &opts, &err) == NULL);
        CHECK_EQ(err.code, NOSTR_ERR_NET);
        CHECK(strstr(detail, "refused") != NULL);
    }
    CHECK(nostr_conn_open(ctx, "http://127.0.0.1:1", 3000, &opts, &err) == NULL);
    CHECK_EQ(err.code, NOSTR_ERR_ARG);
    CHECK(strstr(detail, "ws://") != NULL);
    relay_stop(&r);
}

static void test_auth(void)
{
    relay_proc r;
    nostr_conn *conn;
    nostr_conn_options opts;
    nostr_error err;
    nostr_event ev;
    nostr_filter f;
    collected got;
    int accepted;
    char msg[256];
    CHECK_EQ(relay_start(&r, "--auth", NULL, NULL), 0);
    if (r.port <= 0) return;
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", r.port);
    /* without keys: refused with auth-required */
    conn = nostr_conn_open(ctx, url, 5000, NULL, &err);
    CHECK(conn != NULL);
    if (conn) {
        sign_note(&ev, &K1, (long long)time(NULL), "needs auth");
        CHECK_EQ(nostr_conn_publish(conn, &ev, 5000, &accepted, msg, sizeof msg), NOSTR_OK);
        CHECK_EQ(accepted, 0);
        CHECK(strncmp(msg, "auth-required:", 14) == 0);
        CHECK(strlen(nostr_client_challenge(nostr_conn_client(conn))) == 32);
        nostr_conn_close(conn);
    }
    /* with keys: the client answers the challenge and re-sends */
    memset(&opts, 0, sizeof opts);
    opts.client.keys = &K1;
    conn = nostr_conn_open(ctx, url, 5000, &opts, &err);
    CHECK(conn != NULL);
    if (conn) {
        CHECK_EQ(nostr_conn_publish(conn, &ev, 5000, &accepted, msg, sizeof msg), NOSTR_OK);
        CHECK_EQ(accepted, 1);
        CHECK_EQ(nostr_client_authenticated(nostr_conn_client(conn)), 1);
        memset(&f, 0, sizeof f);
        memset(&got, 0, sizeof got);
        CHECK_EQ(nostr_conn_query(conn, &f, 1, 5000, collect, &got), NOSTR_OK);
        CHECK_EQ(got.n, 1);
        nostr_conn_close(conn);
    }
    /* a REQ before AUTH without keys: CLOSED with auth-required */
    conn = nostr_conn_open(ctx, url, 5000, NULL, &err);
    CHECK(conn != NULL);
    if (conn) {
        memset(&f, 0, sizeof f);
        CHECK_EQ(nostr_conn_query(conn, &f, 1, 5000, collect, &got), NOSTR_ERR_CLOSED);
        CHECK(strncmp(nostr_conn_last_error(conn), "auth-required:", 14) == 0);
        nostr_conn_close(conn);
    }
    relay_stop(&r);
}

static int sh(const char *cmd)
{
    char full[2048];
    snprintf(full, sizeof full, "cd %s && (%s) >>openssl.log 2>&1", tmpdir, cmd);
    return system(full);
}

static void test_wss(void)
{
    static const char *const pki[] = {
        "printf 'subjectAltName=DNS:localhost\\nbasicConstraints=CA:FALSE\\n' >ext.cnf",
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt "
        "-days 2 -subj '/CN=Distrise Client Test CA'",
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr "
        "-subj /CN=localhost",
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 2 -days 2 -extfile ext.cnf "
        "-out server.crt",
    };
    relay_proc r;
    char cert[512], key[512], ca[512], detail[256];
    nostr_conn *conn;
    nostr_conn_options opts;
    nostr_error err;
    nostr_event ev;
    nostr_filter f;
    collected got;
    int accepted;
    size_t i;
    char msg[256];
    for (i = 0; i < sizeof pki / sizeof *pki; i++) {
        int rc = sh(pki[i]);
        CHECK_EQ(rc, 0);
        if (rc) return;
    }
    snprintf(cert, sizeof cert, "%s/server.crt", tmpdir);
    snprintf(key, sizeof key, "%s/server.key", tmpdir);
    snprintf(ca, sizeof ca, "%s/ca.crt", tmpdir);
    CHECK_EQ(relay_start(&r, "--tls", cert, key), 0);
    if (r.port <= 0) return;
    /* the name the certificate carries: localhost (mbedTLS does not match IPs) */
    snprintf(url, sizeof url, "wss://127.0.0.1:%d/", r.port);
    memset(&opts, 0, sizeof opts);
    opts.client.tls_ca_file = ca;
    opts.client.tls_server_name = "localhost";
    conn = nostr_conn_open(ctx, url, 5000, &opts, &err);
    CHECK(conn != NULL);
    if (conn) {
        sign_note(&ev, &K1, (long long)time(NULL), "over TLS");
        CHECK_EQ(nostr_conn_publish(conn, &ev, 5000, &accepted, msg, sizeof msg), NOSTR_OK);
        CHECK_EQ(accepted, 1);
        memset(&f, 0, sizeof f);
        memset(&got, 0, sizeof got);
        CHECK_EQ(nostr_conn_query(conn, &f, 1, 5000, collect, &got), NOSTR_OK);
        CHECK_EQ(got.n, 1);
        nostr_conn_close(conn);
    }
    /* wss://localhost resolves (maybe to ::1 first) and matches the name */
    snprintf(url, sizeof url, "wss://localhost:%d", r.port);
    opts.client.tls_server_name = NULL;
    conn = nostr_conn_open(ctx, url, 5000, &opts, &err);
    CHECK(conn != NULL);
    nostr_conn_close(conn);
    /* the system CAs do not know our test CA */
    memset(&opts, 0, sizeof opts);
    opts.client.tls_server_name = "localhost";
    opts.error_text = detail;
    opts.error_text_cap = sizeof detail;
    snprintf(url, sizeof url, "wss://127.0.0.1:%d", r.port);
    memset(&err, 0, sizeof err);
    CHECK(nostr_conn_open(ctx, url, 5000, &opts, &err) == NULL);
    CHECK_EQ(err.code, NOSTR_ERR_TLS);
    CHECK(strstr(detail, "certificate") != NULL);
    /* the wrong name */
    opts.client.tls_ca_file = ca;
    opts.client.tls_server_name = "relay.example";
    memset(&err, 0, sizeof err);
    CHECK(nostr_conn_open(ctx, url, 5000, &opts, &err) == NULL);
    CHECK_EQ(err.code, NOSTR_ERR_TLS);
    relay_stop(&r);
}

int main(void)
{
    unsigned char s1[32], s2[32];
    char cmd[512];
    signal(SIGPIPE, SIG_IGN);
    ctx = nostr_ctx_new(NULL);
    memset(s1, 0x31, sizeof s1);
    memset(s2, 0x32, sizeof s2);
    nostr_keys_from_secret(ctx, s1, &K1);
    nostr_keys_from_secret(ctx, s2, &K2);
    nostr_arena_init(&A, NULL, 0, NULL);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/distrise-client-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "mkdtemp failed\n");
        return 1;
    }
    TEST_RUN(test_plain);
    TEST_RUN(test_auth);
    TEST_RUN(test_wss);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    nostr_arena_free(&A);
    nostr_ctx_free(ctx);
    return TEST_DONE();
}
