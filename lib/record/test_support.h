/* Helpers for the record tests and the fuzz harness: schemas from schemas/ (*.avsc), files,
 * binary round trips. Plain C (no cmocka) so that the libFuzzer target can use them too. */
#ifndef PH_RECORD_TEST_SUPPORT_H
#define PH_RECORD_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include <avro.h>

#include "ph_record.h"

typedef struct ts_schema {
    avro_schema_t schema;
    avro_value_iface_t *iface;
} ts_schema;

/* The repository root: $PHAROS_SOURCE_DIR, else the directory CMake configured. */
const char *ts_source_dir(void);

/* The shared data file `name`: $PHAROS_DATA_DIR/name, else <source>/../shared/data/name.
 * Returns a malloc'd path. */
char *ts_data_path(const char *name);

/* Reads a whole file (NUL-terminated); NULL if it cannot be read. */
char *ts_read_file(const char *path, size_t *len);

/* Loads schemas/<name>.avsc and builds a generic class for it. Returns 0 or -1. */
int ts_schema_load(ts_schema *s, const char *name);
void ts_schema_free(ts_schema *s);

/* Encodes a value in Avro binary (malloc'd buffer) and decodes it into a fresh value of the
 * same class, comparing both: checks that a filled value is complete and encodable.
 * Returns 0, or -1 with the reason printed to stderr. */
int ts_roundtrip(avro_value_iface_t *iface, avro_value_t *v);

/* A judged record: schema, rules, one reused value and the two issue lists. */
#define TS_INGEST_MS 1767225600000LL /* 2026-01-01T00:00:00Z, the ingest time of the tests */

typedef struct ts_fx {
    ts_schema s;
    ph_rules *rules;
    avro_value_t rec;
    ph_issues fatal;
    ph_issues warn;
    ph_raw_meta meta; /* fallback "raw-test-0-7", ingest time TS_INGEST_MS */
} ts_fx;

/* Loads schemas/<schema>.avsc and builds rules from cfg (NULL: defaults). Returns 0 or -1
 * (reason on stderr). */
int ts_fx_init(ts_fx *f, const char *schema, const ph_rules_config *cfg);
void ts_fx_free(ts_fx *f);

/* Clears the lists and runs ph_record_from_json on a NUL-terminated text. */
int ts_judge(ts_fx *f, const char *json);

/* Like ts_judge with an explicit length (for embedded NUL bytes). */
int ts_judge_len(ts_fx *f, const char *buf, size_t len);

/* The first issue with this code (and field, unless NULL), or NULL. */
const ph_issue *ts_find(const ph_issues *list, const char *code, const char *field);

/* Prints the issue lists (for failing tests). */
void ts_dump(const ts_fx *f);

/* Reads a value by path: fields separated by '.', array elements as [i], map entries as {key}
 * (e.g. "input_messages[1].content", "metadata{error.code}", "error.type"). Unions are
 * followed. Returns 0 and sets *out when the value is present and not null, 1 when it is null,
 * -1 when the path does not resolve. */
int ts_get(avro_value_t *rec, const char *path, avro_value_t *out);

/* Shorthands over ts_get: NULL / false when absent or null. */
const char *ts_str(avro_value_t *rec, const char *path);
int ts_has(avro_value_t *rec, const char *path);       /* 1 present, 0 null, -1 no such path */
int64_t ts_long(avro_value_t *rec, const char *path);  /* long or int; INT64_MIN if absent */
double ts_double(avro_value_t *rec, const char *path); /* NAN if absent */
int ts_enum(avro_value_t *rec, const char *path);      /* -1 if absent */
int ts_bool(avro_value_t *rec, const char *path);      /* -1 if absent */
size_t ts_size(avro_value_t *rec, const char *path);   /* array or map size; 0 if absent */

#endif
