/* NIP-01 events: the shared vectors (canonical form byte for byte, ids,
 * signatures, wire variants), a sample of real events (every one parses,
 * re-serializes to its id, re-emits its exact JSON, verifies; every
 * altered copy fails for the right reason), parser strictness, tag
 * helpers, building and signing, and allocation-free parsing. */
#include "test.h"

static nostr_ctx *ctx;

/* ---- helpers ---- */

static int str_eq(const nostr_str *a, const nostr_str *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

static int str_is(const nostr_str *a, const char *z)
{
    return a->len == strlen(z) && memcmp(a->ptr, z, a->len) == 0;
}

/* Same event content (json_offset/json_len aside). */
static int events_equal(const nostr_event *a, const nostr_event *b)
{
    size_t i, j;
    if (memcmp(a->id, b->id, 32) || memcmp(a->pubkey, b->pubkey, 32) || memcmp(a->sig, b->sig, 64)) return 0;
    if (a->created_at != b->created_at || a->kind != b->kind || a->tag_count != b->tag_count) return 0;
    if (!str_eq(&a->content, &b->content)) return 0;
    for (i = 0; i < a->tag_count; i++) {
        if (a->tags[i].count != b->tags[i].count) return 0;
        for (j = 0; j < a->tags[i].count; j++)
            if (!str_eq(&a->tags[i].items[j], &b->tags[i].items[j])) return 0;
    }
    return 1;
}

/* to_json, parse it back, and compare. */
static int roundtrip_ok(const nostr_event *ev)
{
    nostr_buf b;
    nostr_arena a;
    nostr_event back;
    int ok;
    nostr_buf_init(&b, NULL);
    nostr_arena_init(&a, NULL, 0, NULL);
    ok = nostr_event_to_json(ev, &b) == NOSTR_OK && nostr_event_parse(&back, b.data, b.len, &a, NULL, NULL) == NOSTR_OK &&
         events_equal(ev, &back) && back.json_offset == 0 && back.json_len == b.len;
    nostr_buf_free(&b);
    nostr_arena_free(&a);
    return ok;
}

/* compute_id (streamed through the stack buffer) == SHA-256(serialize). */
static int id_paths_agree(const nostr_event *ev)
{
    nostr_buf b;
    unsigned char a[32], c[32];
    int ok;
    nostr_buf_init(&b, NULL);
    ok = nostr_event_serialize(ev, &b) == NOSTR_OK;
    nostr_sha256(b.data, b.len, a);
    nostr_event_compute_id(ev, c);
    nostr_buf_free(&b);
    return ok && memcmp(a, c, 32) == 0;
}

/* ---- the shared vectors, read with the library's own JSON reader ---- */

typedef struct vector {
    nostr_event ev;
    int ev_rc;
    unsigned char expected_id[32];
    int valid_sig, id_matches;
    nostr_str serialized, wire, description;
    int has_wire;
} vector;

static int read_vector(nostr_json *r, nostr_arena *a, vector *v)
{
    char key[32];
    size_t kl;
    int more;
    memset(v, 0, sizeof *v);
    v->ev_rc = -999;
    if (nostr_json_object_begin(r)) return -1;
    while ((more = nostr_json_object_next(r, key, sizeof key, &kl)) > 0) {
        int rc;
        if (!strcmp(key, "event"))
            rc = v->ev_rc = nostr_event_parse_json(&v->ev, r, a);
        else if (!strcmp(key, "expected_id"))
            rc = nostr_json_hex(r, v->expected_id, 32);
        else if (!strcmp(key, "valid_sig"))
            rc = nostr_json_bool(r, &v->valid_sig);
        else if (!strcmp(key, "id_matches"))
            rc = nostr_json_bool(r, &v->id_matches);
        else if (!strcmp(key, "serialized"))
            rc = nostr_json_string(r, a, &v->serialized);
        else if (!strcmp(key, "description"))
            rc = nostr_json_string(r, a, &v->description);
        else if (!strcmp(key, "wire_json")) {
            rc = nostr_json_string(r, a, &v->wire);
            v->has_wire = 1;
        } else
            rc = nostr_json_skip(r);
        if (rc) return rc;
    }
    return more;
}

static void check_vector(const char *file, vector *v, nostr_arena *a)
{
    nostr_event again, wire;
    nostr_buf b;
    unsigned char id[32];
    int rc;
    const char *what = v->description.ptr;

    CHECK_EQ(v->ev_rc, NOSTR_OK);
    if (v->ev_rc) return;
    /* The object's text as it lay in the file parses to the same event. */
    CHECK_EQ(nostr_event_parse(&again, file + v->ev.json_offset, v->ev.json_len, a, NULL, NULL), NOSTR_OK);
    CHECK(events_equal(&v->ev, &again));
    CHECK(file[v->ev.json_offset] == '{' && file[v->ev.json_offset + v->ev.json_len - 1] == '}');

    /* Canonical form byte for byte, and the id over it. */
    nostr_buf_init(&b, NULL);
    CHECK_EQ(nostr_event_serialize(&v->ev, &b), NOSTR_OK);
    if (b.len != v->serialized.len || memcmp(b.data, v->serialized.ptr, b.len) != 0) {
        fprintf(stderr, "serialization differs: %s\n", what);
        CHECK(0);
    }
    nostr_buf_free(&b);
    nostr_event_compute_id(&v->ev, id);
    CHECK_MEM(id, v->expected_id, 32);
    CHECK(id_paths_agree(&v->ev));

    /* id_matches and valid_sig agree with check / verify. */
    CHECK_EQ(memcmp(v->ev.id, v->expected_id, 32) == 0, v->id_matches);
    rc = nostr_event_check(&v->ev, NULL, NULL);
    CHECK_EQ(rc, v->id_matches ? NOSTR_OK : NOSTR_ERR_ID);
    rc = nostr_schnorr_verify(ctx, v->ev.pubkey, v->expected_id, 32, v->ev.sig);
    CHECK_EQ(rc == NOSTR_OK, v->valid_sig);
    if (v->id_matches) {
        rc = nostr_event_verify(ctx, &v->ev);
        CHECK_EQ(rc == NOSTR_OK, v->valid_sig);
        if (!v->valid_sig) CHECK(rc == NOSTR_ERR_SIG || rc == NOSTR_ERR_PUBKEY);
    }
    rc = nostr_event_validate(ctx, &v->ev, NULL, NULL);
    CHECK_EQ(rc == NOSTR_OK, v->id_matches && v->valid_sig);
    if (rc != NOSTR_OK && (v->id_matches && v->valid_sig)) fprintf(stderr, "validate failed: %s\n", what);

    /* The wire variant maps to the same event and id. */
    if (v->has_wire) {
        CHECK_EQ(nostr_event_parse(&wire, v->wire.ptr, v->wire.len, a, NULL, NULL), NOSTR_OK);
        CHECK(events_equal(&v->ev, &wire));
        nostr_event_compute_id(&wire, id);
        CHECK_MEM(id, v->expected_id, 32);
    }
    CHECK(roundtrip_ok(&v->ev));
}

static void test_vectors(void)
{
    size_t len;
    char *file = test_read_file("nip01-events.json", &len);
    nostr_json r;
    nostr_arena a;
    char key[32];
    size_t kl;
    int count = 0, declared = -1, wires = 0, invalid = 0;
    CHECK(file != NULL);
    if (!file) return;
    nostr_arena_init(&a, NULL, 0, NULL);
    nostr_json_init(&r, file, len, NULL);
    CHECK_EQ(nostr_json_object_begin(&r), NOSTR_OK);
    while (nostr_json_object_next(&r, key, sizeof key, &kl) > 0) {
        if (!strcmp(key, "count")) {
            long long n;
            CHECK_EQ(nostr_json_int64(&r, &n), NOSTR_OK);
            declared = (int)n;
        } else if (!strcmp(key, "vectors")) {
            CHECK_EQ(nostr_json_array_begin(&r), NOSTR_OK);
            while (nostr_json_array_next(&r) > 0) {
                vector v;
                CHECK_EQ(read_vector(&r, &a, &v), 0);
                check_vector(file, &v, &a);
                count++;
                wires += v.has_wire;
                invalid += !(v.valid_sig && v.id_matches);
            }
        } else {
            CHECK_EQ(nostr_json_skip(&r), NOSTR_OK);
        }
    }
    CHECK_EQ(nostr_json_finish(&r), NOSTR_OK);
    CHECK_EQ(count, 67);
    CHECK_EQ(count, declared);
    CHECK_EQ(wires, 3);
    CHECK_EQ(invalid, 9);
    nostr_arena_free(&a);
    free(file);
}

/* ---- real events ---- */

/* Change one byte of s (in a copy) so it stays valid UTF-8: an ASCII byte
 * becomes another ASCII byte; a string without one gets "x" appended. */
static nostr_str altered(nostr_arena *a, const nostr_str *s)
{
    nostr_str out;
    char *p = (char *)nostr_arena_alloc(a, s->len + 2);
    size_t i;
    memcpy(p, s->ptr, s->len);
    out.ptr = p;
    out.len = s->len;
    for (i = s->len / 2; i < s->len; i++)
        if ((unsigned char)p[i] < 0x80) break;
    if (i == s->len)
        for (i = 0; i < s->len; i++)
            if ((unsigned char)p[i] < 0x80) break;
    if (i < s->len)
        p[i] = p[i] == 'x' ? 'y' : 'x';
    else
        p[out.len++] = 'x';
    p[out.len] = 0;
    return out;
}

/* Emit the altered event as JSON, parse that, and return check's result
 * (and verify's through *vrc). */
static int check_altered(const nostr_event *ev, int *vrc)
{
    nostr_buf b;
    nostr_arena a;
    nostr_event back;
    int rc;
    nostr_buf_init(&b, NULL);
    nostr_arena_init(&a, NULL, 0, NULL);
    rc = nostr_event_to_json(ev, &b);
    if (!rc) rc = nostr_event_parse(&back, b.data, b.len, &a, NULL, NULL);
    if (!rc) {
        rc = nostr_event_check(&back, NULL, NULL);
        if (vrc) *vrc = nostr_event_verify(ctx, &back);
    }
    nostr_buf_free(&b);
    nostr_arena_free(&a);
    return rc;
}

static void alter_and_check(const nostr_event *orig, nostr_arena *a, int *done)
{
    nostr_event ev = *orig;
    int vrc = 0;
    size_t i;

    ev.content = altered(a, &orig->content);
    CHECK_EQ(check_altered(&ev, NULL), NOSTR_ERR_ID);
    done[0]++;

    ev = *orig;
    for (i = 0; i < ev.tag_count && ev.tags[i].count == 0; i++) {
    }
    if (i < ev.tag_count) {
        /* A private copy of the tag list, one value changed. */
        nostr_tag *tags = (nostr_tag *)nostr_arena_alloc(a, ev.tag_count * sizeof(nostr_tag));
        nostr_str *items = (nostr_str *)nostr_arena_alloc(a, ev.tags[i].count * sizeof(nostr_str));
        size_t which = ev.tags[i].count >= 2 ? 1 : 0;
        memcpy(tags, ev.tags, ev.tag_count * sizeof(nostr_tag));
        memcpy(items, ev.tags[i].items, ev.tags[i].count * sizeof(nostr_str));
        items[which] = altered(a, &items[which]);
        tags[i].items = items;
        ev.tags = tags;
        CHECK_EQ(check_altered(&ev, NULL), NOSTR_ERR_ID);
        done[1]++;
    }

    ev = *orig;
    ev.id[(size_t)orig->created_at % 32] ^= 0x10;
    CHECK_EQ(check_altered(&ev, NULL), NOSTR_ERR_ID);
    done[2]++;

    ev = *orig;
    ev.sig[(size_t)orig->created_at % 64] ^= 0x01;
    CHECK_EQ(check_altered(&ev, &vrc), NOSTR_OK);
    CHECK_EQ(vrc, NOSTR_ERR_SIG);
    done[3]++;

    ev = *orig;
    ev.pubkey[31] ^= 0x01;
    CHECK_EQ(check_altered(&ev, &vrc), NOSTR_ERR_ID);
    CHECK(vrc == NOSTR_ERR_SIG || vrc == NOSTR_ERR_PUBKEY);
    done[4]++;
}

static void test_real_events(void)
{
    size_t len, n = 0, exact_json = 0, big = 0;
    char *file = test_read_file("events-real.jsonl", &len);
    char *line, *end;
    static unsigned char mem[1 << 16];
    nostr_arena a;
    nostr_buf out;
    int done[5] = {0, 0, 0, 0, 0};
    int parse_fail = 0, check_fail = 0, verify_fail = 0, id_fail = 0, json_fail = 0;
    CHECK(file != NULL);
    if (!file) return;
    nostr_arena_init(&a, mem, sizeof mem, NULL);
    nostr_buf_init(&out, NULL);
    for (line = file; line < file + len; line = end + 1) {
        nostr_event ev;
        nostr_error err;
        unsigned char id[32];
        size_t ll;
        end = (char *)memchr(line, '\n', (size_t)(file + len - line));
        if (!end) end = file + len;
        ll = (size_t)(end - line);
        if (!ll) continue;
        n++;
        if (ll > 100000) big++;
        nostr_arena_reset(&a);
        if (nostr_event_parse(&ev, line, ll, &a, NULL, &err) != NOSTR_OK) {
            if (parse_fail++ < 3) fprintf(stderr, "line %zu: %s at %zu\n", n, err.msg, err.offset);
            continue;
        }
        CHECK(ev.json_offset == 0 && ev.json_len == ll);
        nostr_event_compute_id(&ev, id);
        if (memcmp(id, ev.id, 32) != 0 || !id_paths_agree(&ev)) id_fail++;
        if (nostr_event_check(&ev, NULL, NULL) != NOSTR_OK) check_fail++;
        if (nostr_event_verify(ctx, &ev) != NOSTR_OK) verify_fail++;
        /* The corpus is JSON.stringify output: to_json gives it back exactly. */
        nostr_buf_clear(&out);
        if (nostr_event_to_json(&ev, &out) == NOSTR_OK && out.len == ll && memcmp(out.data, line, ll) == 0)
            exact_json++;
        else if (json_fail++ < 3)
            fprintf(stderr, "line %zu: to_json differs from the input\n", n);
        alter_and_check(&ev, &a, done);
    }
    printf("real events: %zu (%zu over 100 KB), altered copies: content %d, tag %d, id %d, sig %d, pubkey %d\n", n,
           big, done[0], done[1], done[2], done[3], done[4]);
    CHECK_EQ(n, 2013);
    CHECK_EQ(big, 16);
    CHECK_EQ(parse_fail, 0);
    CHECK_EQ(id_fail, 0);
    CHECK_EQ(check_fail, 0);
    CHECK_EQ(verify_fail, 0);
    CHECK_EQ(json_fail, 0);
    CHECK_EQ(exact_json, n);
    CHECK_EQ(done[0], (int)n);
    CHECK(done[1] > (int)n / 2);
    nostr_buf_free(&out);
    nostr_arena_free(&a);
    free(file);
}

/* ---- strictness ---- */

#define ID64 "0000000000000000000000000000000000000000000000000000000000000001"
#define PK64 "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
#define SIG128 ID64 ID64

static nostr_arena SA;
static unsigned char smem[1 << 16];
static nostr_error SERR;

/* Parse `json`; returns the code (err in SERR). */
static int sparse_lim(const char *json, const nostr_limits *lim)
{
    nostr_event ev;
    nostr_arena_init(&SA, smem, sizeof smem, NULL);
    memset(&SERR, 0, sizeof SERR);
    return nostr_event_parse(&ev, json, strlen(json), &SA, lim, &SERR);
}

static int sparse(const char *json)
{
    return sparse_lim(json, NULL);
}

/* An event with one field's value (or more) replaced: fields are given in
 * order, NULL means the default, "-" leaves the field out. */
static char *mk(char *buf, const char *id, const char *pk, const char *ca, const char *kind, const char *tags,
                const char *content, const char *sig, const char *extra)
{
    char *p = buf;
    const char *names[7] = {"id", "pubkey", "created_at", "kind", "tags", "content", "sig"};
    const char *vals[7];
    const char *defs[7] = {"\"" ID64 "\"", "\"" PK64 "\"", "1700000000", "1", "[[\"e\",\"x\"]]", "\"hi\"",
                           "\"" SIG128 "\""};
    int i, first = 1;
    vals[0] = id;
    vals[1] = pk;
    vals[2] = ca;
    vals[3] = kind;
    vals[4] = tags;
    vals[5] = content;
    vals[6] = sig;
    p += sprintf(p, "{");
    for (i = 0; i < 7; i++) {
        const char *v = vals[i] ? vals[i] : defs[i];
        if (!strcmp(v, "-")) continue;
        p += sprintf(p, "%s\"%s\":%s", first ? "" : ",", names[i], v);
        first = 0;
    }
    if (extra) p += sprintf(p, ",%s", extra);
    sprintf(p, "}");
    return buf;
}

/* Offset of the first occurrence of `needle` in `hay`. */
static size_t off_of(const char *hay, const char *needle)
{
    const char *p = strstr(hay, needle);
    return p ? (size_t)(p - hay) : (size_t)-1;
}

static void expect(const char *json, int code, size_t offset, const char *msg_has)
{
    int rc = sparse(json);
    CHECK_EQ(rc, code);
    if (offset != (size_t)-2) CHECK_EQ(SERR.offset, offset);
    if (msg_has) CHECK(SERR.msg && strstr(SERR.msg, msg_has));
    if (rc != code) fprintf(stderr, "  input: %s\n  msg: %s\n", json, SERR.msg ? SERR.msg : "(none)");
}

#define ANY_OFFSET ((size_t)-2)

static void test_strict_fields(void)
{
    static char b[4096];
    const char *names[7] = {"'id'", "'pubkey'", "'created_at'", "'kind'", "'tags'", "'content'", "'sig'"};
    int i;
    CHECK_EQ(sparse(mk(b, 0, 0, 0, 0, 0, 0, 0, 0)), NOSTR_OK);
    /* missing: reported at the object */
    for (i = 0; i < 7; i++) {
        const char *v[7] = {0, 0, 0, 0, 0, 0, 0};
        v[i] = "-";
        mk(b, v[0], v[1], v[2], v[3], v[4], v[5], v[6], 0);
        expect(b, NOSTR_ERR_FIELD, 0, names[i]);
        CHECK(strstr(SERR.msg, "missing") != NULL);
    }
    /* duplicate: reported at the second value */
    mk(b, 0, 0, 0, 0, 0, 0, 0, "\"kind\":7");
    expect(b, NOSTR_ERR_FIELD, off_of(b, ":7}") + 1, "'kind': duplicate");
    mk(b, 0, 0, 0, 0, 0, 0, 0, "\"content\":\"again\"");
    expect(b, NOSTR_ERR_FIELD, off_of(b, "\"again\""), "'content': duplicate");
    /* a key escaped differently is still the same key */
    mk(b, 0, 0, 0, 0, 0, 0, 0, "\"\\u0069d\":\"" ID64 "\"");
    expect(b, NOSTR_ERR_FIELD, ANY_OFFSET, "'id': duplicate");
    /* mistyped */
    mk(b, "1", 0, 0, 0, 0, 0, 0, 0);
    expect(b, NOSTR_ERR_FIELD, 6, "'id'");
    mk(b, 0, "null", 0, 0, 0, 0, 0, 0);
    expect(b, NOSTR_ERR_FIELD, ANY_OFFSET, "'pubkey'");
    mk(b, 0, 0, "\"1700000000\"", 0, 0, 0, 0, 0);
    expect(b, NOSTR_ERR_FIELD, off_of(b, "\"1700000000\""), "'created_at'");
    mk(b, 0, 0, 0, "\"1\"", 0, 0, 0, 0);
    expect(b, NOSTR_ERR_FIELD, ANY_OFFSET, "'kind'");
    mk(b, 0, 0, 0, "true", 0, 0, 0, 0);
    expect(b, NOSTR_ERR_FIELD, ANY_OFFSET, "'kind'");
    mk(b, 0, 0, 0, 0, "{}", 0, 0, 0);
    expect(b, NOSTR_ERR_FIELD, off_of(b, "{}"), "'tags'");
    mk(b, 0, 0, 0, 0, 0, "1", 0, 0);
    expect(b, NOSTR_ERR_FIELD, ANY_OFFSET, "'content'");
    mk(b, 0, 0, 0, 0, 0, "null", 0, 0);
    expect(b, NOSTR_ERR_FIELD, ANY_OFFSET, "'content'");
    mk(b, 0, 0, 0, 0, 0, "[\"hi\"]", 0, 0);
    expect(b, NOSTR_ERR_FIELD, ANY_OFFSET, "'content'");
    mk(b, 0, 0, 0, 0, 0, 0, "{}", 0);
    expect(b, NOSTR_ERR_FIELD, ANY_OFFSET, "'sig'");
    /* not an object at all */
    expect("[]", NOSTR_ERR_FIELD, 0, "object");
    expect("  \"x\"", NOSTR_ERR_FIELD, 2, "object");
    expect("", NOSTR_ERR_JSON, 0, NULL);
    expect("{", NOSTR_ERR_JSON, 1, NULL);
    /* unknown fields of any shape are skipped; so are long keys */
    CHECK_EQ(sparse(mk(b, 0, 0, 0, 0, 0, 0, 0, "\"extra\":{\"a\":[1,2.5e3,{\"b\":null}],\"c\":true}")), NOSTR_OK);
    CHECK_EQ(sparse(mk(b, 0, 0, 0, 0, 0, 0, 0, "\"a_very_long_unknown_key_name_here\":\"v\"")), NOSTR_OK);
    CHECK_EQ(sparse(mk(b, 0, 0, 0, 0, 0, 0, 0, "\"extra\":1,\"extra\":2")), NOSTR_OK);
}

static void test_strict_hex(void)
{
    static char b[4096];
    /* uppercase, wrong lengths, non-hex: HEX at the string */
    mk(b, "\"000000000000000000000000000000000000000000000000000000000000000A\"", 0, 0, 0, 0, 0, 0, 0);
    expect(b,
           NOSTR_ERR_HEX, 6, "'id'");
    mk(b, "\"" ID64 "0\"", 0, 0, 0, 0, 0, 0, 0);
    expect(b, NOSTR_ERR_HEX, 6, "'id'");
    mk(b, "\"00\"", 0, 0, 0, 0, 0, 0, 0);
    expect(b, NOSTR_ERR_HEX, 6, "'id'");
    mk(b, "\"\"", 0, 0, 0, 0, 0, 0, 0);
    expect(b, NOSTR_ERR_HEX, 6, "'id'");
    mk(b, 0, "\"79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798\"", 0, 0, 0, 0, 0, 0);
    expect(b,
           NOSTR_ERR_HEX, off_of(b, "\"79BE"), "'pubkey'");
    mk(b, 0, "\"79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f8179\"", 0, 0, 0, 0, 0, 0);
    expect(b,
           NOSTR_ERR_HEX, ANY_OFFSET, "'pubkey'");
    mk(b, 0, "\"79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f8179g\"", 0, 0, 0, 0, 0, 0);
    expect(b,
           NOSTR_ERR_HEX, ANY_OFFSET, "'pubkey'");
    mk(b, 0, 0, 0, 0, 0, 0, "\"" ID64 "\"", 0);
    expect(b, NOSTR_ERR_HEX, ANY_OFFSET, "'sig'");
    mk(b, 0, 0, 0, 0, 0, 0, "\"" SIG128 "00\"", 0);
    expect(b, NOSTR_ERR_HEX, ANY_OFFSET, "'sig'");
    /* hex written with escapes is still a string of the wrong form */
    mk(b, "\"\\u0030" "00000000000000000000000000000000000000000000000000000000000001\"", 0, 0, 0, 0, 0, 0, 0);
    expect(b,
           NOSTR_ERR_HEX, 6, "'id'");
}

/* Every byte value at every position of the id: only lowercase hex
 * parses, and it decodes to the right nibble. */
static void test_hex_every_byte(void)
{
    static char b[4096];
    int pos, c, wrong = 0;
    for (pos = 0; pos < 64; pos++)
        for (c = 1; c < 256; c++) {
            char id[65];
            char val[70];
            nostr_event ev;
            int rc, is_hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
            memset(id, '0', 64);
            id[64] = 0;
            id[pos] = (char)c;
            sprintf(val, "\"%s\"", id);
            mk(b, val, 0, 0, 0, 0, 0, 0, 0);
            nostr_arena_init(&SA, smem, sizeof smem, NULL);
            rc = nostr_event_parse(&ev, b, strlen(b), &SA, NULL, NULL);
            if (is_hex) {
                int nib = c <= '9' ? c - '0' : c - 'a' + 10;
                int got = pos % 2 ? ev.id[pos / 2] & 15 : ev.id[pos / 2] >> 4;
                if (rc != NOSTR_OK || got != nib || ev.id[pos / 2] != (pos % 2 ? nib : nib << 4)) wrong++;
            } else if (rc == NOSTR_OK) {
                wrong++;
            }
        }
    CHECK_EQ(wrong, 0);
}

static void test_strict_numbers(void)
{
    static char b[4096];
    nostr_event ev;
    CHECK_EQ(sparse(mk(b, 0, 0, 0, "65535", 0, 0, 0, 0)), NOSTR_OK);
    CHECK_EQ(sparse(mk(b, 0, 0, 0, "0", 0, 0, 0, 0)), NOSTR_OK);
    mk(b, 0, 0, 0, "65536", 0, 0, 0, 0);
    expect(b, NOSTR_ERR_KIND, off_of(b, "65536"), "'kind'");
    mk(b, 0, 0, 0, "99999999999999999999999", 0, 0, 0, 0);
    expect(b, NOSTR_ERR_KIND, off_of(b, "9999"), "'kind'");
    mk(b, 0, 0, 0, "-1", 0, 0, 0, 0);
    expect(b, NOSTR_ERR_FIELD, off_of(b, "-1"), "'kind'");
    mk(b, 0, 0, 0, "1.0", 0, 0, 0, 0);
    expect(b, NOSTR_ERR_FIELD, off_of(b, "1.0"), "'kind'");
    mk(b, 0, 0, 0, "1e2", 0, 0, 0, 0);
    expect(b, NOSTR_ERR_FIELD, ANY_OFFSET, "'kind'");
    mk(b, 0, 0, 0, "01", 0, 0, 0, 0);
    expect(b, NOSTR_ERR_JSON, ANY_OFFSET, NULL);
    CHECK_EQ(sparse(mk(b, 0, 0, "0", 0, 0, 0, 0, 0)), NOSTR_OK);
    CHECK_EQ(sparse(mk(b, 0, 0, "9223372036854775807", 0, 0, 0, 0, 0)), NOSTR_OK);
    mk(b, 0, 0, "9223372036854775808", 0, 0, 0, 0, 0);
    expect(b, NOSTR_ERR_TOO_LARGE, off_of(b, "9223"), "'created_at'");
    mk(b, 0, 0, "-1700000000", 0, 0, 0, 0, 0);
    expect(b, NOSTR_ERR_FIELD, off_of(b, "-17"), "'created_at'");
    mk(b, 0, 0, "1700000000.5", 0, 0, 0, 0, 0);
    expect(b, NOSTR_ERR_FIELD, off_of(b, "1700000000.5"), "'created_at'");
    mk(b, 0, 0, "1.7e9", 0, 0, 0, 0, 0);
    expect(b, NOSTR_ERR_FIELD, ANY_OFFSET, "'created_at'");
    mk(b, 0, 0, "-0", 0, 0, 0, 0, 0);
    expect(b, NOSTR_ERR_FIELD, ANY_OFFSET, "'created_at'");
    mk(b, 0, 0, "1.", 0, 0, 0, 0, 0);
    expect(b, NOSTR_ERR_JSON, ANY_OFFSET, NULL);
    /* the parsed values */
    nostr_arena_init(&SA, smem, sizeof smem, NULL);
    mk(b, 0, 0, "1234567890123", "30023", 0, 0, 0, 0);
    CHECK_EQ(nostr_event_parse(&ev, b, strlen(b), &SA, NULL, NULL), NOSTR_OK);
    CHECK(ev.created_at == 1234567890123LL);
    CHECK_EQ(ev.kind, 30023);
}

static void test_strict_tags(void)
{
    static char b[8192];
    nostr_limits lim;
    nostr_event ev;
    CHECK_EQ(sparse(mk(b, 0, 0, 0, 0, "[]", 0, 0, 0)), NOSTR_OK);
    CHECK_EQ(sparse(mk(b, 0, 0, 0, 0, "[[]]", 0, 0, 0)), NOSTR_OK); /* an empty tag is still an array of strings */
    mk(b, 0, 0, 0, 0, "[1]", 0, 0, 0);
    expect(b, NOSTR_ERR_FIELD, off_of(b, "[1]") + 1, "'tags'");
    mk(b, 0, 0, 0, 0, "[\"e\"]", 0, 0, 0);
    expect(b, NOSTR_ERR_FIELD, off_of(b, "[\"e\"]") + 1, "'tags'");
    mk(b, 0, 0, 0, 0, "[[1]]", 0, 0, 0);
    expect(b, NOSTR_ERR_FIELD, off_of(b, "[[1]]") + 2, "'tags'");
    mk(b, 0, 0, 0, 0, "[[\"e\",[\"x\"]]]", 0, 0, 0);
    expect(b, NOSTR_ERR_FIELD, off_of(b, "[\"x\"]"), "'tags'");
    mk(b, 0, 0, 0, 0, "[[\"e\",null]]", 0, 0, 0);
    expect(b, NOSTR_ERR_FIELD, off_of(b, "null"), "'tags'");
    mk(b, 0, 0, 0, 0, "[[\"e\"],{}]", 0, 0, 0);
    expect(b, NOSTR_ERR_FIELD, off_of(b, "{}]"), "'tags'");
    mk(b, 0, 0, 0, 0, "[[\"e\",]]", 0, 0, 0);
    expect(b, NOSTR_ERR_JSON, ANY_OFFSET, NULL);
    mk(b, 0, 0, 0, 0, "[[\"e\"]]]", 0, 0, 0);
    expect(b, NOSTR_ERR_JSON, off_of(b, "]]],") + 2, NULL);
    /* limits from the reader's nostr_limits */
    memset(&lim, 0, sizeof lim);
    lim.max_tags = 2;
    CHECK_EQ(sparse_lim(mk(b, 0, 0, 0, 0, "[[\"a\"],[\"b\"]]", 0, 0, 0), &lim), NOSTR_OK);
    CHECK_EQ(sparse_lim(mk(b, 0, 0, 0, 0, "[[\"a\"],[\"b\"],[\"c\"]]", 0, 0, 0), &lim), NOSTR_ERR_TOO_LARGE);
    CHECK_EQ(SERR.offset, off_of(b, "[\"c\"]"));
    CHECK(strstr(SERR.msg, "max_tags") != NULL);
    memset(&lim, 0, sizeof lim);
    lim.max_tag_items = 2;
    CHECK_EQ(sparse_lim(mk(b, 0, 0, 0, 0, "[[\"a\",\"b\"]]", 0, 0, 0), &lim), NOSTR_OK);
    CHECK_EQ(sparse_lim(mk(b, 0, 0, 0, 0, "[[\"a\",\"b\",\"c\"]]", 0, 0, 0), &lim), NOSTR_ERR_TOO_LARGE);
    CHECK_EQ(SERR.offset, off_of(b, "\"c\""));
    CHECK(strstr(SERR.msg, "max_tag_items") != NULL);
    memset(&lim, 0, sizeof lim);
    lim.max_depth = 2; /* object, tags array: a tag would be the third level */
    CHECK_EQ(sparse_lim(mk(b, 0, 0, 0, 0, "[]", 0, 0, 0), &lim), NOSTR_OK);
    CHECK_EQ(sparse_lim(mk(b, 0, 0, 0, 0, "[[\"a\"]]", 0, 0, 0), &lim), NOSTR_ERR_DEPTH);
    memset(&lim, 0, sizeof lim);
    lim.max_string = 10; /* keys count too: "created_at" is 10 bytes */
    CHECK_EQ(sparse_lim(mk(b, 0, 0, 0, 0, 0, "\"0123456789\"", 0, 0), &lim), NOSTR_OK);
    CHECK_EQ(sparse_lim(mk(b, 0, 0, 0, 0, 0, "\"0123456789a\"", 0, 0), &lim), NOSTR_ERR_TOO_LARGE);
    memset(&lim, 0, sizeof lim);
    mk(b, 0, 0, 0, 0, 0, 0, 0, 0);
    lim.max_input = strlen(b) - 1;
    CHECK_EQ(sparse_lim(b, &lim), NOSTR_ERR_TOO_LARGE);
    /* tags survive intact through the growth of their arrays */
    {
        char *p = b;
        int i;
        p += sprintf(p, "{\"id\":\"" ID64 "\",\"pubkey\":\"" PK64 "\",\"created_at\":1,\"kind\":1,\"content\":\"\","
                        "\"sig\":\"" SIG128 "\",\"tags\":[");
        for (i = 0; i < 100; i++) p += sprintf(p, "%s[\"t%d\",\"v%d\",\"w\"]", i ? "," : "", i, i % 7);
        sprintf(p, ",[]]}");
        nostr_arena_init(&SA, smem, sizeof smem, NULL);
        CHECK_EQ(nostr_event_parse(&ev, b, strlen(b), &SA, NULL, NULL), NOSTR_OK);
        CHECK_EQ(ev.tag_count, 101);
        CHECK_EQ(ev.tags[57].count, 3);
        CHECK(str_is(&ev.tags[57].items[0], "t57") && str_is(&ev.tags[57].items[1], "v1"));
        CHECK(str_is(&ev.tags[99].items[2], "w"));
        CHECK_EQ(ev.tags[100].count, 0);
        CHECK(roundtrip_ok(&ev));
    }
}

static void test_strict_text(void)
{
    static char b[4096];
    char deep[200];
    int i;
    /* nesting in an unknown field */
    for (i = 0; i < 40; i++) deep[i] = '[';
    for (i = 40; i < 80; i++) deep[i] = ']';
    strcpy(deep + 80, "");
    {
        char extra[256];
        sprintf(extra, "\"x\":%s", deep);
        mk(b, 0, 0, 0, 0, 0, 0, 0, extra);
        expect(b, NOSTR_ERR_DEPTH, ANY_OFFSET, NULL);
    }
    /* trailing garbage after the object; trailing white space is fine */
    mk(b, 0, 0, 0, 0, 0, 0, 0, 0);
    strcat(b, " \n\t");
    CHECK_EQ(sparse(b), NOSTR_OK);
    strcat(b, "x");
    expect(b, NOSTR_ERR_JSON, strlen(b) - 1, NULL);
    mk(b, 0, 0, 0, 0, 0, 0, 0, 0);
    strcat(b, "{}");
    expect(b, NOSTR_ERR_JSON, strlen(b) - 2, NULL);
    /* invalid UTF-8 and lone surrogates, in content, in a tag, in an unknown field */
    mk(b, 0, 0, 0, 0, 0, "\"ab\xff\"", 0, 0);
    expect(b, NOSTR_ERR_UTF8, off_of(b, "\xff"), NULL);
    mk(b, 0, 0, 0, 0, 0, "\"\xc0\xaf\"", 0, 0);
    expect(b, NOSTR_ERR_UTF8, off_of(b, "\xc0"), NULL);
    mk(b, 0, 0, 0, 0, 0, "\"\xed\xa0\x80\"", 0, 0);
    expect(b, NOSTR_ERR_UTF8, ANY_OFFSET, NULL);
    mk(b, 0, 0, 0, 0, 0, "\"x\\ud800y\"", 0, 0);
    expect(b, NOSTR_ERR_UTF8, off_of(b, "\\ud800"), NULL);
    mk(b, 0, 0, 0, 0, 0, "\"\\udc00\"", 0, 0);
    expect(b, NOSTR_ERR_UTF8, ANY_OFFSET, NULL);
    mk(b, 0, 0, 0, 0, "[[\"e\",\"\\ud83d\"]]", 0, 0, 0);
    expect(b, NOSTR_ERR_UTF8, off_of(b, "\\ud83d"), NULL);
    mk(b, 0, 0, 0, 0, "[[\"e\xe2\x82\"]]", 0, 0, 0);
    expect(b, NOSTR_ERR_UTF8, ANY_OFFSET, NULL);
    mk(b, 0, 0, 0, 0, 0, 0, 0, "\"x\":\"\xf8\"");
    expect(b, NOSTR_ERR_UTF8, off_of(b, "\xf8"), NULL);
    mk(b, 0, 0, 0, 0, 0, 0, 0, "\"\xf8\":1");
    expect(b, NOSTR_ERR_UTF8, ANY_OFFSET, NULL);
    /* raw control characters are not JSON */
    mk(b, 0, 0, 0, 0, 0, "\"a\nb\"", 0, 0);
    expect(b, NOSTR_ERR_JSON, off_of(b, "\n"), NULL);
    /* a valid surrogate pair decodes to one code point */
    {
        nostr_event ev;
        nostr_arena_init(&SA, smem, sizeof smem, NULL);
        mk(b, 0, 0, 0, 0, 0, "\"\\ud83d\\ude00\\u00e9\\/\"", 0, 0);
        CHECK_EQ(nostr_event_parse(&ev, b, strlen(b), &SA, NULL, NULL), NOSTR_OK);
        CHECK(str_is(&ev.content, "\xf0\x9f\x98\x80\xc3\xa9/"));
    }
    /* NULL arguments */
    {
        nostr_event ev;
        nostr_arena_init(&SA, smem, sizeof smem, NULL);
        CHECK_EQ(nostr_event_parse(&ev, NULL, 5, &SA, NULL, NULL), NOSTR_ERR_ARG);
        CHECK_EQ(nostr_event_parse(&ev, "{}", 2, NULL, NULL, NULL), NOSTR_ERR_ARG);
        CHECK_EQ(nostr_event_parse(&ev, NULL, 0, &SA, NULL, NULL), NOSTR_ERR_JSON);
    }
}

/* ---- inside a message, allocation-free parsing ---- */

static void test_parse_in_message(void)
{
    static char b[4096], msg[4200];
    nostr_json r;
    nostr_str s;
    nostr_event ev;
    const char *obj;
    mk(b, 0, 0, 0, 0, 0, 0, 0, 0);
    sprintf(msg, "[ \"EVENT\" , %s ]", b);
    nostr_arena_init(&SA, smem, sizeof smem, NULL);
    nostr_json_init(&r, msg, strlen(msg), NULL);
    CHECK_EQ(nostr_json_array_begin(&r), NOSTR_OK);
    CHECK_EQ(nostr_json_array_next(&r), 1);
    CHECK_EQ(nostr_json_string(&r, &SA, &s), NOSTR_OK);
    CHECK_EQ(nostr_json_array_next(&r), 1);
    CHECK_EQ(nostr_event_parse_json(&ev, &r, &SA), NOSTR_OK);
    obj = strchr(msg, '{');
    CHECK_EQ(ev.json_offset, (size_t)(obj - msg));
    CHECK_EQ(ev.json_len, strlen(b));
    CHECK(memcmp(msg + ev.json_offset, b, ev.json_len) == 0);
    CHECK_EQ(nostr_json_array_next(&r), 0);
    CHECK_EQ(nostr_json_finish(&r), NOSTR_OK);
    /* an error inside the event is reported at its offset in the message */
    mk(b, 0, 0, 0, "65536", 0, 0, 0, 0);
    sprintf(msg, "[\"EVENT\",%s]", b);
    nostr_json_init(&r, msg, strlen(msg), NULL);
    CHECK_EQ(nostr_json_array_begin(&r), NOSTR_OK);
    CHECK_EQ(nostr_json_array_next(&r), 1);
    CHECK_EQ(nostr_json_skip(&r), NOSTR_OK);
    CHECK_EQ(nostr_json_array_next(&r), 1);
    CHECK_EQ(nostr_event_parse_json(&ev, &r, &SA), NOSTR_ERR_KIND);
    CHECK_EQ(r.err.offset, off_of(msg, "65536"));
    CHECK_EQ(nostr_event_parse_json(&ev, &r, &SA), NOSTR_ERR_KIND); /* errors stick */
}

static void test_no_heap(void)
{
    size_t len;
    char *file = test_read_file("events-real.jsonl", &len);
    const char *line = file, *end;
    unsigned char mem[8192];
    nostr_arena a;
    nostr_event ev;
    unsigned char id[32];
    int tried = 0;
    CHECK(file != NULL);
    if (!file) return;
    /* The first few events of typical size parse in a fixed 8 KB arena,
     * and computing their ids needs no memory at all. */
    for (; line < file + len && tried < 20; line = end + 1) {
        end = (const char *)memchr(line, '\n', (size_t)(file + len - line));
        if (!end) break;
        if (end - line < 300 || end - line > 1500) continue;
        nostr_arena_init_fixed(&a, mem, sizeof mem);
        CHECK_EQ(nostr_event_parse(&ev, line, (size_t)(end - line), &a, NULL, NULL), NOSTR_OK);
        nostr_event_compute_id(&ev, id);
        CHECK_MEM(id, ev.id, 32);
        CHECK_EQ(a.heap_blocks, 0);
        CHECK(a.used <= 2 * (size_t)(end - line) + 1024);
        tried++;
    }
    CHECK_EQ(tried, 20);
    /* A fixed arena too small fails cleanly. */
    {
        static char b[4096];
        unsigned char tiny[64];
        nostr_error err;
        mk(b, 0, 0, 0, 0, "[[\"e\",\"x\"],[\"p\",\"y\"]]", 0, 0, 0);
        nostr_arena_init_fixed(&a, tiny, sizeof tiny);
        CHECK_EQ(nostr_event_parse(&ev, b, strlen(b), &a, NULL, &err), NOSTR_ERR_NOMEM);
        CHECK_EQ(a.heap_blocks, 0);
    }
    free(file);
}

/* ---- canonical escaping equals nostr_json_write_string ---- */

static void test_escaping(void)
{
    char content[256 + 16];
    nostr_event ev;
    nostr_buf canon, want;
    unsigned char mem[4096];
    nostr_arena a;
    int i;
    for (i = 0; i < 128; i++) content[i] = (char)i;
    memcpy(content + 128, "\xe2\x80\xa8\xe2\x80\xa9\xc3\xa9\xf0\x9f\x98\x80/<>&", 16);
    nostr_arena_init(&a, mem, sizeof mem, NULL);
    CHECK_EQ(nostr_event_init(&ev, &a, 1, 1700000000, content, 144), NOSTR_OK);
    CHECK_EQ(nostr_event_add_tag4(&ev, &a, "t", "a\"b\\c\n", NULL, NULL), NOSTR_OK);
    nostr_buf_init(&canon, NULL);
    nostr_buf_init(&want, NULL);
    CHECK_EQ(nostr_event_serialize(&ev, &canon), NOSTR_OK);
    nostr_buf_append_str(&want, "[0,\"0000000000000000000000000000000000000000000000000000000000000000\",1700000000,1,[[");
    nostr_json_write_string(&want, "t", 1);
    nostr_buf_append_char(&want, ',');
    nostr_json_write_string(&want, "a\"b\\c\n", 6);
    nostr_buf_append_str(&want, "]],");
    nostr_json_write_string(&want, content, 144);
    nostr_buf_append_char(&want, ']');
    CHECK_EQ(canon.len, want.len);
    CHECK(canon.len == want.len && memcmp(canon.data, want.data, canon.len) == 0);
    CHECK(id_paths_agree(&ev));
    /* a fixed output buffer that is too small */
    {
        char small[40];
        nostr_buf fb;
        nostr_buf_init_fixed(&fb, small, sizeof small);
        CHECK_EQ(nostr_event_serialize(&ev, &fb), NOSTR_ERR_BUFFER);
        nostr_buf_init_fixed(&fb, small, sizeof small);
        CHECK_EQ(nostr_event_to_json(&ev, &fb), NOSTR_ERR_BUFFER);
    }
    /* content that crosses the hashing stage buffer in every way */
    {
        static char big[5000];
        unsigned lens[] = {0, 1, 400, 470, 511, 512, 513, 1023, 1024, 4999};
        size_t k;
        for (i = 0; i < 5000; i++) big[i] = (char)(i % 7 == 0 ? '\n' : 'a' + i % 26);
        for (k = 0; k < sizeof lens / sizeof lens[0]; k++) {
            nostr_arena_reset(&a);
            CHECK_EQ(nostr_event_init(&ev, &a, 1, 5, big, lens[k]), NOSTR_OK);
            CHECK(id_paths_agree(&ev));
        }
    }
    nostr_buf_free(&canon);
    nostr_buf_free(&want);
    nostr_arena_free(&a);
}

/* ---- building, tags, classes, checks ---- */

static void test_build_and_sign(void)
{
    nostr_arena a;
    nostr_event ev, copy;
    nostr_keys k;
    unsigned char sec[32];
    char name[16];
    const char *items[3];
    nostr_check_opts o;
    nostr_error err;
    const nostr_event *list[2];
    int results[2];
    int i;
    nostr_arena_init(&a, NULL, 0, NULL);
    memset(sec, 0, 32);
    sec[31] = 3;
    CHECK_EQ(nostr_keys_from_secret(ctx, sec, &k), NOSTR_OK);
    CHECK_EQ(nostr_event_init(&ev, &a, 30023, 1700000000, "long form", 9), NOSTR_OK);
    CHECK_EQ(ev.json_offset, 0);
    CHECK_EQ(ev.json_len, 0);
    CHECK_EQ(nostr_event_add_tag4(&ev, &a, "d", "my-article", NULL, NULL), NOSTR_OK);
    items[0] = "e";
    items[1] = "abc";
    items[2] = "wss://relay";
    CHECK_EQ(nostr_event_add_tag(&ev, &a, items, 3), NOSTR_OK);
    for (i = 0; i < 40; i++) { /* past several capacity doublings */
        sprintf(name, "t%d", i);
        CHECK_EQ(nostr_event_add_tag4(&ev, &a, "t", name, NULL, NULL), NOSTR_OK);
    }
    CHECK_EQ(nostr_event_add_tag(&ev, &a, NULL, 0), NOSTR_OK);
    CHECK_EQ(nostr_event_add_tag4(&ev, &a, "-", NULL, NULL, NULL), NOSTR_OK);
    CHECK_EQ(ev.tag_count, 44);
    CHECK(str_is(&ev.tags[1].items[2], "wss://relay"));
    CHECK(str_is(&ev.tags[41].items[1], "t39"));
    CHECK_EQ(ev.tags[42].count, 0);
    CHECK_EQ(nostr_event_add_tag(&ev, &a, NULL, 2), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_event_add_tag4(&ev, &a, NULL, "x", NULL, NULL), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_event_init(&copy, &a, 65536, 1, "", 0), NOSTR_ERR_KIND);

    CHECK_EQ(nostr_event_sign(ctx, &ev, &k), NOSTR_OK);
    CHECK_MEM(ev.pubkey, k.pub, 32);
    CHECK_EQ(nostr_event_check(&ev, NULL, NULL), NOSTR_OK);
    CHECK_EQ(nostr_event_verify(ctx, &ev), NOSTR_OK);
    CHECK_EQ(nostr_event_validate(ctx, &ev, NULL, NULL), NOSTR_OK);
    CHECK(roundtrip_ok(&ev));

    /* tag helpers */
    {
        nostr_str d = nostr_event_d_tag(&ev);
        CHECK(str_is(&d, "my-article"));
    }
    CHECK(nostr_event_tag(&ev, "e") == &ev.tags[1]);
    CHECK(str_is(nostr_event_tag_value(&ev, "t"), "t0"));
    CHECK(nostr_event_tag(&ev, "-") == NULL); /* needs two items */
    CHECK(nostr_event_tag_value(&ev, "nope") == NULL);
    CHECK_EQ(nostr_event_is_protected(&ev), 1);
    CHECK_EQ(nostr_event_expiration(&ev), 0);

    /* check bounds: each zero bound keeps its default */
    memset(&o, 0, sizeof o);
    o.min_created_at = 1700000001;
    CHECK_EQ(nostr_event_check(&ev, &o, &err), NOSTR_ERR_CREATED_AT);
    CHECK_EQ(err.code, NOSTR_ERR_CREATED_AT);
    o.min_created_at = 1700000000;
    CHECK_EQ(nostr_event_check(&ev, &o, NULL), NOSTR_OK);
    o.max_created_at = 1699999999;
    CHECK_EQ(nostr_event_check(&ev, &o, NULL), NOSTR_ERR_CREATED_AT);
    o.max_created_at = 1700000000;
    CHECK_EQ(nostr_event_check(&ev, &o, NULL), NOSTR_OK);
    copy = ev;
    copy.created_at = 9007199254740993LL; /* past 2^53 */
    CHECK_EQ(nostr_event_check(&copy, NULL, NULL), NOSTR_ERR_CREATED_AT);
    copy.created_at = -1;
    CHECK_EQ(nostr_event_check(&copy, NULL, NULL), NOSTR_ERR_CREATED_AT);
    copy = ev;
    copy.kind = 70000;
    CHECK_EQ(nostr_event_check(&copy, NULL, &err), NOSTR_ERR_KIND);
    copy = ev;
    copy.created_at++;
    CHECK_EQ(nostr_event_check(&copy, NULL, &err), NOSTR_ERR_ID);
    CHECK(err.msg != NULL);
    CHECK_EQ(nostr_event_validate(ctx, &copy, NULL, NULL), NOSTR_ERR_ID);

    /* batch */
    copy = ev;
    copy.sig[5] ^= 1;
    list[0] = &ev;
    list[1] = &copy;
    CHECK_EQ(nostr_event_verify_batch(ctx, list, 2, results), 1);
    CHECK_EQ(results[0], NOSTR_OK);
    CHECK_EQ(results[1], NOSTR_ERR_SIG);
    CHECK_EQ(nostr_event_verify_batch(ctx, list, 2, NULL), 1);
    CHECK_EQ(nostr_event_validate(ctx, &copy, NULL, &err), NOSTR_ERR_SIG);

    /* tags added to a parsed event keep the earlier ones intact */
    {
        nostr_buf b;
        nostr_event parsed;
        nostr_buf_init(&b, NULL);
        CHECK_EQ(nostr_event_to_json(&ev, &b), NOSTR_OK);
        CHECK_EQ(nostr_event_parse(&parsed, b.data, b.len, &a, NULL, NULL), NOSTR_OK);
        for (i = 0; i < 30; i++) CHECK_EQ(nostr_event_add_tag4(&parsed, &a, "x", "y", NULL, NULL), NOSTR_OK);
        CHECK_EQ(parsed.tag_count, 74);
        CHECK(str_is(&parsed.tags[41].items[1], "t39"));
        CHECK(str_is(&parsed.tags[73].items[0], "x"));
        nostr_buf_free(&b);
    }
    nostr_keys_wipe(&k);
    nostr_arena_free(&a);
}

static void test_kinds_and_tags(void)
{
    nostr_arena a;
    nostr_event ev;
    nostr_str d;
    nostr_arena_init(&a, NULL, 0, NULL);
    CHECK_EQ(nostr_kind_class(0), NOSTR_KIND_REPLACEABLE);
    CHECK_EQ(nostr_kind_class(1), NOSTR_KIND_REGULAR);
    CHECK_EQ(nostr_kind_class(2), NOSTR_KIND_REGULAR);
    CHECK_EQ(nostr_kind_class(3), NOSTR_KIND_REPLACEABLE);
    CHECK_EQ(nostr_kind_class(9999), NOSTR_KIND_REGULAR);
    CHECK_EQ(nostr_kind_class(10000), NOSTR_KIND_REPLACEABLE);
    CHECK_EQ(nostr_kind_class(19999), NOSTR_KIND_REPLACEABLE);
    CHECK_EQ(nostr_kind_class(20000), NOSTR_KIND_EPHEMERAL);
    CHECK_EQ(nostr_kind_class(29999), NOSTR_KIND_EPHEMERAL);
    CHECK_EQ(nostr_kind_class(30000), NOSTR_KIND_ADDRESSABLE);
    CHECK_EQ(nostr_kind_class(39999), NOSTR_KIND_ADDRESSABLE);
    CHECK_EQ(nostr_kind_class(40000), NOSTR_KIND_REGULAR);
    CHECK_EQ(nostr_kind_class(65535), NOSTR_KIND_REGULAR);

    CHECK_EQ(nostr_event_init(&ev, &a, 1, 1, NULL, 0), NOSTR_OK);
    CHECK_EQ(ev.content.len, 0);
    d = nostr_event_d_tag(&ev);
    CHECK(d.ptr != NULL && d.len == 0);
    CHECK_EQ(nostr_event_is_protected(&ev), 0);
    CHECK_EQ(nostr_event_expiration(&ev), 0);
    CHECK_EQ(nostr_event_add_tag4(&ev, &a, "d", "", NULL, NULL), NOSTR_OK);
    d = nostr_event_d_tag(&ev);
    CHECK(d.len == 0 && d.ptr == ev.tags[0].items[1].ptr);
    /* expiration: the first expiration tag, plain digits only */
    CHECK_EQ(nostr_event_add_tag4(&ev, &a, "expiration", "1700000000", NULL, NULL), NOSTR_OK);
    CHECK(nostr_event_expiration(&ev) == 1700000000LL);
    {
        const char *bad[] = {"", "17a", "-5", "+5", " 5", "1.5", "99999999999999999999"};
        size_t i;
        for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            nostr_event e2;
            CHECK_EQ(nostr_event_init(&e2, &a, 1, 1, "", 0), NOSTR_OK);
            CHECK_EQ(nostr_event_add_tag4(&e2, &a, "expiration", bad[i], NULL, NULL), NOSTR_OK);
            CHECK_EQ(nostr_event_expiration(&e2), 0);
        }
    }
    CHECK_EQ(nostr_event_add_tag4(&ev, &a, "-", "x", NULL, NULL), NOSTR_OK);
    CHECK_EQ(nostr_event_is_protected(&ev), 1);
    nostr_arena_free(&a);
}

int main(void)
{
    ctx = nostr_ctx_new(NULL);
    if (!ctx) {
        fprintf(stderr, "nostr_ctx_new failed\n");
        return 1;
    }
    TEST_RUN(test_vectors);
    TEST_RUN(test_real_events);
    TEST_RUN(test_strict_fields);
    TEST_RUN(test_strict_hex);
    TEST_RUN(test_hex_every_byte);
    TEST_RUN(test_strict_numbers);
    TEST_RUN(test_strict_tags);
    TEST_RUN(test_strict_text);
    TEST_RUN(test_parse_in_message);
    TEST_RUN(test_no_heap);
    TEST_RUN(test_escaping);
    TEST_RUN(test_build_and_sign);
    TEST_RUN(test_kinds_and_tags);
    nostr_ctx_free(ctx);
    return TEST_DONE();
}
