/* Schema evolution: readers and writers of different LlmLog versions understand each other. */
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

/* The current LlmLog plus what a future version might add: an optional field (default null), a
 * field with a non-null default of each kind, a field added inside a nested record, and "turn"
 * widened from int to long. */
static char *newer_llm_log(void)
{
    json_t *s = tu_schema_load(PH_SCHEMA_LLM_LOG);
    json_t *fields = tu_fields(s);
    json_error_t jerr;

    json_array_append_new(fields,
                          json_loads("{\"name\":\"reviewer\",\"type\":[\"null\",\"string\"],"
                                     "\"default\":null}",
                                     0, &jerr));
    json_array_append_new(fields, json_loads("{\"name\":\"priority\",\"type\":\"int\","
                                             "\"default\":7}",
                                             0, &jerr));
    json_array_append_new(
        fields, json_loads("{\"name\":\"labels\",\"type\":{\"type\":\"map\",\"values\":\"string\"},"
                           "\"default\":{\"origin\":\"legacy\"}}",
                           0, &jerr));
    json_array_append_new(fields,
                          json_loads("{\"name\":\"grade\",\"type\":{\"type\":\"enum\",\"name\":"
                                     "\"Grade\",\"symbols\":[\"A\",\"B\"]},\"default\":\"B\"}",
                                     0, &jerr));
    json_array_append_new(fields, json_loads("{\"name\":\"blob\",\"type\":\"bytes\","
                                             "\"default\":\"\\u00ffA\"}",
                                             0, &jerr));
    json_array_append_new(
        fields, json_loads("{\"name\":\"origin\",\"type\":{\"type\":\"record\",\"name\":\"Origin\","
                           "\"fields\":[{\"name\":\"host\",\"type\":\"string\"},"
                           "{\"name\":\"score\",\"type\":[\"double\",\"null\"]}]},"
                           "\"default\":{\"host\":\"h1\",\"score\":0.5}}",
                           0, &jerr));

    /* turn: ["null","int"] -> ["null","long"] */
    json_t *turn = json_array_get(fields, (size_t)tu_field_index(s, "turn"));
    json_object_set_new(turn, "type", json_pack("[s,s]", "null", "long"));

    /* Message gains an optional "lang". */
    json_t *msgs = json_array_get(fields, (size_t)tu_field_index(s, "input_messages"));
    json_t *msg = json_object_get(json_object_get(msgs, "type"), "items");
    json_array_append_new(tu_fields(msg), json_pack("{s:s,s:[s,s],s:n}", "name", "lang", "type",
                                                    "null", "string", "default"));
    char *text = tu_schema_dump(s);
    json_decref(s);
    return text;
}

/* The current LlmLog without its optional "route" field, as an older version might have been. */
static char *older_llm_log(void)
{
    json_t *s = tu_schema_load(PH_SCHEMA_LLM_LOG);
    assert_int_equal(json_array_remove(tu_fields(s), (size_t)tu_field_index(s, "route")), 0);
    char *text = tu_schema_dump(s);
    json_decref(s);
    return text;
}

static ph_codec *codec_with_llm_log(const char *json)
{
    const char *schemas[PH_SCHEMA_COUNT] = {0};
    char errstr[PH_ERRSTR_SIZE] = "";
    ph_codec *codec = NULL;
    schemas[PH_SCHEMA_LLM_LOG] = json;
    if (ph_codec_new_with_schemas(&codec, schemas, errstr, sizeof(errstr)) != 0)
        fail_msg("codec: %s", errstr);
    return codec;
}

static void add_writer(ph_codec *codec, const char *json, uint64_t expect_fp)
{
    char errstr[PH_ERRSTR_SIZE] = "";
    uint64_t fp = 0;
    if (ph_codec_add_writer_schema(codec, json, strlen(json), &fp, errstr, sizeof(errstr)) != 0)
        fail_msg("add writer: %s", errstr);
    assert_true(fp == expect_fp);
}

/* Encodes v (of codec `from`) and decodes it as LlmLog with codec `to`. */
static avro_value_t *transfer(ph_codec *from, ph_codec *to, const avro_value_t *v,
                              ph_avro_decoder *dec)
{
    char errstr[PH_ERRSTR_SIZE] = "";
    ph_avro_encoder *enc = NULL;
    const void *buf;
    size_t len;
    avro_value_t *out = NULL;

    assert_int_equal(ph_avro_encoder_new(&enc, from, NULL, 0), 0);
    if (ph_avro_encode(enc, PH_SCHEMA_LLM_LOG, v, &buf, &len, errstr, sizeof(errstr)) != 0)
        fail_msg("encode: %s", errstr);
    if (ph_avro_decode(dec, PH_SCHEMA_LLM_LOG, buf, len, &out, errstr, sizeof(errstr)) != 0)
        fail_msg("decode: %s", errstr);
    ph_avro_encoder_destroy(enc);
    (void)to;
    return out;
}

/* Every field of `a` that `b` also has holds the same JSON, at any depth. */
static bool common_equal(const json_t *a, const json_t *b)
{
    if (json_is_object(a) && json_is_object(b)) {
        const char *key;
        json_t *va;
        json_object_foreach((json_t *)a, key, va)
        {
            json_t *vb = json_object_get(b, key);
            if (vb && !common_equal(va, vb))
                return false;
        }
        return true;
    }
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!common_equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    return json_equal(a, b);
}

static void assert_common_fields_equal(const avro_value_t *a, const avro_value_t *b)
{
    json_t *ja, *jb;
    assert_int_equal(ph_avro_to_json(a, &ja, NULL, 0), 0);
    assert_int_equal(ph_avro_to_json(b, &jb, NULL, 0), 0);
    if (!common_equal(ja, jb))
        fail_msg("values differ:\n%s\n%s", json_dumps(ja, 0), json_dumps(jb, 0));
    json_decref(ja);
    json_decref(jb);
}

/* A reader with the NEWER schema reads messages written with the current one. */
static void test_newer_reader(void **state)
{
    char *newer = newer_llm_log();
    ph_codec *current = tu_codec(), *future = codec_with_llm_log(newer);
    ph_avro_decoder *dec = NULL;
    avro_value_t v, *out;
    size_t len;
    const char *cur_json = ph_schema_json(PH_SCHEMA_LLM_LOG, &len);
    char errstr[PH_ERRSTR_SIZE] = "";

    assert_true(ph_codec_fingerprint(current, PH_SCHEMA_LLM_LOG) !=
                ph_codec_fingerprint(future, PH_SCHEMA_LLM_LOG));
    assert_int_equal(ph_avro_decoder_new(&dec, future, NULL, 0), 0);

    /* Unknown until registered. */
    {
        ph_avro_encoder *enc;
        const void *buf;
        size_t n;
        assert_int_equal(ph_codec_value_new(current, PH_SCHEMA_LLM_LOG, &v), 0);
        tu_fill_llm_log(&v, 5);
        assert_int_equal(ph_avro_encoder_new(&enc, current, NULL, 0), 0);
        assert_int_equal(ph_avro_encode(enc, PH_SCHEMA_LLM_LOG, &v, &buf, &n, NULL, 0), 0);
        assert_int_equal(
            ph_avro_decode(dec, PH_SCHEMA_LLM_LOG, buf, n, &out, errstr, sizeof(errstr)),
            PH_ENOENT);
        assert_non_null(strstr(errstr, "unknown writer schema fingerprint 0x"));
        ph_avro_encoder_destroy(enc);
    }
    add_writer(future, cur_json, ph_codec_fingerprint(current, PH_SCHEMA_LLM_LOG));

    for (unsigned round = 0; round < 3; round++) { /* the cached route and reused values */
        avro_value_reset(&v);
        tu_fill_llm_log(&v, 5 + round);
        if (round == 2) { /* and the full variety of every branch */
            avro_value_reset(&v);
            tu_fill(&v, 77);
        }
        out = transfer(current, future, &v, dec);
        assert_common_fields_equal(&v, out);

        const char *s = (const char *)1;
        int64_t l = 0;
        assert_int_equal(ph_avro_get_string(out, "reviewer", &s, NULL), 0);
        assert_null(s);
        assert_int_equal(ph_avro_get_long(out, "priority", &l), 0);
        assert_int_equal(l, 7);
        assert_int_equal(ph_avro_get_enum(out, "grade", &s), 0);
        assert_string_equal(s, "B");
        const void *blob;
        size_t blen;
        assert_int_equal(ph_avro_get_bytes(out, "blob", &blob, &blen), 0);
        assert_int_equal(blen, 2);
        assert_memory_equal(blob,
                            "\xff"
                            "A",
                            2);
        avro_value_t origin, labels, m;
        assert_int_equal(ph_avro_get(out, "origin", &origin), 0);
        assert_int_equal(ph_avro_get_string(&origin, "host", &s, NULL), 0);
        assert_string_equal(s, "h1");
        double d = 0;
        assert_int_equal(ph_avro_get_double(&origin, "score", &d), 0);
        assert_true(d == 0.5);
        assert_int_equal(ph_avro_get(out, "labels", &labels), 0);
        size_t n = 0;
        assert_int_equal(avro_value_get_size(&labels, &n), 0);
        assert_int_equal(n, 1);
        /* turn was written as int, read as long */
        if (round < 2) {
            assert_int_equal(ph_avro_get_long(out, "turn", &l), 0);
            assert_int_equal(l, 3);
        }
        avro_value_t msgs;
        assert_int_equal(ph_avro_get(out, "input_messages", &msgs), 0);
        assert_int_equal(avro_value_get_by_index(&msgs, 0, &m, NULL), 0);
        assert_true(ph_avro_is_null(&m, "lang"));
    }

    avro_value_decref(&v);
    ph_avro_decoder_destroy(dec);
    ph_codec_destroy(future);
    ph_codec_destroy(current);
    free(newer);
}

/* An OLDER writer (without the optional "route") is read by the current reader: route is null. */
static void test_older_writer(void **state)
{
    char *older = older_llm_log();
    ph_codec *past = codec_with_llm_log(older), *current = tu_codec();
    ph_avro_decoder *dec = NULL;
    avro_value_t v, *out;
    const char *s;

    add_writer(current, older, ph_codec_fingerprint(past, PH_SCHEMA_LLM_LOG));
    assert_int_equal(ph_avro_decoder_new(&dec, current, NULL, 0), 0);
    assert_int_equal(ph_codec_value_new(past, PH_SCHEMA_LLM_LOG, &v), 0);
    for (unsigned round = 0; round < 2; round++) {
        avro_value_reset(&v);
        tu_fill_llm_log(&v, round);
        assert_int_equal(ph_avro_set_string(&v, "route", "x"), PH_EINVAL); /* not in the past */
        out = transfer(past, current, &v, dec);
        assert_common_fields_equal(&v, out);
        assert_int_equal(ph_avro_get_string(out, "route", &s, NULL), 0);
        assert_null(s);
        assert_int_equal(ph_avro_get_string(out, "record_id", &s, NULL), 0);
        char id[33];
        snprintf(id, sizeof(id), "%032x", round);
        assert_string_equal(s, id);
    }
    avro_value_decref(&v);
    ph_avro_decoder_destroy(dec);
    ph_codec_destroy(current);
    ph_codec_destroy(past);
    free(older);
}

/* A NEWER writer read by the current reader: its extra fields are skipped (avro-c's resolver). */
static void test_newer_writer(void **state)
{
    char *newer = newer_llm_log();
    json_t *nj = json_loads(newer, 0, NULL);
    /* A writer can only widen turn if the reader can read it; keep turn an int here. */
    json_t *turn = json_array_get(tu_fields(nj), (size_t)tu_field_index(nj, "turn"));
    json_object_set_new(turn, "type", json_pack("[s,s]", "null", "int"));
    free(newer);
    newer = tu_schema_dump(nj);
    json_decref(nj);

    ph_codec *future = codec_with_llm_log(newer), *current = tu_codec();
    ph_avro_decoder *dec = NULL;
    avro_value_t v, *out;
    int64_t l;

    add_writer(current, newer, ph_codec_fingerprint(future, PH_SCHEMA_LLM_LOG));
    assert_int_equal(ph_avro_decoder_new(&dec, current, NULL, 0), 0);
    assert_int_equal(ph_codec_value_new(future, PH_SCHEMA_LLM_LOG, &v), 0);
    for (unsigned round = 0; round < 3; round++) { /* the cached resolver and reused values */
        avro_value_reset(&v);
        tu_fill(&v, 11 + 100 * round);
        out = transfer(future, current, &v, dec);
        assert_common_fields_equal(&v, out);
        assert_int_equal(ph_avro_get_long(out, "priority", &l), PH_EINVAL); /* not in the reader */
    }
    avro_value_decref(&v);
    ph_avro_decoder_destroy(dec);
    ph_codec_destroy(current);
    ph_codec_destroy(future);
    free(newer);
}

/* Writers that cannot be read as the reader fail cleanly, every time. */
static void test_incompatible(void **state)
{
    ph_codec *codec = tu_codec();
    ph_avro_decoder *dec = NULL;
    ph_avro_encoder *enc = NULL;
    avro_value_t v, *out;
    const void *buf;
    size_t len;
    char errstr[PH_ERRSTR_SIZE] = "";

    assert_int_equal(ph_avro_decoder_new(&dec, codec, NULL, 0), 0);
    assert_int_equal(ph_avro_encoder_new(&enc, codec, NULL, 0), 0);

    /* A Feedback is not an LlmLog. */
    assert_int_equal(ph_codec_value_new(codec, PH_SCHEMA_FEEDBACK, &v), 0);
    tu_fill(&v, 1);
    assert_int_equal(ph_avro_encode(enc, PH_SCHEMA_FEEDBACK, &v, &buf, &len, NULL, 0), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(
            ph_avro_decode(dec, PH_SCHEMA_LLM_LOG, buf, len, &out, errstr, sizeof(errstr)),
            PH_EAVRO);
        assert_non_null(strstr(errstr, "dev.pharos.Feedback"));
    }
    avro_value_decref(&v);

    /* A reader field the writer lacks with no default. */
    json_t *s = tu_schema_load(PH_SCHEMA_LLM_LOG);
    json_array_append_new(tu_fields(s), json_pack("{s:s,s:s}", "name", "must", "type", "string"));
    char *strict = tu_schema_dump(s);
    json_decref(s);
    ph_codec *future = codec_with_llm_log(strict);
    ph_avro_decoder *fdec = NULL;
    size_t cl;
    const char *cur = ph_schema_json(PH_SCHEMA_LLM_LOG, &cl);
    assert_int_equal(ph_codec_add_writer_schema(future, cur, cl, NULL, NULL, 0), 0);
    /* Registering twice changes nothing. */
    assert_int_equal(ph_codec_add_writer_schema(future, cur, cl, NULL, NULL, 0), 0);
    assert_int_equal(ph_avro_decoder_new(&fdec, future, NULL, 0), 0);
    assert_int_equal(ph_codec_value_new(codec, PH_SCHEMA_LLM_LOG, &v), 0);
    tu_fill_llm_log(&v, 1);
    assert_int_equal(ph_avro_encode(enc, PH_SCHEMA_LLM_LOG, &v, &buf, &len, NULL, 0), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(
            ph_avro_decode(fdec, PH_SCHEMA_LLM_LOG, buf, len, &out, errstr, sizeof(errstr)),
            PH_EAVRO);
        assert_non_null(strstr(errstr, "must: missing in the writer schema and without default"));
    }
    /* A bad writer schema is refused. */
    assert_int_equal(
        ph_codec_add_writer_schema(future, "{\"type\":", 8, NULL, errstr, sizeof(errstr)),
        PH_EINVAL);
    assert_int_equal(ph_codec_add_writer_schema(future, "{\"type\":\"recor\"}", 16, NULL, errstr,
                                                sizeof(errstr)),
                     PH_EINVAL);

    avro_value_decref(&v);
    ph_avro_decoder_destroy(fdec);
    ph_codec_destroy(future);
    free(strict);
    ph_avro_encoder_destroy(enc);
    ph_avro_decoder_destroy(dec);
    ph_codec_destroy(codec);
}

/* Threads sharing the codec decode through the copy route, which reads the codec's defaults. */
struct reader_thread {
    ph_codec *codec;
    const void *msg;
    size_t len;
    int failures;
};

static void *read_many(void *arg)
{
    struct reader_thread *t = arg;
    ph_avro_decoder *dec = NULL;
    avro_value_t *out;
    int64_t l;

    if (ph_avro_decoder_new(&dec, t->codec, NULL, 0) != 0) {
        t->failures++;
        return NULL;
    }
    for (int i = 0; i < 2000; i++)
        if (ph_avro_decode(dec, PH_SCHEMA_LLM_LOG, t->msg, t->len, &out, NULL, 0) != 0 ||
            ph_avro_get_long(out, "priority", &l) != 0 || l != 7)
            t->failures++;
    ph_avro_decoder_destroy(dec);
    return NULL;
}

static void test_threads_copy_route(void **state)
{
    char *newer = newer_llm_log();
    ph_codec *current = tu_codec(), *future = codec_with_llm_log(newer);
    ph_avro_encoder *enc = NULL;
    avro_value_t v;
    const void *buf;
    size_t len, cl;
    const char *cur = ph_schema_json(PH_SCHEMA_LLM_LOG, &cl);
    pthread_t th[4];
    struct reader_thread t[4];

    add_writer(future, cur, ph_codec_fingerprint(current, PH_SCHEMA_LLM_LOG));
    assert_int_equal(ph_avro_encoder_new(&enc, current, NULL, 0), 0);
    assert_int_equal(ph_codec_value_new(current, PH_SCHEMA_LLM_LOG, &v), 0);
    tu_fill_llm_log(&v, 1);
    assert_int_equal(ph_avro_encode(enc, PH_SCHEMA_LLM_LOG, &v, &buf, &len, NULL, 0), 0);
    for (int i = 0; i < 4; i++) {
        t[i] = (struct reader_thread){.codec = future, .msg = buf, .len = len};
        assert_int_equal(pthread_create(&th[i], NULL, read_many, &t[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(t[i].failures, 0);
    }
    avro_value_decref(&v);
    ph_avro_encoder_destroy(enc);
    ph_codec_destroy(future);
    ph_codec_destroy(current);
    free(newer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_newer_reader),       cmocka_unit_test(test_older_writer),
        cmocka_unit_test(test_newer_writer),       cmocka_unit_test(test_incompatible),
        cmocka_unit_test(test_threads_copy_route),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
