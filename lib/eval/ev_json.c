/* json: is the output valid JSON (the whole output, or the first ```json block of it), and does
 * it conform to a configured JSON Schema subset. docs/evaluators/json.md is the reference.
 *
 * Parser: jansson. The schema subset is checked against a tree, and jansson gives one (the
 * config, schema included, is already a jansson tree); it reports where a parse failed (line,
 * column, an error code we turn into our own words, so content never reaches the explanation).
 * yajl's event parser is faster, but would need a tree of our own for the schema; outputs that
 * cannot be JSON (most outputs of most apps) are rejected on their first character, before any
 * parser runs. Numbers are parsed as doubles (JSON_DECODE_INT_AS_REAL): JSON has one number
 * type, and an integer beyond 64 bits is still valid JSON, which jansson's integer path rejects.
 *
 * The schema is compiled at create() into js_schema nodes (validated: a bad schema is a config
 * error, with its path); evaluate() parses and walks, allocating only jansson's tree. */
#include "ph_error.h"
#include "ph_eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SCHEMA_DEPTH 64
#define MAX_VIOLATIONS   100 /* counted; the walk stops there */

enum { EXTRACT_NONE, EXTRACT_FENCED, EXTRACT_AUTO };

/* JSON types as a bit set; T_INTEGER is a number with no fractional part. */
enum {
    T_OBJECT = 1,
    T_ARRAY = 2,
    T_STRING = 4,
    T_NUMBER = 8,
    T_INTEGER = 16,
    T_BOOLEAN = 32,
    T_NULL = 64,
};
static const char *const type_names[] = {"object",  "array",   "string", "number",
                                         "integer", "boolean", "null"};
#define NTYPES 7

typedef struct js_schema js_schema;

typedef struct js_prop {
    char *name;
    js_schema *schema;
} js_prop;

struct js_schema {
    bool never;     /* the schema false: nothing conforms */
    unsigned types; /* allowed types; 0 = any */
    char **required;
    size_t nrequired;
    js_prop *props; /* sorted by name */
    size_t nprops;
    bool no_additional;    /* additionalProperties: false */
    js_schema *additional; /* additionalProperties: a schema */
    js_schema *items;      /* every array element */
    json_t *enum_values;   /* an array (our copy), or NULL */
    bool has_min, has_max;
    double minimum, maximum;
};

typedef struct js_state {
    int extract;
    bool allow_scalar;
    js_schema *schema; /* NULL: validity only */
} js_state;

/* ---- schema ---------------------------------------------------------------------------------- */

static void schema_free(js_schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nrequired; i++)
        free(s->required[i]);
    free(s->required);
    for (size_t i = 0; i < s->nprops; i++) {
        free(s->props[i].name);
        schema_free(s->props[i].schema);
    }
    free(s->props);
    schema_free(s->additional);
    schema_free(s->items);
    json_decref(s->enum_values);
    free(s);
}

static int prop_cmp(const void *a, const void *b)
{
    return strcmp(((const js_prop *)a)->name, ((const js_prop *)b)->name);
}

static int parse_type(js_schema *s, const json_t *jt, const char *path, char *errstr,
                      size_t errstr_size)
{
    size_t n = json_is_array(jt) ? json_array_size(jt) : 1;
    if (!json_is_string(jt) && (!json_is_array(jt) || n == 0))
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "%s.type: must be a type name or a non-empty array of them", path);
    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value(json_is_array(jt) ? json_array_get(jt, i) : jt);
        size_t k = 0;
        while (name && k < NTYPES && strcmp(name, type_names[k]) != 0)
            k++;
        if (!name || k == NTYPES)
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "%s.type: unknown type (known: object, array, string, number, integer, "
                          "boolean, null)",
                          path);
        s->types |= 1u << k;
    }
    return 0;
}

static int parse_schema(js_schema **out, const json_t *j, const char *path, int depth, char *errstr,
                        size_t errstr_size);

static int parse_properties(js_schema *s, const json_t *jp, const char *path, int depth,
                            char *errstr, size_t errstr_size)
{
    const char *key;
    json_t *sub;
    char subpath[256];
    int rc;
    if (!json_is_object(jp))
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s.properties: must be an object", path);
    if (!(s->props = calloc(json_object_size(jp) + 1, sizeof(*s->props))))
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    /* jansson's iteration API takes a non-const object; it does not modify it */
    json_object_foreach((json_t *)jp, key, sub)
    {
        js_prop *p = &s->props[s->nprops];
        if (!(p->name = strdup(key)))
            return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
        s->nprops++;
        snprintf(subpath, sizeof(subpath), "%s.properties.%s", path, key);
        if ((rc = parse_schema(&p->schema, sub, subpath, depth + 1, errstr, errstr_size)))
            return rc;
    }
    qsort(s->props, s->nprops, sizeof(*s->props), prop_cmp);
    return 0;
}

static int parse_required(js_schema *s, const json_t *jr, const char *path, char *errstr,
                          size_t errstr_size)
{
    size_t n = json_array_size(jr);
    if (!json_is_array(jr))
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "%s.required: must be an array of property names", path);
    if (!(s->required = calloc(n + 1, sizeof(*s->required))))
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value(json_array_get(jr, i));
        if (!name)
            return ph_err(errstr, errstr_size, PH_EINVAL, "%s.required[%zu]: must be a string",
                          path, i);
        for (size_t k = 0; k < i; k++)
            if (strcmp(s->required[k], name) == 0)
                return ph_err(errstr, errstr_size, PH_EINVAL, "%s.required[%zu]: listed twice",
                              path, i);
        if (!(s->required[i] = strdup(name)))
            return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
        s->nrequired = i + 1;
    }
    return 0;
}

static int parse_bound(const json_t *j, const char *key, bool *has, double *out, const char *path,
                       char *errstr, size_t errstr_size)
{
    const json_t *v = json_object_get(j, key);
    if (!v)
        return 0;
    if (!json_is_number(v))
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s.%s: must be a number", path, key);
    *has = true;
    *out = json_number_value(v);
    return 0;
}

/* Keywords we check, and annotations we accept and ignore. Anything else is refused: a schema
 * that silently ignores "pattern" would pass outputs its author meant to fail. */
static const char *const keywords[] = {
    "type",        "required", "properties", "additionalProperties",
    "items",       "enum",     "minimum",    "maximum",
    "$schema",     "$id",      "$comment",   "title",
    "description", "default",  "examples",   NULL};

static int parse_schema(js_schema **out, const json_t *j, const char *path, int depth, char *errstr,
                        size_t errstr_size)
{
    js_schema *s = calloc(1, sizeof(*s));
    const char *key;
    json_t *v;
    char subpath[256];
    int rc = 0;
    if (!s)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    *out = s; /* the caller frees it, whatever happens */
    if (depth > MAX_SCHEMA_DEPTH)
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s: nested deeper than %d", path,
                      MAX_SCHEMA_DEPTH);
    if (json_is_boolean(j)) {
        s->never = json_is_false(j);
        return 0;
    }
    if (!json_is_object(j))
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s: a schema must be an object or a boolean",
                      path);
    json_object_foreach((json_t *)j, key, v)
    {
        size_t i = 0;
        while (keywords[i] && strcmp(keywords[i], key) != 0)
            i++;
        if (!keywords[i])
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "%s: unsupported keyword \"%s\" (supported: type, required, properties, "
                          "additionalProperties, items, enum, minimum, maximum)",
                          path, key);
    }
    if ((v = json_object_get(j, "type")) && (rc = parse_type(s, v, path, errstr, errstr_size)))
        return rc;
    if ((v = json_object_get(j, "required")) &&
        (rc = parse_required(s, v, path, errstr, errstr_size)))
        return rc;
    if ((v = json_object_get(j, "properties")) &&
        (rc = parse_properties(s, v, path, depth, errstr, errstr_size)))
        return rc;
    if ((v = json_object_get(j, "additionalProperties"))) {
        snprintf(subpath, sizeof(subpath), "%s.additionalProperties", path);
        if (json_is_false(v))
            s->no_additional = true;
        else if (!json_is_true(v) &&
                 (rc = parse_schema(&s->additional, v, subpath, depth + 1, errstr, errstr_size)))
            return rc;
    }
    if ((v = json_object_get(j, "items"))) {
        snprintf(subpath, sizeof(subpath), "%s.items", path);
        if (json_is_array(v))
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "%s: an array of schemas (tuple form) is not supported", subpath);
        if ((rc = parse_schema(&s->items, v, subpath, depth + 1, errstr, errstr_size)))
            return rc;
    }
    if ((v = json_object_get(j, "enum"))) {
        if (!json_is_array(v) || json_array_size(v) == 0)
            return ph_err(errstr, errstr_size, PH_EINVAL, "%s.enum: must be a non-empty array",
                          path);
        if (!(s->enum_values = json_deep_copy(v)))
            return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    }
    if ((rc = parse_bound(j, "minimum", &s->has_min, &s->minimum, path, errstr, errstr_size)) ||
        (rc = parse_bound(j, "maximum", &s->has_max, &s->maximum, path, errstr, errstr_size)))
        return rc;
    if (s->has_min && s->has_max && s->minimum > s->maximum)
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s: minimum is above maximum", path);
    return 0;
}

/* ---- create ---------------------------------------------------------------------------------- */

static void js_destroy(void *state)
{
    js_state *st = state;
    if (!st)
        return;
    schema_free(st->schema);
    free(st);
}

static int js_create(void **state, const json_t *config, char *errstr, size_t errstr_size)
{
    static const char *const keys[] = {"extract", "allow_scalar", "schema", NULL};
    const char *key;
    json_t *v;
    int rc = 0;
    if (!json_is_object(config))
        return ph_err(errstr, errstr_size, PH_EINVAL, "config must be an object");
    json_object_foreach((json_t *)config, key, v)
    {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], key) != 0)
            i++;
        if (!keys[i])
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "unknown key \"%s\" (known: extract, allow_scalar, schema)", key);
    }
    js_state *st = calloc(1, sizeof(*st));
    if (!st)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    if ((v = json_object_get(config, "extract"))) {
        const char *e = json_string_value(v);
        if (e && strcmp(e, "none") == 0) {
            st->extract = EXTRACT_NONE;
        } else if (e && strcmp(e, "fenced") == 0) {
            st->extract = EXTRACT_FENCED;
        } else if (e && strcmp(e, "auto") == 0) {
            st->extract = EXTRACT_AUTO;
        } else {
            rc = ph_err(errstr, errstr_size, PH_EINVAL,
                        "extract: must be \"none\", \"fenced\" or \"auto\"");
            goto out;
        }
    }
    if ((v = json_object_get(config, "allow_scalar"))) {
        if (!json_is_boolean(v)) {
            rc = ph_err(errstr, errstr_size, PH_EINVAL, "allow_scalar: must be true or false");
            goto out;
        }
        st->allow_scalar = json_is_true(v);
    }
    if ((v = json_object_get(config, "schema")) &&
        (rc = parse_schema(&st->schema, v, "schema", 0, errstr, errstr_size)))
        goto out;
    *state = st;
    st = NULL;
out:
    js_destroy(st);
    return rc;
}

/* ---- validation ------------------------------------------------------------------------------ */

typedef struct vctx {
    char path[160]; /* "$.items[2].price"; a path too long for it ends in "..." */
    size_t len;
    size_t violations;
    char first[PH_EVAL_EXPLANATION_MAX];
} vctx;

static void violation(vctx *v, const char *what)
{
    if (v->violations++ == 0)
        snprintf(v->first, sizeof(v->first), "%s: %s", v->path, what);
}

/* Appends a path segment; returns the length to restore with path_pop. */
static size_t path_push(vctx *v, const char *segment)
{
    size_t old = v->len, n = strlen(segment);
    if (v->len + n + 4 > sizeof(v->path)) {
        if (v->len + 4 <= sizeof(v->path))
            strcpy(v->path + v->len, "...");
    } else {
        memcpy(v->path + v->len, segment, n + 1);
    }
    v->len = strlen(v->path);
    return old;
}

static void path_pop(vctx *v, size_t old)
{
    v->len = old;
    v->path[old] = '\0';
}

/* A property name as a path segment: .name when it is an identifier, else ['name']. Names come
 * from the schema, never from the document. */
static size_t path_push_name(vctx *v, const char *name)
{
    char segment[96];
    bool ident = (*name >= 'a' && *name <= 'z') || (*name >= 'A' && *name <= 'Z') || *name == '_';
    for (const char *p = name; ident && *p; p++)
        ident = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
                (*p >= '0' && *p <= '9');
    snprintf(segment, sizeof(segment), ident ? ".%.80s" : "['%.80s']", name);
    return path_push(v, segment);
}

static unsigned type_of(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return T_OBJECT;
    case JSON_ARRAY:
        return T_ARRAY;
    case JSON_STRING:
        return T_STRING;
    case JSON_INTEGER:
        return T_NUMBER | T_INTEGER;
    case JSON_REAL: {
        double d = json_real_value(j);
        return T_NUMBER | (isfinite(d) && floor(d) == d ? T_INTEGER : 0);
    }
    case JSON_TRUE:
    case JSON_FALSE:
        return T_BOOLEAN;
    default:
        return T_NULL;
    }
}

/* JSON equality where numbers compare by value (1 = 1.0), as JSON Schema's enum wants. */
static bool equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_string(a))
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    if (json_is_object(a)) {
        const char *key;
        json_t *va;
        if (json_object_size(a) != json_object_size(b))
            return false;
        json_object_foreach((json_t *)a, key, va)
        {
            const json_t *vb = json_object_get(b, key);
            if (!vb || !equal(va, vb))
                return false;
        }
        return true;
    }
    return true; /* true, false, null */
}

static void type_violation(vctx *v, unsigned want, unsigned got)
{
    char what[96] = "expected ";
    for (size_t k = 0, n = 0; k < NTYPES; k++)
        if (want & (1u << k))
            snprintf(what + strlen(what), sizeof(what) - strlen(what), "%s%s", n++ ? " or " : "",
                     type_names[k]);
    /* the first name of the value's type: "number" for 3 and 3.5 alike */
    size_t k = 0;
    while (k < NTYPES && !(got & (1u << k)))
        k++;
    snprintf(what + strlen(what), sizeof(what) - strlen(what), ", got %s",
             k < NTYPES ? type_names[k] : "null");
    violation(v, what);
}

static void validate(const js_schema *s, const json_t *j, vctx *v);

static void validate_object(const js_schema *s, const json_t *j, vctx *v)
{
    const char *key;
    json_t *val;
    for (size_t i = 0; i < s->nrequired && v->violations < MAX_VIOLATIONS; i++)
        if (!json_object_get(j, s->required[i])) {
            size_t old = path_push_name(v, s->required[i]);
            violation(v, "required property missing");
            path_pop(v, old);
        }
    json_object_foreach((json_t *)j, key, val)
    {
        if (v->violations >= MAX_VIOLATIONS)
            return;
        js_prop probe = {(char *)key, NULL};
        const js_prop *p =
            s->nprops ? bsearch(&probe, s->props, s->nprops, sizeof(*s->props), prop_cmp) : NULL;
        if (p) {
            size_t old = path_push_name(v, p->name);
            validate(p->schema, val, v);
            path_pop(v, old);
        } else if (s->no_additional) {
            /* the key comes from the document: the path stops at its object */
            violation(v, "additional property not allowed");
        } else if (s->additional) {
            size_t old = path_push(v, ".*"); /* an undeclared key, never echoed */
            validate(s->additional, val, v);
            path_pop(v, old);
        }
    }
}

static void validate(const js_schema *s, const json_t *j, vctx *v)
{
    char what[64];
    if (s->never) {
        violation(v, "not allowed (false schema)");
        return;
    }
    unsigned t = type_of(j);
    if (s->types && !(s->types & t)) {
        type_violation(v, s->types, t);
        return;
    }
    if (s->enum_values) {
        bool found = false;
        for (size_t i = 0; !found && i < json_array_size(s->enum_values); i++)
            found = equal(json_array_get(s->enum_values, i), j);
        if (!found)
            violation(v, "not one of the enum values");
    }
    if (t & T_NUMBER) {
        double d = json_number_value(j);
        if (s->has_min && d < s->minimum) {
            snprintf(what, sizeof(what), "below minimum %g", s->minimum);
            violation(v, what);
        }
        if (s->has_max && d > s->maximum) {
            snprintf(what, sizeof(what), "above maximum %g", s->maximum);
            violation(v, what);
        }
    }
    if ((t & T_OBJECT) && (s->nrequired || s->nprops || s->no_additional || s->additional))
        validate_object(s, j, v);
    if ((t & T_ARRAY) && s->items)
        for (size_t i = 0; i < json_array_size(j) && v->violations < MAX_VIOLATIONS; i++) {
            char segment[32];
            snprintf(segment, sizeof(segment), "[%zu]", i);
            size_t old = path_push(v, segment);
            validate(s->items, json_array_get(j, i), v);
            path_pop(v, old);
        }
}

/* ---- evaluate -------------------------------------------------------------------------------- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_json_info(const char *s, const char *end)
{
    return end - s == 4 && (s[0] | 0x20) == 'j' && (s[1] | 0x20) == 's' && (s[2] | 0x20) == 'o' &&
           (s[3] | 0x20) == 'n';
}

/* The body of the first ```json block, else of the first unlabelled ``` block whose body starts
 * with { or [. A block left open (a truncated output) runs to the end of the text. */
static bool find_fence(const char *s, size_t len, const char **body, size_t *body_len)
{
    const char *p = s, *end = s + len, *plain = NULL;
    size_t plain_len = 0;
    while (p < end && (p = memmem(p, (size_t)(end - p), "```", 3))) {
        size_t at = (size_t)(p - s) + 3; /* offsets, not pointers: gcc cannot bound end - info */
        while (at < len && s[at] == '`')
            at++;
        const char *info = s + at, *nl = memchr(info, '\n', len - at);
        const char *info_end = nl ? nl : end, *b = nl ? nl + 1 : end;
        while (info < info_end && is_space(*info))
            info++;
        while (info_end > info && is_space(info_end[-1]))
            info_end--;
        const char *close = memmem(b, (size_t)(end - b), "```", 3);
        const char *b_end = close ? close : end;
        if (is_json_info(info, info_end)) {
            *body = b;
            *body_len = (size_t)(b_end - b);
            return true;
        }
        if (info == info_end && !plain) {
            const char *q = b;
            while (q < b_end && is_space(*q))
                q++;
            if (q < b_end && (*q == '{' || *q == '[')) {
                plain = b;
                plain_len = (size_t)(b_end - b);
            }
        }
        p = close ? close + 3 : end;
    }
    *body = plain;
    *body_len = plain_len;
    return plain != NULL;
}

/* Our words for jansson's error codes: its own messages quote the text near the error. */
static const char *parse_error(const json_error_t *err)
{
    switch (json_error_code(err)) {
    case json_error_invalid_utf8:
        return "invalid UTF-8";
    case json_error_premature_end_of_input:
        return "unexpected end of input (truncated?)";
    case json_error_end_of_input_expected:
        return "text after the JSON value";
    case json_error_null_character:
        return "NUL character";
    case json_error_numeric_overflow:
        return "number out of range";
    case json_error_stack_overflow:
        return "nested too deeply";
    default:
        return "syntax error";
    }
}

/* Result fields written directly: the framework's setters format with snprintf (and
 * ph_eval_add_value looks for the name among the values already there), which on the every-record
 * path cost as much as the matching itself. Names are known to be new. */
static void judge(ph_eval_result *r, const char *label, const char *why)
{
    ph_eval_set_label(r, label);
    ph_eval_set_explanation(r, why);
    ph_eval_set_passed(r, strcmp(label, "valid_json") == 0);
}

static int js_evaluate(const void *state, const ph_eval_record *rec, ph_eval_sink *sink,
                       char *errstr, size_t errstr_size)
{
    const js_state *st = state;
    ph_eval_result *r = ph_eval_emit(sink, NULL);
    if (!r)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    const char *text = rec->output.s ? rec->output.s : "";
    size_t len = rec->output.s ? rec->output.len : 0;
    bool fenced = false;
    if (rec->is_error && len == 0) {
        r->status = PH_EVAL_SKIPPED;
        ph_eval_set_explanation(r, "call failed: no output to check");
        return 0;
    }
    if (st->extract != EXTRACT_NONE) {
        const char *body;
        size_t body_len;
        if (find_fence(text, len, &body, &body_len)) {
            text = body;
            len = body_len;
            fenced = true;
        } else if (st->extract == EXTRACT_FENCED) {
            judge(r, "no_json", "no ```json code block");
            return 0;
        }
    }
    while (len > 0 && is_space(*text))
        text++, len--;
    while (len > 0 && is_space(text[len - 1]))
        len--;
    ph_eval_append_value(r, "fenced", fenced);
    ph_eval_append_value(r, "json_bytes", (double)len);
    if (len == 0) {
        judge(r, "no_json", fenced ? "empty code block" : "empty output");
        return 0;
    }
    /* the cheap verdict on most outputs of most apps: prose is not JSON */
    if (!st->allow_scalar && text[0] != '{' && text[0] != '[') {
        judge(r, "invalid_json", "not a JSON object or array (does not start with { or [)");
        return 0;
    }
    json_error_t err;
    json_t *doc =
        json_loadb(text, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &err);
    if (!doc) {
        if (json_error_code(&err) == json_error_out_of_memory)
            return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
        judge(r, "invalid_json", "");
        ph_eval_explain(r, "line %d column %d: %s", err.line, err.column, parse_error(&err));
        return 0;
    }
    if (!st->schema) {
        judge(r, "valid_json", "valid JSON");
    } else {
        vctx v = {.path = "$", .len = 1};
        validate(st->schema, doc, &v);
        ph_eval_append_value(r, "violations", (double)v.violations);
        if (v.violations == 0) {
            judge(r, "valid_json", "valid JSON, conforms to the schema");
        } else {
            judge(r, "schema_violation", v.first);
            if (v.violations > 1) {
                size_t n = strlen(r->explanation);
                snprintf(r->explanation + n, sizeof(r->explanation) - n, " (%s%zu violations)",
                         v.violations >= MAX_VIOLATIONS ? ">=" : "", v.violations);
            }
        }
    }
    json_decref(doc);
    return 0;
}

const ph_evaluator_kind ph_eval_kind_json = {
    .name = "json",
    .code_version = "1",
    .summary = "whether the output (or its ```json block) is valid JSON and conforms to a JSON "
               "Schema subset",
    .create = js_create,
    .destroy = js_destroy,
    .evaluate = js_evaluate,
    .opt_in = true, /* most apps answer in prose: "not JSON" is only a failure where JSON is due */
};
