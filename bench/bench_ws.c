/* WebSocket framer throughput, in memory: framing (send) and parsing +
 * unmasking (feed) of 100-byte, 1 KiB and 64 KiB binary messages.
 *
 *   bench_ws [RUNS]
 *
 * "send" is the client role (masks every frame with a fresh key); "feed"
 * is the server role reading masked frames, i.e. what a relay does per
 * incoming message. Each cell is the median of RUNS (default 5) runs. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "nostr.h"
#include "bench_util.h"

/* send callback: append to a buffer (the stream the feed bench reads) */
static int bench_capture(void *user, const void *p, size_t n)
{
    return nostr_buf_append((nostr_buf *)user, p, n);
}

/* send callback for the send bench: count bytes, copy nothing */
static int bench_count(void *user, const void *p, size_t n)
{
    (void)p;
    *(size_t *)user += n;
    return 0;
}

static size_t delivered;
static void bench_message(void *user, int opcode, const char *p, size_t n)
{
    (void)user;
    (void)opcode;
    delivered += n + (unsigned char)p[0 < n ? n - 1 : 0];
}

static int bench_rng(void *user, unsigned char *out, size_t n)
{
    unsigned *c = (unsigned *)user;
    size_t i;
    for (i = 0; i < n; i++) out[i] = (unsigned char)(++*c * 2654435761u >> 24);
    return 0;
}

static void init_ws(nostr_ws *ws, int role, int (*send)(void *, const void *, size_t), void *user, unsigned *rng)
{
    nostr_ws_config cfg;
    nostr_ws_callbacks cb;
    memset(&cfg, 0, sizeof cfg);
    memset(&cb, 0, sizeof cb);
    cfg.rng = bench_rng;
    cfg.rng_user = rng;
    cb.user = user;
    cb.send = send;
    cb.on_message = bench_message;
    if (nostr_ws_init(ws, role, &cfg, &cb) != NOSTR_OK) {
        fprintf(stderr, "init failed\n");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    static const size_t sizes[3] = {100, 1024, 65536};
    static const char *names[3] = {"100 B", "1 KiB", "64 KiB"};
    int runs = argc > 1 ? atoi(argv[1]) : 5, s, r;
    size_t sent = 0;
    double *send_t, *feed_t;
    unsigned char *payload = (unsigned char *)malloc(65536);
    size_t i;
    if (runs < 1) runs = 1;
    send_t = (double *)malloc(sizeof(double) * (size_t)runs);
    feed_t = (double *)malloc(sizeof(double) * (size_t)runs);
    for (i = 0; i < 65536; i++) payload[i] = (unsigned char)(i * 7);
    printf("%-8s %8s | %14s %10s | %14s %10s\n", "message", "count", "send frames/s", "MB/s", "feed frames/s",
           "MB/s");
    for (s = 0; s < 3; s++) {
        size_t n = sizes[s], count = (size_t)(32u << 20) / (n + 14) + 100;
        nostr_buf stream;
        nostr_ws ws;
        unsigned rng = 1;
        double ms, mf;
        /* the stream the feed bench parses: count masked frames (~32 MiB) */
        nostr_buf_init(&stream, NULL);
        init_ws(&ws, NOSTR_WS_CLIENT, bench_capture, &stream, &rng);
        for (i = 0; i < count; i++) nostr_ws_send_binary(&ws, payload, n);
        nostr_ws_free(&ws);
        for (r = 0; r < runs; r++) {
            double t0;
            init_ws(&ws, NOSTR_WS_CLIENT, bench_count, &sent, &rng);
            t0 = now_s();
            for (i = 0; i < count; i++) nostr_ws_send_binary(&ws, payload, n);
            send_t[r] = now_s() - t0;
            nostr_ws_free(&ws);
            init_ws(&ws, NOSTR_WS_SERVER, bench_count, &sent, &rng);
            t0 = now_s();
            /* feed in 64 KiB reads, as from a socket */
            for (i = 0; i < stream.len; i += 65536)
                nostr_ws_feed(&ws, stream.data + i, stream.len - i < 65536 ? stream.len - i : 65536);
            feed_t[r] = now_s() - t0;
            nostr_ws_free(&ws);
        }
        ms = median(send_t, runs);
        mf = median(feed_t, runs);
        printf("%-8s %8zu | %14.0f %10.1f | %14.0f %10.1f\n", names[s], count, (double)count / ms,
               (double)count * (double)n / ms / 1e6, (double)count / mf, (double)count * (double)n / mf / 1e6);
        nostr_buf_free(&stream);
    }
    if (delivered == 0 || sent == 0) printf("(nothing delivered?)\n");
    free(payload);
    free(send_t);
    free(feed_t);
    return 0;
}
