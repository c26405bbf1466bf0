/* Events into cells, the watermark, and the queue of windows to emit.
 *
 * One event touches twelve cells: its combination, all traffic, its app's rollup and its
 * model's rollup, at each of the three levels.
 * Everything that can fail without side effects (dedup lookups, loading evicted cells) happens
 * before the first cell changes, so PH_EIO leaves the aggregate untouched. Names (evaluator,
 * labels, reasons...) are interned once per event, not once per cell. */
#include "agg_int.h"

#include "ph_error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CELLS_PER_EVENT (PH_AGG_LEVELS * AGG_SCOPES)

void ph_agg_log_init(ph_agg_log *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->ingest_ms = -1;
    ev->latency_ms = PH_AGG_NONE;
    ev->input_tokens = ev->output_tokens = -1;
    ev->cost_usd = PH_AGG_NONE;
}

void ph_agg_invalid_init(ph_agg_invalid *ev)
{
    memset(ev, 0, sizeof(*ev));
}

void ph_agg_eval_init(ph_agg_eval *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->score = PH_AGG_NONE;
    ev->passed = -1;
    ev->ingest_ms = ev->eval_ms = -1;
    ev->cost_usd = PH_AGG_NONE;
    ev->tokens = -1;
}

void ph_agg_feedback_init(ph_agg_feedback *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->thumbs = -1;
    ev->score = PH_AGG_NONE;
}

/* What an event does to one cell, prepared once per event. */
typedef struct prep {
    int kind; /* 0 log, 1 invalid, 2 eval, 3 feedback */
    const void *ev;
    const char *name, *label; /* evaluator and label (eval), label (feedback) */
    const char **names;       /* interned warnings (log); reasons then warnings (invalid) */
    size_t n_names, n_reasons;
    double *kpi; /* per configured KPI: value, NaN when the log has none */
    double lag_s;
    ph_sketch_prepared latency, lag; /* buckets of latency_ms and lag_s, once per event */
} prep;

static int64_t fixed(double v, double scale)
{
    return (int64_t)llround(v * scale);
}

static int apply_log(ph_agg *agg, agg_state *st, prep *p)
{
    const ph_agg_log *ev = p->ev;
    int rc = PH_OK;
    st->requests++;
    st->errors += ev->is_error;
    if (isfinite(ev->latency_ms)) {
        st->latency_n++;
        st->latency_sum += fixed(ev->latency_ms, AGG_LATENCY_SCALE);
        if ((rc = agg_state_sketch_add(&st->latency, &p->latency, ev->latency_ms)) != PH_OK)
            return rc;
    }
    if (ev->input_tokens >= 0)
        st->tokens_in += ev->input_tokens;
    if (ev->output_tokens >= 0)
        st->tokens_out += ev->output_tokens;
    if (isfinite(ev->cost_usd))
        st->cost += fixed(ev->cost_usd, AGG_COST_SCALE);
    for (size_t i = 0; i < p->n_names && rc == PH_OK; i++)
        rc = agg_state_count(&st->warnings, agg->pool, p->names[i], 1);
    for (size_t i = 0; i < agg->n_kpis && rc == PH_OK; i++) {
        if (isnan(p->kpi[i]))
            continue;
        if (agg->kpis[i].type == PH_AGG_KPI_BOOL) {
            agg_kbool *k = agg_state_kbool(st, agg->kpis[i].name);
            if (!k)
                return PH_ENOMEM;
            k->n++;
            k->yes += p->kpi[i] != 0;
        } else {
            agg_knum *k = agg_state_knum(st, agg->kpis[i].name);
            if (!k)
                return PH_ENOMEM;
            k->sum += fixed(p->kpi[i], AGG_SCORE_SCALE);
            rc = agg_state_sketch_add(&k->sk, NULL, p->kpi[i]);
        }
    }
    return rc;
}

static int apply_invalid(ph_agg *agg, agg_state *st, prep *p)
{
    int rc = PH_OK;
    st->invalid++;
    for (size_t i = 0; i < p->n_reasons && rc == PH_OK; i++)
        rc = agg_state_count(&st->reasons, agg->pool, p->names[i], 1);
    for (size_t i = p->n_reasons; i < p->n_names && rc == PH_OK; i++)
        rc = agg_state_count(&st->warnings, agg->pool, p->names[i], 1);
    return rc;
}

static int apply_eval(ph_agg *agg, agg_state *st, prep *p)
{
    const ph_agg_eval *ev = p->ev;
    agg_evalst *e = agg_state_eval(st, p->name);
    if (!e)
        return PH_ENOMEM;
    e->count++;
    e->errors += ev->status == PH_AGG_EVAL_ERROR;
    e->skipped += ev->status == PH_AGG_EVAL_SKIPPED;
    if (isfinite(ev->score)) {
        e->scored++;
        e->score_sum += fixed(ev->score, AGG_SCORE_SCALE);
    }
    if (ev->passed >= 0) {
        e->judged++;
        e->passed += ev->passed != 0;
    }
    if (isfinite(ev->cost_usd))
        st->judge_cost += fixed(ev->cost_usd, AGG_COST_SCALE);
    if (ev->tokens > 0)
        st->judge_tokens += (uint64_t)ev->tokens;
    int rc = p->label ? agg_state_count(&e->labels, agg->pool, p->label, 1) : PH_OK;
    if (rc == PH_OK && !isnan(p->lag_s))
        rc = agg_state_sketch_add(&st->lag, &p->lag, p->lag_s);
    return rc;
}

static int apply_feedback(ph_agg *agg, agg_state *st, prep *p)
{
    const ph_agg_feedback *ev = p->ev;
    st->fb_count++;
    if (ev->thumbs >= 0) {
        st->fb_thumbs++;
        st->fb_up += ev->thumbs != 0;
    }
    if (isfinite(ev->score)) {
        st->fb_scored++;
        st->fb_score_sum += fixed(ev->score, AGG_SCORE_SCALE);
    }
    return p->label ? agg_state_count(&st->fb_labels, agg->pool, p->label, 1) : PH_OK;
}

static int apply(ph_agg *agg, agg_state *st, prep *p)
{
    switch (p->kind) {
    case 0:
        return apply_log(agg, st, p);
    case 1:
        return apply_invalid(agg, st, p);
    case 2:
        return apply_eval(agg, st, p);
    default:
        return apply_feedback(agg, st, p);
    }
}

/* The shared path: too late? duplicate? then the twelve cells. */
static int add_event(ph_agg *agg, const agg_dkey *dk, int64_t t, const char *app, const char *env,
                     const char *model, prep *p)
{
    if (agg->watermark_ms != INT64_MIN && t < agg->watermark_ms - agg->dedup_ms) {
        /* Its dedup key may already be pruned: counting it could count it twice. */
        agg->stats.too_late++;
        return PH_OK;
    }
    int rc;
    bool found = agg_dedup_has(&agg->dedup, dk);
    if (!found && dk->t_min < agg->dedup_mem_from) {
        if ((rc = agg_keys_load_minute(agg, dk->t_min)) != PH_OK)
            return rc;
        found = agg_dedup_has(&agg->dedup, dk);
    }
    if (found) {
        agg->stats.duplicates++;
        return PH_OK;
    }
    const char *dims[3] = {agg_intern_z(agg->pool, app), agg_intern_z(agg->pool, env),
                           agg_intern_z(agg->pool, model)};
    if (!dims[0] || !dims[1] || !dims[2])
        return PH_ENOMEM;
    agg_cell *cells[CELLS_PER_EVENT];
    for (int i = 0; i < CELLS_PER_EVENT; i++) {
        int level = i / AGG_SCOPES, scope = i % AGG_SCOPES;
        bool by_app = scope == AGG_SCOPE_COMBO || scope == AGG_SCOPE_APP;
        bool by_model = scope == AGG_SCOPE_COMBO || scope == AGG_SCOPE_MODEL;
        agg_key k = {agg_floor_div(t, agg->size[level]) * agg->size[level],
                     by_app ? dims[0] : agg->empty,
                     scope == AGG_SCOPE_COMBO ? dims[1] : agg->empty,
                     by_model ? dims[2] : agg->empty,
                     (uint8_t)level,
                     (uint8_t)scope};
        if (!(cells[i] = agg_cell_get(agg, &k, &rc)))
            return rc;
    }
    if ((rc = agg_dedup_put(&agg->dedup, dk, true)) != PH_OK)
        return rc;
    for (int i = 0; i < CELLS_PER_EVENT; i++) {
        agg_cell *c = cells[i];
        if (agg_closed(agg, &c->k)) {
            c->st.late_records++;
            /* A new revision only once the current one has left (or is leaving): several late
             * events before the next emit share one revision. */
            if (c->revision <= c->emitted || c->revision <= c->handed)
                c->revision++;
            if (i == 0)
                agg->stats.late++;
        }
        if ((rc = apply(agg, &c->st, p)) != PH_OK)
            return rc;
        if (c->k.scope >= AGG_SCOPE_APP)
            c->emitted = c->revision; /* never emitted: counts as done for eviction and load */
        c->dirty |= AGG_DIRTY_STATE;
    }
    if (t > agg->max_event_ms)
        agg->max_event_ms = t;
    agg->stats.added++;
    agg->stats.cells_cached = agg->cells.n;
    agg->stats.keys_cached = agg->dedup.n;
    return PH_OK;
}

/* Interns n strings into a scratch array of the agg (grown as needed). */
static int intern_all(ph_agg *agg, const char ***scratch, size_t *cap, size_t at,
                      const char *const *s, size_t n)
{
    if (at + n > *cap) {
        size_t c = (at + n) * 2;
        const char **p = realloc((void *)*scratch, c * sizeof(*p));
        if (!p)
            return PH_ENOMEM;
        *scratch = p;
        *cap = c;
    }
    for (size_t i = 0; i < n; i++)
        if (!((*scratch)[at + i] = agg_intern_z(agg->pool, s[i])))
            return PH_ENOMEM;
    return PH_OK;
}

static double kpi_value(const agg_kpi *k, const ph_agg_log *ev)
{
    for (size_t i = 0; i < ev->n_metadata; i++) {
        const ph_agg_kv *kv = &ev->metadata[i];
        if (!kv->key || !kv->value || strcmp(kv->key, k->key) != 0)
            continue;
        if (k->type == PH_AGG_KPI_BOOL) {
            if (strcasecmp(kv->value, "true") == 0)
                return 1;
            if (strcasecmp(kv->value, "false") == 0)
                return 0;
            return NAN;
        }
        char *end;
        double v = strtod(kv->value, &end);
        return end != kv->value && *end == '\0' && isfinite(v) ? v : NAN;
    }
    return NAN;
}

int ph_agg_add_log(ph_agg *agg, const ph_agg_log *ev)
{
    if (!ev->record_id || ev->time_ms <= 0 || (ev->n_warnings && !ev->warnings) ||
        (ev->n_metadata && !ev->metadata))
        return PH_EINVAL;
    prep p = {.kind = 0, .ev = ev, .n_names = ev->n_warnings};
    int rc = intern_all(agg, &agg->scratch, &agg->scratch_cap, 0, ev->warnings, ev->n_warnings);
    if (rc != PH_OK)
        return rc;
    for (size_t i = 0; i < agg->n_kpis; i++)
        agg->kpi_vals[i] = kpi_value(&agg->kpis[i], ev);
    p.names = agg->scratch;
    p.kpi = agg->kpi_vals;
    agg_dkey dk;
    agg_dedup_hash(&dk, "log:", &ev->record_id, 1, ev->time_ms);
    return add_event(agg, &dk, ev->time_ms, ev->app, ev->environment, ev->model, &p);
}

int ph_agg_add_invalid(ph_agg *agg, const ph_agg_invalid *ev)
{
    if (!ev->id || ev->time_ms <= 0 || (ev->n_reasons && !ev->reasons) ||
        (ev->n_warnings && !ev->warnings))
        return PH_EINVAL;
    int rc = intern_all(agg, &agg->scratch, &agg->scratch_cap, 0, ev->reasons, ev->n_reasons);
    if (rc == PH_OK)
        rc = intern_all(agg, &agg->scratch, &agg->scratch_cap, ev->n_reasons, ev->warnings,
                        ev->n_warnings);
    if (rc != PH_OK)
        return rc;
    prep p = {.kind = 1,
              .ev = ev,
              .names = agg->scratch,
              .n_names = ev->n_reasons + ev->n_warnings,
              .n_reasons = ev->n_reasons};
    agg_dkey dk;
    agg_dedup_hash(&dk, "inv:", &ev->id, 1, ev->time_ms);
    return add_event(agg, &dk, ev->time_ms, ev->app, ev->environment, ev->model, &p);
}

int ph_agg_add_eval(ph_agg *agg, const ph_agg_eval *ev)
{
    if (!ev->record_id || !ev->evaluator || !*ev->evaluator || ev->record_ms <= 0)
        return PH_EINVAL;
    const char *version = ev->evaluator_version ? ev->evaluator_version : "";
    prep p = {.kind = 2, .ev = ev, .lag_s = NAN};
    if (!(p.name = agg_intern_z(agg->pool, ev->evaluator)) ||
        (ev->label && !(p.label = agg_intern_z(agg->pool, ev->label))))
        return PH_ENOMEM;
    if (ev->ingest_ms > 0 && ev->eval_ms > 0) /* clock skew must not yield negative lag */
        p.lag_s = ev->eval_ms > ev->ingest_ms ? (double)(ev->eval_ms - ev->ingest_ms) / 1000 : 0;
    const char *parts[3] = {ev->record_id, ev->evaluator, version};
    agg_dkey dk;
    agg_dedup_hash(&dk, "eval:", parts, 3, ev->record_ms);
    return add_event(agg, &dk, ev->record_ms, ev->app, ev->environment, ev->model, &p);
}

int ph_agg_add_feedback(ph_agg *agg, const ph_agg_feedback *ev)
{
    if (!ev->feedback_id || ev->time_ms <= 0)
        return PH_EINVAL;
    prep p = {.kind = 3, .ev = ev};
    if (ev->label && !(p.label = agg_intern_z(agg->pool, ev->label)))
        return PH_ENOMEM;
    agg_dkey dk;
    agg_dedup_hash(&dk, "fb:", &ev->feedback_id, 1, ev->time_ms);
    return add_event(agg, &dk, ev->time_ms, ev->app, ev->environment, ev->model, &p);
}

/* ---- watermark and emission ----------------------------------------------------------------- */

static int key_cmp(const void *a, const void *b)
{
    const agg_key *x = a, *y = b;
    if (x->level != y->level)
        return x->level < y->level ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->scope != y->scope)
        return x->scope > y->scope ? -1 : 1; /* all traffic first */
    int c = strcmp(x->app, y->app);
    if (!c)
        c = strcmp(x->env, y->env);
    return c ? c : strcmp(x->model, y->model);
}

int ph_agg_advance(ph_agg *agg, int64_t now_ms, size_t *n_emit)
{
    if (agg->max_event_ms != INT64_MIN) {
        int64_t t = (agg->max_event_ms < now_ms ? agg->max_event_ms : now_ms) - agg->lateness_ms;
        if (agg->watermark_ms == INT64_MIN || t > agg->watermark_ms)
            agg->watermark_ms = t;
    }
    agg->n_queue = agg->pos_queue = 0;
    for (size_t i = 0; i < agg->cells.cap; i++) {
        agg_cell *c = agg->cells.slots[i];
        if (!c || !agg_closed(agg, &c->k) || c->revision <= c->emitted)
            continue;
        if (agg->n_queue == agg->cap_queue) {
            size_t cap = agg->cap_queue ? agg->cap_queue * 2 : 1024;
            agg_key *q = realloc(agg->queue, cap * sizeof(*q));
            if (!q)
                return PH_ENOMEM;
            agg->queue = q;
            agg->cap_queue = cap;
        }
        agg->queue[agg->n_queue++] = c->k;
    }
    if (agg->n_queue > 1) /* qsort(NULL, 0) is undefined */
        qsort(agg->queue, agg->n_queue, sizeof(*agg->queue), key_cmp);
    if (n_emit)
        *n_emit = agg->n_queue;
    return PH_OK;
}

int ph_agg_next_emit(ph_agg *agg, ph_agg_window *out)
{
    while (agg->pos_queue < agg->n_queue) {
        const agg_key *k = &agg->queue[agg->pos_queue++];
        agg_cell *c = agg_cellmap_get(&agg->cells, k);
        if (!c || c->revision <= c->emitted)
            continue;
        int rc = agg_metrics_build(&agg->metrics, &c->st, NULL);
        if (rc != PH_OK)
            return rc;
        if (c->revision > c->handed)
            c->handed = c->revision;
        bool all = k->scope == AGG_SCOPE_ALL;
        *out = (ph_agg_window){
            .level = k->level,
            .granularity = agg_granularity(agg->window_ms, k->level, agg->granularity,
                                           sizeof(agg->granularity)),
            .start_ms = k->start,
            .end_ms = k->start + agg->size[k->level],
            .app = all ? NULL : k->app,
            .environment = all ? NULL : k->env,
            .model = all ? NULL : k->model,
            .revision = c->revision,
            .n_metrics = agg->metrics.n,
            .names = agg->metrics.names,
            .values = agg->metrics.values,
        };
        return PH_OK;
    }
    return PH_ENOENT;
}

int ph_agg_mark_emitted(ph_agg *agg, const ph_agg_window *w)
{
    if (w->level < 0 || w->level >= PH_AGG_LEVELS)
        return PH_EINVAL;
    bool all = !w->app && !w->environment && !w->model;
    agg_key k = {.start = w->start_ms, .level = (uint8_t)w->level, .scope = all};
    if (!(k.app = agg_intern_z(agg->pool, w->app)) ||
        !(k.env = agg_intern_z(agg->pool, w->environment)) ||
        !(k.model = agg_intern_z(agg->pool, w->model)))
        return PH_ENOMEM;
    agg_cell *c = agg_cellmap_get(&agg->cells, &k);
    if (!c)
        return PH_ENOENT;
    if (w->revision > c->emitted && w->revision <= c->revision) {
        c->emitted = w->revision;
        c->dirty |= AGG_DIRTY_META;
    }
    return PH_OK;
}
