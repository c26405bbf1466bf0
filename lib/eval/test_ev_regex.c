/* regex: named patterns, targets, match / not_match, bad patterns, the backtracking guard, odd
 * content, and a run over every record of the shared llm_logs.jsonl (match counts and CPU cost
 * printed). PHAROS_EVAL_PASSES=N repeats the timed pass N times (default 1). */
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

extern const ph_evaluator_kind ph_eval_kind_regex;
#define KIND ph_eval_kind_regex

static void *make(const char *json)
{
    return eval_test_make(&KIND, json);
}

/* create() must refuse json; err gets the reason. */
static void refuses(const char *json, const char *why)
{
    eval_test_refuses(&KIND, json, why);
}

static void run(const void *st, const ph_eval_record *rec, ph_eval_sink *sink, size_t want)
{
    char err[PH_ERRSTR_SIZE];
    ph_eval_sink_reset(sink);
    sink->current_name = "rx";
    sink->current_version = "1.test";
    assert_int_equal(KIND.evaluate(st, rec, sink, err, sizeof(err)), 0);
    assert_int_equal(sink->n, want);
}

static void test_match_and_not_match(void **unused)
{
    ph_eval_message msgs[] = {
        {{"system", 6}, {"No SQL. Ever.", 13}},
        {{"user", 4}, {"Show me SELECT * FROM users", 27}},
        {{"assistant", 9}, {"select 1 from dual", 18}},
        {{"user", 4}, {"and now DELETE FROM t?", 22}},
    };
    void *st =
        make("{\"patterns\": ["
             "{\"name\": \"no_sql\", \"pattern\": \"\\\\b(select|delete)\\\\b.*\\\\bfrom\\\\b\","
             " \"caseless\": true, \"must\": \"not_match\"},"
             "{\"name\": \"cites\", \"pattern\": \"\\\\[\\\\d+\\\\]\"},"
             "{\"name\": \"sql_in\", \"pattern\": \"(?i)\\\\bfrom\\\\b\", \"target\": \"input\"},"
             "{\"name\": \"sql_all\", \"pattern\": \"(?i)\\\\bfrom\\\\b\","
             " \"target\": \"input_all\", \"must\": \"not_match\"}]}");
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    ph_eval_record rec = record(msgs, 4, "Here: SELECT name FROM t [1]. Also [2] and [x].");
    run(st, &rec, &sink, 4);
    const ph_eval_result *r = sink.results;
    assert_string_equal(r[0].evaluator, "rx.no_sql");
    assert_string_equal(r[0].version, "1.test");
    assert_string_equal(r[0].label, "matched");
    assert_int_equal(r[0].passed, 0);
    assert_int_equal(value(&r[0], "matches"), 1);
    assert_string_equal(r[0].explanation, "1 match(es) in output; must not match");
    assert_string_equal(r[1].evaluator, "rx.cites");
    assert_string_equal(r[1].label, "matched");
    assert_int_equal(r[1].passed, 1);
    assert_int_equal(value(&r[1], "matches"), 2);
    assert_int_equal(r[2].passed, 1); /* the last user message: "DELETE FROM" */
    assert_int_equal(value(&r[2], "matches"), 1);
    assert_int_equal(r[3].passed, 0); /* FROM in three of the four messages */
    assert_int_equal(value(&r[3], "matches"), 3);
    assert_string_equal(r[3].label, "matched");

    rec = record(msgs, 1, "Nothing to see");
    run(st, &rec, &sink, 4);
    r = sink.results;
    assert_string_equal(r[0].label, "not_matched");
    assert_int_equal(r[0].passed, 1);
    assert_int_equal(value(&r[0], "matches"), 0);
    assert_string_equal(r[0].explanation, "no match in output; must not match");
    assert_int_equal(r[1].passed, 0);
    assert_int_equal(r[2].passed, 0); /* no user message: the input is empty */
    assert_int_equal(value(&r[2], "matches"), 0);
    assert_int_equal(r[3].passed, 1);
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
}

static void test_bad_configs(void **unused)
{
    refuses("{}", "patterns: required");
    refuses("{\"patterns\": []}", "patterns: required");
    refuses("{\"patterns\": {}}", "patterns: required");
    refuses("{\"patterns\": [{\"name\": \"a\", \"pattern\": \"x\"}], \"other\": 1}",
            "unknown key \"other\"");
    refuses("{\"patterns\": [{\"name\": \"a\", \"pattern\": \"x\", \"flags\": \"i\"}]}",
            "patterns[0]: unknown key \"flags\"");
    refuses("{\"patterns\": [{\"pattern\": \"x\"}]}", "patterns[0].name: required");
    refuses("{\"patterns\": [{\"name\": \"a b\", \"pattern\": \"x\"}]}", "patterns[0].name");
    refuses("{\"patterns\": [{\"name\": \"a\", \"pattern\": \"x\"}, {\"name\": \"a\", "
            "\"pattern\": \"y\"}]}",
            "patterns[1].name: \"a\" is used twice");
    refuses("{\"patterns\": [{\"name\": \"a\"}]}", "patterns[0].pattern: required");
    refuses("{\"patterns\": [{\"name\": \"a\", \"pattern\": \"\"}]}", "patterns[0].pattern");
    refuses("{\"patterns\": [{\"name\": \"a\", \"pattern\": \"x\", \"target\": \"context\"}]}",
            "patterns[0].target: must be");
    refuses("{\"patterns\": [{\"name\": \"a\", \"pattern\": \"x\", \"must\": \"yes\"}]}",
            "patterns[0].must: must be");
    refuses("{\"patterns\": [{\"name\": \"a\", \"pattern\": \"x\", \"caseless\": 1}]}",
            "patterns[0].caseless");
    refuses("{\"patterns\": [{\"name\": \"a\", \"pattern\": \"x\"}], \"match_limit\": 0}",
            "match_limit");
    refuses("{\"patterns\": [{\"name\": \"a\", \"pattern\": \"x\"}], \"max_count\": -1}",
            "max_count");
    /* the PCRE2 error and its offset */
    refuses("{\"patterns\": [{\"name\": \"ok\", \"pattern\": \"x\"},"
            " {\"name\": \"bad\", \"pattern\": \"ab(c\"}]}",
            "patterns[1].pattern: missing closing parenthesis at offset 4");
    refuses("{\"patterns\": [{\"name\": \"bad\", \"pattern\": \"a{2,1}\"}]}",
            "patterns[0].pattern: numbers out of order in {} quantifier at offset 5");
    refuses("{\"patterns\": [{\"name\": \"bad\", \"pattern\": \"x\\\\\"}]}",
            "patterns[0].pattern: \\ at end of pattern at offset 2");
    refuses("[1]", "config must be an object");
    KIND.destroy(NULL);
}

static void test_backtracking_guard(void **unused)
{
    /* (a|aa)+$ on a long run of a's that ends badly is exponential without a limit */
    void *st = make("{\"patterns\": [{\"name\": \"evil\", \"pattern\": \"^(a|aa)+$\"},"
                    " {\"name\": \"fine\", \"pattern\": \"a\"}], \"match_limit\": 100000}");
    char text[4096 + 2];
    memset(text, 'a', 4096);
    text[4096] = '!';
    text[4097] = '\0';
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    ph_eval_record rec = record(NULL, 0, text);
    clock_t t0 = clock();
    run(st, &rec, &sink, 2);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    assert_int_equal(sink.results[0].status, PH_EVAL_ERROR);
    assert_int_equal(sink.results[0].passed, -1);
    assert_non_null(strstr(sink.results[0].explanation, "match limit hit"));
    /* the other pattern is still scored: 1000 is the default max_count */
    assert_int_equal(sink.results[1].status, PH_EVAL_OK);
    assert_int_equal(value(&sink.results[1], "matches"), 1000);
    assert_string_equal(sink.results[1].explanation, ">=1000 match(es) in output; must match");
    assert_true(secs < 1.0);
    KIND.destroy(st);

    /* the default limit also stops it, in well under a second */
    st = make("{\"patterns\": [{\"name\": \"evil\", \"pattern\": \"^(\\\\w+\\\\s?)*$\"}]}");
    char words[8192];
    for (size_t i = 0; i < sizeof(words) - 2; i++)
        words[i] = i % 6 == 5 ? ' ' : 'w';
    words[sizeof(words) - 2] = '!';
    words[sizeof(words) - 1] = '\0';
    rec = record(NULL, 0, words);
    t0 = clock();
    run(st, &rec, &sink, 1);
    secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    assert_int_equal(sink.results[0].status, PH_EVAL_ERROR);
    print_message("default match limit reached in %.3f s\n", secs);
    assert_true(secs < 1.0);

    /* the same pattern on a long text it matches: too deep for the JIT stack, so the
     * interpreter answers */
    words[sizeof(words) - 2] = 'w';
    rec = record(NULL, 0, words);
    run(st, &rec, &sink, 1);
    assert_int_equal(sink.results[0].status, PH_EVAL_OK);
    assert_string_equal(sink.results[0].label, "matched");
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
}

static void test_odd_content(void **unused)
{
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    void *st = make("{\"patterns\": ["
                    "{\"name\": \"abc\", \"pattern\": \"abc\"},"
                    "{\"name\": \"e_acute\", \"pattern\": \"caf\\u00e9\", \"caseless\": true},"
                    "{\"name\": \"any3\", \"pattern\": \"^...$\"},"
                    "{\"name\": \"empty\", \"pattern\": \"^$\"},"
                    "{\"name\": \"zero_width\", \"pattern\": \"\\\\b\"}"
                    "]}");

    /* invalid UTF-8 is a barrier, never an error: the valid fragments still match */
    ph_eval_record rec = record(NULL, 0,
                                "\xff\xfe"
                                "abc\xc3 CAF\xc3\x89\x80");
    run(st, &rec, &sink, 5);
    assert_int_equal(sink.results[0].status, PH_EVAL_OK);
    assert_int_equal(sink.results[0].passed, 1);
    assert_int_equal(sink.results[1].passed, 1); /* caseless in UTF mode: É = é */
    assert_int_equal(sink.results[3].passed, 0);

    /* a dot is one character, not one byte */
    rec = record(NULL, 0, "\xe2\x82\xac\xc3\xa9z");
    run(st, &rec, &sink, 5);
    assert_int_equal(sink.results[2].passed, 1);

    /* empty output: only ^$ matches; the empty match is counted once */
    rec = record(NULL, 0, "");
    run(st, &rec, &sink, 5);
    assert_int_equal(sink.results[0].passed, 0);
    assert_int_equal(sink.results[3].passed, 1);
    assert_int_equal(value(&sink.results[3], "matches"), 1);
    assert_int_equal(value(&sink.results[4], "matches"), 0);

    /* empty matches advance one character at a time: \b in "ab cd" is at 0, 2, 3, 5 */
    rec = record(NULL, 0, "ab cd");
    run(st, &rec, &sink, 5);
    assert_int_equal(value(&sink.results[4], "matches"), 4);

    /* a huge output: 16 MiB without a match, then with one at the very end */
    size_t n = 16u << 20;
    char *huge = malloc(n + 4);
    assert_non_null(huge);
    for (size_t i = 0; i < n; i++)
        huge[i] = (char)('d' + i % 20);
    memcpy(huge + n, "abc", 4);
    rec = record(NULL, 0, huge);
    run(st, &rec, &sink, 5);
    assert_int_equal(sink.results[0].status, PH_EVAL_OK);
    assert_int_equal(value(&sink.results[0], "matches"), 1);
    free(huge);
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
}

static void test_shared_data(void **unused)
{
    data_set ds;
    if (!data_load(&ds)) {
        print_message("llm_logs.jsonl not found: skipped\n");
        skip();
    }
    /* patterns a deployment might watch */
    void *st =
        make("{\"patterns\": ["
             "{\"name\": \"code_fence\", \"pattern\": \"^```\", \"caseless\": false},"
             "{\"name\": \"url\", \"pattern\": \"\\\\bhttps?://[^\\\\s)>\\\\]]+\"},"
             "{\"name\": \"as_an_ai\", \"pattern\": \"(?i)\\\\bas an ai\\\\b\", \"must\": "
             "\"not_match\"},"
             "{\"name\": \"apology\", \"pattern\": \"(?i)\\\\b(?:sorry|apologi[sz]e)\\\\b\","
             " \"must\": \"not_match\"},"
             "{\"name\": \"sql\", \"pattern\": \"(?i)\\\\bselect\\\\b[^;]{1,200}?\\\\bfrom\\\\b\","
             " \"must\": \"not_match\"},"
             "{\"name\": \"question\", \"pattern\": \"\\\\?\\\\s*$\", \"target\": \"input\"},"
             "{\"name\": \"ignore_previous\","
             " \"pattern\": \"(?i)ignore (?:all )?(?:the )?(?:previous|prior|above) instructions\","
             " \"target\": \"input_all\", \"must\": \"not_match\"}"
             "]}");
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    sink.current_name = "rx";
    sink.current_version = "1.test";
    size_t matched[7] = {0}, errors = 0, matches[7] = {0};
    for (size_t i = 0; i < ds.n; i++) {
        char err[PH_ERRSTR_SIZE];
        ph_eval_sink_reset(&sink);
        assert_int_equal(KIND.evaluate(st, &ds.recs[i], &sink, err, sizeof(err)), 0);
        assert_int_equal(sink.n, 7);
        for (size_t k = 0; k < 7; k++) {
            const ph_eval_result *r = &sink.results[k];
            errors += r->status != PH_EVAL_OK;
            matched[k] += strcmp(r->label, "matched") == 0;
            matches[k] += (size_t)value(r, "matches");
        }
    }
    static const char *const names[] = {"code_fence", "url",      "as_an_ai",       "apology",
                                        "sql",        "question", "ignore_previous"};
    for (size_t k = 0; k < 7; k++)
        print_message("regex.%s: %zu of %zu records matched, %zu matches\n", names[k], matched[k],
                      ds.n, matches[k]);
    assert_int_equal(errors, 0);

    data_time(&KIND, st, &ds, "regex (7 patterns)");
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
    data_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_and_not_match), cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_backtracking_guard),  cmocka_unit_test(test_odd_content),
        cmocka_unit_test(test_shared_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
