/* The byte format: pinned by a hand-built encoding, lossless round trips, and a decoder that
 * refuses every truncation and survives thousands of corrupted blobs fed to the fuzz harness
 * (run under ASan in CI; each blob sits in a buffer of its exact size so that any over-read is
 * caught). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"
#include "ph_sketch.h"
#include "ph_sketch_int.h"
#include "test_sketch_util.h"

#define N_SHAPES 10

/* An independent writer of the format (docs/sketch.md), to build blobs by hand. */
typedef struct blob {
    uint8_t b[256];
    size_t n;
} blob;

static void b_u8(blob *o, uint8_t v)
{
    assert_true(o->n < sizeof(o->b));
    o->b[o->n++] = v;
}

static void b_f64(blob *o, double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    for (int i = 0; i < 8; i++)
        b_u8(o, (uint8_t)(v >> (8 * i)));
}

static void b_uvar(blob *o, uint64_t v)
{
    do {
        b_u8(o, (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0)));
        v >>= 7;
    } while (v);
}

/* Appends uvarints: B_UVARS(&o, 0, 1, 2). */
#define B_UVARS(o, ...)                                                                            \
    b_uvars(o, (const uint64_t[]){__VA_ARGS__},                                                    \
            sizeof((const uint64_t[]){__VA_ARGS__}) / sizeof(uint64_t))

static void b_uvars(blob *o, const uint64_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b_uvar(o, v[i]);
}

static void b_header(blob *o, double alpha, uint64_t max_buckets, uint64_t count, double sum,
                     double min, double max)
{
    o->n = 0;
    b_u8(o, 1);
    b_f64(o, alpha);
    b_uvar(o, max_buckets);
    b_uvar(o, count);
    if (count) {
        b_f64(o, sum);
        b_f64(o, min);
        b_f64(o, max);
    }
}

static ph_sketch *new_sketch(double alpha, size_t max_buckets)
{
    ph_sketch *sk = NULL;
    assert_int_equal(ph_sketch_new(&sk, alpha, max_buckets), 0);
    return sk;
}

static int decode(const uint8_t *buf, size_t len, ph_sketch **out, char *errstr)
{
    /* a copy of exactly len bytes: ASan flags a read past it */
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, buf, len);
    int rc = ph_sketch_decode(copy, len, out, errstr, PH_ERRSTR_SIZE);
    free(copy);
    return rc;
}

static void expect_corrupt(const blob *o, const char *why)
{
    ph_sketch *sk = NULL;
    char errstr[PH_ERRSTR_SIZE] = "";
    assert_int_equal(decode(o->b, o->n, &sk, errstr), PH_EINVAL);
    assert_null(sk);
    if (!strstr(errstr, why))
        fail_msg("expected '%s' in '%s'", why, errstr);
}

/* The format, byte by byte: values 0, 1, 1, 2, -2 at alpha 0.01. Changing the format must change
 * its version. */
static void test_golden_bytes(void **state)
{
    ph_sketch *sk = new_sketch(0.01, 2048);
    const double values[] = {0, 1, 1, 2, -2};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(ph_sketch_add(sk, values[i]), 0);
    static const uint8_t golden[] = {
        0x01,                                           /* version */
        0x7b, 0x14, 0xae, 0x47, 0xe1, 0x7a, 0x84, 0x3f, /* alpha 0.01 */
        0x80, 0x10,                                     /* max_buckets 2048 */
        0x05,                                           /* count */
        0,    0,    0,    0,    0,    0,    0x00, 0x40, /* sum 2 */
        0,    0,    0,    0,    0,    0,    0x00, 0xc0, /* min -2 */
        0,    0,    0,    0,    0,    0,    0x00, 0x40, /* max 2 */
        0x01,                                           /* zero bucket */
        0x01, 0x46, 0x01,             /* negative: 1 bucket, index 35 (zigzag 70), count 1 */
        0x02, 0x00, 0x02, 0x23, 0x01, /* positive: index 0 count 2, gap 35 count 1 */
    };
    uint8_t *buf;
    size_t len;
    assert_int_equal(ph_sketch_encode(sk, &buf, &len), 0);
    assert_int_equal(len, sizeof(golden));
    assert_memory_equal(buf, golden, len);

    blob o;
    b_header(&o, 0.01, 2048, 5, 2, -2, 2);
    b_uvar(&o, 1);
    const uint8_t stores[] = {0x01, 0x46, 0x01, 0x02, 0x00, 0x02, 0x23, 0x01};
    for (size_t i = 0; i < sizeof(stores); i++)
        b_u8(&o, stores[i]);
    assert_int_equal(o.n, len);
    assert_memory_equal(o.b, golden, len);
    free(buf);
    ph_sketch_destroy(sk);
}

/* Sketches of every shape the decoder must restore. */
static ph_sketch *shape(int i)
{
    ph_sketch *sk;
    uint64_t s = 100 + (uint64_t)i;
    switch (i) {
    case 0: /* empty */
        return new_sketch(0.01, 2048);
    case 1: /* zero bucket only */
        sk = new_sketch(0.01, 2048);
        assert_int_equal(ph_sketch_add_n(sk, 0, 5), 0);
        return sk;
    case 2:
        sk = new_sketch(0.01, 2048);
        assert_int_equal(ph_sketch_add(sk, 3.25), 0);
        return sk;
    case 3: /* latencies with zeros and a few negatives */
        sk = new_sketch(0.01, 2048);
        for (int k = 0; k < 5000; k++) {
            double v = k % 20 == 0 ? 0 : rng_lognormal(&s, 200, 1);
            assert_int_equal(ph_sketch_add(sk, k % 50 == 1 ? -v : v), 0);
        }
        return sk;
    case 4: /* both stores collapsed */
        sk = new_sketch(0.01, 16);
        for (int k = 0; k < 2000; k++) {
            double v = rng_lognormal(&s, 1, 5);
            assert_int_equal(ph_sketch_add(sk, k % 3 == 0 ? -v : v), 0);
        }
        return sk;
    case 5: { /* the ends of the double range */
        sk = new_sketch(0.01, 65536);
        const double v[] = {DBL_MAX, -DBL_MAX, DBL_MIN, -DBL_MIN, DBL_TRUE_MIN, 1e-300, -0.0};
        for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++)
            assert_int_equal(ph_sketch_add(sk, v[k]), 0);
        return sk;
    }
    case 6: /* counts that need ten-byte varints */
        sk = new_sketch(0.01, 2048);
        assert_int_equal(ph_sketch_add_n(sk, 1, (uint64_t)1 << 40), 0);
        assert_int_equal(ph_sketch_add_n(sk, 1e6, UINT64_MAX - ((uint64_t)1 << 41)), 0);
        return sk;
    case 7: /* the finest alpha: large indexes */
        sk = new_sketch(1e-6, 65536);
        for (int k = 0; k < 300; k++)
            assert_int_equal(ph_sketch_add(sk, rng_lognormal(&s, 1e100, 0.00001)), 0);
        return sk;
    case 8:
        sk = new_sketch(0.45, 16);
        for (int k = 0; k < 300; k++)
            assert_int_equal(ph_sketch_add(sk, rng_lognormal(&s, 1, 10)), 0);
        return sk;
    default: /* only negatives */
        sk = new_sketch(0.02, 100);
        for (int k = 0; k < 300; k++)
            assert_int_equal(ph_sketch_add(sk, -rng_exponential(&s, 3)), 0);
        return sk;
    }
}

static void test_round_trip(void **state)
{
    for (int i = 0; i < N_SHAPES; i++) {
        ph_sketch *sk = shape(i), *back = NULL;
        uint8_t *buf;
        size_t len;
        char errstr[PH_ERRSTR_SIZE];
        assert_int_equal(ph_sketch_encode(sk, &buf, &len), 0);
        assert_int_equal(decode(buf, len, &back, errstr), 0);
        assert_same_sketch(sk, back, 0);
        assert_same_encoding(sk, back);
        /* the decoded sketch keeps working like the original, collapsing included */
        const double more[] = {1e12, -1e12, 1e-12, 0, 42};
        for (size_t k = 0; k < sizeof(more) / sizeof(more[0]); k++) {
            assert_int_equal(ph_sketch_add(sk, more[k]), 0);
            assert_int_equal(ph_sketch_add(back, more[k]), 0);
        }
        assert_same_sketch(sk, back, 0);
        if (ph_sketch_count(sk) < UINT64_MAX / 2)
            assert_int_equal(ph_sketch_merge(back, sk), 0);
        free(buf);
        ph_sketch_destroy(sk);
        ph_sketch_destroy(back);
    }
}

static void test_truncations_and_trailing_bytes(void **state)
{
    for (int i = 0; i < N_SHAPES; i++) {
        ph_sketch *sk = shape(i), *back = NULL;
        uint8_t *buf;
        size_t len;
        char errstr[PH_ERRSTR_SIZE];
        assert_int_equal(ph_sketch_encode(sk, &buf, &len), 0);
        for (size_t cut = 0; cut < len; cut++) {
            assert_int_equal(decode(buf, cut, &back, errstr), PH_EINVAL);
            assert_null(back);
        }
        uint8_t *longer = malloc(len + 1);
        memcpy(longer, buf, len);
        longer[len] = 0;
        assert_int_equal(decode(longer, len + 1, &back, errstr), PH_EINVAL);
        assert_non_null(strstr(errstr, "trailing"));
        free(longer);
        free(buf);
        ph_sketch_destroy(sk);
    }
}

/* Each invariant the decoder checks, broken on purpose. */
static void test_corrupt_fields(void **state)
{
    blob o;
    b_header(&o, 0.01, 2048, 1, 1, 1, 1);
    o.b[0] = 2;
    expect_corrupt(&o, "version 2");

    b_header(&o, 0.7, 2048, 0, 0, 0, 0);
    B_UVARS(&o, 0, 0, 0);
    expect_corrupt(&o, "out of range");
    b_header(&o, 0.01, (uint64_t)1 << 63, 0, 0, 0, 0);
    B_UVARS(&o, 0, 0, 0);
    expect_corrupt(&o, "out of range");

    b_header(&o, 0.01, 2048, 0, 0, 0, 0);
    o.b[o.n - 1] = 0x80; /* count 0 written in two bytes */
    b_u8(&o, 0);
    B_UVARS(&o, 0, 0, 0);
    expect_corrupt(&o, "truncated header");

    b_header(&o, 0.01, 2048, 3, 3, 1, 1); /* count 3, buckets hold 2 */
    B_UVARS(&o, 0, 0, 1, 0, 2);
    expect_corrupt(&o, "add up");

    b_header(&o, 0.01, 2048, 2, 3, 1, 2);
    B_UVARS(&o, 0, 0, 2, 0, 1);
    B_UVARS(&o, 0, 1); /* gap 0 */
    expect_corrupt(&o, "gap");

    b_header(&o, 0.01, 16, 2, 3, 1, 2);
    B_UVARS(&o, 0, 0, 2, 0, 1);
    B_UVARS(&o, 16, 1); /* spans 17 buckets */
    expect_corrupt(&o, "gap");

    b_header(&o, 0.01, 16, 17, 17, 1, 1);
    B_UVARS(&o, 0, 0, 17); /* more buckets than max_buckets */
    expect_corrupt(&o, "more buckets");

    b_header(&o, 0.01, 2048, 1, 1, 1, 1);
    B_UVARS(&o, 0, 0, 1, 0, 0); /* count 0 */
    expect_corrupt(&o, "bucket count");

    b_header(&o, 0.01, 2048, 1, 1, 1, 1);
    B_UVARS(&o, 0, 0, 1, (uint64_t)1 << 40, 1);
    expect_corrupt(&o, "index out of range");

    b_header(&o, 0.01, 2048, 2, 3, 2, 1); /* min > max */
    B_UVARS(&o, 0, 0, 1, 0, 2);
    expect_corrupt(&o, "min");

    b_header(&o, 0.01, 2048, 1, -0.0, 1, 1); /* no sketch sums to -0 */
    B_UVARS(&o, 0, 0, 1, 0, 1);
    expect_corrupt(&o, "sum");

    b_header(&o, 0.01, 2048, 1, NAN, 1, 1);
    B_UVARS(&o, 0, 0, 1, 0, 1);
    expect_corrupt(&o, "sum");

    b_header(&o, 0.01, 2048, 2, 0, 1, 1); /* a negative bucket, yet min is positive */
    B_UVARS(&o, 0, 1, 0, 1, 1, 0);
    b_uvar(&o, 1);
    expect_corrupt(&o, "outside the buckets");

    b_header(&o, 0.01, 2048, 1, 1, 1, 1); /* only the zero bucket, yet min is positive */
    B_UVARS(&o, 1, 0, 0);
    expect_corrupt(&o, "outside the buckets");
}

/* The libFuzzer harness (fuzz_sketch.c), which aborts when a promise breaks. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t ph_fuzz_sketch_decoded(void);

/* Feeds the harness a blob in a buffer of its exact size, so that ASan sees any over-read. */
static void fuzz_one(const uint8_t *buf, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, buf, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
}

static void test_mutations(void **state)
{
    uint8_t *base[N_SHAPES];
    size_t base_len[N_SHAPES];
    for (int i = 0; i < N_SHAPES; i++) {
        ph_sketch *sk = shape(i);
        assert_int_equal(ph_sketch_encode(sk, &base[i], &base_len[i]), 0);
        ph_sketch_destroy(sk);
    }
    uint64_t s = 2024;
    int runs = 5000;
    for (int run = 0; run < runs; run++) {
        int i = (int)(rng_next(&s) % N_SHAPES);
        size_t len = base_len[i];
        uint8_t *buf = malloc(len + 8);
        memcpy(buf, base[i], len);
        int edits = 1 + (int)(rng_next(&s) % 3);
        for (int e = 0; e < edits && len > 0; e++) {
            size_t at = rng_next(&s) % len;
            switch (rng_next(&s) % 5) {
            case 0: /* flip a bit */
                buf[at] ^= (uint8_t)(1u << (rng_next(&s) % 8));
                break;
            case 1: /* any byte */
                buf[at] = (uint8_t)rng_next(&s);
                break;
            case 2: /* a small number, as varints hold */
                buf[at] = (uint8_t)(rng_next(&s) % 4);
                break;
            case 3: /* insert */
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = (uint8_t)rng_next(&s);
                len++;
                break;
            default: /* delete */
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
                break;
            }
        }
        fuzz_one(buf, len);
        free(buf);
    }
    for (int i = 0; i < N_SHAPES; i++)
        fuzz_one(base[i], base_len[i]);
    /* the mutations must also reach the checks on decoded sketches, not only the refusals */
    size_t decoded = ph_fuzz_sketch_decoded();
    print_message("%zu of %d blobs decoded (and re-encoded identically)\n", decoded,
                  runs + N_SHAPES);
    assert_true(decoded > 100);
    for (int i = 0; i < N_SHAPES; i++)
        free(base[i]);
}

/* Bytes per window, for docs/sketch.md: encoded, and held in memory by the bucket arrays. */
static void measure(const char *name, size_t n, double sigma, size_t max_encoded)
{
    ph_sketch *sk = new_sketch(PH_SKETCH_ALPHA_DEFAULT, PH_SKETCH_MAX_BUCKETS_DEFAULT);
    uint64_t s = 77;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ph_sketch_add(sk, rng_lognormal(&s, 250, sigma)), 0);
    uint8_t *buf;
    size_t len;
    assert_int_equal(ph_sketch_encode(sk, &buf, &len), 0);
    test_bucket *b;
    size_t nb = test_buckets(sk, &b);
    free(b);
    size_t memory = sizeof(*sk) + (sk->neg.len + sk->pos.len) * sizeof(uint64_t);
    print_message("%-28s n %-8zu buckets %-4zu encoded %5zu bytes, in memory %6zu bytes\n", name, n,
                  nb, len, memory);
    assert_true(len <= max_encoded);
    free(buf);
    ph_sketch_destroy(sk);
}

static void test_sizes(void **state)
{
    /* the caps are the ones docs/sketch.md quotes */
    measure("lognormal median 250 s0.5", 1000, 0.5, 400);
    measure("lognormal median 250 s1.5", 1000, 1.5, 800);
    measure("lognormal median 250 s0.5", 1000000, 0.5, 800);
    measure("lognormal median 250 s1.5", 1000000, 1.5, 2048);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_bytes),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_truncations_and_trailing_bytes),
        cmocka_unit_test(test_corrupt_fields),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
