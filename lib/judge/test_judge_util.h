/* Helpers for the judge tests: the OpenAI-compatible test server (tests/judge_server.py) as a
 * child process, records built from C strings, and a collector of delivered results. */
#ifndef PH_TEST_JUDGE_UTIL_H
#define PH_TEST_JUDGE_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ph_judge.h"

typedef struct jsrv {
    pid_t pid;
    int port;
    char url[64]; /* the endpoint: http://127.0.0.1:<port>/v1 */
} jsrv;

/* Starts tests/judge_server.py on a free port (python from $PHAROS_PYTHON, else python3; the
 * script from $PHAROS_SOURCE_DIR). The child dies with the test process. Returns 0 or -1. */
int jsrv_start(jsrv *s, int delay_ms);
void jsrv_stop(jsrv *s);
/* GET /stats (caller decrefs). */
json_t *jsrv_stats(const jsrv *s);
/* Requests the server received for a marker id. */
int jsrv_count(const jsrv *s, const char *id);
int jsrv_max_inflight(const jsrv *s);
/* POST /control and POST /reset. */
void jsrv_control(const jsrv *s, int delay_ms, const char *marker);
void jsrv_reset(const jsrv *s);

/* A record from C strings (borrowed: they must outlive the record). context may be NULL. */
typedef struct trec {
    ph_eval_message msgs[2];
    ph_eval_passage ctx[1];
    ph_eval_record rec;
} trec;
void trec_init(trec *t, const char *id, const char *input, const char *output, const char *context);
ph_str tstr(const char *s);

/* Results as delivered, with the opaque they came with (an int id). */
typedef struct got_result {
    intptr_t id;
    ph_eval_result r;
} got_result;
typedef struct collector {
    got_result *items;
    size_t n, cap;
} collector;
void collect(void *opaque, const ph_eval_result *result, void *arg);
void collector_free(collector *c);
/* Results for id (count), and the first of them. */
size_t collector_count(const collector *c, intptr_t id);
const ph_eval_result *collector_find(const collector *c, intptr_t id, const char *evaluator);

/* Polls until nothing is pending or timeout_ms passed; returns the elapsed milliseconds. */
int64_t drain(ph_judge *j, collector *c, int timeout_ms);

/* A judge from a config with "%s" standing for the endpoint URL (asserts on failure). */
ph_judge *judge_from(const char *config_fmt, const char *url);

#endif
