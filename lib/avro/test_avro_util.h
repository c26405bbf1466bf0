/* Helpers shared by the lib/avro tests and the benchmark. */
#ifndef TEST_AVRO_UTIL_H
#define TEST_AVRO_UTIL_H

#include "ph_avro.h"

/* A codec from the embedded schemas; fails the test if it cannot be built. */
ph_codec *tu_codec(void);

/* Fills every field of any value: unions take their last (non-null) branch, arrays and maps get
 * two items, strings hold non-ASCII text, bytes hold 0x00 and 0xff. seed varies the content. */
void tu_fill(avro_value_t *value, unsigned seed);

/* A realistic LlmLog of about 1.3 KB encoded, filled with the field helpers. */
void tu_fill_llm_log(avro_value_t *value, unsigned seed);

/* The embedded schema of id, parsed with jansson (new reference). */
json_t *tu_schema_load(ph_schema_id id);

/* The JSON text of a schema (malloc'ed). */
char *tu_schema_dump(const json_t *schema);

/* The field array of a record schema, and the index of a field in it (-1 if none). */
json_t *tu_fields(json_t *record);
int tu_field_index(json_t *record, const char *name);

#endif
