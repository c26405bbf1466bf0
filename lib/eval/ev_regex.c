/* regex: named PCRE2 patterns, each required to match or not to match the output or the input;
 * one result per pattern (evaluator "<instance>.<name>"). docs/evaluators/regex.md is the
 * reference for the config keys and the results.
 *
 * Patterns are compiled (and JIT-compiled) once at create(); evaluate() only allocates one
 * pcre2_match_data per call, so one instance serves any number of threads. A pattern that hits
 * the match limit (catastrophic backtracking) gives that pattern an ERROR result, never a hang. */
#include "ph_error.h"
#include "ph_eval.h"
#include "ph_pcre.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a pattern looks at. */
typedef enum {
    TARGET_OUTPUT,    /* the response */
    TARGET_INPUT,     /* the last user message */
    TARGET_INPUT_ALL, /* every input message, each on its own (matches never span two) */
} target;

static const char *const target_names[] = {"output", "input", "input_all"};

/* The explanation of a pattern that found nothing, by target and must_match: most results are
 * these, so they are copied, not formatted. */
static const char *const no_match_explanations[3][2] = {
    {"no match in output; must not match", "no match in output; must match"},
    {"no match in input; must not match", "no match in input; must match"},
    {"no match in input_all; must not match", "no match in input_all; must match"},
};

/* Result fields written directly: the framework's setters format with snprintf (and
 * ph_eval_add_value looks for the name among the values already there), which on the every-record
 * path cost as much as the matching itself. Names are known to be new. */
typedef struct rx_pattern {
    char name[PH_EVAL_NAME_MAX];
    pcre2_code *code;
    target target;
    bool must_match; /* else must not match */
} rx_pattern;

typedef struct rx_state {
    rx_pattern *patterns;
    size_t npatterns;
    size_t max_count;
    pcre2_match_context *mc;
    const pcre2_code **codes; /* the patterns' codes, for sizing the match data */
} rx_state;

#define DEFAULT_MAX_COUNT 1000

static void rx_destroy(void *state)
{
    rx_state *st = state;
    if (!st)
        return;
    for (size_t i = 0; i < st->npatterns; i++)
        pcre2_code_free(st->patterns[i].code);
    free(st->patterns);
    free(st->codes);
    pcre2_match_context_free(st->mc);
    free(st);
}

/* A pattern name becomes part of an evaluator name, "<instance>.<name>": an instance name has up
 * to 40 characters and the Evaluation's evaluator field holds 63, so a name has up to 22. */
#define MAX_NAME 22

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int parse_pattern(rx_state *st, size_t i, const json_t *jp, char *errstr, size_t errstr_size)
{
    static const char *const keys[] = {"name", "pattern", "target", "must", "caseless", NULL};
    rx_pattern *p = &st->patterns[i];
    char path[48];
    int rc;
    snprintf(path, sizeof(path), "patterns[%zu]", i);
    if (!json_is_object(jp))
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s: must be an object", path);
    if ((rc = ph_eval_check_keys(jp, keys, path, errstr, errstr_size)))
        return rc;

    const char *name = json_string_value(json_object_get(jp, "name"));
    if (!name || !valid_name(name))
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "%s.name: required, 1 to %d of A-Z a-z 0-9 _ -", path, MAX_NAME);
    for (size_t k = 0; k < i; k++)
        if (strcmp(st->patterns[k].name, name) == 0)
            return ph_err(errstr, errstr_size, PH_EINVAL, "%s.name: \"%s\" is used twice", path,
                          name);
    snprintf(p->name, sizeof(p->name), "%s", name);

    const json_t *jt = json_object_get(jp, "target");
    p->target = TARGET_OUTPUT;
    if (jt) {
        const char *t = json_string_value(jt);
        size_t k = 0;
        while (t && k < 3 && strcmp(t, target_names[k]) != 0)
            k++;
        if (!t || k == 3)
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "%s.target: must be \"output\", \"input\" or \"input_all\"", path);
        p->target = (target)k;
    }

    const json_t *jm = json_object_get(jp, "must");
    const char *must = jm ? json_string_value(jm) : "match";
    if (!must || (strcmp(must, "match") != 0 && strcmp(must, "not_match") != 0))
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s.must: must be \"match\" or \"not_match\"",
                      path);
    p->must_match = strcmp(must, "match") == 0;

    const json_t *jc = json_object_get(jp, "caseless");
    if (jc && !json_is_boolean(jc))
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s.caseless: must be true or false", path);

    const char *pattern = json_string_value(json_object_get(jp, "pattern"));
    if (!pattern || !*pattern)
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s.pattern: required, a non-empty string",
                      path);
    if (strlen(pattern) != json_string_length(json_object_get(jp, "pattern")))
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s.pattern: holds a NUL (write \\x00)",
                      path);
    char what[64];
    snprintf(what, sizeof(what), "%s.pattern", path);
    return ph_pcre_compile(&p->code, pattern, json_is_true(jc) ? PCRE2_CASELESS : 0, what, errstr,
                           errstr_size);
}

static int rx_create(void **state, const json_t *config, char *errstr, size_t errstr_size)
{
    static const char *const keys[] = {"patterns", "match_limit", "max_count", NULL};
    rx_state *st = NULL;
    int rc;
    if (!json_is_object(config))
        return ph_err(errstr, errstr_size, PH_EINVAL, "config must be an object");
    if ((rc = ph_eval_check_keys(config, keys, "", errstr, errstr_size)))
        return rc;
    const json_t *jps = json_object_get(config, "patterns");
    if (!json_is_array(jps) || json_array_size(jps) == 0)
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "patterns: required, a non-empty array of {name, pattern, ...}");

    json_int_t limit = PH_PCRE_DEFAULT_MATCH_LIMIT, max_count = DEFAULT_MAX_COUNT;
    const json_t *jl = json_object_get(config, "match_limit");
    if (jl && (!json_is_integer(jl) || (limit = json_integer_value(jl)) < 1 || limit > 100000000))
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "match_limit: must be an integer from 1 to 100000000");
    const json_t *jx = json_object_get(config, "max_count");
    if (jx && (!json_is_integer(jx) || (max_count = json_integer_value(jx)) < 1))
        return ph_err(errstr, errstr_size, PH_EINVAL, "max_count: must be a positive integer");

    st = calloc(1, sizeof(*st));
    size_t n = json_array_size(jps);
    if (!st || !(st->patterns = calloc(n, sizeof(*st->patterns))) ||
        !(st->codes = calloc(n, sizeof(*st->codes))) ||
        !(st->mc = ph_pcre_mcontext_new((uint32_t)limit))) {
        rc = ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
        goto out;
    }
    st->max_count = (size_t)max_count;
    for (size_t i = 0; i < n; i++) {
        st->npatterns = i + 1; /* so destroy frees what was compiled */
        if ((rc = parse_pattern(st, i, json_array_get(jps, i), errstr, errstr_size)))
            goto out;
        st->codes[i] = st->patterns[i].code;
    }
    *state = st;
    st = NULL;
out:
    rx_destroy(st);
    return rc;
}

/* Counts the matches of p in its target; returns 0 or a ph_pcre_find error. */
static int count_matches(const rx_state *st, const rx_pattern *p, const ph_eval_record *rec,
                         pcre2_match_data *md, size_t *count)
{
    size_t n = 0, c;
    int rc = 0;
    if (p->target == TARGET_OUTPUT) {
        const char *s = rec->output.s ? rec->output.s : "";
        rc = ph_pcre_count(p->code, s, rec->output.s ? rec->output.len : 0, md, st->mc,
                           st->max_count, &n);
    } else if (p->target == TARGET_INPUT) {
        const ph_eval_message *m = ph_eval_last_user(rec);
        if (m && m->content.s)
            rc =
                ph_pcre_count(p->code, m->content.s, m->content.len, md, st->mc, st->max_count, &n);
        else
            rc = ph_pcre_count(p->code, "", 0, md, st->mc, st->max_count, &n);
    } else {
        for (size_t i = 0; i < rec->nmessages && n < st->max_count && rc == 0; i++) {
            const ph_str *s = &rec->messages[i].content;
            rc = ph_pcre_count(p->code, s->s ? s->s : "", s->s ? s->len : 0, md, st->mc,
                               st->max_count - n, &c);
            n += c;
        }
    }
    *count = n;
    return rc;
}

static int rx_evaluate(const void *state, const ph_eval_record *rec, ph_eval_sink *sink,
                       char *errstr, size_t errstr_size)
{
    const rx_state *st = state;
    int rc = 0;
    pcre2_match_data *md = ph_pcre_match_data_new(st->codes, st->npatterns);
    if (!md)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    for (size_t i = 0; i < st->npatterns; i++) {
        const rx_pattern *p = &st->patterns[i];
        ph_eval_result *r = ph_eval_emit(sink, p->name);
        if (!r) {
            rc = ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
            goto out;
        }
        size_t count = 0;
        int mrc = count_matches(st, p, rec, md, &count);
        ph_eval_append_value(r, "matches", (double)count);
        if (mrc < 0) {
            r->status = PH_EVAL_ERROR;
            ph_eval_explain(r, "%s after %zu match(es) in %s: result unknown",
                            mrc == PH_ERANGE ? "match limit hit" : "match error", count,
                            target_names[p->target]);
            continue;
        }
        bool matched = count > 0;
        ph_eval_set_label(r, matched ? "matched" : "not_matched");
        ph_eval_set_passed(r, matched == p->must_match);
        if (matched)
            ph_eval_explain(r, "%s%zu match(es) in %s; must %s", count >= st->max_count ? ">=" : "",
                            count, target_names[p->target], p->must_match ? "match" : "not match");
        else
            ph_eval_set_explanation(r, no_match_explanations[p->target][p->must_match]);
    }
out:
    pcre2_match_data_free(md);
    return rc;
}

const ph_evaluator_kind ph_eval_kind_regex = {
    .name = "regex",
    .code_version = "1",
    .summary = "named PCRE2 patterns that the output or input must match or must not match; one "
               "result per pattern",
    .create = rx_create,
    .destroy = rx_destroy,
    .evaluate = rx_evaluate,
};
