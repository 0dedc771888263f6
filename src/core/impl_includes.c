#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>
#include <secp256k1_ecdh.h>
#include <mbedtls/chacha20.h>
#include <mbedtls/aes.h>
#if defined(__linux__)
#include <errno.h>
/* getrandom(2): declared by glibc >= 2.25 without feature macros, so a
 * strict -std=c99 build sees it. Older libcs fall back to /dev/urandom. */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 25))
#include <sys/random.h>
#define NOSTR__HAVE_GETRANDOM 1
#endif
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <cpuid.h>
#endif
