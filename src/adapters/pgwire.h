/* ---- pgwire: a store over PostgreSQL or CockroachDB (libpq) ----
 *
 * Compiled in with NOSTR_WITH_PGWIRE (link -lpq). SQL both databases
 * accept: INSERT ... ON CONFLICT (id) DO NOTHING (never UPSERT), no
 * extensions, the raw event JSON kept as text and returned verbatim,
 * filter values always bound as parameters (lists as arrays: id =
 * ANY($1)), statements prepared once per connection, every write
 * transaction SERIALIZABLE and retried on SQLSTATE 40001. Schema
 * (docs/database.md has it with each index and the filter it serves):
 *   events(id, pubkey, created_at, kind, d_tag, expiration, content, raw)
 *   tags(name, value, created_at, event_id)   single-letter tags
 *   words(word, created_at, event_id)          content words, NIP-50 search
 *   deletions(id, pubkey)                      NIP-09 "e" targets
 *   deleted_coords(pubkey, kind, d_tag, until_ts)  NIP-09 "a" targets
 *   nostr_meta(key, value)                     schema version
 * ids and pubkeys are bytea (32 bytes); content holds the event's content
 * with ASCII letters lowered; words its first 64 distinct words (runs of
 * ASCII letters, digits and UTF-8, 2 to 40 bytes, longer ones cut), so a
 * NIP-50 search reads one word's index newest first: each search word
 * must be a whole word of the content, ASCII case-insensitive; a term with
 * no word of 2 bytes ("a", "%") is a substring scan (LIKE). An older
 * database's words table is filled at open with create_schema;
 * raw holds the JSON text as it was put. The gateway's
 * tables (gateway_relays, event_relays) are created apart, by
 * nostr_pgwire_gateway_schema (below).
 *
 * Puts are batched: put queues the event; commit writes every queued put
 * in one transaction (duplicates, replaceable versions and deletions
 * decided inside it, in put order), then calls their completions. A
 * query, count or purge first writes queued puts (so it sees them) but
 * leaves their completions to commit. has() answers 1 for ids this store
 * stored or found stored recently (a small cache), otherwise -1.
 *
 * The libpq connection is blocking: use the store from the loop for small
 * relays, or from a thread of its own (its callbacks then run on that
 * thread; hand results back to the loop through a queue). Put
 * connect_timeout in the conninfo. A lost connection is reopened at the
 * next call, and the statement or transaction it broke is run once more;
 * when a COMMIT's fate is unknown, the retry answers the batch's own
 * events SAVED. libpq allocates with malloc; the store's own memory goes
 * through cfg->al. */
#ifdef NOSTR_WITH_PGWIRE

typedef struct nostr_pgwire nostr_pgwire;

typedef struct nostr_pgwire_config {
    const char *conninfo;      /* libpq connection string or URI */
    int create_schema;         /* CREATE TABLE/INDEX IF NOT EXISTS at open */
    const nostr_allocator *al; /* NULL = C library */
    nostr_log_fn log;          /* optional: connection and server errors */
    void *log_user;
} nostr_pgwire_config;

/* Connect (and create the schema when asked). On failure *out is NULL and
 * err gets a static reason; the server's or libpq's words go to the log. */
NOSTRDEF int nostr_pgwire_open(nostr_pgwire **out, const nostr_pgwire_config *cfg, nostr_error *err);
/* The store interface over it; its destroy frees the store without
 * writing queued puts or calling their completions. */
NOSTRDEF nostr_store nostr_pgwire_iface(nostr_pgwire *s);
/* Write queued puts (and provenance records, nostr_pgwire_seen) in one
 * transaction, then complete every put written since the last commit.
 * NOSTR_OK, or the error their completions got (or, with no failed put,
 * the error that dropped provenance records since the last commit). */
NOSTRDEF int nostr_pgwire_commit(nostr_pgwire *s);
/* Pipelined commit, for an application with a thread to spare: the
 * database's time off its loop. begin (on the store's thread) hands the
 * queued puts and provenance records to a batch, or sets *out to NULL
 * when nothing is queued; write (on any thread) runs the transaction on
 * the batch's own connection, opened at its first write; end (on the
 * store's thread again) completes the batch's puts, as commit would, and
 * returns what commit would. One batch is out at a time (begin says
 * NOSTR_ERR_BUSY meanwhile) and commit does nothing while one is: puts
 * made meanwhile wait for the next batch, so batches are written in
 * order. Queries keep using the store's connection. End the batch out
 * before close. */
typedef struct nostr_pgwire_batch nostr_pgwire_batch;
NOSTRDEF int nostr_pgwire_commit_begin(nostr_pgwire *s, nostr_pgwire_batch **out);
NOSTRDEF int nostr_pgwire_commit_write(nostr_pgwire_batch *b);
NOSTRDEF int nostr_pgwire_commit_end(nostr_pgwire *s, nostr_pgwire_batch *b);
/* Commit, then disconnect and free. */
NOSTRDEF void nostr_pgwire_close(nostr_pgwire *s);
/* The last server or connection error (static or owned by s), or "". */
NOSTRDEF const char *nostr_pgwire_last_error(const nostr_pgwire *s);
/* The SQL this store runs for these filters and the server's plan for it
 * (EXPLAIN, or EXPLAIN ANALYZE when analyze is set), appended to out as
 * text: for docs and for operators checking that a filter is an index
 * scan. */
NOSTRDEF int nostr_pgwire_explain(nostr_pgwire *s, const nostr_filter *filters, size_t n, long long now, int analyze,
                                  nostr_buf *out);

/* ---- the aggregating gateway's tables (docs/database.md, "Gateway
 * tables"). Same connection, same reconnect and retry rules as the store.
 * Row callbacks get pointers valid only during the call. ---- */

/* Create the gateway's tables and index if missing (idempotent, safe at
 * every start; the store's own schema must exist):
 *   gateway_relays(id integer PRIMARY KEY, url text NOT NULL UNIQUE,
 *                  filters text NOT NULL, added_at bigint NOT NULL,
 *                  since_ts bigint NOT NULL DEFAULT 0)
 *       the upstream list; filters is a JSON array of filter objects,
 *       stored verbatim; since_ts the watermark (newest created_at seen)
 *   event_relays(event_id bytea, relay_id integer, first_seen bigint,
 *                PRIMARY KEY (event_id, relay_id))
 *       provenance: which relays delivered each event, first seen when
 *   event_relays_relay_idx ON event_relays (relay_id, first_seen DESC, event_id)
 *       "events first seen on relay R, newest first" */
NOSTRDEF int nostr_pgwire_gateway_schema(nostr_pgwire *s);

/* Queue a provenance record: event id was delivered by relay relay_id,
 * first seen at first_seen (unix s). The next write of the queue (commit,
 * or the flush a query does) writes it in the same transaction as the
 * queued puts, after them, and only when the event is stored (a put the
 * batch refused leaves no record); the first sighting per (event, relay)
 * wins, a redelivery changes nothing. A commit with only records queued
 * writes them. When that transaction fails the records are dropped and
 * commit returns the error (the caller redelivers). */
NOSTRDEF int nostr_pgwire_seen(nostr_pgwire *s, const unsigned char id[32], int relay_id, long long first_seen);

/* Provenance of n events: row is called once per (event, relay) pair
 * recorded, by event id, then first_seen, then relay_id. One statement. */
NOSTRDEF int nostr_pgwire_seen_on(nostr_pgwire *s, const unsigned char (*ids)[32], size_t n,
                                  void (*row)(void *user, const unsigned char id[32], int relay_id,
                                              long long first_seen),
                                  void *user);

/* The upstream list. */
typedef struct nostr_pgwire_relay_row {
    int id;              /* > 0, chosen by the caller (the gateway) */
    const char *url;     /* unique */
    const char *filters; /* a JSON array of filter objects; NULL on save: [{}] */
    long long added_at;  /* unix s */
    long long since_ts;  /* watermark, unix s */
} nostr_pgwire_relay_row;

/* Every saved upstream, by id. */
NOSTRDEF int nostr_pgwire_relays_load(nostr_pgwire *s, void (*row)(void *user, const nostr_pgwire_relay_row *r),
                                      void *user);
/* Insert r, or when its id exists update url and filters (added_at and
 * since_ts are kept). NOSTR_ERR_BUSY when another id has the url. */
NOSTRDEF int nostr_pgwire_relay_save(nostr_pgwire *s, const nostr_pgwire_relay_row *r);
/* Forget an upstream (no error when unknown). Its event_relays rows stay:
 * they are history. */
NOSTRDEF int nostr_pgwire_relay_delete(nostr_pgwire *s, int id);
/* Move an upstream's watermark forward: since_ts = greatest(since_ts,
 * since_ts given); an older value changes nothing. */
NOSTRDEF int nostr_pgwire_relay_since(nostr_pgwire *s, int id, long long since_ts);

/* Ids of stored events with created_at >= since, newest first (ties by
 * lowest id), at most max: for warming the gateway's dedup set at start.
 * Read in pages of 10,000 rows (each a statement), so a large max does
 * not hold every id in memory at once. */
NOSTRDEF int nostr_pgwire_recent_ids(nostr_pgwire *s, long long since, size_t max,
                                     void (*row)(void *user, const unsigned char id[32]), void *user);

#endif /* NOSTR_WITH_PGWIRE */
