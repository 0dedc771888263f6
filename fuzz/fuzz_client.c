/* The relay client fed arbitrary bytes from a relay, after a valid 101:
 * first byte odd -> the rest is wrapped as one text frame (reaches the
 * NIP-01 layer at once); even -> the rest is raw bytes (framing). The
 * input is fed in two pieces split at a point taken from the second byte,
 * and ticks run in between. It must never crash, leak or hang. */
#define NOSTR_NO_BLOCKING
#define NOSTR_IMPLEMENTATION
#include "nostr.h"

typedef struct {
    nostr_buf sent;
} fuzz_peer;

static int fz_send(void *user, const void *p, size_t n)
{
    return nostr_buf_append(&((fuzz_peer *)user)->sent, p, n) ? 1 : 0;
}

static int fz_connect(void *user, const char *host, int port)
{
    (void)user;
    (void)host;
    (void)port;
    return 0;
}

static long long fz_time(void *user)
{
    (void)user;
    return 1700000000;
}

/* Deterministic RNG: fuzzing must be reproducible. */
static int fz_rng(void *user, unsigned char *out, size_t n)
{
    unsigned *s = (unsigned *)user;
    size_t i;
    for (i = 0; i < n; i++) {
        *s = *s * 1103515245u + 12345u;
        out[i] = (unsigned char)(*s >> 16);
    }
    return 0;
}

static void fz_answer_101(fuzz_peer *peer, nostr_buf *out)
{
    const char *key = strstr(peer->sent.data ? peer->sent.data : "", "Sec-WebSocket-Key: ");
    char accept[29];
    if (!key) return;
    nostr_ws_accept_key(key + 19, 24, accept);
    nostr_buf_append_str(out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Accept: ");
    nostr_buf_append_str(out, accept);
    nostr_buf_append_str(out, "\r\n\r\n");
}

static void fz_text_frame(nostr_buf *out, const unsigned char *p, size_t n)
{
    unsigned char h[10];
    size_t hl = 2;
    h[0] = 0x81;
    if (n < 126) {
        h[1] = (unsigned char)n;
    } else if (n < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        return;
    }
    nostr_buf_append(out, h, hl);
    nostr_buf_append(out, p, n);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static const char EV[] = "{}";
    unsigned seed = 7;
    nostr_ctx_config cc;
    nostr_ctx *ctx;
    nostr_client_callbacks cb;
    nostr_client *c;
    fuzz_peer peer;
    nostr_buf in;
    size_t split;
    long long now = 1000;
    nostr_filter f;
    if (size < 2) return 0;
    memset(&cc, 0, sizeof cc);
    cc.rng = fz_rng;
    cc.rng_user = &seed;
    ctx = nostr_ctx_new(&cc);
    if (!ctx) return 0;
    memset(&cb, 0, sizeof cb);
    nostr_buf_init(&peer.sent, NULL);
    nostr_buf_init(&in, NULL);
    cb.user = &peer;
    cb.send = fz_send;
    cb.connect = fz_connect;
    cb.unix_time = fz_time;
    c = nostr_client_new(ctx, "ws://relay.test/", NULL, &cb, NULL);
    if (c) {
        memset(&f, 0, sizeof f);
        nostr_client_start(c, now);
        nostr_client_connected(c, now);
        /* a subscription and a publish, so answers have something to match */
        nostr_client_req(c, "s", &f, 1, now);
        nostr_client_publish_json(c, EV, sizeof EV - 1, now);
        fz_answer_101(&peer, &in);
        if (data[0] & 1)
            fz_text_frame(&in, data + 2, size - 2);
        else
            nostr_buf_append(&in, data + 2, size - 2);
        split = in.len ? data[1] % (in.len + 1) : 0;
        nostr_client_feed(c, in.data, split, now);
        nostr_client_tick(c, now + 40000);
        nostr_client_feed(c, in.data + split, in.len - split, now + 40001);
        nostr_client_tick(c, now + 200000);
        nostr_client_free(c);
    }
    nostr_buf_free(&in);
    nostr_buf_free(&peer.sent);
    nostr_ctx_free(ctx);
    return 0;
}
