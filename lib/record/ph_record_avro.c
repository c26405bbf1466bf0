/* The semantic rules applied to an LlmLog that arrived as Avro: the same checks and repairs as
 * the JSON path, in place. Type rules need no checking here (the schema enforces them); what
 * Avro does not enforce is checked: UTF-8, NUL characters, sizes, ranges, required content. */
#include "ph_record_int.h"

#include "ph_error.h"
#include "ph_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Field paths in issues use the Avro field names. */

/* Re-checks a string value in place; returns its (possibly repaired) text. */
static void check_str(ph_rctx *c, avro_value_t *v, const char *field, const char **out,
                      size_t *out_len)
{
    const char *s;
    size_t len;
    *out = "";
    *out_len = 0;
    if (!ph_av_get_str(c, v, &s, &len))
        return;
    if (ph_text_check(c, s, len, field, PH_TEXT_UTF8, out, out_len))
        ph_av_str(c, v, *out, *out_len);
}

/* The non-null branch of an optional field, or false (an unset union is set to null). */
static bool opt(ph_rctx *c, avro_value_t *rec, const char *name, avro_value_t *field,
                avro_value_t *branch)
{
    int disc = -1;
    if (!ph_av_get(c, rec, name, field))
        return false;
    if (avro_value_get_discriminant(field, &disc) || disc < 0) {
        ph_av_null(c, field);
        return false;
    }
    return ph_av_branch(c, field, branch);
}

/* An optional string: checked; empty is empty_field and nulled. Returns true if it stays. */
static bool opt_str(ph_rctx *c, avro_value_t *rec, const char *name, const char *field,
                    const char **s, size_t *len)
{
    avro_value_t f, b;
    if (!opt(c, rec, name, &f, &b))
        return false;
    check_str(c, &b, field, s, len);
    if (*len == 0) {
        ph_report(c, PH_R_EMPTY_FIELD, PH_SEV_WARN, field, "empty string: dropped");
        ph_av_null(c, &f);
        return false;
    }
    return true;
}

/* Rebuilds an array keeping the elements flagged in keep (avro-c cannot remove elements). Only
 * kept elements are copied: the others may hold unset unions, which avro-c cannot copy. */
static void array_keep(ph_rctx *c, avro_value_t *arr, const unsigned char *keep, size_t n)
{
    avro_schema_t schema = avro_value_get_schema(arr);
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t tmp, src, dst;
    if (!iface || avro_generic_value_new(iface, &tmp)) {
        c->err = c->err ? c->err : PH_EAVRO;
        avro_value_iface_decref(iface);
        return;
    }
    for (size_t i = 0; i < n && !c->err; i++) {
        if (!keep[i])
            continue;
        if (avro_value_get_by_index(arr, i, &src, NULL) || !ph_av_append(c, &tmp, &dst) ||
            avro_value_copy_fast(&dst, &src))
            c->err = c->err ? c->err : PH_EAVRO;
    }
    if (!c->err && (avro_value_reset(arr) || avro_value_copy_fast(arr, &tmp)))
        c->err = c->err ? c->err : PH_EAVRO;
    avro_value_decref(&tmp);
    avro_value_iface_decref(iface);
}

/* Returns the index of the first element to keep, reporting when there are too many. */
static size_t first_kept(ph_rctx *c, size_t n, size_t max, int rule, const char *field,
                         const char *what)
{
    if (n <= max)
        return 0;
    ph_report(c, rule, PH_SEV_WARN, field, "%zu %s: the first %zu dropped, the last %zu kept", n,
              what, n - max, max);
    return n - max;
}

static void check_ids(ph_rctx *c, avro_value_t *rec, const ph_raw_meta *meta)
{
    static const char *const ids[] = {"trace_id", "span_id",      "parent_span_id", "session_id",
                                      "user_id",  "environment",  "route",          "model",
                                      "provider", "finish_reason"};
    const char *s;
    size_t len;
    avro_value_t f;
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        opt_str(c, rec, ids[i], ids[i], &s, &len);

    ph_av_get(c, rec, "record_id", &f);
    check_str(c, &f, "record_id", &s, &len);
    if (len == 0) {
        const char *id = meta && meta->record_id && *meta->record_id ? meta->record_id : NULL;
        if (!id && meta && meta->fallback_record_id && *meta->fallback_record_id)
            id = meta->fallback_record_id;
        if (!id)
            ph_report(c, PH_R_MISSING_FIELD, PH_SEV_FATAL, "record_id",
                      "empty record_id and none from the transport");
        else {
            /* "" is how an Avro client says "no id" (the field is required): no warning */
            ph_text_check(c, id, strlen(id), "meta.record_id", PH_TEXT_UTF8 | PH_TEXT_META, &s,
                          &len);
            ph_av_str(c, &f, s, len);
        }
    }
    if (meta && meta->app && *meta->app) {
        ph_av_get(c, rec, "app", &f);
        ph_text_check(c, meta->app, strlen(meta->app), "meta.app", PH_TEXT_UTF8 | PH_TEXT_META, &s,
                      &len);
        ph_av_opt_str(c, &f, s, len);
    } else
        opt_str(c, rec, "app", "app", &s, &len);
}

static void check_numbers(ph_rctx *c, avro_value_t *rec)
{
    avro_value_t f, b;
    int32_t turn;
    int64_t n;
    double d;
    if (opt(c, rec, "turn", &f, &b) && !avro_value_get_int(&b, &turn) &&
        !ph_check_turn(c, turn, "turn"))
        ph_av_null(c, &f);
    if (opt(c, rec, "input_tokens", &f, &b) && !avro_value_get_long(&b, &n) &&
        !ph_check_tokens(c, n, "input_tokens"))
        ph_av_null(c, &f);
    if (opt(c, rec, "output_tokens", &f, &b) && !avro_value_get_long(&b, &n) &&
        !ph_check_tokens(c, n, "output_tokens"))
        ph_av_null(c, &f);
    if (opt(c, rec, "cost_usd", &f, &b) && !avro_value_get_double(&b, &d) &&
        !ph_check_cost(c, d, "cost_usd"))
        ph_av_null(c, &f);
}

static void check_times(ph_rctx *c, avro_value_t *rec)
{
    avro_value_t fs, fe, fl, b;
    int64_t start = 0, end = 0;
    double latency = 0;
    bool has_start = false, has_end = false, has_latency = false;
    if (opt(c, rec, "start_time", &fs, &b) && !avro_value_get_long(&b, &start)) {
        has_start = ph_check_time(c, start, true, "start_time");
        if (!has_start)
            ph_av_null(c, &fs);
    }
    if (opt(c, rec, "end_time", &fe, &b) && !avro_value_get_long(&b, &end)) {
        has_end = ph_check_time(c, end, true, "end_time");
        if (!has_end)
            ph_av_null(c, &fe);
    }
    if (opt(c, rec, "latency_ms", &fl, &b) && !avro_value_get_double(&b, &latency)) {
        has_latency = ph_check_latency(c, latency, "latency_ms");
        if (!has_latency)
            ph_av_null(c, &fl);
    }
    if (has_start && has_end && end < start) {
        ph_report(c, PH_R_IMPOSSIBLE_VALUE, PH_SEV_WARN, "end_time",
                  "end_time is %lld ms before start_time: dropped", (long long)(start - end));
        ph_av_null(c, &fe);
        has_end = false;
    }
    if (has_start && has_end && !has_latency) {
        if ((double)(end - start) > PH_MAX_LATENCY_MS)
            ph_report(c, PH_R_IMPOSSIBLE_VALUE, PH_SEV_WARN, "end_time",
                      "end_time is more than 24 h after start_time: latency not computed");
        else
            ph_av_opt_double(c, &fl, (double)(end - start));
    }
}

/* Returns the status: 1 OK, 2 ERROR. */
static int check_status(ph_rctx *c, avro_value_t *rec)
{
    avro_value_t f, b;
    int st = 0;
    const char *s;
    size_t len;
    ph_av_get(c, rec, "status", &f);
    if (f.iface && avro_value_get_enum(&f, &st))
        st = 0;
    if (opt(c, rec, "error", &f, &b)) {
        opt_str(c, &b, "type", "error.type", &s, &len);
        opt_str(c, &b, "message", "error.message", &s, &len);
    }
    return st == 1 ? 2 : 1;
}

static void check_messages(ph_rctx *c, avro_value_t *rec)
{
    avro_value_t arr, e, f;
    size_t n = 0;
    bool has_content = false;
    char field[64], q[PH_QUOTE_BYTES + 4];
    const char *s;
    size_t len;
    if (!ph_av_get(c, rec, "input_messages", &arr) || avro_value_get_size(&arr, &n))
        return;
    size_t first = first_kept(c, n, c->rules->max_messages, PH_R_TOO_MANY_MESSAGES,
                              "input_messages", "messages");
    for (size_t i = first; i < n && !c->err; i++) {
        if (avro_value_get_by_index(&arr, i, &e, NULL)) {
            c->err = PH_EAVRO;
            break;
        }
        snprintf(field, sizeof(field), "input_messages[%zu].role", i);
        ph_av_get(c, &e, "role", &f);
        check_str(c, &f, field, &s, &len);
        const char *canon = ph_role_match(c->rules, s, len);
        if (!canon)
            ph_report(c, PH_R_UNKNOWN_ROLE, PH_SEV_WARN, field,
                      "role \"%s\" is not one of the configured roles: kept", ph_quote(q, s, len));
        else if (memcmp(canon, s, len) != 0)
            ph_av_str(c, &f, canon, len);
        snprintf(field, sizeof(field), "input_messages[%zu].content", i);
        ph_av_get(c, &e, "content", &f);
        check_str(c, &f, field, &s, &len);
        if (!ph_blank(s, len))
            has_content = true;
        snprintf(field, sizeof(field), "input_messages[%zu].name", i);
        opt_str(c, &e, "name", field, &s, &len);
    }
    if (first > 0 && !c->err) {
        unsigned char *keep = calloc(n, 1);
        if (!keep) {
            c->err = PH_ENOMEM;
            return;
        }
        memset(keep + first, 1, n - first);
        array_keep(c, &arr, keep, n);
        free(keep);
    }
    if (n == 0)
        ph_report(c, PH_R_MISSING_FIELD, PH_SEV_FATAL, "input_messages",
                  "no input: input_messages is empty");
    else if (!has_content)
        ph_report(c, PH_R_EMPTY_FIELD, PH_SEV_FATAL, "input_messages",
                  "no message with non-blank content: no input");
}

static void check_output(ph_rctx *c, avro_value_t *rec, int status)
{
    avro_value_t f, b;
    const char *s;
    size_t len;
    if (!opt(c, rec, "output", &f, &b)) {
        if (status == 1)
            ph_report(c, PH_R_MISSING_FIELD, PH_SEV_FATAL, "output",
                      "no output although the call succeeded");
        return;
    }
    check_str(c, &b, "output", &s, &len);
    if (status == 1 && ph_blank(s, len))
        ph_report(c, PH_R_EMPTY_FIELD, PH_SEV_FATAL, "output",
                  "the output of a successful call is empty");
}

static void check_context(ph_rctx *c, avro_value_t *rec)
{
    avro_value_t arr, e, f, b;
    size_t n = 0;
    char field[64];
    const char *s;
    size_t len;
    double score;
    if (!ph_av_get(c, rec, "context", &arr) || avro_value_get_size(&arr, &n) || n == 0)
        return;
    unsigned char *keep = calloc(n, 1);
    if (!keep) {
        c->err = PH_ENOMEM;
        return;
    }
    size_t first =
        first_kept(c, n, c->rules->max_context, PH_R_TOO_MANY_CONTEXT, "context", "passages");
    bool drop = first > 0;
    for (size_t i = first; i < n && !c->err; i++) {
        if (avro_value_get_by_index(&arr, i, &e, NULL)) {
            c->err = PH_EAVRO;
            break;
        }
        keep[i] = 1;
        snprintf(field, sizeof(field), "context[%zu].content", i);
        ph_av_get(c, &e, "content", &f);
        check_str(c, &f, field, &s, &len);
        if (len == 0) {
            ph_report(c, PH_R_EMPTY_FIELD, PH_SEV_WARN, field, "empty passage: dropped");
            keep[i] = 0;
            drop = true;
            continue;
        }
        snprintf(field, sizeof(field), "context[%zu].id", i);
        opt_str(c, &e, "id", field, &s, &len);
        snprintf(field, sizeof(field), "context[%zu].source", i);
        opt_str(c, &e, "source", field, &s, &len);
        snprintf(field, sizeof(field), "context[%zu].score", i);
        if (opt(c, &e, "score", &f, &b) && !avro_value_get_double(&b, &score) &&
            !ph_check_score(c, score, field))
            ph_av_null(c, &f);
    }
    if (drop && !c->err)
        array_keep(c, &arr, keep, n);
    free(keep);
}

static void check_tags(ph_rctx *c, avro_value_t *rec)
{
    avro_value_t arr, e;
    size_t n = 0;
    char field[64];
    const char *s;
    size_t len;
    bool drop = false;
    if (!ph_av_get(c, rec, "tags", &arr) || avro_value_get_size(&arr, &n) || n == 0)
        return;
    unsigned char *keep = calloc(n, 1);
    if (!keep) {
        c->err = PH_ENOMEM;
        return;
    }
    for (size_t i = 0; i < n && !c->err; i++) {
        if (avro_value_get_by_index(&arr, i, &e, NULL)) {
            c->err = PH_EAVRO;
            break;
        }
        snprintf(field, sizeof(field), "tags[%zu]", i);
        check_str(c, &e, field, &s, &len);
        keep[i] = len > 0;
        if (!keep[i]) {
            ph_report(c, PH_R_EMPTY_FIELD, PH_SEV_WARN, field, "empty tag: dropped");
            drop = true;
        }
    }
    if (drop && !c->err)
        array_keep(c, &arr, keep, n);
    free(keep);
}

/* Keys that are not valid UTF-8 or too long must be renamed: a map cannot rename in place, so
 * it is rebuilt. */
static void rebuild_map(ph_rctx *c, avro_value_t *map, size_t n)
{
    avro_schema_t schema = avro_value_get_schema(map);
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t tmp, src;
    const char *key, *v;
    size_t vlen;
    if (!iface || avro_generic_value_new(iface, &tmp)) {
        c->err = c->err ? c->err : PH_EAVRO;
        avro_value_iface_decref(iface);
        return;
    }
    if (avro_value_copy_fast(&tmp, map) || avro_value_reset(map))
        c->err = c->err ? c->err : PH_EAVRO;
    for (size_t i = 0; i < n && !c->err; i++) {
        if (avro_value_get_by_index(&tmp, i, &src, &key) || !ph_av_get_str(c, &src, &v, &vlen)) {
            c->err = c->err ? c->err : PH_EAVRO;
            break;
        }
        /* ph_meta_put checks and repairs both key and value. */
        ph_meta_put(c, map, "metadata", key, strlen(key), v, vlen, PH_TEXT_UTF8);
    }
    avro_value_decref(&tmp);
    avro_value_iface_decref(iface);
}

static void check_metadata(ph_rctx *c, avro_value_t *rec)
{
    avro_value_t map, v;
    size_t n = 0;
    const char *key, *s;
    size_t len;
    char field[PH_QUOTE_BYTES + 16], q[PH_QUOTE_BYTES + 4];
    if (!ph_av_get(c, rec, "metadata", &map) || avro_value_get_size(&map, &n) || n == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (avro_value_get_by_index(&map, i, &v, &key)) {
            c->err = PH_EAVRO;
            return;
        }
        size_t klen = strlen(key);
        if (!ph_utf8_valid(key, klen) || klen > c->rules->max_field_bytes) {
            rebuild_map(c, &map, n);
            return;
        }
    }
    for (size_t i = 0; i < n && !c->err; i++) {
        if (avro_value_get_by_index(&map, i, &v, &key)) {
            c->err = PH_EAVRO;
            return;
        }
        snprintf(field, sizeof(field), "metadata.%s", ph_quote(q, key, strlen(key)));
        check_str(c, &v, field, &s, &len);
    }
}

int ph_record_check_avro(const ph_rules *rules, avro_value_t *llmlog, const ph_raw_meta *meta,
                         ph_issues *fatal, ph_issues *warnings)
{
    if (!rules || !llmlog || !llmlog->iface || !fatal || !warnings)
        return PH_EINVAL;
    ph_rctx ctx;
    ph_rctx *c = &ctx;
    avro_value_t f;
    int64_t now = meta && meta->ingest_time_ms > 0 ? meta->ingest_time_ms : ph_now_ms();
    const char *src =
        meta && meta->ingest_source && *meta->ingest_source ? meta->ingest_source : "kafka";
    const char *s;
    size_t len;
    ph_rctx_init(c, rules, fatal, warnings, now);
    check_ids(c, llmlog, meta);
    check_numbers(c, llmlog);
    check_times(c, llmlog);
    int status = check_status(c, llmlog);
    check_messages(c, llmlog);
    check_output(c, llmlog, status);
    check_context(c, llmlog);
    check_metadata(c, llmlog);
    check_tags(c, llmlog);
    ph_av_get(c, llmlog, "ingest_time", &f);
    ph_av_long(c, &f, now);
    ph_av_get(c, llmlog, "ingest_source", &f);
    ph_text_check(c, src, strlen(src), "meta.ingest_source", PH_TEXT_UTF8 | PH_TEXT_META, &s, &len);
    ph_av_str(c, &f, s, len);
    ph_av_quality(c, llmlog);
    ph_rctx_done(c);
    if (ctx.err)
        return ctx.err;
    return ctx.nfatal ? PH_EINVAL : 0;
}
