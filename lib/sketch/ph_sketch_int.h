/* Internals shared by ph_sketch.c (buckets, quantiles, merge) and ph_sketch_codec.c. */
#ifndef PH_SKETCH_INT_H
#define PH_SKETCH_INT_H

#include <stdint.h>

#include "ph_sketch.h"

/* One sign's buckets, dense: counts[k] is bucket offset + k. Invariants when total > 0: lo and
 * hi are non-empty, every non-empty bucket lies in [lo, hi], hi - lo < max_buckets, and
 * [lo, hi] lies within [offset, offset + len). Buckets are indexed by magnitude, so in the
 * negative store bucket i holds the values -x of bucket i. */
typedef struct ph_sketch_store {
    uint64_t *counts;
    int64_t offset;
    size_t len;
    int32_t lo, hi;
    uint64_t total;
} ph_sketch_store;

struct ph_sketch {
    double alpha;
    double gamma;
    double ln_gamma;
    double ln_estimate;  /* ln(2 / (1 + gamma)): estimate of bucket i = exp(i ln_gamma + this) */
    int32_t index_limit; /* |index| of any bucket, decoded ones included, stays below this */
    size_t max_buckets;
    ph_sketch_store neg, pos;
    uint64_t zero;  /* values of magnitude below PH_SKETCH_MIN_INDEXABLE */
    uint64_t count; /* neg.total + zero + pos.total */
    double sum;
    double min, max; /* valid when count > 0 */
};

/* Adds n (> 0) to bucket index of the store of sign (-1 or +1), collapsing as ph_sketch_add does;
 * touches neither count, sum, min nor max. Returns 0, PH_EINVAL (index beyond index_limit) or
 * PH_ENOMEM. For the decoder. */
int ph_sketch_add_bucket(ph_sketch *sk, int sign, int64_t index, uint64_t n);

#endif
