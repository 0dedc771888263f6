/* TLS over memory buffers: our client against our server in memory (any
 * split of the bytes, sizes 1 byte .. 1 MiB, close_notify), certificate
 * failures with clear messages, and third-party peers over loopback:
 * `openssl s_server` / `openssl s_client` and node's tls module. The CA
 * and certificates are made at run time with the openssl command. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include "test.h"

static nostr_ctx *ctx;
static char dir[64];     /* temp dir with the generated PKI */
static int have_expired; /* openssl made an expired certificate */

static const char *path_of(const char *name)
{
    static char bufs[8][256];
    static int next;
    char *p = bufs[next++ & 7];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

/* ---- PKI made with the openssl command ---- */

static int run(const char *cmd)
{
    char full[4096];
    snprintf(full, sizeof full, "cd %s && (%s) >>openssl.log 2>&1", dir, cmd);
    return system(full);
}

static int make_pki(void)
{
    static const char *const cmds[] = {
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' >ext.cnf",
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt "
        "-days 30 -subj '/CN=Distrise Test CA'",
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr "
        "-subj /CN=localhost",
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 2 -days 30 -extfile ext.cnf "
        "-out server.crt",
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout other_ca.key "
        "-out other_ca.crt -days 30 -subj '/CN=Other CA'",
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout other.key -out other.csr "
        "-subj /CN=localhost",
        "openssl x509 -req -in other.csr -CA other_ca.crt -CAkey other_ca.key -set_serial 3 -days 30 "
        "-extfile ext.cnf -out other.crt",
    };
    size_t i;
    for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (run(cmds[i]) != 0) {
            fprintf(stderr, "openssl failed: %s (log in %s/openssl.log)\n", cmds[i], dir);
            return -1;
        }
    }
    /* Already expired: valid for -1 days from now. */
    have_expired = run("openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 4 -days -1 "
                       "-extfile ext.cnf -out expired.crt") == 0;
    if (!have_expired) fprintf(stderr, "note: openssl refused -days -1; expired-certificate case skipped\n");
    return 0;
}

/* ---- configs ---- */

static nostr_tls_config *client_cfg(const char *ca_file, int skip_verify)
{
    nostr_tls_config_opts o;
    nostr_tls_config *cfg = NULL;
    nostr_error err;
    memset(&o, 0, sizeof o);
    o.role = NOSTR_TLS_CLIENT;
    o.ca_file = ca_file;
    o.insecure_skip_verify = skip_verify;
    CHECK_EQ(nostr_tls_config_new(ctx, &o, &cfg, &err), NOSTR_OK);
    return cfg;
}

static nostr_tls_config *server_cfg(const char *cert, const char *key)
{
    nostr_tls_config_opts o;
    nostr_tls_config *cfg = NULL;
    nostr_error err;
    memset(&o, 0, sizeof o);
    o.role = NOSTR_TLS_SERVER;
    o.cert_file = cert;
    o.key_file = key;
    CHECK_EQ(nostr_tls_config_new(ctx, &o, &cfg, &err), NOSTR_OK);
    return cfg;
}

/* ---- two peers wired in memory ---- */

typedef struct peer {
    nostr_tls *tls;
    nostr_buf out; /* ciphertext sent, not yet delivered to the other side */
    nostr_buf got; /* plaintext received */
    int echo;      /* write back what arrives (from inside on_plain) */
    int fail_send;
    int rc; /* first non-OK result of feeding this peer */
} peer;

static int peer_send(void *user, const void *p, size_t n)
{
    peer *pe = (peer *)user;
    if (pe->fail_send) return -1;
    return nostr_buf_append(&pe->out, p, n) == NOSTR_OK ? 0 : -1;
}

static void peer_plain(void *user, const char *data, size_t n)
{
    peer *pe = (peer *)user;
    CHECK(n > 0);
    nostr_buf_append(&pe->got, data, n);
    if (pe->echo) CHECK_EQ(nostr_tls_write(pe->tls, data, n), NOSTR_OK);
}

static void peer_init(peer *pe, nostr_tls_config *cfg, const char *server_name)
{
    nostr_tls_callbacks cb;
    nostr_error err;
    memset(pe, 0, sizeof *pe);
    nostr_buf_init(&pe->out, NULL);
    nostr_buf_init(&pe->got, NULL);
    cb.user = pe;
    cb.send = peer_send;
    cb.on_plain = peer_plain;
    CHECK_EQ(nostr_tls_new(cfg, server_name, &cb, &pe->tls, &err), NOSTR_OK);
}

static void peer_free(peer *pe)
{
    nostr_tls_free(pe->tls);
    nostr_buf_free(&pe->out);
    nostr_buf_free(&pe->got);
}

/* Move what `from` sent into `to`, `chunk` bytes per feed. */
static size_t deliver(peer *from, peer *to, size_t chunk)
{
    nostr_buf pending = from->out;
    size_t off, n, moved = pending.len;
    int rc;
    nostr_buf_init(&from->out, NULL);
    for (off = 0; off < pending.len; off += n) {
        n = pending.len - off < chunk ? pending.len - off : chunk;
        rc = nostr_tls_feed(to->tls, pending.data + off, n);
        if (rc != NOSTR_OK) {
            if (to->rc == NOSTR_OK) to->rc = rc;
            break;
        }
    }
    nostr_buf_free(&pending);
    return moved;
}

static void pump(peer *c, peer *s, size_t chunk)
{
    int round;
    for (round = 0; round < 10000; round++)
        if (deliver(c, s, chunk) + deliver(s, c, chunk) == 0) break;
}

/* A connected pair, handshake fed one byte at a time when chunk is 1. */
static void connect_pair(peer *c, peer *s, nostr_tls_config *ccfg, nostr_tls_config *scfg, const char *name,
                         size_t chunk)
{
    peer_init(c, ccfg, name);
    peer_init(s, scfg, NULL);
    CHECK_EQ(nostr_tls_start(s->tls), NOSTR_OK);
    CHECK_EQ(s->out.len, 0); /* a server waits for the ClientHello */
    CHECK_EQ(nostr_tls_start(c->tls), NOSTR_OK);
    CHECK(c->out.len > 0);
    pump(c, s, chunk);
}

static void fill_pattern(unsigned char *p, size_t n, unsigned seed)
{
    size_t i;
    unsigned x = seed * 2654435761u + 1;
    for (i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (unsigned char)(x >> 16);
    }
}

static nostr_tls_config *g_client, *g_server;

static void test_handshake_byte_by_byte(void)
{
    peer c, s;
    connect_pair(&c, &s, g_client, g_server, "localhost", 1);
    CHECK_EQ(c.rc, NOSTR_OK);
    CHECK_EQ(s.rc, NOSTR_OK);
    CHECK(nostr_tls_handshake_done(c.tls));
    CHECK(nostr_tls_handshake_done(s.tls));
    CHECK_EQ(nostr_tls_state(c.tls), NOSTR_TLS_OPEN);
    CHECK_STR(nostr_tls_version(c.tls), "TLSv1.2");
    CHECK(strlen(nostr_tls_ciphersuite(c.tls)) > 0);
    CHECK_STR(nostr_tls_ciphersuite(c.tls), nostr_tls_ciphersuite(s.tls));
    CHECK_STR(nostr_tls_last_error(c.tls), "");
    /* data one byte at a time too */
    CHECK_EQ(nostr_tls_write(c.tls, "hello", 5), NOSTR_OK);
    pump(&c, &s, 1);
    CHECK_EQ(s.got.len, 5);
    CHECK_MEM(s.got.data, "hello", 5);
    peer_free(&c);
    peer_free(&s);
}

static void test_sizes(void)
{
    static const size_t sizes[] = {1, 2, 100, 1000, 16383, 16384, 16385, 65543, 300001, 1 << 20};
    static const size_t chunks[] = {7, 1000, 4096, 17000, 1 << 22};
    unsigned char *data = (unsigned char *)malloc(1 << 20);
    peer c, s;
    size_t i;
    connect_pair(&c, &s, g_client, g_server, "localhost", 4096);
    CHECK(nostr_tls_handshake_done(c.tls));
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i], chunk = chunks[i % (sizeof chunks / sizeof chunks[0])];
        fill_pattern(data, n, (unsigned)i);
        CHECK_EQ(nostr_tls_write(c.tls, data, n), NOSTR_OK);
        CHECK(c.out.len > n); /* records add overhead */
        pump(&c, &s, chunk);
        CHECK_EQ(s.got.len, n);
        CHECK(s.got.len == n && memcmp(s.got.data, data, n) == 0);
        nostr_buf_clear(&s.got);
        fill_pattern(data, n, (unsigned)i + 100);
        CHECK_EQ(nostr_tls_write(s.tls, data, n), NOSTR_OK);
        pump(&c, &s, chunk);
        CHECK_EQ(c.got.len, n);
        CHECK(c.got.len == n && memcmp(c.got.data, data, n) == 0);
        nostr_buf_clear(&c.got);
    }
    CHECK_EQ(c.rc, NOSTR_OK);
    CHECK_EQ(s.rc, NOSTR_OK);
    peer_free(&c);
    peer_free(&s);
    free(data);
}

/* Written before the handshake: queued, then sent; the echo goes through
 * nostr_tls_write called from inside on_plain. */
static void test_early_write_and_echo(void)
{
    peer c, s;
    unsigned char big[40000];
    fill_pattern(big, sizeof big, 9);
    peer_init(&c, g_client, "localhost");
    peer_init(&s, g_server, NULL);
    s.echo = 1;
    CHECK_EQ(nostr_tls_write(c.tls, "early ", 6), NOSTR_OK);
    CHECK_EQ(nostr_tls_write(c.tls, big, sizeof big), NOSTR_OK);
    CHECK_EQ(c.out.len, 0); /* nothing sent before start/feed */
    CHECK_EQ(nostr_tls_start(c.tls), NOSTR_OK);
    pump(&c, &s, 333);
    CHECK(nostr_tls_handshake_done(c.tls));
    CHECK_EQ(s.got.len, 6 + sizeof big);
    CHECK_EQ(c.got.len, 6 + sizeof big);
    CHECK(c.got.len == 6 + sizeof big && memcmp(c.got.data, "early ", 6) == 0 &&
          memcmp(c.got.data + 6, big, sizeof big) == 0);
    peer_free(&c);
    peer_free(&s);
}

static void test_close_notify(void)
{
    peer c, s;
    connect_pair(&c, &s, g_client, g_server, "localhost", 100);
    CHECK_EQ(nostr_tls_write(c.tls, "last words", 10), NOSTR_OK);
    CHECK_EQ(nostr_tls_close(c.tls), NOSTR_OK);
    CHECK_EQ(nostr_tls_state(c.tls), NOSTR_TLS_CLOSED);
    CHECK_EQ(nostr_tls_close(c.tls), NOSTR_OK); /* once */
    CHECK_EQ(nostr_tls_write(c.tls, "x", 1), NOSTR_ERR_CLOSED);
    pump(&c, &s, 5);
    /* the data before close_notify arrived; the server saw the close and
     * answered with its own */
    CHECK_EQ(s.got.len, 10);
    CHECK_EQ(s.rc, NOSTR_ERR_CLOSED);
    CHECK(nostr_tls_peer_closed(s.tls));
    CHECK_EQ(nostr_tls_state(s.tls), NOSTR_TLS_CLOSED);
    CHECK_EQ(nostr_tls_write(s.tls, "x", 1), NOSTR_ERR_CLOSED);
    CHECK_EQ(c.rc, NOSTR_ERR_CLOSED);
    CHECK(nostr_tls_peer_closed(c.tls));
    CHECK_EQ(nostr_tls_feed(s.tls, "zz", 2), NOSTR_ERR_CLOSED);
    CHECK_STR(nostr_tls_last_error(s.tls), ""); /* a clean close is no error */
    peer_free(&c);
    peer_free(&s);
}

/* Run a handshake expected to fail on the client; returns the client's
 * error message and leaves the server's detail in server_detail. */
static void expect_client_failure(nostr_tls_config *ccfg, nostr_tls_config *scfg, const char *name,
                                  const char *want_msg, const char *want_detail, const char *want_alert)
{
    peer c, s;
    nostr_error err;
    connect_pair(&c, &s, ccfg, scfg, name, 512);
    CHECK_EQ(c.rc, NOSTR_ERR_TLS);
    CHECK_EQ(nostr_tls_state(c.tls), NOSTR_TLS_FAILED);
    CHECK(!nostr_tls_handshake_done(c.tls));
    nostr_tls_get_error(c.tls, &err);
    CHECK_EQ(err.code, NOSTR_ERR_TLS);
    CHECK_STR(err.msg, want_msg);
    if (!strstr(nostr_tls_last_error(c.tls), want_detail))
        fprintf(stderr, "client detail: %s\n", nostr_tls_last_error(c.tls));
    CHECK(strstr(nostr_tls_last_error(c.tls), want_detail) != NULL);
    /* sticky */
    CHECK_EQ(nostr_tls_feed(c.tls, "x", 1), NOSTR_ERR_TLS);
    CHECK_EQ(nostr_tls_write(c.tls, "x", 1), NOSTR_ERR_TLS);
    /* the client told the server why */
    CHECK_EQ(s.rc, NOSTR_ERR_TLS);
    nostr_tls_get_error(s.tls, &err);
    CHECK_STR(err.msg, NOSTR_TLS_MSG_ALERT);
    if (!strstr(nostr_tls_last_error(s.tls), want_alert))
        fprintf(stderr, "server detail: %s\n", nostr_tls_last_error(s.tls));
    CHECK(strstr(nostr_tls_last_error(s.tls), want_alert) != NULL);
    peer_free(&c);
    peer_free(&s);
}

static void test_verify_failures(void)
{
    nostr_tls_config *other = server_cfg(path_of("other.crt"), path_of("other.key"));
    nostr_tls_config *insecure = client_cfg(NULL, 1);
    peer c, s;
    expect_client_failure(g_client, g_server, "example.com", NOSTR_TLS_MSG_HOSTNAME, "hostname mismatch",
                          "bad_certificate");
    CHECK(strstr(NOSTR_TLS_MSG_HOSTNAME, "hostname") != NULL);
    expect_client_failure(g_client, other, "localhost", NOSTR_TLS_MSG_UNKNOWN_CA, "unknown CA", "unknown_ca (48)");
    if (have_expired) {
        nostr_tls_config *expired = server_cfg(path_of("expired.crt"), path_of("server.key"));
        expect_client_failure(g_client, expired, "localhost", NOSTR_TLS_MSG_EXPIRED, "expired", "certificate_expired");
        nostr_tls_config_free(expired);
    }
    /* verification off, explicitly: any name, any CA */
    connect_pair(&c, &s, insecure, other, "example.com", 512);
    CHECK_EQ(c.rc, NOSTR_OK);
    CHECK(nostr_tls_handshake_done(c.tls));
    peer_free(&c);
    peer_free(&s);
    connect_pair(&c, &s, insecure, g_server, NULL, 512);
    CHECK(nostr_tls_handshake_done(c.tls));
    peer_free(&c);
    peer_free(&s);
    nostr_tls_config_free(insecure);
    nostr_tls_config_free(other);
}

static void test_config_errors(void)
{
    nostr_tls_config_opts o;
    nostr_tls_config *cfg = NULL;
    nostr_tls *tls = NULL;
    nostr_tls_callbacks cb;
    nostr_error err;
    char *cert_pem, *key_pem, *ca_pem;
    size_t len;
    peer c, s;

    memset(&o, 0, sizeof o);
    o.ca_file = path_of("missing.crt");
    CHECK_EQ(nostr_tls_config_new(ctx, &o, &cfg, &err), NOSTR_ERR_TLS);
    CHECK_STR(err.msg, "cannot read the CA file");
    CHECK(cfg == NULL);
    o.ca_file = path_of("ext.cnf"); /* no certificate in it */
    CHECK_EQ(nostr_tls_config_new(ctx, &o, &cfg, &err), NOSTR_ERR_TLS);
    memset(&o, 0, sizeof o);
    o.role = 7;
    CHECK_EQ(nostr_tls_config_new(ctx, &o, &cfg, &err), NOSTR_ERR_ARG);
    o.role = NOSTR_TLS_SERVER;
    CHECK_EQ(nostr_tls_config_new(ctx, &o, &cfg, &err), NOSTR_ERR_ARG);
    o.cert_file = path_of("server.crt");
    o.key_file = path_of("other.key");
    CHECK_EQ(nostr_tls_config_new(ctx, &o, &cfg, &err), NOSTR_ERR_TLS);
    CHECK_STR(err.msg, "the private key does not match the certificate");
    o.key_file = path_of("missing.key");
    CHECK_EQ(nostr_tls_config_new(ctx, &o, &cfg, &err), NOSTR_ERR_TLS);
    CHECK_STR(err.msg, "cannot read the key file");
    o.key_file = path_of("ca.crt");
    CHECK_EQ(nostr_tls_config_new(ctx, &o, &cfg, &err), NOSTR_ERR_TLS);
    CHECK_STR(err.msg, "cannot parse the private key");
    CHECK_EQ(nostr_tls_config_new(NULL, &o, &cfg, &err), NOSTR_ERR_ARG);
    /* zeroed options: a verifying client on the system bundle */
    if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0 || access("/etc/ssl/cert.pem", R_OK) == 0) {
        CHECK_EQ(nostr_tls_config_new(ctx, NULL, &cfg, &err), NOSTR_OK);
    } else {
        CHECK_EQ(nostr_tls_config_new(ctx, NULL, &cfg, &err), NOSTR_ERR_TLS);
        CHECK_STR(err.msg, "no system CA bundle found (set ca_file)");
        memset(&o, 0, sizeof o);
        o.ca_file = path_of("ca.crt");
        CHECK_EQ(nostr_tls_config_new(ctx, &o, &cfg, &err), NOSTR_OK);
    }
    cb.user = NULL;
    cb.send = peer_send;
    cb.on_plain = NULL;
    CHECK_EQ(nostr_tls_new(cfg, NULL, &cb, &tls, &err), NOSTR_ERR_ARG); /* needs a name */
    CHECK(strstr(err.msg, "server_name") != NULL);
    CHECK(tls == NULL);
    cb.send = NULL;
    CHECK_EQ(nostr_tls_new(cfg, "localhost", &cb, &tls, &err), NOSTR_ERR_ARG);
    nostr_tls_config_free(cfg);
    nostr_tls_config_free(NULL);
    nostr_tls_free(NULL);

    /* PEM text instead of files */
    cert_pem = test_read_file(path_of("server.crt"), &len);
    key_pem = test_read_file(path_of("server.key"), &len);
    ca_pem = test_read_file(path_of("ca.crt"), &len);
    CHECK(cert_pem && key_pem && ca_pem);
    if (cert_pem && key_pem && ca_pem) {
        nostr_tls_config *pc, *ps;
        memset(&o, 0, sizeof o);
        o.ca_pem = ca_pem;
        CHECK_EQ(nostr_tls_config_new(ctx, &o, &pc, &err), NOSTR_OK);
        memset(&o, 0, sizeof o);
        o.role = NOSTR_TLS_SERVER;
        o.cert_pem = cert_pem;
        o.key_pem = key_pem;
        CHECK_EQ(nostr_tls_config_new(ctx, &o, &ps, &err), NOSTR_OK);
        connect_pair(&c, &s, pc, ps, "localhost", 1000);
        CHECK(nostr_tls_handshake_done(c.tls) && nostr_tls_handshake_done(s.tls));
        peer_free(&c);
        peer_free(&s);
        nostr_tls_config_free(pc);
        nostr_tls_config_free(ps);
    }
    free(cert_pem);
    free(key_pem);
    free(ca_pem);
}

static void test_record_errors(void)
{
    peer c, s;
    nostr_error err;
    /* a flipped ciphertext byte: the MAC check fails */
    connect_pair(&c, &s, g_client, g_server, "localhost", 4096);
    CHECK_EQ(nostr_tls_write(c.tls, "secret", 6), NOSTR_OK);
    c.out.data[c.out.len - 3] ^= 1;
    pump(&c, &s, 4096);
    CHECK_EQ(s.rc, NOSTR_ERR_TLS);
    CHECK_EQ(s.got.len, 0);
    nostr_tls_get_error(s.tls, &err);
    CHECK_STR(err.msg, NOSTR_TLS_MSG_RECORD);
    CHECK(strlen(nostr_tls_last_error(s.tls)) > strlen(NOSTR_TLS_MSG_RECORD));
    peer_free(&c);
    peer_free(&s);

    /* plain HTTP to a TLS server */
    peer_init(&s, g_server, NULL);
    CHECK_EQ(nostr_tls_feed(s.tls, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27), NOSTR_ERR_TLS);
    nostr_tls_get_error(s.tls, &err);
    CHECK_STR(err.msg, NOSTR_TLS_MSG_HANDSHAKE);
    peer_free(&s);

    /* the send callback fails */
    peer_init(&c, g_client, "localhost");
    c.fail_send = 1;
    CHECK_EQ(nostr_tls_start(c.tls), NOSTR_ERR_NET);
    nostr_tls_get_error(c.tls, &err);
    CHECK_STR(err.msg, NOSTR_TLS_MSG_SEND);
    peer_free(&c);

    /* closing before the handshake */
    peer_init(&c, g_client, "localhost");
    CHECK_EQ(nostr_tls_close(c.tls), NOSTR_OK);
    CHECK_EQ(nostr_tls_start(c.tls), NOSTR_ERR_CLOSED);
    CHECK_EQ(c.out.len, 0);
    peer_free(&c);
}

/* ---- third-party peers over loopback ---- */

#define NET_BUDGET 20.0 /* seconds for every child-process test */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int ms_left(double deadline)
{
    double left = deadline - now_s();
    return left <= 0 ? 0 : (int)(left * 1000) + 1;
}

static void cloexec(int fd)
{
    fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* Start argv with a pipe on stdin (*in_fd) and stdout (*out_fd); stderr
 * goes to the log in the temp dir. */
static pid_t spawn(char *const argv[], int *in_fd, int *out_fd)
{
    int inp[2], outp[2], logfd;
    pid_t pid;
    if (pipe(inp) != 0) return -1;
    if (pipe(outp) != 0) {
        close(inp[0]);
        close(inp[1]);
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        dup2(inp[0], 0);
        dup2(outp[1], 1);
        close(inp[0]);
        close(inp[1]); /* else the child holds its own stdin open */
        close(outp[0]);
        close(outp[1]);
        logfd = open(path_of("child.log"), O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (logfd >= 0) dup2(logfd, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(inp[0]);
    close(outp[1]);
    cloexec(inp[1]);
    cloexec(outp[0]);
    *in_fd = inp[1];
    *out_fd = outp[0];
    return pid;
}

/* Wait for the child to exit; SIGKILL it at the deadline. Returns the exit
 * status, or -1 if it had to be killed. */
static int reap(pid_t pid, double deadline)
{
    int status;
    struct timespec tick;
    tick.tv_sec = 0;
    tick.tv_nsec = 10 * 1000 * 1000;
    while (now_s() < deadline) {
        if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        nanosleep(&tick, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

/* Append the child's stdout to out until it contains want (or EOF, or
 * the deadline). Returns 1 if want was seen. */
static int read_until(int fd, nostr_buf *out, const char *want, double deadline)
{
    char chunk[4096];
    struct pollfd p;
    ssize_t r;
    for (;;) {
        if (want && out->len && strstr(out->data, want)) return 1;
        p.fd = fd;
        p.events = POLLIN;
        if (poll(&p, 1, ms_left(deadline)) <= 0) return 0;
        r = read(fd, chunk, sizeof chunk);
        if (r <= 0) return want ? (out->len && strstr(out->data, want)) != 0 : 1;
        nostr_buf_append(out, chunk, (size_t)r);
    }
}

static int write_all_fd(int fd, const void *data, size_t n, double deadline)
{
    const char *p = (const char *)data;
    struct pollfd pfd;
    ssize_t w;
    while (n > 0) {
        pfd.fd = fd;
        pfd.events = POLLOUT;
        if (poll(&pfd, 1, ms_left(deadline)) <= 0) return -1;
        w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A TLS connection over a socket. */
typedef struct netpeer {
    int fd;
    nostr_tls *tls;
    nostr_buf got;
    int echo;
    double deadline;
} netpeer;

static int net_send(void *user, const void *p, size_t n)
{
    netpeer *np = (netpeer *)user;
    return write_all_fd(np->fd, p, n, np->deadline);
}

static void net_plain(void *user, const char *data, size_t n)
{
    netpeer *np = (netpeer *)user;
    nostr_buf_append(&np->got, data, n);
    if (np->echo) nostr_tls_write(np->tls, data, n);
}

static int netpeer_init(netpeer *np, int fd, nostr_tls_config *cfg, const char *name, double deadline)
{
    nostr_tls_callbacks cb;
    nostr_error err;
    memset(np, 0, sizeof *np);
    np->fd = fd;
    np->deadline = deadline;
    nostr_buf_init(&np->got, NULL);
    cb.user = np;
    cb.send = net_send;
    cb.on_plain = net_plain;
    return nostr_tls_new(cfg, name, &cb, &np->tls, &err);
}

static void netpeer_free(netpeer *np)
{
    nostr_tls_free(np->tls);
    nostr_buf_free(&np->got);
    if (np->fd >= 0) close(np->fd);
}

/* Read from the socket and feed until stop(np) holds, the peer closes
 * (NOSTR_ERR_CLOSED or EOF: returns NOSTR_ERR_CLOSED), an error, or the
 * deadline (NOSTR_ERR_TIMEOUT). */
static int net_run(netpeer *np, int (*stop)(netpeer *))
{
    unsigned char buf[65536];
    struct pollfd p;
    ssize_t r;
    int rc;
    for (;;) {
        if (stop && stop(np)) return NOSTR_OK;
        p.fd = np->fd;
        p.events = POLLIN;
        if (poll(&p, 1, ms_left(np->deadline)) <= 0) return NOSTR_ERR_TIMEOUT;
        r = read(np->fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return NOSTR_ERR_CLOSED;
        rc = nostr_tls_feed(np->tls, buf, (size_t)r);
        if (rc != NOSTR_OK) return rc;
    }
}

static int stop_handshake(netpeer *np)
{
    return nostr_tls_handshake_done(np->tls);
}

static size_t want_bytes;
static int stop_got_all(netpeer *np)
{
    return np->got.len >= want_bytes;
}

static int tcp_connect(int port, double deadline)
{
    struct sockaddr_in a;
    struct timespec tick;
    int fd;
    tick.tv_sec = 0;
    tick.tv_nsec = 20 * 1000 * 1000;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    while (now_s() < deadline) {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) return -1;
        cloexec(fd);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
        close(fd);
        nanosleep(&tick, NULL);
    }
    return -1;
}

/* A listening socket on 127.0.0.1 with a port chosen by the kernel. */
static int tcp_listen(int *port)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    cloexec(fd);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static int tcp_accept(int lfd, double deadline)
{
    struct pollfd p;
    int fd;
    p.fd = lfd;
    p.events = POLLIN;
    if (poll(&p, 1, ms_left(deadline)) <= 0) return -1;
    fd = accept(lfd, NULL, NULL);
    if (fd >= 0) cloexec(fd);
    return fd;
}

/* A free port for a server the child opens (tiny race, fine for tests). */
static int free_port(void)
{
    int port = 0, fd = tcp_listen(&port);
    if (fd < 0) return -1;
    close(fd);
    return port;
}

/* openssl s_server -www answers GET / with a status page. */
static void test_openssl_server(void)
{
    double deadline = now_s() + NET_BUDGET;
    char portarg[32];
    char *argv[16];
    int in_fd, out_fd, fd, rc, port = free_port();
    nostr_buf out;
    netpeer np;
    pid_t pid;
    CHECK(port > 0);
    snprintf(portarg, sizeof portarg, "127.0.0.1:%d", port);
    argv[0] = (char *)"openssl";
    argv[1] = (char *)"s_server";
    argv[2] = (char *)"-accept";
    argv[3] = portarg;
    argv[4] = (char *)"-cert";
    argv[5] = (char *)path_of("server.crt");
    argv[6] = (char *)"-key";
    argv[7] = (char *)path_of("server.key");
    argv[8] = (char *)"-www";
    argv[9] = (char *)"-naccept";
    argv[10] = (char *)"1";
    argv[11] = NULL;
    pid = spawn(argv, &in_fd, &out_fd);
    CHECK(pid > 0);
    if (pid <= 0) return;
    nostr_buf_init(&out, NULL);
    CHECK(read_until(out_fd, &out, "ACCEPT", deadline));
    fd = tcp_connect(port, deadline);
    CHECK(fd >= 0);
    if (fd >= 0 && netpeer_init(&np, fd, g_client, "localhost", deadline) == NOSTR_OK) {
        CHECK_EQ(nostr_tls_start(np.tls), NOSTR_OK);
        CHECK_EQ(net_run(&np, stop_handshake), NOSTR_OK);
        CHECK(nostr_tls_handshake_done(np.tls));
        CHECK_EQ(nostr_tls_write(np.tls, "GET / HTTP/1.0\r\n\r\n", 18), NOSTR_OK);
        rc = net_run(&np, NULL); /* until the server closes */
        CHECK_EQ(rc, NOSTR_ERR_CLOSED);
        nostr_buf_append_char(&np.got, 0);
        CHECK(strncmp(np.got.data, "HTTP/1.0 200 ok", 15) == 0);
        CHECK(strstr(np.got.data, nostr_tls_ciphersuite(np.tls)) != NULL || strstr(np.got.data, "Cipher") != NULL);
        netpeer_free(&np);
    } else if (fd >= 0) {
        close(fd);
    }
    close(in_fd);
    close(out_fd);
    reap(pid, now_s() + 2);
    nostr_buf_free(&out);
}

/* nostr_fetch_info over https: openssl s_server -WWW serves a file of the
 * temp dir; the document comes back verbatim with our CA, and a server
 * our CA did not sign is refused; plain http against a TLS port fails
 * cleanly; a closed port is NOSTR_ERR_NET. */
static void test_fetch_info(void)
{
    double deadline = now_s() + NET_BUDGET;
    char portarg[32], url[128], cmd[1024];
    char *argv[4];
    const char *doc = "{\"name\":\"tls relay\",\"supported_nips\":[1,11]}";
    int in_fd, out_fd, port = free_port();
    nostr_buf out, body;
    nostr_error err;
    nostr_ctx *ctx = nostr_ctx_new(NULL);
    FILE *f = fopen(path_of("info.json"), "w");
    pid_t pid;
    CHECK(f != NULL && ctx != NULL && port > 0);
    if (!f || !ctx) return;
    fputs(doc, f);
    fclose(f);
    snprintf(portarg, sizeof portarg, "127.0.0.1:%d", port);
    snprintf(cmd, sizeof cmd, "cd %s && exec openssl s_server -accept %s -cert server.crt -key server.key -WWW -naccept 3",
             dir, portarg);
    argv[0] = (char *)"sh";
    argv[1] = (char *)"-c";
    argv[2] = cmd;
    argv[3] = NULL;
    pid = spawn(argv, &in_fd, &out_fd);
    CHECK(pid > 0);
    if (pid <= 0) return;
    nostr_buf_init(&out, NULL);
    nostr_buf_init(&body, NULL);
    CHECK(read_until(out_fd, &out, "ACCEPT", deadline));
    snprintf(url, sizeof url, "wss://localhost:%d/info.json", port);
    memset(&err, 0, sizeof err);
    CHECK_EQ(nostr_fetch_info(ctx, url, 5000, path_of("ca.crt"), 0, &body, &err), NOSTR_OK);
    nostr_buf_append_char(&body, 0);
    CHECK_STR(body.data, doc);
    nostr_buf_clear(&body);
    memset(&err, 0, sizeof err);
    CHECK_EQ(nostr_fetch_info(ctx, url, 5000, path_of("other_ca.crt"), 0, &body, &err), NOSTR_ERR_TLS);
    CHECK(err.msg != NULL && err.msg[0]);
    CHECK_EQ(body.len, 0);
    snprintf(url, sizeof url, "ws://localhost:%d/info.json", port); /* plain HTTP to a TLS server */
    CHECK(nostr_fetch_info(ctx, url, 3000, NULL, 0, &body, &err) != NOSTR_OK);
    CHECK_EQ(body.len, 0);
    close(in_fd);
    close(out_fd);
    reap(pid, now_s() + 2);
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", free_port());
    CHECK_EQ(nostr_fetch_info(ctx, url, 3000, NULL, 0, &body, &err), NOSTR_ERR_NET);
    CHECK_EQ(nostr_fetch_info(ctx, "http://x/", 3000, NULL, 0, &body, &err), NOSTR_ERR_ARG);
    nostr_buf_free(&out);
    nostr_buf_free(&body);
    nostr_ctx_free(ctx);
}

/* openssl s_client verifies our server and exchanges a line. */
static void test_openssl_client(void)
{
    double deadline = now_s() + NET_BUDGET;
    char portarg[32];
    char *argv[20];
    int in_fd, out_fd, lfd, fd, port = 0, status;
    nostr_buf out;
    netpeer np;
    pid_t pid;
    lfd = tcp_listen(&port);
    CHECK(lfd >= 0);
    if (lfd < 0) return;
    snprintf(portarg, sizeof portarg, "127.0.0.1:%d", port);
    argv[0] = (char *)"openssl";
    argv[1] = (char *)"s_client";
    argv[2] = (char *)"-connect";
    argv[3] = portarg;
    argv[4] = (char *)"-servername";
    argv[5] = (char *)"localhost";
    argv[6] = (char *)"-CAfile";
    argv[7] = (char *)path_of("ca.crt");
    argv[8] = (char *)"-verify_return_error";
    argv[9] = (char *)"-verify_hostname";
    argv[10] = (char *)"localhost";
    argv[11] = NULL;
    pid = spawn(argv, &in_fd, &out_fd);
    CHECK(pid > 0);
    if (pid <= 0) {
        close(lfd);
        return;
    }
    nostr_buf_init(&out, NULL);
    fd = tcp_accept(lfd, deadline);
    CHECK(fd >= 0);
    if (fd >= 0 && netpeer_init(&np, fd, g_server, NULL, deadline) == NOSTR_OK) {
        np.echo = 1;
        CHECK_EQ(net_run(&np, stop_handshake), NOSTR_OK);
        CHECK(read_until(out_fd, &out, "Verify return code: 0 (ok)", deadline));
        CHECK(write_all_fd(in_fd, "ping from s_client\n", 19, deadline) == 0);
        want_bytes = 19;
        CHECK_EQ(net_run(&np, stop_got_all), NOSTR_OK);
        CHECK(np.got.len == 19 && memcmp(np.got.data, "ping from s_client\n", 19) == 0);
        /* our echo reaches s_client's stdout */
        CHECK(read_until(out_fd, &out, "ping from s_client", deadline));
        close(in_fd); /* EOF on stdin: s_client closes the connection */
        in_fd = -1;
        CHECK_EQ(net_run(&np, NULL), NOSTR_ERR_CLOSED);
        netpeer_free(&np);
    } else if (fd >= 0) {
        close(fd);
    }
    if (in_fd >= 0) close(in_fd);
    read_until(out_fd, &out, NULL, deadline);
    status = reap(pid, deadline);
    CHECK_EQ(status, 0);
    close(out_fd);
    close(lfd);
    nostr_buf_free(&out);
}

static const char node_echo_server[] =
    "const tls=require('tls'),fs=require('fs');"
    "const s=tls.createServer({key:fs.readFileSync(process.argv[1]),cert:fs.readFileSync(process.argv[2])},"
    "c=>{c.on('error',()=>{});c.pipe(c);});"
    "s.listen(0,'127.0.0.1',()=>console.log('PORT '+s.address().port+' '));"
    "setTimeout(()=>process.exit(5),20000).unref();";

/* node's tls module as the echo server: 300 KB through and back, then
 * close_notify both ways. */
static void test_node_server(void)
{
    double deadline = now_s() + NET_BUDGET;
    char *argv[8];
    unsigned char *data = (unsigned char *)malloc(300000);
    int in_fd, out_fd, fd, port = 0;
    nostr_buf out;
    netpeer np;
    pid_t pid;
    const char *p;
    fill_pattern(data, 300000, 77);
    argv[0] = (char *)"node";
    argv[1] = (char *)"-e";
    argv[2] = (char *)node_echo_server;
    argv[3] = (char *)path_of("server.key");
    argv[4] = (char *)path_of("server.crt");
    argv[5] = NULL;
    pid = spawn(argv, &in_fd, &out_fd);
    CHECK(pid > 0);
    if (pid <= 0) {
        free(data);
        return;
    }
    nostr_buf_init(&out, NULL);
    CHECK(read_until(out_fd, &out, "\n", deadline));
    p = out.len ? strstr(out.data, "PORT ") : NULL;
    if (p) port = atoi(p + 5);
    CHECK(port > 0);
    fd = port > 0 ? tcp_connect(port, deadline) : -1;
    CHECK(fd >= 0);
    if (fd >= 0 && netpeer_init(&np, fd, g_client, "localhost", deadline) == NOSTR_OK) {
        CHECK_EQ(nostr_tls_start(np.tls), NOSTR_OK);
        CHECK_EQ(nostr_tls_write(np.tls, data, 300000), NOSTR_OK); /* queued until the handshake is done */
        want_bytes = 300000;
        CHECK_EQ(net_run(&np, stop_got_all), NOSTR_OK);
        CHECK(np.got.len == 300000 && memcmp(np.got.data, data, 300000) == 0);
        CHECK_EQ(nostr_tls_close(np.tls), NOSTR_OK);
        CHECK_EQ(net_run(&np, NULL), NOSTR_ERR_CLOSED); /* node ends its side too */
        netpeer_free(&np);
    } else if (fd >= 0) {
        close(fd);
    }
    kill(pid, SIGTERM);
    reap(pid, now_s() + 2);
    close(in_fd);
    close(out_fd);
    nostr_buf_free(&out);
    free(data);
}

static const char node_client[] =
    "const tls=require('tls'),fs=require('fs');"
    "const data=Buffer.alloc(200000);for(let i=0;i<data.length;i++)data[i]=(i*7+3)&255;"
    "const c=tls.connect({host:'127.0.0.1',port:+process.argv[1],servername:'localhost',"
    "ca:fs.readFileSync(process.argv[2])},()=>{"
    "if(!c.authorized){console.log('NOTAUTH '+c.authorizationError);process.exit(2);}c.write(data);});"
    "let got=[],n=0;"
    "c.on('data',d=>{got.push(d);n+=d.length;if(n>=data.length){"
    "console.log(Buffer.concat(got).equals(data)?'ECHO-OK '+c.getProtocol():'ECHO-BAD');c.end();}});"
    "c.on('error',e=>{console.log('ERR '+e.message);process.exit(3);});"
    "c.on('close',()=>process.exit(0));"
    "setTimeout(()=>{console.log('TIMEOUT');process.exit(4);},15000).unref();";

/* node's tls.connect verifies our server (CA + hostname) and gets its
 * 200 KB echoed. */
static void test_node_client(void)
{
    double deadline = now_s() + NET_BUDGET;
    char portarg[16];
    char *argv[8];
    int in_fd, out_fd, lfd, fd, port = 0, rc, status;
    nostr_buf out;
    netpeer np;
    pid_t pid;
    lfd = tcp_listen(&port);
    CHECK(lfd >= 0);
    if (lfd < 0) return;
    snprintf(portarg, sizeof portarg, "%d", port);
    argv[0] = (char *)"node";
    argv[1] = (char *)"-e";
    argv[2] = (char *)node_client;
    argv[3] = portarg;
    argv[4] = (char *)path_of("ca.crt");
    argv[5] = NULL;
    pid = spawn(argv, &in_fd, &out_fd);
    CHECK(pid > 0);
    if (pid <= 0) {
        close(lfd);
        return;
    }
    nostr_buf_init(&out, NULL);
    fd = tcp_accept(lfd, deadline);
    CHECK(fd >= 0);
    if (fd >= 0 && netpeer_init(&np, fd, g_server, NULL, deadline) == NOSTR_OK) {
        np.echo = 1;
        rc = net_run(&np, NULL); /* echo until node closes */
        CHECK_EQ(rc, NOSTR_ERR_CLOSED);
        CHECK(nostr_tls_peer_closed(np.tls));
        CHECK_EQ(np.got.len, 200000);
        CHECK(np.got.len == 200000 && np.got.data[5] == (char)((5 * 7 + 3) & 255));
        netpeer_free(&np);
    } else if (fd >= 0) {
        close(fd);
    }
    read_until(out_fd, &out, NULL, deadline);
    status = reap(pid, deadline);
    CHECK_EQ(status, 0);
    nostr_buf_append_char(&out, 0);
    if (!strstr(out.data, "ECHO-OK TLSv1.2")) fprintf(stderr, "node said: %s\n", out.data);
    CHECK(strstr(out.data, "ECHO-OK TLSv1.2") != NULL);
    close(in_fd);
    close(out_fd);
    close(lfd);
    nostr_buf_free(&out);
}

int main(void)
{
    char tmpl[] = "/tmp/nostr-tls-XXXXXX";
    char cmd[128];
    signal(SIGPIPE, SIG_IGN);
    if (system("command -v openssl >/dev/null 2>&1") != 0) {
        fprintf(stderr, "FAIL: the openssl command-line tool is required (apt-get install openssl)\n");
        CHECK(0);
        return TEST_DONE();
    }
    if (!mkdtemp(tmpl)) {
        fprintf(stderr, "FAIL: mkdtemp\n");
        CHECK(0);
        return TEST_DONE();
    }
    snprintf(dir, sizeof dir, "%s", tmpl);
    ctx = nostr_ctx_new(NULL);
    CHECK(ctx != NULL);
    if (make_pki() != 0) {
        CHECK(0);
        return TEST_DONE();
    }
    g_client = client_cfg(path_of("ca.crt"), 0);
    g_server = server_cfg(path_of("server.crt"), path_of("server.key"));
    if (g_client && g_server) {
        TEST_RUN(test_handshake_byte_by_byte);
        TEST_RUN(test_sizes);
        TEST_RUN(test_early_write_and_echo);
        TEST_RUN(test_close_notify);
        TEST_RUN(test_verify_failures);
        TEST_RUN(test_config_errors);
        TEST_RUN(test_record_errors);
        TEST_RUN(test_openssl_server);
        TEST_RUN(test_openssl_client);
        TEST_RUN(test_fetch_info);
        if (system("command -v node >/dev/null 2>&1") != 0) {
            fprintf(stderr, "FAIL: node is required for the node tls interop cases\n");
            CHECK(0);
        } else {
            TEST_RUN(test_node_server);
            TEST_RUN(test_node_client);
        }
    }
    nostr_tls_config_free(g_client);
    nostr_tls_config_free(g_server);
    nostr_ctx_free(ctx);
    if (!test_failed) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    } else {
        fprintf(stderr, "kept %s for inspection\n", dir);
    }
    return TEST_DONE();
}
