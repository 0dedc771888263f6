/* The library as one translation unit: what the project's own build
 * links into tests, examples and benches (users do the same in a file of
 * their own). */
#define NOSTR_IMPLEMENTATION
#include "nostr.h"
