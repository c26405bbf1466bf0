/* Internal to lib/kafka: shared between the producer, consumer and admin files. */
#ifndef PH_KAFKA_INT_H
#define PH_KAFKA_INT_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* State written by librdkafka's error callback (its internal threads) and read by ours. */
typedef struct ph_kafka_health {
    atomic_bool fatal;
    atomic_bool brokers_down;
    char fatal_reason[512]; /* written once, before fatal is set */
} ph_kafka_health;

/* error_cb for rd_kafka_conf_set_error_cb, with a ph_kafka_health as opaque. */
void ph_kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque);

#endif
