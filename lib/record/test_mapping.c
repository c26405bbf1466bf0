/* The JSON shapes of docs/log-format.md and where each field lands in the LlmLog. */
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

#define ASSERT_VALID(json)                                                                         \
    do {                                                                                           \
        if (ts_judge(f, json) != 0) {                                                              \
            ts_dump(f);                                                                            \
            fail_msg("expected valid: %s", json);                                                  \
        }                                                                                          \
        assert_int_equal(ts_roundtrip(f->s.iface, &f->rec), 0);                                    \
    } while (0)
#define ASSERT_CLEAN(json)                                                                         \
    do {                                                                                           \
        ASSERT_VALID(json);                                                                        \
        if (f->warn.n) {                                                                           \
            ts_dump(f);                                                                            \
            fail_msg("unexpected warnings");                                                       \
        }                                                                                          \
    } while (0)

static int setup(void **state)
{
    ts_fx *f = calloc(1, sizeof(*f));
    if (!f || ts_fx_init(f, "llm_log", NULL)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    ts_fx *f = *state;
    ts_fx_free(f);
    free(f);
    return 0;
}

/* The shared data line, exactly as it is. */
static void test_shared_data_shape(void **state)
{
    ts_fx *f = *state;
    ASSERT_CLEAN("{\"source\": \"mt_bench\", \"session_id\": \"mt_bench:gpt-4:81\", \"turn\": 2, "
                 "\"messages\": [{\"role\": \"user\", \"content\": \"Q1\"}, {\"role\": "
                 "\"assistant\", \"content\": \"A1\"}, {\"role\": \"user\", \"content\": \"Q2\"}], "
                 "\"response\": \"A2\"}");
    assert_string_equal(ts_str(&f->rec, "session_id"), "mt_bench:gpt-4:81");
    assert_int_equal(ts_long(&f->rec, "turn"), 2);
    assert_int_equal(ts_size(&f->rec, "input_messages"), 3);
    assert_string_equal(ts_str(&f->rec, "input_messages[1].role"), "assistant");
    assert_string_equal(ts_str(&f->rec, "input_messages[2].content"), "Q2");
    assert_int_equal(ts_has(&f->rec, "input_messages[2].name"), 0);
    assert_string_equal(ts_str(&f->rec, "output"), "A2");
    assert_string_equal(ts_str(&f->rec, "metadata{source}"), "mt_bench");
    assert_int_equal(ts_size(&f->rec, "metadata"), 1);
    assert_int_equal(ts_enum(&f->rec, "status"), 0);
    assert_string_equal(ts_str(&f->rec, "record_id"), "raw-test-0-7");
    assert_int_equal(ts_long(&f->rec, "ingest_time"), TS_INGEST_MS);
    assert_string_equal(ts_str(&f->rec, "ingest_source"), "kafka");
    assert_int_equal(ts_size(&f->rec, "quality_warnings"), 0);
    static const char *const unset[] = {
        "trace_id", "span_id",       "parent_span_id", "user_id",       "app",      "environment",
        "route",    "model",         "provider",       "start_time",    "end_time", "latency_ms",
        "error",    "finish_reason", "input_tokens",   "output_tokens", "cost_usd"};
    for (size_t i = 0; i < sizeof(unset) / sizeof(unset[0]); i++)
        if (ts_has(&f->rec, unset[i]) != 0)
            fail_msg("%s is set", unset[i]);
}

/* Every LlmLog field under its own name. */
static void test_full_record(void **state)
{
    ts_fx *f = *state;
    ASSERT_CLEAN(
        "{\"record_id\":\"r-1\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
        "\"span_id\":\"00f067aa0ba902b7\",\"parent_span_id\":\"a3ce929d0e0e4736\","
        "\"session_id\":\"s-9\",\"turn\":3,\"user_id\":\"u-42\",\"app\":\"support-bot\","
        "\"environment\":\"production\",\"route\":\"/chat\",\"model\":\"gpt-4o-2024-05-13\","
        "\"provider\":\"openai\",\"start_time\":\"2025-12-31T23:59:58.500Z\","
        "\"end_time\":\"2026-01-01T00:00:00+00:00\",\"latency_ms\":1480.5,\"status\":\"ok\","
        "\"input_messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
        "{\"role\":\"user\",\"content\":\"Hi\",\"name\":\"alice\"}],"
        "\"output\":\"Hello!\",\"finish_reason\":\"stop\","
        "\"context\":[{\"id\":\"doc-1\",\"content\":\"Passage\",\"score\":0.83,"
        "\"source\":\"kb://faq\"}],\"input_tokens\":12,\"output_tokens\":3,\"cost_usd\":0.00042,"
        "\"metadata\":{\"tenant\":\"acme\",\"ab\":\"B\"},\"tags\":[\"beta\",\"vip\"]}");
    avro_value_t *r = &f->rec;
    assert_string_equal(ts_str(r, "record_id"), "r-1");
    assert_string_equal(ts_str(r, "trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(ts_str(r, "span_id"), "00f067aa0ba902b7");
    assert_string_equal(ts_str(r, "parent_span_id"), "a3ce929d0e0e4736");
    assert_string_equal(ts_str(r, "session_id"), "s-9");
    assert_int_equal(ts_long(r, "turn"), 3);
    assert_string_equal(ts_str(r, "user_id"), "u-42");
    assert_string_equal(ts_str(r, "app"), "support-bot");
    assert_string_equal(ts_str(r, "environment"), "production");
    assert_string_equal(ts_str(r, "route"), "/chat");
    assert_string_equal(ts_str(r, "model"), "gpt-4o-2024-05-13");
    assert_string_equal(ts_str(r, "provider"), "openai");
    assert_int_equal(ts_long(r, "start_time"), TS_INGEST_MS - 1500);
    assert_int_equal(ts_long(r, "end_time"), TS_INGEST_MS);
    assert_true(ts_double(r, "latency_ms") == 1480.5); /* given wins over end - start */
    assert_int_equal(ts_enum(r, "status"), 0);
    assert_int_equal(ts_has(r, "error"), 0);
    assert_string_equal(ts_str(r, "input_messages[0].role"), "system");
    assert_string_equal(ts_str(r, "input_messages[1].name"), "alice");
    assert_string_equal(ts_str(r, "output"), "Hello!");
    assert_string_equal(ts_str(r, "finish_reason"), "stop");
    assert_string_equal(ts_str(r, "context[0].id"), "doc-1");
    assert_string_equal(ts_str(r, "context[0].content"), "Passage");
    assert_true(ts_double(r, "context[0].score") == 0.83);
    assert_string_equal(ts_str(r, "context[0].source"), "kb://faq");
    assert_int_equal(ts_long(r, "input_tokens"), 12);
    assert_int_equal(ts_long(r, "output_tokens"), 3);
    assert_true(ts_double(r, "cost_usd") == 0.00042);
    assert_int_equal(ts_size(r, "metadata"), 2);
    assert_string_equal(ts_str(r, "metadata{tenant}"), "acme");
    assert_int_equal(ts_size(r, "tags"), 2);
    assert_string_equal(ts_str(r, "tags[1]"), "vip");
}

static void test_aliases(void **state)
{
    ts_fx *f = *state;
    ASSERT_CLEAN("{\"id\":\"a-1\",\"env\":\"staging\",\"prompt\":\"What is 2+2?\","
                 "\"completion\":\"4\",\"cost\":0.5,"
                 "\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":1,\"total_tokens\":8}}");
    avro_value_t *r = &f->rec;
    assert_string_equal(ts_str(r, "record_id"), "a-1");
    assert_string_equal(ts_str(r, "environment"), "staging");
    assert_int_equal(ts_size(r, "input_messages"), 1);
    assert_string_equal(ts_str(r, "input_messages[0].role"), "user");
    assert_string_equal(ts_str(r, "input_messages[0].content"), "What is 2+2?");
    assert_string_equal(ts_str(r, "output"), "4");
    assert_true(ts_double(r, "cost_usd") == 0.5);
    assert_int_equal(ts_long(r, "input_tokens"), 7);
    assert_int_equal(ts_long(r, "output_tokens"), 1);
    assert_string_equal(ts_str(r, "metadata{usage.total_tokens}"), "8");

    ASSERT_CLEAN("{\"input\":\"hello\",\"response\":\"hi\","
                 "\"usage\":{\"input_tokens\":5,\"output_tokens\":2}}");
    assert_string_equal(ts_str(r, "input_messages[0].content"), "hello");
    assert_string_equal(ts_str(r, "output"), "hi");
    assert_int_equal(ts_long(r, "input_tokens"), 5);
    assert_int_equal(ts_long(r, "output_tokens"), 2);

    /* input may also be an array of messages (OpenAI Responses style) */
    ASSERT_CLEAN("{\"input\":[{\"role\":\"user\",\"content\":\"a\"}],\"output\":\"b\"}");
    assert_string_equal(ts_str(r, "input_messages[0].content"), "a");
}

static void test_content_parts(void **state)
{
    ts_fx *f = *state;
    ASSERT_CLEAN("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
                 "\"line one\"},{\"type\":\"text\",\"text\":\"line two\"}]},"
                 "{\"role\":\"assistant\",\"content\":null},{\"role\":\"tool\",\"content\":[]}],"
                 "\"output\":[{\"type\":\"output_text\",\"text\":\"x\"},\"y\"]}");
    avro_value_t *r = &f->rec;
    assert_string_equal(ts_str(r, "input_messages[0].content"), "line one\nline two");
    assert_string_equal(ts_str(r, "input_messages[1].content"), "");
    assert_string_equal(ts_str(r, "input_messages[2].content"), "");
    assert_string_equal(ts_str(r, "output"), "x\ny");
}

static void test_context_shapes(void **state)
{
    ts_fx *f = *state;
    ASSERT_CLEAN(
        "{\"prompt\":\"p\",\"output\":\"o\",\"context\":[\"plain passage\","
        "{\"text\":\"via text\",\"id\":17,\"score\":2},{\"content\":\"c\",\"source\":\"s\","
        "\"id\":null,\"score\":null}]}");
    avro_value_t *r = &f->rec;
    assert_int_equal(ts_size(r, "context"), 3);
    assert_string_equal(ts_str(r, "context[0].content"), "plain passage");
    assert_int_equal(ts_has(r, "context[0].id"), 0);
    assert_int_equal(ts_has(r, "context[0].score"), 0);
    assert_string_equal(ts_str(r, "context[1].content"), "via text");
    assert_string_equal(ts_str(r, "context[1].id"), "17");
    assert_true(ts_double(r, "context[1].score") == 2.0);
    assert_string_equal(ts_str(r, "context[2].source"), "s");
    /* one string is one passage */
    ASSERT_CLEAN("{\"prompt\":\"p\",\"output\":\"o\",\"context\":\"all of it\"}");
    assert_int_equal(ts_size(r, "context"), 1);
    assert_string_equal(ts_str(r, "context[0].content"), "all of it");
}

static void test_times(void **state)
{
    ts_fx *f = *state;
    avro_value_t *r = &f->rec;
    /* epoch milliseconds; latency computed from end - start */
    ASSERT_CLEAN("{\"prompt\":\"p\",\"output\":\"o\",\"start_time\":1767225000000,"
                 "\"end_time\":1767225001234}");
    assert_int_equal(ts_long(r, "start_time"), 1767225000000LL);
    assert_true(ts_double(r, "latency_ms") == 1234.0);
    /* RFC 3339 with an offset and fractions, and a real epoch value */
    ASSERT_CLEAN(
        "{\"prompt\":\"p\",\"output\":\"o\",\"start_time\":\"2025-12-31T19:00:00.1-05:00\","
        "\"end_time\":1767225600200.9}");
    assert_int_equal(ts_long(r, "start_time"), 1767225600100LL);
    assert_int_equal(ts_long(r, "end_time"), 1767225600200LL);
    assert_true(ts_double(r, "latency_ms") == 100.0);
    /* latency alone */
    ASSERT_CLEAN("{\"prompt\":\"p\",\"output\":\"o\",\"latency_ms\":12}");
    assert_true(ts_double(r, "latency_ms") == 12.0);
    assert_int_equal(ts_has(r, "start_time"), 0);
}

static void test_status_and_error(void **state)
{
    ts_fx *f = *state;
    avro_value_t *r = &f->rec;
    ASSERT_CLEAN("{\"prompt\":\"p\",\"status\":\"ERROR\",\"error\":{\"type\":\"rate_limit\","
                 "\"message\":\"slow down\",\"code\":429,\"param\":null}}");
    assert_int_equal(ts_enum(r, "status"), 1);
    assert_string_equal(ts_str(r, "error.type"), "rate_limit");
    assert_string_equal(ts_str(r, "error.message"), "slow down");
    assert_string_equal(ts_str(r, "metadata{error.code}"), "429");
    assert_int_equal(ts_size(r, "metadata"), 1);
    assert_int_equal(ts_has(r, "output"), 0);
    ASSERT_CLEAN("{\"prompt\":\"p\",\"status\":\"Failed\",\"error\":\"timeout\"}");
    assert_int_equal(ts_has(r, "error.type"), 0);
    assert_string_equal(ts_str(r, "error.message"), "timeout");
    /* a partial output of a failed call is kept */
    ASSERT_CLEAN("{\"prompt\":\"p\",\"status\":\"error\",\"output\":\"partial\"}");
    assert_string_equal(ts_str(r, "output"), "partial");
    assert_int_equal(ts_has(r, "error"), 0);
    ASSERT_CLEAN("{\"prompt\":\"p\",\"status\":\"success\",\"output\":\"o\"}");
    assert_int_equal(ts_enum(r, "status"), 0);
}

static void test_metadata_and_unknown_fields(void **state)
{
    ts_fx *f = *state;
    avro_value_t *r = &f->rec;
    ASSERT_CLEAN("{\"prompt\":\"p\",\"output\":\"o\",\"metadata\":{\"s\":\"text\",\"n\":1.5,"
                 "\"b\":true,\"o\":{\"k\":[1,\"x\"]},\"z\":null},\"source\":\"alpaca_eval\","
                 "\"temperature\":0.7,\"tools\":[{\"name\":\"search\"}],\"nothing\":null,"
                 "\"ingest_time\":5}");
    assert_string_equal(ts_str(r, "metadata{s}"), "text");
    assert_string_equal(ts_str(r, "metadata{n}"), "1.5");
    assert_string_equal(ts_str(r, "metadata{b}"), "true");
    assert_string_equal(ts_str(r, "metadata{o}"), "{\"k\":[1,\"x\"]}");
    assert_string_equal(ts_str(r, "metadata{source}"), "alpaca_eval");
    assert_string_equal(ts_str(r, "metadata{temperature}"), "0.7");
    assert_string_equal(ts_str(r, "metadata{tools}"), "[{\"name\":\"search\"}]");
    /* Pharos' own fields are not taken from the input */
    assert_string_equal(ts_str(r, "metadata{ingest_time}"), "5");
    assert_int_equal(ts_long(r, "ingest_time"), TS_INGEST_MS);
    assert_int_equal(ts_has(r, "metadata{z}"), -1);
    assert_int_equal(ts_has(r, "metadata{nothing}"), -1);
    assert_int_equal(ts_size(r, "metadata"), 8);
}

static void test_tags(void **state)
{
    ts_fx *f = *state;
    ASSERT_CLEAN("{\"prompt\":\"p\",\"output\":\"o\",\"tags\":[\"a\",\"b\"]}");
    assert_int_equal(ts_size(&f->rec, "tags"), 2);
    ASSERT_CLEAN("{\"prompt\":\"p\",\"output\":\"o\",\"tags\":\"single\"}");
    assert_string_equal(ts_str(&f->rec, "tags[0]"), "single");
}

static void test_record_id_and_transport(void **state)
{
    ts_fx *f = *state;
    avro_value_t *r = &f->rec;
    /* own id > header id > fallback */
    f->meta.record_id = "hdr-1";
    ASSERT_CLEAN("{\"record_id\":\"own\",\"prompt\":\"p\",\"output\":\"o\"}");
    assert_string_equal(ts_str(r, "record_id"), "own");
    ASSERT_CLEAN("{\"id\":12345,\"prompt\":\"p\",\"output\":\"o\"}");
    assert_string_equal(ts_str(r, "record_id"), "12345");
    ASSERT_CLEAN("{\"prompt\":\"p\",\"output\":\"o\"}");
    assert_string_equal(ts_str(r, "record_id"), "hdr-1");
    f->meta.record_id = "";
    ASSERT_CLEAN("{\"prompt\":\"p\",\"output\":\"o\"}");
    assert_string_equal(ts_str(r, "record_id"), "raw-test-0-7");
    /* the token's app wins; source and time from the transport */
    f->meta.app = "billing";
    f->meta.ingest_source = "http";
    f->meta.ingest_time_ms = 1700000000000LL;
    ASSERT_CLEAN("{\"app\":\"claimed\",\"prompt\":\"p\",\"output\":\"o\"}");
    assert_string_equal(ts_str(r, "app"), "billing");
    assert_string_equal(ts_str(r, "ingest_source"), "http");
    assert_int_equal(ts_long(r, "ingest_time"), 1700000000000LL);
    /* no ingest time: now */
    f->meta.ingest_time_ms = 0;
    int64_t before = ph_now_ms();
    ASSERT_CLEAN("{\"prompt\":\"p\",\"output\":\"o\"}");
    assert_true(ts_long(r, "ingest_time") >= before);
    assert_true(ts_long(r, "ingest_time") <= ph_now_ms());
    /* untrusted header text is repaired, with a warning: the record itself is fine */
    f->meta.app = "bad\xFF";
    ASSERT_VALID("{\"prompt\":\"p\",\"output\":\"o\"}");
    assert_non_null(ts_find(&f->warn, "invalid_utf8", "meta.app"));
    assert_string_equal(ts_str(r, "app"), "bad\xEF\xBF\xBD");
    f->meta.app = NULL;
    /* no id anywhere: fatal */
    f->meta.fallback_record_id = NULL;
    assert_int_equal(ts_judge(f, "{\"prompt\":\"p\",\"output\":\"o\"}"), PH_EINVAL);
    assert_non_null(ts_find(&f->fatal, "missing_field", "record_id"));
}

/* quality_warnings mirrors the warnings of this call only; lists are appended to. */
static void test_quality_warnings(void **state)
{
    ts_fx *f = *state;
    ph_issues fatal, warn;
    ph_issues_init(&fatal);
    ph_issues_init(&warn);
    assert_int_equal(ph_issues_add(&warn, "earlier", NULL, "from another record"), 0);
    const char *json = "{\"prompt\":\"p\",\"output\":\"o\",\"turn\":0,\"model\":\"\"}";
    assert_int_equal(
        ph_record_from_json(f->rules, json, strlen(json), &f->meta, &f->rec, &fatal, &warn), 0);
    assert_int_equal(warn.n, 3);
    assert_int_equal(ts_size(&f->rec, "quality_warnings"), 2);
    for (size_t i = 0; i < 2; i++) {
        char path[64];
        snprintf(path, sizeof(path), "quality_warnings[%zu].code", i);
        assert_string_equal(ts_str(&f->rec, path), warn.v[i + 1].code);
        snprintf(path, sizeof(path), "quality_warnings[%zu].field", i);
        assert_string_equal(ts_str(&f->rec, path), warn.v[i + 1].field);
        snprintf(path, sizeof(path), "quality_warnings[%zu].message", i);
        assert_string_equal(ts_str(&f->rec, path), warn.v[i + 1].message);
    }
    assert_non_null(ts_find(&warn, "negative_value", "turn"));
    assert_non_null(ts_find(&warn, "empty_field", "model"));
    assert_int_equal(ts_roundtrip(f->s.iface, &f->rec), 0);
    ph_issues_free(&fatal);
    ph_issues_free(&warn);
}

/* One value reused for many records: nothing of a record leaks into the next. */
static void test_value_reuse(void **state)
{
    ts_fx *f = *state;
    avro_value_t *r = &f->rec;
    ASSERT_VALID("{\"record_id\":\"r\",\"trace_id\":\"t\",\"turn\":1,\"model\":\"m\","
                 "\"start_time\":1767225000000,\"end_time\":1767225000100,\"status\":\"error\","
                 "\"error\":{\"type\":\"x\"},\"messages\":[{\"role\":\"user\",\"content\":\"a\","
                 "\"name\":\"n\"},{\"role\":\"user\",\"content\":\"b\"}],\"context\":[\"c\"],"
                 "\"input_tokens\":1,\"cost\":1,\"metadata\":{\"k\":\"v\"},\"tags\":[\"t\"],"
                 "\"latency_ms\":\"slow\"}");
    assert_int_equal(ts_size(r, "quality_warnings"), 1);
    ASSERT_CLEAN("{\"messages\":[{\"role\":\"user\",\"content\":\"z\"}],\"output\":\"o\"}");
    static const char *const unset[] = {
        "trace_id", "turn",         "model",    "start_time", "end_time",
        "error",    "input_tokens", "cost_usd", "latency_ms", "input_messages[0].name"};
    for (size_t i = 0; i < sizeof(unset) / sizeof(unset[0]); i++)
        if (ts_has(r, unset[i]) != 0)
            fail_msg("%s leaked from the previous record", unset[i]);
    assert_string_equal(ts_str(r, "record_id"), "raw-test-0-7");
    assert_int_equal(ts_enum(r, "status"), 0);
    assert_int_equal(ts_size(r, "input_messages"), 1);
    assert_int_equal(ts_size(r, "context"), 0);
    assert_int_equal(ts_size(r, "metadata"), 0);
    assert_int_equal(ts_size(r, "tags"), 0);
    assert_int_equal(ts_size(r, "quality_warnings"), 0);
}

static void test_record_key(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *key;
    } cases[] = {
        {"{\"session_id\":\"s\",\"trace_id\":\"t\",\"record_id\":\"r\"}", "s"},
        {"{\"session_id\":\"\",\"trace_id\":\"t\",\"record_id\":\"r\"}", "t"},
        {"{\"session_id\":7,\"record_id\":\"r\",\"id\":\"i\"}", "r"},
        {"{\"id\":\"i\"}", "i"},
        {"{\"id\":5}", NULL},
        {"[]", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        const char *key = NULL;
        assert_non_null(j);
        if (cases[i].key) {
            assert_int_equal(ph_record_key(j, &key), 0);
            assert_string_equal(key, cases[i].key);
        } else
            assert_int_equal(ph_record_key(j, &key), PH_ENOENT);
        json_decref(j);
    }
    assert_int_equal(ph_record_key(NULL, NULL), PH_ENOENT);
}

static void test_bad_arguments(void **state)
{
    ts_fx *f = *state;
    assert_int_equal(ph_record_from_json(NULL, "{}", 2, &f->meta, &f->rec, &f->fatal, &f->warn),
                     PH_EINVAL);
    assert_int_equal(ph_record_from_json(f->rules, NULL, 2, &f->meta, &f->rec, &f->fatal, &f->warn),
                     PH_EINVAL);
    assert_int_equal(ph_record_from_json(f->rules, "{}", 2, &f->meta, &f->rec, NULL, &f->warn),
                     PH_EINVAL);
    /* NULL meta: no transport id, so the record must carry its own */
    const char *json = "{\"id\":\"x\",\"prompt\":\"p\",\"output\":\"o\"}";
    assert_int_equal(
        ph_record_from_json(f->rules, json, strlen(json), NULL, &f->rec, &f->fatal, &f->warn), 0);
    assert_string_equal(ts_str(&f->rec, "ingest_source"), "kafka");
}

/* The examples of docs/log-format.md are what they claim to be: every JSON block that is a
 * log record maps without a problem, every feedback block is valid feedback. */
static void test_docs_examples(void **state)
{
    ts_fx *f = *state;
    char path[1024];
    snprintf(path, sizeof(path), "%s/docs/log-format.md", ts_source_dir());
    char *doc = ts_read_file(path, NULL);
    assert_non_null(doc);
    ts_schema fs;
    assert_int_equal(ts_schema_load(&fs, "feedback"), 0);
    avro_value_t fv;
    assert_int_equal(avro_generic_value_new(fs.iface, &fv), 0);
    int logs = 0, feedbacks = 0;
    for (char *p = strstr(doc, "```json\n"); p; p = strstr(p, "```json\n")) {
        p += 8;
        char *end = strstr(p, "```");
        assert_non_null(end);
        json_t *j = json_loadb(p, (size_t)(end - p), 0, NULL);
        if (json_is_object(j) && (json_object_get(j, "thumbs") || json_object_get(j, "label"))) {
            ph_issues errors;
            ph_issues_init(&errors);
            if (ph_feedback_from_json(j, NULL, TS_INGEST_MS, "fb-1", &fv, &errors) != 0)
                fail_msg("feedback example rejected: %s", errors.v[0].message);
            ph_issues_free(&errors);
            feedbacks++;
        } else if (json_is_object(j) && !json_object_get(j, "role")) {
            if (ts_judge_len(f, p, (size_t)(end - p)) != 0 || f->warn.n) {
                ts_dump(f);
                fail_msg("log example not clean: %.60s", p);
            }
            logs++;
        }
        json_decref(j);
        p = end + 3;
    }
    assert_true(logs >= 4);
    assert_int_equal(feedbacks, 2);
    avro_value_decref(&fv);
    ts_schema_free(&fs);
    free(doc);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_shared_data_shape),
        T(test_full_record),
        T(test_aliases),
        T(test_content_parts),
        T(test_context_shapes),
        T(test_times),
        T(test_status_and_error),
        T(test_metadata_and_unknown_fields),
        T(test_tags),
        T(test_record_id_and_transport),
        T(test_quality_warnings),
        T(test_value_reuse),
        T(test_record_key),
        T(test_bad_arguments),
        T(test_docs_examples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
