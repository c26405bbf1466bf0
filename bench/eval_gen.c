/* Produces N synthetic Evaluation records to a topic, for the aggregator's benchmark: distinct
 * record ids, 20 apps x 10 models x 10 evaluators, scores, labels and pass/fail, record times
 * spread over the SPREAD milliseconds before now (default 120000: evaluations a live pipeline
 * writes, inside the aggregator's allowed lateness), as pharos-evaluator would write them.
 *
 *   build/bench/eval_gen BROKERS TOPIC N [SPREAD_MS]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ph_avro.h"
#include "ph_error.h"
#include "ph_kafka.h"
#include "ph_util.h"

static long failed;

static void on_delivery(void *msg_opaque, rd_kafka_resp_err_t err, const rd_kafka_message_t *rkm,
                        void *arg)
{
    (void)msg_opaque;
    (void)rkm;
    (void)arg;
    if (err)
        failed++;
}

int main(int argc, char **argv)
{
    char errstr[PH_ERRSTR_SIZE];
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: eval_gen BROKERS TOPIC N [SPREAD_MS]\n");
        return 2;
    }
    long n = atol(argv[3]);
    int64_t spread = argc == 5 ? atoll(argv[4]) : 120000;
    if (spread <= 0)
        spread = 1;
    ph_codec *codec = NULL;
    ph_avro_encoder *enc = NULL;
    ph_kafka_producer *p = NULL;
    avro_value_t v;
    ph_kafka_producer_config pc = {.brokers = argv[1], .on_delivery = on_delivery};
    if (ph_codec_new(&codec, errstr, sizeof(errstr)) ||
        ph_avro_encoder_new(&enc, codec, errstr, sizeof(errstr)) ||
        ph_codec_value_new(codec, PH_SCHEMA_EVALUATION, &v) ||
        ph_kafka_producer_new(&p, &pc, errstr, sizeof(errstr))) {
        fprintf(stderr, "eval_gen: %s\n", errstr);
        return 1;
    }
    static const char *const labels[] = {"full_compliance", "partial_refusal", "full_refusal"};
    int64_t now = ph_now_ms();
    for (long i = 0; i < n; i++) {
        char rid[64], app[16], model[16], evaluator[16];
        long rec = i / 10;
        snprintf(rid, sizeof(rid), "bench-%ld", rec);
        snprintf(app, sizeof(app), "app-%ld", rec % 20);
        snprintf(model, sizeof(model), "model-%ld", (rec / 20) % 10);
        snprintf(evaluator, sizeof(evaluator), "eval-%ld", i % 10);
        int64_t t = now - spread + (rec * 7919) % spread;
        double score = (double)((rec * 31 + i % 10) % 100) / 100.0;
        avro_value_reset(&v);
        const void *buf;
        size_t len;
        errstr[0] = '\0';
        if (ph_avro_set_null(&v, "session_id") || ph_avro_set_null(&v, "trace_id") ||
            ph_avro_set_null(&v, "explanation") || ph_avro_set_null(&v, "cost_usd") ||
            ph_avro_set_null(&v, "tokens") || ph_avro_set_string(&v, "record_id", rid) ||
            ph_avro_set_string(&v, "app", app) ||
            ph_avro_set_string(&v, "environment", "production") ||
            ph_avro_set_string(&v, "model", model) ||
            ph_avro_set_string(&v, "evaluator", evaluator) ||
            ph_avro_set_string(&v, "evaluator_version", "1.0") ||
            ph_avro_set_enum(&v, "status", "OK") || ph_avro_set_double(&v, "score", score) ||
            ph_avro_set_string(&v, "label", labels[rec % 3]) ||
            ph_avro_set_bool(&v, "passed", score >= 0.2) ||
            ph_avro_set_long(&v, "record_time", t) || ph_avro_set_long(&v, "ingest_time", t) ||
            ph_avro_set_long(&v, "eval_time", t + 1500 + rec % 1000) ||
            ph_avro_encode(enc, PH_SCHEMA_EVALUATION, &v, &buf, &len, errstr, sizeof(errstr))) {
            fprintf(stderr, "eval_gen: cannot build record %ld: %s\n", i, errstr);
            return 1;
        }
        if (ph_kafka_produce_wait(p, argv[2], rid, strlen(rid), buf, len, NULL, 0, NULL, 60000,
                                  errstr, sizeof(errstr))) {
            fprintf(stderr, "eval_gen: %s\n", errstr);
            return 1;
        }
    }
    if (ph_kafka_producer_flush(p, 120000, NULL) || failed) {
        fprintf(stderr, "eval_gen: %ld not delivered\n", failed);
        return 1;
    }
    ph_kafka_producer_destroy(p);
    avro_value_decref(&v);
    ph_avro_encoder_destroy(enc);
    ph_codec_destroy(codec);
    printf("produced %ld evaluations to %s\n", n, argv[2]);
    return 0;
}
