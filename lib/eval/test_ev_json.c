/* json: validity, fenced extraction, the schema subset and its violation paths, bad schemas, odd
 * content, and a run over every record of the shared llm_logs.jsonl (labels per mode, CPU cost).
 * PHAROS_EVAL_PASSES=N repeats the timed pass N times (default 1). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval_test_util.h"
#include "ph_error.h"
#include "ph_eval.h"

extern const ph_evaluator_kind ph_eval_kind_json;
#define KIND ph_eval_kind_json

static void *make(const char *json)
{
    return eval_test_make(&KIND, json);
}

/* create() must refuse json; err gets the reason. */
static void refuses(const char *json, const char *why)
{
    eval_test_refuses(&KIND, json, why);
}

/* Runs st on an output; returns the one result. */
static const ph_eval_result *judge(const void *st, const char *output, ph_eval_sink *sink)
{
    char err[PH_ERRSTR_SIZE];
    ph_eval_record rec = record(NULL, 0, output);
    ph_eval_sink_reset(sink);
    sink->current_name = "json";
    sink->current_version = "1.test";
    assert_int_equal(KIND.evaluate(st, &rec, sink, err, sizeof(err)), 0);
    assert_int_equal(sink->n, 1);
    return sink->results;
}

#define EXPECT(st, output, want_label, want_explanation)                                           \
    do {                                                                                           \
        const ph_eval_result *r_ = judge(st, output, &sink);                                       \
        assert_string_equal(r_->label, want_label);                                                \
        assert_int_equal(r_->passed, strcmp(want_label, "valid_json") == 0);                       \
        if (want_explanation)                                                                      \
            assert_string_equal(r_->explanation, (const char *)want_explanation);                  \
    } while (0)

static void test_validity(void **unused)
{
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    void *st = make("{}");
    EXPECT(st, "{\"a\": [1, 2.5, null, true]}", "valid_json", "valid JSON");
    EXPECT(st, "  \n[]\n ", "valid_json", NULL);
    assert_int_equal(value(judge(st, " [1] ", &sink), "json_bytes"), 3); /* trimmed */
    EXPECT(st, "{\"big\": 123456789012345678901234567890, \"e\": 1e300}", "valid_json", NULL);
    EXPECT(st, "{\"nul\": \"a\\u0000b\", \"caf\\u00e9\": \"\xc3\xa9\xf0\x9f\x98\x80\"}",
           "valid_json", NULL);
    EXPECT(st, "", "no_json", "empty output");
    EXPECT(st, " \n\t ", "no_json", "empty output");
    EXPECT(st, "Sure! Here it is.", "invalid_json",
           "not a JSON object or array (does not start with { or [)");
    EXPECT(st, "42", "invalid_json", NULL);
    EXPECT(st, "{\"a\": 1,}", "invalid_json", "line 1 column 9: syntax error");
    EXPECT(st, "{\"a\": [1, 2", "invalid_json",
           "line 1 column 11: unexpected end of input (truncated?)");
    EXPECT(st, "{\"a\": 1} Hope this helps", "invalid_json",
           "line 1 column 13: text after the JSON value");
    EXPECT(st, "{\"a\": \"\xff\"}", "invalid_json", NULL);
    assert_non_null(strstr(judge(st, "{\"a\": \"\xff\"}", &sink)->explanation, "invalid UTF-8"));
    EXPECT(st, "{\"a\": 1e999}", "invalid_json", NULL);
    /* the explanation never quotes the text (jansson's own message would: "near 'hunter2'") */
    const ph_eval_result *r = judge(st, "{\"password\": hunter2}", &sink);
    assert_string_equal(r->label, "invalid_json");
    assert_null(strstr(r->explanation, "hunter2"));
    /* nesting beyond jansson's limit */
    char deep[5001];
    memset(deep, '[', 5000);
    deep[5000] = '\0';
    EXPECT(st, deep, "invalid_json", NULL);
    KIND.destroy(st);

    st = make("{\"allow_scalar\": true}");
    EXPECT(st, "42", "valid_json", NULL);
    EXPECT(st, "\"text\"", "valid_json", NULL);
    EXPECT(st, "Sure", "invalid_json", NULL);
    KIND.destroy(st);

    /* a failed call with no output is not judged */
    st = make("{}");
    ph_eval_record rec = record(NULL, 0, "");
    rec.is_error = true;
    char err[PH_ERRSTR_SIZE];
    ph_eval_sink_reset(&sink);
    assert_int_equal(KIND.evaluate(st, &rec, &sink, err, sizeof(err)), 0);
    assert_int_equal(sink.results[0].status, PH_EVAL_SKIPPED);
    assert_int_equal(sink.results[0].passed, -1);

    /* a huge valid document: 2 MiB array */
    size_t n = 2u << 20;
    char *huge = malloc(n + 1);
    assert_non_null(huge);
    huge[0] = '[';
    for (size_t i = 1; i < n - 1; i += 2)
        memcpy(huge + i, "1,", 2);
    huge[n - 2] = '1';
    huge[n - 1] = ']';
    huge[n] = '\0';
    EXPECT(st, huge, "valid_json", NULL);
    free(huge);
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
}

static void test_fenced(void **unused)
{
    const char *fenced = "Here you go:\n```json\n{\"a\": 1}\n```\nAnything else?";
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    void *none = make("{\"extract\": \"none\"}");
    void *only = make("{\"extract\": \"fenced\"}");
    void *aut = make("{\"extract\": \"auto\"}");
    EXPECT(none, fenced, "invalid_json", NULL);
    EXPECT(only, fenced, "valid_json", NULL);
    assert_int_equal(value(judge(only, fenced, &sink), "fenced"), 1);
    EXPECT(aut, fenced, "valid_json", NULL);
    EXPECT(only, "{\"a\": 1}", "no_json", "no ```json code block");
    EXPECT(aut, "{\"a\": 1}", "valid_json", NULL);
    assert_int_equal(value(judge(aut, "{\"a\": 1}", &sink), "fenced"), 0);
    /* the first json block; an unlabelled one only when it holds an object or array */
    EXPECT(only, "```python\nx = {}\n```\n```JSON \n[1,\n```", "invalid_json", NULL);
    EXPECT(only, "```\nplain text\n```\n```\n{\"b\": 2}\n```", "valid_json", NULL);
    EXPECT(only, "```\nplain text\n```", "no_json", NULL);
    /* a block left open by a truncated output runs to the end */
    EXPECT(only, "```json\n{\"a\": [1, 2", "invalid_json", NULL);
    EXPECT(only, "```json\n{\"a\": [1, 2]}", "valid_json", NULL);
    EXPECT(only, "```json\n```", "no_json", "empty code block");
    EXPECT(only, "```json", "no_json", "empty code block");
    EXPECT(aut, "````json\n[]\n````", "valid_json", NULL);
    KIND.destroy(none);
    KIND.destroy(only);
    KIND.destroy(aut);
    ph_eval_sink_free(&sink);
}

static void test_schema(void **unused)
{
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    void *st =
        make("{\"schema\": {\"type\": \"object\", \"required\": [\"name\", \"items\"],"
             " \"additionalProperties\": false,"
             " \"properties\": {"
             "  \"name\": {\"type\": \"string\"},"
             "  \"status\": {\"enum\": [\"open\", \"closed\", 1]},"
             "  \"count\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 10},"
             "  \"note\": {\"type\": [\"string\", \"null\"]},"
             "  \"first name\": {\"type\": \"string\"},"
             "  \"forbidden\": false,"
             "  \"meta\": {\"type\": \"object\", \"additionalProperties\": {\"type\": \"string\"}},"
             "  \"items\": {\"type\": \"array\", \"items\": {\"type\": \"object\","
             "     \"required\": [\"price\"], \"properties\": {\"price\": {\"type\": \"number\","
             "     \"minimum\": 0}}}}}}}");
    EXPECT(st,
           "{\"name\": \"x\", \"items\": [{\"price\": 1.5}, {\"price\": 0}], \"count\": 3.0,"
           " \"status\": 1.0, \"note\": null, \"meta\": {\"k\": \"v\"}}",
           "valid_json", "valid JSON, conforms to the schema");
    assert_int_equal(judge(st, "{\"name\": \"x\", \"items\": []}", &sink)->passed, 1);
    EXPECT(st, "[1]", "schema_violation", "$: expected object, got array");
    EXPECT(st, "{\"items\": []}", "schema_violation", "$.name: required property missing");
    EXPECT(st, "{\"name\": \"x\", \"items\": [{\"price\": 1}, {}, {\"price\": -2}]}",
           "schema_violation", "$.items[1].price: required property missing (2 violations)");
    EXPECT(st, "{\"name\": \"x\", \"items\": [{\"price\": 1}, {\"price\": 1}, {\"price\": -2}]}",
           "schema_violation", "$.items[2].price: below minimum 0");
    EXPECT(st, "{\"name\": \"x\", \"items\": [], \"count\": 11}", "schema_violation",
           "$.count: above maximum 10");
    EXPECT(st, "{\"name\": \"x\", \"items\": [], \"count\": 2.5}", "schema_violation",
           "$.count: expected integer, got number");
    EXPECT(st, "{\"name\": \"x\", \"items\": [], \"status\": \"pending\"}", "schema_violation",
           "$.status: not one of the enum values");
    EXPECT(st, "{\"name\": \"x\", \"items\": [], \"note\": 5}", "schema_violation",
           "$.note: expected string or null, got number");
    EXPECT(st, "{\"name\": \"x\", \"items\": [], \"first name\": 5}", "schema_violation",
           "$['first name']: expected string, got number");
    EXPECT(st, "{\"name\": \"x\", \"items\": [], \"forbidden\": 1}", "schema_violation",
           "$.forbidden: not allowed (false schema)");
    /* keys and values of the document are never echoed */
    EXPECT(st, "{\"name\": \"x\", \"items\": [], \"jane@example.com\": 1}", "schema_violation",
           "$: additional property not allowed");
    EXPECT(st, "{\"name\": \"x\", \"items\": [], \"meta\": {\"ssn-123-45-6789\": 7}}",
           "schema_violation", "$.meta.*: expected string, got number");
    EXPECT(st, "{\"name\": 4111111111111111, \"items\": []}", "schema_violation",
           "$.name: expected string, got number");
    assert_int_equal(value(judge(st, "{\"name\": 1, \"items\": 2, \"x\": 3}", &sink), "violations"),
                     3);
    KIND.destroy(st);

    /* a deep path is cut, not overflowed */
    char schema[8192] = "{\"schema\": ", doc[4096] = "";
    for (int i = 0; i < 60; i++)
        strcat(schema, "{\"properties\": {\"level_name\": ");
    strcat(schema, "{\"type\": \"string\"}");
    for (int i = 0; i < 60; i++)
        strcat(schema, "}}");
    strcat(schema, "}");
    for (int i = 0; i < 60; i++)
        strcat(doc, "{\"level_name\": ");
    strcat(doc, "1");
    for (int i = 0; i < 60; i++)
        strcat(doc, "}");
    st = make(schema);
    const ph_eval_result *r = judge(st, doc, &sink);
    assert_string_equal(r->label, "schema_violation");
    assert_non_null(strstr(r->explanation, "...: expected string, got number"));
    KIND.destroy(st);

    /* boolean schemas */
    st = make("{\"schema\": true}");
    EXPECT(st, "[1]", "valid_json", NULL);
    KIND.destroy(st);
    st = make("{\"schema\": false}");
    EXPECT(st, "[1]", "schema_violation", "$: not allowed (false schema)");
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
}

static void test_bad_configs(void **unused)
{
    refuses("{\"extract\": \"yes\"}", "extract: must be");
    refuses("{\"allow_scalar\": 1}", "allow_scalar: must be true or false");
    refuses("{\"strict\": true}", "unknown key \"strict\"");
    refuses("{\"schema\": []}", "schema: a schema must be an object or a boolean");
    refuses("{\"schema\": {\"pattern\": \"^a\"}}", "schema: unsupported keyword \"pattern\"");
    refuses("{\"schema\": {\"type\": \"text\"}}", "schema.type: unknown type");
    refuses("{\"schema\": {\"type\": []}}", "schema.type: must be a type name");
    refuses("{\"schema\": {\"properties\": {\"p\": {\"minimum\": \"0\"}}}}",
            "schema.properties.p.minimum: must be a number");
    refuses("{\"schema\": {\"properties\": {\"p\": {\"type\": \"array\", \"items\": [{}]}}}}",
            "schema.properties.p.items: an array of schemas (tuple form) is not supported");
    refuses("{\"schema\": {\"enum\": []}}", "schema.enum: must be a non-empty array");
    refuses("{\"schema\": {\"required\": \"a\"}}", "schema.required: must be an array");
    refuses("{\"schema\": {\"required\": [\"a\", \"a\"]}}", "schema.required[1]: listed twice");
    refuses("{\"schema\": {\"required\": [1]}}", "schema.required[0]: must be a string");
    refuses("{\"schema\": {\"minimum\": 5, \"maximum\": 1}}", "minimum is above maximum");
    refuses("{\"schema\": {\"properties\": []}}", "schema.properties: must be an object");
    refuses("{\"schema\": {\"additionalProperties\": 3}}",
            "schema.additionalProperties: a schema must be");
    refuses("[]", "config must be an object");
    char deep[2048] = "{\"schema\": ";
    for (int i = 0; i < 70; i++)
        strcat(deep, "{\"items\": ");
    strcat(deep, "{}");
    for (int i = 0; i < 70; i++)
        strcat(deep, "}");
    strcat(deep, "}");
    refuses(deep, "nested deeper than 64");
    /* annotations are accepted and ignored */
    void *st = make("{\"schema\": {\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
                    " \"title\": \"t\", \"description\": \"d\", \"default\": {}, \"examples\": [],"
                    " \"$id\": \"x\", \"$comment\": \"c\"}}");
    KIND.destroy(st);
    KIND.destroy(NULL);
}

static void test_shared_data(void **unused)
{
    data_set ds;
    if (!data_load(&ds)) {
        print_message("llm_logs.jsonl not found: skipped\n");
        skip();
    }
    static const char *const modes[] = {"none", "fenced", "auto"};
    static const char *const labels[] = {"valid_json", "invalid_json", "schema_violation",
                                         "no_json"};
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    sink.current_name = "json";
    sink.current_version = "1.test";
    for (size_t m = 0; m < 3; m++) {
        char config[128];
        size_t count[4] = {0};
        snprintf(config, sizeof(config), "{\"extract\": \"%s\"}", modes[m]);
        void *st = make(config);
        for (size_t i = 0; i < ds.n; i++) {
            char err[PH_ERRSTR_SIZE];
            ph_eval_sink_reset(&sink);
            assert_int_equal(KIND.evaluate(st, &ds.recs[i], &sink, err, sizeof(err)), 0);
            for (size_t k = 0; k < 4; k++)
                count[k] += strcmp(sink.results[0].label, labels[k]) == 0;
        }
        assert_int_equal(count[0] + count[1] + count[2] + count[3], ds.n);
        print_message("json extract=%s: valid_json %zu, invalid_json %zu, no_json %zu\n", modes[m],
                      count[0], count[1], count[3]);
        snprintf(config, sizeof(config), "json extract=%s", modes[m]);
        data_time(&KIND, st, &ds, config);
        KIND.destroy(st);
    }
    ph_eval_sink_free(&sink);
    data_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validity),    cmocka_unit_test(test_fenced),
        cmocka_unit_test(test_schema),      cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_shared_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
