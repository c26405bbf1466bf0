/* HTTP server on nng 1.5.2: one catch-all nng handler, our own routing and body framing.
 *
 * Why a single catch-all handler instead of one nng handler per route:
 *  - nng answers 404/405 itself with an HTML page (a custom error page still goes out as
 *    text/html, and 405 carries no Allow header); owning the routing gives JSON errors.
 *  - nng's body collection answers 400 when Content-Length exceeds the limit and ignores
 *    Transfer-Encoding (the chunks would be parsed as the next request). We want 413 without
 *    reading the body, 411 for chunked bodies, and the limit per route: so collection is off and
 *    ph_http_request.c reads exactly Content-Length bytes from the connection itself. */
#include "ph_http_int.h"
#include "ph_error.h"
#include "ph_log.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- small helpers -------------------------------------------------------------------------- */

static int nng_to_ph(int rv)
{
    switch (rv) {
    case 0:
        return PH_OK;
    case NNG_ENOMEM:
        return PH_ENOMEM;
    case NNG_EINVAL:
    case NNG_EADDRINVAL:
        return PH_EINVAL;
    case NNG_EADDRINUSE:
        return PH_EEXIST;
    default:
        return PH_EHTTP;
    }
}

/* Strict Content-Length: digits with optional surrounding blanks, no sign, no overflow. nng joins
 * repeated headers with ", ", so a repeated Content-Length fails here too. */
static bool parse_content_length(const char *v, uint64_t *out)
{
    uint64_t n = 0;
    bool digits = false;
    while (*v == ' ' || *v == '\t')
        v++;
    for (; *v >= '0' && *v <= '9'; v++) {
        if (n > (UINT64_MAX - 9) / 10)
            return false;
        n = n * 10 + (uint64_t)(*v - '0');
        digits = true;
    }
    while (*v == ' ' || *v == '\t')
        v++;
    if (!digits || *v != '\0')
        return false;
    *out = n;
    return true;
}

static bool before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Waits on srv->cv until cond(srv) holds or the absolute CLOCK_REALTIME deadline (NULL: none)
 * passes; returns cond(srv). Wakes up every 100 ms, because the wake-up in request_free is only
 * sent while `waiting` is set and may race with setting it. */
static bool wait_until(ph_http_server *srv, bool (*cond)(ph_http_server *),
                       const struct timespec *deadline)
{
    bool ok;
    atomic_store(&srv->waiting, true);
    pthread_mutex_lock(&srv->mu);
    while (!(ok = cond(srv))) {
        struct timespec next;
        clock_gettime(CLOCK_REALTIME, &next);
        if (deadline != NULL && !before(&next, deadline))
            break;
        next.tv_nsec += 100 * 1000000L;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_sec++;
            next.tv_nsec -= 1000000000L;
        }
        if (deadline != NULL && before(deadline, &next))
            next = *deadline;
        pthread_cond_timedwait(&srv->cv, &srv->mu, &next);
    }
    pthread_mutex_unlock(&srv->mu);
    return ok;
}

static bool no_requests(ph_http_server *srv)
{
    return atomic_load(&srv->alive) == 0;
}

static bool no_handler_running(ph_http_server *srv)
{
    return srv->dispatching == 0;
}

static bool nng_done(ph_http_server *srv)
{
    return srv->released && atomic_load(&srv->alive) == 0;
}

/* --- routing -------------------------------------------------------------------------------- */

static bool path_matches(const char *route_path, const char *path)
{
    size_t n = strlen(route_path);
    if (strncmp(route_path, path, n) != 0)
        return false;
    return path[n] == '\0' || (path[n] == '/' && path[n + 1] == '\0' && n > 1);
}

/* Finds the route; when there is none, writes the Allow list of a known path into allow (empty
 * when the path is unknown). HEAD is served by the GET route. */
static ph_http_route *find_route(ph_http_server *srv, const char *method, const char *path,
                                 char *allow, size_t allow_size)
{
    bool head = strcmp(method, "HEAD") == 0;
    size_t used = 0;
    allow[0] = '\0';
    for (size_t i = 0; i < srv->nroutes; i++) {
        ph_http_route *rt = &srv->routes[i];
        if (!path_matches(rt->path, path))
            continue;
        if (strcmp(rt->method, method) == 0 || (head && strcmp(rt->method, "GET") == 0))
            return rt;
        int n = snprintf(allow + used, allow_size - used, "%s%s%s", used ? ", " : "", rt->method,
                         strcmp(rt->method, "GET") == 0 ? ", HEAD" : "");
        if (n > 0 && (size_t)n < allow_size - used)
            used += (size_t)n;
    }
    return NULL;
}

/* Checks how the body is framed; answers and returns false when the request cannot proceed.
 * The three refusals close the connection: the unread body would be taken for a request. */
static bool check_framing(ph_http_request *req)
{
    const char *te = nng_http_req_get_header(req->nreq, "Transfer-Encoding");
    const char *cl = nng_http_req_get_header(req->nreq, "Content-Length");
    uint64_t len = 0;
    if (te != NULL) {
        req->close_after = true;
        ph_http_respond_json(req, 411,
                             "{\"error\":\"chunked request bodies are not supported: send "
                             "Content-Length\"}");
        return false;
    }
    if (cl != NULL && !parse_content_length(cl, &len)) {
        req->close_after = true;
        ph_http_respond_json(req, 400, "{\"error\":\"invalid Content-Length\"}");
        return false;
    }
    if (len > req->rt->max_body) {
        char msg[96];
        snprintf(msg, sizeof(msg), "{\"error\":\"request body larger than %zu bytes\"}",
                 req->rt->max_body);
        req->close_after = true;
        ph_http_respond_json(req, 413, msg);
        return false;
    }
    req->body_len = (size_t)len;
    return true;
}

static void answer_unrouted(ph_http_request *req, const char *allow)
{
    const char *hdrs[] = {"Allow", allow, NULL};
    const char *body =
        allow[0] ? "{\"error\":\"method not allowed\"}" : "{\"error\":\"not found\"}";
    /* A body, if any, is left unread: close the connection after the answer. */
    req->close_after = nng_http_req_get_header(req->nreq, "Content-Length") != NULL ||
                       nng_http_req_get_header(req->nreq, "Transfer-Encoding") != NULL;
    ph_http_respond(req, allow[0] ? 405 : 404, "application/json", body, strlen(body),
                    allow[0] ? hdrs : NULL);
}

/* nng's handler callback, on an nng task-queue thread, for every request of every connection.
 * nng's request and connection stay valid until this returns (see ph_http_int.h), even if the
 * request gets cancelled meanwhile. Once the request is answered, `req` must not be touched. */
static void on_request(nng_aio *aio)
{
    nng_http_handler *nh = nng_aio_get_input(aio, 1);
    ph_http_server *srv = nng_http_handler_get_data(nh);
    char allow[128];

    ph_http_request *req = ph_http_request_new(srv, aio);
    if (req == NULL) {
        nng_aio_finish(aio, NNG_ENOMEM); /* nng closes the connection */
        return;
    }
    if (atomic_load(&srv->draining)) {
        req->close_after = true;
        ph_http_respond_json(req, 503, "{\"error\":\"server is shutting down\"}");
        return;
    }
    ph_http_route *rt = find_route(srv, req->method, req->path, allow, sizeof(allow));
    if (rt == NULL) {
        answer_unrouted(req, allow);
        return;
    }
    req->rt = rt;
    if (!check_framing(req))
        return;
    if (req->body_len > 0) {
        ph_http_request_begin_body(req);
        return;
    }
    ph_http_request_dispatch(req);
}

/* --- server lifecycle ----------------------------------------------------------------------- */

/* nng's destructor for our handler data: runs once nng holds no reference to the handler any
 * more, i.e. after the server is released and no handler call is under way. */
static void on_released(void *arg)
{
    ph_http_server *srv = arg;
    pthread_mutex_lock(&srv->mu);
    srv->released = true;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
}

/* Bodies for the errors nng still produces itself (it sends them as text/html). */
static const struct {
    uint16_t status;
    const char *body;
} error_pages[] = {
    {400, "{\"error\":\"bad request\"}"},
    {404, "{\"error\":\"not found\"}"},
    {405, "{\"error\":\"method not allowed\"}"},
    {500, "{\"error\":\"internal server error\"}"},
    {505, "{\"error\":\"HTTP version not supported\"}"},
};

static void server_free(ph_http_server *srv)
{
    ph_http_readers_free(srv);
    for (size_t i = 0; i < srv->nroutes; i++) {
        free(srv->routes[i].by_status);
        free(srv->routes[i].method);
        free(srv->routes[i].path);
    }
    free(srv->other.by_status);
    free(srv->routes);
    nng_url_free(srv->url);
    pthread_cond_destroy(&srv->cv);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}

static int attach_handler(ph_http_server *srv, const char *url, char *errstr, size_t errstr_size)
{
    int rv;
    for (size_t i = 0; i < sizeof(error_pages) / sizeof(error_pages[0]); i++)
        nng_http_server_set_error_page(srv->nsrv, error_pages[i].status, error_pages[i].body);
    /* The catch-all: every path ("/" as a tree), every method (NULL), no body collection. */
    if ((rv = nng_http_handler_alloc(&srv->nh, "/", on_request)) != 0 ||
        (rv = nng_http_handler_set_tree(srv->nh)) != 0 ||
        (rv = nng_http_handler_set_method(srv->nh, NULL)) != 0 ||
        (rv = nng_http_handler_collect_body(srv->nh, false, 0)) != 0 ||
        (rv = nng_http_handler_set_data(srv->nh, srv, on_released)) != 0) {
        if (srv->nh != NULL)
            nng_http_handler_free(srv->nh);
        srv->nh = NULL;
        return ph_err(errstr, errstr_size, nng_to_ph(rv), "cannot create HTTP handler: %s",
                      nng_strerror(rv));
    }
    if ((rv = nng_http_server_add_handler(srv->nsrv, srv->nh)) != 0) {
        nng_http_handler_free(srv->nh); /* calls on_released: harmless */
        srv->nh = NULL;
        return ph_err(errstr, errstr_size, nng_to_ph(rv),
                      "cannot serve %s: %s (does this process serve it already?)", url,
                      nng_strerror(rv));
    }
    return PH_OK;
}

int ph_http_server_new(ph_http_server **out, const char *url, char *errstr, size_t errstr_size)
{
    int rv;
    ph_http_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->cv, NULL);
    srv->port = -1;
    srv->other.method = "";
    srv->other.path = "other";
    if (url == NULL || nng_url_parse(&srv->url, url) != 0 ||
        strcmp(srv->url->u_scheme, "http") != 0) {
        rv = ph_err(errstr, errstr_size, PH_EINVAL,
                    "invalid listen URL '%s' (want http://HOST:PORT)", url ? url : "(null)");
        goto fail;
    }
    if ((rv = nng_http_server_hold(&srv->nsrv, srv->url)) != 0) {
        rv = ph_err(errstr, errstr_size, nng_to_ph(rv), "cannot create HTTP server for %s: %s", url,
                    nng_strerror(rv));
        goto fail;
    }
    if ((rv = attach_handler(srv, url, errstr, errstr_size)) != PH_OK)
        goto fail;
    *out = srv;
    return PH_OK;
fail:
    if (srv->nsrv != NULL)
        nng_http_server_release(srv->nsrv); /* no handler of ours: nothing to wait for */
    server_free(srv);
    return rv;
}

int ph_http_server_route(ph_http_server *srv, const char *method, const char *path, size_t max_body,
                         ph_http_handler_fn fn, void *arg, char *errstr, size_t errstr_size)
{
    if (srv->started)
        return ph_err(errstr, errstr_size, PH_ESTATE, "routes must be added before start");
    if (method == NULL || method[0] == '\0' || strcmp(method, "HEAD") == 0 || path == NULL ||
        path[0] != '/' || fn == NULL)
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "a route needs a method (not HEAD), a path starting with '/' and a handler");
    size_t plen = strlen(path);
    while (plen > 1 && path[plen - 1] == '/')
        plen--;
    for (size_t i = 0; i < srv->nroutes; i++) {
        if (strcmp(srv->routes[i].method, method) == 0 &&
            strncmp(srv->routes[i].path, path, plen) == 0 && srv->routes[i].path[plen] == '\0')
            return ph_err(errstr, errstr_size, PH_EEXIST, "route %s %s registered twice", method,
                          path);
    }
    ph_http_route *routes = realloc(srv->routes, (srv->nroutes + 1) * sizeof(*routes));
    if (routes == NULL)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    srv->routes = routes;
    ph_http_route *rt = &routes[srv->nroutes];
    memset(rt, 0, sizeof(*rt));
    rt->method = strdup(method);
    rt->path = strndup(path, plen);
    if (rt->method == NULL || rt->path == NULL) {
        free(rt->method);
        free(rt->path);
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    }
    rt->max_body = max_body;
    rt->fn = fn;
    rt->arg = arg;
    srv->nroutes++;
    return PH_OK;
}

int ph_http_server_set_metrics(ph_http_server *srv, ph_metrics *m)
{
    if (srv->started)
        return PH_ESTATE;
    srv->metrics = m;
    return PH_OK;
}

static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};

static int metrics_init(ph_http_server *srv, char *errstr, size_t errstr_size)
{
    ph_metrics *m = srv->metrics;
    srv->in_flight_gauge = ph_metrics_gauge(m, "pharos_http_requests_in_flight",
                                            "HTTP requests received and not yet answered.", NULL);
    if (srv->in_flight_gauge == NULL)
        return ph_err(errstr, errstr_size, PH_EINVAL, "cannot register HTTP metrics");
    for (size_t i = 0; i <= srv->nroutes; i++) {
        ph_http_route *rt = i < srv->nroutes ? &srv->routes[i] : &srv->other;
        if (ph_metrics_labels(rt->labels, sizeof(rt->labels), "route", rt->path, "method",
                              rt->method, NULL) != PH_OK)
            return ph_err(errstr, errstr_size, PH_EINVAL, "route %s too long for a label",
                          rt->path);
        rt->latency = ph_metrics_histogram(
            m, "pharos_http_request_duration_seconds",
            "Time from the end of the request headers to the response, by route.", rt->labels,
            latency_bounds, sizeof(latency_bounds) / sizeof(latency_bounds[0]));
        rt->by_status = calloc(PH_HTTP_MAX_STATUS, sizeof(*rt->by_status));
        if (rt->latency == NULL || rt->by_status == NULL)
            return ph_err(errstr, errstr_size, PH_ENOMEM, "cannot register HTTP metrics for %s",
                          rt->path);
    }
    return PH_OK;
}

int ph_http_server_start(ph_http_server *srv, char *errstr, size_t errstr_size)
{
    nng_sockaddr sa;
    int rv;
    if (srv->started)
        return ph_err(errstr, errstr_size, PH_ESTATE, "server already started");
    if (srv->metrics != NULL && srv->in_flight_gauge == NULL &&
        (rv = metrics_init(srv, errstr, errstr_size)) != PH_OK)
        return rv;
    srv->started = true; /* routes are read without a lock from here on */
    if ((rv = nng_http_server_start(srv->nsrv)) != 0) {
        srv->started = false;
        return ph_err(errstr, errstr_size, nng_to_ph(rv) == PH_EEXIST ? PH_EIO : nng_to_ph(rv),
                      "cannot listen on %s: %s", srv->url->u_rawurl, nng_strerror(rv));
    }
    /* With port 0, nng 1.5.2 reports the port the listener was actually bound to. */
    if (nng_http_server_get_addr(srv->nsrv, &sa) == 0) {
        if (sa.s_family == NNG_AF_INET)
            srv->port = ntohs(sa.s_in.sa_port);
        else if (sa.s_family == NNG_AF_INET6)
            srv->port = ntohs(sa.s_in6.sa_port);
    }
    ph_log_info(PH_HTTP_COMPONENT, "listening on http://%s:%d (%zu routes)", srv->url->u_hostname,
                srv->port, srv->nroutes);
    return PH_OK;
}

int ph_http_server_port(const ph_http_server *srv)
{
    return srv->port;
}

int ph_http_server_drain(ph_http_server *srv, int timeout_ms)
{
    struct timespec deadline;
    atomic_store(&srv->draining, true);
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    if (wait_until(srv, no_requests, &deadline))
        return PH_OK;
    ph_log_warn(PH_HTTP_COMPONENT, "drain: %zu requests still unanswered after %d ms",
                atomic_load(&srv->alive), timeout_ms);
    return PH_ETIMEDOUT;
}

void ph_http_server_stop(ph_http_server *srv)
{
    if (srv == NULL || !srv->started || srv->stopped)
        return;
    srv->stopped = true;
    /* Set before nng's stop, so that a request racing with it is answered 503 at once instead
     * of waiting for a cancel that nng may no longer deliver (see ph_http_request_new). */
    atomic_store(&srv->draining, true);
    /* Closes the listener and every connection, cancels pending requests through on_cancel and
     * returns once nng has torn the connections down. */
    nng_http_server_stop(srv->nsrv);
    /* Every request is detached now, so no new handler call can start (dispatch checks under
     * srv->mu); wait for those under way, which may use state the caller frees next. */
    wait_until(srv, no_handler_running, NULL);
    ph_log_info(PH_HTTP_COMPONENT, "stopped serving port %d", srv->port);
}

void ph_http_server_destroy(ph_http_server *srv)
{
    if (srv == NULL)
        return;
    atomic_store(&srv->draining, true);
    ph_http_server_stop(srv);
    /* Releasing our hold makes nng drop the handler on its reaper thread; on_released() tells
     * when nng will no longer call or reference us. Then wait for the application to answer the
     * requests it still holds: they point to this server. */
    nng_http_server_release(srv->nsrv);
    for (;;) {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 5;
        if (wait_until(srv, nng_done, &deadline))
            break;
        ph_log_warn(PH_HTTP_COMPONENT, "destroy: waiting for %zu unanswered requests",
                    atomic_load(&srv->alive));
    }
    server_free(srv);
}

/* --- built-in routes ------------------------------------------------------------------------ */

static void on_healthz(ph_http_request *req, void *arg)
{
    ph_http_server *srv = arg;
    char why[256] = "";
    if (srv->health == NULL || srv->health(srv->health_arg, why, sizeof(why)) == 0) {
        ph_http_respond_json(req, 200, "{\"status\":\"ok\"}");
        return;
    }
    json_t *obj = json_pack("{s:s,s:s}", "status", "unhealthy", "reason", why);
    char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    ph_http_respond_json(req, 503, text != NULL ? text : "{\"status\":\"unhealthy\"}");
    free(text);
}

static void on_metrics(ph_http_request *req, void *arg)
{
    ph_http_server *srv = arg;
    char *text = NULL;
    size_t len = 0;
    if (ph_metrics_render(srv->exposed, &text, &len) != PH_OK) {
        ph_http_respond_error(req, 500, "cannot render metrics");
        return;
    }
    ph_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL);
    free(text);
}

int ph_http_add_health_and_metrics(ph_http_server *srv, ph_metrics *m,
                                   int (*health)(void *arg, char *why, size_t why_size), void *arg)
{
    int rv;
    char err[PH_ERRSTR_SIZE];
    if (srv->started)
        return PH_ESTATE;
    srv->health = health;
    srv->health_arg = arg;
    srv->exposed = m;
    if ((rv = ph_http_server_route(srv, "GET", "/healthz", 0, on_healthz, srv, err, sizeof(err))) !=
        PH_OK)
        goto fail;
    if (m != NULL && (rv = ph_http_server_route(srv, "GET", "/metrics", 0, on_metrics, srv, err,
                                                sizeof(err))) != PH_OK)
        goto fail;
    return PH_OK;
fail:
    ph_log_error(PH_HTTP_COMPONENT, "%s", err);
    return rv;
}
