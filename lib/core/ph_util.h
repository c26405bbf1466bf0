/* Small helpers every module needs: clocks, ids, topic names. */
#ifndef PH_UTIL_H
#define PH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Wall-clock milliseconds since the Unix epoch (for record timestamps). */
int64_t ph_now_ms(void);

/* Monotonic milliseconds (for deadlines and durations; never goes back). */
int64_t ph_mono_ms(void);

/* Parses a time given by a user: RFC 3339 with a zone ("Z" or an offset; fractions of a second
 * kept to the millisecond) or epoch milliseconds. A time without a zone is refused (ambiguous).
 * Returns 0 and *ms, or PH_EINVAL. */
int ph_parse_user_time(const char *s, int64_t *ms);

/* Writes a 32-hex-digit id derived from `data` and `salt` with XXH3-128 into out (33 bytes).
 * Deterministic: the same bytes and salt give the same id, so retried input keeps its id. */
void ph_hash_id(const void *data, size_t len, uint64_t salt, char out[33]);

/* Writes 32 random hex digits (from getrandom(2)) into out (33 bytes). */
void ph_random_id(char out[33]);

/* The pipeline's topics. Their full names are <topic_prefix><base name>. */
typedef enum {
    PH_TOPIC_LOGS_RAW = 0, /* pharos.logs.raw: JSON or Avro LlmLog from clients */
    PH_TOPIC_LOGS_VALID,   /* pharos.logs.valid: LlmLog */
    PH_TOPIC_LOGS_INVALID, /* pharos.logs.invalid: InvalidRecord */
    PH_TOPIC_FEEDBACK,     /* pharos.feedback: Feedback */
    PH_TOPIC_EVALS,        /* pharos.evals: Evaluation */
    PH_TOPIC_METRICS,      /* pharos.metrics: MetricWindow */
    PH_TOPIC_ALERTS,       /* pharos.alerts: Alert */
    PH_TOPIC_DATASETS,     /* pharos.datasets: DatasetItem */
    PH_TOPIC_COUNT
} ph_topic;

/* Base name of a topic, e.g. "pharos.logs.raw". */
const char *ph_topic_base(ph_topic t);

/* Writes prefix + base name into buf; returns 0 or PH_ERANGE if it does not fit. */
int ph_topic_name(const char *prefix, ph_topic t, char *buf, size_t size);

#endif
