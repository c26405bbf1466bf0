/* The field helpers: setters pick union branches, getters look through them, misuse is refused
 * without changing the value. */
#include "test_avro_util.h"

#include "ph_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct fixture {
    ph_codec *codec;
    avro_value_t log, eval;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->codec = tu_codec();
    assert_int_equal(ph_codec_value_new(f->codec, PH_SCHEMA_LLM_LOG, &f->log), 0);
    assert_int_equal(ph_codec_value_new(f->codec, PH_SCHEMA_EVALUATION, &f->eval), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    avro_value_decref(&f->log);
    avro_value_decref(&f->eval);
    ph_codec_destroy(f->codec);
    free(f);
    return 0;
}

static void test_strings(void **state)
{
    struct fixture *f = *state;
    avro_value_t *v = &f->log;
    const char *s = NULL;
    size_t len = 99;

    /* Plain string field. */
    assert_int_equal(ph_avro_set_string(v, "record_id", "abc"), 0);
    assert_int_equal(ph_avro_get_string(v, "record_id", &s, &len), 0);
    assert_string_equal(s, "abc");
    assert_int_equal(len, 3);
    assert_false(ph_avro_is_null(v, "record_id"));
    /* A required string cannot be null. */
    assert_int_equal(ph_avro_set_string(v, "record_id", NULL), PH_EINVAL);

    /* Nullable: unset union, then string, then null. */
    assert_true(ph_avro_is_null(v, "trace_id"));
    assert_int_equal(ph_avro_get_string(v, "trace_id", &s, &len), 0);
    assert_null(s);
    assert_int_equal(len, 0);
    assert_int_equal(ph_avro_set_string(v, "trace_id", "t-1"), 0);
    assert_int_equal(ph_avro_get_string(v, "trace_id", &s, NULL), 0);
    assert_string_equal(s, "t-1");
    assert_int_equal(ph_avro_set_string(v, "trace_id", NULL), 0);
    assert_true(ph_avro_is_null(v, "trace_id"));

    /* A slice that is not NUL-terminated, short and long. */
    const char *text = "model=gpt-4o;rest";
    assert_int_equal(ph_avro_set_stringn(v, "model", text + 6, 6), 0);
    assert_int_equal(ph_avro_get_string(v, "model", &s, &len), 0);
    assert_string_equal(s, "gpt-4o");
    assert_int_equal(len, 6);
    size_t big = 5000;
    char *long_text = malloc(big + 10);
    memset(long_text, 'y', big + 10);
    assert_int_equal(ph_avro_set_stringn(v, "output", long_text, big), 0);
    assert_int_equal(ph_avro_get_string(v, "output", &s, &len), 0);
    assert_int_equal(len, big);
    assert_int_equal(strlen(s), big);
    free(long_text);
    /* Embedded NUL and empty. */
    assert_int_equal(ph_avro_set_stringn(v, "output", "a\0b", 3), 0);
    assert_int_equal(ph_avro_get_string(v, "output", &s, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "a\0b", 3);
    assert_int_equal(ph_avro_set_string(v, "output", ""), 0);
    assert_int_equal(ph_avro_get_string(v, "output", &s, &len), 0);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);

    /* Wrong type and unknown field. */
    assert_int_equal(ph_avro_set_string(v, "turn", "3"), PH_EINVAL);
    assert_int_equal(ph_avro_set_string(v, "no_such_field", "x"), PH_EINVAL);
    assert_int_equal(ph_avro_get_string(v, "no_such_field", &s, &len), PH_EINVAL);
    assert_false(ph_avro_is_null(v, "no_such_field"));
    assert_int_equal(ph_avro_get_string(v, "ingest_time", &s, &len), PH_EINVAL);
    assert_int_equal(ph_avro_set_string(NULL, "x", "y"), PH_EINVAL);
}

static void test_numbers(void **state)
{
    struct fixture *f = *state;
    avro_value_t *v = &f->log;
    int64_t l = 0;
    double d = 0;
    bool b = true;

    assert_int_equal(ph_avro_get_long(v, "turn", &l), PH_ENOENT);
    assert_int_equal(ph_avro_set_long(v, "turn", 12), 0); /* ["null","int"] */
    assert_int_equal(ph_avro_get_long(v, "turn", &l), 0);
    assert_int_equal(l, 12);
    assert_int_equal(ph_avro_set_long(v, "turn", 1LL << 40), PH_ERANGE);
    assert_int_equal(ph_avro_get_long(v, "turn", &l), 0);
    assert_int_equal(l, 12);                                            /* unchanged */
    assert_int_equal(ph_avro_set_long(v, "ingest_time", 1LL << 40), 0); /* long */
    assert_int_equal(ph_avro_get_long(v, "ingest_time", &l), 0);
    assert_true(l == 1LL << 40);
    assert_int_equal(ph_avro_set_long(v, "start_time", -5), 0); /* ["null", long] */
    assert_int_equal(ph_avro_get_long(v, "start_time", &l), 0);
    assert_int_equal(l, -5);
    assert_int_equal(ph_avro_set_null(v, "start_time"), 0);
    assert_int_equal(ph_avro_get_long(v, "start_time", &l), PH_ENOENT);

    assert_int_equal(ph_avro_set_double(v, "latency_ms", 12.5), 0);
    assert_int_equal(ph_avro_get_double(v, "latency_ms", &d), 0);
    assert_true(d == 12.5);
    assert_int_equal(ph_avro_set_double(v, "record_id", 1), PH_EINVAL);
    assert_int_equal(ph_avro_get_double(v, "turn", &d), PH_EINVAL);
    assert_int_equal(ph_avro_set_long(v, "latency_ms", 1), PH_EINVAL);

    /* Evaluation: nullable boolean. */
    assert_int_equal(ph_avro_get_bool(&f->eval, "passed", &b), PH_ENOENT);
    assert_int_equal(ph_avro_set_bool(&f->eval, "passed", false), 0);
    assert_int_equal(ph_avro_get_bool(&f->eval, "passed", &b), 0);
    assert_false(b);
    assert_int_equal(ph_avro_set_bool(&f->eval, "passed", true), 0);
    assert_int_equal(ph_avro_get_bool(&f->eval, "passed", &b), 0);
    assert_true(b);
    assert_int_equal(ph_avro_set_bool(&f->eval, "score", true), PH_EINVAL);
}

static void test_enums(void **state)
{
    struct fixture *f = *state;
    const char *sym = NULL;

    assert_int_equal(ph_avro_set_enum(&f->log, "status", "ERROR"), 0);
    assert_int_equal(ph_avro_get_enum(&f->log, "status", &sym), 0);
    assert_string_equal(sym, "ERROR");
    assert_int_equal(ph_avro_set_enum(&f->log, "status", "MAYBE"), PH_EINVAL);
    assert_int_equal(ph_avro_get_enum(&f->log, "status", &sym), 0);
    assert_string_equal(sym, "ERROR"); /* unchanged */
    assert_int_equal(ph_avro_set_enum(&f->log, "status", NULL), PH_EINVAL);
    assert_int_equal(ph_avro_set_enum(&f->log, "record_id", "OK"), PH_EINVAL);
    assert_int_equal(ph_avro_set_enum(&f->eval, "status", "SKIPPED"), 0);
    assert_int_equal(ph_avro_get_enum(&f->eval, "status", &sym), 0);
    assert_string_equal(sym, "SKIPPED");
}

static void test_records_arrays_maps(void **state)
{
    struct fixture *f = *state;
    avro_value_t *v = &f->log;
    avro_value_t err, err2, m, arr, map, val;
    const char *s;
    size_t n;
    double d;

    /* A record in a nullable union; selecting it twice keeps what was set. */
    assert_int_equal(ph_avro_set_record(v, "error", &err), 0);
    assert_int_equal(ph_avro_set_string(&err, "type", "timeout"), 0);
    assert_int_equal(ph_avro_set_record(v, "error", &err2), 0);
    assert_int_equal(ph_avro_get_string(&err2, "type", &s, NULL), 0);
    assert_string_equal(s, "timeout");
    assert_int_equal(ph_avro_get(v, "error", &err2), 0);
    assert_int_equal(avro_value_get_type(&err2), AVRO_RECORD);
    assert_int_equal(ph_avro_set_record(v, "record_id", &err), PH_EINVAL);

    /* Arrays of records and of strings. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ph_avro_append(v, "input_messages", &m), 0);
        assert_int_equal(ph_avro_set_string(&m, "role", i ? "user" : "system"), 0);
    }
    assert_int_equal(ph_avro_get(v, "input_messages", &arr), 0);
    assert_int_equal(avro_value_get_size(&arr, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(ph_avro_append_string(v, "tags", "a"), 0);
    assert_int_equal(ph_avro_append_string(v, "tags", "b"), 0);
    assert_int_equal(ph_avro_append_string(v, "input_messages", "x"), PH_EINVAL);
    assert_int_equal(avro_value_get_size(&arr, &n), 0);
    assert_int_equal(n, 3); /* the refused append left the array alone */
    assert_int_equal(ph_avro_append_string(v, "tags", NULL), PH_EINVAL);
    assert_int_equal(ph_avro_append(v, "record_id", &m), PH_EINVAL);

    /* Maps of strings and doubles; putting a key twice replaces. */
    assert_int_equal(ph_avro_map_put_string(v, "metadata", "k", "v1"), 0);
    assert_int_equal(ph_avro_map_put_string(v, "metadata", "k", "v2"), 0);
    assert_int_equal(ph_avro_map_put_string(v, "metadata", "j", "w"), 0);
    assert_int_equal(ph_avro_get(v, "metadata", &map), 0);
    assert_int_equal(avro_value_get_size(&map, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(avro_value_get_by_name(&map, "k", &val, NULL), 0);
    assert_int_equal(avro_value_get_string(&val, &s, NULL), 0);
    assert_string_equal(s, "v2");
    assert_int_equal(ph_avro_map_put_double(v, "metadata", "x", 1.0), PH_EINVAL);
    assert_int_equal(ph_avro_map_put_string(v, "metadata", NULL, "x"), PH_EINVAL);
    assert_int_equal(ph_avro_map_put_double(&f->eval, "values", "pii.email", 2), 0);
    assert_int_equal(ph_avro_map_put(&f->eval, "values", "chars", &val), 0);
    assert_int_equal(avro_value_set_double(&val, 77), 0);
    assert_int_equal(ph_avro_get(&f->eval, "values", &map), 0);
    assert_int_equal(avro_value_get_by_name(&map, "chars", &val, NULL), 0);
    assert_int_equal(avro_value_get_double(&val, &d), 0);
    assert_true(d == 77);
    assert_int_equal(ph_avro_map_put(&f->eval, "record_id", "k", &val), PH_EINVAL);
}

static void test_bytes(void **state)
{
    struct fixture *f = *state;
    avro_value_t v;
    const void *p;
    size_t n;

    assert_int_equal(ph_codec_value_new(f->codec, PH_SCHEMA_INVALID_RECORD, &v), 0);
    assert_int_equal(ph_avro_set_bytes(&v, "original", "\x00\xff", 2), 0);
    assert_int_equal(ph_avro_get_bytes(&v, "original", &p, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(p, "\x00\xff", 2);
    assert_int_equal(ph_avro_set_bytes(&v, "original", NULL, 0), PH_EINVAL); /* not nullable */
    assert_int_equal(ph_avro_get_bytes(&v, "record_id", &p, &n), 0);         /* null union */
    assert_null(p);
    assert_int_equal(ph_avro_set_bytes(&v, "source_topic", "x", 1), PH_EINVAL);
    avro_value_decref(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enums, setup, teardown),
        cmocka_unit_test_setup_teardown(test_records_arrays_maps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bytes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
