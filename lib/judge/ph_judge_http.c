/* Transfers: one curl easy handle per request in flight, all on one multi handle driven by
 * ph_judge_poll, so hundreds of requests wait on the network from one thread. Handles are kept
 * for reuse; connections stay in the multi handle's pool (keep-alive, HTTP/2 multiplexing
 * over TLS when the server offers it).
 *
 * What is retried: connection errors and timeouts, HTTP 408, 429 and 5xx, after an exponential
 * backoff with jitter that is never shorter than the server's Retry-After (libcurl parses both
 * its forms, seconds and HTTP date: CURLINFO_RETRY_AFTER). A 429 also pauses every request to
 * the endpoint until then: rate limits are per account, not per request. A Retry-After longer
 * than backoff_max_ms is not waited for: the criterion becomes an ERROR that says so. Other
 * statuses (400, 401, 404, ...) are configuration errors that a retry cannot fix: ERROR at once. */
#include "ph_judge_int.h"

#include "ph_error.h"
#include "ph_log.h"
#include "ph_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* No verdict or embeddings reply is anywhere near this; a server that sends more is broken. */
#define MAX_REPLY_BYTES (8u << 20)

static size_t on_data(char *data, size_t size, size_t nmemb, void *userp)
{
    ph_judge_job *job = userp;
    size_t n = size * nmemb;
    if (job->resp_len + n + 1 > MAX_REPLY_BYTES) {
        job->resp_too_big = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (job->resp_len + n + 1 > job->resp_cap) {
        size_t cap = job->resp_cap ? job->resp_cap : 4096;
        while (cap < job->resp_len + n + 1)
            cap *= 2;
        char *grown = realloc(job->resp, cap);
        if (!grown)
            return 0;
        job->resp = grown;
        job->resp_cap = cap;
    }
    memcpy(job->resp + job->resp_len, data, n);
    job->resp_len += n;
    job->resp[job->resp_len] = '\0';
    return n;
}

int ph_judge_http_init(ph_judge *j, char *errstr, size_t errstr_size)
{
    const char *base = j->cfg.endpoint;
    size_t len = strlen(base) + 32;
    j->url_chat = malloc(len);
    j->url_embed = malloc(len);
    if (!j->url_chat || !j->url_embed)
        return PH_ENOMEM;
    snprintf(j->url_chat, len, "%s/chat/completions", base);
    snprintf(j->url_embed, len, "%s/embeddings", base);
    /* No "Expect: 100-continue": it costs a round trip per request for nothing here. */
    const char *fixed[] = {"Content-Type: application/json", "Expect:", NULL};
    for (size_t i = 0; fixed[i]; i++) {
        struct curl_slist *l = curl_slist_append(j->headers, fixed[i]);
        if (!l)
            return PH_ENOMEM;
        j->headers = l;
    }
    if (j->cfg.api_key) {
        size_t n = strlen(j->cfg.api_key) + 32;
        char *auth = malloc(n);
        if (!auth)
            return PH_ENOMEM;
        snprintf(auth, n, "Authorization: Bearer %s", j->cfg.api_key);
        struct curl_slist *l = curl_slist_append(j->headers, auth);
        memset(auth, 0, n);
        free(auth);
        if (!l)
            return PH_ENOMEM;
        j->headers = l;
    }
    j->idle = calloc((size_t)j->cfg.max_inflight, sizeof(*j->idle));
    j->multi = curl_multi_init();
    if (!j->idle || !j->multi)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "judge: cannot create the curl handles");
    curl_multi_setopt(j->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)j->cfg.max_inflight);
    curl_multi_setopt(j->multi, CURLMOPT_MAXCONNECTS, (long)j->cfg.max_inflight);
    return PH_OK;
}

void ph_judge_http_cleanup(ph_judge *j)
{
    for (size_t i = 0; i < j->nidle; i++)
        curl_easy_cleanup(j->idle[i]);
    free(j->idle);
    j->idle = NULL;
    j->nidle = 0;
    if (j->multi)
        curl_multi_cleanup(j->multi);
    j->multi = NULL;
    for (struct curl_slist *l = j->headers; l; l = l->next) /* the API key is in one */
        memset(l->data, 0, strlen(l->data));
    curl_slist_free_all(j->headers);
    j->headers = NULL;
    free(j->url_chat);
    free(j->url_embed);
    j->url_chat = j->url_embed = NULL;
}

static void release_easy(ph_judge *j, ph_judge_job *job)
{
    if (!job->easy)
        return;
    curl_multi_remove_handle(j->multi, job->easy);
    if (j->nidle < (size_t)j->cfg.max_inflight)
        j->idle[j->nidle++] = job->easy;
    else
        curl_easy_cleanup(job->easy);
    job->easy = NULL;
    j->reserved_tokens -= job->reserved_tokens;
    job->reserved_tokens = 0;
    ph_judge_list_remove(job);
}

int ph_judge_http_start(ph_judge *j, ph_judge_job *job, int64_t now)
{
    CURL *easy = j->nidle ? j->idle[--j->nidle] : curl_easy_init();
    if (!easy)
        return PH_ENOMEM;
    job->resp_len = 0;
    job->resp_too_big = false;
    curl_easy_setopt(easy, CURLOPT_URL,
                     job->crit->type == PH_JUDGE_LLM ? j->url_chat : j->url_embed);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, j->headers);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, job->body);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)job->body_len);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)j->cfg.timeout_ms);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(j->cfg.timeout_ms < 10000 ? j->cfg.timeout_ms : 10000));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, job);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, job);
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "pharos-judge/" PHAROS_VERSION);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    if (curl_multi_add_handle(j->multi, easy) != CURLM_OK) {
        curl_easy_cleanup(easy);
        return PH_ENOMEM;
    }
    job->easy = easy;
    if (job->attempts++ == 0)
        job->first_start_ms = now;
    else
        j->stats.retries++;
    j->stats.requests++;
    ph_judge_list_push(&j->inflight, job);
    if (j->inflight.n > j->stats.max_inflight_seen)
        j->stats.max_inflight_seen = j->inflight.n;
    return PH_OK;
}

void ph_judge_http_abort(ph_judge *j, ph_judge_job *job)
{
    release_easy(j, job);
}

int64_t ph_judge_backoff_ms(ph_judge *j, int attempts)
{
    int64_t delay = j->cfg.backoff_initial_ms;
    for (int i = 1; i < attempts && delay < j->cfg.backoff_max_ms; i++)
        delay *= 2;
    if (delay > j->cfg.backoff_max_ms)
        delay = j->cfg.backoff_max_ms;
    /* Equal jitter: half fixed, half random, so that jobs failed together spread out. */
    j->rng ^= j->rng << 13;
    j->rng ^= j->rng >> 7;
    j->rng ^= j->rng << 17;
    return delay / 2 + (int64_t)(j->rng % (uint64_t)(delay / 2 + 1));
}

/* Errors that a retry cannot fix: the configuration is wrong. */
static bool curl_permanent(CURLcode res)
{
    return res == CURLE_UNSUPPORTED_PROTOCOL || res == CURLE_URL_MALFORMAT ||
           res == CURLE_NOT_BUILT_IN || res == CURLE_PEER_FAILED_VERIFICATION ||
           res == CURLE_SSL_CERTPROBLEM || res == CURLE_SSL_CACERT_BADFILE ||
           res == CURLE_LOGIN_DENIED;
}

/* "HTTP 401 (invalid_api_key)": the status and the error's type or code, never its message
 * (servers quote the request in it). */
static void http_error(const ph_judge_job *job, long status, char *why, size_t why_size)
{
    json_error_t e;
    json_t *root = job->resp_len ? json_loadb(job->resp, job->resp_len, 0, &e) : NULL;
    const json_t *err = json_object_get(root, "error");
    const char *kind = json_string_value(json_object_get(err, "code"));
    if (!kind)
        kind = json_string_value(json_object_get(err, "type"));
    if (kind)
        snprintf(why, why_size, "HTTP %ld (%.40s)", status, kind);
    else
        snprintf(why, why_size, "HTTP %ld", status);
    json_decref(root);
}

static void transfer_done(ph_judge *j, ph_judge_job *job, CURLcode res, int64_t now)
{
    long status = 0;
    curl_off_t retry_after = 0;
    char why[160];
    curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(job->easy, CURLINFO_RETRY_AFTER, &retry_after);
    release_easy(j, job);
    int64_t backoff = ph_judge_backoff_ms(j, job->attempts);
    if (res != CURLE_OK) {
        if (res == CURLE_OPERATION_TIMEDOUT)
            snprintf(why, sizeof(why), "no reply within timeout_ms %d", j->cfg.timeout_ms);
        else
            snprintf(why, sizeof(why), "request failed: %s", curl_easy_strerror(res));
        if (job->resp_too_big || curl_permanent(res))
            ph_judge_finish_error(j, job, job->resp_too_big ? "the reply exceeds 8 MB" : why);
        else
            ph_judge_retry_or_fail(j, job, backoff, why, now);
        return;
    }
    if (status >= 200 && status < 300) {
        ph_judge_finish_reply(j, job, now);
        return;
    }
    http_error(job, status, why, sizeof(why));
    if (status != 408 && status != 429 && status < 500) {
        ph_judge_finish_error(j, job, why);
        return;
    }
    int64_t wait = retry_after > 0 ? (int64_t)retry_after * 1000 : 0;
    if (wait > j->cfg.backoff_max_ms) {
        /* Honouring an hour-long Retry-After would hold this record, and with the pause every
         * record, for an hour: say so in an ERROR instead. */
        char msg[PH_EVAL_EXPLANATION_MAX];
        snprintf(msg, sizeof(msg), "%s with Retry-After %lld s, beyond backoff_max_ms %d", why,
                 (long long)retry_after, j->cfg.backoff_max_ms);
        ph_judge_finish_error(j, job, msg);
        return;
    }
    if (wait > backoff)
        backoff = wait;
    if (status == 429 && wait > 0 && now + wait > j->paused_until_ms) {
        j->paused_until_ms = now + wait;
        ph_log_warn(PH_JUDGE_LOG, "rate limited by the endpoint: pausing for %lld ms",
                    (long long)wait);
    }
    ph_judge_retry_or_fail(j, job, backoff, why, now);
}

size_t ph_judge_http_harvest(ph_judge *j)
{
    CURLMsg *msg;
    int left;
    size_t n = 0;
    int64_t now = 0;
    while ((msg = curl_multi_info_read(j->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        ph_judge_job *job = NULL;
        CURLcode res = msg->data.result; /* msg is invalid once the handle is removed */
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&job);
        if (!now)
            now = ph_mono_ms();
        transfer_done(j, job, res, now);
        n++;
    }
    return n;
}
