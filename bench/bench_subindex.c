/* Subscription index benchmark: the cost of matching one event against
 * the live subscriptions, as the number of subscriptions grows.
 *
 *   bench_subindex [CORPUS.jsonl] [ROUNDS]
 *
 * "own author": N subscriptions, each {"authors":[its own key],"kinds":[1]}
 * (a client following its own notes); events are kind 1, half by one of
 * the subscribers, half by strangers, so at most one subscription matches.
 * The index should cost the same at 10 and at 100,000 subscriptions; the
 * brute-force column (nostr_filters_match over every subscription, what a
 * relay without an index does) shows what it saves. "fan-out": N
 * subscriptions to {"kinds":[1]}: every event goes to all of them, so this
 * is the delivery rate of the index alone (callback does nothing).
 * "real": the corpus's events against N subscriptions drawn from it (an
 * author, a #p mention, a #e thread or a #t hashtag each). Add and remove
 * are timed per subscription. Medians of ROUNDS (default 7) rounds of at
 * least 50 ms each. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nostr_relay.h"
#include "bench_util.h"

#define MAX_ROUNDS 31
#define N_EVENTS 4096

static unsigned long long rng = 0x243f6a8885a308d3ULL;
static unsigned long long rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t deliveries;
static void on_match(void *user, void *owner)
{
    (void)user;
    (void)owner;
    deliveries++;
}

typedef struct result {
    double match_ns, brute_ns, add_ns, remove_ns, per_event, deliveries_s;
} result;

static unsigned kind_one = 1;

/* Time matching evs through ix: ns per event (median of rounds), and
 * deliveries per event and per second. A round passes over evs until at
 * least 50 ms went by, so a round is long against the scheduler's noise. */
static void time_match(nostr_subindex *ix, const nostr_event *evs, size_t nev, int rounds, result *r)
{
    double t[MAX_ROUNDS], d[MAX_ROUNDS];
    int k;
    size_t i, passes;
    for (k = 0; k < rounds; k++) {
        double t0 = now_s(), el;
        deliveries = 0;
        passes = 0;
        do {
            for (i = 0; i < nev; i++) nostr_subindex_match(ix, &evs[i], on_match, NULL);
            passes++;
            el = now_s() - t0;
        } while (el < 0.05);
        t[k] = el / (double)(nev * passes) * 1e9;
        d[k] = (double)deliveries / el;
        r->per_event = (double)deliveries / (double)(nev * passes);
    }
    r->match_ns = median(t, rounds);
    r->deliveries_s = median(d, rounds);
}

/* The loop an index replaces, over at most max_events events. */
static double time_brute(const nostr_filter *fs, size_t n, const nostr_event *evs, size_t nev, int rounds)
{
    double t[MAX_ROUNDS];
    volatile size_t hits = 0;
    int k;
    size_t i, j;
    for (k = 0; k < rounds; k++) {
        double t0 = now_s();
        for (i = 0; i < nev; i++)
            for (j = 0; j < n; j++) hits += (size_t)nostr_filters_match(&fs[j], 1, &evs[i]);
        t[k] = (now_s() - t0) / (double)nev * 1e9;
    }
    return median(t, rounds);
}

/* Add all n (one filter each) and remove them again, timed; leaves ix
 * filled. */
static void time_add_remove(nostr_subindex *ix, const nostr_filter *fs, size_t n, result *r)
{
    double t0 = now_s();
    size_t i;
    for (i = 0; i < n; i++)
        if (nostr_subindex_add(ix, (void *)&fs[i], &fs[i], 1) != NOSTR_OK) {
            fprintf(stderr, "add failed\n");
            exit(1);
        }
    r->add_ns = (now_s() - t0) / (double)n * 1e9;
    t0 = now_s();
    for (i = 0; i < n; i++) nostr_subindex_remove(ix, (void *)&fs[i]);
    r->remove_ns = (now_s() - t0) / (double)n * 1e9;
    for (i = 0; i < n; i++) (void)nostr_subindex_add(ix, (void *)&fs[i], &fs[i], 1);
}

static void print_row(const char *name, size_t n, const result *r)
{
    char brute[32];
    if (r->brute_ns > 0)
        snprintf(brute, sizeof brute, "%.0f", r->brute_ns);
    else
        snprintf(brute, sizeof brute, "-");
    printf("%-11s %8zu %11.0f %12s %13.0f %10.2f %14.0f %9.0f %9.0f\n", name, n, r->match_ns, brute,
           r->match_ns > 0 ? 1e9 / r->match_ns : 0, r->per_event, r->deliveries_s, r->add_ns, r->remove_ns);
}

static void fill_random(unsigned char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) p[i] = (unsigned char)rnd();
}

static void bench_own_author(size_t n, int rounds)
{
    unsigned char(*keys)[32] = (unsigned char(*)[32])malloc(n * 32);
    nostr_filter *fs = (nostr_filter *)calloc(n, sizeof *fs);
    nostr_event *evs = (nostr_event *)calloc(N_EVENTS, sizeof *evs);
    nostr_subindex *ix = nostr_subindex_new(NULL);
    result r;
    size_t i;
    memset(&r, 0, sizeof r);
    fill_random(&keys[0][0], n * 32);
    for (i = 0; i < n; i++) {
        fs[i].fields = NOSTR_FILTER_AUTHORS | NOSTR_FILTER_KINDS | NOSTR_FILTER_SORTED;
        fs[i].authors = &keys[i];
        fs[i].authors_count = 1;
        fs[i].kinds = &kind_one;
        fs[i].kinds_count = 1;
    }
    for (i = 0; i < N_EVENTS; i++) {
        fill_random(evs[i].id, 32);
        if (i % 2)
            memcpy(evs[i].pubkey, keys[rnd() % n], 32);
        else
            fill_random(evs[i].pubkey, 32);
        evs[i].kind = 1;
        evs[i].created_at = 1700000000;
    }
    time_add_remove(ix, fs, n, &r);
    time_match(ix, evs, N_EVENTS, rounds, &r);
    /* brute force over fewer events when n is large: same per-event cost */
    r.brute_ns = time_brute(fs, n, evs, n >= 100000 ? 64 : n >= 10000 ? 512 : N_EVENTS, rounds < 3 ? rounds : 3);
    print_row("own author", n, &r);
    nostr_subindex_free(ix);
    free(keys);
    free(fs);
    free(evs);
}

static void bench_fanout(size_t n, int rounds)
{
    nostr_filter *fs = (nostr_filter *)calloc(n, sizeof *fs);
    nostr_event *evs = (nostr_event *)calloc(256, sizeof *evs);
    nostr_subindex *ix = nostr_subindex_new(NULL);
    result r;
    size_t i;
    memset(&r, 0, sizeof r);
    for (i = 0; i < n; i++) {
        fs[i].fields = NOSTR_FILTER_KINDS | NOSTR_FILTER_SORTED;
        fs[i].kinds = &kind_one;
        fs[i].kinds_count = 1;
    }
    for (i = 0; i < 256; i++) {
        fill_random(evs[i].id, 32);
        fill_random(evs[i].pubkey, 32);
        evs[i].kind = 1;
    }
    time_add_remove(ix, fs, n, &r);
    time_match(ix, evs, 256, rounds, &r);
    print_row("fan-out", n, &r);
    nostr_subindex_free(ix);
    free(fs);
    free(evs);
}

/* ---- the real corpus ---- */

static const nostr_str *find_tag(const nostr_event *ev, char name)
{
    size_t i;
    for (i = 0; i < ev->tag_count; i++) {
        const nostr_tag *t = &ev->tags[i];
        if (t->count >= 2 && t->items[0].len == 1 && t->items[0].ptr[0] == name) return &t->items[1];
    }
    return NULL;
}

static void bench_real(const nostr_event *evs, size_t nev, size_t n, int rounds)
{
    nostr_filter *fs = (nostr_filter *)calloc(n, sizeof *fs);
    nostr_tag_filter *tf = (nostr_tag_filter *)calloc(n, sizeof *tf);
    nostr_subindex *ix = nostr_subindex_new(NULL);
    result r;
    size_t i;
    memset(&r, 0, sizeof r);
    for (i = 0; i < n; i++) {
        /* draw until the chosen kind of interest exists in the event */
        for (;;) {
            const nostr_event *e = &evs[rnd() % nev];
            const nostr_str *v;
            static const char letters[] = "pet";
            unsigned what = (unsigned)(rnd() % 4);
            if (what == 0) {
                fs[i].fields = NOSTR_FILTER_AUTHORS | NOSTR_FILTER_SORTED;
                fs[i].authors = (unsigned char(*)[32])e->pubkey;
                fs[i].authors_count = 1;
                break;
            }
            v = find_tag(e, letters[what - 1]);
            if (!v) continue;
            tf[i].name = letters[what - 1];
            tf[i].values = (nostr_str *)v;
            tf[i].count = 1;
            fs[i].fields = NOSTR_FILTER_SORTED;
            fs[i].tags = &tf[i];
            fs[i].tags_count = 1;
            break;
        }
    }
    time_add_remove(ix, fs, n, &r);
    time_match(ix, evs, nev, rounds, &r);
    r.brute_ns = time_brute(fs, n, evs, n >= 100000 ? 64 : n >= 10000 ? 256 : nev, rounds < 3 ? rounds : 3);
    print_row("real", n, &r);
    nostr_subindex_free(ix);
    free(fs);
    free(tf);
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = {10, 1000, 10000, 100000};
    const char *path = argc > 1 ? argv[1] : NULL;
    static const char *const guesses[] = {"tests/data/events-real.jsonl", "../tests/data/events-real.jsonl"};
    int rounds = argc > 2 ? atoi(argv[2]) : 7;
    char *corpus = NULL;
    size_t len = 0, i, nev = 0;
    nostr_event *evs = NULL;
    nostr_arena a;
    if (rounds < 1) rounds = 1;
    if (rounds > MAX_ROUNDS) rounds = MAX_ROUNDS;
    printf("median of %d rounds, one thread; match = nostr_subindex_match per event, brute = nostr_filters_match "
           "over every subscription\n",
           rounds);
    printf("%-11s %8s %11s %12s %13s %10s %14s %9s %9s\n", "scenario", "subs", "match ns/ev", "brute ns/ev", "events/s",
           "matches/ev", "deliveries/s", "add ns", "remove ns");
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) bench_own_author(sizes[i], rounds);
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) bench_fanout(sizes[i], rounds);
    if (path)
        corpus = read_all(path, &len);
    else
        for (i = 0; i < 2 && !corpus; i++) corpus = read_all(path = guesses[i], &len);
    if (!corpus) {
        printf("real: no corpus (give the path of events-real.jsonl as the first argument)\n");
        return 0;
    }
    nostr_arena_init(&a, NULL, 0, NULL);
    evs = (nostr_event *)calloc(len / 64 + 1, sizeof *evs);
    for (i = 0; i < len;) {
        char *nl = (char *)memchr(corpus + i, '\n', len - i);
        size_t l = nl ? (size_t)(nl - (corpus + i)) : len - i;
        if (l && nostr_event_parse(&evs[nev], corpus + i, l, &a, NULL, NULL) == NOSTR_OK) nev++;
        i += l + 1;
    }
    printf("real: %s, %zu events\n", path, nev);
    if (nev)
        for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) bench_real(evs, nev, sizes[i], rounds);
    nostr_arena_free(&a);
    free(evs);
    free(corpus);
    return 0;
}
