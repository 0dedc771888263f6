/* Interop with nostr-tools (npm, tests/interop/node_modules) as the peer:
 * 1. events that nostr-tools signs, with every control character and
 *    escape in content and tags, parse here, serialize byte-for-byte to
 *    nostr-tools' serializeEvent output, hash to their id and verify;
 * 2. events signed here with the same contents pass nostr-tools'
 *    getEventHash and verifyEvent;
 * 3. filter matching agrees with nostr-tools' matchFilter.
 * Needs node and `npm ci --prefix tests/interop` (the test command runs it);
 * without them the test fails rather than skips. */
#define _POSIX_C_SOURCE 200809L
#include "test.h"
#include <unistd.h>

static nostr_ctx *ctx;

static int run(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
    return rc;
}

/* Walk {"event": {...}, "serialized": "..."} lines written by core.mjs make. */
static void test_parse_theirs(const char *dir)
{
    char path[512], cmd[1024];
    char *text, *line, *save = NULL;
    size_t len, n = 0;
    nostr_arena a;
    snprintf(path, sizeof path, "%s/theirs.jsonl", dir);
    snprintf(cmd, sizeof cmd, "node interop/core.mjs make %s >/dev/null", path);
    CHECK_EQ(run(cmd), 0);
    text = test_read_file(path, &len);
    CHECK(text != NULL);
    if (!text) return;
    nostr_arena_init(&a, NULL, 0, NULL);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        nostr_json r;
        nostr_event ev;
        nostr_str serialized = {NULL, 0};
        nostr_buf ours;
        char key[16];
        size_t kl;
        int got_event = 0;
        unsigned char id[32];
        nostr_json_init(&r, line, strlen(line), NULL);
        CHECK_EQ(nostr_json_object_begin(&r), NOSTR_OK);
        while (nostr_json_object_next(&r, key, sizeof key, &kl) > 0) {
            if (strcmp(key, "event") == 0) {
                CHECK_EQ(nostr_event_parse_json(&ev, &r, &a), NOSTR_OK);
                got_event = 1;
            } else if (strcmp(key, "serialized") == 0) {
                CHECK_EQ(nostr_json_string(&r, &a, &serialized), NOSTR_OK);
            } else {
                nostr_json_skip(&r);
            }
        }
        CHECK_EQ(nostr_json_finish(&r), NOSTR_OK);
        CHECK(got_event && serialized.ptr);
        if (!got_event || !serialized.ptr) break;
        nostr_buf_init(&ours, NULL);
        CHECK_EQ(nostr_event_serialize(&ev, &ours), NOSTR_OK);
        CHECK_EQ(ours.len, serialized.len);
        CHECK(ours.len == serialized.len && memcmp(ours.data, serialized.ptr, ours.len) == 0);
        nostr_event_compute_id(&ev, id);
        CHECK_MEM(id, ev.id, 32);
        CHECK_EQ(nostr_event_check(&ev, NULL, NULL), NOSTR_OK);
        CHECK_EQ(nostr_event_verify(ctx, &ev), NOSTR_OK);
        nostr_buf_free(&ours);
        nostr_arena_reset(&a);
        n++;
    }
    CHECK(n >= 40);
    nostr_arena_free(&a);
    free(text);
}

/* Sign events with tricky contents here; nostr-tools must accept them. */
static void test_theirs_verify_ours(const char *dir)
{
    char path[512], cmd[1024];
    FILE *f;
    nostr_keys k;
    nostr_arena a;
    nostr_buf out;
    int c, i;
    char content[64];
    snprintf(path, sizeof path, "%s/ours.jsonl", dir);
    f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    CHECK_EQ(nostr_keys_generate(ctx, &k), NOSTR_OK);
    nostr_arena_init(&a, NULL, 0, NULL);
    nostr_buf_init(&out, NULL);
    for (c = 0; c < 0x80; c++) {
        nostr_event ev;
        const char *tag[3];
        char tv[4] = {'t', (char)c, '"', 0};
        /* content: byte c between two letters (c == 0 gives an inner NUL) */
        content[0] = 'x';
        content[1] = (char)c;
        content[2] = 'y';
        CHECK_EQ(nostr_event_init(&ev, &a, (unsigned)(c % 2 ? 1 : 30023), 1700000000 + c, content, 3), NOSTR_OK);
        tag[0] = "t";
        tag[1] = tv;
        tag[2] = c ? tv + 1 : "";
        CHECK_EQ(nostr_event_add_tag(&ev, &a, tag, 3), NOSTR_OK);
        CHECK_EQ(nostr_event_sign(ctx, &ev, &k), NOSTR_OK);
        nostr_buf_clear(&out);
        CHECK_EQ(nostr_event_to_json(&ev, &out), NOSTR_OK);
        fprintf(f, "%s\n", out.data);
        nostr_arena_reset(&a);
    }
    for (i = 0; i < 4; i++) { /* multi-byte UTF-8, U+2028, emoji, long */
        static const char *const texts[] = {"\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80", "</script>&<>", "\\u0000", "\x7f"};
        nostr_event ev;
        CHECK_EQ(nostr_event_init(&ev, &a, 1, 1700001000 + i, texts[i], strlen(texts[i])), NOSTR_OK);
        CHECK_EQ(nostr_event_sign(ctx, &ev, &k), NOSTR_OK);
        nostr_buf_clear(&out);
        CHECK_EQ(nostr_event_to_json(&ev, &out), NOSTR_OK);
        fprintf(f, "%s\n", out.data);
        nostr_arena_reset(&a);
    }
    fclose(f);
    snprintf(cmd, sizeof cmd, "node interop/core.mjs verify %s", path);
    CHECK_EQ(run(cmd), 0);
    nostr_buf_free(&out);
    nostr_arena_free(&a);
    nostr_keys_wipe(&k);
}

/* Filter matching: our nostr_filter_matches against nostr-tools' matchFilter
 * over a grid of events and filters. */
static void test_filter_match(const char *dir)
{
    static const char *const filters[] = {
        "{}",
        "{\"kinds\":[1]}",
        "{\"kinds\":[]}",
        "{\"kinds\":[30023,7]}",
        "{\"since\":1700000010,\"until\":1700000020}",
        "{\"since\":1700000010}",
        "{\"until\":1700000005}",
        "{\"#t\":[\"t\\u0001\\\"\",\"tA\\\"\"]}",
        "{\"#t\":[\"nomatch\"]}",
        "{\"#x\":[\"t\"]}",
        "{\"kinds\":[1],\"#t\":[\"ta\\\"\",\"tb\\\"\",\"tc\\\"\"],\"since\":1700000000}",
    };
    char evpath[256], fpath[256], cmd[1024], outpath[256];
    char *events, *line, *save = NULL, *expect;
    size_t len, nf = sizeof filters / sizeof filters[0], i;
    nostr_event evs[200];
    size_t ne = 0;
    nostr_arena a;
    FILE *f;
    snprintf(evpath, sizeof evpath, "%s/ours.jsonl", dir);
    snprintf(fpath, sizeof fpath, "%s/filters.jsonl", dir);
    snprintf(outpath, sizeof outpath, "%s/match.txt", dir);
    f = fopen(fpath, "w");
    if (!f) return;
    for (i = 0; i < nf; i++) fprintf(f, "%s\n", filters[i]);
    fclose(f);
    snprintf(cmd, sizeof cmd, "node interop/core.mjs match %s %s > %s", evpath, fpath, outpath);
    CHECK_EQ(run(cmd), 0);
    events = test_read_file(evpath, &len);
    expect = test_read_file(outpath, &len);
    CHECK(events && expect);
    if (!events || !expect) return;
    nostr_arena_init(&a, NULL, 0, NULL);
    for (line = strtok_r(events, "\n", &save); line && ne < 200; line = strtok_r(NULL, "\n", &save))
        CHECK_EQ(nostr_event_parse(&evs[ne++], line, strlen(line), &a, NULL, NULL), NOSTR_OK);
    save = NULL;
    line = strtok_r(expect, "\n", &save);
    for (i = 0; i < nf && line; i++, line = strtok_r(NULL, "\n", &save)) {
        nostr_filter flt;
        size_t e, mismatches = 0;
        CHECK_EQ(nostr_filter_parse(&flt, filters[i], strlen(filters[i]), &a, NULL, NULL), NOSTR_OK);
        CHECK_EQ(strlen(line), ne);
        for (e = 0; e < ne && line[e]; e++)
            if (nostr_filter_matches(&flt, &evs[e]) != (line[e] == '1')) mismatches++;
        if (mismatches) fprintf(stderr, "filter %s: %zu mismatches with nostr-tools\n", filters[i], mismatches);
        CHECK_EQ(mismatches, 0);
    }
    CHECK_EQ(i, nf);
    nostr_arena_free(&a);
    free(events);
    free(expect);
}

int main(void)
{
    char dir[] = "/tmp/nostr-interop-XXXXXX";
    char cmd[600];
    if (access("interop/node_modules/nostr-tools/package.json", R_OK) != 0) {
        fprintf(stderr, "nostr-tools missing: run `npm ci --prefix tests/interop` (the test command does)\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    if (!mkdtemp(dir)) return 1;
    ctx = nostr_ctx_new(NULL);
    test_current = "parse_theirs";
    test_parse_theirs(dir);
    test_current = "theirs_verify_ours";
    test_theirs_verify_ours(dir);
    test_current = "filter_match";
    test_filter_match(dir);
    nostr_ctx_free(ctx);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    return TEST_DONE();
}
