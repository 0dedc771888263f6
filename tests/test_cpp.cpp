// The three headers compile as C++ (declarations and the whole
// implementation, here with NOSTR_STATIC so it does not clash with the
// C library the other tests link), and the API works from C++.
#define NOSTR_STATIC
#define NOSTR_IMPLEMENTATION
#define NOSTR_RELAY_IMPLEMENTATION
#define NOSTR_GATEWAY_IMPLEMENTATION
#include "nostr_gateway.h"
#include <cstdio>
#include <cstring>
#include <string>

static int passed, failed;
#define EXPECT(c) ((c) ? (void)passed++ : (void)(failed++, std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c)))

int main()
{
    nostr_ctx *ctx = nostr_ctx_new(NULL);
    EXPECT(ctx != NULL);
    nostr_keys k;
    EXPECT(nostr_keys_generate(ctx, &k) == NOSTR_OK);
    nostr_arena a;
    nostr_arena_init(&a, NULL, 0, NULL);
    nostr_event ev;
    EXPECT(nostr_build_text_note(&ev, &a, 1700000000, "hello from C++") == NOSTR_OK);
    EXPECT(nostr_event_sign(ctx, &ev, &k) == NOSTR_OK);
    nostr_buf json;
    nostr_buf_init(&json, NULL);
    EXPECT(nostr_event_to_json(&ev, &json) == NOSTR_OK);
    std::string text(json.data, json.len);
    nostr_event back;
    nostr_error err;
    EXPECT(nostr_event_parse(&back, text.data(), text.size(), &a, NULL, &err) == NOSTR_OK);
    EXPECT(nostr_event_validate(ctx, &back, NULL, &err) == NOSTR_OK);
    EXPECT(std::string(back.content.ptr, back.content.len) == "hello from C++");
    nostr_buf npub;
    nostr_buf_init(&npub, NULL);
    EXPECT(nostr_nip19_encode_key("npub", k.pub, &npub) == NOSTR_OK);
    EXPECT(std::strncmp(npub.data, "npub1", 5) == 0);
    nostr_buf_free(&npub);
    nostr_buf_free(&json);
    nostr_arena_free(&a);
    nostr_keys_wipe(&k);
    nostr_ctx_free(ctx);
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
