/* Topic creation and broker pings through the Admin API. */
#include "ph_kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"
#include "ph_log.h"

static int new_client(rd_kafka_t **out, const char *brokers, const ph_config_kv *props,
                      char *errstr, size_t errstr_size)
{
    char why[512];
    rd_kafka_conf_t *conf = NULL;
    int rc = ph_kafka_conf_new(&conf, brokers, "pharos-admin", props, errstr, errstr_size);
    if (rc)
        return rc;
    /* A producer handle is the lightest client that can run admin requests. */
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return ph_err(errstr, errstr_size, PH_EKAFKA, "creating admin client: %s", why);
    }
    *out = rk;
    return PH_OK;
}

int ph_kafka_ping(const char *brokers, const ph_config_kv *props, int timeout_ms, char *errstr,
                  size_t errstr_size)
{
    rd_kafka_t *rk = NULL;
    const struct rd_kafka_metadata *md = NULL;
    int rc = new_client(&rk, brokers, props, errstr, errstr_size);
    if (rc)
        return rc;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);
    if (err)
        rc = ph_err(errstr, errstr_size, PH_ETIMEDOUT, "no broker at %s answered: %s", brokers,
                    rd_kafka_err2str(err));
    else
        rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return rc;
}

int ph_kafka_create_topics(const char *brokers, const ph_config_kv *props, const char *const *names,
                           size_t n, int partitions, int replication,
                           const char *const *topic_configs, int timeout_ms, int *created,
                           char *errstr, size_t errstr_size)
{
    char why[512];
    rd_kafka_t *rk = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_AdminOptions_t *opts = NULL;
    rd_kafka_event_t *ev = NULL;
    rd_kafka_NewTopic_t **topics = calloc(n ? n : 1, sizeof(*topics));
    int made = 0;
    int rc = topics ? PH_OK : PH_ENOMEM;
    if (rc)
        goto out;
    if ((rc = new_client(&rk, brokers, props, errstr, errstr_size)))
        goto out;
    for (size_t i = 0; i < n; i++) {
        topics[i] = rd_kafka_NewTopic_new(names[i], partitions, replication, why, sizeof(why));
        if (!topics[i]) {
            rc = ph_err(errstr, errstr_size, PH_EINVAL, "topic %s: %s", names[i], why);
            goto out;
        }
        for (const char *const *c = topic_configs; c && c[0] && c[1]; c += 2)
            rd_kafka_NewTopic_set_config(topics[i], c[0], c[1]);
    }
    q = rd_kafka_queue_new(rk);
    opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, why, sizeof(why));
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, why, sizeof(why));
    rd_kafka_CreateTopics(rk, topics, n, opts, q);
    ev = rd_kafka_queue_poll(q, timeout_ms + 5000);
    if (!ev) {
        rc = ph_err(errstr, errstr_size, PH_ETIMEDOUT, "create topics: no answer from %s", brokers);
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        rc = ph_err(errstr, errstr_size, PH_EKAFKA, "create topics: %s",
                    rd_kafka_event_error_string(ev));
        goto out;
    }
    size_t cnt = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[i]);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            made++;
        } else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            rc = ph_err(errstr, errstr_size, PH_EKAFKA, "create topic %s: %s",
                        rd_kafka_topic_result_name(res[i]),
                        rd_kafka_topic_result_error_string(res[i]));
            goto out;
        }
    }
out:
    if (rc == PH_ENOMEM)
        ph_err(errstr, errstr_size, rc, "out of memory");
    if (ev)
        rd_kafka_event_destroy(ev);
    if (opts)
        rd_kafka_AdminOptions_destroy(opts);
    if (q)
        rd_kafka_queue_destroy(q);
    if (topics) {
        for (size_t i = 0; i < n; i++)
            if (topics[i])
                rd_kafka_NewTopic_destroy(topics[i]);
        free(topics);
    }
    if (rk)
        rd_kafka_destroy(rk);
    if (!rc && created)
        *created = made;
    return rc;
}
