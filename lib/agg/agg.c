/* The aggregator's store: opening (and loading what is hot), the one-transaction commit of
 * cells, dedup keys, offsets and watermark, retention, and the stored offsets.
 *
 * Why one transaction: the service consumes, adds and then commits the data together with the
 * offsets it consumed up to. After any crash (SIGKILL included) the store holds a state in
 * which exactly the events before the stored offsets are counted, and the service resumes from
 * those offsets: nothing is lost, nothing is counted twice. */
#include "agg_int.h"

#include "ph_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS (24LL * 3600 * 1000)

void ph_agg_config_default(ph_agg_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->window_ms = 60000;
    cfg->allowed_lateness_ms = 5 * 60000;
    cfg->retention_ms[0] = 7 * DAY_MS;
    cfg->retention_ms[1] = 90 * DAY_MS;
    cfg->retention_ms[2] = 730 * DAY_MS;
    cfg->dedup_retention_ms = 2 * DAY_MS;
    cfg->sync_full = true;
}

static int check_config(const ph_agg_config *cfg, char *errstr, size_t errstr_size)
{
    if (cfg->window_ms < 1000 || cfg->window_ms % 1000 || AGG_HOUR_MS % cfg->window_ms)
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "window_ms %lld: whole seconds dividing one hour", (long long)cfg->window_ms);
    if (cfg->allowed_lateness_ms < 0)
        return ph_err(errstr, errstr_size, PH_EINVAL, "allowed_lateness_ms must be >= 0");
    if (cfg->dedup_retention_ms < cfg->allowed_lateness_ms)
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "dedup_retention_ms must be >= allowed_lateness_ms");
    for (int l = 0; l < PH_AGG_LEVELS; l++)
        if (cfg->retention_ms[l] < cfg->dedup_retention_ms)
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "retention of level %d must be >= dedup_retention_ms (events "
                          "accepted must find their cells)",
                          l);
    for (size_t i = 0; i < cfg->n_kpis; i++) {
        const ph_agg_kpi *k = &cfg->kpis[i];
        if (!k->name || !*k->name || !k->key || !*k->key ||
            (k->type != PH_AGG_KPI_NUMBER && k->type != PH_AGG_KPI_BOOL))
            return ph_err(errstr, errstr_size, PH_EINVAL, "KPI %zu: name, key and type needed", i);
        if (strspn(k->name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") !=
            strlen(k->name))
            return ph_err(errstr, errstr_size, PH_EINVAL, "KPI name '%s': [A-Za-z0-9_.-] only",
                          k->name);
    }
    return PH_OK;
}

static int prepare(ph_agg *agg, char *errstr, size_t errstr_size)
{
    static const struct {
        size_t off;
        const char *sql;
    } stmts[] = {
        {offsetof(ph_agg, begin), "BEGIN IMMEDIATE"},
        {offsetof(ph_agg, commit), "COMMIT"},
        {offsetof(ph_agg, rollback), "ROLLBACK"},
        {offsetof(ph_agg, put_cell),
         "INSERT INTO cells(level, series, start_ms, revision, emitted_revision, state)"
         " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(level, series, start_ms) DO UPDATE SET"
         " revision = excluded.revision, emitted_revision = excluded.emitted_revision,"
         " state = excluded.state"},
        {offsetof(ph_agg, put_rev),
         "UPDATE cells SET revision = ?4, emitted_revision = ?5 WHERE level = ?1 AND series = ?2"
         " AND start_ms = ?3"},
        {offsetof(ph_agg, get_cell),
         "SELECT revision, emitted_revision, state FROM cells WHERE level = ?1 AND series = ?2"
         " AND start_ms = ?3"},
        {offsetof(ph_agg, get_series),
         "SELECT id FROM series WHERE scope = ?1 AND app = ?2 AND environment = ?3 AND model = ?4"},
        {offsetof(ph_agg, put_series),
         "INSERT INTO series(scope, app, environment, model) VALUES (?1, ?2, ?3, ?4)"},
        {offsetof(ph_agg, put_key),
         "INSERT INTO dedup(t_min, seq, keys) VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM "
         "dedup WHERE t_min = ?1), ?2)"},
        {offsetof(ph_agg, get_key), "SELECT keys FROM dedup WHERE t_min = ?1"},
        {offsetof(ph_agg, put_offset),
         "INSERT INTO offsets(topic, partition, next_offset) VALUES (?1, ?2, ?3)"
         " ON CONFLICT(topic, partition) DO UPDATE SET next_offset = excluded.next_offset"},
        {offsetof(ph_agg, get_offsets),
         "SELECT partition, next_offset FROM offsets WHERE topic = ?1 ORDER BY partition"},
        {offsetof(ph_agg, put_meta), "INSERT INTO meta(key, value) VALUES (?1, ?2)"
                                     " ON CONFLICT(key) DO UPDATE SET value = excluded.value"},
        {offsetof(ph_agg, del_cells), "DELETE FROM cells WHERE level = ?1 AND start_ms <= ?2"},
        {offsetof(ph_agg, del_keys), "DELETE FROM dedup WHERE t_min < ?1"},
    };
    for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
        sqlite3_stmt **st = (sqlite3_stmt **)((char *)agg + stmts[i].off);
        if (sqlite3_prepare_v3(agg->db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) !=
            SQLITE_OK)
            return ph_err(errstr, errstr_size, PH_EIO, "agg store: %s: %s", stmts[i].sql,
                          sqlite3_errmsg(agg->db));
    }
    return PH_OK;
}

static void done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static void bind_cell(sqlite3_stmt *st, const agg_key *k, int64_t series)
{
    sqlite3_bind_int(st, 1, k->level);
    sqlite3_bind_int64(st, 2, series);
    sqlite3_bind_int64(st, 3, k->start);
}

/* Finds the id of k's series (in memory, else in the store) and, with create, adds the series
 * to the store when it is new (inside the commit's transaction: a rollback forgets the map, see
 * ph_agg_commit). *id is 0 when absent and not created. */
static int series_id(ph_agg *agg, const agg_key *k, bool create, int64_t *id)
{
    if ((*id = agg_seriesmap_get(&agg->series, k)))
        return PH_OK;
    sqlite3_stmt *st = agg->get_series;
    sqlite3_bind_int(st, 1, k->scope);
    sqlite3_bind_text(st, 2, k->app, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, k->env, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, k->model, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    done(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        return PH_EIO;
    if (!*id && create) {
        st = agg->put_series;
        sqlite3_bind_int(st, 1, k->scope);
        sqlite3_bind_text(st, 2, k->app, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, k->env, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, k->model, -1, SQLITE_STATIC);
        s = sqlite3_step(st);
        done(st);
        if (s != SQLITE_DONE)
            return PH_EIO;
        *id = sqlite3_last_insert_rowid(agg->db);
    }
    if (*id && agg_seriesmap_put(&agg->series, k, *id) != PH_OK)
        return PH_ENOMEM;
    return PH_OK;
}

static void key_bytes(const agg_dkey *k, uint8_t out[16])
{
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(k->lo >> (8 * i));
        out[8 + i] = (uint8_t)(k->hi >> (8 * i));
    }
}

/* Fills c from a row (revision, emitted_revision, state at columns col..col+2). */
static int cell_from_row(ph_agg *agg, agg_cell *c, sqlite3_stmt *st, int col)
{
    c->revision = sqlite3_column_int(st, col);
    c->emitted = sqlite3_column_int(st, col + 1);
    const void *blob = sqlite3_column_blob(st, col + 2);
    int len = sqlite3_column_bytes(st, col + 2);
    return agg_state_merge_blob(&c->st, blob, (size_t)len, agg->pool, 0);
}

agg_cell *agg_cell_get(ph_agg *agg, const agg_key *k, int *rc)
{
    agg_cell *c = agg_cellmap_get(&agg->cells, k);
    if (c)
        return c;
    /* Open cells are always in memory (loaded at start, never evicted): only a closed window
     * may have a stored cell that is not. */
    int64_t series = 0;
    bool stored = false;
    if (agg_closed(agg, k)) {
        if ((*rc = series_id(agg, k, false, &series)) != PH_OK)
            return NULL;
        if (series) {
            bind_cell(agg->get_cell, k, series);
            int s = sqlite3_step(agg->get_cell);
            if (s != SQLITE_ROW && s != SQLITE_DONE) {
                done(agg->get_cell);
                *rc = PH_EIO;
                return NULL;
            }
            stored = s == SQLITE_ROW;
            if (!stored)
                done(agg->get_cell);
        }
    }
    c = agg_cellmap_add(&agg->cells, k);
    *rc = c ? PH_OK : PH_ENOMEM;
    if (c) {
        c->series = series;
        if (stored)
            *rc = cell_from_row(agg, c, agg->get_cell, 0);
    }
    if (stored)
        done(agg->get_cell);
    return *rc == PH_OK ? c : NULL;
}

static agg_dkey key_from_bytes(const uint8_t *b, int32_t t_min)
{
    agg_dkey k = {0, 0, t_min};
    for (int i = 0; i < 8; i++) {
        k.lo |= (uint64_t)b[i] << (8 * i);
        k.hi |= (uint64_t)b[8 + i] << (8 * i);
    }
    return k;
}

/* Puts every key of a packed row (16 bytes each) into the in-memory set. */
static int put_packed(ph_agg *agg, int32_t t_min, const uint8_t *b, int len)
{
    int rc = PH_OK;
    for (int i = 0; rc == PH_OK && i + 16 <= len; i += 16) {
        agg_dkey k = key_from_bytes(b + i, t_min);
        if (!agg_dedup_has(&agg->dedup, &k))
            rc = agg_dedup_put(&agg->dedup, &k, false);
    }
    return rc;
}

int agg_keys_load_minute(ph_agg *agg, int32_t t_min)
{
    for (size_t i = 0; i < agg->n_loaded_min; i++)
        if (agg->loaded_min[i] == t_min)
            return PH_OK;
    if (agg->n_loaded_min == agg->cap_loaded_min) {
        size_t cap = agg->cap_loaded_min ? 2 * agg->cap_loaded_min : 16;
        int32_t *grown = realloc(agg->loaded_min, cap * sizeof(*grown));
        if (!grown)
            return PH_ENOMEM;
        agg->loaded_min = grown;
        agg->cap_loaded_min = cap;
    }
    int rc = PH_OK, s;
    sqlite3_bind_int(agg->get_key, 1, t_min);
    while (rc == PH_OK && (s = sqlite3_step(agg->get_key)) == SQLITE_ROW)
        rc = put_packed(agg, t_min, sqlite3_column_blob(agg->get_key, 0),
                        sqlite3_column_bytes(agg->get_key, 0));
    if (rc == PH_OK && s != SQLITE_DONE)
        rc = PH_EIO;
    done(agg->get_key);
    if (rc == PH_OK)
        agg->loaded_min[agg->n_loaded_min++] = t_min;
    return rc;
}

/* Loads the rows of st as cells (skipping those already loaded by an earlier query). */
static int load_cells(ph_agg *agg, sqlite3_stmt *st, int level)
{
    int rc = PH_OK, s;
    while (rc == PH_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        int col = 0;
        agg_key k = {0};
        k.level = (uint8_t)(level >= 0 ? level : sqlite3_column_int(st, col++));
        k.scope = (uint8_t)sqlite3_column_int(st, col++);
        k.start = sqlite3_column_int64(st, col++);
        k.app = agg_intern_z(agg->pool, (const char *)sqlite3_column_text(st, col++));
        k.env = agg_intern_z(agg->pool, (const char *)sqlite3_column_text(st, col++));
        k.model = agg_intern_z(agg->pool, (const char *)sqlite3_column_text(st, col++));
        if (!k.app || !k.env || !k.model)
            return PH_ENOMEM;
        if (k.level >= PH_AGG_LEVELS || agg_cellmap_get(&agg->cells, &k))
            continue;
        agg_cell *c = agg_cellmap_add(&agg->cells, &k);
        rc = c ? cell_from_row(agg, c, st, col) : PH_ENOMEM;
        if (rc == PH_OK) {
            c->series = sqlite3_column_int64(st, col + 3);
            if (!agg_seriesmap_get(&agg->series, &k))
                rc = agg_seriesmap_put(&agg->series, &k, c->series);
        }
    }
    if (rc == PH_OK && s != SQLITE_DONE)
        rc = PH_EIO;
    return rc;
}

static int load(ph_agg *agg, char *errstr, size_t errstr_size)
{
    sqlite3_stmt *st = NULL;
    int rc = PH_OK;
    int64_t v;
    if (agg_meta_get(agg->db, "max_event_ms", &v) == PH_OK)
        agg->max_event_ms = v;
    if (agg_meta_get(agg->db, "watermark_ms", &v) == PH_OK)
        agg->watermark_ms = v;
    /* Open windows, per level, then closed ones still waiting to be emitted. */
    for (int l = 0; l < PH_AGG_LEVELS && rc == PH_OK; l++) {
        rc = PH_EIO;
        if (sqlite3_prepare_v2(agg->db,
                               "SELECT s.scope, c.start_ms, s.app, s.environment, s.model,"
                               " c.revision, c.emitted_revision, c.state, c.series FROM cells c"
                               " JOIN series s ON s.id = c.series WHERE c.level = ?1 AND"
                               " c.start_ms > ?2",
                               -1, &st, NULL) != SQLITE_OK)
            goto out;
        sqlite3_bind_int(st, 1, l);
        sqlite3_bind_int64(
            st, 2, agg->watermark_ms == INT64_MIN ? INT64_MIN : agg->watermark_ms - agg->size[l]);
        rc = load_cells(agg, st, l);
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc != PH_OK)
        goto out;
    rc = PH_EIO;
    if (sqlite3_prepare_v2(agg->db,
                           "SELECT c.level, s.scope, c.start_ms, s.app, s.environment, s.model,"
                           " c.revision, c.emitted_revision, c.state, c.series FROM cells c"
                           " JOIN series s ON s.id = c.series"
                           " WHERE c.emitted_revision < c.revision",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    if ((rc = load_cells(agg, st, -1)) != PH_OK)
        goto out;
    sqlite3_finalize(st);
    st = NULL;
    /* Dedup keys of the in-memory horizon. */
    agg->dedup_mem_from = INT32_MIN;
    if (agg->watermark_ms != INT64_MIN)
        agg->dedup_mem_from = (int32_t)agg_floor_div(agg->watermark_ms - agg->lateness_ms, 60000);
    rc = PH_EIO;
    if (sqlite3_prepare_v2(agg->db, "SELECT t_min, keys FROM dedup WHERE t_min >= ?1", -1, &st,
                           NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int(st, 1, agg->dedup_mem_from);
    int s;
    rc = PH_OK;
    while (rc == PH_OK && (s = sqlite3_step(st)) == SQLITE_ROW)
        rc = put_packed(agg, sqlite3_column_int(st, 0), sqlite3_column_blob(st, 1),
                        sqlite3_column_bytes(st, 1));
    if (rc == PH_OK && s != SQLITE_DONE)
        rc = PH_EIO;
out:
    if (rc == PH_EIO)
        ph_err(errstr, errstr_size, rc, "agg store: loading: %s", sqlite3_errmsg(agg->db));
    else if (rc != PH_OK)
        ph_err(errstr, errstr_size, rc, "agg store: loading: %s", ph_strerror(rc));
    sqlite3_finalize(st);
    return rc;
}

/* Records window_ms in a new store, or checks it against an existing one: cells of another
 * window size would be misread. */
static int check_window(ph_agg *agg, char *errstr, size_t errstr_size)
{
    int64_t stored;
    int rc = agg_meta_get(agg->db, "window_ms", &stored);
    if (rc == PH_OK && stored != agg->window_ms)
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "agg store was created with window_ms %lld, not %lld", (long long)stored,
                      (long long)agg->window_ms);
    if (rc == PH_OK)
        return PH_OK;
    sqlite3_bind_text(agg->put_meta, 1, "window_ms", -1, SQLITE_STATIC);
    sqlite3_bind_int64(agg->put_meta, 2, agg->window_ms);
    int s = sqlite3_step(agg->put_meta);
    done(agg->put_meta);
    if (s != SQLITE_DONE)
        return ph_err(errstr, errstr_size, PH_EIO, "agg store: %s", sqlite3_errmsg(agg->db));
    return PH_OK;
}

static int copy_kpis(ph_agg *agg, const ph_agg_config *cfg)
{
    if (!cfg->n_kpis)
        return PH_OK;
    agg->kpis = calloc(cfg->n_kpis, sizeof(*agg->kpis));
    agg->kpi_vals = calloc(cfg->n_kpis, sizeof(*agg->kpi_vals));
    if (!agg->kpis || !agg->kpi_vals)
        return PH_ENOMEM;
    for (size_t i = 0; i < cfg->n_kpis; i++) {
        agg->kpis[i].name = agg_intern_z(agg->pool, cfg->kpis[i].name);
        agg->kpis[i].key = agg_intern_z(agg->pool, cfg->kpis[i].key);
        agg->kpis[i].type = cfg->kpis[i].type;
        if (!agg->kpis[i].name || !agg->kpis[i].key)
            return PH_ENOMEM;
    }
    agg->n_kpis = cfg->n_kpis;
    return PH_OK;
}

int ph_agg_new(ph_agg **out, const ph_agg_config *cfg, const char *db_path, char *errstr,
               size_t errstr_size)
{
    ph_agg *agg = NULL;
    int rc = check_config(cfg, errstr, errstr_size);
    if (rc != PH_OK)
        return rc;
    rc = PH_ENOMEM;
    if (!(agg = calloc(1, sizeof(*agg))) || agg_pool_new(&agg->pool) != PH_OK ||
        !(agg->empty = agg_intern_z(agg->pool, "")) || copy_kpis(agg, cfg) != PH_OK) {
        ph_err(errstr, errstr_size, rc, "agg: out of memory");
        goto out;
    }
    agg->window_ms = cfg->window_ms;
    agg->lateness_ms = cfg->allowed_lateness_ms;
    agg->dedup_ms = cfg->dedup_retention_ms;
    for (int l = 0; l < PH_AGG_LEVELS; l++) {
        agg->size[l] = agg_level_size(cfg->window_ms, l);
        agg->retention[l] = cfg->retention_ms[l];
    }
    agg->max_event_ms = INT64_MIN;
    agg->watermark_ms = INT64_MIN;
    if ((rc = agg_db_open(&agg->db, db_path, true, cfg->sync_full, errstr, errstr_size)) != PH_OK ||
        (rc = prepare(agg, errstr, errstr_size)) != PH_OK ||
        (rc = check_window(agg, errstr, errstr_size)) != PH_OK ||
        (rc = load(agg, errstr, errstr_size)) != PH_OK)
        goto out;
    agg->stats.cells_cached = agg->cells.n;
    agg->stats.keys_cached = agg->dedup.n;
    *out = agg;
    agg = NULL;
out:
    ph_agg_destroy(agg);
    return rc;
}

void ph_agg_destroy(ph_agg *agg)
{
    if (!agg)
        return;
    sqlite3_stmt *stmts[] = {agg->begin,      agg->commit,     agg->rollback,    agg->put_cell,
                             agg->put_rev,    agg->get_cell,   agg->put_key,     agg->get_key,
                             agg->put_offset, agg->put_meta,   agg->get_offsets, agg->del_cells,
                             agg->del_keys,   agg->get_series, agg->put_series};
    for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++)
        sqlite3_finalize(stmts[i]);
    sqlite3_close(agg->db);
    agg_cellmap_free(&agg->cells);
    agg_seriesmap_free(&agg->series);
    agg_dedup_free(&agg->dedup);
    agg_metrics_free(&agg->metrics);
    free(agg->enc.p);
    free(agg->keybuf.p);
    free(agg->loaded_min);
    free(agg->queue);
    free(agg->kpis);
    free(agg->kpi_vals);
    free((void *)agg->scratch);
    agg_pool_destroy(agg->pool);
    free(agg);
}

/* ---- commit ------------------------------------------------------------------------------------
 */

static bool step_ok(sqlite3_stmt *st)
{
    int s = sqlite3_step(st);
    done(st);
    return s == SQLITE_DONE;
}

static bool write_cell(ph_agg *agg, agg_cell *c)
{
    if (!c->series && series_id(agg, &c->k, true, &c->series) != PH_OK)
        return false;
    if (c->dirty & AGG_DIRTY_STATE) {
        agg->enc.len = 0;
        if (agg_state_encode(&c->st, &agg->enc) != PH_OK)
            return false;
        bind_cell(agg->put_cell, &c->k, c->series);
        sqlite3_bind_int(agg->put_cell, 4, c->revision);
        sqlite3_bind_int(agg->put_cell, 5, c->emitted);
        sqlite3_bind_blob(agg->put_cell, 6, agg->enc.p, (int)agg->enc.len, SQLITE_STATIC);
        return step_ok(agg->put_cell);
    }
    bind_cell(agg->put_rev, &c->k, c->series);
    sqlite3_bind_int(agg->put_rev, 4, c->revision);
    sqlite3_bind_int(agg->put_rev, 5, c->emitted);
    return step_ok(agg->put_rev);
}

static bool put_meta(ph_agg *agg, const char *key, int64_t v)
{
    sqlite3_bind_text(agg->put_meta, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(agg->put_meta, 2, v);
    return step_ok(agg->put_meta);
}

static int dkey_by_minute(const void *pa, const void *pb)
{
    const agg_dkey *a = pa, *b = pb;
    return (a->t_min > b->t_min) - (a->t_min < b->t_min);
}

/* The new dedup keys, one packed row per minute. */
static bool write_keys(ph_agg *agg)
{
    agg_dkey *k = agg->dedup.pending;
    size_t n = agg->dedup.n_pending;
    if (n == 0)
        return true;
    qsort(k, n, sizeof(*k), dkey_by_minute);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && k[j].t_min == k[i].t_min)
            j++;
        size_t len = 16 * (j - i);
        if (len > agg->keybuf.cap) {
            uint8_t *grown = realloc(agg->keybuf.p, len);
            if (!grown)
                return false;
            agg->keybuf.p = grown;
            agg->keybuf.cap = len;
        }
        for (size_t x = i; x < j; x++)
            key_bytes(&k[x], agg->keybuf.p + 16 * (x - i));
        sqlite3_bind_int(agg->put_key, 1, k[i].t_min);
        sqlite3_bind_blob(agg->put_key, 2, agg->keybuf.p, (int)len, SQLITE_STATIC);
        if (!step_ok(agg->put_key))
            return false;
        i = j;
    }
    return true;
}

static bool write_all(ph_agg *agg, const ph_agg_offset *offs, size_t n)
{
    if (!write_keys(agg))
        return false;
    for (size_t i = 0; i < agg->cells.cap; i++) {
        agg_cell *c = agg->cells.slots[i];
        if (c && c->dirty && !write_cell(agg, c))
            return false;
    }
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_text(agg->put_offset, 1, offs[i].topic, -1, SQLITE_STATIC);
        sqlite3_bind_int(agg->put_offset, 2, offs[i].partition);
        sqlite3_bind_int64(agg->put_offset, 3, offs[i].next_offset);
        if (!step_ok(agg->put_offset))
            return false;
    }
    if (!put_meta(agg, "max_event_ms", agg->max_event_ms) ||
        !put_meta(agg, "watermark_ms", agg->watermark_ms))
        return false;
    if (agg->watermark_ms == INT64_MIN)
        return true;
    for (int l = 0; l < PH_AGG_LEVELS; l++) {
        sqlite3_bind_int(agg->del_cells, 1, l);
        sqlite3_bind_int64(agg->del_cells, 2, agg->watermark_ms - agg->retention[l] - agg->size[l]);
        if (!step_ok(agg->del_cells))
            return false;
    }
    sqlite3_bind_int64(agg->del_keys, 1, agg_floor_div(agg->watermark_ms - agg->dedup_ms, 60000));
    return step_ok(agg->del_keys);
}

/* After a commit: what may leave memory. Closed, emitted and clean cells can be read back when
 * late data needs them; cells past retention were just deleted. */
static bool evictable(const agg_cell *c, void *arg)
{
    const ph_agg *agg = arg;
    if (agg->watermark_ms == INT64_MIN)
        return false;
    int64_t end = c->k.start + agg->size[c->k.level];
    if (end <= agg->watermark_ms - agg->retention[c->k.level])
        return true;
    return !c->dirty && end <= agg->watermark_ms && c->emitted >= c->revision;
}

int ph_agg_commit(ph_agg *agg, const ph_agg_offset *offs, size_t n, char *errstr,
                  size_t errstr_size)
{
    if (!step_ok(agg->begin))
        return ph_err(errstr, errstr_size, PH_EIO, "agg commit: begin: %s",
                      sqlite3_errmsg(agg->db));
    if (!write_all(agg, offs, n) || !step_ok(agg->commit)) {
        int rc = ph_err(errstr, errstr_size, PH_EIO, "agg commit: %s", sqlite3_errmsg(agg->db));
        step_ok(agg->rollback);
        /* Series added by the rolled-back transaction are not in the store: forget every id,
         * they are found again (or added) by the next commit. */
        agg_seriesmap_free(&agg->series);
        for (size_t i = 0; i < agg->cells.cap; i++)
            if (agg->cells.slots[i])
                agg->cells.slots[i]->series = 0;
        return rc;
    }
    for (size_t i = 0; i < agg->cells.cap; i++)
        if (agg->cells.slots[i])
            agg->cells.slots[i]->dirty = 0;
    agg->dedup.n_pending = 0;
    agg->stats.commits++;
    agg_cellmap_drop(&agg->cells, evictable, agg);
    if (agg->watermark_ms != INT64_MIN) {
        int64_t from = agg_floor_div(agg->watermark_ms - agg->lateness_ms, 60000);
        if (from > agg->dedup_mem_from && from <= INT32_MAX &&
            agg_dedup_prune(&agg->dedup, (int32_t)from) == PH_OK) {
            agg->dedup_mem_from = (int32_t)from;
            /* The prune also dropped the older minutes loaded for late events. */
            agg->n_loaded_min = 0;
        }
    }
    agg->stats.cells_cached = agg->cells.n;
    agg->stats.keys_cached = agg->dedup.n;
    return PH_OK;
}

int ph_agg_offsets(ph_agg *agg, const char *topic, int (*fn)(void *arg, const ph_agg_offset *off),
                   void *arg)
{
    int rc = PH_OK, s;
    sqlite3_bind_text(agg->get_offsets, 1, topic, -1, SQLITE_STATIC);
    while ((s = sqlite3_step(agg->get_offsets)) == SQLITE_ROW) {
        ph_agg_offset off = {topic, sqlite3_column_int(agg->get_offsets, 0),
                             sqlite3_column_int64(agg->get_offsets, 1)};
        if ((rc = fn(arg, &off)) != 0)
            break;
    }
    if (rc == PH_OK && s != SQLITE_DONE)
        rc = PH_EIO;
    done(agg->get_offsets);
    return rc;
}

int64_t ph_agg_watermark(const ph_agg *agg)
{
    return agg->watermark_ms;
}

void ph_agg_get_stats(const ph_agg *agg, ph_agg_stats *out)
{
    *out = agg->stats;
}
