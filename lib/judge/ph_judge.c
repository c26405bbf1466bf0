/* The judge: jobs (one per record and criterion) move from `ready` to `inflight` and either
 * finish or go to `delayed` for a retry, then back to `ready`. Every path out of those lists
 * goes through one of the ph_judge_finish_* functions, which queue exactly the job's results
 * for delivery and free it: that is where "exactly one result per criterion" is kept.
 *
 * Dispatch order for the job at the head of `ready`: the cache (free), the token budget (skip
 * when spent), the 429 pause, the in-flight cap, the rate limit. */
#include "ph_judge_int.h"

#include "ph_error.h"
#include "ph_log.h"
#include "ph_util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOUR_MS (3600 * 1000)

void ph_judge_list_push(ph_judge_list *l, ph_judge_job *job)
{
    job->list = l;
    job->next = NULL;
    job->prev = l->tail;
    if (l->tail)
        l->tail->next = job;
    else
        l->head = job;
    l->tail = job;
    l->n++;
}

void ph_judge_list_remove(ph_judge_job *job)
{
    ph_judge_list *l = job->list;
    if (!l)
        return;
    if (job->prev)
        job->prev->next = job->next;
    else
        l->head = job->next;
    if (job->next)
        job->next->prev = job->prev;
    else
        l->tail = job->prev;
    l->n--;
    job->list = NULL;
    job->prev = job->next = NULL;
}

static void job_free(ph_judge_job *job)
{
    if (!job)
        return;
    free(job->body);
    free(job->resp);
    free(job);
}

/* ---- completion ---- */

static ph_eval_result *add_result(ph_judge *j, ph_judge_job *job, const char *name,
                                  ph_eval_status status)
{
    if (j->ndone == j->done_cap) {
        size_t cap = j->done_cap ? j->done_cap * 2 : 64;
        ph_judge_done *grown = realloc(j->done, cap * sizeof(*grown));
        if (!grown) {
            /* Out of memory with a result to give: losing it silently is the one thing not
             * allowed, and there is no way to report it. */
            ph_log_error(PH_JUDGE_LOG, "out of memory queueing a result: aborting");
            abort();
        }
        j->done = grown;
        j->done_cap = cap;
    }
    ph_judge_done *d = &j->done[j->ndone++];
    memset(d, 0, sizeof(*d));
    d->opaque = job->opaque;
    ph_eval_result *r = &d->result;
    r->passed = -1;
    r->status = status;
    snprintf(r->evaluator, sizeof(r->evaluator), "%s", name);
    snprintf(r->version, sizeof(r->version), "%s", job->crit->version);
    if (status == PH_EVAL_OK)
        j->stats.ok++;
    else if (status == PH_EVAL_ERROR)
        j->stats.errors++;
    else
        j->stats.skipped++;
    return r;
}

/* Each job yields one result, or two for embeddings with relevance and groundedness. Tokens and
 * cost go on the first only, so that sums over results are right. */
static size_t job_results(const ph_judge_job *job, const char *names[2])
{
    const ph_judge_criterion *c = job->crit;
    size_t n = 0;
    if (c->type == PH_JUDGE_LLM || c->embed_relevance)
        names[n++] = c->result_name;
    if (c->type == PH_JUDGE_EMBEDDING && job->groundedness)
        names[n++] = c->result_name2;
    return n;
}

static void add_accounting(const ph_judge_job *job, ph_eval_result *r, int64_t now)
{
    r->tokens = job->tokens;
    r->cost_usd = job->cost_usd;
    ph_eval_add_value(r, "attempts", job->attempts);
    if (job->attempts)
        ph_eval_add_value(r, "latency_ms", (double)(now - job->first_start_ms));
    if (job->tokens) {
        ph_eval_add_value(r, "prompt_tokens", (double)job->prompt_tokens);
        ph_eval_add_value(r, "completion_tokens", (double)job->completion_tokens);
        ph_eval_add_value(r, "tokens_estimated", job->tokens_estimated);
    }
}

static void finish_status(ph_judge *j, ph_judge_job *job, ph_eval_status status, const char *why)
{
    const char *names[2];
    size_t n = job_results(job, names);
    int64_t now = ph_mono_ms();
    ph_judge_list_remove(job);
    for (size_t i = 0; i < n; i++) {
        ph_eval_result *r = add_result(j, job, names[i], status);
        ph_eval_explain(r, "%s", why);
        if (i == 0)
            add_accounting(job, r, now);
    }
    job_free(job);
}

void ph_judge_finish_error(ph_judge *j, ph_judge_job *job, const char *why)
{
    finish_status(j, job, PH_EVAL_ERROR, why);
}

void ph_judge_finish_skipped(ph_judge *j, ph_judge_job *job, const char *why)
{
    finish_status(j, job, PH_EVAL_SKIPPED, why);
}

void ph_judge_retry_or_fail(ph_judge *j, ph_judge_job *job, int64_t delay_ms, const char *why,
                            int64_t now)
{
    if (job->attempts >= j->cfg.max_attempts) {
        char msg[PH_EVAL_EXPLANATION_MAX];
        snprintf(msg, sizeof(msg), "%s (after %d attempt%s)", why, job->attempts,
                 job->attempts == 1 ? "" : "s");
        ph_judge_finish_error(j, job, msg);
        return;
    }
    ph_log_debug(PH_JUDGE_LOG, "%s: attempt %d: %s; retry in %lld ms", job->crit->result_name,
                 job->attempts, why, (long long)delay_ms);
    snprintf(job->last_error, sizeof(job->last_error), "%s", why);
    ph_judge_list_remove(job);
    job->not_before_ms = now + delay_ms;
    ph_judge_list_push(&j->delayed, job);
}

static void verdict_result(ph_judge *j, ph_judge_job *job, const ph_judge_verdict *v, bool cached,
                           int64_t now)
{
    const ph_judge_criterion *c = job->crit;
    ph_eval_result *r = add_result(j, job, c->result_name, PH_EVAL_OK);
    /* Scores are normalised to [0, 1] like every other evaluator's; the judge's own number is
     * kept as raw_score. */
    ph_eval_set_score(r, (v->score - c->score_min) / (c->score_max - c->score_min));
    ph_eval_add_value(r, "raw_score", v->score);
    ph_eval_set_label(r, v->label);
    if (c->has_pass_min || c->has_pass_max)
        ph_eval_set_passed(r, (!c->has_pass_min || v->score >= c->pass_min) &&
                                  (!c->has_pass_max || v->score <= c->pass_max));
    snprintf(r->explanation, sizeof(r->explanation), "%s", v->reason);
    add_accounting(job, r, now);
    ph_eval_add_value(r, "cached", cached);
}

static void embedding_results(ph_judge *j, ph_judge_job *job, const double cos[2], bool cached,
                              int64_t now)
{
    const char *names[2];
    size_t n = job_results(job, names);
    for (size_t i = 0; i < n; i++) {
        ph_eval_result *r = add_result(j, job, names[i], PH_EVAL_OK);
        ph_eval_set_score(r, cos[i]);
        ph_eval_explain(r, "cosine similarity of the %s embeddings",
                        names[i] == job->crit->result_name2 ? "response and context"
                                                            : "request and response");
        if (i == 0)
            add_accounting(job, r, now);
        ph_eval_add_value(r, "cached", cached);
    }
}

/* tokens from usage.total_tokens, else an estimate of 4 bytes a token. */
static void account(ph_judge *j, ph_judge_job *job, const ph_judge_usage *u, size_t reply_len)
{
    int64_t prompt = u->reported ? u->prompt_tokens : (int64_t)job->body_len / 4;
    int64_t completion = u->reported ? u->completion_tokens : (int64_t)reply_len / 4;
    int64_t total = u->reported ? u->total_tokens : prompt + completion;
    double cost =
        (double)prompt / 1000.0 * j->cfg.price_in + (double)completion / 1000.0 * j->cfg.price_out;
    job->prompt_tokens += prompt;
    job->completion_tokens += completion;
    job->tokens += total;
    job->tokens_estimated |= !u->reported;
    job->cost_usd += cost;
    j->stats.tokens_window += total;
    j->stats.tokens_total += total;
    j->stats.cost_usd_total += cost;
}

static void cache_store(ph_judge *j, ph_judge_job *job, json_t *value)
{
    char *text = value ? json_dumps(value, JSON_COMPACT) : NULL;
    json_decref(value);
    if (text && j->cache)
        ph_judge_cache_put(j->cache, job->key, job->crit->result_name, text);
    free(text);
}

void ph_judge_finish_reply(ph_judge *j, ph_judge_job *job, int64_t now)
{
    char why[160], msg[200];
    ph_judge_usage usage;
    const ph_judge_criterion *c = job->crit;
    if (c->type == PH_JUDGE_EMBEDDING) {
        double cos[2] = {0, 0};
        size_t n = 1 + (size_t)c->embed_relevance + (size_t)job->groundedness;
        int rc =
            ph_judge_parse_embeddings(job->resp, job->resp_len, n, cos, &usage, why, sizeof(why));
        account(j, job, &usage, 0);
        if (rc != PH_OK) {
            snprintf(msg, sizeof(msg), "malformed embeddings: %s", why);
            ph_judge_retry_or_fail(j, job, 0, msg, now);
            return;
        }
        cache_store(j, job, json_pack("{s:f, s:f}", "a", cos[0], "b", cos[1]));
        embedding_results(j, job, cos, false, now);
        job_free(job);
        return;
    }
    char *content = NULL;
    ph_judge_verdict v;
    int rc = ph_judge_parse_chat(job->resp, job->resp_len, &content, &usage, why, sizeof(why));
    account(j, job, &usage, content ? strlen(content) : 0);
    if (rc == PH_OK)
        rc = ph_judge_parse_verdict(content, strlen(content), c, &v, why, sizeof(why));
    free(content);
    if (rc != PH_OK) {
        snprintf(msg, sizeof(msg), "malformed verdict: %s", why);
        ph_judge_retry_or_fail(j, job, 0, msg, now);
        return;
    }
    cache_store(
        j, job,
        json_pack("{s:f, s:s, s:s}", "score", v.score, "label", v.label, "reason", v.reason));
    verdict_result(j, job, &v, false, now);
    job_free(job);
}

/* A cached verdict finishes the job without a request; a corrupt entry is a miss. */
static bool finish_cached(ph_judge *j, ph_judge_job *job, int64_t now)
{
    char *text = NULL;
    if (ph_judge_cache_get(j->cache, job->key, &text) != PH_OK)
        return false;
    json_error_t e;
    json_t *value = json_loads(text, 0, &e);
    free(text);
    bool hit = false;
    if (job->crit->type == PH_JUDGE_EMBEDDING) {
        double cos[2];
        hit = json_unpack(value, "{s:F, s:F}", "a", &cos[0], "b", &cos[1]) == 0;
        if (hit) {
            ph_judge_list_remove(job);
            embedding_results(j, job, cos, true, now);
        }
    } else {
        ph_judge_verdict v;
        const char *label, *reason;
        memset(&v, 0, sizeof(v));
        hit = json_unpack(value, "{s:F, s:s, s:s}", "score", &v.score, "label", &label, "reason",
                          &reason) == 0;
        if (hit) {
            snprintf(v.label, sizeof(v.label), "%s", label);
            snprintf(v.reason, sizeof(v.reason), "%s", reason);
            ph_judge_list_remove(job);
            verdict_result(j, job, &v, true, now);
        }
    }
    json_decref(value);
    if (hit) {
        j->stats.cache_hits++;
        job_free(job);
    }
    return hit;
}

/* ---- dispatch ---- */

static int64_t job_estimate(const ph_judge_job *job)
{
    return (int64_t)job->body_len / 4 +
           (job->crit->type == PH_JUDGE_LLM ? job->crit->max_tokens : 0);
}

static void wake_at(ph_judge *j, int64_t when)
{
    if (!j->next_wake_ms || when < j->next_wake_ms)
        j->next_wake_ms = when;
}

static bool take_rate_token(ph_judge *j, int64_t now)
{
    double rate = j->cfg.rate_limit_per_s;
    if (rate <= 0)
        return true;
    double burst = rate < 1 ? 1 : rate; /* one second's worth */
    j->bucket += (double)(now - j->bucket_ms) * rate / 1000.0;
    if (j->bucket > burst)
        j->bucket = burst;
    j->bucket_ms = now;
    if (j->bucket >= 1) {
        j->bucket -= 1;
        return true;
    }
    wake_at(j, now + (int64_t)((1 - j->bucket) * 1000.0 / rate) + 1);
    return false;
}

static void dispatch(ph_judge *j, int64_t now)
{
    int64_t budget = j->cfg.hourly_token_budget;
    j->next_wake_ms = 0;
    if (now - j->window_start_ms >= HOUR_MS) {
        j->window_start_ms = now;
        j->stats.tokens_window = 0;
    }
    for (ph_judge_job *job = j->delayed.head, *next; job; job = next) {
        next = job->next;
        if (job->not_before_ms <= now) {
            ph_judge_list_remove(job);
            ph_judge_list_push(&j->ready, job);
        } else {
            wake_at(j, job->not_before_ms);
        }
    }
    while (j->ready.head) {
        ph_judge_job *job = j->ready.head;
        if (j->cache && !job->cache_checked) {
            job->cache_checked = true;
            if (finish_cached(j, job, now))
                continue;
        }
        int64_t est = job_estimate(job);
        if (budget && j->stats.tokens_window + est > budget) {
            ph_judge_finish_skipped(j, job, "token budget spent");
            continue;
        }
        if (budget && j->stats.tokens_window + j->reserved_tokens + est > budget)
            break; /* what is in flight may leave room: wait for it */
        if (now < j->paused_until_ms) {
            wake_at(j, j->paused_until_ms);
            break;
        }
        if (j->inflight.n >= (size_t)j->cfg.max_inflight || !take_rate_token(j, now))
            break;
        ph_judge_list_remove(job);
        if (ph_judge_http_start(j, job, now) != PH_OK) {
            ph_judge_finish_error(j, job, "could not start the request (out of memory)");
            continue;
        }
        job->reserved_tokens = est;
        j->reserved_tokens += est;
    }
}

static int deliver(ph_judge *j, ph_judge_done_fn fn, void *arg)
{
    int delivered = 0;
    while (j->ndone) {
        /* Detach first: the callback may submit, and submitting never finishes a job, but the
         * array must not move under the loop either way. */
        ph_judge_done *done = j->done;
        size_t n = j->ndone;
        j->done = NULL;
        j->ndone = j->done_cap = 0;
        j->pending -= n;
        for (size_t i = 0; i < n; i++)
            if (fn)
                fn(done[i].opaque, &done[i].result, arg);
        free(done);
        delivered += (int)n;
    }
    return delivered;
}

/* One turn of the engine: start what may start, let curl move bytes, finish what finished,
 * and start again into the slots that freed up. */
static void turn(ph_judge *j)
{
    int running;
    dispatch(j, ph_mono_ms());
    curl_multi_perform(j->multi, &running);
    if (ph_judge_http_harvest(j)) {
        dispatch(j, ph_mono_ms());
        curl_multi_perform(j->multi, &running);
    }
    ph_judge_cache_flush(j->cache);
}

int ph_judge_poll(ph_judge *j, int timeout_ms, ph_judge_done_fn fn, void *arg)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : ph_mono_ms() + timeout_ms;
    for (;;) {
        turn(j);
        int delivered = deliver(j, fn, arg);
        if (delivered)
            return delivered;
        int64_t now = ph_mono_ms();
        if (now >= deadline || (timeout_ms < 0 && j->pending == 0))
            return 0;
        int64_t wait = deadline - now;
        if (j->next_wake_ms && j->next_wake_ms - now < wait)
            wait = j->next_wake_ms > now ? j->next_wake_ms - now : 0;
        long curl_wait = -1;
        curl_multi_timeout(j->multi, &curl_wait);
        if (curl_wait >= 0 && curl_wait < wait)
            wait = curl_wait;
        if (wait > 1000)
            wait = 1000;
        curl_multi_poll(j->multi, NULL, 0, (int)wait, NULL);
    }
}

/* ---- submit ---- */

static bool needs_met(unsigned needs, const ph_eval_record *rec)
{
    const ph_eval_message *user = ph_eval_last_user(rec);
    bool context = false;
    for (size_t i = 0; i < rec->ncontext && !context; i++)
        context = rec->context[i].content.len > 0;
    return (!(needs & PH_JUDGE_NEED_INPUT) || (user && user->content.len > 0)) &&
           (!(needs & PH_JUDGE_NEED_OUTPUT) || rec->output.len > 0) &&
           (!(needs & PH_JUDGE_NEED_CONTEXT) || context) &&
           (!(needs & PH_JUDGE_NEED_CONVERSATION) || rec->nmessages > 0);
}

static ph_judge_job *job_new(ph_judge *j, const ph_judge_criterion *c, const ph_judge_texts *t,
                             bool groundedness, void *opaque)
{
    ph_judge_job *job = calloc(1, sizeof(*job));
    if (!job)
        return NULL;
    job->crit = c;
    job->opaque = opaque;
    job->groundedness = groundedness;
    job->body = c->type == PH_JUDGE_LLM ? ph_judge_chat_body(&j->cfg, c, t, &job->body_len)
                                        : ph_judge_embed_body(c, t, groundedness, &job->body_len);
    if (!job->body) {
        free(job);
        return NULL;
    }
    ph_hash_id(job->body, job->body_len, c->key_salt, job->key);
    return job;
}

int ph_judge_submit(ph_judge *j, const ph_eval_record *rec, const ph_eval_result *cheap,
                    size_t ncheap, void *opaque, size_t *nresults)
{
    size_t n = j->cfg.ncriteria, njobs = 0, nres = 0;
    const ph_judge_criterion *apply[n];
    bool groundedness[n];
    ph_judge_list jobs = {0};
    ph_judge_texts texts = {0};
    int rc = PH_OK;
    if (!ph_judge_filter_admits(&j->cfg.filter, rec))
        goto out;
    for (size_t i = 0; i < n; i++) {
        const ph_judge_criterion *c = &j->cfg.criteria[i];
        if (!ph_judge_filter_admits(&c->filter, rec) || !needs_met(c->needs, rec) ||
            !ph_judge_sampled(rec, c->sample_rate) ||
            !ph_judge_gate_admits(&c->gate, cheap, ncheap))
            continue;
        groundedness[njobs] = c->type == PH_JUDGE_EMBEDDING && c->embed_groundedness &&
                              needs_met(PH_JUDGE_NEED_CONTEXT, rec);
        nres += c->type == PH_JUDGE_LLM ? 1 : (size_t)c->embed_relevance + groundedness[njobs];
        apply[njobs++] = c;
    }
    if (!njobs)
        goto out;
    /* An empty queue takes any record, so a record never waits for space that cannot come. */
    if (j->pending > 0 && j->pending + nres > j->cfg.queue_capacity) {
        rc = PH_EQUEUEFULL;
        goto out;
    }
    rc = ph_judge_texts_make(&texts, rec, j->cfg.max_field_bytes);
    for (size_t i = 0; rc == PH_OK && i < njobs; i++) {
        ph_judge_job *job = job_new(j, apply[i], &texts, groundedness[i], opaque);
        if (job)
            ph_judge_list_push(&jobs, job);
        else
            rc = PH_ENOMEM;
    }
    if (rc != PH_OK) { /* all or nothing: the caller keeps the record */
        while (jobs.head) {
            ph_judge_job *job = jobs.head;
            ph_judge_list_remove(job);
            job_free(job);
        }
        goto out;
    }
    while (jobs.head) {
        ph_judge_job *job = jobs.head;
        ph_judge_list_remove(job);
        ph_judge_list_push(&j->ready, job);
    }
    j->pending += nres;
out:
    ph_judge_texts_free(&texts);
    if (rc == PH_OK)
        *nresults = nres;
    return rc;
}

/* ---- life cycle ---- */

int ph_judge_new(ph_judge **out, const json_t *config, char *errstr, size_t errstr_size)
{
    int rc = PH_ENOMEM;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return ph_err(errstr, errstr_size, PH_EIO, "judge: curl_global_init failed");
    ph_judge *j = calloc(1, sizeof(*j));
    if (!j)
        goto out;
    rc = ph_judge_config_parse(&j->cfg, config, errstr, errstr_size);
    if (rc == PH_OK)
        rc = ph_judge_http_init(j, errstr, errstr_size);
    if (rc == PH_OK && j->cfg.cache_path)
        rc = ph_judge_cache_open(&j->cache, j->cfg.cache_path, j->cfg.cache_ttl_s, errstr,
                                 errstr_size);
    if (rc != PH_OK)
        goto out;
    char seed[33];
    ph_random_id(seed);
    j->rng = strtoull(seed + 16, NULL, 16) | 1;
    j->window_start_ms = j->bucket_ms = ph_mono_ms();
    j->bucket = j->cfg.rate_limit_per_s < 1 ? 1 : j->cfg.rate_limit_per_s;
    ph_log_info(PH_JUDGE_LOG, "%zu criteria, endpoint %s, max_inflight %d%s", j->cfg.ncriteria,
                j->cfg.endpoint, j->cfg.max_inflight, j->cfg.api_key ? ", with an API key" : "");
    *out = j;
    j = NULL;
out:
    if (j) {
        ph_judge_destroy(j, NULL, NULL);
        return rc;
    }
    if (rc != PH_OK) /* calloc failed: destroy did not balance the global init */
        curl_global_cleanup();
    return rc;
}

void ph_judge_destroy(ph_judge *j, ph_judge_done_fn fn, void *arg)
{
    if (!j)
        return;
    const char *why = "judge shut down before the verdict";
    while (j->inflight.head) {
        ph_judge_job *job = j->inflight.head;
        ph_judge_http_abort(j, job);
        ph_judge_finish_skipped(j, job, why);
    }
    while (j->delayed.head)
        ph_judge_finish_skipped(j, j->delayed.head, why);
    while (j->ready.head)
        ph_judge_finish_skipped(j, j->ready.head, why);
    deliver(j, fn, arg);
    ph_judge_cache_close(j->cache);
    ph_judge_http_cleanup(j);
    ph_judge_config_free(&j->cfg);
    free(j->done);
    free(j);
    curl_global_cleanup();
}

size_t ph_judge_pending(const ph_judge *j)
{
    return j->pending;
}

void ph_judge_get_stats(const ph_judge *j, ph_judge_stats *out)
{
    *out = j->stats;
    out->queued = j->ready.n;
    out->delayed = j->delayed.n;
    out->inflight = j->inflight.n;
    out->pending = j->pending;
}
