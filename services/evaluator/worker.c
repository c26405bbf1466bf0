/* Worker threads and the life of a job: decode, evaluate, encode, produce, complete on the
 * delivery reports. See evaluator_int.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "evaluator_int.h"
#include "ph_error.h"
#include "ph_log.h"
#include "ph_util.h"
#include "sessions.h"

/* ---- jobs ---------------------------------------------------------------------------------- */

ph_job *ph_job_new(ph_evaluator *ev, rd_kafka_message_t *rkm)
{
    ph_job *job = calloc(1, sizeof(*job));
    if (!job)
        return NULL;
    job->ev = ev;
    job->rkm = rkm;
    job->partition = rkm ? rkm->partition : -1;
    job->offset = rkm ? rkm->offset : -1;
    atomic_init(&job->pending, 1); /* the evaluation hold */
    atomic_init(&job->failed, false);
    atomic_init(&job->abandoned, false);
    atomic_fetch_add(&ev->inflight, 1);
    return job;
}

void ph_job_free(ph_job *job)
{
    if (!job)
        return;
    if (job->rkm)
        rd_kafka_message_destroy(job->rkm);
    ph_pending_turn_free(job->turn);
    free(job->evals);
    free(job->ident_buf);
    free(job->key);
    atomic_fetch_sub(&job->ev->inflight, 1);
    free(job);
}

static void finish(ph_job *job)
{
    ph_evaluator *ev = job->ev;
    bool ok = !atomic_load(&job->failed);
    if (atomic_load(&job->abandoned)) {
        /* given up at shutdown: not done, read again after the restart */
    } else if (job->on_done) {
        /* Not a consumed record: the hook decides (a session is retried later). */
        job->on_done(job, ok);
        job->done_arg = NULL;
    } else if (!ok) {
        /* Never store the offset of a record whose outputs are not all durable: stop, and the
         * restarted service evaluates it (and what follows it) again. */
        char why[400];
        snprintf(why, sizeof(why),
                 "an Evaluation of %s [%" PRId32 "] offset %" PRId64 " was not delivered",
                 ev->topic_in, job->partition, job->offset);
        ph_log_error(COMPONENT, "%s: shutting down so that it is evaluated again", why);
        atomic_store(&ev->failed, true);
        ph_service_fatal(ev->svc, why);
    } else {
        ph_kafka_tracker_done(ev->tracker, ev->topic_in, job->partition, job->offset);
        ph_counter_inc(ev->records_evaluated);
        if (job->ingest_time_ms > 0)
            ph_histogram_observe(ev->lag_seconds,
                                 (double)(ph_now_ms() - job->ingest_time_ms) / 1000.0);
    }
    ph_job_free(job);
}

void ph_job_release(ph_job *job, int n)
{
    if (atomic_fetch_sub(&job->pending, n) == n)
        finish(job);
}

void ph_evaluator_on_delivery(void *msg_opaque, rd_kafka_resp_err_t err,
                              const rd_kafka_message_t *rkm, void *arg)
{
    ph_job_eval *slot = msg_opaque;
    ph_job *job = slot->job;
    if (err) {
        ph_counter_inc(job->ev->delivery_failures);
        ph_log_error(COMPONENT, "Evaluation not delivered: %s", rd_kafka_err2str(err));
        atomic_store(&job->failed, true);
    } else if (slot->delivered) {
        ph_counter_inc(slot->delivered);
    }
    ph_job_release(job, 1);
}

/* ---- per-thread context ---------------------------------------------------------------------
 */

typedef struct counter_slot {
    char name[PH_EVAL_NAME_MAX];
    int status;
    ph_counter *counter; /* NULL: free slot */
} counter_slot;

static const char *status_name(int status)
{
    return status == PH_EVAL_OK ? "OK" : status == PH_EVAL_SKIPPED ? "SKIPPED" : "ERROR";
}

/* The delivered-evaluations counter of (evaluator, status), registered the first time. */
static ph_counter *counter_for(ph_worker *w, const char *name, int status)
{
    if (w->ncounters * 2 >= w->counters_cap) {
        size_t cap = w->counters_cap ? w->counters_cap * 2 : 64;
        counter_slot *grown = calloc(cap, sizeof(*grown));
        if (!grown)
            return NULL;
        for (size_t i = 0; i < w->counters_cap; i++) {
            if (!w->counters[i].counter)
                continue;
            size_t h = (XXH3_64bits(w->counters[i].name, strlen(w->counters[i].name)) ^
                        (uint64_t)w->counters[i].status) &
                       (cap - 1);
            while (grown[h].counter)
                h = (h + 1) & (cap - 1);
            grown[h] = w->counters[i];
        }
        free(w->counters);
        w->counters = grown;
        w->counters_cap = cap;
    }
    size_t h = (XXH3_64bits(name, strlen(name)) ^ (uint64_t)status) & (w->counters_cap - 1);
    while (w->counters[h].counter) {
        if (w->counters[h].status == status && strcmp(w->counters[h].name, name) == 0)
            return w->counters[h].counter;
        h = (h + 1) & (w->counters_cap - 1);
    }
    char labels[256];
    if (ph_metrics_labels(labels, sizeof(labels), "evaluator", name, "status", status_name(status),
                          NULL))
        return NULL;
    ph_counter *c =
        ph_metrics_counter(w->ev->metrics, "pharos_evaluator_evaluations_total",
                           "Evaluations delivered to Kafka, by evaluator and status", labels);
    if (!c)
        return NULL;
    snprintf(w->counters[h].name, sizeof(w->counters[h].name), "%s", name);
    w->counters[h].status = status;
    w->counters[h].counter = c;
    w->ncounters++;
    return c;
}

int ph_worker_init(ph_worker *w, ph_evaluator *ev, char *errstr, size_t errstr_size)
{
    int rc;
    memset(w, 0, sizeof(*w));
    w->ev = ev;
    ph_eval_scratch_init(&w->scratch);
    ph_eval_sink_init(&w->sink);
    if ((rc = ph_eval_encoder_new(&w->enc, ev->codec, errstr, errstr_size)) ||
        (rc = ph_avro_decoder_new(&w->dec, ev->codec, errstr, errstr_size)))
        return rc;
    return PH_OK;
}

void ph_worker_fini(ph_worker *w)
{
    ph_eval_encoder_destroy(w->enc);
    ph_avro_decoder_destroy(w->dec);
    w->enc = NULL;
    w->dec = NULL;
    ph_eval_scratch_free(&w->scratch);
    ph_eval_sink_free(&w->sink);
    free(w->counters);
    w->counters = NULL;
    w->ncounters = w->counters_cap = 0;
}

/* ---- producing --------------------------------------------------------------------------- */

void ph_worker_produce(ph_worker *w, ph_job *job, const ph_eval_record *rec,
                       const ph_eval_result *r, ph_job_eval *slot)
{
    ph_evaluator *ev = w->ev;
    char errstr[PH_ERRSTR_SIZE];
    const void *buf;
    size_t len;
    slot->job = job;
    slot->delivered = counter_for(w, r->evaluator, r->status);
    int rc = ph_eval_encode(w->enc, r, rec, ph_now_ms(), &buf, &len, errstr, sizeof(errstr));
    const void *key = job->rkm ? job->rkm->key : job->key;
    size_t keylen = job->rkm ? job->rkm->key_len : job->keylen;
    /* A full queue is waited out: the poll thread frees it as reports arrive. */
    if (rc == PH_OK)
        rc = ph_kafka_produce_wait(ev->producer, ev->topic_out, key, keylen, buf, len, NULL, 0,
                                   slot, 60000, errstr, sizeof(errstr));
    if (rc) {
        ph_log_error(COMPONENT, "Evaluation %s of %s [%" PRId32 "] offset %" PRId64 ": %s",
                     r->evaluator, ev->topic_in, job->partition, job->offset, errstr);
        ph_counter_inc(ev->delivery_failures);
        atomic_store(&job->failed, true);
        ph_job_release(job, 1);
    }
}

/* A poison record: one ERROR Evaluation from the "decode" evaluator, with the reason. */
static void produce_poison(ph_worker *w, ph_job *job, const char *why)
{
    ph_evaluator *ev = w->ev;
    char id[320];
    snprintf(id, sizeof(id), "kafka:%s:%" PRId32 ":%" PRId64, ev->topic_in, job->partition,
             job->offset);
    ph_log_warn(COMPONENT, "undecodable record %s: %s", id, why);
    ph_counter_inc(ev->records_poison);
    ph_eval_record rec;
    memset(&rec, 0, sizeof(rec));
    rec.record_id = (ph_str){id, strlen(id)};
    rec.session_id = rec.trace_id = rec.app = rec.environment = rec.model = rec.route = rec.output =
        (ph_str){"", 0};
    ph_eval_result r;
    memset(&r, 0, sizeof(r));
    snprintf(r.evaluator, sizeof(r.evaluator), "%s", PH_DECODE_EVALUATOR);
    snprintf(r.version, sizeof(r.version), "%s", PH_DECODE_EVALUATOR_VERSION);
    r.status = PH_EVAL_ERROR;
    r.passed = -1;
    ph_eval_explain(&r, "undecodable LlmLog: %s", why);
    if (!(job->evals = calloc(1, sizeof(*job->evals)))) {
        atomic_store(&job->failed, true);
        return;
    }
    job->nevals = 1;
    atomic_fetch_add(&job->pending, 1);
    ph_worker_produce(w, job, &rec, &r, &job->evals[0]);
}

int ph_worker_decode(ph_worker *w, ph_job *job, avro_value_t **llmlog, ph_eval_record *rec)
{
    char errstr[PH_ERRSTR_SIZE];
    rd_kafka_message_t *rkm = job->rkm;
    int rc = ph_avro_decode(w->dec, PH_SCHEMA_LLM_LOG, rkm->payload, rkm->len, llmlog, errstr,
                            sizeof(errstr));
    if (rc == PH_OK)
        rc = ph_eval_record_from_avro(*llmlog, &w->scratch, rec, errstr, sizeof(errstr));
    if (rc == PH_ENOMEM) {
        atomic_store(&job->failed, true);
        return rc;
    }
    if (rc) {
        if (w->ev->judge_role) {
            ph_log_warn(COMPONENT, "undecodable record at %s [%" PRId32 "] offset %" PRId64 ": %s",
                        w->ev->topic_in, job->partition, job->offset, errstr);
            ph_counter_inc(w->ev->records_poison);
        } else {
            produce_poison(w, job, errstr);
        }
        return PH_EINVAL;
    }
    job->ingest_time_ms = rec->ingest_time_ms;
    return PH_OK;
}

/* The cheap role's whole work on one record. */
static void process(ph_worker *w, ph_job *job)
{
    ph_evaluator *ev = w->ev;
    avro_value_t *llmlog = NULL;
    ph_eval_record rec;
    if (ph_worker_decode(w, job, &llmlog, &rec) == PH_OK) {
        ph_eval_sink_reset(&w->sink);
        if (ph_eval_set_run(ev->set, &rec, &w->sink) ||
            (w->sink.n && !(job->evals = calloc(w->sink.n, sizeof(*job->evals))))) {
            ph_log_error(COMPONENT, "out of memory evaluating offset %" PRId64, job->offset);
            atomic_store(&job->failed, true);
        } else {
            job->nevals = w->sink.n;
            atomic_fetch_add(&job->pending, (int)w->sink.n);
            for (size_t i = 0; i < w->sink.n; i++)
                ph_worker_produce(w, job, &rec, &w->sink.results[i], &job->evals[i]);
            /* The session turn is recorded before the record can count as done. */
            if (ev->sessions && rec.session_id.len &&
                ph_sessions_take(ev->sessions, job, llmlog, &rec, w->sink.results, w->sink.n))
                atomic_store(&job->failed, true);
        }
    }
    rd_kafka_message_destroy(job->rkm);
    job->rkm = NULL;
    ph_job_release(job, 1); /* the evaluation hold */
}

/* ---- the work queue ---------------------------------------------------------------------- */

void ph_work_push(ph_evaluator *ev, ph_job *job)
{
    pthread_mutex_lock(&ev->qlock);
    job->next = NULL;
    if (ev->qtail)
        ev->qtail->next = job;
    else
        ev->qhead = job;
    ev->qtail = job;
    pthread_cond_signal(&ev->qcond);
    pthread_mutex_unlock(&ev->qlock);
}

static ph_job *work_pop(ph_evaluator *ev)
{
    pthread_mutex_lock(&ev->qlock);
    while (!ev->qhead && !ev->qstop)
        pthread_cond_wait(&ev->qcond, &ev->qlock);
    ph_job *job = ev->qstop ? NULL : ev->qhead;
    if (job) {
        ev->qhead = job->next;
        if (!ev->qhead)
            ev->qtail = NULL;
    }
    pthread_mutex_unlock(&ev->qlock);
    return job;
}

static void *worker_main(void *arg)
{
    ph_worker *w = arg;
    ph_job *job;
    while ((job = work_pop(w->ev)))
        process(w, job);
    return NULL;
}

int ph_workers_start(ph_evaluator *ev, char *errstr, size_t errstr_size)
{
    int rc;
    pthread_mutex_init(&ev->qlock, NULL);
    pthread_cond_init(&ev->qcond, NULL);
    ev->qready = true;
    if (!(ev->workers = calloc((size_t)ev->cfg->workers, sizeof(*ev->workers))))
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    ev->nworkers = (size_t)ev->cfg->workers;
    for (size_t i = 0; i < ev->nworkers; i++) {
        ph_worker *w = &ev->workers[i];
        if ((rc = ph_worker_init(w, ev, errstr, errstr_size)))
            return rc;
        if (pthread_create(&w->thread, NULL, worker_main, w))
            return ph_err(errstr, errstr_size, PH_EIO, "cannot start worker thread");
        w->started = true;
        char name[16];
        snprintf(name, sizeof(name), "eval-%u", (unsigned)(i % 1000));
        pthread_setname_np(w->thread, name);
    }
    return PH_OK;
}

void ph_workers_stop(ph_evaluator *ev)
{
    if (!ev->qready)
        return;
    pthread_mutex_lock(&ev->qlock);
    ev->qstop = true;
    pthread_cond_broadcast(&ev->qcond);
    pthread_mutex_unlock(&ev->qlock);
    for (size_t i = 0; i < ev->nworkers; i++) {
        if (ev->workers[i].started)
            pthread_join(ev->workers[i].thread, NULL);
        ev->workers[i].started = false;
        ph_worker_fini(&ev->workers[i]);
    }
    /* Jobs never started: their records stay not done, read again after a restart. */
    while (ev->qhead) {
        ph_job *job = ev->qhead;
        ev->qhead = job->next;
        ph_job_free(job);
    }
    ev->qtail = NULL;
    free(ev->workers);
    ev->workers = NULL;
    ev->nworkers = 0;
    pthread_cond_destroy(&ev->qcond);
    pthread_mutex_destroy(&ev->qlock);
    ev->qready = false;
}
