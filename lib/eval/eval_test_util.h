/* Helpers shared by the tests of the evaluator kinds (test_ev_<kind>.c). Test code: failures
 * end the current cmocka test. */
#ifndef EVAL_TEST_UTIL_H
#define EVAL_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ph_eval.h"

/* llm_logs.jsonl (PHAROS_DATA_DIR, else ../shared/data) as evaluator records. */
typedef struct data_set {
    json_t **roots; /* one parsed line each, kept alive: the records borrow its strings */
    ph_eval_record *recs;
    const char **sources;
    size_t n;
} data_set;

/* A file of the shared data (PHAROS_DATA_DIR, else ../shared/data beside the sources), or NULL
 * when it is absent (the caller skips). */
FILE *data_open(const char *name);
/* Loads every line; returns false when the file is absent (the caller skips). */
bool data_load(data_set *ds);
void data_free(data_set *ds);
/* This thread's CPU time, in seconds. */
double cpu_seconds(void);
/* PHAROS_EVAL_PASSES, default 1: how often data_time repeats its timed pass. */
int data_passes(void);
/* CPU time of kind's evaluate() per record over ds (cold and hot), printed with the label. */
void data_time(const ph_evaluator_kind *kind, const void *st, const data_set *ds,
               const char *label);

/* The cmocka fixture of a kind's tests: an instance with the default config and a sink whose
 * results are named name (version "1.test"). NULL when create() fails. */
typedef struct eval_fixture {
    const ph_evaluator_kind *kind;
    void *st;
    ph_eval_sink sink;
} eval_fixture;
eval_fixture *eval_fixture_new(const ph_evaluator_kind *kind, const char *name);
void eval_fixture_free(eval_fixture *f);

/* An instance of kind from a JSON config; fails the test when create() refuses it. */
void *eval_test_make(const ph_evaluator_kind *kind, const char *json);
/* create() must refuse json with PH_EINVAL, and its message must contain why. */
void eval_test_refuses(const ph_evaluator_kind *kind, const char *json, const char *why);
/* A record with these messages and output (strings borrowed). */
ph_eval_record record(ph_eval_message *msgs, size_t n, const char *output);
/* The value named name of r; fails the test when there is none. */
double value(const ph_eval_result *r, const char *name);

#endif
