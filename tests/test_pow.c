/* NIP-13: difficulty of ids, committed difficulty (go-nostr semantics),
 * real events with nonce tags, and mining (tests/data/nip13-vectors.json). */
#include "test.h"

static nostr_ctx *ctx;
static char *file;
static size_t file_len;

/* Position the reader on the value of the top-level key `name`. */
static int seek_key(nostr_json *r, const char *name)
{
    char key[64];
    size_t kl;
    nostr_json_init(r, file, file_len, NULL);
    if (nostr_json_object_begin(r)) return 0;
    while (nostr_json_object_next(r, key, sizeof key, &kl) > 0) {
        if (!strcmp(key, name)) return 1;
        if (nostr_json_skip(r)) return 0;
    }
    return 0;
}

static void test_id_difficulty(void)
{
    nostr_json r;
    char key[64];
    size_t kl;
    int n = 0;
    CHECK(seek_key(&r, "id_difficulty"));
    CHECK_EQ(nostr_json_array_begin(&r), NOSTR_OK);
    while (nostr_json_array_next(&r) > 0) {
        unsigned char id[32];
        long long want = -1;
        int have_id = 0;
        CHECK_EQ(nostr_json_object_begin(&r), NOSTR_OK);
        while (nostr_json_object_next(&r, key, sizeof key, &kl) > 0) {
            if (!strcmp(key, "id")) {
                CHECK_EQ(nostr_json_hex(&r, id, 32), NOSTR_OK);
                have_id = 1;
            } else if (!strcmp(key, "difficulty")) {
                CHECK_EQ(nostr_json_int64(&r, &want), NOSTR_OK);
            } else {
                CHECK_EQ(nostr_json_skip(&r), NOSTR_OK);
            }
        }
        CHECK(have_id && want >= 0);
        CHECK_EQ(nostr_pow_difficulty(id), want);
        n++;
    }
    CHECK_EQ(n, 11);
    CHECK_EQ(r.err.code, 0);
}

/* Tags of a vector as an event (built with add_tag). */
static void read_tags(nostr_json *r, nostr_event *ev, nostr_arena *a)
{
    CHECK_EQ(nostr_json_array_begin(r), NOSTR_OK);
    while (nostr_json_array_next(r) > 0) {
        const char *items[8];
        size_t n = 0;
        CHECK_EQ(nostr_json_array_begin(r), NOSTR_OK);
        while (nostr_json_array_next(r) > 0) {
            nostr_str s;
            CHECK_EQ(nostr_json_string(r, a, &s), NOSTR_OK);
            if (n < 8) items[n++] = s.ptr;
        }
        CHECK_EQ(nostr_event_add_tag(ev, a, items, n), NOSTR_OK);
    }
}

static void test_committed(void)
{
    nostr_json r;
    nostr_arena a;
    char key[64];
    size_t kl;
    int n = 0;
    nostr_arena_init(&a, NULL, 0, NULL);
    CHECK(seek_key(&r, "committed_difficulty"));
    CHECK_EQ(nostr_json_array_begin(&r), NOSTR_OK);
    while (nostr_json_array_next(&r) > 0) {
        nostr_event ev;
        long long want = -1;
        CHECK_EQ(nostr_event_init(&ev, &a, 1, 0, "", 0), NOSTR_OK);
        CHECK_EQ(nostr_json_object_begin(&r), NOSTR_OK);
        while (nostr_json_object_next(&r, key, sizeof key, &kl) > 0) {
            if (!strcmp(key, "id"))
                CHECK_EQ(nostr_json_hex(&r, ev.id, 32), NOSTR_OK);
            else if (!strcmp(key, "tags"))
                read_tags(&r, &ev, &a);
            else if (!strcmp(key, "committed_ok"))
                CHECK_EQ(nostr_json_int64(&r, &want), NOSTR_OK);
            else
                CHECK_EQ(nostr_json_skip(&r), NOSTR_OK);
        }
        CHECK_EQ(nostr_pow_committed(&ev), want);
        n++;
    }
    CHECK_EQ(n, 5);
    CHECK_EQ(r.err.code, 0);
    /* More shapes: only the first nonce tag counts; malformed targets are 0. */
    {
        static const char *const cases[][3] = {
            {"nonce", "1", "0"}, {"nonce", "1", "x"}, {"nonce", "1", ""}, {"nonce", "1", "-3"}, {"nonce", "1", "99999999999"},
        };
        size_t i;
        for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            nostr_event ev;
            CHECK_EQ(nostr_event_init(&ev, &a, 1, 0, "", 0), NOSTR_OK);
            memset(ev.id, 0, 32); /* difficulty 256 */
            CHECK_EQ(nostr_event_add_tag(&ev, &a, cases[i], 3), NOSTR_OK);
            CHECK_EQ(nostr_pow_committed(&ev), 0);
        }
        {
            nostr_event ev;
            CHECK_EQ(nostr_event_init(&ev, &a, 1, 0, "", 0), NOSTR_OK);
            memset(ev.id, 0, 32);
            ev.id[2] = 0x01; /* 23 bits */
            CHECK_EQ(nostr_event_add_tag4(&ev, &a, "nonce", "5", "20", NULL), NOSTR_OK);
            CHECK_EQ(nostr_event_add_tag4(&ev, &a, "nonce", "6", "10", NULL), NOSTR_OK);
            CHECK_EQ(nostr_pow_committed(&ev), 20);
            ev.id[2] = 0x10; /* 19 bits: below the first tag's 20 */
            CHECK_EQ(nostr_pow_committed(&ev), 0);
        }
    }
    nostr_arena_free(&a);
}

static void test_real_events(void)
{
    nostr_json r;
    nostr_arena a;
    char key[64];
    size_t kl;
    int n = 0, with_target = 0;
    nostr_arena_init(&a, NULL, 0, NULL);
    CHECK(seek_key(&r, "real_events"));
    CHECK_EQ(nostr_json_array_begin(&r), NOSTR_OK);
    while (nostr_json_array_next(&r) > 0) {
        nostr_event ev;
        long long difficulty = -1, target = -1;
        int meets = -1, has_event = 0;
        CHECK_EQ(nostr_json_object_begin(&r), NOSTR_OK);
        while (nostr_json_object_next(&r, key, sizeof key, &kl) > 0) {
            if (!strcmp(key, "event")) {
                CHECK_EQ(nostr_event_parse_json(&ev, &r, &a), NOSTR_OK);
                has_event = 1;
            } else if (!strcmp(key, "difficulty")) {
                CHECK_EQ(nostr_json_int64(&r, &difficulty), NOSTR_OK);
            } else if (!strcmp(key, "committed_target") && nostr_json_peek(&r) == NOSTR_JSON_NUMBER) {
                CHECK_EQ(nostr_json_int64(&r, &target), NOSTR_OK);
            } else if (!strcmp(key, "meets_committed_target") && nostr_json_peek(&r) != NOSTR_JSON_NULL) {
                CHECK_EQ(nostr_json_bool(&r, &meets), NOSTR_OK);
            } else {
                CHECK_EQ(nostr_json_skip(&r), NOSTR_OK);
            }
        }
        CHECK(has_event);
        if (!has_event) continue;
        CHECK_EQ(nostr_event_validate(ctx, &ev, NULL, NULL), NOSTR_OK);
        CHECK_EQ(nostr_pow_difficulty(ev.id), difficulty);
        if (target >= 0) {
            with_target++;
            CHECK_EQ(nostr_pow_committed(&ev), meets == 1 ? target : 0);
        } else {
            CHECK_EQ(nostr_pow_committed(&ev), 0);
        }
        n++;
    }
    CHECK_EQ(n, 24);
    CHECK(with_target > 0);
    CHECK_EQ(r.err.code, 0);
    nostr_arena_free(&a);
}

static void test_mine(void)
{
    nostr_arena a;
    nostr_event ev;
    nostr_keys k;
    unsigned char sec[32];
    int bits;
    nostr_arena_init(&a, NULL, 0, NULL);
    memset(sec, 0x42, 32);
    CHECK_EQ(nostr_keys_from_secret(ctx, sec, &k), NOSTR_OK);
    for (bits = 12; bits <= 16; bits += 2) {
        const nostr_tag *t;
        unsigned char id[32];
        char want_target[8];
        CHECK_EQ(nostr_event_init(&ev, &a, 1, 1700000000 + bits, "mined", 5), NOSTR_OK);
        CHECK_EQ(nostr_event_add_tag4(&ev, &a, "t", "pow", NULL, NULL), NOSTR_OK);
        memcpy(ev.pubkey, k.pub, 32);
        CHECK_EQ(nostr_pow_mine(&ev, &a, bits, 0), NOSTR_OK);
        CHECK(nostr_pow_difficulty(ev.id) >= bits);
        nostr_event_compute_id(&ev, id);
        CHECK_MEM(id, ev.id, 32);
        t = nostr_event_tag(&ev, "nonce");
        CHECK(t != NULL && t->count == 3);
        sprintf(want_target, "%d", bits);
        CHECK(t && t->items[2].len == strlen(want_target) && !memcmp(t->items[2].ptr, want_target, t->items[2].len));
        CHECK_EQ(nostr_pow_committed(&ev), bits);
        CHECK_EQ(ev.tag_count, 2);
        /* signing keeps the id (same pubkey), and the result validates */
        CHECK_EQ(nostr_event_sign(ctx, &ev, &k), NOSTR_OK);
        CHECK_MEM(id, ev.id, 32);
        CHECK_EQ(nostr_event_validate(ctx, &ev, NULL, NULL), NOSTR_OK);
        /* and survives JSON */
        {
            nostr_buf b;
            nostr_event back;
            nostr_buf_init(&b, NULL);
            CHECK_EQ(nostr_event_to_json(&ev, &b), NOSTR_OK);
            CHECK_EQ(nostr_event_parse(&back, b.data, b.len, &a, NULL, NULL), NOSTR_OK);
            CHECK_EQ(nostr_pow_committed(&back), bits);
            nostr_buf_free(&b);
        }
    }
    /* An existing nonce tag is replaced, not duplicated. */
    CHECK_EQ(nostr_event_init(&ev, &a, 1, 1, "again", 5), NOSTR_OK);
    CHECK_EQ(nostr_event_add_tag4(&ev, &a, "nonce", "999", "3", NULL), NOSTR_OK);
    CHECK_EQ(nostr_event_add_tag4(&ev, &a, "p", "x", NULL, NULL), NOSTR_OK);
    CHECK_EQ(nostr_pow_mine(&ev, &a, 8, 0), NOSTR_OK);
    CHECK_EQ(ev.tag_count, 2);
    CHECK_EQ(nostr_pow_committed(&ev), 8);
    CHECK_EQ(ev.tags[1].count, 2);
    /* Out of tries, and bad arguments. */
    CHECK_EQ(nostr_event_init(&ev, &a, 1, 1, "hard", 4), NOSTR_OK);
    CHECK_EQ(nostr_pow_mine(&ev, &a, 60, 50), NOSTR_ERR_POW);
    CHECK_EQ(nostr_pow_mine(&ev, &a, -1, 50), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_pow_mine(&ev, &a, 257, 50), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_pow_mine(&ev, &a, 0, 1), NOSTR_OK);
    nostr_keys_wipe(&k);
    nostr_arena_free(&a);
}

int main(void)
{
    ctx = nostr_ctx_new(NULL);
    file = test_read_file("nip13-vectors.json", &file_len);
    if (!ctx || !file) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    TEST_RUN(test_id_difficulty);
    TEST_RUN(test_committed);
    TEST_RUN(test_real_events);
    TEST_RUN(test_mine);
    free(file);
    nostr_ctx_free(ctx);
    return TEST_DONE();
}
