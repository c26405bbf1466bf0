/* A plain JSON view of Avro values, for humans and tools (not Avro's JSON encoding, which wraps
 * every union value in an object naming its branch). */
#include "ph_avro_internal.h"

#include "ph_error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 4648 base64. Hand-written because none of the libraries we link exposes one (jansson,
 * avro-c, librdkafka and curl keep theirs private) and it is a dozen lines. */
static char *base64(const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
    size_t i = 0;

    if (!out)
        return NULL;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

/* Bytes as a string when they are valid UTF-8 (jansson checks), else {"base64": "..."}. */
static json_t *bytes_json(const void *p, size_t n)
{
    json_t *j = json_stringn(p ? p : "", n);
    if (j)
        return j;
    char *b64 = base64(p, n);
    if (!b64)
        return NULL;
    j = json_pack("{s:s}", "base64", b64);
    free(b64);
    return j;
}

static int to_json(const avro_value_t *v, json_t **out, int depth, char *errstr,
                   size_t errstr_size);

/* Map keys are strings too, but may arrive as invalid UTF-8, which JSON keys cannot hold: such a
 * key becomes "base64:" followed by the base64 of its bytes. Takes the reference to value. */
static int set_member(json_t *obj, const char *key, json_t *value)
{
    char *b64 = NULL, *alt = NULL;
    int rc = 0;

    /* json_object_set() fails only on invalid UTF-8 or lack of memory. */
    if (json_object_set(obj, key, value) != 0) {
        b64 = base64((const unsigned char *)key, strlen(key));
        alt = b64 ? malloc(strlen(b64) + sizeof("base64:")) : NULL;
        if (alt)
            sprintf(alt, "base64:%s", b64);
        if (!alt || json_object_set(obj, alt, value) != 0)
            rc = PH_ENOMEM;
    }
    json_decref(value);
    free(b64);
    free(alt);
    return rc;
}

static int container_json(const avro_value_t *v, avro_type_t t, json_t **out, int depth,
                          char *errstr, size_t errstr_size)
{
    json_t *j = t == AVRO_ARRAY ? json_array() : json_object();
    size_t n = 0;
    int rc = 0;

    if (!j)
        return PH_ENOMEM;
    avro_value_get_size(v, &n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        avro_value_t child;
        const char *name = NULL;
        json_t *cj;
        if (avro_value_get_by_index(v, i, &child, &name) != 0) {
            rc = ph_err(errstr, errstr_size, PH_EINVAL, "cannot read item %zu", i);
            break;
        }
        if ((rc = to_json(&child, &cj, depth + 1, errstr, errstr_size)) != 0)
            break;
        if (t == AVRO_ARRAY)
            rc = json_array_append_new(j, cj) == 0 ? 0 : PH_ENOMEM;
        else
            rc = set_member(j, name, cj);
    }
    if (rc != 0) {
        json_decref(j);
        return rc;
    }
    *out = j;
    return 0;
}

static int to_json(const avro_value_t *v, json_t **out, int depth, char *errstr, size_t errstr_size)
{
    avro_type_t t = avro_value_get_type(v);
    json_t *j = NULL;

    if (depth > 64)
        return ph_err(errstr, errstr_size, PH_EINVAL, "value nested too deeply");
    switch (t) {
    case AVRO_NULL:
        j = json_null();
        break;
    case AVRO_BOOLEAN: {
        int b = 0;
        avro_value_get_boolean(v, &b);
        j = json_boolean(b);
        break;
    }
    case AVRO_INT32: {
        int32_t i = 0;
        avro_value_get_int(v, &i);
        j = json_integer(i);
        break;
    }
    case AVRO_INT64: {
        int64_t l = 0;
        avro_value_get_long(v, &l);
        j = json_integer(l);
        break;
    }
    case AVRO_FLOAT:
    case AVRO_DOUBLE: {
        double d = 0;
        float f = 0;
        if (t == AVRO_FLOAT) {
            avro_value_get_float(v, &f);
            d = f;
        } else {
            avro_value_get_double(v, &d);
        }
        j = isfinite(d) ? json_real(d) : json_null();
        break;
    }
    case AVRO_STRING: {
        const char *s = NULL;
        size_t n = 0;
        avro_value_get_string(v, &s, &n);
        j = bytes_json(s, n ? n - 1 : 0); /* avro-c counts the NUL */
        break;
    }
    case AVRO_BYTES:
    case AVRO_FIXED: {
        const void *p = NULL;
        size_t n = 0;
        if (t == AVRO_BYTES)
            avro_value_get_bytes(v, &p, &n);
        else
            avro_value_get_fixed(v, &p, &n);
        j = bytes_json(p, n);
        break;
    }
    case AVRO_ENUM: {
        int idx = 0;
        avro_schema_t s = ph_avro_unlink(avro_value_get_schema(v));
        avro_value_get_enum(v, &idx);
        const char *sym = avro_schema_enum_get(s, idx);
        if (!sym)
            return ph_err(errstr, errstr_size, PH_EINVAL, "enum index %d out of range", idx);
        j = json_string(sym);
        break;
    }
    case AVRO_UNION: {
        avro_value_t branch;
        int disc = -1;
        avro_value_get_discriminant(v, &disc);
        if (disc < 0 || avro_value_get_current_branch(v, &branch) != 0) {
            j = json_null();
            break;
        }
        return to_json(&branch, out, depth + 1, errstr, errstr_size);
    }
    case AVRO_RECORD:
    case AVRO_ARRAY:
    case AVRO_MAP:
        return container_json(v, t, out, depth, errstr, errstr_size);
    default:
        return ph_err(errstr, errstr_size, PH_EINVAL, "unsupported Avro type %d", (int)t);
    }
    if (!j)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    *out = j;
    return 0;
}

int ph_avro_to_json(const avro_value_t *value, json_t **out, char *errstr, size_t errstr_size)
{
    json_t *j;
    int rc;

    if (!value || !value->iface || !out)
        return ph_err(errstr, errstr_size, PH_EINVAL, "no value");
    rc = to_json(value, &j, 0, errstr, errstr_size);
    if (rc == PH_ENOMEM)
        ph_err(errstr, errstr_size, rc, "out of memory");
    if (rc == 0)
        *out = j;
    return rc;
}

char *ph_avro_to_json_string(const avro_value_t *value, char *errstr, size_t errstr_size)
{
    json_t *j = NULL;
    char *s;

    if (ph_avro_to_json(value, &j, errstr, errstr_size) != 0)
        return NULL;
    s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    json_decref(j);
    if (!s)
        ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    return s;
}
