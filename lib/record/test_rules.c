/* Every rule of docs/validation.md, each triggered and each not triggered by a near miss;
 * severity overrides; the rule configuration; the UTF-8 and time helpers behind the rules. */
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
#include "ph_record_int.h"
#include "test_support.h"

/* A valid record with room for more fields: REC(",\"model\":\"m\""). */
#define REC(extra)                                                                                 \
    "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"output\":\"hello\"" extra "}"

#define ASSERT_IN(list, code, field)                                                               \
    do {                                                                                           \
        if (!ts_find(&f->list, code, field)) {                                                     \
            ts_dump(f);                                                                            \
            fail_msg("expected %s %s on %s", #list, code, (field) ? (field) : "(any)");            \
        }                                                                                          \
    } while (0)
#define ASSERT_FATAL(code, field) ASSERT_IN(fatal, code, field)
#define ASSERT_WARN(code, field)  ASSERT_IN(warn, code, field)
#define ASSERT_NONE(code)                                                                          \
    do {                                                                                           \
        if (ts_find(&f->fatal, code, NULL) || ts_find(&f->warn, code, NULL)) {                     \
            ts_dump(f);                                                                            \
            fail_msg("unexpected %s", code);                                                       \
        }                                                                                          \
    } while (0)
#define ASSERT_VALID(json)                                                                         \
    do {                                                                                           \
        if (ts_judge(f, json) != 0) {                                                              \
            ts_dump(f);                                                                            \
            fail_msg("expected valid: %s", json);                                                  \
        }                                                                                          \
        assert_int_equal(ts_roundtrip(f->s.iface, &f->rec), 0);                                    \
    } while (0)
#define ASSERT_INVALID(json)                                                                       \
    do {                                                                                           \
        if (ts_judge(f, json) != PH_EINVAL) {                                                      \
            ts_dump(f);                                                                            \
            fail_msg("expected invalid: %s", json);                                                \
        }                                                                                          \
    } while (0)

static int setup_with(void **state, const ph_rules_config *cfg)
{
    ts_fx *f = calloc(1, sizeof(*f));
    if (!f || ts_fx_init(f, "llm_log", cfg)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, NULL);
}

static int teardown(void **state)
{
    ts_fx *f = *state;
    ts_fx_free(f);
    free(f);
    return 0;
}

/* Runs a test body with a fixture built from a config (for limits and overrides). */
static ts_fx *fx_with(const ph_rules_config *cfg)
{
    void *state = NULL;
    assert_int_equal(setup_with(&state, cfg), 0);
    return state;
}

static void fx_done(ts_fx *f)
{
    void *state = f;
    teardown(&state);
}

/* ---- whole-record rules ------------------------------------------------------------------ */

static void test_invalid_json(void **state)
{
    ts_fx *f = *state;
    static const char *const bad[] = {
        "",
        "{",
        "{\"messages\":",
        "{\"a\":1,}",
        "{'a':1}",
        "{} x",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
        "{\"a\":01}",
        "{\"a\":\"\\uD800\"}",
        "\"\\x\"",
        "{\"a\":tru}",
        "{\"a\":1e999}",
        "{\"a\":99999999999999999999}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ASSERT_INVALID(bad[i]);
        ASSERT_FATAL("invalid_json", NULL);
        assert_int_equal(f->fatal.n, 1);
        assert_null(f->fatal.v[0].field);
        /* the record id is still there for the InvalidRecord */
        assert_string_equal(ts_str(&f->rec, "record_id"), "raw-test-0-7");
    }
    ASSERT_VALID(REC(""));
    ASSERT_NONE("invalid_json");
}

static void test_invalid_utf8(void **state)
{
    ts_fx *f = *state;
    /* a lone continuation byte, an overlong '/', a surrogate, a truncated sequence */
    static const char *const bad[] = {
        REC(",\"model\":\"a\x80z\""),
        REC(",\"model\":\"\xC0\xAF\""),
        REC(",\"model\":\"\xED\xA0\x80\""),
        REC(",\"model\":\"\xE2\x82\""),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ASSERT_INVALID(bad[i]);
        ASSERT_FATAL("invalid_utf8", NULL);
        ASSERT_NONE("invalid_json");
    }
    ASSERT_VALID(REC(",\"model\":\"h\xC3\xA9llo \xE2\x9C\x93 \xF0\x9F\x98\x80\""));
    ASSERT_NONE("invalid_utf8");
    assert_string_equal(ts_str(&f->rec, "model"), "h\xC3\xA9llo \xE2\x9C\x93 \xF0\x9F\x98\x80");
}

static void test_invalid_utf8_repaired_when_warn(void **state)
{
    (void)state;
    ph_rules_config cfg = {.severity = "invalid_utf8=warn"};
    ts_fx *f = fx_with(&cfg);
    ASSERT_VALID(REC(",\"model\":\"a\x80z\""));
    ASSERT_WARN("invalid_utf8", NULL);
    assert_string_equal(ts_str(&f->rec, "model"), "a\xEF\xBF\xBDz");
    fx_done(f);
}

static void test_duplicate_key(void **state)
{
    ts_fx *f = *state;
    ASSERT_INVALID(REC(",\"model\":\"a\",\"model\":\"b\""));
    ASSERT_FATAL("duplicate_key", NULL);
    ASSERT_NONE("invalid_json");
    ASSERT_INVALID("{\"messages\":[{\"role\":\"user\",\"role\":\"user\",\"content\":\"x\"}]}");
    ASSERT_FATAL("duplicate_key", NULL);
    /* the same key in different objects is fine */
    ASSERT_VALID(REC(",\"metadata\":{\"model\":\"x\"},\"model\":\"y\""));
    ASSERT_NONE("duplicate_key");
}

static void test_duplicate_key_last_wins_when_warn(void **state)
{
    (void)state;
    ph_rules_config cfg = {.severity = "duplicate_key=warn"};
    ts_fx *f = fx_with(&cfg);
    ASSERT_VALID(REC(",\"model\":\"a\",\"model\":\"b\""));
    ASSERT_WARN("duplicate_key", NULL);
    assert_string_equal(ts_str(&f->rec, "model"), "b");
    fx_done(f);
}

static void test_not_object(void **state)
{
    ts_fx *f = *state;
    static const char *const bad[] = {"[1,2]", "42", "\"text\"", "null", "true", "[]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ASSERT_INVALID(bad[i]);
        ASSERT_FATAL("not_object", NULL);
        assert_int_equal(f->fatal.n, 1);
    }
    ASSERT_VALID(REC(""));
    ASSERT_NONE("not_object");
}

static void test_oversized_record(void **state)
{
    (void)state;
    ph_rules_config cfg = {.max_record_bytes = 80};
    ts_fx *f = fx_with(&cfg);
    char buf[200];
    /* pad the output so that the record is exactly 80 bytes, then 81 */
    const char *head = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"output\":\"";
    size_t pad = 80 - strlen(head) - 2;
    snprintf(buf, sizeof(buf), "%s%.*s\"}", head, (int)pad,
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    assert_int_equal(strlen(buf), 80);
    ASSERT_VALID(buf);
    ASSERT_NONE("oversized_record");
    snprintf(buf, sizeof(buf), "%s%.*s\"}", head, (int)pad + 1,
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    ASSERT_INVALID(buf);
    ASSERT_FATAL("oversized_record", NULL);
    assert_int_equal(f->fatal.n, 1); /* not parsed at all */
    fx_done(f);

    ph_rules_config warn = {.max_record_bytes = 80, .severity = "oversized_record=warn"};
    f = fx_with(&warn);
    ASSERT_VALID(buf);
    ASSERT_WARN("oversized_record", NULL);
    fx_done(f);
}

/* ---- required fields --------------------------------------------------------------------- */

static void test_missing_field(void **state)
{
    ts_fx *f = *state;
    ASSERT_INVALID("{\"output\":\"hello\"}");
    ASSERT_FATAL("missing_field", "messages");
    ASSERT_INVALID("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    ASSERT_FATAL("missing_field", "output");
    ASSERT_INVALID("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"output\":null}");
    ASSERT_FATAL("missing_field", "output");
    /* a failed call needs no output */
    ASSERT_VALID("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"status\":\"error\"}");
    ASSERT_NONE("missing_field");
    assert_int_equal(ts_enum(&f->rec, "status"), 1);
    /* an error alone says the call failed */
    ASSERT_VALID("{\"prompt\":\"hi\",\"error\":\"rate limited\"}");
    assert_int_equal(ts_enum(&f->rec, "status"), 1);
    assert_string_equal(ts_str(&f->rec, "error.message"), "rate limited");
    /* optional parts: a message without a role is dropped with a warning */
    ASSERT_VALID("{\"messages\":[{\"content\":\"lost\"},{\"role\":\"user\",\"content\":\"hi\"}],"
                 "\"output\":\"o\"}");
    ASSERT_WARN("missing_field", "messages[0].role");
    assert_int_equal(ts_size(&f->rec, "input_messages"), 1);
    ASSERT_VALID(REC(",\"context\":[{\"id\":\"d1\"}]"));
    ASSERT_WARN("missing_field", "context[0].content");
    assert_int_equal(ts_size(&f->rec, "context"), 0);
}

static void test_empty_field(void **state)
{
    ts_fx *f = *state;
    ASSERT_INVALID("{\"messages\":[],\"output\":\"o\"}");
    ASSERT_FATAL("empty_field", "messages");
    ASSERT_INVALID("{\"messages\":[{\"role\":\"user\",\"content\":\" \\n\\t\"}],\"output\":\"o\"}");
    ASSERT_FATAL("empty_field", "messages");
    ASSERT_INVALID("{\"prompt\":\"\",\"output\":\"o\"}");
    ASSERT_FATAL("empty_field", "prompt");
    ASSERT_INVALID("{\"prompt\":\"p\",\"response\":\"   \"}");
    ASSERT_FATAL("empty_field", "output");
    /* one message with content is enough; an empty earlier turn is data, not a problem */
    ASSERT_VALID(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
        "{\"role\":\"assistant\",\"content\":\"\"},{\"role\":\"user\",\"content\":\"q2\"}],"
        "\"output\":\"o\"}");
    ASSERT_NONE("empty_field");
    assert_string_equal(ts_str(&f->rec, "input_messages[1].content"), "");
    /* optional strings: dropped with a warning */
    ASSERT_VALID(REC(",\"model\":\"\",\"trace_id\":\"\",\"tags\":[\"\",\"a\"]"));
    ASSERT_WARN("empty_field", "model");
    ASSERT_WARN("empty_field", "trace_id");
    ASSERT_WARN("empty_field", "tags[0]");
    assert_null(ts_str(&f->rec, "model"));
    assert_int_equal(ts_size(&f->rec, "tags"), 1);
    /* an empty own id falls back to the transport's */
    ASSERT_VALID(REC(",\"record_id\":\"\""));
    ASSERT_WARN("empty_field", "record_id");
    assert_string_equal(ts_str(&f->rec, "record_id"), "raw-test-0-7");
}

static void test_wrong_type(void **state)
{
    ts_fx *f = *state;
    /* required fields: fatal */
    ASSERT_INVALID("{\"messages\":\"hi\",\"output\":\"o\"}");
    ASSERT_FATAL("wrong_type", "messages");
    ASSERT_NONE("missing_field");
    ASSERT_NONE("empty_field");
    ASSERT_INVALID("{\"prompt\":{\"text\":\"hi\"},\"output\":\"o\"}");
    ASSERT_FATAL("wrong_type", "prompt");
    ASSERT_INVALID("{\"prompt\":\"p\",\"response\":42}");
    ASSERT_FATAL("wrong_type", "response");
    ASSERT_NONE("missing_field");
    /* optional fields: warning, dropped; numbers are not coerced into text */
    ASSERT_VALID(REC(",\"latency_ms\":\"fast\",\"turn\":\"2\",\"model\":42,\"tags\":5,"
                     "\"metadata\":[1],\"input_tokens\":\"12\",\"cost_usd\":true,"
                     "\"start_time\":true,\"finish_reason\":[\"stop\"],\"context\":{}"));
    static const char *const dropped[] = {"latency_ms",    "turn",         "model",    "tags",
                                          "metadata",      "input_tokens", "cost_usd", "start_time",
                                          "finish_reason", "context"};
    for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++)
        ASSERT_WARN("wrong_type", dropped[i]);
    assert_int_equal(ts_has(&f->rec, "latency_ms"), 0);
    assert_int_equal(ts_has(&f->rec, "turn"), 0);
    assert_int_equal(ts_has(&f->rec, "model"), 0);
    assert_int_equal(ts_has(&f->rec, "input_tokens"), 0);
    assert_int_equal(ts_size(&f->rec, "metadata"), 0);
    /* a failed call's output is optional: a wrong type is a warning */
    ASSERT_VALID("{\"prompt\":\"p\",\"status\":\"failed\",\"output\":{\"x\":1}}");
    ASSERT_WARN("wrong_type", "output");
    /* ids accept integers; integral reals are integers; a message of the wrong shape goes */
    ASSERT_VALID(REC(",\"trace_id\":123,\"turn\":2.0,\"session_id\":7"));
    ASSERT_NONE("wrong_type");
    assert_string_equal(ts_str(&f->rec, "trace_id"), "123");
    assert_string_equal(ts_str(&f->rec, "session_id"), "7");
    assert_int_equal(ts_long(&f->rec, "turn"), 2);
    ASSERT_VALID(REC(",\"turn\":2.5,\"span_id\":1.5"));
    ASSERT_WARN("wrong_type", "turn");
    ASSERT_WARN("wrong_type", "span_id");
    ASSERT_VALID("{\"messages\":[\"hi\",{\"role\":5,\"content\":\"x\"},"
                 "{\"role\":\"user\",\"content\":7},{\"role\":\"user\",\"content\":\"ok\","
                 "\"name\":3}],\"output\":\"o\"}");
    ASSERT_WARN("wrong_type", "messages[0]");
    ASSERT_WARN("wrong_type", "messages[1].role");
    ASSERT_WARN("wrong_type", "messages[2].content");
    ASSERT_WARN("wrong_type", "messages[3].name");
    assert_int_equal(ts_size(&f->rec, "input_messages"), 1);
}

static void test_invalid_value(void **state)
{
    ts_fx *f = *state;
    ASSERT_VALID(REC(",\"status\":\"pending\""));
    ASSERT_WARN("invalid_value", "status");
    assert_int_equal(ts_enum(&f->rec, "status"), 0);
    ASSERT_VALID("{\"prompt\":\"p\",\"status\":\"boom\",\"error\":{\"type\":\"timeout\"}}");
    ASSERT_WARN("invalid_value", "status");
    assert_int_equal(ts_enum(&f->rec, "status"), 1);
    static const char *const ok[] = {"ok", "OK", "Success", "error", "FAILED"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char buf[200];
        snprintf(buf, sizeof(buf), REC(",\"status\":\"%s\""), ok[i]);
        ASSERT_VALID(buf);
        ASSERT_NONE("invalid_value");
        assert_int_equal(ts_enum(&f->rec, "status"), i < 3 ? 0 : 1);
    }
}

static void test_bad_timestamp(void **state)
{
    ts_fx *f = *state;
    static const char *const bad[] = {"yesterday",
                                      "2025-13-01T00:00:00Z",
                                      "2025-02-29T00:00:00Z",
                                      "2025-06-01",
                                      "2025-06-01T25:00:00Z",
                                      "2025-06-01T12:00Z",
                                      "2025-06-01T12:00:00.Z",
                                      "2025-06-01T12:00:00+0100",
                                      " 2025-06-01T12:00:00Z",
                                      "1748779200000"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char buf[200];
        snprintf(buf, sizeof(buf), REC(",\"start_time\":\"%s\""), bad[i]);
        ASSERT_VALID(buf);
        ASSERT_WARN("bad_timestamp", "start_time");
        assert_int_equal(ts_has(&f->rec, "start_time"), 0);
    }
    ASSERT_VALID(REC(",\"start_time\":\"2024-02-29T23:59:59.5+01:00\""));
    ASSERT_NONE("bad_timestamp");
    assert_int_equal(ts_long(&f->rec, "start_time"), 1709247599500LL);
}

static void test_timestamp_no_offset(void **state)
{
    ts_fx *f = *state;
    ASSERT_VALID(REC(",\"start_time\":\"2025-06-01T12:00:00.250\""));
    ASSERT_WARN("timestamp_no_offset", "start_time");
    assert_int_equal(ts_long(&f->rec, "start_time"), 1748779200250LL);
    ASSERT_VALID(REC(",\"start_time\":\"2025-06-01T12:00:00.250z\""));
    ASSERT_NONE("timestamp_no_offset");
    assert_int_equal(ts_long(&f->rec, "start_time"), 1748779200250LL);
}

static void test_negative_value(void **state)
{
    ts_fx *f = *state;
    ASSERT_VALID(REC(",\"input_tokens\":-1,\"usage\":{\"completion_tokens\":-2},"
                     "\"latency_ms\":-5,\"cost\":-0.01,\"turn\":0,\"start_time\":-5,"
                     "\"end_time\":-1.5"));
    static const char *const fields[] = {
        "input_tokens", "usage.completion_tokens", "latency_ms", "cost", "turn", "start_time",
        "end_time"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        ASSERT_WARN("negative_value", fields[i]);
    static const char *const gone[] = {"input_tokens", "output_tokens", "latency_ms", "cost_usd",
                                       "turn",         "start_time",    "end_time"};
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        assert_int_equal(ts_has(&f->rec, gone[i]), 0);
    ASSERT_VALID(REC(",\"input_tokens\":0,\"output_tokens\":0,\"latency_ms\":0,\"cost\":0,"
                     "\"turn\":1"));
    ASSERT_NONE("negative_value");
    assert_int_equal(ts_long(&f->rec, "input_tokens"), 0);
    assert_int_equal(ts_long(&f->rec, "turn"), 1);
}

static void test_impossible_value(void **state)
{
    ts_fx *f = *state;
    /* tokens above the cap, latency above 24 h, a turn beyond int32 */
    ASSERT_VALID(REC(",\"input_tokens\":100000001,\"latency_ms\":86400001,\"turn\":3000000000"));
    ASSERT_WARN("impossible_value", "input_tokens");
    ASSERT_WARN("impossible_value", "latency_ms");
    ASSERT_WARN("impossible_value", "turn");
    assert_int_equal(ts_has(&f->rec, "input_tokens"), 0);
    assert_int_equal(ts_has(&f->rec, "latency_ms"), 0);
    /* end before start: end dropped, no latency */
    ASSERT_VALID(REC(",\"start_time\":1767225000000,\"end_time\":1767224000000"));
    ASSERT_WARN("impossible_value", "end_time");
    assert_int_equal(ts_long(&f->rec, "start_time"), 1767225000000LL);
    assert_int_equal(ts_has(&f->rec, "end_time"), 0);
    assert_int_equal(ts_has(&f->rec, "latency_ms"), 0);
    /* beyond the clock skew (24 h after the ingest time), and before 2000 (seconds) */
    ASSERT_VALID(REC(",\"start_time\":\"2026-01-02T00:00:01Z\",\"end_time\":1767225600"));
    ASSERT_WARN("impossible_value", "start_time");
    ASSERT_WARN("impossible_value", "end_time");
    assert_int_equal(ts_has(&f->rec, "start_time"), 0);
    /* start and end 25 h apart: both kept, latency not computed */
    ASSERT_VALID(REC(",\"start_time\":1767100000000,\"end_time\":1767190000000"));
    ASSERT_WARN("impossible_value", "end_time");
    assert_int_equal(ts_has(&f->rec, "latency_ms"), 0);
    /* the edges are fine */
    ASSERT_VALID(REC(",\"input_tokens\":100000000,\"latency_ms\":86400000,"
                     "\"start_time\":\"2026-01-02T00:00:00Z\",\"end_time\":946684800000"));
    ASSERT_WARN("impossible_value", "end_time"); /* end before start */
    ASSERT_VALID(REC(",\"input_tokens\":100000000,\"latency_ms\":86400000,"
                     "\"start_time\":\"2026-01-02T00:00:00Z\""));
    ASSERT_NONE("impossible_value");
}

static void test_unknown_role(void **state)
{
    ts_fx *f = *state;
    ASSERT_VALID("{\"messages\":[{\"role\":\"human\",\"content\":\"hi\"},{\"role\":\"\","
                 "\"content\":\"x\"}],\"output\":\"o\"}");
    ASSERT_WARN("unknown_role", "messages[0].role");
    ASSERT_WARN("unknown_role", "messages[1].role");
    assert_string_equal(ts_str(&f->rec, "input_messages[0].role"), "human");
    /* roles match ignoring case and are stored as configured */
    ASSERT_VALID(
        "{\"messages\":[{\"role\":\"User\",\"content\":\"hi\"},{\"role\":\"TOOL\","
        "\"content\":\"x\"},{\"role\":\"developer\",\"content\":\"d\"}],\"output\":\"o\"}");
    ASSERT_NONE("unknown_role");
    assert_string_equal(ts_str(&f->rec, "input_messages[0].role"), "user");
    assert_string_equal(ts_str(&f->rec, "input_messages[1].role"), "tool");

    ph_rules_config cfg = {.roles = " Human , AI "};
    f = fx_with(&cfg);
    ASSERT_VALID("{\"messages\":[{\"role\":\"human\",\"content\":\"hi\"}],\"output\":\"o\"}");
    ASSERT_NONE("unknown_role");
    ASSERT_VALID("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"output\":\"o\"}");
    ASSERT_WARN("unknown_role", "messages[0].role");
    fx_done(f);
}

static void test_unsupported_content(void **state)
{
    ts_fx *f = *state;
    ASSERT_VALID(
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"http://x\"}},"
        "{\"type\":\"text\",\"text\":\"b\"}]}],\"output\":\"o\"}");
    ASSERT_WARN("unsupported_content", "messages[0].content[1]");
    assert_string_equal(ts_str(&f->rec, "input_messages[0].content"), "a\nb");
    ASSERT_VALID("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\","
                 "\"text\":\"a\"},\"b\",{\"text\":\"c\"}]}],\"output\":\"o\"}");
    ASSERT_NONE("unsupported_content");
    assert_string_equal(ts_str(&f->rec, "input_messages[0].content"), "a\nb\nc");
    /* an image alone leaves no input */
    ASSERT_INVALID("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}],"
                   "\"output\":\"o\"}");
    ASSERT_WARN("unsupported_content", "messages[0].content[0]");
    ASSERT_FATAL("empty_field", "messages");
}

static void test_oversized_field(void **state)
{
    (void)state;
    ph_rules_config cfg = {.max_field_bytes = 16};
    ts_fx *f = fx_with(&cfg);
    /* 10 two-byte characters: cut at 16 bytes = 8 characters; 5 four-byte ones: at 3 */
    ASSERT_VALID("{\"prompt\":\"\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
                 "\xC3\xA9\xC3\xA9\",\"output\":\"\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80"
                 "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\",\"metadata\":{\"k\":\"12345678901234567\"}}");
    ASSERT_WARN("oversized_field", "prompt.content");
    ASSERT_WARN("oversized_field", "output");
    ASSERT_WARN("oversized_field", "metadata.k");
    assert_string_equal(ts_str(&f->rec, "input_messages[0].content"),
                        "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9");
    assert_string_equal(ts_str(&f->rec, "output"),
                        "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80");
    assert_string_equal(ts_str(&f->rec, "metadata{k}"), "1234567890123456");
    ASSERT_VALID("{\"prompt\":\"1234567890123456\",\"output\":\"o\"}");
    ASSERT_NONE("oversized_field");
    fx_done(f);
}

static void test_nul_character(void **state)
{
    ts_fx *f = *state;
    ASSERT_VALID(REC(",\"model\":\"gp\\u0000t\",\"metadata\":{\"k\":\"a\\u0000b\"}"));
    ASSERT_WARN("nul_character", "model");
    ASSERT_WARN("nul_character", "metadata.k");
    assert_string_equal(ts_str(&f->rec, "model"), "gpt");
    assert_string_equal(ts_str(&f->rec, "metadata{k}"), "ab");
    /* jansson refuses U+0000 in keys: the record is not JSON we can read */
    ASSERT_INVALID(REC(",\"metadata\":{\"a\\u0000b\":\"v\"}"));
    ASSERT_FATAL("invalid_json", NULL);
    ASSERT_INVALID("{\"prompt\":\"\\u0000\",\"output\":\"o\"}");
    ASSERT_WARN("nul_character", "prompt.content");
    ASSERT_FATAL("empty_field", "prompt");
    ASSERT_VALID(REC(",\"model\":\"gpt\""));
    ASSERT_NONE("nul_character");
}

static void test_too_many(void **state)
{
    (void)state;
    ph_rules_config cfg = {.max_messages = 3, .max_context = 2};
    ts_fx *f = fx_with(&cfg);
    ASSERT_VALID("{\"messages\":[{\"role\":\"user\",\"content\":\"1\"},{\"role\":\"user\","
                 "\"content\":\"2\"},{\"role\":5},{\"role\":\"user\",\"content\":\"4\"},"
                 "{\"role\":\"user\",\"content\":\"5\"}],\"output\":\"o\",\"context\":[\"a\",\"b\","
                 "\"c\"]}");
    ASSERT_WARN("too_many_messages", "messages");
    ASSERT_WARN("too_many_context", "context");
    ASSERT_WARN("wrong_type", "messages[2].role"); /* within the last three: judged */
    assert_int_equal(ts_size(&f->rec, "input_messages"), 2);
    assert_string_equal(ts_str(&f->rec, "input_messages[0].content"), "4");
    assert_string_equal(ts_str(&f->rec, "input_messages[1].content"), "5");
    assert_int_equal(ts_size(&f->rec, "context"), 2);
    assert_string_equal(ts_str(&f->rec, "context[0].content"), "b");
    ASSERT_VALID("{\"messages\":[{\"role\":\"user\",\"content\":\"1\"},{\"role\":\"user\","
                 "\"content\":\"2\"},{\"role\":\"user\",\"content\":\"3\"}],\"output\":\"o\","
                 "\"context\":[\"a\",\"b\"]}");
    ASSERT_NONE("too_many_messages");
    ASSERT_NONE("too_many_context");
    fx_done(f);
}

static void test_conflicting_alias(void **state)
{
    ts_fx *f = *state;
    ASSERT_VALID("{\"prompt\":\"p\",\"output\":\"a\",\"response\":\"b\",\"id\":\"x\","
                 "\"record_id\":\"y\",\"env\":\"dev\",\"environment\":\"prod\","
                 "\"input_tokens\":3,\"usage\":{\"prompt_tokens\":4},\"source\":\"s\","
                 "\"metadata\":{\"source\":\"m\"}}");
    ASSERT_WARN("conflicting_alias", "response");
    ASSERT_WARN("conflicting_alias", "id");
    ASSERT_WARN("conflicting_alias", "env");
    ASSERT_WARN("conflicting_alias", "usage.prompt_tokens");
    ASSERT_WARN("conflicting_alias", "source");
    assert_string_equal(ts_str(&f->rec, "output"), "a");
    assert_string_equal(ts_str(&f->rec, "record_id"), "y");
    assert_string_equal(ts_str(&f->rec, "environment"), "prod");
    assert_int_equal(ts_long(&f->rec, "input_tokens"), 3);
    assert_string_equal(ts_str(&f->rec, "metadata{source}"), "m");
    /* the same value under two spellings is no conflict */
    ASSERT_VALID("{\"prompt\":\"p\",\"output\":\"a\",\"response\":\"a\",\"input_tokens\":3,"
                 "\"usage\":{\"input_tokens\":3}}");
    ASSERT_NONE("conflicting_alias");
}

/* ---- all problems, severities, configuration --------------------------------------------- */

static void test_every_problem_listed(void **state)
{
    ts_fx *f = *state;
    ASSERT_INVALID("{\"messages\":5,\"response\":[1],\"turn\":-1,\"model\":7,"
                   "\"start_time\":\"soon\"}");
    ASSERT_FATAL("wrong_type", "messages");
    ASSERT_WARN("wrong_type", "response[0]");
    ASSERT_FATAL("empty_field", "output");
    ASSERT_WARN("negative_value", "turn");
    ASSERT_WARN("wrong_type", "model");
    ASSERT_WARN("bad_timestamp", "start_time");
    assert_int_equal(f->fatal.n, 2);
    assert_int_equal(f->warn.n, 4);
}

static void test_severity_overrides(void **state)
{
    (void)state;
    ph_rules_config cfg = {.severity = "unknown_role=fatal, wrong_type = off ,empty_field=warn,"
                                       "missing_field=WARN,bad_timestamp=warning"};
    ts_fx *f = fx_with(&cfg);
    ASSERT_INVALID("{\"messages\":[{\"role\":\"bot\",\"content\":\"hi\"}],\"output\":\"o\"}");
    ASSERT_FATAL("unknown_role", "messages[0].role");
    /* an empty input is now acceptable, and the value stays encodable */
    ASSERT_VALID("{\"messages\":[],\"status\":\"ok\"}");
    ASSERT_WARN("empty_field", "messages");
    ASSERT_WARN("missing_field", "output");
    /* wrong types vanish silently; the missing input is still reported */
    ASSERT_VALID("{\"messages\":7,\"output\":\"o\",\"model\":1}");
    ASSERT_NONE("wrong_type");
    ASSERT_WARN("empty_field", "messages");
    fx_done(f);
}

static void test_rules_config_errors(void **state)
{
    (void)state;
    static const struct {
        ph_rules_config cfg;
        const char *needle;
    } bad[] = {
        {{.severity = "no_such_rule=warn"}, "unknown rule code 'no_such_rule'"},
        {{.severity = "unknown_role=loud"}, "unknown severity 'loud'"},
        {{.severity = "unknown_role"}, "expected code=fatal|warn|off"},
        {{.severity = "invalid_json=warn"}, "'invalid_json' is always fatal"},
        {{.severity = "not_object=off"}, "'not_object' is always fatal"},
        {{.roles = " , ,"}, "roles"},
        {{.max_field_bytes = -1}, "max_field_bytes"},
        {{.max_messages = -5}, "max_messages"},
        {{.max_record_bytes = -1}, "max_record_bytes"},
        {{.max_clock_skew_ms = -1}, "max_clock_skew_ms"},
        {{.max_context = -1}, "max_context"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ph_rules *r = NULL;
        char err[PH_ERRSTR_SIZE] = "";
        assert_int_equal(ph_rules_new(&r, &bad[i].cfg, err, sizeof(err)), PH_EINVAL);
        assert_null(r);
        if (!strstr(err, bad[i].needle))
            fail_msg("error '%s' does not mention '%s'", err, bad[i].needle);
    }
    ph_rules *r = NULL;
    ph_rules_config ok = {.severity = "invalid_json=fatal,, ,oversized_field=off"};
    assert_int_equal(ph_rules_new(&r, &ok, NULL, 0), 0);
    ph_rules_destroy(r);
    ph_rules_destroy(NULL);
    assert_int_equal(ph_rules_new(NULL, NULL, NULL, 0), PH_EINVAL);
}

/* Every code of the table is documented in docs/validation.md. */
static void test_rules_documented(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof(path), "%s/docs/validation.md", ts_source_dir());
    char *doc = ts_read_file(path, NULL);
    assert_non_null(doc);
    const char *code, *sev, *summary;
    size_t i = 0;
    for (; ph_rule_info(i, &code, &sev, &summary) == 0; i++) {
        char needle[64];
        snprintf(needle, sizeof(needle), "`%s`", code);
        if (!strstr(doc, needle))
            fail_msg("docs/validation.md does not document %s", code);
        assert_true(strlen(summary) > 10);
        assert_true(strcmp(sev, "fatal") == 0 || strcmp(sev, "warn") == 0 ||
                    strcmp(sev, "fatal|warn") == 0);
    }
    assert_int_equal(i, PH_R_COUNT);
    free(doc);
}

/* ---- helpers behind the rules ------------------------------------------------------------ */

/* Our validator accepts exactly what jansson's does (json_stringn validates UTF-8). */
static void test_utf8_matches_jansson(void **state)
{
    (void)state;
    static const unsigned char interesting[] = {0x00, 0x41, 0x7F, 0x80, 0xBF, 0xC0, 0xC1,
                                                0xC2, 0xDF, 0xE0, 0xE1, 0xED, 0xEF, 0xF0,
                                                0xF4, 0xF5, 0xFF, 0x90, 0x8F, 0xA0, 0x9F};
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (int iter = 0; iter < 200000; iter++) {
        unsigned char s[8];
        size_t len = (size_t)(iter % 7) + 1;
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            s[i] = (x >> 32) % 3 ? interesting[(x >> 8) % sizeof(interesting)]
                                 : (unsigned char)(x >> 16);
        }
        json_t *j = json_stringn((const char *)s, len);
        bool ours = ph_utf8_valid((const char *)s, len);
        if (ours != (j != NULL))
            fail_msg("disagree on %zu bytes starting %02x %02x", len, s[0], len > 1 ? s[1] : 0);
        json_decref(j);
        /* a repair always yields valid UTF-8, and leaves valid text alone */
        ph_buf b = {0};
        assert_int_equal(ph_utf8_repair(&b, (const char *)s, len), 0);
        assert_true(ph_utf8_valid(b.p, b.len));
        if (ours)
            assert_memory_equal(b.p, s, len);
        ph_buf_free(&b);
    }
}

static void test_utf8_cut(void **state)
{
    (void)state;
    const char *s = "a\xC3\xA9\xE2\x9C\x93\xF0\x9F\x98\x80"; /* 1 + 2 + 3 + 4 bytes */
    size_t len = strlen(s);
    static const size_t expect[] = {0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10};
    for (size_t max = 0; max <= len; max++)
        assert_int_equal(ph_utf8_cut(s, len, max), expect[max]);
    assert_int_equal(ph_utf8_cut(s, len, 100), len);
}

static void test_time_parse(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t ms;
        bool no_offset;
    } good[] = {
        {"1970-01-01T00:00:00Z", 0, false},
        {"2000-01-01T00:00:00Z", 946684800000LL, false},
        {"2024-02-29T12:34:56.789Z", 1709210096789LL, false},
        {"2024-02-29T12:34:56.7891234Z", 1709210096789LL, false},
        {"2024-02-29 12:34:56+02:00", 1709202896000LL, false},
        {"2024-02-29t12:34:56-00:30", 1709211896000LL, false},
        {"2016-12-31T23:59:60Z", 1483228800000LL, false},
        {"2025-06-01T12:00:00", 1748779200000LL, true},
        {"1969-12-31T23:59:59.999Z", -1, false},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t ms = 0;
        bool no_offset = !good[i].no_offset;
        if (!ph_time_parse(good[i].text, strlen(good[i].text), &ms, &no_offset))
            fail_msg("cannot parse %s", good[i].text);
        assert_int_equal(ms, good[i].ms);
        assert_int_equal(no_offset, good[i].no_offset);
    }
    static const char *const bad[] = {"",
                                      "2024",
                                      "2024-02-30T00:00:00Z",
                                      "2023-02-29T00:00:00Z",
                                      "2024-00-10T00:00:00Z",
                                      "2024-01-01T00:60:00Z",
                                      "2024-01-01T00:00:61Z",
                                      "2024-01-01T00:00:00+24:00",
                                      "2024-01-01T00:00:00Zjunk",
                                      "2024-1-01T00:00:00Z",
                                      "2024-01-01T00:00:00 Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms;
        bool no_offset;
        if (ph_time_parse(bad[i], strlen(bad[i]), &ms, &no_offset))
            fail_msg("parsed %s", bad[i]);
    }
}

static void test_issues_list(void **state)
{
    (void)state;
    ph_issues l;
    ph_issues_init(&l);
    for (int i = 0; i < 100; i++)
        assert_int_equal(ph_issues_add(&l, "code", i % 2 ? "f" : NULL, "n=%d", i), 0);
    assert_int_equal(l.n, 100);
    assert_string_equal(l.v[99].message, "n=99");
    assert_string_equal(l.v[99].field, "f");
    assert_null(l.v[98].field);
    ph_issues_clear(&l);
    assert_int_equal(l.n, 0);
    assert_true(l.cap >= 100);
    assert_int_equal(ph_issues_add(&l, "x", NULL, "again"), 0);
    ph_issues_free(&l);
    assert_int_equal(l.n, 0);
    assert_null(l.v);
    ph_issues_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_invalid_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_utf8, setup, teardown),
        cmocka_unit_test(test_invalid_utf8_repaired_when_warn),
        cmocka_unit_test_setup_teardown(test_duplicate_key, setup, teardown),
        cmocka_unit_test(test_duplicate_key_last_wins_when_warn),
        cmocka_unit_test_setup_teardown(test_not_object, setup, teardown),
        cmocka_unit_test(test_oversized_record),
        cmocka_unit_test_setup_teardown(test_missing_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_timestamp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timestamp_no_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_negative_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_impossible_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_role, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsupported_content, setup, teardown),
        cmocka_unit_test(test_oversized_field),
        cmocka_unit_test_setup_teardown(test_nul_character, setup, teardown),
        cmocka_unit_test(test_too_many),
        cmocka_unit_test_setup_teardown(test_conflicting_alias, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_problem_listed, setup, teardown),
        cmocka_unit_test(test_severity_overrides),
        cmocka_unit_test(test_rules_config_errors),
        cmocka_unit_test(test_rules_documented),
        cmocka_unit_test(test_utf8_matches_jansson),
        cmocka_unit_test(test_utf8_cut),
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_issues_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
