/* ---- relay: a NIP-01 relay as a sans-I/O state machine ----
 *
 * The application owns the sockets and the loop:
 *
 *     nostr_relay *r = nostr_relay_new(&cfg, &cb, &store);  // store: nostr_store
 *     nostr_relay_tick(r, now_ms);                           // before the first accept
 *     // accepted a socket:
 *     nostr_relay_conn *c = nostr_relay_accept(r, "203.0.113.7", my_conn);
 *     // read n bytes from it:
 *     nostr_relay_feed(r, c, buf, n);
 *     // after feed, and whenever cb.wake(user, my_conn) said so:
 *     const void *p; size_t len = nostr_relay_output(c, &p);
 *     ssize_t w = write(fd, p, len); if (w > 0) nostr_relay_consume(r, c, w);
 *     // (a short write: wait for the socket to be writable, then again)
 *     if (len == 0 && nostr_relay_should_close(c)) { close(fd); nostr_relay_closed(r, c); }
 *     // peer closed or the socket failed:
 *     nostr_relay_closed(r, c);      // c is freed
 *     // every few hundred ms and after each batch:
 *     nostr_relay_tick(r, now_ms); store commit (for the built-in store)
 *
 * One connection speaks HTTP/1.1 first (keep-alive honoured): a WebSocket
 * upgrade (any path) makes it a Nostr connection, which is sent a NIP-42
 * AUTH challenge at once. Other requests go to cfg.http_hook first (the
 * gateway serves its REST API that way); unanswered, the relay serves
 * GET /metrics (Prometheus text), GET /healthz ("ok"), the NIP-11
 * document for a GET (any path) with Accept: application/nostr+json (with
 * CORS headers; OPTIONS gets the CORS preflight answer), a short text for
 * GET / (as strfry does), and 404 for anything else.
 *
 * An EVENT goes: size and structure limits -> id check -> policy (kind
 * and pubkey lists, created_at window, NIP-13 difficulty, NIP-40 already
 * expired, NIP-70 protected needs AUTH by its author, auth-required) ->
 * rate limits -> duplicate check (store->has) -> signature (inline, or on
 * the app's worker threads through cb.verify) -> store->put -> OK (only
 * when the put completed: for the built-in store after the commit that
 * made it durable) -> fan-out through the subscription index, the event's
 * text copied verbatim (never re-serialised) into one frame per matching
 * subscription. Ephemeral kinds (20000-29999) skip the store: OK, then
 * fan-out. Kind 22242 is refused on EVENT (it is for AUTH only). With
 * cb.verify, OK messages may come out of order.
 *
 * OK answers (NIP-01 prefixes):
 *   true  ""                                  stored / delivered (ephemeral)
 *   true  "duplicate: already have this event"  store->has said 1, or put DUPLICATE
 *   true  "duplicate: have a newer version of this event"  put SUPERSEDED
 *   false "blocked: this event was deleted"    put DELETED (NIP-09)
 *   false "invalid: ..."  structure, limits, id, created_at window, expired
 *                         (NIP-40), bad signature
 *   false "blocked: ..."  kind or pubkey lists
 *   false "pow: difficulty N is less than M"
 *   false "auth-required: ..."  auth_required_write, or a NIP-70 protected
 *                         event before AUTH
 *   false "restricted: ..."  a protected event AUTHed as someone else
 *   false "rate-limited: ..."  a token bucket is empty
 *   false "error: ..."    the store failed
 * A message that cannot be parsed gets OK false "invalid: ..." when its
 * event id can still be read, CLOSED "invalid: ..." when it is a REQ or
 * COUNT whose subscription id can be read, else NOTICE "invalid: <why>
 * (at byte N)". The connection lives on; only WebSocket protocol errors
 * and messages over limits.max_message (close 1009) end it.
 *
 * REQ: each filter's limit is capped at max_limit, default_limit when it
 * has none; stored events (newest first), EOSE, then live events. Live
 * events arriving while the query is still in flight (async stores) are
 * held and sent right after EOSE. A REQ with an open id replaces it (the
 * old query, if in flight, emits nothing more). CLOSED reasons:
 * "error: too many subscriptions (max N)", "auth-required: ...",
 * "rate-limited: ...", "invalid: ..." (bad filters, too many filters or
 * values), "error: ..." (store failure). CLOSE gets no answer. COUNT
 * answers ["COUNT", sub, {"count": n}] or CLOSED.
 *
 * Slow readers: when a connection's queued output passes
 * limits.max_output, the output not yet started is dropped, a NOTICE
 * "error: ... slow" and a close frame 1008 are queued, and the connection
 * is closed; once the peer has read nothing of it for 10 s (measured by
 * tick, from the first tick after the close), tick drops the rest
 * (nostr_relay_output then returns 0 so the app closes).
 *
 * Memory: cfg is copied, but the strings and lists it points to (info,
 * relay_url, policy lists) must outlive the relay. */

typedef struct nostr_relay nostr_relay;
typedef struct nostr_relay_conn nostr_relay_conn;

/* Limits; a zero field takes the default in brackets (strfry's or safer). */
typedef struct nostr_relay_limits {
    size_t max_message;               /* WebSocket message bytes [131072] */
    size_t max_event_bytes;           /* an event's JSON bytes [65536] */
    size_t max_tags;                  /* tags per event [2000] */
    size_t max_tag_value;             /* bytes of any tag item [1024] */
    size_t max_content;               /* content bytes [65536] */
    size_t max_subs;                  /* open subscriptions per connection [200] */
    size_t max_filters;               /* filters per REQ or COUNT [20] */
    size_t max_filter_values;         /* values in one filter list [1000] */
    unsigned long long max_limit;     /* a filter's limit is capped at this [500] */
    unsigned long long default_limit; /* limit for a filter that has none [500] */
    long long max_future_s;           /* created_at at most this far ahead [900] */
    long long max_past_s;             /* created_at at most this far back [0 = no bound] */
    int min_pow;                      /* NIP-13 minimum difficulty [0 = none] */
    size_t max_output;                /* output queued to a slow reader before the
                                         connection is closed with a NOTICE [16 MiB] */
    long long idle_timeout_ms;        /* no input for this long: close [600000] */
    long long ping_interval_ms;       /* WebSocket ping when idle this long [60000] */
    /* Token buckets: rate per second and burst; rate 0 = the default,
     * rate < 0 = unlimited. */
    double events_per_s, events_burst;       /* per connection [50, 200] */
    double reqs_per_s, reqs_burst;           /* REQ+COUNT per connection [20, 100] */
    double ip_events_per_s, ip_events_burst; /* per IP address [200, 1000] */
    size_t max_conns_per_ip;                 /* [256] */
} nostr_relay_limits;

/* NIP-11 fields shown in the document (NULL = omitted). */
typedef struct nostr_relay_info {
    const char *name, *description, *pubkey, *contact, *icon, *software, *version;
    const char *posting_policy;
} nostr_relay_info;

/* A verification handed to the application (cb.verify). event points into
 * the relay's copy and stays valid until nostr_relay_verify_done. */
typedef struct nostr_relay_verify_job {
    const nostr_event *event;
    int result; /* set by the app: nostr_event_verify's result */
    void *app;  /* free for the application's use */
    void *relay_private;
} nostr_relay_verify_job;

typedef struct nostr_relay_callbacks {
    void *user;
    /* Connection c (its conn_user given at accept) has new output, or wants
     * to be closed once its output is written. Required. Called when its
     * output goes from empty to non-empty and when a close is requested
     * (not again while output is waiting: keep writing until it is empty).
     * Called from inside feed, tick, shutdown, broadcast, store completions
     * and verify_done: queue, do not recurse (never call
     * nostr_relay_closed or feed from here). */
    void (*wake)(void *user, void *conn_user);
    /* Optional: verify job->event's signature off the loop, set
     * job->result and call nostr_relay_verify_done on the loop's thread
     * (it may be called from inside this callback). Return 0, or non-zero
     * to make the relay verify inline. NULL: inline. A job stays valid
     * until verify_done, even when its connection closes meanwhile (the
     * event is then still stored and delivered, without an OK). */
    int (*verify)(void *user, nostr_relay_verify_job *job);
    /* Optional: a monotonic clock in microseconds, for latency metrics only. */
    long long (*now_us)(void *user);
    /* Optional: answer an HTTP request (not a WebSocket upgrade) first.
     * Return 1 with a complete response appended to resp
     * (nostr_http_write_response), 0 to let the relay answer. The
     * connection stays open when the request allows keep-alive. */
    int (*http_hook)(void *user, void *conn_user, const nostr_http_message *req, nostr_buf *resp);
    /* Optional: one line per notable event (connection errors, closes for
     * limits, store failures); called with user. */
    nostr_log_fn log;
} nostr_relay_callbacks;

typedef struct nostr_relay_config {
    nostr_ctx *ctx;            /* required: signatures and the AUTH challenge */
    const nostr_allocator *al; /* NULL = C library */
    nostr_relay_limits limits;
    nostr_relay_info info;
    /* NIP-42: the relay's URL as clients see it (ws://host:port/), matched
     * against the AUTH event's relay tag (scheme, host and port, case
     * insensitive, trailing slash ignored). NULL: any relay tag. */
    const char *relay_url;
    int auth_required_write; /* EVENT needs AUTH first */
    int auth_required_read;  /* REQ and COUNT need AUTH first */
    /* Policy lists (NULL/0 = none): an allow list, when given, is the only
     * kinds/pubkeys accepted; a deny list rejects with "blocked:". */
    const unsigned *kinds_allow;
    size_t kinds_allow_count;
    const unsigned *kinds_deny;
    size_t kinds_deny_count;
    const unsigned char (*pubkeys_allow)[32];
    size_t pubkeys_allow_count;
    const unsigned char (*pubkeys_deny)[32];
    size_t pubkeys_deny_count;
    int serve_metrics; /* answer GET /metrics [on unless -1] */
    /* Every EVENT gets OK false "blocked: this relay only serves reads"
     * (a read relay over a database that others fill: the gateway's). */
    int read_only;
    /* NIP-11 "limitation": auth_required is written true when both reads
     * and writes need AUTH; restricted_writes when writes need AUTH, a
     * minimum PoW, or an allow list. created_at_lower_limit (max_past_s)
     * is omitted when there is no bound. */
} nostr_relay_config;

/* Counters since nostr_relay_new. connections, websockets and
 * subscriptions are current values; the rest only grow. Rejections are
 * counted by OK prefix (duplicates too, although their OK is true).
 * events_received counts EVENT messages, events_stored puts answered
 * SAVED, events_delivered live deliveries (one per matching
 * subscription; stored events sent for a REQ are not counted),
 * bytes_out bytes the app consumed. query_latency: REQ to EOSE, measured
 * only when cb.now_us is set; each bucket counts the queries at or below
 * its bound and above the previous one (the Prometheus text makes them
 * cumulative). */
enum {
    NOSTR_RELAY_REJ_INVALID = 0,
    NOSTR_RELAY_REJ_DUPLICATE,
    NOSTR_RELAY_REJ_BLOCKED,
    NOSTR_RELAY_REJ_RATE_LIMITED,
    NOSTR_RELAY_REJ_POW,
    NOSTR_RELAY_REJ_RESTRICTED,
    NOSTR_RELAY_REJ_AUTH_REQUIRED,
    NOSTR_RELAY_REJ_ERROR,
    NOSTR_RELAY_REJ__COUNT
};
#define NOSTR_RELAY_LATENCY_BUCKETS 12 /* 0.1 0.25 0.5 1 2.5 5 10 25 50 100 250 +Inf ms */
typedef struct nostr_relay_stats {
    unsigned long long connections, connections_total, websockets, subscriptions;
    unsigned long long events_received, events_stored, events_ephemeral, events_delivered;
    unsigned long long rejected[NOSTR_RELAY_REJ__COUNT];
    unsigned long long reqs, counts, bytes_in, bytes_out, http_requests, closed_slow, closed_idle;
    unsigned long long query_latency[NOSTR_RELAY_LATENCY_BUCKETS]; /* REQ to EOSE, cumulative-free counts */
    double query_latency_sum_s;
} nostr_relay_stats;

/* NULL on a bad config (no ctx, no store or a store without put/query,
 * no wake) or no memory. The store struct is copied; the store itself
 * must outlive the relay; the relay never destroys it. Call
 * nostr_relay_tick with the time before the first accept: the created_at
 * window, NIP-40 and AUTH checks read the time it gives. */
NOSTRDEF nostr_relay *nostr_relay_new(const nostr_relay_config *cfg, const nostr_relay_callbacks *cb,
                                      const nostr_store *store);
/* Frees every connection (without callbacks) and the relay, and every
 * pending store request and verify job. Store completions still pending
 * must not run after this (close the store first, or let them finish), and
 * verify jobs handed out must no longer be in use by workers and must not
 * be passed to verify_done afterwards. */
NOSTRDEF void nostr_relay_free(nostr_relay *r);

/* A new connection from ip (text, for per-IP limits and logs; at most 63
 * bytes are kept). NULL when out of memory, over max_conns_per_ip or
 * after nostr_relay_shutdown (close the socket). */
NOSTRDEF nostr_relay_conn *nostr_relay_accept(nostr_relay *r, const char *ip, void *conn_user);
/* Bytes read from the connection. NOSTR_OK, or NOSTR_ERR_CLOSED when the
 * connection only waits to be closed (the bytes are then ignored). Never
 * blocks. Any split of the input gives the same output. After
 * NOSTR_ERR_CLOSED keep reading (and discarding) until the socket is
 * closed, or shutdown(SHUT_WR) and drain: closing a TCP socket with unread
 * input sends a RST, which can destroy output the peer has not read yet
 * (the final NOTICE and close frame). */
NOSTRDEF int nostr_relay_feed(nostr_relay *r, nostr_relay_conn *c, const void *data, size_t len);
/* Output waiting for c: returns its length and points *data at it (valid
 * until the next call into the relay). */
NOSTRDEF size_t nostr_relay_output(const nostr_relay_conn *c, const void **data);
/* n bytes of that output were written. */
NOSTRDEF void nostr_relay_consume(nostr_relay *r, nostr_relay_conn *c, size_t n);
/* 1 when the app should close the socket once the output is written
 * (after an HTTP answer without keep-alive, a close handshake, a protocol
 * error, an idle or slow-reader close, shutdown). */
NOSTRDEF int nostr_relay_should_close(const nostr_relay_conn *c);
/* The socket is gone: subscriptions end, answers still pending for c are
 * dropped when they arrive (events in flight are still stored and
 * delivered to others), c is freed. */
NOSTRDEF void nostr_relay_closed(nostr_relay *r, nostr_relay_conn *c);
/* Timers: now in unix milliseconds. Closes connections idle (no input)
 * for idle_timeout_ms, pings WebSockets idle for ping_interval_ms, frees
 * per-IP entries no longer used, calls store->purge (NIP-40) once a
 * minute. Token buckets refill from this time. Call before the first
 * accept and then often (every 100-1000 ms). */
NOSTRDEF void nostr_relay_tick(nostr_relay *r, long long now_ms);
/* A verification handed out through cb.verify is done. */
NOSTRDEF void nostr_relay_verify_done(nostr_relay *r, nostr_relay_verify_job *job);
/* Going away: every WebSocket gets close 1001, HTTP connections close
 * once their output is written, accept refuses new connections. */
NOSTRDEF void nostr_relay_shutdown(nostr_relay *r);

NOSTRDEF void nostr_relay_stats_get(const nostr_relay *r, nostr_relay_stats *st);
/* Prometheus text exposition of the stats, appended to out. */
NOSTRDEF int nostr_relay_write_metrics(const nostr_relay *r, nostr_buf *out);
/* The NIP-11 document (limitation object from the limits in force). */
NOSTRDEF int nostr_relay_write_info(const nostr_relay *r, nostr_buf *out);
/* Publish an event to live subscribers without a client (the gateway's
 * stored events): json is the event's text, sent verbatim. */
NOSTRDEF void nostr_relay_broadcast(nostr_relay *r, const nostr_event *ev, const char *json, size_t len);
/* The conn_user given at accept; the IP; 1 once AUTHed (pubkey set). */
NOSTRDEF void *nostr_relay_conn_user(const nostr_relay_conn *c);
NOSTRDEF const char *nostr_relay_conn_ip(const nostr_relay_conn *c);
NOSTRDEF int nostr_relay_conn_authed(const nostr_relay_conn *c, unsigned char pubkey[32]);
