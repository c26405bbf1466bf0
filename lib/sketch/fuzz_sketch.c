/* libFuzzer harness for the sketch decoder: any bytes, as a stored sketch BLOB.
 *
 * Beyond "does not crash" it checks the promises of ph_sketch.h and aborts when one breaks:
 *   - the result is 0 or PH_EINVAL (with a reason), never anything else;
 *   - a decoded sketch re-encodes to exactly the input (the format has one encoding per sketch);
 *   - its quantiles answer, in order, within [min, max];
 *   - it merges into an empty sketch of its parameters and gives the same bytes back;
 *   - merging the bytes (ph_sketch_merge_encoded) into a sketch holding other values gives what
 *     decoding and ph_sketch_merge give, and bytes that do not decode are refused by it too,
 *     leaving its destination unchanged.
 *
 * Built as its own binary with -DPHAROS_FUZZ=ON and clang (see CMakeLists.txt); the sketch.codec
 * test links this file too and feeds it thousands of mutated encodings in every build. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"
#include "ph_sketch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t ph_fuzz_sketch_decoded(void);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_sketch: %s:%d: broken promise: %s\n", __FILE__, __LINE__,        \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static size_t decoded;

size_t ph_fuzz_sketch_decoded(void)
{
    return decoded;
}

static void check_same_bytes(const ph_sketch *sk, const uint8_t *data, size_t size)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    CHECK(ph_sketch_encode(sk, &buf, &len) == PH_OK);
    CHECK(len == size && memcmp(buf, data, size) == 0);
    free(buf);
}

/* A sketch with a few values spread over both stores and the zero bucket, so that merges into
 * it move and, with few buckets, collapse its stores. */
static ph_sketch *base(double alpha, size_t max_buckets)
{
    static const double v[] = {0, 1, -3, 1e6, 2.5e-4, -7e9};
    ph_sketch *sk = NULL;
    CHECK(ph_sketch_new(&sk, alpha, max_buckets) == PH_OK);
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        CHECK(ph_sketch_add(sk, v[i]) == PH_OK);
    return sk;
}

static void check_merge_encoded(const ph_sketch *sk, const uint8_t *data, size_t size)
{
    char errstr[PH_ERRSTR_SIZE] = "";
    if (!sk) {
        ph_sketch *dst = base(0.01, 2048);
        uint8_t *before = NULL, *after = NULL;
        size_t n_before = 0, n_after = 0;
        CHECK(ph_sketch_encode(dst, &before, &n_before) == PH_OK);
        CHECK(ph_sketch_merge_encoded(dst, data, size, errstr, sizeof(errstr)) == PH_EINVAL);
        CHECK(errstr[0] != '\0');
        CHECK(ph_sketch_encode(dst, &after, &n_after) == PH_OK);
        CHECK(n_before == n_after && memcmp(before, after, n_before) == 0);
        free(before);
        free(after);
        ph_sketch_destroy(dst);
        return;
    }
    ph_sketch *want = base(ph_sketch_alpha(sk), ph_sketch_max_buckets(sk));
    ph_sketch *got = base(ph_sketch_alpha(sk), ph_sketch_max_buckets(sk));
    int rc_want = ph_sketch_merge(want, sk);
    int rc_got = ph_sketch_merge_encoded(got, data, size, errstr, sizeof(errstr));
    CHECK(rc_want == rc_got && (rc_got == PH_OK || rc_got == PH_ERANGE));
    uint8_t *buf = NULL;
    size_t len = 0;
    CHECK(ph_sketch_encode(want, &buf, &len) == PH_OK);
    check_same_bytes(got, buf, len);
    free(buf);
    ph_sketch_destroy(want);
    ph_sketch_destroy(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ph_sketch *sk = NULL, *copy = NULL;
    char errstr[PH_ERRSTR_SIZE] = "";
    int rc = ph_sketch_decode(data, size, &sk, errstr, sizeof(errstr));
    if (rc != PH_OK) {
        CHECK(rc == PH_EINVAL && sk == NULL && errstr[0] != '\0');
        check_merge_encoded(NULL, data, size);
        return 0;
    }
    check_merge_encoded(sk, data, size);
    decoded++;
    check_same_bytes(sk, data, size);
    if (ph_sketch_count(sk) > 0) {
        double min, max, prev = 0, x;
        CHECK(ph_sketch_min(sk, &min) == PH_OK && ph_sketch_max(sk, &max) == PH_OK);
        for (int k = 0; k <= 20; k++) {
            CHECK(ph_sketch_quantile(sk, k / 20.0, &x) == PH_OK);
            CHECK(x >= min && x <= max && (k == 0 || x >= prev));
            prev = x;
        }
    }
    CHECK(ph_sketch_new(&copy, ph_sketch_alpha(sk), ph_sketch_max_buckets(sk)) == PH_OK);
    CHECK(ph_sketch_merge(copy, sk) == PH_OK);
    check_same_bytes(copy, data, size);
    rc = ph_sketch_add(sk, 12.5); /* a count at 2^64 - 1 refuses, nothing else may */
    CHECK(rc == PH_OK || rc == PH_ERANGE);
    ph_sketch_destroy(copy);
    ph_sketch_destroy(sk);
    return 0;
}
