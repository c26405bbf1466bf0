/* words: include / exclude lists of words and phrases, begins_with / ends_with, matched
 * case-insensitively on word boundaries in the output (or the input). One check per instance, or
 * several named checks (one result each). docs/evaluators/words.md is the reference.
 *
 * Everything is compiled at create(); evaluate() allocates one pcre2 match data per call.
 *
 * include / exclude lists whose terms are all ASCII (the usual case) run through an Aho-Corasick
 * automaton built here, as a dense table over byte classes: one table step per byte, whatever the
 * number of terms, about 1-2 ns a byte. PCRE2, given the same list as a caseless alternation,
 * took 5 to 10 ns a byte on the shared data (terms starting with common letters make it try
 * almost every position), which the every-record budget cannot afford. A list with a non-ASCII
 * term needs Unicode case folding (Über = über), which only PCRE2 offers here: it becomes one
 * caseless pattern, the terms as alternatives tagged (*:index), fenced by Unicode word-boundary
 * assertions. begins_with and ends_with are anchored PCRE2 patterns (cheap: one or a few
 * attempts) and skip Unicode punctuation, symbols and spaces at the edges. */
#include "ph_error.h"
#include "ph_eval.h"
#include "ph_pcre.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TERMS     1024 /* per list: the found-set is a bitset on the stack */
#define MAX_TERM_LEN  200  /* bytes */
#define MAX_CHECKS    64
#define MAX_NAME      22  /* of a check */
#define ENDS_SLACK    512 /* bytes of trailing whitespace/punctuation ends_with looks past */
#define WORD_CHARS    "\\p{L}\\p{N}_"
#define SKIPPED_CHARS "[\\s\\p{P}\\p{S}]" /* what begins_with / ends_with look past */

typedef enum { TARGET_OUTPUT, TARGET_INPUT, TARGET_INPUT_ALL } target;
static const char *const target_names[] = {"output", "input", "input_all"};

typedef struct wd_ac wd_ac;

typedef struct wd_list {
    pcre2_code *code; /* begins / ends, and include / exclude lists with a non-ASCII term */
    wd_ac *ac;        /* include / exclude lists of ASCII terms; both NULL: not configured */
    char **terms;     /* as configured (trimmed), for explanations */
    size_t nterms;
    size_t max_len; /* longest term in bytes */
} wd_list;

typedef struct wd_check {
    char name[PH_EVAL_NAME_MAX]; /* "" for the single unnamed check */
    target target;
    wd_list include, exclude, begins, ends;
    bool include_all; /* include_mode "all" */
} wd_check;

typedef struct wd_state {
    wd_check *checks;
    size_t nchecks;
    pcre2_match_context *mc;
    const pcre2_code **codes; /* every compiled pattern, for sizing the match data */
    size_t ncodes;
} wd_state;

static void ac_free(wd_ac *ac);

static void list_free(wd_list *l)
{
    pcre2_code_free(l->code);
    ac_free(l->ac);
    for (size_t i = 0; i < l->nterms; i++)
        free(l->terms[i]);
    free(l->terms);
}

static void wd_destroy(void *state)
{
    wd_state *st = state;
    if (!st)
        return;
    for (size_t i = 0; i < st->nchecks; i++) {
        list_free(&st->checks[i].include);
        list_free(&st->checks[i].exclude);
        list_free(&st->checks[i].begins);
        list_free(&st->checks[i].ends);
    }
    free(st->checks);
    free(st->codes);
    pcre2_match_context_free(st->mc);
    free(st);
}

/* Whether a term edge is a word character (then a boundary is required there). Non-ASCII counts
 * as a word character, as in ph_text.h. */
static bool is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c >= 0x80;
}

static bool is_blank(const char *s)
{
    for (; *s; s++)
        if (!(*s == ' ' || (*s >= '\t' && *s <= '\r')))
            return false;
    return true;
}

/* ---- Aho-Corasick for ASCII term lists ------------------------------------------------------- */

/* Word characters, for boundaries. ASCII letters, digits and '_'; outside ASCII a character's
 * first byte tells its block well enough: C2 (U+0080-00BF: no-break space, quotes, signs), E2
 * (U+2000-2FFF: punctuation, dashes, curly quotes, symbols, arrows) and F0-F4 (mostly emoji) are
 * not word characters, other blocks (Latin, Greek, Cyrillic, CJK, ...) are. Continuation bytes
 * keep the class of their character. Without this, "refund" in "“refund”" or "refund—now"
 * would not be a whole word. */
static const unsigned char word_first[256] = {
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1,   ['_'] = 1,
    ['a' ... 'z'] = 1, [0xc3 ... 0xe1] = 1, [0xe3 ... 0xef] = 1,
};
static const unsigned char word_keep[256] = {[0x80 ... 0xbf] = 1};

/* ASCII case folded, every whitespace byte a space (runs of whitespace match one space). */
static unsigned fold(unsigned b)
{
    if (b >= 'A' && b <= 'Z')
        return b + ('a' - 'A');
    return b == '\t' || b == '\n' || b == '\r' || b == '\f' || b == '\v' ? ' ' : b;
}

#define AC_OUT      0x80000000u /* in a transition: the target state ends a term */
#define AC_MAX_CELL (1u << 23)  /* transition table entries (32 MiB) */

/* The automaton reads symbols: a folded byte, plus a "starts a word" flag for word bytes that
 * follow a non-word character. Terms are spelled in the same symbols, so a term starting with a
 * word character only matches at a word start: the left word boundary costs nothing at scan
 * time. Symbols that occur in no term share class 0. */
struct wd_ac {
    uint16_t cls[2][256]; /* class of a byte, by whether a word character precedes it */
    uint32_t nclasses, nstates;
    uint32_t space_class;
    uint32_t *delta;  /* [state * nclasses + class]: next state * nclasses, | AC_OUT */
    int32_t *term_of; /* per state: the term ending exactly there, or -1 */
    uint32_t *dict;   /* per state: next state on the failure chain ending a term; 0: none */
    unsigned char *ends_word; /* per term: its last byte is a word byte (right boundary) */
};

static void ac_free(wd_ac *ac)
{
    if (!ac)
        return;
    free(ac->delta);
    free(ac->term_of);
    free(ac->dict);
    free(ac->ends_word);
    free(ac);
}

/* The symbols of a term: whitespace runs collapsed, then (start << 8) | folded byte. Returns
 * their number; syms holds at least strlen(term) entries. */
static size_t term_symbols(const char *term, uint16_t *syms)
{
    size_t n = 0;
    unsigned prev_word = 0;
    for (const unsigned char *p = (const unsigned char *)term; *p; p++) {
        unsigned b = fold(*p);
        if (b == ' ' && n > 0 && (syms[n - 1] & 0xff) == ' ')
            continue;
        unsigned w = word_first[*p] | (prev_word & word_keep[*p]);
        syms[n++] = (uint16_t)(((w && !prev_word) << 8) | b);
        prev_word = w;
    }
    return n;
}

/* Builds the automaton of n ASCII terms. Returns 0, PH_ENOMEM, PH_ERANGE (too large), or
 * PH_EEXIST with *dup the index of a term equal to an earlier one once folded. */
static int ac_build(wd_ac **out, char *const *terms, size_t n, size_t *dup)
{
    uint16_t sym_class[512] = {0}, *syms = NULL;
    uint32_t ncls = 1, total = 1, *fail = NULL, *queue = NULL;
    unsigned char *in_space = NULL;
    int rc = PH_ENOMEM;
    wd_ac *ac = calloc(1, sizeof(*ac));
    size_t maxlen = 0;
    for (size_t k = 0; k < n; k++) {
        size_t len = strlen(terms[k]);
        total += (uint32_t)len;
        maxlen = len > maxlen ? len : maxlen;
    }
    if (!ac || !(syms = malloc(maxlen * sizeof(*syms))))
        goto out;
    for (size_t k = 0; k < n; k++) {
        size_t ns = term_symbols(terms[k], syms);
        for (size_t i = 0; i < ns; i++)
            if (!sym_class[syms[i]])
                sym_class[syms[i]] = (uint16_t)ncls++;
    }
    if ((size_t)total * ncls > AC_MAX_CELL) {
        rc = PH_ERANGE;
        goto out;
    }
    ac->nclasses = ncls;
    ac->space_class = sym_class[' '];
    for (unsigned pw = 0; pw < 2; pw++)
        for (unsigned b = 0; b < 256; b++) {
            unsigned w = word_first[b] | (pw & word_keep[b]);
            ac->cls[pw][b] = b < 0x80 ? sym_class[((w && !pw) << 8) | fold(b)] : 0;
        }
    ac->delta = calloc((size_t)total * ncls, sizeof(*ac->delta));
    ac->term_of = malloc(total * sizeof(*ac->term_of));
    ac->dict = calloc(total, sizeof(*ac->dict));
    ac->ends_word = calloc(n, 1);
    fail = calloc(total, sizeof(*fail));
    queue = malloc(total * sizeof(*queue));
    in_space = calloc(total, 1);
    if (!ac->delta || !ac->term_of || !ac->dict || !ac->ends_word || !fail || !queue || !in_space)
        goto out;
    memset(ac->term_of, 0xff, total * sizeof(*ac->term_of));

    /* the trie (0 = no child: the root is nobody's child) */
    ac->nstates = 1;
    for (size_t k = 0; k < n; k++) {
        size_t ns = term_symbols(terms[k], syms);
        uint32_t st = 0;
        for (size_t i = 0; i < ns; i++) {
            uint32_t c = sym_class[syms[i]], *next = &ac->delta[(size_t)st * ncls + c];
            if (!*next) {
                in_space[ac->nstates] = c == ac->space_class;
                *next = ac->nstates++;
            }
            st = *next;
        }
        if (ac->term_of[st] >= 0) {
            *dup = k;
            rc = PH_EEXIST;
            goto out;
        }
        ac->term_of[st] = (int32_t)k;
        ac->ends_word[k] = word_first[(unsigned char)terms[k][strlen(terms[k]) - 1]];
    }

    /* failure links breadth first, completing every missing transition into the DFA; a state
     * entered by a space stays put on more spaces (a run of whitespace is one space) */
    size_t head = 0, tail = 0;
    for (uint32_t c = 0; c < ncls; c++)
        if (ac->delta[c])
            queue[tail++] = ac->delta[c];
    while (head < tail) {
        uint32_t st = queue[head++], *row = &ac->delta[(size_t)st * ncls];
        const uint32_t *frow = &ac->delta[(size_t)fail[st] * ncls];
        for (uint32_t c = 0; c < ncls; c++) {
            uint32_t t = row[c];
            if (t) {
                uint32_t f = frow[c];
                fail[t] = f;
                ac->dict[t] = ac->term_of[f] >= 0 ? f : ac->dict[f];
                queue[tail++] = t;
            } else {
                row[c] = c == ac->space_class && in_space[st] ? st : frow[c];
            }
        }
    }
    /* transitions as row offsets, flagged when the target ends a term */
    for (size_t i = 0; i < (size_t)ac->nstates * ncls; i++) {
        uint32_t t = ac->delta[i];
        ac->delta[i] = t * ncls | (ac->term_of[t] >= 0 || ac->dict[t] ? AC_OUT : 0);
    }
    *out = ac;
    ac = NULL;
    rc = 0;
out:
    ac_free(ac);
    free(syms);
    free(fail);
    free(queue);
    free(in_space);
    return rc;
}

typedef struct scan {
    size_t found; /* distinct terms found */
    size_t first; /* config index of the first term found */
    uint64_t seen[MAX_TERMS / 64];
} scan;

static void mark(scan *sc, size_t i)
{
    if (sc->seen[i / 64] & (1ull << (i % 64)))
        return;
    sc->seen[i / 64] |= 1ull << (i % 64);
    if (sc->found++ == 0)
        sc->first = i;
}

/* A term ends at s[i] (the automaton is in `row`): every term on the dictionary chain whose right
 * boundary holds. Returns true once every term is found. */
static bool ac_report(const wd_ac *ac, const unsigned char *s, size_t i, size_t len, uint32_t row,
                      size_t nterms, scan *sc)
{
    uint32_t st = row / ac->nclasses;
    bool boundary = i + 1 >= len || !word_first[s[i + 1]];
    for (uint32_t t = ac->term_of[st] >= 0 ? st : ac->dict[st]; t; t = ac->dict[t]) {
        size_t k = (size_t)ac->term_of[t];
        if (boundary || !ac->ends_word[k])
            mark(sc, k);
    }
    return sc->found == nterms;
}

/* One step of a run: the next state from the current one and the byte's class (which depends on
 * whether a word character precedes it). */
#define AC_STEP(i, row, pw, done)                                                                  \
    do {                                                                                           \
        unsigned b_ = s[i];                                                                        \
        uint32_t v_ = delta[(row) + cls[pw][b_]];                                                  \
        (pw) = word_first[b_] | ((pw)&word_keep[b_]);                                              \
        (row) = v_ & ~AC_OUT;                                                                      \
        if (v_ & AC_OUT)                                                                           \
            (done) = ac_report(ac, s, (i), len, (row), nterms, sc);                                \
        (i)++;                                                                                     \
    } while (0)

/* Adds the terms found in the text to sc (every occurrence of every term, overlapping or not).
 *
 * Each step waits for the previous one (the next state is a load indexed by the current state),
 * so a long text is read as two halves in one loop, whose steps the CPU overlaps. The first run
 * goes on past the middle until it is back at the root, so no occurrence across the middle is
 * lost; the second starts at the middle from the root and finds everything that starts there or
 * later. An occurrence seen by both counts once: sc is a set. */
static void ac_scan(const wd_ac *ac, const char *text, size_t len, size_t nterms, scan *sc)
{
    const unsigned char *s = (const unsigned char *)text;
    const uint32_t *delta = ac->delta;
    const uint16_t(*cls)[256] = ac->cls;
    size_t mid = len < 256 ? len : len / 2, ia = 0, ib = mid;
    uint32_t ra = 0, rb = 0;
    unsigned pa = 0, pb = 0;
    bool done = false;
    if (mid < len) {
        size_t k = mid - 1; /* what precedes the middle: the class of its character */
        while (k > 0 && word_keep[s[k]] && mid - k < 4)
            k--;
        pb = word_first[s[k]];
    }
    while (ia < mid && ib < len && !done) {
        AC_STEP(ia, ra, pa, done);
        AC_STEP(ib, rb, pb, done);
    }
    while (ib < len && !done)
        AC_STEP(ib, rb, pb, done);
    while (ia < len && (ia < mid || ra != 0) && !done)
        AC_STEP(ia, ra, pa, done);
}

typedef struct term_ref {
    const char *s;
    size_t len;
    size_t index;
} term_ref;

static int by_length_desc(const void *a, const void *b)
{
    const term_ref *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? 1 : -1;
    return x->index < y->index ? -1 : (x->index > y->index);
}

/* The alternation of the terms, longest first (so "new york" wins over "york" at the same
 * place), each one "(?<!word)term(?!word)(*:i)". Returns a malloc'ed pattern or NULL. */
static char *terms_pattern(char *const *terms, size_t n, const char *prefix, const char *suffix)
{
    term_ref *refs = malloc(n * sizeof(*refs));
    size_t size = strlen(prefix) + strlen(suffix) + 8, pos = 0;
    char *buf = NULL;
    if (!refs)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        refs[i] = (term_ref){terms[i], strlen(terms[i]), i};
        size += 6 * refs[i].len + 2 * sizeof("(?<![" WORD_CHARS "])") + 24;
    }
    qsort(refs, n, sizeof(*refs), by_length_desc);
    if (!(buf = malloc(size)))
        goto out;
    pos = (size_t)snprintf(buf, size, "%s(?:", prefix);
    for (size_t i = 0; i < n; i++) {
        const unsigned char *t = (const unsigned char *)refs[i].s;
        if (i)
            buf[pos++] = '|';
        if (is_word_byte(t[0]))
            pos += (size_t)snprintf(buf + pos, size - pos, "(?<![" WORD_CHARS "])");
        if (!ph_pcre_append_literal(buf, size, &pos, refs[i].s, refs[i].len, true)) {
            free(buf);
            buf = NULL;
            goto out;
        }
        if (is_word_byte(t[refs[i].len - 1]))
            pos += (size_t)snprintf(buf + pos, size - pos, "(?![" WORD_CHARS "])");
        pos += (size_t)snprintf(buf + pos, size - pos, "(*:%zu)", refs[i].index);
    }
    snprintf(buf + pos, size - pos, ")%s", suffix);
out:
    free(refs);
    return buf;
}

/* Reads a list of terms (path names it) and compiles it: into an automaton when `automaton` and
 * every term is ASCII, else into a PCRE2 pattern between prefix and suffix. */
static int parse_list(wd_list *l, const json_t *ja, const char *path, bool automaton,
                      const char *prefix, const char *suffix, char *errstr, size_t errstr_size)
{
    size_t n = json_array_size(ja);
    char *pattern = NULL;
    int rc = 0;
    if (!json_is_array(ja) || n == 0 || n > MAX_TERMS)
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "%s: must be an array of 1 to %d words or phrases", path, MAX_TERMS);
    if (!(l->terms = calloc(n, sizeof(*l->terms))))
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *jt = json_array_get(ja, i);
        const char *t = json_string_value(jt);
        if (!t || is_blank(t) || json_string_length(jt) > MAX_TERM_LEN ||
            strlen(t) != json_string_length(jt))
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "%s[%zu]: must be a non-blank string of at most %d bytes", path, i,
                          MAX_TERM_LEN);
        /* surrounding spaces would only demand a space: trim them */
        while (*t == ' ' || (*t >= '\t' && *t <= '\r'))
            t++;
        size_t len = strlen(t);
        while (len > 0 && (t[len - 1] == ' ' || (t[len - 1] >= '\t' && t[len - 1] <= '\r')))
            len--;
        if (!(l->terms[i] = strndup(t, len)))
            return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
        l->nterms = i + 1;
        if (len > l->max_len)
            l->max_len = len;
    }
    bool ascii = automaton;
    for (size_t i = 0; ascii && i < n; i++)
        for (const char *p = l->terms[i]; ascii && *p; p++)
            ascii = (unsigned char)*p < 0x80;
    if (ascii) {
        size_t dup = 0;
        rc = ac_build(&l->ac, l->terms, l->nterms, &dup);
        if (rc == PH_EEXIST)
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "%s[%zu]: the same term as an earlier one", path, dup);
        if (rc == PH_ERANGE)
            return ph_err(errstr, errstr_size, PH_EINVAL, "%s: too many or too long terms", path);
        return rc ? ph_err(errstr, errstr_size, rc, "out of memory") : 0;
    }
    if (!(pattern = terms_pattern(l->terms, l->nterms, prefix, suffix)))
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    rc = ph_pcre_compile(&l->code, pattern, PCRE2_CASELESS, path, errstr, errstr_size);
    free(pattern);
    return rc;
}

static int parse_check(wd_check *c, const json_t *jc, const char *path, bool named, char *errstr,
                       size_t errstr_size)
{
    static const char *const keys[] = {"name",    "target",      "include",   "include_mode",
                                       "exclude", "begins_with", "ends_with", NULL};
    char sub[96];
    int rc;
    if (!json_is_object(jc))
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s: must be an object", path);
    if ((rc = ph_eval_check_keys(jc, named ? keys : keys + 1, path, errstr, errstr_size)))
        return rc;
    if (named) {
        const char *name = json_string_value(json_object_get(jc, "name"));
        size_t n = name ? strlen(name) : 0;
        /* the name becomes part of an evaluator name, "<instance>.<name>": an instance name has
         * up to 40 characters and the Evaluation's evaluator field holds 63 */
        if (n == 0 || n > MAX_NAME ||
            strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n)
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "%s.name: required, 1 to %d of A-Z a-z 0-9 _ -", path, MAX_NAME);
        snprintf(c->name, sizeof(c->name), "%s", name);
    }
    const json_t *jt = json_object_get(jc, "target");
    c->target = TARGET_OUTPUT;
    if (jt) {
        const char *t = json_string_value(jt);
        size_t k = 0;
        while (t && k < 3 && strcmp(t, target_names[k]) != 0)
            k++;
        if (!t || k == 3)
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "%s%starget: must be \"output\", \"input\" or \"input_all\"", path,
                          *path ? "." : "");
        c->target = (target)k;
    }
    const json_t *jm = json_object_get(jc, "include_mode");
    if (jm) {
        const char *m = json_string_value(jm);
        if (!m || (strcmp(m, "any") != 0 && strcmp(m, "all") != 0))
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "%s%sinclude_mode: must be \"any\" or \"all\"", path, *path ? "." : "");
        c->include_all = strcmp(m, "all") == 0;
    }
    static const char *const lists[] = {"include", "exclude", "begins_with", "ends_with"};
    wd_list *dst[] = {&c->include, &c->exclude, &c->begins, &c->ends};
    /* begins_with: anchored at the start, past leading whitespace, punctuation and symbols (lazily,
     * so a phrase that itself starts with punctuation still matches); ends_with: the phrase then
     * only whitespace, punctuation and symbols up to the end. */
    static const char *const prefixes[] = {"", "", "\\A" SKIPPED_CHARS "*?", ""};
    static const char *const suffixes[] = {"", "", "", SKIPPED_CHARS "*+\\z"};
    bool any = false;
    for (size_t i = 0; i < 4; i++) {
        const json_t *ja = json_object_get(jc, lists[i]);
        if (!ja)
            continue;
        any = true;
        if (i >= 2 && c->target == TARGET_INPUT_ALL)
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "%s%s%s: applies to one text: use target output or input", path,
                          *path ? "." : "", lists[i]);
        snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", lists[i]);
        if ((rc =
                 parse_list(dst[i], ja, sub, i < 2, prefixes[i], suffixes[i], errstr, errstr_size)))
            return rc;
    }
    if (!any)
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "%s%sneeds at least one of include, exclude, begins_with, ends_with", path,
                      *path ? ": " : "");
    if (jm && !c->include.code && !c->include.ac)
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s%sinclude_mode: without include", path,
                      *path ? "." : "");
    return 0;
}

static int wd_create(void **state, const json_t *config, char *errstr, size_t errstr_size)
{
    wd_state *st = NULL;
    int rc = 0;
    if (!json_is_object(config))
        return ph_err(errstr, errstr_size, PH_EINVAL, "config must be an object");
    const json_t *jchecks = json_object_get(config, "checks");
    size_t n = jchecks ? json_array_size(jchecks) : 1;
    if (jchecks && (!json_is_array(jchecks) || n == 0 || n > MAX_CHECKS))
        return ph_err(errstr, errstr_size, PH_EINVAL, "checks: must be an array of 1 to %d checks",
                      MAX_CHECKS);
    if (jchecks && json_object_size(config) != 1)
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "with \"checks\", every other key goes inside a check");
    if (!(st = calloc(1, sizeof(*st))) || !(st->checks = calloc(n, sizeof(*st->checks))) ||
        !(st->codes = calloc(4 * n, sizeof(*st->codes))) ||
        !(st->mc = ph_pcre_mcontext_new(PH_PCRE_DEFAULT_MATCH_LIMIT))) {
        rc = ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char path[32] = "";
        wd_check *c = &st->checks[i];
        st->nchecks = i + 1;
        if (jchecks)
            snprintf(path, sizeof(path), "checks[%zu]", i);
        if ((rc = parse_check(c, jchecks ? json_array_get(jchecks, i) : config, path,
                              jchecks != NULL, errstr, errstr_size)))
            goto out;
        for (size_t k = 0; k < i; k++)
            if (strcmp(st->checks[k].name, c->name) == 0) {
                rc = ph_err(errstr, errstr_size, PH_EINVAL, "%s.name: \"%s\" is used twice", path,
                            c->name);
                goto out;
            }
        const pcre2_code *codes[] = {c->include.code, c->exclude.code, c->begins.code,
                                     c->ends.code};
        for (size_t k = 0; k < 4; k++)
            if (codes[k])
                st->codes[st->ncodes++] = codes[k];
    }
    *state = st;
    st = NULL;
out:
    wd_destroy(st);
    return rc;
}

/* ---- evaluate -------------------------------------------------------------------------------- */

/* Adds the terms of l found in s to sc; stops once every term is found. */
static int scan_text(const wd_list *l, const char *s, size_t len, pcre2_match_data *md,
                     pcre2_match_context *mc, scan *sc)
{
    size_t off = 0, ms, me;
    if (l->ac) {
        ac_scan(l->ac, s, len, l->nterms, sc);
        return 0;
    }
    while (sc->found < l->nterms) {
        int rc = ph_pcre_find(l->code, s, len, off, md, mc, &ms, &me);
        if (rc <= 0)
            return rc;
        const char *m = (const char *)pcre2_get_mark(md);
        size_t i = m ? strtoul(m, NULL, 10) : 0;
        if (i < l->nterms)
            mark(sc, i);
        /* resume one character after the match start, so that a term inside a longer one is
         * found too, as the automaton finds it */
        off = ms + 1;
        while (off < len && ((unsigned char)s[off] & 0xc0) == 0x80)
            off++;
    }
    return 0;
}

/* The texts a check looks at: one, or every input message. */
static size_t texts_of(const wd_check *c, const ph_eval_record *rec, size_t i, ph_str *out)
{
    if (c->target == TARGET_OUTPUT) {
        *out = rec->output.s ? rec->output : (ph_str){"", 0};
        return 1;
    }
    if (c->target == TARGET_INPUT) {
        const ph_eval_message *m = ph_eval_last_user(rec);
        *out = m && m->content.s ? m->content : (ph_str){"", 0};
        return 1;
    }
    if (i < rec->nmessages)
        *out = rec->messages[i].content.s ? rec->messages[i].content : (ph_str){"", 0};
    return rec->nmessages;
}

static int scan_list(const wd_check *c, const wd_list *l, const ph_eval_record *rec,
                     pcre2_match_data *md, pcre2_match_context *mc, scan *sc)
{
    ph_str s = {"", 0};
    int rc = 0;
    memset(sc, 0, sizeof(*sc));
    for (size_t i = 0, n = 1; i < n && rc == 0; i++) {
        n = texts_of(c, rec, i, &s);
        if (n > 0)
            rc = scan_text(l, s.s, s.len, md, mc, sc);
    }
    return rc;
}

/* 1 when the text starts (ends) with one of the phrases, 0 when not, < 0 on a match error. */
static int edge_match(const wd_list *l, bool at_end, const ph_eval_record *rec, const wd_check *c,
                      pcre2_match_data *md, pcre2_match_context *mc)
{
    ph_str s = {"", 0};
    size_t ms, me, start = 0;
    texts_of(c, rec, 0, &s);
    /* The end pattern can only match in the last few hundred bytes: start there instead of
     * trying every position of a long text. A start inside a UTF-8 sequence is skipped by
     * PCRE2_MATCH_INVALID_UTF; the lookbehind still sees the bytes before it. */
    size_t window = 4 * l->max_len + ENDS_SLACK;
    if (at_end && s.len > window)
        start = s.len - window;
    return ph_pcre_find(l->code, s.s, s.len, start, md, mc, &ms, &me);
}

/* Result fields written directly: the framework's setters format with snprintf (and
 * ph_eval_add_value looks for the name among the values already there), which on the every-record
 * path cost as much as the matching itself. Names are known to be new. */
static void append(char *buf, size_t size, const char *fmt, const char *arg, size_t n1, size_t n2)
{
    size_t used = strlen(buf);
    if (used + 2 >= size)
        return;
    if (used)
        used += (size_t)snprintf(buf + used, size - used, "; ");
    if (used < size)
        snprintf(buf + used, size - used, fmt, arg, n1, n2);
}

static int run_check(const wd_check *c, const ph_eval_record *rec, ph_eval_result *r,
                     pcre2_match_data *md, pcre2_match_context *mc)
{
    char why[PH_EVAL_EXPLANATION_MAX] = "";
    const char *label = "ok";
    size_t conditions = 0, met = 0;
    scan sc;
    int rc;
    if (c->exclude.code || c->exclude.ac) {
        if ((rc = scan_list(c, &c->exclude, rec, md, mc, &sc)) < 0)
            return rc;
        conditions++;
        ph_eval_append_value(r, "exclude_found", (double)sc.found);
        if (sc.found == 0) {
            met++;
        } else {
            label = "excluded";
            append(why, sizeof(why), "excluded term \"%.40s\" found (%zu of %zu terms)",
                   c->exclude.terms[sc.first], sc.found, c->exclude.nterms);
        }
    }
    if (c->include.code || c->include.ac) {
        if ((rc = scan_list(c, &c->include, rec, md, mc, &sc)) < 0)
            return rc;
        conditions++;
        ph_eval_append_value(r, "include_found", (double)sc.found);
        if (c->include_all ? sc.found == c->include.nterms : sc.found > 0) {
            met++;
        } else {
            if (strcmp(label, "ok") == 0)
                label = "missing";
            append(why, sizeof(why), "%s%zu of %zu include terms found",
                   c->include_all ? "only " : "", sc.found, c->include.nterms);
        }
    }
    const wd_list *edges[] = {&c->begins, &c->ends};
    static const char *const names[] = {"begins_with", "ends_with"};
    static const char *const labels[] = {"wrong_start", "wrong_end"};
    for (size_t k = 0; k < 2; k++) {
        if (!edges[k]->code)
            continue;
        if ((rc = edge_match(edges[k], k == 1, rec, c, md, mc)) < 0)
            return rc;
        conditions++;
        ph_eval_append_value(r, names[k], rc);
        if (rc) {
            met++;
        } else {
            if (strcmp(label, "ok") == 0)
                label = labels[k];
            append(why, sizeof(why), "does not %s with any of %zu phrase(s)", k ? "end" : "begin",
                   edges[k]->nterms, 0);
        }
    }
    ph_eval_set_label(r, label);
    ph_eval_set_passed(r, met == conditions);
    ph_eval_set_score(r, (double)met / (double)conditions);
    ph_eval_set_explanation(r, why[0] ? why : "every condition holds");
    return 0;
}

static int wd_evaluate(const void *state, const ph_eval_record *rec, ph_eval_sink *sink,
                       char *errstr, size_t errstr_size)
{
    const wd_state *st = state;
    int rc = 0;
    pcre2_match_data *md = ph_pcre_match_data_new(st->codes, st->ncodes);
    if (!md)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    for (size_t i = 0; i < st->nchecks; i++) {
        const wd_check *c = &st->checks[i];
        ph_eval_result *r = ph_eval_emit(sink, c->name[0] ? c->name : NULL);
        if (!r) {
            rc = ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
            goto out;
        }
        if (run_check(c, rec, r, md, st->mc) < 0) {
            /* a match limit on word lists means a pathological text, not a bad pattern */
            memset(r->values, 0, sizeof(r->values));
            r->nvalues = 0;
            r->status = PH_EVAL_ERROR;
            ph_eval_explain(r, "match limit hit in %s: result unknown", target_names[c->target]);
        }
    }
out:
    pcre2_match_data_free(md);
    return rc;
}

const ph_evaluator_kind ph_eval_kind_words = {
    .name = "words",
    .code_version = "1",
    .summary = "include / exclude word and phrase lists, begins_with / ends_with, "
               "case-insensitive on word boundaries",
    .create = wd_create,
    .destroy = wd_destroy,
    .evaluate = wd_evaluate,
};
