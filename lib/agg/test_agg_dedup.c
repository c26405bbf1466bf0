/* Dedup: a record, an evaluation (record, evaluator, version), an invalid record and a feedback
 * are counted once however often they arrive, across close/reopen, and also when the original's
 * key has left memory and only the store has it. */
#include "test_agg_util.h"

#include <math.h>

static uint64_t dups(ph_agg *agg)
{
    ph_agg_stats s;
    ph_agg_get_stats(agg, &s);
    return s.duplicates;
}

static void same_log_and_eval_once(void **state)
{
    char *path = tu_path();
    ph_agg *agg = tu_open(path, NULL);
    tu_log(agg, "r1", "chat", "m1", T0, 10, 0);
    tu_log(agg, "r1", "chat", "m1", T0, 10, 0);
    tu_eval(agg, "r1", "toxicity", "1", "chat", "m1", T0, 0.5, "clean", 1);
    tu_eval(agg, "r1", "toxicity", "1", "chat", "m1", T0, 0.5, "clean", 1);
    tu_eval(agg, "r1", "toxicity", "2", "chat", "m1", T0, 0.7, "clean", 1); /* new version */
    tu_eval(agg, "r1", "refusal", "1", "chat", "m1", T0, 0.1, "no", 0);     /* other evaluator */
    ph_agg_feedback fb;
    ph_agg_feedback_init(&fb);
    fb.feedback_id = "f1";
    fb.app = "chat";
    fb.time_ms = T0;
    fb.thumbs = 1;
    assert_int_equal(ph_agg_add_feedback(agg, &fb), PH_OK);
    assert_int_equal(ph_agg_add_feedback(agg, &fb), PH_OK);
    ph_agg_invalid inv;
    ph_agg_invalid_init(&inv);
    const char *reasons[] = {"missing_field", "bad_type"};
    inv.id = "pharos.logs.raw:0:17";
    inv.time_ms = T0;
    inv.reasons = reasons;
    inv.n_reasons = 2;
    assert_int_equal(ph_agg_add_invalid(agg, &inv), PH_OK);
    assert_int_equal(ph_agg_add_invalid(agg, &inv), PH_OK);
    assert_int_equal(dups(agg), 4);
    tu_commit(agg);

    tu_points p;
    tu_query(path, T0, T0 + MIN_MS, MIN_MS, NULL, 0, &p);
    assert_int_equal(p.n, 1);
    assert_true(tu_point_get(&p.v[0], "requests") == 1);
    assert_true(tu_point_get(&p.v[0], "eval.toxicity.count") == 2);
    assert_true(tu_point_get(&p.v[0], "eval.toxicity.label.clean") == 2);
    assert_true(tu_point_get(&p.v[0], "eval.refusal.count") == 1);
    assert_true(tu_point_get(&p.v[0], "feedback.count") == 1);
    assert_true(tu_point_get(&p.v[0], "invalid") == 1);
    assert_true(tu_point_get(&p.v[0], "invalid.missing_field") == 1);
    assert_true(tu_point_get(&p.v[0], "invalid.bad_type") == 1);
    assert_true(tu_point_get(&p.v[0], "invalid_rate") == 0.5);
    tu_points_free(&p);
    ph_agg_destroy(agg);
    tu_rm(path);
}

static void survives_reopen(void **state)
{
    char *path = tu_path();
    ph_agg *agg = tu_open(path, NULL);
    tu_log(agg, "r1", "chat", "m1", T0, 10, 0);
    tu_eval(agg, "r1", "toxicity", "1", "chat", "m1", T0, 0.5, NULL, -1);
    tu_commit(agg);
    ph_agg_destroy(agg);

    agg = tu_open(path, NULL);
    tu_log(agg, "r1", "chat", "m1", T0, 10, 0);
    tu_eval(agg, "r1", "toxicity", "1", "chat", "m1", T0, 0.5, NULL, -1);
    assert_int_equal(dups(agg), 2);
    tu_commit(agg);
    tu_points p;
    tu_query(path, T0, T0 + MIN_MS, MIN_MS, NULL, 0, &p);
    assert_true(tu_point_get(&p.v[0], "requests") == 1);
    assert_true(tu_point_get(&p.v[0], "eval.toxicity.count") == 1);
    tu_points_free(&p);
    ph_agg_destroy(agg);
    tu_rm(path);
}

/* Keys older than the in-memory horizon (watermark - allowed lateness) live only in SQLite: a
 * late duplicate must still be found there, before and after a reopen. */
static void old_key_found_in_store(void **state)
{
    char *path = tu_path();
    ph_agg *agg = tu_open(path, NULL);
    tu_log(agg, "old", "chat", "m1", T0, 10, 0);
    tu_log(agg, "new", "chat", "m1", T0 + 2 * HOUR, 10, 0);
    assert_int_equal(ph_agg_advance(agg, FAR_FUTURE, NULL), PH_OK);
    tu_commit(agg);
    ph_agg_stats s;
    ph_agg_get_stats(agg, &s);
    assert_int_equal(s.keys_cached, 1); /* "old" left memory */
    tu_log(agg, "old", "chat", "m1", T0, 10, 0);
    assert_int_equal(dups(agg), 1);
    tu_commit(agg);
    ph_agg_destroy(agg);
    agg = tu_open(path, NULL);
    tu_log(agg, "old", "chat", "m1", T0, 10, 0);
    assert_int_equal(dups(agg), 1);
    /* A new late record of that old minute is counted (and found again as a duplicate). */
    tu_log(agg, "old2", "chat", "m1", T0, 10, 0);
    tu_log(agg, "old2", "chat", "m1", T0, 10, 0);
    assert_int_equal(dups(agg), 2);
    tu_commit(agg);
    tu_points p;
    tu_query(path, T0, T0 + MIN_MS, MIN_MS, NULL, 0, &p);
    assert_true(tu_point_get(&p.v[0], "requests") == 2);
    tu_points_free(&p);
    ph_agg_destroy(agg);
    tu_rm(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_log_and_eval_once),
        cmocka_unit_test(survives_reopen),
        cmocka_unit_test(old_key_found_in_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
