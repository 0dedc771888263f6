/* ---- filter: NIP-01 filters: parse, serialize, match ---- */

typedef struct nostr_tag_filter {
    char name;         /* the letter after '#': a-z or A-Z */
    nostr_str *values; /* match when the event has a tag [name, value, ...] */
    size_t count;
} nostr_tag_filter;

enum {
    NOSTR_FILTER_IDS = 1 << 0,
    NOSTR_FILTER_AUTHORS = 1 << 1,
    NOSTR_FILTER_KINDS = 1 << 2,
    NOSTR_FILTER_SINCE = 1 << 3,
    NOSTR_FILTER_UNTIL = 1 << 4,
    NOSTR_FILTER_LIMIT = 1 << 5,
    NOSTR_FILTER_SEARCH = 1 << 6,
    /* Not a JSON field: ids, authors, kinds and every tag's values are
     * sorted ascending (bytewise) without duplicates, so matching may
     * binary-search. Parsing sets it; a filter built or edited by hand
     * leaves it clear and is matched by linear scan. */
    NOSTR_FILTER_SORTED = 1 << 7
};

/* A field is present when its bit is in `fields` (an empty list is
 * present and matches nothing, as NIP-01 reads). */
typedef struct nostr_filter {
    unsigned fields;
    unsigned char (*ids)[32];
    size_t ids_count;
    unsigned char (*authors)[32];
    size_t authors_count;
    unsigned *kinds;
    size_t kinds_count;
    nostr_tag_filter *tags;
    size_t tags_count;
    long long since, until;
    unsigned long long limit;
    nostr_str search; /* NIP-50, kept verbatim; matching is the store's job */
} nostr_filter;

/* Parse one filter object at the reader's position, or from a buffer.
 * ids and authors must be 64-char lowercase hex, kinds integers in
 * 0..65535, since/until/limit non-negative integers, "#x" keys (x a
 * single ASCII letter) lists of strings; unknown keys are rejected with
 * NOSTR_ERR_FILTER (a relay that ignored them would answer more than was
 * asked). Errors: NOSTR_ERR_FILTER for anything well-formed JSON can get
 * wrong in a filter - not an object, a wrongly typed value, bad hex
 * (NOT NOSTR_ERR_HEX), a number out of range, a duplicate or unknown key
 * - with a message naming the field ("kinds: expected integers in
 * 0..65535"); NOSTR_ERR_TOO_LARGE when a list holds more than
 * lim.max_filter_values values; JSON/UTF8/DEPTH/NOMEM as the reader
 * reports them. Lists are left sorted and deduplicated (see
 * NOSTR_FILTER_SORTED), so nostr_filter_to_json writes them in that
 * canonical order, not the input's. The reader's limits apply to the
 * _json form. */
NOSTRDEF int nostr_filter_parse_json(nostr_filter *f, nostr_json *r, nostr_arena *a);
NOSTRDEF int nostr_filter_parse(nostr_filter *f, const char *json, size_t len, nostr_arena *a, const nostr_limits *lim,
                                nostr_error *err);
/* Keys in the order ids, authors, kinds, #tags (as stored), since, until,
 * limit, search, no white space. NOSTR_ERR_ARG (nothing written) for a
 * filter parse would refuse: a tag name that is not a letter or appears
 * twice, a kind over 65535, a negative since/until. */
NOSTRDEF int nostr_filter_to_json(const nostr_filter *f, nostr_buf *out);
/* Does ev match f (every present field matches)? "#x" matches when ev has
 * a tag whose first item is exactly "x" and whose second item is one of
 * the values; an empty list matches nothing. search and limit are not
 * considered here. */
NOSTRDEF int nostr_filter_matches(const nostr_filter *f, const nostr_event *ev);
/* Can f match any event at all? 0 when a list field is present but
 * empty, or since > until (the limit is not considered). Stores and the
 * subscription index use it to skip such filters. */
NOSTRDEF int nostr_filter_can_match(const nostr_filter *f);
/* Does ev match any of the n filters? */
NOSTRDEF int nostr_filters_match(const nostr_filter *fs, size_t n, const nostr_event *ev);
