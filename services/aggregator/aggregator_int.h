/* Internal to pharos-aggregator.
 *
 *   aggregator.c  service callbacks, config, consumption, commits, MetricWindow emission
 *   decode.c      an Avro message of one of the four input topics -> one lib/agg event
 *   api.c         GET /api/v1/metrics, /api/v1/summary and the dashboard's files
 *
 * One record's way: the main thread polls a message, decode.c turns it into a ph_agg_* event and
 * adds it (lib/agg dedups it and updates its windows in memory), its position is remembered;
 * every commit_interval_ms the store writes the changed windows, the dedup keys and those
 * positions in one SQLite transaction, and only then are the offsets stored in Kafka too (for lag
 * monitoring: the SQLite ones are the truth, see on_position). */
#ifndef PH_AGGREGATOR_INT_H
#define PH_AGGREGATOR_INT_H

#include <pthread.h>
#include <stdint.h>

#include "aggregator.h"
#include "ph_agg.h"
#include "ph_avro.h"
#include "ph_kafka.h"
#include "ph_metrics.h"

#define COMPONENT "aggregator"

/* The input topics, in the order of topic names in ph_aggregator.topics. */
enum { IN_VALID = 0, IN_INVALID, IN_EVALS, IN_FEEDBACK, IN_COUNT };

typedef struct ph_decoder_ctx ph_decoder_ctx;

/* Decoding context (main thread): the Avro decoder and scratch arrays for events. */
ph_decoder_ctx *ph_decoder_ctx_new(ph_codec *codec, char *errstr, size_t errstr_size);
void ph_decoder_ctx_destroy(ph_decoder_ctx *d);

/* Decodes rkm (a message of input topic `in`) and adds its event to agg. Returns PH_OK (counted,
 * or a duplicate), PH_EINVAL (not a decodable record of that topic: a poison message, logged by
 * the caller with errstr and skipped), or what ph_agg_add_* returned (PH_EIO, PH_ENOMEM). */
int ph_decode_add(ph_decoder_ctx *d, ph_agg *agg, int in, const rd_kafka_message_t *rkm,
                  char *errstr, size_t errstr_size);

typedef struct ph_api ph_api;

/* Routes the API and the dashboard on http (before it starts); queries open their own read
 * connection to db_path, on the HTTP threads, serialised by a mutex. */
int ph_api_new(ph_api **out, ph_http_server *http, const char *db_path, int64_t window_ms,
               char *errstr, size_t errstr_size);
void ph_api_destroy(ph_api *api);

#endif
