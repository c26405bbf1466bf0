/* The sentiment evaluator: crafted cases (negation, intensifiers, caps, exclamation, emoticons,
 * the latest turn weighing most, edge cases) and its distribution over the real log sample
 * (docs/evaluators/sentiment.md). There is no labeled set: the cases are the specification. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval_test_util.h"
#include "ph_eval.h"

extern const ph_evaluator_kind ph_eval_kind_sentiment;
static const ph_evaluator_kind *kind = &ph_eval_kind_sentiment;

#define STR(x) ((ph_str){(x), strlen(x)})

typedef eval_fixture fixture;

static int setup(void **state)
{
    *state = eval_fixture_new(kind, "sentiment");
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    eval_fixture_free(*state);
    return 0;
}

/* Scores a conversation given as alternating user/assistant turns (the first is the user's),
 * NULL-terminated; the result lives in the sink until the next call. */
static const ph_eval_result *conv_with(fixture *f, const void *st, const char *const *turns)
{
    ph_eval_message msgs[16];
    size_t n = 0;
    for (; turns[n] && n < 16; n++) {
        msgs[n].role = n % 2 ? STR("assistant") : STR("user");
        msgs[n].content = STR(turns[n]);
    }
    ph_eval_record rec = {.messages = msgs, .nmessages = n, .output = STR("ok")};
    char err[256];
    ph_eval_sink_reset(&f->sink);
    assert_int_equal(kind->evaluate(st, &rec, &f->sink, err, sizeof(err)), 0);
    assert_int_equal(f->sink.n, 1);
    return &f->sink.results[0];
}

static const ph_eval_result *conv(fixture *f, const char *const *turns)
{
    return conv_with(f, f->st, turns);
}

static const ph_eval_result *one(fixture *f, const char *text)
{
    const char *turns[] = {text, NULL};
    return conv(f, turns);
}

/* ---- the real log sample ------------------------------------------------------------------ */

static void test_polarity(void **state)
{
    fixture *f = *state;
    assert_string_equal(one(f, "This is great, thank you so much!")->label, "positive");
    assert_string_equal(one(f, "This answer is terrible and wrong.")->label, "negative");
    assert_string_equal(one(f, "What is the capital of France?")->label, "neutral");
    assert_string_equal(one(f, "Write a function that sorts a list.")->label, "neutral");
    /* negation flips, within three words */
    assert_string_equal(one(f, "This is not good.")->label, "negative");
    assert_string_equal(one(f, "That wasn't helpful at all")->label, "negative");
    assert_true(one(f, "not bad")->score > 0);
    /* "but": what follows weighs more */
    assert_string_equal(one(f, "The intro was good but the rest is awful")->label, "negative");
    /* emoticons and emoji */
    assert_string_equal(one(f, "see you tomorrow :)")->label, "positive");
    assert_string_equal(one(f, "see you tomorrow :(")->label, "negative");
    assert_string_equal(one(f, "ok \xf0\x9f\x98\xa1")->label, "negative");
    const ph_eval_result *r = one(f, "I hate this");
    assert_true(r->score < -0.4);
    assert_int_equal(r->passed, r->score >= -0.5); /* default fail_below -0.5 */
}

static void test_emphasis(void **state)
{
    fixture *f = *state;
    double plain = one(f, "this is good")->score;
    assert_true(one(f, "this is very good")->score > plain);
    assert_true(one(f, "this is extremely good")->score > plain);
    assert_true(one(f, "this is slightly good")->score < plain);
    assert_true(one(f, "this is GOOD")->score > plain);
    assert_true(one(f, "this is good!!!")->score > plain);
    double neg = one(f, "this is bad")->score;
    assert_true(one(f, "this is really bad")->score < neg);
    assert_true(one(f, "this is BAD!!")->score < neg);
    assert_true(value(one(f, "this is GOOD"), "caps_words") == 1);
    assert_true(value(one(f, "not good, not good at all"), "negated") == 2);
}

static void test_latest_turn(void **state)
{
    fixture *f = *state;
    /* happy before, angry now: negative */
    const char *angry_now[] = {"Thanks, that is great!", "You're welcome!",
                               "Now it is broken and useless. I hate it.", NULL};
    const ph_eval_result *r = conv(f, angry_now);
    assert_string_equal(r->label, "negative");
    assert_true(value(r, "earlier") > 0);
    assert_true(value(r, "user_turns") == 2);
    /* angry before, happy now: positive */
    const char *happy_now[] = {"This is terrible and wrong.", "Sorry, here is a fix.",
                               "Perfect, thank you so much, that works great!", NULL};
    assert_string_equal(conv(f, happy_now)->label, "positive");
}

static void test_edges(void **state)
{
    fixture *f = *state;
    /* no user message */
    ph_eval_message sys = {STR("system"), STR("You are terrible.")};
    ph_eval_record rec = {.messages = &sys, .nmessages = 1, .output = STR("hi")};
    char err[256];
    ph_eval_sink_reset(&f->sink);
    assert_int_equal(kind->evaluate(f->st, &rec, &f->sink, err, sizeof(err)), 0);
    assert_int_equal(f->sink.results[0].status, PH_EVAL_SKIPPED);
    rec.nmessages = 0;
    ph_eval_sink_reset(&f->sink);
    assert_int_equal(kind->evaluate(f->st, &rec, &f->sink, err, sizeof(err)), 0);
    assert_int_equal(f->sink.results[0].status, PH_EVAL_SKIPPED);
    /* empty, unicode, invalid UTF-8 */
    assert_string_equal(one(f, "")->label, "neutral");
    assert_string_equal(one(f, "\xe6\x97\xa5\xe6\x9c\xac caf\xc3\xa9 great")->label, "positive");
    assert_string_equal(one(f, "\xff\xfe\xc3( terrible \x80")->label, "negative");
    assert_string_equal(one(f, "don\xe2\x80\x99t like it, not good")->label, "negative");
    /* huge: only max_bytes are read */
    size_t n = 8u << 20;
    char *big = malloc(n + 1);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = "awful "[i % 6];
    big[n] = 0;
    clock_t t0 = clock();
    assert_string_equal(one(f, big)->label, "negative");
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 1.0);
    free(big);
}

static void test_config(void **state)
{
    fixture *f = *state;
    char err[256];
    void *st = NULL;
    json_t *cfg = json_pack("{s:f}", "latest_weight", 1.5);
    assert_int_not_equal(kind->create(&st, cfg, err, sizeof(err)), 0);
    json_decref(cfg);
    cfg = json_pack("{s:s}", "mood", "x");
    assert_int_not_equal(kind->create(&st, cfg, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "mood"));
    json_decref(cfg);
    kind->destroy(NULL);
    /* only the latest turn, no pass/fail */
    cfg = json_pack("{s:f, s:n}", "latest_weight", 1.0, "fail_below");
    assert_int_equal(kind->create(&st, cfg, err, sizeof(err)), 0);
    const char *turns[] = {"I hate this, awful", "ok", "what time is it", NULL};
    const ph_eval_result *r = conv_with(f, st, turns);
    assert_string_equal(r->label, "neutral");
    assert_int_equal(r->passed, -1);
    kind->destroy(st);
    json_decref(cfg);
}

static void test_llm_logs(void **state)
{
    fixture *f = *state;
    data_set lg;
    if (!data_load(&lg))
        skip();
    enum { MAXSRC = 16 };
    const char *src[MAXSRC];
    size_t nsrc = 0, per[MAXSRC][4]; /* records, negative, neutral, positive */
    memset(per, 0, sizeof(per));
    char err[256];
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    for (size_t i = 0; i < lg.n; i++) {
        ph_eval_sink_reset(&f->sink);
        assert_int_equal(kind->evaluate(f->st, &lg.recs[i], &f->sink, err, sizeof(err)), 0);
        const char *label = f->sink.results[0].label;
        size_t k = 0;
        while (k < nsrc && strcmp(src[k], lg.sources[i]) != 0)
            k++;
        if (k == nsrc && nsrc < MAXSRC)
            src[nsrc++] = lg.sources[i];
        per[k][0]++;
        per[k][label[0] == 'n' && label[1] == 'e' && label[2] == 'g' ? 1
               : label[0] == 'n'                                     ? 2
                                                                     : 3]++;
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    double cpu = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("sentiment: %zu records, %.3f s CPU, %.0f records/s (%.1f us each)\n", lg.n, cpu,
           lg.n / cpu, 1e6 * cpu / lg.n);
    double neg_hh = 0, neg_alpaca = 0;
    for (size_t k = 0; k < nsrc; k++) {
        printf("  %-26s %6zu records: negative %5.1f%%, neutral %5.1f%%, positive %5.1f%%\n",
               src[k], per[k][0], 100.0 * per[k][1] / per[k][0], 100.0 * per[k][2] / per[k][0],
               100.0 * per[k][3] / per[k][0]);
        if (strcmp(src[k], "hh_rlhf_harmless_base") == 0)
            neg_hh = (double)per[k][1] / per[k][0];
        if (strcmp(src[k], "alpaca_eval") == 0)
            neg_alpaca = (double)per[k][1] / per[k][0];
    }
    /* red-team users are more negative than instruction writers (published rates, margin) */
    assert_true(neg_hh > 2 * neg_alpaca);
    data_free(&lg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_polarity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emphasis, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latest_turn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_llm_logs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
