/* ---- rabbitmq: implementation ---- */
#ifdef NOSTR_WITH_RABBITMQ
#include <sys/time.h> /* struct timeval, which amqp.h only declares */

#define NOSTR__AMQP_NAME_MAX 255         /* AMQP short string */
#define NOSTR__AMQP_PREFIX_MAX 100
#define NOSTR__AMQP_TAG_BITS 48          /* delivery tag = generation << 48 | broker tag */
#define NOSTR__AMQP_TAG_MASK ((1ULL << NOSTR__AMQP_TAG_BITS) - 1)
#define NOSTR__AMQP_POLL_FRAMES 4096     /* frames handled per poll at most (bounded latency) */
#define NOSTR__AMQP_DEAD_TAG "d"         /* consumer tag of the dead-letter queue; "r.<key>" for keys */

typedef struct nostr__amqp_key {
    char *key;
    int declared; /* re-declared on reconnect */
    int consumed; /* re-consumed on a new consuming channel */
} nostr__amqp_key;

struct nostr_amqp {
    const nostr_allocator *al;
    nostr_log_fn log;
    void *log_user;
    char *url; /* our copy: amqp_parse_url points info's strings into it */
    struct amqp_connection_info info;
    char *prefix;
    unsigned cap; /* max_unconfirmed */
    int max_deliveries;
    unsigned prefetch;
    int heartbeat_s, connect_timeout_ms, rpc_timeout_ms;

    amqp_connection_state_t conn; /* NULL while down */
    amqp_channel_t pub_ch, sub_ch, adm_ch; /* 0: not open */
    amqp_channel_t next_ch;                /* channel numbers are not reused until they wrap */
    unsigned sub_gen;                      /* bumped per consuming channel: stale delivery tags */
    int blocked, dlx_declared;

    /* Confirm window: publishes with sequence numbers [first_seq, next_seq)
     * on the publishing channel, slot seq % cap. */
    unsigned long long *ring_tag;
    unsigned char *ring_pending;
    unsigned long long first_seq, next_seq;
    unsigned pending;
    /* User tags lost with a channel or the connection, reported ok=0 by
     * poll. Lost ones count against the window, so cap always suffices. */
    unsigned long long *lost;
    unsigned lost_head, lost_count;

    nostr__amqp_key *keys;
    size_t nkeys, keys_cap;
    int consume_dead;

    /* Deliveries of the last poll, kept until the next one (so a caller
     * may batch them), and their routing keys. */
    amqp_message_t *held;
    size_t nheld, held_cap;
    nostr_arena held_keys;

    nostr_amqp_stats stats;
    char last_error[512];
};

/* ---- small helpers ---- */

static void nostr__amqp_set_err(nostr_error *err, int code, const char *msg)
{
    if (!err) return;
    err->code = code;
    err->offset = 0;
    err->msg = msg;
}

/* Log msg; warnings and errors also become the last error. */
static void nostr__amqp_note(nostr_amqp *a, int level, const char *msg)
{
    char line[600];
    if (level <= NOSTR_LOG_WARN) snprintf(a->last_error, sizeof a->last_error, "%s", msg);
    if (!a->log) return;
    snprintf(line, sizeof line, "amqp: %s", msg);
    a->log(a->log_user, level, line);
}

static struct timeval *nostr__amqp_tv(struct timeval *tv, int ms)
{
    if (ms < 0) return NULL;
    tv->tv_sec = ms / 1000;
    tv->tv_usec = (ms % 1000) * 1000;
    return tv;
}

static char *nostr__amqp_strdup(const nostr_allocator *al, const char *s)
{
    size_t n = strlen(s);
    char *p = (char *)nostr_alloc(al, n + 1);
    if (p) memcpy(p, s, n + 1);
    return p;
}

/* "<prefix>.relay.<key>", "<prefix>.dlx" (key NULL, dlx) or "<prefix>.dead"
 * (key NULL). NOSTR_ERR_ARG when the key is empty or the name too long. */
static int nostr__amqp_name(const nostr_amqp *a, const char *key, int dlx, char *out, size_t outlen)
{
    int n;
    if (key && !*key) return NOSTR_ERR_ARG;
    if (key)
        n = snprintf(out, outlen, "%s.relay.%s", a->prefix, key);
    else
        n = snprintf(out, outlen, "%s.%s", a->prefix, dlx ? "dlx" : "dead");
    return n < 0 || (size_t)n >= outlen || n > NOSTR__AMQP_NAME_MAX ? NOSTR_ERR_ARG : NOSTR_OK;
}

static amqp_bytes_t nostr__amqp_bytes(const char *s)
{
    return amqp_cstring_bytes(s);
}

/* The text of a failed RPC reply, for the log and last_error. */
static void nostr__amqp_describe(amqp_rpc_reply_t r, char *out, size_t outlen)
{
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
        snprintf(out, outlen, "%s", amqp_error_string2(r.library_error));
    } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const amqp_connection_close_t *m = (const amqp_connection_close_t *)r.reply.decoded;
        snprintf(out, outlen, "connection closed by the broker: %u %.*s", (unsigned)m->reply_code,
                 (int)m->reply_text.len, (const char *)m->reply_text.bytes);
    } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const amqp_channel_close_t *m = (const amqp_channel_close_t *)r.reply.decoded;
        snprintf(out, outlen, "channel closed by the broker: %u %.*s", (unsigned)m->reply_code,
                 (int)m->reply_text.len, (const char *)m->reply_text.bytes);
    } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION) {
        snprintf(out, outlen, "unexpected broker method %s", amqp_method_name(r.reply.id));
    } else {
        snprintf(out, outlen, "no reply");
    }
}

/* ---- keys remembered for reconnect ---- */

static nostr__amqp_key *nostr__amqp_find(nostr_amqp *a, const char *key)
{
    size_t i;
    for (i = 0; i < a->nkeys; i++)
        if (strcmp(a->keys[i].key, key) == 0) return &a->keys[i];
    return NULL;
}

static nostr__amqp_key *nostr__amqp_remember(nostr_amqp *a, const char *key)
{
    nostr__amqp_key *k = nostr__amqp_find(a, key);
    if (k) return k;
    if (a->nkeys == a->keys_cap) {
        size_t ncap = a->keys_cap ? a->keys_cap * 2 : 8;
        nostr__amqp_key *nk = (nostr__amqp_key *)nostr_realloc(a->al, a->keys, ncap * sizeof *nk);
        if (!nk) return NULL;
        a->keys = nk;
        a->keys_cap = ncap;
    }
    k = &a->keys[a->nkeys];
    k->key = nostr__amqp_strdup(a->al, key);
    if (!k->key) return NULL;
    k->declared = k->consumed = 0;
    a->nkeys++;
    return k;
}

static void nostr__amqp_forget(nostr_amqp *a, nostr__amqp_key *k)
{
    size_t i = (size_t)(k - a->keys);
    nostr_free(a->al, k->key);
    a->keys[i] = a->keys[a->nkeys - 1];
    a->nkeys--;
}

/* ---- the confirm window ---- */

static void nostr__amqp_lose(nostr_amqp *a, unsigned long long user_tag)
{
    /* Never full: publish keeps pending + lost_count below cap. */
    a->lost[(a->lost_head + a->lost_count) % a->cap] = user_tag;
    a->lost_count++;
}

/* Every publish awaiting a confirm on the publishing channel is lost
 * with it: queue them for an ok=0 report, start a fresh window. */
static void nostr__amqp_fail_pending(nostr_amqp *a)
{
    unsigned long long seq;
    for (seq = a->first_seq; seq < a->next_seq; seq++) {
        unsigned slot = (unsigned)(seq % a->cap);
        if (!a->ring_pending[slot]) continue;
        a->ring_pending[slot] = 0;
        nostr__amqp_lose(a, a->ring_tag[slot]);
    }
    a->pending = 0;
    a->first_seq = a->next_seq = 1;
}

/* Report lost publishes (ok=0), oldest first. A handler may publish; a
 * publish that loses the connection appends, and this loop reports those
 * too. */
static void nostr__amqp_report_lost(nostr_amqp *a, const nostr_amqp_handlers *h)
{
    while (a->lost_count) {
        unsigned long long tag = a->lost[a->lost_head];
        a->lost_head = (a->lost_head + 1) % a->cap;
        a->lost_count--;
        a->stats.lost++;
        if (h && h->on_confirm) h->on_confirm(h->user, tag, 0);
    }
}

/* The broker confirmed (ok=1) or nacked sequence number seq. State is
 * updated before the handler runs, so the handler may publish. */
static void nostr__amqp_confirm_one(nostr_amqp *a, unsigned long long seq, int ok, const nostr_amqp_handlers *h)
{
    unsigned slot = (unsigned)(seq % a->cap);
    unsigned long long tag;
    if (!a->ring_pending[slot]) return; /* already confirmed: a duplicate ack */
    a->ring_pending[slot] = 0;
    a->pending--;
    tag = a->ring_tag[slot];
    while (a->first_seq < a->next_seq && !a->ring_pending[a->first_seq % a->cap]) a->first_seq++;
    if (ok)
        a->stats.confirmed++;
    else
        a->stats.nacked++;
    if (h && h->on_confirm) h->on_confirm(h->user, tag, ok);
}

/* basic.ack / basic.nack: multiple=1 covers every sequence number up to
 * and including tag. The bound is taken before any handler runs, so
 * publishes made by handlers (later numbers) are never covered. */
static void nostr__amqp_on_ack(nostr_amqp *a, unsigned long long tag, int multiple, int ok,
                               const nostr_amqp_handlers *h)
{
    unsigned long long seq, end = a->next_seq;
    if (!multiple) {
        if (tag >= a->first_seq && tag < end) nostr__amqp_confirm_one(a, tag, ok, h);
        return;
    }
    for (seq = a->first_seq; seq <= tag && seq < end && seq < a->next_seq; seq++)
        nostr__amqp_confirm_one(a, seq, ok, h);
}

/* ---- connection and channels ---- */

/* The connection is gone: drop it, lose what awaited a confirm. Callers
 * must not touch frames read from it afterwards. */
static void nostr__amqp_conn_lost(nostr_amqp *a, const char *why)
{
    if (why) nostr__amqp_note(a, NOSTR_LOG_ERROR, why);
    nostr__amqp_fail_pending(a);
    if (a->conn) amqp_destroy_connection(a->conn);
    a->conn = NULL;
    a->pub_ch = a->sub_ch = a->adm_ch = 0;
    a->blocked = 0;
    a->dlx_declared = 0;
}

/* The broker closed channel ch (after we answered close-ok). */
static void nostr__amqp_channel_gone(nostr_amqp *a, amqp_channel_t ch)
{
    if (ch == a->pub_ch) {
        nostr__amqp_fail_pending(a);
        a->pub_ch = 0;
    }
    if (ch == a->sub_ch) a->sub_ch = 0;
    if (ch == a->adm_ch) a->adm_ch = 0;
}

static void nostr__amqp_close_ok(nostr_amqp *a, amqp_channel_t ch)
{
    amqp_channel_close_ok_t ok;
    memset(&ok, 0, sizeof ok);
    if (amqp_send_method(a->conn, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) != AMQP_STATUS_OK)
        nostr__amqp_conn_lost(a, "sending channel.close-ok failed");
    else
        nostr__amqp_channel_gone(a, ch);
}

static void nostr__amqp_connection_closed(nostr_amqp *a, const char *why)
{
    amqp_connection_close_ok_t ok;
    memset(&ok, 0, sizeof ok);
    amqp_send_method(a->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok); /* best effort */
    nostr__amqp_conn_lost(a, why);
}

/* Check the reply of the RPC just made on channel ch. A channel-level
 * refusal (404 not found, 406 precondition failed, 403 ...) closes only
 * that channel: NOSTR_ERR_ARG. Anything else kills the connection:
 * NOSTR_ERR_NET. */
static int nostr__amqp_rpc_result(nostr_amqp *a, amqp_channel_t ch, const char *what)
{
    amqp_rpc_reply_t r = amqp_get_rpc_reply(a->conn);
    char detail[400], msg[512];
    if (r.reply_type == AMQP_RESPONSE_NORMAL) return NOSTR_OK;
    nostr__amqp_describe(r, detail, sizeof detail);
    snprintf(msg, sizeof msg, "%s: %s", what, detail);
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        nostr__amqp_note(a, NOSTR_LOG_WARN, msg);
        nostr__amqp_close_ok(a, ch);
        return a->conn ? NOSTR_ERR_ARG : NOSTR_ERR_NET;
    }
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
        nostr__amqp_connection_closed(a, msg);
    else
        nostr__amqp_conn_lost(a, msg);
    return NOSTR_ERR_NET;
}

/* Open a channel under a number not used before on this connection, so
 * frames still queued for a closed channel are recognisably stale. */
static int nostr__amqp_open_channel(nostr_amqp *a, amqp_channel_t *out)
{
    int max = amqp_get_channel_max(a->conn);
    amqp_channel_t ch;
    int rc;
    if (max <= 0) max = 2047;
    do {
        ch = a->next_ch;
        a->next_ch = (amqp_channel_t)(a->next_ch >= max ? 1 : a->next_ch + 1);
    } while (ch == a->pub_ch || ch == a->sub_ch || ch == a->adm_ch);
    amqp_channel_open(a->conn, ch);
    rc = nostr__amqp_rpc_result(a, ch, "channel.open");
    if (rc == NOSTR_OK) *out = ch;
    return rc;
}

static int nostr__amqp_ensure_pub(nostr_amqp *a)
{
    amqp_channel_t ch;
    int rc;
    if (!a->conn) return NOSTR_ERR_NET;
    if (a->pub_ch) return NOSTR_OK;
    rc = nostr__amqp_open_channel(a, &ch);
    if (rc != NOSTR_OK) return rc;
    amqp_confirm_select(a->conn, ch);
    rc = nostr__amqp_rpc_result(a, ch, "confirm.select");
    if (rc != NOSTR_OK) return rc;
    a->pub_ch = ch;
    a->first_seq = a->next_seq = 1; /* the broker numbers publishes from 1 per channel */
    return NOSTR_OK;
}

static int nostr__amqp_ensure_adm(nostr_amqp *a)
{
    if (!a->conn) return NOSTR_ERR_NET;
    if (a->adm_ch) return NOSTR_OK;
    return nostr__amqp_open_channel(a, &a->adm_ch);
}

/* basic.consume with our consumer tag: "r.<key>" or "d". */
static int nostr__amqp_consume_one(nostr_amqp *a, const char *key)
{
    char queue[NOSTR__AMQP_NAME_MAX + 1], tag[NOSTR__AMQP_NAME_MAX + 3];
    int rc = nostr__amqp_name(a, key, 0, queue, sizeof queue);
    if (rc != NOSTR_OK) return rc;
    snprintf(tag, sizeof tag, "%s%s", key ? "r." : NOSTR__AMQP_DEAD_TAG, key ? key : "");
    amqp_basic_consume(a->conn, a->sub_ch, nostr__amqp_bytes(queue), nostr__amqp_bytes(tag), 0, 0, 0,
                       amqp_empty_table);
    return nostr__amqp_rpc_result(a, a->sub_ch, "basic.consume");
}

/* One pass: open the consuming channel and consume every queue
 * remembered. A queue that is gone (404) is forgotten and *retry set:
 * the refusal closed the channel. */
static int nostr__amqp_open_sub(nostr_amqp *a, int *retry)
{
    amqp_channel_t ch;
    size_t i;
    int rc = nostr__amqp_open_channel(a, &ch);
    if (rc != NOSTR_OK) return rc;
    amqp_basic_qos(a->conn, ch, 0, (uint16_t)a->prefetch, 0);
    rc = nostr__amqp_rpc_result(a, ch, "basic.qos");
    if (rc != NOSTR_OK) return rc;
    a->sub_ch = ch;
    a->sub_gen++;
    for (i = 0; i < a->nkeys + 1; i++) {
        const char *key = i < a->nkeys ? a->keys[i].key : NULL;
        if (key ? !a->keys[i].consumed : !a->consume_dead) continue;
        rc = nostr__amqp_consume_one(a, key);
        if (rc == NOSTR_ERR_ARG) {
            if (key)
                a->keys[i].consumed = 0;
            else
                a->consume_dead = 0;
            *retry = 1;
            return NOSTR_OK;
        }
        if (rc != NOSTR_OK) return rc;
    }
    return NOSTR_OK;
}

static int nostr__amqp_wants_sub(const nostr_amqp *a)
{
    size_t i;
    if (a->consume_dead) return 1;
    for (i = 0; i < a->nkeys; i++)
        if (a->keys[i].consumed) return 1;
    return 0;
}

/* The consuming channel, with every remembered consumer on it. Bounded:
 * each retry forgets one consumer. */
static int nostr__amqp_ensure_sub(nostr_amqp *a)
{
    for (;;) {
        int retry = 0, rc;
        if (!a->conn) return NOSTR_ERR_NET;
        if (a->sub_ch) return NOSTR_OK;
        rc = nostr__amqp_open_sub(a, &retry);
        if (rc != NOSTR_OK || !retry) return rc;
    }
}

/* Log in with client properties announcing our capabilities:
 * connection.blocked (the broker says when it stops reading our
 * publishes, instead of leaving a publish stuck on a full socket) and
 * consumer_cancel_notify (a deleted queue cancels its consumer). */
static amqp_rpc_reply_t nostr__amqp_login(nostr_amqp *a)
{
    static const char *const names[4] = {"connection.blocked", "consumer_cancel_notify", "publisher_confirms",
                                         "basic.nack"};
    amqp_table_entry_t caps[4], props[2];
    amqp_table_t caps_t, props_t;
    int i;
    for (i = 0; i < 4; i++) {
        caps[i].key = amqp_cstring_bytes(names[i]);
        caps[i].value.kind = AMQP_FIELD_KIND_BOOLEAN;
        caps[i].value.value.boolean = 1;
    }
    caps_t.num_entries = 4;
    caps_t.entries = caps;
    props[0].key = amqp_cstring_bytes("capabilities");
    props[0].value.kind = AMQP_FIELD_KIND_TABLE;
    props[0].value.value.table = caps_t;
    props[1].key = amqp_cstring_bytes("connection_name"); /* shown by rabbitmqctl list_connections */
    props[1].value.kind = AMQP_FIELD_KIND_UTF8;
    props[1].value.value.bytes = amqp_cstring_bytes(a->prefix);
    props_t.num_entries = 2;
    props_t.entries = props;
    return amqp_login_with_properties(a->conn, a->info.vhost, 0, AMQP_DEFAULT_FRAME_SIZE,
                                      a->heartbeat_s > 0 ? a->heartbeat_s : 0, &props_t, AMQP_SASL_METHOD_PLAIN,
                                      a->info.user, a->info.password);
}

/* TCP connect (bounded), log in, open the publishing channel. */
static int nostr__amqp_connect(nostr_amqp *a, nostr_error *err)
{
    amqp_socket_t *sock;
    struct timeval ctv, rtv;
    amqp_rpc_reply_t r;
    char detail[400], msg[600];
    int rc;

    a->conn = amqp_new_connection();
    sock = a->conn ? amqp_tcp_socket_new(a->conn) : NULL;
    if (!sock) {
        nostr__amqp_conn_lost(a, "out of memory");
        nostr__amqp_set_err(err, NOSTR_ERR_NOMEM, "out of memory");
        return NOSTR_ERR_NOMEM;
    }
    amqp_set_handshake_timeout(a->conn, nostr__amqp_tv(&ctv, a->connect_timeout_ms));
    amqp_set_rpc_timeout(a->conn, nostr__amqp_tv(&rtv, a->rpc_timeout_ms));
    rc = amqp_socket_open_noblock(sock, a->info.host, a->info.port, nostr__amqp_tv(&ctv, a->connect_timeout_ms));
    if (rc != AMQP_STATUS_OK) {
        snprintf(msg, sizeof msg, "connect to %s:%d: %s", a->info.host, a->info.port, amqp_error_string2(rc));
        nostr__amqp_conn_lost(a, msg);
        nostr__amqp_set_err(err, NOSTR_ERR_NET, "cannot connect to the AMQP broker");
        return NOSTR_ERR_NET;
    }
    r = nostr__amqp_login(a);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        nostr__amqp_describe(r, detail, sizeof detail);
        snprintf(msg, sizeof msg, "login to %s:%d vhost %s: %s", a->info.host, a->info.port, a->info.vhost, detail);
        nostr__amqp_conn_lost(a, msg);
        nostr__amqp_set_err(err, NOSTR_ERR_NET, "AMQP login failed");
        return NOSTR_ERR_NET;
    }
    a->pub_ch = a->sub_ch = a->adm_ch = 0;
    a->next_ch = 1;
    a->blocked = 0;
    a->dlx_declared = 0;
    if (nostr__amqp_ensure_pub(a) != NOSTR_OK) {
        if (a->conn) nostr__amqp_conn_lost(a, "cannot open the publishing channel");
        nostr__amqp_set_err(err, NOSTR_ERR_NET, "cannot open the AMQP publishing channel");
        return NOSTR_ERR_NET;
    }
    return NOSTR_OK;
}

/* ---- declare ---- */

static int nostr__amqp_exchange(nostr_amqp *a, const char *name, const char *type)
{
    amqp_exchange_declare(a->conn, a->adm_ch, nostr__amqp_bytes(name), nostr__amqp_bytes(type), 0, 1, 0, 0,
                          amqp_empty_table);
    return nostr__amqp_rpc_result(a, a->adm_ch, "exchange.declare");
}

static int nostr__amqp_queue(nostr_amqp *a, const char *name, amqp_table_t args)
{
    amqp_queue_declare(a->conn, a->adm_ch, nostr__amqp_bytes(name), 0, 1, 0, 0, args);
    return nostr__amqp_rpc_result(a, a->adm_ch, "queue.declare");
}

static int nostr__amqp_bind(nostr_amqp *a, const char *queue, const char *exchange, const char *key)
{
    amqp_queue_bind(a->conn, a->adm_ch, nostr__amqp_bytes(queue), nostr__amqp_bytes(exchange),
                    nostr__amqp_bytes(key), amqp_empty_table);
    return nostr__amqp_rpc_result(a, a->adm_ch, "queue.bind");
}

static void nostr__amqp_utf8_arg(amqp_table_entry_t *e, const char *key, const char *value)
{
    e->key = amqp_cstring_bytes(key);
    e->value.kind = AMQP_FIELD_KIND_UTF8;
    e->value.value.bytes = amqp_cstring_bytes(value);
}

/* The fanout dead-letter exchange and its quorum queue (once per connection). */
static int nostr__amqp_declare_dlx(nostr_amqp *a)
{
    char dlx[NOSTR__AMQP_NAME_MAX + 1], dead[NOSTR__AMQP_NAME_MAX + 1];
    amqp_table_entry_t arg;
    amqp_table_t args;
    int rc;
    if (a->dlx_declared) return NOSTR_OK;
    nostr__amqp_name(a, NULL, 1, dlx, sizeof dlx);
    nostr__amqp_name(a, NULL, 0, dead, sizeof dead);
    nostr__amqp_utf8_arg(&arg, "x-queue-type", "quorum");
    args.num_entries = 1;
    args.entries = &arg;
    if ((rc = nostr__amqp_exchange(a, dlx, "fanout")) != NOSTR_OK) return rc;
    if ((rc = nostr__amqp_queue(a, dead, args)) != NOSTR_OK) return rc;
    if ((rc = nostr__amqp_bind(a, dead, dlx, "")) != NOSTR_OK) return rc;
    a->dlx_declared = 1;
    return NOSTR_OK;
}

/* The key's exchange, quorum queue (delivery limit, dead-lettering) and
 * binding. */
static int nostr__amqp_declare_key(nostr_amqp *a, const char *key)
{
    char name[NOSTR__AMQP_NAME_MAX + 1], dlx[NOSTR__AMQP_NAME_MAX + 1];
    amqp_table_entry_t args[5];
    amqp_table_t t;
    int rc;
    if ((rc = nostr__amqp_name(a, key, 0, name, sizeof name)) != NOSTR_OK) return rc;
    nostr__amqp_name(a, NULL, 1, dlx, sizeof dlx);
    nostr__amqp_utf8_arg(&args[0], "x-queue-type", "quorum");
    nostr__amqp_utf8_arg(&args[1], "x-dead-letter-exchange", dlx);
    /* at-least-once: a dead-lettered message leaves this queue only once
     * the dead queue has it (the broker requires reject-publish overflow
     * for that; without a length limit it never applies). */
    nostr__amqp_utf8_arg(&args[2], "x-dead-letter-strategy", "at-least-once");
    nostr__amqp_utf8_arg(&args[3], "x-overflow", "reject-publish");
    t.num_entries = 4;
    if (a->max_deliveries > 0) {
        /* The broker dead-letters a message returned more than the limit
         * times: the limit max_deliveries - 1 makes the max_deliveries-th
         * rejection the last. */
        args[4].key = amqp_cstring_bytes("x-delivery-limit");
        args[4].value.kind = AMQP_FIELD_KIND_I32;
        args[4].value.value.i32 = a->max_deliveries - 1;
        t.num_entries = 5;
    }
    t.entries = args;
    if ((rc = nostr__amqp_exchange(a, name, "direct")) != NOSTR_OK) return rc;
    if ((rc = nostr__amqp_queue(a, name, t)) != NOSTR_OK) return rc;
    return nostr__amqp_bind(a, name, name, key);
}

static int nostr__amqp_declare_all(nostr_amqp *a, const char *key)
{
    int rc = nostr__amqp_ensure_adm(a);
    if (rc == NOSTR_OK) rc = nostr__amqp_declare_dlx(a);
    if (rc == NOSTR_OK && key) rc = nostr__amqp_declare_key(a, key);
    return rc;
}

/* ---- poll: frames from the broker ---- */

/* x-delivery-count from a delivery's headers, or -1. */
static long long nostr__amqp_delivery_count(const amqp_basic_properties_t *p)
{
    int i;
    if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG)) return -1;
    for (i = 0; i < p->headers.num_entries; i++) {
        const amqp_table_entry_t *e = &p->headers.entries[i];
        const amqp_field_value_t *v = &e->value;
        if (e->key.len != 16 || memcmp(e->key.bytes, "x-delivery-count", 16) != 0) continue;
        switch (v->kind) {
        case AMQP_FIELD_KIND_I8: return v->value.i8;
        case AMQP_FIELD_KIND_U8: return v->value.u8;
        case AMQP_FIELD_KIND_I16: return v->value.i16;
        case AMQP_FIELD_KIND_U16: return v->value.u16;
        case AMQP_FIELD_KIND_I32: return v->value.i32;
        case AMQP_FIELD_KIND_U32: return v->value.u32;
        case AMQP_FIELD_KIND_I64: return (long long)v->value.i64;
        case AMQP_FIELD_KIND_U64: return (long long)v->value.u64;
        default: return -1;
        }
    }
    return -1;
}

/* Free the deliveries handed out by the last poll. */
static void nostr__amqp_release_held(nostr_amqp *a)
{
    size_t i;
    for (i = 0; i < a->nheld; i++) amqp_destroy_message(&a->held[i]);
    a->nheld = 0;
    nostr_arena_reset(&a->held_keys);
}

/* A slot for one more held delivery, or NULL (out of memory: the
 * delivery is then valid only during its on_message). */
static amqp_message_t *nostr__amqp_hold_slot(nostr_amqp *a)
{
    if (a->nheld == a->held_cap) {
        size_t ncap = a->held_cap ? a->held_cap * 2 : 64;
        amqp_message_t *n = (amqp_message_t *)nostr_realloc(a->al, a->held, ncap * sizeof *n);
        if (!n) return NULL;
        a->held = n;
        a->held_cap = ncap;
    }
    return &a->held[a->nheld];
}

/* A basic.deliver on the consuming channel: read its header and body
 * frames, hand the message to on_message. */
static void nostr__amqp_deliver(nostr_amqp *a, amqp_channel_t ch, const amqp_basic_deliver_t *d,
                                const nostr_amqp_handlers *h)
{
    nostr_amqp_msg m;
    amqp_message_t local, *slot = nostr__amqp_hold_slot(a), *msg = slot ? slot : &local;
    amqp_rpc_reply_t r;
    char key_local[NOSTR__AMQP_NAME_MAX + 1], detail[400], line[512];
    size_t klen = d->routing_key.len < sizeof key_local - 1 ? d->routing_key.len : sizeof key_local - 1;
    char *key = nostr_arena_strdup(&a->held_keys, (const char *)d->routing_key.bytes, klen);

    if (!key || !slot) { /* only valid during the handler then */
        key = key_local;
        memcpy(key, d->routing_key.bytes, klen);
        key[klen] = 0;
        slot = NULL;
        msg = &local;
    }
    memset(&m, 0, sizeof m);
    m.key = key;
    m.key_len = klen;
    m.delivery_tag = ((unsigned long long)(a->sub_gen & 0xffffu) << NOSTR__AMQP_TAG_BITS) |
                     (d->delivery_tag & NOSTR__AMQP_TAG_MASK);
    m.redelivered = d->redelivered ? 1 : 0;
    m.dead = d->consumer_tag.len == 1 && memcmp(d->consumer_tag.bytes, NOSTR__AMQP_DEAD_TAG, 1) == 0;

    r = amqp_read_message(a->conn, ch, msg, 0);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        nostr__amqp_describe(r, detail, sizeof detail);
        snprintf(line, sizeof line, "reading a delivery: %s", detail);
        if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            nostr__amqp_note(a, NOSTR_LOG_WARN, line);
            nostr__amqp_close_ok(a, ch);
        } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION) {
            nostr__amqp_connection_closed(a, line);
        } else {
            nostr__amqp_conn_lost(a, line);
        }
        return;
    }
    if (slot) a->nheld++; /* held until the next poll */
    m.body = msg->body.bytes;
    m.len = msg->body.len;
    m.delivery_count = nostr__amqp_delivery_count(&msg->properties);
    a->stats.delivered++;
    if (h && h->on_message) h->on_message(h->user, &m);
    if (!slot) amqp_destroy_message(msg);
}

/* The broker cancelled one of our consumers (its queue was deleted). */
static void nostr__amqp_cancelled(nostr_amqp *a, const amqp_basic_cancel_t *c)
{
    char line[400];
    size_t i;
    const char *tag = (const char *)c->consumer_tag.bytes;
    if (c->consumer_tag.len == 1 && tag[0] == NOSTR__AMQP_DEAD_TAG[0]) a->consume_dead = 0;
    for (i = 0; i < a->nkeys; i++) {
        const char *k = a->keys[i].key;
        if (c->consumer_tag.len == strlen(k) + 2 && memcmp(tag, "r.", 2) == 0 && memcmp(tag + 2, k, strlen(k)) == 0)
            a->keys[i].consumed = 0;
    }
    snprintf(line, sizeof line, "the broker cancelled consumer %.*s", (int)c->consumer_tag.len, tag);
    nostr__amqp_note(a, NOSTR_LOG_WARN, line);
}

static void nostr__amqp_blocked_msg(nostr_amqp *a, int blocked, const amqp_bytes_t *reason)
{
    char line[300];
    if (blocked)
        snprintf(line, sizeof line, "the broker blocked publishing: %.*s", (int)reason->len,
                 (const char *)reason->bytes);
    else
        snprintf(line, sizeof line, "the broker unblocked publishing");
    nostr__amqp_note(a, blocked ? NOSTR_LOG_WARN : NOSTR_LOG_INFO, line);
}

/* One frame. Frames on channels no longer ours (closed before) are stale
 * and dropped. */
static void nostr__amqp_dispatch(nostr_amqp *a, amqp_frame_t *f, const nostr_amqp_handlers *h)
{
    amqp_channel_t ch = f->channel;
    void *m = f->payload.method.decoded;
    char line[400];
    if (f->frame_type != AMQP_FRAME_METHOD) return; /* content of a stale delivery */
    switch (f->payload.method.id) {
    case AMQP_BASIC_ACK_METHOD:
        if (ch != a->pub_ch) return;
        a->stats.ack_frames++;
        if (((amqp_basic_ack_t *)m)->multiple) a->stats.multiple_acks++;
        nostr__amqp_on_ack(a, ((amqp_basic_ack_t *)m)->delivery_tag, ((amqp_basic_ack_t *)m)->multiple, 1, h);
        return;
    case AMQP_BASIC_NACK_METHOD:
        if (ch != a->pub_ch) return;
        nostr__amqp_on_ack(a, ((amqp_basic_nack_t *)m)->delivery_tag, ((amqp_basic_nack_t *)m)->multiple, 0, h);
        return;
    case AMQP_BASIC_DELIVER_METHOD:
        if (ch == a->sub_ch) nostr__amqp_deliver(a, ch, (amqp_basic_deliver_t *)m, h);
        return;
    case AMQP_BASIC_CANCEL_METHOD:
        if (ch == a->sub_ch) nostr__amqp_cancelled(a, (amqp_basic_cancel_t *)m);
        return;
    case AMQP_CHANNEL_CLOSE_METHOD: {
        const amqp_channel_close_t *c = (const amqp_channel_close_t *)m;
        snprintf(line, sizeof line, "channel %u closed by the broker: %u %.*s", (unsigned)ch,
                 (unsigned)c->reply_code, (int)c->reply_text.len, (const char *)c->reply_text.bytes);
        nostr__amqp_note(a, NOSTR_LOG_WARN, line);
        nostr__amqp_close_ok(a, ch);
        return;
    }
    case AMQP_CONNECTION_CLOSE_METHOD: {
        const amqp_connection_close_t *c = (const amqp_connection_close_t *)m;
        snprintf(line, sizeof line, "connection closed by the broker: %u %.*s", (unsigned)c->reply_code,
                 (int)c->reply_text.len, (const char *)c->reply_text.bytes);
        nostr__amqp_connection_closed(a, line);
        return;
    }
    case AMQP_CONNECTION_BLOCKED_METHOD:
        a->blocked = 1;
        a->stats.blocked++;
        nostr__amqp_blocked_msg(a, 1, &((amqp_connection_blocked_t *)m)->reason);
        return;
    case AMQP_CONNECTION_UNBLOCKED_METHOD:
        a->blocked = 0;
        nostr__amqp_blocked_msg(a, 0, NULL);
        return;
    default:
        return;
    }
}

/* Reopen the consuming channel the broker closed, so consumption goes on. */
static void nostr__amqp_restore_sub(nostr_amqp *a)
{
    if (a->conn && !a->sub_ch && nostr__amqp_wants_sub(a)) nostr__amqp_ensure_sub(a);
}

/* ---- public API ---- */

NOSTRDEF int nostr_amqp_open(nostr_amqp **out, const nostr_amqp_config *cfg, nostr_error *err)
{
    nostr_amqp *a;
    const char *url, *prefix;
    int rc;
    if (!out) return NOSTR_ERR_ARG;
    *out = NULL;
    if (!cfg) {
        nostr__amqp_set_err(err, NOSTR_ERR_ARG, "no AMQP configuration");
        return NOSTR_ERR_ARG;
    }
    url = cfg->url && *cfg->url ? cfg->url : "amqp://guest:guest@localhost:5672";
    prefix = cfg->prefix && *cfg->prefix ? cfg->prefix : "distrise";
    if (strlen(prefix) > NOSTR__AMQP_PREFIX_MAX || cfg->prefetch > 65535) {
        nostr__amqp_set_err(err, NOSTR_ERR_ARG, "AMQP prefix longer than 100 bytes or prefetch over 65535");
        return NOSTR_ERR_ARG;
    }
    a = (nostr_amqp *)nostr_alloc(cfg->al, sizeof *a);
    if (!a) {
        nostr__amqp_set_err(err, NOSTR_ERR_NOMEM, "out of memory");
        return NOSTR_ERR_NOMEM;
    }
    memset(a, 0, sizeof *a);
    a->al = cfg->al;
    a->log = cfg->log;
    a->log_user = cfg->log_user;
    a->cap = cfg->max_unconfirmed ? cfg->max_unconfirmed : 1024;
    a->max_deliveries = cfg->max_deliveries ? cfg->max_deliveries : 5;
    a->prefetch = cfg->prefetch ? cfg->prefetch : 512;
    a->heartbeat_s = cfg->heartbeat_s ? cfg->heartbeat_s : 30;
    a->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 5000;
    a->rpc_timeout_ms = cfg->rpc_timeout_ms > 0 ? cfg->rpc_timeout_ms : 15000;
    a->first_seq = a->next_seq = 1;
    nostr_arena_init(&a->held_keys, NULL, 0, a->al);
    a->url = nostr__amqp_strdup(a->al, url);
    a->prefix = nostr__amqp_strdup(a->al, prefix);
    a->ring_tag = (unsigned long long *)nostr_alloc(a->al, a->cap * sizeof *a->ring_tag);
    a->ring_pending = (unsigned char *)nostr_alloc(a->al, a->cap);
    a->lost = (unsigned long long *)nostr_alloc(a->al, a->cap * sizeof *a->lost);
    if (!a->url || !a->prefix || !a->ring_tag || !a->ring_pending || !a->lost) {
        nostr_amqp_close(a);
        nostr__amqp_set_err(err, NOSTR_ERR_NOMEM, "out of memory");
        return NOSTR_ERR_NOMEM;
    }
    memset(a->ring_pending, 0, a->cap);
    amqp_default_connection_info(&a->info);
    if (amqp_parse_url(a->url, &a->info) != AMQP_STATUS_OK) {
        nostr__amqp_note(a, NOSTR_LOG_ERROR, "bad AMQP URL: expected amqp://user:pass@host:port/vhost");
        nostr_amqp_close(a);
        nostr__amqp_set_err(err, NOSTR_ERR_ARG, "bad AMQP URL (amqp://user:pass@host:port/vhost)");
        return NOSTR_ERR_ARG;
    }
    if (a->info.ssl) {
        nostr_amqp_close(a);
        nostr__amqp_set_err(err, NOSTR_ERR_UNSUPPORTED, "amqps:// is not supported");
        return NOSTR_ERR_UNSUPPORTED;
    }
    if (!*a->info.vhost) a->info.vhost = (char *)"/"; /* "amqp://host/" means the default vhost */
    rc = nostr__amqp_connect(a, err);
    if (rc != NOSTR_OK) {
        nostr_amqp_close(a);
        return rc;
    }
    *out = a;
    return NOSTR_OK;
}

NOSTRDEF void nostr_amqp_close(nostr_amqp *a)
{
    size_t i;
    if (!a) return;
    if (a->conn) {
        /* A blocked connection is not read by the broker: its close-ok
         * would never come. Otherwise wait a little for it. */
        if (!a->blocked) {
            struct timeval tv;
            amqp_set_rpc_timeout(a->conn, nostr__amqp_tv(&tv, 2000));
            amqp_connection_close(a->conn, AMQP_REPLY_SUCCESS);
        }
        amqp_destroy_connection(a->conn);
    }
    nostr__amqp_release_held(a);
    nostr_free(a->al, a->held);
    nostr_arena_free(&a->held_keys);
    for (i = 0; i < a->nkeys; i++) nostr_free(a->al, a->keys[i].key);
    nostr_free(a->al, a->keys);
    nostr_free(a->al, a->ring_tag);
    nostr_free(a->al, a->ring_pending);
    nostr_free(a->al, a->lost);
    nostr_free(a->al, a->url);
    nostr_free(a->al, a->prefix);
    nostr_free(a->al, a);
}

NOSTRDEF int nostr_amqp_declare(nostr_amqp *a, const char *key)
{
    char name[NOSTR__AMQP_NAME_MAX + 1];
    nostr__amqp_key *k;
    int rc;
    if (!a || (key && nostr__amqp_name(a, key, 0, name, sizeof name) != NOSTR_OK)) return NOSTR_ERR_ARG;
    rc = nostr__amqp_declare_all(a, key);
    if (rc != NOSTR_OK || !key) return rc;
    k = nostr__amqp_remember(a, key);
    if (!k) return NOSTR_ERR_NOMEM;
    k->declared = 1;
    return NOSTR_OK;
}

NOSTRDEF int nostr_amqp_remove(nostr_amqp *a, const char *key)
{
    char name[NOSTR__AMQP_NAME_MAX + 1], tag[NOSTR__AMQP_NAME_MAX + 3];
    nostr__amqp_key *k;
    int rc;
    if (!a || !key || nostr__amqp_name(a, key, 0, name, sizeof name) != NOSTR_OK) return NOSTR_ERR_ARG;
    k = nostr__amqp_find(a, key);
    if (k && k->consumed && a->sub_ch && a->conn) {
        snprintf(tag, sizeof tag, "r.%s", key);
        amqp_basic_cancel(a->conn, a->sub_ch, nostr__amqp_bytes(tag));
        rc = nostr__amqp_rpc_result(a, a->sub_ch, "basic.cancel");
        if (rc == NOSTR_ERR_NET) return rc;
    }
    if (k) nostr__amqp_forget(a, k); /* not consumed or declared again, whatever follows */
    if ((rc = nostr__amqp_ensure_adm(a)) != NOSTR_OK) return rc;
    amqp_exchange_delete(a->conn, a->adm_ch, nostr__amqp_bytes(name), 0);
    if ((rc = nostr__amqp_rpc_result(a, a->adm_ch, "exchange.delete")) != NOSTR_OK) return rc;
    amqp_queue_delete(a->conn, a->adm_ch, nostr__amqp_bytes(name), 0, 0);
    return nostr__amqp_rpc_result(a, a->adm_ch, "queue.delete");
}

NOSTRDEF int nostr_amqp_publish(nostr_amqp *a, const char *key, const void *body, size_t n,
                                unsigned long long user_tag)
{
    char name[NOSTR__AMQP_NAME_MAX + 1], line[400];
    amqp_basic_properties_t props;
    amqp_bytes_t b;
    unsigned slot;
    int rc;
    if (!a || !key || (!body && n) || nostr__amqp_name(a, key, 0, name, sizeof name) != NOSTR_OK)
        return NOSTR_ERR_ARG;
    if (!a->conn) return NOSTR_ERR_NET;
    if (a->blocked || a->next_seq - a->first_seq + a->lost_count >= a->cap) return NOSTR_ERR_BUSY;
    if ((rc = nostr__amqp_ensure_pub(a)) != NOSTR_OK) return rc;
    memset(&props, 0, sizeof props);
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    b.len = n;
    b.bytes = (void *)(uintptr_t)body;
    rc = amqp_basic_publish(a->conn, a->pub_ch, nostr__amqp_bytes(name), nostr__amqp_bytes(key), 0, 0, &props, b);
    if (rc != AMQP_STATUS_OK) {
        snprintf(line, sizeof line, "basic.publish: %s", amqp_error_string2(rc));
        nostr__amqp_conn_lost(a, line);
        return NOSTR_ERR_NET;
    }
    slot = (unsigned)(a->next_seq % a->cap);
    a->ring_tag[slot] = user_tag;
    a->ring_pending[slot] = 1;
    a->next_seq++;
    a->pending++;
    a->stats.published++;
    return NOSTR_OK;
}

NOSTRDEF int nostr_amqp_poll(nostr_amqp *a, int timeout_ms, const nostr_amqp_handlers *h)
{
    struct timeval tv;
    amqp_frame_t f;
    char line[300];
    int n, rc;
    if (!a) return NOSTR_ERR_ARG;
    nostr__amqp_release_held(a);
    nostr__amqp_report_lost(a, h);
    nostr__amqp_restore_sub(a);
    for (n = 0; n < NOSTR__AMQP_POLL_FRAMES && a->conn; n++) {
        /* Wait for the first frame only; then take what has arrived. */
        rc = amqp_simple_wait_frame_noblock(a->conn, &f, nostr__amqp_tv(&tv, n == 0 ? timeout_ms : 0));
        if (rc == AMQP_STATUS_TIMEOUT) break;
        if (rc != AMQP_STATUS_OK) {
            snprintf(line, sizeof line, "connection lost: %s", amqp_error_string2(rc));
            nostr__amqp_conn_lost(a, line);
            break;
        }
        nostr__amqp_dispatch(a, &f, h);
        if (a->conn) amqp_maybe_release_buffers(a->conn);
    }
    nostr__amqp_restore_sub(a);
    nostr__amqp_report_lost(a, h);
    return a->conn ? NOSTR_OK : NOSTR_ERR_NET;
}

NOSTRDEF unsigned nostr_amqp_unconfirmed(const nostr_amqp *a)
{
    return a ? a->pending : 0;
}

NOSTRDEF int nostr_amqp_blocked(const nostr_amqp *a)
{
    return a ? a->blocked : 0;
}

NOSTRDEF int nostr_amqp_consume(nostr_amqp *a, const char *key)
{
    char name[NOSTR__AMQP_NAME_MAX + 1];
    nostr__amqp_key *k = NULL;
    int rc, *flag;
    if (!a || (key && nostr__amqp_name(a, key, 0, name, sizeof name) != NOSTR_OK)) return NOSTR_ERR_ARG;
    if (!a->conn) return NOSTR_ERR_NET;
    if (key) {
        k = nostr__amqp_remember(a, key);
        if (!k) return NOSTR_ERR_NOMEM;
    }
    flag = k ? &k->consumed : &a->consume_dead;
    if (*flag && a->sub_ch) return NOSTR_OK;
    *flag = 1;
    if (!a->sub_ch) {
        /* A fresh channel consumes every remembered queue, this one too;
         * a queue that does not exist is dropped from the set. */
        rc = nostr__amqp_ensure_sub(a);
        if (rc == NOSTR_OK && !*flag) rc = NOSTR_ERR_ARG;
    } else {
        rc = nostr__amqp_consume_one(a, key);
        if (rc != NOSTR_OK) *flag = 0;
        if (rc == NOSTR_ERR_ARG) nostr__amqp_restore_sub(a); /* the refusal closed the channel */
    }
    if (k && !k->consumed && !k->declared) nostr__amqp_forget(a, k);
    return rc;
}

/* The broker's tag for a delivery tag of the current consuming channel. */
static int nostr__amqp_own_tag(const nostr_amqp *a, unsigned long long tag, uint64_t *out)
{
    if (!a->conn) return NOSTR_ERR_NET;
    if (!a->sub_ch || (tag >> NOSTR__AMQP_TAG_BITS) != (a->sub_gen & 0xffffu)) return NOSTR_ERR_CLOSED;
    *out = tag & NOSTR__AMQP_TAG_MASK;
    return NOSTR_OK;
}

NOSTRDEF int nostr_amqp_ack(nostr_amqp *a, unsigned long long delivery_tag, int multiple)
{
    uint64_t t;
    int rc;
    if (!a) return NOSTR_ERR_ARG;
    if ((rc = nostr__amqp_own_tag(a, delivery_tag, &t)) != NOSTR_OK) return rc;
    if (amqp_basic_ack(a->conn, a->sub_ch, t, multiple ? 1 : 0) != AMQP_STATUS_OK) {
        nostr__amqp_conn_lost(a, "basic.ack: send failed");
        return NOSTR_ERR_NET;
    }
    a->stats.acked++;
    return NOSTR_OK;
}

NOSTRDEF int nostr_amqp_reject(nostr_amqp *a, unsigned long long delivery_tag)
{
    uint64_t t;
    int rc;
    if (!a) return NOSTR_ERR_ARG;
    if ((rc = nostr__amqp_own_tag(a, delivery_tag, &t)) != NOSTR_OK) return rc;
    /* Always requeue: the queue's delivery limit dead-letters the message
     * on its max_deliveries-th rejection. */
    if (amqp_basic_reject(a->conn, a->sub_ch, t, 1) != AMQP_STATUS_OK) {
        nostr__amqp_conn_lost(a, "basic.reject: send failed");
        return NOSTR_ERR_NET;
    }
    a->stats.rejected++;
    return NOSTR_OK;
}

NOSTRDEF int nostr_amqp_depth(nostr_amqp *a, const char *key, unsigned long long *messages, unsigned *consumers)
{
    char name[NOSTR__AMQP_NAME_MAX + 1];
    amqp_queue_declare_ok_t *ok;
    int rc;
    if (!a || nostr__amqp_name(a, key, 0, name, sizeof name) != NOSTR_OK) return NOSTR_ERR_ARG;
    if ((rc = nostr__amqp_ensure_adm(a)) != NOSTR_OK) return rc;
    ok = amqp_queue_declare(a->conn, a->adm_ch, nostr__amqp_bytes(name), 1, 0, 0, 0, amqp_empty_table);
    if ((rc = nostr__amqp_rpc_result(a, a->adm_ch, "queue.declare (passive)")) != NOSTR_OK) return rc;
    if (messages) *messages = ok->message_count;
    if (consumers) *consumers = ok->consumer_count;
    return NOSTR_OK;
}

NOSTRDEF int nostr_amqp_reconnect(nostr_amqp *a, nostr_error *err)
{
    size_t i;
    int rc;
    if (!a) return NOSTR_ERR_ARG;
    if (a->conn) nostr__amqp_conn_lost(a, NULL);
    rc = nostr__amqp_connect(a, err);
    if (rc != NOSTR_OK) return rc;
    rc = nostr__amqp_declare_all(a, NULL);
    for (i = 0; rc == NOSTR_OK && i < a->nkeys; i++)
        if (a->keys[i].declared) rc = nostr__amqp_declare_key(a, a->keys[i].key);
    if (rc == NOSTR_OK && nostr__amqp_wants_sub(a)) rc = nostr__amqp_ensure_sub(a);
    if (rc != NOSTR_OK) {
        nostr__amqp_set_err(err, rc, "AMQP reconnect: re-declaring or re-consuming failed");
        return rc;
    }
    a->stats.reconnects++;
    nostr__amqp_note(a, NOSTR_LOG_INFO, "reconnected");
    return NOSTR_OK;
}

NOSTRDEF int nostr_amqp_connected(const nostr_amqp *a)
{
    return a && a->conn ? 1 : 0;
}

NOSTRDEF void nostr_amqp_get_stats(const nostr_amqp *a, nostr_amqp_stats *out)
{
    if (!out) return;
    if (a)
        *out = a->stats;
    else
        memset(out, 0, sizeof *out);
}

NOSTRDEF const char *nostr_amqp_last_error(const nostr_amqp *a)
{
    return a ? a->last_error : "";
}

#endif /* NOSTR_WITH_RABBITMQ */
