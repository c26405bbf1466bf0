/* text_stats: lengths, non-letter share and thresholds, on crafted records and on every record of
 * the shared llm_logs.jsonl (distribution and CPU cost printed).
 * PHAROS_EVAL_PASSES=N repeats the timed pass over the shared data N times (default 1). */
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
#include "ph_text.h"

extern const ph_evaluator_kind ph_eval_kind_text_stats;
#define KIND ph_eval_kind_text_stats

static void *make(const char *json)
{
    json_error_t jerr;
    json_t *config = json_loads(json, 0, &jerr);
    char err[PH_ERRSTR_SIZE] = "";
    void *st = NULL;
    assert_non_null(config);
    int rc = KIND.create(&st, config, err, sizeof(err));
    json_decref(config);
    if (rc != 0)
        fail_msg("create(%s): %s", json, err);
    return st;
}

static int make_fails(const char *json, char *err, size_t size)
{
    json_error_t jerr;
    json_t *config = json_loads(json, 0, &jerr);
    void *st = NULL;
    assert_non_null(config);
    int rc = KIND.create(&st, config, err, size);
    json_decref(config);
    assert_null(st);
    return rc;
}

static const ph_eval_result *run(const void *st, const ph_eval_record *rec, ph_eval_sink *sink)
{
    char err[PH_ERRSTR_SIZE];
    ph_eval_sink_reset(sink);
    sink->current_name = "text_stats";
    sink->current_version = "1.test";
    assert_int_equal(KIND.evaluate(st, rec, sink, err, sizeof(err)), 0);
    assert_int_equal(sink->n, 1);
    return &sink->results[0];
}

/* text_stats counts in one pass what ph_text.h counts in three: they must agree exactly. */
static void assert_agrees(const void *st, const char *s, size_t len, ph_eval_sink *sink)
{
    char err[PH_ERRSTR_SIZE];
    ph_eval_record rec;
    memset(&rec, 0, sizeof(rec));
    rec.output = (ph_str){s, len};
    ph_eval_sink_reset(sink);
    assert_int_equal(KIND.evaluate(st, &rec, sink, err, sizeof(err)), 0);
    const ph_eval_result *r = &sink->results[sink->n - 1];
    assert_int_equal(value(r, "output_chars"), ph_text_chars(s, len));
    assert_int_equal(value(r, "output_words"), ph_text_words(s, len));
    assert_int_equal(value(r, "output_sentences"), ph_text_sentences(s, len));
}

static void test_agrees_with_ph_text(void **unused)
{
    static const char *const texts[] = {
        "",
        "x",
        "'",
        "a'",
        "'a",
        "a'b",
        "a''b",
        "don't stop",
        "it's 3.14.",
        "e.g. this... and?!",
        "O\xe2\x80\x99Neil's caf\xc3\xa9",
        "end.",
        "...",
        "a.b.c",
        "Hi!! Yes? No.",
        "\x80\xbf x",
        "tab\tnew\nline\r\n",
        "a . b",
        "word'",
        "x'\xc3\xa9",
        "1'2'3",
        ".'.",
        "a'.",
    };
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    void *st = make("{}");
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        assert_agrees(st, texts[i], strlen(texts[i]), &sink);
    /* every prefix of a mixed text (each cut is a possible end of input) */
    const char *mix = "We're at 3.5%. Caf\xc3\xa9's 'menu'... is it \xe2\x82\xac"
                      "9? Yes!\n- ok";
    for (size_t n = 0; n <= strlen(mix); n++)
        assert_agrees(st, mix, n, &sink);
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
}

static void test_counts(void **unused)
{
    ph_eval_message msgs[] = {
        {{"system", 6}, {"Be brief.", 9}},
        {{"user", 4}, {"Hi there. How are you?", 22}},
        {{"assistant", 9}, {"Fine.", 5}},
        {{"user", 4}, {"Caf\xc3\xa9 au lait, please!", 22}},
    };
    ph_eval_record rec =
        record(msgs, 4, "Sure: one caf\xc3\xa9 au lait (3.50 \xe2\x82\xac). Enjoy!");
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    void *st = make("{}");
    const ph_eval_result *r = run(st, &rec, &sink);
    assert_int_equal(value(r, "output_chars"), 39);
    /* Sure one café au lait 3 50 € Enjoy: ph_text.h counts non-ASCII as letters, so "€" is a word
     */
    assert_int_equal(value(r, "output_words"), 9);
    assert_int_equal(value(r, "output_sentences"), 2);
    /* non-space characters: 32; non-letters among them: ": ( 3 . 5 0 EUR ) . !" = 10 */
    assert_float_equal(value(r, "output_nonletter_share"), 10.0 / 32.0, 1e-9);
    assert_int_equal(value(r, "input_chars"), 21); /* the last user message */
    assert_int_equal(value(r, "input_words"), 4);
    assert_int_equal(value(r, "input_sentences"), 1);
    assert_int_equal(value(r, "input_total_chars"), 9 + 22 + 5 + 21);
    assert_int_equal(value(r, "input_messages"), 4);
    /* no thresholds: nothing to pass or fail */
    assert_int_equal(r->passed, -1);
    assert_string_equal(r->label, "");
    assert_false(r->has_score);
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
}

static void test_thresholds(void **unused)
{
    ph_eval_message user = {{"user", 4}, {"Tell me a story.", 16}};
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    void *st = make("{\"min_output_chars\": 10, \"max_output_chars\": 40, \"min_output_words\": 3,"
                    " \"max_output_words\": 6}");
    ph_eval_record rec = record(&user, 1, "Once upon a time.");
    const ph_eval_result *r = run(st, &rec, &sink);
    assert_int_equal(r->passed, 1);
    assert_string_equal(r->label, "ok");

    rec = record(&user, 1, "No.");
    r = run(st, &rec, &sink);
    assert_int_equal(r->passed, 0);
    assert_string_equal(r->label, "too_short");
    assert_string_equal(r->explanation, "output has 3 characters, min_output_chars is 10");

    rec = record(&user, 1, "Nope, not today");
    r = run(st, &rec, &sink);
    assert_string_equal(r->label, "ok");
    rec = record(&user, 1, "Nope, really");
    r = run(st, &rec, &sink);
    assert_string_equal(r->label, "too_short"); /* 2 words */
    assert_string_equal(r->explanation, "output has 2 words, min_output_words is 3");

    rec = record(&user, 1, "a b c d e f g");
    r = run(st, &rec, &sink);
    assert_string_equal(r->label, "too_long");
    assert_int_equal(r->passed, 0);
    rec = record(&user, 1, "Once upon a time there was a very, very long story.");
    r = run(st, &rec, &sink);
    assert_string_equal(r->label, "too_long");

    /* empty output: too short; but a failed call is not judged */
    rec = record(&user, 1, "");
    r = run(st, &rec, &sink);
    assert_string_equal(r->label, "too_short");
    assert_int_equal(value(r, "output_nonletter_share"), 0);
    rec.is_error = true;
    r = run(st, &rec, &sink);
    assert_int_equal(r->passed, -1);
    assert_string_equal(r->label, "");
    assert_int_equal(value(r, "output_chars"), 0);
    KIND.destroy(st);

    /* one bound only */
    st = make("{\"max_output_words\": 2}");
    rec = record(&user, 1, "");
    r = run(st, &rec, &sink);
    assert_string_equal(r->label, "ok");
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
}

static void test_bad_config(void **unused)
{
    char err[PH_ERRSTR_SIZE];
    assert_int_equal(make_fails("{\"min_chars\": 3}", err, sizeof(err)), PH_EINVAL);
    assert_non_null(strstr(err, "unknown key \"min_chars\""));
    assert_int_equal(make_fails("{\"min_output_chars\": -1}", err, sizeof(err)), PH_EINVAL);
    assert_int_equal(make_fails("{\"min_output_chars\": \"10\"}", err, sizeof(err)), PH_EINVAL);
    assert_int_equal(make_fails("{\"max_output_words\": 1.5}", err, sizeof(err)), PH_EINVAL);
    assert_int_equal(
        make_fails("{\"min_output_chars\": 9, \"max_output_chars\": 8}", err, sizeof(err)),
        PH_EINVAL);
    assert_non_null(strstr(err, "above"));
    assert_int_equal(make_fails("[]", err, sizeof(err)), PH_EINVAL);
    KIND.destroy(NULL);
}

static void test_edges(void **unused)
{
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    void *st = make("{\"min_output_words\": 1}");

    /* no messages at all, no user message */
    ph_eval_record rec = record(NULL, 0, "Hello");
    const ph_eval_result *r = run(st, &rec, &sink);
    assert_int_equal(value(r, "input_chars"), 0);
    assert_int_equal(value(r, "input_total_chars"), 0);
    ph_eval_message asst = {{"assistant", 9}, {"earlier", 7}};
    rec = record(&asst, 1, "Hello");
    r = run(st, &rec, &sink);
    assert_int_equal(value(r, "input_words"), 0);
    assert_int_equal(value(r, "input_total_chars"), 7);

    /* invalid UTF-8: stray continuation, truncated sequence, overlong, surrogate */
    const char bad[] = "ab\x80\xc3 \xe2\x82 \xc0\xaf \xed\xa0\x80!";
    rec = record(NULL, 0, bad);
    r = run(st, &rec, &sink);
    assert_true(value(r, "output_nonletter_share") > 0.5);
    assert_true(value(r, "output_chars") > 0);

    /* symbols and emoji are not letters; CJK and Cyrillic are */
    rec = record(NULL, 0,
                 "\xe4\xbd\xa0\xe5\xa5\xbd\xe3\x80\x82\xd0\x9f\xd1\x80\xd0\xb8 \xf0\x9f\x98\x80");
    r = run(st, &rec, &sink); /* 你好。При 😀 */
    assert_int_equal(value(r, "output_chars"), 8);
    assert_float_equal(value(r, "output_nonletter_share"), 2.0 / 7.0, 1e-9);

    /* huge output: 8 MiB of words */
    size_t n = 8u << 20;
    char *huge = malloc(n + 1);
    assert_non_null(huge);
    for (size_t i = 0; i < n; i++)
        huge[i] = (i % 8 == 7) ? ' ' : 'a' + (char)(i % 8);
    huge[n] = '\0';
    rec = record(NULL, 0, huge);
    r = run(st, &rec, &sink);
    assert_int_equal(value(r, "output_words"), n / 8);
    assert_string_equal(r->label, "ok");
    free(huge);

    KIND.destroy(st);
    ph_eval_sink_free(&sink);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_shared_data(void **unused)
{
    data_set ds;
    if (!data_load(&ds)) {
        print_message("llm_logs.jsonl not found: skipped\n");
        skip();
    }
    void *st = make("{\"min_output_words\": 3, \"max_output_words\": 1000}");
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    sink.current_name = "text_stats";
    sink.current_version = "1.test";
    double *chars = malloc(ds.n * sizeof(double)), *words = malloc(ds.n * sizeof(double));
    double share_sum = 0, high_share = 0, bytes = 0;
    size_t ok = 0, too_short = 0, too_long = 0;
    assert_true(chars && words);
    /* the distribution, and the agreement with ph_text.h, untimed */
    for (size_t i = 0; i < ds.n; i++) {
        char err[PH_ERRSTR_SIZE];
        ph_eval_sink_reset(&sink);
        assert_int_equal(KIND.evaluate(st, &ds.recs[i], &sink, err, sizeof(err)), 0);
        const ph_eval_result *r = &sink.results[0];
        const ph_str *o = &ds.recs[i].output;
        chars[i] = value(r, "output_chars");
        words[i] = value(r, "output_words");
        assert_int_equal(chars[i], ph_text_chars(o->s, o->len));
        assert_int_equal(words[i], ph_text_words(o->s, o->len));
        assert_int_equal(value(r, "output_sentences"), ph_text_sentences(o->s, o->len));
        size_t total = 0;
        for (size_t k = 0; k < ds.recs[i].nmessages; k++)
            total +=
                ph_text_chars(ds.recs[i].messages[k].content.s, ds.recs[i].messages[k].content.len);
        assert_int_equal(value(r, "input_total_chars"), total);
        double share = value(r, "output_nonletter_share");
        share_sum += share;
        high_share += share > 0.5;
        ok += strcmp(r->label, "ok") == 0;
        too_short += strcmp(r->label, "too_short") == 0;
        too_long += strcmp(r->label, "too_long") == 0;
        bytes += (double)o->len;
        for (size_t k = 0; k < ds.recs[i].nmessages; k++)
            bytes += (double)ds.recs[i].messages[k].content.len;
    }
    assert_int_equal(ok + too_short + too_long, ds.n);
    qsort(chars, ds.n, sizeof(double), cmp_double);
    qsort(words, ds.n, sizeof(double), cmp_double);
    print_message("text_stats over %zu records: output chars p50 %.0f p90 %.0f p99 %.0f max %.0f; "
                  "words p50 %.0f p99 %.0f max %.0f\n",
                  ds.n, chars[ds.n / 2], chars[ds.n * 9 / 10], chars[ds.n * 99 / 100],
                  chars[ds.n - 1], words[ds.n / 2], words[ds.n * 99 / 100], words[ds.n - 1]);
    print_message("text_stats: mean non-letter share %.3f, %.0f outputs above 0.5; with 3..1000 "
                  "words: ok %zu, too_short %zu, too_long %zu; %.0f bytes of text a record\n",
                  share_sum / (double)ds.n, high_share, ok, too_short, too_long,
                  bytes / (double)ds.n);
    data_time(&KIND, st, &ds, "text_stats");
    free(chars);
    free(words);
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
    data_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agrees_with_ph_text),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_thresholds),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_shared_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
