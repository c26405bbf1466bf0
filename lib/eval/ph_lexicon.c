#include "ph_lexicon.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "ph_error.h"
#include "ph_text.h"

/* ---- word tables --------------------------------------------------------------------------- */

/* Open addressing on XXH3 of the lower-cased word: lookups cost one hash and usually one probe,
 * which is what lets the evaluators look up every word of every record. */
typedef struct lex_slot {
    uint64_t hash;
    ph_lex_entry e; /* e.word NULL = empty */
} lex_slot;

struct ph_lex {
    lex_slot *slots;
    size_t mask;
};

static uint64_t lower_hash(const char *word, size_t len, char *buf)
{
    ph_text_lower(buf, word, len);
    return XXH3_64bits(buf, len);
}

int ph_lex_new(ph_lex **out, const ph_lex_entry *entries, size_t n, char *errstr,
               size_t errstr_size)
{
    int rc = PH_OK;
    ph_lex *lex = calloc(1, sizeof(*lex));
    size_t cap = 16;
    while (cap < n * 2 + 2)
        cap *= 2;
    if (!lex || !(lex->slots = calloc(cap, sizeof(lex_slot)))) {
        rc = ph_err(errstr, errstr_size, PH_ENOMEM, "word table: out of memory");
        goto out;
    }
    lex->mask = cap - 1;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(entries[i].word);
        char buf[PH_LEX_WORD_MAX];
        if (len == 0 || len > PH_LEX_WORD_MAX) {
            rc = ph_err(errstr, errstr_size, PH_EINVAL, "word table: bad word \"%s\"",
                        entries[i].word);
            goto out;
        }
        for (size_t k = 0; k < len; k++) {
            if (entries[i].word[k] >= 'A' && entries[i].word[k] <= 'Z') {
                rc = ph_err(errstr, errstr_size, PH_EINVAL, "word table: \"%s\" is not lower case",
                            entries[i].word);
                goto out;
            }
        }
        uint64_t h = lower_hash(entries[i].word, len, buf);
        size_t j = (size_t)h & lex->mask;
        while (lex->slots[j].e.word &&
               !(lex->slots[j].hash == h && ph_word_eq(buf, len, lex->slots[j].e.word)))
            j = (j + 1) & lex->mask;
        lex->slots[j].hash = h;
        lex->slots[j].e = entries[i];
    }
    *out = lex;
    lex = NULL;
out:
    ph_lex_destroy(lex);
    return rc;
}

void ph_lex_destroy(ph_lex *lex)
{
    if (!lex)
        return;
    free(lex->slots);
    free(lex);
}

const ph_lex_entry *ph_lex_find(const ph_lex *lex, const char *word, size_t len)
{
    char buf[PH_LEX_WORD_MAX];
    if (len == 0 || len > PH_LEX_WORD_MAX)
        return NULL;
    uint64_t h = lower_hash(word, len, buf);
    for (size_t j = (size_t)h & lex->mask; lex->slots[j].e.word; j = (j + 1) & lex->mask)
        if (lex->slots[j].hash == h && ph_word_eq(buf, len, lex->slots[j].e.word))
            return &lex->slots[j].e;
    return NULL;
}

bool ph_lex_get(const ph_lex *lex, const char *word, size_t len, int *value)
{
    const ph_lex_entry *e = ph_lex_find(lex, word, len);
    if (e && value)
        *value = e->value;
    return e != NULL;
}

/* ---- patterns ------------------------------------------------------------------------------ */

struct ph_rx {
    pcre2_code *code;
};

int ph_rx_new(ph_rx **out, const char *pattern, char *errstr, size_t errstr_size)
{
    int rc = PH_OK, perr;
    PCRE2_SIZE erroff;
    ph_rx *rx = calloc(1, sizeof(*rx));
    if (!rx) {
        rc = ph_err(errstr, errstr_size, PH_ENOMEM, "pattern: out of memory");
        goto out;
    }
    rx->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_CASELESS, &perr,
                             &erroff, NULL);
    if (!rx->code) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(perr, msg, sizeof(msg));
        rc = ph_err(errstr, errstr_size, PH_EINVAL, "pattern at offset %zu: %s", (size_t)erroff,
                    (const char *)msg);
        goto out;
    }
    /* The interpreter still works where JIT is unavailable (some hardened kernels): ignore. */
    (void)pcre2_jit_compile(rx->code, PCRE2_JIT_COMPLETE);
    *out = rx;
    rx = NULL;
out:
    ph_rx_destroy(rx);
    return rc;
}

void ph_rx_destroy(ph_rx *rx)
{
    if (!rx)
        return;
    pcre2_code_free(rx->code);
    free(rx);
}

ph_rx_scratch *ph_rx_scratch_new(void)
{
    return pcre2_match_data_create(1, NULL);
}

void ph_rx_scratch_free(ph_rx_scratch *md)
{
    pcre2_match_data_free(md);
}

bool ph_rx_find(const ph_rx *rx, ph_rx_scratch *md, const char *s, size_t start, size_t end,
                size_t *ms, size_t *me)
{
    if (start > end)
        return false;
    int n = pcre2_match(rx->code, (PCRE2_SPTR)s, end, start, 0, md, NULL);
    if (n < 0)
        return false;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    if (ms)
        *ms = ov[0];
    if (me)
        *me = ov[1];
    return true;
}

size_t ph_rx_count(const ph_rx *rx, ph_rx_scratch *md, const char *s, size_t start, size_t end,
                   size_t cap)
{
    size_t n = 0, ms, me;
    while (n < cap && ph_rx_find(rx, md, s, start, end, &ms, &me)) {
        n++;
        start = me > ms ? me : me + 1; /* never loop on an empty match */
    }
    return n;
}

/* ---- small text helpers -------------------------------------------------------------------- */

double ph_lex_caps_ratio(const char *s, size_t len, size_t *letters)
{
    size_t up = 0, all = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z') {
            up++;
            all++;
        } else if (c >= 'a' && c <= 'z') {
            all++;
        }
    }
    if (letters)
        *letters = all;
    return all ? (double)up / (double)all : 0.0;
}

static const char *const stopwords[] = {
    "a",      "an",     "the",   "and",    "or",    "but",     "if",     "of",     "to",    "in",
    "on",     "at",     "by",    "for",    "with",  "from",    "as",     "is",     "are",   "was",
    "were",   "be",     "been",  "am",     "do",    "does",    "did",    "have",   "has",   "had",
    "i",      "me",     "my",    "you",    "your",  "it",      "its",    "it's",   "i'm",   "this",
    "that",   "these",  "those", "what",   "which", "who",     "how",    "why",    "when",  "where",
    "can",    "could",  "would", "should", "will",  "so",      "just",   "about",  "there", "their",
    "they",   "we",     "our",   "he",     "she",   "his",     "her",    "them",   "some",  "any",
    "please", "tell",   "know",  "get",    "want",  "like",    "then",   "than",   "also",  "too",
    "very",   "really", "all",   "no",     "not",   "yes",     "ok",     "okay",   "up",    "out",
    "into",   "more",   "much",  "one",    "an",    "there's", "that's", "what's", "don't", "i'd",
};

bool ph_lex_is_stopword(const char *word, size_t len)
{
    /* Called once per word of a conversation: a linear scan of 100 short words with a cheap
     * first-letter filter is fast enough and needs no table to build. */
    char c = (char)(word[0] >= 'A' && word[0] <= 'Z' ? word[0] + 32 : word[0]);
    for (size_t i = 0; i < sizeof(stopwords) / sizeof(stopwords[0]); i++)
        if (stopwords[i][0] == c && ph_word_eq(word, len, stopwords[i]))
            return true;
    return false;
}

/* ---- sentiment ----------------------------------------------------------------------------- */

/* Valence in tenths on VADER's -4..+4 scale. Our own list of common English sentiment words.
 * Topic words that appear in neutral requests ("kill a process", "solve this problem", "World
 * War II") are kept deliberately mild so that a task's subject does not read as a user's mood.
 * Packed by hand (clang-format would put one entry a line). */
/* clang-format off */
static const ph_lex_entry senti_words[] = {
    /* positive */
    {"good", 19}, {"great", 31}, {"excellent", 32}, {"amazing", 28}, {"awesome", 31},
    {"fantastic", 26}, {"wonderful", 27}, {"perfect", 27}, {"perfectly", 20}, {"love", 32},
    {"loved", 29}, {"loves", 27}, {"loving", 29}, {"lovely", 28}, {"nice", 18}, {"happy", 27},
    {"happier", 24}, {"glad", 20}, {"thanks", 19}, {"thank", 15}, {"thx", 19}, {"thankful", 20},
    {"grateful", 20}, {"appreciate", 20}, {"appreciated", 23}, {"helpful", 18}, {"useful", 19},
    {"best", 32}, {"better", 19}, {"brilliant", 28}, {"beautiful", 29}, {"cool", 13}, {"fun", 23},
    {"funny", 19}, {"enjoy", 22}, {"enjoyed", 23}, {"enjoying", 22}, {"enjoyable", 19},
    {"excited", 14}, {"exciting", 22}, {"interesting", 17}, {"impressive", 23}, {"impressed", 21},
    {"incredible", 24}, {"fine", 8}, {"okay", 9}, {"yay", 24}, {"wow", 10}, {"cute", 20},
    {"kindly", 12}, {"pleased", 19}, {"pleasure", 27}, {"satisfied", 18}, {"success", 27},
    {"successful", 27}, {"win", 28}, {"correct", 13}, {"clear", 12}, {"clever", 20}, {"smart", 17},
    {"agree", 15}, {"recommend", 15}, {"welcome", 20}, {"favorite", 20}, {"favourite", 20},
    {"hope", 19}, {"hopeful", 23}, {"positive", 26}, {"proud", 21}, {"relief", 17},
    {"relieved", 16}, {"safe", 19}, {"calm", 13}, {"comfortable", 15}, {"delighted", 29},
    {"superb", 31}, {"outstanding", 30}, {"terrific", 21}, {"marvelous", 29}, {"glorious", 26},
    {"joy", 28}, {"peace", 25}, {"cheers", 21}, {"congratulations", 29}, {"congrats", 24},
    {"bravo", 23}, {"neat", 20}, {"sweet", 20}, {"friendly", 22}, {"gorgeous", 30},
    {"efficient", 18}, {"easy", 19}, {"lol", 18}, {"haha", 22}, {"hahaha", 24}, {"hehe", 15},
    {"lmao", 20}, {"fabulous", 26}, {"thrilled", 26}, {"splendid", 28}, {"genius", 19},
    {"helped", 16}, {"works", 6}, {"worked", 8}, {"solved", 12}, {"fixed", 10}, {"accurate", 15},
    {"precise", 12}, {"insightful", 20}, {"wise", 18}, {"honest", 18}, {"fair", 13}, {"trust", 17},
    /* negative */
    {"bad", -25}, {"terrible", -25}, {"horrible", -25}, {"awful", -20}, {"worst", -31},
    {"worse", -21}, {"hate", -27}, {"hated", -32}, {"hates", -19}, {"hating", -23},
    {"dislike", -16}, {"annoying", -17}, {"annoyed", -16}, {"annoy", -19}, {"angry", -23},
    {"mad", -22}, {"furious", -27}, {"upset", -16}, {"sad", -21}, {"unhappy", -18},
    {"disappointed", -19}, {"disappointing", -22}, {"disappointment", -23}, {"frustrated", -20},
    {"frustrating", -19}, {"frustration", -21}, {"useless", -18}, {"pointless", -18},
    {"stupid", -24}, {"dumb", -23}, {"idiot", -23}, {"idiots", -23}, {"idiotic", -26},
    {"ridiculous", -15}, {"wrong", -21}, {"broken", -21}, {"fail", -25}, {"failed", -23},
    {"fails", -18}, {"failure", -23}, {"poor", -21}, {"sucks", -15}, {"suck", -15}, {"crap", -16},
    {"crappy", -20}, {"garbage", -21}, {"trash", -16}, {"rubbish", -20}, {"pathetic", -22},
    {"lame", -18}, {"boring", -13}, {"bored", -11}, {"confused", -13}, {"confusing", -13},
    {"problem", -6}, {"error", -6}, {"unfortunately", -14}, {"damn", -17}, {"dammit", -20},
    {"wtf", -24}, {"ugh", -18}, {"sigh", -10}, {"lie", -14}, {"liar", -23}, {"lies", -18},
    {"lying", -19}, {"scam", -22}, {"waste", -18}, {"wasted", -22}, {"wasting", -19},
    {"worthless", -19}, {"incompetent", -22}, {"nonsense", -17}, {"fake", -21}, {"rude", -20},
    {"hurt", -24}, {"hurts", -22}, {"pain", -20}, {"painful", -23}, {"scared", -19},
    {"afraid", -20}, {"fear", -22}, {"worried", -12}, {"worry", -19}, {"anxious", -10},
    {"stress", -18}, {"stressed", -14}, {"tired", -19}, {"sick", -23}, {"die", -12}, {"dead", -15},
    {"death", -12}, {"kill", -15}, {"murder", -20}, {"abuse", -25}, {"evil", -30}, {"cruel", -28},
    {"disgusting", -24}, {"disgusted", -24}, {"gross", -21}, {"nasty", -26}, {"ugly", -23},
    {"shame", -21}, {"shameful", -20}, {"jealous", -20}, {"lonely", -15}, {"miserable", -22},
    {"depressed", -23}, {"depressing", -16}, {"cry", -15}, {"crying", -18}, {"fuck", -25},
    {"fucked", -25}, {"shit", -26}, {"shitty", -26}, {"bullshit", -28}, {"moron", -22},
    {"loser", -24}, {"disaster", -25}, {"nightmare", -19}, {"unacceptable", -20}, {"hopeless", -20},
    {"helpless", -20}, {"inaccurate", -13}, {"incorrect", -15}, {"mistake", -10}, {"mistakes", -10},
    {"misleading", -17}, {"irrelevant", -12}, {"tedious", -12}, {"complain", -12},
    {"complaint", -12}, {"irritating", -20}, {"irritated", -19}, {"hostile", -22}, {"racist", -25},
    {"sexist", -22}, {"offended", -19}, {"offensive", -17}, {"insulting", -22}, {"insult", -18},
    {"hell", -12}, {"bloody", -8}, {"screw", -14}, {"screwed", -20}, {"horrendous", -28},
    {"atrocious", -28}, {"dreadful", -25}, {"lousy", -21}, {"sloppy", -16}, {"clueless", -18},
    {"meh", -5}, {"bitch", -25}, {"asshole", -29}, {"jerk", -18}, {"creepy", -19}, {"weird", -7},
    {"regret", -18}, {"sorry", -3}, {"unhelpful", -19}, {"sucked", -15}, {"horrid", -25},
    {"lazy", -15},
};
/* clang-format on */

/* Modifiers: negators flip (x -0.74), boosters add and dampeners take away 0.293 (VADER's
 * constants) to a following sentiment word within three words. */
enum { MOD_NEG = 1, MOD_BOOST = 2, MOD_DAMP = 3, MOD_BUT = 4 };
static const ph_lex_entry senti_mods[] = {
    {"not", MOD_NEG},          {"no", MOD_NEG},           {"never", MOD_NEG},
    {"none", MOD_NEG},         {"nobody", MOD_NEG},       {"nothing", MOD_NEG},
    {"neither", MOD_NEG},      {"nor", MOD_NEG},          {"without", MOD_NEG},
    {"cannot", MOD_NEG},       {"hardly", MOD_NEG},       {"barely", MOD_NEG},
    {"rarely", MOD_NEG},       {"dont", MOD_NEG},         {"doesnt", MOD_NEG},
    {"didnt", MOD_NEG},        {"isnt", MOD_NEG},         {"arent", MOD_NEG},
    {"wasnt", MOD_NEG},        {"cant", MOD_NEG},         {"wont", MOD_NEG},
    {"aint", MOD_NEG},         {"nope", MOD_NEG},         {"very", MOD_BOOST},
    {"really", MOD_BOOST},     {"extremely", MOD_BOOST},  {"so", MOD_BOOST},
    {"super", MOD_BOOST},      {"totally", MOD_BOOST},    {"absolutely", MOD_BOOST},
    {"incredibly", MOD_BOOST}, {"completely", MOD_BOOST}, {"utterly", MOD_BOOST},
    {"highly", MOD_BOOST},     {"truly", MOD_BOOST},      {"particularly", MOD_BOOST},
    {"especially", MOD_BOOST}, {"remarkably", MOD_BOOST}, {"terribly", MOD_BOOST},
    {"awfully", MOD_BOOST},    {"deeply", MOD_BOOST},     {"entirely", MOD_BOOST},
    {"hugely", MOD_BOOST},     {"insanely", MOD_BOOST},   {"seriously", MOD_BOOST},
    {"fucking", MOD_BOOST},    {"freaking", MOD_BOOST},   {"frigging", MOD_BOOST},
    {"damned", MOD_BOOST},     {"most", MOD_BOOST},       {"such", MOD_BOOST},
    {"too", MOD_BOOST},        {"slightly", MOD_DAMP},    {"somewhat", MOD_DAMP},
    {"kinda", MOD_DAMP},       {"sorta", MOD_DAMP},       {"marginally", MOD_DAMP},
    {"fairly", MOD_DAMP},      {"partly", MOD_DAMP},      {"mildly", MOD_DAMP},
    {"rather", MOD_DAMP},      {"bit", MOD_DAMP},         {"little", MOD_DAMP},
    {"but", MOD_BUT},          {"however", MOD_BUT},      {"although", MOD_BUT},
};

struct ph_senti {
    ph_lex *words;
    ph_lex *mods;
};

int ph_senti_new(ph_senti **out, char *errstr, size_t errstr_size)
{
    int rc;
    ph_senti *senti = calloc(1, sizeof(*senti));
    if (!senti) {
        rc = ph_err(errstr, errstr_size, PH_ENOMEM, "sentiment: out of memory");
        goto out;
    }
    rc = ph_lex_new(&senti->words, senti_words, sizeof(senti_words) / sizeof(senti_words[0]),
                    errstr, errstr_size);
    if (rc)
        goto out;
    rc = ph_lex_new(&senti->mods, senti_mods, sizeof(senti_mods) / sizeof(senti_mods[0]), errstr,
                    errstr_size);
    if (rc)
        goto out;
    *out = senti;
    senti = NULL;
out:
    ph_senti_destroy(senti);
    return rc;
}

void ph_senti_destroy(ph_senti *senti)
{
    if (!senti)
        return;
    ph_lex_destroy(senti->words);
    ph_lex_destroy(senti->mods);
    free(senti);
}

/* "don't", "isn't", "can’t": a contraction ending in n't is a negator. */
static bool is_nt(const char *w, size_t len)
{
    if (len >= 3 && (w[len - 1] == 't' || w[len - 1] == 'T') && w[len - 2] == '\'' &&
        (w[len - 3] == 'n' || w[len - 3] == 'N'))
        return true;
    return len >= 5 && (w[len - 1] == 't' || w[len - 1] == 'T') &&
           memcmp(w + len - 4, "\xe2\x80\x99", 3) == 0 && (w[len - 5] == 'n' || w[len - 5] == 'N');
}

static bool all_caps(const char *w, size_t len)
{
    size_t letters = 0;
    for (size_t i = 0; i < len; i++) {
        if (w[i] >= 'a' && w[i] <= 'z')
            return false;
        if (w[i] >= 'A' && w[i] <= 'Z')
            letters++;
    }
    return letters >= 2;
}

/* Emoticons and a few emoji, by their bytes. */
static const struct {
    const char *s;
    double v;
} emoticons[] = {
    {":)", 2.0},
    {":-)", 2.0},
    {":D", 2.3},
    {":-D", 2.3},
    {";)", 1.5},
    {"<3", 1.9},
    {":]", 1.6},
    {"=)", 1.8},
    {":(", -1.9},
    {":-(", -1.9},
    {":'(", -2.2},
    {":/", -1.0},
    {":-/", -1.0},
    {">:(", -2.5},
    {"D:", -1.2},
    {":|", -0.5},
    {"\xf0\x9f\x98\x80", 2.0}, /* grinning */
    {"\xf0\x9f\x98\x81", 2.0},
    {"\xf0\x9f\x98\x82", 1.5},
    {"\xf0\x9f\x98\x83", 2.0},
    {"\xf0\x9f\x98\x84", 2.0},
    {"\xf0\x9f\x98\x8a", 2.0},
    {"\xf0\x9f\x98\x8d", 2.6},
    {"\xf0\x9f\x99\x82", 1.5},
    {"\xf0\x9f\x91\x8d", 1.8},
    {"\xe2\x9d\xa4", 2.2},
    {"\xf0\x9f\x91\x8e", -1.8},
    {"\xf0\x9f\x98\x9e", -2.0},
    {"\xf0\x9f\x98\xa0", -2.5},
    {"\xf0\x9f\x98\xa1", -2.8},
    {"\xf0\x9f\x98\xa2", -2.0},
    {"\xf0\x9f\x98\xad", -2.2},
    {"\xf0\x9f\x99\x81", -1.5},
    {"\xe2\x98\xb9", -1.5},
    {"\xf0\x9f\x98\xa4", -2.0},
    {"\xf0\x9f\x98\x92", -1.6},
    {"\xf0\x9f\x99\x84", -1.6},
    {"\xf0\x9f\xa4\xac", -3.0},
};

/* Sum of the emoticons in s; only looks where one can start, so plain text costs one pass. */
static double emoticon_sum(const char *s, size_t len, unsigned *count)
{
    double sum = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != ':' && c != ';' && c != '<' && c != '=' && c != '>' && c != 'D' && c != 0xf0 &&
            c != 0xe2)
            continue;
        for (size_t k = 0; k < sizeof(emoticons) / sizeof(emoticons[0]); k++) {
            size_t n = strlen(emoticons[k].s);
            if (n <= len - i && memcmp(s + i, emoticons[k].s, n) == 0) {
                /* "D:" only as a token of its own, so "Dear:" never counts */
                if (c == 'D' && i > 0 && s[i - 1] != ' ')
                    continue;
                sum += emoticons[k].v;
                (*count)++;
                i += n - 1;
                break;
            }
        }
    }
    return sum;
}

void ph_senti_score(const ph_senti *senti, const char *s, size_t len, size_t max_bytes,
                    ph_senti_result *out)
{
    memset(out, 0, sizeof(*out));
    if (max_bytes && len > max_bytes)
        len = max_bytes;
    size_t letters;
    bool text_all_caps = ph_lex_caps_ratio(s, len, &letters) > 0.9;
    int recent[3] = {0, 0, 0}; /* modifiers of the last three words, most recent first */
    double sum = 0;
    ph_words w;
    const char *word;
    size_t wl;
    ph_words_init(&w, s, len);
    while (ph_words_next(&w, &word, &wl)) {
        int mod = 0, v10 = 0;
        out->words++;
        if (ph_lex_get(senti->mods, word, wl, &mod)) {
            if (mod == MOD_BUT) {
                sum *= 0.5; /* what follows "but" outweighs what came before */
                mod = 0;
            }
        } else if (is_nt(word, wl)) {
            mod = MOD_NEG;
        } else if (ph_lex_get(senti->words, word, wl, &v10) && v10 != 0) {
            double v = v10 / 10.0, sign = v > 0 ? 1 : -1;
            bool negated = false;
            for (int k = 0; k < 3; k++) {
                double scale = k == 0 ? 1.0 : k == 1 ? 0.95 : 0.9;
                if (recent[k] == MOD_BOOST)
                    v += sign * 0.293 * scale;
                else if (recent[k] == MOD_DAMP)
                    v -= sign * 0.293 * scale;
                else if (recent[k] == MOD_NEG)
                    negated = true;
            }
            if (!text_all_caps && all_caps(word, wl)) {
                v += sign * 0.733;
                out->caps_words++;
            }
            if (negated) {
                v *= -0.74;
                out->negated++;
            }
            if (v > 0)
                out->pos_words++;
            else if (v < 0)
                out->neg_words++;
            sum += v;
        }
        recent[2] = recent[1];
        recent[1] = recent[0];
        recent[0] = mod;
    }
    sum += emoticon_sum(s, len, &out->emoticons);
    for (size_t i = 0; i < len && out->exclaims < 4; i++)
        if (s[i] == '!')
            out->exclaims++;
    if (sum > 0)
        sum += 0.292 * out->exclaims;
    else if (sum < 0)
        sum -= 0.292 * out->exclaims;
    out->sum = sum;
    out->compound = sum / sqrt(sum * sum + 15.0);
}
