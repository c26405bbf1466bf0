/* pharos-aggregator: a consumer of pharos.logs.valid, pharos.logs.invalid, pharos.evals and
 * pharos.feedback that keeps windowed metrics in SQLite (lib/agg), publishes closed windows as
 * MetricWindows on pharos.metrics, and serves the JSON API and the dashboard (api.c).
 *
 * Delivery: the store is the truth. lib/agg counts every event once (dedup keys), and writes the
 * windows, the dedup keys and the consumed positions in one SQLite transaction; at start, and at
 * every assignment, each partition resumes at the position the store holds (on_position), so a
 * SIGKILL loses nothing and counts nothing twice: what was added after the last commit is read
 * again. A MetricWindow is marked emitted only when the broker acknowledged it, so a crash
 * re-sends it (same revision: the alerter takes it once). See docs/aggregator.md. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator_int.h"
#include "ph_error.h"
#include "ph_log.h"
#include "ph_util.h"

/* Messages taken between two looks at the clock. */
#define BURST 1024

/* The consumed position of one partition: what the next commit stores. */
typedef struct position {
    int64_t next_offset; /* -1: nothing consumed since the assignment */
    bool dirty;
} position;

/* The identity of a MetricWindow in flight, to mark it emitted once acknowledged. */
typedef struct emitted {
    int level;
    int64_t start_ms, end_ms;
    int32_t revision;
    char *app, *environment, *model;
} emitted;

typedef struct ph_aggregator {
    ph_service *svc;
    const ph_aggregator_config *cfg;
    ph_agg *agg;
    ph_agg_kpi *kpis;
    size_t nkpis;
    char *kpi_text; /* the kpis config, split in place */
    ph_codec *codec;
    ph_decoder_ctx *dec;
    ph_avro_encoder *enc;
    avro_value_t window; /* reused MetricWindow value */
    bool window_ready;
    ph_kafka_consumer *consumer;
    ph_kafka_producer *producer;
    ph_api *api;
    char topics[IN_COUNT][256];
    char topic_metrics[256];
    position *positions[IN_COUNT];
    int32_t npositions[IN_COUNT];
    int64_t pending;      /* events added since the last commit */
    int64_t last_commit;  /* ph_mono_ms */
    int64_t last_advance; /* ph_mono_ms */
    long emits_in_flight; /* MetricWindows produced, not yet reported */
    bool failed;
    ph_counter *events[IN_COUNT];
    ph_counter *poison;
    ph_counter *commits;
    ph_counter *windows_emitted;
    ph_gauge *duplicates;
    ph_gauge *late;
    ph_gauge *too_late;
    ph_gauge *watermark;
} ph_aggregator;

static const char *const in_names[IN_COUNT] = {"valid", "invalid", "evals", "feedback"};

static int topic_index(const ph_aggregator *a, const char *topic)
{
    for (int i = 0; i < IN_COUNT; i++)
        if (strcmp(a->topics[i], topic) == 0)
            return i;
    return -1;
}

static position *position_of(ph_aggregator *a, int in, int32_t partition)
{
    if (partition < 0)
        return NULL;
    if (partition >= a->npositions[in]) {
        int32_t n = partition + 1;
        position *grown = realloc(a->positions[in], (size_t)n * sizeof(*grown));
        if (!grown)
            return NULL;
        for (int32_t i = a->npositions[in]; i < n; i++)
            grown[i] = (position){-1, false};
        a->positions[in] = grown;
        a->npositions[in] = n;
    }
    return &a->positions[in][partition];
}

/* ---- commits --------------------------------------------------------------------------------- */

/* Writes what was added, with the positions consumed, in one transaction; then stores those
 * positions in Kafka as well (lag monitoring only). Returns 0 or PH_EFATAL. */
static int commit(ph_aggregator *a)
{
    char errstr[PH_ERRSTR_SIZE];
    ph_agg_offset offs[256];
    size_t n = 0;
    /* Positions beyond what fits one call are simply stored by the next commit: storing fewer
     * positions than were consumed only means reading a little again, which dedup absorbs. */
    for (int in = 0; in < IN_COUNT; in++)
        for (int32_t p = 0; p < a->npositions[in] && n < sizeof(offs) / sizeof(offs[0]); p++)
            if (a->positions[in][p].dirty)
                offs[n++] = (ph_agg_offset){a->topics[in], p, a->positions[in][p].next_offset};
    if (ph_agg_commit(a->agg, offs, n, errstr, sizeof(errstr))) {
        ph_log_error(COMPONENT, "commit to the store: %s", errstr);
        a->failed = true;
        return PH_EFATAL;
    }
    for (size_t i = 0; i < n; i++) {
        int in = topic_index(a, offs[i].topic);
        a->positions[in][offs[i].partition].dirty = false;
        if (a->consumer)
            ph_kafka_consumer_store(a->consumer, offs[i].topic, offs[i].partition,
                                    offs[i].next_offset - 1);
    }
    a->pending = 0;
    a->last_commit = ph_mono_ms();
    ph_counter_inc(a->commits);
    ph_agg_stats st;
    ph_agg_get_stats(a->agg, &st);
    ph_gauge_set(a->duplicates, (double)st.duplicates);
    ph_gauge_set(a->late, (double)st.late);
    ph_gauge_set(a->too_late, (double)st.too_late);
    return PH_OK;
}

/* Partitions arrive: each starts where the store says it was consumed to, or at the beginning
 * when the store never saw it (a new store rebuilds from what Kafka still holds). */
static int stored_offset(void *arg, const ph_agg_offset *off)
{
    rd_kafka_topic_partition_list_t *parts = arg;
    rd_kafka_topic_partition_t *tp =
        rd_kafka_topic_partition_list_find(parts, off->topic, off->partition);
    if (tp)
        tp->offset = off->next_offset;
    return 0;
}

static void on_position(void *arg, rd_kafka_topic_partition_list_t *parts)
{
    ph_aggregator *a = arg;
    for (int i = 0; i < parts->cnt; i++)
        parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    for (int in = 0; in < IN_COUNT; in++)
        if (ph_agg_offsets(a->agg, a->topics[in], stored_offset, parts)) {
            ph_log_error(COMPONENT, "reading the stored offsets failed");
            a->failed = true;
        }
    for (int i = 0; i < parts->cnt; i++) {
        int in = topic_index(a, parts->elems[i].topic);
        position *pos = in >= 0 ? position_of(a, in, parts->elems[i].partition) : NULL;
        if (pos)
            *pos = (position){-1, false};
    }
}

/* Partitions leave: commit what was counted from them (the new owner, if it shares this store,
 * resumes right after; a lost assignment changes nothing here: the store stays consistent). */
static void on_revoke(void *arg, const rd_kafka_topic_partition_list_t *parts, bool lost)
{
    ph_aggregator *a = arg;
    (void)parts;
    (void)lost;
    if (!a->failed)
        commit(a);
}

/* ---- MetricWindows -----------------------------------------------------------------------------
 */

static void emitted_free(emitted *e)
{
    if (!e)
        return;
    free(e->app);
    free(e->environment);
    free(e->model);
    free(e);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Delivery reports of MetricWindows (main thread: the producer has no poll thread). */
static void on_delivery(void *msg_opaque, rd_kafka_resp_err_t err, const rd_kafka_message_t *rkm,
                        void *arg)
{
    ph_aggregator *a = arg;
    emitted *e = msg_opaque;
    (void)rkm;
    a->emits_in_flight--;
    if (!e)
        return;
    if (err) {
        /* Not marked: the next advance queues it again. */
        ph_log_warn(COMPONENT, "MetricWindow not delivered: %s", rd_kafka_err2str(err));
    } else {
        ph_agg_window w = {.level = e->level,
                           .start_ms = e->start_ms,
                           .end_ms = e->end_ms,
                           .app = e->app,
                           .environment = e->environment,
                           .model = e->model,
                           .revision = e->revision};
        ph_agg_mark_emitted(a->agg, &w);
        ph_counter_inc(a->windows_emitted);
    }
    emitted_free(e);
}

static int fill_window(ph_aggregator *a, const ph_agg_window *w)
{
    avro_value_t *v = &a->window;
    avro_value_t map, val;
    avro_value_reset(v);
    int rc = ph_avro_set_long(v, "window_start", w->start_ms) ||
             ph_avro_set_long(v, "window_end", w->end_ms) ||
             ph_avro_set_string(v, "granularity", w->granularity) ||
             ph_avro_set_string(v, "app", w->app) ||
             ph_avro_set_string(v, "environment", w->environment) ||
             ph_avro_set_string(v, "model", w->model) ||
             ph_avro_set_long(v, "revision", w->revision) ||
             ph_avro_set_long(v, "computed_time", ph_now_ms()) || ph_avro_get(v, "metrics", &map);
    for (size_t i = 0; rc == 0 && i < w->n_metrics; i++)
        rc = avro_value_add(&map, w->names[i], &val, NULL, NULL) ||
             avro_value_set_double(&val, w->values[i]);
    return rc ? PH_EAVRO : PH_OK;
}

/* Closes the windows the watermark passed and produces every window due. */
static int emit(ph_aggregator *a)
{
    char errstr[PH_ERRSTR_SIZE];
    ph_agg_window w;
    a->last_advance = ph_mono_ms();
    if (ph_agg_advance(a->agg, ph_now_ms(), NULL))
        return PH_OK;
    ph_gauge_set(a->watermark, (double)ph_agg_watermark(a->agg) / 1000.0);
    /* What is published is committed first: a crash never re-counts what a MetricWindow showed. */
    if (commit(a))
        return PH_EFATAL;
    while (ph_agg_next_emit(a->agg, &w) == PH_OK) {
        if (!a->cfg->emit) {
            ph_agg_mark_emitted(a->agg, &w);
            continue;
        }
        const void *buf;
        size_t len;
        emitted *e = calloc(1, sizeof(*e));
        if (!e || fill_window(a, &w) ||
            ph_avro_encode(a->enc, PH_SCHEMA_METRIC_WINDOW, &a->window, &buf, &len, errstr,
                           sizeof(errstr))) {
            ph_log_error(COMPONENT, "MetricWindow: cannot encode");
            emitted_free(e);
            return PH_OK; /* queued again by the next advance */
        }
        *e = (emitted){w.level,
                       w.start_ms,
                       w.end_ms,
                       w.revision,
                       dup_or_null(w.app),
                       dup_or_null(w.environment),
                       dup_or_null(w.model)};
        /* Keyed by app, so one app's windows stay in order on one partition. */
        const char *key = w.app ? w.app : "";
        int rc = ph_kafka_produce(a->producer, a->topic_metrics, key, strlen(key), buf, len, NULL,
                                  0, e, errstr, sizeof(errstr));
        if (rc) {
            emitted_free(e);
            if (rc == PH_EFATAL) {
                a->failed = true;
                return PH_EFATAL;
            }
            if (rc != PH_EQUEUEFULL)
                ph_log_warn(COMPONENT, "MetricWindow to %s: %s", a->topic_metrics, errstr);
            return PH_OK; /* the rest waits for the next advance */
        }
        a->emits_in_flight++;
    }
    return PH_OK;
}

/* ---- service callbacks ------------------------------------------------------------------------
 */

static int take(ph_aggregator *a, rd_kafka_message_t *rkm)
{
    char errstr[PH_ERRSTR_SIZE];
    int in = topic_index(a, rd_kafka_topic_name(rkm->rkt));
    position *pos = in >= 0 ? position_of(a, in, rkm->partition) : NULL;
    if (!pos)
        return PH_OK; /* not ours (or out of memory for a position: read again later) */
    int rc = ph_decode_add(a->dec, a->agg, in, rkm, errstr, sizeof(errstr));
    if (rc == PH_EINVAL) {
        ph_counter_inc(a->poison);
        ph_log_warn(COMPONENT, "%s [%" PRId32 "] at %" PRId64 ": skipped, %s", a->topics[in],
                    rkm->partition, rkm->offset, errstr);
    } else if (rc) {
        ph_log_error(COMPONENT, "counting a record of %s: %s", a->topics[in], ph_strerror(rc));
        a->failed = true;
        return PH_EFATAL;
    } else {
        ph_counter_inc(a->events[in]);
    }
    pos->next_offset = rkm->offset + 1;
    pos->dirty = true;
    a->pending++;
    return PH_OK;
}

static int step(void *state)
{
    ph_aggregator *a = state;
    char why[PH_ERRSTR_SIZE];
    if (a->failed || ph_kafka_consumer_fatal(a->consumer, why, sizeof(why)) ||
        ph_kafka_producer_fatal(a->producer, why, sizeof(why)))
        return PH_EFATAL;
    int64_t until = ph_mono_ms() + 100;
    int n = 0;
    rd_kafka_message_t *rkm;
    while (n < BURST && a->pending < a->cfg->max_batch &&
           (rkm = ph_kafka_consumer_poll(a->consumer, n == 0 ? 50 : 0))) {
        n++;
        int rc = take(a, rkm);
        rd_kafka_message_destroy(rkm);
        if (rc)
            return PH_EFATAL;
        if ((n & 63) == 0 && ph_mono_ms() >= until)
            break;
    }
    if (a->failed)
        return PH_EFATAL;
    int64_t now = ph_mono_ms();
    if (a->pending >= a->cfg->max_batch ||
        (a->pending > 0 && now - a->last_commit >= a->cfg->commit_interval_ms)) {
        if (commit(a))
            return PH_EFATAL;
    }
    /* Marks of acknowledged windows are committed with the next batch (or the next second). */
    ph_kafka_producer_poll(a->producer, 0);
    if (now - a->last_advance >= 1000 && emit(a))
        return PH_EFATAL;
    return PH_OK;
}

static int drain(void *state, int64_t deadline_ms)
{
    ph_aggregator *a = state;
    int rc = PH_OK;
    if (!a->failed) {
        emit(a);
        int64_t wait = deadline_ms - ph_mono_ms();
        if (ph_kafka_producer_flush(a->producer, wait > 0 ? (int)wait : 0, NULL))
            rc = PH_ETIMEDOUT;
        ph_kafka_producer_poll(a->producer, 0); /* the marks of the last windows */
        if (commit(a))
            rc = PH_EFATAL;
    }
    ph_kafka_consumer_destroy(a->consumer); /* on_revoke finds nothing more to commit */
    a->consumer = NULL;
    return a->failed ? PH_EFATAL : rc;
}

static void destroy(void *state)
{
    ph_aggregator *a = state;
    if (!a)
        return;
    ph_api_destroy(a->api);
    ph_kafka_consumer_destroy(a->consumer);
    if (a->producer) {
        /* Reports still owed free their opaques: serve them before the handle goes. */
        ph_kafka_producer_flush(a->producer, 0, NULL);
        ph_kafka_producer_destroy(a->producer);
    }
    ph_agg_destroy(a->agg); /* what was not committed is read again at the next start */
    if (a->window_ready)
        avro_value_decref(&a->window);
    ph_avro_encoder_destroy(a->enc);
    ph_decoder_ctx_destroy(a->dec);
    ph_codec_destroy(a->codec);
    for (int i = 0; i < IN_COUNT; i++)
        free(a->positions[i]);
    free(a->kpis);
    free(a->kpi_text);
    free(a);
}

static int health(void *state, char *why, size_t why_size)
{
    ph_aggregator *a = state;
    if (a->failed) {
        snprintf(why, why_size, "the store or Kafka failed");
        return PH_EFATAL;
    }
    return PH_OK;
}

/* kpis = "name=key:number,name2=key2:bool" (":number" may be left out). */
static int parse_kpis(ph_aggregator *a, const char *text, char *errstr, size_t errstr_size)
{
    if (!text || !*text)
        return PH_OK;
    size_t cap = 1;
    for (const char *p = text; *p; p++)
        cap += *p == ',';
    if (!(a->kpi_text = strdup(text)) || !(a->kpis = calloc(cap, sizeof(*a->kpis))))
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    char *save = NULL;
    for (char *item = strtok_r(a->kpi_text, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq || eq == item || !eq[1])
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "kpis: \"%s\" is not name=metadata_key[:number|:bool]", item);
        *eq = '\0';
        char *key = eq + 1;
        char *colon = strrchr(key, ':');
        ph_agg_kpi_type type = PH_AGG_KPI_NUMBER;
        if (colon) {
            *colon = '\0';
            if (strcmp(colon + 1, "bool") == 0)
                type = PH_AGG_KPI_BOOL;
            else if (strcmp(colon + 1, "number") != 0)
                return ph_err(errstr, errstr_size, PH_EINVAL,
                              "kpis: type of %s must be number or bool", item);
        }
        a->kpis[a->nkpis++] = (ph_agg_kpi){item, key, type};
    }
    return PH_OK;
}

static int create(ph_service *svc, const void *config, void **state, char *errstr,
                  size_t errstr_size)
{
    const ph_aggregator_config *cfg = config;
    const ph_common_config *common = ph_service_common(svc);
    ph_metrics *m = ph_service_metrics(svc);
    char client_id[300], group_id[300];
    int rc;
    ph_aggregator *a = calloc(1, sizeof(*a));
    if (!a)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    *state = a;
    a->svc = svc;
    a->cfg = cfg;
    if (cfg->commit_interval_ms <= 0 || cfg->max_batch <= 0)
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "commit_interval_ms and max_batch must be positive");
    if ((rc = parse_kpis(a, cfg->kpis, errstr, errstr_size)))
        return rc;
    static const ph_topic in_topics[IN_COUNT] = {PH_TOPIC_LOGS_VALID, PH_TOPIC_LOGS_INVALID,
                                                 PH_TOPIC_EVALS, PH_TOPIC_FEEDBACK};
    for (int i = 0; i < IN_COUNT; i++)
        if (ph_topic_name(common->topic_prefix, in_topics[i], a->topics[i], sizeof(a->topics[i])))
            return ph_err(errstr, errstr_size, PH_EINVAL, "topic_prefix too long");
    if (ph_topic_name(common->topic_prefix, PH_TOPIC_METRICS, a->topic_metrics,
                      sizeof(a->topic_metrics)))
        return ph_err(errstr, errstr_size, PH_EINVAL, "topic_prefix too long");

    ph_agg_config acfg;
    ph_agg_config_default(&acfg);
    acfg.window_ms = cfg->window_ms;
    acfg.allowed_lateness_ms = cfg->allowed_lateness_ms;
    acfg.retention_ms[PH_AGG_LEVEL_MINUTE] = cfg->retention_minutes_ms;
    acfg.retention_ms[PH_AGG_LEVEL_HOUR] = cfg->retention_hours_ms;
    acfg.retention_ms[PH_AGG_LEVEL_DAY] = cfg->retention_days_ms;
    acfg.dedup_retention_ms = cfg->dedup_retention_ms;
    acfg.sync_full = cfg->sync_full;
    acfg.kpis = a->kpis;
    acfg.n_kpis = a->nkpis;
    if ((rc = ph_agg_new(&a->agg, &acfg, cfg->db, errstr, errstr_size)))
        return rc;
    if ((rc = ph_codec_new(&a->codec, errstr, errstr_size)) ||
        (rc = ph_avro_encoder_new(&a->enc, a->codec, errstr, errstr_size)))
        return rc;
    if (!(a->dec = ph_decoder_ctx_new(a->codec, errstr, errstr_size)))
        return PH_ENOMEM;
    if (avro_generic_value_new(ph_codec_iface(a->codec, PH_SCHEMA_METRIC_WINDOW), &a->window))
        return ph_err(errstr, errstr_size, PH_EAVRO, "MetricWindow value: %s", avro_strerror());
    a->window_ready = true;
    if ((rc = ph_api_new(&a->api, ph_service_http(svc), cfg->db, cfg->window_ms, errstr,
                         errstr_size)))
        return rc;

    snprintf(client_id, sizeof(client_id), "pharos-aggregator-%s", common->instance);
    ph_kafka_producer_config pc = {.brokers = common->brokers,
                                   .client_id = client_id,
                                   .props = ph_service_kafka_props(svc),
                                   .on_delivery = on_delivery,
                                   .arg = a,
                                   .poll_thread = false};
    if ((rc = ph_kafka_producer_new(&a->producer, &pc, errstr, errstr_size)))
        return rc;
    if (cfg->group_id)
        snprintf(group_id, sizeof(group_id), "%s", cfg->group_id);
    else
        snprintf(group_id, sizeof(group_id), "%spharos-aggregator",
                 common->topic_prefix ? common->topic_prefix : "");
    const char *topics[IN_COUNT];
    for (int i = 0; i < IN_COUNT; i++)
        topics[i] = a->topics[i];
    ph_kafka_consumer_config cc = {.brokers = common->brokers,
                                   .client_id = client_id,
                                   .group_id = group_id,
                                   .props = ph_service_kafka_props(svc),
                                   .topics = topics,
                                   .ntopics = IN_COUNT,
                                   .read_committed = true,
                                   .auto_commit = true, /* a copy of the store's positions */
                                   .on_revoke = on_revoke,
                                   .on_position = on_position,
                                   .arg = a};
    if ((rc = ph_kafka_consumer_new(&a->consumer, &cc, errstr, errstr_size)))
        return rc;

    for (int i = 0; i < IN_COUNT; i++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "input=\"%s\"", in_names[i]);
        a->events[i] = ph_metrics_counter(m, "pharos_aggregator_events_total",
                                          "Records read and counted (duplicates included)", labels);
    }
    a->poison = ph_metrics_counter(m, "pharos_aggregator_poison_total",
                                   "Messages that are not records of their topic (skipped)", NULL);
    a->commits = ph_metrics_counter(m, "pharos_aggregator_commits_total",
                                    "Store transactions (windows, dedup keys, offsets)", NULL);
    a->windows_emitted = ph_metrics_counter(m, "pharos_aggregator_windows_emitted_total",
                                            "MetricWindows acknowledged by Kafka", NULL);
    a->duplicates = ph_metrics_gauge(m, "pharos_aggregator_duplicates",
                                     "Records ignored as duplicates since the start", NULL);
    a->late =
        ph_metrics_gauge(m, "pharos_aggregator_late_records",
                         "Records counted after their window had closed, since the start", NULL);
    a->too_late = ph_metrics_gauge(
        m, "pharos_aggregator_too_late_records",
        "Records refused as older than the dedup retention, since the start", NULL);
    a->watermark = ph_metrics_gauge(m, "pharos_aggregator_watermark_seconds",
                                    "Event time up to which windows are closed", NULL);
    a->last_commit = a->last_advance = ph_mono_ms();
    ph_log_info(COMPONENT, "store %s; consuming %s, %s, %s, %s as group %s", cfg->db, a->topics[0],
                a->topics[1], a->topics[2], a->topics[3], group_id);
    return PH_OK;
}

static const ph_config_entry config_table[] = {
    {"db", PH_CFG_STR, "pharos-aggregator.db", offsetof(ph_aggregator_config, db),
     "SQLite file of the metrics (created when missing)"},
    {"group_id", PH_CFG_STR, NULL, offsetof(ph_aggregator_config, group_id),
     "Kafka consumer group; default <topic_prefix>pharos-aggregator (the offsets that count are "
     "in the store)"},
    {"window_ms", PH_CFG_INT, "60000", offsetof(ph_aggregator_config, window_ms),
     "size of the finest window; must divide an hour, fixed for the life of a store"},
    {"allowed_lateness_ms", PH_CFG_INT, "300000",
     offsetof(ph_aggregator_config, allowed_lateness_ms),
     "a window closes (and is published) once events this much newer than its end were seen"},
    {"retention_minutes_ms", PH_CFG_INT, "604800000",
     offsetof(ph_aggregator_config, retention_minutes_ms), "how long minute windows are kept"},
    {"retention_hours_ms", PH_CFG_INT, "7776000000",
     offsetof(ph_aggregator_config, retention_hours_ms), "how long hour windows are kept"},
    {"retention_days_ms", PH_CFG_INT, "63072000000",
     offsetof(ph_aggregator_config, retention_days_ms), "how long day windows are kept"},
    {"dedup_retention_ms", PH_CFG_INT, "172800000",
     offsetof(ph_aggregator_config, dedup_retention_ms),
     "how long record ids are remembered to drop duplicates; older events are refused"},
    {"commit_interval_ms", PH_CFG_INT, "1000", offsetof(ph_aggregator_config, commit_interval_ms),
     "the store commits windows, dedup keys and offsets at least this often ..."},
    {"max_batch", PH_CFG_INT, "50000", offsetof(ph_aggregator_config, max_batch),
     "... or after this many records"},
    {"kpis", PH_CFG_STR, NULL, offsetof(ph_aggregator_config, kpis),
     "business KPIs from log metadata: name=metadata_key[:number|:bool],... e.g. "
     "resolution_s=time_to_resolution:number,deflected=deflected_to_human:bool"},
    {"emit", PH_CFG_BOOL, "true", offsetof(ph_aggregator_config, emit),
     "publish closed windows as MetricWindows on pharos.metrics"},
    {"sync_full", PH_CFG_BOOL, "true", offsetof(ph_aggregator_config, sync_full),
     "SQLite synchronous=FULL (durable across power loss); false: NORMAL"},
};

const ph_service_def ph_aggregator_def = {
    .name = "aggregator",
    .summary = "windowed metrics of logs, invalid records, evaluations and feedback in SQLite; "
               "MetricWindows to pharos.metrics; the JSON API and the dashboard",
    .default_http_addr = "http://0.0.0.0:8083",
    .config = config_table,
    .config_len = sizeof(config_table) / sizeof(config_table[0]),
    .config_size = sizeof(ph_aggregator_config),
    .create = create,
    .step = step,
    .drain = drain,
    .destroy = destroy,
    .health = health,
};
