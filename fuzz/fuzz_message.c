/* Message parser, both roles: any input must parse or fail cleanly; a
 * parsed message must encode, decode to the same key fields, and encode
 * to the same text again. */
#define NOSTR_NO_BLOCKING
#define NOSTR_IMPLEMENTATION
#include "nostr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static unsigned char fuzz_mem[1 << 17];
static unsigned char fuzz_mem2[1 << 17];

static int fuzz_same_str(const nostr_str *a, const nostr_str *b)
{
    return a->len == b->len && (!a->len || memcmp(a->ptr, b->ptr, a->len) == 0);
}

static int fuzz_same_msg(const nostr_msg *a, const nostr_msg *b)
{
    if (a->type != b->type || !fuzz_same_str(&a->sub_id, &b->sub_id) || !fuzz_same_str(&a->message, &b->message))
        return 0;
    if (a->filter_count != b->filter_count || a->ok != b->ok || memcmp(a->id, b->id, 32) != 0) return 0;
    if (a->count != b->count || a->approximate != b->approximate) return 0;
    if (memcmp(a->event.id, b->event.id, 32) != 0 || memcmp(a->event.pubkey, b->event.pubkey, 32) != 0 ||
        memcmp(a->event.sig, b->event.sig, 64) != 0 || a->event.kind != b->event.kind ||
        a->event.created_at != b->event.created_at || a->event.tag_count != b->event.tag_count ||
        !fuzz_same_str(&a->event.content, &b->event.content))
        return 0;
    return 1;
}

static void fuzz_one(nostr_role from, const uint8_t *data, size_t size)
{
    nostr_arena a, a2;
    nostr_msg m, m2;
    nostr_buf b1, b2;
    nostr_error err;
    nostr_limits lim;
    memset(&lim, 0, sizeof lim);
    lim.max_filter_values = 64;
    lim.max_filters = 8;
    nostr_arena_init(&a, fuzz_mem, sizeof fuzz_mem, NULL);
    if (nostr_msg_parse(&m, from, (const char *)data, size, &a, &lim, &err) != NOSTR_OK) {
        if (err.code >= 0 || err.offset > size || !err.msg) abort();
        nostr_arena_free(&a);
        return;
    }
    /* An event's recorded span lies inside the input and is an object. */
    if (m.type == NOSTR_MSG_EVENT || (m.type == NOSTR_MSG_AUTH && from == NOSTR_FROM_CLIENT)) {
        if (m.event.json_len < 2 || m.event.json_offset + m.event.json_len > size) abort();
        if (data[m.event.json_offset] != '{' || data[m.event.json_offset + m.event.json_len - 1] != '}') abort();
    }
    nostr_buf_init(&b1, NULL);
    nostr_buf_init(&b2, NULL);
    if (nostr_msg_write(&m, from, &b1) != NOSTR_OK) abort();
    nostr_arena_init(&a2, fuzz_mem2, sizeof fuzz_mem2, NULL);
    if (nostr_msg_parse(&m2, from, b1.data, b1.len, &a2, &lim, &err) != NOSTR_OK) abort();
    if (!fuzz_same_msg(&m, &m2)) abort();
    if (nostr_msg_write(&m2, from, &b2) != NOSTR_OK) abort();
    if (b1.len != b2.len || memcmp(b1.data, b2.data, b1.len) != 0) abort();
    nostr_buf_free(&b1);
    nostr_buf_free(&b2);
    nostr_arena_free(&a);
    nostr_arena_free(&a2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_one(NOSTR_FROM_CLIENT, data, size);
    fuzz_one(NOSTR_FROM_RELAY, data, size);
    return 0;
}
