/* Internals shared by ph_sketch.c (buckets, quantiles, merge) and ph_sketch_codec.c. */
#ifndef PH_SKETCH_INT_H
#define PH_SKETCH_INT_H

#include <stdbool.h>
#include <stddef.h>
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

/* Fills sk (alpha, gamma, limits; empty stores) without allocating. Returns 0 or PH_EINVAL when
 * alpha or max_buckets is out of range. ph_sketch_new is calloc plus this. */
int ph_sketch_init(ph_sketch *sk, double alpha, size_t max_buckets);

/* A store's next shape, allocated before anything changes so that add and merge leave the sketch
 * untouched when memory runs out. */
typedef struct ph_sketch_layout {
    bool used;
    int32_t lo, hi;
    uint64_t *fresh; /* new counts array; NULL when the current one already covers lo..hi */
    int64_t offset;
    size_t len;
} ph_sketch_layout;

/* Plans st's shape once buckets a..b (a <= b, b - a < max_buckets) arrive. Returns 0 or
 * PH_ENOMEM; the caller frees ly->fresh if it does not apply the plan. */
int ph_sketch_layout_plan(const ph_sketch_store *st, size_t max_buckets, int64_t a, int64_t b,
                          ph_sketch_layout *ly);
/* Moves st to its planned shape, collapsing the buckets below ly->lo into it. Cannot fail. After
 * it, bucket j of a..b is counted at slot max(j, ly->lo). */
void ph_sketch_layout_apply(ph_sketch_store *st, ph_sketch_layout *ly);

/* The merge's last step, once the buckets are in: zero count, min, max, count and sum of src
 * added to dst's (src->count > 0, and the count checked not to overflow). */
void ph_sketch_merge_summary(ph_sketch *dst, const ph_sketch *src);

static inline uint64_t *ph_sketch_slot(ph_sketch_store *st, int64_t index)
{
    return &st->counts[index - st->offset];
}

#endif
