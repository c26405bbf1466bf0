/* An open-loop HTTP load generator for the ingest benchmark: POSTs NDJSON bodies of BATCH
 * records from a JSONL file to URL at a fixed RATE of records per second (a request is sent when
 * its time comes, whether or not earlier ones were answered, up to MAX_INFLIGHT in flight), for
 * SECONDS, and prints the achieved rate, the answers by status and the request latency
 * percentiles (measured from the time the request was due, so a stalled server shows in the
 * latency instead of silently lowering the load).
 *
 *   loadgen URL FILE.jsonl RATE SECONDS [BATCH=100] [MAX_INFLIGHT=256]
 *
 * Last line, for scripts: LOADGEN sent=N ok=N non2xx=N errors=N rate=R p50_ms=.. p90_ms=..
 * p99_ms=.. max_ms=.. late=N (late: requests that could not start on time: MAX_INFLIGHT hit). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct req {
    CURL *curl;
    double due;
    int in_use;
} req;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: loadgen URL FILE.jsonl RATE SECONDS [BATCH] [MAX_INFLIGHT]\n");
        return 2;
    }
    const char *url = argv[1];
    double rate = atof(argv[3]), seconds = atof(argv[4]);
    int batch = argc > 5 ? atoi(argv[5]) : 100;
    int max_inflight = argc > 6 ? atoi(argv[6]) : 256;
    FILE *f = fopen(argv[2], "r");
    if (!f || rate <= 0 || seconds <= 0 || batch <= 0 || max_inflight <= 0) {
        fprintf(stderr, "loadgen: bad arguments\n");
        return 2;
    }
    /* Bodies of BATCH records, in file order, reused round-robin. */
    char **bodies = NULL;
    size_t *lens = NULL, nbodies = 0, cap = 0, blen = 0, bcap = 0;
    char *line = NULL, *body = NULL;
    size_t lcap = 0;
    int in_body = 0;
    ssize_t got;
    while ((got = getline(&line, &lcap, f)) > 0) {
        if (got <= 1)
            continue;
        if (blen + (size_t)got + 1 > bcap) {
            bcap = (blen + (size_t)got + 1) * 2;
            body = realloc(body, bcap);
        }
        memcpy(body + blen, line, (size_t)got);
        blen += (size_t)got;
        if (++in_body == batch) {
            if (nbodies == cap) {
                cap = cap ? cap * 2 : 256;
                bodies = realloc(bodies, cap * sizeof(*bodies));
                lens = realloc(lens, cap * sizeof(*lens));
            }
            bodies[nbodies] = body;
            lens[nbodies++] = blen;
            body = NULL;
            blen = bcap = 0;
            in_body = 0;
        }
    }
    fclose(f);
    free(line);
    free(body);
    if (nbodies == 0) {
        fprintf(stderr, "loadgen: fewer than BATCH records in the file\n");
        return 2;
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)max_inflight);
    req *reqs = calloc((size_t)max_inflight, sizeof(req));
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/x-ndjson");
    for (int i = 0; i < max_inflight; i++) {
        reqs[i].curl = curl_easy_init();
        curl_easy_setopt(reqs[i].curl, CURLOPT_URL, url);
        curl_easy_setopt(reqs[i].curl, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(reqs[i].curl, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(reqs[i].curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(reqs[i].curl, CURLOPT_PRIVATE, &reqs[i]);
        curl_easy_setopt(reqs[i].curl, CURLOPT_TIMEOUT, 120L);
    }
    size_t total = (size_t)(rate * seconds / batch);
    double *lat = calloc(total + 1, sizeof(double));
    double interval = batch / rate, start = now();
    size_t sent = 0, done = 0, ok = 0, non2xx = 0, errors = 0, late = 0;
    int inflight = 0;
    while (done < total) {
        double t = now();
        while (sent < total && start + (double)sent * interval <= t && inflight < max_inflight) {
            req *r = NULL;
            for (int i = 0; i < max_inflight && !r; i++)
                if (!reqs[i].in_use)
                    r = &reqs[i];
            r->in_use = 1;
            r->due = start + (double)sent * interval;
            if (t - r->due > 0.05)
                late++;
            curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, bodies[sent % nbodies]);
            curl_easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE, (long)lens[sent % nbodies]);
            curl_multi_add_handle(multi, r->curl);
            inflight++;
            sent++;
        }
        int running;
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            req *r;
            long status = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            if (m->data.result != CURLE_OK)
                errors++;
            else if (status / 100 == 2)
                ok++;
            else
                non2xx++;
            lat[done++] = now() - r->due;
            curl_multi_remove_handle(multi, m->easy_handle);
            r->in_use = 0;
            inflight--;
        }
        double next = start + (double)sent * interval - now();
        int wait_ms = sent < total ? (int)(next * 1000) : 100;
        curl_multi_poll(multi, NULL, 0, wait_ms < 0 ? 0 : wait_ms > 100 ? 100 : wait_ms, NULL);
    }
    double elapsed = now() - start;
    qsort(lat, done, sizeof(double), cmp);
#define PCT(p) (lat[(size_t)((double)(done - 1) * (p))] * 1000)
    printf("LOADGEN sent=%zu ok=%zu non2xx=%zu errors=%zu rate=%.0f p50_ms=%.2f p90_ms=%.2f "
           "p99_ms=%.2f max_ms=%.2f late=%zu\n",
           done, ok, non2xx, errors, (double)ok * batch / elapsed, PCT(0.5), PCT(0.9), PCT(0.99),
           lat[done - 1] * 1000, late);
    for (int i = 0; i < max_inflight; i++)
        curl_easy_cleanup(reqs[i].curl);
    curl_multi_cleanup(multi);
    curl_slist_free_all(hdrs);
    curl_global_cleanup();
    for (size_t i = 0; i < nbodies; i++)
        free(bodies[i]);
    free(bodies);
    free(lens);
    free(reqs);
    free(lat);
    return non2xx || errors ? 1 : 0;
}
