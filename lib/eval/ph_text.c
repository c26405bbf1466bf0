#include "ph_text.h"

#include <string.h>

static bool is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

void ph_words_init(ph_words *w, const char *s, size_t len)
{
    w->p = s;
    w->end = s + len;
}

bool ph_words_next(ph_words *w, const char **word, size_t *len)
{
    const char *p = w->p;
    while (p < w->end && !is_word_byte((unsigned char)*p))
        p++;
    if (p >= w->end) {
        w->p = p;
        return false;
    }
    const char *start = p;
    while (p < w->end) {
        if (is_word_byte((unsigned char)*p)) {
            p++;
        } else if ((*p == '\'' || (unsigned char)*p == 0xe2) && p + 1 < w->end) {
            /* an apostrophe (ASCII, or U+2019 encoded E2 80 99) between word bytes */
            size_t n = *p == '\'' ? 1 : 3;
            if (n == 3 &&
                (p + 2 >= w->end || (unsigned char)p[1] != 0x80 || (unsigned char)p[2] != 0x99))
                break;
            if (p + n < w->end && is_word_byte((unsigned char)p[n]) && p > start)
                p += n;
            else
                break;
        } else {
            break;
        }
    }
    *word = start;
    *len = (size_t)(p - start);
    w->p = p;
    return true;
}

size_t ph_text_words(const char *s, size_t len)
{
    ph_words w;
    const char *word;
    size_t n = 0, wl;
    ph_words_init(&w, s, len);
    while (ph_words_next(&w, &word, &wl))
        n++;
    return n;
}

size_t ph_text_sentences(const char *s, size_t len)
{
    size_t n = 0;
    bool words_since_end = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_word_byte(c)) {
            words_since_end = true;
        } else if ((c == '.' || c == '!' || c == '?') && words_since_end) {
            /* "3.14" and "e.g." inside a word run are not sentence ends */
            if (c == '.' && i + 1 < len && is_word_byte((unsigned char)s[i + 1]))
                continue;
            n++;
            words_since_end = false;
        }
    }
    return n + (words_since_end ? 1 : 0);
}

size_t ph_text_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            n++;
    return n;
}

void ph_text_lower(char *dst, const char *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        dst[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
}

bool ph_word_eq(const char *word, size_t len, const char *lower)
{
    for (size_t i = 0; i < len; i++) {
        char c = word[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + ('a' - 'A'));
        if (lower[i] != c)
            return false;
    }
    return lower[len] == '\0';
}
