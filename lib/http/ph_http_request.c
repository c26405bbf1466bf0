/* Requests: their lifetime against nng's, body reading, accessors and responses.
 * See ph_http_int.h for how nng drives a request and who finishes its aio. */
#include "ph_http_int.h"
#include "ph_error.h"
#include "ph_log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A client that announced a body must deliver it within this time (slow-loris guard). */
#define BODY_TIMEOUT_MS 30000

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* --- attaching to and detaching from nng ---------------------------------------------------- */

/* With srv->mu held: unlinks req from the pending list and marks it detached. Returns whether it
 * was attached, i.e. whether the caller now owns finishing the nng aio. */
static bool detach_locked(ph_http_server *srv, ph_http_request *req)
{
    if (!req->attached)
        return false;
    if (req->prev != NULL)
        req->prev->next = req->next;
    else
        srv->pending = req->next;
    if (req->next != NULL)
        req->next->prev = req->prev;
    req->prev = req->next = NULL;
    req->attached = false;
    pthread_mutex_lock(&req->mu);
    req->detached = true;
    pthread_mutex_unlock(&req->mu);
    return true;
}

static bool detach(ph_http_request *req)
{
    ph_http_server *srv = req->srv;
    pthread_mutex_lock(&srv->mu);
    bool was = detach_locked(srv, req);
    pthread_mutex_unlock(&srv->mu);
    return was;
}

/* nng's cancel function for a pending handler aio: called when nng closes the connection (server
 * stop). The argument is the server, not the request, because the request may be freed
 * concurrently by ph_http_respond; finding it in the pending list under srv->mu settles who
 * finishes the aio. */
static void on_cancel(nng_aio *aio, void *arg, int rv)
{
    ph_http_server *srv = arg;
    bool found = false;
    pthread_mutex_lock(&srv->mu);
    for (ph_http_request *req = srv->pending; req != NULL; req = req->next) {
        if (req->aio == aio) {
            found = detach_locked(srv, req);
            break;
        }
    }
    pthread_mutex_unlock(&srv->mu);
    if (found)
        nng_aio_finish(aio, rv != 0 ? rv : NNG_ECLOSED);
}

ph_http_request *ph_http_request_new(ph_http_server *srv, nng_aio *aio)
{
    nng_http_req *nreq = nng_aio_get_input(aio, 0);
    const char *method = nng_http_req_get_method(nreq);
    const char *uri = nng_http_req_get_uri(nreq);
    size_t mlen = strlen(method), ulen = strlen(uri);
    ph_http_request *req = calloc(1, sizeof(*req) + mlen + 1 + ulen + 1);
    if (req == NULL)
        return NULL;
    clock_gettime(CLOCK_MONOTONIC, &req->start);
    pthread_mutex_init(&req->mu, NULL);
    req->srv = srv;
    req->rt = &srv->other;
    req->aio = aio;
    req->nreq = nreq;
    req->conn = nng_aio_get_input(aio, 2);
    req->method = req->storage;
    memcpy(req->method, method, mlen + 1);
    char *p = req->storage + mlen + 1;
    memcpy(p, uri, ulen + 1);

    /* Absolute-form targets (http://host/path) are reduced to their path, as nng does. */
    if (strncasecmp(p, "http://", 7) == 0 || strncasecmp(p, "https://", 8) == 0) {
        char *slash = strchr(strstr(p, "://") + 3, '/');
        if (slash != NULL) {
            p = slash;
        } else {
            p[0] = '/'; /* "http://host" alone means "/" */
            p[1] = '\0';
        }
    }
    char *q = strchr(p, '?');
    if (q != NULL)
        *q++ = '\0';
    req->path = p;
    req->query = q != NULL ? q : "";

    atomic_fetch_add(&srv->alive, 1);
    if (srv->in_flight_gauge != NULL)
        ph_gauge_add(srv->in_flight_gauge, 1);
    pthread_mutex_lock(&srv->mu);
    req->attached = true;
    req->next = srv->pending;
    if (srv->pending != NULL)
        srv->pending->prev = req;
    srv->pending = req;
    pthread_mutex_unlock(&srv->mu);
    /* From here nng may cancel (stop) at any time. A stop that closed the aio before this call
     * makes nng_aio_defer a silent no-op; the caller's draining check (stop sets it first)
     * answers such a request at once. */
    nng_aio_defer(aio, on_cancel, srv);
    return req;
}

/* Frees req; the last free wakes a drain or destroy waiting for requests to end. */
static void request_free(ph_http_request *req)
{
    ph_http_server *srv = req->srv;
    for (ph_http_hdr_copy *h = req->hdrs, *next; h != NULL; h = next) {
        next = h->next;
        free(h);
    }
    pthread_mutex_destroy(&req->mu);
    free(req->body);
    free(req);
    if (srv->in_flight_gauge != NULL)
        ph_gauge_add(srv->in_flight_gauge, -1);
    if (atomic_fetch_sub(&srv->alive, 1) == 1 && atomic_load(&srv->waiting)) {
        pthread_mutex_lock(&srv->mu);
        pthread_cond_broadcast(&srv->cv);
        pthread_mutex_unlock(&srv->mu);
    }
}

/* The request's body could not be read (connection lost, timeout) or nng cancelled it: no
 * handler saw it, nobody will answer it. nng closes the connection. */
static void abandon(ph_http_request *req, int nng_rv)
{
    nng_aio *aio = req->aio;
    bool attached = detach(req);
    ph_log_debug(PH_HTTP_COMPONENT, "%s %s: request body not received: %s", req->method, req->path,
                 nng_strerror(nng_rv));
    request_free(req);
    if (attached)
        nng_aio_finish(aio, nng_rv != 0 ? nng_rv : NNG_ECLOSED);
}

/* --- metrics -------------------------------------------------------------------------------- */

/* Counts one answered request. Status counters are registered on first use (the registry is
 * thread-safe) and cached in an atomic slot, so the hot path is one atomic load. */
static void count_response(ph_http_request *req, int status)
{
    ph_http_server *srv = req->srv;
    ph_http_route *rt = req->rt;
    struct timespec now;
    if (srv->metrics == NULL || rt->by_status == NULL)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    ph_histogram_observe(rt->latency, (double)(now.tv_sec - req->start.tv_sec) +
                                          (double)(now.tv_nsec - req->start.tv_nsec) / 1e9);
    if (status < 0 || status >= PH_HTTP_MAX_STATUS)
        return;
    ph_counter *c = atomic_load_explicit(&rt->by_status[status], memory_order_acquire);
    if (c == NULL) {
        char labels[320];
        snprintf(labels, sizeof(labels), "%s,code=\"%d\"", rt->labels, status);
        c = ph_metrics_counter(srv->metrics, "pharos_http_requests_total",
                               "HTTP requests answered, by route, method and status code.", labels);
        if (c == NULL)
            return;
        atomic_store_explicit(&rt->by_status[status], c, memory_order_release);
    }
    ph_counter_inc(c);
}

/* --- responses ------------------------------------------------------------------------------ */

static int build_response(const ph_http_request *req, int status, const char *content_type,
                          const void *body, size_t len, const char *const *headers,
                          nng_http_res **out)
{
    nng_http_res *res = NULL;
    int rv = nng_http_res_alloc(&res);
    if (rv != 0)
        return rv;
    if ((rv = nng_http_res_set_status(res, (uint16_t)status)) != 0)
        goto fail;
    if (content_type != NULL &&
        (rv = nng_http_res_set_header(res, "Content-Type", content_type)) != 0)
        goto fail;
    for (size_t i = 0; headers != NULL && headers[i] != NULL && headers[i + 1] != NULL; i += 2) {
        if ((rv = nng_http_res_set_header(res, headers[i], headers[i + 1])) != 0)
            goto fail;
    }
    if (req->close_after && (rv = nng_http_res_set_header(res, "Connection", "close")) != 0)
        goto fail;
    /* set_data(NULL, 0) still writes "Content-Length: 0", which keep-alive clients need. */
    rv = len > 0 ? nng_http_res_copy_data(res, body, len) : nng_http_res_set_data(res, NULL, 0);
    if (rv != 0)
        goto fail;
    *out = res;
    return 0;
fail:
    nng_http_res_free(res);
    return rv;
}

void ph_http_respond(ph_http_request *req, int status, const char *content_type, const void *body,
                     size_t len, const char *const *headers)
{
    nng_aio *aio = req->aio;
    nng_http_res *res = NULL;
    int rv = 0;
    if (status < 200 || status > 599) {
        ph_log_warn(PH_HTTP_COMPONENT, "%s %s: invalid response status %d, sending 500",
                    req->method, req->path, status);
        status = 500;
        content_type = "application/json";
        body = "{\"error\":\"internal server error\"}";
        len = strlen(body);
        headers = NULL;
    }
    bool attached = detach(req);
    if (attached) {
        rv = build_response(req, status, content_type, body, len, headers, &res);
        count_response(req, status);
    }
    request_free(req);
    if (!attached)
        return; /* the server was stopped: nobody to answer */
    if (rv != 0) {
        nng_aio_finish(aio, rv); /* nng closes the connection */
        return;
    }
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

void ph_http_respond_json(ph_http_request *req, int status, const char *json_text)
{
    ph_http_respond(req, status, "application/json", json_text, strlen(json_text), NULL);
}

void ph_http_respond_error(ph_http_request *req, int status, const char *message)
{
    /* jansson does the escaping; if it cannot allocate, a fixed body still says what happened. */
    json_t *obj = json_pack("{s:s}", "error", message != NULL ? message : "");
    char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    ph_http_respond_json(req, status, text != NULL ? text : "{\"error\":\"unavailable\"}");
    free(text);
}

/* --- accessors ------------------------------------------------------------------------------ */

const char *ph_http_request_method(const ph_http_request *req)
{
    return req->method;
}

const char *ph_http_request_path(const ph_http_request *req)
{
    return req->path;
}

const char *ph_http_request_query(const ph_http_request *req)
{
    return req->query;
}

/* Values are copied because nng frees its request when the server stops, possibly while the
 * application still holds ours. */
const char *ph_http_request_header(ph_http_request *req, const char *name)
{
    const char *copy = NULL;
    pthread_mutex_lock(&req->mu);
    const char *v = req->detached ? NULL : nng_http_req_get_header(req->nreq, name);
    if (v != NULL) {
        size_t n = strlen(v);
        ph_http_hdr_copy *h = malloc(sizeof(*h) + n + 1);
        if (h != NULL) {
            memcpy(h->value, v, n + 1);
            h->next = req->hdrs;
            req->hdrs = h;
            copy = h->value;
        }
    }
    pthread_mutex_unlock(&req->mu);
    return copy;
}

const void *ph_http_request_body(const ph_http_request *req, size_t *len)
{
    *len = req->body_len;
    return req->body != NULL ? req->body : "";
}

/* --- body reading --------------------------------------------------------------------------- */

static void reader_done(void *arg);

static ph_http_reader *reader_get(ph_http_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    ph_http_reader *r = srv->free_readers;
    if (r != NULL)
        srv->free_readers = r->next;
    pthread_mutex_unlock(&srv->mu);
    if (r != NULL)
        return r;
    if ((r = calloc(1, sizeof(*r))) == NULL)
        return NULL;
    if (nng_aio_alloc(&r->aio, reader_done, r) != 0) {
        free(r);
        return NULL;
    }
    r->srv = srv;
    pthread_mutex_lock(&srv->mu);
    r->all = srv->all_readers;
    srv->all_readers = r;
    pthread_mutex_unlock(&srv->mu);
    return r;
}

/* Also called from the reader's own callback: another request may then start on the aio before
 * that callback returns, which nng allows; the caller must not touch r afterwards. */
static void reader_put(ph_http_server *srv, ph_http_reader *r)
{
    r->req = NULL;
    pthread_mutex_lock(&srv->mu);
    r->next = srv->free_readers;
    srv->free_readers = r;
    pthread_mutex_unlock(&srv->mu);
}

void ph_http_readers_free(ph_http_server *srv)
{
    for (ph_http_reader *r = srv->all_readers, *next; r != NULL; r = next) {
        next = r->all;
        nng_aio_free(r->aio);
        free(r);
    }
    srv->all_readers = srv->free_readers = NULL;
}

/* Starts the next I/O of the body phase. Holds srv->mu while submitting so that a concurrent
 * cancel cannot let nng free the connection under us; returns false if the request was
 * detached meanwhile (nothing submitted). */
static bool submit_io(ph_http_request *req)
{
    ph_http_server *srv = req->srv;
    nng_aio *aio = req->reader->aio;
    nng_iov iov;
    pthread_mutex_lock(&srv->mu);
    if (!req->attached) {
        pthread_mutex_unlock(&srv->mu);
        return false;
    }
    nng_aio_set_timeout(aio, BODY_TIMEOUT_MS);
    if (req->phase == PH_HTTP_PHASE_CONTINUE) {
        iov.iov_buf = (void *)continue_line; /* nng only reads it */
        iov.iov_len = sizeof(continue_line) - 1;
        nng_aio_set_iov(aio, 1, &iov);
        nng_http_conn_write_all(req->conn, aio);
    } else {
        iov.iov_buf = req->body;
        iov.iov_len = req->body_len;
        nng_aio_set_iov(aio, 1, &iov);
        nng_http_conn_read_all(req->conn, aio); /* drains nng's read buffer first */
    }
    pthread_mutex_unlock(&srv->mu);
    return true;
}

/* Gives the reader back and ends a request whose body I/O cannot go on. */
static void body_failed(ph_http_request *req, int nng_rv)
{
    ph_http_reader *r = req->reader;
    req->reader = NULL;
    reader_put(req->srv, r);
    abandon(req, nng_rv);
}

static void reader_done(void *arg)
{
    ph_http_reader *r = arg;
    ph_http_request *req = r->req;
    int rv = nng_aio_result(r->aio);
    if (rv != 0) {
        body_failed(req, rv);
        return;
    }
    if (req->phase == PH_HTTP_PHASE_CONTINUE) {
        req->phase = PH_HTTP_PHASE_BODY;
        if (!submit_io(req))
            body_failed(req, NNG_ECLOSED);
        return;
    }
    req->reader = NULL;
    reader_put(req->srv, r);
    ph_http_request_dispatch(req);
}

/* Reads req->body_len bytes, answering "Expect: 100-continue" first; the handler is called when
 * the body is complete. Called from the nng handler callback, where nreq is valid. */
void ph_http_request_begin_body(ph_http_request *req)
{
    const char *expect = nng_http_req_get_header(req->nreq, "Expect");
    if ((req->body = malloc(req->body_len + 1)) == NULL ||
        (req->reader = reader_get(req->srv)) == NULL) {
        req->close_after = true;
        ph_http_respond_error(req, 503, "out of memory");
        return;
    }
    req->body[req->body_len] = '\0';
    req->reader->req = req;
    req->phase = expect != NULL && strcasecmp(expect, "100-continue") == 0 ? PH_HTTP_PHASE_CONTINUE
                                                                           : PH_HTTP_PHASE_BODY;
    if (!submit_io(req))
        body_failed(req, NNG_ECLOSED);
}

/* Calls the route's handler, unless the server was stopped meanwhile. Counted, so that
 * ph_http_server_stop can wait for handler calls under way: those started from a body read run
 * on our reader's callback, which nng's stop is not documented to wait for (1.5.2 happened to
 * in our tests). */
void ph_http_request_dispatch(ph_http_request *req)
{
    ph_http_server *srv = req->srv;
    ph_http_route *rt = req->rt;
    pthread_mutex_lock(&srv->mu);
    bool attached = req->attached;
    if (attached)
        srv->dispatching++;
    pthread_mutex_unlock(&srv->mu);
    if (!attached) { /* stopped before the handler could run: nobody to answer */
        abandon(req, NNG_ECLOSED);
        return;
    }
    rt->fn(req, rt->arg); /* req may be answered and freed by now */
    pthread_mutex_lock(&srv->mu);
    if (--srv->dispatching == 0 && atomic_load(&srv->waiting))
        pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
}
