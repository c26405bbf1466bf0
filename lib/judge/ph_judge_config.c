/* The "judge" config object (docs/judge.md): top-level keys, criteria, filters, gates; and the
 * selection predicates they define. Every key is checked against a list: a typo is an error at
 * start-up, not a criterion that silently never runs. */
#include "ph_judge_int.h"

#include "ph_error.h"

#include <ctype.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static int check_keys(const json_t *obj, const char *const *allowed, const char *where,
                      char *errstr, size_t errstr_size)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        (void)value;
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key) != 0)
            i++;
        if (!allowed[i])
            return ph_err(errstr, errstr_size, PH_EINVAL, "%s: unknown key \"%s\"", where, key);
    }
    return PH_OK;
}

static int get_int(const json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out,
                   const char *where, char *errstr, size_t errstr_size)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return PH_OK; /* keep the default */
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s: %s must be an integer from %lld to %lld",
                      where, key, (long long)min, (long long)max);
    *out = json_integer_value(v);
    return PH_OK;
}

static int get_num(const json_t *obj, const char *key, double min, double max, double *out,
                   const char *where, char *errstr, size_t errstr_size)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return PH_OK;
    if (!json_is_number(v) || json_number_value(v) < min || json_number_value(v) > max)
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s: %s must be a number from %g to %g",
                      where, key, min, max);
    *out = json_number_value(v);
    return PH_OK;
}

/* *out is replaced by a malloc'ed copy when the key is present. */
static int get_str(const json_t *obj, const char *key, char **out, const char *where, char *errstr,
                   size_t errstr_size)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return PH_OK;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s: %s must be a non-empty string", where,
                      key);
    char *copy = strdup(json_string_value(v));
    if (!copy)
        return PH_ENOMEM;
    free(*out);
    *out = copy;
    return PH_OK;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* A string or an array of strings, into a malloc'ed vector. */
static int get_strv(const json_t *v, char ***out, size_t *nout, size_t max_len, const char *what,
                    char *errstr, size_t errstr_size)
{
    size_t n = json_is_string(v) ? 1 : json_is_array(v) ? json_array_size(v) : 0;
    if (!json_is_string(v) && !json_is_array(v))
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s must be a string or a list of strings",
                      what);
    char **strv = calloc(n ? n : 1, sizeof(*strv));
    if (!strv)
        return PH_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_is_string(v) ? v : json_array_get(v, i);
        if (!json_is_string(s) || json_string_length(s) == 0 || json_string_length(s) >= max_len) {
            strv_free(strv, i);
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "%s: entries must be non-empty strings shorter than %zu bytes", what,
                          max_len);
        }
        strv[i] = strdup(json_string_value(s));
        if (!strv[i]) {
            strv_free(strv, i);
            return PH_ENOMEM;
        }
    }
    *out = strv;
    *nout = n;
    return PH_OK;
}

static const char *const filter_fields[PH_JUDGE_F_COUNT] = {"app", "model", "environment"};

static int parse_filter(ph_judge_filter *f, const json_t *obj, const char *where, char *errstr,
                        size_t errstr_size)
{
    static const char *const keys[] = {
        "app", "model", "environment", "exclude_app", "exclude_model", "exclude_environment", NULL};
    char what[128];
    if (!obj)
        return PH_OK;
    if (!json_is_object(obj))
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s: filters must be an object", where);
    int rc = check_keys(obj, keys, where, errstr, errstr_size);
    for (int i = 0; rc == PH_OK && i < PH_JUDGE_F_COUNT; i++) {
        const json_t *inc = json_object_get(obj, filter_fields[i]);
        snprintf(what, sizeof(what), "%s: filters.%s", where, filter_fields[i]);
        if (inc)
            rc = get_strv(inc, &f->include[i], &f->ninclude[i], 256, what, errstr, errstr_size);
        char key[48];
        snprintf(key, sizeof(key), "exclude_%s", filter_fields[i]);
        const json_t *exc = json_object_get(obj, key);
        snprintf(what, sizeof(what), "%s: filters.%s", where, key);
        if (rc == PH_OK && exc)
            rc = get_strv(exc, &f->exclude[i], &f->nexclude[i], 256, what, errstr, errstr_size);
    }
    return rc;
}

static void filter_free(ph_judge_filter *f)
{
    for (int i = 0; i < PH_JUDGE_F_COUNT; i++) {
        strv_free(f->include[i], f->ninclude[i]);
        strv_free(f->exclude[i], f->nexclude[i]);
    }
    memset(f, 0, sizeof(*f));
}

static bool matches_any(char *const *patterns, size_t n, const char *value)
{
    for (size_t i = 0; i < n; i++)
        if (fnmatch(patterns[i], value, 0) == 0)
            return true;
    return false;
}

bool ph_judge_filter_admits(const ph_judge_filter *f, const ph_eval_record *rec)
{
    const char *values[PH_JUDGE_F_COUNT] = {rec->app.s ? rec->app.s : "",
                                            rec->model.s ? rec->model.s : "",
                                            rec->environment.s ? rec->environment.s : ""};
    for (int i = 0; i < PH_JUDGE_F_COUNT; i++) {
        if (f->ninclude[i] && !matches_any(f->include[i], f->ninclude[i], values[i]))
            return false;
        if (matches_any(f->exclude[i], f->nexclude[i], values[i]))
            return false;
    }
    return true;
}

bool ph_judge_sampled(const ph_eval_record *rec, double rate)
{
    if (rate >= 1.0)
        return true;
    if (rate <= 0.0)
        return false;
    /* Unseeded on purpose: every criterion maps an id to the same point in [0, 1), so lower
     * rates select subsets of higher ones and criteria sampled alike judge the same records. */
    uint64_t h = XXH3_64bits(rec->record_id.s ? rec->record_id.s : "", rec->record_id.len);
    return (double)(h >> 11) * 0x1.0p-53 < rate;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

int ph_judge_cond_parse(ph_judge_cond *c, const char *text, char *errstr, size_t errstr_size)
{
    char buf[256];
    ph_judge_cond cond;
    memset(&cond, 0, sizeof(cond));
    if (snprintf(buf, sizeof(buf), "%s", text) >= (int)sizeof(buf))
        return ph_err(errstr, errstr_size, PH_EINVAL, "gate \"%.40s...\": too long", text);
    char *op = strpbrk(buf, "<>=!");
    if (!op)
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "gate \"%s\": no operator (one of < <= > >= == !=)", text);
    size_t oplen = op[1] == '=' ? 2 : 1;
    if (op[0] == '<')
        cond.op = oplen == 2 ? PH_JUDGE_OP_LE : PH_JUDGE_OP_LT;
    else if (op[0] == '>')
        cond.op = oplen == 2 ? PH_JUDGE_OP_GE : PH_JUDGE_OP_GT;
    else if (oplen == 2)
        cond.op = op[0] == '=' ? PH_JUDGE_OP_EQ : PH_JUDGE_OP_NE;
    else
        return ph_err(errstr, errstr_size, PH_EINVAL, "gate \"%s\": bad operator", text);
    *op = '\0';
    char *left = trim(buf);
    char *right = trim(op + oplen);
    size_t rlen = strlen(right);
    if (rlen >= 2 && (right[0] == '"' || right[0] == '\'') && right[rlen - 1] == right[0]) {
        right[rlen - 1] = '\0';
        right++;
    }
    char *dot = strrchr(left, '.');
    if (!dot || dot == left || !*right || strpbrk(right, "<>=!"))
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "gate \"%s\": expected <evaluator>.<score|label|passed> <op> <value>", text);
    *dot = '\0';
    const char *field = dot + 1;
    if (strlen(left) >= sizeof(cond.evaluator))
        return ph_err(errstr, errstr_size, PH_EINVAL, "gate \"%s\": evaluator name too long", text);
    snprintf(cond.evaluator, sizeof(cond.evaluator), "%s", left);
    bool eq_only = cond.op == PH_JUDGE_OP_EQ || cond.op == PH_JUDGE_OP_NE;
    if (strcmp(field, "score") == 0) {
        char *end;
        cond.field = PH_JUDGE_FIELD_SCORE;
        cond.num = strtod(right, &end);
        if (*end || !isfinite(cond.num))
            return ph_err(errstr, errstr_size, PH_EINVAL, "gate \"%s\": score needs a number",
                          text);
    } else if (strcmp(field, "label") == 0) {
        cond.field = PH_JUDGE_FIELD_LABEL;
        if (!eq_only || strlen(right) >= sizeof(cond.label))
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "gate \"%s\": a label compares with == or != to a short string", text);
        snprintf(cond.label, sizeof(cond.label), "%s", right);
    } else if (strcmp(field, "passed") == 0) {
        cond.field = PH_JUDGE_FIELD_PASSED;
        bool yes = !strcmp(right, "true") || !strcmp(right, "1");
        bool no = !strcmp(right, "false") || !strcmp(right, "0");
        if (!eq_only || (!yes && !no))
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "gate \"%s\": passed compares with == or != to true or false", text);
        cond.num = yes ? 1 : 0;
    } else {
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "gate \"%s\": field \"%s\" is not score, label or passed", text, field);
    }
    *c = cond;
    return PH_OK;
}

static bool compare(double a, ph_judge_op op, double b)
{
    switch (op) {
    case PH_JUDGE_OP_LT:
        return a < b;
    case PH_JUDGE_OP_LE:
        return a <= b;
    case PH_JUDGE_OP_GT:
        return a > b;
    case PH_JUDGE_OP_GE:
        return a >= b;
    case PH_JUDGE_OP_EQ:
        return a == b;
    case PH_JUDGE_OP_NE:
        return a != b;
    }
    return false;
}

/* A condition on a result that is missing, not OK, or lacks the field is false: a gate selects
 * on evidence, never on its absence. */
static bool cond_holds(const ph_judge_cond *c, const ph_eval_result *cheap, size_t ncheap)
{
    for (size_t i = 0; i < ncheap; i++) {
        const ph_eval_result *r = &cheap[i];
        if (r->status != PH_EVAL_OK || strcmp(r->evaluator, c->evaluator) != 0)
            continue;
        switch (c->field) {
        case PH_JUDGE_FIELD_SCORE:
            return r->has_score && compare(r->score, c->op, c->num);
        case PH_JUDGE_FIELD_LABEL:
            return r->label[0] && (strcmp(r->label, c->label) == 0) == (c->op == PH_JUDGE_OP_EQ);
        case PH_JUDGE_FIELD_PASSED:
            return r->passed >= 0 && compare(r->passed, c->op, c->num);
        }
    }
    return false;
}

bool ph_judge_gate_admits(const ph_judge_gate *g, const ph_eval_result *cheap, size_t ncheap)
{
    if (g->n == 0)
        return true;
    for (size_t i = 0; i < g->n; i++) {
        bool holds = cond_holds(&g->conds[i], cheap, ncheap);
        if (holds && g->any)
            return true;
        if (!holds && !g->any)
            return false;
    }
    return !g->any;
}

/* "cond", ["cond", ...] (all), {"all": [...]} or {"any": [...]}. */
static int parse_gate(ph_judge_gate *g, const json_t *v, const char *where, char *errstr,
                      size_t errstr_size)
{
    char **texts = NULL;
    size_t n = 0;
    char what[160];
    int rc = PH_OK;
    if (!v)
        return PH_OK;
    snprintf(what, sizeof(what), "%s: gate", where);
    if (json_is_object(v)) {
        const json_t *any = json_object_get(v, "any"), *all = json_object_get(v, "all");
        if (json_object_size(v) != 1 || (!any && !all))
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "%s: gate object must be {\"any\": [...]} or {\"all\": [...]}", where);
        g->any = any != NULL;
        v = any ? any : all;
    }
    rc = get_strv(v, &texts, &n, 256, what, errstr, errstr_size);
    if (rc != PH_OK)
        return rc;
    g->conds = calloc(n ? n : 1, sizeof(*g->conds));
    if (!g->conds) {
        rc = PH_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char e[PH_ERRSTR_SIZE];
        rc = ph_judge_cond_parse(&g->conds[i], texts[i], e, sizeof(e));
        if (rc != PH_OK) {
            ph_err(errstr, errstr_size, rc, "%s: %s", where, e);
            goto out;
        }
    }
    g->n = n;
out:
    strv_free(texts, n);
    return rc;
}

/* The 8-hex-digit part of a version: XXH3 of the canonical JSON of what shapes the verdict. */
static int version_of(ph_judge_criterion *c, json_t *effective)
{
    char *canon = json_dumps(effective, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(effective);
    if (!canon)
        return PH_ENOMEM;
    uint64_t h = XXH3_64bits(canon, strlen(canon));
    free(canon);
    snprintf(c->version, sizeof(c->version), "%s.%08x", PH_JUDGE_CODE_VERSION, (unsigned)(h >> 32));
    char salt[PH_EVAL_NAME_MAX + PH_EVAL_VERSION_MAX];
    int n = snprintf(salt, sizeof(salt), "%s/%s", c->result_name, c->version);
    c->key_salt = XXH3_64bits(salt, (size_t)n);
    return PH_OK;
}

static json_t *labels_json(char *const *labels, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(labels[i]));
    return a;
}

/* The template: a built-in's name, a custom {system, user, score_min, score_max, labels}, or
 * absent (the built-in named like the criterion). */
static int parse_template(ph_judge_criterion *c, const json_t *t, const char **system,
                          const char **user, const char *where, char *errstr, size_t errstr_size)
{
    static const char *const keys[] = {"system", "user", "score_min", "score_max", "labels", NULL};
    const ph_judge_builtin *b = NULL;
    if (!t || json_is_string(t)) {
        const char *name = t ? json_string_value(t) : c->name;
        b = ph_judge_builtin_find(name);
        if (!b)
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "%s: no built-in template \"%s\" (give a template object)", where, name);
        *system = b->system;
        *user = b->user;
        c->score_min = b->score_min;
        c->score_max = b->score_max;
        for (size_t i = 0; i < 6 && b->labels[i]; i++)
            c->nlabels++;
        c->labels = calloc(c->nlabels + 1, sizeof(*c->labels));
        if (!c->labels)
            return PH_ENOMEM;
        for (size_t i = 0; i < c->nlabels; i++)
            if (!(c->labels[i] = strdup(b->labels[i])))
                return PH_ENOMEM;
        c->has_pass_min = b->has_pass_min;
        c->has_pass_max = b->has_pass_max;
        c->pass_min = b->pass_min;
        c->pass_max = b->pass_max;
        return PH_OK;
    }
    if (!json_is_object(t))
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "%s: template must be a built-in's name or an object", where);
    int rc = check_keys(t, keys, where, errstr, errstr_size);
    const json_t *sys = json_object_get(t, "system"), *usr = json_object_get(t, "user");
    if (rc == PH_OK && (!json_is_string(sys) || !json_is_string(usr)))
        rc = ph_err(errstr, errstr_size, PH_EINVAL,
                    "%s: a custom template needs \"system\" and \"user\" strings", where);
    c->score_min = 0;
    c->score_max = 1;
    if (rc == PH_OK)
        rc = get_num(t, "score_min", -1e9, 1e9, &c->score_min, where, errstr, errstr_size);
    if (rc == PH_OK)
        rc = get_num(t, "score_max", -1e9, 1e9, &c->score_max, where, errstr, errstr_size);
    if (rc == PH_OK && c->score_min >= c->score_max)
        rc = ph_err(errstr, errstr_size, PH_EINVAL, "%s: score_min must be below score_max", where);
    if (rc == PH_OK && json_object_get(t, "labels")) {
        char what[160];
        snprintf(what, sizeof(what), "%s: labels", where);
        rc = get_strv(json_object_get(t, "labels"), &c->labels, &c->nlabels, PH_EVAL_LABEL_MAX,
                      what, errstr, errstr_size);
    }
    if (rc == PH_OK && strstr(json_string_value(sys), "{{"))
        rc = ph_err(errstr, errstr_size, PH_EINVAL,
                    "%s: placeholders go in the user prompt, not the system prompt", where);
    if (rc == PH_OK) {
        *system = json_string_value(sys);
        *user = json_string_value(usr);
    }
    return rc;
}

static int parse_llm(ph_judge_criterion *c, const json_t *obj, const ph_judge_config *cfg,
                     double temperature, int64_t max_tokens, const char *where, char *errstr,
                     size_t errstr_size)
{
    const char *system = NULL, *user = NULL;
    int rc = parse_template(c, json_object_get(obj, "template"), &system, &user, where, errstr,
                            errstr_size);
    if (rc != PH_OK)
        return rc;
    if (json_object_get(obj, "pass_min")) {
        c->has_pass_min = true;
        c->has_pass_max = false;
    }
    if (json_object_get(obj, "pass_max")) {
        c->has_pass_max = true;
        c->has_pass_min = json_object_get(obj, "pass_min") != NULL;
    }
    rc = get_num(obj, "pass_min", -1e9, 1e9, &c->pass_min, where, errstr, errstr_size);
    if (rc == PH_OK)
        rc = get_num(obj, "pass_max", -1e9, 1e9, &c->pass_max, where, errstr, errstr_size);
    if (rc == PH_OK)
        rc = get_num(obj, "temperature", 0, 2, &temperature, where, errstr, errstr_size);
    if (rc == PH_OK)
        rc = get_int(obj, "max_tokens", 16, 100000, &max_tokens, where, errstr, errstr_size);
    if (rc != PH_OK)
        return rc;
    c->temperature = temperature;
    c->max_tokens = (int)max_tokens;
    char e[PH_ERRSTR_SIZE];
    rc = ph_judge_template_needs(user, &c->needs, e, sizeof(e));
    if (rc != PH_OK)
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s: %s", where, e);
    c->system = ph_judge_system_prompt(system, c->score_min, c->score_max, c->labels, c->nlabels);
    c->user = strdup(user);
    if (!c->system || !c->user)
        return PH_ENOMEM;
    json_t *eff = json_pack(
        "{s:s, s:s, s:s, s:s, s:f, s:i, s:f, s:f, s:o, s:b, s:I}", "type", "llm", "system",
        c->system, "user", c->user, "model", c->model, "temperature", c->temperature, "max_tokens",
        c->max_tokens, "score_min", c->score_min, "score_max", c->score_max, "labels",
        labels_json(c->labels, c->nlabels), "response_format", cfg->response_format,
        "max_field_bytes", (json_int_t)cfg->max_field_bytes);
    if (eff && c->has_pass_min)
        json_object_set_new(eff, "pass_min", json_real(c->pass_min));
    if (eff && c->has_pass_max)
        json_object_set_new(eff, "pass_max", json_real(c->pass_max));
    return eff ? version_of(c, eff) : PH_ENOMEM;
}

static int parse_embedding(ph_judge_criterion *c, const json_t *obj, const ph_judge_config *cfg,
                           const char *where, char *errstr, size_t errstr_size)
{
    const json_t *measures = json_object_get(obj, "measures");
    if (!json_object_get(obj, "model"))
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "%s: an embedding_similarity criterion needs its embedding \"model\"", where);
    c->embed_relevance = c->embed_groundedness = measures == NULL;
    for (size_t i = 0; i < json_array_size(measures); i++) {
        const char *m = json_string_value(json_array_get(measures, i));
        if (m && strcmp(m, "relevance") == 0)
            c->embed_relevance = true;
        else if (m && strcmp(m, "groundedness") == 0)
            c->embed_groundedness = true;
        else
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "%s: measures are \"relevance\" and/or \"groundedness\"", where);
    }
    if (!c->embed_relevance && !c->embed_groundedness)
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s: measures must not be empty", where);
    /* Groundedness alone needs context; with relevance it is added when context exists. */
    c->needs = c->embed_relevance ? PH_JUDGE_NEED_INPUT | PH_JUDGE_NEED_OUTPUT
                                  : PH_JUDGE_NEED_OUTPUT | PH_JUDGE_NEED_CONTEXT;
    json_t *eff =
        json_pack("{s:s, s:s, s:b, s:b, s:I}", "type", "embedding_similarity", "model", c->model,
                  "relevance", c->embed_relevance, "groundedness", c->embed_groundedness,
                  "max_field_bytes", (json_int_t)cfg->max_field_bytes);
    return eff ? version_of(c, eff) : PH_ENOMEM;
}

static int parse_criterion(ph_judge_criterion *c, const json_t *obj, const ph_judge_config *cfg,
                           double temperature, int64_t max_tokens, size_t index, char *errstr,
                           size_t errstr_size)
{
    static const char *const keys[] = {
        "name",     "type",     "template",    "model",      "sample_rate", "filters", "gate",
        "pass_min", "pass_max", "temperature", "max_tokens", "measures",    NULL};
    char where[96];
    json_t *shorthand = NULL;
    if (json_is_string(obj)) /* "relevance" is {"name": "relevance"} */
        obj = shorthand = json_pack("{s:O}", "name", obj);
    if (!json_is_object(obj))
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "judge.criteria[%zu]: must be an object or a built-in's name", index);
    const char *name = json_string_value(json_object_get(obj, "name"));
    size_t len = name ? strlen(name) : 0;
    int rc = PH_OK;
    if (!name || len == 0 || len >= sizeof(c->name) ||
        strspn(name, "abcdefghijklmnopqrstuvwxyz"
                     "0123456789_") != len) {
        rc = ph_err(errstr, errstr_size, PH_EINVAL,
                    "judge.criteria[%zu]: name must be 1-%zu characters of [a-z0-9_]", index,
                    sizeof(c->name) - 1);
        goto out;
    }
    snprintf(c->name, sizeof(c->name), "%s", name);
    snprintf(c->result_name, sizeof(c->result_name), "judge.%s", name);
    snprintf(c->result_name2, sizeof(c->result_name2), "judge.%s_groundedness", name);
    snprintf(where, sizeof(where), "judge.criteria[%s]", name);
    rc = check_keys(obj, keys, where, errstr, errstr_size);
    const char *type = json_string_value(json_object_get(obj, "type"));
    if (rc == PH_OK && json_object_get(obj, "type") &&
        (!type || (strcmp(type, "llm") && strcmp(type, "embedding_similarity"))))
        rc = ph_err(errstr, errstr_size, PH_EINVAL,
                    "%s: type must be \"llm\" or \"embedding_similarity\"", where);
    c->type = type && !strcmp(type, "embedding_similarity") ? PH_JUDGE_EMBEDDING : PH_JUDGE_LLM;
    c->sample_rate = 1.0;
    if (rc == PH_OK)
        rc = get_num(obj, "sample_rate", 0, 1, &c->sample_rate, where, errstr, errstr_size);
    if (rc == PH_OK && cfg->model && !(c->model = strdup(cfg->model)))
        rc = PH_ENOMEM;
    if (rc == PH_OK)
        rc = get_str(obj, "model", &c->model, where, errstr, errstr_size);
    if (rc == PH_OK && !c->model)
        rc = ph_err(errstr, errstr_size, PH_EINVAL, "%s: no model (set judge.model)", where);
    if (rc == PH_OK)
        rc = parse_filter(&c->filter, json_object_get(obj, "filters"), where, errstr, errstr_size);
    if (rc == PH_OK)
        rc = parse_gate(&c->gate, json_object_get(obj, "gate"), where, errstr, errstr_size);
    if (rc == PH_OK && c->type == PH_JUDGE_LLM)
        rc = parse_llm(c, obj, cfg, temperature, max_tokens, where, errstr, errstr_size);
    else if (rc == PH_OK)
        rc = parse_embedding(c, obj, cfg, where, errstr, errstr_size);
out:
    json_decref(shorthand);
    return rc;
}

static int parse_top(ph_judge_config *cfg, const json_t *config, char *errstr, size_t errstr_size)
{
    static const char *const keys[] = {"endpoint",
                                       "api_key_env",
                                       "model",
                                       "response_format",
                                       "timeout_ms",
                                       "max_attempts",
                                       "backoff_initial_ms",
                                       "backoff_max_ms",
                                       "max_inflight",
                                       "rate_limit_per_s",
                                       "hourly_token_budget",
                                       "price_per_1k_input",
                                       "price_per_1k_output",
                                       "cache_path",
                                       "cache_ttl_s",
                                       "queue_capacity",
                                       "max_field_bytes",
                                       "temperature",
                                       "max_tokens",
                                       "filters",
                                       "criteria",
                                       NULL};
    const char *w = "judge";
    int64_t v[8] = {30000, 3, 500, 30000, 64, 0, 604800, 10000};
    int64_t max_field = 8000;
    int rc = check_keys(config, keys, w, errstr, errstr_size);
    if (rc == PH_OK)
        rc = get_str(config, "endpoint", &cfg->endpoint, w, errstr, errstr_size);
    if (rc == PH_OK && !cfg->endpoint)
        rc = ph_err(errstr, errstr_size, PH_EINVAL, "judge: endpoint is required");
    if (rc == PH_OK)
        rc = get_str(config, "model", &cfg->model, w, errstr, errstr_size);
    if (rc == PH_OK)
        rc = get_str(config, "cache_path", &cfg->cache_path, w, errstr, errstr_size);
    const json_t *rf = json_object_get(config, "response_format");
    if (rc == PH_OK && rf && !json_is_boolean(rf))
        rc = ph_err(errstr, errstr_size, PH_EINVAL, "judge: response_format must be true/false");
    cfg->response_format = json_is_true(rf);
    static const char *const ints[] = {"timeout_ms",     "max_attempts",  "backoff_initial_ms",
                                       "backoff_max_ms", "max_inflight",  "hourly_token_budget",
                                       "cache_ttl_s",    "queue_capacity"};
    static const int64_t mins[] = {10, 1, 1, 1, 1, 0, 0, 1};
    static const int64_t maxs[] = {3600000,       20,      600000, 3600000, 4096, INT64_MAX / 4,
                                   INT64_MAX / 4, 10000000};
    for (int i = 0; rc == PH_OK && i < 8; i++)
        rc = get_int(config, ints[i], mins[i], maxs[i], &v[i], w, errstr, errstr_size);
    if (rc == PH_OK)
        rc = get_int(config, "max_field_bytes", 256, 1000000, &max_field, w, errstr, errstr_size);
    cfg->timeout_ms = (int)v[0];
    cfg->max_attempts = (int)v[1];
    cfg->backoff_initial_ms = (int)v[2];
    cfg->backoff_max_ms = (int)v[3];
    cfg->max_inflight = (int)v[4];
    cfg->hourly_token_budget = v[5];
    cfg->cache_ttl_s = v[6];
    cfg->queue_capacity = (size_t)v[7];
    cfg->max_field_bytes = (size_t)max_field;
    if (rc == PH_OK)
        rc = get_num(config, "rate_limit_per_s", 0, 1e6, &cfg->rate_limit_per_s, w, errstr,
                     errstr_size);
    if (rc == PH_OK)
        rc = get_num(config, "price_per_1k_input", 0, 1e6, &cfg->price_in, w, errstr, errstr_size);
    if (rc == PH_OK)
        rc =
            get_num(config, "price_per_1k_output", 0, 1e6, &cfg->price_out, w, errstr, errstr_size);
    if (rc == PH_OK)
        rc = parse_filter(&cfg->filter, json_object_get(config, "filters"), w, errstr, errstr_size);
    const json_t *env = json_object_get(config, "api_key_env");
    if (rc == PH_OK && env && (!json_is_string(env) || json_string_length(env) == 0))
        rc = ph_err(errstr, errstr_size, PH_EINVAL, "judge: api_key_env must name a variable");
    const char *key = env ? getenv(json_string_value(env)) : NULL;
    if (rc == PH_OK && key && *key && !(cfg->api_key = strdup(key)))
        rc = PH_ENOMEM;
    return rc;
}

int ph_judge_config_parse(ph_judge_config *cfg, const json_t *config, char *errstr,
                          size_t errstr_size)
{
    double temperature = 0;
    int64_t max_tokens = 300;
    memset(cfg, 0, sizeof(*cfg));
    if (!json_is_object(config))
        return ph_err(errstr, errstr_size, PH_EINVAL, "judge: the config must be an object");
    int rc = parse_top(cfg, config, errstr, errstr_size);
    if (rc == PH_OK)
        rc = get_num(config, "temperature", 0, 2, &temperature, "judge", errstr, errstr_size);
    if (rc == PH_OK)
        rc = get_int(config, "max_tokens", 16, 100000, &max_tokens, "judge", errstr, errstr_size);
    const json_t *criteria = json_object_get(config, "criteria");
    if (rc == PH_OK && (!json_is_array(criteria) || json_array_size(criteria) == 0))
        rc = ph_err(errstr, errstr_size, PH_EINVAL, "judge: criteria must be a non-empty list");
    if (rc != PH_OK)
        goto out;
    size_t n = json_array_size(criteria);
    cfg->criteria = calloc(n, sizeof(*cfg->criteria));
    if (!cfg->criteria) {
        rc = PH_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n && rc == PH_OK; i++) {
        cfg->ncriteria = i + 1; /* so that a half-parsed criterion is freed too */
        rc = parse_criterion(&cfg->criteria[i], json_array_get(criteria, i), cfg, temperature,
                             max_tokens, i, errstr, errstr_size);
        for (size_t k = 0; rc == PH_OK && k < i; k++)
            if (strcmp(cfg->criteria[k].name, cfg->criteria[i].name) == 0)
                rc = ph_err(errstr, errstr_size, PH_EINVAL, "judge: criterion \"%s\" twice",
                            cfg->criteria[i].name);
    }
    /* A record with every criterion applying must always fit into an empty queue. */
    if (rc == PH_OK && cfg->queue_capacity < 2 * n)
        rc = ph_err(errstr, errstr_size, PH_EINVAL,
                    "judge: queue_capacity must be at least twice the number of criteria");
    /* Strip the trailing slash: paths are appended as "/chat/completions". */
    size_t elen = cfg->endpoint ? strlen(cfg->endpoint) : 0;
    while (elen && cfg->endpoint[elen - 1] == '/')
        cfg->endpoint[--elen] = '\0';
out:
    if (rc != PH_OK)
        ph_judge_config_free(cfg);
    return rc;
}

void ph_judge_config_free(ph_judge_config *cfg)
{
    for (size_t i = 0; i < cfg->ncriteria; i++) {
        ph_judge_criterion *c = &cfg->criteria[i];
        free(c->model);
        free(c->system);
        free(c->user);
        strv_free(c->labels, c->nlabels);
        filter_free(&c->filter);
        free(c->gate.conds);
    }
    free(cfg->criteria);
    free(cfg->endpoint);
    if (cfg->api_key) /* do not leave the secret in freed memory */
        memset(cfg->api_key, 0, strlen(cfg->api_key));
    free(cfg->api_key);
    free(cfg->model);
    free(cfg->cache_path);
    filter_free(&cfg->filter);
    memset(cfg, 0, sizeof(*cfg));
}
