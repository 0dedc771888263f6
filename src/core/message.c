/* ---- message: implementation ---- */

/* Which side may send each message type. */
enum { NOSTR__MSG_CLIENT = 1, NOSTR__MSG_RELAY = 2 };

typedef struct nostr__msg_kind {
    const char *name;
    nostr_msg_type type;
    unsigned senders;
} nostr__msg_kind;

static const nostr__msg_kind nostr__msg_kinds[] = {
    {"EVENT", NOSTR_MSG_EVENT, NOSTR__MSG_CLIENT | NOSTR__MSG_RELAY},
    {"REQ", NOSTR_MSG_REQ, NOSTR__MSG_CLIENT},
    {"CLOSE", NOSTR_MSG_CLOSE, NOSTR__MSG_CLIENT},
    {"COUNT", NOSTR_MSG_COUNT, NOSTR__MSG_CLIENT | NOSTR__MSG_RELAY},
    {"AUTH", NOSTR_MSG_AUTH, NOSTR__MSG_CLIENT | NOSTR__MSG_RELAY},
    {"OK", NOSTR_MSG_OK, NOSTR__MSG_RELAY},
    {"EOSE", NOSTR_MSG_EOSE, NOSTR__MSG_RELAY},
    {"CLOSED", NOSTR_MSG_CLOSED, NOSTR__MSG_RELAY},
    {"NOTICE", NOSTR_MSG_NOTICE, NOSTR__MSG_RELAY},
};

#define NOSTR__MSG_KIND_COUNT (sizeof nostr__msg_kinds / sizeof nostr__msg_kinds[0])

static const nostr__msg_kind *nostr__msg_kind_by_name(const char *name, size_t len)
{
    size_t i;
    for (i = 0; i < NOSTR__MSG_KIND_COUNT; i++)
        if (strlen(nostr__msg_kinds[i].name) == len && memcmp(nostr__msg_kinds[i].name, name, len) == 0)
            return &nostr__msg_kinds[i];
    return NULL;
}

static const nostr__msg_kind *nostr__msg_kind_by_type(nostr_msg_type type)
{
    size_t i;
    for (i = 0; i < NOSTR__MSG_KIND_COUNT; i++)
        if (nostr__msg_kinds[i].type == type) return &nostr__msg_kinds[i];
    return NULL;
}

static unsigned nostr__msg_sender_bit(nostr_role from)
{
    return from == NOSTR_FROM_RELAY ? NOSTR__MSG_RELAY : NOSTR__MSG_CLIENT;
}

/* ---- parsing ---- */

static int nostr__msg_fail_at(nostr_json *r, const char *at, int code, const char *msg)
{
    if (!r->err.code) r->p = at;
    return nostr_json_fail(r, code, msg);
}

/* A value of the wrong JSON type inside the message array is a malformed
 * message: the reader's FIELD becomes MESSAGE with our wording. */
static int nostr__msg_retag(nostr_json *r, int rc, const char *msg)
{
    if (rc == NOSTR_ERR_FIELD) {
        r->err.code = NOSTR_ERR_MESSAGE;
        r->err.msg = msg;
        return NOSTR_ERR_MESSAGE;
    }
    return rc;
}

/* Step to the next array element, which must exist. */
static int nostr__msg_element(nostr_json *r, const char *missing)
{
    int more = nostr_json_array_next(r);
    if (more < 0) return more;
    /* The reader is past the ']': point at it. */
    if (more == 0) return nostr__msg_fail_at(r, r->p - 1, NOSTR_ERR_MESSAGE, missing);
    return NOSTR_OK;
}

/* The array must end here. */
static int nostr__msg_end(nostr_json *r)
{
    int more = nostr_json_array_next(r);
    if (more > 0) return nostr_json_fail(r, NOSTR_ERR_MESSAGE, "too many elements");
    return more;
}

static int nostr__msg_sub_id(nostr_json *r, nostr_arena *a, nostr_str *sub)
{
    const char *at;
    int rc = nostr__msg_element(r, "missing subscription id");
    if (rc) return rc;
    nostr_json_peek(r);
    at = r->p;
    rc = nostr_json_string(r, a, sub);
    if (rc) return nostr__msg_retag(r, rc, "subscription id must be a string");
    if (sub->len < 1 || sub->len > 64)
        return nostr__msg_fail_at(r, at, NOSTR_ERR_MESSAGE, "subscription id must be 1..64 characters");
    return NOSTR_OK;
}

static int nostr__msg_text(nostr_json *r, nostr_arena *a, nostr_str *out, const char *missing, const char *not_string)
{
    int rc = nostr__msg_element(r, missing);
    if (rc) return rc;
    rc = nostr_json_string(r, a, out);
    return rc ? nostr__msg_retag(r, rc, not_string) : NOSTR_OK;
}

/* The event parser records where the event's JSON lay relative to the
 * reader's start, which is the whole message: a relay can store or
 * forward the original text. */
static int nostr__msg_event(nostr_json *r, nostr_arena *a, nostr_event *ev)
{
    int rc = nostr__msg_element(r, "missing event");
    return rc ? rc : nostr_event_parse_json(ev, r, a);
}

/* One or more filters up to the end of the array (REQ, client COUNT). */
static int nostr__msg_filters(nostr_json *r, nostr_arena *a, nostr_msg *m)
{
    size_t cap = 0;
    int rc = nostr__msg_element(r, "missing filter");
    if (rc) return rc;
    do {
        if (m->filter_count >= r->lim.max_filters) return nostr_json_fail(r, NOSTR_ERR_TOO_LARGE, "too many filters");
        if (m->filter_count == cap) {
            size_t newcap = cap ? cap * 2 : 4;
            nostr_filter *grown;
            if (newcap > r->lim.max_filters) newcap = r->lim.max_filters;
            grown = (nostr_filter *)nostr_arena_alloc(a, newcap * sizeof(nostr_filter));
            if (!grown) return nostr_json_fail(r, NOSTR_ERR_NOMEM, "out of memory");
            if (m->filter_count) memcpy(grown, m->filters, m->filter_count * sizeof(nostr_filter));
            m->filters = grown;
            cap = newcap;
        }
        rc = nostr_filter_parse_json(&m->filters[m->filter_count], r, a);
        if (rc) return rc;
        m->filter_count++;
    } while ((rc = nostr_json_array_next(r)) > 0);
    return rc;
}

/* The relay's COUNT result: {"count": n, "approximate": bool}. Other keys
 * (NIP-45's "hll") are skipped; count is required. */
static int nostr__msg_count_result(nostr_json *r, nostr_msg *m)
{
    char key[16];
    size_t keylen;
    int rc, have_count = 0, have_approx = 0;
    if ((rc = nostr__msg_element(r, "missing count result"))) return rc;
    rc = nostr_json_object_begin(r);
    if (rc) return nostr__msg_retag(r, rc, "count result must be an object");
    while ((rc = nostr_json_object_next(r, key, sizeof key, &keylen)) > 0) {
        if (keylen == 5 && memcmp(key, "count", 5) == 0) {
            if (have_count++) return nostr_json_fail(r, NOSTR_ERR_MESSAGE, "duplicate count");
            rc = nostr_json_uint64(r, &m->count);
            if (rc) return nostr__msg_retag(r, rc, "count must be a non-negative integer");
        } else if (keylen == 11 && memcmp(key, "approximate", 11) == 0) {
            if (have_approx++) return nostr_json_fail(r, NOSTR_ERR_MESSAGE, "duplicate approximate");
            rc = nostr_json_bool(r, &m->approximate);
            if (rc) return nostr__msg_retag(r, rc, "approximate must be true or false");
        } else if ((rc = nostr_json_skip(r))) {
            return rc;
        }
    }
    if (rc) return rc;
    if (!have_count) return nostr__msg_fail_at(r, r->p - 1, NOSTR_ERR_MESSAGE, "missing count");
    return NOSTR_OK;
}

static int nostr__msg_ok(nostr_json *r, nostr_arena *a, nostr_msg *m)
{
    int rc = nostr__msg_element(r, "missing event id");
    if (rc) return rc;
    rc = nostr_json_hex(r, m->id, 32);
    if (rc == NOSTR_ERR_HEX) r->err.msg = "event id must be 64-char lowercase hex";
    if (rc) return nostr__msg_retag(r, rc, "event id must be a hex string");
    if ((rc = nostr__msg_element(r, "missing OK status"))) return rc;
    rc = nostr_json_bool(r, &m->ok);
    if (rc) return nostr__msg_retag(r, rc, "OK status must be true or false");
    return nostr__msg_text(r, a, &m->message, "missing OK message", "OK message must be a string");
}

/* Everything after the type; leaves the reader past the closing ']'. */
static int nostr__msg_body(nostr_msg *m, int relay, nostr_json *r, nostr_arena *a)
{
    int rc;
    switch (m->type) {
    case NOSTR_MSG_EVENT:
        if (relay && (rc = nostr__msg_sub_id(r, a, &m->sub_id))) return rc;
        rc = nostr__msg_event(r, a, &m->event);
        break;
    case NOSTR_MSG_REQ:
        if ((rc = nostr__msg_sub_id(r, a, &m->sub_id))) return rc;
        return nostr__msg_filters(r, a, m);
    case NOSTR_MSG_COUNT:
        if ((rc = nostr__msg_sub_id(r, a, &m->sub_id))) return rc;
        if (!relay) return nostr__msg_filters(r, a, m);
        rc = nostr__msg_count_result(r, m);
        break;
    case NOSTR_MSG_AUTH:
        if (relay)
            rc = nostr__msg_text(r, a, &m->message, "missing challenge", "challenge must be a string");
        else
            rc = nostr__msg_event(r, a, &m->event);
        break;
    case NOSTR_MSG_OK: rc = nostr__msg_ok(r, a, m); break;
    case NOSTR_MSG_CLOSED:
        if ((rc = nostr__msg_sub_id(r, a, &m->sub_id))) return rc;
        rc = nostr__msg_text(r, a, &m->message, "missing CLOSED message", "CLOSED message must be a string");
        break;
    case NOSTR_MSG_NOTICE: rc = nostr__msg_text(r, a, &m->message, "missing notice", "notice must be a string"); break;
    default: /* CLOSE, EOSE */ rc = nostr__msg_sub_id(r, a, &m->sub_id); break;
    }
    return rc ? rc : nostr__msg_end(r);
}

static int nostr__msg_parse(nostr_msg *m, nostr_role from, nostr_json *r, nostr_arena *a)
{
    char name[16];
    size_t len = 0;
    const char *at;
    const nostr__msg_kind *kind;
    int rc = nostr_json_array_begin(r);
    if (rc) return nostr__msg_retag(r, rc, "message must be a JSON array");
    if ((rc = nostr__msg_element(r, "missing message type"))) return rc;
    nostr_json_peek(r);
    at = r->p;
    rc = nostr_json_string_buf(r, name, sizeof name, &len);
    if (rc == NOSTR_ERR_TOO_LARGE) {
        /* Longer than any known type (the reader already set the offset). */
        r->err.code = NOSTR_ERR_MESSAGE;
        r->err.msg = "unknown message type";
        return NOSTR_ERR_MESSAGE;
    }
    if (rc) return nostr__msg_retag(r, rc, "message type must be a string");
    kind = nostr__msg_kind_by_name(name, len);
    if (!kind) return nostr__msg_fail_at(r, at, NOSTR_ERR_MESSAGE, "unknown message type");
    if (!(kind->senders & nostr__msg_sender_bit(from)))
        return nostr__msg_fail_at(r, at, NOSTR_ERR_MESSAGE,
                                  from == NOSTR_FROM_RELAY ? "message type is sent by clients only"
                                                           : "message type is sent by relays only");
    m->type = kind->type;
    return nostr__msg_body(m, from == NOSTR_FROM_RELAY, r, a);
}

NOSTRDEF int nostr_msg_parse(nostr_msg *m, nostr_role from, const char *json, size_t len, nostr_arena *a,
                             const nostr_limits *lim, nostr_error *err)
{
    nostr_json r;
    int rc;
    if (!m || (!json && len) || !a) return nostr__fail(err, NOSTR_ERR_ARG, 0, "invalid argument");
    memset(m, 0, sizeof *m);
    nostr_json_init(&r, json ? json : "", len, lim);
    rc = nostr__msg_parse(m, from, &r, a);
    if (!rc) rc = nostr_json_finish(&r);
    if (rc) {
        m->type = NOSTR_MSG_NONE;
        return nostr__fail(err, rc, r.err.offset, r.err.msg);
    }
    return NOSTR_OK;
}

/* ---- writing ---- */

/* Undo a failed write so out holds no half message. */
static int nostr__msg_rollback(nostr_buf *out, size_t start, int rc)
{
    if (rc) {
        out->len = start;
        if (out->data && start < out->cap) out->data[start] = 0;
    }
    return rc;
}

static int nostr__msg_valid_sub(const char *sub, size_t len)
{
    return sub && len >= 1 && len <= 64;
}

/* '[' and the quoted type. */
static int nostr__msg_open(nostr_buf *out, const char *type)
{
    int rc;
    if ((rc = nostr_buf_append_str(out, "[\""))) return rc;
    if ((rc = nostr_buf_append_str(out, type))) return rc;
    return nostr_buf_append_char(out, '"');
}

/* ',' then a JSON string (NULL with length 0 writes ""). */
static int nostr__msg_put_string(nostr_buf *out, const char *s, size_t len)
{
    int rc = nostr_buf_append_char(out, ',');
    return rc ? rc : nostr_json_write_string(out, s ? s : "", s ? len : 0);
}

static int nostr__msg_put_event(nostr_buf *out, const nostr_event *ev)
{
    int rc = nostr_buf_append_char(out, ',');
    return rc ? rc : nostr_event_to_json(ev, out);
}

static int nostr__msg_put_count(nostr_buf *out, unsigned long long count, int approximate)
{
    int rc;
    if ((rc = nostr_buf_append_str(out, ",{\"count\":"))) return rc;
    if ((rc = nostr_buf_append_u64(out, count))) return rc;
    if (approximate && (rc = nostr_buf_append_str(out, ",\"approximate\":true"))) return rc;
    return nostr_buf_append_char(out, '}');
}

static int nostr__msg_put_ok(nostr_buf *out, const unsigned char id[32], int ok, const char *msg, size_t msg_len)
{
    int rc;
    if ((rc = nostr_buf_append_str(out, ",\""))) return rc;
    if ((rc = nostr_buf_append_hex(out, id, 32))) return rc;
    if ((rc = nostr_buf_append_str(out, ok ? "\",true" : "\",false"))) return rc;
    return nostr__msg_put_string(out, msg, msg_len);
}

static int nostr__msg_put_filters(nostr_buf *out, const nostr_filter *fs, size_t n)
{
    size_t i;
    int rc;
    if (!n || !fs) return NOSTR_ERR_ARG; /* REQ and COUNT need a filter */
    for (i = 0; i < n; i++) {
        if ((rc = nostr_buf_append_char(out, ','))) return rc;
        if ((rc = nostr_filter_to_json(&fs[i], out))) return rc;
    }
    return NOSTR_OK;
}

/* The elements after the type, as nostr__msg_body reads them. */
static int nostr__msg_write_body(const nostr_msg *m, int relay, nostr_buf *out)
{
    int rc;
    int has_sub = m->type == NOSTR_MSG_REQ || m->type == NOSTR_MSG_CLOSE || m->type == NOSTR_MSG_COUNT ||
                  m->type == NOSTR_MSG_EOSE || m->type == NOSTR_MSG_CLOSED || (m->type == NOSTR_MSG_EVENT && relay);
    if (has_sub) {
        if (!nostr__msg_valid_sub(m->sub_id.ptr, m->sub_id.len)) return NOSTR_ERR_ARG;
        if ((rc = nostr__msg_put_string(out, m->sub_id.ptr, m->sub_id.len))) return rc;
    }
    switch (m->type) {
    case NOSTR_MSG_EVENT: return nostr__msg_put_event(out, &m->event);
    case NOSTR_MSG_AUTH:
        if (relay) return nostr__msg_put_string(out, m->message.ptr, m->message.len);
        return nostr__msg_put_event(out, &m->event);
    case NOSTR_MSG_COUNT:
        if (relay) return nostr__msg_put_count(out, m->count, m->approximate);
        return nostr__msg_put_filters(out, m->filters, m->filter_count);
    case NOSTR_MSG_REQ: return nostr__msg_put_filters(out, m->filters, m->filter_count);
    case NOSTR_MSG_OK: return nostr__msg_put_ok(out, m->id, m->ok, m->message.ptr, m->message.len);
    case NOSTR_MSG_CLOSED:
    case NOSTR_MSG_NOTICE: return nostr__msg_put_string(out, m->message.ptr, m->message.len);
    default: return NOSTR_OK; /* CLOSE, EOSE: the sub id was all */
    }
}

NOSTRDEF int nostr_msg_write(const nostr_msg *m, nostr_role from, nostr_buf *out)
{
    const nostr__msg_kind *kind;
    size_t start;
    int rc;
    if (!m || !out) return NOSTR_ERR_ARG;
    kind = nostr__msg_kind_by_type(m->type);
    if (!kind || !(kind->senders & nostr__msg_sender_bit(from))) return NOSTR_ERR_ARG;
    start = out->len;
    rc = nostr__msg_open(out, kind->name);
    if (!rc) rc = nostr__msg_write_body(m, from == NOSTR_FROM_RELAY, out);
    if (!rc) rc = nostr_buf_append_char(out, ']');
    return nostr__msg_rollback(out, start, rc);
}

NOSTRDEF int nostr_write_ok(nostr_buf *out, const unsigned char id[32], int ok, const char *message)
{
    size_t start;
    int rc;
    if (!out || !id) return NOSTR_ERR_ARG;
    start = out->len;
    rc = nostr__msg_open(out, "OK");
    if (!rc) rc = nostr__msg_put_ok(out, id, ok, message, message ? strlen(message) : 0);
    if (!rc) rc = nostr_buf_append_char(out, ']');
    return nostr__msg_rollback(out, start, rc);
}

/* [type, sub] optionally followed by one string. */
static int nostr__msg_write_sub_text(nostr_buf *out, const char *type, const char *sub, size_t sub_len,
                                     const char *text, int has_text)
{
    size_t start;
    int rc;
    if (!out || !nostr__msg_valid_sub(sub, sub_len)) return NOSTR_ERR_ARG;
    start = out->len;
    rc = nostr__msg_open(out, type);
    if (!rc) rc = nostr__msg_put_string(out, sub, sub_len);
    if (!rc && has_text) rc = nostr__msg_put_string(out, text, text ? strlen(text) : 0);
    if (!rc) rc = nostr_buf_append_char(out, ']');
    return nostr__msg_rollback(out, start, rc);
}

NOSTRDEF int nostr_write_eose(nostr_buf *out, const char *sub, size_t sub_len)
{
    return nostr__msg_write_sub_text(out, "EOSE", sub, sub_len, NULL, 0);
}

NOSTRDEF int nostr_write_closed(nostr_buf *out, const char *sub, size_t sub_len, const char *message)
{
    return nostr__msg_write_sub_text(out, "CLOSED", sub, sub_len, message, 1);
}

NOSTRDEF int nostr_write_notice(nostr_buf *out, const char *message)
{
    size_t start;
    int rc;
    if (!out) return NOSTR_ERR_ARG;
    start = out->len;
    rc = nostr__msg_open(out, "NOTICE");
    if (!rc) rc = nostr__msg_put_string(out, message, message ? strlen(message) : 0);
    if (!rc) rc = nostr_buf_append_char(out, ']');
    return nostr__msg_rollback(out, start, rc);
}

NOSTRDEF int nostr_write_event_raw(nostr_buf *out, const char *sub, size_t sub_len, const char *event_json,
                                   size_t event_len)
{
    size_t start;
    int rc;
    if (!out || !nostr__msg_valid_sub(sub, sub_len) || !event_json || !event_len) return NOSTR_ERR_ARG;
    start = out->len;
    rc = nostr__msg_open(out, "EVENT");
    if (!rc) rc = nostr__msg_put_string(out, sub, sub_len);
    if (!rc) rc = nostr_buf_append_char(out, ',');
    if (!rc) rc = nostr_buf_append(out, event_json, event_len);
    if (!rc) rc = nostr_buf_append_char(out, ']');
    return nostr__msg_rollback(out, start, rc);
}

NOSTRDEF int nostr_write_count(nostr_buf *out, const char *sub, size_t sub_len, unsigned long long count,
                               int approximate)
{
    size_t start;
    int rc;
    if (!out || !nostr__msg_valid_sub(sub, sub_len)) return NOSTR_ERR_ARG;
    start = out->len;
    rc = nostr__msg_open(out, "COUNT");
    if (!rc) rc = nostr__msg_put_string(out, sub, sub_len);
    if (!rc) rc = nostr__msg_put_count(out, count, approximate);
    if (!rc) rc = nostr_buf_append_char(out, ']');
    return nostr__msg_rollback(out, start, rc);
}
