/* TLS benchmark: our client and our server wired in memory, both on one
 * thread, so every figure is the cost of BOTH ends together.
 *
 *   bench_tls [RUNS]
 *
 * - throughput: the client writes 64 MiB in 16 KiB nostr_tls_write calls,
 *   the server is fed the records and decrypts them; MB/s of plaintext
 *   (median of RUNS, default 5).
 * - handshakes/s: full handshakes (no resumption), client verifying the
 *   server against the CA, for an ECDSA P-256 and an RSA-2048 server
 *   certificate (median of RUNS rounds).
 * The certificates are made with the openssl command in a temp dir. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "nostr.h"
#include "bench_util.h"

static char dir[64];

static int run(const char *cmd)
{
    char full[2048];
    snprintf(full, sizeof full, "cd %s && (%s) >/dev/null 2>&1", dir, cmd);
    return system(full);
}

static const char *path_of(const char *name)
{
    static char bufs[4][256];
    static int next;
    char *p = bufs[next++ & 3];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

static int make_pki(void)
{
    static const char *const cmds[] = {
        "printf 'subjectAltName=DNS:localhost\\n' >ext.cnf",
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt "
        "-days 30 -subj /CN=BenchCA",
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ec.key -out ec.csr "
        "-subj /CN=localhost",
        "openssl x509 -req -in ec.csr -CA ca.crt -CAkey ca.key -set_serial 2 -days 30 -extfile ext.cnf -out ec.crt",
        "openssl req -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.csr -subj /CN=localhost",
        "openssl x509 -req -in rsa.csr -CA ca.crt -CAkey ca.key -set_serial 3 -days 30 -extfile ext.cnf -out rsa.crt",
    };
    size_t i;
    for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (run(cmds[i]) != 0) {
            fprintf(stderr, "openssl failed: %s\n", cmds[i]);
            return -1;
        }
    return 0;
}

/* One end: ciphertext it sent waits in out until delivered. */
typedef struct end {
    nostr_tls *tls;
    nostr_buf out;
    size_t plain_bytes;
} end;

static int end_send(void *user, const void *p, size_t n)
{
    end *e = (end *)user;
    return nostr_buf_append(&e->out, p, n) == NOSTR_OK ? 0 : -1;
}

static void end_plain(void *user, const char *data, size_t n)
{
    (void)data;
    ((end *)user)->plain_bytes += n;
}

static int end_init(end *e, nostr_tls_config *cfg, const char *name)
{
    nostr_tls_callbacks cb;
    memset(e, 0, sizeof *e);
    nostr_buf_init(&e->out, NULL);
    cb.user = e;
    cb.send = end_send;
    cb.on_plain = end_plain;
    return nostr_tls_new(cfg, name, &cb, &e->tls, NULL);
}

static void end_free(end *e)
{
    nostr_tls_free(e->tls);
    nostr_buf_free(&e->out);
}

/* Deliver what from sent into to; the buffer keeps its memory. */
static int deliver(end *from, end *to)
{
    int rc = NOSTR_OK;
    if (from->out.len) rc = nostr_tls_feed(to->tls, from->out.data, from->out.len);
    nostr_buf_clear(&from->out);
    return rc;
}

static int handshake(end *c, end *s)
{
    int i;
    if (nostr_tls_start(c->tls) != NOSTR_OK) return -1;
    for (i = 0; i < 20 && !(nostr_tls_handshake_done(c->tls) && nostr_tls_handshake_done(s->tls)); i++)
        if (deliver(c, s) != NOSTR_OK || deliver(s, c) != NOSTR_OK) return -1;
    return nostr_tls_handshake_done(c->tls) && nostr_tls_handshake_done(s->tls) ? 0 : -1;
}

static int bench_throughput(nostr_tls_config *ccfg, nostr_tls_config *scfg, int runs)
{
    enum { CHUNK = 16384, TOTAL = 64 << 20 };
    static unsigned char chunk[CHUNK];
    double mbs[32];
    end c, s;
    size_t sent;
    double t0;
    int r;
    memset(chunk, 0x5a, sizeof chunk);
    if (end_init(&c, ccfg, "localhost") != NOSTR_OK || end_init(&s, scfg, NULL) != NOSTR_OK || handshake(&c, &s))
        return -1;
    printf("cipher suite: %s %s\n", nostr_tls_version(c.tls), nostr_tls_ciphersuite(c.tls));
    for (r = 0; r < runs; r++) {
        s.plain_bytes = 0;
        t0 = now_s();
        for (sent = 0; sent < TOTAL; sent += CHUNK) {
            if (nostr_tls_write(c.tls, chunk, CHUNK) != NOSTR_OK || deliver(&c, &s) != NOSTR_OK) return -1;
        }
        mbs[r] = (double)TOTAL / (now_s() - t0) / 1e6;
        if (s.plain_bytes != TOTAL) return -1;
    }
    printf("throughput, 16 KiB writes, encrypt+decrypt on one core: %.1f MB/s (median of %d x %d MiB)\n",
           median(mbs, runs), runs, TOTAL >> 20);
    end_free(&c);
    end_free(&s);
    return 0;
}

static int bench_handshakes(const char *label, nostr_tls_config *ccfg, nostr_tls_config *scfg, int runs)
{
    enum { PER_ROUND = 40 };
    double rate[32], t0;
    end c, s;
    int r, i;
    for (r = 0; r < runs; r++) {
        t0 = now_s();
        for (i = 0; i < PER_ROUND; i++) {
            if (end_init(&c, ccfg, "localhost") != NOSTR_OK || end_init(&s, scfg, NULL) != NOSTR_OK) return -1;
            if (handshake(&c, &s) != 0) return -1;
            end_free(&c);
            end_free(&s);
        }
        rate[r] = PER_ROUND / (now_s() - t0);
    }
    printf("full handshakes/s, %s server cert, both ends on one core: %.0f (median of %d x %d)\n", label,
           median(rate, runs), runs, PER_ROUND);
    return 0;
}

static nostr_tls_config *server_cfg(nostr_ctx *ctx, const char *cert, const char *key)
{
    nostr_tls_config_opts o;
    nostr_tls_config *cfg = NULL;
    memset(&o, 0, sizeof o);
    o.role = NOSTR_TLS_SERVER;
    o.cert_file = path_of(cert);
    o.key_file = path_of(key);
    nostr_tls_config_new(ctx, &o, &cfg, NULL);
    return cfg;
}

int main(int argc, char **argv)
{
    char tmpl[] = "/tmp/nostr-bench-tls-XXXXXX";
    char cmd[128];
    int runs = argc > 1 ? atoi(argv[1]) : 5, rc = 1;
    nostr_tls_config_opts o;
    nostr_tls_config *client = NULL, *ec = NULL, *rsa = NULL;
    nostr_ctx *ctx;
    if (runs < 1 || runs > 32) runs = 5;
    if (!mkdtemp(tmpl)) return 1;
    snprintf(dir, sizeof dir, "%s", tmpl);
    ctx = nostr_ctx_new(NULL);
    if (ctx && make_pki() == 0) {
        memset(&o, 0, sizeof o);
        o.ca_file = path_of("ca.crt");
        nostr_tls_config_new(ctx, &o, &client, NULL);
        ec = server_cfg(ctx, "ec.crt", "ec.key");
        rsa = server_cfg(ctx, "rsa.crt", "rsa.key");
        if (client && ec && rsa && bench_throughput(client, ec, runs) == 0 &&
            bench_handshakes("ECDSA P-256", client, ec, runs) == 0 &&
            bench_handshakes("RSA-2048", client, rsa, runs) == 0)
            rc = 0;
        else
            fprintf(stderr, "bench_tls: failed\n");
    }
    nostr_tls_config_free(client);
    nostr_tls_config_free(ec);
    nostr_tls_config_free(rsa);
    nostr_ctx_free(ctx);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return rc;
}
