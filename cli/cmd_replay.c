/* pharos replay --from=TIME [--to=TIME]: evaluates a past time range of pharos.logs.valid again
 * with the current evaluator set (--evaluators=FILE) and produces the Evaluations to
 * pharos.evals. After a change of an evaluator's code or config, its version changes, so the
 * replayed range gains results under the new version beside the old ones (downstream keys on
 * (record_id, evaluator, version)).
 *
 * The range is found with rd_kafka_offsets_for_times on the records' timestamps (their append
 * time in pharos.logs.valid, i.e. when the validator accepted them): each partition is read by
 * assignment (no consumer group, nothing committed) from the first offset at or after --from up
 * to the first at or after --to (or its end when the replay started). Reads are read_committed,
 * like the evaluator's. A replay that stops half-way is simply run again: duplicates are
 * absorbed downstream. Exit status 0 only when every Evaluation was acknowledged by Kafka. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ph_avro.h"
#include "ph_error.h"
#include "ph_eval.h"
#include "ph_eval_avro.h"
#include "ph_eval_config.h"
#include "ph_kafka.h"
#include "ph_service.h"
#include "ph_util.h"

typedef struct replay {
    ph_cli *cli;
    char topic_in[256];
    char topic_out[256];
    ph_eval_set *set;
    ph_codec *codec;
    ph_avro_decoder *dec;
    ph_eval_encoder *enc;
    ph_eval_scratch scratch;
    ph_eval_sink sink;
    ph_kafka_producer *producer;
    rd_kafka_t *rk;
    int nparts;
    int64_t *end; /* per partition: first offset past the range */
    bool *done;
    int ndone;
    long long records, poison, produced;
    atomic_llong delivered;
    atomic_llong failed;
} replay;

static void on_delivery(void *msg_opaque, rd_kafka_resp_err_t err, const rd_kafka_message_t *rkm,
                        void *arg)
{
    replay *r = arg;
    if (err)
        atomic_fetch_add(&r->failed, 1);
    else
        atomic_fetch_add(&r->delivered, 1);
}

static int produce(replay *r, const rd_kafka_message_t *rkm, const ph_eval_record *rec,
                   const ph_eval_result *res)
{
    char errstr[PH_ERRSTR_SIZE];
    const void *buf;
    size_t len;
    int rc = ph_eval_encode(r->enc, res, rec, ph_now_ms(), &buf, &len, errstr, sizeof(errstr));
    if (rc == PH_OK)
        rc = ph_kafka_produce_wait(r->producer, r->topic_out, rkm->key, rkm->key_len, buf, len,
                                   NULL, 0, NULL, 60000, errstr, sizeof(errstr));
    if (rc) {
        fprintf(stderr, "pharos replay: %s\n", errstr);
        return rc;
    }
    r->produced++;
    return PH_OK;
}

static int evaluate(replay *r, const rd_kafka_message_t *rkm)
{
    char errstr[PH_ERRSTR_SIZE];
    avro_value_t *llmlog = NULL;
    ph_eval_record rec;
    int rc = ph_avro_decode(r->dec, PH_SCHEMA_LLM_LOG, rkm->payload, rkm->len, &llmlog, errstr,
                            sizeof(errstr));
    if (rc == PH_OK)
        rc = ph_eval_record_from_avro(llmlog, &r->scratch, &rec, errstr, sizeof(errstr));
    if (rc == PH_ENOMEM)
        return rc;
    if (rc) {
        /* the same "decode" ERROR the evaluator reports for a poison record */
        char id[320];
        snprintf(id, sizeof(id), "kafka:%s:%" PRId32 ":%" PRId64, r->topic_in, rkm->partition,
                 rkm->offset);
        memset(&rec, 0, sizeof(rec));
        rec.record_id = (ph_str){id, strlen(id)};
        rec.session_id = rec.trace_id = rec.app = rec.environment = rec.model = (ph_str){"", 0};
        ph_eval_result res;
        memset(&res, 0, sizeof(res));
        snprintf(res.evaluator, sizeof(res.evaluator), "decode");
        snprintf(res.version, sizeof(res.version), "1");
        res.status = PH_EVAL_ERROR;
        res.passed = -1;
        ph_eval_explain(&res, "undecodable LlmLog: %s", errstr);
        r->poison++;
        return produce(r, rkm, &rec, &res);
    }
    ph_eval_sink_reset(&r->sink);
    if ((rc = ph_eval_set_run(r->set, &rec, &r->sink)))
        return rc;
    r->records++;
    for (size_t i = 0; i < r->sink.n; i++)
        if ((rc = produce(r, rkm, &rec, &r->sink.results[i])))
            return rc;
    return PH_OK;
}

/* Finds the range of every partition and assigns those with something in it. */
static int assign_range(replay *r, int64_t from, int64_t to, char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *start = NULL, *stop = NULL, *assign = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->rk, r->topic_in, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(r->rk, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    int rc = PH_OK;
    if (err)
        return ph_err(errstr, errstr_size, PH_EKAFKA, "metadata for %s: %s", r->topic_in,
                      rd_kafka_err2str(err));
    if (md->topic_cnt != 1 || md->topics[0].err) {
        rc = ph_err(errstr, errstr_size, PH_ENOENT, "topic %s: %s", r->topic_in,
                    md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not found");
        goto out;
    }
    r->nparts = md->topics[0].partition_cnt;
    r->end = calloc((size_t)r->nparts + 1, sizeof(*r->end));
    r->done = calloc((size_t)r->nparts + 1, sizeof(*r->done));
    start = rd_kafka_topic_partition_list_new(r->nparts);
    stop = rd_kafka_topic_partition_list_new(r->nparts);
    assign = rd_kafka_topic_partition_list_new(r->nparts);
    for (int i = 0; i < r->nparts; i++) {
        int32_t p = md->topics[0].partitions[i].id;
        rd_kafka_topic_partition_list_add(start, r->topic_in, p)->offset = from;
        rd_kafka_topic_partition_list_add(stop, r->topic_in, p)->offset = to;
    }
    if ((err = rd_kafka_offsets_for_times(r->rk, start, 10000)) ||
        (to >= 0 && (err = rd_kafka_offsets_for_times(r->rk, stop, 10000)))) {
        rc = ph_err(errstr, errstr_size, PH_EKAFKA, "offsets for times: %s", rd_kafka_err2str(err));
        goto out;
    }
    for (int i = 0; i < r->nparts; i++) {
        int32_t p = start->elems[i].partition;
        int64_t lo = 0, hi = 0;
        if ((err = rd_kafka_query_watermark_offsets(r->rk, r->topic_in, p, &lo, &hi, 10000))) {
            rc = ph_err(errstr, errstr_size, PH_EKAFKA, "watermarks of %s [%d]: %s", r->topic_in,
                        (int)p, rd_kafka_err2str(err));
            goto out;
        }
        /* -1: no record at or after the time: the range ends (or starts) at the end */
        int64_t b = start->elems[i].offset >= 0 ? start->elems[i].offset : hi;
        int64_t e = to >= 0 && stop->elems[i].offset >= 0 ? stop->elems[i].offset : hi;
        if (p < 0 || p >= r->nparts)
            continue;
        r->end[p] = e;
        if (b >= e) {
            r->done[p] = true;
            r->ndone++;
        } else {
            rd_kafka_topic_partition_list_add(assign, r->topic_in, p)->offset = b;
        }
    }
    if (assign->cnt && (err = rd_kafka_assign(r->rk, assign)))
        rc = ph_err(errstr, errstr_size, PH_EKAFKA, "assign: %s", rd_kafka_err2str(err));
out:
    if (start)
        rd_kafka_topic_partition_list_destroy(start);
    if (stop)
        rd_kafka_topic_partition_list_destroy(stop);
    if (assign)
        rd_kafka_topic_partition_list_destroy(assign);
    rd_kafka_metadata_destroy(md);
    return rc;
}

static void partition_done(replay *r, int32_t p)
{
    if (p >= 0 && p < r->nparts && !r->done[p]) {
        r->done[p] = true;
        r->ndone++;
    }
}

static int setup(replay *r, char *errstr, size_t errstr_size)
{
    ph_cli *cli = r->cli;
    rd_kafka_conf_t *conf = NULL;
    char why[512], group[64], rnd[33];
    int rc;
    ph_topic_name(cli->cfg.topic_prefix, PH_TOPIC_LOGS_VALID, r->topic_in, sizeof(r->topic_in));
    ph_topic_name(cli->cfg.topic_prefix, PH_TOPIC_EVALS, r->topic_out, sizeof(r->topic_out));
    if ((rc = ph_eval_set_load(&r->set, cli->cfg.evaluators, errstr, errstr_size)) ||
        (rc = ph_codec_new(&r->codec, errstr, errstr_size)) ||
        (rc = ph_avro_decoder_new(&r->dec, r->codec, errstr, errstr_size)) ||
        (rc = ph_eval_encoder_new(&r->enc, r->codec, errstr, errstr_size)))
        return rc;
    ph_kafka_producer_config pc = {.brokers = cli->cfg.brokers,
                                   .client_id = "pharos-replay",
                                   .props = ph_config_kafka(cli->config),
                                   .on_delivery = on_delivery,
                                   .arg = r,
                                   .poll_thread = true};
    if ((rc = ph_kafka_producer_new(&r->producer, &pc, errstr, errstr_size)))
        return rc;
    ph_random_id(rnd);
    snprintf(group, sizeof(group), "pharos-replay-%.12s", rnd); /* required, never joined */
    if ((rc = ph_kafka_conf_new(&conf, cli->cfg.brokers, "pharos-replay",
                                ph_config_kafka(cli->config), errstr, errstr_size)) ||
        (rc = ph_kafka_conf_default(conf, NULL, "group.id", group, errstr, errstr_size)) ||
        (rc = ph_kafka_conf_default(conf, NULL, "enable.auto.commit", "false", errstr,
                                    errstr_size)) ||
        (rc = ph_kafka_conf_default(conf, ph_config_kafka(cli->config), "isolation.level",
                                    "read_committed", errstr, errstr_size)) ||
        (rc = ph_kafka_conf_default(conf, NULL, "enable.partition.eof", "true", errstr,
                                    errstr_size))) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        return rc;
    }
    if (!(r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why)))) {
        rd_kafka_conf_destroy(conf);
        return ph_err(errstr, errstr_size, PH_EKAFKA, "%s", why);
    }
    return PH_OK;
}

static void teardown(replay *r)
{
    if (r->rk) {
        rd_kafka_consumer_close(r->rk);
        rd_kafka_destroy(r->rk);
    }
    ph_kafka_producer_destroy(r->producer);
    ph_eval_scratch_free(&r->scratch);
    ph_eval_sink_free(&r->sink);
    ph_avro_decoder_destroy(r->dec);
    ph_eval_encoder_destroy(r->enc);
    ph_codec_destroy(r->codec);
    ph_eval_set_destroy(r->set);
    free(r->end);
    free(r->done);
}

int ph_cli_replay(ph_cli *cli, int argc, char **argv)
{
    char errstr[PH_ERRSTR_SIZE];
    replay r;
    int64_t from = 0, to = -1;
    int rc = 1;
    memset(&r, 0, sizeof(r));
    r.cli = cli;
    ph_eval_scratch_init(&r.scratch);
    ph_eval_sink_init(&r.sink);
    if (argc != 1 || ph_parse_user_time(cli->cfg.from, &from) ||
        (cli->cfg.to && ph_parse_user_time(cli->cfg.to, &to))) {
        fprintf(stderr, "usage: pharos replay --from=TIME [--to=TIME] [--evaluators=FILE]\n"
                        "  TIME: RFC 3339 with a zone (2026-01-02T03:04:05Z) or epoch "
                        "milliseconds\n");
        return 2;
    }
    if (to >= 0 && to <= from) {
        fprintf(stderr, "pharos replay: --to must be after --from\n");
        return 2;
    }
    if (setup(&r, errstr, sizeof(errstr)) || assign_range(&r, from, to, errstr, sizeof(errstr))) {
        fprintf(stderr, "pharos replay: %s\n", errstr);
        goto out;
    }
    ph_signals_install();
    int64_t last = ph_mono_ms();
    rc = 0;
    while (r.ndone < r.nparts && !ph_signal_received()) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(r.rk, 100);
        if (!rkm) {
            if (cli->cfg.timeout_ms > 0 && ph_mono_ms() - last > cli->cfg.timeout_ms) {
                fprintf(stderr, "pharos replay: nothing read for %lld ms: stopping early\n",
                        (long long)cli->cfg.timeout_ms);
                rc = 1;
                break;
            }
            continue;
        }
        int32_t p = rkm->partition;
        bool in_range = p >= 0 && p < r.nparts && !r.done[p] && rkm->offset < r.end[p];
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (!in_range) /* the EOF offset is the next to read: past the range */
                partition_done(&r, p);
        } else if (rkm->err) {
            fprintf(stderr, "pharos replay: %s\n", rd_kafka_message_errstr(rkm));
        } else if (!in_range) {
            partition_done(&r, p);
        } else {
            last = ph_mono_ms();
            if (evaluate(&r, rkm)) {
                rd_kafka_message_destroy(rkm);
                rc = 1;
                break;
            }
            if (rkm->offset + 1 >= r.end[p])
                partition_done(&r, p);
        }
        rd_kafka_message_destroy(rkm);
    }
    if (ph_signal_received())
        rc = 1;
    int left = 0;
    if (ph_kafka_producer_flush(r.producer, 60000, &left))
        fprintf(stderr, "pharos replay: %d Evaluations still unacknowledged\n", left);
    long long failed = atomic_load(&r.failed);
    printf("replayed records=%lld poison=%lld evaluations=%lld delivered=%lld failed=%lld\n",
           r.records, r.poison, r.produced, (long long)atomic_load(&r.delivered), failed);
    if (failed || left || atomic_load(&r.delivered) != r.produced)
        rc = 1;
out:
    teardown(&r);
    return rc;
}
