/* ---- gateway: implementation ---- */

#define NOSTR__GW_NONE 0xFFFFFFFFu
#define NOSTR__GW_RATE_MS 5000       /* rates and watermarks move this often */
#define NOSTR__GW_INFO_MAX 65536     /* a NIP-11 document kept at most this big */

enum { NOSTR__GW_EMPTY = 0, NOSTR__GW_PENDING = 1, NOSTR__GW_KNOWN = 2 };

/* The dedup set: a chained hash over a fixed pool of entries, reused in
 * FIFO order, so memory is bounded and the oldest ids go first. */
typedef struct nostr__gw_entry {
    unsigned char id[32];
    uint32_t next;    /* chain */
    uint32_t waiters; /* provenance records waiting for a pending verify */
    unsigned char state;
} nostr__gw_entry;

/* A relay that delivered an id while its first copy was being verified. */
typedef struct nostr__gw_waiter {
    int relay_id;
    long long seen_at;
    uint32_t next;
} nostr__gw_waiter;

/* An item the sink refused (busy), kept until it has room. */
typedef struct nostr__gw_held {
    int relay_id;
    unsigned char id[32];
    char *json; /* NULL for provenance */
    size_t len;
    long long seen_at;
} nostr__gw_held;

#define NOSTR__GW_EDGE 64

/* One backfill page or the live subscription's first page. edge: ids at
 * its oldest second, which the next page (until = that second) sends
 * again: they are this relay's own repeats, not new sightings. */
typedef struct nostr__gw_page {
    int open, eose;
    unsigned long long events, fresh;
    long long oldest, newest;
    unsigned char edge[NOSTR__GW_EDGE][32];
    size_t nedge;
} nostr__gw_page;

struct nostr_gateway_upstream {
    nostr_gateway *gw;
    int id;
    char *url, *filters_json;
    nostr_filter *filters;
    size_t nfilters;
    nostr_arena arena; /* parsed filters */
    nostr_client *client;
    void *app;
    long long added_at;
    int opened_once, removed;
    unsigned refs; /* verify jobs out */
    nostr_gateway_upstream_stats st;
    /* watermark */
    long long since;          /* persisted: stored up to here */
    long long newest_valid;   /* newest created_at handed to the sink */
    int mark_pending;
    long long mark_value;
    unsigned long long mark_target, done; /* done: items stored (or dropped) */
    int backfill_done;
    nostr__gw_page live, back;
    long long back_until;
    unsigned char prev_edge[NOSTR__GW_EDGE][32]; /* the previous page's edge */
    size_t nprev_edge;
    /* rates */
    unsigned long long rate_prev;
    long long minute_now; /* index of minutes[0]; -1 until the first tick */
    char *info;           /* NIP-11 JSON */
    size_t info_len;
    char info_name[128];
};

typedef struct nostr__gw_job {
    nostr_gateway_verify_job job;
    nostr_gateway *gw;
    nostr_gateway_upstream *up;
    long long seen_at;
    char *json;
    size_t len;
    nostr_arena arena;
    nostr_event ev;
} nostr__gw_job;

struct nostr_gateway {
    nostr_gateway_config cfg;
    nostr_gateway_callbacks cb;
    const nostr_allocator *al;
    nostr_pubkey_cache *pkcache; /* for inline verifies; made at the first */
    char *token;
    nostr_gateway_upstream **ups;
    size_t nups, cap_ups;
    int next_id;
    long long now_ms, last_rate_ms;
    /* dedup */
    nostr__gw_entry *ents;
    uint32_t *buckets;
    uint32_t nents, ent_next, nbuckets; /* ent_next: the pool slot reused next */
    unsigned long long seed;            /* the bucket hash's key */
    nostr__gw_waiter *waiters;
    uint32_t nwaiters, cap_waiters, free_waiter;
    /* backlog */
    nostr__gw_held *held;
    size_t nheld, cap_held, held_head;
    nostr_gateway_stats st;
    nostr_buf tmp;
};

/* ---- small helpers ---- */

static void nostr__gw_log(nostr_gateway *gw, int level, const char *fmt, const char *a, const char *b)
{
    char line[512];
    if (!gw->cb.log) return;
    snprintf(line, sizeof line, fmt, a ? a : "", b ? b : "");
    gw->cb.log(gw->cb.user, level, line);
}

static char *nostr__gw_strdup(const nostr_allocator *al, const char *s, size_t n)
{
    char *p = (char *)nostr_alloc(al, n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

static long long nostr__gw_unix(nostr_gateway *gw)
{
    return gw->cb.unix_time(gw->cb.user);
}

/* ---- dedup set ---- */

/* Ids are SHA-256 outputs, but relays choose them: a keyed mix of eight
 * bytes, so nobody can grind ids into one chain without knowing the key. */
static uint32_t nostr__gw_bucket(const nostr_gateway *gw, const unsigned char id[32])
{
    unsigned long long h;
    memcpy(&h, id + 8, 8);
    h = (h ^ gw->seed) * 0x9E3779B97F4A7C15ULL;
    return (uint32_t)(h >> 32) & (gw->nbuckets - 1);
}

static nostr__gw_entry *nostr__gw_find(nostr_gateway *gw, const unsigned char id[32])
{
    uint32_t i = gw->buckets[nostr__gw_bucket(gw, id)];
    while (i != NOSTR__GW_NONE) {
        nostr__gw_entry *e = &gw->ents[i];
        if (memcmp(e->id, id, 32) == 0) return e;
        i = e->next;
    }
    return NULL;
}

static void nostr__gw_free_waiters(nostr_gateway *gw, nostr__gw_entry *e)
{
    while (e->waiters != NOSTR__GW_NONE) {
        uint32_t w = e->waiters;
        e->waiters = gw->waiters[w].next;
        gw->waiters[w].next = gw->free_waiter;
        gw->free_waiter = w;
    }
}

static void nostr__gw_unlink(nostr_gateway *gw, uint32_t slot)
{
    nostr__gw_entry *e = &gw->ents[slot];
    uint32_t *p = &gw->buckets[nostr__gw_bucket(gw, e->id)];
    while (*p != NOSTR__GW_NONE && *p != slot) p = &gw->ents[*p].next;
    if (*p == slot) *p = e->next;
    nostr__gw_free_waiters(gw, e);
    e->state = NOSTR__GW_EMPTY;
}

/* Take the oldest pool slot for id (evicting what it held). */
static nostr__gw_entry *nostr__gw_insert(nostr_gateway *gw, const unsigned char id[32], int state)
{
    uint32_t slot = gw->ent_next, b;
    nostr__gw_entry *e = &gw->ents[slot];
    gw->ent_next = (slot + 1) % gw->nents;
    if (e->state != NOSTR__GW_EMPTY) nostr__gw_unlink(gw, slot);
    memcpy(e->id, id, 32);
    e->state = (unsigned char)state;
    e->waiters = NOSTR__GW_NONE;
    b = nostr__gw_bucket(gw, id);
    e->next = gw->buckets[b];
    gw->buckets[b] = slot;
    return e;
}

static void nostr__gw_forget(nostr_gateway *gw, nostr__gw_entry *e)
{
    nostr__gw_unlink(gw, (uint32_t)(e - gw->ents));
}

static int nostr__gw_add_waiter(nostr_gateway *gw, nostr__gw_entry *e, int relay_id, long long seen_at)
{
    uint32_t w;
    if (gw->free_waiter != NOSTR__GW_NONE) {
        w = gw->free_waiter;
        gw->free_waiter = gw->waiters[w].next;
    } else {
        if (gw->nwaiters == gw->cap_waiters) {
            uint32_t cap = gw->cap_waiters ? gw->cap_waiters * 2 : 64;
            nostr__gw_waiter *n = (nostr__gw_waiter *)nostr_realloc(gw->al, gw->waiters, cap * sizeof *n);
            if (!n) return NOSTR_ERR_NOMEM;
            gw->waiters = n;
            gw->cap_waiters = cap;
        }
        w = gw->nwaiters++;
    }
    gw->waiters[w].relay_id = relay_id;
    gw->waiters[w].seen_at = seen_at;
    gw->waiters[w].next = e->waiters;
    e->waiters = w;
    return NOSTR_OK;
}

/* ---- the sink ---- */

static nostr_gateway_upstream *nostr__gw_by_id(nostr_gateway *gw, int id)
{
    size_t i;
    for (i = 0; i < gw->nups; i++)
        if (gw->ups[i]->id == id) return gw->ups[i];
    return NULL;
}

static int nostr__gw_hold(nostr_gateway *gw, const nostr_gateway_item *it)
{
    nostr__gw_held *h;
    if (gw->nheld >= gw->cfg.max_backlog) return NOSTR_ERR_TOO_LARGE;
    if (gw->held_head + gw->nheld == gw->cap_held) {
        if (gw->held_head) { /* slide to the front before growing */
            memmove(gw->held, gw->held + gw->held_head, gw->nheld * sizeof *gw->held);
            gw->held_head = 0;
        } else {
            size_t cap = gw->cap_held ? gw->cap_held * 2 : 256;
            nostr__gw_held *n = (nostr__gw_held *)nostr_realloc(gw->al, gw->held, cap * sizeof *n);
            if (!n) return NOSTR_ERR_NOMEM;
            gw->held = n;
            gw->cap_held = cap;
        }
    }
    h = &gw->held[gw->held_head + gw->nheld];
    h->relay_id = it->relay_id;
    memcpy(h->id, it->id, 32);
    h->len = it->len;
    h->seen_at = it->seen_at;
    h->json = NULL;
    if (it->json && !(h->json = nostr__gw_strdup(gw->al, it->json, it->len))) return NOSTR_ERR_NOMEM;
    if (!gw->nheld) gw->st.paused_times++;
    gw->nheld++;
    return NOSTR_OK;
}

/* Hand an item over: to the sink, or behind those already waiting. */
static void nostr__gw_submit(nostr_gateway *gw, nostr_gateway_upstream *up, const nostr_gateway_item *it)
{
    int rc = gw->nheld ? NOSTR_ERR_BUSY : gw->cb.submit(gw->cb.user, it);
    if (rc == NOSTR_ERR_BUSY) rc = nostr__gw_hold(gw, it);
    if (rc != NOSTR_OK) {
        gw->st.dropped++;
        if (up) up->done++; /* never coming back: do not hold the watermark for it */
        nostr__gw_log(gw, NOSTR_LOG_ERROR, "gateway: an item from %s was dropped: %s", up ? up->url : "?",
                      nostr_strerror(rc));
        return;
    }
    gw->st.submitted++;
    if (up) up->st.submitted++;
}

static void nostr__gw_item(nostr_gateway_item *it, nostr_gateway_upstream *up, const unsigned char *id, const char *json,
                           size_t len, long long seen_at)
{
    it->relay_id = up->id;
    it->relay_url = up->url;
    it->id = id;
    it->json = json;
    it->len = len;
    it->seen_at = seen_at;
}

NOSTRDEF int nostr_gateway_paused(const nostr_gateway *gw)
{
    return gw && gw->nheld > 0;
}

NOSTRDEF void nostr_gateway_sink_ready(nostr_gateway *gw)
{
    if (!gw) return;
    while (gw->nheld) {
        nostr__gw_held *h = &gw->held[gw->held_head];
        nostr_gateway_upstream *up = nostr__gw_by_id(gw, h->relay_id);
        nostr_gateway_item it;
        it.relay_id = h->relay_id;
        it.relay_url = up ? up->url : "";
        it.id = h->id;
        it.json = h->json;
        it.len = h->len;
        it.seen_at = h->seen_at;
        if (gw->cb.submit(gw->cb.user, &it) == NOSTR_ERR_BUSY) return;
        nostr_free(gw->al, h->json);
        gw->held_head++;
        gw->nheld--;
    }
    gw->held_head = 0;
}

/* ---- watermarks ---- */

static void nostr__gw_mark_check(nostr_gateway *gw, nostr_gateway_upstream *up)
{
    if (!up->mark_pending || up->done < up->mark_target) return;
    up->mark_pending = 0;
    if (up->mark_value <= up->since) return;
    up->since = up->st.since = up->mark_value;
    if (gw->cb.since_changed) gw->cb.since_changed(gw->cb.user, up->id, up->since);
}

/* Propose the newest created_at handed over so far; it becomes the
 * watermark once everything handed over until now is stored. */
static void nostr__gw_mark_propose(nostr_gateway *gw, nostr_gateway_upstream *up)
{
    long long now = nostr__gw_unix(gw), v = up->newest_valid;
    if (!up->backfill_done || up->mark_pending) return;
    if (v > now) v = now; /* a clock ahead of ours must not push the window past events still coming */
    if (v <= up->since) return;
    up->mark_pending = 1;
    up->mark_value = v;
    up->mark_target = up->st.submitted;
    nostr__gw_mark_check(gw, up);
}

NOSTRDEF void nostr_gateway_stored(nostr_gateway *gw, int relay_id, const unsigned char id[32])
{
    nostr_gateway_upstream *up;
    (void)id;
    if (!gw) return;
    gw->st.stored++;
    up = nostr__gw_by_id(gw, relay_id);
    if (!up) return;
    up->st.stored++;
    up->done++;
    nostr__gw_mark_check(gw, up);
}

/* ---- subscriptions ---- */

static long long nostr__gw_since(const nostr_gateway_upstream *up)
{
    long long s;
    if (!up->since) {
        if (up->gw->cfg.backfill_s < 0) return 0;
        s = up->added_at - up->gw->cfg.backfill_s;
    } else {
        s = up->since - up->gw->cfg.since_window_s;
    }
    return s < 0 ? 0 : s;
}

/* REQ sub with the upstream's filters, since (and until when >= 0). */
static int nostr__gw_req(nostr_gateway_upstream *up, const char *sub, long long until)
{
    nostr_filter fs[32];
    size_t i, n = up->nfilters < 32 ? up->nfilters : 32;
    long long since = nostr__gw_since(up);
    for (i = 0; i < n; i++) {
        fs[i] = up->filters[i];
        /* the user's own bounds win where they are narrower */
        if (!(fs[i].fields & NOSTR_FILTER_SINCE) || fs[i].since < since) {
            fs[i].since = since;
            fs[i].fields |= NOSTR_FILTER_SINCE;
        }
        if (until >= 0 && (!(fs[i].fields & NOSTR_FILTER_UNTIL) || fs[i].until > until)) {
            fs[i].until = until;
            fs[i].fields |= NOSTR_FILTER_UNTIL;
        }
    }
    return nostr_client_req(up->client, sub, fs, n, up->gw->now_ms);
}

static void nostr__gw_page_open(nostr__gw_page *p)
{
    memset(p, 0, sizeof *p);
    p->open = 1;
    p->oldest = -1;
}

/* A page ended (EOSE). While it brought ids not seen before, ask for the
 * page before it (until = its oldest created_at, inclusive: events sharing
 * that second are not skipped); a page of nothing new ends the backfill
 * (a page shorter than the relay's limit is followed by one such page). */
static void nostr__gw_page_end(nostr_gateway_upstream *up, nostr__gw_page *p)
{
    p->eose = 1;
    if (p->fresh > 0 && p->oldest >= 0) {
        memcpy(up->prev_edge, p->edge, p->nedge * 32);
        up->nprev_edge = p->nedge;
        up->back_until = p->oldest;
        nostr__gw_page_open(&up->back);
        if (nostr__gw_req(up, "back", up->back_until) == NOSTR_OK) return;
    }
    if (up->back.open) (void)nostr_client_close_sub(up->client, "back");
    up->back.open = 0;
    up->backfill_done = 1;
    nostr__gw_mark_propose(up->gw, up);
}

/* ---- client callbacks (user = the upstream) ---- */

static int nostr__gw_c_send(void *user, const void *data, size_t n)
{
    nostr_gateway_upstream *up = (nostr_gateway_upstream *)user;
    return up->gw->cb.send(up->gw->cb.user, up, data, n);
}

static int nostr__gw_c_connect(void *user, const char *host, int port)
{
    nostr_gateway_upstream *up = (nostr_gateway_upstream *)user;
    return up->gw->cb.connect(up->gw->cb.user, up, host, port);
}

static void nostr__gw_c_close(void *user)
{
    nostr_gateway_upstream *up = (nostr_gateway_upstream *)user;
    if (up->gw->cb.close) up->gw->cb.close(up->gw->cb.user, up);
}

static void nostr__gw_c_open(void *user)
{
    nostr_gateway_upstream *up = (nostr_gateway_upstream *)user;
    up->st.state = NOSTR_CLIENT_OPEN;
    if (up->opened_once) up->st.reconnects++;
    up->opened_once = 1;
    up->st.last_error[0] = 0;
    up->back_until = -1;
    up->backfill_done = 0;
    up->back.open = 0;
    nostr__gw_page_open(&up->live);
    if (nostr__gw_req(up, "live", -1) != NOSTR_OK) {
        snprintf(up->st.last_error, sizeof up->st.last_error, "could not subscribe");
        up->backfill_done = 1;
    }
}

/* last_error from a code and the client's message, without saying the
 * same thing twice ("connection closed: connection closed"). */
static void nostr__gw_set_error(nostr_gateway_upstream *up, int code, const char *message)
{
    const char *what = nostr_strerror(code);
    if (!message || !*message || !strcmp(message, what))
        snprintf(up->st.last_error, sizeof up->st.last_error, "%s", what);
    else
        snprintf(up->st.last_error, sizeof up->st.last_error, "%s: %s", what, message);
}

static void nostr__gw_c_disconnect(void *user, int code, const char *message)
{
    nostr_gateway_upstream *up = (nostr_gateway_upstream *)user;
    if (code != NOSTR_OK) nostr__gw_set_error(up, code, message);
    /* the next connection asks again from the watermark */
    (void)nostr_client_close_sub(up->client, "live");
    (void)nostr_client_close_sub(up->client, "back");
    up->live.open = up->back.open = 0;
    up->st.state = nostr_client_state(up->client);
}

static void nostr__gw_verified(nostr_gateway *gw, nostr__gw_job *x);

static void nostr__gw_size(nostr_gateway_upstream_stats *st, size_t len)
{
    unsigned b = 0;
    size_t v = len < 16 ? 16 : len;
    while ((v >> b) >= 32) b++; /* v >> b in [16, 32): 8 buckets per power of two */
    b = b * 8 + (unsigned)(((v >> b) - 16) / 2);
    if (b >= NOSTR_GATEWAY_SIZE_BUCKETS) b = NOSTR_GATEWAY_SIZE_BUCKETS - 1;
    st->size_hist[b]++;
}

static void nostr__gw_page_count(nostr__gw_page *p, const nostr_event *ev, int fresh)
{
    if (!p->open || p->eose) return;
    p->events++;
    if (fresh) p->fresh++;
    if (p->oldest < 0 || ev->created_at < p->oldest) {
        p->oldest = ev->created_at;
        p->nedge = 0;
    }
    if (ev->created_at == p->oldest && p->nedge < NOSTR__GW_EDGE) memcpy(p->edge[p->nedge++], ev->id, 32);
    if (ev->created_at > p->newest) p->newest = ev->created_at;
}

/* Did the previous page of this relay already deliver id (a repeat at
 * the page boundary)? */
static int nostr__gw_repeat(const nostr_gateway_upstream *up, const nostr__gw_page *p, const nostr_event *ev)
{
    size_t i;
    if (p != &up->back || ev->created_at != up->back_until) return 0;
    for (i = 0; i < up->nprev_edge; i++)
        if (!memcmp(up->prev_edge[i], ev->id, 32)) return 1;
    return 0;
}

static void nostr__gw_c_event(void *user, const char *sub, const nostr_event *ev, const char *json, size_t len)
{
    nostr_gateway_upstream *up = (nostr_gateway_upstream *)user;
    nostr_gateway *gw = up->gw;
    nostr__gw_entry *e;
    nostr__gw_job *x;
    long long now = nostr__gw_unix(gw);
    nostr__gw_page *page = !strcmp(sub, "back") ? &up->back : &up->live;
    up->st.received++;
    gw->st.received++;
    up->st.bytes += len;
    up->st.minutes[0]++;
    up->st.last_event_ms = gw->now_ms;
    if (ev->created_at > up->st.newest_created_at) up->st.newest_created_at = ev->created_at;
    up->st.avg_size += ((double)len - up->st.avg_size) / (double)up->st.received;
    nostr__gw_size(&up->st, len);
    e = nostr__gw_find(gw, ev->id);
    nostr__gw_page_count(page, ev, e == NULL);
    if (e) {
        nostr_gateway_item it;
        up->st.duplicates++;
        gw->st.duplicates++;
        if (nostr__gw_repeat(up, page, ev)) return;
        if (e->state == NOSTR__GW_PENDING) {
            if (nostr__gw_add_waiter(gw, e, up->id, now) != NOSTR_OK) gw->st.dropped++;
            return;
        }
        nostr__gw_item(&it, up, ev->id, NULL, 0, now);
        nostr__gw_submit(gw, up, &it);
        return;
    }
    /* A copy the verifier owns: the client's strings die with this call. */
    x = (nostr__gw_job *)nostr_alloc(gw->al, sizeof *x);
    if (!x || !(x->json = nostr__gw_strdup(gw->al, json, len))) {
        nostr_free(gw->al, x);
        gw->st.dropped++;
        return;
    }
    x->gw = gw;
    x->up = up;
    x->len = len;
    x->seen_at = now;
    nostr_arena_init(&x->arena, NULL, 0, gw->al);
    if (nostr_event_parse(&x->ev, x->json, len, &x->arena, NULL, NULL) != NOSTR_OK) {
        x->job.result = NOSTR_ERR_JSON; /* the client parsed it once: cannot happen but for memory */
        up->refs++;
        nostr__gw_verified(gw, x);
        return;
    }
    /* the id is cheap to check here; workers check the signature */
    if (nostr_event_check(&x->ev, NULL, NULL) != NOSTR_OK) {
        x->job.result = NOSTR_ERR_ID;
        up->refs++;
        nostr__gw_verified(gw, x);
        return;
    }
    (void)nostr__gw_insert(gw, ev->id, NOSTR__GW_PENDING);
    x->job.event = &x->ev;
    x->job.result = NOSTR_ERR_SIG;
    x->job.app = NULL;
    x->job.gw_private = x;
    up->refs++;
    if (gw->cb.verify && gw->cb.verify(gw->cb.user, &x->job) == 0) return;
    if (!gw->pkcache) gw->pkcache = nostr_pubkey_cache_new(gw->al, 0); /* NULL: verify uncached */
    x->job.result = nostr_event_verify_cached(gw->cfg.ctx, gw->pkcache, &x->ev);
    nostr__gw_verified(gw, x);
}

static void nostr__gw_c_eose(void *user, const char *sub)
{
    nostr_gateway_upstream *up = (nostr_gateway_upstream *)user;
    if (!strcmp(sub, "live") && up->live.open && !up->live.eose) {
        if (up->live.newest > up->newest_valid) up->newest_valid = up->live.newest;
        nostr__gw_page_end(up, &up->live);
    } else if (!strcmp(sub, "back") && up->back.open && !up->back.eose) {
        nostr__gw_page_end(up, &up->back);
    }
}

static void nostr__gw_c_closed(void *user, const char *sub, const char *message)
{
    nostr_gateway_upstream *up = (nostr_gateway_upstream *)user;
    snprintf(up->st.last_error, sizeof up->st.last_error, "CLOSED %s: %s", sub, message ? message : "");
    if (!strcmp(sub, "back")) {
        up->back.open = 0;
        up->backfill_done = 1;
    }
}

static void nostr__gw_c_notice(void *user, const char *message)
{
    nostr_gateway_upstream *up = (nostr_gateway_upstream *)user;
    nostr__gw_log(up->gw, NOSTR_LOG_INFO, "gateway: NOTICE from %s: %s", up->url, message);
}

static void nostr__gw_c_error(void *user, int code, const char *message)
{
    nostr_gateway_upstream *up = (nostr_gateway_upstream *)user;
    nostr__gw_set_error(up, code, message);
}

static long long nostr__gw_c_time(void *user)
{
    nostr_gateway_upstream *up = (nostr_gateway_upstream *)user;
    return nostr__gw_unix(up->gw);
}

/* ---- verification ---- */

static void nostr__gw_job_free(nostr_gateway *gw, nostr__gw_job *x)
{
    nostr_arena_free(&x->arena);
    nostr_free(gw->al, x->json);
    nostr_free(gw->al, x);
}

static void nostr__gw_upstream_free(nostr_gateway *gw, nostr_gateway_upstream *up);

static void nostr__gw_verified(nostr_gateway *gw, nostr__gw_job *x)
{
    nostr_gateway_upstream *up = x->up;
    nostr__gw_entry *e = nostr__gw_find(gw, x->ev.id);
    if (up->refs) up->refs--;
    if (x->job.result != NOSTR_OK) {
        up->st.invalid++;
        gw->st.invalid++;
        snprintf(up->st.last_error, sizeof up->st.last_error, "invalid event: %s", nostr_strerror(x->job.result));
        /* forget the id: a good copy from another relay may still come */
        if (e && e->state == NOSTR__GW_PENDING) nostr__gw_forget(gw, e);
    } else {
        nostr_gateway_item it;
        uint32_t w;
        if (!up->removed) {
            if (x->ev.created_at > up->newest_valid) up->newest_valid = x->ev.created_at;
            nostr__gw_item(&it, up, x->ev.id, x->json, x->len, x->seen_at);
            nostr__gw_submit(gw, up, &it);
        }
        if (e) {
            e->state = NOSTR__GW_KNOWN;
            for (w = e->waiters; w != NOSTR__GW_NONE; w = gw->waiters[w].next) {
                nostr_gateway_upstream *o = nostr__gw_by_id(gw, gw->waiters[w].relay_id);
                if (!o) continue;
                nostr__gw_item(&it, o, x->ev.id, NULL, 0, gw->waiters[w].seen_at);
                nostr__gw_submit(gw, o, &it);
            }
            nostr__gw_free_waiters(gw, e);
        }
    }
    if (up->removed && !up->refs) nostr__gw_upstream_free(gw, up);
    nostr__gw_job_free(gw, x);
}

NOSTRDEF void nostr_gateway_verify_done(nostr_gateway *gw, nostr_gateway_verify_job *job)
{
    if (!gw || !job) return;
    nostr__gw_verified(gw, (nostr__gw_job *)job->gw_private);
}

NOSTRDEF void nostr_gateway_known(nostr_gateway *gw, const unsigned char id[32])
{
    if (gw && !nostr__gw_find(gw, id)) (void)nostr__gw_insert(gw, id, NOSTR__GW_KNOWN);
}

/* ---- upstreams ---- */

/* Parse a JSON array of filters into up's arena. */
static int nostr__gw_parse_filters(nostr_gateway_upstream *up, const char *json, nostr_error *err)
{
    nostr_json r;
    size_t n = 0, cap = 0;
    nostr_filter *fs = NULL;
    int rc;
    nostr_json_init(&r, json, strlen(json), NULL);
    if ((rc = nostr_json_array_begin(&r)) != NOSTR_OK) goto fail;
    while ((rc = nostr_json_array_next(&r)) == 1) {
        if (n == cap) {
            size_t c2 = cap ? cap * 2 : 4;
            nostr_filter *f2;
            if (c2 > 32) {
                rc = NOSTR_ERR_TOO_LARGE;
                if (err) {
                    err->code = rc;
                    err->msg = "filters: at most 32";
                    err->offset = nostr_json_offset(&r);
                }
                return rc;
            }
            f2 = (nostr_filter *)nostr_arena_alloc(&up->arena, c2 * sizeof *f2);
            if (!f2) return NOSTR_ERR_NOMEM;
            if (n) memcpy(f2, fs, n * sizeof *fs);
            fs = f2;
            cap = c2;
        }
        if ((rc = nostr_filter_parse_json(&fs[n], &r, &up->arena)) != NOSTR_OK) goto fail;
        n++;
    }
    if (rc < 0 || (rc = nostr_json_finish(&r)) != NOSTR_OK) goto fail;
    if (!n) {
        if (err) {
            err->code = NOSTR_ERR_FILTER;
            err->msg = "filters: give at least one filter (or omit them)";
            err->offset = 0;
        }
        return NOSTR_ERR_FILTER;
    }
    up->filters = fs;
    up->nfilters = n;
    return NOSTR_OK;
fail:
    if (err) {
        err->code = rc;
        err->msg = r.err.msg ? r.err.msg : "filters: expected a JSON array of filter objects";
        err->offset = r.err.offset;
    }
    return rc;
}

static void nostr__gw_upstream_free(nostr_gateway *gw, nostr_gateway_upstream *up)
{
    nostr_client_free(up->client);
    nostr_arena_free(&up->arena);
    nostr_free(gw->al, up->url);
    nostr_free(gw->al, up->filters_json);
    nostr_free(gw->al, up->info);
    nostr_free(gw->al, up);
}

static void nostr__gw_set_err(nostr_error *err, int code, const char *msg)
{
    if (!err) return;
    err->code = code;
    err->msg = msg;
    err->offset = 0;
}

NOSTRDEF int nostr_gateway_add(nostr_gateway *gw, int id, const char *url, const char *filters, long long since,
                               long long added_at, nostr_gateway_upstream **out, nostr_error *err)
{
    nostr_gateway_upstream *up;
    nostr_client_callbacks ccb;
    nostr_client_config ccfg;
    nostr_client_url u;
    size_t i;
    int rc;
    if (out) *out = NULL;
    if (!gw || !url || id < 0) return NOSTR_ERR_ARG;
    if (!filters) filters = "[{}]";
    if ((rc = nostr_client_parse_url(url, &u, err)) != NOSTR_OK) return rc;
    if (gw->nups >= gw->cfg.max_upstreams) {
        nostr__gw_set_err(err, NOSTR_ERR_TOO_LARGE, "too many upstream relays");
        return NOSTR_ERR_TOO_LARGE;
    }
    for (i = 0; i < gw->nups; i++) {
        if (strcmp(gw->ups[i]->url, url) == 0 || (id && gw->ups[i]->id == id)) {
            nostr__gw_set_err(err, NOSTR_ERR_BUSY, "that relay is already an upstream");
            return NOSTR_ERR_BUSY;
        }
    }
    if (!id) id = gw->next_id;
    up = (nostr_gateway_upstream *)nostr_alloc(gw->al, sizeof *up);
    if (!up) return NOSTR_ERR_NOMEM;
    memset(up, 0, sizeof *up);
    up->gw = gw;
    up->id = id;
    up->since = up->st.since = since;
    up->added_at = added_at;
    up->back_until = -1;
    up->st.state = NOSTR_CLIENT_IDLE;
    up->minute_now = gw->now_ms ? gw->now_ms / 60000 : -1; /* -1: before the first tick */
    nostr_arena_init(&up->arena, NULL, 0, gw->al);
    up->url = nostr__gw_strdup(gw->al, url, strlen(url));
    up->filters_json = nostr__gw_strdup(gw->al, filters, strlen(filters));
    if (!up->url || !up->filters_json) {
        nostr__gw_upstream_free(gw, up);
        return NOSTR_ERR_NOMEM;
    }
    if ((rc = nostr__gw_parse_filters(up, filters, err)) != NOSTR_OK) {
        nostr__gw_upstream_free(gw, up);
        return rc == NOSTR_ERR_NOMEM ? rc : NOSTR_ERR_ARG;
    }
    memset(&ccb, 0, sizeof ccb);
    ccb.user = up;
    ccb.send = nostr__gw_c_send;
    ccb.connect = nostr__gw_c_connect;
    ccb.close = nostr__gw_c_close;
    ccb.on_open = nostr__gw_c_open;
    ccb.on_disconnect = nostr__gw_c_disconnect;
    ccb.on_event = nostr__gw_c_event;
    ccb.on_eose = nostr__gw_c_eose;
    ccb.on_closed = nostr__gw_c_closed;
    ccb.on_notice = nostr__gw_c_notice;
    ccb.on_error = nostr__gw_c_error;
    ccb.unix_time = nostr__gw_c_time;
    ccfg = gw->cfg.client;
    ccfg.verify_events = NOSTR_CLIENT_NO_VERIFY; /* the gateway verifies new ids only */
    up->client = nostr_client_new(gw->cfg.ctx, url, &ccfg, &ccb, err);
    if (!up->client) {
        nostr__gw_upstream_free(gw, up);
        return NOSTR_ERR_NOMEM;
    }
    if (gw->nups == gw->cap_ups) {
        size_t cap = gw->cap_ups ? gw->cap_ups * 2 : 8;
        nostr_gateway_upstream **n = (nostr_gateway_upstream **)nostr_realloc(gw->al, gw->ups, cap * sizeof *n);
        if (!n) {
            nostr__gw_upstream_free(gw, up);
            return NOSTR_ERR_NOMEM;
        }
        gw->ups = n;
        gw->cap_ups = cap;
    }
    gw->ups[gw->nups++] = up;
    if (id >= gw->next_id) gw->next_id = id + 1;
    if (gw->cb.fetch_info) gw->cb.fetch_info(gw->cb.user, up, url);
    if (out) *out = up;
    return NOSTR_OK;
}

NOSTRDEF int nostr_gateway_remove(nostr_gateway *gw, int id)
{
    size_t i;
    nostr_gateway_upstream *up;
    if (!gw) return NOSTR_ERR_ARG;
    for (i = 0; i < gw->nups && gw->ups[i]->id != id; i++) {
    }
    if (i == gw->nups) return NOSTR_ERR_ARG;
    up = gw->ups[i];
    memmove(gw->ups + i, gw->ups + i + 1, (gw->nups - i - 1) * sizeof *gw->ups);
    gw->nups--;
    nostr_client_close(up->client, gw->now_ms);
    up->removed = 1;
    if (!up->refs) nostr__gw_upstream_free(gw, up); /* else when its last verify job comes back */
    return NOSTR_OK;
}

NOSTRDEF nostr_gateway_upstream *nostr_gateway_find(nostr_gateway *gw, int id)
{
    return gw ? nostr__gw_by_id(gw, id) : NULL;
}

NOSTRDEF size_t nostr_gateway_count(const nostr_gateway *gw)
{
    return gw ? gw->nups : 0;
}

NOSTRDEF nostr_gateway_upstream *nostr_gateway_at(nostr_gateway *gw, size_t i)
{
    return gw && i < gw->nups ? gw->ups[i] : NULL;
}

NOSTRDEF void nostr_gateway_upstream_set_app(nostr_gateway_upstream *up, void *app)
{
    if (up) up->app = app;
}

NOSTRDEF void *nostr_gateway_upstream_app(const nostr_gateway_upstream *up)
{
    return up ? up->app : NULL;
}

NOSTRDEF void nostr_gateway_upstream_describe(const nostr_gateway_upstream *up, nostr_gateway_upstream_info *info)
{
    info->id = up->id;
    info->url = up->url;
    info->filters = up->filters_json;
    info->added_at = up->added_at;
    info->since = up->since;
}

static unsigned nostr__gw_median(const nostr_gateway_upstream_stats *st)
{
    unsigned long long total = 0, seen = 0;
    unsigned b;
    for (b = 0; b < NOSTR_GATEWAY_SIZE_BUCKETS; b++) total += st->size_hist[b];
    if (!total) return 0;
    for (b = 0; b < NOSTR_GATEWAY_SIZE_BUCKETS; b++) {
        seen += st->size_hist[b];
        if (seen * 2 >= total) break;
    }
    /* bucket b: [(16 + 2k) << p, (18 + 2k) << p), p = b / 8, k = b % 8; its middle */
    return (unsigned)((17u + 2u * (b % 8)) << (b / 8));
}

NOSTRDEF int nostr_gateway_upstream_state(const nostr_gateway_upstream *up)
{
    return nostr_client_state(up->client);
}

NOSTRDEF void nostr_gateway_upstream_stats_get(const nostr_gateway_upstream *up, nostr_gateway_upstream_stats *st)
{
    *st = up->st;
    st->state = nostr_gateway_upstream_state(up);
    st->median_size = nostr__gw_median(&up->st);
    st->since = up->since;
}

NOSTRDEF void nostr_gateway_set_info(nostr_gateway *gw, nostr_gateway_upstream *up, const char *json, size_t len,
                                     const char *error)
{
    nostr_json r;
    char key[16];
    size_t kl;
    if (!gw || !up) return;
    if (!json) {
        snprintf(up->st.last_error, sizeof up->st.last_error, "NIP-11: %s", error ? error : "not available");
        return;
    }
    if (len > NOSTR__GW_INFO_MAX || !nostr_utf8_valid(json, len)) return;
    nostr_free(gw->al, up->info);
    up->info = nostr__gw_strdup(gw->al, json, len);
    up->info_len = up->info ? len : 0;
    up->info_name[0] = 0;
    /* the name, for lists and labels */
    nostr_json_init(&r, json, len, NULL);
    if (nostr_json_object_begin(&r) != NOSTR_OK) return;
    while (nostr_json_object_next(&r, key, sizeof key, &kl) == 1) {
        size_t nl;
        if (kl == 4 && !memcmp(key, "name", 4) && nostr_json_peek(&r) == NOSTR_JSON_STRING) {
            if (nostr_json_string_buf(&r, up->info_name, sizeof up->info_name, &nl) != NOSTR_OK) up->info_name[0] = 0;
            return;
        }
        if (nostr_json_skip(&r) != NOSTR_OK) return;
    }
}

/* ---- upstream I/O ---- */

NOSTRDEF void nostr_gateway_connected(nostr_gateway *gw, nostr_gateway_upstream *up, long long now_ms)
{
    if (!gw || !up) return;
    gw->now_ms = now_ms;
    nostr_client_connected(up->client, now_ms);
    up->st.state = nostr_client_state(up->client);
}

NOSTRDEF void nostr_gateway_disconnected(nostr_gateway *gw, nostr_gateway_upstream *up, long long now_ms)
{
    if (!gw || !up) return;
    gw->now_ms = now_ms;
    nostr_client_disconnected(up->client, now_ms);
    up->st.state = nostr_client_state(up->client);
}

NOSTRDEF int nostr_gateway_feed(nostr_gateway *gw, nostr_gateway_upstream *up, const void *data, size_t n,
                                long long now_ms)
{
    int rc;
    if (!gw || !up) return NOSTR_ERR_ARG;
    gw->now_ms = now_ms;
    rc = nostr_client_feed(up->client, data, n, now_ms);
    up->st.state = nostr_client_state(up->client);
    return rc;
}

/* Rates as moving averages (like load averages), per-minute counts. */
static void nostr__gw_rates(nostr_gateway_upstream *up, long long now_ms, double dt_s)
{
    long long minute = now_ms / 60000;
    double inst = (double)(up->st.received - up->rate_prev) / dt_s, a1 = dt_s / 60.0, a15 = dt_s / 900.0;
    up->rate_prev = up->st.received;
    if (a1 > 1) a1 = 1;
    if (a15 > 1) a15 = 1;
    up->st.rate_1m += a1 * (inst - up->st.rate_1m);
    up->st.rate_15m += a15 * (inst - up->st.rate_15m);
    if (up->minute_now < 0) up->minute_now = minute; /* added before the clock: this minute */
    if (minute > up->minute_now) {
        long long shift = minute - up->minute_now;
        if (shift >= NOSTR_GATEWAY_MINUTES) {
            memset(up->st.minutes, 0, sizeof up->st.minutes);
        } else {
            memmove(up->st.minutes + shift, up->st.minutes,
                    (size_t)(NOSTR_GATEWAY_MINUTES - shift) * sizeof up->st.minutes[0]);
            memset(up->st.minutes, 0, (size_t)shift * sizeof up->st.minutes[0]);
        }
        up->minute_now = minute;
    }
}

NOSTRDEF void nostr_gateway_tick(nostr_gateway *gw, long long now_ms)
{
    size_t i;
    int rates;
    if (!gw) return;
    gw->now_ms = now_ms;
    if (!gw->last_rate_ms) gw->last_rate_ms = now_ms;
    rates = now_ms - gw->last_rate_ms >= NOSTR__GW_RATE_MS;
    for (i = 0; i < gw->nups; i++) {
        nostr_gateway_upstream *up = gw->ups[i];
        if (nostr_client_state(up->client) == NOSTR_CLIENT_IDLE) (void)nostr_client_start(up->client, now_ms);
        nostr_client_tick(up->client, now_ms);
        up->st.state = nostr_client_state(up->client);
        if (rates) {
            nostr__gw_rates(up, now_ms, (double)(now_ms - gw->last_rate_ms) / 1000.0);
            nostr__gw_mark_propose(gw, up);
        }
    }
    if (rates) gw->last_rate_ms = now_ms;
}

NOSTRDEF long long nostr_gateway_next_timeout(const nostr_gateway *gw)
{
    long long t = -1;
    size_t i;
    if (!gw) return -1;
    for (i = 0; i < gw->nups; i++) {
        long long u = nostr_client_next_timeout(gw->ups[i]->client);
        if (u >= 0 && (t < 0 || u < t)) t = u;
    }
    if (gw->last_rate_ms && (t < 0 || gw->last_rate_ms + NOSTR__GW_RATE_MS < t)) t = gw->last_rate_ms + NOSTR__GW_RATE_MS;
    return t;
}

/* ---- stats ---- */

NOSTRDEF void nostr_gateway_queue_stats(nostr_gateway *gw, unsigned long long depth, double lag_s)
{
    if (!gw) return;
    gw->st.queue_depth = depth;
    gw->st.consumer_lag_s = lag_s;
}

NOSTRDEF void nostr_gateway_batch_committed(nostr_gateway *gw, size_t n, double s)
{
    static const double bounds[11] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
    int i;
    (void)n;
    if (!gw) return;
    for (i = 0; i < 11 && s > bounds[i]; i++) {
    }
    gw->st.batch_latency[i]++;
    gw->st.batches++;
    gw->st.batch_seconds_sum += s;
}

NOSTRDEF void nostr_gateway_stats_get(const nostr_gateway *gw, nostr_gateway_stats *st)
{
    *st = gw->st;
    st->backlog = gw->nheld;
}

static const char *nostr__gw_state_name(int s)
{
    switch (s) {
    case NOSTR_CLIENT_IDLE: return "idle";
    case NOSTR_CLIENT_CONNECTING: return "connecting";
    case NOSTR_CLIENT_TLS: return "tls";
    case NOSTR_CLIENT_UPGRADING: return "upgrading";
    case NOSTR_CLIENT_OPEN: return "open";
    case NOSTR_CLIENT_BACKOFF: return "backoff";
    default: return "closed";
    }
}

static void nostr__gw_json_key(nostr_buf *o, const char *k)
{
    nostr_buf_append_char(o, '"');
    nostr_buf_append_str(o, k);
    nostr_buf_append_str(o, "\":");
}

static void nostr__gw_json_str(nostr_buf *o, const char *k, const char *v)
{
    nostr__gw_json_key(o, k);
    nostr_json_write_string(o, v, strlen(v));
    nostr_buf_append_char(o, ',');
}

static void nostr__gw_json_u64(nostr_buf *o, const char *k, unsigned long long v)
{
    nostr__gw_json_key(o, k);
    nostr_buf_append_u64(o, v);
    nostr_buf_append_char(o, ',');
}

static void nostr__gw_json_i64(nostr_buf *o, const char *k, long long v)
{
    nostr__gw_json_key(o, k);
    nostr_buf_append_i64(o, v);
    nostr_buf_append_char(o, ',');
}

static void nostr__gw_json_num(nostr_buf *o, const char *k, double v)
{
    char n[48];
    nostr__gw_json_key(o, k);
    snprintf(n, sizeof n, "%.3f", v);
    nostr_buf_append_str(o, n);
    nostr_buf_append_char(o, ',');
}

/* One upstream as JSON: identity, state, counters, sizes, per-minute
 * counts and the size histogram (for the dashboard). */
static void nostr__gw_write_upstream(nostr_gateway_upstream *up, nostr_buf *o)
{
    nostr_gateway_upstream_stats st;
    unsigned b;
    nostr_gateway_upstream_stats_get(up, &st);
    nostr_buf_append_char(o, '{');
    nostr__gw_json_u64(o, "id", (unsigned long long)up->id);
    nostr__gw_json_str(o, "url", up->url);
    nostr__gw_json_key(o, "filters");
    nostr_buf_append_str(o, up->filters_json);
    nostr_buf_append_char(o, ',');
    nostr__gw_json_str(o, "name", up->info_name);
    nostr__gw_json_key(o, "info");
    nostr_buf_append_str(o, up->info ? up->info : "null");
    nostr_buf_append_char(o, ',');
    nostr__gw_json_str(o, "state", nostr__gw_state_name(st.state));
    nostr__gw_json_i64(o, "added_at", up->added_at);
    nostr__gw_json_u64(o, "received", st.received);
    nostr__gw_json_u64(o, "duplicates", st.duplicates);
    nostr__gw_json_u64(o, "invalid", st.invalid);
    nostr__gw_json_u64(o, "submitted", st.submitted);
    nostr__gw_json_u64(o, "stored", st.stored);
    nostr__gw_json_u64(o, "bytes", st.bytes);
    nostr__gw_json_u64(o, "reconnects", st.reconnects);
    nostr__gw_json_num(o, "rate_1m", st.rate_1m);
    nostr__gw_json_num(o, "rate_15m", st.rate_15m);
    nostr__gw_json_num(o, "avg_size", st.avg_size);
    nostr__gw_json_u64(o, "median_size", st.median_size);
    nostr__gw_json_i64(o, "newest_created_at", st.newest_created_at);
    nostr__gw_json_i64(o, "since", st.since);
    nostr__gw_json_str(o, "last_error", st.last_error);
    nostr__gw_json_key(o, "per_minute");
    nostr_buf_append_char(o, '[');
    for (b = 0; b < NOSTR_GATEWAY_MINUTES; b++) {
        if (b) nostr_buf_append_char(o, ',');
        nostr_buf_append_u64(o, st.minutes[b]);
    }
    nostr_buf_append_str(o, "],");
    /* [lower bound in bytes, count] for the buckets that have any */
    nostr__gw_json_key(o, "sizes");
    nostr_buf_append_char(o, '[');
    for (b = 0; b < NOSTR_GATEWAY_SIZE_BUCKETS; b++) {
        if (!st.size_hist[b]) continue;
        if (o->data[o->len - 1] != '[') nostr_buf_append_char(o, ',');
        nostr_buf_append_char(o, '[');
        nostr_buf_append_u64(o, (unsigned long long)((16u + 2u * (b % 8)) << (b / 8)));
        nostr_buf_append_char(o, ',');
        nostr_buf_append_u64(o, st.size_hist[b]);
        nostr_buf_append_char(o, ']');
    }
    nostr_buf_append_char(o, ']');
    nostr_buf_append_char(o, '}');
}

NOSTRDEF int nostr_gateway_write_relays(nostr_gateway *gw, nostr_buf *out)
{
    size_t i, before = out->len;
    nostr_buf_append_char(out, '[');
    for (i = 0; i < gw->nups; i++) {
        if (i) nostr_buf_append_char(out, ',');
        nostr__gw_write_upstream(gw->ups[i], out);
    }
    if (nostr_buf_append_char(out, ']') != NOSTR_OK) {
        out->len = before;
        return NOSTR_ERR_NOMEM;
    }
    return NOSTR_OK;
}

NOSTRDEF int nostr_gateway_write_stats(nostr_gateway *gw, nostr_buf *out)
{
    nostr_gateway_stats st;
    size_t before = out->len;
    nostr_gateway_stats_get(gw, &st);
    nostr_buf_append_char(out, '{');
    nostr__gw_json_u64(out, "received", st.received);
    nostr__gw_json_u64(out, "duplicates", st.duplicates);
    nostr__gw_json_u64(out, "invalid", st.invalid);
    nostr__gw_json_u64(out, "submitted", st.submitted);
    nostr__gw_json_u64(out, "stored", st.stored);
    nostr__gw_json_u64(out, "dropped", st.dropped);
    nostr__gw_json_u64(out, "backlog", st.backlog);
    nostr__gw_json_u64(out, "paused_times", st.paused_times);
    nostr__gw_json_u64(out, "queue_depth", st.queue_depth);
    nostr__gw_json_num(out, "consumer_lag_s", st.consumer_lag_s);
    nostr__gw_json_u64(out, "batches", st.batches);
    nostr__gw_json_num(out, "batch_avg_ms", st.batches ? st.batch_seconds_sum * 1e3 / (double)st.batches : 0);
    nostr__gw_json_key(out, "relays");
    nostr_gateway_write_relays(gw, out);
    if (nostr_buf_append_char(out, '}') != NOSTR_OK) {
        out->len = before;
        return NOSTR_ERR_NOMEM;
    }
    return NOSTR_OK;
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static void nostr__gw_label(nostr_buf *o, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') nostr_buf_append_char(o, '\\');
        if (*v == '\n') {
            nostr_buf_append_str(o, "\\n");
            continue;
        }
        nostr_buf_append_char(o, *v);
    }
}

static void nostr__gw_series(nostr_buf *o, const char *name, const char *help, const char *type)
{
    nostr_buf_append_str(o, "# HELP ");
    nostr_buf_append_str(o, name);
    nostr_buf_append_char(o, ' ');
    nostr_buf_append_str(o, help);
    nostr_buf_append_str(o, "\n# TYPE ");
    nostr_buf_append_str(o, name);
    nostr_buf_append_char(o, ' ');
    nostr_buf_append_str(o, type);
    nostr_buf_append_char(o, '\n');
}

static void nostr__gw_sample(nostr_buf *o, const char *name, const char *relay, double v)
{
    char n[48];
    nostr_buf_append_str(o, name);
    if (relay) {
        nostr_buf_append_str(o, "{relay=\"");
        nostr__gw_label(o, relay);
        nostr_buf_append_str(o, "\"}");
    }
    snprintf(n, sizeof n, " %.17g\n", v);
    nostr_buf_append_str(o, n);
}

NOSTRDEF int nostr_gateway_write_metrics(nostr_gateway *gw, nostr_buf *out)
{
    static const struct {
        const char *name, *help, *type;
        int field;
    } per[] = {
        {"nostr_gateway_upstream_up", "1 when the upstream connection is open", "gauge", 0},
        {"nostr_gateway_upstream_events_received_total", "EVENT messages received", "counter", 1},
        {"nostr_gateway_upstream_duplicates_total", "events whose id was already known", "counter", 2},
        {"nostr_gateway_upstream_invalid_total", "events with a bad id or signature (dropped)", "counter", 3},
        {"nostr_gateway_upstream_stored_total", "items the database has", "counter", 4},
        {"nostr_gateway_upstream_bytes_total", "event JSON bytes received", "counter", 5},
        {"nostr_gateway_upstream_reconnects_total", "connections opened after the first", "counter", 6},
        {"nostr_gateway_upstream_events_per_second_1m", "events/s, 1 minute moving average", "gauge", 7},
        {"nostr_gateway_upstream_events_per_second_15m", "events/s, 15 minute moving average", "gauge", 8},
        {"nostr_gateway_upstream_event_size_avg_bytes", "average event size", "gauge", 9},
        {"nostr_gateway_upstream_event_size_median_bytes", "median event size", "gauge", 10},
        {"nostr_gateway_upstream_newest_event_timestamp_seconds", "created_at of the newest event", "gauge", 11},
        {"nostr_gateway_upstream_last_event_age_seconds", "seconds since the last event arrived (-1: none yet)",
         "gauge", 12},
    };
    static const double bounds[11] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
    nostr_gateway_stats st;
    size_t k, i, before = out->len;
    unsigned long long cum = 0;
    char le[32];
    for (k = 0; k < sizeof per / sizeof per[0]; k++) {
        nostr__gw_series(out, per[k].name, per[k].help, per[k].type);
        for (i = 0; i < gw->nups; i++) {
            nostr_gateway_upstream_stats s;
            double v = 0;
            nostr_gateway_upstream_stats_get(gw->ups[i], &s);
            switch (per[k].field) {
            case 0: v = s.state == NOSTR_CLIENT_OPEN; break;
            case 1: v = (double)s.received; break;
            case 2: v = (double)s.duplicates; break;
            case 3: v = (double)s.invalid; break;
            case 4: v = (double)s.stored; break;
            case 5: v = (double)s.bytes; break;
            case 6: v = (double)s.reconnects; break;
            case 7: v = s.rate_1m; break;
            case 8: v = s.rate_15m; break;
            case 9: v = s.avg_size; break;
            case 10: v = s.median_size; break;
            case 11: v = (double)s.newest_created_at; break;
            default: v = s.last_event_ms ? (double)(gw->now_ms - s.last_event_ms) / 1000.0 : -1; break;
            }
            nostr__gw_sample(out, per[k].name, gw->ups[i]->url, v);
        }
    }
    nostr_gateway_stats_get(gw, &st);
    nostr__gw_series(out, "nostr_gateway_upstreams", "upstream relays configured", "gauge");
    nostr__gw_sample(out, "nostr_gateway_upstreams", NULL, (double)gw->nups);
    nostr__gw_series(out, "nostr_gateway_backlog", "items waiting for the queue (reads paused while > 0)", "gauge");
    nostr__gw_sample(out, "nostr_gateway_backlog", NULL, (double)st.backlog);
    nostr__gw_series(out, "nostr_gateway_dropped_total", "items lost (backlog over max_backlog, no memory)",
                     "counter");
    nostr__gw_sample(out, "nostr_gateway_dropped_total", NULL, (double)st.dropped);
    nostr__gw_series(out, "nostr_gateway_queue_depth", "items in the queue, not yet stored", "gauge");
    nostr__gw_sample(out, "nostr_gateway_queue_depth", NULL, (double)st.queue_depth);
    nostr__gw_series(out, "nostr_gateway_consumer_lag_seconds", "age of the oldest item not yet stored", "gauge");
    nostr__gw_sample(out, "nostr_gateway_consumer_lag_seconds", NULL, st.consumer_lag_s);
    nostr__gw_series(out, "nostr_gateway_batch_commit_seconds", "consumer batch commit latency", "histogram");
    for (i = 0; i < 12; i++) {
        cum += st.batch_latency[i];
        nostr_buf_append_str(out, "nostr_gateway_batch_commit_seconds_bucket{le=\"");
        if (i < 11)
            snprintf(le, sizeof le, "%g", bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        nostr_buf_append_str(out, le);
        nostr_buf_append_str(out, "\"} ");
        nostr_buf_append_u64(out, cum);
        nostr_buf_append_char(out, '\n');
    }
    nostr__gw_sample(out, "nostr_gateway_batch_commit_seconds_sum", NULL, st.batch_seconds_sum);
    if (nostr__gw_sample(out, "nostr_gateway_batch_commit_seconds_count", NULL, (double)st.batches),
        out->len == before) /* nothing could be written */
        return NOSTR_ERR_NOMEM;
    return NOSTR_OK;
}

/* ---- REST ---- */

static int nostr__gw_respond(nostr_buf *resp, int status, const char *type, const void *body, size_t len, int keep)
{
    static const nostr_http_kv hdr[] = {{"Access-Control-Allow-Origin", "*"}, {"Cache-Control", "no-store"}};
    return nostr_http_write_response(resp, status, NULL, type, hdr, 2, body, len, keep) == NOSTR_OK ? 1 : 1;
}

static int nostr__gw_json_error(nostr_buf *resp, int status, const char *msg, int keep)
{
    nostr_buf b;
    char mem[512];
    nostr_buf_init_fixed(&b, mem, sizeof mem);
    nostr_buf_append_str(&b, "{\"error\":");
    nostr_json_write_string(&b, msg, strlen(msg));
    nostr_buf_append_char(&b, '}');
    return nostr__gw_respond(resp, status, "application/json", b.data, b.len, keep);
}

/* The Authorization header carries "Bearer <token>" (compared in
 * constant time). 0 ok, else the status to answer. */
static int nostr__gw_auth(const nostr_gateway *gw, const nostr_http_message *req)
{
    const nostr_str *h = nostr_http_header(req, "Authorization");
    size_t n, i;
    unsigned char diff = 0;
    if (!gw->token) return 403;
    if (!h || h->len < 7 || strncmp(h->ptr, "Bearer ", 7) != 0) return 401;
    n = strlen(gw->token);
    if (h->len - 7 != n) return 401;
    for (i = 0; i < n; i++) diff |= (unsigned char)(h->ptr[7 + i] ^ gw->token[i]);
    return diff ? 401 : 0;
}

static int nostr__gw_path_is(const nostr_http_message *req, const char *p)
{
    size_t n = strlen(p);
    return req->path.len == n && memcmp(req->path.ptr, p, n) == 0;
}

/* POST /api/relays {"url": "...", "filters": [...]} */
static int nostr__gw_post_relay(nostr_gateway *gw, const nostr_http_message *req, nostr_buf *resp, int keep)
{
    nostr_json r;
    char key[16], url[2048], msg[256];
    size_t kl, ul = 0;
    const char *fstart = NULL;
    size_t flen = 0;
    char *filters = NULL;
    nostr_gateway_upstream *up;
    nostr_gateway_upstream_info info;
    nostr_error err;
    int rc, have_url = 0;
    url[0] = 0;
    nostr_json_init(&r, req->body.ptr, req->body.len, NULL);
    if (nostr_json_object_begin(&r) != NOSTR_OK)
        return nostr__gw_json_error(resp, 400, "body: expected a JSON object {\"url\": ..., \"filters\": [...]}", keep);
    while ((rc = nostr_json_object_next(&r, key, sizeof key, &kl)) == 1) {
        if (!strcmp(key, "url")) {
            if (nostr_json_string_buf(&r, url, sizeof url, &ul) != NOSTR_OK)
                return nostr__gw_json_error(resp, 400, "url: expected a string (at most 2047 bytes)", keep);
            have_url = 1;
        } else if (!strcmp(key, "filters")) {
            size_t at = nostr_json_offset(&r);
            if (nostr_json_peek(&r) != NOSTR_JSON_ARRAY || nostr_json_skip(&r) != NOSTR_OK)
                return nostr__gw_json_error(resp, 400, "filters: expected an array of filter objects", keep);
            while (at < req->body.len && (req->body.ptr[at] == ' ' || req->body.ptr[at] == '\n' ||
                                          req->body.ptr[at] == '\t' || req->body.ptr[at] == '\r' ||
                                          req->body.ptr[at] == ':'))
                at++;
            fstart = req->body.ptr + at;
            flen = nostr_json_offset(&r) - at;
        } else {
            return nostr__gw_json_error(resp, 400, "body: unknown field (expected url, filters)", keep);
        }
    }
    if (rc < 0 || nostr_json_finish(&r) != NOSTR_OK) return nostr__gw_json_error(resp, 400, "body: malformed JSON", keep);
    if (!have_url || !ul) return nostr__gw_json_error(resp, 400, "url: required", keep);
    if (fstart && !(filters = nostr__gw_strdup(gw->al, fstart, flen))) return nostr__gw_json_error(resp, 500, "no memory", 0);
    memset(&err, 0, sizeof err);
    rc = nostr_gateway_add(gw, 0, url, filters, 0, nostr__gw_unix(gw), &up, &err);
    nostr_free(gw->al, filters);
    if (rc == NOSTR_ERR_BUSY) return nostr__gw_json_error(resp, 409, "that relay is already an upstream", keep);
    if (rc != NOSTR_OK) {
        snprintf(msg, sizeof msg, "%s", err.msg ? err.msg : nostr_strerror(rc));
        return nostr__gw_json_error(resp, rc == NOSTR_ERR_NOMEM ? 500 : 400, msg, keep);
    }
    nostr_gateway_upstream_describe(up, &info);
    if (gw->cb.saved && gw->cb.saved(gw->cb.user, &info) != 0) {
        (void)nostr_gateway_remove(gw, info.id);
        return nostr__gw_json_error(resp, 500, "could not save the relay list", keep);
    }
    nostr_buf_clear(&gw->tmp);
    nostr__gw_write_upstream(up, &gw->tmp);
    return nostr__gw_respond(resp, 201, "application/json", gw->tmp.data, gw->tmp.len, keep);
}

static int nostr__gw_delete_relay(nostr_gateway *gw, const nostr_http_message *req, nostr_buf *resp, int keep)
{
    const char *p = req->path.ptr + 12; /* after "/api/relays/" */
    const char *end = req->path.ptr + req->path.len;
    long id = 0;
    if (p >= end) return nostr__gw_json_error(resp, 400, "relay id: expected /api/relays/{id}", keep);
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || id > 100000000) return nostr__gw_json_error(resp, 400, "relay id: not a number", keep);
        id = id * 10 + (*p - '0');
    }
    if (nostr_gateway_remove(gw, (int)id) != NOSTR_OK) return nostr__gw_json_error(resp, 404, "no such relay", keep);
    if (gw->cb.removed) gw->cb.removed(gw->cb.user, (int)id);
    return nostr__gw_respond(resp, 200, "application/json", "{\"removed\":true}", 16, keep);
}

/* ---- GET /api/events ---- */

#define NOSTR__GW_EVENTS_MAX 500
#define NOSTR__GW_EVENTS_DEFAULT 50

typedef struct nostr__gw_rows {
    nostr_gateway *gw;
    nostr_buf json;  /* the rows' JSON back to back */
    size_t off[NOSTR__GW_EVENTS_MAX], len[NOSTR__GW_EVENTS_MAX];
    unsigned char ids[NOSTR__GW_EVENTS_MAX][32];
    size_t n;
    int done, rc;
    nostr_buf seen; /* per row: relay ids and first_seen, "id:first_seen," as text */
    nostr_buf *per; /* n buffers */
} nostr__gw_rows;

static void nostr__gw_row(void *user, const char *json, size_t len)
{
    nostr__gw_rows *q = (nostr__gw_rows *)user;
    if (q->n >= NOSTR__GW_EVENTS_MAX) return;
    q->off[q->n] = q->json.len;
    q->len[q->n] = len;
    if (nostr_buf_append(&q->json, json, len) != NOSTR_OK) {
        q->rc = NOSTR_ERR_NOMEM;
        return;
    }
    q->n++;
}

static void nostr__gw_rows_done(void *user, int rc, unsigned long long count)
{
    nostr__gw_rows *q = (nostr__gw_rows *)user;
    (void)count;
    q->done = 1;
    if (rc != NOSTR_OK) q->rc = rc;
}

static void nostr__gw_seen_row(void *user, const unsigned char id[32], int relay_id, long long first_seen)
{
    nostr__gw_rows *q = (nostr__gw_rows *)user;
    size_t i;
    for (i = 0; i < q->n; i++) {
        nostr_gateway_upstream *up;
        nostr_buf *b = &q->per[i];
        if (memcmp(q->ids[i], id, 32) != 0) continue;
        up = nostr__gw_by_id(q->gw, relay_id);
        if (b->len) nostr_buf_append_char(b, ',');
        nostr_buf_append_str(b, "{\"id\":");
        nostr_buf_append_i64(b, relay_id);
        nostr_buf_append_str(b, ",\"url\":");
        if (up)
            nostr_json_write_string(b, up->url, strlen(up->url));
        else
            nostr_buf_append_str(b, "null"); /* removed since */
        nostr_buf_append_str(b, ",\"first_seen\":");
        nostr_buf_append_i64(b, first_seen);
        nostr_buf_append_char(b, '}');
    }
}

/* Comma-separated list items of a query parameter, one at a time. */
static int nostr__gw_list_next(const char **p, const char *end, const char **item, size_t *len)
{
    const char *s = *p, *c;
    while (s < end && (*s == ',' || *s == ' ')) s++;
    if (s >= end) return 0;
    for (c = s; c < end && *c != ','; c++) {
    }
    *item = s;
    *len = (size_t)(c - s);
    while (*len && s[*len - 1] == ' ') (*len)--;
    *p = c;
    return 1;
}

static int nostr__gw_int_param(const char *s, size_t n, long long max, long long *out)
{
    long long v = 0;
    size_t i;
    if (!n || n > 19) return 0;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
        if (v > max) return 0;
    }
    *out = v;
    return 1;
}

/* The query string -> one filter in arena a; NULL and *why on bad input. */
static int nostr__gw_events_filter(const nostr_http_message *req, nostr_filter *f, nostr_arena *a, nostr_buf *v,
                                   const char **why)
{
    static const char *const names[] = {"authors", "kinds", "tag", "since", "until", "search", "limit"};
    size_t k;
    memset(f, 0, sizeof *f);
    f->limit = NOSTR__GW_EVENTS_DEFAULT;
    f->fields = NOSTR_FILTER_LIMIT;
    for (k = 0; k < sizeof names / sizeof names[0]; k++) {
        const char *p, *end, *item;
        size_t il, n = 0;
        long long x;
        nostr_buf_clear(v);
        if (nostr_http_query_param(req->target.ptr, req->target.len, names[k], v) != 1) continue;
        p = (const char *)v->data;
        end = p + v->len;
        switch (k) {
        case 0: /* authors: hex or npub */
            f->authors = (unsigned char(*)[32])nostr_arena_alloc(a, 100 * 32);
            if (!f->authors) return NOSTR_ERR_NOMEM;
            while (nostr__gw_list_next(&p, end, &item, &il)) {
                if (n == 100) return *why = "authors: at most 100", NOSTR_ERR_ARG;
                if (nostr_hex_decode_any_case(item, il, f->authors[n], 32) != NOSTR_OK &&
                    nostr_nip19_decode_key(item, il, NOSTR_NIP19_NPUB, f->authors[n], NULL) != NOSTR_OK)
                    return *why = "authors: expected 64 hex characters or an npub", NOSTR_ERR_ARG;
                n++;
            }
            f->authors_count = n;
            f->fields |= NOSTR_FILTER_AUTHORS;
            break;
        case 1: /* kinds */
            f->kinds = (unsigned *)nostr_arena_alloc(a, 100 * sizeof *f->kinds);
            if (!f->kinds) return NOSTR_ERR_NOMEM;
            while (nostr__gw_list_next(&p, end, &item, &il)) {
                if (n == 100) return *why = "kinds: at most 100", NOSTR_ERR_ARG;
                if (!nostr__gw_int_param(item, il, 65535, &x)) return *why = "kinds: expected integers in 0..65535", NOSTR_ERR_ARG;
                f->kinds[n++] = (unsigned)x;
            }
            f->kinds_count = n;
            f->fields |= NOSTR_FILTER_KINDS;
            break;
        case 2: { /* tag=NAME:VALUE, NAME one letter */
            nostr_str *val;
            if (v->len < 3 || v->data[1] != ':' || !((v->data[0] >= 'a' && v->data[0] <= 'z') || (v->data[0] >= 'A' && v->data[0] <= 'Z')))
                return *why = "tag: expected NAME:VALUE with a one-letter NAME (t:nostr, p:<hex>)", NOSTR_ERR_ARG;
            f->tags = (nostr_tag_filter *)nostr_arena_alloc(a, sizeof *f->tags);
            val = (nostr_str *)nostr_arena_alloc(a, sizeof *val);
            if (!f->tags || !val) return NOSTR_ERR_NOMEM;
            val->ptr = nostr_arena_strdup(a, (const char *)v->data + 2, v->len - 2);
            val->len = v->len - 2;
            if (!val->ptr) return NOSTR_ERR_NOMEM;
            f->tags[0].name = (char)v->data[0];
            f->tags[0].values = val;
            f->tags[0].count = 1;
            f->tags_count = 1;
            break;
        }
        case 3:
        case 4:
            if (!nostr__gw_int_param(p, v->len, 0x7FFFFFFFFFFFLL, &x))
                return *why = k == 3 ? "since: expected unix seconds" : "until: expected unix seconds", NOSTR_ERR_ARG;
            if (k == 3) {
                f->since = x;
                f->fields |= NOSTR_FILTER_SINCE;
            } else {
                f->until = x;
                f->fields |= NOSTR_FILTER_UNTIL;
            }
            break;
        case 5:
            if (!v->len) break;
            if (!nostr_utf8_valid(p, v->len)) return *why = "search: not UTF-8", NOSTR_ERR_ARG;
            f->search.ptr = nostr_arena_strdup(a, p, v->len);
            f->search.len = v->len;
            if (!f->search.ptr) return NOSTR_ERR_NOMEM;
            f->fields |= NOSTR_FILTER_SEARCH;
            break;
        default:
            if (!nostr__gw_int_param(p, v->len, NOSTR__GW_EVENTS_MAX, &x))
                return *why = "limit: expected an integer in 0..500", NOSTR_ERR_ARG;
            f->limit = (unsigned long long)x;
            break;
        }
    }
    return NOSTR_OK;
}

static int nostr__gw_events(nostr_gateway *gw, const nostr_http_message *req, nostr_buf *resp, int keep)
{
    nostr__gw_rows *q;
    nostr_filter f;
    nostr_arena a;
    nostr_buf v;
    const char *why = "bad query";
    size_t i;
    int rc;
    if (!gw->cfg.reads.query) return nostr__gw_json_error(resp, 503, "no database for reads", keep);
    q = (nostr__gw_rows *)nostr_alloc(gw->al, sizeof *q);
    if (!q) return nostr__gw_json_error(resp, 500, "no memory", 0);
    memset(q, 0, sizeof *q);
    q->gw = gw;
    nostr_buf_init(&q->json, gw->al);
    nostr_arena_init(&a, NULL, 0, gw->al);
    nostr_buf_init(&v, gw->al);
    rc = nostr__gw_events_filter(req, &f, &a, &v, &why);
    if (rc == NOSTR_OK)
        rc = gw->cfg.reads.query(gw->cfg.reads.self, &f, 1, nostr__gw_unix(gw), nostr__gw_row, nostr__gw_rows_done, q);
    if (rc == NOSTR_ERR_ARG) {
        rc = nostr__gw_json_error(resp, 400, why, keep);
        goto out;
    }
    if (rc != NOSTR_OK || !q->done || q->rc != NOSTR_OK) {
        rc = nostr__gw_json_error(resp, q->done || rc != NOSTR_OK ? 500 : 503,
                                  q->done || rc != NOSTR_OK ? "the database query failed" : "the store answered later",
                                  keep);
        goto out;
    }
    /* ids of the rows, then the relays each was seen on */
    q->per = (nostr_buf *)nostr_alloc(gw->al, (q->n ? q->n : 1) * sizeof *q->per);
    if (!q->per) {
        rc = nostr__gw_json_error(resp, 500, "no memory", 0);
        goto out;
    }
    for (i = 0; i < q->n; i++) {
        nostr_event ev;
        nostr_arena_reset(&a);
        nostr_buf_init(&q->per[i], gw->al);
        memset(q->ids[i], 0, 32);
        if (nostr_event_parse(&ev, (const char *)q->json.data + q->off[i], q->len[i], &a, NULL, NULL) == NOSTR_OK)
            memcpy(q->ids[i], ev.id, 32);
    }
    if (gw->cb.seen_on && q->n) (void)gw->cb.seen_on(gw->cb.user, (const unsigned char(*)[32])q->ids, q->n, nostr__gw_seen_row, q);
    nostr_buf_clear(&gw->tmp);
    nostr_buf_append_str(&gw->tmp, "{\"events\":[");
    for (i = 0; i < q->n; i++) {
        if (i) nostr_buf_append_char(&gw->tmp, ',');
        nostr_buf_append_str(&gw->tmp, "{\"event\":");
        nostr_buf_append(&gw->tmp, q->json.data + q->off[i], q->len[i]);
        nostr_buf_append_str(&gw->tmp, ",\"relays\":[");
        nostr_buf_append(&gw->tmp, q->per[i].data, q->per[i].len);
        nostr_buf_append_str(&gw->tmp, "]}");
    }
    nostr_buf_append_str(&gw->tmp, "],\"count\":");
    nostr_buf_append_u64(&gw->tmp, q->n);
    nostr_buf_append_char(&gw->tmp, '}');
    rc = nostr__gw_respond(resp, 200, "application/json", gw->tmp.data, gw->tmp.len, keep);
    for (i = 0; i < q->n; i++) nostr_buf_free(&q->per[i]);
out:
    nostr_free(gw->al, q->per);
    nostr_buf_free(&q->json);
    nostr_free(gw->al, q);
    nostr_arena_free(&a);
    nostr_buf_free(&v);
    return rc;
}

NOSTRDEF int nostr_gateway_http(nostr_gateway *gw, const nostr_http_message *req, nostr_buf *resp)
{
    int get, keep, st;
    if (!gw || !req || !resp) return 0;
    get = req->method.len == 3 && !memcmp(req->method.ptr, "GET", 3);
    keep = req->keep_alive;
    if (nostr__gw_path_is(req, "/api/relays")) {
        if (get) {
            nostr_buf_clear(&gw->tmp);
            if (nostr_gateway_write_relays(gw, &gw->tmp) != NOSTR_OK) return nostr__gw_json_error(resp, 500, "no memory", 0);
            return nostr__gw_respond(resp, 200, "application/json", gw->tmp.data, gw->tmp.len, keep);
        }
        if (req->method.len == 4 && !memcmp(req->method.ptr, "POST", 4)) {
            if ((st = nostr__gw_auth(gw, req)) != 0)
                return nostr__gw_json_error(resp, st, st == 401 ? "unauthorised: send Authorization: Bearer <token>"
                                                                : "writes are off: the gateway has no token configured",
                                            keep);
            return nostr__gw_post_relay(gw, req, resp, keep);
        }
        return nostr__gw_json_error(resp, 405, "use GET or POST", keep);
    }
    if (req->path.len > 12 && !memcmp(req->path.ptr, "/api/relays/", 12)) {
        if (req->method.len != 6 || memcmp(req->method.ptr, "DELETE", 6) != 0)
            return nostr__gw_json_error(resp, 405, "use DELETE", keep);
        if ((st = nostr__gw_auth(gw, req)) != 0)
            return nostr__gw_json_error(resp, st, st == 401 ? "unauthorised: send Authorization: Bearer <token>"
                                                            : "writes are off: the gateway has no token configured",
                                        keep);
        return nostr__gw_delete_relay(gw, req, resp, keep);
    }
    if (nostr__gw_path_is(req, "/api/stats") && get) {
        nostr_buf_clear(&gw->tmp);
        if (nostr_gateway_write_stats(gw, &gw->tmp) != NOSTR_OK) return nostr__gw_json_error(resp, 500, "no memory", 0);
        return nostr__gw_respond(resp, 200, "application/json", gw->tmp.data, gw->tmp.len, keep);
    }
    if (nostr__gw_path_is(req, "/api/events") && get) return nostr__gw_events(gw, req, resp, keep);
    if (nostr__gw_path_is(req, "/metrics") && get) {
        nostr_buf_clear(&gw->tmp);
        if (nostr_gateway_write_metrics(gw, &gw->tmp) != NOSTR_OK) return nostr__gw_json_error(resp, 500, "no memory", 0);
        return nostr__gw_respond(resp, 200, "text/plain; version=0.0.4", gw->tmp.data, gw->tmp.len, keep);
    }
    if (req->path.len >= 5 && !memcmp(req->path.ptr, "/api/", 5)) return nostr__gw_json_error(resp, 404, "no such API", keep);
    return 0;
}

/* ---- new, free ---- */

NOSTRDEF nostr_gateway *nostr_gateway_new(const nostr_gateway_config *cfg, const nostr_gateway_callbacks *cb)
{
    nostr_gateway *gw;
    uint32_t i;
    size_t want;
    if (!cfg || !cfg->ctx || !cb || !cb->connect || !cb->send || !cb->submit || !cb->unix_time) return NULL;
    gw = (nostr_gateway *)nostr_alloc(cfg->al, sizeof *gw);
    if (!gw) return NULL;
    memset(gw, 0, sizeof *gw);
    gw->cfg = *cfg;
    gw->cb = *cb;
    gw->al = cfg->al;
    gw->next_id = 1;
    gw->free_waiter = NOSTR__GW_NONE;
    if (!gw->cfg.dedup_ids) gw->cfg.dedup_ids = 1u << 20;
    if (gw->cfg.dedup_ids > 0x40000000u) gw->cfg.dedup_ids = 0x40000000u;
    if (!gw->cfg.since_window_s) gw->cfg.since_window_s = 600;
    if (!gw->cfg.backfill_s) gw->cfg.backfill_s = 3600;
    if (!gw->cfg.max_upstreams) gw->cfg.max_upstreams = 256;
    if (!gw->cfg.max_backlog) gw->cfg.max_backlog = 65536;
    gw->cfg.token = NULL;
    nostr_buf_init(&gw->tmp, gw->al);
    if (cfg->token && cfg->token[0] && !(gw->token = nostr__gw_strdup(gw->al, cfg->token, strlen(cfg->token))))
        goto fail;
    gw->nents = (uint32_t)gw->cfg.dedup_ids;
    for (want = 1; want < gw->cfg.dedup_ids; want <<= 1) {
    }
    gw->nbuckets = (uint32_t)want;
    gw->ents = (nostr__gw_entry *)nostr_alloc(gw->al, gw->nents * sizeof *gw->ents);
    gw->buckets = (uint32_t *)nostr_alloc(gw->al, gw->nbuckets * sizeof *gw->buckets);
    if (!gw->ents || !gw->buckets) goto fail;
    if (nostr_random(cfg->ctx, &gw->seed, sizeof gw->seed) != NOSTR_OK) goto fail;
    for (i = 0; i < gw->nents; i++) gw->ents[i].state = NOSTR__GW_EMPTY;
    for (i = 0; i < gw->nbuckets; i++) gw->buckets[i] = NOSTR__GW_NONE;
    return gw;
fail:
    nostr_gateway_free(gw);
    return NULL;
}

NOSTRDEF void nostr_gateway_free(nostr_gateway *gw)
{
    size_t i;
    if (!gw) return;
    for (i = 0; i < gw->nups; i++) nostr__gw_upstream_free(gw, gw->ups[i]);
    for (i = 0; i < gw->nheld; i++) nostr_free(gw->al, gw->held[gw->held_head + i].json);
    nostr_free(gw->al, gw->held);
    nostr_free(gw->al, gw->ups);
    nostr_free(gw->al, gw->ents);
    nostr_free(gw->al, gw->buckets);
    nostr_free(gw->al, gw->waiters);
    nostr_free(gw->al, gw->token);
    nostr_pubkey_cache_free(gw->pkcache);
    nostr_buf_free(&gw->tmp);
    nostr_free(gw->al, gw);
}
