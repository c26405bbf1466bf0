/* The JSON document of one log record: a read-only tree of values that yajl's event parser
 * builds into one arena (ph_record_jdoc.c), and the few operations the mapping needs on it
 * (ph_record_jvalue.c).
 *
 * Why not jansson's tree, or yajl_tree: jansson's parser took ~90% of ph_record_from_json and
 * yajl_tree mallocs every node and cuts strings at an embedded NUL. An arena tree built from
 * yajl's callbacks is several times faster, keeps string lengths (so U+0000 is seen), and lets
 * the builder apply the checks jansson used to make and yajl does not (duplicate keys, strict
 * UTF-8, lone surrogates, NUL in keys, integer and real overflow, nesting depth), so that
 * every record is judged as before (one fault of jansson aside, see ph_record_jdoc.c). yajl
 * does all the tokenizing and syntax checks; test_jdoc.c holds the parser to jansson.
 *
 * Nothing here is part of the public API. A document belongs to one thread. */
#ifndef PH_RECORD_JDOC_H
#define PH_RECORD_JDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

/* Value types. An integer is a JSON number without '.', 'e' or 'E' (as jansson reads it). */
enum {
    PH_JV_NULL,
    PH_JV_FALSE,
    PH_JV_TRUE,
    PH_JV_INT,
    PH_JV_REAL,
    PH_JV_STRING,
    PH_JV_ARRAY,
    PH_JV_OBJECT
};

typedef struct ph_jv ph_jv;
typedef struct ph_jmember ph_jmember;

struct ph_jv {
    int type;
    size_t n; /* string bytes (without the terminating NUL), array items, object members */
    union {
        int64_t i;
        double d;
        const char *s; /* NUL-terminated at n; may hold NUL characters before */
        const ph_jv *items;
        const ph_jmember *members; /* in input order; keys unique (the last value kept) */
    } u;
};

struct ph_jmember {
    const char *key; /* NUL-terminated at klen, never holds a NUL */
    size_t klen;
    ph_jv v;
};

/* ---- values (ph_record_jvalue.c) --------------------------------------------------------- */
/* Every accessor accepts NULL (a missing value) and answers as for a value of another type,
 * like jansson's: ph_jv_get(NULL, k) is NULL, ph_jv_str of a non-string is NULL. */

static inline bool ph_jv_is(const ph_jv *v, int type)
{
    return v && v->type == type;
}
static inline bool ph_jv_is_null(const ph_jv *v)
{
    return ph_jv_is(v, PH_JV_NULL);
}
static inline bool ph_jv_is_string(const ph_jv *v)
{
    return ph_jv_is(v, PH_JV_STRING);
}
static inline bool ph_jv_is_array(const ph_jv *v)
{
    return ph_jv_is(v, PH_JV_ARRAY);
}
static inline bool ph_jv_is_object(const ph_jv *v)
{
    return ph_jv_is(v, PH_JV_OBJECT);
}
static inline bool ph_jv_is_number(const ph_jv *v)
{
    return v && (v->type == PH_JV_INT || v->type == PH_JV_REAL);
}
static inline bool ph_jv_is_bool(const ph_jv *v)
{
    return v && (v->type == PH_JV_TRUE || v->type == PH_JV_FALSE);
}
/* The bytes of a string, or NULL. */
static inline const char *ph_jv_str(const ph_jv *v)
{
    return ph_jv_is_string(v) ? v->u.s : NULL;
}
/* Items of an array, members of an object, bytes of a string; 0 for anything else. */
static inline size_t ph_jv_size(const ph_jv *v)
{
    return v && (v->type == PH_JV_STRING || v->type == PH_JV_ARRAY || v->type == PH_JV_OBJECT)
               ? v->n
               : 0;
}
/* Item i of an array, or NULL. */
static inline const ph_jv *ph_jv_item(const ph_jv *v, size_t i)
{
    return ph_jv_is_array(v) && i < v->n ? &v->u.items[i] : NULL;
}
/* A number as a double (integers converted), 0 for anything else. */
static inline double ph_jv_number(const ph_jv *v)
{
    return ph_jv_is(v, PH_JV_INT) ? (double)v->u.i : ph_jv_is(v, PH_JV_REAL) ? v->u.d : 0;
}

/* The member `key` (klen bytes) of an object, or NULL. Linear: objects are small, and each is
 * asked for a bounded number of keys. */
const ph_jv *ph_jv_getn(const ph_jv *obj, const char *key, size_t klen);

/* The same for a NUL-terminated key (inline, so that the length of a literal is folded). */
static inline const ph_jv *ph_jv_get(const ph_jv *obj, const char *key)
{
    return ph_jv_getn(obj, key, strlen(key));
}

/* Deep equality with jansson's json_equal rules: same type (an integer never equals a real),
 * strings byte for byte, objects regardless of member order. */
bool ph_jv_equal(const ph_jv *a, const ph_jv *b);

/* "an object", "an array", "a string", "an integer", "a real number", "a boolean", "null". */
const char *ph_jv_type_name(const ph_jv *v);

/* The compact JSON text of a value as jansson prints it (JSON_COMPACT | JSON_ENCODE_ANY, reals
 * with 15 significant digits), malloc'd; NULL when out of memory. */
char *ph_jv_dump(const ph_jv *v);

/* ---- documents (ph_record_jdoc.c) -------------------------------------------------------- */

typedef struct ph_jchunk ph_jchunk;

/* The arena and the parser's scratch space. Zero-initialised (or ph_jdoc_init) is empty. */
typedef struct ph_jdoc {
    ph_jchunk *chunks;
    size_t first_chunk;          /* size of the first chunk (0: 4096) */
    struct ph_jpending *pending; /* members of the open containers */
    size_t npending, cap_pending;
    struct ph_jframe *frames; /* the open containers */
    size_t nframes, cap_frames;
    char *scratch; /* number text and sort indexes */
    size_t cap_scratch;
} ph_jdoc;

void ph_jdoc_init(ph_jdoc *d);

/* Frees everything the document holds; every value taken from it is gone. */
void ph_jdoc_free(ph_jdoc *d);

/* What stopped a parse, or what it noticed. */
enum {
    PH_JPARSE_OK = 0,
    PH_JPARSE_SYNTAX,    /* not one JSON document we can read (invalid_json) */
    PH_JPARSE_UTF8,      /* bytes that are not UTF-8 (invalid_utf8) */
    PH_JPARSE_DUPLICATE, /* an object holds a key twice (duplicate_key) */
    PH_JPARSE_NOMEM
};

typedef struct ph_jproblem {
    int code;      /* PH_JPARSE_* */
    size_t offset; /* input bytes read when it showed (the offending byte is the last of them) */
    int line;      /* 1-based line and character column of offset */
    int column;
    char text[160]; /* the reason, valid UTF-8 */
} ph_jproblem;

/* Parses buf[0..len) (need not be NUL-terminated) into a tree in d's arena (reset first) and
 * sets *root. The input must be exactly one JSON value (any type) in strict UTF-8 (RFC 3629);
 * the first problem in reading order stops the parse, as jansson's did, and is described in
 * *problem (see PH_JPARSE_*).
 *
 * A duplicate key is such a problem unless dups_ok; then the last value wins and the first
 * duplicate is described in *dup (dup->code PH_JPARSE_DUPLICATE) as long as it came before any
 * stopping problem; dup->code is PH_JPARSE_OK otherwise.
 *
 * Returns PH_JPARSE_OK with *root set, or the code of *problem. */
int ph_jdoc_parse(ph_jdoc *d, const char *buf, size_t len, bool dups_ok, const ph_jv **root,
                  ph_jproblem *problem, ph_jproblem *dup);

/* Memory from d's arena, 16-byte aligned, freed with the document; and a NUL-terminated copy of
 * s[0..n) there. NULL when out of memory. */
void *ph_jdoc_alloc(ph_jdoc *d, size_t n);
char *ph_jdoc_str(ph_jdoc *d, const void *s, size_t n);

/* Copies a jansson value into d's arena (for the feedback path, which receives jansson trees).
 * Returns the copy, or NULL when out of memory or when v is NULL. (ph_record_jvalue.c) */
const ph_jv *ph_jdoc_from_jansson(ph_jdoc *d, const json_t *v);

#endif
