/* Configuration as a table.
 *
 * Each service declares a static table of {key, type, default, offset, description} entries that
 * fill a plain struct. Values are applied in order of precedence:
 *   default < file (--config=FILE or PHAROS_<SVC>_CONFIG) < environment PHAROS_<SVC>_<KEY>
 *   < command-line flag --key=value.
 * Keys use lower case and underscores; in environment variable names they are upper-cased and
 * dots become underscores. Keys starting with "kafka." are not in any table: they pass straight
 * to librdkafka (kcat's -X, routed by prefix), e.g. --kafka.linger.ms=10 or
 * PHAROS_INGESTOR_KAFKA_LINGER_MS=10. Unknown keys are rejected with a clear error.
 *
 * Strings written into the target struct are owned by the ph_config and freed by
 * ph_config_destroy(); the target struct must outlive neither.
 * Not thread-safe: load once at start-up, then only read the target struct. */
#ifndef PH_CONFIG_H
#define PH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    PH_CFG_STR,    /* char *  (NULL when the value is empty) */
    PH_CFG_INT,    /* int64_t */
    PH_CFG_BOOL,   /* bool: true/false/1/0/yes/no/on/off */
    PH_CFG_DOUBLE, /* double */
} ph_config_type;

typedef struct ph_config_entry {
    const char *key;
    ph_config_type type;
    const char *def; /* default, as text; NULL means empty */
    size_t offset;   /* offsetof() the field in the target struct */
    const char *description;
} ph_config_entry;

/* One pass-through "kafka.*" property, in the order it was applied (later wins in librdkafka). */
typedef struct ph_config_kv {
    char *key; /* without the "kafka." prefix */
    char *value;
    struct ph_config_kv *next;
} ph_config_kv;

typedef struct ph_config ph_config;

/* Creates an empty configuration for service `service` (e.g. "ingestor": env prefix
 * PHAROS_INGESTOR_). Returns NULL only on allocation failure. */
ph_config *ph_config_new(const char *service);

/* Frees every string the configuration wrote into target structs. NULL is a no-op. */
void ph_config_destroy(ph_config *cfg);

/* Adds a table filling `target`. Tables are consulted in the order added; the table and
 * target are borrowed and must outlive cfg. Applies the defaults at once. Returns 0 or
 * PH_EINVAL (a default that does not parse: a programming error). */
int ph_config_add_table(ph_config *cfg, const ph_config_entry *table, size_t n, void *target,
                        char *errstr, size_t errstr_size);

/* Sets one key from text. Used by the file, env and flag layers, and by tools. */
int ph_config_set(ph_config *cfg, const char *key, const char *value, char *errstr,
                  size_t errstr_size);

/* Applies the file, env and flag layers. Flags are --key=value (dashes in the key are taken as
 * underscores; a bare --key sets a boolean key to true); --config=FILE names the file. Arguments
 * that are not --key=value flags, and the flags listed in `passthrough` (NULL-terminated, e.g.
 * "--dump-config", "--help"), are left for the caller: *argc/argv are compacted to hold argv[0] and
 * them. Returns 0, or PH_EINVAL/PH_EIO with errstr naming the key, the layer and the problem. */
int ph_config_load(ph_config *cfg, int *argc, char **argv, const char *const *passthrough,
                   char *errstr, size_t errstr_size);

/* Reads a file of "key = value" lines ('#' starts a comment line). */
int ph_config_load_file(ph_config *cfg, const char *path, char *errstr, size_t errstr_size);

/* The kafka.* pass-through properties (borrowed; valid until cfg is destroyed). */
const ph_config_kv *ph_config_kafka(const ph_config *cfg);

/* Prints the effective configuration, one "key = value  # description" line per key. */
void ph_config_dump(const ph_config *cfg, FILE *out);

/* Prints the keys, defaults and descriptions (for --help). */
void ph_config_usage(const ph_config *cfg, FILE *out);

#endif
