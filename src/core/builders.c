/* ---- builders: implementation ---- */

/* Caller strings end up in the event verbatim; invalid UTF-8 would make an
 * event other implementations reject, so refuse it here. NULL passes (each
 * builder decides what NULL means). */
static int nostr__build_utf8(const char *s)
{
    if (s && !nostr_utf8_valid(s, strlen(s))) return NOSTR_ERR_UTF8;
    return NOSTR_OK;
}

static int nostr__build_init(nostr_event *ev, nostr_arena *a, unsigned kind, long long now, const char *content)
{
    int rc;
    if (!ev || !a || !content) return NOSTR_ERR_ARG;
    rc = nostr__build_utf8(content);
    if (rc) return rc;
    return nostr_event_init(ev, a, kind, now, content, strlen(content));
}

/* ["name", hex(key)] plus up to two more items (NULL = absent). */
static int nostr__build_hex_tag(nostr_event *ev, nostr_arena *a, const char *name, const unsigned char key[32],
                                const char *v2, const char *v3)
{
    char hex[65];
    nostr_hex_encode(key, 32, hex);
    return nostr_event_add_tag4(ev, a, name, hex, v2, v3);
}

/* ["k", "<kind>"] (NIP-18 generic reposts, NIP-25 reactions). */
static int nostr__build_kind_tag(nostr_event *ev, nostr_arena *a, unsigned kind)
{
    char num[16];
    snprintf(num, sizeof num, "%u", kind);
    return nostr_event_add_tag4(ev, a, "k", num, NULL, NULL);
}

NOSTRDEF int nostr_build_metadata(nostr_event *ev, nostr_arena *a, long long now, const char *name, const char *about,
                                  const char *picture)
{
    const char *keys[3] = {"name", "about", "picture"};
    const char *values[3];
    nostr_buf json;
    size_t i;
    int written = 0, rc = NOSTR_OK;

    if (!ev || !a) return NOSTR_ERR_ARG;
    values[0] = name;
    values[1] = about;
    values[2] = picture;
    for (i = 0; i < 3; i++) {
        rc = nostr__build_utf8(values[i]);
        if (rc) return rc;
    }
    nostr_buf_init(&json, a->al);
    rc = nostr_buf_append_char(&json, '{');
    for (i = 0; i < 3 && rc == NOSTR_OK; i++) {
        if (!values[i]) continue;
        if (written++) rc = nostr_buf_append_char(&json, ',');
        if (!rc) rc = nostr_json_write_string(&json, keys[i], strlen(keys[i]));
        if (!rc) rc = nostr_buf_append_char(&json, ':');
        if (!rc) rc = nostr_json_write_string(&json, values[i], strlen(values[i]));
    }
    if (!rc) rc = nostr_buf_append_char(&json, '}');
    if (!rc) rc = nostr_event_init(ev, a, 0, now, json.data, json.len);
    nostr_buf_free(&json);
    return rc;
}

NOSTRDEF int nostr_build_text_note(nostr_event *ev, nostr_arena *a, long long now, const char *content)
{
    return nostr__build_init(ev, a, 1, now, content);
}

NOSTRDEF int nostr_build_reply(nostr_event *ev, nostr_arena *a, long long now, const char *content,
                               const nostr_event *root, const nostr_event *parent, const char *relay)
{
    const char *hint = relay ? relay : "";
    int rc;

    if (!root && !parent) return NOSTR_ERR_ARG;
    /* A direct reply to the thread's root carries only the "root" marker
     * (NIP-10), whichever of the two arguments names it. */
    if (!root) root = parent;
    if (parent && memcmp(parent->id, root->id, 32) == 0) parent = NULL;

    rc = nostr__build_utf8(relay);
    if (!rc) rc = nostr__build_init(ev, a, 1, now, content);
    if (!rc) rc = nostr__build_hex_tag(ev, a, "e", root->id, hint, "root");
    if (!rc && parent) rc = nostr__build_hex_tag(ev, a, "e", parent->id, hint, "reply");
    if (!rc) rc = nostr__build_hex_tag(ev, a, "p", root->pubkey, NULL, NULL);
    if (!rc && parent && memcmp(parent->pubkey, root->pubkey, 32) != 0)
        rc = nostr__build_hex_tag(ev, a, "p", parent->pubkey, NULL, NULL);
    return rc;
}

NOSTRDEF int nostr_build_contacts(nostr_event *ev, nostr_arena *a, long long now, const unsigned char (*pubkeys)[32],
                                  size_t n)
{
    size_t i;
    int rc;
    if (!pubkeys && n) return NOSTR_ERR_ARG;
    rc = nostr__build_init(ev, a, 3, now, "");
    for (i = 0; i < n && rc == NOSTR_OK; i++) rc = nostr__build_hex_tag(ev, a, "p", pubkeys[i], NULL, NULL);
    return rc;
}

NOSTRDEF int nostr_build_deletion(nostr_event *ev, nostr_arena *a, long long now, const unsigned char (*ids)[32],
                                  size_t n, const char *reason)
{
    size_t i;
    int rc;
    if (!ids && n) return NOSTR_ERR_ARG;
    rc = nostr__build_init(ev, a, 5, now, reason ? reason : "");
    for (i = 0; i < n && rc == NOSTR_OK; i++) rc = nostr__build_hex_tag(ev, a, "e", ids[i], NULL, NULL);
    return rc;
}

NOSTRDEF int nostr_build_repost(nostr_event *ev, nostr_arena *a, long long now, const nostr_event *target,
                                const char *target_json, const char *relay)
{
    /* NIP-18: kind 6 reposts text notes only; anything else is a kind 16
     * generic repost naming the reposted kind. */
    int generic, rc;
    if (!target) return NOSTR_ERR_ARG;
    generic = target->kind != 1;
    rc = nostr__build_utf8(relay);
    if (!rc) rc = nostr__build_init(ev, a, generic ? 16 : 6, now, target_json ? target_json : "");
    if (!rc) rc = nostr__build_hex_tag(ev, a, "e", target->id, relay ? relay : "", NULL);
    if (!rc) rc = nostr__build_hex_tag(ev, a, "p", target->pubkey, NULL, NULL);
    if (!rc && generic) rc = nostr__build_kind_tag(ev, a, target->kind);
    return rc;
}

NOSTRDEF int nostr_build_reaction(nostr_event *ev, nostr_arena *a, long long now, const nostr_event *target,
                                  const char *reaction)
{
    int rc;
    if (!target) return NOSTR_ERR_ARG;
    rc = nostr__build_init(ev, a, 7, now, reaction ? reaction : "+");
    if (!rc) rc = nostr__build_hex_tag(ev, a, "e", target->id, NULL, NULL);
    if (!rc) rc = nostr__build_hex_tag(ev, a, "p", target->pubkey, NULL, NULL);
    if (!rc) rc = nostr__build_kind_tag(ev, a, target->kind);
    return rc;
}

NOSTRDEF int nostr_build_auth(nostr_event *ev, nostr_arena *a, long long now, const char *relay_url,
                              const char *challenge)
{
    int rc;
    if (!relay_url || !challenge) return NOSTR_ERR_ARG;
    rc = nostr__build_utf8(relay_url);
    if (!rc) rc = nostr__build_utf8(challenge);
    if (!rc) rc = nostr__build_init(ev, a, 22242, now, "");
    if (!rc) rc = nostr_event_add_tag4(ev, a, "relay", relay_url, NULL, NULL);
    if (!rc) rc = nostr_event_add_tag4(ev, a, "challenge", challenge, NULL, NULL);
    return rc;
}
