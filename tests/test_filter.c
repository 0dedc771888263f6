/* NIP-01 filters: parsing, errors and their offsets, limits, canonical
 * serialization round trips, and matching. */
#include "test.h"

static unsigned char mem[1 << 20];
static nostr_arena A;
static nostr_filter F;
static nostr_error E;

#define ID1 "1111111111111111111111111111111111111111111111111111111111111111"
#define ID2 "2222222222222222222222222222222222222222222222222222222222222222"
#define ID3 "a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3"
#define PK1 "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
#define PK2 "c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5"

static int parse(const char *json)
{
    nostr_arena_init(&A, mem, sizeof mem, NULL);
    memset(&E, 0, sizeof E);
    return nostr_filter_parse(&F, json, strlen(json), &A, NULL, &E);
}

static int parse_lim(const char *json, const nostr_limits *lim)
{
    nostr_arena_init(&A, mem, sizeof mem, NULL);
    memset(&E, 0, sizeof E);
    return nostr_filter_parse(&F, json, strlen(json), &A, lim, &E);
}

/* Serialize F into a static buffer (a heap nostr_buf, freed here). */
static const char *write_f(const nostr_filter *f)
{
    static char text[1 << 16];
    nostr_buf b;
    int rc;
    nostr_buf_init(&b, NULL);
    rc = nostr_filter_to_json(f, &b);
    if (rc || b.len >= sizeof text) {
        nostr_buf_free(&b);
        return "(write failed)";
    }
    memcpy(text, b.data, b.len + 1);
    nostr_buf_free(&b);
    return text;
}

static void hex32(const char *hex, unsigned char out[32])
{
    CHECK_EQ(nostr_hex_decode(hex, 64, out, 32), NOSTR_OK);
}

static void test_parse_fields(void)
{
    unsigned char id[32];
    CHECK_EQ(parse("{\"ids\":[\"" ID2 "\",\"" ID1 "\"],\"authors\":[\"" PK1 "\"],\"kinds\":[1,0,65535],"
                   "\"#e\":[\"x\",\"y\"],\"#P\":[],\"since\":10,\"until\":20,\"limit\":5,\"search\":\"best nostr\"}"),
             NOSTR_OK);
    CHECK_EQ(F.fields & 0x7f, NOSTR_FILTER_IDS | NOSTR_FILTER_AUTHORS | NOSTR_FILTER_KINDS | NOSTR_FILTER_SINCE |
                                  NOSTR_FILTER_UNTIL | NOSTR_FILTER_LIMIT | NOSTR_FILTER_SEARCH);
    CHECK(F.fields & NOSTR_FILTER_SORTED);
    CHECK_EQ(F.ids_count, 2);
    hex32(ID1, id); /* sorted: ID1 before ID2 */
    CHECK_MEM(F.ids[0], id, 32);
    hex32(ID2, id);
    CHECK_MEM(F.ids[1], id, 32);
    CHECK_EQ(F.authors_count, 1);
    hex32(PK1, id);
    CHECK_MEM(F.authors[0], id, 32);
    CHECK_EQ(F.kinds_count, 3);
    CHECK_EQ(F.kinds[0], 0);
    CHECK_EQ(F.kinds[1], 1);
    CHECK_EQ(F.kinds[2], 65535);
    CHECK_EQ(F.tags_count, 2);
    CHECK_EQ(F.tags[0].name, 'e');
    CHECK_EQ(F.tags[0].count, 2);
    CHECK_STR(F.tags[0].values[0].ptr, "x");
    CHECK_STR(F.tags[0].values[1].ptr, "y");
    CHECK_EQ(F.tags[1].name, 'P');
    CHECK_EQ(F.tags[1].count, 0);
    CHECK_EQ(F.since, 10);
    CHECK_EQ(F.until, 20);
    CHECK_EQ(F.limit, 5);
    CHECK_EQ(F.search.len, 10);
    CHECK_STR(F.search.ptr, "best nostr");

    /* Empty object: nothing present. */
    CHECK_EQ(parse("  { }  "), NOSTR_OK);
    CHECK_EQ(F.fields & ~(unsigned)NOSTR_FILTER_SORTED, 0);
    CHECK_EQ(F.tags_count, 0);

    /* Escaped keys are keys all the same; big values. */
    CHECK_EQ(parse("{\"\\u006binds\":[1],\"since\":9223372036854775807,\"limit\":18446744073709551615}"), NOSTR_OK);
    CHECK_EQ(F.kinds_count, 1);
    CHECK(F.since == 9223372036854775807LL);
    CHECK(F.limit == 18446744073709551615ULL);

    /* Duplicates are dropped, values sorted. */
    CHECK_EQ(parse("{\"kinds\":[7,1,7,3,1],\"#t\":[\"b\",\"a\",\"b\",\"\",\"ab\"]}"), NOSTR_OK);
    CHECK_EQ(F.kinds_count, 3);
    CHECK_EQ(F.kinds[0], 1);
    CHECK_EQ(F.kinds[2], 7);
    CHECK_EQ(F.tags[0].count, 4);
    CHECK_STR(F.tags[0].values[0].ptr, "");
    CHECK_STR(F.tags[0].values[1].ptr, "a");
    CHECK_STR(F.tags[0].values[2].ptr, "ab");
    CHECK_STR(F.tags[0].values[3].ptr, "b");
}

static void test_parse_at_reader(void)
{
    /* Two filters inside an array, read with the pull reader. */
    const char *json = "[{\"kinds\":[1]} , {\"#p\":[\"" PK1 "\"]}]";
    nostr_json r;
    nostr_filter a, b;
    nostr_arena_init(&A, mem, sizeof mem, NULL);
    nostr_json_init(&r, json, strlen(json), NULL);
    CHECK_EQ(nostr_json_array_begin(&r), NOSTR_OK);
    CHECK_EQ(nostr_json_array_next(&r), 1);
    CHECK_EQ(nostr_filter_parse_json(&a, &r, &A), NOSTR_OK);
    CHECK_EQ(nostr_json_array_next(&r), 1);
    CHECK_EQ(nostr_filter_parse_json(&b, &r, &A), NOSTR_OK);
    CHECK_EQ(nostr_json_array_next(&r), 0);
    CHECK_EQ(nostr_json_finish(&r), NOSTR_OK);
    CHECK_EQ(a.kinds_count, 1);
    CHECK_EQ(b.tags_count, 1);
    CHECK_STR(b.tags[0].values[0].ptr, PK1);
}

struct bad_case {
    const char *json;
    int code;
    size_t offset;
    const char *msg; /* substring expected in the error message */
};

static void test_errors(void)
{
    static const struct bad_case cases[] = {
        {"[]", NOSTR_ERR_FILTER, 0, "object"},
        {"\"ids\"", NOSTR_ERR_FILTER, 0, "object"},
        {"{\"ids\":[\"" ID1 "\"],\"ids\":[]}", NOSTR_ERR_FILTER, 76, "duplicate"},
        {"{\"#e\":[],\"#e\":[]}", NOSTR_ERR_FILTER, 9, "duplicate"},
        {"{\"since\":1, \"since\":1}", NOSTR_ERR_FILTER, 12, "duplicate"},
        {"{\"foo\":1}", NOSTR_ERR_FILTER, 1, "unknown filter field"},
        {"{\"#\":[]}", NOSTR_ERR_FILTER, 1, "unknown filter field"},
        {"{\"#ee\":[]}", NOSTR_ERR_FILTER, 1, "unknown filter field"},
        {"{\"#1\":[]}", NOSTR_ERR_FILTER, 1, "unknown filter field"},
        {"{\"#\xc3\xa9\":[]}", NOSTR_ERR_FILTER, 1, "unknown filter field"},
        {"{\"IDS\":[]}", NOSTR_ERR_FILTER, 1, "unknown filter field"},
        {"{\"ids\\u0000\":[]}", NOSTR_ERR_FILTER, 1, "unknown filter field"},
        {"{\"a_very_long_key_indeed\":[]}", NOSTR_ERR_FILTER, 1, "unknown filter field"},
        {"{\"ids\":\"" ID1 "\"}", NOSTR_ERR_FILTER, 7, "ids"},
        {"{\"ids\":[\"abc\"]}", NOSTR_ERR_FILTER, 8, "ids"},
        {"{\"ids\":[\"" ID1 "1\"]}", NOSTR_ERR_FILTER, 8, "ids"},
        {"{\"ids\":[\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"]}", NOSTR_ERR_FILTER, 8, "ids"},
        {"{\"ids\":[1]}", NOSTR_ERR_FILTER, 8, "ids"},
        {"{\"authors\":[null]}", NOSTR_ERR_FILTER, 12, "authors"},
        {"{\"authors\":{}}", NOSTR_ERR_FILTER, 11, "authors"},
        {"{\"kinds\":[65536]}", NOSTR_ERR_FILTER, 10, "kinds"},
        {"{\"kinds\":[1,-1]}", NOSTR_ERR_FILTER, 12, "kinds"},
        {"{\"kinds\":[1.5]}", NOSTR_ERR_FILTER, 10, "kinds"},
        {"{\"kinds\":[\"1\"]}", NOSTR_ERR_FILTER, 10, "kinds"},
        {"{\"kinds\":[99999999999999999999999]}", NOSTR_ERR_FILTER, 10, "kinds"},
        {"{\"kinds\":1}", NOSTR_ERR_FILTER, 9, "kinds"},
        {"{\"#e\":\"x\"}", NOSTR_ERR_FILTER, 6, "#<letter>"},
        {"{\"#e\":[1]}", NOSTR_ERR_FILTER, 7, "#<letter>"},
        {"{\"#e\":[[\"x\"]]}", NOSTR_ERR_FILTER, 7, "#<letter>"},
        {"{\"since\":-1}", NOSTR_ERR_FILTER, 9, "since"},
        {"{\"since\":\"1\"}", NOSTR_ERR_FILTER, 9, "since"},
        {"{\"since\":9223372036854775808}", NOSTR_ERR_FILTER, 9, "since"},
        {"{\"until\":1e3}", NOSTR_ERR_FILTER, 9, "until"},
        {"{\"until\":null}", NOSTR_ERR_FILTER, 9, "until"},
        {"{\"limit\":-5}", NOSTR_ERR_FILTER, 9, "limit"},
        {"{\"limit\":true}", NOSTR_ERR_FILTER, 9, "limit"},
        {"{\"limit\":18446744073709551616}", NOSTR_ERR_FILTER, 9, "limit"},
        {"{\"search\":[\"x\"]}", NOSTR_ERR_FILTER, 10, "search"},
        /* Malformed JSON keeps the reader's codes. */
        {"", NOSTR_ERR_JSON, 0, ""},
        {"{", NOSTR_ERR_JSON, 1, ""},
        {"{\"kinds\":[1,]}", NOSTR_ERR_JSON, 12, "trailing comma"},
        {"{\"kinds\":[1] \"since\":1}", NOSTR_ERR_JSON, 13, ""},
        {"{\"search\":\"\xff\"}", NOSTR_ERR_UTF8, 11, ""},
        {"{\"#e\":[\"\\ud800\"]}", NOSTR_ERR_UTF8, 8, ""},
        {"{\"kinds\":[1]} x", NOSTR_ERR_JSON, 14, "trailing"},
        {"{\"kinds\":[1]}{}", NOSTR_ERR_JSON, 13, "trailing"},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = parse(cases[i].json);
        if (rc != cases[i].code || E.offset != cases[i].offset || !E.msg || !strstr(E.msg, cases[i].msg))
            fprintf(stderr, "case %u: %s -> %d at %u (%s)\n", (unsigned)i, cases[i].json, rc, (unsigned)E.offset,
                    E.msg ? E.msg : "");
        CHECK_EQ(rc, cases[i].code);
        CHECK_EQ(E.code, cases[i].code);
        CHECK_EQ(E.offset, cases[i].offset);
        CHECK(E.msg && strstr(E.msg, cases[i].msg));
    }
    /* Arguments. */
    CHECK_EQ(nostr_filter_parse(NULL, "{}", 2, &A, NULL, &E), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_filter_parse(&F, "{}", 2, NULL, NULL, NULL), NOSTR_ERR_ARG);
}

static void test_limits(void)
{
    nostr_limits lim;
    char json[4096];
    memset(&lim, 0, sizeof lim);
    lim.max_filter_values = 3;
    CHECK_EQ(parse_lim("{\"kinds\":[1,2,3]}", &lim), NOSTR_OK);
    CHECK_EQ(parse_lim("{\"kinds\":[1,2,3,4]}", &lim), NOSTR_ERR_TOO_LARGE);
    CHECK_EQ(E.offset, 16);
    CHECK(strstr(E.msg, "kinds") != NULL);
    /* Duplicates count against the limit: it bounds work, not results. */
    CHECK_EQ(parse_lim("{\"kinds\":[1,1,1,1]}", &lim), NOSTR_ERR_TOO_LARGE);
    CHECK_EQ(parse_lim("{\"ids\":[\"" ID1 "\",\"" ID1 "\",\"" ID1 "\"]}", &lim), NOSTR_OK);
    CHECK_EQ(parse_lim("{\"ids\":[\"" ID1 "\",\"" ID1 "\",\"" ID1 "\",\"" ID1 "\"]}", &lim), NOSTR_ERR_TOO_LARGE);
    CHECK(strstr(E.msg, "ids") != NULL);
    CHECK_EQ(parse_lim("{\"authors\":[\"" PK1 "\",\"" PK1 "\",\"" PK1 "\",\"" PK1 "\"]}", &lim), NOSTR_ERR_TOO_LARGE);
    CHECK(strstr(E.msg, "authors") != NULL);
    CHECK_EQ(parse_lim("{\"#t\":[\"a\",\"b\",\"c\"],\"#u\":[\"a\",\"b\",\"c\"]}", &lim), NOSTR_OK);
    CHECK_EQ(parse_lim("{\"#t\":[\"a\",\"b\",\"c\",\"d\"]}", &lim), NOSTR_ERR_TOO_LARGE);
    /* Strings over max_string and nesting past max_depth. */
    memset(&lim, 0, sizeof lim);
    lim.max_string = 6; /* keys count too: "search" is 6 */
    CHECK_EQ(parse_lim("{\"search\":\"abcdef\"}", &lim), NOSTR_OK);
    CHECK_EQ(parse_lim("{\"search\":\"abcdefg\"}", &lim), NOSTR_ERR_TOO_LARGE);
    CHECK_EQ(E.offset, 10);
    memset(&lim, 0, sizeof lim);
    lim.max_depth = 1;
    CHECK_EQ(parse_lim("{\"since\":1}", &lim), NOSTR_OK);
    CHECK_EQ(parse_lim("{\"kinds\":[1]}", &lim), NOSTR_ERR_DEPTH);
    /* A fixed arena too small for the values fails cleanly. */
    {
        unsigned char small[64];
        size_t n;
        strcpy(json, "{\"ids\":[");
        for (n = 0; n < 4; n++) {
            if (n) strcat(json, ",");
            strcat(json, "\"" ID1 "\"");
        }
        strcat(json, "]}");
        nostr_arena_init_fixed(&A, small, sizeof small);
        CHECK_EQ(nostr_filter_parse(&F, json, strlen(json), &A, NULL, &E), NOSTR_ERR_NOMEM);
    }
}

/* A list of n distinct authors (n up to 10000) grown well past the first
 * block; the default max_filter_values admits exactly 10000. */
static void test_large_lists(void)
{
    size_t n = 10000, i, cap = n * 68 + 64;
    char *json = (char *)malloc(cap);
    unsigned char pk[32];
    nostr_event ev;
    char *p;
    nostr_arena heap;
    if (!json) return;
    p = json;
    p += sprintf(p, "{\"authors\":[");
    for (i = 0; i < n; i++) p += sprintf(p, "%s\"%064x\"", i ? "," : "", (unsigned)(n - i)); /* descending */
    p += sprintf(p, "]}");
    nostr_arena_init(&heap, NULL, 0, NULL); /* heap-backed: exercises growth across blocks */
    CHECK_EQ(nostr_filter_parse(&F, json, (size_t)(p - json), &heap, NULL, &E), NOSTR_OK);
    CHECK_EQ(F.authors_count, n);
    {
        size_t unsorted = 0;
        for (i = 1; i < F.authors_count; i++) unsorted += memcmp(F.authors[i - 1], F.authors[i], 32) >= 0;
        CHECK_EQ(unsorted, 0);
    }
    memset(&ev, 0, sizeof ev);
    memset(pk, 0, 32);
    pk[30] = 0x27; /* 0x2710 = 10000, first in the input, last when sorted */
    pk[31] = 0x10;
    memcpy(ev.pubkey, pk, 32);
    CHECK(nostr_filter_matches(&F, &ev));
    pk[31] = 0x11;
    memcpy(ev.pubkey, pk, 32);
    CHECK(!nostr_filter_matches(&F, &ev));
    pk[30] = 0;
    pk[31] = 1;
    memcpy(ev.pubkey, pk, 32);
    CHECK(nostr_filter_matches(&F, &ev));
    /* One more is over the default limit. */
    p -= 2;
    p += sprintf(p, ",\"%064x\"]}", 0u);
    CHECK_EQ(nostr_filter_parse(&F, json, (size_t)(p - json), &heap, NULL, &E), NOSTR_ERR_TOO_LARGE);
    nostr_arena_free(&heap);
    free(json);
}

static void test_round_trip(void)
{
    static const char *const canon[] = {
        "{}",
        "{\"ids\":[]}",
        "{\"ids\":[\"" ID1 "\",\"" ID2 "\",\"" ID3 "\"]}",
        "{\"authors\":[\"" PK1 "\",\"" PK2 "\"],\"kinds\":[0,1,3,10002,30023]}",
        "{\"kinds\":[],\"#e\":[],\"#p\":[\"" PK1 "\"],\"#Z\":[\"\",\"\\u0001\\n\",\"a\\\"b\"]}",
        "{\"#t\":[\"nostr\"],\"since\":0,\"until\":1700000000,\"limit\":0}",
        "{\"since\":5,\"until\":4,\"limit\":500,\"search\":\"caf\xc3\xa9 \\\\ \xf0\x9f\x98\x80\"}",
        "{\"ids\":[\"" ID1 "\"],\"authors\":[\"" PK1 "\"],\"kinds\":[1],\"#a\":[\"30023:" PK1
        ":x\"],\"#d\":[\"x\"],\"since\":1,\"until\":2,\"limit\":3,\"search\":\"\"}",
    };
    size_t i;
    for (i = 0; i < sizeof canon / sizeof canon[0]; i++) {
        CHECK_EQ(parse(canon[i]), NOSTR_OK);
        CHECK_STR(write_f(&F), canon[i]);
    }
    /* Input order and white space do not matter; output is canonical. */
    CHECK_EQ(parse(" { \"search\" : \"q\" , \"limit\":1,\"#x\":[\"b\",\"a\"],\"kinds\":[3, 1],\"ids\":[\"" ID2
                   "\",\"" ID1 "\",\"" ID2 "\"]}"),
             NOSTR_OK);
    CHECK_STR(write_f(&F), "{\"ids\":[\"" ID1 "\",\"" ID2 "\"],\"kinds\":[1,3],\"#x\":[\"a\",\"b\"],\"limit\":1,"
                           "\"search\":\"q\"}");
    /* Escapes are decoded on parse and re-encoded the canonical way. */
    CHECK_EQ(parse("{\"search\":\"\\u0041\\/\\t\"}"), NOSTR_OK);
    CHECK_STR(write_f(&F), "{\"search\":\"A/\\t\"}");
    /* Tag values with NUL bytes survive. */
    CHECK_EQ(parse("{\"#n\":[\"a\\u0000b\"]}"), NOSTR_OK);
    CHECK_EQ(F.tags[0].values[0].len, 3);
    CHECK_STR(write_f(&F), "{\"#n\":[\"a\\u0000b\"]}");
}

static void test_write_errors(void)
{
    nostr_filter f;
    nostr_tag_filter tags[2];
    nostr_str v;
    unsigned kind = 70000;
    char small[8];
    nostr_buf b;
    memset(&f, 0, sizeof f);
    memset(tags, 0, sizeof tags);
    v.ptr = "x";
    v.len = 1;
    tags[0].name = '1';
    tags[0].values = &v;
    tags[0].count = 1;
    f.tags = tags;
    f.tags_count = 1;
    CHECK_STR(write_f(&f), "(write failed)"); /* not a letter */
    tags[0].name = 'e';
    tags[1] = tags[0];
    f.tags_count = 2;
    CHECK_STR(write_f(&f), "(write failed)"); /* twice */
    f.tags_count = 1;
    CHECK_STR(write_f(&f), "{\"#e\":[\"x\"]}");
    f.fields = NOSTR_FILTER_KINDS;
    f.kinds = &kind;
    f.kinds_count = 1;
    CHECK_STR(write_f(&f), "(write failed)");
    f.fields = NOSTR_FILTER_SINCE;
    f.since = -1;
    CHECK_STR(write_f(&f), "(write failed)");
    f.fields = NOSTR_FILTER_UNTIL;
    f.until = -1;
    CHECK_STR(write_f(&f), "(write failed)");
    /* A hand-built empty search (NULL pointer) writes "". */
    f.fields = NOSTR_FILTER_SEARCH;
    f.tags_count = 0;
    CHECK_STR(write_f(&f), "{\"search\":\"\"}");
    /* A fixed buffer too small: BUFFER, and what was there stays. */
    nostr_buf_init_fixed(&b, small, sizeof small);
    CHECK_EQ(nostr_buf_append_str(&b, "ab"), NOSTR_OK);
    CHECK_EQ(parse("{\"kinds\":[1,2,3]}"), NOSTR_OK);
    CHECK_EQ(nostr_filter_to_json(&F, &b), NOSTR_ERR_BUFFER);
    CHECK_EQ(b.len, 2);
    CHECK_STR(b.data, "ab");
    CHECK_EQ(nostr_filter_to_json(NULL, &b), NOSTR_ERR_ARG);
}

/* ---- matching ---- */

static nostr_event EV;
static nostr_tag TAGS[8];
static nostr_str ITEMS[8][4];

static void set_tag(size_t i, const char *a, const char *b, const char *c)
{
    const char *v[3];
    size_t k, n = 0;
    v[0] = a;
    v[1] = b;
    v[2] = c;
    for (k = 0; k < 3 && v[k]; k++) {
        ITEMS[i][k].ptr = v[k];
        ITEMS[i][k].len = strlen(v[k]);
        n++;
    }
    TAGS[i].items = ITEMS[i];
    TAGS[i].count = n;
}

static void make_event(void)
{
    memset(&EV, 0, sizeof EV);
    hex32(ID1, EV.id);
    hex32(PK1, EV.pubkey);
    EV.created_at = 1000;
    EV.kind = 1;
    set_tag(0, "e", ID2, "wss://relay.example.com");     /* multi-item tag */
    set_tag(1, "p", PK2, NULL);
    set_tag(2, "t", NULL, NULL);                          /* a lone name matches nothing */
    set_tag(3, "tt", "x", NULL);                          /* name longer than one letter */
    set_tag(4, "r", "wss://a", "write");
    set_tag(5, "x", "", NULL);                            /* empty value */
    set_tag(6, "E", "upper", NULL);
    EV.tags = TAGS;
    EV.tag_count = 7;
}

static int m(const char *json)
{
    int rc = parse(json);
    CHECK_EQ(rc, NOSTR_OK);
    if (rc) {
        fprintf(stderr, "filter did not parse: %s\n", json);
        return -1;
    }
    return nostr_filter_matches(&F, &EV);
}

static void test_matching(void)
{
    static const struct {
        const char *filter;
        int match;
    } table[] = {
        {"{}", 1},
        {"{\"limit\":0}", 1},               /* limit is ignored */
        {"{\"search\":\"nothing like it\"}", 1}, /* so is search */
        {"{\"ids\":[\"" ID1 "\"]}", 1},
        {"{\"ids\":[\"" ID2 "\",\"" ID1 "\"]}", 1},
        {"{\"ids\":[\"" ID2 "\"]}", 0},
        {"{\"ids\":[]}", 0},
        {"{\"authors\":[\"" PK1 "\"]}", 1},
        {"{\"authors\":[\"" PK2 "\"]}", 0},
        {"{\"authors\":[]}", 0},
        {"{\"kinds\":[1]}", 1},
        {"{\"kinds\":[0,2,7]}", 0},
        {"{\"kinds\":[7,1]}", 1},
        {"{\"kinds\":[]}", 0},
        {"{\"since\":1000}", 1},
        {"{\"since\":1001}", 0},
        {"{\"until\":1000}", 1},
        {"{\"until\":999}", 0},
        {"{\"since\":1000,\"until\":1000}", 1}, /* since == until == created_at */
        {"{\"since\":999,\"until\":999}", 0},
        {"{\"since\":1001,\"until\":1001}", 0},
        {"{\"since\":1001,\"until\":999}", 0},
        {"{\"since\":0}", 1},
        {"{\"#e\":[\"" ID2 "\"]}", 1},
        {"{\"#e\":[\"wss://relay.example.com\"]}", 0}, /* third item does not count */
        {"{\"#e\":[\"" ID1 "\"]}", 0},
        {"{\"#e\":[]}", 0},
        {"{\"#p\":[\"" PK1 "\",\"" PK2 "\"]}", 1},
        {"{\"#t\":[\"\"]}", 0},
        {"{\"#t\":[\"t\"]}", 0},
        {"{\"#t\":[\"x\"]}", 0}, /* "tt" is not "t" */
        {"{\"#r\":[\"wss://a\"]}", 1},
        {"{\"#r\":[\"write\"]}", 0},
        {"{\"#x\":[\"\"]}", 1},
        {"{\"#x\":[\"a\"]}", 0},
        {"{\"#E\":[\"upper\"]}", 1},
        {"{\"#e\":[\"upper\"]}", 0}, /* names are case-sensitive */
        {"{\"#q\":[\"anything\"]}", 0},
        {"{\"#e\":[\"" ID2 "\"],\"#p\":[\"" PK2 "\"]}", 1},
        {"{\"#e\":[\"" ID2 "\"],\"#p\":[\"" PK1 "\"]}", 0}, /* every tag filter must match */
        {"{\"ids\":[\"" ID1 "\"],\"authors\":[\"" PK1 "\"],\"kinds\":[1],\"#e\":[\"" ID2
         "\"],\"since\":1000,\"until\":1000,\"limit\":1}",
         1},
        {"{\"ids\":[\"" ID1 "\"],\"authors\":[\"" PK1 "\"],\"kinds\":[2],\"#e\":[\"" ID2 "\"]}", 0},
        {"{\"ids\":[\"" ID1 "\"],\"authors\":[\"" PK2 "\"],\"kinds\":[1]}", 0},
    };
    size_t i;
    make_event();
    for (i = 0; i < sizeof table / sizeof table[0]; i++) {
        int got = m(table[i].filter);
        if (got != table[i].match) fprintf(stderr, "match case %u: %s -> %d\n", (unsigned)i, table[i].filter, got);
        CHECK_EQ(got, table[i].match);
    }
    /* An event without tags against tag filters. */
    EV.tag_count = 0;
    CHECK_EQ(m("{\"#e\":[\"" ID2 "\"]}"), 0);
    CHECK_EQ(m("{\"kinds\":[1]}"), 1);
}

static void test_match_hand_built(void)
{
    /* Unsorted lists built in memory (no SORTED bit) are scanned. */
    nostr_filter f;
    unsigned kinds[3] = {9, 1, 5};
    unsigned char ids[3][32];
    nostr_tag_filter t;
    nostr_str vals[3];
    make_event();
    memset(&f, 0, sizeof f);
    memset(ids, 0x77, sizeof ids);
    hex32(ID1, ids[1]);
    ids[2][0] = 0;
    vals[0].ptr = "zzz";
    vals[0].len = 3;
    vals[1].ptr = ID2;
    vals[1].len = 64;
    vals[2].ptr = "aaa";
    vals[2].len = 3;
    t.name = 'e';
    t.values = vals;
    t.count = 3;
    f.fields = NOSTR_FILTER_KINDS | NOSTR_FILTER_IDS;
    f.kinds = kinds;
    f.kinds_count = 3;
    f.ids = ids;
    f.ids_count = 3;
    f.tags = &t;
    f.tags_count = 1;
    CHECK_EQ(nostr_filter_matches(&f, &EV), 1);
    kinds[1] = 2;
    CHECK_EQ(nostr_filter_matches(&f, &EV), 0);
    kinds[1] = 1;
    vals[1].ptr = PK2;
    CHECK_EQ(nostr_filter_matches(&f, &EV), 0);
    /* Lists without their bit in fields are not present. */
    f.fields = 0;
    f.tags_count = 0;
    CHECK_EQ(nostr_filter_matches(&f, &EV), 1);
}

static void test_filters_match(void)
{
    nostr_filter fs[3];
    make_event();
    CHECK_EQ(parse("{\"kinds\":[2]}"), NOSTR_OK);
    fs[0] = F;
    CHECK_EQ(nostr_filters_match(fs, 1, &EV), 0);
    {
        /* Each parse reset the arena it used: give each filter its own. */
        static unsigned char m2[4096], m3[4096];
        nostr_arena a2, a3;
        nostr_arena_init(&a2, m2, sizeof m2, NULL);
        nostr_arena_init(&a3, m3, sizeof m3, NULL);
        CHECK_EQ(nostr_filter_parse(&fs[1], "{\"authors\":[]}", 14, &a2, NULL, NULL), NOSTR_OK);
        CHECK_EQ(nostr_filter_parse(&fs[2], "{\"since\":500}", 13, &a3, NULL, NULL), NOSTR_OK);
        CHECK_EQ(nostr_filters_match(fs, 2, &EV), 0);
        CHECK_EQ(nostr_filters_match(fs, 3, &EV), 1); /* OR across filters */
    }
    CHECK_EQ(nostr_filters_match(fs, 0, &EV), 0);
}

int main(void)
{
    TEST_RUN(test_parse_fields);
    TEST_RUN(test_parse_at_reader);
    TEST_RUN(test_errors);
    TEST_RUN(test_limits);
    TEST_RUN(test_large_lists);
    TEST_RUN(test_round_trip);
    TEST_RUN(test_write_errors);
    TEST_RUN(test_matching);
    TEST_RUN(test_match_hand_built);
    TEST_RUN(test_filters_match);
    return TEST_DONE();
}
