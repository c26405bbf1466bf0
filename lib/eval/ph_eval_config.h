/* The evaluator set: which evaluator instances run, with which configuration, for which records.
 *
 * Built once at start-up from the evaluator configuration file (JSON; the format is documented
 * in docs/evaluators.md):
 *
 *   {"evaluators": {"text_stats": {"max_output_chars": 20000},
 *                   "no_sql": {"kind": "regex", "patterns": [...]},
 *                   "json": false},
 *    "overrides": [{"match": {"app": "support-bot", "environment": "production"},
 *                   "evaluators": {"text_stats": {"max_output_chars": 2000}}}],
 *    "judge": {...},      handed to lib/judge as it is
 *    "sessions": {...}}   handed to the session evaluator as it is
 *
 * An instance's name is its key; its kind is its "kind" member, else the key; false disables it
 * (true is the same as {}). A "revision" member (a string or an integer) is not passed to the
 * kind either: it only changes the version, to re-evaluate with the same config after something
 * outside it changed (a lexicon file, a model). Without a file, or without an "evaluators" object,
 * every kind of the registry runs with {} (a kind that refuses {} is left out with a warning: it
 * needs a config). Each override deep-merges its "evaluators" into the global ones (objects merge
 * key by key, anything else replaces) for the records of its match; when several overrides match a
 * record, the most specific wins: app and environment > app > environment. Two overrides with the
 * same match are rejected. Every variant's instances are built at load, so every error (unknown
 * kind, unknown key, bad value) is reported then, with its path, e.g.
 *   evaluators.no_sql.patterns[0].pattern: ...   or   overrides[0].evaluators.text_stats...
 * Instances whose kind and effective config are equal are built once and shared by variants.
 *
 * Versions: "<kind code_version>.<8 hex digits>", the digits being the first 8 of the XXH3-64
 * (hex, big-endian) of the canonical JSON (jansson JSON_SORT_KEYS | JSON_COMPACT) of the
 * instance's effective config without its "kind" member (its "revision" included). A change of an
 * instance's code or config changes its version; downstream deduplicates on (record_id, evaluator,
 * version).
 *
 * Threads: loading is single-threaded; afterwards the set is read-only and ph_eval_set_run()
 * and the accessors may run on any number of threads at once (each with its own sink). */
#ifndef PH_EVAL_CONFIG_H
#define PH_EVAL_CONFIG_H

#include <jansson.h>
#include <stddef.h>

#include "ph_eval.h"

typedef struct ph_eval_set ph_eval_set;

/* Loads the set from the JSON file at path, or the default set (every registry kind with {})
 * when path is NULL or empty. On success *out owns everything (free with ph_eval_set_destroy).
 * Returns 0, PH_EIO (unreadable file), PH_EINVAL (bad JSON or configuration, with the path in
 * errstr) or PH_ENOMEM. */
int ph_eval_set_load(ph_eval_set **out, const char *path, char *errstr, size_t errstr_size);

/* The same from a parsed document (borrowed; NULL: the default set). `kinds` is a NULL-terminated
 * list of the kinds to know instead of the registry's (tests define their own), or NULL for the
 * registry. */
int ph_eval_set_from_json(ph_eval_set **out, const json_t *root,
                          const ph_evaluator_kind *const *kinds, char *errstr, size_t errstr_size);

/* Destroys every instance. NULL is a no-op. */
void ph_eval_set_destroy(ph_eval_set *set);

/* Runs the variant for rec->app / rec->environment on rec: each instance in order, with
 * sink->current_name and current_version set to its name and version. Results are APPENDED to
 * sink (the caller resets it between records). When an instance's evaluate() fails, whatever it
 * appended is dropped and one result with status ERROR and the reason as explanation takes its
 * place, so every instance yields at least one result per record, unless it deliberately emits
 * nothing. Returns 0, or PH_ENOMEM when even the ERROR result could not be appended. */
int ph_eval_set_run(const ph_eval_set *set, const ph_eval_record *rec, ph_eval_sink *sink);

/* The "judge" and "sessions" objects of the file (borrowed, valid while the set lives), or NULL
 * when the file has none. */
const json_t *ph_eval_set_judge(const ph_eval_set *set);
const json_t *ph_eval_set_sessions(const ph_eval_set *set);

/* One instance of one variant, for listings (`pharos eval --list`) and logs. All borrowed. */
typedef struct ph_eval_instance_info {
    const char *name;     /* the instance name (the Evaluation's evaluator, or its prefix) */
    const char *kind;     /* the kind's name */
    const char *version;  /* "<code_version>.<hash>" */
    const char *summary;  /* the kind's one-line summary */
    const json_t *config; /* the effective config, as create() saw it (no kind, no revision) */
    /* The variant: both NULL for the global set; otherwise the override's match (either may be
     * NULL when the override does not name it). */
    const char *match_app;
    const char *match_environment;
} ph_eval_instance_info;

/* Number of (variant, instance) entries: the global set's instances first, then each override's
 * in file order. */
size_t ph_eval_set_size(const ph_eval_set *set);

/* Entry i (< ph_eval_set_size). Returns 0, or PH_ENOENT past the end. */
int ph_eval_set_entry(const ph_eval_set *set, size_t i, ph_eval_instance_info *info);

/* Computes an instance version into out from a kind's code_version and a config object (the
 * "kind" member is ignored). Exposed for tests and docs. Returns 0, PH_ERANGE (does not fit) or
 * PH_ENOMEM. */
int ph_eval_version(const char *code_version, const json_t *config, char *out, size_t size);

#endif
