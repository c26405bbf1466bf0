/* pharos-evaluator: a consumer-group member on pharos.logs.valid that writes one Evaluation per
 * evaluator result to pharos.evals, keyed like its input (by session).
 *
 * Role "cheap" (default, group <prefix>pharos-evaluator): the main thread polls and hands each
 * record to a worker thread, which decodes it, runs the evaluator set (lib/eval, configured by
 * --evaluators=FILE) and produces the Evaluations; a record is done when the delivery reports of
 * all its Evaluations succeeded (and its session turn is committed to SQLite), and offsets are
 * stored through per-partition watermarks (lib/kafka ph_kafka_tracker), so out-of-order
 * completion never stores past a record that is not done. Role "judge" (group
 * <prefix>pharos-judge, so the slow judge never holds the cheap evaluators back): the same
 * consumption, but each record is scored by the cheap set on the main thread only to gate the
 * LLM judge (lib/judge), and only the judge's results are produced. See docs/evaluators.md. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evaluator_int.h"
#include "ph_error.h"
#include "ph_log.h"
#include "ph_util.h"
#include "sessions.h"

/* Records taken between two looks at the clock, the watermarks and the sessions. */
#define BURST 512

/* ---- serving: what the main thread does between polls (and while it waits) ---------------- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Sessions (commit the batch, evaluate idle ones), the judge, and the offsets of the records
 * done meanwhile. Waits up to timeout_ms for the judge (or just sleeps, without one). */
static void serve(ph_evaluator *ev, int timeout_ms)
{
    if (ev->sessions)
        ph_sessions_step(ev->sessions, false);
    if (ev->judge)
        ph_judge_role_poll(ev, timeout_ms);
    else if (timeout_ms > 0)
        sleep_ms(timeout_ms);
    if (ev->consumer)
        ph_kafka_tracker_store(ev->tracker, ev->consumer);
}

/* ---- backpressure ------------------------------------------------------------------------ */

static void pause_all(ph_evaluator *ev, bool pause)
{
    rd_kafka_t *rk = ph_kafka_consumer_rk(ev->consumer);
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts->cnt) {
        rd_kafka_resp_err_t err =
            pause ? rd_kafka_pause_partitions(rk, parts) : rd_kafka_resume_partitions(rk, parts);
        if (err)
            ph_log_warn(COMPONENT, "%s partitions: %s", pause ? "pause" : "resume",
                        rd_kafka_err2str(err));
    }
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    ev->paused = pause;
    ph_log_debug(COMPONENT, "%s (%ld records in flight)", pause ? "paused" : "resumed",
                 (long)atomic_load(&ev->inflight));
}

/* Bounded in-flight: polling pauses at max_inflight_records and resumes at half. The consumer
 * keeps being polled while paused, so rebalances are served and the group keeps us. */
static void backpressure(ph_evaluator *ev)
{
    long n = atomic_load(&ev->inflight);
    bool full = n >= ev->cfg->max_inflight_records || ev->deferred;
    if (!ev->paused && full)
        pause_all(ev, true);
    else if (ev->paused && !full && n <= ev->cfg->max_inflight_records / 2)
        pause_all(ev, false);
}

/* ---- rebalances -------------------------------------------------------------------------- */

/* Logs the partitions of a rebalance (operators and the scaling test read them). */
static void log_parts(const char *what, const rd_kafka_topic_partition_list_t *parts)
{
    char buf[1024];
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < parts->cnt && used + 16 < sizeof(buf); i++)
        used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%d", i ? " " : "",
                                 (int)parts->elems[i].partition);
    ph_log_info(COMPONENT, "partitions %s: %s", what, buf);
}

static void on_assign(void *arg, const rd_kafka_topic_partition_list_t *parts)
{
    ph_evaluator *ev = arg;
    log_parts("assigned", parts);
    for (int i = 0; i < parts->cnt; i++)
        ph_kafka_tracker_forget(ev->tracker, parts->elems[i].topic, parts->elems[i].partition);
    if (ev->sessions)
        ph_sessions_assign(ev->sessions, parts, true);
    if (ev->paused) /* newly assigned partitions start paused too */
        rd_kafka_pause_partitions(ph_kafka_consumer_rk(ev->consumer),
                                  (rd_kafka_topic_partition_list_t *)parts);
}

static size_t pending_in(ph_evaluator *ev, const rd_kafka_topic_partition_list_t *parts)
{
    size_t n = 0;
    for (int i = 0; i < parts->cnt; i++)
        n +=
            ph_kafka_tracker_pending(ev->tracker, parts->elems[i].topic, parts->elems[i].partition);
    return n;
}

/* Commits, synchronously, the watermarks of the partitions about to go. */
static void commit_revoked(ph_evaluator *ev, const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++) {
        int64_t last;
        if (ph_kafka_tracker_committable(ev->tracker, parts->elems[i].topic,
                                         parts->elems[i].partition, &last) == PH_OK)
            rd_kafka_topic_partition_list_add(offsets, parts->elems[i].topic,
                                              parts->elems[i].partition)
                ->offset = last + 1;
    }
    if (offsets->cnt) {
        rd_kafka_resp_err_t err = rd_kafka_commit(ph_kafka_consumer_rk(ev->consumer), offsets, 0);
        if (err)
            ph_log_warn(COMPONENT, "committing revoked partitions: %s", rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(offsets);
}

/* Before partitions go: wait (bounded) for their records in flight, store and commit what is
 * done, forget them. Records still in flight after the wait are evaluated by the next owner
 * too (duplicates, which downstream absorbs). A lost assignment is abandoned at once: another
 * member may own the partitions already. */
static void on_revoke(void *arg, const rd_kafka_topic_partition_list_t *parts, bool lost)
{
    ph_evaluator *ev = arg;
    log_parts(lost ? "lost" : "revoked", parts);
    if (!lost) {
        int64_t deadline = ph_mono_ms() + ev->cfg->revoke_timeout_ms;
        if (ev->draining && ev->drain_deadline < deadline)
            deadline = ev->drain_deadline;
        size_t left;
        while ((left = pending_in(ev, parts)) > 0 && ph_mono_ms() < deadline)
            serve(ev, 5);
        serve(ev, 0);
        if (left)
            ph_log_warn(COMPONENT,
                        "%zu records of the revoked partitions still in flight: their next "
                        "owner evaluates them again",
                        left);
        commit_revoked(ev, parts);
    }
    if (ev->sessions)
        ph_sessions_assign(ev->sessions, parts, false);
    for (int i = 0; i < parts->cnt; i++)
        ph_kafka_tracker_forget(ev->tracker, parts->elems[i].topic, parts->elems[i].partition);
    /* Deferred records of revoked partitions: their new owner takes them. */
    ph_job **pp = &ev->deferred;
    ev->deferred_tail = NULL;
    while (*pp) {
        ph_job *job = *pp;
        bool revoked = false;
        for (int i = 0; i < parts->cnt && !revoked; i++)
            revoked = parts->elems[i].partition == job->partition;
        if (revoked) {
            *pp = job->next;
            ph_job_free(job);
        } else {
            ev->deferred_tail = job;
            pp = &job->next;
        }
    }
}

/* ---- consumption ------------------------------------------------------------------------- */

/* Takes one record: tracked first (so its offset cannot be stored before it is done), then
 * handed to a worker or, in the judge role, evaluated and submitted here. */
static int take(ph_evaluator *ev, rd_kafka_message_t *rkm)
{
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    int rc = ph_kafka_tracker_add(ev->tracker, topic, rkm->partition, rkm->offset);
    if (rc == PH_EINVAL) {
        /* read again from an earlier offset (the partition came back): start afresh */
        ph_kafka_tracker_forget(ev->tracker, topic, rkm->partition);
        rc = ph_kafka_tracker_add(ev->tracker, topic, rkm->partition, rkm->offset);
    }
    ph_job *job = rc == PH_OK ? ph_job_new(ev, rkm) : NULL;
    if (!job) {
        rd_kafka_message_destroy(rkm);
        ph_log_error(COMPONENT, "out of memory taking a record");
        return PH_EFATAL;
    }
    if (!ev->judge_role) {
        ph_work_push(ev, job);
        return PH_OK;
    }
    rc = ph_judge_role_take(ev, job);
    return rc == PH_EQUEUEFULL ? PH_OK : rc;
}

static int step(void *state)
{
    ph_evaluator *ev = state;
    char why[PH_ERRSTR_SIZE];
    if (atomic_load(&ev->failed) || ph_kafka_producer_fatal(ev->producer, why, sizeof(why)) ||
        ph_kafka_consumer_fatal(ev->consumer, why, sizeof(why)))
        return PH_EFATAL;
    int64_t now = ph_mono_ms();
    int64_t until = now + 100;
    while (now < until && !ph_service_stopping(ev->svc)) {
        backpressure(ev);
        int n = 0;
        /* Waiting happens in the consumer poll, unless the judge has work to drive. */
        int wait = ev->judge && ph_judge_role_pending(ev) ? 0 : 20;
        rd_kafka_message_t *rkm;
        while (n < BURST &&
               (ev->paused || atomic_load(&ev->inflight) < ev->cfg->max_inflight_records) &&
               (rkm = ph_kafka_consumer_poll(ev->consumer, n == 0 ? wait : 0))) {
            n++;
            int rc = take(ev, rkm);
            if (rc == PH_EFATAL)
                return PH_EFATAL;
            if (ev->paused)
                break; /* a record fetched before the pause: taken, then back to waiting */
        }
        serve(ev, ev->judge ? 10 : (ev->paused ? 5 : 0));
        now = ph_mono_ms();
    }
    return atomic_load(&ev->failed) ? PH_EFATAL : PH_OK;
}

static int drain(void *state, int64_t deadline_ms)
{
    ph_evaluator *ev = state;
    ev->draining = true;
    ev->drain_deadline = deadline_ms;
    /* Intake stops (no more polling); finish what is in flight. */
    while (atomic_load(&ev->inflight) > 0 && ph_mono_ms() < deadline_ms &&
           !atomic_load(&ev->failed))
        serve(ev, 5);
    serve(ev, 0);
    if (ev->sessions)
        ph_sessions_step(ev->sessions, true);
    long left = atomic_load(&ev->inflight);
    if (left)
        ph_log_warn(COMPONENT,
                    "%ld records still in flight at the drain deadline: they will be "
                    "evaluated again after the restart",
                    left);
    ph_judge_role_destroy(ev);
    if (ev->consumer) {
        ph_kafka_tracker_store(ev->tracker, ev->consumer);
        rd_kafka_resp_err_t err = rd_kafka_commit(ph_kafka_consumer_rk(ev->consumer), NULL, 0);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
            ph_log_warn(COMPONENT, "final commit: %s", rd_kafka_err2str(err));
    }
    ph_kafka_consumer_destroy(ev->consumer); /* the revoke callback finds nothing to wait for */
    ev->consumer = NULL;
    int64_t wait = deadline_ms - ph_mono_ms();
    int rc = ph_kafka_producer_flush(ev->producer, wait > 0 ? (int)wait : 0, NULL);
    ph_workers_stop(ev);
    if (atomic_load(&ev->failed))
        return PH_EFATAL;
    return rc || left ? PH_ETIMEDOUT : PH_OK;
}

static void destroy(void *state)
{
    ph_evaluator *ev = state;
    if (!ev)
        return;
    ph_workers_stop(ev);
    ph_judge_role_destroy(ev);
    ph_kafka_consumer_destroy(ev->consumer);
    ph_kafka_producer_destroy(ev->producer);
    ph_sessions_close(ev->sessions);
    ph_worker_fini(&ev->main_worker);
    ph_kafka_tracker_destroy(ev->tracker);
    ph_eval_set_destroy(ev->set);
    ph_codec_destroy(ev->codec);
    free(ev);
}

static int health(void *state, char *why, size_t why_size)
{
    ph_evaluator *ev = state;
    if (atomic_load(&ev->failed)) {
        snprintf(why, why_size, "an Evaluation could not be delivered");
        return PH_EFATAL;
    }
    return PH_OK;
}

/* ---- create ------------------------------------------------------------------------------ */

static double inflight_gauge(void *arg)
{
    ph_evaluator *ev = arg;
    return (double)atomic_load(&ev->inflight);
}

static void log_instances(const ph_eval_set *set)
{
    ph_eval_instance_info info;
    for (size_t i = 0; ph_eval_set_entry(set, i, &info) == PH_OK; i++) {
        if (info.match_app || info.match_environment)
            ph_log_info(COMPONENT, "evaluator %s (%s) version %s for app=%s environment=%s",
                        info.name, info.kind, info.version, info.match_app ? info.match_app : "*",
                        info.match_environment ? info.match_environment : "*");
        else
            ph_log_info(COMPONENT, "evaluator %s (%s) version %s", info.name, info.kind,
                        info.version);
    }
}

static int create_metrics(ph_evaluator *ev)
{
    ph_metrics *m = ev->metrics;
    static const double lag_buckets[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1,   2.5,
                                         5,    10,   30,  60,   300, 900, 3600};
    ev->records_evaluated = ph_metrics_counter(
        m, "pharos_evaluator_records_total",
        "Records done (every Evaluation delivered), by outcome", "result=\"evaluated\"");
    ev->records_poison = ph_metrics_counter(
        m, "pharos_evaluator_poison_total",
        "Undecodable records (each gets a decode ERROR Evaluation in the cheap role)", NULL);
    ev->delivery_failures =
        ph_metrics_counter(m, "pharos_evaluator_delivery_failures_total",
                           "Evaluations Kafka did not acknowledge (the service then restarts "
                           "and evaluates their records again)",
                           NULL);
    ev->lag_seconds =
        ph_metrics_histogram(m, "pharos_evaluator_lag_seconds",
                             "From a record's ingest time to the delivery of its last Evaluation",
                             NULL, lag_buckets, sizeof(lag_buckets) / sizeof(lag_buckets[0]));
    if (!ev->records_evaluated || !ev->records_poison || !ev->delivery_failures || !ev->lag_seconds)
        return PH_ENOMEM;
    return ph_metrics_gauge_fn(m, "pharos_evaluator_inflight_records",
                               "Records taken and not yet done", NULL, inflight_gauge, ev);
}

static int check_config(const ph_evaluator_config *cfg, bool *judge, char *errstr,
                        size_t errstr_size)
{
    if (!cfg->role || (strcmp(cfg->role, "cheap") && strcmp(cfg->role, "judge")))
        return ph_err(errstr, errstr_size, PH_EINVAL, "role: cheap or judge, not %s",
                      cfg->role ? cfg->role : "(empty)");
    *judge = strcmp(cfg->role, "judge") == 0;
    if (cfg->workers < 1 || cfg->workers > 256)
        return ph_err(errstr, errstr_size, PH_EINVAL, "workers: 1 to 256");
    if (cfg->max_inflight_records < 1 || cfg->commit_interval_ms < 1 ||
        cfg->revoke_timeout_ms < 0 || cfg->session_idle_ms < 1 || cfg->session_retention_ms < 0)
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "max_inflight_records, commit_interval_ms and session_idle_ms must be "
                      "positive; revoke_timeout_ms and session_retention_ms not negative");
    return PH_OK;
}

static int create_kafka(ph_evaluator *ev, char *errstr, size_t errstr_size)
{
    const ph_common_config *common = ph_service_common(ev->svc);
    const char *prefix = common->topic_prefix ? common->topic_prefix : "";
    const char *who = ev->judge_role ? "pharos-judge" : "pharos-evaluator";
    char client_id[300];
    int rc;
    snprintf(client_id, sizeof(client_id), "%s-%s", who, common->instance);
    ph_kafka_producer_config pc = {.brokers = common->brokers,
                                   .client_id = client_id,
                                   .props = ph_service_kafka_props(ev->svc),
                                   .on_delivery = ph_evaluator_on_delivery,
                                   .arg = ev,
                                   .poll_thread = true};
    if ((rc = ph_kafka_producer_new(&ev->producer, &pc, errstr, errstr_size)))
        return rc;
    if (ev->cfg->group_id)
        snprintf(ev->group_id, sizeof(ev->group_id), "%s", ev->cfg->group_id);
    else
        snprintf(ev->group_id, sizeof(ev->group_id), "%s%s", prefix, who);
    snprintf(ev->instance_id, sizeof(ev->instance_id), "%s%s-%s", prefix, who, common->instance);
    /* Offsets stored by the tracker are committed in the background this often; a kafka.*
     * flag still wins (it comes later in the list). */
    snprintf(ev->commit_value, sizeof(ev->commit_value), "%" PRId64, ev->cfg->commit_interval_ms);
    ev->commit_prop = (ph_config_kv){.key = "auto.commit.interval.ms",
                                     .value = ev->commit_value,
                                     .next = (ph_config_kv *)ph_service_kafka_props(ev->svc)};
    const char *topics[] = {ev->topic_in};
    ph_kafka_consumer_config cc = {
        .brokers = common->brokers,
        .client_id = client_id,
        .group_id = ev->group_id,
        .group_instance_id = ev->cfg->static_membership ? ev->instance_id : NULL,
        .props = &ev->commit_prop,
        .topics = topics,
        .ntopics = 1,
        .read_committed = true, /* the validator writes pharos.logs.valid in transactions */
        .auto_commit = true,
        .on_assign = on_assign,
        .on_revoke = on_revoke,
        .arg = ev};
    return ph_kafka_consumer_new(&ev->consumer, &cc, errstr, errstr_size);
}

static int create(ph_service *svc, const void *config, void **state, char *errstr,
                  size_t errstr_size)
{
    const ph_evaluator_config *cfg = config;
    const ph_common_config *common = ph_service_common(svc);
    int rc;
    ph_evaluator *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    *state = ev;
    ev->svc = svc;
    ev->cfg = cfg;
    ev->metrics = ph_service_metrics(svc);
    atomic_init(&ev->inflight, 0);
    atomic_init(&ev->failed, false);
    if ((rc = check_config(cfg, &ev->judge_role, errstr, errstr_size)))
        return rc;
    if (ph_topic_name(common->topic_prefix, PH_TOPIC_LOGS_VALID, ev->topic_in,
                      sizeof(ev->topic_in)) ||
        ph_topic_name(common->topic_prefix, PH_TOPIC_EVALS, ev->topic_out, sizeof(ev->topic_out)))
        return ph_err(errstr, errstr_size, PH_ERANGE, "topic_prefix too long");
    if ((rc = ph_eval_set_load(&ev->set, cfg->evaluators, errstr, errstr_size)) ||
        (rc = ph_codec_new(&ev->codec, errstr, errstr_size)))
        return rc;
    log_instances(ev->set);
    if (ph_kafka_tracker_new(&ev->tracker) || create_metrics(ev))
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    if ((rc = ph_worker_init(&ev->main_worker, ev, errstr, errstr_size)))
        return rc;
    if (ev->judge_role) {
        if ((rc = ph_judge_role_create(ev, errstr, errstr_size)))
            return rc;
    } else if (cfg->sessions_db &&
               (rc = ph_sessions_open(&ev->sessions, ev, cfg->sessions_db, errstr, errstr_size))) {
        return rc;
    }
    if ((rc = create_kafka(ev, errstr, errstr_size)))
        return rc;
    if (!ev->judge_role && (rc = ph_workers_start(ev, errstr, errstr_size)))
        return rc;
    ph_log_info(COMPONENT, "role %s: consuming %s as group %s, producing %s%s%s",
                ev->judge_role ? "judge" : "cheap", ev->topic_in, ev->group_id, ev->topic_out,
                ev->sessions ? ", sessions in " : "", ev->sessions ? cfg->sessions_db : "");
    return PH_OK;
}

static const ph_config_entry config_table[] = {
    {"evaluators", PH_CFG_STR, NULL, offsetof(ph_evaluator_config, evaluators),
     "evaluator configuration file (JSON, docs/evaluators.md); empty: every built-in evaluator "
     "with its defaults"},
    {"role", PH_CFG_STR, "cheap", offsetof(ph_evaluator_config, role),
     "cheap: the built-in evaluators; judge: the LLM judge (the file's \"judge\" object), gated "
     "by the cheap results, in its own consumer group"},
    {"workers", PH_CFG_INT, "2", offsetof(ph_evaluator_config, workers),
     "evaluation threads (role cheap)"},
    {"group_id", PH_CFG_STR, NULL, offsetof(ph_evaluator_config, group_id),
     "consumer group; default <topic_prefix>pharos-evaluator (role cheap) or "
     "<topic_prefix>pharos-judge (role judge)"},
    {"static_membership", PH_CFG_BOOL, "true", offsetof(ph_evaluator_config, static_membership),
     "join as a static member (group.instance.id <topic_prefix>pharos-<role>-<instance>): a "
     "restarted instance gets its partitions, and its sessions, back at once; give each instance "
     "its own --instance"},
    {"max_inflight_records", PH_CFG_INT, "10000",
     offsetof(ph_evaluator_config, max_inflight_records),
     "records taken and not yet done; polling pauses beyond (backpressure)"},
    {"commit_interval_ms", PH_CFG_INT, "1000", offsetof(ph_evaluator_config, commit_interval_ms),
     "offsets of done records are committed, and session state is written to SQLite, this often"},
    {"revoke_timeout_ms", PH_CFG_INT, "10000", offsetof(ph_evaluator_config, revoke_timeout_ms),
     "on a rebalance, how long to wait for the in-flight records of revoked partitions"},
    {"sessions_db", PH_CFG_STR, NULL, offsetof(ph_evaluator_config, sessions_db),
     "SQLite file holding session state (role cheap); empty: no session evaluation"},
    {"session_idle_ms", PH_CFG_INT, "1800000", offsetof(ph_evaluator_config, session_idle_ms),
     "a session without a new turn for this long is evaluated (as is one whose record carries "
     "metadata session_end=true)"},
    {"session_retention_ms", PH_CFG_INT, "86400000",
     offsetof(ph_evaluator_config, session_retention_ms),
     "an evaluated session is kept this long, so records read again are recognised"},
};

const ph_service_def ph_evaluator_def = {
    .name = "evaluator",
    .summary = "scores valid LLM logs with the configured evaluators into pharos.evals",
    .default_http_addr = "http://0.0.0.0:8082",
    .config = config_table,
    .config_len = sizeof(config_table) / sizeof(config_table[0]),
    .config_size = sizeof(ph_evaluator_config),
    .create = create,
    .step = step,
    .drain = drain,
    .destroy = destroy,
    .health = health,
};
