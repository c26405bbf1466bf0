/* The registry renders exact Prometheus 0.0.4 text: families grouped, labels escaped, histogram
 * buckets cumulative, and lock-free updates from many threads sum exactly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"
#include "ph_log.h"
#include "ph_metrics.h"

static char *render(ph_metrics *m)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(ph_metrics_render(m, &out, &len), 0);
    assert_non_null(out);
    assert_int_equal(len, strlen(out));
    return out;
}

static double queue_len(void *arg)
{
    return *(int *)arg;
}

static void test_render_exact(void **state)
{
    ph_metrics *m = ph_metrics_new();
    int queue = 7;
    static const double bounds[] = {0.1, 1};
    ph_counter *c = ph_metrics_counter(m, "pharos_records_total", "Records seen.", NULL);
    ph_gauge *g = ph_metrics_gauge(m, "pharos_temperature", "A gauge.", "room=\"a\"");
    ph_histogram *h =
        ph_metrics_histogram(m, "pharos_latency_seconds", "Latency.", NULL, bounds, 2);
    assert_int_equal(
        ph_metrics_gauge_fn(m, "pharos_queue_length", "Queued.", NULL, queue_len, &queue), 0);
    assert_non_null(c);
    assert_non_null(g);
    assert_non_null(h);
    ph_counter_add(c, 41);
    ph_counter_inc(c);
    ph_gauge_set(g, 2.5);
    ph_gauge_add(g, -1);
    ph_histogram_observe(h, 0.05);
    ph_histogram_observe(h, 3);
    char *out = render(m);
    assert_string_equal(out, "# HELP pharos_records_total Records seen.\n"
                             "# TYPE pharos_records_total counter\n"
                             "pharos_records_total 42\n"
                             "# HELP pharos_temperature A gauge.\n"
                             "# TYPE pharos_temperature gauge\n"
                             "pharos_temperature{room=\"a\"} 1.5\n"
                             "# HELP pharos_latency_seconds Latency.\n"
                             "# TYPE pharos_latency_seconds histogram\n"
                             "pharos_latency_seconds_bucket{le=\"0.1\"} 1\n"
                             "pharos_latency_seconds_bucket{le=\"1\"} 1\n"
                             "pharos_latency_seconds_bucket{le=\"+Inf\"} 2\n"
                             "pharos_latency_seconds_sum 3.05\n"
                             "pharos_latency_seconds_count 2\n"
                             "# HELP pharos_queue_length Queued.\n"
                             "# TYPE pharos_queue_length gauge\n"
                             "pharos_queue_length 7\n");
    free(out);
    assert_int_equal(ph_counter_get(c), 42);
    assert_true(ph_gauge_get(g) == 1.5);
    ph_metrics_destroy(m);
}

static void test_families_grouped(void **state)
{
    ph_metrics *m = ph_metrics_new();
    ph_counter *a413 = ph_metrics_counter(m, "req_total", "Requests.", "code=\"413\"");
    ph_counter *b = ph_metrics_counter(m, "other_total", "Other.", NULL);
    ph_counter *a200 = ph_metrics_counter(m, "req_total", "ignored help", "code=\"200\"");
    /* The same name and labels is the same series. */
    assert_ptr_equal(ph_metrics_counter(m, "req_total", NULL, "code=\"413\""), a413);
    ph_counter_inc(a413);
    ph_counter_add(a200, 3);
    ph_counter_inc(b);
    char *out = render(m);
    assert_string_equal(out, "# HELP req_total Requests.\n"
                             "# TYPE req_total counter\n"
                             "req_total{code=\"413\"} 1\n"
                             "req_total{code=\"200\"} 3\n"
                             "# HELP other_total Other.\n"
                             "# TYPE other_total counter\n"
                             "other_total 1\n");
    free(out);
    /* One name is one type. */
    assert_null(ph_metrics_gauge(m, "req_total", "x", NULL));
    assert_null(ph_metrics_histogram(m, "req_total", "x", NULL, NULL, 0));
    assert_int_equal(ph_metrics_gauge_fn(m, "req_total", "x", NULL, queue_len, NULL), PH_EINVAL);
    ph_metrics_destroy(m);
}

static void test_escaping(void **state)
{
    ph_metrics *m = ph_metrics_new();
    char labels[128];
    assert_int_equal(
        ph_metrics_labels(labels, sizeof(labels), "topic", "a\"b\\c\nd", "code", "413", NULL), 0);
    assert_string_equal(labels, "topic=\"a\\\"b\\\\c\\nd\",code=\"413\"");
    ph_counter *c =
        ph_metrics_counter(m, "esc_total", "Back\\slash and\nnewline \"kept\".", labels);
    assert_non_null(c);
    char *out = render(m);
    assert_string_equal(out, "# HELP esc_total Back\\\\slash and\\nnewline \"kept\".\n"
                             "# TYPE esc_total counter\n"
                             "esc_total{topic=\"a\\\"b\\\\c\\nd\",code=\"413\"} 0\n");
    free(out);

    /* Label sets that are not valid exposition text are refused. */
    assert_null(ph_metrics_counter(m, "bad_total", "", "topic=\"a\"b\""));
    assert_null(ph_metrics_counter(m, "bad_total", "", "topic=\"a\","));
    assert_null(ph_metrics_counter(m, "bad_total", "", "topic=unquoted"));
    assert_null(ph_metrics_counter(m, "bad_total", "", "1x=\"a\""));
    assert_null(ph_metrics_counter(m, "bad_total", "", "__name__=\"a\""));
    assert_null(ph_metrics_counter(m, "bad_total", "", "t=\"a\\t\""));
    assert_null(ph_metrics_counter(m, "bad-name", "", NULL));
    assert_null(ph_metrics_histogram(m, "bad_h", "", "le=\"1\"", NULL, 0));
    assert_int_equal(ph_metrics_labels(labels, sizeof(labels), "bad-name", "x", NULL), PH_EINVAL);
    assert_int_equal(ph_metrics_labels(labels, 8, "topic", "too long", NULL), PH_ERANGE);
    assert_int_equal(ph_metrics_labels(labels, sizeof(labels), NULL), 0);
    assert_string_equal(labels, "");
    ph_metrics_destroy(m);
}

static void test_histogram_cumulative(void **state)
{
    ph_metrics *m = ph_metrics_new();
    static const double bounds[] = {1, 2.5, 5, INFINITY};
    static const double unordered[] = {1, 1};
    ph_histogram *h = ph_metrics_histogram(m, "size_bytes", "Sizes.", "topic=\"t\"", bounds, 4);
    assert_non_null(h);
    const double obs[] = {0.5, 1, 2, 3, 100, NAN};
    for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
        ph_histogram_observe(h, obs[i]);
    assert_int_equal(ph_histogram_count(h), 5);
    char *out = render(m);
    assert_string_equal(out, "# HELP size_bytes Sizes.\n"
                             "# TYPE size_bytes histogram\n"
                             "size_bytes_bucket{topic=\"t\",le=\"1\"} 2\n"
                             "size_bytes_bucket{topic=\"t\",le=\"2.5\"} 3\n"
                             "size_bytes_bucket{topic=\"t\",le=\"5\"} 4\n"
                             "size_bytes_bucket{topic=\"t\",le=\"+Inf\"} 5\n"
                             "size_bytes_sum{topic=\"t\"} 106.5\n"
                             "size_bytes_count{topic=\"t\"} 5\n");
    free(out);
    /* Same family, other bounds: refused. Unordered bounds: refused. */
    assert_null(ph_metrics_histogram(m, "size_bytes", "", "topic=\"u\"", bounds, 2));
    assert_null(ph_metrics_histogram(m, "other_bytes", "", NULL, unordered, 2));
    assert_ptr_equal(ph_metrics_histogram(m, "size_bytes", "", "topic=\"t\"", bounds, 3), h);
    ph_metrics_destroy(m);
}

enum { THREADS = 8, ITERATIONS = 100000 };

typedef struct shared {
    ph_counter *c;
    ph_gauge *g;
    ph_histogram *h;
} shared;

static void *hammer(void *arg)
{
    shared *sh = arg;
    for (int i = 0; i < ITERATIONS; i++) {
        ph_counter_inc(sh->c);
        ph_gauge_add(sh->g, 1);
        ph_histogram_observe(sh->h, (i % 4) * 0.5); /* 0, 0.5, 1, 1.5 */
    }
    return NULL;
}

static void test_concurrent_updates(void **state)
{
    ph_metrics *m = ph_metrics_new();
    static const double bounds[] = {0.5, 1};
    shared sh = {
        .c = ph_metrics_counter(m, "hits_total", "Hits.", NULL),
        .g = ph_metrics_gauge(m, "level", "Level.", NULL),
        .h = ph_metrics_histogram(m, "obs", "Obs.", NULL, bounds, 2),
    };
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, hammer, &sh), 0);
    /* Rendering while the updates run must be safe too. */
    for (int i = 0; i < 20; i++)
        free(render(m));
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    assert_int_equal(ph_counter_get(sh.c), (uint64_t)THREADS * ITERATIONS);
    assert_true(ph_gauge_get(sh.g) == (double)THREADS * ITERATIONS);
    assert_int_equal(ph_histogram_count(sh.h), (uint64_t)THREADS * ITERATIONS);
    char *out = render(m);
    char expect[512];
    /* per thread: 0 and 0.5 land in le=0.5, 1 in le=1, 1.5 in +Inf; sum = 3 per 4 observations */
    snprintf(expect, sizeof(expect),
             "obs_bucket{le=\"0.5\"} %d\nobs_bucket{le=\"1\"} %d\nobs_bucket{le=\"+Inf\"} %d\n"
             "obs_sum %d\nobs_count %d\n",
             THREADS * ITERATIONS / 2, THREADS * ITERATIONS * 3 / 4, THREADS * ITERATIONS,
             THREADS * ITERATIONS / 4 * 3, THREADS * ITERATIONS);
    assert_non_null(strstr(out, expect));
    free(out);
    ph_metrics_destroy(m);
}

static void test_destroy_null(void **state)
{
    ph_metrics_destroy(NULL);
    ph_metrics *m = ph_metrics_new();
    char *out = render(m);
    assert_string_equal(out, "");
    free(out);
    ph_metrics_destroy(m);
}

int main(void)
{
    ph_log_set_level(PH_LOG_ERROR); /* the refusals above log warnings */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_exact),       cmocka_unit_test(test_families_grouped),
        cmocka_unit_test(test_escaping),           cmocka_unit_test(test_histogram_cumulative),
        cmocka_unit_test(test_concurrent_updates), cmocka_unit_test(test_destroy_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
