/* words: include / exclude lists, begins_with / ends_with, word boundaries, case folding, named
 * checks, odd content, and a run over every record of the shared llm_logs.jsonl (how often each
 * check fails, and the CPU cost). PHAROS_EVAL_PASSES=N repeats the timed pass N times. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval_test_util.h"
#include "ph_error.h"
#include "ph_eval.h"

extern const ph_evaluator_kind ph_eval_kind_words;
#define KIND ph_eval_kind_words

static void *make(const char *json)
{
    return eval_test_make(&KIND, json);
}

/* create() must refuse json; err gets the reason. */
static void refuses(const char *json, const char *why)
{
    eval_test_refuses(&KIND, json, why);
}

static const ph_eval_result *run(const void *st, const ph_eval_record *rec, ph_eval_sink *sink,
                                 size_t want)
{
    char err[PH_ERRSTR_SIZE];
    ph_eval_sink_reset(sink);
    sink->current_name = "words";
    sink->current_version = "1.test";
    assert_int_equal(KIND.evaluate(st, rec, sink, err, sizeof(err)), 0);
    assert_int_equal(sink->n, want);
    return sink->results;
}

/* The single check of st on an output; returns passed. */
static int check(const void *st, const char *output, ph_eval_sink *sink)
{
    ph_eval_record rec = record(NULL, 0, output);
    const ph_eval_result *r = run(st, &rec, sink, 1);
    assert_int_equal(r->status, PH_EVAL_OK);
    return r->passed;
}

static void test_include_exclude(void **unused)
{
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    void *st = make("{\"include\": [\"refund\", \"not financial advice\", \"C++\", \".NET\"]}");
    assert_int_equal(check(st, "You can get a REFUND.", &sink), 1);
    const ph_eval_result *r = sink.results;
    assert_string_equal(r->evaluator, "words");
    assert_string_equal(r->label, "ok");
    assert_int_equal(value(r, "include_found"), 1);
    assert_true(r->has_score && r->score == 1.0);
    /* whole words only */
    assert_int_equal(check(st, "Refunds are processed; refunded; prefund", &sink), 0);
    assert_string_equal(sink.results[0].label, "missing");
    assert_string_equal(sink.results[0].explanation, "0 of 4 include terms found");
    assert_true(sink.results[0].score == 0.0);
    /* a phrase across line breaks and repeated spaces, any case */
    assert_int_equal(check(st, "This is Not  financial\n advice!", &sink), 1);
    /* terms that start or end with punctuation */
    assert_int_equal(check(st, "I write c++, daily", &sink), 1);
    assert_int_equal(check(st, "built on ASP.NET core", &sink), 1);
    assert_int_equal(check(st, "c+++", &sink), 1); /* no boundary needed after '+' */
    KIND.destroy(st);

    st = make("{\"include\": [\"alpha\", \"beta\", \"gamma\"], \"include_mode\": \"all\"}");
    assert_int_equal(check(st, "Gamma, beta and ALPHA.", &sink), 1);
    assert_int_equal(value(sink.results, "include_found"), 3);
    assert_int_equal(check(st, "alpha alpha beta", &sink), 0);
    assert_int_equal(value(sink.results, "include_found"), 2);
    assert_string_equal(sink.results[0].explanation, "only 2 of 3 include terms found");
    KIND.destroy(st);

    st = make("{\"exclude\": [\"acme corp\", \"globex\", \"new york\", \"york\"]}");
    assert_int_equal(check(st, "We love Initech.", &sink), 1);
    assert_int_equal(value(sink.results, "exclude_found"), 0);
    assert_int_equal(check(st, "Try GLOBEX or Acme   Corp instead", &sink), 0);
    r = sink.results;
    assert_string_equal(r->label, "excluded");
    assert_int_equal(value(r, "exclude_found"), 2);
    assert_string_equal(r->explanation, "excluded term \"globex\" found (2 of 4 terms)");
    /* every term is looked for on its own: "york" is found inside "new york" too */
    assert_int_equal(check(st, "in New York", &sink), 0);
    assert_int_equal(value(sink.results, "exclude_found"), 2);
    assert_non_null(strstr(sink.results[0].explanation, "new york"));
    /* curly quotes, dashes and emoji are not word characters; accented letters are */
    assert_int_equal(check(st,
                           "\xe2\x80\x9cGlobex\xe2\x80\x9d\xe2\x80\x94"
                           "fine",
                           &sink),
                     0);
    assert_int_equal(check(st, "globex\xf0\x9f\x98\x80", &sink), 0);
    assert_int_equal(check(st, "globex\xc3\xa9 \xc3\xa9globex", &sink), 1);
    assert_int_equal(check(st, "globexx acmecorp", &sink), 1);
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
}

static void test_unicode_and_odd_content(void **unused)
{
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    /* Unicode case folding, and word boundaries that know non-ASCII letters */
    void *st = make("{\"include\": [\"caf\\u00e9\", \"\\u0434\\u0430\"]}");
    assert_int_equal(check(st, "Un CAF\xc3\x89 noir", &sink), 1);
    assert_int_equal(check(st, "cafe\xcc\x81", &sink), 0); /* e + combining accent: not folded */
    assert_int_equal(check(st, "caf\xc3\xa9s", &sink), 0); /* no boundary before 's' */
    assert_int_equal(check(st, "\xd0\x94\xd0\xb0!", &sink), 1);                /* "Да!" */
    assert_int_equal(check(st, "\xd0\xb4\xd0\xb0\xd0\xbd\xd0\xbe", &sink), 0); /* "дано" */
    /* invalid UTF-8 is a barrier, not an error: the term next to it is still found */
    assert_int_equal(check(st,
                           "\xff\xfe"
                           "caf\xc3\xa9\x80 x",
                           &sink),
                     1);
    assert_int_equal(check(st, "", &sink), 0);
    /* a huge output with the term at the very end */
    size_t n = 8u << 20;
    char *huge = malloc(n + 8);
    assert_non_null(huge);
    for (size_t i = 0; i < n; i++)
        huge[i] = (i % 7 == 6) ? ' ' : 'a' + (char)(i % 7);
    memcpy(huge + n, " caf\xc3\xa9", 7);
    huge[n + 7] = '\0';
    assert_int_equal(check(st, huge, &sink), 1);
    KIND.destroy(st);
    /* and an exclude list over the same huge text finds nothing, without hitting a limit */
    st = make("{\"exclude\": [\"zzz\", \"abcdefgh\"]}");
    assert_int_equal(check(st, huge, &sink), 1);
    free(huge);
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
}

static void test_begins_ends(void **unused)
{
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    void *st = make("{\"begins_with\": [\"hi\", \"hello there\", \"```json\"],"
                    " \"ends_with\": [\"best regards\", \"thanks!\", \"?\"]}");
    assert_int_equal(check(st, "Hello there! ... Best regards.", &sink), 1);
    const ph_eval_result *r = sink.results;
    assert_int_equal(value(r, "begins_with"), 1);
    assert_int_equal(value(r, "ends_with"), 1);
    /* leading / trailing whitespace, punctuation and symbols (markdown, quotes, emoji) skipped */
    assert_int_equal(check(st, "\n  **Hi**, you\n\nBest  Regards\xf0\x9f\x99\x82 \n", &sink), 1);
    assert_int_equal(check(st, "\xe2\x80\x9cHi\xe2\x80\x9d said I. Thanks!!", &sink), 1);
    assert_int_equal(check(st, "```json\n{}\n```\nAny questions?", &sink), 1);
    /* words, not prefixes */
    assert_int_equal(check(st, "History. Thanks!", &sink), 0);
    r = sink.results;
    assert_string_equal(r->label, "wrong_start");
    assert_int_equal(value(r, "begins_with"), 0);
    assert_int_equal(value(r, "ends_with"), 1);
    assert_true(r->score == 0.5);
    assert_string_equal(r->explanation, "does not begin with any of 3 phrase(s)");
    assert_int_equal(check(st, "Hi. Best regards, John", &sink), 0);
    assert_string_equal(sink.results[0].label, "wrong_end");
    assert_int_equal(check(st, "Hi. Thanksgiving", &sink), 0);
    assert_int_equal(check(st, "", &sink), 0);
    assert_true(sink.results[0].score == 0.0);
    /* a long text: the end is found past 10 KiB of body */
    char *big = malloc(20000);
    assert_non_null(big);
    strcpy(big, "Hi");
    for (size_t i = 2; i < 19000; i++)
        big[i] = i % 9 == 2 ? ' ' : 'x';
    strcpy(big + 19000, " thanks! \n");
    assert_int_equal(check(st, big, &sink), 1);
    free(big);
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
}

static void test_named_checks_and_targets(void **unused)
{
    ph_eval_message msgs[] = {
        {{"system", 6}, {"Never mention Globex.", 21}},
        {{"user", 4}, {"Hello, is the refund ready?", 27}},
        {{"assistant", 9}, {"Which order?", 12}},
        {{"user", 4}, {"Order 7. Thanks", 15}},
    };
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    void *st =
        make("{\"checks\": ["
             "{\"name\": \"polite\", \"target\": \"input\", \"ends_with\": [\"thanks\"]},"
             "{\"name\": \"no_globex\", \"exclude\": [\"globex\"]},"
             "{\"name\": \"no_globex_in\", \"target\": \"input_all\", \"exclude\": [\"globex\"]},"
             "{\"name\": \"asked_refund\", \"target\": \"input_all\", \"include\": [\"refund\"]}"
             "]}");
    ph_eval_record rec = record(msgs, 4, "Your refund is on its way.");
    const ph_eval_result *r = run(st, &rec, &sink, 4);
    assert_string_equal(r[0].evaluator, "words.polite");
    assert_int_equal(r[0].passed, 1);
    assert_string_equal(r[1].evaluator, "words.no_globex");
    assert_int_equal(r[1].passed, 1);
    assert_int_equal(r[2].passed, 0); /* the system message names it */
    assert_int_equal(r[3].passed, 1); /* an earlier user message */
    /* no user message: the input is empty */
    rec = record(msgs, 1, "ok");
    r = run(st, &rec, &sink, 4);
    assert_int_equal(r[0].passed, 0);
    assert_int_equal(r[3].passed, 0);
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
}

static void test_bad_configs(void **unused)
{
    refuses("{}", "needs at least one of include, exclude, begins_with, ends_with");
    refuses("{\"target\": \"output\"}", "needs at least one of");
    refuses("{\"include\": [\"a\"], \"color\": 1}", "unknown key \"color\"");
    refuses("{\"include\": []}", "include: must be an array of 1 to 1024");
    refuses("{\"include\": \"a\"}", "include: must be an array");
    refuses("{\"include\": [\"a\", \"  \"]}", "include[1]: must be a non-blank string");
    refuses("{\"include\": [\"a\", 3]}", "include[1]: must be a non-blank string");
    refuses("{\"exclude\": [\"a\"], \"include_mode\": \"all\"}", "include_mode: without include");
    refuses("{\"include\": [\"a\"], \"include_mode\": \"most\"}", "include_mode: must be");
    refuses("{\"include\": [\"a\"], \"target\": \"context\"}", "target: must be");
    refuses("{\"begins_with\": [\"a\"], \"target\": \"input_all\"}",
            "begins_with: applies to one text");
    refuses("{\"checks\": []}", "checks: must be an array of 1 to 64 checks");
    refuses("{\"checks\": [{\"name\": \"a\", \"include\": [\"x\"]}], \"include\": [\"y\"]}",
            "every other key goes inside a check");
    refuses("{\"checks\": [{\"include\": [\"x\"]}]}", "checks[0].name: required");
    refuses("{\"checks\": [{\"name\": \"a\", \"include\": [\"x\"]},"
            " {\"name\": \"a\", \"exclude\": [\"x\"]}]}",
            "checks[1].name: \"a\" is used twice");
    refuses("{\"checks\": [{\"name\": \"a\", \"include\": [\"x\"], \"bogus\": true}]}",
            "checks[0]: unknown key \"bogus\"");
    refuses("{\"checks\": [{\"name\": \"a\"}]}", "checks[0]: needs at least one of");
    refuses("[]", "config must be an object");
    /* 1025 terms */
    char *big = malloc(1025 * 4 + 32);
    assert_non_null(big);
    strcpy(big, "{\"include\": [");
    for (int i = 0; i < 1025; i++)
        strcat(big, i ? ",\"a\"" : "\"a\"");
    strcat(big, "]}");
    refuses(big, "include: must be an array of 1 to 1024");
    free(big);
    /* terms are literal: regex syntax means nothing */
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    void *st = make("{\"include\": [\"a.c\", \"(x\", \"[y]\", \"\\\\d\", \"$1\", \"a|b\"]}");
    assert_int_equal(check(st, "abc", &sink), 0);
    assert_int_equal(check(st, "see (x", &sink), 1);
    assert_int_equal(check(st, "a|b", &sink), 1);
    assert_int_equal(check(st, "costs $1", &sink), 1);
    assert_int_equal(check(st, "\\d", &sink), 1);
    assert_int_equal(check(st, "7", &sink), 0);
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
    KIND.destroy(NULL);
}

static void test_shared_data(void **unused)
{
    data_set ds;
    if (!data_load(&ds)) {
        print_message("llm_logs.jsonl not found: skipped\n");
        skip();
    }
    static const char *const names[] = {"apology", "eager_start", "ends_question", "python",
                                        "insult_in"};
    void *st = make("{\"checks\": ["
                    "{\"name\": \"apology\", \"exclude\": [\"I'm sorry\", \"I apologize\","
                    " \"I cannot\", \"I can't\", \"as an AI\", \"language model\"]},"
                    "{\"name\": \"eager_start\", \"begins_with\": [\"sure\", \"certainly\","
                    " \"of course\", \"absolutely\", \"great question\"]},"
                    "{\"name\": \"ends_question\", \"ends_with\": [\"?\"]},"
                    "{\"name\": \"python\", \"include\": [\"python\"]},"
                    "{\"name\": \"insult_in\", \"target\": \"input\", \"exclude\": [\"idiot\","
                    " \"stupid\", \"dumb\", \"moron\", \"shut up\", \"hate you\"]}"
                    "]}");
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    sink.current_name = "words";
    sink.current_version = "1.test";
    size_t failed[5] = {0}, errors = 0;
    for (size_t i = 0; i < ds.n; i++) {
        char err[PH_ERRSTR_SIZE];
        ph_eval_sink_reset(&sink);
        assert_int_equal(KIND.evaluate(st, &ds.recs[i], &sink, err, sizeof(err)), 0);
        assert_int_equal(sink.n, 5);
        for (size_t k = 0; k < 5; k++) {
            errors += sink.results[k].status != PH_EVAL_OK;
            failed[k] += sink.results[k].passed == 0;
        }
    }
    /* eager_start and ends_question "fail" when the text does NOT start / end that way */
    for (size_t k = 0; k < 5; k++)
        print_message("words.%s: passed %zu, failed %zu of %zu\n", names[k], ds.n - failed[k],
                      failed[k], ds.n);
    assert_int_equal(errors, 0);

    /* the automaton (ASCII lists) and PCRE2 (lists with a non-ASCII term, here one that never
     * occurs) find the same terms in every output */
    void *ac = make("{\"include\": [\"I'm sorry\", \"I cannot\", \"as an AI\", \"the\","
                    " \"of the\", \"e.g.\", \"c++\", \"don't\", \"new york\", \"york\"]}");
    void *rx = make("{\"include\": [\"I'm sorry\", \"I cannot\", \"as an AI\", \"the\","
                    " \"of the\", \"e.g.\", \"c++\", \"don't\", \"new york\", \"york\","
                    " \"\u00fc\u00fc\u00fc\"]}");
    size_t differ = 0, found = 0;
    for (size_t i = 0; i < ds.n; i++) {
        char err[PH_ERRSTR_SIZE];
        ph_eval_sink_reset(&sink);
        assert_int_equal(KIND.evaluate(ac, &ds.recs[i], &sink, err, sizeof(err)), 0);
        assert_int_equal(KIND.evaluate(rx, &ds.recs[i], &sink, err, sizeof(err)), 0);
        double a = value(&sink.results[0], "include_found");
        double b = value(&sink.results[1], "include_found");
        found += (size_t)a;
        if (a != b && differ++ < 5)
            print_message("record %zu: automaton %.0f, pcre2 %.0f\n", i, a, b);
    }
    print_message("automaton vs pcre2: %zu terms found, %zu records differ\n", found, differ);
    assert_int_equal(differ, 0);
    KIND.destroy(ac);
    KIND.destroy(rx);

    data_time(&KIND, st, &ds, "words (5 checks)");
    KIND.destroy(st);
    /* one list alone, the automaton's cost */
    st = make("{\"exclude\": [\"I'm sorry\", \"I apologize\", \"I cannot\", \"I can't\","
              " \"as an AI\", \"language model\"]}");
    data_time(&KIND, st, &ds, "words (1 exclude list of 6)");
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
    data_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_include_exclude), cmocka_unit_test(test_unicode_and_odd_content),
        cmocka_unit_test(test_begins_ends),     cmocka_unit_test(test_named_checks_and_targets),
        cmocka_unit_test(test_bad_configs),     cmocka_unit_test(test_shared_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
