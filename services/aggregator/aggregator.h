/* pharos-aggregator: logs, invalid records, evaluations and feedback become windowed metrics in
 * SQLite (lib/agg), closed windows become MetricWindows on pharos.metrics, and the JSON API and
 * the dashboard are served from the same process. docs/aggregator.md, docs/api.md. */
#ifndef PH_AGGREGATOR_H
#define PH_AGGREGATOR_H

#include <stdbool.h>
#include <stdint.h>

#include "ph_service.h"

typedef struct ph_aggregator_config {
    char *db;                    /* SQLite file of the metrics */
    char *group_id;              /* consumer group; default <topic_prefix>pharos-aggregator */
    int64_t window_ms;           /* level-0 window */
    int64_t allowed_lateness_ms; /* how far behind the newest event a window stays open */
    int64_t retention_minutes_ms, retention_hours_ms, retention_days_ms;
    int64_t dedup_retention_ms;
    int64_t commit_interval_ms; /* the store commits (data + offsets) at least this often ... */
    int64_t max_batch;          /* ... or after this many events */
    char *kpis;                 /* name=key:number|bool,... */
    bool emit;                  /* produce MetricWindows to pharos.metrics */
    bool sync_full;             /* SQLite synchronous=FULL (else NORMAL) */
} ph_aggregator_config;

extern const ph_service_def ph_aggregator_def;

#endif
