/* Schema resolution by copy, for writer/reader pairs avro-c cannot resolve itself.
 *
 * Why: avro-c 1.11's resolved writer refuses a reader record field that the writer lacks
 * ("Reader field ... doesn't appear in writer": its source has "TODO: Handle default values"),
 * and avro-c does not even keep field defaults when it parses a schema. That is exactly the case
 * of a reader whose schema gained an optional field, which Pharos relies on for rolling upgrades.
 * So for such pairs the decoder reads into a value of the writer schema and this file copies it
 * into the reader value following the specification's resolution rules, taking the missing
 * fields' defaults from the reader schema JSON. It costs one extra copy, only for those pairs. */
#include "ph_avro_internal.h"

#include "ph_error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct resolve {
    const json_t *records; /* record full name -> JSON definition */
    char *errstr;
    size_t errstr_size;
    const char *field; /* innermost field being resolved, for messages */
};

/* Record schemas being walked, to stop on recursive schemas. */
struct pair_stack {
    avro_schema_t w[64], r[64];
    int n;
};

static const char *type_name(avro_type_t t)
{
    static const char *const names[] = {
        [AVRO_STRING] = "string",   [AVRO_BYTES] = "bytes", [AVRO_INT32] = "int",
        [AVRO_INT64] = "long",      [AVRO_FLOAT] = "float", [AVRO_DOUBLE] = "double",
        [AVRO_BOOLEAN] = "boolean", [AVRO_NULL] = "null",   [AVRO_RECORD] = "record",
        [AVRO_ENUM] = "enum",       [AVRO_FIXED] = "fixed", [AVRO_MAP] = "map",
        [AVRO_ARRAY] = "array",     [AVRO_UNION] = "union", [AVRO_LINK] = "link",
    };
    return (unsigned)t < sizeof(names) / sizeof(names[0]) && names[t] ? names[t] : "?";
}

static const char *where(const struct resolve *r)
{
    return r->field ? r->field : "(top)";
}

static int fail(struct resolve *r, const char *what, avro_type_t wt, avro_type_t rt)
{
    return ph_err(r->errstr, r->errstr_size, PH_EAVRO, "field %s: %s (writer %s, reader %s)",
                  where(r), what, type_name(wt), type_name(rt));
}

/* An avro-c status as ours. */
static int avro_rc(int rc)
{
    return rc == 0 ? 0 : rc == ENOMEM ? PH_ENOMEM : PH_EAVRO;
}

/* Whether a writer schema can be read as a reader schema without promotion (exact) or with one. */
static bool schema_matches(avro_schema_t w, avro_schema_t r, bool promote)
{
    w = ph_avro_unlink(w);
    r = ph_avro_unlink(r);
    avro_type_t wt = avro_typeof(w), rt = avro_typeof(r);
    if (wt == rt) {
        if (wt == AVRO_RECORD || wt == AVRO_ENUM || wt == AVRO_FIXED)
            return strcmp(avro_schema_name(w), avro_schema_name(r)) == 0;
        return true;
    }
    if (!promote)
        return false;
    switch (rt) {
    case AVRO_INT64:
        return wt == AVRO_INT32;
    case AVRO_FLOAT:
        return wt == AVRO_INT32 || wt == AVRO_INT64;
    case AVRO_DOUBLE:
        return wt == AVRO_INT32 || wt == AVRO_INT64 || wt == AVRO_FLOAT;
    case AVRO_STRING:
        return wt == AVRO_BYTES;
    case AVRO_BYTES:
        return wt == AVRO_STRING;
    default:
        return false;
    }
}

/* The first reader union branch matching the writer schema, exact matches first. */
static int match_branch(avro_schema_t runion, avro_schema_t w)
{
    size_t n = avro_schema_union_size(runion);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++)
            if (schema_matches(w, avro_schema_union_branch(runion, (int)i), pass == 1))
                return (int)i;
    return -1;
}

/* Sets a string from bytes that are not NUL-terminated (avro-c copies len + 1 bytes). */
static int set_string_copy(avro_value_t *dst, const void *p, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return PH_ENOMEM;
    memcpy(copy, p, len);
    copy[len] = '\0';
    int rc = avro_rc(avro_value_set_string_len(dst, copy, len + 1));
    free(copy);
    return rc;
}

int ph_avro_field_index(avro_schema_t record, const char *name, int hint)
{
    int n = (int)avro_schema_record_size(record);
    /* Versions of a record mostly keep their field order, so start at the reader's position. */
    for (int k = 0; k < n; k++) {
        int i = (hint + k) % n;
        if (strcmp(avro_schema_record_field_name(record, i), name) == 0)
            return i;
    }
    return -1;
}

/* ---- Defaults ------------------------------------------------------------------------------ */

static int default_value(struct resolve *r, const json_t *dflt, avro_value_t *dst);

/* The JSON definition of a reader field, looked up through its record's full name. */
static const json_t *field_json(struct resolve *r, avro_schema_t record, const char *name)
{
    char full[256];
    ph_avro_fullname(record, full, sizeof(full));
    const json_t *fields = json_object_get(json_object_get(r->records, full), "fields");
    for (size_t i = 0; i < json_array_size(fields); i++) {
        const json_t *f = json_array_get(fields, i);
        const char *fname = json_string_value(json_object_get(f, "name"));
        if (fname && strcmp(fname, name) == 0)
            return f;
    }
    return NULL;
}

/* A reader field the data does not provide: its default, or an error. */
static int field_default(struct resolve *r, avro_schema_t record, const char *name,
                         avro_value_t *dst)
{
    const json_t *dflt = json_object_get(field_json(r, record, name), "default");
    const char *outer = r->field;
    int rc;

    if (!dflt)
        return ph_err(r->errstr, r->errstr_size, PH_EAVRO,
                      "field %s: missing in the writer schema and without default", name);
    r->field = name;
    rc = default_value(r, dflt, dst);
    r->field = outer;
    return rc;
}

/* bytes and fixed defaults are JSON strings of code points 0-255, one per byte. */
static int default_bytes(const json_t *dflt, avro_value_t *dst, avro_schema_t rs, avro_type_t rt)
{
    const unsigned char *s = (const unsigned char *)json_string_value(dflt);
    size_t len = json_string_length(dflt), n = 0;
    unsigned char *b;
    int rc = 0;

    if (!s)
        return PH_EINVAL;
    if (!(b = malloc(len + 1)))
        return PH_ENOMEM;
    for (size_t i = 0; i < len && rc == 0; i++) {
        if (s[i] < 0x80) {
            b[n++] = s[i];
        } else if ((s[i] == 0xc2 || s[i] == 0xc3) && i + 1 < len && (s[i + 1] & 0xc0) == 0x80) {
            b[n++] = (unsigned char)(((s[i] & 0x03) << 6) | (s[i + 1] & 0x3f)); /* U+0080-U+00FF */
            i++;
        } else {
            rc = PH_EINVAL;
        }
    }
    if (rc == 0 && rt == AVRO_FIXED && (int64_t)n != avro_schema_fixed_size(rs))
        rc = PH_EINVAL;
    if (rc == 0)
        rc = avro_rc(rt == AVRO_BYTES ? avro_value_set_bytes(dst, b, n)
                                      : avro_value_set_fixed(dst, b, n));
    free(b);
    return rc;
}

/* Defaults of non-container types. PH_EINVAL when the JSON does not fit the type. */
static int default_scalar(const json_t *d, avro_value_t *dst, avro_schema_t rs, avro_type_t rt)
{
    switch (rt) {
    case AVRO_NULL:
        return json_is_null(d) ? avro_rc(avro_value_set_null(dst)) : PH_EINVAL;
    case AVRO_BOOLEAN:
        return json_is_boolean(d) ? avro_rc(avro_value_set_boolean(dst, json_is_true(d)))
                                  : PH_EINVAL;
    case AVRO_INT32:
        if (!json_is_integer(d) || json_integer_value(d) < INT32_MIN ||
            json_integer_value(d) > INT32_MAX)
            return PH_EINVAL;
        return avro_rc(avro_value_set_int(dst, (int32_t)json_integer_value(d)));
    case AVRO_INT64:
        return json_is_integer(d) ? avro_rc(avro_value_set_long(dst, json_integer_value(d)))
                                  : PH_EINVAL;
    case AVRO_FLOAT:
        return json_is_number(d) ? avro_rc(avro_value_set_float(dst, (float)json_number_value(d)))
                                 : PH_EINVAL;
    case AVRO_DOUBLE:
        return json_is_number(d) ? avro_rc(avro_value_set_double(dst, json_number_value(d)))
                                 : PH_EINVAL;
    case AVRO_STRING:
        /* jansson strings are NUL-terminated at their length, as avro-c wants. */
        return json_is_string(d) ? avro_rc(avro_value_set_string_len(dst, json_string_value(d),
                                                                     json_string_length(d) + 1))
                                 : PH_EINVAL;
    case AVRO_BYTES:
    case AVRO_FIXED:
        return default_bytes(d, dst, rs, rt);
    case AVRO_ENUM: {
        int idx = json_is_string(d) ? avro_schema_enum_get_by_name(rs, json_string_value(d)) : -1;
        return idx >= 0 ? avro_rc(avro_value_set_enum(dst, idx)) : PH_EINVAL;
    }
    default:
        return PH_EINVAL;
    }
}

/* Defaults of arrays, maps and records. PH_EINVAL when the JSON is not an array or object. */
static int default_items(struct resolve *r, const json_t *d, avro_value_t *dst, avro_schema_t rs,
                         avro_type_t rt)
{
    avro_value_t item;
    const char *key;
    json_t *v;
    int rc = 0;

    if (rt == AVRO_ARRAY) {
        if (!json_is_array(d))
            return PH_EINVAL;
        for (size_t i = 0; i < json_array_size(d) && rc == 0; i++)
            if ((rc = avro_rc(avro_value_append(dst, &item, NULL))) == 0)
                rc = default_value(r, json_array_get(d, i), &item);
        return rc;
    }
    if (!json_is_object(d))
        return PH_EINVAL;
    if (rt == AVRO_MAP) {
        json_object_foreach((json_t *)d, key, v)
        {
            if ((rc = avro_rc(avro_value_add(dst, key, &item, NULL, NULL))) != 0 ||
                (rc = default_value(r, v, &item)) != 0)
                return rc;
        }
        return 0;
    }
    /* A record: the object's members, else each field's own default. */
    for (size_t i = 0; i < avro_schema_record_size(rs) && rc == 0; i++) {
        if ((rc = avro_rc(avro_value_get_by_index(dst, i, &item, &key))) != 0)
            break;
        v = json_object_get(d, key);
        rc = v ? default_value(r, v, &item) : field_default(r, rs, key, &item);
    }
    return rc;
}

/* The default of a union belongs to its first branch (Avro 1.11); a later branch is accepted too,
 * as newer specifications allow. The first branch's error is the one reported. */
static int default_union(struct resolve *r, const json_t *d, avro_value_t *dst, avro_schema_t rs)
{
    char first[PH_ERRSTR_SIZE] = "";
    int rc = PH_EAVRO;

    for (size_t i = 0; i < avro_schema_union_size(rs); i++) {
        avro_value_t branch;
        if ((rc = avro_rc(avro_value_set_branch(dst, (int)i, &branch))) != 0)
            return rc;
        if ((rc = default_value(r, d, &branch)) == 0 || rc == PH_ENOMEM)
            return rc;
        if (i == 0 && r->errstr)
            snprintf(first, sizeof(first), "%s", r->errstr);
    }
    if (r->errstr)
        snprintf(r->errstr, r->errstr_size, "%s", first);
    return rc;
}

static int default_value(struct resolve *r, const json_t *dflt, avro_value_t *dst)
{
    avro_schema_t rs = ph_avro_unlink(avro_value_get_schema(dst));
    avro_type_t rt = avro_typeof(rs);
    int rc;

    if (rt == AVRO_UNION)
        return default_union(r, dflt, dst, rs);
    if (rt == AVRO_ARRAY || rt == AVRO_MAP || rt == AVRO_RECORD)
        rc = default_items(r, dflt, dst, rs, rt);
    else
        rc = default_scalar(dflt, dst, rs, rt);
    if (rc == PH_EINVAL)
        return ph_err(r->errstr, r->errstr_size, PH_EAVRO,
                      "field %s: default value does not fit the reader type %s", where(r),
                      type_name(rt));
    return rc;
}

/* Applies every field default met in v's schema to v, a scratch value: arrays, maps and unions
 * get an item or branch so that nested records are reached too. */
static int check_value(struct resolve *r, avro_value_t *v, struct pair_stack *seen)
{
    avro_schema_t s = ph_avro_unlink(avro_value_get_schema(v));
    avro_value_t item;
    int rc = 0;

    switch (avro_typeof(s)) {
    case AVRO_ARRAY:
        rc = avro_rc(avro_value_append(v, &item, NULL));
        return rc != 0 ? rc : check_value(r, &item, seen);
    case AVRO_MAP:
        rc = avro_rc(avro_value_add(v, "k", &item, NULL, NULL));
        return rc != 0 ? rc : check_value(r, &item, seen);
    case AVRO_UNION:
        for (size_t i = 0; i < avro_schema_union_size(s) && rc == 0; i++)
            if ((rc = avro_rc(avro_value_set_branch(v, (int)i, &item))) == 0)
                rc = check_value(r, &item, seen);
        return rc;
    case AVRO_RECORD:
        break;
    default:
        return 0;
    }
    for (int i = 0; i < seen->n; i++) /* each record once, and recursive schemas end */
        if (seen->r[i] == s)
            return 0;
    if (seen->n == 64)
        return 0;
    seen->r[seen->n++] = s;
    for (size_t i = 0; i < avro_schema_record_size(s) && rc == 0; i++) {
        const char *name;
        if ((rc = avro_rc(avro_value_get_by_index(v, i, &item, &name))) != 0)
            break;
        const json_t *dflt = json_object_get(field_json(r, s, name), "default");
        if (dflt) {
            r->field = name;
            rc = default_value(r, dflt, &item);
            r->field = NULL;
        }
        if (rc == 0)
            rc = check_value(r, &item, seen);
    }
    return rc;
}

int ph_avro_check_defaults(avro_value_iface_t *iface, const json_t *records, char *errstr,
                           size_t errstr_size)
{
    struct resolve r = {.records = records, .errstr = errstr, .errstr_size = errstr_size};
    struct pair_stack seen = {.n = 0};
    avro_value_t scratch;
    int rc;

    if (avro_generic_value_new(iface, &scratch) != 0)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    if (errstr && errstr_size)
        errstr[0] = '\0';
    rc = check_value(&r, &scratch, &seen);
    if (rc == PH_ENOMEM)
        ph_err(errstr, errstr_size, rc, "out of memory");
    else if (rc != 0 && errstr && errstr_size && !errstr[0])
        ph_err(errstr, errstr_size, rc, "avro-c failed on a scratch value");
    avro_value_decref(&scratch);
    return rc;
}

/* ---- Resolution ---------------------------------------------------------------------------- */

static int resolve_value(struct resolve *r, const avro_value_t *src, avro_value_t *dst);

/* Numbers, with the promotions int -> long -> float -> double. */
static int resolve_number(const avro_value_t *src, avro_value_t *dst, avro_type_t wt,
                          avro_type_t rt)
{
    int32_t i = 0;
    int64_t l = 0;
    float f = 0;
    double d = 0;

    if (wt == AVRO_INT32) {
        avro_value_get_int(src, &i);
        l = i;
        d = i;
    } else if (wt == AVRO_INT64) {
        avro_value_get_long(src, &l);
        d = (double)l;
    } else if (wt == AVRO_FLOAT) {
        avro_value_get_float(src, &f);
        d = f;
    } else {
        avro_value_get_double(src, &d);
    }
    switch (rt) {
    case AVRO_INT32:
        return avro_rc(avro_value_set_int(dst, i));
    case AVRO_INT64:
        return avro_rc(avro_value_set_long(dst, l));
    case AVRO_FLOAT:
        return avro_rc(avro_value_set_float(dst, wt == AVRO_FLOAT ? f : (float)d));
    default:
        return avro_rc(avro_value_set_double(dst, d));
    }
}

/* Strings and bytes, either way. */
static int resolve_bytes(const avro_value_t *src, avro_value_t *dst, avro_type_t wt, avro_type_t rt)
{
    const void *p = NULL;
    const char *s = NULL;
    size_t n = 0;

    if (wt == AVRO_STRING) {
        avro_value_get_string(src, &s, &n); /* n counts the NUL */
        if (rt == AVRO_STRING)
            return avro_rc(avro_value_set_string_len(dst, s, n));
        return avro_rc(avro_value_set_bytes(dst, (void *)s, n ? n - 1 : 0));
    }
    avro_value_get_bytes(src, &p, &n);
    if (rt == AVRO_STRING)
        return set_string_copy(dst, p, n);
    return avro_rc(avro_value_set_bytes(dst, (void *)p, n));
}

static int resolve_enum(struct resolve *r, const avro_value_t *src, avro_value_t *dst,
                        avro_schema_t ws, avro_schema_t rs)
{
    int wi = 0;
    avro_value_get_enum(src, &wi);
    const char *sym = avro_schema_enum_get(ws, wi);
    int ri = sym ? avro_schema_enum_get_by_name(rs, sym) : -1;
    if (ri < 0)
        return ph_err(r->errstr, r->errstr_size, PH_EAVRO,
                      "field %s: enum symbol %s unknown to the reader", where(r), sym ? sym : "?");
    return avro_rc(avro_value_set_enum(dst, ri));
}

static int resolve_items(struct resolve *r, const avro_value_t *src, avro_value_t *dst,
                         avro_type_t rt)
{
    size_t n = 0;
    int rc = 0;

    avro_value_get_size(src, &n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        avro_value_t se, de;
        const char *key = NULL;
        if ((rc = avro_rc(avro_value_get_by_index(src, i, &se, &key))) != 0)
            break;
        rc = avro_rc(rt == AVRO_ARRAY ? avro_value_append(dst, &de, NULL)
                                      : avro_value_add(dst, key, &de, NULL, NULL));
        if (rc == 0)
            rc = resolve_value(r, &se, &de);
    }
    return rc;
}

/* Reader fields by name: from the writer when it has them, else their default. */
static int resolve_record(struct resolve *r, const avro_value_t *src, avro_value_t *dst,
                          avro_schema_t ws, avro_schema_t rs)
{
    const char *outer = r->field;
    size_t n = avro_schema_record_size(rs);
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *name;
        avro_value_t rf, wf;
        if ((rc = avro_rc(avro_value_get_by_index(dst, i, &rf, &name))) != 0)
            break;
        int wi = ph_avro_field_index(ws, name, (int)i);
        if (wi >= 0 && avro_value_get_by_index(src, (size_t)wi, &wf, NULL) == 0) {
            r->field = name;
            rc = resolve_value(r, &wf, &rf);
            r->field = outer;
        } else {
            rc = field_default(r, rs, name, &rf);
        }
    }
    return rc;
}

static int resolve_value(struct resolve *r, const avro_value_t *src, avro_value_t *dst)
{
    avro_schema_t ws = ph_avro_unlink(avro_value_get_schema(src));
    avro_schema_t rs = ph_avro_unlink(avro_value_get_schema(dst));
    avro_type_t wt = avro_typeof(ws), rt = avro_typeof(rs);
    avro_value_t branch;

    if (wt == AVRO_UNION) { /* the branch the writer chose */
        if (avro_value_get_current_branch(src, &branch) != 0)
            return fail(r, "writer union without branch", wt, rt);
        return resolve_value(r, &branch, dst);
    }
    if (rt == AVRO_UNION) { /* the first reader branch that fits */
        int idx = match_branch(rs, ws);
        if (idx < 0)
            return fail(r, "no reader union branch fits", wt, rt);
        int rc = avro_rc(avro_value_set_branch(dst, idx, &branch));
        return rc != 0 ? rc : resolve_value(r, src, &branch);
    }
    if (!schema_matches(ws, rs, true))
        return fail(r, "types do not match", wt, rt);

    switch (rt) {
    case AVRO_NULL:
        return avro_rc(avro_value_set_null(dst));
    case AVRO_BOOLEAN: {
        int b = 0;
        avro_value_get_boolean(src, &b);
        return avro_rc(avro_value_set_boolean(dst, b));
    }
    case AVRO_INT32:
    case AVRO_INT64:
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        return resolve_number(src, dst, wt, rt);
    case AVRO_STRING:
    case AVRO_BYTES:
        return resolve_bytes(src, dst, wt, rt);
    case AVRO_FIXED: {
        const void *p = NULL;
        size_t n = 0;
        avro_value_get_fixed(src, &p, &n);
        if ((int64_t)n != avro_schema_fixed_size(rs))
            return fail(r, "fixed sizes differ", wt, rt);
        return avro_rc(avro_value_set_fixed(dst, (void *)p, n));
    }
    case AVRO_ENUM:
        return resolve_enum(r, src, dst, ws, rs);
    case AVRO_ARRAY:
    case AVRO_MAP:
        return resolve_items(r, src, dst, rt);
    case AVRO_RECORD:
        return resolve_record(r, src, dst, ws, rs);
    default:
        return fail(r, "unsupported type", wt, rt);
    }
}

int ph_avro_resolve_copy(const avro_value_t *src, avro_value_t *dst, const json_t *records,
                         char *errstr, size_t errstr_size)
{
    struct resolve r = {.records = records, .errstr = errstr, .errstr_size = errstr_size};
    return resolve_value(&r, src, dst);
}

/* ---- Which pairs avro-c may resolve -------------------------------------------------------- */

/* avro-c's resolved writer must only see pairs it resolves: on failure it does not return NULL
 * cleanly but crashes or double-frees while cleaning up (seen with 1.11.1 when a reader field is
 * missing from the writer), and it maps enums by index. So it gets the pairs that differ only by
 * extra writer fields and field order, everything else identical; the rest goes by copy. */
static bool same_shape(struct pair_stack *st, avro_schema_t w, avro_schema_t r);

static bool same_record(struct pair_stack *st, avro_schema_t w, avro_schema_t r)
{
    bool ok = true;

    /* Recursive schemas: a pair already being compared is assumed to match. */
    for (int i = 0; i < st->n; i++)
        if (st->w[i] == w && st->r[i] == r)
            return true;
    if (st->n == 64)
        return false;
    st->w[st->n] = w;
    st->r[st->n] = r;
    st->n++;
    for (size_t i = 0; i < avro_schema_record_size(r) && ok; i++) {
        int wi = ph_avro_field_index(w, avro_schema_record_field_name(r, (int)i), (int)i);
        ok = wi >= 0 && same_shape(st, avro_schema_record_field_get_by_index(w, wi),
                                   avro_schema_record_field_get_by_index(r, (int)i));
    }
    st->n--;
    return ok;
}

static bool same_shape(struct pair_stack *st, avro_schema_t w, avro_schema_t r)
{
    w = ph_avro_unlink(w);
    r = ph_avro_unlink(r);
    avro_type_t t = avro_typeof(w);
    bool ok = true;

    if (t != avro_typeof(r))
        return false;
    if ((t == AVRO_RECORD || t == AVRO_ENUM || t == AVRO_FIXED) &&
        strcmp(avro_schema_name(w), avro_schema_name(r)) != 0)
        return false;
    switch (t) {
    case AVRO_FIXED:
        return avro_schema_fixed_size(w) == avro_schema_fixed_size(r);
    case AVRO_ENUM: {
        int n = avro_schema_enum_number_of_symbols(w);
        if (n != avro_schema_enum_number_of_symbols(r))
            return false;
        for (int i = 0; i < n && ok; i++)
            ok = strcmp(avro_schema_enum_get(w, i), avro_schema_enum_get(r, i)) == 0;
        return ok;
    }
    case AVRO_ARRAY:
        return same_shape(st, avro_schema_array_items(w), avro_schema_array_items(r));
    case AVRO_MAP:
        return same_shape(st, avro_schema_map_values(w), avro_schema_map_values(r));
    case AVRO_UNION: {
        size_t n = avro_schema_union_size(w);
        if (n != avro_schema_union_size(r))
            return false;
        for (size_t i = 0; i < n && ok; i++)
            ok = same_shape(st, avro_schema_union_branch(w, (int)i),
                            avro_schema_union_branch(r, (int)i));
        return ok;
    }
    case AVRO_RECORD:
        return same_record(st, w, r);
    default:
        return true;
    }
}

bool ph_avro_same_shape(avro_schema_t writer, avro_schema_t reader)
{
    struct pair_stack st = {.n = 0};
    return same_shape(&st, writer, reader);
}
