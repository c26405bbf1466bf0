/* SQLite helpers shared by the project's stores. */
#ifndef PH_SQLITE_H
#define PH_SQLITE_H

#include <sqlite3.h>
#include <stddef.h>

/* The database's PRAGMA user_version, or -1 when it cannot be read. */
int ph_sqlite_user_version(sqlite3 *db);

/* A migration step that SQL alone cannot do: runs inside the transaction that takes the schema
 * to version `to`, after that version's SQL. Returns PH_OK or an error with errstr set. */
typedef int (*ph_sqlite_step)(sqlite3 *db, int to, char *errstr, size_t errstr_size);

/* Brings db from its user_version to n: migrations[v] is the SQL taking version v to v + 1, and
 * each step runs in one BEGIN IMMEDIATE transaction together with step (may be NULL) and the
 * new user_version. what names the database in messages ("agg store"). Returns PH_OK, PH_EIO
 * (a version this build does not know, or a failed step: that step is rolled back) or step's
 * error. */
int ph_sqlite_migrate(sqlite3 *db, const char *what, const char *const *migrations, int n,
                      ph_sqlite_step step, char *errstr, size_t errstr_size);

#endif
