/* pharos-validator: consume-transform-produce in Kafka transactions.
 *
 * Each raw record (JSON, or Avro single-object LlmLog) from pharos.logs.raw is judged by the rules
 * of lib/record and written either to pharos.logs.valid (canonical LlmLog, non-fatal problems as
 * quality warnings) or to pharos.logs.invalid (InvalidRecord: original bytes and every reason).
 * The outputs and the consumer offsets commit in one transaction, so a reader using
 * isolation.level=read_committed sees every raw record exactly once in exactly one of the two
 * topics, even when the validator is killed mid-stream: an open transaction dies with the
 * process (the restarted instance fences it through the same transactional.id) and its records
 * are judged again from the last committed offsets. */
#include "validator.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ph_avro.h"
#include "ph_error.h"
#include "ph_kafka.h"
#include "ph_log.h"
#include "ph_record.h"
#include "ph_util.h"

#define COMPONENT         "validator"
#define VALIDATOR_VERSION "pharos-validator " PHAROS_VERSION

typedef struct ph_validator {
    ph_service *svc;
    const ph_validator_config *cfg;
    ph_kafka_consumer *consumer;
    ph_kafka_producer *producer;
    ph_codec *codec;
    ph_avro_encoder *encoder;
    ph_avro_decoder *decoder;
    ph_rules *rules;
    avro_value_t llmlog;  /* reused for every JSON record */
    avro_value_t invalid; /* reused for every rejected record */
    bool values_ready;
    ph_issues fatal;
    ph_issues warnings;
    char topic_raw[256];
    char topic_valid[256];
    char topic_invalid[256];
    /* the open transaction */
    bool txn_open;
    int64_t txn_started;
    int64_t txn_records;
    int64_t txn_valid;
    int64_t txn_invalid;
    bool failed; /* fatal Kafka error seen */
    ph_counter *valid_total;
    ph_counter *invalid_total;
    ph_counter *txn_commits;
    ph_counter *txn_aborts;
    ph_histogram *commit_seconds;
} ph_validator;

/* ---- transactions ---------------------------------------------------------------------------- */

/* Aborts the open transaction and rewinds the consumer to the committed offsets, so the records
 * of the aborted transaction are judged again. */
static int abort_and_rewind(ph_validator *v, const char *why)
{
    char errstr[PH_ERRSTR_SIZE];
    ph_log_warn(COMPONENT, "aborting transaction of %" PRId64 " records: %s", v->txn_records, why);
    v->txn_open = false;
    ph_counter_inc(v->txn_aborts);
    if (ph_kafka_txn_abort(v->producer, errstr, sizeof(errstr))) {
        ph_log_error(COMPONENT, "abort failed: %s", errstr);
        v->failed = true;
        return PH_EFATAL;
    }
    if (ph_kafka_consumer_rewind(v->consumer, errstr, sizeof(errstr))) {
        ph_log_error(COMPONENT, "rewind failed: %s", errstr);
        v->failed = true;
        return PH_EFATAL;
    }
    return PH_OK;
}

/* Commits the open transaction with the consumer's positions. Returns 0 (committed or cleanly
 * aborted-and-rewound) or PH_EFATAL. */
static int commit(ph_validator *v)
{
    char errstr[PH_ERRSTR_SIZE];
    if (!v->txn_open)
        return PH_OK;
    int64_t started = ph_mono_ms();
    int rc = ph_kafka_txn_send_offsets(v->producer, ph_kafka_consumer_rk(v->consumer), errstr,
                                       sizeof(errstr));
    if (rc == PH_OK)
        rc = ph_kafka_txn_commit(v->producer, errstr, sizeof(errstr));
    if (rc == PH_EFATAL) {
        ph_log_error(COMPONENT, "transaction: %s", errstr);
        v->failed = true;
        return PH_EFATAL;
    }
    if (rc != PH_OK)
        return abort_and_rewind(v, errstr);
    v->txn_open = false;
    ph_histogram_observe(v->commit_seconds, (double)(ph_mono_ms() - started) / 1000.0);
    ph_counter_add(v->valid_total, (uint64_t)v->txn_valid);
    ph_counter_add(v->invalid_total, (uint64_t)v->txn_invalid);
    ph_counter_inc(v->txn_commits);
    ph_log_debug(COMPONENT,
                 "committed %" PRId64 " records (%" PRId64 " valid, %" PRId64 " invalid)",
                 v->txn_records, v->txn_valid, v->txn_invalid);
    return PH_OK;
}

static int begin(ph_validator *v)
{
    char errstr[PH_ERRSTR_SIZE];
    if (v->txn_open)
        return PH_OK;
    if (ph_kafka_txn_begin(v->producer, errstr, sizeof(errstr))) {
        ph_log_error(COMPONENT, "begin transaction: %s", errstr);
        v->failed = true;
        return PH_EFATAL;
    }
    v->txn_open = true;
    v->txn_started = ph_mono_ms();
    v->txn_records = v->txn_valid = v->txn_invalid = 0;
    return PH_OK;
}

/* Partitions leave this instance: commit what was done for them (or abandon it when the
 * assignment was lost, since another instance may already own them). */
static void on_revoke(void *arg, const rd_kafka_topic_partition_list_t *parts, bool lost)
{
    ph_validator *v = arg;
    if (!v->txn_open)
        return;
    if (lost)
        abort_and_rewind(v, "partition assignment lost");
    else
        commit(v);
}

/* ---- judging one record ------------------------------------------------------------------------
 */

static const char *header_string(const rd_kafka_message_t *rkm, const char *name, char *buf,
                                 size_t size)
{
    const void *val;
    size_t len;
    if (ph_kafka_header_get(rkm, name, &val, &len) || !val || len == 0 || len >= size)
        return NULL;
    memcpy(buf, val, len);
    buf[len] = '\0';
    return buf;
}

static int produce(ph_validator *v, const char *topic, const rd_kafka_message_t *rkm,
                   const avro_value_t *value, ph_schema_id schema)
{
    char errstr[PH_ERRSTR_SIZE];
    const void *buf;
    size_t len;
    if (ph_avro_encode(v->encoder, schema, value, &buf, &len, errstr, sizeof(errstr))) {
        ph_log_error(COMPONENT, "encode: %s", errstr);
        return PH_EAVRO;
    }
    /* Same key as the raw record: a session stays on one partition downstream too. Inside a
     * transaction a full queue is waited out (delivery reports free it). */
    int rc = ph_kafka_produce_wait(v->producer, topic, rkm->key, rkm->key_len, buf, len, NULL, 0,
                                   NULL, 60000, errstr, sizeof(errstr));
    if (rc)
        ph_log_error(COMPONENT, "produce to %s: %s", topic, errstr);
    return rc;
}

static int reject_with(ph_validator *v, const rd_kafka_message_t *rkm, const char *content_type,
                       const char *record_id, const char *source, size_t max_original)
{
    avro_value_reset(&v->invalid);
    if (ph_invalid_record_fill(&v->invalid, rd_kafka_topic_name(rkm->rkt), rkm->partition,
                               rkm->offset, rd_kafka_message_timestamp(rkm, NULL), content_type,
                               rkm->payload, rkm->len, max_original, record_id, source, &v->fatal,
                               &v->warnings, VALIDATOR_VERSION)) {
        ph_log_error(COMPONENT, "cannot fill InvalidRecord");
        return PH_EAVRO;
    }
    return produce(v, v->topic_invalid, rkm, &v->invalid, PH_SCHEMA_INVALID_RECORD);
}

static int reject(ph_validator *v, const rd_kafka_message_t *rkm, const char *content_type,
                  const char *record_id, const char *source)
{
    int rc =
        reject_with(v, rkm, content_type, record_id, source, (size_t)v->cfg->max_original_bytes);
    if (rc == PH_EKAFKA) {
        /* Kafka refused it (too large for the client or topic): keep less of the original
         * rather than retry a poison record forever. */
        ph_issues_add(&v->fatal, "unwritable_record", NULL,
                      "the InvalidRecord was too large for Kafka; original cut to 64 KiB");
        rc = reject_with(v, rkm, content_type, record_id, source, 65536);
    }
    if (rc == PH_OK)
        v->txn_invalid++;
    return rc;
}

static int judge(ph_validator *v, const rd_kafka_message_t *rkm)
{
    char errstr[PH_ERRSTR_SIZE];
    char id_buf[128], time_buf[32], source_buf[16], app_buf[256], fallback[320];
    ph_issues_clear(&v->fatal);
    ph_issues_clear(&v->warnings);

    ph_raw_meta meta = {0};
    meta.record_id = header_string(rkm, "pharos-record-id", id_buf, sizeof(id_buf));
    const char *t = header_string(rkm, "pharos-ingest-time", time_buf, sizeof(time_buf));
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(rkm, &tstype);
    meta.ingest_time_ms = t ? strtoll(t, NULL, 10) : ts > 0 ? ts : ph_now_ms();
    meta.ingest_source = header_string(rkm, "pharos-source", source_buf, sizeof(source_buf));
    if (!meta.ingest_source)
        meta.ingest_source = "kafka";
    meta.app = header_string(rkm, "pharos-app", app_buf, sizeof(app_buf));
    /* Records produced straight to Kafka without an id get one that reprocessing reproduces. */
    snprintf(fallback, sizeof(fallback), "kafka:%s:%" PRId32 ":%" PRId64,
             rd_kafka_topic_name(rkm->rkt), rkm->partition, rkm->offset);
    meta.fallback_record_id = fallback;

    const char *content_type = "json";
    avro_value_t *value = &v->llmlog;
    int rc;
    if ((int64_t)rkm->len > v->cfg->max_record_bytes) {
        ph_issues_add(&v->fatal, "oversized_record", NULL,
                      "record of %zu bytes exceeds max_record_bytes (%" PRId64 ")", rkm->len,
                      v->cfg->max_record_bytes);
        rc = PH_EINVAL;
        value = NULL; /* nothing was read */
        content_type = ph_avro_is_single_object(rkm->payload, rkm->len) ? "avro" : "json";
    } else if (ph_avro_is_single_object(rkm->payload, rkm->len)) {
        content_type = "avro";
        if (ph_avro_decode(v->decoder, PH_SCHEMA_LLM_LOG, rkm->payload, rkm->len, &value, errstr,
                           sizeof(errstr))) {
            ph_issues_add(&v->fatal, "avro_undecodable", NULL, "%s", errstr);
            rc = PH_EINVAL;
            value = NULL;
        } else {
            rc = ph_record_check_avro(v->rules, value, &meta, &v->fatal, &v->warnings);
        }
    } else {
        avro_value_reset(&v->llmlog);
        rc = ph_record_from_json(v->rules, rkm->payload ? rkm->payload : "", rkm->len, &meta,
                                 &v->llmlog, &v->fatal, &v->warnings);
    }
    if (rc == PH_OK) {
        rc = produce(v, v->topic_valid, rkm, value, PH_SCHEMA_LLM_LOG);
        if (rc != PH_EKAFKA) {
            v->txn_valid += rc == PH_OK;
            return rc;
        }
        /* Kafka refused the canonical record (e.g. larger than message.max.bytes): it cannot
         * reach the valid topic, so it goes to the invalid one with the reason. */
        ph_issues_add(&v->fatal, "unwritable_record", NULL,
                      "the canonical LlmLog could not be written to %s", v->topic_valid);
    }
    if (v->fatal.n == 0) /* a rule failed without saying why: still never lose the record */
        ph_issues_add(&v->fatal, "internal_error", NULL, "validation failed (%s)", ph_strerror(rc));
    /* The rejected record's own id when it could be read (lib/record leaves it in the value),
     * else the header's, else the one derived from its position. */
    const char *id = NULL;
    size_t idlen = 0;
    char own_id[256];
    if (value && ph_avro_get_string(value, "record_id", &id, &idlen) == PH_OK && id && idlen &&
        idlen < sizeof(own_id)) {
        memcpy(own_id, id, idlen);
        own_id[idlen] = '\0';
        id = own_id;
    } else {
        id = meta.record_id ? meta.record_id : fallback;
    }
    return reject(v, rkm, content_type, id, meta.ingest_source);
}

/* ---- service callbacks ---------------------------------------------------------------------- */

/* Records judged between two looks at the clock and the delivery reports. */
#define BURST 256

static int step(void *state)
{
    ph_validator *v = state;
    char why[PH_ERRSTR_SIZE];
    if (v->failed || ph_kafka_producer_fatal(v->producer, why, sizeof(why)) ||
        ph_kafka_consumer_fatal(v->consumer, why, sizeof(why)))
        return PH_EFATAL;
    int64_t now = ph_mono_ms();
    int64_t until = now + 100;
    while (now < until && !ph_service_stopping(v->svc)) {
        /* Wait for input at most until the open transaction is due. */
        int wait = 100;
        if (v->txn_open) {
            int64_t left = v->txn_started + v->cfg->commit_interval_ms - now;
            wait = left > 0 ? (int)(left < 100 ? left : 100) : 0;
        }
        int n = 0;
        rd_kafka_message_t *rkm;
        while (n < BURST && (!v->txn_open || v->txn_records < v->cfg->max_batch) &&
               (rkm = ph_kafka_consumer_poll(v->consumer, n == 0 ? wait : 0))) {
            n++;
            int rc = begin(v);
            if (rc == PH_OK) {
                v->txn_records++;
                rc = judge(v, rkm);
            }
            rd_kafka_message_destroy(rkm);
            if (rc == PH_EFATAL)
                return PH_EFATAL;
            if (rc != PH_OK && abort_and_rewind(v, "could not write an output record"))
                return PH_EFATAL;
        }
        if (v->failed)
            return PH_EFATAL; /* a rebalance callback inside poll failed */
        /* Serve delivery reports of the transaction's records. */
        ph_kafka_producer_poll(v->producer, 0);
        now = ph_mono_ms();
        if (v->txn_open && (v->txn_records >= v->cfg->max_batch ||
                            now - v->txn_started >= v->cfg->commit_interval_ms)) {
            if (commit(v))
                return PH_EFATAL;
            now = ph_mono_ms();
        }
        if (n == 0 && !v->txn_open)
            break;
    }
    return PH_OK;
}

static int drain(void *state, int64_t deadline_ms)
{
    ph_validator *v = state;
    int rc = PH_OK;
    /* Stop intake (we simply stop polling), commit what was judged, leave the group. */
    if (!v->failed && v->txn_open && commit(v))
        rc = PH_EFATAL;
    ph_kafka_consumer_destroy(v->consumer); /* the revoke callback finds no open transaction */
    v->consumer = NULL;
    int64_t wait = deadline_ms - ph_mono_ms();
    if (ph_kafka_producer_flush(v->producer, wait > 0 ? (int)wait : 0, NULL))
        rc = PH_ETIMEDOUT;
    return v->failed ? PH_EFATAL : rc;
}

static void destroy(void *state)
{
    ph_validator *v = state;
    if (!v)
        return;
    ph_kafka_consumer_destroy(v->consumer);
    ph_kafka_producer_destroy(v->producer);
    if (v->values_ready) {
        avro_value_decref(&v->llmlog);
        avro_value_decref(&v->invalid);
    }
    ph_issues_free(&v->fatal);
    ph_issues_free(&v->warnings);
    ph_rules_destroy(v->rules);
    ph_avro_encoder_destroy(v->encoder);
    ph_avro_decoder_destroy(v->decoder);
    ph_codec_destroy(v->codec);
    free(v);
}

static int health(void *state, char *why, size_t why_size)
{
    ph_validator *v = state;
    if (v->failed) {
        snprintf(why, why_size, "Kafka transaction failed");
        return PH_EFATAL;
    }
    return PH_OK;
}

static int create(ph_service *svc, const void *config, void **state, char *errstr,
                  size_t errstr_size)
{
    const ph_validator_config *cfg = config;
    const ph_common_config *common = ph_service_common(svc);
    ph_metrics *m = ph_service_metrics(svc);
    char client_id[300], txn_id[300], group_id[300];
    int rc;
    ph_validator *v = calloc(1, sizeof(*v));
    if (!v)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    *state = v;
    v->svc = svc;
    v->cfg = cfg;
    ph_issues_init(&v->fatal);
    ph_issues_init(&v->warnings);
    if (cfg->commit_interval_ms <= 0 || cfg->max_batch <= 0 || cfg->max_original_bytes <= 0)
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "commit_interval_ms, max_batch and max_original_bytes must be positive");
    ph_rules_config rcfg = {
        .max_record_bytes = cfg->max_record_bytes,
        .max_field_bytes = cfg->max_field_bytes,
        .max_messages = cfg->max_messages,
        .max_context = cfg->max_context,
        .roles = cfg->roles,
        .max_clock_skew_ms = cfg->max_clock_skew_ms,
        .severity = cfg->severity,
    };
    if ((rc = ph_rules_new(&v->rules, &rcfg, errstr, errstr_size)))
        return rc;
    if ((rc = ph_topic_name(common->topic_prefix, PH_TOPIC_LOGS_RAW, v->topic_raw,
                            sizeof(v->topic_raw))) ||
        (rc = ph_topic_name(common->topic_prefix, PH_TOPIC_LOGS_VALID, v->topic_valid,
                            sizeof(v->topic_valid))) ||
        (rc = ph_topic_name(common->topic_prefix, PH_TOPIC_LOGS_INVALID, v->topic_invalid,
                            sizeof(v->topic_invalid))))
        return ph_err(errstr, errstr_size, rc, "topic_prefix too long");
    if ((rc = ph_codec_new(&v->codec, errstr, errstr_size)) ||
        (rc = ph_avro_encoder_new(&v->encoder, v->codec, errstr, errstr_size)) ||
        (rc = ph_avro_decoder_new(&v->decoder, v->codec, errstr, errstr_size)))
        return rc;
    if (avro_generic_value_new(ph_codec_iface(v->codec, PH_SCHEMA_LLM_LOG), &v->llmlog))
        return ph_err(errstr, errstr_size, PH_EAVRO, "LlmLog value: %s", avro_strerror());
    if (avro_generic_value_new(ph_codec_iface(v->codec, PH_SCHEMA_INVALID_RECORD), &v->invalid)) {
        avro_value_decref(&v->llmlog);
        return ph_err(errstr, errstr_size, PH_EAVRO, "InvalidRecord value: %s", avro_strerror());
    }
    v->values_ready = true;

    snprintf(client_id, sizeof(client_id), "pharos-validator-%s", common->instance);
    if (cfg->transactional_id)
        snprintf(txn_id, sizeof(txn_id), "%s", cfg->transactional_id);
    else
        snprintf(txn_id, sizeof(txn_id), "%spharos-validator-%s",
                 common->topic_prefix ? common->topic_prefix : "", common->instance);
    ph_kafka_producer_config pc = {.brokers = common->brokers,
                                   .client_id = client_id,
                                   .props = ph_service_kafka_props(svc),
                                   .transactional_id = txn_id,
                                   .poll_thread = false};
    if ((rc = ph_kafka_producer_new(&v->producer, &pc, errstr, errstr_size)))
        return rc;
    if (cfg->group_id)
        snprintf(group_id, sizeof(group_id), "%s", cfg->group_id);
    else
        snprintf(group_id, sizeof(group_id), "%spharos-validator",
                 common->topic_prefix ? common->topic_prefix : "");
    const char *topics[] = {v->topic_raw};
    ph_kafka_consumer_config cc = {.brokers = common->brokers,
                                   .client_id = client_id,
                                   .group_id = group_id,
                                   .group_instance_id = cfg->static_membership ? txn_id : NULL,
                                   .props = ph_service_kafka_props(svc),
                                   .topics = topics,
                                   .ntopics = 1,
                                   .read_committed = true,
                                   .auto_commit = false, /* offsets commit in the transaction */
                                   .on_revoke = on_revoke,
                                   .arg = v};
    if ((rc = ph_kafka_consumer_new(&v->consumer, &cc, errstr, errstr_size)))
        return rc;
    v->valid_total =
        ph_metrics_counter(m, "pharos_validator_records_total",
                           "Records judged and committed, by outcome", "result=\"valid\"");
    v->invalid_total =
        ph_metrics_counter(m, "pharos_validator_records_total",
                           "Records judged and committed, by outcome", "result=\"invalid\"");
    v->txn_commits = ph_metrics_counter(m, "pharos_validator_transactions_total",
                                        "Transactions, by outcome", "result=\"committed\"");
    v->txn_aborts = ph_metrics_counter(m, "pharos_validator_transactions_total",
                                       "Transactions, by outcome", "result=\"aborted\"");
    static const double commit_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
    v->commit_seconds = ph_metrics_histogram(
        m, "pharos_validator_commit_seconds",
        "Time to send offsets and commit one transaction (processing waits meanwhile)", NULL,
        commit_buckets, sizeof(commit_buckets) / sizeof(commit_buckets[0]));
    ph_log_info(COMPONENT, "consuming %s as group %s, transactional id %s", v->topic_raw, group_id,
                txn_id);
    return PH_OK;
}

static const ph_config_entry config_table[] = {
    {"group_id", PH_CFG_STR, NULL, offsetof(ph_validator_config, group_id),
     "Kafka consumer group shared by all validator instances; default "
     "<topic_prefix>pharos-validator, so pipelines with different prefixes never share a group"},
    {"transactional_id", PH_CFG_STR, NULL, offsetof(ph_validator_config, transactional_id),
     "Kafka transactional id, unique per instance and stable across its restarts; default "
     "<topic_prefix>pharos-validator-<instance>"},
    {"static_membership", PH_CFG_BOOL, "true", offsetof(ph_validator_config, static_membership),
     "join the group as a static member (group.instance.id = the transactional id): a restarted "
     "instance gets its partitions back at once; a stopped one keeps them for "
     "kafka.session.timeout.ms"},
    {"commit_interval_ms", PH_CFG_INT, "200", offsetof(ph_validator_config, commit_interval_ms),
     "commit the open transaction at least this often"},
    {"max_batch", PH_CFG_INT, "20000", offsetof(ph_validator_config, max_batch),
     "commit the open transaction after this many records"},
    {"max_original_bytes", PH_CFG_INT, "900000", offsetof(ph_validator_config, max_original_bytes),
     "InvalidRecord keeps at most this many bytes of the original (original_truncated says so)"},
    {"max_record_bytes", PH_CFG_INT, "900000", offsetof(ph_validator_config, max_record_bytes),
     "a larger raw record is rejected as oversized_record (below the broker's message.max.bytes, "
     "so its InvalidRecord still fits)"},
    {"max_field_bytes", PH_CFG_INT, "262144", offsetof(ph_validator_config, max_field_bytes),
     "longer strings are truncated with an oversized_field warning"},
    {"max_messages", PH_CFG_INT, "1000", offsetof(ph_validator_config, max_messages),
     "more input messages keep the last ones, with a too_many_messages warning"},
    {"max_context", PH_CFG_INT, "100", offsetof(ph_validator_config, max_context),
     "more context passages keep the last ones, with a too_many_context warning"},
    {"roles", PH_CFG_STR, "system,developer,user,assistant,tool,function",
     offsetof(ph_validator_config, roles), "known message roles; others get unknown_role"},
    {"max_clock_skew_ms", PH_CFG_INT, "86400000", offsetof(ph_validator_config, max_clock_skew_ms),
     "start/end times further in the future are impossible_value"},
    {"severity", PH_CFG_STR, NULL, offsetof(ph_validator_config, severity),
     "rule severity overrides, e.g. unknown_role=fatal,oversized_field=off"},
};

const ph_service_def ph_validator_def = {
    .name = "validator",
    .summary = "routes raw LLM logs to pharos.logs.valid or pharos.logs.invalid, exactly once",
    .default_http_addr = "http://0.0.0.0:8081",
    .config = config_table,
    .config_len = sizeof(config_table) / sizeof(config_table[0]),
    .config_size = sizeof(ph_validator_config),
    .create = create,
    .step = step,
    .drain = drain,
    .destroy = destroy,
    .health = health,
};
