/* Lateness: within the allowed lateness an event updates its open window; after the window
 * closed it still updates it, counts in late_records and bumps the revision once per emitted
 * revision; older than the watermark minus dedup_retention it is refused (too_late). */
#include "test_agg_util.h"

#include <math.h>

static const tu_point *find(const tu_windows *w, int level, int64_t t, int all)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->level[i] == level && w->v[i].t == t && (w->v[i].app == NULL) == (all != 0))
            return &w->v[i];
    return NULL;
}

static int32_t rev_of(const tu_windows *w, int level, int64_t t, int all)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->level[i] == level && w->v[i].t == t && (w->v[i].app == NULL) == (all != 0))
            return w->revision[i];
    return -1;
}

static void late_updates_and_revisions(void **state)
{
    char *path = tu_path();
    ph_agg *agg = tu_open(path, NULL); /* lateness 5 min */
    tu_log(agg, "a", "chat", "m1", T0 + 1 * MIN_MS, 10, 0);
    tu_log(agg, "b", "chat", "m1", T0 + 10 * MIN_MS, 10, 0);
    /* Out of order but within lateness: minute 6 is still open (watermark not yet moved). */
    tu_log(agg, "c", "chat", "m1", T0 + 6 * MIN_MS, 10, 0);
    assert_int_equal(ph_agg_advance(agg, FAR_FUTURE, NULL), PH_OK);
    assert_int_equal(ph_agg_watermark(agg), T0 + 5 * MIN_MS);
    /* Minute 6 is open: no late count. */
    tu_log(agg, "d", "chat", "m1", T0 + 6 * MIN_MS + 5, 10, 0);
    /* Minute 1 closed but not yet emitted: updated, late, revision stays 0. */
    tu_log(agg, "e", "chat", "m1", T0 + 1 * MIN_MS + 5, 10, 0);
    ph_agg_stats s;
    ph_agg_get_stats(agg, &s);
    assert_int_equal(s.late, 1);
    size_t n;
    assert_int_equal(ph_agg_advance(agg, FAR_FUTURE, &n), PH_OK);
    tu_windows w;
    tu_emit_all(agg, 1, &w);
    assert_int_equal(w.n, 2); /* minute 1: chat/prod/m1 and all traffic */
    const tu_point *m1 = find(&w, 0, T0 + MIN_MS, 0);
    assert_non_null(m1);
    assert_string_equal(m1->app, "chat");
    assert_true(tu_point_get(m1, "requests") == 2);
    assert_true(tu_point_get(m1, "late_records") == 1);
    assert_int_equal(rev_of(&w, 0, T0 + MIN_MS, 0), 0);
    assert_int_equal(rev_of(&w, 0, T0 + MIN_MS, 1), 0);
    tu_windows_free(&w);
    tu_commit(agg);

    /* Two more late events after the emission: one new revision, emitted once. */
    tu_log(agg, "f", "chat", "m1", T0 + 1 * MIN_MS + 7, 10, 0);
    tu_log(agg, "g", "other", "m1", T0 + 1 * MIN_MS + 8, 10, 0);
    assert_int_equal(ph_agg_advance(agg, FAR_FUTURE, NULL), PH_OK);
    tu_emit_all(agg, 1, &w);
    assert_int_equal(w.n, 3); /* chat (rev 1), other (new: rev 0), all traffic (rev 1) */
    assert_int_equal(rev_of(&w, 0, T0 + MIN_MS, 1), 1);
    assert_true(tu_point_get(find(&w, 0, T0 + MIN_MS, 1), "requests") == 4);
    assert_true(tu_point_get(find(&w, 0, T0 + MIN_MS, 1), "late_records") == 3);
    tu_windows_free(&w);
    assert_int_equal(ph_agg_advance(agg, FAR_FUTURE, &n), PH_OK);
    assert_int_equal(n, 0);
    tu_commit(agg);

    /* Late data after a window was handed out but before the broker acknowledged it: the
     * mark must not hide the change. */
    tu_log(agg, "h", "chat", "m1", T0 + 1 * MIN_MS + 9, 10, 0);
    assert_int_equal(ph_agg_advance(agg, FAR_FUTURE, NULL), PH_OK);
    ph_agg_window win;
    assert_int_equal(ph_agg_next_emit(agg, &win), PH_OK);
    assert_null(win.app); /* all traffic comes first */
    int32_t handed = win.revision;
    assert_int_equal(handed, 2);
    tu_log(agg, "i", "chat", "m1", T0 + 1 * MIN_MS + 10, 10, 0);
    assert_int_equal(ph_agg_mark_emitted(agg, &win), PH_OK);
    assert_int_equal(ph_agg_advance(agg, FAR_FUTURE, NULL), PH_OK);
    tu_emit_all(agg, 1, &w);
    assert_int_equal(w.n, 2);
    assert_int_equal(rev_of(&w, 0, T0 + MIN_MS, 1), handed + 1);
    assert_true(tu_point_get(find(&w, 0, T0 + MIN_MS, 1), "requests") == 6);
    assert_int_equal(rev_of(&w, 0, T0 + MIN_MS, 0), 2); /* chat: rev 2 was never handed out */
    assert_true(tu_point_get(find(&w, 0, T0 + MIN_MS, 0), "requests") == 5);
    tu_windows_free(&w);
    ph_agg_destroy(agg);
    tu_rm(path);
}

static void too_late_refused(void **state)
{
    char *path = tu_path();
    ph_agg *agg = tu_open(path, NULL); /* dedup retention 48 h */
    tu_log(agg, "now", "chat", "m1", T0 + 3 * DAY, 10, 0);
    assert_int_equal(ph_agg_advance(agg, FAR_FUTURE, NULL), PH_OK);
    /* The watermark is T0 + 3 d - 5 min: 48 h before it is T0 + 1 d - 5 min. */
    tu_log(agg, "old", "chat", "m1", T0 + DAY - 6 * MIN_MS, 10, 0); /* > 48 h behind */
    tu_log(agg, "ok", "chat", "m1", T0 + DAY + 10 * MIN_MS, 10, 0); /* < 48 h behind */
    ph_agg_stats s;
    ph_agg_get_stats(agg, &s);
    assert_int_equal(s.too_late, 1);
    assert_int_equal(s.late, 1);
    tu_commit(agg);
    tu_points p;
    tu_query(path, T0, T0 + 4 * DAY, DAY, NULL, 0, &p);
    assert_true(isnan(tu_get(&p, NULL, T0, "requests"))); /* nothing in day 0 */
    assert_true(tu_get(&p, NULL, T0 + DAY, "requests") == 1);
    assert_true(tu_get(&p, NULL, T0 + DAY, "late_records") == 1);
    tu_points_free(&p);
    ph_agg_destroy(agg);
    tu_rm(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(late_updates_and_revisions),
        cmocka_unit_test(too_late_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
