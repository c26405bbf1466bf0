/* The verdict cache: one SQLite file, keyed by a hash of what determines a verdict (the
 * criterion's name and version, which cover its template and model config, and the request
 * body, which holds the record's texts), so an identical request is never paid twice.
 *
 * One connection, used only from the judge's thread. WAL so that readers (a shell, a
 * dashboard) never block it; statements prepared once; writes batched into one transaction per
 * poll iteration (ph_judge_cache_flush). Only OK verdicts are stored. Entries older than
 * cache_ttl_s are ignored and pruned at open and then hourly. */
#include "ph_judge_int.h"

#include "ph_error.h"
#include "ph_sqlite.h"
#include "ph_log.h"
#include "ph_util.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_VERSION 1

struct ph_judge_cache {
    sqlite3 *db;
    sqlite3_stmt *get, *put, *prune, *begin, *commit;
    int64_t ttl_ms;
    int64_t pruned_ms;
    bool in_txn;
};

/* Migrations by user_version: migrations[v] takes the schema from version v to v + 1. */
static const char *const migrations[SCHEMA_VERSION] = {
    "CREATE TABLE verdicts ("
    "  key TEXT PRIMARY KEY,"       /* 32 hex digits */
    "  evaluator TEXT NOT NULL,"    /* judge.<criterion>, for humans */
    "  verdict TEXT NOT NULL,"      /* JSON */
    "  created_ms INTEGER NOT NULL" /* wall clock: entries outlive the process */
    ") WITHOUT ROWID;"
    "CREATE INDEX verdicts_created ON verdicts(created_ms);",
};

static void prune(ph_judge_cache *cache)
{
    int64_t now = ph_now_ms();
    cache->pruned_ms = now;
    if (cache->ttl_ms <= 0)
        return;
    sqlite3_bind_int64(cache->prune, 1, now - cache->ttl_ms);
    if (sqlite3_step(cache->prune) != SQLITE_DONE)
        ph_log_warn(PH_JUDGE_LOG, "cache prune: %s", sqlite3_errmsg(cache->db));
    sqlite3_reset(cache->prune);
    sqlite3_clear_bindings(cache->prune);
}

int ph_judge_cache_open(ph_judge_cache **out, const char *path, int64_t ttl_s, char *errstr,
                        size_t errstr_size)
{
    int rc = PH_ENOMEM;
    char *msg = NULL;
    ph_judge_cache *cache = calloc(1, sizeof(*cache));
    if (!cache)
        goto out;
    cache->ttl_ms = ttl_s * 1000;
    rc = PH_EIO;
    if (sqlite3_open_v2(path, &cache->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        ph_err(errstr, errstr_size, rc, "judge cache %s: %s", path,
               cache->db ? sqlite3_errmsg(cache->db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(cache->db, 2000);
    /* synchronous=NORMAL: in WAL mode a crash may lose the last verdicts, never corrupt the
     * file, and a lost cache entry only costs one more request. */
    if (sqlite3_exec(cache->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", NULL, NULL,
                     &msg) != SQLITE_OK) {
        ph_err(errstr, errstr_size, rc, "judge cache %s: %s", path, msg);
        goto out;
    }
    rc = ph_sqlite_migrate(cache->db, "judge cache", migrations, SCHEMA_VERSION, NULL, errstr,
                           errstr_size);
    if (rc != PH_OK)
        goto out;
    rc = PH_EIO;
    if (sqlite3_prepare_v2(cache->db,
                           "SELECT verdict FROM verdicts WHERE key = ?1 AND created_ms >= ?2", -1,
                           &cache->get, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(cache->db,
                           "INSERT OR REPLACE INTO verdicts(key, evaluator, verdict, created_ms) "
                           "VALUES (?1, ?2, ?3, ?4)",
                           -1, &cache->put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(cache->db, "DELETE FROM verdicts WHERE created_ms < ?1", -1,
                           &cache->prune, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(cache->db, "BEGIN", -1, &cache->begin, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(cache->db, "COMMIT", -1, &cache->commit, NULL) != SQLITE_OK) {
        ph_err(errstr, errstr_size, rc, "judge cache %s: %s", path, sqlite3_errmsg(cache->db));
        goto out;
    }
    prune(cache);
    *out = cache;
    cache = NULL;
    rc = PH_OK;
out:
    sqlite3_free(msg);
    ph_judge_cache_close(cache);
    return rc;
}

void ph_judge_cache_close(ph_judge_cache *cache)
{
    if (!cache)
        return;
    if (cache->commit) /* fully opened: a half-opened cache has nothing to flush */
        ph_judge_cache_flush(cache);
    sqlite3_finalize(cache->get);
    sqlite3_finalize(cache->put);
    sqlite3_finalize(cache->prune);
    sqlite3_finalize(cache->begin);
    sqlite3_finalize(cache->commit);
    sqlite3_close(cache->db);
    free(cache);
}

int ph_judge_cache_get(ph_judge_cache *cache, const char *key, char **value)
{
    int rc = PH_ENOENT;
    sqlite3_bind_text(cache->get, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(cache->get, 2, cache->ttl_ms > 0 ? ph_now_ms() - cache->ttl_ms : 0);
    int step = sqlite3_step(cache->get);
    if (step == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(cache->get, 0);
        *value = text ? strdup(text) : NULL;
        rc = *value ? PH_OK : PH_ENOMEM;
    } else if (step != SQLITE_DONE) {
        ph_log_warn(PH_JUDGE_LOG, "cache read: %s", sqlite3_errmsg(cache->db));
        rc = PH_EIO;
    }
    sqlite3_reset(cache->get);
    sqlite3_clear_bindings(cache->get);
    return rc;
}

int ph_judge_cache_put(ph_judge_cache *cache, const char *key, const char *evaluator,
                       const char *value)
{
    int rc = PH_OK;
    if (!cache->in_txn) {
        if (sqlite3_step(cache->begin) != SQLITE_DONE)
            ph_log_warn(PH_JUDGE_LOG, "cache begin: %s", sqlite3_errmsg(cache->db));
        else
            cache->in_txn = true;
        sqlite3_reset(cache->begin);
    }
    sqlite3_bind_text(cache->put, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(cache->put, 2, evaluator, -1, SQLITE_STATIC);
    sqlite3_bind_text(cache->put, 3, value, -1, SQLITE_STATIC);
    sqlite3_bind_int64(cache->put, 4, ph_now_ms());
    if (sqlite3_step(cache->put) != SQLITE_DONE) {
        ph_log_warn(PH_JUDGE_LOG, "cache write: %s", sqlite3_errmsg(cache->db));
        rc = PH_EIO;
    }
    sqlite3_reset(cache->put);
    sqlite3_clear_bindings(cache->put);
    return rc;
}

void ph_judge_cache_flush(ph_judge_cache *cache)
{
    if (!cache)
        return;
    if (cache->in_txn) {
        if (sqlite3_step(cache->commit) != SQLITE_DONE) {
            ph_log_warn(PH_JUDGE_LOG, "cache commit: %s", sqlite3_errmsg(cache->db));
            sqlite3_exec(cache->db, "ROLLBACK", NULL, NULL, NULL);
        }
        sqlite3_reset(cache->commit);
        cache->in_txn = false;
    }
    if (ph_now_ms() - cache->pruned_ms > 3600 * 1000)
        prune(cache);
}
