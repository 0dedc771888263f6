/* libFuzzer target: event parsing. On success the event must serialize,
 * its id must equal SHA-256 of the serialization, and to_json must parse
 * back to the same event and reproduce itself. */
#define NOSTR_NO_BLOCKING
#define NOSTR_IMPLEMENTATION
#include "nostr.h"

static int nostr_fuzz_str_eq(const nostr_str *a, const nostr_str *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

static int nostr_fuzz_events_equal(const nostr_event *a, const nostr_event *b)
{
    size_t i, j;
    if (memcmp(a->id, b->id, 32) || memcmp(a->pubkey, b->pubkey, 32) || memcmp(a->sig, b->sig, 64)) return 0;
    if (a->created_at != b->created_at || a->kind != b->kind || a->tag_count != b->tag_count) return 0;
    if (!nostr_fuzz_str_eq(&a->content, &b->content)) return 0;
    for (i = 0; i < a->tag_count; i++) {
        if (a->tags[i].count != b->tags[i].count) return 0;
        for (j = 0; j < a->tags[i].count; j++)
            if (!nostr_fuzz_str_eq(&a->tags[i].items[j], &b->tags[i].items[j])) return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    unsigned char mem[2048];
    nostr_arena a;
    nostr_event ev, back;
    nostr_error err;
    nostr_buf canon, json, json2;
    unsigned char id1[32], id2[32];
    int rc;
    nostr_arena_init(&a, mem, sizeof mem, NULL);
    rc = nostr_event_parse(&ev, (const char *)data, size, &a, NULL, &err);
    if (rc != NOSTR_OK) {
        if (rc >= 0 || err.code != rc || err.offset > size || !err.msg) __builtin_trap();
        nostr_arena_free(&a);
        return 0;
    }
    if (ev.json_offset + ev.json_len > size || ev.kind > 65535 || ev.created_at < 0) __builtin_trap();
    nostr_buf_init(&canon, NULL);
    nostr_buf_init(&json, NULL);
    nostr_buf_init(&json2, NULL);
    if (nostr_event_serialize(&ev, &canon) != NOSTR_OK) __builtin_trap();
    nostr_sha256(canon.data, canon.len, id1);
    nostr_event_compute_id(&ev, id2);
    if (memcmp(id1, id2, 32) != 0) __builtin_trap();
    nostr_sha256_portable(canon.data, canon.len, id2);
    if (memcmp(id1, id2, 32) != 0) __builtin_trap();
    /* check agrees with the id comparison (created_at may be out of range) */
    rc = nostr_event_check(&ev, NULL, NULL);
    if (rc == NOSTR_OK && memcmp(id1, ev.id, 32) != 0) __builtin_trap();
    if (rc == NOSTR_ERR_ID && memcmp(id1, ev.id, 32) == 0) __builtin_trap();
    if (nostr_event_to_json(&ev, &json) != NOSTR_OK) __builtin_trap();
    if (nostr_event_parse(&back, json.data, json.len, &a, NULL, NULL) != NOSTR_OK) __builtin_trap();
    if (!nostr_fuzz_events_equal(&ev, &back)) __builtin_trap();
    if (nostr_event_to_json(&back, &json2) != NOSTR_OK) __builtin_trap();
    if (json.len != json2.len || memcmp(json.data, json2.data, json.len) != 0) __builtin_trap();
    /* tag helpers never crash */
    (void)nostr_event_expiration(&ev);
    (void)nostr_event_is_protected(&ev);
    (void)nostr_event_d_tag(&ev);
    (void)nostr_pow_committed(&ev);
    nostr_buf_free(&canon);
    nostr_buf_free(&json);
    nostr_buf_free(&json2);
    nostr_arena_free(&a);
    return 0;
}
