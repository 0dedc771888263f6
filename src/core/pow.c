/* ---- pow: implementation ---- */

NOSTRDEF int nostr_pow_difficulty(const unsigned char id[32])
{
    int bits = 0, i;
    for (i = 0; i < 32; i++) {
        unsigned b = id[i];
        if (!b) {
            bits += 8;
            continue;
        }
        while (!(b & 0x80)) {
            bits++;
            b <<= 1;
        }
        break;
    }
    return bits;
}

/* A target written as plain decimal digits, or -1. Anything above 256
 * cannot be met, so it is clamped there. */
static int nostr__pow_parse_target(const nostr_str *s)
{
    int v = 0;
    size_t i;
    if (!s->len) return -1;
    for (i = 0; i < s->len; i++) {
        int d = s->ptr[i] - '0';
        if (d < 0 || d > 9) return -1;
        if (v <= 256) v = v * 10 + d;
    }
    return v > 256 ? 257 : v;
}

NOSTRDEF int nostr_pow_committed(const nostr_event *ev)
{
    const nostr_tag *t = nostr_event_tag(ev, "nonce");
    int target, work;
    if (!t || t->count < 3) return 0;
    target = nostr__pow_parse_target(&t->items[2]);
    work = nostr_pow_difficulty(ev->id);
    return target > 0 && target <= work ? target : 0;
}

/* The first tag named "nonce" (any length), or NULL. */
static nostr_tag *nostr__pow_nonce_tag(nostr_event *ev)
{
    size_t i;
    for (i = 0; i < ev->tag_count; i++) {
        const nostr_tag *t = &ev->tags[i];
        if (t->count >= 1 && t->items[0].len == 5 && memcmp(t->items[0].ptr, "nonce", 5) == 0) return &ev->tags[i];
    }
    return NULL;
}

/* Write v in decimal into buf (room for 21 bytes) and return its length. */
static size_t nostr__pow_u64(char *buf, unsigned long long v)
{
    char tmp[24];
    size_t i = sizeof tmp, n;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    n = sizeof tmp - i;
    memcpy(buf, tmp + i, n);
    buf[n] = 0;
    return n;
}

NOSTRDEF int nostr_pow_mine(nostr_event *ev, nostr_arena *a, int bits, unsigned long long max_tries)
{
    nostr_str *items;
    nostr_tag *tag;
    char *nonce, *target;
    unsigned long long n;
    if (!ev || !a || bits < 0 || bits > 256) return NOSTR_ERR_ARG;
    /* The tag's three strings live in the arena once; each try only
     * rewrites the digits of the nonce in place. */
    items = (nostr_str *)nostr_arena_alloc(a, 3 * sizeof(nostr_str));
    nonce = (char *)nostr_arena_alloc(a, 24);
    target = (char *)nostr_arena_alloc(a, 8);
    if (!items || !nonce || !target) return NOSTR_ERR_NOMEM;
    items[0].ptr = "nonce";
    items[0].len = 5;
    items[1].ptr = nonce;
    items[2].ptr = target;
    items[2].len = nostr__pow_u64(target, (unsigned long long)bits);
    tag = nostr__pow_nonce_tag(ev);
    if (!tag) {
        int rc = nostr_event_add_tag4(ev, a, "nonce", "0", target, NULL);
        if (rc) return rc;
        tag = &ev->tags[ev->tag_count - 1];
    }
    tag->items = items;
    tag->count = 3;
    for (n = 0; max_tries == 0 || n < max_tries; n++) {
        items[1].len = nostr__pow_u64(nonce, n);
        nostr_event_compute_id(ev, ev->id);
        if (nostr_pow_difficulty(ev->id) >= bits) return NOSTR_OK;
    }
    return NOSTR_ERR_POW;
}
