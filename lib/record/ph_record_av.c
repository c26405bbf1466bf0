/* Thin helpers over avro-c's value API. They record the first failure in the rule context and
 * turn later calls on a failed value into no-ops, so the mapping code reads straight through. */
#include "ph_record_int.h"

#include "ph_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool ok(ph_rctx *c, int rc, avro_value_t *v)
{
    if (rc == 0)
        return true;
    if (!c->err)
        c->err = rc == ENOMEM ? PH_ENOMEM : PH_EAVRO;
    if (v)
        v->iface = NULL;
    return false;
}

static bool usable(const avro_value_t *v)
{
    return v && v->iface;
}

bool ph_av_get(ph_rctx *c, avro_value_t *rec, const char *name, avro_value_t *out)
{
    if (!usable(rec)) {
        out->iface = NULL;
        return false;
    }
    return ok(c, avro_value_get_by_name(rec, name, out, NULL), out);
}

void ph_av_null(ph_rctx *c, avro_value_t *v)
{
    avro_value_t b;
    if (usable(v) && ok(c, avro_value_set_branch(v, 0, &b), &b))
        ok(c, avro_value_set_null(&b), NULL);
}

void ph_av_str(ph_rctx *c, avro_value_t *v, const char *s, size_t len)
{
    /* avro-c string sizes count the terminating NUL, which s has at len. */
    if (usable(v))
        ok(c, avro_value_set_string_len(v, s, len + 1), NULL);
}

static bool branch1(ph_rctx *c, avro_value_t *v, avro_value_t *b)
{
    return usable(v) && ok(c, avro_value_set_branch(v, 1, b), b);
}

void ph_av_opt_str(ph_rctx *c, avro_value_t *v, const char *s, size_t len)
{
    avro_value_t b;
    if (branch1(c, v, &b))
        ph_av_str(c, &b, s, len);
}

void ph_av_opt_int(ph_rctx *c, avro_value_t *v, int32_t x)
{
    avro_value_t b;
    if (branch1(c, v, &b))
        ok(c, avro_value_set_int(&b, x), NULL);
}

void ph_av_opt_long(ph_rctx *c, avro_value_t *v, int64_t x)
{
    avro_value_t b;
    if (branch1(c, v, &b))
        ok(c, avro_value_set_long(&b, x), NULL);
}

void ph_av_opt_double(ph_rctx *c, avro_value_t *v, double x)
{
    avro_value_t b;
    if (branch1(c, v, &b))
        ok(c, avro_value_set_double(&b, x), NULL);
}

void ph_av_opt_bool(ph_rctx *c, avro_value_t *v, bool x)
{
    avro_value_t b;
    if (branch1(c, v, &b))
        ok(c, avro_value_set_boolean(&b, x), NULL);
}

void ph_av_long(ph_rctx *c, avro_value_t *v, int64_t x)
{
    if (usable(v))
        ok(c, avro_value_set_long(v, x), NULL);
}

void ph_av_enum(ph_rctx *c, avro_value_t *v, int x)
{
    if (usable(v))
        ok(c, avro_value_set_enum(v, x), NULL);
}

bool ph_av_append(ph_rctx *c, avro_value_t *array, avro_value_t *elem)
{
    if (!usable(array)) {
        elem->iface = NULL;
        return false;
    }
    return ok(c, avro_value_append(array, elem, NULL), elem);
}

bool ph_av_add(ph_rctx *c, avro_value_t *map, const char *key, avro_value_t *elem)
{
    if (!usable(map)) {
        elem->iface = NULL;
        return false;
    }
    return ok(c, avro_value_add(map, key, elem, NULL, NULL), elem);
}

void ph_av_null_unions(ph_rctx *c, avro_value_t *rec)
{
    size_t n = 0;
    if (!usable(rec) || !ok(c, avro_value_get_size(rec, &n), NULL))
        return;
    for (size_t i = 0; i < n; i++) {
        avro_value_t f, b;
        if (!ok(c, avro_value_get_by_index(rec, i, &f, NULL), &f))
            return;
        if (avro_value_get_type(&f) != AVRO_UNION)
            continue;
        if (!ok(c, avro_value_set_branch(&f, 0, &b), &b))
            return;
        if (avro_value_get_type(&b) == AVRO_NULL)
            ok(c, avro_value_set_null(&b), NULL);
    }
}

bool ph_av_branch(ph_rctx *c, avro_value_t *u, avro_value_t *branch)
{
    int disc = -1;
    if (!usable(u) || avro_value_get_discriminant(u, &disc) || disc < 0)
        return false;
    if (!ok(c, avro_value_get_current_branch(u, branch), branch))
        return false;
    return avro_value_get_type(branch) != AVRO_NULL;
}

bool ph_av_get_str(ph_rctx *c, avro_value_t *v, const char **s, size_t *len)
{
    const char *p = NULL;
    size_t size = 0;
    *s = "";
    *len = 0;
    if (!usable(v) || !ok(c, avro_value_get_string(v, &p, &size), NULL))
        return false;
    if (p && size > 0) {
        *s = p;
        *len = size - 1;
    }
    return true;
}

void ph_meta_put(ph_rctx *c, avro_value_t *map, const char *prefix, const char *key, size_t key_len,
                 const char *val, size_t val_len, int flags)
{
    char field[PH_QUOTE_BYTES * 2 + 16], q[PH_QUOTE_BYTES + 4];
    const char *k, *v;
    size_t klen, vlen;
    bool key_ok = !(flags & PH_TEXT_UTF8) || ph_utf8_valid(key, key_len);
    snprintf(field, sizeof(field), "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
             key_ok ? ph_quote(q, key, key_len) : "(invalid key)");
    /* Map keys are C strings: the key needs its own copy if the check repairs it, because the
     * value check below reuses c->fix. */
    char *kcopy = NULL;
    if (ph_text_check(c, key, key_len, field, flags, &k, &klen)) {
        kcopy = strndup(k, klen);
        if (!kcopy) {
            c->err = PH_ENOMEM;
            return;
        }
        k = kcopy;
    }
    avro_value_t e;
    ph_text_check(c, val, val_len, field, flags, &v, &vlen);
    if (ph_av_add(c, map, k, &e))
        ph_av_str(c, &e, v, vlen);
    free(kcopy);
}

/* Stores text that should be valid UTF-8 already (our own messages quote only repaired
 * values), repairing it if a caller added an issue that is not. */
static void put_utf8(ph_rctx *c, avro_value_t *f, bool optional, const char *s)
{
    ph_buf b = {0};
    size_t len = strlen(s);
    if (!ph_utf8_valid(s, len)) {
        if (ph_utf8_repair(&b, s, len)) {
            c->err = PH_ENOMEM;
            ph_buf_free(&b);
            return;
        }
        s = b.p;
        len = b.len;
    }
    if (optional)
        ph_av_opt_str(c, f, s, len);
    else
        ph_av_str(c, f, s, len);
    ph_buf_free(&b);
}

static void issue_record(ph_rctx *c, avro_value_t *rec, const ph_issue *is)
{
    avro_value_t f;
    ph_av_get(c, rec, "code", &f);
    put_utf8(c, &f, false, is->code ? is->code : "");
    ph_av_get(c, rec, "field", &f);
    if (is->field)
        put_utf8(c, &f, true, is->field);
    else
        ph_av_null(c, &f);
    ph_av_get(c, rec, "message", &f);
    put_utf8(c, &f, false, is->message ? is->message : "");
}

void ph_av_issue_array(ph_rctx *c, avro_value_t *array, const ph_issues *list, size_t from)
{
    if (!list)
        return;
    for (size_t i = from; i < list->n; i++) {
        avro_value_t e;
        if (ph_av_append(c, array, &e))
            issue_record(c, &e, &list->v[i]);
    }
}

void ph_av_quality(ph_rctx *c, avro_value_t *llmlog)
{
    avro_value_t q;
    if (ph_av_get(c, llmlog, "quality_warnings", &q)) {
        ok(c, avro_value_reset(&q), &q);
        ph_av_issue_array(c, &q, c->warnings, c->warnings0);
    }
}
