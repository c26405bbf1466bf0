/* The sketch's portable byte format (docs/sketch.md), version 1:
 *
 *   u8      format version (1)
 *   f64     alpha
 *   uvarint max_buckets
 *   uvarint count
 *   f64     sum, f64 min, f64 max           only when count > 0
 *   uvarint zero-bucket count
 *   store   negative, then store positive:
 *     uvarint non-empty buckets n
 *     n > 0:  svarint first index, uvarint its count,
 *             then n - 1 times: uvarint gap to the next non-empty index (>= 1), uvarint count (>=
 * 1)
 *
 * f64 is IEEE-754 binary64 little-endian; uvarint is LEB128 (7 bits a byte, low first, at most
 * 10 bytes, no superfluous trailing zero byte); svarint is a zigzag-mapped uvarint. Every field
 * has exactly one encoding, so a blob that decodes re-encodes to the same bytes.
 *
 * The decoder trusts nothing: blobs come from a database that disks, bugs and people may have
 * touched. It checks every length before reading and every invariant the sketch relies on. */
#include "ph_sketch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"
#include "ph_sketch_int.h"

#define FORMAT_VERSION 1
#define VARINT_MAX     10 /* bytes of a uint64 */

typedef struct reader {
    const uint8_t *p;
    size_t left;
} reader;

static void put_u64le(uint8_t **p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        *(*p)++ = (uint8_t)(v >> (8 * i));
}

static void put_f64(uint8_t **p, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof(v));
    put_u64le(p, v);
}

static void put_uvar(uint8_t **p, uint64_t v)
{
    while (v >= 0x80) {
        *(*p)++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *(*p)++ = (uint8_t)v;
}

static void put_svar(uint8_t **p, int64_t v)
{
    put_uvar(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static int get_u8(reader *r, uint8_t *v)
{
    if (r->left < 1)
        return -1;
    *v = *r->p++;
    r->left--;
    return 0;
}

static int get_f64(reader *r, double *d)
{
    if (r->left < 8)
        return -1;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    memcpy(d, &v, sizeof(*d));
    r->p += 8;
    r->left -= 8;
    return 0;
}

/* Fails on truncation, on more than 64 bits and on a superfluous trailing zero byte. */
static int get_uvar_long(reader *r, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < VARINT_MAX && i < r->left; i++) {
        uint8_t b = r->p[i];
        if (i == VARINT_MAX - 1 && b > 1)
            return -1;
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (b == 0 && i > 0)
                return -1;
            r->p += i + 1;
            r->left -= i + 1;
            *v = x;
            return 0;
        }
    }
    return -1;
}

/* Most counts and gaps take one byte: that case inline, the rest above. */
static inline int get_uvar(reader *r, uint64_t *v)
{
    if (r->left > 0 && r->p[0] < 0x80) {
        *v = *r->p++;
        r->left--;
        return 0;
    }
    return get_uvar_long(r, v);
}

static int get_svar(reader *r, int64_t *v)
{
    uint64_t u;
    if (get_uvar(r, &u))
        return -1;
    *v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    return 0;
}

static size_t store_nonempty(const ph_sketch_store *st)
{
    size_t n = 0;
    for (int64_t j = st->lo; st->total > 0 && j <= st->hi; j++)
        n += st->counts[j - st->offset] != 0;
    return n;
}

static void put_store(uint8_t **p, const ph_sketch_store *st)
{
    put_uvar(p, store_nonempty(st));
    int64_t prev = 0;
    for (int64_t j = st->lo; st->total > 0 && j <= st->hi; j++) {
        uint64_t c = st->counts[j - st->offset];
        if (!c)
            continue;
        if (j == st->lo)
            put_svar(p, j);
        else
            put_uvar(p, (uint64_t)(j - prev));
        put_uvar(p, c);
        prev = j;
    }
}

int ph_sketch_encode(const ph_sketch *sk, uint8_t **buf, size_t *len)
{
    size_t buckets = store_nonempty(&sk->neg) + store_nonempty(&sk->pos);
    /* header, then at most two varints per bucket */
    size_t cap = 1 + 8 + 3 * VARINT_MAX + 3 * 8 + 2 * VARINT_MAX + 2 * VARINT_MAX * buckets;
    uint8_t *b = malloc(cap);
    if (!b)
        return PH_ENOMEM;
    uint8_t *p = b;
    *p++ = FORMAT_VERSION;
    put_f64(&p, sk->alpha);
    put_uvar(&p, sk->max_buckets);
    put_uvar(&p, sk->count);
    if (sk->count > 0) {
        put_f64(&p, sk->sum);
        put_f64(&p, sk->min);
        put_f64(&p, sk->max);
    }
    put_uvar(&p, sk->zero);
    put_store(&p, &sk->neg);
    put_store(&p, &sk->pos);
    *len = (size_t)(p - b);
    uint8_t *shrunk = realloc(b, *len); /* keep the larger block if even that fails */
    *buf = shrunk ? shrunk : b;
    return PH_OK;
}

/* Buckets of a store kept from the checking walk, so that applying them does not decode the
 * varints again; a store with more buckets than this is walked a second time instead. */
#define KEPT_BUCKETS 256

typedef struct bucket {
    int64_t index;
    uint64_t count;
} bucket;

/* One store of a blob, walked and checked but not yet applied: its buckets are the bytes
 * [p, end), n of them (n > 0 when total > 0), spanning lo..hi; the first KEPT_BUCKETS of them
 * also decoded in kept[]. */
typedef struct blob_store {
    const uint8_t *p, *end;
    uint64_t n, total;
    int64_t lo, hi;
    bucket kept[KEPT_BUCKETS];
} blob_store;

/* A checked blob: the header in shape (alpha and limits; count, sum, min, max, zero and the two
 * stores' totals, so that check_summary applies to it; no buckets allocated) and its stores. */
typedef struct blob {
    ph_sketch shape;
    blob_store neg, pos;
} blob;

/* Reads the next bucket of a store: the first (k == 0) has its index, the next ones a gap. */
static int next_bucket(reader *r, uint64_t k, int64_t *index, uint64_t *count)
{
    if (k == 0) {
        if (get_svar(r, index))
            return -1;
    } else {
        uint64_t gap;
        if (get_uvar(r, &gap))
            return -1;
        *index += (int64_t)gap;
    }
    return get_uvar(r, count);
}

/* Walks one store, checking every bucket, without adding anything anywhere. Returns 0 or -1 with
 * *why set. */
static int walk_store(reader *r, const ph_sketch *shape, blob_store *bs, const char **why)
{
    uint64_t n, c, gap;
    int64_t first = 0, index = 0;
    bs->n = bs->total = 0;
    bs->lo = bs->hi = 0;
    if (get_uvar(r, &n)) {
        *why = "truncated bucket count";
        return -1;
    }
    if (n > shape->max_buckets) {
        *why = "more buckets than max_buckets";
        return -1;
    }
    bs->p = r->p;
    for (uint64_t k = 0; k < n; k++) {
        if (k == 0) {
            if (get_svar(r, &first)) {
                *why = "truncated bucket index";
                return -1;
            }
            index = first;
        } else {
            if (get_uvar(r, &gap)) {
                *why = "truncated bucket gap";
                return -1;
            }
            /* ascending, and the store spans at most max_buckets: nothing collapses here */
            if (gap == 0 || gap > shape->max_buckets - 1 - (uint64_t)(index - first)) {
                *why = "bad bucket gap";
                return -1;
            }
            index += (int64_t)gap;
        }
        if (get_uvar(r, &c) || c == 0 || c > UINT64_MAX - bs->total) {
            *why = "truncated or bad bucket count";
            return -1;
        }
        if (index > shape->index_limit || index < -(int64_t)shape->index_limit) {
            *why = "bucket index out of range";
            return -1;
        }
        bs->total += c;
        if (k < KEPT_BUCKETS)
            bs->kept[k] = (bucket){index, c};
    }
    bs->end = r->p;
    bs->n = n;
    bs->lo = first;
    bs->hi = index;
    return 0;
}

/* -1, 0 or +1: the store a value goes to. */
static int category(double v)
{
    if (fabs(v) < PH_SKETCH_MIN_INDEXABLE)
        return 0;
    return v < 0 ? -1 : 1;
}

/* Checks what the rest of the sketch relies on: the counts add up, min and max are finite, in
 * order, and in the lowest and highest non-empty store. */
static const char *check_summary(const ph_sketch *sk)
{
    uint64_t neg = sk->neg.total, pos = sk->pos.total;
    if (neg > sk->count || pos > sk->count - neg || sk->zero != sk->count - neg - pos)
        return "bucket counts do not add up to count";
    if (sk->count == 0)
        return NULL;
    /* sums start at +0 and x + -0 is +0, so no sketch has the sum -0: refusing it keeps one
     * encoding per sketch */
    if (isnan(sk->sum) || (sk->sum == 0 && signbit(sk->sum)) || !isfinite(sk->min) ||
        !isfinite(sk->max) || sk->min > sk->max)
        return "bad sum, min or max";
    int lowest = neg ? -1 : sk->zero ? 0 : 1;
    int highest = pos ? 1 : sk->zero ? 0 : -1;
    if (category(sk->min) != lowest || category(sk->max) != highest)
        return "min or max outside the buckets";
    return NULL;
}

/* Reads and checks a whole blob (everything ph_sketch_decode promises to check) without
 * allocating. like (may be NULL): a sketch whose parameters the blob probably shares, to copy
 * them rather than compute them again. Returns 0, or PH_EINVAL with errstr set. */
static int parse(const uint8_t *buf, size_t len, const ph_sketch *like, blob *b, char *errstr,
                 size_t errstr_size)
{
    reader r = {buf, len};
    ph_sketch *sk = &b->shape;
    uint8_t version;
    double alpha;
    uint64_t max_buckets, count;
    const char *why = NULL;
    if (get_u8(&r, &version)) {
        why = "empty";
        goto out;
    }
    if (version != FORMAT_VERSION)
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "sketch format version %u not supported (this build reads %d)", version,
                      FORMAT_VERSION);
    if (get_f64(&r, &alpha) || get_uvar(&r, &max_buckets) || get_uvar(&r, &count)) {
        why = "truncated header";
        goto out;
    }
    if (like && alpha == like->alpha && max_buckets == like->max_buckets) {
        *sk = *like;
        memset(&sk->neg, 0, sizeof(sk->neg));
        memset(&sk->pos, 0, sizeof(sk->pos));
        sk->zero = sk->count = 0;
        sk->sum = sk->min = sk->max = 0;
    } else if (max_buckets > PH_SKETCH_MAX_BUCKETS_MAX ||
               ph_sketch_init(sk, alpha, (size_t)max_buckets) != PH_OK) {
        why = "alpha or max_buckets out of range";
        goto out;
    }
    sk->count = count;
    if (count > 0 && (get_f64(&r, &sk->sum) || get_f64(&r, &sk->min) || get_f64(&r, &sk->max))) {
        why = "truncated summary";
        goto out;
    }
    if (get_uvar(&r, &sk->zero)) {
        why = "truncated zero count";
        goto out;
    }
    if (walk_store(&r, sk, &b->neg, &why) || walk_store(&r, sk, &b->pos, &why))
        goto out;
    sk->neg.total = b->neg.total;
    sk->pos.total = b->pos.total;
    if ((why = check_summary(sk)))
        goto out;
    if (r.left > 0)
        why = "trailing bytes";
out:
    if (why)
        return ph_err(errstr, errstr_size, PH_EINVAL, "corrupt sketch (%s, byte %zu of %zu)", why,
                      len - r.left, len);
    return PH_OK;
}

/* Adds a checked blob's buckets and summary to dst (same alpha and max_buckets): the layouts of
 * both stores are planned (and allocated) first, so that dst is unchanged on PH_ENOMEM. */
static int apply(ph_sketch *dst, const blob *b)
{
    const ph_sketch *src = &b->shape;
    ph_sketch_layout ly[2] = {{.used = false}, {.used = false}};
    ph_sketch_store *st[2] = {&dst->neg, &dst->pos};
    const blob_store *bs[2] = {&b->neg, &b->pos};
    int rc = PH_OK;
    if (src->count == 0)
        return PH_OK;
    if (src->count > UINT64_MAX - dst->count)
        return PH_ERANGE;
    for (int i = 0; i < 2 && rc == PH_OK; i++)
        if (bs[i]->total > 0)
            rc = ph_sketch_layout_plan(st[i], dst->max_buckets, bs[i]->lo, bs[i]->hi, &ly[i]);
    if (rc != PH_OK)
        goto out;
    for (int i = 0; i < 2; i++) {
        if (!ly[i].used)
            continue;
        ph_sketch_layout_apply(st[i], &ly[i]);
        int64_t bottom = ly[i].lo;
        if (bs[i]->n <= KEPT_BUCKETS) {
            for (uint64_t k = 0; k < bs[i]->n; k++) {
                const bucket *x = &bs[i]->kept[k];
                *ph_sketch_slot(st[i], x->index < bottom ? bottom : x->index) += x->count;
            }
        } else {
            /* checked by parse: this walk cannot fail */
            reader r = {bs[i]->p, (size_t)(bs[i]->end - bs[i]->p)};
            int64_t index = 0;
            uint64_t c = 0;
            for (uint64_t k = 0; k < bs[i]->n && next_bucket(&r, k, &index, &c) == 0; k++)
                *ph_sketch_slot(st[i], index < bottom ? bottom : index) += c;
        }
        st[i]->total += bs[i]->total;
    }
    ph_sketch_merge_summary(dst, src);
out:
    free(ly[0].fresh); /* NULL once applied */
    free(ly[1].fresh);
    return rc;
}

int ph_sketch_decode(const uint8_t *buf, size_t len, ph_sketch **out, char *errstr,
                     size_t errstr_size)
{
    blob b;
    ph_sketch *sk = NULL;
    int rc = parse(buf, len, NULL, &b, errstr, errstr_size);
    if (rc == PH_OK)
        rc = ph_sketch_new(&sk, b.shape.alpha, b.shape.max_buckets);
    if (rc == PH_OK)
        rc = apply(sk, &b);
    if (rc == PH_OK) {
        *out = sk;
        sk = NULL;
    }
    ph_sketch_destroy(sk);
    return rc;
}

int ph_sketch_merge_encoded(ph_sketch *dst, const uint8_t *buf, size_t len, char *errstr,
                            size_t errstr_size)
{
    blob b;
    int rc = parse(buf, len, dst, &b, errstr, errstr_size);
    if (rc != PH_OK)
        return rc;
    if (b.shape.alpha != dst->alpha || b.shape.max_buckets != dst->max_buckets)
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "sketch of alpha %g, %zu buckets cannot merge into alpha %g, %zu buckets",
                      b.shape.alpha, b.shape.max_buckets, dst->alpha, dst->max_buckets);
    return apply(dst, &b);
}
