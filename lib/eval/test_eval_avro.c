/* LlmLog -> record view, result -> Evaluation, through the real codec and lib/record's JSON
 * mapping (the path `pharos eval` takes). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ph_avro.h"
#include "ph_error.h"
#include "ph_eval.h"
#include "ph_eval_avro.h"
#include "ph_record.h"

typedef struct fixture {
    ph_codec *codec;
    ph_rules *rules;
    ph_avro_encoder *enc;
    ph_avro_decoder *dec;
    avro_value_t llmlog;
    avro_value_t evaluation;
    ph_eval_scratch scratch;
} fixture;

static int setup(void **state)
{
    char errstr[PH_ERRSTR_SIZE];
    fixture *f = calloc(1, sizeof(*f));
    if (ph_codec_new(&f->codec, errstr, sizeof(errstr)) ||
        ph_rules_new(&f->rules, NULL, errstr, sizeof(errstr)) ||
        ph_avro_encoder_new(&f->enc, f->codec, errstr, sizeof(errstr)) ||
        ph_avro_decoder_new(&f->dec, f->codec, errstr, sizeof(errstr)) ||
        ph_codec_value_new(f->codec, PH_SCHEMA_LLM_LOG, &f->llmlog) ||
        ph_codec_value_new(f->codec, PH_SCHEMA_EVALUATION, &f->evaluation))
        return -1;
    ph_eval_scratch_init(&f->scratch);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    avro_value_decref(&f->llmlog);
    avro_value_decref(&f->evaluation);
    ph_eval_scratch_free(&f->scratch);
    ph_avro_encoder_destroy(f->enc);
    ph_avro_decoder_destroy(f->dec);
    ph_rules_destroy(f->rules);
    ph_codec_destroy(f->codec);
    free(f);
    return 0;
}

/* JSON log record -> LlmLog (lib/record) -> single-object bytes -> decoded value, like the
 * evaluator receives it from pharos.logs.valid. */
static avro_value_t *through_kafka(fixture *f, const char *json)
{
    ph_issues fatal, warnings;
    ph_issues_init(&fatal);
    ph_issues_init(&warnings);
    ph_raw_meta meta = {.fallback_record_id = "fallback-1", .ingest_time_ms = 1767323100000LL};
    int rc =
        ph_record_from_json(f->rules, json, strlen(json), &meta, &f->llmlog, &fatal, &warnings);
    if (rc)
        fail_msg("record invalid: %s", fatal.n ? fatal.v[0].message : "?");
    ph_issues_free(&fatal);
    ph_issues_free(&warnings);
    const void *buf;
    size_t len;
    char errstr[PH_ERRSTR_SIZE];
    avro_value_t *value = NULL;
    assert_int_equal(
        ph_avro_encode(f->enc, PH_SCHEMA_LLM_LOG, &f->llmlog, &buf, &len, errstr, sizeof(errstr)),
        0);
    assert_int_equal(
        ph_avro_decode(f->dec, PH_SCHEMA_LLM_LOG, buf, len, &value, errstr, sizeof(errstr)), 0);
    return value;
}

#define assert_str(str, want)                                                                      \
    do {                                                                                           \
        assert_int_equal((str).len, strlen(want));                                                 \
        assert_string_equal((str).s, want);                                                        \
    } while (0)

static void test_record_view(void **state)
{
    fixture *f = *state;
    char errstr[PH_ERRSTR_SIZE];
    avro_value_t *v = through_kafka(
        f, "{\"record_id\": \"r-1\", \"session_id\": \"s-1\", \"turn\": 3, \"trace_id\": "
           "\"4bf92f3577b34da6a3ce929d0e0e4736\", \"app\": \"bot\", \"environment\": \"prod\", "
           "\"model\": \"m1\", \"route\": \"/chat\", \"start_time\": \"2026-01-02T03:04:05Z\", "
           "\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": "
           "\"user\", \"content\": \"caf\\u00e9?\"}, {\"role\": \"assistant\", \"content\": "
           "\"yes\"}, {\"role\": \"user\", \"content\": \"and tea?\"}], \"response\": \"Tea "
           "too.\", \"context\": [{\"id\": \"d1\", \"content\": \"Tea is served.\"}, "
           "{\"content\": \"no id\"}], \"metadata\": {\"session_end\": true, \"tenant\": "
           "\"acme\"}}");
    ph_eval_record rec;
    assert_int_equal(ph_eval_record_from_avro(v, &f->scratch, &rec, errstr, sizeof(errstr)), 0);
    assert_str(rec.record_id, "r-1");
    assert_str(rec.session_id, "s-1");
    assert_str(rec.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_str(rec.app, "bot");
    assert_str(rec.environment, "prod");
    assert_str(rec.model, "m1");
    assert_str(rec.route, "/chat");
    assert_int_equal(rec.turn, 3);
    assert_false(rec.is_error);
    assert_int_equal(rec.nmessages, 4);
    assert_str(rec.messages[0].role, "system");
    assert_str(rec.messages[1].content, "caf\xc3\xa9?");
    assert_str(ph_eval_last_user(&rec)->content, "and tea?");
    assert_str(rec.output, "Tea too.");
    assert_int_equal(rec.ncontext, 2);
    assert_str(rec.context[0].id, "d1");
    assert_str(rec.context[1].id, "");
    assert_str(rec.context[1].content, "no id");
    assert_int_equal(rec.record_time_ms, 1767323045000LL);
    assert_int_equal(rec.ingest_time_ms, 1767323100000LL);
    const char *s;
    size_t len;
    assert_int_equal(ph_eval_avro_metadata(v, "session_end", &s, &len), 0);
    assert_string_equal(s, "true");
    assert_int_equal(len, 4);
    assert_int_equal(ph_eval_avro_metadata(v, "nope", &s, &len), PH_ENOENT);

    /* a minimal record: absent strings are empty, record time falls back to ingest time */
    v = through_kafka(f, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], "
                         "\"error\": {\"type\": \"timeout\"}}");
    assert_int_equal(ph_eval_record_from_avro(v, &f->scratch, &rec, errstr, sizeof(errstr)), 0);
    assert_str(rec.record_id, "fallback-1");
    assert_str(rec.session_id, "");
    assert_str(rec.app, "");
    assert_str(rec.output, "");
    assert_true(rec.is_error);
    assert_int_equal(rec.turn, 0);
    assert_int_equal(rec.nmessages, 1);
    assert_int_equal(rec.ncontext, 0);
    assert_int_equal(rec.record_time_ms, rec.ingest_time_ms);

    /* not an LlmLog */
    assert_int_equal(
        ph_eval_record_from_avro(&f->evaluation, &f->scratch, &rec, errstr, sizeof(errstr)),
        PH_EINVAL);
}

static void test_many_messages(void **state)
{
    fixture *f = *state;
    char errstr[PH_ERRSTR_SIZE];
    /* more messages than the scratch's first size: it grows, and is reused */
    size_t cap = 64 * 60 + 100;
    char *json = malloc(cap);
    size_t used = (size_t)snprintf(json, cap, "{\"messages\": [");
    for (int i = 0; i < 60; i++)
        used += (size_t)snprintf(json + used, cap - used,
                                 "%s{\"role\": \"user\", \"content\": \"m%d\"}", i ? "," : "", i);
    snprintf(json + used, cap - used, "], \"response\": \"ok\"}");
    avro_value_t *v = through_kafka(f, json);
    free(json);
    ph_eval_record rec;
    assert_int_equal(ph_eval_record_from_avro(v, &f->scratch, &rec, errstr, sizeof(errstr)), 0);
    assert_int_equal(rec.nmessages, 60);
    assert_str(rec.messages[59].content, "m59");
    assert_true(f->scratch.messages_cap >= 60);
}

static void test_evaluation(void **state)
{
    fixture *f = *state;
    char errstr[PH_ERRSTR_SIZE];
    avro_value_t *v = through_kafka(
        f, "{\"record_id\": \"r-2\", \"session_id\": \"s-2\", \"app\": \"bot\", \"model\": "
           "\"m2\", \"start_time\": 1767323045000, \"messages\": [{\"role\": \"user\", "
           "\"content\": \"hi\"}], \"response\": \"hello\"}");
    ph_eval_record rec;
    assert_int_equal(ph_eval_record_from_avro(v, &f->scratch, &rec, errstr, sizeof(errstr)), 0);

    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    sink.current_name = "pii";
    sink.current_version = "1.0123abcd";
    ph_eval_result *r = ph_eval_emit(&sink, "email");
    ph_eval_set_score(r, 0.25);
    ph_eval_set_label(r, "found");
    ph_eval_set_passed(r, false);
    ph_eval_explain(r, "%d addresses", 2);
    ph_eval_add_value(r, "count", 2);
    ph_eval_add_value(r, "chars", 40);
    r->cost_usd = 0.0015;
    r->tokens = 321;
    assert_int_equal(
        ph_eval_result_to_avro(r, &rec, 1767323046000LL, &f->evaluation, errstr, sizeof(errstr)),
        0);
    const void *buf;
    size_t len;
    assert_int_equal(ph_avro_encode(f->enc, PH_SCHEMA_EVALUATION, &f->evaluation, &buf, &len,
                                    errstr, sizeof(errstr)),
                     0);
    avro_value_t *back = NULL;
    assert_int_equal(
        ph_avro_decode(f->dec, PH_SCHEMA_EVALUATION, buf, len, &back, errstr, sizeof(errstr)), 0);
    char *text = ph_avro_to_json_string(back, errstr, sizeof(errstr));
    assert_non_null(text);
    assert_string_equal(
        text, "{\"record_id\":\"r-2\",\"session_id\":\"s-2\",\"trace_id\":null,\"app\":\"bot\","
              "\"environment\":null,\"model\":\"m2\",\"evaluator\":\"pii.email\","
              "\"evaluator_version\":\"1.0123abcd\",\"status\":\"OK\",\"score\":0.25,"
              "\"label\":\"found\",\"passed\":false,\"explanation\":\"2 addresses\","
              "\"values\":{\"count\":2.0,\"chars\":40.0},\"record_time\":1767323045000,"
              "\"ingest_time\":1767323100000,\"eval_time\":1767323046000,\"cost_usd\":0.0015,"
              "\"tokens\":321}");
    free(text);

    /* an ERROR result without score, label, verdict or values: nulls, and the value is reused
     * (no value of the previous result leaks into this one) */
    r = ph_eval_emit(&sink, NULL);
    r->status = PH_EVAL_ERROR;
    ph_eval_explain(r, "regex timed out");
    assert_int_equal(ph_eval_result_to_avro(r, &rec, 5, &f->evaluation, errstr, sizeof(errstr)), 0);
    assert_int_equal(ph_avro_encode(f->enc, PH_SCHEMA_EVALUATION, &f->evaluation, &buf, &len,
                                    errstr, sizeof(errstr)),
                     0);
    assert_int_equal(
        ph_avro_decode(f->dec, PH_SCHEMA_EVALUATION, buf, len, &back, errstr, sizeof(errstr)), 0);
    text = ph_avro_to_json_string(back, errstr, sizeof(errstr));
    assert_string_equal(
        text, "{\"record_id\":\"r-2\",\"session_id\":\"s-2\",\"trace_id\":null,\"app\":\"bot\","
              "\"environment\":null,\"model\":\"m2\",\"evaluator\":\"pii\","
              "\"evaluator_version\":\"1.0123abcd\",\"status\":\"ERROR\",\"score\":null,"
              "\"label\":null,\"passed\":null,\"explanation\":\"regex timed out\","
              "\"values\":{},\"record_time\":1767323045000,\"ingest_time\":1767323100000,"
              "\"eval_time\":5,\"cost_usd\":null,\"tokens\":null}");
    free(text);

    /* a session evaluation: a record view made up by the caller, times unknown */
    ph_eval_record srec;
    memset(&srec, 0, sizeof(srec));
    srec.record_id = (ph_str){"session:s-2", 11};
    srec.session_id = (ph_str){"s-2", 3};
    r = ph_eval_emit(&sink, NULL);
    r->status = PH_EVAL_SKIPPED;
    ph_eval_set_passed(r, true);
    ph_eval_set_score(r, NAN); /* encodes; the JSON view shows null */
    assert_int_equal(ph_eval_result_to_avro(r, &srec, 7, &f->evaluation, errstr, sizeof(errstr)),
                     0);
    assert_int_equal(ph_avro_encode(f->enc, PH_SCHEMA_EVALUATION, &f->evaluation, &buf, &len,
                                    errstr, sizeof(errstr)),
                     0);
    assert_int_equal(
        ph_avro_decode(f->dec, PH_SCHEMA_EVALUATION, buf, len, &back, errstr, sizeof(errstr)), 0);
    text = ph_avro_to_json_string(back, errstr, sizeof(errstr));
    assert_string_equal(
        text, "{\"record_id\":\"session:s-2\",\"session_id\":\"s-2\",\"trace_id\":null,"
              "\"app\":null,\"environment\":null,\"model\":null,\"evaluator\":\"pii\","
              "\"evaluator_version\":\"1.0123abcd\",\"status\":\"SKIPPED\",\"score\":null,"
              "\"label\":null,\"passed\":true,\"explanation\":null,\"values\":{},"
              "\"record_time\":null,\"ingest_time\":null,\"eval_time\":7,\"cost_usd\":null,"
              "\"tokens\":null}");
    free(text);

    /* not an Evaluation value */
    assert_int_not_equal(ph_eval_result_to_avro(r, &srec, 7, &f->llmlog, errstr, sizeof(errstr)),
                         0);
    ph_eval_sink_free(&sink);
}

/* The direct Evaluation writer against avro-c, byte for byte. */
static void test_direct_encoding(void **state)
{
    fixture *f = *state;
    char errstr[PH_ERRSTR_SIZE];
    ph_eval_encoder *enc = NULL;
    assert_int_equal(ph_eval_encoder_new(&enc, f->codec, errstr, sizeof(errstr)), 0);
    /* fails when schemas/evaluation.avsc changed: make write_direct follow it, then update
     * EVALUATION_FINGERPRINT */
    assert_true(ph_eval_encoder_direct(enc));
    ph_eval_record rec;
    memset(&rec, 0, sizeof(rec));
    rec.record_id = (ph_str){"r-\xc3\xa9", 4};
    rec.session_id = (ph_str){"s", 1};
    rec.trace_id = rec.app = rec.environment = rec.route = rec.output = (ph_str){"", 0};
    rec.model = (ph_str){"gpt", 3};
    rec.record_time_ms = -5;
    rec.ingest_time_ms = 1767323100000LL;
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    sink.current_name = "a_rather_long_evaluator_name_of_forty_chars";
    sink.current_version = "12.deadbeef";
    for (int k = 0; k < 6; k++) {
        ph_eval_sink_reset(&sink);
        ph_eval_result *r = ph_eval_emit(&sink, k % 2 ? "sub" : NULL);
        r->status = (ph_eval_status)(k % 3);
        if (k != 1)
            ph_eval_set_score(r, k == 2 ? NAN : -1.5 * k);
        if (k % 3 == 0)
            ph_eval_set_label(r, "lab\xe2\x82\xac");
        r->passed = k % 3 - 1;
        if (k != 4)
            ph_eval_explain(r, "why %d", k);
        for (int i = 0; i < k * 6 && i < PH_EVAL_MAX_VALUES; i++) {
            char name[16];
            snprintf(name, sizeof(name), "v%d", i % 20);
            ph_eval_add_value(r, name, i * 0.25);
        }
        if (k == 5) { /* a name twice, written directly: first place, last value */
            snprintf(r->values[r->nvalues].name, sizeof(r->values[0].name), "v3");
            r->values[r->nvalues++].value = 99;
        }
        r->cost_usd = k == 3 ? 0.25 : 0;
        r->tokens = k == 3 ? 1LL << 40 : 0;
        rec.session_id.len = k == 4 ? 0 : 1;
        const void *direct, *generic;
        size_t dlen, glen;
        assert_int_equal(ph_eval_encode(enc, r, &rec, 1767323200000LL + k, &direct, &dlen, errstr,
                                        sizeof(errstr)),
                         0);
        assert_int_equal(ph_eval_result_to_avro(r, &rec, 1767323200000LL + k, &f->evaluation,
                                                errstr, sizeof(errstr)),
                         0);
        assert_int_equal(ph_avro_encode(f->enc, PH_SCHEMA_EVALUATION, &f->evaluation, &generic,
                                        &glen, errstr, sizeof(errstr)),
                         0);
        assert_int_equal(dlen, glen);
        assert_memory_equal(direct, generic, glen);
    }
    ph_eval_sink_free(&sink);
    ph_eval_encoder_destroy(enc);
    ph_eval_encoder_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_view),
        cmocka_unit_test(test_many_messages),
        cmocka_unit_test(test_evaluation),
        cmocka_unit_test(test_direct_encoding),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
