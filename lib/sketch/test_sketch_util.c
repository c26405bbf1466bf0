#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_sketch_util.h"

uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

double rng_uniform(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

double rng_normal(uint64_t *s)
{
    double u = 1 - rng_uniform(s); /* (0, 1]: log(0) would be -inf */
    return sqrt(-2 * log(u)) * cos(2 * M_PI * rng_uniform(s));
}

double rng_exponential(uint64_t *s, double mean)
{
    return -mean * log1p(-rng_uniform(s));
}

double rng_lognormal(uint64_t *s, double median, double sigma)
{
    return median * exp(sigma * rng_normal(s));
}

typedef struct collect {
    test_bucket *v;
    size_t n;
} collect;

static int collect_one(void *arg, int sign, int32_t index, double value, uint64_t count)
{
    collect *c = arg;
    c->v = realloc(c->v, (c->n + 1) * sizeof(*c->v));
    assert_non_null(c->v);
    c->v[c->n++] = (test_bucket){sign, index, value, count};
    return 0;
}

size_t test_buckets(const ph_sketch *sk, test_bucket **out)
{
    collect c = {NULL, 0};
    assert_int_equal(ph_sketch_foreach_bucket(sk, collect_one, &c), 0);
    *out = c.v;
    return c.n;
}

void assert_same_sketch(const ph_sketch *a, const ph_sketch *b, double sum_rel)
{
    test_bucket *ba, *bb;
    size_t na = test_buckets(a, &ba), nb = test_buckets(b, &bb);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        assert_int_equal(ba[i].sign, bb[i].sign);
        assert_int_equal(ba[i].index, bb[i].index);
        assert_int_equal(ba[i].count, bb[i].count);
    }
    free(ba);
    free(bb);
    assert_true(ph_sketch_alpha(a) == ph_sketch_alpha(b));
    assert_int_equal(ph_sketch_max_buckets(a), ph_sketch_max_buckets(b));
    assert_int_equal(ph_sketch_count(a), ph_sketch_count(b));
    double sa = ph_sketch_sum(a), sb = ph_sketch_sum(b);
    if (sum_rel == 0)
        assert_memory_equal(&sa, &sb, sizeof(sa));
    else
        assert_true(fabs(sa - sb) <= sum_rel * fmax(fabs(sa), fabs(sb)));
    if (ph_sketch_count(a) == 0)
        return;
    double x, y;
    assert_int_equal(ph_sketch_min(a, &x), 0);
    assert_int_equal(ph_sketch_min(b, &y), 0);
    assert_true(x == y);
    assert_int_equal(ph_sketch_max(a, &x), 0);
    assert_int_equal(ph_sketch_max(b, &y), 0);
    assert_true(x == y);
    for (int k = 0; k <= 1000; k++) {
        assert_int_equal(ph_sketch_quantile(a, k / 1000.0, &x), 0);
        assert_int_equal(ph_sketch_quantile(b, k / 1000.0, &y), 0);
        assert_true(x == y);
    }
}

void assert_same_encoding(const ph_sketch *a, const ph_sketch *b)
{
    uint8_t *ea, *eb;
    size_t la, lb;
    assert_int_equal(ph_sketch_encode(a, &ea, &la), 0);
    assert_int_equal(ph_sketch_encode(b, &eb, &lb), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(ea, eb, la);
    free(ea);
    free(eb);
}

/* Bits that sort as unsigned integers in the order of the doubles: flip the sign bit of
 * positives and every bit of negatives. */
static uint64_t sort_key(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u >> 63 ? ~u : u | (uint64_t)1 << 63;
}

/* LSD radix sort, 11 bits a pass (the counts stay in cache): qsort's callback made the accuracy
 * test sort-bound. */
#define RADIX_BITS 11
#define MASK       ((1u << RADIX_BITS) - 1)

void sort_doubles(double *v, size_t n)
{
    uint64_t *keys = malloc(n * sizeof(*keys)), *tmp = malloc(n * sizeof(*tmp));
    size_t *pos = malloc((MASK + 1) * sizeof(*pos));
    assert_true(keys && tmp && pos);
    for (size_t i = 0; i < n; i++)
        keys[i] = sort_key(v[i]);
    for (int shift = 0; shift < 64; shift += RADIX_BITS) {
        memset(pos, 0, (MASK + 1) * sizeof(*pos));
        for (size_t i = 0; i < n; i++)
            pos[(keys[i] >> shift) & MASK]++;
        size_t at = 0;
        for (size_t d = 0; d <= MASK; d++) {
            size_t c = pos[d];
            pos[d] = at;
            at += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[pos[(keys[i] >> shift) & MASK]++] = keys[i];
        uint64_t *swap = keys;
        keys = tmp;
        tmp = swap;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t u = keys[i] >> 63 ? keys[i] & ~((uint64_t)1 << 63) : ~keys[i];
        memcpy(&v[i], &u, sizeof(u));
        if (i > 0 && v[i - 1] > v[i])
            fail_msg("sort_doubles: out of order at %zu", i);
    }
    free(keys);
    free(tmp);
    free(pos);
}
