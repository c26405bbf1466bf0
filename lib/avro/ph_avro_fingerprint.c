/* Parsing Canonical Form and the CRC-64-AVRO fingerprint.
 *
 * Why here: single-object encoding names the writer schema by the CRC-64-AVRO fingerprint of its
 * Parsing Canonical Form, and avro-c 1.11 implements neither (the Java, Python and Rust libraries
 * do). Both are small and exactly specified ("Parsing Canonical Form for Schemas" and
 * "Schema Fingerprints" in the Avro specification), and their results are checked against the
 * vectors of apache/avro share/test/data/schema-tests.txt in test_avro_fingerprint.c.
 *
 * The form is computed from the schema JSON (parsed with jansson) rather than from avro-c's parsed
 * schema, because avro-c drops nothing we need but does rewrite names and references in ways that
 * are not specified; the JSON is what the other languages canonicalise too. */
#include "ph_avro_internal.h"

#include "ph_error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- CRC-64-AVRO --------------------------------------------------------------------------- */

/* The empty fingerprint of the specification; also the polynomial the table is built from. */
#define CRC64_AVRO_EMPTY 0xc15d213aa4d7a795ULL

static uint64_t crc64_table[256];
static pthread_once_t crc64_once = PTHREAD_ONCE_INIT;

static void crc64_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint64_t fp = i;
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (CRC64_AVRO_EMPTY & (0 - (fp & 1)));
        crc64_table[i] = fp;
    }
}

uint64_t ph_avro_crc64(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint64_t fp = CRC64_AVRO_EMPTY;

    pthread_once(&crc64_once, crc64_init);
    for (size_t i = 0; i < len; i++)
        fp = (fp >> 8) ^ crc64_table[(fp ^ p[i]) & 0xff];
    return fp;
}

/* ---- A small growing string ---------------------------------------------------------------- */

struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sb_add(struct sbuf *sb, const char *s, size_t n)
{
    if (sb->oom)
        return;
    if (sb->len + n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 256;
        while (cap < sb->len + n + 1)
            cap *= 2;
        char *p = realloc(sb->p, cap);
        if (!p) {
            sb->oom = true;
            return;
        }
        sb->p = p;
        sb->cap = cap;
    }
    memcpy(sb->p + sb->len, s, n);
    sb->len += n;
    sb->p[sb->len] = '\0';
}

static void sb_puts(struct sbuf *sb, const char *s)
{
    sb_add(sb, s, strlen(s));
}

/* A JSON string literal. jansson has already replaced escapes by their UTF-8 text ([STRINGS]), so
 * only what JSON requires is escaped again. */
static void sb_quote(struct sbuf *sb, const char *s)
{
    sb_add(sb, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            sb_add(sb, esc, 2);
        } else if (c < 0x20) {
            char esc[7];
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            sb_add(sb, esc, 6);
        } else {
            sb_add(sb, s, 1);
        }
    }
    sb_add(sb, "\"", 1);
}

/* ---- Parsing Canonical Form ---------------------------------------------------------------- */

struct pcf {
    struct sbuf out;
    json_t *seen;    /* full names of the named types defined so far */
    json_t *records; /* optional: full name -> record definition */
    char *errstr;
    size_t errstr_size;
    int depth;
};

static bool is_primitive(const char *t)
{
    static const char *const prims[] = {"null",  "boolean", "int",   "long",
                                        "float", "double",  "bytes", "string"};
    for (size_t i = 0; i < sizeof(prims) / sizeof(prims[0]); i++)
        if (strcmp(t, prims[i]) == 0)
            return true;
    return false;
}

/* Joins namespace and name; an empty namespace is the null namespace. */
static char *join_name(const char *ns, const char *name)
{
    size_t nl = strlen(name), sl = ns ? strlen(ns) : 0;
    char *full = malloc(sl + nl + 2);
    if (!full)
        return NULL;
    if (sl) {
        memcpy(full, ns, sl);
        full[sl] = '.';
        memcpy(full + sl + 1, name, nl + 1);
    } else {
        memcpy(full, name, nl + 1);
    }
    return full;
}

/* [FULLNAMES] for a reference to a named type: a dotted name is already full; otherwise the
 * enclosing namespace applies, unless only the null-namespace name has been defined. */
static char *resolve_ref(struct pcf *c, const char *name, const char *ns)
{
    if (strchr(name, '.') || !ns || !*ns)
        return strdup(name);
    char *full = join_name(ns, name);
    if (full && !json_object_get(c->seen, full) && json_object_get(c->seen, name)) {
        free(full);
        return strdup(name);
    }
    return full;
}

static int pcf_schema(struct pcf *c, const json_t *s, const char *ns);

/* "fields":[{"name":...,"type":...},...] of a record whose namespace is ns. */
static int pcf_fields(struct pcf *c, const json_t *s, const char *full, const char *ns)
{
    const json_t *fields = json_object_get(s, "fields");
    int rc = 0;

    if (!json_is_array(fields))
        return ph_err(c->errstr, c->errstr_size, PH_EINVAL, "record %s has no fields array", full);
    if (c->records && json_object_set(c->records, full, (json_t *)s) != 0)
        return PH_ENOMEM;
    sb_puts(&c->out, ",\"fields\":[");
    for (size_t i = 0; i < json_array_size(fields) && rc == 0; i++) {
        const json_t *f = json_array_get(fields, i);
        const char *fname = json_string_value(json_object_get(f, "name"));
        const json_t *ftype = json_object_get(f, "type");
        if (!fname || !ftype)
            return ph_err(c->errstr, c->errstr_size, PH_EINVAL,
                          "field %zu of record %s needs a name and a type", i, full);
        sb_puts(&c->out, i ? ",{\"name\":" : "{\"name\":");
        sb_quote(&c->out, fname);
        sb_puts(&c->out, ",\"type\":");
        if ((rc = pcf_schema(c, ftype, ns)) == 0)
            sb_puts(&c->out, "}");
    }
    sb_puts(&c->out, "]");
    return rc;
}

static int pcf_symbols(struct pcf *c, const json_t *s, const char *full)
{
    const json_t *symbols = json_object_get(s, "symbols");

    if (!json_is_array(symbols))
        return ph_err(c->errstr, c->errstr_size, PH_EINVAL, "enum %s has no symbols array", full);
    sb_puts(&c->out, ",\"symbols\":[");
    for (size_t i = 0; i < json_array_size(symbols); i++) {
        const char *sym = json_string_value(json_array_get(symbols, i));
        if (!sym)
            return ph_err(c->errstr, c->errstr_size, PH_EINVAL,
                          "symbol %zu of enum %s is not a string", i, full);
        if (i)
            sb_puts(&c->out, ",");
        sb_quote(&c->out, sym);
    }
    sb_puts(&c->out, "]");
    return 0;
}

/* [INTEGERS] a quoted size, or one with leading zeros, is written as a plain integer. */
static int pcf_size(struct pcf *c, const json_t *s, const char *full)
{
    const json_t *size = json_object_get(s, "size");
    long long n = -1;
    char num[32];

    if (json_is_integer(size)) {
        n = json_integer_value(size);
    } else if (json_is_string(size)) {
        char *end;
        n = strtoll(json_string_value(size), &end, 10);
        if (*end || end == json_string_value(size))
            n = -1;
    }
    if (n < 0)
        return ph_err(c->errstr, c->errstr_size, PH_EINVAL, "fixed %s has no valid size", full);
    snprintf(num, sizeof(num), ",\"size\":%lld", n);
    sb_puts(&c->out, num);
    return 0;
}

/* record, enum or fixed: [FULLNAMES], [STRIP] and [ORDER] (name, type, fields, symbols, size). */
static int pcf_named(struct pcf *c, const json_t *s, const char *type, const char *ns)
{
    const char *name = json_string_value(json_object_get(s, "name"));
    const json_t *jns = json_object_get(s, "namespace");
    char *full = NULL, *own_ns = NULL;
    int rc = 0;

    if (!name || !*name)
        return ph_err(c->errstr, c->errstr_size, PH_EINVAL, "%s schema without a name", type);
    if (jns && !json_is_string(jns) && !json_is_null(jns))
        return ph_err(c->errstr, c->errstr_size, PH_EINVAL, "namespace of %s is not a string",
                      name);

    /* The namespace of this type, which also encloses the types defined inside it. */
    const char *dot = strrchr(name, '.');
    if (dot) {
        full = strdup(name);
        own_ns = strndup(name, (size_t)(dot - name));
    } else {
        const char *n = jns ? json_string_value(jns) : ns;
        full = join_name(n, name);
        own_ns = strdup(n ? n : "");
    }
    if (!full || !own_ns) {
        rc = PH_ENOMEM;
        goto out;
    }
    if (json_object_get(c->seen, full)) {
        /* Already defined: a repeated definition can only be written as a reference. */
        sb_quote(&c->out, full);
        goto out;
    }
    if (json_object_set_new(c->seen, full, json_true()) != 0) {
        rc = PH_ENOMEM;
        goto out;
    }
    sb_puts(&c->out, "{\"name\":");
    sb_quote(&c->out, full);
    sb_puts(&c->out, ",\"type\":");
    sb_quote(&c->out, strcmp(type, "error") == 0 ? "record" : type); /* an error is a record */
    if (strcmp(type, "enum") == 0)
        rc = pcf_symbols(c, s, full);
    else if (strcmp(type, "fixed") == 0)
        rc = pcf_size(c, s, full);
    else
        rc = pcf_fields(c, s, full, own_ns);
    sb_puts(&c->out, "}");
out:
    free(full);
    free(own_ns);
    return rc;
}

static int pcf_schema(struct pcf *c, const json_t *s, const char *ns)
{
    int rc = 0;

    if (++c->depth > 64) {
        rc = ph_err(c->errstr, c->errstr_size, PH_EINVAL, "schema nested too deeply");
        goto out;
    }
    if (json_is_string(s)) {
        const char *t = json_string_value(s);
        if (is_primitive(t)) {
            sb_quote(&c->out, t); /* [PRIMITIVES] */
        } else {
            char *full = resolve_ref(c, t, ns);
            if (!full) {
                rc = PH_ENOMEM;
                goto out;
            }
            sb_quote(&c->out, full);
            free(full);
        }
    } else if (json_is_array(s)) { /* a union */
        sb_puts(&c->out, "[");
        for (size_t i = 0; i < json_array_size(s) && rc == 0; i++) {
            if (i)
                sb_puts(&c->out, ",");
            rc = pcf_schema(c, json_array_get(s, i), ns);
        }
        sb_puts(&c->out, "]");
    } else if (json_is_object(s)) {
        const json_t *jt = json_object_get(s, "type");
        const char *t = json_string_value(jt);
        if (!t) {
            if (json_is_object(jt) || json_is_array(jt)) /* {"type": {...}} wraps a schema */
                rc = pcf_schema(c, jt, ns);
            else
                rc = ph_err(c->errstr, c->errstr_size, PH_EINVAL, "schema object without type");
        } else if (strcmp(t, "record") == 0 || strcmp(t, "error") == 0 || strcmp(t, "enum") == 0 ||
                   strcmp(t, "fixed") == 0) {
            rc = pcf_named(c, s, t, ns);
        } else if (strcmp(t, "array") == 0 || strcmp(t, "map") == 0) {
            bool array = t[0] == 'a';
            const json_t *inner = json_object_get(s, array ? "items" : "values");
            if (!inner) {
                rc = ph_err(c->errstr, c->errstr_size, PH_EINVAL, "%s schema without %s", t,
                            array ? "items" : "values");
                goto out;
            }
            sb_puts(&c->out,
                    array ? "{\"type\":\"array\",\"items\":" : "{\"type\":\"map\",\"values\":");
            if ((rc = pcf_schema(c, inner, ns)) == 0)
                sb_puts(&c->out, "}");
        } else {
            /* A primitive with attributes (e.g. a logicalType) or a reference: only the name
             * matters to parsing. */
            rc = pcf_schema(c, jt, ns);
        }
    } else {
        rc = ph_err(c->errstr, c->errstr_size, PH_EINVAL,
                    "not a schema: expected a string, "
                    "an array or an object");
    }
out:
    c->depth--;
    return rc;
}

int ph_avro_pcf(const json_t *schema, char **pcf_out, json_t *records, char *errstr,
                size_t errstr_size)
{
    struct pcf c = {.records = records, .errstr = errstr, .errstr_size = errstr_size};
    int rc;

    if (!(c.seen = json_object()))
        return PH_ENOMEM;
    rc = pcf_schema(&c, schema, "");
    if (rc == 0 && c.out.oom)
        rc = PH_ENOMEM;
    if (rc == 0 && !c.out.p)
        rc = ph_err(errstr, errstr_size, PH_EINVAL, "empty schema");
    if (rc == PH_ENOMEM)
        ph_err(errstr, errstr_size, rc, "out of memory computing canonical form");
    json_decref(c.seen);
    if (rc != 0) {
        free(c.out.p);
        return rc;
    }
    *pcf_out = c.out.p;
    return 0;
}

int ph_schema_fingerprint(const char *json, size_t len, uint64_t *fp_out, char **pcf_out,
                          char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    /* JSON_DECODE_ANY: a primitive schema is a bare JSON string such as "int". */
    json_t *root = json_loadb(json, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    char *pcf = NULL;
    int rc;

    if (!root)
        return ph_err(errstr, errstr_size, PH_EINVAL, "schema is not JSON: %s (line %d)", jerr.text,
                      jerr.line);
    rc = ph_avro_pcf(root, &pcf, NULL, errstr, errstr_size);
    json_decref(root);
    if (rc != 0)
        return rc;
    if (fp_out)
        *fp_out = ph_avro_crc64(pcf, strlen(pcf));
    if (pcf_out)
        *pcf_out = pcf;
    else
        free(pcf);
    return 0;
}
