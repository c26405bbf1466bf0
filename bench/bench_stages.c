/* Per-record CPU cost of each stage a log record goes through, on one thread, over the shared
 * llm_logs.jsonl: the ingestor's syntax check (lib/ingest), the validator's rules and mapping
 * (lib/record), the Avro encoding (lib/avro). Times are this thread's CPU time, so a busy
 * machine skews them little; each stage is measured RUNS times and the median printed.
 *
 *   build/bench/bench_stages [FILE.jsonl] [RUNS]       (defaults: $PHAROS_DATA_DIR/llm_logs.jsonl,
 * 5)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ph_avro.h"
#include "ph_body.h"
#include "ph_error.h"
#include "ph_record.h"

typedef struct corpus {
    char **lines;
    size_t *lens;
    size_t n;
    size_t bytes;
} corpus;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int load(const char *path, corpus *c)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0, alloc = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        while (got > 0 && line[got - 1] == '\n')
            got--;
        if (c->n == alloc) {
            alloc = alloc ? alloc * 2 : 1024;
            c->lines = realloc(c->lines, alloc * sizeof(char *));
            c->lens = realloc(c->lens, alloc * sizeof(size_t));
        }
        c->lines[c->n] = strndup(line, (size_t)got);
        c->lens[c->n++] = (size_t)got;
        c->bytes += (size_t)got;
    }
    free(line);
    fclose(f);
    return 0;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

enum stage { SYNTAX, RULES, ENCODE, ALL, NSTAGES };
static const char *const names[NSTAGES] = {
    "ingestor syntax check (yajl events)", "validator rules + mapping to LlmLog",
    "Avro single-object encoding", "validator total (rules + encoding)"};

int main(int argc, char **argv)
{
    char errstr[PH_ERRSTR_SIZE];
    const char *data = getenv("PHAROS_DATA_DIR");
    char def[4096];
    snprintf(def, sizeof(def), "%s/llm_logs.jsonl", data ? data : "../shared/data");
    const char *path = argc > 1 ? argv[1] : def;
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    corpus c = {0};
    if (load(path, &c) || c.n == 0) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    ph_codec *codec = NULL;
    ph_avro_encoder *enc = NULL;
    ph_rules *rules = NULL;
    avro_value_t llmlog;
    if (ph_codec_new(&codec, errstr, sizeof(errstr)) ||
        ph_avro_encoder_new(&enc, codec, errstr, sizeof(errstr)) ||
        ph_rules_new(&rules, NULL, errstr, sizeof(errstr)) ||
        ph_codec_value_new(codec, PH_SCHEMA_LLM_LOG, &llmlog)) {
        fprintf(stderr, "setup: %s\n", errstr);
        return 1;
    }
    ph_issues fatal, warnings;
    ph_issues_init(&fatal);
    ph_issues_init(&warnings);
    ph_raw_meta meta = {
        .fallback_record_id = "bench", .ingest_time_ms = 1, .ingest_source = "http"};

    printf("%zu records, %.1f MB, %d runs, median per stage (one thread, CPU time)\n", c.n,
           (double)c.bytes / 1e6, runs);
    for (int s = 0; s < NSTAGES; s++) {
        double *rates = calloc((size_t)runs, sizeof(double));
        for (int r = 0; r < runs; r++) {
            double t0 = cpu_now();
            for (size_t i = 0; i < c.n; i++) {
                const void *buf;
                size_t len;
                if (s == SYNTAX) {
                    ph_body b;
                    ph_body_error e;
                    if (ph_body_parse(c.lines[i], c.lens[i], SIZE_MAX, &b, &e) == 0)
                        ph_body_free(&b);
                    continue;
                }
                /* ENCODE alone maps one record once, then encodes it n times. */
                if (s != ENCODE || i == 0) {
                    ph_issues_clear(&fatal);
                    ph_issues_clear(&warnings);
                    ph_record_from_json(rules, c.lines[i], c.lens[i], &meta, &llmlog, &fatal,
                                        &warnings);
                }
                if (s == ENCODE || s == ALL)
                    ph_avro_encode(enc, PH_SCHEMA_LLM_LOG, &llmlog, &buf, &len, errstr,
                                   sizeof(errstr));
            }
            rates[r] = (double)c.n / (cpu_now() - t0);
        }
        qsort(rates, (size_t)runs, sizeof(double), cmp);
        printf("  %-40s %9.0f records/s  (%.1f us/record)\n", names[s], rates[runs / 2],
               1e6 / rates[runs / 2]);
        free(rates);
    }
    avro_value_decref(&llmlog);
    ph_issues_free(&fatal);
    ph_issues_free(&warnings);
    ph_rules_destroy(rules);
    ph_avro_encoder_destroy(enc);
    ph_codec_destroy(codec);
    for (size_t i = 0; i < c.n; i++)
        free(c.lines[i]);
    free(c.lines);
    free(c.lens);
    return 0;
}
