/* Internals of lib/agg shared by its files: interned strings, the cell state and its encoding,
 * the cell map, the dedup set and the metrics list. Nothing here locks: each structure belongs to
 * one ph_agg or one ph_agg_reader. */
#ifndef PH_AGG_INT_H
#define PH_AGG_INT_H

#include "ph_agg.h"
#include "ph_sketch.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGG_HOUR_MS 3600000LL
#define AGG_DAY_MS  86400000LL

/* Fixed-point scales: sums are integers so that adding event by event and merging cells give
 * identical results whatever the order (double addition is not associative). */
#define AGG_COST_SCALE    1e9 /* nano-dollars */
#define AGG_LATENCY_SCALE 1e3 /* microseconds */
#define AGG_SCORE_SCALE   1e6 /* scores and numeric KPIs: 6 decimals */

/* At most this many distinct names per label/reason/warning map of one cell; further names are
 * counted under "_other", so a high-cardinality label cannot blow up a cell. */
#define AGG_MAP_MAX 128

static inline int64_t agg_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* ---- interned strings: equal strings share one pointer, so maps compare pointers ---------- */
typedef struct agg_pool agg_pool;
int agg_pool_new(agg_pool **out);
void agg_pool_destroy(agg_pool *pool);
/* The interned copy of s[0..len), or NULL on allocation failure. Lives as long as the pool. */
const char *agg_intern(agg_pool *pool, const char *s, size_t len);
const char *agg_intern_z(agg_pool *pool, const char *s); /* NULL s interns "" */

/* ---- growable byte buffer and varint reader ------------------------------------------------ */
typedef struct agg_buf {
    uint8_t *p;
    size_t len, cap;
} agg_buf;

typedef struct agg_rd {
    const uint8_t *p, *end;
    bool bad;
} agg_rd;

/* ---- cell state ------------------------------------------------------------------------------ */
typedef struct agg_count {
    const char *name; /* interned */
    uint64_t n;
} agg_count;

typedef struct agg_counts {
    agg_count *v;
    uint32_t n, cap;
} agg_counts;

typedef struct agg_evalst {
    const char *name; /* evaluator, interned */
    uint64_t count, errors, skipped, scored, judged, passed;
    int64_t score_sum; /* AGG_SCORE_SCALE */
    agg_counts labels;
} agg_evalst;

typedef struct agg_knum {
    const char *name;
    int64_t sum; /* AGG_SCORE_SCALE */
    ph_sketch *sk;
} agg_knum;

typedef struct agg_kbool {
    const char *name;
    uint64_t n, yes;
} agg_kbool;

typedef struct agg_state {
    uint64_t requests, errors, latency_n;
    int64_t latency_sum;                 /* AGG_LATENCY_SCALE */
    ph_sketch *latency;                  /* NULL until the first latency */
    int64_t tokens_in, tokens_out, cost; /* cost in AGG_COST_SCALE */
    agg_counts warnings;
    uint64_t invalid;
    agg_counts reasons;
    agg_evalst *evals;
    uint32_t n_evals, cap_evals;
    uint64_t fb_count, fb_thumbs, fb_up, fb_scored;
    int64_t fb_score_sum;
    agg_counts fb_labels;
    agg_knum *knum;
    uint32_t n_knum, cap_knum;
    agg_kbool *kbool;
    uint32_t n_kbool, cap_kbool;
    ph_sketch *lag; /* seconds */
    int64_t judge_cost;
    uint64_t judge_tokens;
    uint64_t late_records;
} agg_state;

void agg_state_clear(agg_state *st); /* frees and zeroes; a zeroed state is empty */
int agg_state_count(agg_counts *m, agg_pool *pool, const char *name, uint64_t n);
agg_evalst *agg_state_eval(agg_state *st, const char *name);
/* Adds v to *sk (created at the defaults when NULL). pv (may be NULL): v's bucket, computed by
 * the first call of an event (pv->alpha 0 before) and reused by the next cells. */
int agg_state_sketch_add(ph_sketch **sk, ph_sketch_prepared *pv, double v);
agg_knum *agg_state_knum(agg_state *st, const char *name);
agg_kbool *agg_state_kbool(agg_state *st, const char *name);

/* Compact versioned encoding (docs/aggregator.md "Cell encoding"). encode appends to out. */
int agg_state_encode(const agg_state *st, agg_buf *out);
/* Adds the cell encoded in buf to dst (merge-by-decode: no intermediate state), leaving out the
 * AGG_FAM_* families in skip (read, not kept). PH_EINVAL on a corrupt or unknown blob (dst may
 * then be partly merged), PH_ENOMEM. */
int agg_state_merge_blob(agg_state *dst, const uint8_t *buf, size_t len, agg_pool *pool,
                         unsigned skip);

/* ---- metrics list: (name, value) pairs built from a state ---------------------------------- */
#define AGG_NAME_PARTS 6 /* strings concatenated into one metric name, at most */

/* Families of metrics whose part of a stored cell costs something to decode (a sketch, or names
 * to intern): a query that cannot select any of a family's metrics skips that part. */
enum {
    AGG_FAM_LATENCY = 1,    /* latency_* (the latency sketch) */
    AGG_FAM_WARNINGS = 2,   /* warnings.* */
    AGG_FAM_REASONS = 4,    /* invalid.<reason> */
    AGG_FAM_EVAL = 8,       /* eval.* */
    AGG_FAM_FB_LABELS = 16, /* feedback.label.* */
    AGG_FAM_KPI = 32,       /* kpi.* */
    AGG_FAM_LAG = 64,       /* lag_* (the lag sketch) */
};

/* A query's selection of metrics: names, or prefixes ending in '*' (borrowed). */
typedef struct agg_select {
    const char *const *patterns;
    size_t n;      /* 0: every metric */
    unsigned skip; /* AGG_FAM_* that no pattern can select */
} agg_select;

void agg_select_init(agg_select *sel, const char *const *patterns, size_t n);

typedef struct agg_metrics {
    /* what a build gives: the selected metrics, valid until the next build */
    size_t n;
    const char **names;
    double *values;
    /* every metric the build made; their names stay for the next build while they match */
    char *chars;
    size_t n_chars, cap_chars;
    size_t n_all, n_valid, cap;
    size_t *offs;
    const char *(*parts)[AGG_NAME_PARTS]; /* what each name was made of (NULL-terminated) */
    double *all;
    bool *want; /* selected by the query */
} agg_metrics;

void agg_metrics_free(agg_metrics *m);
/* Replaces m's selected metrics with those of st (sel NULL: all). A state merged with
 * sel->skip lacks those families: build it with the same sel. */
int agg_metrics_build(agg_metrics *m, const agg_state *st, const agg_select *sel);

/* ---- cells and the map of cells ----------------------------------------------------------------
 */
/* A cell's scope: one (app, environment, model) combination, all traffic, or a rollup of one
 * app (dimensions app, "", "") or one model ("", "", model) over the rest. The rollups exist so
 * that a query by app or by model merges one series instead of every combination; they are
 * kept like the others but never emitted (MetricWindows are combinations and all traffic). */
enum { AGG_SCOPE_COMBO = 0, AGG_SCOPE_ALL = 1, AGG_SCOPE_APP = 2, AGG_SCOPE_MODEL = 3 };
#define AGG_SCOPES 4
enum { AGG_DIRTY_STATE = 1, AGG_DIRTY_META = 2 };

typedef struct agg_key {
    int64_t start;
    const char *app, *env, *model; /* interned ("" = absent; NULL = not grouped, in queries) */
    uint8_t level, scope;
} agg_key;

typedef struct agg_cell {
    agg_key k;
    int64_t series; /* its (scope, app, environment, model) row in the series table; 0 unknown */
    int32_t revision, emitted, handed; /* handed: revision last given to next_emit, or -1 */
    uint8_t dirty;
    agg_state st;
} agg_cell;

typedef struct agg_cellmap {
    agg_cell **slots;
    size_t cap, n;
} agg_cellmap;

agg_cell *agg_cellmap_get(const agg_cellmap *map, const agg_key *k);
/* Creates an empty cell for k (which must be absent); NULL on ENOMEM. */
agg_cell *agg_cellmap_add(agg_cellmap *map, const agg_key *k);
/* Frees every cell for which drop(cell, arg) is true. */
void agg_cellmap_drop(agg_cellmap *map, bool (*drop)(const agg_cell *c, void *arg), void *arg);
void agg_cellmap_free(agg_cellmap *map);

/* ---- series: the ids of (scope, app, environment, model) in the store -------------------------
 * Cells are stored per (level, series id, window start), clustered so that one series' windows
 * over a range are one contiguous read (docs/aggregator.md "Store schema"). */
typedef struct agg_series {
    const char *app, *env, *model; /* interned */
    uint8_t scope;
    int64_t id; /* > 0 */
} agg_series;

typedef struct agg_seriesmap {
    agg_series *slots; /* open addressing; id 0 marks an empty slot */
    size_t cap, n;
} agg_seriesmap;

/* The id of k's series (level and start ignored), or 0 when not in the map. */
int64_t agg_seriesmap_get(const agg_seriesmap *m, const agg_key *k);
/* Adds k's series with id (absent from the map). PH_OK or PH_ENOMEM. */
int agg_seriesmap_put(agg_seriesmap *m, const agg_key *k, int64_t id);
void agg_seriesmap_free(agg_seriesmap *m);

/* ---- dedup keys: 128-bit hashes with the event time's minute ----------------------------------
 */
typedef struct agg_dkey {
    uint64_t lo, hi;
    int32_t t_min;
} agg_dkey;

typedef struct agg_dedup {
    agg_dkey *slots; /* open addressing; lo == 0 && hi == 0 marks an empty slot */
    size_t cap, n;
    agg_dkey *pending; /* inserted since the last commit */
    size_t n_pending, cap_pending;
} agg_dedup;

/* XXH3-128 of the parts joined by \x1f, with the kind as prefix ("log:", "eval:"...). */
void agg_dedup_hash(agg_dkey *k, const char *prefix, const char *const *parts, size_t n,
                    int64_t t_ms);
bool agg_dedup_has(const agg_dedup *d, const agg_dkey *k);
/* Adds k to the set and to the pending list. PH_OK or PH_ENOMEM. */
int agg_dedup_put(agg_dedup *d, const agg_dkey *k, bool pending);
/* Drops the keys of minutes before t_min from memory (not the pending ones: they are written
 * by the commit that calls this first). */
int agg_dedup_prune(agg_dedup *d, int32_t t_min);
void agg_dedup_free(agg_dedup *d);

/* ---- SQLite -------------------------------------------------------------------------------------
 */
/* Opens db (creating and migrating when writable), WAL, busy timeout. */
int agg_db_open(sqlite3 **out, const char *path, bool writer, bool sync_full, char *errstr,
                size_t errstr_size);
int agg_meta_get(sqlite3 *db, const char *key, int64_t *value);
/* Part of the migration to schema 3 (inside its transaction; agg_migrate.c): adds the app and
 * model rollup cells of every window, merged from the stored combinations. */
int agg_build_rollups(sqlite3 *db, char *errstr, size_t errstr_size);

int64_t agg_level_size(int64_t window_ms, int level);
const char *agg_granularity(int64_t window_ms, int level, char *buf, size_t size);

/* ---- the aggregator object (agg.c: store and commit; agg_add.c: events, advance, emit) ------ */
typedef struct agg_kpi {
    const char *name, *key; /* interned */
    ph_agg_kpi_type type;
} agg_kpi;

struct ph_agg {
    int64_t window_ms, lateness_ms, dedup_ms;
    int64_t size[PH_AGG_LEVELS], retention[PH_AGG_LEVELS];
    agg_kpi *kpis;
    size_t n_kpis;
    double *kpi_vals; /* per event: each KPI's value (NaN absent); scratch, like the next */
    const char **scratch;
    size_t scratch_cap;
    agg_pool *pool;
    const char *empty; /* interned "" */
    agg_cellmap cells;
    agg_seriesmap series; /* those known to be in the store (committed or in this commit) */
    agg_dedup dedup;
    int32_t dedup_mem_from; /* every key of minute >= this is in memory */
    /* Older minutes whose stored keys were loaded into memory since the last prune (a late
     * event loads its minute once, then its duplicates are found in memory). */
    int32_t *loaded_min;
    size_t n_loaded_min, cap_loaded_min;
    agg_buf keybuf;       /* one minute's keys, as written by a commit */
    int64_t max_event_ms; /* INT64_MIN before the first event */
    int64_t watermark_ms; /* INT64_MIN before the first advance with an event */
    ph_agg_stats stats;
    /* emit queue (keys, looked up again on each next_emit so commits may free cells) */
    agg_key *queue;
    size_t n_queue, cap_queue, pos_queue;
    agg_metrics metrics;
    char granularity[16];
    agg_buf enc;
    sqlite3 *db;
    sqlite3_stmt *begin, *commit, *rollback, *put_cell, *put_rev, *get_cell, *put_key, *get_key,
        *put_offset, *get_offsets, *put_meta, *del_cells, *del_keys, *get_series, *put_series;
};

/* Ends of a cell's window and whether the watermark has passed it. */
static inline bool agg_closed(const ph_agg *agg, const agg_key *k)
{
    return agg->watermark_ms != INT64_MIN && k->start + agg->size[k->level] <= agg->watermark_ms;
}

/* The cell for k: from memory, else from SQLite when its window is closed (it may have been
 * evicted), else a new one. NULL with *rc set on failure. */
agg_cell *agg_cell_get(ph_agg *agg, const agg_key *k, int *rc);
/* Loads the committed dedup keys of a minute older than the in-memory horizon into memory
 * (once per minute until the next prune): then agg_dedup_has answers for it. */
int agg_keys_load_minute(ph_agg *agg, int32_t t_min);

#endif
