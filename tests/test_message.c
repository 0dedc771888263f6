/* NIP-01/42/45 messages in both directions: decode, encode, round trips,
 * real-world relay strings, malformed input with codes and offsets. */
#include "test.h"

static unsigned char mem[1 << 20];
static nostr_arena A;
static nostr_msg M;
static nostr_error E;

/* The three events of tests/data/msg-events.jsonl, one per line. */
static char *EVENTS[3];
static size_t EVENT_LEN[3];

#define ID_OK "b1a649ebe8b435ec71d3784793f3bbf4b93e64e17568a741aecd4c7ddeafce30"

static int parse_as(nostr_role from, const char *json, size_t len)
{
    nostr_arena_init(&A, mem, sizeof mem, NULL);
    memset(&E, 0, sizeof E);
    return nostr_msg_parse(&M, from, json, len, &A, NULL, &E);
}

static int relay(const char *json)
{
    return parse_as(NOSTR_FROM_RELAY, json, strlen(json));
}

static int client(const char *json)
{
    return parse_as(NOSTR_FROM_CLIENT, json, strlen(json));
}

static int load_events(void)
{
    size_t len, i;
    char *all = test_read_file("msg-events.jsonl", &len), *p;
    if (!all) return 0;
    p = all;
    for (i = 0; i < 3; i++) {
        char *nl = strchr(p, '\n');
        if (!nl) return 0;
        *nl = 0;
        EVENTS[i] = p;
        EVENT_LEN[i] = (size_t)(nl - p);
        p = nl + 1;
    }
    return 1; /* `all` lives until exit: EVENTS point into it */
}

/* Build a message around an event line: prefix + event + suffix. */
static char *wrap(const char *prefix, int ev, const char *suffix, size_t *len)
{
    static char buf[8192];
    size_t a = strlen(prefix), s = strlen(suffix);
    memcpy(buf, prefix, a);
    memcpy(buf + a, EVENTS[ev], EVENT_LEN[ev]);
    memcpy(buf + a + EVENT_LEN[ev], suffix, s + 1);
    *len = a + EVENT_LEN[ev] + s;
    return buf;
}

static void check_event_span(const char *msg, size_t prefix_len, int ev)
{
    char hex[65];
    CHECK_EQ(M.event.json_offset, prefix_len);
    CHECK_EQ(M.event.json_len, EVENT_LEN[ev]);
    CHECK(M.event.json_offset + M.event.json_len <= strlen(msg) &&
          memcmp(msg + M.event.json_offset, EVENTS[ev], EVENT_LEN[ev]) == 0);
    nostr_hex_encode(M.event.id, 32, hex);
    CHECK(memcmp(EVENTS[ev] + 7, hex, 64) == 0); /* {"id":"<hex>" */
}

static void test_event_messages(void)
{
    size_t len;
    char *msg;
    int i;
    for (i = 0; i < 3; i++) {
        msg = wrap("[\"EVENT\",", i, "]", &len);
        CHECK_EQ(parse_as(NOSTR_FROM_CLIENT, msg, len), NOSTR_OK);
        CHECK_EQ(M.type, NOSTR_MSG_EVENT);
        CHECK_EQ(M.sub_id.len, 0);
        check_event_span(msg, 9, i);

        msg = wrap(" [ \"EVENT\" ,\n\t\"sub:1\" ,  ", i, " ] \n", &len);
        CHECK_EQ(parse_as(NOSTR_FROM_RELAY, msg, len), NOSTR_OK);
        CHECK_EQ(M.type, NOSTR_MSG_EVENT);
        CHECK_STR(M.sub_id.ptr, "sub:1");
        check_event_span(msg, 25, i); /* white space before the event is not part of it */
    }
    /* The AUTH event (kind 22242) from a client. */
    msg = wrap("[\"AUTH\",", 0, "]", &len);
    CHECK_EQ(parse_as(NOSTR_FROM_CLIENT, msg, len), NOSTR_OK);
    CHECK_EQ(M.type, NOSTR_MSG_AUTH);
    CHECK_EQ(M.event.kind, 22242);
    CHECK_EQ(M.event.tag_count, 2);
    check_event_span(msg, 8, 0);
    /* The tags of the multi-item event came through. */
    msg = wrap("[\"EVENT\",", 1, "]", &len);
    CHECK_EQ(parse_as(NOSTR_FROM_CLIENT, msg, len), NOSTR_OK);
    CHECK_EQ(M.event.tag_count, 3);
    if (M.event.tag_count == 3) {
        CHECK_EQ(M.event.tags[0].count, 4);
        CHECK_STR(M.event.tags[0].items[3].ptr, "reply");
    }
}

/* Write m as `from`, parse it back, write again: the two texts agree and
 * equal `expect` when given. Leaves the parsed copy in M. */
static void round_trip(const nostr_msg *m, nostr_role from, const char *expect)
{
    nostr_buf b1, b2;
    nostr_arena a2;
    static unsigned char mem2[1 << 16];
    nostr_buf_init(&b1, NULL);
    nostr_buf_init(&b2, NULL);
    CHECK_EQ(nostr_msg_write(m, from, &b1), NOSTR_OK);
    if (expect) CHECK_STR(b1.data, expect);
    nostr_arena_init(&a2, mem2, sizeof mem2, NULL);
    CHECK_EQ(nostr_msg_parse(&M, from, b1.data, b1.len, &a2, NULL, &E), NOSTR_OK);
    CHECK_EQ(M.type, m->type);
    CHECK_EQ(nostr_msg_write(&M, from, &b2), NOSTR_OK);
    CHECK_STR(b2.data, b1.data);
    nostr_buf_free(&b1);
    nostr_buf_free(&b2);
}

static nostr_str S(const char *s)
{
    nostr_str r;
    r.ptr = s;
    r.len = strlen(s);
    return r;
}

static void test_round_trips_client(void)
{
    nostr_msg m;
    nostr_event ev;
    nostr_filter fs[2];
    static unsigned char fmem[8192];
    nostr_arena fa;
    char expect[4096];
    size_t len;
    char *msg;

    /* EVENT and AUTH: the event written back is the original text. */
    msg = wrap("[\"EVENT\",", 1, "]", &len);
    CHECK_EQ(parse_as(NOSTR_FROM_CLIENT, msg, len), NOSTR_OK);
    ev = M.event; /* points into mem, which round_trip does not touch */
    memset(&m, 0, sizeof m);
    m.type = NOSTR_MSG_EVENT;
    m.event = ev;
    round_trip(&m, NOSTR_FROM_CLIENT, msg);
    CHECK_EQ(M.event.created_at, 1673757753);
    m.type = NOSTR_MSG_AUTH;
    snprintf(expect, sizeof expect, "[\"AUTH\",%s]", EVENTS[1]);
    round_trip(&m, NOSTR_FROM_CLIENT, expect);
    CHECK_EQ(M.event.json_offset, 8);

    /* REQ and COUNT with two filters. */
    nostr_arena_init(&fa, fmem, sizeof fmem, NULL);
    CHECK_EQ(nostr_filter_parse(&fs[0], "{\"kinds\":[1,7],\"#e\":[\"x\"],\"limit\":10}", 37, &fa, NULL, NULL),
             NOSTR_OK);
    CHECK_EQ(nostr_filter_parse(&fs[1], "{\"search\":\"orange\"}", 19, &fa, NULL, NULL), NOSTR_OK);
    memset(&m, 0, sizeof m);
    m.type = NOSTR_MSG_REQ;
    m.sub_id = S("feed");
    m.filters = fs;
    m.filter_count = 2;
    round_trip(&m, NOSTR_FROM_CLIENT, "[\"REQ\",\"feed\",{\"kinds\":[1,7],\"#e\":[\"x\"],\"limit\":10},"
                                      "{\"search\":\"orange\"}]");
    CHECK_STR(M.sub_id.ptr, "feed");
    CHECK_EQ(M.filter_count, 2);
    CHECK_EQ(M.filters[0].kinds_count, 2);
    CHECK_EQ(M.filters[0].limit, 10);
    CHECK_STR(M.filters[1].search.ptr, "orange");
    m.type = NOSTR_MSG_COUNT;
    m.filter_count = 1;
    round_trip(&m, NOSTR_FROM_CLIENT, "[\"COUNT\",\"feed\",{\"kinds\":[1,7],\"#e\":[\"x\"],\"limit\":10}]");
    CHECK_EQ(M.filter_count, 1);

    /* CLOSE; a sub id that needs escaping. */
    memset(&m, 0, sizeof m);
    m.type = NOSTR_MSG_CLOSE;
    m.sub_id = S("a\"b\\c\n");
    round_trip(&m, NOSTR_FROM_CLIENT, "[\"CLOSE\",\"a\\\"b\\\\c\\n\"]");
    CHECK_EQ(M.sub_id.len, 6);
    CHECK_STR(M.sub_id.ptr, "a\"b\\c\n");
}

static void test_round_trips_relay(void)
{
    nostr_msg m;
    char expect[4096];
    size_t len;
    char *msg;
    static const unsigned char zero[32] = {0};

    msg = wrap("[\"EVENT\",", 2, "]", &len);
    CHECK_EQ(parse_as(NOSTR_FROM_CLIENT, msg, len), NOSTR_OK);
    m = M;
    m.sub_id = S("s");
    snprintf(expect, sizeof expect, "[\"EVENT\",\"s\",%s]", EVENTS[2]);
    round_trip(&m, NOSTR_FROM_RELAY, expect);
    CHECK_STR(M.sub_id.ptr, "s");
    CHECK_EQ(M.event.json_offset, 13);
    CHECK_STR(M.event.content.ptr, m.event.content.ptr);

    memset(&m, 0, sizeof m);
    m.type = NOSTR_MSG_OK;
    CHECK_EQ(nostr_hex_decode(ID_OK, 64, m.id, 32), NOSTR_OK);
    m.ok = 1;
    round_trip(&m, NOSTR_FROM_RELAY, "[\"OK\",\"" ID_OK "\",true,\"\"]");
    CHECK_MEM(M.id, m.id, 32);
    CHECK_EQ(M.ok, 1);
    CHECK_EQ(M.message.len, 0);
    CHECK(M.message.ptr != NULL);
    m.ok = 0;
    m.message = S("blocked: you are banned from posting here");
    round_trip(&m, NOSTR_FROM_RELAY, "[\"OK\",\"" ID_OK "\",false,\"blocked: you are banned from posting here\"]");
    CHECK_EQ(M.ok, 0);
    CHECK_STR(M.message.ptr, "blocked: you are banned from posting here");

    memset(&m, 0, sizeof m);
    m.type = NOSTR_MSG_EOSE;
    m.sub_id = S("0123456789012345678901234567890123456789012345678901234567890123");
    round_trip(&m, NOSTR_FROM_RELAY, "[\"EOSE\",\"0123456789012345678901234567890123456789012345678901234567890123\"]");
    CHECK_EQ(M.sub_id.len, 64);

    memset(&m, 0, sizeof m);
    m.type = NOSTR_MSG_CLOSED;
    m.sub_id = S("sub1");
    m.message = S("auth-required: we only serve \"members\"");
    round_trip(&m, NOSTR_FROM_RELAY, "[\"CLOSED\",\"sub1\",\"auth-required: we only serve \\\"members\\\"\"]");
    CHECK_STR(M.message.ptr, "auth-required: we only serve \"members\"");

    memset(&m, 0, sizeof m);
    m.type = NOSTR_MSG_NOTICE;
    m.message = S("caf\xc3\xa9 \x01");
    round_trip(&m, NOSTR_FROM_RELAY, "[\"NOTICE\",\"caf\xc3\xa9 \\u0001\"]");
    CHECK_STR(M.message.ptr, "caf\xc3\xa9 \x01");

    memset(&m, 0, sizeof m);
    m.type = NOSTR_MSG_COUNT;
    m.sub_id = S("q");
    m.count = 238;
    m.approximate = 1;
    round_trip(&m, NOSTR_FROM_RELAY, "[\"COUNT\",\"q\",{\"count\":238,\"approximate\":true}]");
    CHECK_EQ(M.count, 238);
    CHECK_EQ(M.approximate, 1);
    m.count = 18446744073709551615ULL;
    m.approximate = 0;
    round_trip(&m, NOSTR_FROM_RELAY, "[\"COUNT\",\"q\",{\"count\":18446744073709551615}]");
    CHECK(M.count == 18446744073709551615ULL);
    CHECK_EQ(M.approximate, 0);

    memset(&m, 0, sizeof m);
    m.type = NOSTR_MSG_AUTH;
    m.message = S("challenge-\xf0\x9f\x98\x80");
    round_trip(&m, NOSTR_FROM_RELAY, "[\"AUTH\",\"challenge-\xf0\x9f\x98\x80\"]");
    CHECK_STR(M.message.ptr, "challenge-\xf0\x9f\x98\x80");

    (void)zero;
}

/* Strings in the form relays and clients send them. */
static void test_real_world(void)
{
    CHECK_EQ(relay("[\"OK\",\"" ID_OK "\",false,\"duplicate: already have it\"]"), NOSTR_OK);
    CHECK_EQ(M.type, NOSTR_MSG_OK);
    CHECK_EQ(M.ok, 0);
    CHECK_STR(M.message.ptr, "duplicate: already have it");
    CHECK_EQ(M.id[0], 0xb1);
    CHECK_EQ(relay("[\"OK\", \"" ID_OK "\", true, \"pow: difficulty 25>=24\"]"), NOSTR_OK);
    CHECK_EQ(M.ok, 1);
    CHECK_EQ(relay("[\"CLOSED\",\"sub1\",\"auth-required: we only serve events to authenticated users\"]"), NOSTR_OK);
    CHECK_EQ(M.type, NOSTR_MSG_CLOSED);
    CHECK_STR(M.sub_id.ptr, "sub1");
    CHECK_STR(M.message.ptr, "auth-required: we only serve events to authenticated users");
    CHECK_EQ(relay("[\"CLOSED\",\"sub1\",\"unsupported: filter contains unknown elements\"]"), NOSTR_OK);
    CHECK_EQ(relay("[\"COUNT\",\"q\",{\"count\":238,\"approximate\":true}]"), NOSTR_OK);
    CHECK_EQ(M.type, NOSTR_MSG_COUNT);
    CHECK_EQ(M.count, 238);
    CHECK_EQ(M.approximate, 1);
    CHECK_EQ(relay("[\"COUNT\",\"q\",{\"count\":93412452,\"approximate\":false}]"), NOSTR_OK);
    CHECK_EQ(M.approximate, 0);
    /* NIP-45 HyperLogLog: skipped, the count still read. */
    CHECK_EQ(relay("[\"COUNT\",\"q\",{\"hll\":\"0607\",\"count\":5}]"), NOSTR_OK);
    CHECK_EQ(M.count, 5);
    CHECK_EQ(relay("[\"EOSE\",\"RAND0m-sub_id\"]"), NOSTR_OK);
    CHECK_EQ(M.type, NOSTR_MSG_EOSE);
    CHECK_EQ(relay("[\"NOTICE\",\"ERROR: bad req: uneven size input to from_hex\"]"), NOSTR_OK);
    CHECK_EQ(M.type, NOSTR_MSG_NOTICE);
    CHECK_EQ(relay("[\"NOTICE\",\"\"]"), NOSTR_OK);
    CHECK_EQ(relay("[\"AUTH\",\"8cd5a3a4-6b3d-4b14-8ed2-0c9e0ce9e1a8\"]"), NOSTR_OK);
    CHECK_EQ(M.type, NOSTR_MSG_AUTH);
    CHECK_STR(M.message.ptr, "8cd5a3a4-6b3d-4b14-8ed2-0c9e0ce9e1a8");
    /* Client side. */
    CHECK_EQ(client("[\"REQ\",\"3:global\",{\"kinds\":[1,6],\"limit\":100,\"since\":1700000000}]"), NOSTR_OK);
    CHECK_EQ(M.type, NOSTR_MSG_REQ);
    CHECK_EQ(M.filter_count, 1);
    CHECK_EQ(M.filters[0].since, 1700000000);
    CHECK_EQ(client("[\"REQ\",\"profile\",{\"authors\":[\"79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798\"],"
                    "\"kinds\":[0,3,10002]},{\"#p\":[\"79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798\"],"
                    "\"kinds\":[7]}]"),
             NOSTR_OK);
    CHECK_EQ(M.filter_count, 2);
    CHECK_EQ(M.filters[1].tags_count, 1);
    CHECK_EQ(client("[\"REQ\",\"s\",{\"search\":\"best nostr apps\",\"kinds\":[1]},{}]"), NOSTR_OK);
    CHECK_EQ(M.filter_count, 2);
    CHECK_EQ(client("[\"CLOSE\",\"3:global\"]"), NOSTR_OK);
    CHECK_EQ(M.type, NOSTR_MSG_CLOSE);
    CHECK_EQ(client("[\"COUNT\",\"followers\",{\"kinds\":[3],\"#p\":[\"" ID_OK "\"]}]"), NOSTR_OK);
    CHECK_EQ(M.type, NOSTR_MSG_COUNT);
    CHECK_EQ(M.filter_count, 1);
}

struct bad_case {
    nostr_role from;
    const char *json;
    int code;
    size_t offset;
    const char *msg; /* substring of the error message ("" = any) */
};

#define C NOSTR_FROM_CLIENT
#define R NOSTR_FROM_RELAY

static void test_malformed(void)
{
    static const struct bad_case cases[] = {
        /* top level */
        {C, "", NOSTR_ERR_JSON, 0, ""},
        {C, "   ", NOSTR_ERR_JSON, 3, ""},
        {C, "{\"EVENT\":1}", NOSTR_ERR_MESSAGE, 0, "array"},
        {R, "\"NOTICE\"", NOSTR_ERR_MESSAGE, 0, "array"},
        {R, " 42", NOSTR_ERR_MESSAGE, 1, "array"},
        {C, "[]", NOSTR_ERR_MESSAGE, 1, "missing message type"},
        {C, "[1,\"x\"]", NOSTR_ERR_MESSAGE, 1, "type must be a string"},
        {C, "[[\"REQ\"],\"x\"]", NOSTR_ERR_MESSAGE, 1, "type must be a string"},
        {C, "[null]", NOSTR_ERR_MESSAGE, 1, "type must be a string"},
        {C, "[\"PING\"]", NOSTR_ERR_MESSAGE, 1, "unknown message type"},
        {R, "[\"event\",\"s\",{}]", NOSTR_ERR_MESSAGE, 1, "unknown message type"},
        {R, "[\"NOTICEEEEEEEEEEEEEEEEEEE\",\"x\"]", NOSTR_ERR_MESSAGE, 1, "unknown message type"},
        {R, "[\"\",\"x\"]", NOSTR_ERR_MESSAGE, 1, "unknown message type"},
        {R, "[\"EOSE\\u0000\",\"x\"]", NOSTR_ERR_MESSAGE, 1, "unknown message type"},
        {C, "[\"CLOSE\",\"s\"", NOSTR_ERR_JSON, 12, ""},
        {C, "[\"CLOSE\",\"s\"]]", NOSTR_ERR_JSON, 13, "trailing"},
        {C, "[\"CLOSE\",\"s\"] x", NOSTR_ERR_JSON, 14, "trailing"},
        {C, "[\"CLOSE\",\"s\",]", NOSTR_ERR_JSON, 13, "trailing comma"},
        {C, "[\"CLOSE\" \"s\"]", NOSTR_ERR_JSON, 9, ""},
        {C, "[\"CLOSE\",\"s\xff\"]", NOSTR_ERR_UTF8, 11, ""},
        /* wrong role */
        {C, "[\"OK\",\"" ID_OK "\",true,\"\"]", NOSTR_ERR_MESSAGE, 1, "relays only"},
        {C, "[\"EOSE\",\"s\"]", NOSTR_ERR_MESSAGE, 1, "relays only"},
        {C, "[\"CLOSED\",\"s\",\"\"]", NOSTR_ERR_MESSAGE, 1, "relays only"},
        {C, "[\"NOTICE\",\"hi\"]", NOSTR_ERR_MESSAGE, 1, "relays only"},
        {R, "[\"REQ\",\"s\",{}]", NOSTR_ERR_MESSAGE, 1, "clients only"},
        {R, "[\"CLOSE\",\"s\"]", NOSTR_ERR_MESSAGE, 1, "clients only"},
        /* arity */
        {C, "[\"CLOSE\"]", NOSTR_ERR_MESSAGE, 8, "missing subscription id"},
        {C, "[\"CLOSE\",\"s\",\"t\"]", NOSTR_ERR_MESSAGE, 13, "too many elements"},
        {C, "[\"REQ\"]", NOSTR_ERR_MESSAGE, 6, "missing subscription id"},
        {C, "[\"REQ\",\"s\"]", NOSTR_ERR_MESSAGE, 10, "missing filter"},
        {C, "[\"COUNT\",\"s\"]", NOSTR_ERR_MESSAGE, 12, "missing filter"},
        {C, "[\"EVENT\"]", NOSTR_ERR_MESSAGE, 8, "missing event"},
        {C, "[\"AUTH\"]", NOSTR_ERR_MESSAGE, 7, "missing event"},
        {R, "[\"EVENT\",\"s\"]", NOSTR_ERR_MESSAGE, 12, "missing event"},
        {R, "[\"EVENT\"]", NOSTR_ERR_MESSAGE, 8, "missing subscription id"},
        {R, "[\"OK\"]", NOSTR_ERR_MESSAGE, 5, "missing event id"},
        {R, "[\"OK\",\"" ID_OK "\"]", NOSTR_ERR_MESSAGE, 72, "missing OK status"},
        {R, "[\"OK\",\"" ID_OK "\",true]", NOSTR_ERR_MESSAGE, 77, "missing OK message"},
        {R, "[\"OK\",\"" ID_OK "\",true,\"\",\"extra\"]", NOSTR_ERR_MESSAGE, 81, "too many elements"},
        {R, "[\"EOSE\"]", NOSTR_ERR_MESSAGE, 7, "missing subscription id"},
        {R, "[\"EOSE\",\"s\",\"t\"]", NOSTR_ERR_MESSAGE, 12, "too many elements"},
        {R, "[\"CLOSED\",\"s\"]", NOSTR_ERR_MESSAGE, 13, "missing CLOSED message"},
        {R, "[\"CLOSED\",\"s\",\"m\",\"n\"]", NOSTR_ERR_MESSAGE, 18, "too many elements"},
        {R, "[\"NOTICE\"]", NOSTR_ERR_MESSAGE, 9, "missing notice"},
        {R, "[\"NOTICE\",\"a\",\"b\"]", NOSTR_ERR_MESSAGE, 14, "too many elements"},
        {R, "[\"AUTH\"]", NOSTR_ERR_MESSAGE, 7, "missing challenge"},
        {R, "[\"AUTH\",\"c\",\"d\"]", NOSTR_ERR_MESSAGE, 12, "too many elements"},
        {R, "[\"COUNT\",\"q\"]", NOSTR_ERR_MESSAGE, 12, "missing count result"},
        {R, "[\"COUNT\",\"q\",{\"count\":1},{\"count\":2}]", NOSTR_ERR_MESSAGE, 25, "too many elements"},
        /* wrong types */
        {C, "[\"CLOSE\",5]", NOSTR_ERR_MESSAGE, 9, "subscription id must be a string"},
        {C, "[\"CLOSE\",[\"s\"]]", NOSTR_ERR_MESSAGE, 9, "subscription id must be a string"},
        {C, "[\"REQ\",null,{}]", NOSTR_ERR_MESSAGE, 7, "subscription id must be a string"},
        {C, "[\"REQ\",\"s\",[]]", NOSTR_ERR_FILTER, 11, "filter must be an object"},
        {C, "[\"REQ\",\"s\",{},\"x\"]", NOSTR_ERR_FILTER, 14, "filter must be an object"},
        {C, "[\"REQ\",\"s\",{\"kinds\":[\"1\"]}]", NOSTR_ERR_FILTER, 21, "kinds"},
        {C, "[\"REQ\",\"s\",{\"foo\":[]}]", NOSTR_ERR_FILTER, 12, "unknown filter field"},
        {C, "[\"COUNT\",\"s\",{\"ids\":[\"ab\"]}]", NOSTR_ERR_FILTER, 21, "ids"},
        {C, "[\"EVENT\",\"s\"]", NOSTR_ERR_FIELD, 9, ""},
        {C, "[\"EVENT\",[]]", NOSTR_ERR_FIELD, 9, ""},
        {C, "[\"AUTH\",\"challenge\"]", NOSTR_ERR_FIELD, 8, ""},
        {C, "[\"EVENT\",{}]", NOSTR_ERR_FIELD, 0, ""},
        {R, "[\"EVENT\",\"s\",{\"id\":1}]", NOSTR_ERR_FIELD, 0, ""},
        {R, "[\"OK\",1,true,\"\"]", NOSTR_ERR_MESSAGE, 6, "event id"},
        {R, "[\"OK\",\"abc\",true,\"\"]", NOSTR_ERR_HEX, 6, "event id"},
        {R, "[\"OK\",\"" ID_OK "\",\"true\",\"\"]", NOSTR_ERR_MESSAGE, 73, "OK status"},
        {R, "[\"OK\",\"" ID_OK "\",1,\"\"]", NOSTR_ERR_MESSAGE, 73, "OK status"},
        {R, "[\"OK\",\"" ID_OK "\",true,null]", NOSTR_ERR_MESSAGE, 78, "OK message"},
        {R, "[\"CLOSED\",\"s\",{}]", NOSTR_ERR_MESSAGE, 14, "CLOSED message"},
        {R, "[\"NOTICE\",42]", NOSTR_ERR_MESSAGE, 10, "notice"},
        {R, "[\"AUTH\",{\"id\":\"x\"}]", NOSTR_ERR_MESSAGE, 8, "challenge"},
        {R, "[\"COUNT\",\"q\",5]", NOSTR_ERR_MESSAGE, 13, "count result"},
        {R, "[\"COUNT\",\"q\",{\"kinds\":[1]}]", NOSTR_ERR_MESSAGE, 25, "missing count"},
        {R, "[\"COUNT\",\"q\",{}]", NOSTR_ERR_MESSAGE, 14, "missing count"},
        {R, "[\"COUNT\",\"q\",{\"count\":-1}]", NOSTR_ERR_MESSAGE, 22, "count"},
        {R, "[\"COUNT\",\"q\",{\"count\":1.5}]", NOSTR_ERR_MESSAGE, 22, "count"},
        {R, "[\"COUNT\",\"q\",{\"count\":\"5\"}]", NOSTR_ERR_MESSAGE, 22, "count"},
        {R, "[\"COUNT\",\"q\",{\"count\":1,\"count\":2}]", NOSTR_ERR_MESSAGE, 32, "duplicate"},
        {R, "[\"COUNT\",\"q\",{\"count\":1,\"approximate\":1}]", NOSTR_ERR_MESSAGE, 38, "approximate"},
        {R, "[\"COUNT\",\"q\",{\"count\":18446744073709551616}]", NOSTR_ERR_TOO_LARGE, 22, ""},
        /* subscription ids */
        {C, "[\"CLOSE\",\"\"]", NOSTR_ERR_MESSAGE, 9, "1..64"},
        {C, "[\"REQ\",\"\",{}]", NOSTR_ERR_MESSAGE, 7, "1..64"},
        {R, "[\"EOSE\",\"01234567890123456789012345678901234567890123456789012345678901234\"]", NOSTR_ERR_MESSAGE, 8,
         "1..64"},
        {R, "[\"EVENT\",\"\",{}]", NOSTR_ERR_MESSAGE, 9, "1..64"},
        {R, "[\"COUNT\",\"\",{\"count\":1}]", NOSTR_ERR_MESSAGE, 9, "1..64"},
        {R, "[\"CLOSED\",\"\",\"x\"]", NOSTR_ERR_MESSAGE, 10, "1..64"},
        /* nested garbage */
        {C, "[\"REQ\",\"s\",{\"kinds\":[1,[2]]}]", NOSTR_ERR_FILTER, 23, "kinds"},
        {C, "[\"REQ\",\"s\",{\"#e\":[{\"a\":[]}]}]", NOSTR_ERR_FILTER, 18, "#<letter>"},
        {C, "[\"REQ\",\"s\",{\"kinds\":[1}]", NOSTR_ERR_JSON, 22, ""},
        {C, "[\"REQ\",\"s\",{\"since\":01}]", NOSTR_ERR_JSON, 21, ""},
        {R, "[\"COUNT\",\"q\",{\"hll\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],\"count\":1}]",
         NOSTR_ERR_DEPTH, 50, ""},
        {R, "[\"COUNT\",\"q\",{\"count\":1,\"hll\":tru}]", NOSTR_ERR_JSON, 30, ""},
        {R, "[\"NOTICE\",\"\\ud800\"]", NOSTR_ERR_UTF8, 11, ""},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = parse_as(cases[i].from, cases[i].json, strlen(cases[i].json));
        int ok = rc == cases[i].code && E.code == rc && E.msg && strstr(E.msg, cases[i].msg);
        /* Event errors come from the event parser: their offset is its own
         * business, but it must lie inside the message. */
        if (cases[i].code == NOSTR_ERR_FIELD && cases[i].offset == 0)
            ok = ok && E.offset >= 9 && E.offset <= strlen(cases[i].json);
        else
            ok = ok && E.offset == cases[i].offset;
        if (!ok)
            fprintf(stderr, "case %u: %s -> %d at %u (%s)\n", (unsigned)i, cases[i].json, rc, (unsigned)E.offset,
                    E.msg ? E.msg : "");
        CHECK(ok);
        CHECK_EQ(M.type, NOSTR_MSG_NONE);
    }
    CHECK_EQ(nostr_msg_parse(NULL, C, "[]", 2, &A, NULL, &E), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_msg_parse(&M, C, "[]", 2, NULL, NULL, NULL), NOSTR_ERR_ARG);
}

/* Sub ids are counted in bytes of the decoded string. */
static void test_sub_id_lengths(void)
{
    char json[512], *p;
    int i;
    for (i = 1; i <= 65; i++) {
        p = json + sprintf(json, "[\"CLOSE\",\"");
        memset(p, 'x', (size_t)i);
        strcpy(p + i, "\"]");
        CHECK_EQ(client(json), i <= 64 ? NOSTR_OK : NOSTR_ERR_MESSAGE);
    }
    /* 32 two-byte characters = 64 bytes, 33 = 66. */
    p = json + sprintf(json, "[\"EOSE\",\"");
    for (i = 0; i < 32; i++) p += sprintf(p, "\xc3\xa9");
    strcpy(p, "\"]");
    CHECK_EQ(relay(json), NOSTR_OK);
    CHECK_EQ(M.sub_id.len, 64);
    strcpy(p, "\xc3\xa9\"]");
    CHECK_EQ(relay(json), NOSTR_ERR_MESSAGE);
    /* Escapes are decoded first: 16 "\u00e9" = 96 raw bytes, 32 decoded. */
    p = json + sprintf(json, "[\"EOSE\",\"");
    for (i = 0; i < 16; i++) p += sprintf(p, "\\u00e9");
    strcpy(p, "\"]");
    CHECK_EQ(relay(json), NOSTR_OK);
    CHECK_EQ(M.sub_id.len, 32);
}

static void test_filter_counts(void)
{
    char json[8192], *p;
    nostr_limits lim;
    int n;
    for (n = 63; n <= 66; n++) {
        int i;
        p = json + sprintf(json, "[\"REQ\",\"s\"");
        for (i = 0; i < n; i++) p += sprintf(p, ",{\"kinds\":[%d]}", i);
        strcpy(p, "]");
        CHECK_EQ(client(json), n <= 64 ? NOSTR_OK : NOSTR_ERR_TOO_LARGE);
        if (n <= 64) {
            CHECK_EQ(M.filter_count, n);
            CHECK_EQ(M.filters[n - 1].kinds[0], n - 1);
        } else {
            /* At the 65th filter: 11 + 64 filters of 13..14 bytes. */
            CHECK(strstr(E.msg, "too many filters") != NULL);
            CHECK(E.offset > 11 && json[E.offset] == '{');
            CHECK(strncmp(json + E.offset, "{\"kinds\":[64]}", 14) == 0);
        }
    }
    /* COUNT has the same cap; a smaller limit from the caller. */
    memset(&lim, 0, sizeof lim);
    lim.max_filters = 2;
    nostr_arena_init(&A, mem, sizeof mem, NULL);
    strcpy(json, "[\"COUNT\",\"s\",{},{}]");
    CHECK_EQ(nostr_msg_parse(&M, C, json, strlen(json), &A, &lim, &E), NOSTR_OK);
    CHECK_EQ(M.filter_count, 2);
    strcpy(json, "[\"COUNT\",\"s\",{},{},{}]");
    CHECK_EQ(nostr_msg_parse(&M, C, json, strlen(json), &A, &lim, &E), NOSTR_ERR_TOO_LARGE);
    CHECK_EQ(E.offset, 19);
    /* max_filter_values reaches filters inside messages. */
    memset(&lim, 0, sizeof lim);
    lim.max_filter_values = 2;
    strcpy(json, "[\"REQ\",\"s\",{\"kinds\":[1,2,3]}]");
    CHECK_EQ(nostr_msg_parse(&M, C, json, strlen(json), &A, &lim, &E), NOSTR_ERR_TOO_LARGE);
    /* A fixed arena too small for the filters. */
    {
        unsigned char small[256];
        nostr_arena fa;
        nostr_arena_init_fixed(&fa, small, sizeof small);
        strcpy(json, "[\"REQ\",\"s\",{},{},{},{},{}]");
        CHECK_EQ(nostr_msg_parse(&M, C, json, strlen(json), &fa, NULL, &E), NOSTR_ERR_NOMEM);
    }
}

static void test_writers(void)
{
    nostr_buf b;
    unsigned char id[32];
    size_t len;
    char *msg;
    CHECK_EQ(nostr_hex_decode(ID_OK, 64, id, 32), NOSTR_OK);
    nostr_buf_init(&b, NULL);
    CHECK_EQ(nostr_write_ok(&b, id, 1, ""), NOSTR_OK);
    CHECK_STR(b.data, "[\"OK\",\"" ID_OK "\",true,\"\"]");
    nostr_buf_clear(&b);
    CHECK_EQ(nostr_write_ok(&b, id, 0, "invalid: bad \"sig\""), NOSTR_OK);
    CHECK_STR(b.data, "[\"OK\",\"" ID_OK "\",false,\"invalid: bad \\\"sig\\\"\"]");
    nostr_buf_clear(&b);
    CHECK_EQ(nostr_write_ok(&b, id, 1, NULL), NOSTR_OK);
    CHECK_STR(b.data, "[\"OK\",\"" ID_OK "\",true,\"\"]");
    nostr_buf_clear(&b);
    CHECK_EQ(nostr_write_eose(&b, "sub1", 4), NOSTR_OK);
    CHECK_STR(b.data, "[\"EOSE\",\"sub1\"]");
    nostr_buf_clear(&b);
    CHECK_EQ(nostr_write_closed(&b, "sub1", 4, "error: shutting down idle subscription"), NOSTR_OK);
    CHECK_STR(b.data, "[\"CLOSED\",\"sub1\",\"error: shutting down idle subscription\"]");
    nostr_buf_clear(&b);
    CHECK_EQ(nostr_write_notice(&b, "line\nbreak"), NOSTR_OK);
    CHECK_STR(b.data, "[\"NOTICE\",\"line\\nbreak\"]");
    nostr_buf_clear(&b);
    CHECK_EQ(nostr_write_count(&b, "q", 1, 93412452, 1), NOSTR_OK);
    CHECK_STR(b.data, "[\"COUNT\",\"q\",{\"count\":93412452,\"approximate\":true}]");
    nostr_buf_clear(&b);
    CHECK_EQ(nostr_write_count(&b, "q", 1, 0, 0), NOSTR_OK);
    CHECK_STR(b.data, "[\"COUNT\",\"q\",{\"count\":0}]");
    /* Sub ids with NUL bytes or quotes are written by length, escaped. */
    nostr_buf_clear(&b);
    CHECK_EQ(nostr_write_eose(&b, "a\0\"", 3), NOSTR_OK);
    CHECK_STR(b.data, "[\"EOSE\",\"a\\u0000\\\"\"]");
    CHECK_EQ(relay(b.data), NOSTR_OK);
    CHECK_EQ(M.sub_id.len, 3);
    /* Raw event forwarding: the stored text goes out verbatim and parses. */
    msg = wrap("", 1, "", &len);
    nostr_buf_clear(&b);
    CHECK_EQ(nostr_write_event_raw(&b, "feed", 4, msg, len), NOSTR_OK);
    CHECK_EQ(relay(b.data), NOSTR_OK);
    CHECK_EQ(M.type, NOSTR_MSG_EVENT);
    CHECK_STR(M.sub_id.ptr, "feed");
    CHECK_EQ(M.event.json_offset, 16);
    CHECK_EQ(M.event.json_len, len);
    CHECK(memcmp(b.data + 16, msg, len) == 0);
    /* Appends: two messages in one buffer. */
    nostr_buf_clear(&b);
    CHECK_EQ(nostr_write_eose(&b, "a", 1), NOSTR_OK);
    CHECK_EQ(nostr_write_eose(&b, "b", 1), NOSTR_OK);
    CHECK_STR(b.data, "[\"EOSE\",\"a\"][\"EOSE\",\"b\"]");
    /* Bad arguments write nothing. */
    nostr_buf_clear(&b);
    CHECK_EQ(nostr_write_eose(&b, "", 0), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_write_eose(&b, NULL, 1), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_write_closed(&b, "01234567890123456789012345678901234567890123456789012345678901234", 65, "x"),
             NOSTR_ERR_ARG);
    CHECK_EQ(nostr_write_count(&b, "", 0, 1, 0), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_write_event_raw(&b, "s", 1, NULL, 0), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_write_ok(&b, NULL, 1, ""), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_write_notice(NULL, "x"), NOSTR_ERR_ARG);
    CHECK_EQ(b.len, 0);
    nostr_buf_free(&b);
}

static void test_write_errors(void)
{
    nostr_msg m;
    nostr_buf b;
    char small[24];
    nostr_filter f;
    static const nostr_msg_type relay_only[] = {NOSTR_MSG_OK, NOSTR_MSG_EOSE, NOSTR_MSG_CLOSED, NOSTR_MSG_NOTICE};
    static const nostr_msg_type client_only[] = {NOSTR_MSG_REQ, NOSTR_MSG_CLOSE};
    size_t i;
    nostr_buf_init(&b, NULL);
    memset(&m, 0, sizeof m);
    m.sub_id = S("s");
    m.message = S("m");
    for (i = 0; i < 4; i++) {
        m.type = relay_only[i];
        CHECK_EQ(nostr_msg_write(&m, NOSTR_FROM_CLIENT, &b), NOSTR_ERR_ARG);
        CHECK_EQ(nostr_msg_write(&m, NOSTR_FROM_RELAY, &b), NOSTR_OK);
    }
    memset(&f, 0, sizeof f);
    m.filters = &f;
    m.filter_count = 1;
    for (i = 0; i < 2; i++) {
        m.type = client_only[i];
        CHECK_EQ(nostr_msg_write(&m, NOSTR_FROM_RELAY, &b), NOSTR_ERR_ARG);
        CHECK_EQ(nostr_msg_write(&m, NOSTR_FROM_CLIENT, &b), NOSTR_OK);
    }
    CHECK_STR(b.data, "[\"OK\",\"0000000000000000000000000000000000000000000000000000000000000000\",false,\"m\"]"
                      "[\"EOSE\",\"s\"][\"CLOSED\",\"s\",\"m\"][\"NOTICE\",\"m\"][\"REQ\",\"s\",{}][\"CLOSE\",\"s\"]");
    nostr_buf_clear(&b);
    m.type = NOSTR_MSG_NONE;
    CHECK_EQ(nostr_msg_write(&m, NOSTR_FROM_CLIENT, &b), NOSTR_ERR_ARG);
    m.type = (nostr_msg_type)99;
    CHECK_EQ(nostr_msg_write(&m, NOSTR_FROM_RELAY, &b), NOSTR_ERR_ARG);
    /* REQ/COUNT without filters, bad sub ids. */
    m.type = NOSTR_MSG_REQ;
    m.filter_count = 0;
    CHECK_EQ(nostr_msg_write(&m, NOSTR_FROM_CLIENT, &b), NOSTR_ERR_ARG);
    m.type = NOSTR_MSG_COUNT;
    CHECK_EQ(nostr_msg_write(&m, NOSTR_FROM_CLIENT, &b), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_msg_write(&m, NOSTR_FROM_RELAY, &b), NOSTR_OK); /* the relay's COUNT has none */
    nostr_buf_clear(&b);
    m.filter_count = 1;
    m.sub_id = S("");
    CHECK_EQ(nostr_msg_write(&m, NOSTR_FROM_CLIENT, &b), NOSTR_ERR_ARG);
    m.type = NOSTR_MSG_EOSE;
    m.sub_id.ptr = NULL;
    CHECK_EQ(nostr_msg_write(&m, NOSTR_FROM_RELAY, &b), NOSTR_ERR_ARG);
    CHECK_EQ(b.len, 0);
    CHECK_EQ(nostr_msg_write(NULL, NOSTR_FROM_RELAY, &b), NOSTR_ERR_ARG);
    /* A filter that cannot be written fails the message, which is undone. */
    m.type = NOSTR_MSG_REQ;
    m.sub_id = S("s");
    f.fields = NOSTR_FILTER_SINCE;
    f.since = -1;
    CHECK_EQ(nostr_buf_append_str(&b, "keep"), NOSTR_OK);
    CHECK_EQ(nostr_msg_write(&m, NOSTR_FROM_CLIENT, &b), NOSTR_ERR_ARG);
    CHECK_STR(b.data, "keep");
    nostr_buf_free(&b);
    /* A fixed buffer too small: BUFFER, and the earlier content stays. */
    nostr_buf_init_fixed(&b, small, sizeof small);
    CHECK_EQ(nostr_write_eose(&b, "a", 1), NOSTR_OK);
    CHECK_EQ(nostr_write_closed(&b, "a", 1, "a long enough message"), NOSTR_ERR_BUFFER);
    CHECK_STR(b.data, "[\"EOSE\",\"a\"]");
    CHECK_EQ(nostr_write_notice(&b, "0123456789abcdef"), NOSTR_ERR_BUFFER);
    CHECK_EQ(b.len, 12);
    CHECK_STR(b.data, "[\"EOSE\",\"a\"]");
}

int main(void)
{
    if (!load_events()) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    TEST_RUN(test_event_messages);
    TEST_RUN(test_round_trips_client);
    TEST_RUN(test_round_trips_relay);
    TEST_RUN(test_real_world);
    TEST_RUN(test_malformed);
    TEST_RUN(test_sub_id_lengths);
    TEST_RUN(test_filter_counts);
    TEST_RUN(test_writers);
    TEST_RUN(test_write_errors);
    return TEST_DONE();
}
