/* The built-in store's files and the pgwire adapter's client library.
 * POSIX: define _POSIX_C_SOURCE 200809L (or _GNU_SOURCE) before the first
 * system header in the file that includes the implementation. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef NOSTR_WITH_PGWIRE
#include <libpq-fe.h>
#endif
