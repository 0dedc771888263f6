/* ---- store: the interface every event store implements ----
 *
 * The relay (and the gateway) talk to storage only through this struct of
 * function pointers, so a store may answer at once (the built-in store)
 * or later (a database adapter answering from the application's loop).
 * Completion callbacks may run inside the call that started the work or
 * after it returns, but always on the thread that drives the store; each
 * is called exactly once for every call that returned NOSTR_OK (and never
 * when the call returned an error).
 *
 * What a store owns, so that every store behaves the same:
 *   - duplicates by id;
 *   - NIP-01 replaceable kinds (0, 3, 10000-19999: newest per pubkey+kind)
 *     and addressable kinds (30000-39999: newest per pubkey+kind+d tag),
 *     ties to the lowest id; an older version is answered SUPERSEDED;
 *   - NIP-09 deletion: a kind 5 event is stored and removes the events it
 *     names by "e" tag (id) and "a" tag (kind:pubkey:d coordinate, versions
 *     created at or before the deletion), only those with the deletion's
 *     pubkey; a deleted id put again later is answered DELETED;
 *   - NIP-40: queries never return an event whose expiration <= now;
 *     purge removes them;
 *   - NIP-50: a filter's search matches events whose content holds every
 *     word of the query (ASCII case-insensitive);
 *   - queries: each filter's events newest first (created_at descending,
 *     ties by id ascending), at most `limit` of them when the filter has
 *     one, an event matching several filters sent once.
 * The relay owns everything else: validation, policy, ephemeral kinds
 * (never handed to a store), limit caps. */

/* put results, besides negative errors */
enum {
    NOSTR_STORE_SAVED = 0,      /* stored (durably, when done is called) */
    NOSTR_STORE_DUPLICATE = 1,  /* this id is already stored */
    NOSTR_STORE_SUPERSEDED = 2, /* a newer version of this replaceable/addressable event is stored */
    NOSTR_STORE_DELETED = 3     /* a stored deletion (NIP-09) names this event */
};

/* put finished: result is a NOSTR_STORE_* value or a negative error code;
 * msg is NULL or a human-readable detail valid during the call. */
typedef void (*nostr_store_put_fn)(void *user, int result, const char *msg);
/* One query result: the event's JSON text as it was put (never
 * re-serialised), valid during the call. */
typedef void (*nostr_store_row_fn)(void *user, const char *json, size_t len);
/* A query or count finished: rc NOSTR_OK or a negative error; count is
 * the number of matching events (count) or of rows sent (query). */
typedef void (*nostr_store_done_fn)(void *user, int rc, unsigned long long count);

typedef struct nostr_store {
    void *self;
    /* Store ev; json/len is the event's JSON text (ev->json_offset/len
     * already applied), kept verbatim. Both are valid only during the
     * call: a store copies what it keeps. done(user, result, msg). */
    int (*put)(void *self, const nostr_event *ev, const char *json, size_t len, nostr_store_put_fn done, void *user);
    /* The events matching any of the n filters (see above), each through
     * row, then done. now (unix seconds) hides expired events. */
    int (*query)(void *self, const nostr_filter *filters, size_t n, long long now, nostr_store_row_fn row,
                 nostr_store_done_fn done, void *user);
    /* How many stored events match any of the filters (limit ignored). */
    int (*count)(void *self, const nostr_filter *filters, size_t n, long long now, nostr_store_done_fn done,
                 void *user);
    /* Is this id stored? 1 yes, 0 no, -1 cannot say without waiting (the
     * relay then verifies and lets put find the duplicate). Optional
     * (NULL: always -1). Must not block. */
    int (*has)(void *self, const unsigned char id[32]);
    /* Make finished puts durable and complete them (group commit: one
     * fsync for every put since the last commit). The application calls
     * it from its loop, e.g. once per iteration. Optional. */
    int (*commit)(void *self);
    /* Remove events expired at now (NIP-40); returns how many or an error. */
    long long (*purge)(void *self, long long now);
    /* Release everything; pending callbacks are not called. */
    void (*destroy)(void *self);
    /* 1 when queries see a put at once, before its completion (the
     * built-in store); 0 when only after (pgwire). The relay uses it so
     * that a REQ whose stored events already held an event does not get
     * it again live when the put completes. */
    int visible_at_put;
} nostr_store;
