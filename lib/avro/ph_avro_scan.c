/* Checks an Avro binary body against its writer schema before avro-c reads it.
 *
 * Why: avro-c trusts lengths and counts. A garbage string length makes it allocate that much
 * before noticing the input is short (and ASan aborts on absurd sizes), a huge block count of
 * zero-sized items makes it loop for ages, deep nesting recurses without bound, and it cannot
 * tell trailing bytes from a correct end. Walking the bytes once with the schema is cheap (no
 * allocation, no copy) and lets us promise that avro_value_read() on an accepted body succeeds
 * and consumes exactly len bytes. The rules are those of the specification's binary encoding,
 * with avro-c's own limits (5-byte ints, 10-byte longs). */
#include "ph_avro_internal.h"

#include "ph_error.h"

#include <string.h>

/* Far beyond any Pharos schema, low enough to keep avro-c's recursion off the end of the stack. */
#define SCAN_MAX_DEPTH 64
/* Items of zero encoded size (null, empty records) cost no input, so their number is capped. */
#define SCAN_FREE_ITEMS 65536

struct scan {
    const unsigned char *p, *end, *start;
    size_t items; /* array/map items still allowed */
    int depth;
    char *errstr;
    size_t errstr_size;
};

static int truncated(struct scan *s)
{
    return ph_err(s->errstr, s->errstr_size, PH_EINVAL, "truncated body (at byte %zu of %zu)",
                  (size_t)(s->p - s->start), (size_t)(s->end - s->start));
}

static int bad(struct scan *s, const char *what)
{
    return ph_err(s->errstr, s->errstr_size, PH_EINVAL, "malformed body at byte %zu: %s",
                  (size_t)(s->p - s->start), what);
}

/* A zig-zag varint of at most max_bytes bytes. */
static int scan_varint(struct scan *s, int max_bytes, int64_t *out)
{
    uint64_t v = 0;
    for (int i = 0;; i++) {
        if (i == max_bytes)
            return bad(s, "varint too long");
        if (s->p == s->end)
            return truncated(s);
        unsigned char b = *s->p++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80))
            break;
    }
    *out = (int64_t)((v >> 1) ^ (0 - (v & 1)));
    return 0;
}

static int scan_long(struct scan *s, int64_t *out)
{
    return scan_varint(s, 10, out);
}

static int scan_int(struct scan *s, int64_t *out)
{
    int rc = scan_varint(s, 5, out);
    if (rc == 0 && (*out < INT32_MIN || *out > INT32_MAX))
        return bad(s, "int out of range");
    return rc;
}

static int skip(struct scan *s, size_t n)
{
    if ((size_t)(s->end - s->p) < n)
        return truncated(s);
    s->p += n;
    return 0;
}

/* bytes or string: a length, then that many bytes. */
static int scan_bytes(struct scan *s)
{
    int64_t n = 0;
    int rc = scan_long(s, &n);
    if (rc != 0)
        return rc;
    if (n < 0)
        return bad(s, "negative length");
    return skip(s, (size_t)n);
}

static int scan_value(struct scan *s, avro_schema_t schema);

/* Arrays and maps: blocks of items, a negative count announcing the block's byte size, 0 ending. */
static int scan_blocks(struct scan *s, avro_schema_t item, bool map)
{
    for (;;) {
        int64_t count, size;
        int rc = scan_long(s, &count);
        if (rc != 0)
            return rc;
        if (count == 0)
            return 0;
        if (count < 0) {
            if (count == INT64_MIN)
                return bad(s, "bad block count");
            count = -count;
            if ((rc = scan_long(s, &size)) != 0)
                return rc;
            if (size < 0)
                return bad(s, "negative block size");
        }
        if ((uint64_t)count > s->items)
            return bad(s, "more items than the input can hold");
        s->items -= (size_t)count;
        for (int64_t i = 0; i < count; i++) {
            if (map && (rc = scan_bytes(s)) != 0)
                return rc;
            if ((rc = scan_value(s, item)) != 0)
                return rc;
        }
    }
}

static int scan_value(struct scan *s, avro_schema_t schema)
{
    int64_t v;
    int rc = 0;

    schema = ph_avro_unlink(schema);
    if (++s->depth > SCAN_MAX_DEPTH) {
        rc = bad(s, "nested too deeply");
        goto out;
    }
    switch (avro_typeof(schema)) {
    case AVRO_NULL:
        break;
    case AVRO_BOOLEAN:
        if (s->p == s->end)
            rc = truncated(s);
        else if (*s->p > 1)
            rc = bad(s, "boolean is neither 0 nor 1");
        else
            s->p++;
        break;
    case AVRO_INT32:
        rc = scan_int(s, &v);
        break;
    case AVRO_INT64:
        rc = scan_long(s, &v);
        break;
    case AVRO_FLOAT:
        rc = skip(s, 4);
        break;
    case AVRO_DOUBLE:
        rc = skip(s, 8);
        break;
    case AVRO_BYTES:
    case AVRO_STRING:
        rc = scan_bytes(s);
        break;
    case AVRO_FIXED:
        rc = skip(s, (size_t)avro_schema_fixed_size(schema));
        break;
    case AVRO_ENUM:
        if ((rc = scan_int(s, &v)) == 0 &&
            (v < 0 || v >= avro_schema_enum_number_of_symbols(schema)))
            rc = bad(s, "enum index out of range");
        break;
    case AVRO_UNION:
        if ((rc = scan_long(s, &v)) != 0)
            break;
        if (v < 0 || (size_t)v >= avro_schema_union_size(schema))
            rc = bad(s, "union branch out of range");
        else
            rc = scan_value(s, avro_schema_union_branch(schema, (int)v));
        break;
    case AVRO_ARRAY:
        rc = scan_blocks(s, avro_schema_array_items(schema), false);
        break;
    case AVRO_MAP:
        rc = scan_blocks(s, avro_schema_map_values(schema), true);
        break;
    case AVRO_RECORD: {
        size_t n = avro_schema_record_size(schema);
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = scan_value(s, avro_schema_record_field_get_by_index(schema, (int)i));
        break;
    }
    default:
        rc = bad(s, "unsupported schema type");
        break;
    }
out:
    s->depth--;
    return rc;
}

int ph_avro_scan(avro_schema_t schema, const void *buf, size_t len, char *errstr,
                 size_t errstr_size)
{
    struct scan s = {
        .p = buf,
        .end = (const unsigned char *)buf + len,
        .start = buf,
        .items = len + SCAN_FREE_ITEMS,
        .errstr = errstr,
        .errstr_size = errstr_size,
    };
    int rc = scan_value(&s, schema);
    if (rc != 0)
        return rc;
    if (s.p != s.end)
        return ph_err(errstr, errstr_size, PH_EINVAL, "trailing bytes (%zu after the body)",
                      (size_t)(s.end - s.p));
    return 0;
}
