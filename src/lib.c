/* The library as one translation unit: what the project's own build
 * links into tests, examples and benches (users do the same in a file of
 * their own). POSIX declarations are for the blocking layer's sockets and
 * the built-in store's files. NOSTR_WITH_PGWIRE and NOSTR_WITH_RABBITMQ
 * come from the build. */
#define _POSIX_C_SOURCE 200809L
#define NOSTR_IMPLEMENTATION
#define NOSTR_RELAY_IMPLEMENTATION
#define NOSTR_GATEWAY_IMPLEMENTATION
#include "nostr_gateway.h"
