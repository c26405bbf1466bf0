/* The toxicity evaluator: crafted cases (disguises, context, edge cases) and its measured
 * precision and recall on the Davidson et al. tweets of toxicity_labeled_dev.jsonl (published in
 * docs/evaluators/toxicity.md). Content warning: offensive words, on purpose. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "eval_test_util.h"
#include "ph_eval.h"

extern const ph_evaluator_kind ph_eval_kind_toxicity;
static const ph_evaluator_kind *kind = &ph_eval_kind_toxicity;

#define STR(x) ((ph_str){(x), strlen(x)})

typedef eval_fixture fixture;

static int setup(void **state)
{
    *state = eval_fixture_new(kind, "toxicity");
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    eval_fixture_free(*state);
    return 0;
}

/* Scores (input, output); returns the sink (results: output first, then input). */
static ph_eval_sink *run_on(fixture *f, const void *st, const char *input, const char *output,
                            size_t output_len)
{
    ph_eval_message msg = {STR("user"), STR(input ? input : "")};
    ph_eval_record rec = {.messages = &msg, .nmessages = input ? 1 : 0};
    rec.output = (ph_str){output, output_len};
    char err[256];
    ph_eval_sink_reset(&f->sink);
    assert_int_equal(kind->evaluate(st, &rec, &f->sink, err, sizeof(err)), 0);
    return &f->sink;
}

static const ph_eval_result *out_of(fixture *f, const char *text)
{
    ph_eval_sink *s = run_on(f, f->st, "hello", text, strlen(text));
    assert_int_equal(s->n, 2);
    assert_string_equal(s->results[0].evaluator, "toxicity.output");
    assert_string_equal(s->results[1].evaluator, "toxicity.input");
    return &s->results[0];
}

static void test_toxic(void **state)
{
    fixture *f = *state;
    const char *cases[] = {
        "fuck this",
        "you are such a stupid idiot",
        "shut up you dumb bitch",
        "f*ck you",
        "what the fuuuuuck",
        "sh1t happens, @$$hole",
        "I will kill you",
        "kill yourself",
        "go back to your country, you wetback",
        "you're a pathetic loser",
        "STFU",
        "what a bunch of motherfuckers",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const ph_eval_result *r = out_of(f, cases[i]);
        if (strcmp(r->label, "toxic") != 0)
            fail_msg("case %zu (%s): score %.2f", i, cases[i], r->score);
        assert_int_equal(r->passed, 0);
    }
    assert_true(value(out_of(f, "I will kill you"), "threat") > 0.8);
    assert_true(value(out_of(f, "you are such a stupid idiot"), "aimed_at_you") >= 1);
    assert_true(value(out_of(f, "those kikes"), "identity_hate") > 0.7);
}

static void test_clean(void **state)
{
    fixture *f = *state;
    const char *cases[] = {
        "Thank you, that was really helpful!",
        "To kill a Python process, run kill -9 with its PID.",
        "Homo sapiens evolved in Africa.",
        "The assessment of class assignments is due on Monday.", /* "ass" inside words */
        "Take out the trash on Tuesdays.",
        "Scunthorpe is a town in England.",
        "I'm so frustrated with this damn printer", /* mild: under the threshold */
        "",
    };
    for (size_t i = 0; i + 1 < sizeof(cases) / sizeof(cases[0]); i++) {
        const ph_eval_result *r = out_of(f, cases[i]);
        if (strcmp(r->label, "not_toxic") != 0)
            fail_msg("case %zu (%s): score %.2f", i, cases[i], r->score);
        assert_int_equal(r->passed, 1);
    }
}

static void test_edges(void **state)
{
    fixture *f = *state;
    /* empty output and no user message: both targets skipped */
    ph_eval_sink *s = run_on(f, f->st, NULL, "", 0);
    assert_int_equal(s->n, 2);
    assert_int_equal(s->results[0].status, PH_EVAL_SKIPPED);
    assert_int_equal(s->results[1].status, PH_EVAL_SKIPPED);
    /* the input is scored too */
    s = run_on(f, f->st, "you are a fucking moron", "Let's keep this civil.", 22);
    assert_string_equal(s->results[1].label, "toxic");
    assert_string_equal(s->results[0].label, "not_toxic");
    /* invalid UTF-8 and unicode around a toxic word */
    const char junk[] = "\xff\xfe\xc3 fuck \x80\xe2\x80\x99 caf\xc3\xa9 \xf0\x9f\x98\xa1";
    s = run_on(f, f->st, "q", junk, sizeof(junk) - 1);
    assert_string_equal(s->results[0].label, "toxic");
    /* mentions, URLs and HTML entities are not the author's words */
    const char *noise = "@fuckface http://x.example/shit &#128514; &amp; hi";
    s = run_on(f, f->st, "q", noise, strlen(noise));
    assert_string_equal(s->results[0].label, "not_toxic");
    /* a huge text: only max_bytes are read, fast */
    size_t n = 8u << 20;
    char *big = malloc(n + 16);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = "nice calm words. "[i % 17];
    strcpy(big + n, " fuck");
    clock_t t0 = clock();
    s = run_on(f, f->st, "q", big, strlen(big));
    assert_string_equal(s->results[0].label, "not_toxic");
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 1.0);
    free(big);
}

static void test_config(void **state)
{
    fixture *f = *state;
    char err[256];
    void *st = NULL;
    json_t *cfg = json_pack("{s:[s]}", "targets", "context");
    assert_int_not_equal(kind->create(&st, cfg, err, sizeof(err)), 0);
    json_decref(cfg);
    cfg = json_pack("{s:f}", "threshold", 1.5);
    assert_int_not_equal(kind->create(&st, cfg, err, sizeof(err)), 0);
    json_decref(cfg);
    cfg = json_pack("{s:i}", "shades", 3);
    assert_int_not_equal(kind->create(&st, cfg, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "shades"));
    json_decref(cfg);
    kind->destroy(NULL);
    /* input only, a stricter threshold: one mild word now fails */
    cfg = json_pack("{s:[s], s:f}", "targets", "input", "threshold", 0.3);
    assert_int_equal(kind->create(&st, cfg, err, sizeof(err)), 0);
    ph_eval_sink *s = run_on(f, st, "damn it", "fuck", 4);
    assert_int_equal(s->n, 1);
    assert_string_equal(s->results[0].evaluator, "toxicity.input");
    assert_int_equal(s->results[0].passed, 0);
    kind->destroy(st);
    json_decref(cfg);
}

/* ---- measurement on the shared data ------------------------------------------------------- */

typedef struct counts {
    int tp, fp, fn, tn;
} counts;

static void add(counts *c, bool truth, bool pred)
{
    c->tp += truth && pred;
    c->fp += !truth && pred;
    c->fn += truth && !pred;
    c->tn += !truth && !pred;
}

static double precision(const counts *c)
{
    return c->tp + c->fp ? (double)c->tp / (c->tp + c->fp) : 0;
}

static double recall(const counts *c)
{
    return c->tp + c->fn ? (double)c->tp / (c->tp + c->fn) : 0;
}

static void print_counts(const char *title, const counts *c)
{
    double p = precision(c), r = recall(c);
    printf("toxicity %s: precision %.3f recall %.3f F1 %.3f accuracy %.3f (tp %d fp %d fn %d tn "
           "%d)\n",
           title, p, r, p + r > 0 ? 2 * p * r / (p + r) : 0,
           (double)(c->tp + c->tn) / (c->tp + c->fp + c->fn + c->tn), c->tp, c->fp, c->fn, c->tn);
}

static void test_davidson_dev(void **state)
{
    fixture *f = *state;
    FILE *fp = data_open("toxicity_labeled_dev.jsonl");
    if (!fp)
        skip();
    static const char *const labels[] = {"hate_speech", "offensive_language", "neither"};
    int m[3][3];              /* [true label][predicted: hate, toxic not hate, not toxic] */
    counts toxic[3], hate[3]; /* all, tune half, check half */
    memset(m, 0, sizeof(m));
    memset(toxic, 0, sizeof(toxic));
    memset(hate, 0, sizeof(hate));
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, fp) > 0) {
        json_t *doc = json_loads(line, 0, NULL);
        assert_non_null(doc);
        const char *text = json_string_value(json_object_get(doc, "text"));
        const char *label = json_string_value(json_object_get(doc, "label"));
        const char *id = json_string_value(json_object_get(doc, "id"));
        assert_true(text && label && id);
        int t = 0;
        while (t < 3 && strcmp(label, labels[t]) != 0)
            t++;
        assert_true(t < 3);
        ph_eval_sink *s = run_on(f, f->st, NULL, text, strlen(text));
        const ph_eval_result *r = &s->results[0];
        bool is_toxic = strcmp(r->label, "toxic") == 0;
        bool is_hate = is_toxic && value(r, "identity_hate") >= 0.75;
        m[t][is_hate ? 0 : is_toxic ? 1 : 2]++;
        int h = 1 + (int)(XXH3_64bits(id, strlen(id)) & 1); /* fixed split: 1 tune, 2 check */
        add(&toxic[0], t != 2, is_toxic);
        add(&hate[0], t == 0, is_hate);
        add(&toxic[h], t != 2, is_toxic);
        add(&hate[h], t == 0, is_hate);
        json_decref(doc);
    }
    free(line);
    fclose(fp);
    print_counts("toxic (hate or offensive), dev all", &toxic[0]);
    print_counts("toxic, tune half (xxh3(id) even)", &toxic[1]);
    print_counts("toxic, check half (xxh3(id) odd)", &toxic[2]);
    print_counts("hate_speech alone, dev all", &hate[0]);
    print_counts("hate_speech alone, check half", &hate[2]);
    printf("  true \\ predicted       hate  toxic(not hate)  not_toxic\n");
    for (int i = 0; i < 3; i++)
        printf("  %-20s %6d %16d %10d\n", labels[i], m[i][0], m[i][1], m[i][2]);
    /* The published numbers (docs/evaluators/toxicity.md), with a small margin. */
    assert_true(precision(&toxic[0]) >= 0.97);
    assert_true(recall(&toxic[0]) >= 0.95);
    assert_true(precision(&toxic[2]) >= 0.97 && recall(&toxic[2]) >= 0.95);
    assert_true(precision(&hate[0]) >= 0.30 && recall(&hate[0]) >= 0.40);
}

/* Distribution and records/s over the real log sample (both targets; CPU time of evaluate()
 * only, the records read into memory first). */
typedef struct logrec {
    char source[32];
    char *input;
    char *output;
} logrec;

static void test_llm_logs(void **state)
{
    fixture *f = *state;
    FILE *fp = data_open("llm_logs.jsonl");
    if (!fp)
        skip();
    size_t n = 0, cap_recs = 0;
    logrec *recs = NULL;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, fp) > 0) {
        json_t *doc = json_loads(line, 0, NULL);
        assert_non_null(doc);
        json_t *msgs = json_object_get(doc, "messages");
        const char *input = NULL;
        for (size_t i = json_array_size(msgs); i > 0 && !input; i--) {
            json_t *m = json_array_get(msgs, i - 1);
            if (strcmp(json_string_value(json_object_get(m, "role")), "user") == 0)
                input = json_string_value(json_object_get(m, "content"));
        }
        if (n == cap_recs) {
            cap_recs = cap_recs ? cap_recs * 2 : 1024;
            recs = realloc(recs, cap_recs * sizeof(*recs));
            assert_non_null(recs);
        }
        snprintf(recs[n].source, sizeof(recs[n].source), "%s",
                 json_string_value(json_object_get(doc, "source")));
        recs[n].input = strdup(input ? input : "");
        recs[n].output = strdup(json_string_value(json_object_get(doc, "response")));
        n++;
        json_decref(doc);
    }
    free(line);
    fclose(fp);
    enum { MAXSRC = 16 };
    char sources[MAXSRC][32];
    size_t nsrc = 0, per[MAXSRC][3]; /* records, toxic outputs, toxic inputs */
    memset(per, 0, sizeof(per));
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    for (size_t i = 0; i < n; i++) {
        ph_eval_sink *s = run_on(f, f->st, recs[i].input, recs[i].output, strlen(recs[i].output));
        size_t k = 0;
        while (k < nsrc && strcmp(sources[k], recs[i].source) != 0)
            k++;
        if (k == nsrc && nsrc < MAXSRC)
            snprintf(sources[nsrc++], sizeof(sources[0]), "%s", recs[i].source);
        per[k][0]++;
        per[k][1] += strcmp(s->results[0].label, "toxic") == 0;
        per[k][2] += strcmp(s->results[1].label, "toxic") == 0;
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    double cpu = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("toxicity: %zu records, both targets, %.3f s CPU, %.0f records/s (%.1f us each)\n", n,
           cpu, n / cpu, 1e6 * cpu / n);
    for (size_t k = 0; k < nsrc; k++)
        printf("  %-26s %6zu records: toxic output %5.2f%%, toxic input %5.2f%%\n", sources[k],
               per[k][0], 100.0 * per[k][1] / per[k][0], 100.0 * per[k][2] / per[k][0]);
    for (size_t i = 0; i < n; i++) {
        free(recs[i].input);
        free(recs[i].output);
    }
    free(recs);
    assert_true(n > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_toxic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clean, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_davidson_dev, setup, teardown),
        cmocka_unit_test_setup_teardown(test_llm_logs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
