/* Kind "frustration": is the user getting frustrated with the assistant? Read from the user's
 * messages, the latest (a follow-up, above all) weighing most. Signals, each 0..1:
 *
 *   complaint   "that's not what I asked", "you already said that", "are you even listening",
 *               "useless", "I said ...", "for the third time", "ugh" (patterns)
 *   repeat      the latest message says again what an earlier user message said (word overlap:
 *               Jaccard of content words, stopwords dropped, plurals folded)
 *   insult      insults aimed at the assistant ("you are useless", "stupid bot", "shut up")
 *   caps        the latest message shouted in capitals
 *   punctuation "?!", "!!!", "???"
 *   negativity  negative sentiment of the latest message (shared analyser, ph_lexicon.h)
 *   escalation  the latest message is clearly more negative than the earlier ones
 *
 * The score is 1 - prod(1 - weight_i * signal_i): any strong signal alone makes it mild or high,
 * several weak ones add up. A complaint or a repeat in a first message (no assistant turn before
 * it) counts half: there is nothing the assistant said to be frustrated with yet. */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "ph_error.h"
#include "ph_eval.h"
#include "ph_lexicon.h"
#include "ph_text.h"

#define AP "(?:'|\\xe2\\x80\\x99)"

static const char pat_complaint[] =
    "\\b(?:that" AP "?s\\s+not\\s+what\\s+i|that\\s+is\\s+not\\s+what\\s+i|not\\s+what\\s+i\\s+"
    "(?:asked|meant|wanted|said)|you\\s+(?:already|just)\\s+(?:said|told|answered|gave)"
    "|(?:are|r)\\s+(?:you|u)\\s+(?:even\\s+)?(?:listening|reading|paying\\s+attention|serious"
    "|kidding)|you" AP "?re\\s+not\\s+(?:listening|helping|answering|understanding|making\\s+sense)"
    "|you\\s+are\\s+not\\s+(?:listening|helping|answering|understanding|making\\s+sense)"
    "|you\\s+(?:don" AP "?t|do\\s+not|didn" AP "?t|did\\s+not)\\s+(?:understand|get\\s+it|listen"
    "|answer|read)|(?:didn" AP "?t|did\\s+not|doesn" AP "?t|does\\s+not)\\s+answer\\s+(?:my|the)"
    "\\s+question|answer\\s+(?:my|the)\\s+(?:damn\\s+|fucking\\s+|freaking\\s+)?question"
    "|i\\s+(?:already\\s+)?(?:said|told\\s+you|asked\\s+you)\\b|for\\s+the\\s+(?:last|second|third"
    "|fourth|fifth|hundredth|\\d+(?:st|nd|rd|th))\\s+time|how\\s+many\\s+times"
    "|stop\\s+(?:repeating|saying|lying|dodging|avoiding|changing)|that\\s+(?:doesn" AP
    "?t|does\\s+not|didn" AP "?t)\\s+(?:help|work|make\\s+sense|answer)|(?:still|again)\\s+"
    "(?:wrong|not\\s+working|doesn" AP "?t\\s+work|broken)|wrong\\s+again|(?:this|that|you)(?:" AP
    "re|" AP "s|\\s+are|\\s+is)?\\s+(?:so\\s+|completely\\s+|totally\\s+)?(?:useless|pointless"
    "|worthless|unhelpful|ridiculous|a\\s+waste)|waste\\s+of\\s+(?:my\\s+)?time|not\\s+helpful"
    "|you\\s+keep\\s+(?:saying|repeating|giving|ignoring|avoiding)|never\\s+mind|forget\\s+it"
    "|ugh+|argh+|wtf|seriously\\?|come\\s+on|what\\s+the\\s+(?:hell|heck|fuck)|just\\s+(?:answer"
    "|tell\\s+me)|i\\s+give\\s+up|frustrat\\w*|annoying|you" AP "?re\\s+wrong|you\\s+are\\s+wrong"
    "|that" AP "?s\\s+wrong|not\\s+true|you\\s+(?:lied|lie|are\\s+lying|" AP "re\\s+lying))";

static const char pat_insult[] =
    "\\b(?:you(?:" AP "re|\\s+are|r|\\s+r)?\\s+(?:a\\s+|an\\s+|so\\s+|such\\s+an?\\s+|really\\s+"
    "|being\\s+|just\\s+)?(?:\\w+\\s+)?(?:stupid|dumb|idiot|idiotic|moron|useless|incompetent"
    "|pathetic|worthless|retarded|clueless|garbage|trash|terrible|awful|annoying|bitch|asshole)"
    "|(?:stupid|dumb|useless|worthless|pathetic|idiotic)\\s+(?:bot|ai|robot|machine|assistant"
    "|computer|program|thing)|shut\\s+up|screw\\s+you|fuck\\s+(?:you|off)|go\\s+to\\s+hell)\\b";

static const char pat_punct[] = "\\?!|!\\?|!!!|\\?\\?\\?";

enum { MAX_TURNS = 8, MAX_TERMS = 96 };

typedef struct frus_state {
    ph_senti *senti;
    ph_rx *complaint;
    ph_rx *insult;
    ph_rx *punct;
    double mild;
    double high;
    size_t max_bytes;
} frus_state;

static void frus_destroy(void *state)
{
    frus_state *st = state;
    if (!st)
        return;
    ph_senti_destroy(st->senti);
    ph_rx_destroy(st->complaint);
    ph_rx_destroy(st->insult);
    ph_rx_destroy(st->punct);
    free(st);
}

static int frus_create(void **state, const json_t *config, char *errstr, size_t errstr_size)
{
    int rc = PH_OK;
    frus_state *st = calloc(1, sizeof(*st));
    const char *key;
    json_t *val;
    if (!st) {
        rc = ph_err(errstr, errstr_size, PH_ENOMEM, "frustration: out of memory");
        goto out;
    }
    st->mild = 0.3;
    st->high = 0.6;
    st->max_bytes = 8192;
    json_object_foreach((json_t *)config, key, val)
    {
        double d = json_number_value(val);
        bool ok = json_is_number(val);
        if (strcmp(key, "mild_threshold") == 0 && ok && d > 0 && d < 1) {
            st->mild = d;
        } else if (strcmp(key, "high_threshold") == 0 && ok && d > 0 && d <= 1) {
            st->high = d;
        } else if (strcmp(key, "max_bytes") == 0 && json_is_integer(val) && d >= 64) {
            st->max_bytes = (size_t)d;
        } else {
            rc = ph_err(errstr, errstr_size, PH_EINVAL,
                        "frustration: unknown key or bad value \"%s\" (known: mild_threshold "
                        "(0..1), high_threshold (0..1], max_bytes (>= 64))",
                        key);
            goto out;
        }
    }
    if (st->mild >= st->high) {
        rc = ph_err(errstr, errstr_size, PH_EINVAL,
                    "frustration: mild_threshold must be below high_threshold");
        goto out;
    }
    if ((rc = ph_senti_new(&st->senti, errstr, errstr_size)) ||
        (rc = ph_rx_new(&st->complaint, pat_complaint, errstr, errstr_size)) ||
        (rc = ph_rx_new(&st->insult, pat_insult, errstr, errstr_size)) ||
        (rc = ph_rx_new(&st->punct, pat_punct, errstr, errstr_size)))
        goto out;
    *state = st;
    st = NULL;
out:
    frus_destroy(st);
    return rc;
}

/* The content words of a message as a set of hashes (lower-cased, stopwords dropped, a final
 * "s" folded), at most MAX_TERMS. */
typedef struct terms {
    uint64_t h[MAX_TERMS];
    size_t n;
} terms;

static void terms_of(const char *s, size_t len, terms *t)
{
    ph_words w;
    const char *word;
    size_t wl;
    char buf[PH_LEX_WORD_MAX];
    t->n = 0;
    ph_words_init(&w, s, len);
    while (t->n < MAX_TERMS && ph_words_next(&w, &word, &wl)) {
        if (wl > PH_LEX_WORD_MAX || ph_lex_is_stopword(word, wl))
            continue;
        ph_text_lower(buf, word, wl);
        if (wl > 3 && buf[wl - 1] == 's' && buf[wl - 2] != 's')
            wl--;
        uint64_t h = XXH3_64bits(buf, wl);
        size_t i = 0;
        while (i < t->n && t->h[i] != h)
            i++;
        if (i == t->n)
            t->h[t->n++] = h;
    }
}

static double jaccard(const terms *a, const terms *b)
{
    size_t both = 0;
    for (size_t i = 0; i < a->n; i++)
        for (size_t j = 0; j < b->n; j++)
            if (a->h[i] == b->h[j]) {
                both++;
                break;
            }
    size_t any = a->n + b->n - both;
    return any ? (double)both / (double)any : 0;
}

static bool is_role(const ph_eval_message *m, const char *role)
{
    size_t n = strlen(role);
    return m->role.len == n && memcmp(m->role.s, role, n) == 0;
}

static double clamp01(double x)
{
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

static int frus_evaluate(const void *state, const ph_eval_record *rec, ph_eval_sink *sink,
                         char *errstr, size_t errstr_size)
{
    const frus_state *st = state;
    int rc = PH_OK;
    ph_rx_scratch *md = NULL;
    ph_eval_result *r = ph_eval_emit(sink, NULL);
    terms *latest_terms = NULL, *other = NULL;
    if (!r || !(md = ph_rx_scratch_new()) || !(latest_terms = malloc(2 * sizeof(terms)))) {
        rc = ph_err(errstr, errstr_size, PH_ENOMEM, "frustration: out of memory");
        goto out;
    }
    other = latest_terms + 1;
    /* the latest user message, and whether an assistant turn came before it */
    size_t li = rec->nmessages;
    while (li > 0 && !is_role(&rec->messages[li - 1], "user"))
        li--;
    if (li == 0) {
        r->status = PH_EVAL_SKIPPED;
        ph_eval_explain(r, "no user message");
        goto out;
    }
    const ph_eval_message *latest = &rec->messages[li - 1];
    const char *s = latest->content.s ? latest->content.s : "";
    size_t len = latest->content.len < st->max_bytes ? latest->content.len : st->max_bytes;
    bool follow_up = false;
    for (size_t i = 0; i + 1 < li; i++)
        follow_up |= is_role(&rec->messages[i], "assistant");
    double follow = follow_up ? 1.0 : 0.5;

    size_t complaints = ph_rx_count(st->complaint, md, s, 0, len, 3);
    double complaint = complaints ? clamp01(0.7 + 0.15 * (double)(complaints - 1)) : 0;
    double insult = ph_rx_find(st->insult, md, s, 0, len, NULL, NULL) ? 1.0 : 0;
    double punct = ph_rx_find(st->punct, md, s, 0, len, NULL, NULL) ? 1.0 : 0;
    size_t letters;
    double caps_ratio = ph_lex_caps_ratio(s, len, &letters);
    double caps = letters >= 12 && caps_ratio >= 0.6 ? clamp01((caps_ratio - 0.5) * 2) : 0;

    ph_senti_result now, then;
    ph_senti_score(st->senti, s, len, 0, &now);
    double negativity = now.compound < -0.2 ? clamp01(-now.compound) : 0;

    /* earlier user messages: the most similar one, and their mean sentiment */
    double best_sim = 0, earlier_sum = 0;
    int earlier_n = 0;
    bool have_terms = false; /* computed only when there is an earlier message to compare */
    for (size_t i = li - 1; i > 0 && earlier_n < MAX_TURNS; i--) {
        const ph_eval_message *m = &rec->messages[i - 1];
        if (!is_role(m, "user"))
            continue;
        size_t ml = m->content.len < st->max_bytes ? m->content.len : st->max_bytes;
        const char *ms = m->content.s ? m->content.s : "";
        if (!have_terms) {
            terms_of(s, len, latest_terms);
            have_terms = true;
        }
        terms_of(ms, ml, other);
        if (latest_terms->n >= 3 && other->n >= 3) {
            double sim = jaccard(latest_terms, other);
            best_sim = sim > best_sim ? sim : best_sim;
        }
        ph_senti_score(st->senti, ms, ml, 0, &then);
        earlier_sum += then.compound;
        earlier_n++;
    }
    double repeat = clamp01((best_sim - 0.35) / 0.35);
    double escalation = 0;
    if (earlier_n > 0) {
        double drop = earlier_sum / earlier_n - now.compound;
        escalation = now.compound < -0.2 && drop > 0.3 ? clamp01(drop / 1.0) : 0;
    }

    struct {
        const char *name;
        double signal, weight;
    } sig[] = {
        {"complaint", complaint, 0.75 * follow},
        {"repeat", repeat, 0.6 * follow},
        {"insult", insult, 0.8},
        {"caps", caps, 0.35},
        {"punctuation", punct, 0.15},
        {"negativity", negativity, 0.3},
        {"escalation", escalation, 0.35},
    };
    double keep = 1.0;
    const char *top = NULL;
    double top_part = 0;
    for (size_t i = 0; i < sizeof(sig) / sizeof(sig[0]); i++) {
        double part = sig[i].signal * sig[i].weight;
        keep *= 1.0 - part;
        ph_eval_add_value(r, sig[i].name, sig[i].signal);
        if (part > top_part) {
            top_part = part;
            top = sig[i].name;
        }
    }
    double score = 1.0 - keep;
    ph_eval_add_value(r, "similarity", best_sim);
    ph_eval_add_value(r, "sentiment", now.compound);
    ph_eval_add_value(r, "follow_up", follow_up);
    const char *label = score >= st->high ? "high" : score >= st->mild ? "mild" : "none";
    ph_eval_set_score(r, score);
    ph_eval_set_label(r, label);
    ph_eval_set_passed(r, score < st->high);
    if (top)
        ph_eval_explain(r, "%s frustration, mostly %s", label, top);
out:
    free(latest_terms);
    ph_rx_scratch_free(md);
    return rc;
}

const ph_evaluator_kind ph_eval_kind_frustration = {
    .name = "frustration",
    .code_version = "1",
    .summary = "user frustration: complaints, repeated questions, insults, caps, escalation",
    .create = frus_create,
    .destroy = frus_destroy,
    .evaluate = frus_evaluate,
};
