/* Shared between the files of lib/avro; not part of the public API. */
#ifndef PH_AVRO_INTERNAL_H
#define PH_AVRO_INTERNAL_H

#include "ph_avro.h"

/* One of the codec's own (reader) schemas. */
struct ph_codec_entry {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    uint64_t fp;
    json_t *records; /* record full name -> its JSON definition, for field defaults */
};

/* A known writer schema. */
struct ph_writer_entry {
    uint64_t fp;
    avro_schema_t schema;
};

struct ph_codec {
    struct ph_codec_entry s[PH_SCHEMA_COUNT];
    struct ph_writer_entry *writers;
    size_t writer_count, writer_cap;
};

/* The writer schema registered under fp, or NULL. */
const struct ph_writer_entry *ph_codec_find_writer(const ph_codec *codec, uint64_t fp);

/* Parsing Canonical Form of a parsed schema JSON (ph_avro_fingerprint.c). When records is not
 * NULL, every record definition met is also stored there under its full name. */
int ph_avro_pcf(const json_t *schema, char **pcf_out, json_t *records, char *errstr,
                size_t errstr_size);

/* Checks that buf holds exactly one well-formed datum of schema, so that avro-c can then read it
 * without failing, allocating more than the input justifies, or recursing without bound
 * (ph_avro_scan.c). Returns 0 or PH_EINVAL. */
int ph_avro_scan(avro_schema_t schema, const void *buf, size_t len, char *errstr,
                 size_t errstr_size);

/* Copies src, a value of a writer schema, into dst, a value of a reader schema, following Avro
 * schema resolution; reader record fields the writer lacks take their default from records
 * (ph_avro_resolve.c). dst must be freshly reset. Returns 0, PH_EAVRO or PH_ENOMEM. */
int ph_avro_resolve_copy(const avro_value_t *src, avro_value_t *dst, const json_t *records,
                         char *errstr, size_t errstr_size);

/* Checks that every field default of iface's schema fits its field's type, so a bad default shows
 * at start-up rather than when an older writer first appears. Returns 0 or PH_EAVRO/PH_ENOMEM. */
int ph_avro_check_defaults(avro_value_iface_t *iface, const json_t *records, char *errstr,
                           size_t errstr_size);

/* Index of a record's field by name, or -1; the search starts at index hint. Unlike
 * avro_schema_record_field_get_index() it does not report a missing name through avro-c's
 * process-wide error buffer (where threads would race), and unlike
 * avro_schema_record_field_get() it does not return garbage for one. */
int ph_avro_field_index(avro_schema_t record, const char *name, int hint);

/* Whether avro_resolved_writer_new() may be given this pair (ph_avro_resolve.c): true when they
 * differ only by extra writer fields and field order. */
bool ph_avro_same_shape(avro_schema_t writer, avro_schema_t reader);

/* Follows avro-c's link schemas (named-type references) to the schema they name. */
static inline avro_schema_t ph_avro_unlink(avro_schema_t schema)
{
    while (schema && is_avro_link(schema))
        schema = avro_schema_link_target(schema);
    return schema;
}

/* Full name of a named schema into buf ("ns.name" or "name"). */
void ph_avro_fullname(avro_schema_t schema, char *buf, size_t size);

#endif
