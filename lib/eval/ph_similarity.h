/* Lexical similarity without a model, internal to lib/eval: shared by the similarity evaluator
 * (ev_similarity.c) and the session evaluation (ph_session_eval.c). docs/evaluators/similarity.md
 * explains the method; in short, a text becomes a sparse vector in two hashed feature spaces:
 *
 *   words:  lower-cased, stopwords dropped, plurals folded (S-stemmer), weighted by a built-in
 *           three-band English frequency table (stopword 0, common word 0.4, other 1.0);
 *   chars:  character n-grams (ngram_min..ngram_max code points) of each kept word with '<' and
 *           '>' marking its ends, weighted like their word.
 *
 * Each feature is an XXH3 hash of its bytes, so there is no vocabulary and nothing learned: a
 * text always gets the same vector, whatever else was seen. Term frequency is damped: a feature
 * is worth sqrt(sum of its occurrences' squared weights), so its weight once and sqrt(tf) times
 * that when repeated (as Lucene's classic TF). Two vectors compare by cosine in each space.
 *
 * Memory: a ph_sim_doc owns a few heap blocks sized from its text (one per call, never one per
 * token). Not thread-shared: each thread builds its own docs; the built-in word tables are
 * built once (pthread_once) and read-only after. */
#ifndef PH_SIMILARITY_H
#define PH_SIMILARITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ph_eval.h"

/* Passages past this many are ignored by ph_sim_ground (one bit each in a 64-bit mask). */
#define PH_SIM_MAX_PASSAGES 64

/* Sentences with fewer content words than this are not judged by ph_sim_ground ("Sure!",
 * "Here is how:"), unless no sentence of the response has that many. */
#define PH_SIM_MIN_SENTENCE_WORDS 3

typedef struct ph_sim_config {
    double word_weight; /* share of the word cosine in a combined score */
    double char_weight; /* share of the char n-gram cosine; word_weight + char_weight = 1 */
    int ngram_min;      /* n-gram sizes in code points, 2 <= min <= max <= 8, max - min <= 4 */
    int ngram_max;
    size_t max_text_bytes; /* each text is cut (at a UTF-8 boundary) past this many bytes */
} ph_sim_config;

/* Defaults: 0.5 / 0.5, 4-grams only, 64 KiB. */
void ph_sim_config_init(ph_sim_config *cfg);

/* Checks ranges and scales the two weights to sum 1. Returns 0 or PH_EINVAL with errstr. */
int ph_sim_config_check(ph_sim_config *cfg, char *errstr, size_t errstr_size);

/* A hashed sparse vector: open addressing (load <= 1/2), keys never 0, the low key bit is the
 * space (0 words, 1 char n-grams). Key and value side by side: one cache line per probe. */
typedef struct ph_sim_slot {
    uint32_t key; /* 0 = empty */
    float val;
} ph_sim_slot;

typedef struct ph_sim_table {
    ph_sim_slot *slots;
    uint32_t *used; /* the occupied slot indices, in insertion order */
    size_t n;
    size_t mask; /* capacity - 1; capacity is a power of two */
} ph_sim_table;

typedef struct ph_sim_feature {
    uint32_t key;
    float weight; /* the word's band weight */
} ph_sim_feature;

/* One text as a vector. Zero-initialise, build, free. */
typedef struct ph_sim_doc {
    ph_sim_feature *feat; /* every feature occurrence in text order */
    size_t nfeat;
    uint32_t *sent; /* feat index where each sentence starts */
    size_t nsent;
    size_t nwords;    /* content words kept */
    ph_sim_table tab; /* the damped vector */
    double norm[2];   /* Euclidean norm per space */
    bool truncated;   /* the text was longer than max_text_bytes */
    void *block;      /* feat, sent and scratch share one allocation */
} ph_sim_doc;

/* Builds the vector of one text (borrowed for the call only). doc must be zeroed or freed.
 * Returns 0 or PH_ENOMEM; on error doc is left empty (still safe to free). */
int ph_sim_doc_build(ph_sim_doc *doc, const ph_sim_config *cfg, const char *s, size_t len);

/* The same without the table: features, sentences and norms only. Cheaper when the doc is only
 * ever compared with docs that have a table (a response against its question): ph_sim_cosine
 * then streams its features. ph_sim_ground needs a full doc. */
int ph_sim_doc_tokens(ph_sim_doc *doc, const ph_sim_config *cfg, const char *s, size_t len);

/* A weighted sum of the unit vectors of several texts (a question and its earlier turns); the
 * result has a vector only (no features, no sentences). Texts without features add nothing. */
typedef struct ph_sim_text {
    ph_str text;
    double weight;
} ph_sim_text;
int ph_sim_doc_build_sum(ph_sim_doc *doc, const ph_sim_config *cfg, const ph_sim_text *texts,
                         size_t n);

/* The first max bytes of s at most, cut before a code point (never inside a UTF-8 sequence). */
ph_str ph_sim_head(ph_str s, size_t max);

/* Frees what doc owns and zeroes it. NULL and zeroed docs are fine. */
void ph_sim_doc_free(ph_sim_doc *doc);

/* True when the doc has no feature (empty, or only stopwords and punctuation). */
static inline bool ph_sim_doc_empty(const ph_sim_doc *doc)
{
    return doc->tab.n == 0 && doc->nfeat == 0;
}

typedef struct ph_sim_scores {
    double word_cosine;
    double char_cosine;
    double score; /* word_weight * word_cosine + char_weight * char_cosine, 0..1 */
} ph_sim_scores;

/* Cosine similarity of two docs in each space. Symmetric; an empty doc scores 0. At most one
 * of them may be token-only (ph_sim_doc_tokens). Returns 0, PH_EINVAL (two token-only docs) or
 * PH_ENOMEM. */
int ph_sim_cosine(const ph_sim_config *cfg, const ph_sim_doc *a, const ph_sim_doc *b,
                  ph_sim_scores *out);

/* Convenience: builds both docs, compares, frees. Returns 0 or PH_ENOMEM. */
int ph_sim_compare(const ph_sim_config *cfg, ph_str a, ph_str b, ph_sim_scores *out);

typedef struct ph_sim_grounding {
    double score;       /* mean sentence support, weighted by each sentence's word mass */
    double word_cosine; /* response vs its best passage */
    double char_cosine;
    size_t best_passage;      /* index of the passage most cosine-similar to the response */
    size_t passages;          /* passages used (at most PH_SIM_MAX_PASSAGES) */
    size_t nonempty_passages; /* of those, with at least one content word */
    size_t sentences;         /* response sentences judged */
    size_t supported;         /* of those, with support >= the threshold */
    double supported_share;   /* supported / sentences; 0 when none */
} ph_sim_grounding;

/* How well the response doc (built with ph_sim_doc_build) is supported by the passages. The
 * support of a sentence is, maximised over passages, the combined share of its weighted words
 * and n-grams that occur in the passage (containment, not cosine: a passage is allowed to hold
 * much more than the sentence uses). Returns 0 or PH_ENOMEM. */
int ph_sim_ground(const ph_sim_config *cfg, const ph_sim_doc *resp, const ph_eval_passage *passages,
                  size_t npassages, double support_threshold, ph_sim_grounding *out);

#endif
