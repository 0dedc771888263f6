/* nostr-publish: sign an event and publish it to one relay.
 *
 *   nostr-publish --relay URL --sec HEX_OR_NSEC [--kind N] [--tag NAME,VALUE[,MORE]]...
 *                 [--pow BITS] [--timeout MS] CONTENT
 *
 * Prints the signed event as JSON on stdout, then the relay's answer
 * ("OK true" and its message). Exit status: 0 when the relay accepted the
 * event, 1 when it refused it (its message on stderr) or could not be
 * reached, 2 on usage errors. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "nostr.h"
#include "cli.h"

#define MAX_TAGS 256

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nostr-publish --relay URL --sec HEX_OR_NSEC [--kind N] [--tag NAME,VALUE[,MORE]]...\n"
            "                     [--pow BITS] [--timeout MS] CONTENT\n"
            "  --relay URL      ws:// or wss:// relay\n"
            "  --sec KEY        secret key: 64 hex characters or nsec1...\n"
            "  --kind N         event kind (default 1)\n"
            "  --tag A,B,...    add the tag [\"A\",\"B\",...] (repeatable)\n"
            "  --pow BITS       NIP-13 proof of work with at least BITS leading zero bits\n"
            "  --timeout MS     connection and answer timeout (default 10000)\n"
            "Prints the signed event JSON, then the relay's answer; exit 0 only when accepted.\n");
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "nostr-publish: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    usage(stderr);
    return 2;
}

/* Split "A,B,C" into a tag. */
static int add_tag(nostr_event *ev, nostr_arena *a, const char *spec)
{
    const char *items[64];
    char *copy = nostr_arena_strdup(a, spec, strlen(spec));
    char *p;
    size_t n = 0;
    if (!copy) return NOSTR_ERR_NOMEM;
    for (p = copy;;) {
        char *comma = strchr(p, ',');
        if (n == 64) return NOSTR_ERR_ARG;
        items[n++] = p;
        if (!comma) break;
        *comma = 0;
        p = comma + 1;
    }
    if (n < 1 || items[0][0] == 0) return NOSTR_ERR_ARG;
    return nostr_event_add_tag(ev, a, items, n);
}

int main(int argc, char **argv)
{
    const char *relay = NULL, *sec = NULL, *content = NULL, *tags[MAX_TAGS];
    long long kind = 1, pow_bits = 0, timeout = 10000;
    size_t ntags = 0, i;
    int ai, rc, accepted = 0, status = 1;
    nostr_ctx *ctx;
    nostr_keys keys;
    nostr_arena arena;
    nostr_event ev;
    nostr_buf json;
    nostr_conn *conn;
    nostr_conn_options opts;
    nostr_error err;
    char detail[512], answer[1024];

    for (ai = 1; ai < argc; ai++) {
        const char *v;
        int missing = 0;
        if (strcmp(argv[ai], "-h") == 0 || strcmp(argv[ai], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if ((v = option(argc, argv, &ai, "--relay", &missing))) {
            relay = v;
        } else if ((v = option(argc, argv, &ai, "--sec", &missing))) {
            sec = v;
        } else if ((v = option(argc, argv, &ai, "--kind", &missing))) {
            if ((kind = parse_uint(v, 65535)) < 0) return usage_error("--kind needs a number in 0..65535", v);
        } else if ((v = option(argc, argv, &ai, "--tag", &missing))) {
            if (ntags == MAX_TAGS) return usage_error("too many --tag options", NULL);
            tags[ntags++] = v;
        } else if ((v = option(argc, argv, &ai, "--pow", &missing))) {
            if ((pow_bits = parse_uint(v, 256)) < 0) return usage_error("--pow needs a number of bits in 0..256", v);
        } else if ((v = option(argc, argv, &ai, "--timeout", &missing))) {
            if ((timeout = parse_uint(v, 86400000)) <= 0) return usage_error("--timeout needs milliseconds > 0", v);
        } else if (missing) {
            return usage_error("missing value for", argv[ai]);
        } else if (argv[ai][0] == '-' && argv[ai][1] != 0) {
            return usage_error("unknown option", argv[ai]);
        } else if (content) {
            return usage_error("more than one CONTENT argument", argv[ai]);
        } else {
            content = argv[ai];
        }
        if (missing) return usage_error("missing value for", argv[ai]);
    }
    if (!relay) return usage_error("--relay is required", NULL);
    if (!sec) return usage_error("--sec is required", NULL);
    if (!content) return usage_error("CONTENT is required", NULL);

    ctx = nostr_ctx_new(NULL);
    if (!ctx) {
        fprintf(stderr, "nostr-publish: could not create a context\n");
        return 1;
    }
    if (nostr_keys_from_str(ctx, sec, &keys) != NOSTR_OK) {
        nostr_ctx_free(ctx);
        return usage_error("--sec is not a valid secret key (64 hex characters or nsec1...)", NULL);
    }
    nostr_arena_init(&arena, NULL, 0, NULL);
    nostr_buf_init(&json, NULL);
    rc = nostr_event_init(&ev, &arena, (unsigned)kind, (long long)time(NULL), content, strlen(content));
    for (i = 0; rc == NOSTR_OK && i < ntags; i++) {
        rc = add_tag(&ev, &arena, tags[i]);
        if (rc) {
            fprintf(stderr, "nostr-publish: bad --tag: %s\n", tags[i]);
            status = 2;
            goto done;
        }
    }
    if (rc == NOSTR_OK && pow_bits > 0) {
        memcpy(ev.pubkey, keys.pub, 32); /* mining hashes the final pubkey */
        rc = nostr_pow_mine(&ev, &arena, (int)pow_bits, 0);
    }
    if (rc == NOSTR_OK) rc = nostr_event_sign(ctx, &ev, &keys);
    if (rc == NOSTR_OK) rc = nostr_event_to_json(&ev, &json);
    if (rc != NOSTR_OK) {
        fprintf(stderr, "nostr-publish: could not build the event: %s\n", nostr_strerror(rc));
        if (rc == NOSTR_ERR_UTF8 || rc == NOSTR_ERR_ARG) status = 2;
        goto done;
    }
    printf("%s\n", json.data);
    fflush(stdout);

    memset(&opts, 0, sizeof opts);
    opts.client.keys = &keys; /* answers NIP-42 AUTH with the same key */
    opts.no_reconnect = 1;
    opts.error_text = detail;
    opts.error_text_cap = sizeof detail;
    memset(&err, 0, sizeof err);
    conn = nostr_conn_open(ctx, relay, (int)timeout, &opts, &err);
    if (!conn) {
        fprintf(stderr, "nostr-publish: %s: %s\n", relay, detail[0] ? detail : (err.msg ? err.msg : "failed"));
        if (err.code == NOSTR_ERR_ARG) status = 2;
        goto done;
    }
    rc = nostr_conn_publish(conn, &ev, (int)timeout, &accepted, answer, sizeof answer);
    if (rc != NOSTR_OK) {
        const char *why = nostr_conn_last_error(conn);
        fprintf(stderr, "nostr-publish: no answer from %s: %s%s%s\n", relay, nostr_strerror(rc), why[0] ? ": " : "",
                why);
    } else if (accepted) {
        printf("OK true%s%s\n", answer[0] ? " " : "", answer);
        status = 0;
    } else {
        fprintf(stderr, "nostr-publish: rejected by %s: %s\n", relay, answer[0] ? answer : "(no message)");
    }
    nostr_conn_close(conn);
done:
    nostr_buf_free(&json);
    nostr_arena_free(&arena);
    nostr_keys_wipe(&keys);
    nostr_ctx_free(ctx);
    return status;
}
