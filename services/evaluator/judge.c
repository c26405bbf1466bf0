/* The judge role: each record is scored by the cheap evaluator set on the main thread, only to
 * gate the LLM judge (lib/judge, configured by the "judge" object of the evaluator config
 * file); only the judge's results are produced. The judge belongs to the main thread (libcurl
 * multi: hundreds of requests in flight from one thread), so everything here runs there.
 *
 * A record is done when the judge delivered every result it announced at submit time
 * (ph_judge_submit's *nresults, possibly 0) and Kafka acknowledged each of them. A full judge
 * queue (PH_EQUEUEFULL) keeps the record, and those taken after it, in ev->deferred, and polling
 * pauses until the judge accepts them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator_int.h"
#include "ph_error.h"
#include "ph_judge.h"
#include "ph_log.h"

/* Copies the identity fields of rec into job (the results outlive the decoded record). */
static int keep_ident(ph_job *job, const ph_eval_record *rec)
{
    const ph_str *src[] = {&rec->record_id, &rec->session_id,  &rec->trace_id,
                           &rec->app,       &rec->environment, &rec->model};
    ph_str *dst[] = {&job->ident.record_id, &job->ident.session_id,  &job->ident.trace_id,
                     &job->ident.app,       &job->ident.environment, &job->ident.model};
    size_t total = 0;
    for (size_t i = 0; i < sizeof(src) / sizeof(src[0]); i++)
        total += src[i]->len + 1;
    char *p = job->ident_buf = malloc(total);
    const void *key = job->rkm->key;
    job->keylen = job->rkm->key_len;
    job->key = malloc(job->keylen ? job->keylen : 1);
    if (!p || !job->key)
        return PH_ENOMEM;
    if (job->keylen)
        memcpy(job->key, key, job->keylen);
    for (size_t i = 0; i < sizeof(src) / sizeof(src[0]); i++) {
        if (src[i]->len)
            memcpy(p, src[i]->s, src[i]->len);
        p[src[i]->len] = '\0';
        *dst[i] = (ph_str){p, src[i]->len};
        p += src[i]->len + 1;
    }
    job->ident.route = job->ident.output = (ph_str){"", 0};
    job->ident.record_time_ms = rec->record_time_ms;
    job->ident.ingest_time_ms = rec->ingest_time_ms;
    return PH_OK;
}

static void on_result(void *opaque, const ph_eval_result *result, void *arg)
{
    ph_job *job = opaque;
    ph_evaluator *ev = arg;
    if (job->nreceived >= job->nevals) {
        /* More than announced: a bug of the judge; never let it corrupt the count. */
        ph_log_error(COMPONENT, "judge delivered an unannounced result for %s",
                     job->ident.record_id.s);
        return;
    }
    ph_worker_produce(&ev->main_worker, job, &job->ident, result, &job->evals[job->nreceived++]);
}

/* Results delivered while shutting down: the record stays not done (judged again later). */
static void on_dropped(void *opaque, const ph_eval_result *result, void *arg)
{
    ph_job *job = opaque;
    atomic_store(&job->abandoned, true);
    ph_job_release(job, 1);
}

/* Submits a decoded-again (or first-time) record. Returns 0, PH_EQUEUEFULL or PH_EFATAL. */
static int submit(ph_evaluator *ev, ph_job *job)
{
    ph_worker *w = &ev->main_worker;
    avro_value_t *llmlog = NULL;
    ph_eval_record rec;
    int rc = ph_worker_decode(w, job, &llmlog, &rec);
    if (rc == PH_ENOMEM)
        return PH_EFATAL;
    if (rc == PH_OK) {
        ph_eval_sink_reset(&w->sink);
        size_t nresults = 0;
        if (ph_eval_set_run(ev->set, &rec, &w->sink))
            return PH_EFATAL;
        rc = ph_judge_submit(ev->judge, &rec, w->sink.results, w->sink.n, job, &nresults);
        if (rc == PH_EQUEUEFULL)
            return rc;
        if (rc || (!job->ident_buf && keep_ident(job, &rec)) ||
            (nresults && !(job->evals = calloc(nresults, sizeof(*job->evals))))) {
            ph_log_error(COMPONENT, "judge submit: %s", ph_strerror(rc ? rc : PH_ENOMEM));
            return PH_EFATAL;
        }
        job->nevals = nresults;
        atomic_fetch_add(&job->pending, (int)nresults);
    }
    rd_kafka_message_destroy(job->rkm);
    job->rkm = NULL;
    ph_job_release(job, 1); /* the evaluation hold: done now when nothing applies */
    return PH_OK;
}

int ph_judge_role_take(ph_evaluator *ev, ph_job *job)
{
    if (ev->deferred) { /* keep the order: behind the ones already waiting */
        job->next = NULL;
        ev->deferred_tail->next = job;
        ev->deferred_tail = job;
        return PH_EQUEUEFULL;
    }
    int rc = submit(ev, job);
    if (rc == PH_EQUEUEFULL) {
        job->next = NULL;
        ev->deferred = ev->deferred_tail = job;
    } else if (rc) {
        atomic_store(&ev->failed, true);
    }
    return rc;
}

void ph_judge_role_poll(ph_evaluator *ev, int timeout_ms)
{
    if (!ev->judge)
        return;
    while (ev->deferred) {
        ph_job *job = ev->deferred;
        /* submit() may have been attempted before: the message is still held */
        int rc = submit(ev, job);
        if (rc == PH_EQUEUEFULL)
            break;
        ev->deferred = job->next;
        if (!ev->deferred)
            ev->deferred_tail = NULL;
        if (rc)
            atomic_store(&ev->failed, true);
    }
    ph_judge_poll(ev->judge, timeout_ms, on_result, ev);
    ph_judge_stats st;
    ph_judge_get_stats(ev->judge, &st);
    ph_gauge_set(ev->judge_pending, (double)st.pending);
    ph_gauge_set(ev->judge_tokens, (double)st.tokens_total);
    ph_gauge_set(ev->judge_cost, st.cost_usd_total);
}

size_t ph_judge_role_pending(ph_evaluator *ev)
{
    return ev->judge ? ph_judge_pending(ev->judge) : 0;
}

void ph_judge_role_destroy(ph_evaluator *ev)
{
    while (ev->deferred) {
        ph_job *job = ev->deferred;
        ev->deferred = job->next;
        ph_job_free(job);
    }
    ev->deferred_tail = NULL;
    if (ev->judge)
        ph_judge_destroy(ev->judge, on_dropped, ev);
    ev->judge = NULL;
}

int ph_judge_role_create(ph_evaluator *ev, char *errstr, size_t errstr_size)
{
    const json_t *config = ph_eval_set_judge(ev->set);
    char why[PH_ERRSTR_SIZE];
    if (!config)
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "role judge: the evaluator config file (--evaluators) has no \"judge\" "
                      "object");
    int rc = ph_judge_new(&ev->judge, config, why, sizeof(why));
    if (rc)
        return ph_err(errstr, errstr_size, rc, "judge: %s", why);
    ev->judge_pending = ph_metrics_gauge(ev->metrics, "pharos_evaluator_judge_pending",
                                         "Judge results submitted and not yet delivered", NULL);
    ev->judge_tokens = ph_metrics_gauge(ev->metrics, "pharos_evaluator_judge_tokens",
                                        "Judge tokens used since the start", NULL);
    ev->judge_cost = ph_metrics_gauge(ev->metrics, "pharos_evaluator_judge_cost_usd",
                                      "What the judge cost since the start, in US dollars", NULL);
    if (!ev->judge_pending || !ev->judge_tokens || !ev->judge_cost)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    return PH_OK;
}
