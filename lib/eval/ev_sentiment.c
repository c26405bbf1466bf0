/* Kind "sentiment": how the user feels, read from the user's messages with the latest turn
 * weighing most. Each message is scored by the shared analyser (ph_lexicon.h: valence words with
 * negation, intensifiers, all-caps emphasis, exclamation marks, "but" and emoticons); the score
 * is latest_weight * latest + (1 - latest_weight) * the earlier messages' mean, where a message
 * k user turns back weighs decay^k. */
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"
#include "ph_eval.h"
#include "ph_lexicon.h"

typedef struct senti_state {
    ph_senti *senti;
    double latest_weight;
    double decay;
    double neutral_band;
    double fail_below; /* passed = score >= fail_below; < -1 disables passed */
    size_t max_bytes;
    int max_turns; /* user messages read, newest first */
} senti_state;

static void senti_destroy(void *state)
{
    senti_state *st = state;
    if (!st)
        return;
    ph_senti_destroy(st->senti);
    free(st);
}

static int number_in(const json_t *val, double lo, double hi, double *out)
{
    if (!json_is_number(val) || json_number_value(val) < lo || json_number_value(val) > hi)
        return PH_EINVAL;
    *out = json_number_value(val);
    return PH_OK;
}

static int senti_create(void **state, const json_t *config, char *errstr, size_t errstr_size)
{
    int rc = PH_OK;
    senti_state *st = calloc(1, sizeof(*st));
    const char *key;
    json_t *val;
    if (!st) {
        rc = ph_err(errstr, errstr_size, PH_ENOMEM, "sentiment: out of memory");
        goto out;
    }
    st->latest_weight = 0.6;
    st->decay = 0.5;
    st->neutral_band = 0.05;
    st->fail_below = -0.5;
    st->max_bytes = 8192;
    st->max_turns = 8;
    json_object_foreach((json_t *)config, key, val)
    {
        double d = 0;
        if (strcmp(key, "latest_weight") == 0) {
            rc = number_in(val, 0, 1, &st->latest_weight);
        } else if (strcmp(key, "decay") == 0) {
            rc = number_in(val, 0, 1, &st->decay);
        } else if (strcmp(key, "neutral_band") == 0) {
            rc = number_in(val, 0, 0.9, &st->neutral_band);
        } else if (strcmp(key, "fail_below") == 0) {
            if (json_is_null(val))
                st->fail_below = -2; /* no pass/fail */
            else
                rc = number_in(val, -1, 1, &st->fail_below);
        } else if (strcmp(key, "max_bytes") == 0) {
            rc = number_in(val, 64, 1 << 30, &d);
            st->max_bytes = (size_t)d;
        } else if (strcmp(key, "max_turns") == 0) {
            rc = number_in(val, 1, 1000, &d);
            st->max_turns = (int)d;
        } else {
            rc = ph_err(errstr, errstr_size, PH_EINVAL,
                        "sentiment: unknown key \"%s\" (known: latest_weight, decay, "
                        "neutral_band, fail_below, max_bytes, max_turns)",
                        key);
            goto out;
        }
        if (rc) {
            rc = ph_err(errstr, errstr_size, rc, "sentiment: %s is out of range", key);
            goto out;
        }
    }
    if ((rc = ph_senti_new(&st->senti, errstr, errstr_size)))
        goto out;
    *state = st;
    st = NULL;
out:
    senti_destroy(st);
    return rc;
}

static bool is_user(const ph_eval_message *m)
{
    return m->role.len == 4 && memcmp(m->role.s, "user", 4) == 0;
}

static int senti_evaluate(const void *state, const ph_eval_record *rec, ph_eval_sink *sink,
                          char *errstr, size_t errstr_size)
{
    const senti_state *st = state;
    ph_eval_result *r = ph_eval_emit(sink, NULL);
    if (!r)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "sentiment: out of memory");
    ph_senti_result latest = {0}, res;
    double earlier = 0, wsum = 0, w = 1;
    int turns = 0;
    for (size_t i = rec->nmessages; i > 0 && turns < st->max_turns; i--) {
        const ph_eval_message *m = &rec->messages[i - 1];
        if (!is_user(m))
            continue;
        if (turns == 0) {
            ph_senti_score(st->senti, m->content.s, m->content.len, st->max_bytes, &latest);
        } else {
            w *= st->decay;
            ph_senti_score(st->senti, m->content.s, m->content.len, st->max_bytes, &res);
            earlier += w * res.compound;
            wsum += w;
        }
        turns++;
    }
    if (turns == 0) {
        r->status = PH_EVAL_SKIPPED;
        ph_eval_explain(r, "no user message");
        return PH_OK;
    }
    double score = latest.compound;
    if (wsum > 0) {
        earlier /= wsum;
        score = st->latest_weight * latest.compound + (1 - st->latest_weight) * earlier;
    }
    const char *label = score >= st->neutral_band    ? "positive"
                        : score <= -st->neutral_band ? "negative"
                                                     : "neutral";
    ph_eval_set_score(r, score);
    ph_eval_set_label(r, label);
    if (st->fail_below >= -1)
        ph_eval_set_passed(r, score >= st->fail_below);
    ph_eval_add_value(r, "latest", latest.compound);
    if (wsum > 0)
        ph_eval_add_value(r, "earlier", earlier);
    ph_eval_add_value(r, "user_turns", turns);
    ph_eval_add_value(r, "positive_words", latest.pos_words);
    ph_eval_add_value(r, "negative_words", latest.neg_words);
    ph_eval_add_value(r, "negated", latest.negated);
    ph_eval_add_value(r, "caps_words", latest.caps_words);
    ph_eval_add_value(r, "exclamations", latest.exclaims);
    ph_eval_add_value(r, "emoticons", latest.emoticons);
    ph_eval_explain(r, "%s: latest user message %.2f over %d user turn(s)", label, latest.compound,
                    turns);
    return PH_OK;
}

const ph_evaluator_kind ph_eval_kind_sentiment = {
    .name = "sentiment",
    .code_version = "1",
    .summary = "sentiment of the user's messages, the latest turn weighing most",
    .create = senti_create,
    .destroy = senti_destroy,
    .evaluate = senti_evaluate,
};
