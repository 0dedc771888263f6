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
 *   deletions(id, pubkey)                      NIP-09 "e" targets
 *   deleted_coords(pubkey, kind, d_tag, until_ts)  NIP-09 "a" targets
 *   nostr_meta(key, value)                     schema version
 * ids and pubkeys are bytea (32 bytes); content holds the event's content
 * with ASCII letters lowered, for NIP-50 search (content LIKE '%word%' per
 * word, a scan); raw holds the JSON text as it was put.
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
/* Write queued puts in one transaction, then complete every put written
 * since the last commit. NOSTR_OK, or the error their completions got. */
NOSTRDEF int nostr_pgwire_commit(nostr_pgwire *s);
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

#endif /* NOSTR_WITH_PGWIRE */
