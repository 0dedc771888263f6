/* ---- filter: implementation ---- */

/* Grow an array that lives in the arena to hold one more element. When
 * the array is the arena's latest allocation and the block has room it
 * is extended in place (the usual case for ids/authors/kinds, whose
 * elements are not interleaved with other allocations); otherwise it is
 * copied into a twice larger one and the old space is left to the arena. */
static void *nostr__filter_grow(nostr_arena *a, void *arr, size_t count, size_t *cap, size_t elem)
{
    size_t newcap;
    unsigned char *p;
    if (count < *cap) return arr;
    newcap = *cap ? *cap * 2 : 8;
    if (newcap > (size_t)-1 / elem) return NULL;
    if (arr && a->base && (unsigned char *)arr + *cap * elem == a->base + a->used &&
        a->cap - a->used >= (newcap - *cap) * elem) {
        a->used += (newcap - *cap) * elem;
        *cap = newcap;
        return arr;
    }
    p = (unsigned char *)nostr_arena_alloc(a, newcap * elem);
    if (!p) return NULL;
    if (count) memcpy(p, arr, count * elem);
    *cap = newcap;
    return p;
}

/* The reader reports a wrongly typed value as FIELD (HEX for a bad hex
 * string); inside a filter both become FILTER with a message naming the
 * field. Number overflow becomes FILTER too when `numbers` is set, so an
 * out-of-range kind reads the same whatever its digit count. JSON, UTF-8,
 * depth, memory and string-length failures keep their own codes. */
static int nostr__filter_retag(nostr_json *r, int rc, const char *msg, int numbers)
{
    if (rc == NOSTR_ERR_FIELD || rc == NOSTR_ERR_HEX || (numbers && rc == NOSTR_ERR_TOO_LARGE)) {
        r->err.code = NOSTR_ERR_FILTER;
        r->err.msg = msg;
        return NOSTR_ERR_FILTER;
    }
    return rc;
}

static int nostr__filter_fail_at(nostr_json *r, const char *at, int code, const char *msg)
{
    if (!r->err.code) r->p = at;
    return nostr_json_fail(r, code, msg);
}

/* Begin a list value; `msg` names the field ("ids: expected an array"). */
static int nostr__filter_list_begin(nostr_json *r, const char *msg)
{
    return nostr__filter_retag(r, nostr_json_array_begin(r), msg, 0);
}

/* Next list element: 1 = one follows, 0 = end; fails with TOO_LARGE when
 * the list already holds max_filter_values elements. */
static int nostr__filter_list_next(nostr_json *r, size_t count, const char *too_many)
{
    int more = nostr_json_array_next(r);
    if (more > 0 && count >= r->lim.max_filter_values) return nostr_json_fail(r, NOSTR_ERR_TOO_LARGE, too_many);
    return more;
}

static int nostr__filter_hex_list(nostr_json *r, nostr_arena *a, unsigned char (**out)[32], size_t *count,
                                  const char *not_list, const char *bad_hex, const char *too_many)
{
    size_t cap = 0;
    int rc;
    *out = NULL;
    *count = 0;
    if ((rc = nostr__filter_list_begin(r, not_list))) return rc;
    while ((rc = nostr__filter_list_next(r, *count, too_many)) > 0) {
        unsigned char(*grown)[32] = (unsigned char(*)[32])nostr__filter_grow(a, *out, *count, &cap, 32);
        if (!grown) return nostr_json_fail(r, NOSTR_ERR_NOMEM, "out of memory");
        *out = grown;
        rc = nostr_json_hex(r, (*out)[*count], 32);
        if (rc) return nostr__filter_retag(r, rc, bad_hex, 0);
        (*count)++;
    }
    return rc;
}

static int nostr__filter_kinds(nostr_json *r, nostr_arena *a, nostr_filter *f)
{
    static const char bad[] = "kinds: expected integers in 0..65535";
    size_t cap = 0;
    int rc;
    if ((rc = nostr__filter_list_begin(r, "kinds: expected an array"))) return rc;
    while ((rc = nostr__filter_list_next(r, f->kinds_count, "kinds: too many values")) > 0) {
        unsigned long long k;
        const char *at;
        unsigned *grown = (unsigned *)nostr__filter_grow(a, f->kinds, f->kinds_count, &cap, sizeof(unsigned));
        if (!grown) return nostr_json_fail(r, NOSTR_ERR_NOMEM, "out of memory");
        f->kinds = grown;
        nostr_json_peek(r);
        at = r->p;
        rc = nostr_json_uint64(r, &k);
        if (rc) return nostr__filter_retag(r, rc, bad, 1);
        if (k > 65535) return nostr__filter_fail_at(r, at, NOSTR_ERR_FILTER, bad);
        f->kinds[f->kinds_count++] = (unsigned)k;
    }
    return rc;
}

static int nostr__filter_tag(nostr_json *r, nostr_arena *a, nostr_tag_filter *t)
{
    size_t cap = 0;
    int rc;
    if ((rc = nostr__filter_list_begin(r, "#<letter>: expected an array of strings"))) return rc;
    while ((rc = nostr__filter_list_next(r, t->count, "#<letter>: too many values")) > 0) {
        nostr_str *grown = (nostr_str *)nostr__filter_grow(a, t->values, t->count, &cap, sizeof(nostr_str));
        if (!grown) return nostr_json_fail(r, NOSTR_ERR_NOMEM, "out of memory");
        t->values = grown;
        rc = nostr_json_string(r, a, &t->values[t->count]);
        if (rc) return nostr__filter_retag(r, rc, "#<letter>: expected an array of strings", 0);
        t->count++;
    }
    return rc;
}

/* A non-negative integer that fits a long long (since, until). */
static int nostr__filter_time(nostr_json *r, long long *out, const char *bad)
{
    unsigned long long v;
    const char *at;
    int rc;
    nostr_json_peek(r);
    at = r->p;
    rc = nostr_json_uint64(r, &v);
    if (rc) return nostr__filter_retag(r, rc, bad, 1);
    if (v > 9223372036854775807ull) return nostr__filter_fail_at(r, at, NOSTR_ERR_FILTER, bad);
    *out = (long long)v;
    return NOSTR_OK;
}

static int nostr__filter_is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ---- sorting: parse leaves ids, authors, kinds and tag values sorted
 * ascending without duplicates, so matching can binary-search ---- */

static int nostr__filter_cmp32(const void *x, const void *y)
{
    return memcmp(x, y, 32);
}

static int nostr__filter_cmp_kind(const void *x, const void *y)
{
    unsigned a = *(const unsigned *)x, b = *(const unsigned *)y;
    return a < b ? -1 : a > b;
}

/* Bytewise order, a prefix before the longer string. */
static int nostr__filter_cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

static int nostr__filter_cmp_str(const void *x, const void *y)
{
    const nostr_str *a = (const nostr_str *)x, *b = (const nostr_str *)y;
    if (!a->len || !b->len) return a->len < b->len ? -1 : a->len > b->len;
    return nostr__filter_cmp_bytes(a->ptr, a->len, b->ptr, b->len);
}

/* Sort then drop adjacent duplicates; returns the new count. */
static size_t nostr__filter_sort_unique(void *base, size_t n, size_t elem, int (*cmp)(const void *, const void *))
{
    unsigned char *p = (unsigned char *)base;
    size_t i, kept = 0;
    if (n < 2) return n;
    qsort(base, n, elem, cmp);
    for (i = 1; i < n; i++) {
        if (cmp(p + kept * elem, p + i * elem) != 0) {
            kept++;
            if (kept != i) memcpy(p + kept * elem, p + i * elem, elem);
        }
    }
    return kept + 1;
}

static void nostr__filter_canonicalize(nostr_filter *f)
{
    size_t i;
    f->ids_count = nostr__filter_sort_unique(f->ids, f->ids_count, 32, nostr__filter_cmp32);
    f->authors_count = nostr__filter_sort_unique(f->authors, f->authors_count, 32, nostr__filter_cmp32);
    f->kinds_count = nostr__filter_sort_unique(f->kinds, f->kinds_count, sizeof(unsigned), nostr__filter_cmp_kind);
    for (i = 0; i < f->tags_count; i++)
        f->tags[i].count =
            nostr__filter_sort_unique(f->tags[i].values, f->tags[i].count, sizeof(nostr_str), nostr__filter_cmp_str);
    f->fields |= NOSTR_FILTER_SORTED;
}

/* ---- parsing ---- */

/* One "#x" member: x must be a letter not seen before in this filter. */
static int nostr__filter_tag_member(nostr_json *r, nostr_arena *a, nostr_filter *f, char name, size_t *tags_cap,
                                    const char *key_at)
{
    size_t i;
    nostr_tag_filter *grown;
    for (i = 0; i < f->tags_count; i++)
        if (f->tags[i].name == name)
            return nostr__filter_fail_at(r, key_at, NOSTR_ERR_FILTER, "duplicate filter field");
    grown = (nostr_tag_filter *)nostr__filter_grow(a, f->tags, f->tags_count, tags_cap, sizeof(nostr_tag_filter));
    if (!grown) return nostr_json_fail(r, NOSTR_ERR_NOMEM, "out of memory");
    f->tags = grown;
    f->tags[f->tags_count].name = name;
    f->tags[f->tags_count].values = NULL;
    f->tags[f->tags_count].count = 0;
    f->tags_count++;
    return nostr__filter_tag(r, a, &f->tags[f->tags_count - 1]);
}

/* Which NOSTR_FILTER_* bit a plain key names, or 0. */
static unsigned nostr__filter_field_bit(const char *key, size_t len)
{
    static const struct {
        const char *name;
        unsigned bit;
    } fields[] = {{"ids", NOSTR_FILTER_IDS},      {"authors", NOSTR_FILTER_AUTHORS}, {"kinds", NOSTR_FILTER_KINDS},
                  {"since", NOSTR_FILTER_SINCE},  {"until", NOSTR_FILTER_UNTIL},     {"limit", NOSTR_FILTER_LIMIT},
                  {"search", NOSTR_FILTER_SEARCH}};
    size_t i;
    for (i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strlen(fields[i].name) == len && memcmp(fields[i].name, key, len) == 0) return fields[i].bit;
    return 0;
}

static int nostr__filter_field(nostr_json *r, nostr_arena *a, nostr_filter *f, unsigned bit)
{
    int rc;
    switch (bit) {
    case NOSTR_FILTER_IDS:
        return nostr__filter_hex_list(r, a, &f->ids, &f->ids_count, "ids: expected an array",
                                      "ids: expected 64-char lowercase hex", "ids: too many values");
    case NOSTR_FILTER_AUTHORS:
        return nostr__filter_hex_list(r, a, &f->authors, &f->authors_count, "authors: expected an array",
                                      "authors: expected 64-char lowercase hex", "authors: too many values");
    case NOSTR_FILTER_KINDS: return nostr__filter_kinds(r, a, f);
    case NOSTR_FILTER_SINCE: return nostr__filter_time(r, &f->since, "since: expected a non-negative integer");
    case NOSTR_FILTER_UNTIL: return nostr__filter_time(r, &f->until, "until: expected a non-negative integer");
    case NOSTR_FILTER_LIMIT:
        rc = nostr_json_uint64(r, &f->limit);
        return rc ? nostr__filter_retag(r, rc, "limit: expected a non-negative integer", 1) : NOSTR_OK;
    default: /* NOSTR_FILTER_SEARCH */
        rc = nostr_json_string(r, a, &f->search);
        return rc ? nostr__filter_retag(r, rc, "search: expected a string", 0) : NOSTR_OK;
    }
}

NOSTRDEF int nostr_filter_parse_json(nostr_filter *f, nostr_json *r, nostr_arena *a)
{
    char key[16];
    size_t keylen, tags_cap = 0;
    int rc;
    memset(f, 0, sizeof *f);
    rc = nostr_json_object_begin(r);
    if (rc) return nostr__filter_retag(r, rc, "filter must be an object", 0);
    for (;;) {
        const char *key_at = r->p;
        unsigned bit;
        rc = nostr_json_object_next(r, key, sizeof key, &keylen);
        if (rc <= 0) break;
        /* Point errors about the key at the key itself, not past its colon. */
        while (*key_at != '"') key_at++;
        bit = nostr__filter_field_bit(key, keylen);
        if (bit) {
            if (f->fields & bit) return nostr__filter_fail_at(r, key_at, NOSTR_ERR_FILTER, "duplicate filter field");
            f->fields |= bit;
            rc = nostr__filter_field(r, a, f, bit);
        } else if (keylen == 2 && key[0] == '#' && nostr__filter_is_letter(key[1])) {
            rc = nostr__filter_tag_member(r, a, f, key[1], &tags_cap, key_at);
        } else {
            return nostr__filter_fail_at(r, key_at, NOSTR_ERR_FILTER, "unknown filter field");
        }
        if (rc) return rc;
    }
    if (rc) return rc;
    nostr__filter_canonicalize(f);
    return NOSTR_OK;
}

NOSTRDEF int nostr_filter_parse(nostr_filter *f, const char *json, size_t len, nostr_arena *a, const nostr_limits *lim,
                                nostr_error *err)
{
    nostr_json r;
    int rc;
    if (!f || (!json && len) || !a) return nostr__fail(err, NOSTR_ERR_ARG, 0, "invalid argument");
    nostr_json_init(&r, json ? json : "", len, lim);
    rc = nostr_filter_parse_json(f, &r, a);
    if (!rc) rc = nostr_json_finish(&r);
    if (rc) return nostr__fail(err, rc, r.err.offset, r.err.msg);
    return NOSTR_OK;
}

/* ---- writing ---- */

static int nostr__filter_write_key(nostr_buf *out, int *first, const char *key)
{
    int rc;
    if (!*first && (rc = nostr_buf_append_char(out, ','))) return rc;
    *first = 0;
    if ((rc = nostr_buf_append_char(out, '"'))) return rc;
    if ((rc = nostr_buf_append_str(out, key))) return rc;
    return nostr_buf_append_str(out, "\":");
}

static int nostr__filter_write_hex_list(nostr_buf *out, const unsigned char (*v)[32], size_t n)
{
    size_t i;
    int rc;
    if ((rc = nostr_buf_append_char(out, '['))) return rc;
    for (i = 0; i < n; i++) {
        if (i && (rc = nostr_buf_append_char(out, ','))) return rc;
        if ((rc = nostr_buf_append_char(out, '"'))) return rc;
        if ((rc = nostr_buf_append_hex(out, v[i], 32))) return rc;
        if ((rc = nostr_buf_append_char(out, '"'))) return rc;
    }
    return nostr_buf_append_char(out, ']');
}

static int nostr__filter_write_kinds(nostr_buf *out, const unsigned *kinds, size_t n)
{
    size_t i;
    int rc;
    if ((rc = nostr_buf_append_char(out, '['))) return rc;
    for (i = 0; i < n; i++) {
        if (i && (rc = nostr_buf_append_char(out, ','))) return rc;
        if ((rc = nostr_buf_append_u64(out, kinds[i]))) return rc;
    }
    return nostr_buf_append_char(out, ']');
}

static int nostr__filter_write_tag(nostr_buf *out, int *first, const nostr_tag_filter *t)
{
    char key[3];
    size_t i;
    int rc;
    key[0] = '#';
    key[1] = t->name;
    key[2] = 0;
    if ((rc = nostr__filter_write_key(out, first, key))) return rc;
    if ((rc = nostr_buf_append_char(out, '['))) return rc;
    for (i = 0; i < t->count; i++) {
        if (i && (rc = nostr_buf_append_char(out, ','))) return rc;
        if ((rc = nostr_json_write_string(out, t->values[i].ptr, t->values[i].len))) return rc;
    }
    return nostr_buf_append_char(out, ']');
}

/* A filter this module would refuse to parse is refused here too. */
static int nostr__filter_writable(const nostr_filter *f)
{
    size_t i, j;
    if ((f->fields & NOSTR_FILTER_SINCE) && f->since < 0) return 0;
    if ((f->fields & NOSTR_FILTER_UNTIL) && f->until < 0) return 0;
    for (i = 0; i < f->kinds_count && (f->fields & NOSTR_FILTER_KINDS); i++)
        if (f->kinds[i] > 65535) return 0;
    for (i = 0; i < f->tags_count; i++) {
        if (!nostr__filter_is_letter(f->tags[i].name)) return 0;
        for (j = 0; j < i; j++)
            if (f->tags[j].name == f->tags[i].name) return 0;
    }
    return 1;
}

static int nostr__filter_write_body(const nostr_filter *f, nostr_buf *out)
{
    int first = 1, rc;
    size_t i;
    if ((rc = nostr_buf_append_char(out, '{'))) return rc;
    if (f->fields & NOSTR_FILTER_IDS) {
        if ((rc = nostr__filter_write_key(out, &first, "ids"))) return rc;
        if ((rc = nostr__filter_write_hex_list(out, (const unsigned char(*)[32])f->ids, f->ids_count))) return rc;
    }
    if (f->fields & NOSTR_FILTER_AUTHORS) {
        if ((rc = nostr__filter_write_key(out, &first, "authors"))) return rc;
        if ((rc = nostr__filter_write_hex_list(out, (const unsigned char(*)[32])f->authors, f->authors_count)))
            return rc;
    }
    if (f->fields & NOSTR_FILTER_KINDS) {
        if ((rc = nostr__filter_write_key(out, &first, "kinds"))) return rc;
        if ((rc = nostr__filter_write_kinds(out, f->kinds, f->kinds_count))) return rc;
    }
    for (i = 0; i < f->tags_count; i++)
        if ((rc = nostr__filter_write_tag(out, &first, &f->tags[i]))) return rc;
    if (f->fields & NOSTR_FILTER_SINCE) {
        if ((rc = nostr__filter_write_key(out, &first, "since"))) return rc;
        if ((rc = nostr_buf_append_i64(out, f->since))) return rc;
    }
    if (f->fields & NOSTR_FILTER_UNTIL) {
        if ((rc = nostr__filter_write_key(out, &first, "until"))) return rc;
        if ((rc = nostr_buf_append_i64(out, f->until))) return rc;
    }
    if (f->fields & NOSTR_FILTER_LIMIT) {
        if ((rc = nostr__filter_write_key(out, &first, "limit"))) return rc;
        if ((rc = nostr_buf_append_u64(out, f->limit))) return rc;
    }
    if (f->fields & NOSTR_FILTER_SEARCH) {
        if ((rc = nostr__filter_write_key(out, &first, "search"))) return rc;
        if ((rc = nostr_json_write_string(out, f->search.ptr ? f->search.ptr : "", f->search.len))) return rc;
    }
    return nostr_buf_append_char(out, '}');
}

NOSTRDEF int nostr_filter_to_json(const nostr_filter *f, nostr_buf *out)
{
    size_t start;
    int rc;
    if (!f || !out || !nostr__filter_writable(f)) return NOSTR_ERR_ARG;
    start = out->len;
    rc = nostr__filter_write_body(f, out);
    if (rc) {
        /* Leave no half-written filter behind. */
        out->len = start;
        if (out->data && start < out->cap) out->data[start] = 0;
    }
    return rc;
}

/* ---- matching ---- */

/* Is key in the list of n elements of `size` bytes? Binary search when the
 * parser sorted the list, a scan for lists built by hand. */
static int nostr__filter_has(const void *list, size_t n, size_t size, const void *key,
                             int (*cmp)(const void *, const void *), int sorted)
{
    const unsigned char *base = (const unsigned char *)list;
    size_t i;
    if (sorted) {
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = cmp(base + mid * size, key);
            if (c == 0) return 1;
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        return 0;
    }
    for (i = 0; i < n; i++)
        if (cmp(base + i * size, key) == 0) return 1;
    return 0;
}

/* Does the event carry a tag [t->name, v, ...] with v one of t's values? */
static int nostr__filter_tag_matches(const nostr_tag_filter *t, const nostr_event *ev, int sorted)
{
    size_t i;
    for (i = 0; i < ev->tag_count; i++) {
        const nostr_tag *tag = &ev->tags[i];
        if (tag->count >= 2 && tag->items[0].len == 1 && tag->items[0].ptr[0] == t->name &&
            nostr__filter_has(t->values, t->count, sizeof(nostr_str), &tag->items[1], nostr__filter_cmp_str, sorted))
            return 1;
    }
    return 0;
}

NOSTRDEF int nostr_filter_matches(const nostr_filter *f, const nostr_event *ev)
{
    int sorted = (f->fields & NOSTR_FILTER_SORTED) != 0;
    size_t i;
    if ((f->fields & NOSTR_FILTER_SINCE) && ev->created_at < f->since) return 0;
    if ((f->fields & NOSTR_FILTER_UNTIL) && ev->created_at > f->until) return 0;
    if ((f->fields & NOSTR_FILTER_KINDS) &&
        !nostr__filter_has(f->kinds, f->kinds_count, sizeof(unsigned), &ev->kind, nostr__filter_cmp_kind, sorted))
        return 0;
    if ((f->fields & NOSTR_FILTER_IDS) &&
        !nostr__filter_has(f->ids, f->ids_count, 32, ev->id, nostr__filter_cmp32, sorted))
        return 0;
    if ((f->fields & NOSTR_FILTER_AUTHORS) &&
        !nostr__filter_has(f->authors, f->authors_count, 32, ev->pubkey, nostr__filter_cmp32, sorted))
        return 0;
    for (i = 0; i < f->tags_count; i++)
        if (!nostr__filter_tag_matches(&f->tags[i], ev, sorted)) return 0;
    return 1;
}

NOSTRDEF int nostr_filters_match(const nostr_filter *fs, size_t n, const nostr_event *ev)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (nostr_filter_matches(&fs[i], ev)) return 1;
    return 0;
}

NOSTRDEF int nostr_filter_can_match(const nostr_filter *f)
{
    size_t i;
    if ((f->fields & NOSTR_FILTER_IDS) && !f->ids_count) return 0;
    if ((f->fields & NOSTR_FILTER_AUTHORS) && !f->authors_count) return 0;
    if ((f->fields & NOSTR_FILTER_KINDS) && !f->kinds_count) return 0;
    for (i = 0; i < f->tags_count; i++)
        if (!f->tags[i].count) return 0;
    if ((f->fields & NOSTR_FILTER_SINCE) && (f->fields & NOSTR_FILTER_UNTIL) && f->since > f->until) return 0;
    return 1;
}
