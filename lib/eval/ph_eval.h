/* The evaluator framework: what every evaluator sees (a read-only view of one LlmLog record),
 * what it produces (results that become Evaluation records, schemas/evaluation.avsc) and the
 * interface an evaluator kind implements.
 *
 * An evaluator KIND (text_stats, regex, refusal, judge, ...) is a static ph_evaluator_kind. An
 * evaluator INSTANCE is a kind plus its configuration (a JSON object from the evaluator config
 * file, see docs/evaluators.md), built once at start-up by kind->create(). Its version is
 * "<kind code_version>.<first 8 hex digits of XXH3 of the canonical JSON of its config>", so a
 * change of the code (bump code_version) or of the config gives a new version; downstream
 * deduplicates on (record_id, evaluator, version).
 *
 * Threads: after create(), an instance's state is read-only and kind->evaluate() may run on many
 * threads at once with the same state; per-call scratch lives on the stack or in the sink. A
 * ph_eval_record and a ph_eval_sink belong to one thread. */
#ifndef PH_EVAL_H
#define PH_EVAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A borrowed string: s is NUL-terminated and len excludes the NUL. Empty: s = "", len = 0. */
typedef struct ph_str {
    const char *s;
    size_t len;
} ph_str;

typedef struct ph_eval_message {
    ph_str role; /* system, developer, user, assistant, tool, ... */
    ph_str content;
} ph_eval_message;

typedef struct ph_eval_passage {
    ph_str id; /* may be empty */
    ph_str content;
} ph_eval_passage;

/* One record, as evaluators see it. Every pointer is borrowed from the caller for the duration
 * of the evaluate() call only. */
typedef struct ph_eval_record {
    ph_str record_id;
    ph_str session_id; /* empty when none */
    ph_str trace_id;
    ph_str app;
    ph_str environment;
    ph_str model;
    ph_str route;
    int turn;      /* 1-based assistant turn in the session; 0 when unknown */
    bool is_error; /* the call failed (status ERROR); output is then usually empty */
    const ph_eval_message *messages; /* the input conversation, oldest first */
    size_t nmessages;
    ph_str output;                  /* the model's response; empty when none */
    const ph_eval_passage *context; /* retrieved passages (RAG), in order */
    size_t ncontext;
    int64_t record_time_ms; /* start_time of the call, else its ingest time */
    int64_t ingest_time_ms;
} ph_eval_record;

/* The last message with role "user" (NULL when there is none). */
const ph_eval_message *ph_eval_last_user(const ph_eval_record *rec);

typedef enum {
    PH_EVAL_OK = 0,  /* scored */
    PH_EVAL_ERROR,   /* the evaluator failed on this record: explanation says why */
    PH_EVAL_SKIPPED, /* deliberately not scored (budget, sampling, gate): explanation says why */
} ph_eval_status;

#define PH_EVAL_NAME_MAX        64
#define PH_EVAL_VERSION_MAX     32
#define PH_EVAL_LABEL_MAX       64
#define PH_EVAL_EXPLANATION_MAX 256
#define PH_EVAL_VALUE_NAME_MAX  48
#define PH_EVAL_MAX_VALUES      32

typedef struct ph_eval_value {
    char name[PH_EVAL_VALUE_NAME_MAX];
    double value;
} ph_eval_value;

/* One result: becomes one Evaluation record. Filled by an evaluator through the setters below
 * (or directly; every field has a safe zero value except `passed`, see below). */
typedef struct ph_eval_result {
    char evaluator[PH_EVAL_NAME_MAX];  /* set by ph_eval_emit */
    char version[PH_EVAL_VERSION_MAX]; /* set by ph_eval_emit */
    ph_eval_status status;
    bool has_score;
    double score;
    char label[PH_EVAL_LABEL_MAX];             /* "" = none */
    int passed;                                /* -1 = not applicable, 0 = failed, 1 = passed */
    char explanation[PH_EVAL_EXPLANATION_MAX]; /* short; NEVER echoes PII or secrets */
    ph_eval_value values[PH_EVAL_MAX_VALUES];  /* named sub-measurements */
    size_t nvalues;
    double cost_usd; /* what producing it cost (LLM judge); 0 when free */
    int64_t tokens;  /* judge tokens used; 0 when none */
} ph_eval_result;

void ph_eval_set_score(ph_eval_result *r, double score);
void ph_eval_set_label(ph_eval_result *r, const char *label);
void ph_eval_set_passed(ph_eval_result *r, bool passed);
/* Adds (or replaces) a named value; silently ignores more than PH_EVAL_MAX_VALUES names. */
void ph_eval_add_value(ph_eval_result *r, const char *name, double value);
/* Appends a value whose name the result does not hold yet (no search: the hot path of kinds
 * that emit each name once); silently ignores more than PH_EVAL_MAX_VALUES names. */
void ph_eval_append_value(ph_eval_result *r, const char *name, double value);
/* The explanation as given (cut to fit), without printf's cost. */
void ph_eval_set_explanation(ph_eval_result *r, const char *text);
void ph_eval_explain(ph_eval_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Collects the results of one record. Owned by the caller (the framework); reused across
 * records with ph_eval_sink_reset. */
typedef struct ph_eval_sink {
    ph_eval_result *results;
    size_t n;
    size_t cap;
    /* Set by the framework before each evaluator runs: the name and version ph_eval_emit uses. */
    const char *current_name;
    const char *current_version;
} ph_eval_sink;

void ph_eval_sink_init(ph_eval_sink *sink);
void ph_eval_sink_reset(ph_eval_sink *sink);
void ph_eval_sink_free(ph_eval_sink *sink);

/* Appends a zeroed result (status OK, passed -1) named after the running instance, or
 * "<instance>.<sub>" when sub is not NULL (e.g. regex.no_sql for one named pattern), stamped
 * with its version. Returns NULL only when out of memory. */
ph_eval_result *ph_eval_emit(ph_eval_sink *sink, const char *sub);

/* For a kind's create(): refuses any key of obj not in known (NULL-terminated) with PH_EINVAL
 * and "<path>: unknown key "k" (known: a, b)" ("unknown key ..." when path is ""). */
int ph_eval_check_keys(const json_t *obj, const char *const *known, const char *path, char *errstr,
                       size_t errstr_size);

/* An evaluator kind. Registered in ph_eval_registry.c. */
typedef struct ph_evaluator_kind {
    const char *name;         /* the config key, e.g. "text_stats" */
    const char *code_version; /* bump whenever the code's scores could change, e.g. "1" */
    const char *summary;      /* one line for docs and --help */
    /* Builds an instance from its config object (borrowed; {} when the file gives none).
     * Rejects unknown keys and bad values with a clear message in errstr. */
    int (*create)(void **state, const json_t *config, char *errstr, size_t errstr_size);
    void (*destroy)(void *state); /* NULL state is a no-op */
    /* Scores one record, appending results with ph_eval_emit. Returns 0, or non-zero with
     * errstr: the framework then records an ERROR result for this instance. Must never crash on
     * any record (empty output, no user message, huge texts, invalid content). */
    int (*evaluate)(const void *state, const ph_eval_record *rec, ph_eval_sink *sink, char *errstr,
                    size_t errstr_size);
    /* Left out of the default set (no config file, or none naming evaluators): the kind checks
     * a contract only some apps have (json: "the output is JSON"), so running it on every app
     * would report failures that are none. Named in a config file, it runs. */
    bool opt_in;
} ph_evaluator_kind;

/* The registry of built-in kinds (ph_eval_registry.c). Returns NULL past the end / unknown. */
const ph_evaluator_kind *ph_eval_kind_at(size_t i);
const ph_evaluator_kind *ph_eval_kind_find(const char *name);

#endif
