/* The judge against a real HTTP server (tests/judge_server.py): verdicts, malformed verdicts,
 * 429 with Retry-After, 5xx, 4xx, timeouts and refused connections. The server's behaviour is
 * chosen by a marker in the record's text; its counters say how many requests it received. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

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
    fail_msg("%s has no value %s", r->evaluator, name);
    return 0;
}

/* One record, judged to the end; returns its elapsed milliseconds. */
static int64_t judge_one(ph_judge *j, const char *input, collector *got, intptr_t id)
{
    trec t;
    size_t n = 0;
    trec_init(&t, "r", input, "Refunds are accepted within 30 days of delivery.", NULL);
    assert_int_equal(ph_judge_submit(j, &t.rec, NULL, 0, (void *)id, &n), 0);
    assert_true(n > 0);
    int64_t ms = drain(j, got, 20000);
    assert_int_equal(ph_judge_pending(j), 0);
    assert_int_equal(collector_count(got, id), n);
    return ms;
}

static void test_good_verdicts(void **state)
{
    ph_judge *j = judge_from(
        "{\"endpoint\":\"%s\",\"model\":\"judge-model\",\"response_format\":true,"
        "\"price_per_1k_input\":1.0,\"price_per_1k_output\":2.0,\"criteria\":["
        "\"relevance\",\"user_distress\",{\"name\":\"policy\",\"pass_min\":0.5,\"template\":{"
        "\"system\":\"Does the response follow the refund policy?\",\"user\":\"Q: {{input}}\\n"
        "A: {{output}}\",\"score_min\":0,\"score_max\":1,\"labels\":[\"ok\",\"violation\"]}}]}",
        server.url);
    collector got = {0};
    judge_one(j, "What is your refund window?", &got, 1);
    const ph_eval_result *r = collector_find(&got, 1, "judge.relevance");
    assert_non_null(r);
    assert_int_equal(r->status, PH_EVAL_OK);
    assert_true(r->has_score);
    assert_float_equal(r->score, 0.75, 1e-9); /* 4 on 1..5 */
    assert_float_equal(value(r, "raw_score"), 4, 1e-9);
    assert_string_equal(r->label, "relevant");
    assert_int_equal(r->passed, 1);
    assert_string_equal(r->explanation, "The response addresses the request.");
    assert_memory_equal(r->version, PH_JUDGE_CODE_VERSION ".", strlen(PH_JUDGE_CODE_VERSION) + 1);
    assert_true(r->tokens > 0);
    double want = value(r, "prompt_tokens") / 1000.0 + 2 * value(r, "completion_tokens") / 1000.0;
    assert_float_equal(r->cost_usd, want, 1e-12);
    assert_float_equal(value(r, "tokens_estimated"), 0, 0);
    assert_float_equal(value(r, "attempts"), 1, 0);
    r = collector_find(&got, 1, "judge.user_distress");
    assert_non_null(r);
    assert_int_equal(r->status, PH_EVAL_OK);
    assert_int_equal(r->passed, 0); /* 4 of 5 is distress: passes only up to 2 */
    assert_string_equal(r->label, "none");
    r = collector_find(&got, 1, "judge.policy");
    assert_non_null(r);
    assert_float_equal(r->score, 0.75, 1e-9);
    assert_string_equal(r->label, "ok");
    assert_int_equal(r->passed, 1);
    /* A verdict in a code fence with prose around it; a reply without usage (estimated). */
    judge_one(j, "[[judge:fenced;nousage]] Refund window?", &got, 2);
    r = collector_find(&got, 2, "judge.relevance");
    assert_int_equal(r->status, PH_EVAL_OK);
    assert_float_equal(value(r, "tokens_estimated"), 1, 0);
    assert_true(r->tokens > 0);
    /* The judge quoting personal data: stored redacted. */
    judge_one(j, "[[judge:pii]] Refund window?", &got, 3);
    r = collector_find(&got, 3, "judge.relevance");
    assert_int_equal(r->status, PH_EVAL_OK);
    assert_string_equal(r->explanation,
                        "The user, [email], gave her phone [phone] and card [card].");
    /* Invalid UTF-8 in the record: the server (which rejects invalid JSON) still gets JSON. */
    judge_one(j, "caf\xe9 \xff [[judge:id=utf8]] Refund window?", &got, 4);
    assert_int_equal(collector_find(&got, 4, "judge.relevance")->status, PH_EVAL_OK);
    assert_int_equal(jsrv_count(&server, "utf8"), 3); /* relevance, user_distress, policy */
    ph_judge_destroy(j, collect, &got);
    collector_free(&got);
}

static const char *retry_config = "{\"endpoint\":\"%s\",\"model\":\"m\",\"max_attempts\":3,"
                                  "\"backoff_initial_ms\":10,\"timeout_ms\":5000,"
                                  "\"criteria\":[\"relevance\"]}";

static void test_malformed_is_retried_then_error(void **state)
{
    ph_judge *j = judge_from(retry_config, server.url);
    collector got = {0};
    judge_one(j, "[[judge:id=mal;malformed]] Refund window?", &got, 1);
    const ph_eval_result *r = collector_find(&got, 1, "judge.relevance");
    assert_int_equal(r->status, PH_EVAL_ERROR);
    assert_string_equal(r->explanation,
                        "malformed verdict: no JSON object in the reply (after 3 attempts)");
    assert_false(r->has_score); /* never invented */
    assert_string_equal(r->label, "");
    assert_int_equal(jsrv_count(&server, "mal"), 3);
    assert_true(r->tokens > 0); /* what the failed attempts cost is still accounted */
    /* Malformed once, then good: one retry, then OK. */
    judge_one(j, "[[judge:id=mal1;malformed_first=1]] Refund window?", &got, 2);
    r = collector_find(&got, 2, "judge.relevance");
    assert_int_equal(r->status, PH_EVAL_OK);
    assert_float_equal(value(r, "attempts"), 2, 0);
    assert_int_equal(jsrv_count(&server, "mal1"), 2);
    /* A score outside the declared range is malformed too. */
    judge_one(j, "[[judge:id=range;range]] Refund window?", &got, 3);
    r = collector_find(&got, 3, "judge.relevance");
    assert_int_equal(r->status, PH_EVAL_ERROR);
    assert_string_equal(r->explanation,
                        "malformed verdict: the score 15 is outside [1, 5] (after 3 attempts)");
    ph_judge_destroy(j, collect, &got);
    collector_free(&got);
}

static void test_429_waits_for_retry_after(void **state)
{
    ph_judge *j = judge_from(retry_config, server.url);
    collector got = {0};
    int64_t ms = judge_one(j, "[[judge:id=ra;fail=1;code=429;after=1]] Refund window?", &got, 1);
    const ph_eval_result *r = collector_find(&got, 1, "judge.relevance");
    assert_int_equal(r->status, PH_EVAL_OK);
    assert_float_equal(value(r, "attempts"), 2, 0);
    assert_int_equal(jsrv_count(&server, "ra"), 2);
    if (ms < 1000)
        fail_msg("retried after %lld ms, before the Retry-After of 1 s", (long long)ms);
    /* The HTTP-date form (one-second precision: at least one second remains). */
    ms = judge_one(j, "[[judge:id=rd;fail=1;code=429;after_date=2]] Refund window?", &got, 2);
    r = collector_find(&got, 2, "judge.relevance");
    assert_int_equal(r->status, PH_EVAL_OK);
    assert_int_equal(jsrv_count(&server, "rd"), 2);
    if (ms < 1000)
        fail_msg("retried after %lld ms, before the Retry-After date", (long long)ms);
    /* Longer than backoff_max_ms: not waited for, an ERROR that says why. */
    ms = judge_one(j, "[[judge:id=rlong;fail=1;code=429;after=120]] Refund window?", &got, 3);
    r = collector_find(&got, 3, "judge.relevance");
    assert_int_equal(r->status, PH_EVAL_ERROR);
    assert_string_equal(r->explanation, "HTTP 429 (injected_429) with Retry-After 120 s, beyond "
                                        "backoff_max_ms 30000");
    assert_int_equal(jsrv_count(&server, "rlong"), 1);
    assert_true(ms < 5000);
    ph_judge_destroy(j, collect, &got);
    collector_free(&got);
}

static void test_5xx_retried_4xx_not(void **state)
{
    ph_judge *j = judge_from(retry_config, server.url);
    collector got = {0};
    judge_one(j, "[[judge:id=e503;fail=2;code=503]] Refund window?", &got, 1);
    const ph_eval_result *r = collector_find(&got, 1, "judge.relevance");
    assert_int_equal(r->status, PH_EVAL_OK);
    assert_float_equal(value(r, "attempts"), 3, 0);
    assert_int_equal(jsrv_count(&server, "e503"), 3);
    judge_one(j, "[[judge:id=e500;fail=9;code=500]] Refund window?", &got, 2);
    r = collector_find(&got, 2, "judge.relevance");
    assert_int_equal(r->status, PH_EVAL_ERROR);
    assert_string_equal(r->explanation, "HTTP 500 (injected_500) (after 3 attempts)");
    assert_int_equal(jsrv_count(&server, "e500"), 3);
    judge_one(j, "[[judge:id=e400;fail=9;code=400]] Refund window?", &got, 3);
    r = collector_find(&got, 3, "judge.relevance");
    assert_int_equal(r->status, PH_EVAL_ERROR);
    assert_string_equal(r->explanation, "HTTP 400 (injected_400)");
    assert_int_equal(jsrv_count(&server, "e400"), 1); /* a retry cannot fix a bad request */
    ph_judge_destroy(j, collect, &got);
    collector_free(&got);
}

static void test_timeouts_become_error(void **state)
{
    ph_judge *j = judge_from("{\"endpoint\":\"%s\",\"model\":\"m\",\"max_attempts\":2,"
                             "\"backoff_initial_ms\":10,\"timeout_ms\":300,"
                             "\"criteria\":[\"relevance\"]}",
                             server.url);
    collector got = {0};
    int64_t ms = judge_one(j, "[[judge:id=hang;hang]] Refund window?", &got, 1);
    const ph_eval_result *r = collector_find(&got, 1, "judge.relevance");
    assert_int_equal(r->status, PH_EVAL_ERROR);
    assert_string_equal(r->explanation, "no reply within timeout_ms 300 (after 2 attempts)");
    assert_int_equal(jsrv_count(&server, "hang"), 2);
    assert_true(ms >= 600);
    ph_judge_destroy(j, collect, &got);
    /* Nothing listening: connection errors are retried, then ERROR. */
    j = judge_from("{\"endpoint\":\"%s\",\"model\":\"m\",\"max_attempts\":2,"
                   "\"backoff_initial_ms\":10,\"criteria\":[\"relevance\"]}",
                   "http://127.0.0.1:9/v1");
    judge_one(j, "Refund window?", &got, 2);
    r = collector_find(&got, 2, "judge.relevance");
    assert_int_equal(r->status, PH_EVAL_ERROR);
    assert_string_equal(r->explanation,
                        "request failed: Couldn't connect to server (after 2 attempts)");
    ph_judge_destroy(j, collect, &got);
    collector_free(&got);
}

int main(void)
{
    ph_log_set_level(PH_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_verdicts),
        cmocka_unit_test(test_malformed_is_retried_then_error),
        cmocka_unit_test(test_429_waits_for_retry_after),
        cmocka_unit_test(test_5xx_retried_4xx_not),
        cmocka_unit_test(test_timeouts_become_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
