/* Queries for the dashboard API, on a connection of their own (the HTTP thread's).
 *
 * A query reads the coarsest level whose window divides the step (a 7-day range at step 1h
 * reads hour cells, not minute cells). It picks the series (scope, app, environment, model)
 * that match the filters from the series table, which the reader keeps in memory (a query by
 * app or by model reads that app's or model's rollup series, see agg_int.h), reads each one's
 * windows over the range as one clustered range of the cells table, and merges them per
 * (group, point) by decoding each stored cell straight into the point's accumulator: sketches
 * merge exactly, so percentiles of a merged point equal those of all its events added to one
 * sketch. Without filters nor group-by it reads the all-traffic series (one cell per window)
 * instead of every combination. Each call runs in one read transaction, so it sees one
 * committed state. */
#include "agg_int.h"

#include "ph_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_POINTS 1000000

struct ph_agg_reader {
    sqlite3 *db;
    sqlite3_stmt *range, *new_series, *day_series, *begin, *end;
    int64_t window_ms;
    agg_pool *pool;
    agg_series *series; /* every series of the store, by ascending id */
    size_t n_series, cap_series;
    agg_cellmap acc;
    agg_metrics metrics;
    agg_select sel; /* the current call's selection of metrics */
    const char **lists[3];
    size_t n_lists[3];
};

int ph_agg_reader_new(ph_agg_reader **out, const char *db_path, char *errstr, size_t errstr_size)
{
    static const struct {
        size_t off;
        const char *sql;
    } stmts[] = {
        {offsetof(ph_agg_reader, range), "SELECT start_ms, state FROM cells WHERE level = ?1 AND"
                                         " series = ?2 AND start_ms >= ?3 AND start_ms < ?4"},
        {offsetof(ph_agg_reader, new_series),
         "SELECT id, scope, app, environment, model FROM series WHERE id > ?1 ORDER BY id"},
        {offsetof(ph_agg_reader, day_series),
         "SELECT DISTINCT series FROM cells WHERE level = 2 AND start_ms >= ?1 AND start_ms < ?2"},
        {offsetof(ph_agg_reader, begin), "BEGIN"},
        {offsetof(ph_agg_reader, end), "COMMIT"},
    };
    int rc = PH_ENOMEM;
    ph_agg_reader *r = calloc(1, sizeof(*r));
    if (!r || agg_pool_new(&r->pool) != PH_OK) {
        ph_err(errstr, errstr_size, rc, "agg reader: out of memory");
        goto out;
    }
    if ((rc = agg_db_open(&r->db, db_path, false, false, errstr, errstr_size)) != PH_OK)
        goto out;
    rc = agg_meta_get(r->db, "window_ms", &r->window_ms);
    if (rc != PH_OK) {
        ph_err(errstr, errstr_size, PH_ENOENT, "agg reader: %s is not an aggregator store",
               db_path);
        rc = PH_ENOENT;
        goto out;
    }
    rc = PH_EIO;
    /* Queries read many cells: through a memory map they are read in place, instead of being
     * copied out of the kernel's page cache page by page (measured: the largest cost of a long
     * query). 1 GiB of address space, not of memory. */
    if (sqlite3_exec(r->db, "PRAGMA mmap_size = 1073741824", NULL, NULL, NULL) != SQLITE_OK) {
        ph_err(errstr, errstr_size, rc, "agg reader: %s", sqlite3_errmsg(r->db));
        goto out;
    }
    for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
        sqlite3_stmt **st = (sqlite3_stmt **)((char *)r + stmts[i].off);
        if (sqlite3_prepare_v3(r->db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) !=
            SQLITE_OK) {
            ph_err(errstr, errstr_size, rc, "agg reader: %s", sqlite3_errmsg(r->db));
            goto out;
        }
    }
    *out = r;
    r = NULL;
    rc = PH_OK;
out:
    ph_agg_reader_destroy(r);
    return rc;
}

void ph_agg_reader_destroy(ph_agg_reader *r)
{
    if (!r)
        return;
    sqlite3_stmt *stmts[] = {r->range, r->new_series, r->day_series, r->begin, r->end};
    for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++)
        sqlite3_finalize(stmts[i]);
    for (int i = 0; i < 3; i++)
        free((void *)r->lists[i]);
    sqlite3_close(r->db);
    free(r->series);
    agg_cellmap_free(&r->acc);
    agg_metrics_free(&r->metrics);
    agg_pool_destroy(r->pool);
    free(r);
}

/* Appends the series the writer added since the last call (series are never changed nor
 * removed, so the ids already known stay valid). */
static int load_series(ph_agg_reader *r)
{
    sqlite3_stmt *st = r->new_series;
    sqlite3_bind_int64(st, 1, r->n_series ? r->series[r->n_series - 1].id : 0);
    int rc = PH_OK, s;
    while (rc == PH_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        if (r->n_series == r->cap_series) {
            size_t cap = r->cap_series ? r->cap_series * 2 : 256;
            agg_series *grown = realloc(r->series, cap * sizeof(*grown));
            if (!grown) {
                rc = PH_ENOMEM;
                break;
            }
            r->series = grown;
            r->cap_series = cap;
        }
        agg_series *x = &r->series[r->n_series];
        x->id = sqlite3_column_int64(st, 0);
        x->scope = (uint8_t)sqlite3_column_int(st, 1);
        x->app = agg_intern_z(r->pool, (const char *)sqlite3_column_text(st, 2));
        x->env = agg_intern_z(r->pool, (const char *)sqlite3_column_text(st, 3));
        x->model = agg_intern_z(r->pool, (const char *)sqlite3_column_text(st, 4));
        if (!x->app || !x->env || !x->model)
            rc = PH_ENOMEM;
        else
            r->n_series++;
    }
    if (rc == PH_OK && s != SQLITE_DONE)
        rc = PH_EIO;
    sqlite3_reset(st);
    return rc;
}

static const agg_series *series_by_id(const ph_agg_reader *r, int64_t id)
{
    size_t lo = 0, hi = r->n_series;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->series[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->n_series && r->series[lo].id == id ? &r->series[lo] : NULL;
}

static bool matches(const agg_series *x, int scope, const ph_agg_filter *f)
{
    return x->scope == scope && (!f->app || strcmp(f->app, x->app) == 0) &&
           (!f->environment || strcmp(f->environment, x->env) == 0) &&
           (!f->model || strcmp(f->model, x->model) == 0);
}

/* The statement reading x's cells of one level over [from, to), by ascending start. */
static sqlite3_stmt *range_of(ph_agg_reader *r, const agg_series *x, int level, int64_t from,
                              int64_t to)
{
    sqlite3_stmt *st = r->range;
    sqlite3_bind_int(st, 1, level);
    sqlite3_bind_int64(st, 2, x->id);
    sqlite3_bind_int64(st, 3, from);
    sqlite3_bind_int64(st, 4, to);
    return st;
}

/* The group x belongs to: its dimensions that are grouped by, NULL for the others. */
static agg_key group_of(const agg_series *x, unsigned group_by)
{
    agg_key k = {.start = INT64_MIN};
    k.app = group_by & PH_AGG_BY_APP ? x->app : NULL;
    k.env = group_by & PH_AGG_BY_ENVIRONMENT ? x->env : NULL;
    k.model = group_by & PH_AGG_BY_MODEL ? x->model : NULL;
    return k;
}

/* Merges one series' cells of one level over [from, to) into the accumulators, one per (group,
 * floor(start / step) * step). */
static int scan_series(ph_agg_reader *r, const agg_series *x, int level, int64_t from, int64_t to,
                       unsigned group_by, int64_t step)
{
    sqlite3_stmt *st = range_of(r, x, level, from, to);
    agg_key k = group_of(x, group_by);
    agg_cell *c = NULL;
    int rc = PH_OK, s;
    while (rc == PH_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t start = agg_floor_div(sqlite3_column_int64(st, 0), step) * step;
        /* rows come by ascending start: consecutive ones often share a point */
        if (!c || start != k.start) {
            k.start = start;
            c = agg_cellmap_get(&r->acc, &k);
            if (!c && !(c = agg_cellmap_add(&r->acc, &k))) {
                rc = PH_ENOMEM;
                break;
            }
        }
        rc = agg_state_merge_blob(&c->st, sqlite3_column_blob(st, 1),
                                  (size_t)sqlite3_column_bytes(st, 1), r->pool, r->sel.skip);
    }
    if (rc == PH_OK && s != SQLITE_DONE)
        rc = PH_EIO;
    sqlite3_reset(st);
    return rc;
}

/* The scope whose series answer a query with the fewest cells: all traffic without filter nor
 * group-by; the app (model) rollups when only the app (model) is filtered or grouped by; else
 * every combination. */
static int scope_for(const ph_agg_filter *f, unsigned group_by)
{
    if (!f->app && !f->environment && !f->model && !group_by)
        return AGG_SCOPE_ALL;
    if (!f->environment && !f->model && !(group_by & ~(unsigned)PH_AGG_BY_APP))
        return AGG_SCOPE_APP;
    if (!f->environment && !f->app && !(group_by & ~(unsigned)PH_AGG_BY_MODEL))
        return AGG_SCOPE_MODEL;
    return AGG_SCOPE_COMBO;
}

/* Merges the cells of every series of the query's scope that matches the filters. */
static int scan(ph_agg_reader *r, int level, int64_t from, int64_t to, const ph_agg_filter *f,
                unsigned group_by, int64_t step)
{
    int scope = scope_for(f, group_by);
    int rc = PH_OK;
    for (size_t i = 0; i < r->n_series && rc == PH_OK; i++)
        if (matches(&r->series[i], scope, f))
            rc = scan_series(r, &r->series[i], level, from, to, group_by, step);
    return rc;
}

static int strcmp_null(const char *a, const char *b)
{
    if (!a || !b)
        return a ? 1 : b ? -1 : 0;
    return strcmp(a, b);
}

static int cell_cmp(const void *a, const void *b)
{
    const agg_key *x = &(*(agg_cell *const *)a)->k, *y = &(*(agg_cell *const *)b)->k;
    int c = strcmp_null(x->app, y->app);
    if (!c)
        c = strcmp_null(x->env, y->env);
    if (!c)
        c = strcmp_null(x->model, y->model);
    return c ? c : x->start < y->start ? -1 : x->start > y->start;
}

/* Absent dimensions are stored as "" and shown as NULL. */
static const char *shown(const char *s)
{
    return s && *s ? s : NULL;
}

static int begin_read(ph_agg_reader *r, char *errstr, size_t errstr_size)
{
    int s = sqlite3_step(r->begin);
    sqlite3_reset(r->begin);
    if (s != SQLITE_DONE)
        return ph_err(errstr, errstr_size, PH_EIO, "agg query: %s", sqlite3_errmsg(r->db));
    int rc = load_series(r);
    if (rc != PH_OK) {
        ph_err(errstr, errstr_size, rc, "agg query: series: %s",
               rc == PH_EIO ? sqlite3_errmsg(r->db) : ph_strerror(rc));
        sqlite3_step(r->end);
        sqlite3_reset(r->end);
    }
    return rc;
}

static void end_read(ph_agg_reader *r)
{
    sqlite3_step(r->end);
    sqlite3_reset(r->end);
    agg_cellmap_free(&r->acc);
}

static int emit(ph_agg_reader *r, const agg_key *k, unsigned group_by, int64_t step,
                const agg_state *st, int (*fn)(void *arg, const ph_agg_point *pt), void *arg)
{
    int rc = agg_metrics_build(&r->metrics, st, &r->sel);
    if (rc != PH_OK)
        return rc;
    ph_agg_point pt = {.group_by = group_by,
                       .app = shown(k->app),
                       .environment = shown(k->env),
                       .model = shown(k->model),
                       .t_ms = k->start,
                       .step_ms = step,
                       .n_metrics = r->metrics.n,
                       .names = r->metrics.names,
                       .values = r->metrics.values};
    return fn(arg, &pt);
}

/* One series' points in time order, each merged and handed to fn as soon as it is complete:
 * no accumulator per point is kept (and allocated) for the whole query. */
static int stream_series(ph_agg_reader *r, const agg_series *x, int level, int64_t from, int64_t to,
                         unsigned group_by, int64_t step,
                         int (*fn)(void *arg, const ph_agg_point *pt), void *arg)
{
    sqlite3_stmt *st = range_of(r, x, level, from, to);
    agg_key k = group_of(x, group_by);
    agg_state acc = {0};
    int rc = PH_OK, s;
    while (rc == PH_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t start = agg_floor_div(sqlite3_column_int64(st, 0), step) * step;
        if (start != k.start && k.start != INT64_MIN) {
            rc = emit(r, &k, group_by, step, &acc, fn, arg);
            agg_state_clear(&acc);
            if (rc != PH_OK)
                break;
        }
        k.start = start;
        rc = agg_state_merge_blob(&acc, sqlite3_column_blob(st, 1),
                                  (size_t)sqlite3_column_bytes(st, 1), r->pool, r->sel.skip);
    }
    if (rc == PH_OK && s != SQLITE_DONE)
        rc = PH_EIO;
    if (rc == PH_OK && k.start != INT64_MIN)
        rc = emit(r, &k, group_by, step, &acc, fn, arg);
    agg_state_clear(&acc);
    sqlite3_reset(st);
    return rc;
}

typedef struct group_order {
    const agg_series *x;
    agg_key k; /* the group's dimensions, for sorting */
} group_order;

static int group_cmp(const void *a, const void *b)
{
    const agg_key *x = &((const group_order *)a)->k, *y = &((const group_order *)b)->k;
    int c = strcmp_null(shown(x->app), shown(y->app));
    if (!c)
        c = strcmp_null(shown(x->env), shown(y->env));
    return c ? c : strcmp_null(shown(x->model), shown(y->model));
}

static bool same_group(const group_order *a, const group_order *b)
{
    return a->k.app == b->k.app && a->k.env == b->k.env && a->k.model == b->k.model;
}

/* The series matching the query, sorted by group, in *out (malloc'ed, the caller frees it);
 * *single tells whether every group is exactly one series (always in the all-traffic and rollup
 * scopes; for combinations, when the data has one per group). */
static int plan(ph_agg_reader *r, int scope, const ph_agg_filter *f, unsigned group_by,
                group_order **out, size_t *n_out, bool *single)
{
    group_order *order = malloc((r->n_series ? r->n_series : 1) * sizeof(*order));
    if (!order)
        return PH_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < r->n_series; i++) {
        const agg_series *x = &r->series[i];
        if (!matches(x, scope, f))
            continue;
        order[n].x = x;
        order[n].k = group_of(x, group_by);
        n++;
    }
    if (n > 1)
        qsort(order, n, sizeof(*order), group_cmp);
    *single = true;
    for (size_t i = 1; i < n && *single; i++)
        *single = !same_group(&order[i - 1], &order[i]);
    *out = order;
    *n_out = n;
    return PH_OK;
}

int ph_agg_query(ph_agg_reader *r, int64_t from_ms, int64_t to_ms, int64_t step_ms,
                 const ph_agg_filter *filter, unsigned group_by, const char *const *metrics,
                 size_t n_metrics, int (*fn)(void *arg, const ph_agg_point *pt), void *arg,
                 char *errstr, size_t errstr_size)
{
    static const ph_agg_filter none = {0};
    const ph_agg_filter *f = filter ? filter : &none;
    if (step_ms <= 0 || step_ms % r->window_ms || from_ms >= to_ms || group_by > 7)
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "agg query: need from < to and a step that is a multiple of %lld ms",
                      (long long)r->window_ms);
    int64_t first = agg_floor_div(from_ms, step_ms) * step_ms;
    int64_t last = (agg_floor_div(to_ms - 1, step_ms) + 1) * step_ms;
    if ((last - first) / step_ms > MAX_POINTS)
        return ph_err(errstr, errstr_size, PH_ERANGE, "agg query: more than %d points", MAX_POINTS);
    int level = 0;
    for (int l = PH_AGG_LEVELS - 1; l > 0 && !level; l--)
        if (step_ms % agg_level_size(r->window_ms, l) == 0)
            level = l;
    int rc = begin_read(r, errstr, errstr_size);
    if (rc != PH_OK)
        return rc;
    agg_select_init(&r->sel, metrics, n_metrics);
    r->metrics.n_valid = 0; /* the names kept from the last query were selected by its selection */
    agg_cell **cells = NULL;
    group_order *order = NULL;
    size_t n_order = 0;
    bool single = false;
    if ((rc = plan(r, scope_for(f, group_by), f, group_by, &order, &n_order, &single)) != PH_OK) {
        ph_err(errstr, errstr_size, rc, "agg query: out of memory");
        goto out;
    }
    if (single) {
        /* each group is one series: its points stream in time order, no accumulator map */
        for (size_t i = 0; i < n_order && rc == PH_OK; i++)
            rc = stream_series(r, order[i].x, level, first, last, group_by, step_ms, fn, arg);
        if (rc == PH_EIO || rc == PH_EINVAL || rc == PH_ENOMEM)
            ph_err(errstr, errstr_size, rc, "agg query: %s",
                   rc == PH_EIO ? sqlite3_errmsg(r->db) : ph_strerror(rc));
        goto out;
    }
    if ((rc = scan(r, level, first, last, f, group_by, step_ms)) != PH_OK) {
        ph_err(errstr, errstr_size, rc, "agg query: %s",
               rc == PH_EIO ? sqlite3_errmsg(r->db) : ph_strerror(rc));
        goto out;
    }
    if (!(cells = malloc((r->acc.n ? r->acc.n : 1) * sizeof(*cells)))) {
        rc = ph_err(errstr, errstr_size, PH_ENOMEM, "agg query: out of memory");
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < r->acc.cap; i++)
        if (r->acc.slots[i])
            cells[n++] = r->acc.slots[i];
    qsort(cells, n, sizeof(*cells), cell_cmp);
    for (size_t i = 0; i < n && rc == PH_OK; i++)
        rc = emit(r, &cells[i]->k, group_by, step_ms, &cells[i]->st, fn, arg);
out:
    free(order);
    free(cells);
    end_read(r);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Adds v to list i unless it is the last one added (the caller removes the rest of the
 * duplicates by sorting). */
static int list_add(ph_agg_reader *r, int i, const char *v, size_t *cap)
{
    if (r->n_lists[i] == *cap) {
        size_t grown_cap = *cap ? *cap * 2 : 16;
        const char **p = realloc((void *)r->lists[i], grown_cap * sizeof(*p));
        if (!p)
            return PH_ENOMEM;
        r->lists[i] = p;
        *cap = grown_cap;
    }
    r->lists[i][r->n_lists[i]++] = v;
    return PH_OK;
}

/* The distinct apps, environments and models over the range, sorted, from the day cells. */
static int list_dims(ph_agg_reader *r, int64_t from, int64_t to)
{
    sqlite3_stmt *st = r->day_series;
    sqlite3_bind_int64(st, 1, agg_floor_div(from, AGG_DAY_MS) * AGG_DAY_MS);
    sqlite3_bind_int64(st, 2, to);
    int rc = PH_OK, s;
    size_t cap[3] = {0};
    for (int i = 0; i < 3; i++)
        r->n_lists[i] = 0;
    while (rc == PH_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        const agg_series *x = series_by_id(r, sqlite3_column_int64(st, 0));
        if (!x || x->scope != AGG_SCOPE_COMBO)
            continue;
        const char *v[3] = {x->app, x->env, x->model};
        for (int i = 0; i < 3 && rc == PH_OK; i++)
            rc = list_add(r, i, v[i], &cap[i]);
    }
    if (rc == PH_OK && s != SQLITE_DONE)
        rc = PH_EIO;
    sqlite3_reset(st);
    for (int i = 0; i < 3 && rc == PH_OK; i++) {
        size_t n = 0;
        if (r->n_lists[i])
            qsort((void *)r->lists[i], r->n_lists[i], sizeof(*r->lists[i]), cmp_str);
        for (size_t j = 0; j < r->n_lists[i]; j++) /* interned: equal strings, equal pointers */
            if (n == 0 || r->lists[i][n - 1] != r->lists[i][j])
                r->lists[i][n++] = r->lists[i][j];
        r->n_lists[i] = n;
    }
    return rc;
}

/* Covers [a, b) (multiples of the level-0 window) with the fewest cells: minutes up to the
 * first hour boundary, hours up to the first day boundary, days, then back down. */
static int scan_cover(ph_agg_reader *r, int64_t a, int64_t b, const ph_agg_filter *f)
{
    const int64_t H = AGG_HOUR_MS, D = AGG_DAY_MS, step = INT64_MAX / 4;
    int64_t h1 = (agg_floor_div(a - 1, H) + 1) * H, h2 = agg_floor_div(b, H) * H;
    if (h1 >= h2)
        return scan(r, 0, a, b, f, 0, step);
    int64_t d1 = (agg_floor_div(h1 - 1, D) + 1) * D, d2 = agg_floor_div(h2, D) * D;
    int rc = scan(r, 0, a, h1, f, 0, step);
    if (rc == PH_OK)
        rc = scan(r, 0, h2, b, f, 0, step);
    if (rc != PH_OK)
        return rc;
    if (d1 >= d2)
        return scan(r, 1, h1, h2, f, 0, step);
    rc = scan(r, 1, h1, d1, f, 0, step);
    if (rc == PH_OK)
        rc = scan(r, 2, d1, d2, f, 0, step);
    if (rc == PH_OK)
        rc = scan(r, 1, d2, h2, f, 0, step);
    return rc;
}

int ph_agg_summary(ph_agg_reader *r, int64_t from_ms, int64_t to_ms, const ph_agg_filter *filter,
                   int (*fn)(void *arg, const ph_agg_summary_result *res), void *arg, char *errstr,
                   size_t errstr_size)
{
    static const ph_agg_filter none = {0};
    const ph_agg_filter *f = filter ? filter : &none;
    if (from_ms >= to_ms)
        return ph_err(errstr, errstr_size, PH_EINVAL, "agg summary: need from < to");
    int64_t w = r->window_ms;
    int64_t a = agg_floor_div(from_ms, w) * w, b = (agg_floor_div(to_ms - 1, w) + 1) * w;
    int rc = begin_read(r, errstr, errstr_size);
    if (rc != PH_OK)
        return rc;
    agg_select_init(&r->sel, NULL, 0); /* a summary has every metric */
    r->metrics.n_valid = 0;
    rc = scan_cover(r, a, b, f);
    if (rc == PH_OK)
        rc = list_dims(r, a, b);
    if (rc != PH_OK) {
        ph_err(errstr, errstr_size, rc, "agg summary: %s",
               rc == PH_EIO ? sqlite3_errmsg(r->db) : ph_strerror(rc));
        goto out;
    }
    /* The whole range merged into one accumulator (or none when there is no data). */
    agg_state empty = {0};
    const agg_state *st = &empty;
    for (size_t i = 0; i < r->acc.cap; i++)
        if (r->acc.slots[i])
            st = &r->acc.slots[i]->st;
    if ((rc = agg_metrics_build(&r->metrics, st, &r->sel)) != PH_OK)
        goto out;
    ph_agg_summary_result res = {
        .from_ms = a,
        .to_ms = b,
        .n_metrics = r->metrics.n,
        .names = r->metrics.names,
        .values = r->metrics.values,
        .n_apps = r->n_lists[0],
        .n_environments = r->n_lists[1],
        .n_models = r->n_lists[2],
        .apps = r->lists[0],
        .environments = r->lists[1],
        .models = r->lists[2],
    };
    rc = fn(arg, &res);
out:
    end_read(r);
    return rc;
}
