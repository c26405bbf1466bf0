/* Prometheus registry: families in a list under one mutex, values in C11 atomics.
 *
 * Doubles (gauges, histogram sums) live in _Atomic uint64_t holding their bit pattern, because
 * _Atomic double has no fetch_add: additions are compare-and-swap loops. Histogram buckets are
 * stored non-cumulative (one increment per observation) and summed at render time. */
#include "ph_metrics.h"
#include "ph_error.h"
#include "ph_log.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum family_type { FAM_COUNTER, FAM_GAUGE, FAM_HISTOGRAM };

static const char *const type_names[] = {"counter", "gauge", "histogram"};

struct ph_counter {
    _Atomic uint64_t value;
};

struct ph_gauge {
    _Atomic uint64_t bits; /* a double */
};

struct ph_histogram {
    size_t nbounds;
    const double *bounds;       /* the family's copy */
    _Atomic uint64_t sum_bits;  /* a double */
    _Atomic uint64_t buckets[]; /* nbounds + 1: the last one is (last bound, +Inf) */
};

typedef struct series {
    struct series *next;
    char *labels; /* "" when none */
    double (*fn)(void *arg);
    void *arg;
    ph_counter counter;
    ph_gauge gauge;
    ph_histogram *hist;
} series;

typedef struct family {
    struct family *next;
    enum family_type type;
    char *name;
    char *help;
    double *bounds; /* histograms only */
    size_t nbounds;
    series *first, *last;
} family;

struct ph_metrics {
    pthread_mutex_t mu;
    family *first, *last;
};

/* --- doubles in atomics --------------------------------------------------------------------- */

static uint64_t dbl_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static double bits_dbl(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

static void atomic_add_double(_Atomic uint64_t *bits, double delta)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(bits, &old, dbl_bits(bits_dbl(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

/* --- updates (lock-free) -------------------------------------------------------------------- */

void ph_counter_add(ph_counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

void ph_counter_inc(ph_counter *c)
{
    atomic_fetch_add_explicit(&c->value, 1, memory_order_relaxed);
}

uint64_t ph_counter_get(const ph_counter *c)
{
    return atomic_load_explicit(&((ph_counter *)c)->value, memory_order_relaxed);
}

void ph_gauge_set(ph_gauge *g, double v)
{
    atomic_store_explicit(&g->bits, dbl_bits(v), memory_order_relaxed);
}

void ph_gauge_add(ph_gauge *g, double delta)
{
    atomic_add_double(&g->bits, delta);
}

double ph_gauge_get(const ph_gauge *g)
{
    return bits_dbl(atomic_load_explicit(&((ph_gauge *)g)->bits, memory_order_relaxed));
}

void ph_histogram_observe(ph_histogram *h, double v)
{
    if (isnan(v))
        return;
    /* Binary search for the first bound >= v; nbounds means the +Inf bucket. */
    size_t lo = 0, hi = h->nbounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= h->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    atomic_fetch_add_explicit(&h->buckets[lo], 1, memory_order_relaxed);
    atomic_add_double(&h->sum_bits, v);
}

uint64_t ph_histogram_count(const ph_histogram *h)
{
    uint64_t total = 0;
    for (size_t i = 0; i <= h->nbounds; i++)
        total += atomic_load_explicit(&((ph_histogram *)h)->buckets[i], memory_order_relaxed);
    return total;
}

/* --- validation ----------------------------------------------------------------------------- */

static bool valid_metric_name(const char *name)
{
    if (name == NULL || !(*name == '_' || *name == ':' || (*name >= 'a' && *name <= 'z') ||
                          (*name >= 'A' && *name <= 'Z')))
        return false;
    for (const char *p = name + 1; *p; p++) {
        if (!(*p == '_' || *p == ':' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9')))
            return false;
    }
    return true;
}

/* Length of the label name at p, or 0 if p does not start with one. */
static size_t label_name_len(const char *p)
{
    size_t n = 0;
    if (!(p[0] == '_' || (p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z')))
        return 0;
    for (n = 1; p[n] == '_' || (p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') ||
                (p[n] >= '0' && p[n] <= '9');
         n++) {
    }
    return n;
}

static bool reserved_label(const char *name, size_t n, bool histogram)
{
    if (n >= 2 && name[0] == '_' && name[1] == '_')
        return true; /* reserved for Prometheus itself */
    return histogram && n == 2 && name[0] == 'l' && name[1] == 'e';
}

/* Checks a preformatted label set: name="value"(,name="value")* with \\ \" \n escapes only. */
static bool valid_labels(const char *labels, bool histogram)
{
    const char *p = labels;
    if (p == NULL || *p == '\0')
        return true;
    for (;;) {
        size_t n = label_name_len(p);
        if (n == 0 || reserved_label(p, n, histogram))
            return false;
        p += n;
        if (p[0] != '=' || p[1] != '"')
            return false;
        for (p += 2; *p != '"'; p++) {
            if (*p == '\0' || *p == '\n')
                return false;
            if (*p == '\\') {
                p++;
                if (*p != '\\' && *p != '"' && *p != 'n')
                    return false;
            }
        }
        p++; /* closing quote */
        if (*p == '\0')
            return true;
        if (*p != ',' || p[1] == '\0')
            return false;
        p++;
    }
}

static bool valid_bounds(const double *bounds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
            return false;
    }
    return true;
}

/* --- registration --------------------------------------------------------------------------- */

ph_metrics *ph_metrics_new(void)
{
    ph_metrics *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

static void series_free(series *s)
{
    if (s == NULL)
        return;
    free(s->labels);
    free(s->hist);
    free(s);
}

static void family_free(family *f)
{
    if (f == NULL)
        return;
    for (series *s = f->first, *next; s != NULL; s = next) {
        next = s->next;
        series_free(s);
    }
    free(f->name);
    free(f->help);
    free(f->bounds);
    free(f);
}

void ph_metrics_destroy(ph_metrics *m)
{
    if (m == NULL)
        return;
    for (family *f = m->first, *next; f != NULL; f = next) {
        next = f->next;
        family_free(f);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static family *find_family(ph_metrics *m, const char *name)
{
    for (family *f = m->first; f != NULL; f = f->next) {
        if (strcmp(f->name, name) == 0)
            return f;
    }
    return NULL;
}

static series *find_series(family *f, const char *labels)
{
    for (series *s = f->first; s != NULL; s = s->next) {
        if (strcmp(s->labels, labels) == 0)
            return s;
    }
    return NULL;
}

/* Finds or creates the family; with the mutex held. Histogram bounds are already validated. */
static family *get_family(ph_metrics *m, const char *name, const char *help, enum family_type type,
                          const double *bounds, size_t nbounds)
{
    family *f = find_family(m, name);
    if (f != NULL) {
        if (f->type != type) {
            ph_log_warn("metrics", "%s is already a %s, not a %s", name, type_names[f->type],
                        type_names[type]);
            return NULL;
        }
        if (type == FAM_HISTOGRAM &&
            (f->nbounds != nbounds ||
             (nbounds > 0 && memcmp(f->bounds, bounds, nbounds * sizeof(double)) != 0))) {
            ph_log_warn("metrics", "%s: every series of a histogram needs the same buckets", name);
            return NULL;
        }
        return f;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help != NULL ? help : "");
    if (f->name == NULL || f->help == NULL)
        goto fail;
    if (nbounds > 0) {
        f->bounds = malloc(nbounds * sizeof(double));
        if (f->bounds == NULL)
            goto fail;
        memcpy(f->bounds, bounds, nbounds * sizeof(double));
        f->nbounds = nbounds;
    }
    if (m->last != NULL)
        m->last->next = f;
    else
        m->first = f;
    m->last = f;
    return f;
fail:
    family_free(f);
    return NULL;
}

static series *add_series(family *f, const char *labels)
{
    series *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->labels = strdup(labels);
    if (s->labels == NULL)
        goto fail;
    if (f->type == FAM_HISTOGRAM) {
        s->hist = calloc(1, sizeof(*s->hist) + (f->nbounds + 1) * sizeof(_Atomic uint64_t));
        if (s->hist == NULL)
            goto fail;
        s->hist->nbounds = f->nbounds;
        s->hist->bounds = f->bounds;
    }
    if (f->last != NULL)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    return s;
fail:
    series_free(s);
    return NULL;
}

/* The common registration path: validates, then finds or creates the family and series.
 * *created tells whether the series is new. Returns 0, PH_EINVAL or PH_ENOMEM. */
static int register_series(ph_metrics *m, const char *name, const char *help, const char *labels,
                           enum family_type type, const double *bounds, size_t nbounds,
                           series **out, bool *created)
{
    int rv = PH_OK;
    if (labels == NULL)
        labels = "";
    if (!valid_metric_name(name)) {
        ph_log_warn("metrics", "invalid metric name '%s'", name != NULL ? name : "(null)");
        return PH_EINVAL;
    }
    if (!valid_labels(labels, type == FAM_HISTOGRAM)) {
        ph_log_warn("metrics", "%s: invalid label set '%s'", name, labels);
        return PH_EINVAL;
    }
    pthread_mutex_lock(&m->mu);
    bool exists = find_family(m, name) != NULL;
    family *f = get_family(m, name, help, type, bounds, nbounds);
    if (f == NULL) {
        rv = exists ? PH_EINVAL : PH_ENOMEM;
        goto out;
    }
    series *s = find_series(f, labels);
    *created = s == NULL;
    if (s == NULL && (s = add_series(f, labels)) == NULL) {
        rv = PH_ENOMEM;
        goto out;
    }
    if (!*created && s->fn != NULL) {
        ph_log_warn("metrics", "%s{%s} is already a callback gauge", name, labels);
        rv = PH_EINVAL;
        goto out;
    }
    *out = s;
out:
    pthread_mutex_unlock(&m->mu);
    return rv;
}

ph_counter *ph_metrics_counter(ph_metrics *m, const char *name, const char *help,
                               const char *labels)
{
    series *s;
    bool created;
    if (register_series(m, name, help, labels, FAM_COUNTER, NULL, 0, &s, &created) != PH_OK)
        return NULL;
    return &s->counter;
}

ph_gauge *ph_metrics_gauge(ph_metrics *m, const char *name, const char *help, const char *labels)
{
    series *s;
    bool created;
    if (register_series(m, name, help, labels, FAM_GAUGE, NULL, 0, &s, &created) != PH_OK)
        return NULL;
    return &s->gauge;
}

int ph_metrics_gauge_fn(ph_metrics *m, const char *name, const char *help, const char *labels,
                        double (*fn)(void *arg), void *arg)
{
    series *s;
    bool created;
    if (fn == NULL)
        return PH_EINVAL;
    int rv = register_series(m, name, help, labels, FAM_GAUGE, NULL, 0, &s, &created);
    if (rv != PH_OK)
        return rv;
    if (!created) {
        ph_log_warn("metrics", "%s{%s} is already registered", name, labels ? labels : "");
        return PH_EINVAL;
    }
    pthread_mutex_lock(&m->mu); /* render reads fn under the mutex */
    s->fn = fn;
    s->arg = arg;
    pthread_mutex_unlock(&m->mu);
    return PH_OK;
}

ph_histogram *ph_metrics_histogram(ph_metrics *m, const char *name, const char *help,
                                   const char *labels, const double *bounds, size_t n)
{
    series *s;
    bool created;
    if (n > 0 && bounds == NULL)
        return NULL;
    if (n > 0 && isinf(bounds[n - 1]) && bounds[n - 1] > 0)
        n--; /* +Inf is implicit */
    if (!valid_bounds(bounds, n)) {
        ph_log_warn("metrics", "%s: bucket bounds must be finite and increasing", name);
        return NULL;
    }
    if (register_series(m, name, help, labels, FAM_HISTOGRAM, bounds, n, &s, &created) != PH_OK)
        return NULL;
    return s->hist;
}

/* --- rendering ------------------------------------------------------------------------------ */

typedef struct strbuf {
    char *p;
    size_t len, cap;
    bool failed;
} strbuf;

static void sb_reserve(strbuf *sb, size_t more)
{
    if (sb->failed || sb->len + more + 1 <= sb->cap)
        return;
    size_t cap = sb->cap ? sb->cap : 4096;
    while (cap < sb->len + more + 1)
        cap *= 2;
    char *p = realloc(sb->p, cap);
    if (p == NULL) {
        sb->failed = true;
        return;
    }
    sb->p = p;
    sb->cap = cap;
}

static void sb_put(strbuf *sb, const char *s, size_t n)
{
    sb_reserve(sb, n);
    if (sb->failed)
        return;
    memcpy(sb->p + sb->len, s, n);
    sb->len += n;
    sb->p[sb->len] = '\0';
}

static void sb_puts(strbuf *sb, const char *s)
{
    sb_put(sb, s, strlen(s));
}

/* Shortest text that reads back as the same double; Prometheus spellings for the specials. */
static void format_double(char *buf, size_t size, double v)
{
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) { /* integers as integers, not 6e+05 */
        snprintf(buf, size, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/* HELP text escapes only backslash and newline. */
static void put_help(strbuf *sb, const char *help)
{
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            sb_puts(sb, "\\\\");
        else if (*p == '\n')
            sb_puts(sb, "\\n");
        else
            sb_put(sb, p, 1);
    }
}

/* name[suffix]{labels[,extra]} value\n */
static void put_sample(strbuf *sb, const char *name, const char *suffix, const char *labels,
                       const char *extra, const char *value)
{
    sb_puts(sb, name);
    sb_puts(sb, suffix);
    if (labels[0] != '\0' || extra != NULL) {
        sb_puts(sb, "{");
        sb_puts(sb, labels);
        if (extra != NULL) {
            if (labels[0] != '\0')
                sb_puts(sb, ",");
            sb_puts(sb, extra);
        }
        sb_puts(sb, "}");
    }
    sb_puts(sb, " ");
    sb_puts(sb, value);
    sb_puts(sb, "\n");
}

static void put_histogram(strbuf *sb, const family *f, const series *s)
{
    char value[32], le[48], num[32];
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= s->hist->nbounds; i++) {
        cumulative += atomic_load_explicit(&s->hist->buckets[i], memory_order_relaxed);
        if (i < s->hist->nbounds) {
            format_double(num, sizeof(num), s->hist->bounds[i]);
            snprintf(le, sizeof(le), "le=\"%s\"", num);
        } else {
            snprintf(le, sizeof(le), "le=\"+Inf\"");
        }
        snprintf(value, sizeof(value), "%llu", (unsigned long long)cumulative);
        put_sample(sb, f->name, "_bucket", s->labels, le, value);
    }
    format_double(num, sizeof(num),
                  bits_dbl(atomic_load_explicit(&s->hist->sum_bits, memory_order_relaxed)));
    put_sample(sb, f->name, "_sum", s->labels, NULL, num);
    put_sample(sb, f->name, "_count", s->labels, NULL, value);
}

static void put_family(strbuf *sb, const family *f)
{
    char value[32];
    if (f->help[0] != '\0') {
        sb_puts(sb, "# HELP ");
        sb_puts(sb, f->name);
        sb_puts(sb, " ");
        put_help(sb, f->help);
        sb_puts(sb, "\n");
    }
    sb_puts(sb, "# TYPE ");
    sb_puts(sb, f->name);
    sb_puts(sb, " ");
    sb_puts(sb, type_names[f->type]);
    sb_puts(sb, "\n");
    for (const series *s = f->first; s != NULL; s = s->next) {
        switch (f->type) {
        case FAM_COUNTER:
            snprintf(value, sizeof(value), "%llu", (unsigned long long)ph_counter_get(&s->counter));
            put_sample(sb, f->name, "", s->labels, NULL, value);
            break;
        case FAM_GAUGE:
            format_double(value, sizeof(value),
                          s->fn != NULL ? s->fn(s->arg) : ph_gauge_get(&s->gauge));
            put_sample(sb, f->name, "", s->labels, NULL, value);
            break;
        case FAM_HISTOGRAM:
            put_histogram(sb, f, s);
            break;
        }
    }
}

int ph_metrics_render(ph_metrics *m, char **out, size_t *len)
{
    strbuf sb = {0};
    sb_reserve(&sb, 0);
    if (!sb.failed)
        sb.p[0] = '\0'; /* an empty registry renders as "" */
    pthread_mutex_lock(&m->mu);
    for (const family *f = m->first; f != NULL; f = f->next)
        put_family(&sb, f);
    pthread_mutex_unlock(&m->mu);
    if (sb.failed) {
        free(sb.p);
        return PH_ENOMEM;
    }
    *out = sb.p;
    *len = sb.len;
    return PH_OK;
}

/* --- label sets ----------------------------------------------------------------------------- */

int ph_metrics_labels(char *buf, size_t size, ...)
{
    va_list ap;
    size_t n = 0;
    int rv = PH_OK;
    va_start(ap, size);
    for (const char *name; (name = va_arg(ap, const char *)) != NULL;) {
        const char *value = va_arg(ap, const char *);
        size_t nlen = label_name_len(name);
        if (nlen == 0 || name[nlen] != '\0' || reserved_label(name, nlen, false)) {
            rv = PH_EINVAL;
            goto out;
        }
        /* worst case: separator, name, =", every byte escaped, closing quote, NUL */
        if (n + 1 + nlen + 2 + 2 * strlen(value != NULL ? value : "") + 2 > size) {
            rv = PH_ERANGE;
            goto out;
        }
        if (n > 0)
            buf[n++] = ',';
        memcpy(buf + n, name, nlen);
        n += nlen;
        buf[n++] = '=';
        buf[n++] = '"';
        for (const char *p = value != NULL ? value : ""; *p; p++) {
            if (*p == '\\' || *p == '"' || *p == '\n') {
                buf[n++] = '\\';
                buf[n++] = *p == '\n' ? 'n' : *p;
            } else {
                buf[n++] = *p;
            }
        }
        buf[n++] = '"';
    }
    if (size == 0) {
        rv = PH_ERANGE;
        goto out;
    }
    buf[n] = '\0';
out:
    va_end(ap);
    return rv;
}
