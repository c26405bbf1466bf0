/* Helpers shared by the tests of the evaluator kinds (test_ev_<kind>.c): the shared
 * llm_logs.jsonl as evaluator records, a timed pass over it, and creating an instance from JSON. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval_test_util.h"
#include "ph_error.h"

static ph_str jstr(const json_t *v)
{
    ph_str s = {"", 0};
    if (json_is_string(v)) {
        s.s = json_string_value(v);
        s.len = json_string_length(v);
    }
    return s;
}

/* Loads every line; returns false when the file is absent (the caller skips). */
FILE *data_open(const char *name)
{
    const char *dir = getenv("PHAROS_DATA_DIR"), *src = getenv("PHAROS_SOURCE_DIR");
    char path[4096];
    if (dir && *dir)
        snprintf(path, sizeof(path), "%s/%s", dir, name);
    else
        snprintf(path, sizeof(path), "%s/../shared/data/%s", src ? src : ".", name);
    return fopen(path, "r");
}

bool data_load(data_set *ds)
{
    char *line = NULL;
    size_t cap = 0, cap_recs = 0;
    ssize_t len;
    FILE *f = data_open("llm_logs.jsonl");
    memset(ds, 0, sizeof(*ds));
    if (!f)
        return false;
    while ((len = getline(&line, &cap, f)) > 0) {
        json_error_t jerr;
        json_t *root = json_loadb(line, (size_t)len, JSON_ALLOW_NUL, &jerr);
        assert_non_null(root);
        if (ds->n == cap_recs) {
            cap_recs = cap_recs ? cap_recs * 2 : 1024;
            ds->roots = realloc(ds->roots, cap_recs * sizeof(*ds->roots));
            ds->recs = realloc(ds->recs, cap_recs * sizeof(*ds->recs));
            ds->sources = realloc(ds->sources, cap_recs * sizeof(*ds->sources));
            assert_true(ds->roots && ds->recs && ds->sources);
        }
        const json_t *jm = json_object_get(root, "messages");
        size_t nm = json_array_size(jm);
        ph_eval_message *m = calloc(nm ? nm : 1, sizeof(*m));
        assert_non_null(m);
        for (size_t i = 0; i < nm; i++) {
            m[i].role = jstr(json_object_get(json_array_get(jm, i), "role"));
            m[i].content = jstr(json_object_get(json_array_get(jm, i), "content"));
        }
        ph_eval_record *rec = &ds->recs[ds->n];
        memset(rec, 0, sizeof(*rec));
        rec->record_id = rec->trace_id = rec->app = rec->environment = rec->model = rec->route =
            (ph_str){"", 0};
        rec->session_id = jstr(json_object_get(root, "session_id"));
        rec->turn = (int)json_integer_value(json_object_get(root, "turn"));
        rec->messages = m;
        rec->nmessages = nm;
        rec->output = jstr(json_object_get(root, "response"));
        rec->context = NULL;
        ds->sources[ds->n] = json_string_value(json_object_get(root, "source"));
        ds->roots[ds->n++] = root;
    }
    free(line);
    fclose(f);
    return true;
}

void data_free(data_set *ds)
{
    for (size_t i = 0; i < ds->n; i++) {
        free((void *)ds->recs[i].messages);
        json_decref(ds->roots[i]);
    }
    free(ds->roots);
    free(ds->recs);
    free(ds->sources);
}

double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int data_passes(void)
{
    const char *p = getenv("PHAROS_EVAL_PASSES");
    int n = p ? atoi(p) : 1;
    return n > 0 ? n : 1;
}

/* CPU time of evaluate() per record over the data set, in microseconds. Cold: each record once
 * per pass, in file order, so its text comes from memory (as for the first evaluator to read a
 * record). Hot: the extra cost of evaluating a record again right away, its text in the cache (as
 * for every later evaluator of the same record). Prints both with the label. */
void data_time(const ph_evaluator_kind *kind, const void *st, const data_set *ds, const char *label)
{
    ph_eval_sink sink;
    char err[PH_ERRSTR_SIZE];
    int passes = data_passes();
    ph_eval_sink_init(&sink);
    sink.current_name = kind->name;
    sink.current_version = "1.test";
    double t0 = cpu_seconds();
    for (int pass = 0; pass < passes; pass++)
        for (size_t i = 0; i < ds->n; i++) {
            ph_eval_sink_reset(&sink);
            if (kind->evaluate(st, &ds->recs[i], &sink, err, sizeof(err)) != 0)
                fail_msg("record %zu: %s", i, err);
        }
    double t1 = cpu_seconds();
    for (int pass = 0; pass < passes; pass++)
        for (size_t i = 0; i < ds->n; i++)
            for (int again = 0; again < 4; again++) {
                ph_eval_sink_reset(&sink);
                if (kind->evaluate(st, &ds->recs[i], &sink, err, sizeof(err)) != 0)
                    fail_msg("record %zu: %s", i, err);
            }
    double t2 = cpu_seconds(), runs = (double)ds->n * passes;
    double cold = (t1 - t0) * 1e6 / runs, hot = ((t2 - t1) - (t1 - t0)) * 1e6 / (3 * runs);
    print_message("%s: cold %.2f us/record (%.0f records/s), hot %.2f us/record (%.0f "
                  "records/s); %d pass(es) over %zu records\n",
                  label, cold, 1e6 / cold, hot, hot > 0 ? 1e6 / hot : 0.0, passes, ds->n);
    ph_eval_sink_free(&sink);
}

eval_fixture *eval_fixture_new(const ph_evaluator_kind *kind, const char *name)
{
    eval_fixture *f = calloc(1, sizeof(*f));
    json_t *cfg = json_object();
    char err[PH_ERRSTR_SIZE];
    if (!f || !cfg || kind->create(&f->st, cfg, err, sizeof(err)) != 0) {
        json_decref(cfg);
        free(f);
        return NULL;
    }
    json_decref(cfg);
    f->kind = kind;
    ph_eval_sink_init(&f->sink);
    f->sink.current_name = name;
    f->sink.current_version = "1.test";
    return f;
}

void eval_fixture_free(eval_fixture *f)
{
    if (!f)
        return;
    f->kind->destroy(f->st);
    ph_eval_sink_free(&f->sink);
    free(f);
}

void *eval_test_make(const ph_evaluator_kind *kind, const char *json)
{
    json_error_t jerr;
    json_t *config = json_loads(json, 0, &jerr);
    char err[PH_ERRSTR_SIZE] = "";
    void *st = NULL;
    if (!config)
        fail_msg("bad test JSON %s: %s", json, jerr.text);
    int rc = kind->create(&st, config, err, sizeof(err));
    json_decref(config);
    if (rc != 0)
        fail_msg("create(%s): %s", json, err);
    return st;
}

/* create() must refuse json; err gets the reason. */
void eval_test_refuses(const ph_evaluator_kind *kind, const char *json, const char *why)
{
    json_error_t jerr;
    char err[PH_ERRSTR_SIZE] = "";
    json_t *config = json_loads(json, 0, &jerr);
    void *st = NULL;
    if (!config)
        fail_msg("bad test JSON %s: %s", json, jerr.text);
    int rc = kind->create(&st, config, err, sizeof(err));
    json_decref(config);
    assert_int_equal(rc, PH_EINVAL);
    assert_null(st);
    if (!strstr(err, why))
        fail_msg("create(%s): \"%s\" does not say \"%s\"", json, err, why);
}

ph_eval_record record(ph_eval_message *msgs, size_t n, const char *output)
{
    ph_eval_record rec;
    memset(&rec, 0, sizeof(rec));
    rec.messages = msgs;
    rec.nmessages = n;
    rec.output = (ph_str){output, strlen(output)};
    return rec;
}

double value(const ph_eval_result *r, const char *name)
{
    for (size_t i = 0; i < r->nvalues; i++)
        if (strcmp(r->values[i].name, name) == 0)
            return r->values[i].value;
    fail_msg("no value %s", name);
    return -1;
}
