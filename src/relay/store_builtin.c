/* ---- store_builtin: definitions ----
 *
 * Memory: events sit in one array of records (fixed fields plus the JSON
 * text); a slot number names a record. Indexes hold slot numbers:
 *   - ids: open addressing on the id (linear probing, backward-shift
 *     deletion), for duplicates, has() and ids filters;
 *   - posting lists: a hash map from a key (author, kind, author+kind,
 *     single-letter tag name+value) to an array of slots sorted oldest
 *     first by (created_at, id descending), plus one list of every event;
 *     a query walks lists from the end (newest first) and stops at the
 *     limit, merging several lists through a heap;
 *   - meta: a hash map for the current version of each replaceable or
 *     addressable event, and NIP-09 tombstones.
 * A removed event (replaced, deleted, purged) is marked dead and its JSON
 * freed at once; it stays in the posting lists (queries skip it) until a
 * vacuum, run when dead entries reach a quarter of the live ones, drops
 * them from every list in one pass and frees the slots. Removing from a
 * sorted array at once would move megabytes per replacement.
 *
 * Log (dir/events.log), little-endian records:
 *     u32 length of payload | u32 CRC-32C of (type, payload) | u8 type | payload
 *   type 1 header: "distrise events.log 1" (the first record, always)
 *   type 2 event:  the event's JSON text as it was put
 *   type 3 gone:   a 32-byte id removed by purge (NIP-40)
 * Replacement and NIP-09 deletion need no record: replaying the events in
 * order redoes them. Replay stops at the first torn or corrupt record,
 * copies the bytes from there on to events.log.bad and truncates. */

#define NOSTR__STORE_NONE 0xFFFFFFFFu
#define NOSTR__STORE_HDR 9u
#define NOSTR__STORE_MAX_RECORD (16u << 20)
#define NOSTR__STORE_MAGIC "distrise events.log 1"
#define NOSTR__STORE_MAX_PAIRS 4096u /* authors x kinds lists in one plan */
enum { NOSTR__STORE_REC_HEADER = 1, NOSTR__STORE_REC_EVENT = 2, NOSTR__STORE_REC_GONE = 3 };
/* index key prefixes */
enum {
    NOSTR__STORE_K_AUTHOR = 1,
    NOSTR__STORE_K_KIND = 2,
    NOSTR__STORE_K_AUTHOR_KIND = 3,
    NOSTR__STORE_K_TAG = 4,
    NOSTR__STORE_K_TAG_HEX = 5, /* value was 64 lowercase hex, stored as 32 bytes */
    NOSTR__STORE_K_REPL = 16,   /* meta: current version, val = slot or -1 */
    NOSTR__STORE_K_ADEL = 17,   /* meta: "a" deletion, val = newest deletion created_at */
    NOSTR__STORE_K_EDEL = 18    /* meta: "e" deletion of id by pubkey */
};
/* ev.dead */
enum { NOSTR__STORE_LIVE = 0, NOSTR__STORE_DEAD = 1, NOSTR__STORE_FREE = 2 };

typedef struct nostr__store_ev {
    unsigned char id[32];
    unsigned char pubkey[32];
    long long created_at;
    long long expiration; /* 0: none */
    char *json;           /* JSON text, NUL, then the content if the text escapes it */
    uint32_t json_len;
    uint32_t content_off, content_len; /* the decoded content inside json */
    uint32_t log_len;                  /* bytes of its log record, 0 if none */
    uint16_t kind;
    unsigned char dead;
} nostr__store_ev;

typedef struct nostr__store_list {
    uint32_t *v;
    uint32_t n, cap;
    long long top; /* created_at of v[n-1]: appending needs no look at the newest event */
} nostr__store_list;

typedef struct nostr__store_slot {
    uint64_t hash; /* 0: empty */
    unsigned char *key;
    uint32_t keylen;
    nostr__store_list list; /* ix map */
    long long val;          /* meta map */
} nostr__store_slot;

typedef struct nostr__store_map {
    nostr__store_slot *slots;
    size_t cap, count; /* cap a power of two */
} nostr__store_map;

typedef struct nostr__store_waiter {
    nostr_store_put_fn fn;
    void *user;
} nostr__store_waiter;

/* The batch a pipelined commit writes: what the loop thread handed over
 * (records and their puts), and what the writing thread found. */
struct nostr_store_builtin_batch {
    nostr_buf data;
    nostr__store_waiter *waiters;
    size_t nwaiters, cap_waiters;
    int fd, no_fsync;
    int err; /* errno of a failed write or fsync, else 0 */
};

struct nostr_store_builtin {
    nostr_allocator alc;
    const nostr_allocator *al;
    nostr_log_fn log;
    void *log_user;
    int no_fsync;
    char *dir, *path;
    int fd, dirfd; /* -1 in memory mode */
    int failed;    /* a write or fsync failed: no more puts */
    uint64_t seed;
    nostr__store_ev *evs;
    uint32_t nevs, cap_evs;
    nostr__store_list free_slots;
    uint32_t *ids; /* slot or NONE */
    size_t ids_cap, ids_count;
    nostr__store_list all, expiring;
    nostr__store_map ix, meta;
    nostr_arena keys;
    unsigned long long live, dead_in_index, key_bytes, json_bytes;
    unsigned long long log_bytes, dead_bytes, truncated;
    nostr_buf pending; /* log records not yet written */
    nostr__store_waiter *waiters;
    size_t nwaiters, cap_waiters;
    nostr_store_builtin_batch batch; /* one pipelined batch, reused */
    int batch_out;                   /* begun and not yet ended */
    int in_query;
    nostr_arena scratch; /* event parsing during replay */
    void *scratch_mem;   /* its first block */
};

/* ---- small helpers ---- */

/* Log a message formatted by the caller into msg (no varargs: the
 * relay's implementation includes carry no <stdarg.h>). */
static void nostr__store_log(nostr_store_builtin *st, int level, const char *msg)
{
    if (st->log) st->log(st->log_user, level, msg);
}

#define NOSTR__STORE_LOGF(st, level, ...)                                                                              \
    do {                                                                                                               \
        if ((st)->log) {                                                                                               \
            char msg_[600];                                                                                            \
            snprintf(msg_, sizeof msg_, __VA_ARGS__);                                                                  \
            nostr__store_log((st), (level), msg_);                                                                     \
        }                                                                                                              \
    } while (0)

static void nostr__store_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t nostr__store_get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static const uint32_t nostr__store_crc_table[256] = {
    0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c, 0x26a1e7e8, 0xd4ca64eb, 0x8ad958cf,
    0x78b2dbcc, 0x6be22838, 0x9989ab3b, 0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24, 0x105ec76f, 0xe235446c,
    0xf165b798, 0x030e349b, 0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384, 0x9a879fa0, 0x68ec1ca3, 0x7bbcef57,
    0x89d76c54, 0x5d1d08bf, 0xaf768bbc, 0xbc267848, 0x4e4dfb4b, 0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
    0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35, 0xaa64d611, 0x580f5512, 0x4b5fa6e6, 0xb93425e5, 0x6dfe410e,
    0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa, 0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad,
    0x1642ae59, 0xe4292d5a, 0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a, 0x7da08661, 0x8fcb0562, 0x9c9bf696,
    0x6ef07595, 0x417b1dbc, 0xb3109ebf, 0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
    0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c, 0xfe53516f, 0xed03a29b, 0x1f682198, 0x5125dad3,
    0xa34e59d0, 0xb01eaa24, 0x42752927, 0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38, 0xdbfc821c, 0x2997011f,
    0x3ac7f2eb, 0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7, 0x61c69362, 0x93ad1061, 0x80fde395,
    0x72966096, 0xa65c047d, 0x5437877e, 0x4767748a, 0xb50cf789, 0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
    0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46, 0x7198540d, 0x83f3d70e, 0x90a324fa, 0x62c8a7f9, 0xb602c312,
    0x44694011, 0x5739b3e5, 0xa55230e6, 0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de,
    0xdde0eb2a, 0x2f8b6829, 0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c, 0x456cac67, 0xb7072f64, 0xa457dc90,
    0x563c5f93, 0x082f63b7, 0xfa44e0b4, 0xe9141340, 0x1b7f9043, 0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
    0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3, 0x55326b08, 0xa759e80b, 0xb4091bff, 0x466298fc, 0x1871a4d8,
    0xea1a27db, 0xf94ad42f, 0x0b21572c, 0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033, 0xa24bb5a6, 0x502036a5,
    0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d, 0x2892ed69, 0xdaf96e6a, 0xc9a99d9e,
    0x3bc21e9d, 0xef087a76, 0x1d63f975, 0x0e330a81, 0xfc588982, 0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
    0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622, 0x38cc2a06, 0xcaa7a905, 0xd9f75af1, 0x2b9cd9f2, 0xff56bd19,
    0x0d3d3e1a, 0x1e6dcdee, 0xec064eed, 0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530, 0x0417b1db, 0xf67c32d8,
    0xe52cc12c, 0x1747422f, 0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff, 0x8ecee914, 0x7ca56a17, 0x6ff599e3,
    0x9d9e1ae0, 0xd3d3e1ab, 0x21b862a8, 0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
    0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78, 0x7fab5e8c, 0x8dc0dd8f, 0xe330a81a,
    0x115b2b19, 0x020bd8ed, 0xf0605bee, 0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1, 0x69e9f0d5, 0x9b8273d6,
    0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e, 0xf36e6f75, 0x0105ec76, 0x12551f82,
    0xe03e9c81, 0x34f4f86a, 0xc69f7b69, 0xd5cf889d, 0x27a40b9e, 0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
    0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351};

static uint32_t nostr__store_crc32c_sw(uint32_t crc, const unsigned char *p, size_t n)
{
    while (n--) crc = nostr__store_crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

/* The SSE4.2 crc32 instruction computes CRC-32C 8 bytes at a time; chosen
 * per call from the C runtime's feature table (see sha256.c for why). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NOSTR__STORE_HAVE_CRC_HW 1
#if defined(__SSE4_2__)
#define NOSTR__STORE_CRC_HW_DETECT() 1
#else
#define NOSTR__STORE_CRC_HW_DETECT() __builtin_cpu_supports("sse4.2")
#endif
__attribute__((target("sse4.2"))) static uint32_t nostr__store_crc32c_hw(uint32_t crc, const unsigned char *p, size_t n)
{
    unsigned long long c = crc;
    while (n >= 8) {
        unsigned long long w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        n -= 8;
    }
    crc = (uint32_t)c;
    while (n--) crc = __builtin_ia32_crc32qi(crc, *p++);
    return crc;
}
#else
#define NOSTR__STORE_HAVE_CRC_HW 0
#endif

/* CRC-32C (Castagnoli, with the usual pre- and post-inversion) of a
 * record: the type byte, then the payload. */
static uint32_t nostr__store_rec_crc(unsigned type, const unsigned char *p, size_t n)
{
    unsigned char t = (unsigned char)type;
    uint32_t crc;
#if NOSTR__STORE_HAVE_CRC_HW
    if (NOSTR__STORE_CRC_HW_DETECT()) {
        crc = nostr__store_crc32c_hw(0xFFFFFFFFu, &t, 1);
        return ~nostr__store_crc32c_hw(crc, p, n);
    }
#endif
    crc = nostr__store_crc32c_sw(0xFFFFFFFFu, &t, 1);
    return ~nostr__store_crc32c_sw(crc, p, n);
}

static uint64_t nostr__store_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t nostr__store_hash(uint64_t seed, const unsigned char *p, size_t n)
{
    uint64_t h = seed ^ (n * 0x9E3779B97F4A7C15ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ nostr__store_mix(w)) * 0x9E3779B97F4A7C15ULL;
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, p, n);
        h = (h ^ nostr__store_mix(w ^ 0xA5)) * 0x9E3779B97F4A7C15ULL;
    }
    h = nostr__store_mix(h);
    return h ? h : 1;
}

/* Output order: a before b when newer, ties by lower id. Posting lists
 * keep the reverse (oldest first) so that appending is the common case. */
static int nostr__store_before(const nostr__store_ev *a, const nostr__store_ev *b)
{
    if (a->created_at != b->created_at) return a->created_at > b->created_at;
    return memcmp(a->id, b->id, 32) < 0;
}

/* ---- posting lists ---- */

static int nostr__store_list_reserve(nostr_store_builtin *st, nostr__store_list *l, uint32_t extra)
{
    uint32_t cap;
    uint32_t *v;
    if (l->n + extra <= l->cap) return NOSTR_OK;
    cap = l->cap ? l->cap : 2;
    while (cap < l->n + extra) cap = cap < 0x40000000u ? cap * 2 : 0xFFFFFFF0u;
    v = (uint32_t *)nostr_realloc(st->al, l->v, (size_t)cap * sizeof *v);
    if (!v) return NOSTR_ERR_NOMEM;
    l->v = v;
    l->cap = cap;
    return NOSTR_OK;
}

static void nostr__store_list_free(nostr_store_builtin *st, nostr__store_list *l)
{
    nostr_free(st->al, l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* Position where slot s belongs: the number of entries older than it. */
static uint32_t nostr__store_list_pos(const nostr_store_builtin *st, const nostr__store_list *l, uint32_t s)
{
    const nostr__store_ev *e = &st->evs[s];
    uint32_t lo = 0, hi = l->n;
    if (!hi || e->created_at > l->top) return hi;
    if (nostr__store_before(e, &st->evs[l->v[hi - 1]])) return hi;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (nostr__store_before(e, &st->evs[l->v[mid]]))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Insert slot s in order (once). */
static int nostr__store_list_add(nostr_store_builtin *st, nostr__store_list *l, uint32_t s)
{
    uint32_t p = nostr__store_list_pos(st, l, s);
    if (p < l->n && l->v[p] == s) return NOSTR_OK;
    if (nostr__store_list_reserve(st, l, 1) != NOSTR_OK) return NOSTR_ERR_NOMEM;
    if (p < l->n) memmove(l->v + p + 1, l->v + p, (size_t)(l->n - p) * sizeof *l->v);
    l->v[p] = s;
    l->n++;
    if (p == l->n - 1) l->top = st->evs[s].created_at;
    return NOSTR_OK;
}

static int nostr__store_list_has(const nostr_store_builtin *st, const nostr__store_list *l, uint32_t s)
{
    uint32_t p;
    if (!l || !l->n) return 0;
    p = nostr__store_list_pos(st, l, s);
    return p < l->n && l->v[p] == s;
}

/* Number of entries with created_at <= until. */
static uint32_t nostr__store_list_upto(const nostr_store_builtin *st, const nostr__store_list *l, long long until)
{
    uint32_t lo = 0, hi = l->n;
    if (hi && l->top <= until) return hi;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (st->evs[l->v[mid]].created_at <= until)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Drop dead entries. */
static void nostr__store_list_sweep(nostr_store_builtin *st, nostr__store_list *l)
{
    uint32_t i, j = 0;
    for (i = 0; i < l->n; i++)
        if (st->evs[l->v[i]].dead == NOSTR__STORE_LIVE) l->v[j++] = l->v[i];
    l->n = j;
    if (j) l->top = st->evs[l->v[j - 1]].created_at;
    if (!j) {
        nostr__store_list_free(st, l);
    } else if (j < l->cap / 4) {
        uint32_t *v = (uint32_t *)nostr_realloc(st->al, l->v, (size_t)j * 2 * sizeof *v);
        if (v) {
            l->v = v;
            l->cap = j * 2;
        }
    }
}

/* ---- hash maps ---- */

/* The slot of key (its hash h), or NULL. */
static nostr__store_slot *nostr__store_map_find_h(const nostr__store_map *m, const unsigned char *key, size_t n,
                                                  uint64_t h)
{
    size_t i;
    if (!m->cap) return NULL;
    for (i = (size_t)h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        nostr__store_slot *s = &m->slots[i];
        if (!s->hash) return NULL;
        if (s->hash == h && s->keylen == n && memcmp(s->key, key, n) == 0) return s;
    }
}

static nostr__store_slot *nostr__store_map_find(const nostr_store_builtin *st, const nostr__store_map *m,
                                                const unsigned char *key, size_t n)
{
    return m->cap ? nostr__store_map_find_h(m, key, n, nostr__store_hash(st->seed, key, n)) : NULL;
}

static int nostr__store_map_grow(nostr_store_builtin *st, nostr__store_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64, i;
    nostr__store_slot *slots = (nostr__store_slot *)nostr_alloc(st->al, cap * sizeof *slots);
    if (!slots) return NOSTR_ERR_NOMEM;
    memset(slots, 0, cap * sizeof *slots);
    for (i = 0; i < m->cap; i++) {
        size_t j;
        if (!m->slots[i].hash) continue;
        for (j = (size_t)m->slots[i].hash & (cap - 1); slots[j].hash; j = (j + 1) & (cap - 1)) {
        }
        slots[j] = m->slots[i];
    }
    nostr_free(st->al, m->slots);
    m->slots = slots;
    m->cap = cap;
    return NOSTR_OK;
}

/* The slot for key (its hash h), added (with an empty list and val -1)
 * if missing. */
static nostr__store_slot *nostr__store_map_get_h(nostr_store_builtin *st, nostr__store_map *m, const unsigned char *key,
                                                 size_t n, uint64_t h)
{
    nostr__store_slot *s = nostr__store_map_find_h(m, key, n, h);
    size_t i;
    if (s) return s;
    if ((m->count + 1) * 4 > m->cap * 3 && nostr__store_map_grow(st, m) != NOSTR_OK) return NULL;
    for (i = (size_t)h & (m->cap - 1); m->slots[i].hash; i = (i + 1) & (m->cap - 1)) {
    }
    s = &m->slots[i];
    s->key = (unsigned char *)nostr_arena_alloc(&st->keys, n ? n : 1);
    if (!s->key) return NULL;
    memcpy(s->key, key, n);
    s->keylen = (uint32_t)n;
    s->hash = h;
    s->val = -1;
    memset(&s->list, 0, sizeof s->list);
    m->count++;
    st->key_bytes += n;
    return s;
}

static nostr__store_slot *nostr__store_map_get(nostr_store_builtin *st, nostr__store_map *m, const unsigned char *key,
                                               size_t n)
{
    return nostr__store_map_get_h(st, m, key, n, nostr__store_hash(st->seed, key, n));
}

/* Keys. buf must hold 36 bytes (tag keys: 2 + value length). */
static size_t nostr__store_key_author(unsigned char *k, const unsigned char pub[32])
{
    k[0] = NOSTR__STORE_K_AUTHOR;
    memcpy(k + 1, pub, 32);
    return 33;
}

static size_t nostr__store_key_kind(unsigned char *k, unsigned kind)
{
    k[0] = NOSTR__STORE_K_KIND;
    k[1] = (unsigned char)(kind >> 8);
    k[2] = (unsigned char)kind;
    return 3;
}

static size_t nostr__store_key_author_kind(unsigned char *k, const unsigned char pub[32], unsigned kind)
{
    k[0] = NOSTR__STORE_K_AUTHOR_KIND;
    memcpy(k + 1, pub, 32);
    k[33] = (unsigned char)(kind >> 8);
    k[34] = (unsigned char)kind;
    return 35;
}

/* Tag key into buf (cap bytes) or, when longer, a heap block in *heap. */
static unsigned char *nostr__store_key_tag(nostr_store_builtin *st, unsigned char *buf, size_t cap, char name,
                                           const char *v, size_t vlen, size_t *n, unsigned char **heap)
{
    unsigned char *k = buf;
    *heap = NULL;
    if (vlen == 64 && nostr_hex_decode(v, 64, k + 2, 32) == NOSTR_OK) { /* lowercase only */
        k[0] = NOSTR__STORE_K_TAG_HEX;
        k[1] = (unsigned char)name;
        *n = 34;
        return k;
    }
    if (vlen + 2 > cap) {
        k = *heap = (unsigned char *)nostr_alloc(st->al, vlen + 2);
        if (!k) return NULL;
    }
    k[0] = NOSTR__STORE_K_TAG;
    k[1] = (unsigned char)name;
    if (vlen) memcpy(k + 2, v, vlen);
    *n = vlen + 2;
    return k;
}

/* Meta key: prefix, pubkey, kind, d (replaceable and "a" coordinates). */
static unsigned char *nostr__store_key_coord(nostr_store_builtin *st, unsigned char *buf, size_t cap, int prefix,
                                             const unsigned char pub[32], unsigned kind, const char *d, size_t dlen,
                                             size_t *n, unsigned char **heap)
{
    unsigned char *k = buf;
    *heap = NULL;
    if (dlen + 35 > cap) {
        k = *heap = (unsigned char *)nostr_alloc(st->al, dlen + 35);
        if (!k) return NULL;
    }
    k[0] = (unsigned char)prefix;
    memcpy(k + 1, pub, 32);
    k[33] = (unsigned char)(kind >> 8);
    k[34] = (unsigned char)kind;
    if (dlen) memcpy(k + 35, d, dlen);
    *n = dlen + 35;
    return k;
}

static size_t nostr__store_key_edel(unsigned char *k, const unsigned char id[32], const unsigned char pub[32])
{
    k[0] = NOSTR__STORE_K_EDEL;
    memcpy(k + 1, id, 32);
    memcpy(k + 33, pub, 32);
    return 65;
}

/* ---- the id table ---- */

static size_t nostr__store_id_home(const nostr_store_builtin *st, const unsigned char id[32])
{
    uint64_t w;
    memcpy(&w, id, 8);
    return (size_t)nostr__store_mix(w ^ st->seed) & (st->ids_cap - 1);
}

static uint32_t nostr__store_id_find(const nostr_store_builtin *st, const unsigned char id[32])
{
    size_t i;
    if (!st->ids_cap) return NOSTR__STORE_NONE;
    for (i = nostr__store_id_home(st, id); st->ids[i] != NOSTR__STORE_NONE; i = (i + 1) & (st->ids_cap - 1))
        if (memcmp(st->evs[st->ids[i]].id, id, 32) == 0) return st->ids[i];
    return NOSTR__STORE_NONE;
}

static void nostr__store_id_place(nostr_store_builtin *st, uint32_t s)
{
    size_t i;
    for (i = nostr__store_id_home(st, st->evs[s].id); st->ids[i] != NOSTR__STORE_NONE;
         i = (i + 1) & (st->ids_cap - 1)) {
    }
    st->ids[i] = s;
}

static int nostr__store_id_add(nostr_store_builtin *st, uint32_t s)
{
    if ((st->ids_count + 1) * 2 > st->ids_cap) {
        size_t cap = st->ids_cap ? st->ids_cap * 2 : 1024, i, old = st->ids_cap;
        uint32_t *prev = st->ids;
        uint32_t *t = (uint32_t *)nostr_alloc(st->al, cap * sizeof *t);
        if (!t) return NOSTR_ERR_NOMEM;
        memset(t, 0xFF, cap * sizeof *t);
        st->ids = t;
        st->ids_cap = cap;
        for (i = 0; i < old; i++)
            if (prev[i] != NOSTR__STORE_NONE) nostr__store_id_place(st, prev[i]);
        nostr_free(st->al, prev);
    }
    nostr__store_id_place(st, s);
    st->ids_count++;
    return NOSTR_OK;
}

/* Remove with backward shift, so probes never need tombstones. */
static void nostr__store_id_remove(nostr_store_builtin *st, uint32_t s)
{
    size_t mask = st->ids_cap - 1, i, j;
    if (!st->ids_cap) return;
    for (i = nostr__store_id_home(st, st->evs[s].id); st->ids[i] != s; i = (i + 1) & mask)
        if (st->ids[i] == NOSTR__STORE_NONE) return;
    st->ids_count--;
    for (j = (i + 1) & mask;; j = (j + 1) & mask) {
        size_t home;
        if (st->ids[j] == NOSTR__STORE_NONE) break;
        home = nostr__store_id_home(st, st->evs[st->ids[j]].id);
        /* move j into the hole at i unless its home lies cyclically in (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            st->ids[i] = st->ids[j];
            i = j;
        }
    }
    st->ids[i] = NOSTR__STORE_NONE;
}

/* ---- events in memory ---- */

/* Where the decoded content appears verbatim in the JSON text (the usual
 * case: nothing in it needed escaping), or -1. */
static long nostr__store_content_at(const char *json, size_t len, const char *c, size_t clen)
{
    /* nostr-tools and most clients write content just before the sig:
     * ...,"content":"<content>","sig":"<128 hex>"} -- look there first */
    static const char sig_key[] = "\",\"sig\":\"", content_key[] = "\"content\":\"";
    const char *q = json, *end = json + len;
    if (len >= clen + 11 + 9 + 128 + 2) {
        size_t close = len - 2 - 128 - 9, start = close - clen;
        if (memcmp(json + close, sig_key, 9) == 0 && memcmp(json + start - 11, content_key, 11) == 0 &&
            (clen == 0 || memcmp(json + start, c, clen) == 0))
            return (long)start;
    }
    /* from quote to quote (memchr), the second byte before any memcmp:
     * a contact list has thousands of quotes before its "content" */
    while ((q = (const char *)memchr(q, '"', (size_t)(end - q))) != NULL) {
        size_t i = (size_t)(q - json), j;
        q++;
        if (i + 9 >= len || json[i + 1] != 'c' || memcmp(json + i, "\"content\"", 9) != 0) continue;
        j = i + 9;
        while (j < len && (json[j] == ' ' || json[j] == '\t' || json[j] == '\n' || json[j] == '\r')) j++;
        if (j >= len || json[j] != ':') continue;
        j++;
        while (j < len && (json[j] == ' ' || json[j] == '\t' || json[j] == '\n' || json[j] == '\r')) j++;
        if (j < len && json[j] == '"' && j + 1 + clen < len && memcmp(json + j + 1, c, clen) == 0 &&
            json[j + 1 + clen] == '"')
            return (long)(j + 1);
    }
    return -1;
}

static uint32_t nostr__store_slot_new(nostr_store_builtin *st)
{
    if (st->free_slots.n) return st->free_slots.v[--st->free_slots.n];
    if (st->nevs == st->cap_evs) {
        uint32_t cap = st->cap_evs ? st->cap_evs * 2 : 1024;
        nostr__store_ev *evs;
        if (st->cap_evs >= 0x7FFFFFFFu) return NOSTR__STORE_NONE;
        evs = (nostr__store_ev *)nostr_realloc(st->al, st->evs, (size_t)cap * sizeof *evs);
        if (!evs) return NOSTR__STORE_NONE;
        st->evs = evs;
        st->cap_evs = cap;
    }
    return st->nevs++;
}

/* Remove an event from every answer at once; the posting lists keep its
 * slot until the next vacuum. */
static void nostr__store_kill(nostr_store_builtin *st, uint32_t s)
{
    nostr__store_ev *e = &st->evs[s];
    if (e->dead != NOSTR__STORE_LIVE) return;
    nostr__store_id_remove(st, s);
    e->dead = NOSTR__STORE_DEAD;
    st->json_bytes -= e->json_len;
    nostr_free(st->al, e->json);
    e->json = NULL;
    st->dead_bytes += e->log_len;
    st->live--;
    st->dead_in_index++;
}

static void nostr__store_vacuum(nostr_store_builtin *st)
{
    size_t i;
    uint32_t s;
    for (i = 0; i < st->ix.cap; i++)
        if (st->ix.slots[i].hash) nostr__store_list_sweep(st, &st->ix.slots[i].list);
    nostr__store_list_sweep(st, &st->all);
    nostr__store_list_sweep(st, &st->expiring);
    for (i = 0; i < st->meta.cap; i++) {
        nostr__store_slot *m = &st->meta.slots[i];
        if (m->hash && m->key[0] == NOSTR__STORE_K_REPL && m->val >= 0 &&
            st->evs[(uint32_t)m->val].dead != NOSTR__STORE_LIVE)
            m->val = -1;
    }
    for (s = 0; s < st->nevs; s++) {
        if (st->evs[s].dead != NOSTR__STORE_DEAD) continue;
        if (nostr__store_list_reserve(st, &st->free_slots, 1) != NOSTR_OK) break; /* stays dead: retried later */
        st->evs[s].dead = NOSTR__STORE_FREE;
        st->free_slots.v[st->free_slots.n++] = s;
    }
    st->dead_in_index = 0;
    for (s = 0; s < st->nevs; s++)
        if (st->evs[s].dead == NOSTR__STORE_DEAD) st->dead_in_index++;
}

static void nostr__store_maybe_vacuum(nostr_store_builtin *st)
{
    if (!st->in_query && st->dead_in_index > 4096 && st->dead_in_index * 4 > st->live) nostr__store_vacuum(st);
}

/* Index keys go in chunks so that their cache misses overlap: a big map
 * is out of cache, and one key after another costs a miss for the slot,
 * one for the key's bytes and one for the posting list's end, in series;
 * contact lists bring thousands of keys. */
#define NOSTR__STORE_CHUNK 16
#define NOSTR__STORE_KEY_BUF 160

#if defined(__GNUC__) || defined(__clang__)
#define NOSTR__STORE_PREFETCH(p) __builtin_prefetch(p)
#else
#define NOSTR__STORE_PREFETCH(p) ((void)(p))
#endif

typedef struct nostr__store_ixkey {
    const unsigned char *key;
    size_t n;
    uint64_t h;
    unsigned char *heap; /* key's block when it did not fit the chunk's buffer */
    size_t cand;         /* slot whose hash matched in the first probe, or (size_t)-1 */
} nostr__store_ixkey;

/* Add slot s to the posting lists of q[0..n) and free their heap keys. */
static int nostr__store_index_chunk(nostr_store_builtin *st, nostr__store_ixkey *q, size_t n, uint32_t s)
{
    nostr__store_map *m = &st->ix;
    size_t i;
    int rc = NOSTR_OK;
    for (i = 0; i < n; i++) {
        q[i].h = nostr__store_hash(st->seed, q[i].key, q[i].n);
        q[i].cand = (size_t)-1;
        if (m->cap) NOSTR__STORE_PREFETCH(&m->slots[(size_t)q[i].h & (m->cap - 1)]);
    }
    /* First probe: the slot with the key's hash, if any; fetch its key and
     * the end of its list before they are compared and appended to. */
    for (i = 0; i < n && m->cap; i++) {
        size_t j;
        for (j = (size_t)q[i].h & (m->cap - 1); m->slots[j].hash; j = (j + 1) & (m->cap - 1)) {
            const nostr__store_slot *c = &m->slots[j];
            if (c->hash != q[i].h) continue;
            q[i].cand = j;
            NOSTR__STORE_PREFETCH(c->key);
            if (c->list.v) NOSTR__STORE_PREFETCH(&c->list.v[c->list.n ? c->list.n - 1 : 0]);
            break;
        }
    }
    for (i = 0; i < n && rc == NOSTR_OK; i++) {
        nostr__store_slot *c = NULL;
        /* The candidate is checked in full: an insert earlier in this
         * chunk may have grown the map and moved every slot. */
        if (q[i].cand != (size_t)-1) { /* an index from before a growth is still < cap */
            c = &m->slots[q[i].cand];
            if (c->hash != q[i].h || c->keylen != q[i].n || memcmp(c->key, q[i].key, q[i].n) != 0) c = NULL;
        }
        if (!c) c = nostr__store_map_get_h(st, m, q[i].key, q[i].n, q[i].h);
        rc = c ? nostr__store_list_add(st, &c->list, s) : NOSTR_ERR_NOMEM;
    }
    for (i = 0; i < n; i++) nostr_free(st->al, q[i].heap);
    return rc;
}

/* Add slot s to every index. */
static int nostr__store_index(nostr_store_builtin *st, const nostr_event *ev, uint32_t s)
{
    unsigned char kb[NOSTR__STORE_CHUNK][NOSTR__STORE_KEY_BUF];
    nostr__store_ixkey q[NOSTR__STORE_CHUNK];
    size_t i, nq = 3;
    int rc = NOSTR_OK;
    if (nostr__store_id_add(st, s) != NOSTR_OK) return NOSTR_ERR_NOMEM;
    if (nostr__store_list_add(st, &st->all, s) != NOSTR_OK) return NOSTR_ERR_NOMEM;
    if (st->evs[s].expiration && nostr__store_list_add(st, &st->expiring, s) != NOSTR_OK) return NOSTR_ERR_NOMEM;
    memset(q, 0, sizeof q);
    q[0].n = nostr__store_key_author(kb[0], ev->pubkey);
    q[1].n = nostr__store_key_kind(kb[1], ev->kind);
    q[2].n = nostr__store_key_author_kind(kb[2], ev->pubkey, ev->kind);
    for (i = 0; i < 3; i++) q[i].key = kb[i];
    for (i = 0; i < ev->tag_count && rc == NOSTR_OK; i++) {
        const nostr_tag *t = &ev->tags[i];
        if (t->count < 2 || t->items[0].len != 1) continue;
        q[nq].key = nostr__store_key_tag(st, kb[nq], sizeof kb[nq], t->items[0].ptr[0], t->items[1].ptr,
                                         t->items[1].len, &q[nq].n, &q[nq].heap);
        if (!q[nq].key) {
            rc = NOSTR_ERR_NOMEM;
            break;
        }
        if (++nq == NOSTR__STORE_CHUNK) {
            rc = nostr__store_index_chunk(st, q, nq, s);
            memset(q, 0, sizeof q);
            nq = 0;
        }
    }
    if (rc == NOSTR_OK) return nq ? nostr__store_index_chunk(st, q, nq, s) : NOSTR_OK;
    for (i = 0; i < nq; i++) nostr_free(st->al, q[i].heap);
    return rc;
}

/* Copy ev into a new slot and index it: the slot or NONE (out of memory;
 * nothing visible remains). */
static uint32_t nostr__store_insert(nostr_store_builtin *st, const nostr_event *ev, const char *json, size_t len)
{
    long at = nostr__store_content_at(json, len, ev->content.ptr, ev->content.len);
    size_t size = len + 1 + (at < 0 ? ev->content.len + 1 : 0);
    nostr__store_ev *e;
    uint32_t s;
    char *copy;
    if (len > 0xFFFFFFF0u || ev->content.len > 0x7FFFFFFFu) return NOSTR__STORE_NONE;
    copy = (char *)nostr_alloc(st->al, size);
    if (!copy) return NOSTR__STORE_NONE;
    s = nostr__store_slot_new(st);
    if (s == NOSTR__STORE_NONE) {
        nostr_free(st->al, copy);
        return NOSTR__STORE_NONE;
    }
    memcpy(copy, json, len);
    copy[len] = 0;
    if (at < 0) {
        if (ev->content.len) memcpy(copy + len + 1, ev->content.ptr, ev->content.len);
        copy[size - 1] = 0;
        at = (long)len + 1;
    }
    e = &st->evs[s];
    memset(e, 0, sizeof *e);
    memcpy(e->id, ev->id, 32);
    memcpy(e->pubkey, ev->pubkey, 32);
    e->created_at = ev->created_at;
    e->expiration = nostr_event_expiration(ev);
    e->json = copy;
    e->json_len = (uint32_t)len;
    e->content_off = (uint32_t)at;
    e->content_len = (uint32_t)ev->content.len;
    e->kind = (uint16_t)ev->kind;
    e->dead = NOSTR__STORE_LIVE;
    st->live++;
    st->json_bytes += len;
    if (nostr__store_index(st, ev, s) != NOSTR_OK) {
        /* partly indexed: dead entries are harmless in lists */
        nostr__store_kill(st, s);
        return NOSTR__STORE_NONE;
    }
    return s;
}

/* The meta slot of the current version of a replaceable/addressable
 * event (NULL for other kinds; *nomem set on allocation failure). */
static nostr__store_slot *nostr__store_repl_slot(nostr_store_builtin *st, const nostr_event *ev, int add, int *nomem)
{
    int cls = nostr_kind_class(ev->kind);
    unsigned char buf[160], *k, *heap;
    nostr_str d;
    nostr__store_slot *m;
    size_t n;
    *nomem = 0;
    if (cls != NOSTR_KIND_REPLACEABLE && cls != NOSTR_KIND_ADDRESSABLE) return NULL;
    d.ptr = "";
    d.len = 0;
    if (cls == NOSTR_KIND_ADDRESSABLE) d = nostr_event_d_tag(ev);
    k = nostr__store_key_coord(st, buf, sizeof buf, NOSTR__STORE_K_REPL, ev->pubkey, ev->kind, d.ptr, d.len, &n, &heap);
    if (!k) {
        *nomem = 1;
        return NULL;
    }
    m = add ? nostr__store_map_get(st, &st->meta, k, n) : nostr__store_map_find(st, &st->meta, k, n);
    nostr_free(st->al, heap);
    if (!m && add) *nomem = 1;
    return m;
}

/* Newest "a" deletion of this coordinate by its author, or -1. */
static long long nostr__store_adel_at(nostr_store_builtin *st, const nostr_event *ev)
{
    int cls = nostr_kind_class(ev->kind);
    unsigned char buf[160], *k, *heap;
    nostr_str d;
    nostr__store_slot *m;
    size_t n;
    if (cls != NOSTR_KIND_REPLACEABLE && cls != NOSTR_KIND_ADDRESSABLE) return -1;
    d.ptr = "";
    d.len = 0;
    if (cls == NOSTR_KIND_ADDRESSABLE) d = nostr_event_d_tag(ev);
    k = nostr__store_key_coord(st, buf, sizeof buf, NOSTR__STORE_K_ADEL, ev->pubkey, ev->kind, d.ptr, d.len, &n, &heap);
    if (!k) return -1;
    m = nostr__store_map_find(st, &st->meta, k, n);
    nostr_free(st->al, heap);
    return m ? m->val : -1;
}

/* Apply a stored kind 5 (NIP-09): remember what it names and remove the
 * named events of its author. */
static int nostr__store_apply_deletion(nostr_store_builtin *st, const nostr_event *ev)
{
    size_t i;
    for (i = 0; i < ev->tag_count; i++) {
        const nostr_tag *t = &ev->tags[i];
        if (t->count < 2 || t->items[0].len != 1) continue;
        if (t->items[0].ptr[0] == 'e') {
            unsigned char id[32], k[65];
            uint32_t s;
            if (nostr_hex_decode(t->items[1].ptr, t->items[1].len, id, 32) != NOSTR_OK) continue;
            if (!nostr__store_map_get(st, &st->meta, k, nostr__store_key_edel(k, id, ev->pubkey)))
                return NOSTR_ERR_NOMEM;
            s = nostr__store_id_find(st, id);
            if (s != NOSTR__STORE_NONE && memcmp(st->evs[s].pubkey, ev->pubkey, 32) == 0 && st->evs[s].kind != 5)
                nostr__store_kill(st, s);
        } else if (t->items[0].ptr[0] == 'a') {
            /* kind:pubkey:d, the d being everything after the second colon */
            const char *v = t->items[1].ptr, *end = v + t->items[1].len, *c1, *d;
            unsigned long kind = 0;
            unsigned char pub[32], buf[160], *k, *heap;
            nostr__store_slot *m, *r;
            size_t n;
            int cls;
            for (c1 = v; c1 < end && *c1 >= '0' && *c1 <= '9' && kind <= 65535; c1++)
                kind = kind * 10 + (unsigned)(*c1 - '0');
            if (c1 == v || c1 >= end || *c1 != ':' || kind > 65535 || end - c1 < 66 || c1[65] != ':') continue;
            if (nostr_hex_decode(c1 + 1, 64, pub, 32) != NOSTR_OK || memcmp(pub, ev->pubkey, 32) != 0) continue;
            cls = nostr_kind_class((unsigned)kind);
            if (cls != NOSTR_KIND_REPLACEABLE && cls != NOSTR_KIND_ADDRESSABLE) continue;
            d = c1 + 66;
            k = nostr__store_key_coord(st, buf, sizeof buf, NOSTR__STORE_K_ADEL, pub, (unsigned)kind, d,
                                       (size_t)(end - d), &n, &heap);
            if (!k) return NOSTR_ERR_NOMEM;
            m = nostr__store_map_get(st, &st->meta, k, n);
            if (m && m->val < ev->created_at) m->val = ev->created_at;
            k[0] = NOSTR__STORE_K_REPL;
            r = nostr__store_map_find(st, &st->meta, k, n);
            nostr_free(st->al, heap);
            if (!m) return NOSTR_ERR_NOMEM;
            if (r && r->val >= 0 && st->evs[(uint32_t)r->val].dead == NOSTR__STORE_LIVE &&
                st->evs[(uint32_t)r->val].created_at <= ev->created_at) {
                nostr__store_kill(st, (uint32_t)r->val);
                r->val = -1;
            }
        }
    }
    return NOSTR_OK;
}

/* The store's rules for one event: a NOSTR_STORE_* result or an error;
 * *slot gets the new slot when SAVED. */
static int nostr__store_apply(nostr_store_builtin *st, const nostr_event *ev, const char *json, size_t len,
                              uint32_t *slot)
{
    unsigned char k[65];
    nostr__store_slot *repl;
    uint32_t s, old = NOSTR__STORE_NONE;
    int nomem;
    *slot = NOSTR__STORE_NONE;
    if (nostr__store_id_find(st, ev->id) != NOSTR__STORE_NONE) return NOSTR_STORE_DUPLICATE;
    /* a deletion of a deletion has no effect (NIP-09), whichever comes first */
    if (ev->kind != 5 && nostr__store_map_find(st, &st->meta, k, nostr__store_key_edel(k, ev->id, ev->pubkey)))
        return NOSTR_STORE_DELETED;
    if (nostr__store_adel_at(st, ev) >= ev->created_at) return NOSTR_STORE_DELETED;
    repl = nostr__store_repl_slot(st, ev, 0, &nomem);
    if (nomem) return NOSTR_ERR_NOMEM;
    if (repl && repl->val >= 0 && st->evs[(uint32_t)repl->val].dead == NOSTR__STORE_LIVE) {
        const nostr__store_ev *cur = &st->evs[(uint32_t)repl->val];
        if (cur->created_at > ev->created_at || (cur->created_at == ev->created_at && memcmp(cur->id, ev->id, 32) < 0))
            return NOSTR_STORE_SUPERSEDED;
        old = (uint32_t)repl->val;
    }
    s = nostr__store_insert(st, ev, json, len);
    if (s == NOSTR__STORE_NONE) return NOSTR_ERR_NOMEM;
    if (nostr_kind_class(ev->kind) == NOSTR_KIND_REPLACEABLE || nostr_kind_class(ev->kind) == NOSTR_KIND_ADDRESSABLE) {
        repl = nostr__store_repl_slot(st, ev, 1, &nomem);
        if (!repl) {
            nostr__store_kill(st, s);
            return NOSTR_ERR_NOMEM;
        }
        if (old != NOSTR__STORE_NONE) nostr__store_kill(st, old);
        repl->val = s;
    }
    if (ev->kind == 5 && nostr__store_apply_deletion(st, ev) != NOSTR_OK) {
        nostr__store_kill(st, s); /* not stored: the relay answers an error */
        return NOSTR_ERR_NOMEM;
    }
    *slot = s;
    return NOSTR_STORE_SAVED;
}

/* ---- the log ---- */

static int nostr__store_append_rec(nostr_store_builtin *st, unsigned type, const void *p, size_t n)
{
    unsigned char h[NOSTR__STORE_HDR];
    nostr__store_put32(h, (uint32_t)n);
    nostr__store_put32(h + 4, nostr__store_rec_crc(type, (const unsigned char *)p, n));
    h[8] = (unsigned char)type;
    if (nostr_buf_reserve(&st->pending, NOSTR__STORE_HDR + n) != NOSTR_OK) return NOSTR_ERR_NOMEM;
    nostr_buf_append(&st->pending, h, sizeof h);
    nostr_buf_append(&st->pending, p, n);
    return NOSTR_OK;
}

static int nostr__store_write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int nostr__store_fsync_fd(int fd, int no_fsync)
{
    if (no_fsync) return 0;
    while (fsync(fd) != 0)
        if (errno != EINTR) return -1;
    return 0;
}

static int nostr__store_fsync(nostr_store_builtin *st, int fd)
{
    return nostr__store_fsync_fd(fd, st->no_fsync);
}

/* Write and fsync the pending records; 0 or -1 (the store is failed). */
static int nostr__store_flush(nostr_store_builtin *st)
{
    if (st->fd < 0 || st->failed) {
        nostr_buf_clear(&st->pending);
        return st->failed ? -1 : 0;
    }
    if (!st->pending.len) return 0;
    if (nostr__store_write_all(st->fd, st->pending.data, st->pending.len) != 0 || nostr__store_fsync(st, st->fd) != 0) {
        NOSTR__STORE_LOGF(st, NOSTR_LOG_ERROR, "store: writing %s failed: %s; no more writes", st->path,
                          strerror(errno));
        st->failed = 1;
        nostr_buf_clear(&st->pending);
        return -1;
    }
    st->log_bytes += st->pending.len;
    nostr_buf_clear(&st->pending);
    if (st->pending.cap > (8u << 20)) nostr_buf_free(&st->pending); /* give back a burst's buffer */
    return 0;
}

/* Complete every waiting put. The batch is taken out first: a completion
 * may put (its waiter joins the next batch) or even commit again. */
static void nostr__store_finish_waiters(nostr_store_builtin *st, int result, const char *msg)
{
    nostr__store_waiter *batch = st->waiters;
    size_t i, n = st->nwaiters, cap = st->cap_waiters;
    if (!n) return;
    st->waiters = NULL;
    st->nwaiters = st->cap_waiters = 0;
    for (i = 0; i < n; i++) batch[i].fn(batch[i].user, result, msg);
    if (!st->waiters) {
        st->waiters = batch; /* keep the array for the next batch */
        st->cap_waiters = cap;
    } else {
        nostr_free(st->al, batch);
    }
}

NOSTRDEF int nostr_store_builtin_commit(nostr_store_builtin *s)
{
    int failed;
    if (!s) return NOSTR_ERR_ARG;
    if (s->batch_out) return NOSTR_ERR_BUSY;
    failed = nostr__store_flush(s) != 0;
    if (failed)
        nostr__store_finish_waiters(s, NOSTR_ERR_CLOSED, "store: the log could not be written");
    else
        nostr__store_finish_waiters(s, NOSTR_STORE_SAVED, NULL);
    return failed ? NOSTR_ERR_CLOSED : NOSTR_OK;
}

NOSTRDEF int nostr_store_builtin_commit_begin(nostr_store_builtin *s, nostr_store_builtin_batch **out)
{
    nostr_store_builtin_batch *b;
    nostr__store_waiter *w;
    size_t cap;
    nostr_buf tmp;
    if (!s || !out) return NOSTR_ERR_ARG;
    *out = NULL;
    if (s->batch_out) return NOSTR_ERR_BUSY;
    if (s->fd < 0 || s->failed || !s->pending.len) return nostr_store_builtin_commit(s);
    /* swap the pending records and waiters with the batch's emptied ones */
    b = &s->batch;
    nostr_buf_clear(&b->data);
    tmp = b->data;
    b->data = s->pending;
    s->pending = tmp;
    w = b->waiters;
    cap = b->cap_waiters;
    b->waiters = s->waiters;
    b->nwaiters = s->nwaiters;
    b->cap_waiters = s->cap_waiters;
    s->waiters = w;
    s->nwaiters = 0;
    s->cap_waiters = cap;
    b->fd = s->fd;
    b->no_fsync = s->no_fsync;
    b->err = 0;
    s->batch_out = 1;
    *out = b;
    return NOSTR_OK;
}

NOSTRDEF int nostr_store_builtin_commit_write(nostr_store_builtin_batch *b)
{
    if (!b) return NOSTR_ERR_ARG;
    if (nostr__store_write_all(b->fd, b->data.data, b->data.len) != 0 || nostr__store_fsync_fd(b->fd, b->no_fsync) != 0)
        b->err = errno ? errno : EIO;
    return b->err ? NOSTR_ERR_CLOSED : NOSTR_OK;
}

NOSTRDEF int nostr_store_builtin_commit_end(nostr_store_builtin *s, nostr_store_builtin_batch *b)
{
    size_t i, n;
    int result = NOSTR_STORE_SAVED;
    const char *msg = NULL;
    if (!s || b != &s->batch || !s->batch_out) return NOSTR_ERR_ARG;
    if (b->err) {
        NOSTR__STORE_LOGF(s, NOSTR_LOG_ERROR, "store: writing %s failed: %s; no more writes", s->path,
                          strerror(b->err));
        s->failed = 1;
        result = NOSTR_ERR_CLOSED;
        msg = "store: the log could not be written";
    } else {
        s->log_bytes += b->data.len;
    }
    nostr_buf_clear(&b->data);
    if (b->data.cap > (8u << 20)) nostr_buf_free(&b->data); /* give back a burst's buffer */
    /* batch_out stays set through the completions: one that commits gets
     * NOSTR_ERR_BUSY instead of reusing the array being walked; new puts
     * go to s->waiters, a different array */
    n = b->nwaiters;
    b->nwaiters = 0;
    for (i = 0; i < n; i++) b->waiters[i].fn(b->waiters[i].user, result, msg);
    s->batch_out = 0;
    return result == NOSTR_STORE_SAVED ? NOSTR_OK : NOSTR_ERR_CLOSED;
}

/* Reads the log sequentially through a window. */
typedef struct nostr__store_reader {
    int fd;
    unsigned char *buf;
    size_t cap;
    unsigned long long base; /* file offset of buf[0] */
    size_t len;
    unsigned long long size;
} nostr__store_reader;

/* Bytes [off, off+n) of the file, or NULL (read error or past the end). */
static const unsigned char *nostr__store_read_at(nostr_store_builtin *st, nostr__store_reader *r,
                                                 unsigned long long off, size_t n)
{
    size_t keep;
    if (off + n > r->size) return NULL;
    if (off >= r->base && off + n <= r->base + r->len) return r->buf + (off - r->base);
    if (n > r->cap) {
        size_t cap = r->cap;
        unsigned char *b;
        while (cap < n) cap *= 2;
        b = (unsigned char *)nostr_realloc(st->al, r->buf, cap);
        if (!b) return NULL;
        r->buf = b;
        r->cap = cap;
    }
    /* keep what is already read past off, then fill the window */
    keep = 0;
    if (off >= r->base && off < r->base + r->len) {
        keep = (size_t)(r->base + r->len - off);
        memmove(r->buf, r->buf + (off - r->base), keep);
    }
    r->base = off;
    r->len = keep;
    while (r->len < r->cap && r->base + r->len < r->size) {
        ssize_t got = pread(r->fd, r->buf + r->len, r->cap - r->len, (off_t)(r->base + r->len));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        r->len += (size_t)got;
    }
    return r->len >= n ? r->buf : NULL;
}

/* Keep the bytes cut off the log next to it, for a human to look at. */
static void nostr__store_save_tail(nostr_store_builtin *st, unsigned long long off, unsigned long long size)
{
    char path[4096];
    char buf[65536];
    int out;
    snprintf(path, sizeof path, "%s.bad", st->path);
    out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0) return;
    while (off < size) {
        size_t want = size - off < sizeof buf ? (size_t)(size - off) : sizeof buf;
        ssize_t got = pread(st->fd, buf, want, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0 || nostr__store_write_all(out, buf, (size_t)got) != 0) break;
        off += (unsigned long long)got;
    }
    (void)nostr__store_fsync(st, out);
    close(out);
}

static int nostr__store_replay_event(nostr_store_builtin *st, const unsigned char *p, uint32_t n,
                                     unsigned long long off)
{
    nostr_event ev;
    nostr_limits lim;
    nostr_error err;
    uint32_t s;
    int rc;
    memset(&lim, 0, sizeof lim);
    lim.max_input = NOSTR__STORE_MAX_RECORD;
    lim.max_string = NOSTR__STORE_MAX_RECORD;
    lim.max_tags = NOSTR__STORE_MAX_RECORD;
    lim.max_tag_items = NOSTR__STORE_MAX_RECORD;
    nostr_arena_reset(&st->scratch);
    rc = nostr_event_parse(&ev, (const char *)p, n, &st->scratch, &lim, &err);
    if (rc == NOSTR_ERR_NOMEM) return rc;
    if (rc != NOSTR_OK) {
        NOSTR__STORE_LOGF(st, NOSTR_LOG_WARN, "store: %s: record at %llu is not an event (%s); skipped", st->path, off,
                          err.msg ? err.msg : "?");
        st->dead_bytes += NOSTR__STORE_HDR + n;
        return NOSTR_OK;
    }
    rc = nostr__store_apply(st, &ev, (const char *)p, n, &s);
    if (rc < 0) return rc;
    if (rc == NOSTR_STORE_SAVED)
        st->evs[s].log_len = NOSTR__STORE_HDR + n;
    else
        st->dead_bytes += NOSTR__STORE_HDR + n;
    return NOSTR_OK;
}

/* Replay the log into memory; cut a torn or corrupt tail. */
static int nostr__store_replay(nostr_store_builtin *st, nostr_error *err)
{
    nostr__store_reader r;
    struct stat sb;
    unsigned long long off = 0;
    int rc = NOSTR_OK, have_header = 0;
    if (fstat(st->fd, &sb) != 0) {
        err->msg = "store: cannot stat the log";
        return NOSTR_ERR_ARG;
    }
    memset(&r, 0, sizeof r);
    r.fd = st->fd;
    r.size = (unsigned long long)sb.st_size;
    r.cap = r.size < (1u << 20) ? (size_t)r.size + 16 : (1u << 20); /* grows for a bigger record */
    r.buf = (unsigned char *)nostr_alloc(st->al, r.cap);
    if (!r.buf) return NOSTR_ERR_NOMEM;
    while (off < r.size) {
        const unsigned char *h = nostr__store_read_at(st, &r, off, NOSTR__STORE_HDR), *p;
        uint32_t n, crc;
        unsigned type;
        if (!h) break;
        n = nostr__store_get32(h);
        crc = nostr__store_get32(h + 4);
        type = h[8];
        if (n > NOSTR__STORE_MAX_RECORD) break;
        p = nostr__store_read_at(st, &r, off + NOSTR__STORE_HDR, n);
        if (!p || nostr__store_rec_crc(type, p, n) != crc) break;
        if (!have_header) {
            if (type != NOSTR__STORE_REC_HEADER || n != sizeof NOSTR__STORE_MAGIC - 1 ||
                memcmp(p, NOSTR__STORE_MAGIC, n) != 0) {
                err->msg = "store: events.log is not a distrise log (bad header)";
                rc = NOSTR_ERR_ARG;
                break;
            }
            have_header = 1;
        } else if (type == NOSTR__STORE_REC_EVENT) {
            rc = nostr__store_replay_event(st, p, n, off);
            if (rc != NOSTR_OK) break;
        } else if (type == NOSTR__STORE_REC_GONE && n == 32) {
            uint32_t s = nostr__store_id_find(st, p);
            if (s != NOSTR__STORE_NONE) nostr__store_kill(st, s);
            st->dead_bytes += NOSTR__STORE_HDR + n;
        } else {
            NOSTR__STORE_LOGF(st, NOSTR_LOG_WARN, "store: %s: unknown record type %u at %llu skipped", st->path, type,
                              off);
            st->dead_bytes += NOSTR__STORE_HDR + n;
        }
        off += NOSTR__STORE_HDR + n;
    }
    nostr_free(st->al, r.buf);
    if (rc != NOSTR_OK) {
        if (!err->msg) err->msg = "store: out of memory replaying the log";
        return rc;
    }
    if (!have_header && r.size >= NOSTR__STORE_HDR + sizeof NOSTR__STORE_MAGIC - 1) {
        /* long enough to hold a header, and it does not: not ours */
        err->msg = "store: events.log is not a distrise log (bad header)";
        return NOSTR_ERR_ARG;
    }
    if (off < r.size) {
        st->truncated = r.size - off;
        NOSTR__STORE_LOGF(st, NOSTR_LOG_WARN,
                          "store: %s: torn or corrupt record at offset %llu: cut %llu bytes (kept in %s.bad)", st->path,
                          off, st->truncated, st->path);
        nostr__store_save_tail(st, off, r.size);
        if (ftruncate(st->fd, (off_t)off) != 0 || nostr__store_fsync(st, st->fd) != 0) {
            err->msg = "store: cannot truncate the log";
            return NOSTR_ERR_ARG;
        }
    }
    st->log_bytes = off;
    if (lseek(st->fd, (off_t)off, SEEK_SET) < 0) {
        err->msg = "store: cannot seek the log";
        return NOSTR_ERR_ARG;
    }
    if (!have_header) {
        if (nostr__store_append_rec(st, NOSTR__STORE_REC_HEADER, NOSTR__STORE_MAGIC, sizeof NOSTR__STORE_MAGIC - 1) !=
            NOSTR_OK)
            return NOSTR_ERR_NOMEM;
        if (nostr__store_flush(st) != 0 || nostr__store_fsync(st, st->dirfd) != 0) {
            err->msg = "store: cannot write the log";
            return NOSTR_ERR_ARG;
        }
    }
    NOSTR__STORE_LOGF(st, NOSTR_LOG_INFO, "store: %s: %llu events, %llu log bytes", st->path, st->live, st->log_bytes);
    return NOSTR_OK;
}

/* ---- queries ---- */

typedef struct nostr__store_vec {
    uint32_t *v;
    size_t n, cap;
} nostr__store_vec;

static int nostr__store_vec_push(nostr_store_builtin *st, nostr__store_vec *v, uint32_t s)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        uint32_t *p = (uint32_t *)nostr_realloc(st->al, v->v, cap * sizeof *p);
        if (!p) return NOSTR_ERR_NOMEM;
        v->v = p;
        v->cap = cap;
    }
    v->v[v->n++] = s;
    return NOSTR_OK;
}

/* A cursor walks one posting list from newest (pos) down to 0. */
typedef struct nostr__store_cursor {
    const uint32_t *v;
    long pos;
    long long at;            /* created_at of v[pos], so heap compares stay in the heap */
    const unsigned char *id; /* id of v[pos] (only read on ties) */
} nostr__store_cursor;

/* What one filter walks: the lists of its most selective field, and the
 * tag lists for checking its other tag conditions. */
typedef struct nostr__store_plan {
    const nostr__store_list **walk;
    size_t nwalk;
    int walk_tag;                   /* the tag filter index the walk covers, or -1 */
    const nostr__store_list **tags; /* per tag filter i: tags[tag_at[i] .. tag_at[i+1]) */
    size_t *tag_at;
} nostr__store_plan;

static int nostr__store_has_u32(const unsigned *v, size_t n, unsigned x, int sorted)
{
    size_t lo = 0, hi = n, i;
    if (!sorted) {
        for (i = 0; i < n; i++)
            if (v[i] == x) return 1;
        return 0;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] == x) return 1;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int nostr__store_has_32(const unsigned char (*v)[32], size_t n, const unsigned char *x, int sorted)
{
    size_t lo = 0, hi = n, i;
    if (!sorted) {
        for (i = 0; i < n; i++)
            if (memcmp(v[i], x, 32) == 0) return 1;
        return 0;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(v[mid], x, 32);
        if (!c) return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Does slot s match f (everything but limit) at now? */
static int nostr__store_match(const nostr_store_builtin *st, const nostr_filter *f, const nostr__store_plan *pl,
                              uint32_t s, long long now)
{
    const nostr__store_ev *e = &st->evs[s];
    int sorted = (f->fields & NOSTR_FILTER_SORTED) != 0;
    size_t i, j;
    if (e->dead != NOSTR__STORE_LIVE) return 0;
    if (e->expiration && e->expiration <= now) return 0;
    if ((f->fields & NOSTR_FILTER_SINCE) && e->created_at < f->since) return 0;
    if ((f->fields & NOSTR_FILTER_UNTIL) && e->created_at > f->until) return 0;
    if ((f->fields & NOSTR_FILTER_KINDS) && !nostr__store_has_u32(f->kinds, f->kinds_count, e->kind, sorted)) return 0;
    if ((f->fields & NOSTR_FILTER_AUTHORS) && !nostr__store_has_32(f->authors, f->authors_count, e->pubkey, sorted))
        return 0;
    if ((f->fields & NOSTR_FILTER_IDS) && !nostr__store_has_32(f->ids, f->ids_count, e->id, sorted)) return 0;
    for (i = 0; i < f->tags_count; i++) {
        int any = 0;
        if ((int)i == pl->walk_tag) continue;
        for (j = pl->tag_at[i]; j < pl->tag_at[i + 1] && !any; j++) any = nostr__store_list_has(st, pl->tags[j], s);
        if (!any) return 0;
    }
    if ((f->fields & NOSTR_FILTER_SEARCH) &&
        !nostr_search_match(f->search.ptr, f->search.len, e->json + e->content_off, e->content_len))
        return 0;
    return 1;
}

static int nostr__store_cur_before(const nostr__store_cursor *a, const nostr__store_cursor *b)
{
    if (a->at != b->at) return a->at > b->at;
    return memcmp(a->id, b->id, 32) < 0;
}

static void nostr__store_cur_load(const nostr_store_builtin *st, nostr__store_cursor *c)
{
    const nostr__store_ev *e = &st->evs[c->v[c->pos]];
    c->at = e->created_at;
    c->id = e->id;
}

static void nostr__store_heap_down(nostr__store_cursor *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        nostr__store_cursor t;
        if (l < n && nostr__store_cur_before(&h[l], &h[m])) m = l;
        if (r < n && nostr__store_cur_before(&h[r], &h[m])) m = r;
        if (m == i) return;
        t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Merge the plan's lists newest first, appending matches to out until
 * limit. */
static int nostr__store_walk(nostr_store_builtin *st, const nostr_filter *f, const nostr__store_plan *pl, long long now,
                             unsigned long long limit, nostr__store_vec *out)
{
    nostr__store_cursor *h;
    size_t n = 0, i;
    unsigned long long got = 0;
    uint32_t last = NOSTR__STORE_NONE;
    int has_since = (f->fields & NOSTR_FILTER_SINCE) != 0;
    if (!pl->nwalk || !limit) return NOSTR_OK;
    h = (nostr__store_cursor *)nostr_alloc(st->al, pl->nwalk * sizeof *h);
    if (!h) return NOSTR_ERR_NOMEM;
    for (i = 0; i < pl->nwalk; i++) {
        const nostr__store_list *l = pl->walk[i];
        uint32_t top = (f->fields & NOSTR_FILTER_UNTIL) ? nostr__store_list_upto(st, l, f->until) : l->n;
        if (!top) continue;
        h[n].v = l->v;
        h[n].pos = (long)top - 1;
        nostr__store_cur_load(st, &h[n]);
        n++;
    }
    for (i = n / 2; i-- > 0;) nostr__store_heap_down(h, n, i);
    while (n && got < limit) {
        uint32_t s = h[0].v[h[0].pos];
        if (has_since && h[0].at < f->since) break; /* the rest is older */
        if (--h[0].pos < 0)
            h[0] = h[--n];
        else
            nostr__store_cur_load(st, &h[0]);
        nostr__store_heap_down(h, n, 0);
        if (s == last) continue;
        last = s;
        if (!nostr__store_match(st, f, pl, s, now)) continue;
        if (nostr__store_vec_push(st, out, s) != NOSTR_OK) {
            nostr_free(st->al, h);
            return NOSTR_ERR_NOMEM;
        }
        got++;
    }
    nostr_free(st->al, h);
    return NOSTR_OK;
}

/* Stable merge sort of slots into output order, then drop repeats. */
static int nostr__store_sort(nostr_store_builtin *st, nostr__store_vec *v)
{
    uint32_t *tmp, *a, *b;
    size_t w, i, j;
    if (v->n < 2) return NOSTR_OK;
    tmp = (uint32_t *)nostr_alloc(st->al, v->n * sizeof *tmp);
    if (!tmp) return NOSTR_ERR_NOMEM;
    a = v->v;
    b = tmp;
    for (w = 1; w < v->n; w *= 2) {
        for (i = 0; i < v->n; i += 2 * w) {
            size_t l = i, lm = i + w < v->n ? i + w : v->n, r = lm, rm = i + 2 * w < v->n ? i + 2 * w : v->n, k = i;
            while (l < lm && r < rm) b[k++] = nostr__store_before(&st->evs[a[r]], &st->evs[a[l]]) ? a[r++] : a[l++];
            while (l < lm) b[k++] = a[l++];
            while (r < rm) b[k++] = a[r++];
        }
        {
            uint32_t *t = a;
            a = b;
            b = t;
        }
    }
    if (a != v->v) memcpy(v->v, a, v->n * sizeof *a);
    nostr_free(st->al, tmp);
    for (i = j = 1; i < v->n; i++)
        if (v->v[i] != v->v[j - 1]) v->v[j++] = v->v[i];
    v->n = j;
    return NOSTR_OK;
}

static void nostr__store_plan_free(nostr_store_builtin *st, nostr__store_plan *pl)
{
    nostr_free(st->al, (void *)pl->walk);
    nostr_free(st->al, (void *)pl->tags);
    nostr_free(st->al, pl->tag_at);
    memset(pl, 0, sizeof *pl);
}

static const nostr__store_list *nostr__store_lookup(nostr_store_builtin *st, const unsigned char *k, size_t n)
{
    const nostr__store_slot *m = nostr__store_map_find(st, &st->ix, k, n);
    return m && m->list.n ? &m->list : NULL;
}

/* The lists of one way to walk f (1 authors x kinds, 2 authors, 3
 * kinds) into out, missing keys left out; their total length. */
static unsigned long long nostr__store_option(nostr_store_builtin *st, const nostr_filter *f, int which,
                                              const nostr__store_list **out, size_t *n)
{
    unsigned char k[40];
    unsigned long long est = 0;
    size_t i, j;
    const nostr__store_list *l;
    *n = 0;
    for (i = 0; i < (which == 3 ? 1 : f->authors_count); i++)
        for (j = 0; j < (which == 2 ? 1 : f->kinds_count); j++) {
            if (which != 2 && f->kinds[j] > 65535) continue;
            if (which == 1)
                l = nostr__store_lookup(st, k, nostr__store_key_author_kind(k, f->authors[i], f->kinds[j]));
            else if (which == 2)
                l = nostr__store_lookup(st, k, nostr__store_key_author(k, f->authors[i]));
            else
                l = nostr__store_lookup(st, k, nostr__store_key_kind(k, f->kinds[j]));
            if (!l) continue;
            out[(*n)++] = l;
            est += l->n;
        }
    return est;
}

/* Choose what to walk for f: the field whose lists hold the fewest
 * entries (authors x kinds, authors, one tag, kinds), else everything.
 * Returns 0 with an empty plan when f can match nothing. */
static int nostr__store_plan_make(nostr_store_builtin *st, const nostr_filter *f, nostr__store_plan *pl)
{
    unsigned char k[160];
    size_t i, j, ntag = 0, cap, nopt = 0;
    unsigned long long best = st->all.n, est;
    const nostr__store_list **cand, **tmp;
    int opt[3], indexed = 0; /* indexed: an option other than every event was chosen */
    int fa = (f->fields & NOSTR_FILTER_AUTHORS) != 0, fk = (f->fields & NOSTR_FILTER_KINDS) != 0;
    memset(pl, 0, sizeof *pl);
    pl->walk_tag = -1;
    for (i = 0; i < f->tags_count; i++) ntag += f->tags[i].count;
    pl->tag_at = (size_t *)nostr_alloc(st->al, (f->tags_count + 1) * sizeof *pl->tag_at);
    pl->tags = (const nostr__store_list **)nostr_alloc(st->al, (ntag ? ntag : 1) * sizeof *pl->tags);
    if (!pl->tag_at || !pl->tags) return NOSTR_ERR_NOMEM;
    ntag = 0;
    for (i = 0; i < f->tags_count; i++) {
        pl->tag_at[i] = ntag;
        for (j = 0; j < f->tags[i].count; j++) {
            unsigned char *key, *heap;
            size_t n;
            key = nostr__store_key_tag(st, k, sizeof k, f->tags[i].name, f->tags[i].values[j].ptr,
                                       f->tags[i].values[j].len, &n, &heap);
            if (!key) return NOSTR_ERR_NOMEM;
            pl->tags[ntag++] = nostr__store_lookup(st, key, n);
            nostr_free(st->al, heap);
        }
    }
    pl->tag_at[f->tags_count] = ntag;
    /* each option's lists into tmp; the best so far is kept in cand.
     * cap stays at least 1, for the list of every event: an empty
     * authors or kinds list makes the pair count 0. */
    cap = 1;
    if (fa && fk && f->authors_count * f->kinds_count <= NOSTR__STORE_MAX_PAIRS) {
        if (f->authors_count * f->kinds_count > cap) cap = f->authors_count * f->kinds_count;
        fa = 0; /* authors x kinds lists are a subset of the authors' lists */
        opt[nopt++] = 1;
    }
    if (fa) opt[nopt++] = 2;
    if (fk) opt[nopt++] = 3;
    if (fa && f->authors_count > cap) cap = f->authors_count;
    if (fk && f->kinds_count > cap) cap = f->kinds_count;
    for (i = 0; i < f->tags_count; i++)
        if (f->tags[i].count > cap) cap = f->tags[i].count;
    cand = (const nostr__store_list **)nostr_alloc(st->al, cap * sizeof *cand);
    tmp = (const nostr__store_list **)nostr_alloc(st->al, cap * sizeof *tmp);
    if (!cand || !tmp) {
        nostr_free(st->al, (void *)cand);
        nostr_free(st->al, (void *)tmp);
        return NOSTR_ERR_NOMEM;
    }
    pl->walk = cand;
    if (st->all.n) cand[pl->nwalk++] = &st->all;
    for (i = 0; i < nopt; i++) {
        size_t n;
        est = nostr__store_option(st, f, opt[i], tmp, &n);
        if (est < best || !indexed) {
            const nostr__store_list **t = cand;
            cand = tmp;
            tmp = t;
            best = est;
            indexed = 1;
            pl->nwalk = n;
        }
    }
    for (i = 0; i < f->tags_count; i++) {
        for (est = 0, j = pl->tag_at[i]; j < pl->tag_at[i + 1]; j++) est += pl->tags[j] ? pl->tags[j]->n : 0;
        if (est < best || !indexed) best = est, indexed = 1, pl->walk_tag = (int)i;
    }
    if (pl->walk_tag >= 0) {
        pl->nwalk = 0;
        for (j = pl->tag_at[pl->walk_tag]; j < pl->tag_at[pl->walk_tag + 1]; j++)
            if (pl->tags[j]) cand[pl->nwalk++] = pl->tags[j];
    }
    pl->walk = cand;
    nostr_free(st->al, (void *)tmp);
    return NOSTR_OK;
}

/* The slots matching f, in output order, at most limit of them. */
static int nostr__store_run_filter(nostr_store_builtin *st, const nostr_filter *f, long long now,
                                   unsigned long long limit, nostr__store_vec *out)
{
    nostr__store_plan pl;
    int rc;
    size_t i;
    if (!limit) return NOSTR_OK;
    if (f->fields & NOSTR_FILTER_IDS) {
        nostr__store_vec v;
        memset(&v, 0, sizeof v);
        rc = nostr__store_plan_make(st, f, &pl); /* for the tag checks */
        pl.walk_tag = -1;
        if (rc == NOSTR_OK)
            for (i = 0; i < f->ids_count; i++) {
                uint32_t s = nostr__store_id_find(st, f->ids[i]);
                if (s == NOSTR__STORE_NONE || !nostr__store_match(st, f, &pl, s, now)) continue;
                if ((rc = nostr__store_vec_push(st, &v, s)) != NOSTR_OK) break;
            }
        nostr__store_plan_free(st, &pl);
        if (rc == NOSTR_OK) rc = nostr__store_sort(st, &v);
        if (rc == NOSTR_OK && v.n > limit) v.n = (size_t)limit;
        for (i = 0; rc == NOSTR_OK && i < v.n; i++) rc = nostr__store_vec_push(st, out, v.v[i]);
        nostr_free(st->al, v.v);
        return rc;
    }
    rc = nostr__store_plan_make(st, f, &pl);
    if (rc == NOSTR_OK) rc = nostr__store_walk(st, f, &pl, now, limit, out);
    nostr__store_plan_free(st, &pl);
    return rc;
}

/* Every filter's matches merged into one list in output order, each
 * slot once. */
static int nostr__store_collect(nostr_store_builtin *st, const nostr_filter *fs, size_t n, long long now, int use_limit,
                                nostr__store_vec *out)
{
    size_t i;
    int rc = NOSTR_OK;
    for (i = 0; i < n && rc == NOSTR_OK; i++) {
        unsigned long long limit = (use_limit && (fs[i].fields & NOSTR_FILTER_LIMIT)) ? fs[i].limit : ~0ULL;
        rc = nostr__store_run_filter(st, &fs[i], now, limit, out);
    }
    if (rc == NOSTR_OK && n > 1) rc = nostr__store_sort(st, out);
    return rc;
}

/* ---- the interface ---- */

static int nostr__store_put(void *self, const nostr_event *ev, const char *json, size_t len, nostr_store_put_fn done,
                            void *user)
{
    nostr_store_builtin *st = (nostr_store_builtin *)self;
    uint32_t s;
    int rc;
    if (!st || !ev || !json || !done) return NOSTR_ERR_ARG;
    if (st->failed) return NOSTR_ERR_CLOSED;
    if (len > NOSTR__STORE_MAX_RECORD) return NOSTR_ERR_TOO_LARGE;
    if (st->fd >= 0 && st->nwaiters == st->cap_waiters) {
        size_t cap = st->cap_waiters ? st->cap_waiters * 2 : 64;
        nostr__store_waiter *w = (nostr__store_waiter *)nostr_realloc(st->al, st->waiters, cap * sizeof *w);
        if (!w) return NOSTR_ERR_NOMEM;
        st->waiters = w;
        st->cap_waiters = cap;
    }
    if (st->fd >= 0 && nostr_buf_reserve(&st->pending, NOSTR__STORE_HDR + len) != NOSTR_OK) return NOSTR_ERR_NOMEM;
    rc = nostr__store_apply(st, ev, json, len, &s);
    if (rc < 0) return rc;
    nostr__store_maybe_vacuum(st);
    if (rc != NOSTR_STORE_SAVED || st->fd < 0) {
        done(user, rc, NULL);
        return NOSTR_OK;
    }
    nostr__store_append_rec(st, NOSTR__STORE_REC_EVENT, json, len); /* room reserved above */
    st->evs[s].log_len = NOSTR__STORE_HDR + (uint32_t)len;
    st->waiters[st->nwaiters].fn = done;
    st->waiters[st->nwaiters].user = user;
    st->nwaiters++;
    return NOSTR_OK;
}

static int nostr__store_query(void *self, const nostr_filter *fs, size_t n, long long now, nostr_store_row_fn row,
                              nostr_store_done_fn done, void *user)
{
    nostr_store_builtin *st = (nostr_store_builtin *)self;
    nostr__store_vec v;
    unsigned long long sent = 0;
    size_t i;
    int rc;
    if (!st || (n && !fs) || !row || !done) return NOSTR_ERR_ARG;
    memset(&v, 0, sizeof v);
    rc = nostr__store_collect(st, fs, n, now, 1, &v);
    if (rc != NOSTR_OK) {
        nostr_free(st->al, v.v);
        return rc;
    }
    /* rows may call back into the store: no slot is reused meanwhile */
    st->in_query++;
    for (i = 0; i < v.n; i++) {
        const nostr__store_ev *e = &st->evs[v.v[i]];
        if (e->dead != NOSTR__STORE_LIVE) continue;
        row(user, e->json, e->json_len);
        sent++;
    }
    st->in_query--;
    nostr_free(st->al, v.v);
    done(user, NOSTR_OK, sent);
    return NOSTR_OK;
}

static int nostr__store_count(void *self, const nostr_filter *fs, size_t n, long long now, nostr_store_done_fn done,
                              void *user)
{
    nostr_store_builtin *st = (nostr_store_builtin *)self;
    nostr__store_vec v;
    int rc;
    if (!st || (n && !fs) || !done) return NOSTR_ERR_ARG;
    memset(&v, 0, sizeof v);
    rc = nostr__store_collect(st, fs, n, now, 0, &v);
    nostr_free(st->al, v.v);
    if (rc != NOSTR_OK) return rc;
    done(user, NOSTR_OK, v.n);
    return NOSTR_OK;
}

static int nostr__store_has(void *self, const unsigned char id[32])
{
    nostr_store_builtin *st = (nostr_store_builtin *)self;
    return nostr__store_id_find(st, id) != NOSTR__STORE_NONE;
}

static int nostr__store_commit_iface(void *self)
{
    return nostr_store_builtin_commit((nostr_store_builtin *)self);
}

static long long nostr__store_purge(void *self, long long now)
{
    nostr_store_builtin *st = (nostr_store_builtin *)self;
    long long purged = 0;
    uint32_t i;
    if (!st) return NOSTR_ERR_ARG;
    for (i = 0; i < st->expiring.n; i++) {
        uint32_t s = st->expiring.v[i];
        nostr__store_ev *e = &st->evs[s];
        if (e->dead != NOSTR__STORE_LIVE || e->expiration > now) continue;
        if (st->fd >= 0 && !st->failed) {
            if (nostr__store_append_rec(st, NOSTR__STORE_REC_GONE, e->id, 32) != NOSTR_OK) return NOSTR_ERR_NOMEM;
            st->dead_bytes += NOSTR__STORE_HDR + 32;
        }
        nostr__store_kill(st, s);
        purged++;
    }
    nostr__store_maybe_vacuum(st);
    return purged;
}

static void nostr__store_free_all(nostr_store_builtin *st)
{
    size_t i;
    uint32_t s;
    for (s = 0; s < st->nevs; s++) nostr_free(st->al, st->evs[s].json);
    nostr_free(st->al, st->evs);
    nostr__store_list_free(st, &st->free_slots);
    nostr__store_list_free(st, &st->all);
    nostr__store_list_free(st, &st->expiring);
    nostr_free(st->al, st->ids);
    for (i = 0; i < st->ix.cap; i++) nostr_free(st->al, st->ix.slots[i].list.v);
    nostr_free(st->al, st->ix.slots);
    nostr_free(st->al, st->meta.slots);
    nostr_arena_free(&st->keys);
    nostr_arena_free(&st->scratch);
    nostr_free(st->al, st->scratch_mem);
    nostr_buf_free(&st->pending);
    nostr_free(st->al, st->waiters);
    nostr_buf_free(&st->batch.data);
    nostr_free(st->al, st->batch.waiters);
    if (st->fd >= 0) close(st->fd);
    if (st->dirfd >= 0) close(st->dirfd); /* releases the lock */
    nostr_free(st->al, st->dir);
    nostr_free(st->al, st->path);
    {
        nostr_allocator alc = st->alc;
        const nostr_allocator *al = st->al ? &alc : NULL;
        nostr_free(al, st);
    }
}

/* The interface's destroy: make written puts durable, call nothing. */
static void nostr__store_destroy(void *self)
{
    nostr_store_builtin *st = (nostr_store_builtin *)self;
    if (!st) return;
    (void)nostr__store_flush(st);
    nostr__store_free_all(st);
}

NOSTRDEF void nostr_store_builtin_close(nostr_store_builtin *s)
{
    if (!s) return;
    (void)nostr_store_builtin_commit(s);
    nostr__store_free_all(s);
}

NOSTRDEF nostr_store nostr_store_builtin_iface(nostr_store_builtin *s)
{
    nostr_store it;
    memset(&it, 0, sizeof it);
    it.self = s;
    it.put = nostr__store_put;
    it.query = nostr__store_query;
    it.count = nostr__store_count;
    it.has = nostr__store_has;
    it.commit = nostr__store_commit_iface;
    it.purge = nostr__store_purge;
    it.destroy = nostr__store_destroy;
    it.visible_at_put = 1;
    return it;
}

static char *nostr__store_strcat(nostr_store_builtin *st, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = (char *)nostr_alloc(st->al, la + lb + 1);
    if (!p) return NULL;
    memcpy(p, a, la);
    memcpy(p + la, b, lb + 1);
    return p;
}

/* Directory, lock, log file, replay. */
static int nostr__store_open_dir(nostr_store_builtin *st, const char *dir, nostr_error *err)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        err->msg = "store: cannot create the data directory";
        return NOSTR_ERR_ARG;
    }
    st->dir = nostr__store_strcat(st, dir, "");
    st->path = nostr__store_strcat(st, dir, "/events.log");
    if (!st->dir || !st->path) return NOSTR_ERR_NOMEM;
    st->dirfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (st->dirfd < 0) {
        err->msg = "store: cannot open the data directory";
        return NOSTR_ERR_ARG;
    }
    if (flock(st->dirfd, LOCK_EX | LOCK_NB) != 0) {
        err->msg = "store: the data directory is locked by another store (another process?)";
        return NOSTR_ERR_ARG;
    }
    st->fd = open(st->path, O_RDWR | O_CREAT, 0644);
    if (st->fd < 0) {
        err->msg = "store: cannot open events.log";
        return NOSTR_ERR_ARG;
    }
    return nostr__store_replay(st, err);
}

NOSTRDEF int nostr_store_builtin_open(nostr_store_builtin **out, const nostr_store_builtin_config *cfg,
                                      nostr_error *err)
{
    nostr_store_builtin *st;
    nostr_error dummy;
    int rc = NOSTR_OK;
    if (!err) err = &dummy;
    memset(err, 0, sizeof *err);
    if (!out || !cfg) {
        err->code = NOSTR_ERR_ARG;
        err->msg = "store: no config";
        return NOSTR_ERR_ARG;
    }
    *out = NULL;
    st = (nostr_store_builtin *)nostr_alloc(cfg->al, sizeof *st);
    if (!st) {
        err->code = NOSTR_ERR_NOMEM;
        err->msg = "store: out of memory";
        return NOSTR_ERR_NOMEM;
    }
    memset(st, 0, sizeof *st);
    if (cfg->al) {
        st->alc = *cfg->al;
        st->al = &st->alc;
    }
    st->log = cfg->log;
    st->log_user = cfg->log_user;
    st->no_fsync = cfg->no_fsync;
    st->fd = st->dirfd = -1;
    /* hash seed: the address differs per run under ASLR, so colliding
     * keys cannot be prepared offline */
    st->seed = nostr__store_mix((uint64_t)(size_t)st ^ 0x6a09e667f3bcc908ULL);
    nostr_arena_init(&st->keys, NULL, 0, st->al);
    nostr_buf_init(&st->pending, st->al);
    nostr_buf_init(&st->batch.data, st->al);
    st->scratch_mem = nostr_alloc(st->al, 65536);
    if (!st->scratch_mem) rc = NOSTR_ERR_NOMEM;
    nostr_arena_init(&st->scratch, st->scratch_mem, st->scratch_mem ? 65536 : 0, st->al);
    if (rc == NOSTR_OK && cfg->dir) rc = nostr__store_open_dir(st, cfg->dir, err);
    if (rc != NOSTR_OK) {
        err->code = rc;
        if (!err->msg) err->msg = rc == NOSTR_ERR_NOMEM ? "store: out of memory" : "store: cannot open";
        NOSTR__STORE_LOGF(st, NOSTR_LOG_ERROR, "%s (%s)", err->msg, cfg->dir ? cfg->dir : "memory");
        nostr__store_free_all(st);
        return rc;
    }
    *out = st;
    return NOSTR_OK;
}

NOSTRDEF int nostr_store_builtin_compact(nostr_store_builtin *s)
{
    char *tmp;
    int fd, rc = NOSTR_OK;
    uint32_t i;
    unsigned long long size;
    nostr_buf out;
    if (!s) return NOSTR_ERR_ARG;
    if (s->batch_out) return NOSTR_ERR_BUSY;
    if (nostr_store_builtin_commit(s) != NOSTR_OK) return NOSTR_ERR_CLOSED;
    if (s->fd < 0) return NOSTR_OK;
    tmp = nostr__store_strcat(s, s->path, ".tmp");
    if (!tmp) return NOSTR_ERR_NOMEM;
    fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        nostr_free(s->al, tmp);
        return NOSTR_ERR_CLOSED;
    }
    /* write through the pending buffer in 1 MiB batches, oldest first */
    out = s->pending;
    nostr_buf_init(&s->pending, s->al);
    rc = nostr__store_append_rec(s, NOSTR__STORE_REC_HEADER, NOSTR__STORE_MAGIC, sizeof NOSTR__STORE_MAGIC - 1);
    size = 0;
    for (i = 0; i < s->all.n && rc == NOSTR_OK; i++) {
        const nostr__store_ev *e = &s->evs[s->all.v[i]];
        if (e->dead != NOSTR__STORE_LIVE) continue;
        rc = nostr__store_append_rec(s, NOSTR__STORE_REC_EVENT, e->json, e->json_len);
        if (rc == NOSTR_OK && s->pending.len >= (1u << 20)) {
            if (nostr__store_write_all(fd, s->pending.data, s->pending.len) != 0) rc = NOSTR_ERR_CLOSED;
            size += s->pending.len;
            nostr_buf_clear(&s->pending);
        }
    }
    if (rc == NOSTR_OK && nostr__store_write_all(fd, s->pending.data, s->pending.len) != 0) rc = NOSTR_ERR_CLOSED;
    size += s->pending.len;
    nostr_buf_free(&s->pending);
    s->pending = out;
    if (rc == NOSTR_OK &&
        (nostr__store_fsync(s, fd) != 0 || rename(tmp, s->path) != 0 || nostr__store_fsync(s, s->dirfd) != 0))
        rc = NOSTR_ERR_CLOSED;
    if (rc != NOSTR_OK) {
        NOSTR__STORE_LOGF(s, NOSTR_LOG_ERROR, "store: compacting %s failed: %s", s->path, strerror(errno));
        close(fd);
        unlink(tmp);
        nostr_free(s->al, tmp);
        return rc;
    }
    nostr_free(s->al, tmp);
    close(s->fd);
    s->fd = fd;
    if (lseek(fd, 0, SEEK_END) < 0) s->failed = 1;
    for (i = 0; i < s->all.n; i++) {
        nostr__store_ev *e = &s->evs[s->all.v[i]];
        if (e->dead == NOSTR__STORE_LIVE) e->log_len = NOSTR__STORE_HDR + e->json_len;
    }
    NOSTR__STORE_LOGF(s, NOSTR_LOG_INFO, "store: compacted %s: %llu -> %llu bytes", s->path, s->log_bytes, size);
    s->log_bytes = size;
    s->dead_bytes = 0;
    return NOSTR_OK;
}

NOSTRDEF void nostr_store_builtin_stats_get(const nostr_store_builtin *s, nostr_store_builtin_stats *st)
{
    size_t i;
    unsigned long long lists = 0;
    memset(st, 0, sizeof *st);
    if (!s) return;
    for (i = 0; i < s->ix.cap; i++) lists += s->ix.slots[i].list.cap;
    st->events = s->live;
    st->log_bytes = s->log_bytes;
    st->dead_bytes = s->dead_bytes;
    st->truncated = s->truncated;
    st->memory = sizeof *s + s->json_bytes + (unsigned long long)s->cap_evs * sizeof *s->evs +
                 (unsigned long long)s->ids_cap * 4 + (lists + s->all.cap + s->expiring.cap + s->free_slots.cap) * 4 +
                 (unsigned long long)(s->ix.cap + s->meta.cap) * sizeof(nostr__store_slot) + s->key_bytes +
                 s->pending.cap;
}
