/* ---- message: every NIP-01 message, both directions ---- */

typedef enum nostr_msg_type {
    NOSTR_MSG_NONE = 0,
    NOSTR_MSG_EVENT,  /* client: ["EVENT", event]; relay: ["EVENT", sub, event] */
    NOSTR_MSG_REQ,    /* client: ["REQ", sub, filter...] */
    NOSTR_MSG_CLOSE,  /* client: ["CLOSE", sub] */
    NOSTR_MSG_COUNT,  /* client: ["COUNT", sub, filter...]; relay: ["COUNT", sub, {"count": n}] */
    NOSTR_MSG_AUTH,   /* client: ["AUTH", event]; relay: ["AUTH", challenge] */
    NOSTR_MSG_OK,     /* relay: ["OK", id, true|false, message] */
    NOSTR_MSG_EOSE,   /* relay: ["EOSE", sub] */
    NOSTR_MSG_CLOSED, /* relay: ["CLOSED", sub, message] */
    NOSTR_MSG_NOTICE  /* relay: ["NOTICE", message] */
} nostr_msg_type;

/* Who sent the message: it decides how EVENT, COUNT and AUTH read. */
typedef enum nostr_role { NOSTR_FROM_CLIENT = 0, NOSTR_FROM_RELAY = 1 } nostr_role;

typedef struct nostr_msg {
    nostr_msg_type type;
    nostr_str sub_id;      /* REQ CLOSE COUNT EOSE CLOSED, relay EVENT */
    nostr_event event;     /* EVENT, client AUTH */
    nostr_filter *filters; /* REQ, client COUNT */
    size_t filter_count;
    unsigned char id[32];     /* OK */
    int ok;                   /* OK */
    nostr_str message;        /* OK CLOSED NOTICE; relay AUTH: the challenge */
    unsigned long long count; /* relay COUNT */
    int approximate;          /* relay COUNT (NIP-45) */
} nostr_msg;

/* Decode one message. Unknown message types give NOSTR_ERR_MESSAGE with
 * "unknown message type"; a malformed known one gives the error of the
 * part that failed (FIELD, FILTER, HEX, JSON ...) and err->msg says what.
 * Subscription ids must be 1..64 characters (NIP-01).
 * In detail: NOSTR_ERR_MESSAGE when the top level is not an array, the
 * type is not a string, unknown, or sent by the wrong side (OK from a
 * client), an element is missing ("missing ...") or extra ("too many
 * elements"), an element has the wrong JSON type, a sub id is not 1..64
 * bytes (decoded), or the relay's COUNT result lacks "count" (other keys
 * in it, like NIP-45 "hll", are skipped). NOSTR_ERR_TOO_LARGE for more
 * than lim.max_filters filters; NOSTR_ERR_FILTER from a filter;
 * NOSTR_ERR_HEX for the event id of OK; the event parser's codes for an
 * event. The event's json_offset/json_len are relative to `json`. */
NOSTRDEF int nostr_msg_parse(nostr_msg *m, nostr_role from, const char *json, size_t len, nostr_arena *a,
                             const nostr_limits *lim, nostr_error *err);
/* Encode m as sent by `from`, appended to out. NOSTR_ERR_ARG for a type
 * that side does not send, a sub id not 1..64 bytes, a REQ or client
 * COUNT without filters, or a filter nostr_filter_to_json refuses. On any
 * failure out is left as it was. The relay's COUNT writes "approximate"
 * only when it is set. */
NOSTRDEF int nostr_msg_write(const nostr_msg *m, nostr_role from, nostr_buf *out);

/* Writers for the common relay answers, appended to out. event_json is
 * the event's JSON text as stored (forwarded verbatim, not re-encoded).
 * A NULL message writes ""; a sub id not 1..64 bytes is NOSTR_ERR_ARG.
 * On failure out is left as it was. */
NOSTRDEF int nostr_write_ok(nostr_buf *out, const unsigned char id[32], int ok, const char *message);
NOSTRDEF int nostr_write_eose(nostr_buf *out, const char *sub, size_t sub_len);
NOSTRDEF int nostr_write_closed(nostr_buf *out, const char *sub, size_t sub_len, const char *message);
NOSTRDEF int nostr_write_notice(nostr_buf *out, const char *message);
NOSTRDEF int nostr_write_event_raw(nostr_buf *out, const char *sub, size_t sub_len, const char *event_json,
                                   size_t event_len);
NOSTRDEF int nostr_write_count(nostr_buf *out, const char *sub, size_t sub_len, unsigned long long count,
                               int approximate);
