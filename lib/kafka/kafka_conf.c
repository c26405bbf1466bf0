/* librdkafka configuration shared by every client: logging, pass-through properties. */
#include "ph_kafka.h"
#include "ph_kafka_int.h"

#include <string.h>

#include "ph_error.h"
#include "ph_log.h"

/* librdkafka logs with syslog levels from its own threads; ph_log is thread-safe. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    int lvl = level <= 3   ? PH_LOG_ERROR
              : level == 4 ? PH_LOG_WARN
              : level <= 6 ? PH_LOG_INFO
                           : PH_LOG_DEBUG;
    ph_log(lvl, "rdkafka", "%s: %s: %s", rd_kafka_name(rk), fac, buf);
}

static bool props_name(const ph_config_kv *props, const char *key)
{
    for (; props; props = props->next)
        if (strcmp(props->key, key) == 0)
            return true;
    return false;
}

int ph_kafka_conf_default(rd_kafka_conf_t *conf, const ph_config_kv *props, const char *key,
                          const char *value, char *errstr, size_t errstr_size)
{
    char why[256];
    if (props_name(props, key))
        return PH_OK;
    if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) != RD_KAFKA_CONF_OK)
        return ph_err(errstr, errstr_size, PH_EINVAL, "kafka.%s=%s: %s", key, value, why);
    return PH_OK;
}

int ph_kafka_conf_new(rd_kafka_conf_t **out, const char *brokers, const char *client_id,
                      const ph_config_kv *props, char *errstr, size_t errstr_size)
{
    char why[256];
    int rc = PH_OK;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!brokers || !*brokers) {
        rc = ph_err(errstr, errstr_size, PH_EINVAL, "brokers: no Kafka bootstrap servers set");
        goto out;
    }
    if ((rc = ph_kafka_conf_default(conf, props, "bootstrap.servers", brokers, errstr,
                                    errstr_size)) ||
        (rc = ph_kafka_conf_default(conf, props, "client.id", client_id ? client_id : "pharos",
                                    errstr, errstr_size)))
        goto out;
    rd_kafka_conf_set_log_cb(conf, log_cb);
    for (const ph_config_kv *kv = props; kv; kv = kv->next) {
        if (rd_kafka_conf_set(conf, kv->key, kv->value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
            rc = ph_err(errstr, errstr_size, PH_EINVAL, "kafka.%s: %s", kv->key, why);
            goto out;
        }
    }
out:
    if (rc)
        rd_kafka_conf_destroy(conf);
    else
        *out = conf;
    return rc;
}

int ph_kafka_header_get(const rd_kafka_message_t *rkm, const char *name, const void **value,
                        size_t *len)
{
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(rkm, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return PH_ENOENT;
    if (rd_kafka_header_get_last(hdrs, name, value, len) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return PH_ENOENT;
    return PH_OK;
}
