/* ---- client: NIP-01 relay client state machine (sans-I/O) ----
 *
 * One nostr_client talks to one relay URL (ws:// or wss://). It never
 * touches a socket or a clock: the app opens TCP connections when asked,
 * feeds the bytes it reads, writes the bytes it is given, and passes a
 * monotonic time in milliseconds (any origin) to every call that needs
 * one. The client does TLS (wss), the HTTP Upgrade, WebSocket framing and
 * NIP-01 on top, and keeps the session alive across reconnects:
 *
 *     connect callback ------> app opens TCP to (host, port)
 *     nostr_client_connected   the TCP connection is up
 *     nostr_client_feed        bytes read from it (any split)
 *     send callback  <-------  bytes to write to it
 *     close callback <-------  the client is done with this connection:
 *                              close the socket (no need to call
 *                              nostr_client_disconnected afterwards)
 *     nostr_client_disconnected  the connection failed or closed (EOF)
 *     nostr_client_tick        timers: keep-alive pings, handshake and
 *                              answer timeouts, reconnect with backoff
 *
 * What the client keeps across reconnects: open subscriptions (re-sent on
 * every new connection), publishes without an OK yet and COUNTs without
 * an answer (sent, or re-sent, when the connection opens). Requests made
 * while disconnected wait in that queue; its size is bounded
 * (max_pending requests and max_pending_bytes), beyond it the call fails
 * with NOSTR_ERR_TOO_LARGE.
 *
 * Relay input never crashes the client: a message that is not valid
 * NIP-01, or an event whose id or signature is wrong (verify_events), is
 * reported through on_error and dropped; a bad frame, a bad HTTP answer
 * or a TLS failure ends the connection and a reconnect follows.
 *
 * NIP-42: with keys configured the client answers ["AUTH", challenge]
 * with a signed kind 22242 event (created_at from the unix_time
 * callback), and when its OK arrives re-sends the EVENTs and REQs the
 * relay refused with an "auth-required:" prefix (once each). Without keys
 * the challenge goes to on_auth_challenge and refusals are reported as
 * they come; nostr_client_auth sends an AUTH event the app signed itself.
 *
 * Re-entrancy: callbacks may call nostr_client_publish, _req, _close_sub,
 * _count, _auth and _close, but never nostr_client_free, _feed, _tick,
 * _connected or _disconnected. Strings passed to callbacks are valid only
 * during the call. */

/* A parsed relay URL: ws[s]://host[:port][/path][?query]. host is a DNS
 * name or IPv4 address, or an IPv6 address written in brackets (stored
 * without them; ipv6 is then 1). No user info; a fragment is dropped. */
typedef struct nostr_client_url {
    int tls;               /* 1 for wss:// */
    int ipv6;              /* host is an IPv6 literal */
    int port;              /* 1..65535; 80 (ws) or 443 (wss) when absent */
    char host[256];        /* lowercase; NUL-terminated */
    char path[2048];       /* path and query, starting with '/' ("/" when absent) */
    char host_header[270]; /* what the Host header carries: host[:port] */
} nostr_client_url;

/* NOSTR_OK, or NOSTR_ERR_ARG with err->msg saying what is wrong ("URL
 * scheme must be ws:// or wss://", "bad port", ...) and err->offset. */
NOSTRDEF int nostr_client_parse_url(const char *url, nostr_client_url *out, nostr_error *err);

/* Connection states (nostr_client_state). */
enum {
    NOSTR_CLIENT_IDLE = 0,       /* created, nostr_client_start not called yet */
    NOSTR_CLIENT_CONNECTING = 1, /* waiting for the app's TCP connection */
    NOSTR_CLIENT_TLS = 2,        /* TLS handshake (wss) */
    NOSTR_CLIENT_UPGRADING = 3,  /* HTTP Upgrade sent, waiting for the 101 */
    NOSTR_CLIENT_OPEN = 4,       /* WebSocket open: NIP-01 messages flow */
    NOSTR_CLIENT_BACKOFF = 5,    /* disconnected; reconnects at nostr_client_next_attempt */
    NOSTR_CLIENT_CLOSED = 6      /* nostr_client_close: no more connections */
};

/* verify_events values. */
enum { NOSTR_CLIENT_VERIFY = 1, NOSTR_CLIENT_NO_VERIFY = -1 };

/* Zeroed (or a NULL pointer) = the defaults in brackets. Times in ms; a
 * negative ping_interval_ms turns keep-alive pings off. */
typedef struct nostr_client_config {
    const nostr_keys *keys;       /* NIP-42 signer (copied), or NULL */
    int verify_events;            /* [0 = NOSTR_CLIENT_VERIFY]: check id and signature of
                                     received events; NOSTR_CLIENT_NO_VERIFY to skip */
    int no_reconnect;             /* 1: after a drop, stay in BACKOFF until nostr_client_start */
    long long connect_timeout_ms; /* [10000] TCP + TLS + Upgrade */
    long long answer_timeout_ms;  /* [10000] OK for a publish, answer to a COUNT */
    long long ping_interval_ms;   /* [30000] ping after this much silence from the relay */
    long long pong_timeout_ms;    /* [10000] no data after a ping: reconnect */
    long long backoff_base_ms;    /* [500] first reconnect delay bound */
    long long backoff_max_ms;     /* [60000] cap of the exponential delay bound */
    size_t max_pending;           /* [1024] publishes + COUNTs awaiting an answer + subs */
    size_t max_pending_bytes;     /* [4 MiB] bytes of those messages */
    size_t max_message;           /* [1 MiB] largest WebSocket message accepted */
    /* wss: a loaded client TLS config shared by connections (caller owns
     * it). NULL: the client loads one (system CA bundle, or tls_ca_file)
     * on the first wss connection. */
    nostr_tls_config *tls;
    const char *tls_ca_file;     /* copied; only used when tls is NULL */
    const char *tls_server_name; /* SNI / certificate name; [the URL's host] (copied) */
    const nostr_limits *limits;  /* JSON limits for relay messages (copied) */
} nostr_client_config;

/* Callbacks; send and connect are required, the rest may be NULL.
 * Subscription ids are the client's own NUL-terminated copies. */
typedef struct nostr_client_callbacks {
    void *user;
    /* Write bytes to the current connection (all of them, or queue them).
     * Return 0, or non-zero when the connection is broken (it is then
     * dropped and a reconnect follows). */
    int (*send)(void *user, const void *data, size_t n);
    /* Open a TCP connection to host:port, then call nostr_client_connected
     * (or _disconnected on failure) - later, or already inside this call.
     * Return 0 when the attempt started, non-zero when it failed at once. */
    int (*connect)(void *user, const char *host, int port);
    /* Close the current connection's socket (the client already forgot it). */
    void (*close)(void *user);
    void (*on_open)(void *user);
    /* code: NOSTR_OK after nostr_client_close, else why (NOSTR_ERR_NET,
     * NOSTR_ERR_WS, NOSTR_ERR_TLS, NOSTR_ERR_HTTP, NOSTR_ERR_TIMEOUT,
     * NOSTR_ERR_CLOSED) with a message. */
    void (*on_disconnect)(void *user, int code, const char *message);
    /* An event for subscription sub. json/len: the event object as the
     * relay sent it. */
    void (*on_event)(void *user, const char *sub, const nostr_event *ev, const char *json, size_t len);
    void (*on_eose)(void *user, const char *sub);
    /* The answer to a publish; also accepted = 0 with "timeout: ..." when
     * none came within answer_timeout_ms, or "error: ..." when the queue
     * could not keep it. */
    void (*on_ok)(void *user, const unsigned char id[32], int accepted, const char *message);
    /* The relay closed subscription (or COUNT) sub; also "timeout: ..."
     * for a COUNT without an answer. The subscription is gone. */
    void (*on_closed)(void *user, const char *sub, const char *message);
    void (*on_notice)(void *user, const char *message);
    void (*on_count)(void *user, const char *sub, unsigned long long count, int approximate);
    /* A NIP-42 challenge while no keys are configured. */
    void (*on_auth_challenge)(void *user, const char *challenge);
    /* The answer to our AUTH event (with or without keys). */
    void (*on_auth)(void *user, int accepted, const char *message);
    /* Something the relay sent was dropped (bad message, invalid event,
     * unknown subscription) or a local step failed; the connection goes on. */
    void (*on_error)(void *user, int code, const char *message);
    /* Wall clock in seconds since 1970, for NIP-42 AUTH events; required
     * when keys are configured. */
    long long (*unix_time)(void *user);
} nostr_client_callbacks;

typedef struct nostr_client nostr_client;

/* Parse the URL and set up (nothing is sent; call nostr_client_start).
 * ctx must outlive the client. NULL with err filled on a bad URL
 * (NOSTR_ERR_ARG), missing callbacks (NOSTR_ERR_ARG), no memory. */
NOSTRDEF nostr_client *nostr_client_new(nostr_ctx *ctx, const char *url, const nostr_client_config *cfg,
                                        const nostr_client_callbacks *cb, nostr_error *err);
/* Free everything (closing the connection first if one is up: the close
 * callback is called). NULL is fine. */
NOSTRDEF void nostr_client_free(nostr_client *c);

/* Turn reconnecting after a drop on (1) or off (0, like no_reconnect). */
NOSTRDEF void nostr_client_set_reconnect(nostr_client *c, int on);
/* Connect now (IDLE or BACKOFF: the backoff wait is skipped). */
NOSTRDEF int nostr_client_start(nostr_client *c, long long now_ms);
/* Close the session: CLOSE frame, close callback, no more reconnects.
 * Pending publishes and COUNTs are dropped without callbacks. */
NOSTRDEF void nostr_client_close(nostr_client *c, long long now_ms);

NOSTRDEF void nostr_client_connected(nostr_client *c, long long now_ms);
NOSTRDEF void nostr_client_disconnected(nostr_client *c, long long now_ms);
/* Bytes read from the connection. NOSTR_OK, or the error that ended the
 * connection (already handled: close callback, backoff); NOSTR_ERR_CLOSED
 * when no connection is up (the bytes are ignored). */
NOSTRDEF int nostr_client_feed(nostr_client *c, const void *data, size_t n, long long now_ms);
/* Run timers. */
NOSTRDEF void nostr_client_tick(nostr_client *c, long long now_ms);
/* When the next timer is due (ms, same clock), or -1 when none is. */
NOSTRDEF long long nostr_client_next_timeout(const nostr_client *c);

NOSTRDEF int nostr_client_state(const nostr_client *c);
/* Reconnect time while in BACKOFF (-1 otherwise). */
NOSTRDEF long long nostr_client_next_attempt(const nostr_client *c);
/* Failed attempts since the last open connection. */
NOSTRDEF unsigned nostr_client_attempts(const nostr_client *c);
/* 1 once the relay accepted our AUTH on the current connection. */
NOSTRDEF int nostr_client_authenticated(const nostr_client *c);
NOSTRDEF const nostr_client_url *nostr_client_get_url(const nostr_client *c);

/* Publish a signed event (or its JSON text, which is checked to be one
 * event object and sent as is). Queued when not open. The answer comes
 * through on_ok with ev->id. NOSTR_ERR_TOO_LARGE when the queue is full,
 * NOSTR_ERR_CLOSED after nostr_client_close, parse errors for bad JSON. */
NOSTRDEF int nostr_client_publish(nostr_client *c, const nostr_event *ev, long long now_ms);
NOSTRDEF int nostr_client_publish_json(nostr_client *c, const char *json, size_t len, long long now_ms);
/* Open (or replace) subscription sub (1..64 bytes, NUL-terminated) with n
 * filters (n >= 1). Stored events come through on_event, then on_eose,
 * then live events until nostr_client_close_sub or on_closed. */
NOSTRDEF int nostr_client_req(nostr_client *c, const char *sub, const nostr_filter *filters, size_t n,
                              long long now_ms);
/* Forget sub and send CLOSE (when open). NOSTR_ERR_ARG for an unknown sub. */
NOSTRDEF int nostr_client_close_sub(nostr_client *c, const char *sub);
/* NIP-45 COUNT: the answer comes through on_count (or on_closed). */
NOSTRDEF int nostr_client_count(nostr_client *c, const char *sub, const nostr_filter *filters, size_t n,
                                long long now_ms);
/* Send ["AUTH", ev] with an AUTH event the app signed (no-key mode). */
NOSTRDEF int nostr_client_auth(nostr_client *c, const nostr_event *ev);
/* The last challenge received on this connection ("" when none). */
NOSTRDEF const char *nostr_client_challenge(const nostr_client *c);
