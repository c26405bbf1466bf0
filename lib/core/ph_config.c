#include "ph_config.h"
#include "ph_error.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern char **environ;

typedef struct table {
    const ph_config_entry *entries;
    size_t n;
    void *target;
    struct table *next;
} table;

struct ph_config {
    char *service;
    char *env_prefix; /* "PHAROS_INGESTOR_" */
    table *tables;
    ph_config_kv *kafka;
    ph_config_kv *kafka_tail;
};

ph_config *ph_config_new(const char *service)
{
    ph_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return NULL;
    cfg->service = strdup(service);
    size_t n = strlen(service) + sizeof("PHAROS__");
    cfg->env_prefix = malloc(n);
    if (!cfg->service || !cfg->env_prefix) {
        ph_config_destroy(cfg);
        return NULL;
    }
    snprintf(cfg->env_prefix, n, "PHAROS_%s_", service);
    for (char *p = cfg->env_prefix; *p; p++)
        *p = (char)(*p == '-' || *p == '.' ? '_' : toupper((unsigned char)*p));
    return cfg;
}

static void free_strings(table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->entries[i].type == PH_CFG_STR) {
            char **field = (char **)((char *)t->target + t->entries[i].offset);
            free(*field);
            *field = NULL;
        }
    }
}

void ph_config_destroy(ph_config *cfg)
{
    if (!cfg)
        return;
    while (cfg->tables) {
        table *t = cfg->tables;
        cfg->tables = t->next;
        free_strings(t);
        free(t);
    }
    while (cfg->kafka) {
        ph_config_kv *kv = cfg->kafka;
        cfg->kafka = kv->next;
        free(kv->key);
        free(kv->value);
        free(kv);
    }
    free(cfg->service);
    free(cfg->env_prefix);
    free(cfg);
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return PH_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return PH_OK;
        }
    }
    return PH_EINVAL;
}

/* Writes value into the entry's field; the field is untouched on failure. */
static int apply(const ph_config_entry *e, void *target, const char *value, char *errstr,
                 size_t errstr_size)
{
    void *field = (char *)target + e->offset;
    const char *v = value ? value : "";
    char *end = NULL;
    switch (e->type) {
    case PH_CFG_STR: {
        char *copy = NULL;
        if (*v && !(copy = strdup(v)))
            return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
        free(*(char **)field);
        *(char **)field = copy;
        return PH_OK;
    }
    case PH_CFG_INT: {
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (!*v || *end || errno)
            return ph_err(errstr, errstr_size, PH_EINVAL, "%s: '%s' is not an integer", e->key, v);
        *(int64_t *)field = (int64_t)n;
        return PH_OK;
    }
    case PH_CFG_BOOL: {
        bool b;
        if (parse_bool(v, &b) != PH_OK)
            return ph_err(errstr, errstr_size, PH_EINVAL, "%s: '%s' is not a boolean", e->key, v);
        *(bool *)field = b;
        return PH_OK;
    }
    case PH_CFG_DOUBLE: {
        errno = 0;
        double d = strtod(v, &end);
        if (!*v || *end || errno || !isfinite(d))
            return ph_err(errstr, errstr_size, PH_EINVAL, "%s: '%s' is not a number", e->key, v);
        *(double *)field = d;
        return PH_OK;
    }
    }
    return ph_err(errstr, errstr_size, PH_EINVAL, "%s: unknown type", e->key);
}

int ph_config_add_table(ph_config *cfg, const ph_config_entry *entries, size_t n, void *target,
                        char *errstr, size_t errstr_size)
{
    table *t = calloc(1, sizeof(*t));
    if (!t)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    t->entries = entries;
    t->n = n;
    t->target = target;
    /* Append, so lookups and dumps follow declaration order. */
    table **tail = &cfg->tables;
    while (*tail)
        tail = &(*tail)->next;
    *tail = t;
    for (size_t i = 0; i < n; i++) {
        if (entries[i].type == PH_CFG_STR)
            *(char **)((char *)target + entries[i].offset) = NULL;
        int rc = apply(&entries[i], target, entries[i].def, errstr, errstr_size);
        if (rc)
            return rc;
    }
    return PH_OK;
}

static int add_kafka(ph_config *cfg, const char *prop, const char *value, char *errstr,
                     size_t errstr_size)
{
    if (!*prop)
        return ph_err(errstr, errstr_size, PH_EINVAL, "kafka.: empty librdkafka property");
    ph_config_kv *kv = calloc(1, sizeof(*kv));
    if (!kv || !(kv->key = strdup(prop)) || !(kv->value = strdup(value ? value : ""))) {
        if (kv) {
            free(kv->key);
            free(kv);
        }
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    }
    if (cfg->kafka_tail)
        cfg->kafka_tail->next = kv;
    else
        cfg->kafka = kv;
    cfg->kafka_tail = kv;
    return PH_OK;
}

int ph_config_set(ph_config *cfg, const char *key, const char *value, char *errstr,
                  size_t errstr_size)
{
    if (strncmp(key, "kafka.", 6) == 0)
        return add_kafka(cfg, key + 6, value, errstr, errstr_size);
    for (table *t = cfg->tables; t; t = t->next)
        for (size_t i = 0; i < t->n; i++)
            if (strcmp(t->entries[i].key, key) == 0)
                return apply(&t->entries[i], t->target, value, errstr, errstr_size);
    return ph_err(errstr, errstr_size, PH_EINVAL,
                  "unknown configuration key '%s' for pharos-%s (see --help)", key, cfg->service);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int ph_config_load_file(ph_config *cfg, const char *path, char *errstr, size_t errstr_size)
{
    char line[4096];
    char why[PH_ERRSTR_SIZE];
    int rc = PH_OK;
    int lineno = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return ph_err(errstr, errstr_size, PH_EIO, "config file %s: %s", path, strerror(errno));
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            rc = ph_err(errstr, errstr_size, PH_EINVAL, "%s:%d: line too long", path, lineno);
            goto out;
        }
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = ph_err(errstr, errstr_size, PH_EINVAL, "%s:%d: expected 'key = value'", path,
                        lineno);
            goto out;
        }
        *eq = '\0';
        rc = ph_config_set(cfg, trim(s), trim(eq + 1), why, sizeof(why));
        if (rc) {
            ph_err(errstr, errstr_size, rc, "%s:%d: %s", path, lineno, why);
            goto out;
        }
    }
out:
    fclose(f);
    return rc;
}

/* PHAROS_<SVC>_<KEY>: upper case, dots as underscores. */
static void env_name(const ph_config *cfg, const char *key, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s", cfg->env_prefix, key);
    for (char *p = buf + strlen(cfg->env_prefix); *p; p++)
        *p = (char)(*p == '.' || *p == '-' ? '_' : toupper((unsigned char)*p));
}

static int load_env(ph_config *cfg, char *errstr, size_t errstr_size)
{
    char name[256];
    char why[PH_ERRSTR_SIZE];
    for (table *t = cfg->tables; t; t = t->next) {
        for (size_t i = 0; i < t->n; i++) {
            env_name(cfg, t->entries[i].key, name, sizeof(name));
            const char *v = getenv(name);
            if (!v)
                continue;
            int rc = apply(&t->entries[i], t->target, v, why, sizeof(why));
            if (rc)
                return ph_err(errstr, errstr_size, rc, "environment %s: %s", name, why);
        }
    }
    /* PHAROS_<SVC>_KAFKA_LINGER_MS=5 -> kafka.linger.ms=5 (librdkafka names use dots only). */
    char kprefix[256];
    snprintf(kprefix, sizeof(kprefix), "%sKAFKA_", cfg->env_prefix);
    size_t klen = strlen(kprefix);
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, kprefix, klen) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (!eq || (size_t)(eq - *e) <= klen || (size_t)(eq - *e) - klen >= sizeof(name))
            continue;
        size_t n = (size_t)(eq - *e) - klen;
        for (size_t j = 0; j < n; j++) {
            char c = (*e)[klen + j];
            name[j] = (char)(c == '_' ? '.' : tolower((unsigned char)c));
        }
        name[n] = '\0';
        int rc = add_kafka(cfg, name, eq + 1, errstr, errstr_size);
        if (rc)
            return rc;
    }
    return PH_OK;
}

static bool is_passthrough(const char *arg, const char *const *passthrough)
{
    for (; passthrough && *passthrough; passthrough++) {
        size_t n = strlen(*passthrough);
        if (strncmp(arg, *passthrough, n) == 0 && (arg[n] == '\0' || arg[n] == '='))
            return true;
    }
    return false;
}

static bool is_bool_key(const ph_config *cfg, const char *key)
{
    for (const table *t = cfg->tables; t; t = t->next)
        for (size_t i = 0; i < t->n; i++)
            if (strcmp(t->entries[i].key, key) == 0)
                return t->entries[i].type == PH_CFG_BOOL;
    return false;
}

int ph_config_load(ph_config *cfg, int *argc, char **argv, const char *const *passthrough,
                   char *errstr, size_t errstr_size)
{
    char why[PH_ERRSTR_SIZE];
    char key[256];
    char name[256];
    int rc;

    /* 1. file: the flag wins over the environment variable naming it. */
    const char *file = NULL;
    env_name(cfg, "config", name, sizeof(name));
    file = getenv(name);
    for (int i = 1; i < *argc; i++)
        if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
    if (file && *file && (rc = ph_config_load_file(cfg, file, errstr, errstr_size)))
        return rc;

    /* 2. environment */
    if ((rc = load_env(cfg, errstr, errstr_size)))
        return rc;

    /* 3. flags, compacting argv to what the caller must still handle */
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || is_passthrough(a, passthrough) || strcmp(a, "--") == 0) {
            argv[out++] = argv[i];
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0)
            continue;
        const char *eq = strchr(a, '=');
        size_t n = eq ? (size_t)(eq - a) - 2 : strlen(a) - 2;
        if (n == 0 || n >= sizeof(key))
            return ph_err(errstr, errstr_size, PH_EINVAL, "flag %s: bad key", a);
        memcpy(key, a + 2, n);
        key[n] = '\0';
        /* Dashes read as underscores outside kafka.* (librdkafka names have no underscores). */
        if (strncmp(key, "kafka.", 6) != 0)
            for (char *p = key; *p; p++)
                if (*p == '-')
                    *p = '_';
        /* A bare --flag sets a boolean key to true; any other key needs a value. */
        if (!eq && !is_bool_key(cfg, key))
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "flag %s: expected --key=value (see --help)", a);
        if ((rc = ph_config_set(cfg, key, eq ? eq + 1 : "true", why, sizeof(why))))
            return ph_err(errstr, errstr_size, rc, "flag %s: %s", a, why);
    }
    argv[out] = NULL;
    *argc = out;
    return PH_OK;
}

const ph_config_kv *ph_config_kafka(const ph_config *cfg)
{
    return cfg->kafka;
}

static void format_value(const ph_config_entry *e, const void *target, char *buf, size_t size)
{
    const void *field = (const char *)target + e->offset;
    switch (e->type) {
    case PH_CFG_STR: {
        const char *s = *(char *const *)field;
        snprintf(buf, size, "%s", s ? s : "");
        break;
    }
    case PH_CFG_INT:
        snprintf(buf, size, "%" PRId64, *(const int64_t *)field);
        break;
    case PH_CFG_BOOL:
        snprintf(buf, size, "%s", *(const bool *)field ? "true" : "false");
        break;
    case PH_CFG_DOUBLE:
        snprintf(buf, size, "%g", *(const double *)field);
        break;
    }
}

/* Values that look like secrets are masked in dumps so --dump-config output can be shared. */
static bool is_secret(const char *key)
{
    return strstr(key, "token") || strstr(key, "password") || strstr(key, "secret") ||
           strstr(key, "api_key");
}

void ph_config_dump(const ph_config *cfg, FILE *out)
{
    char buf[1024];
    fprintf(out, "# effective configuration of pharos-%s\n", cfg->service);
    for (const table *t = cfg->tables; t; t = t->next) {
        for (size_t i = 0; i < t->n; i++) {
            format_value(&t->entries[i], t->target, buf, sizeof(buf));
            if (is_secret(t->entries[i].key) && buf[0])
                snprintf(buf, sizeof(buf), "********");
            fprintf(out, "%s = %s\n", t->entries[i].key, buf);
        }
    }
    for (const ph_config_kv *kv = cfg->kafka; kv; kv = kv->next)
        fprintf(out, "kafka.%s = %s\n", kv->key,
                strstr(kv->key, "password") || strstr(kv->key, "secret") ? "********" : kv->value);
}

void ph_config_usage(const ph_config *cfg, FILE *out)
{
    char name[256];
    fprintf(out, "Configuration keys (default < --config=FILE < %s<KEY> < --key=value):\n",
            cfg->env_prefix);
    for (const table *t = cfg->tables; t; t = t->next) {
        for (size_t i = 0; i < t->n; i++) {
            const ph_config_entry *e = &t->entries[i];
            env_name(cfg, e->key, name, sizeof(name));
            fprintf(out, "  --%s=%s\n      %s [%s]\n", e->key, e->def ? e->def : "", e->description,
                    name);
        }
    }
    fprintf(out,
            "  --kafka.<property>=VALUE\n      any librdkafka property, passed through "
            "[%sKAFKA_<PROPERTY>]\n",
            cfg->env_prefix);
}
