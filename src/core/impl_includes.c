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
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/pk.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/error.h>
/* The blocking layer (src/transport/blocking.c) is the one part that uses
 * sockets; NOSTR_NO_BLOCKING leaves it out. It needs POSIX declarations:
 * build the implementation file with _POSIX_C_SOURCE 200809L (or gnu99). */
#ifndef NOSTR_NO_BLOCKING
#if !defined(_WIN32)
#if !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE) && !defined(__APPLE__) &&          \
    !defined(__FreeBSD__) && !defined(__OpenBSD__) && !defined(__NetBSD__)
#error "nostr.h: define _POSIX_C_SOURCE 200809L before any #include in the implementation file, or NOSTR_NO_BLOCKING"
#endif
#include <errno.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netdb.h>
#include <poll.h>
#include <unistd.h>
#include <fcntl.h>
#include <time.h>
#endif
#endif
