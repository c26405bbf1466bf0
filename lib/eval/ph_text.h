/* Small text utilities shared by the evaluators: word and sentence iteration over UTF-8 text.
 * A word is a maximal run of ASCII letters and digits, apostrophes between letters, and
 * non-ASCII UTF-8 sequences (treated as letters, so accented and non-Latin words hold
 * together). Pure functions; reentrant. */
#ifndef PH_TEXT_H
#define PH_TEXT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ph_words {
    const char *p;
    const char *end;
} ph_words;

void ph_words_init(ph_words *w, const char *s, size_t len);

/* The next word: *word points into the text (borrowed), *len its length in bytes. Returns false
 * at the end. */
bool ph_words_next(ph_words *w, const char **word, size_t *len);

/* Number of words (as ph_words counts them). */
size_t ph_text_words(const char *s, size_t len);

/* Number of sentences: runs of text ended by '.', '!' or '?' (repeated marks count once) or by
 * the end of the text; a text with no word has 0 sentences. */
size_t ph_text_sentences(const char *s, size_t len);

/* Number of UTF-8 characters (continuation bytes not counted). */
size_t ph_text_chars(const char *s, size_t len);

/* Lower-cases ASCII letters of src into dst (len bytes; other bytes copied as they are). dst may
 * equal src. */
void ph_text_lower(char *dst, const char *src, size_t len);

/* True when the word (len bytes) equals `lower` ignoring ASCII case. */
bool ph_word_eq(const char *word, size_t len, const char *lower);

#endif
