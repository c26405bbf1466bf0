/* libFuzzer harness for the record module: any bytes, as a raw log record (three rule sets:
 * defaults, tiny limits, and downgraded severities) and as feedback.
 *
 * Beyond "does not crash" it checks the promises of ph_record.h and aborts when one breaks:
 *   - the result is 0 or PH_EINVAL, never a process failure;
 *   - valid means no fatal issue, a value that encodes and decodes to itself, quality_warnings
 *     equal to the warnings, and an Avro re-check that finds nothing fatal and repairs nothing
 *     (repairs are idempotent);
 *   - invalid means at least one reason, and an InvalidRecord that encodes.
 *
 * Built as its own binary with -DPHAROS_FUZZ=ON and clang (see CMakeLists.txt); the record.fuzz
 * test links this file too and feeds it thousands of mutated real records in every build. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"
#include "ph_record.h"
#include "test_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void ph_fuzz_record_cleanup(void);
void ph_fuzz_record_stats(size_t *valid, size_t *invalid);

#define NRULES 3

/* The harness keeps its schemas and values across inputs, as the validator does. */
static struct {
    int ready;
    ts_schema llm, inv, fb;
    ph_rules *rules[NRULES];
    avro_value_t rec, invalid, feedback;
    ph_issues fatal, warn, fatal2, warn2;
    size_t nvalid, ninvalid; /* judgements so far, for the record.fuzz report */
} S;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_record: %s\n", what);
    abort();
}

static void init(void)
{
    static const ph_rules_config cfgs[NRULES] = {
        {0},
        {.max_field_bytes = 16, .max_messages = 2, .max_context = 1},
        {.max_record_bytes = 64,
         .severity = "invalid_utf8=warn,duplicate_key=warn,oversized_record=warn,"
                     "missing_field=warn,empty_field=warn,wrong_type=off,unknown_role=fatal"},
    };
    if (ts_schema_load(&S.llm, "llm_log") || ts_schema_load(&S.inv, "invalid_record") ||
        ts_schema_load(&S.fb, "feedback"))
        die("cannot load the schemas (set PHAROS_SOURCE_DIR)");
    for (int i = 0; i < NRULES; i++)
        if (ph_rules_new(&S.rules[i], &cfgs[i], NULL, 0))
            die("rules");
    if (avro_generic_value_new(S.llm.iface, &S.rec) ||
        avro_generic_value_new(S.inv.iface, &S.invalid) ||
        avro_generic_value_new(S.fb.iface, &S.feedback))
        die("values");
    S.ready = 1;
    /* libFuzzer ends with exit(): free the values first, or LeakSanitizer reports them. It
     * cannot see that they are still reachable, because avro-c places each generic value after
     * a 4-byte reference count, so the pointers inside are not 8-byte aligned (LSan scans only
     * aligned words unless LSAN_OPTIONS=use_unaligned=1). */
    atexit(ph_fuzz_record_cleanup);
}

void ph_fuzz_record_stats(size_t *valid, size_t *invalid)
{
    *valid = S.nvalid;
    *invalid = S.ninvalid;
}

void ph_fuzz_record_cleanup(void)
{
    if (!S.ready)
        return;
    for (int i = 0; i < NRULES; i++)
        ph_rules_destroy(S.rules[i]);
    avro_value_decref(&S.rec);
    avro_value_decref(&S.invalid);
    avro_value_decref(&S.feedback);
    ph_issues_free(&S.fatal);
    ph_issues_free(&S.warn);
    ph_issues_free(&S.fatal2);
    ph_issues_free(&S.warn2);
    ts_schema_free(&S.llm);
    ts_schema_free(&S.inv);
    ts_schema_free(&S.fb);
    memset(&S, 0, sizeof(S));
}

/* Codes a second look may still report: values that are kept, only flagged, or not repairable
 * because severities were lowered. */
static int may_repeat(const char *code)
{
    return strcmp(code, "unknown_role") == 0 || strcmp(code, "impossible_value") == 0 ||
           strcmp(code, "missing_field") == 0 || strcmp(code, "empty_field") == 0;
}

static void check_valid(const ph_rules *rules, const ph_raw_meta *meta)
{
    if (S.fatal.n)
        die("valid record with fatal issues");
    size_t nq = 0;
    avro_value_t q;
    if (avro_value_get_by_name(&S.rec, "quality_warnings", &q, NULL) ||
        avro_value_get_size(&q, &nq) || nq != S.warn.n)
        die("quality_warnings differ from the warnings");
    if (ts_roundtrip(S.llm.iface, &S.rec))
        die("valid record does not round-trip");
    ph_issues_clear(&S.fatal2);
    ph_issues_clear(&S.warn2);
    if (ph_record_check_avro(rules, &S.rec, meta, &S.fatal2, &S.warn2) != 0)
        die("the Avro check rejects what the JSON path accepted");
    for (size_t i = 0; i < S.warn2.n; i++)
        if (!may_repeat(S.warn2.v[i].code)) {
            fprintf(stderr, "second look: %s %s: %s\n", S.warn2.v[i].code,
                    S.warn2.v[i].field ? S.warn2.v[i].field : "-", S.warn2.v[i].message);
            die("a repair was not idempotent");
        }
    if (ts_roundtrip(S.llm.iface, &S.rec))
        die("re-checked record does not round-trip");
}

static void check_invalid(const uint8_t *data, size_t size)
{
    if (S.fatal.n == 0)
        die("invalid record without a reason");
    if (ph_invalid_record_fill(&S.invalid, "pharos.logs.raw", 0, 42, -1, "json", data, size, 512,
                               NULL, "kafka", &S.fatal, &S.warn, "fuzz"))
        die("invalid record fill failed");
    if (ts_roundtrip(S.inv.iface, &S.invalid))
        die("invalid record does not round-trip");
}

static void feedback(const uint8_t *data, size_t size)
{
    json_t *obj = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    const char *key;
    if (!obj)
        return;
    ph_record_key(obj, &key);
    ph_issues_clear(&S.fatal);
    int rc = ph_feedback_from_json(obj, size % 2 ? "token-app" : NULL, 1767225600000LL,
                                   "fb-assigned", &S.feedback, &S.fatal);
    if (rc == 0 && (S.fatal.n || ts_roundtrip(S.fb.iface, &S.feedback)))
        die("valid feedback with errors or not round-tripping");
    if (rc == PH_EINVAL && S.fatal.n == 0)
        die("invalid feedback without a reason");
    if (rc != 0 && rc != PH_EINVAL)
        die("feedback mapping failed");
    json_decref(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!S.ready)
        init();
    ph_raw_meta meta = {
        .record_id = size % 3 == 0 ? "hdr-id" : NULL,
        .fallback_record_id = "raw-pharos.logs.raw-0-42",
        .ingest_time_ms = 1767225600000LL,
        .ingest_source = "http",
        .app = size % 5 == 0 ? "token-app" : NULL,
    };
    for (int i = 0; i < NRULES; i++) {
        ph_issues_clear(&S.fatal);
        ph_issues_clear(&S.warn);
        int rc = ph_record_from_json(S.rules[i], (const char *)data, size, &meta, &S.rec, &S.fatal,
                                     &S.warn);
        if (rc == 0) {
            check_valid(S.rules[i], &meta);
            S.nvalid++;
        } else if (rc == PH_EINVAL) {
            check_invalid(data, size);
            S.ninvalid++;
        } else
            die("ph_record_from_json failed as a process (not as a record)");
    }
    feedback(data, size);
    return 0;
}
