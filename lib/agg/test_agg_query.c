/* Queries: known events in, exact numbers out, for every metric family, at step 1m and 1h, with
 * filters and group-by; and the summary's totals and dimension lists. */
#include "test_agg_util.h"

#include <math.h>
#include <string.h>

static void add_known(ph_agg *agg)
{
    /* chat/m1: 4 logs in minute 0 (one error), latencies 100, 200, 300, 400 ms. */
    const char *ids[] = {"l1", "l2", "l3", "l4"};
    const char *warn[] = {"pii_detected"};
    for (int i = 0; i < 4; i++) {
        ph_agg_log ev;
        ph_agg_log_init(&ev);
        ev.record_id = ids[i];
        ev.app = "chat";
        ev.environment = "prod";
        ev.model = "m1";
        ev.time_ms = T0 + i * 1000;
        ev.is_error = i == 3;
        ev.latency_ms = 100.0 * (i + 1);
        ev.input_tokens = 10;
        ev.output_tokens = 5;
        ev.cost_usd = 0.001;
        ev.warnings = warn;
        ev.n_warnings = i == 0;
        ph_agg_kv md[] = {{"ttr_s", i < 2 ? "60" : "120"},
                          {"deflected", i == 0 ? "true" : "false"},
                          {"other", "x"}};
        ev.metadata = md;
        ev.n_metadata = 3;
        assert_int_equal(ph_agg_add_log(agg, &ev), PH_OK);
    }
    /* search/m2 (no environment): 2 logs in minute 1, no latency. */
    ph_agg_log ev;
    ph_agg_log_init(&ev);
    ev.record_id = "s1";
    ev.app = "search";
    ev.model = "m2";
    ev.time_ms = T0 + MIN_MS;
    assert_int_equal(ph_agg_add_log(agg, &ev), PH_OK);
    ev.record_id = "s2";
    assert_int_equal(ph_agg_add_log(agg, &ev), PH_OK);
    /* One invalid record of chat with two reasons, one unattributed. */
    ph_agg_invalid inv;
    ph_agg_invalid_init(&inv);
    const char *reasons[] = {"missing_field", "bad_type"};
    inv.id = "raw:0:1";
    inv.app = "chat";
    inv.environment = "prod";
    inv.model = "m1";
    inv.time_ms = T0 + 5000;
    inv.reasons = reasons;
    inv.n_reasons = 2;
    assert_int_equal(ph_agg_add_invalid(agg, &inv), PH_OK);
    ph_agg_invalid_init(&inv);
    inv.id = "raw:0:2";
    inv.time_ms = T0 + 6000;
    inv.reasons = reasons;
    inv.n_reasons = 1;
    assert_int_equal(ph_agg_add_invalid(agg, &inv), PH_OK);
    /* Evaluations of chat: toxicity on l1..l3, scores .1 .2 .6, labels, passed 1 1 0; one
     * error; lag 2, 4, 6 s; judge spend. */
    for (int i = 0; i < 4; i++) {
        ph_agg_eval e;
        ph_agg_eval_init(&e);
        e.record_id = ids[i];
        e.evaluator = "toxicity";
        e.evaluator_version = "3";
        e.app = "chat";
        e.environment = "prod";
        e.model = "m1";
        e.record_ms = T0 + i * 1000;
        if (i == 3) {
            e.status = PH_AGG_EVAL_ERROR;
        } else {
            e.score = i == 2 ? 0.6 : 0.1 * (i + 1);
            e.label = i == 2 ? "toxic" : "clean";
            e.passed = i < 2;
            e.ingest_ms = T0 + 10000;
            e.eval_ms = T0 + 10000 + 2000 * (i + 1);
            e.cost_usd = 0.01;
            e.tokens = 250;
        }
        assert_int_equal(ph_agg_add_eval(agg, &e), PH_OK);
    }
    /* Feedback on chat: up, down, score 4, label "wrong". */
    ph_agg_feedback fb;
    ph_agg_feedback_init(&fb);
    fb.feedback_id = "f1";
    fb.app = "chat";
    fb.environment = "prod";
    fb.model = "m1";
    fb.time_ms = T0 + 30000;
    fb.thumbs = 1;
    assert_int_equal(ph_agg_add_feedback(agg, &fb), PH_OK);
    fb.feedback_id = "f2";
    fb.thumbs = 0;
    fb.score = 4;
    fb.label = "wrong";
    assert_int_equal(ph_agg_add_feedback(agg, &fb), PH_OK);
}

#define EQ(v, want) assert_true(fabs((v) - (want)) < 1e-9)
/* Sketch quantiles are within 1% (alpha) of a value of the right rank. */
#define NEAR(v, want) assert_true(fabs((v) - (want)) <= 0.01 * (want) + 1e-9)

static void check_chat(const tu_point *pt)
{
    EQ(tu_point_get(pt, "requests"), 4);
    EQ(tu_point_get(pt, "errors"), 1);
    EQ(tu_point_get(pt, "error_rate"), 0.25);
    NEAR(tu_point_get(pt, "latency_p50_ms"), 200); /* rank floor(0.5 * 3) = 1 */
    NEAR(tu_point_get(pt, "latency_p99_ms"), 300);
    EQ(tu_point_get(pt, "latency_max_ms"), 400);
    EQ(tu_point_get(pt, "latency_mean_ms"), 250);
    EQ(tu_point_get(pt, "tokens_in"), 40);
    EQ(tu_point_get(pt, "tokens_out"), 20);
    EQ(tu_point_get(pt, "cost_usd"), 0.004);
    EQ(tu_point_get(pt, "invalid"), 1);
    EQ(tu_point_get(pt, "invalid_rate"), 0.2);
    EQ(tu_point_get(pt, "invalid.missing_field"), 1);
    EQ(tu_point_get(pt, "invalid.bad_type"), 1);
    EQ(tu_point_get(pt, "warnings.pii_detected"), 1);
    EQ(tu_point_get(pt, "eval.toxicity.count"), 4);
    EQ(tu_point_get(pt, "eval.toxicity.errors"), 1);
    EQ(tu_point_get(pt, "eval.toxicity.skipped"), 0);
    EQ(tu_point_get(pt, "eval.toxicity.mean_score"), 0.3);
    EQ(tu_point_get(pt, "eval.toxicity.pass_rate"), 2.0 / 3);
    EQ(tu_point_get(pt, "eval.toxicity.label.clean"), 2);
    EQ(tu_point_get(pt, "eval.toxicity.label.toxic"), 1);
    EQ(tu_point_get(pt, "feedback.count"), 2);
    EQ(tu_point_get(pt, "feedback.positive_rate"), 0.5);
    EQ(tu_point_get(pt, "feedback.mean_score"), 4);
    EQ(tu_point_get(pt, "feedback.label.wrong"), 1);
    EQ(tu_point_get(pt, "kpi.ttr.count"), 4);
    EQ(tu_point_get(pt, "kpi.ttr.mean"), 90);
    EQ(tu_point_get(pt, "kpi.ttr.max"), 120);
    NEAR(tu_point_get(pt, "kpi.ttr.p50"), 60);
    EQ(tu_point_get(pt, "kpi.deflected.count"), 4);
    EQ(tu_point_get(pt, "kpi.deflected.rate"), 0.25);
    NEAR(tu_point_get(pt, "lag_p50_s"), 4);
    EQ(tu_point_get(pt, "lag_max_s"), 6);
    EQ(tu_point_get(pt, "judge_cost_usd"), 0.03);
    EQ(tu_point_get(pt, "judge_tokens"), 750);
    EQ(tu_point_get(pt, "late_records"), 0);
}

static ph_agg *open_known(const char *path)
{
    ph_agg_config cfg;
    ph_agg_config_default(&cfg);
    cfg.sync_full = false;
    ph_agg_kpi kpis[] = {{"ttr", "ttr_s", PH_AGG_KPI_NUMBER},
                         {"deflected", "deflected", PH_AGG_KPI_BOOL}};
    cfg.kpis = kpis;
    cfg.n_kpis = 2;
    ph_agg *agg = tu_open(path, &cfg);
    add_known(agg);
    tu_commit(agg);
    return agg;
}

static void known_numbers(void **state)
{
    char *path = tu_path();
    ph_agg *agg = open_known(path);
    tu_points p;
    /* step 1m, grouped by app */
    tu_query(path, T0, T0 + HOUR, MIN_MS, NULL, PH_AGG_BY_APP, &p);
    assert_int_equal(p.n, 3); /* chat@0, (unattributed invalid)@0, search@1 */
    for (size_t i = 0; i < p.n; i++)
        if (p.v[i].app && strcmp(p.v[i].app, "chat") == 0)
            check_chat(&p.v[i]);
    EQ(tu_get(&p, "search", T0 + MIN_MS, "requests"), 2);
    assert_true(isnan(tu_get(&p, "search", T0 + MIN_MS, "latency_p50_ms"))); /* no latency */
    assert_true(isnan(tu_get(&p, "search", T0 + MIN_MS, "feedback.positive_rate")));
    EQ(tu_get(&p, NULL, T0, "invalid"), 1); /* the absent app shows as NULL */
    EQ(tu_get(&p, NULL, T0, "invalid_rate"), 1);
    tu_points_free(&p);
    /* step 1h, filtered to chat: the same numbers from the hour cell */
    tu_query(path, T0, T0 + HOUR, HOUR, &(ph_agg_filter){.app = "chat"}, 0, &p);
    assert_int_equal(p.n, 1);
    check_chat(&p.v[0]);
    tu_points_free(&p);
    /* all traffic at step 1h */
    tu_query(path, T0, T0 + HOUR, HOUR, NULL, 0, &p);
    assert_int_equal(p.n, 1);
    EQ(tu_point_get(&p.v[0], "requests"), 6);
    EQ(tu_point_get(&p.v[0], "invalid"), 2);
    EQ(tu_point_get(&p.v[0], "invalid.missing_field"), 2);
    EQ(tu_point_get(&p.v[0], "invalid_rate"), 0.25);
    tu_points_free(&p);
    /* group by environment: prod and absent */
    tu_query(path, T0, T0 + HOUR, HOUR, NULL, PH_AGG_BY_ENVIRONMENT, &p);
    assert_int_equal(p.n, 2);
    assert_null(p.v[0].env); /* NULL sorts first */
    EQ(tu_point_get(&p.v[0], "requests"), 2);
    assert_string_equal(p.v[1].env, "prod");
    tu_points_free(&p);
    ph_agg_destroy(agg);
    tu_rm(path);
}

static void summary(void **state)
{
    char *path = tu_path();
    ph_agg *agg = open_known(path);
    /* A late-data-free second day, so the summary covers minutes, hours and days. */
    tu_log(agg, "d2", "agent", "m3", T0 + DAY + 2 * HOUR + 5 * MIN_MS, 50, 0);
    tu_commit(agg);
    tu_points p;
    size_t n_apps, n_models;
    tu_summary(path, T0, T0 + 3 * DAY, NULL, &p, &n_apps, &n_models);
    EQ(tu_point_get(&p.v[0], "requests"), 7);
    EQ(tu_point_get(&p.v[0], "eval.toxicity.count"), 4);
    assert_int_equal(n_apps, 4); /* "", agent, chat, search */
    assert_int_equal(n_models, 4);
    tu_points_free(&p);
    /* Unaligned bounds: minutes at the edges, hours, a day in the middle. */
    tu_summary(path, T0 + 30000, T0 + DAY + 2 * HOUR + 6 * MIN_MS, NULL, &p, &n_apps, &n_models);
    EQ(tu_point_get(&p.v[0], "requests"), 7);
    assert_int_equal(p.v[0].t, T0);
    tu_points_free(&p);
    tu_summary(path, T0 + MIN_MS, T0 + DAY + 2 * HOUR + 5 * MIN_MS, &(ph_agg_filter){0}, &p,
               &n_apps, &n_models);
    EQ(tu_point_get(&p.v[0], "requests"), 2); /* search only: chat is in minute 0, d2 after */
    tu_points_free(&p);
    tu_summary(path, T0, T0 + 3 * DAY, &(ph_agg_filter){.app = "chat"}, &p, &n_apps, &n_models);
    EQ(tu_point_get(&p.v[0], "requests"), 4);
    EQ(tu_point_get(&p.v[0], "feedback.count"), 2);
    tu_points_free(&p);
    ph_agg_destroy(agg);
    tu_rm(path);
}

static int count_points(void *arg, const ph_agg_point *pt)
{
    (*(int *)arg)++;
    return 0;
}

static void bad_requests(void **state)
{
    char *path = tu_path();
    ph_agg *agg = open_known(path);
    ph_agg_reader *r = NULL;
    char err[PH_ERRSTR_SIZE];
    assert_int_equal(ph_agg_reader_new(&r, path, err, sizeof(err)), PH_OK);
    int n = 0;
    assert_int_equal(
        ph_agg_query(r, T0, T0 + HOUR, 1000, NULL, 0, NULL, 0, count_points, &n, err, sizeof(err)),
        PH_EINVAL);
    assert_int_equal(
        ph_agg_query(r, T0, T0, MIN_MS, NULL, 0, NULL, 0, count_points, &n, err, sizeof(err)),
        PH_EINVAL);
    assert_int_equal(ph_agg_query(r, 0, 4000 * DAY, MIN_MS, NULL, 0, NULL, 0, count_points, &n, err,
                                  sizeof(err)),
                     PH_ERANGE);
    assert_int_equal(n, 0);
    ph_agg_reader_destroy(r);
    assert_int_equal(ph_agg_reader_new(&r, "/nonexistent/x.db", err, sizeof(err)), PH_EIO);
    ph_agg_destroy(agg);
    tu_rm(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_numbers),
        cmocka_unit_test(summary),
        cmocka_unit_test(bad_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
