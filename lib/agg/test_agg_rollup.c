/* Rollups are exact: an hour cell equals the merge of its 60 minute cells, a day cell the merge
 * of its hours (and of its 1440 minutes), and an all-traffic cell the merge of its combinations:
 * every count, sum and percentile identical, not merely close. Reads the stored cells directly
 * (white box), since the query path always picks the coarsest level. */
#include "test_agg_util.h"

#include "agg_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252ULL;

static double rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static void add_events(ph_agg *agg, int n)
{
    const char *apps[] = {"chat", "search", "agent"}, *models[] = {"m1", "m2"};
    const char *labels[] = {"clean", "toxic", "borderline"}, *warns[] = {"pii", "long"};
    char id[32], lat[32];
    for (int i = 0; i < n; i++) {
        int64_t t = T0 + (int64_t)(rnd() * 2 * DAY);
        const char *app = apps[i % 3], *model = models[(i / 3) % 2];
        snprintf(id, sizeof(id), "r%d", i);
        ph_agg_log ev;
        ph_agg_log_init(&ev);
        ev.record_id = id;
        ev.app = app;
        ev.model = model;
        ev.time_ms = t;
        ev.latency_ms = exp(5 + rnd() * 3) / 3.0; /* irrational-ish values */
        ev.is_error = rnd() < 0.05;
        ev.cost_usd = rnd() / 1000;
        ev.input_tokens = (int64_t)(rnd() * 900);
        ev.output_tokens = (int64_t)(rnd() * 300);
        snprintf(lat, sizeof(lat), "%.3f", rnd() * 3600);
        ph_agg_kv md[2] = {{"ttr", lat}, {"deflected", rnd() < 0.3 ? "true" : "false"}};
        ev.metadata = md;
        ev.n_metadata = 2;
        ev.warnings = &warns[i % 2];
        ev.n_warnings = rnd() < 0.2;
        assert_int_equal(ph_agg_add_log(agg, &ev), PH_OK);
        ph_agg_eval e;
        ph_agg_eval_init(&e);
        e.record_id = id;
        e.evaluator = i % 2 ? "toxicity" : "refusal";
        e.evaluator_version = "1";
        e.app = app;
        e.model = model;
        e.record_ms = t;
        e.ingest_ms = t + 10;
        e.eval_ms = t + 10 + (int64_t)(rnd() * 20000);
        e.score = rnd();
        e.label = labels[i % 3];
        e.passed = rnd() < 0.8;
        e.cost_usd = rnd() / 10000;
        e.tokens = 100;
        assert_int_equal(ph_agg_add_eval(agg, &e), PH_OK);
    }
}

/* Metrics of the merge of every stored cell of `level` and scope in [from, to), filtered by app
 * (NULL: any). */
static void merged(sqlite3 *db, agg_pool *pool, int level, int scope, int64_t from, int64_t to,
                   const char *app, agg_metrics *m, size_t *n_cells)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT c.state FROM cells c JOIN series s"
                                        " ON s.id = c.series WHERE c.level = ?1 AND"
                                        " s.scope = ?2 AND c.start_ms >= ?3 AND"
                                        " c.start_ms < ?4 AND (?5 IS NULL OR s.app = ?5)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int(st, 1, level);
    sqlite3_bind_int(st, 2, scope);
    sqlite3_bind_int64(st, 3, from);
    sqlite3_bind_int64(st, 4, to);
    if (app)
        sqlite3_bind_text(st, 5, app, -1, SQLITE_STATIC);
    agg_state acc = {0};
    *n_cells = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        assert_int_equal(agg_state_merge_blob(&acc, sqlite3_column_blob(st, 0),
                                              (size_t)sqlite3_column_bytes(st, 0), pool, 0),
                         PH_OK);
        (*n_cells)++;
    }
    sqlite3_finalize(st);
    assert_int_equal(agg_metrics_build(m, &acc, NULL), PH_OK);
    agg_state_clear(&acc);
}

static void assert_same(const agg_metrics *a, const agg_metrics *b)
{
    assert_true(a->n > 20);
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        size_t j = 0;
        while (j < b->n && strcmp(a->names[i], b->names[j]) != 0)
            j++;
        if (j == b->n)
            fail_msg("%s missing", a->names[i]);
        if (a->values[i] != b->values[j])
            fail_msg("%s: %.17g != %.17g", a->names[i], a->values[i], b->values[j]);
    }
}

static void exact_rollups(void **state)
{
    char *path = tu_path();
    ph_agg_config cfg;
    ph_agg_config_default(&cfg);
    cfg.sync_full = false;
    ph_agg_kpi kpis[] = {{"ttr", "ttr", PH_AGG_KPI_NUMBER},
                         {"deflected", "deflected", PH_AGG_KPI_BOOL}};
    cfg.kpis = kpis;
    cfg.n_kpis = 2;
    ph_agg *agg = tu_open(path, &cfg);
    add_events(agg, 20000);
    tu_commit(agg);
    ph_agg_destroy(agg);

    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    agg_pool *pool = NULL;
    assert_int_equal(agg_pool_new(&pool), PH_OK);
    agg_metrics a = {0}, b = {0};
    size_t n_a, n_b;
    for (int h = 0; h < 48; h += 7) {
        int64_t from = T0 + h * HOUR;
        merged(db, pool, 1, 1, from, from + HOUR, NULL, &a, &n_a);
        merged(db, pool, 0, 1, from, from + HOUR, NULL, &b, &n_b);
        assert_int_equal(n_a, 1);
        assert_true(n_b > 50 && n_b <= 60); /* ~7 events a minute: a minute may be empty */
        assert_same(&a, &b);
        /* per combination too */
        merged(db, pool, 1, 0, from, from + HOUR, "search", &a, &n_a);
        merged(db, pool, 0, 0, from, from + HOUR, "search", &b, &n_b);
        assert_same(&a, &b);
        /* all traffic == merge of the combinations */
        merged(db, pool, 0, 0, from, from + HOUR, NULL, &b, &n_b);
        merged(db, pool, 1, 1, from, from + HOUR, NULL, &a, &n_a);
        assert_same(&a, &b);
    }
    for (int d = 0; d < 2; d++) {
        int64_t from = T0 + d * DAY;
        merged(db, pool, 2, 1, from, from + DAY, NULL, &a, &n_a);
        merged(db, pool, 1, 1, from, from + DAY, NULL, &b, &n_b);
        assert_int_equal(n_b, 24);
        assert_same(&a, &b);
        merged(db, pool, 0, 1, from, from + DAY, NULL, &b, &n_b);
        assert_true(n_b > 1400 && n_b <= 1440);
        assert_same(&a, &b);
    }
    agg_metrics_free(&a);
    agg_metrics_free(&b);
    agg_pool_destroy(pool);
    sqlite3_close(db);
    tu_rm(path);
}

/* The metric names of a build are kept for the next build while its metrics match (the query
 * path builds thousands in a row): a sequence of different states, built one after the other
 * into one list, names and values exactly as a fresh list gives them. */
static void metric_names_reused_across_builds(void **state)
{
    agg_pool *pool = NULL;
    assert_int_equal(agg_pool_new(&pool), PH_OK);
    const char *ev[] = {agg_intern_z(pool, "refusal"), agg_intern_z(pool, "toxicity")};
    const char *lb[] = {agg_intern_z(pool, "answer"), agg_intern_z(pool, "refusal"),
                        agg_intern_z(pool, "a-much-longer-label-than-the-others")};
    agg_state st[6] = {{0}};
    for (int i = 0; i < 6; i++) {
        st[i].requests = (uint64_t)i + 1;
        if (i % 3 != 2)
            assert_int_equal(agg_state_sketch_add(&st[i].latency, NULL, 10.0 * (i + 1)), 0);
        st[i].latency_n = st[i].latency ? 1 : 0;
        for (int e = 0; e <= i % 2; e++) {
            agg_evalst *x = agg_state_eval(&st[i], ev[(e + i) % 2]);
            assert_non_null(x);
            x->count = 1;
            for (int l = 0; l < 3; l++)
                if ((i + l) % 2 == 0)
                    assert_int_equal(agg_state_count(&x->labels, pool, lb[l], (uint64_t)l + 1), 0);
        }
    }
    const int order[] = {0, 0, 1, 2, 3, 3, 5, 4, 0, 2, 1};
    agg_metrics reused = {0};
    for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
        agg_metrics fresh = {0};
        assert_int_equal(agg_metrics_build(&reused, &st[order[k]], NULL), PH_OK);
        assert_int_equal(agg_metrics_build(&fresh, &st[order[k]], NULL), PH_OK);
        assert_int_equal(reused.n, fresh.n);
        for (size_t i = 0; i < fresh.n; i++) {
            assert_string_equal(reused.names[i], fresh.names[i]);
            assert_true(reused.values[i] == fresh.values[i]);
        }
        agg_metrics_free(&fresh);
    }
    agg_metrics_free(&reused);
    for (int i = 0; i < 6; i++)
        agg_state_clear(&st[i]);
    agg_pool_destroy(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_rollups),
        cmocka_unit_test(metric_names_reused_across_builds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
