/* nostr-req: query one relay with a filter.
 *
 *   nostr-req --relay URL [--ids ID,...] [--authors PUB,...] [--kinds N,...]
 *             [--tag NAME=VALUE]... [--since T] [--until T] [--limit N]
 *             [--search Q] [--live] [--count] [--timeout MS]
 *
 * Prints the matching events one JSON object per line until the relay's
 * EOSE; with --live keeps printing new events until SIGINT or SIGTERM;
 * with --count prints the NIP-45 count. ids accept note1/nevent1, authors
 * npub1/nprofile1 as well as hex. Exit status: 0 on success, 1 when the
 * relay could not be reached, refused (CLOSED) or timed out, 2 on usage
 * errors. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nostr.h"
#include "cli.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nostr-req --relay URL [--ids ID,...] [--authors PUB,...] [--kinds N,...]\n"
            "                 [--tag NAME=VALUE]... [--since T] [--until T] [--limit N]\n"
            "                 [--search Q] [--live] [--count] [--timeout MS]\n"
            "  --ids, --authors   comma-separated hex, or note1/npub1 (NIP-19)\n"
            "  --tag X=V          events with a tag [\"X\",\"V\",...]; X is one letter (repeatable)\n"
            "  --live             after the stored events, print new ones until SIGINT/SIGTERM\n"
            "  --count            print the NIP-45 count instead of the events\n"
            "  --timeout MS       connection and answer timeout (default 10000)\n"
            "Prints one event JSON per line.\n");
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "nostr-req: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    usage(stderr);
    return 2;
}

/* A usage error found while building the filter (frees it). */
static int filter_error(nostr_buf *fj, const char *msg, const char *arg)
{
    nostr_buf_free(fj);
    return usage_error(msg, arg);
}

/* Append a JSON list of 32-byte keys from "a,b,c": hex (either case) or
 * the NIP-19 form `want`. Returns 0 or -1 (bad item in *bad). */
static int append_keys(nostr_buf *out, const char *list, nostr_nip19_type want, const char **bad)
{
    const char *p = list;
    int first = 1;
    nostr_buf_append_char(out, '[');
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        unsigned char key[32];
        char hex[65];
        if (nostr_hex_decode_any_case(p, len, key, 32) != NOSTR_OK &&
            nostr_nip19_decode_key(p, len, want, key, NULL) != NOSTR_OK) {
            *bad = p;
            return -1;
        }
        nostr_hex_encode(key, 32, hex);
        if (!first) nostr_buf_append_char(out, ',');
        nostr_json_write_string(out, hex, 64);
        first = 0;
        if (!comma) break;
        p = comma + 1;
    }
    return nostr_buf_append_char(out, ']') == NOSTR_OK ? 0 : -1;
}

static int append_kinds(nostr_buf *out, const char *list)
{
    const char *p = list;
    int first = 1;
    nostr_buf_append_char(out, '[');
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char num[8];
        long long k;
        if (len == 0 || len >= sizeof num) return -1;
        memcpy(num, p, len);
        num[len] = 0;
        if ((k = parse_uint(num, 65535)) < 0) return -1;
        if (!first) nostr_buf_append_char(out, ',');
        nostr_buf_append_i64(out, k);
        first = 0;
        if (!comma) break;
        p = comma + 1;
    }
    return nostr_buf_append_char(out, ']') == NOSTR_OK ? 0 : -1;
}

static int print_event(void *user, const nostr_event *ev, const char *json, size_t len)
{
    (void)user;
    (void)ev;
    fwrite(json, 1, len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    return stop_requested ? 1 : 0;
}

#define MAX_TAGS 64

int main(int argc, char **argv)
{
    const char *relay = NULL, *ids = NULL, *authors = NULL, *kinds = NULL, *search = NULL;
    const char *tag_specs[MAX_TAGS];
    long long since = -1, until = -1, limit = -1, timeout = 10000;
    int live = 0, count = 0, ai, rc, status = 1;
    size_t ntags = 0, i, j;
    nostr_buf fj;
    nostr_ctx *ctx;
    nostr_arena arena;
    nostr_filter filter;
    nostr_error err;
    nostr_conn *conn;
    nostr_conn_options opts;
    char detail[512];
    const char *bad = NULL;

    for (ai = 1; ai < argc; ai++) {
        const char *v;
        int missing = 0;
        if (strcmp(argv[ai], "-h") == 0 || strcmp(argv[ai], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if ((v = option(argc, argv, &ai, "--relay", &missing))) relay = v;
        else if ((v = option(argc, argv, &ai, "--ids", &missing))) ids = v;
        else if ((v = option(argc, argv, &ai, "--authors", &missing))) authors = v;
        else if ((v = option(argc, argv, &ai, "--kinds", &missing))) kinds = v;
        else if ((v = option(argc, argv, &ai, "--search", &missing))) search = v;
        else if ((v = option(argc, argv, &ai, "--tag", &missing))) {
            if (ntags == MAX_TAGS) return usage_error("too many --tag options", NULL);
            if (!((v[0] >= 'a' && v[0] <= 'z') || (v[0] >= 'A' && v[0] <= 'Z')) || v[1] != '=')
                return usage_error("--tag needs NAME=VALUE with a one-letter NAME", v);
            tag_specs[ntags++] = v;
        } else if ((v = option(argc, argv, &ai, "--since", &missing))) {
            if ((since = parse_uint(v, 1LL << 53)) < 0) return usage_error("--since needs a unix time", v);
        } else if ((v = option(argc, argv, &ai, "--until", &missing))) {
            if ((until = parse_uint(v, 1LL << 53)) < 0) return usage_error("--until needs a unix time", v);
        } else if ((v = option(argc, argv, &ai, "--limit", &missing))) {
            if ((limit = parse_uint(v, 1LL << 53)) < 0) return usage_error("--limit needs a number", v);
        } else if ((v = option(argc, argv, &ai, "--timeout", &missing))) {
            if ((timeout = parse_uint(v, 86400000)) <= 0) return usage_error("--timeout needs milliseconds > 0", v);
        } else if (strcmp(argv[ai], "--live") == 0) live = 1;
        else if (strcmp(argv[ai], "--count") == 0) count = 1;
        else if (missing) return usage_error("missing value for", argv[ai]);
        else return usage_error("unknown argument", argv[ai]);
        if (missing) return usage_error("missing value for", argv[ai]);
    }
    if (!relay) return usage_error("--relay is required", NULL);
    if (live && count) return usage_error("--live and --count do not go together", NULL);

    /* The filter as JSON, checked by the library's filter parser. */
    nostr_buf_init(&fj, NULL);
    nostr_buf_append_char(&fj, '{');
    if (ids) {
        nostr_buf_append_str(&fj, "\"ids\":");
        if (append_keys(&fj, ids, NOSTR_NIP19_NOTE, &bad)) return filter_error(&fj, "bad id (hex or note1...)", bad);
        nostr_buf_append_char(&fj, ',');
    }
    if (authors) {
        nostr_buf_append_str(&fj, "\"authors\":");
        if (append_keys(&fj, authors, NOSTR_NIP19_NPUB, &bad))
            return filter_error(&fj, "bad author (hex or npub1...)", bad);
        nostr_buf_append_char(&fj, ',');
    }
    if (kinds) {
        nostr_buf_append_str(&fj, "\"kinds\":");
        if (append_kinds(&fj, kinds)) return filter_error(&fj, "--kinds needs numbers in 0..65535", kinds);
        nostr_buf_append_char(&fj, ',');
    }
    for (i = 0; i < ntags; i++) {
        char name[4] = {'#', tag_specs[i][0], 0, 0};
        int seen = 0;
        for (j = 0; j < i; j++) seen |= tag_specs[j][0] == tag_specs[i][0];
        if (seen) continue; /* values of one letter go into one list */
        nostr_json_write_string(&fj, name, 2);
        nostr_buf_append_str(&fj, ":[");
        for (j = i; j < ntags; j++) {
            if (tag_specs[j][0] != tag_specs[i][0]) continue;
            if (j != i) nostr_buf_append_char(&fj, ',');
            nostr_json_write_string(&fj, tag_specs[j] + 2, strlen(tag_specs[j] + 2));
        }
        nostr_buf_append_str(&fj, "],");
    }
    if (since >= 0) {
        nostr_buf_append_str(&fj, "\"since\":");
        nostr_buf_append_i64(&fj, since);
        nostr_buf_append_char(&fj, ',');
    }
    if (until >= 0) {
        nostr_buf_append_str(&fj, "\"until\":");
        nostr_buf_append_i64(&fj, until);
        nostr_buf_append_char(&fj, ',');
    }
    if (limit >= 0) {
        nostr_buf_append_str(&fj, "\"limit\":");
        nostr_buf_append_i64(&fj, limit);
        nostr_buf_append_char(&fj, ',');
    }
    if (search) {
        nostr_buf_append_str(&fj, "\"search\":");
        nostr_json_write_string(&fj, search, strlen(search));
        nostr_buf_append_char(&fj, ',');
    }
    if (fj.data[fj.len - 1] == ',') fj.len--;
    nostr_buf_append_char(&fj, '}');

    ctx = nostr_ctx_new(NULL);
    if (!ctx) {
        fprintf(stderr, "nostr-req: could not create a context\n");
        return 1;
    }
    nostr_arena_init(&arena, NULL, 0, NULL);
    memset(&err, 0, sizeof err);
    if (nostr_filter_parse(&filter, fj.data, fj.len, &arena, NULL, &err) != NOSTR_OK) {
        fprintf(stderr, "nostr-req: bad filter: %s\n", err.msg ? err.msg : "invalid");
        status = 2;
        goto done_ctx;
    }

    memset(&opts, 0, sizeof opts);
    opts.no_reconnect = !live; /* a live feed survives relay restarts */
    opts.error_text = detail;
    opts.error_text_cap = sizeof detail;
    conn = nostr_conn_open(ctx, relay, (int)timeout, &opts, &err);
    if (!conn) {
        fprintf(stderr, "nostr-req: %s: %s\n", relay, detail[0] ? detail : (err.msg ? err.msg : "failed"));
        if (err.code == NOSTR_ERR_ARG) status = 2;
        goto done_ctx;
    }
    if (count) {
        unsigned long long n = 0;
        int approximate = 0;
        rc = nostr_conn_count(conn, &filter, 1, (int)timeout, &n, &approximate);
        if (rc == NOSTR_OK) {
            printf("%llu%s\n", n, approximate ? " (approximate)" : "");
            status = 0;
        }
    } else if (live) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal; /* no SA_RESTART: poll returns at once */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        rc = nostr_conn_subscribe_live(conn, &filter, 1, print_event, NULL, NULL);
        while (rc == NOSTR_OK && !stop_requested) rc = nostr_conn_poll(conn, 1000);
        if (stop_requested) {
            rc = NOSTR_OK;
            status = 0;
        }
    } else {
        rc = nostr_conn_query(conn, &filter, 1, (int)timeout, print_event, NULL);
        if (rc == NOSTR_OK) status = 0;
    }
    if (status != 0) {
        const char *why = nostr_conn_last_error(conn);
        fprintf(stderr, "nostr-req: %s: %s%s%s\n", relay, rc == NOSTR_ERR_CLOSED ? "closed" : nostr_strerror(rc),
                why[0] ? ": " : "", why);
    }
    nostr_conn_close(conn);
done_ctx:
    nostr_arena_free(&arena);
    nostr_buf_free(&fj);
    nostr_ctx_free(ctx);
    return status;
}
