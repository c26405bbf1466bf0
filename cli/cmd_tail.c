/* pharos tail TOPIC: prints a topic's records as JSON lines. Avro single-object records are
 * decoded with the schema whose fingerprint they carry; JSON records pass through. Reads with
 * isolation.level=read_committed (what downstream services see), from every partition, without
 * joining a consumer group or committing anything. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ph_avro.h"
#include "ph_error.h"
#include "ph_kafka.h"
#include "ph_log.h"
#include "ph_service.h"
#include "ph_util.h"

static void print_record(ph_codec *codec, ph_avro_decoder *dec, const rd_kafka_message_t *rkm)
{
    char errstr[PH_ERRSTR_SIZE];
    if (!ph_avro_is_single_object(rkm->payload, rkm->len)) {
        fwrite(rkm->payload, 1, rkm->len, stdout);
        fputc('\n', stdout);
        return;
    }
    uint64_t fp = 0;
    memcpy(&fp, (const char *)rkm->payload + 2, 8); /* little-endian on every target we build */
    for (int id = 0; id < PH_SCHEMA_COUNT; id++) {
        if (ph_codec_fingerprint(codec, (ph_schema_id)id) != fp)
            continue;
        avro_value_t *value = NULL;
        if (ph_avro_decode(dec, (ph_schema_id)id, rkm->payload, rkm->len, &value, errstr,
                           sizeof(errstr)) == 0) {
            char *json = ph_avro_to_json_string(value, errstr, sizeof(errstr));
            if (json) {
                fputs(json, stdout);
                fputc('\n', stdout);
                free(json);
                return;
            }
        }
        break;
    }
    fprintf(stdout,
            "{\"_error\":\"undecodable Avro record at partition %" PRId32 " offset %" PRId64
            "\"}\n",
            rkm->partition, rkm->offset);
}

static int assign_all(rd_kafka_t *rk, const char *topic, bool from_beginning, int *nparts,
                      char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    if (err)
        return ph_err(errstr, errstr_size, PH_EKAFKA, "metadata for %s: %s", topic,
                      rd_kafka_err2str(err));
    int rc = PH_OK;
    if (md->topic_cnt != 1 || md->topics[0].err) {
        rc = ph_err(errstr, errstr_size, PH_ENOENT, "topic %s: %s", topic,
                    md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not found");
        goto out;
    }
    rd_kafka_topic_partition_list_t *parts =
        rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id)->offset =
            from_beginning ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
    *nparts = parts->cnt;
    err = rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (err)
        rc = ph_err(errstr, errstr_size, PH_EKAFKA, "assign: %s", rd_kafka_err2str(err));
out:
    rd_kafka_metadata_destroy(md);
    return rc;
}

int ph_cli_tail(ph_cli *cli, int argc, char **argv)
{
    char errstr[PH_ERRSTR_SIZE], why[512], topic[256], group[64];
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *rk = NULL;
    ph_codec *codec = NULL;
    ph_avro_decoder *dec = NULL;
    int rc = 1;
    if (argc != 2) {
        fprintf(stderr, "usage: pharos tail TOPIC [--from_beginning] [--until_end] [--max=N] "
                        "[--timeout_ms=MS]\n");
        return 2;
    }
    ph_cli_topic(cli, argv[1], topic, sizeof(topic));
    char rnd[33];
    ph_random_id(rnd);
    snprintf(group, sizeof(group), "pharos-tail-%.12s", rnd); /* required, never joined */
    if (ph_codec_new(&codec, errstr, sizeof(errstr)) ||
        ph_avro_decoder_new(&dec, codec, errstr, sizeof(errstr)) ||
        ph_kafka_conf_new(&conf, cli->cfg.brokers, "pharos-tail", ph_config_kafka(cli->config),
                          errstr, sizeof(errstr)) ||
        ph_kafka_conf_default(conf, NULL, "group.id", group, errstr, sizeof(errstr)) ||
        ph_kafka_conf_default(conf, NULL, "enable.auto.commit", "false", errstr, sizeof(errstr)) ||
        ph_kafka_conf_default(conf, ph_config_kafka(cli->config), "isolation.level",
                              "read_committed", errstr, sizeof(errstr)) ||
        ph_kafka_conf_default(conf, NULL, "enable.partition.eof", "true", errstr, sizeof(errstr))) {
        fprintf(stderr, "pharos: %s\n", errstr);
        goto out;
    }
    if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why)))) {
        fprintf(stderr, "pharos: %s\n", why);
        goto out;
    }
    conf = NULL;
    int nparts = 0;
    if (assign_all(rk, topic, cli->cfg.from_beginning, &nparts, errstr, sizeof(errstr))) {
        fprintf(stderr, "pharos: %s\n", errstr);
        goto out;
    }
    ph_signals_install();
    bool *at_end = calloc((size_t)nparts + 1, sizeof(bool));
    int ends = 0;
    long long printed = 0;
    int64_t last = ph_mono_ms();
    rc = 0;
    while (!ph_signal_received()) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 100);
        if (!rkm) {
            if (cli->cfg.timeout_ms > 0 && ph_mono_ms() - last > cli->cfg.timeout_ms)
                break;
            continue;
        }
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (rkm->partition >= 0 && rkm->partition < nparts && !at_end[rkm->partition]) {
                at_end[rkm->partition] = true;
                ends++;
            }
            rd_kafka_message_destroy(rkm);
            if (cli->cfg.until_end && ends >= nparts)
                break;
            continue;
        }
        if (rkm->err) {
            fprintf(stderr, "pharos: %s\n", rd_kafka_message_errstr(rkm));
            rd_kafka_message_destroy(rkm);
            continue;
        }
        last = ph_mono_ms();
        print_record(codec, dec, rkm);
        rd_kafka_message_destroy(rkm);
        if (cli->cfg.max > 0 && ++printed >= cli->cfg.max)
            break;
    }
    fflush(stdout);
    free(at_end);
out:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    ph_avro_decoder_destroy(dec);
    ph_codec_destroy(codec);
    return rc;
}
