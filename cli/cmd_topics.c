/* pharos topics create: every pipeline topic, through the Admin API (never broker auto-create). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ph_error.h"
#include "ph_kafka.h"
#include "ph_util.h"

int ph_cli_topics(ph_cli *cli, int argc, char **argv)
{
    char errstr[PH_ERRSTR_SIZE];
    char names[PH_TOPIC_COUNT][256];
    const char *ptrs[PH_TOPIC_COUNT];
    if (argc != 2 || strcmp(argv[1], "create") != 0) {
        fprintf(stderr, "usage: pharos topics create [--partitions=N] [--replication=N]\n");
        return 2;
    }
    for (int t = 0; t < PH_TOPIC_COUNT; t++) {
        ph_topic_name(cli->cfg.topic_prefix, (ph_topic)t, names[t], sizeof(names[t]));
        ptrs[t] = names[t];
    }
    /* lz4 on the broker side matches what our producers send; no re-compression. */
    static const char *const topic_configs[] = {"compression.type", "producer", NULL, NULL};
    int created = 0;
    int rc =
        ph_kafka_create_topics(cli->cfg.brokers, ph_config_kafka(cli->config), ptrs, PH_TOPIC_COUNT,
                               (int)cli->cfg.partitions, (int)cli->cfg.replication, topic_configs,
                               30000, &created, errstr, sizeof(errstr));
    if (rc) {
        fprintf(stderr, "pharos: %s\n", errstr);
        return 1;
    }
    for (int t = 0; t < PH_TOPIC_COUNT; t++)
        printf("%s\n", names[t]);
    fprintf(stderr, "%d topic(s) created, %d already existed (%lld partitions each)\n", created,
            PH_TOPIC_COUNT - created, (long long)cli->cfg.partitions);
    return 0;
}
