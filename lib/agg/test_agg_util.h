/* Helpers for the lib/agg tests: a fresh store per test, event shorthands, and query results
 * collected into arrays that tests look values up in. */
#ifndef TEST_AGG_UTIL_H
#define TEST_AGG_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ph_agg.h"
#include "ph_error.h"

/* A UTC midnight (2023-11-14), so hours and days start at T0. */
#define T0     1699920000000LL
#define MIN_MS 60000LL
#define HOUR   3600000LL
#define DAY    86400000LL
/* now_ms for ph_agg_advance when the watermark should follow event time only. */
#define FAR_FUTURE (INT64_MAX / 4)

/* A new empty store path in a fresh temporary directory (malloc'ed); tu_rm removes it. */
char *tu_path(void);
void tu_rm(char *path);

ph_agg *tu_open(const char *path, const ph_agg_config *cfg); /* cfg NULL: defaults */
void tu_commit(ph_agg *agg);

void tu_log(ph_agg *agg, const char *id, const char *app, const char *model, int64_t t,
            double latency_ms, int is_error);
void tu_eval(ph_agg *agg, const char *record_id, const char *evaluator, const char *version,
             const char *app, const char *model, int64_t t, double score, const char *label,
             int passed);

typedef struct tu_point {
    char *app, *env, *model; /* NULL when NULL */
    int64_t t;
    size_t n;
    char **names;
    double *values;
} tu_point;

typedef struct tu_points {
    tu_point *v;
    size_t n;
} tu_points;

/* Runs ph_agg_query on a fresh reader and collects every point (every metric, or those
 * selected). */
void tu_query(const char *path, int64_t from, int64_t to, int64_t step, const ph_agg_filter *f,
              unsigned group_by, tu_points *out);
void tu_query_metrics(const char *path, int64_t from, int64_t to, int64_t step,
                      const ph_agg_filter *f, unsigned group_by, const char *const *metrics,
                      size_t n_metrics, tu_points *out);
/* Summary totals as one point (t = from); n_apps and n_models may be NULL. */
void tu_summary(const char *path, int64_t from, int64_t to, const ph_agg_filter *f, tu_points *out,
                size_t *n_apps, size_t *n_models);
/* The value of `name` at the point (app, t) (app compared with NULL as a value); NAN when there
 * is no such point or metric. */
double tu_get(const tu_points *p, const char *app, int64_t t, const char *name);
double tu_point_get(const tu_point *pt, const char *name);
void tu_points_free(tu_points *p);

/* Collected windows of ph_agg_next_emit (all of them), optionally marked. */
typedef struct tu_windows {
    tu_point *v; /* app/env/model as given (NULL = all), t = start */
    int *level;
    int32_t *revision;
    size_t n;
} tu_windows;
void tu_emit_all(ph_agg *agg, int mark, tu_windows *out);
void tu_windows_free(tu_windows *w);

#endif
