/* text_stats: how long the output and the input are (characters, words, sentences), how much of
 * the output is not letters, and optional length thresholds giving passed and a label.
 * docs/evaluators/text_stats.md is the reference for the values and the config keys.
 *
 * Runs on every record, so each text is read once, byte by byte through a class table, with no
 * allocation. Characters, words and sentences follow ph_text.h's definitions exactly (so every
 * evaluator agrees on what a word is); calling ph_text_chars/_words/_sentences one after the
 * other read each text three times and cost 4x more. test_ev_text_stats.c holds this pass to
 * ph_text.h on every record of the shared data. */
#include "ph_error.h"
#include "ph_eval.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct text_stats {
    /* thresholds on the output; -1 = not set */
    long long min_chars, max_chars, min_words, max_words;
} text_stats;

static const char *const config_keys[] = {"min_output_chars", "max_output_chars",
                                          "min_output_words", "max_output_words", NULL};

/* A non-negative integer threshold, or -1 when the key is absent. */
static int get_threshold(const json_t *config, const char *key, long long *out, char *errstr,
                         size_t errstr_size)
{
    const json_t *v = json_object_get(config, key);
    if (!v) {
        *out = -1;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s: must be a non-negative integer", key);
    *out = json_integer_value(v);
    return 0;
}

static int ts_create(void **state, const json_t *config, char *errstr, size_t errstr_size)
{
    text_stats ts;
    int rc;
    if (config && !json_is_object(config))
        return ph_err(errstr, errstr_size, PH_EINVAL, "config must be an object");
    if (config && (rc = ph_eval_check_keys(config, config_keys, "", errstr, errstr_size)) != 0)
        return rc;
    if ((rc = get_threshold(config, "min_output_chars", &ts.min_chars, errstr, errstr_size)) ||
        (rc = get_threshold(config, "max_output_chars", &ts.max_chars, errstr, errstr_size)) ||
        (rc = get_threshold(config, "min_output_words", &ts.min_words, errstr, errstr_size)) ||
        (rc = get_threshold(config, "max_output_words", &ts.max_words, errstr, errstr_size)))
        return rc;
    if (ts.min_chars >= 0 && ts.max_chars >= 0 && ts.min_chars > ts.max_chars)
        return ph_err(errstr, errstr_size, PH_EINVAL, "min_output_chars: above max_output_chars");
    if (ts.min_words >= 0 && ts.max_words >= 0 && ts.min_words > ts.max_words)
        return ph_err(errstr, errstr_size, PH_EINVAL, "min_output_words: above max_output_words");
    text_stats *copy = malloc(sizeof(*copy));
    if (!copy)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    *copy = ts;
    *state = copy;
    return 0;
}

static void ts_destroy(void *state)
{
    free(state);
}

/* Character classes for the non-letter share. Exact Unicode general categories would need ICU
 * (not a dependency) or a PCRE2 call per character (slower than this whole evaluator), so
 * non-ASCII code points count as letters except the blocks that hold only punctuation, symbols,
 * spaces and emoji, listed below. */
enum { CC_LETTER, CC_SPACE, CC_OTHER };

static int classify_cp(unsigned cp)
{
    if (cp == 0xa0 || (cp >= 0x2000 && cp <= 0x200b) || cp == 0x202f || cp == 0x205f ||
        cp == 0x3000 || cp == 0xfeff)
        return CC_SPACE;
    if ((cp >= 0x80 && cp <= 0xbf && cp != 0xaa && cp != 0xb5 && cp != 0xba) || cp == 0xd7 ||
        cp == 0xf7 || (cp >= 0x2000 && cp <= 0x2bff) || (cp >= 0x2e00 && cp <= 0x2e7f) ||
        (cp >= 0x3000 && cp <= 0x303f) || (cp >= 0xe000 && cp <= 0xf8ff) ||
        (cp >= 0xfe10 && cp <= 0xfe1f) || (cp >= 0xfe30 && cp <= 0xfe6f) ||
        (cp >= 0xff00 && cp <= 0xff20) || (cp >= 0xff3b && cp <= 0xff40) ||
        (cp >= 0xff5b && cp <= 0xff65) || cp >= 0xfff0 || (cp >= 0x1f000 && cp <= 0x1faff))
        return CC_OTHER;
    return CC_LETTER;
}

/* The class of the UTF-8 sequence starting at s[i] (a non-ASCII, non-continuation byte); an
 * invalid or truncated sequence is one non-letter. */
static int classify_utf8(const unsigned char *s, size_t i, size_t len)
{
    unsigned c = s[i], min;
    size_t n;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2, min = 0x80, c &= 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, min = 0x800, c &= 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, min = 0x10000, c &= 0x07;
    } else {
        return CC_OTHER;
    }
    if (i + n > len)
        return CC_OTHER;
    for (size_t k = 1; k < n; k++) {
        if ((s[i + k] & 0xc0) != 0x80)
            return CC_OTHER;
        c = (c << 6) | (s[i + k] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return CC_OTHER;
    return classify_cp(c);
}

/* UTF-8 characters (bytes that are not continuation bytes), eight bytes at a time: a byte is a
 * continuation byte when its top bits are 10, i.e. bit 7 set and bit 6 clear; the multiply adds
 * the eight 0/1 bytes into the top byte. */
static size_t count_chars(const char *s, size_t len)
{
    size_t cont = 0, i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        uint64_t flags = (w & ~(w << 1) & 0x8080808080808080ull) >> 7;
        cont += (size_t)((flags * 0x0101010101010101ull) >> 56);
    }
    for (; i < len; i++)
        cont += ((unsigned char)s[i] & 0xc0) == 0x80;
    return len - cont;
}

/* Byte classes of the single pass. */
enum {
    B_WORD = 1,  /* a word byte for ph_text.h: ASCII letter or digit, or any byte >= 0x80 */
    B_RARE = 2,  /* needs a closer look: ' . ! ? or the first byte of a non-ASCII character */
    B_APOS = 4,  /* ' (joins two word runs into one word: "don't") */
    B_END = 8,   /* . ! ? */
    B_LEAD = 16, /* the first byte of a non-ASCII character (or an invalid byte >= 0xc0) */
};

/* GNU range designators (GCC and clang) keep the tables const and built at compile time. */
static const unsigned char byte_class[256] = {
    ['\''] = B_RARE | B_APOS, ['.'] = B_RARE | B_END,   ['!'] = B_RARE | B_END,
    ['?'] = B_RARE | B_END,   ['0' ... '9'] = B_WORD,   ['A' ... 'Z'] = B_WORD,
    ['a' ... 'z'] = B_WORD,   [0x80 ... 0xbf] = B_WORD, [0xc0 ... 0xff] = B_WORD | B_RARE | B_LEAD,
};

/* What each byte adds to the packed counters of measure_text, three fields of PACK_BITS bits:
 * characters (every byte but UTF-8 continuation bytes), counted characters (ASCII that is not
 * whitespace) and non-letters among those. Non-ASCII characters are classified apart. */
#define PACK_BITS     20
#define PACK_CHUNK    ((1u << PACK_BITS) - 1) /* bytes per chunk: no field can overflow */
#define F_CHARS       0
#define F_COUNTED     PACK_BITS
#define F_OTHER       (2 * PACK_BITS)
#define FIELD(acc, f) ((size_t)(((acc) >> (f)) & PACK_CHUNK))
#define P_CHAR        (1ull << F_CHARS)
#define P_LETTER      (P_CHAR | 1ull << F_COUNTED)
#define P_OTHER       (P_CHAR | 1ull << F_COUNTED | 1ull << F_OTHER)

static const uint64_t byte_pack[256] = {
    [0x00 ... 0x08] = P_OTHER, ['\t' ... '\r'] = P_CHAR,
    [0x0e ... 0x1f] = P_OTHER, [' '] = P_CHAR,
    ['!' ... '@'] = P_OTHER,   ['A' ... 'Z'] = P_LETTER,
    ['[' ... '`'] = P_OTHER,   ['a' ... 'z'] = P_LETTER,
    ['{' ... 0x7f] = P_OTHER,  [0xc0 ... 0xff] = P_CHAR,
};

typedef struct measure {
    size_t chars, words, sentences;
    size_t counted, other; /* non-whitespace characters, and non-letters among them */
} measure;

/* One pass over a text computing ph_text_chars, ph_text_words and ph_text_sentences at once,
 * plus the non-letter count when want_share (whitespace left out so that formatting, line breaks
 * and indentation, does not move it).
 *
 * Why it looks like this: it runs on every record, and the plain version (five counters, a branch
 * per condition) ran at 4-5 ns a byte, three ph_text calls at about the same. Here the common
 * byte costs two table loads and a few operations: a word starts at a word byte that does not
 * continue a word (no word byte before it, nor an apostrophe after a word byte); the character
 * counts come packed from one table. Apostrophes, sentence marks and non-ASCII characters are
 * rare and take a branch: a '.', '!' or '?' ends a sentence unless it is a '.' followed by a word
 * byte ("3.14"), and only when a word started since the last counted end. */
static void measure_text(const char *text, size_t len, bool want_share, measure *m)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t chars = 0, counted = 0, other = 0, words = 0, sentences = 0, words_at_end = 0;
    unsigned in_word = 0; /* a word byte here would continue a word */
    for (size_t start = 0; start < len; start += PACK_CHUNK) {
        size_t stop = len - start > PACK_CHUNK ? start + PACK_CHUNK : len;
        uint64_t acc = 0;
        for (size_t i = start; i < stop; i++) {
            unsigned k = byte_class[s[i]];
            unsigned w = k & B_WORD;
            acc += byte_pack[s[i]];
            words += w & ~in_word;
            in_word = w;
            if (!(k & B_RARE))
                continue;
            if (k & B_APOS) {
                in_word = i > 0 && (byte_class[s[i - 1]] & B_WORD);
            } else if (k & B_END) {
                if (s[i] == '.' && i + 1 < len && (byte_class[s[i + 1]] & B_WORD))
                    continue;
                sentences += words > words_at_end;
                words_at_end = words;
            } else if (want_share) { /* B_LEAD */
                int cc = classify_utf8(s, i, len);
                counted += cc != CC_SPACE;
                other += cc == CC_OTHER;
            }
        }
        chars += FIELD(acc, F_CHARS);
        counted += FIELD(acc, F_COUNTED);
        other += FIELD(acc, F_OTHER);
    }
    m->chars = chars;
    m->words = words;
    m->sentences = sentences + (words > words_at_end);
    m->counted = want_share ? counted : 0;
    m->other = want_share ? other : 0;
}

/* Result fields written directly: the framework's setters format with snprintf (and
 * ph_eval_add_value looks for the name among the values already there), which on the every-record
 * path cost as much as the matching itself. Names are known to be new. */
static bool has_thresholds(const text_stats *ts)
{
    return ts->min_chars >= 0 || ts->max_chars >= 0 || ts->min_words >= 0 || ts->max_words >= 0;
}

static void judge(const text_stats *ts, ph_eval_result *r, size_t chars, size_t words)
{
    long long c = (long long)chars, w = (long long)words;
    const char *label = "ok";
    if (ts->min_chars >= 0 && c < ts->min_chars) {
        label = "too_short";
        ph_eval_explain(r, "output has %lld characters, min_output_chars is %lld", c,
                        ts->min_chars);
    } else if (ts->min_words >= 0 && w < ts->min_words) {
        label = "too_short";
        ph_eval_explain(r, "output has %lld words, min_output_words is %lld", w, ts->min_words);
    } else if (ts->max_chars >= 0 && c > ts->max_chars) {
        label = "too_long";
        ph_eval_explain(r, "output has %lld characters, max_output_chars is %lld", c,
                        ts->max_chars);
    } else if (ts->max_words >= 0 && w > ts->max_words) {
        label = "too_long";
        ph_eval_explain(r, "output has %lld words, max_output_words is %lld", w, ts->max_words);
    }
    ph_eval_set_label(r, label);
    ph_eval_set_passed(r, strcmp(label, "ok") == 0);
}

static int ts_evaluate(const void *state, const ph_eval_record *rec, ph_eval_sink *sink,
                       char *errstr, size_t errstr_size)
{
    const text_stats *ts = state;
    ph_eval_result *r = ph_eval_emit(sink, NULL);
    if (!r)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");

    measure out, in = {0};
    measure_text(rec->output.s ? rec->output.s : "", rec->output.s ? rec->output.len : 0, true,
                 &out);
    ph_eval_append_value(r, "output_chars", (double)out.chars);
    ph_eval_append_value(r, "output_words", (double)out.words);
    ph_eval_append_value(r, "output_sentences", (double)out.sentences);
    ph_eval_append_value(r, "output_nonletter_share",
                         out.counted ? (double)out.other / (double)out.counted : 0.0);

    const ph_eval_message *user = ph_eval_last_user(rec);
    if (user && user->content.s)
        measure_text(user->content.s, user->content.len, false, &in);
    ph_eval_append_value(r, "input_chars", (double)in.chars);
    ph_eval_append_value(r, "input_words", (double)in.words);
    ph_eval_append_value(r, "input_sentences", (double)in.sentences);
    size_t total = 0;
    for (size_t i = 0; i < rec->nmessages; i++)
        if (rec->messages[i].content.s)
            total += count_chars(rec->messages[i].content.s, rec->messages[i].content.len);
    ph_eval_append_value(r, "input_total_chars", (double)total);
    ph_eval_append_value(r, "input_messages", (double)rec->nmessages);

    /* A failed call has no output to judge: an empty output there is not "too short". */
    if (rec->is_error && has_thresholds(ts))
        ph_eval_explain(r, "call failed: length thresholds not applied");
    else if (has_thresholds(ts))
        judge(ts, r, out.chars, out.words);
    return 0;
}

const ph_evaluator_kind ph_eval_kind_text_stats = {
    .name = "text_stats",
    .code_version = "1",
    .summary = "length of output and input in characters, words and sentences; non-letter share "
               "of the output; optional length thresholds",
    .create = ts_create,
    .destroy = ts_destroy,
    .evaluate = ts_evaluate,
};
