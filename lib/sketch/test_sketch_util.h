/* Helpers for the sketch tests: a seeded PRNG (tests must not depend on libc's rand) and
 * bucket-for-bucket comparison of sketches. */
#ifndef TEST_SKETCH_UTIL_H
#define TEST_SKETCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "ph_sketch.h"

/* splitmix64 (Steele, Lea, Flood 2014): tiny, fast and good enough for test data. */
uint64_t rng_next(uint64_t *s);
double rng_uniform(uint64_t *s); /* [0, 1) */
double rng_normal(uint64_t *s);  /* standard normal, Box-Muller */
double rng_exponential(uint64_t *s, double mean);
double rng_lognormal(uint64_t *s, double median, double sigma);

typedef struct test_bucket {
    int sign;
    int32_t index;
    double value;
    uint64_t count;
} test_bucket;

/* The non-empty buckets of sk in ascending order, in a malloc'ed array the caller frees. */
size_t test_buckets(const ph_sketch *sk, test_bucket **out);

/* Asserts identical buckets, count, min, max and quantiles, and sums within sum_rel (relative;
 * 0 asks for the same bits). */
void assert_same_sketch(const ph_sketch *a, const ph_sketch *b, double sum_rel);

/* Asserts that two sketches encode to the same bytes. */
void assert_same_encoding(const ph_sketch *a, const ph_sketch *b);

/* Sorts doubles ascending. */
void sort_doubles(double *v, size_t n);

#endif
