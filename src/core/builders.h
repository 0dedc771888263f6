/* ---- builders: common kinds in a few lines ----
 *
 * Each fills ev (kind, created_at, content, tags) in the arena; sign it
 * afterwards with nostr_event_sign. Hex arguments are 64-char ids or
 * pubkeys; relay hints may be NULL. */

NOSTRDEF int nostr_build_metadata(nostr_event *ev, nostr_arena *a, long long now, const char *name, const char *about,
                                  const char *picture);
NOSTRDEF int nostr_build_text_note(nostr_event *ev, nostr_arena *a, long long now, const char *content);
/* A reply: root and parent as marked 'e' tags (NIP-10), parent_author as 'p'. */
NOSTRDEF int nostr_build_reply(nostr_event *ev, nostr_arena *a, long long now, const char *content,
                               const nostr_event *root, const nostr_event *parent, const char *relay);
NOSTRDEF int nostr_build_contacts(nostr_event *ev, nostr_arena *a, long long now, const unsigned char (*pubkeys)[32],
                                  size_t n);
NOSTRDEF int nostr_build_deletion(nostr_event *ev, nostr_arena *a, long long now, const unsigned char (*ids)[32],
                                  size_t n, const char *reason);
NOSTRDEF int nostr_build_repost(nostr_event *ev, nostr_arena *a, long long now, const nostr_event *target,
                                const char *target_json, const char *relay);
NOSTRDEF int nostr_build_reaction(nostr_event *ev, nostr_arena *a, long long now, const nostr_event *target,
                                  const char *reaction);
NOSTRDEF int nostr_build_auth(nostr_event *ev, nostr_arena *a, long long now, const char *relay_url,
                              const char *challenge);
