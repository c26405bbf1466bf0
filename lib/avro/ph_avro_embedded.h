/* The schema files embedded at build time by cmake/EmbedSchemas.cmake (internal to lib/avro). */
#ifndef PH_AVRO_EMBEDDED_H
#define PH_AVRO_EMBEDDED_H

#include <stddef.h>

struct ph_embedded_schema {
    const char *file; /* base name of schemas/<file>.avsc, e.g. "llm_log" */
    const char *json; /* the file's bytes, NUL-terminated */
    size_t len;       /* length without the NUL */
};

extern const struct ph_embedded_schema ph_embedded_schemas[];
extern const size_t ph_embedded_schema_count;

#endif
