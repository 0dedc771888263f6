/* ---- client: implementation ----
 *
 * Layers, bottom up: the app's TCP bytes -> TLS (wss) -> the HTTP 101 ->
 * the WebSocket framer -> NIP-01 messages. Lower layers only record what
 * they produced (plaintext into plain_in, messages into inbox, failures
 * into conn_error) and the public entry points act on it once the lower
 * call has returned, so a connection is never torn down from inside the
 * TLS object or the framer that reported the problem. */

enum { NOSTR__CLIENT_PUB = 1, NOSTR__CLIENT_SUB = 2, NOSTR__CLIENT_COUNT = 3 };

/* A request the client keeps until it is answered (publish, COUNT) or
 * closed (subscription), with its message text for (re)sending. */
typedef struct nostr__client_item {
    int type;
    char sub[65];         /* SUB, COUNT */
    unsigned char id[32]; /* PUB */
    long long deadline;   /* PUB, COUNT: when to give up; -1 for SUB */
    int sent;             /* sent on the current connection */
    int auth_wait;        /* refused with auth-required: re-send after our AUTH is accepted */
    int auth_retried;     /* already re-sent once after AUTH on this connection */
    int sent_authed;      /* last sent after our AUTH was accepted */
    size_t msg_len;
    char *msg; /* the whole NIP-01 message; lives right after the struct */
} nostr__client_item;

struct nostr_client {
    nostr_ctx *ctx;
    const nostr_allocator *al;
    nostr_client_callbacks cb;
    nostr_client_url url;
    char *url_text; /* as given: the relay tag of AUTH events */
    /* resolved configuration */
    nostr_keys keys;
    int has_keys, verify, no_reconnect;
    long long connect_timeout, answer_timeout, ping_interval, pong_timeout, backoff_base, backoff_max;
    size_t max_pending, max_pending_bytes, max_message;
    nostr_limits limits;
    nostr_tls_config *tls_cfg;
    int own_tls_cfg;
    char *ca_file, *server_name;
    /* session */
    int state;
    long long now;           /* latest time the app gave us */
    long long attempt_start; /* the current connection attempt began */
    long long next_attempt;  /* BACKOFF: when to reconnect; -1 none */
    unsigned attempts;       /* failures since the last open connection */
    long long last_rx;       /* last bytes from the relay */
    long long ping_sent;     /* an unanswered ping went out then; -1 none */
    int tcp_up;              /* the app has (or is opening) a socket for us: close callback owed */
    unsigned conn_gen;       /* counts dropped connections */
    /* per connection */
    nostr_tls *tls;
    nostr_http_parser http;
    nostr_ws ws;
    int ws_up;
    unsigned char ws_key[16];
    nostr_buf plain_in; /* decrypted bytes not processed yet */
    nostr_buf inbox;    /* complete messages: opcode byte, size_t length, bytes, NUL */
    int conn_error;     /* a lower layer failed: drop the connection with this code */
    const char *conn_error_msg;
    int ws_closed; /* the framer reported on_close */
    int ws_close_code;
    /* NIP-42 */
    nostr_buf challenge;
    unsigned char auth_id[32];
    int auth_pending, authed;
    /* requests */
    nostr__client_item **items;
    size_t item_count, item_cap, pending_bytes;
    nostr_arena arena; /* the message being dispatched */
    char msgbuf[320];  /* formatted messages for callbacks */
    char tlsmsg[320];  /* the TLS failure that ended the connection */
};

/* ---- URL ---- */

static int nostr__client_url_fail(nostr_error *err, size_t offset, const char *msg)
{
    return nostr__fail(err, NOSTR_ERR_ARG, offset, msg);
}

static int nostr__client_lower(int ch)
{
    return (ch >= 'A' && ch <= 'Z') ? ch + 32 : ch;
}

/* Characters allowed in a reg-name host (RFC 3986 unreserved + sub-delims
 * would allow more, but DNS names and IPv4 need only these). */
static int nostr__client_host_char(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
           ch == '_';
}

static int nostr__client_ipv6_char(int ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') || ch == ':' || ch == '.';
}

/* Path and query: printable ASCII without spaces (what a request line takes). */
static int nostr__client_path_char(int ch)
{
    return ch > 0x20 && ch < 0x7f && ch != '#';
}

NOSTRDEF int nostr_client_parse_url(const char *url, nostr_client_url *out, nostr_error *err)
{
    size_t i = 0, start, hl = 0, pl = 0;
    int port = -1;
    if (!url || !out) return nostr__client_url_fail(err, 0, "URL: NULL argument");
    memset(out, 0, sizeof *out);
    if (nostr__client_lower(url[0]) == 'w' && nostr__client_lower(url[1]) == 's' && url[2] == ':') {
        i = 3;
    } else if (nostr__client_lower(url[0]) == 'w' && nostr__client_lower(url[1]) == 's' &&
               nostr__client_lower(url[2]) == 's' && url[3] == ':') {
        out->tls = 1;
        i = 4;
    } else {
        return nostr__client_url_fail(err, 0, "URL scheme must be ws:// or wss://");
    }
    if (url[i] != '/' || url[i + 1] != '/') return nostr__client_url_fail(err, i, "URL: expected // after the scheme");
    i += 2;
    start = i;
    if (url[i] == '[') {
        for (i++; url[i] && url[i] != ']'; i++) {
            if (!nostr__client_ipv6_char((unsigned char)url[i]) || hl + 1 >= sizeof out->host)
                return nostr__client_url_fail(err, i, "URL: bad IPv6 address");
            out->host[hl++] = (char)nostr__client_lower((unsigned char)url[i]);
        }
        if (url[i] != ']' || hl < 2) return nostr__client_url_fail(err, i, "URL: bad IPv6 address");
        i++;
        out->ipv6 = 1;
    } else {
        for (; url[i] && url[i] != ':' && url[i] != '/' && url[i] != '?' && url[i] != '#'; i++) {
            if (url[i] == '@') return nostr__client_url_fail(err, i, "URL: user info is not supported");
            if (!nostr__client_host_char((unsigned char)url[i]) || hl + 1 >= sizeof out->host)
                return nostr__client_url_fail(err, i, "URL: bad character in host");
            out->host[hl++] = (char)nostr__client_lower((unsigned char)url[i]);
        }
        if (hl == 0) return nostr__client_url_fail(err, start, "URL: missing host");
        if (out->host[0] == '.' || out->host[0] == '-') return nostr__client_url_fail(err, start, "URL: bad host");
    }
    out->host[hl] = 0;
    if (url[i] == ':') {
        size_t digits = 0;
        port = 0;
        for (i++; url[i] >= '0' && url[i] <= '9'; i++, digits++) {
            port = port * 10 + (url[i] - '0');
            if (port > 65535) return nostr__client_url_fail(err, i, "URL: bad port");
        }
        if (digits == 0 || port == 0) return nostr__client_url_fail(err, i, "URL: bad port");
    }
    if (url[i] && url[i] != '/' && url[i] != '?' && url[i] != '#')
        return nostr__client_url_fail(err, i, "URL: bad character after the host");
    out->port = port > 0 ? port : (out->tls ? 443 : 80);
    if (url[i] != '/') out->path[pl++] = '/';
    for (; url[i] && url[i] != '#'; i++) {
        if (!nostr__client_path_char((unsigned char)url[i]))
            return nostr__client_url_fail(err, i, "URL: bad character in path");
        if (pl + 1 >= sizeof out->path) return nostr__client_url_fail(err, i, "URL: path too long");
        out->path[pl++] = url[i];
    }
    out->path[pl] = 0;
    for (; url[i]; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
            return nostr__client_url_fail(err, i, "URL: bad character in fragment");
    if (port > 0 && port != (out->tls ? 443 : 80))
        snprintf(out->host_header, sizeof out->host_header, out->ipv6 ? "[%s]:%d" : "%s:%d", out->host, port);
    else
        snprintf(out->host_header, sizeof out->host_header, out->ipv6 ? "[%s]" : "%s", out->host);
    return NOSTR_OK;
}

/* ---- small helpers ---- */

static char *nostr__client_strdup(const nostr_allocator *al, const char *s)
{
    size_t n;
    char *p;
    if (!s) return NULL;
    n = strlen(s);
    p = (char *)nostr_alloc(al, n + 1);
    if (p) memcpy(p, s, n + 1);
    return p;
}

static int nostr__client_starts_with(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

static int nostr__client_sub_valid(const char *sub)
{
    size_t n;
    if (!sub) return 0;
    n = strlen(sub);
    return n >= 1 && n <= 64;
}

static void nostr__client_error(nostr_client *c, int code, const char *msg)
{
    if (c->cb.on_error) c->cb.on_error(c->cb.user, code, msg);
}

static int nostr__client_rng(void *user, unsigned char *out, size_t n)
{
    return nostr_random((nostr_ctx *)user, out, n) == NOSTR_OK ? 0 : -1;
}

/* Record a lower-layer failure; the first one wins. */
static void nostr__client_fail_conn(nostr_client *c, int code, const char *msg)
{
    if (!c->conn_error) {
        c->conn_error = code;
        c->conn_error_msg = msg;
    }
}

static int nostr__client_connected_state(int state)
{
    return state >= NOSTR_CLIENT_CONNECTING && state <= NOSTR_CLIENT_OPEN;
}

/* ---- requests ---- */

static nostr__client_item *nostr__client_find(nostr_client *c, int type, const char *sub, size_t sub_len,
                                              const unsigned char *id, size_t *index)
{
    size_t i;
    for (i = 0; i < c->item_count; i++) {
        nostr__client_item *it = c->items[i];
        if (it->type != type) continue;
        if (id ? memcmp(it->id, id, 32) != 0 : (strlen(it->sub) != sub_len || memcmp(it->sub, sub, sub_len) != 0))
            continue;
        if (index) *index = i;
        return it;
    }
    return NULL;
}

/* Take item i out of the list (the caller frees it). */
static nostr__client_item *nostr__client_take(nostr_client *c, size_t i)
{
    nostr__client_item *it = c->items[i];
    memmove(c->items + i, c->items + i + 1, (c->item_count - i - 1) * sizeof *c->items);
    c->item_count--;
    c->pending_bytes -= it->msg_len;
    return it;
}

static int nostr__client_add(nostr_client *c, int type, const char *sub, const unsigned char *id, const char *msg,
                             size_t len, long long deadline, nostr__client_item **out)
{
    nostr__client_item *it;
    if (c->item_count >= c->max_pending || c->pending_bytes + len > c->max_pending_bytes) return NOSTR_ERR_TOO_LARGE;
    if (c->item_count == c->item_cap) {
        size_t cap = c->item_cap ? c->item_cap * 2 : 16;
        nostr__client_item **grown = (nostr__client_item **)nostr_realloc(c->al, c->items, cap * sizeof *c->items);
        if (!grown) return NOSTR_ERR_NOMEM;
        c->items = grown;
        c->item_cap = cap;
    }
    it = (nostr__client_item *)nostr_alloc(c->al, sizeof *it + len + 1);
    if (!it) return NOSTR_ERR_NOMEM;
    memset(it, 0, sizeof *it);
    it->type = type;
    if (sub) memcpy(it->sub, sub, strlen(sub) + 1);
    if (id) memcpy(it->id, id, 32);
    it->deadline = deadline;
    it->msg = (char *)(it + 1);
    memcpy(it->msg, msg, len);
    it->msg[len] = 0;
    it->msg_len = len;
    c->items[c->item_count++] = it;
    c->pending_bytes += len;
    *out = it;
    return NOSTR_OK;
}

/* ---- sending ---- */

/* Framer output: through TLS for wss, else straight to the socket. */
static int nostr__client_ws_send(void *user, const void *data, size_t n)
{
    nostr_client *c = (nostr_client *)user;
    int rc;
    if (c->tls) {
        rc = nostr_tls_write(c->tls, data, n);
    } else {
        rc = c->cb.send(c->cb.user, data, n) ? NOSTR_ERR_NET : NOSTR_OK;
    }
    if (rc) nostr__client_fail_conn(c, rc, "could not write to the connection");
    return rc;
}

static int nostr__client_tls_send(void *user, const void *cipher, size_t n)
{
    nostr_client *c = (nostr_client *)user;
    if (c->cb.send(c->cb.user, cipher, n) == 0) return 0;
    nostr__client_fail_conn(c, NOSTR_ERR_NET, "could not write to the connection");
    return -1;
}

static int nostr__client_send_text(nostr_client *c, const char *msg, size_t len)
{
    int rc;
    if (c->state != NOSTR_CLIENT_OPEN || c->conn_error) return NOSTR_ERR_CLOSED;
    rc = nostr_ws_send_text(&c->ws, msg, len);
    if (rc) nostr__client_fail_conn(c, rc, "could not send a message");
    return rc;
}

static void nostr__client_send_item(nostr_client *c, nostr__client_item *it)
{
    if (nostr__client_send_text(c, it->msg, it->msg_len) == NOSTR_OK) {
        it->sent = 1;
        it->sent_authed = c->authed;
        if (it->type != NOSTR__CLIENT_SUB && it->deadline >= 0 && it->deadline < c->now + c->answer_timeout)
            it->deadline = c->now + c->answer_timeout;
    }
}

/* ---- connection lifecycle ---- */

static long long nostr__client_backoff_delay(nostr_client *c)
{
    long long bound = c->backoff_base;
    unsigned i;
    unsigned char r[4];
    unsigned long v;
    for (i = 0; i < c->attempts && bound < c->backoff_max; i++) bound *= 2;
    if (bound > c->backoff_max) bound = c->backoff_max;
    if (nostr_random(c->ctx, r, sizeof r) != NOSTR_OK) return bound; /* no randomness: the bound itself */
    v = ((unsigned long)r[0] << 24) | ((unsigned long)r[1] << 16) | ((unsigned long)r[2] << 8) | r[3];
    return (long long)(v % (unsigned long)(bound + 1)); /* full jitter: uniform in [0, bound] */
}

/* Free what belongs to one connection. */
static void nostr__client_reset_conn(nostr_client *c)
{
    size_t i;
    if (c->tls) nostr_tls_free(c->tls);
    c->tls = NULL;
    if (c->ws_up) nostr_ws_free(&c->ws);
    c->ws_up = 0;
    nostr_http_parser_reset(&c->http);
    nostr_buf_clear(&c->plain_in);
    nostr_buf_clear(&c->inbox);
    nostr_buf_clear(&c->challenge);
    c->conn_error = 0;
    c->conn_error_msg = NULL;
    c->ws_closed = 0;
    c->auth_pending = 0;
    c->authed = 0;
    c->ping_sent = -1;
    for (i = 0; i < c->item_count; i++) {
        c->items[i]->sent = 0;
        c->items[i]->auth_wait = 0;
        c->items[i]->auth_retried = 0;
        c->items[i]->sent_authed = 0;
    }
}

/* End the current connection: close callback, on_disconnect, backoff. */
static void nostr__client_drop(nostr_client *c, int code, const char *msg)
{
    int had_socket = c->tcp_up;
    if (!nostr__client_connected_state(c->state)) return;
    c->tcp_up = 0;
    c->conn_gen++;
    nostr__client_reset_conn(c);
    c->state = NOSTR_CLIENT_BACKOFF;
    if (c->no_reconnect) {
        c->next_attempt = -1;
    } else {
        c->next_attempt = c->now + nostr__client_backoff_delay(c);
        if (c->attempts < 64) c->attempts++;
    }
    if (had_socket && c->cb.close) c->cb.close(c->cb.user);
    if (c->cb.on_disconnect) c->cb.on_disconnect(c->cb.user, code, msg);
}

/* Act on what lower layers recorded. */
static void nostr__client_settle(nostr_client *c)
{
    if (!nostr__client_connected_state(c->state)) return;
    if (c->conn_error) {
        nostr__client_drop(c, c->conn_error, c->conn_error_msg ? c->conn_error_msg : "connection failed");
    } else if (c->ws_closed) {
        snprintf(c->msgbuf, sizeof c->msgbuf, "relay closed the WebSocket (code %d)", c->ws_close_code);
        nostr__client_drop(c, NOSTR_ERR_CLOSED, c->msgbuf);
    }
}

static void nostr__client_attempt(nostr_client *c)
{
    c->state = NOSTR_CLIENT_CONNECTING;
    c->attempt_start = c->now;
    c->next_attempt = -1;
    c->tcp_up = 1; /* from here on the app may hold a socket in progress */
    if (c->cb.connect(c->cb.user, c->url.host, c->url.port) != 0 && c->state == NOSTR_CLIENT_CONNECTING) {
        c->tcp_up = 0;
        nostr__client_drop(c, NOSTR_ERR_NET, "could not start the TCP connection");
    }
}

NOSTRDEF int nostr_client_start(nostr_client *c, long long now_ms)
{
    if (!c) return NOSTR_ERR_ARG;
    c->now = now_ms;
    if (c->state == NOSTR_CLIENT_CLOSED) return NOSTR_ERR_CLOSED;
    if (c->state != NOSTR_CLIENT_IDLE && c->state != NOSTR_CLIENT_BACKOFF) return NOSTR_OK;
    nostr__client_attempt(c);
    return NOSTR_OK;
}

static void nostr__client_tls_plain(void *user, const char *data, size_t n)
{
    nostr_client *c = (nostr_client *)user;
    if (nostr_buf_append(&c->plain_in, data, n) != NOSTR_OK)
        nostr__client_fail_conn(c, NOSTR_ERR_NOMEM, "out of memory for received data");
}

/* The TLS config for wss: the caller's, or one loaded on first use. */
static int nostr__client_tls_setup(nostr_client *c)
{
    nostr_error err;
    nostr_tls_callbacks tcb;
    const char *name = c->server_name ? c->server_name : c->url.host;
    int rc;
    memset(&err, 0, sizeof err);
    if (!c->tls_cfg) {
        nostr_tls_config_opts opts;
        memset(&opts, 0, sizeof opts);
        opts.role = NOSTR_TLS_CLIENT;
        opts.ca_file = c->ca_file;
        rc = nostr_tls_config_new(c->ctx, &opts, &c->tls_cfg, &err);
        if (rc) {
            nostr__client_fail_conn(c, rc, err.msg ? err.msg : "could not load the TLS configuration");
            return rc;
        }
        c->own_tls_cfg = 1;
    }
    memset(&tcb, 0, sizeof tcb);
    tcb.user = c;
    tcb.send = nostr__client_tls_send;
    tcb.on_plain = nostr__client_tls_plain;
    rc = nostr_tls_new(c->tls_cfg, name, &tcb, &c->tls, &err);
    if (rc) nostr__client_fail_conn(c, rc, err.msg ? err.msg : "could not set up TLS");
    return rc;
}

/* The HTTP Upgrade request (RFC 6455 section 4.1). */
static int nostr__client_send_upgrade(nostr_client *c)
{
    nostr_buf req;
    int rc;
    if (nostr_random(c->ctx, c->ws_key, sizeof c->ws_key) != NOSTR_OK) {
        nostr__client_fail_conn(c, NOSTR_ERR_RNG, "random source failed");
        return NOSTR_ERR_RNG;
    }
    nostr_buf_init(&req, c->al);
    rc = nostr_ws_client_request(&req, c->url.host_header, c->url.path, c->ws_key, "User-Agent: distrise\r\n");
    if (rc == NOSTR_OK) {
        if (c->tls)
            rc = nostr_tls_write(c->tls, req.data, req.len);
        else
            rc = c->cb.send(c->cb.user, req.data, req.len) ? NOSTR_ERR_NET : NOSTR_OK;
    }
    nostr_buf_free(&req);
    if (rc) nostr__client_fail_conn(c, rc, "could not send the WebSocket upgrade request");
    return rc;
}

NOSTRDEF void nostr_client_connected(nostr_client *c, long long now_ms)
{
    if (!c) return;
    c->now = now_ms;
    if (c->state != NOSTR_CLIENT_CONNECTING) return;
    c->tcp_up = 1;
    c->last_rx = now_ms;
    nostr_http_parser_reset(&c->http);
    if (c->url.tls) {
        c->state = NOSTR_CLIENT_TLS;
        if (nostr__client_tls_setup(c) == NOSTR_OK) {
            /* The upgrade request waits inside TLS until the handshake is done. */
            if (nostr_tls_start(c->tls) != NOSTR_OK)
                nostr__client_fail_conn(c, NOSTR_ERR_TLS, "TLS handshake failed to start");
            else
                nostr__client_send_upgrade(c);
        }
    } else {
        c->state = NOSTR_CLIENT_UPGRADING;
        nostr__client_send_upgrade(c);
    }
    nostr__client_settle(c);
}

NOSTRDEF void nostr_client_disconnected(nostr_client *c, long long now_ms)
{
    if (!c) return;
    c->now = now_ms;
    if (!nostr__client_connected_state(c->state)) return;
    c->tcp_up = 0; /* the app already closed it */
    if (c->state == NOSTR_CLIENT_CONNECTING)
        nostr__client_drop(c, NOSTR_ERR_NET, "could not connect");
    else
        nostr__client_drop(c, NOSTR_ERR_CLOSED, "connection closed");
}

/* ---- WebSocket callbacks ---- */

static void nostr__client_ws_message(void *user, int opcode, const char *data, size_t len)
{
    nostr_client *c = (nostr_client *)user;
    unsigned char op = (unsigned char)opcode;
    if (nostr_buf_append(&c->inbox, &op, 1) || nostr_buf_append(&c->inbox, &len, sizeof len) ||
        nostr_buf_append(&c->inbox, data, len) || nostr_buf_append_char(&c->inbox, 0))
        nostr__client_fail_conn(c, NOSTR_ERR_NOMEM, "out of memory for received messages");
}

static void nostr__client_ws_pong(void *user, const char *data, size_t len)
{
    nostr_client *c = (nostr_client *)user;
    (void)data;
    (void)len;
    c->ping_sent = -1;
}

static void nostr__client_ws_close(void *user, int code, const char *reason, size_t len)
{
    nostr_client *c = (nostr_client *)user;
    (void)reason;
    (void)len;
    c->ws_closed = 1;
    c->ws_close_code = code;
}

static void nostr__client_open(nostr_client *c)
{
    nostr_ws_config wcfg;
    nostr_ws_callbacks wcb;
    size_t i;
    memset(&wcfg, 0, sizeof wcfg);
    wcfg.max_frame = c->max_message;
    wcfg.max_message = c->max_message;
    wcfg.allocator = *c->al;
    wcfg.rng = nostr__client_rng;
    wcfg.rng_user = c->ctx;
    memset(&wcb, 0, sizeof wcb);
    wcb.user = c;
    wcb.send = nostr__client_ws_send;
    wcb.on_message = nostr__client_ws_message;
    wcb.on_pong = nostr__client_ws_pong;
    wcb.on_close = nostr__client_ws_close;
    if (nostr_ws_init(&c->ws, NOSTR_WS_CLIENT, &wcfg, &wcb) != NOSTR_OK) {
        nostr__client_fail_conn(c, NOSTR_ERR_WS, "could not set up the WebSocket framer");
        return;
    }
    c->ws_up = 1;
    c->state = NOSTR_CLIENT_OPEN;
    c->attempts = 0;
    c->ping_sent = -1;
    /* Subscriptions, then publishes and COUNTs, in the order they were made. */
    for (i = 0; i < c->item_count && !c->conn_error; i++) nostr__client_send_item(c, c->items[i]);
    if (c->cb.on_open && !c->conn_error) c->cb.on_open(c->cb.user);
}

/* ---- NIP-01 dispatch ---- */

static void nostr__client_send_auth_event(nostr_client *c, const nostr_event *ev)
{
    nostr_msg m;
    nostr_buf out;
    memset(&m, 0, sizeof m);
    m.type = NOSTR_MSG_AUTH;
    m.event = *ev;
    nostr_buf_init(&out, c->al);
    if (nostr_msg_write(&m, NOSTR_FROM_CLIENT, &out) == NOSTR_OK &&
        nostr__client_send_text(c, out.data, out.len) == 0) {
        memcpy(c->auth_id, ev->id, 32);
        c->auth_pending = 1;
    }
    nostr_buf_free(&out);
}

static void nostr__client_on_challenge(nostr_client *c, const nostr_str *challenge)
{
    nostr_arena a;
    nostr_event ev;
    int rc;
    nostr_buf_clear(&c->challenge);
    if (nostr_buf_append(&c->challenge, challenge->ptr, challenge->len) != NOSTR_OK) return;
    if (!c->has_keys || !c->cb.unix_time) {
        if (c->has_keys)
            nostr__client_error(c, NOSTR_ERR_ARG, "AUTH: keys but no unix_time callback to date the event");
        if (c->cb.on_auth_challenge) c->cb.on_auth_challenge(c->cb.user, c->challenge.data);
        return;
    }
    nostr_arena_init(&a, NULL, 0, c->al);
    rc = nostr_build_auth(&ev, &a, c->cb.unix_time(c->cb.user), c->url_text, c->challenge.data);
    if (!rc) rc = nostr_event_sign(c->ctx, &ev, &c->keys);
    if (rc)
        nostr__client_error(c, rc, "AUTH: could not build the kind 22242 event");
    else
        nostr__client_send_auth_event(c, &ev);
    nostr_arena_free(&a);
}

/* Our AUTH was answered: on success re-send what waited for it. */
static void nostr__client_on_auth_ok(nostr_client *c, int ok, const char *message)
{
    size_t i;
    c->auth_pending = 0;
    c->authed = ok;
    if (c->cb.on_auth) c->cb.on_auth(c->cb.user, ok, message);
    for (i = 0; i < c->item_count; i++) {
        nostr__client_item *it = c->items[i];
        if (!it->auth_wait) continue;
        it->auth_wait = 0;
        if (ok) nostr__client_send_item(c, it);
    }
    if (ok) return;
    /* Refused: the requests that waited fail now. */
    for (i = 0; i < c->item_count;) {
        nostr__client_item *it = c->items[i];
        if (!it->auth_retried || it->sent) {
            i++;
            continue;
        }
        it = nostr__client_take(c, i);
        if (it->type == NOSTR__CLIENT_PUB && c->cb.on_ok)
            c->cb.on_ok(c->cb.user, it->id, 0, "auth-required: the relay refused our AUTH");
        else if (it->type != NOSTR__CLIENT_PUB && c->cb.on_closed)
            c->cb.on_closed(c->cb.user, it->sub, "auth-required: the relay refused our AUTH");
        nostr_free(c->al, it);
        i = 0;
    }
}

/* A refusal with "auth-required:": wait for our AUTH and try once more
 * when we can sign; returns 1 when the item is kept for that. */
static int nostr__client_auth_retry(nostr_client *c, nostr__client_item *it, const nostr_str *message)
{
    if (!nostr__client_starts_with(message->ptr, message->len, "auth-required:")) return 0;
    if (!c->has_keys || !c->cb.unix_time || it->auth_retried || it->sent_authed) return 0;
    it->auth_retried = 1;
    it->sent = 0;
    if (c->authed)
        nostr__client_send_item(c, it); /* sent before our AUTH got through */
    else
        it->auth_wait = 1;
    return 1;
}

static void nostr__client_on_event(nostr_client *c, const nostr_msg *m, const char *text)
{
    nostr__client_item *it = nostr__client_find(c, NOSTR__CLIENT_SUB, m->sub_id.ptr, m->sub_id.len, NULL, NULL);
    nostr_error err;
    char sub[65];
    int rc;
    if (!it) return;                  /* a subscription we closed: events may still be in flight */
    memcpy(sub, it->sub, sizeof sub); /* the callback may close it */
    if (c->verify) {
        memset(&err, 0, sizeof err);
        rc = nostr_event_validate(c->ctx, &m->event, NULL, &err);
        if (rc) {
            snprintf(c->msgbuf, sizeof c->msgbuf, "invalid event from relay dropped: %s",
                     err.msg ? err.msg : nostr_strerror(rc));
            nostr__client_error(c, rc, c->msgbuf);
            return;
        }
    }
    if (c->cb.on_event) c->cb.on_event(c->cb.user, sub, &m->event, text + m->event.json_offset, m->event.json_len);
}

static void nostr__client_on_ok(nostr_client *c, const nostr_msg *m)
{
    size_t i;
    nostr__client_item *it;
    if (c->auth_pending && memcmp(m->id, c->auth_id, 32) == 0) {
        nostr__client_on_auth_ok(c, m->ok, m->message.ptr);
        return;
    }
    it = nostr__client_find(c, NOSTR__CLIENT_PUB, NULL, 0, m->id, &i);
    if (!it) return; /* answered after a timeout, or not ours */
    if (!m->ok && nostr__client_auth_retry(c, it, &m->message)) return;
    it = nostr__client_take(c, i);
    if (c->cb.on_ok) c->cb.on_ok(c->cb.user, it->id, m->ok, m->message.ptr);
    nostr_free(c->al, it);
}

static void nostr__client_on_closed(nostr_client *c, const nostr_msg *m)
{
    size_t i;
    nostr__client_item *it = nostr__client_find(c, NOSTR__CLIENT_SUB, m->sub_id.ptr, m->sub_id.len, NULL, &i);
    if (!it) it = nostr__client_find(c, NOSTR__CLIENT_COUNT, m->sub_id.ptr, m->sub_id.len, NULL, &i);
    if (!it) return;
    if (nostr__client_auth_retry(c, it, &m->message)) return;
    it = nostr__client_take(c, i);
    if (c->cb.on_closed) c->cb.on_closed(c->cb.user, it->sub, m->message.ptr);
    nostr_free(c->al, it);
}

static void nostr__client_dispatch(nostr_client *c, const char *text, size_t len)
{
    nostr_msg m;
    nostr_error err;
    nostr__client_item *it;
    char sub[65];
    size_t i;
    int rc;
    nostr_arena_reset(&c->arena);
    memset(&err, 0, sizeof err);
    rc = nostr_msg_parse(&m, NOSTR_FROM_RELAY, text, len, &c->arena, &c->limits, &err);
    if (rc) {
        snprintf(c->msgbuf, sizeof c->msgbuf, "bad message from relay dropped: %s at offset %lu",
                 err.msg ? err.msg : nostr_strerror(rc), (unsigned long)err.offset);
        nostr__client_error(c, rc, c->msgbuf);
        return;
    }
    switch (m.type) {
    case NOSTR_MSG_EVENT: nostr__client_on_event(c, &m, text); break;
    case NOSTR_MSG_OK: nostr__client_on_ok(c, &m); break;
    case NOSTR_MSG_EOSE:
        it = nostr__client_find(c, NOSTR__CLIENT_SUB, m.sub_id.ptr, m.sub_id.len, NULL, NULL);
        if (!it || !c->cb.on_eose) break;
        memcpy(sub, it->sub, sizeof sub); /* the callback may close it */
        c->cb.on_eose(c->cb.user, sub);
        break;
    case NOSTR_MSG_CLOSED: nostr__client_on_closed(c, &m); break;
    case NOSTR_MSG_NOTICE:
        if (c->cb.on_notice) c->cb.on_notice(c->cb.user, m.message.ptr);
        break;
    case NOSTR_MSG_COUNT:
        it = nostr__client_find(c, NOSTR__CLIENT_COUNT, m.sub_id.ptr, m.sub_id.len, NULL, &i);
        if (!it) break;
        it = nostr__client_take(c, i);
        if (c->cb.on_count) c->cb.on_count(c->cb.user, it->sub, m.count, m.approximate);
        nostr_free(c->al, it);
        break;
    case NOSTR_MSG_AUTH: nostr__client_on_challenge(c, &m.message); break;
    default: nostr__client_error(c, NOSTR_ERR_MESSAGE, "unexpected message from relay dropped"); break;
    }
}

/* Deliver the messages the framer completed. A callback may end the
 * connection (nostr_client_close), which empties the inbox. */
static void nostr__client_drain_inbox(nostr_client *c)
{
    size_t pos = 0;
    while (pos < c->inbox.len && c->state == NOSTR_CLIENT_OPEN) {
        unsigned char op = (unsigned char)c->inbox.data[pos];
        size_t len;
        const char *text;
        memcpy(&len, c->inbox.data + pos + 1, sizeof len);
        text = c->inbox.data + pos + 1 + sizeof len;
        pos += 1 + sizeof len + len + 1;
        if (op == NOSTR_WS_OP_TEXT)
            nostr__client_dispatch(c, text, len);
        else
            nostr__client_error(c, NOSTR_ERR_MESSAGE, "binary WebSocket message from relay dropped");
    }
    nostr_buf_clear(&c->inbox);
}

/* Plaintext from the relay: the 101 while upgrading, then frames. */
static void nostr__client_plain(nostr_client *c, const char *data, size_t n)
{
    if (c->state == NOSTR_CLIENT_UPGRADING && n) {
        size_t used = 0;
        nostr_error err;
        int rc = nostr_http_feed(&c->http, data, n, &used);
        if (rc == NOSTR_HTTP_MORE) return;
        if (rc != NOSTR_HTTP_DONE) {
            nostr__client_fail_conn(c, NOSTR_ERR_HTTP, "bad HTTP answer to the WebSocket upgrade");
            return;
        }
        memset(&err, 0, sizeof err);
        if (nostr_ws_client_check_response(&c->http.msg, c->ws_key, &err) != NOSTR_OK) {
            nostr__client_fail_conn(c, NOSTR_ERR_HTTP, err.msg ? err.msg : "bad answer to the WebSocket upgrade");
            return;
        }
        nostr__client_open(c);
        data += used;
        n -= used;
    }
    if (c->state == NOSTR_CLIENT_OPEN && n && !c->conn_error && !c->ws_closed) {
        int rc = nostr_ws_feed(&c->ws, data, n);
        if (rc && rc != NOSTR_ERR_CLOSED)
            nostr__client_fail_conn(c, rc, c->ws.error ? c->ws.error : "WebSocket protocol error from relay");
    }
    nostr__client_drain_inbox(c);
}

NOSTRDEF int nostr_client_feed(nostr_client *c, const void *data, size_t n, long long now_ms)
{
    int state;
    if (!c || (!data && n)) return NOSTR_ERR_ARG;
    c->now = now_ms;
    if (c->state < NOSTR_CLIENT_TLS || c->state > NOSTR_CLIENT_OPEN || !c->tcp_up) return NOSTR_ERR_CLOSED;
    c->last_rx = now_ms;
    c->ping_sent = -1; /* any data shows the connection is alive */
    if (c->tls) {
        unsigned gen = c->conn_gen;
        int rc = nostr_tls_feed(c->tls, data, n);
        if (rc && rc != NOSTR_ERR_CLOSED) /* read it now: a callback below may end the connection */
            snprintf(c->tlsmsg, sizeof c->tlsmsg, "TLS: %.300s", nostr_tls_last_error(c->tls));
        if (c->state == NOSTR_CLIENT_TLS && nostr_tls_handshake_done(c->tls)) c->state = NOSTR_CLIENT_UPGRADING;
        /* plaintext that arrived before a close_notify or an error still counts */
        while (c->plain_in.len && !c->conn_error && c->conn_gen == gen) {
            nostr_buf chunk = c->plain_in;
            nostr_buf_init(&c->plain_in, c->al);
            nostr__client_plain(c, chunk.data, chunk.len);
            nostr_buf_free(&chunk);
        }
        if (c->conn_gen == gen && rc == NOSTR_ERR_CLOSED)
            nostr__client_fail_conn(c, NOSTR_ERR_CLOSED, "relay closed the TLS session");
        else if (c->conn_gen == gen && rc)
            nostr__client_fail_conn(c, rc, c->tlsmsg);
    } else {
        nostr__client_plain(c, (const char *)data, n);
    }
    state = c->conn_error ? c->conn_error : (c->ws_closed ? NOSTR_ERR_CLOSED : NOSTR_OK);
    nostr__client_settle(c);
    return state;
}

/* ---- timers ---- */

static void nostr__client_expire(nostr_client *c)
{
    size_t i = 0;
    while (i < c->item_count) {
        nostr__client_item *it = c->items[i];
        if (it->type == NOSTR__CLIENT_SUB || it->deadline < 0 || it->deadline > c->now) {
            i++;
            continue;
        }
        it = nostr__client_take(c, i);
        if (it->type == NOSTR__CLIENT_PUB && c->cb.on_ok)
            c->cb.on_ok(c->cb.user, it->id, 0, "timeout: no OK from the relay");
        else if (it->type == NOSTR__CLIENT_COUNT && c->cb.on_closed)
            c->cb.on_closed(c->cb.user, it->sub, "timeout: no COUNT answer from the relay");
        nostr_free(c->al, it);
        i = 0; /* the callback may have changed the list */
    }
}

NOSTRDEF void nostr_client_tick(nostr_client *c, long long now_ms)
{
    if (!c) return;
    c->now = now_ms;
    if (c->state == NOSTR_CLIENT_CLOSED) return;
    nostr__client_expire(c);
    if (c->state >= NOSTR_CLIENT_CONNECTING && c->state < NOSTR_CLIENT_OPEN) {
        if (now_ms - c->attempt_start >= c->connect_timeout)
            nostr__client_drop(c, NOSTR_ERR_TIMEOUT, "timeout while connecting to the relay");
    } else if (c->state == NOSTR_CLIENT_OPEN && c->ping_interval > 0) {
        if (c->ping_sent >= 0 && now_ms - c->ping_sent >= c->pong_timeout) {
            nostr__client_drop(c, NOSTR_ERR_TIMEOUT, "relay did not answer a ping");
        } else if (c->ping_sent < 0 && now_ms - c->last_rx >= c->ping_interval) {
            if (nostr_ws_send_ping(&c->ws, "", 0) == NOSTR_OK)
                c->ping_sent = now_ms;
            else
                nostr__client_fail_conn(c, NOSTR_ERR_NET, "could not send a ping");
        }
    } else if (c->state == NOSTR_CLIENT_BACKOFF && c->next_attempt >= 0 && now_ms >= c->next_attempt) {
        nostr__client_attempt(c);
    }
    nostr__client_settle(c);
}

static void nostr__client_min(long long *best, long long t)
{
    if (t >= 0 && (*best < 0 || t < *best)) *best = t;
}

NOSTRDEF long long nostr_client_next_timeout(const nostr_client *c)
{
    long long best = -1;
    size_t i;
    if (!c || c->state == NOSTR_CLIENT_CLOSED) return -1;
    for (i = 0; i < c->item_count; i++)
        if (c->items[i]->type != NOSTR__CLIENT_SUB) nostr__client_min(&best, c->items[i]->deadline);
    if (c->state >= NOSTR_CLIENT_CONNECTING && c->state < NOSTR_CLIENT_OPEN)
        nostr__client_min(&best, c->attempt_start + c->connect_timeout);
    else if (c->state == NOSTR_CLIENT_OPEN && c->ping_interval > 0)
        nostr__client_min(&best, c->ping_sent >= 0 ? c->ping_sent + c->pong_timeout : c->last_rx + c->ping_interval);
    else if (c->state == NOSTR_CLIENT_BACKOFF)
        nostr__client_min(&best, c->next_attempt);
    return best;
}

/* ---- setup ---- */

static long long nostr__client_ms(long long v, long long def)
{
    return v ? v : def;
}

NOSTRDEF nostr_client *nostr_client_new(nostr_ctx *ctx, const char *url, const nostr_client_config *cfg,
                                        const nostr_client_callbacks *cb, nostr_error *err)
{
    nostr_client_config zero;
    const nostr_allocator *al;
    nostr_client *c;
    nostr_client_url parsed;
    if (!ctx || !url || !cb || !cb->send || !cb->connect) {
        nostr__fail(err, NOSTR_ERR_ARG, 0, "client: need a context, a URL, and send and connect callbacks");
        return NULL;
    }
    if (nostr_client_parse_url(url, &parsed, err) != NOSTR_OK) return NULL;
    if (!cfg) {
        memset(&zero, 0, sizeof zero);
        cfg = &zero;
    }
    al = nostr_ctx_allocator(ctx);
    c = (nostr_client *)nostr_alloc(al, sizeof *c);
    if (!c) {
        nostr__fail(err, NOSTR_ERR_NOMEM, 0, "client: out of memory");
        return NULL;
    }
    memset(c, 0, sizeof *c);
    c->ctx = ctx;
    c->al = al;
    c->cb = *cb;
    c->url = parsed;
    c->url_text = nostr__client_strdup(al, url);
    c->ca_file = nostr__client_strdup(al, cfg->tls_ca_file);
    c->server_name = nostr__client_strdup(al, cfg->tls_server_name);
    if (cfg->keys) {
        c->keys = *cfg->keys;
        c->has_keys = 1;
    }
    c->verify = cfg->verify_events != NOSTR_CLIENT_NO_VERIFY;
    c->no_reconnect = cfg->no_reconnect;
    c->connect_timeout = nostr__client_ms(cfg->connect_timeout_ms, 10000);
    c->answer_timeout = nostr__client_ms(cfg->answer_timeout_ms, 10000);
    c->ping_interval = nostr__client_ms(cfg->ping_interval_ms, 30000);
    c->pong_timeout = nostr__client_ms(cfg->pong_timeout_ms, 10000);
    c->backoff_base = nostr__client_ms(cfg->backoff_base_ms, 500);
    c->backoff_max = nostr__client_ms(cfg->backoff_max_ms, 60000);
    if (c->backoff_base < 1) c->backoff_base = 1;
    if (c->backoff_max < c->backoff_base) c->backoff_max = c->backoff_base;
    c->max_pending = cfg->max_pending ? cfg->max_pending : 1024;
    c->max_pending_bytes = cfg->max_pending_bytes ? cfg->max_pending_bytes : (4u << 20);
    c->max_message = cfg->max_message ? cfg->max_message : (1u << 20);
    nostr_limits_resolve(&c->limits, cfg->limits);
    if (c->limits.max_input < c->max_message) c->limits.max_input = c->max_message;
    c->tls_cfg = cfg->tls;
    c->state = NOSTR_CLIENT_IDLE;
    c->next_attempt = -1;
    c->ping_sent = -1;
    nostr_http_parser_init(&c->http, NOSTR_HTTP_RESPONSE, NULL);
    nostr_buf_init(&c->plain_in, al);
    nostr_buf_init(&c->inbox, al);
    nostr_buf_init(&c->challenge, al);
    nostr_arena_init(&c->arena, NULL, 0, al);
    if (!c->url_text || (cfg->tls_ca_file && !c->ca_file) || (cfg->tls_server_name && !c->server_name)) {
        nostr__fail(err, NOSTR_ERR_NOMEM, 0, "client: out of memory");
        nostr_client_free(c);
        return NULL;
    }
    return c;
}

static void nostr__client_free_items(nostr_client *c)
{
    size_t i;
    for (i = 0; i < c->item_count; i++) nostr_free(c->al, c->items[i]);
    c->item_count = 0;
    c->pending_bytes = 0;
}

NOSTRDEF void nostr_client_close(nostr_client *c, long long now_ms)
{
    if (!c) return;
    c->now = now_ms;
    if (c->state == NOSTR_CLIENT_CLOSED) return;
    nostr__client_free_items(c);
    if (c->state == NOSTR_CLIENT_OPEN && !c->conn_error && !c->ws_closed) {
        nostr_ws_close(&c->ws, NOSTR_WS_CLOSE_NORMAL, "", 0);
        if (c->tls) nostr_tls_close(c->tls);
    } else if (c->tls && c->tcp_up && !c->conn_error) {
        nostr_tls_close(c->tls);
    }
    c->no_reconnect = 1;
    if (nostr__client_connected_state(c->state)) nostr__client_drop(c, NOSTR_OK, "closed");
    c->state = NOSTR_CLIENT_CLOSED;
    c->next_attempt = -1;
}

NOSTRDEF void nostr_client_free(nostr_client *c)
{
    if (!c) return;
    if (c->tcp_up && c->cb.close) c->cb.close(c->cb.user);
    c->tcp_up = 0;
    nostr__client_reset_conn(c);
    nostr__client_free_items(c);
    nostr_free(c->al, c->items);
    nostr_http_parser_free(&c->http);
    nostr_buf_free(&c->plain_in);
    nostr_buf_free(&c->inbox);
    nostr_buf_free(&c->challenge);
    nostr_arena_free(&c->arena);
    if (c->own_tls_cfg) nostr_tls_config_free(c->tls_cfg);
    nostr_free(c->al, c->url_text);
    nostr_free(c->al, c->ca_file);
    nostr_free(c->al, c->server_name);
    nostr_keys_wipe(&c->keys);
    nostr_free(c->al, c);
}

NOSTRDEF void nostr_client_set_reconnect(nostr_client *c, int on)
{
    if (!c || c->state == NOSTR_CLIENT_CLOSED) return;
    c->no_reconnect = !on;
    if (c->state != NOSTR_CLIENT_BACKOFF) return;
    if (!on)
        c->next_attempt = -1;
    else if (c->next_attempt < 0)
        c->next_attempt = c->now + nostr__client_backoff_delay(c);
}

/* ---- getters ---- */

NOSTRDEF int nostr_client_state(const nostr_client *c)
{
    return c ? c->state : NOSTR_CLIENT_CLOSED;
}

NOSTRDEF long long nostr_client_next_attempt(const nostr_client *c)
{
    return c && c->state == NOSTR_CLIENT_BACKOFF ? c->next_attempt : -1;
}

NOSTRDEF unsigned nostr_client_attempts(const nostr_client *c)
{
    return c ? c->attempts : 0;
}

NOSTRDEF int nostr_client_authenticated(const nostr_client *c)
{
    return c ? c->authed : 0;
}

NOSTRDEF const nostr_client_url *nostr_client_get_url(const nostr_client *c)
{
    return c ? &c->url : NULL;
}

NOSTRDEF const char *nostr_client_challenge(const nostr_client *c)
{
    return c && c->challenge.len ? c->challenge.data : "";
}

/* ---- requests ---- */

/* Keep a request and send it now when the connection is open. */
static int nostr__client_submit(nostr_client *c, int type, const char *sub, const unsigned char *id,
                                const nostr_buf *msg, long long now_ms)
{
    nostr__client_item *it;
    int rc;
    c->now = now_ms;
    rc = nostr__client_add(c, type, sub, id, msg->data, msg->len,
                           type == NOSTR__CLIENT_SUB ? -1 : now_ms + c->answer_timeout, &it);
    if (rc) return rc;
    if (c->state == NOSTR_CLIENT_OPEN) nostr__client_send_item(c, it);
    nostr__client_settle(c);
    return NOSTR_OK;
}

static int nostr__client_write_filters(nostr_client *c, int type, const char *sub, const nostr_filter *filters,
                                       size_t n, nostr_buf *out)
{
    nostr_msg m;
    if (!c || !nostr__client_sub_valid(sub) || !filters || n == 0) return NOSTR_ERR_ARG;
    if (c->state == NOSTR_CLIENT_CLOSED) return NOSTR_ERR_CLOSED;
    memset(&m, 0, sizeof m);
    m.type = type == NOSTR__CLIENT_SUB ? NOSTR_MSG_REQ : NOSTR_MSG_COUNT;
    m.sub_id.ptr = sub;
    m.sub_id.len = strlen(sub);
    m.filters = (nostr_filter *)filters;
    m.filter_count = n;
    return nostr_msg_write(&m, NOSTR_FROM_CLIENT, out);
}

NOSTRDEF int nostr_client_publish(nostr_client *c, const nostr_event *ev, long long now_ms)
{
    nostr_msg m;
    nostr_buf out;
    int rc;
    if (!c || !ev) return NOSTR_ERR_ARG;
    if (c->state == NOSTR_CLIENT_CLOSED) return NOSTR_ERR_CLOSED;
    if (nostr__client_find(c, NOSTR__CLIENT_PUB, NULL, 0, ev->id, NULL)) return NOSTR_OK; /* already waiting */
    memset(&m, 0, sizeof m);
    m.type = NOSTR_MSG_EVENT;
    m.event = *ev;
    nostr_buf_init(&out, c->al);
    rc = nostr_msg_write(&m, NOSTR_FROM_CLIENT, &out);
    if (!rc) rc = nostr__client_submit(c, NOSTR__CLIENT_PUB, NULL, ev->id, &out, now_ms);
    nostr_buf_free(&out);
    return rc;
}

NOSTRDEF int nostr_client_publish_json(nostr_client *c, const char *json, size_t len, long long now_ms)
{
    nostr_arena a;
    nostr_event ev;
    nostr_buf out;
    int rc;
    if (!c || (!json && len)) return NOSTR_ERR_ARG;
    if (c->state == NOSTR_CLIENT_CLOSED) return NOSTR_ERR_CLOSED;
    nostr_arena_init(&a, NULL, 0, c->al);
    rc = nostr_event_parse(&ev, json, len, &a, &c->limits, NULL);
    nostr_arena_free(&a);
    if (rc) return rc;
    if (nostr__client_find(c, NOSTR__CLIENT_PUB, NULL, 0, ev.id, NULL)) return NOSTR_OK;
    nostr_buf_init(&out, c->al);
    rc = nostr_buf_append_str(&out, "[\"EVENT\",");
    if (!rc) rc = nostr_buf_append(&out, json, len);
    if (!rc) rc = nostr_buf_append_char(&out, ']');
    if (!rc) rc = nostr__client_submit(c, NOSTR__CLIENT_PUB, NULL, ev.id, &out, now_ms);
    nostr_buf_free(&out);
    return rc;
}

/* Drop a subscription or COUNT with this id (no callback). */
static void nostr__client_forget(nostr_client *c, int type, const char *sub)
{
    size_t i;
    if (nostr__client_find(c, type, sub, strlen(sub), NULL, &i)) nostr_free(c->al, nostr__client_take(c, i));
}

NOSTRDEF int nostr_client_req(nostr_client *c, const char *sub, const nostr_filter *filters, size_t n, long long now_ms)
{
    nostr_buf out;
    int rc;
    if (!c) return NOSTR_ERR_ARG;
    nostr_buf_init(&out, c->al);
    rc = nostr__client_write_filters(c, NOSTR__CLIENT_SUB, sub, filters, n, &out);
    if (!rc) {
        nostr__client_forget(c, NOSTR__CLIENT_SUB, sub); /* a REQ with the same id replaces it */
        rc = nostr__client_submit(c, NOSTR__CLIENT_SUB, sub, NULL, &out, now_ms);
    }
    nostr_buf_free(&out);
    return rc;
}

NOSTRDEF int nostr_client_count(nostr_client *c, const char *sub, const nostr_filter *filters, size_t n,
                                long long now_ms)
{
    nostr_buf out;
    int rc;
    if (!c) return NOSTR_ERR_ARG;
    nostr_buf_init(&out, c->al);
    rc = nostr__client_write_filters(c, NOSTR__CLIENT_COUNT, sub, filters, n, &out);
    if (!rc) {
        nostr__client_forget(c, NOSTR__CLIENT_COUNT, sub);
        rc = nostr__client_submit(c, NOSTR__CLIENT_COUNT, sub, NULL, &out, now_ms);
    }
    nostr_buf_free(&out);
    return rc;
}

NOSTRDEF int nostr_client_close_sub(nostr_client *c, const char *sub)
{
    nostr_msg m;
    nostr_buf out;
    char id[65];
    size_t i;
    if (!c || !nostr__client_sub_valid(sub)) return NOSTR_ERR_ARG;
    if (!nostr__client_find(c, NOSTR__CLIENT_SUB, sub, strlen(sub), NULL, &i)) return NOSTR_ERR_ARG;
    memcpy(id, sub, strlen(sub) + 1); /* sub may be the item's own copy */
    sub = id;
    nostr_free(c->al, nostr__client_take(c, i));
    if (c->state != NOSTR_CLIENT_OPEN) return NOSTR_OK; /* the relay forgot it with the connection */
    memset(&m, 0, sizeof m);
    m.type = NOSTR_MSG_CLOSE;
    m.sub_id.ptr = sub;
    m.sub_id.len = strlen(sub);
    nostr_buf_init(&out, c->al);
    if (nostr_msg_write(&m, NOSTR_FROM_CLIENT, &out) == NOSTR_OK) nostr__client_send_text(c, out.data, out.len);
    nostr_buf_free(&out);
    nostr__client_settle(c);
    return NOSTR_OK;
}

NOSTRDEF int nostr_client_auth(nostr_client *c, const nostr_event *ev)
{
    if (!c || !ev) return NOSTR_ERR_ARG;
    if (c->state != NOSTR_CLIENT_OPEN) return NOSTR_ERR_CLOSED;
    nostr__client_send_auth_event(c, ev);
    nostr__client_settle(c);
    return c->auth_pending ? NOSTR_OK : NOSTR_ERR_CLOSED;
}
