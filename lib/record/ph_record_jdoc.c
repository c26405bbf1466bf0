/* Parsing a log record: yajl's event parser builds a ph_jv tree in an arena, and the callbacks
 * add the checks that jansson made and yajl does not, so that input is accepted or refused
 * exactly as before (docs/validation.md, invalid_json, invalid_utf8 and duplicate_key):
 *
 *   - UTF-8 as RFC 3629 (yajl lets overlong forms, surrogates and code points above U+10FFFF
 *     through), checked on the raw bytes of every string and key;
 *   - \u escapes: a lone or mismatched surrogate is refused (yajl decodes it to '?' or garbage);
 *   - U+0000 in a key is refused (NUL characters in values are kept and reported later);
 *   - integers beyond int64 and reals beyond double are refused (yajl hands over number text);
 *   - nesting deeper than 2048 values is refused (yajl has no limit);
 *   - \v and \f between tokens are refused (yajl takes them for white space);
 *   - a key given twice in one object is a problem, or, when tolerated, the last value wins at
 *     the first key's position (as json_object_set does).
 *
 * yajl also takes an unterminated string after the root value for the end of the input: the
 * bytes after the root are checked here.
 *
 * One difference is meant: a raw NUL byte is never JSON, and yajl refuses it everywhere.
 * jansson skipped one that came right after a number or a literal ({"turn":2\0} was valid):
 * its lexer reads a byte ahead and puts it back, and a NUL put back reads as an empty buffer.
 *
 * When the input has several problems, the first in reading order is reported, as jansson's
 * reader stopped at the first one. So each problem carries the number of bytes jansson had read
 * when it noticed it (ph_jproblem.offset): through the offending byte, through the end of a
 * token that is wrong as a whole (a NUL in a key, a lone surrogate, a duplicate key), and one
 * byte further after a number or a literal, which it read to find where they end. */
#include "ph_record_jdoc.h"

#include "ph_record_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#define MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH: values nested deeper are refused */

struct ph_jchunk {
    ph_jchunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

/* A member (or array item: key NULL) of a container that is still open. */
struct ph_jpending {
    const char *key;
    size_t klen;
    size_t off; /* where the key ended, for duplicate_key */
    ph_jv v;
};

struct ph_jframe {
    size_t start; /* its first member in pending */
    bool object;
    const char *key; /* the key whose value comes next (objects) */
    size_t klen;
    size_t key_off;
};

void ph_jdoc_init(ph_jdoc *d)
{
    memset(d, 0, sizeof(*d));
}

static void free_chunks(ph_jdoc *d)
{
    while (d->chunks) {
        ph_jchunk *next = d->chunks->next;
        free(d->chunks);
        d->chunks = next;
    }
}

void ph_jdoc_free(ph_jdoc *d)
{
    if (!d)
        return;
    free_chunks(d);
    free(d->pending);
    free(d->frames);
    free(d->scratch);
    ph_jdoc_init(d);
}

void *ph_jdoc_alloc(ph_jdoc *d, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    ph_jchunk *c = d->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = c ? c->cap * 2 : d->first_chunk ? d->first_chunk : 4096;
        while (cap < n)
            cap *= 2;
        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->next = d->chunks;
        c->used = 0;
        c->cap = cap;
        d->chunks = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

char *ph_jdoc_str(ph_jdoc *d, const void *s, size_t n)
{
    char *p = ph_jdoc_alloc(d, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static bool grow(void **v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 64;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*v, ncap * size);
    if (!p)
        return false;
    *v = p;
    *cap = ncap;
    return true;
}

/* ---- the parse --------------------------------------------------------------------------- */

typedef struct jp {
    ph_jdoc *d;
    const char *buf;
    size_t len;
    yajl_handle h;
    bool dups_ok;
    bool finishing; /* in yajl_complete_parse, whose offsets are not the input's */
    size_t last;    /* the offset after the previous event */
    size_t root_end;
    ph_jv root;
    ph_jproblem *problem; /* set by a callback that stops the parse */
    ph_jproblem *dup;     /* the first tolerated duplicate */
} jp;

static size_t here(const jp *p)
{
    return p->finishing ? p->len : yajl_get_bytes_consumed(p->h);
}

static void describe(ph_jproblem *pr, int code, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void describe(ph_jproblem *pr, int code, size_t offset, const char *fmt, ...)
{
    va_list ap;
    pr->code = code;
    pr->offset = offset;
    va_start(ap, fmt);
    vsnprintf(pr->text, sizeof(pr->text), fmt, ap);
    va_end(ap);
}

/* Stops the parse with a problem (the first one sticks). Returns 0 for yajl. */
#define STOP(p, what, offset, ...)                                                                 \
    ((p)->problem->code ? 0 : (describe((p)->problem, what, offset, __VA_ARGS__), 0))

static int nomem(jp *p)
{
    return STOP(p, PH_JPARSE_NOMEM, here(p), "out of memory");
}

/* Bytes read at the end of a token, plus `ahead` that jansson read past it (numbers and
 * literals end where something else starts). */
static size_t read_to(const jp *p, size_t ahead)
{
    size_t r = here(p) + ahead;
    return r < p->len ? r : p->len;
}

/* A value at the current level: refused beyond MAX_DEPTH, as jansson counts (the root is at
 * level 1, each container adds one). */
static bool level_ok(jp *p, size_t ahead)
{
    if (p->d->nframes < MAX_DEPTH)
        return true;
    STOP(p, PH_JPARSE_SYNTAX, read_to(p, ahead), "maximum parsing depth reached");
    return false;
}

static int push(jp *p, const ph_jv *v)
{
    ph_jdoc *d = p->d;
    p->last = here(p);
    if (d->nframes == 0) {
        p->root = *v;
        p->root_end = p->last;
        return 1;
    }
    if (!grow((void **)&d->pending, &d->cap_pending, d->npending + 1, sizeof(*d->pending)))
        return nomem(p);
    struct ph_jframe *f = &d->frames[d->nframes - 1];
    struct ph_jpending *e = &d->pending[d->npending++];
    e->key = f->key;
    e->klen = f->klen;
    e->off = f->key_off;
    e->v = *v;
    f->key = NULL; /* consumed: a key still set is one whose value is not complete */
    return 1;
}

static int on_null(void *ctx)
{
    jp *p = ctx;
    ph_jv v = {.type = PH_JV_NULL};
    return level_ok(p, 1) ? push(p, &v) : 0;
}

static int on_bool(void *ctx, int b)
{
    jp *p = ctx;
    ph_jv v = {.type = b ? PH_JV_TRUE : PH_JV_FALSE};
    return level_ok(p, 1) ? push(p, &v) : 0;
}

/* Number text as jansson reads it: an integer unless it has a fraction or an exponent; an
 * integer beyond int64 or a real beyond double is refused. */
static int on_number(void *ctx, const char *s, size_t n)
{
    jp *p = ctx;
    char small[64], *t = small;
    if (n >= sizeof(small)) {
        if (!grow((void **)&p->d->scratch, &p->d->cap_scratch, n + 1, 1))
            return nomem(p);
        t = p->d->scratch;
    }
    memcpy(t, s, n);
    t[n] = '\0';
    /* "06": yajl reads the numbers 0 and 6 (and then fails); jansson failed at the 6 */
    size_t end = here(p);
    if ((strcmp(t, "0") == 0 || strcmp(t, "-0") == 0) && !p->finishing && end < p->len &&
        p->buf[end] >= '0' && p->buf[end] <= '9')
        return STOP(p, PH_JPARSE_SYNTAX, end + 1, "invalid token (a leading zero)");
    ph_jv v = {.type = PH_JV_INT};
    errno = 0;
    if (!strpbrk(t, ".eE")) {
        v.u.i = strtoll(t, NULL, 10);
        if (errno == ERANGE)
            return STOP(p, PH_JPARSE_SYNTAX, read_to(p, 1), "too big %sinteger",
                        v.u.i < 0 ? "negative " : "");
    } else {
        v.type = PH_JV_REAL;
        v.u.d = strtod(t, NULL);
        if (errno == ERANGE && isinf(v.u.d))
            return STOP(p, PH_JPARSE_SYNTAX, read_to(p, 1), "real number overflow");
    }
    if (!level_ok(p, 1) || !push(p, &v))
        return 0;
    if (p->finishing && p->d->nframes == 0) { /* a root number, given at the end */
        size_t start = 0;
        while (start < p->len && strchr(" \t\n\r\v\f", p->buf[start]) && p->buf[start])
            start++;
        p->root_end = start + n;
    }
    return 1;
}

/* Four hex digits (yajl checked them). */
static unsigned hex4(const char *s)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = s[i];
        v = v * 16 + (unsigned)(ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10);
    }
    return v;
}

/* Surrogates in the \u escapes of a raw string: a high one must be followed by a low one. The
 * token passed yajl's lexer, so every backslash starts a valid escape. Returns 0 or the first
 * bad escape (with the second half in *second, 0 if none). */
static unsigned bad_surrogate(const char *raw, size_t n, unsigned *second)
{
    const char *p = raw, *end = raw + n;
    *second = 0;
    while ((p = memchr(p, '\\', (size_t)(end - p))) && end - p >= 2) {
        if (p[1] != 'u') {
            p += 2; /* \\, \" and the like */
            continue;
        }
        unsigned v = hex4(p + 2);
        p += 6;
        if (v >= 0xDC00 && v <= 0xDFFF)
            return v;
        if (v < 0xD800 || v > 0xDBFF)
            continue;
        if (end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
            *second = hex4(p + 2);
            if (*second < 0xDC00 || *second > 0xDFFF)
                return v;
            p += 6;
            continue;
        }
        return v;
    }
    return 0;
}

/* The checks on a string or key that yajl does not make. yajl hands over a string without
 * escapes in place in the input, else decoded into its own buffer: then the raw token is the
 * one after the previous event (only white space, ':' and ',' lie between). */
static int check_string(jp *p, const unsigned char *s, size_t n)
{
    size_t end = here(p); /* just after the closing quote */
    uintptr_t b = (uintptr_t)p->buf, x = (uintptr_t)s;
    bool in_place = x >= b && x <= b + p->len;
    const char *raw = (const char *)s;
    size_t rawlen = n;
    if (!in_place) {
        const char *q = p->last < end ? memchr(p->buf + p->last, '"', end - p->last) : NULL;
        if (!q) /* cannot happen: yajl just read the token */
            return STOP(p, PH_JPARSE_SYNTAX, end, "string not found in the input");
        raw = q + 1;
        rawlen = (size_t)(p->buf + end - 1 - raw);
    }
    size_t bad = ph_utf8_first_invalid(raw, rawlen);
    if (bad < rawlen)
        return STOP(p, PH_JPARSE_UTF8, (size_t)(raw - p->buf) + bad + 1,
                    "unable to decode byte 0x%x", (unsigned char)raw[bad]);
    unsigned second, first = in_place ? 0 : bad_surrogate(raw, rawlen, &second);
    if (first && second)
        return STOP(p, PH_JPARSE_SYNTAX, end, "invalid Unicode '\\u%04X\\u%04X'", first, second);
    if (first)
        return STOP(p, PH_JPARSE_SYNTAX, end, "invalid Unicode '\\u%04X'", first);
    return 1;
}

static int on_string(void *ctx, const unsigned char *s, size_t n)
{
    jp *p = ctx;
    if (!check_string(p, s, n) || !level_ok(p, 0))
        return 0;
    ph_jv v = {.type = PH_JV_STRING, .n = n};
    if (!(v.u.s = ph_jdoc_str(p->d, s, n)))
        return nomem(p);
    return push(p, &v);
}

static int on_key(void *ctx, const unsigned char *s, size_t n)
{
    jp *p = ctx;
    if (!check_string(p, s, n))
        return 0;
    if (memchr(s, '\0', n))
        return STOP(p, PH_JPARSE_SYNTAX, here(p), "NUL byte in object key not supported");
    struct ph_jframe *f = &p->d->frames[p->d->nframes - 1];
    if (!(f->key = ph_jdoc_str(p->d, s, n)))
        return nomem(p);
    f->klen = n;
    f->key_off = here(p);
    p->last = f->key_off;
    return 1;
}

static int on_start(jp *p, bool object)
{
    ph_jdoc *d = p->d;
    if (!level_ok(p, 0))
        return 0;
    if (!grow((void **)&d->frames, &d->cap_frames, d->nframes + 1, sizeof(*d->frames)))
        return nomem(p);
    struct ph_jframe *f = &d->frames[d->nframes++];
    f->start = d->npending;
    f->object = object;
    f->key = NULL;
    f->klen = 0;
    f->key_off = 0;
    p->last = here(p);
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

static bool same_key(const struct ph_jpending *a, const struct ph_jpending *b)
{
    return a->key && b->key && a->klen == b->klen && memcmp(a->key, b->key, a->klen) == 0;
}

static int cmp_pending(const void *x, const void *y)
{
    const struct ph_jpending *a = *(const struct ph_jpending *const *)x;
    const struct ph_jpending *b = *(const struct ph_jpending *const *)y;
    if (a->klen != b->klen)
        return a->klen < b->klen ? -1 : 1;
    int r = memcmp(a->key, b->key, a->klen);
    if (r)
        return r;
    return a < b ? -1 : a > b; /* input order within equal keys */
}

/* Finds keys given twice among the members e[0..n) of one object: copies the earliest repeat
 * (by input position) into *first and returns true. With merge, each repeat gives its value to
 * the first occurrence and is removed (key set to NULL). Small objects are compared pairwise,
 * large ones sorted, so that a huge object cannot cost quadratic time. Sets *oom when the
 * sort's index cannot be allocated. */
static bool duplicates(ph_jdoc *d, struct ph_jpending *e, size_t n, bool merge,
                       struct ph_jpending *first, bool *oom)
{
    bool found = false;
    if (n <= 16) {
        for (size_t j = 1; j < n; j++)
            for (size_t i = 0; i < j; i++)
                if (same_key(&e[i], &e[j])) {
                    if (!found)
                        *first = e[j];
                    found = true;
                    if (merge) {
                        e[i].v = e[j].v;
                        e[j].key = NULL;
                    }
                    break;
                }
        return found;
    }
    if (!grow((void **)&d->scratch, &d->cap_scratch, n * sizeof(struct ph_jpending *), 1)) {
        *oom = true;
        return false;
    }
    struct ph_jpending **idx = (struct ph_jpending **)(void *)d->scratch;
    for (size_t i = 0; i < n; i++)
        idx[i] = &e[i];
    qsort(idx, n, sizeof(*idx), cmp_pending);
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && same_key(idx[i], idx[j]); j++)
            ;
        if (j - i < 2)
            continue;
        if (!found || idx[i + 1]->off < first->off)
            *first = *idx[i + 1];
        found = true;
        if (merge) {
            idx[i]->v = idx[j - 1]->v;
            for (size_t k = i + 1; k < j; k++)
                idx[k]->key = NULL;
        }
    }
    return found;
}

/* Remembers a tolerated duplicate if it is the earliest so far. */
static void note_dup(jp *p, const struct ph_jpending *e)
{
    char q[PH_QUOTE_BYTES + 4];
    if (p->dup->code && p->dup->offset <= e->off)
        return;
    describe(p->dup, PH_JPARSE_DUPLICATE, e->off, "duplicate object key \"%s\"",
             ph_quote(q, e->key, e->klen));
}

static int on_end(void *ctx)
{
    jp *p = ctx;
    ph_jdoc *d = p->d;
    struct ph_jframe *f = &d->frames[d->nframes - 1];
    struct ph_jpending *e = d->pending + f->start;
    size_t n = d->npending - f->start;
    ph_jv v = {.type = f->object ? PH_JV_OBJECT : PH_JV_ARRAY};
    if (f->object) {
        bool oom = false;
        struct ph_jpending dup;
        bool found = n > 1 && duplicates(d, e, n, p->dups_ok, &dup, &oom);
        if (oom)
            return nomem(p);
        if (found && !p->dups_ok) {
            char q[PH_QUOTE_BYTES + 4];
            return STOP(p, PH_JPARSE_DUPLICATE, dup.off, "duplicate object key \"%s\"",
                        ph_quote(q, dup.key, dup.klen));
        }
        if (found)
            note_dup(p, &dup);
        ph_jmember *m = ph_jdoc_alloc(d, n * sizeof(*m));
        if (!m)
            return nomem(p);
        for (size_t i = 0; i < n; i++)
            if (e[i].key)
                m[v.n++] = (ph_jmember){e[i].key, e[i].klen, e[i].v};
        v.u.members = m;
    } else {
        ph_jv *items = ph_jdoc_alloc(d, n * sizeof(*items));
        if (!items)
            return nomem(p);
        for (size_t i = 0; i < n; i++)
            items[i] = e[i].v;
        v.n = n;
        v.u.items = items;
    }
    d->npending = f->start;
    d->nframes--;
    return push(p, &v);
}

static const yajl_callbacks callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_bool,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_key,
    .yajl_end_map = on_end,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end,
};

/* ---- after the parse --------------------------------------------------------------------- */

static bool is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* The bytes jansson had read after a token that starts at i and that yajl's lexer accepted: a
 * string through its closing quote (every backslash starts an escape of two bytes or more, none
 * of them a quote); a number as far as the number grammar goes, and a run of letters (a
 * literal, or not), each with the byte after it, which was read to see the token end; else
 * the one character. */
static size_t token_read(const char *buf, size_t len, size_t i)
{
    if (i >= len)
        return len;
    if (buf[i] == '"') {
        for (i++; i < len && buf[i] != '"'; i++)
            if (buf[i] == '\\')
                i++;
        return i < len ? i + 1 : len;
    }
    if (is_alpha(buf[i])) {
        while (i < len && is_alpha(buf[i]))
            i++;
    } else if (buf[i] == '-' || is_digit(buf[i])) {
        i += buf[i] == '-';
        if (i < len && buf[i] == '0')
            i++;
        else
            while (i < len && is_digit(buf[i]))
                i++;
        if (i < len && buf[i] == '.')
            for (i++; i < len && is_digit(buf[i]); i++)
                ;
        if (i < len && (buf[i] == 'e' || buf[i] == 'E')) {
            i++;
            if (i < len && (buf[i] == '+' || buf[i] == '-'))
                i++;
            while (i < len && is_digit(buf[i]))
                i++;
        }
    }
    return i < len ? i + 1 : len;
}

/* yajl's own error: a lexical or syntax error, or bytes that are not UTF-8 in a string (found
 * again, and placed exactly, by the UTF-8 check after the parse). */
static void yajl_problem(jp *p, ph_jproblem *pr)
{
    size_t at = p->finishing ? p->len : yajl_get_bytes_consumed(p->h), read = at;
    unsigned char *why = yajl_get_error(p->h, 0, (const unsigned char *)p->buf, p->len);
    const char *text = why ? (const char *)why : "parse error";
    int code = strstr(text, "invalid bytes in UTF8 string") ? PH_JPARSE_UTF8 : PH_JPARSE_SYNTAX;
    if (at > p->len)
        at = read = p->len;
    if (p->finishing || code == PH_JPARSE_UTF8) {
        /* the end of the input; or the UTF-8 check below places it */
    } else if (strstr(text, "invalid char in json text") && at > 0) {
        /* yajl counts the stray character; jansson read a run of letters (x, nul...) whole */
        read = is_alpha(p->buf[at - 1]) ? token_read(p->buf, p->len, at - 1) : at;
    } else if (strstr(text, "invalid string in json text")) {
        /* a bad literal (tru}): yajl stops at the byte that broke it, jansson read the run of
         * letters from the literal's start and the byte after */
        read = token_read(p->buf, p->len, at > 0 && is_alpha(p->buf[at - 1]) ? at - 1 : at);
    } else if (strstr(text, "lexical error")) {
        read = at < p->len ? at + 1 : at; /* yajl stops at the offending byte */
    } else if (strstr(text, "after key and value, inside map") ||
               strstr(text, "trailing garbage")) {
        /* yajl rewinds into the token it refused; it starts after the previous value */
        size_t i = p->last;
        while (i < p->len && strchr(" \t\n\r", p->buf[i]) && p->buf[i])
            i++;
        read = token_read(p->buf, p->len, i);
    } else if (at > 0 && at < p->len && (is_alpha(p->buf[at - 1]) || is_digit(p->buf[at - 1]))) {
        read = at + 1; /* a refused number or literal: jansson read the byte after it */
    }
    describe(pr, code, read, "%.*s", (int)strcspn(text, "\n"), text);
    if (why)
        yajl_free_error(p->h, why);
}

/* Duplicates among the keys read so far in the objects still open when the parse stopped:
 * jansson would have stopped at such a key already. */
static void open_duplicates(jp *p, ph_jproblem *pr)
{
    ph_jdoc *d = p->d;
    for (size_t i = 0; i < d->nframes; i++) {
        struct ph_jframe *f = &d->frames[i];
        size_t end = i + 1 < d->nframes ? d->frames[i + 1].start : d->npending;
        struct ph_jpending *e = d->pending + f->start, dup;
        size_t n = end - f->start;
        bool oom = false, found;
        if (!f->object)
            continue;
        found = n > 1 && duplicates(d, e, n, false, &dup, &oom);
        if (oom) {
            describe(pr, PH_JPARSE_NOMEM, pr->offset, "out of memory");
            return;
        }
        if (f->key) { /* the key being read: jansson checked it before its value */
            struct ph_jpending cur = {.key = f->key, .klen = f->klen, .off = f->key_off};
            for (size_t k = 0; k < n && (!found || cur.off < dup.off); k++)
                if (same_key(&e[k], &cur)) {
                    dup = cur;
                    found = true;
                    break;
                }
        }
        if (!found || dup.off > pr->offset) /* a key read by the stop came first */
            continue;
        if (p->dups_ok) {
            note_dup(p, &dup);
        } else {
            char q[PH_QUOTE_BYTES + 4];
            describe(pr, PH_JPARSE_DUPLICATE, dup.off, "duplicate object key \"%s\"",
                     ph_quote(q, dup.key, dup.klen));
        }
    }
}

/* Line and character column of an offset, for the message. */
static void locate(const char *buf, size_t len, ph_jproblem *pr)
{
    size_t at = pr->offset < len ? pr->offset : len;
    pr->line = 1;
    pr->column = 0;
    for (size_t i = 0; i < at; i++) {
        if (buf[i] == '\n') {
            pr->line++;
            pr->column = 0;
        } else if (((unsigned char)buf[i] & 0xC0) != 0x80)
            pr->column++;
    }
}

/* The offset of the first \v or \f in buf, or len: jansson refused them anywhere, yajl takes
 * them for white space between tokens. */
static size_t vertical_space(const char *buf, size_t len)
{
    const char *v = memchr(buf, '\v', len), *f = memchr(buf, '\f', len);
    if (v && (!f || v < f))
        return (size_t)(v - buf);
    return f ? (size_t)(f - buf) : len;
}

int ph_jdoc_parse(ph_jdoc *d, const char *buf, size_t len, bool dups_ok, const ph_jv **root,
                  ph_jproblem *problem, ph_jproblem *dup)
{
    ph_jproblem stop = {0};
    jp p = {.d = d, .buf = buf, .len = len, .dups_ok = dups_ok, .problem = &stop, .dup = dup};
    free_chunks(d);
    d->npending = d->nframes = 0;
    memset(problem, 0, sizeof(*problem));
    memset(dup, 0, sizeof(*dup));
    /* The tree takes about twice the text: most records fit in the first chunk. */
    d->first_chunk = 2 * len + 1024;
    p.h = yajl_alloc(&callbacks, NULL, &p);
    if (!p.h) {
        describe(problem, PH_JPARSE_NOMEM, 0, "out of memory");
        return problem->code;
    }
    /* Strings are checked by check_string (stricter than yajl), and stray bytes by the check
     * after the parse: yajl need not look at UTF-8 too. */
    yajl_config(p.h, yajl_dont_validate_strings, 1);
    yajl_status st = yajl_parse(p.h, (const unsigned char *)buf, len);
    if (st == yajl_status_ok) {
        p.finishing = true;
        st = yajl_complete_parse(p.h);
    }
    if (st == yajl_status_error)
        yajl_problem(&p, &stop);
    if (stop.code == PH_JPARSE_NOMEM) {
        yajl_free(p.h);
        *problem = stop;
        return problem->code;
    }
    if (!stop.code) { /* only white space may follow the root */
        size_t t = p.root_end;
        while (t < len && strchr(" \t\n\r\v\f", buf[t]) && buf[t])
            t++;
        if (t < len) /* jansson read the token there (an unterminated string to the end) */
            describe(&stop, PH_JPARSE_SYNTAX, token_read(buf, len, t), "end of file expected");
    }
    size_t vs = vertical_space(buf, len);
    if (vs < len && (!stop.code || vs + 1 < stop.offset))
        describe(&stop, PH_JPARSE_SYNTAX, vs + 1, "invalid token (\\%c)",
                 buf[vs] == '\v' ? 'v' : 'f');
    if (stop.code) {
        /* Bytes that are not UTF-8 before the stop: a stray byte between tokens (yajl calls it
         * an invalid char, jansson's reader could not decode it), or a string that yajl's lexer
         * let through in the token where it stopped. Sequences are judged whole, so a valid
         * character cut by the offset is not taken for a broken one. */
        size_t bad = ph_utf8_first_invalid(buf, len);
        if (bad < len && bad + 1 <= stop.offset)
            describe(&stop, PH_JPARSE_UTF8, bad + 1, "unable to decode byte 0x%x",
                     (unsigned char)buf[bad]);
        open_duplicates(&p, &stop);
        if (dup->code && dup->offset > stop.offset)
            memset(dup, 0, sizeof(*dup));
    }
    yajl_free(p.h);
    if (stop.code == PH_JPARSE_NOMEM) {
        *problem = stop;
        return problem->code;
    }
    if (dup->code)
        locate(buf, len, dup);
    if (stop.code) {
        locate(buf, len, &stop);
        *problem = stop;
        return problem->code;
    }
    ph_jv *r = ph_jdoc_alloc(d, sizeof(*r));
    if (!r) {
        describe(problem, PH_JPARSE_NOMEM, len, "out of memory");
        return problem->code;
    }
    *r = p.root;
    *root = r;
    return PH_JPARSE_OK;
}
