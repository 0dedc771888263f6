/* The library as one translation unit: what the project's own build
 * links into tests, examples and benches (users do the same in a file of
 * their own). POSIX declarations are for the blocking layer's sockets. */
#define _POSIX_C_SOURCE 200809L
#define NOSTR_IMPLEMENTATION
#include "nostr.h"
