/* Operations on parsed JSON values (ph_record_jdoc.h): lookup, jansson's equality, type names
 * for messages, and the compact text of a value kept in metadata. */
#include "ph_record_jdoc.h"

#include <stdlib.h>
#include <string.h>

const ph_jv *ph_jv_getn(const ph_jv *obj, const char *key, size_t klen)
{
    if (!ph_jv_is_object(obj))
        return NULL;
    for (size_t i = 0; i < obj->n; i++) {
        const ph_jmember *m = &obj->u.members[i];
        if (m->klen == klen && memcmp(m->key, key, klen) == 0)
            return &m->v;
    }
    return NULL;
}

static int cmp_member(const void *x, const void *y)
{
    const ph_jmember *a = *(const ph_jmember *const *)x, *b = *(const ph_jmember *const *)y;
    if (a->klen != b->klen)
        return a->klen < b->klen ? -1 : 1;
    return memcmp(a->key, b->key, a->klen);
}

/* Objects of the same size with equal members. Keys are unique, so large objects are compared
 * in key order after a sort (a quadratic lookup would let two huge aliases of one field stall
 * the validator); small ones, or when memory is short, member by member. */
static bool objects_equal(const ph_jv *a, const ph_jv *b)
{
    size_t n = a->n;
    const ph_jmember **sa = n > 8 ? malloc(2 * n * sizeof(*sa)) : NULL;
    if (!sa) {
        for (size_t i = 0; i < n; i++) {
            const ph_jmember *m = &a->u.members[i];
            if (!ph_jv_equal(&m->v, ph_jv_getn(b, m->key, m->klen)))
                return false;
        }
        return true;
    }
    const ph_jmember **sb = sa + n;
    for (size_t i = 0; i < n; i++) {
        sa[i] = &a->u.members[i];
        sb[i] = &b->u.members[i];
    }
    qsort(sa, n, sizeof(*sa), cmp_member);
    qsort(sb, n, sizeof(*sb), cmp_member);
    bool eq = true;
    for (size_t i = 0; i < n && eq; i++)
        eq = cmp_member(&sa[i], &sb[i]) == 0 && ph_jv_equal(&sa[i]->v, &sb[i]->v);
    free(sa);
    return eq;
}

bool ph_jv_equal(const ph_jv *a, const ph_jv *b)
{
    if (!a || !b)
        return false;
    if (a == b)
        return true;
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case PH_JV_INT:
        return a->u.i == b->u.i;
    case PH_JV_REAL:
        return a->u.d == b->u.d;
    case PH_JV_STRING:
        return a->n == b->n && memcmp(a->u.s, b->u.s, a->n) == 0;
    case PH_JV_ARRAY:
        if (a->n != b->n)
            return false;
        for (size_t i = 0; i < a->n; i++)
            if (!ph_jv_equal(&a->u.items[i], &b->u.items[i]))
                return false;
        return true;
    case PH_JV_OBJECT:
        return a->n == b->n && objects_equal(a, b);
    default: /* null, true, false */
        return true;
    }
}

const char *ph_jv_type_name(const ph_jv *v)
{
    switch (v ? v->type : PH_JV_NULL) {
    case PH_JV_OBJECT:
        return "an object";
    case PH_JV_ARRAY:
        return "an array";
    case PH_JV_STRING:
        return "a string";
    case PH_JV_INT:
        return "an integer";
    case PH_JV_REAL:
        return "a real number";
    case PH_JV_TRUE:
    case PH_JV_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* A jansson copy of a value, for printing: metadata keeps non-string values as the compact
 * text jansson printed before, and printing is rare (most metadata values are strings). */
static json_t *to_jansson(const ph_jv *v)
{
    json_t *j = NULL;
    switch (v->type) {
    case PH_JV_OBJECT:
        if (!(j = json_object()))
            return NULL;
        for (size_t i = 0; i < v->n; i++) {
            const ph_jmember *m = &v->u.members[i];
            json_t *x = to_jansson(&m->v);
            if (!x || json_object_setn_new_nocheck(j, m->key, m->klen, x)) {
                json_decref(j);
                return NULL;
            }
        }
        return j;
    case PH_JV_ARRAY:
        if (!(j = json_array()))
            return NULL;
        for (size_t i = 0; i < v->n; i++)
            if (json_array_append_new(j, to_jansson(&v->u.items[i]))) {
                json_decref(j);
                return NULL;
            }
        return j;
    case PH_JV_STRING:
        return json_stringn_nocheck(v->u.s, v->n);
    case PH_JV_INT:
        return json_integer(v->u.i);
    case PH_JV_REAL:
        return json_real(v->u.d);
    case PH_JV_TRUE:
        return json_true();
    case PH_JV_FALSE:
        return json_false();
    default:
        return json_null();
    }
}

char *ph_jv_dump(const ph_jv *v)
{
    json_t *j = v ? to_jansson(v) : NULL;
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(j);
    return text;
}

/* ---- from jansson ---------------------------------------------------------------------- */

static bool copy_jansson(ph_jdoc *d, const json_t *j, ph_jv *out)
{
    memset(out, 0, sizeof(*out));
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        json_t *obj = (json_t *)j; /* iteration does not modify it */
        size_t n = json_object_size(obj);
        ph_jmember *m = ph_jdoc_alloc(d, n * sizeof(*m));
        const char *k;
        size_t klen;
        json_t *x;
        if (!m)
            return false;
        out->type = PH_JV_OBJECT;
        json_object_keylen_foreach(obj, k, klen, x)
        {
            ph_jmember *e = &m[out->n++];
            e->klen = klen;
            if (!(e->key = ph_jdoc_str(d, k, klen)) || !copy_jansson(d, x, &e->v))
                return false;
        }
        out->u.members = m;
        return true;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        ph_jv *items = ph_jdoc_alloc(d, n * sizeof(*items));
        if (!items)
            return false;
        out->type = PH_JV_ARRAY;
        out->n = n;
        out->u.items = items;
        for (size_t i = 0; i < n; i++)
            if (!copy_jansson(d, json_array_get(j, i), &items[i]))
                return false;
        return true;
    }
    case JSON_STRING:
        out->type = PH_JV_STRING;
        out->n = json_string_length(j);
        return (out->u.s = ph_jdoc_str(d, json_string_value(j), out->n)) != NULL;
    case JSON_INTEGER:
        out->type = PH_JV_INT;
        out->u.i = json_integer_value(j);
        return true;
    case JSON_REAL:
        out->type = PH_JV_REAL;
        out->u.d = json_real_value(j);
        return true;
    case JSON_TRUE:
        out->type = PH_JV_TRUE;
        return true;
    case JSON_FALSE:
        out->type = PH_JV_FALSE;
        return true;
    default:
        out->type = PH_JV_NULL;
        return true;
    }
}

const ph_jv *ph_jdoc_from_jansson(ph_jdoc *d, const json_t *v)
{
    ph_jv *r = v ? ph_jdoc_alloc(d, sizeof(*r)) : NULL;
    return r && copy_jansson(d, v, r) ? r : NULL;
}
