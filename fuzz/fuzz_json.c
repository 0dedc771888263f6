/* libFuzzer target: the strict JSON reader on any input. Whatever it
 * accepts must be consistent: valid UTF-8 throughout, every container
 * closed, and no strict prefix of a container or string accepted. */
#define NOSTR_NO_BLOCKING
#define NOSTR_IMPLEMENTATION
#include "nostr.h"

static int nostr_fuzz_json_accepts(const char *s, size_t n)
{
    nostr_json r;
    nostr_json_init(&r, s, n, NULL);
    if (nostr_json_skip(&r) != NOSTR_OK) return 0;
    return nostr_json_finish(&r) == NOSTR_OK;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    const char *s = (const char *)data;
    nostr_json r;
    size_t last;
    nostr_json_init(&r, s, size, NULL);
    if (nostr_json_skip(&r) != NOSTR_OK) {
        /* errors stick and point inside the input */
        if (r.err.code == 0 || r.err.offset > size || !r.err.msg) __builtin_trap();
        if (nostr_json_skip(&r) != r.err.code) __builtin_trap();
        return 0;
    }
    if (r.depth != 0) __builtin_trap();
    if (nostr_json_finish(&r) != NOSTR_OK) return 0;
    /* Accepted: outside strings only ASCII is allowed, inside strings
     * only valid UTF-8, so the whole text is valid UTF-8. */
    if (!nostr_utf8_valid(s, size)) __builtin_trap();
    /* Cut before the last non-space byte of a container or string: the
     * value is then incomplete and must be refused. */
    last = size;
    while (last > 0 && (s[last - 1] == ' ' || s[last - 1] == '\n' || s[last - 1] == '\r' || s[last - 1] == '\t')) last--;
    if (last > 0 && (s[last - 1] == '}' || s[last - 1] == ']' || s[last - 1] == '"')) {
        if (nostr_fuzz_json_accepts(s, last - 1)) __builtin_trap();
    }
    /* Parsing as an event never crashes, accepted or not. */
    {
        unsigned char mem[4096];
        nostr_arena a;
        nostr_event ev;
        nostr_arena_init(&a, mem, sizeof mem, NULL);
        if (nostr_event_parse(&ev, s, size, &a, NULL, NULL) == NOSTR_OK && ev.json_offset + ev.json_len > size)
            __builtin_trap();
        nostr_arena_free(&a);
    }
    return 0;
}
