#include "test_http_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* --- libcurl client ------------------------------------------------------------------------- */

typedef struct growbuf {
    char *p;
    size_t len;
} growbuf;

static size_t grow(char *data, size_t size, size_t n, void *arg)
{
    growbuf *b = arg;
    size_t add = size * n;
    char *p = realloc(b->p, b->len + add + 1);
    if (p == NULL)
        return 0;
    memcpy(p + b->len, data, add);
    b->p = p;
    b->len += add;
    b->p[b->len] = '\0';
    return add;
}

void http_do_on(CURL *curl, int port, const char *method, const char *path, const char *body,
                size_t len, const char *const *headers, http_reply *out)
{
    char url[512];
    growbuf bbody = {0}, bhdrs = {0};
    struct curl_slist *list = NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, grow);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &bbody);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, grow);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &bhdrs);
    curl_easy_setopt(curl, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, NULL);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    } else {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    }
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        list = curl_slist_append(list, headers[i]);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);

    memset(out, 0, sizeof(*out));
    out->code = curl_easy_perform(curl);
    if (out->code == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &out->connects);
    curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME, &out->seconds);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(list);
    out->body = bbody.p != NULL ? bbody.p : strdup("");
    out->len = bbody.len;
    out->headers = bhdrs.p != NULL ? bhdrs.p : strdup("");
}

void http_do(int port, const char *method, const char *path, const char *body, size_t len,
             const char *const *headers, http_reply *out)
{
    CURL *curl = curl_easy_init();
    http_do_on(curl, port, method, path, body, len, headers, out);
    curl_easy_cleanup(curl);
}

void http_reply_free(http_reply *r)
{
    free(r->body);
    free(r->headers);
    r->body = r->headers = NULL;
}

const char *http_reply_header(const http_reply *r, const char *name, char *buf, size_t size)
{
    size_t n = strlen(name);
    for (const char *line = r->headers; line != NULL && *line; line = strchr(line, '\n')) {
        if (*line == '\n')
            line++;
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            size_t vlen = strcspn(v, "\r\n");
            if (vlen >= size)
                vlen = size - 1;
            memcpy(buf, v, vlen);
            buf[vlen] = '\0';
            return buf;
        }
    }
    return NULL;
}

/* --- raw sockets ---------------------------------------------------------------------------- */

int raw_connect(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return; /* the server may close early (413, 411): that is fine */
        p += n;
        len -= (size_t)n;
    }
}

char *raw_exchange(int port, const void *data, size_t len, size_t split, int delay_ms,
                   int timeout_ms, bool *closed)
{
    growbuf in = {0};
    int fd = raw_connect(port);
    *closed = false;
    if (fd < 0)
        return strdup("");
    if (split > 0 && split < len) {
        send_all(fd, data, split);
        sleep_ms(delay_ms);
        send_all(fd, (const char *)data + split, len - split);
    } else {
        send_all(fd, data, len);
    }
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        char buf[4096];
        if (poll(&pfd, 1, timeout_ms) <= 0)
            break;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            *closed = true;
            break;
        }
        grow(buf, 1, (size_t)n, &in);
    }
    close(fd);
    return in.p != NULL ? in.p : strdup("");
}

/* --- deferred responder --------------------------------------------------------------------- */

typedef struct job {
    ph_http_request *req;
    double due;
    int status;
    struct job *next;
} job;

struct deferred {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *jobs;
    bool stop;
};

static void *deferred_run(void *arg)
{
    deferred *d = arg;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        /* answer the earliest job that is due */
        job **best = NULL;
        for (job **j = &d->jobs; *j != NULL; j = &(*j)->next) {
            if (best == NULL || (*j)->due < (*best)->due)
                best = j;
        }
        if (best == NULL) {
            if (d->stop)
                break;
            pthread_cond_wait(&d->cv, &d->mu);
            continue;
        }
        double wait = (*best)->due - now_ms();
        if (wait > 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            long ns = ts.tv_nsec + (long)(wait * 1e6);
            ts.tv_sec += ns / 1000000000L;
            ts.tv_nsec = ns % 1000000000L;
            pthread_cond_timedwait(&d->cv, &d->mu, &ts);
            continue;
        }
        job *j = *best;
        *best = j->next;
        pthread_mutex_unlock(&d->mu);
        size_t len;
        const void *body = ph_http_request_body(j->req, &len);
        ph_http_respond(j->req, j->status ? j->status : 200, "application/octet-stream", body, len,
                        NULL);
        free(j);
        pthread_mutex_lock(&d->mu);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

deferred *deferred_start(void)
{
    deferred *d = calloc(1, sizeof(*d));
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    pthread_create(&d->thread, NULL, deferred_run, d);
    return d;
}

void deferred_echo(deferred *d, ph_http_request *req, int delay_ms, int status)
{
    job *j = calloc(1, sizeof(*j));
    j->req = req;
    j->due = now_ms() + delay_ms;
    j->status = status;
    pthread_mutex_lock(&d->mu);
    j->next = d->jobs;
    d->jobs = j;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

void deferred_stop(deferred *d)
{
    pthread_mutex_lock(&d->mu);
    d->stop = true;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
}
