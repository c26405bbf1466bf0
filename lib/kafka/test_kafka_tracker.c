/* The offset tracker against a model, under random completion orders, gaps in offsets,
 * forgotten partitions and threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"
#include "ph_kafka_tracker.h"

#define NPARTS 3
#define NRECS  2000

typedef struct model {
    int64_t offsets[NPARTS][NRECS];
    bool done[NPARTS][NRECS];
    int64_t stored[NPARTS]; /* last next_offset stored through flush, -1 none */
    int stores;
} model;

/* The committable offset the model expects: the last added offset before the first pending. */
static int64_t expected(const model *m, int p)
{
    int64_t last = -1;
    for (int i = 0; i < NRECS; i++) {
        if (!m->done[p][i])
            break;
        last = m->offsets[p][i];
    }
    return last;
}

static int record_store(void *arg, const char *topic, int32_t partition, int64_t next_offset)
{
    model *m = arg;
    assert_string_equal(topic, "t");
    assert_true(partition >= 0 && partition < NPARTS);
    assert_true(next_offset > m->stored[partition]); /* only ever forward */
    m->stored[partition] = next_offset;
    m->stores++;
    return 0;
}

static void test_random_orders(void **state)
{
    unsigned seed = 12345;
    for (int round = 0; round < 20; round++) {
        model *m = calloc(1, sizeof(*m));
        ph_kafka_tracker *t = NULL;
        assert_int_equal(ph_kafka_tracker_new(&t), 0);
        /* offsets with random gaps (transaction markers), added in order per partition */
        for (int p = 0; p < NPARTS; p++) {
            int64_t off = rand_r(&seed) % 10;
            for (int i = 0; i < NRECS; i++) {
                m->offsets[p][i] = off;
                assert_int_equal(ph_kafka_tracker_add(t, "t", p, off), 0);
                off += 1 + (rand_r(&seed) % 4 == 0 ? rand_r(&seed) % 3 : 0);
            }
            m->stored[p] = -1;
        }
        assert_int_equal(ph_kafka_tracker_pending(t, NULL, 0), NPARTS * NRECS);
        int64_t x;
        assert_int_equal(ph_kafka_tracker_committable(t, "t", 0, &x), PH_ENOENT);
        /* complete everything in a random order; the most recent records complete more often
         * late, as with slow evaluations */
        int total = NPARTS * NRECS;
        int *order = malloc(sizeof(int) * (size_t)total);
        for (int i = 0; i < total; i++)
            order[i] = i;
        for (int i = total - 1; i > 0; i--) {
            int j = rand_r(&seed) % (i + 1);
            int tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        for (int k = 0; k < total; k++) {
            int p = order[k] % NPARTS, i = order[k] / NPARTS;
            m->done[p][i] = true;
            ph_kafka_tracker_done(t, "t", p, m->offsets[p][i]);
            if (rand_r(&seed) % 7 == 0) /* a duplicate done is ignored */
                ph_kafka_tracker_done(t, "t", p, m->offsets[p][i]);
            if (k % 97 == 0 || k == total - 1) {
                for (int q = 0; q < NPARTS; q++) {
                    int64_t want = expected(m, q);
                    int rc = ph_kafka_tracker_committable(t, "t", q, &x);
                    if (want < 0) {
                        assert_int_equal(rc, PH_ENOENT);
                    } else {
                        assert_int_equal(rc, 0);
                        assert_int_equal(x, want);
                    }
                }
                ph_kafka_tracker_flush(t, record_store, m);
                for (int q = 0; q < NPARTS; q++) {
                    int64_t want = expected(m, q);
                    assert_int_equal(m->stored[q], want < 0 ? -1 : want + 1);
                }
            }
        }
        assert_int_equal(ph_kafka_tracker_pending(t, NULL, 0), 0);
        for (int p = 0; p < NPARTS; p++)
            assert_int_equal(m->stored[p], m->offsets[p][NRECS - 1] + 1);
        /* nothing moved: nothing stored again */
        int stores = m->stores;
        assert_int_equal(ph_kafka_tracker_flush(t, record_store, m), 0);
        assert_int_equal(m->stores, stores);
        free(order);
        free(m);
        ph_kafka_tracker_destroy(t);
    }
}

static void test_failed_record_holds_back(void **state)
{
    ph_kafka_tracker *t = NULL;
    int64_t x;
    assert_int_equal(ph_kafka_tracker_new(&t), 0);
    for (int64_t o = 100; o < 110; o++)
        assert_int_equal(ph_kafka_tracker_add(t, "t", 5, o), 0);
    /* 103 never completes (its Evaluations were not delivered) */
    for (int64_t o = 100; o < 110; o++)
        if (o != 103)
            ph_kafka_tracker_done(t, "t", 5, o);
    assert_int_equal(ph_kafka_tracker_committable(t, "t", 5, &x), 0);
    assert_int_equal(x, 102);
    assert_int_equal(ph_kafka_tracker_pending(t, "t", 5), 1);
    assert_int_equal(ph_kafka_tracker_pending(t, "t", 6), 0);
    assert_int_equal(ph_kafka_tracker_pending(t, "u", 5), 0);
    /* unknown partitions and offsets are ignored */
    ph_kafka_tracker_done(t, "t", 6, 103);
    ph_kafka_tracker_done(t, "u", 5, 103);
    ph_kafka_tracker_done(t, "t", 5, 99);
    ph_kafka_tracker_done(t, "t", 5, 1000);
    assert_int_equal(ph_kafka_tracker_pending(t, "t", 5), 1);
    /* offsets go forward only */
    assert_int_equal(ph_kafka_tracker_add(t, "t", 5, 109), PH_EINVAL);
    assert_int_equal(ph_kafka_tracker_add(t, "t", 5, 50), PH_EINVAL);
    /* revoked: forget; a late completion is ignored; the partition restarts from the
     * committed offset when assigned again */
    ph_kafka_tracker_forget(t, "t", 5);
    ph_kafka_tracker_done(t, "t", 5, 103);
    assert_int_equal(ph_kafka_tracker_committable(t, "t", 5, &x), PH_ENOENT);
    assert_int_equal(ph_kafka_tracker_add(t, "t", 5, 103), 0);
    ph_kafka_tracker_done(t, "t", 5, 103);
    assert_int_equal(ph_kafka_tracker_committable(t, "t", 5, &x), 0);
    assert_int_equal(x, 103);
    ph_kafka_tracker_forget(t, "t", 77); /* unknown: no-op */
    ph_kafka_tracker_destroy(t);
    ph_kafka_tracker_destroy(NULL);
}

typedef struct thread_arg {
    ph_kafka_tracker *t;
    int part;
} thread_arg;

static void *completer(void *p)
{
    thread_arg *a = p;
    /* completes its partition's records from the newest to the oldest: the watermark jumps
     * only at the end */
    for (int64_t o = 3 * NRECS - 3; o >= 0; o -= 3)
        ph_kafka_tracker_done(a->t, "t", a->part, o);
    return NULL;
}

static void test_threads(void **state)
{
    ph_kafka_tracker *t = NULL;
    assert_int_equal(ph_kafka_tracker_new(&t), 0);
    for (int p = 0; p < 4; p++)
        for (int64_t o = 0; o < 3 * NRECS; o += 3)
            assert_int_equal(ph_kafka_tracker_add(t, "t", p, o), 0);
    pthread_t th[4];
    thread_arg args[4];
    for (int p = 0; p < 4; p++) {
        args[p] = (thread_arg){t, p};
        pthread_create(&th[p], NULL, completer, &args[p]);
    }
    for (int p = 0; p < 4; p++)
        pthread_join(th[p], NULL);
    for (int p = 0; p < 4; p++) {
        int64_t x;
        assert_int_equal(ph_kafka_tracker_committable(t, "t", p, &x), 0);
        assert_int_equal(x, 3 * NRECS - 3);
    }
    assert_int_equal(ph_kafka_tracker_pending(t, NULL, 0), 0);
    ph_kafka_tracker_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_orders),
        cmocka_unit_test(test_failed_record_holds_back),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
