/* The aggregator's input: one Avro message of pharos.logs.valid, pharos.logs.invalid,
 * pharos.evals or pharos.feedback becomes one lib/agg event. Strings are borrowed from the
 * decoded value, which lives until the next decode: each event is added before the next message
 * is read. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator_int.h"
#include "ph_error.h"
#include "ph_log.h"

/* More warnings, reasons or metadata entries than this are not looked at: the first ones are
 * counted, which is what a dashboard of kinds and rates needs. */
#define MAX_ITEMS 64
#define MAX_META  256

struct ph_decoder_ctx {
    ph_avro_decoder *dec;
    const char *codes[MAX_ITEMS];
    const char *codes2[MAX_ITEMS];
    ph_agg_kv meta[MAX_META];
    char id[512];
    /* dimensions read from an invalid record's original JSON (owned copies) */
    char app[256], environment[256], model[256];
};

ph_decoder_ctx *ph_decoder_ctx_new(ph_codec *codec, char *errstr, size_t errstr_size)
{
    ph_decoder_ctx *d = calloc(1, sizeof(*d));
    if (!d) {
        ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
        return NULL;
    }
    if (ph_avro_decoder_new(&d->dec, codec, errstr, errstr_size)) {
        free(d);
        return NULL;
    }
    return d;
}

void ph_decoder_ctx_destroy(ph_decoder_ctx *d)
{
    if (!d)
        return;
    ph_avro_decoder_destroy(d->dec);
    free(d);
}

static const char *str(const avro_value_t *v, const char *field)
{
    const char *s = NULL;
    if (ph_avro_get_string(v, field, &s, NULL) != PH_OK)
        return NULL;
    return s;
}

static int64_t long_or(const avro_value_t *v, const char *field, int64_t dflt)
{
    int64_t x;
    return ph_avro_get_long(v, field, &x) == PH_OK ? x : dflt;
}

static double double_or_none(const avro_value_t *v, const char *field)
{
    double x;
    return ph_avro_get_double(v, field, &x) == PH_OK ? x : PH_AGG_NONE;
}

/* The `code` of every element of an array of records (QualityIssue, InvalidReason). */
static size_t codes_of(const avro_value_t *v, const char *field, const char **out)
{
    avro_value_t arr, elem;
    size_t n = 0, size = 0;
    if (ph_avro_get(v, field, &arr) != PH_OK || avro_value_get_size(&arr, &size))
        return 0;
    for (size_t i = 0; i < size && n < MAX_ITEMS; i++) {
        const char *code;
        if (avro_value_get_by_index(&arr, i, &elem, NULL) == 0 && (code = str(&elem, "code")))
            out[n++] = code;
    }
    return n;
}

static size_t metadata_of(const avro_value_t *v, ph_agg_kv *out)
{
    avro_value_t map, val;
    size_t n = 0, size = 0;
    if (ph_avro_get(v, "metadata", &map) != PH_OK || avro_value_get_size(&map, &size))
        return 0;
    for (size_t i = 0; i < size && n < MAX_META; i++) {
        const char *key = NULL, *s = NULL;
        size_t len;
        if (avro_value_get_by_index(&map, i, &val, &key) == 0 &&
            avro_value_get_string(&val, &s, &len) == 0 && key && s)
            out[n++] = (ph_agg_kv){key, s};
    }
    return n;
}

static int add_log(ph_decoder_ctx *d, ph_agg *agg, const avro_value_t *v)
{
    ph_agg_log ev;
    const char *status = NULL;
    ph_agg_log_init(&ev);
    ev.record_id = str(v, "record_id");
    ev.app = str(v, "app");
    ev.environment = str(v, "environment");
    ev.model = str(v, "model");
    ev.ingest_ms = long_or(v, "ingest_time", -1);
    ev.time_ms = long_or(v, "start_time", ev.ingest_ms);
    ev.is_error = ph_avro_get_enum(v, "status", &status) == PH_OK && strcmp(status, "OK") != 0;
    ev.latency_ms = double_or_none(v, "latency_ms");
    ev.input_tokens = long_or(v, "input_tokens", -1);
    ev.output_tokens = long_or(v, "output_tokens", -1);
    ev.cost_usd = double_or_none(v, "cost_usd");
    ev.warnings = d->codes;
    ev.n_warnings = codes_of(v, "quality_warnings", d->codes);
    ev.metadata = d->meta;
    ev.n_metadata = metadata_of(v, d->meta);
    return ph_agg_add_log(agg, &ev);
}

static void copy_dim(json_t *doc, const char *key, char *buf, size_t size, const char **out)
{
    const char *s = json_string_value(json_object_get(doc, key));
    if (s && *s && strlen(s) < size) {
        memcpy(buf, s, strlen(s) + 1);
        *out = buf;
    }
}

static int add_invalid(ph_decoder_ctx *d, ph_agg *agg, const avro_value_t *v)
{
    ph_agg_invalid ev;
    ph_agg_invalid_init(&ev);
    const char *rid = str(v, "record_id");
    if (rid && *rid) {
        ev.id = rid;
    } else {
        snprintf(d->id, sizeof(d->id), "%s:%" PRId64 ":%" PRId64,
                 str(v, "source_topic") ? str(v, "source_topic") : "",
                 long_or(v, "source_partition", -1), long_or(v, "source_offset", -1));
        ev.id = d->id;
    }
    ev.time_ms = long_or(v, "source_timestamp", -1);
    if (ev.time_ms <= 0)
        ev.time_ms = long_or(v, "validated_time", -1);
    ev.reasons = d->codes;
    ev.n_reasons = codes_of(v, "reasons", d->codes);
    ev.warnings = d->codes2;
    ev.n_warnings = codes_of(v, "warnings", d->codes2);
    /* The dimensions of a rejected record are only in its original bytes: when they are a JSON
     * object that names them, the invalid record is counted under them too (best effort; a
     * record too broken to parse counts for all traffic only). */
    const char *type = str(v, "content_type");
    const void *orig = NULL;
    size_t len = 0;
    json_t *doc = NULL;
    if (type && strcmp(type, "json") == 0 && ph_avro_get_bytes(v, "original", &orig, &len) == 0 &&
        orig && len < 1024 * 1024 &&
        (doc = json_loadb(orig, len, JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, NULL)) &&
        json_is_object(doc)) {
        copy_dim(doc, "app", d->app, sizeof(d->app), &ev.app);
        copy_dim(doc, "environment", d->environment, sizeof(d->environment), &ev.environment);
        copy_dim(doc, "model", d->model, sizeof(d->model), &ev.model);
    }
    json_decref(doc);
    return ph_agg_add_invalid(agg, &ev);
}

static int add_eval(ph_agg *agg, const avro_value_t *v)
{
    ph_agg_eval ev;
    const char *status = NULL;
    bool passed;
    ph_agg_eval_init(&ev);
    ev.record_id = str(v, "record_id");
    ev.evaluator = str(v, "evaluator");
    ev.evaluator_version = str(v, "evaluator_version");
    ev.app = str(v, "app");
    ev.environment = str(v, "environment");
    ev.model = str(v, "model");
    if (ph_avro_get_enum(v, "status", &status) == PH_OK)
        ev.status = strcmp(status, "OK") == 0      ? PH_AGG_EVAL_OK
                    : strcmp(status, "ERROR") == 0 ? PH_AGG_EVAL_ERROR
                                                   : PH_AGG_EVAL_SKIPPED;
    ev.score = double_or_none(v, "score");
    ev.label = str(v, "label");
    ev.passed = ph_avro_get_bool(v, "passed", &passed) == PH_OK ? passed : -1;
    ev.ingest_ms = long_or(v, "ingest_time", -1);
    ev.eval_ms = long_or(v, "eval_time", -1);
    ev.record_ms = long_or(v, "record_time", ev.ingest_ms > 0 ? ev.ingest_ms : ev.eval_ms);
    ev.cost_usd = double_or_none(v, "cost_usd");
    ev.tokens = long_or(v, "tokens", -1);
    return ph_agg_add_eval(agg, &ev);
}

static int add_feedback(ph_agg *agg, const avro_value_t *v)
{
    ph_agg_feedback ev;
    bool thumbs;
    ph_agg_feedback_init(&ev);
    ev.feedback_id = str(v, "feedback_id");
    ev.app = str(v, "app");
    ev.environment = str(v, "environment");
    ev.time_ms = long_or(v, "time", long_or(v, "ingest_time", -1));
    ev.thumbs = ph_avro_get_bool(v, "thumbs", &thumbs) == PH_OK ? thumbs : -1;
    ev.score = double_or_none(v, "score");
    ev.label = str(v, "label");
    return ph_agg_add_feedback(agg, &ev);
}

int ph_decode_add(ph_decoder_ctx *d, ph_agg *agg, int in, const rd_kafka_message_t *rkm,
                  char *errstr, size_t errstr_size)
{
    static const ph_schema_id schema[IN_COUNT] = {PH_SCHEMA_LLM_LOG, PH_SCHEMA_INVALID_RECORD,
                                                  PH_SCHEMA_EVALUATION, PH_SCHEMA_FEEDBACK};
    avro_value_t *v = NULL;
    int rc;
    if (!rkm->payload)
        return ph_err(errstr, errstr_size, PH_EINVAL, "empty message");
    if ((rc = ph_avro_decode(d->dec, schema[in], rkm->payload, rkm->len, &v, errstr, errstr_size)))
        return rc == PH_ENOMEM ? rc : PH_EINVAL;
    switch (in) {
    case IN_VALID:
        rc = add_log(d, agg, v);
        break;
    case IN_INVALID:
        rc = add_invalid(d, agg, v);
        break;
    case IN_EVALS:
        rc = add_eval(agg, v);
        break;
    default:
        rc = add_feedback(agg, v);
        break;
    }
    if (rc == PH_EINVAL)
        ph_err(errstr, errstr_size, rc, "a required field is missing");
    return rc;
}
