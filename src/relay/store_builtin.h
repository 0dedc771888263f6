/* ---- store_builtin: the default store, memory indexes + append-only log ----
 *
 * Every event lives in memory (its JSON text and the fields queries need)
 * with indexes by id, created_at, author, kind and single-letter tag
 * value. Persistence is one append-only log file in a directory: each
 * record is [length, CRC-32C, type, payload]. At open the log is replayed;
 * a torn or corrupt record at the tail (a crash mid-write) is cut off and
 * everything before it is kept. Puts are written at commit: one write and
 * one fsync for all puts since the last commit (group commit), then their
 * completions run with NOSTR_STORE_SAVED. A put is visible to queries and
 * to duplicate checks at once. Compaction rewrites the log without
 * replaced, deleted and purged events (a new file, fsync, rename).
 * With dir NULL the store is memory only (tests, ephemeral relays) and a
 * put completes at once.
 *
 * The log, dir/events.log: records of
 *     u32 payload length | u32 CRC-32C of (type, payload) | u8 type | payload
 * (little-endian): type 1 header "distrise events.log 1" (always first),
 * 2 an event's JSON text as it was put, 3 the 32-byte id of an event
 * purged (NIP-40). Replaced and deleted events need no record: replaying
 * the events in order removes them again. A log whose first record is not
 * that header is refused; bytes cut off at open are kept in
 * events.log.bad. The directory is locked (flock) while a store has it.
 *
 * A failed write or fsync is final: waiting puts complete with
 * NOSTR_ERR_CLOSED and later puts are refused (what was put stays in
 * memory, but not on disk). One thread drives a store. */

typedef struct nostr_store_builtin nostr_store_builtin;

typedef struct nostr_store_builtin_config {
    const char *dir;           /* created if missing; NULL = memory only */
    int no_fsync;              /* benchmarks only: skip fsync (not durable) */
    const nostr_allocator *al; /* NULL = C library */
    nostr_log_fn log;          /* optional: replay and compaction messages */
    void *log_user;
} nostr_store_builtin_config;

/* Open (replaying the log). NOSTR_OK or an error with a reason in err
 * (a log that cannot be read or written, a lock held by another process). */
NOSTRDEF int nostr_store_builtin_open(nostr_store_builtin **out, const nostr_store_builtin_config *cfg,
                                      nostr_error *err);
/* The store interface over it. Its destroy writes what was put but calls
 * no completion (store.h); nostr_store_builtin_close commits first. */
NOSTRDEF nostr_store nostr_store_builtin_iface(nostr_store_builtin *s);
NOSTRDEF int nostr_store_builtin_commit(nostr_store_builtin *s);

/* Pipelined group commit, for an application whose loop must not wait
 * for the disk: the write and fsync of one batch run on another thread
 * while the loop goes on taking puts (they join the next batch).
 *   nostr_store_builtin_commit_begin(s, &b)  loop thread: takes the
 *       records and puts since the last batch; b is NULL when there is
 *       nothing to write (puts already completed, or memory mode)
 *   nostr_store_builtin_commit_write(b)      any thread: write + fsync;
 *       touches only the batch and the log file, never the store
 *   nostr_store_builtin_commit_end(s, b)     loop thread: completes the
 *       batch's puts (SAVED, or NOSTR_ERR_CLOSED when the write failed,
 *       which fails the store as commit does)
 * One batch at a time: while one is out, begin, commit and compact answer
 * NOSTR_ERR_BUSY; end it before close. Puts are visible to queries at
 * once, as with commit; only their completions wait. */
typedef struct nostr_store_builtin_batch nostr_store_builtin_batch;
NOSTRDEF int nostr_store_builtin_commit_begin(nostr_store_builtin *s, nostr_store_builtin_batch **out);
NOSTRDEF int nostr_store_builtin_commit_write(nostr_store_builtin_batch *b);
NOSTRDEF int nostr_store_builtin_commit_end(nostr_store_builtin *s, nostr_store_builtin_batch *b);
/* Rewrite the log with only live events (commits first). Not from inside
 * a completion or row callback. */
NOSTRDEF int nostr_store_builtin_compact(nostr_store_builtin *s);
/* Commit, then close and free. */
NOSTRDEF void nostr_store_builtin_close(nostr_store_builtin *s);

typedef struct nostr_store_builtin_stats {
    unsigned long long events;     /* live events */
    unsigned long long log_bytes;  /* size of the log file */
    unsigned long long dead_bytes; /* log bytes compaction would drop */
    unsigned long long memory;     /* bytes allocated for events and indexes */
    unsigned long long truncated;  /* bytes cut off the log tail at open */
} nostr_store_builtin_stats;
NOSTRDEF void nostr_store_builtin_stats_get(const nostr_store_builtin *s, nostr_store_builtin_stats *st);
