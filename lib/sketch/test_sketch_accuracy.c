/* The documented error bound against exact quantiles: a million samples of each of several
 * distributions, every estimate within alpha (relative) of the sorted samples' value at rank
 * floor(q (n - 1)). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ph_error.h"
#include "ph_sketch.h"
#include "test_sketch_util.h"

#define N_SAMPLES 1000000

/* Double rounding in log() and exp() may push a value at a bucket boundary a hair past alpha. */
#define ROUNDING 1e-9

static const double quantiles[] = {0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1};

typedef double (*generator)(uint64_t *s);

static double gen_uniform(uint64_t *s)
{
    return 1000 * rng_uniform(s);
}

static double gen_exponential(uint64_t *s)
{
    return rng_exponential(s, 50);
}

/* latencies with a heavy tail: median 200 ms, p99.9 ~ 21 s */
static double gen_lognormal(uint64_t *s)
{
    return rng_lognormal(s, 200, 1.5);
}

/* a cache: 80% hits around 20 ms, 20% misses around 2 s */
static double gen_bimodal(uint64_t *s)
{
    if (rng_uniform(s) < 0.8)
        return rng_lognormal(s, 20, 0.2);
    return rng_lognormal(s, 2000, 0.3);
}

static double gen_constant(uint64_t *s)
{
    return 42.5;
}

/* consumer lag: often exactly 0 */
static double gen_with_zeros(uint64_t *s)
{
    if (rng_uniform(s) < 0.3)
        return 0;
    return rng_lognormal(s, 5, 1);
}

/* a sentiment score in [-1, 1], neutral (0) often */
static double gen_signed(uint64_t *s)
{
    if (rng_uniform(s) < 0.05)
        return 0;
    return 2 * rng_uniform(s) - 1;
}

/* 16 decades, 1842 buckets at alpha 0.01: near the 2048 the default keeps before collapsing */
static double gen_wide(uint64_t *s)
{
    return pow(10, -8 + 16 * rng_uniform(s));
}

/* 1000 to 1001: 500 buckets wide at alpha 1e-6 */
static double gen_narrow(uint64_t *s)
{
    return 1000 + rng_uniform(s);
}

typedef struct fixture {
    double *values; /* N_SAMPLES, reused by every case */
} fixture;

static int setup(void **state)
{
    fixture *f = malloc(sizeof(*f));
    f->values = malloc(N_SAMPLES * sizeof(double));
    *state = f;
    return f->values ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    free(f->values);
    free(f);
    return 0;
}

static double rank_value(const double *sorted, size_t n, double q)
{
    return sorted[(size_t)floor(q * (double)(n - 1))];
}

/* Asserts the bound for q and returns the relative error. */
static double check_quantile(const ph_sketch *sk, const double *sorted, size_t n, double q,
                             const char *name)
{
    double est, exact = rank_value(sorted, n, q);
    double alpha = ph_sketch_alpha(sk);
    assert_int_equal(ph_sketch_quantile(sk, q, &est), 0);
    if (exact == 0) {
        assert_true(est == 0);
        return 0;
    }
    double err = fabs(est - exact) / fabs(exact);
    if (err > alpha * (1 + ROUNDING))
        fail_msg("%s: q=%g exact %.17g estimate %.17g: relative error %g > alpha %g", name, q,
                 exact, est, err, alpha);
    return err;
}

/* Feeds n samples of gen to a sketch and checks every listed quantile, a sweep of 1001 more,
 * and the exact counters. */
static void check_distribution(double *v, size_t n, const char *name, generator gen, double alpha,
                               size_t max_buckets)
{
    ph_sketch *sk = NULL;
    assert_int_equal(ph_sketch_new(&sk, alpha, max_buckets), 0);
    uint64_t s = 0x5eed ^ (uint64_t)(uintptr_t)name[0];
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        v[i] = gen(&s);
        sum += v[i];
        assert_int_equal(ph_sketch_add(sk, v[i]), 0);
    }
    sort_doubles(v, n);
    double worst = 0, est;
    for (size_t k = 0; k < sizeof(quantiles) / sizeof(quantiles[0]); k++)
        worst = fmax(worst, check_quantile(sk, v, n, quantiles[k], name));
    for (int k = 0; k <= 1000; k++)
        worst = fmax(worst, check_quantile(sk, v, n, k / 1000.0, name));
    assert_int_equal(ph_sketch_quantile(sk, 0, &est), 0);
    assert_true(est == v[0]);
    assert_int_equal(ph_sketch_quantile(sk, 1, &est), 0);
    assert_true(est == v[n - 1]);
    assert_int_equal(ph_sketch_count(sk), n);
    assert_true(ph_sketch_sum(sk) == sum); /* same additions in the same order */
    assert_int_equal(ph_sketch_min(sk, &est), 0);
    assert_true(est == v[0]);
    assert_int_equal(ph_sketch_max(sk, &est), 0);
    assert_true(est == v[n - 1]);
    print_message("%-12s alpha %-6g n %zu: worst relative error %.6f\n", name, alpha, n, worst);
    ph_sketch_destroy(sk);
}

static void test_million_samples(void **state)
{
    fixture *f = *state;
    check_distribution(f->values, N_SAMPLES, "uniform", gen_uniform, 0.01, 2048);
    check_distribution(f->values, N_SAMPLES, "exponential", gen_exponential, 0.01, 2048);
    check_distribution(f->values, N_SAMPLES, "lognormal", gen_lognormal, 0.01, 2048);
    check_distribution(f->values, N_SAMPLES, "bimodal", gen_bimodal, 0.01, 2048);
    check_distribution(f->values, N_SAMPLES, "constant", gen_constant, 0.01, 2048);
    check_distribution(f->values, N_SAMPLES, "zeros", gen_with_zeros, 0.01, 2048);
    check_distribution(f->values, N_SAMPLES, "signed", gen_signed, 0.01, 2048);
    check_distribution(f->values, N_SAMPLES, "wide", gen_wide, 0.01, 2048);
}

/* The bound follows alpha, tight or loose. Fine alphas need more buckets for the same range. */
static void test_other_alphas(void **state)
{
    fixture *f = *state;
    check_distribution(f->values, 100000, "narrow", gen_narrow, 1e-6, 2048);
    check_distribution(f->values, 100000, "lognormal", gen_lognormal, 1e-4, 65536);
    const double alphas[] = {0.001, 0.05, 0.2, 0.45};
    for (size_t i = 0; i < sizeof(alphas) / sizeof(alphas[0]); i++) {
        check_distribution(f->values, 100000, "lognormal", gen_lognormal, alphas[i], 16384);
        check_distribution(f->values, 100000, "signed", gen_signed, alphas[i], 16384);
    }
}

/* Values on and around bucket boundaries gamma^i, where log() rounding decides the bucket. */
static void test_bucket_boundaries(void **state)
{
    ph_sketch *sk = NULL;
    assert_int_equal(ph_sketch_new(&sk, 0.01, PH_SKETCH_MAX_BUCKETS_DEFAULT), 0);
    double g = 1.01 / 0.99;
    for (int i = -2000; i <= 2000; i += 7) {
        double edge = pow(g, i);
        const double around[] = {nextafter(edge, 0), edge, nextafter(edge, INFINITY),
                                 edge * (1 - 1e-12), edge * (1 + 1e-12)};
        for (size_t k = 0; k < sizeof(around) / sizeof(around[0]); k++) {
            /* three values so that the middle one is answered from its bucket, not min or max */
            ph_sketch_reset(sk);
            assert_int_equal(ph_sketch_add(sk, around[k] / 1e3), 0);
            assert_int_equal(ph_sketch_add(sk, around[k]), 0);
            assert_int_equal(ph_sketch_add(sk, -around[k]), 0);
            assert_int_equal(ph_sketch_add(sk, around[k] * 1e3), 0);
            double sorted[] = {-around[k], around[k] / 1e3, around[k], around[k] * 1e3};
            for (int r = 1; r <= 2; r++)
                check_quantile(sk, sorted, 4, r / 3.0, "boundary");
        }
    }
    ph_sketch_destroy(sk);
}

/* With too few buckets the smallest values collapse: values within a factor
 * gamma^(max_buckets - 1) of the largest keep the bound, smaller ones are overestimated. */
static void test_collapsed_lowest(void **state)
{
    fixture *f = *state;
    double *v = f->values;
    size_t n = 100000, max_buckets = 128;
    ph_sketch *sk = NULL;
    assert_int_equal(ph_sketch_new(&sk, 0.01, max_buckets), 0);
    uint64_t s = 99;
    for (size_t i = 0; i < n; i++) {
        v[i] = pow(10, 6 * rng_uniform(&s)); /* 1 to 1e6: 690 buckets wide */
        assert_int_equal(ph_sketch_add(sk, v[i]), 0);
    }
    sort_doubles(v, n);
    test_bucket *b;
    assert_int_equal(test_buckets(sk, &b), max_buckets);
    free(b);
    double g = 1.01 / 0.99;
    double kept = v[n - 1] / pow(g, (double)max_buckets - 1);
    int inside = 0, collapsed = 0;
    for (int k = 0; k <= 1000; k++) {
        double q = k / 1000.0, exact = rank_value(v, n, q), est;
        if (exact >= kept) {
            check_quantile(sk, v, n, q, "collapsed");
            inside++;
        } else if (k > 0) { /* q = 0 is the exact min */
            assert_int_equal(ph_sketch_quantile(sk, q, &est), 0);
            assert_true(est >= exact);
            assert_true(est <= kept * g * g);
            collapsed++;
        }
    }
    assert_true(inside > 100 && collapsed > 100);
    ph_sketch_destroy(sk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_million_samples),
        cmocka_unit_test(test_other_alphas),
        cmocka_unit_test(test_bucket_boundaries),
        cmocka_unit_test(test_collapsed_lowest),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
