/* Issue lists: a plain growable array; field and message strings owned by the list. */
#include "ph_record.h"

#include "ph_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ph_issues_init(ph_issues *list)
{
    list->v = NULL;
    list->n = 0;
    list->cap = 0;
}

int ph_issues_add(ph_issues *list, const char *code, const char *field, const char *fmt, ...)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 8;
        ph_issue *v = realloc(list->v, cap * sizeof(*v));
        if (!v)
            return PH_ENOMEM;
        list->v = v;
        list->cap = cap;
    }
    char *fcopy = NULL;
    char *msg = NULL;
    if (field && !(fcopy = strdup(field)))
        return PH_ENOMEM;
    va_list ap;
    va_start(ap, fmt);
    int rc = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (rc < 0) {
        free(fcopy);
        return PH_ENOMEM;
    }
    list->v[list->n].code = code;
    list->v[list->n].field = fcopy;
    list->v[list->n].message = msg;
    list->n++;
    return 0;
}

void ph_issues_clear(ph_issues *list)
{
    for (size_t i = 0; i < list->n; i++) {
        free(list->v[i].field);
        free(list->v[i].message);
    }
    list->n = 0;
}

void ph_issues_free(ph_issues *list)
{
    if (!list)
        return;
    ph_issues_clear(list);
    free(list->v);
    ph_issues_init(list);
}
