/* Internals shared by ph_http_server.c (lifecycle, routing) and ph_http_request.c (requests,
 * bodies, responses). Not installed; nothing outside lib/http includes it.
 *
 * How nng 1.5.2 drives us (src/supplemental/http/http_server.c, checked against the installed
 * library by the tests): after parsing the request headers, nng calls our single catch-all
 * handler on one of its task-queue threads, from the connection's receive callback, with an aio
 * whose inputs are 0: nng_http_req *, 1: nng_http_handler *, 2: nng_http_conn *. The connection
 * then stays idle until that aio is finished: with result 0, output 0 is the nng_http_res * that
 * nng writes (and frees), after which it reads the next request on the connection (keep-alive);
 * with an error, nng closes the connection. nng's request object and connection are freed by its
 * reaper only after the aio is finished and the receive callback (hence our synchronous handler
 * call) has returned.
 *
 * nng_http_server_stop() closes every connection and then WAITS until every such aio is finished.
 * So each request registers a cancel function (nng_aio_defer): on stop, nng calls it and we
 * finish the aio with NNG_ECLOSED at once, "detaching" the request from nng. A detached request
 * still works for the application (method, path, query and body are our own copies, header
 * values read before are copied too) until ph_http_respond() frees it; its response is dropped.
 *
 * Who finishes the nng aio, exactly once: whoever unlinks the request from srv->pending under
 * srv->mu (ph_http_respond, the cancel function, or a failed body read). Lock order:
 * nng's server lock -> srv->mu -> req->mu -> nng's connection lock. */
#ifndef PH_HTTP_INT_H
#define PH_HTTP_INT_H

#include "ph_http.h"

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#define PH_HTTP_COMPONENT "http"

/* Status codes we count per route (0..MAX_STATUS-1). */
#define PH_HTTP_MAX_STATUS 600

/* One route; srv->other is the pseudo-route unrouted requests are counted under. */
typedef struct ph_http_route {
    char *method;
    char *path; /* no trailing '/', except "/" itself */
    size_t max_body;
    ph_http_handler_fn fn;
    void *arg;
    /* metrics: filled at start when the server has a registry */
    char labels[256];
    ph_histogram *latency;
    _Atomic(ph_counter *) *by_status; /* PH_HTTP_MAX_STATUS slots, registered on first use */
} ph_http_route;

/* An nng aio that reads request bodies (and writes "100 Continue"). Pooled per server, because
 * an aio cannot be freed from its own callback, which is where a body read ends. */
typedef struct ph_http_reader {
    nng_aio *aio;
    ph_http_server *srv;
    ph_http_request *req;        /* the request being read, NULL when idle */
    struct ph_http_reader *next; /* free list */
    struct ph_http_reader *all;  /* every reader, for destroy */
} ph_http_reader;

struct ph_http_server {
    nng_url *url;
    nng_http_server *nsrv;
    nng_http_handler *nh; /* the catch-all; owned by nsrv once added */
    ph_http_route *routes;
    size_t nroutes;
    ph_http_route other;
    ph_metrics *metrics;
    ph_gauge *in_flight_gauge;
    /* for the built-in /healthz and /metrics routes */
    ph_metrics *exposed;
    int (*health)(void *arg, char *why, size_t why_size);
    void *health_arg;
    int port;
    bool started, stopped;
    atomic_bool draining; /* new requests get 503 */
    atomic_bool waiting;  /* drain/destroy wait for `alive` to drop to 0 */
    atomic_size_t alive;  /* request objects not yet freed */

    pthread_mutex_t mu; /* guards what follows */
    pthread_cond_t cv;
    ph_http_request *pending; /* attached requests (their nng aio not yet finished) */
    size_t dispatching;       /* handler calls under way */
    bool released;            /* nng dropped its last reference to our handler */
    ph_http_reader *free_readers;
    ph_http_reader *all_readers;
};

enum ph_http_phase { PH_HTTP_PHASE_HEADERS, PH_HTTP_PHASE_CONTINUE, PH_HTTP_PHASE_BODY };

typedef struct ph_http_hdr_copy {
    struct ph_http_hdr_copy *next;
    char value[];
} ph_http_hdr_copy;

struct ph_http_request {
    ph_http_server *srv;
    ph_http_route *rt; /* &srv->other until routed */
    nng_aio *aio;      /* nng's handler aio */
    nng_http_req *nreq;
    nng_http_conn *conn;
    struct ph_http_request *prev, *next; /* srv->pending, under srv->mu */
    bool attached;                       /* in srv->pending, under srv->mu */
    pthread_mutex_t mu;                  /* guards detached and hdrs */
    bool detached;                       /* nreq must not be used any more */
    ph_http_hdr_copy *hdrs;
    char *method, *path, *query; /* point into storage */
    char *body;
    size_t body_len;
    ph_http_reader *reader;
    enum ph_http_phase phase;
    bool close_after; /* the body was not consumed: the connection must not be reused */
    struct timespec start;
    char storage[]; /* method NUL uri NUL */
};

/* ph_http_request.c */
ph_http_request *ph_http_request_new(ph_http_server *srv, nng_aio *aio);
void ph_http_request_begin_body(ph_http_request *req);
void ph_http_request_dispatch(ph_http_request *req);
void ph_http_readers_free(ph_http_server *srv);

#endif
