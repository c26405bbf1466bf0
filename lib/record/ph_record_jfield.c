/* Readers of single JSON fields into Avro fields, shared by the log and the feedback mapping.
 * Each applies the type rules of docs/validation.md and reports what it drops. */
#include "ph_record_int.h"

#include "ph_error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool ph_jv_int(const ph_jv *v, int64_t *out)
{
    if (ph_jv_is(v, PH_JV_INT)) {
        *out = v->u.i;
        return true;
    }
    if (ph_jv_is(v, PH_JV_REAL)) {
        double d = v->u.d;
        /* 2^63 is exactly representable; anything at or above it does not fit. */
        if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
            *out = (int64_t)d;
            return true;
        }
    }
    return false;
}

bool ph_j_id(ph_rctx *c, const ph_jv *v, const char *key, avro_value_t *field, int natural)
{
    if (ph_jv_is_string(v)) {
        const char *s;
        size_t len;
        if (v->n == 0) {
            ph_report(c, PH_R_EMPTY_FIELD, natural, key, "empty string: ignored");
            return false;
        }
        ph_text_check(c, v->u.s, v->n, key, 0, &s, &len);
        if (len == 0) { /* it held only NUL characters */
            ph_report(c, PH_R_EMPTY_FIELD, natural, key, "empty after repair: ignored");
            return false;
        }
        ph_av_opt_str(c, field, s, len);
        return true;
    }
    if (ph_jv_is(v, PH_JV_INT)) {
        /* Numeric ids are common (database keys); their decimal text is the same id. */
        char num[32];
        const char *s;
        size_t len;
        int n = snprintf(num, sizeof(num), "%lld", (long long)v->u.i);
        ph_text_check(c, num, (size_t)n, key, 0, &s, &len); /* a tiny max_field_bytes */
        ph_av_opt_str(c, field, s, len);
        return true;
    }
    ph_report(c, PH_R_WRONG_TYPE, natural, key, "%s, not a string: ignored", ph_jv_type_name(v));
    return false;
}

bool ph_j_text(ph_rctx *c, const ph_jv *v, const char *key, avro_value_t *field)
{
    if (!ph_jv_is_string(v)) {
        ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, key, "%s, not a string: dropped",
                  ph_jv_type_name(v));
        return false;
    }
    const char *s;
    size_t len;
    ph_text_check(c, v->u.s, v->n, key, 0, &s, &len);
    if (len == 0) {
        ph_report(c, PH_R_EMPTY_FIELD, PH_SEV_WARN, key, "empty string: dropped");
        return false;
    }
    ph_av_opt_str(c, field, s, len);
    return true;
}

bool ph_j_time(ph_rctx *c, const ph_jv *v, const char *key, int64_t *ms)
{
    int64_t t;
    if (ph_jv_is(v, PH_JV_INT))
        t = v->u.i;
    else if (ph_jv_is(v, PH_JV_REAL)) {
        double d = floor(v->u.d);
        if (!(d >= -9.2e18 && d <= 9.2e18)) {
            ph_report(c, PH_R_IMPOSSIBLE_VALUE, PH_SEV_WARN, key,
                      "time %g is out of range: dropped", v->u.d);
            return false;
        }
        t = (int64_t)d;
    } else if (ph_jv_is_string(v)) {
        bool no_offset = false;
        char q[PH_QUOTE_BYTES + 4];
        const char *s = v->u.s;
        size_t len = v->n;
        if (!ph_time_parse(s, len, &t, &no_offset)) {
            ph_report(c, PH_R_BAD_TIMESTAMP, PH_SEV_WARN, key,
                      "\"%s\" is neither an RFC 3339 time nor epoch milliseconds: dropped",
                      ph_quote(q, s, len));
            return false;
        }
        if (no_offset)
            ph_report(c, PH_R_TIMESTAMP_NO_OFFSET, PH_SEV_WARN, key,
                      "\"%s\" has no Z or UTC offset: read as UTC", ph_quote(q, s, len));
        if (!ph_check_time(c, t, false, key))
            return false;
        *ms = t;
        return true;
    } else {
        ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, key,
                  "%s, not an RFC 3339 string or epoch milliseconds: dropped", ph_jv_type_name(v));
        return false;
    }
    if (!ph_check_time(c, t, true, key))
        return false;
    *ms = t;
    return true;
}

/* The shortest text that reads back as the same double, in jansson's style (always with a '.'
 * or an exponent, so that it still reads as a real). */
static void real_text(double d, char *buf, size_t size)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    if (!strpbrk(buf, ".eEn")) /* "n": inf and nan cannot come from JSON, but stay as they are */
        strncat(buf, ".0", size - strlen(buf) - 1);
}

void ph_j_meta_value(ph_rctx *c, avro_value_t *map, const char *prefix, const char *key,
                     size_t key_len, const ph_jv *v, bool if_absent)
{
    if (!v || v->type == PH_JV_NULL)
        return;
    if (if_absent && map->iface && !memchr(key, '\0', key_len)) {
        avro_value_t old;
        if (avro_value_get_by_name(map, key, &old, NULL) == 0) {
            char q[PH_QUOTE_BYTES + 4];
            ph_quote(q, key, key_len);
            ph_report(c, PH_R_CONFLICTING_ALIAS, PH_SEV_WARN, q,
                      "metadata already holds \"%s\": this value is ignored", q);
            return;
        }
    }
    char num[40];
    switch (v->type) {
    case PH_JV_STRING:
        ph_meta_put(c, map, prefix, key, key_len, v->u.s, v->n, 0);
        return;
    case PH_JV_REAL:
        real_text(v->u.d, num, sizeof(num));
        ph_meta_put(c, map, prefix, key, key_len, num, strlen(num), 0);
        return;
    case PH_JV_INT:
        snprintf(num, sizeof(num), "%lld", (long long)v->u.i);
        ph_meta_put(c, map, prefix, key, key_len, num, strlen(num), 0);
        return;
    case PH_JV_TRUE:
    case PH_JV_FALSE:
        ph_meta_put(c, map, prefix, key, key_len, v->type == PH_JV_TRUE ? "true" : "false",
                    v->type == PH_JV_TRUE ? 4 : 5, 0);
        return;
    default:
        break;
    }
    /* Objects and arrays as jansson printed them: reals with 15 significant digits, so that 0.7
     * stays "0.7" rather than "0.69999999999999996". */
    char *text = ph_jv_dump(v);
    if (!text) {
        c->err = PH_ENOMEM;
        return;
    }
    ph_meta_put(c, map, prefix, key, key_len, text, strlen(text), 0);
    free(text);
}

void ph_j_metadata(ph_rctx *c, const ph_jv *obj, const char *key, avro_value_t *map)
{
    if (!ph_jv_is_object(obj)) {
        ph_report(c, PH_R_WRONG_TYPE, PH_SEV_WARN, key, "%s, not an object: dropped",
                  ph_jv_type_name(obj));
        return;
    }
    for (size_t i = 0; i < obj->n; i++) {
        const ph_jmember *m = &obj->u.members[i];
        ph_j_meta_value(c, map, key, m->key, m->klen, &m->v, false);
    }
}
