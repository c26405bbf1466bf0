/* ph_record_check_avro: the rules applied to an LlmLog that arrived as Avro, repairing in place;
 * and ph_invalid_record_fill. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"
#include "ph_record.h"
#include "ph_util.h"
#include "test_support.h"

/* A clean record with something in every field, to be broken one way at a time. */
static const char base_json[] =
    "{\"record_id\":\"r-1\",\"trace_id\":\"t\",\"session_id\":\"s\",\"turn\":2,\"app\":\"a\","
    "\"model\":\"m\",\"start_time\":1767225000000,\"end_time\":1767225000500,"
    "\"messages\":[{\"role\":\"system\",\"content\":\"sys\"},{\"role\":\"user\",\"content\":\"q1\"}"
    ","
    "{\"role\":\"assistant\",\"content\":\"a1\"},{\"role\":\"user\",\"content\":\"q2\"}],"
    "\"output\":\"a2\",\"context\":[{\"id\":\"d1\",\"content\":\"c1\",\"score\":0.5},\"c2\",\"c3\"]"
    ","
    "\"input_tokens\":10,\"output_tokens\":5,\"cost_usd\":0.01,"
    "\"metadata\":{\"k1\":\"v1\",\"k2\":\"v2\"},\"tags\":[\"x\",\"y\"]}";

static ts_fx *fx_new(const ph_rules_config *cfg)
{
    ts_fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(ts_fx_init(f, "llm_log", cfg), 0);
    /* built with default rules, then judged with cfg's */
    ph_rules *dflt = NULL;
    assert_int_equal(ph_rules_new(&dflt, NULL, NULL, 0), 0);
    ph_issues_clear(&f->fatal);
    assert_int_equal(ph_record_from_json(dflt, base_json, strlen(base_json), &f->meta, &f->rec,
                                         &f->fatal, &f->warn),
                     0);
    assert_int_equal(f->warn.n, 0);
    ph_rules_destroy(dflt);
    return f;
}

static void fx_del(ts_fx *f)
{
    ts_fx_free(f);
    free(f);
}

static int check(ts_fx *f)
{
    ph_issues_clear(&f->fatal);
    ph_issues_clear(&f->warn);
    return ph_record_check_avro(f->rules, &f->rec, &f->meta, &f->fatal, &f->warn);
}

/* The value at path (which must exist); for unions the union itself. */
/* (Out-values are initialised: avro-c's accessor macros have a branch clang cannot see through.) */
static avro_value_t at(ts_fx *f, const char *parent, const char *name)
{
    avro_value_t p, v = {NULL, NULL};
    if (parent && *parent)
        assert_int_equal(ts_get(&f->rec, parent, &p), 0);
    else
        p = f->rec;
    assert_int_equal(avro_value_get_by_name(&p, name, &v, NULL), 0);
    return v;
}

/* Sets a string (plain or the string branch of a union) to len bytes of s, which may hold
 * anything, NUL bytes included. */
static void set_bytes(avro_value_t v, const char *s, size_t len)
{
    avro_value_t b = {NULL, NULL};
    char *copy = malloc(len + 1);
    assert_non_null(copy);
    memcpy(copy, s, len);
    copy[len] = '\0';
    if (avro_value_get_type(&v) == AVRO_UNION) {
        assert_int_equal(avro_value_set_branch(&v, 1, &b), 0);
        v = b;
    }
    assert_int_equal(avro_value_set_string_len(&v, copy, len + 1), 0);
    free(copy);
}

static void set_str(avro_value_t v, const char *s)
{
    set_bytes(v, s, strlen(s));
}

static void set_long(avro_value_t v, int64_t x)
{
    avro_value_t b;
    assert_int_equal(avro_value_set_branch(&v, 1, &b), 0);
    assert_int_equal(avro_value_set_long(&b, x), 0);
}

static void set_double(avro_value_t v, double x)
{
    avro_value_t b;
    assert_int_equal(avro_value_set_branch(&v, 1, &b), 0);
    assert_int_equal(avro_value_set_double(&b, x), 0);
}

static void set_null(avro_value_t v)
{
    avro_value_t b;
    assert_int_equal(avro_value_set_branch(&v, 0, &b), 0);
    assert_int_equal(avro_value_set_null(&b), 0);
}

#define EXPECT(list, code, field)                                                                  \
    do {                                                                                           \
        if (!ts_find(&f->list, code, field)) {                                                     \
            ts_dump(f);                                                                            \
            fail_msg("expected %s %s on %s", #list, code, #field);                                 \
        }                                                                                          \
    } while (0)

static void assert_check(ts_fx *f, int rc)
{
    int got = check(f);
    if (got != rc) {
        ts_dump(f);
        fail_msg("check returned %d, expected %d", got, rc);
    }
    assert_int_equal(ts_roundtrip(f->s.iface, &f->rec), 0);
}

static void test_clean_record(void **state)
{
    (void)state;
    ts_fx *f = fx_new(NULL);
    assert_check(f, 0);
    assert_int_equal(f->warn.n, 0);
    assert_int_equal(f->fatal.n, 0);
    assert_string_equal(ts_str(&f->rec, "record_id"), "r-1");
    assert_true(ts_double(&f->rec, "latency_ms") == 500.0);
    fx_del(f);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    ts_fx *f = fx_new(NULL);
    set_bytes(at(f, "input_messages[1]", "content"),
              "a\xFF"
              "b",
              3);
    set_bytes(at(f, NULL, "model"), "\xC0\xAF", 2);
    assert_check(f, PH_EINVAL);
    EXPECT(fatal, "invalid_utf8", "input_messages[1].content");
    EXPECT(fatal, "invalid_utf8", "model");
    assert_string_equal(ts_str(&f->rec, "input_messages[1].content"), "a\xEF\xBF\xBD"
                                                                      "b");
    fx_del(f);

    ph_rules_config cfg = {.severity = "invalid_utf8=warn"};
    f = fx_new(&cfg);
    set_bytes(at(f, NULL, "output"), "ok\xE2\x82", 4);
    assert_check(f, 0);
    EXPECT(warn, "invalid_utf8", "output");
    assert_string_equal(ts_str(&f->rec, "output"), "ok\xEF\xBF\xBD\xEF\xBF\xBD");
    assert_string_equal(ts_str(&f->rec, "quality_warnings[0].code"), "invalid_utf8");
    fx_del(f);
}

static void test_nul_and_oversized(void **state)
{
    (void)state;
    ph_rules_config cfg = {.max_field_bytes = 16};
    ts_fx *f = fx_new(&cfg);
    set_bytes(at(f, NULL, "model"), "g\0pt", 4);
    set_str(at(f, "input_messages[3]", "content"), "0123456789abcdefXYZ");
    assert_check(f, 0);
    EXPECT(warn, "nul_character", "model");
    EXPECT(warn, "oversized_field", "input_messages[3].content");
    assert_string_equal(ts_str(&f->rec, "model"), "gpt");
    assert_string_equal(ts_str(&f->rec, "input_messages[3].content"), "0123456789abcdef");
    fx_del(f);
}

static void test_numbers(void **state)
{
    (void)state;
    ts_fx *f = fx_new(NULL);
    avro_value_t turn = at(f, NULL, "turn"), b;
    assert_int_equal(avro_value_set_branch(&turn, 1, &b), 0);
    assert_int_equal(avro_value_set_int(&b, 0), 0);
    set_long(at(f, NULL, "input_tokens"), -3);
    set_long(at(f, NULL, "output_tokens"), 200000000);
    set_double(at(f, NULL, "cost_usd"), -1);
    set_double(at(f, NULL, "latency_ms"), NAN);
    set_double(at(f, "context[0]", "score"), INFINITY);
    assert_check(f, 0);
    EXPECT(warn, "negative_value", "turn");
    EXPECT(warn, "negative_value", "input_tokens");
    EXPECT(warn, "impossible_value", "output_tokens");
    EXPECT(warn, "negative_value", "cost_usd");
    EXPECT(warn, "impossible_value", "latency_ms");
    EXPECT(warn, "impossible_value", "context[0].score");
    static const char *const gone[] = {"turn", "input_tokens", "output_tokens", "cost_usd",
                                       "context[0].score"};
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        assert_int_equal(ts_has(&f->rec, gone[i]), 0);
    /* the NaN latency was dropped and then recomputed from the times */
    assert_true(ts_double(&f->rec, "latency_ms") == 500.0);
    fx_del(f);
}

static void test_times(void **state)
{
    (void)state;
    ts_fx *f = fx_new(NULL);
    set_long(at(f, NULL, "start_time"), TS_INGEST_MS + 25 * 3600 * 1000LL);
    set_long(at(f, NULL, "end_time"), 1767225000);
    set_null(at(f, NULL, "latency_ms"));
    assert_check(f, 0);
    EXPECT(warn, "impossible_value", "start_time");
    EXPECT(warn, "impossible_value", "end_time");
    assert_int_equal(ts_has(&f->rec, "start_time"), 0);
    assert_int_equal(ts_has(&f->rec, "end_time"), 0);
    assert_int_equal(ts_has(&f->rec, "latency_ms"), 0);
    fx_del(f);

    f = fx_new(NULL);
    set_long(at(f, NULL, "end_time"), 1767224000000LL);
    set_long(at(f, NULL, "start_time"), 1767225000000LL);
    set_double(at(f, NULL, "latency_ms"), 86400001);
    assert_check(f, 0);
    EXPECT(warn, "impossible_value", "end_time"); /* before start */
    EXPECT(warn, "impossible_value", "latency_ms");
    assert_int_equal(ts_has(&f->rec, "end_time"), 0);
    assert_int_equal(ts_has(&f->rec, "latency_ms"), 0);
    fx_del(f);

    f = fx_new(NULL);
    set_long(at(f, NULL, "start_time"), -5);
    assert_check(f, 0);
    EXPECT(warn, "negative_value", "start_time");
    fx_del(f);
}

static void test_required(void **state)
{
    (void)state;
    ts_fx *f = fx_new(NULL);
    avro_value_t msgs = at(f, NULL, "input_messages");
    assert_int_equal(avro_value_reset(&msgs), 0);
    set_null(at(f, NULL, "output"));
    assert_check(f, PH_EINVAL);
    EXPECT(fatal, "missing_field", "input_messages");
    EXPECT(fatal, "missing_field", "output");
    assert_int_equal(f->fatal.n, 2); /* every problem, not just the first */
    fx_del(f);

    f = fx_new(NULL);
    for (int i = 0; i < 4; i++) {
        char path[32];
        snprintf(path, sizeof(path), "input_messages[%d]", i);
        set_str(at(f, path, "content"), i % 2 ? "" : " \n");
    }
    set_str(at(f, NULL, "output"), "\t");
    assert_check(f, PH_EINVAL);
    EXPECT(fatal, "empty_field", "input_messages");
    EXPECT(fatal, "empty_field", "output");
    fx_del(f);

    /* a failed call needs no output */
    f = fx_new(NULL);
    avro_value_t st = at(f, NULL, "status");
    assert_int_equal(avro_value_set_enum(&st, 1), 0);
    set_null(at(f, NULL, "output"));
    assert_check(f, 0);
    fx_del(f);
}

static void test_ids_and_transport(void **state)
{
    (void)state;
    ts_fx *f = fx_new(NULL);
    set_str(at(f, NULL, "record_id"), "");
    set_str(at(f, NULL, "model"), "");
    set_str(at(f, "context[0]", "id"), "");
    f->meta.record_id = "hdr-9";
    f->meta.app = "token-app";
    f->meta.ingest_source = "otlp";
    f->meta.ingest_time_ms = TS_INGEST_MS + 1;
    /* a client's own quality_warnings are replaced */
    avro_value_t q = at(f, NULL, "quality_warnings"), e, x;
    assert_int_equal(avro_value_append(&q, &e, NULL), 0);
    assert_int_equal(avro_value_get_by_name(&e, "code", &x, NULL), 0);
    assert_int_equal(avro_value_set_string(&x, "forged"), 0);
    assert_int_equal(avro_value_get_by_name(&e, "message", &x, NULL), 0);
    assert_int_equal(avro_value_set_string(&x, "x"), 0);
    set_null(at(f, "quality_warnings[0]", "field"));
    assert_check(f, 0);
    assert_null(ts_find(&f->warn, "empty_field", "record_id")); /* Avro's way to say "none" */
    EXPECT(warn, "empty_field", "model");
    EXPECT(warn, "empty_field", "context[0].id");
    assert_string_equal(ts_str(&f->rec, "record_id"), "hdr-9");
    assert_int_equal(ts_has(&f->rec, "model"), 0);
    assert_string_equal(ts_str(&f->rec, "app"), "token-app");
    assert_string_equal(ts_str(&f->rec, "ingest_source"), "otlp");
    assert_int_equal(ts_long(&f->rec, "ingest_time"), TS_INGEST_MS + 1);
    assert_int_equal(ts_size(&f->rec, "quality_warnings"), 2);
    assert_string_equal(ts_str(&f->rec, "quality_warnings[0].code"), "empty_field");
    fx_del(f);
}

static void test_roles(void **state)
{
    (void)state;
    ts_fx *f = fx_new(NULL);
    set_str(at(f, "input_messages[1]", "role"), "USER");
    set_str(at(f, "input_messages[2]", "role"), "robot");
    assert_check(f, 0);
    EXPECT(warn, "unknown_role", "input_messages[2].role");
    assert_int_equal(f->warn.n, 1);
    assert_string_equal(ts_str(&f->rec, "input_messages[1].role"), "user");
    assert_string_equal(ts_str(&f->rec, "input_messages[2].role"), "robot");
    fx_del(f);
}

static void test_too_many_and_dropped_elements(void **state)
{
    (void)state;
    ph_rules_config cfg = {.max_messages = 2, .max_context = 2};
    ts_fx *f = fx_new(&cfg);
    set_str(at(f, "context[2]", "content"), "");
    avro_value_t tag;
    assert_int_equal(ts_get(&f->rec, "tags[0]", &tag), 0);
    set_str(tag, "");
    assert_check(f, 0);
    EXPECT(warn, "too_many_messages", "input_messages");
    EXPECT(warn, "too_many_context", "context");
    EXPECT(warn, "empty_field", "context[2].content");
    EXPECT(warn, "empty_field", "tags[0]");
    assert_int_equal(ts_size(&f->rec, "input_messages"), 2);
    assert_string_equal(ts_str(&f->rec, "input_messages[0].content"), "a1");
    assert_string_equal(ts_str(&f->rec, "input_messages[1].content"), "q2");
    assert_int_equal(ts_size(&f->rec, "context"), 1);
    assert_string_equal(ts_str(&f->rec, "context[0].content"), "c2");
    assert_int_equal(ts_size(&f->rec, "tags"), 1);
    assert_string_equal(ts_str(&f->rec, "tags[0]"), "y");
    fx_del(f);
}

static void test_metadata_keys(void **state)
{
    (void)state;
    ph_rules_config cfg = {.max_field_bytes = 16};
    ts_fx *f = fx_new(&cfg);
    avro_value_t map = at(f, NULL, "metadata"), v = {NULL, NULL};
    assert_int_equal(avro_value_add(&map, "bad\xFFkey", &v, NULL, NULL), 0);
    set_str(v, "value");
    assert_int_equal(avro_value_add(&map, "a-very-long-key-of-30-bytes!!", &v, NULL, NULL), 0);
    set_str(v, "v\xFE");
    assert_check(f, PH_EINVAL);
    EXPECT(fatal, "invalid_utf8", NULL);
    EXPECT(warn, "oversized_field", NULL);
    assert_int_equal(ts_size(&f->rec, "metadata"), 4);
    assert_string_equal(ts_str(&f->rec, "metadata{k1}"), "v1");
    assert_string_equal(ts_str(&f->rec, "metadata{bad\xEF\xBF\xBDkey}"), "value");
    assert_string_equal(ts_str(&f->rec, "metadata{a-very-long-key-}"), "v\xEF\xBF\xBD");
    fx_del(f);

    f = fx_new(NULL);
    map = at(f, NULL, "metadata");
    assert_int_equal(avro_value_get_by_name(&map, "k2", &v, NULL), 0);
    set_bytes(v, "x\0y", 3);
    assert_check(f, 0);
    EXPECT(warn, "nul_character", "metadata.k2");
    assert_string_equal(ts_str(&f->rec, "metadata{k2}"), "xy");
    fx_del(f);
}

/* A value built by hand, unions never set: they become null and the value encodes. */
static void test_unset_unions(void **state)
{
    (void)state;
    ts_fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(ts_fx_init(f, "llm_log", NULL), 0);
    avro_value_t v, e, x;
    assert_int_equal(avro_value_get_by_name(&f->rec, "record_id", &v, NULL), 0);
    assert_int_equal(avro_value_set_string(&v, "hand-made"), 0);
    assert_int_equal(avro_value_get_by_name(&f->rec, "input_messages", &v, NULL), 0);
    assert_int_equal(avro_value_append(&v, &e, NULL), 0);
    assert_int_equal(avro_value_get_by_name(&e, "role", &x, NULL), 0);
    assert_int_equal(avro_value_set_string(&x, "user"), 0);
    assert_int_equal(avro_value_get_by_name(&e, "content", &x, NULL), 0);
    assert_int_equal(avro_value_set_string(&x, "hello"), 0);
    assert_int_equal(avro_value_get_by_name(&f->rec, "status", &v, NULL), 0);
    assert_int_equal(avro_value_set_enum(&v, 1), 0);
    int rc = check(f);
    if (rc) {
        ts_dump(f);
        fail_msg("rc %d", rc);
    }
    assert_int_equal(ts_roundtrip(f->s.iface, &f->rec), 0);
    assert_int_equal(ts_has(&f->rec, "trace_id"), 0);
    assert_int_equal(ts_has(&f->rec, "input_messages[0].name"), 0);
    fx_del(f);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    ts_fx *f = fx_new(NULL);
    assert_int_equal(ph_record_check_avro(NULL, &f->rec, &f->meta, &f->fatal, &f->warn), PH_EINVAL);
    assert_int_equal(ph_record_check_avro(f->rules, NULL, &f->meta, &f->fatal, &f->warn),
                     PH_EINVAL);
    assert_int_equal(ph_record_check_avro(f->rules, &f->rec, NULL, &f->fatal, &f->warn), 0);
    assert_string_equal(ts_str(&f->rec, "ingest_source"), "kafka");
    fx_del(f);
}

/* ---- InvalidRecord ----------------------------------------------------------------------- */

static void test_invalid_record_fill(void **state)
{
    (void)state;
    ts_fx *f = fx_new(NULL);
    ts_schema inv;
    assert_int_equal(ts_schema_load(&inv, "invalid_record"), 0);
    avro_value_t v;
    assert_int_equal(avro_generic_value_new(inv.iface, &v), 0);

    const char *raw = "{\"messages\":5,\"response\":7,\"turn\":-1}";
    assert_int_equal(ts_judge(f, raw), PH_EINVAL);
    assert_int_equal(f->fatal.n, 2);
    int64_t before = ph_now_ms();
    assert_int_equal(ph_invalid_record_fill(&v, "pharos.logs.raw", 3, 12345, 1767225600123LL,
                                            "json", raw, strlen(raw), 0, "rid-1", "http", &f->fatal,
                                            &f->warn, "0.1.0"),
                     0);
    assert_int_equal(ts_roundtrip(inv.iface, &v), 0);
    assert_string_equal(ts_str(&v, "record_id"), "rid-1");
    assert_string_equal(ts_str(&v, "source_topic"), "pharos.logs.raw");
    assert_int_equal(ts_long(&v, "source_partition"), 3);
    assert_int_equal(ts_long(&v, "source_offset"), 12345);
    assert_int_equal(ts_long(&v, "source_timestamp"), 1767225600123LL);
    assert_string_equal(ts_str(&v, "content_type"), "json");
    avro_value_t orig;
    const void *bytes = NULL;
    size_t size = 0;
    assert_int_equal(ts_get(&v, "original", &orig), 0);
    assert_int_equal(avro_value_get_bytes(&orig, &bytes, &size), 0);
    assert_int_equal(size, strlen(raw));
    assert_memory_equal(bytes, raw, size);
    assert_int_equal(ts_bool(&v, "original_truncated"), 0);
    assert_int_equal(ts_long(&v, "original_size"), strlen(raw));
    assert_int_equal(ts_size(&v, "reasons"), 2);
    assert_string_equal(ts_str(&v, "reasons[0].code"), f->fatal.v[0].code);
    assert_string_equal(ts_str(&v, "reasons[0].field"), f->fatal.v[0].field);
    assert_string_equal(ts_str(&v, "reasons[1].message"), f->fatal.v[1].message);
    assert_int_equal(ts_size(&v, "warnings"), f->warn.n);
    assert_string_equal(ts_str(&v, "warnings[0].code"), "negative_value");
    assert_string_equal(ts_str(&v, "ingest_source"), "http");
    assert_true(ts_long(&v, "validated_time") >= before);
    assert_string_equal(ts_str(&v, "validator_version"), "0.1.0");

    /* cut originals, unknown fields, outside text that is not UTF-8 */
    ph_issues odd;
    ph_issues_init(&odd);
    assert_int_equal(ph_issues_add(&odd, "invalid_json", NULL, "near '\xC3'"), 0);
    assert_int_equal(ph_invalid_record_fill(&v, "topic\xFF", 0, 0, -1, NULL, "\xC3\x28garbage", 9,
                                            4, NULL, NULL, &odd, NULL, NULL),
                     0);
    assert_int_equal(ts_roundtrip(inv.iface, &v), 0);
    assert_int_equal(ts_has(&v, "record_id"), 0);
    assert_string_equal(ts_str(&v, "source_topic"), "topic\xEF\xBF\xBD");
    assert_int_equal(ts_has(&v, "source_timestamp"), 0);
    assert_string_equal(ts_str(&v, "content_type"), "unknown");
    assert_int_equal(ts_get(&v, "original", &orig), 0);
    assert_int_equal(avro_value_get_bytes(&orig, &bytes, &size), 0);
    assert_int_equal(size, 4);
    assert_int_equal(ts_bool(&v, "original_truncated"), 1);
    assert_int_equal(ts_long(&v, "original_size"), 9);
    assert_int_equal(ts_has(&v, "reasons[0].field"), 0);
    assert_string_equal(ts_str(&v, "reasons[0].message"), "near '\xEF\xBF\xBD'");
    assert_int_equal(ts_size(&v, "warnings"), 0);
    assert_int_equal(ts_has(&v, "ingest_source"), 0);
    assert_string_equal(ts_str(&v, "validator_version"), "unknown");

    /* an empty value */
    assert_int_equal(
        ph_invalid_record_fill(&v, "t", 0, 1, 0, "avro", NULL, 0, 10, "", "kafka", &odd, &odd, "v"),
        0);
    assert_int_equal(ts_roundtrip(inv.iface, &v), 0);
    assert_int_equal(ts_long(&v, "original_size"), 0);
    assert_int_equal(ts_has(&v, "record_id"), 0);
    assert_int_equal(ph_invalid_record_fill(NULL, "t", 0, 1, 0, "avro", NULL, 0, 10, NULL, NULL,
                                            NULL, NULL, NULL),
                     PH_EINVAL);
    assert_int_equal(
        ph_invalid_record_fill(&v, "t", 0, 1, 0, "avro", NULL, 5, 10, NULL, NULL, NULL, NULL, NULL),
        PH_EINVAL);
    ph_issues_free(&odd);
    avro_value_decref(&v);
    ts_schema_free(&inv);
    fx_del(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_record),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_nul_and_oversized),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_required),
        cmocka_unit_test(test_ids_and_transport),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_too_many_and_dropped_elements),
        cmocka_unit_test(test_metadata_keys),
        cmocka_unit_test(test_unset_unions),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_invalid_record_fill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
