/* The plain JSON view, checked character for character. */
#include "test_avro_util.h"

#include "ph_error.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void assert_json(const avro_value_t *v, const char *want)
{
    char errstr[PH_ERRSTR_SIZE] = "";
    char *got = ph_avro_to_json_string(v, errstr, sizeof(errstr));
    if (!got)
        fail_msg("to_json: %s", errstr);
    if (strcmp(got, want) != 0)
        fail_msg("got  %s\nwant %s", got, want);
    free(got);
}

/* A small record: longs, a string, null and non-null unions, an int, a map of doubles with NaN
 * and infinity. */
static void test_metric_window(void **state)
{
    ph_codec *codec = tu_codec();
    avro_value_t v;

    assert_int_equal(ph_codec_value_new(codec, PH_SCHEMA_METRIC_WINDOW, &v), 0);
    assert_int_equal(ph_avro_set_long(&v, "window_start", 1700000000000LL), 0);
    assert_int_equal(ph_avro_set_long(&v, "window_end", 1700000060000LL), 0);
    assert_int_equal(ph_avro_set_string(&v, "granularity", "1m"), 0);
    assert_int_equal(ph_avro_set_string(&v, "app", NULL), 0);
    assert_int_equal(ph_avro_set_string(&v, "environment", "prod \"eu\"\n"), 0);
    assert_int_equal(ph_avro_set_null(&v, "model"), 0);
    assert_int_equal(ph_avro_set_long(&v, "revision", 2), 0);
    assert_int_equal(ph_avro_map_put_double(&v, "metrics", "requests", 120), 0);
    assert_int_equal(ph_avro_map_put_double(&v, "metrics", "error_rate", 0.025), 0);
    assert_int_equal(ph_avro_map_put_double(&v, "metrics", "latency_p99_ms", 1234.5678), 0);
    assert_int_equal(ph_avro_map_put_double(&v, "metrics", "nan", NAN), 0);
    assert_int_equal(ph_avro_map_put_double(&v, "metrics", "inf", -INFINITY), 0);
    assert_int_equal(ph_avro_set_long(&v, "computed_time", -1), 0);

    assert_json(&v, "{\"window_start\":1700000000000,\"window_end\":1700000060000,"
                    "\"granularity\":\"1m\",\"app\":null,\"environment\":\"prod \\\"eu\\\"\\n\","
                    "\"model\":null,\"revision\":2,\"metrics\":{\"requests\":120.0,"
                    "\"error_rate\":0.025,\"latency_p99_ms\":1234.5678,\"nan\":null,"
                    "\"inf\":null},\"computed_time\":-1}");

    /* The tree form holds the same, with exact doubles. */
    json_t *j;
    assert_int_equal(ph_avro_to_json(&v, &j, NULL, 0), 0);
    assert_true(json_real_value(json_object_get(json_object_get(j, "metrics"), "error_rate")) ==
                0.025);
    assert_true(json_is_integer(json_object_get(j, "revision")));
    json_decref(j);

    avro_value_decref(&v);
    ph_codec_destroy(codec);
}

/* Enums as symbols, arrays, a record inside a union, booleans and empty containers. */
static void test_nested(void **state)
{
    ph_codec *codec = tu_codec();
    avro_value_t v, r;

    assert_int_equal(ph_codec_value_new(codec, PH_SCHEMA_INVALID_RECORD, &v), 0);
    assert_int_equal(ph_avro_set_string(&v, "record_id", "r1"), 0);
    assert_int_equal(ph_avro_set_string(&v, "source_topic", "pharos.logs.raw"), 0);
    assert_int_equal(ph_avro_set_long(&v, "source_partition", 3), 0);
    assert_int_equal(ph_avro_set_long(&v, "source_offset", 42), 0);
    assert_int_equal(ph_avro_set_long(&v, "source_timestamp", 1700000000123LL), 0);
    assert_int_equal(ph_avro_set_string(&v, "content_type", "json"), 0);
    assert_int_equal(ph_avro_set_bytes(&v, "original", "{\"x\":\xc3\xa9}", 8), 0);
    assert_int_equal(ph_avro_set_bool(&v, "original_truncated", false), 0);
    assert_int_equal(ph_avro_set_long(&v, "original_size", 8), 0);
    assert_int_equal(ph_avro_append(&v, "reasons", &r), 0);
    assert_int_equal(ph_avro_set_string(&r, "code", "missing_field"), 0);
    assert_int_equal(ph_avro_set_string(&r, "field", "$.messages"), 0);
    assert_int_equal(ph_avro_set_string(&r, "message", "no messages"), 0);
    assert_int_equal(ph_avro_set_string(&v, "ingest_source", "http"), 0);
    assert_int_equal(ph_avro_set_long(&v, "validated_time", 1700000000200LL), 0);
    assert_int_equal(ph_avro_set_string(&v, "validator_version", "0.1.0"), 0);

    assert_json(&v, "{\"record_id\":\"r1\",\"source_topic\":\"pharos.logs.raw\","
                    "\"source_partition\":3,\"source_offset\":42,"
                    "\"source_timestamp\":1700000000123,\"content_type\":\"json\","
                    "\"original\":\"{\\\"x\\\":\xc3\xa9}\",\"original_truncated\":false,"
                    "\"original_size\":8,\"reasons\":[{\"code\":\"missing_field\","
                    "\"field\":\"$.messages\",\"message\":\"no messages\"}],\"warnings\":[],"
                    "\"ingest_source\":\"http\",\"validated_time\":1700000000200,"
                    "\"validator_version\":\"0.1.0\"}");

    /* Bytes that are not UTF-8 (here 0xff 0x00 0x01 0xfe), alone and inside the record. */
    avro_value_t orig;
    assert_int_equal(ph_avro_set_bytes(&v, "original", "\xff\x00\x01\xfe", 4), 0);
    assert_int_equal(ph_avro_get(&v, "original", &orig), 0);
    assert_json(&orig, "{\"base64\":\"/wAB/g==\"}");
    assert_int_equal(ph_avro_set_bytes(&v, "original", "\x00", 1), 0);
    assert_json(&orig, "\"\\u0000\""); /* valid UTF-8, so a string */
    assert_int_equal(ph_avro_set_bytes(&v, "original", "\xff\xfe", 2), 0);
    assert_json(&orig, "{\"base64\":\"//4=\"}");
    assert_int_equal(ph_avro_set_bytes(&v, "original", "", 0), 0);
    assert_json(&orig, "\"\"");
    avro_value_decref(&v);

    /* Alert: enum and labels. */
    assert_int_equal(ph_codec_value_new(codec, PH_SCHEMA_ALERT, &v), 0);
    tu_fill(&v, 1);
    assert_int_equal(ph_avro_set_enum(&v, "state", "FIRING"), 0);
    avro_value_t st;
    assert_int_equal(ph_avro_get(&v, "state", &st), 0);
    assert_json(&st, "\"FIRING\"");
    assert_int_equal(ph_avro_set_enum(&v, "state", "RESOLVED"), 0);
    assert_json(&st, "\"RESOLVED\"");
    avro_value_decref(&v);

    /* LlmLog: a record inside a union, and the union's null. */
    assert_int_equal(ph_codec_value_new(codec, PH_SCHEMA_LLM_LOG, &v), 0);
    tu_fill_llm_log(&v, 1);
    avro_value_t err, errfield;
    assert_int_equal(ph_avro_set_record(&v, "error", &err), 0);
    assert_int_equal(ph_avro_set_string(&err, "type", "rate_limit"), 0);
    assert_int_equal(ph_avro_set_null(&err, "message"), 0);
    assert_int_equal(avro_value_get_by_name(&v, "error", &errfield, NULL), 0);
    assert_json(&errfield, "{\"type\":\"rate_limit\",\"message\":null}");
    assert_int_equal(ph_avro_set_null(&v, "error"), 0);
    assert_json(&errfield, "null");
    avro_value_decref(&v);
    ph_codec_destroy(codec);
}

/* Text that is not UTF-8 still gives valid JSON, by the documented base64 conventions. */
static void test_invalid_utf8(void **state)
{
    ph_codec *codec = tu_codec();
    avro_value_t v, f;

    assert_int_equal(ph_codec_value_new(codec, PH_SCHEMA_ALERT, &v), 0);
    assert_int_equal(ph_avro_map_put_string(&v, "labels", "ok", "\xc3\xa9"), 0);
    assert_int_equal(ph_avro_map_put_string(&v, "labels", "\xff\xfe", "\xfa"), 0);
    assert_int_equal(ph_avro_get(&v, "labels", &f), 0);
    assert_json(&f, "{\"ok\":\"\xc3\xa9\",\"base64://4=\":{\"base64\":\"+g==\"}}");
    avro_value_decref(&v);
    ph_codec_destroy(codec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metric_window),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_invalid_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
