/* NIP-19 bech32 entities and raw bech32: the shared vectors (read with the
 * library's own JSON reader), BIP-173 vectors, and hand-made malformed
 * strings. */
#include "test.h"

static unsigned char arena_mem[1 << 16];
static nostr_arena A;

/* ---- test oracle: an independent bech32 checksum, used only to build
 * strings the library's encoder would never produce ---- */

static const char *const CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint32_t oracle_polymod(uint32_t chk, unsigned v)
{
    static const uint32_t g[5] = {0x3b6a57b2u, 0x26508e6du, 0x1ea119fau, 0x3d4233ddu, 0x2a1462b3u};
    uint32_t b = chk >> 25;
    int i;
    chk = ((chk & 0x1ffffffu) << 5) ^ v;
    for (i = 0; i < 5; i++)
        if ((b >> i) & 1) chk ^= g[i];
    return chk;
}

/* hrp + '1' + the given 5-bit groups + a valid checksum, into out. */
static void oracle_bech32(const char *hrp, const unsigned char *groups, size_t n, char *out)
{
    uint32_t chk = 1;
    size_t i, hl = strlen(hrp), o = 0;
    for (i = 0; i < hl; i++) chk = oracle_polymod(chk, (unsigned char)hrp[i] >> 5);
    chk = oracle_polymod(chk, 0);
    for (i = 0; i < hl; i++) chk = oracle_polymod(chk, (unsigned char)hrp[i] & 31);
    for (i = 0; i < n; i++) chk = oracle_polymod(chk, groups[i]);
    for (i = 0; i < 6; i++) chk = oracle_polymod(chk, 0);
    chk ^= 1;
    memcpy(out, hrp, hl);
    o = hl;
    out[o++] = '1';
    for (i = 0; i < n; i++) out[o++] = CHARSET[groups[i]];
    for (i = 0; i < 6; i++) out[o++] = CHARSET[(chk >> (5 * (5 - i))) & 31];
    out[o] = 0;
}

/* ---- the vector file ---- */

#define MAX_RELAYS 8

typedef struct vector {
    nostr_str type, bech32, payload_hex, reencoding, expect_error;
    unsigned char hex[32];
    int has_hex;
    unsigned char pubkey[32], id[32], author[32];
    int has_pubkey, has_id, has_author;
    unsigned long long kind;
    int has_kind;
    nostr_str identifier;
    int has_identifier;
    nostr_str relays[MAX_RELAYS];
    size_t relay_count;
    int must_exact, ascending; /* -1 = field absent */
} vector;

static int read_bool(nostr_json *r, int *out)
{
    return nostr_json_bool(r, out);
}

static int read_data(nostr_json *r, vector *v)
{
    char key[32];
    size_t klen;
    int rc = nostr_json_object_begin(r);
    while (!rc && (rc = nostr_json_object_next(r, key, sizeof key, &klen)) > 0) {
        rc = 0;
        if (strcmp(key, "pubkey") == 0) {
            rc = nostr_json_hex(r, v->pubkey, 32);
            v->has_pubkey = 1;
        } else if (strcmp(key, "id") == 0) {
            rc = nostr_json_hex(r, v->id, 32);
            v->has_id = 1;
        } else if (strcmp(key, "author") == 0) {
            rc = nostr_json_hex(r, v->author, 32);
            v->has_author = 1;
        } else if (strcmp(key, "kind") == 0) {
            rc = nostr_json_uint64(r, &v->kind);
            v->has_kind = 1;
        } else if (strcmp(key, "identifier") == 0) {
            rc = nostr_json_string(r, &A, &v->identifier);
            v->has_identifier = 1;
        } else if (strcmp(key, "relays") == 0) {
            rc = nostr_json_array_begin(r);
            while (!rc && (rc = nostr_json_array_next(r)) > 0) {
                if (v->relay_count == MAX_RELAYS) return nostr_json_fail(r, NOSTR_ERR_TOO_LARGE, "too many relays");
                rc = nostr_json_string(r, &A, &v->relays[v->relay_count++]);
            }
        } else {
            rc = nostr_json_skip(r);
        }
    }
    return rc;
}

static int read_vector(nostr_json *r, vector *v)
{
    char key[48];
    size_t klen;
    int rc;
    memset(v, 0, sizeof *v);
    v->must_exact = v->ascending = -1;
    rc = nostr_json_object_begin(r);
    while (!rc && (rc = nostr_json_object_next(r, key, sizeof key, &klen)) > 0) {
        rc = 0;
        if (strcmp(key, "type") == 0) {
            rc = nostr_json_string(r, &A, &v->type);
        } else if (strcmp(key, "bech32") == 0) {
            rc = nostr_json_string(r, &A, &v->bech32);
        } else if (strcmp(key, "hex") == 0) {
            rc = nostr_json_hex(r, v->hex, 32);
            v->has_hex = 1;
        } else if (strcmp(key, "payload_hex") == 0) {
            rc = nostr_json_string(r, &A, &v->payload_hex);
        } else if (strcmp(key, "nostr_tools_2_25_reencoding") == 0) {
            rc = nostr_json_string(r, &A, &v->reencoding);
        } else if (strcmp(key, "expect_error") == 0) {
            rc = nostr_json_string(r, &A, &v->expect_error);
        } else if (strcmp(key, "encoder_must_produce_exactly") == 0) {
            rc = read_bool(r, &v->must_exact);
        } else if (strcmp(key, "equals_ascending_tlv_type_encoding") == 0) {
            rc = read_bool(r, &v->ascending);
        } else if (strcmp(key, "data") == 0) {
            rc = read_data(r, v);
        } else {
            rc = nostr_json_skip(r);
        }
    }
    return rc;
}

static nostr_nip19_type type_named(const nostr_str *s)
{
    static const char *const names[] = {"", "npub", "nsec", "note", "nprofile", "nevent", "naddr"};
    int t;
    for (t = 1; t <= 6; t++)
        if (s->ptr && strcmp(s->ptr, names[t]) == 0) return (nostr_nip19_type)t;
    return NOSTR_NIP19_NONE;
}

static int same_str(nostr_str a, nostr_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* Does the decoded entity hold what the vector says? */
static int matches_vector(const nostr_nip19 *e, const vector *v)
{
    size_t i;
    nostr_nip19_type t = type_named(&v->type);
    if (e->type != t) return 0;
    if (t == NOSTR_NIP19_NPUB || t == NOSTR_NIP19_NSEC || t == NOSTR_NIP19_NOTE)
        return v->has_hex && memcmp(e->key, v->hex, 32) == 0 && e->relay_count == 0;
    if (t == NOSTR_NIP19_NPROFILE && !(v->has_pubkey && memcmp(e->key, v->pubkey, 32) == 0)) return 0;
    if (t == NOSTR_NIP19_NEVENT && !(v->has_id && memcmp(e->key, v->id, 32) == 0)) return 0;
    if (t == NOSTR_NIP19_NADDR) {
        /* the vectors call the naddr author "pubkey" */
        if (!v->has_identifier || !same_str(e->identifier, v->identifier)) return 0;
        if (e->identifier.ptr[e->identifier.len] != 0) return 0;
        if (!e->has_author || !v->has_pubkey || memcmp(e->author, v->pubkey, 32) != 0) return 0;
    }
    if (t == NOSTR_NIP19_NEVENT) {
        if (e->has_author != v->has_author) return 0;
        if (v->has_author && memcmp(e->author, v->author, 32) != 0) return 0;
    }
    if (e->has_kind != v->has_kind || (v->has_kind && e->kind != v->kind)) return 0;
    if (e->relay_count != v->relay_count) return 0;
    for (i = 0; i < v->relay_count; i++)
        if (!same_str(e->relays[i], v->relays[i]) || e->relays[i].ptr[e->relays[i].len] != 0) return 0;
    return 1;
}

static int same_entity(const nostr_nip19 *a, const nostr_nip19 *b)
{
    size_t i;
    if (a->type != b->type || memcmp(a->key, b->key, 32) != 0) return 0;
    if (!same_str(a->identifier, b->identifier) || a->relay_count != b->relay_count) return 0;
    for (i = 0; i < a->relay_count; i++)
        if (!same_str(a->relays[i], b->relays[i])) return 0;
    if (a->has_author != b->has_author || (a->has_author && memcmp(a->author, b->author, 32) != 0)) return 0;
    return a->has_kind == b->has_kind && (!a->has_kind || a->kind == b->kind);
}

static size_t n_valid, n_exact, n_payload, n_invalid, n_reenc;

static void check_valid(const vector *v)
{
    nostr_nip19 e, again;
    nostr_buf out;
    nostr_error err;
    int rc;
    nostr_nip19_type t = type_named(&v->type);

    rc = nostr_nip19_decode(v->bech32.ptr, v->bech32.len, &e, &A, &err);
    CHECK_EQ(rc, NOSTR_OK);
    if (rc) {
        fprintf(stderr, "  %s: %s at %zu\n", v->bech32.ptr, err.msg, err.offset);
        return;
    }
    CHECK(matches_vector(&e, v));
    n_valid++;

    /* the raw payload is what the vector lists */
    {
        unsigned char raw[4096], want[4096];
        char hrp[16];
        size_t rawlen;
        CHECK_EQ(nostr_bech32_decode(v->bech32.ptr, v->bech32.len, hrp, sizeof hrp, raw, sizeof raw, &rawlen, NULL),
                 NOSTR_OK);
        CHECK_STR(hrp, v->type.ptr);
        if (v->payload_hex.ptr) {
            CHECK_EQ(nostr_hex_decode(v->payload_hex.ptr, v->payload_hex.len, want, v->payload_hex.len / 2),
                     NOSTR_OK);
            CHECK_EQ(rawlen, v->payload_hex.len / 2);
            CHECK(rawlen == v->payload_hex.len / 2 && memcmp(raw, want, rawlen) == 0);
            n_payload++;
        } else {
            CHECK_EQ(rawlen, 32);
        }
    }

    /* encode: exact where the vector says our (ascending-order) encoder
     * must reproduce it; always decode -> encode -> decode */
    nostr_buf_init(&out, NULL);
    CHECK_EQ(nostr_nip19_encode(&e, &out), NOSTR_OK);
    if ((v->must_exact == 1 && v->ascending != 0) || v->ascending == 1) {
        CHECK_STR(out.data, v->bech32.ptr);
        n_exact++;
    } else if (v->ascending == 0) {
        CHECK(strcmp(out.data, v->bech32.ptr) != 0);
    }
    CHECK_EQ(nostr_nip19_decode(out.data, out.len, &again, &A, NULL), NOSTR_OK);
    CHECK(same_entity(&e, &again));
    CHECK(matches_vector(&again, v));

    /* the key shortcuts agree */
    if (t == NOSTR_NIP19_NPUB || t == NOSTR_NIP19_NSEC || t == NOSTR_NIP19_NOTE) {
        unsigned char key[32];
        nostr_buf_clear(&out);
        CHECK_EQ(nostr_nip19_encode_key(v->type.ptr, v->hex, &out), NOSTR_OK);
        CHECK_STR(out.data, v->bech32.ptr);
        CHECK_EQ(nostr_nip19_decode_key(v->bech32.ptr, v->bech32.len, t, key, NULL), NOSTR_OK);
        CHECK_MEM(key, v->hex, 32);
    } else if (t != NOSTR_NIP19_NADDR) {
        unsigned char key[32];
        CHECK_EQ(nostr_nip19_decode_key(v->bech32.ptr, v->bech32.len, t, key, NULL), NOSTR_OK);
        CHECK_MEM(key, e.key, 32);
    }
    nostr_buf_free(&out);

    /* another tool's TLV order decodes to the same data */
    if (v->reencoding.ptr) {
        CHECK_EQ(nostr_nip19_decode(v->reencoding.ptr, v->reencoding.len, &again, &A, NULL), NOSTR_OK);
        CHECK(matches_vector(&again, v));
        n_reenc++;
    }
}

static void check_invalid(const vector *v)
{
    nostr_nip19 e;
    nostr_error err;
    int want = 0, rc;
    memset(&err, 0, sizeof err);
    if (v->expect_error.ptr && strcmp(v->expect_error.ptr, "bech32") == 0) want = NOSTR_ERR_BECH32;
    if (v->expect_error.ptr && strcmp(v->expect_error.ptr, "tlv") == 0) want = NOSTR_ERR_TLV;
    CHECK(want != 0);
    rc = nostr_nip19_decode(v->bech32.ptr, v->bech32.len, &e, &A, &err);
    CHECK_EQ(rc, want);
    CHECK_EQ(err.code, want);
    CHECK(err.msg != NULL);
    CHECK_EQ(e.type, NOSTR_NIP19_NONE);
    /* a non-ASCII byte is reported where it is */
    {
        size_t i;
        for (i = 0; i < v->bech32.len; i++)
            if ((unsigned char)v->bech32.ptr[i] > 126) break;
        if (i < v->bech32.len) {
            CHECK_EQ(err.offset, i);
            CHECK_STR(err.msg, "invalid character");
        }
    }
    n_invalid++;
}

static void test_vectors(void)
{
    size_t len;
    char *text = test_read_file("nip19-vectors.json", &len);
    nostr_json r;
    char key[32];
    size_t klen;
    int rc;
    CHECK(text != NULL);
    if (!text) return;
    nostr_arena_init(&A, arena_mem, sizeof arena_mem, NULL);
    nostr_json_init(&r, text, len, NULL);
    rc = nostr_json_object_begin(&r);
    while (!rc && (rc = nostr_json_object_next(&r, key, sizeof key, &klen)) > 0) {
        int valid = strcmp(key, "valid") == 0;
        rc = 0;
        if (!valid && strcmp(key, "invalid") != 0) {
            rc = nostr_json_skip(&r);
            continue;
        }
        rc = nostr_json_array_begin(&r);
        while (!rc && (rc = nostr_json_array_next(&r)) > 0) {
            vector v;
            rc = read_vector(&r, &v);
            if (rc) break;
            if (valid)
                check_valid(&v);
            else
                check_invalid(&v);
        }
    }
    if (!rc) rc = nostr_json_finish(&r);
    CHECK_EQ(rc, NOSTR_OK);
    if (rc) fprintf(stderr, "  json: %s at %zu\n", r.err.msg, r.err.offset);
    /* the file holds 22 valid and 9 invalid strings (SOURCE-nip19.txt) */
    CHECK_EQ(n_valid, 22);
    CHECK_EQ(n_invalid, 9);
    CHECK_EQ(n_payload, 12);
    CHECK_EQ(n_exact, 18);
    CHECK_EQ(n_reenc, 12);
    printf("vectors: %zu valid (%zu encoded exactly, %zu payloads, %zu other orders), %zu invalid\n", n_valid,
           n_exact, n_payload, n_reenc, n_invalid);
    nostr_arena_free(&A);
    free(text);
}

/* ---- raw bech32: BIP-173 test vectors (github.com/bitcoin/bips
 * bip-0173.mediawiki, "Test vectors") ---- */

static void test_bip173(void)
{
    static const char *const valid[] = {
        "A12UEL5L",
        "a12uel5l",
        "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
        "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
        "?1ezyfcl",
        NULL /* filled below: "11" + 82 'q' + "c8247j" */
    };
    static const char *const invalid[] = {
        " 1nwldj5",       /* hrp character out of range */
        "\x7f" "1axkwrx", /* hrp character out of range */
        "\x80" "1eym55h", /* hrp character out of range */
        "pzry9x0s0muk",   /* no separator */
        "1pzry9x0s0muk",  /* empty hrp */
        "x1b4n0q5v",      /* invalid data character */
        "li1dgmt3",       /* too short checksum */
        "de1lg7wt\xff",   /* invalid character in checksum */
        "A1G7SGD8",       /* checksum calculated with uppercase hrp */
        "10a06t8",        /* empty hrp */
        "1qzzfhee",       /* empty hrp */
    };
    char longest[91], hrp[100], lower[100];
    unsigned char data[128];
    size_t i, j, n;
    nostr_buf out;
    nostr_error err;

    memcpy(longest, "11", 2);
    memset(longest + 2, 'q', 82);
    memcpy(longest + 84, "c8247j", 7);
    nostr_buf_init(&out, NULL);
    for (i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        const char *s = valid[i] ? valid[i] : longest;
        size_t slen = strlen(s);
        CHECK_EQ(nostr_bech32_decode(s, slen, hrp, sizeof hrp, data, sizeof data, &n, &err), NOSTR_OK);
        /* re-encoding gives the lowercase form */
        for (j = 0; j <= slen; j++) lower[j] = (char)(s[j] >= 'A' && s[j] <= 'Z' ? s[j] + 32 : s[j]);
        nostr_buf_clear(&out);
        CHECK_EQ(nostr_bech32_encode(hrp, data, n, &out), NOSTR_OK);
        CHECK_STR(out.data, lower);
    }
    CHECK_EQ(strlen(longest), 90);
    CHECK_EQ(nostr_bech32_decode(longest, 90, hrp, sizeof hrp, data, sizeof data, &n, NULL), NOSTR_OK);
    CHECK_EQ(n, 51); /* 82 groups = 410 bits: 51 bytes and 2 zero bits */
    CHECK_STR(hrp, "1");
    for (i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        memset(&err, 0, sizeof err);
        CHECK_EQ(nostr_bech32_decode(invalid[i], strlen(invalid[i]), hrp, sizeof hrp, data, sizeof data, &n, &err),
                 NOSTR_ERR_BECH32);
        CHECK(err.msg != NULL);
    }
    /* messages and offsets */
    CHECK_EQ(nostr_bech32_decode("x1b4n0q5v", 9, hrp, sizeof hrp, data, sizeof data, &n, &err), NOSTR_ERR_BECH32);
    CHECK_STR(err.msg, "invalid character");
    CHECK_EQ(err.offset, 2);
    CHECK_EQ(nostr_bech32_decode("de1lg7wt\xff", 9, hrp, sizeof hrp, data, sizeof data, &n, &err), NOSTR_ERR_BECH32);
    CHECK_EQ(err.offset, 8);
    CHECK_EQ(nostr_bech32_decode("A1G7SGD8", 8, hrp, sizeof hrp, data, sizeof data, &n, &err), NOSTR_ERR_BECH32);
    CHECK_STR(err.msg, "bad checksum");
    /* the caller's buffers bound the prefix and the payload */
    CHECK_EQ(nostr_bech32_decode(valid[3], strlen(valid[3]), hrp, 6, data, sizeof data, &n, &err), NOSTR_ERR_PREFIX);
    CHECK_EQ(nostr_bech32_decode(valid[3], strlen(valid[3]), hrp, 7, data, 20, &n, &err), NOSTR_OK);
    CHECK_EQ(nostr_bech32_decode(valid[3], strlen(valid[3]), hrp, 7, data, 19, &n, &err), NOSTR_ERR_BUFFER);
    /* the encoder takes only a valid lowercase prefix */
    CHECK_EQ(nostr_bech32_encode("", data, 1, &out), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_bech32_encode("Npub", data, 1, &out), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_bech32_encode("a b", data, 1, &out), NOSTR_ERR_ARG);
    nostr_buf_free(&out);
}

/* 5-bit padding: an npub's 32 bytes take 52 groups, 4 bits of padding. */
static void test_padding(void)
{
    unsigned char key[32], groups[60], got[40];
    char s[128], hrp[16];
    size_t i, n;
    uint32_t acc = 0;
    unsigned bits = 0, g = 0;
    nostr_error err;
    for (i = 0; i < 32; i++) key[i] = (unsigned char)(i * 7 + 1);
    for (i = 0; i < 32; i++) {
        acc = (acc << 8) | key[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            groups[g++] = (unsigned char)((acc >> bits) & 31);
        }
    }
    groups[g++] = (unsigned char)((acc << (5 - bits)) & 31);
    CHECK_EQ(g, 52);
    oracle_bech32("npub", groups, 52, s);
    CHECK_EQ(nostr_nip19_decode_key(s, strlen(s), NOSTR_NIP19_NPUB, got, NULL), NOSTR_OK);
    CHECK_MEM(got, key, 32);

    groups[51] |= 1; /* a non-zero padding bit */
    oracle_bech32("npub", groups, 52, s);
    CHECK_EQ(nostr_bech32_decode(s, strlen(s), hrp, sizeof hrp, got, sizeof got, &n, &err), NOSTR_ERR_BECH32);
    CHECK_STR(err.msg, "non-zero padding");
    groups[51] &= 30;

    groups[52] = groups[53] = 0; /* two more zero groups: 270 bits, 6 of padding */
    oracle_bech32("npub", groups, 54, s);
    CHECK_EQ(nostr_bech32_decode(s, strlen(s), hrp, sizeof hrp, got, sizeof got, &n, &err), NOSTR_ERR_BECH32);
    CHECK_STR(err.msg, "too much padding");

    /* 3 groups = 15 bits: one byte and 7 bits of padding */
    memset(groups, 0, 3);
    oracle_bech32("x", groups, 3, s);
    CHECK_EQ(nostr_bech32_decode(s, strlen(s), hrp, sizeof hrp, got, sizeof got, &n, &err), NOSTR_ERR_BECH32);
    CHECK_STR(err.msg, "too much padding");
    /* 2 groups = 10 bits: one byte and 2 bits of padding */
    oracle_bech32("x", groups, 2, s);
    CHECK_EQ(nostr_bech32_decode(s, strlen(s), hrp, sizeof hrp, got, sizeof got, &n, &err), NOSTR_OK);
    CHECK_EQ(n, 1);
}

static const char NPUB[] = "npub180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkwsyjh6w6";
static const char NPUB_HEX[] = "3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d";

static void test_case_and_checksum(void)
{
    char s[sizeof NPUB];
    unsigned char key[32], want[32];
    size_t i, len = strlen(NPUB), sep = 4;
    nostr_error err;
    int all_fail = 1;
    CHECK_EQ(nostr_hex_decode(NPUB_HEX, 64, want, 32), NOSTR_OK);

    /* all uppercase is the same string */
    for (i = 0; i <= len; i++) s[i] = (char)(NPUB[i] >= 'a' && NPUB[i] <= 'z' ? NPUB[i] - 32 : NPUB[i]);
    CHECK_EQ(nostr_nip19_decode_key(s, len, NOSTR_NIP19_NPUB, key, NULL), NOSTR_OK);
    CHECK_MEM(key, want, 32);
    /* one uppercase letter makes it mixed */
    memcpy(s, NPUB, sizeof NPUB);
    s[19] = (char)(s[19] - 32); /* 'a' */
    CHECK_EQ(nostr_nip19_decode_key(s, len, NOSTR_NIP19_NPUB, key, &err), NOSTR_ERR_BECH32);
    CHECK_STR(err.msg, "mixed case");
    CHECK_EQ(err.offset, 19);
    s[0] = 'N'; /* the prefix counts too */
    memcpy(s + 1, NPUB + 1, sizeof NPUB - 1);
    CHECK_EQ(nostr_nip19_decode_key(s, len, NOSTR_NIP19_NPUB, key, &err), NOSTR_ERR_BECH32);
    CHECK_STR(err.msg, "mixed case");

    /* every substitution of every character is caught (bech32 detects any
     * single error): the data part with each of the 31 other characters,
     * the prefix with another letter */
    for (i = 0; i < len; i++) {
        int tries = i < sep ? 1 : 31, k;
        for (k = 1; k <= tries; k++) {
            int rc;
            memcpy(s, NPUB, sizeof NPUB);
            if (i < sep)
                s[i] = (char)('a' + (s[i] - 'a' + 1) % 26);
            else if (i == sep)
                s[i] = 'q'; /* the separator itself */
            else
                s[i] = CHARSET[((int)(strchr(CHARSET, NPUB[i]) - CHARSET) + k) % 32];
            rc = nostr_nip19_decode_key(s, len, NOSTR_NIP19_NPUB, key, &err);
            if (rc != NOSTR_ERR_BECH32) {
                all_fail = 0;
                fprintf(stderr, "  substitution at %zu (%s) gave %d\n", i, s, rc);
            }
            if (i == sep) break;
        }
    }
    CHECK(all_fail);
    memcpy(s, NPUB, sizeof NPUB);
    s[len - 1] = 'q';
    CHECK_EQ(nostr_nip19_decode_key(s, len, NOSTR_NIP19_NPUB, key, &err), NOSTR_ERR_BECH32);
    CHECK_STR(err.msg, "bad checksum");
    /* a dropped character and a truncated string fail too */
    CHECK_EQ(nostr_nip19_decode_key(NPUB, len - 1, NOSTR_NIP19_NPUB, key, NULL), NOSTR_ERR_BECH32);
    CHECK_EQ(nostr_nip19_decode_key(NPUB, 10, NOSTR_NIP19_NPUB, key, NULL), NOSTR_ERR_BECH32);
    CHECK_EQ(nostr_nip19_decode_key(NPUB, 0, NOSTR_NIP19_NPUB, key, NULL), NOSTR_ERR_BECH32);
}

static void test_decode_key_types(void)
{
    unsigned char key[32], want[32];
    const char *nprofile = "nprofile1qqsrhuxx8l9ex335q7he0f09aej04zpazpl0ne2cgukyawd24mayt8gpp4mhxue69uhhytnc9e3k7mgpz4mhxue69uhkg6nzv9ejuumpv34kytnrdaksjlyr9p";
    nostr_buf out;
    nostr_error err;
    size_t len = strlen(NPUB);
    CHECK_EQ(nostr_hex_decode(NPUB_HEX, 64, want, 32), NOSTR_OK);
    CHECK_EQ(nostr_nip19_decode_key(NPUB, len, NOSTR_NIP19_NSEC, key, &err), NOSTR_ERR_PREFIX);
    CHECK_EQ(nostr_nip19_decode_key(NPUB, len, NOSTR_NIP19_NOTE, key, &err), NOSTR_ERR_PREFIX);
    CHECK_EQ(nostr_nip19_decode_key(nprofile, strlen(nprofile), NOSTR_NIP19_NPUB, key, &err), NOSTR_ERR_PREFIX);
    CHECK_EQ(nostr_nip19_decode_key(nprofile, strlen(nprofile), NOSTR_NIP19_NPROFILE, key, &err), NOSTR_OK);
    CHECK_MEM(key, want, 32);
    CHECK_EQ(nostr_nip19_decode_key(NPUB, len, NOSTR_NIP19_NADDR, key, &err), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_nip19_decode_key(NPUB, len, NOSTR_NIP19_NONE, key, &err), NOSTR_ERR_ARG);

    /* an unknown prefix with a valid checksum */
    nostr_buf_init(&out, NULL);
    CHECK_EQ(nostr_bech32_encode("npubx", want, 32, &out), NOSTR_OK);
    CHECK_EQ(nostr_nip19_decode_key(out.data, out.len, NOSTR_NIP19_NPUB, key, &err), NOSTR_ERR_PREFIX);
    nostr_buf_clear(&out);
    CHECK_EQ(nostr_bech32_encode("averyveryverylongprefix", want, 32, &out), NOSTR_OK);
    CHECK_EQ(nostr_nip19_decode_key(out.data, out.len, NOSTR_NIP19_NPUB, key, &err), NOSTR_ERR_PREFIX);
    /* 31 and 33 bytes after npub */
    nostr_buf_clear(&out);
    CHECK_EQ(nostr_bech32_encode("npub", want, 31, &out), NOSTR_OK);
    CHECK_EQ(nostr_nip19_decode_key(out.data, out.len, NOSTR_NIP19_NPUB, key, &err), NOSTR_ERR_TLV);
    {
        unsigned char k33[33];
        memcpy(k33, want, 32);
        k33[32] = 0;
        nostr_buf_clear(&out);
        CHECK_EQ(nostr_bech32_encode("nsec", k33, 33, &out), NOSTR_OK);
        CHECK_EQ(nostr_nip19_decode_key(out.data, out.len, NOSTR_NIP19_NSEC, key, &err), NOSTR_ERR_TLV);
    }
    /* encode_key takes only the three key prefixes */
    nostr_buf_clear(&out);
    CHECK_EQ(nostr_nip19_encode_key("npub", want, &out), NOSTR_OK);
    CHECK_STR(out.data, NPUB);
    CHECK_EQ(nostr_nip19_encode_key("nprofile", want, &out), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_nip19_encode_key("NPUB", want, &out), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_nip19_encode_key("nfoo", want, &out), NOSTR_ERR_ARG);
    CHECK_STR(out.data, NPUB); /* failures leave the buffer alone */
    nostr_buf_free(&out);
}

/* ---- hand-built TLV payloads ---- */

typedef struct payload {
    unsigned char b[4096];
    size_t n;
} payload;

static void put(payload *p, unsigned type, const void *v, size_t len)
{
    p->b[p->n++] = (unsigned char)type;
    p->b[p->n++] = (unsigned char)len;
    memcpy(p->b + p->n, v, len);
    p->n += len;
}

static const unsigned char K32[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                      17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const unsigned char KIND[4] = {0, 0, 0x75, 0x47}; /* 30023 */

/* Encode the payload under hrp and decode it as an entity. */
static int decode_payload(const char *hrp, const payload *p, nostr_nip19 *e, nostr_error *err)
{
    nostr_buf s;
    int rc;
    nostr_buf_init(&s, NULL);
    rc = nostr_bech32_encode(hrp, p->b, p->n, &s);
    if (!rc) rc = nostr_nip19_decode(s.data, s.len, e, &A, err);
    nostr_buf_free(&s);
    return rc;
}

static void test_tlv_errors(void)
{
    payload p;
    nostr_nip19 e;
    nostr_error err;
    nostr_arena_init(&A, arena_mem, sizeof arena_mem, NULL);

    /* truncated: value shorter than its length, header cut in half */
    p.n = 0;
    put(&p, 0, K32, 32);
    p.b[1] = 33;
    CHECK_EQ(decode_payload("nprofile", &p, &e, &err), NOSTR_ERR_TLV);
    CHECK_STR(err.msg, "TLV length runs past the data");
    CHECK_EQ(err.offset, 9); /* first data character */
    p.n = 0;
    put(&p, 0, K32, 32);
    p.b[p.n++] = 1;
    CHECK_EQ(decode_payload("nprofile", &p, &e, &err), NOSTR_ERR_TLV);
    CHECK_STR(err.msg, "truncated TLV header");
    CHECK_EQ(err.offset, 9 + 34 * 8 / 5);
    /* wrong lengths */
    p.n = 0;
    put(&p, 0, K32, 31);
    CHECK_EQ(decode_payload("nprofile", &p, &e, &err), NOSTR_ERR_TLV);
    p.n = 0;
    put(&p, 0, K32, 32);
    put(&p, 2, K32, 31);
    CHECK_EQ(decode_payload("nevent", &p, &e, &err), NOSTR_ERR_TLV);
    p.n = 0;
    put(&p, 0, "d", 1);
    put(&p, 2, K32, 32);
    put(&p, 3, KIND + 1, 3); /* a 3-byte kind */
    CHECK_EQ(decode_payload("naddr", &p, &e, &err), NOSTR_ERR_TLV);
    CHECK_STR(err.msg, "kind TLV must be 4 bytes");
    p.n = 0;
    put(&p, 0, K32, 32);
    put(&p, 3, K32, 5);
    CHECK_EQ(decode_payload("nevent", &p, &e, &err), NOSTR_ERR_TLV);
    /* missing required records */
    p.n = 0;
    CHECK_EQ(decode_payload("nprofile", &p, &e, &err), NOSTR_ERR_TLV);
    put(&p, 1, "wss://a", 7);
    put(&p, 2, K32, 32);
    CHECK_EQ(decode_payload("nevent", &p, &e, &err), NOSTR_ERR_TLV);
    CHECK_STR(err.msg, "missing TLV 0");
    p.n = 0;
    put(&p, 0, "d", 1);
    put(&p, 2, K32, 32);
    CHECK_EQ(decode_payload("naddr", &p, &e, &err), NOSTR_ERR_TLV); /* no kind */
    p.n = 0;
    put(&p, 0, "d", 1);
    put(&p, 3, KIND, 4);
    CHECK_EQ(decode_payload("naddr", &p, &e, &err), NOSTR_ERR_TLV); /* no author */
    p.n = 0;
    put(&p, 2, K32, 32);
    put(&p, 3, KIND, 4);
    CHECK_EQ(decode_payload("naddr", &p, &e, &err), NOSTR_ERR_TLV); /* no identifier */
    /* a single-valued record twice */
    p.n = 0;
    put(&p, 0, K32, 32);
    put(&p, 0, K32, 32);
    CHECK_EQ(decode_payload("nprofile", &p, &e, &err), NOSTR_ERR_TLV);
    CHECK_STR(err.msg, "duplicate TLV");
    p.n = 0;
    put(&p, 0, K32, 32);
    put(&p, 3, KIND, 4);
    put(&p, 3, KIND, 4);
    CHECK_EQ(decode_payload("nevent", &p, &e, &err), NOSTR_ERR_TLV);
    nostr_arena_free(&A);
}

static void test_tlv_accepted(void)
{
    payload p;
    nostr_nip19 e, again;
    nostr_buf s;
    unsigned char arena_small[64];
    nostr_arena fixed;
    nostr_arena_init(&A, arena_mem, sizeof arena_mem, NULL);
    nostr_buf_init(&s, NULL);

    /* empty identifier, unknown types skipped, any order */
    p.n = 0;
    put(&p, 3, KIND, 4);
    put(&p, 9, "zz", 2);
    put(&p, 1, "wss://one", 9);
    put(&p, 2, K32, 32);
    put(&p, 0, "", 0);
    put(&p, 1, "wss://two", 9);
    CHECK_EQ(decode_payload("naddr", &p, &e, NULL), NOSTR_OK);
    CHECK_EQ(e.type, NOSTR_NIP19_NADDR);
    CHECK_EQ(e.identifier.len, 0);
    CHECK_STR(e.identifier.ptr, "");
    CHECK_EQ(e.relay_count, 2);
    CHECK_STR(e.relays[0].ptr, "wss://one");
    CHECK_STR(e.relays[1].ptr, "wss://two");
    CHECK(e.has_author && e.has_kind);
    CHECK_EQ(e.kind, 30023);
    CHECK_MEM(e.author, K32, 32);
    /* re-encoded in ascending order, without the unknown record */
    CHECK_EQ(nostr_nip19_encode(&e, &s), NOSTR_OK);
    CHECK_EQ(nostr_nip19_decode(s.data, s.len, &again, &A, NULL), NOSTR_OK);
    CHECK(same_entity(&e, &again));
    {
        unsigned char raw[256];
        char hrp[16];
        size_t n;
        payload want;
        want.n = 0;
        put(&want, 0, "", 0);
        put(&want, 1, "wss://one", 9);
        put(&want, 1, "wss://two", 9);
        put(&want, 2, K32, 32);
        put(&want, 3, KIND, 4);
        CHECK_EQ(nostr_bech32_decode(s.data, s.len, hrp, sizeof hrp, raw, sizeof raw, &n, NULL), NOSTR_OK);
        CHECK_EQ(n, want.n);
        CHECK(n == want.n && memcmp(raw, want.b, n) == 0);
    }

    /* nprofile: types 2 and 3 mean nothing there and are skipped */
    p.n = 0;
    put(&p, 0, K32, 32);
    put(&p, 2, K32, 7);
    put(&p, 3, KIND, 1);
    CHECK_EQ(decode_payload("nprofile", &p, &e, NULL), NOSTR_OK);
    CHECK(!e.has_author && !e.has_kind && e.relay_count == 0);
    /* a relay with a NUL inside is kept whole */
    p.n = 0;
    put(&p, 0, K32, 32);
    put(&p, 1, "a\0b", 3);
    CHECK_EQ(decode_payload("nevent", &p, &e, NULL), NOSTR_OK);
    CHECK_EQ(e.relays[0].len, 3);
    CHECK(memcmp(e.relays[0].ptr, "a\0b", 4) == 0);
    CHECK(!e.has_author && !e.has_kind);
    /* nevent with a kind and no author */
    p.n = 0;
    put(&p, 0, K32, 32);
    put(&p, 3, "\xff\xff\xff\xff", 4);
    CHECK_EQ(decode_payload("nevent", &p, &e, NULL), NOSTR_OK);
    CHECK(!e.has_author && e.has_kind);
    CHECK(e.kind == 0xffffffffu);
    nostr_buf_clear(&s);
    CHECK_EQ(nostr_nip19_encode(&e, &s), NOSTR_OK);
    CHECK_EQ(nostr_nip19_decode(s.data, s.len, &again, &A, NULL), NOSTR_OK);
    CHECK(same_entity(&e, &again));

    /* a full fixed arena is reported, and the decode leaves nothing behind */
    p.n = 0;
    put(&p, 0, K32, 32);
    put(&p, 1, "wss://a-relay-name-longer-than-the-arena.example.com", 51);
    nostr_buf_clear(&s);
    CHECK_EQ(nostr_bech32_encode("nprofile", p.b, p.n, &s), NOSTR_OK);
    nostr_arena_init_fixed(&fixed, arena_small, sizeof arena_small);
    CHECK_EQ(nostr_nip19_decode(s.data, s.len, &e, &fixed, NULL), NOSTR_ERR_NOMEM);
    CHECK_EQ(e.type, NOSTR_NIP19_NONE);
    CHECK_EQ(e.relay_count, 0);
    CHECK_EQ(nostr_nip19_decode(s.data, s.len, &e, NULL, NULL), NOSTR_ERR_ARG);
    nostr_buf_free(&s);
    nostr_arena_free(&A);
}

static void test_encode_limits(void)
{
    nostr_nip19 e;
    nostr_str relays[40];
    char big[300], blob[256];
    nostr_buf s;
    char fixed_mem[32];
    nostr_buf fixed;
    size_t i;
    memset(big, 'r', sizeof big);
    memset(blob, 'x', sizeof blob);
    nostr_buf_init(&s, NULL);
    memset(&e, 0, sizeof e);
    e.type = NOSTR_NIP19_NPROFILE;
    memcpy(e.key, K32, 32);
    e.relays = relays;

    relays[0].ptr = big; /* a 300-byte relay */
    relays[0].len = 300;
    e.relay_count = 1;
    CHECK_EQ(nostr_nip19_encode(&e, &s), NOSTR_ERR_TLV);
    CHECK_EQ(s.len, 0);
    relays[0].len = 256;
    CHECK_EQ(nostr_nip19_encode(&e, &s), NOSTR_ERR_TLV);
    relays[0].len = 255;
    CHECK_EQ(nostr_nip19_encode(&e, &s), NOSTR_OK);
    CHECK(s.len > 400); /* far over BIP-173's 90 characters */
    {
        nostr_nip19 back;
        nostr_arena_init(&A, arena_mem, sizeof arena_mem, NULL);
        CHECK_EQ(nostr_nip19_decode(s.data, s.len, &back, &A, NULL), NOSTR_OK);
        CHECK_EQ(back.relays[0].len, 255);
        nostr_arena_free(&A);
    }
    /* 12 relays of 255 bytes are over 5000 characters */
    for (i = 0; i < 12; i++) {
        relays[i].ptr = big;
        relays[i].len = 255;
    }
    e.relay_count = 12;
    nostr_buf_clear(&s);
    CHECK_EQ(nostr_nip19_encode(&e, &s), NOSTR_ERR_TOO_LARGE);
    e.relay_count = 1;
    e.relays = NULL;
    CHECK_EQ(nostr_nip19_encode(&e, &s), NOSTR_ERR_ARG);

    /* naddr: identifier length and required author/kind */
    memset(&e, 0, sizeof e);
    e.type = NOSTR_NIP19_NADDR;
    e.identifier.ptr = blob;
    e.identifier.len = 256;
    e.has_author = e.has_kind = 1;
    CHECK_EQ(nostr_nip19_encode(&e, &s), NOSTR_ERR_TLV);
    e.identifier.len = 255;
    CHECK_EQ(nostr_nip19_encode(&e, &s), NOSTR_OK);
    e.has_kind = 0;
    CHECK_EQ(nostr_nip19_encode(&e, &s), NOSTR_ERR_TLV);
    e.type = NOSTR_NIP19_NONE;
    CHECK_EQ(nostr_nip19_encode(&e, &s), NOSTR_ERR_ARG);

    /* a fixed output buffer too small */
    e.type = NOSTR_NIP19_NOTE;
    nostr_buf_init_fixed(&fixed, fixed_mem, sizeof fixed_mem);
    CHECK_EQ(nostr_nip19_encode(&e, &fixed), NOSTR_ERR_BUFFER);
    CHECK_EQ(fixed.len, 0);

    /* decode refuses strings over 5000 characters */
    {
        char *huge = (char *)malloc(5001);
        nostr_error err;
        unsigned char data[8];
        char hrp[8];
        size_t n;
        memset(huge, 'q', 5001);
        huge[0] = 'a';
        huge[1] = '1';
        CHECK_EQ(nostr_bech32_decode(huge, 5001, hrp, sizeof hrp, data, sizeof data, &n, &err), NOSTR_ERR_BECH32);
        CHECK_STR(err.msg, "string too long");
        free(huge);
    }
    nostr_buf_free(&s);
}

int main(void)
{
    TEST_RUN(test_vectors);
    TEST_RUN(test_bip173);
    TEST_RUN(test_padding);
    TEST_RUN(test_case_and_checksum);
    TEST_RUN(test_decode_key_types);
    TEST_RUN(test_tlv_errors);
    TEST_RUN(test_tlv_accepted);
    TEST_RUN(test_encode_limits);
    return TEST_DONE();
}
