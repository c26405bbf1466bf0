/* pharos-ingestor: accepts LLM logs and feedback over HTTP and publishes them to Kafka, answering
 * only after Kafka acknowledged every record of the request. */
#ifndef PH_INGESTOR_H
#define PH_INGESTOR_H

#include <stdint.h>

#include "ph_service.h"

typedef struct ph_ingestor_config {
    int64_t max_body_bytes;   /* larger requests get 413 */
    int64_t max_record_bytes; /* a larger record gets 413 naming its line */
    int64_t max_inflight;     /* records queued for Kafka before new requests get 503 */
    int64_t retry_after_s;    /* Retry-After of 503 answers */
    char *auth_tokens;        /* "app:token,app2:token2": bearer tokens, each bound to an app */
    char *auth_tokens_file;   /* the same, one app:token per line */
} ph_ingestor_config;

extern const ph_service_def ph_ingestor_def;

#endif
