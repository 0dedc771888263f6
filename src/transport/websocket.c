/* ---- websocket: implementation ---- */

#define NOSTR__WS_DEFAULT_MAX (1u << 20)
#define NOSTR__WS_RX_HEADER 0
#define NOSTR__WS_RX_PAYLOAD 1
/* Frames up to this size go out in one send call (header + payload copied
 * together); bigger ones are sent as header, then payload chunks. */
#define NOSTR__WS_TX_CHUNK 8192

static const char nostr__ws_empty[1] = "";

/* ---- SHA-1 (only for Sec-WebSocket-Accept; not used for security) ---- */

typedef struct nostr__ws_sha1 {
    uint32_t h[5];
    unsigned char block[64];
    size_t block_len;
    uint64_t total;
} nostr__ws_sha1;

static uint32_t nostr__ws_rol(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

static void nostr__ws_sha1_init(nostr__ws_sha1 *s)
{
    s->h[0] = 0x67452301u;
    s->h[1] = 0xEFCDAB89u;
    s->h[2] = 0x98BADCFEu;
    s->h[3] = 0x10325476u;
    s->h[4] = 0xC3D2E1F0u;
    s->block_len = 0;
    s->total = 0;
}

static void nostr__ws_sha1_block(nostr__ws_sha1 *s, const unsigned char *p)
{
    uint32_t w[80], a, b, c, d, e, f, k, t;
    int i;
    for (i = 0; i < 16; i++)
        w[i] = ((uint32_t)p[4 * i] << 24) | ((uint32_t)p[4 * i + 1] << 16) | ((uint32_t)p[4 * i + 2] << 8) |
               (uint32_t)p[4 * i + 3];
    for (i = 16; i < 80; i++) w[i] = nostr__ws_rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    a = s->h[0];
    b = s->h[1];
    c = s->h[2];
    d = s->h[3];
    e = s->h[4];
    for (i = 0; i < 80; i++) {
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999u;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1u;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDCu;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6u;
        }
        t = nostr__ws_rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = nostr__ws_rol(b, 30);
        b = a;
        a = t;
    }
    s->h[0] += a;
    s->h[1] += b;
    s->h[2] += c;
    s->h[3] += d;
    s->h[4] += e;
}

static void nostr__ws_sha1_update(nostr__ws_sha1 *s, const void *data, size_t n)
{
    const unsigned char *p = (const unsigned char *)data;
    s->total += n;
    while (n > 0) {
        size_t take = 64 - s->block_len;
        if (take > n) take = n;
        memcpy(s->block + s->block_len, p, take);
        s->block_len += take;
        p += take;
        n -= take;
        if (s->block_len == 64) {
            nostr__ws_sha1_block(s, s->block);
            s->block_len = 0;
        }
    }
}

static void nostr__ws_sha1_final(nostr__ws_sha1 *s, unsigned char out[20])
{
    uint64_t bits = s->total * 8;
    unsigned char pad = 0x80, zero = 0, len_be[8];
    int i;
    for (i = 0; i < 8; i++) len_be[i] = (unsigned char)(bits >> (56 - 8 * i));
    nostr__ws_sha1_update(s, &pad, 1);
    while (s->block_len != 56) nostr__ws_sha1_update(s, &zero, 1);
    nostr__ws_sha1_update(s, len_be, 8);
    for (i = 0; i < 20; i++) out[i] = (unsigned char)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

NOSTRDEF void nostr_ws_accept_key(const char *key, size_t len, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    nostr__ws_sha1 s;
    unsigned char digest[20];
    char mem[32];
    nostr_buf b;
    nostr__ws_sha1_init(&s);
    nostr__ws_sha1_update(&s, key, len);
    nostr__ws_sha1_update(&s, guid, sizeof guid - 1);
    nostr__ws_sha1_final(&s, digest);
    nostr_buf_init_fixed(&b, mem, sizeof mem);
    /* 20 bytes encode to exactly 28 characters: a 32-byte buffer suffices */
    if (nostr_base64_encode(digest, sizeof digest, &b) != NOSTR_OK || b.len != 28) {
        out[0] = 0;
        return;
    }
    memcpy(out, b.data, 28);
    out[28] = 0;
}

/* ---- framer: shared helpers ---- */

/* XOR n bytes with the masking key, starting at offset pos of the payload.
 * dst may equal src. Eight bytes at a time: the key repeats every 4. */
static void nostr__ws_mask(unsigned char *dst, const unsigned char *src, size_t n, const unsigned char key[4],
                           uint64_t pos)
{
    unsigned char k[8];
    uint64_t k64, w;
    size_t i = 0;
    int j;
    for (j = 0; j < 8; j++) k[j] = key[(pos + (uint64_t)j) & 3];
    memcpy(&k64, k, 8);
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, src + i, 8);
        w ^= k64;
        memcpy(dst + i, &w, 8);
    }
    for (; i < n; i++) dst[i] = (unsigned char)(src[i] ^ k[i & 7]);
}

/* RFC 6455 section 7.4 plus the codes IANA registered since (1012-1014);
 * 1004-1006 and 1015 are reserved, never sent. */
NOSTRDEF int nostr_ws_close_code_valid(int code)
{
    if (code >= 1000 && code <= 1003) return 1;
    if (code >= 1007 && code <= 1014) return 1;
    return code >= 3000 && code <= 4999;
}

NOSTRDEF int nostr_ws_state(const nostr_ws *ws)
{
    return ws->state;
}

/* Enter CLOSED and report on_close exactly once. */
static void nostr__ws_finish(nostr_ws *ws, int code, const char *reason, size_t len)
{
    ws->state = NOSTR_WS_CLOSED;
    if (ws->close_reported) return;
    ws->close_reported = 1;
    ws->close_code = code;
    if (ws->cb.on_close) ws->cb.on_close(ws->cb.user, code, reason ? reason : nostr__ws_empty, len);
}

static int nostr__ws_write(nostr_ws *ws, const void *p, size_t n)
{
    int rc = ws->cb.send(ws->cb.user, p, n);
    if (rc == 0) return NOSTR_OK;
    nostr__ws_finish(ws, NOSTR_WS_CLOSE_ABNORMAL, NULL, 0);
    return rc < 0 ? rc : NOSTR_ERR_NET;
}

static int nostr__ws_next_mask(nostr_ws *ws, unsigned char key[4])
{
    if (ws->mask_pool_used + 4 > sizeof ws->mask_pool) {
        int rc;
        if (ws->cfg.rng)
            rc = ws->cfg.rng(ws->cfg.rng_user, ws->mask_pool, sizeof ws->mask_pool);
        else
            rc = nostr_random(ws->cfg.ctx, ws->mask_pool, sizeof ws->mask_pool);
        if (rc != 0) return NOSTR_ERR_RNG;
        ws->mask_pool_used = 0;
    }
    memcpy(key, ws->mask_pool + ws->mask_pool_used, 4);
    ws->mask_pool_used += 4;
    return NOSTR_OK;
}

/* Write the header of a frame into hdr; returns its size (2 to 14). */
static size_t nostr__ws_header(unsigned char *hdr, int opcode, int fin, uint64_t len, const unsigned char *mask)
{
    size_t n = 2;
    int i;
    hdr[0] = (unsigned char)((fin ? 0x80 : 0) | opcode);
    hdr[1] = (unsigned char)(mask ? 0x80 : 0);
    if (len <= 125) {
        hdr[1] |= (unsigned char)len;
    } else if (len <= 0xFFFF) {
        hdr[1] |= 126;
        hdr[2] = (unsigned char)(len >> 8);
        hdr[3] = (unsigned char)len;
        n = 4;
    } else {
        hdr[1] |= 127;
        for (i = 0; i < 8; i++) hdr[2 + i] = (unsigned char)(len >> (56 - 8 * i));
        n = 10;
    }
    if (mask) {
        memcpy(hdr + n, mask, 4);
        n += 4;
    }
    return n;
}

/* Frame and send one frame; masks it in the client role. Small frames go
 * out in one send call; big ones in chunks of a stack buffer, so nothing
 * is allocated. */
static int nostr__ws_send_raw(nostr_ws *ws, int opcode, int fin, const void *data, size_t len)
{
    unsigned char buf[NOSTR__WS_TX_CHUNK + 14], key[4];
    const unsigned char *src = (const unsigned char *)data;
    int masked = ws->role == NOSTR_WS_CLIENT, rc;
    size_t hlen, done = 0;
    if (masked && (rc = nostr__ws_next_mask(ws, key)) != NOSTR_OK) return rc;
    hlen = nostr__ws_header(buf, opcode, fin, len, masked ? key : NULL);
    if (!masked && len > NOSTR__WS_TX_CHUNK) {
        rc = nostr__ws_write(ws, buf, hlen);
        return rc ? rc : nostr__ws_write(ws, src, len);
    }
    /* first chunk shares the buffer with the header */
    while (1) {
        size_t room = sizeof buf - hlen, take = len - done < room ? len - done : room;
        if (take) {
            if (masked)
                nostr__ws_mask(buf + hlen, src + done, take, key, done);
            else
                memcpy(buf + hlen, src + done, take);
        }
        if ((rc = nostr__ws_write(ws, buf, hlen + take)) != NOSTR_OK) return rc;
        done += take;
        hlen = 0;
        if (done >= len) return NOSTR_OK;
    }
}

static int nostr__ws_can_send(const nostr_ws *ws)
{
    return ws->state == NOSTR_WS_OPEN && !ws->close_sent;
}

static int nostr__ws_send_close_frame(nostr_ws *ws, int code, const char *reason, size_t len)
{
    unsigned char body[125];
    size_t n = 0;
    if (code) {
        body[0] = (unsigned char)(code >> 8);
        body[1] = (unsigned char)code;
        memcpy(body + 2, reason, len);
        n = 2 + len;
    }
    ws->close_sent = 1;
    return nostr__ws_send_raw(ws, NOSTR_WS_OP_CLOSE, 1, body, n);
}

/* This side fails the connection: send the close frame (if none was sent
 * yet), go CLOSED, report the code. */
static int nostr__ws_fail(nostr_ws *ws, int code, const char *why, int err)
{
    ws->error = why;
    if (!ws->close_sent && ws->state != NOSTR_WS_CLOSED)
        (void)nostr__ws_send_close_frame(ws, code, why, strlen(why));
    nostr__ws_finish(ws, code, why, strlen(why));
    return err;
}

/* ---- framer: public API ---- */

NOSTRDEF int nostr_ws_init(nostr_ws *ws, int role, const nostr_ws_config *cfg, const nostr_ws_callbacks *cb)
{
    if (!ws) return NOSTR_ERR_ARG;
    memset(ws, 0, sizeof *ws);
    if ((role != NOSTR_WS_SERVER && role != NOSTR_WS_CLIENT) || !cb || !cb->send) return NOSTR_ERR_ARG;
    if (cfg) ws->cfg = *cfg;
    if (role == NOSTR_WS_CLIENT && !ws->cfg.rng && !ws->cfg.ctx) return NOSTR_ERR_ARG;
    if (!ws->cfg.max_frame) ws->cfg.max_frame = NOSTR__WS_DEFAULT_MAX;
    if (!ws->cfg.max_message) ws->cfg.max_message = NOSTR__WS_DEFAULT_MAX;
    ws->role = role;
    ws->cb = *cb;
    ws->state = NOSTR_WS_OPEN;
    ws->rx_stage = NOSTR__WS_RX_HEADER;
    ws->rx_hdr_need = 2;
    ws->mask_pool_used = sizeof ws->mask_pool;
    return NOSTR_OK;
}

NOSTRDEF void nostr_ws_free(nostr_ws *ws)
{
    if (!ws) return;
    if (ws->msg) nostr_free(&ws->cfg.allocator, ws->msg);
    ws->msg = NULL;
    ws->msg_cap = ws->msg_len = 0;
}

NOSTRDEF int nostr_ws_send_frame(nostr_ws *ws, int opcode, int fin, const void *data, size_t len)
{
    if (!nostr__ws_can_send(ws)) return NOSTR_ERR_CLOSED;
    if (len && !data) return NOSTR_ERR_ARG;
    if (opcode == NOSTR_WS_OP_TEXT || opcode == NOSTR_WS_OP_BINARY) {
        if (ws->tx_frag_opcode) return NOSTR_ERR_ARG;
    } else if (opcode == NOSTR_WS_OP_CONT) {
        if (!ws->tx_frag_opcode) return NOSTR_ERR_ARG;
    } else {
        return NOSTR_ERR_ARG;
    }
    ws->tx_frag_opcode = fin ? 0 : (opcode == NOSTR_WS_OP_CONT ? ws->tx_frag_opcode : opcode);
    return nostr__ws_send_raw(ws, opcode, fin ? 1 : 0, data, len);
}

NOSTRDEF int nostr_ws_send_text(nostr_ws *ws, const char *text, size_t len)
{
    if (!nostr__ws_can_send(ws)) return NOSTR_ERR_CLOSED;
    if (len && !text) return NOSTR_ERR_ARG;
    if (!nostr_utf8_valid(text ? text : nostr__ws_empty, len)) return NOSTR_ERR_UTF8;
    return nostr_ws_send_frame(ws, NOSTR_WS_OP_TEXT, 1, text, len);
}

NOSTRDEF int nostr_ws_send_binary(nostr_ws *ws, const void *data, size_t len)
{
    return nostr_ws_send_frame(ws, NOSTR_WS_OP_BINARY, 1, data, len);
}

static int nostr__ws_send_control(nostr_ws *ws, int opcode, const void *data, size_t len)
{
    if (!nostr__ws_can_send(ws)) return NOSTR_ERR_CLOSED;
    if (len > 125 || (len && !data)) return NOSTR_ERR_ARG;
    return nostr__ws_send_raw(ws, opcode, 1, data, len);
}

NOSTRDEF int nostr_ws_send_ping(nostr_ws *ws, const void *data, size_t len)
{
    return nostr__ws_send_control(ws, NOSTR_WS_OP_PING, data, len);
}

NOSTRDEF int nostr_ws_send_pong(nostr_ws *ws, const void *data, size_t len)
{
    return nostr__ws_send_control(ws, NOSTR_WS_OP_PONG, data, len);
}

NOSTRDEF int nostr_ws_close(nostr_ws *ws, int code, const char *reason, size_t len)
{
    if (ws->close_received) return NOSTR_OK;
    if (!nostr__ws_can_send(ws)) return NOSTR_ERR_CLOSED;
    if (code && !nostr_ws_close_code_valid(code)) return NOSTR_ERR_ARG;
    if (!code && len) return NOSTR_ERR_ARG;
    if (len > 123 || (len && !reason) || !nostr_utf8_valid(reason ? reason : nostr__ws_empty, len))
        return NOSTR_ERR_ARG;
    ws->state = NOSTR_WS_CLOSING;
    return nostr__ws_send_close_frame(ws, code, reason, len);
}

NOSTRDEF void nostr_ws_abort(nostr_ws *ws)
{
    nostr__ws_finish(ws, NOSTR_WS_CLOSE_ABNORMAL, NULL, 0);
}

/* ---- framer: receive ---- */

static int nostr__ws_is_control(int opcode)
{
    return (opcode & 0x8) != 0;
}

/* Check the first two header bytes; returns the close code to fail with,
 * or 0. Also sets how many header bytes the frame has. */
static int nostr__ws_check_start(nostr_ws *ws)
{
    unsigned b0 = ws->rx_hdr[0], b1 = ws->rx_hdr[1], len7 = b1 & 0x7F;
    int opcode = (int)(b0 & 0x0F);
    if (b0 & 0x70) return (ws->error = "RSV bit set without an extension"), NOSTR_WS_CLOSE_PROTOCOL;
    if (opcode != NOSTR_WS_OP_CONT && opcode != NOSTR_WS_OP_TEXT && opcode != NOSTR_WS_OP_BINARY &&
        opcode != NOSTR_WS_OP_CLOSE && opcode != NOSTR_WS_OP_PING && opcode != NOSTR_WS_OP_PONG)
        return (ws->error = "unknown opcode"), NOSTR_WS_CLOSE_PROTOCOL;
    ws->rx_opcode = opcode;
    ws->rx_fin = (b0 & 0x80) != 0;
    ws->rx_masked = (b1 & 0x80) != 0;
    if (nostr__ws_is_control(opcode)) {
        if (!ws->rx_fin) return (ws->error = "fragmented control frame"), NOSTR_WS_CLOSE_PROTOCOL;
        if (len7 > 125) return (ws->error = "control frame over 125 bytes"), NOSTR_WS_CLOSE_PROTOCOL;
    } else if (opcode == NOSTR_WS_OP_CONT) {
        if (!ws->msg_opcode) return (ws->error = "continuation without a message"), NOSTR_WS_CLOSE_PROTOCOL;
    } else if (ws->msg_opcode) {
        return (ws->error = "new message inside a fragmented one"), NOSTR_WS_CLOSE_PROTOCOL;
    }
    if (ws->role == NOSTR_WS_SERVER && !ws->rx_masked)
        return (ws->error = "unmasked frame from a client"), NOSTR_WS_CLOSE_PROTOCOL;
    if (ws->role == NOSTR_WS_CLIENT && ws->rx_masked)
        return (ws->error = "masked frame from a server"), NOSTR_WS_CLOSE_PROTOCOL;
    ws->rx_hdr_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (ws->rx_masked ? 4 : 0);
    return 0;
}

/* Make room for len more message bytes plus the terminating NUL. */
static int nostr__ws_reserve(nostr_ws *ws, size_t len)
{
    size_t need = ws->msg_len + len + 1, cap;
    unsigned char *p;
    if (need <= ws->msg_cap) return NOSTR_OK;
    cap = ws->msg_cap ? ws->msg_cap : 256;
    while (cap < need) cap *= 2;
    if (cap > ws->cfg.max_message + 1) cap = ws->cfg.max_message + 1;
    if (cap < need) cap = need;
    p = (unsigned char *)nostr_realloc(&ws->cfg.allocator, ws->msg, cap);
    if (!p) return NOSTR_ERR_NOMEM;
    ws->msg = p;
    ws->msg_cap = cap;
    return NOSTR_OK;
}

/* The whole header is in: decode the length, check the limits. Returns a
 * close code or 0 (or -1 when the reassembly buffer cannot grow). */
static int nostr__ws_check_header(nostr_ws *ws)
{
    const unsigned char *h = ws->rx_hdr;
    unsigned len7 = h[1] & 0x7F;
    size_t at = 2;
    uint64_t len = len7;
    int i;
    if (len7 == 126) {
        len = ((uint64_t)h[2] << 8) | h[3];
        at = 4;
    } else if (len7 == 127) {
        len = 0;
        for (i = 0; i < 8; i++) len = (len << 8) | h[2 + i];
        at = 10;
        if (len >> 63) return (ws->error = "64-bit length with the high bit set"), NOSTR_WS_CLOSE_PROTOCOL;
    }
    /* Non-minimal length encodings are accepted, as most peers do. */
    if (ws->rx_masked) memcpy(ws->rx_mask, h + at, 4);
    ws->rx_len = len;
    ws->rx_got = 0;
    if (nostr__ws_is_control(ws->rx_opcode)) return 0;
    if (len > ws->cfg.max_frame) return (ws->error = "frame too big"), NOSTR_WS_CLOSE_TOO_BIG;
    if (len > ws->cfg.max_message - ws->msg_len)
        return (ws->error = "message too big"), NOSTR_WS_CLOSE_TOO_BIG;
    if (ws->rx_opcode != NOSTR_WS_OP_CONT) {
        ws->msg_opcode = ws->rx_opcode;
        ws->msg_len = 0;
        ws->msg_utf8_checked = 0;
    }
    if (nostr__ws_reserve(ws, (size_t)len) != NOSTR_OK) return -1;
    return 0;
}

/* End of the complete code points in msg: a sequence cut by the fragment
 * boundary is left for the next fragment. */
static size_t nostr__ws_utf8_boundary(const unsigned char *s, size_t from, size_t end)
{
    size_t i = end, back = 0;
    while (i > from && back < 4) {
        unsigned char c = s[i - 1];
        i--;
        back++;
        if ((c & 0xC0) == 0x80) continue; /* continuation: keep looking for the lead */
        if (c >= 0xC0) {
            size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            return back < need ? i : end;
        }
        return end; /* ASCII */
    }
    return end;
}

/* Validate the text message so far; final: the message is complete. */
static int nostr__ws_check_text(nostr_ws *ws, int final)
{
    size_t end = final ? ws->msg_len : nostr__ws_utf8_boundary(ws->msg, ws->msg_utf8_checked, ws->msg_len);
    if (end > ws->msg_utf8_checked &&
        !nostr_utf8_valid((const char *)ws->msg + ws->msg_utf8_checked, end - ws->msg_utf8_checked))
        return 0;
    ws->msg_utf8_checked = end;
    return 1;
}

static int nostr__ws_data_done(nostr_ws *ws)
{
    if (ws->msg_opcode == NOSTR_WS_OP_TEXT && !nostr__ws_check_text(ws, ws->rx_fin))
        return nostr__ws_fail(ws, NOSTR_WS_CLOSE_BAD_DATA, "invalid UTF-8 in a text message", NOSTR_ERR_WS);
    if (!ws->rx_fin) return NOSTR_OK;
    ws->msg[ws->msg_len] = 0;
    {
        int opcode = ws->msg_opcode;
        size_t len = ws->msg_len;
        ws->msg_opcode = 0;
        ws->msg_len = 0;
        ws->msg_utf8_checked = 0;
        /* after this side sent a close, incoming data is dropped */
        if (ws->cb.on_message && nostr__ws_can_send(ws))
            ws->cb.on_message(ws->cb.user, opcode, (const char *)ws->msg, len);
    }
    return NOSTR_OK;
}

static int nostr__ws_close_done(nostr_ws *ws)
{
    size_t len = (size_t)ws->rx_len;
    int code = NOSTR_WS_CLOSE_NO_STATUS;
    const char *reason = (const char *)ws->ctrl + 2;
    ws->close_received = 1;
    if (len == 1) return nostr__ws_fail(ws, NOSTR_WS_CLOSE_PROTOCOL, "close frame of 1 byte", NOSTR_ERR_WS);
    if (len >= 2) {
        code = (ws->ctrl[0] << 8) | ws->ctrl[1];
        if (!nostr_ws_close_code_valid(code))
            return nostr__ws_fail(ws, NOSTR_WS_CLOSE_PROTOCOL, "invalid close code", NOSTR_ERR_WS);
        if (!nostr_utf8_valid(reason, len - 2))
            return nostr__ws_fail(ws, NOSTR_WS_CLOSE_BAD_DATA, "invalid UTF-8 in the close reason", NOSTR_ERR_WS);
    } else {
        reason = nostr__ws_empty;
    }
    if (!ws->close_sent) {
        /* echo the code and reason (an empty close for an empty one) */
        int rc = nostr__ws_send_close_frame(ws, code == NOSTR_WS_CLOSE_NO_STATUS ? 0 : code, reason,
                                            len >= 2 ? len - 2 : 0);
        if (rc != NOSTR_OK) return rc;
    }
    nostr__ws_finish(ws, code, reason, len >= 2 ? len - 2 : 0);
    return NOSTR_OK;
}

static int nostr__ws_frame_done(nostr_ws *ws)
{
    size_t len = (size_t)ws->rx_len;
    int rc = NOSTR_OK;
    ws->rx_stage = NOSTR__WS_RX_HEADER;
    ws->rx_hdr_have = 0;
    ws->rx_hdr_need = 2;
    if (!nostr__ws_is_control(ws->rx_opcode)) return nostr__ws_data_done(ws);
    ws->ctrl[len] = 0;
    if (ws->rx_opcode == NOSTR_WS_OP_CLOSE) return nostr__ws_close_done(ws);
    if (!nostr__ws_can_send(ws)) return NOSTR_OK;
    if (ws->rx_opcode == NOSTR_WS_OP_PING)
        rc = nostr__ws_send_raw(ws, NOSTR_WS_OP_PONG, 1, ws->ctrl, len);
    else if (ws->cb.on_pong)
        ws->cb.on_pong(ws->cb.user, (const char *)ws->ctrl, len);
    return rc;
}

/* Consume header bytes from p; returns bytes used, sets *rc on failure. */
static size_t nostr__ws_feed_header(nostr_ws *ws, const unsigned char *p, size_t n, int *rc)
{
    size_t take = ws->rx_hdr_need - ws->rx_hdr_have;
    int code;
    if (take > n) take = n;
    memcpy(ws->rx_hdr + ws->rx_hdr_have, p, take);
    ws->rx_hdr_have += take;
    /* the first two bytes tell how long the rest of the header is */
    if (ws->rx_hdr_have == 2 && ws->rx_hdr_need == 2 && (code = nostr__ws_check_start(ws)) != 0) {
        *rc = nostr__ws_fail(ws, code, ws->error, NOSTR_ERR_WS);
        return take;
    }
    if (ws->rx_hdr_have < ws->rx_hdr_need) return take;
    code = nostr__ws_check_header(ws);
    if (code < 0) {
        *rc = nostr__ws_fail(ws, NOSTR_WS_CLOSE_INTERNAL, "out of memory", NOSTR_ERR_NOMEM);
        return take;
    }
    if (code) {
        *rc = nostr__ws_fail(ws, code, ws->error, NOSTR_ERR_WS);
        return take;
    }
    ws->rx_stage = NOSTR__WS_RX_PAYLOAD;
    if (ws->rx_len == 0) *rc = nostr__ws_frame_done(ws);
    return take;
}

static size_t nostr__ws_feed_payload(nostr_ws *ws, const unsigned char *p, size_t n, int *rc)
{
    uint64_t left = ws->rx_len - ws->rx_got;
    size_t take = left < n ? (size_t)left : n;
    unsigned char *dst;
    if (nostr__ws_is_control(ws->rx_opcode)) {
        dst = ws->ctrl + ws->rx_got;
    } else {
        dst = ws->msg + ws->msg_len;
        ws->msg_len += take;
    }
    if (ws->rx_masked)
        nostr__ws_mask(dst, p, take, ws->rx_mask, ws->rx_got);
    else
        memcpy(dst, p, take);
    ws->rx_got += take;
    if (ws->rx_got == ws->rx_len) *rc = nostr__ws_frame_done(ws);
    return take;
}

NOSTRDEF int nostr_ws_feed(nostr_ws *ws, const void *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t at = 0;
    int rc = NOSTR_OK;
    if (ws->state == NOSTR_WS_CLOSED) return NOSTR_ERR_CLOSED;
    if (len && !data) return NOSTR_ERR_ARG;
    while (at < len && rc == NOSTR_OK && ws->state != NOSTR_WS_CLOSED) {
        if (ws->rx_stage == NOSTR__WS_RX_HEADER)
            at += nostr__ws_feed_header(ws, p + at, len - at, &rc);
        else
            at += nostr__ws_feed_payload(ws, p + at, len - at, &rc);
    }
    return rc;
}

/* ---- handshake ---- */

NOSTRDEF int nostr_ws_is_upgrade(const nostr_http_message *req)
{
    if (!req || req->is_response) return 0;
    if (req->method.len != 3 || memcmp(req->method.ptr, "GET", 3) != 0) return 0;
    return nostr_http_header_has_token(req, "Upgrade", "websocket") &&
           nostr_http_header_has_token(req, "Connection", "upgrade");
}

/* Append the error answer to a bad upgrade request. */
static int nostr__ws_reject(nostr_buf *out, int status, const char *why, nostr_error *err)
{
    nostr_http_kv version;
    version.name = "Sec-WebSocket-Version";
    version.value = "13";
    if (out)
        (void)nostr_http_write_response(out, status, NULL, "text/plain", status == 426 ? &version : NULL,
                                        status == 426 ? 1 : 0, why, strlen(why), 0);
    return nostr__fail(err, NOSTR_ERR_HTTP, 0, why);
}

NOSTRDEF int nostr_ws_server_handshake(const nostr_http_message *req, nostr_buf *out, nostr_error *err)
{
    const nostr_str *version, *key;
    unsigned char raw[16];
    size_t raw_len = 0;
    char accept[29];
    nostr_http_kv fields[3];
    if (!req || !out || req->is_response) return nostr__fail(err, NOSTR_ERR_ARG, 0, "not a request");
    if (!nostr_ws_is_upgrade(req)) return nostr__ws_reject(out, 400, "not a WebSocket upgrade request", err);
    if (req->version_minor < 1) return nostr__ws_reject(out, 400, "WebSocket needs HTTP/1.1", err);
    if (!nostr_http_header(req, "Host")) return nostr__ws_reject(out, 400, "missing Host", err);
    version = nostr_http_header(req, "Sec-WebSocket-Version");
    if (!version || version->len != 2 || memcmp(version->ptr, "13", 2) != 0)
        return nostr__ws_reject(out, 426, "Sec-WebSocket-Version must be 13", err);
    key = nostr_http_header(req, "Sec-WebSocket-Key");
    if (!key || nostr_base64_decode(key->ptr, key->len, raw, sizeof raw, &raw_len) != NOSTR_OK || raw_len != 16)
        return nostr__ws_reject(out, 400, "Sec-WebSocket-Key must be 16 bytes in base64", err);
    nostr_ws_accept_key(key->ptr, key->len, accept);
    fields[0].name = "Upgrade";
    fields[0].value = "websocket";
    fields[1].name = "Connection";
    fields[1].value = "Upgrade";
    fields[2].name = "Sec-WebSocket-Accept";
    fields[2].value = accept;
    return nostr_http_write_response(out, 101, NULL, NULL, fields, 3, NULL, 0, 1);
}

/* The Sec-WebSocket-Key for 16 random bytes: 24 base64 characters. */
static int nostr__ws_key(const unsigned char key16[16], char out[25])
{
    char mem[32];
    nostr_buf b;
    nostr_buf_init_fixed(&b, mem, sizeof mem);
    if (nostr_base64_encode(key16, 16, &b) != NOSTR_OK || b.len != 24) return NOSTR_ERR_ARG;
    memcpy(out, b.data, 24);
    out[24] = 0;
    return NOSTR_OK;
}

/* extra_headers must be whole "Name: value\r\n" lines: a colon in each,
 * no bare CR or LF, no other control characters, no empty line. */
static int nostr__ws_extra_ok(const char *s)
{
    int colon = 0, line_len = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\r') {
            if (s[1] != '\n' || !colon || line_len == 0) return 0;
            s++;
            colon = line_len = 0;
            continue;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7F) return 0;
        if (c == ':') colon = 1;
        line_len++;
    }
    return line_len == 0;
}

NOSTRDEF int nostr_ws_client_request(nostr_buf *out, const char *host, const char *path,
                                     const unsigned char key16[16], const char *extra_headers)
{
    nostr_http_kv fields[4];
    char key[25];
    size_t start;
    int rc;
    if (!out || !host || !*host || !key16) return NOSTR_ERR_ARG;
    if (extra_headers && !nostr__ws_extra_ok(extra_headers)) return NOSTR_ERR_ARG;
    if (nostr__ws_key(key16, key) != NOSTR_OK) return NOSTR_ERR_ARG;
    fields[0].name = "Upgrade";
    fields[0].value = "websocket";
    fields[1].name = "Connection";
    fields[1].value = "Upgrade";
    fields[2].name = "Sec-WebSocket-Key";
    fields[2].value = key;
    fields[3].name = "Sec-WebSocket-Version";
    fields[3].value = "13";
    start = out->len;
    rc = nostr_http_write_request(out, "GET", host, path && *path ? path : "/", fields, 4, NULL, 0);
    if (rc != NOSTR_OK || !extra_headers || !*extra_headers) return rc;
    /* insert the extra lines before the blank line that ends the head */
    out->len -= 2;
    if ((rc = nostr_buf_append_str(out, extra_headers)) == NOSTR_OK) rc = nostr_buf_append(out, "\r\n", 2);
    if (rc != NOSTR_OK) {
        out->len = start;
        if (out->cap > start) out->data[start] = 0;
    }
    return rc;
}

NOSTRDEF int nostr_ws_client_check_response(const nostr_http_message *resp, const unsigned char key16[16],
                                            nostr_error *err)
{
    const nostr_str *accept;
    char key[25], expected[29];
    if (!resp || !key16 || !resp->is_response) return nostr__fail(err, NOSTR_ERR_ARG, 0, "not a response");
    if (resp->status != 101) return nostr__fail(err, NOSTR_ERR_HTTP, 0, "server did not switch protocols (not 101)");
    if (!nostr_http_header_has_token(resp, "Upgrade", "websocket"))
        return nostr__fail(err, NOSTR_ERR_HTTP, 0, "101 without Upgrade: websocket");
    if (!nostr_http_header_has_token(resp, "Connection", "upgrade"))
        return nostr__fail(err, NOSTR_ERR_HTTP, 0, "101 without Connection: upgrade");
    if (nostr__ws_key(key16, key) != NOSTR_OK) return nostr__fail(err, NOSTR_ERR_ARG, 0, "bad key");
    nostr_ws_accept_key(key, 24, expected);
    accept = nostr_http_header(resp, "Sec-WebSocket-Accept");
    if (!accept || accept->len != 28 || memcmp(accept->ptr, expected, 28) != 0)
        return nostr__fail(err, NOSTR_ERR_HTTP, 0, "wrong Sec-WebSocket-Accept");
    if (nostr_http_header(resp, "Sec-WebSocket-Extensions"))
        return nostr__fail(err, NOSTR_ERR_HTTP, 0, "server chose an extension that was not offered");
    if (nostr_http_header(resp, "Sec-WebSocket-Protocol"))
        return nostr__fail(err, NOSTR_ERR_HTTP, 0, "server chose a subprotocol that was not offered");
    return NOSTR_OK;
}
