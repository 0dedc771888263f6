/* ---- subindex: definitions ----
 *
 * Layout. A subscription (nostr__subindex_sub) is one heap block: its
 * header, one record per filter, then one posting per index key its
 * filters are filed under. A posting sits in a doubly linked chain of all
 * postings with the same key; the key table (open addressing, linear
 * probing, backward-shift deletion) maps a key to the head of its chain.
 * Keys are (type, bytes): an id, a pubkey, a kind, or a tag letter and
 * value. A table slot holds only the hash and the chain head: the key
 * bytes are read from the head posting, which points into its filter, so
 * the index copies nothing. Filters filed under no key (no ids, authors,
 * usable tag or kinds) sit in one catch-all chain. A second table maps
 * owners to their subscription, for remove and the duplicate check.
 *
 * Removal unlinks the subscription's postings (O(1) each, plus a probe to
 * fix a chain head) and frees its block: O(its postings). Matching probes
 * the key table once per event field that has postings of its type and
 * runs nostr_filter_matches on each candidate; a generation counter marks
 * filters already tried and subscriptions already called. */

enum {
    NOSTR__SUBINDEX_ANY = 0, /* catch-all chain, not in the table */
    NOSTR__SUBINDEX_ID = 1,
    NOSTR__SUBINDEX_AUTHOR = 2,
    NOSTR__SUBINDEX_KIND = 3
    /* tag postings use the tag letter ('A'..'Z', 'a'..'z') as type */
};

typedef struct nostr__subindex_sub nostr__subindex_sub;

/* One filter of a subscription. */
typedef struct nostr__subindex_filt {
    const nostr_filter *f;
    unsigned long long tried; /* last generation it was run in */
} nostr__subindex_filt;

/* One (key, filter) pair, chained with the other postings of its key. */
typedef struct nostr__subindex_post {
    struct nostr__subindex_post *prev, *next;
    nostr__subindex_filt *filt;
    nostr__subindex_sub *sub;
    const unsigned char *key; /* into the filter: id, pubkey, kind, value */
    size_t klen;
    unsigned long long hash;
    unsigned char type;
} nostr__subindex_post;

struct nostr__subindex_sub {
    void *owner;
    unsigned long long called; /* last generation fn was called in */
    size_t nfilt, npost;
    nostr__subindex_filt *filt;
    nostr__subindex_post *post;
};

typedef struct nostr__subindex_slot {
    unsigned long long hash;
    nostr__subindex_post *head; /* NULL: empty slot */
} nostr__subindex_slot;

struct nostr_subindex {
    nostr_allocator al;
    unsigned long long k0, k1; /* hash key: tag values come from clients */
    unsigned long long gen;    /* match() generation */
    nostr__subindex_slot *keys;
    size_t keys_cap, keys_used; /* cap a power of two or 0 */
    nostr__subindex_sub **owners;
    size_t owners_cap, owners_used;
    nostr__subindex_post *any; /* catch-all chain */
    size_t posts_of[256];      /* postings per type: skip absent types */
};

#define NOSTR__SUBINDEX_MIN_CAP 16

/* ---- hashing ---- */

static unsigned long long nostr__subindex_le64(const unsigned char *p)
{
    return (unsigned long long)p[0] | (unsigned long long)p[1] << 8 | (unsigned long long)p[2] << 16 |
           (unsigned long long)p[3] << 24 | (unsigned long long)p[4] << 32 | (unsigned long long)p[5] << 40 |
           (unsigned long long)p[6] << 48 | (unsigned long long)p[7] << 56;
}

/* The 128-bit product of a and b, its halves xored. */
static unsigned long long nostr__subindex_mum(unsigned long long a, unsigned long long b)
{
#if defined(__SIZEOF_INT128__)
    __extension__ typedef unsigned __int128 u128;
    u128 r = (u128)a * b;
    return (unsigned long long)r ^ (unsigned long long)(r >> 64);
#else
    unsigned long long al = a & 0xffffffffULL, ah = a >> 32, bl = b & 0xffffffffULL, bh = b >> 32;
    unsigned long long ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
    unsigned long long mid = (ll >> 32) + (lh & 0xffffffffULL) + (hl & 0xffffffffULL);
    unsigned long long lo = (ll & 0xffffffffULL) | mid << 32;
    unsigned long long hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
    return lo ^ hi;
#endif
}

/* Hash of (type, key) under the index's secret key k0, k1: wyhash's
 * construction (multiply-fold of 16-byte blocks xored with the secret), as
 * Go's runtime maps use with a random seed. Keyed because tag values and
 * filter ids are chosen by clients: with a fixed hash one could send keys
 * that all land in one probe run. Chosen over SipHash-1-3 for speed: an
 * event may carry thousands of tags, each one probe (bench_subindex, own
 * author at 10 subscriptions: 19 against 27 ns per event). The secret is
 * only as good as the address randomisation it comes from (see new). */
static unsigned long long nostr__subindex_hash(const nostr_subindex *ix, unsigned type, const unsigned char *p,
                                               size_t n)
{
    const unsigned long long s0 = 0xa0761d6478bd642fULL, s1 = 0xe7037ed1a0b428dbULL;
    unsigned long long seed = ix->k0 ^ nostr__subindex_mum(type ^ s0, ix->k1), a = 0, b = 0;
    size_t i = 0, left;
    for (; n - i > 16; i += 16)
        seed = nostr__subindex_mum(nostr__subindex_le64(p + i) ^ ix->k1, nostr__subindex_le64(p + i + 8) ^ seed);
    left = n - i;
    if (left >= 8) {
        a = nostr__subindex_le64(p + i);
        b = nostr__subindex_le64(p + n - 8);
    } else if (left >= 4) {
        a = (unsigned long long)p[i] | (unsigned long long)p[i + 1] << 8 | (unsigned long long)p[i + 2] << 16 |
            (unsigned long long)p[i + 3] << 24;
        b = (unsigned long long)p[n - 4] | (unsigned long long)p[n - 3] << 8 | (unsigned long long)p[n - 2] << 16 |
            (unsigned long long)p[n - 1] << 24;
    } else if (left > 0) {
        a = (unsigned long long)p[i] << 16 | (unsigned long long)p[i + left / 2] << 8 | p[n - 1];
    }
    return nostr__subindex_mum(s1 ^ (unsigned long long)n, nostr__subindex_mum(a ^ ix->k1, b ^ seed));
}

static unsigned long long nostr__subindex_mix(unsigned long long x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static size_t nostr__subindex_owner_hash(const void *owner)
{
    return (size_t)nostr__subindex_mix((unsigned long long)(uintptr_t)owner);
}

/* ---- the key table ---- */

static int nostr__subindex_same(const nostr__subindex_post *p, unsigned type, const unsigned char *key, size_t klen)
{
    return p->type == type && p->klen == klen && memcmp(p->key, key, klen) == 0;
}

/* Slot holding the chain for (type, key), or NULL. */
static nostr__subindex_slot *nostr__subindex_find(const nostr_subindex *ix, unsigned long long h, unsigned type,
                                                  const unsigned char *key, size_t klen)
{
    size_t mask = ix->keys_cap - 1, i;
    if (!ix->keys_cap) return NULL;
    for (i = (size_t)h & mask;; i = (i + 1) & mask) {
        nostr__subindex_slot *s = &ix->keys[i];
        if (!s->head) return NULL;
        if (s->hash == h && nostr__subindex_same(s->head, type, key, klen)) return s;
    }
}

/* Rehash into cap slots (a power of two above the number used). */
static int nostr__subindex_keys_resize(nostr_subindex *ix, size_t cap)
{
    nostr__subindex_slot *t = (nostr__subindex_slot *)nostr_alloc(&ix->al, cap * sizeof *t);
    size_t i, j;
    if (!t) return NOSTR_ERR_NOMEM;
    memset(t, 0, cap * sizeof *t);
    for (i = 0; i < ix->keys_cap; i++) {
        if (!ix->keys[i].head) continue;
        for (j = (size_t)ix->keys[i].hash & (cap - 1); t[j].head; j = (j + 1) & (cap - 1)) {
        }
        t[j] = ix->keys[i];
    }
    nostr_free(&ix->al, ix->keys);
    ix->keys = t;
    ix->keys_cap = cap;
    return NOSTR_OK;
}

/* Room for more new keys at load at most 1/2: event lookups mostly miss,
 * and a miss under linear probing is cheap only at low load. */
static int nostr__subindex_keys_reserve(nostr_subindex *ix, size_t more)
{
    size_t want = ix->keys_used + more, cap = ix->keys_cap ? ix->keys_cap : NOSTR__SUBINDEX_MIN_CAP;
    if (want < more) return NOSTR_ERR_NOMEM;
    while (cap / 2 < want) {
        if (cap > ((size_t)-1) / 2 / sizeof(nostr__subindex_slot)) return NOSTR_ERR_NOMEM;
        cap *= 2;
    }
    return cap == ix->keys_cap ? NOSTR_OK : nostr__subindex_keys_resize(ix, cap);
}

/* Empty slot i, shifting later members of its probe run back so lookups
 * never need tombstones. */
static void nostr__subindex_keys_delete(nostr_subindex *ix, size_t i)
{
    size_t mask = ix->keys_cap - 1, j = i, k;
    for (;;) {
        j = (j + 1) & mask;
        if (!ix->keys[j].head) break;
        k = (size_t)ix->keys[j].hash & mask;
        /* j may move to i unless its home lies cyclically in (i, j] */
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j)) continue;
        ix->keys[i] = ix->keys[j];
        i = j;
    }
    ix->keys[i].head = NULL;
    ix->keys[i].hash = 0;
    ix->keys_used--;
}

/* Chain p in front of its key's chain (room was reserved). */
static void nostr__subindex_link(nostr_subindex *ix, nostr__subindex_post *p)
{
    nostr__subindex_post **head = &ix->any;
    ix->posts_of[p->type]++;
    if (p->type != NOSTR__SUBINDEX_ANY) {
        size_t mask = ix->keys_cap - 1, i;
        p->hash = nostr__subindex_hash(ix, p->type, p->key, p->klen);
        for (i = (size_t)p->hash & mask; ix->keys[i].head; i = (i + 1) & mask)
            if (ix->keys[i].hash == p->hash && nostr__subindex_same(ix->keys[i].head, p->type, p->key, p->klen)) break;
        if (!ix->keys[i].head) {
            ix->keys[i].hash = p->hash;
            ix->keys_used++;
        }
        head = &ix->keys[i].head;
    }
    p->prev = NULL;
    p->next = *head;
    if (*head) (*head)->prev = p;
    *head = p;
}

static void nostr__subindex_unlink(nostr_subindex *ix, nostr__subindex_post *p)
{
    ix->posts_of[p->type]--;
    if (p->next) p->next->prev = p->prev;
    if (p->prev) {
        p->prev->next = p->next;
        return;
    }
    if (p->type == NOSTR__SUBINDEX_ANY) {
        ix->any = p->next;
        return;
    }
    {
        /* p heads its chain: the slot is found by p's own key, which
         * still reads correctly while p is the head */
        nostr__subindex_slot *s = nostr__subindex_find(ix, p->hash, p->type, p->key, p->klen);
        if (!s) return; /* cannot happen: p is linked */
        if (p->next)
            s->head = p->next;
        else
            nostr__subindex_keys_delete(ix, (size_t)(s - ix->keys));
    }
}

/* ---- the owner table ---- */

static size_t nostr__subindex_owner_at(const nostr_subindex *ix, const void *owner)
{
    size_t mask = ix->owners_cap - 1, i;
    for (i = nostr__subindex_owner_hash(owner) & mask; ix->owners[i]; i = (i + 1) & mask)
        if (ix->owners[i]->owner == owner) break;
    return i;
}

static int nostr__subindex_owners_resize(nostr_subindex *ix, size_t cap)
{
    nostr__subindex_sub **t = (nostr__subindex_sub **)nostr_alloc(&ix->al, cap * sizeof *t);
    size_t i, j;
    if (!t) return NOSTR_ERR_NOMEM;
    memset(t, 0, cap * sizeof *t);
    for (i = 0; i < ix->owners_cap; i++) {
        if (!ix->owners[i]) continue;
        for (j = nostr__subindex_owner_hash(ix->owners[i]->owner) & (cap - 1); t[j]; j = (j + 1) & (cap - 1)) {
        }
        t[j] = ix->owners[i];
    }
    nostr_free(&ix->al, ix->owners);
    ix->owners = t;
    ix->owners_cap = cap;
    return NOSTR_OK;
}

static void nostr__subindex_owners_delete(nostr_subindex *ix, size_t i)
{
    size_t mask = ix->owners_cap - 1, j = i, k;
    for (;;) {
        j = (j + 1) & mask;
        if (!ix->owners[j]) break;
        k = nostr__subindex_owner_hash(ix->owners[j]->owner) & mask;
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j)) continue;
        ix->owners[i] = ix->owners[j];
        i = j;
    }
    ix->owners[i] = NULL;
    ix->owners_used--;
}

/* ---- filing a filter ---- */

static int nostr__subindex_is_letter(unsigned c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The tag filter to file f under, or -1: the letter-named one with the
 * fewest values (fewest postings; any of them narrows as well). */
static long nostr__subindex_pick_tag(const nostr_filter *f)
{
    long best = -1;
    size_t i;
    for (i = 0; i < f->tags_count; i++)
        if (nostr__subindex_is_letter((unsigned char)f->tags[i].name) &&
            (best < 0 || f->tags[i].count < f->tags[(size_t)best].count))
            best = (long)i;
    return best;
}

/* How many postings f needs (0 when it can match nothing). */
static size_t nostr__subindex_posts_for(const nostr_filter *f)
{
    long t;
    if (!nostr_filter_can_match(f)) return 0;
    if (f->fields & NOSTR_FILTER_IDS) return f->ids_count;
    if (f->fields & NOSTR_FILTER_AUTHORS) return f->authors_count;
    t = nostr__subindex_pick_tag(f);
    if (t >= 0) return f->tags[t].count;
    if (f->fields & NOSTR_FILTER_KINDS) return f->kinds_count;
    return 1;
}

/* Fill f's postings (as many as nostr__subindex_posts_for said). */
static void nostr__subindex_fill(nostr__subindex_sub *s, nostr__subindex_filt *rec, nostr__subindex_post *p)
{
    const nostr_filter *f = rec->f;
    size_t i, n = nostr__subindex_posts_for(f);
    long t = -1;
    if (!(f->fields & (NOSTR_FILTER_IDS | NOSTR_FILTER_AUTHORS))) t = nostr__subindex_pick_tag(f);
    for (i = 0; i < n; i++) {
        p[i].filt = rec;
        p[i].sub = s;
        p[i].hash = 0;
        if (f->fields & NOSTR_FILTER_IDS) {
            p[i].type = NOSTR__SUBINDEX_ID;
            p[i].key = f->ids[i];
            p[i].klen = 32;
        } else if (f->fields & NOSTR_FILTER_AUTHORS) {
            p[i].type = NOSTR__SUBINDEX_AUTHOR;
            p[i].key = f->authors[i];
            p[i].klen = 32;
        } else if (t >= 0) {
            p[i].type = (unsigned char)f->tags[t].name;
            p[i].key = (const unsigned char *)f->tags[t].values[i].ptr;
            p[i].klen = f->tags[t].values[i].len;
        } else if (f->fields & NOSTR_FILTER_KINDS) {
            p[i].type = NOSTR__SUBINDEX_KIND;
            p[i].key = (const unsigned char *)&f->kinds[i];
            p[i].klen = sizeof(unsigned);
        } else {
            p[i].type = NOSTR__SUBINDEX_ANY;
            p[i].key = NULL;
            p[i].klen = 0;
        }
    }
}

/* ---- public API ---- */

NOSTRDEF nostr_subindex *nostr_subindex_new(const nostr_allocator *al)
{
    nostr_allocator a;
    nostr_subindex *ix;
    int local = 0;
    if (al)
        a = *al;
    else
        memset(&a, 0, sizeof a);
    ix = (nostr_subindex *)nostr_alloc(&a, sizeof *ix);
    if (!ix) return NULL;
    memset(ix, 0, sizeof *ix);
    ix->al = a;
    /* The hash key from what address randomisation gives (heap and stack
     * addresses): no clock or RNG here, and no global state. */
    ix->k0 = nostr__subindex_mix((unsigned long long)(uintptr_t)ix ^ 0x2545f4914f6cdd1dULL);
    ix->k1 = nostr__subindex_mix((unsigned long long)(uintptr_t)&local ^ ix->k0);
    (void)local;
    return ix;
}

NOSTRDEF void nostr_subindex_free(nostr_subindex *ix)
{
    size_t i;
    if (!ix) return;
    for (i = 0; i < ix->owners_cap; i++) nostr_free(&ix->al, ix->owners[i]);
    nostr_free(&ix->al, ix->owners);
    nostr_free(&ix->al, ix->keys);
    nostr_free(&ix->al, ix);
}

/* Bytes for the header, n filter records and m postings, each part
 * aligned for the next; 0 on overflow. */
static size_t nostr__subindex_block_size(size_t n, size_t m, size_t *filt_off, size_t *post_off)
{
    size_t a = 16, off = (sizeof(nostr__subindex_sub) + a - 1) / a * a;
    *filt_off = off;
    if (n > ((size_t)-1 - off) / sizeof(nostr__subindex_filt)) return 0;
    off = (off + n * sizeof(nostr__subindex_filt) + a - 1) / a * a;
    *post_off = off;
    if (m > ((size_t)-1 - off) / sizeof(nostr__subindex_post)) return 0;
    return off + m * sizeof(nostr__subindex_post);
}

NOSTRDEF int nostr_subindex_add(nostr_subindex *ix, void *owner, const nostr_filter *filters, size_t n)
{
    nostr__subindex_sub *s;
    size_t i, m = 0, filt_off, post_off, size, at;
    if (!ix || !filters || !n) return NOSTR_ERR_ARG;
    if (ix->owners_cap && ix->owners[nostr__subindex_owner_at(ix, owner)]) return NOSTR_ERR_ARG;
    for (i = 0; i < n; i++) {
        size_t k = nostr__subindex_posts_for(&filters[i]);
        if (m + k < m) return NOSTR_ERR_NOMEM;
        m += k;
    }
    size = nostr__subindex_block_size(n, m, &filt_off, &post_off);
    if (!size) return NOSTR_ERR_NOMEM;
    /* Reserve table room first, so that once the block exists nothing can
     * fail halfway through linking it. */
    if ((ix->owners_used + 1) * 2 > ix->owners_cap) {
        size_t cap = ix->owners_cap ? ix->owners_cap * 2 : NOSTR__SUBINDEX_MIN_CAP;
        if (nostr__subindex_owners_resize(ix, cap)) return NOSTR_ERR_NOMEM;
    }
    if (nostr__subindex_keys_reserve(ix, m)) return NOSTR_ERR_NOMEM;
    s = (nostr__subindex_sub *)nostr_alloc(&ix->al, size);
    if (!s) return NOSTR_ERR_NOMEM;
    s->owner = owner;
    s->called = 0;
    s->nfilt = n;
    s->npost = m;
    s->filt = (nostr__subindex_filt *)((unsigned char *)s + filt_off);
    s->post = (nostr__subindex_post *)((unsigned char *)s + post_off);
    for (i = 0, m = 0; i < n; i++) {
        s->filt[i].f = &filters[i];
        s->filt[i].tried = 0;
        nostr__subindex_fill(s, &s->filt[i], s->post + m);
        m += nostr__subindex_posts_for(&filters[i]);
    }
    for (i = 0; i < m; i++) nostr__subindex_link(ix, &s->post[i]);
    at = nostr__subindex_owner_at(ix, owner);
    ix->owners[at] = s;
    ix->owners_used++;
    return NOSTR_OK;
}

NOSTRDEF void nostr_subindex_remove(nostr_subindex *ix, void *owner)
{
    nostr__subindex_sub *s;
    size_t i, at;
    if (!ix || !ix->owners_cap) return;
    at = nostr__subindex_owner_at(ix, owner);
    s = ix->owners[at];
    if (!s) return;
    for (i = 0; i < s->npost; i++) nostr__subindex_unlink(ix, &s->post[i]);
    nostr__subindex_owners_delete(ix, at);
    nostr_free(&ix->al, s);
    /* Give memory back after a burst: shrink at 1/8 load (1/4 after). A
     * failed shrink leaves the larger table, which is still correct. */
    if (ix->keys_cap > NOSTR__SUBINDEX_MIN_CAP && ix->keys_used * 8 < ix->keys_cap)
        (void)nostr__subindex_keys_resize(ix, ix->keys_cap / 2);
    if (ix->owners_cap > NOSTR__SUBINDEX_MIN_CAP && ix->owners_used * 8 < ix->owners_cap)
        (void)nostr__subindex_owners_resize(ix, ix->owners_cap / 2);
}

/* State of one match() call. */
typedef struct nostr__subindex_run {
    const nostr_event *ev;
    void (*fn)(void *user, void *owner);
    void *user;
    unsigned long long gen;
    size_t called;
} nostr__subindex_run;

/* Try every filter on one chain. */
static void nostr__subindex_try(nostr__subindex_run *r, const nostr__subindex_post *p)
{
    for (; p; p = p->next) {
        nostr__subindex_sub *s = p->sub;
        const nostr_filter *f = p->filt->f;
        if (s->called == r->gen || p->filt->tried == r->gen) continue;
        p->filt->tried = r->gen;
        if (!nostr_filter_matches(f, r->ev)) continue;
        if ((f->fields & NOSTR_FILTER_SEARCH) &&
            !nostr_search_match(f->search.ptr, f->search.len, r->ev->content.ptr, r->ev->content.len))
            continue;
        s->called = r->gen;
        r->called++;
        r->fn(r->user, s->owner);
    }
}

static void nostr__subindex_probe(const nostr_subindex *ix, nostr__subindex_run *r, unsigned type,
                                  const unsigned char *key, size_t klen)
{
    const nostr__subindex_slot *s;
    if (!ix->posts_of[type]) return;
    s = nostr__subindex_find(ix, nostr__subindex_hash(ix, type, key, klen), type, key, klen);
    if (s) nostr__subindex_try(r, s->head);
}

NOSTRDEF size_t nostr_subindex_match(nostr_subindex *ix, const nostr_event *ev, void (*fn)(void *user, void *owner),
                                     void *user)
{
    nostr__subindex_run r;
    size_t i;
    if (!ix || !ev || !fn) return 0;
    r.ev = ev;
    r.fn = fn;
    r.user = user;
    r.gen = ++ix->gen;
    r.called = 0;
    nostr__subindex_probe(ix, &r, NOSTR__SUBINDEX_ID, ev->id, 32);
    nostr__subindex_probe(ix, &r, NOSTR__SUBINDEX_AUTHOR, ev->pubkey, 32);
    for (i = 0; i < ev->tag_count; i++) {
        const nostr_tag *t = &ev->tags[i];
        unsigned c;
        if (t->count < 2 || t->items[0].len != 1) continue;
        c = (unsigned char)t->items[0].ptr[0];
        if (nostr__subindex_is_letter(c))
            nostr__subindex_probe(ix, &r, c, (const unsigned char *)t->items[1].ptr, t->items[1].len);
    }
    nostr__subindex_probe(ix, &r, NOSTR__SUBINDEX_KIND, (const unsigned char *)&ev->kind, sizeof(unsigned));
    nostr__subindex_try(&r, ix->any);
    return r.called;
}

NOSTRDEF size_t nostr_subindex_count(const nostr_subindex *ix)
{
    return ix ? ix->owners_used : 0;
}

/* ---- NIP-50 word match ---- */

/* Space, \t..\r and NUL separate words (as the pgwire store splits them). */
static int nostr__subindex_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || c == 0;
}

static char nostr__subindex_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Does w (n bytes, non-empty) occur in content, ASCII case-insensitive? */
static int nostr__subindex_has_word(const char *w, size_t n, const char *c, size_t clen)
{
    char first = nostr__subindex_lower(w[0]);
    size_t i, j;
    if (n > clen) return 0;
    for (i = 0; i + n <= clen; i++) {
        if (nostr__subindex_lower(c[i]) != first) continue;
        for (j = 1; j < n && nostr__subindex_lower(c[i + j]) == nostr__subindex_lower(w[j]); j++) {
        }
        if (j == n) return 1;
    }
    return 0;
}

static int nostr__subindex_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

NOSTRDEF int nostr_search_next_word(const char *t, size_t n, size_t *i, size_t *start, size_t *len)
{
    size_t a;
    while (*i < n) {
        while (*i < n && !nostr__subindex_word_byte((unsigned char)t[*i])) (*i)++;
        a = *i;
        while (*i < n && nostr__subindex_word_byte((unsigned char)t[*i])) (*i)++;
        if (*i - a < NOSTR_SEARCH_WORD_MIN) continue;
        *start = a;
        *len = *i - a;
        if (*len > NOSTR_SEARCH_WORD_MAX) {
            *len = NOSTR_SEARCH_WORD_MAX;
            while (*len > NOSTR_SEARCH_WORD_MIN && ((unsigned char)t[a + *len] & 0xc0) == 0x80) (*len)--;
        }
        return 1;
    }
    return 0;
}

/* Is w (n bytes) one of content's words (ASCII case-insensitive)? */
static int nostr__subindex_has_whole_word(const char *w, size_t n, const char *c, size_t clen)
{
    size_t i = 0, a, l, k;
    while (nostr_search_next_word(c, clen, &i, &a, &l)) {
        if (l != n) continue;
        for (k = 0; k < n && nostr__subindex_lower(c[a + k]) == nostr__subindex_lower(w[k]); k++) {
        }
        if (k == n) return 1;
    }
    return 0;
}

/* One search term: each of its words a whole word of the content; a term
 * that is not exactly one whole word (punctuation, a cut word, no word of
 * 2 bytes) must also occur as written. */
static int nostr__subindex_term(const char *t, size_t n, const char *c, size_t clen)
{
    size_t i = 0, a, l;
    int words = 0, exact = 0;
    while (nostr_search_next_word(t, n, &i, &a, &l)) {
        if (!nostr__subindex_has_whole_word(t + a, l, c, clen)) return 0;
        words++;
        exact = a == 0 && l == n;
    }
    return (words == 1 && exact) || nostr__subindex_has_word(t, n, c, clen);
}

NOSTRDEF int nostr_search_match(const char *query, size_t qlen, const char *content, size_t clen)
{
    size_t i = 0, j;
    while (i < qlen) {
        while (i < qlen && nostr__subindex_space(query[i])) i++;
        if (i >= qlen) break;
        for (j = i; j < qlen && !nostr__subindex_space(query[j]); j++) {
        }
        if (!nostr__subindex_term(query + i, j - i, content, clen)) return 0;
        i = j;
    }
    return 1;
}
