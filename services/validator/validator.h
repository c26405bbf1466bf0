/* pharos-validator: judges every raw record once, exactly once, in Kafka transactions. */
#ifndef PH_VALIDATOR_H
#define PH_VALIDATOR_H

#include <stdbool.h>
#include <stdint.h>

#include "ph_service.h"

typedef struct ph_validator_config {
    char *group_id;             /* consumer group of the validators */
    char *transactional_id;     /* default pharos-validator-<instance>; unique per instance */
    bool static_membership;     /* group.instance.id = the transactional id (KIP-345) */
    int64_t commit_interval_ms; /* a transaction commits at least this often ... */
    int64_t max_batch;          /* ... or after this many records */
    int64_t max_original_bytes; /* InvalidRecord.original is cut beyond this */
    /* rules (lib/record, docs/validation.md) */
    int64_t max_record_bytes;
    int64_t max_field_bytes;
    int64_t max_messages;
    int64_t max_context;
    char *roles;
    int64_t max_clock_skew_ms;
    char *severity;
} ph_validator_config;

extern const ph_service_def ph_validator_def;

#endif
