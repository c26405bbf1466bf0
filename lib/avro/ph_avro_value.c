/* Field helpers: set and get record fields by name, looking through nullable unions. */
#include "ph_avro_internal.h"

#include "ph_error.h"

#include <stdlib.h>
#include <string.h>

#define T(t) (1u << (t))

static unsigned type_bit(avro_schema_t s)
{
    return T(avro_typeof(ph_avro_unlink(s)));
}

/* The field named `field` of the record rec. */
static int field_of(const avro_value_t *rec, const char *field, avro_value_t *out)
{
    if (!rec || !rec->iface || !field || avro_value_get_type(rec) != AVRO_RECORD)
        return PH_EINVAL;
    /* avro-c's hashed lookup; an unknown name is a caller bug, which avro-c also notes in its
     * process-wide error buffer. */
    int i = avro_schema_record_field_get_index(ph_avro_unlink(avro_value_get_schema(rec)), field);
    if (i < 0)
        return PH_EINVAL;
    return avro_value_get_by_index(rec, (size_t)i, out, NULL) == 0 ? 0 : PH_EINVAL;
}

/* v itself when its type is in `want`, else the first branch of its union that is (selected). */
static int pick(avro_value_t *v, unsigned want, avro_value_t *out)
{
    avro_type_t t = avro_value_get_type(v);

    if (T(t) & want) {
        *out = *v;
        return 0;
    }
    if (t != AVRO_UNION)
        return PH_EINVAL;
    avro_schema_t s = ph_avro_unlink(avro_value_get_schema(v));
    size_t n = avro_schema_union_size(s);
    for (size_t i = 0; i < n; i++) {
        if (type_bit(avro_schema_union_branch(s, (int)i)) & want) {
            /* Selecting the branch already selected keeps its contents. */
            return avro_value_set_branch(v, (int)i, out) == 0 ? 0 : PH_ENOMEM;
        }
    }
    return PH_EINVAL;
}

static int field_pick(avro_value_t *rec, const char *field, unsigned want, avro_value_t *out)
{
    avro_value_t f;
    int rc = field_of(rec, field, &f);
    return rc != 0 ? rc : pick(&f, want, out);
}

/* Whether values of schema s can hold a type in `want` (directly or as a union branch). */
static bool accepts(avro_schema_t s, unsigned want)
{
    s = ph_avro_unlink(s);
    if (type_bit(s) & want)
        return true;
    if (!is_avro_union(s))
        return false;
    for (size_t i = 0; i < avro_schema_union_size(s); i++)
        if (type_bit(avro_schema_union_branch(s, (int)i)) & want)
            return true;
    return false;
}

/* ---- Value-level setters ------------------------------------------------------------------- */

static int v_null(avro_value_t *v)
{
    avro_value_t t;
    int rc = pick(v, T(AVRO_NULL), &t);
    return rc != 0 ? rc : (avro_value_set_null(&t) == 0 ? 0 : PH_EINVAL);
}

static int v_string(avro_value_t *v, const char *s, size_t len)
{
    avro_value_t t;
    char small[512], *copy = small;
    int rc;

    if (!s)
        return v_null(v);
    if ((rc = pick(v, T(AVRO_STRING), &t)) != 0)
        return rc;
    /* avro-c copies len + 1 bytes and counts the NUL, so s must be terminated right at len; a
     * slice of a larger buffer is copied first. */
    if (len >= sizeof(small) && !(copy = malloc(len + 1)))
        return PH_ENOMEM;
    memcpy(copy, s, len);
    copy[len] = '\0';
    rc = avro_value_set_string_len(&t, copy, len + 1) == 0 ? 0 : PH_ENOMEM;
    if (copy != small)
        free(copy);
    return rc;
}

static int v_double(avro_value_t *v, double d)
{
    avro_value_t t;
    int rc = pick(v, T(AVRO_DOUBLE) | T(AVRO_FLOAT), &t);
    if (rc != 0)
        return rc;
    rc = avro_value_get_type(&t) == AVRO_DOUBLE ? avro_value_set_double(&t, d)
                                                : avro_value_set_float(&t, (float)d);
    return rc == 0 ? 0 : PH_EINVAL;
}

/* ---- Field setters ------------------------------------------------------------------------- */

int ph_avro_set_null(avro_value_t *rec, const char *field)
{
    avro_value_t f;
    int rc = field_of(rec, field, &f);
    return rc != 0 ? rc : v_null(&f);
}

int ph_avro_set_string(avro_value_t *rec, const char *field, const char *s)
{
    return ph_avro_set_stringn(rec, field, s, s ? strlen(s) : 0);
}

int ph_avro_set_stringn(avro_value_t *rec, const char *field, const char *s, size_t len)
{
    avro_value_t f;
    int rc = field_of(rec, field, &f);
    return rc != 0 ? rc : v_string(&f, s, len);
}

int ph_avro_set_bytes(avro_value_t *rec, const char *field, const void *buf, size_t len)
{
    avro_value_t t;
    int rc;

    if (!buf)
        return ph_avro_set_null(rec, field);
    if ((rc = field_pick(rec, field, T(AVRO_BYTES), &t)) != 0)
        return rc;
    return avro_value_set_bytes(&t, (void *)buf, len) == 0 ? 0 : PH_ENOMEM;
}

int ph_avro_set_long(avro_value_t *rec, const char *field, int64_t v)
{
    avro_value_t t;
    int rc = field_pick(rec, field, T(AVRO_INT64) | T(AVRO_INT32), &t);

    if (rc != 0)
        return rc;
    if (avro_value_get_type(&t) == AVRO_INT64)
        return avro_value_set_long(&t, v) == 0 ? 0 : PH_EINVAL;
    if (v < INT32_MIN || v > INT32_MAX)
        return PH_ERANGE;
    return avro_value_set_int(&t, (int32_t)v) == 0 ? 0 : PH_EINVAL;
}

int ph_avro_set_double(avro_value_t *rec, const char *field, double v)
{
    avro_value_t f;
    int rc = field_of(rec, field, &f);
    return rc != 0 ? rc : v_double(&f, v);
}

int ph_avro_set_bool(avro_value_t *rec, const char *field, bool v)
{
    avro_value_t t;
    int rc = field_pick(rec, field, T(AVRO_BOOLEAN), &t);
    return rc != 0 ? rc : (avro_value_set_boolean(&t, v) == 0 ? 0 : PH_EINVAL);
}

int ph_avro_set_enum(avro_value_t *rec, const char *field, const char *symbol)
{
    avro_value_t t;
    int rc, idx;

    if (!symbol)
        return PH_EINVAL;
    if ((rc = field_pick(rec, field, T(AVRO_ENUM), &t)) != 0)
        return rc;
    idx = avro_schema_enum_get_by_name(ph_avro_unlink(avro_value_get_schema(&t)), symbol);
    if (idx < 0)
        return PH_EINVAL;
    return avro_value_set_enum(&t, idx) == 0 ? 0 : PH_EINVAL;
}

int ph_avro_set_record(avro_value_t *rec, const char *field, avro_value_t *sub)
{
    return field_pick(rec, field, T(AVRO_RECORD), sub);
}

int ph_avro_append(avro_value_t *rec, const char *field, avro_value_t *elem)
{
    avro_value_t arr;
    int rc = field_pick(rec, field, T(AVRO_ARRAY), &arr);
    if (rc != 0)
        return rc;
    return avro_value_append(&arr, elem, NULL) == 0 ? 0 : PH_ENOMEM;
}

int ph_avro_append_string(avro_value_t *rec, const char *field, const char *s)
{
    avro_value_t arr, elem;
    int rc = field_pick(rec, field, T(AVRO_ARRAY), &arr);

    if (rc != 0)
        return rc;
    /* Check before appending, so a type error leaves the array alone. */
    if (!accepts(avro_schema_array_items(ph_avro_unlink(avro_value_get_schema(&arr))),
                 s ? T(AVRO_STRING) : T(AVRO_NULL)))
        return PH_EINVAL;
    if (avro_value_append(&arr, &elem, NULL) != 0)
        return PH_ENOMEM;
    return v_string(&elem, s, s ? strlen(s) : 0);
}

int ph_avro_map_put(avro_value_t *rec, const char *field, const char *key, avro_value_t *val)
{
    avro_value_t map;
    int rc;

    if (!key)
        return PH_EINVAL;
    if ((rc = field_pick(rec, field, T(AVRO_MAP), &map)) != 0)
        return rc;
    return avro_value_add(&map, key, val, NULL, NULL) == 0 ? 0 : PH_ENOMEM;
}

/* A map entry of a type the map's values accept. */
static int map_entry(avro_value_t *rec, const char *field, const char *key, unsigned want,
                     avro_value_t *val)
{
    avro_value_t map;
    int rc;

    if (!key)
        return PH_EINVAL;
    if ((rc = field_pick(rec, field, T(AVRO_MAP), &map)) != 0)
        return rc;
    if (!accepts(avro_schema_map_values(ph_avro_unlink(avro_value_get_schema(&map))), want))
        return PH_EINVAL;
    return avro_value_add(&map, key, val, NULL, NULL) == 0 ? 0 : PH_ENOMEM;
}

int ph_avro_map_put_string(avro_value_t *rec, const char *field, const char *key, const char *s)
{
    avro_value_t val;
    int rc = map_entry(rec, field, key, s ? T(AVRO_STRING) : T(AVRO_NULL), &val);
    return rc != 0 ? rc : v_string(&val, s, s ? strlen(s) : 0);
}

int ph_avro_map_put_double(avro_value_t *rec, const char *field, const char *key, double v)
{
    avro_value_t val;
    int rc = map_entry(rec, field, key, T(AVRO_DOUBLE) | T(AVRO_FLOAT), &val);
    return rc != 0 ? rc : v_double(&val, v);
}

/* ---- Getters ------------------------------------------------------------------------------- */

int ph_avro_get(const avro_value_t *rec, const char *field, avro_value_t *out)
{
    avro_value_t f;
    int rc = field_of(rec, field, &f);

    if (rc != 0)
        return rc;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        avro_value_t branch;
        int disc = -1;
        avro_value_get_discriminant(&f, &disc);
        if (disc < 0 || avro_value_get_current_branch(&f, &branch) != 0)
            return PH_ENOENT;
        f = branch;
    }
    if (avro_value_get_type(&f) == AVRO_NULL)
        return PH_ENOENT;
    *out = f;
    return 0;
}

/* The field's non-null value, which must have a type in `want`. */
static int get_typed(const avro_value_t *rec, const char *field, unsigned want, avro_value_t *out)
{
    int rc = ph_avro_get(rec, field, out);
    if (rc == 0 && !(T(avro_value_get_type(out)) & want))
        return PH_EINVAL;
    return rc;
}

int ph_avro_get_string(const avro_value_t *rec, const char *field, const char **s, size_t *len)
{
    avro_value_t v;
    const char *str = NULL;
    size_t n = 0;
    int rc = get_typed(rec, field, T(AVRO_STRING), &v);

    if (rc == 0)
        avro_value_get_string(&v, &str, &n);
    else if (rc != PH_ENOENT)
        return rc;
    *s = str;
    if (len)
        *len = n ? n - 1 : 0; /* avro-c counts the NUL */
    return 0;
}

int ph_avro_get_bytes(const avro_value_t *rec, const char *field, const void **buf, size_t *len)
{
    avro_value_t v;
    const void *p = NULL;
    size_t n = 0;
    int rc = get_typed(rec, field, T(AVRO_BYTES) | T(AVRO_FIXED), &v);

    if (rc == 0) {
        if (avro_value_get_type(&v) == AVRO_BYTES)
            avro_value_get_bytes(&v, &p, &n);
        else
            avro_value_get_fixed(&v, &p, &n);
    } else if (rc != PH_ENOENT) {
        return rc;
    }
    *buf = p;
    if (len)
        *len = n;
    return 0;
}

int ph_avro_get_long(const avro_value_t *rec, const char *field, int64_t *out)
{
    avro_value_t v;
    int rc = get_typed(rec, field, T(AVRO_INT64) | T(AVRO_INT32), &v);

    if (rc != 0)
        return rc;
    if (avro_value_get_type(&v) == AVRO_INT64)
        return avro_value_get_long(&v, out) == 0 ? 0 : PH_EINVAL;
    int32_t i;
    if (avro_value_get_int(&v, &i) != 0)
        return PH_EINVAL;
    *out = i;
    return 0;
}

int ph_avro_get_double(const avro_value_t *rec, const char *field, double *out)
{
    avro_value_t v;
    int rc = get_typed(rec, field, T(AVRO_DOUBLE) | T(AVRO_FLOAT), &v);

    if (rc != 0)
        return rc;
    if (avro_value_get_type(&v) == AVRO_DOUBLE)
        return avro_value_get_double(&v, out) == 0 ? 0 : PH_EINVAL;
    float f;
    if (avro_value_get_float(&v, &f) != 0)
        return PH_EINVAL;
    *out = f;
    return 0;
}

int ph_avro_get_bool(const avro_value_t *rec, const char *field, bool *out)
{
    avro_value_t v;
    int b, rc = get_typed(rec, field, T(AVRO_BOOLEAN), &v);

    if (rc != 0)
        return rc;
    if (avro_value_get_boolean(&v, &b) != 0)
        return PH_EINVAL;
    *out = b != 0;
    return 0;
}

int ph_avro_get_enum(const avro_value_t *rec, const char *field, const char **symbol)
{
    avro_value_t v;
    int idx, rc = get_typed(rec, field, T(AVRO_ENUM), &v);
    const char *sym;

    if (rc != 0)
        return rc;
    if (avro_value_get_enum(&v, &idx) != 0 ||
        !(sym = avro_schema_enum_get(ph_avro_unlink(avro_value_get_schema(&v)), idx)))
        return PH_EINVAL;
    *symbol = sym;
    return 0;
}

bool ph_avro_is_null(const avro_value_t *rec, const char *field)
{
    avro_value_t v;
    return ph_avro_get(rec, field, &v) == PH_ENOENT;
}
