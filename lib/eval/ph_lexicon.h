/* Shared machinery of the lexicon-based evaluators (refusal, toxicity, sentiment, frustration):
 * a case-insensitive word table, caseless PCRE2 patterns compiled once, and the sentiment
 * analyser that both the sentiment and the frustration evaluators use.
 *
 * Everything here is built once (in an evaluator's create()) and is read-only afterwards, so
 * one instance may be used by many threads at once. Per-call scratch (ph_rx_scratch) belongs to
 * one thread. */
#ifndef PH_LEXICON_H
#define PH_LEXICON_H

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- word tables --------------------------------------------------------------------------- */

typedef struct ph_lex_entry {
    const char *word; /* lower-case ASCII or UTF-8; borrowed (usually a string literal) */
    int value;        /* meaning is the caller's: category bits, valence in tenths, ... */
} ph_lex_entry;

/* A set of words with an int each, looked up ignoring ASCII case. */
typedef struct ph_lex ph_lex;

/* Builds a table from n entries (the entries' strings are borrowed and must outlive the table;
 * a later duplicate replaces an earlier one). Returns 0, or PH_ENOMEM / PH_EINVAL with errstr. */
int ph_lex_new(ph_lex **out, const ph_lex_entry *entries, size_t n, char *errstr,
               size_t errstr_size);
void ph_lex_destroy(ph_lex *lex); /* NULL is a no-op */

/* True and *value set when the word (len bytes, any ASCII case) is in the table. Words longer
 * than PH_LEX_WORD_MAX bytes are never in it. */
#define PH_LEX_WORD_MAX 48
bool ph_lex_get(const ph_lex *lex, const char *word, size_t len, int *value);

/* The same lookup returning the table's entry (its word is the lower-case form given to
 * ph_lex_new), or NULL. The pointer lives as long as the table. */
const ph_lex_entry *ph_lex_find(const ph_lex *lex, const char *word, size_t len);

/* ---- patterns ------------------------------------------------------------------------------ */

/* A PCRE2 pattern compiled caseless, byte-oriented (not UTF mode, so invalid UTF-8 in a text
 * can never make a match fail) and JIT-compiled where the platform allows. */
typedef struct ph_rx ph_rx;

int ph_rx_new(ph_rx **out, const char *pattern, char *errstr, size_t errstr_size);
void ph_rx_destroy(ph_rx *rx); /* NULL is a no-op */

/* Per-thread match scratch; create one per evaluate() call (it is small). */
typedef pcre2_match_data ph_rx_scratch;
ph_rx_scratch *ph_rx_scratch_new(void); /* NULL when out of memory */
void ph_rx_scratch_free(ph_rx_scratch *md);

/* Finds the first match of rx in s[start, end) (the text is taken to end at `end`, so \b and
 * $ see that as its end). On a match returns true and writes its byte range to *ms, *me (either
 * may be NULL). A match-limit error counts as no match. */
bool ph_rx_find(const ph_rx *rx, ph_rx_scratch *md, const char *s, size_t start, size_t end,
                size_t *ms, size_t *me);

/* Number of non-overlapping matches in s[start, end), counting at most `cap`. */
size_t ph_rx_count(const ph_rx *rx, ph_rx_scratch *md, const char *s, size_t start, size_t end,
                   size_t cap);

/* ---- sentiment ----------------------------------------------------------------------------- */

/* A valence lexicon with negation, intensifiers, all-caps emphasis, exclamation marks, "but"
 * contrast and emoticons, in the manner of VADER (Hutto & Gilbert 2014; our own word list). */
typedef struct ph_senti ph_senti;

typedef struct ph_senti_result {
    double compound;     /* -1..1: sum of valences normalised by x / sqrt(x^2 + 15) */
    double sum;          /* the raw sum the compound is made from */
    unsigned pos_words;  /* words with a positive valence after negation */
    unsigned neg_words;  /* words with a negative valence after negation */
    unsigned negated;    /* sentiment words flipped by a negation */
    unsigned caps_words; /* emphasised all-caps sentiment words */
    unsigned exclaims;   /* '!' counted (capped at 4) */
    unsigned emoticons;  /* emoticons and emoji recognised */
    unsigned words;      /* words scanned */
} ph_senti_result;

int ph_senti_new(ph_senti **out, char *errstr, size_t errstr_size);
void ph_senti_destroy(ph_senti *senti); /* NULL is a no-op */

/* Scores text (any bytes; at most `max_bytes` of it are read, 0 = all). Never fails. */
void ph_senti_score(const ph_senti *senti, const char *s, size_t len, size_t max_bytes,
                    ph_senti_result *out);

/* ---- small text helpers -------------------------------------------------------------------- */

/* Fraction of ASCII letters that are upper case, and the number of ASCII letters seen. */
double ph_lex_caps_ratio(const char *s, size_t len, size_t *letters);

/* True for the English function words that carry no topic ("the", "is", "what", ...), compared
 * ignoring ASCII case. */
bool ph_lex_is_stopword(const char *word, size_t len);

#endif
