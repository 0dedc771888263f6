/* Filter parser: any input must parse or fail cleanly; a parsed filter
 * must serialize, reparse to the same fields, and serialize to the same
 * text (the canonical form is a fixed point). Matching runs against a
 * small event built from the input's bytes. */
#define NOSTR_NO_BLOCKING
#define NOSTR_IMPLEMENTATION
#include "nostr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static unsigned char fuzz_mem[1 << 16];
static unsigned char fuzz_mem2[1 << 16];

static int fuzz_same_filter(const nostr_filter *a, const nostr_filter *b)
{
    size_t i, j;
    if (a->fields != b->fields || a->ids_count != b->ids_count || a->authors_count != b->authors_count ||
        a->kinds_count != b->kinds_count || a->tags_count != b->tags_count)
        return 0;
    if (a->ids_count && memcmp(a->ids, b->ids, 32 * a->ids_count) != 0) return 0;
    if (a->authors_count && memcmp(a->authors, b->authors, 32 * a->authors_count) != 0) return 0;
    if (a->kinds_count && memcmp(a->kinds, b->kinds, sizeof(unsigned) * a->kinds_count) != 0) return 0;
    if ((a->fields & NOSTR_FILTER_SINCE) && a->since != b->since) return 0;
    if ((a->fields & NOSTR_FILTER_UNTIL) && a->until != b->until) return 0;
    if ((a->fields & NOSTR_FILTER_LIMIT) && a->limit != b->limit) return 0;
    if ((a->fields & NOSTR_FILTER_SEARCH) &&
        (a->search.len != b->search.len || memcmp(a->search.ptr, b->search.ptr, a->search.len) != 0))
        return 0;
    for (i = 0; i < a->tags_count; i++) {
        if (a->tags[i].name != b->tags[i].name || a->tags[i].count != b->tags[i].count) return 0;
        for (j = 0; j < a->tags[i].count; j++) {
            const nostr_str *x = &a->tags[i].values[j], *y = &b->tags[i].values[j];
            if (x->len != y->len || (x->len && memcmp(x->ptr, y->ptr, x->len) != 0)) return 0;
        }
    }
    return 1;
}

/* An event whose fields come from the input, with one tag per filter tag
 * key so tag matching gets exercised. */
static void fuzz_match(const nostr_filter *f, const uint8_t *data, size_t size)
{
    nostr_event ev;
    nostr_tag tags[2];
    nostr_str items[2][2];
    size_t i;
    int m;
    memset(&ev, 0, sizeof ev);
    for (i = 0; i < 32 && i < size; i++) ev.id[i] = ev.pubkey[i] = data[i];
    ev.created_at = (long long)(size * 1000);
    ev.kind = size ? data[0] : 1;
    for (i = 0; i < 2; i++) {
        items[i][0].ptr = i ? "e" : "t";
        items[i][0].len = 1;
        items[i][1].ptr = f->tags_count && f->tags[0].count ? f->tags[0].values[0].ptr : "x";
        items[i][1].len = f->tags_count && f->tags[0].count ? f->tags[0].values[0].len : 1;
        tags[i].items = items[i];
        tags[i].count = 2;
    }
    ev.tags = tags;
    ev.tag_count = 2;
    m = nostr_filter_matches(f, &ev);
    if (nostr_filters_match(f, 1, &ev) != m) abort();
    /* Sorted lookups agree with a linear scan of the same lists. */
    {
        nostr_filter linear = *f;
        linear.fields &= ~(unsigned)NOSTR_FILTER_SORTED;
        if (nostr_filter_matches(&linear, &ev) != m) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nostr_arena a, a2;
    nostr_filter f, g;
    nostr_buf b1, b2;
    nostr_error err;
    nostr_limits lim;
    memset(&lim, 0, sizeof lim);
    lim.max_filter_values = 64; /* keep each run small */
    nostr_arena_init(&a, fuzz_mem, sizeof fuzz_mem, NULL);
    if (nostr_filter_parse(&f, (const char *)data, size, &a, &lim, &err) != NOSTR_OK) {
        if (err.code >= 0 || err.offset > size || !err.msg) abort();
        nostr_arena_free(&a);
        return 0;
    }
    fuzz_match(&f, data, size);
    nostr_buf_init(&b1, NULL);
    nostr_buf_init(&b2, NULL);
    if (nostr_filter_to_json(&f, &b1) != NOSTR_OK) abort();
    nostr_arena_init(&a2, fuzz_mem2, sizeof fuzz_mem2, NULL);
    if (nostr_filter_parse(&g, b1.data, b1.len, &a2, &lim, &err) != NOSTR_OK) abort();
    if (!fuzz_same_filter(&f, &g)) abort();
    if (nostr_filter_to_json(&g, &b2) != NOSTR_OK) abort();
    if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0) abort();
    nostr_buf_free(&b1);
    nostr_buf_free(&b2);
    nostr_arena_free(&a);
    nostr_arena_free(&a2);
    return 0;
}
