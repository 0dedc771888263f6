/* ---- crypto: NIP-44 v2 and NIP-04 encryption ---- */

/* NIP-44 v2. The conversation key is symmetric in the two key pairs:
 * HKDF-extract(salt "nip44-v2", ECDH x-coordinate). */
NOSTRDEF int nostr_nip44_conversation_key(const nostr_ctx *ctx, const unsigned char sec[32],
                                          const unsigned char pub[32], unsigned char ckey[32]);
/* Encrypt plaintext (1..65535 bytes) to the base64 payload, appended to
 * out; encrypt draws a fresh 32-byte nonce from the context's RNG. */
NOSTRDEF int nostr_nip44_encrypt(nostr_ctx *ctx, const unsigned char ckey[32], const char *plain, size_t len,
                                 nostr_buf *out);
NOSTRDEF int nostr_nip44_encrypt_nonce(const unsigned char ckey[32], const unsigned char nonce[32], const char *plain,
                                       size_t len, nostr_buf *out);
/* Decrypt a base64 payload; the plaintext is appended to out. Errors:
 * NOSTR_ERR_VERSION, BASE64 (also payload too short), TOO_LARGE, MAC,
 * PADDING. out is used as scratch: a fixed buffer needs room for 3/4 of
 * len (the decoded payload). The plaintext is not checked for UTF-8. */
NOSTRDEF int nostr_nip44_decrypt(const unsigned char ckey[32], const char *payload, size_t len, nostr_buf *out);
/* calc_padded_len of NIP-44: the padded size of a len-byte plaintext
 * (without the length prefix); 0 when len is 0 or over 2^32 - 1. */
NOSTRDEF uint64_t nostr_nip44_calc_padded_len(uint64_t len);

/* NIP-04 (deprecated; for reading and answering legacy DMs):
 * base64(AES-256-CBC(plaintext)) + "?iv=" + base64(iv), key = ECDH x. */
NOSTRDEF int nostr_nip04_encrypt(nostr_ctx *ctx, const unsigned char sec[32], const unsigned char pub[32],
                                 const char *plain, size_t len, nostr_buf *out);
NOSTRDEF int nostr_nip04_encrypt_iv(const nostr_ctx *ctx, const unsigned char sec[32], const unsigned char pub[32],
                                    const unsigned char iv[16], const char *plain, size_t len, nostr_buf *out);
/* decrypt: NOSTR_ERR_BASE64 for a malformed payload, PADDING for a cipher
 * text that is not whole blocks or bad PKCS#7; a fixed out buffer needs
 * room for 3/4 of the cipher text's base64 length. */
NOSTRDEF int nostr_nip04_decrypt(const nostr_ctx *ctx, const unsigned char sec[32], const unsigned char pub[32],
                                 const char *payload, size_t len, nostr_buf *out);

/* Base64 (standard alphabet, padded), used by both. */
NOSTRDEF int nostr_base64_encode(const unsigned char *data, size_t len, nostr_buf *out);
NOSTRDEF int nostr_base64_decode(const char *s, size_t len, unsigned char *out, size_t cap, size_t *out_len);
