/* The state of one cell: counters, fixed-point sums, sketches and small maps of names; its
 * compact encoding for SQLite; merging an encoded cell into another (the query path and the load
 * path); and the list of named metrics it yields.
 *
 * Encoding, version 1 (all integers LEB128 varints, signed ones zigzag, strings and sketches
 * length-prefixed; a sketch of length 0 is absent):
 *   u8 version, varint sections (bit set = section present), then each present section in bit
 *   order. Sections: 1 logs, 2 warnings, 4 invalid, 8 evaluations, 16 feedback, 32 KPIs,
 *   64 pipeline, 128 late. Absent sections cost nothing, and a decoder refuses unknown bits, so
 *   a future section needs a new version. */
#include "agg_int.h"

#include "ph_error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AGG_STATE_VERSION 1

enum {
    SEC_LOG = 1,
    SEC_WARN = 2,
    SEC_INVALID = 4,
    SEC_EVAL = 8,
    SEC_FB = 16,
    SEC_KPI = 32,
    SEC_PIPE = 64,
    SEC_LATE = 128,
    SEC_ALL = 255,
};

/* ---- updates -------------------------------------------------------------------------------- */

static void counts_free(agg_counts *m)
{
    free(m->v);
}

void agg_state_clear(agg_state *st)
{
    ph_sketch_destroy(st->latency);
    ph_sketch_destroy(st->lag);
    counts_free(&st->warnings);
    counts_free(&st->reasons);
    counts_free(&st->fb_labels);
    for (uint32_t i = 0; i < st->n_evals; i++)
        counts_free(&st->evals[i].labels);
    free(st->evals);
    for (uint32_t i = 0; i < st->n_knum; i++)
        ph_sketch_destroy(st->knum[i].sk);
    free(st->knum);
    free(st->kbool);
    memset(st, 0, sizeof(*st));
}

static bool grow(void **v, uint32_t *cap, uint32_t n, size_t size)
{
    if (n < *cap)
        return true;
    uint32_t c = *cap ? *cap * 2 : 4;
    void *p = realloc(*v, (size_t)c * size);
    if (!p)
        return false;
    *v = p;
    *cap = c;
    return true;
}

int agg_state_count(agg_counts *m, agg_pool *pool, const char *name, uint64_t n)
{
    for (uint32_t i = 0; i < m->n; i++) {
        if (m->v[i].name == name) {
            m->v[i].n += n;
            return PH_OK;
        }
    }
    if (m->n >= AGG_MAP_MAX) {
        const char *other = agg_intern_z(pool, "_other");
        if (!other)
            return PH_ENOMEM;
        if (name != other)
            return agg_state_count(m, pool, other, n);
    }
    if (!grow((void **)&m->v, &m->cap, m->n, sizeof(*m->v)))
        return PH_ENOMEM;
    m->v[m->n++] = (agg_count){name, n};
    return PH_OK;
}

agg_evalst *agg_state_eval(agg_state *st, const char *name)
{
    for (uint32_t i = 0; i < st->n_evals; i++)
        if (st->evals[i].name == name)
            return &st->evals[i];
    if (!grow((void **)&st->evals, &st->cap_evals, st->n_evals, sizeof(*st->evals)))
        return NULL;
    agg_evalst *e = &st->evals[st->n_evals++];
    memset(e, 0, sizeof(*e));
    e->name = name;
    return e;
}

agg_knum *agg_state_knum(agg_state *st, const char *name)
{
    for (uint32_t i = 0; i < st->n_knum; i++)
        if (st->knum[i].name == name)
            return &st->knum[i];
    if (!grow((void **)&st->knum, &st->cap_knum, st->n_knum, sizeof(*st->knum)))
        return NULL;
    agg_knum *k = &st->knum[st->n_knum++];
    memset(k, 0, sizeof(*k));
    k->name = name;
    return k;
}

agg_kbool *agg_state_kbool(agg_state *st, const char *name)
{
    for (uint32_t i = 0; i < st->n_kbool; i++)
        if (st->kbool[i].name == name)
            return &st->kbool[i];
    if (!grow((void **)&st->kbool, &st->cap_kbool, st->n_kbool, sizeof(*st->kbool)))
        return NULL;
    agg_kbool *k = &st->kbool[st->n_kbool++];
    memset(k, 0, sizeof(*k));
    k->name = name;
    return k;
}

int agg_state_sketch_add(ph_sketch **sk, ph_sketch_prepared *pv, double v)
{
    if (!*sk) {
        int rc = ph_sketch_new(sk, PH_SKETCH_ALPHA_DEFAULT, PH_SKETCH_MAX_BUCKETS_DEFAULT);
        if (rc != PH_OK)
            return rc;
    }
    if (!pv)
        return ph_sketch_add(*sk, v);
    if (pv->alpha == 0) {
        int rc = ph_sketch_prepare(*sk, v, pv);
        if (rc != PH_OK)
            return rc;
    }
    return ph_sketch_add_prepared(*sk, pv);
}

/* ---- encoding ------------------------------------------------------------------------------- */

static bool buf_reserve(agg_buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return false;
    b->p = p;
    b->cap = cap;
    return true;
}

static bool put_u(agg_buf *b, uint64_t v)
{
    if (!buf_reserve(b, 10))
        return false;
    while (v >= 0x80) {
        b->p[b->len++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b->p[b->len++] = (uint8_t)v;
    return true;
}

static bool put_i(agg_buf *b, int64_t v)
{
    return put_u(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static bool put_bytes(agg_buf *b, const void *p, size_t len)
{
    if (!put_u(b, len) || !buf_reserve(b, len))
        return false;
    if (len)
        memcpy(b->p + b->len, p, len);
    b->len += len;
    return true;
}

static bool put_str(agg_buf *b, const char *s)
{
    return put_bytes(b, s, strlen(s));
}

static bool put_sketch(agg_buf *b, const ph_sketch *sk)
{
    if (!sk || ph_sketch_count(sk) == 0)
        return put_u(b, 0);
    uint8_t *enc = NULL;
    size_t len = 0;
    if (ph_sketch_encode(sk, &enc, &len) != PH_OK)
        return false;
    bool ok = put_bytes(b, enc, len);
    free(enc);
    return ok;
}

static bool put_counts(agg_buf *b, const agg_counts *m)
{
    bool ok = put_u(b, m->n);
    for (uint32_t i = 0; ok && i < m->n; i++)
        ok = put_str(b, m->v[i].name) && put_u(b, m->v[i].n);
    return ok;
}

static unsigned sections(const agg_state *st)
{
    unsigned s = 0;
    if (st->requests || st->latency_n || st->tokens_in || st->tokens_out || st->cost)
        s |= SEC_LOG;
    if (st->warnings.n)
        s |= SEC_WARN;
    if (st->invalid || st->reasons.n)
        s |= SEC_INVALID;
    if (st->n_evals)
        s |= SEC_EVAL;
    if (st->fb_count)
        s |= SEC_FB;
    if (st->n_knum || st->n_kbool)
        s |= SEC_KPI;
    if (st->lag || st->judge_cost || st->judge_tokens)
        s |= SEC_PIPE;
    if (st->late_records)
        s |= SEC_LATE;
    return s;
}

int agg_state_encode(const agg_state *st, agg_buf *b)
{
    unsigned s = sections(st);
    bool ok = buf_reserve(b, 1);
    if (ok)
        b->p[b->len++] = AGG_STATE_VERSION;
    ok = ok && put_u(b, s);
    if (ok && (s & SEC_LOG))
        ok = put_u(b, st->requests) && put_u(b, st->errors) && put_u(b, st->latency_n) &&
             put_i(b, st->latency_sum) && put_i(b, st->tokens_in) && put_i(b, st->tokens_out) &&
             put_i(b, st->cost) && put_sketch(b, st->latency);
    if (ok && (s & SEC_WARN))
        ok = put_counts(b, &st->warnings);
    if (ok && (s & SEC_INVALID))
        ok = put_u(b, st->invalid) && put_counts(b, &st->reasons);
    if (ok && (s & SEC_EVAL)) {
        ok = put_u(b, st->n_evals);
        for (uint32_t i = 0; ok && i < st->n_evals; i++) {
            const agg_evalst *e = &st->evals[i];
            ok = put_str(b, e->name) && put_u(b, e->count) && put_u(b, e->errors) &&
                 put_u(b, e->skipped) && put_u(b, e->scored) && put_i(b, e->score_sum) &&
                 put_u(b, e->judged) && put_u(b, e->passed) && put_counts(b, &e->labels);
        }
    }
    if (ok && (s & SEC_FB))
        ok = put_u(b, st->fb_count) && put_u(b, st->fb_thumbs) && put_u(b, st->fb_up) &&
             put_u(b, st->fb_scored) && put_i(b, st->fb_score_sum) && put_counts(b, &st->fb_labels);
    if (ok && (s & SEC_KPI)) {
        ok = put_u(b, st->n_knum);
        for (uint32_t i = 0; ok && i < st->n_knum; i++)
            ok = put_str(b, st->knum[i].name) && put_i(b, st->knum[i].sum) &&
                 put_sketch(b, st->knum[i].sk);
        ok = ok && put_u(b, st->n_kbool);
        for (uint32_t i = 0; ok && i < st->n_kbool; i++)
            ok = put_str(b, st->kbool[i].name) && put_u(b, st->kbool[i].n) &&
                 put_u(b, st->kbool[i].yes);
    }
    if (ok && (s & SEC_PIPE))
        ok = put_i(b, st->judge_cost) && put_u(b, st->judge_tokens) && put_sketch(b, st->lag);
    if (ok && (s & SEC_LATE))
        ok = put_u(b, st->late_records);
    return ok ? PH_OK : PH_ENOMEM;
}

/* ---- decoding (merge into a state) ---------------------------------------------------------- */

static uint64_t get_u(agg_rd *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->bad = true;
            return 0;
        }
        uint8_t byte = *r->p++;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

static int64_t get_i(agg_rd *r)
{
    uint64_t v = get_u(r);
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static const uint8_t *get_bytes(agg_rd *r, size_t *len)
{
    uint64_t n = get_u(r);
    if (r->bad || n > (uint64_t)(r->end - r->p)) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    *len = (size_t)n;
    return p;
}

static const char *get_name(agg_rd *r, agg_pool *pool, int *rc)
{
    size_t len = 0;
    const uint8_t *p = get_bytes(r, &len);
    if (!p)
        return NULL;
    const char *s = agg_intern(pool, (const char *)p, len);
    if (!s)
        *rc = PH_ENOMEM;
    return s;
}

/* Merges an encoded sketch into *dst, decoding it when *dst is still empty: a query merges
 * thousands of stored sketches into one accumulator, straight from their bytes. */
static int merge_sketch(agg_rd *r, ph_sketch **dst, bool skip)
{
    size_t len = 0;
    const uint8_t *p = get_bytes(r, &len);
    if (!p)
        return PH_EINVAL;
    if (!len || skip)
        return PH_OK;
    if (!*dst)
        return ph_sketch_decode(p, len, dst, NULL, 0);
    return ph_sketch_merge_encoded(*dst, p, len, NULL, 0);
}

/* The merge functions below read their part of the encoding and, with skip, only read it: the
 * query does not need it (agg_state_merge_blob). */
static int merge_counts(agg_rd *r, agg_counts *m, agg_pool *pool, bool skip)
{
    int rc = PH_OK;
    uint64_t n = get_u(r);
    for (uint64_t i = 0; i < n && !r->bad && rc == PH_OK; i++) {
        size_t len;
        const char *name = skip ? (get_bytes(r, &len), NULL) : get_name(r, pool, &rc);
        uint64_t c = get_u(r);
        if (name && !r->bad)
            rc = agg_state_count(m, pool, name, c);
    }
    return r->bad ? PH_EINVAL : rc;
}

static int merge_evals(agg_rd *r, agg_state *dst, agg_pool *pool, bool skip)
{
    int rc = PH_OK;
    uint64_t n = get_u(r);
    for (uint64_t i = 0; i < n && !r->bad && rc == PH_OK; i++) {
        agg_evalst ignored = {0}, *e = &ignored;
        size_t len;
        if (skip) {
            get_bytes(r, &len);
        } else {
            const char *name = get_name(r, pool, &rc);
            if (!name)
                break;
            if (!(e = agg_state_eval(dst, name)))
                return PH_ENOMEM;
        }
        e->count += get_u(r);
        e->errors += get_u(r);
        e->skipped += get_u(r);
        e->scored += get_u(r);
        e->score_sum += get_i(r);
        e->judged += get_u(r);
        e->passed += get_u(r);
        rc = merge_counts(r, &e->labels, pool, skip);
    }
    return r->bad ? PH_EINVAL : rc;
}

static int merge_kpis(agg_rd *r, agg_state *dst, agg_pool *pool, bool skip)
{
    int rc = PH_OK;
    uint64_t n = get_u(r);
    for (uint64_t i = 0; i < n && !r->bad && rc == PH_OK; i++) {
        agg_knum ignored = {0}, *k = &ignored;
        size_t len;
        if (skip) {
            get_bytes(r, &len);
        } else {
            const char *name = get_name(r, pool, &rc);
            k = name ? agg_state_knum(dst, name) : NULL;
            if (!k)
                return rc != PH_OK || r->bad ? (r->bad ? PH_EINVAL : rc) : PH_ENOMEM;
        }
        k->sum += get_i(r);
        rc = merge_sketch(r, &k->sk, skip);
    }
    n = rc == PH_OK ? get_u(r) : 0;
    for (uint64_t i = 0; i < n && !r->bad && rc == PH_OK; i++) {
        agg_kbool ignored = {0}, *k = &ignored;
        size_t len;
        if (skip) {
            get_bytes(r, &len);
        } else {
            const char *name = get_name(r, pool, &rc);
            k = name ? agg_state_kbool(dst, name) : NULL;
            if (!k)
                return rc != PH_OK || r->bad ? (r->bad ? PH_EINVAL : rc) : PH_ENOMEM;
        }
        k->n += get_u(r);
        k->yes += get_u(r);
    }
    return r->bad ? PH_EINVAL : rc;
}

int agg_state_merge_blob(agg_state *dst, const uint8_t *buf, size_t len, agg_pool *pool,
                         unsigned skip)
{
    agg_rd rd = {buf, buf + len, false}, *r = &rd;
    if (len < 1 || buf[0] != AGG_STATE_VERSION)
        return PH_EINVAL;
    r->p++;
    uint64_t s = get_u(r);
    if (r->bad || (s & ~(uint64_t)SEC_ALL))
        return PH_EINVAL;
    int rc = PH_OK;
    if (s & SEC_LOG) {
        dst->requests += get_u(r);
        dst->errors += get_u(r);
        dst->latency_n += get_u(r);
        dst->latency_sum += get_i(r);
        dst->tokens_in += get_i(r);
        dst->tokens_out += get_i(r);
        dst->cost += get_i(r);
        rc = merge_sketch(r, &dst->latency, skip & AGG_FAM_LATENCY);
    }
    if (rc == PH_OK && (s & SEC_WARN))
        rc = merge_counts(r, &dst->warnings, pool, skip & AGG_FAM_WARNINGS);
    if (rc == PH_OK && (s & SEC_INVALID)) {
        dst->invalid += get_u(r);
        rc = merge_counts(r, &dst->reasons, pool, skip & AGG_FAM_REASONS);
    }
    if (rc == PH_OK && (s & SEC_EVAL))
        rc = merge_evals(r, dst, pool, skip & AGG_FAM_EVAL);
    if (rc == PH_OK && (s & SEC_FB)) {
        dst->fb_count += get_u(r);
        dst->fb_thumbs += get_u(r);
        dst->fb_up += get_u(r);
        dst->fb_scored += get_u(r);
        dst->fb_score_sum += get_i(r);
        rc = merge_counts(r, &dst->fb_labels, pool, skip & AGG_FAM_FB_LABELS);
    }
    if (rc == PH_OK && (s & SEC_KPI))
        rc = merge_kpis(r, dst, pool, skip & AGG_FAM_KPI);
    if (rc == PH_OK && (s & SEC_PIPE)) {
        dst->judge_cost += get_i(r);
        dst->judge_tokens += get_u(r);
        rc = merge_sketch(r, &dst->lag, skip & AGG_FAM_LAG);
    }
    if (rc == PH_OK && (s & SEC_LATE))
        dst->late_records += get_u(r);
    if (rc == PH_OK && (r->bad || r->p != r->end))
        rc = PH_EINVAL;
    return rc;
}

/* ---- metrics -------------------------------------------------------------------------------- */

void agg_metrics_free(agg_metrics *m)
{
    free(m->names);
    free(m->values);
    free(m->chars);
    free(m->offs);
    free(m->parts);
    free(m->all);
    free(m->want);
    memset(m, 0, sizeof(*m));
}

/* The name is one of the patterns, or starts with one ending in '*'. */
static bool selected(const agg_select *sel, const char *name)
{
    for (size_t i = 0; i < sel->n; i++) {
        const char *p = sel->patterns[i];
        size_t len = strlen(p);
        if (len > 0 && p[len - 1] == '*' ? strncmp(name, p, len - 1) == 0 : strcmp(name, p) == 0)
            return true;
    }
    return false;
}

/* Whether some pattern can select a name that starts with prefix. */
static bool may_select(const agg_select *sel, const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < sel->n; i++) {
        const char *p = sel->patterns[i];
        size_t len = strlen(p);
        if (len > 0 && p[len - 1] == '*') {
            size_t k = len - 1 < n ? len - 1 : n; /* one is a prefix of the other */
            if (strncmp(p, prefix, k) == 0)
                return true;
        } else if (strncmp(p, prefix, n) == 0) {
            return true;
        }
    }
    return false;
}

void agg_select_init(agg_select *sel, const char *const *patterns, size_t n)
{
    static const struct {
        unsigned family;
        const char *prefix;
    } families[] = {
        {AGG_FAM_LATENCY, "latency_"},
        {AGG_FAM_WARNINGS, "warnings."},
        {AGG_FAM_REASONS, "invalid."},
        {AGG_FAM_EVAL, "eval."},
        {AGG_FAM_FB_LABELS, "feedback.label."},
        {AGG_FAM_KPI, "kpi."},
        {AGG_FAM_LAG, "lag_"},
    };
    sel->patterns = patterns;
    sel->n = patterns ? n : 0;
    sel->skip = 0;
    for (size_t i = 0; sel->n && i < sizeof(families) / sizeof(families[0]); i++)
        if (!may_select(sel, families[i].prefix))
            sel->skip |= families[i].family;
}

typedef struct mb {
    agg_metrics *m;
    const agg_select *sel; /* NULL: every metric */
    bool oom;
    bool reuse; /* every metric so far had the parts of the same metric of the last build */
} mb;

static bool same_parts(const char *const *a, const char *const *b)
{
    for (int i = 0; i < AGG_NAME_PARTS; i++) {
        if (a[i] != b[i])
            return false;
        if (!a[i])
            return true;
    }
    return true;
}

static bool grow_metrics(agg_metrics *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    size_t *offs = realloc(m->offs, cap * sizeof(*offs));
    if (offs)
        m->offs = offs;
    double *all = offs ? realloc(m->all, cap * sizeof(*all)) : NULL;
    if (all)
        m->all = all;
    bool *want = all ? realloc(m->want, cap * sizeof(*want)) : NULL;
    if (want)
        m->want = want;
    const char *(*ps)[AGG_NAME_PARTS] = want ? realloc(m->parts, cap * sizeof(*ps)) : NULL;
    if (ps)
        m->parts = ps;
    double *values = ps ? realloc(m->values, cap * sizeof(*values)) : NULL;
    if (values)
        m->values = values;
    const char **names = values ? realloc(m->names, cap * sizeof(*names)) : NULL;
    if (names)
        m->names = names;
    if (!names)
        return false;
    m->cap = cap;
    return true;
}

/* Appends the metric named by the concatenation of parts (NULL-terminated, at most
 * AGG_NAME_PARTS; static strings or interned ones, never a buffer that changes). Consecutive
 * points of a query mostly have the same metrics in the same order: while the parts (pointers)
 * equal the last build's, its name (and whether the query selects it) is still in place and only
 * the value is written. */
static void add_parts(mb *b, double v, const char *const *parts)
{
    agg_metrics *m = b->m;
    if (b->oom)
        return;
    if (b->reuse && m->n_all < m->n_valid && same_parts(m->parts[m->n_all], parts)) {
        m->all[m->n_all++] = v;
        return;
    }
    if (b->reuse) {
        /* names of the previous metrics stay; from here on they are written anew */
        b->reuse = false;
        m->n_chars =
            m->n_all ? m->offs[m->n_all - 1] + strlen(m->chars + m->offs[m->n_all - 1]) + 1 : 0;
    }
    if (m->n_all == m->cap && !grow_metrics(m)) {
        b->oom = true;
        return;
    }
    size_t len = 0, lens[AGG_NAME_PARTS], k;
    for (k = 0; k < AGG_NAME_PARTS && parts[k]; k++) {
        len += lens[k] = strlen(parts[k]);
        m->parts[m->n_all][k] = parts[k];
    }
    if (k < AGG_NAME_PARTS)
        m->parts[m->n_all][k] = NULL;
    if (m->n_chars + len + 1 > m->cap_chars) {
        size_t cap = m->cap_chars ? m->cap_chars * 2 : 4096;
        while (cap < m->n_chars + len + 1)
            cap *= 2;
        char *chars = realloc(m->chars, cap);
        if (!chars) {
            b->oom = true;
            return;
        }
        m->chars = chars;
        m->cap_chars = cap;
    }
    char *name = m->chars + m->n_chars, *out = name;
    for (size_t i = 0; i < k; i++) {
        memcpy(out, parts[i], lens[i]);
        out += lens[i];
    }
    *out = '\0';
    m->offs[m->n_all] = m->n_chars;
    m->want[m->n_all] = !b->sel || !b->sel->n || selected(b->sel, name);
    m->all[m->n_all++] = v;
    m->n_chars += len + 1;
}

#define add(b, v, ...) add_parts(b, v, (const char *const[]){__VA_ARGS__, NULL})

/* Whether the query may select metrics of a family (the state's part for it was decoded). */
static bool family(const mb *b, unsigned fam)
{
    return !b->sel || !(b->sel->skip & fam);
}

static void add_counts(mb *b, const agg_counts *c, const char *prefix)
{
    for (uint32_t i = 0; i < c->n; i++)
        add(b, (double)c->v[i].n, prefix, c->v[i].name);
}

/* p50/p90/p95/p99 (and max) of a sketch, named <prefix><name><sep>p50<unit>, e.g.
 * latency_p50_ms or kpi.resolution.p50. */
static void add_quantiles(mb *b, const ph_sketch *sk, const char *prefix, const char *name,
                          const char *sep, const char *unit)
{
    static const double qs[] = {0.5, 0.9, 0.95, 0.99};
    static const char *const names[] = {"p50", "p90", "p95", "p99"};
    double v[4];
    if (ph_sketch_quantiles(sk, qs, 4, v) == PH_OK)
        for (size_t i = 0; i < 4; i++)
            add(b, v[i], prefix, name, sep, names[i], unit);
    if (ph_sketch_max(sk, v) == PH_OK)
        add(b, v[0], prefix, name, sep, "max", unit);
}

static void add_evals(mb *b, const agg_state *st)
{
    for (uint32_t i = 0; i < st->n_evals; i++) {
        const agg_evalst *e = &st->evals[i];
        add(b, (double)e->count, "eval.", e->name, ".count");
        add(b, (double)e->errors, "eval.", e->name, ".errors");
        add(b, (double)e->skipped, "eval.", e->name, ".skipped");
        if (e->scored)
            add(b, (double)e->score_sum / AGG_SCORE_SCALE / (double)e->scored, "eval.", e->name,
                ".mean_score");
        if (e->judged)
            add(b, (double)e->passed / (double)e->judged, "eval.", e->name, ".pass_rate");
        for (uint32_t j = 0; j < e->labels.n; j++)
            add(b, (double)e->labels.v[j].n, "eval.", e->name, ".label.", e->labels.v[j].name);
    }
}

static void add_kpis(mb *b, const agg_state *st)
{
    for (uint32_t i = 0; i < st->n_knum; i++) {
        const agg_knum *k = &st->knum[i];
        uint64_t n = k->sk ? ph_sketch_count(k->sk) : 0;
        add(b, (double)n, "kpi.", k->name, ".count");
        if (!n)
            continue;
        add(b, (double)k->sum / AGG_SCORE_SCALE / (double)n, "kpi.", k->name, ".mean");
        add_quantiles(b, k->sk, "kpi.", k->name, ".", "");
    }
    for (uint32_t i = 0; i < st->n_kbool; i++) {
        const agg_kbool *k = &st->kbool[i];
        add(b, (double)k->n, "kpi.", k->name, ".count");
        if (k->n)
            add(b, (double)k->yes / (double)k->n, "kpi.", k->name, ".rate");
    }
}

int agg_metrics_build(agg_metrics *m, const agg_state *st, const agg_select *sel)
{
    mb b = {m, sel, false, true};
    m->n_all = 0;
    add(&b, (double)st->requests, "requests");
    add(&b, (double)st->errors, "errors");
    if (st->requests)
        add(&b, (double)st->errors / (double)st->requests, "error_rate");
    if (family(&b, AGG_FAM_LATENCY) && st->latency && st->latency_n) {
        add_quantiles(&b, st->latency, "latency", "", "_", "_ms");
        add(&b, (double)st->latency_sum / AGG_LATENCY_SCALE / (double)st->latency_n,
            "latency_mean_ms");
    }
    add(&b, (double)st->tokens_in, "tokens_in");
    add(&b, (double)st->tokens_out, "tokens_out");
    add(&b, (double)st->cost / AGG_COST_SCALE, "cost_usd");
    add(&b, (double)st->invalid, "invalid");
    if (st->requests + st->invalid)
        add(&b, (double)st->invalid / (double)(st->requests + st->invalid), "invalid_rate");
    if (family(&b, AGG_FAM_REASONS))
        add_counts(&b, &st->reasons, "invalid.");
    if (family(&b, AGG_FAM_WARNINGS))
        add_counts(&b, &st->warnings, "warnings.");
    if (family(&b, AGG_FAM_EVAL))
        add_evals(&b, st);
    add(&b, (double)st->fb_count, "feedback.count");
    if (st->fb_thumbs)
        add(&b, (double)st->fb_up / (double)st->fb_thumbs, "feedback.positive_rate");
    if (st->fb_scored)
        add(&b, (double)st->fb_score_sum / AGG_SCORE_SCALE / (double)st->fb_scored,
            "feedback.mean_score");
    if (family(&b, AGG_FAM_FB_LABELS))
        add_counts(&b, &st->fb_labels, "feedback.label.");
    if (family(&b, AGG_FAM_KPI))
        add_kpis(&b, st);
    if (family(&b, AGG_FAM_LAG) && st->lag)
        add_quantiles(&b, st->lag, "lag", "", "_", "_s");
    add(&b, (double)st->judge_cost / AGG_COST_SCALE, "judge_cost_usd");
    add(&b, (double)st->judge_tokens, "judge_tokens");
    add(&b, (double)st->late_records, "late_records");
    m->n_valid = b.oom ? 0 : m->n_all;
    if (b.oom)
        return PH_ENOMEM;
    /* The selected metrics, now that the character buffer no longer moves. */
    m->n = 0;
    for (size_t i = 0; i < m->n_all; i++) {
        if (!m->want[i])
            continue;
        m->names[m->n] = m->chars + m->offs[i];
        m->values[m->n++] = m->all[i];
    }
    return PH_OK;
}
