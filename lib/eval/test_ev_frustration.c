/* The frustration evaluator: crafted conversations (complaints, repeated questions, insults at
 * the assistant, capitals, escalation, polite follow-ups, edge cases) and its distribution over
 * the real log sample by source (docs/evaluators/frustration.md). There is no labeled set. */
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

extern const ph_evaluator_kind ph_eval_kind_frustration;
static const ph_evaluator_kind *kind = &ph_eval_kind_frustration;

#define STR(x) ((ph_str){(x), strlen(x)})

typedef eval_fixture fixture;

static int setup(void **state)
{
    *state = eval_fixture_new(kind, "frustration");
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

static void test_calm(void **state)
{
    fixture *f = *state;
    const char *calm[][6] = {
        {"What is the capital of France?", NULL},
        {"How do I reverse a list in Python?", "Use reversed() or slicing.",
         "Thanks! Can you also show how to sort it?", NULL},
        {"Write a poem about the sea.", "Here is a poem...", "Lovely, now one about mountains.",
         NULL},
        {"I said hello to my neighbour today, what should I cook for her?", NULL},
    };
    for (size_t i = 0; i < sizeof(calm) / sizeof(calm[0]); i++) {
        const ph_eval_result *r = conv(f, calm[i]);
        if (strcmp(r->label, "none") != 0)
            fail_msg("case %zu: %s %.2f (%s)", i, r->label, r->score, r->explanation);
        assert_int_equal(r->passed, 1);
    }
}

static void test_frustrated(void **state)
{
    fixture *f = *state;
    const char *not_asked[] = {"How do I read a file in Python?", "In Java you can use ...",
                               "That's not what I asked. I asked about Python, not Java.", NULL};
    const ph_eval_result *r = conv(f, not_asked);
    assert_string_not_equal(r->label, "none");
    assert_true(value(r, "complaint") > 0);

    const char *already[] = {"Give me a name for my cat.", "How about Whiskers?",
                             "You already said that. Give me a different one.", NULL};
    assert_string_not_equal(conv(f, already)->label, "none");

    const char *shouting[] = {"Fix my code.", "Sure, here is ...",
                              "ARE YOU EVEN LISTENING TO ME??? IT STILL DOES NOT WORK", NULL};
    r = conv(f, shouting);
    assert_string_equal(r->label, "high");
    assert_int_equal(r->passed, 0);
    assert_true(value(r, "caps") > 0.5);

    const char *insult[] = {"Summarise this.", "Here is a summary ...",
                            "You're useless, stupid bot.", NULL};
    r = conv(f, insult);
    assert_string_equal(r->label, "high");
    assert_true(value(r, "insult") == 1);

    /* the same question again, reworded slightly */
    const char *repeat[] = {"How do I convert a string to an integer in JavaScript?",
                            "You can use the Number constructor ...",
                            "how do I convert a string into an integer in javascript", NULL};
    r = conv(f, repeat);
    assert_true(value(r, "repeat") > 0.5);
    assert_string_not_equal(r->label, "none");

    /* escalating negativity */
    const char *escalate[] = {"Nice, thanks, that looks great!", "Glad it helps!",
                              "Now everything is broken and wrong. This is terrible.", NULL};
    r = conv(f, escalate);
    assert_true(value(r, "escalation") > 0);
    assert_string_not_equal(r->label, "none");
}

static void test_first_turn_counts_less(void **state)
{
    fixture *f = *state;
    const char *first[] = {"that's not what I asked", NULL};
    const char *follow[] = {"question", "answer", "that's not what I asked", NULL};
    double a = conv(f, first)->score, b = conv(f, follow)->score;
    assert_true(b > a);
    assert_true(value(conv(f, follow), "follow_up") == 1);
}

static void test_edges(void **state)
{
    fixture *f = *state;
    ph_eval_message sys = {STR("assistant"), STR("Hello, how can I help?")};
    ph_eval_record rec = {.messages = &sys, .nmessages = 1, .output = STR("hi")};
    char err[256];
    ph_eval_sink_reset(&f->sink);
    assert_int_equal(kind->evaluate(f->st, &rec, &f->sink, err, sizeof(err)), 0);
    assert_int_equal(f->sink.results[0].status, PH_EVAL_SKIPPED);
    assert_string_equal(one(f, "")->label, "none");
    assert_string_equal(one(f, "\xff\xfe\xc3(\x80 \xe6\x97\xa5\xe6\x9c\xac")->label, "none");
    const char *bad_utf8[] = {"q", "a", "\xff ugh, you already said that \x80", NULL};
    assert_string_not_equal(conv(f, bad_utf8)->label, "none");
    size_t n = 8u << 20;
    char *big = malloc(n + 1);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = "why is the sky blue "[i % 20];
    big[n] = 0;
    const char *huge[] = {big, "Because of Rayleigh scattering.", big, NULL};
    clock_t t0 = clock();
    const ph_eval_result *r = conv(f, huge);
    assert_true(value(r, "similarity") == 1); /* the same (cut) text twice */
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 1.0);
    free(big);
}

static void test_config(void **state)
{
    fixture *f = *state;
    char err[256];
    void *st = NULL;
    json_t *cfg = json_pack("{s:f, s:f}", "mild_threshold", 0.7, "high_threshold", 0.5);
    assert_int_not_equal(kind->create(&st, cfg, err, sizeof(err)), 0);
    json_decref(cfg);
    cfg = json_pack("{s:i}", "anger", 1);
    assert_int_not_equal(kind->create(&st, cfg, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "anger"));
    json_decref(cfg);
    kind->destroy(NULL);
    cfg = json_pack("{s:f, s:f}", "mild_threshold", 0.1, "high_threshold", 0.2);
    assert_int_equal(kind->create(&st, cfg, err, sizeof(err)), 0);
    const char *turns[] = {"q", "a", "ugh", NULL};
    assert_string_equal(conv_with(f, st, turns)->label, "high");
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
    size_t nsrc = 0, per[MAXSRC][4], followups[MAXSRC]; /* records, none, mild, high */
    memset(per, 0, sizeof(per));
    memset(followups, 0, sizeof(followups));
    char err[256];
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    for (size_t i = 0; i < lg.n; i++) {
        ph_eval_sink_reset(&f->sink);
        assert_int_equal(kind->evaluate(f->st, &lg.recs[i], &f->sink, err, sizeof(err)), 0);
        const ph_eval_result *r = &f->sink.results[0];
        size_t k = 0;
        while (k < nsrc && strcmp(src[k], lg.sources[i]) != 0)
            k++;
        if (k == nsrc && nsrc < MAXSRC)
            src[nsrc++] = lg.sources[i];
        per[k][0]++;
        per[k][r->label[0] == 'n' ? 1 : r->label[0] == 'm' ? 2 : 3]++;
        followups[k] += value(r, "follow_up") == 1;
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    double cpu = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("frustration: %zu records, %.3f s CPU, %.0f records/s (%.1f us each)\n", lg.n, cpu,
           lg.n / cpu, 1e6 * cpu / lg.n);
    double hh = 0, alpaca = 0;
    for (size_t k = 0; k < nsrc; k++) {
        double any = (double)(per[k][2] + per[k][3]) / per[k][0];
        printf("  %-26s %6zu records (%5.1f%% follow-ups): none %5.1f%%, mild %5.2f%%, high "
               "%5.2f%%\n",
               src[k], per[k][0], 100.0 * followups[k] / per[k][0], 100.0 * per[k][1] / per[k][0],
               100.0 * per[k][2] / per[k][0], 100.0 * per[k][3] / per[k][0]);
        if (strcmp(src[k], "hh_rlhf_harmless_base") == 0)
            hh = any;
        if (strcmp(src[k], "alpaca_eval") == 0)
            alpaca = any;
    }
    /* hostile multi-turn sessions show frustration far more often than single instructions */
    assert_true(hh > 3 * alpaca);
    data_free(&lg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_calm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_frustrated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_turn_counts_less, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_llm_logs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
