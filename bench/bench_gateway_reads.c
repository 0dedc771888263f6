/* Read latency of a gateway's GET /api/events over loopback (one
 * keep-alive connection, one request at a time), per filter shape, on a
 * database filled by bench/gateway_fill.sql (its authors, tags and words
 * are recomputed here):
 *
 *   bench_gateway_reads --port N [--queries Q] [--events N]
 *
 * Shapes: one author (limit 20), one kind (limit 50), one "t" tag
 * (limit 20), a 10-minute since/until window (limit 50), author + kind
 * (limit 20), and NIP-50 search of one word (limit 20, a scan). Prints
 * p50 and p99 in ms and requests/s for each, after 20 warm-up requests.
 * Every answer must be 200 with a JSON body; the rows per answer are
 * printed so an empty result cannot pass for a fast one. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "nostr.h"
#include "bench_util.h"

static int conn_open(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("connect");
        exit(1);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* One GET; returns the rows in the answer ("count"), -1 on a bad answer. */
static long get(int fd, const char *target, nostr_http_parser *p)
{
    char req[1024], buf[65536];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: b\r\n\r\n", target);
    const nostr_str *b;
    const char *c;
    if (send(fd, req, (size_t)n, 0) != n) return -1;
    nostr_http_parser_reset(p);
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        size_t used = 0;
        int rc;
        if (r <= 0) return -1;
        rc = nostr_http_feed(p, buf, (size_t)r, &used);
        if (rc == NOSTR_HTTP_DONE) break;
        if (rc != NOSTR_HTTP_MORE) return -1;
    }
    if (p->msg.status != 200) return -1;
    b = &p->msg.body;
    c = strstr(b->ptr, "\"count\":");
    return c ? strtol(c + 8, NULL, 10) : -1;
}

static void author_hex(long i, char out[65])
{
    char s[32];
    unsigned char h[32];
    snprintf(s, sizeof s, "pk%ld", i);
    nostr_sha256(s, strlen(s), h);
    nostr_hex_encode(h, 32, out);
}

int main(int argc, char **argv)
{
    static const char *const words[] = {"bitcoin", "nostr", "coffee", "music", "rust", "linux", "cats",
                                        "books", "art", "travel", "food", "garden", "chess", "photo",
                                        "movies", "running", "privacy", "zaps", "relay", "weather"};
    static const char *const shapes[] = {"author", "kind", "tag", "window", "author+kind", "search"};
    int port = 0, queries = 500, i, s;
    long nevents = 1000000;
    nostr_http_parser p;
    unsigned long long seed = 88172645463325252ULL;
    int fd;
    for (i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--queries")) queries = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--events")) nevents = atol(argv[i + 1]);
    }
    if (port <= 0 || queries < 1 || nevents < 1) {
        fprintf(stderr, "usage: bench_gateway_reads --port N [--queries Q] [--events N]\n");
        return 2;
    }
    nostr_http_parser_init(&p, NOSTR_HTTP_RESPONSE, NULL);
    fd = conn_open(port);
    printf("# GET /api/events, %d requests per shape, one connection, %ld events in the database\n", queries,
           nevents);
    for (s = 0; s < 6; s++) {
        double *lat = (double *)malloc((size_t)queries * sizeof *lat), t0 = 0, p50, p99;
        long rows = 0;
        for (i = -20; i < queries; i++) {
            char target[512], a[65];
            long r;
            double t;
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            switch (s) {
            case 0:
                author_hex((long)(seed % 10000), a);
                snprintf(target, sizeof target, "/api/events?authors=%s&limit=20", a);
                break;
            case 1: snprintf(target, sizeof target, "/api/events?kinds=%d&limit=50", seed % 2 ? 1 : 7); break;
            case 2: snprintf(target, sizeof target, "/api/events?tag=t:tag%llu&limit=20", seed % 1000); break;
            case 3: {
                long long t1 = 1700000000LL + (long long)(seed % (unsigned long long)(nevents * 2));
                snprintf(target, sizeof target, "/api/events?since=%lld&until=%lld&limit=50", t1, t1 + 600);
                break;
            }
            case 4:
                author_hex((long)(seed % 10000), a);
                snprintf(target, sizeof target, "/api/events?authors=%s&kinds=1&limit=20", a);
                break;
            default: snprintf(target, sizeof target, "/api/events?search=%s&limit=20", words[seed % 20]); break;
            }
            if (i == 0) t0 = now_s();
            t = now_s();
            r = get(fd, target, &p);
            if (r < 0) {
                fprintf(stderr, "bench_gateway_reads: bad answer for %s\n", target);
                return 1;
            }
            if (i >= 0) {
                lat[i] = (now_s() - t) * 1e3;
                rows += r;
            }
        }
        t0 = now_s() - t0;
        p50 = pct(lat, (size_t)queries, 50);
        p99 = pct(lat, (size_t)queries, 99);
        printf("%-12s p50 %7.2f ms  p99 %7.2f ms  %7.0f req/s  %5.1f rows/answer\n", shapes[s], p50, p99,
               queries / t0, (double)rows / queries);
        free(lat);
    }
    close(fd);
    nostr_http_parser_free(&p);
    return 0;
}
