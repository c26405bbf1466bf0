/* Session state of pharos-evaluator (role cheap): the turns of every open session in SQLite
 * (--sessions_db), so that they survive restarts, and the session evaluation (lib/eval
 * ph_session_eval) once a session is over.
 *
 * A record with a session_id becomes a turn (its last user message and its output, cut to
 * 16 KiB each, the score of the instance named "frustration" and the label of the one named
 * "refusal", times). Worker threads hand turns to the main thread (ph_sessions_take); the main
 * thread writes them in batched transactions (one per commit_interval_ms) and only after the
 * COMMIT releases the records' holds, so no offset is stored before its turn is durable.
 *
 * A session is over when a record carried metadata session_end=true, or when no new turn came for
 * session_idle_ms (wall clock, checked by the main loop about once a second). It is then
 * evaluated with every turn it has, its results produced as Evaluations with record_id
 * "session:<session_id>", and once Kafka acknowledged all of them it is marked evaluated (kept
 * session_retention_ms, so a record read again after a crash adds nothing and re-evaluates
 * nothing). A new turn for an evaluated session reopens it: it is evaluated again later, with
 * all its turns, under the same record_id.
 *
 * With a "judge" member in the sessions object (a lib/judge config, docs/judge.md), the
 * conversation of an evaluated session (its turns as user and assistant messages, the last
 * output as the response) is also submitted to an LLM judge of its own, gated on the
 * deterministic results; its results are named session.judge.<criterion>, carry the judge's
 * versions, and the session is marked evaluated only once they too are acknowledged. The judge
 * is polled from ph_sessions_step without waiting, and a full judge (its queue, or a quarter of
 * max_inflight_records sessions waiting for it) defers sessions to a later look, so records never
 * wait for it. Its results not back when the sessions are closed are dropped, never produced:
 * the session is evaluated again after the restart.
 *
 * Several instances on one host may share one file (WAL; each only evaluates the sessions of
 * the partitions it owns; a session whose partition nobody here owns any more is evaluated
 * after twice the idle time, so its turns are never dropped silently).
 *
 * Threads: ph_sessions_take from workers; everything else on the main thread. */
#ifndef PH_EVALUATOR_SESSIONS_H
#define PH_EVALUATOR_SESSIONS_H

#include <stdbool.h>

#include "evaluator_int.h"

/* Opens (creating or migrating) the database and builds the session evaluator and judge from
 * the evaluator config's "sessions" object. Returns 0, PH_EIO, PH_EINVAL (a bad config, e.g.
 * "sessions.judge: endpoint is required") or PH_ENOMEM with errstr. */
int ph_sessions_open(ph_sessions **out, ph_evaluator *ev, const char *path, char *errstr,
                     size_t errstr_size);
/* NULL is a no-op; an open batch is committed; the judge is destroyed, its pending results
 * dropped (their sessions stay not evaluated). Call it after the producer is flushed. */
void ph_sessions_close(ph_sessions *s);

/* Worker thread: makes the record's turn, adds one hold to the job and queues the turn for the
 * main thread. Returns 0 or PH_ENOMEM. */
int ph_sessions_take(ph_sessions *s, ph_job *job, const avro_value_t *llmlog,
                     const ph_eval_record *rec, const ph_eval_result *results, size_t n);

/* Main thread: writes queued turns, polls the session judge (never waiting), commits the batch
 * when due (or when force), evaluates the sessions that are over, marks delivered ones evaluated,
 * forgets expired ones. */
void ph_sessions_step(ph_sessions *s, bool force);

/* Main thread: partitions assigned to (or revoked from) this instance. */
void ph_sessions_assign(ph_sessions *s, const rd_kafka_topic_partition_list_t *parts,
                        bool assigned);

void ph_pending_turn_free(ph_pending_turn *turn); /* NULL is a no-op */

#endif
