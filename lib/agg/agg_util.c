/* The small structures of lib/agg: interned strings, the map of cells, the dedup set, and the
 * SQLite schema with its migrations. */
#include "agg_int.h"

#include "ph_error.h"
#include "ph_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* XXH3_state_t on the stack (no malloc per event) needs the static-linking-only API. */
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

/* ---- interned strings ------------------------------------------------------------------------ */

typedef struct pool_entry {
    uint64_t h;
    char *s;
} pool_entry;

struct agg_pool {
    pool_entry *slots;
    size_t cap, n;
};

int agg_pool_new(agg_pool **out)
{
    agg_pool *pool = calloc(1, sizeof(*pool));
    if (!pool)
        return PH_ENOMEM;
    pool->cap = 256;
    pool->slots = calloc(pool->cap, sizeof(*pool->slots));
    if (!pool->slots) {
        free(pool);
        return PH_ENOMEM;
    }
    *out = pool;
    return PH_OK;
}

void agg_pool_destroy(agg_pool *pool)
{
    if (!pool)
        return;
    for (size_t i = 0; pool->slots && i < pool->cap; i++)
        free(pool->slots[i].s);
    free(pool->slots);
    free(pool);
}

static bool pool_grow(agg_pool *pool)
{
    size_t cap = pool->cap * 2;
    pool_entry *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return false;
    for (size_t i = 0; i < pool->cap; i++) {
        if (!pool->slots[i].s)
            continue;
        size_t j = pool->slots[i].h & (cap - 1);
        while (slots[j].s)
            j = (j + 1) & (cap - 1);
        slots[j] = pool->slots[i];
    }
    free(pool->slots);
    pool->slots = slots;
    pool->cap = cap;
    return true;
}

const char *agg_intern(agg_pool *pool, const char *s, size_t len)
{
    uint64_t h = XXH3_64bits(s, len);
    size_t i = h & (pool->cap - 1);
    for (; pool->slots[i].s; i = (i + 1) & (pool->cap - 1)) {
        if (pool->slots[i].h == h && strncmp(pool->slots[i].s, s, len) == 0 &&
            pool->slots[i].s[len] == '\0')
            return pool->slots[i].s;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    pool->slots[i].h = h;
    pool->slots[i].s = copy;
    /* Grow after inserting so `copy` stays at a known slot until then; load factor <= 1/2. */
    if (++pool->n * 2 > pool->cap && !pool_grow(pool)) {
        /* Still consistent (the table is merely fuller than we like). */
    }
    return copy;
}

const char *agg_intern_z(agg_pool *pool, const char *s)
{
    if (!s)
        s = "";
    return agg_intern(pool, s, strlen(s));
}

/* ---- the map of cells
 * ---------------------------------------------------------------------------- */

static uint64_t key_hash(const agg_key *k)
{
    /* Interned pointers identify strings, so hashing the pointers is enough. */
    uint64_t v[5] = {(uint64_t)k->start, (uint64_t)(uintptr_t)k->app, (uint64_t)(uintptr_t)k->env,
                     (uint64_t)(uintptr_t)k->model, (uint64_t)k->level << 8 | k->scope};
    return XXH3_64bits(v, sizeof(v));
}

static bool key_eq(const agg_key *a, const agg_key *b)
{
    return a->start == b->start && a->app == b->app && a->env == b->env && a->model == b->model &&
           a->level == b->level && a->scope == b->scope;
}

agg_cell *agg_cellmap_get(const agg_cellmap *map, const agg_key *k)
{
    if (!map->cap)
        return NULL;
    for (size_t i = key_hash(k) & (map->cap - 1); map->slots[i]; i = (i + 1) & (map->cap - 1))
        if (key_eq(&map->slots[i]->k, k))
            return map->slots[i];
    return NULL;
}

static void map_place(agg_cell **slots, size_t cap, agg_cell *c)
{
    size_t i = key_hash(&c->k) & (cap - 1);
    while (slots[i])
        i = (i + 1) & (cap - 1);
    slots[i] = c;
}

static int map_resize(agg_cellmap *map, size_t cap)
{
    agg_cell **slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return PH_ENOMEM;
    for (size_t i = 0; i < map->cap; i++)
        if (map->slots[i])
            map_place(slots, cap, map->slots[i]);
    free(map->slots);
    map->slots = slots;
    map->cap = cap;
    return PH_OK;
}

agg_cell *agg_cellmap_add(agg_cellmap *map, const agg_key *k)
{
    if ((map->n + 1) * 2 > map->cap && map_resize(map, map->cap ? map->cap * 2 : 1024) != PH_OK)
        return NULL;
    agg_cell *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->k = *k;
    c->emitted = -1;
    c->handed = -1;
    map_place(map->slots, map->cap, c);
    map->n++;
    return c;
}

void agg_cellmap_drop(agg_cellmap *map, bool (*drop)(const agg_cell *c, void *arg), void *arg)
{
    if (!map->n)
        return;
    /* Linear probing cannot delete in place without backward shifts: collect the survivors,
     * clear the table and re-place them. Without memory for the list, drop nothing now (the
     * next call retries): holding cold cells longer is harmless. */
    agg_cell **keep = malloc(map->n * sizeof(*keep));
    if (!keep)
        return;
    size_t kept = 0;
    for (size_t i = 0; i < map->cap; i++) {
        agg_cell *c = map->slots[i];
        if (!c)
            continue;
        map->slots[i] = NULL;
        if (drop(c, arg)) {
            agg_state_clear(&c->st);
            free(c);
        } else {
            keep[kept++] = c;
        }
    }
    map->n = kept;
    for (size_t i = 0; i < kept; i++)
        map_place(map->slots, map->cap, keep[i]);
    free(keep);
}

void agg_cellmap_free(agg_cellmap *map)
{
    for (size_t i = 0; i < map->cap; i++) {
        if (map->slots[i]) {
            agg_state_clear(&map->slots[i]->st);
            free(map->slots[i]);
        }
    }
    free(map->slots);
    memset(map, 0, sizeof(*map));
}

/* ---- the map of series ---------------------------------------------------------------------- */

static uint64_t series_hash(const char *app, const char *env, const char *model, uint8_t scope)
{
    uint64_t v[4] = {(uint64_t)(uintptr_t)app, (uint64_t)(uintptr_t)env, (uint64_t)(uintptr_t)model,
                     scope};
    return XXH3_64bits(v, sizeof(v));
}

int64_t agg_seriesmap_get(const agg_seriesmap *m, const agg_key *k)
{
    if (!m->cap)
        return 0;
    for (size_t i = series_hash(k->app, k->env, k->model, k->scope) & (m->cap - 1); m->slots[i].id;
         i = (i + 1) & (m->cap - 1)) {
        const agg_series *s = &m->slots[i];
        if (s->app == k->app && s->env == k->env && s->model == k->model && s->scope == k->scope)
            return s->id;
    }
    return 0;
}

static void series_place(agg_series *slots, size_t cap, const agg_series *s)
{
    size_t i = series_hash(s->app, s->env, s->model, s->scope) & (cap - 1);
    while (slots[i].id)
        i = (i + 1) & (cap - 1);
    slots[i] = *s;
}

int agg_seriesmap_put(agg_seriesmap *m, const agg_key *k, int64_t id)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        agg_series *slots = calloc(cap, sizeof(*slots));
        if (!slots)
            return PH_ENOMEM;
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].id)
                series_place(slots, cap, &m->slots[i]);
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
    }
    agg_series s = {k->app, k->env, k->model, k->scope, id};
    series_place(m->slots, m->cap, &s);
    m->n++;
    return PH_OK;
}

void agg_seriesmap_free(agg_seriesmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

/* ---- dedup keys
 * ------------------------------------------------------------------------------------ */

void agg_dedup_hash(agg_dkey *k, const char *prefix, const char *const *parts, size_t n,
                    int64_t t_ms)
{
    XXH3_state_t st;
    XXH3_128bits_reset(&st);
    XXH3_128bits_update(&st, prefix, strlen(prefix));
    for (size_t i = 0; i < n; i++) {
        if (i)
            XXH3_128bits_update(&st, "\x1f", 1);
        XXH3_128bits_update(&st, parts[i], strlen(parts[i]));
    }
    XXH128_hash_t h = XXH3_128bits_digest(&st);
    k->lo = h.low64;
    k->hi = h.high64;
    if (!k->lo && !k->hi)
        k->lo = 1; /* (0, 0) marks empty slots; a 2^-128 event */
    int64_t m = agg_floor_div(t_ms, 60000);
    k->t_min = m > INT32_MAX ? INT32_MAX : m < INT32_MIN ? INT32_MIN : (int32_t)m;
}

bool agg_dedup_has(const agg_dedup *d, const agg_dkey *k)
{
    if (!d->cap)
        return false;
    for (size_t i = k->lo & (d->cap - 1); d->slots[i].lo || d->slots[i].hi;
         i = (i + 1) & (d->cap - 1))
        if (d->slots[i].lo == k->lo && d->slots[i].hi == k->hi)
            return true;
    return false;
}

static void dedup_place(agg_dkey *slots, size_t cap, const agg_dkey *k)
{
    size_t i = k->lo & (cap - 1);
    while (slots[i].lo || slots[i].hi)
        i = (i + 1) & (cap - 1);
    slots[i] = *k;
}

static int dedup_rebuild(agg_dedup *d, size_t cap, int32_t min_t)
{
    agg_dkey *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return PH_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < d->cap; i++) {
        const agg_dkey *k = &d->slots[i];
        if ((k->lo || k->hi) && k->t_min >= min_t) {
            dedup_place(slots, cap, k);
            n++;
        }
    }
    free(d->slots);
    d->slots = slots;
    d->cap = cap;
    d->n = n;
    return PH_OK;
}

int agg_dedup_put(agg_dedup *d, const agg_dkey *k, bool pending)
{
    if ((d->n + 1) * 10 > d->cap * 7 &&
        dedup_rebuild(d, d->cap ? d->cap * 2 : 1 << 16, INT32_MIN) != PH_OK)
        return PH_ENOMEM;
    if (pending && d->n_pending == d->cap_pending) {
        size_t cap = d->cap_pending ? d->cap_pending * 2 : 4096;
        agg_dkey *p = realloc(d->pending, cap * sizeof(*p));
        if (!p)
            return PH_ENOMEM;
        d->pending = p;
        d->cap_pending = cap;
    }
    dedup_place(d->slots, d->cap, k);
    d->n++;
    if (pending)
        d->pending[d->n_pending++] = *k;
    return PH_OK;
}

int agg_dedup_prune(agg_dedup *d, int32_t t_min)
{
    if (!d->cap)
        return PH_OK;
    size_t cap = d->cap;
    /* Shrink when mostly empty after the prune, so a burst does not pin memory forever. */
    size_t live = 0;
    for (size_t i = 0; i < d->cap; i++)
        if ((d->slots[i].lo || d->slots[i].hi) && d->slots[i].t_min >= t_min)
            live++;
    if (live == d->n)
        return PH_OK;
    while (cap > (1 << 16) && live * 10 < cap * 2)
        cap /= 2;
    return dedup_rebuild(d, cap, t_min);
}

void agg_dedup_free(agg_dedup *d)
{
    free(d->slots);
    free(d->pending);
    memset(d, 0, sizeof(*d));
}

/* ---- levels
 * ------------------------------------------------------------------------------------------- */

int64_t agg_level_size(int64_t window_ms, int level)
{
    return level == 0 ? window_ms : level == 1 ? AGG_HOUR_MS : AGG_DAY_MS;
}

const char *agg_granularity(int64_t window_ms, int level, char *buf, size_t size)
{
    if (level == 1)
        return "1h";
    if (level == 2)
        return "1d";
    if (window_ms % 60000 == 0)
        snprintf(buf, size, "%lldm", (long long)(window_ms / 60000));
    else
        snprintf(buf, size, "%llds", (long long)(window_ms / 1000));
    return buf;
}

/* ---- SQLite schema
 * ------------------------------------------------------------------------------------ */

#define SCHEMA_VERSION 3

/* migrations[v] takes the schema from user_version v to v + 1. */
static const char *const migrations[SCHEMA_VERSION] = {
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    /* One row per cell: scope 0 = one (app, environment, model) combination, scope 1 = all
     * traffic (dimensions ""). state is the encoding of agg_state (agg_state.c). */
    "CREATE TABLE cells ("
    "  level INTEGER NOT NULL, scope INTEGER NOT NULL, start_ms INTEGER NOT NULL,"
    "  app TEXT NOT NULL, environment TEXT NOT NULL, model TEXT NOT NULL,"
    "  revision INTEGER NOT NULL, emitted_revision INTEGER NOT NULL, state BLOB NOT NULL);"
    "CREATE UNIQUE INDEX cells_key ON cells(level, scope, start_ms, app, environment, model);"
    /* Filtered queries: one app's (or model's) cells over a range without scanning the rest. */
    "CREATE INDEX cells_app ON cells(level, scope, app, start_ms);"
    "CREATE INDEX cells_model ON cells(level, scope, model, start_ms);"
    /* What ph_agg_new must load: closed windows whose revision is not yet emitted. */
    "CREATE INDEX cells_unemitted ON cells(level, start_ms) WHERE emitted_revision < revision;"
    /* Clustered by event minute: inserts append near each other, pruning is a range delete,
     * and a late event's key is found by (its minute, key) as duplicates share event time. */
    "CREATE TABLE dedup (t_min INTEGER NOT NULL, key BLOB NOT NULL, PRIMARY KEY (t_min, key))"
    "  WITHOUT ROWID;"
    "CREATE TABLE offsets (topic TEXT NOT NULL, partition INTEGER NOT NULL,"
    "  next_offset INTEGER NOT NULL, PRIMARY KEY (topic, partition)) WITHOUT ROWID;",
    /* 2: dedup keys packed per (event minute, commit), 16 bytes each in one BLOB: a row per key
     * cost a third of the aggregator's CPU in index inserts. The keys of a version-1 store are
     * dropped (stores of that version only existed before the first release). */
    "DROP TABLE dedup;"
    "CREATE TABLE dedup (t_min INTEGER NOT NULL, seq INTEGER NOT NULL, keys BLOB NOT NULL,"
    "  PRIMARY KEY (t_min, seq)) WITHOUT ROWID;",
    /* 3: cells keyed by (level, series, start_ms), clustered: a query reads each matching
     * series' windows as one range, where version 2 went through an index and then the table
     * for every cell (and through the wrong index for two filters). Fewer indexes to update,
     * too. Cells are copied; their encoding is unchanged. Then agg_build_rollups (agg_migrate.c)
     * adds the app and model rollup series (scopes 2 and 3) that version 2 did not have. */
    "CREATE TABLE series (id INTEGER PRIMARY KEY, scope INTEGER NOT NULL, app TEXT NOT NULL,"
    "  environment TEXT NOT NULL, model TEXT NOT NULL);"
    "CREATE UNIQUE INDEX series_key ON series(scope, app, environment, model);"
    "INSERT INTO series(scope, app, environment, model)"
    "  SELECT DISTINCT scope, app, environment, model FROM cells ORDER BY 1, 2, 3, 4;"
    "CREATE TABLE cells3 (level INTEGER NOT NULL, series INTEGER NOT NULL,"
    "  start_ms INTEGER NOT NULL, revision INTEGER NOT NULL, emitted_revision INTEGER NOT NULL,"
    "  state BLOB NOT NULL, PRIMARY KEY (level, series, start_ms)) WITHOUT ROWID;"
    "INSERT INTO cells3 SELECT c.level, s.id, c.start_ms, c.revision, c.emitted_revision, c.state"
    "  FROM cells c JOIN series s ON s.scope = c.scope AND s.app = c.app"
    "  AND s.environment = c.environment AND s.model = c.model ORDER BY 1, 2, 3;"
    "DROP TABLE cells;"
    "ALTER TABLE cells3 RENAME TO cells;"
    /* Retention deletes and the load of open windows go by time across series. */
    "CREATE INDEX cells_time ON cells(level, start_ms);"
    "CREATE INDEX cells_unemitted ON cells(level, start_ms) WHERE emitted_revision < revision;",
};

/* Schema 3 also derives data that SQL cannot compute: the rollups merge encoded cells. */
static int migration_step(sqlite3 *db, int to, char *errstr, size_t errstr_size)
{
    return to == 3 ? agg_build_rollups(db, errstr, errstr_size) : PH_OK;
}

int agg_db_open(sqlite3 **out, const char *path, bool writer, bool sync_full, char *errstr,
                size_t errstr_size)
{
    int rc = PH_EIO;
    sqlite3 *db = NULL;
    char *msg = NULL;
    int flags = writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READWRITE;
    if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        rc = ph_err(errstr, errstr_size, db ? PH_EIO : PH_ENOMEM, "agg store %s: %s", path,
                    db ? sqlite3_errmsg(db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(db, 5000);
    /* FULL: a commit is on disk when ph_agg_commit returns, so the offsets it stores never run
     * ahead of data a power loss could take back. NORMAL (WAL) risks only the last commits on
     * power loss, never on a process crash; see docs/aggregator.md for the measured cost. */
    /* cache_size: the dedup B-tree's recent pages must stay in SQLite's cache, else each
     * commit re-reads them through the kernel (measured: half the add path's CPU at 2 M keys
     * with the 2 MB default). 64 MB for the writer, 16 MB per reader. */
    const char *pragmas =
        !writer     ? "PRAGMA query_only=1; PRAGMA cache_size=-16384"
        : sync_full ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-65536"
                    : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                      "PRAGMA cache_size=-65536";
    if (sqlite3_exec(db, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
        rc = ph_err(errstr, errstr_size, PH_EIO, "agg store %s: %s", path, msg);
        goto out;
    }
    if (writer && (rc = ph_sqlite_migrate(db, "agg store", migrations, SCHEMA_VERSION,
                                          migration_step, errstr, errstr_size)) != PH_OK)
        goto out;
    /* Readers do not migrate: the writer (the aggregator) does when it opens the store. */
    int version = ph_sqlite_user_version(db);
    if (!writer && version != SCHEMA_VERSION) {
        rc = ph_err(errstr, errstr_size, PH_EIO,
                    "agg store %s: schema version %d, this build reads %d (the aggregator"
                    " migrates a store when it opens it)",
                    path, version, SCHEMA_VERSION);
        goto out;
    }
    *out = db;
    db = NULL;
    rc = PH_OK;
out:
    sqlite3_free(msg);
    sqlite3_close(db);
    return rc;
}

int agg_meta_get(sqlite3 *db, const char *key, int64_t *value)
{
    sqlite3_stmt *st = NULL;
    int rc = PH_EIO;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *value = sqlite3_column_int64(st, 0);
        rc = PH_OK;
    } else if (s == SQLITE_DONE) {
        rc = PH_ENOENT;
    }
out:
    sqlite3_finalize(st);
    return rc;
}
