/* Emission: closed windows are handed out once per revision, per combination and for all
 * traffic, at every level; marks survive a reopen; unmarked windows come back after a crash. */
#include "test_agg_util.h"

static void once_per_revision(void **state)
{
    char *path = tu_path();
    ph_agg *agg = tu_open(path, NULL);
    tu_log(agg, "a", "chat", "m1", T0, 10, 0);
    tu_log(agg, "b", "chat", "m2", T0 + 30000, 10, 0);
    tu_log(agg, "c", "chat", "m1", T0 + MIN_MS, 10, 0);
    size_t n;
    assert_int_equal(ph_agg_advance(agg, FAR_FUTURE, &n), PH_OK);
    assert_int_equal(n, 0); /* watermark = newest - 5 min: nothing closed */
    tu_log(agg, "d", "chat", "m1", T0 + 2 * HOUR, 10, 0);
    assert_int_equal(ph_agg_advance(agg, FAR_FUTURE, &n), PH_OK);
    /* minute 0: m1, m2, all; minute 1: m1, all; hour 0: m1, m2, all */
    assert_int_equal(n, 8);
    tu_windows w;
    tu_emit_all(agg, 0, &w);
    assert_int_equal(w.n, 8);
    size_t all = 0, hours = 0;
    for (size_t i = 0; i < w.n; i++) {
        assert_int_equal(w.revision[i], 0);
        all += w.v[i].app == NULL;
        hours += w.level[i] == 1;
        if (w.v[i].app == NULL)
            assert_null(w.v[i].model);
    }
    assert_int_equal(all, 3);
    assert_int_equal(hours, 3);
    assert_true(tu_get((tu_points *)&w, NULL, T0, "requests") == 2);
    tu_windows_free(&w);

    /* Not marked: the next advance queues them again (a crash re-emits, never skips). */
    assert_int_equal(ph_agg_advance(agg, FAR_FUTURE, &n), PH_OK);
    assert_int_equal(n, 8);
    tu_commit(agg);
    ph_agg_destroy(agg);
    agg = tu_open(path, NULL);
    assert_int_equal(ph_agg_advance(agg, FAR_FUTURE, &n), PH_OK);
    assert_int_equal(n, 8);
    tu_emit_all(agg, 1, &w);
    assert_int_equal(w.n, 8);
    tu_windows_free(&w);
    assert_int_equal(ph_agg_advance(agg, FAR_FUTURE, &n), PH_OK);
    assert_int_equal(n, 0);
    tu_commit(agg);
    ph_agg_destroy(agg);

    /* Marks survive the reopen. */
    agg = tu_open(path, NULL);
    assert_int_equal(ph_agg_advance(agg, FAR_FUTURE, &n), PH_OK);
    assert_int_equal(n, 0);
    ph_agg_window win;
    assert_int_equal(ph_agg_next_emit(agg, &win), PH_ENOENT);
    ph_agg_destroy(agg);
    tu_rm(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(once_per_revision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
