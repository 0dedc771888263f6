/* The subscription index: NIP-50 word match, edge cases (empty lists,
 * since/until, search, one call per owner), and a randomized differential
 * test against a loop over every subscription, with add/remove churn, on
 * generated events and the real corpus (tests/data/events-real.jsonl).
 * A counting allocator checks match() never allocates, every block is
 * freed, and a failed allocation leaves the index as it was. */
#include "test.h"
#include "nostr_relay.h"

/* ---- allocator: counts, and fails the n-th allocation when armed ---- */

typedef struct talloc {
    long allocs, frees;
    long attempts;
    long fail_at; /* fail this attempt (1-based; 0: never) */
} talloc;

static void *ta_alloc(void *user, size_t n)
{
    talloc *t = (talloc *)user;
    if (++t->attempts == t->fail_at) return NULL;
    t->allocs++;
    return malloc(n);
}

static void *ta_realloc(void *user, void *p, size_t n)
{
    talloc *t = (talloc *)user;
    if (!p) return ta_alloc(user, n);
    if (++t->attempts == t->fail_at) return NULL;
    return realloc(p, n);
}

static void ta_free(void *user, void *p)
{
    talloc *t = (talloc *)user;
    if (p) t->frees++;
    free(p);
}

static nostr_allocator ta_make(talloc *t)
{
    nostr_allocator a;
    a.alloc = ta_alloc;
    a.realloc = ta_realloc;
    a.free = ta_free;
    a.user = t;
    return a;
}

/* ---- random ---- */

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;

static unsigned long long rnd(void)
{
    unsigned long long x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static size_t rndn(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

/* ---- the universe: values events and filters draw from ---- */

#define MAX_POOL 4096
typedef struct tagval {
    char name;
    const char *v;
    size_t len;
} tagval;

static unsigned char pool_ids[MAX_POOL][32], pool_authors[MAX_POOL][32];
static size_t n_ids, n_authors;
static unsigned pool_kinds[MAX_POOL];
static size_t n_kinds;
static tagval pool_tags[MAX_POOL];
static size_t n_tags;
static long long t_min = 1600000000LL, t_max = 1750000000LL;

static const char *words[] = {"alpha", "Beta", "GAMMA", "delta", "nostr", "zap", "bitcoin", "gm", "the", "a"};
#define N_WORDS (sizeof words / sizeof words[0])
static const char *gen_values[] = {"v0", "v1", "v2", "v3", "bitcoin", "nostr", "", "x"};
#define N_GEN_VALUES (sizeof gen_values / sizeof gen_values[0])
static const char gen_letters[] = "eptdaEP";

static void pool_add_id(const unsigned char *id)
{
    if (n_ids < MAX_POOL) memcpy(pool_ids[n_ids++], id, 32);
}

static void pool_add_author(const unsigned char *pk)
{
    size_t i;
    for (i = 0; i < n_authors; i++)
        if (!memcmp(pool_authors[i], pk, 32)) return;
    if (n_authors < MAX_POOL) memcpy(pool_authors[n_authors++], pk, 32);
}

static void pool_add_kind(unsigned k)
{
    size_t i;
    for (i = 0; i < n_kinds; i++)
        if (pool_kinds[i] == k) return;
    if (n_kinds < MAX_POOL) pool_kinds[n_kinds++] = k;
}

static void pool_add_tag(char name, const char *v, size_t len)
{
    if (n_tags < MAX_POOL) {
        pool_tags[n_tags].name = name;
        pool_tags[n_tags].v = v;
        pool_tags[n_tags].len = len;
        n_tags++;
    }
}

/* ---- events ---- */

#define MAX_EVENTS 5000
static nostr_event events[MAX_EVENTS];
static size_t n_events;
static nostr_arena ev_arena;
static char *corpus;

static int is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void load_real(void)
{
    size_t len, at = 0;
    corpus = test_read_file("events-real.jsonl", &len);
    CHECK(corpus != NULL);
    if (!corpus) return;
    while (at < len && n_events < MAX_EVENTS) {
        char *nl = (char *)memchr(corpus + at, '\n', len - at);
        size_t l = nl ? (size_t)(nl - (corpus + at)) : len - at;
        nostr_event *ev = &events[n_events];
        if (l && nostr_event_parse(ev, corpus + at, l, &ev_arena, NULL, NULL) == NOSTR_OK) {
            size_t i;
            n_events++;
            /* every tenth id, so most id filters name events not in the set */
            if (n_events % 10 == 0) pool_add_id(ev->id);
            pool_add_author(ev->pubkey);
            pool_add_kind(ev->kind);
            for (i = 0; i < ev->tag_count; i++) {
                const nostr_tag *t = &ev->tags[i];
                if (t->count >= 2 && t->items[0].len == 1 && is_letter(t->items[0].ptr[0]) && rndn(8) == 0)
                    pool_add_tag(t->items[0].ptr[0], t->items[1].ptr, t->items[1].len);
            }
        }
        at += l + 1;
    }
    CHECK(n_events > 2000);
}

static void make_generated(size_t n)
{
    static const unsigned gen_kinds[] = {0, 1, 3, 5, 6, 7, 1984, 9735, 30023, 10002, 20001};
    unsigned char gid[64][32], gauth[16][32];
    size_t i, j, k;
    for (i = 0; i < 64; i++)
        for (j = 0; j < 32; j++) gid[i][j] = (unsigned char)rnd();
    for (i = 0; i < 16; i++)
        for (j = 0; j < 32; j++) gauth[i][j] = (unsigned char)rnd();
    for (i = 0; i < 64; i++) pool_add_id(gid[i]);
    for (i = 0; i < 16; i++) pool_add_author(gauth[i]);
    for (i = 0; i < sizeof gen_kinds / sizeof gen_kinds[0]; i++) pool_add_kind(gen_kinds[i]);
    for (i = 0; i < 7; i++)
        for (j = 0; j < N_GEN_VALUES; j++) pool_add_tag(gen_letters[i], gen_values[j], strlen(gen_values[j]));
    for (i = 0; i < n && n_events < MAX_EVENTS; i++) {
        nostr_event *ev = &events[n_events++];
        size_t nt = rndn(6), nw = rndn(5);
        char *content;
        memset(ev, 0, sizeof *ev);
        /* ids from the pool (so id filters hit), pubkeys from real and made */
        memcpy(ev->id, rndn(4) ? gid[rndn(64)] : pool_ids[rndn(n_ids)], 32);
        memcpy(ev->pubkey, rndn(2) ? gauth[rndn(16)] : pool_authors[rndn(n_authors)], 32);
        ev->kind = rndn(5) ? gen_kinds[rndn(sizeof gen_kinds / sizeof gen_kinds[0])] : pool_kinds[rndn(n_kinds)];
        ev->created_at = t_min + (long long)rndn((size_t)(t_max - t_min));
        ev->tags = (nostr_tag *)nostr_arena_alloc(&ev_arena, (nt + 1) * sizeof(nostr_tag));
        ev->tag_count = nt;
        for (j = 0; j < nt; j++) {
            nostr_tag *t = &ev->tags[j];
            size_t r = rndn(10);
            t->count = r == 0 ? 1 : 2 + rndn(2);
            t->items = (nostr_str *)nostr_arena_alloc(&ev_arena, t->count * sizeof(nostr_str));
            if (r == 1) { /* a multi-letter name: never indexed */
                t->items[0].ptr = "ee";
                t->items[0].len = 2;
            } else if (r == 2) { /* a non-letter single-byte name */
                t->items[0].ptr = "1";
                t->items[0].len = 1;
            } else {
                const tagval *tv = &pool_tags[rndn(n_tags)];
                char *nm = (char *)nostr_arena_alloc(&ev_arena, 2);
                nm[0] = tv->name;
                nm[1] = 0;
                t->items[0].ptr = nm;
                t->items[0].len = 1;
                if (t->count >= 2) {
                    t->items[1].ptr = tv->v;
                    t->items[1].len = tv->len;
                }
            }
            if (t->count >= 2 && (r == 1 || r == 2)) {
                t->items[1].ptr = "v1";
                t->items[1].len = 2;
            }
            for (k = 2; k < t->count; k++) {
                t->items[k].ptr = "extra";
                t->items[k].len = 5;
            }
        }
        /* sometimes repeat a tag, so one key is looked up twice */
        if (nt >= 2 && rndn(4) == 0) ev->tags[1] = ev->tags[0];
        content = (char *)nostr_arena_alloc(&ev_arena, 64);
        content[0] = 0;
        for (j = 0; j < nw; j++) {
            strcat(content, words[rndn(N_WORDS)]);
            strcat(content, j + 1 < nw ? (rndn(2) ? " " : "\n") : "");
        }
        ev->content.ptr = content;
        ev->content.len = strlen(content);
    }
}

/* ---- random filters, as JSON parsed like a REQ, or built by hand ---- */

typedef struct jbuf {
    char s[8192];
    size_t n;
} jbuf;

static void jput(jbuf *b, const char *s)
{
    size_t l = strlen(s);
    if (b->n + l < sizeof b->s) {
        memcpy(b->s + b->n, s, l + 1);
        b->n += l;
    }
}

static void jhex(jbuf *b, const unsigned char *p)
{
    static const char hx[] = "0123456789abcdef";
    char h[67];
    size_t i;
    h[0] = '"';
    for (i = 0; i < 32; i++) {
        h[1 + 2 * i] = hx[p[i] >> 4];
        h[2 + 2 * i] = hx[p[i] & 15];
    }
    h[65] = '"';
    h[66] = 0;
    jput(b, h);
}

static void jstr(jbuf *b, const char *v, size_t len)
{
    size_t i;
    char c[8];
    jput(b, "\"");
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch == '"' || ch == '\\' || ch < 0x20)
            snprintf(c, sizeof c, "\\u%04x", ch);
        else {
            c[0] = (char)ch;
            c[1] = 0;
        }
        jput(b, c);
    }
    jput(b, "\"");
}

/* A list length: mostly 1-3, sometimes 0 (matches nothing) or larger. */
static size_t list_len(void)
{
    size_t r = rndn(20);
    if (r == 0) return 0;
    if (r == 1) return 4 + rndn(12);
    return 1 + rndn(3);
}

static long long some_time(void)
{
    if (rndn(2)) return events[rndn(n_events)].created_at + (long long)rndn(3) - 1;
    return t_min + (long long)rndn((size_t)(t_max - t_min));
}

static void random_filter_json(jbuf *b)
{
    size_t i, n, comma = 0;
    b->n = 0;
    b->s[0] = 0;
    jput(b, "{");
#define SEP() (comma++ ? jput(b, ",") : (void)0)
    if (rndn(8) == 0) {
        SEP();
        jput(b, "\"ids\":[");
        for (i = 0, n = list_len(); i < n; i++) {
            if (i) jput(b, ",");
            /* an event's own id now and then, so id filters match */
            jhex(b, rndn(2) ? events[rndn(n_events)].id : pool_ids[rndn(n_ids)]);
        }
        jput(b, "]");
    }
    if (rndn(3) == 0) {
        SEP();
        jput(b, "\"authors\":[");
        for (i = 0, n = list_len(); i < n; i++) {
            if (i) jput(b, ",");
            jhex(b, pool_authors[rndn(rndn(2) ? (n_authors < 40 ? n_authors : 40) : n_authors)]);
        }
        jput(b, "]");
    }
    if (rndn(2) == 0) {
        char k[16];
        SEP();
        jput(b, "\"kinds\":[");
        for (i = 0, n = list_len(); i < n; i++) {
            if (i) jput(b, ",");
            snprintf(k, sizeof k, "%u", pool_kinds[rndn(rndn(2) ? (n_kinds < 6 ? n_kinds : 6) : n_kinds)]);
            jput(b, k);
        }
        jput(b, "]");
    }
    {
        size_t nt = rndn(5) == 0 ? 2 : rndn(2);
        char used[2] = {0, 0};
        for (i = 0; i < nt; i++) {
            const tagval *first = &pool_tags[rndn(n_tags)];
            char key[8];
            size_t j;
            if (i && first->name == used[0]) continue;
            used[i] = first->name;
            SEP();
            snprintf(key, sizeof key, "\"#%c\":[", first->name);
            jput(b, key);
            for (j = 0, n = list_len(); j < n; j++) {
                const tagval *tv = j ? &pool_tags[rndn(n_tags)] : first;
                if (j) jput(b, ",");
                jstr(b, tv->v, tv->len);
            }
            jput(b, "]");
        }
    }
    if (rndn(4) == 0) {
        char t[40];
        SEP();
        snprintf(t, sizeof t, "\"since\":%lld", some_time());
        jput(b, t);
    }
    if (rndn(4) == 0) {
        char t[40];
        SEP();
        snprintf(t, sizeof t, "\"until\":%lld", some_time());
        jput(b, t);
    }
    if (rndn(10) == 0) {
        SEP();
        jput(b, "\"search\":\"");
        for (i = 0, n = rndn(3); i < n; i++) {
            if (i) jput(b, " ");
            jput(b, words[rndn(N_WORDS)]);
        }
        jput(b, "\"");
    }
    if (rndn(10) == 0) {
        SEP();
        jput(b, "\"limit\":10");
    }
    jput(b, "}");
#undef SEP
}

/* A filter built in memory: lists unsorted, with duplicates, tag names
 * that are not letters - matched by linear scan, never SORTED. */
static void random_filter_hand(nostr_filter *f, nostr_arena *a)
{
    size_t i;
    memset(f, 0, sizeof *f);
    if (rndn(3) == 0) {
        f->fields |= NOSTR_FILTER_AUTHORS;
        f->authors_count = 1 + rndn(3);
        f->authors = (unsigned char(*)[32])nostr_arena_alloc(a, f->authors_count * 32);
        for (i = 0; i < f->authors_count; i++)
            memcpy(f->authors[i], i && rndn(2) ? f->authors[0] : pool_authors[rndn(n_authors < 30 ? n_authors : 30)],
                   32);
    }
    if (rndn(2) == 0) {
        f->fields |= NOSTR_FILTER_KINDS;
        f->kinds_count = 1 + rndn(3);
        f->kinds = (unsigned *)nostr_arena_alloc(a, f->kinds_count * sizeof(unsigned));
        for (i = 0; i < f->kinds_count; i++) f->kinds[i] = pool_kinds[rndn(n_kinds < 8 ? n_kinds : 8)];
    }
    if (rndn(2) == 0) {
        const tagval *tv = &pool_tags[rndn(n_tags)];
        f->tags_count = 1;
        f->tags = (nostr_tag_filter *)nostr_arena_alloc(a, sizeof(nostr_tag_filter));
        f->tags[0].name = rndn(4) == 0 ? '1' : tv->name;
        f->tags[0].count = 1 + rndn(2);
        f->tags[0].values = (nostr_str *)nostr_arena_alloc(a, f->tags[0].count * sizeof(nostr_str));
        for (i = 0; i < f->tags[0].count; i++) {
            const tagval *v = i ? &pool_tags[rndn(n_tags)] : tv;
            f->tags[0].values[i].ptr = v->v;
            f->tags[0].values[i].len = v->len;
        }
    }
}

/* ---- subscriptions under test ---- */

typedef struct tsub {
    nostr_filter *f;
    size_t n;
    int in;    /* in the index */
    long hits; /* callbacks this round */
} tsub;

#define MAX_SUBS 3000
static tsub subs[MAX_SUBS];
static nostr_arena f_arena;

static void sub_fill(tsub *s)
{
    size_t i;
    s->n = 1 + rndn(3);
    s->f = (nostr_filter *)nostr_arena_alloc(&f_arena, s->n * sizeof(nostr_filter));
    for (i = 0; i < s->n; i++) {
        if (rndn(10) == 0) {
            random_filter_hand(&s->f[i], &f_arena);
        } else {
            jbuf b;
            int rc;
            random_filter_json(&b);
            rc = nostr_filter_parse(&s->f[i], b.s, b.n, &f_arena, NULL, NULL);
            if (rc != NOSTR_OK) fprintf(stderr, "filter did not parse (%d): %s\n", rc, b.s);
            CHECK_EQ(rc, NOSTR_OK);
            if (rc) memset(&s->f[i], 0, sizeof s->f[i]);
        }
    }
}

static int brute(const tsub *s, const nostr_event *ev)
{
    size_t i;
    for (i = 0; i < s->n; i++) {
        const nostr_filter *f = &s->f[i];
        if (!nostr_filter_matches(f, ev)) continue;
        if ((f->fields & NOSTR_FILTER_SEARCH) &&
            !nostr_search_match(f->search.ptr, f->search.len, ev->content.ptr, ev->content.len))
            continue;
        return 1;
    }
    return 0;
}

static void on_match(void *user, void *owner)
{
    (void)user;
    ((tsub *)owner)->hits++;
}

static long total_delivered, total_checked;

/* Match ev through the index and by brute force over all subs. */
static void compare_one(nostr_subindex *ix, const nostr_event *ev, size_t nsubs, talloc *ta)
{
    size_t i, want = 0, got;
    long a0 = ta ? ta->allocs : 0;
    int ok = 1;
    for (i = 0; i < nsubs; i++) subs[i].hits = 0;
    got = nostr_subindex_match(ix, ev, on_match, NULL);
    if (ta) CHECK_EQ(ta->allocs, a0);
    for (i = 0; i < nsubs; i++) {
        int w = subs[i].in && brute(&subs[i], ev);
        want += (size_t)w;
        if (subs[i].hits != w) {
            if (ok) fprintf(stderr, "sub %zu: index called %ld times, brute force says %d\n", i, subs[i].hits, w);
            ok = 0;
        }
    }
    CHECK(ok);
    CHECK_EQ(got, want);
    total_delivered += (long)want;
    total_checked++;
}

static void test_differential(void)
{
    talloc ta = {0, 0, 0, 0};
    nostr_allocator al = ta_make(&ta);
    nostr_subindex *ix = nostr_subindex_new(&al);
    size_t i, round, nsubs = 1500, in = 0;
    CHECK(ix != NULL);
    if (!ix || !n_events) return;
    for (i = 0; i < nsubs; i++) {
        sub_fill(&subs[i]);
        CHECK_EQ(nostr_subindex_add(ix, &subs[i], subs[i].f, subs[i].n), NOSTR_OK);
        subs[i].in = 1;
        in++;
    }
    CHECK_EQ(nostr_subindex_count(ix), in);
    for (i = 0; i < n_events; i++) compare_one(ix, &events[i], nsubs, &ta);
    /* churn: remove and add a tenth of the subscriptions between batches */
    for (round = 0; round < 20; round++) {
        for (i = 0; i < nsubs / 10; i++) {
            tsub *s = &subs[rndn(nsubs)];
            if (s->in) {
                nostr_subindex_remove(ix, s);
                s->in = 0;
                in--;
                /* removing twice is a no-op */
                if (rndn(4) == 0) nostr_subindex_remove(ix, s);
            } else {
                sub_fill(s);
                CHECK_EQ(nostr_subindex_add(ix, s, s->f, s->n), NOSTR_OK);
                s->in = 1;
                in++;
            }
        }
        CHECK_EQ(nostr_subindex_count(ix), in);
        for (i = 0; i < 150; i++) compare_one(ix, &events[rndn(n_events)], nsubs, &ta);
    }
    /* empty out most of it (the tables shrink), then check again */
    for (i = 0; i < nsubs; i++)
        if (subs[i].in && rndn(20)) {
            nostr_subindex_remove(ix, &subs[i]);
            subs[i].in = 0;
            in--;
        }
    CHECK_EQ(nostr_subindex_count(ix), in);
    for (i = 0; i < 500; i++) compare_one(ix, &events[rndn(n_events)], nsubs, &ta);
    nostr_subindex_free(ix);
    CHECK_EQ(ta.allocs, ta.frees);
    for (i = 0; i < nsubs; i++) subs[i].in = 0;
    /* the test means something only if many events matched something */
    CHECK(total_delivered > (long)total_checked);
    printf("differential: %ld events checked, %ld deliveries\n", total_checked, total_delivered);
}

/* Every allocation point failing in turn: a failed add changes nothing, a
 * successful one works, nothing leaks. */
static void test_nomem(void)
{
    long fail_at;
    size_t i, j;
    int saw_fail_add = 0;
    for (i = 0; i < 60; i++) sub_fill(&subs[i]);
    /* a filter with many authors, so the key table must grow mid-run */
    {
        nostr_filter *f = (nostr_filter *)nostr_arena_alloc(&f_arena, sizeof *f);
        memset(f, 0, sizeof *f);
        f->fields = NOSTR_FILTER_AUTHORS;
        f->authors_count = n_authors < 500 ? n_authors : 500;
        f->authors = pool_authors;
        subs[60].f = f;
        subs[60].n = 1;
    }
    for (fail_at = 1; fail_at < 80; fail_at++) {
        talloc ta = {0, 0, 0, 0};
        nostr_allocator al = ta_make(&ta);
        nostr_subindex *ix;
        size_t in = 0;
        ta.fail_at = fail_at;
        ix = nostr_subindex_new(&al);
        if (!ix) {
            CHECK_EQ(fail_at, 1);
            continue;
        }
        for (i = 0; i <= 60; i++) {
            int rc = nostr_subindex_add(ix, &subs[i], subs[i].f, subs[i].n);
            CHECK(rc == NOSTR_OK || rc == NOSTR_ERR_NOMEM);
            subs[i].in = rc == NOSTR_OK;
            in += subs[i].in;
            if (rc) saw_fail_add = 1;
        }
        CHECK_EQ(nostr_subindex_count(ix), in);
        for (j = 0; j < 200; j++) compare_one(ix, &events[rndn(n_events)], 61, NULL);
        /* remove half (shrinking may fail: still correct) */
        for (i = 0; i <= 60; i += 2)
            if (subs[i].in) {
                nostr_subindex_remove(ix, &subs[i]);
                subs[i].in = 0;
            }
        for (j = 0; j < 100; j++) compare_one(ix, &events[rndn(n_events)], 61, NULL);
        nostr_subindex_free(ix);
        CHECK_EQ(ta.allocs, ta.frees);
    }
    for (i = 0; i <= 60; i++) subs[i].in = 0;
    CHECK(saw_fail_add);
}

/* ---- cases by hand ---- */

static nostr_event hand_event(const char *json, nostr_arena *a)
{
    nostr_event ev;
    int rc;
    memset(&ev, 0, sizeof ev);
    rc = nostr_event_parse(&ev, json, strlen(json), a, NULL, NULL);
    CHECK_EQ(rc, NOSTR_OK);
    return ev;
}

static int calls;
static void *last_owner;
static void count_cb(void *user, void *owner)
{
    (void)user;
    calls++;
    last_owner = owner;
}

#define EV_PK "4523be58d395b1b196a9b8c82b038b6895cb02b683d0c253a955068dba1facd0"
#define EV_ID "02478bb06b83c700728c14586106851e6d13fad081023ee6de55a9c42c348beb"
#define EV_SIG                                                                                                         \
    "0000000000000000000000000000000000000000000000000000000000000000"                                                 \
    "0000000000000000000000000000000000000000000000000000000000000000"

static const char *ev_json =
    "{\"id\":\"" EV_ID "\",\"pubkey\":\"" EV_PK
    "\",\"created_at\":1000,\"kind\":1,\"tags\":[[\"e\",\"x\"],[\"e\",\"x\"],[\"t\",\"Nostr\"],"
    "[\"p\"],[\"tt\",\"y\"]],\"content\":\"Hello, World of NOSTR\",\"sig\":\"" EV_SIG "\"}";

/* Parse filters from a JSON array into fs (up to 4). */
static size_t parse_filters(nostr_filter *fs, const char *const *json, size_t n, nostr_arena *a)
{
    size_t i;
    for (i = 0; i < n; i++) CHECK_EQ(nostr_filter_parse(&fs[i], json[i], strlen(json[i]), a, NULL, NULL), NOSTR_OK);
    return n;
}

/* How many calls one filter set gets for the hand event. */
static int calls_for(const char *const *json, size_t n)
{
    nostr_arena a;
    nostr_filter fs[4];
    nostr_event ev;
    nostr_subindex *ix = nostr_subindex_new(NULL);
    int owner, c;
    nostr_arena_init(&a, NULL, 0, NULL);
    ev = hand_event(ev_json, &a);
    parse_filters(fs, json, n, &a);
    CHECK_EQ(nostr_subindex_add(ix, &owner, fs, n), NOSTR_OK);
    calls = 0;
    last_owner = NULL;
    CHECK_EQ(nostr_subindex_match(ix, &ev, count_cb, NULL), (size_t)calls);
    c = calls;
    if (c) CHECK(last_owner == &owner);
    /* brute force agrees */
    {
        tsub s;
        s.f = fs;
        s.n = n;
        CHECK_EQ(brute(&s, &ev), c);
    }
    nostr_subindex_remove(ix, &owner);
    CHECK_EQ(nostr_subindex_count(ix), 0);
    calls = 0;
    CHECK_EQ(nostr_subindex_match(ix, &ev, count_cb, NULL), 0);
    CHECK_EQ(calls, 0);
    nostr_subindex_free(ix);
    nostr_arena_free(&a);
    return c;
}

#define ONE(j) (calls_for(&(j), 1))

static void test_cases(void)
{
    static const char *const match_all = "{}";
    static const char *const by_id = "{\"ids\":[\"" EV_ID "\"]}";
    static const char *const by_author = "{\"authors\":[\"" EV_PK "\"],\"kinds\":[1]}";
    static const char *const by_tag = "{\"#e\":[\"x\",\"z\"]}";
    static const char *const by_tag_case = "{\"#t\":[\"nostr\"]}";
    static const char *const by_two_tags = "{\"#e\":[\"x\"],\"#t\":[\"Nostr\"]}";
    static const char *const two_tags_miss = "{\"#e\":[\"x\"],\"#t\":[\"nostr\"]}";
    static const char *const by_kind = "{\"kinds\":[7,1]}";
    static const char *const kind_miss = "{\"kinds\":[7]}";
    static const char *const empty_ids = "{\"ids\":[]}";
    static const char *const empty_authors = "{\"authors\":[]}";
    static const char *const empty_kinds = "{\"kinds\":[]}";
    static const char *const empty_tag = "{\"#e\":[]}";
    static const char *const empty_tag2 = "{\"kinds\":[1],\"#e\":[]}";
    static const char *const since_ok = "{\"since\":1000}";
    static const char *const since_miss = "{\"kinds\":[1],\"since\":1001}";
    static const char *const until_ok = "{\"authors\":[\"" EV_PK "\"],\"until\":1000}";
    static const char *const until_miss = "{\"until\":999}";
    static const char *const range_empty = "{\"since\":2000,\"until\":1}";
    static const char *const search_ok = "{\"kinds\":[1],\"search\":\"hello nostr\"}";
    static const char *const search_words = "{\"search\":\"  world\\tOF \"}";
    static const char *const search_miss = "{\"search\":\"hello bitcoin\"}";
    static const char *const tag_no_value = "{\"#p\":[\"\"]}";
    static const char *const multi_letter = "{\"#t\":[\"y\"]}";
    static const char *const three[3] = {"{\"kinds\":[1]}", "{\"#e\":[\"x\"]}", "{\"ids\":[\"" EV_ID "\"]}"};
    static const char *const empties[2] = {"{\"ids\":[]}", "{\"kinds\":[]}"};
    static const char *const one_live[2] = {"{\"ids\":[]}", "{\"#t\":[\"Nostr\"]}"};
    CHECK_EQ(ONE(match_all), 1);
    CHECK_EQ(ONE(by_id), 1);
    CHECK_EQ(ONE(by_author), 1);
    CHECK_EQ(ONE(by_tag), 1); /* the event has e:x twice: still one call */
    CHECK_EQ(ONE(by_tag_case), 0);
    CHECK_EQ(ONE(by_two_tags), 1);
    CHECK_EQ(ONE(two_tags_miss), 0);
    CHECK_EQ(ONE(by_kind), 1);
    CHECK_EQ(ONE(kind_miss), 0);
    CHECK_EQ(ONE(empty_ids), 0);
    CHECK_EQ(ONE(empty_authors), 0);
    CHECK_EQ(ONE(empty_kinds), 0);
    CHECK_EQ(ONE(empty_tag), 0);
    CHECK_EQ(ONE(empty_tag2), 0);
    CHECK_EQ(ONE(since_ok), 1);
    CHECK_EQ(ONE(since_miss), 0);
    CHECK_EQ(ONE(until_ok), 1);
    CHECK_EQ(ONE(until_miss), 0);
    CHECK_EQ(ONE(range_empty), 0);
    CHECK_EQ(ONE(search_ok), 1);
    CHECK_EQ(ONE(search_words), 1);
    CHECK_EQ(ONE(search_miss), 0);
    CHECK_EQ(ONE(tag_no_value), 0);   /* ["p"] has no second item */
    CHECK_EQ(ONE(multi_letter), 0);   /* ["tt","y"] is not a #t tag */
    CHECK_EQ(calls_for(three, 3), 1); /* three filters match: one call */
    CHECK_EQ(calls_for(empties, 2), 0);
    CHECK_EQ(calls_for(one_live, 2), 1);
}

static void test_api(void)
{
    nostr_arena a;
    nostr_filter f[2];
    nostr_event ev;
    nostr_subindex *ix = nostr_subindex_new(NULL);
    int o1, o2, o3;
    static const char *const js[2] = {"{\"kinds\":[1]}", "{\"authors\":[]}"};
    nostr_arena_init(&a, NULL, 0, NULL);
    ev = hand_event(ev_json, &a);
    parse_filters(f, js, 2, &a);
    CHECK(ix != NULL);
    CHECK_EQ(nostr_subindex_add(ix, &o1, f, 0), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_subindex_add(ix, &o1, f, 1), NOSTR_OK);
    CHECK_EQ(nostr_subindex_add(ix, &o1, f, 1), NOSTR_ERR_ARG); /* owner already there */
    CHECK_EQ(nostr_subindex_add(ix, &o2, f + 1, 1), NOSTR_OK);  /* matches nothing, still counted */
    CHECK_EQ(nostr_subindex_add(ix, NULL, f, 2), NOSTR_OK);     /* NULL is an owner like any */
    CHECK_EQ(nostr_subindex_count(ix), 3);
    calls = 0;
    CHECK_EQ(nostr_subindex_match(ix, &ev, count_cb, NULL), 2);
    nostr_subindex_remove(ix, &o3); /* unknown: no-op */
    CHECK_EQ(nostr_subindex_count(ix), 3);
    nostr_subindex_remove(ix, &o2);
    nostr_subindex_remove(ix, NULL);
    CHECK_EQ(nostr_subindex_count(ix), 1);
    calls = 0;
    CHECK_EQ(nostr_subindex_match(ix, &ev, count_cb, NULL), 1);
    CHECK(last_owner == &o1);
    /* the same filters under another owner: both called */
    CHECK_EQ(nostr_subindex_add(ix, &o2, f, 1), NOSTR_OK);
    CHECK_EQ(nostr_subindex_match(ix, &ev, count_cb, NULL), 2);
    nostr_subindex_free(ix); /* with subscriptions still in it */
    nostr_subindex_free(NULL);
    CHECK_EQ(nostr_subindex_count(NULL), 0);
    nostr_arena_free(&a);
}

/* Many owners under one key, removed in every order, with the table
 * growing and shrinking: the chains stay consistent. */
static void test_shared_keys(void)
{
    nostr_arena a;
    nostr_filter f;
    nostr_event ev;
    nostr_subindex *ix = nostr_subindex_new(NULL);
    static char owners[1000];
    static const char *const js = "{\"authors\":[\"" EV_PK "\"]}";
    size_t i, in = 0;
    nostr_arena_init(&a, NULL, 0, NULL);
    ev = hand_event(ev_json, &a);
    parse_filters(&f, &js, 1, &a);
    for (i = 0; i < 1000; i++) {
        CHECK_EQ(nostr_subindex_add(ix, &owners[i], &f, 1), NOSTR_OK);
        owners[i] = 1;
    }
    for (i = 0; i < 1000; i++) in += (size_t)owners[i];
    CHECK_EQ(nostr_subindex_match(ix, &ev, count_cb, NULL), in);
    for (i = 0; i < 1000; i += 3) {
        nostr_subindex_remove(ix, &owners[i]);
        owners[i] = 0;
    }
    for (i = 999; i < 1000; i--)
        if (i % 3 == 1) {
            nostr_subindex_remove(ix, &owners[i]);
            owners[i] = 0;
        }
    for (i = 0, in = 0; i < 1000; i++) in += (size_t)owners[i];
    CHECK_EQ(nostr_subindex_count(ix), in);
    CHECK_EQ(nostr_subindex_match(ix, &ev, count_cb, NULL), in);
    for (i = 0; i < 1000; i++) nostr_subindex_remove(ix, &owners[i]);
    CHECK_EQ(nostr_subindex_count(ix), 0);
    CHECK_EQ(nostr_subindex_match(ix, &ev, count_cb, NULL), 0);
    nostr_subindex_free(ix);
    nostr_arena_free(&a);
}

static void test_search(void)
{
#define S(q, c) nostr_search_match(q, strlen(q), c, strlen(c))
    CHECK_EQ(S("", "anything"), 1);
    CHECK_EQ(S("   \t\n", ""), 1);
    CHECK_EQ(S("hello", "Hello, world"), 1);
    CHECK_EQ(S("WORLD hello", "Hello, world"), 1);
    CHECK_EQ(S("hello there", "Hello, world"), 0);
    CHECK_EQ(S("lo, wo", "Hello, world"), 0); /* whole words, not parts of words */
    CHECK_EQ(S("x", ""), 0);
    CHECK_EQ(S("worlds", "world"), 0);
    CHECK_EQ(S("ld", "world"), 0);
    CHECK_EQ(S("aab", "aaab"), 0);
    CHECK_EQ(S("hello,", "Hello, world"), 1);   /* punctuation: the words, and the term as written */
    CHECK_EQ(S("e-mail", "send an E-mail"), 1);
    CHECK_EQ(S("e-mail", "mail for e"), 0);
    CHECK_EQ(S("a", "a cat"), 1); /* no word of 2 bytes: as written only */
    CHECK_EQ(S("nostr", "#nostr rocks"), 1);
    CHECK_EQ(S("caf\xc3\xa9", "un caf\xc3\xa9 noir"), 1);
    CHECK_EQ(S("\xc3\xa9t\xc3\xa9", "\xc3\xa9T\xc3\xa9 ici"), 1); /* ASCII folding only */
    CHECK_EQ(S("\xc3\x89t\xc3\xa9", "\xc3\xa9t\xc3\xa9"), 0);
    CHECK_EQ(nostr_search_match("a\0b", 3, "xbxa", 4), 1); /* NUL separates words */
    CHECK_EQ(nostr_search_match("ab", 2, "a\0b", 3), 0);
    CHECK_EQ(nostr_search_match(NULL, 0, NULL, 0), 1);
#undef S
}

int main(void)
{
    nostr_arena_init(&ev_arena, NULL, 0, NULL);
    nostr_arena_init(&f_arena, NULL, 0, NULL);
    TEST_RUN(test_search);
    TEST_RUN(test_cases);
    TEST_RUN(test_api);
    TEST_RUN(test_shared_keys);
    load_real();
    make_generated(2000);
    TEST_RUN(test_differential);
    TEST_RUN(test_nomem);
    nostr_arena_free(&ev_arena);
    nostr_arena_free(&f_arena);
    free(corpus);
    return TEST_DONE();
}
