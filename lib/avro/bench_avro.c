/* Not a test: measures encode and decode of a realistic ~1.3 KB LlmLog on one thread, per
 * second of this thread's CPU time (so a busy machine does not skew it).
 *   bench_avro [CPU seconds per measurement, default 2]                                       */
#include "test_avro_util.h"

#include "ph_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum what { ENCODE, DECODE, BOTH, DECODE_RESOLVED };

static double run(enum what what, ph_codec *codec, ph_codec *reader_codec, double seconds,
                  size_t *len_out)
{
    ph_avro_encoder *enc;
    ph_avro_decoder *dec;
    avro_value_t v, *out;
    const void *buf;
    size_t len;
    char errstr[PH_ERRSTR_SIZE];
    long n = 0;

    assert_int_equal(ph_avro_encoder_new(&enc, codec, NULL, 0), 0);
    assert_int_equal(ph_avro_decoder_new(&dec, reader_codec, NULL, 0), 0);
    assert_int_equal(ph_codec_value_new(codec, PH_SCHEMA_LLM_LOG, &v), 0);
    tu_fill_llm_log(&v, 1);
    assert_int_equal(ph_avro_encode(enc, PH_SCHEMA_LLM_LOG, &v, &buf, &len, NULL, 0), 0);
    char *msg = malloc(len);
    memcpy(msg, buf, len);
    *len_out = len;

    double start = cpu_seconds();
    while (cpu_seconds() - start < seconds) {
        for (int i = 0; i < 1000; i++, n++) {
            if (what != DECODE && what != DECODE_RESOLVED &&
                ph_avro_encode(enc, PH_SCHEMA_LLM_LOG, &v, &buf, &len, errstr, sizeof(errstr)))
                fail_msg("%s", errstr);
            if (what != ENCODE &&
                ph_avro_decode(dec, PH_SCHEMA_LLM_LOG, what == BOTH ? buf : msg,
                               what == BOTH ? len : *len_out, &out, errstr, sizeof(errstr)))
                fail_msg("%s", errstr);
        }
    }
    double rate = (double)n / (cpu_seconds() - start);
    free(msg);
    avro_value_decref(&v);
    ph_avro_decoder_destroy(dec);
    ph_avro_encoder_destroy(enc);
    return rate;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2;
    ph_codec *codec = tu_codec();
    size_t len;

    printf("encode          %9.0f msg/s\n", run(ENCODE, codec, codec, seconds, &len));
    printf("decode          %9.0f msg/s\n", run(DECODE, codec, codec, seconds, &len));
    printf("encode+decode   %9.0f msg/s  (%zu-byte LlmLog)\n",
           run(BOTH, codec, codec, seconds, &len), len);

    /* A reader with one more optional field: the copy route with defaults. */
    json_t *s = tu_schema_load(PH_SCHEMA_LLM_LOG);
    json_array_append_new(tu_fields(s), json_pack("{s:s,s:[s,s],s:n}", "name", "extra", "type",
                                                  "null", "string", "default"));
    char *newer = tu_schema_dump(s);
    const char *schemas[PH_SCHEMA_COUNT] = {[PH_SCHEMA_LLM_LOG] = newer};
    ph_codec *future;
    size_t cl;
    const char *cur = ph_schema_json(PH_SCHEMA_LLM_LOG, &cl);
    assert_int_equal(ph_codec_new_with_schemas(&future, schemas, NULL, 0), 0);
    assert_int_equal(ph_codec_add_writer_schema(future, cur, cl, NULL, NULL, 0), 0);
    printf("decode, newer reader (copy route) %9.0f msg/s\n",
           run(DECODE_RESOLVED, codec, future, seconds, &len));
    ph_codec_destroy(future);
    free(newer);
    json_decref(s);
    ph_codec_destroy(codec);
    return 0;
}
