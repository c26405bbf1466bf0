/* Session evaluation: the pure computation over the turns of one conversation, run once the
 * session is over (the service keeps the turns and decides when: idle for a while, or marked
 * ended; see docs/evaluators/session.md). It emits, into the caller's sink, the results of a
 * synthetic "session" record:
 *
 *   <name>.turns               how many turns and how long
 *   <name>.frustration         the frustration trajectory: rising, falling, flat or none
 *   <name>.repeated_questions  user turns that repeat or rephrase an earlier one
 *   <name>.answered            whether the last question got an answer
 *
 * where <name> is sink->current_name (the caller sets "session" and the version). Pure: no I/O,
 * no global state but the read-only word tables of ph_similarity.c; reentrant. */
#ifndef PH_SESSION_EVAL_H
#define PH_SESSION_EVAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ph_eval.h"

/* One assistant turn of a session. Every string is borrowed from the caller for the call. */
typedef struct ph_session_turn {
    int turn;           /* 1-based assistant turn in the session; 0 when unknown */
    ph_str user;        /* the user message of the turn (the last user message of the record's
                           input); empty when none */
    ph_str output;      /* the model's response; empty when none */
    double frustration; /* the "frustration" evaluator's score of the turn, 0..1; < 0 unknown */
    bool refused;       /* the "refusal" evaluator said full_refusal */
    int64_t time_ms;    /* when the turn happened (record time); 0 when unknown */
} ph_session_turn;

/* Fills a turn from a record: turn, user (last user message, empty when none), output and
 * time_ms (record time, else ingest time); frustration -1 and refused false until
 * ph_session_turn_apply_results. The strings stay borrowed from rec. */
void ph_session_turn_from_record(ph_session_turn *t, const ph_eval_record *rec);

/* Reads the turn's frustration and refusal from the results the record's evaluators produced:
 * the score of an OK result named frustration_name, and whether the result named refusal_name
 * has the label "full_refusal". A NULL name skips that result. */
void ph_session_turn_apply_results(ph_session_turn *t, const ph_eval_result *results, size_t n,
                                   const char *frustration_name, const char *refusal_name);

/* Checks a session config object (NULL or {} for the defaults): unknown keys and values out of
 * range are rejected with a message in errstr. Returns 0 or PH_EINVAL. Call it at start-up so a
 * bad config fails there and not at the first finished session. */
int ph_session_config_check(const json_t *config, char *errstr, size_t errstr_size);

/* Evaluates the session: turns[0..n) in turn order (n may be 0; turns may then be NULL), config
 * as for ph_session_config_check (borrowed). Appends four results to sink (an empty session gets
 * turns = 0 and three SKIPPED results). Returns 0, PH_EINVAL for a bad config or PH_ENOMEM,
 * with errstr; on error some results may already be in the sink. */
int ph_session_evaluate(const ph_session_turn *turns, size_t n, const json_t *config,
                        ph_eval_sink *sink, char *errstr, size_t errstr_size);

#endif
