/* ---- blocking: one relay connection over POSIX sockets (opt-in) ----
 *
 * A thin loop over nostr_client for programs that just want to talk to a
 * relay: resolve (getaddrinfo), non-blocking connect and poll(2),
 * CLOCK_MONOTONIC for the client's timers, time(NULL) for NIP-42 AUTH
 * events. The only part of the library that touches sockets and clocks;
 * define NOSTR_NO_BLOCKING to leave it out. One nostr_conn is used by one
 * thread at a time.
 *
 *     nostr_conn *conn = nostr_conn_open(ctx, "wss://relay.example", 10000, NULL, &err);
 *     nostr_conn_publish(conn, &ev, 10000, &accepted, msg, sizeof msg);
 *     nostr_conn_query(conn, &filter, 1, 10000, print_event, NULL);
 *     nostr_conn_close(conn);
 *
 * Every wait is bounded by its timeout_ms. While waiting, the connection
 * is kept alive (pings) and, when it drops after having been open, it is
 * re-established with the client's backoff (open subscriptions and
 * unanswered publishes are re-sent); options.no_reconnect turns that off
 * and makes waits fail with NOSTR_ERR_CLOSED. Live subscriptions deliver
 * their events during every wait, nostr_conn_poll included. */

#ifndef NOSTR_NO_BLOCKING

typedef struct nostr_conn nostr_conn;

/* Zeroed (or NULL) = defaults. client.answer_timeout_ms defaults to an
 * hour here, so each call's timeout_ms is what bounds the wait. */
typedef struct nostr_conn_options {
    nostr_client_config client; /* keys (NIP-42), verify_events, TLS, ... */
    int no_reconnect;           /* 1: a dropped connection stays down */
    /* Where nostr_conn_open writes a readable description of a failure
     * (e.g. "could not connect: Connection refused"), or NULL. */
    char *error_text;
    size_t error_text_cap;
} nostr_conn_options;

/* An event of a query or a live subscription: return 0 to go on, non-zero
 * to stop (a query then returns NOSTR_OK early; a live subscription ends
 * the current nostr_conn_poll). */
typedef int (*nostr_conn_event_fn)(void *user, const nostr_event *ev, const char *json, size_t len);

/* Connect to a ws:// or wss:// URL and wait until the WebSocket is open.
 * NULL on failure with err: NOSTR_ERR_ARG (bad URL), NOSTR_ERR_NET (name
 * resolution, connection refused...), NOSTR_ERR_TLS, NOSTR_ERR_HTTP (no
 * 101), NOSTR_ERR_TIMEOUT, NOSTR_ERR_CLOSED; the details go to
 * opts->error_text. */
NOSTRDEF nostr_conn *nostr_conn_open(nostr_ctx *ctx, const char *url, int timeout_ms, const nostr_conn_options *opts,
                                     nostr_error *err);
/* Close the WebSocket (a short flush) and free everything. NULL is fine. */
NOSTRDEF void nostr_conn_close(nostr_conn *conn);

/* Publish and wait for the relay's OK: NOSTR_OK with *accepted and the
 * relay's message in msg (truncated to msgcap, NUL-terminated; msg may be
 * NULL), NOSTR_ERR_TIMEOUT, NOSTR_ERR_CLOSED, or the client's error. */
NOSTRDEF int nostr_conn_publish(nostr_conn *conn, const nostr_event *ev, int timeout_ms, int *accepted, char *msg,
                                size_t msgcap);
/* REQ with a fresh subscription id; cb gets every stored event until EOSE,
 * then the subscription is closed. NOSTR_OK at EOSE (or when cb stopped),
 * NOSTR_ERR_CLOSED when the relay answered CLOSED (its message is
 * nostr_conn_last_error), NOSTR_ERR_TIMEOUT. */
NOSTRDEF int nostr_conn_query(nostr_conn *conn, const nostr_filter *filters, size_t n, int timeout_ms,
                              nostr_conn_event_fn cb, void *user);
/* NIP-45 COUNT. NOSTR_OK with *count (and *approximate, may be NULL). */
NOSTRDEF int nostr_conn_count(nostr_conn *conn, const nostr_filter *filters, size_t n, int timeout_ms,
                              unsigned long long *count, int *approximate);
/* Open a subscription that stays open: stored events, then live ones,
 * all delivered to cb during nostr_conn_poll (and other waits). sub_out
 * (65 bytes, may be NULL) receives the subscription id. */
NOSTRDEF int nostr_conn_subscribe_live(nostr_conn *conn, const nostr_filter *filters, size_t n, nostr_conn_event_fn cb,
                                       void *user, char *sub_out);
NOSTRDEF int nostr_conn_unsubscribe(nostr_conn *conn, const char *sub);
/* Wait up to timeout_ms for traffic and deliver it. NOSTR_OK (also when a
 * signal interrupted the wait, or an event callback asked to stop),
 * NOSTR_ERR_CLOSED when the connection is down for good. */
NOSTRDEF int nostr_conn_poll(nostr_conn *conn, int timeout_ms);
/* 1 while the WebSocket is open. */
NOSTRDEF int nostr_conn_is_open(const nostr_conn *conn);
/* The last failure, CLOSED message or error the relay caused ("" if none). */
NOSTRDEF const char *nostr_conn_last_error(const nostr_conn *conn);
/* The last NOTICE ("" if none). */
NOSTRDEF const char *nostr_conn_last_notice(const nostr_conn *conn);
/* The underlying client, e.g. to read its state. */
NOSTRDEF nostr_client *nostr_conn_client(nostr_conn *conn);

/* NIP-11: GET the relay information document of a ws:// or wss:// URL
 * (the same host, port and path over http or https, with Accept:
 * application/nostr+json). Blocking, at most timeout_ms in all. wss: the
 * server certificate is checked against ca_file (a PEM bundle), or the
 * system bundle when NULL. The body (at most max_bytes, default 64 KiB
 * when 0; checked to be UTF-8, not parsed) is appended to out. Returns
 * NOSTR_OK; NOSTR_ERR_ARG (bad URL), NOSTR_ERR_NET (name or connection),
 * NOSTR_ERR_TLS, NOSTR_ERR_TIMEOUT, or NOSTR_ERR_HTTP (an answer other
 * than 200, malformed, too large), with err->msg saying which. */
NOSTRDEF int nostr_fetch_info(nostr_ctx *ctx, const char *url, int timeout_ms, const char *ca_file, size_t max_bytes,
                              nostr_buf *out, nostr_error *err);

#endif /* NOSTR_NO_BLOCKING */
