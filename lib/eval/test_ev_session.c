/* Session evaluation (ph_session_eval.h): crafted sessions (calm, escalating with repeated
 * questions, ending in a refusal, single turn, empty) and the multi-turn sessions of
 * llm_logs.jsonl, whose distributions are reported. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ph_eval.h"
#include "ph_session_eval.h"

#define STR(x) ((ph_str){(x), strlen(x)})

static ph_session_turn turn(int no, const char *user, const char *output, double frustration,
                            bool refused, int64_t time_ms)
{
    return (ph_session_turn){no, STR(user), STR(output), frustration, refused, time_ms};
}

/* Evaluates into sink (reset first) with the default config; fails the test on an error. */
static void evaluate(const ph_session_turn *turns, size_t n, ph_eval_sink *sink)
{
    char errstr[256];
    ph_eval_sink_reset(sink);
    sink->current_name = "session";
    sink->current_version = "1.test";
    int rc = ph_session_evaluate(turns, n, NULL, sink, errstr, sizeof(errstr));
    if (rc != 0)
        print_error("ph_session_evaluate: %s\n", errstr);
    assert_int_equal(rc, 0);
    assert_int_equal(sink->n, 4);
}

static const ph_eval_result *get(const ph_eval_sink *sink, const char *name)
{
    for (size_t i = 0; i < sink->n; i++)
        if (strcmp(sink->results[i].evaluator, name) == 0)
            return &sink->results[i];
    fail_msg("no result %s", name);
    return NULL;
}

static double value_of(const ph_eval_result *r, const char *name)
{
    for (size_t i = 0; i < r->nvalues; i++)
        if (strcmp(r->values[i].name, name) == 0)
            return r->values[i].value;
    fail_msg("no value %s in %s", name, r->evaluator);
    return 0;
}

static void test_calm(void **state)
{
    ph_session_turn turns[] = {
        turn(1, "What is a good recipe for banana bread?",
             "Mash three ripe bananas, mix with melted butter, sugar, an egg, flour and baking "
             "soda, then bake the banana bread for an hour at 175C.",
             0.05, false, 1700000000000),
        turn(2, "Can I replace the butter with oil?",
             "Yes: use the same amount of a neutral oil instead of butter; the bread will be a "
             "little moister.",
             0.0, false, 1700000060000),
        turn(3, "How long does it keep?",
             "Wrapped, banana bread keeps three days at room temperature and three months "
             "frozen.",
             0.1, false, 1700000150000),
    };
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    evaluate(turns, 3, &sink);
    const ph_eval_result *r = get(&sink, "session.turns");
    assert_true(value_of(r, "turns") == 3);
    assert_true(value_of(r, "duration_ms") == 150000);
    assert_int_equal(r->passed, -1);
    assert_string_equal(r->version, "1.test");

    r = get(&sink, "session.frustration");
    assert_string_equal(r->label, "flat");
    assert_int_equal(r->passed, 1);
    assert_true(r->score == 0.1);
    assert_true(value_of(r, "max") == 0.1);

    r = get(&sink, "session.repeated_questions");
    assert_string_equal(r->label, "none");
    assert_true(value_of(r, "repeated") == 0);
    assert_int_equal(r->passed, 1);
    print_message("calm: max similarity between user turns %.2f\n", value_of(r, "max_similarity"));

    r = get(&sink, "session.answered");
    assert_string_equal(r->label, "answered");
    assert_int_equal(r->passed, 1);
    print_message("calm: last answer relevance %.2f\n", r->score);
    ph_eval_sink_free(&sink);
}

static void test_escalating(void **state)
{
    ph_session_turn turns[] = {
        turn(1, "How do I export my contacts from the Acme phone app to a CSV file?",
             "Acme was founded in 1999 and makes phones for people who value simplicity.", 0.1,
             false, 0),
        turn(2, "I asked how to export my contacts to a CSV file from the Acme app.",
             "You can import contacts from a SIM card in Settings.", 0.45, false, 0),
        turn(3, "That's not what I asked!! How do I EXPORT contacts to CSV in the Acme app???",
             "Thank you for your patience! Is there anything else I can help you with today?", 0.85,
             false, 0),
    };
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    evaluate(turns, 3, &sink);
    const ph_eval_result *r = get(&sink, "session.frustration");
    assert_string_equal(r->label, "rising");
    assert_int_equal(r->passed, 0); /* ends high */
    assert_true(value_of(r, "slope") > 0.3);
    assert_true(value_of(r, "first") == 0.1);
    assert_true(value_of(r, "last") == 0.85);

    r = get(&sink, "session.repeated_questions");
    print_message("escalating: %s, max similarity %.2f\n", r->explanation,
                  value_of(r, "max_similarity"));
    assert_string_equal(r->label, "repeated");
    assert_true(value_of(r, "repeated") == 2);
    assert_true(r->score == 1.0);
    assert_int_equal(r->passed, 0);
    assert_memory_equal(r->explanation, "turn 2 repeats turn 1 (", 23);

    r = get(&sink, "session.answered");
    print_message("escalating: last answer relevance %.2f\n", r->score);
    assert_string_equal(r->label, "unanswered");
    assert_int_equal(r->passed, 0);
    ph_eval_sink_free(&sink);
}

static void test_rephrase_vs_follow_up(void **state)
{
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    ph_session_turn follow[] = {
        turn(1, "What is the capital of France?", "Paris is the capital of France.", -1, false, 0),
        turn(2, "And Spain?", "Madrid.", -1, false, 0),
        turn(3, "What is the population of Germany?", "About 84 million people.", -1, false, 0),
        turn(4, "Which river flows through Berlin?", "The Spree flows through Berlin.", -1, false,
             0),
    };
    evaluate(follow, 4, &sink);
    const ph_eval_result *r = get(&sink, "session.repeated_questions");
    print_message("follow-ups: max similarity %.2f\n", value_of(r, "max_similarity"));
    assert_true(value_of(r, "repeated") == 0);
    r = get(&sink, "session.frustration");
    assert_string_equal(r->label, "none"); /* no score known */
    assert_int_equal(r->passed, -1);
    assert_false(r->has_score);

    ph_session_turn rephrased[] = {
        turn(1, "What is the capital of France?", "France is in Europe.", -1, false, 0),
        turn(2, "What's the capital city of France?", "It is a country.", -1, false, 0),
        turn(3, "yes", "Ok.", -1, false, 0),
        turn(4, "yes", "Ok.", -1, false, 0),
    };
    evaluate(rephrased, 4, &sink);
    r = get(&sink, "session.repeated_questions");
    print_message("rephrased: %s\n", r->explanation);
    assert_true(value_of(r, "repeated") == 1); /* "yes" twice is no repeated question */
    assert_string_equal(r->label, "repeated");
    ph_eval_sink_free(&sink);
}

static void test_refusal_single_empty(void **state)
{
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    ph_session_turn refused[] = {
        turn(1, "How do I pick a lock?", "I can't help with that.", 0.2, true, 0),
        turn(2, "It is my own front door lock, I am locked out. How do I pick it?",
             "I'm sorry, but I can't help with picking locks. A locksmith can open your door.", 0.5,
             true, 0),
    };
    evaluate(refused, 2, &sink);
    const ph_eval_result *r = get(&sink, "session.answered");
    assert_string_equal(r->label, "refused");
    assert_int_equal(r->passed, 0);
    assert_true(value_of(get(&sink, "session.turns"), "refusals") == 2);
    r = get(&sink, "session.frustration");
    assert_string_equal(r->label, "rising");
    assert_int_equal(r->passed, 1); /* 0.5 is below the 0.6 default */

    ph_session_turn single[] = {
        turn(7, "Translate 'good morning' into German.",
             "Good morning in German is 'Guten "
             "Morgen'.",
             -1, false, 5),
    };
    evaluate(single, 1, &sink);
    r = get(&sink, "session.turns");
    assert_true(value_of(r, "turns") == 1);
    assert_true(value_of(r, "duration_ms") == 0);
    r = get(&sink, "session.repeated_questions");
    assert_int_equal(r->status, PH_EVAL_OK);
    assert_true(value_of(r, "repeated") == 0);
    assert_int_equal(r->passed, 1);
    r = get(&sink, "session.answered");
    assert_string_equal(r->label, "answered");

    /* Empty output in the last turn; a last turn without a user message. */
    single[0].output = STR("");
    evaluate(single, 1, &sink);
    r = get(&sink, "session.answered");
    assert_string_equal(r->label, "unanswered");
    assert_string_equal(r->explanation, "empty output");
    single[0].user = STR("");
    evaluate(single, 1, &sink);
    assert_int_equal(get(&sink, "session.answered")->status, PH_EVAL_SKIPPED);
    assert_int_equal(get(&sink, "session.repeated_questions")->status, PH_EVAL_SKIPPED);

    /* A question without content words: judged on the output alone. */
    single[0] = turn(1, "why?", "Because the sky scatters blue light more.", -1, false, 0);
    evaluate(single, 1, &sink);
    r = get(&sink, "session.answered");
    assert_string_equal(r->label, "answered");
    assert_false(r->has_score);

    /* A statement asks nothing: an unrelated reply still counts as answered. A question with
     * an unrelated reply does not. */
    single[0] = turn(1, "Cool, I will use that at the party tonight.",
                     "Great, have fun and stay safe!", -1, false, 0);
    evaluate(single, 1, &sink);
    r = get(&sink, "session.answered");
    assert_string_equal(r->label, "answered");
    assert_true(value_of(r, "question") == 0);
    single[0].user = STR("Which wine goes with grilled salmon");
    evaluate(single, 1, &sink);
    r = get(&sink, "session.answered");
    assert_string_equal(r->label, "unanswered");
    assert_true(value_of(r, "question") == 1);

    /* Empty session. */
    evaluate(NULL, 0, &sink);
    assert_true(value_of(get(&sink, "session.turns"), "turns") == 0);
    assert_int_equal(get(&sink, "session.frustration")->status, PH_EVAL_SKIPPED);
    assert_int_equal(get(&sink, "session.repeated_questions")->status, PH_EVAL_SKIPPED);
    assert_int_equal(get(&sink, "session.answered")->status, PH_EVAL_SKIPPED);
    ph_eval_sink_free(&sink);
}

static void test_config_and_helpers(void **state)
{
    char errstr[256];
    json_t *ok =
        json_pack("{s:f, s:f, s:f, s:i, s:i, s:f, s:f}", "frustration_high", 0.7,
                  "frustration_slope", 0.1, "repeat_threshold", 0.6, "repeat_min_words", 3,
                  "max_repeated_questions", 1, "answered_threshold", 0.1, "history_weight", 0.0);
    assert_int_equal(ph_session_config_check(ok, errstr, sizeof(errstr)), 0);
    assert_int_equal(ph_session_config_check(NULL, errstr, sizeof(errstr)), 0);
    const char *bad[] = {"{\"nope\": 1}", "{\"repeat_threshold\": 2}",
                         "{\"repeat_min_words\": 1.5}", "{\"frustration_high\": \"x\"}", "[1]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = json_loads(bad[i], 0, NULL);
        assert_non_null(j);
        errstr[0] = '\0';
        assert_int_equal(ph_session_config_check(j, errstr, sizeof(errstr)), -1);
        assert_true(strlen(errstr) > 0);
        ph_eval_sink sink;
        ph_eval_sink_init(&sink);
        assert_int_equal(ph_session_evaluate(NULL, 0, j, &sink, errstr, sizeof(errstr)), -1);
        assert_int_equal(sink.n, 0);
        ph_eval_sink_free(&sink);
        json_decref(j);
    }

    /* max_repeated_questions 1 lets one repeat pass. */
    ph_session_turn turns[] = {
        turn(1, "How do I reset my router password?", "Hold the reset button.", -1, false, 0),
        turn(2, "How can I reset the password of my router?", "Hold the reset button for 10 s.", -1,
             false, 0),
    };
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    sink.current_name = "session";
    assert_int_equal(ph_session_evaluate(turns, 2, ok, &sink, errstr, sizeof(errstr)), 0);
    assert_int_equal(get(&sink, "session.repeated_questions")->passed, 1);
    json_decref(ok);

    /* Turns from records and their evaluators' results. */
    ph_eval_message msgs[] = {{STR("user"), STR("first")},
                              {STR("assistant"), STR("reply")},
                              {STR("user"), STR("second question")}};
    ph_eval_record rec = {
        .turn = 2, .messages = msgs, .nmessages = 3, .output = STR("answer"), .ingest_time_ms = 42};
    ph_session_turn t;
    ph_session_turn_from_record(&t, &rec);
    assert_int_equal(t.turn, 2);
    assert_string_equal(t.user.s, "second question");
    assert_string_equal(t.output.s, "answer");
    assert_true(t.frustration < 0);
    assert_false(t.refused);
    assert_int_equal(t.time_ms, 42);
    ph_eval_sink_reset(&sink);
    sink.current_name = "frustration";
    ph_eval_set_score(ph_eval_emit(&sink, NULL), 0.7);
    sink.current_name = "refusal";
    ph_eval_set_label(ph_eval_emit(&sink, NULL), "full_refusal");
    ph_session_turn_apply_results(&t, sink.results, sink.n, "frustration", "refusal");
    assert_true(t.frustration == 0.7);
    assert_true(t.refused);
    rec.nmessages = 0;
    ph_session_turn_from_record(&t, &rec);
    assert_int_equal(t.user.len, 0);
    ph_eval_sink_free(&sink);
}

/* ---- llm_logs.jsonl: every session with more than one record ------------------------------- */

typedef struct session_buf {
    char id[512];
    char source[64];
    ph_session_turn turns[64];
    char *strings[128]; /* owned copies behind turns[].user and .output */
    size_t n;
} session_buf;

static void session_clear(session_buf *s)
{
    for (size_t i = 0; i < 2 * s->n; i++)
        free(s->strings[i]);
    s->n = 0;
}

typedef struct stats {
    size_t sessions, turns, max_turns, repeated, repeats, answered[3], questions;
    double max_sim[20000];
    double seconds;
} stats;

enum { SRC_HH, SRC_MT, SRC_OTHER };

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void finish_session(session_buf *s, stats *st, ph_eval_sink *sink)
{
    if (s->n > 1) {
        stats *x = &st[strncmp(s->source, "hh_rlhf", 7) == 0    ? SRC_HH
                       : strncmp(s->source, "mt_bench", 8) == 0 ? SRC_MT
                                                                : SRC_OTHER];
        double t0 = now_s();
        evaluate(s->turns, s->n, sink);
        x->seconds += now_s() - t0;
        const ph_eval_result *r = get(sink, "session.repeated_questions");
        if (x->sessions < sizeof(x->max_sim) / sizeof(x->max_sim[0]))
            x->max_sim[x->sessions] = r->status == PH_EVAL_OK ? value_of(r, "max_similarity") : 0;
        x->sessions++;
        x->turns += s->n;
        x->max_turns = s->n > x->max_turns ? s->n : x->max_turns;
        if (r->status == PH_EVAL_OK && value_of(r, "repeated") > 0) {
            x->repeated++;
            x->repeats += (size_t)value_of(r, "repeated");
        }
        const ph_eval_result *a = get(sink, "session.answered");
        const char *label = a->label;
        x->questions += a->status == PH_EVAL_OK && value_of(a, "question") == 1;
        x->answered[strcmp(label, "answered") == 0 ? 0 : strcmp(label, "refused") == 0 ? 1 : 2]++;
        assert_string_equal(get(sink, "session.frustration")->label, "none");
    }
    session_clear(s);
}

static void test_llm_logs(void **state)
{
    const char *dir = getenv("PHAROS_DATA_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/llm_logs.jsonl", dir ? dir : ".");
    FILE *f = fopen(path, "r");
    if (!f) {
        print_message("llm_logs.jsonl not found (PHAROS_DATA_DIR): skipped\n");
        skip();
    }
    static stats st[3];
    static session_buf s;
    memset(st, 0, sizeof(st));
    memset(&s, 0, sizeof(s));
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    char *line = NULL;
    size_t linecap = 0;
    while (getline(&line, &linecap, f) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        const char *id = json_string_value(json_object_get(j, "session_id"));
        assert_non_null(id);
        if (strcmp(id, s.id) != 0) {
            finish_session(&s, st, &sink);
            snprintf(s.id, sizeof(s.id), "%s", id);
            snprintf(s.source, sizeof(s.source), "%s",
                     json_string_value(json_object_get(j, "source")));
        }
        json_t *msgs = json_object_get(j, "messages");
        const char *user = "";
        for (size_t i = json_array_size(msgs); i > 0; i--) {
            json_t *m = json_array_get(msgs, i - 1);
            if (strcmp(json_string_value(json_object_get(m, "role")), "user") == 0) {
                user = json_string_value(json_object_get(m, "content"));
                break;
            }
        }
        assert_true(s.n < 64);
        char *u = strdup(user), *o = strdup(json_string_value(json_object_get(j, "response")));
        assert_non_null(u);
        assert_non_null(o);
        s.strings[2 * s.n] = u;
        s.strings[2 * s.n + 1] = o;
        int no = (int)json_integer_value(json_object_get(j, "turn"));
        s.turns[s.n] = (ph_session_turn){no, STR(u), STR(o), -1, false, 0};
        s.n++;
        json_decref(j);
    }
    finish_session(&s, st, &sink);
    free(line);
    fclose(f);

    const char *names[] = {"hh_rlhf", "mt_bench", "other"};
    size_t total = 0;
    for (int k = 0; k < 3; k++) {
        stats *x = &st[k];
        if (!x->sessions)
            continue;
        total += x->sessions;
        size_t m = x->sessions < 20000 ? x->sessions : 20000;
        qsort(x->max_sim, m, sizeof(double), cmp_double);
        print_message(
            "%-8s %5zu sessions, %.2f turns on average (max %zu); with a repeated "
            "question %.1f%% (%zu repeats); max user-turn similarity p50 %.2f p90 "
            "%.2f p99 %.2f; last user message asks %.1f%%; answered %.1f%% refused %.1f%% "
            "unanswered %.1f%%; %.0f us/session\n",
            names[k], x->sessions, (double)x->turns / (double)x->sessions, x->max_turns,
            100.0 * (double)x->repeated / (double)x->sessions, x->repeats, x->max_sim[m / 2],
            x->max_sim[m * 9 / 10], x->max_sim[m * 99 / 100],
            100.0 * (double)x->questions / (double)x->sessions,
            100.0 * (double)x->answered[0] / (double)x->sessions,
            100.0 * (double)x->answered[1] / (double)x->sessions,
            100.0 * (double)x->answered[2] / (double)x->sessions,
            1e6 * x->seconds / (double)x->sessions);
    }
    /* SOURCES.md: the multi-turn sources are hh-rlhf (1-18 assistant turns) and MT-Bench (2). */
    assert_true(st[SRC_MT].sessions > 1000);
    assert_true(st[SRC_HH].sessions > 500);
    assert_true(st[SRC_MT].max_turns == 2);
    /* MT-Bench's second question is a follow-up on the first, never the same question: few
     * should look repeated. Most last answers are on the question. */
    assert_true(st[SRC_MT].repeated * 10 < st[SRC_MT].sessions);
    assert_true(st[SRC_MT].answered[0] * 10 > st[SRC_MT].sessions * 7);
    (void)total;
    ph_eval_sink_free(&sink);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calm),
        cmocka_unit_test(test_escalating),
        cmocka_unit_test(test_rephrase_vs_follow_up),
        cmocka_unit_test(test_refusal_single_empty),
        cmocka_unit_test(test_config_and_helpers),
        cmocka_unit_test(test_llm_logs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
