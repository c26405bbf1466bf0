/* See session_eval.h: stored turns to lib/eval's ph_session_turn, and the results' name and
 * version. */
#include "session_eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"
#include "ph_eval_config.h"
#include "ph_session_eval.h"

/* The session evaluator's code version: lib/eval's when it declares one. */
#ifdef PH_SESSION_EVAL_CODE_VERSION
#define CODE_VERSION PH_SESSION_EVAL_CODE_VERSION
#else
#define CODE_VERSION "1"
#endif

/* The results are named session.<measure>. */
#define SESSION_NAME "session"

struct ph_session_eval {
    json_t *config; /* NULL: defaults */
    char version[PH_EVAL_VERSION_MAX];
};

int ph_session_eval_new(ph_session_eval **out, const json_t *config, char *errstr,
                        size_t errstr_size)
{
    char why[PH_ERRSTR_SIZE];
    int rc;
    if ((rc = ph_session_config_check(config, why, sizeof(why))))
        return ph_err(errstr, errstr_size, rc, "sessions: %s", why);
    ph_session_eval *se = calloc(1, sizeof(*se));
    json_t *empty = json_object();
    if (!se || !empty) {
        free(se);
        json_decref(empty);
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    }
    se->config = config ? json_deep_copy(config) : NULL;
    /* versioned like an instance: its code and its config */
    rc = ph_eval_version(CODE_VERSION, se->config ? se->config : empty, se->version,
                         sizeof(se->version));
    json_decref(empty);
    if (rc || (config && !se->config)) {
        ph_session_eval_destroy(se);
        return ph_err(errstr, errstr_size, rc ? rc : PH_ENOMEM, "sessions: version");
    }
    *out = se;
    return PH_OK;
}

void ph_session_eval_destroy(ph_session_eval *se)
{
    if (!se)
        return;
    json_decref(se->config);
    free(se);
}

const char *ph_session_eval_version(const ph_session_eval *se)
{
    return se->version;
}

int ph_session_eval_run(ph_session_eval *se, const ph_stored_turn *turns, size_t n,
                        ph_eval_sink *sink)
{
    char errstr[PH_ERRSTR_SIZE];
    ph_session_turn *t = n ? calloc(n, sizeof(*t)) : NULL;
    if (n && !t)
        return PH_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        t[i].turn = turns[i].turn;
        t[i].user = (ph_str){turns[i].user_message, strlen(turns[i].user_message)};
        t[i].output = (ph_str){turns[i].output, strlen(turns[i].output)};
        t[i].frustration = turns[i].has_frustration ? turns[i].frustration : -1;
        t[i].refused = strcmp(turns[i].refusal, "full_refusal") == 0;
        t[i].time_ms = turns[i].record_time_ms;
    }
    sink->current_name = SESSION_NAME;
    sink->current_version = se->version;
    int rc = ph_session_evaluate(t, n, se->config, sink, errstr, sizeof(errstr));
    sink->current_name = sink->current_version = NULL;
    free(t);
    return rc;
}
