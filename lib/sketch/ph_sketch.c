/* DDSketch buckets, quantiles and merges. See ph_sketch.h for the algorithm and its bound. */
#include "ph_sketch.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"
#include "ph_sketch_int.h"

/* Initial slots of a store: 256 bytes, enough for a factor of 1.9 at alpha 0.01; stores double
 * from there up to max_buckets. */
#define STORE_MIN_LEN 32

int ph_sketch_init(ph_sketch *sk, double alpha, size_t max_buckets)
{
    /* written so that NaN fails too */
    if (!(alpha >= PH_SKETCH_ALPHA_MIN && alpha < PH_SKETCH_ALPHA_MAX))
        return PH_EINVAL;
    if (max_buckets < PH_SKETCH_MAX_BUCKETS_MIN || max_buckets > PH_SKETCH_MAX_BUCKETS_MAX)
        return PH_EINVAL;
    memset(sk, 0, sizeof(*sk));
    sk->alpha = alpha;
    sk->gamma = (1 + alpha) / (1 - alpha);
    /* log1p keeps ln_gamma accurate for small alpha, where 1 + 2 alpha / (1 - alpha) rounds */
    sk->ln_gamma = log1p(2 * alpha / (1 - alpha));
    sk->ln_estimate = log(2 / (1 + sk->gamma));
    /* ln(DBL_MAX) < 710 and ln(smallest subnormal) > -745: any index a double can reach, plus a
     * margin for another machine's log() rounding, so that valid blobs from there decode here */
    sk->index_limit = (int32_t)ceil(746 / sk->ln_gamma) + 1;
    sk->max_buckets = max_buckets;
    return PH_OK;
}

int ph_sketch_new(ph_sketch **out, double alpha, size_t max_buckets)
{
    ph_sketch probe;
    int rc = ph_sketch_init(&probe, alpha, max_buckets);
    if (rc != PH_OK)
        return rc;
    ph_sketch *sk = malloc(sizeof(*sk));
    if (!sk)
        return PH_ENOMEM;
    *sk = probe;
    *out = sk;
    return PH_OK;
}

void ph_sketch_destroy(ph_sketch *sk)
{
    if (!sk)
        return;
    free(sk->neg.counts);
    free(sk->pos.counts);
    free(sk);
}

static void store_reset(ph_sketch_store *st)
{
    if (st->counts)
        memset(st->counts, 0, st->len * sizeof(*st->counts));
    st->lo = st->hi = 0;
    st->total = 0;
}

void ph_sketch_reset(ph_sketch *sk)
{
    store_reset(&sk->neg);
    store_reset(&sk->pos);
    sk->zero = 0;
    sk->count = 0;
    sk->sum = 0;
    sk->min = sk->max = 0;
}

/* Plans st's shape once buckets a..b (a <= b, b - a < max_buckets) arrive: the top is the
 * highest bucket seen and nothing lives more than max_buckets - 1 below it. Whatever falls lower
 * collapses into the lowest kept bucket; since that bucket only ever moves up, the result depends
 * on the set of values, not on the order they came in, which is what makes merges exact. */
int ph_sketch_layout_plan(const ph_sketch_store *st, size_t max_buckets, int64_t a, int64_t b,
                          ph_sketch_layout *ly)
{
    int64_t hi = b, lo = a;
    if (st->total > 0) {
        if (st->hi > hi)
            hi = st->hi;
        if (st->lo < lo)
            lo = st->lo;
    }
    int64_t bottom = hi - (int64_t)max_buckets + 1;
    if (lo < bottom)
        lo = bottom;
    ly->used = true;
    ly->lo = (int32_t)lo;
    ly->hi = (int32_t)hi;
    ly->fresh = NULL;
    if (st->counts && lo >= st->offset && hi < st->offset + (int64_t)st->len)
        return PH_OK;
    size_t need = (size_t)(hi - lo + 1);
    /* a store emptied by a reset moves to its new range at its old size */
    size_t len = st->total > 0 ? st->len * 2 : st->len;
    if (len < STORE_MIN_LEN)
        len = STORE_MIN_LEN;
    if (len < need)
        len = need;
    if (len > max_buckets)
        len = max_buckets;
    if (!(ly->fresh = calloc(len, sizeof(*ly->fresh))))
        return PH_ENOMEM;
    ly->len = len;
    /* centred: latencies grow the range both ways around the first value. Once a store spans
     * max_buckets, each new top bucket costs a copy of the store; that takes values spanning a
     * factor of 6e17 at the defaults, too rare to be worth a ring buffer. */
    ly->offset = lo - (int64_t)(len - need) / 2;
    return PH_OK;
}

/* Moves st to its planned shape, collapsing the buckets below ly->lo into it. Cannot fail. */
void ph_sketch_layout_apply(ph_sketch_store *st, ph_sketch_layout *ly)
{
    uint64_t folded = 0;
    if (st->total > 0) {
        int64_t top = st->hi < ly->lo ? st->hi : ly->lo - 1;
        for (int64_t j = st->lo; j <= top; j++) {
            folded += *ph_sketch_slot(st, j);
            *ph_sketch_slot(st, j) = 0;
        }
    }
    if (ly->fresh) {
        if (st->total > 0) {
            for (int64_t j = st->lo > ly->lo ? st->lo : ly->lo; j <= st->hi; j++)
                ly->fresh[j - ly->offset] = *ph_sketch_slot(st, j);
        }
        free(st->counts);
        st->counts = ly->fresh;
        st->offset = ly->offset;
        st->len = ly->len;
        ly->fresh = NULL;
    }
    *ph_sketch_slot(st, ly->lo) += folded;
    st->lo = ly->lo;
    st->hi = ly->hi;
}

static ph_sketch_store *store_of(ph_sketch *sk, int sign)
{
    return sign < 0 ? &sk->neg : &sk->pos;
}

void ph_sketch_merge_summary(ph_sketch *dst, const ph_sketch *src)
{
    dst->zero += src->zero;
    if (dst->count == 0 || src->min < dst->min)
        dst->min = src->min;
    if (dst->count == 0 || src->max > dst->max)
        dst->max = src->max;
    dst->count += src->count;
    dst->sum += src->sum;
}

/* Adds n (> 0) to bucket index of the store of sign, collapsing as the layout says; touches
 * neither count, sum, min nor max. */
static int add_bucket(ph_sketch *sk, int sign, int64_t index, uint64_t n)
{
    ph_sketch_store *st = store_of(sk, sign);
    if (st->total > 0 && index >= st->lo && index <= st->hi) {
        /* the common case: a bucket within the current range, nothing moves */
        *ph_sketch_slot(st, index) += n;
        st->total += n;
        return PH_OK;
    }
    ph_sketch_layout ly;
    int rc = ph_sketch_layout_plan(st, sk->max_buckets, index, index, &ly);
    if (rc)
        return rc;
    ph_sketch_layout_apply(st, &ly);
    *ph_sketch_slot(st, index < ly.lo ? ly.lo : index) += n;
    st->total += n;
    return PH_OK;
}

/* ceil(log_gamma(mag)) for mag >= PH_SKETCH_MIN_INDEXABLE: within index_limit by construction. */
static int64_t bucket_index(const ph_sketch *sk, double mag)
{
    return (int64_t)ceil(log(mag) / sk->ln_gamma);
}

int ph_sketch_add(ph_sketch *sk, double value)
{
    return ph_sketch_add_n(sk, value, 1);
}

/* Adds n times a value whose bucket is known (sign 0: the zero bucket). */
static int add_known(ph_sketch *sk, double value, int sign, int64_t index, uint64_t n)
{
    if (n == 0)
        return PH_OK;
    if (n > UINT64_MAX - sk->count)
        return PH_ERANGE;
    if (sign == 0) {
        sk->zero += n;
    } else {
        int rc = add_bucket(sk, sign, index, n);
        if (rc)
            return rc;
    }
    if (sk->count == 0 || value < sk->min)
        sk->min = value;
    if (sk->count == 0 || value > sk->max)
        sk->max = value;
    sk->count += n;
    sk->sum += value * (double)n;
    return PH_OK;
}

int ph_sketch_add_n(ph_sketch *sk, double value, uint64_t n)
{
    ph_sketch_prepared p;
    int rc = ph_sketch_prepare(sk, value, &p);
    return rc ? rc : add_known(sk, value, p.sign, p.index, n);
}

int ph_sketch_prepare(const ph_sketch *like, double value, ph_sketch_prepared *out)
{
    if (!isfinite(value))
        return PH_EINVAL;
    double mag = fabs(value);
    out->value = value;
    out->alpha = like->alpha;
    out->sign = mag < PH_SKETCH_MIN_INDEXABLE ? 0 : value < 0 ? -1 : 1;
    out->index = out->sign ? bucket_index(like, mag) : 0;
    return PH_OK;
}

int ph_sketch_add_prepared(ph_sketch *sk, const ph_sketch_prepared *p)
{
    if (p->alpha != sk->alpha)
        return ph_sketch_add(sk, p->value);
    return add_known(sk, p->value, p->sign, p->index, 1);
}

uint64_t ph_sketch_count(const ph_sketch *sk)
{
    return sk->count;
}

double ph_sketch_sum(const ph_sketch *sk)
{
    return sk->sum;
}

double ph_sketch_alpha(const ph_sketch *sk)
{
    return sk->alpha;
}

size_t ph_sketch_max_buckets(const ph_sketch *sk)
{
    return sk->max_buckets;
}

int ph_sketch_min(const ph_sketch *sk, double *out)
{
    if (sk->count == 0)
        return PH_ENOENT;
    *out = sk->min;
    return PH_OK;
}

int ph_sketch_max(const ph_sketch *sk, double *out)
{
    if (sk->count == 0)
        return PH_ENOENT;
    *out = sk->max;
    return PH_OK;
}

int ph_sketch_mean(const ph_sketch *sk, double *out)
{
    if (sk->count == 0)
        return PH_ENOENT;
    *out = sk->sum / (double)sk->count;
    return PH_OK;
}

/* The estimate of a bucket, clamped to [min, max]: every value of the bucket lies in that range,
 * so clamping only brings the estimate closer, and it keeps the top bucket of a store reaching
 * DBL_MAX from overflowing to infinity. */
static double bucket_value(const ph_sketch *sk, int sign, int64_t index)
{
    double v = 0;
    if (sign != 0)
        v = sign * exp((double)index * sk->ln_gamma + sk->ln_estimate);
    if (v < sk->min)
        v = sk->min;
    if (v > sk->max)
        v = sk->max;
    return v;
}

int ph_sketch_foreach_bucket(const ph_sketch *sk,
                             int (*fn)(void *arg, int sign, int32_t index, double value,
                                       uint64_t count),
                             void *arg)
{
    const ph_sketch_store *neg = &sk->neg, *pos = &sk->pos;
    int rc = 0;
    /* the negative store from its largest magnitude down, so that values ascend */
    for (int64_t j = neg->hi; neg->total > 0 && j >= neg->lo && rc == 0; j--) {
        uint64_t c = neg->counts[j - neg->offset];
        if (c)
            rc = fn(arg, -1, (int32_t)j, bucket_value(sk, -1, j), c);
    }
    if (sk->zero && rc == 0)
        rc = fn(arg, 0, 0, bucket_value(sk, 0, 0), sk->zero);
    for (int64_t j = pos->lo; pos->total > 0 && j <= pos->hi && rc == 0; j++) {
        uint64_t c = pos->counts[j - pos->offset];
        if (c)
            rc = fn(arg, 1, (int32_t)j, bucket_value(sk, 1, j), c);
    }
    return rc;
}

/* The estimate of the bucket holding the value of 0-based rank (< count). Whole stores are
 * skipped by their totals; only the found bucket costs an exp(). */
static double rank_value(const ph_sketch *sk, uint64_t rank)
{
    const ph_sketch_store *neg = &sk->neg, *pos = &sk->pos;
    uint64_t seen = 0;
    if (rank < neg->total) {
        /* the negative store from its largest magnitude down, so that values ascend */
        for (int64_t j = neg->hi; j > neg->lo; j--) {
            seen += neg->counts[j - neg->offset];
            if (seen > rank)
                return bucket_value(sk, -1, j);
        }
        return bucket_value(sk, -1, neg->lo);
    }
    seen = neg->total + sk->zero;
    if (rank < seen)
        return bucket_value(sk, 0, 0);
    for (int64_t j = pos->lo; j < pos->hi; j++) {
        seen += pos->counts[j - pos->offset];
        if (seen > rank)
            return bucket_value(sk, 1, j);
    }
    return bucket_value(sk, 1, pos->hi);
}

int ph_sketch_quantile(const ph_sketch *sk, double q, double *out)
{
    if (!(q >= 0 && q <= 1))
        return PH_EINVAL;
    if (sk->count == 0)
        return PH_ENOENT;
    /* floor(q (n - 1)): the rank rule of the header; the ranks of min and max are exact */
    uint64_t rank = (uint64_t)floor(q * (double)(sk->count - 1));
    if (rank > sk->count - 1) /* q (n - 1) rounds up to n for n beyond 2^53 */
        rank = sk->count - 1;
    if (rank == 0)
        *out = sk->min;
    else if (rank == sk->count - 1)
        *out = sk->max;
    else
        *out = rank_value(sk, rank);
    return PH_OK;
}

/* floor(q (n - 1)): the rank rule of the header; the ranks of min and max are exact. */
static uint64_t rank_of(const ph_sketch *sk, double q)
{
    uint64_t rank = (uint64_t)floor(q * (double)(sk->count - 1));
    return rank > sk->count - 1 ? sk->count - 1 : rank; /* q (n - 1) rounds up beyond 2^53 */
}

int ph_sketch_quantiles(const ph_sketch *sk, const double *qs, size_t n, double *out)
{
    for (size_t i = 0; i < n; i++)
        if (!(qs[i] >= 0 && qs[i] <= 1) || (i > 0 && qs[i] < qs[i - 1]))
            return PH_EINVAL;
    if (sk->count == 0)
        return PH_ENOENT;
    /* one walk up the buckets in value order (negative store from its largest magnitude down,
     * zero, positive store up), answering each rank as the walk passes it */
    const ph_sketch_store *neg = &sk->neg, *pos = &sk->pos;
    const uint64_t last = sk->count - 1;
    size_t i = 0;
    uint64_t seen = 0, rank = n ? rank_of(sk, qs[0]) : 0;
#define ANSWER(value)                                                                              \
    do {                                                                                           \
        out[i] = rank == 0 ? sk->min : rank == last ? sk->max : (value);                           \
        if (++i < n)                                                                               \
            rank = rank_of(sk, qs[i]);                                                             \
    } while (0)
    for (int64_t j = neg->hi; neg->total > 0 && j >= neg->lo && i < n; j--) {
        seen += neg->counts[j - neg->offset];
        while (i < n && rank < seen)
            ANSWER(bucket_value(sk, -1, j));
    }
    seen += sk->zero;
    while (i < n && rank < seen)
        ANSWER(bucket_value(sk, 0, 0));
    for (int64_t j = pos->lo; pos->total > 0 && j <= pos->hi && i < n; j++) {
        seen += pos->counts[j - pos->offset];
        while (i < n && rank < seen)
            ANSWER(bucket_value(sk, 1, j));
    }
#undef ANSWER
    for (; i < n; i++) /* not reached: the walk passes every rank below count */
        out[i] = sk->max;
    return PH_OK;
}

static void store_merge(ph_sketch_store *dst, const ph_sketch_store *src, ph_sketch_layout *ly)
{
    if (!ly->used)
        return;
    ph_sketch_layout_apply(dst, ly);
    for (int64_t j = src->lo; j <= src->hi; j++) {
        uint64_t c = src->counts[j - src->offset];
        if (c)
            *ph_sketch_slot(dst, j < ly->lo ? ly->lo : j) += c;
    }
    dst->total += src->total;
}

int ph_sketch_merge(ph_sketch *dst, const ph_sketch *src)
{
    ph_sketch_layout neg = {.used = false}, pos = {.used = false};
    int rc = PH_OK;
    /* same max_buckets too: collapsing at another width would not be the single-sketch result */
    if (dst == src || dst->alpha != src->alpha || dst->max_buckets != src->max_buckets)
        return PH_EINVAL;
    if (src->count == 0)
        return PH_OK;
    if (src->count > UINT64_MAX - dst->count)
        return PH_ERANGE;
    if (src->neg.total > 0 &&
        (rc = ph_sketch_layout_plan(&dst->neg, dst->max_buckets, src->neg.lo, src->neg.hi, &neg)))
        goto out;
    if (src->pos.total > 0 &&
        (rc = ph_sketch_layout_plan(&dst->pos, dst->max_buckets, src->pos.lo, src->pos.hi, &pos)))
        goto out;
    store_merge(&dst->neg, &src->neg, &neg);
    store_merge(&dst->pos, &src->pos, &pos);
    ph_sketch_merge_summary(dst, src);
out:
    free(neg.fresh); /* NULL once applied */
    free(pos.fresh);
    return rc;
}
