/* Queries for the dashboard API, on a connection of their own (the HTTP thread's).
 *
 * A query reads the coarsest level whose window divides the step (a 7-day range at step 1h
 * reads hour cells, not minute cells) and merges cells per (group, point) by decoding each
 * stored cell straight into the point's accumulator: sketches merge exactly, so percentiles of
 * a merged point equal those of all its events added to one sketch. Without filters nor
 * group-by it reads the all-traffic cells (one per window) instead of every combination.
 * Each call runs in one read transaction, so it sees one committed state. */
#include "agg_int.h"

#include "ph_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_POINTS 1000000

struct ph_agg_reader {
    sqlite3 *db;
    sqlite3_stmt *scan[8], *dims[3], *begin, *end; /* scan[mask of the filters given] */
    int64_t window_ms;
    agg_pool *pool;
    agg_cellmap acc;
    agg_metrics metrics;
    const char **lists[3];
    size_t n_lists[3];
};

int ph_agg_reader_new(ph_agg_reader **out, const char *db_path, char *errstr, size_t errstr_size)
{
    static const char *const dims_sql[3] = {
        "SELECT DISTINCT app FROM cells WHERE level = 2 AND scope = 0 AND start_ms >= ?1 AND"
        " start_ms < ?2 ORDER BY 1",
        "SELECT DISTINCT environment FROM cells WHERE level = 2 AND scope = 0 AND start_ms >= ?1"
        " AND start_ms < ?2 ORDER BY 1",
        "SELECT DISTINCT model FROM cells WHERE level = 2 AND scope = 0 AND start_ms >= ?1 AND"
        " start_ms < ?2 ORDER BY 1",
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
    /* One statement per combination of filters: "?5 IS NULL OR app = ?5" would keep SQLite
     * from using the app and model indexes. */
    for (int mask = 0; mask < 8; mask++) {
        char sql[512];
        snprintf(sql, sizeof(sql),
                 "SELECT start_ms, app, environment, model, state FROM cells"
                 " WHERE level = ?1 AND scope = ?2 AND start_ms >= ?3 AND start_ms < ?4%s%s%s",
                 mask & 1 ? " AND app = ?5" : "", mask & 2 ? " AND environment = ?6" : "",
                 mask & 4 ? " AND model = ?7" : "");
        if (sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &r->scan[mask], NULL) !=
            SQLITE_OK) {
            ph_err(errstr, errstr_size, rc, "agg reader: %s", sqlite3_errmsg(r->db));
            goto out;
        }
    }
    if (sqlite3_prepare_v2(r->db, "BEGIN", -1, &r->begin, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->db, "COMMIT", -1, &r->end, NULL) != SQLITE_OK) {
        ph_err(errstr, errstr_size, rc, "agg reader: %s", sqlite3_errmsg(r->db));
        goto out;
    }
    for (int i = 0; i < 3; i++) {
        if (sqlite3_prepare_v3(r->db, dims_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &r->dims[i],
                               NULL) != SQLITE_OK) {
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
    for (int i = 0; i < 8; i++)
        sqlite3_finalize(r->scan[i]);
    for (int i = 0; i < 3; i++) {
        sqlite3_finalize(r->dims[i]);
        free((void *)r->lists[i]);
    }
    sqlite3_finalize(r->begin);
    sqlite3_finalize(r->end);
    sqlite3_close(r->db);
    agg_cellmap_free(&r->acc);
    agg_metrics_free(&r->metrics);
    agg_pool_destroy(r->pool);
    free(r);
}

/* Merges the cells of one level over [from, to) into the accumulators, one per (group,
 * floor(start / step) * step). */
static int scan(ph_agg_reader *r, int level, int64_t from, int64_t to, const ph_agg_filter *f,
                unsigned group_by, int64_t step)
{
    bool all = !f->app && !f->environment && !f->model && !group_by;
    sqlite3_stmt *st = r->scan[(f->app ? 1 : 0) | (f->environment ? 2 : 0) | (f->model ? 4 : 0)];
    sqlite3_bind_int(st, 1, level);
    sqlite3_bind_int(st, 2, all ? AGG_SCOPE_ALL : AGG_SCOPE_COMBO);
    sqlite3_bind_int64(st, 3, from);
    sqlite3_bind_int64(st, 4, to);
    if (f->app)
        sqlite3_bind_text(st, 5, f->app, -1, SQLITE_STATIC);
    if (f->environment)
        sqlite3_bind_text(st, 6, f->environment, -1, SQLITE_STATIC);
    if (f->model)
        sqlite3_bind_text(st, 7, f->model, -1, SQLITE_STATIC);
    int rc = PH_OK, s;
    while (rc == PH_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t start = sqlite3_column_int64(st, 0);
        agg_key k = {.start = agg_floor_div(start, step) * step};
        if (group_by & PH_AGG_BY_APP)
            k.app = agg_intern_z(r->pool, (const char *)sqlite3_column_text(st, 1));
        if (group_by & PH_AGG_BY_ENVIRONMENT)
            k.env = agg_intern_z(r->pool, (const char *)sqlite3_column_text(st, 2));
        if (group_by & PH_AGG_BY_MODEL)
            k.model = agg_intern_z(r->pool, (const char *)sqlite3_column_text(st, 3));
        if (((group_by & PH_AGG_BY_APP) && !k.app) ||
            ((group_by & PH_AGG_BY_ENVIRONMENT) && !k.env) ||
            ((group_by & PH_AGG_BY_MODEL) && !k.model)) {
            rc = PH_ENOMEM;
            break;
        }
        agg_cell *c = agg_cellmap_get(&r->acc, &k);
        if (!c && !(c = agg_cellmap_add(&r->acc, &k))) {
            rc = PH_ENOMEM;
            break;
        }
        rc = agg_state_merge_blob(&c->st, sqlite3_column_blob(st, 4),
                                  (size_t)sqlite3_column_bytes(st, 4), r->pool);
    }
    if (rc == PH_OK && s != SQLITE_DONE)
        rc = PH_EIO;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
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
    return PH_OK;
}

static void end_read(ph_agg_reader *r)
{
    sqlite3_step(r->end);
    sqlite3_reset(r->end);
    agg_cellmap_free(&r->acc);
}

int ph_agg_query(ph_agg_reader *r, int64_t from_ms, int64_t to_ms, int64_t step_ms,
                 const ph_agg_filter *filter, unsigned group_by,
                 int (*fn)(void *arg, const ph_agg_point *pt), void *arg, char *errstr,
                 size_t errstr_size)
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
    agg_cell **cells = NULL;
    if ((rc = scan(r, level, first, last, f, group_by, step_ms)) != PH_OK) {
        ph_err(errstr, errstr_size, rc, "agg query: %s",
               rc == PH_EIO ? sqlite3_errmsg(r->db) : ph_strerror(rc));
        goto out;
    }
    if (!(cells = malloc((r->acc.n ? r->acc.n : 1) * sizeof(*cells)))) {
        rc = PH_ENOMEM;
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < r->acc.cap; i++)
        if (r->acc.slots[i])
            cells[n++] = r->acc.slots[i];
    qsort(cells, n, sizeof(*cells), cell_cmp);
    for (size_t i = 0; i < n && rc == PH_OK; i++) {
        const agg_key *k = &cells[i]->k;
        if ((rc = agg_metrics_build(&r->metrics, &cells[i]->st)) != PH_OK)
            break;
        ph_agg_point pt = {group_by, shown(k->app), shown(k->env),    shown(k->model),  k->start,
                           step_ms,  r->metrics.n,  r->metrics.names, r->metrics.values};
        rc = fn(arg, &pt);
    }
out:
    free(cells);
    end_read(r);
    return rc;
}

/* The distinct values of one dimension over the range, at the day level. */
static int list_dim(ph_agg_reader *r, int i, int64_t from, int64_t to)
{
    sqlite3_stmt *st = r->dims[i];
    sqlite3_bind_int64(st, 1, agg_floor_div(from, AGG_DAY_MS) * AGG_DAY_MS);
    sqlite3_bind_int64(st, 2, to);
    int rc = PH_OK, s;
    size_t cap = 0;
    r->n_lists[i] = 0;
    while (rc == PH_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *v = agg_intern_z(r->pool, (const char *)sqlite3_column_text(st, 0));
        if (!v) {
            rc = PH_ENOMEM;
            break;
        }
        if (r->n_lists[i] == cap) {
            cap = cap ? cap * 2 : 16;
            const char **p = realloc((void *)r->lists[i], cap * sizeof(*p));
            if (!p) {
                rc = PH_ENOMEM;
                break;
            }
            r->lists[i] = p;
        }
        r->lists[i][r->n_lists[i]++] = v;
    }
    if (rc == PH_OK && s != SQLITE_DONE)
        rc = PH_EIO;
    sqlite3_reset(st);
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
    rc = scan_cover(r, a, b, f);
    for (int i = 0; i < 3 && rc == PH_OK; i++)
        rc = list_dim(r, i, a, b);
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
    if ((rc = agg_metrics_build(&r->metrics, st)) != PH_OK)
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
