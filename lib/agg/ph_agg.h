/* The aggregator's core: turns logs, invalid records, evaluations and feedback into windowed
 * metrics stored in SQLite, without knowing Kafka, Avro or HTTP. docs/aggregator.md describes the
 * model (cells, levels, dedup, lateness, revisions, crash behaviour) and every metric name.
 *
 * In brief: every event updates, at once, the cell (level, window start, app, environment,
 * model), the all-traffic cell and its app's and its model's rollup cells of its window at each
 * level (1m, 1h, 1d), so rollups are exact by construction. Cells live in memory while hot and are
 * written to SQLite by ph_agg_commit(), together with the new dedup keys and the consumed Kafka
 * offsets, in one transaction: after a crash the service seeks to the stored offsets and nothing is
 * lost or counted twice.
 *
 * Threads: a ph_agg belongs to one thread (the service's main loop): add, commit, advance, emit
 * and offsets are not locked. Queries run on any other thread through a ph_agg_reader, which has
 * its own SQLite connection (WAL lets it read while the writer commits) and sees committed data
 * only. A reader, too, belongs to one thread at a time.
 *
 * Errors: functions return PH_OK or a negative PH_E* code (ph_error.h) and write results only on
 * success. Strings in events are borrowed for the call only; NULL means absent. */
#ifndef PH_AGG_H
#define PH_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ph_agg ph_agg;
typedef struct ph_agg_reader ph_agg_reader;

/* Window levels. Level 0's size is configurable (default one minute); hours and days are fixed
 * and aligned to UTC (epoch multiples). */
enum { PH_AGG_LEVEL_MINUTE = 0, PH_AGG_LEVEL_HOUR = 1, PH_AGG_LEVEL_DAY = 2, PH_AGG_LEVELS = 3 };

/* "Absent" for optional numbers in events: NaN for doubles (PH_AGG_NONE), -1 for counts and
 * optional booleans. Fill events with their _init function, then set what is known. */
#define PH_AGG_NONE (__builtin_nan(""))

typedef enum { PH_AGG_KPI_NUMBER = 0, PH_AGG_KPI_BOOL = 1 } ph_agg_kpi_type;

/* A business KPI read from a log's metadata: numeric ones (the value parsed as a number) are
 * aggregated like latency, boolean ones ("true"/"false") as a rate. */
typedef struct ph_agg_kpi {
    const char *name; /* metrics kpi.<name>.*: [A-Za-z0-9_.-]+ */
    const char *key;  /* metadata key to read */
    ph_agg_kpi_type type;
} ph_agg_kpi;

typedef struct ph_agg_config {
    int64_t window_ms;                   /* level 0 size; divides one hour. Default 60000 */
    int64_t allowed_lateness_ms;         /* watermark lag behind the newest event. 5 min */
    int64_t retention_ms[PH_AGG_LEVELS]; /* per level: 7 d, 90 d, 730 d */
    int64_t dedup_retention_ms;          /* events older than this are refused. 48 h */
    bool sync_full;                      /* synchronous=FULL (default) rather than NORMAL */
    const ph_agg_kpi *kpis;              /* copied by ph_agg_new */
    size_t n_kpis;
} ph_agg_config;

/* Fills cfg with the defaults above (no KPIs). */
void ph_agg_config_default(ph_agg_config *cfg);

typedef struct ph_agg_kv {
    const char *key, *value;
} ph_agg_kv;

/* A validated log (pharos.logs.valid). */
typedef struct ph_agg_log {
    const char *record_id; /* required: dedup key "log:<record_id>" */
    const char *app, *environment, *model;
    int64_t time_ms;   /* event time: start_time, else ingest_time (required) */
    int64_t ingest_ms; /* unused by metrics today; kept for symmetry (-1 absent) */
    bool is_error;     /* status != OK */
    double latency_ms; /* PH_AGG_NONE when absent */
    int64_t input_tokens, output_tokens; /* -1 when absent */
    double cost_usd;                     /* PH_AGG_NONE when absent */
    const char *const *warnings;         /* quality warning kinds */
    size_t n_warnings;
    const ph_agg_kv *metadata; /* where KPIs are read */
    size_t n_metadata;
} ph_agg_log;

/* An invalid record (pharos.logs.invalid): one invalid record, +1 per reason. */
typedef struct ph_agg_invalid {
    const char *id; /* required stable id: record_id, else "topic:partition:offset" of the raw */
    const char *app, *environment, *model; /* NULL when unknown */
    int64_t time_ms;
    const char *const *reasons;
    size_t n_reasons;
    const char *const *warnings;
    size_t n_warnings;
} ph_agg_invalid;

typedef enum {
    PH_AGG_EVAL_OK = 0,
    PH_AGG_EVAL_ERROR = 1,
    PH_AGG_EVAL_SKIPPED = 2,
} ph_agg_eval_status;

/* An evaluation (pharos.evals); counted once per (record_id, evaluator, evaluator_version). */
typedef struct ph_agg_eval {
    const char *record_id, *evaluator, *evaluator_version; /* required (version may be "") */
    const char *app, *environment, *model;
    ph_agg_eval_status status;
    double score;               /* PH_AGG_NONE when absent */
    const char *label;          /* NULL when absent */
    int passed;                 /* 1, 0, or -1 when absent */
    int64_t record_ms;          /* the record's event time: the window (required) */
    int64_t ingest_ms, eval_ms; /* lag = eval - ingest, when both are > 0 */
    double cost_usd;            /* judge spend; PH_AGG_NONE when absent */
    int64_t tokens;             /* judge tokens; -1 when absent */
} ph_agg_eval;

/* Feedback and human review (pharos.feedback). */
typedef struct ph_agg_feedback {
    const char *feedback_id; /* required */
    const char *app, *environment, *model;
    int64_t time_ms;
    int thumbs;        /* 1 up, 0 down, -1 absent */
    double score;      /* PH_AGG_NONE when absent */
    const char *label; /* reviewer label; NULL when absent */
} ph_agg_feedback;

void ph_agg_log_init(ph_agg_log *ev);
void ph_agg_invalid_init(ph_agg_invalid *ev);
void ph_agg_eval_init(ph_agg_eval *ev);
void ph_agg_feedback_init(ph_agg_feedback *ev);

/* Counters since ph_agg_new (not persisted), for the service's /metrics. */
typedef struct ph_agg_stats {
    uint64_t added;      /* events counted */
    uint64_t duplicates; /* events ignored: their dedup key was already seen */
    uint64_t late;       /* counted events whose level-0 window had already closed */
    uint64_t too_late;   /* refused: older than the watermark minus dedup_retention */
    uint64_t commits;
    uint64_t cells_cached; /* cells in memory now */
    uint64_t keys_cached;  /* dedup keys in memory now */
} ph_agg_stats;

/* A consumed position, stored by ph_agg_commit in the same transaction as the data. */
typedef struct ph_agg_offset {
    const char *topic;
    int32_t partition;
    int64_t next_offset; /* the next offset to consume */
} ph_agg_offset;

/* A closed window to publish as a MetricWindow, or a query point. Every pointer is borrowed and
 * valid until the next call on the same ph_agg / ph_agg_reader. */
typedef struct ph_agg_window {
    int level;               /* PH_AGG_LEVEL_* */
    const char *granularity; /* "1m", "1h", "1d" (level 0: "<n>m" or "<n>s") */
    int64_t start_ms, end_ms;
    const char *app, *environment, *model; /* NULL = all (or absent: see `absent`) */
    int32_t revision;
    size_t n_metrics;
    const char *const *names;
    const double *values;
} ph_agg_window;

/* Opens (creating or migrating) the store at db_path and loads what is hot: open and unemitted
 * cells, the recent dedup keys, the watermark. The config is copied. On success *out owns
 * everything and is freed by ph_agg_destroy(). Returns PH_OK, PH_EINVAL (bad config, or a
 * window_ms different from the one the store was created with), PH_EIO (SQLite) or PH_ENOMEM. */
int ph_agg_new(ph_agg **out, const ph_agg_config *cfg, const char *db_path, char *errstr,
               size_t errstr_size);

/* Closes the store WITHOUT committing: what was added since the last ph_agg_commit is dropped,
 * exactly as a crash would drop it (the service replays it from the committed offsets). Call
 * ph_agg_commit first for a clean shutdown. NULL is a no-op; copes with a half-built agg. */
void ph_agg_destroy(ph_agg *agg);

/* Count one event. PH_OK also when the event was a duplicate or too late (see stats).
 * PH_EINVAL: a required field is missing (nothing counted). PH_EIO: looking up an old cell or
 * dedup key failed (nothing counted; retry later). PH_ENOMEM: the agg may be half-updated and
 * must be destroyed without commit (a restart replays from the last commit). */
int ph_agg_add_log(ph_agg *agg, const ph_agg_log *ev);
int ph_agg_add_invalid(ph_agg *agg, const ph_agg_invalid *ev);
int ph_agg_add_eval(ph_agg *agg, const ph_agg_eval *ev);
int ph_agg_add_feedback(ph_agg *agg, const ph_agg_feedback *ev);

/* Writes, in one transaction: the cells changed since the last commit, the new dedup keys, the
 * given offsets (upserted per topic and partition; n may be 0), the watermark, the marks of
 * ph_agg_mark_emitted, and the retention deletes of the current watermark. Then frees what is
 * cold (closed, emitted and clean cells; dedup keys older than the in-memory horizon). On error
 * nothing is written and everything stays pending for the next call. Returns PH_OK or PH_EIO. */
int ph_agg_commit(ph_agg *agg, const ph_agg_offset *offs, size_t n, char *errstr,
                  size_t errstr_size);

/* Calls fn for every stored offset of `topic` (committed ones only). Stops and returns fn's
 * value if it is not 0. Returns PH_OK or PH_EIO. */
int ph_agg_offsets(ph_agg *agg, const char *topic, int (*fn)(void *arg, const ph_agg_offset *off),
                   void *arg);

/* Moves the watermark to min(newest event time, now_ms) - allowed_lateness (never backwards),
 * which closes the windows that end at or before it, and queues every closed window whose
 * current revision has not been emitted (all levels, every combination and all traffic) for
 * ph_agg_next_emit. No I/O: the retention and dedup pruning it implies happen at the next
 * commit. *n_emit (may be NULL) gets the number queued. */
int ph_agg_advance(ph_agg *agg, int64_t now_ms, size_t *n_emit);

/* The next queued window in *out (borrowed until the next call on agg). Returns PH_OK, or
 * PH_ENOENT when the queue is empty. A window handed out and not marked is queued again by the
 * next advance; late data arriving after it was handed out bumps its revision. */
int ph_agg_next_emit(ph_agg *agg, ph_agg_window *out);

/* Records that w (as given by ph_agg_next_emit) was acknowledged by the broker. Persisted by the
 * next commit; after a crash before that, the window is emitted again with the same revision.
 * Returns PH_OK, or PH_ENOENT when the window is no longer known (deleted by retention). */
int ph_agg_mark_emitted(ph_agg *agg, const ph_agg_window *w);

/* The current watermark (INT64_MIN before the first event) and a copy of the counters. */
int64_t ph_agg_watermark(const ph_agg *agg);
void ph_agg_get_stats(const ph_agg *agg, ph_agg_stats *out);

/* ---- Queries (any thread, one reader per thread) ---------------------------------------- */

/* Opens a read-only view of the store at db_path (which ph_agg_new must have created). The
 * caller owns *out and frees it with ph_agg_reader_destroy (NULL is a no-op). Returns PH_OK,
 * PH_ENOENT (not an aggregator store), PH_EIO or PH_ENOMEM. */
int ph_agg_reader_new(ph_agg_reader **out, const char *db_path, char *errstr, size_t errstr_size);
void ph_agg_reader_destroy(ph_agg_reader *r);

/* Filters: NULL = any value; "" matches an absent dimension. */
typedef struct ph_agg_filter {
    const char *app, *environment, *model;
} ph_agg_filter;

enum { PH_AGG_BY_APP = 1, PH_AGG_BY_ENVIRONMENT = 2, PH_AGG_BY_MODEL = 4 };

/* One point of a series. app/environment/model are the group's values for the dimensions in
 * group_by (NULL when the dimension is absent in the data) and NULL for the others. */
typedef struct ph_agg_point {
    unsigned group_by;
    const char *app, *environment, *model;
    int64_t t_ms, step_ms; /* the point covers [t_ms, t_ms + step_ms) */
    size_t n_metrics;
    const char *const *names;
    const double *values;
} ph_agg_point;

/* Metrics of [from_ms, to_ms) in points of step_ms (a multiple of the level-0 window), aligned
 * to multiples of step_ms (the range is widened to them), per group. Reads the coarsest level
 * whose size divides step_ms. Points without data are not reported. metrics (n_metrics of them;
 * none: every metric) selects the metrics of each point: names, or prefixes ending in '*'
 * ("eval.*", "latency_*"); the others are not computed, nor the parts of the stored cells that
 * only they need decoded. Calls fn per point in the order of (group values, t); stops and
 * returns fn's value if it is not 0. Returns PH_OK, PH_EINVAL (bad range or step, or a corrupt
 * stored cell), PH_ERANGE (more than 1,000,000 points), PH_EIO or PH_ENOMEM. Points may stream
 * to fn while the store is read: on an error, fn may already have seen some points (discard
 * them). */
int ph_agg_query(ph_agg_reader *r, int64_t from_ms, int64_t to_ms, int64_t step_ms,
                 const ph_agg_filter *filter, unsigned group_by, const char *const *metrics,
                 size_t n_metrics, int (*fn)(void *arg, const ph_agg_point *pt), void *arg,
                 char *errstr, size_t errstr_size);

typedef struct ph_agg_summary_result {
    int64_t from_ms, to_ms; /* the range actually covered (widened to level-0 windows) */
    size_t n_metrics;
    const char *const *names;
    const double *values;
    /* Values seen at the day level over the range, all filters ignored; "" is absent. */
    size_t n_apps, n_environments, n_models;
    const char *const *apps, *const *environments, *const *models;
} ph_agg_summary_result;

/* Totals over [from_ms, to_ms) (widened to level-0 windows; read from day, hour and minute cells
 * as the range allows) and the known dimension values. Calls fn once with the borrowed result
 * and returns its value, or PH_EINVAL, PH_EIO or PH_ENOMEM. */
int ph_agg_summary(ph_agg_reader *r, int64_t from_ms, int64_t to_ms, const ph_agg_filter *filter,
                   int (*fn)(void *arg, const ph_agg_summary_result *res), void *arg, char *errstr,
                   size_t errstr_size);

#endif
