/* ---- websocket: RFC 6455 framer (server and client roles) + handshake ----
 *
 * Sans-I/O: the app feeds the bytes it read from the socket with
 * nostr_ws_feed; complete messages come out through on_message, and every
 * byte to write goes out through the send callback. Any split of the input
 * (down to one byte at a time) gives the same callbacks. No extensions
 * (permessage-deflate is never negotiated), no subprotocols. */

/* Opcodes. on_message reports TEXT or BINARY only. */
enum {
    NOSTR_WS_OP_CONT = 0x0,
    NOSTR_WS_OP_TEXT = 0x1,
    NOSTR_WS_OP_BINARY = 0x2,
    NOSTR_WS_OP_CLOSE = 0x8,
    NOSTR_WS_OP_PING = 0x9,
    NOSTR_WS_OP_PONG = 0xA
};

/* Roles: a server reads masked frames and sends unmasked ones; a client
 * masks every frame it sends with a fresh key and rejects masked input. */
enum { NOSTR_WS_SERVER = 0, NOSTR_WS_CLIENT = 1 };

/* nostr_ws_state(): OPEN until a close frame is sent or received; CLOSING
 * after we sent a close and wait for the peer's; CLOSED when the close
 * handshake is done or the connection failed (on_close has been called;
 * nothing more is sent or delivered: the app closes the socket). */
enum { NOSTR_WS_OPEN = 0, NOSTR_WS_CLOSING = 1, NOSTR_WS_CLOSED = 2 };

/* Close status codes (RFC 6455 section 7.4.1, and 1012-1014 from the IANA
 * WebSocket Close Code Number Registry). 1005 (no code in the close frame)
 * and 1006 (closed without a close frame) are only ever reported through
 * on_close, never sent; 1015 (TLS handshake failure) is reserved too. */
enum {
    NOSTR_WS_CLOSE_NORMAL = 1000,
    NOSTR_WS_CLOSE_GOING_AWAY = 1001,
    NOSTR_WS_CLOSE_PROTOCOL = 1002,
    NOSTR_WS_CLOSE_UNSUPPORTED = 1003,
    NOSTR_WS_CLOSE_NO_STATUS = 1005,
    NOSTR_WS_CLOSE_ABNORMAL = 1006,
    NOSTR_WS_CLOSE_BAD_DATA = 1007, /* e.g. invalid UTF-8 in a text message */
    NOSTR_WS_CLOSE_POLICY = 1008,
    NOSTR_WS_CLOSE_TOO_BIG = 1009,
    NOSTR_WS_CLOSE_EXTENSION = 1010,
    NOSTR_WS_CLOSE_INTERNAL = 1011,
    NOSTR_WS_CLOSE_RESTART = 1012,    /* service restart */
    NOSTR_WS_CLOSE_TRY_LATER = 1013,  /* try again later (e.g. overloaded) */
    NOSTR_WS_CLOSE_BAD_GATEWAY = 1014 /* a gateway got a bad answer upstream */
};

/* Callbacks. send is required; the others may be NULL. Data pointers are
 * valid only during the call. */
typedef struct nostr_ws_callbacks {
    void *user;
    /* Write n bytes to the peer (all of them, or queue them). Return 0, or
     * non-zero when the connection is broken: the framer then goes CLOSED,
     * reports on_close(1006) and returns the code (NOSTR_ERR_NET when the
     * callback returned a positive value). */
    int (*send)(void *user, const void *data, size_t n);
    /* A complete message, reassembled from its fragments. opcode is
     * NOSTR_WS_OP_TEXT (valid UTF-8, checked) or NOSTR_WS_OP_BINARY. data
     * is NUL-terminated (data[len] == 0) in the framer's reassembly buffer. */
    void (*on_message)(void *user, int opcode, const char *data, size_t len);
    /* A pong (answer to nostr_ws_send_ping, or unsolicited). Pings are
     * answered automatically and not reported. */
    void (*on_pong)(void *user, const char *data, size_t len);
    /* Called exactly once, when the state becomes CLOSED: with the peer's
     * close code and reason (1005 if its close frame had no code), or with
     * the code this side sent when it failed the connection (1002, 1007,
     * 1009, 1011), or 1006 when send failed. */
    void (*on_close)(void *user, int code, const char *reason, size_t len);
} nostr_ws_callbacks;

/* Zeroed (or a NULL pointer) = defaults. */
typedef struct nostr_ws_config {
    size_t max_frame;   /* largest frame payload accepted [1 MiB]; more -> close 1009 */
    size_t max_message; /* largest reassembled message [1 MiB]; more -> close 1009 */
    nostr_allocator allocator; /* for the reassembly buffer; zeroed = C library */
    /* Client role only: source of the 4-byte masking keys. rng (with
     * rng_user) if set, else nostr_random(ctx); one of the two is required
     * for a client. Keys are drawn 64 bytes at a time. */
    nostr_rng_fn rng;
    void *rng_user;
    nostr_ctx *ctx;
} nostr_ws_config;

/* The framer. Visible so it can be embedded; treat the fields as private. */
typedef struct nostr_ws {
    int role, state;
    nostr_ws_callbacks cb;
    nostr_ws_config cfg;
    /* receive: frame header being read */
    int rx_stage;              /* header / extended length / mask / payload */
    unsigned char rx_hdr[14];  /* header bytes collected so far */
    size_t rx_hdr_have, rx_hdr_need;
    int rx_opcode, rx_fin, rx_masked;
    unsigned char rx_mask[4];
    uint64_t rx_len, rx_got;   /* payload length of the frame, bytes read so far */
    /* receive: the message being reassembled (reused between messages) */
    int msg_opcode;            /* TEXT or BINARY while a message is open, else 0 */
    unsigned char *msg;
    size_t msg_len, msg_cap;
    size_t msg_utf8_checked;   /* prefix of msg known to be valid UTF-8 */
    unsigned char ctrl[126];   /* control frame payload (<= 125 bytes + NUL) */
    /* send */
    int tx_frag_opcode;        /* opcode of an unfinished fragmented send, else 0 */
    unsigned char mask_pool[64];
    size_t mask_pool_used;     /* bytes of mask_pool consumed (64 = empty) */
    int close_sent, close_received, close_reported;
    int close_code;            /* code reported to on_close (0 until CLOSED) */
    const char *error;         /* why this side failed the connection (static), else NULL */
} nostr_ws;

/* role: NOSTR_WS_SERVER or NOSTR_WS_CLIENT. cfg and cb are copied. Returns
 * NOSTR_ERR_ARG for a bad role, missing send, or a client without rng/ctx.
 * Allocates nothing; free with nostr_ws_free (the reassembly buffer). */
NOSTRDEF int nostr_ws_init(nostr_ws *ws, int role, const nostr_ws_config *cfg, const nostr_ws_callbacks *cb);
NOSTRDEF void nostr_ws_free(nostr_ws *ws);

/* Feed bytes read from the peer. Returns NOSTR_OK (also when the close
 * handshake completes in these bytes; the rest is ignored), NOSTR_ERR_WS
 * after a protocol violation (the close frame with 1002/1007/1009 has been
 * sent, state is CLOSED), NOSTR_ERR_NOMEM (close 1011 sent), the send
 * callback's error, or NOSTR_ERR_CLOSED when already CLOSED. */
NOSTRDEF int nostr_ws_feed(nostr_ws *ws, const void *data, size_t len);

/* Send one whole message. text must be valid UTF-8 (NOSTR_ERR_UTF8).
 * NOSTR_ERR_CLOSED once a close was sent or received; NOSTR_ERR_ARG while a
 * fragmented send is open. */
NOSTRDEF int nostr_ws_send_text(nostr_ws *ws, const char *text, size_t len);
NOSTRDEF int nostr_ws_send_binary(nostr_ws *ws, const void *data, size_t len);
/* Send one fragment: opcode TEXT or BINARY starts a message, CONT carries
 * it on; fin ends it. Text is not UTF-8 checked here (a code point may be
 * split across fragments). Control frames may be sent between fragments. */
NOSTRDEF int nostr_ws_send_frame(nostr_ws *ws, int opcode, int fin, const void *data, size_t len);
/* Ping / unsolicited pong with at most 125 bytes (NOSTR_ERR_ARG beyond). */
NOSTRDEF int nostr_ws_send_ping(nostr_ws *ws, const void *data, size_t len);
NOSTRDEF int nostr_ws_send_pong(nostr_ws *ws, const void *data, size_t len);

/* Start the close handshake: code 0 sends a close frame without a code,
 * else code must be 1000-1003, 1007-1014 or 3000-4999, reason at most 123
 * bytes of UTF-8 (NOSTR_ERR_ARG). State becomes CLOSING; on_close comes
 * when the peer's close arrives. If the peer closed first this is a no-op
 * (the framer already echoed its close). NOSTR_ERR_CLOSED if already sent. */
NOSTRDEF int nostr_ws_close(nostr_ws *ws, int code, const char *reason, size_t len);

/* The transport ended without a close handshake (EOF, reset, timeout):
 * state becomes CLOSED and on_close(1006) is reported unless it was already. */
NOSTRDEF void nostr_ws_abort(nostr_ws *ws);

NOSTRDEF int nostr_ws_state(const nostr_ws *ws);

/* 1 when code may appear in a close frame on the wire (1000-1003,
 * 1007-1014, 3000-4999); received close frames with any other code fail
 * the connection with 1002. */
NOSTRDEF int nostr_ws_close_code_valid(int code);

/* ---- handshake (HTTP/1.1 Upgrade, RFC 6455 section 4) ---- */

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + the RFC
 * GUID)), 28 characters + NUL written to out. */
NOSTRDEF void nostr_ws_accept_key(const char *key, size_t len, char out[29]);

/* Server: 1 when req asks for a WebSocket upgrade (GET, "Upgrade:
 * websocket", "Connection: upgrade"); the server then calls
 * nostr_ws_server_handshake, else it serves plain HTTP. */
NOSTRDEF int nostr_ws_is_upgrade(const nostr_http_message *req);
/* Server: validate the upgrade request (GET, HTTP/1.1, Host, Upgrade,
 * Connection, Sec-WebSocket-Version 13, a Sec-WebSocket-Key of 16 bytes in
 * base64) and append the 101 Switching Protocols response to out. On a bad
 * request it appends a 400 (426 with "Sec-WebSocket-Version: 13" for
 * another version) to send before closing, and returns NOSTR_ERR_HTTP with
 * the reason in err (optional). The bytes after the request are frames:
 * feed them to a NOSTR_WS_SERVER framer. */
NOSTRDEF int nostr_ws_server_handshake(const nostr_http_message *req, nostr_buf *out, nostr_error *err);

/* Client: append the GET Upgrade request to out. host is the Host header
 * value (with ":port" when not the default), path the request target
 * ("/" when NULL or empty), key16 16 fresh random bytes (keep them for the
 * response check), extra_headers NULL or complete "Name: value\r\n" lines
 * (Origin, User-Agent...). NOSTR_ERR_ARG for a malformed argument. */
NOSTRDEF int nostr_ws_client_request(nostr_buf *out, const char *host, const char *path,
                                     const unsigned char key16[16], const char *extra_headers);
/* Client: check the server's response to that request: status 101,
 * "Upgrade: websocket", "Connection: upgrade", the right
 * Sec-WebSocket-Accept, no extension or subprotocol we did not ask for.
 * NOSTR_OK or NOSTR_ERR_HTTP with the reason in err (optional). The bytes
 * after the response are frames for a NOSTR_WS_CLIENT framer. */
NOSTRDEF int nostr_ws_client_check_response(const nostr_http_message *resp, const unsigned char key16[16],
                                            nostr_error *err);
