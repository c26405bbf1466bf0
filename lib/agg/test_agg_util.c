#include "test_agg_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *tu_path(void)
{
    char tmpl[] = "/tmp/ph_agg_test.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    char *path = malloc(strlen(tmpl) + 16);
    assert_non_null(path);
    sprintf(path, "%s/agg.db", tmpl);
    return path;
}

void tu_rm(char *path)
{
    char buf[512];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(buf, sizeof(buf), "%s%s", path, suffix[i]);
        unlink(buf);
    }
    *strrchr(path, '/') = '\0';
    rmdir(path);
    free(path);
}

ph_agg *tu_open(const char *path, const ph_agg_config *cfg)
{
    ph_agg_config def;
    ph_agg_config_default(&def);
    def.sync_full = false; /* tests do not need power-loss durability */
    char err[PH_ERRSTR_SIZE] = "";
    ph_agg *agg = NULL;
    int rc = ph_agg_new(&agg, cfg ? cfg : &def, path, err, sizeof(err));
    if (rc != PH_OK)
        fail_msg("ph_agg_new: %s", err);
    return agg;
}

void tu_commit(ph_agg *agg)
{
    char err[PH_ERRSTR_SIZE] = "";
    if (ph_agg_commit(agg, NULL, 0, err, sizeof(err)) != PH_OK)
        fail_msg("commit: %s", err);
}

void tu_log(ph_agg *agg, const char *id, const char *app, const char *model, int64_t t,
            double latency_ms, int is_error)
{
    ph_agg_log ev;
    ph_agg_log_init(&ev);
    ev.record_id = id;
    ev.app = app;
    ev.environment = "prod";
    ev.model = model;
    ev.time_ms = t;
    ev.latency_ms = latency_ms;
    ev.is_error = is_error;
    assert_int_equal(ph_agg_add_log(agg, &ev), PH_OK);
}

void tu_eval(ph_agg *agg, const char *record_id, const char *evaluator, const char *version,
             const char *app, const char *model, int64_t t, double score, const char *label,
             int passed)
{
    ph_agg_eval ev;
    ph_agg_eval_init(&ev);
    ev.record_id = record_id;
    ev.evaluator = evaluator;
    ev.evaluator_version = version;
    ev.app = app;
    ev.environment = "prod";
    ev.model = model;
    ev.record_ms = t;
    ev.score = score;
    ev.label = label;
    ev.passed = passed;
    assert_int_equal(ph_agg_add_eval(agg, &ev), PH_OK);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void collect(tu_points *out, const char *app, const char *env, const char *model, int64_t t,
                    size_t n, const char *const *names, const double *values)
{
    out->v = realloc(out->v, (out->n + 1) * sizeof(*out->v));
    assert_non_null(out->v);
    tu_point *p = &out->v[out->n++];
    p->app = dup_or_null(app);
    p->env = dup_or_null(env);
    p->model = dup_or_null(model);
    p->t = t;
    p->n = n;
    p->names = calloc(n + 1, sizeof(*p->names));
    p->values = calloc(n + 1, sizeof(*p->values));
    for (size_t i = 0; i < n; i++) {
        p->names[i] = strdup(names[i]);
        p->values[i] = values[i];
    }
}

static int on_point(void *arg, const ph_agg_point *pt)
{
    collect(arg, pt->app, pt->environment, pt->model, pt->t_ms, pt->n_metrics, pt->names,
            pt->values);
    return 0;
}

void tu_query_metrics(const char *path, int64_t from, int64_t to, int64_t step,
                      const ph_agg_filter *f, unsigned group_by, const char *const *metrics,
                      size_t n_metrics, tu_points *out)
{
    char err[PH_ERRSTR_SIZE] = "";
    ph_agg_reader *r = NULL;
    if (ph_agg_reader_new(&r, path, err, sizeof(err)) != PH_OK)
        fail_msg("reader: %s", err);
    memset(out, 0, sizeof(*out));
    if (ph_agg_query(r, from, to, step, f, group_by, metrics, n_metrics, on_point, out, err,
                     sizeof(err)) != PH_OK)
        fail_msg("query: %s", err);
    ph_agg_reader_destroy(r);
}

void tu_query(const char *path, int64_t from, int64_t to, int64_t step, const ph_agg_filter *f,
              unsigned group_by, tu_points *out)
{
    tu_query_metrics(path, from, to, step, f, group_by, NULL, 0, out);
}

typedef struct sum_ctx {
    tu_points *out;
    size_t n_apps, n_models;
} sum_ctx;

static int on_summary(void *arg, const ph_agg_summary_result *res)
{
    sum_ctx *c = arg;
    collect(c->out, NULL, NULL, NULL, res->from_ms, res->n_metrics, res->names, res->values);
    c->n_apps = res->n_apps;
    c->n_models = res->n_models;
    return 0;
}

void tu_summary(const char *path, int64_t from, int64_t to, const ph_agg_filter *f, tu_points *out,
                size_t *n_apps, size_t *n_models)
{
    char err[PH_ERRSTR_SIZE] = "";
    ph_agg_reader *r = NULL;
    if (ph_agg_reader_new(&r, path, err, sizeof(err)) != PH_OK)
        fail_msg("reader: %s", err);
    memset(out, 0, sizeof(*out));
    sum_ctx c = {out, 0, 0};
    if (ph_agg_summary(r, from, to, f, on_summary, &c, err, sizeof(err)) != PH_OK)
        fail_msg("summary: %s", err);
    if (n_apps)
        *n_apps = c.n_apps;
    if (n_models)
        *n_models = c.n_models;
    ph_agg_reader_destroy(r);
}

double tu_point_get(const tu_point *pt, const char *name)
{
    for (size_t i = 0; i < pt->n; i++)
        if (strcmp(pt->names[i], name) == 0)
            return pt->values[i];
    return NAN;
}

double tu_get(const tu_points *p, const char *app, int64_t t, const char *name)
{
    for (size_t i = 0; i < p->n; i++) {
        const tu_point *pt = &p->v[i];
        if (pt->t != t || (app == NULL) != (pt->app == NULL) || (app && strcmp(app, pt->app)))
            continue;
        return tu_point_get(pt, name);
    }
    return NAN;
}

static void point_free(tu_point *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->names[i]);
    free(p->names);
    free(p->values);
    free(p->app);
    free(p->env);
    free(p->model);
}

void tu_points_free(tu_points *p)
{
    for (size_t i = 0; i < p->n; i++)
        point_free(&p->v[i]);
    free(p->v);
    memset(p, 0, sizeof(*p));
}

void tu_emit_all(ph_agg *agg, int mark, tu_windows *out)
{
    memset(out, 0, sizeof(*out));
    tu_points pts = {0};
    ph_agg_window w;
    while (ph_agg_next_emit(agg, &w) == PH_OK) {
        collect(&pts, w.app, w.environment, w.model, w.start_ms, w.n_metrics, w.names, w.values);
        out->level = realloc(out->level, pts.n * sizeof(int));
        out->revision = realloc(out->revision, pts.n * sizeof(int32_t));
        out->level[pts.n - 1] = w.level;
        out->revision[pts.n - 1] = w.revision;
        assert_int_equal(w.end_ms - w.start_ms, w.level == 0 ? MIN_MS : w.level == 1 ? HOUR : DAY);
        if (mark)
            assert_int_equal(ph_agg_mark_emitted(agg, &w), PH_OK);
    }
    out->v = pts.v;
    out->n = pts.n;
}

void tu_windows_free(tu_windows *w)
{
    tu_points p = {w->v, w->n};
    tu_points_free(&p);
    free(w->level);
    free(w->revision);
    memset(w, 0, sizeof(*w));
}
