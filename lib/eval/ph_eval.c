#include "ph_eval.h"

#include "ph_error.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies src into dst (size bytes), cut and terminated: what snprintf("%s") does, without the
 * format machinery, which every result of every record paid several times. */
static void copy_str(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

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
    copy_str(r->label, sizeof(r->label), label ? label : "");
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
    ph_eval_append_value(r, name, value);
}

void ph_eval_append_value(ph_eval_result *r, const char *name, double value)
{
    if (r->nvalues >= PH_EVAL_MAX_VALUES)
        return;
    copy_str(r->values[r->nvalues].name, sizeof(r->values[r->nvalues].name), name);
    r->values[r->nvalues++].value = value;
}

void ph_eval_set_explanation(ph_eval_result *r, const char *text)
{
    copy_str(r->explanation, sizeof(r->explanation), text);
}

void ph_eval_explain(ph_eval_result *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->explanation, sizeof(r->explanation), fmt, ap);
    va_end(ap);
}

int ph_eval_check_keys(const json_t *obj, const char *const *known, const char *path, char *errstr,
                       size_t errstr_size)
{
    const char *key;
    json_t *value;
    /* jansson's iteration API takes a non-const object; it does not modify it */
    json_object_foreach((json_t *)obj, key, value)
    {
        size_t i = 0;
        while (known[i] && strcmp(known[i], key) != 0)
            i++;
        if (!known[i]) {
            char list[256] = "";
            for (i = 0; known[i]; i++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
                         known[i]);
            return ph_err(errstr, errstr_size, PH_EINVAL, "%s%sunknown key \"%s\" (known: %s)",
                          path, *path ? ": " : "", key, list);
        }
    }
    return 0;
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
    /* Everything but the values array is cleared: values are read up to nvalues only, and the
     * array is most of the (large) struct. */
    memset(r, 0, offsetof(ph_eval_result, values));
    r->nvalues = 0;
    r->cost_usd = 0;
    r->tokens = 0;
    r->passed = -1;
    const char *name = sink->current_name ? sink->current_name : "unnamed";
    copy_str(r->evaluator, sizeof(r->evaluator), name);
    if (sub && *sub) {
        size_t n = strlen(r->evaluator);
        if (n + 1 < sizeof(r->evaluator)) {
            r->evaluator[n] = '.';
            copy_str(r->evaluator + n + 1, sizeof(r->evaluator) - n - 1, sub);
        }
    }
    copy_str(r->version, sizeof(r->version), sink->current_version ? sink->current_version : "0");
    return r;
}
