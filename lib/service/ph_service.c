#include "ph_service.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ph_error.h"
#include "ph_log.h"
#include "ph_util.h"

struct ph_service {
    const ph_service_def *def;
    ph_config *cfg;
    ph_common_config common;
    void *svc_config; /* the service's own struct, config_size bytes */
    void *state;
    bool create_called; /* destroy() then runs, whatever create() managed */
    ph_http_server *http;
    ph_metrics *metrics;
    atomic_bool fatal;
    atomic_bool draining;
    char fatal_reason[PH_ERRSTR_SIZE];
};

static const ph_config_entry common_table[] = {
    {"brokers", PH_CFG_STR, "127.0.0.1:9092", offsetof(ph_common_config, brokers),
     "Kafka bootstrap servers (host:port,...)"},
    {"topic_prefix", PH_CFG_STR, "", offsetof(ph_common_config, topic_prefix),
     "prefix of every pipeline topic name, e.g. staging. -> staging.pharos.logs.raw"},
    {"http_addr", PH_CFG_STR, NULL, offsetof(ph_common_config, http_addr),
     "address of the HTTP server (/healthz, /metrics and the service's API); port 0 picks one"},
    {"log_level", PH_CFG_STR, "info", offsetof(ph_common_config, log_level),
     "error, warn, info or debug"},
    {"grace_ms", PH_CFG_INT, "30000", offsetof(ph_common_config, grace_ms),
     "on SIGTERM, time allowed to finish in-flight work and flush before exiting"},
    {"instance", PH_CFG_STR, NULL, offsetof(ph_common_config, instance),
     "name of this instance (Kafka client and transactional ids); default: the host name"},
};

/* ---- signals: the handler only sets a flag and, the second time, exits. ---------------------- */

static volatile sig_atomic_t signal_count;

static void on_signal(int sig)
{
    (void)sig;
    if (signal_count++ > 0) {
        static const char msg[] = "second signal: exiting now without draining\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void)w;
        _exit(1);
    }
}

void ph_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

bool ph_signal_received(void)
{
    return signal_count > 0;
}

/* ---- accessors ------------------------------------------------------------------------------ */

ph_http_server *ph_service_http(ph_service *svc)
{
    return svc->http;
}

ph_metrics *ph_service_metrics(ph_service *svc)
{
    return svc->metrics;
}

const ph_common_config *ph_service_common(const ph_service *svc)
{
    return &svc->common;
}

const ph_config_kv *ph_service_kafka_props(const ph_service *svc)
{
    return ph_config_kafka(svc->cfg);
}

void ph_service_fatal(ph_service *svc, const char *why)
{
    bool expected = false;
    if (atomic_compare_exchange_strong(&svc->fatal, &expected, true)) {
        snprintf(svc->fatal_reason, sizeof(svc->fatal_reason), "%s", why);
        ph_log_error(svc->def->name, "fatal: %s", why);
    }
}

bool ph_service_stopping(const ph_service *svc)
{
    return ph_signal_received() || atomic_load(&svc->fatal);
}

static int health(void *arg, char *why, size_t why_size)
{
    ph_service *svc = arg;
    if (atomic_load(&svc->fatal)) {
        snprintf(why, why_size, "fatal: %s", svc->fatal_reason);
        return PH_EFATAL;
    }
    if (atomic_load(&svc->draining)) {
        snprintf(why, why_size, "draining");
        return PH_ESTATE;
    }
    if (svc->def->health && svc->state)
        return svc->def->health(svc->state, why, why_size);
    return PH_OK;
}

/* ---- main ----------------------------------------------------------------------------------- */

static void usage(const ph_service *svc, FILE *out)
{
    fprintf(out,
            "pharos-%s %s: %s\n\nUsage: pharos-%s [--config=FILE] [--key=value ...] "
            "[--dump-config] [--help] [--version]\n\n",
            svc->def->name, PHAROS_VERSION, svc->def->summary, svc->def->name);
    ph_config_usage(svc->cfg, out);
}

static int configure(ph_service *svc, int *argc, char **argv, int *exit_now, char *errstr,
                     size_t errstr_size)
{
    static const char *const passthrough[] = {"--help", "--version", "--dump-config", NULL};
    const ph_service_def *def = svc->def;
    int rc;
    *exit_now = -1;
    if (!(svc->cfg = ph_config_new(def->name)) ||
        !(svc->svc_config = calloc(1, def->config_size ? def->config_size : 1)))
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    if ((rc = ph_config_add_table(svc->cfg, common_table,
                                  sizeof(common_table) / sizeof(common_table[0]), &svc->common,
                                  errstr, errstr_size)) ||
        (rc = ph_config_add_table(svc->cfg, def->config, def->config_len, svc->svc_config, errstr,
                                  errstr_size)))
        return rc;
    if (def->default_http_addr &&
        (rc = ph_config_set(svc->cfg, "http_addr", def->default_http_addr, errstr, errstr_size)))
        return rc;
    if ((rc = ph_config_load(svc->cfg, argc, argv, passthrough, errstr, errstr_size)))
        return rc;
    if (!svc->common.instance) {
        char host[256] = "pharos";
        gethostname(host, sizeof(host) - 1);
        if ((rc = ph_config_set(svc->cfg, "instance", host, errstr, errstr_size)))
            return rc;
    }
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(svc, stdout);
            *exit_now = 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("pharos-%s %s\n", def->name, PHAROS_VERSION);
            *exit_now = 0;
        } else if (strcmp(argv[i], "--dump-config") == 0) {
            ph_config_dump(svc->cfg, stdout);
            *exit_now = 0;
        } else {
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "unexpected argument '%s' (flags are --key=value; see --help)", argv[i]);
        }
    }
    int level;
    if (ph_log_level_parse(svc->common.log_level ? svc->common.log_level : "info", &level))
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "log_level: '%s' is not one of error, "
                      "warn, info, debug",
                      svc->common.log_level);
    ph_log_set_level(level);
    return PH_OK;
}

static int start(ph_service *svc, char *errstr, size_t errstr_size)
{
    int rc;
    if (!(svc->metrics = ph_metrics_new()))
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    if (!svc->common.http_addr)
        return ph_err(errstr, errstr_size, PH_EINVAL, "http_addr: not set");
    if ((rc = ph_http_server_new(&svc->http, svc->common.http_addr, errstr, errstr_size)))
        return rc;
    ph_http_server_set_metrics(svc->http, svc->metrics);
    if ((rc = ph_http_add_health_and_metrics(svc->http, svc->metrics, health, svc)))
        return ph_err(errstr, errstr_size, rc, "registering /healthz and /metrics");
    svc->create_called = true;
    if ((rc = svc->def->create(svc, svc->svc_config, &svc->state, errstr, errstr_size)))
        return rc;
    if ((rc = ph_http_server_start(svc->http, errstr, errstr_size)))
        return rc;
    ph_log_info(svc->def->name, "pharos-%s %s started; HTTP on port %d, brokers %s", svc->def->name,
                PHAROS_VERSION, ph_http_server_port(svc->http), svc->common.brokers);
    return PH_OK;
}

int ph_service_main(const ph_service_def *def, int argc, char **argv)
{
    char errstr[PH_ERRSTR_SIZE] = "";
    int exit_code = 1;
    int exit_now = -1;
    ph_service svc_storage;
    ph_service *svc = &svc_storage;
    memset(svc, 0, sizeof(*svc));
    svc->def = def;

    ph_signals_install();
    if (configure(svc, &argc, argv, &exit_now, errstr, sizeof(errstr))) {
        fprintf(stderr, "pharos-%s: %s\n", def->name, errstr);
        exit_code = 2;
        goto out;
    }
    if (exit_now >= 0) {
        exit_code = exit_now;
        goto out;
    }
    if (start(svc, errstr, sizeof(errstr))) {
        ph_log_error(def->name, "cannot start: %s", errstr);
        goto out;
    }

    /* The main loop. */
    int rc = PH_OK;
    while (!ph_service_stopping(svc)) {
        if ((rc = def->step(svc->state)) == PH_EFATAL) {
            ph_service_fatal(svc, "main loop step failed");
            break;
        }
    }

    /* The shutdown order: drain while HTTP still answers, then stop HTTP, then destroy. */
    atomic_store(&svc->draining, true);
    ph_log_info(def->name, "shutting down: draining (grace %lld ms)",
                (long long)svc->common.grace_ms);
    int64_t deadline = ph_mono_ms() + svc->common.grace_ms;
    rc = def->drain(svc->state, deadline);
    exit_code = rc == PH_OK && !atomic_load(&svc->fatal) ? 0 : 1;
    ph_log_info(def->name, "drained %s; exiting with %d",
                rc == PH_OK ? "cleanly" : "with work left", exit_code);
out:
    if (svc->http)
        ph_http_server_stop(svc->http);
    if (svc->create_called)
        def->destroy(svc->state);
    ph_http_server_destroy(svc->http);
    ph_metrics_destroy(svc->metrics);
    ph_config_destroy(svc->cfg);
    free(svc->svc_config);
    return exit_code;
}
