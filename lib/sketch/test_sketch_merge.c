/* Rollups: minute sketches merged into an hour are bucket for bucket the sketch of all the hour's
 * samples, in any order and grouping, collapsed stores included. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"
#include "ph_sketch.h"
#include "test_sketch_util.h"

#define MINUTES    60
#define PER_MINUTE 5000

/* Sums are added in another order after a merge. */
#define SUM_REL 1e-9

static ph_sketch *new_sketch(double alpha, size_t max_buckets)
{
    ph_sketch *sk = NULL;
    assert_int_equal(ph_sketch_new(&sk, alpha, max_buckets), 0);
    return sk;
}

static ph_sketch *clone(const ph_sketch *sk)
{
    ph_sketch *c = new_sketch(ph_sketch_alpha(sk), ph_sketch_max_buckets(sk));
    assert_int_equal(ph_sketch_merge(c, sk), 0);
    return c;
}

/* One sample of minute m. With drift, the level moves by a factor 10 every 10 minutes, so the
 * minutes cover different (and, with few buckets, differently collapsed) ranges. */
static double sample(uint64_t *s, int m, bool drift)
{
    double u = rng_uniform(s);
    double level = drift ? pow(10, m / 10.0) : 1;
    if (u < 0.05)
        return 0;
    if (u < 0.07)
        return -rng_lognormal(s, 50 * level, 2);
    return rng_lognormal(s, 150 * level, drift ? 2 : 0.8);
}

/* 60 minutes merged three ways (in order, reversed, as a balanced tree) against one sketch fed
 * everything. shuffled: samples go to random minutes instead of consecutive ones. */
static void check_rollup(size_t max_buckets, bool drift, bool shuffled)
{
    ph_sketch *minute[MINUTES], *all = new_sketch(0.01, max_buckets);
    for (int m = 0; m < MINUTES; m++)
        minute[m] = new_sketch(0.01, max_buckets);
    uint64_t s = 1234 + max_buckets;
    for (int m = 0; m < MINUTES; m++) {
        for (int i = 0; i < PER_MINUTE; i++) {
            double v = sample(&s, m, drift);
            int to = shuffled ? (int)(rng_next(&s) % MINUTES) : m;
            assert_int_equal(ph_sketch_add(minute[to], v), 0);
            assert_int_equal(ph_sketch_add(all, v), 0);
        }
    }

    ph_sketch *hour = new_sketch(0.01, max_buckets), *reversed = new_sketch(0.01, max_buckets);
    for (int m = 0; m < MINUTES; m++) {
        assert_int_equal(ph_sketch_merge(hour, minute[m]), 0);
        assert_int_equal(ph_sketch_merge(reversed, minute[MINUTES - 1 - m]), 0);
    }
    assert_same_sketch(hour, all, SUM_REL);
    assert_same_sketch(reversed, all, SUM_REL);

    /* the query path: minutes merged from their stored bytes, without decoding them */
    ph_sketch *stored = new_sketch(0.01, max_buckets);
    for (int m = 0; m < MINUTES; m++) {
        uint8_t *buf;
        size_t len;
        char errstr[PH_ERRSTR_SIZE];
        assert_int_equal(ph_sketch_encode(minute[m], &buf, &len), 0);
        assert_int_equal(ph_sketch_merge_encoded(stored, buf, len, errstr, sizeof(errstr)), 0);
        free(buf);
    }
    assert_same_encoding(stored, hour);
    ph_sketch_destroy(stored);

    /* pairwise: 60 -> 30 -> 15 -> 8 -> 4 -> 2 -> 1, consuming the minutes */
    int n = MINUTES;
    while (n > 1) {
        for (int i = 0; i + 1 < n; i += 2) {
            assert_int_equal(ph_sketch_merge(minute[i], minute[i + 1]), 0);
            ph_sketch_destroy(minute[i + 1]);
        }
        int kept = 0;
        for (int i = 0; i < n; i += 2)
            minute[kept++] = minute[i];
        n = kept;
    }
    assert_same_sketch(minute[0], all, SUM_REL);

    ph_sketch_destroy(minute[0]);
    ph_sketch_destroy(hour);
    ph_sketch_destroy(reversed);
    ph_sketch_destroy(all);
}

static void test_hour_from_minutes(void **state)
{
    check_rollup(PH_SKETCH_MAX_BUCKETS_DEFAULT, false, false);
    check_rollup(PH_SKETCH_MAX_BUCKETS_DEFAULT, true, true);
}

/* Few buckets: every store collapses, minutes at different levels collapse at different
 * places, and the merge must still land on the single sketch's collapse. */
static void test_hour_from_collapsed_minutes(void **state)
{
    check_rollup(16, true, false);
    check_rollup(16, true, true);
    check_rollup(100, true, false);
    check_rollup(100, false, true);
}

static ph_sketch *filled(size_t max_buckets, uint64_t seed, double level)
{
    ph_sketch *sk = new_sketch(0.01, max_buckets);
    for (int i = 0; i < 3000; i++) {
        double v = rng_lognormal(&seed, level, 2.5);
        assert_int_equal(ph_sketch_add(sk, i % 10 == 0 ? -v : v), 0);
    }
    return sk;
}

static void test_associative_commutative(void **state)
{
    const size_t widths[] = {PH_SKETCH_MAX_BUCKETS_DEFAULT, 32};
    for (size_t w = 0; w < sizeof(widths) / sizeof(widths[0]); w++) {
        ph_sketch *a = filled(widths[w], 1, 1), *b = filled(widths[w], 2, 1e4);
        ph_sketch *c = filled(widths[w], 3, 1e-3);

        ph_sketch *ab = clone(a), *ba = clone(b);
        assert_int_equal(ph_sketch_merge(ab, b), 0);
        assert_int_equal(ph_sketch_merge(ba, a), 0);
        assert_same_sketch(ab, ba, 0);
        assert_same_encoding(ab, ba); /* x + y == y + x in floating point too */

        ph_sketch *ab_c = clone(ab), *bc = clone(b), *a_bc = clone(a), *cba = clone(c);
        assert_int_equal(ph_sketch_merge(ab_c, c), 0);
        assert_int_equal(ph_sketch_merge(bc, c), 0);
        assert_int_equal(ph_sketch_merge(a_bc, bc), 0);
        assert_int_equal(ph_sketch_merge(cba, b), 0);
        assert_int_equal(ph_sketch_merge(cba, a), 0);
        assert_same_sketch(ab_c, a_bc, SUM_REL);
        assert_same_sketch(ab_c, cba, SUM_REL);

        ph_sketch *sks[] = {a, b, c, ab, ba, ab_c, bc, a_bc, cba};
        for (size_t i = 0; i < sizeof(sks) / sizeof(sks[0]); i++)
            ph_sketch_destroy(sks[i]);
    }
}

static void test_empty_is_neutral(void **state)
{
    ph_sketch *a = filled(PH_SKETCH_MAX_BUCKETS_DEFAULT, 5, 100);
    ph_sketch *before = clone(a), *empty = new_sketch(0.01, PH_SKETCH_MAX_BUCKETS_DEFAULT);
    assert_int_equal(ph_sketch_merge(a, empty), 0);
    assert_same_encoding(a, before);
    assert_int_equal(ph_sketch_merge(empty, a), 0);
    assert_same_encoding(empty, a);
    ph_sketch *e1 = new_sketch(0.01, 16), *e2 = new_sketch(0.01, 16);
    assert_int_equal(ph_sketch_merge(e1, e2), 0);
    assert_int_equal(ph_sketch_count(e1), 0);
    assert_same_encoding(e1, e2);
    ph_sketch_destroy(a);
    ph_sketch_destroy(before);
    ph_sketch_destroy(empty);
    ph_sketch_destroy(e1);
    ph_sketch_destroy(e2);
}

static int count_bucket(void *arg, int sign, int32_t index, double value, uint64_t count)
{
    (*(size_t *)arg)++;
    return 0;
}

/* Merging from bytes keeps the buckets of small stores from its checking pass and decodes large
 * ones twice: both ways give what decoding and merging give. */
static void test_from_bytes_small_and_wide(void **state)
{
    for (int wide = 0; wide < 2; wide++) {
        ph_sketch *src = new_sketch(0.01, PH_SKETCH_MAX_BUCKETS_DEFAULT);
        ph_sketch *want = filled(PH_SKETCH_MAX_BUCKETS_DEFAULT, 5, 40);
        ph_sketch *got = clone(want);
        uint64_t s = 77;
        for (int i = 0; i < 20000; i++) {
            double v = rng_lognormal(&s, 3, wide ? 6 : 0.3);
            assert_int_equal(ph_sketch_add(src, i % 4 == 0 ? -v : v), 0);
        }
        size_t buckets = 0;
        ph_sketch_foreach_bucket(src, count_bucket, &buckets);
        assert_true(wide ? buckets > 2 * 600 : buckets < 2 * 200);
        uint8_t *buf;
        size_t len;
        char errstr[PH_ERRSTR_SIZE];
        assert_int_equal(ph_sketch_encode(src, &buf, &len), 0);
        assert_int_equal(ph_sketch_merge(want, src), 0);
        assert_int_equal(ph_sketch_merge_encoded(got, buf, len, errstr, sizeof(errstr)), 0);
        assert_same_encoding(got, want);
        free(buf);
        ph_sketch_destroy(src);
        ph_sketch_destroy(want);
        ph_sketch_destroy(got);
    }
}

/* Refused merges leave dst as it was. */
static void test_refused(void **state)
{
    ph_sketch *dst = filled(PH_SKETCH_MAX_BUCKETS_DEFAULT, 8, 10), *before = clone(dst);
    ph_sketch *other_alpha = new_sketch(0.02, PH_SKETCH_MAX_BUCKETS_DEFAULT);
    ph_sketch *other_width = new_sketch(0.01, 1024);
    assert_int_equal(ph_sketch_add(other_alpha, 5), 0);
    assert_int_equal(ph_sketch_add(other_width, 5), 0);
    assert_int_equal(ph_sketch_merge(dst, other_alpha), PH_EINVAL);
    assert_int_equal(ph_sketch_merge(dst, other_width), PH_EINVAL);
    assert_int_equal(ph_sketch_merge(dst, dst), PH_EINVAL);
    assert_same_encoding(dst, before);
    ph_sketch *refused[] = {other_alpha, other_width};
    for (size_t i = 0; i < 2; i++) {
        uint8_t *buf;
        size_t len;
        char errstr[PH_ERRSTR_SIZE] = "";
        assert_int_equal(ph_sketch_encode(refused[i], &buf, &len), 0);
        assert_int_equal(ph_sketch_merge_encoded(dst, buf, len, errstr, sizeof(errstr)), PH_EINVAL);
        assert_non_null(strstr(errstr, "cannot merge"));
        buf[len - 1] ^= 0x40; /* corrupt: refused before anything is added */
        assert_int_equal(ph_sketch_merge_encoded(dst, buf, len, errstr, sizeof(errstr)), PH_EINVAL);
        free(buf);
    }
    assert_same_encoding(dst, before);

    ph_sketch *full = new_sketch(0.01, PH_SKETCH_MAX_BUCKETS_DEFAULT);
    assert_int_equal(ph_sketch_add_n(full, 7, UINT64_MAX - 10), 0);
    ph_sketch *full_before = clone(full);
    assert_int_equal(ph_sketch_merge(full, dst), PH_ERANGE);
    assert_same_encoding(full, full_before);
    uint8_t *buf;
    size_t len;
    char errstr[PH_ERRSTR_SIZE];
    assert_int_equal(ph_sketch_encode(dst, &buf, &len), 0);
    assert_int_equal(ph_sketch_merge_encoded(full, buf, len, errstr, sizeof(errstr)), PH_ERANGE);
    assert_same_encoding(full, full_before);
    free(buf);

    ph_sketch *sks[] = {dst, before, other_alpha, other_width, full, full_before};
    for (size_t i = 0; i < sizeof(sks) / sizeof(sks[0]); i++)
        ph_sketch_destroy(sks[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hour_from_minutes),
        cmocka_unit_test(test_hour_from_collapsed_minutes),
        cmocka_unit_test(test_associative_commutative),
        cmocka_unit_test(test_empty_is_neutral),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_from_bytes_small_and_wide),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
