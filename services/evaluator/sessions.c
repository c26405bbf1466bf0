/* Session state in SQLite and session evaluation. See sessions.h.
 *
 * SQLite: WAL, synchronous=FULL (a turn is acknowledged to Kafka, through its offset, only after
 * its transaction is durable, power loss included), one connection used by the main thread only,
 * statements prepared once, writes batched into one transaction per commit_interval_ms, schema
 * migrations by user_version.
 *
 * The session judge (optional): a ph_judge of its own, on the main thread like the database.
 * A session's job then holds, besides one hold per deterministic result, one per result the
 * judge announced at submit time; the job's ident (and ident_buf) carries what those results
 * need once the scan's strings are gone. */
#include "sessions.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"
#include "ph_sqlite.h"
#include "ph_judge.h"
#include "ph_log.h"
#include "ph_util.h"
#include "session_eval.h"

#define SCHEMA_VERSION 1
/* Texts kept per turn: enough for session-level checks (repetition, topic drift). */
#define TEXT_MAX (16 * 1024)
/* Sessions evaluated at once; the rest wait for the next look. */
#define EVAL_BATCH      64
#define SCAN_EVERY_MS   1000
#define EXPIRE_EVERY_MS 60000

struct ph_pending_turn {
    ph_pending_turn *next;
    ph_job *job;
    int32_t partition;
    char *session_id;
    char *record_id;
    char *app;
    char *environment;
    char *model;
    char *user_message;
    char *output;
    int turn;
    int64_t record_time_ms;
    bool is_error;
    bool end;
    bool has_frustration;
    double frustration;
    char refusal[PH_EVAL_LABEL_MAX];
};

/* A session whose evaluation is in flight (delivery reports pending), or delivered and waiting
 * to be marked evaluated. */
typedef struct evaluating {
    struct evaluating *next;
    char *session_id;
    bool delivered;
    bool failed;
    int64_t last_seen_ms; /* the state evaluated: a newer turn means it must be evaluated again */
} evaluating;

struct ph_sessions {
    ph_evaluator *ev;
    sqlite3 *db;
    sqlite3_stmt *begin, *commit, *add_turn, *touch, *due, *turns, *mark, *expire_turns,
        *expire_sessions;
    bool in_txn;
    int64_t txn_started;
    ph_pending_turn *committing; /* turns written in the open transaction */
    ph_pending_turn *committing_tail;
    /* inbox from the workers */
    pthread_mutex_t lock;
    ph_pending_turn *inbox;
    ph_pending_turn *inbox_tail;
    evaluating *evals; /* guarded by lock: delivery callbacks flag them */
    /* owned partitions (main thread) */
    int32_t *owned;
    size_t nowned;
    size_t owned_cap;
    int64_t scanned_ms;
    int64_t expired_ms;
    ph_session_eval *seval;
    ph_counter *sessions_evaluated;
    ph_counter *turns_written;
    /* The LLM judge of whole conversations (the sessions object's "judge" member); NULL: none.
     * Main thread only. */
    ph_judge *judge;
    size_t judging;     /* sessions whose judge results are not all back */
    size_t judging_max; /* beyond, no session is evaluated: see open_judge */
    ph_gauge *judge_pending;
    ph_gauge *judge_tokens;
    ph_gauge *judge_cost;
};

static const char *const migrations[SCHEMA_VERSION] = {
    "CREATE TABLE sessions ("
    "  session_id TEXT PRIMARY KEY,"
    "  partition INTEGER NOT NULL," /* of pharos.logs.valid: who evaluates it */
    "  app TEXT, environment TEXT, model TEXT,"
    "  last_seen_ms INTEGER NOT NULL,"    /* wall clock of its newest turn: the idle timer */
    "  ended INTEGER NOT NULL DEFAULT 0," /* a record said session_end=true */
    "  evaluated_ms INTEGER"              /* its evaluation was delivered; NULL: open */
    ") WITHOUT ROWID;"
    "CREATE INDEX sessions_open ON sessions(evaluated_ms, last_seen_ms);"
    "CREATE TABLE turns ("
    "  session_id TEXT NOT NULL, record_id TEXT NOT NULL,"
    "  turn INTEGER, record_time_ms INTEGER, user_message TEXT, output TEXT,"
    "  frustration REAL, refusal TEXT, is_error INTEGER NOT NULL,"
    "  PRIMARY KEY (session_id, record_id)"
    ") WITHOUT ROWID;",
};

void ph_pending_turn_free(ph_pending_turn *t)
{
    if (!t)
        return;
    free(t->session_id);
    free(t->record_id);
    free(t->app);
    free(t->environment);
    free(t->model);
    free(t->user_message);
    free(t->output);
    free(t);
}

/* ---- taking turns (worker threads) -------------------------------------------------------- */

static char *dup_str(ph_str s, size_t max)
{
    size_t n = s.len < max ? s.len : max;
    /* never cut inside a UTF-8 sequence */
    while (n < s.len && n > 0 && ((unsigned char)s.s[n] & 0xC0) == 0x80)
        n--;
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s.s ? s.s : "", n);
        p[n] = '\0';
    }
    return p;
}

int ph_sessions_take(ph_sessions *s, ph_job *job, const avro_value_t *llmlog,
                     const ph_eval_record *rec, const ph_eval_result *results, size_t n)
{
    ph_pending_turn *t = calloc(1, sizeof(*t));
    if (!t)
        return PH_ENOMEM;
    const ph_eval_message *user = ph_eval_last_user(rec);
    t->job = job;
    t->partition = job->partition;
    t->turn = rec->turn;
    t->record_time_ms = rec->record_time_ms;
    t->is_error = rec->is_error;
    const char *end = NULL;
    size_t endlen = 0;
    t->end = ph_eval_avro_metadata(llmlog, "session_end", &end, &endlen) == PH_OK && endlen == 4 &&
             memcmp(end, "true", 4) == 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(results[i].evaluator, "frustration") == 0 && results[i].has_score &&
            results[i].status == PH_EVAL_OK) {
            t->has_frustration = true;
            t->frustration = results[i].score;
        } else if (strcmp(results[i].evaluator, "refusal") == 0 &&
                   results[i].status == PH_EVAL_OK) {
            snprintf(t->refusal, sizeof(t->refusal), "%s", results[i].label);
        }
    }
    if (!(t->session_id = dup_str(rec->session_id, 1024)) ||
        !(t->record_id = dup_str(rec->record_id, 1024)) || !(t->app = dup_str(rec->app, 256)) ||
        !(t->environment = dup_str(rec->environment, 256)) ||
        !(t->model = dup_str(rec->model, 256)) ||
        !(t->user_message = dup_str(user ? user->content : (ph_str){"", 0}, TEXT_MAX)) ||
        !(t->output = dup_str(rec->output, TEXT_MAX))) {
        ph_pending_turn_free(t);
        return PH_ENOMEM;
    }
    atomic_fetch_add(&job->pending, 1); /* released once the turn is committed */
    pthread_mutex_lock(&s->lock);
    if (s->inbox_tail)
        s->inbox_tail->next = t;
    else
        s->inbox = t;
    s->inbox_tail = t;
    pthread_mutex_unlock(&s->lock);
    return PH_OK;
}

/* ---- the transaction batch (main thread) --------------------------------------------------- */

static int exec_stmt(ph_sessions *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        return PH_OK;
    ph_log_error(COMPONENT, "sessions: %s", sqlite3_errmsg(s->db));
    return PH_EIO;
}

static void fail(ph_sessions *s, const char *what)
{
    ph_log_error(COMPONENT, "sessions database: %s: %s", what, sqlite3_errmsg(s->db));
    atomic_store(&s->ev->failed, true);
    ph_service_fatal(s->ev->svc, "sessions database failed");
}

static int begin(ph_sessions *s)
{
    if (s->in_txn)
        return PH_OK;
    if (exec_stmt(s, s->begin))
        return PH_EIO;
    s->in_txn = true;
    s->txn_started = ph_mono_ms();
    return PH_OK;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v && *v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static int write_turn(ph_sessions *s, const ph_pending_turn *t, int64_t now)
{
    sqlite3_stmt *st = s->add_turn;
    sqlite3_bind_text(st, 1, t->session_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t->record_id, -1, SQLITE_STATIC);
    if (t->turn > 0)
        sqlite3_bind_int(st, 3, t->turn);
    sqlite3_bind_int64(st, 4, t->record_time_ms);
    sqlite3_bind_text(st, 5, t->user_message, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, t->output, -1, SQLITE_STATIC);
    if (t->has_frustration)
        sqlite3_bind_double(st, 7, t->frustration);
    bind_text(st, 8, t->refusal);
    sqlite3_bind_int(st, 9, t->is_error);
    if (exec_stmt(s, st))
        return PH_EIO;
    if (sqlite3_changes(s->db) == 0)
        return PH_OK; /* read again after a restart: already recorded, nothing changes */
    st = s->touch;
    sqlite3_bind_text(st, 1, t->session_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, t->partition);
    bind_text(st, 3, t->app);
    bind_text(st, 4, t->environment);
    bind_text(st, 5, t->model);
    sqlite3_bind_int64(st, 6, now);
    sqlite3_bind_int(st, 7, t->end);
    ph_counter_inc(s->turns_written);
    return exec_stmt(s, st);
}

/* Writes the turns the workers queued into the open transaction. */
static void write_inbox(ph_sessions *s)
{
    pthread_mutex_lock(&s->lock);
    ph_pending_turn *list = s->inbox;
    s->inbox = s->inbox_tail = NULL;
    pthread_mutex_unlock(&s->lock);
    if (!list)
        return;
    int64_t now = ph_now_ms();
    if (begin(s))
        fail(s, "BEGIN");
    while (list) {
        ph_pending_turn *t = list;
        list = t->next;
        t->next = NULL;
        if (!s->in_txn || write_turn(s, t, now)) {
            if (s->in_txn)
                fail(s, "writing a turn");
            atomic_store(&t->job->failed, true);
            ph_job_release(t->job, 1);
            ph_pending_turn_free(t);
            continue;
        }
        if (s->committing_tail)
            s->committing_tail->next = t;
        else
            s->committing = t;
        s->committing_tail = t;
    }
}

/* Marks the sessions whose evaluation Kafka acknowledged (in the open transaction), and forgets
 * those whose evaluation failed (they are tried again at the next look). */
static void mark_delivered(ph_sessions *s)
{
    pthread_mutex_lock(&s->lock);
    evaluating **pp = &s->evals;
    int64_t now = ph_now_ms();
    while (*pp) {
        evaluating *e = *pp;
        if (!e->delivered && !e->failed) {
            pp = &e->next;
            continue;
        }
        if (e->delivered && !begin(s)) {
            sqlite3_bind_int64(s->mark, 1, now);
            sqlite3_bind_text(s->mark, 2, e->session_id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s->mark, 3, e->last_seen_ms);
            if (exec_stmt(s, s->mark))
                fail(s, "marking a session evaluated");
            else
                ph_counter_inc(s->sessions_evaluated);
        }
        *pp = e->next;
        free(e->session_id);
        free(e);
    }
    pthread_mutex_unlock(&s->lock);
}

static void commit(ph_sessions *s)
{
    if (!s->in_txn)
        return;
    bool ok = exec_stmt(s, s->commit) == PH_OK;
    s->in_txn = false;
    if (!ok)
        fail(s, "COMMIT");
    /* The turns are durable: their records may count as done. */
    ph_pending_turn *t = s->committing;
    s->committing = s->committing_tail = NULL;
    while (t) {
        ph_pending_turn *next = t->next;
        if (!ok)
            atomic_store(&t->job->failed, true);
        ph_job_release(t->job, 1);
        ph_pending_turn_free(t);
        t = next;
    }
}

/* ---- evaluating sessions ------------------------------------------------------------------- */

static bool owned(const ph_sessions *s, int32_t partition)
{
    for (size_t i = 0; i < s->nowned; i++)
        if (s->owned[i] == partition)
            return true;
    return false;
}

static bool in_flight(ph_sessions *s, const char *sid)
{
    bool found = false;
    pthread_mutex_lock(&s->lock);
    for (evaluating *e = s->evals; e && !found; e = e->next)
        found = strcmp(e->session_id, sid) == 0;
    pthread_mutex_unlock(&s->lock);
    return found;
}

static void on_session_done(ph_job *job, bool ok)
{
    evaluating *e = job->done_arg;
    ph_sessions *s = job->ev->sessions;
    pthread_mutex_lock(&s->lock);
    e->delivered = ok;
    e->failed = !ok;
    pthread_mutex_unlock(&s->lock);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const char *v = col_text(st, i);
    return strdup(v ? v : "");
}

static void free_turns(ph_stored_turn *turns, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)turns[i].record_id);
        free((char *)turns[i].user_message);
        free((char *)turns[i].output);
        free((char *)turns[i].refusal);
    }
    free(turns);
}

/* Every turn of a session, in order (turn number, else time). */
static int load_turns(ph_sessions *s, const char *sid, ph_stored_turn **out, size_t *nout)
{
    sqlite3_stmt *st = s->turns;
    ph_stored_turn *turns = NULL;
    size_t n = 0, cap = 0;
    int rc = PH_OK, step;
    sqlite3_bind_text(st, 1, sid, -1, SQLITE_STATIC);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            ph_stored_turn *grown = realloc(turns, cap * sizeof(*grown));
            if (!grown) {
                rc = PH_ENOMEM;
                break;
            }
            turns = grown;
        }
        ph_stored_turn *t = &turns[n++];
        memset(t, 0, sizeof(*t));
        t->turn = sqlite3_column_type(st, 0) == SQLITE_NULL ? 0 : sqlite3_column_int(st, 0);
        t->record_time_ms = sqlite3_column_int64(st, 1);
        t->has_frustration = sqlite3_column_type(st, 4) != SQLITE_NULL;
        t->frustration = sqlite3_column_double(st, 4);
        t->is_error = sqlite3_column_int(st, 6);
        t->user_message = col_dup(st, 2);
        t->output = col_dup(st, 3);
        t->refusal = col_dup(st, 5);
        t->record_id = col_dup(st, 7);
        if (!t->user_message || !t->output || !t->refusal || !t->record_id) {
            rc = PH_ENOMEM;
            break;
        }
    }
    if (rc == PH_OK && step != SQLITE_DONE) {
        ph_log_error(COMPONENT, "sessions: reading turns: %s", sqlite3_errmsg(s->db));
        rc = PH_EIO;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc) {
        free_turns(turns, n);
        return rc;
    }
    *out = turns;
    *nout = n;
    return PH_OK;
}

/* ---- the session judge (main thread) ------------------------------------------------------- */

/* One judge result of a session (from ph_judge_poll): produced like the session's other
 * results, named session.<the judge's name> (session.judge.<criterion>) so that it is never
 * taken for the judge role's verdict on a record. */
static void on_judge_result(void *opaque, const ph_eval_result *result, void *arg)
{
    ph_job *job = opaque;
    ph_sessions *s = arg;
    if (job->nreceived >= job->nevals) {
        /* More than announced: a bug of the judge; never let it corrupt the count. */
        ph_log_error(COMPONENT, "judge delivered an unannounced result for %s",
                     job->ident.record_id.s);
        return;
    }
    ph_job_eval *slot = job->evals ? &job->evals[job->nreceived] : NULL;
    if (++job->nreceived == job->nevals)
        s->judging--;
    if (!slot) {
        /* The evaluation failed after the submit (out of memory): the job is failed already
         * and the session is evaluated again later; the result only releases its hold. */
        ph_job_release(job, 1);
        return;
    }
    ph_eval_result r = *result;
    /* Cannot be cut: criterion names have at most 39 characters, and the only longer name
     * (<criterion>_groundedness of embeddings) needs context passages, which a session lacks. */
    if ((size_t)snprintf(r.evaluator, sizeof(r.evaluator), "session.%s", result->evaluator) >=
        sizeof(r.evaluator))
        ph_log_warn(COMPONENT, "session judge result name cut: session.%s", result->evaluator);
    /* The job may be freed from here on (the delivery report may come at once). */
    ph_worker_produce(&s->ev->main_worker, job, &job->ident, &r, slot);
}

/* Results handed back by ph_judge_destroy (shutdown): the ones that did not come in time are
 * SKIPPED "judge shut down before the verdict", which is no verdict, and the producer may be
 * gone. None is produced: the job is abandoned, so the session is not marked evaluated and the
 * next start evaluates it again (its deterministic results then repeat, same version). */
static void on_judge_dropped(void *opaque, const ph_eval_result *result, void *arg)
{
    ph_job *job = opaque;
    ph_sessions *s = arg;
    if (job->nreceived >= job->nevals)
        return; /* unannounced: see on_judge_result */
    if (++job->nreceived == job->nevals)
        s->judging--;
    atomic_store(&job->abandoned, true);
    ph_job_release(job, 1);
}

/* Drives the judge's transfers without waiting (the main loop serves the cheap evaluators), and
 * produces the results that came back. */
static void poll_judge(ph_sessions *s)
{
    ph_judge_stats st;
    ph_judge_poll(s->judge, 0, on_judge_result, s);
    ph_judge_get_stats(s->judge, &st);
    ph_gauge_set(s->judge_pending, (double)st.pending);
    ph_gauge_set(s->judge_tokens, (double)st.tokens_total);
    ph_gauge_set(s->judge_cost, st.cost_usd_total);
}

static ph_str str_of(const char *v)
{
    return (ph_str){v, strlen(v)};
}

/* Submits the conversation of a session: its turns as alternating user and assistant messages
 * with the last turn's output as the response, as a record of its last turn would show it; the
 * session's deterministic results (sink) are the "cheap" results the criteria's gates see.
 * Returns ph_judge_submit's code and *nresults. */
static int submit_judge(ph_sessions *s, ph_job *job, const ph_stored_turn *turns, size_t n,
                        const ph_eval_sink *sink, size_t *nresults)
{
    ph_eval_message *msgs = calloc(2 * n, sizeof(*msgs));
    if (!msgs)
        return PH_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        /* A record without a user message said nothing: no empty "user:" line. An empty output
         * (a failed call) stays: the user got no answer there. */
        if (*turns[i].user_message)
            msgs[k++] = (ph_eval_message){str_of("user"), str_of(turns[i].user_message)};
        if (i + 1 < n)
            msgs[k++] = (ph_eval_message){str_of("assistant"), str_of(turns[i].output)};
    }
    ph_eval_record rec = job->ident;
    rec.messages = msgs;
    rec.nmessages = k;
    rec.output = str_of(turns[n - 1].output);
    rec.turn = turns[n - 1].turn;
    rec.is_error = turns[n - 1].is_error;
    int rc = ph_judge_submit(s->judge, &rec, sink->results, sink->n, job, nresults);
    free(msgs);
    return rc;
}

/* ---- evaluating a session (main thread) ---------------------------------------------------- */

/* A session that is over, as the scan found it (strings owned). */
typedef struct due_row {
    char *sid, *app, *env, *model;
    int64_t last_seen;
} due_row;

static ph_str put_str(char **p, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    ph_str out = {*p, la + lb};
    memcpy(*p, a, la);
    memcpy(*p + la, b, lb);
    (*p)[la + lb] = '\0';
    *p += la + lb + 1;
    return out;
}

/* The identity of the session's results, kept in the job (ident, ident_buf, key): record_id
 * "session:<sid>", keyed like the session's records (the same partition of pharos.evals). */
static int keep_ident(ph_job *job, const due_row *row)
{
    const char *app = row->app ? row->app : "", *env = row->env ? row->env : "";
    const char *model = row->model ? row->model : "";
    size_t total =
        strlen("session:") + 2 * strlen(row->sid) + strlen(app) + strlen(env) + strlen(model) + 5;
    char *p = job->ident_buf = malloc(total);
    job->key = strdup(row->sid);
    if (!p || !job->key)
        return PH_ENOMEM;
    job->keylen = strlen(row->sid);
    ph_eval_record *id = &job->ident;
    memset(id, 0, sizeof(*id));
    id->record_id = put_str(&p, "session:", row->sid);
    id->session_id = put_str(&p, "", row->sid);
    id->app = put_str(&p, "", app);
    id->environment = put_str(&p, "", env);
    id->model = put_str(&p, "", model);
    id->trace_id = id->route = id->output = (ph_str){"", 0};
    return PH_OK;
}

/* Evaluates one session: its deterministic results are produced at once, its conversation is
 * submitted to the judge (when there is one), whose results are produced as they come back
 * (on_judge_result). The session is marked evaluated once every one of them is delivered.
 * Returns PH_EQUEUEFULL when the judge takes nothing more now: then nothing was done, and the
 * session is tried again at a later look; else 0 (a failure is logged, and also retried). */
static int evaluate(ph_sessions *s, const due_row *row)
{
    ph_evaluator *ev = s->ev;
    ph_worker *w = &ev->main_worker;
    ph_stored_turn *turns = NULL;
    size_t nturns = 0, nresults = 0;
    int rc = PH_OK;
    evaluating *e = NULL;
    ph_job *job = NULL;
    if (s->judge && s->judging >= s->judging_max)
        return PH_EQUEUEFULL; /* see open_judge */
    e = calloc(1, sizeof(*e));
    job = ph_job_new(ev, NULL);
    if (!e || !job || !(e->session_id = strdup(row->sid)) || keep_ident(job, row)) {
        ph_log_warn(COMPONENT, "session %s: out of memory; tried again later", row->sid);
        goto out;
    }
    e->last_seen_ms = row->last_seen;
    ph_eval_sink_reset(&w->sink);
    rc = load_turns(s, row->sid, &turns, &nturns);
    if (rc == PH_OK)
        rc = ph_session_eval_run(s->seval, turns, nturns, &w->sink);
    job->ident.record_time_ms = nturns ? turns[nturns - 1].record_time_ms : 0;
    if (rc == PH_OK && s->judge && nturns) {
        rc = submit_judge(s, job, turns, nturns, &w->sink, &nresults);
        if (rc == PH_EQUEUEFULL)
            goto out;
    }
    /* From here the session is in flight. The judge's announced results are held whatever
     * happens next: it delivers them (on_judge_result). */
    job->on_done = on_session_done;
    job->done_arg = e;
    job->nevals = w->sink.n + nresults;
    job->nreceived = w->sink.n;
    atomic_fetch_add(&job->pending, (int)nresults);
    if (nresults)
        s->judging++;
    if (rc == PH_OK && job->nevals && !(job->evals = calloc(job->nevals, sizeof(*job->evals))))
        rc = PH_ENOMEM;
    pthread_mutex_lock(&s->lock);
    e->next = s->evals;
    s->evals = e;
    pthread_mutex_unlock(&s->lock);
    e = NULL;
    if (rc) {
        ph_log_warn(COMPONENT, "session %s: evaluation failed (%s); tried again later", row->sid,
                    ph_strerror(rc));
        atomic_store(&job->failed, true);
    } else {
        atomic_fetch_add(&job->pending, (int)w->sink.n);
        for (size_t i = 0; i < w->sink.n; i++)
            ph_worker_produce(w, job, &job->ident, &w->sink.results[i], &job->evals[i]);
    }
    ph_job_release(job, 1); /* the evaluation hold */
    job = NULL;
    rc = PH_OK;
out:
    free_turns(turns, nturns);
    if (job)
        ph_job_free(job);
    if (e) {
        free(e->session_id);
        free(e);
    }
    return rc == PH_EQUEUEFULL ? rc : PH_OK;
}

/* Evaluates the sessions that are over: owned and (ended or idle), or idle twice as long. */
static void scan(ph_sessions *s)
{
    const ph_evaluator_config *cfg = s->ev->cfg;
    int64_t now = ph_now_ms();
    if (s->judge && s->judging >= s->judging_max)
        return; /* see open_judge */
    /* Collect first: evaluating reads turns with another statement. */
    due_row rows[EVAL_BATCH];
    int n = 0;
    sqlite3_stmt *st = s->due;
    sqlite3_bind_int64(st, 1, now - cfg->session_idle_ms);
    int rc;
    while (n < EVAL_BATCH && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *sid = col_text(st, 0);
        int32_t partition = sqlite3_column_int(st, 1);
        bool ended = sqlite3_column_int(st, 5);
        int64_t last_seen = sqlite3_column_int64(st, 6);
        bool idle = last_seen <= now - cfg->session_idle_ms;
        bool abandoned = last_seen <= now - 2 * cfg->session_idle_ms;
        if (!sid || in_flight(s, sid) || !(abandoned || ((ended || idle) && owned(s, partition))))
            continue;
        rows[n] = (due_row){strdup(sid), col_text(st, 2) ? strdup(col_text(st, 2)) : NULL,
                            col_text(st, 3) ? strdup(col_text(st, 3)) : NULL,
                            col_text(st, 4) ? strdup(col_text(st, 4)) : NULL, last_seen};
        if (rows[n].sid)
            n++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    bool full = false;
    for (int i = 0; i < n; i++) {
        /* A full judge: the rest wait for a later look (never block the main loop on it). */
        if (!full && (full = evaluate(s, &rows[i]) == PH_EQUEUEFULL))
            ph_log_debug(COMPONENT, "session judge full: %d sessions wait for a later look", n - i);
        free(rows[i].sid);
        free(rows[i].app);
        free(rows[i].env);
        free(rows[i].model);
    }
}

static void expire(ph_sessions *s)
{
    int64_t before = ph_now_ms() - s->ev->cfg->session_retention_ms;
    if (begin(s))
        return fail(s, "BEGIN");
    sqlite3_bind_int64(s->expire_turns, 1, before);
    sqlite3_bind_int64(s->expire_sessions, 1, before);
    if (exec_stmt(s, s->expire_turns) || exec_stmt(s, s->expire_sessions))
        fail(s, "expiring sessions");
}

void ph_sessions_step(ph_sessions *s, bool force)
{
    if (!s || atomic_load(&s->ev->failed))
        return;
    write_inbox(s);
    if (s->judge)
        poll_judge(s); /* draining too: the judge's results count as in-flight work */
    mark_delivered(s);
    int64_t mono = ph_mono_ms();
    if (s->in_txn && (force || mono - s->txn_started >= s->ev->cfg->commit_interval_ms))
        commit(s);
    if (force || s->ev->draining)
        return; /* no new evaluations while shutting down */
    if (mono - s->scanned_ms >= SCAN_EVERY_MS) {
        s->scanned_ms = mono;
        scan(s);
    }
    if (mono - s->expired_ms >= EXPIRE_EVERY_MS) {
        s->expired_ms = mono;
        expire(s);
    }
}

void ph_sessions_assign(ph_sessions *s, const rd_kafka_topic_partition_list_t *parts, bool assigned)
{
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (assigned && !owned(s, p)) {
            if (s->nowned == s->owned_cap) {
                size_t cap = s->owned_cap ? s->owned_cap * 2 : 16;
                int32_t *grown = realloc(s->owned, cap * sizeof(*grown));
                if (!grown)
                    continue;
                s->owned = grown;
                s->owned_cap = cap;
            }
            s->owned[s->nowned++] = p;
        } else if (!assigned) {
            for (size_t j = 0; j < s->nowned; j++) {
                if (s->owned[j] == p) {
                    s->owned[j] = s->owned[--s->nowned];
                    break;
                }
            }
        }
    }
}

/* ---- open / close ---------------------------------------------------------------------------
 */

static int prepare(ph_sessions *s, char *errstr, size_t errstr_size)
{
    struct {
        sqlite3_stmt **st;
        const char *sql;
    } stmts[] = {
        {&s->begin, "BEGIN IMMEDIATE"},
        {&s->commit, "COMMIT"},
        {&s->add_turn, "INSERT OR IGNORE INTO turns(session_id, record_id, turn, record_time_ms, "
                       "user_message, output, frustration, refusal, is_error) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"},
        /* A new turn: the session is (re)opened, its idle timer restarts; session_end counts
         * from the first turn that says so, until the session is evaluated. */
        {&s->touch,
         "INSERT INTO sessions(session_id, partition, app, environment, model, last_seen_ms, "
         "ended, evaluated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL) "
         "ON CONFLICT(session_id) DO UPDATE SET partition = excluded.partition, "
         "app = coalesce(excluded.app, app), environment = coalesce(excluded.environment, "
         "environment), model = coalesce(excluded.model, model), "
         "last_seen_ms = max(last_seen_ms, excluded.last_seen_ms), "
         "ended = CASE WHEN evaluated_ms IS NULL THEN max(ended, excluded.ended) "
         "ELSE excluded.ended END, evaluated_ms = NULL"},
        {&s->due, "SELECT session_id, partition, app, environment, model, ended, last_seen_ms "
                  "FROM sessions WHERE evaluated_ms IS NULL AND (ended = 1 OR last_seen_ms <= "
                  "?1) ORDER BY last_seen_ms"},
        {&s->turns, "SELECT turn, record_time_ms, user_message, output, frustration, refusal, "
                    "is_error, record_id FROM turns WHERE session_id = ?1 "
                    "ORDER BY turn IS NULL, turn, record_time_ms, record_id"},
        /* Only the state evaluated: a turn that arrived meanwhile keeps the session open. */
        {&s->mark, "UPDATE sessions SET evaluated_ms = ?1 WHERE session_id = ?2 AND "
                   "last_seen_ms <= ?3 AND evaluated_ms IS NULL"},
        {&s->expire_turns, "DELETE FROM turns WHERE session_id IN (SELECT session_id FROM "
                           "sessions WHERE evaluated_ms < ?1)"},
        {&s->expire_sessions, "DELETE FROM sessions WHERE evaluated_ms < ?1"},
    };
    for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++)
        if (sqlite3_prepare_v2(s->db, stmts[i].sql, -1, stmts[i].st, NULL) != SQLITE_OK)
            return ph_err(errstr, errstr_size, PH_EIO, "sessions database: %s: %s", stmts[i].sql,
                          sqlite3_errmsg(s->db));
    return PH_OK;
}

static int open_judge(ph_sessions *s, const json_t *config, char *errstr, size_t errstr_size)
{
    ph_evaluator *ev = s->ev;
    char why[PH_ERRSTR_SIZE];
    int rc = ph_judge_new(&s->judge, config, why, sizeof(why));
    if (rc) /* lib/judge's paths start at its object: "judge.criteria[x]: ..." */
        return ph_err(errstr, errstr_size, rc,
                      strncmp(why, "judge", 5) == 0 ? "sessions.%s" : "sessions.judge: %s", why);
    /* Sessions waiting for a slow judge hold in-flight slots (their jobs): at most a quarter of
     * max_inflight_records, so records always keep the rest and never wait for the judge. */
    s->judging_max =
        ev->cfg->max_inflight_records >= 4 ? (size_t)ev->cfg->max_inflight_records / 4 : 1;
    s->judge_pending =
        ph_metrics_gauge(ev->metrics, "pharos_evaluator_session_judge_pending",
                         "Session judge results submitted and not yet delivered", NULL);
    s->judge_tokens = ph_metrics_gauge(ev->metrics, "pharos_evaluator_session_judge_tokens",
                                       "Session judge tokens used since the start", NULL);
    s->judge_cost =
        ph_metrics_gauge(ev->metrics, "pharos_evaluator_session_judge_cost_usd",
                         "What the session judge cost since the start, in US dollars", NULL);
    if (!s->judge_pending || !s->judge_tokens || !s->judge_cost)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    ph_log_info(COMPONENT, "sessions: conversations judged too (results session.judge.*)");
    return PH_OK;
}

/* The session evaluator from the file's "sessions" object without its "judge" member (so a
 * change of the judge's config leaves the deterministic measures' version alone: the judge's
 * results carry versions of their own), and the judge from that member. */
static int open_evaluators(ph_sessions *s, char *errstr, size_t errstr_size)
{
    const json_t *config = ph_eval_set_sessions(s->ev->set);
    const json_t *jconfig = config ? json_object_get(config, "judge") : NULL;
    json_t *rest = NULL;
    int rc;
    if (jconfig) {
        if (!(rest = json_deep_copy(config)) || json_object_del(rest, "judge")) {
            rc = ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
            goto out;
        }
        config = rest;
    }
    if ((rc = ph_session_eval_new(&s->seval, config, errstr, errstr_size)))
        goto out;
    if (jconfig)
        rc = open_judge(s, jconfig, errstr, errstr_size);
out:
    json_decref(rest);
    return rc;
}

int ph_sessions_open(ph_sessions **out, ph_evaluator *ev, const char *path, char *errstr,
                     size_t errstr_size)
{
    int rc;
    char *msg = NULL;
    ph_sessions *s = calloc(1, sizeof(*s));
    if (!s)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    s->ev = ev;
    pthread_mutex_init(&s->lock, NULL);
    *out = s; /* ph_sessions_close copes with a half-built one */
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK)
        return ph_err(errstr, errstr_size, PH_EIO, "sessions database %s: %s", path,
                      s->db ? sqlite3_errmsg(s->db) : "out of memory");
    /* Instances sharing the file wait for each other's short transactions. */
    sqlite3_busy_timeout(s->db, 10000);
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", NULL, NULL, &msg) !=
        SQLITE_OK) {
        rc = ph_err(errstr, errstr_size, PH_EIO, "sessions database %s: %s", path, msg);
        sqlite3_free(msg);
        return rc;
    }
    if ((rc = ph_sqlite_migrate(s->db, "sessions database", migrations, SCHEMA_VERSION, NULL,
                                errstr, errstr_size)) ||
        (rc = prepare(s, errstr, errstr_size)))
        return rc;
    if ((rc = open_evaluators(s, errstr, errstr_size)))
        return rc;
    ph_log_info(COMPONENT, "session evaluation version %s", ph_session_eval_version(s->seval));
    s->sessions_evaluated =
        ph_metrics_counter(ev->metrics, "pharos_evaluator_sessions_total",
                           "Sessions evaluated (their Evaluations delivered)", NULL);
    s->turns_written = ph_metrics_counter(ev->metrics, "pharos_evaluator_session_turns_total",
                                          "Session turns recorded", NULL);
    if (!s->sessions_evaluated || !s->turns_written)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    return PH_OK;
}

void ph_sessions_close(ph_sessions *s)
{
    if (!s)
        return;
    /* Judge results not back by now are dropped (on_judge_dropped): their sessions stay not
     * evaluated. The producer may be gone already; nothing is produced. */
    if (s->judging)
        ph_log_warn(COMPONENT,
                    "%zu sessions still wait for the session judge: they are evaluated again "
                    "after the restart",
                    s->judging);
    ph_judge_destroy(s->judge, on_judge_dropped, s);
    s->judge = NULL;
    if (s->db) {
        write_inbox(s);
        commit(s);
    }
    sqlite3_stmt *all[] = {s->begin, s->commit, s->add_turn,     s->touch,          s->due,
                           s->turns, s->mark,   s->expire_turns, s->expire_sessions};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        sqlite3_finalize(all[i]);
    if (s->db)
        sqlite3_close(s->db);
    while (s->evals) {
        evaluating *e = s->evals;
        s->evals = e->next;
        free(e->session_id);
        free(e);
    }
    ph_session_eval_destroy(s->seval);
    free(s->owned);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
