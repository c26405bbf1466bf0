/* The judge's flow control against tests/judge_server.py: the token budget, the verdict cache,
 * embeddings, hundreds of requests in flight, the rate limit, a full queue, and destroying with
 * transfers in flight. Throughout: every applying criterion yields exactly one result. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ph_error.h"
#include "ph_log.h"
#include "test_judge_util.h"

static jsrv server;

static int setup(void **state)
{
    return jsrv_start(&server, 0);
}

static int teardown(void **state)
{
    jsrv_stop(&server);
    return 0;
}

static double value(const ph_eval_result *r, const char *name)
{
    for (size_t i = 0; i < r->nvalues; i++)
        if (strcmp(r->values[i].name, name) == 0)
            return r->values[i].value;
    return -1;
}

/* Submits records[i] with opaque i + base, polling while the queue is full. */
static size_t submit_all(ph_judge *j, trec *recs, size_t n, intptr_t base, collector *got)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        int rc;
        while ((rc = ph_judge_submit(j, &recs[i].rec, NULL, 0, (void *)(base + (intptr_t)i), &k)) ==
               PH_EQUEUEFULL)
            ph_judge_poll(j, 10, collect, got);
        assert_int_equal(rc, 0);
        total += k;
    }
    return total;
}

static void test_budget_skips_the_rest(void **state)
{
    /* One at a time, 1000 tokens per reply, 2500 an hour: two verdicts fit, the third's
     * estimate (~600 tokens) does not. */
    ph_judge *j = judge_from("{\"endpoint\":\"%s\",\"model\":\"m\",\"max_inflight\":1,"
                             "\"hourly_token_budget\":2500,\"criteria\":[\"relevance\"]}",
                             server.url);
    trec recs[5];
    char inputs[5][64];
    for (int i = 0; i < 5; i++) {
        snprintf(inputs[i], sizeof(inputs[i]), "[[judge:id=budget;tokens=1000]] question %d", i);
        trec_init(&recs[i], "b", inputs[i], "answer", NULL);
    }
    collector got = {0};
    assert_int_equal(submit_all(j, recs, 5, 0, &got), 5);
    drain(j, &got, 20000);
    assert_int_equal(got.n, 5);
    size_t ok = 0, skipped = 0;
    for (size_t i = 0; i < got.n; i++) {
        const ph_eval_result *r = &got.items[i].r;
        ok += r->status == PH_EVAL_OK;
        if (r->status == PH_EVAL_SKIPPED) {
            skipped++;
            assert_string_equal(r->explanation, "token budget spent");
            assert_int_equal(r->tokens, 0);
        }
    }
    assert_int_equal(ok, 2);
    assert_int_equal(skipped, 3);
    assert_int_equal(jsrv_count(&server, "budget"), 2);
    ph_judge_stats st;
    ph_judge_get_stats(j, &st);
    assert_int_equal(st.tokens_window, 2000);
    assert_int_equal(st.skipped, 3);
    ph_judge_destroy(j, collect, &got);
    collector_free(&got);
}

static void test_cache_avoids_second_request(void **state)
{
    char dir[] = "/tmp/ph_judge_cache_XXXXXX", path[128], config[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/verdicts.db", dir);
    snprintf(config, sizeof(config),
             "{\"endpoint\":\"%%s\",\"model\":\"m\",\"cache_path\":\"%s\",\"criteria\":["
             "\"relevance\",{\"name\":\"emb\",\"type\":\"embedding_similarity\","
             "\"model\":\"e\"}]}",
             path);
    ph_judge *j = judge_from(config, server.url);
    collector got = {0};
    trec t;
    trec_init(&t, "c", "[[judge:id=cache]] Refund window?", "Thirty days.", "Refunds: 30 days.");
    assert_int_equal(submit_all(j, &t, 1, 1, &got), 3);
    drain(j, &got, 10000);
    assert_int_equal(jsrv_count(&server, "cache"), 2); /* one chat, one embeddings */
    const ph_eval_result *first = collector_find(&got, 1, "judge.relevance");
    assert_int_equal(first->status, PH_EVAL_OK);
    assert_float_equal(value(first, "cached"), 0, 0);
    /* The same request again: from the cache, free. */
    assert_int_equal(submit_all(j, &t, 1, 2, &got), 3);
    drain(j, &got, 10000);
    assert_int_equal(jsrv_count(&server, "cache"), 2);
    const ph_eval_result *again = collector_find(&got, 2, "judge.relevance");
    assert_int_equal(again->status, PH_EVAL_OK);
    assert_float_equal(value(again, "cached"), 1, 0);
    assert_int_equal(again->tokens, 0);
    assert_float_equal(again->score, first->score, 0);
    assert_string_equal(again->label, first->label);
    assert_string_equal(again->explanation, first->explanation);
    assert_string_equal(again->version, first->version);
    const ph_eval_result *g1 = collector_find(&got, 1, "judge.emb_groundedness");
    const ph_eval_result *g2 = collector_find(&got, 2, "judge.emb_groundedness");
    assert_float_equal(g1->score, g2->score, 1e-12);
    assert_float_equal(value(g2, "cached"), 1, 0);
    ph_judge_destroy(j, collect, &got);
    /* It survives the process (a new judge on the same file), and a different output is a
     * different request. */
    j = judge_from(config, server.url);
    assert_int_equal(submit_all(j, &t, 1, 3, &got), 3);
    drain(j, &got, 10000);
    assert_int_equal(jsrv_count(&server, "cache"), 2);
    assert_float_equal(value(collector_find(&got, 3, "judge.relevance"), "cached"), 1, 0);
    t.rec.output = tstr("Thirty days from delivery.");
    assert_int_equal(submit_all(j, &t, 1, 4, &got), 3);
    drain(j, &got, 10000);
    assert_int_equal(jsrv_count(&server, "cache"), 4);
    ph_judge_destroy(j, collect, &got);
    for (intptr_t id = 1; id <= 4; id++)
        assert_int_equal(collector_count(&got, id), 3);
    collector_free(&got);
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char f[160];
        snprintf(f, sizeof(f), "%s%s", path, suffix[i]);
        unlink(f);
    }
    rmdir(dir);
}

static void test_embeddings(void **state)
{
    ph_judge *j = judge_from("{\"endpoint\":\"%s\",\"model\":\"m\",\"criteria\":["
                             "{\"name\":\"embedding\",\"type\":\"embedding_similarity\","
                             "\"model\":\"text-embedding-3-small\"}]}",
                             server.url);
    trec t[3];
    trec_init(&t[0], "e1", "what is the refund window for orders",
              "the refund window for orders "
              "is thirty days",
              "orders can be refunded within thirty days");
    trec_init(&t[1], "e2", "what is the refund window for orders", "bananas are yellow",
              "orders can be refunded within thirty days");
    trec_init(&t[2], "e3", "what is the refund window for orders", "thirty days", NULL);
    collector got = {0};
    assert_int_equal(submit_all(j, t, 3, 1, &got), 5);
    drain(j, &got, 10000);
    const ph_eval_result *rel1 = collector_find(&got, 1, "judge.embedding");
    const ph_eval_result *gr1 = collector_find(&got, 1, "judge.embedding_groundedness");
    const ph_eval_result *rel2 = collector_find(&got, 2, "judge.embedding");
    assert_int_equal(rel1->status, PH_EVAL_OK);
    assert_int_equal(gr1->status, PH_EVAL_OK);
    assert_true(rel1->has_score && rel1->score > 0.5 && rel1->score <= 1.0);
    assert_true(gr1->score > 0.3);
    assert_true(rel2->score < rel1->score); /* an unrelated answer is further away */
    assert_true(rel1->tokens > 0);
    assert_int_equal(gr1->tokens, 0); /* the request's tokens are on the first result only */
    assert_int_equal(collector_count(&got, 3), 1); /* no context, no groundedness */
    ph_judge_destroy(j, collect, &got);
    collector_free(&got);
}

#define NMANY 400

static void test_hundreds_in_flight(void **state)
{
    ph_judge *j = judge_from("{\"endpoint\":\"%s\",\"model\":\"m\",\"max_inflight\":400,"
                             "\"criteria\":[\"relevance\"]}",
                             server.url);
    static trec recs[NMANY];
    static char ids[NMANY][16];
    for (int i = 0; i < NMANY; i++) {
        snprintf(ids[i], sizeof(ids[i]), "m%d", i);
        trec_init(&recs[i], ids[i], "[[judge:id=many;delay=200]] Refund window?", ids[i], NULL);
    }
    jsrv_reset(&server);
    collector got = {0};
    assert_int_equal(submit_all(j, recs, NMANY, 0, &got), NMANY);
    int64_t ms = drain(j, &got, 60000);
    ph_judge_stats st;
    ph_judge_get_stats(j, &st);
    printf("%d verdicts of 200 ms each in %lld ms; %zu in flight at most (server saw %d)\n", NMANY,
           (long long)ms, st.max_inflight_seen, jsrv_max_inflight(&server));
    assert_int_equal(got.n, NMANY);
    for (intptr_t i = 0; i < NMANY; i++)
        assert_int_equal(collector_count(&got, i), 1);
    assert_int_equal(st.ok, NMANY);
    assert_true(st.max_inflight_seen >= 300);
    assert_true(jsrv_max_inflight(&server) >= 100);
    assert_true(ms < 15000); /* one at a time would take 80 s */
    ph_judge_destroy(j, collect, &got);
    collector_free(&got);
}

static void test_destroy_with_transfers_in_flight(void **state)
{
    ph_judge *j = judge_from("{\"endpoint\":\"%s\",\"model\":\"m\",\"max_inflight\":50,"
                             "\"timeout_ms\":60000,\"criteria\":[\"relevance\",\"helpfulness\"]}",
                             server.url);
    static trec recs[60];
    for (int i = 0; i < 60; i++)
        trec_init(&recs[i], "d", i < 40 ? "[[judge:hang]] Refund window?" : "Refund window?", "a",
                  NULL);
    collector got = {0};
    assert_int_equal(submit_all(j, recs, 60, 0, &got), 120);
    ph_judge_stats st;
    for (int k = 0; k < 100; k++) { /* until the transfers are on the wire */
        ph_judge_poll(j, 20, collect, &got);
        ph_judge_get_stats(j, &st);
        if (st.inflight == 50 && st.requests >= 50)
            break;
    }
    assert_int_equal(st.inflight, 50);
    assert_true(st.queued > 0);
    ph_judge_destroy(j, collect, &got);
    assert_int_equal(got.n, 120);
    size_t skipped = 0;
    for (intptr_t i = 0; i < 60; i++)
        assert_int_equal(collector_count(&got, i), 2);
    for (size_t i = 0; i < got.n; i++)
        if (got.items[i].r.status == PH_EVAL_SKIPPED) {
            skipped++;
            assert_string_equal(got.items[i].r.explanation, "judge shut down before the verdict");
        }
    assert_true(skipped >= 80); /* at least the 40 hanging records' */
    collector_free(&got);
}

static void test_rate_limit(void **state)
{
    ph_judge *j = judge_from("{\"endpoint\":\"%s\",\"model\":\"m\",\"rate_limit_per_s\":20,"
                             "\"criteria\":[\"relevance\"]}",
                             server.url);
    static trec recs[40];
    for (int i = 0; i < 40; i++)
        trec_init(&recs[i], "rl", "[[judge:id=rate]] Refund window?", "a", NULL);
    collector got = {0};
    submit_all(j, recs, 40, 0, &got);
    int64_t ms = drain(j, &got, 20000);
    /* A burst of 20, then 20 more at 20 per second. */
    assert_int_equal(got.n, 40);
    assert_int_equal(jsrv_count(&server, "rate"), 40);
    if (ms < 900 || ms > 5000)
        fail_msg("40 requests at 20/s took %lld ms", (long long)ms);
    ph_judge_destroy(j, collect, &got);
    collector_free(&got);
}

static void test_queue_full_then_retry(void **state)
{
    ph_judge *j = judge_from("{\"endpoint\":\"%s\",\"model\":\"m\",\"queue_capacity\":10,"
                             "\"max_inflight\":4,\"criteria\":[\"relevance\",\"tone\"]}",
                             server.url);
    static trec recs[50];
    for (int i = 0; i < 50; i++)
        trec_init(&recs[i], "qf", "[[judge:delay=5]] Refund window?", "a", NULL);
    collector got = {0};
    assert_int_equal(submit_all(j, recs, 50, 0, &got), 100);
    drain(j, &got, 30000);
    assert_int_equal(got.n, 100);
    for (intptr_t i = 0; i < 50; i++)
        assert_int_equal(collector_count(&got, i), 2);
    ph_judge_destroy(j, collect, &got);
    collector_free(&got);
}

int main(void)
{
    ph_log_set_level(PH_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_skips_the_rest),
        cmocka_unit_test(test_cache_avoids_second_request),
        cmocka_unit_test(test_embeddings),
        cmocka_unit_test(test_hundreds_in_flight),
        cmocka_unit_test(test_destroy_with_transfers_in_flight),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_queue_full_then_retry),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
