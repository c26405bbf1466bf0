/* pharos-evaluator: scores every valid LLM log with the configured evaluators and writes one
 * Evaluation per result to pharos.evals. See docs/evaluators.md. */
#ifndef PH_EVALUATOR_H
#define PH_EVALUATOR_H

#include <stdbool.h>
#include <stdint.h>

#include "ph_service.h"

typedef struct ph_evaluator_config {
    char *evaluators;             /* path of the evaluator config file (JSON); NULL: defaults */
    int64_t workers;              /* evaluation threads (cheap role) */
    char *role;                   /* "cheap" or "judge" */
    char *group_id;               /* consumer group; default per role */
    bool static_membership;       /* group.instance.id from the instance name (KIP-345) */
    int64_t max_inflight_records; /* records taken and not yet done: polling pauses beyond */
    int64_t commit_interval_ms;   /* offset commits and SQLite transaction batches */
    int64_t revoke_timeout_ms;    /* on revoke, how long to wait for in-flight records */
    char *sessions_db;            /* SQLite file of session state; NULL: sessions off */
    int64_t session_idle_ms;      /* a session idle this long is evaluated */
    int64_t session_retention_ms; /* evaluated sessions are kept this long (re-reads, reopen) */
} ph_evaluator_config;

extern const ph_service_def ph_evaluator_def;

#endif
