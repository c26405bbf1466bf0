/* pharos-ingestor: the front door of the pipeline.
 *
 * POST /v1/logs      one JSON object, a JSON array of objects, or NDJSON -> pharos.logs.raw
 * POST /v1/feedback  the same shapes, Feedback records                 -> pharos.feedback
 *
 * A record's path: the handler (an nng HTTP thread) parses the body (body.c), refuses the whole
 * request on any unparsable record (400, naming the line), then enqueues every record to Kafka
 * with the request as the message opaque. The producer's poll thread runs on_delivery() once per
 * record; the last report answers the request: 202 when Kafka acknowledged all of them
 * (acks=all), else 503 with Retry-After. The HTTP answer therefore never claims more than Kafka
 * holds. Log records are forwarded as their JSON text, untouched: pharos-validator judges them
 * and keeps the original bytes of the ones it rejects. Feedback has no validator stage, so it is
 * checked and encoded as Avro here. */
#include "ingestor.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "auth.h"
#include "ph_body.h"
#include "ph_avro.h"
#include "ph_error.h"
#include "ph_kafka.h"
#include "ph_log.h"
#include "ph_record.h"
#include "ph_util.h"

#define COMPONENT "ingestor"

typedef struct ph_ingestor {
    ph_service *svc;
    const ph_ingestor_config *cfg;
    ph_auth *auth;
    ph_kafka_producer *producer;
    ph_codec *codec;
    ph_avro_encoder *encoder; /* feedback only; guarded by encoder_lock */
    avro_value_t feedback;
    bool feedback_ready;
    pthread_mutex_t encoder_lock;
    char topic_raw[256];
    char topic_feedback[256];
    atomic_bool draining;
    atomic_int open_requests;
    ph_counter *records_accepted;
    ph_counter *records_failed;
    ph_counter *records_refused;
    ph_counter *feedback_accepted;
} ph_ingestor;

/* One HTTP request waiting for its delivery reports. */
typedef struct request {
    ph_ingestor *ing;
    ph_http_request *req;
    ph_counter *accepted; /* which counter the acknowledged records go to */
    atomic_int pending;   /* reports still to come, plus one while enqueueing */
    atomic_int failed;
    int total;
    int not_enqueued;
    _Atomic rd_kafka_resp_err_t first_err;
    char enqueue_error[PH_ERRSTR_SIZE];
} request;

static const char *const retry_headers_fmt = "%lld";

static void respond_error(ph_ingestor *ing, ph_http_request *req, int status, const char *message,
                          int line, int column)
{
    json_t *o = json_pack("{s:s}", "error", message);
    if (line > 0)
        json_object_set_new(o, "line", json_integer(line));
    if (column > 0)
        json_object_set_new(o, "column", json_integer(column));
    char *text = json_dumps(o, JSON_COMPACT);
    if (status == 503) {
        char retry[32];
        snprintf(retry, sizeof(retry), retry_headers_fmt, (long long)ing->cfg->retry_after_s);
        const char *headers[] = {"Retry-After", retry, NULL};
        ph_http_respond(req, status, "application/json", text, text ? strlen(text) : 0, headers);
    } else {
        ph_http_respond(req, status, "application/json", text, text ? strlen(text) : 0, NULL);
    }
    free(text);
    json_decref(o);
}

/* The last delivery report of a request answers it. Runs on the producer's poll thread (or the
 * handler thread when nothing could be enqueued). */
static void finish(request *r)
{
    ph_ingestor *ing = r->ing;
    int failed = atomic_load(&r->failed);
    int delivered = r->total - failed - r->not_enqueued;
    ph_counter_add(r->accepted, (uint64_t)delivered);
    if (failed + r->not_enqueued == 0) {
        char body[64];
        int n = snprintf(body, sizeof(body), "{\"accepted\":%d}", r->total);
        ph_http_respond(r->req, 202, "application/json", body, (size_t)n, NULL);
    } else {
        ph_counter_add(ing->records_failed, (uint64_t)(failed + r->not_enqueued));
        char msg[PH_ERRSTR_SIZE + 128];
        rd_kafka_resp_err_t err = atomic_load(&r->first_err);
        snprintf(msg, sizeof(msg),
                 "Kafka did not acknowledge %d of %d records (%s); retry the request: records "
                 "keep their ids, so a retry is deduplicated downstream",
                 failed + r->not_enqueued, r->total,
                 err ? rd_kafka_err2str(err) : r->enqueue_error);
        json_t *o = json_pack("{s:s,s:i,s:i}", "error", msg, "delivered", delivered, "failed",
                              failed + r->not_enqueued);
        char *text = json_dumps(o, JSON_COMPACT);
        char retry[32];
        snprintf(retry, sizeof(retry), retry_headers_fmt, (long long)ing->cfg->retry_after_s);
        const char *headers[] = {"Retry-After", retry, NULL};
        ph_http_respond(r->req, 503, "application/json", text, text ? strlen(text) : 0, headers);
        free(text);
        json_decref(o);
    }
    atomic_fetch_sub(&ing->open_requests, 1);
    free(r);
}

static void release(request *r, int n)
{
    if (atomic_fetch_sub(&r->pending, n) == n)
        finish(r);
}

static void on_delivery(void *msg_opaque, rd_kafka_resp_err_t err, const rd_kafka_message_t *rkm,
                        void *arg)
{
    request *r = msg_opaque;
    if (err) {
        rd_kafka_resp_err_t none = RD_KAFKA_RESP_ERR_NO_ERROR;
        atomic_compare_exchange_strong(&r->first_err, &none, err);
        atomic_fetch_add(&r->failed, 1);
    }
    release(r, 1);
}

/* Refuses a request before anything is enqueued when the pipeline cannot take it. */
static bool refuse_if_unavailable(ph_ingestor *ing, ph_http_request *req, size_t nrecords)
{
    char why[PH_ERRSTR_SIZE];
    const char *reason = NULL;
    if (atomic_load(&ing->draining) || ph_service_stopping(ing->svc))
        reason = "shutting down; retry against another instance";
    else if (ph_kafka_producer_fatal(ing->producer, why, sizeof(why)))
        reason = "Kafka producer failed; the service is restarting";
    else if (!ph_kafka_producer_brokers_up(ing->producer))
        reason = "Kafka is unreachable; retry later";
    else if ((int64_t)ph_kafka_producer_outq_len(ing->producer) + (int64_t)nrecords >
             ing->cfg->max_inflight)
        reason = "too many records waiting for Kafka; retry later";
    if (!reason)
        return false;
    ph_counter_add(ing->records_refused, nrecords);
    respond_error(ing, req, 503, reason, 0, 0);
    return true;
}

/* Common front of both endpoints: auth, encoding, body parsing. Returns the app of the token
 * (or NULL when auth is off) through *app; false when the request was answered already. */
static bool admit(ph_ingestor *ing, ph_http_request *req, const char **app, ph_body *body)
{
    ph_body_error berr;
    *app = NULL;
    if (ing->auth) {
        *app = ph_auth_check(ing->auth, ph_http_request_header(req, "Authorization"));
        if (!*app) {
            const char *headers[] = {"WWW-Authenticate", "Bearer", NULL};
            const char *msg = "{\"error\":\"missing or unknown bearer token\"}";
            ph_http_respond(req, 401, "application/json", msg, strlen(msg), headers);
            return false;
        }
    }
    const char *enc = ph_http_request_header(req, "Content-Encoding");
    if (enc && strcmp(enc, "identity") != 0) {
        respond_error(ing, req, 415, "Content-Encoding is not supported; send plain JSON", 0, 0);
        return false;
    }
    size_t len = 0;
    const char *data = ph_http_request_body(req, &len);
    if (ph_body_parse(data ? data : "", len, (size_t)ing->cfg->max_record_bytes, body, &berr)) {
        respond_error(ing, req, berr.status, berr.message, berr.line, berr.column);
        return false;
    }
    if (refuse_if_unavailable(ing, req, body->n)) {
        ph_body_free(body);
        return false;
    }
    return true;
}

/* Enqueues every record of a parsed body; the request is answered by the last report. */
static void publish(ph_ingestor *ing, ph_http_request *req, ph_body *body, const char *topic,
                    const void *const *values, const size_t *lens, const char **ids,
                    const char *app, ph_counter *accepted)
{
    char ingest_time[24];
    snprintf(ingest_time, sizeof(ingest_time), "%lld", (long long)ph_now_ms());
    request *r = calloc(1, sizeof(*r));
    if (!r) {
        respond_error(ing, req, 500, "out of memory", 0, 0);
        return;
    }
    r->ing = ing;
    r->req = req;
    r->accepted = accepted;
    r->total = (int)body->n;
    atomic_store(&r->pending, r->total + 1); /* +1 until every record is enqueued */
    atomic_fetch_add(&ing->open_requests, 1);
    for (size_t i = 0; i < body->n; i++) {
        /* One session stays on one partition (KAFKA.md): key by session, trace, then record. */
        const char *key = body->items[i].key ? body->items[i].key : ids[i];
        ph_kafka_header headers[4] = {
            {"pharos-record-id", ids[i], strlen(ids[i])},
            {"pharos-ingest-time", ingest_time, strlen(ingest_time)},
            {"pharos-source", "http", 4},
            {"pharos-app", app, app ? strlen(app) : 0},
        };
        int rc = ph_kafka_produce_wait(ing->producer, topic, key, strlen(key), values[i], lens[i],
                                       headers, app ? 4 : 3, r, 1000, r->enqueue_error,
                                       sizeof(r->enqueue_error));
        if (rc) {
            /* Nothing after this record is enqueued; the ones before will still be reported. */
            ph_log_warn(COMPONENT, "enqueue failed after %zu of %zu records: %s", i, body->n,
                        r->enqueue_error);
            r->not_enqueued = (int)(body->n - i);
            release(r, r->not_enqueued + 1);
            return;
        }
    }
    release(r, 1);
}

/* Record id: the record's own (record_id or id; feedback_id for feedback), else derived from its
 * text and position, so a client that retries the same request produces the same ids and
 * downstream sinks deduplicate. Fills ids[i] (pointing at the item's own id or at hashes[i]). */
static void record_ids(ph_body *body, bool feedback, const char **ids, char (*hashes)[33])
{
    for (size_t i = 0; i < body->n; i++) {
        /* A feedback's record_id names the record it judges, not the feedback itself. */
        ids[i] = feedback ? body->items[i].feedback_id : body->items[i].id;
        if (!ids[i]) {
            ph_hash_id(body->items[i].raw, body->items[i].rawlen, (uint64_t)body->items[i].line,
                       hashes[i]);
            ids[i] = hashes[i];
        }
    }
}

static void handle_logs(ph_http_request *req, void *arg)
{
    ph_ingestor *ing = arg;
    const char *app;
    ph_body body;
    if (!admit(ing, req, &app, &body))
        return;
    const void **values = calloc(body.n, sizeof(*values));
    size_t *lens = calloc(body.n, sizeof(*lens));
    const char **ids = calloc(body.n, sizeof(*ids));
    char(*hashes)[33] = calloc(body.n, sizeof(*hashes));
    if (!values || !lens || !ids || !hashes) {
        respond_error(ing, req, 500, "out of memory", 0, 0);
        goto out;
    }
    record_ids(&body, false, ids, hashes);
    for (size_t i = 0; i < body.n; i++) {
        values[i] = body.items[i].raw;
        lens[i] = body.items[i].rawlen;
    }
    publish(ing, req, &body, ing->topic_raw, values, lens, ids, app, ing->records_accepted);
out:
    free(values);
    free(lens);
    free(ids);
    free(hashes);
    ph_body_free(&body);
}

/* Feedback is checked and encoded here (it has no validator stage): any invalid item refuses the
 * whole request with every problem of the first bad item. */
static void handle_feedback(ph_http_request *req, void *arg)
{
    ph_ingestor *ing = arg;
    const char *app;
    ph_body body;
    char errstr[PH_ERRSTR_SIZE];
    ph_issues issues;
    ph_issues_init(&issues);
    if (!admit(ing, req, &app, &body))
        return;
    void **values = calloc(body.n, sizeof(*values));
    size_t *lens = calloc(body.n, sizeof(*lens));
    const char **ids = calloc(body.n, sizeof(*ids));
    char(*hashes)[33] = calloc(body.n, sizeof(*hashes));
    if (!values || !lens || !ids || !hashes) {
        respond_error(ing, req, 500, "out of memory", 0, 0);
        goto out;
    }
    record_ids(&body, true, ids, hashes);
    int64_t now = ph_now_ms();
    pthread_mutex_lock(&ing->encoder_lock);
    for (size_t i = 0; i < body.n; i++) {
        avro_value_reset(&ing->feedback);
        ph_issues_clear(&issues);
        const void *buf = NULL;
        size_t len = 0;
        json_error_t jerr;
        json_t *obj = json_loadb(body.items[i].raw, body.items[i].rawlen, 0, &jerr);
        int frc = obj ? ph_feedback_from_json(obj, app, now, ids[i], &ing->feedback, &issues)
                      : ph_issues_add(&issues, "invalid_json", NULL, "%s", jerr.text);
        json_decref(obj);
        if (frc != PH_OK || !obj) {
            pthread_mutex_unlock(&ing->encoder_lock);
            char msg[1024];
            size_t off = (size_t)snprintf(msg, sizeof(msg), "invalid feedback:");
            for (size_t k = 0; k < issues.n && off < sizeof(msg); k++)
                off += (size_t)snprintf(msg + off, sizeof(msg) - off, "%s %s%s%s", k ? ";" : "",
                                        issues.v[k].message, issues.v[k].field ? " @" : "",
                                        issues.v[k].field ? issues.v[k].field : "");
            respond_error(ing, req, 400, msg, body.items[i].line, 0);
            goto out;
        }
        if (ph_avro_encode(ing->encoder, PH_SCHEMA_FEEDBACK, &ing->feedback, &buf, &len, errstr,
                           sizeof(errstr)) ||
            !(values[i] = malloc(len))) {
            pthread_mutex_unlock(&ing->encoder_lock);
            respond_error(ing, req, 500, "cannot encode feedback", body.items[i].line, 0);
            goto out;
        }
        memcpy(values[i], buf, len);
        lens[i] = len;
    }
    pthread_mutex_unlock(&ing->encoder_lock);
    publish(ing, req, &body, ing->topic_feedback, (const void *const *)values, lens, ids, app,
            ing->feedback_accepted);
out:
    if (values)
        for (size_t i = 0; i < body.n; i++)
            free(values[i]);
    free(values);
    free(lens);
    free(ids);
    ph_issues_free(&issues);
    ph_body_free(&body);
}

static double outq_gauge(void *arg)
{
    ph_ingestor *ing = arg;
    return ing->producer ? (double)ph_kafka_producer_outq_len(ing->producer) : 0;
}

static int health(void *state, char *why, size_t why_size)
{
    ph_ingestor *ing = state;
    if (ph_kafka_producer_fatal(ing->producer, why, why_size))
        return PH_EFATAL;
    if (!ph_kafka_producer_brokers_up(ing->producer)) {
        snprintf(why, why_size, "Kafka unreachable");
        return PH_ESTATE;
    }
    return PH_OK;
}

static int create(ph_service *svc, const void *config, void **state, char *errstr,
                  size_t errstr_size)
{
    const ph_ingestor_config *cfg = config;
    const ph_common_config *common = ph_service_common(svc);
    ph_metrics *m = ph_service_metrics(svc);
    ph_http_server *http = ph_service_http(svc);
    char client_id[300];
    int rc;
    ph_ingestor *ing = calloc(1, sizeof(*ing));
    if (!ing)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    *state = ing;
    ing->svc = svc;
    ing->cfg = cfg;
    pthread_mutex_init(&ing->encoder_lock, NULL);
    if (cfg->max_body_bytes <= 0 || cfg->max_record_bytes <= 0 || cfg->max_inflight <= 0)
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "max_body_bytes, max_record_bytes and max_inflight must be positive");
    if ((rc =
             ph_auth_new(&ing->auth, cfg->auth_tokens, cfg->auth_tokens_file, errstr, errstr_size)))
        return rc;
    if ((rc = ph_topic_name(common->topic_prefix, PH_TOPIC_LOGS_RAW, ing->topic_raw,
                            sizeof(ing->topic_raw))) ||
        (rc = ph_topic_name(common->topic_prefix, PH_TOPIC_FEEDBACK, ing->topic_feedback,
                            sizeof(ing->topic_feedback))))
        return ph_err(errstr, errstr_size, rc, "topic_prefix too long");
    if ((rc = ph_codec_new(&ing->codec, errstr, errstr_size)) ||
        (rc = ph_avro_encoder_new(&ing->encoder, ing->codec, errstr, errstr_size)))
        return rc;
    if (avro_generic_value_new(ph_codec_iface(ing->codec, PH_SCHEMA_FEEDBACK), &ing->feedback))
        return ph_err(errstr, errstr_size, PH_EAVRO, "feedback value: %s", avro_strerror());
    ing->feedback_ready = true;
    snprintf(client_id, sizeof(client_id), "pharos-ingestor-%s", common->instance);
    ph_kafka_producer_config pc = {.brokers = common->brokers,
                                   .client_id = client_id,
                                   .props = ph_service_kafka_props(svc),
                                   .on_delivery = on_delivery,
                                   .arg = ing,
                                   .poll_thread = true};
    if ((rc = ph_kafka_producer_new(&ing->producer, &pc, errstr, errstr_size)))
        return rc;
    ing->records_accepted =
        ph_metrics_counter(m, "pharos_ingest_records_total",
                           "Records acknowledged by Kafka, by endpoint", "endpoint=\"logs\"");
    ing->feedback_accepted =
        ph_metrics_counter(m, "pharos_ingest_records_total",
                           "Records acknowledged by Kafka, by endpoint", "endpoint=\"feedback\"");
    ing->records_failed = ph_metrics_counter(
        m, "pharos_ingest_records_failed_total",
        "Records of accepted requests that Kafka did not acknowledge (answered 503)", NULL);
    ing->records_refused = ph_metrics_counter(
        m, "pharos_ingest_records_refused_total",
        "Records refused with 503 before enqueueing (Kafka down, queue full, draining)", NULL);
    ph_metrics_gauge_fn(m, "pharos_ingest_producer_queue", "Records waiting for Kafka", NULL,
                        outq_gauge, ing);
    if ((rc = ph_http_server_route(http, "POST", "/v1/logs", (size_t)cfg->max_body_bytes,
                                   handle_logs, ing, errstr, errstr_size)) ||
        (rc = ph_http_server_route(http, "POST", "/v1/feedback", (size_t)cfg->max_body_bytes,
                                   handle_feedback, ing, errstr, errstr_size)))
        return rc;
    return PH_OK;
}

static int step(void *state)
{
    ph_ingestor *ing = state;
    char why[PH_ERRSTR_SIZE];
    /* HTTP and delivery reports run on their own threads; the main loop only watches health. */
    if (ph_kafka_producer_fatal(ing->producer, why, sizeof(why))) {
        ph_service_fatal(ing->svc, why);
        return PH_EFATAL;
    }
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return PH_OK;
}

static int drain(void *state, int64_t deadline_ms)
{
    ph_ingestor *ing = state;
    int left = 0;
    /* 1. stop intake: new requests get 503 from now on */
    atomic_store(&ing->draining, true);
    /* 2. finish in-flight work: every queued record gets its report, answering its request */
    int64_t wait = deadline_ms - ph_mono_ms();
    int rc = ph_kafka_producer_flush(ing->producer, wait > 0 ? (int)wait : 0, &left);
    if (rc) {
        /* Out of time: purge so the waiting requests are answered 503 rather than dropped; their
         * clients retry and the ids deduplicate whatever Kafka may still have written. */
        ph_log_error(COMPONENT, "%d records still unacknowledged at the deadline: answering 503",
                     left);
        rd_kafka_purge(ph_kafka_producer_rk(ing->producer),
                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        ph_kafka_producer_flush(ing->producer, 5000, NULL);
    }
    /* 3. wait until the handlers finished answering (reports can race the last flush) */
    for (int i = 0; i < 100 && atomic_load(&ing->open_requests) > 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return rc;
}

static void destroy(void *state)
{
    ph_ingestor *ing = state;
    if (!ing)
        return;
    ph_kafka_producer_destroy(ing->producer);
    if (ing->feedback_ready)
        avro_value_decref(&ing->feedback);
    ph_avro_encoder_destroy(ing->encoder);
    ph_codec_destroy(ing->codec);
    ph_auth_destroy(ing->auth);
    pthread_mutex_destroy(&ing->encoder_lock);
    free(ing);
}

static const ph_config_entry config_table[] = {
    {"max_body_bytes", PH_CFG_INT, "16777216", offsetof(ph_ingestor_config, max_body_bytes),
     "largest request body accepted; larger ones get 413"},
    {"max_record_bytes", PH_CFG_INT, "900000", offsetof(ph_ingestor_config, max_record_bytes),
     "largest single record (keep below the broker's message.max.bytes); larger gets 413"},
    {"max_inflight", PH_CFG_INT, "200000", offsetof(ph_ingestor_config, max_inflight),
     "records waiting for Kafka acknowledgement beyond which requests get 503"},
    {"retry_after_s", PH_CFG_INT, "1", offsetof(ph_ingestor_config, retry_after_s),
     "Retry-After seconds sent with 503 answers"},
    {"auth_tokens", PH_CFG_STR, NULL, offsetof(ph_ingestor_config, auth_tokens),
     "bearer tokens as app:token,app2:token2; when set (or auth_tokens_file), auth is required"},
    {"auth_tokens_file", PH_CFG_STR, NULL, offsetof(ph_ingestor_config, auth_tokens_file),
     "file of app:token lines"},
};

const ph_service_def ph_ingestor_def = {
    .name = "ingestor",
    .summary = "accepts LLM logs and feedback over HTTP and publishes them to Kafka",
    .default_http_addr = "http://0.0.0.0:8080",
    .config = config_table,
    .config_len = sizeof(config_table) / sizeof(config_table[0]),
    .config_size = sizeof(ph_ingestor_config),
    .create = create,
    .step = step,
    .drain = drain,
    .destroy = destroy,
    .health = health,
};
