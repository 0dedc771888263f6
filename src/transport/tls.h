/* ---- tls: declarations ----
 *
 * TLS over memory buffers (sans-I/O), on mbedTLS 2.28. The library never
 * touches a socket: the app feeds the ciphertext it read from the network
 * with nostr_tls_feed, and the object hands ciphertext to write through
 * the send callback; decrypted application data arrives through on_plain.
 *
 * A nostr_tls_config holds what many connections share: the loaded CA
 * chain (client) or certificate + key (server), the mbedTLS ssl_config and
 * a CTR-DRBG seeded from the nostr_ctx random source (nostr_random). Load
 * it once, make one nostr_tls per connection. The config and the nostr_ctx
 * must outlive every connection made from them (the DRBG reseeds from the
 * nostr_ctx). mbedTLS is built with threading here, so connections from
 * one config may live on different threads if the nostr_ctx random source
 * is thread-safe (the default OS source is); one nostr_tls is used by one
 * thread at a time.
 *
 * Clock: mbedTLS reads the system clock (time()) to check certificate
 * validity dates. That is the one exception to "the library never reads a
 * clock". The transport has no timers: there is no tick for TLS.
 *
 * Memory: the nostr_tls / nostr_tls_config structs come from the
 * nostr_ctx allocator; mbedTLS allocates its own buffers (about 2 x 16 KiB
 * per connection, plus parsed certificates) with the C library.
 *
 * Protocol: TLS 1.2 (the version mbedTLS 2.28 supports fully), mbedTLS
 * default cipher suites (ECDHE first); renegotiation is refused; no ALPN,
 * no client certificates, no session resumption on the server. The client sends SNI
 * and checks the certificate's DNS names against server_name. mbedTLS
 * 2.28 does not match iPAddress subjectAltNames: to reach a server by IP,
 * pass a DNS name the certificate carries as server_name. */

typedef struct nostr_tls_config nostr_tls_config;
typedef struct nostr_tls nostr_tls;

enum { NOSTR_TLS_CLIENT = 0, NOSTR_TLS_SERVER = 1 };

/* Connection states (nostr_tls_state). */
enum {
    NOSTR_TLS_HANDSHAKE = 0, /* handshake in progress */
    NOSTR_TLS_OPEN = 1,      /* handshake done, data flows both ways */
    NOSTR_TLS_CLOSED = 2,    /* close_notify sent and/or received */
    NOSTR_TLS_FAILED = 3     /* fatal error; see nostr_tls_last_error */
};

/* Options for nostr_tls_config_new. Zeroed means a verifying client that
 * trusts the system CA bundle. Strings are only read during the call. */
typedef struct nostr_tls_config_opts {
    int role; /* NOSTR_TLS_CLIENT or NOSTR_TLS_SERVER */
    /* client: trusted CAs. ca_pem (NUL-terminated PEM text) wins over
     * ca_file (a PEM bundle path); with neither, the system bundle
     * /etc/ssl/certs/ca-certificates.crt, then /etc/ssl/cert.pem. */
    const char *ca_file;
    const char *ca_pem;
    /* client: set to 1 to skip certificate verification (INSECURE: any
     * server is accepted). Verification is required unless this is set. */
    int insecure_skip_verify;
    /* server: certificate chain (leaf first) and private key, as file
     * paths or as NUL-terminated PEM text (the _pem fields win). */
    const char *cert_file;
    const char *key_file;
    const char *cert_pem;
    const char *key_pem;
    const char *key_password; /* encrypted key, or NULL */
} nostr_tls_config_opts;

/* Load a config. Returns NOSTR_OK, NOSTR_ERR_ARG (bad options),
 * NOSTR_ERR_NOMEM, NOSTR_ERR_RNG (DRBG seeding failed) or NOSTR_ERR_TLS
 * (unreadable/unparsable CA, certificate or key, key does not match the
 * certificate) with a message in err. */
NOSTRDEF int nostr_tls_config_new(nostr_ctx *ctx, const nostr_tls_config_opts *opts, nostr_tls_config **out,
                                  nostr_error *err);
NOSTRDEF void nostr_tls_config_free(nostr_tls_config *cfg); /* NULL is fine */

/* Callbacks. send must take all n bytes (queue them if the socket is busy)
 * and return 0, or return non-zero to fail the connection (the call that
 * triggered it returns NOSTR_ERR_NET); it runs inside mbedTLS and must not
 * call any nostr_tls_* function. on_plain gets decrypted application data
 * (NULL drops it); it may call nostr_tls_write and nostr_tls_close (an
 * echo, a WebSocket pong), but not nostr_tls_feed or nostr_tls_free. */
typedef struct nostr_tls_callbacks {
    void *user;
    int (*send)(void *user, const void *cipher, size_t n);
    void (*on_plain)(void *user, const char *data, size_t n);
} nostr_tls_callbacks;

/* One connection. server_name (client only): SNI and the name the server
 * certificate must carry; required when verification is on (NOSTR_ERR_ARG
 * otherwise), ignored by servers. Nothing is sent until nostr_tls_start or
 * the first nostr_tls_feed. Returns NOSTR_OK, NOSTR_ERR_ARG,
 * NOSTR_ERR_NOMEM or NOSTR_ERR_TLS. */
NOSTRDEF int nostr_tls_new(nostr_tls_config *cfg, const char *server_name, const nostr_tls_callbacks *cb,
                           nostr_tls **out, nostr_error *err);
NOSTRDEF void nostr_tls_free(nostr_tls *tls); /* NULL is fine; sends nothing */

/* Start the handshake once the TCP connection is up: a client sends its
 * ClientHello; a server does nothing (it waits for the client). */
NOSTRDEF int nostr_tls_start(nostr_tls *tls);

/* Ciphertext from the network, split anywhere (one byte at a time works).
 * Drives the handshake, then decrypts and calls on_plain (several times
 * for one feed if needed). The bytes are consumed during the call; the
 * pointer is not kept.
 * Returns NOSTR_OK, NOSTR_ERR_CLOSED once the peer has sent close_notify
 * (data before it was delivered; we answer with our close_notify),
 * NOSTR_ERR_TLS (handshake or record failure, see nostr_tls_last_error),
 * NOSTR_ERR_NET (send callback failed) or NOSTR_ERR_NOMEM. After an error
 * every call returns the same error. */
NOSTRDEF int nostr_tls_feed(nostr_tls *tls, const void *cipher, size_t n);

/* Encrypt and send n bytes (any size: split into records). Before the
 * handshake is done the bytes are queued and sent when it completes.
 * Returns NOSTR_OK, NOSTR_ERR_CLOSED (after close), NOSTR_ERR_TLS,
 * NOSTR_ERR_NET or NOSTR_ERR_NOMEM. */
NOSTRDEF int nostr_tls_write(nostr_tls *tls, const void *plain, size_t n);

/* Send close_notify (once). Further writes return NOSTR_ERR_CLOSED;
 * feeding still delivers what the peer sends until its close_notify. */
NOSTRDEF int nostr_tls_close(nostr_tls *tls);

NOSTRDEF int nostr_tls_handshake_done(const nostr_tls *tls); /* 1 once the handshake completed */
NOSTRDEF int nostr_tls_state(const nostr_tls *tls);          /* NOSTR_TLS_* state */
NOSTRDEF int nostr_tls_peer_closed(const nostr_tls *tls);    /* 1 once the peer sent close_notify */

/* Human-readable description of the last failure ("" if none), e.g.
 * "certificate verification failed: hostname mismatch (...)"; it includes
 * mbedTLS's own text and code. Valid until the next call on tls. */
NOSTRDEF const char *nostr_tls_last_error(const nostr_tls *tls);
/* The last failure as a nostr_error with a static message (one of the
 * NOSTR_TLS_MSG_* texts below, or another static text); code 0 if none. */
NOSTRDEF void nostr_tls_get_error(const nostr_tls *tls, nostr_error *err);

/* After the handshake: negotiated version ("TLSv1.2") and cipher suite
 * name; "" before. */
NOSTRDEF const char *nostr_tls_version(const nostr_tls *tls);
NOSTRDEF const char *nostr_tls_ciphersuite(const nostr_tls *tls);

/* Static messages for the common failures (nostr_error.msg; compare with strcmp). */
#define NOSTR_TLS_MSG_UNKNOWN_CA "certificate verification failed: unknown CA"
#define NOSTR_TLS_MSG_HOSTNAME "certificate verification failed: hostname mismatch"
#define NOSTR_TLS_MSG_EXPIRED "certificate verification failed: certificate expired"
#define NOSTR_TLS_MSG_NOT_YET_VALID "certificate verification failed: certificate not yet valid"
#define NOSTR_TLS_MSG_VERIFY "certificate verification failed"
#define NOSTR_TLS_MSG_ALERT "peer sent a fatal alert"
#define NOSTR_TLS_MSG_HANDSHAKE "TLS handshake failed"
#define NOSTR_TLS_MSG_RECORD "TLS record error"
#define NOSTR_TLS_MSG_SEND "send callback failed"
