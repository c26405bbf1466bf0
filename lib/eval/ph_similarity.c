/* Lexical similarity: see ph_similarity.h and docs/evaluators/similarity.md. */
#include "ph_similarity.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Inlined: a feature is a 3..20-byte string, and at that size the call into the shared library
 * costs as much as the hash itself (this is most of the evaluator's time). */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ph_error.h"

/* ---- The built-in English word table ------------------------------------------------------
 *
 * The IDF of a word must not depend on what else was seen, so instead of corpus statistics the
 * weights come from general knowledge of English word frequency, in three bands:
 *   0    function words and chat filler (the ~200 most frequent words of any English text):
 *        dropped;
 *   0.4  frequent content words and the vocabulary of instructions ("explain", "list",
 *        "example"): present in most questions and answers whatever their topic;
 *   1.0  everything else: the words that carry a topic.
 * 0.4 is a judgment, not a measurement: a word ranked ~500th in English (frequency ~1e-4) has
 * about 0.6 of the -log(frequency) of a topic word (~1e-7), and these words also say little about
 * the topic in a chat, so they go a little lower. Common words are written in their base form;
 * they are looked up after plural folding. */

static const char stopwords[] =
    "a about above after again against ago all almost along already also although always am among "
    "an and another any anybody anyone anything anyway anywhere are aren't around as at away be "
    "became because become becomes been before being below beside besides between beyond both but "
    "by can can't cannot could couldn't did didn't do does doesn't doing don't done down during "
    "each either else enough etc even ever every few for from further had hadn't has hasn't have "
    "haven't having he he'd he'll he's her here here's hers herself him himself his how how's "
    "however i i'd i'll i'm i've if in indeed into is isn't it it'd it'll it's its itself just "
    "let let's may maybe me might mine more moreover most mostly much must mustn't my myself "
    "neither never no nobody none nor not nothing now of off often oh ok okay on once only onto "
    "or other others otherwise ought our ours ourselves out over own per perhaps please quite "
    "rather really same shall she she'd she'll she's should shouldn't since so some somebody "
    "someone something sometimes somewhat still such than that that's the their theirs them "
    "themselves then there there's therefore these they they'd they'll they're they've this those "
    "though through thus to together too toward towards under unless until up upon us very via "
    "was wasn't we we'd we'll we're we've well were weren't what what's whatever when whenever "
    "where where's whereas whether which while who who's whoever whom whose why will with within "
    "without won't would wouldn't yes yet you you'd you'll you're you've your yours yourself "
    "yourselves hi hello hey thanks thank sure yeah";

static const char common_words[] =
    "able actually add additionally answer ask back bad based best better big bit call case "
    "certain change choose come common consider create day definitely describe detail different "
    "easy end ensure example explain fact far feel find first follow following four general "
    "generally get give go going good got great group hand help helpful high idea important "
    "include including information keep kind know large last least less life like line list "
    "little long look lot low made main make man many mean need new next note number old one "
    "order overall part people person place point possible provide put question read real reason "
    "right run said say see seem set several show side similar simple small sort specific start "
    "state step take tell term thing think three time tip try two type typically understand use "
    "used using usually various want way week word work world write year five second third result "
    "provided given free";

#define WORD_TABLE_SIZE 1024 /* power of two, > 2x the entries above */
#define BAND_STOP       0.0f
#define BAND_COMMON     0.4f
#define BAND_OTHER      1.0f

/* One 16-byte entry per word: a lookup touches one cache line. weight < 0 marks an empty slot. */
static struct {
    uint64_t key;
    float weight;
} word_table[WORD_TABLE_SIZE];
static pthread_once_t word_table_once = PTHREAD_ONCE_INIT;

static size_t stem(char *w, size_t len);

static void word_table_put(const char *w, size_t len, float weight)
{
    uint64_t h = XXH3_64bits(w, len);
    size_t i = (size_t)h & (WORD_TABLE_SIZE - 1);
    while (word_table[i].weight >= 0 && word_table[i].key != h)
        i = (i + 1) & (WORD_TABLE_SIZE - 1);
    if (word_table[i].weight >= 0)
        return; /* listed twice: the first band wins */
    word_table[i].key = h;
    word_table[i].weight = weight;
}

static void word_lower_build(void);

static void word_table_build(void)
{
    word_lower_build();
    for (size_t i = 0; i < WORD_TABLE_SIZE; i++)
        word_table[i].weight = -1.0f;
    const char *bands[] = {stopwords, common_words};
    for (size_t b = 0; b < 2; b++) {
        for (const char *p = bands[b]; *p;) {
            char w[32];
            size_t len = strcspn(p, " ");
            memcpy(w, p, len);
            if (b == 0)
                word_table_put(w, len, BAND_STOP);
            else
                word_table_put(w, stem(w, len), BAND_COMMON); /* looked up after folding */
            p += len + (p[len] == ' ');
        }
    }
}

/* The band weight of a word hash, or -1 when it is not listed. */
static inline float word_band(uint64_t h)
{
    size_t i = (size_t)h & (WORD_TABLE_SIZE - 1);
    while (word_table[i].weight >= 0) {
        if (word_table[i].key == h)
            return word_table[i].weight;
        i = (i + 1) & (WORD_TABLE_SIZE - 1);
    }
    return -1.0f;
}

/* Plural and possessive folding, in place; returns the new length. A light S-stemmer (after
 * Harman 1991, with Porter's "sses" rule) rather than Porter2: plurals are the variation that
 * most often separates a question from its answer ("tips" / "tip"), the n-grams already bridge
 * the rest ("install" / "installing"), and a full stemmer (libstemmer) would be a new
 * dependency for little gain. ASCII endings only. */
static size_t stem(char *w, size_t len)
{
    if (len > 2 && w[len - 2] == '\'' && w[len - 1] == 's')
        return len - 2;
    if (len < 4 || w[len - 1] != 's')
        return len;
    char p = w[len - 2];
    if (p == 's' || p == 'u' || p == 'i' || p == '\'')
        return len; /* class, bus, analysis */
    if (len > 4 && p == 'e') {
        char q = w[len - 3];
        if (q == 'i' && w[len - 4] != 'e' && w[len - 4] != 'a') { /* stories -> story */
            w[len - 3] = 'y';
            return len - 2;
        }
        if (q == 's' && w[len - 4] == 's') /* classes -> class */
            return len - 2;
        if (q == 'x' || q == 'z' || (q == 'h' && (w[len - 4] == 'c' || w[len - 4] == 's')))
            return len - 2; /* boxes, watches, wishes */
    }
    return len - 1;
}

/* ---- Config -------------------------------------------------------------------------------- */

void ph_sim_config_init(ph_sim_config *cfg)
{
    cfg->word_weight = 0.5;
    cfg->char_weight = 0.5;
    cfg->ngram_min = 4;
    cfg->ngram_max = 4;
    cfg->max_text_bytes = 64 * 1024;
}

int ph_sim_config_check(ph_sim_config *cfg, char *errstr, size_t errstr_size)
{
    if (!(cfg->word_weight >= 0) || !(cfg->char_weight >= 0) ||
        !(cfg->word_weight + cfg->char_weight > 0))
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "word_weight and char_weight must be >= 0 and not both 0");
    if (cfg->ngram_min < 2 || cfg->ngram_max > 8 || cfg->ngram_min > cfg->ngram_max ||
        cfg->ngram_max - cfg->ngram_min > 4)
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "ngram_min/ngram_max must satisfy 2 <= min <= max <= 8 and max - min <= 4");
    if (cfg->max_text_bytes < 64)
        return ph_err(errstr, errstr_size, PH_EINVAL, "max_text_bytes must be >= 64");
    double sum = cfg->word_weight + cfg->char_weight;
    cfg->word_weight /= sum;
    cfg->char_weight /= sum;
    return 0;
}

/* ---- Hashed sparse vectors ----------------------------------------------------------------- */

/* Room for `want` keys at a load of at most 1/4 (want counts occurrences, so the real load is
 * lower still): a lookup of an absent key, the common case when a response is streamed
 * against its question, then ends at the first slot. The tables are small (KB). */
static int table_init(ph_sim_table *t, size_t want)
{
    size_t cap = 16;
    while (cap < 4 * want)
        cap <<= 1;
    /* slots | used in one block; only the slots need zeroing; used has room for one spare
     * write (table_add stores before it knows whether the key is new) */
    char *block = malloc(cap * sizeof(ph_sim_slot) + (cap / 2 + 1) * sizeof(uint32_t));
    if (!block)
        return PH_ENOMEM;
    t->slots = (ph_sim_slot *)block;
    t->used = (uint32_t *)(block + cap * sizeof(ph_sim_slot));
    memset(t->slots, 0, cap * sizeof(ph_sim_slot));
    t->n = 0;
    t->mask = cap - 1;
    return 0;
}

static void table_free(ph_sim_table *t)
{
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

/* The slot holding key, or the empty slot where it would go. The key is mixed first (Fibonacci
 * hashing): packed n-gram keys (push_ngrams) are not uniformly distributed bits. */
static inline size_t table_slot(const ph_sim_table *t, uint32_t key)
{
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & t->mask;
    while (t->slots[i].key && t->slots[i].key != key)
        i = (i + 1) & t->mask;
    return i;
}

/* Adds w to key's value. Tables are sized for a load of 1/4, so the half-full guard (the size
 * of the used array) never triggers. Branch-free on purpose: whether a key is new is a coin toss
 * the CPU cannot predict, and the mispredictions cost more than the work (an empty slot holds 0, so
 * adding is the same). */
static inline void table_add(ph_sim_table *t, uint32_t key, float w)
{
    size_t i = table_slot(t, key);
    size_t fresh = t->slots[i].key == 0 && t->n < (t->mask + 1) / 2;
    if (t->slots[i].key == 0 && !fresh)
        return; /* full: cannot happen with the sizes used here */
    t->slots[i].key = key;
    t->slots[i].val += w;
    t->used[t->n] = (uint32_t)i;
    t->n += fresh;
}

/* Makes room for `more` new keys, rehashing into a larger block when needed. */
static int table_reserve(ph_sim_table *t, size_t more)
{
    if (t->slots && t->n + more <= (t->mask + 1) / 4)
        return 0;
    ph_sim_table grown;
    int rc = table_init(&grown, t->n + more);
    if (rc < 0)
        return rc;
    for (size_t k = 0; k < t->n; k++)
        table_add(&grown, t->slots[t->used[k]].key, t->slots[t->used[k]].val);
    table_free(t);
    *t = grown;
    return 0;
}

/* Sums of squares per space. Two scalars, not an array indexed by the space: the indexed store
 * made every iteration wait for the previous one. */
static void table_norms(const ph_sim_table *t, double norm[2])
{
    double n0 = 0, n1 = 0;
    for (size_t k = 0; k < t->n; k++) {
        const ph_sim_slot *e = &t->slots[t->used[k]];
        double sq = (double)e->val * e->val, sp = (double)(e->key & 1);
        n1 += sp * sq;
        n0 += sq - sp * sq;
    }
    norm[0] = sqrt(n0);
    norm[1] = sqrt(n1);
}

static inline uint32_t feature_key(uint64_t h, unsigned space)
{
    uint32_t key = ((uint32_t)(h >> 32) & ~1u) | space;
    return key ? key : 2;
}

/* ---- Text to features ---------------------------------------------------------------------- */

/* The words are those of ph_words (ph_text.h): runs of ASCII letters and digits and of bytes
 * >= 0x80, with apostrophes between word bytes. The scan is written out here rather than built on
 * ph_words_next because it also lower-cases and finds sentence ends in the same pass, through one
 * table lookup per byte: the byte loops were a third of the evaluator's instructions otherwise.
 * word_lower[c] is the lower-cased byte when c is a word byte, else 0. */
static unsigned char word_lower[256];

static void word_lower_build(void)
{
    for (unsigned c = 0; c < 256; c++) {
        bool word = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80;
        word_lower[c] = (unsigned char)(word ? c : 0);
        if (c >= 'A' && c <= 'Z')
            word_lower[c] = (unsigned char)(c + ('a' - 'A'));
    }
}

typedef struct tokenizer {
    const ph_sim_config *cfg;
    char *buf;      /* '<' word '>' of the current word, lower-cased */
    uint32_t *offs; /* code point starts in buf */
    ph_sim_doc *doc;
    double norm2[2]; /* sums of squared weights per space, as features are pushed */
} tokenizer;

/* An ASCII n-gram of up to 4 bytes needs no hash: its 7-bit bytes fit the 32-bit key exactly
 * (28 bits, then the space bit), so it is packed, rolling, at two instructions a position. Longer
 * or non-ASCII n-grams are hashed with XXH3; with the size a constant, the inlined XXH3 drops its
 * length dispatch. */
#define PACKED_NGRAMS(N)                                                                           \
    do {                                                                                           \
        uint32_t v = 0;                                                                            \
        size_t i = 0;                                                                              \
        for (; i + 1 < (N) && i < blen; i++)                                                       \
            v = v << 7 | (unsigned char)b[i];                                                      \
        for (; i < blen; i++) {                                                                    \
            v = (v << 7 | (unsigned char)b[i]) & ((1u << (7 * (N))) - 1);                          \
            f->key = v << 1 | 1;                                                                   \
            f->weight = weight;                                                                    \
            f++;                                                                                   \
        }                                                                                          \
    } while (0)

#define HASHED_NGRAMS(N)                                                                           \
    for (size_t i = 0; i + (N) <= blen; i++) {                                                     \
        f->key = feature_key(XXH3_64bits(b + i, (N)), 1);                                          \
        f->weight = weight;                                                                        \
        f++;                                                                                       \
    }

static void push_ngrams(tokenizer *tk, size_t blen, bool ascii, float weight)
{
    const char *b = tk->buf;
    ph_sim_feature *f = tk->doc->feat + tk->doc->nfeat;
    int nmin = tk->cfg->ngram_min, nmax = tk->cfg->ngram_max;
    uint32_t *offs = tk->offs;
    size_t nch = 0;
    if (!ascii) {
        for (size_t i = 0; i < blen; i++)
            if (((unsigned char)b[i] & 0xc0) != 0x80)
                offs[nch++] = (uint32_t)i;
        offs[nch] = (uint32_t)blen;
    }
    for (int n = nmin; n <= nmax; n++) {
        if (ascii) {
            switch (n) {
            case 2:
                PACKED_NGRAMS(2);
                break;
            case 3:
                PACKED_NGRAMS(3);
                break;
            case 4:
                PACKED_NGRAMS(4);
                break;
            case 5:
                HASHED_NGRAMS(5) break;
            case 6:
                HASHED_NGRAMS(6) break;
            case 7:
                HASHED_NGRAMS(7) break;
            default:
                HASHED_NGRAMS(8) break;
            }
            continue;
        }
        for (size_t i = 0; i + (size_t)n <= nch; i++) {
            f->key = feature_key(XXH3_64bits(b + offs[i], offs[i + n] - offs[i]), 1);
            f->weight = weight;
            f++;
        }
    }
    tk->doc->nfeat = (size_t)(f - tk->doc->feat);
}

/* The word is in tk->buf + 1, n bytes, lower-cased. flatten: inlines XXH3 (static inline here)
 * into the word and n-gram loops, so each short key skips a call and the length dispatch. */
__attribute__((flatten)) static void push_word(tokenizer *tk, size_t n, bool ascii)
{
    char *w = tk->buf + 1;
    if (!ascii) { /* U+2019 as the ASCII apostrophe, so "don’t" is "don't" */
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if ((unsigned char)w[i] == 0xe2 && i + 2 < n && (unsigned char)w[i + 1] == 0x80 &&
                (unsigned char)w[i + 2] == 0x99) {
                w[k++] = '\'';
                i += 2;
            } else {
                w[k++] = w[i];
            }
        }
        n = k;
    }
    if (n < 2)
        return; /* single letters and digits: list markers, initials */
    uint64_t h = XXH3_64bits(w, n);
    float band = n <= 16 ? word_band(h) : -1.0f;
    if (band == BAND_STOP)
        return;
    size_t sn = stem(w, n);
    if (sn != n) {
        h = XXH3_64bits(w, sn);
        float stem_band = word_band(h);
        if (stem_band == BAND_STOP)
            return;
        if (stem_band > 0)
            band = stem_band;
    }
    float weight = band > 0 ? band : BAND_OTHER;
    ph_sim_doc *doc = tk->doc;
    doc->feat[doc->nfeat].key = feature_key(h, 0);
    doc->feat[doc->nfeat].weight = weight;
    doc->nfeat++;
    doc->nwords++;
    tk->buf[0] = '<';
    w[sn] = '>';
    size_t before = doc->nfeat;
    push_ngrams(tk, sn + 2, ascii, weight);
    tk->norm2[0] += (double)weight * weight;
    tk->norm2[1] += (double)weight * weight * (double)(doc->nfeat - before);
}

/* Splits into words and sentences. A sentence ends at a line break, or at a '.', '!' or '?'
 * not glued to the next word ("3.14" and "e.g" stay whole). Locals and restrict keep the byte
 * loop in registers (stores through char pointers would otherwise force reloads). */
static void tokenize(tokenizer *tk, const char *s, size_t len)
{
    ph_sim_doc *doc = tk->doc;
    const unsigned char *restrict p = (const unsigned char *)s;
    const unsigned char *end = p + len;
    char *restrict w = tk->buf + 1;
    bool boundary = false, term = false;
    size_t sent_start = 0;
    doc->sent[0] = 0;
    doc->nsent = 1;
    while (p < end) {
        unsigned c = *p;
        unsigned char l = word_lower[c];
        if (!l) {
            if (c == '\n')
                boundary = true;
            else if (c == '.' || c == '!' || c == '?')
                term = true;
            else if (term)
                boundary = true;
            p++;
            continue;
        }
        if (boundary && doc->nfeat > sent_start) {
            sent_start = doc->nfeat;
            doc->sent[doc->nsent++] = (uint32_t)sent_start;
        }
        boundary = term = false;
        size_t n = 0;
        unsigned high = 0;
        do {
            w[n++] = (char)l;
            high |= c;
            if (++p == end)
                break;
            c = *p;
            l = word_lower[c];
            if (!l && c == '\'' && p + 1 < end && word_lower[p[1]])
                l = '\'';
        } while (l);
        push_word(tk, n, high < 0x80);
    }
    if (doc->nfeat == sent_start)
        doc->nsent--; /* the last sentence has no feature */
}

/* A feature's value is sqrt(sum of its occurrences' squared band weights): the band weight
 * itself for a single occurrence, damped like sqrt(tf) for repeats (as Lucene's classic TF).
 * Squares add, so a norm is the plain sum of the squared weights of all occurrences, which lets
 * ph_sim_cosine score a text against a table without building the text's own table. */
static void doc_finish(ph_sim_doc *doc)
{
    ph_sim_table *t = &doc->tab;
    for (size_t k = 0; k < t->n; k++) {
        ph_sim_slot *e = &t->slots[t->used[k]];
        e->val = sqrtf(e->val);
    }
}

ph_str ph_sim_head(ph_str s, size_t max)
{
    if (s.len > max) {
        s.len = max;
        while (s.len > 0 && ((unsigned char)s.s[s.len] & 0xc0) == 0x80)
            s.len--;
    }
    return s;
}

void ph_sim_doc_free(ph_sim_doc *doc)
{
    if (!doc)
        return;
    free(doc->block);
    table_free(&doc->tab);
    memset(doc, 0, sizeof(*doc));
}

int ph_sim_doc_tokens(ph_sim_doc *doc, const ph_sim_config *cfg, const char *s, size_t len)
{
    int rc = 0;
    pthread_once(&word_table_once, word_table_build);
    memset(doc, 0, sizeof(*doc));
    if (!s)
        s = ""; /* an empty ph_str may carry NULL; no arithmetic on it */
    if (len > cfg->max_text_bytes) {
        len = ph_sim_head((ph_str){s, len}, cfg->max_text_bytes).len;
        doc->truncated = true;
    }
    /* Each kept word of L >= 2 bytes yields at most 1 + sizes * (L + 1) features and uses
     * L + 1 bytes of text with its separator; a sentence needs a word of 2 bytes and a mark. */
    size_t sizes = (size_t)(cfg->ngram_max - cfg->ngram_min + 1);
    size_t maxfeat = (sizes + 1) * (len + 1) + 16;
    size_t maxsent = len / 2 + 2;
    size_t bytes = maxfeat * sizeof(ph_sim_feature) + maxsent * sizeof(uint32_t) +
                   (len + 8) * sizeof(uint32_t) + len + 8;
    char *block = malloc(bytes);
    if (!block) {
        rc = PH_ENOMEM;
        goto out;
    }
    doc->block = block;
    doc->feat = (ph_sim_feature *)block;
    doc->sent = (uint32_t *)(block + maxfeat * sizeof(ph_sim_feature));
    tokenizer tk = {
        .cfg = cfg,
        .offs = doc->sent + maxsent,
        .doc = doc,
    };
    tk.buf = (char *)(tk.offs + len + 8);
    tokenize(&tk, s, len);
    doc->norm[0] = sqrt(tk.norm2[0]);
    doc->norm[1] = sqrt(tk.norm2[1]);
out:
    if (rc < 0)
        ph_sim_doc_free(doc);
    return rc;
}

int ph_sim_doc_build(ph_sim_doc *doc, const ph_sim_config *cfg, const char *s, size_t len)
{
    int rc = ph_sim_doc_tokens(doc, cfg, s, len);
    if (rc < 0)
        return rc;
    rc = table_init(&doc->tab, doc->nfeat);
    if (rc < 0) {
        ph_sim_doc_free(doc);
        return rc;
    }
    for (size_t i = 0; i < doc->nfeat; i++) {
        float w = doc->feat[i].weight;
        table_add(&doc->tab, doc->feat[i].key, w * w);
    }
    doc_finish(doc);
    return 0;
}

int ph_sim_doc_build_sum(ph_sim_doc *doc, const ph_sim_config *cfg, const ph_sim_text *texts,
                         size_t n)
{
    int rc = 0;
    ph_sim_doc one = {0};
    memset(doc, 0, sizeof(*doc));
    size_t weighted = 0;
    for (size_t k = 0; k < n; k++)
        weighted += texts[k].weight > 0;
    if (weighted == 1 && texts[0].weight > 0) /* a single-turn question: no sum to make */
        return ph_sim_doc_build(doc, cfg, texts[0].text.s, texts[0].text.len);
    rc = table_init(&doc->tab, 64);
    if (rc < 0)
        goto out;
    for (size_t k = 0; k < n; k++) {
        if (!(texts[k].weight > 0))
            continue;
        rc = ph_sim_doc_build(&one, cfg, texts[k].text.s, texts[k].text.len);
        if (rc < 0)
            goto out;
        doc->truncated |= one.truncated;
        doc->nwords += one.nwords;
        rc = table_reserve(&doc->tab, one.tab.n);
        if (rc < 0)
            goto out;
        for (size_t j = 0; j < one.tab.n; j++) {
            const ph_sim_slot *e = &one.tab.slots[one.tab.used[j]];
            double norm = one.norm[e->key & 1];
            if (norm > 0)
                table_add(&doc->tab, e->key, (float)(texts[k].weight * e->val / norm));
        }
        ph_sim_doc_free(&one);
    }
    table_norms(&doc->tab, doc->norm);
out:
    ph_sim_doc_free(&one);
    if (rc < 0)
        ph_sim_doc_free(doc);
    return rc;
}

/* ---- Comparisons --------------------------------------------------------------------------- */

static double clamp01(double x)
{
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

static void scores_from(const ph_sim_config *cfg, double d0, double d1, const ph_sim_doc *a,
                        const ph_sim_doc *b, ph_sim_scores *out)
{
    double n0 = a->norm[0] * b->norm[0], n1 = a->norm[1] * b->norm[1];
    out->word_cosine = n0 > 0 ? clamp01(d0 / n0) : 0;
    out->char_cosine = n1 > 0 ? clamp01(d1 / n1) : 0;
    out->score = cfg->word_weight * out->word_cosine + cfg->char_weight * out->char_cosine;
}

/* b has features but no table: its occurrences are streamed against a's table. Each slot of a
 * collects the squared weights of b's occurrences that land on it (an empty slot collects too,
 * and is never read: no branch on whether the key matched). */
static int cosine_stream(const ph_sim_config *cfg, const ph_sim_doc *a, const ph_sim_doc *b,
                         ph_sim_scores *out)
{
    float stack_acc[1024];
    size_t cap = a->tab.mask + 1;
    float *acc = cap <= 1024 ? stack_acc : malloc(cap * sizeof(float));
    if (!acc)
        return PH_ENOMEM;
    memset(acc, 0, cap * sizeof(float));
    for (size_t i = 0; i < b->nfeat; i++) {
        float w = b->feat[i].weight;
        acc[table_slot(&a->tab, b->feat[i].key)] += w * w;
    }
    double d0 = 0, d1 = 0;
    for (size_t k = 0; k < a->tab.n; k++) {
        size_t i = a->tab.used[k];
        double prod = (double)a->tab.slots[i].val * sqrtf(acc[i]);
        double sp = (double)(a->tab.slots[i].key & 1);
        d1 += sp * prod;
        d0 += prod - sp * prod;
    }
    if (acc != stack_acc)
        free(acc);
    scores_from(cfg, d0, d1, a, b, out);
    return 0;
}

int ph_sim_cosine(const ph_sim_config *cfg, const ph_sim_doc *a, const ph_sim_doc *b,
                  ph_sim_scores *out)
{
    if (!b->tab.slots && b->nfeat > 0) {
        if (!a->tab.slots)
            return PH_EINVAL; /* two token-only docs: one needs a table */
        return cosine_stream(cfg, a, b, out);
    }
    if (!a->tab.slots && a->nfeat > 0)
        return ph_sim_cosine(cfg, b, a, out);
    double d0 = 0, d1 = 0;
    if (a->tab.n > b->tab.n) {
        const ph_sim_doc *t = a;
        a = b;
        b = t;
    }
    for (size_t k = 0; k < a->tab.n; k++) {
        const ph_sim_slot *e = &a->tab.slots[a->tab.used[k]];
        const ph_sim_slot *f = &b->tab.slots[table_slot(&b->tab, e->key)];
        double prod = (double)e->val * f->val, sp = (double)(e->key & 1);
        d1 += sp * prod; /* an empty slot has val 0 */
        d0 += prod - sp * prod;
    }
    scores_from(cfg, d0, d1, a, b, out);
    return 0;
}

int ph_sim_compare(const ph_sim_config *cfg, ph_str a, ph_str b, ph_sim_scores *out)
{
    ph_sim_doc da = {0}, db = {0};
    int rc = ph_sim_doc_build(&da, cfg, a.s, a.len);
    if (rc < 0)
        goto out;
    rc = ph_sim_doc_build(&db, cfg, b.s, b.len);
    if (rc < 0)
        goto out;
    rc = ph_sim_cosine(cfg, &da, &db, out);
out:
    ph_sim_doc_free(&da);
    ph_sim_doc_free(&db);
    return rc;
}

/* Support of one sentence of the response: for each passage, the share of the sentence's word
 * mass and of its n-gram mass found in the passage, combined; the best passage counts. */
static double sentence_support(const ph_sim_config *cfg, const ph_sim_doc *resp,
                               const uint64_t *masks, size_t np, size_t from, size_t to)
{
    double mass[2] = {0, 0};
    double found[2][PH_SIM_MAX_PASSAGES];
    memset(found, 0, sizeof(found));
    for (size_t f = from; f < to; f++) {
        uint32_t key = resp->feat[f].key;
        unsigned sp = key & 1;
        double w = resp->feat[f].weight;
        mass[sp] += w;
        uint64_t m = masks[table_slot(&resp->tab, key)];
        while (m) {
            found[sp][__builtin_ctzll(m)] += w;
            m &= m - 1;
        }
    }
    double best = 0;
    for (size_t k = 0; k < np; k++) {
        double s = (mass[0] > 0 ? cfg->word_weight * found[0][k] / mass[0] : 0) +
                   (mass[1] > 0 ? cfg->char_weight * found[1][k] / mass[1] : 0);
        if (s > best)
            best = s;
    }
    return clamp01(best);
}

static size_t sentence_words(const ph_sim_doc *resp, size_t from, size_t to)
{
    size_t n = 0;
    for (size_t f = from; f < to; f++)
        n += (resp->feat[f].key & 1) == 0;
    return n;
}

int ph_sim_ground(const ph_sim_config *cfg, const ph_sim_doc *resp, const ph_eval_passage *passages,
                  size_t npassages, double support_threshold, ph_sim_grounding *out)
{
    int rc = 0;
    ph_sim_doc pd = {0};
    ph_sim_grounding g = {0};
    if (!resp->tab.slots && resp->nfeat > 0)
        return PH_EINVAL; /* token-only: no slots to hang the passage masks on */
    /* masks[slot]: which passages hold the response feature in that slot of resp->tab */
    uint64_t *masks = calloc(resp->tab.mask + 1, sizeof(uint64_t));
    if (!masks) {
        rc = PH_ENOMEM;
        goto out;
    }
    size_t np = npassages < PH_SIM_MAX_PASSAGES ? npassages : PH_SIM_MAX_PASSAGES;
    double best = -1;
    for (size_t k = 0; k < np; k++) {
        rc = ph_sim_doc_build(&pd, cfg, passages[k].content.s, passages[k].content.len);
        if (rc < 0)
            goto out;
        g.nonempty_passages += !ph_sim_doc_empty(&pd);
        double dot[2] = {0, 0};
        for (size_t j = 0; j < pd.tab.n; j++) {
            const ph_sim_slot *e = &pd.tab.slots[pd.tab.used[j]];
            size_t r = table_slot(&resp->tab, e->key);
            if (resp->tab.slots[r].key) {
                masks[r] |= (uint64_t)1 << k;
                dot[e->key & 1] += (double)e->val * resp->tab.slots[r].val;
            }
        }
        double n0 = pd.norm[0] * resp->norm[0], n1 = pd.norm[1] * resp->norm[1];
        double wc = n0 > 0 ? clamp01(dot[0] / n0) : 0, cc = n1 > 0 ? clamp01(dot[1] / n1) : 0;
        double combined = cfg->word_weight * wc + cfg->char_weight * cc;
        if (combined > best) {
            best = combined;
            g.best_passage = k;
            g.word_cosine = wc;
            g.char_cosine = cc;
        }
        ph_sim_doc_free(&pd);
    }
    g.passages = np;

    size_t min_words = 1;
    for (size_t s = 0; s < resp->nsent; s++) {
        size_t to = s + 1 < resp->nsent ? resp->sent[s + 1] : resp->nfeat;
        if (sentence_words(resp, resp->sent[s], to) >= PH_SIM_MIN_SENTENCE_WORDS) {
            min_words = PH_SIM_MIN_SENTENCE_WORDS;
            break;
        }
    }
    double total = 0, supported_mass = 0;
    for (size_t s = 0; s < resp->nsent; s++) {
        size_t from = resp->sent[s], to = s + 1 < resp->nsent ? resp->sent[s + 1] : resp->nfeat;
        if (sentence_words(resp, from, to) < min_words)
            continue;
        double mass = 0;
        for (size_t f = from; f < to; f++)
            if ((resp->feat[f].key & 1) == 0)
                mass += resp->feat[f].weight;
        double support = sentence_support(cfg, resp, masks, np, from, to);
        g.sentences++;
        g.supported += support >= support_threshold;
        total += mass;
        supported_mass += mass * support;
    }
    g.score = total > 0 ? clamp01(supported_mass / total) : 0;
    g.supported_share = g.sentences ? (double)g.supported / (double)g.sentences : 0;
    *out = g;
out:
    ph_sim_doc_free(&pd);
    free(masks);
    return rc;
}
