/* ---- event: NIP-01 events, canonical form, id, validation ----
 *
 * Ingest is bounded by signature verification (tens of microseconds), so
 * the steps are separate and cheap ones come first:
 *
 *   nostr_event_parse      JSON -> struct (into an arena; no other heap use)
 *   nostr_event_check      id == SHA-256(canonical form), kind and
 *                          created_at ranges: a few microseconds
 *   (the caller drops duplicates by id here, before any signature work)
 *   nostr_event_verify     BIP-340 signature; thread-safe
 *   nostr_event_verify_batch  the same over an array (a batch backend can
 *                          replace it later without changing callers)
 *
 * Canonical form (NIP-01): [0,<pubkey hex>,<created_at>,<kind>,<tags>,
 * <content>] with no white space and strings escaped exactly as
 * JSON.stringify does, which is what nostr-tools and the major relays
 * hash: \" \\ \n \r \t \b \f as two-character escapes, every other byte
 * below 0x20 as \u00xx with lowercase hex, and everything else (including
 * '/', DEL, U+2028/2029 and all non-ASCII) as raw UTF-8. */

typedef struct nostr_tag {
    nostr_str *items;
    size_t count;
} nostr_tag;

typedef struct nostr_event {
    unsigned char id[32];
    unsigned char pubkey[32];
    long long created_at;
    unsigned kind; /* 0..65535 */
    nostr_tag *tags;
    size_t tag_count;
    nostr_str content;
    unsigned char sig[64];
    /* Where the event's JSON object lay in the parsed input (offset and
     * length into the caller's buffer), so stores and relays can keep and
     * forward the original text. Zero for events built in memory. */
    size_t json_offset, json_len;
} nostr_event;

/* Parse one event object. Every one of the seven fields is required,
 * exactly once; unknown fields are skipped. Strings go into the arena.
 * Errors: NOSTR_ERR_JSON/UTF8/DEPTH/TOO_LARGE for bad JSON, FIELD for a
 * missing, duplicate or mistyped field, HEX for a bad id/pubkey/sig,
 * KIND when kind > 65535. created_at and kind must be plain non-negative
 * integers: a sign, fraction or exponent is FIELD; created_at over 2^63-1
 * is TOO_LARGE. err (optional) gets the message (naming the field) and
 * the offset. No heap use beyond the arena. */
NOSTRDEF int nostr_event_parse(nostr_event *ev, const char *json, size_t len, nostr_arena *a, const nostr_limits *lim,
                               nostr_error *err);
/* Parse an event object at the reader's position (used inside messages). */
NOSTRDEF int nostr_event_parse_json(nostr_event *ev, nostr_json *r, nostr_arena *a);

/* Canonical serialization, appended to out. */
NOSTRDEF int nostr_event_serialize(const nostr_event *ev, nostr_buf *out);
/* id = SHA-256 of the canonical serialization; needs no heap. */
NOSTRDEF void nostr_event_compute_id(const nostr_event *ev, unsigned char out[32]);

/* Validation bounds for nostr_event_check. Zeroed means: any kind in
 * 0..65535 and created_at in 0..2^53 (no clock comparison); each bound
 * left at 0 keeps its default. */
typedef struct nostr_check_opts {
    long long min_created_at, max_created_at; /* both 0: the default range */
} nostr_check_opts;

/* The cheap checks: kind range, created_at range, id matches content.
 * NOSTR_OK, NOSTR_ERR_KIND, NOSTR_ERR_CREATED_AT or NOSTR_ERR_ID. */
NOSTRDEF int nostr_event_check(const nostr_event *ev, const nostr_check_opts *o, nostr_error *err);
/* The signature over ev->id: NOSTR_OK, NOSTR_ERR_PUBKEY or NOSTR_ERR_SIG. */
NOSTRDEF int nostr_event_verify(const nostr_ctx *ctx, const nostr_event *ev);
/* The same with a thread's cache of parsed public keys (NULL: none). */
NOSTRDEF int nostr_event_verify_cached(const nostr_ctx *ctx, nostr_pubkey_cache *cache, const nostr_event *ev);
/* results[i] = nostr_event_verify(ctx, evs[i]); returns how many are valid. */
NOSTRDEF size_t nostr_event_verify_batch(const nostr_ctx *ctx, const nostr_event *const *evs, size_t n, int *results);
/* check + verify. */
NOSTRDEF int nostr_event_validate(const nostr_ctx *ctx, const nostr_event *ev, const nostr_check_opts *o,
                                  nostr_error *err);

/* Set pubkey, id and sig of ev from k (fresh auxiliary randomness). */
NOSTRDEF int nostr_event_sign(nostr_ctx *ctx, nostr_event *ev, const nostr_keys *k);

/* The full event as a JSON object, fields in the order id, pubkey,
 * created_at, kind, tags, content, sig (as nostr-tools writes them). */
NOSTRDEF int nostr_event_to_json(const nostr_event *ev, nostr_buf *out);

/* Kind classes (NIP-01). */
enum { NOSTR_KIND_REGULAR = 0, NOSTR_KIND_REPLACEABLE = 1, NOSTR_KIND_EPHEMERAL = 2, NOSTR_KIND_ADDRESSABLE = 3 };
NOSTRDEF int nostr_kind_class(unsigned kind);

/* Tags. get returns the first tag whose first item is `name` and which
 * has at least two items, or NULL. value returns its second item. */
NOSTRDEF const nostr_tag *nostr_event_tag(const nostr_event *ev, const char *name);
NOSTRDEF const nostr_str *nostr_event_tag_value(const nostr_event *ev, const char *name);
/* The 'd' tag's value, "" when absent (addressable events). */
NOSTRDEF nostr_str nostr_event_d_tag(const nostr_event *ev);
/* NIP-40: the expiration timestamp, or 0 when none or malformed. */
NOSTRDEF long long nostr_event_expiration(const nostr_event *ev);
/* NIP-70: does the event carry the ["-"] tag? (Any tag whose first item
 * is "-" counts.) */
NOSTRDEF int nostr_event_is_protected(const nostr_event *ev);

/* Building events in memory: init zeroes ev and sets kind, created_at
 * and content (copied into the arena). add_tag appends a tag of n items
 * (copied); ev->tags must come from parse, init or add_tag, whose
 * arrays have room implied by tag_count. Then nostr_event_sign. */
NOSTRDEF int nostr_event_init(nostr_event *ev, nostr_arena *a, unsigned kind, long long created_at, const char *content,
                              size_t content_len);
NOSTRDEF int nostr_event_add_tag(nostr_event *ev, nostr_arena *a, const char *const *items, size_t n);
/* Convenience for tags of two to four items: pass NULL for unused. */
NOSTRDEF int nostr_event_add_tag4(nostr_event *ev, nostr_arena *a, const char *name, const char *v1, const char *v2,
                                  const char *v3);
