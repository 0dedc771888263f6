/* ---- gateway: many upstream relays into one sink (sans-I/O) ----
 *
 * A nostr_gateway keeps a changing list of upstream relays, each driven by
 * a nostr_client (nostr.h) over connections the application opens. For
 * every event an upstream sends:
 *
 *   dedup by id (a bounded in-memory set; ids already verified are known)
 *     -> known id: a provenance record (this relay delivered it) to the sink
 *     -> new id:   verify id and signature (inline, or handed to the app's
 *                  workers through cb.verify); invalid events are counted
 *                  against the relay and dropped
 *     -> valid:    the event, with its relay of origin, to the sink
 *
 * The sink (cb.submit) is the application's queue: the in-process queue
 * or RabbitMQ in examples/nostr-gateway.c, a consumer behind it writing
 * to the database. The app reports every item back once the database has
 * it (nostr_gateway_stored); only then does an upstream's watermark move.
 * When the sink is full (submit returns NOSTR_ERR_BUSY) the item waits in
 * the gateway and nostr_gateway_paused() turns 1: stop reading from
 * upstream sockets until nostr_gateway_sink_ready() drains the backlog,
 * so a flood cannot grow memory without bound.
 *
 * No gaps: each upstream is asked for its filters with since = watermark -
 * since_window_s ("live" subscription: newest stored events, EOSE, then
 * live ones). When that page was full of new events, older pages follow
 * ("back" subscription, until = the oldest created_at seen) until a page
 * brings nothing new. The watermark (newest created_at) advances only
 * when every item submitted before it was stored; cb.since_changed lets
 * the app persist it, and nostr_gateway_add restores it at start.
 *
 * The REST API (nostr_gateway_http, for the app's HTTP server):
 *   GET    /api/relays          the upstreams with their state and stats
 *   POST   /api/relays          {"url": "...", "filters": [...]}  (token)
 *   DELETE /api/relays/{id}                                       (token)
 *   GET    /api/stats           every counter, JSON
 *   GET    /api/events?authors=&kinds=&tag=NAME:VALUE&since=&until=&search=&limit=
 *                               stored events (cfg.reads), each with the
 *                               relays it was seen on
 *   GET    /metrics             Prometheus text (per relay: label relay="url")
 * Writes need "Authorization: Bearer <token>" (401 without it, 403 when no
 * token is configured); bad input gets 400 with {"error": "..."}.
 *
 * Threads: none. Every call runs on the app's loop thread (callbacks too),
 * except that cb.verify may hand jobs to other threads, which give them
 * back through nostr_gateway_verify_done on the loop's thread. */

typedef struct nostr_gateway nostr_gateway;
typedef struct nostr_gateway_upstream nostr_gateway_upstream;

#define NOSTR_GATEWAY_SIZE_BUCKETS 96 /* event size histogram: 8 per power of two from 16 B */
#define NOSTR_GATEWAY_MINUTES 60      /* per-minute counts kept */

/* Per upstream counters (nostr_gateway_upstream_stats). */
typedef struct nostr_gateway_upstream_stats {
    int state;                      /* NOSTR_CLIENT_* */
    unsigned long long received;    /* EVENT messages */
    unsigned long long duplicates;  /* ids already known */
    unsigned long long invalid;     /* bad id or signature, dropped */
    unsigned long long submitted;   /* items handed to the sink */
    unsigned long long stored;      /* items the database has (nostr_gateway_stored) */
    unsigned long long bytes;       /* event JSON bytes received */
    unsigned long long reconnects;  /* connections opened after the first */
    double rate_1m, rate_15m;       /* events received per second, moving averages */
    double avg_size;                /* bytes */
    unsigned median_size;           /* bytes, from the histogram (within 1/16) */
    long long newest_created_at;    /* newest event's created_at (0: none yet) */
    long long last_event_ms;        /* when the last event arrived (app clock; 0: never) */
    long long since;                /* the watermark: stored up to here */
    unsigned long long size_hist[NOSTR_GATEWAY_SIZE_BUCKETS];
    unsigned long long minutes[NOSTR_GATEWAY_MINUTES]; /* events per minute, [0] = the current one */
    char last_error[160];
} nostr_gateway_upstream_stats;

/* What goes to the sink. json is NULL for a provenance record (an event
 * already handed over, now delivered by another relay). Valid during the
 * submit call only: the sink copies what it keeps. */
typedef struct nostr_gateway_item {
    int relay_id;
    const char *relay_url;
    const unsigned char *id; /* 32 bytes */
    const char *json;        /* the event as the relay sent it (verified), or NULL */
    size_t len;
    long long seen_at; /* unix seconds */
} nostr_gateway_item;

/* A verification handed to the app (cb.verify); valid until verify_done. */
typedef struct nostr_gateway_verify_job {
    const nostr_event *event;
    int result; /* set by the app: nostr_event_verify's result */
    void *app;  /* free for the application's use */
    void *gw_private;
} nostr_gateway_verify_job;

/* Upstream description for persistence (cb.saved) and listing. */
typedef struct nostr_gateway_upstream_info {
    int id;
    const char *url;
    const char *filters; /* JSON array of filter objects */
    long long added_at;  /* unix seconds */
    long long since;     /* watermark */
} nostr_gateway_upstream_info;

typedef struct nostr_gateway_callbacks {
    void *user;
    /* Upstream connections, as nostr_client's callbacks, with the upstream
     * (nostr_gateway_upstream_app gives the app's pointer). Required. */
    int (*connect)(void *user, nostr_gateway_upstream *up, const char *host, int port);
    int (*send)(void *user, nostr_gateway_upstream *up, const void *data, size_t n);
    void (*close)(void *user, nostr_gateway_upstream *up);
    /* The sink. Required. NOSTR_OK: taken; NOSTR_ERR_BUSY: full (the item
     * waits in the gateway, reads should pause); other errors: dropped and
     * logged. */
    int (*submit)(void *user, const nostr_gateway_item *item);
    /* Optional: verify off the loop, like nostr_relay's. NULL or non-zero
     * return: inline. */
    int (*verify)(void *user, nostr_gateway_verify_job *job);
    /* Optional persistence: an upstream was added through the API (return
     * non-zero to refuse: the API answers 500), removed, or its watermark
     * moved. */
    int (*saved)(void *user, const nostr_gateway_upstream_info *info);
    void (*removed)(void *user, int id);
    void (*since_changed)(void *user, int id, long long since);
    /* Optional: ask for the upstream's NIP-11 document (HTTP GET with
     * Accept: application/nostr+json); answer with nostr_gateway_set_info. */
    void (*fetch_info)(void *user, nostr_gateway_upstream *up, const char *url);
    /* Optional: relays seen for stored events, for /api/events: call row
     * for each (event, relay) pair before returning. */
    int (*seen_on)(void *user, const unsigned char (*ids)[32], size_t n,
                   void (*row)(void *row_user, const unsigned char id[32], int relay_id, long long first_seen),
                   void *row_user);
    /* Wall clock, unix seconds (seen_at, AUTH). Required. */
    long long (*unix_time)(void *user);
    nostr_log_fn log;
} nostr_gateway_callbacks;

typedef struct nostr_gateway_config {
    nostr_ctx *ctx;            /* required */
    const nostr_allocator *al; /* NULL = C library */
    const char *token;         /* bearer token for API writes (copied); NULL: writes refused */
    size_t dedup_ids;          /* ids remembered [1048576] */
    long long since_window_s;  /* REQ since = watermark - this [600] */
    long long backfill_s;      /* a new upstream (no watermark) is asked for this far back
                                  from when it was added [3600]; < 0: everything it has */
    size_t max_upstreams;      /* [256] */
    size_t max_backlog;        /* items waiting for a busy sink before events are dropped [65536];
                                  reads pause long before, at the first busy answer */
    /* Template for upstream clients (keys for NIP-42, timeouts, backoff,
     * TLS). Its verify_events is ignored: the gateway verifies. */
    nostr_client_config client;
    /* Reads for /api/events (a store answering synchronously, like
     * pgwire's); a zeroed struct: /api/events answers 503. */
    nostr_store reads;
} nostr_gateway_config;

/* NULL on a bad config or no memory. */
NOSTRDEF nostr_gateway *nostr_gateway_new(const nostr_gateway_config *cfg, const nostr_gateway_callbacks *cb);
/* Closes every upstream (close callbacks run) and frees everything. Verify
 * jobs handed out must be finished first. */
NOSTRDEF void nostr_gateway_free(nostr_gateway *gw);

/* Add an upstream: id > 0 (0 = the next free id), filters a JSON array of
 * filter objects (NULL = [{}]), since its restored watermark. It connects
 * at the next tick. NOSTR_ERR_ARG with err for a bad URL or filters,
 * NOSTR_ERR_BUSY when the URL or id is already there, NOSTR_ERR_TOO_LARGE
 * past max_upstreams. *out (optional) gets the upstream. */
NOSTRDEF int nostr_gateway_add(nostr_gateway *gw, int id, const char *url, const char *filters, long long since,
                               long long added_at, nostr_gateway_upstream **out, nostr_error *err);
/* Remove an upstream now (its connection is closed). NOSTR_ERR_ARG when unknown. */
NOSTRDEF int nostr_gateway_remove(nostr_gateway *gw, int id);
NOSTRDEF nostr_gateway_upstream *nostr_gateway_find(nostr_gateway *gw, int id);
NOSTRDEF size_t nostr_gateway_count(const nostr_gateway *gw);
NOSTRDEF nostr_gateway_upstream *nostr_gateway_at(nostr_gateway *gw, size_t i);

/* Per upstream: the app's pointer, identity, stats. */
NOSTRDEF void nostr_gateway_upstream_set_app(nostr_gateway_upstream *up, void *app);
NOSTRDEF void *nostr_gateway_upstream_app(const nostr_gateway_upstream *up);
NOSTRDEF void nostr_gateway_upstream_describe(const nostr_gateway_upstream *up, nostr_gateway_upstream_info *info);
NOSTRDEF void nostr_gateway_upstream_stats_get(const nostr_gateway_upstream *up, nostr_gateway_upstream_stats *st);
/* Its connection state alone (NOSTR_CLIENT_*), without copying the stats. */
NOSTRDEF int nostr_gateway_upstream_state(const nostr_gateway_upstream *up);

/* Upstream connection events, as nostr_client's (see there). */
NOSTRDEF void nostr_gateway_connected(nostr_gateway *gw, nostr_gateway_upstream *up, long long now_ms);
NOSTRDEF void nostr_gateway_disconnected(nostr_gateway *gw, nostr_gateway_upstream *up, long long now_ms);
NOSTRDEF int nostr_gateway_feed(nostr_gateway *gw, nostr_gateway_upstream *up, const void *data, size_t n,
                                long long now_ms);
/* Timers: upstream clients, rates, watermarks. now_ms: a monotonic clock. */
NOSTRDEF void nostr_gateway_tick(nostr_gateway *gw, long long now_ms);
/* The earliest time tick is needed (ms), or -1. */
NOSTRDEF long long nostr_gateway_next_timeout(const nostr_gateway *gw);

NOSTRDEF void nostr_gateway_verify_done(nostr_gateway *gw, nostr_gateway_verify_job *job);

/* Flow control: 1 while items wait for the sink (stop reading upstreams). */
NOSTRDEF int nostr_gateway_paused(const nostr_gateway *gw);
/* The sink has room again: resubmit what waits. */
NOSTRDEF void nostr_gateway_sink_ready(nostr_gateway *gw);
/* The database has an item that came from relay_id (any store result: a
 * duplicate or a refused event counts too); json as submitted or NULL. */
NOSTRDEF void nostr_gateway_stored(nostr_gateway *gw, int relay_id, const unsigned char id[32]);
/* Remember an id as known (warming the dedup set at start). */
NOSTRDEF void nostr_gateway_known(nostr_gateway *gw, const unsigned char id[32]);
/* The queue's view, for /api/stats and /metrics. */
NOSTRDEF void nostr_gateway_queue_stats(nostr_gateway *gw, unsigned long long depth, double lag_s);
/* A consumer batch of n items committed in seconds s. */
NOSTRDEF void nostr_gateway_batch_committed(nostr_gateway *gw, size_t n, double s);
/* The NIP-11 document fetched for up (NULL on failure, with why). */
NOSTRDEF void nostr_gateway_set_info(nostr_gateway *gw, nostr_gateway_upstream *up, const char *json, size_t len,
                                     const char *error);

/* Answer a REST request. 1 with a complete response appended to resp, 0
 * when the path is not the gateway's. */
NOSTRDEF int nostr_gateway_http(nostr_gateway *gw, const nostr_http_message *req, nostr_buf *resp);
/* JSON of /api/relays and /api/stats; Prometheus text of /metrics. */
NOSTRDEF int nostr_gateway_write_relays(nostr_gateway *gw, nostr_buf *out);
NOSTRDEF int nostr_gateway_write_stats(nostr_gateway *gw, nostr_buf *out);
NOSTRDEF int nostr_gateway_write_metrics(nostr_gateway *gw, nostr_buf *out);

/* Totals since nostr_gateway_new. */
typedef struct nostr_gateway_stats {
    unsigned long long received, duplicates, invalid, submitted, stored, dropped, paused_times;
    unsigned long long backlog;     /* items waiting for the sink now */
    unsigned long long queue_depth; /* as the app last said */
    double consumer_lag_s;
    unsigned long long batches;
    double batch_seconds_sum;
    unsigned long long batch_latency[12]; /* 1 2.5 5 10 25 50 100 250 500 1000 2500 +Inf ms */
} nostr_gateway_stats;
NOSTRDEF void nostr_gateway_stats_get(const nostr_gateway *gw, nostr_gateway_stats *st);
