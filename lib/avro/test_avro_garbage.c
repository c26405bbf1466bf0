/* Hostile input: the decoder rejects it cleanly, never crashes, hangs or over-allocates. */
#include "test_avro_util.h"
#include "ph_avro_internal.h"

#include "ph_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct fixture {
    ph_codec *codec;
    ph_avro_encoder *enc;
    ph_avro_decoder *dec;
    unsigned char *msg; /* a valid LlmLog message */
    size_t len;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    avro_value_t v;
    const void *buf;

    f->codec = tu_codec();
    assert_int_equal(ph_avro_encoder_new(&f->enc, f->codec, NULL, 0), 0);
    assert_int_equal(ph_avro_decoder_new(&f->dec, f->codec, NULL, 0), 0);
    assert_int_equal(ph_codec_value_new(f->codec, PH_SCHEMA_LLM_LOG, &v), 0);
    tu_fill(&v, 9); /* every union on its non-null branch: the most structure to damage */
    assert_int_equal(ph_avro_encode(f->enc, PH_SCHEMA_LLM_LOG, &v, &buf, &f->len, NULL, 0), 0);
    f->msg = malloc(f->len);
    memcpy(f->msg, buf, f->len);
    avro_value_decref(&v);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    free(f->msg);
    ph_avro_decoder_destroy(f->dec);
    ph_avro_encoder_destroy(f->enc);
    ph_codec_destroy(f->codec);
    free(f);
    return 0;
}

/* Decodes and requires either success or a clean error with a message. The input is copied to
 * an exact-size heap block so ASan sees any read past its end. */
static int try_decode(struct fixture *f, ph_schema_id id, const void *buf, size_t len, char *errstr,
                      size_t errstr_size)
{
    unsigned char *copy = malloc(len ? len : 1);
    avro_value_t *out = NULL;
    int rc;

    memcpy(copy, buf, len);
    errstr[0] = '\0';
    rc = ph_avro_decode(f->dec, id, copy, len, &out, errstr, errstr_size);
    free(copy);
    if (rc == 0) {
        assert_non_null(out);
        char *json = ph_avro_to_json_string(out, NULL, 0); /* whatever came out is usable */
        assert_non_null(json);
        free(json);
    } else {
        assert_true(rc == PH_EINVAL || rc == PH_EAVRO || rc == PH_ENOENT);
        assert_true(errstr[0] != '\0');
        assert_null(out);
    }
    return rc;
}

static void expect_error(struct fixture *f, const void *buf, size_t len, int want_rc,
                         const char *want_msg)
{
    char errstr[PH_ERRSTR_SIZE];
    int rc = try_decode(f, PH_SCHEMA_LLM_LOG, buf, len, errstr, sizeof(errstr));
    if (rc != want_rc || !strstr(errstr, want_msg))
        fail_msg("got %d \"%s\", expected %d \"%s\"", rc, errstr, want_rc, want_msg);
}

static void test_valid_message(void **state)
{
    struct fixture *f = *state;
    char errstr[PH_ERRSTR_SIZE];
    assert_int_equal(try_decode(f, PH_SCHEMA_LLM_LOG, f->msg, f->len, errstr, sizeof(errstr)), 0);
}

static void test_not_single_object(void **state)
{
    struct fixture *f = *state;
    avro_value_t *out;
    char errstr[PH_ERRSTR_SIZE];

    assert_int_equal(
        ph_avro_decode(f->dec, PH_SCHEMA_LLM_LOG, NULL, 0, &out, errstr, sizeof(errstr)),
        PH_EINVAL);
    assert_false(ph_avro_is_single_object(NULL, 10));
    assert_false(ph_avro_is_single_object("\xC3\x01", 2));
    assert_true(ph_avro_is_single_object(f->msg, f->len));

    expect_error(f, "", 0, PH_EINVAL, "not single-object encoded");
    expect_error(f, "{\"record_id\":\"x\"}", 17, PH_EINVAL, "not single-object encoded");
    expect_error(f, "\xC3\x01\x00", 3, PH_EINVAL, "too short for the header");
    expect_error(f, f->msg, PH_AVRO_HEADER_SIZE - 1, PH_EINVAL, "not single-object encoded");

    unsigned char bad[64];
    memcpy(bad, f->msg, sizeof(bad));
    bad[0] = 0xC4;
    expect_error(f, bad, sizeof(bad), PH_EINVAL, "no C3 01 magic");
    bad[0] = 0xC3;
    bad[1] = 0x02;
    expect_error(f, bad, sizeof(bad), PH_EINVAL, "no C3 01 magic");
}

static void test_unknown_fingerprint(void **state)
{
    struct fixture *f = *state;
    unsigned char *m = malloc(f->len);
    char want[64];

    memcpy(m, f->msg, f->len);
    m[9] ^= 0x80;
    uint64_t fp;
    assert_int_equal(ph_avro_peek_fingerprint(m, f->len, &fp), 0);
    snprintf(want, sizeof(want), "unknown writer schema fingerprint 0x%016llx",
             (unsigned long long)fp);
    expect_error(f, m, f->len, PH_ENOENT, want);
    free(m);
}

static void test_truncated(void **state)
{
    struct fixture *f = *state;
    /* Every proper prefix that still has the header is a truncated body. */
    expect_error(f, f->msg, PH_AVRO_HEADER_SIZE, PH_EINVAL, "truncated body");
    for (size_t n = PH_AVRO_HEADER_SIZE; n < f->len; n++) {
        char errstr[PH_ERRSTR_SIZE];
        int rc = try_decode(f, PH_SCHEMA_LLM_LOG, f->msg, n, errstr, sizeof(errstr));
        if (rc != PH_EINVAL || !strstr(errstr, "truncated body"))
            fail_msg("prefix of %zu bytes: %d %s", n, rc, errstr);
    }
}

static void test_trailing_bytes(void **state)
{
    struct fixture *f = *state;
    unsigned char *m = malloc(f->len + 3);
    memcpy(m, f->msg, f->len);
    memcpy(m + f->len, "\x00\x01\x02", 3);
    expect_error(f, m, f->len + 1, PH_EINVAL, "trailing bytes (1 after the body)");
    expect_error(f, m, f->len + 3, PH_EINVAL, "trailing bytes (3 after the body)");
    free(m);
}

/* Each single bit flipped anywhere in the message. */
static void test_bit_flips(void **state)
{
    struct fixture *f = *state;
    unsigned char *m = malloc(f->len);
    int ok = 0, failed = 0;

    for (size_t bit = 0; bit < f->len * 8; bit++) {
        char errstr[PH_ERRSTR_SIZE];
        memcpy(m, f->msg, f->len);
        m[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        if (try_decode(f, PH_SCHEMA_LLM_LOG, m, f->len, errstr, sizeof(errstr)) == 0)
            ok++;
        else
            failed++;
    }
    print_message("bit flips: %d decoded, %d rejected\n", ok, failed);
    assert_true(failed > 0);
    free(m);
}

/* xorshift: deterministic, so a failure can be replayed. */
static uint32_t rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void test_random(void **state)
{
    struct fixture *f = *state;
    uint32_t seed = 0x9e3779b9;
    unsigned char buf[2048];

    for (int i = 0; i < 20000; i++) {
        char errstr[PH_ERRSTR_SIZE];
        size_t len = rnd(&seed) % sizeof(buf);
        for (size_t k = 0; k < len; k++)
            buf[k] = (unsigned char)rnd(&seed);
        if (i % 2 && len >= PH_AVRO_HEADER_SIZE) /* known header, random body */
            memcpy(buf, f->msg, PH_AVRO_HEADER_SIZE);
        if (i % 4 == 3 && len > 64) /* valid start, random end */
            memcpy(buf, f->msg, len / 2 < f->len ? len / 2 : f->len);
        try_decode(f, (ph_schema_id)(i % PH_SCHEMA_COUNT), buf, len, errstr, sizeof(errstr));
    }
    /* Random mutations of a valid message: overwrite a few bytes. */
    unsigned char *m = malloc(f->len);
    for (int i = 0; i < 20000; i++) {
        char errstr[PH_ERRSTR_SIZE];
        memcpy(m, f->msg, f->len);
        for (int k = 0; k < 1 + i % 4; k++)
            m[PH_AVRO_HEADER_SIZE + rnd(&seed) % (f->len - PH_AVRO_HEADER_SIZE)] =
                (unsigned char)rnd(&seed);
        try_decode(f, PH_SCHEMA_LLM_LOG, m, f->len, errstr, sizeof(errstr));
    }
    free(m);
}

/* Lengths and counts that promise far more than the input holds are caught before avro-c
 * allocates or loops. */
static void test_huge_claims(void **state)
{
    struct fixture *f = *state;
    unsigned char m[64];

    memcpy(m, f->msg, PH_AVRO_HEADER_SIZE);
    /* record_id (the first field) with a length of 2^40 */
    const unsigned char big_len[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 'a', 'b'};
    memcpy(m + PH_AVRO_HEADER_SIZE, big_len, sizeof(big_len));
    expect_error(f, m, PH_AVRO_HEADER_SIZE + sizeof(big_len), PH_EINVAL, "truncated body");
    /* a negative length */
    m[PH_AVRO_HEADER_SIZE] = 0x01;
    expect_error(f, m, PH_AVRO_HEADER_SIZE + 4, PH_EINVAL, "negative length");
    /* an over-long varint */
    memset(m + PH_AVRO_HEADER_SIZE, 0xff, 20);
    expect_error(f, m, PH_AVRO_HEADER_SIZE + 20, PH_EINVAL, "varint too long");
}

static void scan_expect(avro_schema_t s, const void *buf, size_t len, const char *want)
{
    char errstr[PH_ERRSTR_SIZE] = "";
    int rc = ph_avro_scan(s, buf, len, errstr, sizeof(errstr));
    if (want ? (rc != PH_EINVAL || !strstr(errstr, want)) : rc != 0)
        fail_msg("scan: %d %s (expected %s)", rc, errstr, want ? want : "success");
}

/* Schemas Pharos does not have but a registered writer might: zero-size items, recursion,
 * enums, booleans, fixed. Checked on the scanner directly. */
static void test_scan_limits(void **state)
{
    const char *json =
        "{\"type\":\"record\",\"name\":\"Node\",\"fields\":["
        "{\"name\":\"nulls\",\"type\":{\"type\":\"array\",\"items\":\"null\"}},"
        "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}},"
        "{\"name\":\"b\",\"type\":\"boolean\"},"
        "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}},"
        "{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}";
    avro_schema_t s;
    assert_int_equal(avro_schema_from_json_length(json, strlen(json), &s), 0);

    /* nulls: [] (0), e: B (2), b: true, f: "xy", next: null */
    scan_expect(s, "\x00\x02\x01xy\x00", 6, NULL);
    /* 2^62 nulls in one block (varint of zig-zag 2^63): refused, not looped over. */
    scan_expect(s, "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01\x00", 11,
                "more items than the input can hold");
    /* A block of -3 items with its byte size, then the end. */
    scan_expect(s, "\x05\x00\x00\x02\x01xy\x00", 8, NULL);
    scan_expect(s, "\x00\x04\x01xy\x00", 6, "enum index out of range");
    scan_expect(s, "\x00\x02\x02xy\x00", 6, "boolean is neither 0 nor 1");
    scan_expect(s, "\x00\x02\x01x", 4, "truncated body");
    scan_expect(s, "\x00\x02\x01xy\x04", 6, "union branch out of range");

    /* Nesting deeper than the limit: each level is a union branch 1 followed by a record. */
    size_t levels = 200, n = 0;
    unsigned char *deep = malloc(levels * 6 + 8);
    for (size_t i = 0; i < levels; i++) {
        memcpy(deep + n, "\x00\x02\x01xy", 5);
        n += 5;
        deep[n++] = i + 1 < levels ? 0x02 : 0x00;
    }
    scan_expect(s, deep, n, "nested too deeply");
    /* A modest depth is fine. */
    n = 0;
    for (size_t i = 0; i < 10; i++) {
        memcpy(deep + n, "\x00\x02\x01xy", 5);
        n += 5;
        deep[n++] = i + 1 < 10 ? 0x02 : 0x00;
    }
    scan_expect(s, deep, n, NULL);
    free(deep);
    avro_schema_decref(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_message),
        cmocka_unit_test(test_not_single_object),
        cmocka_unit_test(test_unknown_fingerprint),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_huge_claims),
        cmocka_unit_test(test_scan_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
