/* Internal to pharos-evaluator: the service state, jobs (one per consumed record) and the
 * functions shared by its files.
 *
 *   evaluator.c   service callbacks, config table, consumption, backpressure, rebalances, drain
 *   worker.c      worker threads (cheap role): decode, evaluate, encode, produce; job completion
 *   judge.c       the judge role: cheap gate on the main thread, lib/judge, its results
 *   sessions.c    session state in SQLite and session evaluation (sessions.h)
 *
 * A job's life: the main thread takes a message from the consumer, adds its offset to the
 * tracker and creates the job (in_flight + 1). Whoever evaluates it (a worker, or the main
 * thread in the judge role) produces one Evaluation per result with a per-result delivery
 * opaque. job->pending counts what the record still waits for: one delivery report per
 * Evaluation, one hold while it is being evaluated, and one while its session turn waits for its
 * SQLite transaction to commit. When pending reaches zero the job finishes: if every delivery
 * succeeded its offset is marked done in the tracker (the main loop stores offsets from there),
 * otherwise the service shuts down (exit 1) so that the record is evaluated again after the
 * restart; either way the job is freed (in_flight - 1).
 *
 * Threads: the main thread (consumer, tracker adds and stores, SQLite, the judge, rebalance
 * callbacks), N worker threads, and the producer's poll thread (delivery reports, hence job
 * completion). */
#ifndef PH_EVALUATOR_INT_H
#define PH_EVALUATOR_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evaluator.h"
#include "ph_avro.h"
#include "ph_eval.h"
#include "ph_eval_avro.h"
#include "ph_eval_config.h"
#include "ph_kafka.h"
#include "ph_kafka_tracker.h"
#include "ph_metrics.h"

#define COMPONENT "evaluator"

/* The version of the framework's own "decode" evaluator (poison records). */
#define PH_DECODE_EVALUATOR         "decode"
#define PH_DECODE_EVALUATOR_VERSION "1"

typedef struct ph_evaluator ph_evaluator;
typedef struct ph_job ph_job;
typedef struct ph_sessions ph_sessions;
typedef struct ph_pending_turn ph_pending_turn;

/* The delivery opaque of one Evaluation. */
typedef struct ph_job_eval {
    ph_job *job;
    ph_counter *delivered; /* pharos_evaluator_evaluations_total{evaluator,status} */
} ph_job_eval;

struct ph_job {
    ph_evaluator *ev;
    ph_job *next;            /* work queue or session inbox */
    rd_kafka_message_t *rkm; /* held until evaluated (then destroyed, NULL) */
    int32_t partition;
    int64_t offset;
    atomic_int pending;
    atomic_bool failed;
    atomic_bool abandoned;  /* given up without failing (shutdown): freed, never done */
    size_t nreceived;       /* judge role, session judge: results received so far (main thread) */
    int64_t ingest_time_ms; /* for the lag histogram; 0 unknown */
    ph_job_eval *evals;     /* one per Evaluation produced */
    size_t nevals;
    /* Judge role and session judge: what the judge's results need once the record is gone. */
    ph_eval_record ident;
    char *ident_buf;
    char *key;
    size_t keylen;
    /* Sessions: the turn to record (owned), NULL when none. */
    ph_pending_turn *turn;
    /* A job that is not a consumed record (a session's evaluation): called instead of marking
     * an offset done when every delivery succeeded (any thread); `arg` is owned by the hook,
     * which must free it. */
    void (*on_done)(ph_job *job, bool ok);
    void *done_arg;
};

/* Per-thread evaluation context: codec objects, reusable values and buffers, a cache of
 * counters. Used by one thread at a time. */
typedef struct ph_worker {
    ph_evaluator *ev;
    pthread_t thread;
    bool started;
    ph_eval_encoder *enc;
    ph_avro_decoder *dec;
    ph_eval_scratch scratch;
    ph_eval_sink sink;
    struct counter_slot *counters; /* open addressing by (evaluator, status) */
    size_t ncounters;
    size_t counters_cap;
} ph_worker;

struct ph_evaluator {
    ph_service *svc;
    const ph_evaluator_config *cfg;
    bool judge_role;
    ph_eval_set *set;
    ph_codec *codec;
    ph_kafka_consumer *consumer;
    ph_kafka_producer *producer;
    ph_kafka_tracker *tracker;
    char topic_in[256];
    char topic_out[256];
    char group_id[300];
    char instance_id[300];
    ph_config_kv commit_prop; /* auto.commit.interval.ms, ahead of the kafka.* pass-through */
    char commit_value[32];

    /* work queue (cheap role) */
    ph_worker *workers;
    size_t nworkers;
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    bool qready;
    ph_job *qhead;
    ph_job *qtail;
    bool qstop;

    atomic_long inflight;
    bool paused;
    bool draining;
    int64_t drain_deadline;
    atomic_bool failed;

    /* sessions (cheap role) */
    ph_sessions *sessions;

    /* judge role */
    struct ph_judge *judge;
    ph_worker main_worker; /* the main thread's context (judge role) */
    /* Taken, not yet accepted by a full judge queue (each holds its message), in order. */
    ph_job *deferred;
    ph_job *deferred_tail;
    ph_gauge *judge_pending;
    ph_gauge *judge_tokens;
    ph_gauge *judge_cost;

    /* metrics */
    ph_metrics *metrics;
    ph_counter *records_evaluated;
    ph_counter *records_poison;
    ph_counter *delivery_failures;
    ph_histogram *lag_seconds;
};

/* ---- worker.c ---- */

/* A new job for a message taken from the consumer (owned by the job from now on), or for no
 * message (rkm NULL: a session evaluation, with on_done set by the caller). */
ph_job *ph_job_new(ph_evaluator *ev, rd_kafka_message_t *rkm);

/* Releases n of the job's pending holds; the last one finishes it. Any thread. */
void ph_job_release(ph_job *job, int n);

/* Frees a job that never finished (shutdown). */
void ph_job_free(ph_job *job);

int ph_worker_init(ph_worker *w, ph_evaluator *ev, char *errstr, size_t errstr_size);
void ph_worker_fini(ph_worker *w);

/* Starts cfg->workers threads that take jobs from the work queue. */
int ph_workers_start(ph_evaluator *ev, char *errstr, size_t errstr_size);

/* Stops the worker threads (after their current job) and frees the jobs left queued. */
void ph_workers_stop(ph_evaluator *ev);

/* Hands a job to the workers. */
void ph_work_push(ph_evaluator *ev, ph_job *job);

/* Decodes the job's message into w's decoder and fills the record view. On failure (a poison
 * record) returns PH_EINVAL, having produced the "decode" ERROR Evaluation for it in the cheap
 * role (the judge role only counts it: the cheap role reports it), or PH_ENOMEM (job failed).
 * The view borrows from w until its next decode. */
int ph_worker_decode(ph_worker *w, ph_job *job, avro_value_t **llmlog, ph_eval_record *rec);

/* Produces one Evaluation for result r about rec, keyed like the job's record, with slot as its
 * delivery opaque (slot->job set, one pending hold per call already counted by the caller).
 * On failure the job is marked failed and the hold released. */
void ph_worker_produce(ph_worker *w, ph_job *job, const ph_eval_record *rec,
                       const ph_eval_result *r, ph_job_eval *slot);

/* The delivery callback of the producer (its poll thread). */
void ph_evaluator_on_delivery(void *msg_opaque, rd_kafka_resp_err_t err,
                              const rd_kafka_message_t *rkm, void *arg);

/* ---- judge.c ---- */

int ph_judge_role_create(ph_evaluator *ev, char *errstr, size_t errstr_size);
/* Takes one record (judge role, main thread): evaluates the cheap gate and submits. Returns 0,
 * PH_EQUEUEFULL when the judge's queue is full (the job is kept in ev->deferred and retried by
 * ph_judge_role_poll), or PH_EFATAL. */
int ph_judge_role_take(ph_evaluator *ev, ph_job *job);
/* Serves the judge for up to timeout_ms: transfers, results, the deferred message. */
void ph_judge_role_poll(ph_evaluator *ev, int timeout_ms);
/* Stops the judge: its unfinished results are dropped, so their records stay not done and are
 * judged again after a restart. */
void ph_judge_role_destroy(ph_evaluator *ev);
size_t ph_judge_role_pending(ph_evaluator *ev);

#endif
