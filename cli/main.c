/* pharos: the command-line tool. Subcommands:
 *   pharos topics create            create every pipeline topic (Admin API)
 *   pharos send FILE                post JSONL logs to the ingestor, or produce them to Kafka
 *   pharos tail TOPIC               print a topic's records as JSON lines (Avro decoded)
 *   pharos eval FILE                run the evaluator set over a JSONL file of logs, offline
 *   pharos replay --from=T [--to=T] evaluate a past time range of pharos.logs.valid again
 * Configuration: --key=value flags, PHAROS_CLI_<KEY> environment, --config=FILE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ph_error.h"
#include "ph_log.h"
#include "ph_util.h"

static const ph_config_entry table[] = {
    {"brokers", PH_CFG_STR, "127.0.0.1:9092", offsetof(ph_cli_config, brokers),
     "Kafka bootstrap servers"},
    {"topic_prefix", PH_CFG_STR, "", offsetof(ph_cli_config, topic_prefix),
     "prefix of every pipeline topic name"},
    {"log_level", PH_CFG_STR, "warn", offsetof(ph_cli_config, log_level),
     "error, warn, info or debug"},
    {"partitions", PH_CFG_INT, "12", offsetof(ph_cli_config, partitions),
     "topics create: partitions per topic (the ceiling on evaluator parallelism)"},
    {"replication", PH_CFG_INT, "1", offsetof(ph_cli_config, replication),
     "topics create: replication factor"},
    {"url", PH_CFG_STR, "http://127.0.0.1:8080", offsetof(ph_cli_config, url),
     "send: the ingestor's base URL"},
    {"kafka", PH_CFG_BOOL, "false", offsetof(ph_cli_config, kafka),
     "send: produce straight to pharos.logs.raw instead of posting to the ingestor"},
    {"endpoint", PH_CFG_STR, "logs", offsetof(ph_cli_config, endpoint), "send: logs or feedback"},
    {"batch", PH_CFG_INT, "500", offsetof(ph_cli_config, batch), "send: records per HTTP request"},
    {"concurrency", PH_CFG_INT, "4", offsetof(ph_cli_config, concurrency),
     "send: HTTP requests in flight"},
    {"token", PH_CFG_STR, NULL, offsetof(ph_cli_config, token),
     "send: bearer token for the ingestor"},
    {"retries", PH_CFG_INT, "30", offsetof(ph_cli_config, retries),
     "send: attempts per batch on 503/connection errors (honouring Retry-After)"},
    {"from_beginning", PH_CFG_BOOL, "false", offsetof(ph_cli_config, from_beginning),
     "tail: start at the oldest record instead of the newest"},
    {"until_end", PH_CFG_BOOL, "false", offsetof(ph_cli_config, until_end),
     "tail: exit once every partition has been read to its end"},
    {"max", PH_CFG_INT, "0", offsetof(ph_cli_config, max),
     "tail: exit after this many records (0: no limit)"},
    {"timeout_ms", PH_CFG_INT, "0", offsetof(ph_cli_config, timeout_ms),
     "tail, replay: exit after this long without a record (0: never)"},
    {"evaluators", PH_CFG_STR, NULL, offsetof(ph_cli_config, evaluators),
     "eval, replay: the evaluator config file (JSON, docs/evaluators.md); empty: every built-in "
     "evaluator with its defaults"},
    {"list", PH_CFG_BOOL, "false", offsetof(ph_cli_config, list),
     "eval: list the evaluator instances and their versions instead of evaluating"},
    {"from", PH_CFG_STR, NULL, offsetof(ph_cli_config, from),
     "replay: start of the time range (RFC 3339 or epoch milliseconds), inclusive"},
    {"to", PH_CFG_STR, NULL, offsetof(ph_cli_config, to),
     "replay: end of the time range, exclusive; default: the end of each partition now"},
};

static void usage(ph_cli *cli, FILE *out)
{
    fprintf(out,
            "pharos %s: the Pharos command-line tool\n\n"
            "Usage:\n"
            "  pharos topics create [--partitions=12] [--replication=1]\n"
            "  pharos send FILE [--url=URL | --kafka] [--endpoint=logs|feedback]\n"
            "  pharos tail TOPIC [--from_beginning] [--until_end] [--max=N]\n"
            "  pharos eval FILE [--evaluators=FILE]      (or: pharos eval --list)\n"
            "  pharos replay --from=TIME [--to=TIME] [--evaluators=FILE]\n"
            "  pharos --help | --version | --dump-config\n\n"
            "TOPIC is raw, valid, invalid, feedback, evals, metrics, alerts, datasets or a "
            "topic name.\n\n",
            PHAROS_VERSION);
    ph_config_usage(cli->config, out);
}

void ph_cli_topic(const ph_cli *cli, const char *name, char *buf, size_t size)
{
    static const char *const shorts[PH_TOPIC_COUNT] = {"raw",   "valid",   "invalid", "feedback",
                                                       "evals", "metrics", "alerts",  "datasets"};
    for (int t = 0; t < PH_TOPIC_COUNT; t++) {
        if (strcmp(name, shorts[t]) == 0 || strcmp(name, ph_topic_base((ph_topic)t)) == 0) {
            ph_topic_name(cli->cfg.topic_prefix, (ph_topic)t, buf, size);
            return;
        }
    }
    snprintf(buf, size, "%s", name);
}

int main(int argc, char **argv)
{
    static const char *const pass[] = {"--help", "--version", "--dump-config", NULL};
    char errstr[PH_ERRSTR_SIZE];
    ph_cli cli;
    int rc = 2;
    memset(&cli, 0, sizeof(cli));
    cli.config = ph_config_new("cli");
    if (!cli.config ||
        ph_config_add_table(cli.config, table, sizeof(table) / sizeof(table[0]), &cli.cfg, errstr,
                            sizeof(errstr)) ||
        ph_config_load(cli.config, &argc, argv, pass, errstr, sizeof(errstr))) {
        fprintf(stderr, "pharos: %s\n", cli.config ? errstr : "out of memory");
        goto out;
    }
    int level;
    if (ph_log_level_parse(cli.cfg.log_level ? cli.cfg.log_level : "warn", &level) == 0)
        ph_log_set_level(level);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(&cli, argc < 2 ? stderr : stdout);
        rc = argc < 2 ? 2 : 0;
    } else if (strcmp(argv[1], "--version") == 0) {
        printf("pharos %s\n", PHAROS_VERSION);
        rc = 0;
    } else if (strcmp(argv[1], "--dump-config") == 0) {
        ph_config_dump(cli.config, stdout);
        rc = 0;
    } else if (strcmp(argv[1], "topics") == 0) {
        rc = ph_cli_topics(&cli, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "send") == 0) {
        rc = ph_cli_send(&cli, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "tail") == 0) {
        rc = ph_cli_tail(&cli, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "eval") == 0) {
        rc = ph_cli_eval(&cli, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "replay") == 0) {
        rc = ph_cli_replay(&cli, argc - 1, argv + 1);
    } else {
        fprintf(stderr, "pharos: unknown command '%s' (see pharos --help)\n", argv[1]);
    }
out:
    ph_config_destroy(cli.config);
    return rc;
}
