/* ---- relay: definitions ---- */

/* Per-request records. Every store call and verify job the relay starts
 * gets one; it sits on the relay's list (freed at nostr_relay_free) and on
 * its connection's list. When the connection closes first, conn becomes
 * NULL and the answer, when it comes, is dropped; the record is freed by
 * its completion. */
enum { NOSTR__RELAY_INGEST = 1, NOSTR__RELAY_QUERY = 2, NOSTR__RELAY_COUNT = 3 };
enum { NOSTR__RELAY_MODE_HTTP = 0, NOSTR__RELAY_MODE_WS = 1 };

#define NOSTR__RELAY_SCRATCH (64u * 1024u)
#define NOSTR__RELAY_CLOSE_GRACE_MS 10000
#define NOSTR__RELAY_PURGE_MS 60000
#define NOSTR__RELAY_SWEEP_MS 10000
#define NOSTR__RELAY_AUTH_WINDOW_S 600
#define NOSTR__RELAY_KEEP_BUF 16384 /* an idle connection keeps buffers up to this size */
/* An output buffer drained empty is kept for the next burst (a busy
 * connection re-growing it every time pays realloc copies and page faults)
 * and freed by the tick once it has stayed empty this long, or at once
 * when it is over NOSTR__RELAY_KEEP_MAX. */
#define NOSTR__RELAY_KEEP_MS 1000
#define NOSTR__RELAY_KEEP_MAX (4u << 20)
#define NOSTR__RELAY_IP_MAX 64
#define NOSTR__RELAY_COMPACT 65536

typedef struct nostr__relay_bucket {
    double tokens;
    long long last_ms;
} nostr__relay_bucket;

/* Per-IP state: open connections and the IP's event bucket. */
typedef struct nostr__relay_ip {
    struct nostr__relay_ip *next; /* hash chain */
    unsigned hash;
    size_t conns;
    long long last_ms; /* last accept or close */
    nostr__relay_bucket events;
    char ip[NOSTR__RELAY_IP_MAX];
} nostr__relay_ip;

/* A private copy of a REQ's or COUNT's filters, shared by the
 * subscription (the index reads it) and the store request in flight. */
typedef struct nostr__relay_filters {
    size_t refs, n;
    nostr_filter *f;
} nostr__relay_filters;

typedef struct nostr__relay_rec nostr__relay_rec;
struct nostr__relay_rec {
    nostr__relay_rec *prev, *next;   /* relay's list */
    nostr__relay_rec *cprev, *cnext; /* the connection's list */
    nostr_relay *r;
    nostr_relay_conn *conn; /* NULL once the connection closed */
    int type;
};

typedef struct nostr__relay_sub nostr__relay_sub;

typedef struct nostr__relay_query {
    nostr__relay_rec rec;
    nostr__relay_sub *sub; /* NULL once the subscription closed or was replaced */
    nostr__relay_filters *fs;
    long long t0_us;
} nostr__relay_query;

typedef struct nostr__relay_count {
    nostr__relay_rec rec;
    nostr__relay_filters *fs;
    size_t sub_len;
    char sub[65];
} nostr__relay_count;

/* One EVENT past the cheap checks: a copy of the event (tags, strings and
 * JSON text in the same allocation) that lives through verification and
 * the store's put. */
typedef struct nostr__relay_ingest {
    nostr__relay_rec rec;
    nostr_relay_verify_job job;
    nostr_event ev;
    const char *json;
    size_t len;
    unsigned long long seq; /* its put's number (nostr_relay.put_seq) */
} nostr__relay_ingest;

struct nostr__relay_sub {
    nostr_relay_conn *conn;
    nostr__relay_query *query; /* stored events still coming */
    nostr__relay_filters *fs;
    nostr_buf held; /* live frames that arrived before EOSE */
    unsigned long long seen_seq; /* puts up to this number were visible to its query */
    int in_index;
    size_t id_len, prefix_len;
    char id[65];
    char *prefix; /* ["EVENT",<id as JSON string>, (same allocation) */
};

struct nostr_relay_conn {
    nostr_relay *r;
    nostr_relay_conn *prev, *next;
    void *user;
    nostr__relay_ip *ipe;
    int mode;
    nostr_http_parser *http; /* HTTP mode only */
    nostr_ws ws;             /* WebSocket mode */
    nostr_buf out;
    size_t out_off; /* written so far */
    size_t out_fb;  /* a frame boundary at or before out_off (WebSocket mode) */
    int closing;    /* nothing more is read or sent but the close */
    int should_close;
    int forced; /* output dropped: close now */
    long long last_in_ms, last_ping_ms;
    long long drained_ms; /* when out last became empty */
    /* closing with output left: when tick first saw no progress, and the
     * consumed total it saw then (the clock may have stood still while
     * the loop was busy, so the grace period is counted in ticks' time) */
    long long stall_ms;
    unsigned long long consumed, stall_consumed;
    nostr__relay_bucket ev_bucket, req_bucket;
    nostr__relay_sub **subs;
    size_t nsubs, subs_cap;
    nostr__relay_rec *recs;
    int authed;
    unsigned char pubkey[32];
    char challenge[33];
    char ip[NOSTR__RELAY_IP_MAX];
};

struct nostr_relay {
    nostr_allocator alv;
    const nostr_allocator *al;
    nostr_pubkey_cache *pkcache; /* for verifies on the relay's thread; made at the first */
    nostr_relay_config cfg;
    nostr_relay_limits lim;
    nostr_relay_callbacks cb;
    nostr_store store;
    nostr_limits plim; /* parser limits */
    nostr_subindex *ix;
    nostr_relay_conn *conns;
    nostr__relay_rec *recs;
    nostr__relay_ip **ipt;
    size_t ipt_cap, ipt_count;
    nostr_arena scratch; /* one message at a time */
    unsigned char *scratch_mem;
    nostr_buf tmp; /* one answer at a time */
    long long now_ms, last_purge_ms, last_sweep_ms;
    unsigned long long put_seq; /* puts handed to the store so far */
    int shutting_down;
    int have_url;
    char url[256]; /* cfg.relay_url normalised */
    nostr_relay_stats st;
};

/* ---- small helpers ---- */

static void nostr__relay_log(nostr_relay *r, int level, const char *msg)
{
    if (r->cb.log) r->cb.log(r->cb.user, level, msg);
}

static long long nostr__relay_now_s(const nostr_relay *r)
{
    return r->now_ms / 1000;
}

static int nostr__relay_ieq(const char *a, const char *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        int x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z') x += 32;
        if (y >= 'A' && y <= 'Z') y += 32;
        if (x != y) return 0;
    }
    return 1;
}

/* Does s (len n) contain word, ASCII case-insensitive? */
static int nostr__relay_icontains(const char *s, size_t n, const char *word)
{
    size_t w = strlen(word), i;
    for (i = 0; i + w <= n; i++)
        if (nostr__relay_ieq(s + i, word, w)) return 1;
    return 0;
}

/* ---- token buckets ---- */

static int nostr__relay_take(nostr__relay_bucket *b, double rate, double burst, long long now_ms)
{
    if (rate < 0) return 1;
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rate / 1000.0;
        if (b->tokens > burst) b->tokens = burst;
    }
    b->last_ms = now_ms;
    if (b->tokens < 1.0) return 0;
    b->tokens -= 1.0;
    return 1;
}

static void nostr__relay_bucket_init(nostr__relay_bucket *b, double burst, long long now_ms)
{
    b->tokens = burst;
    b->last_ms = now_ms;
}

static void nostr__relay_limits_resolve(nostr_relay_limits *l)
{
    if (!l->max_message) l->max_message = 131072;
    if (!l->max_event_bytes) l->max_event_bytes = 65536;
    if (!l->max_tags) l->max_tags = 2000;
    if (!l->max_tag_value) l->max_tag_value = 1024;
    if (!l->max_content) l->max_content = 65536;
    if (!l->max_subs) l->max_subs = 200;
    if (!l->max_filters) l->max_filters = 20;
    if (!l->max_filter_values) l->max_filter_values = 1000;
    if (!l->max_limit) l->max_limit = 500;
    if (!l->default_limit) l->default_limit = 500;
    if (l->default_limit > l->max_limit) l->default_limit = l->max_limit;
    if (!l->max_future_s) l->max_future_s = 900;
    if (l->max_past_s < 0) l->max_past_s = 0;
    if (l->min_pow < 0) l->min_pow = 0;
    if (!l->max_output) l->max_output = 16u << 20;
    if (!l->idle_timeout_ms) l->idle_timeout_ms = 600000;
    if (!l->ping_interval_ms) l->ping_interval_ms = 60000;
    if (l->events_per_s == 0) l->events_per_s = 50;
    if (l->events_burst < 1) l->events_burst = 200;
    if (l->reqs_per_s == 0) l->reqs_per_s = 20;
    if (l->reqs_burst < 1) l->reqs_burst = 100;
    if (l->ip_events_per_s == 0) l->ip_events_per_s = 200;
    if (l->ip_events_burst < 1) l->ip_events_burst = 1000;
    if (!l->max_conns_per_ip) l->max_conns_per_ip = 256;
}

/* ---- NIP-42 relay URL: scheme and host lowercased, default port and
 * trailing slashes dropped ---- */

static int nostr__relay_norm_url(const char *s, size_t n, char *out, size_t cap)
{
    size_t i = 0, o, auth, auth_end, host_end, end;
    int wss;
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    while (i + 2 < n && !(s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/')) i++;
    if (i + 2 >= n || i == 0 || n + 1 > cap) return 0;
    for (o = 0; o < i; o++) out[o] = (char)(s[o] >= 'A' && s[o] <= 'Z' ? s[o] + 32 : s[o]);
    wss = o == 3 && memcmp(out, "wss", 3) == 0;
    memcpy(out + o, "://", 3);
    o += 3;
    auth = i + 3;
    auth_end = auth;
    while (auth_end < n && s[auth_end] != '/' && s[auth_end] != '?' && s[auth_end] != '#') auth_end++;
    if (auth_end == auth) return 0;
    /* a port is the digits after the last ':' (after an IPv6 literal's ']') */
    host_end = auth_end;
    while (host_end > auth && s[host_end - 1] >= '0' && s[host_end - 1] <= '9') host_end--;
    if (host_end > auth && s[host_end - 1] == ':') {
        size_t plen = auth_end - host_end;
        int dflt = plen == 0 || (!wss && plen == 2 && memcmp(s + host_end, "80", 2) == 0) ||
                   (wss && plen == 3 && memcmp(s + host_end, "443", 3) == 0);
        host_end = dflt ? host_end - 1 : auth_end;
    } else {
        host_end = auth_end;
    }
    for (i = auth; i < host_end; i++) out[o++] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    end = n;
    while (end > auth_end && s[end - 1] == '/') end--;
    memcpy(out + o, s + auth_end, end - auth_end);
    o += end - auth_end;
    out[o] = 0;
    return 1;
}

/* ---- filter and event copies (one allocation each) ---- */

/* Lay out blocks 8-byte aligned; with base NULL it only measures. */
typedef struct nostr__relay_bump {
    unsigned char *base;
    size_t used;
} nostr__relay_bump;

static void *nostr__relay_bump_copy(nostr__relay_bump *b, const void *src, size_t n)
{
    size_t at = (b->used + 7u) & ~(size_t)7u;
    b->used = at + n;
    if (!b->base) return NULL;
    if (n) memcpy(b->base + at, src, n);
    return b->base + at;
}

/* A string copy with its NUL. */
static void nostr__relay_bump_str(nostr__relay_bump *b, nostr_str *dst, const nostr_str *src)
{
    size_t at = b->used;
    b->used = at + src->len + 1;
    if (!b->base) return;
    if (src->len) memcpy(b->base + at, src->ptr, src->len);
    b->base[at + src->len] = 0;
    dst->ptr = (const char *)b->base + at;
    dst->len = src->len;
}

static void nostr__relay_filters_lay(nostr__relay_bump *b, nostr_filter *dst, const nostr_filter *src, size_t n)
{
    size_t i, t, v;
    for (i = 0; i < n; i++) {
        const nostr_filter *s = &src[i];
        nostr_filter *d = b->base ? &dst[i] : NULL;
        void *p;
        if (d) *d = *s;
        p = nostr__relay_bump_copy(b, s->ids, s->ids_count * 32);
        if (d) d->ids = (unsigned char(*)[32])p;
        p = nostr__relay_bump_copy(b, s->authors, s->authors_count * 32);
        if (d) d->authors = (unsigned char(*)[32])p;
        p = nostr__relay_bump_copy(b, s->kinds, s->kinds_count * sizeof(unsigned));
        if (d) d->kinds = (unsigned *)p;
        p = nostr__relay_bump_copy(b, s->tags, s->tags_count * sizeof(nostr_tag_filter));
        if (d) d->tags = (nostr_tag_filter *)p;
        for (t = 0; t < s->tags_count; t++) {
            const nostr_tag_filter *st = &s->tags[t];
            p = nostr__relay_bump_copy(b, st->values, st->count * sizeof(nostr_str));
            if (d) d->tags[t].values = (nostr_str *)p;
            for (v = 0; v < st->count; v++) nostr__relay_bump_str(b, d ? &d->tags[t].values[v] : NULL, &st->values[v]);
        }
        nostr__relay_bump_str(b, d ? &d->search : NULL, &s->search);
    }
}

static nostr__relay_filters *nostr__relay_filters_copy(nostr_relay *r, const nostr_filter *f, size_t n)
{
    nostr__relay_bump b;
    nostr__relay_filters *fs;
    size_t head = (sizeof(nostr__relay_filters) + 7u) & ~(size_t)7u, i;
    b.base = NULL;
    b.used = head + n * sizeof(nostr_filter);
    nostr__relay_filters_lay(&b, NULL, f, n);
    fs = (nostr__relay_filters *)nostr_alloc(r->al, b.used);
    if (!fs) return NULL;
    fs->refs = 1;
    fs->n = n;
    fs->f = (nostr_filter *)((unsigned char *)fs + head);
    b.base = (unsigned char *)fs;
    b.used = head + n * sizeof(nostr_filter);
    nostr__relay_filters_lay(&b, fs->f, f, n);
    /* every filter gets a limit no larger than max_limit */
    for (i = 0; i < n; i++) {
        nostr_filter *x = &fs->f[i];
        if (!(x->fields & NOSTR_FILTER_LIMIT)) {
            x->fields |= NOSTR_FILTER_LIMIT;
            x->limit = r->lim.default_limit;
        } else if (x->limit > r->lim.max_limit) {
            x->limit = r->lim.max_limit;
        }
    }
    return fs;
}

static void nostr__relay_filters_unref(nostr_relay *r, nostr__relay_filters *fs)
{
    if (fs && --fs->refs == 0) nostr_free(r->al, fs);
}

static void nostr__relay_event_lay(nostr__relay_bump *b, nostr_event *dst, const nostr_event *src)
{
    size_t t, i;
    void *p;
    if (dst) *dst = *src;
    p = nostr__relay_bump_copy(b, src->tags, src->tag_count * sizeof(nostr_tag));
    if (dst) dst->tags = (nostr_tag *)p;
    for (t = 0; t < src->tag_count; t++) {
        p = nostr__relay_bump_copy(b, src->tags[t].items, src->tags[t].count * sizeof(nostr_str));
        if (dst) dst->tags[t].items = (nostr_str *)p;
        for (i = 0; i < src->tags[t].count; i++)
            nostr__relay_bump_str(b, dst ? &dst->tags[t].items[i] : NULL, &src->tags[t].items[i]);
    }
    nostr__relay_bump_str(b, dst ? &dst->content : NULL, &src->content);
}

static nostr__relay_ingest *nostr__relay_ingest_new(nostr_relay *r, const nostr_event *ev, const char *json, size_t len)
{
    nostr__relay_bump b;
    nostr__relay_ingest *x;
    nostr_str text, copy;
    size_t head = (sizeof(nostr__relay_ingest) + 7u) & ~(size_t)7u;
    text.ptr = json;
    text.len = len;
    b.base = NULL;
    b.used = head;
    nostr__relay_event_lay(&b, NULL, ev);
    nostr__relay_bump_str(&b, NULL, &text);
    x = (nostr__relay_ingest *)nostr_alloc(r->al, b.used);
    if (!x) return NULL;
    memset(x, 0, sizeof *x);
    b.base = (unsigned char *)x;
    b.used = head;
    nostr__relay_event_lay(&b, &x->ev, ev);
    nostr__relay_bump_str(&b, &copy, &text);
    x->json = copy.ptr;
    x->len = copy.len;
    x->ev.json_offset = 0;
    x->ev.json_len = len;
    x->job.event = &x->ev;
    x->job.relay_private = x;
    return x;
}

/* ---- records ---- */

static void nostr__relay_rec_link(nostr_relay *r, nostr__relay_rec *x, nostr_relay_conn *c, int type)
{
    x->r = r;
    x->type = type;
    x->conn = c;
    x->prev = NULL;
    x->next = r->recs;
    if (r->recs) r->recs->prev = x;
    r->recs = x;
    x->cprev = NULL;
    x->cnext = NULL;
    if (c) {
        x->cnext = c->recs;
        if (c->recs) c->recs->cprev = x;
        c->recs = x;
    }
}

static void nostr__relay_rec_unlink(nostr__relay_rec *x)
{
    nostr_relay *r = x->r;
    if (x->prev)
        x->prev->next = x->next;
    else
        r->recs = x->next;
    if (x->next) x->next->prev = x->prev;
    if (x->conn) {
        if (x->cprev)
            x->cprev->cnext = x->cnext;
        else
            x->conn->recs = x->cnext;
        if (x->cnext) x->cnext->cprev = x->cprev;
    }
    x->conn = NULL;
}

static void nostr__relay_rec_free(nostr__relay_rec *x)
{
    nostr_relay *r = x->r;
    nostr__relay_rec_unlink(x);
    if (x->type == NOSTR__RELAY_QUERY) {
        nostr__relay_query *q = (nostr__relay_query *)x;
        if (q->sub) q->sub->query = NULL;
        nostr__relay_filters_unref(r, q->fs);
    } else if (x->type == NOSTR__RELAY_COUNT) {
        nostr__relay_filters_unref(r, ((nostr__relay_count *)x)->fs);
    }
    nostr_free(r->al, x);
}

/* ---- output ---- */

static void nostr__relay_wake(nostr_relay_conn *c)
{
    nostr_relay *r = c->r;
    if (r->cb.wake) r->cb.wake(r->cb.user, c->user);
}

static size_t nostr__relay_pending(const nostr_relay_conn *c)
{
    return c->out.len - c->out_off;
}

/* Size of the (unmasked, server) frame at p, or 0 if it is not whole. */
static size_t nostr__relay_frame_len(const unsigned char *p, size_t avail)
{
    size_t hl = 2, i;
    unsigned long long len;
    if (avail < 2) return 0;
    len = p[1] & 0x7F;
    if (len == 126) {
        if (avail < 4) return 0;
        len = ((unsigned long long)p[2] << 8) | p[3];
        hl = 4;
    } else if (len == 127) {
        if (avail < 10) return 0;
        len = 0;
        for (i = 0; i < 8; i++) len = (len << 8) | p[2 + i];
        hl = 10;
    }
    if (len > avail - hl) return 0;
    return hl + (size_t)len;
}

static size_t nostr__relay_frame_header(unsigned char *h, size_t len)
{
    int i;
    h[0] = 0x81; /* FIN, text */
    if (len <= 125) {
        h[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        return 4;
    }
    h[1] = 127;
    for (i = 0; i < 8; i++) h[2 + i] = (unsigned char)((unsigned long long)len >> (56 - 8 * i));
    return 10;
}

static int nostr__relay_can_send(const nostr_relay_conn *c)
{
    return c->mode == NOSTR__RELAY_MODE_WS && !c->closing && nostr_ws_state(&c->ws) == NOSTR_WS_OPEN;
}

static void nostr__relay_request_close(nostr_relay_conn *c)
{
    c->closing = 1;
    c->should_close = 1;
}

/* Send a close frame (when the WebSocket is still open) and close. */
static void nostr__relay_ws_close(nostr_relay_conn *c, int code, const char *reason)
{
    if (c->mode == NOSTR__RELAY_MODE_WS && !c->closing && nostr_ws_state(&c->ws) == NOSTR_WS_OPEN)
        (void)nostr_ws_close(&c->ws, code, reason, strlen(reason));
    nostr__relay_request_close(c);
    nostr__relay_wake(c);
}

/* Out of memory for this connection: drop it. */
static void nostr__relay_fail_conn(nostr_relay_conn *c, const char *why)
{
    nostr__relay_log(c->r, NOSTR_LOG_WARN, why);
    c->forced = 1;
    c->out.len = c->out_off = c->out_fb = 0;
    nostr__relay_request_close(c);
    nostr__relay_wake(c);
}

/* Slow reader: keep only the frame the peer is in the middle of, then a
 * NOTICE and a close frame. */
static void nostr__relay_slow_close(nostr_relay_conn *c)
{
    static const char notice[] = "[\"NOTICE\",\"error: output buffer full (slow reader), closing\"]";
    unsigned char h[10];
    size_t hl;
    while (c->out_fb < c->out_off) {
        size_t fl = nostr__relay_frame_len((const unsigned char *)c->out.data + c->out_fb, c->out.len - c->out_fb);
        if (!fl) break;
        c->out_fb += fl;
    }
    if (c->out_fb < c->out_off) c->out_fb = c->out.len; /* cannot happen: frames are whole */
    c->out.len = c->out_fb;
    c->r->st.closed_slow++;
    nostr__relay_log(c->r, NOSTR_LOG_INFO, "closing a slow reader");
    hl = nostr__relay_frame_header(h, sizeof notice - 1);
    if (nostr_buf_append(&c->out, h, hl) == NOSTR_OK) (void)nostr_buf_append(&c->out, notice, sizeof notice - 1);
    (void)nostr_ws_close(&c->ws, NOSTR_WS_CLOSE_POLICY, "slow reader", 11);
    nostr__relay_request_close(c);
    nostr__relay_wake(c);
}

/* Output was appended; before = pending bytes before it. */
static void nostr__relay_after_output(nostr_relay_conn *c, size_t before)
{
    if (c->mode == NOSTR__RELAY_MODE_WS && !c->closing && nostr__relay_pending(c) > c->r->lim.max_output) {
        nostr__relay_slow_close(c);
        return;
    }
    if (before == 0 && nostr__relay_pending(c) > 0) nostr__relay_wake(c);
}

/* One text frame carrying a + b + d. */
static int nostr__relay_emit(nostr_relay_conn *c, const char *a, size_t an, const char *b, size_t bn, const char *d,
                             size_t dn)
{
    unsigned char h[10];
    size_t total = an + bn + dn, hl, before;
    if (!nostr__relay_can_send(c)) return NOSTR_ERR_CLOSED;
    hl = nostr__relay_frame_header(h, total);
    before = nostr__relay_pending(c);
    if (nostr_buf_reserve(&c->out, hl + total) != NOSTR_OK) {
        nostr__relay_fail_conn(c, "relay: out of memory for a connection's output");
        return NOSTR_ERR_NOMEM;
    }
    memcpy(c->out.data + c->out.len, h, hl);
    c->out.len += hl;
    if (an) memcpy(c->out.data + c->out.len, a, an);
    c->out.len += an;
    if (bn) memcpy(c->out.data + c->out.len, b, bn);
    c->out.len += bn;
    if (dn) memcpy(c->out.data + c->out.len, d, dn);
    c->out.len += dn;
    if (c->out.len < c->out.cap) c->out.data[c->out.len] = 0;
    nostr__relay_after_output(c, before);
    return NOSTR_OK;
}

static void nostr__relay_send_tmp(nostr_relay_conn *c)
{
    nostr_relay *r = c->r;
    if (r->tmp.len) (void)nostr__relay_emit(c, r->tmp.data, r->tmp.len, NULL, 0, NULL, 0);
    nostr_buf_clear(&r->tmp);
}

static void nostr__relay_notice(nostr_relay_conn *c, const char *msg)
{
    nostr_buf_clear(&c->r->tmp);
    if (nostr_write_notice(&c->r->tmp, msg) == NOSTR_OK) nostr__relay_send_tmp(c);
}

static void nostr__relay_ok(nostr_relay_conn *c, const unsigned char id[32], int ok, const char *msg)
{
    if (!c) return;
    nostr_buf_clear(&c->r->tmp);
    if (nostr_write_ok(&c->r->tmp, id, ok, msg) == NOSTR_OK) nostr__relay_send_tmp(c);
}

static void nostr__relay_reject(nostr_relay_conn *c, nostr_relay *r, const unsigned char id[32], int why,
                                const char *msg)
{
    r->st.rejected[why]++;
    nostr__relay_ok(c, id, why == NOSTR_RELAY_REJ_DUPLICATE, msg);
}

static void nostr__relay_closed_msg(nostr_relay_conn *c, const char *sub, size_t sub_len, const char *msg)
{
    nostr_buf_clear(&c->r->tmp);
    if (nostr_write_closed(&c->r->tmp, sub, sub_len, msg) == NOSTR_OK) nostr__relay_send_tmp(c);
}

/* ---- subscriptions ---- */

static nostr__relay_sub *nostr__relay_sub_find(nostr_relay_conn *c, const char *id, size_t len, size_t *at)
{
    size_t i;
    for (i = 0; i < c->nsubs; i++) {
        nostr__relay_sub *s = c->subs[i];
        if (s->id_len == len && memcmp(s->id, id, len) == 0) {
            if (at) *at = i;
            return s;
        }
    }
    return NULL;
}

static void nostr__relay_sub_free(nostr_relay *r, nostr__relay_sub *s)
{
    if (s->in_index) nostr_subindex_remove(r->ix, s);
    if (s->query) s->query->sub = NULL;
    nostr_buf_free(&s->held);
    nostr__relay_filters_unref(r, s->fs);
    nostr_free(r->al, s);
    r->st.subscriptions--;
}

static void nostr__relay_sub_remove_at(nostr_relay_conn *c, size_t i)
{
    nostr__relay_sub *s = c->subs[i];
    c->subs[i] = c->subs[--c->nsubs];
    nostr__relay_sub_free(c->r, s);
}

/* Close the subscription with this id, if open. */
static void nostr__relay_sub_close_id(nostr_relay_conn *c, const char *id, size_t len)
{
    size_t at = 0;
    if (nostr__relay_sub_find(c, id, len, &at)) nostr__relay_sub_remove_at(c, at);
}

static nostr__relay_sub *nostr__relay_sub_new(nostr_relay *r, nostr_relay_conn *c, const char *id, size_t len,
                                              nostr__relay_filters *fs)
{
    nostr__relay_sub *s;
    nostr_buf *t = &r->tmp;
    nostr_buf_clear(t);
    if (nostr_buf_append_str(t, "[\"EVENT\",") || nostr_json_write_string(t, id, len) || nostr_buf_append_char(t, ','))
        return NULL;
    s = (nostr__relay_sub *)nostr_alloc(r->al, sizeof *s + t->len + 1);
    if (!s) return NULL;
    memset(s, 0, sizeof *s);
    s->conn = c;
    s->fs = fs;
    s->id_len = len;
    memcpy(s->id, id, len);
    s->id[len] = 0;
    s->prefix = (char *)(s + 1);
    memcpy(s->prefix, t->data, t->len);
    s->prefix[t->len] = 0;
    s->prefix_len = t->len;
    nostr_buf_init(&s->held, r->al);
    nostr_buf_clear(t);
    r->st.subscriptions++;
    return s;
}

/* A live event for s: sent now, or held until EOSE. */
static void nostr__relay_sub_live(nostr__relay_sub *s, const char *json, size_t len)
{
    nostr_relay_conn *c = s->conn;
    if (!nostr__relay_can_send(c)) return;
    if (s->query) {
        unsigned char h[10];
        size_t total = s->prefix_len + len + 1, hl = nostr__relay_frame_header(h, total);
        if (nostr_buf_reserve(&s->held, hl + total) != NOSTR_OK) {
            nostr__relay_fail_conn(c, "relay: out of memory for held events");
            return;
        }
        (void)nostr_buf_append(&s->held, h, hl);
        (void)nostr_buf_append(&s->held, s->prefix, s->prefix_len);
        (void)nostr_buf_append(&s->held, json, len);
        (void)nostr_buf_append_char(&s->held, ']');
        if (s->held.len + nostr__relay_pending(c) > c->r->lim.max_output) nostr__relay_slow_close(c);
        return;
    }
    (void)nostr__relay_emit(c, s->prefix, s->prefix_len, json, len, "]", 1);
}

typedef struct nostr__relay_fan {
    nostr_relay *r;
    const char *json;
    size_t len;
    unsigned long long seq; /* 0, or skip subscriptions whose query saw put seq */
} nostr__relay_fan;

static void nostr__relay_fan_one(void *user, void *owner)
{
    nostr__relay_fan *f = (nostr__relay_fan *)user;
    nostr__relay_sub *s = (nostr__relay_sub *)owner;
    if (!nostr__relay_can_send(s->conn)) return;
    if (f->seq && f->seq <= s->seen_seq) return; /* its stored events held this one */
    f->r->st.events_delivered++;
    nostr__relay_sub_live(s, f->json, f->len);
}

static void nostr__relay_fanout(nostr_relay *r, const nostr_event *ev, const char *json, size_t len,
                                unsigned long long seq)
{
    nostr__relay_fan f;
    f.r = r;
    f.json = json;
    f.len = len;
    f.seq = seq;
    (void)nostr_subindex_match(r->ix, ev, nostr__relay_fan_one, &f);
}

/* ---- store completions ---- */

static void nostr__relay_q_row(void *user, const char *json, size_t len)
{
    nostr__relay_query *q = (nostr__relay_query *)user;
    if (!q->sub || !len) return;
    (void)nostr__relay_emit(q->sub->conn, q->sub->prefix, q->sub->prefix_len, json, len, "]", 1);
}

static void nostr__relay_latency(nostr_relay *r, long long t0_us)
{
    static const double bounds[NOSTR_RELAY_LATENCY_BUCKETS - 1] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                                   0.01,   0.025,   0.05,   0.1,   0.25};
    double s;
    int i;
    if (!r->cb.now_us || t0_us < 0) return;
    s = (double)(r->cb.now_us(r->cb.user) - t0_us) / 1e6;
    if (s < 0) s = 0;
    for (i = 0; i < NOSTR_RELAY_LATENCY_BUCKETS - 1 && s > bounds[i]; i++) {
    }
    r->st.query_latency[i]++;
    r->st.query_latency_sum_s += s;
}

static void nostr__relay_q_done(void *user, int rc, unsigned long long count)
{
    nostr__relay_query *q = (nostr__relay_query *)user;
    nostr__relay_sub *s = q->sub;
    nostr_relay *r = q->rec.r;
    (void)count;
    nostr__relay_latency(r, q->t0_us);
    if (s) {
        nostr_relay_conn *c = s->conn;
        s->query = NULL;
        q->sub = NULL;
        if (rc == NOSTR_OK) {
            nostr_buf_clear(&r->tmp);
            if (nostr_write_eose(&r->tmp, s->id, s->id_len) == NOSTR_OK) nostr__relay_send_tmp(c);
            if (s->held.len && nostr__relay_can_send(c)) {
                size_t before = nostr__relay_pending(c);
                if (nostr_buf_append(&c->out, s->held.data, s->held.len) != NOSTR_OK)
                    nostr__relay_fail_conn(c, "relay: out of memory for a connection's output");
                else
                    nostr__relay_after_output(c, before);
            }
            nostr_buf_free(&s->held);
            nostr_buf_init(&s->held, r->al);
        } else {
            char id[65];
            size_t len = s->id_len;
            memcpy(id, s->id, len + 1);
            nostr__relay_log(r, NOSTR_LOG_WARN, "relay: a store query failed");
            nostr__relay_sub_close_id(c, id, len);
            nostr__relay_closed_msg(c, id, len, "error: the query failed");
        }
    }
    nostr__relay_rec_free(&q->rec);
}

static void nostr__relay_count_done(void *user, int rc, unsigned long long count)
{
    nostr__relay_count *x = (nostr__relay_count *)user;
    nostr_relay_conn *c = x->rec.conn;
    nostr_relay *r = x->rec.r;
    if (c) {
        nostr_buf_clear(&r->tmp);
        if (rc == NOSTR_OK) {
            if (nostr_write_count(&r->tmp, x->sub, x->sub_len, count, 0) == NOSTR_OK) nostr__relay_send_tmp(c);
        } else {
            nostr__relay_closed_msg(c, x->sub, x->sub_len, "error: the count failed");
        }
    }
    nostr__relay_rec_free(&x->rec);
}

static void nostr__relay_put_done(void *user, int result, const char *msg)
{
    nostr__relay_ingest *x = (nostr__relay_ingest *)user;
    nostr_relay_conn *c = x->rec.conn;
    nostr_relay *r = x->rec.r;
    switch (result) {
    case NOSTR_STORE_SAVED:
        r->st.events_stored++;
        nostr__relay_ok(c, x->ev.id, 1, "");
        nostr__relay_fanout(r, &x->ev, x->json, x->len, r->store.visible_at_put ? x->seq : 0);
        break;
    case NOSTR_STORE_DUPLICATE:
        nostr__relay_reject(c, r, x->ev.id, NOSTR_RELAY_REJ_DUPLICATE, "duplicate: already have this event");
        break;
    case NOSTR_STORE_SUPERSEDED:
        nostr__relay_reject(c, r, x->ev.id, NOSTR_RELAY_REJ_DUPLICATE, "duplicate: have a newer version of this event");
        break;
    case NOSTR_STORE_DELETED:
        nostr__relay_reject(c, r, x->ev.id, NOSTR_RELAY_REJ_BLOCKED, "blocked: this event was deleted");
        break;
    default: {
        char buf[160];
        snprintf(buf, sizeof buf, "error: could not store the event: %s",
                 msg ? msg : nostr_strerror(result < 0 ? result : NOSTR_ERR_ARG));
        nostr__relay_log(r, NOSTR_LOG_WARN, buf);
        nostr__relay_reject(c, r, x->ev.id, NOSTR_RELAY_REJ_ERROR, buf);
        break;
    }
    }
    nostr__relay_rec_free(&x->rec);
}

/* ---- EVENT ---- */

/* The signature is known: store (or deliver an ephemeral event). */
static void nostr__relay_verified(nostr_relay *r, nostr__relay_ingest *x, int result)
{
    nostr_relay_conn *c = x->rec.conn;
    int rc;
    if (result != NOSTR_OK) {
        nostr__relay_reject(c, r, x->ev.id, NOSTR_RELAY_REJ_INVALID, "invalid: bad signature");
        nostr__relay_rec_free(&x->rec);
        return;
    }
    if (nostr_kind_class(x->ev.kind) == NOSTR_KIND_EPHEMERAL) {
        r->st.events_ephemeral++;
        nostr__relay_ok(c, x->ev.id, 1, "");
        nostr__relay_fanout(r, &x->ev, x->json, x->len, 0);
        nostr__relay_rec_free(&x->rec);
        return;
    }
    /* the completion may run inside put and free x */
    x->seq = ++r->put_seq;
    rc = r->store.put(r->store.self, &x->ev, x->json, x->len, nostr__relay_put_done, x);
    if (rc < 0) {
        nostr__relay_log(r, NOSTR_LOG_WARN, "relay: store put failed");
        nostr__relay_reject(c, r, x->ev.id, NOSTR_RELAY_REJ_ERROR, "error: could not store the event");
        nostr__relay_rec_free(&x->rec);
    }
}

static int nostr__relay_in_kinds(const unsigned *list, size_t n, unsigned kind)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (list[i] == kind) return 1;
    return 0;
}

static int nostr__relay_in_keys(const unsigned char (*list)[32], size_t n, const unsigned char *key)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (memcmp(list[i], key, 32) == 0) return 1;
    return 0;
}

/* Every check before the duplicate test and the signature. Returns NULL
 * or the OK message, with *why the rejection counter. */
static const char *nostr__relay_check_event(nostr_relay_conn *c, const nostr_event *ev, char *buf, size_t cap, int *why)
{
    nostr_relay *r = c->r;
    const nostr_relay_limits *l = &r->lim;
    const nostr_relay_config *cfg = &r->cfg;
    long long now = nostr__relay_now_s(r), exp;
    nostr_error err;
    size_t t, i;
    *why = NOSTR_RELAY_REJ_BLOCKED;
    if (cfg->read_only) return "blocked: this relay only serves reads";
    *why = NOSTR_RELAY_REJ_INVALID;
    if (ev->json_len > l->max_event_bytes)
        return snprintf(buf, cap, "invalid: event too large (max %lu bytes)", (unsigned long)l->max_event_bytes), buf;
    if (ev->tag_count > l->max_tags)
        return snprintf(buf, cap, "invalid: too many tags (max %lu)", (unsigned long)l->max_tags), buf;
    for (t = 0; t < ev->tag_count; t++)
        for (i = 0; i < ev->tags[t].count; i++)
            if (ev->tags[t].items[i].len > l->max_tag_value)
                return snprintf(buf, cap, "invalid: tag value too long (max %lu bytes)",
                                (unsigned long)l->max_tag_value),
                       buf;
    if (ev->content.len > l->max_content)
        return snprintf(buf, cap, "invalid: content too long (max %lu bytes)", (unsigned long)l->max_content), buf;
    if (nostr_event_check(ev, NULL, &err) != NOSTR_OK) return snprintf(buf, cap, "invalid: %s", err.msg), buf;
    if (ev->kind == 22242) return "invalid: kind 22242 is only for AUTH";
    *why = NOSTR_RELAY_REJ_BLOCKED;
    if ((cfg->kinds_allow_count && !nostr__relay_in_kinds(cfg->kinds_allow, cfg->kinds_allow_count, ev->kind)) ||
        nostr__relay_in_kinds(cfg->kinds_deny, cfg->kinds_deny_count, ev->kind))
        return snprintf(buf, cap, "blocked: kind %u is not accepted here", ev->kind), buf;
    if ((cfg->pubkeys_allow_count && !nostr__relay_in_keys(cfg->pubkeys_allow, cfg->pubkeys_allow_count, ev->pubkey)) ||
        nostr__relay_in_keys(cfg->pubkeys_deny, cfg->pubkeys_deny_count, ev->pubkey))
        return "blocked: this pubkey may not publish here";
    *why = NOSTR_RELAY_REJ_INVALID;
    if (ev->created_at > now + l->max_future_s) return "invalid: created_at is too far in the future";
    if (l->max_past_s && ev->created_at < now - l->max_past_s) return "invalid: created_at is too far in the past";
    if (l->min_pow) {
        int d = nostr_pow_difficulty(ev->id);
        *why = NOSTR_RELAY_REJ_POW;
        if (d < l->min_pow) return snprintf(buf, cap, "pow: difficulty %d is less than %d", d, l->min_pow), buf;
    }
    *why = NOSTR_RELAY_REJ_INVALID;
    exp = nostr_event_expiration(ev);
    if (exp && exp <= now) return "invalid: event has expired";
    if (nostr_event_is_protected(ev)) {
        *why = NOSTR_RELAY_REJ_AUTH_REQUIRED;
        if (!c->authed) return "auth-required: this event may only be published by its author";
        *why = NOSTR_RELAY_REJ_RESTRICTED;
        if (memcmp(c->pubkey, ev->pubkey, 32) != 0) return "restricted: this event may only be published by its author";
    }
    *why = NOSTR_RELAY_REJ_AUTH_REQUIRED;
    if (cfg->auth_required_write && !c->authed) return "auth-required: this relay requires authentication to publish";
    *why = NOSTR_RELAY_REJ_RATE_LIMITED;
    if (!nostr__relay_take(&c->ev_bucket, l->events_per_s, l->events_burst, r->now_ms))
        return "rate-limited: slow down, too many events";
    if (c->ipe && !nostr__relay_take(&c->ipe->events, l->ip_events_per_s, l->ip_events_burst, r->now_ms))
        return "rate-limited: slow down, too many events from this address";
    return NULL;
}

static void nostr__relay_on_event(nostr_relay_conn *c, const nostr_event *ev, const char *msg_text)
{
    nostr_relay *r = c->r;
    nostr__relay_ingest *x;
    char buf[160];
    int why;
    const char *reason;
    r->st.events_received++;
    reason = nostr__relay_check_event(c, ev, buf, sizeof buf, &why);
    if (reason) {
        nostr__relay_reject(c, r, ev->id, why, reason);
        return;
    }
    if (nostr_kind_class(ev->kind) != NOSTR_KIND_EPHEMERAL && r->store.has &&
        r->store.has(r->store.self, ev->id) == 1) {
        nostr__relay_reject(c, r, ev->id, NOSTR_RELAY_REJ_DUPLICATE, "duplicate: already have this event");
        return;
    }
    x = nostr__relay_ingest_new(r, ev, msg_text + ev->json_offset, ev->json_len);
    if (!x) {
        nostr__relay_reject(c, r, ev->id, NOSTR_RELAY_REJ_ERROR, "error: out of memory");
        return;
    }
    nostr__relay_rec_link(r, &x->rec, c, NOSTR__RELAY_INGEST);
    if (r->cb.verify && r->cb.verify(r->cb.user, &x->job) == 0) return; /* verify_done goes on */
    if (!r->pkcache) r->pkcache = nostr_pubkey_cache_new(r->al, 0); /* NULL: verify uncached */
    nostr__relay_verified(r, x, nostr_event_verify_cached(r->cfg.ctx, r->pkcache, &x->ev));
}

/* ---- AUTH (NIP-42) ---- */

static const char *nostr__relay_check_auth(nostr_relay_conn *c, const nostr_event *ev)
{
    nostr_relay *r = c->r;
    const nostr_str *challenge, *relay;
    long long now = nostr__relay_now_s(r), d;
    if (ev->kind != 22242) return "invalid: AUTH event must be kind 22242";
    if (nostr_event_check(ev, NULL, NULL) != NOSTR_OK) return "invalid: bad event id";
    challenge = nostr_event_tag_value(ev, "challenge");
    if (!challenge || challenge->len != strlen(c->challenge) || memcmp(challenge->ptr, c->challenge, challenge->len))
        return "invalid: challenge does not match";
    relay = nostr_event_tag_value(ev, "relay");
    if (!relay) return "invalid: missing relay tag";
    if (r->have_url) {
        char norm[256];
        if (!nostr__relay_norm_url(relay->ptr, relay->len, norm, sizeof norm) || strcmp(norm, r->url) != 0)
            return "invalid: relay tag does not match this relay";
    }
    d = ev->created_at - now;
    if (d > NOSTR__RELAY_AUTH_WINDOW_S || d < -NOSTR__RELAY_AUTH_WINDOW_S)
        return "invalid: created_at is more than 10 minutes from now";
    if (nostr_event_verify(r->cfg.ctx, ev) != NOSTR_OK) return "invalid: bad signature";
    return NULL;
}

static void nostr__relay_on_auth(nostr_relay_conn *c, const nostr_event *ev)
{
    const char *reason = nostr__relay_check_auth(c, ev);
    if (reason) {
        nostr__relay_ok(c, ev->id, 0, reason);
        return;
    }
    c->authed = 1;
    memcpy(c->pubkey, ev->pubkey, 32);
    nostr__relay_ok(c, ev->id, 1, "");
}

/* ---- REQ, CLOSE, COUNT ---- */

/* The checks REQ and COUNT share; NULL or the CLOSED message. */
static const char *nostr__relay_check_read(nostr_relay_conn *c)
{
    nostr_relay *r = c->r;
    if (r->cfg.auth_required_read && !c->authed) return "auth-required: this relay requires authentication to read";
    if (!nostr__relay_take(&c->req_bucket, r->lim.reqs_per_s, r->lim.reqs_burst, r->now_ms))
        return "rate-limited: slow down, too many requests";
    return NULL;
}

static void nostr__relay_on_req(nostr_relay_conn *c, const nostr_msg *m)
{
    nostr_relay *r = c->r;
    const char *sid = m->sub_id.ptr, *reason;
    size_t slen = m->sub_id.len, at = 0;
    nostr__relay_filters *fs;
    nostr__relay_sub *s, *old;
    nostr__relay_query *q;
    int rc;
    char buf[96];
    r->st.reqs++;
    old = nostr__relay_sub_find(c, sid, slen, &at);
    reason = nostr__relay_check_read(c);
    if (!reason && !old && c->nsubs >= r->lim.max_subs) {
        snprintf(buf, sizeof buf, "error: too many subscriptions (max %lu)", (unsigned long)r->lim.max_subs);
        reason = buf;
    }
    if (reason) {
        if (old) nostr__relay_sub_remove_at(c, at);
        nostr__relay_closed_msg(c, sid, slen, reason);
        return;
    }
    fs = nostr__relay_filters_copy(r, m->filters, m->filter_count);
    s = fs ? nostr__relay_sub_new(r, c, sid, slen, fs) : NULL;
    if (!s) {
        nostr__relay_filters_unref(r, fs);
        if (old) nostr__relay_sub_remove_at(c, at);
        nostr__relay_closed_msg(c, sid, slen, "error: out of memory");
        return;
    }
    q = (nostr__relay_query *)nostr_alloc(r->al, sizeof *q);
    if (!q || nostr_subindex_add(r->ix, s, fs->f, fs->n) != NOSTR_OK) {
        nostr_free(r->al, q);
        nostr__relay_sub_free(r, s);
        if (old) nostr__relay_sub_remove_at(c, at);
        nostr__relay_closed_msg(c, sid, slen, "error: out of memory");
        return;
    }
    s->in_index = 1;
    if (old) {
        nostr__relay_sub_free(r, old); /* its query, if in flight, emits nothing more */
        c->subs[at] = s;
    } else {
        if (c->nsubs == c->subs_cap) {
            size_t ncap = c->subs_cap ? c->subs_cap * 2 : 4;
            nostr__relay_sub **grown =
                (nostr__relay_sub **)nostr_realloc(r->al, c->subs, ncap * sizeof(nostr__relay_sub *));
            if (!grown) {
                nostr_free(r->al, q);
                nostr__relay_sub_free(r, s);
                nostr__relay_closed_msg(c, sid, slen, "error: out of memory");
                return;
            }
            c->subs = grown;
            c->subs_cap = ncap;
        }
        c->subs[c->nsubs++] = s;
    }
    memset(q, 0, sizeof *q);
    q->sub = s;
    q->fs = fs;
    fs->refs++;
    q->t0_us = r->cb.now_us ? r->cb.now_us(r->cb.user) : -1;
    s->query = q;
    s->seen_seq = r->put_seq;
    nostr__relay_rec_link(r, &q->rec, c, NOSTR__RELAY_QUERY);
    /* rows and done may run inside query (and free q) */
    rc = r->store.query(r->store.self, fs->f, fs->n, nostr__relay_now_s(r), nostr__relay_q_row, nostr__relay_q_done, q);
    if (rc < 0) {
        /* done will not be called */
        nostr__relay_rec_free(&q->rec);
        nostr__relay_sub_close_id(c, sid, slen);
        nostr__relay_log(r, NOSTR_LOG_WARN, "relay: store query failed");
        nostr__relay_closed_msg(c, sid, slen, "error: the query failed");
    }
}

static void nostr__relay_on_count(nostr_relay_conn *c, const nostr_msg *m)
{
    nostr_relay *r = c->r;
    const char *reason = nostr__relay_check_read(c);
    nostr__relay_count *x;
    int rc;
    r->st.counts++;
    if (!reason && !r->store.count) reason = "error: COUNT is not supported";
    if (reason) {
        nostr__relay_closed_msg(c, m->sub_id.ptr, m->sub_id.len, reason);
        return;
    }
    x = (nostr__relay_count *)nostr_alloc(r->al, sizeof *x);
    if (x) {
        memset(x, 0, sizeof *x);
        x->fs = nostr__relay_filters_copy(r, m->filters, m->filter_count);
    }
    if (!x || !x->fs) {
        nostr_free(r->al, x);
        nostr__relay_closed_msg(c, m->sub_id.ptr, m->sub_id.len, "error: out of memory");
        return;
    }
    x->sub_len = m->sub_id.len;
    memcpy(x->sub, m->sub_id.ptr, x->sub_len);
    x->sub[x->sub_len] = 0;
    nostr__relay_rec_link(r, &x->rec, c, NOSTR__RELAY_COUNT);
    rc = r->store.count(r->store.self, x->fs->f, x->fs->n, nostr__relay_now_s(r), nostr__relay_count_done, x);
    if (rc < 0) {
        nostr__relay_rec_free(&x->rec);
        nostr__relay_closed_msg(c, m->sub_id.ptr, m->sub_id.len, "error: the count failed");
    }
}

/* ---- messages ---- */

/* After a parse error: the event id inside ["EVENT"|"AUTH", {...}], if it
 * can be read. */
static int nostr__relay_salvage_id(nostr_json *j, unsigned char id[32])
{
    char key[8];
    size_t klen;
    int rc;
    if (nostr_json_array_next(j) <= 0 || nostr_json_object_begin(j) != NOSTR_OK) return 0;
    while ((rc = nostr_json_object_next(j, key, sizeof key, &klen)) > 0) {
        if (klen == 2 && memcmp(key, "id", 2) == 0) return nostr_json_hex(j, id, 32) == NOSTR_OK;
        if (nostr_json_skip(j) != NOSTR_OK) return 0;
    }
    return 0;
}

/* The subscription id of a REQ or COUNT, if it can be read. */
static int nostr__relay_salvage_sub(nostr_json *j, char *sub, size_t *len)
{
    if (nostr_json_array_next(j) <= 0) return 0;
    if (nostr_json_string_buf(j, sub, 65, len) != NOSTR_OK) return 0;
    return *len >= 1 && *len <= 64;
}

static void nostr__relay_bad_message(nostr_relay_conn *c, const char *data, size_t len, const nostr_error *err)
{
    nostr_relay *r = c->r;
    nostr_json j;
    char type[8], text[192], sub[65];
    size_t tlen = 0, slen = 0;
    unsigned char id[32];
    const char *why = err->msg ? err->msg : nostr_strerror(err->code);
    nostr_json_init(&j, data, len, &r->plim);
    if (nostr_json_array_begin(&j) == NOSTR_OK && nostr_json_array_next(&j) > 0 &&
        nostr_json_string_buf(&j, type, sizeof type, &tlen) == NOSTR_OK) {
        int is_event = tlen == 5 && memcmp(type, "EVENT", 5) == 0;
        int is_auth = tlen == 4 && memcmp(type, "AUTH", 4) == 0;
        int is_req = tlen == 3 && memcmp(type, "REQ", 3) == 0;
        int is_count = tlen == 5 && memcmp(type, "COUNT", 5) == 0;
        if (is_event) r->st.events_received++;
        snprintf(text, sizeof text, "invalid: %s", why);
        if ((is_event || is_auth) && nostr__relay_salvage_id(&j, id)) {
            if (is_event) r->st.rejected[NOSTR_RELAY_REJ_INVALID]++;
            nostr__relay_ok(c, id, 0, text);
            return;
        }
        if ((is_req || is_count) && nostr__relay_salvage_sub(&j, sub, &slen)) {
            if (is_req) nostr__relay_sub_close_id(c, sub, slen);
            nostr__relay_closed_msg(c, sub, slen, text);
            return;
        }
    }
    snprintf(text, sizeof text, "invalid: %s (at byte %lu)", why, (unsigned long)err->offset);
    nostr__relay_notice(c, text);
}

static void nostr__relay_on_message(void *user, int opcode, const char *data, size_t len)
{
    nostr_relay_conn *c = (nostr_relay_conn *)user;
    nostr_relay *r = c->r;
    nostr_msg m;
    nostr_error err;
    if (c->closing) return;
    if (opcode != NOSTR_WS_OP_TEXT) {
        nostr__relay_notice(c, "invalid: binary messages are not supported");
        return;
    }
    nostr_arena_reset(&r->scratch);
    memset(&err, 0, sizeof err);
    if (nostr_msg_parse(&m, NOSTR_FROM_CLIENT, data, len, &r->scratch, &r->plim, &err) != NOSTR_OK) {
        nostr__relay_bad_message(c, data, len, &err);
    } else {
        switch (m.type) {
        case NOSTR_MSG_EVENT: nostr__relay_on_event(c, &m.event, data); break;
        case NOSTR_MSG_REQ: nostr__relay_on_req(c, &m); break;
        case NOSTR_MSG_CLOSE: nostr__relay_sub_close_id(c, m.sub_id.ptr, m.sub_id.len); break;
        case NOSTR_MSG_COUNT: nostr__relay_on_count(c, &m); break;
        case NOSTR_MSG_AUTH: nostr__relay_on_auth(c, &m.event); break;
        default: nostr__relay_notice(c, "invalid: unexpected message type"); break;
        }
    }
    nostr_arena_reset(&r->scratch);
}

/* ---- WebSocket framer callbacks ---- */

static int nostr__relay_ws_send(void *user, const void *data, size_t n)
{
    nostr_relay_conn *c = (nostr_relay_conn *)user;
    size_t before = nostr__relay_pending(c);
    if (c->forced) return 0;
    if (nostr_buf_append(&c->out, data, n) != NOSTR_OK) return NOSTR_ERR_NOMEM;
    if (before == 0) nostr__relay_wake(c);
    return 0;
}

static void nostr__relay_ws_closed(void *user, int code, const char *reason, size_t len)
{
    nostr_relay_conn *c = (nostr_relay_conn *)user;
    (void)code;
    (void)reason;
    (void)len;
    nostr__relay_request_close(c);
    nostr__relay_wake(c);
}

/* ---- HTTP ---- */

static void nostr__relay_http_answer(nostr_relay_conn *c, int status, const char *type, const nostr_http_kv *kv,
                                     size_t nkv, const char *body, size_t len, int keep_alive)
{
    size_t before = nostr__relay_pending(c);
    if (nostr_http_write_response(&c->out, status, NULL, type, kv, nkv, body, len, keep_alive) != NOSTR_OK) {
        nostr__relay_fail_conn(c, "relay: out of memory for an HTTP answer");
        return;
    }
    if (!keep_alive) nostr__relay_request_close(c);
    if (before == 0 || !keep_alive) nostr__relay_wake(c);
}

static int nostr__relay_wants_nip11(const nostr_http_message *req)
{
    size_t i;
    for (i = 0; i < req->header_count; i++) {
        const nostr_http_header_field *h = &req->headers[i];
        if (h->name.len == 6 && nostr__relay_ieq(h->name.ptr, "accept", 6) &&
            nostr__relay_icontains(h->value.ptr, h->value.len, "application/nostr+json"))
            return 1;
    }
    return 0;
}

static void nostr__relay_upgrade(nostr_relay_conn *c, const nostr_http_message *req)
{
    nostr_relay *r = c->r;
    nostr_ws_config wc;
    nostr_ws_callbacks wcb;
    unsigned char rnd[16];
    size_t before = nostr__relay_pending(c);
    nostr_error err;
    if (nostr_ws_server_handshake(req, &c->out, &err) != NOSTR_OK) {
        /* a 400/426 answer was appended */
        nostr__relay_request_close(c);
        nostr__relay_wake(c);
        return;
    }
    memset(&wc, 0, sizeof wc);
    wc.max_frame = r->lim.max_message;
    wc.max_message = r->lim.max_message;
    if (r->al) wc.allocator = *r->al;
    memset(&wcb, 0, sizeof wcb);
    wcb.user = c;
    wcb.send = nostr__relay_ws_send;
    wcb.on_message = nostr__relay_on_message;
    wcb.on_close = nostr__relay_ws_closed;
    if (nostr_ws_init(&c->ws, NOSTR_WS_SERVER, &wc, &wcb) != NOSTR_OK ||
        nostr_random(r->cfg.ctx, rnd, sizeof rnd) != NOSTR_OK) {
        nostr__relay_fail_conn(c, "relay: cannot start a WebSocket");
        return;
    }
    nostr_hex_encode(rnd, sizeof rnd, c->challenge);
    c->mode = NOSTR__RELAY_MODE_WS;
    c->out_fb = c->out.len; /* frames start after the 101 */
    r->st.websockets++;
    /* NIP-42: the challenge right away */
    {
        static const char head[] = "[\"AUTH\",\"";
        (void)nostr__relay_emit(c, head, sizeof head - 1, c->challenge, 32, "\"]", 2);
    }
    if (before == 0) nostr__relay_wake(c);
}

static void nostr__relay_http_request(nostr_relay_conn *c, const nostr_http_message *req)
{
    nostr_relay *r = c->r;
    int keep = req->keep_alive, get = req->method.len == 3 && memcmp(req->method.ptr, "GET", 3) == 0;
    nostr_http_kv cors[3];
    r->st.http_requests++;
    if (nostr_ws_is_upgrade(req)) {
        nostr__relay_upgrade(c, req);
        return;
    }
    if (r->cb.http_hook) {
        size_t before = nostr__relay_pending(c);
        if (r->cb.http_hook(r->cb.user, c->user, req, &c->out) == 1) {
            if (!keep) nostr__relay_request_close(c);
            if (before == 0 || !keep) nostr__relay_wake(c);
            return;
        }
    }
    cors[0].name = "Access-Control-Allow-Origin";
    cors[0].value = "*";
    cors[1].name = "Access-Control-Allow-Headers";
    cors[1].value = "*";
    cors[2].name = "Access-Control-Allow-Methods";
    cors[2].value = "GET, OPTIONS";
    if (get && req->path.len == 8 && memcmp(req->path.ptr, "/metrics", 8) == 0 && r->cfg.serve_metrics != -1) {
        nostr_buf_clear(&r->tmp);
        if (nostr_relay_write_metrics(r, &r->tmp) == NOSTR_OK)
            nostr__relay_http_answer(c, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, 0, r->tmp.data,
                                     r->tmp.len, keep);
        nostr_buf_clear(&r->tmp);
    } else if (get && req->path.len == 8 && memcmp(req->path.ptr, "/healthz", 8) == 0) {
        nostr__relay_http_answer(c, 200, "text/plain", NULL, 0, "ok\n", 3, keep);
    } else if (req->method.len == 7 && memcmp(req->method.ptr, "OPTIONS", 7) == 0) {
        nostr__relay_http_answer(c, 204, NULL, cors, 3, NULL, 0, keep);
    } else if (get && nostr__relay_wants_nip11(req)) {
        nostr_buf_clear(&r->tmp);
        if (nostr_relay_write_info(r, &r->tmp) == NOSTR_OK)
            nostr__relay_http_answer(c, 200, "application/nostr+json", cors, 3, r->tmp.data, r->tmp.len, keep);
        nostr_buf_clear(&r->tmp);
    } else if (get && req->path.len == 1 && req->path.ptr[0] == '/') {
        static const char hello[] = "Please use a Nostr client to connect.\n";
        nostr__relay_http_answer(c, 200, "text/plain", NULL, 0, hello, sizeof hello - 1, keep);
    } else {
        nostr__relay_http_answer(c, 404, "text/plain", NULL, 0, "not found\n", 10, keep);
    }
}

static void nostr__relay_http_error(nostr_relay_conn *c)
{
    nostr_http_parser *p = c->http;
    const char *msg = p->err.msg ? p->err.msg : "bad request";
    int status = p->status_hint >= 400 ? p->status_hint : 400;
    nostr__relay_http_answer(c, status, "text/plain", NULL, 0, msg, strlen(msg), 0);
}

/* ---- per-IP table ---- */

static unsigned nostr__relay_hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int nostr__relay_ipt_grow(nostr_relay *r)
{
    size_t ncap = r->ipt_cap ? r->ipt_cap * 2 : 64, i;
    nostr__relay_ip **t = (nostr__relay_ip **)nostr_alloc(r->al, ncap * sizeof *t);
    if (!t) return NOSTR_ERR_NOMEM;
    memset(t, 0, ncap * sizeof *t);
    for (i = 0; i < r->ipt_cap; i++) {
        nostr__relay_ip *e = r->ipt[i], *next;
        for (; e; e = next) {
            next = e->next;
            e->next = t[e->hash & (ncap - 1)];
            t[e->hash & (ncap - 1)] = e;
        }
    }
    nostr_free(r->al, r->ipt);
    r->ipt = t;
    r->ipt_cap = ncap;
    return NOSTR_OK;
}

static nostr__relay_ip *nostr__relay_ip_get(nostr_relay *r, const char *ip)
{
    unsigned h = nostr__relay_hash(ip);
    nostr__relay_ip *e;
    if (r->ipt_cap) {
        for (e = r->ipt[h & (r->ipt_cap - 1)]; e; e = e->next)
            if (e->hash == h && strcmp(e->ip, ip) == 0) return e;
    }
    if (r->ipt_count >= r->ipt_cap && nostr__relay_ipt_grow(r) != NOSTR_OK) return NULL;
    e = (nostr__relay_ip *)nostr_alloc(r->al, sizeof *e);
    if (!e) return NULL;
    memset(e, 0, sizeof *e);
    e->hash = h;
    memcpy(e->ip, ip, strlen(ip) + 1);
    e->last_ms = r->now_ms;
    nostr__relay_bucket_init(&e->events, r->lim.ip_events_burst, r->now_ms);
    e->next = r->ipt[h & (r->ipt_cap - 1)];
    r->ipt[h & (r->ipt_cap - 1)] = e;
    r->ipt_count++;
    return e;
}

/* Free entries without connections whose bucket has refilled (keeping
 * them would change nothing). */
static void nostr__relay_ip_sweep(nostr_relay *r, int all)
{
    long long refill_ms = 1000;
    size_t i;
    if (r->lim.ip_events_per_s > 0)
        refill_ms = (long long)(r->lim.ip_events_burst / r->lim.ip_events_per_s * 1000.0) + 1000;
    for (i = 0; i < r->ipt_cap; i++) {
        nostr__relay_ip **pp = &r->ipt[i];
        while (*pp) {
            nostr__relay_ip *e = *pp;
            if (all || (e->conns == 0 && r->now_ms - e->last_ms >= refill_ms)) {
                *pp = e->next;
                nostr_free(r->al, e);
                r->ipt_count--;
            } else {
                pp = &e->next;
            }
        }
    }
}

/* ---- public API ---- */

NOSTRDEF nostr_relay *nostr_relay_new(const nostr_relay_config *cfg, const nostr_relay_callbacks *cb,
                                      const nostr_store *store)
{
    nostr_relay *r;
    const nostr_allocator *al;
    if (!cfg || !cfg->ctx || !cb || !cb->wake || !store || !store->put || !store->query) return NULL;
    al = cfg->al;
    r = (nostr_relay *)nostr_alloc(al, sizeof *r);
    if (!r) return NULL;
    memset(r, 0, sizeof *r);
    if (al) {
        r->alv = *al;
        r->al = &r->alv;
    }
    r->cfg = *cfg;
    r->cfg.al = r->al;
    r->lim = cfg->limits;
    nostr__relay_limits_resolve(&r->lim);
    r->cfg.limits = r->lim;
    r->cb = *cb;
    r->store = *store;
    r->plim.max_input = r->lim.max_message;
    r->plim.max_string = r->lim.max_message;
    r->plim.max_tags = r->lim.max_tags;
    r->plim.max_filters = r->lim.max_filters;
    r->plim.max_filter_values = r->lim.max_filter_values;
    nostr_limits_resolve(&r->plim, &r->plim);
    if (cfg->relay_url) {
        if (!nostr__relay_norm_url(cfg->relay_url, strlen(cfg->relay_url), r->url, sizeof r->url)) {
            nostr_free(al, r);
            return NULL;
        }
        r->have_url = 1;
    }
    r->scratch_mem = (unsigned char *)nostr_alloc(r->al, NOSTR__RELAY_SCRATCH);
    r->ix = nostr_subindex_new(r->al);
    if (!r->scratch_mem || !r->ix) {
        nostr_free(r->al, r->scratch_mem);
        if (r->ix) nostr_subindex_free(r->ix);
        nostr_free(al, r);
        return NULL;
    }
    nostr_arena_init(&r->scratch, r->scratch_mem, NOSTR__RELAY_SCRATCH, r->al);
    nostr_buf_init(&r->tmp, r->al);
    return r;
}

static void nostr__relay_conn_free(nostr_relay *r, nostr_relay_conn *c)
{
    size_t i;
    while (c->recs) {
        nostr__relay_rec *x = c->recs;
        c->recs = x->cnext;
        if (c->recs) c->recs->cprev = NULL;
        x->conn = NULL;
        x->cprev = x->cnext = NULL;
    }
    for (i = 0; i < c->nsubs; i++) nostr__relay_sub_free(r, c->subs[i]);
    nostr_free(r->al, c->subs);
    if (c->http) {
        nostr_http_parser_free(c->http);
        nostr_free(r->al, c->http);
    }
    if (c->mode == NOSTR__RELAY_MODE_WS) {
        nostr_ws_free(&c->ws);
        r->st.websockets--;
    }
    nostr_buf_free(&c->out);
    if (c->prev)
        c->prev->next = c->next;
    else
        r->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    if (c->ipe) {
        c->ipe->conns--;
        c->ipe->last_ms = r->now_ms;
    }
    r->st.connections--;
    nostr_free(r->al, c);
}

NOSTRDEF void nostr_relay_free(nostr_relay *r)
{
    const nostr_allocator *al;
    if (!r) return;
    while (r->conns) nostr__relay_conn_free(r, r->conns);
    while (r->recs) nostr__relay_rec_free(r->recs);
    nostr__relay_ip_sweep(r, 1);
    nostr_free(r->al, r->ipt);
    nostr_subindex_free(r->ix);
    nostr_pubkey_cache_free(r->pkcache);
    nostr_arena_free(&r->scratch);
    nostr_free(r->al, r->scratch_mem);
    nostr_buf_free(&r->tmp);
    al = r->al ? &r->alv : NULL;
    if (al) {
        nostr_allocator copy = r->alv;
        nostr_free(&copy, r);
    } else {
        nostr_free(NULL, r);
    }
}

NOSTRDEF nostr_relay_conn *nostr_relay_accept(nostr_relay *r, const char *ip, void *conn_user)
{
    nostr_relay_conn *c;
    nostr__relay_ip *e;
    nostr_http_config hc;
    char ipbuf[NOSTR__RELAY_IP_MAX];
    size_t n;
    if (!r || r->shutting_down) return NULL;
    if (!ip) ip = "";
    n = strlen(ip);
    if (n >= sizeof ipbuf) n = sizeof ipbuf - 1;
    memcpy(ipbuf, ip, n);
    ipbuf[n] = 0;
    e = nostr__relay_ip_get(r, ipbuf);
    if (!e || e->conns >= r->lim.max_conns_per_ip) return NULL;
    c = (nostr_relay_conn *)nostr_alloc(r->al, sizeof *c);
    if (!c) return NULL;
    memset(c, 0, sizeof *c);
    c->http = (nostr_http_parser *)nostr_alloc(r->al, sizeof *c->http);
    if (!c->http) {
        nostr_free(r->al, c);
        return NULL;
    }
    memset(&hc, 0, sizeof hc);
    hc.max_body = 4096; /* the relay takes no request bodies */
    hc.al = r->al;
    nostr_http_parser_init(c->http, NOSTR_HTTP_REQUEST, &hc);
    c->r = r;
    c->user = conn_user;
    c->ipe = e;
    memcpy(c->ip, ipbuf, n + 1);
    e->conns++;
    e->last_ms = r->now_ms;
    nostr_buf_init(&c->out, r->al);
    c->last_in_ms = c->last_ping_ms = r->now_ms;
    nostr__relay_bucket_init(&c->ev_bucket, r->lim.events_burst, r->now_ms);
    nostr__relay_bucket_init(&c->req_bucket, r->lim.reqs_burst, r->now_ms);
    c->next = r->conns;
    if (r->conns) r->conns->prev = c;
    r->conns = c;
    r->st.connections++;
    r->st.connections_total++;
    return c;
}

/* Free a big reassembly buffer between messages (idle memory). */
static void nostr__relay_trim(nostr_relay_conn *c)
{
    if (c->mode == NOSTR__RELAY_MODE_WS && c->ws.msg_opcode == 0 && c->ws.msg_cap > NOSTR__RELAY_KEEP_BUF)
        nostr_ws_free(&c->ws);
}

NOSTRDEF int nostr_relay_feed(nostr_relay *r, nostr_relay_conn *c, const void *data, size_t len)
{
    const char *p = (const char *)data;
    if (!r || !c || (len && !data)) return NOSTR_ERR_ARG;
    if (c->closing) return NOSTR_ERR_CLOSED;
    r->st.bytes_in += len;
    c->last_in_ms = r->now_ms;
    while (len && !c->closing) {
        if (c->mode == NOSTR__RELAY_MODE_HTTP) {
            size_t used = 0;
            int rc = nostr_http_feed(c->http, p, len, &used);
            if (rc == NOSTR_HTTP_MORE) break;
            if (rc < 0) {
                nostr__relay_http_error(c);
                break;
            }
            p += used;
            len -= used;
            nostr__relay_http_request(c, &c->http->msg);
            if (c->mode == NOSTR__RELAY_MODE_WS) {
                nostr_http_parser_free(c->http);
                nostr_free(r->al, c->http);
                c->http = NULL;
            } else {
                nostr_http_parser_reset(c->http);
            }
        } else {
            (void)nostr_ws_feed(&c->ws, p, len);
            break;
        }
    }
    nostr__relay_trim(c);
    return c->closing ? NOSTR_ERR_CLOSED : NOSTR_OK;
}

NOSTRDEF size_t nostr_relay_output(const nostr_relay_conn *c, const void **data)
{
    if (!c || c->forced || !c->out.data) {
        if (data) *data = NULL;
        return 0;
    }
    if (data) *data = c->out.data + c->out_off;
    return c->out.len - c->out_off;
}

NOSTRDEF void nostr_relay_consume(nostr_relay *r, nostr_relay_conn *c, size_t n)
{
    size_t pending;
    if (!r || !c) return;
    pending = nostr__relay_pending(c);
    if (n > pending) n = pending;
    c->out_off += n;
    c->consumed += n;
    r->st.bytes_out += n;
    if (c->out_off == c->out.len) {
        c->out.len = c->out_off = c->out_fb = 0;
        c->drained_ms = r->now_ms;
        if (c->out.cap > NOSTR__RELAY_KEEP_MAX) nostr_buf_free(&c->out);
        return;
    }
    if (c->out_off < NOSTR__RELAY_COMPACT || c->out_off < c->out.len / 2) return;
    /* compact from a frame boundary, so a slow close can still cut whole frames */
    if (c->mode == NOSTR__RELAY_MODE_WS) {
        while (c->out_fb < c->out_off) {
            size_t fl = nostr__relay_frame_len((const unsigned char *)c->out.data + c->out_fb, c->out.len - c->out_fb);
            if (!fl || c->out_fb + fl > c->out_off) break;
            c->out_fb += fl;
        }
        if (c->out_fb == 0 || c->out_fb > c->out_off) return;
        n = c->out_fb;
    } else {
        n = c->out_off;
    }
    memmove(c->out.data, c->out.data + n, c->out.len - n);
    c->out.len -= n;
    c->out_off -= n;
    c->out_fb -= c->mode == NOSTR__RELAY_MODE_WS ? n : 0;
    if (c->out.len < c->out.cap) c->out.data[c->out.len] = 0;
}

NOSTRDEF int nostr_relay_should_close(const nostr_relay_conn *c)
{
    return c ? c->should_close : 1;
}

NOSTRDEF void nostr_relay_closed(nostr_relay *r, nostr_relay_conn *c)
{
    if (!r || !c) return;
    nostr__relay_conn_free(r, c);
}

NOSTRDEF void nostr_relay_tick(nostr_relay *r, long long now_ms)
{
    nostr_relay_conn *c, *next;
    if (!r) return;
    r->now_ms = now_ms;
    for (c = r->conns; c; c = next) {
        long long idle = now_ms - c->last_in_ms;
        next = c->next;
        if (c->forced) continue;
        if (c->out.cap > NOSTR__RELAY_KEEP_BUF && c->out.len == 0 && now_ms - c->drained_ms >= NOSTR__RELAY_KEEP_MS)
            nostr_buf_free(&c->out); /* idle memory */
        if (c->should_close) {
            if (!nostr__relay_pending(c)) continue;
            if (!c->stall_ms || c->consumed != c->stall_consumed) {
                c->stall_ms = now_ms;
                c->stall_consumed = c->consumed;
            } else if (now_ms - c->stall_ms >= NOSTR__RELAY_CLOSE_GRACE_MS) {
                /* the peer has read nothing for a while: stop waiting */
                c->forced = 1;
                c->out.len = c->out_off = c->out_fb = 0;
                nostr__relay_wake(c);
            }
            continue;
        }
        if (idle >= r->lim.idle_timeout_ms) {
            r->st.closed_idle++;
            if (c->mode == NOSTR__RELAY_MODE_WS) {
                nostr__relay_ws_close(c, NOSTR_WS_CLOSE_GOING_AWAY, "idle timeout");
            } else {
                nostr__relay_request_close(c);
                nostr__relay_wake(c);
            }
        } else if (c->mode == NOSTR__RELAY_MODE_WS && idle >= r->lim.ping_interval_ms &&
                   now_ms - c->last_ping_ms >= r->lim.ping_interval_ms && nostr__relay_can_send(c)) {
            c->last_ping_ms = now_ms;
            (void)nostr_ws_send_ping(&c->ws, "", 0);
        }
    }
    if (r->store.purge && now_ms - r->last_purge_ms >= NOSTR__RELAY_PURGE_MS) {
        r->last_purge_ms = now_ms;
        (void)r->store.purge(r->store.self, now_ms / 1000);
    }
    if (now_ms - r->last_sweep_ms >= NOSTR__RELAY_SWEEP_MS) {
        r->last_sweep_ms = now_ms;
        nostr__relay_ip_sweep(r, 0);
    }
}

NOSTRDEF void nostr_relay_verify_done(nostr_relay *r, nostr_relay_verify_job *job)
{
    nostr__relay_ingest *x;
    if (!r || !job) return;
    x = (nostr__relay_ingest *)job->relay_private;
    nostr__relay_verified(r, x, job->result);
}

NOSTRDEF void nostr_relay_shutdown(nostr_relay *r)
{
    nostr_relay_conn *c;
    if (!r) return;
    r->shutting_down = 1;
    for (c = r->conns; c; c = c->next) {
        if (c->should_close) continue;
        if (c->mode == NOSTR__RELAY_MODE_WS) {
            nostr__relay_ws_close(c, NOSTR_WS_CLOSE_GOING_AWAY, "relay shutting down");
        } else {
            nostr__relay_request_close(c);
            nostr__relay_wake(c);
        }
    }
}

NOSTRDEF void nostr_relay_stats_get(const nostr_relay *r, nostr_relay_stats *st)
{
    if (r && st) *st = r->st;
}

/* ---- metrics and NIP-11 ---- */

static int nostr__relay_metric(nostr_buf *out, const char *name, const char *type, const char *help, const char *labels,
                               unsigned long long v)
{
    int rc = 0;
    if (help) {
        rc |= nostr_buf_append_str(out, "# HELP ");
        rc |= nostr_buf_append_str(out, name);
        rc |= nostr_buf_append_char(out, ' ');
        rc |= nostr_buf_append_str(out, help);
        rc |= nostr_buf_append_str(out, "\n# TYPE ");
        rc |= nostr_buf_append_str(out, name);
        rc |= nostr_buf_append_char(out, ' ');
        rc |= nostr_buf_append_str(out, type);
        rc |= nostr_buf_append_char(out, '\n');
    }
    rc |= nostr_buf_append_str(out, name);
    if (labels) rc |= nostr_buf_append_str(out, labels);
    rc |= nostr_buf_append_char(out, ' ');
    rc |= nostr_buf_append_u64(out, v);
    rc |= nostr_buf_append_char(out, '\n');
    return rc ? NOSTR_ERR_NOMEM : NOSTR_OK;
}

NOSTRDEF int nostr_relay_write_metrics(const nostr_relay *r, nostr_buf *out)
{
    static const char *const reasons[NOSTR_RELAY_REJ__COUNT] = {
        "invalid", "duplicate", "blocked", "rate-limited", "pow", "restricted", "auth-required", "error"};
    static const char *const les[NOSTR_RELAY_LATENCY_BUCKETS] = {
        "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "+Inf"};
    const nostr_relay_stats *s;
    size_t start;
    int rc = 0, i;
    unsigned long long cum = 0;
    char labels[64], num[64];
    if (!r || !out) return NOSTR_ERR_ARG;
    s = &r->st;
    start = out->len;
    rc |= nostr__relay_metric(out, "nostr_relay_connections", "gauge", "Open connections.", NULL, s->connections);
    rc |= nostr__relay_metric(out, "nostr_relay_connections_total", "counter", "Connections accepted.", NULL,
                              s->connections_total);
    rc |=
        nostr__relay_metric(out, "nostr_relay_websockets", "gauge", "Open WebSocket connections.", NULL, s->websockets);
    rc |= nostr__relay_metric(out, "nostr_relay_subscriptions", "gauge", "Open subscriptions.", NULL, s->subscriptions);
    rc |= nostr__relay_metric(out, "nostr_relay_events_received_total", "counter", "EVENT messages received.", NULL,
                              s->events_received);
    rc |= nostr__relay_metric(out, "nostr_relay_events_stored_total", "counter", "Events stored.", NULL,
                              s->events_stored);
    rc |= nostr__relay_metric(out, "nostr_relay_events_ephemeral_total", "counter", "Ephemeral events delivered.", NULL,
                              s->events_ephemeral);
    rc |= nostr__relay_metric(out, "nostr_relay_events_delivered_total", "counter",
                              "Live events sent to subscriptions.", NULL, s->events_delivered);
    for (i = 0; i < NOSTR_RELAY_REJ__COUNT; i++) {
        snprintf(labels, sizeof labels, "{reason=\"%s\"}", reasons[i]);
        rc |= nostr__relay_metric(out, "nostr_relay_events_rejected_total", "counter",
                                  i ? NULL : "Events rejected, by OK prefix.", labels, s->rejected[i]);
    }
    rc |= nostr__relay_metric(out, "nostr_relay_reqs_total", "counter", "REQ messages.", NULL, s->reqs);
    rc |= nostr__relay_metric(out, "nostr_relay_counts_total", "counter", "COUNT messages.", NULL, s->counts);
    rc |= nostr__relay_metric(out, "nostr_relay_bytes_in_total", "counter", "Bytes received.", NULL, s->bytes_in);
    rc |= nostr__relay_metric(out, "nostr_relay_bytes_out_total", "counter", "Bytes sent.", NULL, s->bytes_out);
    rc |= nostr__relay_metric(out, "nostr_relay_http_requests_total", "counter", "HTTP requests.", NULL,
                              s->http_requests);
    rc |= nostr__relay_metric(out, "nostr_relay_closed_total", "counter", "Connections closed by the relay.",
                              "{reason=\"slow\"}", s->closed_slow);
    rc |= nostr__relay_metric(out, "nostr_relay_closed_total", "counter", NULL, "{reason=\"idle\"}", s->closed_idle);
    rc |= nostr_buf_append_str(out, "# HELP nostr_relay_query_latency_seconds REQ to EOSE.\n"
                                    "# TYPE nostr_relay_query_latency_seconds histogram\n");
    for (i = 0; i < NOSTR_RELAY_LATENCY_BUCKETS; i++) {
        cum += s->query_latency[i];
        snprintf(labels, sizeof labels, "{le=\"%s\"}", les[i]);
        rc |= nostr__relay_metric(out, "nostr_relay_query_latency_seconds_bucket", NULL, NULL, labels, cum);
    }
    snprintf(num, sizeof num, "%.9g", s->query_latency_sum_s);
    rc |= nostr_buf_append_str(out, "nostr_relay_query_latency_seconds_sum ");
    rc |= nostr_buf_append_str(out, num);
    rc |= nostr_buf_append_char(out, '\n');
    rc |= nostr__relay_metric(out, "nostr_relay_query_latency_seconds_count", NULL, NULL, NULL, cum);
    if (rc) {
        out->len = start;
        if (out->len < out->cap) out->data[out->len] = 0;
        return NOSTR_ERR_NOMEM;
    }
    return NOSTR_OK;
}

static int nostr__relay_json_str(nostr_buf *out, int *first, const char *key, const char *value)
{
    int rc = 0;
    if (!value) return 0;
    if (!*first) rc |= nostr_buf_append_char(out, ',');
    *first = 0;
    rc |= nostr_json_write_string(out, key, strlen(key));
    rc |= nostr_buf_append_char(out, ':');
    rc |= nostr_json_write_string(out, value, strlen(value));
    return rc;
}

static int nostr__relay_json_num(nostr_buf *out, int *first, const char *key, long long value)
{
    int rc = 0;
    if (!*first) rc |= nostr_buf_append_char(out, ',');
    *first = 0;
    rc |= nostr_json_write_string(out, key, strlen(key));
    rc |= nostr_buf_append_char(out, ':');
    rc |= nostr_buf_append_i64(out, value);
    return rc;
}

static int nostr__relay_json_bool(nostr_buf *out, int *first, const char *key, int value)
{
    int rc = 0;
    if (!*first) rc |= nostr_buf_append_char(out, ',');
    *first = 0;
    rc |= nostr_json_write_string(out, key, strlen(key));
    rc |= nostr_buf_append_str(out, value ? ":true" : ":false");
    return rc;
}

NOSTRDEF int nostr_relay_write_info(const nostr_relay *r, nostr_buf *out)
{
    const nostr_relay_info *in;
    const nostr_relay_limits *l;
    const nostr_relay_config *cfg;
    size_t start;
    int rc = 0, first = 1, lfirst = 1;
    if (!r || !out) return NOSTR_ERR_ARG;
    in = &r->cfg.info;
    l = &r->lim;
    cfg = &r->cfg;
    start = out->len;
    rc |= nostr_buf_append_char(out, '{');
    rc |= nostr__relay_json_str(out, &first, "name", in->name);
    rc |= nostr__relay_json_str(out, &first, "description", in->description);
    rc |= nostr__relay_json_str(out, &first, "pubkey", in->pubkey);
    rc |= nostr__relay_json_str(out, &first, "contact", in->contact);
    rc |= nostr__relay_json_str(out, &first, "icon", in->icon);
    rc |= nostr__relay_json_str(out, &first, "software", in->software);
    rc |= nostr__relay_json_str(out, &first, "version", in->version);
    rc |= nostr__relay_json_str(out, &first, "posting_policy", in->posting_policy);
    if (!first) rc |= nostr_buf_append_char(out, ',');
    rc |= nostr_buf_append_str(out, "\"supported_nips\":[1,9,11,13,40,42,45,50,70],\"limitation\":{");
    rc |= nostr__relay_json_num(out, &lfirst, "max_message_length", (long long)l->max_message);
    rc |= nostr__relay_json_num(out, &lfirst, "max_subscriptions", (long long)l->max_subs);
    rc |= nostr__relay_json_num(out, &lfirst, "max_limit", (long long)l->max_limit);
    rc |= nostr__relay_json_num(out, &lfirst, "max_subid_length", 64);
    rc |= nostr__relay_json_num(out, &lfirst, "max_event_tags", (long long)l->max_tags);
    rc |= nostr__relay_json_num(out, &lfirst, "max_content_length", (long long)l->max_content);
    rc |= nostr__relay_json_num(out, &lfirst, "min_pow_difficulty", l->min_pow);
    rc |= nostr__relay_json_bool(out, &lfirst, "auth_required", cfg->auth_required_read && cfg->auth_required_write);
    rc |= nostr__relay_json_bool(out, &lfirst, "payment_required", 0);
    rc |= nostr__relay_json_bool(out, &lfirst, "restricted_writes",
                                 cfg->read_only || cfg->auth_required_write || l->min_pow > 0 ||
                                     cfg->kinds_allow_count > 0 || cfg->pubkeys_allow_count > 0);
    if (l->max_past_s) rc |= nostr__relay_json_num(out, &lfirst, "created_at_lower_limit", l->max_past_s);
    rc |= nostr__relay_json_num(out, &lfirst, "created_at_upper_limit", l->max_future_s);
    rc |= nostr__relay_json_num(out, &lfirst, "default_limit", (long long)l->default_limit);
    rc |= nostr_buf_append_str(out, "}}");
    if (rc) {
        out->len = start;
        if (out->len < out->cap) out->data[out->len] = 0;
        return NOSTR_ERR_NOMEM;
    }
    return NOSTR_OK;
}

NOSTRDEF void nostr_relay_broadcast(nostr_relay *r, const nostr_event *ev, const char *json, size_t len)
{
    if (!r || !ev || !json || !len) return;
    nostr__relay_fanout(r, ev, json, len, 0);
}

NOSTRDEF void *nostr_relay_conn_user(const nostr_relay_conn *c)
{
    return c ? c->user : NULL;
}

NOSTRDEF const char *nostr_relay_conn_ip(const nostr_relay_conn *c)
{
    return c ? c->ip : "";
}

NOSTRDEF int nostr_relay_conn_authed(const nostr_relay_conn *c, unsigned char pubkey[32])
{
    if (!c || !c->authed) return 0;
    if (pubkey) memcpy(pubkey, c->pubkey, 32);
    return 1;
}
