/* What the judge accepts as a verdict, and what it stores of the judge's words. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "ph_error.h"
#include "ph_judge_int.h"

static char *labels3[] = {"relevant", "partially_relevant", "irrelevant"};

static ph_judge_criterion crit(void)
{
    ph_judge_criterion c;
    memset(&c, 0, sizeof(c));
    c.score_min = 1;
    c.score_max = 5;
    c.labels = labels3;
    c.nlabels = 3;
    return c;
}

static int parse(const char *text, ph_judge_verdict *v, char *why)
{
    ph_judge_criterion c = crit();
    return ph_judge_parse_verdict(text, strlen(text), &c, v, why, 160);
}

static void test_verdict_shapes(void **state)
{
    ph_judge_verdict v;
    char why[160];
    assert_int_equal(parse("{\"score\": 4, \"label\": \"relevant\", \"reason\": \"ok\"}", &v, why),
                     0);
    assert_true(v.score == 4);
    assert_string_equal(v.label, "relevant");
    assert_string_equal(v.reason, "ok");
    /* A fence with prose around it, and a stray brace after. */
    assert_int_equal(parse("Sure!\n```json\n{\"score\": 2.5, \"label\": \"irrelevant\"}\n```\n"
                           "Let me know {if you need more}.",
                           &v, why),
                     0);
    assert_true(v.score == 2.5);
    assert_string_equal(v.label, "irrelevant");
    assert_string_equal(v.reason, "");
    /* Drafts first, answer last: the last object with a score wins. */
    assert_int_equal(
        parse("<think>maybe {\"score\": 1}</think> {\"score\": 5, \"reason\": \"r\"}", &v, why), 0);
    assert_true(v.score == 5);
    /* Nested in a wrapper object. */
    assert_int_equal(
        parse("{\"verdict\": {\"score\": 3, \"label\": \"Partially Relevant\"}}", &v, why), 0);
    assert_true(v.score == 3);
    assert_string_equal(v.label, "partially_relevant"); /* the declared spelling */
    /* A number written as text is the judge's number. */
    assert_int_equal(parse("{\"score\": \"4\"}", &v, why), 0);
    assert_true(v.score == 4);
}

static void test_verdict_malformed(void **state)
{
    ph_judge_verdict v;
    char why[160];
    assert_int_equal(parse("I'd say four out of five.", &v, why), PH_EINVAL);
    assert_string_equal(why, "no JSON object in the reply");
    assert_int_equal(parse("{\"rating\": 4}", &v, why), PH_EINVAL);
    assert_string_equal(why, "the JSON object has no score");
    assert_int_equal(parse("{\"score\": 7}", &v, why), PH_EINVAL);
    assert_string_equal(why, "the score 7 is outside [1, 5]");
    assert_int_equal(parse("{\"score\": 0.5}", &v, why), PH_EINVAL);
    assert_int_equal(parse("{\"score\": \"high\"}", &v, why), PH_EINVAL);
    assert_int_equal(parse("{\"score\": null}", &v, why), PH_EINVAL);
    assert_int_equal(parse("{\"score\": 3, \"label\": \"great\"}", &v, why), PH_EINVAL);
    assert_non_null(strstr(why, "not a declared label"));
    assert_int_equal(parse("{\"score\": 3, \"label\": 2}", &v, why), PH_EINVAL);
    assert_int_equal(parse("{\"score\": 3", &v, why), PH_EINVAL); /* truncated by max_tokens */
    assert_int_equal(parse("", &v, why), PH_EINVAL);
}

static void test_chat_envelope(void **state)
{
    char *content = NULL, why[160];
    ph_judge_usage u;
    const char *ok = "{\"choices\":[{\"message\":{\"content\":\"{\\\"score\\\":1}\"}}],"
                     "\"usage\":{\"prompt_tokens\":90,\"completion_tokens\":10,"
                     "\"total_tokens\":100}}";
    assert_int_equal(ph_judge_parse_chat(ok, strlen(ok), &content, &u, why, sizeof(why)), 0);
    assert_string_equal(content, "{\"score\":1}");
    assert_true(u.reported);
    assert_int_equal(u.total_tokens, 100);
    assert_int_equal(u.prompt_tokens, 90);
    free(content);
    const char *nousage = "{\"choices\":[{\"message\":{\"content\":\"x\"}}]}";
    assert_int_equal(ph_judge_parse_chat(nousage, strlen(nousage), &content, &u, why, 160), 0);
    assert_false(u.reported);
    free(content);
    const char *null = "{\"choices\":[{\"message\":{\"content\":null}}]}";
    assert_int_equal(ph_judge_parse_chat(null, strlen(null), &content, &u, why, 160), PH_EINVAL);
    assert_int_equal(ph_judge_parse_chat("<html>", 6, &content, &u, why, 160), PH_EINVAL);
}

static void test_embeddings(void **state)
{
    double cos[2] = {0, 0};
    char why[160];
    ph_judge_usage u;
    /* Out of order on purpose: placed by index. */
    const char *three = "{\"data\":[{\"index\":2,\"embedding\":[0,1]},"
                        "{\"index\":0,\"embedding\":[1,0]},{\"index\":1,\"embedding\":[1,1]}],"
                        "\"usage\":{\"prompt_tokens\":12,\"total_tokens\":12}}";
    assert_int_equal(ph_judge_parse_embeddings(three, strlen(three), 3, cos, &u, why, 160), 0);
    assert_float_equal(cos[0], 0.70710678, 1e-6);
    assert_float_equal(cos[1], 0.70710678, 1e-6);
    assert_int_equal(u.total_tokens, 12);
    const char *zero = "{\"data\":[{\"embedding\":[0,0]},{\"embedding\":[1,0]}]}";
    assert_int_equal(ph_judge_parse_embeddings(zero, strlen(zero), 2, cos, &u, why, 160),
                     PH_EINVAL);
    const char *dims = "{\"data\":[{\"embedding\":[1,0,0]},{\"embedding\":[1,0]}]}";
    assert_int_equal(ph_judge_parse_embeddings(dims, strlen(dims), 2, cos, &u, why, 160),
                     PH_EINVAL);
    assert_int_equal(ph_judge_parse_embeddings(dims, strlen(dims), 3, cos, &u, why, 160),
                     PH_EINVAL);
}

static void redact_is(const char *in, const char *want)
{
    char out[PH_EVAL_EXPLANATION_MAX];
    ph_judge_redact(in, strlen(in), out, sizeof(out));
    assert_string_equal(out, want);
}

static void test_redaction(void **state)
{
    redact_is("Mail jane.doe+x@mail.example.co.uk now", "Mail [email] now");
    redact_is("card 4111 1111 1111 1111, or 4111-1111-1111-1111.", "card [card], or [card].");
    redact_is("call +1 (555) 123-4567 or 555.123.4567 or 07700900123",
              "call [phone] or [phone] or [phone]");
    /* Dates, scores, years and short numbers stay: they are what reasons are made of. */
    redact_is("On 2024-01-15 it scored 4 of 5 in 2023, see step 12.",
              "On 2024-01-15 it scored 4 of 5 in 2023, see step 12.");
    redact_is("", "");
    /* Truncation never splits a UTF-8 sequence. */
    char in[600], out[16];
    memset(in, 0, sizeof(in));
    for (int i = 0; i < 100; i++)
        strcat(in, "\xc3\xa9"); /* é */
    ph_judge_redact(in, strlen(in), out, sizeof(out));
    assert_int_equal(strlen(out), 14);
    /* Invalid UTF-8 and NUL never reach the stored text. */
    ph_judge_redact("a\xff"
                    "b\0c",
                    5, out, sizeof(out));
    assert_string_equal(out, "a?b?c");
}

static void test_utf8_dup(void **state)
{
    char *s = ph_judge_utf8_dup("abcdef", 6, 4, false);
    assert_string_equal(s, "abcd [...]");
    free(s);
    s = ph_judge_utf8_dup("abcdef", 6, 4, true);
    assert_string_equal(s, "[...] cdef");
    free(s);
    s = ph_judge_utf8_dup("a\xe2\x82\xac"
                          "b",
                          5, 3, false); /* cut inside the euro sign */
    assert_string_equal(s, "a [...]");
    free(s);
    s = ph_judge_utf8_dup("\xed\xa0\x80\xc0\xaf", 5, 100, false); /* surrogate, overlong */
    assert_string_equal(s, "?????");
    free(s);
    s = ph_judge_utf8_dup(NULL, 0, 10, false);
    assert_string_equal(s, "");
    free(s);
}

static void test_conditions(void **state)
{
    ph_judge_cond c;
    char e[PH_ERRSTR_SIZE];
    assert_int_equal(ph_judge_cond_parse(&c, "similarity.relevance.score < 0.5", e, sizeof(e)), 0);
    assert_string_equal(c.evaluator, "similarity.relevance");
    assert_int_equal(c.field, PH_JUDGE_FIELD_SCORE);
    assert_int_equal(c.op, PH_JUDGE_OP_LT);
    assert_true(c.num == 0.5);
    assert_int_equal(ph_judge_cond_parse(&c, "refusal.label == 'full_refusal'", e, sizeof(e)), 0);
    assert_string_equal(c.label, "full_refusal");
    assert_int_equal(ph_judge_cond_parse(&c, "pii.passed!=true", e, sizeof(e)), 0);
    assert_int_equal(c.op, PH_JUDGE_OP_NE);
    assert_true(c.num == 1);
    const char *bad[] = {"similarity.relevance.score 0.5",
                         "score < 0.5",
                         "x.score < high",
                         "x.label < a",
                         "x.passed == maybe",
                         "x.colour == red",
                         "x.score <",
                         NULL};
    for (size_t i = 0; bad[i]; i++) {
        e[0] = '\0';
        assert_int_equal(ph_judge_cond_parse(&c, bad[i], e, sizeof(e)), PH_EINVAL);
        assert_true(e[0] != '\0');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdict_shapes), cmocka_unit_test(test_verdict_malformed),
        cmocka_unit_test(test_chat_envelope),  cmocka_unit_test(test_embeddings),
        cmocka_unit_test(test_redaction),      cmocka_unit_test(test_utf8_dup),
        cmocka_unit_test(test_conditions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
