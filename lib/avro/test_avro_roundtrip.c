/* Every embedded schema parses, and fully filled values of each survive encode and decode. */
#include "test_avro_util.h"

#include "ph_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

struct fixture {
    ph_codec *codec;
    ph_avro_encoder *enc;
    ph_avro_decoder *dec;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->codec = tu_codec();
    assert_int_equal(ph_avro_encoder_new(&f->enc, f->codec, NULL, 0), 0);
    assert_int_equal(ph_avro_decoder_new(&f->dec, f->codec, NULL, 0), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    ph_avro_decoder_destroy(f->dec);
    ph_avro_encoder_destroy(f->enc);
    ph_codec_destroy(f->codec);
    free(f);
    return 0;
}

static void assert_same(const avro_value_t *a, const avro_value_t *b)
{
    if (!avro_value_equal((avro_value_t *)a, (avro_value_t *)b)) {
        char *ja = ph_avro_to_json_string(a, NULL, 0), *jb = ph_avro_to_json_string(b, NULL, 0);
        fail_msg("values differ:\n%s\n%s", ja, jb);
    }
}

static void test_schemas_parse(void **state)
{
    struct fixture *f = *state;
    for (int id = 0; id < PH_SCHEMA_COUNT; id++) {
        ph_schema_id got;
        avro_schema_t s = ph_codec_schema(f->codec, (ph_schema_id)id);
        assert_non_null(s);
        assert_true(is_avro_record(s));
        assert_non_null(ph_codec_iface(f->codec, (ph_schema_id)id));
        assert_int_equal(ph_schema_by_name(ph_schema_file((ph_schema_id)id), &got), 0);
        assert_int_equal(got, id);
        assert_int_equal(ph_schema_by_name(ph_schema_name((ph_schema_id)id), &got), 0);
        assert_int_equal(got, id);
    }
    ph_schema_id got;
    assert_int_equal(ph_schema_by_name("LlmLog", &got), 0);
    assert_int_equal(got, PH_SCHEMA_LLM_LOG);
    assert_int_equal(ph_schema_by_name("nope", &got), PH_ENOENT);
    assert_null(ph_codec_schema(f->codec, PH_SCHEMA_COUNT));
    assert_null(ph_schema_json(PH_SCHEMA_COUNT, NULL));
}

static void roundtrip(struct fixture *f, ph_schema_id id, const avro_value_t *v)
{
    char errstr[PH_ERRSTR_SIZE] = "";
    const void *buf;
    size_t len;
    avro_value_t *out;
    uint64_t fp;

    if (ph_avro_encode(f->enc, id, v, &buf, &len, errstr, sizeof(errstr)) != 0)
        fail_msg("encode %s: %s", ph_schema_name(id), errstr);
    assert_true(len > PH_AVRO_HEADER_SIZE);
    assert_true(ph_avro_is_single_object(buf, len));
    const unsigned char *p = buf;
    assert_int_equal(p[0], 0xC3);
    assert_int_equal(p[1], 0x01);
    assert_int_equal(ph_avro_peek_fingerprint(buf, len, &fp), 0);
    assert_true(fp == ph_codec_fingerprint(f->codec, id));
    assert_int_equal(p[2], (unsigned char)fp); /* little-endian */

    if (ph_avro_decode(f->dec, id, buf, len, &out, errstr, sizeof(errstr)) != 0)
        fail_msg("decode %s: %s", ph_schema_name(id), errstr);
    assert_same(v, out);
}

/* Fully filled values (every union on a non-null branch, arrays and maps of two, enums on
 * their last symbol), twice with different content to exercise value and buffer reuse. */
static void test_every_schema(void **state)
{
    struct fixture *f = *state;
    for (int id = 0; id < PH_SCHEMA_COUNT; id++) {
        avro_value_t v;
        assert_int_equal(ph_codec_value_new(f->codec, (ph_schema_id)id, &v), 0);
        for (unsigned seed = 1; seed <= 3; seed++) {
            avro_value_reset(&v);
            tu_fill(&v, seed * 1000);
            roundtrip(f, (ph_schema_id)id, &v);
        }
        avro_value_decref(&v);
    }
}

/* Interleaving schemas in one decoder keeps each output value separate. */
static void test_interleaved(void **state)
{
    struct fixture *f = *state;
    avro_value_t log, fb;
    avro_value_t *out_log, *out_fb;
    const void *buf;
    size_t len;
    char *copy;

    assert_int_equal(ph_codec_value_new(f->codec, PH_SCHEMA_LLM_LOG, &log), 0);
    assert_int_equal(ph_codec_value_new(f->codec, PH_SCHEMA_FEEDBACK, &fb), 0);
    tu_fill_llm_log(&log, 7);
    tu_fill(&fb, 3);

    assert_int_equal(ph_avro_encode(f->enc, PH_SCHEMA_LLM_LOG, &log, &buf, &len, NULL, 0), 0);
    copy = malloc(len);
    memcpy(copy, buf, len);
    assert_int_equal(ph_avro_decode(f->dec, PH_SCHEMA_LLM_LOG, copy, len, &out_log, NULL, 0), 0);
    free(copy); /* the decoded value does not point into the input */
    assert_int_equal(ph_avro_encode(f->enc, PH_SCHEMA_FEEDBACK, &fb, &buf, &len, NULL, 0), 0);
    assert_int_equal(ph_avro_decode(f->dec, PH_SCHEMA_FEEDBACK, buf, len, &out_fb, NULL, 0), 0);
    assert_same(&log, out_log);
    assert_same(&fb, out_fb);
    avro_value_decref(&log);
    avro_value_decref(&fb);
}

/* The realistic LlmLog the benchmark uses is about 1.3 KB. */
static void test_llm_log_size(void **state)
{
    struct fixture *f = *state;
    avro_value_t v;
    const void *buf;
    size_t len;

    assert_int_equal(ph_codec_value_new(f->codec, PH_SCHEMA_LLM_LOG, &v), 0);
    tu_fill_llm_log(&v, 1);
    assert_int_equal(ph_avro_encode(f->enc, PH_SCHEMA_LLM_LOG, &v, &buf, &len, NULL, 0), 0);
    print_message("realistic LlmLog: %zu bytes encoded\n", len);
    assert_in_range(len, 1100, 1500);
    roundtrip(f, PH_SCHEMA_LLM_LOG, &v);
    avro_value_decref(&v);
}

/* No size limit but memory: the buffer grows past its initial 4 KB. */
static void test_large_value(void **state)
{
    struct fixture *f = *state;
    avro_value_t v;
    size_t big = 3 * 1024 * 1024;
    char *text = malloc(big + 1);

    memset(text, 'x', big);
    text[big] = '\0';
    assert_int_equal(ph_codec_value_new(f->codec, PH_SCHEMA_LLM_LOG, &v), 0);
    tu_fill_llm_log(&v, 2);
    assert_int_equal(ph_avro_set_string(&v, "output", text), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(ph_avro_append_string(&v, "tags", "a-tag"), 0);
    roundtrip(f, PH_SCHEMA_LLM_LOG, &v);
    /* And small again: the buffer is reused, the length is right. */
    avro_value_reset(&v);
    tu_fill_llm_log(&v, 3);
    roundtrip(f, PH_SCHEMA_LLM_LOG, &v);
    avro_value_decref(&v);
    free(text);
}

/* Values avro-c cannot write fail with a message naming the field. */
static void test_encode_errors(void **state)
{
    struct fixture *f = *state;
    char errstr[PH_ERRSTR_SIZE] = "";
    avro_value_t v, fb, msg;
    const void *buf = NULL;
    size_t len = 0;

    assert_int_equal(ph_codec_value_new(f->codec, PH_SCHEMA_LLM_LOG, &v), 0);
    assert_int_equal(ph_codec_value_new(f->codec, PH_SCHEMA_FEEDBACK, &fb), 0);
    tu_fill_llm_log(&v, 1);

    /* Wrong schema for the id. */
    assert_int_equal(
        ph_avro_encode(f->enc, PH_SCHEMA_FEEDBACK, &v, &buf, &len, errstr, sizeof(errstr)),
        PH_EINVAL);
    assert_non_null(strstr(errstr, "not a dev.pharos.Feedback"));
    assert_null(buf);
    assert_int_equal(ph_avro_encode(f->enc, PH_SCHEMA_COUNT, &v, &buf, &len, NULL, 0), PH_EINVAL);

    /* A required string cleared by reset and not set again. */
    avro_value_reset(&v);
    tu_fill_llm_log(&v, 1);
    avro_value_reset(&v);
    assert_int_equal(
        ph_avro_encode(f->enc, PH_SCHEMA_LLM_LOG, &v, &buf, &len, errstr, sizeof(errstr)),
        PH_EINVAL);
    assert_non_null(strstr(errstr, "field record_id"));

    /* A union left without a branch, deep inside. */
    avro_value_reset(&v);
    tu_fill_llm_log(&v, 1);
    assert_int_equal(ph_avro_append(&v, "input_messages", &msg), 0);
    assert_int_equal(ph_avro_set_string(&msg, "role", "user"), 0);
    assert_int_equal(ph_avro_set_string(&msg, "content", "hi"), 0);
    assert_int_equal(
        ph_avro_encode(f->enc, PH_SCHEMA_LLM_LOG, &v, &buf, &len, errstr, sizeof(errstr)),
        PH_EINVAL);
    assert_non_null(strstr(errstr, "field input_messages[2].name: union without"));

    /* Fixed, it encodes. */
    assert_int_equal(ph_avro_set_null(&msg, "name"), 0);
    roundtrip(f, PH_SCHEMA_LLM_LOG, &v);

    avro_value_decref(&v);
    avro_value_decref(&fb);
}

static void test_null_safety(void **state)
{
    ph_avro_encoder_destroy(NULL);
    ph_avro_decoder_destroy(NULL);
    ph_codec_destroy(NULL);
    ph_avro_encoder *enc = NULL;
    ph_avro_decoder *dec = NULL;
    assert_int_equal(ph_avro_encoder_new(&enc, NULL, NULL, 0), PH_EINVAL);
    assert_int_equal(ph_avro_decoder_new(&dec, NULL, NULL, 0), PH_EINVAL);
    assert_null(enc);
    assert_null(dec);
    /* A codec with an override that is not the expected record is refused. */
    const char *json[PH_SCHEMA_COUNT] = {0};
    char errstr[PH_ERRSTR_SIZE] = "";
    ph_codec *codec = NULL;
    json[PH_SCHEMA_ALERT] = "{\"type\":\"record\",\"name\":\"dev.pharos.Other\",\"fields\":[]}";
    assert_int_equal(ph_codec_new_with_schemas(&codec, json, errstr, sizeof(errstr)), PH_EINVAL);
    assert_non_null(strstr(errstr, "expected dev.pharos.Alert"));
    json[PH_SCHEMA_ALERT] = "{\"type\":\"record\",\"name\":\"dev.pharos.Alert\",\"fields\":[{}]}";
    assert_int_equal(ph_codec_new_with_schemas(&codec, json, errstr, sizeof(errstr)), PH_EINVAL);
    /* A default that does not fit its field, deep in a nested record. */
    json[PH_SCHEMA_ALERT] = "{\"type\":\"record\",\"name\":\"dev.pharos.Alert\",\"fields\":["
                            "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":{\"type\":"
                            "\"record\",\"name\":\"In\",\"fields\":[{\"name\":\"n\",\"type\":"
                            "[\"null\",\"int\"],\"default\":\"zero\"}]}}}]}";
    assert_int_equal(ph_codec_new_with_schemas(&codec, json, errstr, sizeof(errstr)), PH_EINVAL);
    assert_non_null(strstr(errstr, "field n: default value does not fit the reader type null"));
    json[PH_SCHEMA_ALERT] = "not json";
    assert_int_equal(ph_codec_new_with_schemas(&codec, json, errstr, sizeof(errstr)), PH_EINVAL);
    assert_non_null(strstr(errstr, "not JSON"));
    assert_null(codec);
}

/* One codec shared by threads, each with its own encoder, decoder and values: the use the
 * header promises is safe. Run under the sanitizers in CI. */
struct worker {
    ph_codec *codec;
    int id, failures;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    ph_avro_encoder *enc = NULL;
    ph_avro_decoder *dec = NULL;
    avro_value_t v, *out;
    const void *buf;
    size_t len;

    if (ph_avro_encoder_new(&enc, w->codec, NULL, 0) ||
        ph_avro_decoder_new(&dec, w->codec, NULL, 0))
        return NULL;
    ph_schema_id id = (ph_schema_id)(w->id % PH_SCHEMA_COUNT);
    if (ph_codec_value_new(w->codec, id, &v) == 0) {
        for (int i = 0; i < 2000; i++) {
            avro_value_reset(&v);
            tu_fill(&v, (unsigned)(w->id * 100000 + i));
            if (ph_avro_encode(enc, id, &v, &buf, &len, NULL, 0) ||
                ph_avro_decode(dec, id, buf, len, &out, NULL, 0) || !avro_value_equal(&v, out))
                w->failures++;
        }
        avro_value_decref(&v);
    }
    ph_avro_decoder_destroy(dec);
    ph_avro_encoder_destroy(enc);
    return NULL;
}

static void test_threads(void **state)
{
    struct fixture *f = *state;
    pthread_t th[8];
    struct worker w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){.codec = f->codec, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schemas_parse), cmocka_unit_test(test_every_schema),
        cmocka_unit_test(test_interleaved),   cmocka_unit_test(test_llm_log_size),
        cmocka_unit_test(test_large_value),   cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_null_safety),   cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
