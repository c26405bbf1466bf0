/* Word, sentence and character counting used by the evaluators. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "ph_eval.h"
#include "ph_text.h"

#define S(x) x, strlen(x)

static void test_words(void **state)
{
    ph_words w;
    const char *word;
    size_t len;
    const char *t = "Don't  stop--it's 3.14, caf\xc3\xa9 O\xe2\x80\x99Neil 'quoted' x";
    const char *want[] = {"Don't",  "stop", "it's", "3", "14", "caf\xc3\xa9", "O\xe2\x80\x99Neil",
                          "quoted", "x"};
    ph_words_init(&w, S(t));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_true(ph_words_next(&w, &word, &len));
        assert_int_equal(len, strlen(want[i]));
        assert_memory_equal(word, want[i], len);
    }
    assert_false(ph_words_next(&w, &word, &len));
    assert_int_equal(ph_text_words(S("")), 0);
    assert_int_equal(ph_text_words(S("  ... !!! ")), 0);
    assert_int_equal(ph_text_words(S("one two  three")), 3);
}

static void test_sentences_and_chars(void **state)
{
    assert_int_equal(ph_text_sentences(S("")), 0);
    assert_int_equal(ph_text_sentences(S("Hello")), 1);
    assert_int_equal(ph_text_sentences(S("Hello. World!")), 2);
    assert_int_equal(ph_text_sentences(S("Wait... what?! Pi is 3.14 exactly.")), 3);
    assert_int_equal(ph_text_sentences(S("...")), 0);
    assert_int_equal(ph_text_chars(S("caf\xc3\xa9")), 4);
    char buf[16];
    ph_text_lower(buf, "AbC-\xc3\x89", 6);
    assert_memory_equal(buf, "abc-\xc3\x89", 6);
    assert_true(ph_word_eq("SoRRy", 5, "sorry"));
    assert_false(ph_word_eq("sorr", 4, "sorry"));
    assert_false(ph_word_eq("sorrys", 6, "sorry"));
}

static void test_sink(void **state)
{
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    sink.current_name = "regex";
    sink.current_version = "1.abcd1234";
    for (int i = 0; i < 40; i++) {
        ph_eval_result *r = ph_eval_emit(&sink, i % 2 ? "no_sql" : NULL);
        assert_non_null(r);
        assert_int_equal(r->passed, -1);
        ph_eval_add_value(r, "x", i);
        ph_eval_add_value(r, "x", i + 1);
    }
    assert_int_equal(sink.n, 40);
    assert_string_equal(sink.results[0].evaluator, "regex");
    assert_string_equal(sink.results[1].evaluator, "regex.no_sql");
    assert_string_equal(sink.results[1].version, "1.abcd1234");
    assert_int_equal(sink.results[39].nvalues, 1);
    assert_true(sink.results[39].values[0].value == 40);
    ph_eval_sink_reset(&sink);
    assert_int_equal(sink.n, 0);
    ph_eval_sink_free(&sink);

    ph_eval_message msgs[] = {{{"user", 4}, {"a", 1}},
                              {{"assistant", 9}, {"b", 1}},
                              {{"user", 4}, {"c", 1}},
                              {{"tool", 4}, {"d", 1}}};
    ph_eval_record rec = {.messages = msgs, .nmessages = 4};
    assert_ptr_equal(ph_eval_last_user(&rec), &msgs[2]);
    rec.nmessages = 0;
    assert_null(ph_eval_last_user(&rec));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words),
        cmocka_unit_test(test_sentences_and_chars),
        cmocka_unit_test(test_sink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
