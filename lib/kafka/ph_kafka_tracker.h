/* Per-partition offset tracking for work that completes out of order (KAFKA.md: "track per
 * partition the highest offset below which everything is done, and store that").
 *
 * The consumer's thread add()s each record as it takes it (offsets increase per partition, as
 * Kafka delivers them); any thread marks a record done() once everything it produced is
 * durable; the consumer's thread then calls ph_kafka_tracker_store(), which stores, for every
 * partition whose watermark moved, the offset after the last record below which every added
 * record is done. A record that is never done (its outputs failed) holds its partition's
 * watermark back for good: nothing after it is stored, so it is read again after a restart.
 * Offsets never added (transaction markers, compacted records) are simply skipped.
 *
 * On revoke, the caller waits for (or gives up on) the partition's records, stores, then
 * forget()s it: done() for a forgotten record is ignored, and the partition starts afresh when
 * assigned again.
 *
 * Threads and locks: one mutex per tracker; every function may be called from any thread, but
 * add() for one partition must come from one thread in offset order (the consumer's). Memory:
 * 16 bytes per record between its add() and the moment its partition's watermark passes it. */
#ifndef PH_KAFKA_TRACKER_H
#define PH_KAFKA_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ph_kafka.h"

typedef struct ph_kafka_tracker ph_kafka_tracker;

/* Returns 0 or PH_ENOMEM. */
int ph_kafka_tracker_new(ph_kafka_tracker **out);
void ph_kafka_tracker_destroy(ph_kafka_tracker *t); /* NULL is a no-op */

/* A record was taken. Returns 0, PH_EINVAL (offset not above the partition's last added one:
 * forget the partition before it is read again from an earlier offset) or PH_ENOMEM. */
int ph_kafka_tracker_add(ph_kafka_tracker *t, const char *topic, int32_t partition, int64_t offset);

/* Everything the record produced is durable. Unknown (forgotten, never added, already done)
 * records are ignored. */
void ph_kafka_tracker_done(ph_kafka_tracker *t, const char *topic, int32_t partition,
                           int64_t offset);

/* The last offset of the partition below which every added record is done (so that offset + 1
 * is the one to store), in *offset. Returns 0, or PH_ENOENT when no record of the partition is
 * done below the first pending one (nothing to store yet) or the partition is unknown. */
int ph_kafka_tracker_committable(ph_kafka_tracker *t, const char *topic, int32_t partition,
                                 int64_t *offset);

/* Stores (ph_kafka_consumer_store: offset + 1) the committable offset of every partition whose
 * watermark moved since its last store. Call from the consumer's thread. Returns the number of
 * partitions stored; a store librdkafka refuses (partition revoked meanwhile) is logged and
 * skipped. */
int ph_kafka_tracker_store(ph_kafka_tracker *t, ph_kafka_consumer *c);

/* Like ph_kafka_tracker_store, for the store step only: calls fn for each partition whose
 * watermark moved, with the offset to store (last done + 1), and marks it stored when fn
 * returns 0. For tests and for callers that commit otherwise. */
int ph_kafka_tracker_flush(ph_kafka_tracker *t,
                           int (*fn)(void *arg, const char *topic, int32_t partition,
                                     int64_t next_offset),
                           void *arg);

/* Records added and not yet done: of one partition, or of all when topic is NULL. */
size_t ph_kafka_tracker_pending(ph_kafka_tracker *t, const char *topic, int32_t partition);

/* Drops a partition's state (revoked or lost). */
void ph_kafka_tracker_forget(ph_kafka_tracker *t, const char *topic, int32_t partition);

#endif
