/* ---- nip19: implementation ---- */

/* ---- bech32 (BIP-173, checksum constant 1) ---- */

#define NOSTR__BECH32_MAX_LEN 5000u
/* Largest payload a 5000-character string can carry: a one-character
 * prefix, the separator and the 6-character checksum leave 4992 groups. */
#define NOSTR__BECH32_MAX_DATA ((NOSTR__BECH32_MAX_LEN - 8u) * 5u / 8u)

static const char nostr__nip19_charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/* 5-bit value of a lowercase data character, or -1. */
static int nostr__nip19_charval(unsigned char c)
{
    const char *hit;
    if (c == 0) return -1;
    hit = strchr(nostr__nip19_charset, (int)c);
    return hit ? (int)(hit - nostr__nip19_charset) : -1;
}

static uint32_t nostr__nip19_polymod_step(uint32_t chk, unsigned value)
{
    static const uint32_t gen[5] = {0x3b6a57b2u, 0x26508e6du, 0x1ea119fau, 0x3d4233ddu, 0x2a1462b3u};
    uint32_t top = chk >> 25;
    int i;
    chk = ((chk & 0x1ffffffu) << 5) ^ (uint32_t)value;
    for (i = 0; i < 5; i++)
        if ((top >> i) & 1u) chk ^= gen[i];
    return chk;
}

static unsigned char nostr__nip19_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Checksum state after the expanded prefix (high bits, 0, low bits). The
 * prefix is lowered here so an all-uppercase string checks like its
 * lowercase form. */
static uint32_t nostr__nip19_hrp_checksum(const char *hrp, size_t hrp_len)
{
    uint32_t chk = 1;
    size_t i;
    for (i = 0; i < hrp_len; i++) chk = nostr__nip19_polymod_step(chk, nostr__nip19_lower((unsigned char)hrp[i]) >> 5);
    chk = nostr__nip19_polymod_step(chk, 0);
    for (i = 0; i < hrp_len; i++) chk = nostr__nip19_polymod_step(chk, nostr__nip19_lower((unsigned char)hrp[i]) & 31u);
    return chk;
}

NOSTRDEF int nostr_bech32_encode(const char *hrp, const unsigned char *data, size_t len, nostr_buf *out)
{
    size_t hrp_len, groups, total, i;
    uint32_t chk, acc = 0;
    unsigned bits = 0;
    char *w;
    int rc;
    if (!hrp || !out || (!data && len)) return NOSTR_ERR_ARG;
    hrp_len = strlen(hrp);
    if (hrp_len == 0) return NOSTR_ERR_ARG;
    for (i = 0; i < hrp_len; i++) {
        unsigned char c = (unsigned char)hrp[i];
        /* encoders emit lowercase only (BIP-173) */
        if (c < 33 || c > 126 || (c >= 'A' && c <= 'Z')) return NOSTR_ERR_ARG;
    }
    if (len > NOSTR__BECH32_MAX_LEN) return NOSTR_ERR_TOO_LARGE;
    groups = (len * 8 + 4) / 5;
    total = hrp_len + 1 + groups + 6;
    if (total > NOSTR__BECH32_MAX_LEN) return NOSTR_ERR_TOO_LARGE;
    rc = nostr_buf_reserve(out, total);
    if (rc) return rc;

    w = out->data + out->len;
    memcpy(w, hrp, hrp_len);
    w += hrp_len;
    *w++ = '1';
    chk = nostr__nip19_hrp_checksum(hrp, hrp_len);
    for (i = 0; i < len; i++) {
        acc = ((acc << 8) | data[i]) & 0xfffu;
        bits += 8;
        while (bits >= 5) {
            unsigned v = (unsigned)(acc >> (bits - 5)) & 31u;
            bits -= 5;
            chk = nostr__nip19_polymod_step(chk, v);
            *w++ = nostr__nip19_charset[v];
        }
    }
    if (bits) { /* zero-pad the last group */
        unsigned v = (unsigned)(acc << (5 - bits)) & 31u;
        chk = nostr__nip19_polymod_step(chk, v);
        *w++ = nostr__nip19_charset[v];
    }
    for (i = 0; i < 6; i++) chk = nostr__nip19_polymod_step(chk, 0);
    chk ^= 1u;
    for (i = 0; i < 6; i++) *w++ = nostr__nip19_charset[(chk >> (5 * (5 - i))) & 31u];
    out->len += total;
    out->data[out->len] = 0;
    return NOSTR_OK;
}

/* Characters, case and separator; sets *sep to the last '1'. */
static int nostr__nip19_check_chars(const char *s, size_t slen, size_t *sep, nostr_error *err)
{
    int has_lower = 0, has_upper = 0;
    size_t i, last_one = slen;
    for (i = 0; i < slen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 33 || c > 126) return nostr__fail(err, NOSTR_ERR_BECH32, i, "invalid character");
        if (c >= 'a' && c <= 'z') has_lower = 1;
        if (c >= 'A' && c <= 'Z') has_upper = 1;
        if (has_lower && has_upper) return nostr__fail(err, NOSTR_ERR_BECH32, i, "mixed case");
        if (c == '1') last_one = i;
    }
    if (last_one == slen) return nostr__fail(err, NOSTR_ERR_BECH32, 0, "no separator '1'");
    if (last_one == 0) return nostr__fail(err, NOSTR_ERR_BECH32, 0, "empty prefix");
    if (slen - last_one - 1 < 6)
        return nostr__fail(err, NOSTR_ERR_BECH32, last_one, "data part shorter than the checksum");
    *sep = last_one;
    return NOSTR_OK;
}

NOSTRDEF int nostr_bech32_decode(const char *s, size_t slen, char *hrp, size_t hrp_cap, unsigned char *data,
                                 size_t data_cap, size_t *data_len, nostr_error *err)
{
    size_t sep, i, groups, nbytes, n = 0;
    uint32_t chk, acc = 0;
    unsigned bits = 0;
    int rc;
    if (!s || !hrp || !data_len || (!data && data_cap)) return nostr__fail(err, NOSTR_ERR_ARG, 0, "null argument");
    *data_len = 0;
    if (slen > NOSTR__BECH32_MAX_LEN)
        return nostr__fail(err, NOSTR_ERR_BECH32, NOSTR__BECH32_MAX_LEN, "string too long");
    rc = nostr__nip19_check_chars(s, slen, &sep, err);
    if (rc) return rc;

    chk = nostr__nip19_hrp_checksum(s, sep);
    for (i = sep + 1; i < slen; i++) {
        int v = nostr__nip19_charval(nostr__nip19_lower((unsigned char)s[i]));
        if (v < 0) return nostr__fail(err, NOSTR_ERR_BECH32, i, "invalid character");
        chk = nostr__nip19_polymod_step(chk, (unsigned)v);
    }
    if (chk != 1u) return nostr__fail(err, NOSTR_ERR_BECH32, slen - 6, "bad checksum");

    /* The prefix buffer's size is the longest prefix the caller accepts. */
    if (sep >= hrp_cap) return nostr__fail(err, NOSTR_ERR_PREFIX, 0, "prefix too long");
    for (i = 0; i < sep; i++) hrp[i] = (char)nostr__nip19_lower((unsigned char)s[i]);
    hrp[sep] = 0;

    groups = slen - sep - 1 - 6;
    nbytes = groups * 5 / 8;
    if (nbytes > data_cap) return nostr__fail(err, NOSTR_ERR_BUFFER, sep + 1, "payload larger than the buffer");
    for (i = sep + 1; i < sep + 1 + groups; i++) {
        acc = ((acc << 5) | (uint32_t)nostr__nip19_charval(nostr__nip19_lower((unsigned char)s[i]))) & 0xfffu;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            data[n++] = (unsigned char)(acc >> bits);
        }
    }
    /* Padding: fewer than 5 bits, all zero (BIP-173 convertbits, pad=false). */
    if (bits >= 5) return nostr__fail(err, NOSTR_ERR_BECH32, slen - 7, "too much padding");
    if (acc & ((1u << bits) - 1u)) return nostr__fail(err, NOSTR_ERR_BECH32, slen - 7, "non-zero padding");
    *data_len = n;
    return NOSTR_OK;
}

/* ---- NIP-19 entities ---- */

static const char *const nostr__nip19_prefixes[] = {NULL, "npub", "nsec", "note", "nprofile", "nevent", "naddr"};

static nostr_nip19_type nostr__nip19_type_of(const char *hrp)
{
    int t;
    for (t = NOSTR_NIP19_NPUB; t <= NOSTR_NIP19_NADDR; t++)
        if (strcmp(hrp, nostr__nip19_prefixes[t]) == 0) return (nostr_nip19_type)t;
    return NOSTR_NIP19_NONE;
}

static int nostr__nip19_is_tlv_type(nostr_nip19_type t)
{
    return t == NOSTR_NIP19_NPROFILE || t == NOSTR_NIP19_NEVENT || t == NOSTR_NIP19_NADDR;
}

/* Walks TLV records of a payload; error offsets point into the string. */
typedef struct nostr__nip19_tlv {
    const unsigned char *p;
    size_t len, pos;
    size_t str_base; /* offset of the first data character in the string */
} nostr__nip19_tlv;

/* Character of the string where payload byte `at` starts. */
static size_t nostr__nip19_offset(const nostr__nip19_tlv *it, size_t at)
{
    return it->str_base + at * 8 / 5;
}

/* 1 = a record, 0 = end, < 0 = truncated. */
static int nostr__nip19_tlv_next(nostr__nip19_tlv *it, unsigned *type, const unsigned char **val, size_t *vlen,
                                 nostr_error *err)
{
    size_t l;
    if (it->pos == it->len) return 0;
    if (it->len - it->pos < 2)
        return nostr__fail(err, NOSTR_ERR_TLV, nostr__nip19_offset(it, it->pos), "truncated TLV header");
    l = it->p[it->pos + 1];
    if (l > it->len - it->pos - 2)
        return nostr__fail(err, NOSTR_ERR_TLV, nostr__nip19_offset(it, it->pos), "TLV length runs past the data");
    *type = it->p[it->pos];
    *val = it->p + it->pos + 2;
    *vlen = l;
    it->pos += 2 + l;
    return 1;
}

/* One known record into *out (relays only counted). Duplicates of the
 * single-valued records are rejected: implementations disagree on which
 * copy wins, so accepting them would let two clients see different data. */
static int nostr__nip19_take_tlv(nostr__nip19_tlv *it, unsigned type, const unsigned char *val, size_t vlen,
                                 nostr_nip19 *out, unsigned *seen, nostr_error *err)
{
    size_t at = nostr__nip19_offset(it, it->pos - vlen - 2);
    int with_author_kind = out->type != NOSTR_NIP19_NPROFILE;
    if (type == 1) {
        out->relay_count++;
        return NOSTR_OK;
    }
    if (type > 3 || (type >= 2 && !with_author_kind)) return NOSTR_OK; /* unknown here: skipped */
    if (*seen & (1u << type)) return nostr__fail(err, NOSTR_ERR_TLV, at, "duplicate TLV");
    *seen |= 1u << type;
    if (type == 0 && out->type == NOSTR_NIP19_NADDR) {
        out->identifier.len = vlen; /* copied in the second pass */
    } else if (type == 0) {
        if (vlen != 32) return nostr__fail(err, NOSTR_ERR_TLV, at, "TLV 0 must be 32 bytes");
        memcpy(out->key, val, 32);
    } else if (type == 2) {
        if (vlen != 32) return nostr__fail(err, NOSTR_ERR_TLV, at, "author TLV must be 32 bytes");
        memcpy(out->author, val, 32);
        out->has_author = 1;
    } else {
        if (vlen != 4) return nostr__fail(err, NOSTR_ERR_TLV, at, "kind TLV must be 4 bytes");
        out->kind = ((unsigned)val[0] << 24) | ((unsigned)val[1] << 16) | ((unsigned)val[2] << 8) | val[3];
        out->has_kind = 1;
    }
    return NOSTR_OK;
}

/* Second pass: copy relays and the identifier into the arena. */
static int nostr__nip19_store_strings(nostr__nip19_tlv *it, nostr_nip19 *out, nostr_arena *a)
{
    unsigned type;
    const unsigned char *val;
    size_t vlen, r = 0;
    nostr_str *relays = NULL;
    if (out->relay_count) {
        relays = (nostr_str *)nostr_arena_alloc(a, out->relay_count * sizeof(nostr_str));
        if (!relays) return NOSTR_ERR_NOMEM;
    }
    it->pos = 0;
    while (nostr__nip19_tlv_next(it, &type, &val, &vlen, NULL) == 1) {
        int is_ident = type == 0 && out->type == NOSTR_NIP19_NADDR;
        char *copy;
        if (type != 1 && !is_ident) continue;
        copy = nostr_arena_strdup(a, (const char *)val, vlen);
        if (!copy) return NOSTR_ERR_NOMEM;
        if (is_ident) {
            out->identifier.ptr = copy;
        } else {
            relays[r].ptr = copy;
            relays[r].len = vlen;
            r++;
        }
    }
    out->relays = relays;
    return NOSTR_OK;
}

/* Decode into *out; with a == NULL the relays and identifier are not
 * stored (only the fixed-size fields are wanted). */
static int nostr__nip19_decode(const char *s, size_t len, nostr_nip19 *out, nostr_arena *a, unsigned char *payload,
                               nostr_error *err)
{
    char hrp[16];
    size_t plen;
    nostr__nip19_tlv it;
    unsigned type, seen = 0;
    const unsigned char *val;
    size_t vlen;
    int rc;
    memset(out, 0, sizeof *out);
    out->identifier.ptr = "";
    rc = nostr_bech32_decode(s, len, hrp, sizeof hrp, payload, NOSTR__BECH32_MAX_DATA, &plen, err);
    if (rc) return rc;
    out->type = nostr__nip19_type_of(hrp);
    if (out->type == NOSTR_NIP19_NONE) return nostr__fail(err, NOSTR_ERR_PREFIX, 0, "unknown prefix");
    if (!nostr__nip19_is_tlv_type(out->type)) {
        if (plen != 32) return nostr__fail(err, NOSTR_ERR_TLV, strlen(hrp) + 1, "payload must be 32 bytes");
        memcpy(out->key, payload, 32);
        return NOSTR_OK;
    }

    it.p = payload;
    it.len = plen;
    it.pos = 0;
    it.str_base = strlen(hrp) + 1;
    while ((rc = nostr__nip19_tlv_next(&it, &type, &val, &vlen, err)) == 1) {
        rc = nostr__nip19_take_tlv(&it, type, val, vlen, out, &seen, err);
        if (rc) return rc;
    }
    if (rc) return rc;
    if (!(seen & 1u)) return nostr__fail(err, NOSTR_ERR_TLV, it.str_base, "missing TLV 0");
    if (out->type == NOSTR_NIP19_NADDR && !(out->has_author && out->has_kind))
        return nostr__fail(err, NOSTR_ERR_TLV, it.str_base, "naddr needs author and kind TLVs");
    if (!a) {
        out->relay_count = 0;
        out->identifier.len = 0;
        return NOSTR_OK;
    }
    rc = nostr__nip19_store_strings(&it, out, a);
    if (rc) return nostr__fail(err, rc, 0, "arena full");
    return NOSTR_OK;
}

NOSTRDEF int nostr_nip19_decode(const char *s, size_t len, nostr_nip19 *out, nostr_arena *a, nostr_error *err)
{
    unsigned char payload[NOSTR__BECH32_MAX_DATA];
    int rc;
    if (!s || !out || !a) return nostr__fail(err, NOSTR_ERR_ARG, 0, "null argument");
    rc = nostr__nip19_decode(s, len, out, a, payload, err);
    nostr_wipe(payload, sizeof payload); /* may have held an nsec */
    if (rc) {
        nostr_wipe(out, sizeof *out);
        out->type = NOSTR_NIP19_NONE;
        out->identifier.ptr = "";
    }
    return rc;
}

NOSTRDEF int nostr_nip19_decode_key(const char *s, size_t len, nostr_nip19_type want, unsigned char key[32],
                                    nostr_error *err)
{
    unsigned char payload[NOSTR__BECH32_MAX_DATA];
    nostr_nip19 ent;
    int rc;
    if (!s || !key || want == NOSTR_NIP19_NONE || want > NOSTR_NIP19_NEVENT)
        return nostr__fail(err, NOSTR_ERR_ARG, 0, "bad argument");
    rc = nostr__nip19_decode(s, len, &ent, NULL, payload, err);
    nostr_wipe(payload, sizeof payload);
    if (!rc && ent.type != want) rc = nostr__fail(err, NOSTR_ERR_PREFIX, 0, "unexpected prefix");
    if (!rc) memcpy(key, ent.key, 32);
    nostr_wipe(&ent, sizeof ent);
    return rc;
}

/* ---- encoding ---- */

typedef struct nostr__nip19_writer {
    unsigned char *p;
    size_t len, cap;
} nostr__nip19_writer;

static int nostr__nip19_put_tlv(nostr__nip19_writer *w, unsigned type, const void *val, size_t vlen)
{
    if (vlen > 255) return NOSTR_ERR_TLV;
    if (vlen && !val) return NOSTR_ERR_ARG;
    if (w->cap - w->len < 2 + vlen) return NOSTR_ERR_TOO_LARGE;
    w->p[w->len++] = (unsigned char)type;
    w->p[w->len++] = (unsigned char)vlen;
    if (vlen) memcpy(w->p + w->len, val, vlen);
    w->len += vlen;
    return NOSTR_OK;
}

/* TLVs in ascending type order: 0, relays (1...), 2, 3. */
static int nostr__nip19_put_tlvs(nostr__nip19_writer *w, const nostr_nip19 *in)
{
    size_t i;
    int rc;
    if (in->relay_count && !in->relays) return NOSTR_ERR_ARG;
    if (in->type == NOSTR_NIP19_NADDR) {
        if (!in->has_author || !in->has_kind) return NOSTR_ERR_TLV;
        rc = nostr__nip19_put_tlv(w, 0, in->identifier.ptr, in->identifier.len);
    } else {
        rc = nostr__nip19_put_tlv(w, 0, in->key, 32);
    }
    for (i = 0; !rc && i < in->relay_count; i++) rc = nostr__nip19_put_tlv(w, 1, in->relays[i].ptr, in->relays[i].len);
    if (rc || in->type == NOSTR_NIP19_NPROFILE) return rc;
    if (in->has_author) rc = nostr__nip19_put_tlv(w, 2, in->author, 32);
    if (!rc && in->has_kind) {
        unsigned char be[4];
        uint32_t kind = (uint32_t)in->kind;
        if ((in->kind >> 16) >> 16) return NOSTR_ERR_TLV; /* only where unsigned is wider than 32 bits */
        be[0] = (unsigned char)(kind >> 24);
        be[1] = (unsigned char)(kind >> 16);
        be[2] = (unsigned char)(kind >> 8);
        be[3] = (unsigned char)kind;
        rc = nostr__nip19_put_tlv(w, 3, be, 4);
    }
    return rc;
}

NOSTRDEF int nostr_nip19_encode(const nostr_nip19 *in, nostr_buf *out)
{
    unsigned char payload[NOSTR__BECH32_MAX_DATA];
    nostr__nip19_writer w;
    int rc;
    if (!in || !out || in->type <= NOSTR_NIP19_NONE || in->type > NOSTR_NIP19_NADDR) return NOSTR_ERR_ARG;
    if (!nostr__nip19_is_tlv_type(in->type))
        return nostr_bech32_encode(nostr__nip19_prefixes[in->type], in->key, 32, out);
    w.p = payload;
    w.len = 0;
    w.cap = sizeof payload;
    rc = nostr__nip19_put_tlvs(&w, in);
    if (!rc) rc = nostr_bech32_encode(nostr__nip19_prefixes[in->type], payload, w.len, out);
    return rc;
}

NOSTRDEF int nostr_nip19_encode_key(const char *hrp, const unsigned char key[32], nostr_buf *out)
{
    nostr_nip19_type t;
    if (!hrp || !key || !out) return NOSTR_ERR_ARG;
    t = nostr__nip19_type_of(hrp);
    if (t == NOSTR_NIP19_NONE || nostr__nip19_is_tlv_type(t)) return NOSTR_ERR_ARG;
    return nostr_bech32_encode(hrp, key, 32, out);
}
