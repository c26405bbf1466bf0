#include "body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"

static int fail(ph_body_error *err, int status, int line, int column, const char *fmt,
                const char *detail)
{
    err->status = status;
    err->line = line;
    err->column = column;
    snprintf(err->message, sizeof(err->message), fmt, detail);
    return PH_EINVAL;
}

static int push(ph_body *b, size_t *cap, json_t *obj, const char *raw, size_t rawlen, int line)
{
    if (b->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        ph_body_item *items = realloc(b->items, ncap * sizeof(*items));
        if (!items)
            return PH_ENOMEM;
        b->items = items;
        *cap = ncap;
    }
    b->items[b->n++] = (ph_body_item){obj, raw, rawlen, line};
    return PH_OK;
}

static size_t skip_ws(const char *s, size_t i, size_t len)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    return i;
}

/* Flags for every parse: duplicate keys are an error, NUL bytes inside strings are refused by
 * jansson anyway unless allowed (they are not). */
#define PARSE_FLAGS (JSON_REJECT_DUPLICATES)

static int parse_array(const char *body, size_t len, size_t max_record, ph_body *out,
                       ph_body_error *err)
{
    json_error_t jerr;
    size_t cap = 0;
    json_t *arr = json_loadb(body, len, PARSE_FLAGS, &jerr);
    if (!arr)
        return fail(err, 400, jerr.line, jerr.column, "invalid JSON array: %s", jerr.text);
    size_t n = json_array_size(arr);
    if (n == 0) {
        json_decref(arr);
        return fail(err, 400, 0, 0, "%s", "empty array: no records");
    }
    out->owned = calloc(n, sizeof(char *));
    if (!out->owned) {
        json_decref(arr);
        return fail(err, 400, 0, 0, "%s", "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        json_t *obj = json_array_get(arr, i);
        if (!json_is_object(obj)) {
            json_decref(arr);
            return fail(err, 400, (int)i + 1, 0, "%s", "array item is not a JSON object");
        }
        /* The Kafka value is the item's own JSON text, compact and in its key order. */
        char *raw = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!raw) {
            json_decref(arr);
            return fail(err, 400, (int)i + 1, 0, "%s", "cannot serialise item");
        }
        out->owned[out->nowned++] = raw;
        size_t rawlen = strlen(raw);
        if (rawlen > max_record) {
            json_decref(arr);
            return fail(err, 413, (int)i + 1, 0, "record larger than %s bytes", "max_record_bytes");
        }
        if (push(out, &cap, json_incref(obj), raw, rawlen, (int)i + 1)) {
            json_decref(obj);
            json_decref(arr);
            return fail(err, 400, 0, 0, "%s", "out of memory");
        }
    }
    json_decref(arr);
    return PH_OK;
}

static int parse_lines(const char *body, size_t len, size_t max_record, ph_body *out,
                       ph_body_error *err)
{
    json_error_t jerr;
    size_t cap = 0;
    int line = 0;
    size_t i = 0;
    while (i < len) {
        line++;
        const char *nl = memchr(body + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - body) : len;
        size_t a = skip_ws(body, i, end);
        size_t b = end;
        while (b > a && (body[b - 1] == ' ' || body[b - 1] == '\t' || body[b - 1] == '\r'))
            b--;
        if (b > a) {
            if (b - a > max_record)
                return fail(err, 413, line, 0, "record larger than %s bytes", "max_record_bytes");
            json_t *obj = json_loadb(body + a, b - a, PARSE_FLAGS, &jerr);
            if (!obj)
                return fail(err, 400, line, jerr.column, "invalid JSON: %s", jerr.text);
            if (!json_is_object(obj)) {
                json_decref(obj);
                return fail(err, 400, line, 1, "%s", "line is not a JSON object");
            }
            if (push(out, &cap, obj, body + a, b - a, line)) {
                json_decref(obj);
                return fail(err, 400, 0, 0, "%s", "out of memory");
            }
        }
        i = end + 1;
    }
    if (out->n == 0)
        return fail(err, 400, 0, 0, "%s", "empty body: no records");
    return PH_OK;
}

int ph_body_parse(const char *body, size_t len, size_t max_record_bytes, ph_body *out,
                  ph_body_error *err)
{
    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    size_t start = skip_ws(body, 0, len);
    int rc;
    if (start == len) {
        rc = fail(err, 400, 0, 0, "%s", "empty body: send a JSON object, array or NDJSON");
    } else if (body[start] == '[') {
        rc = parse_array(body, len, max_record_bytes, out, err);
    } else {
        /* One object, possibly pretty-printed over many lines; else NDJSON. */
        json_error_t jerr;
        json_t *obj = NULL;
        if (len - start <= max_record_bytes)
            obj = json_loadb(body + start, len - start, PARSE_FLAGS, &jerr);
        if (obj && json_is_object(obj)) {
            size_t end = len;
            while (end > start && strchr(" \t\r\n", body[end - 1]))
                end--;
            size_t cap = 0;
            rc = push(out, &cap, obj, body + start, end - start, 1);
            if (rc) {
                json_decref(obj);
                rc = fail(err, 400, 0, 0, "%s", "out of memory");
            }
        } else {
            json_decref(obj);
            rc = parse_lines(body, len, max_record_bytes, out, err);
        }
    }
    if (rc)
        ph_body_free(out);
    return rc;
}

void ph_body_free(ph_body *b)
{
    for (size_t i = 0; i < b->n; i++)
        json_decref(b->items[i].obj);
    free(b->items);
    for (size_t i = 0; i < b->nowned; i++)
        free(b->owned[i]);
    free(b->owned);
    memset(b, 0, sizeof(*b));
}
