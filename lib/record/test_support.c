#include "test_support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PH_RECORD_SOURCE_DIR
#define PH_RECORD_SOURCE_DIR "."
#endif

const char *ts_source_dir(void)
{
    const char *dir = getenv("PHAROS_SOURCE_DIR");
    return dir && *dir ? dir : PH_RECORD_SOURCE_DIR;
}

char *ts_data_path(const char *name)
{
    const char *dir = getenv("PHAROS_DATA_DIR");
    char *path = NULL;
    int rc;
    if (dir && *dir)
        rc = asprintf(&path, "%s/%s", dir, name);
    else
        rc = asprintf(&path, "%s/../shared/data/%s", ts_source_dir(), name);
    return rc < 0 ? NULL : path;
}

char *ts_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long size;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
        goto out;
    buf = malloc((size_t)size + 1);
    if (!buf)
        goto out;
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[size] = '\0';
    if (len)
        *len = (size_t)size;
out:
    fclose(f);
    return buf;
}

int ts_schema_load(ts_schema *s, const char *name)
{
    char *path = NULL;
    size_t len = 0;
    int rc = -1;
    memset(s, 0, sizeof(*s));
    if (asprintf(&path, "%s/schemas/%s.avsc", ts_source_dir(), name) < 0)
        return -1;
    char *json = ts_read_file(path, &len);
    if (!json) {
        fprintf(stderr, "cannot read %s\n", path);
        goto out;
    }
    if (avro_schema_from_json_length(json, len, &s->schema)) {
        fprintf(stderr, "%s: %s\n", path, avro_strerror());
        goto out;
    }
    s->iface = avro_generic_class_from_schema(s->schema);
    if (!s->iface) {
        fprintf(stderr, "%s: %s\n", path, avro_strerror());
        goto out;
    }
    rc = 0;
out:
    free(json);
    free(path);
    return rc;
}

void ts_schema_free(ts_schema *s)
{
    if (s->iface)
        avro_value_iface_decref(s->iface);
    if (s->schema)
        avro_schema_decref(s->schema);
    memset(s, 0, sizeof(*s));
}

int ts_roundtrip(avro_value_iface_t *iface, avro_value_t *v)
{
    size_t size = 0;
    int rc = -1;
    char *buf = NULL;
    avro_writer_t w = NULL;
    avro_reader_t r = NULL;
    avro_value_t back;
    int have_back = 0;
    if (avro_value_sizeof(v, &size)) {
        fprintf(stderr, "sizeof: %s\n", avro_strerror());
        return -1;
    }
    buf = malloc(size ? size : 1);
    if (!buf)
        return -1;
    w = avro_writer_memory(buf, (int64_t)size);
    if (avro_value_write(w, v)) {
        fprintf(stderr, "write: %s\n", avro_strerror());
        goto out;
    }
    if (avro_generic_value_new(iface, &back))
        goto out;
    have_back = 1;
    r = avro_reader_memory(buf, (int64_t)size);
    if (avro_value_read(r, &back)) {
        fprintf(stderr, "read: %s\n", avro_strerror());
        goto out;
    }
    if (!avro_value_equal(v, &back)) {
        fprintf(stderr, "round trip changed the value\n");
        goto out;
    }
    rc = 0;
out:
    if (r)
        avro_reader_free(r);
    if (w)
        avro_writer_free(w);
    if (have_back)
        avro_value_decref(&back);
    free(buf);
    return rc;
}

static int follow_union(avro_value_t *v)
{
    if (avro_value_get_type(v) != AVRO_UNION)
        return 0;
    int disc = -1;
    avro_value_t b;
    if (avro_value_get_discriminant(v, &disc) || disc < 0)
        return 1;
    if (avro_value_get_current_branch(v, &b))
        return -1;
    *v = b;
    return avro_value_get_type(v) == AVRO_NULL ? 1 : 0;
}

int ts_get(avro_value_t *rec, const char *path, avro_value_t *out)
{
    avro_value_t v = *rec;
    const char *p = path;
    char name[256];
    while (*p) {
        int rc = follow_union(&v);
        if (rc)
            return rc;
        if (*p == '.')
            p++;
        if (*p == '[') {
            char *end;
            size_t i = strtoul(p + 1, &end, 10);
            if (*end != ']' || avro_value_get_by_index(&v, i, &v, NULL))
                return -1;
            p = end + 1;
        } else if (*p == '{') {
            const char *end = strchr(p, '}');
            if (!end || (size_t)(end - p - 1) >= sizeof(name))
                return -1;
            memcpy(name, p + 1, (size_t)(end - p - 1));
            name[end - p - 1] = '\0';
            if (avro_value_get_by_name(&v, name, &v, NULL))
                return -1;
            p = end + 1;
        } else {
            size_t n = strcspn(p, ".[{");
            if (n >= sizeof(name))
                return -1;
            memcpy(name, p, n);
            name[n] = '\0';
            if (avro_value_get_by_name(&v, name, &v, NULL))
                return -1;
            p += n;
        }
    }
    int rc = follow_union(&v);
    if (rc)
        return rc;
    *out = v;
    return 0;
}

const char *ts_str(avro_value_t *rec, const char *path)
{
    avro_value_t v;
    const char *s = NULL;
    size_t size;
    if (ts_get(rec, path, &v) || avro_value_get_string(&v, &s, &size))
        return NULL;
    return s;
}

int ts_has(avro_value_t *rec, const char *path)
{
    avro_value_t v;
    int rc = ts_get(rec, path, &v);
    return rc == 0 ? 1 : rc == 1 ? 0 : -1;
}

int64_t ts_long(avro_value_t *rec, const char *path)
{
    avro_value_t v;
    int64_t x;
    int32_t i;
    if (ts_get(rec, path, &v))
        return INT64_MIN;
    if (avro_value_get_type(&v) == AVRO_INT32)
        return avro_value_get_int(&v, &i) ? INT64_MIN : i;
    return avro_value_get_long(&v, &x) ? INT64_MIN : x;
}

double ts_double(avro_value_t *rec, const char *path)
{
    avro_value_t v;
    double x;
    if (ts_get(rec, path, &v) || avro_value_get_double(&v, &x))
        return NAN;
    return x;
}

int ts_enum(avro_value_t *rec, const char *path)
{
    avro_value_t v;
    int x;
    if (ts_get(rec, path, &v) || avro_value_get_enum(&v, &x))
        return -1;
    return x;
}

int ts_bool(avro_value_t *rec, const char *path)
{
    avro_value_t v;
    int x;
    if (ts_get(rec, path, &v) || avro_value_get_boolean(&v, &x))
        return -1;
    return x;
}

size_t ts_size(avro_value_t *rec, const char *path)
{
    avro_value_t v;
    size_t n = 0;
    if (ts_get(rec, path, &v) || avro_value_get_size(&v, &n))
        return 0;
    return n;
}

int ts_fx_init(ts_fx *f, const char *schema, const ph_rules_config *cfg)
{
    char err[512];
    memset(f, 0, sizeof(*f));
    if (ts_schema_load(&f->s, schema))
        return -1;
    if (ph_rules_new(&f->rules, cfg, err, sizeof(err))) {
        fprintf(stderr, "rules: %s\n", err);
        ts_schema_free(&f->s);
        return -1;
    }
    if (avro_generic_value_new(f->s.iface, &f->rec)) {
        ph_rules_destroy(f->rules);
        ts_schema_free(&f->s);
        return -1;
    }
    ph_issues_init(&f->fatal);
    ph_issues_init(&f->warn);
    f->meta.fallback_record_id = "raw-test-0-7";
    f->meta.ingest_time_ms = TS_INGEST_MS;
    return 0;
}

void ts_fx_free(ts_fx *f)
{
    ph_issues_free(&f->fatal);
    ph_issues_free(&f->warn);
    avro_value_decref(&f->rec);
    ph_rules_destroy(f->rules);
    ts_schema_free(&f->s);
}

int ts_judge_len(ts_fx *f, const char *buf, size_t len)
{
    ph_issues_clear(&f->fatal);
    ph_issues_clear(&f->warn);
    return ph_record_from_json(f->rules, buf, len, &f->meta, &f->rec, &f->fatal, &f->warn);
}

int ts_judge(ts_fx *f, const char *json)
{
    return ts_judge_len(f, json, strlen(json));
}

const ph_issue *ts_find(const ph_issues *list, const char *code, const char *field)
{
    for (size_t i = 0; i < list->n; i++) {
        const ph_issue *is = &list->v[i];
        if (strcmp(is->code, code) != 0)
            continue;
        if (!field || (is->field && strcmp(is->field, field) == 0))
            return is;
    }
    return NULL;
}

void ts_dump(const ts_fx *f)
{
    for (size_t i = 0; i < f->fatal.n; i++)
        fprintf(stderr, "  fatal %s [%s] %s\n", f->fatal.v[i].code,
                f->fatal.v[i].field ? f->fatal.v[i].field : "-", f->fatal.v[i].message);
    for (size_t i = 0; i < f->warn.n; i++)
        fprintf(stderr, "  warn  %s [%s] %s\n", f->warn.v[i].code,
                f->warn.v[i].field ? f->warn.v[i].field : "-", f->warn.v[i].message);
}
