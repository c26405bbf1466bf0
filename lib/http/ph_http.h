/* The HTTP serving layer every service uses, on nng 1.5.2's HTTP server.
 *
 * A server listens on one address, routes (method, exact path) pairs to handlers and lets a
 * handler answer asynchronously, from any thread, long after it returned: the ingestor answers a
 * POST only once Kafka has acknowledged every record in it.
 *
 *   ph_http_server *srv;
 *   ph_http_server_new(&srv, "http://0.0.0.0:8080", err, sizeof(err));
 *   ph_http_server_route(srv, "POST", "/v1/logs", 4 << 20, on_logs, ctx, err, sizeof(err));
 *   ph_http_add_health_and_metrics(srv, metrics, health_fn, ctx);
 *   ph_http_server_set_metrics(srv, metrics);
 *   ph_http_server_start(srv, err, sizeof(err));
 *   ...                                  handlers run, ph_http_respond() answers
 *   ph_http_server_drain(srv, 5000);     SIGTERM: refuse new requests, let in-flight ones finish
 *   ph_http_server_stop(srv);            close the listener and every connection
 *   ph_http_server_destroy(srv);         waits until every request has been answered
 *
 * What the layer does on its own, before any handler runs (every error body is JSON,
 * {"error":"..."}, with Content-Type application/json):
 *  - 404 for a path no route has, 405 (with an Allow header) for a known path and another method.
 *    HEAD is served by the GET route (nng sends the headers without the body).
 *  - Request bodies are framed by Content-Length only. The body is read into memory only after
 *    the Content-Length was checked: above the route's max_body the answer is 413 without reading
 *    it; an unparsable (or repeated) Content-Length gets 400; any Transfer-Encoding (chunked) gets
 *    411, because nng 1.5.2 cannot decode chunked request bodies. These three close the
 *    connection, since the unread body would otherwise be taken for the next request. No
 *    Content-Length means an empty body. "Expect: 100-continue" is answered.
 *  - Keep-alive (HTTP/1.1) is nng's: the next request on a connection is read once the response
 *    to the previous one has been written. Many connections are served in parallel. nng 1.5.2
 *    has no timeout for idle connections or slowly sent headers, nor a connection limit; a body
 *    must arrive within 30 s of its headers, else the connection is closed.
 *  - Requests nng itself rejects (no Host header on HTTP/1.1: 400; a version other than HTTP/1.x:
 *    505) get a JSON body too, but nng labels it text/html. Requests that do not parse (garbage,
 *    headers over 8 KiB, a connection closed mid-headers) are dropped: nng closes the connection
 *    without an answer.
 *
 * Threads: ph_http_server_new/_route/_set_metrics/_start/_drain/_stop/_destroy are called from
 * one control thread, never from a handler. Handlers are called on nng's worker threads (its task
 * queue), several at once for different connections, with no lock of ours held: they must not
 * block (hand long work to another thread and answer later). ph_http_respond and the request
 * accessors may be called from any thread; one request is not to be used from two threads at once.
 *
 * nng 1.5.2 shares one server between every nng_http_server_hold() of the same host and port in a
 * process: a second ph_http_server on an address already in use by this process fails with
 * PH_EEXIST. Port 0 picks a free port (see ph_http_server_port). */
#ifndef PH_HTTP_H
#define PH_HTTP_H

#include <stddef.h>

#include "ph_metrics.h"

typedef struct ph_http_server ph_http_server;
typedef struct ph_http_request ph_http_request;

/* Called once per routed request, on an nng worker thread, with the body fully read. The handler
 * (or whoever it hands `req` to) must call ph_http_respond() exactly once. */
typedef void (*ph_http_handler_fn)(ph_http_request *req, void *arg);

/* Creates a server for `url`, "http://HOST:PORT" (e.g. "http://127.0.0.1:0" or
 * "http://0.0.0.0:8080"), without listening yet. Returns 0 and *out, or PH_EINVAL (bad URL),
 * PH_EEXIST (this process already serves that address), PH_ENOMEM, PH_EHTTP. */
int ph_http_server_new(ph_http_server **out, const char *url, char *errstr, size_t errstr_size);

/* Routes `method` (e.g. "POST"; matched exactly) on `path` (exact, without query string; a
 * trailing '/' in the request is ignored) to fn(req, arg). Bodies larger than max_body bytes are
 * refused with 413. `method` and `path` are copied; `arg` is borrowed and must outlive the
 * server. Only before ph_http_server_start. Returns 0, PH_EINVAL, PH_EEXIST (same method and
 * path twice), PH_ESTATE (already started) or PH_ENOMEM. */
int ph_http_server_route(ph_http_server *srv, const char *method, const char *path, size_t max_body,
                         ph_http_handler_fn fn, void *arg, char *errstr, size_t errstr_size);

/* Counts requests in `m` (borrowed; must outlive the server): pharos_http_requests_total{route,
 * method,code} (unrouted requests have route="other"), pharos_http_request_duration_seconds{route,
 * method} from the end of the request headers to the response, pharos_http_requests_in_flight.
 * Only before ph_http_server_start. Returns 0, PH_ESTATE or PH_ENOMEM. */
int ph_http_server_set_metrics(ph_http_server *srv, ph_metrics *m);

/* Registers GET /healthz and GET /metrics. /healthz calls health(arg, why, why_size) on an nng
 * worker thread: 0 means healthy (200 {"status":"ok"}); anything else gives 503
 * {"status":"unhealthy","reason":why}. health may be NULL (always healthy). /metrics renders `m`
 * (text/plain; version=0.0.4); when m is NULL it is not registered. m and arg are borrowed and
 * must outlive the server. Returns as ph_http_server_route. */
int ph_http_add_health_and_metrics(ph_http_server *srv, ph_metrics *m,
                                   int (*health)(void *arg, char *why, size_t why_size), void *arg);

/* Starts listening and serving. Returns 0, PH_ESTATE (started twice) or PH_EHTTP/PH_EIO (e.g.
 * the address is in use). */
int ph_http_server_start(ph_http_server *srv, char *errstr, size_t errstr_size);

/* The port the server is bound to (useful with port 0), or -1 before start. */
int ph_http_server_port(const ph_http_server *srv);

/* Graceful first half of a shutdown: from now on every new request is answered 503 with
 * "Connection: close" (connections are still accepted: nng 1.5.2 cannot close only its listener),
 * while requests already handed to a handler are left to finish. Waits until all of them have
 * been answered or timeout_ms passed. Returns 0, or PH_ETIMEDOUT with requests still pending
 * (they stay valid; see ph_http_server_stop). */
int ph_http_server_drain(ph_http_server *srv, int timeout_ms);

/* Stops accepting connections and closes every open one, including those whose request awaits
 * its answer (nng's stop is a hard stop). Returns once nng has torn the connections down and no
 * handler is running or will be called again (so handler state may be freed next); it does not
 * wait for answers. Requests still awaiting ph_http_respond() stay valid (method,
 * path, query, body, header values already read); each must still be answered, and that answer
 * is dropped and the request freed. Header lookups made after the stop return NULL. A request
 * whose body was still being received is dropped without reaching its handler. Idempotent. */
void ph_http_server_stop(ph_http_server *srv);

/* Stops the server if needed and frees it. Blocks until every request has been answered with
 * ph_http_respond() and nng has released the server: answer (or have answered) every pending
 * request first, from another thread if need be. NULL is a no-op. */
void ph_http_server_destroy(ph_http_server *srv);

/* --- requests ------------------------------------------------------------------------------
 * Every pointer below is borrowed from `req` and valid until ph_http_respond(req) is called,
 * also after the server was stopped; copy what must outlive the response. The peer address is
 * not offered: nng 1.5.2 has no public accessor for it (a proxy's X-Forwarded-For is a header). */

/* "GET", "POST", ... ("HEAD" for HEAD requests served by a GET route). */
const char *ph_http_request_method(const ph_http_request *req);

/* The request path without the query string, as sent (not percent-decoded). */
const char *ph_http_request_path(const ph_http_request *req);

/* The query string after '?', not decoded; "" when there is none. */
const char *ph_http_request_query(const ph_http_request *req);

/* The value of header `name` (case-insensitive), or NULL. A header sent several times reads as
 * its values joined by ", " (nng merges them). The value is a copy owned by req (nng frees its
 * own request when the server stops); after ph_http_server_stop the lookup returns NULL. */
const char *ph_http_request_header(ph_http_request *req, const char *name);

/* The body and its length (0 and a pointer to "" when empty). The body is followed by a NUL
 * byte not counted in *len, so text bodies can be parsed as strings; it may contain NULs
 * itself. */
const void *ph_http_request_body(const ph_http_request *req, size_t *len);

/* Answers `req` and frees it: exactly once per request, from any thread, at any time after the
 * handler was called (also from inside it). `content_type` may be NULL (no Content-Type).
 * `body` (len bytes; may be NULL when len is 0) and `headers` (NULL, or a NULL-terminated array
 * "name", "value", "name", "value", ..., NULL) are copied before the call returns. After the
 * call `req` and every pointer obtained from it are invalid. If the connection is gone (client
 * closed it, or the server was stopped), the response is dropped and the request freed all
 * the same. Never fails from the caller's view: when a response cannot be built (out of
 * memory), nng closes the connection. A `status` outside 200..599 is sent as 500. Headers named
 * twice keep the last value; Content-Length is set by the layer. */
void ph_http_respond(ph_http_request *req, int status, const char *content_type, const void *body,
                     size_t len, const char *const *headers);

/* ph_http_respond with Content-Type application/json and body json_text (NUL-terminated). */
void ph_http_respond_json(ph_http_request *req, int status, const char *json_text);

/* ph_http_respond_json with {"error": message} (message is JSON-escaped). */
void ph_http_respond_error(ph_http_request *req, int status, const char *message);

#endif
