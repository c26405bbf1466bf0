/* LlmLog -> record view, result -> Evaluation. See ph_eval_avro.h. */
#include "ph_eval_avro.h"

#include <stdlib.h>
#include <string.h>

#include "ph_avro.h"
#include "ph_error.h"

static const ph_str empty_str = {"", 0};

void ph_eval_scratch_init(ph_eval_scratch *scratch)
{
    memset(scratch, 0, sizeof(*scratch));
}

void ph_eval_scratch_free(ph_eval_scratch *scratch)
{
    free(scratch->messages);
    free(scratch->context);
    memset(scratch, 0, sizeof(*scratch));
}

/* A string of a generic value (a string, or a union holding one); empty when null or unset. */
static ph_str str_of(const avro_value_t *v)
{
    avro_value_t s = *v, branch;
    if (avro_value_get_type(&s) == AVRO_UNION) {
        int disc = -1;
        if (avro_value_get_discriminant(&s, &disc) || disc < 0 ||
            avro_value_get_current_branch(&s, &branch))
            return empty_str;
        s = branch;
    }
    const char *p = NULL;
    size_t n = 0;
    if (avro_value_get_type(&s) != AVRO_STRING || avro_value_get_string(&s, &p, &n) || !p || !n)
        return empty_str;
    return (ph_str){p, n - 1}; /* avro-c counts the NUL */
}

static ph_str field_str(const avro_value_t *rec, const char *field)
{
    avro_value_t f;
    if (avro_value_get_by_name(rec, field, &f, NULL))
        return empty_str;
    return str_of(&f);
}

/* The array field `name` of llmlog and its size. */
static int array_of(const avro_value_t *llmlog, const char *name, avro_value_t *list, size_t *n,
                    char *errstr, size_t errstr_size)
{
    if (avro_value_get_by_name(llmlog, name, list, NULL) ||
        avro_value_get_type(list) != AVRO_ARRAY || avro_value_get_size(list, n))
        return ph_err(errstr, errstr_size, PH_EINVAL, "field %s: not an array", name);
    return PH_OK;
}

/* The string fields a and b of element i of an array of records. */
static void pair_at(const avro_value_t *list, size_t i, const char *a, const char *b, ph_str *x,
                    ph_str *y)
{
    avro_value_t item, f;
    *x = *y = empty_str;
    if (avro_value_get_by_index(list, i, &item, NULL))
        return;
    if (!avro_value_get_by_name(&item, a, &f, NULL))
        *x = str_of(&f);
    if (!avro_value_get_by_name(&item, b, &f, NULL))
        *y = str_of(&f);
}

/* The array `arr` of `elem`-sized items, grown to hold n (NULL when out of memory: arr and *cap
 * are then unchanged). */
static void *grow(void *arr, size_t *cap, size_t n, size_t elem)
{
    if (n <= *cap)
        return arr;
    size_t c = *cap ? *cap : 8;
    while (c < n)
        c *= 2;
    void *p = realloc(arr, c * elem);
    if (p)
        *cap = c;
    return p;
}

static int read_arrays(const avro_value_t *llmlog, ph_eval_scratch *sc, ph_eval_record *r,
                       char *errstr, size_t errstr_size)
{
    avro_value_t list;
    size_t n = 0;
    int rc = array_of(llmlog, "input_messages", &list, &n, errstr, errstr_size);
    if (rc)
        return rc;
    ph_eval_message *m = grow(sc->messages, &sc->messages_cap, n, sizeof(*m));
    if (!m && n)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    sc->messages = m;
    for (size_t i = 0; i < n; i++)
        pair_at(&list, i, "role", "content", &sc->messages[i].role, &sc->messages[i].content);
    r->messages = sc->messages;
    r->nmessages = n;
    if ((rc = array_of(llmlog, "context", &list, &n, errstr, errstr_size)))
        return rc;
    ph_eval_passage *p = grow(sc->context, &sc->context_cap, n, sizeof(*p));
    if (!p && n)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    sc->context = p;
    for (size_t i = 0; i < n; i++)
        pair_at(&list, i, "id", "content", &sc->context[i].id, &sc->context[i].content);
    r->context = sc->context;
    r->ncontext = n;
    return PH_OK;
}

int ph_eval_record_from_avro(const avro_value_t *llmlog, ph_eval_scratch *scratch,
                             ph_eval_record *rec, char *errstr, size_t errstr_size)
{
    ph_eval_record r;
    memset(&r, 0, sizeof(r));
    if (!llmlog || !llmlog->iface || avro_value_get_type(llmlog) != AVRO_RECORD)
        return ph_err(errstr, errstr_size, PH_EINVAL, "not a record");
    r.record_id = field_str(llmlog, "record_id");
    r.session_id = field_str(llmlog, "session_id");
    r.trace_id = field_str(llmlog, "trace_id");
    r.app = field_str(llmlog, "app");
    r.environment = field_str(llmlog, "environment");
    r.model = field_str(llmlog, "model");
    r.route = field_str(llmlog, "route");
    r.output = field_str(llmlog, "output");
    int64_t v;
    if (ph_avro_get_long(llmlog, "turn", &v) == PH_OK)
        r.turn = (int)v;
    const char *status = NULL;
    if (ph_avro_get_enum(llmlog, "status", &status) == PH_OK && status)
        r.is_error = strcmp(status, "ERROR") == 0;
    int rc = ph_avro_get_long(llmlog, "ingest_time", &v);
    if (rc != PH_OK)
        return ph_err(errstr, errstr_size, PH_EINVAL, "field ingest_time: missing");
    r.ingest_time_ms = v;
    r.record_time_ms = ph_avro_get_long(llmlog, "start_time", &v) == PH_OK ? v : r.ingest_time_ms;
    if ((rc = read_arrays(llmlog, scratch, &r, errstr, errstr_size)))
        return rc;
    *rec = r;
    return PH_OK;
}

int ph_eval_avro_metadata(const avro_value_t *llmlog, const char *key, const char **s, size_t *len)
{
    avro_value_t map, val;
    if (avro_value_get_by_name(llmlog, "metadata", &map, NULL) ||
        avro_value_get_type(&map) != AVRO_MAP || avro_value_get_by_name(&map, key, &val, NULL))
        return PH_ENOENT;
    ph_str str = str_of(&val);
    if (!str.len && avro_value_get_type(&val) != AVRO_STRING)
        return PH_ENOENT;
    *s = str.s;
    if (len)
        *len = str.len;
    return PH_OK;
}

/* ---- Evaluation ---------------------------------------------------------------------------- */

static int opt_str(avro_value_t *e, const char *field, ph_str s)
{
    return ph_avro_set_stringn(e, field, s.len ? s.s : NULL, s.len);
}

static const char *status_symbol(ph_eval_status s)
{
    switch (s) {
    case PH_EVAL_OK:
        return "OK";
    case PH_EVAL_SKIPPED:
        return "SKIPPED";
    default:
        return "ERROR";
    }
}

int ph_eval_result_to_avro(const ph_eval_result *r, const ph_eval_record *rec, int64_t eval_time_ms,
                           avro_value_t *evaluation, char *errstr, size_t errstr_size)
{
    avro_value_t *e = evaluation;
    int rc;
    if (avro_value_reset(e))
        return ph_err(errstr, errstr_size, PH_EINVAL, "Evaluation value: cannot reset");
    const char *field = "record_id";
    if ((rc = ph_avro_set_stringn(e, field, rec->record_id.s ? rec->record_id.s : "",
                                  rec->record_id.len)) ||
        (rc = opt_str(e, field = "session_id", rec->session_id)) ||
        (rc = opt_str(e, field = "trace_id", rec->trace_id)) ||
        (rc = opt_str(e, field = "app", rec->app)) ||
        (rc = opt_str(e, field = "environment", rec->environment)) ||
        (rc = opt_str(e, field = "model", rec->model)) ||
        (rc = ph_avro_set_string(e, field = "evaluator", r->evaluator)) ||
        (rc = ph_avro_set_string(e, field = "evaluator_version", r->version)) ||
        (rc = ph_avro_set_enum(e, field = "status", status_symbol(r->status))))
        goto out;
    field = "score";
    rc = r->has_score ? ph_avro_set_double(e, field, r->score) : ph_avro_set_null(e, field);
    if (rc)
        goto out;
    field = "label";
    if ((rc = ph_avro_set_string(e, field, r->label[0] ? r->label : NULL)))
        goto out;
    field = "passed";
    rc = r->passed >= 0 ? ph_avro_set_bool(e, field, r->passed > 0) : ph_avro_set_null(e, field);
    if (rc)
        goto out;
    field = "explanation";
    if ((rc = ph_avro_set_string(e, field, r->explanation[0] ? r->explanation : NULL)))
        goto out;
    field = "values";
    for (size_t i = 0; i < r->nvalues && i < PH_EVAL_MAX_VALUES; i++)
        if ((rc = ph_avro_map_put_double(e, field, r->values[i].name, r->values[i].value)))
            goto out;
    field = "record_time";
    rc = rec->record_time_ms ? ph_avro_set_long(e, field, rec->record_time_ms)
                             : ph_avro_set_null(e, field);
    if (rc)
        goto out;
    field = "ingest_time";
    rc = rec->ingest_time_ms ? ph_avro_set_long(e, field, rec->ingest_time_ms)
                             : ph_avro_set_null(e, field);
    if (rc || (rc = ph_avro_set_long(e, field = "eval_time", eval_time_ms)))
        goto out;
    field = "cost_usd";
    rc = r->cost_usd != 0 ? ph_avro_set_double(e, field, r->cost_usd) : ph_avro_set_null(e, field);
    if (rc)
        goto out;
    field = "tokens";
    rc = r->tokens != 0 ? ph_avro_set_long(e, field, r->tokens) : ph_avro_set_null(e, field);
out:
    if (rc)
        return ph_err(errstr, errstr_size, rc, "Evaluation field %s: %s", field, ph_strerror(rc));
    return PH_OK;
}

/* ---- the direct Evaluation writer -------------------------------------------------------- */

/* CRC-64-AVRO of the Parsing Canonical Form of schemas/evaluation.avsc as this writer knows it
 * (field order and types below). */
#define EVALUATION_FINGERPRINT 0x8e5a219738fe6a33ULL

struct ph_eval_encoder {
    ph_codec *codec;
    bool direct;
    unsigned char *buf;
    size_t cap;
    size_t len;
    bool oom;
    /* the generic path */
    ph_avro_encoder *enc;
    avro_value_t value;
    bool value_ready;
};

int ph_eval_encoder_new(ph_eval_encoder **out, ph_codec *codec, char *errstr, size_t errstr_size)
{
    int rc;
    ph_eval_encoder *e = calloc(1, sizeof(*e));
    if (!e)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    e->codec = codec;
    e->direct = ph_codec_fingerprint(codec, PH_SCHEMA_EVALUATION) == EVALUATION_FINGERPRINT;
    if ((rc = ph_avro_encoder_new(&e->enc, codec, errstr, errstr_size)) ||
        (rc = ph_codec_value_new(codec, PH_SCHEMA_EVALUATION, &e->value))) {
        ph_eval_encoder_destroy(e);
        return rc ? rc : ph_err(errstr, errstr_size, PH_ENOMEM, "Evaluation value");
    }
    e->value_ready = true;
    *out = e;
    return PH_OK;
}

void ph_eval_encoder_destroy(ph_eval_encoder *e)
{
    if (!e)
        return;
    if (e->value_ready)
        avro_value_decref(&e->value);
    ph_avro_encoder_destroy(e->enc);
    free(e->buf);
    free(e);
}

bool ph_eval_encoder_direct(const ph_eval_encoder *e)
{
    return e->direct;
}

static void put(ph_eval_encoder *e, const void *p, size_t n)
{
    if (e->len + n > e->cap) {
        size_t cap = e->cap ? e->cap : 1024;
        while (cap < e->len + n)
            cap *= 2;
        unsigned char *grown = realloc(e->buf, cap);
        if (!grown) {
            e->oom = true;
            return;
        }
        e->buf = grown;
        e->cap = cap;
    }
    memcpy(e->buf + e->len, p, n);
    e->len += n;
}

/* Avro long / int: zig-zag, then base-128 varint. */
static void put_long(ph_eval_encoder *e, int64_t v)
{
    unsigned char b[10];
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (z > 0x7F) {
        b[n++] = (unsigned char)((z & 0x7F) | 0x80);
        z >>= 7;
    }
    b[n++] = (unsigned char)z;
    put(e, b, n);
}

static void put_string(ph_eval_encoder *e, const char *s, size_t len)
{
    put_long(e, (int64_t)len);
    put(e, s, len);
}

static void put_double(ph_eval_encoder *e, double d)
{
    uint64_t bits;
    unsigned char b[8];
    memcpy(&bits, &d, 8);
    for (int i = 0; i < 8; i++) /* little-endian, as Avro says */
        b[i] = (unsigned char)(bits >> (8 * i));
    put(e, b, 8);
}

/* ["null", "string"]: branch 0 when empty. */
static void put_opt_string(ph_eval_encoder *e, const char *s, size_t len)
{
    if (!len) {
        put_long(e, 0);
        return;
    }
    put_long(e, 1);
    put_string(e, s, len);
}

static void put_opt_long(ph_eval_encoder *e, bool present, int64_t v)
{
    put_long(e, present ? 1 : 0);
    if (present)
        put_long(e, v);
}

static void put_opt_double(ph_eval_encoder *e, bool present, double v)
{
    put_long(e, present ? 1 : 0);
    if (present)
        put_double(e, v);
}

/* The index of the first value named like value i. */
static size_t first_of(const ph_eval_result *r, size_t n, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (strcmp(r->values[j].name, r->values[i].name) == 0)
            return j;
    return i;
}

static void write_direct(ph_eval_encoder *e, const ph_eval_result *r, const ph_eval_record *rec,
                         int64_t eval_time_ms)
{
    unsigned char header[PH_AVRO_HEADER_SIZE] = {0xC3, 0x01};
    uint64_t fp = EVALUATION_FINGERPRINT;
    for (int i = 0; i < 8; i++)
        header[2 + i] = (unsigned char)(fp >> (8 * i));
    e->len = 0;
    e->oom = false;
    put(e, header, sizeof(header));
    put_string(e, rec->record_id.s ? rec->record_id.s : "", rec->record_id.len);
    put_opt_string(e, rec->session_id.s, rec->session_id.len);
    put_opt_string(e, rec->trace_id.s, rec->trace_id.len);
    put_opt_string(e, rec->app.s, rec->app.len);
    put_opt_string(e, rec->environment.s, rec->environment.len);
    put_opt_string(e, rec->model.s, rec->model.len);
    put_string(e, r->evaluator, strnlen(r->evaluator, sizeof(r->evaluator)));
    put_string(e, r->version, strnlen(r->version, sizeof(r->version)));
    put_long(e, r->status == PH_EVAL_OK ? 0 : r->status == PH_EVAL_SKIPPED ? 2 : 1);
    put_opt_double(e, r->has_score, r->score);
    put_opt_string(e, r->label, strnlen(r->label, sizeof(r->label)));
    put_long(e, r->passed >= 0 ? 1 : 0);
    if (r->passed >= 0) {
        unsigned char b = r->passed > 0;
        put(e, &b, 1);
    }
    put_opt_string(e, r->explanation, strnlen(r->explanation, sizeof(r->explanation)));
    /* the values map: one block, then the end marker; a name given twice keeps its first place
     * and its last value, as avro-c's map does */
    size_t n = r->nvalues < PH_EVAL_MAX_VALUES ? r->nvalues : PH_EVAL_MAX_VALUES;
    size_t unique = 0;
    for (size_t i = 0; i < n; i++)
        unique += first_of(r, n, i) == i;
    if (unique) {
        put_long(e, (int64_t)unique);
        for (size_t i = 0; i < n; i++) {
            if (first_of(r, n, i) != i)
                continue;
            size_t last = i;
            for (size_t j = i + 1; j < n; j++)
                if (strcmp(r->values[i].name, r->values[j].name) == 0)
                    last = j;
            put_string(e, r->values[i].name, strnlen(r->values[i].name, sizeof(r->values[i].name)));
            put_double(e, r->values[last].value);
        }
    }
    put_long(e, 0);
    put_opt_long(e, rec->record_time_ms != 0, rec->record_time_ms);
    put_opt_long(e, rec->ingest_time_ms != 0, rec->ingest_time_ms);
    put_long(e, eval_time_ms);
    put_opt_double(e, r->cost_usd != 0, r->cost_usd);
    put_opt_long(e, r->tokens != 0, r->tokens);
}

int ph_eval_encode(ph_eval_encoder *e, const ph_eval_result *r, const ph_eval_record *rec,
                   int64_t eval_time_ms, const void **buf, size_t *len, char *errstr,
                   size_t errstr_size)
{
    if (!e->direct) {
        int rc = ph_eval_result_to_avro(r, rec, eval_time_ms, &e->value, errstr, errstr_size);
        return rc ? rc
                  : ph_avro_encode(e->enc, PH_SCHEMA_EVALUATION, &e->value, buf, len, errstr,
                                   errstr_size);
    }
    write_direct(e, r, rec, eval_time_ms);
    if (e->oom)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    *buf = e->buf;
    *len = e->len;
    return PH_OK;
}
