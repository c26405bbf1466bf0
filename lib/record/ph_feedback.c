/* Feedback JSON -> Feedback, and the Kafka key of a JSON record. Feedback arrives as a jansson
 * tree (the ingestor parses it): it is copied into a ph_jv document so that it is read by the
 * same field readers as log records. Feedback is rare; the copy costs nothing that matters. */
#include "ph_record_int.h"

#include "ph_error.h"
#include "ph_util.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

enum {
    F_ID,
    F_RECORD_ID,
    F_TRACE_ID,
    F_SESSION_ID,
    F_APP,
    F_ENVIRONMENT,
    F_SOURCE,
    F_AUTHOR,
    F_THUMBS,
    F_SCORE,
    F_LABEL,
    F_COMMENT,
    F_CORRECTED,
    F_TIME,
    F_METADATA,
    F_COUNT
};

#define F_ALIASES 3

static const char *const fb_aliases[F_COUNT][F_ALIASES] = {
    [F_ID] = {"feedback_id", "id"},
    [F_RECORD_ID] = {"record_id"},
    [F_TRACE_ID] = {"trace_id"},
    [F_SESSION_ID] = {"session_id"},
    [F_APP] = {"app"},
    [F_ENVIRONMENT] = {"environment", "env"},
    [F_SOURCE] = {"source"},
    [F_AUTHOR] = {"author_id", "user_id", "reviewer_id"},
    [F_THUMBS] = {"thumbs"},
    [F_SCORE] = {"score"},
    [F_LABEL] = {"label"},
    [F_COMMENT] = {"comment"},
    [F_CORRECTED] = {"corrected_output"},
    [F_TIME] = {"time"},
    [F_METADATA] = {"metadata"},
};

typedef struct fmap {
    ph_rctx *c;
    avro_value_t *rec;
    const ph_jv *slot[F_COUNT][F_ALIASES];
} fmap;

static bool fb_find(const char *key, size_t len, int *slot, int *alias)
{
    for (int s = 0; s < F_COUNT; s++)
        for (int a = 0; a < F_ALIASES && fb_aliases[s][a]; a++)
            if (strlen(fb_aliases[s][a]) == len && memcmp(fb_aliases[s][a], key, len) == 0) {
                *slot = s;
                *alias = a;
                return true;
            }
    return false;
}

/* The preferred spelling present; an empty string counts as absent (clients send "" for
 * "none"). Other spellings with a different value are errors. */
static const ph_jv *fb_pick(fmap *m, int s, const char **key)
{
    const ph_jv *v = NULL;
    *key = fb_aliases[s][0];
    for (int a = 0; a < F_ALIASES; a++) {
        const ph_jv *x = m->slot[s][a];
        if (!x || (ph_jv_is_string(x) && x->n == 0))
            continue;
        if (!v) {
            v = x;
            *key = fb_aliases[s][a];
        } else if (!ph_jv_equal(v, x))
            ph_report(m->c, PH_R_CONFLICTING_ALIAS, PH_SEV_FATAL, fb_aliases[s][a],
                      "differs from %s", *key);
    }
    return v;
}

/* fb_id and fb_text return whether the field was given (a wrong value is reported). */
static bool fb_id(fmap *m, int s, const char *avro_name)
{
    const char *key;
    avro_value_t f;
    const ph_jv *v = fb_pick(m, s, &key);
    ph_av_get(m->c, m->rec, avro_name, &f);
    if (v)
        ph_j_id(m->c, v, key, &f, PH_SEV_FATAL);
    return v != NULL;
}

static bool fb_text(fmap *m, int s, const char *avro_name)
{
    const char *key;
    avro_value_t f;
    const ph_jv *v = fb_pick(m, s, &key);
    ph_av_get(m->c, m->rec, avro_name, &f);
    if (v)
        ph_j_text(m->c, v, key, &f);
    return v != NULL;
}

static void fb_feedback_id(fmap *m, const char *assigned_id)
{
    const char *key, *s;
    size_t len;
    avro_value_t f;
    const ph_jv *v = fb_pick(m, F_ID, &key);
    ph_av_get(m->c, m->rec, "feedback_id", &f);
    if (ph_jv_is_string(v)) {
        ph_text_check(m->c, v->u.s, v->n, key, 0, &s, &len);
        ph_av_str(m->c, &f, s, len);
    } else if (ph_jv_is(v, PH_JV_INT)) {
        char num[32];
        int n = snprintf(num, sizeof(num), "%lld", (long long)v->u.i);
        ph_av_str(m->c, &f, num, (size_t)n);
    } else if (v)
        ph_report(m->c, PH_R_WRONG_TYPE, PH_SEV_FATAL, key, "%s, not a string", ph_jv_type_name(v));
    else if (assigned_id && *assigned_id) {
        ph_text_check(m->c, assigned_id, strlen(assigned_id), "feedback_id", PH_TEXT_UTF8, &s,
                      &len);
        ph_av_str(m->c, &f, s, len);
    } else
        ph_report(m->c, PH_R_MISSING_FIELD, PH_SEV_FATAL, "feedback_id",
                  "no feedback_id or id, and none assigned");
}

static void fb_source(fmap *m)
{
    const char *key;
    avro_value_t f;
    const ph_jv *v = fb_pick(m, F_SOURCE, &key);
    int sym = 0; /* USER */
    ph_av_get(m->c, m->rec, "source", &f);
    if (ph_jv_is_string(v)) {
        char q[PH_QUOTE_BYTES + 4];
        const char *s = v->u.s;
        if (strcasecmp(s, "reviewer") == 0)
            sym = 1;
        else if (strcasecmp(s, "user") != 0)
            ph_report(m->c, PH_R_INVALID_VALUE, PH_SEV_FATAL, key,
                      "\"%s\" is neither user nor reviewer", ph_quote(q, s, v->n));
    } else if (v)
        ph_report(m->c, PH_R_WRONG_TYPE, PH_SEV_FATAL, key, "%s, not a string", ph_jv_type_name(v));
    ph_av_enum(m->c, &f, sym);
}

static bool fb_thumbs(fmap *m)
{
    const char *key;
    avro_value_t f;
    const ph_jv *v = fb_pick(m, F_THUMBS, &key);
    ph_av_get(m->c, m->rec, "thumbs", &f);
    if (!v)
        return false;
    if (ph_jv_is_bool(v)) {
        ph_av_opt_bool(m->c, &f, v->type == PH_JV_TRUE);
        return true;
    }
    if (ph_jv_is_string(v)) {
        const char *s = v->u.s;
        char q[PH_QUOTE_BYTES + 4];
        if (strcasecmp(s, "up") == 0 || strcasecmp(s, "down") == 0) {
            ph_av_opt_bool(m->c, &f, strcasecmp(s, "up") == 0);
            return true;
        }
        ph_report(m->c, PH_R_INVALID_VALUE, PH_SEV_FATAL, key, "\"%s\" is neither up nor down",
                  ph_quote(q, s, v->n));
        return true; /* a judgement was meant: do not also report it missing */
    }
    ph_report(m->c, PH_R_WRONG_TYPE, PH_SEV_FATAL, key, "%s, not a boolean or \"up\"/\"down\"",
              ph_jv_type_name(v));
    return true;
}

static bool fb_score(fmap *m)
{
    const char *key;
    avro_value_t f;
    const ph_jv *v = fb_pick(m, F_SCORE, &key);
    ph_av_get(m->c, m->rec, "score", &f);
    if (!v)
        return false;
    if (ph_jv_is_number(v))
        ph_av_opt_double(m->c, &f, ph_jv_number(v));
    else
        ph_report(m->c, PH_R_WRONG_TYPE, PH_SEV_FATAL, key, "%s, not a number", ph_jv_type_name(v));
    return true;
}

static void fb_rest(fmap *m, const ph_jv *obj, const char *app_override)
{
    ph_rctx *c = m->c;
    const char *key, *s;
    size_t len;
    avro_value_t f, meta;
    const ph_jv *v;
    ph_av_get(c, m->rec, "app", &f);
    if (app_override && *app_override) {
        ph_text_check(c, app_override, strlen(app_override), "meta.app",
                      PH_TEXT_UTF8 | PH_TEXT_META, &s, &len);
        ph_av_opt_str(c, &f, s, len);
    } else
        fb_text(m, F_APP, "app");
    fb_text(m, F_ENVIRONMENT, "environment");
    fb_id(m, F_AUTHOR, "author_id");
    fb_text(m, F_CORRECTED, "corrected_output");
    ph_av_get(c, m->rec, "time", &f);
    int64_t t = c->now_ms;
    if ((v = fb_pick(m, F_TIME, &key)))
        ph_j_time(c, v, key, &t);
    ph_av_long(c, &f, t);
    ph_av_get(c, m->rec, "ingest_time", &f);
    ph_av_long(c, &f, c->now_ms);
    ph_av_get(c, m->rec, "metadata", &meta);
    if ((v = fb_pick(m, F_METADATA, &key)))
        ph_j_metadata(c, v, key, &meta);
    for (size_t i = 0; i < obj->n; i++) {
        const ph_jmember *x = &obj->u.members[i];
        int slot, alias;
        if (!fb_find(x->key, x->klen, &slot, &alias))
            ph_j_meta_value(c, &meta, NULL, x->key, x->klen, &x->v, true);
    }
}

int ph_feedback_from_json(json_t *obj, const char *app_override, int64_t ingest_time_ms,
                          const char *assigned_id, avro_value_t *feedback, ph_issues *errors)
{
    if (!feedback || !feedback->iface || !errors)
        return PH_EINVAL;
    /* Feedback has no warnings: a rule set where every rule is fatal puts every problem in
     * errors. Defaults otherwise. */
    ph_rules rules;
    ph_issues unused;
    ph_rctx ctx;
    ph_jdoc doc;
    const ph_jv *root = NULL;
    fmap m;
    memset(&rules, 0, sizeof(rules));
    rules.max_record_bytes = PH_RULES_DEFAULT_MAX_RECORD_BYTES;
    rules.max_field_bytes = PH_RULES_DEFAULT_MAX_FIELD_BYTES;
    rules.max_clock_skew_ms = PH_RULES_DEFAULT_MAX_CLOCK_SKEW_MS;
    memset(rules.sev, PH_SEV_FATAL, sizeof(rules.sev));
    ph_issues_init(&unused);
    ph_rctx_init(&ctx, &rules, errors, &unused, ingest_time_ms > 0 ? ingest_time_ms : ph_now_ms());
    ph_jdoc_init(&doc);
    memset(&m, 0, sizeof(m));
    m.c = &ctx;
    m.rec = feedback;
    if (avro_value_reset(feedback)) {
        ctx.err = PH_EAVRO;
        goto out;
    }
    ph_av_null_unions(&ctx, feedback);
    if (obj && !(root = ph_jdoc_from_jansson(&doc, obj))) {
        ctx.err = PH_ENOMEM;
        goto out;
    }
    if (!ph_jv_is_object(root)) {
        ph_report(&ctx, PH_R_NOT_OBJECT, PH_SEV_FATAL, NULL, "feedback is %s, not an object",
                  root ? ph_jv_type_name(root) : "missing");
        goto out;
    }
    for (size_t i = 0; i < root->n; i++) {
        const ph_jmember *x = &root->u.members[i];
        int slot, alias;
        if (!ph_jv_is_null(&x->v) && fb_find(x->key, x->klen, &slot, &alias))
            m.slot[slot][alias] = &x->v;
    }
    fb_feedback_id(&m, assigned_id);
    bool ref = fb_id(&m, F_RECORD_ID, "record_id");
    ref = fb_id(&m, F_TRACE_ID, "trace_id") || ref;
    ref = fb_id(&m, F_SESSION_ID, "session_id") || ref;
    if (!ref)
        ph_report(&ctx, PH_R_MISSING_FIELD, PH_SEV_FATAL, "record_id",
                  "feedback must name the record_id, trace_id or session_id it judges");
    fb_source(&m);
    bool judged = fb_thumbs(&m);
    judged = fb_score(&m) || judged;
    judged = fb_text(&m, F_LABEL, "label") || judged;
    judged = fb_text(&m, F_COMMENT, "comment") || judged;
    if (!judged)
        ph_report(&ctx, PH_R_MISSING_FIELD, PH_SEV_FATAL, "thumbs",
                  "feedback must carry at least one of thumbs, score, label or comment");
    fb_rest(&m, root, app_override);
out:
    ph_jdoc_free(&doc);
    ph_rctx_done(&ctx);
    ph_issues_free(&unused);
    if (ctx.err)
        return ctx.err;
    return ctx.nfatal ? PH_EINVAL : 0;
}

int ph_record_key(json_t *obj, const char **key)
{
    static const char *const names[] = {"session_id", "trace_id", "record_id", "id"};
    if (!json_is_object(obj) || !key)
        return PH_ENOENT;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        json_t *v = json_object_get(obj, names[i]);
        if (json_is_string(v) && json_string_length(v) > 0) {
            *key = json_string_value(v);
            return 0;
        }
    }
    return PH_ENOENT;
}
