#include "ph_body.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "ph_error.h"

/* ---- one record: yajl events, depth tracking, the top-level fields we need ------------------ */

enum want { WANT_NONE, WANT_SESSION, WANT_TRACE, WANT_RECORD_ID, WANT_ID, WANT_FEEDBACK_ID };

typedef struct scan {
    int depth;
    bool root_is_object;
    bool started;
    enum want pending; /* the top-level key whose value is next */
    ph_body_item *item;
    char *trace; /* trace_id, used as key only without session_id */
    char *plain_id;
    bool oom;
} scan;

static void take(scan *s, char **dst, const unsigned char *v, size_t len)
{
    if (*dst)
        return; /* first occurrence wins; the validator reports duplicate keys */
    *dst = strndup((const char *)v, len);
    if (!*dst)
        s->oom = true;
}

static int on_string(void *ctx, const unsigned char *v, size_t len)
{
    scan *s = ctx;
    if (s->depth == 1 && len > 0) {
        switch (s->pending) {
        case WANT_SESSION:
            take(s, &s->item->key, v, len);
            break;
        case WANT_TRACE:
            take(s, &s->trace, v, len);
            break;
        case WANT_RECORD_ID:
            take(s, &s->item->id, v, len);
            break;
        case WANT_ID:
            take(s, &s->plain_id, v, len);
            break;
        case WANT_FEEDBACK_ID:
            take(s, &s->item->feedback_id, v, len);
            break;
        case WANT_NONE:
            break;
        }
    }
    s->pending = WANT_NONE;
    return !s->oom;
}

static int on_scalar(void *ctx)
{
    ((scan *)ctx)->pending = WANT_NONE;
    return 1;
}

static int on_bool(void *ctx, int b)
{
    (void)b;
    return on_scalar(ctx);
}

/* Numbers arrive as text, so huge integers are not a parse error (yajl's integer callback
 * fails on overflow); the validator decides what they mean. */
static int on_number(void *ctx, const char *v, size_t len)
{
    (void)v;
    (void)len;
    return on_scalar(ctx);
}

static int on_start(void *ctx, bool map)
{
    scan *s = ctx;
    if (!s->started) {
        s->started = true;
        s->root_is_object = map;
        if (!map)
            return 0; /* not an object: stop here */
    }
    s->pending = WANT_NONE;
    s->depth++;
    return 1;
}

static int on_start_map(void *ctx)
{
    return on_start(ctx, true);
}

static int on_start_array(void *ctx)
{
    return on_start(ctx, false);
}

static int on_end(void *ctx)
{
    ((scan *)ctx)->depth--;
    return 1;
}

static int on_key(void *ctx, const unsigned char *k, size_t len)
{
    scan *s = ctx;
    s->pending = WANT_NONE;
    if (s->depth != 1)
        return 1;
#define KEY(name, w)                                                                               \
    if (len == sizeof(name) - 1 && memcmp(k, name, len) == 0)                                      \
        s->pending = w;
    KEY("session_id", WANT_SESSION)
    KEY("trace_id", WANT_TRACE)
    KEY("record_id", WANT_RECORD_ID)
    KEY("id", WANT_ID)
    KEY("feedback_id", WANT_FEEDBACK_ID)
#undef KEY
    return 1;
}

static const yajl_callbacks callbacks = {
    .yajl_null = on_scalar,
    .yajl_boolean = on_bool,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_key,
    .yajl_end_map = on_end,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end,
};

static int fail(ph_body_error *err, int status, int line, int column, const char *fmt,
                const char *detail)
{
    err->status = status;
    err->line = line;
    err->column = column;
    snprintf(err->message, sizeof(err->message), fmt, detail);
    return PH_EINVAL;
}

/* Checks one record's text and fills item. Returns 0 or fills err. */
static int scan_record(const char *text, size_t len, ph_body_item *item, ph_body_error *err)
{
    scan s = {.item = item};
    yajl_handle h = yajl_alloc(&callbacks, NULL, &s);
    if (!h)
        return fail(err, 400, item->line, 0, "%s", "out of memory");
    yajl_status st = yajl_parse(h, (const unsigned char *)text, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    int rc = PH_OK;
    if (s.oom) {
        rc = fail(err, 400, item->line, 0, "%s", "out of memory");
    } else if (s.started && !s.root_is_object) {
        rc = fail(err, 400, item->line, 1, "%s", "not a JSON object");
    } else if (st != yajl_status_ok) {
        unsigned char *why = yajl_get_error(h, 0, (const unsigned char *)text, len);
        size_t at = yajl_get_bytes_consumed(h);
        char msg[160];
        snprintf(msg, sizeof(msg), "%s", why ? (const char *)why : "parse error");
        msg[strcspn(msg, "\n")] = '\0';
        if (why)
            yajl_free_error(h, why);
        rc = fail(err, 400, item->line, (int)at + 1, "invalid JSON: %s", msg);
    } else if (!s.started) {
        rc = fail(err, 400, item->line, 1, "%s", "not a JSON object");
    }
    yajl_free(h);
    if (rc == PH_OK && !item->key && s.trace) {
        item->key = s.trace;
        s.trace = NULL;
    }
    if (rc == PH_OK && !item->id && s.plain_id) {
        item->id = s.plain_id;
        s.plain_id = NULL;
    }
    free(s.trace);
    free(s.plain_id);
    return rc;
}

/* ---- the body -------------------------------------------------------------------------------- */

static int push(ph_body *b, size_t *cap, const char *raw, size_t rawlen, int line)
{
    if (b->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        ph_body_item *items = realloc(b->items, ncap * sizeof(*items));
        if (!items)
            return PH_ENOMEM;
        b->items = items;
        *cap = ncap;
    }
    b->items[b->n++] = (ph_body_item){.raw = raw, .rawlen = rawlen, .line = line};
    return PH_OK;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int add_record(ph_body *out, size_t *cap, const char *raw, size_t rawlen, int line,
                      size_t max_record, ph_body_error *err)
{
    if (rawlen > max_record)
        return fail(err, 413, line, 0, "record larger than %s bytes", "max_record_bytes");
    if (push(out, cap, raw, rawlen, line))
        return fail(err, 400, line, 0, "%s", "out of memory");
    return scan_record(raw, rawlen, &out->items[out->n - 1], err);
}

/* Splits a JSON array whose syntax yajl has already accepted into its top-level elements. On
 * validated input only strings (with escapes) and nesting matter, so the walk is short. */
static int split_array(const char *body, size_t len, size_t max_record, ph_body *out,
                       ph_body_error *err)
{
    size_t cap = 0;
    size_t i = 0;
    while (i < len && body[i] != '[')
        i++;
    i++;
    int item = 0;
    int rc;
    for (;;) {
        while (i < len && (is_ws(body[i]) || body[i] == ','))
            i++;
        if (i >= len || body[i] == ']')
            break;
        size_t start = i;
        int depth = 0;
        bool in_str = false;
        for (; i < len; i++) {
            char c = body[i];
            if (in_str) {
                if (c == '\\')
                    i++;
                else if (c == '"')
                    in_str = false;
            } else if (c == '"') {
                in_str = true;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (depth == 0)
                    break; /* the array's own ']' after a scalar element */
                if (--depth == 0) {
                    i++;
                    break;
                }
            } else if (depth == 0 && (c == ',' || is_ws(c))) {
                break;
            }
        }
        if ((rc = add_record(out, &cap, body + start, i - start, ++item, max_record, err)))
            return rc;
    }
    if (item == 0)
        return fail(err, 400, 0, 0, "%s", "empty array: no records");
    return PH_OK;
}

static int parse_array(const char *body, size_t len, size_t max_record, ph_body *out,
                       ph_body_error *err)
{
    /* First the syntax of the whole array, with the position of any error. */
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    if (!h)
        return fail(err, 400, 0, 0, "%s", "out of memory");
    yajl_status st = yajl_parse(h, (const unsigned char *)body, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    if (st != yajl_status_ok) {
        unsigned char *why = yajl_get_error(h, 0, (const unsigned char *)body, len);
        size_t at = yajl_get_bytes_consumed(h);
        char msg[160];
        snprintf(msg, sizeof(msg), "%s", why ? (const char *)why : "parse error");
        msg[strcspn(msg, "\n")] = '\0';
        if (why)
            yajl_free_error(h, why);
        yajl_free(h);
        return fail(err, 400, 0, (int)at + 1, "invalid JSON array: %s", msg);
    }
    yajl_free(h);
    return split_array(body, len, max_record, out, err);
}

static int parse_lines(const char *body, size_t len, size_t max_record, ph_body *out,
                       ph_body_error *err)
{
    size_t cap = 0;
    int line = 0;
    size_t i = 0;
    int rc;
    while (i < len) {
        line++;
        const char *nl = memchr(body + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - body) : len;
        size_t a = i, b = end;
        while (a < b && is_ws(body[a]))
            a++;
        while (b > a && is_ws(body[b - 1]))
            b--;
        if (b > a && (rc = add_record(out, &cap, body + a, b - a, line, max_record, err)))
            return rc;
        i = end + 1;
    }
    if (out->n == 0)
        return fail(err, 400, 0, 0, "%s", "empty body: no records");
    return PH_OK;
}

/* True when the body holds exactly one JSON value (an object possibly spread over lines):
 * checked with yajl, which refuses a second value after the first. */
static bool single_value(const char *body, size_t len)
{
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    if (!h)
        return false;
    yajl_status st = yajl_parse(h, (const unsigned char *)body, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    yajl_free(h);
    return st == yajl_status_ok;
}

int ph_body_parse(const char *body, size_t len, size_t max_record_bytes, ph_body *out,
                  ph_body_error *err)
{
    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    size_t start = 0, end = len;
    while (start < end && is_ws(body[start]))
        start++;
    while (end > start && is_ws(body[end - 1]))
        end--;
    int rc;
    if (start == end) {
        rc = fail(err, 400, 0, 0, "%s", "empty body: send a JSON object, array or NDJSON");
    } else if (body[start] == '[') {
        rc = parse_array(body + start, end - start, max_record_bytes, out, err);
    } else if (memchr(body + start, '\n', end - start) && body[start] == '{' &&
               end - start <= max_record_bytes && single_value(body + start, end - start)) {
        /* one pretty-printed object */
        size_t cap = 0;
        rc = add_record(out, &cap, body + start, end - start, 1, max_record_bytes, err);
    } else {
        rc = parse_lines(body, len, max_record_bytes, out, err);
    }
    if (rc)
        ph_body_free(out);
    return rc;
}

void ph_body_free(ph_body *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->items[i].key);
        free(b->items[i].id);
        free(b->items[i].feedback_id);
    }
    free(b->items);
    memset(b, 0, sizeof(*b));
}
