/* libFuzzer harness for the sketch decoder: any bytes, as a stored sketch BLOB.
 *
 * Beyond "does not crash" it checks the promises of ph_sketch.h and aborts when one breaks:
 *   - the result is 0 or PH_EINVAL (with a reason), never anything else;
 *   - a decoded sketch re-encodes to exactly the input (the format has one encoding per sketch);
 *   - its quantiles answer, in order, within [min, max];
 *   - it merges into an empty sketch of its parameters and gives the same bytes back.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ph_sketch *sk = NULL, *copy = NULL;
    char errstr[PH_ERRSTR_SIZE] = "";
    int rc = ph_sketch_decode(data, size, &sk, errstr, sizeof(errstr));
    if (rc != PH_OK) {
        CHECK(rc == PH_EINVAL && sk == NULL && errstr[0] != '\0');
        return 0;
    }
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
