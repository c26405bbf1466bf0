/* Windowing: every event lands in the right 1m, 1h and 1d cell; a time equal to a window's end
 * belongs to the next window; group-by and all-traffic results add up exactly. */
#include "test_agg_util.h"

#include <math.h>
#include <stdio.h>

static void boundaries(void **state)
{
    char *path = tu_path();
    ph_agg *agg = tu_open(path, NULL);
    tu_log(agg, "a", "chat", "m1", T0, 10, 0);
    tu_log(agg, "b", "chat", "m1", T0 + MIN_MS - 1, 20, 0); /* last ms of minute 0 */
    tu_log(agg, "c", "chat", "m1", T0 + MIN_MS, 30, 1);     /* the end of minute 0: minute 1 */
    tu_log(agg, "d", "chat", "m1", T0 + HOUR, 40, 0);       /* the end of hour 0: hour 1 */
    tu_log(agg, "e", "chat", "m1", T0 + DAY, 50, 0);        /* the end of day 0: day 1 */
    tu_commit(agg);

    tu_points p;
    tu_query(path, T0, T0 + 2 * DAY, MIN_MS, NULL, 0, &p);
    assert_int_equal(p.n, 4);
    assert_true(tu_get(&p, NULL, T0, "requests") == 2);
    assert_true(tu_get(&p, NULL, T0, "latency_max_ms") == 20);
    assert_true(tu_get(&p, NULL, T0 + MIN_MS, "requests") == 1);
    assert_true(tu_get(&p, NULL, T0 + MIN_MS, "error_rate") == 1);
    assert_true(tu_get(&p, NULL, T0 + HOUR, "requests") == 1);
    assert_true(tu_get(&p, NULL, T0 + DAY, "requests") == 1);
    tu_points_free(&p);

    tu_query(path, T0, T0 + 2 * DAY, HOUR, NULL, 0, &p);
    assert_int_equal(p.n, 3);
    assert_true(tu_get(&p, NULL, T0, "requests") == 3);
    assert_true(tu_get(&p, NULL, T0, "errors") == 1);
    assert_true(tu_get(&p, NULL, T0 + HOUR, "requests") == 1);
    tu_points_free(&p);

    tu_query(path, T0, T0 + 2 * DAY, DAY, NULL, 0, &p);
    assert_int_equal(p.n, 2);
    assert_true(tu_get(&p, NULL, T0, "requests") == 4);
    assert_true(tu_get(&p, NULL, T0, "latency_max_ms") == 40);
    assert_true(tu_get(&p, NULL, T0 + DAY, "requests") == 1);
    tu_points_free(&p);

    /* A step of 5 minutes reads minute cells and merges them. */
    tu_query(path, T0, T0 + HOUR, 5 * MIN_MS, NULL, 0, &p);
    assert_int_equal(p.n, 1);
    assert_true(tu_get(&p, NULL, T0, "requests") == 3);
    tu_points_free(&p);

    /* Before the epoch-aligned start: the range is widened to whole steps. */
    tu_query(path, T0 + 30 * MIN_MS, T0 + 90 * MIN_MS, HOUR, NULL, 0, &p);
    assert_int_equal(p.n, 2);
    tu_points_free(&p);
    ph_agg_destroy(agg);
    tu_rm(path);
}

static void group_by_and_all_traffic(void **state)
{
    char *path = tu_path();
    ph_agg *agg = tu_open(path, NULL);
    const char *apps[] = {"chat", "search", "agent"};
    const char *models[] = {"m1", "m2"};
    int expect[3][2] = {{0}};
    char id[32];
    for (int i = 0; i < 600; i++) {
        int a = (i * 7) % 3, m = (i / 3) % 2;
        snprintf(id, sizeof(id), "r%d", i);
        /* Spread over three hours; some without a model (absent dimension). */
        tu_log(agg, id, apps[a], i % 10 == 0 ? NULL : models[m], T0 + (int64_t)i * 18000, i % 100,
               0);
        if (i % 10)
            expect[a][m]++;
    }
    tu_commit(agg);

    tu_points all, by_app, by_both;
    tu_query(path, T0, T0 + DAY, DAY, NULL, 0, &all);
    tu_query(path, T0, T0 + DAY, DAY, NULL, PH_AGG_BY_APP, &by_app);
    tu_query(path, T0, T0 + DAY, DAY, NULL, PH_AGG_BY_APP | PH_AGG_BY_MODEL, &by_both);
    assert_int_equal(all.n, 1);
    assert_true(tu_point_get(&all.v[0], "requests") == 600);
    assert_int_equal(by_app.n, 3);
    double sum = 0;
    for (size_t i = 0; i < by_app.n; i++) {
        assert_true(tu_point_get(&by_app.v[i], "requests") == 200);
        sum += tu_point_get(&by_app.v[i], "requests");
    }
    assert_true(sum == 600);
    /* 3 apps x (2 models + absent) */
    assert_int_equal(by_both.n, 9);
    sum = 0;
    for (size_t i = 0; i < by_both.n; i++) {
        const tu_point *pt = &by_both.v[i];
        assert_null(pt->env);
        sum += tu_point_get(pt, "requests");
        if (!pt->model)
            continue;
        int a = pt->app[0] == 'c' ? 0 : pt->app[0] == 's' ? 1 : 2;
        int m = pt->model[1] - '1';
        assert_true(tu_point_get(pt, "requests") == expect[a][m]);
    }
    assert_true(sum == 600);
    /* The merged latency percentiles of all traffic equal those of a query merging the
     * combinations (sketch merges are exact). */
    tu_points merged;
    tu_query(path, T0, T0 + DAY, DAY, &(ph_agg_filter){.environment = "prod"}, 0, &merged);
    assert_int_equal(merged.n, 1);
    assert_int_equal(merged.v[0].n, all.v[0].n);
    for (size_t i = 0; i < all.v[0].n; i++)
        assert_true(tu_point_get(&merged.v[0], all.v[0].names[i]) == all.v[0].values[i]);

    /* Filters: one app, one app and model, the absent model. */
    tu_points f;
    tu_query(path, T0, T0 + DAY, HOUR, &(ph_agg_filter){.app = "search"}, 0, &f);
    sum = 0;
    for (size_t i = 0; i < f.n; i++)
        sum += tu_point_get(&f.v[i], "requests");
    assert_true(sum == 200);
    tu_points_free(&f);
    tu_query(path, T0, T0 + DAY, DAY, &(ph_agg_filter){.app = "chat", .model = "m2"}, 0, &f);
    assert_int_equal(f.n, 1);
    assert_true(tu_point_get(&f.v[0], "requests") == expect[0][1]);
    tu_points_free(&f);
    tu_query(path, T0, T0 + DAY, DAY, &(ph_agg_filter){.model = ""}, 0, &f);
    assert_true(tu_point_get(&f.v[0], "requests") == 60);
    tu_points_free(&f);

    tu_points_free(&all);
    tu_points_free(&by_app);
    tu_points_free(&by_both);
    tu_points_free(&merged);
    ph_agg_destroy(agg);
    tu_rm(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(boundaries),
        cmocka_unit_test(group_by_and_all_traffic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
