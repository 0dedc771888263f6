/* The RabbitMQ queue adapter against a real broker, started by
 * tests/rabbitmq_harness.h in a temp dir on free ports (never a mock;
 * a missing rabbitmq-server fails). Covers: 1000 publishes confirmed
 * (each user tag exactly once, multiple acks), consumed intact and acked
 * (depth back to 0); a message rejected max_deliveries times lands in the
 * dead-letter queue and is not redelivered, one rejected fewer times is
 * redelivered with redelivered=1 and x-delivery-count; NOSTR_ERR_BUSY past
 * max_unconfirmed until poll drains confirms; the broker's memory alarm
 * blocks publishing (connection.blocked -> BUSY) and unblocks it; SIGKILL
 * of the broker with publishes unconfirmed reports each of them ok=0
 * exactly once, reconnect works after a restart, confirmed messages
 * survived it and consumers are back; remove deletes exchange and queue,
 * a publish to a missing exchange is reported ok=0 and the channel comes
 * back; bad URL, amqps:// and connection refused are clear errors. */
#define _GNU_SOURCE
#include "rabbitmq_harness.h"
#include "test.h"
#include "nostr_gateway.h"

#ifndef NOSTR_WITH_RABBITMQ
#error "test_rabbitmq needs the build's NOSTR_WITH_RABBITMQ"
#endif

#define MAXTAGS 2048

static rmq_harness rmq;
static char logged[16384];

static void test_log(void *user, int level, const char *msg)
{
    size_t n = strlen(logged), m = strlen(msg);
    (void)user;
    (void)level;
    if (getenv("RMQ_TEST_VERBOSE")) fprintf(stderr, "log: %s\n", msg);
    if (n + m + 2 < sizeof logged) {
        memcpy(logged + n, msg, m);
        logged[n + m] = '\n';
        logged[n + m + 1] = 0;
    }
}

/* What the handlers saw. */
typedef struct rec {
    int confirms[MAXTAGS]; /* on_confirm calls per user tag */
    int oks[MAXTAGS];      /* of which ok=1 */
    int ok_total, fail_total;
    /* deliveries */
    nostr_amqp *consumer;
    int got;
    int seen[MAXTAGS]; /* per message index ("msg-<i>") */
    int bad_body, bad_key;
    const char *want_key;
    int ack_each;
    /* deliveries of the current poll, checked after it returns */
    int batch_n, batch_bad;
    const void *batch_body[1024];
    const char *batch_key[1024];
    int batch_idx[1024];
    unsigned long long batch_last_tag;
    /* dead-letter test */
    int poison_deliveries, flaky_deliveries, flaky_acked, dead_got, dead_ok;
    long long poison_counts[8];
    int flaky_redelivered;
    long long flaky_count;
} rec;

static void on_confirm(void *user, unsigned long long tag, int ok)
{
    rec *r = (rec *)user;
    if (tag < MAXTAGS) {
        r->confirms[tag]++;
        if (ok) r->oks[tag]++;
    }
    if (ok)
        r->ok_total++;
    else
        r->fail_total++;
}

static void on_message(void *user, const nostr_amqp_msg *m)
{
    rec *r = (rec *)user;
    int i;
    char body[64];
    size_t n = m->len < sizeof body - 1 ? m->len : sizeof body - 1;
    memcpy(body, m->body, n);
    body[n] = 0;
    r->got++;
    if (r->want_key && (strcmp(m->key, r->want_key) != 0 || m->key_len != strlen(r->want_key))) r->bad_key++;
    if (sscanf(body, "msg-%d", &i) == 1 && i >= 0 && i < MAXTAGS && m->len == strlen(body)) {
        r->seen[i]++;
        if (r->batch_n < 1024) {
            r->batch_body[r->batch_n] = m->body;
            r->batch_key[r->batch_n] = m->key;
            r->batch_idx[r->batch_n++] = i;
        }
    } else {
        r->bad_body++;
    }
    r->batch_last_tag = m->delivery_tag;
    if (r->ack_each) nostr_amqp_ack(r->consumer, m->delivery_tag, 0);
}

static nostr_amqp_handlers handlers(rec *r)
{
    nostr_amqp_handlers h;
    h.user = r;
    h.on_confirm = on_confirm;
    h.on_message = on_message;
    return h;
}

static nostr_amqp *open_amqp(const char *prefix, unsigned max_unconfirmed, int max_deliveries)
{
    nostr_amqp_config cfg;
    nostr_amqp *a = NULL;
    nostr_error err;
    int rc;
    memset(&cfg, 0, sizeof cfg);
    cfg.url = rmq.url;
    cfg.prefix = prefix;
    cfg.max_unconfirmed = max_unconfirmed;
    cfg.max_deliveries = max_deliveries;
    cfg.heartbeat_s = 10;
    cfg.log = test_log;
    rc = nostr_amqp_open(&a, &cfg, &err);
    CHECK_EQ(rc, NOSTR_OK);
    if (rc != NOSTR_OK) fprintf(stderr, "open: %s\n%s", err.msg, logged);
    return a;
}

/* Poll until *counter reaches want (or ms pass). */
static void poll_until(nostr_amqp *a, rec *r, const int *counter, int want, int ms)
{
    nostr_amqp_handlers h = handlers(r);
    double deadline = rmq_harness_now() + ms / 1000.0;
    while (*counter < want && rmq_harness_now() < deadline)
        if (nostr_amqp_poll(a, 50, &h) != NOSTR_OK) break;
}

/* Poll a for ms, whatever happens. */
static void poll_for(nostr_amqp *a, rec *r, int ms)
{
    nostr_amqp_handlers h = handlers(r);
    double deadline = rmq_harness_now() + ms / 1000.0;
    while (rmq_harness_now() < deadline)
        if (nostr_amqp_poll(a, 20, &h) != NOSTR_OK) break;
}

/* The queue's ready messages, once it reaches want (ms at most). */
static unsigned long long depth_until(nostr_amqp *a, const char *key, unsigned long long want, int ms)
{
    unsigned long long n = ~0ULL;
    double deadline = rmq_harness_now() + ms / 1000.0;
    for (;;) {
        if (nostr_amqp_depth(a, key, &n, NULL) != NOSTR_OK) return ~0ULL;
        if (n == want || rmq_harness_now() > deadline) return n;
        rmq_harness_sleep_ms(50);
    }
}

static int publish_msg(nostr_amqp *a, const char *key, int i)
{
    char body[32];
    snprintf(body, sizeof body, "msg-%d", i);
    return nostr_amqp_publish(a, key, body, strlen(body), (unsigned long long)i);
}

static rec *new_rec(void)
{
    rec *r = (rec *)calloc(1, sizeof(rec));
    return r;
}

/* ---- cases ---- */

static void test_open_errors(void)
{
    nostr_amqp_config cfg;
    nostr_amqp *a = (nostr_amqp *)&cfg;
    nostr_error err;
    char url[128];
    memset(&cfg, 0, sizeof cfg);
    memset(&err, 0, sizeof err);
    cfg.url = "http://example.com/";
    CHECK_EQ(nostr_amqp_open(&a, &cfg, &err), NOSTR_ERR_ARG);
    CHECK(a == NULL);
    CHECK_EQ(err.code, NOSTR_ERR_ARG);
    CHECK(err.msg && strstr(err.msg, "URL"));
    cfg.url = "amqps://guest:guest@127.0.0.1:5671";
    CHECK_EQ(nostr_amqp_open(&a, &cfg, &err), NOSTR_ERR_UNSUPPORTED);
    snprintf(url, sizeof url, "amqp://guest:guest@127.0.0.1:%d", rmq_harness_free_port());
    cfg.url = url;
    cfg.log = test_log;
    logged[0] = 0;
    CHECK_EQ(nostr_amqp_open(&a, &cfg, &err), NOSTR_ERR_NET);
    CHECK(a == NULL);
    CHECK(err.msg && strstr(err.msg, "connect"));
    CHECK(strstr(logged, "127.0.0.1") != NULL);
    /* wrong password: the broker refuses the login */
    snprintf(url, sizeof url, "amqp://guest:wrong@127.0.0.1:%d", rmq.port);
    CHECK_EQ(nostr_amqp_open(&a, &cfg, &err), NOSTR_ERR_NET);
    CHECK(a == NULL);
    cfg.url = rmq.url;
    cfg.prefetch = 70000;
    CHECK_EQ(nostr_amqp_open(&a, &cfg, &err), NOSTR_ERR_ARG);
    cfg.prefetch = 0;
    CHECK_EQ(nostr_amqp_open(&a, &cfg, &err), NOSTR_OK);
    CHECK_EQ(nostr_amqp_connected(a), 1);
    CHECK_EQ(nostr_amqp_publish(a, "", "x", 1, 1), NOSTR_ERR_ARG);
    CHECK_EQ(nostr_amqp_declare(a, ""), NOSTR_ERR_ARG);
    {
        char longkey[300];
        memset(longkey, 'k', sizeof longkey - 1);
        longkey[sizeof longkey - 1] = 0;
        CHECK_EQ(nostr_amqp_declare(a, longkey), NOSTR_ERR_ARG);
    }
    nostr_amqp_close(a);
    nostr_amqp_close(NULL);
}

static void test_publish_consume_1000(void)
{
    nostr_amqp *pub = open_amqp("t1", 0, 0), *sub = open_amqp("t1", 0, 0);
    rec *r = new_rec();
    nostr_amqp_handlers h = handlers(r);
    nostr_amqp_stats st;
    unsigned long long depth = 0;
    unsigned consumers = 9;
    int i, published = 0, once = 1, ok_all = 1, seen_once = 1;
    if (!pub || !sub) goto out;
    CHECK_EQ(nostr_amqp_declare(pub, "relay-a"), NOSTR_OK);
    CHECK_EQ(nostr_amqp_declare(pub, "relay-a"), NOSTR_OK); /* idempotent */
    for (i = 0; i < 1000; i++) {
        if (publish_msg(pub, "relay-a", i) == NOSTR_OK) published++;
        if (i % 100 == 99) nostr_amqp_poll(pub, 0, &h); /* confirms arrive while publishing */
    }
    CHECK_EQ(published, 1000);
    poll_until(pub, r, &r->ok_total, 1000, 20000);
    CHECK_EQ(r->ok_total, 1000);
    CHECK_EQ(r->fail_total, 0);
    for (i = 0; i < 1000; i++) {
        if (r->confirms[i] != 1) once = 0;
        if (r->oks[i] != 1) ok_all = 0;
    }
    CHECK(once);
    CHECK(ok_all);
    CHECK_EQ(nostr_amqp_unconfirmed(pub), 0);
    nostr_amqp_get_stats(pub, &st);
    CHECK_EQ(st.published, 1000);
    CHECK_EQ(st.confirmed, 1000);
    CHECK(st.multiple_acks > 0);            /* the broker batched confirms */
    CHECK(st.ack_frames < 1000);            /* so fewer frames than messages */
    CHECK_EQ(depth_until(pub, "relay-a", 1000, 5000), 1000);

    r->consumer = sub;
    r->want_key = "relay-a";
    CHECK_EQ(nostr_amqp_consume(sub, "relay-a"), NOSTR_OK);
    CHECK_EQ(nostr_amqp_consume(sub, "relay-a"), NOSTR_OK); /* twice is fine */
    CHECK_EQ(nostr_amqp_depth(pub, "relay-a", NULL, &consumers), NOSTR_OK);
    CHECK_EQ(consumers, 1);
    /* Consume in batches: a poll's deliveries stay valid after it returns;
     * one ack with multiple=1 covers the batch. */
    {
        double deadline = rmq_harness_now() + 20;
        int polls = 0, j;
        while (r->got < 1000 && rmq_harness_now() < deadline) {
            r->batch_n = 0;
            r->batch_last_tag = 0;
            if (nostr_amqp_poll(sub, 50, &h) != NOSTR_OK) break;
            polls++;
            for (j = 0; j < r->batch_n; j++) {
                char want[32];
                snprintf(want, sizeof want, "msg-%d", r->batch_idx[j]);
                if (memcmp(r->batch_body[j], want, strlen(want)) != 0 || strcmp(r->batch_key[j], "relay-a") != 0)
                    r->batch_bad++;
            }
            if (r->batch_last_tag) CHECK_EQ(nostr_amqp_ack(sub, r->batch_last_tag, 1), NOSTR_OK);
        }
        CHECK(polls < 1000); /* batches, not one message per poll */
    }
    CHECK_EQ(r->got, 1000);
    CHECK_EQ(r->batch_bad, 0);
    CHECK_EQ(r->bad_body, 0);
    CHECK_EQ(r->bad_key, 0);
    for (i = 0; i < 1000; i++)
        if (r->seen[i] != 1) seen_once = 0;
    CHECK(seen_once);
    poll_for(sub, r, 200);
    CHECK_EQ(r->got, 1000); /* nothing redelivered */
    depth = depth_until(pub, "relay-a", 0, 5000);
    CHECK_EQ(depth, 0);
    nostr_amqp_get_stats(sub, &st);
    CHECK_EQ(st.delivered, 1000);
    CHECK(st.acked > 0 && st.acked < 1000);
out:
    nostr_amqp_close(pub);
    nostr_amqp_close(sub);
    free(r);
}

/* Dead-letter test handler: "poison" is always rejected, "flaky" once. */
static void on_dl_message(void *user, const nostr_amqp_msg *m)
{
    rec *r = (rec *)user;
    if (m->dead) {
        r->dead_got++;
        if (m->len == 6 && memcmp(m->body, "poison", 6) == 0 && strcmp(m->key, "dl") == 0) r->dead_ok++;
        nostr_amqp_ack(r->consumer, m->delivery_tag, 0);
        return;
    }
    if (m->len == 6 && memcmp(m->body, "poison", 6) == 0) {
        if (r->poison_deliveries < 8) r->poison_counts[r->poison_deliveries] = m->delivery_count;
        r->poison_deliveries++;
        nostr_amqp_reject(r->consumer, m->delivery_tag);
    } else if (m->len == 5 && memcmp(m->body, "flaky", 5) == 0) {
        r->flaky_deliveries++;
        if (r->flaky_deliveries == 1) {
            nostr_amqp_reject(r->consumer, m->delivery_tag);
        } else {
            r->flaky_redelivered = m->redelivered;
            r->flaky_count = m->delivery_count;
            if (nostr_amqp_ack(r->consumer, m->delivery_tag, 0) == NOSTR_OK) r->flaky_acked++;
        }
    }
}

static void test_dead_letter(void)
{
    nostr_amqp *a = open_amqp("t2", 0, 3);
    rec *r = new_rec();
    nostr_amqp_handlers h;
    unsigned long long dead = 0;
    double deadline;
    if (!a) goto out;
    h.user = r;
    h.on_confirm = on_confirm;
    h.on_message = on_dl_message;
    r->consumer = a;
    CHECK_EQ(nostr_amqp_declare(a, "dl"), NOSTR_OK);
    CHECK_EQ(nostr_amqp_publish(a, "dl", "poison", 6, 1), NOSTR_OK);
    CHECK_EQ(nostr_amqp_publish(a, "dl", "flaky", 5, 2), NOSTR_OK);
    poll_until(a, r, &r->ok_total, 2, 5000);
    CHECK_EQ(r->ok_total, 2);
    CHECK_EQ(nostr_amqp_consume(a, "dl"), NOSTR_OK);
    deadline = rmq_harness_now() + 10;
    while ((r->poison_deliveries < 3 || !r->flaky_acked) && rmq_harness_now() < deadline)
        if (nostr_amqp_poll(a, 50, &h) != NOSTR_OK) break;
    /* and nothing more: the third rejection was the last */
    deadline = rmq_harness_now() + 0.7;
    while (rmq_harness_now() < deadline)
        if (nostr_amqp_poll(a, 50, &h) != NOSTR_OK) break;
    CHECK_EQ(r->poison_deliveries, 3);
    CHECK(r->poison_counts[0] <= 0); /* first delivery: no count (3.10) or 0 */
    CHECK_EQ(r->poison_counts[1], 1);
    CHECK_EQ(r->poison_counts[2], 2);
    CHECK_EQ(r->flaky_deliveries, 2);
    CHECK_EQ(r->flaky_redelivered, 1);
    CHECK_EQ(r->flaky_count, 1);
    CHECK_EQ(r->flaky_acked, 1);
    /* the poison message is in the dead-letter queue */
    dead = depth_until(a, NULL, 1, 5000);
    CHECK_EQ(dead, 1);
    CHECK_EQ(depth_until(a, "dl", 0, 2000), 0);
    CHECK_EQ(nostr_amqp_consume(a, NULL), NOSTR_OK);
    deadline = rmq_harness_now() + 5;
    while (r->dead_got < 1 && rmq_harness_now() < deadline)
        if (nostr_amqp_poll(a, 50, &h) != NOSTR_OK) break;
    CHECK_EQ(r->dead_got, 1);
    CHECK_EQ(r->dead_ok, 1);
    CHECK_EQ(depth_until(a, NULL, 0, 5000), 0);
    CHECK_EQ(r->poison_deliveries, 3);
out:
    nostr_amqp_close(a);
    free(r);
}

static void test_busy(void)
{
    nostr_amqp *a = open_amqp("t3", 16, 0);
    rec *r = new_rec();
    nostr_amqp_handlers h = handlers(r);
    int i, ok = 0;
    if (!a) goto out;
    CHECK_EQ(nostr_amqp_declare(a, "busy"), NOSTR_OK);
    for (i = 0; i < 16; i++)
        if (publish_msg(a, "busy", i) == NOSTR_OK) ok++;
    CHECK_EQ(ok, 16);
    CHECK_EQ(nostr_amqp_unconfirmed(a), 16);
    CHECK_EQ(publish_msg(a, "busy", 16), NOSTR_ERR_BUSY);
    CHECK_EQ(publish_msg(a, "busy", 16), NOSTR_ERR_BUSY);
    poll_until(a, r, &r->ok_total, 16, 5000);
    CHECK_EQ(r->ok_total, 16);
    CHECK_EQ(nostr_amqp_unconfirmed(a), 0);
    CHECK_EQ(publish_msg(a, "busy", 16), NOSTR_OK);
    nostr_amqp_poll(a, 0, &h);
    poll_until(a, r, &r->ok_total, 17, 5000);
    CHECK_EQ(r->ok_total, 17);
    CHECK_EQ(r->confirms[16], 1);
    CHECK_EQ(depth_until(a, "busy", 17, 5000), 17);
out:
    nostr_amqp_close(a);
    free(r);
}

static void test_blocked(void)
{
    nostr_amqp *a = open_amqp("t4", 0, 0);
    rec *r = new_rec();
    nostr_amqp_handlers h = handlers(r);
    nostr_amqp_stats st;
    double deadline;
    if (!a) goto out;
    CHECK_EQ(nostr_amqp_declare(a, "blk"), NOSTR_OK);
    CHECK_EQ(publish_msg(a, "blk", 0), NOSTR_OK);
    poll_until(a, r, &r->ok_total, 1, 5000);
    CHECK_EQ(nostr_amqp_blocked(a), 0);
    CHECK_EQ(rmq_harness_set_watermark(&rmq, "0"), 0);
    /* The broker tells a connection it is blocked when it next publishes. */
    CHECK_EQ(publish_msg(a, "blk", 1), NOSTR_OK);
    deadline = rmq_harness_now() + 10;
    while (!nostr_amqp_blocked(a) && rmq_harness_now() < deadline)
        if (nostr_amqp_poll(a, 50, &h) != NOSTR_OK) break;
    CHECK_EQ(nostr_amqp_blocked(a), 1);
    CHECK_EQ(publish_msg(a, "blk", 2), NOSTR_ERR_BUSY);
    nostr_amqp_get_stats(a, &st);
    CHECK_EQ(st.blocked, 1);
    CHECK(strstr(logged, "blocked") != NULL);
    CHECK_EQ(rmq_harness_set_watermark(&rmq, "0.6"), 0);
    deadline = rmq_harness_now() + 10;
    while (nostr_amqp_blocked(a) && rmq_harness_now() < deadline)
        if (nostr_amqp_poll(a, 50, &h) != NOSTR_OK) break;
    CHECK_EQ(nostr_amqp_blocked(a), 0);
    CHECK_EQ(publish_msg(a, "blk", 2), NOSTR_OK);
    poll_until(a, r, &r->ok_total, 3, 5000);
    CHECK_EQ(r->ok_total, 3);
    CHECK_EQ(r->confirms[1], 1);
    CHECK_EQ(r->confirms[2], 1);
out:
    nostr_amqp_close(a);
    free(r);
}

static void test_remove_and_channel_errors(void)
{
    nostr_amqp *a = open_amqp("t6", 0, 0);
    rec *r = new_rec();
    unsigned long long n = 7;
    if (!a) goto out;
    CHECK_EQ(nostr_amqp_declare(a, "gone"), NOSTR_OK);
    CHECK_EQ(nostr_amqp_declare(a, "stay"), NOSTR_OK);
    CHECK_EQ(nostr_amqp_consume(a, "gone"), NOSTR_OK);
    CHECK_EQ(nostr_amqp_depth(a, "gone", &n, NULL), NOSTR_OK);
    CHECK_EQ(n, 0);
    CHECK_EQ(nostr_amqp_remove(a, "gone"), NOSTR_OK);
    logged[0] = 0;
    CHECK_EQ(nostr_amqp_depth(a, "gone", &n, NULL), NOSTR_ERR_ARG); /* 404: the queue is gone */
    CHECK(strstr(nostr_amqp_last_error(a), "404") != NULL);
    CHECK_EQ(nostr_amqp_remove(a, "gone"), NOSTR_OK);        /* already gone: fine */
    CHECK_EQ(nostr_amqp_remove(a, "never-was"), NOSTR_OK);
    CHECK_EQ(nostr_amqp_consume(a, "never-was"), NOSTR_ERR_ARG);
    /* A publish to the deleted exchange: the broker closes the channel,
     * the publish is reported lost, the next publish goes out on a new one. */
    CHECK_EQ(publish_msg(a, "gone", 1), NOSTR_OK);
    poll_until(a, r, &r->fail_total, 1, 5000);
    CHECK_EQ(r->fail_total, 1);
    CHECK_EQ(r->confirms[1], 1);
    CHECK_EQ(r->oks[1], 0);
    CHECK(strstr(nostr_amqp_last_error(a), "404") != NULL);
    CHECK_EQ(nostr_amqp_connected(a), 1);
    CHECK_EQ(publish_msg(a, "stay", 2), NOSTR_OK);
    poll_until(a, r, &r->ok_total, 1, 5000);
    CHECK_EQ(r->ok_total, 1);
    CHECK_EQ(r->oks[2], 1);
    CHECK_EQ(depth_until(a, "stay", 1, 5000), 1);
out:
    nostr_amqp_close(a);
    free(r);
}

static void test_kill_restart(void)
{
    nostr_amqp *pub = open_amqp("t5", 0, 0), *sub = open_amqp("t5", 0, 0);
    rec *r = new_rec(), *rs = new_rec();
    nostr_amqp_handlers h = handlers(r);
    nostr_error err;
    char errbuf[4096];
    unsigned long long n = 0;
    unsigned consumers = 0;
    int i, rc = NOSTR_OK, once = 1, later_fail = 0;
    double deadline;
    if (!pub || !sub) goto out;
    CHECK_EQ(nostr_amqp_declare(pub, "k"), NOSTR_OK);
    CHECK_EQ(nostr_amqp_declare(sub, "k2"), NOSTR_OK);
    CHECK_EQ(nostr_amqp_consume(sub, "k2"), NOSTR_OK);
    for (i = 0; i < 10; i++) CHECK_EQ(publish_msg(pub, "k", i), NOSTR_OK);
    poll_until(pub, r, &r->ok_total, 10, 5000);
    CHECK_EQ(r->ok_total, 10);
    /* Hold the next publishes unconfirmed: block the broker first. */
    CHECK_EQ(rmq_harness_set_watermark(&rmq, "0"), 0);
    poll_for(pub, r, 200);
    for (i = 10; i < 15; i++) CHECK_EQ(publish_msg(pub, "k", i), NOSTR_OK);
    deadline = rmq_harness_now() + 10;
    while (!nostr_amqp_blocked(pub) && rmq_harness_now() < deadline)
        if (nostr_amqp_poll(pub, 50, &h) != NOSTR_OK) break;
    CHECK_EQ(nostr_amqp_blocked(pub), 1); /* so the broker reads no more of them */
    poll_for(pub, r, 200);
    CHECK(nostr_amqp_unconfirmed(pub) > 0);
    rmq_harness_kill(&rmq);
    deadline = rmq_harness_now() + 10;
    while (rc == NOSTR_OK && rmq_harness_now() < deadline) rc = nostr_amqp_poll(pub, 100, &h);
    CHECK_EQ(rc, NOSTR_ERR_NET);
    CHECK_EQ(nostr_amqp_connected(pub), 0);
    CHECK_EQ(nostr_amqp_unconfirmed(pub), 0);
    CHECK_EQ(nostr_amqp_blocked(pub), 0);
    for (i = 0; i < 15; i++)
        if (r->confirms[i] != 1) once = 0;
    CHECK(once); /* every publish reported exactly once */
    for (i = 10; i < 15; i++)
        if (!r->oks[i]) later_fail++;
    CHECK(later_fail > 0);
    CHECK_EQ(r->fail_total, later_fail);
    CHECK_EQ(nostr_amqp_poll(pub, 0, &h), NOSTR_ERR_NET); /* nothing reported twice */
    CHECK_EQ(r->fail_total, later_fail);
    CHECK_EQ(publish_msg(pub, "k", 20), NOSTR_ERR_NET);
    CHECK_EQ(nostr_amqp_reconnect(pub, &err), NOSTR_ERR_NET); /* still down */

    errbuf[0] = 0;
    CHECK_EQ(rmq_harness_restart(&rmq, errbuf, sizeof errbuf), 0);
    if (errbuf[0]) fprintf(stderr, "%s\n", errbuf);
    CHECK_EQ(nostr_amqp_reconnect(pub, &err), NOSTR_OK);
    CHECK_EQ(nostr_amqp_connected(pub), 1);
    /* the ten confirmed before the kill survived it (durable, persistent) */
    n = depth_until(pub, "k", 10, 5000);
    CHECK(n >= 10 && n <= 15);
    /* the consumer reconnects too and consumes again */
    CHECK_EQ(nostr_amqp_poll(sub, 100, NULL), NOSTR_ERR_NET);
    CHECK_EQ(nostr_amqp_reconnect(sub, &err), NOSTR_OK);
    /* The crashed node's consumer is dropped from the recovered quorum
     * queue a moment after restart: wait for it to count ours alone. */
    deadline = rmq_harness_now() + 10;
    while (nostr_amqp_depth(pub, "k2", NULL, &consumers) == NOSTR_OK && consumers != 1 &&
           rmq_harness_now() < deadline)
        rmq_harness_sleep_ms(50);
    CHECK_EQ(consumers, 1);
    rs->consumer = sub;
    rs->ack_each = 1;
    rs->want_key = "k2";
    i = r->ok_total;
    CHECK_EQ(publish_msg(pub, "k2", 30), NOSTR_OK);
    poll_until(pub, r, &r->ok_total, i + 1, 10000);
    CHECK_EQ(r->oks[30], 1);
    poll_until(sub, rs, &rs->got, 1, 10000);
    CHECK_EQ(rs->got, 1);
    CHECK_EQ(rs->seen[30], 1);
    {
        nostr_amqp_stats st;
        nostr_amqp_get_stats(pub, &st);
        CHECK_EQ(st.reconnects, 1);
        CHECK_EQ(st.lost, (unsigned long long)later_fail);
    }
out:
    nostr_amqp_close(pub);
    nostr_amqp_close(sub);
    free(r);
    free(rs);
}

int main(void)
{
    char err[4096];
    double t0 = rmq_harness_now();
    err[0] = 0;
    if (rmq_harness_start(&rmq, err, sizeof err) != 0) {
        fprintf(stderr, "rabbitmq_harness: %s\n", err);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    fprintf(stderr, "broker up in %.1f s (%s, %s)\n", rmq_harness_now() - t0, rmq.url, rmq.dir);
    TEST_RUN(test_open_errors);
    TEST_RUN(test_publish_consume_1000);
    TEST_RUN(test_dead_letter);
    TEST_RUN(test_busy);
    TEST_RUN(test_blocked);
    TEST_RUN(test_remove_and_channel_errors);
    TEST_RUN(test_kill_restart);
    rmq_harness_cleanup(&rmq);
    fprintf(stderr, "total %.1f s\n", rmq_harness_now() - t0);
    if (test_failed && logged[0]) fprintf(stderr, "--- adapter log ---\n%s", logged);
    return TEST_DONE();
}
