/* The Avro codec every Pharos service uses.
 *
 * Messages on Kafka are Avro single-object encoded: C3 01, the 8-byte little-endian CRC-64-AVRO
 * fingerprint of the writer schema's Parsing Canonical Form, then the Avro binary body. The
 * schemas of the schemas/ directory (one .avsc per record) are embedded in the binary at build
 * time.
 *
 * Objects and threads
 *   ph_codec           one per process. Built by ph_codec_new() (parses every schema once) and
 *                      optionally extended with ph_codec_add_writer_schema(); both must finish
 *                      before other threads use the codec. From then on it is read-only and any
 *                      number of threads may share it (accessors, encoder/decoder creation).
 *                      Destroy it after every encoder, decoder and value made from it.
 *   ph_avro_encoder    one per thread: owns a growing output buffer.
 *   ph_avro_decoder    one per thread: owns its output values and its resolver cache.
 *   avro_value_t       a value belongs to one thread at a time (the field helpers included).
 *   ph_schema_*, ph_avro_crc64, ph_avro_is_single_object, ph_avro_to_json: thread-safe.
 *
 * About avro-c and threads: the codec's avro_schema_t and avro_value_iface_t are shared between
 * threads, which is safe because avro-c's reference counts are atomic unless the library is built
 * with AVRO_NON_ATOMIC_REFCOUNT (Debian's libavro 1.11.1 is not: avro_schema_incref uses a locked
 * add). avro-c's own error text (avro_strerror) is one process-wide buffer in that build (it is not
 * built with THREADSAFE), so this module checks input itself before avro-c reads it, avoids avro-c
 * calls that report through that buffer on its normal paths, and never decides on its content; an
 * avro-c message quoted in an errstr on a rare failure may be garbled if another thread fails at
 * the same moment.
 *
 * Errors follow lib/core/ph_error.h: 0 or a negative PH_E* code, results written only on success,
 * a human-readable reason in errstr (may be NULL). */
#ifndef PH_AVRO_H
#define PH_AVRO_H

#include <avro.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The pipeline's record types, one per schemas/<name>.avsc. */
typedef enum {
    PH_SCHEMA_LLM_LOG,        /* dev.pharos.LlmLog        schemas/llm_log.avsc */
    PH_SCHEMA_INVALID_RECORD, /* dev.pharos.InvalidRecord schemas/invalid_record.avsc */
    PH_SCHEMA_FEEDBACK,       /* dev.pharos.Feedback      schemas/feedback.avsc */
    PH_SCHEMA_EVALUATION,     /* dev.pharos.Evaluation    schemas/evaluation.avsc */
    PH_SCHEMA_METRIC_WINDOW,  /* dev.pharos.MetricWindow  schemas/metric_window.avsc */
    PH_SCHEMA_ALERT,          /* dev.pharos.Alert         schemas/alert.avsc */
    PH_SCHEMA_DATASET_ITEM,   /* dev.pharos.DatasetItem   schemas/dataset_item.avsc */
    PH_SCHEMA_COUNT
} ph_schema_id;

/* Single-object encoding: 2 magic bytes and an 8-byte fingerprint before the body. */
#define PH_AVRO_HEADER_SIZE 10

/* ---- Schemas ------------------------------------------------------------------------------- */

/* Full name of a schema's record, e.g. "dev.pharos.LlmLog"; NULL for an invalid id. Static. */
const char *ph_schema_name(ph_schema_id id);

/* Base name of its file, e.g. "llm_log"; NULL for an invalid id. Static. */
const char *ph_schema_file(ph_schema_id id);

/* Finds a schema by file base name ("llm_log"), short name ("LlmLog") or full name.
 * Returns 0 or PH_ENOENT. */
int ph_schema_by_name(const char *name, ph_schema_id *id_out);

/* The embedded JSON text of a schema (NUL-terminated, static), its length in *len if not NULL;
 * NULL when the build has no such schema. */
const char *ph_schema_json(ph_schema_id id, size_t *len);

/* Computes the Parsing Canonical Form of a schema given as JSON text and its CRC-64-AVRO
 * fingerprint (the 64-bit Rabin fingerprint of the Avro specification). Either output may be NULL;
 * *pcf_out is malloc'ed, the caller frees it. Returns 0, PH_EINVAL (bad JSON or schema) or
 * PH_ENOMEM. */
int ph_schema_fingerprint(const char *json, size_t len, uint64_t *fp_out, char **pcf_out,
                          char *errstr, size_t errstr_size);

/* CRC-64-AVRO of a byte string, as the specification defines it. Thread-safe. */
uint64_t ph_avro_crc64(const void *buf, size_t len);

/* ---- Codec --------------------------------------------------------------------------------- */

typedef struct ph_codec ph_codec;

/* Parses every embedded schema, builds one value interface per schema and registers each as a
 * writer schema under its fingerprint. On success *out is the new codec (free with
 * ph_codec_destroy). Not thread-safe: call once at start-up. */
int ph_codec_new(ph_codec **out, char *errstr, size_t errstr_size);

/* Like ph_codec_new(), but json[id], when not NULL, replaces the embedded schema of that id
 * (NUL-terminated JSON text, not kept after the call). It must still be a record with the same full
 * name. Meant for tests and tools that play a newer or older version of the pipeline; json may be
 * NULL. */
int ph_codec_new_with_schemas(ph_codec **out, const char *const json[PH_SCHEMA_COUNT], char *errstr,
                              size_t errstr_size);

/* Destroys the codec (NULL is a no-op) after every encoder, decoder and value made from it. */
void ph_codec_destroy(ph_codec *codec);

/* Registers one more writer schema (an older or newer version of a record), so messages written
 * with it can be decoded and resolved to the codec's schemas. json need not be NUL-terminated.
 * Registering a schema whose fingerprint is already known succeeds and changes nothing. Writes the
 * fingerprint to *fingerprint_out (may be NULL). Not thread-safe: call before sharing the codec.
 * Returns 0, PH_EINVAL (bad schema) or PH_ENOMEM. */
int ph_codec_add_writer_schema(ph_codec *codec, const char *json, size_t len,
                               uint64_t *fingerprint_out, char *errstr, size_t errstr_size);

/* The parsed schema of an id, borrowed (valid while the codec lives; incref to keep it). */
avro_schema_t ph_codec_schema(const ph_codec *codec, ph_schema_id id);

/* The generic value interface of an id, borrowed. Make values with avro_generic_value_new(). */
avro_value_iface_t *ph_codec_iface(const ph_codec *codec, ph_schema_id id);

/* The CRC-64-AVRO fingerprint of an id's schema (0 for an invalid id). */
uint64_t ph_codec_fingerprint(const ph_codec *codec, ph_schema_id id);

/* Convenience: a new empty value of an id. The caller owns it: avro_value_decref(value) when done.
 * Returns 0, PH_EINVAL or PH_ENOMEM. Thread-safe once the codec is built. */
int ph_codec_value_new(const ph_codec *codec, ph_schema_id id, avro_value_t *value);

/* ---- Encoding ------------------------------------------------------------------------------ */

typedef struct ph_avro_encoder ph_avro_encoder;

/* A per-thread encoder. Returns 0, PH_EINVAL or PH_ENOMEM. The codec must outlive it. */
int ph_avro_encoder_new(ph_avro_encoder **out, ph_codec *codec, char *errstr, size_t errstr_size);
void ph_avro_encoder_destroy(ph_avro_encoder *enc); /* NULL is a no-op */

/* Encodes value (made from ph_codec_iface(codec, id)) as a single-object encoded message.
 * *buf and *len describe bytes owned by the encoder, valid until its next call or destruction.
 * There is no size limit other than memory. Note that avro-c cannot write a string field cleared
 * by avro_value_reset() and not set again, nor a union with no branch selected: such values fail
 * with PH_EINVAL naming the field (e.g. "field input_messages[2].name: union without a selected
 * branch"). Fill every field after a reset.
 * Returns 0, PH_EINVAL (not a value of that schema, or incomplete), PH_EAVRO or PH_ENOMEM. */
int ph_avro_encode(ph_avro_encoder *enc, ph_schema_id id, const avro_value_t *value,
                   const void **buf, size_t *len, char *errstr, size_t errstr_size);

/* ---- Decoding ------------------------------------------------------------------------------ */

typedef struct ph_avro_decoder ph_avro_decoder;

/* A per-thread decoder. Returns 0, PH_EINVAL or PH_ENOMEM. The codec must outlive it. */
int ph_avro_decoder_new(ph_avro_decoder **out, ph_codec *codec, char *errstr, size_t errstr_size);
void ph_avro_decoder_destroy(ph_avro_decoder *dec); /* NULL is a no-op */

/* True when buf starts like a single-object encoded message (magic C3 01 and room for the
 * fingerprint). Says nothing about the body. */
bool ph_avro_is_single_object(const void *buf, size_t len);

/* Reads the writer fingerprint of a single-object encoded message. Returns 0 or PH_EINVAL. */
int ph_avro_peek_fingerprint(const void *buf, size_t len, uint64_t *fp_out);

/* Decodes a single-object encoded message into a value of the reader schema. The writer schema is
 * found by fingerprint among the codec's schemas and those added with
 * ph_codec_add_writer_schema(); when it differs from the reader, the data is resolved following
 * the Avro rules (reader fields missing from the writer take their default). The way to resolve
 * is chosen once per (writer, reader) pair and cached in the decoder: schemas that differ only by
 * extra writer fields are resolved by avro-c while reading; any other difference (such as reader
 * fields the writer lacks) costs one extra copy, at about half the speed. The body is checked
 * completely before avro-c reads it, so garbage, truncated or oversized input fails cleanly.
 * *value_out points to a value owned by the decoder, valid until its next decode or destruction;
 * buf is not referenced after the call.
 * Returns 0, PH_EINVAL (not single-object encoded, truncated body, trailing bytes, malformed data),
 * PH_ENOENT (unknown writer schema fingerprint), PH_EAVRO (a message of another record, or a
 * writer that cannot be resolved to the reader) or PH_ENOMEM. */
int ph_avro_decode(ph_avro_decoder *dec, ph_schema_id reader, const void *buf, size_t len,
                   avro_value_t **value_out, char *errstr, size_t errstr_size);

/* ---- JSON view ----------------------------------------------------------------------------- */

/* Converts a value to plain JSON for humans and tools:
 *   record -> object (fields in schema order)   map -> object        array -> array
 *   union  -> its current branch's value, or null                    enum -> symbol string
 *   null/boolean -> null/true/false   int/long -> integer   float/double -> real (NaN, Inf -> null)
 *   string -> string
 *   bytes, fixed -> a string holding the bytes when they are valid UTF-8, otherwise the object
 *                   {"base64": "<RFC 4648 base64 of the bytes>"}; a string that is not valid UTF-8
 *                   is shown the same way, and a map key that is not valid UTF-8 becomes
 *                   "base64:<base64 of the key>".
 * *out is a new reference (json_decref it). Returns 0, PH_EINVAL or PH_ENOMEM. */
int ph_avro_to_json(const avro_value_t *value, json_t **out, char *errstr, size_t errstr_size);

/* The same as one compact line of JSON (doubles with up to 15 significant digits); malloc'ed, the
 * caller frees it. NULL on error (reason in errstr). */
char *ph_avro_to_json_string(const avro_value_t *value, char *errstr, size_t errstr_size);

/* ---- Field helpers ------------------------------------------------------------------------- */
/* Small accessors for record values by field name. When the field is a union, setters select the
 * first branch of the fitting type (so a ["null", "string"] field takes its string branch) and
 * getters look through the selected branch. They return 0, PH_EINVAL (no such field, wrong type,
 * unknown enum symbol), PH_ERANGE (number does not fit an int field) or PH_ENOMEM; getters return
 * PH_ENOENT when the field (or its union) holds null, except ph_avro_get_string/_bytes, which give
 * NULL. Borrowed pointers returned by getters are valid until the value changes. */

int ph_avro_set_null(avro_value_t *rec, const char *field);
/* s NULL selects the null branch. */
int ph_avro_set_string(avro_value_t *rec, const char *field, const char *s);
int ph_avro_set_stringn(avro_value_t *rec, const char *field, const char *s, size_t len);
/* buf NULL selects the null branch. */
int ph_avro_set_bytes(avro_value_t *rec, const char *field, const void *buf, size_t len);
/* int or long fields (and unions of them). */
int ph_avro_set_long(avro_value_t *rec, const char *field, int64_t v);
/* float or double fields. */
int ph_avro_set_double(avro_value_t *rec, const char *field, double v);
int ph_avro_set_bool(avro_value_t *rec, const char *field, bool v);
int ph_avro_set_enum(avro_value_t *rec, const char *field, const char *symbol);
/* Selects the record (branch) of a field and gives it in *sub to be filled. */
int ph_avro_set_record(avro_value_t *rec, const char *field, avro_value_t *sub);
/* Appends a new element to an array field and gives it in *elem to be filled. */
int ph_avro_append(avro_value_t *rec, const char *field, avro_value_t *elem);
/* Appends a string (s NULL: null, when the items are nullable) to an array field. */
int ph_avro_append_string(avro_value_t *rec, const char *field, const char *s);
/* Adds (or finds, when the key exists) an entry of a map field and gives it in *val. */
int ph_avro_map_put(avro_value_t *rec, const char *field, const char *key, avro_value_t *val);
/* Puts a string (s NULL: null, when the values are nullable) or a number under key. */
int ph_avro_map_put_string(avro_value_t *rec, const char *field, const char *key, const char *s);
int ph_avro_map_put_double(avro_value_t *rec, const char *field, const char *key, double v);

/* The field's value, looking through a union's selected branch; PH_ENOENT when null. */
int ph_avro_get(const avro_value_t *rec, const char *field, avro_value_t *out);
/* *s NULL (and *len 0) for a null union. The string is NUL-terminated; len may be NULL. */
int ph_avro_get_string(const avro_value_t *rec, const char *field, const char **s, size_t *len);
int ph_avro_get_bytes(const avro_value_t *rec, const char *field, const void **buf, size_t *len);
/* int or long fields. */
int ph_avro_get_long(const avro_value_t *rec, const char *field, int64_t *v);
/* float or double fields. */
int ph_avro_get_double(const avro_value_t *rec, const char *field, double *v);
int ph_avro_get_bool(const avro_value_t *rec, const char *field, bool *v);
/* The symbol (static for the schema's life) of an enum field. */
int ph_avro_get_enum(const avro_value_t *rec, const char *field, const char **symbol);
/* True when the field holds null: its null branch or no branch selected, or a null type. */
bool ph_avro_is_null(const avro_value_t *rec, const char *field);

#endif
