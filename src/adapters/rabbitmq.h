/* ---- rabbitmq: the queue adapter (librabbitmq), NOSTR_WITH_RABBITMQ ----
 *
 * Compiled in with NOSTR_WITH_RABBITMQ (link -lrabbitmq, librabbitmq 0.11
 * or later). The gateway's durable hand-over between reading upstream
 * relays and storing events; docs/queue.md explains every choice below.
 *
 * Names, for a prefix P (default "distrise") and an upstream key K:
 *   exchange "P.relay.K"  direct, durable; routing key K
 *   queue    "P.relay.K"  durable quorum queue bound to it with K;
 *            x-delivery-limit = max_deliveries - 1 and
 *            x-dead-letter-exchange "P.dlx" (at-least-once), so a message
 *            rejected max_deliveries times is dead-lettered, never
 *            redelivered again
 *   exchange "P.dlx"      fanout, durable (keeps the original routing key)
 *   queue    "P.dead"     durable quorum queue bound to it
 *
 * One object is one AMQP connection with up to three channels: publishing
 * (in confirm mode), consuming (basic.qos prefetch, manual acks) and
 * administration (declare, delete, depth), so that a refused declare or a
 * missing queue closes only the channel it happened on. The gateway uses
 * two objects, a publisher and a consumer, each on its own thread; one
 * object must not be used from two threads at once.
 *
 * Everything blocks (librabbitmq is blocking): connect and login up to
 * connect_timeout_ms, each declare/delete/consume up to rpc_timeout_ms, a
 * publish while the socket's send buffer is full, poll up to its timeout.
 * Heartbeats are sent and checked only inside calls, so call poll at
 * least every heartbeat_s / 2 seconds.
 *
 * Publisher confirms: publish hands the message to the broker and returns;
 * the broker's basic.ack / basic.nack (read by poll, multiple=1 covering
 * every earlier tag) reports each publish's user_tag exactly once through
 * on_confirm, ok=1 only when the broker has the message on disk. A
 * publish the connection or channel lost before its confirm is reported
 * with ok=0 at the next poll: publish it again (the store must accept
 * duplicates). Back-pressure: publish answers NOSTR_ERR_BUSY while
 * max_unconfirmed publishes await their confirm, or while the broker has
 * blocked the connection (memory or disk alarm, connection.blocked); the
 * caller stops reading its sources until poll has drained confirms.
 *
 * Memory: the object and message buffers through cfg->al; librabbitmq
 * allocates its frames with malloc. */
#ifdef NOSTR_WITH_RABBITMQ

typedef struct nostr_amqp nostr_amqp;

typedef struct nostr_amqp_config {
    const char *url;          /* amqp://user:pass@host:port/vhost [amqp://guest:guest@localhost:5672/] */
    const char *prefix;       /* name prefix ["distrise"] */
    unsigned max_unconfirmed; /* publishes awaiting a confirm before publish answers BUSY [1024] */
    int max_deliveries;       /* rejected this many times -> dead-lettered [5]; < 0: never */
    unsigned prefetch;        /* consumer basic.qos prefetch count, at most 65535 [512] */
    int heartbeat_s;          /* [30]; < 0: no heartbeats */
    int connect_timeout_ms;   /* TCP connect and AMQP handshake [5000] */
    int rpc_timeout_ms;       /* each declare, delete, consume, depth [15000] */
    const nostr_allocator *al; /* NULL = C library */
    nostr_log_fn log;         /* optional: connection events and broker errors */
    void *log_user;
} nostr_amqp_config;

typedef struct nostr_amqp_msg {
    const char *key;           /* routing key = the upstream key it was published with (NUL-terminated) */
    size_t key_len;
    const void *body;          /* key and body stay valid until the next poll (or close), so a
                                  caller may collect one poll's deliveries and store them as a batch */
    size_t len;
    unsigned long long delivery_tag; /* for nostr_amqp_ack / _reject on this object */
    int redelivered;           /* the broker delivered it before */
    long long delivery_count;  /* x-delivery-count (earlier failed deliveries) when sent, else -1 */
    int dead;                  /* 1: from the dead-letter queue (nostr_amqp_consume(a, NULL)) */
} nostr_amqp_msg;

typedef struct nostr_amqp_handlers {
    void *user;
    /* each publish's user_tag once; ok=0: nacked, or lost with the connection or channel */
    void (*on_confirm)(void *user, unsigned long long user_tag, int ok);
    /* consumer deliveries; ack or reject each (now or later) */
    void (*on_message)(void *user, const nostr_amqp_msg *m);
} nostr_amqp_handlers;

/* Counters since open (reconnects keep them). */
typedef struct nostr_amqp_stats {
    unsigned long long published, confirmed, nacked, lost; /* lost: reported ok=0 without a nack */
    unsigned long long ack_frames, multiple_acks;          /* basic.ack frames read; with multiple=1 */
    unsigned long long delivered, acked, rejected;
    unsigned long long blocked, reconnects;                /* connection.blocked received; reconnects done */
} nostr_amqp_stats;

/* Connect, log in (announcing the connection.blocked capability), open
 * the publishing channel in confirm mode. On failure *out is NULL, err
 * gets a static reason (NOSTR_ERR_ARG: bad URL or config; NOSTR_ERR_NET:
 * refused, unreachable, timed out or login refused; NOSTR_ERR_UNSUPPORTED:
 * amqps://) and the details go to the log. */
NOSTRDEF int nostr_amqp_open(nostr_amqp **out, const nostr_amqp_config *cfg, nostr_error *err);
/* Close the connection politely (when alive) and free. Publishes still
 * unconfirmed are not reported: poll until nostr_amqp_unconfirmed() is 0
 * first. NULL is fine. */
NOSTRDEF void nostr_amqp_close(nostr_amqp *a);
/* Idempotent: the dead-letter exchange and queue, then (key not NULL) the
 * key's exchange, queue and binding. Remembered for reconnect.
 * NOSTR_ERR_ARG: bad key, or the broker refused (e.g. the queue exists
 * with other arguments; last_error has its words); NOSTR_ERR_NET. */
NOSTRDEF int nostr_amqp_declare(nostr_amqp *a, const char *key);
/* Delete the key's exchange and queue (messages in it are gone), cancel
 * its consumer, forget it. Deleting what does not exist is fine. */
NOSTRDEF int nostr_amqp_remove(nostr_amqp *a, const char *key);
/* Publish persistently to the key's exchange. user_tag comes back through
 * on_confirm. NOSTR_ERR_BUSY: max_unconfirmed out or the broker blocked
 * the connection; NOSTR_ERR_NET: the connection is down (reconnect);
 * NOSTR_ERR_ARG: bad key. Publishing to a key not declared makes the
 * broker close the channel: the publish is then reported ok=0. */
NOSTRDEF int nostr_amqp_publish(nostr_amqp *a, const char *key, const void *body, size_t n,
                                unsigned long long user_tag);
/* Wait up to timeout_ms (< 0: no limit) for a frame, then handle it and
 * every frame already received: confirms -> on_confirm (each user_tag
 * once, multiple=1 covering all earlier ones), connection.blocked and
 * unblocked, deliveries -> on_message, a channel the broker closed is
 * reopened (its unconfirmed publishes reported ok=0, consumers
 * restarted). Returns NOSTR_OK (also on timeout), or NOSTR_ERR_NET when
 * the connection is down: every publish still unconfirmed has then been
 * reported with ok=0. Frees the previous poll's deliveries first.
 * Handlers may publish, ack and reject; not poll, reconnect or close. */
NOSTRDEF int nostr_amqp_poll(nostr_amqp *a, int timeout_ms, const nostr_amqp_handlers *h);
/* Publishes awaiting their confirm. */
NOSTRDEF unsigned nostr_amqp_unconfirmed(const nostr_amqp *a);
/* 1 while the broker has blocked this connection's publishing. */
NOSTRDEF int nostr_amqp_blocked(const nostr_amqp *a);
/* Consume the key's queue (key NULL: the dead-letter queue) with manual
 * acks, after basic.qos. Remembered for reconnect; consuming twice is
 * fine. NOSTR_ERR_ARG when the queue does not exist. */
NOSTRDEF int nostr_amqp_consume(nostr_amqp *a, const char *key);
/* Ack a delivery (multiple: and every earlier one on the channel). A tag
 * from before a channel or connection loss is ignored with
 * NOSTR_ERR_CLOSED: the broker has requeued that message already. */
NOSTRDEF int nostr_amqp_ack(nostr_amqp *a, unsigned long long delivery_tag, int multiple);
/* The store failed: requeue the message; the broker dead-letters it
 * instead once it has been rejected max_deliveries times. */
NOSTRDEF int nostr_amqp_reject(nostr_amqp *a, unsigned long long delivery_tag);
/* Messages ready in the key's queue (key NULL: the dead-letter queue; not
 * counting deliveries awaiting an ack) and its consumers: a passive
 * queue.declare. NOSTR_ERR_ARG when the queue does not exist. Either out
 * pointer may be NULL. */
NOSTRDEF int nostr_amqp_depth(nostr_amqp *a, const char *key, unsigned long long *messages, unsigned *consumers);
/* After NOSTR_ERR_NET (or any time): drop the connection, connect again,
 * re-declare every key declared and re-consume every queue consumed.
 * NOSTR_ERR_NET while the broker is still away (call again later).
 * Publishes unconfirmed are reported ok=0 at the next poll. */
NOSTRDEF int nostr_amqp_reconnect(nostr_amqp *a, nostr_error *err);
/* 1 while the connection is up. */
NOSTRDEF int nostr_amqp_connected(const nostr_amqp *a);
NOSTRDEF void nostr_amqp_get_stats(const nostr_amqp *a, nostr_amqp_stats *out);
/* The last connection or broker error, or "". */
NOSTRDEF const char *nostr_amqp_last_error(const nostr_amqp *a);

#endif /* NOSTR_WITH_RABBITMQ */
