/* The strict JSON reader: values, escapes, UTF-8, limits, error offsets. */
#include "test.h"

static nostr_json R;
static unsigned char mem[1 << 16];
static nostr_arena A;

static void start(const char *s)
{
    nostr_arena_init(&A, mem, sizeof mem, NULL);
    nostr_json_init(&R, s, strlen(s), NULL);
}

/* Parse one string value; returns its code and the decoded text. */
static int str1(const char *json, nostr_str *out)
{
    int rc;
    start(json);
    rc = nostr_json_string(&R, &A, out);
    if (!rc) rc = nostr_json_finish(&R);
    return rc;
}

static void test_strings(void)
{
    nostr_str s;
    CHECK_EQ(str1("\"abc\"", &s), NOSTR_OK);
    CHECK_EQ(s.len, 3);
    CHECK_STR(s.ptr, "abc");
    CHECK_EQ(str1("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", &s), NOSTR_OK);
    CHECK_EQ(s.len, 12);
    CHECK(memcmp(s.ptr, "a\"b\\c/d\b\f\n\r\t", 12) == 0);
    CHECK_EQ(str1("\"\\u00e9\\u20AC\"", &s), NOSTR_OK);
    CHECK_STR(s.ptr, "\xc3\xa9\xe2\x82\xac");
    CHECK_EQ(str1("\"\\ud83d\\ude00\"", &s), NOSTR_OK); /* surrogate pair -> U+1F600 */
    CHECK_STR(s.ptr, "\xf0\x9f\x98\x80");
    CHECK_EQ(str1("\"a\\u0000b\"", &s), NOSTR_OK);
    CHECK_EQ(s.len, 3);
    CHECK(s.ptr[1] == 0);
    CHECK_EQ(str1("\"\xf0\x9f\x98\x80 long enough to use the 8-byte path\"", &s), NOSTR_OK);
    CHECK_EQ(s.len, 4 + 35);
    /* errors and their offsets */
    CHECK_EQ(str1("\"\\ud83d\"", &s), NOSTR_ERR_UTF8);
    CHECK_EQ(R.err.offset, 1);
    CHECK_EQ(str1("\"\\ude00\"", &s), NOSTR_ERR_UTF8);
    CHECK_EQ(str1("\"\\x\"", &s), NOSTR_ERR_JSON);
    CHECK_EQ(str1("\"\\u12g4\"", &s), NOSTR_ERR_JSON);
    CHECK_EQ(str1("\"abc", &s), NOSTR_ERR_JSON);
    CHECK_EQ(str1("\"ab\ncd\"", &s), NOSTR_ERR_JSON);
    CHECK_EQ(R.err.offset, 3);
    CHECK_EQ(str1("\"\xc0\xaf\"", &s), NOSTR_ERR_UTF8); /* overlong '/' */
    CHECK_EQ(str1("\"\xed\xa0\x80\"", &s), NOSTR_ERR_UTF8); /* encoded surrogate */
    CHECK_EQ(str1("\"\xf4\x90\x80\x80\"", &s), NOSTR_ERR_UTF8); /* > U+10FFFF */
    CHECK_EQ(str1("\"\xe2\x82\"", &s), NOSTR_ERR_UTF8); /* truncated */
    CHECK_EQ(str1("\"12345678\xff\"", &s), NOSTR_ERR_UTF8);
    CHECK_EQ(R.err.offset, 9);
    CHECK_EQ(str1("\"ok\" x", &s), NOSTR_ERR_JSON);
    CHECK_EQ(str1("123", &s), NOSTR_ERR_FIELD);
}

static void test_numbers(void)
{
    long long v;
    unsigned long long u;
    start("  -9223372036854775808 ");
    CHECK_EQ(nostr_json_int64(&R, &v), NOSTR_OK);
    CHECK(v == (-9223372036854775807LL - 1));
    start("9223372036854775808");
    CHECK_EQ(nostr_json_int64(&R, &v), NOSTR_ERR_TOO_LARGE);
    start("18446744073709551615");
    CHECK_EQ(nostr_json_uint64(&R, &u), NOSTR_OK);
    CHECK(u == 18446744073709551615ULL);
    start("18446744073709551616");
    CHECK_EQ(nostr_json_uint64(&R, &u), NOSTR_ERR_TOO_LARGE);
    start("1.5");
    CHECK_EQ(nostr_json_int64(&R, &v), NOSTR_ERR_FIELD);
    start("1e3");
    CHECK_EQ(nostr_json_int64(&R, &v), NOSTR_ERR_FIELD);
    start("-5");
    CHECK_EQ(nostr_json_uint64(&R, &u), NOSTR_ERR_FIELD);
    start("01");
    CHECK_EQ(nostr_json_int64(&R, &v), NOSTR_OK);
    CHECK_EQ(nostr_json_finish(&R), NOSTR_ERR_JSON); /* leading zero: "0" then junk */
    start("-");
    CHECK_EQ(nostr_json_int64(&R, &v), NOSTR_ERR_JSON);
    start("\"1\"");
    CHECK_EQ(nostr_json_int64(&R, &v), NOSTR_ERR_FIELD);
}

static void test_structure(void)
{
    char key[16];
    size_t kl;
    int n = 0;
    start("{\"a\":[1,2,{\"b\":null}],\"c\":true,\"d\":\"x\",\"e\\u0066\":false}");
    CHECK_EQ(nostr_json_object_begin(&R), NOSTR_OK);
    while (nostr_json_object_next(&R, key, sizeof key, &kl) > 0) {
        n++;
        if (n == 4) CHECK_STR(key, "ef");
        CHECK_EQ(nostr_json_skip(&R), NOSTR_OK);
    }
    CHECK_EQ(n, 4);
    CHECK_EQ(nostr_json_finish(&R), NOSTR_OK);

    start("[1,2,]");
    CHECK_EQ(nostr_json_skip(&R), NOSTR_ERR_JSON);
    CHECK_EQ(R.err.offset, 5);
    start("{\"a\" 1}");
    CHECK_EQ(nostr_json_skip(&R), NOSTR_ERR_JSON);
    start("{\"a\":1,}");
    CHECK_EQ(nostr_json_skip(&R), NOSTR_ERR_JSON);
    start("[1 2]");
    CHECK_EQ(nostr_json_skip(&R), NOSTR_ERR_JSON);
    start("{1:2}");
    CHECK_EQ(nostr_json_skip(&R), NOSTR_ERR_JSON);
    start("[tru]");
    CHECK_EQ(nostr_json_skip(&R), NOSTR_ERR_JSON);
    start("[]");
    CHECK_EQ(nostr_json_skip(&R), NOSTR_OK);
    CHECK_EQ(nostr_json_finish(&R), NOSTR_OK);
    start("{}");
    CHECK_EQ(nostr_json_skip(&R), NOSTR_OK);
    start("");
    CHECK_EQ(nostr_json_skip(&R), NOSTR_ERR_JSON);
    start("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
    CHECK_EQ(nostr_json_skip(&R), NOSTR_ERR_DEPTH);
    {
        nostr_limits lim;
        memset(&lim, 0, sizeof lim);
        lim.max_input = 4;
        nostr_json_init(&R, "[1,2]", 5, &lim);
        CHECK_EQ(nostr_json_skip(&R), NOSTR_ERR_TOO_LARGE);
    }
    /* a long key never equals a short one, and is reported as cap */
    start("{\"aaaaaaaaaaaaaaaaaaaaaaaaaa\":1}");
    CHECK_EQ(nostr_json_object_begin(&R), NOSTR_OK);
    CHECK_EQ(nostr_json_object_next(&R, key, sizeof key, &kl), 1);
    CHECK_EQ(kl, sizeof key);
}

static void test_hex(void)
{
    unsigned char out[4];
    start("\"0a1b2c3d\"");
    CHECK_EQ(nostr_json_hex(&R, out, 4), NOSTR_OK);
    CHECK(out[0] == 0x0a && out[3] == 0x3d);
    start("\"0A1B2C3D\"");
    CHECK_EQ(nostr_json_hex(&R, out, 4), NOSTR_ERR_HEX);
    start("\"0a1b2c\"");
    CHECK_EQ(nostr_json_hex(&R, out, 4), NOSTR_ERR_HEX);
}

static void test_writer(void)
{
    nostr_buf b;
    const char in[] = "a\"\\\n\r\t\b\f\x01\x1f/\x7f\xe2\x80\xa8<";
    nostr_buf_init(&b, NULL);
    CHECK_EQ(nostr_json_write_string(&b, in, sizeof in - 1), NOSTR_OK);
    CHECK_STR(b.data, "\"a\\\"\\\\\\n\\r\\t\\b\\f\\u0001\\u001f/\x7f\xe2\x80\xa8<\"");
    nostr_buf_free(&b);
}

/* nostr_utf8_valid: every position of a bad byte relative to the 8-byte
 * ASCII fast path, and sequences split across its boundary. */
static void test_utf8_valid(void)
{
    static const char *const bad[] = {"\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\x80"};
    static const char *const good[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf"};
    char buf[64];
    size_t pre, k;
    for (pre = 0; pre <= 17; pre++) {
        for (k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            size_t n = strlen(bad[k]);
            memset(buf, 'a', pre);
            memcpy(buf + pre, bad[k], n);
            memset(buf + pre + n, 'b', 9);
            CHECK(!nostr_utf8_valid(buf, pre + n + 9));
            CHECK(!nostr_utf8_valid(buf, pre + n)); /* at the very end */
        }
        for (k = 0; k < sizeof good / sizeof good[0]; k++) {
            size_t n = strlen(good[k]);
            memset(buf, 'a', pre);
            memcpy(buf + pre, good[k], n);
            memset(buf + pre + n, 'b', 9);
            CHECK(nostr_utf8_valid(buf, pre + n + 9));
            CHECK(!nostr_utf8_valid(buf, pre + n - 1)); /* cut short */
        }
    }
    CHECK(nostr_utf8_valid("", 0));
}

static void test_arena_no_heap(void)
{
    unsigned char small[64];
    nostr_arena a;
    nostr_arena_init_fixed(&a, small, sizeof small);
    CHECK(nostr_arena_alloc(&a, 40) != NULL);
    CHECK(nostr_arena_alloc(&a, 40) == NULL);
    nostr_arena_init(&a, small, sizeof small, NULL);
    CHECK(nostr_arena_alloc(&a, 40) != NULL);
    CHECK(nostr_arena_alloc(&a, 40) != NULL);
    CHECK_EQ(a.heap_blocks, 1);
    nostr_arena_free(&a);
}

int main(void)
{
    TEST_RUN(test_strings);
    TEST_RUN(test_numbers);
    TEST_RUN(test_structure);
    TEST_RUN(test_hex);
    TEST_RUN(test_writer);
    TEST_RUN(test_utf8_valid);
    TEST_RUN(test_arena_no_heap);
    return TEST_DONE();
}
