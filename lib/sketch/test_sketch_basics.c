/* The sketch's contract at its edges: argument checks, empty sketches, refused values, signs,
 * counters, reset and bucket order. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "ph_error.h"
#include "ph_sketch.h"
#include "test_sketch_util.h"

static ph_sketch *new_default(void)
{
    ph_sketch *sk = NULL;
    assert_int_equal(ph_sketch_new(&sk, PH_SKETCH_ALPHA_DEFAULT, PH_SKETCH_MAX_BUCKETS_DEFAULT), 0);
    return sk;
}

static void test_new_checks_arguments(void **state)
{
    ph_sketch *sk = (ph_sketch *)&sk; /* must stay untouched on failure */
    ph_sketch *const before = sk;
    const double bad_alpha[] = {0, -0.01, 0.5, 0.7, 9e-7, NAN, INFINITY};
    for (size_t i = 0; i < sizeof(bad_alpha) / sizeof(bad_alpha[0]); i++)
        assert_int_equal(ph_sketch_new(&sk, bad_alpha[i], 2048), PH_EINVAL);
    assert_int_equal(ph_sketch_new(&sk, 0.01, 15), PH_EINVAL);
    assert_int_equal(ph_sketch_new(&sk, 0.01, 65537), PH_EINVAL);
    assert_ptr_equal(sk, before);

    const double good_alpha[] = {1e-6, 0.001, 0.01, 0.4999};
    for (size_t i = 0; i < sizeof(good_alpha) / sizeof(good_alpha[0]); i++) {
        assert_int_equal(ph_sketch_new(&sk, good_alpha[i], 16), 0);
        assert_true(ph_sketch_alpha(sk) == good_alpha[i]);
        assert_int_equal(ph_sketch_max_buckets(sk), 16);
        ph_sketch_destroy(sk);
    }
    assert_int_equal(ph_sketch_new(&sk, 0.01, 65536), 0);
    ph_sketch_destroy(sk);
    ph_sketch_destroy(NULL);
}

static void test_empty(void **state)
{
    ph_sketch *sk = new_default();
    double x = 123;
    assert_int_equal(ph_sketch_count(sk), 0);
    assert_true(ph_sketch_sum(sk) == 0);
    assert_int_equal(ph_sketch_min(sk, &x), PH_ENOENT);
    assert_int_equal(ph_sketch_max(sk, &x), PH_ENOENT);
    assert_int_equal(ph_sketch_mean(sk, &x), PH_ENOENT);
    assert_int_equal(ph_sketch_quantile(sk, 0.5, &x), PH_ENOENT);
    assert_int_equal(ph_sketch_quantile(sk, 2, &x), PH_EINVAL);
    assert_true(x == 123);
    test_bucket *b;
    assert_int_equal(test_buckets(sk, &b), 0);
    free(b);
    ph_sketch_destroy(sk);
}

static void test_refused_values(void **state)
{
    ph_sketch *sk = new_default();
    assert_int_equal(ph_sketch_add(sk, 3), 0);
    assert_int_equal(ph_sketch_add(sk, NAN), PH_EINVAL);
    assert_int_equal(ph_sketch_add(sk, INFINITY), PH_EINVAL);
    assert_int_equal(ph_sketch_add_n(sk, -INFINITY, 5), PH_EINVAL);
    assert_int_equal(ph_sketch_add_n(sk, 7, 0), 0); /* a no-op, min and max included */
    assert_int_equal(ph_sketch_count(sk), 1);
    assert_true(ph_sketch_sum(sk) == 3);
    double x = 0;
    assert_int_equal(ph_sketch_max(sk, &x), 0);
    assert_true(x == 3);

    const double bad_q[] = {-0.001, 1.001, NAN, -INFINITY};
    for (size_t i = 0; i < sizeof(bad_q) / sizeof(bad_q[0]); i++)
        assert_int_equal(ph_sketch_quantile(sk, bad_q[i], &x), PH_EINVAL);
    assert_true(x == 3);

    /* the count saturates with an error, not a wrap */
    assert_int_equal(ph_sketch_add_n(sk, 1, UINT64_MAX - 1), 0);
    assert_int_equal(ph_sketch_add(sk, 1), PH_ERANGE);
    assert_int_equal(ph_sketch_add(sk, 0), PH_ERANGE);
    assert_true(ph_sketch_count(sk) == UINT64_MAX);
    assert_int_equal(ph_sketch_quantile(sk, 0.5, &x), 0);
    assert_true(fabs(x - 1) <= 0.01);
    ph_sketch_destroy(sk);
}

static void test_single_value_is_exact(void **state)
{
    const double values[] = {0, 1e-300, 0.25, 1, 1234.5678, -17, DBL_MAX, -DBL_MAX};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        ph_sketch *sk = new_default();
        assert_int_equal(ph_sketch_add_n(sk, values[i], 10), 0);
        for (int k = 0; k <= 10; k++) {
            double x;
            assert_int_equal(ph_sketch_quantile(sk, k / 10.0, &x), 0);
            assert_true(x == values[i]); /* clamped to min == max */
        }
        ph_sketch_destroy(sk);
    }
}

/* Negative values have a store of their own, zero a bucket of its own, in value order. */
static void test_signs_and_zero(void **state)
{
    ph_sketch *sk = new_default();
    const double values[] = {-1000, -5, -1, -1e-310, 0, -0.0, 1e-310, 1, 5, 1000, 2000};
    size_t n = sizeof(values) / sizeof(values[0]);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ph_sketch_add(sk, values[i]), 0);
    for (size_t r = 0; r < n; r++) {
        double x, q = (double)r / (double)(n - 1);
        assert_int_equal(ph_sketch_quantile(sk, q, &x), 0);
        if (fabs(values[r]) < PH_SKETCH_MIN_INDEXABLE)
            assert_true(x == 0); /* subnormals are answered as 0 */
        else
            assert_true(fabs(x - values[r]) <= 0.01 * fabs(values[r]));
    }
    test_bucket *b;
    size_t nb = test_buckets(sk, &b);
    assert_int_equal(nb, 8); /* 3 negative, zero (4 values), 4 positive */
    assert_int_equal(b[3].sign, 0);
    assert_int_equal(b[3].count, 4);
    for (size_t i = 1; i < nb; i++)
        assert_true(b[i - 1].value < b[i].value);
    assert_int_equal(b[0].sign, -1);
    assert_int_equal(b[7].sign, 1);
    free(b);
    double mean;
    assert_int_equal(ph_sketch_mean(sk, &mean), 0);
    assert_true(fabs(mean - 2000.0 / 11) < 1e-9);
    ph_sketch_destroy(sk);
}

static void test_add_n_equals_repeated_add(void **state)
{
    ph_sketch *a = new_default(), *b = new_default();
    uint64_t s = 7;
    for (int i = 0; i < 1000; i++) {
        double v = rng_lognormal(&s, 100, 1);
        uint64_t n = rng_next(&s) % 5;
        assert_int_equal(ph_sketch_add_n(a, v, n), 0);
        for (uint64_t k = 0; k < n; k++)
            assert_int_equal(ph_sketch_add(b, v), 0);
    }
    assert_same_sketch(a, b, 1e-12);
    ph_sketch_destroy(a);
    ph_sketch_destroy(b);
}

/* A reset sketch behaves as a new one (the aggregator reuses them across windows). */
static void test_reset(void **state)
{
    ph_sketch *a = new_default(), *b = new_default();
    uint64_t s = 11;
    for (int i = 0; i < 5000; i++)
        assert_int_equal(ph_sketch_add(a, rng_lognormal(&s, 1e6, 3) - 1e5), 0);
    ph_sketch_reset(a);
    assert_int_equal(ph_sketch_count(a), 0);
    assert_true(ph_sketch_sum(a) == 0);
    double x;
    assert_int_equal(ph_sketch_quantile(a, 0.5, &x), PH_ENOENT);
    for (int i = 0; i < 5000; i++) {
        double v = rng_lognormal(&s, 3, 0.5);
        assert_int_equal(ph_sketch_add(a, v), 0);
        assert_int_equal(ph_sketch_add(b, v), 0);
    }
    assert_same_sketch(a, b, 0);
    assert_same_encoding(a, b);
    ph_sketch_destroy(a);
    ph_sketch_destroy(b);
}

static int stop_at_third(void *arg, int sign, int32_t index, double value, uint64_t count)
{
    int *calls = arg;
    return ++*calls == 3 ? 42 : 0;
}

static void test_foreach_stops(void **state)
{
    ph_sketch *sk = new_default();
    for (int i = 1; i <= 10; i++)
        assert_int_equal(ph_sketch_add(sk, i * 10.0), 0);
    int calls = 0;
    assert_int_equal(ph_sketch_foreach_bucket(sk, stop_at_third, &calls), 42);
    assert_int_equal(calls, 3);
    ph_sketch_destroy(sk);
}

/* Several quantiles in one pass answer exactly what one quantile at a time answers, and adding
 * a prepared value is adding the value: over negatives, zeros, one value and collapsed stores. */
static void test_quantiles_and_prepared_adds(void **state)
{
    static const size_t widths[] = {16, 2048};
    double qs[101];
    for (int i = 0; i <= 100; i++)
        qs[i] = i / 100.0;
    for (size_t w = 0; w < 2; w++) {
        for (int shape = 0; shape < 4; shape++) {
            ph_sketch *sk = NULL, *prepared = NULL;
            assert_int_equal(ph_sketch_new(&sk, 0.01, widths[w]), 0);
            assert_int_equal(ph_sketch_new(&prepared, 0.01, widths[w]), 0);
            uint64_t s = 9 + (uint64_t)shape;
            int n = shape == 0 ? 1 : 3000;
            for (int i = 0; i < n; i++) {
                double v = rng_lognormal(&s, 20, shape == 3 ? 4 : 1);
                if (shape >= 2 && i % 7 == 0)
                    v = -v;
                if (shape >= 2 && i % 11 == 0)
                    v = 0;
                ph_sketch_prepared p;
                assert_int_equal(ph_sketch_prepare(sk, v, &p), 0);
                assert_int_equal(ph_sketch_add(sk, v), 0);
                assert_int_equal(ph_sketch_add_prepared(prepared, &p), 0);
            }
            assert_same_sketch(sk, prepared, 0);
            double many[101], one;
            assert_int_equal(ph_sketch_quantiles(sk, qs, 101, many), 0);
            for (int i = 0; i <= 100; i++) {
                assert_int_equal(ph_sketch_quantile(sk, qs[i], &one), 0);
                assert_true(many[i] == one);
            }
            ph_sketch_destroy(sk);
            ph_sketch_destroy(prepared);
        }
    }
    ph_sketch *sk = NULL;
    double out[2], bad[2] = {0.9, 0.5};
    assert_int_equal(ph_sketch_new(&sk, 0.01, 2048), 0);
    assert_int_equal(ph_sketch_quantiles(sk, qs, 2, out), PH_ENOENT);
    assert_int_equal(ph_sketch_add(sk, 1), 0);
    assert_int_equal(ph_sketch_quantiles(sk, bad, 2, out), PH_EINVAL);
    ph_sketch_prepared p;
    assert_int_equal(ph_sketch_prepare(sk, NAN, &p), PH_EINVAL);
    ph_sketch_destroy(sk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_checks_arguments),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_refused_values),
        cmocka_unit_test(test_single_value_is_exact),
        cmocka_unit_test(test_signs_and_zero),
        cmocka_unit_test(test_add_n_equals_repeated_add),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_foreach_stops),
        cmocka_unit_test(test_quantiles_and_prepared_adds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
