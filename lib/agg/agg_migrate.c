/* Store migrations that SQL alone cannot do (agg_util.c runs the SQL ones): building, when a
 * store moves to schema 3, the app and model rollup cells of every stored window by merging its
 * combinations' encoded cells. */
#include "agg_int.h"

#include "ph_error.h"

#include <stdlib.h>
#include <string.h>

typedef struct rollup_ctx {
    sqlite3 *db;
    sqlite3_stmt *put_series, *get_series, *put_cell;
    agg_pool *pool;
    const char *empty; /* interned "" */
    agg_cellmap acc;
    agg_buf enc;
} rollup_ctx;

/* Writes the accumulated rollups of one window and empties the accumulator. */
static int rollup_flush(rollup_ctx *x, char *errstr, size_t errstr_size)
{
    int rc = PH_OK;
    for (size_t i = 0; i < x->acc.cap && rc == PH_OK; i++) {
        const agg_cell *c = x->acc.slots[i];
        if (!c)
            continue;
        sqlite3_stmt *sts[2] = {x->put_series, x->get_series};
        for (int j = 0; j < 2; j++) {
            sqlite3_bind_int(sts[j], 1, c->k.scope);
            sqlite3_bind_text(sts[j], 2, c->k.app, -1, SQLITE_STATIC);
            sqlite3_bind_text(sts[j], 3, c->k.env, -1, SQLITE_STATIC);
            sqlite3_bind_text(sts[j], 4, c->k.model, -1, SQLITE_STATIC);
        }
        int s = sqlite3_step(x->put_series);
        if (s == SQLITE_DONE)
            s = sqlite3_step(x->get_series);
        int64_t id = s == SQLITE_ROW ? sqlite3_column_int64(x->get_series, 0) : 0;
        if (id) {
            x->enc.len = 0;
            rc = agg_state_encode(&c->st, &x->enc);
        }
        if (id && rc == PH_OK) {
            sqlite3_bind_int(x->put_cell, 1, c->k.level);
            sqlite3_bind_int64(x->put_cell, 2, id);
            sqlite3_bind_int64(x->put_cell, 3, c->k.start);
            sqlite3_bind_blob(x->put_cell, 4, x->enc.p, (int)x->enc.len, SQLITE_STATIC);
            s = sqlite3_step(x->put_cell);
        }
        if (rc != PH_OK)
            ph_err(errstr, errstr_size, rc, "agg store: rollups: out of memory");
        else if (!id || s != SQLITE_DONE)
            rc = ph_err(errstr, errstr_size, PH_EIO, "agg store: rollups: %s",
                        sqlite3_errmsg(x->db));
        sqlite3_reset(x->put_series);
        sqlite3_reset(x->get_series);
        sqlite3_reset(x->put_cell);
    }
    agg_cellmap_free(&x->acc);
    return rc;
}

/* Merges one stored combination into its window's app and model rollups. */
static int rollup_add(rollup_ctx *x, int level, int64_t start, const char *app, const char *model,
                      const void *blob, int len)
{
    for (int scope = AGG_SCOPE_APP; scope <= AGG_SCOPE_MODEL; scope++) {
        agg_key k = {start,          scope == AGG_SCOPE_APP ? app : x->empty,
                     x->empty,       scope == AGG_SCOPE_MODEL ? model : x->empty,
                     (uint8_t)level, (uint8_t)scope};
        agg_cell *c = agg_cellmap_get(&x->acc, &k);
        if (!c && !(c = agg_cellmap_add(&x->acc, &k)))
            return PH_ENOMEM;
        int rc = agg_state_merge_blob(&c->st, blob, (size_t)len, x->pool, 0);
        if (rc != PH_OK)
            return rc;
    }
    return PH_OK;
}

int agg_build_rollups(sqlite3 *db, char *errstr, size_t errstr_size)
{
    rollup_ctx x = {.db = db};
    sqlite3_stmt *scan = NULL;
    int rc = agg_pool_new(&x.pool);
    if (rc != PH_OK || !(x.empty = agg_intern_z(x.pool, ""))) {
        rc = ph_err(errstr, errstr_size, PH_ENOMEM, "agg store: rollups: out of memory");
        goto out;
    }
    if (sqlite3_prepare_v2(db,
                           "SELECT c.level, c.start_ms, s.app, s.model, c.state FROM cells c"
                           " JOIN series s ON s.id = c.series WHERE s.scope = 0"
                           " ORDER BY c.level, c.start_ms",
                           -1, &scan, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT OR IGNORE INTO series(scope, app, environment, model)"
                           " VALUES (?1, ?2, ?3, ?4)",
                           -1, &x.put_series, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT id FROM series WHERE scope = ?1 AND app = ?2 AND"
                           " environment = ?3 AND model = ?4",
                           -1, &x.get_series, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO cells(level, series, start_ms, revision, emitted_revision,"
                           " state) VALUES (?1, ?2, ?3, 0, 0, ?4)",
                           -1, &x.put_cell, NULL) != SQLITE_OK) {
        rc = ph_err(errstr, errstr_size, PH_EIO, "agg store: rollups: %s", sqlite3_errmsg(db));
        goto out;
    }
    int level = -1, s;
    int64_t start = 0;
    while ((s = sqlite3_step(scan)) == SQLITE_ROW) {
        int l = sqlite3_column_int(scan, 0);
        int64_t t = sqlite3_column_int64(scan, 1);
        if ((l != level || t != start) && (rc = rollup_flush(&x, errstr, errstr_size)) != PH_OK)
            goto out;
        level = l;
        start = t;
        const char *app = agg_intern_z(x.pool, (const char *)sqlite3_column_text(scan, 2));
        const char *model = agg_intern_z(x.pool, (const char *)sqlite3_column_text(scan, 3));
        rc = app && model ? rollup_add(&x, l, t, app, model, sqlite3_column_blob(scan, 4),
                                       sqlite3_column_bytes(scan, 4))
                          : PH_ENOMEM;
        if (rc != PH_OK) {
            ph_err(errstr, errstr_size, rc, "agg store: rollups: %s",
                   rc == PH_EINVAL ? "a stored cell does not decode" : ph_strerror(rc));
            goto out;
        }
    }
    if (s != SQLITE_DONE) {
        rc = ph_err(errstr, errstr_size, PH_EIO, "agg store: rollups: %s", sqlite3_errmsg(db));
        goto out;
    }
    rc = rollup_flush(&x, errstr, errstr_size);
out:
    sqlite3_finalize(scan);
    sqlite3_finalize(x.put_series);
    sqlite3_finalize(x.get_series);
    sqlite3_finalize(x.put_cell);
    agg_cellmap_free(&x.acc);
    free(x.enc.p);
    agg_pool_destroy(x.pool);
    return rc;
}
