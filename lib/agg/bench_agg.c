/* bench_agg: throughput of the add path and latency of queries (prints numbers; not a test).
 *
 *   bench_agg [evaluations (default 2000000)] [directory (default /tmp)] [normal]
 *   (BENCH_AGG_KEEP=1 in the environment keeps the 7-day store in the directory for reuse;
 *   BENCH_AGG_ONLY=text runs only the queries whose description contains text;
 *   BENCH_AGG_NO_QUERIES=1 runs the adds only)
 *
 * Phase 1 adds evaluations for 20 apps x 10 models x 10 evaluators (10 evaluations per record,
 * scores, labels, pass/fail, lag, judge spend), in event-time order with jitter, committing
 * every 50,000 events after ph_agg_advance (as the service does), and reports evaluations per
 * second of CPU time of this thread (SQLite's work included: it runs on this thread).
 *
 * Phase 2 fills a second store with 7 days of one-minute windows for 20 apps x 10 models
 * through the normal add path (per combination and minute: one log with latency and tokens and
 * two evaluations), then times queries (20 runs each, p50 and p95 wall time) on a reader. */
#include "ph_agg.h"
#include "ph_error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define APPS   20
#define MODELS 10
#define EVALS  10
#define T0     1699920000000LL
#define MIN_MS 60000LL
#define HOUR   3600000LL
#define DAY    86400000LL

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static double rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static char apps[APPS][16], models[MODELS][16], evaluators[EVALS][16];
static const char *labels[EVALS][3] = {
    {"clean", "toxic", "borderline"},
    {"complied", "refused", "partial"},
    {"positive", "negative", "neutral"},
    {"none", "email", "phone"},
    {"valid", "invalid", "empty"},
    {"calm", "frustrated", "angry"},
    {"short", "ok", "long"},
    {"match", "drift", "mismatch"},
    {"pass", "fail", "unknown"},
    {"yes", "no", "maybe"},
};

static void die(const char *what, const char *err)
{
    fprintf(stderr, "bench_agg: %s: %s\n", what, err);
    exit(1);
}

static void rm_store(const char *path)
{
    char buf[600];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(buf, sizeof(buf), "%s%s", path, suffix[i]);
        unlink(buf);
    }
}

static long long file_kb(const char *path)
{
    struct stat st;
    char buf[600];
    long long kb = 0;
    const char *suffix[] = {"", "-wal"};
    for (int i = 0; i < 2; i++) {
        snprintf(buf, sizeof(buf), "%s%s", path, suffix[i]);
        if (stat(buf, &st) == 0)
            kb += st.st_size / 1024;
    }
    return kb;
}

static void commit(ph_agg *agg, int64_t now, int64_t offset)
{
    char err[PH_ERRSTR_SIZE];
    ph_agg_offset off = {"pharos.evals", 0, offset};
    ph_agg_window w;
    ph_agg_advance(agg, now, NULL);
    if (ph_agg_commit(agg, &off, 1, err, sizeof(err)) != PH_OK)
        die("commit", err);
    while (ph_agg_next_emit(agg, &w) == PH_OK)
        ph_agg_mark_emitted(agg, &w);
}

static void phase_adds(const char *dir, long n, bool sync_full)
{
    char path[512], err[PH_ERRSTR_SIZE], rid[40];
    snprintf(path, sizeof(path), "%s/bench_agg_adds.db", dir);
    rm_store(path);
    ph_agg_config cfg;
    ph_agg_config_default(&cfg);
    cfg.sync_full = sync_full;
    ph_agg *agg = NULL;
    if (ph_agg_new(&agg, &cfg, path, err, sizeof(err)) != PH_OK)
        die("open", err);
    /* 1,000 records/s of event time, 10 evaluations each, up to 2 s out of order. */
    double t0 = cpu_s(), w0 = wall_ms();
    int64_t now = T0;
    for (long i = 0; i < n; i++) {
        long rec = i / EVALS;
        int e = (int)(i % EVALS);
        int64_t t = T0 + rec + (int64_t)(rnd() * 2000);
        snprintf(rid, sizeof(rid), "%016lx%016lx", rec * 2654435761UL, rec);
        ph_agg_eval ev;
        ph_agg_eval_init(&ev);
        ev.record_id = rid;
        ev.evaluator = evaluators[e];
        ev.evaluator_version = "1";
        ev.app = apps[rec % APPS];
        ev.environment = "prod";
        ev.model = models[(rec / APPS) % MODELS];
        ev.record_ms = t;
        ev.ingest_ms = t + 50;
        ev.eval_ms = t + 50 + (int64_t)(rnd() * 5000);
        double r = rnd();
        ev.status = r < 0.01 ? PH_AGG_EVAL_ERROR : PH_AGG_EVAL_OK;
        ev.score = r;
        ev.label = labels[e][r < 0.8 ? 0 : r < 0.95 ? 1 : 2];
        ev.passed = r < 0.9;
        if (e == 0) {
            ev.cost_usd = 0.0004;
            ev.tokens = 900;
        }
        if (ph_agg_add_eval(agg, &ev) != PH_OK)
            die("add", "failed");
        if (t > now)
            now = t;
        if ((i + 1) % 50000 == 0)
            commit(agg, now, i + 1);
    }
    commit(agg, now, n);
    double cpu = cpu_s() - t0, wall = wall_ms() - w0;
    ph_agg_stats s;
    ph_agg_get_stats(agg, &s);
    printf("adds (synchronous=%s): %ld evaluations in %.2f s CPU (%.2f s wall): %.0f "
           "evaluations/s per core; %llu commits, %llu cells and %llu dedup keys in memory at "
           "the end, store %lld KB\n",
           sync_full ? "FULL" : "NORMAL", n, cpu, wall / 1e3, (double)n / cpu,
           (unsigned long long)s.commits, (unsigned long long)s.cells_cached,
           (unsigned long long)s.keys_cached, file_kb(path));
    ph_agg_destroy(agg);
    rm_store(path);
}

/* 7 days x 1440 minutes x 200 combinations through the add path. */
static void fill_week(const char *path)
{
    char err[PH_ERRSTR_SIZE], rid[32];
    ph_agg_config cfg;
    ph_agg_config_default(&cfg);
    cfg.sync_full = false;
    ph_agg *agg = NULL;
    if (ph_agg_new(&agg, &cfg, path, err, sizeof(err)) != PH_OK)
        die("open", err);
    double t0 = cpu_s();
    long events = 0, rec = 0;
    for (int64_t m = 0; m < 7 * 1440; m++) {
        int64_t t = T0 + m * MIN_MS;
        for (int a = 0; a < APPS; a++) {
            for (int k = 0; k < MODELS; k++) {
                snprintf(rid, sizeof(rid), "w%ld", rec++);
                ph_agg_log log;
                ph_agg_log_init(&log);
                log.record_id = rid;
                log.app = apps[a];
                log.environment = "prod";
                log.model = models[k];
                log.time_ms = t + (int64_t)(rnd() * 59000);
                log.latency_ms = exp(5.5 + rnd() * 2);
                log.input_tokens = 300;
                log.output_tokens = 120;
                log.cost_usd = 0.002;
                log.is_error = rnd() < 0.02;
                ph_agg_add_log(agg, &log);
                for (int e = 0; e < 2; e++) {
                    ph_agg_eval ev;
                    ph_agg_eval_init(&ev);
                    ev.record_id = rid;
                    ev.evaluator = evaluators[e];
                    ev.evaluator_version = "1";
                    ev.app = apps[a];
                    ev.environment = "prod";
                    ev.model = models[k];
                    ev.record_ms = log.time_ms;
                    ev.ingest_ms = log.time_ms;
                    ev.eval_ms = log.time_ms + 1000 + (int64_t)(rnd() * 4000);
                    ev.score = rnd();
                    ev.label = labels[e][ev.score < 0.8 ? 0 : 1];
                    ev.passed = ev.score < 0.9;
                    ph_agg_add_eval(agg, &ev);
                }
                events += 3;
            }
        }
        if (m % 30 == 29)
            commit(agg, t + MIN_MS, events);
    }
    commit(agg, T0 + 7 * DAY + HOUR, events);
    printf("fill: 7 days x 1440 min x %d combinations = %ld events in %.1f s CPU, store %lld "
           "MB\n",
           APPS * MODELS, events, cpu_s() - t0, file_kb(path) / 1024);
    ph_agg_destroy(agg);
}

typedef struct qcount {
    long points, metrics;
} qcount;

static int on_point(void *arg, const ph_agg_point *pt)
{
    qcount *c = arg;
    c->points++;
    c->metrics += (long)pt->n_metrics;
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void time_query(ph_agg_reader *r, const char *what, int64_t from, int64_t to, int64_t step,
                       const ph_agg_filter *f, unsigned group_by)
{
    enum { RUNS = 20 };
    double ms[RUNS];
    const char *only = getenv("BENCH_AGG_ONLY"); /* runs only the queries named with this */
    if (only && !strstr(what, only))
        return;
    qcount c = {0, 0};
    char err[PH_ERRSTR_SIZE];
    for (int i = 0; i < RUNS; i++) {
        c = (qcount){0, 0};
        double w0 = wall_ms();
        if (ph_agg_query(r, from, to, step, f, group_by, NULL, 0, on_point, &c, err, sizeof(err)) !=
            PH_OK)
            die("query", err);
        ms[i] = wall_ms() - w0;
    }
    qsort(ms, RUNS, sizeof(ms[0]), cmp_d);
    printf("  %-52s %6ld points %8ld values  p50 %8.1f ms  p95 %8.1f ms\n", what, c.points,
           c.metrics, ms[RUNS / 2], ms[(RUNS * 95) / 100 - 1]);
}

static void phase_queries(const char *dir)
{
    char path[512], err[PH_ERRSTR_SIZE];
    snprintf(path, sizeof(path), "%s/bench_agg_week.db", dir);
    /* BENCH_AGG_KEEP=1 keeps the week's store and reuses it next time (the fill takes minutes). */
    bool keep = getenv("BENCH_AGG_KEEP") != NULL;
    if (!keep || access(path, F_OK) != 0) {
        rm_store(path);
        fill_week(path);
    } else {
        /* a kept store of an older schema is migrated by the writer, as the service does */
        ph_agg_config cfg;
        ph_agg_config_default(&cfg);
        ph_agg *agg = NULL;
        double w0 = wall_ms();
        if (ph_agg_new(&agg, &cfg, path, err, sizeof(err)) != PH_OK)
            die("open", err);
        ph_agg_destroy(agg);
        printf("kept store opened by the writer in %.0f ms\n", wall_ms() - w0);
    }
    ph_agg_reader *r = NULL;
    if (ph_agg_reader_new(&r, path, err, sizeof(err)) != PH_OK)
        die("reader", err);
    int64_t from = T0, to = T0 + 7 * DAY;
    ph_agg_filter app = {.app = apps[3]}, one = {.app = apps[3], .model = models[4]};
    printf("queries over 7 days (20 runs each, wall time):\n");
    time_query(r, "7 d, step 1h, all traffic (hour cells)", from, to, HOUR, NULL, 0);
    time_query(r, "7 d, step 1h, app=app3", from, to, HOUR, &app, 0);
    time_query(r, "7 d, step 1h, app=app3 model=model4", from, to, HOUR, &one, 0);
    time_query(r, "7 d, step 1h, group by app", from, to, HOUR, NULL, PH_AGG_BY_APP);
    time_query(r, "7 d, step 1d, group by app and model", from, to, DAY, NULL,
               PH_AGG_BY_APP | PH_AGG_BY_MODEL);
    time_query(r, "7 d, step 1m, all traffic (minute cells)", from, to, MIN_MS, NULL, 0);
    time_query(r, "7 d, step 1m, app=app3 model=model4", from, to, MIN_MS, &one, 0);
    time_query(r, "1 d, step 1m, all traffic", to - DAY, to, MIN_MS, NULL, 0);
    time_query(r, "6 h, step 1m, group by app", to - 6 * HOUR, to, MIN_MS, NULL, PH_AGG_BY_APP);
    time_query(r, "7 d, step 1m, app=app3 (its rollup series)", from, to, MIN_MS, &app, 0);
    ph_agg_reader_destroy(r);
    if (!keep)
        rm_store(path);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    const char *dir = argc > 2 ? argv[2] : "/tmp";
    bool normal = argc > 3 && strcmp(argv[3], "normal") == 0;
    for (int i = 0; i < APPS; i++)
        snprintf(apps[i], sizeof(apps[i]), "app%d", i);
    for (int i = 0; i < MODELS; i++)
        snprintf(models[i], sizeof(models[i]), "model%d", i);
    for (int i = 0; i < EVALS; i++)
        snprintf(evaluators[i], sizeof(evaluators[i]), "ev%d", i);
    phase_adds(dir, n, !normal);
    if (n > 0 && !getenv("BENCH_AGG_NO_QUERIES"))
        phase_queries(dir);
    return 0;
}
