/* The `pharos` command-line tool: shared configuration of its subcommands. */
#ifndef PH_CLI_H
#define PH_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "ph_config.h"

typedef struct ph_cli_config {
    char *brokers;
    char *topic_prefix;
    char *log_level;
    /* topics create */
    int64_t partitions;
    int64_t replication;
    /* send */
    char *url;
    bool kafka;
    char *endpoint;
    int64_t batch;
    int64_t concurrency;
    char *token;
    int64_t retries;
    /* tail */
    bool from_beginning;
    bool until_end;
    int64_t max;
    int64_t timeout_ms;
    /* eval, replay */
    char *evaluators;
    bool list;
    char *from;
    char *to;
} ph_cli_config;

typedef struct ph_cli {
    ph_cli_config cfg;
    ph_config *config;
} ph_cli;

int ph_cli_topics(ph_cli *cli, int argc, char **argv);
int ph_cli_send(ph_cli *cli, int argc, char **argv);
int ph_cli_tail(ph_cli *cli, int argc, char **argv);
int ph_cli_eval(ph_cli *cli, int argc, char **argv);
int ph_cli_replay(ph_cli *cli, int argc, char **argv);

/* Resolves a topic given as a short name (raw, valid, invalid, feedback, evals, metrics, alerts,
 * datasets) or a full base name (pharos.logs.raw) to prefix + base; anything else is taken as a
 * literal topic name. */
void ph_cli_topic(const ph_cli *cli, const char *name, char *buf, size_t size);

#endif
