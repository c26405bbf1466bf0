/* Between Avro and the evaluator framework: an LlmLog value (schemas/llm_log.avsc) as the
 * read-only record view evaluators see, and one result as an Evaluation value
 * (schemas/evaluation.avsc).
 *
 * Threads: a ph_eval_scratch, the values and the record view belong to one thread (the usual
 * set-up is one scratch per worker thread, reused for every record). */
#ifndef PH_EVAL_AVRO_H
#define PH_EVAL_AVRO_H

#include <avro.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ph_avro.h"
#include "ph_eval.h"

/* The message and passage arrays of a record view, grown as needed and reused across records.
 * Zero-initialised (or ph_eval_scratch_init) is empty. */
typedef struct ph_eval_scratch {
    ph_eval_message *messages;
    size_t messages_cap;
    ph_eval_passage *context;
    size_t context_cap;
} ph_eval_scratch;

void ph_eval_scratch_init(ph_eval_scratch *scratch);
void ph_eval_scratch_free(ph_eval_scratch *scratch); /* empty (and reusable) afterwards */

/* Fills *rec from an LlmLog value. Every string of rec is BORROWED from llmlog (valid until the
 * value changes) and the arrays from scratch (valid until its next use). Absent optional
 * strings are empty; record_time_ms is start_time, else ingest_time. Returns 0, PH_EINVAL (not
 * an LlmLog: errstr names the field) or PH_ENOMEM. */
int ph_eval_record_from_avro(const avro_value_t *llmlog, ph_eval_scratch *scratch,
                             ph_eval_record *rec, char *errstr, size_t errstr_size);

/* A metadata entry of an LlmLog value (borrowed, NUL-terminated; *len without the NUL, may be
 * NULL). Returns 0 or PH_ENOENT. */
int ph_eval_avro_metadata(const avro_value_t *llmlog, const char *key, const char **s, size_t *len);

/* Fills `evaluation`, a generic value of the Evaluation schema (reset first), from one result
 * and the record it is about: record_id, session_id, trace_id, app, environment and model come
 * from rec (empty strings become null), the rest from r; score, label, passed, explanation,
 * cost_usd and tokens are null when r has none (no score, "", -1, "", 0, 0); record_time and
 * ingest_time are null when 0. Returns 0 or PH_EINVAL/PH_ENOMEM with errstr. */
int ph_eval_result_to_avro(const ph_eval_result *r, const ph_eval_record *rec, int64_t eval_time_ms,
                           avro_value_t *evaluation, char *errstr, size_t errstr_size);

/* ---- Encoding Evaluations fast ------------------------------------------------------------ */

/* A per-thread Evaluation encoder: what a worker does once per result, so it writes the Avro
 * binary of schemas/evaluation.avsc itself (about 0.3 us an Evaluation; filling a generic avro-c
 * value and encoding it costs about 10 times more, as much as all the cheap evaluators together).
 * It does so only while the codec's Evaluation schema is the one this code was written for (its
 * fingerprint); with any other schema it falls back to the generic path, and the eval.avro test,
 * which compares both byte for byte, fails until this code follows the schema. */
typedef struct ph_eval_encoder ph_eval_encoder;

/* The codec must outlive the encoder. Returns 0 or PH_ENOMEM/PH_EINVAL with errstr. */
int ph_eval_encoder_new(ph_eval_encoder **out, ph_codec *codec, char *errstr, size_t errstr_size);
void ph_eval_encoder_destroy(ph_eval_encoder *enc); /* NULL is a no-op */

/* True when the direct writer is used (the schema is the expected one). */
bool ph_eval_encoder_direct(const ph_eval_encoder *enc);

/* The single-object encoded Evaluation of r about rec (the same mapping as
 * ph_eval_result_to_avro). *buf is owned by the encoder, valid until its next call. Returns 0 or
 * PH_ENOMEM/PH_EINVAL with errstr. */
int ph_eval_encode(ph_eval_encoder *enc, const ph_eval_result *r, const ph_eval_record *rec,
                   int64_t eval_time_ms, const void **buf, size_t *len, char *errstr,
                   size_t errstr_size);

#endif
