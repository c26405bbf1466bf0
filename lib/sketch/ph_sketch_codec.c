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
static int get_uvar(reader *r, uint64_t *v)
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

/* Reads one store, feeding its buckets to the sketch. Returns 0, PH_EINVAL (*why says why) or
 * PH_ENOMEM. */
static int get_store(reader *r, ph_sketch *sk, int sign, const char **why)
{
    const ph_sketch_store *st = sign < 0 ? &sk->neg : &sk->pos;
    uint64_t n, c, gap;
    int64_t first = 0, index = 0;
    int rc = PH_EINVAL;
    if (get_uvar(r, &n)) {
        *why = "truncated bucket count";
        goto out;
    }
    if (n > sk->max_buckets) {
        *why = "more buckets than max_buckets";
        goto out;
    }
    for (uint64_t k = 0; k < n; k++) {
        if (k == 0) {
            if (get_svar(r, &first)) {
                *why = "truncated bucket index";
                goto out;
            }
            index = first;
        } else {
            if (get_uvar(r, &gap)) {
                *why = "truncated bucket gap";
                goto out;
            }
            /* ascending, and the store spans at most max_buckets: nothing collapses here */
            if (gap == 0 || gap > sk->max_buckets - 1 - (uint64_t)(index - first)) {
                *why = "bad bucket gap";
                goto out;
            }
            index += (int64_t)gap;
        }
        if (get_uvar(r, &c) || c == 0 || c > UINT64_MAX - st->total) {
            *why = "truncated or bad bucket count";
            goto out;
        }
        int added = ph_sketch_add_bucket(sk, sign, index, c);
        if (added != PH_OK) {
            if (added == PH_EINVAL)
                *why = "bucket index out of range";
            rc = added;
            goto out;
        }
    }
    rc = PH_OK;
out:
    return rc;
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

int ph_sketch_decode(const uint8_t *buf, size_t len, ph_sketch **out, char *errstr,
                     size_t errstr_size)
{
    reader r = {buf, len};
    ph_sketch *sk = NULL;
    uint8_t version;
    double alpha;
    uint64_t max_buckets, count;
    const char *why = NULL;
    int rc = PH_EINVAL;
    if (get_u8(&r, &version)) {
        why = "empty";
        goto out;
    }
    if (version != FORMAT_VERSION) {
        rc = ph_err(errstr, errstr_size, PH_EINVAL,
                    "sketch format version %u not supported (this build reads %d)", version,
                    FORMAT_VERSION);
        goto out;
    }
    if (get_f64(&r, &alpha) || get_uvar(&r, &max_buckets) || get_uvar(&r, &count)) {
        why = "truncated header";
        goto out;
    }
    if (max_buckets > PH_SKETCH_MAX_BUCKETS_MAX ||
        (rc = ph_sketch_new(&sk, alpha, (size_t)max_buckets)) == PH_EINVAL) {
        rc = PH_EINVAL;
        why = "alpha or max_buckets out of range";
        goto out;
    }
    if (rc)
        goto out;
    rc = PH_EINVAL;
    sk->count = count;
    if (count > 0 && (get_f64(&r, &sk->sum) || get_f64(&r, &sk->min) || get_f64(&r, &sk->max))) {
        why = "truncated summary";
        goto out;
    }
    if (get_uvar(&r, &sk->zero)) {
        why = "truncated zero count";
        goto out;
    }
    if ((rc = get_store(&r, sk, -1, &why)) || (rc = get_store(&r, sk, 1, &why)))
        goto out;
    rc = PH_EINVAL;
    if ((why = check_summary(sk)))
        goto out;
    if (r.left > 0) {
        why = "trailing bytes";
        goto out;
    }
    *out = sk;
    sk = NULL;
    rc = PH_OK;
out:
    if (why)
        ph_err(errstr, errstr_size, rc, "corrupt sketch (%s, byte %zu of %zu)", why, len - r.left,
               len);
    ph_sketch_destroy(sk);
    return rc;
}
