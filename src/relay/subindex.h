/* ---- subindex: live subscriptions indexed for fan-out ----
 *
 * Matching an event against every open subscription costs O(all
 * subscriptions); the index makes it O(subscriptions that could match).
 * Each filter is filed under its most selective field (ids, then authors,
 * then one tag's values, then kinds, else a short list of filters that
 * could match anything); an event looks up its id, pubkey, each
 * single-letter tag value and its kind, and only those candidates run the
 * full nostr_filter_matches. */

typedef struct nostr_subindex nostr_subindex;

/* NULL on allocation failure. al may be NULL (the C library). */
NOSTRDEF nostr_subindex *nostr_subindex_new(const nostr_allocator *al);
NOSTRDEF void nostr_subindex_free(nostr_subindex *ix);
/* Add a subscription: owner identifies it (at most once in the index),
 * filters must stay valid and unchanged until it is removed. A filter
 * with an empty list matches nothing and is not filed at all. Returns
 * NOSTR_OK, NOSTR_ERR_ARG (owner already present or n == 0),
 * NOSTR_ERR_NOMEM (nothing added). */
NOSTRDEF int nostr_subindex_add(nostr_subindex *ix, void *owner, const nostr_filter *filters, size_t n);
/* Remove a subscription (cost: its filters' values); a no-op for an
 * unknown owner. */
NOSTRDEF void nostr_subindex_remove(nostr_subindex *ix, void *owner);
/* Call fn(user, owner) once for every subscription with a filter matching
 * ev: nostr_filter_matches, and for a filter with a search field also
 * nostr_search_match on ev's content (NIP-50 live matching is word match).
 * Returns how many were called. Allocates nothing; the cost grows with the
 * filters filed under ev's id, pubkey, letter tags and kind, not with the
 * index. fn must not add or remove subscriptions. */
NOSTRDEF size_t nostr_subindex_match(nostr_subindex *ix, const nostr_event *ev, void (*fn)(void *user, void *owner),
                                     void *user);
/* Subscriptions in the index. */
NOSTRDEF size_t nostr_subindex_count(const nostr_subindex *ix);
/* NIP-50 match shared with the stores (the built-in store's REQ, live
 * subscriptions; the pgwire store's words table follows the same rules):
 * 1 when every term of query (separated by space, \t..\r or NUL) matches
 * content, ASCII case-insensitive. Terms and content are split into words
 * alike (runs of ASCII letters, digits and bytes >= 0x80; words under 2
 * bytes skipped, cut at 40 bytes); a term matches when each of its words
 * is a whole word of the content and, when the term is not exactly one
 * such word (punctuation inside, a cut word, no word at all), it also
 * occurs as written. An empty query matches. */
NOSTRDEF int nostr_search_match(const char *query, size_t qlen, const char *content, size_t clen);
/* The word splitter behind it (the pgwire store indexes the same words):
 * a word is a run of ASCII letters, digits and bytes >= 0x80 (UTF-8 stays
 * whole inside words); any other byte separates; words shorter than
 * NOSTR_SEARCH_WORD_MIN bytes are skipped, longer than NOSTR_SEARCH_WORD_MAX
 * cut there, back to a character boundary. The next word at or after *i in
 * t[0, n): 1 with its start and (cut) length, *i past it; 0 at the end. */
#define NOSTR_SEARCH_WORD_MIN 2
#define NOSTR_SEARCH_WORD_MAX 40
NOSTRDEF int nostr_search_next_word(const char *t, size_t n, size_t *i, size_t *start, size_t *len);
