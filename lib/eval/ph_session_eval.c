/* Session evaluation: see ph_session_eval.h and docs/evaluators/session.md. */
#include "ph_session_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ph_error.h"
#include "ph_similarity.h"
#include "ph_text.h"

/* Repeats are looked for among the last this many user turns (pairwise: 20,000 comparisons at
 * most, a few milliseconds). Longer sessions are rare and their start matters least. */
#define REPEAT_MAX_TURNS 200

/* The relevance of the last answer reads this many earlier exchanges, HISTORY_MAX_BYTES of
 * each message, like the similarity evaluator. */
#define HISTORY_EXCHANGES 2
#define HISTORY_MAX_BYTES 512

typedef struct session_config {
    double frustration_high;   /* a session ending at or above this fails */
    double frustration_slope;  /* |slope| per turn below this is flat */
    double repeat_threshold;   /* similarity from which a user turn repeats an earlier one */
    double repeat_min_words;   /* a user turn with fewer content words never repeats */
    double max_repeated;       /* passed while repeated questions <= this */
    double answered_threshold; /* relevance from which the last output answers */
    double history_weight;     /* weight of the previous exchange in that relevance */
} session_config;

static const struct {
    const char *key;
    size_t offset;
    double lo, hi, def;
    bool integer;
} config_keys[] = {
    {"frustration_high", offsetof(session_config, frustration_high), 0, 1, 0.6, false},
    {"frustration_slope", offsetof(session_config, frustration_slope), 0, 1, 0.05, false},
    {"repeat_threshold", offsetof(session_config, repeat_threshold), 0, 1, 0.7, false},
    {"repeat_min_words", offsetof(session_config, repeat_min_words), 0, 1000, 2, true},
    {"max_repeated_questions", offsetof(session_config, max_repeated), 0, 1e6, 0, true},
    {"answered_threshold", offsetof(session_config, answered_threshold), 0, 1, 0.08, false},
    {"history_weight", offsetof(session_config, history_weight), 0, 1, 0.25, false},
};
#define NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static int parse_config(session_config *cfg, const json_t *config, char *errstr, size_t errstr_size)
{
    for (size_t k = 0; k < NKEYS; k++)
        *(double *)((char *)cfg + config_keys[k].offset) = config_keys[k].def;
    if (!config)
        return 0;
    if (!json_is_object(config))
        return ph_err(errstr, errstr_size, PH_EINVAL, "session: config must be an object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)config, key, v)
    {
        size_t k = 0;
        while (k < NKEYS && strcmp(config_keys[k].key, key) != 0)
            k++;
        if (k == NKEYS)
            return ph_err(errstr, errstr_size, PH_EINVAL, "session: unknown key \"%s\"", key);
        double d = json_number_value(v);
        if (!json_is_number(v) || !(d >= config_keys[k].lo) || !(d <= config_keys[k].hi) ||
            (config_keys[k].integer && !json_is_integer(v)))
            return ph_err(errstr, errstr_size, PH_EINVAL, "session: %s must be %s in [%g, %g]", key,
                          config_keys[k].integer ? "an integer" : "a number", config_keys[k].lo,
                          config_keys[k].hi);
        *(double *)((char *)cfg + config_keys[k].offset) = d;
    }
    return 0;
}

int ph_session_config_check(const json_t *config, char *errstr, size_t errstr_size)
{
    session_config cfg;
    return parse_config(&cfg, config, errstr, errstr_size);
}

void ph_session_turn_from_record(ph_session_turn *t, const ph_eval_record *rec)
{
    const ph_eval_message *user = ph_eval_last_user(rec);
    memset(t, 0, sizeof(*t));
    t->turn = rec->turn;
    t->user = user ? user->content : (ph_str){"", 0};
    t->output = rec->output.s ? rec->output : (ph_str){"", 0};
    t->frustration = -1;
    t->time_ms = rec->record_time_ms ? rec->record_time_ms : rec->ingest_time_ms;
}

void ph_session_turn_apply_results(ph_session_turn *t, const ph_eval_result *results, size_t n,
                                   const char *frustration_name, const char *refusal_name)
{
    for (size_t i = 0; i < n; i++) {
        const ph_eval_result *r = &results[i];
        if (frustration_name && strcmp(r->evaluator, frustration_name) == 0 &&
            r->status == PH_EVAL_OK && r->has_score)
            t->frustration = r->score;
        if (refusal_name && strcmp(r->evaluator, refusal_name) == 0)
            t->refused = strcmp(r->label, "full_refusal") == 0;
    }
}

/* ---- the four results ---------------------------------------------------------------------- */

static int emit_turns(const ph_session_turn *turns, size_t n, ph_eval_sink *sink)
{
    ph_eval_result *r = ph_eval_emit(sink, "turns");
    if (!r)
        return PH_ENOMEM;
    size_t users = 0, refusals = 0, empty = 0;
    int64_t first = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        users += turns[i].user.len > 0;
        refusals += turns[i].refused;
        empty += turns[i].output.len == 0;
        if (turns[i].time_ms > 0) {
            if (!first || turns[i].time_ms < first)
                first = turns[i].time_ms;
            if (turns[i].time_ms > last)
                last = turns[i].time_ms;
        }
    }
    ph_eval_add_value(r, "turns", (double)n);
    ph_eval_add_value(r, "user_turns", (double)users);
    ph_eval_add_value(r, "duration_ms", (double)(last - first));
    ph_eval_add_value(r, "refusals", (double)refusals);
    ph_eval_add_value(r, "empty_outputs", (double)empty);
    ph_eval_explain(r, "%zu turns over %.0f s", n, (double)(last - first) / 1000.0);
    return 0;
}

/* The trajectory of the turns whose frustration is known: least-squares slope per turn (over
 * the position in the session, so an unknown turn in between still counts as time passing). */
static int emit_frustration(const session_config *cfg, const ph_session_turn *turns, size_t n,
                            ph_eval_sink *sink)
{
    ph_eval_result *r = ph_eval_emit(sink, "frustration");
    if (!r)
        return PH_ENOMEM;
    size_t known = 0;
    double first = 0, last = 0, max = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (size_t i = 0; i < n; i++) {
        double y = turns[i].frustration, x = (double)i;
        if (!(y >= 0))
            continue; /* unknown (negative or NaN) */
        if (known++ == 0)
            first = y;
        last = y;
        max = y > max ? y : max;
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
    }
    if (known == 0) {
        ph_eval_set_label(r, "none");
        ph_eval_add_value(r, "scored_turns", 0);
        ph_eval_explain(r, "no turn has a frustration score");
        return 0;
    }
    double k = (double)known, den = k * sxx - sx * sx;
    double slope = known > 1 && den > 0 ? (k * sxy - sx * sy) / den : 0;
    const char *label = slope > cfg->frustration_slope    ? "rising"
                        : slope < -cfg->frustration_slope ? "falling"
                                                          : "flat";
    ph_eval_set_score(r, last);
    ph_eval_set_label(r, label);
    ph_eval_set_passed(r, last < cfg->frustration_high);
    ph_eval_add_value(r, "first", first);
    ph_eval_add_value(r, "last", last);
    ph_eval_add_value(r, "max", max);
    ph_eval_add_value(r, "mean", sy / k);
    ph_eval_add_value(r, "slope", slope);
    ph_eval_add_value(r, "scored_turns", k);
    ph_eval_explain(r, "%s, from %.2f to %.2f over %zu scored turns", label, first, last, known);
    return 0;
}

static int emit_repeats(const session_config *cfg, const ph_sim_config *sim,
                        const ph_session_turn *turns, size_t n, ph_eval_sink *sink)
{
    int rc = 0;
    size_t m = 0;
    ph_eval_result *r = ph_eval_emit(sink, "repeated_questions");
    if (!r)
        return PH_ENOMEM;
    size_t nusers = 0;
    for (size_t i = 0; i < n; i++)
        nusers += turns[i].user.len > 0;
    if (nusers == 0) {
        r->status = PH_EVAL_SKIPPED;
        ph_eval_explain(r, "no user message");
        return 0;
    }
    size_t cap = nusers < REPEAT_MAX_TURNS ? nusers : REPEAT_MAX_TURNS;
    ph_sim_doc *docs = calloc(cap, sizeof(*docs));
    int *turn_no = calloc(cap, sizeof(*turn_no));
    if (!docs || !turn_no) {
        rc = PH_ENOMEM;
        goto out;
    }
    size_t skip = nusers - cap; /* the earliest user turns past the cap */
    for (size_t i = 0; i < n; i++) {
        if (turns[i].user.len == 0)
            continue;
        if (skip > 0) {
            skip--;
            continue;
        }
        rc = ph_sim_doc_build(&docs[m], sim, turns[i].user.s, turns[i].user.len);
        if (rc < 0)
            goto out;
        turn_no[m++] = turns[i].turn > 0 ? turns[i].turn : (int)i + 1;
    }
    size_t repeated = 0;
    double max_sim = 0;
    for (size_t j = 1; j < m; j++) {
        if ((double)docs[j].nwords < cfg->repeat_min_words)
            continue; /* "yes", "why?", "go on": short replies are not questions asked again */
        double best = 0;
        size_t best_i = 0;
        for (size_t i = 0; i < j; i++) {
            ph_sim_scores sc;
            rc = ph_sim_cosine(sim, &docs[i], &docs[j], &sc);
            if (rc < 0)
                goto out;
            if (sc.score > best) {
                best = sc.score;
                best_i = i;
            }
        }
        max_sim = best > max_sim ? best : max_sim;
        if (best >= cfg->repeat_threshold && ++repeated == 1)
            ph_eval_explain(r, "turn %d repeats turn %d (similarity %.2f)", turn_no[j],
                            turn_no[best_i], best);
    }
    ph_eval_set_score(r, m > 1 ? (double)repeated / (double)(m - 1) : 0);
    ph_eval_set_label(r, repeated ? "repeated" : "none");
    ph_eval_set_passed(r, (double)repeated <= cfg->max_repeated);
    ph_eval_add_value(r, "repeated", (double)repeated);
    ph_eval_add_value(r, "user_turns", (double)nusers);
    ph_eval_add_value(r, "max_similarity", max_sim);
    if (!repeated)
        ph_eval_explain(r, "no repeated question");
out:
    for (size_t i = 0; docs && i < m; i++)
        ph_sim_doc_free(&docs[i]);
    free(docs);
    free(turn_no);
    return rc;
}

/* Whether the user message asks for something: a question mark, or an opening word that asks
 * or requests. "Cool, I will use that." needs no answer, and an unrelated reply to it is no
 * failure; on hh-rlhf a third of the last user messages are such statements. */
static bool asks(ph_str user)
{
    static const char openers[] =
        "what how why when where who whom whose which can could would will should shall do does "
        "did is are was were have has may might tell give show explain describe list write "
        "rewrite revise rework reformulate edit shorten expand elaborate help please find make "
        "create generate summarize summarise translate compare name provide suggest recommend now "
        "identify let's express modify alter change add continue convert calculate solve prove "
        "fix implement answer try redo use imagine";
    if (memchr(user.s, '?', user.len))
        return true;
    ph_words w;
    const char *word;
    size_t len;
    ph_words_init(&w, user.s, user.len);
    if (!ph_words_next(&w, &word, &len))
        return false;
    for (const char *p = openers; *p;) {
        size_t n = strcspn(p, " ");
        if (n == len && strncasecmp(p, word, len) == 0)
            return true;
        p += n + (p[n] == ' ');
    }
    return false;
}

static int emit_answered(const session_config *cfg, const ph_sim_config *sim,
                         const ph_session_turn *turns, size_t n, ph_eval_sink *sink)
{
    int rc = 0;
    ph_sim_doc query = {0}, resp = {0};
    ph_eval_result *r = ph_eval_emit(sink, "answered");
    if (!r)
        return PH_ENOMEM;
    const ph_session_turn *last = &turns[n - 1];
    if (last->user.len == 0) {
        r->status = PH_EVAL_SKIPPED;
        ph_eval_explain(r, "the last turn has no user message");
        goto out;
    }
    /* The question, then the earlier exchanges newest first, as the similarity evaluator reads
     * a record's history. */
    ph_sim_text texts[1 + 2 * HISTORY_EXCHANGES];
    size_t nt = 0;
    texts[nt++] = (ph_sim_text){last->user, 1.0};
    double w = cfg->history_weight;
    for (size_t i = n - 1; i > 0 && nt + 2 <= 1 + 2 * HISTORY_EXCHANGES && w > 0; i--, w /= 2) {
        texts[nt++] = (ph_sim_text){ph_sim_head(turns[i - 1].output, HISTORY_MAX_BYTES), w};
        texts[nt++] = (ph_sim_text){ph_sim_head(turns[i - 1].user, HISTORY_MAX_BYTES), w};
    }
    rc = ph_sim_doc_build_sum(&query, sim, texts, nt);
    if (rc < 0)
        goto out;
    rc = ph_sim_doc_tokens(&resp, sim, last->output.s, last->output.len);
    if (rc < 0)
        goto out;
    bool measurable = !ph_sim_doc_empty(&query);
    ph_sim_scores sc = {0};
    if (measurable) {
        rc = ph_sim_cosine(sim, &query, &resp, &sc);
        if (rc < 0)
            goto out;
        ph_eval_set_score(r, sc.score);
        ph_eval_add_value(r, "relevance", sc.score);
        ph_eval_add_value(r, "word_cosine", sc.word_cosine);
        ph_eval_add_value(r, "char_cosine", sc.char_cosine);
    }
    bool question = asks(last->user);
    ph_eval_add_value(r, "question", question);
    const char *label = "answered";
    if (last->output.len == 0) {
        label = "unanswered";
        ph_eval_explain(r, "empty output");
    } else if (last->refused) {
        label = "refused";
        ph_eval_explain(r, "the last output is a full refusal");
    } else if (measurable && sc.score < cfg->answered_threshold && question) {
        label = "unanswered";
        ph_eval_explain(r, "the last output is off the question (relevance %.2f)", sc.score);
    } else if (!question) {
        ph_eval_explain(r, "the last user message asks nothing; the assistant replied");
    } else if (!measurable) {
        ph_eval_explain(r, "the question has no content words: judged on the output alone");
    } else {
        ph_eval_explain(r, "relevance %.2f", sc.score);
    }
    ph_eval_set_label(r, label);
    ph_eval_set_passed(r, strcmp(label, "answered") == 0);
out:
    ph_sim_doc_free(&query);
    ph_sim_doc_free(&resp);
    return rc;
}

int ph_session_evaluate(const ph_session_turn *turns, size_t n, const json_t *config,
                        ph_eval_sink *sink, char *errstr, size_t errstr_size)
{
    session_config cfg;
    ph_sim_config sim;
    int rc = parse_config(&cfg, config, errstr, errstr_size);
    if (rc < 0)
        return rc;
    ph_sim_config_init(&sim);
    rc = ph_sim_config_check(&sim, errstr, errstr_size);
    if (rc < 0)
        return rc;
    rc = emit_turns(turns, n, sink);
    if (rc < 0)
        goto out;
    if (n == 0) {
        static const char *const subs[] = {"frustration", "repeated_questions", "answered"};
        for (size_t i = 0; i < 3; i++) {
            ph_eval_result *r = ph_eval_emit(sink, subs[i]);
            if (!r) {
                rc = PH_ENOMEM;
                goto out;
            }
            r->status = PH_EVAL_SKIPPED;
            ph_eval_explain(r, "empty session");
        }
        goto out;
    }
    rc = emit_frustration(&cfg, turns, n, sink);
    if (rc < 0)
        goto out;
    rc = emit_repeats(&cfg, &sim, turns, n, sink);
    if (rc < 0)
        goto out;
    rc = emit_answered(&cfg, &sim, turns, n, sink);
out:
    if (rc < 0)
        return ph_err(errstr, errstr_size, rc, "session: %s", ph_strerror(rc));
    return 0;
}
