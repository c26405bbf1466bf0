/* Internals of lib/judge, shared by its files; not for use outside the module.
 *
 *   ph_judge.c          submit, the job queues, dispatch, poll, delivery, destroy
 *   ph_judge_config.c   the "judge" config object: criteria, filters, gates
 *   ph_judge_prompt.c   built-in templates, prompt rendering, request bodies
 *   ph_judge_verdict.c  reply parsing (chat verdicts, embeddings), redaction
 *   ph_judge_http.c     transfers on the curl multi handle, retries and backoff
 *   ph_judge_cache.c    the SQLite verdict cache */
#ifndef PH_JUDGE_INT_H
#define PH_JUDGE_INT_H

#include <curl/curl.h>
#include <stdbool.h>

#include "ph_judge.h"

#define PH_JUDGE_LOG "judge"

/* Criterion names become result names "judge.<name>" (and "judge.<name>_groundedness"). */
#define PH_JUDGE_CRIT_NAME_MAX 40

/* ---- configuration (ph_judge_config.c) ---- */

/* What a criterion needs from a record to apply at all. */
enum {
    PH_JUDGE_NEED_INPUT = 1,        /* a user message */
    PH_JUDGE_NEED_OUTPUT = 2,       /* a non-empty response */
    PH_JUDGE_NEED_CONTEXT = 4,      /* at least one context passage */
    PH_JUDGE_NEED_CONVERSATION = 8, /* at least one message */
};

enum { PH_JUDGE_F_APP = 0, PH_JUDGE_F_MODEL, PH_JUDGE_F_ENVIRONMENT, PH_JUDGE_F_COUNT };

/* Include/exclude glob lists (fnmatch) per record field. An empty include list admits all. */
typedef struct ph_judge_filter {
    char **include[PH_JUDGE_F_COUNT];
    size_t ninclude[PH_JUDGE_F_COUNT];
    char **exclude[PH_JUDGE_F_COUNT];
    size_t nexclude[PH_JUDGE_F_COUNT];
} ph_judge_filter;

typedef enum { PH_JUDGE_FIELD_SCORE, PH_JUDGE_FIELD_LABEL, PH_JUDGE_FIELD_PASSED } ph_judge_field;
typedef enum {
    PH_JUDGE_OP_LT,
    PH_JUDGE_OP_LE,
    PH_JUDGE_OP_GT,
    PH_JUDGE_OP_GE,
    PH_JUDGE_OP_EQ,
    PH_JUDGE_OP_NE
} ph_judge_op;

/* One gate condition, e.g. "similarity.relevance.score < 0.5". */
typedef struct ph_judge_cond {
    char evaluator[PH_EVAL_NAME_MAX];
    ph_judge_field field;
    ph_judge_op op;
    double num;                    /* score, or passed as 0/1 */
    char label[PH_EVAL_LABEL_MAX]; /* label */
} ph_judge_cond;

typedef struct ph_judge_gate {
    ph_judge_cond *conds;
    size_t n;
    bool any; /* true: one condition suffices; false: all must hold */
} ph_judge_gate;

typedef enum { PH_JUDGE_LLM, PH_JUDGE_EMBEDDING } ph_judge_crit_type;

typedef struct ph_judge_criterion {
    char name[PH_JUDGE_CRIT_NAME_MAX];
    char result_name[PH_EVAL_NAME_MAX];  /* judge.<name> */
    char result_name2[PH_EVAL_NAME_MAX]; /* embeddings: judge.<name>_groundedness */
    char version[PH_EVAL_VERSION_MAX];   /* <code version>.<8 hex of the effective config> */
    uint64_t key_salt;                   /* cache keys: hash of result name and version */
    ph_judge_crit_type type;
    char *model;
    /* LLM */
    char *system; /* complete system prompt, verdict instructions included */
    char *user;   /* user prompt template with {{placeholders}} */
    double score_min, score_max;
    char **labels;
    size_t nlabels;
    bool has_pass_min, has_pass_max;
    double pass_min, pass_max; /* on the judge's own scale */
    double temperature;
    int max_tokens;
    /* embeddings */
    bool embed_relevance, embed_groundedness;
    /* selection */
    double sample_rate;
    ph_judge_filter filter;
    ph_judge_gate gate;
    unsigned needs;
} ph_judge_criterion;

typedef struct ph_judge_config {
    char *endpoint; /* base URL without the trailing slash, e.g. http://127.0.0.1:8000/v1 */
    char *api_key;  /* from the environment; NULL when none */
    char *model;
    bool response_format;
    int timeout_ms;
    int max_attempts;
    int backoff_initial_ms;
    int backoff_max_ms;
    int max_inflight;
    double rate_limit_per_s;
    int64_t hourly_token_budget;
    double price_in, price_out; /* USD per 1000 tokens */
    char *cache_path;
    int64_t cache_ttl_s;
    size_t queue_capacity;
    size_t max_field_bytes;
    ph_judge_filter filter; /* applies to every criterion */
    ph_judge_criterion *criteria;
    size_t ncriteria;
} ph_judge_config;

int ph_judge_config_parse(ph_judge_config *cfg, const json_t *config, char *errstr,
                          size_t errstr_size);
void ph_judge_config_free(ph_judge_config *cfg);

/* Selection: filters (global and the criterion's) and gate. */
bool ph_judge_filter_admits(const ph_judge_filter *f, const ph_eval_record *rec);
bool ph_judge_gate_admits(const ph_judge_gate *g, const ph_eval_result *cheap, size_t ncheap);
int ph_judge_cond_parse(ph_judge_cond *c, const char *text, char *errstr, size_t errstr_size);
/* Deterministic sampling: the same record id is always in or always out at a given rate, and
 * the ids in at rate r are a subset of those in at any rate above r. */
bool ph_judge_sampled(const ph_eval_record *rec, double rate);

/* ---- prompts and requests (ph_judge_prompt.c) ---- */

typedef struct ph_judge_builtin {
    const char *name;
    const char *summary;
    const char *system;
    const char *user;
    double score_min, score_max;
    const char *labels[6];
    bool has_pass_min, has_pass_max;
    double pass_min, pass_max;
} ph_judge_builtin;

const ph_judge_builtin *ph_judge_builtin_find(const char *name);
const ph_judge_builtin *ph_judge_builtin_at(size_t i);

/* Appends the verdict instructions (format, range, labels) to a template's system prompt.
 * Returns a malloc'ed string or NULL. */
char *ph_judge_system_prompt(const char *system, double score_min, double score_max,
                             char *const *labels, size_t nlabels);

/* Which placeholders a template uses (PH_JUDGE_NEED_*); -1 with errstr for an unknown one. */
int ph_judge_template_needs(const char *tmpl, unsigned *needs, char *errstr, size_t errstr_size);

/* A record's texts, rendered once per submit and shared by its criteria. */
typedef struct ph_judge_texts {
    char *input, *output, *context, *conversation; /* valid UTF-8, truncated, never NULL */
} ph_judge_texts;

int ph_judge_texts_make(ph_judge_texts *t, const ph_eval_record *rec, size_t max_bytes);

/* A copy of at most about max bytes of s (cut on a UTF-8 boundary and marked "[...]"; the tail
 * when keep_tail, else the head) with invalid UTF-8 and NUL bytes replaced by '?', so that
 * jansson accepts it. NULL only when out of memory. */
char *ph_judge_utf8_dup(const char *s, size_t len, size_t max, bool keep_tail);
void ph_judge_texts_free(ph_judge_texts *t);

/* The JSON request body for one criterion (malloc'ed, *len bytes). */
char *ph_judge_chat_body(const ph_judge_config *cfg, const ph_judge_criterion *c,
                         const ph_judge_texts *t, size_t *len);
char *ph_judge_embed_body(const ph_judge_criterion *c, const ph_judge_texts *t, bool groundedness,
                          size_t *len);

/* ---- replies (ph_judge_verdict.c) ---- */

typedef struct ph_judge_usage {
    int64_t prompt_tokens, completion_tokens, total_tokens;
    bool reported; /* false: the server sent no usage, the numbers are estimates */
} ph_judge_usage;

typedef struct ph_judge_verdict {
    double score; /* on the judge's scale */
    char label[PH_EVAL_LABEL_MAX];
    char reason[PH_EVAL_EXPLANATION_MAX]; /* redacted and truncated */
} ph_judge_verdict;

/* Extracts choices[0].message.content and usage from a chat completion reply. Returns 0, or
 * PH_EINVAL with why. *content is malloc'ed. */
int ph_judge_parse_chat(const char *body, size_t len, char **content, ph_judge_usage *usage,
                        char *why, size_t why_size);

/* Finds the verdict object in the judge's text (bare, fenced, or inside prose) and checks it
 * against the criterion. Returns 0, or PH_EINVAL with why (never a guessed verdict). */
int ph_judge_parse_verdict(const char *text, size_t len, const ph_judge_criterion *c,
                           ph_judge_verdict *out, char *why, size_t why_size);

/* Parses an /embeddings reply with n inputs into cosine similarities: cos[0] = (input 0,
 * input 1), cos[1] = (input 1, input 2) when n == 3. */
int ph_judge_parse_embeddings(const char *body, size_t len, size_t n, double cos[2],
                              ph_judge_usage *usage, char *why, size_t why_size);

/* Replaces e-mail addresses, card-like digit runs and phone numbers with [email], [card],
 * [phone], then truncates to out_size - 1 bytes on a UTF-8 boundary. */
void ph_judge_redact(const char *in, size_t len, char *out, size_t out_size);

/* ---- the verdict cache (ph_judge_cache.c) ---- */

typedef struct ph_judge_cache ph_judge_cache;

int ph_judge_cache_open(ph_judge_cache **out, const char *path, int64_t ttl_s, char *errstr,
                        size_t errstr_size);
void ph_judge_cache_close(ph_judge_cache *cache);
/* Returns 0 with a malloc'ed *value, PH_ENOENT, or PH_EIO. */
int ph_judge_cache_get(ph_judge_cache *cache, const char *key, char **value);
/* Stores inside the open batch transaction (begun on demand). */
int ph_judge_cache_put(ph_judge_cache *cache, const char *key, const char *evaluator,
                       const char *value);
/* Commits the open batch, if any. */
void ph_judge_cache_flush(ph_judge_cache *cache);

/* ---- jobs and the judge (ph_judge.c, ph_judge_http.c) ---- */

/* One (record, criterion): the unit that is queued, sent, retried and completed. */
typedef struct ph_judge_job {
    struct ph_judge_job *prev, *next;
    struct ph_judge_list *list; /* the list it is on, NULL when none */
    const ph_judge_criterion *crit;
    void *opaque;
    char *body; /* request JSON */
    size_t body_len;
    char key[33];      /* cache key */
    bool groundedness; /* embeddings: a second result from the context */
    bool cache_checked;
    int attempts;
    int64_t not_before_ms;
    int64_t first_start_ms;
    int64_t reserved_tokens; /* held against the budget while in flight */
    int64_t tokens, prompt_tokens, completion_tokens;
    bool tokens_estimated;
    double cost_usd;
    CURL *easy;
    char *resp;
    size_t resp_len, resp_cap;
    bool resp_too_big;
    char last_error[160];
} ph_judge_job;

typedef struct ph_judge_list {
    ph_judge_job *head, *tail;
    size_t n;
} ph_judge_list;

void ph_judge_list_push(ph_judge_list *l, ph_judge_job *job);
void ph_judge_list_remove(ph_judge_job *job);

typedef struct ph_judge_done {
    void *opaque;
    ph_eval_result result;
} ph_judge_done;

struct ph_judge {
    ph_judge_config cfg;
    char *url_chat, *url_embed;
    struct curl_slist *headers;
    CURLM *multi;
    CURL **idle; /* easy handles kept for reuse */
    size_t nidle;
    ph_judge_list ready, delayed, inflight;
    ph_judge_done *done; /* finished, not yet delivered */
    size_t ndone, done_cap;
    size_t pending;
    double bucket; /* rate limit tokens */
    int64_t bucket_ms;
    int64_t paused_until_ms; /* after a 429: nothing is sent before */
    int64_t window_start_ms; /* token budget hour */
    int64_t reserved_tokens;
    int64_t next_wake_ms; /* earliest timer dispatch waits for; 0 when none */
    uint64_t rng;
    ph_judge_cache *cache;
    ph_judge_stats stats;
};

/* Completion: each queues exactly the job's results and frees the job. */
void ph_judge_finish_error(ph_judge *j, ph_judge_job *job, const char *why);
void ph_judge_finish_skipped(ph_judge *j, ph_judge_job *job, const char *why);
/* Applies a reply the server gave with status 2xx: a verdict, or a retry/ERROR when malformed. */
void ph_judge_finish_reply(ph_judge *j, ph_judge_job *job, int64_t now);
/* Puts a failed attempt back for a retry after delay_ms, or finishes it as ERROR with why when
 * its attempts are spent. */
void ph_judge_retry_or_fail(ph_judge *j, ph_judge_job *job, int64_t delay_ms, const char *why,
                            int64_t now);

/* ph_judge_http.c */
int ph_judge_http_init(ph_judge *j, char *errstr, size_t errstr_size);
void ph_judge_http_cleanup(ph_judge *j);
int ph_judge_http_start(ph_judge *j, ph_judge_job *job, int64_t now);
/* Moves finished transfers on; returns how many finished. */
size_t ph_judge_http_harvest(ph_judge *j);
/* Aborts a job's transfer, if any, and returns its handle to the idle pool. */
void ph_judge_http_abort(ph_judge *j, ph_judge_job *job);
int64_t ph_judge_backoff_ms(ph_judge *j, int attempts);

#endif
