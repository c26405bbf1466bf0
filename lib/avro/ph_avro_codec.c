/* The codec: embedded schemas parsed once, their value interfaces and fingerprints, and the
 * registry of writer schemas by fingerprint. */
#include "ph_avro_internal.h"
#include "ph_avro_embedded.h"

#include "ph_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *file, *name, *fullname;
} schema_info[PH_SCHEMA_COUNT] = {
    [PH_SCHEMA_LLM_LOG] = {"llm_log", "LlmLog", "dev.pharos.LlmLog"},
    [PH_SCHEMA_INVALID_RECORD] = {"invalid_record", "InvalidRecord", "dev.pharos.InvalidRecord"},
    [PH_SCHEMA_FEEDBACK] = {"feedback", "Feedback", "dev.pharos.Feedback"},
    [PH_SCHEMA_EVALUATION] = {"evaluation", "Evaluation", "dev.pharos.Evaluation"},
    [PH_SCHEMA_METRIC_WINDOW] = {"metric_window", "MetricWindow", "dev.pharos.MetricWindow"},
    [PH_SCHEMA_ALERT] = {"alert", "Alert", "dev.pharos.Alert"},
    [PH_SCHEMA_DATASET_ITEM] = {"dataset_item", "DatasetItem", "dev.pharos.DatasetItem"},
};

static bool valid_id(ph_schema_id id)
{
    return (unsigned)id < PH_SCHEMA_COUNT;
}

const char *ph_schema_name(ph_schema_id id)
{
    return valid_id(id) ? schema_info[id].fullname : NULL;
}

const char *ph_schema_file(ph_schema_id id)
{
    return valid_id(id) ? schema_info[id].file : NULL;
}

int ph_schema_by_name(const char *name, ph_schema_id *id_out)
{
    for (int i = 0; name && i < PH_SCHEMA_COUNT; i++) {
        if (strcmp(name, schema_info[i].file) == 0 || strcmp(name, schema_info[i].name) == 0 ||
            strcmp(name, schema_info[i].fullname) == 0) {
            *id_out = (ph_schema_id)i;
            return 0;
        }
    }
    return PH_ENOENT;
}

const char *ph_schema_json(ph_schema_id id, size_t *len)
{
    if (!valid_id(id))
        return NULL;
    for (size_t i = 0; i < ph_embedded_schema_count; i++) {
        if (strcmp(ph_embedded_schemas[i].file, schema_info[id].file) == 0) {
            if (len)
                *len = ph_embedded_schemas[i].len;
            return ph_embedded_schemas[i].json;
        }
    }
    return NULL;
}

void ph_avro_fullname(avro_schema_t schema, char *buf, size_t size)
{
    const char *ns = avro_schema_namespace(schema);
    const char *name = avro_schema_name(schema);
    if (ns && *ns)
        snprintf(buf, size, "%s.%s", ns, name ? name : "?");
    else
        snprintf(buf, size, "%s", name ? name : "?");
}

const struct ph_writer_entry *ph_codec_find_writer(const ph_codec *codec, uint64_t fp)
{
    /* A handful of entries: a linear scan beats anything cleverer. */
    for (size_t i = 0; i < codec->writer_count; i++)
        if (codec->writers[i].fp == fp)
            return &codec->writers[i];
    return NULL;
}

/* Takes a reference to schema on success. */
static int add_writer(ph_codec *codec, uint64_t fp, avro_schema_t schema)
{
    if (codec->writer_count == codec->writer_cap) {
        size_t cap = codec->writer_cap ? 2 * codec->writer_cap : 16;
        struct ph_writer_entry *w = realloc(codec->writers, cap * sizeof(*w));
        if (!w)
            return PH_ENOMEM;
        codec->writers = w;
        codec->writer_cap = cap;
    }
    codec->writers[codec->writer_count].fp = fp;
    codec->writers[codec->writer_count].schema = avro_schema_incref(schema);
    codec->writer_count++;
    return 0;
}

/* Parses JSON text twice: with jansson for the canonical form and field defaults, with avro-c
 * for the schema itself. */
static int parse_schema(const char *what, const char *json, size_t len, json_t *records,
                        uint64_t *fp_out, avro_schema_t *schema_out, char *errstr,
                        size_t errstr_size)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    char *pcf = NULL;
    avro_schema_t schema = NULL;
    char why[PH_ERRSTR_SIZE];
    int rc;

    if (!root)
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s: not JSON: %s (line %d)", what, jerr.text,
                      jerr.line);
    if ((rc = ph_avro_pcf(root, &pcf, records, why, sizeof(why))) != 0) {
        ph_err(errstr, errstr_size, rc, "%s: %s", what, why);
        goto out;
    }
    if (avro_schema_from_json_length(json, len, &schema) != 0) {
        rc = ph_err(errstr, errstr_size, PH_EINVAL, "%s: avro-c cannot parse it: %s", what,
                    avro_strerror());
        goto out;
    }
    *fp_out = ph_avro_crc64(pcf, strlen(pcf));
    *schema_out = schema;
out:
    free(pcf);
    json_decref(root);
    return rc;
}

static int load_entry(ph_codec *codec, ph_schema_id id, const char *json, size_t len, char *errstr,
                      size_t errstr_size)
{
    struct ph_codec_entry *e = &codec->s[id];
    char what[64], full[256], why[PH_ERRSTR_SIZE];
    int rc;

    snprintf(what, sizeof(what), "schema %s", schema_info[id].file);
    if (!(e->records = json_object()))
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    rc = parse_schema(what, json, len, e->records, &e->fp, &e->schema, errstr, errstr_size);
    if (rc != 0)
        return rc;
    if (!is_avro_record(e->schema))
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s: not a record", what);
    ph_avro_fullname(e->schema, full, sizeof(full));
    if (strcmp(full, schema_info[id].fullname) != 0)
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s: record %s, expected %s", what, full,
                      schema_info[id].fullname);
    if (ph_codec_find_writer(codec, e->fp))
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "%s: fingerprint 0x%016" PRIx64 " is already taken", what, e->fp);
    if (!(e->iface = avro_generic_class_from_schema(e->schema)))
        return ph_err(errstr, errstr_size, PH_EAVRO, "%s: no value interface: %s", what,
                      avro_strerror());
    if ((rc = ph_avro_check_defaults(e->iface, e->records, why, sizeof(why))) != 0)
        return ph_err(errstr, errstr_size, rc == PH_ENOMEM ? rc : PH_EINVAL, "%s: %s", what, why);
    if ((rc = add_writer(codec, e->fp, e->schema)) != 0)
        return ph_err(errstr, errstr_size, rc, "out of memory");
    return 0;
}

int ph_codec_new_with_schemas(ph_codec **out, const char *const json[PH_SCHEMA_COUNT], char *errstr,
                              size_t errstr_size)
{
    ph_codec *codec = calloc(1, sizeof(*codec));
    int rc = 0;

    if (!codec)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    for (int id = 0; id < PH_SCHEMA_COUNT; id++) {
        const char *text;
        size_t len;
        if (json && json[id]) {
            text = json[id];
            len = strlen(text);
        } else if (!(text = ph_schema_json((ph_schema_id)id, &len))) {
            rc = ph_err(errstr, errstr_size, PH_ENOENT, "schemas/%s.avsc was not embedded",
                        schema_info[id].file);
            goto out;
        }
        if ((rc = load_entry(codec, (ph_schema_id)id, text, len, errstr, errstr_size)) != 0)
            goto out;
    }
out:
    if (rc != 0) {
        ph_codec_destroy(codec);
        return rc;
    }
    *out = codec;
    return 0;
}

int ph_codec_new(ph_codec **out, char *errstr, size_t errstr_size)
{
    return ph_codec_new_with_schemas(out, NULL, errstr, errstr_size);
}

void ph_codec_destroy(ph_codec *codec)
{
    if (!codec)
        return;
    for (int id = 0; id < PH_SCHEMA_COUNT; id++) {
        struct ph_codec_entry *e = &codec->s[id];
        if (e->iface)
            avro_value_iface_decref(e->iface);
        if (e->schema)
            avro_schema_decref(e->schema);
        json_decref(e->records);
    }
    for (size_t i = 0; i < codec->writer_count; i++)
        avro_schema_decref(codec->writers[i].schema);
    free(codec->writers);
    free(codec);
}

int ph_codec_add_writer_schema(ph_codec *codec, const char *json, size_t len,
                               uint64_t *fingerprint_out, char *errstr, size_t errstr_size)
{
    avro_schema_t schema = NULL;
    uint64_t fp;
    int rc;

    if (!codec || !json)
        return ph_err(errstr, errstr_size, PH_EINVAL, "no codec or no schema");
    rc = parse_schema("writer schema", json, len, NULL, &fp, &schema, errstr, errstr_size);
    if (rc != 0)
        return rc;
    if (!ph_codec_find_writer(codec, fp) && (rc = add_writer(codec, fp, schema)) != 0)
        ph_err(errstr, errstr_size, rc, "out of memory");
    avro_schema_decref(schema);
    if (rc == 0 && fingerprint_out)
        *fingerprint_out = fp;
    return rc;
}

avro_schema_t ph_codec_schema(const ph_codec *codec, ph_schema_id id)
{
    return codec && valid_id(id) ? codec->s[id].schema : NULL;
}

avro_value_iface_t *ph_codec_iface(const ph_codec *codec, ph_schema_id id)
{
    return codec && valid_id(id) ? codec->s[id].iface : NULL;
}

uint64_t ph_codec_fingerprint(const ph_codec *codec, ph_schema_id id)
{
    return codec && valid_id(id) ? codec->s[id].fp : 0;
}

int ph_codec_value_new(const ph_codec *codec, ph_schema_id id, avro_value_t *value)
{
    avro_value_iface_t *iface = ph_codec_iface(codec, id);
    if (!iface || !value)
        return PH_EINVAL;
    return avro_generic_value_new(iface, value) == 0 ? 0 : PH_ENOMEM;
}
