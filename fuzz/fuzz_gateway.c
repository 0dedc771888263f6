/* The gateway state machine: what an upstream relay sends and what a REST
 * client asks must never crash it, leak, or get an unverified event past
 * it. Byte 0 picks the mode: even, the rest is split at '\n' into
 * messages an upstream sends as text frames after a valid upgrade; odd,
 * the rest is one HTTP request for nostr_gateway_http (reads from a
 * memory store holding one event). Invariant checked: every item handed
 * to the sink with an event is that event's JSON, with a valid id and
 * signature. */
#define _POSIX_C_SOURCE 200809L
#define NOSTR_NO_BLOCKING
#define NOSTR_IMPLEMENTATION
#define NOSTR_RELAY_IMPLEMENTATION
#define NOSTR_GATEWAY_IMPLEMENTATION
#include "nostr_gateway.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct fuzz_gw {
    nostr_ctx *ctx;
    nostr_gateway *gw;
    nostr_gateway_upstream *up;
    nostr_buf sent; /* what the gateway's client wrote */
    int connect_asked, closed;
} fuzz_gw;

static int f_connect(void *user, nostr_gateway_upstream *up, const char *host, int port)
{
    fuzz_gw *f = (fuzz_gw *)user;
    (void)host;
    (void)port;
    f->up = up;
    f->connect_asked = 1;
    return 0;
}

static int f_send(void *user, nostr_gateway_upstream *up, const void *data, size_t n)
{
    (void)up;
    return nostr_buf_append(&((fuzz_gw *)user)->sent, data, n) == NOSTR_OK ? 0 : -1;
}

static void f_close(void *user, nostr_gateway_upstream *up)
{
    (void)up;
    ((fuzz_gw *)user)->closed = 1;
}

static int f_submit(void *user, const nostr_gateway_item *it)
{
    fuzz_gw *f = (fuzz_gw *)user;
    if (it->json) {
        nostr_event ev;
        nostr_arena a;
        int ok;
        nostr_arena_init(&a, NULL, 0, NULL);
        ok = nostr_event_parse(&ev, it->json, it->len, &a, NULL, NULL) == NOSTR_OK &&
             nostr_event_validate(f->ctx, &ev, NULL, NULL) == NOSTR_OK && memcmp(ev.id, it->id, 32) == 0;
        nostr_arena_free(&a);
        if (!ok) __builtin_trap(); /* an unverified event got through */
    }
    return NOSTR_OK;
}

static long long f_time(void *user)
{
    (void)user;
    return 1700000000;
}

static void frame(nostr_buf *out, const char *p, size_t len)
{
    unsigned char h[10];
    size_t hl = 2, i;
    h[0] = 0x81;
    if (len < 126) {
        h[1] = (unsigned char)len;
    } else if (len < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        hl = 4;
    } else {
        h[1] = 127;
        for (i = 0; i < 8; i++) h[2 + i] = (unsigned char)((unsigned long long)len >> (8 * (7 - i)));
        hl = 10;
    }
    nostr_buf_append(out, h, hl);
    nostr_buf_append(out, p, len);
}

static void upstream(fuzz_gw *f, const char *d, size_t n)
{
    nostr_buf in;
    const char *key, *end, *p = d, *stop = d + n;
    char accept[29];
    nostr_error err;
    if (nostr_gateway_add(f->gw, 1, "ws://127.0.0.1:7000/", NULL, 0, 1700000000, NULL, &err) != NOSTR_OK) return;
    nostr_gateway_tick(f->gw, 1000);
    if (!f->connect_asked) return;
    nostr_gateway_connected(f->gw, f->up, 1000);
    nostr_buf_append_char(&f->sent, 0);
    key = strstr(f->sent.data, "Sec-WebSocket-Key: ");
    end = strstr(f->sent.data, "\r\n\r\n");
    if (!key || !end) return;
    nostr_ws_accept_key(key + 19, 24, accept);
    nostr_buf_init(&in, NULL);
    nostr_buf_append_str(&in, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Accept: ");
    nostr_buf_append(&in, accept, 28);
    nostr_buf_append_str(&in, "\r\n\r\n");
    while (p < stop) {
        const char *nl = (const char *)memchr(p, '\n', (size_t)(stop - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(stop - p);
        frame(&in, p, len);
        p += len + (nl ? 1 : 0);
    }
    (void)nostr_gateway_feed(f->gw, f->up, in.data, in.len, 1000);
    nostr_gateway_tick(f->gw, 7000);
    nostr_buf_free(&in);
}

static void put_done(void *user, int result, const char *msg)
{
    (void)user;
    (void)result;
    (void)msg;
}

static void rest(fuzz_gw *f, nostr_store_builtin *sb, const char *d, size_t n)
{
    nostr_http_parser p;
    nostr_buf resp;
    size_t used = 0;
    static const char ev[] =
        "{\"id\":\"4376c65d2f232afbe9b882a35baa4f6fe8667c4e684749af565f981833ed6a65\",\"pubkey\":"
        "\"6e468422dfb74a5738702a8823b9b28168abab8655faacb6853cd0ee15deee93\",\"created_at\":1673347337,"
        "\"kind\":1,\"tags\":[[\"t\",\"x\"]],\"content\":\"hello\",\"sig\":\"908a15e46fb4d8675bab026fc230a0e3542bfade63da02d5"
        "42fb78b2a8513fcd0092619a2c8c1221e581946e0191f2af505dfdf8657a414dbca329186f009262\"}";
    nostr_event e;
    nostr_arena a;
    nostr_store st = nostr_store_builtin_iface(sb);
    nostr_arena_init(&a, NULL, 0, NULL);
    if (nostr_event_parse(&e, ev, sizeof ev - 1, &a, NULL, NULL) == NOSTR_OK)
        (void)st.put(st.self, &e, ev, sizeof ev - 1, put_done, NULL);
    (void)nostr_store_builtin_commit(sb);
    nostr_arena_free(&a);
    nostr_http_parser_init(&p, NOSTR_HTTP_REQUEST, NULL);
    nostr_buf_init(&resp, NULL);
    if (nostr_http_feed(&p, d, n, &used) == NOSTR_HTTP_DONE) {
        if (nostr_gateway_http(f->gw, &p.msg, &resp) == 1 && (resp.len < 12 || memcmp(resp.data, "HTTP/1.1 ", 9) != 0))
            __builtin_trap(); /* an answer must be a whole response */
    }
    nostr_buf_free(&resp);
    nostr_http_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_gw f;
    nostr_gateway_config gc;
    nostr_gateway_callbacks cb;
    nostr_store_builtin *sb = NULL;
    nostr_store_builtin_config sc;
    nostr_error err;
    if (size < 1) return 0;
    memset(&f, 0, sizeof f);
    f.ctx = nostr_ctx_new(NULL);
    nostr_buf_init(&f.sent, NULL);
    memset(&sc, 0, sizeof sc);
    if (!f.ctx || nostr_store_builtin_open(&sb, &sc, &err) != NOSTR_OK) __builtin_trap();
    memset(&gc, 0, sizeof gc);
    gc.ctx = f.ctx;
    gc.token = "t";
    gc.dedup_ids = 1024;
    gc.reads = nostr_store_builtin_iface(sb);
    memset(&cb, 0, sizeof cb);
    cb.user = &f;
    cb.connect = f_connect;
    cb.send = f_send;
    cb.close = f_close;
    cb.submit = f_submit;
    cb.unix_time = f_time;
    f.gw = nostr_gateway_new(&gc, &cb);
    if (!f.gw) __builtin_trap();
    if (data[0] & 1)
        rest(&f, sb, (const char *)data + 1, size - 1);
    else
        upstream(&f, (const char *)data + 1, size - 1);
    nostr_gateway_free(f.gw);
    nostr_store_builtin_close(sb);
    nostr_buf_free(&f.sent);
    nostr_ctx_free(f.ctx);
    return 0;
}
