/* A Prometheus metrics registry rendered in the text exposition format 0.0.4.
 *
 * A registry holds families (one per metric name: one # HELP / # TYPE block) of series (one per
 * label set). Series are counters, gauges, callback gauges or histograms.
 *
 * Threads and locks:
 *  - Registration (ph_metrics_counter/_gauge/_gauge_fn/_histogram) takes the registry mutex. It
 *    normally happens at start-up, but is safe from any thread at any time, so a layer may register
 *    a series lazily the first time it sees a new label value (the HTTP layer does this for status
 *    codes). Registering the same name and label set again returns the existing series.
 *  - Updates (ph_counter_add, ph_gauge_set, ph_histogram_observe...) are lock-free C11 atomics and
 *    may be called from any thread, on hot paths, once per record.
 *  - ph_metrics_render takes the registry mutex and reads the atomics: a render that races with
 *    updates may see a histogram whose _sum lags its _count by the observations in flight;
 *    _count always equals the +Inf bucket.
 *
 * Ownership: the registry owns every series it returns; the pointers stay valid until
 * ph_metrics_destroy(), which must not run while another thread still updates them.
 *
 * Labels: a label set is passed preformatted and already escaped, e.g. `topic="x",code="413"`,
 * or NULL / "" for none. It is validated at registration (names [a-zA-Z_][a-zA-Z0-9_]*, values
 * in double quotes with only \\, \" and \n escapes). Build one from raw values with
 * ph_metrics_labels(), which escapes them. Histograms reserve the label name "le". */
#ifndef PH_METRICS_H
#define PH_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ph_metrics ph_metrics;
typedef struct ph_counter ph_counter;
typedef struct ph_gauge ph_gauge;
typedef struct ph_histogram ph_histogram;

/* Creates an empty registry. Returns NULL only on allocation failure. */
ph_metrics *ph_metrics_new(void);

/* Frees the registry and every series in it. NULL is a no-op. */
void ph_metrics_destroy(ph_metrics *m);

/* Registers (or finds) the counter `name`{labels}. `help` is used when the family is first
 * created; later registrations of the same name keep the first help text. Returns NULL (and logs
 * why) when the name or labels are invalid, when `name` is already a family of another type, or
 * on allocation failure. */
ph_counter *ph_metrics_counter(ph_metrics *m, const char *name, const char *help,
                               const char *labels);
void ph_counter_add(ph_counter *c, uint64_t n);
void ph_counter_inc(ph_counter *c);
uint64_t ph_counter_get(const ph_counter *c);

/* Registers (or finds) the gauge `name`{labels}, initially 0. Same rules as counters. */
ph_gauge *ph_metrics_gauge(ph_metrics *m, const char *name, const char *help, const char *labels);
void ph_gauge_set(ph_gauge *g, double v);
void ph_gauge_add(ph_gauge *g, double delta); /* delta may be negative */
double ph_gauge_get(const ph_gauge *g);

/* Registers a gauge whose value is read by calling fn(arg) at render time (e.g. a producer's
 * queue length). fn runs on the rendering thread with the registry mutex held: it must be quick
 * and must not call into the registry. `arg` is borrowed and must outlive the registry (or at
 * least every render). Returns 0, PH_EINVAL (bad name/labels, type clash, or this name+labels
 * already registered) or PH_ENOMEM. */
int ph_metrics_gauge_fn(ph_metrics *m, const char *name, const char *help, const char *labels,
                        double (*fn)(void *arg), void *arg);

/* Registers (or finds) a histogram with the n upper bounds in `bounds` (copied; finite and
 * strictly increasing; a trailing +Inf is accepted and ignored, the +Inf bucket is always
 * added). Every series of one family must use the same bounds, else NULL. */
ph_histogram *ph_metrics_histogram(ph_metrics *m, const char *name, const char *help,
                                   const char *labels, const double *bounds, size_t n);
/* Counts v in the first bucket whose bound is >= v (Prometheus "le" semantics). NaN is ignored. */
void ph_histogram_observe(ph_histogram *h, double v);
/* Total number of observations so far. */
uint64_t ph_histogram_count(const ph_histogram *h);

/* Renders every family, in registration order, as text format 0.0.4. On success *out is a
 * NUL-terminated malloc'ed string the caller frees, and *len its length without the NUL.
 * Returns 0 or PH_ENOMEM. */
int ph_metrics_render(ph_metrics *m, char **out, size_t *len);

/* Writes a label set `k1="v1",k2="v2"` into buf from NULL-terminated name, value pairs, escaping
 * the values (\\, \", \n), e.g. ph_metrics_labels(buf, sizeof(buf), "topic", t, "code", "413",
 * NULL). Returns 0, PH_EINVAL (a bad label name) or PH_ERANGE (does not fit). */
int ph_metrics_labels(char *buf, size_t size, ...) __attribute__((sentinel));

#endif
