/* TLS fed arbitrary bytes from the network, in both roles: first byte
 * even -> our server receives the rest as a client's bytes; odd -> our
 * client (verification off, so it gets past the certificate) receives the
 * rest after sending its ClientHello. Split at a point from the second
 * byte. Never a crash, leak or hang. The key and certificate below are a
 * throwaway self-signed pair made for this file (CN=fuzz.test). */
#define NOSTR_NO_BLOCKING
#define NOSTR_IMPLEMENTATION
#include "nostr.h"

static const char CERT[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBfzCCASWgAwIBAgIUPtnxflbIriu92Wb9/BpqkGYl7bEwCgYIKoZIzj0EAwIw\n"
    "FDESMBAGA1UEAwwJZnV6ei50ZXN0MCAXDTI2MTEyODA0NDY0MVoYDzIxMjYxMTA0\n"
    "MDQ0NjQxWjAUMRIwEAYDVQQDDAlmdXp6LnRlc3QwWTATBgcqhkjOPQIBBggqhkjO\n"
    "PQMBBwNCAAQE3vQHlcKAY+H7WSCXw3Gl7Fj+VmqYSWe8xhiseYezb4G38gFT6gOj\n"
    "+/fjuhrwMdPRoCEhEyAyUm6E/Xn338vso1MwUTAdBgNVHQ4EFgQUerBOGWGrovia\n"
    "Eg0eDp7Zk/BAEuswHwYDVR0jBBgwFoAUerBOGWGroviaEg0eDp7Zk/BAEuswDwYD\n"
    "VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEA8fja4nD4NsYuo37D5uyS\n"
    "Y6NASfJuyCw6/6fTAe8OdRYCIAO3wMH0ocoVpmNFDbfIxgLShQbqcO5bQMVMTPUe\n"
    "LU2z\n"
    "-----END CERTIFICATE-----\n";
static const char KEY[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgBpgNehhfR4sUP6Ga\n"
    "O9P4TFKVETYiQ+4/tRONYMRWk4+hRANCAAQE3vQHlcKAY+H7WSCXw3Gl7Fj+VmqY\n"
    "SWe8xhiseYezb4G38gFT6gOj+/fjuhrwMdPRoCEhEyAyUm6E/Xn338vs\n"
    "-----END PRIVATE KEY-----\n";

static int fz_send(void *user, const void *p, size_t n)
{
    (void)user;
    (void)p;
    (void)n;
    return 0;
}

static void fz_plain(void *user, const char *data, size_t n)
{
    (void)user;
    (void)data;
    (void)n;
}

static int fz_rng(void *user, unsigned char *out, size_t n)
{
    unsigned *s = (unsigned *)user;
    size_t i;
    for (i = 0; i < n; i++) {
        *s = *s * 1103515245u + 12345u;
        out[i] = (unsigned char)(*s >> 16);
    }
    return 0;
}

/* Configs are loaded once: parsing the key per input would drown the
 * fuzzer. Read-only after loading, like an app's shared config. */
static nostr_ctx *fz_ctx;
static nostr_tls_config *fz_server, *fz_client;
static unsigned fz_seed = 1;

static void fz_setup(void)
{
    nostr_ctx_config cc;
    nostr_tls_config_opts o;
    memset(&cc, 0, sizeof cc);
    cc.rng = fz_rng;
    cc.rng_user = &fz_seed;
    fz_ctx = nostr_ctx_new(&cc);
    memset(&o, 0, sizeof o);
    o.role = NOSTR_TLS_SERVER;
    o.cert_pem = CERT;
    o.key_pem = KEY;
    if (nostr_tls_config_new(fz_ctx, &o, &fz_server, NULL) != NOSTR_OK) abort();
    memset(&o, 0, sizeof o);
    o.role = NOSTR_TLS_CLIENT;
    o.insecure_skip_verify = 1;
    if (nostr_tls_config_new(fz_ctx, &o, &fz_client, NULL) != NOSTR_OK) abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    nostr_tls_callbacks cb;
    nostr_tls *tls = NULL;
    size_t split;
    int client;
    if (!fz_ctx) fz_setup();
    if (size < 2) return 0;
    client = data[0] & 1;
    memset(&cb, 0, sizeof cb);
    cb.send = fz_send;
    cb.on_plain = fz_plain;
    if (nostr_tls_new(client ? fz_client : fz_server, client ? "fuzz.test" : NULL, &cb, &tls, NULL) != NOSTR_OK)
        return 0;
    nostr_tls_start(tls);
    data += 2;
    size -= 2;
    split = size ? data[-1] % (size + 1) : 0;
    if (nostr_tls_feed(tls, data, split) == NOSTR_OK) nostr_tls_feed(tls, data + split, size - split);
    nostr_tls_write(tls, "x", 1);
    nostr_tls_close(tls);
    nostr_tls_free(tls);
    return 0;
}
