/* A mergeable percentile sketch: DDSketch (Masson, Rim, Lee, "DDSketch: A Fast and Fully-Mergeable
 * Quantile Sketch with Relative-Error Guarantees", VLDB 2019), written here because Debian 12
 * packages no C sketch library (only Go, Java and PostgreSQL ones). See docs/sketch.md.
 *
 * Values fall into logarithmic buckets: with gamma = (1 + alpha) / (1 - alpha), a value x > 0
 * goes to bucket i = ceil(log_gamma(x)), which holds (gamma^(i-1), gamma^i], and the bucket's
 * estimate 2 * gamma^i / (gamma + 1) is within alpha (relative) of every value in it. Negative
 * values go to a mirrored store of their own (bucket of -x); zero and values too small to index
 * (|x| < PH_SKETCH_MIN_INDEXABLE: subnormals) go to a zero bucket whose estimate is 0.
 *
 * Error bound. ph_sketch_quantile(q) answers the value of rank floor(q * (count - 1)) (0-based,
 * samples sorted ascending) with relative error at most alpha (plus double rounding, below 1e-12
 * relative), for every q in [0, 1]; q = 0 and q = 1 answer the exact min and max. Values of the
 * zero bucket are answered as 0 (exact for 0, off by less than 2.3e-308 for subnormals). Every
 * answer is clamped to [min, max], which can only bring it closer. count, sum, min and max are
 * exact (sum up to the rounding of double additions, whose order a merge changes).
 *
 * Bounded memory. Each store (positive, negative) keeps at most max_buckets consecutive buckets:
 * when a value would widen a store beyond that, the buckets of smallest magnitude are collapsed
 * into the lowest kept one. The bound then only holds for values within a factor
 * gamma^(max_buckets - 1) below the store's largest magnitude: with alpha 0.01 and 2048 buckets
 * that is a factor of 6e17, never reached by latencies in milliseconds. Collapsed values are
 * overestimated in magnitude, never lost (count, sum, min and max stay exact). The state after
 * collapsing depends only on the multiset of values added, not on their order.
 *
 * Merging is exact: merging sketches gives bucket for bucket the sketch that all their values
 * added to one would give (so minute windows roll up into hours and days without extra error),
 * provided both share alpha and max_buckets.
 *
 * Threads: a sketch belongs to one thread at a time; no function locks. Sketches that are not
 * modified may be read (quantile, encode, merge source) from several threads at once. */
#ifndef PH_SKETCH_H
#define PH_SKETCH_H

#include <stddef.h>
#include <stdint.h>

/* 1% relative error: p99 of 200 ms is answered within 198..202 ms. */
#define PH_SKETCH_ALPHA_DEFAULT 0.01
/* Per store; 16 KB at most per store in memory, usually far less (see docs/sketch.md). */
#define PH_SKETCH_MAX_BUCKETS_DEFAULT 2048

/* Accepted ranges. alpha below 1e-6 would need bucket indexes beyond 32 bits; fewer than 16
 * buckets or more than 65536 is a configuration mistake (and bounds what a decoded blob may
 * ask for). */
#define PH_SKETCH_ALPHA_MIN       1e-6
#define PH_SKETCH_ALPHA_MAX       0.5 /* exclusive */
#define PH_SKETCH_MAX_BUCKETS_MIN 16
#define PH_SKETCH_MAX_BUCKETS_MAX 65536

/* Magnitudes below this (2.2250738585072014e-308, the smallest normal double) go to the zero
 * bucket. */
#define PH_SKETCH_MIN_INDEXABLE 2.2250738585072014e-308

typedef struct ph_sketch ph_sketch;

/* Creates an empty sketch with relative accuracy alpha (in [PH_SKETCH_ALPHA_MIN, 0.5)) and at most
 * max_buckets buckets per store (in [PH_SKETCH_MAX_BUCKETS_MIN, PH_SKETCH_MAX_BUCKETS_MAX]); use
 * PH_SKETCH_ALPHA_DEFAULT and PH_SKETCH_MAX_BUCKETS_DEFAULT unless there is a reason. The caller
 * owns *out and frees it with ph_sketch_destroy(). Returns 0, PH_EINVAL (alpha or max_buckets out
 * of range) or PH_ENOMEM. */
int ph_sketch_new(ph_sketch **out, double alpha, size_t max_buckets);
void ph_sketch_destroy(ph_sketch *sk); /* NULL is a no-op */

/* Empties the sketch, keeping alpha, max_buckets and its memory (for reuse across windows). */
void ph_sketch_reset(ph_sketch *sk);

/* Adds value once, or n times (n = 0 is a no-op). Any finite value is accepted, negative ones
 * included. Returns 0, PH_EINVAL (value is NaN or infinite: refused, the sketch is unchanged),
 * PH_ERANGE (the count would pass 2^64 - 1; unchanged) or PH_ENOMEM (unchanged). */
int ph_sketch_add(ph_sketch *sk, double value);
int ph_sketch_add_n(ph_sketch *sk, double value, uint64_t n);

/* A value with its bucket computed once (the log is most of an add), to add it to several
 * sketches: the aggregator adds each latency to twelve cells. Adding a prepared value gives
 * exactly what ph_sketch_add gives; into a sketch of another alpha it falls back to that. */
typedef struct ph_sketch_prepared {
    double value;
    double alpha; /* 0: not prepared */
    int sign;     /* -1, 0 (zero bucket) or +1 */
    int64_t index;
} ph_sketch_prepared;

/* Prepares value for sketches of like's alpha. Returns 0 or PH_EINVAL (NaN or infinite). */
int ph_sketch_prepare(const ph_sketch *like, double value, ph_sketch_prepared *out);
/* ph_sketch_add of a prepared value: same results and errors. */
int ph_sketch_add_prepared(ph_sketch *sk, const ph_sketch_prepared *p);

uint64_t ph_sketch_count(const ph_sketch *sk);
double ph_sketch_sum(const ph_sketch *sk); /* 0 when empty */
double ph_sketch_alpha(const ph_sketch *sk);
size_t ph_sketch_max_buckets(const ph_sketch *sk);

/* Exact min, max and mean (sum / count) in *out. Return 0, or PH_ENOENT when the sketch is empty
 * (*out untouched). */
int ph_sketch_min(const ph_sketch *sk, double *out);
int ph_sketch_max(const ph_sketch *sk, double *out);
int ph_sketch_mean(const ph_sketch *sk, double *out);

/* The q-quantile (q in [0, 1]) in *out, under the rank rule and bound of the comment at the top.
 * Returns 0, PH_EINVAL (q out of range or NaN) or PH_ENOENT (empty sketch); *out is written only
 * on success. */
int ph_sketch_quantile(const ph_sketch *sk, double q, double *out);

/* ph_sketch_quantile of n ranks at once (qs ascending), in one pass over the buckets: the same
 * values. Returns 0, PH_EINVAL (a q out of range, NaN, or qs not ascending) or PH_ENOENT. */
int ph_sketch_quantiles(const ph_sketch *sk, const double *qs, size_t n, double *out);

/* Adds every value of src to dst, exactly (see the top comment). src is unchanged. Returns 0,
 * PH_EINVAL (different alpha or max_buckets, or dst == src), PH_ERANGE (the count would pass
 * 2^64 - 1) or PH_ENOMEM; dst is unchanged on error. */
int ph_sketch_merge(ph_sketch *dst, const ph_sketch *src);

/* Calls fn for every non-empty bucket, in ascending order of value: sign is -1 (negative store),
 * 0 (zero bucket; index 0) or +1, index the bucket index in its store, value the bucket's estimate
 * (negative in the negative store). Stops at the first non-zero return of fn and returns it;
 * returns 0 otherwise. For tests and for exporting a histogram. */
int ph_sketch_foreach_bucket(const ph_sketch *sk,
                             int (*fn)(void *arg, int sign, int32_t index, double value,
                                       uint64_t count),
                             void *arg);

/* Encodes the sketch in the portable byte format of docs/sketch.md (version 1: little-endian,
 * varints, only non-empty buckets), for storage as a SQLite BLOB. On success *buf is a malloc'ed
 * buffer of *len bytes that the caller frees with free(). Returns 0 or PH_ENOMEM. */
int ph_sketch_encode(const ph_sketch *sk, uint8_t **buf, size_t *len);

/* Decodes len bytes of buf (borrowed, not kept) into a new sketch that the caller owns (*out, on
 * success only). Never reads outside buf. Returns 0, PH_EINVAL (truncated, corrupt, trailing
 * bytes, or a format version this build does not know; errstr says which) or PH_ENOMEM. */
int ph_sketch_decode(const uint8_t *buf, size_t len, ph_sketch **out, char *errstr,
                     size_t errstr_size);

/* Adds the sketch encoded in buf (borrowed) to dst, exactly as decoding it and calling
 * ph_sketch_merge would, without building the intermediate sketch (the query path merges
 * thousands of stored sketches). Checks buf as ph_sketch_decode does. Returns 0, PH_EINVAL
 * (corrupt blob, or another alpha or max_buckets), PH_ERANGE or PH_ENOMEM; dst is unchanged on
 * error. */
int ph_sketch_merge_encoded(ph_sketch *dst, const uint8_t *buf, size_t len, char *errstr,
                            size_t errstr_size);

#endif
