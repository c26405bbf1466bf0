/* The producer: idempotent, delivery reports as the only truth, optional transactions. */
#include "ph_kafka.h"
#include "ph_kafka_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ph_error.h"
#include "ph_log.h"
#include "ph_util.h"

struct ph_kafka_producer {
    ph_kafka_health health; /* first: the error callback's opaque points here */
    rd_kafka_t *rk;
    ph_kafka_delivery_fn on_delivery;
    void *arg;
    bool transactional;
    bool has_thread;
    atomic_bool stop;
    pthread_t thread;
};

void ph_kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    ph_kafka_health *h = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[256];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof(why));
        snprintf(h->fatal_reason, sizeof(h->fatal_reason), "%s: %s", rd_kafka_err2name(orig), why);
        atomic_store(&h->fatal, true);
        ph_log_error("kafka", "%s: FATAL %s", rd_kafka_name(rk), h->fatal_reason);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        atomic_store(&h->brokers_down, true);
        ph_log_warn("kafka", "%s: all brokers down: %s", rd_kafka_name(rk), reason);
        return;
    }
    /* Everything else is transient: librdkafka retries by itself. */
    ph_log_warn("kafka", "%s: %s: %s", rd_kafka_name(rk), rd_kafka_err2name(err), reason);
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    ph_kafka_producer *p = opaque;
    if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        atomic_store(&p->health.brokers_down, false);
    if (p->on_delivery)
        p->on_delivery(rkm->_private, rkm->err, rkm, p->arg);
}

/* While librdkafka says every broker is down, probe once a second so the flag clears even when
 * no record is in flight to prove otherwise. */
static void probe_brokers(ph_kafka_producer *p, int64_t *last_probe)
{
    if (!atomic_load(&p->health.brokers_down) || ph_mono_ms() - *last_probe < 1000)
        return;
    *last_probe = ph_mono_ms();
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(p->rk, 0, NULL, &md, 500) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->broker_cnt > 0) {
            atomic_store(&p->health.brokers_down, false);
            ph_log_info("kafka", "%s: a broker answers again", rd_kafka_name(p->rk));
        }
        rd_kafka_metadata_destroy(md);
    }
}

static void *poll_main(void *arg)
{
    ph_kafka_producer *p = arg;
    int64_t last_probe = 0;
    while (!atomic_load(&p->stop)) {
        rd_kafka_poll(p->rk, 100);
        probe_brokers(p, &last_probe);
    }
    return NULL;
}

int ph_kafka_producer_new(ph_kafka_producer **out, const ph_kafka_producer_config *config,
                          char *errstr, size_t errstr_size)
{
    char why[512];
    int rc = PH_OK;
    rd_kafka_conf_t *conf = NULL;
    ph_kafka_producer *p = calloc(1, sizeof(*p));
    if (!p)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    p->on_delivery = config->on_delivery;
    p->arg = config->arg;
    p->transactional = config->transactional_id != NULL;
    if ((rc = ph_kafka_conf_new(&conf, config->brokers, config->client_id, config->props, errstr,
                                errstr_size)))
        goto out;
    /* Defaults per KAFKA.md; kafka.* pass-through wins. murmur2_random matches the Java client's
     * partitioner, so a session keyed by us and by a Java app lands on the same partition.
     * linger.ms 20 makes batches large enough that the broker's per-batch cost stays small.
     * No compression by default (as in librdkafka and the Java client): on one machine lz4 cost
     * the producers and the broker more CPU than it saved (docs/benchmarks.md); set
     * kafka.compression.type=lz4 where network or disk is the constraint. */
    const char *defaults[][2] = {
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "20"},
        {"batch.size", "1000000"},
        {"partitioner", "murmur2_random"},
        {"message.timeout.ms", "30000"},
        {"queue.buffering.max.messages", "500000"},
    };
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        if ((rc = ph_kafka_conf_default(conf, config->props, defaults[i][0], defaults[i][1], errstr,
                                        errstr_size)))
            goto out;
    if (p->transactional &&
        (rc = ph_kafka_conf_default(conf, NULL, "transactional.id", config->transactional_id,
                                    errstr, errstr_size)))
        goto out;
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_error_cb(conf, ph_kafka_error_cb);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!p->rk) {
        rc = ph_err(errstr, errstr_size, PH_EKAFKA, "creating producer: %s", why);
        goto out;
    }
    conf = NULL; /* owned by rk now */
    if (p->transactional) {
        rd_kafka_error_t *error = rd_kafka_init_transactions(p->rk, 60000);
        if (error) {
            rc = ph_err(errstr, errstr_size, PH_EKAFKA, "init_transactions(%s): %s",
                        config->transactional_id, rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
            goto out;
        }
    }
    if (config->poll_thread) {
        if (pthread_create(&p->thread, NULL, poll_main, p) != 0) {
            rc = ph_err(errstr, errstr_size, PH_EIO, "cannot start the producer poll thread");
            goto out;
        }
        p->has_thread = true;
    }
out:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (rc) {
        ph_kafka_producer_destroy(p);
        return rc;
    }
    *out = p;
    return PH_OK;
}

int ph_kafka_produce(ph_kafka_producer *p, const char *topic, const void *key, size_t keylen,
                     const void *value, size_t len, const ph_kafka_header *headers, size_t nheaders,
                     void *msg_opaque, char *errstr, size_t errstr_size)
{
    if (atomic_load(&p->health.fatal))
        return ph_err(errstr, errstr_size, PH_EFATAL, "producer failed: %s",
                      p->health.fatal_reason);
    rd_kafka_headers_t *hdrs = NULL;
    if (nheaders) {
        hdrs = rd_kafka_headers_new(nheaders);
        for (size_t i = 0; i < nheaders; i++)
            rd_kafka_header_add(hdrs, headers[i].name, -1, headers[i].value,
                                (ssize_t)headers[i].len);
    }
    rd_kafka_resp_err_t err = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, keylen),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        return PH_OK; /* the headers belong to the message now */
    if (hdrs)
        rd_kafka_headers_destroy(hdrs);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        return ph_err(errstr, errstr_size, PH_EQUEUEFULL, "producer queue full");
    if (err == RD_KAFKA_RESP_ERR__FATAL)
        return ph_err(errstr, errstr_size, PH_EFATAL, "producer failed: %s", rd_kafka_err2str(err));
    return ph_err(errstr, errstr_size, PH_EKAFKA, "produce to %s: %s", topic,
                  rd_kafka_err2str(err));
}

int ph_kafka_produce_wait(ph_kafka_producer *p, const char *topic, const void *key, size_t keylen,
                          const void *value, size_t len, const ph_kafka_header *headers,
                          size_t nheaders, void *msg_opaque, int timeout_ms, char *errstr,
                          size_t errstr_size)
{
    int64_t deadline = ph_mono_ms() + timeout_ms;
    for (;;) {
        int rc = ph_kafka_produce(p, topic, key, keylen, value, len, headers, nheaders, msg_opaque,
                                  errstr, errstr_size);
        if (rc != PH_EQUEUEFULL || ph_mono_ms() >= deadline)
            return rc;
        if (p->has_thread)
            usleep(2000);
        else
            rd_kafka_poll(p->rk, 10);
    }
}

void ph_kafka_producer_poll(ph_kafka_producer *p, int timeout_ms)
{
    rd_kafka_poll(p->rk, timeout_ms);
}

int ph_kafka_producer_flush(ph_kafka_producer *p, int timeout_ms, int *left)
{
    /* rd_kafka_flush serves callbacks itself; with a poll thread both may call them, which
     * librdkafka allows (callbacks still run once per message). */
    rd_kafka_flush(p->rk, timeout_ms);
    int n = rd_kafka_outq_len(p->rk);
    if (left)
        *left = n;
    return n > 0 ? PH_ETIMEDOUT : PH_OK;
}

int ph_kafka_producer_outq_len(ph_kafka_producer *p)
{
    return rd_kafka_outq_len(p->rk);
}

bool ph_kafka_producer_fatal(ph_kafka_producer *p, char *why, size_t why_size)
{
    if (!atomic_load(&p->health.fatal))
        return false;
    if (why && why_size)
        snprintf(why, why_size, "%s", p->health.fatal_reason);
    return true;
}

bool ph_kafka_producer_brokers_up(ph_kafka_producer *p)
{
    return !atomic_load(&p->health.brokers_down);
}

rd_kafka_t *ph_kafka_producer_rk(ph_kafka_producer *p)
{
    return p->rk;
}

void ph_kafka_producer_destroy(ph_kafka_producer *p)
{
    if (!p)
        return;
    if (p->has_thread) {
        atomic_store(&p->stop, true);
        pthread_join(p->thread, NULL);
    }
    if (p->rk)
        rd_kafka_destroy(p->rk);
    free(p);
}

/* Maps an rd_kafka_error_t from a transactional call to our codes, destroying it. */
static int txn_result(ph_kafka_producer *p, rd_kafka_error_t *error, const char *what, char *errstr,
                      size_t errstr_size)
{
    if (!error)
        return PH_OK;
    int rc = rd_kafka_error_is_fatal(error)             ? PH_EFATAL
             : rd_kafka_error_txn_requires_abort(error) ? PH_EKAFKA
             : rd_kafka_error_is_retriable(error)       ? PH_ETIMEDOUT
                                                        : PH_EFATAL;
    ph_err(errstr, errstr_size, rc, "%s: %s: %s", what, rd_kafka_error_name(error),
           rd_kafka_error_string(error));
    if (rc == PH_EFATAL) {
        snprintf(p->health.fatal_reason, sizeof(p->health.fatal_reason), "%s: %s", what,
                 rd_kafka_error_string(error));
        atomic_store(&p->health.fatal, true);
    }
    rd_kafka_error_destroy(error);
    return rc;
}

/* Retriable transactional errors (timeouts, coordinator moves) are retried a few times, as
 * librdkafka documents; anything else is reported. */
#define TXN_RETRIES 10

int ph_kafka_txn_begin(ph_kafka_producer *p, char *errstr, size_t errstr_size)
{
    return txn_result(p, rd_kafka_begin_transaction(p->rk), "begin_transaction", errstr,
                      errstr_size);
}

int ph_kafka_txn_send_offsets(ph_kafka_producer *p, rd_kafka_t *consumer, char *errstr,
                              size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *offsets = NULL;
    rd_kafka_consumer_group_metadata_t *cgmd = NULL;
    int rc = PH_OK;
    rd_kafka_resp_err_t err = rd_kafka_assignment(consumer, &offsets);
    if (err) {
        rc = ph_err(errstr, errstr_size, PH_EKAFKA, "assignment: %s", rd_kafka_err2str(err));
        goto out;
    }
    if (offsets->cnt == 0) {
        /* The assignment was lost: these offsets can no longer be committed. */
        rc = ph_err(errstr, errstr_size, PH_EKAFKA, "no assignment to commit offsets for");
        goto out;
    }
    if ((err = rd_kafka_position(consumer, offsets))) {
        rc = ph_err(errstr, errstr_size, PH_EKAFKA, "position: %s", rd_kafka_err2str(err));
        goto out;
    }
    cgmd = rd_kafka_consumer_group_metadata(consumer);
    for (int attempt = 0; attempt < TXN_RETRIES; attempt++) {
        rc = txn_result(p, rd_kafka_send_offsets_to_transaction(p->rk, offsets, cgmd, 30000),
                        "send_offsets_to_transaction", errstr, errstr_size);
        if (rc != PH_ETIMEDOUT)
            break;
    }
    if (rc == PH_ETIMEDOUT)
        rc = PH_EKAFKA;
out:
    if (cgmd)
        rd_kafka_consumer_group_metadata_destroy(cgmd);
    if (offsets)
        rd_kafka_topic_partition_list_destroy(offsets);
    return rc;
}

int ph_kafka_txn_commit(ph_kafka_producer *p, char *errstr, size_t errstr_size)
{
    int rc = PH_ETIMEDOUT;
    for (int attempt = 0; attempt < TXN_RETRIES && rc == PH_ETIMEDOUT; attempt++)
        rc = txn_result(p, rd_kafka_commit_transaction(p->rk, 60000), "commit_transaction", errstr,
                        errstr_size);
    return rc == PH_ETIMEDOUT ? PH_EKAFKA : rc;
}

int ph_kafka_txn_abort(ph_kafka_producer *p, char *errstr, size_t errstr_size)
{
    int rc = PH_ETIMEDOUT;
    for (int attempt = 0; attempt < TXN_RETRIES && rc == PH_ETIMEDOUT; attempt++)
        rc = txn_result(p, rd_kafka_abort_transaction(p->rk, 60000), "abort_transaction", errstr,
                        errstr_size);
    /* An abort that cannot complete leaves the producer unusable. */
    return rc == PH_OK ? PH_OK : PH_EFATAL;
}
