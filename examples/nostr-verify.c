/* nostr-verify: check events given as JSON lines on stdin.
 *
 * For each non-empty line prints
 *     ok <id>
 *     invalid <id or ?> <reason>: <detail>
 * (the id is the event's own id field when the line parsed as an event,
 * else "?"), then "N valid, M invalid". Exit status 0 only when every
 * event is valid (an empty input is valid).
 *
 * Lines may be of any length up to 4 MiB; a longer one is consumed and
 * reported as too large. Binary garbage and NUL bytes are just invalid. */
#include <stdio.h>
#include <string.h>
#include "nostr.h"

#define MAX_LINE (4u << 20)

/* Reads stdin in chunks and hands out lines (without the newline). */
typedef struct line_reader {
    FILE *in;
    char chunk[1 << 16];
    size_t pos, len;
    int eof;
} line_reader;

/* Next line into *line. Returns 1 when a line was read, 0 at the end of
 * input. *too_long is set when the line exceeded max (its rest is then
 * skipped and *line holds only what fitted). */
static int read_line(line_reader *r, nostr_buf *line, size_t max, int *too_long)
{
    int got_any = 0;
    nostr_buf_clear(line);
    *too_long = 0;
    for (;;) {
        const char *start, *nl;
        size_t avail, take;
        if (r->pos == r->len) {
            if (r->eof) return got_any;
            r->len = fread(r->chunk, 1, sizeof r->chunk, r->in);
            r->pos = 0;
            if (r->len == 0) {
                r->eof = 1;
                return got_any;
            }
        }
        got_any = 1;
        start = r->chunk + r->pos;
        avail = r->len - r->pos;
        nl = (const char *)memchr(start, '\n', avail);
        take = nl ? (size_t)(nl - start) : avail;
        if (!*too_long) {
            /* out of memory on a long line is reported the same way */
            if (line->len + take > max || nostr_buf_append(line, start, take) != NOSTR_OK) *too_long = 1;
        }
        r->pos += take + (nl ? 1 : 0);
        if (nl) return 1;
    }
}

static int is_blank(const char *s, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

/* A short word for each failure class, for scripts to match on. */
static const char *reason_word(int code)
{
    switch (code) {
    case NOSTR_ERR_JSON:
    case NOSTR_ERR_UTF8:
    case NOSTR_ERR_DEPTH: return "bad-json";
    case NOSTR_ERR_TOO_LARGE: return "too-large";
    case NOSTR_ERR_FIELD:
    case NOSTR_ERR_HEX: return "bad-field";
    case NOSTR_ERR_KIND: return "bad-kind";
    case NOSTR_ERR_CREATED_AT: return "bad-created-at";
    case NOSTR_ERR_ID: return "bad-id";
    case NOSTR_ERR_SIG: return "bad-sig";
    case NOSTR_ERR_PUBKEY: return "bad-pubkey";
    case NOSTR_ERR_NOMEM: return "no-memory";
    default: return "error";
    }
}

/* Check one line; prints its result and returns 1 when valid. */
static int verify_line(const nostr_ctx *ctx, const char *text, size_t len, nostr_arena *arena,
                       const nostr_limits *lim)
{
    nostr_event ev;
    nostr_error err;
    char id[65];
    int rc;

    memset(&err, 0, sizeof err);
    rc = nostr_event_parse(&ev, text, len, arena, lim, &err);
    if (rc) {
        printf("invalid ? %s: %s at offset %lu\n", reason_word(rc), err.msg ? err.msg : nostr_strerror(rc),
               (unsigned long)err.offset);
        return 0;
    }
    nostr_hex_encode(ev.id, 32, id);
    memset(&err, 0, sizeof err);
    rc = nostr_event_check(&ev, NULL, &err);
    if (rc == NOSTR_OK) rc = nostr_event_verify(ctx, &ev);
    if (rc) {
        printf("invalid %s %s: %s\n", id, reason_word(rc), err.msg ? err.msg : nostr_strerror(rc));
        return 0;
    }
    printf("ok %s\n", id);
    return 1;
}

int main(int argc, char **argv)
{
    static line_reader reader;
    static unsigned char arena_mem[1 << 16];
    nostr_ctx *ctx;
    nostr_arena arena;
    nostr_buf line;
    nostr_limits lim;
    unsigned long valid = 0, invalid = 0;
    int too_long;

    if (argc > 1) {
        int help = strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0;
        fprintf(help ? stdout : stderr, "usage: nostr-verify < events.jsonl\n  Verifies one JSON event per line.\n");
        return help ? 0 : 2;
    }
    ctx = nostr_ctx_new(NULL);
    if (!ctx) {
        fprintf(stderr, "nostr-verify: cannot create a context\n");
        return 2;
    }
    /* The parser's limits follow the line cap instead of its 1 MiB default. */
    memset(&lim, 0, sizeof lim);
    lim.max_input = MAX_LINE;
    lim.max_string = MAX_LINE;
    nostr_arena_init(&arena, arena_mem, sizeof arena_mem, NULL);
    nostr_buf_init(&line, NULL);
    reader.in = stdin;

    while (read_line(&reader, &line, MAX_LINE, &too_long)) {
        if (too_long) {
            printf("invalid ? too-large: line over %u bytes\n", MAX_LINE);
            invalid++;
        } else if (!is_blank(line.data, line.len)) {
            if (verify_line(ctx, line.data, line.len, &arena, &lim))
                valid++;
            else
                invalid++;
            nostr_arena_reset(&arena);
        }
    }
    printf("%lu valid, %lu invalid\n", valid, invalid);

    nostr_buf_free(&line);
    nostr_arena_free(&arena);
    nostr_ctx_free(ctx);
    if (fflush(stdout) != 0) return 2;
    return invalid ? 1 : 0;
}
