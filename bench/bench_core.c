/* Core codec benchmark on a corpus of real events (one JSON per line).
 *
 *   bench_core [CORPUS.jsonl] [RUNS]
 *
 * Each stage runs over the whole corpus RUNS times (default 5) on one
 * thread; the median run is reported as events/s and ns/event. The limit
 * is libsecp256k1's BIP-340 verify, measured in the same run on the same
 * events: "bare verify" parses the x-only pubkey and verifies, straight
 * through libsecp256k1, with nothing of ours around it. The pipeline
 * (parse + id check + verify, what a relay does per new event) is then
 * given as a fraction of it. Latency percentiles are per event over one
 * pipeline pass. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>
#include "nostr.h"
#include "bench_util.h"

typedef struct {
    const char *json;
    size_t len;
} line_t;

/* Shared state for the stages. */
static line_t *lines;
static size_t nlines;
static nostr_event *events; /* parsed once, for stages that need structs */
static nostr_ctx *ctx;
static secp256k1_context *secp;
static secp256k1_xonly_pubkey *xpubs;
static nostr_filter *filters;
static size_t nfilters;
static volatile size_t sink;

static unsigned char arena_mem[1 << 22]; /* 4 MiB: the largest corpus event fits */

static void stage_parse(void)
{
    nostr_arena a;
    size_t i, ok = 0;
    nostr_arena_init(&a, arena_mem, sizeof arena_mem, NULL);
    for (i = 0; i < nlines; i++) {
        nostr_event ev;
        ok += nostr_event_parse(&ev, lines[i].json, lines[i].len, &a, NULL, NULL) == NOSTR_OK;
        nostr_arena_reset(&a);
    }
    if (a.heap_blocks) fprintf(stderr, "warning: parse used %zu heap blocks\n", a.heap_blocks);
    sink += ok;
}

static void stage_id(void)
{
    size_t i;
    unsigned char id[32];
    for (i = 0; i < nlines; i++) {
        nostr_event_compute_id(&events[i], id);
        sink += id[0];
    }
}

static void stage_parse_id(void)
{
    nostr_arena a;
    size_t i, ok = 0;
    nostr_arena_init(&a, arena_mem, sizeof arena_mem, NULL);
    for (i = 0; i < nlines; i++) {
        nostr_event ev;
        if (nostr_event_parse(&ev, lines[i].json, lines[i].len, &a, NULL, NULL) == NOSTR_OK)
            ok += nostr_event_check(&ev, NULL, NULL) == NOSTR_OK;
        nostr_arena_reset(&a);
    }
    sink += ok;
}

static void stage_serialize(void)
{
    static char out_mem[1 << 22];
    nostr_buf b;
    size_t i;
    nostr_buf_init_fixed(&b, out_mem, sizeof out_mem);
    for (i = 0; i < nlines; i++) {
        nostr_buf_clear(&b);
        nostr_event_to_json(&events[i], &b);
        sink += b.len;
    }
}

static void stage_verify(void)
{
    size_t i, ok = 0;
    for (i = 0; i < nlines; i++) ok += nostr_event_verify(ctx, &events[i]) == NOSTR_OK;
    sink += ok;
}

/* The limit: libsecp256k1 alone, pubkey parse included (a relay must
 * parse each event's key; see also bare_verify_preparsed). */
static void stage_bare_verify(void)
{
    size_t i, ok = 0;
    for (i = 0; i < nlines; i++) {
        secp256k1_xonly_pubkey pk;
        if (secp256k1_xonly_pubkey_parse(secp, &pk, events[i].pubkey))
            ok += secp256k1_schnorrsig_verify(secp, events[i].sig, events[i].id, 32, &pk);
    }
    sink += ok;
}

static void stage_bare_verify_preparsed(void)
{
    size_t i, ok = 0;
    for (i = 0; i < nlines; i++) ok += secp256k1_schnorrsig_verify(secp, events[i].sig, events[i].id, 32, &xpubs[i]);
    sink += ok;
}

static void stage_pipeline(void)
{
    nostr_arena a;
    size_t i, ok = 0;
    nostr_arena_init(&a, arena_mem, sizeof arena_mem, NULL);
    for (i = 0; i < nlines; i++) {
        nostr_event ev;
        if (nostr_event_parse(&ev, lines[i].json, lines[i].len, &a, NULL, NULL) == NOSTR_OK &&
            nostr_event_check(&ev, NULL, NULL) == NOSTR_OK)
            ok += nostr_event_verify(ctx, &ev) == NOSTR_OK;
        nostr_arena_reset(&a);
    }
    sink += ok;
}

/* The relay's pipeline: a worker's cache of parsed keys (cold at the
 * start of each pass over the corpus, so only authors seen earlier in the
 * pass hit). */
static void stage_pipeline_cached(void)
{
    nostr_arena a;
    size_t i, ok = 0;
    nostr_pubkey_cache *keys = nostr_pubkey_cache_new(NULL, 0);
    nostr_arena_init(&a, arena_mem, sizeof arena_mem, NULL);
    for (i = 0; i < nlines; i++) {
        nostr_event ev;
        if (nostr_event_parse(&ev, lines[i].json, lines[i].len, &a, NULL, NULL) == NOSTR_OK &&
            nostr_event_check(&ev, NULL, NULL) == NOSTR_OK)
            ok += nostr_event_verify_cached(ctx, keys, &ev) == NOSTR_OK;
        nostr_arena_reset(&a);
    }
    nostr_pubkey_cache_free(keys);
    sink += ok;
}

static nostr_keys bench_keys;
static void stage_sign(void)
{
    size_t i;
    unsigned char sig[64];
    for (i = 0; i < nlines; i++) {
        nostr_schnorr_sign(ctx, &bench_keys, events[i].id, 32, sig);
        sink += sig[0];
    }
}

static void stage_filter(void)
{
    size_t i, f, hits = 0;
    for (i = 0; i < nlines; i++)
        for (f = 0; f < nfilters; f++) hits += (size_t)nostr_filter_matches(&filters[f], &events[i]);
    sink += hits;
}

typedef struct {
    const char *name;
    void (*fn)(void);
    size_t ops_per_event; /* filter stage: one op per (event, filter) */
    double t[64];         /* seconds, one per round */
} stage_t;

/* Rounds interleave the stages (each round runs every stage once), so a
 * burst of load from the shared machine hits all stages alike, and the
 * ratio of two stages is taken within each round before the median. */
static void run_rounds(stage_t *st, size_t nst, int rounds)
{
    int r;
    size_t i;
    for (r = 0; r < rounds; r++)
        for (i = 0; i < nst; i++) {
            double t0 = now_s();
            st[i].fn();
            st[i].t[r] = now_s() - t0;
        }
}

static double stage_median(const stage_t *s, int rounds)
{
    double v[64];
    memcpy(v, s->t, sizeof(double) * (size_t)rounds);
    return median(v, rounds);
}

/* Median over rounds of (time of a / time of b) = rate of b / rate of a. */
static double ratio_median(const stage_t *a, const stage_t *b, int rounds)
{
    double v[64];
    int r;
    for (r = 0; r < rounds; r++) v[r] = a->t[r] / b->t[r];
    return median(v, rounds);
}

/* Parse and parse+id over the events no larger than max_bytes (typical
 * events; the corpus mean is pulled up by a few very large ones). */
static void typical_events(size_t max_bytes, int rounds)
{
    nostr_arena a;
    double tp[64], ti[64];
    size_t i, n = 0, bytes = 0;
    int r;
    nostr_arena_init(&a, arena_mem, sizeof arena_mem, NULL);
    for (r = 0; r < rounds; r++) {
        double t0 = now_s(), t1;
        for (i = 0; i < nlines; i++) {
            nostr_event ev;
            if (lines[i].len > max_bytes) continue;
            sink += nostr_event_parse(&ev, lines[i].json, lines[i].len, &a, NULL, NULL) == NOSTR_OK;
            nostr_arena_reset(&a);
        }
        t1 = now_s();
        for (i = 0; i < nlines; i++) {
            nostr_event ev;
            if (lines[i].len > max_bytes) continue;
            if (nostr_event_parse(&ev, lines[i].json, lines[i].len, &a, NULL, NULL) == NOSTR_OK)
                sink += nostr_event_check(&ev, NULL, NULL) == NOSTR_OK;
            nostr_arena_reset(&a);
        }
        tp[r] = t1 - t0;
        ti[r] = now_s() - t1;
    }
    for (i = 0; i < nlines; i++)
        if (lines[i].len <= max_bytes) {
            n++;
            bytes += lines[i].len;
        }
    if (!n) return;
    printf("events up to %zu bytes (%zu events, mean %.0f bytes): parse %.0f ns, parse+id check %.0f ns, heap blocks %zu\n",
           max_bytes, n, (double)bytes / (double)n, median(tp, rounds) / (double)n * 1e9,
           median(ti, rounds) / (double)n * 1e9, a.heap_blocks);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "tests/data/events-real.jsonl";
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    static const char *const filter_json[] = {
        "{\"kinds\":[1,6,7]}",
        "{\"kinds\":[0,3],\"limit\":10}",
        "{\"#t\":[\"nostr\",\"bitcoin\"]}",
        "{\"authors\":[\"4523be58d395b1b196a9b8c82b038b6895cb02b683d0c253a955068dba1facd0\"],\"kinds\":[1]}",
        "{\"since\":1700000000,\"until\":1710000000}",
        "{\"#p\":[\"4523be58d395b1b196a9b8c82b038b6895cb02b683d0c253a955068dba1facd0\"],\"kinds\":[1,7]}",
        "{\"ids\":[\"02478bb06b83c700728c14586106851e6d13fad081023ee6de55a9c42c348beb\"]}",
        "{\"kinds\":[30023],\"#d\":[\"x\"]}",
    };
    size_t total, i, bytes = 0;
    char *text, *p, *end;
    nostr_arena keep;
    double *lat;
    stage_t stages[] = {
        {"parse", stage_parse, 1, {0}},
        {"serialize+id", stage_id, 1, {0}},
        {"parse+id check", stage_parse_id, 1, {0}},
        {"to_json", stage_serialize, 1, {0}},
        {"filter match (x8 filters)", stage_filter, 8, {0}},
        {"sign", stage_sign, 1, {0}},
        {"verify (nostr_event_verify)", stage_verify, 1, {0}},
        {"bare verify (secp256k1)", stage_bare_verify, 1, {0}},
        {"bare verify, key preparsed", stage_bare_verify_preparsed, 1, {0}},
        {"pipeline parse+id+verify", stage_pipeline, 1, {0}},
        {"pipeline, key cache", stage_pipeline_cached, 1, {0}},
    };
    size_t nst = sizeof stages / sizeof stages[0];

    if (runs < 1 || runs > 64) runs = 5;
    text = read_all(path, &total);
    if (!text) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    for (p = text, end = text + total; p < end;) {
        char *nl = (char *)memchr(p, '\n', (size_t)(end - p));
        if (!nl) nl = end;
        if (nl > p) nlines++;
        p = nl + 1;
    }
    lines = (line_t *)calloc(nlines, sizeof *lines);
    events = (nostr_event *)calloc(nlines, sizeof *events);
    xpubs = (secp256k1_xonly_pubkey *)calloc(nlines, sizeof *xpubs);
    nlines = 0;
    ctx = nostr_ctx_new(NULL);
    secp = secp256k1_context_create(SECP256K1_CONTEXT_VERIFY);
    nostr_arena_init(&keep, NULL, 0, NULL);
    for (p = text; p < end;) {
        char *nl = (char *)memchr(p, '\n', (size_t)(end - p));
        if (!nl) nl = end;
        if (nl > p) {
            lines[nlines].json = p;
            lines[nlines].len = (size_t)(nl - p);
            if (nostr_event_parse(&events[nlines], p, lines[nlines].len, &keep, NULL, NULL) != NOSTR_OK ||
                !secp256k1_xonly_pubkey_parse(secp, &xpubs[nlines], events[nlines].pubkey)) {
                fprintf(stderr, "line %zu does not parse; skipped\n", nlines + 1);
            } else {
                bytes += lines[nlines].len;
                nlines++;
            }
        }
        p = nl + 1;
    }
    nfilters = sizeof filter_json / sizeof filter_json[0];
    filters = (nostr_filter *)calloc(nfilters, sizeof *filters);
    for (i = 0; i < nfilters; i++)
        if (nostr_filter_parse(&filters[i], filter_json[i], strlen(filter_json[i]), &keep, NULL, NULL) != NOSTR_OK)
            fprintf(stderr, "filter %zu does not parse\n", i);
    nostr_keys_generate(ctx, &bench_keys);

    printf("corpus: %s: %zu events, %.1f MB, mean %.0f bytes/event; median of %d runs, one thread\n", path, nlines,
           (double)bytes / 1e6, (double)bytes / (double)nlines, runs);
    run_rounds(stages, nst, runs);
    printf("%-30s %14s %12s\n", "stage", "events/s", "ns/event");
    for (i = 0; i < nst; i++) {
        double per = stage_median(&stages[i], runs) / (double)(nlines * stages[i].ops_per_event);
        printf("%-30s %14.0f %12.0f\n", stages[i].name, 1.0 / per, per * 1e9);
    }
    printf("pipeline rate / bare verify rate: %.3f (median of per-round ratios)\n",
           ratio_median(&stages[7], &stages[9], runs));
    printf("pipeline rate / bare verify (key preparsed) rate: %.3f\n", ratio_median(&stages[8], &stages[9], runs));
    printf("pipeline with a key cache / bare verify rate: %.3f\n", ratio_median(&stages[7], &stages[10], runs));
    typical_events(1024, runs);

    /* Per-event latency of the pipeline. */
    lat = (double *)calloc(nlines, sizeof *lat);
    {
        nostr_arena a;
        nostr_arena_init(&a, arena_mem, sizeof arena_mem, NULL);
        for (i = 0; i < nlines; i++) {
            nostr_event ev;
            double t0 = now_s();
            if (nostr_event_parse(&ev, lines[i].json, lines[i].len, &a, NULL, NULL) == NOSTR_OK &&
                nostr_event_check(&ev, NULL, NULL) == NOSTR_OK)
                sink += nostr_event_verify(ctx, &ev) == NOSTR_OK;
            lat[i] = now_s() - t0;
            nostr_arena_reset(&a);
        }
        qsort(lat, nlines, sizeof *lat, cmp_double);
        printf("pipeline latency per event: p50 %.1f us, p99 %.1f us, max %.1f us\n", lat[nlines / 2] * 1e6,
               lat[nlines * 99 / 100] * 1e6, lat[nlines - 1] * 1e6);
        printf("heap blocks used by the parse arena: %zu\n", a.heap_blocks);
    }
    nostr_keys_wipe(&bench_keys);
    nostr_arena_free(&keep);
    secp256k1_context_destroy(secp);
    nostr_ctx_free(ctx);
    free(lat);
    free(filters);
    free(xpubs);
    free(events);
    free(lines);
    free(text);
    return 0;
}
