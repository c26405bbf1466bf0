/* The "similarity" evaluator: relevance of the response to the question and groundedness of the
 * response in the retrieved passages, by lexical similarity (ph_similarity.h), no model.
 * docs/evaluators/similarity.md documents every key and result. */
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"
#include "ph_eval.h"
#include "ph_similarity.h"

/* Earlier messages beyond this many (two exchanges) are not read, and of each only the first
 * HISTORY_MAX_BYTES: earlier answers are long, their opening says what they were about, and on
 * llm_logs.jsonl reading four exchanges of 1 KiB gave the same AUC (0.928) for more work. */
#define HISTORY_MAX       4
#define HISTORY_MAX_BYTES 512

typedef struct sim_state {
    ph_sim_config sim;
    double history_weight; /* weight of the previous exchange; halves per exchange further back */
    double relevance_min;  /* passed, and low/medium boundary */
    double relevance_high; /* medium/high boundary */
    double groundedness_min;
    double groundedness_high;
    double support_threshold;  /* a sentence is supported from this support on */
    bool skip_without_context; /* no_context = "skip": emit SKIPPED; "omit": emit nothing */
} sim_state;

static int get_number(const char *key, const json_t *v, double lo, double hi, double *out,
                      char *errstr, size_t errstr_size)
{
    if (!json_is_number(v) || !(json_number_value(v) >= lo) || !(json_number_value(v) <= hi))
        return ph_err(errstr, errstr_size, PH_EINVAL, "similarity: %s must be a number in [%g, %g]",
                      key, lo, hi);
    *out = json_number_value(v);
    return 0;
}

static int sim_configure(sim_state *st, const json_t *config, char *errstr, size_t errstr_size)
{
    const char *key;
    json_t *v;
    double d = 0;
    int rc = 0;
    if (config && !json_is_object(config))
        return ph_err(errstr, errstr_size, PH_EINVAL, "similarity: config must be an object");
    json_object_foreach((json_t *)config, key, v)
    {
        if (strcmp(key, "word_weight") == 0) {
            rc = get_number(key, v, 0, 1e6, &st->sim.word_weight, errstr, errstr_size);
        } else if (strcmp(key, "char_weight") == 0) {
            rc = get_number(key, v, 0, 1e6, &st->sim.char_weight, errstr, errstr_size);
        } else if (strcmp(key, "ngram_min") == 0 || strcmp(key, "ngram_max") == 0) {
            rc = get_number(key, v, 2, 8, &d, errstr, errstr_size);
            if (rc == 0 && !json_is_integer(v))
                rc = ph_err(errstr, errstr_size, PH_EINVAL, "similarity: %s must be an integer",
                            key);
            if (rc == 0 && strcmp(key, "ngram_min") == 0)
                st->sim.ngram_min = (int)d;
            else if (rc == 0)
                st->sim.ngram_max = (int)d;
        } else if (strcmp(key, "max_text_bytes") == 0) {
            rc = get_number(key, v, 64, 1024 * 1024, &d, errstr, errstr_size);
            if (rc == 0)
                st->sim.max_text_bytes = (size_t)d;
        } else if (strcmp(key, "history_weight") == 0) {
            rc = get_number(key, v, 0, 1, &st->history_weight, errstr, errstr_size);
        } else if (strcmp(key, "relevance_min") == 0) {
            rc = get_number(key, v, 0, 1, &st->relevance_min, errstr, errstr_size);
        } else if (strcmp(key, "relevance_high") == 0) {
            rc = get_number(key, v, 0, 1, &st->relevance_high, errstr, errstr_size);
        } else if (strcmp(key, "groundedness_min") == 0) {
            rc = get_number(key, v, 0, 1, &st->groundedness_min, errstr, errstr_size);
        } else if (strcmp(key, "groundedness_high") == 0) {
            rc = get_number(key, v, 0, 1, &st->groundedness_high, errstr, errstr_size);
        } else if (strcmp(key, "support_threshold") == 0) {
            rc = get_number(key, v, 0, 1, &st->support_threshold, errstr, errstr_size);
        } else if (strcmp(key, "no_context") == 0) {
            const char *s = json_string_value(v);
            if (s && strcmp(s, "omit") == 0)
                st->skip_without_context = false;
            else if (s && strcmp(s, "skip") == 0)
                st->skip_without_context = true;
            else
                rc = ph_err(errstr, errstr_size, PH_EINVAL,
                            "similarity: no_context must be \"omit\" or \"skip\"");
        } else {
            rc = ph_err(errstr, errstr_size, PH_EINVAL, "similarity: unknown key \"%s\"", key);
        }
        if (rc < 0)
            return rc;
    }
    if (st->relevance_high < st->relevance_min || st->groundedness_high < st->groundedness_min)
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "similarity: the *_high thresholds must not be below the *_min ones");
    char why[PH_ERRSTR_SIZE];
    rc = ph_sim_config_check(&st->sim, why, sizeof(why));
    if (rc < 0)
        return ph_err(errstr, errstr_size, rc, "similarity: %s", why);
    return 0;
}

static int sim_create(void **state, const json_t *config, char *errstr, size_t errstr_size)
{
    sim_state *st = calloc(1, sizeof(*st));
    if (!st)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "similarity: out of memory");
    ph_sim_config_init(&st->sim);
    st->history_weight = 0.25;
    st->relevance_min = 0.08;
    st->relevance_high = 0.25;
    st->groundedness_min = 0.5;
    st->groundedness_high = 0.8;
    st->support_threshold = 0.5;
    int rc = sim_configure(st, config, errstr, errstr_size);
    if (rc < 0) {
        free(st);
        return rc;
    }
    *state = st;
    return 0;
}

static void sim_destroy(void *state)
{
    free(state);
}

static void set_band(ph_eval_result *r, double score, double min, double high)
{
    ph_eval_set_score(r, score);
    ph_eval_set_label(r, score < min ? "low" : score < high ? "medium" : "high");
    ph_eval_set_passed(r, score >= min);
}

static bool is_role(const ph_eval_message *m, const char *role)
{
    size_t n = strlen(role);
    return m->role.len == n && memcmp(m->role.s, role, n) == 0;
}

/* The question (weight 1) and, newest first, the user and assistant messages of the earlier
 * exchanges, at history_weight for the previous exchange and half as much for each one before
 * it. Returns how many texts were written (0 when there is no user message). */
static size_t question_texts(const sim_state *st, const ph_eval_record *rec,
                             ph_sim_text texts[1 + HISTORY_MAX])
{
    const ph_eval_message *last = ph_eval_last_user(rec);
    if (!last)
        return 0;
    size_t n = 0;
    texts[n++] = (ph_sim_text){last->content, 1.0};
    double w = st->history_weight;
    for (size_t i = (size_t)(last - rec->messages); i > 0 && n < 1 + HISTORY_MAX && w > 0; i--) {
        const ph_eval_message *m = &rec->messages[i - 1];
        if (!is_role(m, "user") && !is_role(m, "assistant"))
            continue; /* system prompts are about the app, not this question */
        texts[n++] = (ph_sim_text){ph_sim_head(m->content, HISTORY_MAX_BYTES), w};
        if (is_role(m, "user"))
            w /= 2; /* the exchange this user message opened is done */
    }
    return n;
}

static int emit_relevance(const sim_state *st, const ph_eval_record *rec, const ph_sim_doc *resp,
                          ph_eval_sink *sink)
{
    ph_sim_text texts[1 + HISTORY_MAX];
    ph_sim_doc query = {0};
    int rc = 0;
    ph_eval_result *r = ph_eval_emit(sink, "relevance");
    if (!r)
        return PH_ENOMEM;
    size_t n = question_texts(st, rec, texts);
    if (n == 0) {
        r->status = PH_EVAL_SKIPPED;
        ph_eval_explain(r, "no user message");
        goto out;
    }
    if (rec->output.len == 0 && rec->is_error) {
        r->status = PH_EVAL_SKIPPED;
        ph_eval_explain(r, "the call failed: no output");
        goto out;
    }
    rc = ph_sim_doc_build_sum(&query, &st->sim, texts, n);
    if (rc < 0)
        goto out;
    if (ph_sim_doc_empty(&query)) {
        r->status = PH_EVAL_SKIPPED;
        ph_eval_explain(r, "the question has no content words");
        goto out;
    }
    ph_sim_scores sc;
    rc = ph_sim_cosine(&st->sim, &query, resp, &sc);
    if (rc < 0)
        goto out;
    set_band(r, sc.score, st->relevance_min, st->relevance_high);
    if (rec->output.len == 0)
        ph_eval_set_label(r, "empty");
    ph_eval_add_value(r, "word_cosine", sc.word_cosine);
    ph_eval_add_value(r, "char_cosine", sc.char_cosine);
    ph_eval_add_value(r, "history_messages", (double)(n - 1));
    if (resp->truncated || query.truncated)
        ph_eval_add_value(r, "truncated", 1);
    /* A scored result needs no explanation beyond its values (and formatting two doubles
     * would cost a tenth of the evaluator's time). */
    if (rec->output.len == 0)
        ph_eval_explain(r, "empty output");
    else if (ph_sim_doc_empty(resp))
        ph_eval_explain(r, "the output has no content words");
out:
    ph_sim_doc_free(&query);
    return rc;
}

static int emit_groundedness(const sim_state *st, const ph_eval_record *rec, const ph_sim_doc *resp,
                             ph_eval_sink *sink)
{
    if (rec->ncontext == 0 && !st->skip_without_context)
        return 0;
    ph_eval_result *r = ph_eval_emit(sink, "groundedness");
    if (!r)
        return PH_ENOMEM;
    if (rec->ncontext == 0) {
        r->status = PH_EVAL_SKIPPED;
        ph_eval_explain(r, "no retrieved context");
        return 0;
    }
    if (ph_sim_doc_empty(resp)) {
        r->status = PH_EVAL_SKIPPED;
        ph_eval_explain(r, rec->output.len ? "the output has no content words" : "empty output");
        return 0;
    }
    ph_sim_grounding g;
    int rc = ph_sim_ground(&st->sim, resp, rec->context, rec->ncontext, st->support_threshold, &g);
    if (rc < 0)
        return rc;
    if (g.nonempty_passages == 0) {
        r->status = PH_EVAL_SKIPPED;
        ph_eval_explain(r, "the retrieved passages have no content words");
        return 0;
    }
    set_band(r, g.score, st->groundedness_min, st->groundedness_high);
    ph_eval_add_value(r, "word_cosine", g.word_cosine);
    ph_eval_add_value(r, "char_cosine", g.char_cosine);
    ph_eval_add_value(r, "best_passage", (double)g.best_passage);
    ph_eval_add_value(r, "passages", (double)g.passages);
    ph_eval_add_value(r, "sentences", (double)g.sentences);
    ph_eval_add_value(r, "supported_sentences", (double)g.supported);
    ph_eval_add_value(r, "supported_share", g.supported_share);
    if (resp->truncated)
        ph_eval_add_value(r, "truncated", 1);
    ph_eval_explain(r, "%zu of %zu sentences supported; best passage %zu", g.supported, g.sentences,
                    g.best_passage);
    return 0;
}

static int sim_evaluate(const void *state, const ph_eval_record *rec, ph_eval_sink *sink,
                        char *errstr, size_t errstr_size)
{
    const sim_state *st = state;
    ph_sim_doc resp = {0};
    /* Without passages the response is only ever streamed against the question's table. */
    int rc = rec->ncontext ? ph_sim_doc_build(&resp, &st->sim, rec->output.s, rec->output.len)
                           : ph_sim_doc_tokens(&resp, &st->sim, rec->output.s, rec->output.len);
    if (rc < 0)
        goto out;
    rc = emit_relevance(st, rec, &resp, sink);
    if (rc < 0)
        goto out;
    rc = emit_groundedness(st, rec, &resp, sink);
out:
    ph_sim_doc_free(&resp);
    if (rc < 0)
        return ph_err(errstr, errstr_size, rc, "similarity: %s", ph_strerror(rc));
    return 0;
}

const ph_evaluator_kind ph_eval_kind_similarity = {
    .name = "similarity",
    .code_version = "1",
    .summary = "relevance to the question and groundedness in the retrieved passages, by "
               "word and character n-gram cosine (no model)",
    .create = sim_create,
    .destroy = sim_destroy,
    .evaluate = sim_evaluate,
};
