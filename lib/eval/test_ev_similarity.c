/* The similarity evaluator: relevance and groundedness by lexical similarity. Crafted cases
 * assert orderings (on-topic above off-topic, grounded above hallucinated) and robustness; the
 * data test pairs every response of llm_logs.jsonl with its own question and with another
 * record's question and reports how often its own question scores higher, and the speed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ph_eval.h"
#include "ph_similarity.h"

#define STR(x) ((ph_str){(x), strlen(x)})
#define LIT(x)                                                                                     \
    {                                                                                              \
        (x), sizeof(x) - 1                                                                         \
    } /* for static initialisers */

extern const ph_evaluator_kind ph_eval_kind_similarity;

/* CPU time of this thread: the machine is shared, wall time would count the others' work. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *create(const char *config_json)
{
    json_error_t jerr;
    json_t *config = json_loads(config_json, 0, &jerr);
    assert_non_null(config);
    void *state = NULL;
    char errstr[256];
    int rc = ph_eval_kind_similarity.create(&state, config, errstr, sizeof(errstr));
    if (rc != 0)
        print_error("create: %s\n", errstr);
    assert_int_equal(rc, 0);
    json_decref(config);
    return state;
}

static int create_fails(const char *config_json)
{
    json_t *config = json_loads(config_json, 0, NULL);
    assert_non_null(config);
    void *state = NULL;
    char errstr[256] = "";
    int rc = ph_eval_kind_similarity.create(&state, config, errstr, sizeof(errstr));
    json_decref(config);
    assert_null(state);
    assert_true(strlen(errstr) > 0);
    return rc;
}

/* Evaluates and returns the named result (or NULL); the sink is reset first. */
static const ph_eval_result *run(void *state, const ph_eval_record *rec, ph_eval_sink *sink,
                                 const char *name)
{
    char errstr[256];
    ph_eval_sink_reset(sink);
    sink->current_name = "similarity";
    sink->current_version = "1.test";
    assert_int_equal(ph_eval_kind_similarity.evaluate(state, rec, sink, errstr, sizeof(errstr)), 0);
    for (size_t i = 0; i < sink->n; i++)
        if (strcmp(sink->results[i].evaluator, name) == 0)
            return &sink->results[i];
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

/* Relevance score of output to a single-turn question (-1 when not scored). */
static double relevance(void *state, const char *question, const char *output)
{
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    ph_eval_message msg = {STR("user"), STR(question)};
    ph_eval_record rec = {.messages = &msg, .nmessages = 1, .output = STR(output)};
    const ph_eval_result *r = run(state, &rec, &sink, "similarity.relevance");
    assert_non_null(r);
    double score = r->status == PH_EVAL_OK ? r->score : -1;
    if (r->status == PH_EVAL_OK) {
        assert_true(r->score >= 0 && r->score <= 1);
        assert_true(value_of(r, "word_cosine") >= 0 && value_of(r, "word_cosine") <= 1);
    }
    ph_eval_sink_free(&sink);
    return score;
}

static void test_config(void **state)
{
    void *st = create("{}");
    ph_eval_kind_similarity.destroy(st);
    st = create("{\"word_weight\": 2, \"char_weight\": 1, \"ngram_min\": 2, \"ngram_max\": 4,"
                " \"history_weight\": 0, \"relevance_min\": 0.1, \"relevance_high\": 0.3,"
                " \"groundedness_min\": 0.4, \"groundedness_high\": 0.9,"
                " \"support_threshold\": 0.6, \"no_context\": \"skip\", \"max_text_bytes\": 1000}");
    ph_eval_kind_similarity.destroy(st);
    ph_eval_kind_similarity.destroy(NULL);
    assert_int_equal(create_fails("{\"bogus\": 1}"), -1);
    assert_int_equal(create_fails("{\"word_weight\": \"x\"}"), -1);
    assert_int_equal(create_fails("{\"word_weight\": 0, \"char_weight\": 0}"), -1);
    assert_int_equal(create_fails("{\"ngram_min\": 5, \"ngram_max\": 3}"), -1);
    assert_int_equal(create_fails("{\"ngram_min\": 2.5}"), -1);
    assert_int_equal(create_fails("{\"ngram_min\": 2, \"ngram_max\": 8}"), -1);
    assert_int_equal(create_fails("{\"relevance_min\": 0.5, \"relevance_high\": 0.2}"), -1);
    assert_int_equal(create_fails("{\"no_context\": \"sometimes\"}"), -1);
    assert_int_equal(create_fails("{\"history_weight\": 1.5}"), -1);
    assert_int_equal(create_fails("[]"), -1);
}

static void test_on_topic_beats_off_topic(void **state)
{
    void *st = create("{}");
    const char *q = "How do I bake sourdough bread at home? My loaves come out dense.";
    double on = relevance(st, q,
                          "Dense sourdough loaves usually mean an under-active starter or short "
                          "proofing. Feed your starter twice a day until it doubles, let the "
                          "dough rise longer in a warm place, and bake the bread in a preheated "
                          "Dutch oven at 250C for the first 20 minutes.");
    double partial = relevance(st, q,
                               "Bread is one of the oldest foods. Bakers in ancient Egypt "
                               "already used wild yeast.");
    double off = relevance(st, q,
                           "To change the engine oil of your car, warm up the engine, drain "
                           "the old oil from the sump plug, replace the filter and refill with "
                           "the grade the manual recommends.");
    print_message("relevance on-topic %.3f partial %.3f off-topic %.3f\n", on, partial, off);
    assert_true(on > partial);
    assert_true(partial > off);
    assert_true(on >= 0.25); /* high */
    assert_true(off < 0.08); /* low: fails */

    /* Morphology: plural folding and n-grams bridge "tips"/"tip", "installing"/"install". */
    double morph = relevance(st, "Any tips for installing Postgres on Debian?",
                             "Tip: install PostgreSQL with apt on Debian; the installer "
                             "creates the postgres user.");
    double other = relevance(st, "Any tips for installing Postgres on Debian?",
                             "Roses need six hours of sun and well-drained soil.");
    print_message("relevance morphology %.3f vs other %.3f\n", morph, other);
    assert_true(morph > 0.25);
    assert_true(other < 0.05);

    /* Symmetry of the vectors and determinism: the same pair gives the same score, whatever
     * was scored in between. */
    double again = relevance(st, q,
                             "Dense sourdough loaves usually mean an under-active starter or "
                             "short proofing. Feed your starter twice a day until it doubles, let "
                             "the dough rise longer in a warm place, and bake the bread in a "
                             "preheated Dutch oven at 250C for the first 20 minutes.");
    assert_true(again == on);
    ph_eval_kind_similarity.destroy(st);
}

static void test_history(void **state)
{
    ph_eval_message msgs[] = {
        {STR("system"), STR("You are a helpful assistant for a garden shop.")},
        {STR("user"), STR("What soil do tomatoes need?")},
        {STR("assistant"), STR("Tomatoes like loose, well-drained soil rich in compost, with a "
                               "pH between 6.2 and 6.8.")},
        {STR("user"), STR("And how often should I water them?")},
    };
    ph_eval_record rec = {
        .messages = msgs,
        .nmessages = 4,
        .output = STR("Water tomatoes deeply two or three times a week so the soil stays evenly "
                      "moist; mulch with compost helps."),
    };
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    void *with = create("{}");
    void *without = create("{\"history_weight\": 0}");
    const ph_eval_result *r = run(with, &rec, &sink, "similarity.relevance");
    double s_with = r->score;
    assert_true(value_of(r, "history_messages") == 2); /* the system prompt is not read */
    r = run(without, &rec, &sink, "similarity.relevance");
    double s_without = r->score;
    assert_true(value_of(r, "history_messages") == 0);
    print_message("relevance with history %.3f, last message only %.3f\n", s_with, s_without);
    assert_true(s_with > s_without);
    ph_eval_kind_similarity.destroy(with);
    ph_eval_kind_similarity.destroy(without);
    ph_eval_sink_free(&sink);
}

static const ph_eval_passage passages[] = {
    {LIT("doc-1"), LIT("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in "
                       "Paris. It was designed by the company of Gustave Eiffel and built from "
                       "1887 to 1889 as the entrance arch of the 1889 World's Fair.")},
    {LIT("doc-2"), LIT("The tower is 330 metres tall, about the height of an 81-storey building. "
                       "It was the tallest man-made structure in the world until the Chrysler "
                       "Building in New York was finished in 1930.")},
    {LIT("doc-3"), LIT("Visitors can climb the stairs to the second level or take the lifts to "
                       "the top. Tickets are sold online and at the base of the tower.")},
};

static const ph_eval_result *ground(void *st, const char *output, ph_eval_sink *sink)
{
    static const ph_eval_message msg = {LIT("user"), LIT("How tall is the Eiffel Tower?")};
    ph_eval_record rec = {
        .messages = &msg,
        .nmessages = 1,
        .output = STR(output),
        .context = passages,
        .ncontext = 3,
    };
    return run(st, &rec, sink, "similarity.groundedness");
}

static void test_grounded_beats_hallucinated(void **state)
{
    void *st = create("{}");
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    const ph_eval_result *r =
        ground(st,
               "The Eiffel Tower is 330 metres tall, about as high as an 81-storey building. "
               "It was the tallest man-made structure in the world until 1930.",
               &sink);
    assert_non_null(r);
    assert_int_equal(r->status, PH_EVAL_OK);
    double grounded = r->score;
    assert_true(value_of(r, "best_passage") == 1);
    assert_true(value_of(r, "supported_share") == 1);
    assert_true(value_of(r, "sentences") == 2);
    assert_int_equal(r->passed, 1);
    assert_string_equal(r->label, "high");

    r = ground(st,
               "The Eiffel Tower is 330 metres tall. Its architect, Napoleon Bonaparte, "
               "painted it gold every spring to celebrate the harvest festival of Lyon.",
               &sink);
    double mixed = r->score;
    assert_true(value_of(r, "supported_sentences") == 1);
    assert_true(value_of(r, "sentences") == 2);

    r = ground(st,
               "Bananas ripen faster when stored next to apples because of ethylene gas. "
               "Keep them away from the fridge to preserve their flavour.",
               &sink);
    double hallucinated = r->score;
    assert_true(value_of(r, "supported_share") == 0);
    assert_int_equal(r->passed, 0);
    assert_string_equal(r->label, "low");
    print_message("groundedness grounded %.3f, half invented %.3f, unrelated %.3f\n", grounded,
                  mixed, hallucinated);
    assert_true(grounded > mixed);
    assert_true(mixed > hallucinated);

    /* The relevance result comes alongside. */
    ph_eval_sink_reset(&sink);
    assert_non_null(ground(st, "It is 330 metres tall.", &sink));
    assert_int_equal(sink.n, 2);
    assert_string_equal(sink.results[0].evaluator, "similarity.relevance");

    /* Cost of a RAG record: this one has 3 passages (580 bytes) and a 160-byte answer. */
    double t0 = now_s();
    for (int i = 0; i < 2000; i++)
        ground(st,
               "The Eiffel Tower is 330 metres tall, about as high as an 81-storey building. "
               "It was the tallest man-made structure in the world until 1930.",
               &sink);
    print_message("groundedness + relevance with 3 passages: %.1f us/record (thread CPU)\n",
                  (now_s() - t0) / 2000 * 1e6);

    ph_eval_sink_free(&sink);
    ph_eval_kind_similarity.destroy(st);
}

static void test_no_context(void **state)
{
    ph_eval_message msg = {STR("user"), STR("What is the capital of France?")};
    ph_eval_record rec = {.messages = &msg, .nmessages = 1, .output = STR("Paris is.")};
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    void *omit = create("{}");
    assert_null(run(omit, &rec, &sink, "similarity.groundedness"));
    assert_int_equal(sink.n, 1);
    void *skip = create("{\"no_context\": \"skip\"}");
    const ph_eval_result *r = run(skip, &rec, &sink, "similarity.groundedness");
    assert_non_null(r);
    assert_int_equal(r->status, PH_EVAL_SKIPPED);
    assert_false(r->has_score);
    assert_string_equal(r->explanation, "no retrieved context");
    ph_eval_kind_similarity.destroy(omit);
    ph_eval_kind_similarity.destroy(skip);
    ph_eval_sink_free(&sink);
}

static void test_empty_and_missing(void **state)
{
    void *st = create("{\"no_context\": \"skip\"}");
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    ph_eval_message msg = {STR("user"), STR("Summarise the report on river pollution.")};
    ph_eval_record rec = {.messages = &msg, .nmessages = 1, .output = STR("")};

    /* Empty output: relevance 0, failed, labelled empty. Groundedness cannot be judged. */
    const ph_eval_result *r = run(st, &rec, &sink, "similarity.relevance");
    assert_int_equal(r->status, PH_EVAL_OK);
    assert_true(r->score == 0);
    assert_int_equal(r->passed, 0);
    assert_string_equal(r->label, "empty");
    rec.context = passages;
    rec.ncontext = 1;
    r = run(st, &rec, &sink, "similarity.groundedness");
    assert_int_equal(r->status, PH_EVAL_SKIPPED);
    assert_string_equal(r->explanation, "empty output");

    /* Passages without content words. */
    ph_eval_passage blank[] = {{STR("a"), STR("")}, {STR("b"), STR(" ... the, of, and! ")}};
    rec.output = STR("The report finds nitrate from farms in the river.");
    rec.context = blank;
    rec.ncontext = 2;
    r = run(st, &rec, &sink, "similarity.groundedness");
    assert_int_equal(r->status, PH_EVAL_SKIPPED);
    assert_string_equal(r->explanation, "the retrieved passages have no content words");
    rec.output = STR("");
    rec.context = NULL;
    rec.ncontext = 0;

    /* A failed call: nothing to judge. */
    rec.is_error = true;
    r = run(st, &rec, &sink, "similarity.relevance");
    assert_int_equal(r->status, PH_EVAL_SKIPPED);
    rec.is_error = false;

    /* Output of punctuation and stopwords only. */
    rec.output = STR("... !!! it is what it is ???");
    r = run(st, &rec, &sink, "similarity.relevance");
    assert_int_equal(r->status, PH_EVAL_OK);
    assert_true(r->score == 0);
    assert_string_equal(r->label, "low");

    /* No user message at all, or one without content words. */
    ph_eval_message only_system = {STR("system"), STR("Be brief.")};
    ph_eval_record none = {.messages = &only_system, .nmessages = 1, .output = STR("Hello")};
    r = run(st, &none, &sink, "similarity.relevance");
    assert_int_equal(r->status, PH_EVAL_SKIPPED);
    assert_string_equal(r->explanation, "no user message");
    none.nmessages = 0;
    none.messages = NULL;
    r = run(st, &none, &sink, "similarity.relevance");
    assert_int_equal(r->status, PH_EVAL_SKIPPED);
    ph_eval_message hi = {STR("user"), STR("hi!")};
    none.messages = &hi;
    none.nmessages = 1;
    r = run(st, &none, &sink, "similarity.relevance");
    assert_int_equal(r->status, PH_EVAL_SKIPPED);
    assert_string_equal(r->explanation, "the question has no content words");

    ph_eval_sink_free(&sink);
    ph_eval_kind_similarity.destroy(st);
}

static void test_huge_unicode_invalid(void **state)
{
    void *st = create("{}");
    /* 2 MiB of text, 300 passages: cut to max_text_bytes and PH_SIM_MAX_PASSAGES. */
    size_t big = 2u << 20;
    char *text = malloc(big + 1);
    assert_non_null(text);
    const char *pattern = "river pollution nitrate farms fish ";
    size_t plen = strlen(pattern);
    for (size_t i = 0; i < big; i++)
        text[i] = pattern[i % plen];
    text[big] = '\0';
    ph_eval_passage *many = calloc(300, sizeof(*many));
    assert_non_null(many);
    for (size_t i = 0; i < 300; i++)
        many[i].content = (ph_str){text, 5000 + i};
    ph_eval_message msg = {STR("user"), (ph_str){text, big}};
    ph_eval_record rec = {.messages = &msg,
                          .nmessages = 1,
                          .output = (ph_str){text, big},
                          .context = many,
                          .ncontext = 300};
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    const ph_eval_result *r = run(st, &rec, &sink, "similarity.relevance");
    assert_int_equal(r->status, PH_EVAL_OK);
    assert_true(r->score > 0.99);
    assert_true(value_of(r, "truncated") == 1);
    r = run(st, &rec, &sink, "similarity.groundedness");
    assert_int_equal(r->status, PH_EVAL_OK);
    assert_true(value_of(r, "passages") == PH_SIM_MAX_PASSAGES);
    assert_true(r->score > 0.99);
    free(many);
    free(text);

    /* Unicode: accented Latin, Chinese (no spaces: the n-grams carry it), emoji. */
    double fr_on = relevance(st, "Quelle est la température idéale pour un café filtre ?",
                             "La température idéale de l'eau pour un café filtre est de 92 à "
                             "96 degrés.");
    double fr_off = relevance(st, "Quelle est la température idéale pour un café filtre ?",
                              "Le chat dort sur le canapé toute la journée.");
    double zh_on = relevance(st, "如何学习中文语法？", "学习中文语法最好的方法是多读多写。");
    double zh_off = relevance(st, "如何学习中文语法？", "今天天气很好，我们去公园散步吧。");
    double emoji = relevance(st, "🍕🍕 pizza dough recipe 🍕",
                             "🍕 Pizza dough: flour, water, "
                             "yeast, salt 🍕");
    print_message("unicode: fr %.3f vs %.3f, zh %.3f vs %.3f, emoji %.3f\n", fr_on, fr_off, zh_on,
                  zh_off, emoji);
    assert_true(fr_on > fr_off);
    assert_true(zh_on > zh_off);
    assert_true(emoji > 0.25);

    /* Invalid UTF-8 (stray continuation bytes, truncated sequences, NUL-free garbage): scored,
     * in range, never a crash (ASan/UBSan run this too). */
    char garbage[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(garbage) - 1; i++) {
        x = x * 1103515245u + 12345u;
        garbage[i] = (char)((x >> 16) | 1);
    }
    garbage[sizeof(garbage) - 1] = '\0';
    double g = relevance(st, garbage, garbage + 7);
    assert_true(g >= 0 && g <= 1);
    g = relevance(st, "caf\xc3 \x80\x80 na\xefve \xe2\x80", "caf\xc3 na\xefve \xf0\x9f");
    assert_true(g > 0);
    ph_eval_sink_free(&sink);
    ph_eval_kind_similarity.destroy(st);
}

/* The shared similarity code (ph_similarity.h) that the session evaluation also uses. */
static void test_internals(void **state)
{
    ph_sim_config cfg;
    ph_sim_config_init(&cfg);
    assert_int_equal(ph_sim_config_check(&cfg, NULL, 0), 0);
    const char *a = "Tomatoes need loose, well-drained soil and regular watering.";
    const char *b = "Water the tomato plants regularly; they like loose soil that drains well.";
    ph_sim_doc full_a = {0}, full_b = {0}, tok_b = {0}, tok_a = {0};
    assert_int_equal(ph_sim_doc_build(&full_a, &cfg, a, strlen(a)), 0);
    assert_int_equal(ph_sim_doc_build(&full_b, &cfg, b, strlen(b)), 0);
    assert_int_equal(ph_sim_doc_tokens(&tok_b, &cfg, b, strlen(b)), 0);
    assert_int_equal(ph_sim_doc_tokens(&tok_a, &cfg, a, strlen(a)), 0);
    assert_false(ph_sim_doc_empty(&tok_a));

    /* Streaming a token-only doc gives the table-to-table cosine, in either order. */
    ph_sim_scores s1, s2, s3;
    assert_int_equal(ph_sim_cosine(&cfg, &full_a, &full_b, &s1), 0);
    assert_int_equal(ph_sim_cosine(&cfg, &full_a, &tok_b, &s2), 0);
    assert_int_equal(ph_sim_cosine(&cfg, &tok_b, &full_a, &s3), 0);
    print_message("internals: word %.3f char %.3f\n", s1.word_cosine, s1.char_cosine);
    assert_true(s1.score > 0.3);
    assert_float_equal(s1.word_cosine, s2.word_cosine, 1e-6);
    assert_float_equal(s1.char_cosine, s2.char_cosine, 1e-6);
    assert_float_equal(s2.score, s3.score, 1e-12);
    assert_int_equal(ph_sim_cosine(&cfg, &tok_a, &tok_b, &s1), -1); /* PH_EINVAL */
    ph_sim_grounding g;
    assert_int_equal(ph_sim_ground(&cfg, &tok_b, NULL, 0, 0.5, &g), -1);
    assert_int_equal(ph_sim_compare(&cfg, (ph_str){a, strlen(a)}, (ph_str){a, strlen(a)}, &s1), 0);
    assert_float_equal(s1.score, 1.0, 1e-6);

    /* Sentences: line breaks and terminal marks, not "3.14". */
    const char *t = "Pi is 3.14 roughly. Next sentence here!\n- a list item\n- another item";
    ph_sim_doc_free(&tok_a);
    assert_int_equal(ph_sim_doc_tokens(&tok_a, &cfg, t, strlen(t)), 0);
    assert_int_equal(tok_a.nsent, 4);

    /* Cutting never splits a code point. */
    ph_str cut = ph_sim_head((ph_str){"ab\xc3\xa9", 4}, 3);
    assert_int_equal(cut.len, 2);
    cut = ph_sim_head((ph_str){NULL, 0}, 3);
    assert_int_equal(cut.len, 0);

    /* Stopwords only: empty. NULL text: empty. */
    ph_sim_doc_free(&tok_a);
    assert_int_equal(ph_sim_doc_tokens(&tok_a, &cfg, "it is what it is", 16), 0);
    assert_true(ph_sim_doc_empty(&tok_a));
    ph_sim_doc_free(&tok_a);
    assert_int_equal(ph_sim_doc_build(&tok_a, &cfg, NULL, 0), 0);
    assert_true(ph_sim_doc_empty(&tok_a));

    ph_sim_doc_free(&full_a);
    ph_sim_doc_free(&full_b);
    ph_sim_doc_free(&tok_a);
    ph_sim_doc_free(&tok_b);
    ph_sim_doc_free(NULL);
}

/* ---- llm_logs.jsonl -------------------------------------------------------------------------- */

typedef struct log_rec {
    char *source;
    ph_eval_message *messages;
    size_t nmessages;
    char *response;
    const ph_eval_message *last_user;
} log_rec;

static char *dup_str(const char *s)
{
    char *d = strdup(s ? s : "");
    assert_non_null(d);
    return d;
}

static log_rec *load_logs(size_t *count)
{
    const char *dir = getenv("PHAROS_DATA_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/llm_logs.jsonl", dir ? dir : ".");
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 32768, n = 0;
    log_rec *recs = calloc(cap, sizeof(*recs));
    assert_non_null(recs);
    char *line = NULL;
    size_t linecap = 0;
    while (getline(&line, &linecap, f) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        assert_true(n < cap);
        log_rec *r = &recs[n++];
        r->source = dup_str(json_string_value(json_object_get(j, "source")));
        r->response = dup_str(json_string_value(json_object_get(j, "response")));
        json_t *msgs = json_object_get(j, "messages");
        r->nmessages = json_array_size(msgs);
        r->messages = calloc(r->nmessages ? r->nmessages : 1, sizeof(ph_eval_message));
        assert_non_null(r->messages);
        for (size_t i = 0; i < r->nmessages; i++) {
            json_t *m = json_array_get(msgs, i);
            char *role = dup_str(json_string_value(json_object_get(m, "role")));
            char *content = dup_str(json_string_value(json_object_get(m, "content")));
            r->messages[i] = (ph_eval_message){{role, strlen(role)}, {content, strlen(content)}};
        }
        ph_eval_record view = {.messages = r->messages, .nmessages = r->nmessages};
        r->last_user = ph_eval_last_user(&view);
        json_decref(j);
    }
    free(line);
    fclose(f);
    *count = n;
    return recs;
}

static void free_logs(log_rec *recs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < recs[i].nmessages; k++) {
            free((char *)recs[i].messages[k].role.s);
            free((char *)recs[i].messages[k].content.s);
        }
        free(recs[i].messages);
        free(recs[i].source);
        free(recs[i].response);
    }
    free(recs);
}

static double score_pair(void *st, const log_rec *in, const log_rec *out, ph_eval_sink *sink)
{
    ph_eval_record rec = {
        .messages = in->messages,
        .nmessages = in->nmessages,
        .output = {out->response, strlen(out->response)},
    };
    const ph_eval_result *r = run(st, &rec, sink, "similarity.relevance");
    return r && r->status == PH_EVAL_OK ? r->score : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void test_llm_logs(void **state)
{
    size_t n = 0;
    log_rec *recs = load_logs(&n);
    if (!recs) {
        print_message("llm_logs.jsonl not found (PHAROS_DATA_DIR): skipped\n");
        skip();
    }
    void *st = create("{}");
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    double *own = calloc(n, sizeof(double)), *other = calloc(n, sizeof(double));
    assert_non_null(own);
    assert_non_null(other);
    size_t pairs = 0, wins = 0, ties = 0, labels[3] = {0, 0, 0};
    uint64_t x = 88172645463325252ull; /* xorshift: the same pairs every run */
    const char *sources[8] = {0};
    size_t src_pairs[8] = {0}, src_wins[8] = {0};
    for (size_t i = 0; i < n; i++) {
        if (!recs[i].last_user)
            continue;
        size_t j;
        do {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            j = (size_t)(x % n);
        } while (j == i || !recs[j].last_user ||
                 strcmp(recs[j].last_user->content.s, recs[i].last_user->content.s) == 0);
        double s_own = score_pair(st, &recs[i], &recs[i], &sink);
        double s_other = score_pair(st, &recs[j], &recs[i], &sink);
        if (s_own < 0 || s_other < 0)
            continue; /* a question without content words */
        const ph_eval_result *r = &sink.results[0];
        (void)r;
        own[pairs] = s_own;
        other[pairs] = s_other;
        pairs++;
        wins += s_own > s_other;
        ties += s_own == s_other;
        labels[s_own < 0.08 ? 0 : s_own < 0.25 ? 1 : 2]++;
        size_t k = 0;
        while (k < 7 && sources[k] && strcmp(sources[k], recs[i].source) != 0)
            k++;
        sources[k] = recs[i].source;
        src_pairs[k]++;
        src_wins[k] += s_own > s_other;
    }
    double share = (double)wins / (double)pairs;
    print_message("llm_logs: %zu records, %zu pairs scored; own question scores higher than "
                  "another record's in %.1f%% (ties %.1f%%)\n",
                  n, pairs, 100 * share, 100.0 * (double)ties / (double)pairs);
    for (size_t k = 0; k < 8 && sources[k]; k++)
        print_message("  %-24s %5zu pairs, own higher %.1f%%\n", sources[k], src_pairs[k],
                      100.0 * (double)src_wins[k] / (double)src_pairs[k]);

    /* AUC of own vs other scores as two populations (Mann-Whitney, ties count half). */
    qsort(own, pairs, sizeof(double), cmp_double);
    qsort(other, pairs, sizeof(double), cmp_double);
    double auc = 0;
    size_t lo = 0, hi = 0;
    for (size_t i = 0; i < pairs; i++) {
        while (lo < pairs && other[lo] < own[i])
            lo++;
        hi = lo;
        while (hi < pairs && other[hi] == own[i])
            hi++;
        auc += (double)lo + 0.5 * (double)(hi - lo);
    }
    auc /= (double)pairs * (double)pairs;
    print_message("  AUC %.3f; own scores p10 %.3f p25 %.3f p50 %.3f p90 %.3f; other p50 %.3f "
                  "p90 %.3f p99 %.3f\n",
                  auc, own[pairs / 10], own[pairs / 4], own[pairs / 2], own[pairs * 9 / 10],
                  other[pairs / 2], other[pairs * 9 / 10], other[pairs * 99 / 100]);
    print_message("  own labels at the defaults: low %.1f%% medium %.1f%% high %.1f%%\n",
                  100.0 * (double)labels[0] / (double)pairs,
                  100.0 * (double)labels[1] / (double)pairs,
                  100.0 * (double)labels[2] / (double)pairs);
    assert_true(share > 0.9);
    assert_true(auc > 0.9);

    /* Speed: every record as it is (question, history, response), one thread. */
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        bytes += strlen(recs[i].response);
        if (recs[i].last_user)
            bytes += recs[i].last_user->content.len;
    }
    double t0 = now_s();
    for (size_t i = 0; i < n; i++)
        score_pair(st, &recs[i], &recs[i], &sink);
    double dt = now_s() - t0;
    print_message("  speed (thread CPU time): %.0f records/s, %.2f us/record, mean %.0f bytes "
                  "(last question + response) per record\n",
                  (double)n / dt, 1e6 * dt / (double)n, (double)bytes / (double)n);

    free(own);
    free(other);
    ph_eval_sink_free(&sink);
    ph_eval_kind_similarity.destroy(st);
    free_logs(recs, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_on_topic_beats_off_topic),
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_grounded_beats_hallucinated),
        cmocka_unit_test(test_no_context),
        cmocka_unit_test(test_empty_and_missing),
        cmocka_unit_test(test_huge_unicode_invalid),
        cmocka_unit_test(test_internals),
        cmocka_unit_test(test_llm_logs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
