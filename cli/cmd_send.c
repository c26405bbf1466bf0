/* pharos send FILE: JSON lines to the ingestor (HTTP, batched, several requests in flight,
 * retrying 503s as told by Retry-After) or straight to Kafka (--kafka). Prints a progress line on
 * stderr and the final count of accepted and rejected records on stdout. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ph_error.h"
#include "ph_kafka.h"
#include "ph_body.h"
#include "ph_log.h"
#include "ph_util.h"

typedef struct counts {
    long long read;     /* non-blank lines */
    long long accepted; /* acknowledged (HTTP 202 / Kafka delivery report) */
    long long rejected; /* refused: unparsable line, 4xx, or retries exhausted */
    int64_t last_progress;
} counts;

static void progress(counts *c, bool final)
{
    int64_t now = ph_mono_ms();
    if (!final && now - c->last_progress < 500)
        return;
    c->last_progress = now;
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "\rread %lld, accepted %lld, rejected %lld%s", c->read, c->accepted,
                c->rejected, final ? "\n" : "");
    else if (final)
        fprintf(stderr, "read %lld, accepted %lld, rejected %lld\n", c->read, c->accepted,
                c->rejected);
}

/* ---- HTTP -------------------------------------------------------------------------------------
 */

typedef struct batch {
    char *body;
    size_t len;
    long long n;
    int attempts;
    int64_t not_before; /* retry time (mono ms) */
    CURL *curl;
    struct curl_slist *headers;
    char *response;
    size_t response_len;
    long retry_after;
    struct batch *next;
} batch;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    batch *b = arg;
    size_t n = size * nmemb;
    char *grown = realloc(b->response, b->response_len + n + 1);
    if (!grown)
        return 0;
    b->response = grown;
    memcpy(b->response + b->response_len, ptr, n);
    b->response_len += n;
    b->response[b->response_len] = '\0';
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
    batch *b = arg;
    size_t n = size * nmemb;
    if (n > 12 && strncasecmp(ptr, "Retry-After:", 12) == 0)
        b->retry_after = strtol(ptr + 12, NULL, 10);
    return n;
}

static void batch_free(batch *b)
{
    if (!b)
        return;
    if (b->curl)
        curl_easy_cleanup(b->curl);
    curl_slist_free_all(b->headers);
    free(b->body);
    free(b->response);
    free(b);
}

static void start_batch(ph_cli *cli, CURLM *multi, const char *url, batch *b)
{
    free(b->response);
    b->response = NULL;
    b->response_len = 0;
    b->retry_after = 0;
    b->attempts++;
    if (!b->curl) {
        b->curl = curl_easy_init();
        b->headers = curl_slist_append(NULL, "Content-Type: application/x-ndjson");
        if (cli->cfg.token) {
            char auth[512];
            snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cli->cfg.token);
            b->headers = curl_slist_append(b->headers, auth);
        }
        curl_easy_setopt(b->curl, CURLOPT_URL, url);
        curl_easy_setopt(b->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(b->curl, CURLOPT_HTTPHEADER, b->headers);
        curl_easy_setopt(b->curl, CURLOPT_POSTFIELDS, b->body);
        curl_easy_setopt(b->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->len);
        curl_easy_setopt(b->curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(b->curl, CURLOPT_WRITEDATA, b);
        curl_easy_setopt(b->curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(b->curl, CURLOPT_HEADERDATA, b);
        curl_easy_setopt(b->curl, CURLOPT_PRIVATE, b);
        curl_easy_setopt(b->curl, CURLOPT_TIMEOUT_MS, 120000L);
        curl_easy_setopt(b->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    }
    curl_multi_add_handle(multi, b->curl);
}

/* Decides what a finished request means. Returns true when the batch is done (counted). */
static bool finish_batch(ph_cli *cli, batch *b, CURLcode res, counts *c)
{
    long status = 0;
    curl_easy_getinfo(b->curl, CURLINFO_RESPONSE_CODE, &status);
    if (res == CURLE_OK && status == 202) {
        c->accepted += b->n;
        return true;
    }
    bool retriable = res != CURLE_OK || status == 503 || status == 502 || status == 504 ||
                     status == 429 || status == 500;
    if (retriable && b->attempts < cli->cfg.retries) {
        long wait_ms = b->retry_after > 0 ? b->retry_after * 1000
                                          : 250L << (b->attempts < 6 ? b->attempts : 6);
        b->not_before = ph_mono_ms() + wait_ms;
        ph_log_info("send", "batch of %lld: %s%ld, retrying in %ld ms", b->n,
                    res != CURLE_OK ? curl_easy_strerror(res) : "HTTP ", status, wait_ms);
        return false;
    }
    fprintf(stderr, "\npharos: batch of %lld records refused: %s %ld %s\n", b->n,
            res != CURLE_OK ? curl_easy_strerror(res) : "HTTP", status,
            b->response ? b->response : "");
    c->rejected += b->n;
    return true;
}

static int send_http(ph_cli *cli, FILE *in, counts *c)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s/v1/%s", cli->cfg.url, cli->cfg.endpoint);
    CURLM *multi = curl_multi_init();
    batch *waiting = NULL; /* retries waiting for their time */
    int inflight = 0;
    bool eof = false;
    char *line = NULL;
    size_t cap = 0;
    long long lineno = 0;
    int bad_shown = 0;
    while (!eof || inflight > 0 || waiting) {
        /* Fill the pipeline: retries first, then new batches from the file. */
        for (batch **pp = &waiting; *pp && inflight < cli->cfg.concurrency;) {
            batch *b = *pp;
            if (b->not_before <= ph_mono_ms()) {
                *pp = b->next;
                curl_multi_remove_handle(multi, b->curl);
                start_batch(cli, multi, url, b);
                inflight++;
            } else {
                pp = &b->next;
            }
        }
        while (!eof && inflight < cli->cfg.concurrency) {
            batch *b = calloc(1, sizeof(*b));
            size_t bcap = 0;
            while (b->n < cli->cfg.batch) {
                ssize_t got = getline(&line, &cap, in);
                if (got < 0) {
                    eof = true;
                    break;
                }
                lineno++;
                while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
                    line[--got] = '\0';
                if (got == 0 || strspn(line, " \t") == (size_t)got)
                    continue;
                c->read++;
                /* The ingestor's own syntax check, so one bad line is refused here with its
                 * reason instead of sinking a whole batch. */
                ph_body one;
                ph_body_error berr;
                const char *first = line + strspn(line, " \t");
                if (*first != '{') {
                    berr.status = 400;
                    snprintf(berr.message, sizeof(berr.message), "not a JSON object");
                    if (bad_shown++ < 10)
                        fprintf(stderr, "\npharos: line %lld skipped: %s\n", lineno, berr.message);
                    c->rejected++;
                    continue;
                }
                if (ph_body_parse(line, (size_t)got, SIZE_MAX, &one, &berr)) {
                    if (bad_shown++ < 10)
                        fprintf(stderr, "\npharos: line %lld skipped: %s\n", lineno, berr.message);
                    c->rejected++;
                    continue;
                }
                ph_body_free(&one);
                if (b->len + (size_t)got + 2 > bcap) {
                    bcap = (b->len + (size_t)got + 2) * 2;
                    b->body = realloc(b->body, bcap);
                }
                memcpy(b->body + b->len, line, (size_t)got);
                b->len += (size_t)got;
                b->body[b->len++] = '\n';
                b->n++;
            }
            if (b->n == 0) {
                batch_free(b);
                break;
            }
            start_batch(cli, multi, url, b);
            inflight++;
        }
        int running = 0;
        curl_multi_perform(multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            batch *b = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&b);
            CURLcode res = msg->data.result;
            inflight--;
            if (finish_batch(cli, b, res, c)) {
                curl_multi_remove_handle(multi, b->curl);
                batch_free(b);
            } else {
                b->next = waiting;
                waiting = b;
            }
        }
        progress(c, false);
        if (inflight > 0)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
        else if (waiting)
            usleep(20000);
    }
    free(line);
    curl_multi_cleanup(multi);
    return PH_OK;
}

/* ---- Kafka ------------------------------------------------------------------------------------
 */

static void on_delivery(void *msg_opaque, rd_kafka_resp_err_t err, const rd_kafka_message_t *rkm,
                        void *arg)
{
    counts *c = arg;
    if (err) {
        c->rejected++;
        ph_log_warn("send", "delivery failed: %s", rd_kafka_err2str(err));
    } else {
        c->accepted++;
    }
}

/* Every non-blank line goes to Kafka as it is, unparsable or not: the validator is the judge (and
 * this is how tests inject poison records). */
static int send_kafka(ph_cli *cli, FILE *in, counts *c)
{
    char errstr[PH_ERRSTR_SIZE];
    char topic[256];
    ph_kafka_producer *p = NULL;
    ph_cli_topic(cli, "raw", topic, sizeof(topic));
    ph_kafka_producer_config pc = {.brokers = cli->cfg.brokers,
                                   .client_id = "pharos-send",
                                   .props = ph_config_kafka(cli->config),
                                   .on_delivery = on_delivery,
                                   .arg = c};
    if (ph_kafka_producer_new(&p, &pc, errstr, sizeof(errstr))) {
        fprintf(stderr, "pharos: %s\n", errstr);
        return PH_EKAFKA;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int rc = PH_OK;
    while ((got = getline(&line, &cap, in)) >= 0) {
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = '\0';
        if (got == 0)
            continue;
        c->read++;
        const char *key = NULL;
        json_t *obj = json_loadb(line, (size_t)got, 0, NULL);
        if (obj) {
            key = json_string_value(json_object_get(obj, "session_id"));
            if (!key)
                key = json_string_value(json_object_get(obj, "trace_id"));
        }
        rc = ph_kafka_produce_wait(p, topic, key, key ? strlen(key) : 0, line, (size_t)got, NULL, 0,
                                   NULL, 60000, errstr, sizeof(errstr));
        json_decref(obj);
        if (rc) {
            fprintf(stderr, "\npharos: %s\n", errstr);
            c->rejected++;
            if (rc == PH_EFATAL || rc == PH_EQUEUEFULL)
                break;
            rc = PH_OK;
        }
        ph_kafka_producer_poll(p, 0);
        progress(c, false);
    }
    int left = 0;
    if (ph_kafka_producer_flush(p, 60000, &left)) {
        fprintf(stderr, "\npharos: %d records not acknowledged by Kafka\n", left);
        c->rejected += left;
    }
    free(line);
    ph_kafka_producer_destroy(p);
    return rc;
}

int ph_cli_send(ph_cli *cli, int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: pharos send FILE [--url=URL | --kafka] (FILE - for stdin)\n");
        return 2;
    }
    if (strcmp(cli->cfg.endpoint, "logs") != 0 && strcmp(cli->cfg.endpoint, "feedback") != 0) {
        fprintf(stderr, "pharos: endpoint must be logs or feedback\n");
        return 2;
    }
    if (cli->cfg.kafka && strcmp(cli->cfg.endpoint, "logs") != 0) {
        fprintf(stderr, "pharos: --kafka sends logs only (feedback is encoded by the ingestor)\n");
        return 2;
    }
    if (cli->cfg.batch <= 0 || cli->cfg.concurrency <= 0) {
        fprintf(stderr, "pharos: batch and concurrency must be positive\n");
        return 2;
    }
    FILE *in = strcmp(argv[1], "-") == 0 ? stdin : fopen(argv[1], "r");
    if (!in) {
        fprintf(stderr, "pharos: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    counts c = {0};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cli->cfg.kafka ? send_kafka(cli, in, &c) : send_http(cli, in, &c);
    curl_global_cleanup();
    if (in != stdin)
        fclose(in);
    progress(&c, true);
    printf("accepted=%lld rejected=%lld\n", c.accepted, c.rejected);
    return rc == PH_OK && c.rejected == 0 ? 0 : 1;
}
