/* nostr-keygen: make a new key pair, or show an existing secret key's
 * forms, as hex and NIP-19 (nsec/npub):
 *
 *     sec <64 hex>
 *     nsec <nsec1...>
 *     pub <64 hex>
 *     npub <npub1...>
 *
 * Usage: nostr-keygen [--sec HEX_OR_NSEC] [-h]
 * The secret key is printed: run it where nobody reads your terminal. */
#include <stdio.h>
#include <string.h>
#include "nostr.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nostr-keygen [--sec HEX_OR_NSEC]\n"
            "  Prints a new key pair (or the one for the given secret key) as\n"
            "  four lines: sec <hex>, nsec <nsec1...>, pub <hex>, npub <npub1...>.\n"
            "  --sec KEY   use KEY (64 hex characters or nsec1...) instead of a new key\n"
            "  -h, --help  show this help\n");
}

/* Print the four lines; returns 0 or a NOSTR_ERR_* code. */
static int print_keys(const nostr_keys *k)
{
    char hex[65];
    nostr_buf nsec, npub;
    int rc;
    nostr_buf_init(&nsec, NULL);
    nostr_buf_init(&npub, NULL);
    rc = nostr_nip19_encode_key("nsec", k->sec, &nsec);
    if (!rc) rc = nostr_nip19_encode_key("npub", k->pub, &npub);
    if (!rc) {
        nostr_hex_encode(k->sec, 32, hex);
        printf("sec %s\nnsec %s\n", hex, nsec.data);
        nostr_hex_encode(k->pub, 32, hex);
        printf("pub %s\nnpub %s\n", hex, npub.data);
    }
    nostr_wipe(hex, sizeof hex);
    if (nsec.data) nostr_wipe(nsec.data, nsec.len);
    nostr_buf_free(&nsec);
    nostr_buf_free(&npub);
    return rc;
}

int main(int argc, char **argv)
{
    const char *given = NULL;
    nostr_ctx *ctx;
    nostr_keys k;
    int i, rc;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--sec") == 0 && i + 1 < argc) {
            given = argv[++i];
        } else if (strncmp(argv[i], "--sec=", 6) == 0) {
            given = argv[i] + 6;
        } else {
            fprintf(stderr, "nostr-keygen: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }

    ctx = nostr_ctx_new(NULL);
    if (!ctx) {
        fprintf(stderr, "nostr-keygen: cannot create a context (no random source?)\n");
        return 1;
    }
    rc = given ? nostr_keys_from_str(ctx, given, &k) : nostr_keys_generate(ctx, &k);
    if (rc) {
        fprintf(stderr, "nostr-keygen: %s: %s\n", given ? "bad secret key" : "key generation failed",
                nostr_strerror(rc));
    } else {
        rc = print_keys(&k);
        if (rc) fprintf(stderr, "nostr-keygen: encoding failed: %s\n", nostr_strerror(rc));
    }
    nostr_keys_wipe(&k);
    nostr_ctx_free(ctx);
    if (fflush(stdout) != 0) return 1;
    return rc ? 1 : 0;
}
