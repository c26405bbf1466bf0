/* Which criteria apply to a record (config, filters, sampling, gates, needs) and the promise of
 * one result per applying criterion. No server: nothing here is ever sent (the endpoint is a
 * closed port, and the judge is destroyed before any poll). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "ph_error.h"
#include "ph_log.h"
#include "test_judge_util.h"

#define NOWHERE "http://127.0.0.1:9/v1"

static void test_config_errors(void **state)
{
    static const struct {
        const char *config, *want;
    } cases[] = {
        {"{\"endpoint\":\"http://x/v1\",\"model\":\"m\"}", "criteria must be a non-empty list"},
        {"{\"model\":\"m\",\"criteria\":[\"relevance\"]}", "endpoint is required"},
        {"{\"endpoint\":\"http://x/v1\",\"criteria\":[\"relevance\"]}", "no model"},
        {"{\"endpoint\":\"http://x/v1\",\"model\":\"m\",\"criteria\":[\"relevance\"],"
         "\"timeout\":5}",
         "unknown key \"timeout\""},
        {"{\"endpoint\":\"http://x/v1\",\"model\":\"m\",\"criteria\":[\"nonsense\"]}",
         "no built-in template \"nonsense\""},
        {"{\"endpoint\":\"http://x/v1\",\"model\":\"m\",\"criteria\":[{\"name\":\"relevance\","
         "\"gate\":\"similarity.relevance.score = 0.5\"}]}",
         "bad operator"},
        {"{\"endpoint\":\"http://x/v1\",\"model\":\"m\",\"criteria\":[{\"name\":\"c\","
         "\"template\":{\"system\":\"s\",\"user\":\"{{question}}\"}}]}",
         "unknown placeholder"},
        {"{\"endpoint\":\"http://x/v1\",\"model\":\"m\",\"criteria\":[{\"name\":\"c\","
         "\"template\":{\"system\":\"s\",\"user\":\"{{input}}\",\"score_min\":5,"
         "\"score_max\":1}}]}",
         "score_min must be below score_max"},
        {"{\"endpoint\":\"http://x/v1\",\"model\":\"m\",\"criteria\":[\"tone\",\"tone\"]}",
         "criterion \"tone\" twice"},
        {"{\"endpoint\":\"http://x/v1\",\"model\":\"m\",\"criteria\":[{\"name\":\"Tone\"}]}",
         "name must be"},
        {"{\"endpoint\":\"http://x/v1\",\"model\":\"m\",\"criteria\":[{\"name\":\"relevance\","
         "\"sample_rate\":1.5}]}",
         "sample_rate must be a number from 0 to 1"},
        {"{\"endpoint\":\"http://x/v1\",\"model\":\"m\",\"criteria\":[{\"name\":\"e\","
         "\"type\":\"embedding_similarity\"}]}",
         "needs its embedding \"model\""},
        {"{\"endpoint\":\"http://x/v1\",\"model\":\"m\",\"criteria\":[\"tone\"],"
         "\"filters\":{\"apps\":[\"a\"]}}",
         "unknown key \"apps\""},
        {"{\"endpoint\":\"http://x/v1\",\"model\":\"m\",\"criteria\":[\"tone\"],"
         "\"cache_path\":\"/nonexistent/dir/cache.db\"}",
         "judge cache"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_error_t e;
        json_t *config = json_loads(cases[i].config, 0, &e);
        assert_non_null(config);
        char errstr[PH_ERRSTR_SIZE] = "";
        ph_judge *j = NULL;
        int rc = ph_judge_new(&j, config, errstr, sizeof(errstr));
        json_decref(config);
        if (rc == 0 || !strstr(errstr, cases[i].want))
            fail_msg("case %zu: rc %d, errstr \"%s\", wanted \"%s\"", i, rc, errstr, cases[i].want);
        assert_null(j);
    }
}

/* Submits and returns *nresults (asserting success). */
static size_t submit(ph_judge *j, const ph_eval_record *rec, const ph_eval_result *cheap,
                     size_t ncheap, intptr_t id)
{
    size_t n = 99;
    assert_int_equal(ph_judge_submit(j, rec, cheap, ncheap, (void *)id, &n), 0);
    return n;
}

static void test_needs_and_one_result_each(void **state)
{
    ph_judge *j = judge_from("{\"endpoint\":\"%s\",\"model\":\"m\",\"criteria\":["
                             "\"relevance\",\"groundedness\",\"user_distress\","
                             "{\"name\":\"embedding\",\"type\":\"embedding_similarity\","
                             "\"model\":\"e\"}]}",
                             NOWHERE);
    trec a, b, c;
    trec_init(&a, "a", "What is the refund window?", "30 days.", "Refunds within 30 days.");
    trec_init(&b, "b", "What is the refund window?", "30 days.", NULL);
    trec_init(&c, "c", "Hello?", "", NULL); /* the call failed: nothing to judge but distress */
    c.rec.is_error = true;
    assert_int_equal(submit(j, &a.rec, NULL, 0, 1), 5); /* 1 + 1 + 1 + 2 */
    assert_int_equal(submit(j, &b.rec, NULL, 0, 2), 3); /* no context: no groundedness */
    assert_int_equal(submit(j, &c.rec, NULL, 0, 3), 1);
    assert_int_equal(ph_judge_pending(j), 9);
    collector got = {0};
    ph_judge_destroy(j, collect, &got);
    assert_int_equal(got.n, 9);
    assert_int_equal(collector_count(&got, 1), 5);
    assert_int_equal(collector_count(&got, 2), 3);
    assert_int_equal(collector_count(&got, 3), 1);
    assert_non_null(collector_find(&got, 1, "judge.embedding_groundedness"));
    assert_non_null(collector_find(&got, 1, "judge.embedding"));
    assert_null(collector_find(&got, 2, "judge.groundedness"));
    assert_non_null(collector_find(&got, 3, "judge.user_distress"));
    for (size_t i = 0; i < got.n; i++) {
        assert_int_equal(got.items[i].r.status, PH_EVAL_SKIPPED);
        assert_string_equal(got.items[i].r.explanation, "judge shut down before the verdict");
        assert_int_equal(got.items[i].r.passed, -1);
        assert_false(got.items[i].r.has_score);
    }
    collector_free(&got);
}

static void test_filters(void **state)
{
    ph_judge *j = judge_from(
        "{\"endpoint\":\"%s\",\"model\":\"m\",\"filters\":{\"environment\":\"prod*\"},"
        "\"criteria\":[{\"name\":\"relevance\",\"filters\":{\"app\":[\"support-*\",\"faq\"],"
        "\"exclude_model\":\"*-mini\"}},"
        "{\"name\":\"tone\",\"filters\":{\"exclude_app\":\"support-bot\"}}]}",
        NOWHERE);
    trec t;
    trec_init(&t, "r", "q", "a", NULL);
    t.rec.model = tstr("gpt-4o");
    assert_int_equal(submit(j, &t.rec, NULL, 0, 1), 1); /* relevance; tone excludes the app */
    t.rec.model = tstr("gpt-4o-mini");
    assert_int_equal(submit(j, &t.rec, NULL, 0, 2), 0);
    t.rec.app = tstr("faq");
    assert_int_equal(submit(j, &t.rec, NULL, 0, 3), 1); /* tone only */
    t.rec.model = tstr("llama3");
    assert_int_equal(submit(j, &t.rec, NULL, 0, 4), 2);
    t.rec.environment = tstr("staging"); /* the global filter */
    assert_int_equal(submit(j, &t.rec, NULL, 0, 5), 0);
    collector got = {0};
    ph_judge_destroy(j, collect, &got);
    assert_non_null(collector_find(&got, 1, "judge.relevance"));
    assert_non_null(collector_find(&got, 3, "judge.tone"));
    assert_int_equal(got.n, 4);
    collector_free(&got);
}

#define NSAMPLE 2000

static void sample(const char *config, unsigned char *in30, unsigned char *in10)
{
    ph_judge *j = judge_from(config, NOWHERE);
    char id[32];
    for (int i = 0; i < NSAMPLE; i++) {
        trec t;
        snprintf(id, sizeof(id), "rec-%d", i);
        trec_init(&t, id, "q", "a", NULL);
        size_t n = submit(j, &t.rec, NULL, 0, i);
        /* relevance at 0.3 gives one result, helpfulness at 0.1 another */
        in30[i] = n >= 1;
        in10[i] = n == 2;
    }
    ph_judge_destroy(j, NULL, NULL);
}

static void test_sampling_is_deterministic(void **state)
{
    const char *config = "{\"endpoint\":\"%s\",\"model\":\"m\",\"queue_capacity\":100000,"
                         "\"criteria\":[{\"name\":\"relevance\",\"sample_rate\":0.3},"
                         "{\"name\":\"helpfulness\",\"sample_rate\":0.1}]}";
    static unsigned char a30[NSAMPLE], a10[NSAMPLE], b30[NSAMPLE], b10[NSAMPLE];
    sample(config, a30, a10);
    sample(config, b30, b10); /* a new process would do the same: no state, no seed */
    assert_memory_equal(a30, b30, NSAMPLE);
    assert_memory_equal(a10, b10, NSAMPLE);
    int n30 = 0, n10 = 0;
    for (int i = 0; i < NSAMPLE; i++) {
        n30 += a30[i];
        n10 += a10[i];
        if (a10[i])
            assert_true(a30[i]); /* lower rates select subsets */
    }
    assert_in_range(n30, 530, 670);
    assert_in_range(n10, 150, 250);
}

static ph_eval_result cheap(const char *name, ph_eval_status status, double score,
                            const char *label, int passed)
{
    ph_eval_result r;
    memset(&r, 0, sizeof(r));
    snprintf(r.evaluator, sizeof(r.evaluator), "%s", name);
    r.status = status;
    r.has_score = score >= 0;
    r.score = score;
    snprintf(r.label, sizeof(r.label), "%s", label);
    r.passed = passed;
    return r;
}

static void test_gates(void **state)
{
    ph_judge *j = judge_from(
        "{\"endpoint\":\"%s\",\"model\":\"m\",\"criteria\":["
        "{\"name\":\"relevance\",\"gate\":\"similarity.relevance.score < 0.5\"},"
        "{\"name\":\"refusal_appropriate\",\"gate\":{\"any\":[\"refusal.label == full_refusal\","
        "\"refusal.label == partial_refusal\"]}},"
        "{\"name\":\"tone\",\"gate\":[\"toxicity.passed == false\",\"sentiment.score <= 0.2\"]}]}",
        NOWHERE);
    trec t;
    trec_init(&t, "g", "q", "a", NULL);
    ph_eval_result r[3];
    assert_int_equal(submit(j, &t.rec, NULL, 0, 1), 0); /* no evidence, no judging */
    r[0] = cheap("similarity.relevance", PH_EVAL_OK, 0.3, "", -1);
    assert_int_equal(submit(j, &t.rec, r, 1, 2), 1);
    r[0] = cheap("similarity.relevance", PH_EVAL_OK, 0.5, "", -1);
    assert_int_equal(submit(j, &t.rec, r, 1, 3), 0);
    r[0] = cheap("similarity.relevance", PH_EVAL_ERROR, 0.1, "", -1); /* not OK: no evidence */
    assert_int_equal(submit(j, &t.rec, r, 1, 4), 0);
    r[0] = cheap("refusal", PH_EVAL_OK, -1, "partial_refusal", -1);
    assert_int_equal(submit(j, &t.rec, r, 1, 5), 1);
    r[0] = cheap("refusal", PH_EVAL_OK, -1, "none", -1);
    assert_int_equal(submit(j, &t.rec, r, 1, 6), 0);
    r[0] = cheap("toxicity", PH_EVAL_OK, 0.9, "", 0);
    r[1] = cheap("sentiment", PH_EVAL_OK, 0.1, "", -1);
    assert_int_equal(submit(j, &t.rec, r, 2, 7), 1); /* both hold */
    r[1] = cheap("sentiment", PH_EVAL_OK, 0.6, "", -1);
    assert_int_equal(submit(j, &t.rec, r, 2, 8), 0);   /* only one of "all" */
    r[0] = cheap("toxicity", PH_EVAL_OK, 0.9, "", -1); /* passed not applicable */
    r[1] = cheap("sentiment", PH_EVAL_OK, 0.1, "", -1);
    assert_int_equal(submit(j, &t.rec, r, 2, 9), 0);
    r[0] = cheap("similarity.relevance", PH_EVAL_OK, 0.1, "", -1);
    r[1] = cheap("refusal", PH_EVAL_OK, -1, "full_refusal", -1);
    assert_int_equal(submit(j, &t.rec, r, 2, 10), 2);
    collector got = {0};
    ph_judge_destroy(j, collect, &got);
    assert_non_null(collector_find(&got, 2, "judge.relevance"));
    assert_non_null(collector_find(&got, 5, "judge.refusal_appropriate"));
    assert_non_null(collector_find(&got, 7, "judge.tone"));
    assert_int_equal(got.n, 5);
    collector_free(&got);
}

/* The version of the first result of a judge built from config. */
static void version_of(const char *config, char *out)
{
    ph_judge *j = judge_from(config, NOWHERE);
    trec t;
    trec_init(&t, "v", "q", "a", NULL);
    assert_int_equal(submit(j, &t.rec, NULL, 0, 1), 1);
    collector got = {0};
    ph_judge_destroy(j, collect, &got);
    assert_int_equal(got.n, 1);
    strcpy(out, got.items[0].r.version);
    collector_free(&got);
}

static void test_versions(void **state)
{
    char v1[PH_EVAL_VERSION_MAX], v2[PH_EVAL_VERSION_MAX], v3[PH_EVAL_VERSION_MAX],
        v4[PH_EVAL_VERSION_MAX];
    const char *custom = "{\"endpoint\":\"%%s\",\"model\":\"%s\",\"criteria\":[{\"name\":\"c\","
                         "\"template\":{\"system\":\"%s\",\"user\":\"Q: {{input}} A: "
                         "{{output}}\"}}]}";
    char config[512];
    snprintf(config, sizeof(config), custom, "m", "Is it polite?");
    version_of(config, v1);
    version_of(config, v2);
    snprintf(config, sizeof(config), custom, "m", "Is it kind?");
    version_of(config, v3);
    snprintf(config, sizeof(config), custom, "m2", "Is it polite?");
    version_of(config, v4);
    assert_string_equal(v1, v2);
    assert_string_not_equal(v1, v3);
    assert_string_not_equal(v1, v4);
    assert_int_equal(strlen(v1), strlen(PH_JUDGE_CODE_VERSION) + 1 + 8);
    assert_memory_equal(v1, PH_JUDGE_CODE_VERSION ".", strlen(PH_JUDGE_CODE_VERSION) + 1);
}

static void test_queue_full(void **state)
{
    ph_judge *j = judge_from("{\"endpoint\":\"%s\",\"model\":\"m\",\"queue_capacity\":4,"
                             "\"criteria\":[\"relevance\",\"helpfulness\"]}",
                             NOWHERE);
    trec t;
    trec_init(&t, "q", "q", "a", NULL);
    size_t n = 0;
    assert_int_equal(submit(j, &t.rec, NULL, 0, 1), 2);
    assert_int_equal(submit(j, &t.rec, NULL, 0, 2), 2);
    assert_int_equal(ph_judge_submit(j, &t.rec, NULL, 0, (void *)3, &n), PH_EQUEUEFULL);
    assert_int_equal(ph_judge_pending(j), 4);
    ph_judge_stats st;
    ph_judge_get_stats(j, &st);
    assert_int_equal(st.queued, 4);
    collector got = {0};
    ph_judge_destroy(j, collect, &got);
    assert_int_equal(got.n, 4);
    assert_int_equal(collector_count(&got, 3), 0);
    collector_free(&got);
}

/* Whatever the record holds, submitting works and the request is valid JSON (jansson refuses
 * invalid UTF-8: the texts must have been cleaned). */
static void test_odd_records(void **state)
{
    ph_judge *j = judge_from("{\"endpoint\":\"%s\",\"model\":\"m\",\"criteria\":["
                             "\"relevance\",\"tone\",\"groundedness\"]}",
                             NOWHERE);
    static char huge[1 << 20];
    memset(huge, 'x', sizeof(huge) - 1);
    trec t;
    trec_init(&t, "odd", "caf\xe9 \xff\xfe", "a", "ctx");
    t.rec.output = (ph_str){"nul\0inside", 11};
    assert_int_equal(submit(j, &t.rec, NULL, 0, 1), 3);
    t.msgs[1].content = (ph_str){huge, sizeof(huge) - 1};
    assert_int_equal(submit(j, &t.rec, NULL, 0, 2), 3);
    t.rec.nmessages = 0; /* no conversation at all: nothing needing input or conversation */
    assert_int_equal(submit(j, &t.rec, NULL, 0, 3), 0);
    ph_eval_record empty;
    memset(&empty, 0, sizeof(empty));
    assert_int_equal(submit(j, &empty, NULL, 0, 4), 0);
    collector got = {0};
    ph_judge_destroy(j, collect, &got);
    assert_int_equal(got.n, 6);
    collector_free(&got);
}

int main(void)
{
    ph_log_set_level(PH_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_errors), cmocka_unit_test(test_needs_and_one_result_each),
        cmocka_unit_test(test_filters),       cmocka_unit_test(test_sampling_is_deterministic),
        cmocka_unit_test(test_gates),         cmocka_unit_test(test_versions),
        cmocka_unit_test(test_queue_full),    cmocka_unit_test(test_odd_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
