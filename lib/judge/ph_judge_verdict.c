/* Replies: the chat completion envelope, the verdict inside the judge's text, embeddings, and
 * the redaction of the judge's reason before it is stored.
 *
 * A verdict is taken only as the judge wrote it: anything that is not a JSON object with a
 * numeric score inside the declared range (and, when labels are declared, one of them) is
 * malformed, and the caller retries or records an ERROR. Nothing is guessed or defaulted. */
#include "ph_judge_int.h"

#include "ph_error.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <math.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Judges that think aloud may write many braces; bound the work on one reply. */
#define MAX_CANDIDATES 256

static int64_t int_member(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}

static void parse_usage(const json_t *root, ph_judge_usage *usage)
{
    const json_t *u = json_object_get(root, "usage");
    memset(usage, 0, sizeof(*usage));
    if (!json_is_object(u))
        return;
    usage->prompt_tokens = int_member(u, "prompt_tokens");
    usage->completion_tokens = int_member(u, "completion_tokens");
    usage->total_tokens = int_member(u, "total_tokens");
    if (!usage->total_tokens)
        usage->total_tokens = usage->prompt_tokens + usage->completion_tokens;
    usage->reported = usage->total_tokens > 0;
}

int ph_judge_parse_chat(const char *body, size_t len, char **content, ph_judge_usage *usage,
                        char *why, size_t why_size)
{
    json_error_t e;
    int rc = PH_EINVAL;
    json_t *root = json_loadb(body, len, 0, &e);
    if (!root)
        return ph_err(why, why_size, PH_EINVAL, "the reply is not JSON");
    parse_usage(root, usage);
    const json_t *msg =
        json_object_get(json_array_get(json_object_get(root, "choices"), 0), "message");
    const json_t *text = json_object_get(msg, "content");
    if (!json_is_string(text)) {
        ph_err(why, why_size, PH_EINVAL, "the reply has no choices[0].message.content");
        goto out;
    }
    char *copy = malloc(json_string_length(text) + 1);
    if (!copy) {
        rc = PH_ENOMEM;
        goto out;
    }
    memcpy(copy, json_string_value(text), json_string_length(text) + 1);
    *content = copy;
    rc = PH_OK;
out:
    json_decref(root);
    return rc;
}

/* Lower case, with spaces and hyphens as underscores: "Partially relevant" is
 * "partially_relevant". */
static void label_norm(const char *in, char *out, size_t size)
{
    size_t i = 0;
    for (; in[i] && i + 1 < size; i++)
        out[i] = in[i] == ' ' || in[i] == '-' ? '_' : (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

static int check_label(const json_t *label, const ph_judge_criterion *c, ph_judge_verdict *v,
                       char *why, size_t why_size)
{
    char norm[PH_EVAL_LABEL_MAX], want[PH_EVAL_LABEL_MAX];
    if (!label)
        return PH_OK; /* the label is optional: left empty, never inferred from the score */
    if (!json_is_string(label))
        return ph_err(why, why_size, PH_EINVAL, "the label is not a string");
    if (!c->nlabels) {
        ph_judge_redact(json_string_value(label), json_string_length(label), v->label,
                        sizeof(v->label));
        return PH_OK;
    }
    label_norm(json_string_value(label), norm, sizeof(norm));
    for (size_t i = 0; i < c->nlabels; i++) {
        label_norm(c->labels[i], want, sizeof(want));
        if (strcmp(norm, want) == 0) {
            snprintf(v->label, sizeof(v->label), "%s", c->labels[i]);
            return PH_OK;
        }
    }
    return ph_err(why, why_size, PH_EINVAL, "the label \"%.40s\" is not a declared label",
                  json_string_value(label));
}

static int check_verdict(const json_t *obj, const ph_judge_criterion *c, ph_judge_verdict *out,
                         char *why, size_t why_size)
{
    ph_judge_verdict v;
    const json_t *score = json_object_get(obj, "score");
    memset(&v, 0, sizeof(v));
    if (json_is_number(score)) {
        v.score = json_number_value(score);
    } else if (json_is_string(score) && json_string_length(score) > 0) {
        /* "4" is the judge's number written as text: its value, not a guess. */
        char *end;
        v.score = strtod(json_string_value(score), &end);
        if (*end || !isfinite(v.score))
            return ph_err(why, why_size, PH_EINVAL, "the score is not a number");
    } else {
        return ph_err(why, why_size, PH_EINVAL, "the score is not a number");
    }
    if (v.score < c->score_min || v.score > c->score_max)
        return ph_err(why, why_size, PH_EINVAL, "the score %g is outside [%g, %g]", v.score,
                      c->score_min, c->score_max);
    int rc = check_label(json_object_get(obj, "label"), c, &v, why, why_size);
    if (rc != PH_OK)
        return rc;
    const json_t *reason = json_object_get(obj, "reason");
    if (json_is_string(reason))
        ph_judge_redact(json_string_value(reason), json_string_length(reason), v.reason,
                        sizeof(v.reason));
    *out = v;
    return PH_OK;
}

int ph_judge_parse_verdict(const char *text, size_t len, const ph_judge_criterion *c,
                           ph_judge_verdict *out, char *why, size_t why_size)
{
    json_t *found = NULL;
    bool any_object = false;
    int candidates = 0;
    /* Every '{' may open the verdict: bare JSON, a ```json fence, or JSON after some prose all
     * reduce to "an object starts here". The LAST object with a score wins: judges that reason
     * before answering put drafts first and the answer last. */
    for (size_t pos = 0; pos < len && candidates < MAX_CANDIDATES; pos++) {
        if (text[pos] != '{')
            continue;
        candidates++;
        json_error_t e;
        json_t *obj = json_loadb(text + pos, len - pos, JSON_DISABLE_EOF_CHECK, &e);
        if (!json_is_object(obj)) {
            json_decref(obj);
            continue;
        }
        any_object = true;
        if (json_object_get(obj, "score")) {
            json_decref(found);
            found = obj;
            if (e.position > 1)
                pos += (size_t)e.position - 1; /* skip the object; nested ones are not it */
        } else {
            json_decref(obj); /* look inside: {"verdict": {"score": ...}} */
        }
    }
    int rc;
    if (found)
        rc = check_verdict(found, c, out, why, why_size);
    else
        rc = ph_err(why, why_size, PH_EINVAL,
                    any_object ? "the JSON object has no score" : "no JSON object in the reply");
    json_decref(found);
    return rc;
}

static int embedding_at(const json_t *data, size_t i, const json_t **vec)
{
    /* Servers may answer out of order: place by "index" when given. */
    for (size_t k = 0; k < json_array_size(data); k++) {
        const json_t *item = json_array_get(data, k);
        const json_t *index = json_object_get(item, "index");
        if (index ? json_integer_value(index) == (json_int_t)i : k == i) {
            *vec = json_object_get(item, "embedding");
            return json_is_array(*vec) && json_array_size(*vec) > 0 ? PH_OK : PH_EINVAL;
        }
    }
    return PH_EINVAL;
}

static int cosine(const json_t *a, const json_t *b, double *out)
{
    size_t n = json_array_size(a);
    double dot = 0, na = 0, nb = 0;
    if (n != json_array_size(b))
        return PH_EINVAL;
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(a, i), *y = json_array_get(b, i);
        if (!json_is_number(x) || !json_is_number(y))
            return PH_EINVAL;
        double vx = json_number_value(x), vy = json_number_value(y);
        dot += vx * vy;
        na += vx * vx;
        nb += vy * vy;
    }
    if (na <= 0 || nb <= 0)
        return PH_EINVAL;
    *out = dot / (sqrt(na) * sqrt(nb));
    return PH_OK;
}

int ph_judge_parse_embeddings(const char *body, size_t len, size_t n, double cos[2],
                              ph_judge_usage *usage, char *why, size_t why_size)
{
    json_error_t e;
    const json_t *vec[3] = {NULL, NULL, NULL};
    int rc = PH_EINVAL;
    json_t *root = json_loadb(body, len, 0, &e);
    if (!root)
        return ph_err(why, why_size, PH_EINVAL, "the reply is not JSON");
    parse_usage(root, usage);
    const json_t *data = json_object_get(root, "data");
    if (n < 2 || n > 3 || json_array_size(data) != n) {
        ph_err(why, why_size, PH_EINVAL, "the reply has %zu embeddings, %zu expected",
               json_array_size(data), n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (embedding_at(data, i, &vec[i]) != PH_OK) {
            ph_err(why, why_size, PH_EINVAL, "embedding %zu is missing or empty", i);
            goto out;
        }
    }
    for (size_t i = 0; i + 1 < n; i++) {
        if (cosine(vec[i], vec[i + 1], &cos[i]) != PH_OK) {
            ph_err(why, why_size, PH_EINVAL,
                   "embeddings %zu and %zu differ in size, hold a non-number or are zero", i,
                   i + 1);
            goto out;
        }
    }
    rc = PH_OK;
out:
    json_decref(root);
    return rc;
}

/* ---- redaction ----
 * The judge's reason is stored in pharos.evals and shown on dashboards; the judge saw the whole
 * record, so it may quote personal data despite being told not to. Before storing, three PCRE2
 * patterns (PCRE2 is the regex library the project already links) replace, in this order:
 *   e-mail addresses                                  -> [email]
 *   card-like runs of 13-19 digits (spaces, dashes)   -> [card]
 *   phone-like runs of 7-15 digits (+, spaces, dots, dashes, parentheses between digits;
 *   ISO dates such as 2024-01-15 excepted)            -> [phone]
 * It errs towards redacting: any long number goes. Names and addresses are not detected. */

static const struct {
    const char *pattern;
    const char *replacement;
} redactions[] = {
    {"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}", "[email]"},
    {"(?<![\\w])\\d(?:[ -]?\\d){12,18}(?![\\w])", "[card]"},
    {"(?<![\\w+])(?!\\d{4}-\\d{2}-\\d{2}(?!\\d))\\+?\\d(?:[ .()-]{0,2}\\d){6,14}(?![\\w])",
     "[phone]"},
};
#define NREDACTIONS (sizeof(redactions) / sizeof(redactions[0]))

static pcre2_code *redaction_code[NREDACTIONS];
static pthread_once_t redaction_once = PTHREAD_ONCE_INIT;

/* Compiled once per process and kept for its life (the patterns are constants). */
static void redaction_compile(void)
{
    for (size_t i = 0; i < NREDACTIONS; i++) {
        int err;
        PCRE2_SIZE off;
        redaction_code[i] = pcre2_compile((PCRE2_SPTR)redactions[i].pattern, PCRE2_ZERO_TERMINATED,
                                          0, &err, &off, NULL);
    }
}

/* One pattern over *s (malloc'ed, replaced on success). */
static int substitute(size_t i, char **s, size_t *len)
{
    PCRE2_SIZE cap = *len + 64, outlen = cap;
    char *out = malloc(cap);
    if (!out)
        return PH_ENOMEM;
    uint32_t opts = PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH;
    int rc = pcre2_substitute(redaction_code[i], (PCRE2_SPTR)*s, *len, 0, opts, NULL, NULL,
                              (PCRE2_SPTR)redactions[i].replacement, PCRE2_ZERO_TERMINATED,
                              (PCRE2_UCHAR *)out, &outlen);
    if (rc == PCRE2_ERROR_NOMEMORY) { /* outlen now says how much is needed */
        char *grown = realloc(out, outlen + 1);
        if (!grown) {
            free(out);
            return PH_ENOMEM;
        }
        out = grown;
        cap = outlen + 1;
        outlen = cap;
        rc = pcre2_substitute(redaction_code[i], (PCRE2_SPTR)*s, *len, 0, opts, NULL, NULL,
                              (PCRE2_SPTR)redactions[i].replacement, PCRE2_ZERO_TERMINATED,
                              (PCRE2_UCHAR *)out, &outlen);
    }
    if (rc < 0) {
        free(out);
        return PH_EINVAL;
    }
    free(*s);
    *s = out;
    *len = outlen;
    return PH_OK;
}

void ph_judge_redact(const char *in, size_t len, char *out, size_t out_size)
{
    pthread_once(&redaction_once, redaction_compile);
    char *s = ph_judge_utf8_dup(in, len, len, false);
    size_t n = s ? strlen(s) : 0;
    bool ok = s != NULL;
    for (size_t i = 0; ok && i < NREDACTIONS; i++)
        ok = redaction_code[i] && substitute(i, &s, &n) == PH_OK;
    out[0] = '\0';
    if (ok && out_size > 0) {
        /* Not redacted means not stored: on any failure the reason is dropped. */
        size_t keep = n < out_size ? n : out_size - 1;
        while (keep > 0 && keep < n && ((unsigned char)s[keep] & 0xC0) == 0x80)
            keep--;
        memcpy(out, s, keep);
        out[keep] = '\0';
    }
    free(s);
}
