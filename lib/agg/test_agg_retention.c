/* Retention: cells older than their level's retention (measured from the watermark) are deleted
 * by the commit after ph_agg_advance; younger ones and coarser levels stay. */
#include "test_agg_util.h"

#include <math.h>

static void per_level(void **state)
{
    char *path = tu_path();
    ph_agg_config cfg;
    ph_agg_config_default(&cfg);
    cfg.sync_full = false;
    cfg.allowed_lateness_ms = MIN_MS;
    cfg.dedup_retention_ms = 10 * MIN_MS;
    cfg.retention_ms[0] = 30 * MIN_MS;
    cfg.retention_ms[1] = 3 * HOUR;
    cfg.retention_ms[2] = 3 * DAY;
    ph_agg *agg = tu_open(path, &cfg);
    tu_log(agg, "a", "chat", "m1", T0, 10, 0);
    tu_log(agg, "b", "chat", "m1", T0 + 2 * HOUR, 10, 0);
    assert_int_equal(ph_agg_advance(agg, FAR_FUTURE, NULL), PH_OK);
    tu_commit(agg);
    tu_points p;
    tu_query(path, T0, T0 + DAY, MIN_MS, NULL, 0, &p);
    assert_true(isnan(tu_get(&p, NULL, T0, "requests"))); /* minute of T0 deleted */
    assert_true(tu_get(&p, NULL, T0 + 2 * HOUR, "requests") == 1);
    tu_points_free(&p);
    tu_query(path, T0, T0 + DAY, HOUR, NULL, 0, &p);
    assert_true(tu_get(&p, NULL, T0, "requests") == 1); /* hour of T0 kept */
    tu_points_free(&p);

    tu_log(agg, "c", "chat", "m1", T0 + 5 * HOUR, 10, 0);
    assert_int_equal(ph_agg_advance(agg, FAR_FUTURE, NULL), PH_OK);
    tu_commit(agg);
    tu_query(path, T0, T0 + DAY, HOUR, &(ph_agg_filter){.app = "chat"}, 0, &p);
    assert_true(isnan(tu_get(&p, NULL, T0, "requests"))); /* hour of T0 deleted */
    assert_true(tu_get(&p, NULL, T0 + 2 * HOUR, "requests") == 1);
    tu_points_free(&p);
    tu_query(path, T0, T0 + DAY, DAY, NULL, 0, &p);
    assert_true(tu_get(&p, NULL, T0, "requests") == 3); /* day kept */
    tu_points_free(&p);

    /* Watermark T0 + 4 d + 9 min: day 0 ended more than 3 d before it. */
    tu_log(agg, "d", "chat", "m1", T0 + 4 * DAY + 10 * MIN_MS, 10, 0);
    assert_int_equal(ph_agg_advance(agg, FAR_FUTURE, NULL), PH_OK);
    tu_commit(agg);
    tu_query(path, T0, T0 + 5 * DAY, DAY, NULL, 0, &p);
    assert_int_equal(p.n, 1); /* day 0 deleted */
    assert_true(tu_get(&p, NULL, T0 + 4 * DAY, "requests") == 1);
    tu_points_free(&p);
    ph_agg_destroy(agg);
    tu_rm(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(per_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
