/* Input quality rules of pharos-validator and the JSON-to-Avro mapping of log and feedback
 * records.
 *
 * A raw record from pharos.logs.raw (JSON, or an Avro LlmLog decoded by the codec) is turned into
 * a canonical LlmLog value (schemas/llm_log.avsc) with non-fatal quality warnings, or judged
 * invalid with EVERY fatal reason listed. Rule codes, their default severities and what happens
 * to the offending value are documented in docs/validation.md; the accepted JSON shapes in
 * docs/log-format.md.
 *
 * Avro values passed in are generic values (avro_generic_value_new) of the schemas in
 * schemas/ (*.avsc), created and owned by the caller; this module only fills them. Callers reuse
 * one value per thread: the functions below reset it themselves.
 *
 * Threads: every function is reentrant and keeps no global state. A ph_rules is immutable after
 * ph_rules_new() and may be shared by any number of threads; a ph_issues list and an Avro value
 * belong to one thread at a time. */
#ifndef PH_RECORD_H
#define PH_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include <avro.h>
#include <jansson.h>

/* ---- Issue lists ------------------------------------------------------------------------- */

/* One problem found in a record. `code` is a stable rule code (static storage: a string
 * literal or a name from the rule table, never freed); `field` is the input field concerned as
 * a JSON path such as "messages[2].role", or NULL for whole-record problems; `message` explains
 * it to a human. field and message are owned by the list. */
typedef struct ph_issue {
    const char *code;
    char *field;
    char *message;
} ph_issue;

/* A growable list of issues. Zero-initialised (or ph_issues_init) means empty. */
typedef struct ph_issues {
    ph_issue *v;
    size_t n;
    size_t cap;
} ph_issues;

void ph_issues_init(ph_issues *list);

/* Appends an issue. `code` must have static storage (see ph_issue); field may be NULL; the
 * message is formatted with printf rules. Returns 0 or PH_ENOMEM (the list is then unchanged). */
int ph_issues_add(ph_issues *list, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Empties the list but keeps its storage for reuse (per-record use in a loop). */
void ph_issues_clear(ph_issues *list);

/* Frees everything; the list is empty (and reusable) afterwards. NULL is a no-op. */
void ph_issues_free(ph_issues *list);

/* ---- Rule configuration ------------------------------------------------------------------ */

#define PH_RULES_DEFAULT_MAX_RECORD_BYTES  (1024 * 1024)
#define PH_RULES_DEFAULT_MAX_FIELD_BYTES   (256 * 1024)
#define PH_RULES_DEFAULT_MAX_MESSAGES      1000
#define PH_RULES_DEFAULT_MAX_CONTEXT       100
#define PH_RULES_DEFAULT_ROLES             "system,developer,user,assistant,tool,function"
#define PH_RULES_DEFAULT_MAX_CLOCK_SKEW_MS (24 * 3600 * 1000LL)

/* The knobs of the rule set. Zero (or NULL) selects the default; negative numbers are rejected.
 * int64_t fields so that a service's config table (PH_CFG_INT) can fill them directly. */
typedef struct ph_rules_config {
    int64_t max_record_bytes;  /* larger raw records are rejected (oversized_record) */
    int64_t max_field_bytes;   /* longer strings are cut at a UTF-8 boundary (oversized_field) */
    int64_t max_messages;      /* only the last max_messages input messages are kept */
    int64_t max_context;       /* only the last max_context context passages are kept */
    const char *roles;         /* comma-separated known message roles (matched ignoring case) */
    int64_t max_clock_skew_ms; /* how far in the future (past ingest time) a time may lie */
    const char *severity;      /* overrides "code=fatal|warn|off,...", e.g. "unknown_role=off" */
} ph_rules_config;

typedef struct ph_rules ph_rules;

/* Builds an immutable rule set from cfg (NULL: all defaults). Rejects an unknown rule code, an
 * unknown severity, a rule that cannot be changed (invalid_json, not_object: nothing can be
 * made of such input), an empty role list and negative limits, with the reason in errstr.
 * Returns 0 and sets *rules (owned by the caller, free with ph_rules_destroy), or PH_EINVAL or
 * PH_ENOMEM. cfg's strings are copied. */
int ph_rules_new(ph_rules **rules, const ph_rules_config *cfg, char *errstr, size_t errstr_size);

/* Frees a rule set. NULL is a no-op. */
void ph_rules_destroy(ph_rules *rules);

/* Describes rule number i (0-based) of the built-in table, for --help output and the docs
 * test: its code, its default severity as text ("fatal", "warn", or "fatal|warn" for rules whose
 * severity depends on the field, see docs/validation.md) and a one-line summary. All strings
 * are static. Returns 0, or PH_ENOENT past the end of the table. */
int ph_rule_info(size_t i, const char **code, const char **default_severity, const char **summary);

/* ---- Log records ------------------------------------------------------------------------- */

/* What the transport knows about a raw record (Kafka headers and coordinates). All strings are
 * borrowed for the duration of the call. Strings from headers are untrusted: they are checked
 * like record fields. */
typedef struct ph_raw_meta {
    const char *record_id;          /* pharos-record-id header, or derived; may be NULL */
    const char *fallback_record_id; /* e.g. "raw-<topic>-<partition>-<offset>"; always set */
    int64_t ingest_time_ms;         /* pharos-ingest-time header, else the Kafka timestamp;
                                       0 or negative: now */
    const char *ingest_source;      /* "http", "otlp" or "kafka"; NULL means "kafka" */
    const char *app;                /* the bearer token's app: overrides the record's app */
} ph_raw_meta;

/* Parses one JSON log record (buf need not be NUL-terminated), applies every rule and fills
 * `llmlog`, a generic value of the LlmLog schema (reset first by this function).
 *
 * Issues found are APPENDED to `fatal` and `warnings` (callers clear the lists between
 * records). Returns:
 *   0          the record is valid: llmlog is complete, and the warnings of this call are also
 *              copied into llmlog.quality_warnings;
 *   PH_EINVAL  the record is invalid: `fatal` holds every fatal reason (warnings found alongside
 *              are in `warnings`); llmlog is partially filled and only its record_id is
 *              meaningful (the record's own id when it could be read, else meta's), for the
 *              InvalidRecord;
 *   PH_ENOMEM, PH_EAVRO  a failure of the process, not of the record (out of memory, or a
 *              schema that does not match schemas/llm_log.avsc).
 * Never crashes on any input. Reentrant; `rules` may be shared between threads. */
int ph_record_from_json(const ph_rules *rules, const char *buf, size_t len, const ph_raw_meta *meta,
                        avro_value_t *llmlog, ph_issues *fatal, ph_issues *warnings);

/* Applies the same semantic rules to an LlmLog that arrived as Avro (decoded by the codec):
 * invalid UTF-8 and NUL characters in strings, empty required fields, negative or impossible
 * numbers, bad times, unknown roles, oversized fields, too many messages or passages. Repairs
 * `llmlog` in place exactly like the JSON path (values dropped, cut or normalised), sets
 * record_id (when empty), app, ingest_time and ingest_source from `meta`, and replaces
 * llmlog.quality_warnings with the warnings of this call. Same return values and list
 * semantics as ph_record_from_json. */
int ph_record_check_avro(const ph_rules *rules, avro_value_t *llmlog, const ph_raw_meta *meta,
                         ph_issues *fatal, ph_issues *warnings);

/* Fills `invalid`, a generic value of the InvalidRecord schema (reset first), for a raw message
 * that was judged invalid. `original`/`len` are the raw bytes, kept whole up to
 * max_original_bytes (0: no limit; longer ones are cut and flagged original_truncated).
 * kafka_ts_ms < 0 means "no timestamp". content_type is "json", "avro" or "unknown" (NULL:
 * "unknown"); record_id_or_null and ingest_source may be NULL; validator_version NULL means
 * "unknown". Every issue of `fatal` becomes a reason and every one of `warnings` a warning
 * (either list may be NULL). Strings that come from the outside (topic, record id) are made
 * valid UTF-8. validated_time is now. Returns 0, PH_EINVAL (NULL invalid) or PH_EAVRO. */
int ph_invalid_record_fill(avro_value_t *invalid, const char *topic, int32_t partition,
                           int64_t offset, int64_t kafka_ts_ms, const char *content_type,
                           const void *original, size_t len, size_t max_original_bytes,
                           const char *record_id_or_null, const char *ingest_source,
                           const ph_issues *fatal, const ph_issues *warnings,
                           const char *validator_version);

/* The Kafka key of a JSON log or feedback record: its session_id, else trace_id, else
 * record_id, else id, the first that is a non-empty string. *key is borrowed from obj (valid
 * while obj lives). Returns 0, or PH_ENOENT when the record has none (numeric ids do not count:
 * the caller then lets the partitioner choose) or obj is not an object. */
int ph_record_key(json_t *obj, const char **key);

/* ---- Feedback ---------------------------------------------------------------------------- */

/* Maps a Feedback JSON object (docs/log-format.md, "Feedback") into `feedback`, a generic value
 * of the Feedback schema (reset first). obj is borrowed and not modified. app_override (the
 * bearer token's app) replaces the object's app when not NULL; ingest_time_ms <= 0 means now;
 * assigned_id is the feedback_id used when the object has none (may be NULL).
 * Feedback has no warnings: every problem (wrong type, bad time, unknown source, no reference
 * to a record/trace/session, no judgement at all) is appended to `errors`.
 * Returns 0 (feedback filled), PH_EINVAL (errors lists every problem), or PH_ENOMEM/PH_EAVRO. */
int ph_feedback_from_json(json_t *obj, const char *app_override, int64_t ingest_time_ms,
                          const char *assigned_id, avro_value_t *feedback, ph_issues *errors);

#endif
