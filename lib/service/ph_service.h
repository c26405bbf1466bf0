/* The one main loop and the one shutdown order every Pharos service shares.
 *
 * A service is a table (ph_service_def): its config entries and five callbacks. ph_service_main()
 * does the rest, always in this order:
 *   1. parse config (default < file < env < flag), handle --help, --version, --dump-config;
 *   2. set up logging and signals (SIGTERM/SIGINT set a flag; a second one exits at once;
 *      SIGPIPE ignored);
 *   3. create the HTTP server (GET /healthz, GET /metrics, plus the service's own routes),
 *      def->create(), start HTTP;
 *   4. loop: def->step() until a signal arrives or a fatal error is reported;
 *   5. drain: def->drain() with the grace period (stop intake, finish in-flight work, flush
 *      producers, close consumers) while HTTP still answers (healthz says "draining");
 *   6. stop HTTP, def->destroy(), exit 0 — or 1 if drain left work undone or a fatal error
 *      occurred, so supervisors notice.
 * Threads: step/drain/destroy run on the main thread; create runs before any other thread of
 * ours exists. ph_service_fatal() may be called from any thread. */
#ifndef PH_SERVICE_H
#define PH_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ph_config.h"
#include "ph_http.h"
#include "ph_metrics.h"

/* Keys every service has (see ph_service_common_table in ph_service.c). */
typedef struct ph_common_config {
    char *brokers;      /* Kafka bootstrap servers */
    char *topic_prefix; /* prepended to every pipeline topic name (tests use a unique one) */
    char *http_addr;    /* e.g. http://0.0.0.0:8080; port 0 picks a free port */
    char *log_level;    /* error, warn, info, debug */
    int64_t grace_ms;   /* drain deadline after SIGTERM */
    char *instance;     /* instance name: client ids, transactional ids; default hostname */
} ph_common_config;

typedef struct ph_service ph_service;

typedef struct ph_service_def {
    const char *name;              /* "ingestor": binary pharos-ingestor, env PHAROS_INGESTOR_ */
    const char *summary;           /* one line for --help */
    const char *default_http_addr; /* e.g. "http://127.0.0.1:8080" */
    const ph_config_entry *config; /* the service's own keys, filling a struct of config_size */
    size_t config_len;
    size_t config_size;
    /* Builds the service: clients, routes (ph_service_http), metrics. *state is passed back to
     * every other callback. On failure returns non-zero with errstr; destroy(NULL-or-partial
     * state) is still called with whatever *state holds. */
    int (*create)(ph_service *svc, const void *config, void **state, char *errstr,
                  size_t errstr_size);
    /* One main-loop iteration; should return within ~100 ms so signals are noticed. Returns 0,
     * or PH_EFATAL to shut down with exit code 1. */
    int (*step)(void *state);
    /* Stops intake and finishes in-flight work by deadline_ms (ph_mono_ms clock). Returns 0 when
     * nothing was left undone. */
    int (*drain)(void *state, int64_t deadline_ms);
    void (*destroy)(void *state);
    /* Optional readiness for GET /healthz: 0, or non-zero with a reason. */
    int (*health)(void *state, char *why, size_t why_size);
} ph_service_def;

/* Runs the service; returns the process exit code. */
int ph_service_main(const ph_service_def *def, int argc, char **argv);

/* Accessors for create(); the objects are owned by the service. */
ph_http_server *ph_service_http(ph_service *svc);
ph_metrics *ph_service_metrics(ph_service *svc);
const ph_common_config *ph_service_common(const ph_service *svc);
const ph_config_kv *ph_service_kafka_props(const ph_service *svc);

/* Reports an unrecoverable error from any thread: the main loop stops and drains, exit code 1. */
void ph_service_fatal(ph_service *svc, const char *why);

/* True once shutdown has begun (signal or fatal error). Any thread. */
bool ph_service_stopping(const ph_service *svc);

/* Installs the signal handlers (also used by the CLI's long-running commands); after that,
 * ph_signal_received() tells whether SIGTERM/SIGINT arrived. A second signal exits at once. */
void ph_signals_install(void);
bool ph_signal_received(void);

#endif
