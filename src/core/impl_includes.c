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
#include <sys/syscall.h>
#include <unistd.h>
#include <errno.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <cpuid.h>
#endif
