/* Built-in store log replay: any events.log must open or fail cleanly,
 * never crash or leak. The input is the log itself (framing, CRCs, torn
 * tails), unless its first byte is 0xFF: then the rest is a list of
 * [type u8][length u16 LE][payload] chunks framed here with correct CRCs
 * behind a valid header, so mutations reach the replay of events and
 * markers instead of dying at the checksum. An opened store is queried,
 * given a put, purged, compacted, closed and reopened. */
#define _POSIX_C_SOURCE 200809L
#define NOSTR_NO_BLOCKING
#define NOSTR_IMPLEMENTATION
#define NOSTR_RELAY_IMPLEMENTATION
#include "nostr_relay.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_dir[64];

static void fuzz_put_done(void *user, int result, const char *msg)
{
    (void)msg;
    *(int *)user = result;
}

static void fuzz_row(void *user, const char *json, size_t len)
{
    (void)json;
    *(size_t *)user += len;
}

static void fuzz_done(void *user, int rc, unsigned long long count)
{
    (void)user;
    (void)count;
    if (rc != NOSTR_OK) abort();
}

static void fuzz_write(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

/* The CRC the store uses: CRC-32C over (type, payload). */
static uint32_t fuzz_crc(unsigned type, const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    unsigned char t = (unsigned char)type;
    size_t i;
    int k;
    for (i = 0; i <= n; i++) {
        c ^= i == 0 ? t : p[i - 1];
        for (k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
    }
    return ~c;
}

static void fuzz_rec(nostr_buf *b, unsigned type, const unsigned char *p, size_t n)
{
    unsigned char h[9];
    uint32_t crc = fuzz_crc(type, p, n);
    h[0] = (unsigned char)n;
    h[1] = (unsigned char)(n >> 8);
    h[2] = (unsigned char)(n >> 16);
    h[3] = (unsigned char)(n >> 24);
    h[4] = (unsigned char)crc;
    h[5] = (unsigned char)(crc >> 8);
    h[6] = (unsigned char)(crc >> 16);
    h[7] = (unsigned char)(crc >> 24);
    h[8] = (unsigned char)type;
    nostr_buf_append(b, h, 9);
    nostr_buf_append(b, p, n);
}

static void fuzz_exercise(nostr_store_builtin *s)
{
    nostr_store it = nostr_store_builtin_iface(s);
    nostr_filter f;
    size_t bytes = 0;
    int result = -1000;
    unsigned kinds[2] = {1, 0};
    static const char ev_json[] =
        "{\"id\":\"0000000000000000000000000000000000000000000000000000000000000001\",\"pubkey\":"
        "\"0000000000000000000000000000000000000000000000000000000000000002\",\"created_at\":1,"
        "\"kind\":1,\"tags\":[[\"t\",\"x\"]],\"content\":\"fuzz\",\"sig\":\""
        "0000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000\"}";
    unsigned char mem[4096];
    nostr_arena a;
    nostr_event ev;
    memset(&f, 0, sizeof f);
    if (it.query(it.self, &f, 1, 0, fuzz_row, fuzz_done, &bytes) != NOSTR_OK) abort();
    f.fields = NOSTR_FILTER_KINDS | NOSTR_FILTER_LIMIT;
    f.kinds = kinds;
    f.kinds_count = 2;
    f.limit = 10;
    if (it.query(it.self, &f, 1, 1700000000, fuzz_row, fuzz_done, &bytes) != NOSTR_OK) abort();
    if (it.count(it.self, &f, 1, 0, fuzz_done, NULL) != NOSTR_OK) abort();
    nostr_arena_init(&a, mem, sizeof mem, NULL);
    if (nostr_event_parse(&ev, ev_json, sizeof ev_json - 1, &a, NULL, NULL) != NOSTR_OK) abort();
    if (it.put(it.self, &ev, ev_json, sizeof ev_json - 1, fuzz_put_done, &result) != NOSTR_OK) abort();
    if (it.commit(it.self) != NOSTR_OK) abort();
    if (result < 0) abort();
    if (it.purge(it.self, 1700000000) < 0) abort();
    if (nostr_store_builtin_compact(s) != NOSTR_OK) abort();
    nostr_arena_free(&a);
}

static void fuzz_cleanup(void)
{
    char p[160];
    snprintf(p, sizeof p, "%s/events.log", fuzz_dir);
    unlink(p);
    rmdir(fuzz_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[128], bad[160], tmp[160];
    nostr_store_builtin *s = NULL;
    nostr_store_builtin_config cfg;
    nostr_error err;
    unsigned long long events = 0;
    if (!fuzz_dir[0]) {
        snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/fuzz-store-log-XXXXXX");
        if (!mkdtemp(fuzz_dir)) abort();
        atexit(fuzz_cleanup);
    }
    snprintf(path, sizeof path, "%s/events.log", fuzz_dir);
    snprintf(bad, sizeof bad, "%s.bad", path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (size && data[0] == 0xFF) {
        nostr_buf b;
        size_t i = 1;
        nostr_buf_init(&b, NULL);
        fuzz_rec(&b, 1, (const unsigned char *)"distrise events.log 1", 21);
        while (i + 3 <= size) {
            unsigned type = data[i];
            size_t n = (size_t)data[i + 1] | (size_t)data[i + 2] << 8;
            i += 3;
            if (n > size - i) n = size - i;
            fuzz_rec(&b, type, data + i, n);
            i += n;
        }
        fuzz_write(path, b.data, b.len);
        nostr_buf_free(&b);
    } else {
        fuzz_write(path, data, size);
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = fuzz_dir;
    cfg.no_fsync = 1;
    if (nostr_store_builtin_open(&s, &cfg, &err) == NOSTR_OK) {
        nostr_store_builtin_stats st;
        nostr_store_builtin_stats_get(s, &st);
        if (st.truncated > size) abort();
        fuzz_exercise(s);
        nostr_store_builtin_stats_get(s, &st);
        events = st.events;
        nostr_store_builtin_close(s);
        /* the compacted log replays to the same live set */
        if (nostr_store_builtin_open(&s, &cfg, &err) != NOSTR_OK) abort();
        nostr_store_builtin_stats_get(s, &st);
        if (st.events != events || st.truncated != 0) abort();
        nostr_store_builtin_close(s);
    } else if (err.code >= 0 || !err.msg) {
        abort();
    }
    unlink(path);
    unlink(bad);
    unlink(tmp);
    return 0;
}
