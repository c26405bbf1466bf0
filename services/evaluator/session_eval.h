/* The bridge between the stored turns of a session (sessions.c) and the session evaluator of
 * lib/eval (ph_session_eval.h: pure scoring of a whole session). */
#ifndef PH_EVALUATOR_SESSION_EVAL_H
#define PH_EVALUATOR_SESSION_EVAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ph_eval.h"

/* One turn as stored: strings owned by whoever loaded them. */
typedef struct ph_stored_turn {
    const char *record_id;
    int turn; /* 0 when unknown */
    int64_t record_time_ms;
    const char *user_message;
    const char *output;
    bool has_frustration;
    double frustration;  /* score of the "frustration" instance */
    const char *refusal; /* label of the "refusal" instance, "" when none */
    bool is_error;
} ph_stored_turn;

typedef struct ph_session_eval ph_session_eval;

/* Builds the session evaluator from the "sessions" object of the evaluator config file
 * (borrowed; NULL: defaults), checked at once. Its results are named session.<measure> and
 * versioned like an instance: "<code version>.<hash of the sessions config>". Returns 0 or
 * PH_EINVAL/PH_ENOMEM with errstr. */
int ph_session_eval_new(ph_session_eval **out, const json_t *config, char *errstr,
                        size_t errstr_size);
void ph_session_eval_destroy(ph_session_eval *se);
const char *ph_session_eval_version(const ph_session_eval *se);

/* Scores one session (turns in order), appending its results to sink. Returns 0 or a PH_E*
 * code. Reentrant for one ph_session_eval per thread. */
int ph_session_eval_run(ph_session_eval *se, const ph_stored_turn *turns, size_t n,
                        ph_eval_sink *sink);

#endif
