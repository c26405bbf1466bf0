/* Throughput of the cheap evaluator set per core: what one pharos-evaluator worker thread does
 * for a record, without Kafka, on the shared llm_logs.jsonl. Every line is first mapped to an
 * LlmLog and encoded as pharos.logs.valid holds it (not timed); then, on one thread, measured in
 * this thread's CPU time, RUNS times each, the median printed:
 *
 *   decode      Avro single-object decode and the evaluators' record view (ph_eval_avro)
 *   evaluate    decode + ph_eval_set_run with every instance of the set
 *   worker      evaluate + every result encoded as an Evaluation (ph_eval_encode): the whole
 *               work of a worker thread except handing the bytes to librdkafka
 *   <instance>  decode + that instance alone, minus decode: its own cost per record
 *
 * The set: --evaluators=FILE, else every kind of the registry, with a sample configuration for
 * the kinds that need one (regex, words) and {} for the others.
 *
 *   build/bench/bench_eval [FILE.jsonl] [RUNS] [--evaluators=FILE]
 *       (defaults: $PHAROS_DATA_DIR/llm_logs.jsonl, 5)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ph_avro.h"
#include "ph_error.h"
#include "ph_eval.h"
#include "ph_eval_avro.h"
#include "ph_eval_config.h"
#include "ph_record.h"
#include "ph_util.h"

typedef struct corpus {
    void **msgs; /* single-object encoded LlmLog */
    size_t *lens;
    size_t n;
    size_t bytes;
} corpus;

typedef struct ctx {
    ph_codec *codec;
    ph_avro_decoder *dec;
    ph_eval_encoder *enc;
    ph_eval_scratch scratch;
    ph_eval_sink sink;
    size_t results;
} ctx;

enum { STAGE_DECODE, STAGE_EVALUATE, STAGE_WORKER };

/* Sample configurations for the kinds that refuse {} (their docs: docs/evaluators/<kind>.md). */
static const char *const samples[][2] = {
    {"regex", "{\"patterns\": [{\"name\": \"no_sql\", \"pattern\": "
              "\"(?i)\\\\bselect\\\\b[^;]{0,200}\\\\bfrom\\\\b\"},"
              " {\"name\": \"email\", \"pattern\": "
              "\"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\\\.[A-Za-z]{2,}\"}]}"},
    {"words", "{\"include\": [\"refund\", \"password\", \"cancel\", \"account\", \"as an AI\"]}"},
};

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int load(const char *path, ph_codec *codec, corpus *c)
{
    char errstr[PH_ERRSTR_SIZE];
    ph_rules *rules = NULL;
    ph_avro_encoder *enc = NULL;
    avro_value_t llmlog;
    ph_issues fatal, warnings;
    FILE *f = fopen(path, "r");
    if (!f || ph_rules_new(&rules, NULL, errstr, sizeof(errstr)) ||
        ph_avro_encoder_new(&enc, codec, errstr, sizeof(errstr)) ||
        ph_codec_value_new(codec, PH_SCHEMA_LLM_LOG, &llmlog)) {
        fprintf(stderr, "bench_eval: cannot read %s\n", path);
        return -1;
    }
    ph_issues_init(&fatal);
    ph_issues_init(&warnings);
    char *line = NULL;
    size_t cap = 0, alloc = 0;
    ssize_t got;
    long long lineno = 0;
    while ((got = getline(&line, &cap, f)) > 0) {
        char id[32];
        snprintf(id, sizeof(id), "line:%lld", ++lineno);
        ph_raw_meta meta = {.fallback_record_id = id, .ingest_time_ms = ph_now_ms()};
        ph_issues_clear(&fatal);
        ph_issues_clear(&warnings);
        const void *buf;
        size_t len;
        if (ph_record_from_json(rules, line, (size_t)got, &meta, &llmlog, &fatal, &warnings) ||
            ph_avro_encode(enc, PH_SCHEMA_LLM_LOG, &llmlog, &buf, &len, errstr, sizeof(errstr)))
            continue;
        if (c->n == alloc) {
            alloc = alloc ? alloc * 2 : 1024;
            c->msgs = realloc(c->msgs, alloc * sizeof(*c->msgs));
            c->lens = realloc(c->lens, alloc * sizeof(*c->lens));
        }
        c->msgs[c->n] = malloc(len);
        memcpy(c->msgs[c->n], buf, len);
        c->lens[c->n++] = len;
        c->bytes += len;
    }
    free(line);
    fclose(f);
    ph_issues_free(&fatal);
    ph_issues_free(&warnings);
    avro_value_decref(&llmlog);
    ph_avro_encoder_destroy(enc);
    ph_rules_destroy(rules);
    return 0;
}

/* One pass over the corpus; returns the CPU seconds it took. */
static double pass(ctx *x, const ph_eval_set *set, const corpus *c, int stage)
{
    char errstr[PH_ERRSTR_SIZE];
    double t0 = cpu_now();
    x->results = 0;
    for (size_t i = 0; i < c->n; i++) {
        avro_value_t *v = NULL;
        ph_eval_record rec;
        if (ph_avro_decode(x->dec, PH_SCHEMA_LLM_LOG, c->msgs[i], c->lens[i], &v, errstr,
                           sizeof(errstr)) ||
            ph_eval_record_from_avro(v, &x->scratch, &rec, errstr, sizeof(errstr))) {
            fprintf(stderr, "bench_eval: %s\n", errstr);
            exit(1);
        }
        if (stage == STAGE_DECODE)
            continue;
        ph_eval_sink_reset(&x->sink);
        ph_eval_set_run(set, &rec, &x->sink);
        x->results += x->sink.n;
        if (stage == STAGE_EVALUATE)
            continue;
        for (size_t k = 0; k < x->sink.n; k++) {
            const void *buf;
            size_t len;
            if (ph_eval_encode(x->enc, &x->sink.results[k], &rec, 1, &buf, &len, errstr,
                               sizeof(errstr))) {
                fprintf(stderr, "bench_eval: %s\n", errstr);
                exit(1);
            }
        }
    }
    return cpu_now() - t0;
}

static double median(ctx *x, const ph_eval_set *set, const corpus *c, int stage, int runs)
{
    double *t = calloc((size_t)runs, sizeof(double));
    for (int r = 0; r < runs; r++)
        t[r] = pass(x, set, c, stage);
    qsort(t, (size_t)runs, sizeof(double), cmp);
    double m = t[runs / 2];
    free(t);
    return m;
}

static ph_eval_set *load_json(const char *text, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    ph_eval_set *set = NULL;
    json_t *root = json_loads(text, 0, &jerr);
    if (!root) {
        snprintf(errstr, errstr_size, "%s", jerr.text);
        return NULL;
    }
    if (ph_eval_set_from_json(&set, root, NULL, errstr, errstr_size))
        set = NULL;
    json_decref(root);
    return set;
}

/* Every registry kind, with a sample config where {} is refused. */
static json_t *all_kinds(void)
{
    char errstr[PH_ERRSTR_SIZE];
    json_t *ev = json_object();
    const ph_evaluator_kind *k;
    for (size_t i = 0; (k = ph_eval_kind_at(i)); i++) {
        json_t *config = json_object();
        for (size_t s = 0; s < sizeof(samples) / sizeof(samples[0]); s++)
            if (strcmp(samples[s][0], k->name) == 0) {
                json_decref(config);
                config = json_loads(samples[s][1], 0, NULL);
            }
        /* keep only what loads: a kind whose config format changed is left out, loudly */
        json_t *one = json_pack("{s:{s:O}}", "evaluators", k->name, config);
        char *text = json_dumps(one, 0);
        ph_eval_set *set = load_json(text, errstr, sizeof(errstr));
        if (set)
            json_object_set(ev, k->name, config);
        else
            fprintf(stderr, "bench_eval: %s left out: %s\n", k->name, errstr);
        ph_eval_set_destroy(set);
        free(text);
        json_decref(one);
        json_decref(config);
    }
    return json_pack("{s:o}", "evaluators", ev);
}

int main(int argc, char **argv)
{
    char errstr[PH_ERRSTR_SIZE], def[4096];
    const char *dir = getenv("PHAROS_DATA_DIR");
    const char *path = NULL, *evaluators = NULL;
    int runs = 5;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--evaluators=", 13) == 0)
            evaluators = argv[i] + 13;
        else if (!path)
            path = argv[i];
        else
            runs = atoi(argv[i]);
    }
    snprintf(def, sizeof(def), "%s/llm_logs.jsonl", dir ? dir : "../shared/data");
    path = path ? path : def;
    runs = runs > 0 ? runs : 5;

    ctx x;
    memset(&x, 0, sizeof(x));
    corpus c = {0};
    json_t *config = NULL;
    ph_eval_set *set = NULL;
    if (ph_codec_new(&x.codec, errstr, sizeof(errstr)) ||
        ph_avro_decoder_new(&x.dec, x.codec, errstr, sizeof(errstr)) ||
        ph_eval_encoder_new(&x.enc, x.codec, errstr, sizeof(errstr))) {
        fprintf(stderr, "bench_eval: %s\n", errstr);
        return 1;
    }
    if (load(path, x.codec, &c) || c.n == 0)
        return 1;
    if (evaluators) {
        if (ph_eval_set_load(&set, evaluators, errstr, sizeof(errstr))) {
            fprintf(stderr, "bench_eval: %s\n", errstr);
            return 1;
        }
    } else {
        config = all_kinds();
        char *text = json_dumps(config, JSON_COMPACT);
        set = load_json(text, errstr, sizeof(errstr));
        free(text);
        if (!set) {
            fprintf(stderr, "bench_eval: %s\n", errstr);
            return 1;
        }
    }
    printf("%zu records (%.1f MB as Avro) from %s, median of %d runs, one thread, CPU time\n", c.n,
           (double)c.bytes / 1e6, path, runs);
    double t_dec = median(&x, set, &c, STAGE_DECODE, runs);
    double t_eval = median(&x, set, &c, STAGE_EVALUATE, runs);
    size_t results = x.results;
    double t_work = median(&x, set, &c, STAGE_WORKER, runs);
    printf("%-24s %10s %12s\n", "stage", "us/record", "records/s");
    printf("%-24s %10.2f %12.0f\n", "decode", t_dec * 1e6 / (double)c.n, (double)c.n / t_dec);
    printf("%-24s %10.2f %12.0f\n", "evaluate (all)", t_eval * 1e6 / (double)c.n,
           (double)c.n / t_eval);
    printf("%-24s %10.2f %12.0f   (%.1f evaluations/record)\n", "worker (all + encode)",
           t_work * 1e6 / (double)c.n, (double)c.n / t_work, (double)results / (double)c.n);
    /* each instance alone */
    ph_eval_instance_info info;
    for (size_t i = 0; ph_eval_set_entry(set, i, &info) == PH_OK; i++) {
        if (info.match_app || info.match_environment)
            continue;
        json_t *one = json_pack("{s:{s:O}}", "evaluators", info.name, info.config);
        json_object_set_new(json_object_get(json_object_get(one, "evaluators"), info.name), "kind",
                            json_string(info.kind));
        char *text = json_dumps(one, JSON_COMPACT);
        ph_eval_set *alone = load_json(text, errstr, sizeof(errstr));
        if (alone) {
            double t = median(&x, alone, &c, STAGE_EVALUATE, runs) - t_dec;
            printf("  %-22s %10.2f %12.0f\n", info.name, t * 1e6 / (double)c.n,
                   t > 0 ? (double)c.n / t : 0.0);
        }
        ph_eval_set_destroy(alone);
        free(text);
        json_decref(one);
    }
    ph_eval_set_destroy(set);
    json_decref(config);
    for (size_t i = 0; i < c.n; i++)
        free(c.msgs[i]);
    free(c.msgs);
    free(c.lens);
    ph_eval_scratch_free(&x.scratch);
    ph_eval_sink_free(&x.sink);
    ph_avro_decoder_destroy(x.dec);
    ph_eval_encoder_destroy(x.enc);
    ph_codec_destroy(x.codec);
    return 0;
}
