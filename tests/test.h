/* Minimal test harness: CHECK macros count passes and failures; main()
 * of each test calls TEST_RUN(fn) per case and returns TEST_DONE(), which
 * prints "N passed, N failed" and exits non-zero on any failure. */
#ifndef NOSTR_TEST_H
#define NOSTR_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nostr.h"

static int test_passed, test_failed;
static const char *test_current = "";

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (cond) {                                                                            \
            test_passed++;                                                                     \
        } else {                                                                               \
            test_failed++;                                                                     \
            fprintf(stderr, "%s:%d: %s: CHECK failed: %s\n", __FILE__, __LINE__, test_current, #cond); \
        }                                                                                      \
    } while (0)

#define CHECK_EQ(a, b)                                                                          \
    do {                                                                                        \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                   \
        if (va_ == vb_) {                                                                       \
            test_passed++;                                                                      \
        } else {                                                                                \
            test_failed++;                                                                      \
            fprintf(stderr, "%s:%d: %s: CHECK_EQ failed: %s = %lld, %s = %lld\n", __FILE__, __LINE__, \
                    test_current, #a, va_, #b, vb_);                                            \
        }                                                                                       \
    } while (0)

#define CHECK_STR(a, b)                                                                         \
    do {                                                                                        \
        const char *sa_ = (a), *sb_ = (b);                                                      \
        if (sa_ && sb_ && strcmp(sa_, sb_) == 0) {                                              \
            test_passed++;                                                                      \
        } else {                                                                                \
            test_failed++;                                                                      \
            fprintf(stderr, "%s:%d: %s: CHECK_STR failed: %s = \"%s\", %s = \"%s\"\n", __FILE__, __LINE__, \
                    test_current, #a, sa_ ? sa_ : "(null)", #b, sb_ ? sb_ : "(null)");          \
        }                                                                                       \
    } while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

#define TEST_RUN(fn)          \
    do {                      \
        test_current = #fn;   \
        fn();                 \
    } while (0)

#define TEST_DONE() (printf("%d passed, %d failed\n", test_passed, test_failed), test_failed ? 1 : 0)

#ifndef NOSTR_TEST_DATA
#define NOSTR_TEST_DATA "tests/data"
#endif

/* Read a whole file under tests/data (or an absolute path); NULL if missing. */
#if defined(__GNUC__)
__attribute__((unused))
#endif
static char *test_read_file(const char *name, size_t *len)
{
    char path[1024];
    FILE *f;
    char *buf;
    long n;
    if (name[0] == '/')
        snprintf(path, sizeof path, "%s", name);
    else
        snprintf(path, sizeof path, "%s/%s", NOSTR_TEST_DATA, name);
    f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = (char *)malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        if (len) *len = (size_t)n;
    }
    return buf;
}

#endif
