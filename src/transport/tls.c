/* ---- tls: implementation ----
 *
 * One mbedtls_ssl_context per connection, with BIO callbacks that read
 * from the bytes of the current nostr_tls_feed call and write through the
 * user's send callback. mbedTLS asks the BIO for exactly the bytes it
 * needs and gets MBEDTLS_ERR_SSL_WANT_READ when they run out, so after a
 * feed has driven the handshake and the read loop to WANT_READ, every fed
 * byte is inside mbedTLS: nothing has to be copied or kept between feeds. */

struct nostr_tls_config {
    nostr_ctx *ctx;
    int role;
    int verify;
    mbedtls_ssl_config conf;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca;
    mbedtls_x509_crt cert;
    mbedtls_pk_context key;
};

/* One TLS record's worth of plaintext per mbedtls_ssl_read. */
#define NOSTR__TLS_READ_CHUNK 16384

struct nostr_tls {
    nostr_tls_config *cfg;
    nostr_tls_callbacks cb;
    mbedtls_ssl_context ssl;
    const unsigned char *in; /* the current feed's bytes, consumed from the front */
    size_t in_len;
    nostr_buf pending; /* plaintext written before the handshake completed */
    int state;         /* NOSTR_TLS_* */
    int error;         /* sticky error code once FAILED */
    int closed_sent, peer_closed, send_failed;
    const char *err_msg; /* static */
    char err_detail[512];
    unsigned char readbuf[NOSTR__TLS_READ_CHUNK];
};

/* --- randomness: CTR-DRBG fed by the nostr_ctx source --- */

static int nostr__tls_entropy(void *p, unsigned char *out, size_t n)
{
    return nostr_random((nostr_ctx *)p, out, n) == NOSTR_OK ? 0 : MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
}

/* --- config --- */

/* mbedTLS wants PEM buffers with their terminating NUL counted. */
static size_t nostr__tls_pem_len(const char *pem)
{
    return strlen(pem) + 1;
}

static int nostr__tls_load_ca(nostr_tls_config *cfg, const nostr_tls_config_opts *o, nostr_error *err)
{
    static const char *const system_bundles[] = {"/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/cert.pem"};
    int ret;
    size_t i;
    if (o->ca_pem) {
        ret = mbedtls_x509_crt_parse(&cfg->ca, (const unsigned char *)o->ca_pem, nostr__tls_pem_len(o->ca_pem));
    } else if (o->ca_file) {
        ret = mbedtls_x509_crt_parse_file(&cfg->ca, o->ca_file);
        if (ret == MBEDTLS_ERR_PK_FILE_IO_ERROR) return nostr__fail(err, NOSTR_ERR_TLS, 0, "cannot read the CA file");
    } else {
        ret = MBEDTLS_ERR_PK_FILE_IO_ERROR;
        for (i = 0; i < sizeof system_bundles / sizeof system_bundles[0] && ret == MBEDTLS_ERR_PK_FILE_IO_ERROR; i++)
            ret = mbedtls_x509_crt_parse_file(&cfg->ca, system_bundles[i]);
        if (ret == MBEDTLS_ERR_PK_FILE_IO_ERROR)
            return nostr__fail(err, NOSTR_ERR_TLS, 0, "no system CA bundle found (set ca_file)");
    }
    /* A positive result counts certificates that did not parse; system
     * bundles can hold a few mbedTLS does not support. One good CA is
     * enough. */
    if (ret < 0 || cfg->ca.version == 0)
        return nostr__fail(err, NOSTR_ERR_TLS, 0, "no usable CA certificate in the CA bundle");
    mbedtls_ssl_conf_ca_chain(&cfg->conf, &cfg->ca, NULL);
    return NOSTR_OK;
}

static int nostr__tls_load_own_cert(nostr_tls_config *cfg, const nostr_tls_config_opts *o, nostr_error *err)
{
    const char *pw = o->key_password;
    size_t pwlen = pw ? strlen(pw) : 0;
    int ret;
    if ((!o->cert_pem && !o->cert_file) || (!o->key_pem && !o->key_file))
        return nostr__fail(err, NOSTR_ERR_ARG, 0, "a TLS server needs a certificate and a key");
    if (o->cert_pem)
        ret = mbedtls_x509_crt_parse(&cfg->cert, (const unsigned char *)o->cert_pem, nostr__tls_pem_len(o->cert_pem));
    else
        ret = mbedtls_x509_crt_parse_file(&cfg->cert, o->cert_file);
    if (ret != 0) {
        if (ret == MBEDTLS_ERR_PK_FILE_IO_ERROR)
            return nostr__fail(err, NOSTR_ERR_TLS, 0, "cannot read the certificate file");
        return nostr__fail(err, NOSTR_ERR_TLS, 0, "cannot parse the certificate");
    }
    if (o->key_pem)
        ret = mbedtls_pk_parse_key(&cfg->key, (const unsigned char *)o->key_pem, nostr__tls_pem_len(o->key_pem),
                                   (const unsigned char *)pw, pwlen);
    else
        ret = mbedtls_pk_parse_keyfile(&cfg->key, o->key_file, pw);
    if (ret != 0) {
        if (ret == MBEDTLS_ERR_PK_FILE_IO_ERROR) return nostr__fail(err, NOSTR_ERR_TLS, 0, "cannot read the key file");
        if (ret == MBEDTLS_ERR_PK_PASSWORD_REQUIRED || ret == MBEDTLS_ERR_PK_PASSWORD_MISMATCH)
            return nostr__fail(err, NOSTR_ERR_TLS, 0, "the private key needs the right key_password");
        return nostr__fail(err, NOSTR_ERR_TLS, 0, "cannot parse the private key");
    }
    if (mbedtls_pk_check_pair(&cfg->cert.pk, &cfg->key) != 0)
        return nostr__fail(err, NOSTR_ERR_TLS, 0, "the private key does not match the certificate");
    if (mbedtls_ssl_conf_own_cert(&cfg->conf, &cfg->cert, &cfg->key) != 0)
        return nostr__fail(err, NOSTR_ERR_NOMEM, 0, "out of memory");
    return NOSTR_OK;
}

/* ECDHE groups, fastest first. mbedTLS 2.28's default order starts with
 * secp521r1, which makes every handshake several times slower; this is
 * the order browsers use. The list also bounds which curves an ECDSA
 * certificate may use, so the others follow. */
static const mbedtls_ecp_group_id nostr__tls_curves[] = {
#if defined(MBEDTLS_ECP_DP_CURVE25519_ENABLED)
    MBEDTLS_ECP_DP_CURVE25519,
#endif
#if defined(MBEDTLS_ECP_DP_SECP256R1_ENABLED)
    MBEDTLS_ECP_DP_SECP256R1,
#endif
#if defined(MBEDTLS_ECP_DP_SECP384R1_ENABLED)
    MBEDTLS_ECP_DP_SECP384R1,
#endif
#if defined(MBEDTLS_ECP_DP_SECP521R1_ENABLED)
    MBEDTLS_ECP_DP_SECP521R1,
#endif
#if defined(MBEDTLS_ECP_DP_CURVE448_ENABLED)
    MBEDTLS_ECP_DP_CURVE448,
#endif
#if defined(MBEDTLS_ECP_DP_BP256R1_ENABLED)
    MBEDTLS_ECP_DP_BP256R1,
#endif
#if defined(MBEDTLS_ECP_DP_BP384R1_ENABLED)
    MBEDTLS_ECP_DP_BP384R1,
#endif
#if defined(MBEDTLS_ECP_DP_BP512R1_ENABLED)
    MBEDTLS_ECP_DP_BP512R1,
#endif
    MBEDTLS_ECP_DP_NONE};

static int nostr__tls_config_setup(nostr_tls_config *cfg, const nostr_tls_config_opts *o, nostr_error *err)
{
    static const unsigned char personal[] = "distrise-tls";
    int endpoint = cfg->role == NOSTR_TLS_SERVER ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT;
    if (mbedtls_ctr_drbg_seed(&cfg->drbg, nostr__tls_entropy, cfg->ctx, personal, sizeof personal - 1) != 0)
        return nostr__fail(err, NOSTR_ERR_RNG, 0, "seeding the TLS random generator failed");
    if (mbedtls_ssl_config_defaults(&cfg->conf, endpoint, MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT) !=
        0)
        return nostr__fail(err, NOSTR_ERR_TLS, 0, "mbedtls_ssl_config_defaults failed");
    mbedtls_ssl_conf_rng(&cfg->conf, mbedtls_ctr_drbg_random, &cfg->drbg);
    mbedtls_ssl_conf_min_version(&cfg->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_renegotiation(&cfg->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
    mbedtls_ssl_conf_curves(&cfg->conf, nostr__tls_curves);
    if (cfg->role == NOSTR_TLS_SERVER) {
        mbedtls_ssl_conf_authmode(&cfg->conf, MBEDTLS_SSL_VERIFY_NONE); /* no client certificates */
        return nostr__tls_load_own_cert(cfg, o, err);
    }
    if (!cfg->verify) {
        mbedtls_ssl_conf_authmode(&cfg->conf, MBEDTLS_SSL_VERIFY_NONE);
        return NOSTR_OK;
    }
    mbedtls_ssl_conf_authmode(&cfg->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    return nostr__tls_load_ca(cfg, o, err);
}

NOSTRDEF int nostr_tls_config_new(nostr_ctx *ctx, const nostr_tls_config_opts *opts, nostr_tls_config **out,
                                  nostr_error *err)
{
    nostr_tls_config_opts defaults;
    nostr_tls_config *cfg;
    int rc;
    if (out) *out = NULL;
    if (!ctx || !out) return nostr__fail(err, NOSTR_ERR_ARG, 0, "nostr_tls_config_new: ctx and out are required");
    if (!opts) {
        memset(&defaults, 0, sizeof defaults);
        opts = &defaults;
    }
    if (opts->role != NOSTR_TLS_CLIENT && opts->role != NOSTR_TLS_SERVER)
        return nostr__fail(err, NOSTR_ERR_ARG, 0, "role must be NOSTR_TLS_CLIENT or NOSTR_TLS_SERVER");
    cfg = (nostr_tls_config *)nostr_alloc(nostr_ctx_allocator(ctx), sizeof *cfg);
    if (!cfg) return nostr__fail(err, NOSTR_ERR_NOMEM, 0, "out of memory");
    memset(cfg, 0, sizeof *cfg);
    cfg->ctx = ctx;
    cfg->role = opts->role;
    cfg->verify = !opts->insecure_skip_verify;
    mbedtls_ssl_config_init(&cfg->conf);
    mbedtls_ctr_drbg_init(&cfg->drbg);
    mbedtls_x509_crt_init(&cfg->ca);
    mbedtls_x509_crt_init(&cfg->cert);
    mbedtls_pk_init(&cfg->key);
    rc = nostr__tls_config_setup(cfg, opts, err);
    if (rc != NOSTR_OK) {
        nostr_tls_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return NOSTR_OK;
}

NOSTRDEF void nostr_tls_config_free(nostr_tls_config *cfg)
{
    if (!cfg) return;
    mbedtls_ssl_config_free(&cfg->conf);
    mbedtls_ctr_drbg_free(&cfg->drbg);
    mbedtls_x509_crt_free(&cfg->ca);
    mbedtls_x509_crt_free(&cfg->cert);
    mbedtls_pk_free(&cfg->key);
    nostr_free(nostr_ctx_allocator(cfg->ctx), cfg);
}

/* --- BIO callbacks --- */

static int nostr__tls_bio_send(void *p, const unsigned char *buf, size_t len)
{
    nostr_tls *tls = (nostr_tls *)p;
    if (tls->send_failed || !tls->cb.send || tls->cb.send(tls->cb.user, buf, len) != 0) {
        tls->send_failed = 1;
        return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
    }
    /* mbedTLS hands out at most one record (< 17 KiB) at a time. */
    return (int)len;
}

static int nostr__tls_bio_recv(void *p, unsigned char *buf, size_t len)
{
    nostr_tls *tls = (nostr_tls *)p;
    size_t n = len < tls->in_len ? len : tls->in_len;
    if (n == 0) return MBEDTLS_ERR_SSL_WANT_READ;
    if (n > INT_MAX) n = INT_MAX;
    memcpy(buf, tls->in, n);
    tls->in += n;
    tls->in_len -= n;
    return (int)n;
}

/* --- errors --- */

static const char *nostr__tls_alert_name(int desc)
{
    switch (desc) {
    case 10: return "unexpected_message";
    case 20: return "bad_record_mac";
    case 40: return "handshake_failure";
    case 42: return "bad_certificate";
    case 43: return "unsupported_certificate";
    case 44: return "certificate_revoked";
    case 45: return "certificate_expired";
    case 46: return "certificate_unknown";
    case 47: return "illegal_parameter";
    case 48: return "unknown_ca";
    case 50: return "decode_error";
    case 51: return "decrypt_error";
    case 70: return "protocol_version";
    case 71: return "insufficient_security";
    case 80: return "internal_error";
    case 90: return "user_canceled";
    case 100: return "no_renegotiation";
    case 112: return "unrecognized_name";
    case 120: return "no_application_protocol";
    default: return "unknown alert";
    }
}

/* The most telling reason among the verification flags. */
static const char *nostr__tls_verify_msg(uint32_t flags)
{
    if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) return NOSTR_TLS_MSG_UNKNOWN_CA;
    if (flags & MBEDTLS_X509_BADCERT_EXPIRED) return NOSTR_TLS_MSG_EXPIRED;
    if (flags & MBEDTLS_X509_BADCERT_FUTURE) return NOSTR_TLS_MSG_NOT_YET_VALID;
    if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) return NOSTR_TLS_MSG_HOSTNAME;
    return NOSTR_TLS_MSG_VERIFY;
}

/* Append s to the NUL-terminated text in out[cap], cutting it if needed. */
static void nostr__tls_append(char *out, size_t cap, const char *s)
{
    size_t used = strlen(out), n = strlen(s);
    if (used + 1 >= cap) return;
    if (n > cap - used - 1) n = cap - used - 1;
    memcpy(out + used, s, n);
    out[used + n] = 0;
}

/* Record a failure: the state becomes FAILED and code is sticky. The
 * detail text starts with the static message. */
static int nostr__tls_set_error(nostr_tls *tls, int code, const char *msg)
{
    tls->state = NOSTR_TLS_FAILED;
    tls->error = code;
    tls->err_msg = msg;
    tls->err_detail[0] = 0;
    nostr__tls_append(tls->err_detail, sizeof tls->err_detail, msg);
    return code;
}

/* Append ": <text> (-0xNNNN)" to the detail. */
static void nostr__tls_add_detail(nostr_tls *tls, const char *text, int ret)
{
    char code[32];
    nostr__tls_append(tls->err_detail, sizeof tls->err_detail, ": ");
    nostr__tls_append(tls->err_detail, sizeof tls->err_detail, text);
    if (ret < 0) {
        snprintf(code, sizeof code, " (-0x%04x)", (unsigned)-ret);
        nostr__tls_append(tls->err_detail, sizeof tls->err_detail, code);
    }
}

/* The verification reasons mbedTLS gives, one per line, joined by "; ". */
static void nostr__tls_add_verify_detail(nostr_tls *tls, uint32_t flags, int ret)
{
    char info[512], code[32], *line, *nl;
    int first = 1;
    if (mbedtls_x509_crt_verify_info(info, sizeof info, "", flags) < 0) info[0] = 0;
    if ((flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) && tls->ssl.hostname) {
        nostr__tls_append(tls->err_detail, sizeof tls->err_detail, " (server_name \"");
        nostr__tls_append(tls->err_detail, sizeof tls->err_detail, tls->ssl.hostname);
        nostr__tls_append(tls->err_detail, sizeof tls->err_detail, "\")");
    }
    nostr__tls_append(tls->err_detail, sizeof tls->err_detail, ": ");
    for (line = info; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (!first) nostr__tls_append(tls->err_detail, sizeof tls->err_detail, "; ");
        nostr__tls_append(tls->err_detail, sizeof tls->err_detail, line);
        first = 0;
        if (!nl) break;
    }
    snprintf(code, sizeof code, " (mbedTLS -0x%04x)", (unsigned)-ret);
    nostr__tls_append(tls->err_detail, sizeof tls->err_detail, code);
}

/* Map an mbedTLS error from the handshake or the record layer. */
static int nostr__tls_fail(nostr_tls *tls, int ret)
{
    char text[160], code[16];
    uint32_t flags;
    int desc;
    if (tls->send_failed) return nostr__tls_set_error(tls, NOSTR_ERR_NET, NOSTR_TLS_MSG_SEND);
    if (ret == MBEDTLS_ERR_SSL_ALLOC_FAILED) return nostr__tls_set_error(tls, NOSTR_ERR_NOMEM, "out of memory");
    flags = mbedtls_ssl_get_verify_result(&tls->ssl);
    if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && flags != 0 && flags != (uint32_t)-1) {
        nostr__tls_set_error(tls, NOSTR_ERR_TLS, nostr__tls_verify_msg(flags));
        nostr__tls_add_verify_detail(tls, flags, ret);
        return NOSTR_ERR_TLS;
    }
    if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
        /* in_msg holds the alert record: level, description. */
        desc = tls->ssl.in_msg ? tls->ssl.in_msg[1] : -1;
        nostr__tls_set_error(tls, NOSTR_ERR_TLS, NOSTR_TLS_MSG_ALERT);
        nostr__tls_add_detail(tls, nostr__tls_alert_name(desc), 0);
        snprintf(code, sizeof code, " (%d)", desc);
        nostr__tls_append(tls->err_detail, sizeof tls->err_detail, code);
        return NOSTR_ERR_TLS;
    }
    mbedtls_strerror(ret, text, sizeof text);
    nostr__tls_set_error(tls, NOSTR_ERR_TLS,
                         tls->state == NOSTR_TLS_HANDSHAKE ? NOSTR_TLS_MSG_HANDSHAKE : NOSTR_TLS_MSG_RECORD);
    nostr__tls_add_detail(tls, text, ret);
    return NOSTR_ERR_TLS;
}

/* --- connection --- */

NOSTRDEF int nostr_tls_new(nostr_tls_config *cfg, const char *server_name, const nostr_tls_callbacks *cb,
                           nostr_tls **out, nostr_error *err)
{
    nostr_tls *tls;
    int ret;
    if (out) *out = NULL;
    if (!cfg || !cb || !cb->send || !out)
        return nostr__fail(err, NOSTR_ERR_ARG, 0, "nostr_tls_new: cfg, callbacks with send, and out are required");
    if (cfg->role == NOSTR_TLS_CLIENT && cfg->verify && (!server_name || !server_name[0]))
        return nostr__fail(err, NOSTR_ERR_ARG, 0, "a verifying TLS client needs server_name");
    tls = (nostr_tls *)nostr_alloc(nostr_ctx_allocator(cfg->ctx), sizeof *tls);
    if (!tls) return nostr__fail(err, NOSTR_ERR_NOMEM, 0, "out of memory");
    memset(tls, 0, sizeof *tls);
    tls->cfg = cfg;
    tls->cb = *cb;
    tls->state = NOSTR_TLS_HANDSHAKE;
    nostr_buf_init(&tls->pending, nostr_ctx_allocator(cfg->ctx));
    mbedtls_ssl_init(&tls->ssl);
    ret = mbedtls_ssl_setup(&tls->ssl, &cfg->conf);
    if (ret == 0 && cfg->role == NOSTR_TLS_CLIENT && server_name && server_name[0])
        ret = mbedtls_ssl_set_hostname(&tls->ssl, server_name);
    if (ret != 0) {
        nostr_tls_free(tls);
        if (ret == MBEDTLS_ERR_SSL_ALLOC_FAILED) return nostr__fail(err, NOSTR_ERR_NOMEM, 0, "out of memory");
        return nostr__fail(err, NOSTR_ERR_TLS, 0, "mbedtls_ssl_setup failed (server_name too long?)");
    }
    mbedtls_ssl_set_bio(&tls->ssl, tls, nostr__tls_bio_send, nostr__tls_bio_recv, NULL);
    *out = tls;
    return NOSTR_OK;
}

NOSTRDEF void nostr_tls_free(nostr_tls *tls)
{
    if (!tls) return;
    mbedtls_ssl_free(&tls->ssl);
    nostr_buf_free(&tls->pending);
    nostr_free(nostr_ctx_allocator(tls->cfg->ctx), tls);
}

/* Encrypt everything: mbedtls_ssl_write takes at most one record per call. */
static int nostr__tls_write_all(nostr_tls *tls, const unsigned char *p, size_t n)
{
    int ret;
    while (n > 0) {
        ret = mbedtls_ssl_write(&tls->ssl, p, n);
        if (ret <= 0) return nostr__tls_fail(tls, ret == 0 ? MBEDTLS_ERR_SSL_INTERNAL_ERROR : ret);
        p += ret;
        n -= (size_t)ret;
    }
    return NOSTR_OK;
}

static int nostr__tls_handshake_step(nostr_tls *tls)
{
    int ret = mbedtls_ssl_handshake(&tls->ssl);
    int rc;
    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) return NOSTR_OK;
    if (ret != 0) return nostr__tls_fail(tls, ret);
    tls->state = NOSTR_TLS_OPEN;
    if (tls->pending.len > 0) {
        rc = nostr__tls_write_all(tls, (const unsigned char *)tls->pending.data, tls->pending.len);
        nostr_buf_free(&tls->pending);
        if (rc != NOSTR_OK) return rc;
    }
    return NOSTR_OK;
}

static void nostr__tls_peer_close(nostr_tls *tls)
{
    tls->peer_closed = 1;
    tls->state = NOSTR_TLS_CLOSED;
    if (!tls->closed_sent) {
        tls->closed_sent = 1;
        /* A failing answer changes nothing: the peer is gone anyway. */
        (void)mbedtls_ssl_close_notify(&tls->ssl);
    }
}

/* Decrypt until mbedTLS has consumed every fed byte. */
static int nostr__tls_read_loop(nostr_tls *tls)
{
    int ret;
    for (;;) {
        ret = mbedtls_ssl_read(&tls->ssl, tls->readbuf, sizeof tls->readbuf);
        if (ret > 0) {
            if (tls->cb.on_plain) tls->cb.on_plain(tls->cb.user, (const char *)tls->readbuf, (size_t)ret);
            if (tls->error) return tls->error; /* a write from the callback failed */
            continue;
        }
        if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE || ret == 0) return NOSTR_OK;
        if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
            nostr__tls_peer_close(tls);
            return NOSTR_ERR_CLOSED;
        }
        return nostr__tls_fail(tls, ret);
    }
}

NOSTRDEF int nostr_tls_feed(nostr_tls *tls, const void *cipher, size_t n)
{
    int rc;
    if (!tls || (!cipher && n)) return NOSTR_ERR_ARG;
    if (tls->error) return tls->error;
    if (tls->peer_closed) return NOSTR_ERR_CLOSED;
    if (tls->closed_sent && !nostr_tls_handshake_done(tls)) return NOSTR_ERR_CLOSED;
    tls->in = (const unsigned char *)cipher;
    tls->in_len = n;
    rc = NOSTR_OK;
    if (tls->state == NOSTR_TLS_HANDSHAKE) rc = nostr__tls_handshake_step(tls);
    if (rc == NOSTR_OK && tls->state != NOSTR_TLS_HANDSHAKE) rc = nostr__tls_read_loop(tls);
    /* Only a failure or the peer's close_notify leaves bytes unread; they
     * are dropped with the caller's pointer. */
    tls->in = NULL;
    tls->in_len = 0;
    return rc;
}

NOSTRDEF int nostr_tls_start(nostr_tls *tls)
{
    return nostr_tls_feed(tls, NULL, 0);
}

NOSTRDEF int nostr_tls_write(nostr_tls *tls, const void *plain, size_t n)
{
    if (!tls || (!plain && n)) return NOSTR_ERR_ARG;
    if (tls->error) return tls->error;
    if (tls->closed_sent || tls->peer_closed) return NOSTR_ERR_CLOSED;
    if (n == 0) return NOSTR_OK;
    if (tls->state == NOSTR_TLS_HANDSHAKE) return nostr_buf_append(&tls->pending, plain, n);
    return nostr__tls_write_all(tls, (const unsigned char *)plain, n);
}

NOSTRDEF int nostr_tls_close(nostr_tls *tls)
{
    int ret;
    if (!tls) return NOSTR_ERR_ARG;
    if (tls->error) return tls->error;
    if (tls->closed_sent) return NOSTR_OK;
    tls->closed_sent = 1;
    if (tls->state == NOSTR_TLS_HANDSHAKE) {
        /* Nothing secure to close yet; the app just drops the TCP side. */
        tls->state = NOSTR_TLS_CLOSED;
        return NOSTR_OK;
    }
    tls->state = NOSTR_TLS_CLOSED;
    ret = mbedtls_ssl_close_notify(&tls->ssl);
    if (ret != 0) return nostr__tls_fail(tls, ret);
    return NOSTR_OK;
}

NOSTRDEF int nostr_tls_handshake_done(const nostr_tls *tls)
{
    return tls && tls->ssl.state == MBEDTLS_SSL_HANDSHAKE_OVER;
}

NOSTRDEF int nostr_tls_state(const nostr_tls *tls)
{
    return tls ? tls->state : NOSTR_TLS_FAILED;
}

NOSTRDEF int nostr_tls_peer_closed(const nostr_tls *tls)
{
    return tls && tls->peer_closed;
}

NOSTRDEF const char *nostr_tls_last_error(const nostr_tls *tls)
{
    return tls ? tls->err_detail : "";
}

NOSTRDEF void nostr_tls_get_error(const nostr_tls *tls, nostr_error *err)
{
    if (!err) return;
    err->code = tls ? tls->error : NOSTR_ERR_ARG;
    err->offset = 0;
    err->msg = tls && tls->err_msg ? tls->err_msg : NULL;
}

NOSTRDEF const char *nostr_tls_version(const nostr_tls *tls)
{
    if (!nostr_tls_handshake_done(tls)) return "";
    return mbedtls_ssl_get_version(&tls->ssl);
}

NOSTRDEF const char *nostr_tls_ciphersuite(const nostr_tls *tls)
{
    const char *name;
    if (!nostr_tls_handshake_done(tls)) return "";
    name = mbedtls_ssl_get_ciphersuite(&tls->ssl);
    return name ? name : "";
}
