/* Event builders: each one's event is signed, validated, written as JSON,
 * parsed back, and its kind, content and tags compared with what the NIP
 * asks for. */
#include "test.h"

#define NOW 1700000000LL

static nostr_ctx *ctx;
static nostr_keys me, alice, bob;
static nostr_arena A;

/* Sign, validate, write, parse back; checks both copies agree and
 * returns the parsed copy (in the arena) in *back. */
static void round_trip(nostr_event *ev, nostr_event *back)
{
    nostr_error err;
    nostr_buf json;
    size_t i, j;
    memset(back, 0, sizeof *back);
    CHECK_EQ(nostr_event_sign(ctx, ev, &me), NOSTR_OK);
    CHECK_MEM(ev->pubkey, me.pub, 32);
    CHECK_EQ(nostr_event_validate(ctx, ev, NULL, &err), NOSTR_OK);
    nostr_buf_init(&json, NULL);
    CHECK_EQ(nostr_event_to_json(ev, &json), NOSTR_OK);
    CHECK_EQ(nostr_event_parse(back, json.data, json.len, &A, NULL, &err), NOSTR_OK);
    CHECK_EQ(nostr_event_validate(ctx, back, NULL, &err), NOSTR_OK);
    CHECK_MEM(back->id, ev->id, 32);
    CHECK_MEM(back->sig, ev->sig, 64);
    CHECK_EQ(back->kind, ev->kind);
    CHECK_EQ(back->created_at, NOW);
    CHECK_EQ(back->content.len, ev->content.len);
    CHECK(back->content.len == ev->content.len && memcmp(back->content.ptr, ev->content.ptr, ev->content.len) == 0);
    CHECK_EQ(back->tag_count, ev->tag_count);
    for (i = 0; i < back->tag_count && i < ev->tag_count; i++) {
        CHECK_EQ(back->tags[i].count, ev->tags[i].count);
        for (j = 0; j < back->tags[i].count && j < ev->tags[i].count; j++) {
            CHECK_EQ(back->tags[i].items[j].len, ev->tags[i].items[j].len);
            CHECK_STR(back->tags[i].items[j].ptr, ev->tags[i].items[j].ptr);
        }
    }
    nostr_buf_free(&json);
}

/* expected: the tags' items in order, each tag ended by NULL, the list
 * ended by a second NULL. */
static void check_tags(const nostr_event *ev, const char *const *expected)
{
    size_t t = 0, i;
    while (*expected) {
        CHECK(t < ev->tag_count);
        if (t >= ev->tag_count) return;
        for (i = 0; expected[i]; i++) {
            CHECK(i < ev->tags[t].count);
            if (i < ev->tags[t].count) CHECK_STR(ev->tags[t].items[i].ptr, expected[i]);
        }
        CHECK_EQ(ev->tags[t].count, i);
        expected += i + 1;
        t++;
    }
    CHECK_EQ(ev->tag_count, t);
}

static void check_content(const nostr_event *ev, const char *content)
{
    CHECK_EQ(ev->content.len, strlen(content));
    CHECK_STR(ev->content.ptr, content);
}

/* A signed event by `by` to point at. */
static void make_target(nostr_event *ev, unsigned kind, const char *content, const nostr_keys *by)
{
    CHECK_EQ(nostr_event_init(ev, &A, kind, NOW - 100, content, strlen(content)), NOSTR_OK);
    CHECK_EQ(nostr_event_sign(ctx, ev, by), NOSTR_OK);
}

static void test_metadata(void)
{
    nostr_event ev, back;
    CHECK_EQ(nostr_build_metadata(&ev, &A, NOW, "alice", "says \"hi\"\n\x01 caf\xc3\xa9", "https://x.example/p.png"),
             NOSTR_OK);
    CHECK_EQ(ev.kind, 0);
    round_trip(&ev, &back);
    check_content(&back, "{\"name\":\"alice\",\"about\":\"says \\\"hi\\\"\\n\\u0001 caf\xc3\xa9\","
                         "\"picture\":\"https://x.example/p.png\"}");
    CHECK_EQ(back.tag_count, 0);

    CHECK_EQ(nostr_build_metadata(&ev, &A, NOW, "bob", NULL, "p.png"), NOSTR_OK);
    round_trip(&ev, &back);
    check_content(&back, "{\"name\":\"bob\",\"picture\":\"p.png\"}");
    CHECK_EQ(nostr_build_metadata(&ev, &A, NOW, NULL, "only about", NULL), NOSTR_OK);
    check_content(&ev, "{\"about\":\"only about\"}");
    CHECK_EQ(nostr_build_metadata(&ev, &A, NOW, NULL, NULL, NULL), NOSTR_OK);
    round_trip(&ev, &back);
    check_content(&back, "{}");

    CHECK_EQ(nostr_build_metadata(&ev, &A, NOW, "bad \xff", NULL, NULL), NOSTR_ERR_UTF8);
    CHECK_EQ(nostr_build_metadata(NULL, &A, NOW, "x", NULL, NULL), NOSTR_ERR_ARG);
}

static void test_text_note(void)
{
    nostr_event ev, back;
    CHECK_EQ(nostr_build_text_note(&ev, &A, NOW, "hello \xf0\x9f\x8c\x8d\t\"world\""), NOSTR_OK);
    CHECK_EQ(ev.kind, 1);
    round_trip(&ev, &back);
    check_content(&back, "hello \xf0\x9f\x8c\x8d\t\"world\"");
    CHECK_EQ(back.tag_count, 0);
    CHECK_EQ(nostr_build_text_note(&ev, &A, NOW, ""), NOSTR_OK);
    round_trip(&ev, &back);
    check_content(&back, "");
    CHECK_EQ(nostr_build_text_note(&ev, &A, NOW, NULL), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_build_text_note(&ev, &A, NOW, "\xc3"), NOSTR_ERR_UTF8);
}

static void test_reply(void)
{
    nostr_event root, parent, parent2, ev, back;
    char root_id[65], parent_id[65], alice_pub[65], bob_pub[65];
    make_target(&root, 1, "the root", &alice);
    make_target(&parent, 1, "a reply in the thread", &bob);
    make_target(&parent2, 1, "another reply by the root's author", &alice);
    nostr_hex_encode(root.id, 32, root_id);
    nostr_hex_encode(parent.id, 32, parent_id);
    nostr_hex_encode(alice.pub, 32, alice_pub);
    nostr_hex_encode(bob.pub, 32, bob_pub);

    /* root and parent by different authors, with a relay hint */
    CHECK_EQ(nostr_build_reply(&ev, &A, NOW, "agreed", &root, &parent, "wss://relay.example"), NOSTR_OK);
    CHECK_EQ(ev.kind, 1);
    round_trip(&ev, &back);
    check_content(&back, "agreed");
    {
        const char *tags[] = {"e", root_id,   "wss://relay.example", "root",  NULL,
                              "e", parent_id, "wss://relay.example", "reply", NULL,
                              "p", alice_pub, NULL,                  "p",     bob_pub, NULL, NULL};
        check_tags(&back, tags);
    }

    /* no relay: empty hint; same author for both: one p tag */
    CHECK_EQ(nostr_build_reply(&ev, &A, NOW, "me too", &root, &parent2, NULL), NOSTR_OK);
    round_trip(&ev, &back);
    {
        char parent2_id[65];
        const char *tags[] = {"e", root_id, "", "root", NULL, "e", parent2_id, "", "reply", NULL,
                              "p", alice_pub, NULL, NULL};
        nostr_hex_encode(parent2.id, 32, parent2_id);
        check_tags(&back, tags);
    }

    /* a direct reply to the root: only the root marker */
    {
        const char *tags[] = {"e", root_id, "", "root", NULL, "p", alice_pub, NULL, NULL};
        CHECK_EQ(nostr_build_reply(&ev, &A, NOW, "first!", &root, &root, NULL), NOSTR_OK);
        round_trip(&ev, &back);
        check_tags(&back, tags);
        CHECK_EQ(nostr_build_reply(&ev, &A, NOW, "first!", &root, NULL, NULL), NOSTR_OK);
        check_tags(&ev, tags);
        CHECK_EQ(nostr_build_reply(&ev, &A, NOW, "first!", NULL, &root, NULL), NOSTR_OK);
        check_tags(&ev, tags);
    }
    CHECK_EQ(nostr_build_reply(&ev, &A, NOW, "orphan", NULL, NULL, NULL), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_build_reply(&ev, &A, NOW, NULL, &root, NULL, NULL), NOSTR_ERR_ARG);
}

static void test_contacts(void)
{
    unsigned char keys[3][32];
    char hex[3][65];
    nostr_event ev, back;
    int i;
    memcpy(keys[0], alice.pub, 32);
    memcpy(keys[1], bob.pub, 32);
    memset(keys[2], 0xab, 32);
    for (i = 0; i < 3; i++) nostr_hex_encode(keys[i], 32, hex[i]);
    CHECK_EQ(nostr_build_contacts(&ev, &A, NOW, keys, 3), NOSTR_OK);
    CHECK_EQ(ev.kind, 3);
    round_trip(&ev, &back);
    check_content(&back, "");
    {
        const char *tags[] = {"p", hex[0], NULL, "p", hex[1], NULL, "p", hex[2], NULL, NULL};
        check_tags(&back, tags);
    }
    CHECK_EQ(nostr_build_contacts(&ev, &A, NOW, NULL, 0), NOSTR_OK);
    round_trip(&ev, &back);
    CHECK_EQ(back.tag_count, 0);
    CHECK_EQ(nostr_build_contacts(&ev, &A, NOW, NULL, 2), NOSTR_ERR_ARG);
}

static void test_deletion(void)
{
    nostr_event t1, t2, ev, back;
    unsigned char ids[2][32];
    char hex[2][65];
    make_target(&t1, 1, "oops", &me);
    make_target(&t2, 1, "oops again", &me);
    memcpy(ids[0], t1.id, 32);
    memcpy(ids[1], t2.id, 32);
    nostr_hex_encode(ids[0], 32, hex[0]);
    nostr_hex_encode(ids[1], 32, hex[1]);
    CHECK_EQ(nostr_build_deletion(&ev, &A, NOW, ids, 2, "posted by mistake"), NOSTR_OK);
    CHECK_EQ(ev.kind, 5);
    round_trip(&ev, &back);
    check_content(&back, "posted by mistake");
    {
        const char *tags[] = {"e", hex[0], NULL, "e", hex[1], NULL, NULL};
        check_tags(&back, tags);
    }
    CHECK_EQ(nostr_build_deletion(&ev, &A, NOW, ids, 1, NULL), NOSTR_OK);
    round_trip(&ev, &back);
    check_content(&back, "");
    {
        const char *tags[] = {"e", hex[0], NULL, NULL};
        check_tags(&back, tags);
    }
}

static void test_repost(void)
{
    nostr_event note, article, ev, back;
    nostr_buf note_json;
    char note_id[65], article_id[65], alice_pub[65], bob_pub[65];
    make_target(&note, 1, "worth sharing", &alice);
    make_target(&article, 30023, "# long form", &bob);
    nostr_hex_encode(note.id, 32, note_id);
    nostr_hex_encode(article.id, 32, article_id);
    nostr_hex_encode(alice.pub, 32, alice_pub);
    nostr_hex_encode(bob.pub, 32, bob_pub);
    nostr_buf_init(&note_json, NULL);
    CHECK_EQ(nostr_event_to_json(&note, &note_json), NOSTR_OK);

    /* a text note: kind 6 carrying the note's JSON */
    CHECK_EQ(nostr_build_repost(&ev, &A, NOW, &note, note_json.data, "wss://r.example"), NOSTR_OK);
    CHECK_EQ(ev.kind, 6);
    round_trip(&ev, &back);
    check_content(&back, note_json.data);
    {
        const char *tags[] = {"e", note_id, "wss://r.example", NULL, "p", alice_pub, NULL, NULL};
        check_tags(&back, tags);
    }
    /* another kind: kind 16 generic repost with a k tag */
    CHECK_EQ(nostr_build_repost(&ev, &A, NOW, &article, NULL, NULL), NOSTR_OK);
    CHECK_EQ(ev.kind, 16);
    round_trip(&ev, &back);
    check_content(&back, "");
    {
        const char *tags[] = {"e", article_id, "", NULL, "p", bob_pub, NULL, "k", "30023", NULL, NULL};
        check_tags(&back, tags);
    }
    CHECK_EQ(nostr_build_repost(&ev, &A, NOW, NULL, NULL, NULL), NOSTR_ERR_ARG);
    nostr_buf_free(&note_json);
}

static void test_reaction(void)
{
    nostr_event note, pic, ev, back;
    char note_id[65], pic_id[65], alice_pub[65], bob_pub[65];
    make_target(&note, 1, "react to me", &alice);
    make_target(&pic, 20, "a picture", &bob);
    nostr_hex_encode(note.id, 32, note_id);
    nostr_hex_encode(pic.id, 32, pic_id);
    nostr_hex_encode(alice.pub, 32, alice_pub);
    nostr_hex_encode(bob.pub, 32, bob_pub);

    CHECK_EQ(nostr_build_reaction(&ev, &A, NOW, &note, NULL), NOSTR_OK);
    CHECK_EQ(ev.kind, 7);
    round_trip(&ev, &back);
    check_content(&back, "+");
    {
        const char *tags[] = {"e", note_id, NULL, "p", alice_pub, NULL, "k", "1", NULL, NULL};
        check_tags(&back, tags);
    }
    CHECK_EQ(nostr_build_reaction(&ev, &A, NOW, &pic, "\xf0\x9f\xa4\x99"), NOSTR_OK);
    round_trip(&ev, &back);
    check_content(&back, "\xf0\x9f\xa4\x99");
    {
        const char *tags[] = {"e", pic_id, NULL, "p", bob_pub, NULL, "k", "20", NULL, NULL};
        check_tags(&back, tags);
    }
    CHECK_EQ(nostr_build_reaction(&ev, &A, NOW, &note, "-"), NOSTR_OK);
    check_content(&ev, "-");
    CHECK_EQ(nostr_build_reaction(&ev, &A, NOW, NULL, "+"), NOSTR_ERR_ARG);
}

static void test_auth(void)
{
    nostr_event ev, back;
    const char *tags[] = {"relay", "wss://relay.example/", NULL, "challenge", "c-123", NULL, NULL};
    CHECK_EQ(nostr_build_auth(&ev, &A, NOW, "wss://relay.example/", "c-123"), NOSTR_OK);
    CHECK_EQ(ev.kind, 22242);
    round_trip(&ev, &back);
    check_content(&back, "");
    check_tags(&back, tags);
    CHECK_EQ(nostr_build_auth(&ev, &A, NOW, NULL, "c"), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_build_auth(&ev, &A, NOW, "wss://r", NULL), NOSTR_ERR_ARG);
}

int main(void)
{
    ctx = nostr_ctx_new(NULL);
    CHECK(ctx != NULL);
    if (!ctx) return TEST_DONE();
    CHECK_EQ(nostr_keys_generate(ctx, &me), NOSTR_OK);
    CHECK_EQ(nostr_keys_generate(ctx, &alice), NOSTR_OK);
    CHECK_EQ(nostr_keys_generate(ctx, &bob), NOSTR_OK);
    nostr_arena_init(&A, NULL, 0, NULL);
    TEST_RUN(test_metadata);
    TEST_RUN(test_text_note);
    TEST_RUN(test_reply);
    TEST_RUN(test_contacts);
    TEST_RUN(test_deletion);
    TEST_RUN(test_repost);
    TEST_RUN(test_reaction);
    TEST_RUN(test_auth);
    nostr_arena_free(&A);
    nostr_keys_wipe(&me);
    nostr_keys_wipe(&alice);
    nostr_keys_wipe(&bob);
    nostr_ctx_free(ctx);
    return TEST_DONE();
}
