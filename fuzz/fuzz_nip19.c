/* Fuzz NIP-19: decode arbitrary bytes; whatever decodes must encode, and
 * the encoding must decode to the same entity. Raw bech32 likewise. */
#define NOSTR_NO_BLOCKING
#define NOSTR_IMPLEMENTATION
#include "nostr.h"

#include <stdlib.h>

static int fuzz_same_str(nostr_str a, nostr_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static int fuzz_same(const nostr_nip19 *a, const nostr_nip19 *b)
{
    size_t i;
    if (a->type != b->type || memcmp(a->key, b->key, 32) != 0) return 0;
    if (!fuzz_same_str(a->identifier, b->identifier) || a->relay_count != b->relay_count) return 0;
    for (i = 0; i < a->relay_count; i++)
        if (!fuzz_same_str(a->relays[i], b->relays[i])) return 0;
    if (a->has_author != b->has_author || (a->has_author && memcmp(a->author, b->author, 32) != 0)) return 0;
    return a->has_kind == b->has_kind && (!a->has_kind || a->kind == b->kind);
}

static void fuzz_bech32(const char *s, size_t len)
{
    char hrp[5001];
    unsigned char data[3200];
    size_t n, i;
    nostr_buf out;
    if (nostr_bech32_decode(s, len, hrp, sizeof hrp, data, sizeof data, &n, NULL) != NOSTR_OK) return;
    nostr_buf_init(&out, NULL);
    /* a decoded string re-encodes to its lowercase form */
    if (nostr_bech32_encode(hrp, data, n, &out) != NOSTR_OK || out.len != len) abort();
    for (i = 0; i < len; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
        if (out.data[i] != c) abort();
    }
    nostr_buf_free(&out);
}

/* Decode s; on success encode, re-decode and compare. */
static void fuzz_entity(const char *s, size_t size)
{
    static unsigned char mem[1 << 14];
    nostr_arena a;
    nostr_nip19 e, back;
    nostr_buf out;
    nostr_error err;
    unsigned char key[32];
    int rc;
    nostr_arena_init(&a, mem, sizeof mem, NULL);
    rc = nostr_nip19_decode(s, size, &e, &a, &err);
    if (rc != NOSTR_OK) {
        if (rc >= 0 || !err.msg || e.type != NOSTR_NIP19_NONE) abort();
        nostr_arena_free(&a);
        return;
    }
    if (e.type != NOSTR_NIP19_NADDR) {
        if (nostr_nip19_decode_key(s, size, e.type, key, NULL) != NOSTR_OK) abort();
        if (memcmp(key, e.key, 32) != 0) abort();
    }
    nostr_buf_init(&out, NULL);
    /* the ascending-order form is never longer than what was decoded (it
     * only drops unknown records), so encoding cannot fail */
    if (nostr_nip19_encode(&e, &out) != NOSTR_OK) abort();
    if (nostr_nip19_decode(out.data, out.len, &back, &a, NULL) != NOSTR_OK) abort();
    if (!fuzz_same(&e, &back)) abort();
    nostr_buf_free(&out);
    nostr_arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const prefixes[] = {"npub", "nsec", "note", "nprofile", "nevent", "naddr"};
    nostr_buf s;
    /* the bytes as a string */
    fuzz_bech32((const char *)data, size);
    fuzz_entity((const char *)data, size);
    /* the bytes as a payload: first byte picks the prefix, so the TLV
     * parser sees inputs with valid checksums */
    if (size == 0) return 0;
    nostr_buf_init(&s, NULL);
    if (nostr_bech32_encode(prefixes[data[0] % 6], data + 1, size - 1, &s) == NOSTR_OK) fuzz_entity(s.data, s.len);
    nostr_buf_free(&s);
    return 0;
}
