/* Every record of the shared llm_logs.jsonl is valid and maps faithfully; also measures the
 * rate of ph_record_from_json (printed, not asserted: machines differ). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ph_error.h"
#include "ph_record.h"
#include "test_support.h"

#define INGEST_MS 1767225600000LL /* 2026-01-01T00:00:00Z */

typedef struct counter {
    const char *code;
    size_t n;
} counter;

static void count(counter *tally, size_t *ntally, const char *code)
{
    for (size_t i = 0; i < *ntally; i++)
        if (strcmp(tally[i].code, code) == 0) {
            tally[i].n++;
            return;
        }
    tally[*ntally].code = code;
    tally[(*ntally)++].n = 1;
}

static const char *str_field(avro_value_t *rec, const char *name, size_t *len)
{
    avro_value_t f, b = {NULL, NULL};
    const char *s = NULL;
    size_t size = 0;
    assert_int_equal(avro_value_get_by_name(rec, name, &f, NULL), 0);
    if (avro_value_get_type(&f) == AVRO_UNION) {
        int disc = -1;
        assert_int_equal(avro_value_get_discriminant(&f, &disc), 0);
        if (disc == 0)
            return NULL;
        assert_int_equal(avro_value_get_current_branch(&f, &b), 0);
        f = b;
    }
    assert_int_equal(avro_value_get_string(&f, &s, &size), 0);
    if (len)
        *len = size - 1;
    return s;
}

static void assert_text(avro_value_t *rec, const char *name, json_t *expect)
{
    size_t len;
    const char *s = str_field(rec, name, &len);
    assert_non_null(s);
    assert_int_equal(len, json_string_length(expect));
    assert_memory_equal(s, json_string_value(expect), len);
}

/* The mapped record says what the line says. */
static void check_faithful(avro_value_t *rec, json_t *line, const char *fallback_id)
{
    /* (initialised: avro-c's accessor macros have a branch clang cannot see through) */
    avro_value_t f, b = {NULL, NULL}, arr, e;
    int32_t turn = 0;
    int st = -1;
    size_t n = 0;
    assert_text(rec, "session_id", json_object_get(line, "session_id"));
    assert_text(rec, "output", json_object_get(line, "response"));
    assert_string_equal(str_field(rec, "record_id", NULL), fallback_id);
    assert_string_equal(str_field(rec, "ingest_source", NULL), "kafka");
    assert_int_equal(avro_value_get_by_name(rec, "turn", &f, NULL), 0);
    assert_int_equal(avro_value_get_current_branch(&f, &b), 0);
    assert_int_equal(avro_value_get_int(&b, &turn), 0);
    assert_int_equal(turn, json_integer_value(json_object_get(line, "turn")));
    assert_int_equal(avro_value_get_by_name(rec, "status", &f, NULL), 0);
    assert_int_equal(avro_value_get_enum(&f, &st), 0);
    assert_int_equal(st, 0);
    json_t *msgs = json_object_get(line, "messages");
    assert_int_equal(avro_value_get_by_name(rec, "input_messages", &arr, NULL), 0);
    assert_int_equal(avro_value_get_size(&arr, &n), 0);
    assert_int_equal(n, json_array_size(msgs));
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(msgs, i);
        assert_int_equal(avro_value_get_by_index(&arr, i, &e, NULL), 0);
        assert_text(&e, "role", json_object_get(m, "role"));
        assert_text(&e, "content", json_object_get(m, "content"));
        assert_null(str_field(&e, "name", NULL));
    }
    /* source lands in metadata, and nothing else does. */
    avro_value_t meta, v;
    const char *s;
    size_t size;
    assert_int_equal(avro_value_get_by_name(rec, "metadata", &meta, NULL), 0);
    assert_int_equal(avro_value_get_size(&meta, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(avro_value_get_by_name(&meta, "source", &v, NULL), 0);
    assert_int_equal(avro_value_get_string(&v, &s, &size), 0);
    assert_string_equal(s, json_string_value(json_object_get(line, "source")));
    assert_null(str_field(rec, "model", NULL));
    assert_null(str_field(rec, "trace_id", NULL));
}

static char *load_data(size_t *len)
{
    char *path = ts_data_path("llm_logs.jsonl");
    char *data = path ? ts_read_file(path, len) : NULL;
    if (!data)
        fprintf(stderr, "%s not found\n", path ? path : "llm_logs.jsonl");
    free(path);
    return data;
}

static void test_all_records_valid(void **state)
{
    (void)state;
    size_t len = 0;
    char *data = load_data(&len);
    if (!data)
        skip();
    ts_schema s;
    assert_int_equal(ts_schema_load(&s, "llm_log"), 0);
    ph_rules *rules = NULL;
    char err[PH_ERRSTR_SIZE];
    assert_int_equal(ph_rules_new(&rules, NULL, err, sizeof(err)), 0);
    avro_value_t rec;
    assert_int_equal(avro_generic_value_new(s.iface, &rec), 0);
    ph_issues fatal, warn, warn2;
    ph_issues_init(&fatal);
    ph_issues_init(&warn);
    ph_issues_init(&warn2);
    counter tally[64];
    size_t ntally = 0, records = 0, with_warnings = 0;
    char *line = data;
    while (line < data + len) {
        char *nl = memchr(line, '\n', (size_t)(data + len - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(data + len - line);
        if (n == 0) {
            line += 1;
            continue;
        }
        char fallback[64];
        snprintf(fallback, sizeof(fallback), "raw-pharos.logs.raw-0-%zu", records);
        ph_raw_meta meta = {.fallback_record_id = fallback, .ingest_time_ms = INGEST_MS};
        ph_issues_clear(&fatal);
        ph_issues_clear(&warn);
        int rc = ph_record_from_json(rules, line, n, &meta, &rec, &fatal, &warn);
        if (rc != 0) {
            for (size_t i = 0; i < fatal.n; i++)
                fprintf(stderr, "record %zu: %s %s: %s\n", records, fatal.v[i].code,
                        fatal.v[i].field ? fatal.v[i].field : "-", fatal.v[i].message);
        }
        assert_int_equal(rc, 0);
        if (warn.n)
            with_warnings++;
        for (size_t i = 0; i < warn.n; i++)
            count(tally, &ntally, warn.v[i].code);
        json_t *j = json_loadb(line, n, 0, NULL);
        assert_non_null(j);
        check_faithful(&rec, j, fallback);
        json_decref(j);
        assert_int_equal(ts_roundtrip(s.iface, &rec), 0);
        /* The Avro path finds nothing new in what the JSON path produced. */
        ph_issues_clear(&fatal);
        ph_issues_clear(&warn2);
        assert_int_equal(ph_record_check_avro(rules, &rec, &meta, &fatal, &warn2), 0);
        assert_int_equal(warn2.n, 0);
        records++;
        line += n + 1;
    }
    assert_int_equal(records, 20672);
    printf("shared data: %zu records, all valid; %zu with warnings\n", records, with_warnings);
    for (size_t i = 0; i < ntally; i++)
        printf("  warning %s: %zu\n", tally[i].code, tally[i].n);
    ph_issues_free(&fatal);
    ph_issues_free(&warn);
    ph_issues_free(&warn2);
    avro_value_decref(&rec);
    ph_rules_destroy(rules);
    ts_schema_free(&s);
    free(data);
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The validator's hot loop: one reused value, lists cleared per record. */
static void test_rate(void **state)
{
    (void)state;
    size_t len = 0;
    char *data = load_data(&len);
    if (!data)
        skip();
    ts_schema s;
    assert_int_equal(ts_schema_load(&s, "llm_log"), 0);
    ph_rules *rules = NULL;
    assert_int_equal(ph_rules_new(&rules, NULL, NULL, 0), 0);
    avro_value_t rec;
    assert_int_equal(avro_generic_value_new(s.iface, &rec), 0);
    ph_issues fatal, warn;
    ph_issues_init(&fatal);
    ph_issues_init(&warn);
    size_t records = 0;
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (int pass = 0; pass < 2; pass++) {
        char *line = data;
        while (line < data + len) {
            char *nl = memchr(line, '\n', (size_t)(data + len - line));
            size_t n = nl ? (size_t)(nl - line) : (size_t)(data + len - line);
            ph_raw_meta meta = {.fallback_record_id = "raw-t-0-0", .ingest_time_ms = INGEST_MS};
            ph_issues_clear(&fatal);
            ph_issues_clear(&warn);
            if (n)
                assert_int_equal(ph_record_from_json(rules, line, n, &meta, &rec, &fatal, &warn),
                                 0);
            records += n > 0;
            line += n + 1;
        }
    }
    /* CPU time is the fairer measure on a shared machine: it is what one core can do. */
    double dt = clock_s(CLOCK_MONOTONIC) - t0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("ph_record_from_json: %zu records in %.3f s wall, %.3f s CPU: %.0f records/s per "
           "core (%.1f us/record, %.1f MB/s)\n",
           records, dt, cpu, (double)records / cpu, cpu / (double)records * 1e6,
           2.0 * (double)len / cpu / 1e6);
    ph_issues_free(&fatal);
    ph_issues_free(&warn);
    avro_value_decref(&rec);
    ph_rules_destroy(rules);
    ts_schema_free(&s);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_records_valid),
        cmocka_unit_test(test_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
