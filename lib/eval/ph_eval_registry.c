/* The built-in evaluator kinds, in the order they run and are documented. Each is defined in
 * its own ev_<kind>.c; lib/eval/CMakeLists.txt generates ph_eval_kinds.inc from the list there. */
#include "ph_eval.h"

#include <string.h>

#define PH_EVAL_KIND(sym) extern const ph_evaluator_kind sym;
#include "ph_eval_kinds.inc"
#undef PH_EVAL_KIND

static const ph_evaluator_kind *const kinds[] = {
#define PH_EVAL_KIND(sym) &sym,
#include "ph_eval_kinds.inc"
#undef PH_EVAL_KIND
    NULL, /* keeps the array non-empty when no kind is built yet */
};

const ph_evaluator_kind *ph_eval_kind_at(size_t i)
{
    for (size_t k = 0; kinds[k]; k++)
        if (k == i)
            return kinds[k];
    return NULL;
}

const ph_evaluator_kind *ph_eval_kind_find(const char *name)
{
    const ph_evaluator_kind *k;
    for (size_t i = 0; (k = ph_eval_kind_at(i)); i++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}
