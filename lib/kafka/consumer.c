/* The consumer: group membership, caller-stored offsets, eager and cooperative rebalances. */
#include "ph_kafka.h"
#include "ph_kafka_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"
#include "ph_log.h"

struct ph_kafka_consumer {
    ph_kafka_health health; /* first: the error callback's opaque points here */
    rd_kafka_t *rk;
    ph_kafka_assign_fn on_assign;
    ph_kafka_revoke_fn on_revoke;
    ph_kafka_position_fn on_position;
    void *arg;
};

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    ph_kafka_consumer *c = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        ph_log_info("kafka", "%s: %d partition(s) assigned (%s)", rd_kafka_name(rk), parts->cnt,
                    cooperative ? "cooperative" : "eager");
        if (c->on_position)
            c->on_position(c->arg, parts);
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, parts);
        if (c->on_assign)
            c->on_assign(c->arg, parts);
    } else {
        bool lost = rd_kafka_assignment_lost(rk);
        ph_log_info("kafka", "%s: %d partition(s) %s", rd_kafka_name(rk), parts->cnt,
                    lost ? "lost" : "revoked");
        /* Before giving the partitions up: the owner finishes or abandons their work. */
        if (c->on_revoke)
            c->on_revoke(c->arg, parts, lost);
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, NULL);
    }
    if (error) {
        ph_log_error("kafka", "%s: rebalance: %s", rd_kafka_name(rk), rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (aerr) {
        ph_log_error("kafka", "%s: rebalance: %s", rd_kafka_name(rk), rd_kafka_err2str(aerr));
    }
}

int ph_kafka_consumer_new(ph_kafka_consumer **out, const ph_kafka_consumer_config *config,
                          char *errstr, size_t errstr_size)
{
    char why[512];
    int rc = PH_OK;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *subs = NULL;
    ph_kafka_consumer *c = calloc(1, sizeof(*c));
    if (!c)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    c->on_assign = config->on_assign;
    c->on_revoke = config->on_revoke;
    c->on_position = config->on_position;
    c->arg = config->arg;
    if ((rc = ph_kafka_conf_new(&conf, config->brokers, config->client_id, config->props, errstr,
                                errstr_size)))
        goto out;
    const char *defaults[][2] = {
        {"group.id", config->group_id},
        {"enable.auto.offset.store", "false"},
        {"enable.auto.commit", config->auto_commit ? "true" : "false"},
        {"auto.offset.reset", "earliest"},
        {"isolation.level", config->read_committed ? "read_committed" : "read_uncommitted"},
        {"enable.partition.eof", "false"},
    };
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        if ((rc = ph_kafka_conf_default(conf, config->props, defaults[i][0], defaults[i][1], errstr,
                                        errstr_size)))
            goto out;
    /* A static member does not leave the group when it stops, so its partitions wait for its
     * session to time out: keep that short (librdkafka's default is 45 s). */
    if (config->group_instance_id &&
        ((rc = ph_kafka_conf_default(conf, config->props, "group.instance.id",
                                     config->group_instance_id, errstr, errstr_size)) ||
         (rc = ph_kafka_conf_default(conf, config->props, "session.timeout.ms", "10000", errstr,
                                     errstr_size))))
        goto out;
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_error_cb(conf, ph_kafka_error_cb);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (!c->rk) {
        rc = ph_err(errstr, errstr_size, PH_EKAFKA, "creating consumer: %s", why);
        goto out;
    }
    conf = NULL;
    rd_kafka_poll_set_consumer(c->rk);
    subs = rd_kafka_topic_partition_list_new((int)config->ntopics);
    for (size_t i = 0; i < config->ntopics; i++)
        rd_kafka_topic_partition_list_add(subs, config->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(c->rk, subs);
    if (err) {
        rc = ph_err(errstr, errstr_size, PH_EKAFKA, "subscribe: %s", rd_kafka_err2str(err));
        goto out;
    }
out:
    if (subs)
        rd_kafka_topic_partition_list_destroy(subs);
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (rc) {
        ph_kafka_consumer_destroy(c);
        return rc;
    }
    *out = c;
    return PH_OK;
}

rd_kafka_message_t *ph_kafka_consumer_poll(ph_kafka_consumer *c, int timeout_ms)
{
    rd_kafka_message_t *rkm = rd_kafka_consumer_poll(c->rk, timeout_ms);
    if (!rkm || !rkm->err)
        return rkm;
    if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (rkm->err == RD_KAFKA_RESP_ERR__FATAL) {
            char why[256];
            rd_kafka_fatal_error(c->rk, why, sizeof(why));
            snprintf(c->health.fatal_reason, sizeof(c->health.fatal_reason), "%s", why);
            atomic_store(&c->health.fatal, true);
        }
        ph_log_warn("kafka", "%s: consume %s [%d]: %s", rd_kafka_name(c->rk),
                    rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : "-", (int)rkm->partition,
                    rd_kafka_message_errstr(rkm));
    }
    rd_kafka_message_destroy(rkm);
    return NULL;
}

int ph_kafka_consumer_store(ph_kafka_consumer *c, const char *topic, int32_t partition,
                            int64_t offset)
{
    /* librdkafka 2.0.2 has no rd_kafka_offset_store_message(): store offset + 1 explicitly. */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset + 1;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(c->rk, l);
    if (!err)
        err = l->elems[0].err;
    rd_kafka_topic_partition_list_destroy(l);
    /* _STATE: the partition was revoked meanwhile; its new owner re-reads the record. */
    return err ? PH_EKAFKA : PH_OK;
}

int ph_kafka_consumer_rewind(ph_kafka_consumer *c, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *offsets = NULL;
    rd_kafka_error_t *error = NULL;
    int rc = PH_OK;
    rd_kafka_resp_err_t err = rd_kafka_assignment(c->rk, &offsets);
    if (err) {
        rc = ph_err(errstr, errstr_size, PH_EKAFKA, "assignment: %s", rd_kafka_err2str(err));
        goto out;
    }
    if (offsets->cnt == 0)
        goto out;
    if ((err = rd_kafka_committed(c->rk, offsets, 30000))) {
        rc = ph_err(errstr, errstr_size, PH_EKAFKA, "committed offsets: %s", rd_kafka_err2str(err));
        goto out;
    }
    for (int i = 0; i < offsets->cnt; i++)
        if (offsets->elems[i].offset < 0)
            offsets->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING; /* matches auto.offset.reset */
    if ((error = rd_kafka_seek_partitions(c->rk, offsets, 30000))) {
        rc = ph_err(errstr, errstr_size, PH_EKAFKA, "seek: %s", rd_kafka_error_string(error));
        goto out;
    }
    for (int i = 0; i < offsets->cnt; i++) {
        if (offsets->elems[i].err) {
            rc = ph_err(errstr, errstr_size, PH_EKAFKA, "seek %s [%d]: %s", offsets->elems[i].topic,
                        (int)offsets->elems[i].partition, rd_kafka_err2str(offsets->elems[i].err));
            goto out;
        }
    }
out:
    if (error)
        rd_kafka_error_destroy(error);
    if (offsets)
        rd_kafka_topic_partition_list_destroy(offsets);
    return rc;
}

bool ph_kafka_consumer_fatal(ph_kafka_consumer *c, char *why, size_t why_size)
{
    if (!atomic_load(&c->health.fatal))
        return false;
    if (why && why_size)
        snprintf(why, why_size, "%s", c->health.fatal_reason);
    return true;
}

rd_kafka_t *ph_kafka_consumer_rk(ph_kafka_consumer *c)
{
    return c->rk;
}

void ph_kafka_consumer_destroy(ph_kafka_consumer *c)
{
    if (!c)
        return;
    if (c->rk) {
        rd_kafka_resp_err_t err = rd_kafka_consumer_close(c->rk);
        if (err)
            ph_log_warn("kafka", "%s: close: %s", rd_kafka_name(c->rk), rd_kafka_err2str(err));
        rd_kafka_destroy(c->rk);
    }
    free(c);
}
