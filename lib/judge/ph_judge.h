/* LLM-as-a-judge: asynchronous, remote evaluators over any OpenAI-compatible endpoint
 * (/v1/chat/completions for verdicts, /v1/embeddings for embedding similarity), with hundreds
 * of requests in flight from one thread (libcurl multi). See docs/judge.md for the config keys,
 * the verdict format, the built-in criteria and the failure semantics.
 *
 * The contract that matters: for every criterion that ph_judge_submit() says applies to a record
 * (*nresults), exactly one ph_eval_result is later delivered through a ph_judge_done_fn, with
 * status OK (a verdict the judge really gave), ERROR (why none could be had) or SKIPPED (why it
 * was deliberately not asked, e.g. "token budget spent", or the judge was destroyed). Nothing is
 * dropped silently, nothing is invented.
 *
 * Threads: a ph_judge belongs to one thread. ph_judge_submit, ph_judge_poll, ph_judge_pending,
 * ph_judge_get_stats and ph_judge_destroy must all be called from it; the done callback runs on
 * it too, from inside ph_judge_poll or ph_judge_destroy. */
#ifndef PH_JUDGE_H
#define PH_JUDGE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ph_eval.h"

/* Bump whenever the code could change a verdict for the same config (prompt assembly, parsing,
 * normalisation). It is the first part of every result's version. */
#define PH_JUDGE_CODE_VERSION "1"

typedef struct ph_judge ph_judge;

/* Receives one finished result. `opaque` is what ph_judge_submit was given for the record;
 * `result` is borrowed for the call only. The callback may call ph_judge_submit, but not
 * ph_judge_poll or ph_judge_destroy. */
typedef void (*ph_judge_done_fn)(void *opaque, const ph_eval_result *result, void *arg);

/* Builds a judge from the "judge" object of the evaluator config file (borrowed; see
 * docs/judge.md). Rejects unknown keys and bad values with a message in errstr. Reads the API
 * key from the environment variable named by api_key_env (the key is never logged). Opens the
 * verdict cache when cache_path is set. Does no network I/O. */
int ph_judge_new(ph_judge **out, const json_t *config, char *errstr, size_t errstr_size);

/* Aborts every transfer in flight and delivers, through fn, first the results already finished
 * and then a SKIPPED result ("judge shut down before the verdict") for every criterion still
 * pending, so that every submitted criterion still gets its one result. fn may be NULL only when
 * the caller has no record to complete (results are then discarded). NULL j is a no-op. */
void ph_judge_destroy(ph_judge *j, ph_judge_done_fn fn, void *arg);

/* Decides which criteria apply to `rec` (filters, sampling by record id, gates on the `cheap`
 * results already computed for it, and what the criterion needs: a user message, an output,
 * context passages) and queues one job per applying criterion. Copies what it needs: rec and
 * cheap are borrowed for the call only. Never blocks and does no I/O.
 * On success *nresults is the number of results that will be delivered for this record with
 * this opaque (0: nothing applies, the caller completes the record at once).
 * Returns 0; PH_EQUEUEFULL when the pending results would exceed queue_capacity (nothing was
 * queued: poll, then retry); PH_ENOMEM (nothing was queued). */
int ph_judge_submit(ph_judge *j, const ph_eval_record *rec, const ph_eval_result *cheap,
                    size_t ncheap, void *opaque, size_t *nresults);

/* Drives transfers, retries, rate limiting and timers, and calls fn for each finished result.
 * Waits up to timeout_ms (0: do what is ready and return; negative: until a result comes, or at
 * once when nothing is pending) and returns as soon as at least one result was delivered.
 * Returns the number of results delivered (>= 0). fn may be NULL (results are discarded). */
int ph_judge_poll(ph_judge *j, int timeout_ms, ph_judge_done_fn fn, void *arg);

/* Results submitted and not yet delivered. */
size_t ph_judge_pending(const ph_judge *j);

/* Counters for metrics and benchmarks. */
typedef struct ph_judge_stats {
    size_t queued;   /* jobs waiting for a transfer slot (or the rate limit, or a pause) */
    size_t delayed;  /* jobs waiting for a retry timer */
    size_t inflight; /* transfers in flight */
    size_t pending;  /* results not yet delivered */
    size_t max_inflight_seen;
    uint64_t requests;            /* HTTP requests started (attempts) */
    uint64_t retries;             /* of which retries */
    uint64_t cache_hits;          /* verdicts served from the cache */
    uint64_t ok, errors, skipped; /* results delivered, by status */
    int64_t tokens_window;        /* tokens used in the current budget hour */
    int64_t tokens_total;         /* tokens used since creation */
    double cost_usd_total;
} ph_judge_stats;

void ph_judge_get_stats(const ph_judge *j, ph_judge_stats *out);

#endif
