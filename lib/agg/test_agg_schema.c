/* The store's schema: a store of the previous version (2: cells keyed by their dimensions) is
 * migrated when opened and answers every query exactly as before, keeps deduplicating and takes
 * new data; and a series added by a commit that rolls back is not lost for the next commit. */
#include "test_agg_util.h"

#include <math.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
}

static sqlite3 *open_db(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    return db;
}

static int user_version(const char *path)
{
    sqlite3 *db = open_db(path);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Three apps, two models and a record without model, over three hours; logs and evaluations. */
static void fill(ph_agg *agg, int from, int to)
{
    static const char *const apps[] = {"chat", "search", "agent"};
    static const char *const models[] = {"m1", "m2", NULL};
    char id[32];
    for (int i = from; i < to; i++) {
        snprintf(id, sizeof(id), "r%d", i);
        const char *app = apps[i % 3], *model = models[(i / 3) % 3];
        int64_t t = T0 + (int64_t)i * 37 * 1000;
        tu_log(agg, id, app, model, t, 5 + i % 400, i % 11 == 0);
        tu_eval(agg, id, "refusal", "1", app, model, t, i % 7 ? 0 : 1, i % 7 ? "answer" : "refusal",
                i % 7 != 0);
    }
    size_t n_emit;
    assert_int_equal(ph_agg_advance(agg, FAR_FUTURE, &n_emit), PH_OK);
}

static void assert_same_points(const tu_points *a, const tu_points *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const tu_point *x = &a->v[i], *y = &b->v[i];
        assert_true(x->t == y->t);
        assert_true((!x->app && !y->app) || (x->app && y->app && !strcmp(x->app, y->app)));
        assert_true((!x->model && !y->model) ||
                    (x->model && y->model && !strcmp(x->model, y->model)));
        /* the same metrics; their order follows the order names were first seen, which
         * differs between merge orders (labels, reasons) */
        assert_int_equal(x->n, y->n);
        for (size_t j = 0; j < x->n; j++) {
            double v = tu_point_get(y, x->names[j]);
            if (!(v == x->values[j] || (isnan(v) && isnan(x->values[j]))))
                fail_msg("%s at %lld: %g vs %g", x->names[j], (long long)x->t, x->values[j], v);
        }
    }
}

/* Rewrites a current store into the layout of schema version 2, as a store written by the
 * previous release: combinations and all traffic, no app or model rollups. */
static void downgrade_to_v2(const char *path)
{
    sqlite3 *db = open_db(path);
    exec(db, "BEGIN;"
             "CREATE TABLE cells2 (level INTEGER NOT NULL, scope INTEGER NOT NULL,"
             "  start_ms INTEGER NOT NULL, app TEXT NOT NULL, environment TEXT NOT NULL,"
             "  model TEXT NOT NULL, revision INTEGER NOT NULL, emitted_revision INTEGER NOT NULL,"
             "  state BLOB NOT NULL);"
             "INSERT INTO cells2 SELECT c.level, s.scope, c.start_ms, s.app, s.environment,"
             "  s.model, c.revision, c.emitted_revision, c.state FROM cells c"
             "  JOIN series s ON s.id = c.series WHERE s.scope < 2;" /* no rollups in 2 */
             "DROP TABLE cells; DROP TABLE series;"
             "ALTER TABLE cells2 RENAME TO cells;"
             "CREATE UNIQUE INDEX cells_key ON cells(level, scope, start_ms, app, environment,"
             "  model);"
             "CREATE INDEX cells_app ON cells(level, scope, app, start_ms);"
             "CREATE INDEX cells_model ON cells(level, scope, model, start_ms);"
             "CREATE INDEX cells_unemitted ON cells(level, start_ms)"
             "  WHERE emitted_revision < revision;"
             "PRAGMA user_version = 2; COMMIT;");
    sqlite3_close(db);
}

#define N_QUERIES 6

/* Queries through every scope: combinations, all traffic, the app and the model rollups. */
static void queries(const char *path, tu_points out[N_QUERIES])
{
    ph_agg_filter one = {.app = "search", .model = "m2"}, model = {.model = "m1"};
    tu_query(path, T0, T0 + DAY, HOUR, NULL, PH_AGG_BY_APP | PH_AGG_BY_MODEL, &out[0]);
    tu_query(path, T0, T0 + DAY, 5 * MIN_MS, &one, 0, &out[1]);
    tu_query(path, T0, T0 + DAY, MIN_MS, NULL, 0, &out[2]);
    tu_query(path, T0, T0 + DAY, 10 * MIN_MS, NULL, PH_AGG_BY_APP, &out[3]);
    tu_query(path, T0, T0 + DAY, HOUR, &model, 0, &out[4]);
    size_t n_apps, n_models;
    tu_summary(path, T0, T0 + DAY, NULL, &out[5], &n_apps, &n_models);
    assert_int_equal(n_apps, 3);
    assert_int_equal(n_models, 3); /* m1, m2 and "" (absent) */
}

static void test_migration_from_v2(void **state)
{
    char *path = tu_path();
    ph_agg *agg = tu_open(path, NULL);
    fill(agg, 0, 300);
    tu_commit(agg);
    ph_agg_destroy(agg);
    tu_points before[N_QUERIES], after[N_QUERIES];
    queries(path, before);
    assert_true(tu_get(&before[5], NULL, T0, "requests") == 300);

    downgrade_to_v2(path);
    assert_int_equal(user_version(path), 2);
    agg = tu_open(path, NULL);
    assert_int_equal(user_version(path), 3);
    queries(path, after);
    for (int i = 0; i < N_QUERIES; i++)
        assert_same_points(&before[i], &after[i]);

    /* Duplicates of migrated records are still recognised; new ones add to migrated cells. */
    fill(agg, 250, 400);
    tu_commit(agg);
    ph_agg_destroy(agg);
    tu_points more;
    tu_summary(path, T0, T0 + DAY, NULL, &more, NULL, NULL);
    assert_true(tu_get(&more, NULL, T0, "requests") == 400);
    assert_true(tu_get(&more, NULL, T0, "eval.refusal.count") == 400);
    tu_points_free(&more);
    for (int i = 0; i < N_QUERIES; i++) {
        tu_points_free(&before[i]);
        tu_points_free(&after[i]);
    }
    tu_rm(path);
}

/* A query by app or by model reads the rollups; the same query with a filter on the environment
 * (every test event is in "prod") reads the combinations: both give exactly the same points, at
 * every level, with late data and revisions in between. */
static void test_rollups_equal_their_combinations(void **state)
{
    char *path = tu_path();
    ph_agg *agg = tu_open(path, NULL);
    fill(agg, 0, 500);
    tu_commit(agg);
    fill(agg, 100, 200); /* duplicates */
    tu_log(agg, "late", "chat", "m2", T0 + 5 * MIN_MS, 999, 1);
    tu_commit(agg);
    ph_agg_destroy(agg);
    static const int64_t steps[] = {MIN_MS, 15 * MIN_MS, HOUR, DAY};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        for (int by = 0; by < 2; by++) {
            unsigned g = by ? PH_AGG_BY_MODEL : PH_AGG_BY_APP;
            ph_agg_filter prod = {.environment = "prod"};
            tu_points rolled, combos;
            tu_query(path, T0, T0 + DAY, steps[i], NULL, g, &rolled);
            tu_query(path, T0, T0 + DAY, steps[i], &prod, g, &combos);
            assert_true(rolled.n > 0);
            assert_same_points(&rolled, &combos);
            tu_points_free(&rolled);
            tu_points_free(&combos);
            ph_agg_filter one = {.app = by ? NULL : "chat", .model = by ? "m2" : NULL};
            ph_agg_filter one_prod = one;
            one_prod.environment = "prod";
            tu_query(path, T0, T0 + DAY, steps[i], &one, 0, &rolled);
            tu_query(path, T0, T0 + DAY, steps[i], &one_prod, 0, &combos);
            assert_true(rolled.n > 0);
            assert_same_points(&rolled, &combos);
            tu_points_free(&rolled);
            tu_points_free(&combos);
        }
    }
    tu_rm(path);
}

/* The selection rule of ph_agg_query, written out: a name, or a prefix ending in '*'. */
static bool selects(const char *const *pats, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(pats[i]);
        if (len && pats[i][len - 1] == '*' ? strncmp(name, pats[i], len - 1) == 0
                                           : strcmp(name, pats[i]) == 0)
            return true;
    }
    return false;
}

typedef struct selection_check {
    const char *const *pats;
    size_t n, metrics;
} selection_check;

static int check_selected(void *arg, const ph_agg_point *pt)
{
    selection_check *c = arg;
    for (size_t i = 0; i < pt->n_metrics; i++)
        if (!selects(c->pats, c->n, pt->names[i]))
            fail_msg("%s returned, not selected", pt->names[i]);
    c->metrics += pt->n_metrics;
    return 0;
}

/* A query with a selection of metrics (which skips decoding what it cannot select) gives exactly
 * the selected metrics of the same query without one, in the same order: every scope, the
 * streamed and the merged path, patterns that overlap families or none. */
static void test_metric_selection(void **state)
{
    char *path = tu_path();
    ph_agg *agg = tu_open(path, NULL);
    fill(agg, 0, 400);
    tu_commit(agg);
    ph_agg_destroy(agg);
    static const char *const sets[][3] = {
        {"requests"},
        {"latency_p95_ms", "error_rate"},
        {"eval.*"},
        {"eval.refusal.label.*", "late_records"},
        {"lag_*"},
        {"latency_*", "lag_p99_s"},
        {"e*"},
        {"eval"},
        {"l*", "tokens_in"},
        {"*"},
        {"nothing-of-that-name"},
    };
    ph_agg_filter prod = {.environment = "prod"}, chat = {.app = "chat"};
    struct {
        const ph_agg_filter *f;
        unsigned g;
        int64_t step;
    } queries[] = {
        {NULL, 0, MIN_MS},                            /* all traffic, streamed */
        {NULL, PH_AGG_BY_APP, 10 * MIN_MS},           /* app rollups */
        {&chat, PH_AGG_BY_MODEL, HOUR},               /* combinations, one per group */
        {&prod, 0, 5 * MIN_MS},                       /* combinations merged per point */
        {NULL, PH_AGG_BY_APP | PH_AGG_BY_MODEL, DAY}, /* day cells */
    };
    for (size_t q = 0; q < sizeof(queries) / sizeof(queries[0]); q++) {
        tu_points all;
        tu_query(path, T0, T0 + DAY, queries[q].step, queries[q].f, queries[q].g, &all);
        assert_true(all.n > 0);
        for (size_t k = 0; k < sizeof(sets) / sizeof(sets[0]); k++) {
            size_t n = 0;
            while (n < 3 && sets[k][n])
                n++;
            tu_points got;
            tu_query_metrics(path, T0, T0 + DAY, queries[q].step, queries[q].f, queries[q].g,
                             sets[k], n, &got);
            assert_int_equal(got.n, all.n);
            for (size_t i = 0; i < all.n; i++) {
                const tu_point *x = &all.v[i], *y = &got.v[i];
                assert_true(x->t == y->t);
                size_t j = 0;
                for (size_t m = 0; m < x->n; m++) {
                    if (!selects(sets[k], n, x->names[m]))
                        continue;
                    if (j >= y->n)
                        fail_msg("%s missing with %s", x->names[m], sets[k][0]);
                    assert_string_equal(y->names[j], x->names[m]);
                    assert_true(y->values[j] == x->values[m]);
                    j++;
                }
                assert_int_equal(j, y->n);
            }
            tu_points_free(&got);
        }
        tu_points_free(&all);
    }
    /* One reader, the selection changing from one query to the next (the service's case). */
    char err[PH_ERRSTR_SIZE] = "";
    ph_agg_reader *r = NULL;
    assert_int_equal(ph_agg_reader_new(&r, path, err, sizeof(err)), PH_OK);
    for (int round = 0; round < 3; round++) {
        for (size_t k = 0; k < sizeof(sets) / sizeof(sets[0]); k++) {
            size_t n = 0;
            while (n < 3 && sets[k][n])
                n++;
            selection_check c = {sets[k], n, 0};
            assert_int_equal(ph_agg_query(r, T0, T0 + DAY, HOUR, NULL, 0, sets[k], n,
                                          check_selected, &c, err, sizeof(err)),
                             PH_OK);
            assert_true(c.metrics > 0 || k >= 4); /* the first four select metrics present */
        }
    }
    ph_agg_reader_destroy(r);
    tu_rm(path);
}

/* A commit fails after it added a new series: the next commit must add it again, not point its
 * cells at an id that the rollback removed. */
static void test_series_of_a_failed_commit(void **state)
{
    char *path = tu_path();
    ph_agg *agg = tu_open(path, NULL);
    tu_log(agg, "a", "chat", "m1", T0, 10, 0);
    tu_commit(agg);
    sqlite3 *db = open_db(path);
    exec(db, "CREATE TRIGGER refuse BEFORE INSERT ON offsets WHEN NEW.topic = 'refused'"
             " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;");
    sqlite3_close(db);

    tu_log(agg, "b", "newapp", "m9", T0 + MIN_MS, 20, 0);
    ph_agg_offset off = {"refused", 0, 1};
    char err[PH_ERRSTR_SIZE] = "";
    assert_int_equal(ph_agg_commit(agg, &off, 1, err, sizeof(err)), PH_EIO);
    assert_non_null(strstr(err, "refused by the test"));
    tu_log(agg, "c", "otherapp", "m1", T0 + 2 * MIN_MS, 30, 0);
    tu_commit(agg);
    ph_agg_destroy(agg);

    ph_agg_filter f = {.app = "newapp"};
    tu_points p;
    tu_query(path, T0, T0 + HOUR, HOUR, &f, PH_AGG_BY_MODEL, &p);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.v[0].model, "m9");
    assert_true(tu_point_get(&p.v[0], "requests") == 1);
    tu_points_free(&p);
    tu_summary(path, T0, T0 + HOUR, NULL, &p, NULL, NULL);
    assert_true(tu_get(&p, NULL, T0, "requests") == 3);
    tu_points_free(&p);
    tu_rm(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migration_from_v2),
        cmocka_unit_test(test_rollups_equal_their_combinations),
        cmocka_unit_test(test_metric_selection),
        cmocka_unit_test(test_series_of_a_failed_commit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
