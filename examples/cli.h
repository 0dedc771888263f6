/* cli.h - command-line helpers shared by the example programs.
 * Header-only and static: each program includes it once. */
#ifndef NOSTR_EXAMPLES_CLI_H
#define NOSTR_EXAMPLES_CLI_H

#include <string.h>

/* Non-negative decimal integer up to max; -1 when not one. */
static long long parse_uint(const char *s, long long max)
{
    long long v = 0;
    if (!s || !*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        v = v * 10 + (*s - '0');
        if (v > max) return -1;
    }
    return v;
}

/* "--name value" or "--name=value": the value, advancing *i; NULL when
 * argv[*i] is not this option. *missing is set when the value is absent. */
static const char *option(int argc, char **argv, int *i, const char *name, int *missing)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0) return NULL;
    if (a[n] == '=') return a + n + 1;
    if (a[n] != 0) return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

#endif
