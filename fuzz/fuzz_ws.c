/* WebSocket framer, both roles: any bytes must be handled without a crash;
 * the same bytes fed whole and in pieces must give the same callbacks and
 * the same sent bytes; text messages delivered are valid UTF-8; nothing is
 * delivered after CLOSED and on_close comes at most once.
 * Input: byte 0 picks the limits, byte 1 the piece size, the rest is the
 * stream. */
#define NOSTR_NO_BLOCKING
#define NOSTR_IMPLEMENTATION
#include "nostr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct fuzz_rec {
    uint64_t hash; /* every callback and sent byte, in order */
    int closes;
    int closed_seen;
    size_t max_message;
    unsigned rng;
} fuzz_rec;

static void fuzz_mix(fuzz_rec *r, const void *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++) r->hash = (r->hash ^ s[i]) * 1099511628211ull;
}

static void fuzz_mix_int(fuzz_rec *r, long long v)
{
    fuzz_mix(r, &v, sizeof v);
}

static int fuzz_send(void *user, const void *p, size_t n)
{
    fuzz_rec *r = (fuzz_rec *)user;
    if (r->closed_seen) abort(); /* nothing is sent after on_close */
    fuzz_mix_int(r, 1);
    fuzz_mix(r, p, n);
    return 0;
}

static void fuzz_message(void *user, int opcode, const char *p, size_t n)
{
    fuzz_rec *r = (fuzz_rec *)user;
    if (r->closed_seen || p[n] != 0 || n > r->max_message) abort();
    if (opcode == NOSTR_WS_OP_TEXT && !nostr_utf8_valid(p, n)) abort();
    if (opcode != NOSTR_WS_OP_TEXT && opcode != NOSTR_WS_OP_BINARY) abort();
    fuzz_mix_int(r, 2 + opcode);
    fuzz_mix(r, p, n);
}

static void fuzz_pong(void *user, const char *p, size_t n)
{
    fuzz_rec *r = (fuzz_rec *)user;
    if (r->closed_seen || n > 125) abort();
    fuzz_mix_int(r, 20);
    fuzz_mix(r, p, n);
}

static void fuzz_close(void *user, int code, const char *p, size_t n)
{
    fuzz_rec *r = (fuzz_rec *)user;
    r->closes++;
    r->closed_seen = 1;
    if (r->closes > 1 || n > 123) abort();
    fuzz_mix_int(r, 30 + code);
    fuzz_mix(r, p, n);
}

static int fuzz_rng(void *user, unsigned char *out, size_t n)
{
    unsigned *c = (unsigned *)user;
    size_t i;
    for (i = 0; i < n; i++) out[i] = (unsigned char)(++*c * 131u);
    return 0;
}

/* Feed data in pieces of `piece` bytes (0 = whole); returns the hash. */
static uint64_t fuzz_run(int role, size_t max_frame, size_t max_message, const uint8_t *data, size_t size,
                         size_t piece)
{
    nostr_ws ws;
    nostr_ws_config cfg;
    nostr_ws_callbacks cb;
    fuzz_rec r;
    size_t at = 0;
    memset(&cfg, 0, sizeof cfg);
    memset(&cb, 0, sizeof cb);
    memset(&r, 0, sizeof r);
    r.hash = 1469598103934665603ull;
    r.max_message = max_message;
    cfg.max_frame = max_frame;
    cfg.max_message = max_message;
    cfg.rng = fuzz_rng;
    cfg.rng_user = &r.rng;
    cb.user = &r;
    cb.send = fuzz_send;
    cb.on_message = fuzz_message;
    cb.on_pong = fuzz_pong;
    cb.on_close = fuzz_close;
    if (nostr_ws_init(&ws, role, &cfg, &cb) != NOSTR_OK) abort();
    while (at < size || size == 0) {
        size_t n = piece == 0 || size - at < piece ? size - at : piece;
        int rc = nostr_ws_feed(&ws, data + at, n);
        at += n;
        if (rc != NOSTR_OK) {
            if (nostr_ws_state(&ws) != NOSTR_WS_CLOSED) abort();
            break;
        }
        if (nostr_ws_state(&ws) == NOSTR_WS_CLOSED || size == 0) break;
    }
    if (nostr_ws_state(&ws) == NOSTR_WS_CLOSED) {
        if (r.closes != 1) abort();
        if (nostr_ws_feed(&ws, "\x81\x00", 2) != NOSTR_ERR_CLOSED) abort();
        if (nostr_ws_send_text(&ws, "x", 1) != NOSTR_ERR_CLOSED) abort();
    }
    nostr_ws_free(&ws);
    return r.hash;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t limits[4] = {0, 16, 300, 70000};
    size_t max_frame, max_message, piece;
    int role;
    if (size < 2) return 0;
    max_frame = limits[data[0] & 3];
    max_message = limits[(data[0] >> 2) & 3];
    if (max_message == 0) max_message = 1u << 20;
    if (max_frame == 0) max_frame = 1u << 20;
    piece = (size_t)data[1] % 17 + 1;
    data += 2;
    size -= 2;
    for (role = NOSTR_WS_SERVER; role <= NOSTR_WS_CLIENT; role++) {
        uint64_t whole = fuzz_run(role, max_frame, max_message, data, size, 0);
        if (fuzz_run(role, max_frame, max_message, data, size, piece) != whole) abort();
        if (size < 4096 && fuzz_run(role, max_frame, max_message, data, size, 1) != whole) abort();
    }
    return 0;
}
