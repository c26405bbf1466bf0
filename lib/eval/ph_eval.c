#include "ph_eval.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const ph_eval_message *ph_eval_last_user(const ph_eval_record *rec)
{
    for (size_t i = rec->nmessages; i > 0; i--) {
        const ph_eval_message *m = &rec->messages[i - 1];
        if (m->role.len == 4 && memcmp(m->role.s, "user", 4) == 0)
            return m;
    }
    return NULL;
}

void ph_eval_set_score(ph_eval_result *r, double score)
{
    r->has_score = true;
    r->score = score;
}

void ph_eval_set_label(ph_eval_result *r, const char *label)
{
    snprintf(r->label, sizeof(r->label), "%s", label ? label : "");
}

void ph_eval_set_passed(ph_eval_result *r, bool passed)
{
    r->passed = passed ? 1 : 0;
}

void ph_eval_add_value(ph_eval_result *r, const char *name, double value)
{
    for (size_t i = 0; i < r->nvalues; i++) {
        if (strcmp(r->values[i].name, name) == 0) {
            r->values[i].value = value;
            return;
        }
    }
    if (r->nvalues >= PH_EVAL_MAX_VALUES)
        return;
    snprintf(r->values[r->nvalues].name, sizeof(r->values[r->nvalues].name), "%s", name);
    r->values[r->nvalues++].value = value;
}

void ph_eval_explain(ph_eval_result *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->explanation, sizeof(r->explanation), fmt, ap);
    va_end(ap);
}

void ph_eval_sink_init(ph_eval_sink *sink)
{
    memset(sink, 0, sizeof(*sink));
}

void ph_eval_sink_reset(ph_eval_sink *sink)
{
    sink->n = 0;
}

void ph_eval_sink_free(ph_eval_sink *sink)
{
    free(sink->results);
    memset(sink, 0, sizeof(*sink));
}

ph_eval_result *ph_eval_emit(ph_eval_sink *sink, const char *sub)
{
    if (sink->n == sink->cap) {
        size_t cap = sink->cap ? sink->cap * 2 : 16;
        ph_eval_result *grown = realloc(sink->results, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        sink->results = grown;
        sink->cap = cap;
    }
    ph_eval_result *r = &sink->results[sink->n++];
    memset(r, 0, sizeof(*r));
    r->passed = -1;
    const char *name = sink->current_name ? sink->current_name : "unnamed";
    if (sub && *sub)
        snprintf(r->evaluator, sizeof(r->evaluator), "%s.%s", name, sub);
    else
        snprintf(r->evaluator, sizeof(r->evaluator), "%s", name);
    snprintf(r->version, sizeof(r->version), "%s",
             sink->current_version ? sink->current_version : "0");
    return r;
}
