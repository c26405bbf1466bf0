/* JSON log record -> LlmLog: parsing, the alias table and the mapping of each field.
 * The accepted shapes are documented in docs/log-format.md, the rules in docs/validation.md. */
#include "ph_record_jmap.h"

#include "ph_error.h"
#include "ph_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A spelling and its length (clang-format would spread the macro over four lines). */
/* clang-format off */
#define AL(name) {name, sizeof(name) - 1}
/* clang-format on */
const ph_jalias ph_jmap_aliases[S_COUNT][MAX_ALIASES] = {
    [S_RECORD_ID] = {AL("record_id"), AL("id")},
    [S_TRACE_ID] = {AL("trace_id")},
    [S_SPAN_ID] = {AL("span_id")},
    [S_PARENT_SPAN_ID] = {AL("parent_span_id")},
    [S_SESSION_ID] = {AL("session_id")},
    [S_TURN] = {AL("turn")},
    [S_USER_ID] = {AL("user_id")},
    [S_APP] = {AL("app")},
    [S_ENVIRONMENT] = {AL("environment"), AL("env")},
    [S_ROUTE] = {AL("route")},
    [S_MODEL] = {AL("model")},
    [S_PROVIDER] = {AL("provider")},
    [S_START_TIME] = {AL("start_time")},
    [S_END_TIME] = {AL("end_time")},
    [S_LATENCY] = {AL("latency_ms")},
    [S_STATUS] = {AL("status")},
    [S_ERROR] = {AL("error")},
    [S_MESSAGES] = {AL("messages"), AL("input_messages"), AL("input"), AL("prompt")},
    [S_OUTPUT] = {AL("output"), AL("response"), AL("completion")},
    [S_FINISH_REASON] = {AL("finish_reason")},
    [S_CONTEXT] = {AL("context")},
    [S_USAGE] = {AL("usage")},
    [S_INPUT_TOKENS] = {AL("input_tokens")},
    [S_OUTPUT_TOKENS] = {AL("output_tokens")},
    [S_COST] = {AL("cost_usd"), AL("cost")},
    [S_METADATA] = {AL("metadata")},
    [S_TAGS] = {AL("tags")},
};
#undef AL

/* Optional text fields mapped one to one. */
static const struct {
    int slot;
    const char *avro;
} text_fields[] = {
    {S_ENVIRONMENT, "environment"},
    {S_ROUTE, "route"},
    {S_MODEL, "model"},
    {S_PROVIDER, "provider"},
    {S_FINISH_REASON, "finish_reason"},
};

static const struct {
    int slot;
    const char *avro;
} id_fields[] = {
    {S_TRACE_ID, "trace_id"},     {S_SPAN_ID, "span_id"}, {S_PARENT_SPAN_ID, "parent_span_id"},
    {S_SESSION_ID, "session_id"}, {S_USER_ID, "user_id"},
};

static bool find_key(const char *key, size_t len, int *slot, int *alias)
{
    for (int s = 0; s < S_COUNT; s++)
        for (int a = 0; a < MAX_ALIASES && ph_jmap_aliases[s][a].name; a++)
            if (ph_jmap_aliases[s][a].len == len &&
                memcmp(ph_jmap_aliases[s][a].name, key, len) == 0) {
                *slot = s;
                *alias = a;
                return true;
            }
    return false;
}

/* The preferred spelling present (not null) of a field; every other spelling present with a
 * different value is reported. *key gets the spelling used. */
const ph_jv *ph_jmap_pick(jmap *m, int s, const char **key)
{
    const ph_jv *v = NULL;
    for (int a = 0; a < MAX_ALIASES; a++) {
        const ph_jv *x = m->slot[s][a];
        if (!x)
            continue;
        if (!v) {
            v = x;
            *key = ph_jmap_aliases[s][a].name;
        } else if (!ph_jv_equal(v, x))
            ph_report(m->c, PH_R_CONFLICTING_ALIAS, PH_SEV_WARN, ph_jmap_aliases[s][a].name,
                      "differs from %s, which is used: ignored", *key);
    }
    return v;
}

/* ---- parsing ----------------------------------------------------------------------------- */

static void report_parse(ph_rctx *c, int rule, const ph_jproblem *pr)
{
    ph_report(c, rule, PH_SEV_FATAL, NULL, "line %d, column %d (byte %zu): %s", pr->line,
              pr->column, pr->offset, pr->text);
}

static bool lowered(const ph_rctx *c, int rule)
{
    return c->rules->sev[rule] == PH_SEV_WARN || c->rules->sev[rule] == PH_SEV_OFF;
}

/* Parses the record; reports what makes it unreadable, and what was only tolerated (duplicate
 * keys, bytes that are not UTF-8) when those rules are lowered. Returns the root or NULL. */
static const ph_jv *parse(ph_rctx *c, ph_jdoc *doc, const char *buf, size_t len, ph_buf *repaired)
{
    bool dup_reported = false;
    for (;;) {
        const ph_jv *root = NULL;
        ph_jproblem pr, dup;
        int rc = ph_jdoc_parse(doc, buf, len, lowered(c, PH_R_DUPLICATE_KEY), &root, &pr, &dup);
        if (dup.code && !dup_reported) { /* it came before any problem */
            report_parse(c, PH_R_DUPLICATE_KEY, &dup);
            dup_reported = true;
        }
        switch (rc) {
        case PH_JPARSE_OK:
            return root;
        case PH_JPARSE_NOMEM:
            c->err = PH_ENOMEM;
            return NULL;
        case PH_JPARSE_DUPLICATE:
            report_parse(c, PH_R_DUPLICATE_KEY, &pr);
            return NULL;
        case PH_JPARSE_UTF8:
            if (repaired->p) /* cannot happen after a repair; never loop */
                break;
            report_parse(c, PH_R_INVALID_UTF8, &pr);
            if (!lowered(c, PH_R_INVALID_UTF8))
                return NULL;
            /* Every invalid byte becomes U+FFFD, and the repaired text is read again. */
            if (ph_utf8_repair(repaired, buf, len)) {
                c->err = PH_ENOMEM;
                return NULL;
            }
            buf = repaired->p;
            len = repaired->len;
            continue;
        default:
            break;
        }
        report_parse(c, PH_R_INVALID_JSON, &pr);
        return NULL;
    }
}

/* ---- status, error ------------------------------------------------------------------------ */

/* error: {"type","message",...} or a string. Returns true if an error was stored. */
static bool map_error(jmap *m)
{
    ph_rctx *c = m->c;
    const char *key = "error";
    const ph_jv *v = ph_jmap_pick(m, S_ERROR, &key);
    avro_value_t f, rec, sub;
    ph_av_get(c, m->rec, "error", &f);
    if (!v)
        return false;
    if (!ph_jv_is_object(v) && !ph_jv_is_string(v)) {
        ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, key, "%s, not an object or a string: dropped",
                  ph_jv_type_name(v));
        return false;
    }
    if (!f.iface || avro_value_set_branch(&f, 1, &rec)) {
        c->err = c->err ? c->err : PH_EAVRO;
        return false;
    }
    ph_av_get(c, &rec, "type", &sub);
    ph_av_null(c, &sub);
    ph_av_get(c, &rec, "message", &sub);
    ph_av_null(c, &sub);
    if (ph_jv_is_string(v)) {
        if (v->n)
            ph_j_text(c, v, key, &sub);
        return true;
    }
    ph_buf name = {0};
    for (size_t i = 0; i < v->n; i++) {
        const char *k = v->u.members[i].key;
        size_t klen = v->u.members[i].klen;
        const ph_jv *x = &v->u.members[i].v;
        name.len = 0;
        if (ph_buf_append(&name, "error.", 6) || ph_buf_append(&name, k, klen)) {
            c->err = PH_ENOMEM;
            break;
        }
        bool is_type = klen == 4 && memcmp(k, "type", 4) == 0;
        if (is_type || (klen == 7 && memcmp(k, "message", 7) == 0)) {
            ph_av_get(c, &rec, is_type ? "type" : "message", &sub);
            if (!ph_jv_is_null(x) && !ph_j_text(c, x, name.p, &sub))
                ph_av_null(c, &sub);
        } else /* code, param, status...: kept as metadata */
            ph_j_meta_value(c, &m->meta, NULL, name.p, name.len, x, true);
    }
    ph_buf_free(&name);
    return true;
}

static void map_status(jmap *m, bool has_error)
{
    ph_rctx *c = m->c;
    const char *key = "status";
    const ph_jv *v = ph_jmap_pick(m, S_STATUS, &key);
    avro_value_t f;
    m->status = 0;
    if (ph_jv_is_string(v)) {
        char q[PH_QUOTE_BYTES + 4];
        m->status = ph_status_parse(v->u.s, v->n);
        if (!m->status)
            ph_report(c, PH_R_INVALID_VALUE, PH_SEV_WARN, key,
                      "\"%s\" is not ok, success, error or failed: ignored",
                      ph_quote(q, v->u.s, v->n));
    } else if (v)
        ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, key, "%s, not a string: ignored",
                  ph_jv_type_name(v));
    if (!m->status) /* a record that carries an error failed */
        m->status = has_error ? 2 : 1;
    ph_av_get(c, m->rec, "status", &f);
    ph_av_enum(c, &f, m->status == 1 ? 0 : 1);
}

/* A token count from the first usable spelling among cands (reported conflicts aside). */
static void map_tokens(jmap *m, const char *avro_name, const ph_jv *const cands[3],
                       const char *const names[3])
{
    ph_rctx *c = m->c;
    avro_value_t f;
    int used = -1;
    ph_av_get(c, m->rec, avro_name, &f);
    for (int i = 0; i < 3; i++) {
        if (!cands[i] || ph_jv_is_null(cands[i]))
            continue;
        if (used < 0)
            used = i;
        else if (!ph_jv_equal(cands[used], cands[i]))
            ph_report(c, PH_R_CONFLICTING_ALIAS, PH_SEV_WARN, names[i],
                      "differs from %s, which is used: ignored", names[used]);
    }
    int64_t n;
    if (used < 0)
        return;
    if (!ph_jv_int(cands[used], &n)) {
        ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, names[used], "%s, not an integer: dropped",
                  ph_jv_type_name(cands[used]));
        return;
    }
    if (ph_check_tokens(c, n, names[used]))
        ph_av_opt_long(c, &f, n);
}

static void map_usage(jmap *m)
{
    ph_rctx *c = m->c;
    const char *key = "usage";
    const ph_jv *u = ph_jmap_pick(m, S_USAGE, &key);
    if (u && !ph_jv_is_object(u)) {
        ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, key, "%s, not an object: dropped",
                  ph_jv_type_name(u));
        u = NULL;
    }
    const ph_jv *in[3] = {m->slot[S_INPUT_TOKENS][0], ph_jv_get(u, "input_tokens"),
                          ph_jv_get(u, "prompt_tokens")};
    const ph_jv *out[3] = {m->slot[S_OUTPUT_TOKENS][0], ph_jv_get(u, "output_tokens"),
                           ph_jv_get(u, "completion_tokens")};
    static const char *const in_names[3] = {"input_tokens", "usage.input_tokens",
                                            "usage.prompt_tokens"};
    static const char *const out_names[3] = {"output_tokens", "usage.output_tokens",
                                             "usage.completion_tokens"};
    map_tokens(m, "input_tokens", in, in_names);
    map_tokens(m, "output_tokens", out, out_names);
    if (!u)
        return;
    ph_buf name = {0};
    for (size_t i = 0; i < u->n; i++) {
        const char *k = u->u.members[i].key;
        size_t klen = u->u.members[i].klen;
        const ph_jv *x = &u->u.members[i].v;
        if ((klen == 12 && memcmp(k, "input_tokens", 12) == 0) ||
            (klen == 13 && memcmp(k, "prompt_tokens", 13) == 0) ||
            (klen == 13 && memcmp(k, "output_tokens", 13) == 0) ||
            (klen == 17 && memcmp(k, "completion_tokens", 17) == 0))
            continue;
        name.len = 0;
        if (ph_buf_append(&name, "usage.", 6) || ph_buf_append(&name, k, klen)) {
            c->err = PH_ENOMEM;
            break;
        }
        ph_j_meta_value(c, &m->meta, NULL, name.p, name.len, x, true);
    }
    ph_buf_free(&name);
}

static void map_turn(jmap *m)
{
    ph_rctx *c = m->c;
    const char *key = "turn";
    const ph_jv *v = ph_jmap_pick(m, S_TURN, &key);
    avro_value_t f;
    int64_t t;
    ph_av_get(c, m->rec, "turn", &f);
    if (!v)
        return;
    if (!ph_jv_int(v, &t))
        ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, key, "%s, not an integer: dropped",
                  ph_jv_type_name(v));
    else if (ph_check_turn(c, t, key))
        ph_av_opt_int(c, &f, (int32_t)t);
}

static bool number(jmap *m, int s, double *out, const char **key)
{
    const ph_jv *v = ph_jmap_pick(m, s, key);
    if (!v)
        return false;
    if (!ph_jv_is_number(v)) {
        ph_report(m->c, PH_R_WRONG_TYPE, PH_SEV_WARN, *key, "%s, not a number: dropped",
                  ph_jv_type_name(v));
        return false;
    }
    *out = ph_jv_number(v);
    return true;
}

static void map_times(jmap *m)
{
    ph_rctx *c = m->c;
    const char *key = "start_time";
    const ph_jv *v;
    int64_t start = 0, end = 0;
    double latency = 0;
    bool has_start = false, has_end = false, has_latency = false;
    avro_value_t f;
    if ((v = ph_jmap_pick(m, S_START_TIME, &key)))
        has_start = ph_j_time(c, v, key, &start);
    key = "end_time";
    if ((v = ph_jmap_pick(m, S_END_TIME, &key)))
        has_end = ph_j_time(c, v, key, &end);
    key = "latency_ms";
    if (number(m, S_LATENCY, &latency, &key))
        has_latency = ph_check_latency(c, latency, key);
    if (has_start && has_end && end < start) {
        ph_report(c, PH_R_IMPOSSIBLE_VALUE, PH_SEV_WARN, "end_time",
                  "end_time is %lld ms before start_time: dropped", (long long)(start - end));
        has_end = false;
    }
    if (has_start && has_end && !has_latency) {
        if ((double)(end - start) > PH_MAX_LATENCY_MS)
            ph_report(c, PH_R_IMPOSSIBLE_VALUE, PH_SEV_WARN, "end_time",
                      "end_time is more than 24 h after start_time: latency not computed");
        else {
            latency = (double)(end - start);
            has_latency = true;
        }
    }
    ph_av_get(c, m->rec, "start_time", &f);
    if (has_start)
        ph_av_opt_long(c, &f, start);
    ph_av_get(c, m->rec, "end_time", &f);
    if (has_end)
        ph_av_opt_long(c, &f, end);
    ph_av_get(c, m->rec, "latency_ms", &f);
    if (has_latency)
        ph_av_opt_double(c, &f, latency);
}

static void map_cost(jmap *m)
{
    const char *key = "cost_usd";
    double usd;
    avro_value_t f;
    ph_av_get(m->c, m->rec, "cost_usd", &f);
    if (number(m, S_COST, &usd, &key) && ph_check_cost(m->c, usd, key))
        ph_av_opt_double(m->c, &f, usd);
}

static void map_tags(jmap *m)
{
    ph_rctx *c = m->c;
    const char *key = "tags";
    const ph_jv *v = ph_jmap_pick(m, S_TAGS, &key);
    avro_value_t arr, e;
    char path[64];
    const char *s;
    size_t len;
    ph_av_get(c, m->rec, "tags", &arr);
    if (!v)
        return;
    if (!ph_jv_is_array(v) && !ph_jv_is_string(v)) {
        ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, key, "%s, not an array of strings: dropped",
                  ph_jv_type_name(v));
        return;
    }
    size_t n = ph_jv_is_array(v) ? v->n : 1;
    for (size_t i = 0; i < n; i++) {
        const ph_jv *t = ph_jv_is_array(v) ? &v->u.items[i] : v;
        if (ph_jv_is_array(v))
            ph_path_index(path, sizeof(path), key, i);
        else
            ph_path(path, sizeof(path), key, NULL);
        if (!ph_jv_is_string(t)) {
            ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, path, "%s, not a string: dropped",
                      ph_jv_type_name(t));
            continue;
        }
        ph_text_check(c, t->u.s, t->n, path, 0, &s, &len);
        if (len == 0) {
            ph_report(c, PH_R_EMPTY_FIELD, PH_SEV_WARN, path, "empty tag: dropped");
            continue;
        }
        if (ph_av_append(c, &arr, &e))
            ph_av_str(c, &e, s, len);
    }
}

/* ---- ids and transport fields ------------------------------------------------------------ */

/* record_id: the record's own, else the transport's; set early so that an invalid record still
 * carries it. */
static void map_record_id(jmap *m, const ph_raw_meta *meta)
{
    ph_rctx *c = m->c;
    const char *key = "record_id";
    const ph_jv *v = ph_jmap_pick(m, S_RECORD_ID, &key);
    avro_value_t f;
    const char *s;
    size_t len;
    ph_av_get(c, m->rec, "record_id", &f);
    if (v) {
        /* ph_j_id writes a union; record_id is a plain string, so go through a scratch union
         * only for numbers. */
        if (ph_jv_is_string(v) && v->n > 0) {
            ph_text_check(c, v->u.s, v->n, key, 0, &s, &len);
            if (len > 0) {
                ph_av_str(c, &f, s, len);
                return;
            }
        } else if (ph_jv_is(v, PH_JV_INT)) {
            char num[32];
            int n = snprintf(num, sizeof(num), "%lld", (long long)v->u.i);
            ph_text_check(c, num, (size_t)n, key, 0, &s, &len);
            ph_av_str(c, &f, s, len);
            return;
        }
        if (ph_jv_is_string(v))
            ph_report(c, PH_R_EMPTY_FIELD, PH_SEV_WARN, key, "empty id: the transport's is used");
        else
            ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, key,
                      "%s, not a string: the transport's id is used", ph_jv_type_name(v));
    }
    const char *id = meta && meta->record_id && *meta->record_id ? meta->record_id : NULL;
    const char *name = "meta.record_id";
    if (!id && meta && meta->fallback_record_id && *meta->fallback_record_id) {
        id = meta->fallback_record_id;
        name = "meta.fallback_record_id";
    }
    if (!id) {
        ph_report(c, PH_R_MISSING_FIELD, PH_SEV_FATAL, "record_id",
                  "no record_id in the record and none from the transport");
        ph_av_str(c, &f, "", 0);
        return;
    }
    ph_text_check(c, id, strlen(id), name, PH_TEXT_UTF8 | PH_TEXT_META, &s, &len);
    ph_av_str(c, &f, s, len);
}

static void map_app(jmap *m, const ph_raw_meta *meta)
{
    ph_rctx *c = m->c;
    const char *key = "app";
    const ph_jv *v = ph_jmap_pick(m, S_APP, &key);
    avro_value_t f;
    ph_av_get(c, m->rec, "app", &f);
    if (meta && meta->app && *meta->app) { /* the authenticated app wins */
        const char *s;
        size_t len;
        ph_text_check(c, meta->app, strlen(meta->app), "meta.app", PH_TEXT_UTF8 | PH_TEXT_META, &s,
                      &len);
        ph_av_opt_str(c, &f, s, len);
    } else if (v)
        ph_j_text(c, v, key, &f);
}

static void map_transport(jmap *m, const ph_raw_meta *meta)
{
    ph_rctx *c = m->c;
    avro_value_t f;
    const char *src =
        meta && meta->ingest_source && *meta->ingest_source ? meta->ingest_source : "kafka";
    const char *s;
    size_t len;
    ph_av_get(c, m->rec, "ingest_time", &f);
    ph_av_long(c, &f, c->now_ms);
    ph_av_get(c, m->rec, "ingest_source", &f);
    ph_text_check(c, src, strlen(src), "meta.ingest_source", PH_TEXT_UTF8 | PH_TEXT_META, &s, &len);
    ph_av_str(c, &f, s, len);
}

/* Explicit metadata first (it wins), then every unknown top-level field. */
static void map_metadata(jmap *m)
{
    const char *key = "metadata";
    const ph_jv *v = ph_jmap_pick(m, S_METADATA, &key);
    if (v)
        ph_j_metadata(m->c, v, key, &m->meta);
}

static void map_unknown(jmap *m, const ph_jv *root)
{
    for (size_t i = 0; i < root->n; i++) {
        const ph_jmember *x = &root->u.members[i];
        int slot, alias;
        if (i < 64 ? !(m->known >> i & 1) : !find_key(x->key, x->klen, &slot, &alias))
            ph_j_meta_value(m->c, &m->meta, NULL, x->key, x->klen, &x->v, true);
    }
}

static void map_fields(jmap *m, const ph_jv *root, const ph_raw_meta *meta)
{
    ph_rctx *c = m->c;
    avro_value_t f;
    map_record_id(m, meta);
    map_metadata(m);
    for (size_t i = 0; i < sizeof(id_fields) / sizeof(id_fields[0]); i++) {
        const char *key = ph_jmap_aliases[id_fields[i].slot][0].name;
        const ph_jv *v = ph_jmap_pick(m, id_fields[i].slot, &key);
        ph_av_get(c, m->rec, id_fields[i].avro, &f);
        if (v)
            ph_j_id(c, v, key, &f, PH_SEV_WARN);
    }
    map_app(m, meta);
    for (size_t i = 0; i < sizeof(text_fields) / sizeof(text_fields[0]); i++) {
        const char *key = ph_jmap_aliases[text_fields[i].slot][0].name;
        const ph_jv *v = ph_jmap_pick(m, text_fields[i].slot, &key);
        ph_av_get(c, m->rec, text_fields[i].avro, &f);
        if (v)
            ph_j_text(c, v, key, &f);
    }
    map_turn(m);
    map_status(m, map_error(m));
    ph_jmap_input(m);
    ph_jmap_output(m);
    ph_jmap_check_output(m);
    map_times(m);
    ph_jmap_context(m);
    map_usage(m);
    map_cost(m);
    map_tags(m);
    map_unknown(m, root);
    map_transport(m, meta);
}

int ph_record_from_json(const ph_rules *rules, const char *buf, size_t len, const ph_raw_meta *meta,
                        avro_value_t *llmlog, ph_issues *fatal, ph_issues *warnings)
{
    if (!rules || (!buf && len) || !llmlog || !fatal || !warnings)
        return PH_EINVAL;
    ph_rctx ctx;
    ph_buf repaired = {0};
    ph_jdoc doc;
    const ph_jv *root = NULL;
    jmap m;
    int64_t now = meta && meta->ingest_time_ms > 0 ? meta->ingest_time_ms : ph_now_ms();
    ph_rctx_init(&ctx, rules, fatal, warnings, now);
    ph_jdoc_init(&doc);
    memset(&m, 0, sizeof(m));
    m.c = &ctx;
    m.rec = llmlog;
    if (avro_value_reset(llmlog)) {
        ctx.err = PH_EAVRO;
        goto out;
    }
    ph_av_null_unions(&ctx, llmlog);
    if (len > rules->max_record_bytes &&
        ph_report(&ctx, PH_R_OVERSIZED_RECORD, PH_SEV_FATAL, NULL,
                  "%zu bytes, more than max_record_bytes %zu: not parsed", len,
                  rules->max_record_bytes) == PH_SEV_FATAL) {
        map_record_id(&m, meta);
        goto out;
    }
    root = parse(&ctx, &doc, buf ? buf : "", len, &repaired);
    if (!root) {
        map_record_id(&m, meta);
        goto out;
    }
    if (!ph_jv_is_object(root)) {
        ph_report(&ctx, PH_R_NOT_OBJECT, PH_SEV_FATAL, NULL, "the JSON value is %s, not an object",
                  ph_jv_type_name(root));
        map_record_id(&m, meta);
        goto out;
    }
    for (size_t i = 0; i < root->n; i++) {
        const ph_jmember *x = &root->u.members[i];
        int slot, alias;
        if (!find_key(x->key, x->klen, &slot, &alias))
            continue;
        if (i < 64)
            m.known |= 1ULL << i;
        if (!ph_jv_is_null(&x->v))
            m.slot[slot][alias] = &x->v;
    }
    ph_av_get(&ctx, llmlog, "metadata", &m.meta);
    map_fields(&m, root, meta);
    ph_av_quality(&ctx, llmlog);
out:
    ph_jdoc_free(&doc);
    ph_buf_free(&repaired);
    ph_rctx_done(&ctx);
    if (ctx.err)
        return ctx.err;
    return ctx.nfatal ? PH_EINVAL : 0;
}
