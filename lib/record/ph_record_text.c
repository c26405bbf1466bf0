/* Text, time and number checks shared by the JSON and the Avro path. */
#include "ph_record_int.h"

#include "ph_error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int ph_buf_reserve(ph_buf *b, size_t cap)
{
    if (cap <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < cap)
        ncap *= 2;
    char *p = realloc(b->p, ncap);
    if (!p)
        return PH_ENOMEM;
    b->p = p;
    b->cap = ncap;
    return 0;
}

int ph_buf_append(ph_buf *b, const void *src, size_t n)
{
    if (ph_buf_reserve(b, b->len + n + 1))
        return PH_ENOMEM;
    if (n)
        memcpy(b->p + b->len, src, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

void ph_buf_free(ph_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Length of the valid UTF-8 sequence at s[0..len), or 0 when it is not one. Written out rather
 * than borrowed from jansson, whose validator is private; the record.rules test checks that
 * both accept exactly the same strings. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0xC2)
        return 0; /* continuation byte or overlong 2-byte form */
    else if (c < 0xE0)
        need = 1;
    else if (c < 0xF0) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c < 0xF5) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else
        return 0;
    if (len < need + 1)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i <= need; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return need + 1;
}

size_t ph_utf8_first_invalid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        /* ASCII runs sixteen bytes at a time: most text is ASCII, and this runs over every
         * string of every record. */
        if (len - i >= 16) {
            uint64_t w[2];
            memcpy(w, s + i, 16);
            if (!((w[0] | w[1]) & 0x8080808080808080ULL)) {
                i += 16;
                continue;
            }
        }
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_seq(s + i, len - i);
        if (!n)
            return i;
        i += n;
    }
    return len;
}

bool ph_utf8_valid(const char *str, size_t len)
{
    return ph_utf8_first_invalid(str, len) == len;
}

int ph_utf8_repair(ph_buf *b, const char *str, size_t len)
{
    static const char replacement[] = "\xEF\xBF\xBD";
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run = 0; /* s[run..i) is valid and not yet copied */
    while (i < len) {
        size_t n = s[i] < 0x80 ? 1 : utf8_seq(s + i, len - i);
        if (n) {
            i += n;
            continue;
        }
        if (ph_buf_append(b, s + run, i - run) || ph_buf_append(b, replacement, 3))
            return PH_ENOMEM;
        run = ++i;
    }
    return ph_buf_append(b, s + run, i - run);
}

size_t ph_utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

bool ph_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' && s[i] != '\f' &&
            s[i] != '\v')
            return false;
    return true;
}

const char *ph_quote(char out[PH_QUOTE_BYTES + 4], const char *s, size_t len)
{
    size_t n = ph_utf8_cut(s, len, PH_QUOTE_BYTES);
    memcpy(out, s, n);
    if (n < len) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    /* An embedded NUL simply ends the quote early. */
    return out;
}

/* Appends s[0..n) to buf[0..at) within size (room kept for the NUL), cutting like snprintf. */
static size_t put(char *buf, size_t size, size_t at, const char *s, size_t n)
{
    if (at + 1 >= size)
        return at;
    if (n > size - 1 - at)
        n = size - 1 - at;
    memcpy(buf + at, s, n);
    return at + n;
}

const char *ph_path(char *buf, size_t size, const char *base, const char *name)
{
    size_t at = put(buf, size, 0, base, strlen(base));
    if (name) {
        at = put(buf, size, at, ".", 1);
        at = put(buf, size, at, name, strlen(name));
    }
    buf[at] = '\0';
    return buf;
}

const char *ph_path_index(char *buf, size_t size, const char *base, size_t i)
{
    char num[24];
    size_t n = sizeof(num);
    do
        num[--n] = (char)('0' + i % 10);
    while ((i /= 10) > 0);
    size_t at = put(buf, size, 0, base, strlen(base));
    at = put(buf, size, at, "[", 1);
    at = put(buf, size, at, num + n, sizeof(num) - n);
    at = put(buf, size, at, "]", 1);
    buf[at] = '\0';
    return buf;
}

/* Makes c->fix hold s[0..len) unless it already does. */
static bool to_fix(ph_rctx *c, const char **p, size_t n)
{
    if (*p == c->fix.p)
        return true;
    c->fix.len = 0;
    if (ph_buf_append(&c->fix, *p, n)) {
        c->err = PH_ENOMEM;
        return false;
    }
    *p = c->fix.p;
    return true;
}

bool ph_text_check(ph_rctx *c, const char *s, size_t len, const char *field, int flags,
                   const char **out, size_t *out_len)
{
    const char *p = s;
    size_t n = len;
    if ((flags & PH_TEXT_UTF8) && !ph_utf8_valid(p, n)) {
        ph_report(c, PH_R_INVALID_UTF8, (flags & PH_TEXT_META) ? PH_SEV_WARN : PH_SEV_FATAL, field,
                  "not valid UTF-8 (invalid bytes replaced by U+FFFD)");
        c->fix.len = 0;
        if (ph_utf8_repair(&c->fix, p, n)) {
            c->err = PH_ENOMEM;
            goto out;
        }
        p = c->fix.p;
        n = c->fix.len;
    }
    if (n && memchr(p, '\0', n)) {
        ph_report(c, PH_R_NUL_CHARACTER, PH_SEV_WARN, field, "U+0000 characters removed");
        if (!to_fix(c, &p, n))
            goto out;
        size_t j = 0;
        for (size_t i = 0; i < n; i++)
            if (c->fix.p[i])
                c->fix.p[j++] = c->fix.p[i];
        n = c->fix.len = j;
        c->fix.p[n] = '\0';
    }
    if (n > c->rules->max_field_bytes) {
        size_t cut = ph_utf8_cut(p, n, c->rules->max_field_bytes);
        ph_report(c, PH_R_OVERSIZED_FIELD, PH_SEV_WARN, field,
                  "%zu bytes, cut to %zu (max_field_bytes %zu)", n, cut, c->rules->max_field_bytes);
        if (!to_fix(c, &p, n))
            goto out;
        n = c->fix.len = cut;
        c->fix.p[n] = '\0';
    }
out:
    if (c->err) { /* out of memory: store the text as it came, the call fails anyway */
        p = s;
        n = len;
    }
    *out = p;
    *out_len = n;
    return p != s;
}

/* ---- RFC 3339 ---------------------------------------------------------------------------- */

static bool digits(const char *s, size_t len, size_t *i, int k, int *v)
{
    if (*i + (size_t)k > len)
        return false;
    int x = 0;
    for (int j = 0; j < k; j++) {
        char ch = s[*i + (size_t)j];
        if (ch < '0' || ch > '9')
            return false;
        x = x * 10 + (ch - '0');
    }
    *i += (size_t)k;
    *v = x;
    return true;
}

static bool expect(const char *s, size_t len, size_t *i, const char *set)
{
    if (*i < len && s[*i] && strchr(set, s[*i])) {
        (*i)++;
        return true;
    }
    return false;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (the civil-from-days inverse). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

bool ph_time_parse(const char *s, size_t len, int64_t *ms, bool *no_offset)
{
    size_t i = 0;
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, frac = 0, oh = 0, om = 0, sign = 0;
    if (!digits(s, len, &i, 4, &y) || !expect(s, len, &i, "-") || !digits(s, len, &i, 2, &mo) ||
        !expect(s, len, &i, "-") || !digits(s, len, &i, 2, &d) || !expect(s, len, &i, "Tt ") ||
        !digits(s, len, &i, 2, &h) || !expect(s, len, &i, ":") || !digits(s, len, &i, 2, &mi) ||
        !expect(s, len, &i, ":") || !digits(s, len, &i, 2, &sec))
        return false;
    if (expect(s, len, &i, ".")) {
        int scale = 100, nd = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            frac += (s[i] - '0') * scale;
            scale /= 10;
            i++;
            nd++;
        }
        if (nd == 0)
            return false;
    }
    if (expect(s, len, &i, "Zz"))
        sign = 1;
    else if (i < len && (s[i] == '+' || s[i] == '-')) {
        sign = s[i] == '-' ? -1 : 1;
        i++;
        if (!digits(s, len, &i, 2, &oh) || !expect(s, len, &i, ":") ||
            !digits(s, len, &i, 2, &om) || oh > 23 || om > 59)
            return false;
    }
    if (i != len)
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return false;
    int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    t -= (int64_t)(sign ? sign : 1) * (oh * 3600 + om * 60);
    *ms = t * 1000 + frac;
    *no_offset = sign == 0;
    return true;
}

/* ---- Numbers ----------------------------------------------------------------------------- */

bool ph_check_turn(ph_rctx *c, int64_t turn, const char *field)
{
    if (turn < 1) {
        ph_report(c, PH_R_NEGATIVE_VALUE, PH_SEV_WARN, field,
                  "turn %lld is below 1 (turns count from 1): dropped", (long long)turn);
        return false;
    }
    if (turn > INT32_MAX) {
        ph_report(c, PH_R_IMPOSSIBLE_VALUE, PH_SEV_WARN, field, "turn %lld is too large: dropped",
                  (long long)turn);
        return false;
    }
    return true;
}

bool ph_check_tokens(ph_rctx *c, int64_t n, const char *field)
{
    if (n < 0) {
        ph_report(c, PH_R_NEGATIVE_VALUE, PH_SEV_WARN, field, "negative token count %lld: dropped",
                  (long long)n);
        return false;
    }
    if (n > PH_MAX_TOKENS) {
        ph_report(c, PH_R_IMPOSSIBLE_VALUE, PH_SEV_WARN, field,
                  "token count %lld is above %lld: dropped", (long long)n, PH_MAX_TOKENS);
        return false;
    }
    return true;
}

bool ph_check_latency(ph_rctx *c, double ms, const char *field)
{
    if (!isfinite(ms)) {
        ph_report(c, PH_R_IMPOSSIBLE_VALUE, PH_SEV_WARN, field, "latency is not finite: dropped");
        return false;
    }
    if (ms < 0) {
        ph_report(c, PH_R_NEGATIVE_VALUE, PH_SEV_WARN, field, "negative latency %g ms: dropped",
                  ms);
        return false;
    }
    if (ms > PH_MAX_LATENCY_MS) {
        ph_report(c, PH_R_IMPOSSIBLE_VALUE, PH_SEV_WARN, field,
                  "latency %g ms is longer than 24 h: dropped", ms);
        return false;
    }
    return true;
}

bool ph_check_cost(ph_rctx *c, double usd, const char *field)
{
    if (!isfinite(usd)) {
        ph_report(c, PH_R_IMPOSSIBLE_VALUE, PH_SEV_WARN, field, "cost is not finite: dropped");
        return false;
    }
    if (usd < 0) {
        ph_report(c, PH_R_NEGATIVE_VALUE, PH_SEV_WARN, field, "negative cost %g: dropped", usd);
        return false;
    }
    return true;
}

bool ph_check_score(ph_rctx *c, double score, const char *field)
{
    if (!isfinite(score)) {
        ph_report(c, PH_R_IMPOSSIBLE_VALUE, PH_SEV_WARN, field, "score is not finite: dropped");
        return false;
    }
    return true;
}

bool ph_check_time(ph_rctx *c, int64_t ms, bool numeric, const char *field)
{
    if (numeric && ms < 0) {
        ph_report(c, PH_R_NEGATIVE_VALUE, PH_SEV_WARN, field, "negative time %lld: dropped",
                  (long long)ms);
        return false;
    }
    if (ms < PH_MIN_TIME_MS) {
        ph_report(c, PH_R_IMPOSSIBLE_VALUE, PH_SEV_WARN, field,
                  "time %lld ms is before 2000-01-01 (seconds instead of milliseconds?): dropped",
                  (long long)ms);
        return false;
    }
    if (ms - c->now_ms > c->rules->max_clock_skew_ms) {
        ph_report(c, PH_R_IMPOSSIBLE_VALUE, PH_SEV_WARN, field,
                  "time is %lld ms after ingest time (max_clock_skew_ms %lld): dropped",
                  (long long)(ms - c->now_ms), (long long)c->rules->max_clock_skew_ms);
        return false;
    }
    return true;
}

int ph_status_parse(const char *s, size_t len)
{
    if ((len == 2 && strncasecmp(s, "ok", 2) == 0) ||
        (len == 7 && strncasecmp(s, "success", 7) == 0))
        return 1;
    if ((len == 5 && strncasecmp(s, "error", 5) == 0) ||
        (len == 6 && strncasecmp(s, "failed", 6) == 0))
        return 2;
    return 0;
}
