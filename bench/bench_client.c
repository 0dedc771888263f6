/* Relay client throughput, in memory: a nostr_client connected to a
 * scripted relay (a NOSTR_WS_SERVER framer and hand-written relay
 * messages), one thread, no sockets.
 *
 *   bench_client [EVENTS.jsonl [ROUNDS]]
 *
 * EVENTS defaults to tests/data/events-real.jsonl (run from the repository
 * root), ROUNDS to 7. Each round runs every case once, so a burst of load
 * from elsewhere hits all cases alike; a figure is the median round, with
 * the slowest and fastest rounds in brackets.
 *
 * (a) relay -> client: ["EVENT","bench",<event>] text frames, framed once
 *     in advance by the relay's framer, fed to nostr_client_feed in 64 KiB
 *     reads until every event has reached the on_event callback. Timed:
 *     the client alone (frame parsing, UTF-8 check, NIP-01 message parse,
 *     and with verification the id recomputation and the Schnorr check).
 *     Messages/s and MB/s of wire bytes; all events and the ones up to
 *     1 KiB; with and without verify_events.
 * (b) client -> relay: nostr_client_publish of pre-signed events, W at a
 *     time in flight, then the relay answers every one with
 *     ["OK",<id>,true,""] and the client correlates each OK with its
 *     publish (on_ok). Timed separately: publish (serialize, frame, mask,
 *     queue), the relay's part (unmask, find the id, frame the OK: the
 *     scripted relay, not the client), and OK handling (unframe, parse,
 *     find the publish, callback). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "nostr.h"
#include "bench_util.h"

enum { READ_SIZE = 65536, MAX_ROUNDS = 64 };

/* ---- the in-memory connection: client + scripted relay ---- */

typedef struct conn {
    nostr_client *c;
    nostr_buf c2r;          /* bytes the client wrote, not yet read by the relay */
    nostr_buf r2c;          /* bytes the relay wrote, not yet read by the client */
    nostr_http_parser http; /* relay: the upgrade request */
    nostr_ws relay;         /* relay: server framer, after the 101 */
    int relay_open;
    size_t events, event_bytes; /* on_event calls, bytes of their JSON */
    size_t oks, refused, errors;
} conn;

static int client_send(void *user, const void *p, size_t n)
{
    return nostr_buf_append(&((conn *)user)->c2r, p, n) == NOSTR_OK ? 0 : -1;
}

static int client_connect(void *user, const char *host, int port)
{
    (void)user;
    (void)host;
    (void)port;
    return 0; /* "connected" right after nostr_client_start returns */
}

static void client_event(void *user, const char *sub, const nostr_event *ev, const char *json, size_t len)
{
    conn *k = (conn *)user;
    (void)sub;
    (void)json;
    k->events++;
    k->event_bytes += len + ev->id[0];
}

static void client_ok(void *user, const unsigned char id[32], int accepted, const char *message)
{
    conn *k = (conn *)user;
    (void)id;
    (void)message;
    if (accepted)
        k->oks++;
    else
        k->refused++;
}

static void client_error(void *user, int code, const char *message)
{
    conn *k = (conn *)user;
    if (k->errors++ < 3) fprintf(stderr, "client error %d: %s\n", code, message);
}

static int relay_send(void *user, const void *p, size_t n)
{
    return nostr_buf_append(&((conn *)user)->r2c, p, n) == NOSTR_OK ? 0 : -1;
}

static int buf_send(void *user, const void *p, size_t n)
{
    return nostr_buf_append((nostr_buf *)user, p, n) == NOSTR_OK ? 0 : -1;
}

/* The relay's side of NIP-01, by hand: answer every EVENT with an OK. */
static void relay_message(void *user, int opcode, const char *data, size_t len)
{
    conn *k = (conn *)user;
    const char *id;
    char ok[128];
    (void)len;
    if (opcode != NOSTR_WS_OP_TEXT || strncmp(data, "[\"EVENT\",", 9) != 0) return; /* the REQ */
    id = strstr(data, "\"id\":\"");                                                 /* the client writes the id first */
    if (!id) return;
    snprintf(ok, sizeof ok, "[\"OK\",\"%.64s\",true,\"\"]", id + 6);
    nostr_ws_send_text(&k->relay, ok, strlen(ok));
}

static void relay_framer(nostr_ws *ws, void *user, int (*send)(void *, const void *, size_t))
{
    nostr_ws_config cfg;
    nostr_ws_callbacks cb;
    memset(&cfg, 0, sizeof cfg);
    memset(&cb, 0, sizeof cb);
    cfg.max_frame = cfg.max_message = 4u << 20;
    cb.user = user;
    cb.send = send;
    cb.on_message = relay_message;
    if (nostr_ws_init(ws, NOSTR_WS_SERVER, &cfg, &cb) != NOSTR_OK) {
        fprintf(stderr, "bench_client: relay framer init failed\n");
        exit(1);
    }
}

/* Relay: read what the client wrote (the upgrade request, then frames). */
static int relay_pump(conn *k)
{
    size_t used = 0;
    if (!k->relay_open && k->c2r.len) {
        int rc = nostr_http_feed(&k->http, k->c2r.data, k->c2r.len, &used);
        if (rc == NOSTR_HTTP_MORE) {
            nostr_buf_clear(&k->c2r); /* the parser keeps what it needs */
            return 0;
        }
        if (rc != NOSTR_HTTP_DONE || nostr_ws_server_handshake(&k->http.msg, &k->r2c, NULL) != NOSTR_OK) return -1;
        relay_framer(&k->relay, k, relay_send);
        k->relay_open = 1;
    }
    if (k->relay_open && k->c2r.len > used && nostr_ws_feed(&k->relay, k->c2r.data + used, k->c2r.len - used))
        return -1;
    nostr_buf_clear(&k->c2r);
    return 0;
}

/* Client: read stream in 64 KiB reads, as from a socket. */
static int client_read(conn *k, const char *data, size_t len)
{
    size_t i;
    for (i = 0; i < len; i += READ_SIZE)
        if (nostr_client_feed(k->c, data + i, len - i < (size_t)READ_SIZE ? len - i : (size_t)READ_SIZE, 0) != NOSTR_OK)
            return -1;
    return 0;
}

static int client_read_r2c(conn *k)
{
    int rc = client_read(k, k->r2c.data, k->r2c.len);
    nostr_buf_clear(&k->r2c);
    return rc;
}

/* Connect and open subscription "bench"; exits on failure. */
static void conn_open(conn *k, nostr_ctx *ctx, int verify)
{
    nostr_client_config cfg;
    nostr_client_callbacks cb;
    nostr_filter all;
    memset(k, 0, sizeof *k);
    nostr_buf_init(&k->c2r, NULL);
    nostr_buf_init(&k->r2c, NULL);
    nostr_http_parser_init(&k->http, NOSTR_HTTP_REQUEST, NULL);
    memset(&cfg, 0, sizeof cfg);
    cfg.verify_events = verify ? NOSTR_CLIENT_VERIFY : NOSTR_CLIENT_NO_VERIFY;
    cfg.ping_interval_ms = -1;
    cfg.max_pending = 4096;
    cfg.max_pending_bytes = 256u << 20;
    cfg.max_message = 4u << 20;
    memset(&cb, 0, sizeof cb);
    cb.user = k;
    cb.send = client_send;
    cb.connect = client_connect;
    cb.on_event = client_event;
    cb.on_ok = client_ok;
    cb.on_error = client_error;
    k->c = nostr_client_new(ctx, "ws://127.0.0.1:7777/", &cfg, &cb, NULL);
    memset(&all, 0, sizeof all);
    if (!k->c || nostr_client_start(k->c, 0) != NOSTR_OK) goto fail;
    nostr_client_connected(k->c, 0);
    if (relay_pump(k) || client_read_r2c(k) || nostr_client_state(k->c) != NOSTR_CLIENT_OPEN) goto fail;
    if (nostr_client_req(k->c, "bench", &all, 1, 0) != NOSTR_OK || relay_pump(k)) goto fail;
    return;
fail:
    fprintf(stderr, "bench_client: could not open the in-memory connection\n");
    exit(1);
}

static void conn_close(conn *k)
{
    nostr_client_free(k->c);
    if (k->relay_open) nostr_ws_free(&k->relay);
    nostr_http_parser_free(&k->http);
    nostr_buf_free(&k->c2r);
    nostr_buf_free(&k->r2c);
}

/* ---- the corpus ---- */

typedef struct corpus {
    char *text; /* the file; lines NUL-terminated in place */
    char **lines;
    size_t count;
    nostr_event *events; /* parsed, for publishing */
    nostr_arena arena;
} corpus;

static int corpus_load(corpus *cp, const char *path, nostr_ctx *ctx)
{
    FILE *f = fopen(path, "rb");
    long size;
    size_t i, cap = 0;
    char *p, *nl = NULL;
    nostr_limits lim;
    memset(cp, 0, sizeof *cp);
    if (!f || fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        if (f) fclose(f);
        return -1;
    }
    cp->text = (char *)malloc((size_t)size + 1);
    if (!cp->text || fread(cp->text, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        return -1;
    }
    fclose(f);
    cp->text[size] = 0;
    for (p = cp->text; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (nl) *nl = 0;
        if (cp->count == cap) {
            char **grown;
            cap = cap ? cap * 2 : 1024;
            grown = (char **)realloc(cp->lines, cap * sizeof *cp->lines);
            if (!grown) return -1;
            cp->lines = grown;
        }
        if (*p) cp->lines[cp->count++] = p;
        if (!nl) break;
    }
    if (!cp->count) return -1;
    memset(&lim, 0, sizeof lim);
    lim.max_input = 4u << 20;
    cp->events = (nostr_event *)malloc(cp->count * sizeof *cp->events);
    nostr_arena_init(&cp->arena, NULL, 0, NULL);
    for (i = 0; i < cp->count; i++) {
        if (nostr_event_parse(&cp->events[i], cp->lines[i], strlen(cp->lines[i]), &cp->arena, &lim, NULL) ||
            nostr_event_validate(ctx, &cp->events[i], NULL, NULL)) {
            fprintf(stderr, "bench_client: line %lu is not a valid event\n", (unsigned long)i + 1);
            return -1;
        }
    }
    return 0;
}

static void corpus_free(corpus *cp)
{
    nostr_arena_free(&cp->arena);
    free(cp->events);
    free(cp->lines);
    free(cp->text);
}

/* ---- (a) relay -> client ---- */

typedef struct feed_case {
    const char *label;
    int verify;
    int reps;         /* the stream is fed this many times per round */
    nostr_buf stream; /* framed EVENT messages */
    size_t messages;  /* in the stream */
    conn k;
    double rate[MAX_ROUNDS], mbs[MAX_ROUNDS];
} feed_case;

/* Frame the EVENT messages for the events up to max_len bytes. */
static void build_stream(feed_case *fc, const corpus *cp, size_t max_len)
{
    nostr_ws ws;
    nostr_buf msg;
    size_t i;
    nostr_buf_init(&fc->stream, NULL);
    nostr_buf_init(&msg, NULL);
    relay_framer(&ws, &fc->stream, buf_send);
    for (i = 0; i < cp->count; i++) {
        if (strlen(cp->lines[i]) > max_len) continue;
        nostr_buf_clear(&msg);
        nostr_buf_append_str(&msg, "[\"EVENT\",\"bench\",");
        nostr_buf_append_str(&msg, cp->lines[i]);
        nostr_buf_append_char(&msg, ']');
        nostr_ws_send_text(&ws, msg.data, msg.len);
        fc->messages++;
    }
    nostr_ws_free(&ws);
    nostr_buf_free(&msg);
}

/* One round: feed the stream reps times; messages/s and MB/s. */
static int feed_round(feed_case *fc, int r)
{
    size_t before = fc->k.events;
    double t0 = now_s(), t;
    int i;
    for (i = 0; i < fc->reps; i++)
        if (client_read(&fc->k, fc->stream.data, fc->stream.len)) return -1;
    t = now_s() - t0;
    if (fc->k.events - before != fc->messages * (size_t)fc->reps || fc->k.errors) {
        fprintf(stderr, "bench_client: %s: %lu of %lu events delivered, %lu errors\n", fc->label,
                (unsigned long)(fc->k.events - before), (unsigned long)(fc->messages * (size_t)fc->reps),
                (unsigned long)fc->k.errors);
        return -1;
    }
    fc->rate[r] = (double)fc->messages * fc->reps / t;
    fc->mbs[r] = (double)fc->stream.len * fc->reps / t / 1e6;
    return 0;
}

/* ---- (b) client -> relay ---- */

typedef struct pub_case {
    size_t window; /* publishes in flight before the relay answers */
    int reps;      /* the corpus is published this many times per round */
    conn k;
    double pub[MAX_ROUNDS], ok[MAX_ROUNDS], client[MAX_ROUNDS], relay[MAX_ROUNDS], total[MAX_ROUNDS];
    double pub_mbs[MAX_ROUNDS];
} pub_case;

static int pub_round(pub_case *pc, const corpus *cp, int r)
{
    double t_pub = 0, t_relay = 0, t_ok = 0, t0, t1, t2;
    size_t sent_bytes = 0, i, j, n = cp->count * (size_t)pc->reps, before = pc->k.oks;
    int rep;
    for (rep = 0; rep < pc->reps; rep++) {
        for (i = 0; i < cp->count; i += pc->window) {
            size_t end = i + pc->window < cp->count ? i + pc->window : cp->count;
            t0 = now_s();
            for (j = i; j < end; j++)
                if (nostr_client_publish(pc->k.c, &cp->events[j], 0) != NOSTR_OK) return -1;
            t1 = now_s();
            sent_bytes += pc->k.c2r.len;
            if (relay_pump(&pc->k)) return -1;
            t2 = now_s();
            if (client_read_r2c(&pc->k)) return -1;
            t_pub += t1 - t0;
            t_relay += t2 - t1;
            t_ok += now_s() - t2;
        }
    }
    if (pc->k.oks - before != n || pc->k.refused || pc->k.errors) {
        fprintf(stderr, "bench_client: window %lu: %lu of %lu OKs\n", (unsigned long)pc->window,
                (unsigned long)(pc->k.oks - before), (unsigned long)n);
        return -1;
    }
    pc->pub[r] = (double)n / t_pub;
    pc->pub_mbs[r] = (double)sent_bytes / t_pub / 1e6;
    pc->ok[r] = (double)n / t_ok;
    pc->client[r] = (double)n / (t_pub + t_ok);
    pc->relay[r] = (double)n / t_relay;
    pc->total[r] = (double)n / (t_pub + t_relay + t_ok);
    return 0;
}

/* ---- report ---- */

/* "median [min-max]" of v (sorted in place). */
static const char *spread(double *v, int n, const char *fmt)
{
    static char out[4][128];
    static int next;
    char *p = out[next++ & 3];
    char a[32], b[32], c[32];
    double m = median(v, n);
    snprintf(a, sizeof a, fmt, m);
    snprintf(b, sizeof b, fmt, v[0]);
    snprintf(c, sizeof c, fmt, v[n - 1]);
    snprintf(p, 128, "%s [%s-%s]", a, b, c);
    return p;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "tests/data/events-real.jsonl";
    int rounds = argc > 2 ? atoi(argv[2]) : 7, r, i;
    static feed_case feeds[4];
    static pub_case pubs[3];
    static const size_t windows[3] = {1, 100, 1000};
    nostr_ctx *ctx = nostr_ctx_new(NULL);
    corpus cp;
    size_t bytes = 0, small = 0, small_bytes = 0, k;
    if (rounds < 1 || rounds > MAX_ROUNDS) rounds = 7;
    if (!ctx || corpus_load(&cp, path, ctx)) {
        fprintf(stderr, "bench_client: cannot load %s\n", path);
        return 1;
    }
    for (k = 0; k < cp.count; k++) {
        size_t len = strlen(cp.lines[k]);
        bytes += len;
        if (len <= 1024) small++, small_bytes += len;
    }
    printf("corpus: %s: %lu events, mean %.0f bytes; %lu up to 1 KiB, mean %.0f bytes\n", path, (unsigned long)cp.count,
           (double)bytes / (double)cp.count, (unsigned long)small, small ? (double)small_bytes / (double)small : 0.0);
    for (i = 0; i < 4; i++) {
        feeds[i].verify = i < 2;
        feeds[i].label = i == 0   ? "all events, verify"
                         : i == 1 ? "<= 1 KiB, verify"
                         : i == 2 ? "all events, no verify"
                                  : "<= 1 KiB, no verify";
        feeds[i].reps = feeds[i].verify ? 1 : 10;
        build_stream(&feeds[i], &cp, i & 1 ? 1024 : (size_t)-1);
        conn_open(&feeds[i].k, ctx, feeds[i].verify);
    }
    for (i = 0; i < 3; i++) {
        pubs[i].window = windows[i];
        pubs[i].reps = 5;
        conn_open(&pubs[i].k, ctx, 1);
    }
    for (r = 0; r < rounds; r++) {
        for (i = 0; i < 4; i++)
            if (feed_round(&feeds[i], r)) return 1;
        for (i = 0; i < 3; i++)
            if (pub_round(&pubs[i], &cp, r)) return 1;
    }
    printf("\n(a) relay -> client: EVENT messages fed in 64 KiB reads to on_event; median [min-max] of %d rounds\n",
           rounds);
    printf("%-22s %9s | %-28s | %s\n", "case", "msgs", "messages/s", "MB/s (wire)");
    for (i = 0; i < 4; i++)
        printf("%-22s %9lu | %-28s | %s\n", feeds[i].label, (unsigned long)(feeds[i].messages * (size_t)feeds[i].reps),
               spread(feeds[i].rate, rounds, "%.0f"), spread(feeds[i].mbs, rounds, "%.1f"));
    printf("\n(b) client -> relay: publish W events, relay answers OK for each, client correlates; messages/s,\n"
           "median [min-max] of %d rounds of %lu publishes\n",
           rounds, (unsigned long)(cp.count * 5));
    for (i = 0; i < 3; i++) {
        printf("W = %-4lu publish    %-28s (%s MB/s)\n", (unsigned long)pubs[i].window,
               spread(pubs[i].pub, rounds, "%.0f"), spread(pubs[i].pub_mbs, rounds, "%.1f"));
        printf("         OK handling %s\n", spread(pubs[i].ok, rounds, "%.0f"));
        printf("         client both %s\n", spread(pubs[i].client, rounds, "%.0f"));
        printf("         relay part  %s\n", spread(pubs[i].relay, rounds, "%.0f"));
        printf("         end to end  %s\n", spread(pubs[i].total, rounds, "%.0f"));
    }
    for (i = 0; i < 4; i++) {
        conn_close(&feeds[i].k);
        nostr_buf_free(&feeds[i].stream);
    }
    for (i = 0; i < 3; i++) conn_close(&pubs[i].k);
    corpus_free(&cp);
    nostr_ctx_free(ctx);
    return 0;
}
