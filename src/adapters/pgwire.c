/* ---- pgwire: definitions ---- */
#ifdef NOSTR_WITH_PGWIRE

/* Type OIDs of the parameters, all sent in binary (the same numbers in
 * PostgreSQL and CockroachDB). */
enum {
    NOSTR__PGWIRE_BYTEA = 17,
    NOSTR__PGWIRE_INT8 = 20,
    NOSTR__PGWIRE_INT4 = 23,
    NOSTR__PGWIRE_TEXT = 25,
    NOSTR__PGWIRE_BYTEA_ARRAY = 1001,
    NOSTR__PGWIRE_INT4_ARRAY = 1007,
    NOSTR__PGWIRE_TEXT_ARRAY = 1009,
    NOSTR__PGWIRE_INT8_ARRAY = 1016
};

/* What a failed statement means for the transaction around it. */
enum {
    NOSTR__PGWIRE_DONE = 0,      /* succeeded */
    NOSTR__PGWIRE_RETRY = 1,     /* 40001 serialization failure, 40P01 deadlock: run it again */
    NOSTR__PGWIRE_LOST = 2,      /* the connection is gone: reconnect, run it again */
    NOSTR__PGWIRE_AMBIGUOUS = 3, /* the commit may or may not have happened (CockroachDB 40003) */
    NOSTR__PGWIRE_FAIL = 4,      /* anything else: report it */
    NOSTR__PGWIRE_NOMEM = 5
};

/* The words table: missing (an old database opened without create_schema:
 * neither written nor read), there but not filled for older events (written,
 * not read: search scans), or ready. */
enum { NOSTR__PGWIRE_WORDS_NONE = 0, NOSTR__PGWIRE_WORDS_PARTIAL = 1, NOSTR__PGWIRE_WORDS_READY = 2 };

#define NOSTR__PGWIRE_TRIES 10       /* attempts of one transaction on 40001 */
#define NOSTR__PGWIRE_CACHE 4096     /* ids remembered for has(); a power of two */
#define NOSTR__PGWIRE_STMTS 64       /* prepared statements kept per connection */
#define NOSTR__PGWIRE_MAX_VALUE 1024 /* longer tag values and d tags are indexed by hash */
#define NOSTR__PGWIRE_SCHEMA "1"     /* nostr_meta 'schema' */
#define NOSTR__PGWIRE_PAGE 10000     /* rows per recent_ids statement */
/* NIP-50 words: nostr_search_next_word (subindex), shared with the
 * built-in store and live matching; shorter than NOSTR_SEARCH_WORD_MIN
 * bytes are not indexed (search scans for them), longer are indexed by
 * their first NOSTR_SEARCH_WORD_MAX bytes. */
#define NOSTR__PGWIRE_WORDS 64       /* distinct words indexed per event: the first 64 */
#define NOSTR__PGWIRE_FILL_PAGE 500  /* events per statement when filling words at open */

/* The schema. Every statement is accepted by PostgreSQL and CockroachDB
 * but the tags table's key: its index must run (name, value, created_at
 * DESC, event_id) so a tag filter with a limit reads only the rows it
 * returns. PostgreSQL cannot order a primary key DESC, so there it is a
 * unique index on a table without one; CockroachDB gets it as the primary
 * key (a table without one would get a sequential hidden key, and every
 * insert would land on one range). The words table (NIP-50 search) is
 * keyed the same way. docs/database.md says which filter each index
 * serves. */
static const char *const nostr__pgwire_schema[] = {
    "CREATE TABLE IF NOT EXISTS events (id bytea PRIMARY KEY, pubkey bytea NOT NULL, created_at bigint NOT NULL, "
    "kind integer NOT NULL, d_tag bytea, expiration bigint, content text NOT NULL, raw text NOT NULL)",
    "CREATE INDEX IF NOT EXISTS events_created_at_idx ON events (created_at DESC, id)",
    "CREATE INDEX IF NOT EXISTS events_pubkey_idx ON events (pubkey, created_at DESC, id)",
    "CREATE INDEX IF NOT EXISTS events_kind_idx ON events (kind, created_at DESC, id)",
    "CREATE INDEX IF NOT EXISTS events_pubkey_kind_idx ON events (pubkey, kind, created_at DESC, id)",
    "CREATE INDEX IF NOT EXISTS events_address_idx ON events (pubkey, kind, d_tag) WHERE d_tag IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS events_expiration_idx ON events (expiration) WHERE expiration IS NOT NULL",
    NULL, /* tags: nostr__pgwire_schema_tags_pg or _crdb */
    "CREATE INDEX IF NOT EXISTS tags_event_idx ON tags (event_id)",
    NULL, /* words: nostr__pgwire_schema_words_pg or _crdb */
    "CREATE INDEX IF NOT EXISTS words_event_idx ON words (event_id)",
    "CREATE TABLE IF NOT EXISTS deletions (id bytea NOT NULL, pubkey bytea NOT NULL, PRIMARY KEY (id, pubkey))",
    "CREATE TABLE IF NOT EXISTS deleted_coords (pubkey bytea NOT NULL, kind integer NOT NULL, d_tag bytea NOT NULL, "
    "until_ts bigint NOT NULL, PRIMARY KEY (pubkey, kind, d_tag))",
    "CREATE TABLE IF NOT EXISTS nostr_meta (key text PRIMARY KEY, value text NOT NULL)",
    "INSERT INTO nostr_meta (key, value) VALUES ('schema', '" NOSTR__PGWIRE_SCHEMA "') ON CONFLICT (key) DO NOTHING"};
static const char *const nostr__pgwire_schema_tags_pg[] = {
    "CREATE TABLE IF NOT EXISTS tags (name text NOT NULL, value bytea NOT NULL, created_at bigint NOT NULL, "
    "event_id bytea NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS tags_value_idx ON tags (name, value, created_at DESC, event_id)", NULL};
static const char *const nostr__pgwire_schema_tags_crdb[] = {
    "CREATE TABLE IF NOT EXISTS tags (name text NOT NULL, value bytea NOT NULL, created_at bigint NOT NULL, "
    "event_id bytea NOT NULL, PRIMARY KEY (name, value, created_at DESC, event_id))",
    NULL};
/* NIP-50: each event's distinct content words (nostr_search_next_word),
 * so a search reads one word's index entries newest first, like a tag. */
static const char *const nostr__pgwire_schema_words_pg[] = {
    "CREATE TABLE IF NOT EXISTS words (word text NOT NULL, created_at bigint NOT NULL, event_id bytea NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS words_word_idx ON words (word, created_at DESC, event_id)", NULL};
static const char *const nostr__pgwire_schema_words_crdb[] = {
    "CREATE TABLE IF NOT EXISTS words (word text NOT NULL, created_at bigint NOT NULL, event_id bytea NOT NULL, "
    "PRIMARY KEY (word, created_at DESC, event_id))",
    NULL};

/* The commit's statements. unnest() of several arrays gives one row per
 * index across them: a batch is one statement whatever its size. */
static const char nostr__pgwire_sql_lookup_ids[] =
    "SELECT 0, id, pubkey, kind FROM events WHERE id = ANY($1::bytea[]) "
    "UNION ALL SELECT 1, id, pubkey, 0 FROM deletions WHERE id = ANY($1::bytea[])";
static const char nostr__pgwire_sql_lookup_keys[] =
    "SELECT 0, e.pubkey, e.kind, e.d_tag, e.id, e.created_at FROM events e "
    "JOIN unnest($1::bytea[], $2::int4[], $3::bytea[]) AS k (pubkey, kind, d_tag) "
    "ON e.pubkey = k.pubkey AND e.kind = k.kind AND e.d_tag = k.d_tag "
    "UNION ALL SELECT 1, c.pubkey, c.kind, c.d_tag, c.pubkey, c.until_ts FROM deleted_coords c "
    "JOIN unnest($1::bytea[], $2::int4[], $3::bytea[]) AS k (pubkey, kind, d_tag) "
    "ON c.pubkey = k.pubkey AND c.kind = k.kind AND c.d_tag = k.d_tag";
static const char nostr__pgwire_sql_drop_tags[] = "DELETE FROM tags WHERE event_id = ANY($1::bytea[])";
static const char nostr__pgwire_sql_drop_words[] = "DELETE FROM words WHERE event_id = ANY($1::bytea[])";
static const char nostr__pgwire_sql_drop_events[] = "DELETE FROM events WHERE id = ANY($1::bytea[])";
static const char nostr__pgwire_sql_insert_events[] =
    "INSERT INTO events (id, pubkey, created_at, kind, d_tag, expiration, content, raw) "
    "SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::int8[], $4::int4[], $5::bytea[], $6::int8[], $7::text[], "
    "$8::text[]) ON CONFLICT (id) DO NOTHING";
static const char nostr__pgwire_sql_insert_tags[] =
    "INSERT INTO tags (event_id, name, value, created_at) "
    "SELECT * FROM unnest($1::bytea[], $2::text[], $3::bytea[], $4::int8[]) AS t (event_id, name, value, created_at) "
    "ORDER BY name, value, created_at DESC, event_id ON CONFLICT DO NOTHING";
static const char nostr__pgwire_sql_insert_words[] =
    "INSERT INTO words (event_id, word, created_at) "
    "SELECT * FROM unnest($1::bytea[], $2::text[], $3::int8[]) AS w (event_id, word, created_at) "
    "ORDER BY word, created_at DESC, event_id ON CONFLICT DO NOTHING";
static const char nostr__pgwire_sql_insert_deletions[] =
    "INSERT INTO deletions (id, pubkey) SELECT * FROM unnest($1::bytea[], $2::bytea[]) "
    "ON CONFLICT (id, pubkey) DO NOTHING";
static const char nostr__pgwire_sql_insert_coords[] =
    "INSERT INTO deleted_coords (pubkey, kind, d_tag, until_ts) "
    "SELECT * FROM unnest($1::bytea[], $2::int4[], $3::bytea[], $4::int8[]) "
    "ON CONFLICT (pubkey, kind, d_tag) DO UPDATE SET until_ts = greatest(deleted_coords.until_ts, excluded.until_ts)";
static const char nostr__pgwire_sql_purge_tags[] =
    "DELETE FROM tags WHERE event_id IN (SELECT id FROM events WHERE expiration <= $1::int8)";
static const char nostr__pgwire_sql_purge_words[] =
    "DELETE FROM words WHERE event_id IN (SELECT id FROM events WHERE expiration <= $1::int8)";
static const char nostr__pgwire_sql_purge_events[] = "DELETE FROM events WHERE expiration <= $1::int8";

/* The gateway's tables (nostr_pgwire_gateway_schema), apart from the
 * store's schema: a relay has no use for them. event_relays is keyed by
 * (event_id, relay_id) so a redelivery is one ON CONFLICT DO NOTHING and
 * "which relays had these events" is a primary key lookup; the second
 * index answers "newest events first seen on relay R" in index order
 * (event_id last: a stable order for equal first_seen, and the ids come
 * from the index alone). No foreign keys: rows outlive a removed relay and
 * a deleted event (they are history), and a REFERENCES check would cost a
 * lookup per row in the consumer's batches. */
static const char *const nostr__pgwire_gateway_ddl[] = {
    "CREATE TABLE IF NOT EXISTS gateway_relays (id integer PRIMARY KEY, url text NOT NULL UNIQUE, "
    "filters text NOT NULL, added_at bigint NOT NULL, since_ts bigint NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS event_relays (event_id bytea NOT NULL, relay_id integer NOT NULL, "
    "first_seen bigint NOT NULL, PRIMARY KEY (event_id, relay_id))",
    "CREATE INDEX IF NOT EXISTS event_relays_relay_idx ON event_relays (relay_id, first_seen DESC, event_id)"};

/* Provenance, written in the commit's transaction after the events.
 * Every record is kept, whether its event is stored yet or not: with one
 * queue per upstream (RabbitMQ) a relay's sighting of an event may be
 * consumed before the event itself, which another relay delivered; a
 * record for an event the store refused (superseded, deleted) is history
 * too: that relay did send that id. GROUP BY folds a pair queued twice in
 * one batch to its earliest sighting. */
static const char nostr__pgwire_sql_insert_seen[] =
    "INSERT INTO event_relays (event_id, relay_id, first_seen) "
    "SELECT q.event_id, q.relay_id, min(q.first_seen) "
    "FROM unnest($1::bytea[], $2::int4[], $3::int8[]) AS q (event_id, relay_id, first_seen) "
    "GROUP BY q.event_id, q.relay_id "
    "ON CONFLICT (event_id, relay_id) DO NOTHING";
static const char nostr__pgwire_sql_seen_on[] =
    "SELECT event_id, relay_id, first_seen FROM event_relays WHERE event_id = ANY($1::bytea[]) "
    "ORDER BY event_id, first_seen, relay_id";
static const char nostr__pgwire_sql_relays_load[] =
    "SELECT id, url, filters, added_at, since_ts FROM gateway_relays ORDER BY id";
static const char nostr__pgwire_sql_relay_save[] =
    "INSERT INTO gateway_relays (id, url, filters, added_at, since_ts) "
    "VALUES ($1::int4, $2::text, $3::text, $4::int8, $5::int8) "
    "ON CONFLICT (id) DO UPDATE SET url = excluded.url, filters = excluded.filters";
static const char nostr__pgwire_sql_relay_delete[] = "DELETE FROM gateway_relays WHERE id = $1::int4";
static const char nostr__pgwire_sql_relay_since[] =
    "UPDATE gateway_relays SET since_ts = greatest(since_ts, $2::int8) WHERE id = $1::int4";
/* recent_ids in pages: the first, then each after the last row of the
 * previous one. The range on created_at keeps it an index range scan of
 * events_created_at_idx; only rows tied with the last one are filtered. */
static const char nostr__pgwire_sql_recent_ids[] =
    "SELECT id, created_at FROM events WHERE created_at >= $1::int8 ORDER BY created_at DESC, id LIMIT $2::int8";
static const char nostr__pgwire_sql_recent_ids_after[] =
    "SELECT id, created_at FROM events WHERE created_at >= $1::int8 AND created_at <= $3::int8 "
    "AND (created_at < $3::int8 OR id > $4::bytea) ORDER BY created_at DESC, id LIMIT $2::int8";

/* One queued put: the fields the commit needs, strings as offsets into
 * the store's text buffer (it grows, so no pointers). */
typedef struct nostr__pgwire_put {
    unsigned char id[32], pubkey[32];
    long long created_at, expiration; /* expiration 0: none */
    unsigned kind;
    int kclass;
    size_t raw, raw_len;
    size_t content, content_len; /* ASCII-lowered, NUL as space */
    size_t d, d_len;             /* the address's d tag, as stored (see nostr__pgwire_value) */
    size_t tag0, ntags;          /* into s->tags */
    size_t word0, nwords;        /* into s->words */
    size_t ref0, nrefs;          /* into s->refs (kind 5) */
    nostr_store_put_fn done;
    void *user;
    int result;
    int insert; /* decided at commit: its row is to be written */
} nostr__pgwire_put;

/* A single-letter tag to index: name and (stored form of) value. */
typedef struct nostr__pgwire_tagref {
    size_t value, len;
    char name;
} nostr__pgwire_tagref;

/* A content word to index: bytes in s->text (lowered, at most
 * NOSTR_SEARCH_WORD_MAX). */
typedef struct nostr__pgwire_wordref {
    size_t off, len;
} nostr__pgwire_wordref;

/* What a deletion names: an event id ("e"), or a coordinate ("a") whose
 * pubkey is the deletion's own. */
typedef struct nostr__pgwire_ref {
    int coord;
    unsigned char id[32]; /* "e": the id */
    unsigned kind;        /* "a": kind and d (offset into text) */
    size_t d, d_len;
} nostr__pgwire_ref;

/* Open-addressing map from bytes to an entry, rebuilt by every commit
 * attempt: ids (id -> stored?, pubkey, kind), dels (id+pubkey -> a
 * deletion names it) and keys (pubkey+kind+d -> current version and how
 * far a deletion reaches). */
typedef struct nostr__pgwire_entry {
    unsigned long long hash; /* 0: empty slot */
    size_t key, key_len;     /* the key's bytes in map->keys */
    int stored;              /* ids: stored; keys: a current version exists; dels: recorded */
    int dirty;               /* dels, keys: to be written */
    unsigned kind;           /* ids: the event's kind */
    long long created_at;    /* keys: the current version's created_at */
    long long until;         /* keys: a deletion covers versions created up to this; -1 none */
    long put;                /* index of the queued put holding it, -1 when it is in the database */
    unsigned char ref[32];   /* ids: the event's pubkey; keys: the current version's id */
} nostr__pgwire_entry;

/* A queued provenance record (nostr_pgwire_seen). */
typedef struct nostr__pgwire_seen {
    unsigned char id[32];
    int relay_id;
    long long first_seen;
} nostr__pgwire_seen;

typedef struct nostr__pgwire_map {
    nostr__pgwire_entry *slots;
    size_t cap, count;
    nostr_buf keys;
} nostr__pgwire_map;

/* Parameters of one statement, all binary; values live in data and are
 * pointed to only just before the call. */
typedef struct nostr__pgwire_params {
    nostr_buf data;
    size_t n, cap;
    size_t *off;
    int *len, *fmt;
    Oid *oid;
    const char **val;
    size_t array_at; /* the array being built: its param index */
    size_t array_count;
    int array_null;
} nostr__pgwire_params;

typedef struct nostr__pgwire_stmt {
    unsigned long long hash;
    char *sql;
    char name[24];
} nostr__pgwire_stmt;

struct nostr_pgwire {
    const nostr_allocator *al;
    nostr_log_fn log;
    void *log_user;
    char *conninfo;
    PGconn *conn;
    int broken;      /* the connection must be reset before use */
    int commit_sent; /* the current attempt got as far as COMMIT */
    int completing;  /* inside commit's completion callbacks */
    char err[512];
    char put_err[512]; /* what failed puts are answered with */
    char state[6];     /* SQLSTATE of the last failed statement, or "" */

    nostr__pgwire_put *puts; /* [0, written) written, waiting for commit; [written, nputs) queued */
    size_t nputs, cap_puts, written;
    nostr__pgwire_tagref *tags;
    size_t ntags, cap_tags;
    nostr__pgwire_ref *refs;
    size_t nrefs, cap_refs;
    nostr__pgwire_wordref *words; /* the queued puts' words */
    size_t nwords, cap_words;
    nostr_buf qtext;                        /* a search, lowered (query scratch) */
    nostr__pgwire_wordref *qwords, *qlikes; /* its indexed words; its terms checked by LIKE */
    size_t nqwords, cap_qwords, nqlikes, cap_qlikes;
    int words_state; /* NOSTR__PGWIRE_WORDS_*: is the words table there, and complete */
    nostr_buf text;
    nostr__pgwire_seen *seen; /* provenance records for the next flush */
    size_t nseen, cap_seen;
    int seen_rc; /* a flush dropped records since the last commit: its error */

    nostr__pgwire_map ids, dels, keys; /* commit scratch */
    nostr_buf drop;                    /* ids (32 bytes each) to delete from the database */
    nostr_buf key;
    nostr__pgwire_params params;
    nostr_buf sql;

    nostr__pgwire_stmt stmts[NOSTR__PGWIRE_STMTS];
    size_t nstmts;
    unsigned stmt_seq;

    unsigned char (*cache)[32]; /* recently stored ids, direct-mapped; NULL in a batch's writer */

    nostr_pgwire_batch *batch; /* the pipelined commit's batch (made at first use) */
    int batch_out;             /* begun and not yet ended */
};

/* A pipelined commit's batch: the queue it took, written by a second
 * store object (its own connection, statements and scratch) so that
 * the loop's connection stays free for queries meanwhile. */
struct nostr_pgwire_batch {
    nostr_pgwire *w;
    int rc; /* what commit_write returned */
};

static nostr_pgwire *nostr__pgwire_new(const nostr_allocator *al, nostr_log_fn log, void *log_user,
                                       const char *conninfo, int with_cache);
static void nostr__pgwire_free(nostr_pgwire *s);

/* ---- small helpers ---- */

static void nostr__pgwire_log(const nostr_pgwire *s, int level, const char *what, const char *detail)
{
    char msg[700];
    if (!s->log) return;
    snprintf(msg, sizeof msg, "pgwire: %s%s%s", what, detail && *detail ? ": " : "", detail ? detail : "");
    s->log(s->log_user, level, msg);
}

/* Keep a server message as the last error (one line, no trailing newline). */
static void nostr__pgwire_set_error(nostr_pgwire *s, const char *msg)
{
    size_t n;
    snprintf(s->err, sizeof s->err, "%s", msg && *msg ? msg : "unknown error");
    n = strlen(s->err);
    while (n && (s->err[n - 1] == '\n' || s->err[n - 1] == ' ')) s->err[--n] = 0;
    for (n = 0; s->err[n]; n++)
        if (s->err[n] == '\n') s->err[n] = ' ';
}

/* Grow an array to hold need elements; returns the (maybe moved) array
 * or NULL, leaving the old one and *cap as they were. */
static void *nostr__pgwire_reserve(const nostr_allocator *al, void *arr, size_t *cap, size_t need, size_t size)
{
    size_t n = *cap ? *cap : 16;
    void *p;
    if (need <= *cap) return arr;
    while (n < need) n *= 2;
    p = nostr_realloc(al, arr, n * size);
    if (p) *cap = n;
    return p;
}

static void nostr__pgwire_be32(unsigned char *p, unsigned long v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void nostr__pgwire_be64(unsigned char *p, unsigned long long v)
{
    nostr__pgwire_be32(p, (unsigned long)(v >> 32));
    nostr__pgwire_be32(p + 4, (unsigned long)(v & 0xffffffffUL));
}

/* A binary integer result of any width (PostgreSQL's integer is 4 bytes,
 * CockroachDB's 8). */
static long long nostr__pgwire_int(const PGresult *r, int row, int col)
{
    const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, col);
    int n = PQgetlength(r, row, col), i;
    unsigned long long v = 0;
    if (n != 2 && n != 4 && n != 8) return 0;
    for (i = 0; i < n; i++) v = (v << 8) | p[i];
    if (n < 8 && (p[0] & 0x80)) v |= ~0ULL << (8 * n);
    return (long long)v;
}

static unsigned long long nostr__pgwire_hash(const void *data, size_t n)
{
    const unsigned char *p = (const unsigned char *)data;
    unsigned long long h = 14695981039346656037ULL;
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h | 1;
}

/* A tag value or d tag as stored and compared. Most values are ids and
 * pubkeys in hex: those are kept as 0xFE + the 32 bytes, half the index
 * entry. Values longer than a btree entry may safely be are kept as 0xFF
 * + their SHA-256. Neither byte occurs in UTF-8, so no form meets another
 * (and filter values go through the same mapping). */
static int nostr__pgwire_is_hex64(const char *v, size_t len)
{
    size_t i;
    if (len != 64) return 0;
    for (i = 0; i < 64; i++)
        if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f'))) return 0;
    return 1;
}

static void nostr__pgwire_value(const char *v, size_t len, unsigned char tmp[33], const char **out, size_t *out_len)
{
    if (nostr__pgwire_is_hex64(v, len)) {
        tmp[0] = 0xfe;
        nostr_hex_decode(v, 64, tmp + 1, 32);
    } else if (len > NOSTR__PGWIRE_MAX_VALUE) {
        tmp[0] = 0xff;
        nostr_sha256(v, len, tmp + 1);
    } else {
        *out = v;
        *out_len = len;
        return;
    }
    *out = (const char *)tmp;
    *out_len = 33;
}

/* ---- the recent-id cache behind has() ---- */

static size_t nostr__pgwire_cache_slot(const unsigned char id[32])
{
    return ((size_t)id[0] | (size_t)id[1] << 8 | (size_t)id[2] << 16) & (NOSTR__PGWIRE_CACHE - 1);
}

static void nostr__pgwire_cache_add(nostr_pgwire *s, const unsigned char id[32])
{
    memcpy(s->cache[nostr__pgwire_cache_slot(id)], id, 32);
}

static void nostr__pgwire_cache_forget(nostr_pgwire *s, const unsigned char id[32])
{
    unsigned char *slot = s->cache[nostr__pgwire_cache_slot(id)];
    if (memcmp(slot, id, 32) == 0) memset(slot, 0, 32);
}

static int nostr__pgwire_has(void *self, const unsigned char id[32])
{
    nostr_pgwire *s = (nostr_pgwire *)self;
    static const unsigned char zero[32] = {0};
    const unsigned char *slot = s->cache[nostr__pgwire_cache_slot(id)];
    if (memcmp(slot, zero, 32) != 0 && memcmp(slot, id, 32) == 0) return 1;
    return -1; /* only the database knows: the put will find out */
}

/* ---- maps ---- */

static void nostr__pgwire_map_reset(nostr__pgwire_map *m)
{
    if (m->slots) memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->count = 0;
    nostr_buf_clear(&m->keys);
}

static void nostr__pgwire_map_free(const nostr_allocator *al, nostr__pgwire_map *m)
{
    nostr_free(al, m->slots);
    nostr_buf_free(&m->keys);
}

static nostr__pgwire_entry *nostr__pgwire_map_find(nostr__pgwire_map *m, const void *key, size_t len,
                                                   unsigned long long h)
{
    size_t i;
    if (!m->cap) return NULL;
    for (i = (size_t)h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        nostr__pgwire_entry *e = &m->slots[i];
        if (!e->hash) return e;
        if (e->hash == h && e->key_len == len && memcmp(m->keys.data + e->key, key, len) == 0) return e;
    }
}

static int nostr__pgwire_map_grow(nostr_pgwire *s, nostr__pgwire_map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 256, i;
    nostr__pgwire_entry *old = m->slots, *ns;
    ns = (nostr__pgwire_entry *)nostr_alloc(s->al, ncap * sizeof *ns);
    if (!ns) return NOSTR_ERR_NOMEM;
    memset(ns, 0, ncap * sizeof *ns);
    m->slots = ns;
    for (i = 0; i < m->cap; i++)
        if (old[i].hash) {
            size_t j = (size_t)old[i].hash & (ncap - 1);
            while (ns[j].hash) j = (j + 1) & (ncap - 1);
            ns[j] = old[i];
        }
    m->cap = ncap;
    nostr_free(s->al, old);
    return NOSTR_OK;
}

/* The entry for key, or NULL: when create is set, a missing key is added
 * (NULL then means out of memory). Entries move when the map grows: use
 * the pointer before the next call that creates. */
static nostr__pgwire_entry *nostr__pgwire_map_get(nostr_pgwire *s, nostr__pgwire_map *m, const void *key, size_t len,
                                                  int create)
{
    unsigned long long h = nostr__pgwire_hash(key, len);
    nostr__pgwire_entry *e;
    if (create && (m->count + 1) * 2 > m->cap && nostr__pgwire_map_grow(s, m) != NOSTR_OK) return NULL;
    e = nostr__pgwire_map_find(m, key, len, h);
    if (!e || e->hash) return e;
    if (!create) return NULL;
    memset(e, 0, sizeof *e);
    e->key = m->keys.len;
    if (nostr_buf_append(&m->keys, key, len) != NOSTR_OK) return NULL;
    e->hash = h;
    e->key_len = len;
    e->until = -1;
    e->put = -1;
    m->count++;
    return e;
}

/* keys map key: pubkey, kind (4 bytes big-endian), d as stored. */
static int nostr__pgwire_addr_key(nostr_pgwire *s, const unsigned char pubkey[32], unsigned kind, const char *d,
                                  size_t d_len)
{
    unsigned char k[4];
    nostr__pgwire_be32(k, kind);
    nostr_buf_clear(&s->key);
    if (nostr_buf_append(&s->key, pubkey, 32) || nostr_buf_append(&s->key, k, 4) || nostr_buf_append(&s->key, d, d_len))
        return NOSTR_ERR_NOMEM;
    return NOSTR_OK;
}

/* ---- parameters ---- */

static void nostr__pgwire_params_reset(nostr__pgwire_params *p)
{
    nostr_buf_clear(&p->data);
    p->n = 0;
}

static int nostr__pgwire_params_slot(nostr_pgwire *s, nostr__pgwire_params *p)
{
    size_t cap;
    void *np;
    if (p->n < p->cap) return NOSTR_OK;
    cap = p->cap;
    if (!(np = nostr__pgwire_reserve(s->al, p->off, &cap, p->n + 1, sizeof *p->off))) return NOSTR_ERR_NOMEM;
    p->off = (size_t *)np;
    cap = p->cap;
    if (!(np = nostr__pgwire_reserve(s->al, p->len, &cap, p->n + 1, sizeof *p->len))) return NOSTR_ERR_NOMEM;
    p->len = (int *)np;
    cap = p->cap;
    if (!(np = nostr__pgwire_reserve(s->al, p->fmt, &cap, p->n + 1, sizeof *p->fmt))) return NOSTR_ERR_NOMEM;
    p->fmt = (int *)np;
    cap = p->cap;
    if (!(np = nostr__pgwire_reserve(s->al, p->oid, &cap, p->n + 1, sizeof *p->oid))) return NOSTR_ERR_NOMEM;
    p->oid = (Oid *)np;
    cap = p->cap;
    if (!(np = nostr__pgwire_reserve(s->al, p->val, &cap, p->n + 1, sizeof *p->val))) return NOSTR_ERR_NOMEM;
    p->val = (const char **)np;
    p->cap = cap;
    return NOSTR_OK;
}

/* Add a parameter; returns its number ($n) or a negative error. */
static int nostr__pgwire_param(nostr_pgwire *s, nostr__pgwire_params *p, Oid oid, const void *v, size_t len)
{
    if (nostr__pgwire_params_slot(s, p) != NOSTR_OK) return NOSTR_ERR_NOMEM;
    if (len > 0x7fffffff) return NOSTR_ERR_TOO_LARGE;
    p->off[p->n] = p->data.len;
    p->len[p->n] = (int)len;
    p->fmt[p->n] = 1;
    p->oid[p->n] = oid;
    if (nostr_buf_append(&p->data, v, len) != NOSTR_OK) return NOSTR_ERR_NOMEM;
    return (int)++p->n;
}

static int nostr__pgwire_param_i64(nostr_pgwire *s, nostr__pgwire_params *p, long long v)
{
    unsigned char b[8];
    nostr__pgwire_be64(b, (unsigned long long)v);
    return nostr__pgwire_param(s, p, NOSTR__PGWIRE_INT8, b, 8);
}

/* Binary array: ndim, has-null flag, element type, then per dimension its
 * size and lower bound, then each element as length (-1 NULL) + bytes. */
static int nostr__pgwire_array_begin(nostr_pgwire *s, nostr__pgwire_params *p, Oid array_oid, Oid elem_oid)
{
    unsigned char h[20];
    int n;
    nostr__pgwire_be32(h, 1);
    nostr__pgwire_be32(h + 4, 0);
    nostr__pgwire_be32(h + 8, elem_oid);
    nostr__pgwire_be32(h + 12, 0);
    nostr__pgwire_be32(h + 16, 1);
    n = nostr__pgwire_param(s, p, array_oid, h, sizeof h);
    if (n > 0) {
        p->array_at = (size_t)n - 1;
        p->array_count = 0;
        p->array_null = 0;
    }
    return n;
}

static int nostr__pgwire_array_add(nostr__pgwire_params *p, const void *v, size_t len)
{
    unsigned char l[4];
    if (len > 0x7fffffff) return NOSTR_ERR_TOO_LARGE;
    nostr__pgwire_be32(l, (unsigned long)len);
    if (nostr_buf_append(&p->data, l, 4) || nostr_buf_append(&p->data, v, len)) return NOSTR_ERR_NOMEM;
    p->array_count++;
    return NOSTR_OK;
}

static int nostr__pgwire_array_add_null(nostr__pgwire_params *p)
{
    unsigned char l[4] = {0xff, 0xff, 0xff, 0xff};
    if (nostr_buf_append(&p->data, l, 4)) return NOSTR_ERR_NOMEM;
    p->array_count++;
    p->array_null = 1;
    return NOSTR_OK;
}

static int nostr__pgwire_array_add_i64(nostr__pgwire_params *p, long long v)
{
    unsigned char b[8];
    nostr__pgwire_be64(b, (unsigned long long)v);
    return nostr__pgwire_array_add(p, b, 8);
}

static int nostr__pgwire_array_add_i32(nostr__pgwire_params *p, long v)
{
    unsigned char b[4];
    nostr__pgwire_be32(b, (unsigned long)v);
    return nostr__pgwire_array_add(p, b, 4);
}

static int nostr__pgwire_array_end(nostr__pgwire_params *p)
{
    unsigned char *h = (unsigned char *)p->data.data + p->off[p->array_at];
    if (p->array_count > 0x7fffffff) return NOSTR_ERR_TOO_LARGE;
    if (p->array_count == 0) {
        nostr__pgwire_be32(h, 0); /* an empty array has no dimensions */
        p->data.len = p->off[p->array_at] + 12;
    } else {
        nostr__pgwire_be32(h + 4, (unsigned long)p->array_null);
        nostr__pgwire_be32(h + 12, (unsigned long)p->array_count);
    }
    p->len[p->array_at] = (int)(p->data.len - p->off[p->array_at]);
    return NOSTR_OK;
}

/* ---- statements ---- */

static void nostr__pgwire_stmts_forget(nostr_pgwire *s)
{
    size_t i;
    for (i = 0; i < s->nstmts; i++) nostr_free(s->al, s->stmts[i].sql);
    s->nstmts = 0;
}

/* Sort out a failed result: remember the message, and say whether the
 * transaction can be run again. Clears r. */
static int nostr__pgwire_classify(nostr_pgwire *s, PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    int cls = NOSTR__PGWIRE_FAIL;
    snprintf(s->state, sizeof s->state, "%s", state ? state : "");
    nostr__pgwire_set_error(s, r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r) : PQerrorMessage(s->conn));
    if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0))
        cls = NOSTR__PGWIRE_RETRY;
    else if (state && strcmp(state, "40003") == 0)
        cls = NOSTR__PGWIRE_AMBIGUOUS;
    else if (PQstatus(s->conn) != CONNECTION_OK ||
             (state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)))
        cls = NOSTR__PGWIRE_LOST;
    if (cls == NOSTR__PGWIRE_LOST) s->broken = 1;
    PQclear(r);
    return cls;
}

/* Run sql with p's parameters, binary results in *out (the caller clears
 * it). The statement is prepared on first use on this connection; past
 * NOSTR__PGWIRE_STMTS shapes it runs unnamed. */
static int nostr__pgwire_exec(nostr_pgwire *s, const char *sql, nostr__pgwire_params *p, PGresult **out)
{
    unsigned long long h = nostr__pgwire_hash(sql, strlen(sql));
    const char *name = NULL;
    PGresult *r;
    ExecStatusType st;
    size_t i;
    *out = NULL;
    for (i = 0; i < p->n; i++) p->val[i] = p->data.data + p->off[i];
    for (i = 0; i < s->nstmts; i++)
        if (s->stmts[i].hash == h && strcmp(s->stmts[i].sql, sql) == 0) {
            name = s->stmts[i].name;
            break;
        }
    if (!name && s->nstmts < NOSTR__PGWIRE_STMTS) {
        nostr__pgwire_stmt *st_ = &s->stmts[s->nstmts];
        size_t len = strlen(sql);
        st_->sql = (char *)nostr_alloc(s->al, len + 1);
        if (!st_->sql) return NOSTR__PGWIRE_NOMEM;
        memcpy(st_->sql, sql, len + 1);
        st_->hash = h;
        snprintf(st_->name, sizeof st_->name, "nostr_%u", s->stmt_seq++);
        r = PQprepare(s->conn, st_->name, sql, (int)p->n, p->oid);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            nostr_free(s->al, st_->sql);
            return nostr__pgwire_classify(s, r);
        }
        PQclear(r);
        s->nstmts++;
        name = st_->name;
    }
    if (name)
        r = PQexecPrepared(s->conn, name, (int)p->n, p->val, p->len, p->fmt, 1);
    else
        r = PQexecParams(s->conn, sql, (int)p->n, p->oid, p->val, p->len, p->fmt, 1);
    st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return nostr__pgwire_classify(s, r);
    *out = r;
    return NOSTR__PGWIRE_DONE;
}

/* A statement without parameters or results (BEGIN, COMMIT...). */
static int nostr__pgwire_simple(nostr_pgwire *s, const char *sql)
{
    PGresult *r = PQexec(s->conn, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        return nostr__pgwire_classify(s, r);
    PQclear(r);
    return NOSTR__PGWIRE_DONE;
}

/* exec for statements whose result is not needed. */
static int nostr__pgwire_run(nostr_pgwire *s, const char *sql, nostr__pgwire_params *p)
{
    PGresult *r;
    int cls = nostr__pgwire_exec(s, sql, p, &r);
    PQclear(r);
    return cls;
}

/* ---- connection ---- */

/* Server notices (e.g. "relation already exists, skipping") go to the
 * log, not to stderr. */
static void nostr__pgwire_notice(void *arg, const char *message)
{
    nostr_pgwire *s = (nostr_pgwire *)arg;
    char line[512];
    size_t n;
    snprintf(line, sizeof line, "%s", message);
    n = strlen(line);
    while (n && line[n - 1] == '\n') line[--n] = 0;
    nostr__pgwire_log(s, NOSTR_LOG_DEBUG, "server", line);
}

/* A usable connection: reopened when it was lost. */
static int nostr__pgwire_ensure(nostr_pgwire *s)
{
    if (s->conn && !s->broken && PQstatus(s->conn) == CONNECTION_OK) {
        /* A transaction left open by an error path is of no use now. */
        if (PQtransactionStatus(s->conn) != PQTRANS_IDLE) nostr__pgwire_simple(s, "ROLLBACK");
        if (!s->broken && PQstatus(s->conn) == CONNECTION_OK) return NOSTR_OK;
    }
    nostr__pgwire_stmts_forget(s); /* prepared statements die with the session */
    if (s->conn)
        PQreset(s->conn);
    else
        s->conn = PQconnectdb(s->conninfo);
    if (!s->conn) {
        nostr__pgwire_set_error(s, "out of memory in libpq");
        return NOSTR_ERR_NOMEM;
    }
    if (PQstatus(s->conn) != CONNECTION_OK) {
        nostr__pgwire_set_error(s, PQerrorMessage(s->conn));
        nostr__pgwire_log(s, NOSTR_LOG_ERROR, "cannot connect", s->err);
        return NOSTR_ERR_NET;
    }
    s->broken = 0;
    PQsetNoticeProcessor(s->conn, nostr__pgwire_notice, s);
    if (PQsetClientEncoding(s->conn, "UTF8") != 0) {
        nostr__pgwire_set_error(s, PQerrorMessage(s->conn));
        nostr__pgwire_log(s, NOSTR_LOG_ERROR, "cannot set client_encoding to UTF8", s->err);
        s->broken = 1;
        return NOSTR_ERR_NET;
    }
    nostr__pgwire_log(s, NOSTR_LOG_INFO, "connected", NULL);
    return NOSTR_OK;
}

static void nostr__pgwire_rollback(nostr_pgwire *s)
{
    if (s->conn && !s->broken && PQstatus(s->conn) == CONNECTION_OK && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        nostr__pgwire_simple(s, "ROLLBACK");
}

/* Run one transaction body until it commits: again on 40001 (bounded),
 * and once more after a lost connection. *ambiguous is set when an
 * earlier attempt may have committed. Returns NOSTR_OK or an error. */
typedef int (*nostr__pgwire_tx_fn)(nostr_pgwire *s, void *arg, int ambiguous);

static int nostr__pgwire_transaction(nostr_pgwire *s, nostr__pgwire_tx_fn body, void *arg)
{
    int tries = 0, lost = 0, ambiguous = 0, cls, rc;
    for (;;) {
        rc = nostr__pgwire_ensure(s);
        if (rc != NOSTR_OK) return rc;
        s->commit_sent = 0;
        cls = nostr__pgwire_simple(s, "BEGIN ISOLATION LEVEL SERIALIZABLE");
        if (cls == NOSTR__PGWIRE_DONE) cls = body(s, arg, ambiguous);
        if (cls == NOSTR__PGWIRE_DONE) {
            s->commit_sent = 1;
            cls = nostr__pgwire_simple(s, "COMMIT");
            if (cls == NOSTR__PGWIRE_DONE) return NOSTR_OK;
        }
        nostr__pgwire_rollback(s);
        if (cls == NOSTR__PGWIRE_NOMEM) return NOSTR_ERR_NOMEM;
        if (cls == NOSTR__PGWIRE_RETRY && ++tries < NOSTR__PGWIRE_TRIES) continue;
        if ((cls == NOSTR__PGWIRE_LOST || cls == NOSTR__PGWIRE_AMBIGUOUS) && ++lost <= 1) {
            if (s->commit_sent || cls == NOSTR__PGWIRE_AMBIGUOUS) ambiguous = 1;
            nostr__pgwire_log(s, NOSTR_LOG_WARN, "connection lost, retrying", s->err);
            continue;
        }
        nostr__pgwire_log(s, NOSTR_LOG_ERROR, "transaction failed", s->err);
        return NOSTR_ERR_NET;
    }
}

/* ---- put ---- */

/* Append a string's stored form (nostr__pgwire_value) to s->text. */
static int nostr__pgwire_text_value(nostr_pgwire *s, const char *v, size_t len, size_t *off, size_t *out_len)
{
    unsigned char tmp[33];
    const char *sv;
    size_t sl;
    nostr__pgwire_value(v, len, tmp, &sv, &sl);
    *off = s->text.len;
    *out_len = sl;
    return nostr_buf_append(&s->text, sv, sl);
}

/* An "a" tag value "kind:pubkey:d" naming one of author's own
 * replaceable or addressable events, queued as a ref. Others are
 * ignored (NIP-09: only the author's events are deleted). */
static int nostr__pgwire_queue_coord(nostr_pgwire *s, const nostr_str *v, const unsigned char author[32])
{
    const char *p = v->ptr, *end = v->ptr + v->len;
    unsigned long kind = 0;
    unsigned char pk[32];
    nostr__pgwire_ref *r;
    int digits = 0, kclass;
    void *np;
    while (p < end && *p >= '0' && *p <= '9' && digits < 6) kind = kind * 10 + (unsigned long)(*p++ - '0'), digits++;
    if (!digits || kind > 65535 || p >= end || *p != ':') return NOSTR_OK;
    p++;
    if (end - p < 64 || nostr_hex_decode(p, 64, pk, 32) != NOSTR_OK || memcmp(pk, author, 32) != 0) return NOSTR_OK;
    p += 64;
    if (p < end && *p++ != ':') return NOSTR_OK;
    kclass = nostr_kind_class((unsigned)kind);
    if (kclass != NOSTR_KIND_REPLACEABLE && kclass != NOSTR_KIND_ADDRESSABLE) return NOSTR_OK;
    if (!(np = nostr__pgwire_reserve(s->al, s->refs, &s->cap_refs, s->nrefs + 1, sizeof *s->refs)))
        return NOSTR_ERR_NOMEM;
    s->refs = (nostr__pgwire_ref *)np;
    r = &s->refs[s->nrefs];
    memset(r, 0, sizeof *r);
    r->coord = 1;
    r->kind = (unsigned)kind;
    if (kclass == NOSTR_KIND_ADDRESSABLE) {
        if (nostr__pgwire_text_value(s, p, (size_t)(end - p), &r->d, &r->d_len)) return NOSTR_ERR_NOMEM;
    } else {
        r->d = s->text.len; /* replaceable: the address has no d */
    }
    s->nrefs++;
    return NOSTR_OK;
}

static int nostr__pgwire_queue_id(nostr_pgwire *s, const nostr_str *v)
{
    void *np;
    if (!nostr__pgwire_is_hex64(v->ptr, v->len)) return NOSTR_OK;
    if (!(np = nostr__pgwire_reserve(s->al, s->refs, &s->cap_refs, s->nrefs + 1, sizeof *s->refs)))
        return NOSTR_ERR_NOMEM;
    s->refs = (nostr__pgwire_ref *)np;
    memset(&s->refs[s->nrefs], 0, sizeof *s->refs);
    nostr_hex_decode(v->ptr, 64, s->refs[s->nrefs].id, 32);
    s->nrefs++;
    return NOSTR_OK;
}

/* Copy what the commit needs from ev into the queue's buffers. */
static int nostr__pgwire_queue_fields(nostr_pgwire *s, nostr__pgwire_put *p, const nostr_event *ev, const char *json,
                                      size_t len)
{
    size_t i;
    void *np;
    p->raw = s->text.len;
    p->raw_len = len;
    if (nostr_buf_append(&s->text, json, len)) return NOSTR_ERR_NOMEM;
    /* Search text: ASCII lowered (the search is ASCII case-insensitive);
     * NUL, which a text column cannot hold, as a space (no word has one). */
    p->content = s->text.len;
    p->content_len = ev->content.len;
    if (nostr_buf_reserve(&s->text, ev->content.len)) return NOSTR_ERR_NOMEM;
    for (i = 0; i < ev->content.len; i++) {
        char c = ev->content.ptr[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c == 0) c = ' ';
        s->text.data[s->text.len++] = c;
    }
    p->d = s->text.len;
    p->d_len = 0;
    if (p->kclass == NOSTR_KIND_ADDRESSABLE) {
        nostr_str d = nostr_event_d_tag(ev);
        if (nostr__pgwire_text_value(s, d.ptr, d.len, &p->d, &p->d_len)) return NOSTR_ERR_NOMEM;
    }
    for (i = 0; i < ev->tag_count; i++) {
        const nostr_tag *t = &ev->tags[i];
        char c;
        if (t->count < 2 || t->items[0].len != 1) continue;
        c = t->items[0].ptr[0];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) continue;
        if (!(np = nostr__pgwire_reserve(s->al, s->tags, &s->cap_tags, s->ntags + 1, sizeof *s->tags)))
            return NOSTR_ERR_NOMEM;
        s->tags = (nostr__pgwire_tagref *)np;
        s->tags[s->ntags].name = c;
        if (nostr__pgwire_text_value(s, t->items[1].ptr, t->items[1].len, &s->tags[s->ntags].value,
                                     &s->tags[s->ntags].len))
            return NOSTR_ERR_NOMEM;
        s->ntags++;
        p->ntags++;
        if (ev->kind != 5) continue;
        if (c == 'e' && nostr__pgwire_queue_id(s, &t->items[1])) return NOSTR_ERR_NOMEM;
        if (c == 'a' && nostr__pgwire_queue_coord(s, &t->items[1], ev->pubkey)) return NOSTR_ERR_NOMEM;
    }
    p->nrefs = s->nrefs - p->ref0;
    return NOSTR_OK;
}

/* The put's distinct content words (the first NOSTR__PGWIRE_WORDS), from
 * its lowered content in s->text, into s->words. */
static int nostr__pgwire_queue_words(nostr_pgwire *s, nostr__pgwire_put *p)
{
    unsigned char slot[2 * NOSTR__PGWIRE_WORDS]; /* 1 + index among this put's words, by hash */
    size_t i = 0, start, len, h;
    void *np;
    memset(slot, 0, sizeof slot);
    p->word0 = s->nwords;
    p->nwords = 0;
    while (p->nwords < NOSTR__PGWIRE_WORDS &&
           nostr_search_next_word(s->text.data + p->content, p->content_len, &i, &start, &len)) {
        const char *w = s->text.data + p->content + start;
        for (h = (size_t)nostr__pgwire_hash(w, len) % sizeof slot; slot[h]; h = (h + 1) % sizeof slot) {
            const nostr__pgwire_wordref *o = &s->words[p->word0 + slot[h] - 1];
            if (o->len == len && memcmp(s->text.data + o->off, w, len) == 0) break;
        }
        if (slot[h]) continue; /* seen */
        if (!(np = nostr__pgwire_reserve(s->al, s->words, &s->cap_words, s->nwords + 1, sizeof *s->words)))
            return NOSTR_ERR_NOMEM;
        s->words = (nostr__pgwire_wordref *)np;
        s->words[s->nwords].off = p->content + start;
        s->words[s->nwords].len = len;
        s->nwords++;
        slot[h] = (unsigned char)++p->nwords;
    }
    return NOSTR_OK;
}

static int nostr__pgwire_put_fn(void *self, const nostr_event *ev, const char *json, size_t len,
                                nostr_store_put_fn done, void *user)
{
    nostr_pgwire *s = (nostr_pgwire *)self;
    size_t text0 = s->text.len, tags0 = s->ntags, refs0 = s->nrefs, words0 = s->nwords;
    nostr__pgwire_put *p;
    void *np;
    if (!ev || !json || !len || !done) return NOSTR_ERR_ARG;
    if (!(np = nostr__pgwire_reserve(s->al, s->puts, &s->cap_puts, s->nputs + 1, sizeof *s->puts)))
        return NOSTR_ERR_NOMEM;
    s->puts = (nostr__pgwire_put *)np;
    p = &s->puts[s->nputs];
    memset(p, 0, sizeof *p);
    memcpy(p->id, ev->id, 32);
    memcpy(p->pubkey, ev->pubkey, 32);
    p->created_at = ev->created_at;
    p->kind = ev->kind;
    p->kclass = nostr_kind_class(ev->kind);
    p->expiration = nostr_event_expiration(ev);
    p->tag0 = s->ntags;
    p->ref0 = s->nrefs;
    p->done = done;
    p->user = user;
    if (nostr__pgwire_queue_fields(s, p, ev, json, len) != NOSTR_OK || nostr__pgwire_queue_words(s, p) != NOSTR_OK) {
        s->text.len = text0; /* as if it never came */
        s->ntags = tags0;
        s->nrefs = refs0;
        s->nwords = words0;
        return NOSTR_ERR_NOMEM;
    }
    s->nputs++;
    return NOSTR_OK;
}

/* ---- commit: write the queued puts in one transaction ---- */

static int nostr__pgwire_is_address(int kclass)
{
    return kclass == NOSTR_KIND_REPLACEABLE || kclass == NOSTR_KIND_ADDRESSABLE;
}

/* Does version a (created_at, id) win over b? Newer, ties to lowest id. */
static int nostr__pgwire_wins(long long a_at, const unsigned char *a_id, long long b_at, const unsigned char *b_id)
{
    return a_at > b_at || (a_at == b_at && memcmp(a_id, b_id, 32) < 0);
}

/* Step 1: every id and address the batch touches, so one query each
 * fetches what the database knows about them. */
static int nostr__pgwire_gather(nostr_pgwire *s)
{
    size_t i, j;
    for (i = s->written; i < s->nputs; i++) {
        const nostr__pgwire_put *p = &s->puts[i];
        if (!nostr__pgwire_map_get(s, &s->ids, p->id, 32, 1)) return NOSTR_ERR_NOMEM;
        if (nostr__pgwire_is_address(p->kclass)) {
            if (nostr__pgwire_addr_key(s, p->pubkey, p->kind, s->text.data + p->d, p->d_len) ||
                !nostr__pgwire_map_get(s, &s->keys, s->key.data, s->key.len, 1))
                return NOSTR_ERR_NOMEM;
        }
        for (j = p->ref0; j < p->ref0 + p->nrefs; j++) {
            const nostr__pgwire_ref *r = &s->refs[j];
            if (!r->coord) {
                if (!nostr__pgwire_map_get(s, &s->ids, r->id, 32, 1)) return NOSTR_ERR_NOMEM;
            } else if (nostr__pgwire_addr_key(s, p->pubkey, r->kind, s->text.data + r->d, r->d_len) ||
                       !nostr__pgwire_map_get(s, &s->keys, s->key.data, s->key.len, 1)) {
                return NOSTR_ERR_NOMEM;
            }
        }
    }
    return NOSTR_OK;
}

/* Step 2a: which of the ids are stored (pubkey, kind) or named by a
 * stored deletion. */
static int nostr__pgwire_lookup_ids(nostr_pgwire *s)
{
    nostr__pgwire_params *p = &s->params;
    PGresult *r;
    int cls, row, rows;
    size_t i;
    nostr__pgwire_params_reset(p);
    if (nostr__pgwire_array_begin(s, p, NOSTR__PGWIRE_BYTEA_ARRAY, NOSTR__PGWIRE_BYTEA) < 0) return NOSTR__PGWIRE_NOMEM;
    for (i = 0; i < s->ids.cap; i++)
        if (s->ids.slots[i].hash && nostr__pgwire_array_add(p, s->ids.keys.data + s->ids.slots[i].key, 32))
            return NOSTR__PGWIRE_NOMEM;
    nostr__pgwire_array_end(p);
    cls = nostr__pgwire_exec(s, nostr__pgwire_sql_lookup_ids, p, &r);
    if (cls) return cls;
    rows = PQntuples(r);
    for (row = 0; row < rows; row++) {
        const char *id = PQgetvalue(r, row, 1), *pk = PQgetvalue(r, row, 2);
        if (PQgetlength(r, row, 1) != 32 || PQgetlength(r, row, 2) != 32) continue;
        if (nostr__pgwire_int(r, row, 0) == 0) {
            nostr__pgwire_entry *e = nostr__pgwire_map_get(s, &s->ids, id, 32, 0);
            if (!e) continue;
            e->stored = 1;
            e->kind = (unsigned)nostr__pgwire_int(r, row, 3);
            memcpy(e->ref, pk, 32);
        } else {
            nostr__pgwire_entry *e;
            unsigned char k[64];
            memcpy(k, id, 32);
            memcpy(k + 32, pk, 32);
            if (!(e = nostr__pgwire_map_get(s, &s->dels, k, 64, 1))) {
                PQclear(r);
                return NOSTR__PGWIRE_NOMEM;
            }
            e->stored = 1;
        }
    }
    PQclear(r);
    return NOSTR__PGWIRE_DONE;
}

/* Step 2b: the stored version of each address, and how far stored
 * deletions of it reach. Two stored versions of one address (another
 * writer outside this schema's rules) are settled here: the loser goes. */
static int nostr__pgwire_lookup_keys(nostr_pgwire *s)
{
    nostr__pgwire_params *p = &s->params;
    PGresult *r;
    int cls, row, rows, arr;
    size_t i;
    if (!s->keys.count) return NOSTR__PGWIRE_DONE;
    nostr__pgwire_params_reset(p);
    for (arr = 0; arr < 3; arr++) {
        static const Oid types[3][2] = {{NOSTR__PGWIRE_BYTEA_ARRAY, NOSTR__PGWIRE_BYTEA},
                                        {NOSTR__PGWIRE_INT4_ARRAY, NOSTR__PGWIRE_INT4},
                                        {NOSTR__PGWIRE_BYTEA_ARRAY, NOSTR__PGWIRE_BYTEA}};
        if (nostr__pgwire_array_begin(s, p, types[arr][0], types[arr][1]) < 0) return NOSTR__PGWIRE_NOMEM;
        for (i = 0; i < s->keys.cap; i++) {
            const nostr__pgwire_entry *e = &s->keys.slots[i];
            const char *k = s->keys.keys.data + e->key;
            int rc;
            if (!e->hash) continue;
            if (arr == 0)
                rc = nostr__pgwire_array_add(p, k, 32);
            else if (arr == 1)
                rc = nostr__pgwire_array_add(p, k + 32, 4);
            else
                rc = nostr__pgwire_array_add(p, k + 36, e->key_len - 36);
            if (rc) return NOSTR__PGWIRE_NOMEM;
        }
        nostr__pgwire_array_end(p);
    }
    cls = nostr__pgwire_exec(s, nostr__pgwire_sql_lookup_keys, p, &r);
    if (cls) return cls;
    rows = PQntuples(r);
    for (row = 0; row < rows; row++) {
        nostr__pgwire_entry *e;
        const char *id = PQgetvalue(r, row, 4);
        long long at = nostr__pgwire_int(r, row, 5);
        if (PQgetlength(r, row, 1) != 32 ||
            nostr__pgwire_addr_key(s, (const unsigned char *)PQgetvalue(r, row, 1),
                                   (unsigned)nostr__pgwire_int(r, row, 2), PQgetvalue(r, row, 3),
                                   (size_t)PQgetlength(r, row, 3)) ||
            !(e = nostr__pgwire_map_get(s, &s->keys, s->key.data, s->key.len, 0)))
            continue;
        if (nostr__pgwire_int(r, row, 0) == 1) {
            if (at > e->until) e->until = at;
            continue;
        }
        if (PQgetlength(r, row, 4) != 32) continue;
        if (e->stored && memcmp(e->ref, id, 32) == 0) continue;
        if (!e->stored || nostr__pgwire_wins(at, (const unsigned char *)id, e->created_at, e->ref)) {
            if (e->stored && nostr_buf_append(&s->drop, e->ref, 32)) break;
            e->stored = 1;
            e->created_at = at;
            memcpy(e->ref, id, 32);
        } else if (nostr_buf_append(&s->drop, id, 32)) {
            break;
        }
    }
    PQclear(r);
    return row < rows ? NOSTR__PGWIRE_NOMEM : NOSTR__PGWIRE_DONE;
}

/* An event leaves the store: not written when it is in this batch,
 * deleted from the database otherwise. */
static int nostr__pgwire_drop(nostr_pgwire *s, const unsigned char id[32], long put)
{
    nostr__pgwire_entry *e = nostr__pgwire_map_get(s, &s->ids, id, 32, 0);
    if (e) e->stored = 0;
    if (s->cache) nostr__pgwire_cache_forget(s, id);
    if (put >= 0) {
        s->puts[put].insert = 0;
        return NOSTR_OK;
    }
    return nostr_buf_append(&s->drop, id, 32);
}

/* A kind 5 event was saved: apply what it names (own events only). */
static int nostr__pgwire_apply_deletion(nostr_pgwire *s, const nostr__pgwire_put *p)
{
    size_t j, k;
    for (j = p->ref0; j < p->ref0 + p->nrefs; j++) {
        const nostr__pgwire_ref *r = &s->refs[j];
        nostr__pgwire_entry *e;
        if (!r->coord) {
            unsigned char dk[64];
            memcpy(dk, r->id, 32);
            memcpy(dk + 32, p->pubkey, 32);
            if (!(e = nostr__pgwire_map_get(s, &s->dels, dk, 64, 1))) return NOSTR_ERR_NOMEM;
            if (!e->stored) e->stored = e->dirty = 1;
            e = nostr__pgwire_map_get(s, &s->ids, r->id, 32, 0);
            /* A deletion of a deletion has no effect (NIP-09). */
            if (!e || !e->stored || memcmp(e->ref, p->pubkey, 32) != 0 || e->kind == 5) continue;
            if (nostr__pgwire_is_address(nostr_kind_class(e->kind)))
                for (k = 0; k < s->keys.cap; k++) {
                    nostr__pgwire_entry *a = &s->keys.slots[k];
                    if (a->hash && a->stored && memcmp(a->ref, r->id, 32) == 0) a->stored = 0;
                }
            if (nostr__pgwire_drop(s, r->id, e->put)) return NOSTR_ERR_NOMEM;
            continue;
        }
        if (nostr__pgwire_addr_key(s, p->pubkey, r->kind, s->text.data + r->d, r->d_len) ||
            !(e = nostr__pgwire_map_get(s, &s->keys, s->key.data, s->key.len, 0)))
            return NOSTR_ERR_NOMEM; /* gathered in step 1, so only memory can fail */
        if (p->created_at > e->until) {
            e->until = p->created_at;
            e->dirty = 1;
        }
        if (e->stored && e->created_at <= p->created_at) {
            e->stored = 0;
            if (nostr__pgwire_drop(s, e->ref, e->put)) return NOSTR_ERR_NOMEM;
        }
    }
    return NOSTR_OK;
}

/* Step 3: each queued put in order, as the built-in store would decide
 * it one at a time. */
static int nostr__pgwire_decide(nostr_pgwire *s, int ambiguous)
{
    size_t i;
    for (i = s->written; i < s->nputs; i++) {
        nostr__pgwire_put *p = &s->puts[i];
        nostr__pgwire_entry *e = nostr__pgwire_map_get(s, &s->ids, p->id, 32, 0), *k = NULL;
        unsigned char dk[64];
        p->insert = 0;
        if (!e) return NOSTR_ERR_NOMEM;
        if (e->stored) {
            /* After a commit that may have happened, our own rows look
             * like duplicates: they were saved. */
            p->result = ambiguous && e->put < 0 ? NOSTR_STORE_SAVED : NOSTR_STORE_DUPLICATE;
            continue;
        }
        memcpy(dk, p->id, 32);
        memcpy(dk + 32, p->pubkey, 32);
        if (p->kind != 5 && nostr__pgwire_map_get(s, &s->dels, dk, 64, 0)) {
            p->result = NOSTR_STORE_DELETED;
            continue;
        }
        if (nostr__pgwire_is_address(p->kclass)) {
            if (nostr__pgwire_addr_key(s, p->pubkey, p->kind, s->text.data + p->d, p->d_len) ||
                !(k = nostr__pgwire_map_get(s, &s->keys, s->key.data, s->key.len, 0)))
                return NOSTR_ERR_NOMEM;
            if (p->created_at <= k->until) {
                p->result = NOSTR_STORE_DELETED;
                continue;
            }
            if (k->stored && !nostr__pgwire_wins(p->created_at, p->id, k->created_at, k->ref)) {
                p->result = NOSTR_STORE_SUPERSEDED;
                continue;
            }
            if (k->stored && nostr__pgwire_drop(s, k->ref, k->put)) return NOSTR_ERR_NOMEM;
            k->stored = 1;
            k->created_at = p->created_at;
            k->put = (long)i;
            memcpy(k->ref, p->id, 32);
        }
        e = nostr__pgwire_map_get(s, &s->ids, p->id, 32, 0); /* drop may not move it, but be plain */
        e->stored = 1;
        e->kind = p->kind;
        e->put = (long)i;
        memcpy(e->ref, p->pubkey, 32);
        p->result = NOSTR_STORE_SAVED;
        p->insert = 1;
        if (p->kind == 5 && nostr__pgwire_apply_deletion(s, p)) return NOSTR_ERR_NOMEM;
    }
    return NOSTR_OK;
}

static int nostr__pgwire_write_drops(nostr_pgwire *s)
{
    nostr__pgwire_params *p = &s->params;
    size_t i;
    int cls;
    if (!s->drop.len) return NOSTR__PGWIRE_DONE;
    nostr__pgwire_params_reset(p);
    if (nostr__pgwire_array_begin(s, p, NOSTR__PGWIRE_BYTEA_ARRAY, NOSTR__PGWIRE_BYTEA) < 0) return NOSTR__PGWIRE_NOMEM;
    for (i = 0; i + 32 <= s->drop.len; i += 32)
        if (nostr__pgwire_array_add(p, s->drop.data + i, 32)) return NOSTR__PGWIRE_NOMEM;
    nostr__pgwire_array_end(p);
    cls = nostr__pgwire_run(s, nostr__pgwire_sql_drop_tags, p);
    if (!cls && s->words_state != NOSTR__PGWIRE_WORDS_NONE) cls = nostr__pgwire_run(s, nostr__pgwire_sql_drop_words, p);
    if (!cls) cls = nostr__pgwire_run(s, nostr__pgwire_sql_drop_events, p);
    return cls;
}

static int nostr__pgwire_write_events(nostr_pgwire *s)
{
    nostr__pgwire_params *p = &s->params;
    size_t i;
    int col, any = 0, rc = 0;
    for (i = s->written; i < s->nputs; i++) any |= s->puts[i].insert;
    if (!any) return NOSTR__PGWIRE_DONE;
    nostr__pgwire_params_reset(p);
    /* Column by column: id, pubkey, created_at, kind, d_tag, expiration, content, raw. */
    for (col = 0; col < 8 && !rc; col++) {
        static const Oid types[8][2] = {
            {NOSTR__PGWIRE_BYTEA_ARRAY, NOSTR__PGWIRE_BYTEA}, {NOSTR__PGWIRE_BYTEA_ARRAY, NOSTR__PGWIRE_BYTEA},
            {NOSTR__PGWIRE_INT8_ARRAY, NOSTR__PGWIRE_INT8},   {NOSTR__PGWIRE_INT4_ARRAY, NOSTR__PGWIRE_INT4},
            {NOSTR__PGWIRE_BYTEA_ARRAY, NOSTR__PGWIRE_BYTEA}, {NOSTR__PGWIRE_INT8_ARRAY, NOSTR__PGWIRE_INT8},
            {NOSTR__PGWIRE_TEXT_ARRAY, NOSTR__PGWIRE_TEXT},   {NOSTR__PGWIRE_TEXT_ARRAY, NOSTR__PGWIRE_TEXT}};
        if (nostr__pgwire_array_begin(s, p, types[col][0], types[col][1]) < 0) return NOSTR__PGWIRE_NOMEM;
        for (i = s->written; i < s->nputs && !rc; i++) {
            const nostr__pgwire_put *e = &s->puts[i];
            if (!e->insert) continue;
            switch (col) {
            case 0: rc = nostr__pgwire_array_add(p, e->id, 32); break;
            case 1: rc = nostr__pgwire_array_add(p, e->pubkey, 32); break;
            case 2: rc = nostr__pgwire_array_add_i64(p, e->created_at); break;
            case 3: rc = nostr__pgwire_array_add_i32(p, (long)e->kind); break;
            case 4:
                /* d_tag: "" for replaceable kinds, the d tag for addressable, NULL otherwise. */
                rc = nostr__pgwire_is_address(e->kclass) ? nostr__pgwire_array_add(p, s->text.data + e->d, e->d_len)
                                                         : nostr__pgwire_array_add_null(p);
                break;
            case 5:
                rc = e->expiration ? nostr__pgwire_array_add_i64(p, e->expiration) : nostr__pgwire_array_add_null(p);
                break;
            case 6: rc = nostr__pgwire_array_add(p, s->text.data + e->content, e->content_len); break;
            default: rc = nostr__pgwire_array_add(p, s->text.data + e->raw, e->raw_len); break;
            }
        }
        if (!rc) rc = nostr__pgwire_array_end(p);
    }
    if (rc) return NOSTR__PGWIRE_NOMEM;
    return nostr__pgwire_run(s, nostr__pgwire_sql_insert_events, p);
}

static int nostr__pgwire_write_tags(nostr_pgwire *s)
{
    nostr__pgwire_params *p = &s->params;
    size_t i, j;
    int col, any = 0, rc = 0;
    for (i = s->written; i < s->nputs; i++) any |= s->puts[i].insert && s->puts[i].ntags;
    if (!any) return NOSTR__PGWIRE_DONE;
    nostr__pgwire_params_reset(p);
    for (col = 0; col < 4 && !rc; col++) {
        static const Oid types[4][2] = {{NOSTR__PGWIRE_BYTEA_ARRAY, NOSTR__PGWIRE_BYTEA},
                                        {NOSTR__PGWIRE_TEXT_ARRAY, NOSTR__PGWIRE_TEXT},
                                        {NOSTR__PGWIRE_BYTEA_ARRAY, NOSTR__PGWIRE_BYTEA},
                                        {NOSTR__PGWIRE_INT8_ARRAY, NOSTR__PGWIRE_INT8}};
        if (nostr__pgwire_array_begin(s, p, types[col][0], types[col][1]) < 0) return NOSTR__PGWIRE_NOMEM;
        for (i = s->written; i < s->nputs && !rc; i++) {
            const nostr__pgwire_put *e = &s->puts[i];
            if (!e->insert) continue;
            for (j = e->tag0; j < e->tag0 + e->ntags && !rc; j++) {
                const nostr__pgwire_tagref *t = &s->tags[j];
                if (col == 0)
                    rc = nostr__pgwire_array_add(p, e->id, 32);
                else if (col == 1)
                    rc = nostr__pgwire_array_add(p, &t->name, 1);
                else if (col == 2)
                    rc = nostr__pgwire_array_add(p, s->text.data + t->value, t->len);
                else
                    rc = nostr__pgwire_array_add_i64(p, e->created_at);
            }
        }
        if (!rc) rc = nostr__pgwire_array_end(p);
    }
    if (rc) return NOSTR__PGWIRE_NOMEM;
    return nostr__pgwire_run(s, nostr__pgwire_sql_insert_tags, p);
}

/* The inserted events' words (queued with the puts). */
static int nostr__pgwire_write_words(nostr_pgwire *s)
{
    nostr__pgwire_params *p = &s->params;
    size_t i, j;
    int col, any = 0, rc = 0;
    if (s->words_state == NOSTR__PGWIRE_WORDS_NONE) return NOSTR__PGWIRE_DONE;
    for (i = s->written; i < s->nputs; i++) any |= s->puts[i].insert && s->puts[i].nwords;
    if (!any) return NOSTR__PGWIRE_DONE;
    nostr__pgwire_params_reset(p);
    for (col = 0; col < 3 && !rc; col++) {
        static const Oid types[3][2] = {{NOSTR__PGWIRE_BYTEA_ARRAY, NOSTR__PGWIRE_BYTEA},
                                        {NOSTR__PGWIRE_TEXT_ARRAY, NOSTR__PGWIRE_TEXT},
                                        {NOSTR__PGWIRE_INT8_ARRAY, NOSTR__PGWIRE_INT8}};
        if (nostr__pgwire_array_begin(s, p, types[col][0], types[col][1]) < 0) return NOSTR__PGWIRE_NOMEM;
        for (i = s->written; i < s->nputs && !rc; i++) {
            const nostr__pgwire_put *e = &s->puts[i];
            if (!e->insert) continue;
            for (j = e->word0; j < e->word0 + e->nwords && !rc; j++) {
                if (col == 0)
                    rc = nostr__pgwire_array_add(p, e->id, 32);
                else if (col == 1)
                    rc = nostr__pgwire_array_add(p, s->text.data + s->words[j].off, s->words[j].len);
                else
                    rc = nostr__pgwire_array_add_i64(p, e->created_at);
            }
        }
        if (!rc) rc = nostr__pgwire_array_end(p);
    }
    if (rc) return NOSTR__PGWIRE_NOMEM;
    return nostr__pgwire_run(s, nostr__pgwire_sql_insert_words, p);
}

static int nostr__pgwire_write_deletions(nostr_pgwire *s)
{
    nostr__pgwire_params *p = &s->params;
    size_t i;
    int col, any = 0, rc = 0, cls;
    for (i = 0; i < s->dels.cap; i++) any |= s->dels.slots[i].hash && s->dels.slots[i].dirty;
    if (any) {
        nostr__pgwire_params_reset(p);
        for (col = 0; col < 2 && !rc; col++) {
            if (nostr__pgwire_array_begin(s, p, NOSTR__PGWIRE_BYTEA_ARRAY, NOSTR__PGWIRE_BYTEA) < 0)
                return NOSTR__PGWIRE_NOMEM;
            for (i = 0; i < s->dels.cap && !rc; i++) {
                const nostr__pgwire_entry *e = &s->dels.slots[i];
                if (e->hash && e->dirty) rc = nostr__pgwire_array_add(p, s->dels.keys.data + e->key + 32 * col, 32);
            }
            if (!rc) rc = nostr__pgwire_array_end(p);
        }
        if (rc) return NOSTR__PGWIRE_NOMEM;
        cls = nostr__pgwire_run(s, nostr__pgwire_sql_insert_deletions, p);
        if (cls) return cls;
    }
    any = 0;
    for (i = 0; i < s->keys.cap; i++) any |= s->keys.slots[i].hash && s->keys.slots[i].dirty;
    if (!any) return NOSTR__PGWIRE_DONE;
    nostr__pgwire_params_reset(p);
    for (col = 0; col < 4 && !rc; col++) {
        static const Oid types[4][2] = {{NOSTR__PGWIRE_BYTEA_ARRAY, NOSTR__PGWIRE_BYTEA},
                                        {NOSTR__PGWIRE_INT4_ARRAY, NOSTR__PGWIRE_INT4},
                                        {NOSTR__PGWIRE_BYTEA_ARRAY, NOSTR__PGWIRE_BYTEA},
                                        {NOSTR__PGWIRE_INT8_ARRAY, NOSTR__PGWIRE_INT8}};
        if (nostr__pgwire_array_begin(s, p, types[col][0], types[col][1]) < 0) return NOSTR__PGWIRE_NOMEM;
        for (i = 0; i < s->keys.cap && !rc; i++) {
            const nostr__pgwire_entry *e = &s->keys.slots[i];
            const char *k = s->keys.keys.data + e->key;
            if (!e->hash || !e->dirty) continue;
            if (col == 0)
                rc = nostr__pgwire_array_add(p, k, 32);
            else if (col == 1)
                rc = nostr__pgwire_array_add(p, k + 32, 4);
            else if (col == 2)
                rc = nostr__pgwire_array_add(p, k + 36, e->key_len - 36);
            else
                rc = nostr__pgwire_array_add_i64(p, e->until);
        }
        if (!rc) rc = nostr__pgwire_array_end(p);
    }
    if (rc) return NOSTR__PGWIRE_NOMEM;
    return nostr__pgwire_run(s, nostr__pgwire_sql_insert_coords, p);
}

/* The queued provenance records, after the events (so the join sees this
 * batch's rows). */
static int nostr__pgwire_write_seen(nostr_pgwire *s)
{
    nostr__pgwire_params *p = &s->params;
    size_t i;
    int col, rc = 0;
    if (!s->nseen) return NOSTR__PGWIRE_DONE;
    nostr__pgwire_params_reset(p);
    for (col = 0; col < 3 && !rc; col++) {
        static const Oid types[3][2] = {{NOSTR__PGWIRE_BYTEA_ARRAY, NOSTR__PGWIRE_BYTEA},
                                        {NOSTR__PGWIRE_INT4_ARRAY, NOSTR__PGWIRE_INT4},
                                        {NOSTR__PGWIRE_INT8_ARRAY, NOSTR__PGWIRE_INT8}};
        if (nostr__pgwire_array_begin(s, p, types[col][0], types[col][1]) < 0) return NOSTR__PGWIRE_NOMEM;
        for (i = 0; i < s->nseen && !rc; i++) {
            const nostr__pgwire_seen *q = &s->seen[i];
            if (col == 0)
                rc = nostr__pgwire_array_add(p, q->id, 32);
            else if (col == 1)
                rc = nostr__pgwire_array_add_i32(p, (long)q->relay_id);
            else
                rc = nostr__pgwire_array_add_i64(p, q->first_seen);
        }
        if (!rc) rc = nostr__pgwire_array_end(p);
    }
    if (rc) return NOSTR__PGWIRE_NOMEM;
    return nostr__pgwire_run(s, nostr__pgwire_sql_insert_seen, p);
}

/* The queued puts: look up, decide, write. */
static int nostr__pgwire_write_puts(nostr_pgwire *s, int ambiguous)
{
    int cls;
    nostr__pgwire_map_reset(&s->ids);
    nostr__pgwire_map_reset(&s->dels);
    nostr__pgwire_map_reset(&s->keys);
    nostr_buf_clear(&s->drop);
    if (s->written == s->nputs) return NOSTR__PGWIRE_DONE; /* only provenance records are queued */
    if (nostr__pgwire_gather(s)) return NOSTR__PGWIRE_NOMEM;
    if ((cls = nostr__pgwire_lookup_ids(s)) != 0) return cls;
    if ((cls = nostr__pgwire_lookup_keys(s)) != 0) return cls;
    if (nostr__pgwire_decide(s, ambiguous)) return NOSTR__PGWIRE_NOMEM;
    if ((cls = nostr__pgwire_write_drops(s)) != 0) return cls;
    if ((cls = nostr__pgwire_write_events(s)) != 0) return cls;
    if ((cls = nostr__pgwire_write_tags(s)) != 0) return cls;
    if ((cls = nostr__pgwire_write_words(s)) != 0) return cls;
    return nostr__pgwire_write_deletions(s);
}

/* One attempt at writing the queue, inside BEGIN ... COMMIT. */
static int nostr__pgwire_flush_body(nostr_pgwire *s, void *arg, int ambiguous)
{
    int cls;
    (void)arg;
    if ((cls = nostr__pgwire_write_puts(s, ambiguous)) != 0) return cls;
    return nostr__pgwire_write_seen(s);
}

/* Write the queued puts (their completions wait for commit) and
 * provenance records. */
static int nostr__pgwire_flush(nostr_pgwire *s)
{
    size_t i;
    int rc;
    if (s->written == s->nputs && !s->nseen) return NOSTR_OK;
    rc = nostr__pgwire_transaction(s, nostr__pgwire_flush_body, NULL);
    /* Records are written or, with a failed transaction, dropped: the
     * caller redelivers; commit reports it. */
    if (rc != NOSTR_OK && s->nseen) s->seen_rc = rc;
    s->nseen = 0;
    for (i = s->written; i < s->nputs; i++) {
        nostr__pgwire_put *p = &s->puts[i];
        if (rc != NOSTR_OK)
            p->result = rc;
        else if ((p->result == NOSTR_STORE_SAVED || p->result == NOSTR_STORE_DUPLICATE) && s->cache)
            nostr__pgwire_cache_add(s, p->id);
    }
    /* Ids dropped by this commit may have been cached before it. (A
     * batch's writer has no cache: commit_end does this for the store.) */
    if (rc == NOSTR_OK && s->cache)
        for (i = 0; i + 32 <= s->drop.len; i += 32)
            nostr__pgwire_cache_forget(s, (const unsigned char *)s->drop.data + i);
    if (rc != NOSTR_OK) snprintf(s->put_err, sizeof s->put_err, "%s", s->err);
    s->written = s->nputs;
    return rc;
}

/* Complete w's written puts (w is s, or a batch's writer) and drop them
 * from w's queue; the worst result. Completions run with s->completing
 * set: a commit from one writes but leaves completing to this loop. */
static int nostr__pgwire_complete(nostr_pgwire *s, nostr_pgwire *w)
{
    size_t i, n = w->written;
    int worst = NOSTR_OK;
    s->completing = 1;
    /* A completion may put again: w->puts may move, so index it afresh. */
    for (i = 0; i < n; i++) {
        nostr__pgwire_put p = w->puts[i];
        if (p.result < 0) worst = p.result;
        p.done(p.user, p.result, p.result < 0 ? w->put_err : NULL);
    }
    s->completing = 0;
    if (n && w->nputs > n) memmove(w->puts, w->puts + n, (w->nputs - n) * sizeof *w->puts);
    w->nputs -= n;
    w->written -= n;
    if (!w->nputs) { /* nothing left points into the buffers */
        nostr_buf_clear(&w->text);
        w->ntags = w->nrefs = w->nwords = 0;
    }
    return worst;
}

/* Write the queue before a read or purge, so that it sees every put made
 * before it; not while a pipelined batch is out: two writers at once
 * could commit out of order, so the queue waits for the next batch and
 * the read sees neither until their completions. */
static void nostr__pgwire_flush_for_read(nostr_pgwire *s)
{
    if (!s->batch_out) (void)nostr__pgwire_flush(s);
}

NOSTRDEF int nostr_pgwire_commit(nostr_pgwire *s)
{
    int rc, worst;
    if (!s) return NOSTR_ERR_ARG;
    if (s->batch_out) return NOSTR_OK; /* the queue waits for the next batch: one write at a time, in order */
    rc = nostr__pgwire_flush(s);
    if (s->completing) return rc; /* commit from a completion: written, completed by the outer call */
    worst = nostr__pgwire_complete(s, s);
    if (worst == NOSTR_OK) worst = s->seen_rc; /* provenance records were dropped */
    s->seen_rc = NOSTR_OK;
    return worst;
}

/* ---- pipelined commit ---- */

/* Exchange the put queues (and provenance records) of a and b. */
static void nostr__pgwire_swap_queue(nostr_pgwire *a, nostr_pgwire *b)
{
    nostr_pgwire t;
#define NOSTR__PGWIRE_SWAP(f) (t.f = a->f, a->f = b->f, b->f = t.f)
    NOSTR__PGWIRE_SWAP(puts);
    NOSTR__PGWIRE_SWAP(nputs);
    NOSTR__PGWIRE_SWAP(cap_puts);
    NOSTR__PGWIRE_SWAP(written);
    NOSTR__PGWIRE_SWAP(tags);
    NOSTR__PGWIRE_SWAP(ntags);
    NOSTR__PGWIRE_SWAP(cap_tags);
    NOSTR__PGWIRE_SWAP(refs);
    NOSTR__PGWIRE_SWAP(nrefs);
    NOSTR__PGWIRE_SWAP(cap_refs);
    NOSTR__PGWIRE_SWAP(words);
    NOSTR__PGWIRE_SWAP(nwords);
    NOSTR__PGWIRE_SWAP(cap_words);
    NOSTR__PGWIRE_SWAP(text);
    NOSTR__PGWIRE_SWAP(seen);
    NOSTR__PGWIRE_SWAP(nseen);
    NOSTR__PGWIRE_SWAP(cap_seen);
#undef NOSTR__PGWIRE_SWAP
}

NOSTRDEF int nostr_pgwire_commit_begin(nostr_pgwire *s, nostr_pgwire_batch **out)
{
    nostr_pgwire *w;
    if (!out) return NOSTR_ERR_ARG;
    *out = NULL;
    if (!s) return NOSTR_ERR_ARG;
    if (s->batch_out) return NOSTR_ERR_BUSY;
    /* puts already written by a read's flush still need their completions */
    if (!s->nputs && !s->nseen) return NOSTR_OK;
    if (!s->batch) {
        nostr_pgwire_batch *b = (nostr_pgwire_batch *)nostr_alloc(s->al, sizeof *b);
        if (!b) return NOSTR_ERR_NOMEM;
        b->rc = NOSTR_OK;
        b->w = nostr__pgwire_new(s->al, s->log, s->log_user, s->conninfo, 0);
        if (!b->w) {
            nostr_free(s->al, b);
            return NOSTR_ERR_NOMEM;
        }
        s->batch = b;
    }
    w = s->batch->w;
    nostr__pgwire_swap_queue(s, w);
    /* puts a read's flush wrote and failed go with the message they failed with */
    memcpy(w->put_err, s->put_err, sizeof w->put_err);
    w->words_state = s->words_state;
    s->batch->rc = NOSTR_OK;
    s->batch_out = 1;
    *out = s->batch;
    return NOSTR_OK;
}

NOSTRDEF int nostr_pgwire_commit_write(nostr_pgwire_batch *b)
{
    if (!b) return NOSTR_ERR_ARG;
    b->rc = nostr__pgwire_flush(b->w);
    return b->rc;
}

NOSTRDEF int nostr_pgwire_commit_end(nostr_pgwire *s, nostr_pgwire_batch *b)
{
    nostr_pgwire *w;
    size_t i;
    int worst;
    if (!s || !b || b != s->batch || !s->batch_out) return NOSTR_ERR_ARG;
    w = b->w;
    s->batch_out = 0;
    /* what flush does to the id cache behind has(), for the store */
    for (i = 0; i < w->written; i++)
        if (w->puts[i].result == NOSTR_STORE_SAVED || w->puts[i].result == NOSTR_STORE_DUPLICATE)
            nostr__pgwire_cache_add(s, w->puts[i].id);
    if (b->rc == NOSTR_OK)
        for (i = 0; i + 32 <= w->drop.len; i += 32)
            nostr__pgwire_cache_forget(s, (const unsigned char *)w->drop.data + i);
    if (b->rc != NOSTR_OK) snprintf(s->err, sizeof s->err, "%s", w->err);
    worst = nostr__pgwire_complete(s, w);
    if (worst == NOSTR_OK) worst = w->seen_rc;
    w->seen_rc = NOSTR_OK;
    /* w's queue is empty again: give its buffers back to s's next batch */
    return worst;
}

static int nostr__pgwire_commit_fn(void *self)
{
    return nostr_pgwire_commit((nostr_pgwire *)self);
}

/* ---- queries ---- */

/* Can this filter match anything at all? */
static int nostr__pgwire_filter_live(const nostr_filter *f, int for_count)
{
    if (!nostr_filter_can_match(f)) return 0;
    return for_count || !(f->fields & NOSTR_FILTER_LIMIT) || f->limit != 0;
}

static int nostr__pgwire_sql_param(nostr_buf *sql, const char *before, int n, const char *after)
{
    if (n < 0) return n;
    if (nostr_buf_append_str(sql, before) || nostr_buf_append_i64(sql, n) || nostr_buf_append_str(sql, after))
        return NOSTR_ERR_NOMEM;
    return NOSTR_OK;
}

/* "e.col = $n" for one value, "e.col = ANY($n)" for a list of 32-byte keys. */
static int nostr__pgwire_where_keys(nostr_pgwire *s, const char *col, const unsigned char (*keys)[32], size_t count)
{
    nostr__pgwire_params *p = &s->params;
    size_t i;
    int n;
    if (nostr_buf_append_str(&s->sql, " AND e.") || nostr_buf_append_str(&s->sql, col)) return NOSTR_ERR_NOMEM;
    if (count == 1)
        return nostr__pgwire_sql_param(&s->sql, " = $", nostr__pgwire_param(s, p, NOSTR__PGWIRE_BYTEA, keys[0], 32),
                                       "::bytea");
    n = nostr__pgwire_array_begin(s, p, NOSTR__PGWIRE_BYTEA_ARRAY, NOSTR__PGWIRE_BYTEA);
    for (i = 0; i < count && n > 0; i++)
        if (nostr__pgwire_array_add(p, keys[i], 32)) return NOSTR_ERR_NOMEM;
    if (n > 0) nostr__pgwire_array_end(p);
    return nostr__pgwire_sql_param(&s->sql, " = ANY($", n, "::bytea[])");
}

/* "<col> = $n" (one value) or "<col> = ANY($n)" over tag values as stored. */
static int nostr__pgwire_where_values(nostr_pgwire *s, const char *col, const nostr_tag_filter *t)
{
    nostr__pgwire_params *p = &s->params;
    unsigned char tmp[33];
    const char *v;
    size_t vl, i;
    int n;
    if (nostr_buf_append_str(&s->sql, col)) return NOSTR_ERR_NOMEM;
    if (t->count == 1) {
        nostr__pgwire_value(t->values[0].ptr, t->values[0].len, tmp, &v, &vl);
        return nostr__pgwire_sql_param(&s->sql, " = $", nostr__pgwire_param(s, p, NOSTR__PGWIRE_BYTEA, v, vl),
                                       "::bytea");
    }
    n = nostr__pgwire_array_begin(s, p, NOSTR__PGWIRE_BYTEA_ARRAY, NOSTR__PGWIRE_BYTEA);
    for (i = 0; i < t->count && n > 0; i++) {
        nostr__pgwire_value(t->values[i].ptr, t->values[i].len, tmp, &v, &vl);
        if (nostr__pgwire_array_add(p, v, vl)) return NOSTR_ERR_NOMEM;
    }
    if (n > 0) nostr__pgwire_array_end(p);
    return nostr__pgwire_sql_param(&s->sql, " = ANY($", n, "::bytea[])");
}

/* A tag filter other than the driver: a semi-join on the tag index. */
static int nostr__pgwire_where_tag(nostr_pgwire *s, const nostr_tag_filter *t, int since, int until)
{
    int rc = nostr__pgwire_sql_param(&s->sql, " AND e.id IN (SELECT event_id FROM tags WHERE name = $",
                                     nostr__pgwire_param(s, &s->params, NOSTR__PGWIRE_TEXT, &t->name, 1), "::text");
    if (!rc) rc = nostr__pgwire_where_values(s, " AND value", t);
    /* The tag index carries created_at: the time range narrows it too. */
    if (!rc && since) rc = nostr__pgwire_sql_param(&s->sql, " AND created_at >= $", since, "");
    if (!rc && until) rc = nostr__pgwire_sql_param(&s->sql, " AND created_at <= $", until, "");
    if (!rc && nostr_buf_append_str(&s->sql, ")")) rc = NOSTR_ERR_NOMEM;
    return rc;
}

static int nostr__pgwire_search_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || c == 0;
}

static int nostr__pgwire_span_add(nostr_pgwire *s, nostr__pgwire_wordref **arr, size_t *n, size_t *cap, size_t off,
                                  size_t len)
{
    void *np = nostr__pgwire_reserve(s->al, *arr, cap, *n + 1, sizeof **arr);
    if (!np) return NOSTR_ERR_NOMEM;
    *arr = (nostr__pgwire_wordref *)np;
    (*arr)[*n].off = off;
    (*arr)[*n].len = len;
    (*n)++;
    return NOSTR_OK;
}

/* NIP-50: every whitespace-separated term of the search must occur in
 * content, ASCII case-insensitive. Each term is split into words as
 * content is (nostr_search_next_word); every such word must be one of the
 * event's indexed words (a whole word, not part of one). A term that is
 * not exactly one indexed word (punctuation in it, a word cut at 40 bytes,
 * or no word of 2 bytes or more: "a", "%") is also checked as a substring,
 * content LIKE '%term%'. Fills s->qtext (the search lowered), s->qwords
 * (distinct words, into qtext) and s->qlikes (terms for LIKE); *drive gets
 * the word to read the index by, the longest (likely the rarest), or -1
 * when there is none (or the words table is not ready: then every term is
 * a LIKE, a scan). */
static int nostr__pgwire_search_plan(nostr_pgwire *s, const nostr_str *q, long *drive)
{
    size_t i = 0, j, k, start, len, best = 0;
    int rc = NOSTR_OK;
    nostr_buf_clear(&s->qtext);
    s->nqwords = s->nqlikes = 0;
    *drive = -1;
    if (nostr_buf_reserve(&s->qtext, q->len + 1)) return NOSTR_ERR_NOMEM;
    for (i = 0; i < q->len; i++) {
        char c = q->ptr[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        s->qtext.data[s->qtext.len++] = nostr__pgwire_search_space(c) ? ' ' : c;
    }
    i = 0;
    while (i < s->qtext.len && !rc) {
        const char *t;
        int words = 0, whole = 0;
        while (i < s->qtext.len && s->qtext.data[i] == ' ') i++;
        if (i >= s->qtext.len) break;
        for (j = i; j < s->qtext.len && s->qtext.data[j] != ' '; j++) {
        }
        t = s->qtext.data + i;
        for (k = 0; s->words_state == NOSTR__PGWIRE_WORDS_READY && !rc &&
                    nostr_search_next_word(t, j - i, &k, &start, &len);) {
            size_t m;
            words++;
            whole = start == 0 && len == j - i;
            for (m = 0; m < s->nqwords; m++)
                if (s->qwords[m].len == len && memcmp(s->qtext.data + s->qwords[m].off, t + start, len) == 0) break;
            if (m < s->nqwords) continue;
            rc = nostr__pgwire_span_add(s, &s->qwords, &s->nqwords, &s->cap_qwords, i + start, len);
            if (!rc && len > best) best = len, *drive = (long)m;
        }
        if (!rc && !(words == 1 && whole))
            rc = nostr__pgwire_span_add(s, &s->qlikes, &s->nqlikes, &s->cap_qlikes, i, j - i);
        i = j;
    }
    return rc;
}

/* The search's conditions (s->qwords but the driving one, s->qlikes):
 * EXISTS on the words index for each word, content LIKE '%term%' with % _
 * \ escaped for each term. Patterns and words are parameters. OFFSET 0
 * keeps PostgreSQL from turning the EXISTS into a semi-join (it would
 * then hash every row of the word and scan events): it stays one probe of
 * words_word_idx per row the driver hands over, and the limit still
 * stops the driver early. Driven by a word, the probe names the driver's
 * row (w), so it runs on the index entry, before the event is fetched. */
static int nostr__pgwire_where_search(nostr_pgwire *s, long drive)
{
    nostr__pgwire_params *p = &s->params;
    nostr_buf pat;
    size_t i, j;
    int rc = NOSTR_OK;
    for (i = 0; i < s->nqwords && !rc; i++) {
        if ((long)i == drive) continue;
        rc = nostr__pgwire_sql_param(
            &s->sql, " AND EXISTS (SELECT 1 FROM words x WHERE x.word = $",
            nostr__pgwire_param(s, p, NOSTR__PGWIRE_TEXT, s->qtext.data + s->qwords[i].off, s->qwords[i].len),
            drive >= 0 ? "::text AND x.created_at = w.created_at AND x.event_id = w.event_id OFFSET 0)"
                       : "::text AND x.created_at = e.created_at AND x.event_id = e.id OFFSET 0)");
    }
    nostr_buf_init(&pat, s->al);
    for (i = 0; i < s->nqlikes && !rc; i++) {
        const char *t = s->qtext.data + s->qlikes[i].off;
        nostr_buf_clear(&pat);
        rc = nostr_buf_append_char(&pat, '%');
        for (j = 0; j < s->qlikes[i].len && !rc; j++) {
            if (t[j] == '%' || t[j] == '_' || t[j] == '\\') rc = nostr_buf_append_char(&pat, '\\');
            if (!rc) rc = nostr_buf_append_char(&pat, t[j]);
        }
        if (!rc) rc = nostr_buf_append_char(&pat, '%');
        if (!rc)
            rc = nostr__pgwire_sql_param(&s->sql, " AND e.content LIKE $",
                                         nostr__pgwire_param(s, p, NOSTR__PGWIRE_TEXT, pat.data, pat.len), "::text");
    }
    nostr_buf_free(&pat);
    return rc;
}

/* The tag filter that drives the query, or -1: one with a single value is
 * joined (tags t JOIN events e), so the tag index hands rows over newest
 * first and a limit stops the scan early; a single value cannot give an
 * event twice. An ids filter is left to the primary key. */
static long nostr__pgwire_driver(const nostr_filter *f)
{
    size_t i;
    if (f->fields & NOSTR_FILTER_IDS) return -1;
    for (i = 0; i < f->tags_count; i++)
        if (f->tags[i].count == 1) return (long)i;
    return -1;
}

/* Several authors and a limit: one index scan per author, each stopped
 * at the limit, then merged (a feed of 500 follows reads at most 500 x
 * limit rows, not every event of every author). */
static int nostr__pgwire_lateral(const nostr_filter *f, long driver, int limit)
{
    return limit && driver < 0 && (f->fields & NOSTR_FILTER_LIMIT) && (f->fields & NOSTR_FILTER_AUTHORS) &&
           f->authors_count > 1 && !(f->fields & NOSTR_FILTER_IDS);
}

/* One filter as "SELECT <what> FROM ... WHERE ... [ORDER BY ... LIMIT]";
 * $1 is always now. */
static int nostr__pgwire_select(nostr_pgwire *s, const nostr_filter *f, const char *what, int order, int limit)
{
    nostr__pgwire_params *p = &s->params;
    long driver = nostr__pgwire_driver(f), word = -1;
    int lateral, rc = NOSTR_OK, since = 0, until = 0, lim = 0, n;
    const char *at = " AND e.created_at";
    size_t i;
    /* A search word drives unless ids (the primary key) or a single tag
     * value (its index) does: the words index hands rows over newest
     * first, like the tag index, and the limit stops it. */
    if ((f->fields & NOSTR_FILTER_SEARCH) && nostr__pgwire_search_plan(s, &f->search, &word)) return NOSTR_ERR_NOMEM;
    if (driver >= 0 || (f->fields & NOSTR_FILTER_IDS)) word = -1;
    lateral = word < 0 && nostr__pgwire_lateral(f, driver, limit);
    if (word >= 0) at = " AND w.created_at"; /* in the words index: a range of it */
    if (nostr_buf_append_str(&s->sql, "SELECT ") || nostr_buf_append_str(&s->sql, what)) return NOSTR_ERR_NOMEM;
    if (f->fields & NOSTR_FILTER_SINCE) since = nostr__pgwire_param_i64(s, p, f->since);
    if (f->fields & NOSTR_FILTER_UNTIL) until = nostr__pgwire_param_i64(s, p, f->until);
    if (limit && (f->fields & NOSTR_FILTER_LIMIT))
        lim = nostr__pgwire_param_i64(s, p,
                                      f->limit > 0x7fffffffffffffffULL ? 0x7fffffffffffffffLL : (long long)f->limit);
    if (since < 0 || until < 0 || lim < 0) return NOSTR_ERR_NOMEM;
    if (lateral) {
        n = nostr__pgwire_array_begin(s, p, NOSTR__PGWIRE_BYTEA_ARRAY, NOSTR__PGWIRE_BYTEA);
        for (i = 0; i < f->authors_count && n > 0; i++)
            if (nostr__pgwire_array_add(p, f->authors[i], 32)) return NOSTR_ERR_NOMEM;
        if (n > 0) nostr__pgwire_array_end(p);
        rc = nostr__pgwire_sql_param(&s->sql, " FROM unnest($", n,
                                     "::bytea[]) AS a (pubkey) CROSS JOIN LATERAL (SELECT ");
        if (!rc && (nostr_buf_append_str(&s->sql, what) ||
                    nostr_buf_append_str(&s->sql, " FROM events e WHERE e.pubkey = a.pubkey AND "
                                                  "(e.expiration IS NULL OR e.expiration > $1::int8)")))
            rc = NOSTR_ERR_NOMEM;
    } else if (driver >= 0) {
        rc = nostr__pgwire_sql_param(&s->sql, " FROM tags t JOIN events e ON e.id = t.event_id WHERE t.name = $",
                                     nostr__pgwire_param(s, p, NOSTR__PGWIRE_TEXT, &f->tags[driver].name, 1), "::text");
        if (!rc) rc = nostr__pgwire_where_values(s, " AND t.value", &f->tags[driver]);
        if (!rc && nostr_buf_append_str(&s->sql, " AND (e.expiration IS NULL OR e.expiration > $1::int8)"))
            rc = NOSTR_ERR_NOMEM;
    } else if (word >= 0) {
        rc = nostr__pgwire_sql_param(&s->sql, " FROM words w JOIN events e ON e.id = w.event_id WHERE w.word = $",
                                     nostr__pgwire_param(s, p, NOSTR__PGWIRE_TEXT, s->qtext.data + s->qwords[word].off,
                                                         s->qwords[word].len),
                                     "::text AND (e.expiration IS NULL OR e.expiration > $1::int8)");
    } else if (nostr_buf_append_str(&s->sql,
                                    " FROM events e WHERE (e.expiration IS NULL OR e.expiration > $1::int8)")) {
        rc = NOSTR_ERR_NOMEM;
    }
    if (!rc && (f->fields & NOSTR_FILTER_IDS))
        rc = nostr__pgwire_where_keys(s, "id", (const unsigned char(*)[32])f->ids, f->ids_count);
    if (!rc && (f->fields & NOSTR_FILTER_AUTHORS) && !lateral)
        rc = nostr__pgwire_where_keys(s, "pubkey", (const unsigned char(*)[32])f->authors, f->authors_count);
    if (!rc && (f->fields & NOSTR_FILTER_KINDS)) {
        if (f->kinds_count == 1) {
            unsigned char b[4];
            nostr__pgwire_be32(b, f->kinds[0]);
            rc = nostr__pgwire_sql_param(&s->sql, " AND e.kind = $",
                                         nostr__pgwire_param(s, p, NOSTR__PGWIRE_INT4, b, 4), "::int4");
        } else {
            n = nostr__pgwire_array_begin(s, p, NOSTR__PGWIRE_INT4_ARRAY, NOSTR__PGWIRE_INT4);
            for (i = 0; i < f->kinds_count && n > 0; i++)
                if (nostr__pgwire_array_add_i32(p, (long)f->kinds[i])) return NOSTR_ERR_NOMEM;
            if (n > 0) nostr__pgwire_array_end(p);
            rc = nostr__pgwire_sql_param(&s->sql, " AND e.kind = ANY($", n, "::int4[])");
        }
    }
    if (!rc && since && (rc = nostr_buf_append_str(&s->sql, at)) == NOSTR_OK)
        rc = nostr__pgwire_sql_param(&s->sql, " >= $", since, "::int8");
    if (!rc && until && (rc = nostr_buf_append_str(&s->sql, at)) == NOSTR_OK)
        rc = nostr__pgwire_sql_param(&s->sql, " <= $", until, "::int8");
    for (i = 0; !rc && i < f->tags_count; i++)
        if ((long)i != driver) rc = nostr__pgwire_where_tag(s, &f->tags[i], since, until);
    if (!rc && (f->fields & NOSTR_FILTER_SEARCH)) rc = nostr__pgwire_where_search(s, word);
    if (!rc && lateral) {
        rc = nostr__pgwire_sql_param(&s->sql, " ORDER BY e.created_at DESC, e.id LIMIT $", lim, "::int8) e");
    }
    /* Driven by a tag or a word: its index order (created_at equals the event's). */
    if (!rc && order &&
        nostr_buf_append_str(&s->sql, driver >= 0  ? " ORDER BY t.created_at DESC, t.event_id"
                                      : word >= 0 ? " ORDER BY w.created_at DESC, w.event_id"
                                                  : " ORDER BY e.created_at DESC, e.id"))
        rc = NOSTR_ERR_NOMEM;
    if (!rc && lim) rc = nostr__pgwire_sql_param(&s->sql, " LIMIT $", lim, "::int8");
    return rc;
}

/* Build the SQL for n filters into s->sql / s->params. for_count: one
 * count over the union; otherwise rows (id, created_at, raw) newest
 * first, each filter's limit applied inside its branch. *live gets how
 * many filters can match (0: nothing to run). */
static int nostr__pgwire_build(nostr_pgwire *s, const nostr_filter *f, size_t n, long long now, int for_count,
                               size_t *live)
{
    size_t i, used = 0;
    int rc;
    nostr_buf_clear(&s->sql);
    nostr__pgwire_params_reset(&s->params);
    for (i = 0; i < n; i++) used += (size_t)nostr__pgwire_filter_live(&f[i], for_count);
    *live = used;
    if (!used) return NOSTR_OK;
    if (nostr__pgwire_param_i64(s, &s->params, now) < 0) return NOSTR_ERR_NOMEM;
    if (used == 1) {
        for (i = 0; !nostr__pgwire_filter_live(&f[i], for_count); i++) {
        }
        if (for_count) return nostr__pgwire_select(s, &f[i], "count(*)", 0, 0);
        return nostr__pgwire_select(s, &f[i], "e.id, e.created_at, e.raw", 1, 1);
    }
    /* Several filters: each a branch (with its own limit), the union
     * sorted once; an event in several branches comes out adjacent and
     * is sent once (the caller skips repeats; count uses UNION). */
    if (nostr_buf_append_str(&s->sql, for_count ? "SELECT count(*) FROM (" : "SELECT id, created_at, raw FROM ("))
        return NOSTR_ERR_NOMEM;
    used = 0;
    for (i = 0; i < n; i++) {
        int limited = !for_count && (f[i].fields & NOSTR_FILTER_LIMIT);
        if (!nostr__pgwire_filter_live(&f[i], for_count)) continue;
        if (used++ && nostr_buf_append_str(&s->sql, for_count ? " UNION " : " UNION ALL ")) return NOSTR_ERR_NOMEM;
        if (nostr_buf_append_char(&s->sql, '(')) return NOSTR_ERR_NOMEM;
        rc = nostr__pgwire_select(s, &f[i], for_count ? "e.id" : "e.id, e.created_at, e.raw", limited, limited);
        if (rc) return rc;
        if (nostr_buf_append_char(&s->sql, ')')) return NOSTR_ERR_NOMEM;
    }
    return nostr_buf_append_str(&s->sql, for_count ? ") u" : ") u ORDER BY created_at DESC, id");
}

/* Run sql with s->params outside a transaction: again after 40001 or
 * once after a lost connection. */
static int nostr__pgwire_read_sql(nostr_pgwire *s, const char *sql, PGresult **out)
{
    int tries = 0, lost = 0, cls, rc;
    for (;;) {
        rc = nostr__pgwire_ensure(s);
        if (rc != NOSTR_OK) return rc;
        cls = nostr__pgwire_exec(s, sql, &s->params, out);
        if (cls == NOSTR__PGWIRE_DONE) return NOSTR_OK;
        if (cls == NOSTR__PGWIRE_NOMEM) return NOSTR_ERR_NOMEM;
        if (cls == NOSTR__PGWIRE_RETRY && ++tries < NOSTR__PGWIRE_TRIES) continue;
        if ((cls == NOSTR__PGWIRE_LOST || cls == NOSTR__PGWIRE_AMBIGUOUS) && ++lost <= 1) continue;
        nostr__pgwire_log(s, NOSTR_LOG_ERROR, "query failed", s->err);
        return NOSTR_ERR_NET;
    }
}

/* The built statement (s->sql). */
static int nostr__pgwire_read(nostr_pgwire *s, PGresult **out)
{
    return nostr__pgwire_read_sql(s, s->sql.data, out);
}

static int nostr__pgwire_query_fn(void *self, const nostr_filter *filters, size_t n, long long now,
                                  nostr_store_row_fn row, nostr_store_done_fn done, void *user)
{
    nostr_pgwire *s = (nostr_pgwire *)self;
    PGresult *r;
    size_t live;
    int rc, i, rows;
    unsigned long long sent = 0;
    const char *prev = NULL;
    if ((!filters && n) || !row || !done) return NOSTR_ERR_ARG;
    nostr__pgwire_flush_for_read(s); /* failures are reported at commit */
    rc = nostr__pgwire_build(s, filters, n, now, 0, &live);
    if (rc) return rc;
    if (!live) {
        done(user, NOSTR_OK, 0);
        return NOSTR_OK;
    }
    rc = nostr__pgwire_read(s, &r);
    if (rc) return rc;
    rows = PQntuples(r);
    for (i = 0; i < rows; i++) {
        const char *id = PQgetvalue(r, i, 0);
        if (PQgetlength(r, i, 0) != 32) continue;
        if (prev && memcmp(prev, id, 32) == 0) continue; /* matched several filters */
        prev = id;
        row(user, PQgetvalue(r, i, 2), (size_t)PQgetlength(r, i, 2));
        sent++;
    }
    PQclear(r);
    done(user, NOSTR_OK, sent);
    return NOSTR_OK;
}

static int nostr__pgwire_count_fn(void *self, const nostr_filter *filters, size_t n, long long now,
                                  nostr_store_done_fn done, void *user)
{
    nostr_pgwire *s = (nostr_pgwire *)self;
    PGresult *r;
    size_t live;
    long long count;
    int rc;
    if ((!filters && n) || !done) return NOSTR_ERR_ARG;
    nostr__pgwire_flush_for_read(s);
    rc = nostr__pgwire_build(s, filters, n, now, 1, &live);
    if (rc) return rc;
    if (!live) {
        done(user, NOSTR_OK, 0);
        return NOSTR_OK;
    }
    rc = nostr__pgwire_read(s, &r);
    if (rc) return rc;
    count = PQntuples(r) == 1 ? nostr__pgwire_int(r, 0, 0) : 0;
    PQclear(r);
    done(user, NOSTR_OK, (unsigned long long)(count < 0 ? 0 : count));
    return NOSTR_OK;
}

NOSTRDEF int nostr_pgwire_explain(nostr_pgwire *s, const nostr_filter *filters, size_t n, long long now, int analyze,
                                  nostr_buf *out)
{
    PGresult *r;
    size_t live, len;
    int rc, i;
    char *query;
    if (!s || (!filters && n) || !out) return NOSTR_ERR_ARG;
    rc = nostr__pgwire_build(s, filters, n, now, 0, &live);
    if (rc) return rc;
    if (!live) return nostr_buf_append_str(out, "(no filter can match: nothing is run)\n");
    len = s->sql.len;
    query = (char *)nostr_alloc(s->al, len + 1);
    if (!query) return NOSTR_ERR_NOMEM;
    memcpy(query, s->sql.data, len + 1);
    nostr_buf_clear(&s->sql);
    rc = nostr_buf_append_str(&s->sql, analyze ? "EXPLAIN ANALYZE " : "EXPLAIN ");
    if (!rc) rc = nostr_buf_append(&s->sql, query, len);
    if (!rc) rc = nostr_buf_append_str(out, "SQL: ");
    if (!rc) rc = nostr_buf_append(out, query, len);
    if (!rc) rc = nostr_buf_append_char(out, '\n');
    nostr_free(s->al, query);
    if (rc) return NOSTR_ERR_NOMEM;
    rc = nostr__pgwire_read(s, &r);
    if (rc) return rc;
    for (i = 0; i < PQntuples(r) && !rc; i++) {
        rc = nostr_buf_append(out, PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0));
        if (!rc) rc = nostr_buf_append_char(out, '\n');
    }
    PQclear(r);
    return rc;
}

/* ---- purge ---- */

static int nostr__pgwire_purge_body(nostr_pgwire *s, void *arg, int ambiguous)
{
    long long *io = (long long *)arg; /* in: now; out: rows deleted */
    PGresult *r;
    int cls;
    (void)ambiguous;
    nostr__pgwire_params_reset(&s->params);
    if (nostr__pgwire_param_i64(s, &s->params, io[0]) < 0) return NOSTR__PGWIRE_NOMEM;
    cls = nostr__pgwire_run(s, nostr__pgwire_sql_purge_tags, &s->params);
    if (!cls && s->words_state != NOSTR__PGWIRE_WORDS_NONE)
        cls = nostr__pgwire_run(s, nostr__pgwire_sql_purge_words, &s->params);
    if (cls) return cls;
    cls = nostr__pgwire_exec(s, nostr__pgwire_sql_purge_events, &s->params, &r);
    if (cls) return cls;
    io[1] = atoll(PQcmdTuples(r));
    PQclear(r);
    return NOSTR__PGWIRE_DONE;
}

static long long nostr__pgwire_purge_fn(void *self, long long now)
{
    nostr_pgwire *s = (nostr_pgwire *)self;
    long long io[2];
    int rc;
    nostr__pgwire_flush_for_read(s);
    io[0] = now;
    io[1] = 0;
    rc = nostr__pgwire_transaction(s, nostr__pgwire_purge_body, io);
    if (rc != NOSTR_OK) return rc;
    if (io[1]) memset(s->cache, 0, NOSTR__PGWIRE_CACHE * sizeof *s->cache); /* expired ids may be cached */
    return io[1];
}

/* ---- open, close ---- */

static void nostr__pgwire_free(nostr_pgwire *s)
{
    const nostr_allocator *al;
    if (!s) return;
    al = s->al;
    if (s->conn) PQfinish(s->conn);
    nostr__pgwire_stmts_forget(s);
    nostr_free(al, s->conninfo);
    nostr_free(al, s->puts);
    nostr_free(al, s->tags);
    nostr_free(al, s->refs);
    nostr_free(al, s->words);
    nostr_free(al, s->qwords);
    nostr_free(al, s->qlikes);
    nostr_buf_free(&s->qtext);
    nostr_free(al, s->seen);
    nostr_buf_free(&s->text);
    nostr__pgwire_map_free(al, &s->ids);
    nostr__pgwire_map_free(al, &s->dels);
    nostr__pgwire_map_free(al, &s->keys);
    nostr_buf_free(&s->drop);
    nostr_buf_free(&s->key);
    nostr_buf_free(&s->params.data);
    nostr_free(al, s->params.off);
    nostr_free(al, s->params.len);
    nostr_free(al, s->params.fmt);
    nostr_free(al, s->params.oid);
    nostr_free(al, s->params.val);
    nostr_buf_free(&s->sql);
    nostr_free(al, s->cache);
    if (s->batch) {
        nostr__pgwire_free(s->batch->w);
        nostr_free(al, s->batch);
    }
    nostr_free(al, s);
}

static void nostr__pgwire_destroy_fn(void *self)
{
    nostr__pgwire_free((nostr_pgwire *)self);
}

/* Fill the words table from the stored events, newest first, a page of
 * NOSTR__PGWIRE_FILL_PAGE events per statement (each its own transaction;
 * ON CONFLICT DO NOTHING, so a rerun or a concurrent writer is harmless).
 * The pages go through the put queue's buffers, empty at open, and the
 * commit's own words statement. Returns NOSTR__PGWIRE_DONE or a class. */
static int nostr__pgwire_words_fill(nostr_pgwire *s, long long *total)
{
    static const char first_sql[] =
        "SELECT id, created_at, content FROM events ORDER BY created_at DESC, id LIMIT $1::int8";
    static const char next_sql[] = "SELECT id, created_at, content FROM events WHERE created_at <= $2::int8 "
                                   "AND (created_at < $2::int8 OR id > $3::bytea) ORDER BY created_at DESC, id "
                                   "LIMIT $1::int8";
    unsigned char last[32];
    long long at = 0;
    int cls = NOSTR__PGWIRE_DONE, first = 1, n = NOSTR__PGWIRE_FILL_PAGE, k;
    void *np;
    *total = 0;
    memset(last, 0, sizeof last);
    while (n == NOSTR__PGWIRE_FILL_PAGE && cls == NOSTR__PGWIRE_DONE) {
        PGresult *r;
        nostr__pgwire_params_reset(&s->params);
        if (nostr__pgwire_param_i64(s, &s->params, NOSTR__PGWIRE_FILL_PAGE) < 0 ||
            (!first && (nostr__pgwire_param_i64(s, &s->params, at) < 0 ||
                        nostr__pgwire_param(s, &s->params, NOSTR__PGWIRE_BYTEA, last, 32) < 0)))
            return NOSTR__PGWIRE_NOMEM;
        if ((cls = nostr__pgwire_exec(s, first ? first_sql : next_sql, &s->params, &r)) != NOSTR__PGWIRE_DONE)
            return cls;
        first = 0;
        n = PQntuples(r);
        if (!(np = nostr__pgwire_reserve(s->al, s->puts, &s->cap_puts, (size_t)n + 1, sizeof *s->puts))) {
            PQclear(r);
            return NOSTR__PGWIRE_NOMEM;
        }
        s->puts = (nostr__pgwire_put *)np;
        for (k = 0; k < n && cls == NOSTR__PGWIRE_DONE; k++) {
            nostr__pgwire_put *p = &s->puts[s->nputs];
            if (PQgetlength(r, k, 0) != 32) continue;
            memset(p, 0, sizeof *p);
            memcpy(p->id, PQgetvalue(r, k, 0), 32);
            p->created_at = nostr__pgwire_int(r, k, 1);
            p->content = s->text.len;
            p->content_len = (size_t)PQgetlength(r, k, 2);
            p->insert = 1;
            if (nostr_buf_append(&s->text, PQgetvalue(r, k, 2), p->content_len) ||
                nostr__pgwire_queue_words(s, p) != NOSTR_OK)
                cls = NOSTR__PGWIRE_NOMEM;
            s->nputs++;
            memcpy(last, p->id, 32);
            at = p->created_at;
        }
        PQclear(r);
        if (cls == NOSTR__PGWIRE_DONE) cls = nostr__pgwire_write_words(s);
        *total += (long long)s->nputs;
        s->nputs = s->nwords = 0;
        nostr_buf_clear(&s->text);
        if (cls == NOSTR__PGWIRE_DONE && *total % 100000 < NOSTR__PGWIRE_FILL_PAGE && *total >= 100000) {
            char msg[64];
            snprintf(msg, sizeof msg, "%lld events", *total);
            nostr__pgwire_log(s, NOSTR_LOG_INFO, "filling the words table", msg);
        }
    }
    return cls;
}

/* Is the words table there and filled? nostr_meta's 'words' row says it
 * was filled once (every writer since writes words as it puts). Without
 * it: with create_schema, fill it now from the stored events and add the
 * row; without, search scans (LIKE) until a store opens with
 * create_schema, and words are written only when the table exists. */
static void nostr__pgwire_words_setup(nostr_pgwire *s, int create)
{
    PGresult *r = PQexec(s->conn, "SELECT value FROM nostr_meta WHERE key = 'words'");
    long long total = 0;
    char msg[96];
    int cls;
    s->words_state = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? NOSTR__PGWIRE_WORDS_READY
                                                                              : NOSTR__PGWIRE_WORDS_NONE;
    PQclear(r);
    if (s->words_state == NOSTR__PGWIRE_WORDS_READY) return;
    if (!create) {
        r = PQexec(s->conn, "SELECT 1 FROM words LIMIT 1");
        if (PQresultStatus(r) == PGRES_TUPLES_OK) s->words_state = NOSTR__PGWIRE_WORDS_PARTIAL;
        PQclear(r);
        nostr__pgwire_log(s, NOSTR_LOG_WARN,
                          "the words table is missing or not filled: search scans until a store opens with "
                          "create_schema (docs/database.md)",
                          NULL);
        return;
    }
    s->words_state = NOSTR__PGWIRE_WORDS_PARTIAL;
    cls = nostr__pgwire_words_fill(s, &total);
    if (cls == NOSTR__PGWIRE_DONE)
        cls = nostr__pgwire_simple(s, "INSERT INTO nostr_meta (key, value) VALUES ('words', '1') "
                                      "ON CONFLICT (key) DO NOTHING");
    if (cls != NOSTR__PGWIRE_DONE) {
        nostr__pgwire_log(s, NOSTR_LOG_ERROR, "filling the words table failed: search scans until the next open",
                          s->err);
        return;
    }
    s->words_state = NOSTR__PGWIRE_WORDS_READY;
    if (total) {
        snprintf(msg, sizeof msg, "%lld events", total);
        nostr__pgwire_log(s, NOSTR_LOG_INFO, "filled the words table", msg);
    }
}

/* CREATE ... IF NOT EXISTS each table and index, then check the schema
 * version (also when not creating: a missing schema is an error at open,
 * not at the first put). */
static int nostr__pgwire_schema_setup(nostr_pgwire *s, int create, nostr_error *err)
{
    const char *const *keyed[2];
    PGresult *r;
    size_t i, nkeyed = 0;
    int ok = 1;
    keyed[0] = nostr__pgwire_schema_tags_pg;
    keyed[1] = nostr__pgwire_schema_words_pg;
    if (create) {
        r = PQexec(s->conn, "SELECT version()");
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && strstr(PQgetvalue(r, 0, 0), "CockroachDB")) {
            keyed[0] = nostr__pgwire_schema_tags_crdb;
            keyed[1] = nostr__pgwire_schema_words_crdb;
        }
        PQclear(r);
    }
    for (i = 0; create && ok && i < sizeof nostr__pgwire_schema / sizeof nostr__pgwire_schema[0]; i++) {
        const char *const *t;
        if (nostr__pgwire_schema[i]) {
            ok = nostr__pgwire_simple(s, nostr__pgwire_schema[i]) == NOSTR__PGWIRE_DONE;
            continue;
        }
        for (t = keyed[nkeyed++ & 1]; ok && *t; t++) ok = nostr__pgwire_simple(s, *t) == NOSTR__PGWIRE_DONE;
    }
    if (!ok) {
        nostr__pgwire_log(s, NOSTR_LOG_ERROR, "creating the schema failed", s->err);
        if (err) err->msg = "pgwire: creating the schema failed (see the log)";
        return NOSTR_ERR_NET;
    }
    r = PQexec(s->conn, "SELECT value FROM nostr_meta WHERE key = 'schema'");
    ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) {
        nostr__pgwire_set_error(s, PQresultErrorMessage(r));
        nostr__pgwire_log(s, NOSTR_LOG_ERROR, "no schema (open with create_schema, or see docs/database.md)", s->err);
        if (err) err->msg = "pgwire: the schema is missing (see the log)";
    } else if (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), NOSTR__PGWIRE_SCHEMA) != 0) {
        ok = 0;
        nostr__pgwire_set_error(s, "unknown schema version in nostr_meta");
        nostr__pgwire_log(s, NOSTR_LOG_ERROR, "schema version is not " NOSTR__PGWIRE_SCHEMA, NULL);
        if (err) err->msg = "pgwire: unknown schema version (see the log)";
    }
    PQclear(r);
    if (ok) nostr__pgwire_words_setup(s, create);
    return ok ? NOSTR_OK : NOSTR_ERR_NET;
}

/* A store object, not yet connected; with_cache: the id cache behind
 * has() (a batch's writer has none). NULL when out of memory. */
static nostr_pgwire *nostr__pgwire_new(const nostr_allocator *al, nostr_log_fn log, void *log_user,
                                       const char *conninfo, int with_cache)
{
    nostr_pgwire *s = (nostr_pgwire *)nostr_alloc(al, sizeof *s);
    size_t len = strlen(conninfo);
    if (!s) return NULL;
    memset(s, 0, sizeof *s);
    s->al = al;
    s->log = log;
    s->log_user = log_user;
    nostr_buf_init(&s->text, s->al);
    nostr_buf_init(&s->qtext, s->al);
    nostr_buf_init(&s->ids.keys, s->al);
    nostr_buf_init(&s->dels.keys, s->al);
    nostr_buf_init(&s->keys.keys, s->al);
    nostr_buf_init(&s->drop, s->al);
    nostr_buf_init(&s->key, s->al);
    nostr_buf_init(&s->params.data, s->al);
    nostr_buf_init(&s->sql, s->al);
    s->conninfo = (char *)nostr_alloc(s->al, len + 1);
    if (with_cache) s->cache = (unsigned char(*)[32])nostr_alloc(s->al, NOSTR__PGWIRE_CACHE * 32);
    /* params.data always has memory: a zero-length value must not be NULL (SQL NULL). */
    if (!s->conninfo || (with_cache && !s->cache) || nostr_buf_reserve(&s->params.data, 256)) {
        nostr__pgwire_free(s);
        return NULL;
    }
    memcpy(s->conninfo, conninfo, len + 1);
    if (s->cache) memset(s->cache, 0, NOSTR__PGWIRE_CACHE * 32);
    return s;
}

NOSTRDEF int nostr_pgwire_open(nostr_pgwire **out, const nostr_pgwire_config *cfg, nostr_error *err)
{
    nostr_pgwire *s;
    int rc;
    if (err) {
        err->code = NOSTR_OK;
        err->offset = 0;
        err->msg = NULL;
    }
    if (!out || !cfg || !cfg->conninfo) {
        if (err) err->code = NOSTR_ERR_ARG, err->msg = "pgwire: no conninfo";
        return NOSTR_ERR_ARG;
    }
    *out = NULL;
    s = nostr__pgwire_new(cfg->al, cfg->log, cfg->log_user, cfg->conninfo, 1);
    if (!s) goto nomem;
    rc = nostr__pgwire_ensure(s);
    if (rc != NOSTR_OK) {
        if (err) err->code = rc, err->msg = "pgwire: cannot connect to the database (see the log)";
        nostr__pgwire_free(s);
        return rc;
    }
    rc = nostr__pgwire_schema_setup(s, cfg->create_schema, err);
    if (rc != NOSTR_OK) {
        if (err) err->code = rc;
        nostr__pgwire_free(s);
        return rc;
    }
    *out = s;
    return NOSTR_OK;
nomem:
    if (err) err->code = NOSTR_ERR_NOMEM, err->msg = "pgwire: out of memory";
    return NOSTR_ERR_NOMEM;
}

NOSTRDEF nostr_store nostr_pgwire_iface(nostr_pgwire *s)
{
    nostr_store st;
    st.self = s;
    st.put = nostr__pgwire_put_fn;
    st.query = nostr__pgwire_query_fn;
    st.count = nostr__pgwire_count_fn;
    st.has = nostr__pgwire_has;
    st.commit = nostr__pgwire_commit_fn;
    st.purge = nostr__pgwire_purge_fn;
    st.destroy = nostr__pgwire_destroy_fn;
    return st;
}

NOSTRDEF void nostr_pgwire_close(nostr_pgwire *s)
{
    if (!s) return;
    nostr_pgwire_commit(s);
    nostr__pgwire_free(s);
}

NOSTRDEF const char *nostr_pgwire_last_error(const nostr_pgwire *s)
{
    return s ? s->err : "";
}

/* ---- the gateway's tables ---- */

NOSTRDEF int nostr_pgwire_gateway_schema(nostr_pgwire *s)
{
    size_t i;
    int rc, attempt;
    if (!s) return NOSTR_ERR_ARG;
    for (i = 0; i < sizeof nostr__pgwire_gateway_ddl / sizeof nostr__pgwire_gateway_ddl[0]; i++) {
        /* Twice at most: after a lost connection, or when another process
         * created the same table at the same moment (PostgreSQL's IF NOT
         * EXISTS can then fail on its catalog); the second run finds it. */
        for (attempt = 0, rc = NOSTR_ERR_NET; attempt < 2 && rc != NOSTR_OK; attempt++) {
            rc = nostr__pgwire_ensure(s);
            if (rc == NOSTR_OK && nostr__pgwire_simple(s, nostr__pgwire_gateway_ddl[i]) != NOSTR__PGWIRE_DONE)
                rc = NOSTR_ERR_NET;
        }
        if (rc != NOSTR_OK) {
            nostr__pgwire_log(s, NOSTR_LOG_ERROR, "creating the gateway tables failed", s->err);
            return rc;
        }
    }
    return NOSTR_OK;
}

NOSTRDEF int nostr_pgwire_seen(nostr_pgwire *s, const unsigned char id[32], int relay_id, long long first_seen)
{
    nostr__pgwire_seen *q;
    void *np;
    if (!s || !id) return NOSTR_ERR_ARG;
    if (!(np = nostr__pgwire_reserve(s->al, s->seen, &s->cap_seen, s->nseen + 1, sizeof *s->seen)))
        return NOSTR_ERR_NOMEM;
    s->seen = (nostr__pgwire_seen *)np;
    q = &s->seen[s->nseen++];
    memcpy(q->id, id, 32);
    q->relay_id = relay_id;
    q->first_seen = first_seen;
    return NOSTR_OK;
}

NOSTRDEF int nostr_pgwire_seen_on(nostr_pgwire *s, const unsigned char (*ids)[32], size_t n,
                                  void (*row)(void *user, const unsigned char id[32], int relay_id,
                                              long long first_seen),
                                  void *user)
{
    PGresult *r;
    size_t i;
    int rc, k;
    if (!s || (!ids && n) || !row) return NOSTR_ERR_ARG;
    if (!n) return NOSTR_OK;
    nostr__pgwire_flush_for_read(s); /* like a query */
    nostr__pgwire_params_reset(&s->params);
    if (nostr__pgwire_array_begin(s, &s->params, NOSTR__PGWIRE_BYTEA_ARRAY, NOSTR__PGWIRE_BYTEA) < 0)
        return NOSTR_ERR_NOMEM;
    for (i = 0; i < n; i++)
        if (nostr__pgwire_array_add(&s->params, ids[i], 32)) return NOSTR_ERR_NOMEM;
    nostr__pgwire_array_end(&s->params);
    rc = nostr__pgwire_read_sql(s, nostr__pgwire_sql_seen_on, &r);
    if (rc) return rc;
    for (k = 0; k < PQntuples(r); k++)
        if (PQgetlength(r, k, 0) == 32)
            row(user, (const unsigned char *)PQgetvalue(r, k, 0), (int)nostr__pgwire_int(r, k, 1),
                nostr__pgwire_int(r, k, 2));
    PQclear(r);
    return NOSTR_OK;
}

NOSTRDEF int nostr_pgwire_relays_load(nostr_pgwire *s, void (*row)(void *user, const nostr_pgwire_relay_row *r),
                                      void *user)
{
    PGresult *r;
    int rc, k;
    if (!s || !row) return NOSTR_ERR_ARG;
    nostr__pgwire_params_reset(&s->params);
    rc = nostr__pgwire_read_sql(s, nostr__pgwire_sql_relays_load, &r);
    if (rc) return rc;
    for (k = 0; k < PQntuples(r); k++) {
        nostr_pgwire_relay_row v;
        v.id = (int)nostr__pgwire_int(r, k, 0);
        v.url = PQgetvalue(r, k, 1); /* binary text: the bytes, and libpq adds a NUL */
        v.filters = PQgetvalue(r, k, 2);
        v.added_at = nostr__pgwire_int(r, k, 3);
        v.since_ts = nostr__pgwire_int(r, k, 4);
        row(user, &v);
    }
    PQclear(r);
    return NOSTR_OK;
}

/* A one-statement write (sql in arg, s->params): as its own SERIALIZABLE
 * transaction, so it gets the commit's retries. Each is idempotent, so a
 * rerun after a COMMIT whose fate is unknown is harmless. */
static int nostr__pgwire_write1_body(nostr_pgwire *s, void *arg, int ambiguous)
{
    (void)ambiguous;
    return nostr__pgwire_run(s, (const char *)arg, &s->params);
}

static int nostr__pgwire_write1(nostr_pgwire *s, const char *sql)
{
    return nostr__pgwire_transaction(s, nostr__pgwire_write1_body, (void *)sql);
}

static int nostr__pgwire_param_i32(nostr_pgwire *s, long v)
{
    unsigned char b[4];
    nostr__pgwire_be32(b, (unsigned long)v);
    return nostr__pgwire_param(s, &s->params, NOSTR__PGWIRE_INT4, b, 4);
}

NOSTRDEF int nostr_pgwire_relay_save(nostr_pgwire *s, const nostr_pgwire_relay_row *r)
{
    const char *filters;
    int rc;
    if (!s || !r || r->id <= 0 || !r->url) return NOSTR_ERR_ARG;
    filters = r->filters ? r->filters : "[{}]"; /* the gateway's default: everything */
    nostr__pgwire_params_reset(&s->params);
    if (nostr__pgwire_param_i32(s, r->id) < 0 ||
        nostr__pgwire_param(s, &s->params, NOSTR__PGWIRE_TEXT, r->url, strlen(r->url)) < 0 ||
        nostr__pgwire_param(s, &s->params, NOSTR__PGWIRE_TEXT, filters, strlen(filters)) < 0 ||
        nostr__pgwire_param_i64(s, &s->params, r->added_at) < 0 ||
        nostr__pgwire_param_i64(s, &s->params, r->since_ts) < 0)
        return NOSTR_ERR_NOMEM;
    rc = nostr__pgwire_write1(s, nostr__pgwire_sql_relay_save);
    /* unique_violation: the url belongs to another id (the gateway's answer too) */
    if (rc == NOSTR_ERR_NET && strcmp(s->state, "23505") == 0) return NOSTR_ERR_BUSY;
    return rc;
}

NOSTRDEF int nostr_pgwire_relay_delete(nostr_pgwire *s, int id)
{
    if (!s) return NOSTR_ERR_ARG;
    nostr__pgwire_params_reset(&s->params);
    if (nostr__pgwire_param_i32(s, id) < 0) return NOSTR_ERR_NOMEM;
    return nostr__pgwire_write1(s, nostr__pgwire_sql_relay_delete);
}

NOSTRDEF int nostr_pgwire_relay_since(nostr_pgwire *s, int id, long long since_ts)
{
    if (!s) return NOSTR_ERR_ARG;
    nostr__pgwire_params_reset(&s->params);
    if (nostr__pgwire_param_i32(s, id) < 0 || nostr__pgwire_param_i64(s, &s->params, since_ts) < 0)
        return NOSTR_ERR_NOMEM;
    return nostr__pgwire_write1(s, nostr__pgwire_sql_relay_since);
}

/* One page of recent_ids: want rows after (*at, last) unless first.
 * Returns the rows read (>= 0) or an error; *at and last move to the
 * page's last row. */
static long nostr__pgwire_recent_page(nostr_pgwire *s, long long since, size_t want, int first, long long *at,
                                      unsigned char last[32], void (*row)(void *user, const unsigned char id[32]),
                                      void *user)
{
    PGresult *r;
    int rc, k, n;
    nostr__pgwire_params_reset(&s->params);
    if (nostr__pgwire_param_i64(s, &s->params, since) < 0 ||
        nostr__pgwire_param_i64(s, &s->params, (long long)want) < 0 ||
        (!first && (nostr__pgwire_param_i64(s, &s->params, *at) < 0 ||
                    nostr__pgwire_param(s, &s->params, NOSTR__PGWIRE_BYTEA, last, 32) < 0)))
        return NOSTR_ERR_NOMEM;
    rc = nostr__pgwire_read_sql(s, first ? nostr__pgwire_sql_recent_ids : nostr__pgwire_sql_recent_ids_after, &r);
    if (rc) return rc;
    n = PQntuples(r);
    for (k = 0; k < n; k++) {
        if (PQgetlength(r, k, 0) != 32) continue;
        memcpy(last, PQgetvalue(r, k, 0), 32);
        *at = nostr__pgwire_int(r, k, 1);
        row(user, last);
    }
    PQclear(r);
    return n;
}

NOSTRDEF int nostr_pgwire_recent_ids(nostr_pgwire *s, long long since, size_t max,
                                     void (*row)(void *user, const unsigned char id[32]), void *user)
{
    unsigned char last[32];
    long long at = 0;
    size_t got = 0;
    long n;
    if (!s || !row) return NOSTR_ERR_ARG;
    nostr__pgwire_flush_for_read(s); /* like a query */
    memset(last, 0, sizeof last);
    while (got < max) {
        size_t want = max - got < NOSTR__PGWIRE_PAGE ? max - got : NOSTR__PGWIRE_PAGE;
        n = nostr__pgwire_recent_page(s, since, want, got == 0, &at, last, row, user);
        if (n < 0) return (int)n;
        got += (size_t)n;
        if ((size_t)n < want) break; /* the last page */
    }
    return NOSTR_OK;
}

#endif /* NOSTR_WITH_PGWIRE */
