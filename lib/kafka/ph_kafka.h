/* Kafka clients that enforce the delivery checklist (KAFKA.md, summarised in docs/delivery.md).
 *
 * Producer: idempotent (acks=all, bounded in-flight, retries within message.timeout.ms), batched,
 * murmur2 partitioning (so keys land where Java clients put them), callbacks served by a poll
 * thread or by the caller. The delivery report is the only truth about a record: the caller's
 * on_delivery callback runs exactly once per accepted record. Optional transactions
 * (consume-transform-produce) for the validator.
 *
 * Consumer: consumer group, offsets stored only by the caller (enable.auto.offset.store=false),
 * eager and cooperative rebalances handled, with a hook that runs before partitions are given up.
 *
 * Threads: ph_kafka_producer_* may be called from any thread except where noted; callbacks run on
 * the poll thread (when poll_thread is set) or on the thread calling ph_kafka_producer_poll().
 * A consumer is used by one thread only. */
#ifndef PH_KAFKA_H
#define PH_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ph_config.h"

/* ---------------------------------------------------------------------------------------------
 * Configuration shared by producers, consumers and admin clients. */

/* Builds a librdkafka configuration: bootstrap.servers, client.id, logging through ph_log, then
 * every kafka.* pass-through property in order (they win over our defaults). The caller owns the
 * result (rd_kafka_new() takes it on success). Returns 0 or PH_EINVAL with errstr. */
int ph_kafka_conf_new(rd_kafka_conf_t **out, const char *brokers, const char *client_id,
                      const ph_config_kv *props, char *errstr, size_t errstr_size);

/* Sets one property only if the pass-through list does not name it (so users can override). */
int ph_kafka_conf_default(rd_kafka_conf_t *conf, const ph_config_kv *props, const char *key,
                          const char *value, char *errstr, size_t errstr_size);

/* ---------------------------------------------------------------------------------------------
 * Producer */

typedef struct ph_kafka_producer ph_kafka_producer;

/* Called exactly once per record accepted by ph_kafka_produce(), with the record's msg_opaque
 * and err == RD_KAFKA_RESP_ERR_NO_ERROR when the broker acknowledged it (acks=all). rkm is
 * borrowed for the duration of the call. */
typedef void (*ph_kafka_delivery_fn)(void *msg_opaque, rd_kafka_resp_err_t err,
                                     const rd_kafka_message_t *rkm, void *arg);

typedef struct ph_kafka_producer_config {
    const char *brokers;
    const char *client_id;
    const ph_config_kv *props;    /* kafka.* pass-through, borrowed */
    const char *transactional_id; /* NULL: idempotent, not transactional */
    ph_kafka_delivery_fn on_delivery;
    void *arg;
    bool poll_thread; /* serve callbacks on a dedicated thread */
} ph_kafka_producer_config;

typedef struct ph_kafka_header {
    const char *name;
    const void *value;
    size_t len;
} ph_kafka_header;

/* Creates the producer (and, when transactional, runs init_transactions, which fences any
 * earlier instance with the same transactional id). */
int ph_kafka_producer_new(ph_kafka_producer **out, const ph_kafka_producer_config *config,
                          char *errstr, size_t errstr_size);

/* Enqueues one record; key, value and headers are copied. Returns 0 (on_delivery will run),
 * PH_EQUEUEFULL (nothing enqueued: poll and retry, or push back), PH_EFATAL (the producer hit a
 * fatal error), or PH_EKAFKA (e.g. unknown topic, message too large) with errstr. */
int ph_kafka_produce(ph_kafka_producer *p, const char *topic, const void *key, size_t keylen,
                     const void *value, size_t len, const ph_kafka_header *headers, size_t nheaders,
                     void *msg_opaque, char *errstr, size_t errstr_size);

/* Like ph_kafka_produce but waits (serving callbacks if there is no poll thread) while the queue
 * is full, up to timeout_ms. */
int ph_kafka_produce_wait(ph_kafka_producer *p, const char *topic, const void *key, size_t keylen,
                          const void *value, size_t len, const ph_kafka_header *headers,
                          size_t nheaders, void *msg_opaque, int timeout_ms, char *errstr,
                          size_t errstr_size);

/* Serves delivery reports and errors; only for producers without a poll thread. */
void ph_kafka_producer_poll(ph_kafka_producer *p, int timeout_ms);

/* Waits until every enqueued record has its delivery report. Returns 0, or PH_ETIMEDOUT with
 * the count still queued in *left (may be NULL). */
int ph_kafka_producer_flush(ph_kafka_producer *p, int timeout_ms, int *left);

/* Records enqueued but not yet reported. */
int ph_kafka_producer_outq_len(ph_kafka_producer *p);

/* True once librdkafka reported a fatal error; *why gets the reason. */
bool ph_kafka_producer_fatal(ph_kafka_producer *p, char *why, size_t why_size);

/* False while librdkafka reports all brokers down and no probe has since reached one. */
bool ph_kafka_producer_brokers_up(ph_kafka_producer *p);

/* The librdkafka handle, for calls this wrapper does not cover. Borrowed. */
rd_kafka_t *ph_kafka_producer_rk(ph_kafka_producer *p);

/* Stops the poll thread and destroys the handle. Does NOT flush: drain first. NULL is a no-op. */
void ph_kafka_producer_destroy(ph_kafka_producer *p);

/* Transactions (transactional producers only; called from one thread).
 * Each returns 0, PH_EKAFKA when the transaction must be aborted (the caller aborts and rewinds
 * its consumer), or PH_EFATAL (the producer is fenced or broken: shut down). Retriable errors are
 * retried inside. */
int ph_kafka_txn_begin(ph_kafka_producer *p, char *errstr, size_t errstr_size);
/* Adds the consumer's current positions for its assignment to the transaction. */
int ph_kafka_txn_send_offsets(ph_kafka_producer *p, rd_kafka_t *consumer, char *errstr,
                              size_t errstr_size);
int ph_kafka_txn_commit(ph_kafka_producer *p, char *errstr, size_t errstr_size);
int ph_kafka_txn_abort(ph_kafka_producer *p, char *errstr, size_t errstr_size);

/* ---------------------------------------------------------------------------------------------
 * Consumer */

typedef struct ph_kafka_consumer ph_kafka_consumer;

/* Called from inside ph_kafka_consumer_poll() (the consumer's thread). on_revoke runs BEFORE the
 * partitions are given up, so the caller can finish or abandon their work; lost is true when the
 * assignment was lost (session timeout) rather than revoked, and the work must be abandoned. */
typedef void (*ph_kafka_assign_fn)(void *arg, const rd_kafka_topic_partition_list_t *parts);
typedef void (*ph_kafka_revoke_fn)(void *arg, const rd_kafka_topic_partition_list_t *parts,
                                   bool lost);
/* Called from inside ph_kafka_consumer_poll() with newly assigned partitions BEFORE they are
 * assigned: it may set each element's offset (RD_KAFKA_OFFSET_INVALID keeps the committed one),
 * for consumers that keep their offsets outside Kafka, in the same transaction as their output
 * (the aggregator's SQLite store). */
typedef void (*ph_kafka_position_fn)(void *arg, rd_kafka_topic_partition_list_t *parts);

typedef struct ph_kafka_consumer_config {
    const char *brokers;
    const char *client_id;
    const char *group_id;
    const char *group_instance_id; /* static membership (KIP-345) when set: a restarted
                                      instance takes its partitions back without a rebalance */
    const ph_config_kv *props;
    const char *const *topics;
    size_t ntopics;
    bool read_committed; /* isolation.level=read_committed */
    bool auto_commit;    /* commit stored offsets in the background; false for transactions */
    ph_kafka_assign_fn on_assign;
    ph_kafka_revoke_fn on_revoke;
    ph_kafka_position_fn on_position; /* optional */
    void *arg;
} ph_kafka_consumer_config;

/* Creates the consumer and subscribes. auto.offset.reset defaults to earliest (a new group reads
 * everything: nothing is skipped). */
int ph_kafka_consumer_new(ph_kafka_consumer **out, const ph_kafka_consumer_config *config,
                          char *errstr, size_t errstr_size);

/* Returns the next message (caller destroys it with rd_kafka_message_destroy) or NULL on
 * timeout. Consumer errors are logged here; partition EOF is ignored. */
rd_kafka_message_t *ph_kafka_consumer_poll(ph_kafka_consumer *c, int timeout_ms);

/* Stores offset + 1 of a fully processed record for the next (auto) commit. */
int ph_kafka_consumer_store(ph_kafka_consumer *c, const char *topic, int32_t partition,
                            int64_t offset);

/* Seeks the current assignment back to its committed offsets (beginning when none): used after
 * an aborted transaction. */
int ph_kafka_consumer_rewind(ph_kafka_consumer *c, char *errstr, size_t errstr_size);

bool ph_kafka_consumer_fatal(ph_kafka_consumer *c, char *why, size_t why_size);
rd_kafka_t *ph_kafka_consumer_rk(ph_kafka_consumer *c);

/* Leaves the group (committing stored offsets when auto_commit) and destroys. NULL is a no-op. */
void ph_kafka_consumer_destroy(ph_kafka_consumer *c);

/* ---------------------------------------------------------------------------------------------
 * Headers and admin */

/* Finds the last header `name` of a message; *value is borrowed from rkm. Returns 0 or
 * PH_ENOENT. */
int ph_kafka_header_get(const rd_kafka_message_t *rkm, const char *name, const void **value,
                        size_t *len);

/* Creates topics with the Admin API; topics that already exist count as success (idempotent).
 * *created receives how many were new (may be NULL). */
int ph_kafka_create_topics(const char *brokers, const ph_config_kv *props, const char *const *names,
                           size_t n, int partitions, int replication,
                           const char *const *topic_configs, int timeout_ms, int *created,
                           char *errstr, size_t errstr_size);

/* Returns 0 when a broker answers a metadata request within timeout_ms. */
int ph_kafka_ping(const char *brokers, const ph_config_kv *props, int timeout_ms, char *errstr,
                  size_t errstr_size);

#endif
