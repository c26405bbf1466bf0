/* judge_bench: verdicts per second from one process and one thread, against an
 * OpenAI-compatible server that is already running (it starts nothing itself).
 *
 *   python3 tests/judge_server.py --port 18080 --delay-ms 200 &
 *   build/bench/judge_bench --url=http://127.0.0.1:18080/v1 --records=5000 --inflight=256
 *
 * Submits --records distinct records (one criterion each, so no verdict is cached or repeated),
 * keeps the judge's queue full, and reports verdicts/s, requests in flight (max and mean over
 * the run) and the latency of a verdict. Exits 1 when any result is not OK. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"
#include "ph_judge.h"
#include "ph_log.h"
#include "ph_util.h"

typedef struct bench {
    size_t ok, errors, skipped;
    double *latency; /* ms, per OK verdict */
    size_t nlatency;
    char first_error[PH_EVAL_EXPLANATION_MAX];
} bench;

static void on_result(void *opaque, const ph_eval_result *r, void *arg)
{
    bench *b = arg;
    if (r->status == PH_EVAL_OK) {
        b->ok++;
        for (size_t i = 0; i < r->nvalues; i++)
            if (strcmp(r->values[i].name, "latency_ms") == 0)
                b->latency[b->nlatency++] = r->values[i].value;
    } else {
        if (!b->errors && !b->skipped)
            snprintf(b->first_error, sizeof(b->first_error), "%s", r->explanation);
        b->errors += r->status == PH_EVAL_ERROR;
        b->skipped += r->status == PH_EVAL_SKIPPED;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=')
            return argv[i] + n + 1;
    return def;
}

int main(int argc, char **argv)
{
    const char *url = arg(argc, argv, "--url", NULL);
    long records = atol(arg(argc, argv, "--records", "5000"));
    long inflight = atol(arg(argc, argv, "--inflight", "256"));
    if (!url || records <= 0 || inflight <= 0) {
        fprintf(stderr, "usage: judge_bench --url=http://127.0.0.1:PORT/v1 [--records=5000] "
                        "[--inflight=256]\n(start tests/judge_server.py --delay-ms 200 first)\n");
        return 2;
    }
    ph_log_set_level(PH_LOG_WARN);
    char config[512], errstr[PH_ERRSTR_SIZE];
    snprintf(config, sizeof(config),
             "{\"endpoint\":\"%s\",\"model\":\"bench\",\"max_inflight\":%ld,"
             "\"queue_capacity\":%ld,\"timeout_ms\":10000,\"criteria\":[\"relevance\"]}",
             url, inflight, 2 * inflight);
    json_error_t e;
    json_t *cfg = json_loads(config, 0, &e);
    ph_judge *j = NULL;
    if (!cfg || ph_judge_new(&j, cfg, errstr, sizeof(errstr)) != PH_OK) {
        fprintf(stderr, "judge_bench: %s\n", cfg ? errstr : e.text);
        json_decref(cfg);
        return 2;
    }
    json_decref(cfg);
    bench b = {0};
    b.latency = calloc((size_t)records, sizeof(double));
    ph_eval_message msgs[1];
    msgs[0].role = (ph_str){"user", 4};
    msgs[0].content = (ph_str){"What is the refund window for orders?", 37};
    char id[32], output[96];
    double inflight_sum = 0;
    size_t samples = 0;
    long submitted = 0;
    int64_t start = ph_mono_ms();
    while (submitted < records || ph_judge_pending(j) > 0) {
        while (submitted < records) {
            ph_eval_record rec;
            memset(&rec, 0, sizeof(rec));
            int n = snprintf(id, sizeof(id), "bench-%ld", submitted);
            rec.record_id = (ph_str){id, (size_t)n};
            rec.app = rec.environment = rec.model = (ph_str){"", 0};
            rec.messages = msgs;
            rec.nmessages = 1;
            n = snprintf(output, sizeof(output), "Orders can be refunded within 30 days (#%ld).",
                         submitted);
            rec.output = (ph_str){output, (size_t)n};
            size_t nres;
            if (ph_judge_submit(j, &rec, NULL, 0, NULL, &nres) != PH_OK)
                break; /* PH_EQUEUEFULL: poll, then go on */
            submitted++;
        }
        ph_judge_poll(j, 10, on_result, &b);
        ph_judge_stats st;
        ph_judge_get_stats(j, &st);
        inflight_sum += (double)st.inflight;
        samples++;
    }
    double secs = (double)(ph_mono_ms() - start) / 1000.0;
    ph_judge_stats st;
    ph_judge_get_stats(j, &st);
    qsort(b.latency, b.nlatency, sizeof(double), cmp_double);
    double p50 = b.nlatency ? b.latency[b.nlatency / 2] : 0;
    double p99 = b.nlatency ? b.latency[(size_t)((double)b.nlatency * 0.99)] : 0;
    printf("records %ld: %zu ok, %zu errors, %zu skipped in %.2f s\n", records, b.ok, b.errors,
           b.skipped, secs);
    printf("verdicts/s %.0f\n", (double)b.ok / secs);
    printf("in flight: max %zu, mean %.0f (max_inflight %ld)\n", st.max_inflight_seen,
           samples ? inflight_sum / (double)samples : 0, inflight);
    printf("verdict latency: p50 %.0f ms, p99 %.0f ms; requests %llu (%llu retries)\n", p50, p99,
           (unsigned long long)st.requests, (unsigned long long)st.retries);
    if (b.errors || b.skipped)
        printf("first failure: %s\n", b.first_error);
    ph_judge_destroy(j, on_result, &b);
    free(b.latency);
    return b.ok == (size_t)records ? 0 : 1;
}
