/* The relay state machine over a memory built-in store: any bytes on one
 * connection must be handled without a crash, a leak or a malformed
 * answer. A second connection subscribed to everything watches the
 * fan-out. Every byte the relay sends after the 101 is decoded by a
 * client framer: it must be well-formed frames, and every text message a
 * relay message that nostr_msg_parse accepts.
 *
 * Input: byte 0 picks the mode (low 2 bits: 0 raw bytes from the first
 * HTTP byte; 1 raw frames after a valid upgrade; 2 and 3 after the
 * upgrade, the rest split at '\n' into messages sent as masked text
 * frames) and the limits (bit 2: small limits); byte 1 the piece size
 * for feeding; the rest is the stream. Between messages the store
 * commits and the clock moves.
 *
 * The store starts with a few signed events (fuzz_seed_events), so a REQ
 * or COUNT walks real index lists even when no EVENT in the input
 * verifies: a mutated EVENT almost never does. Their authors are the keys
 * of secrets 01..01 and 02..02 (pubkeys in the corpus file req_seeded). */
#define _POSIX_C_SOURCE 200809L
#define NOSTR_NO_BLOCKING
#define NOSTR_IMPLEMENTATION
#define NOSTR_RELAY_IMPLEMENTATION
#include "nostr_relay.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NOW_MS 1700000000000LL

typedef struct fuzz_peer {
    nostr_relay_conn *c;
    nostr_ws ws;          /* client framer decoding the relay's output */
    nostr_http_parser hp; /* the 101 (or other HTTP answers) */
    int ws_ready, http_only, closed;
    nostr_arena arena;
} fuzz_peer;

static nostr_ctx *fuzz_ctx;
static unsigned long long fuzz_seed;

static int fuzz_rng(void *user, unsigned char *out, size_t n)
{
    unsigned long long *s = (unsigned long long *)user;
    size_t i;
    for (i = 0; i < n; i++) {
        *s = *s * 6364136223846793005ull + 1442695040888963407ull;
        out[i] = (unsigned char)(*s >> 33);
    }
    return 0;
}

static void fuzz_wake(void *user, void *conn_user)
{
    (void)user;
    (void)conn_user;
}

static int fuzz_discard(void *user, const void *p, size_t n)
{
    (void)user;
    (void)p;
    (void)n;
    return 0; /* the client framer's own answers (pongs, close echo) go nowhere */
}

static void fuzz_on_message(void *user, int opcode, const char *p, size_t n)
{
    fuzz_peer *peer = (fuzz_peer *)user;
    nostr_msg m;
    if (opcode != NOSTR_WS_OP_TEXT) abort(); /* the relay sends text only */
    nostr_arena_reset(&peer->arena);
    if (nostr_msg_parse(&m, NOSTR_FROM_RELAY, p, n, &peer->arena, NULL, NULL) != NOSTR_OK) abort();
}

static void fuzz_on_close(void *user, int code, const char *p, size_t n)
{
    fuzz_peer *peer = (fuzz_peer *)user;
    (void)code;
    (void)p;
    (void)n;
    peer->closed = 1;
}

static void fuzz_peer_init(fuzz_peer *peer, nostr_relay *r, const char *ip)
{
    nostr_ws_config wc;
    nostr_ws_callbacks cb;
    memset(peer, 0, sizeof *peer);
    memset(&wc, 0, sizeof wc);
    wc.rng = fuzz_rng;
    wc.rng_user = &fuzz_seed;
    wc.max_frame = wc.max_message = 4u << 20;
    memset(&cb, 0, sizeof cb);
    cb.user = peer;
    cb.send = fuzz_discard;
    cb.on_message = fuzz_on_message;
    cb.on_close = fuzz_on_close;
    nostr_ws_init(&peer->ws, NOSTR_WS_CLIENT, &wc, &cb);
    nostr_http_parser_init(&peer->hp, NOSTR_HTTP_RESPONSE, NULL);
    nostr_arena_init(&peer->arena, NULL, 0, NULL);
    peer->c = nostr_relay_accept(r, ip, peer);
}

static void fuzz_peer_free(nostr_relay *r, fuzz_peer *peer)
{
    if (peer->c) nostr_relay_closed(r, peer->c);
    nostr_ws_free(&peer->ws);
    nostr_http_parser_free(&peer->hp);
    nostr_arena_free(&peer->arena);
}

/* Take the relay's output: HTTP answers, then frames after a 101. */
static void fuzz_drain(nostr_relay *r, fuzz_peer *peer)
{
    const void *p;
    size_t len;
    if (!peer->c) return;
    while ((len = nostr_relay_output(peer->c, &p)) > 0) {
        const char *s = (const char *)p;
        size_t at = 0;
        while (at < len && !peer->ws_ready && !peer->http_only) {
            size_t used = 0;
            int rc = nostr_http_feed(&peer->hp, s + at, len - at, &used);
            if (rc == NOSTR_HTTP_MORE) {
                at = len;
            } else if (rc == NOSTR_HTTP_DONE) {
                at += used;
                if (peer->hp.msg.status == 101)
                    peer->ws_ready = 1;
                else
                    nostr_http_parser_reset(&peer->hp);
            } else {
                abort(); /* the relay wrote a malformed HTTP answer */
            }
        }
        if (at < len && peer->ws_ready && nostr_ws_state(&peer->ws) != NOSTR_WS_CLOSED) {
            if (nostr_ws_feed(&peer->ws, s + at, len - at) == NOSTR_ERR_WS) abort();
        }
        nostr_relay_consume(r, peer->c, len);
    }
}

static void fuzz_feed(nostr_relay *r, fuzz_peer *peer, const unsigned char *p, size_t n, size_t piece)
{
    size_t i;
    for (i = 0; i < n && peer->c; i += piece) {
        size_t k = n - i < piece ? n - i : piece;
        if (nostr_relay_feed(r, peer->c, p + i, k) != NOSTR_OK) break;
        fuzz_drain(r, peer);
    }
    fuzz_drain(r, peer);
}

/* A masked text frame (mask key 0: the payload as is). */
static void fuzz_frame(nostr_buf *b, const unsigned char *p, size_t n)
{
    unsigned char h[14];
    size_t hl = 2;
    int i;
    h[0] = 0x81;
    if (n <= 125) {
        h[1] = (unsigned char)(0x80 | n);
    } else if (n <= 0xFFFF) {
        h[1] = 0x80 | 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = 0x80 | 127;
        for (i = 0; i < 8; i++) h[2 + i] = (unsigned char)((unsigned long long)n >> (56 - 8 * i));
        hl = 10;
    }
    memset(h + hl, 0, 4);
    nostr_buf_append(b, h, hl + 4);
    nostr_buf_append(b, p, n);
}

/* Signed once, put into every run's fresh store: kind 1 with t and p
 * tags, a kind 0, an addressable 30023, a kind 7 with an e tag. */
enum { FUZZ_SEEDS = 4 };
static nostr_event fuzz_seeds[FUZZ_SEEDS];
static nostr_buf fuzz_seed_json[FUZZ_SEEDS];
static nostr_arena fuzz_seed_arena;

static void fuzz_seed_events(void)
{
    static const char *const t1[] = {"t", "nostr"}, *const d1[] = {"d", "x"};
    unsigned char sec[32];
    nostr_keys k[2];
    const char *p1[2], *e1[2];
    char phex[65], ehex[65];
    int i;
    nostr_arena_init(&fuzz_seed_arena, NULL, 0, NULL);
    for (i = 0; i < 2; i++) {
        memset(sec, i + 1, sizeof sec);
        if (nostr_keys_from_secret(fuzz_ctx, sec, &k[i]) != NOSTR_OK) abort();
    }
    nostr_hex_encode(k[1].pub, 32, phex);
    p1[0] = "p", p1[1] = phex;
    if (nostr_event_init(&fuzz_seeds[0], &fuzz_seed_arena, 1, 1699999000, "hello nostr", 11) != NOSTR_OK ||
        nostr_event_add_tag(&fuzz_seeds[0], &fuzz_seed_arena, t1, 2) != NOSTR_OK ||
        nostr_event_add_tag(&fuzz_seeds[0], &fuzz_seed_arena, p1, 2) != NOSTR_OK ||
        nostr_event_sign(fuzz_ctx, &fuzz_seeds[0], &k[0]) != NOSTR_OK)
        abort();
    nostr_hex_encode(fuzz_seeds[0].id, 32, ehex);
    e1[0] = "e", e1[1] = ehex;
    if (nostr_event_init(&fuzz_seeds[1], &fuzz_seed_arena, 0, 1699999001, "{\"name\":\"b\"}", 12) != NOSTR_OK ||
        nostr_event_sign(fuzz_ctx, &fuzz_seeds[1], &k[1]) != NOSTR_OK ||
        nostr_event_init(&fuzz_seeds[2], &fuzz_seed_arena, 30023, 1699999002, "long form", 9) != NOSTR_OK ||
        nostr_event_add_tag(&fuzz_seeds[2], &fuzz_seed_arena, d1, 2) != NOSTR_OK ||
        nostr_event_sign(fuzz_ctx, &fuzz_seeds[2], &k[0]) != NOSTR_OK ||
        nostr_event_init(&fuzz_seeds[3], &fuzz_seed_arena, 7, 1699999003, "+", 1) != NOSTR_OK ||
        nostr_event_add_tag(&fuzz_seeds[3], &fuzz_seed_arena, e1, 2) != NOSTR_OK ||
        nostr_event_sign(fuzz_ctx, &fuzz_seeds[3], &k[1]) != NOSTR_OK)
        abort();
    for (i = 0; i < FUZZ_SEEDS; i++) {
        nostr_buf_init(&fuzz_seed_json[i], NULL);
        if (nostr_event_to_json(&fuzz_seeds[i], &fuzz_seed_json[i]) != NOSTR_OK) abort();
    }
}

static void fuzz_put_done(void *user, int result, const char *msg)
{
    (void)msg;
    if (result != NOSTR_STORE_SAVED) abort();
    ++*(int *)user;
}

static void fuzz_store_seeds(nostr_store_builtin *sb, const nostr_store *st)
{
    int i, saved = 0;
    for (i = 0; i < FUZZ_SEEDS; i++)
        if (st->put(st->self, &fuzz_seeds[i], (const char *)fuzz_seed_json[i].data, fuzz_seed_json[i].len,
                    fuzz_put_done, &saved) != NOSTR_OK)
            abort();
    nostr_store_builtin_commit(sb);
    if (saved != FUZZ_SEEDS) abort();
}

static const char fuzz_upgrade[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1:7777\r\nUpgrade: websocket\r\n"
                                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                   "Sec-WebSocket-Version: 13\r\n\r\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nostr_store_builtin *sb;
    nostr_store_builtin_config sc;
    nostr_error err;
    nostr_store st;
    nostr_relay_config cfg;
    nostr_relay_callbacks cb;
    nostr_relay *r;
    fuzz_peer peer, watcher;
    nostr_buf frames;
    size_t piece;
    int mode;
    long long now = FUZZ_NOW_MS;
    static const unsigned char watch_req[] = "[\"REQ\",\"all\",{}]";
    if (size < 2) return 0;
    if (!fuzz_ctx) {
        nostr_ctx_config cc;
        memset(&cc, 0, sizeof cc);
        cc.rng = fuzz_rng;
        cc.rng_user = &fuzz_seed;
        fuzz_ctx = nostr_ctx_new(&cc);
        if (!fuzz_ctx) abort();
        fuzz_seed_events();
    }
    fuzz_seed = 1;
    mode = data[0] & 3;
    piece = data[1] ? data[1] : size;
    data += 2;
    size -= 2;

    memset(&sc, 0, sizeof sc);
    if (nostr_store_builtin_open(&sb, &sc, &err) != NOSTR_OK) abort();
    st = nostr_store_builtin_iface(sb);
    fuzz_store_seeds(sb, &st);
    memset(&cfg, 0, sizeof cfg);
    cfg.ctx = fuzz_ctx;
    cfg.relay_url = "ws://127.0.0.1:7777/";
    if (data[-2] & 4) {
        cfg.limits.max_message = 4096;
        cfg.limits.max_output = 2048;
        cfg.limits.max_subs = 3;
        cfg.limits.max_filters = 2;
        cfg.limits.max_tags = 4;
        cfg.limits.max_content = 64;
        cfg.limits.events_burst = 3;
        cfg.limits.reqs_burst = 3;
        cfg.limits.min_pow = 1;
        cfg.auth_required_write = 1;
    }
    memset(&cb, 0, sizeof cb);
    cb.wake = fuzz_wake;
    r = nostr_relay_new(&cfg, &cb, &st);
    if (!r) abort();
    nostr_relay_tick(r, now);
    fuzz_peer_init(&watcher, r, "10.0.0.1");
    fuzz_peer_init(&peer, r, "10.0.0.2");
    nostr_buf_init(&frames, NULL);
    fuzz_feed(r, &watcher, (const unsigned char *)fuzz_upgrade, sizeof fuzz_upgrade - 1, sizeof fuzz_upgrade);
    fuzz_frame(&frames, watch_req, sizeof watch_req - 1);
    fuzz_feed(r, &watcher, (const unsigned char *)frames.data, frames.len, frames.len);
    nostr_buf_clear(&frames);

    if (mode == 0) {
        peer.http_only = 0;
        fuzz_feed(r, &peer, data, size, piece);
    } else {
        fuzz_feed(r, &peer, (const unsigned char *)fuzz_upgrade, sizeof fuzz_upgrade - 1, piece);
        if (mode == 1) {
            fuzz_feed(r, &peer, data, size, piece);
        } else {
            size_t start = 0, i;
            for (i = 0; i <= size; i++) {
                if (i < size && data[i] != '\n') continue;
                nostr_buf_clear(&frames);
                fuzz_frame(&frames, data + start, i - start);
                fuzz_feed(r, &peer, (const unsigned char *)frames.data, frames.len, piece);
                start = i + 1;
                nostr_store_builtin_commit(sb);
                now += 700;
                nostr_relay_tick(r, now);
                fuzz_drain(r, &peer);
                fuzz_drain(r, &watcher);
            }
        }
    }
    nostr_store_builtin_commit(sb);
    fuzz_drain(r, &peer);
    fuzz_drain(r, &watcher);
    nostr_relay_shutdown(r);
    fuzz_drain(r, &peer);
    fuzz_drain(r, &watcher);
    fuzz_peer_free(r, &peer);
    fuzz_peer_free(r, &watcher);
    nostr_buf_free(&frames);
    nostr_relay_free(r);
    nostr_store_builtin_close(sb);
    return 0;
}
