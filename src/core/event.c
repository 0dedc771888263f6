/* ---- event: implementation ---- */

/* ---- parsing ---- */

/* The seven fields, with the messages that name them. */
enum {
    NOSTR__EV_ID,
    NOSTR__EV_PUBKEY,
    NOSTR__EV_CREATED_AT,
    NOSTR__EV_KIND,
    NOSTR__EV_TAGS,
    NOSTR__EV_CONTENT,
    NOSTR__EV_SIG,
    NOSTR__EV_NFIELDS
};

typedef struct nostr__event_field {
    const char *name;
    size_t len;
    const char *duplicate, *missing, *bad; /* bad: wrong type or format */
} nostr__event_field;

static const nostr__event_field nostr__event_fields[NOSTR__EV_NFIELDS] = {
    {"id", 2, "field 'id': duplicate", "field 'id': missing", "field 'id': expected 64 lowercase hex characters"},
    {"pubkey", 6, "field 'pubkey': duplicate", "field 'pubkey': missing",
     "field 'pubkey': expected 64 lowercase hex characters"},
    {"created_at", 10, "field 'created_at': duplicate", "field 'created_at': missing",
     "field 'created_at': expected a non-negative integer without fraction or exponent"},
    {"kind", 4, "field 'kind': duplicate", "field 'kind': missing",
     "field 'kind': expected a non-negative integer without fraction or exponent"},
    {"tags", 4, "field 'tags': duplicate", "field 'tags': missing",
     "field 'tags': expected an array of arrays of strings"},
    {"content", 7, "field 'content': duplicate", "field 'content': missing", "field 'content': expected a string"},
    {"sig", 3, "field 'sig': duplicate", "field 'sig': missing", "field 'sig': expected 128 lowercase hex characters"},
};

static int nostr__event_field_index(const char *key, size_t keylen)
{
    int i;
    for (i = 0; i < NOSTR__EV_NFIELDS; i++)
        if (keylen == nostr__event_fields[i].len && memcmp(key, nostr__event_fields[i].name, keylen) == 0) return i;
    return -1;
}

/* Replace the reader's error (or set one) with a message that names the
 * field, at byte `at` of the input. */
static int nostr__event_fail(nostr_json *r, const char *at, int code, const char *msg)
{
    r->err.code = code;
    r->err.offset = (size_t)(at - r->start);
    r->err.msg = msg;
    return code;
}

/* After a failed read: type and format errors get the field's own
 * message; JSON syntax, UTF-8 and limit errors keep the reader's. */
static int nostr__event_relabel(nostr_json *r, int rc, int field)
{
    if (rc == NOSTR_ERR_FIELD || rc == NOSTR_ERR_HEX) r->err.msg = nostr__event_fields[field].bad;
    return rc;
}

/* The capacity of an event's tags array follows from its count: 0 when
 * empty, else the next power of two of at least 8. The parser and
 * nostr_event_add_tag both keep to it, so add_tag knows when to grow. */
static size_t nostr__event_tag_cap(size_t count)
{
    size_t cap = 8;
    if (!count) return 0;
    while (cap < count) cap *= 2;
    return cap;
}

/* A copy of an arena array with twice the room (or `first` elements),
 * or NULL. The old copy stays in the arena: geometric growth wastes at
 * most as much as it keeps. */
static void *nostr__event_grow(nostr_arena *a, const void *old, size_t *cap, size_t elem, size_t first)
{
    size_t ncap = *cap ? *cap * 2 : first;
    void *n;
    if (ncap > ((size_t)-1) / elem) return NULL;
    n = nostr_arena_alloc(a, ncap * elem);
    if (!n) return NULL;
    if (*cap) memcpy(n, old, *cap * elem);
    *cap = ncap;
    return n;
}

/* One tag: an array of strings, appended to the shared items array. */
static int nostr__event_parse_tag(nostr_json *r, nostr_arena *a, nostr_str **items, size_t *nitems, size_t *itemcap,
                                  size_t *count)
{
    int rc, more;
    *count = 0;
    if ((rc = nostr_json_array_begin(r))) return nostr__event_relabel(r, rc, NOSTR__EV_TAGS);
    while ((more = nostr_json_array_next(r)) > 0) {
        if (*count == r->lim.max_tag_items) {
            nostr_json_peek(r);
            return nostr__event_fail(r, r->p, NOSTR_ERR_TOO_LARGE,
                                     "field 'tags': a tag has more than max_tag_items items");
        }
        if (*nitems == *itemcap) {
            *items = (nostr_str *)nostr__event_grow(a, *items, itemcap, sizeof(nostr_str), 32);
            if (!*items) return nostr_json_fail(r, NOSTR_ERR_NOMEM, "out of memory");
        }
        if ((rc = nostr_json_string(r, a, *items + *nitems))) return nostr__event_relabel(r, rc, NOSTR__EV_TAGS);
        (*nitems)++;
        (*count)++;
    }
    return more;
}

static int nostr__event_parse_tags(nostr_event *ev, nostr_json *r, nostr_arena *a)
{
    nostr_tag *tags = NULL;
    nostr_str *items = NULL;
    size_t ntags = 0, tagcap = 0, nitems = 0, itemcap = 0, i, pos;
    int rc, more;
    if ((rc = nostr_json_array_begin(r))) return nostr__event_relabel(r, rc, NOSTR__EV_TAGS);
    while ((more = nostr_json_array_next(r)) > 0) {
        size_t count;
        if (ntags == r->lim.max_tags) {
            nostr_json_peek(r);
            return nostr__event_fail(r, r->p, NOSTR_ERR_TOO_LARGE, "field 'tags': more than max_tags tags");
        }
        if (ntags == tagcap) {
            tags = (nostr_tag *)nostr__event_grow(a, tags, &tagcap, sizeof(nostr_tag), 8);
            if (!tags) return nostr_json_fail(r, NOSTR_ERR_NOMEM, "out of memory");
        }
        if ((rc = nostr__event_parse_tag(r, a, &items, &nitems, &itemcap, &count)) < 0) return rc;
        tags[ntags].items = NULL;
        tags[ntags].count = count;
        ntags++;
    }
    if (more < 0) return more;
    /* The items array moved as it grew: point each tag at its slice now. */
    for (i = 0, pos = 0; i < ntags; i++) {
        tags[i].items = tags[i].count ? items + pos : NULL;
        pos += tags[i].count;
    }
    ev->tags = tags;
    ev->tag_count = ntags;
    return NOSTR_OK;
}

/* id, pubkey, sig: lowercase hex of an exact length. */
static int nostr__event_parse_hex(nostr_json *r, unsigned char *out, size_t n, int field)
{
    int rc = nostr_json_hex(r, out, n);
    return rc ? nostr__event_relabel(r, rc, field) : NOSTR_OK;
}

/* created_at and kind: plain non-negative integers. A fraction or an
 * exponent (1.0, 1e9) and negative values are refused with FIELD even
 * where JSON.stringify would print them, so that every accepted event has
 * exactly one canonical form. */
static int nostr__event_parse_uint(nostr_json *r, int field, unsigned long long max, int over_code,
                                   const char *over_msg, unsigned long long *out)
{
    const char *at;
    int rc;
    nostr_json_peek(r);
    at = r->p;
    rc = nostr_json_uint64(r, out);
    if (rc == NOSTR_ERR_TOO_LARGE || (!rc && *out > max)) return nostr__event_fail(r, at, over_code, over_msg);
    return rc ? nostr__event_relabel(r, rc, field) : NOSTR_OK;
}

static int nostr__event_parse_field(nostr_event *ev, nostr_json *r, nostr_arena *a, int field)
{
    unsigned long long v;
    int rc;
    switch (field) {
    case NOSTR__EV_ID: return nostr__event_parse_hex(r, ev->id, 32, field);
    case NOSTR__EV_PUBKEY: return nostr__event_parse_hex(r, ev->pubkey, 32, field);
    case NOSTR__EV_SIG: return nostr__event_parse_hex(r, ev->sig, 64, field);
    case NOSTR__EV_CONTENT: rc = nostr_json_string(r, a, &ev->content); break;
    case NOSTR__EV_TAGS: return nostr__event_parse_tags(ev, r, a);
    case NOSTR__EV_CREATED_AT:
        rc = nostr__event_parse_uint(r, field, 9223372036854775807ull, NOSTR_ERR_TOO_LARGE,
                                     "field 'created_at': integer too large", &v);
        if (!rc) ev->created_at = (long long)v;
        return rc;
    default: /* NOSTR__EV_KIND */
        rc = nostr__event_parse_uint(r, field, 65535, NOSTR_ERR_KIND, "field 'kind': out of range 0..65535", &v);
        if (!rc) ev->kind = (unsigned)v;
        return rc;
    }
    return rc ? nostr__event_relabel(r, rc, field) : NOSTR_OK;
}

NOSTRDEF int nostr_event_parse_json(nostr_event *ev, nostr_json *r, nostr_arena *a)
{
    unsigned seen = 0;
    const char *obj;
    char key[16];
    size_t keylen;
    int rc, more, f;
    memset(ev, 0, sizeof *ev);
    if (r->err.code) return r->err.code;
    nostr_json_peek(r);
    obj = r->p;
    if ((rc = nostr_json_object_begin(r))) {
        if (rc == NOSTR_ERR_FIELD) r->err.msg = "event: expected a JSON object";
        return rc;
    }
    while ((more = nostr_json_object_next(r, key, sizeof key, &keylen)) > 0) {
        f = nostr__event_field_index(key, keylen);
        if (f < 0) {
            if ((rc = nostr_json_skip(r))) return rc;
            continue;
        }
        nostr_json_peek(r);
        if (seen & (1u << f)) return nostr__event_fail(r, r->p, NOSTR_ERR_FIELD, nostr__event_fields[f].duplicate);
        seen |= 1u << f;
        if ((rc = nostr__event_parse_field(ev, r, a, f))) return rc;
    }
    if (more < 0) return more;
    for (f = 0; f < NOSTR__EV_NFIELDS; f++)
        if (!(seen & (1u << f))) return nostr__event_fail(r, obj, NOSTR_ERR_FIELD, nostr__event_fields[f].missing);
    ev->json_offset = (size_t)(obj - r->start);
    ev->json_len = (size_t)(r->p - obj);
    return NOSTR_OK;
}

NOSTRDEF int nostr_event_parse(nostr_event *ev, const char *json, size_t len, nostr_arena *a, const nostr_limits *lim,
                               nostr_error *err)
{
    nostr_json r;
    int rc;
    if (!ev || !a || (!json && len)) return nostr__fail(err, NOSTR_ERR_ARG, 0, "event parse: NULL argument");
    nostr_json_init(&r, json ? json : "", len, lim);
    rc = nostr_event_parse_json(ev, &r, a);
    if (!rc) rc = nostr_json_finish(&r);
    if (rc && err) *err = r.err;
    return rc;
}

/* ---- canonical form and JSON output ----
 *
 * One writer serves the canonical form (hashed or appended to a buffer)
 * and the full JSON object, so the escaping cannot drift between them.
 * Hashing goes through a stack buffer and never touches the heap. */

typedef struct nostr__event_sink {
    nostr_buf *out; /* append here; when NULL, hash into sha */
    nostr_sha256_ctx *sha;
    int rc; /* first nostr_buf error */
    size_t staged;
    unsigned char stage[512];
} nostr__event_sink;

static void nostr__event_put(nostr__event_sink *s, const void *p, size_t n)
{
    if (s->out) {
        if (!s->rc) s->rc = nostr_buf_append(s->out, p, n);
        return;
    }
    if (n > sizeof s->stage - s->staged) {
        nostr_sha256_update(s->sha, s->stage, s->staged);
        s->staged = 0;
        if (n >= sizeof s->stage) {
            nostr_sha256_update(s->sha, p, n);
            return;
        }
    }
    memcpy(s->stage + s->staged, p, n);
    s->staged += n;
}

static void nostr__event_put_str(nostr__event_sink *s, const char *z)
{
    nostr__event_put(s, z, strlen(z));
}

static void nostr__event_put_hex(nostr__event_sink *s, const unsigned char *bytes, size_t n)
{
    char hex[129];
    nostr_hex_encode(bytes, n, hex);
    nostr__event_put(s, hex, 2 * n);
}

static void nostr__event_put_i64(nostr__event_sink *s, long long v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    unsigned long long u = v < 0 ? (unsigned long long)0 - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) tmp[--i] = '-';
    nostr__event_put(s, tmp + i, sizeof tmp - i);
}

static void nostr__event_emit(void *user, const void *p, size_t n)
{
    nostr__event_put((nostr__event_sink *)user, p, n);
}

static void nostr__event_put_string(nostr__event_sink *s, const char *str, size_t len)
{
    nostr__json_escape(nostr__event_emit, s, str, len);
}

static void nostr__event_put_tags(nostr__event_sink *s, const nostr_event *ev)
{
    size_t i, j;
    nostr__event_put(s, "[", 1);
    for (i = 0; i < ev->tag_count; i++) {
        const nostr_tag *t = &ev->tags[i];
        nostr__event_put(s, i ? ",[" : "[", i ? 2 : 1);
        for (j = 0; j < t->count; j++) {
            if (j) nostr__event_put(s, ",", 1);
            nostr__event_put_string(s, t->items[j].ptr, t->items[j].len);
        }
        nostr__event_put(s, "]", 1);
    }
    nostr__event_put(s, "]", 1);
}

/* [0,"<pubkey>",<created_at>,<kind>,<tags>,"<content>"] */
static void nostr__event_canonical(nostr__event_sink *s, const nostr_event *ev)
{
    nostr__event_put(s, "[0,\"", 4);
    nostr__event_put_hex(s, ev->pubkey, 32);
    nostr__event_put(s, "\",", 2);
    nostr__event_put_i64(s, ev->created_at);
    nostr__event_put(s, ",", 1);
    nostr__event_put_i64(s, (long long)ev->kind);
    nostr__event_put(s, ",", 1);
    nostr__event_put_tags(s, ev);
    nostr__event_put(s, ",", 1);
    nostr__event_put_string(s, ev->content.ptr, ev->content.len);
    nostr__event_put(s, "]", 1);
}

static void nostr__event_sink_buf(nostr__event_sink *s, nostr_buf *out)
{
    s->out = out;
    s->sha = NULL;
    s->rc = NOSTR_OK;
    s->staged = 0;
}

NOSTRDEF int nostr_event_serialize(const nostr_event *ev, nostr_buf *out)
{
    nostr__event_sink s;
    if (!ev || !out) return NOSTR_ERR_ARG;
    nostr__event_sink_buf(&s, out);
    nostr__event_canonical(&s, ev);
    return s.rc;
}

NOSTRDEF void nostr_event_compute_id(const nostr_event *ev, unsigned char out[32])
{
    nostr__event_sink s;
    nostr_sha256_ctx sha;
    nostr_sha256_init(&sha);
    s.out = NULL;
    s.sha = &sha;
    s.rc = NOSTR_OK;
    s.staged = 0;
    nostr__event_canonical(&s, ev);
    nostr_sha256_update(&sha, s.stage, s.staged);
    nostr_sha256_final(&sha, out);
}

NOSTRDEF int nostr_event_to_json(const nostr_event *ev, nostr_buf *out)
{
    nostr__event_sink s;
    if (!ev || !out) return NOSTR_ERR_ARG;
    nostr__event_sink_buf(&s, out);
    nostr__event_put_str(&s, "{\"id\":\"");
    nostr__event_put_hex(&s, ev->id, 32);
    nostr__event_put_str(&s, "\",\"pubkey\":\"");
    nostr__event_put_hex(&s, ev->pubkey, 32);
    nostr__event_put_str(&s, "\",\"created_at\":");
    nostr__event_put_i64(&s, ev->created_at);
    nostr__event_put_str(&s, ",\"kind\":");
    nostr__event_put_i64(&s, (long long)ev->kind);
    nostr__event_put_str(&s, ",\"tags\":");
    nostr__event_put_tags(&s, ev);
    nostr__event_put_str(&s, ",\"content\":");
    nostr__event_put_string(&s, ev->content.ptr, ev->content.len);
    nostr__event_put_str(&s, ",\"sig\":\"");
    nostr__event_put_hex(&s, ev->sig, 64);
    nostr__event_put_str(&s, "\"}");
    return s.rc;
}

/* ---- validation and signing ---- */

#define NOSTR__EVENT_MAX_CREATED_AT 9007199254740992LL /* 2^53 */

NOSTRDEF int nostr_event_check(const nostr_event *ev, const nostr_check_opts *o, nostr_error *err)
{
    long long lo = 0, hi = NOSTR__EVENT_MAX_CREATED_AT;
    unsigned char id[32];
    if (!ev) return nostr__fail(err, NOSTR_ERR_ARG, 0, "event check: NULL event");
    /* Each bound left at 0 keeps its default. */
    if (o && o->min_created_at) lo = o->min_created_at;
    if (o && o->max_created_at) hi = o->max_created_at;
    if (ev->kind > 65535) return nostr__fail(err, NOSTR_ERR_KIND, 0, "kind out of range 0..65535");
    if (ev->created_at < lo || ev->created_at > hi)
        return nostr__fail(err, NOSTR_ERR_CREATED_AT, 0, "created_at outside the accepted range");
    nostr_event_compute_id(ev, id);
    if (memcmp(id, ev->id, 32) != 0)
        return nostr__fail(err, NOSTR_ERR_ID, 0, "id is not the SHA-256 of the event's canonical form");
    return NOSTR_OK;
}

NOSTRDEF int nostr_event_verify(const nostr_ctx *ctx, const nostr_event *ev)
{
    if (!ev) return NOSTR_ERR_ARG;
    return nostr_schnorr_verify(ctx, ev->pubkey, ev->id, 32, ev->sig);
}

NOSTRDEF int nostr_event_verify_cached(const nostr_ctx *ctx, nostr_pubkey_cache *cache, const nostr_event *ev)
{
    if (!ev) return NOSTR_ERR_ARG;
    return nostr_schnorr_verify_cached(ctx, cache, ev->pubkey, ev->id, 32, ev->sig);
}

NOSTRDEF size_t nostr_event_verify_batch(const nostr_ctx *ctx, const nostr_event *const *evs, size_t n, int *results)
{
    size_t i, valid = 0;
    for (i = 0; i < n; i++) {
        int rc = nostr_event_verify(ctx, evs[i]);
        if (results) results[i] = rc;
        if (rc == NOSTR_OK) valid++;
    }
    return valid;
}

NOSTRDEF int nostr_event_validate(const nostr_ctx *ctx, const nostr_event *ev, const nostr_check_opts *o,
                                  nostr_error *err)
{
    int rc = nostr_event_check(ev, o, err);
    if (rc) return rc;
    rc = nostr_event_verify(ctx, ev);
    if (rc == NOSTR_ERR_SIG) return nostr__fail(err, rc, 0, "signature does not verify");
    if (rc == NOSTR_ERR_PUBKEY) return nostr__fail(err, rc, 0, "pubkey is not a valid x-only public key");
    if (rc) return nostr__fail(err, rc, 0, "signature verification failed");
    return NOSTR_OK;
}

NOSTRDEF int nostr_event_sign(nostr_ctx *ctx, nostr_event *ev, const nostr_keys *k)
{
    if (!ev || !k) return NOSTR_ERR_ARG;
    memcpy(ev->pubkey, k->pub, 32);
    nostr_event_compute_id(ev, ev->id);
    return nostr_schnorr_sign(ctx, k, ev->id, 32, ev->sig);
}

/* ---- kinds and tags ---- */

NOSTRDEF int nostr_kind_class(unsigned kind)
{
    if (kind == 0 || kind == 3 || (kind >= 10000 && kind < 20000)) return NOSTR_KIND_REPLACEABLE;
    if (kind >= 20000 && kind < 30000) return NOSTR_KIND_EPHEMERAL;
    if (kind >= 30000 && kind < 40000) return NOSTR_KIND_ADDRESSABLE;
    return NOSTR_KIND_REGULAR;
}

static int nostr__event_str_is(const nostr_str *s, const char *z, size_t zlen)
{
    return s->len == zlen && (zlen == 0 || memcmp(s->ptr, z, zlen) == 0);
}

NOSTRDEF const nostr_tag *nostr_event_tag(const nostr_event *ev, const char *name)
{
    size_t i, n = strlen(name);
    for (i = 0; i < ev->tag_count; i++)
        if (ev->tags[i].count >= 2 && nostr__event_str_is(&ev->tags[i].items[0], name, n)) return &ev->tags[i];
    return NULL;
}

NOSTRDEF const nostr_str *nostr_event_tag_value(const nostr_event *ev, const char *name)
{
    const nostr_tag *t = nostr_event_tag(ev, name);
    return t ? &t->items[1] : NULL;
}

NOSTRDEF nostr_str nostr_event_d_tag(const nostr_event *ev)
{
    const nostr_str *v = nostr_event_tag_value(ev, "d");
    nostr_str none;
    if (v) return *v;
    none.ptr = "";
    none.len = 0;
    return none;
}

/* NIP-40: only a plain decimal number counts; anything else (empty,
 * signs, spaces, fractions, overflow) means no expiration. */
NOSTRDEF long long nostr_event_expiration(const nostr_event *ev)
{
    const nostr_str *v = nostr_event_tag_value(ev, "expiration");
    long long n = 0;
    size_t i;
    if (!v || !v->len) return 0;
    for (i = 0; i < v->len; i++) {
        int d = v->ptr[i] - '0';
        if (d < 0 || d > 9) return 0;
        if (n > (9223372036854775807LL - d) / 10) return 0;
        n = n * 10 + d;
    }
    return n;
}

/* NIP-70: a tag whose first item is "-". Extra items do not disarm it: a
 * relay that over-reads protection only asks for AUTH more often. */
NOSTRDEF int nostr_event_is_protected(const nostr_event *ev)
{
    size_t i;
    for (i = 0; i < ev->tag_count; i++)
        if (ev->tags[i].count >= 1 && nostr__event_str_is(&ev->tags[i].items[0], "-", 1)) return 1;
    return 0;
}

/* ---- building ---- */

NOSTRDEF int nostr_event_init(nostr_event *ev, nostr_arena *a, unsigned kind, long long created_at, const char *content,
                              size_t content_len)
{
    char *copy;
    if (!ev || !a || (!content && content_len)) return NOSTR_ERR_ARG;
    memset(ev, 0, sizeof *ev);
    if (kind > 65535) return NOSTR_ERR_KIND;
    copy = nostr_arena_strdup(a, content ? content : "", content_len);
    if (!copy) return NOSTR_ERR_NOMEM;
    ev->kind = kind;
    ev->created_at = created_at;
    ev->content.ptr = copy;
    ev->content.len = content_len;
    return NOSTR_OK;
}

/* ev->tags must come from nostr_event_parse, init or add_tag (their
 * capacity is implied by tag_count, see nostr__event_tag_cap). */
NOSTRDEF int nostr_event_add_tag(nostr_event *ev, nostr_arena *a, const char *const *items, size_t n)
{
    nostr_str *copy = NULL;
    size_t i, cap;
    if (!ev || !a || (!items && n)) return NOSTR_ERR_ARG;
    for (i = 0; i < n; i++)
        if (!items[i]) return NOSTR_ERR_ARG;
    if (n) {
        if (n > ((size_t)-1) / sizeof(nostr_str)) return NOSTR_ERR_NOMEM;
        copy = (nostr_str *)nostr_arena_alloc(a, n * sizeof(nostr_str));
        if (!copy) return NOSTR_ERR_NOMEM;
        for (i = 0; i < n; i++) {
            size_t len = strlen(items[i]);
            copy[i].ptr = nostr_arena_strdup(a, items[i], len);
            if (!copy[i].ptr) return NOSTR_ERR_NOMEM;
            copy[i].len = len;
        }
    }
    cap = nostr__event_tag_cap(ev->tag_count);
    if (ev->tag_count == cap) {
        nostr_tag *tags = (nostr_tag *)nostr__event_grow(a, ev->tags, &cap, sizeof(nostr_tag), 8);
        if (!tags) return NOSTR_ERR_NOMEM;
        ev->tags = tags;
    }
    ev->tags[ev->tag_count].items = copy;
    ev->tags[ev->tag_count].count = n;
    ev->tag_count++;
    return NOSTR_OK;
}

NOSTRDEF int nostr_event_add_tag4(nostr_event *ev, nostr_arena *a, const char *name, const char *v1, const char *v2,
                                  const char *v3)
{
    const char *items[4];
    size_t n = 0;
    if (!name) return NOSTR_ERR_ARG;
    items[n++] = name;
    if (v1) {
        items[n++] = v1;
        if (v2) {
            items[n++] = v2;
            if (v3) items[n++] = v3;
        }
    }
    return nostr_event_add_tag(ev, a, items, n);
}
