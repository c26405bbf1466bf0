#include "ph_sqlite.h"

#include "ph_error.h"

#include <stdio.h>

int ph_sqlite_user_version(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return version;
}

int ph_sqlite_migrate(sqlite3 *db, const char *what, const char *const *migrations, int n,
                      ph_sqlite_step step, char *errstr, size_t errstr_size)
{
    int version = ph_sqlite_user_version(db);
    if (version < 0 || version > n)
        return ph_err(errstr, errstr_size, PH_EIO, "%s: schema version %d unknown to this build",
                      what, version);
    for (int v = version; v < n; v++) {
        char sql[64];
        char *msg = NULL;
        int rc = PH_OK;
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d; COMMIT;", v + 1);
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, migrations[v], NULL, NULL, &msg) != SQLITE_OK)
            goto fail;
        if (step && (rc = step(db, v + 1, errstr, errstr_size)) != PH_OK)
            goto fail; /* step wrote errstr */
        if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
            goto fail;
        continue;
    fail:
        if (rc == PH_OK)
            rc = ph_err(errstr, errstr_size, PH_EIO, "%s: migration to %d: %s", what, v + 1,
                        msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return PH_OK;
}
