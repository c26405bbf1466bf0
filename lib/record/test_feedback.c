/* Feedback JSON -> Feedback: fields, aliases, and every error listed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"
#include "ph_record.h"
#include "ph_util.h"
#include "test_support.h"

typedef struct fb {
    ts_schema s;
    avro_value_t v;
    ph_issues errors;
} fb;

static int setup(void **state)
{
    fb *t = calloc(1, sizeof(*t));
    if (!t || ts_schema_load(&t->s, "feedback") || avro_generic_value_new(t->s.iface, &t->v)) {
        free(t);
        return -1;
    }
    ph_issues_init(&t->errors);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    fb *t = *state;
    ph_issues_free(&t->errors);
    avro_value_decref(&t->v);
    ts_schema_free(&t->s);
    free(t);
    return 0;
}

static void dump(const ph_issues *l)
{
    for (size_t i = 0; i < l->n; i++)
        fprintf(stderr, "  %s [%s] %s\n", l->v[i].code, l->v[i].field ? l->v[i].field : "-",
                l->v[i].message);
}

/* Maps text with the given override and assigned id; returns the result code. */
static int map(fb *t, const char *json, const char *app, const char *assigned)
{
    json_error_t jerr;
    json_t *obj = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!obj)
        fail_msg("test JSON does not parse: %s: %s", json, jerr.text);
    ph_issues_clear(&t->errors);
    int rc = ph_feedback_from_json(obj, app, TS_INGEST_MS, assigned, &t->v, &t->errors);
    json_decref(obj);
    if (rc == 0 && ts_roundtrip(t->s.iface, &t->v))
        fail_msg("feedback does not round-trip");
    return rc;
}

#define VALID(json, app, id)                                                                       \
    do {                                                                                           \
        if (map(t, json, app, id) != 0) {                                                          \
            dump(&t->errors);                                                                      \
            fail_msg("expected valid: %s", json);                                                  \
        }                                                                                          \
    } while (0)
#define HAS(code, field)                                                                           \
    do {                                                                                           \
        if (!ts_find(&t->errors, code, field)) {                                                   \
            dump(&t->errors);                                                                      \
            fail_msg("expected error %s on %s", code, field ? field : "(any)");                    \
        }                                                                                          \
    } while (0)

static void test_minimal(void **state)
{
    fb *t = *state;
    VALID("{\"record_id\":\"r-1\",\"thumbs\":true}", NULL, "fb-assigned");
    assert_string_equal(ts_str(&t->v, "feedback_id"), "fb-assigned");
    assert_string_equal(ts_str(&t->v, "record_id"), "r-1");
    assert_int_equal(ts_bool(&t->v, "thumbs"), 1);
    assert_int_equal(ts_enum(&t->v, "source"), 0);
    assert_int_equal(ts_long(&t->v, "time"), TS_INGEST_MS);
    assert_int_equal(ts_long(&t->v, "ingest_time"), TS_INGEST_MS);
    static const char *const unset[] = {"trace_id",    "session_id", "app",
                                        "environment", "author_id",  "score",
                                        "label",       "comment",    "corrected_output"};
    for (size_t i = 0; i < sizeof(unset) / sizeof(unset[0]); i++)
        if (ts_has(&t->v, unset[i]) != 0)
            fail_msg("%s is set", unset[i]);
    assert_int_equal(ts_size(&t->v, "metadata"), 0);
}

static void test_all_fields(void **state)
{
    fb *t = *state;
    VALID(
        "{\"feedback_id\":\"f-1\",\"record_id\":\"r\",\"trace_id\":\"t\",\"session_id\":\"s\","
        "\"app\":\"a\",\"environment\":\"prod\",\"source\":\"Reviewer\",\"author_id\":\"rev-7\","
        "\"thumbs\":\"down\",\"score\":0.25,\"label\":\"hallucination\",\"comment\":\"wrong year\","
        "\"corrected_output\":\"It was 1969.\",\"time\":\"2025-12-31T23:00:00Z\","
        "\"metadata\":{\"queue\":\"q1\",\"n\":3},\"ui\":\"web\"}",
        NULL, NULL);
    assert_string_equal(ts_str(&t->v, "feedback_id"), "f-1");
    assert_string_equal(ts_str(&t->v, "trace_id"), "t");
    assert_string_equal(ts_str(&t->v, "session_id"), "s");
    assert_string_equal(ts_str(&t->v, "app"), "a");
    assert_string_equal(ts_str(&t->v, "environment"), "prod");
    assert_int_equal(ts_enum(&t->v, "source"), 1);
    assert_string_equal(ts_str(&t->v, "author_id"), "rev-7");
    assert_int_equal(ts_bool(&t->v, "thumbs"), 0);
    assert_true(ts_double(&t->v, "score") == 0.25);
    assert_string_equal(ts_str(&t->v, "label"), "hallucination");
    assert_string_equal(ts_str(&t->v, "comment"), "wrong year");
    assert_string_equal(ts_str(&t->v, "corrected_output"), "It was 1969.");
    assert_int_equal(ts_long(&t->v, "time"), TS_INGEST_MS - 3600000);
    assert_string_equal(ts_str(&t->v, "metadata{queue}"), "q1");
    assert_string_equal(ts_str(&t->v, "metadata{n}"), "3");
    assert_string_equal(ts_str(&t->v, "metadata{ui}"), "web");
}

static void test_aliases_and_override(void **state)
{
    fb *t = *state;
    VALID("{\"id\":42,\"trace_id\":\"t\",\"env\":\"dev\",\"user_id\":\"u-1\",\"thumbs\":\"UP\","
          "\"app\":\"claimed\",\"time\":1767225000000}",
          "token-app", "ignored");
    assert_string_equal(ts_str(&t->v, "feedback_id"), "42");
    assert_string_equal(ts_str(&t->v, "environment"), "dev");
    assert_string_equal(ts_str(&t->v, "author_id"), "u-1");
    assert_int_equal(ts_bool(&t->v, "thumbs"), 1);
    assert_string_equal(ts_str(&t->v, "app"), "token-app");
    assert_int_equal(ts_long(&t->v, "time"), 1767225000000LL);
    VALID("{\"session_id\":\"s\",\"reviewer_id\":\"r-2\",\"source\":\"user\",\"comment\":\"meh\","
          "\"label\":\"\"}",
          NULL, "x");
    assert_string_equal(ts_str(&t->v, "author_id"), "r-2");
    assert_int_equal(ts_has(&t->v, "label"), 0); /* empty strings count as absent */
    VALID("{\"record_id\":\"r\",\"score\":5}", NULL, "x");
    assert_true(ts_double(&t->v, "score") == 5.0);
    VALID("{\"record_id\":\"r\",\"label\":\"correct\"}", NULL, "x");
}

static void test_errors_all_listed(void **state)
{
    fb *t = *state;
    assert_int_equal(map(t, "{\"comment\":\"\"}", NULL, NULL), PH_EINVAL);
    HAS("missing_field", "feedback_id");
    HAS("missing_field", "record_id");
    HAS("missing_field", "thumbs");
    assert_int_equal(t->errors.n, 3);

    assert_int_equal(map(t,
                         "{\"id\":[1],\"record_id\":{},\"thumbs\":\"sideways\",\"score\":\"5\","
                         "\"source\":\"bot\",\"time\":\"tomorrow\",\"label\":7,\"metadata\":5,"
                         "\"user_id\":\"a\",\"reviewer_id\":\"b\",\"app\":1}",
                         NULL, "x"),
                     PH_EINVAL);
    HAS("wrong_type", "id");
    HAS("wrong_type", "record_id");
    HAS("invalid_value", "thumbs");
    HAS("wrong_type", "score");
    HAS("invalid_value", "source");
    HAS("bad_timestamp", "time");
    HAS("wrong_type", "label");
    HAS("wrong_type", "metadata");
    HAS("conflicting_alias", "reviewer_id");
    HAS("wrong_type", "app");
    assert_null(ts_find(&t->errors, "missing_field", NULL)); /* given, only wrong */

    assert_int_equal(map(t, "{\"record_id\":\"r\",\"thumbs\":1,\"time\":-5}", NULL, "x"),
                     PH_EINVAL);
    HAS("wrong_type", "thumbs");
    HAS("negative_value", "time");
    assert_int_equal(map(t, "{\"record_id\":\"r\",\"comment\":\"a\\u0000b\"}", NULL, "x"),
                     PH_EINVAL);
    HAS("nul_character", "comment");
}

static void test_not_object(void **state)
{
    fb *t = *state;
    assert_int_equal(map(t, "[1]", NULL, "x"), PH_EINVAL);
    HAS("not_object", NULL);
    ph_issues_clear(&t->errors);
    assert_int_equal(ph_feedback_from_json(NULL, NULL, 0, "x", &t->v, &t->errors), PH_EINVAL);
    HAS("not_object", NULL);
    assert_int_equal(ph_feedback_from_json(NULL, NULL, 0, "x", NULL, &t->errors), PH_EINVAL);
}

static void test_ingest_time_now(void **state)
{
    fb *t = *state;
    json_t *obj = json_pack("{s:s, s:b}", "record_id", "r", "thumbs", 1);
    int64_t before = ph_now_ms();
    ph_issues_clear(&t->errors);
    assert_int_equal(ph_feedback_from_json(obj, NULL, 0, "x", &t->v, &t->errors), 0);
    assert_true(ts_long(&t->v, "ingest_time") >= before);
    assert_int_equal(ts_long(&t->v, "time"), ts_long(&t->v, "ingest_time"));
    json_decref(obj);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_minimal),           T(test_all_fields), T(test_aliases_and_override),
        T(test_errors_all_listed), T(test_not_object), T(test_ingest_time_now),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
