/* The HTTP server over real loopback connections: routing, 404/405 as JSON, headers, answers
 * given later from another thread while other connections are served, keep-alive, many
 * parallel requests, /healthz and /metrics, and stop/drain/destroy with requests still pending. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"
#include "ph_http.h"
#include "ph_log.h"
#include "ph_metrics.h"
#include "test_http_util.h"

typedef struct fixture {
    ph_http_server *srv;
    ph_metrics *m;
    deferred *d;
    int port;
    atomic_bool healthy;
    /* requests parked by /hold until a test answers them */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ph_http_request *held[8];
    int nheld;
    atomic_int blocking; /* 1: /block handler entered, 2: it returned */
} fixture;

static void on_hello(ph_http_request *req, void *arg)
{
    char json[512];
    snprintf(json, sizeof(json), "{\"method\":\"%s\",\"path\":\"%s\",\"query\":\"%s\"}",
             ph_http_request_method(req), ph_http_request_path(req), ph_http_request_query(req));
    ph_http_respond_json(req, 200, json);
}

static void on_echo(ph_http_request *req, void *arg)
{
    size_t len;
    const void *body = ph_http_request_body(req, &len);
    const char *ctype = ph_http_request_header(req, "content-type");
    const char *hdrs[] = {"X-Echo", "yes", NULL};
    ph_http_respond(req, 200, ctype, body, len, hdrs);
}

static void on_headers(ph_http_request *req, void *arg)
{
    char text[512];
    const char *a = ph_http_request_header(req, "x-TEST");
    const char *b = ph_http_request_header(req, "X-Dup");
    const char *c = ph_http_request_header(req, "X-Absent");
    snprintf(text, sizeof(text), "%s|%s|%s", a ? a : "(null)", b ? b : "(null)", c ? c : "(null)");
    ph_http_respond(req, 200, "text/plain", text, strlen(text), NULL);
}

static void on_slow(ph_http_request *req, void *arg)
{
    fixture *f = arg;
    deferred_echo(f->d, req, 500, 202);
}

static void on_async(ph_http_request *req, void *arg)
{
    fixture *f = arg;
    deferred_echo(f->d, req, rand() % 3, 200);
}

static void on_hold(ph_http_request *req, void *arg)
{
    fixture *f = arg;
    pthread_mutex_lock(&f->mu);
    f->held[f->nheld++] = req;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* Blocks its nng thread on purpose (handlers must not): stop must wait for it to return. */
static void on_block(ph_http_request *req, void *arg)
{
    fixture *f = arg;
    atomic_store(&f->blocking, 1);
    sleep_ms(300);
    ph_http_respond_json(req, 200, "{}");
    atomic_store(&f->blocking, 2);
}

static ph_http_request *wait_held(fixture *f, int n)
{
    double deadline = now_ms() + 5000;
    pthread_mutex_lock(&f->mu);
    while (f->nheld < n && now_ms() < deadline) {
        pthread_mutex_unlock(&f->mu);
        sleep_ms(5);
        pthread_mutex_lock(&f->mu);
    }
    ph_http_request *req = f->nheld >= n ? f->held[n - 1] : NULL;
    pthread_mutex_unlock(&f->mu);
    return req;
}

static int health(void *arg, char *why, size_t size)
{
    fixture *f = arg;
    if (atomic_load(&f->healthy))
        return 0;
    snprintf(why, size, "kafka \"down\"");
    return -1;
}

static int setup(void **state)
{
    char err[PH_ERRSTR_SIZE];
    fixture *f = calloc(1, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    atomic_store(&f->healthy, true);
    f->m = ph_metrics_new();
    f->d = deferred_start();
    assert_int_equal(ph_http_server_new(&f->srv, "http://127.0.0.1:0", err, sizeof(err)), 0);
    assert_int_equal(ph_http_server_port(f->srv), -1);
    assert_int_equal(
        ph_http_server_route(f->srv, "GET", "/hello", 0, on_hello, f, err, sizeof(err)), 0);
    assert_int_equal(
        ph_http_server_route(f->srv, "POST", "/echo", 1024, on_echo, f, err, sizeof(err)), 0);
    assert_int_equal(
        ph_http_server_route(f->srv, "PUT", "/echo", 1024, on_echo, f, err, sizeof(err)), 0);
    assert_int_equal(
        ph_http_server_route(f->srv, "GET", "/headers", 0, on_headers, f, err, sizeof(err)), 0);
    assert_int_equal(
        ph_http_server_route(f->srv, "POST", "/slow", 1024, on_slow, f, err, sizeof(err)), 0);
    assert_int_equal(
        ph_http_server_route(f->srv, "POST", "/async", 65536, on_async, f, err, sizeof(err)), 0);
    assert_int_equal(
        ph_http_server_route(f->srv, "POST", "/hold", 1024, on_hold, f, err, sizeof(err)), 0);
    assert_int_equal(
        ph_http_server_route(f->srv, "POST", "/block", 1024, on_block, f, err, sizeof(err)), 0);
    assert_int_equal(ph_http_add_health_and_metrics(f->srv, f->m, health, f), 0);
    assert_int_equal(ph_http_server_set_metrics(f->srv, f->m), 0);
    assert_int_equal(ph_http_server_start(f->srv, err, sizeof(err)), 0);
    f->port = ph_http_server_port(f->srv);
    assert_true(f->port > 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    deferred_stop(f->d);            /* answers whatever is queued, so destroy does not wait */
    ph_http_server_destroy(f->srv); /* NULL when the test destroyed it */
    ph_metrics_destroy(f->m);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
    return 0;
}

static void test_routing(void **state)
{
    fixture *f = *state;
    http_reply r;
    char hdr[128];

    http_do(f->port, "GET", "/hello?x=1&y=%20", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"method\":\"GET\",\"path\":\"/hello\",\"query\":\"x=1&y=%20\"}");
    assert_string_equal(http_reply_header(&r, "Content-Type", hdr, sizeof(hdr)),
                        "application/json");
    http_reply_free(&r);

    http_do(f->port, "GET", "/hello/", NULL, 0, NULL, &r); /* trailing slash is the same route */
    assert_int_equal(r.status, 200);
    http_reply_free(&r);

    http_do(f->port, "HEAD", "/hello", NULL, 0, NULL, &r); /* HEAD served by GET, no body */
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    assert_non_null(http_reply_header(&r, "Content-Length", hdr, sizeof(hdr)));
    assert_true(atoi(hdr) > 0);
    http_reply_free(&r);

    http_do(f->port, "POST", "/echo", "ping", 4, (const char *[]){"Content-Type: text/x-a", NULL},
            &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ping");
    assert_string_equal(http_reply_header(&r, "Content-Type", hdr, sizeof(hdr)), "text/x-a");
    assert_string_equal(http_reply_header(&r, "X-Echo", hdr, sizeof(hdr)), "yes");
    http_reply_free(&r);

    http_do(f->port, "PUT", "/echo", "pong", 4, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "pong");
    http_reply_free(&r);

    http_do(f->port, "GET", "/echo", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.body, "{\"error\":\"method not allowed\"}");
    assert_string_equal(http_reply_header(&r, "Allow", hdr, sizeof(hdr)), "POST, PUT");
    assert_string_equal(http_reply_header(&r, "Content-Type", hdr, sizeof(hdr)),
                        "application/json");
    http_reply_free(&r);

    http_do(f->port, "DELETE", "/hello", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(http_reply_header(&r, "Allow", hdr, sizeof(hdr)), "GET, HEAD");
    http_reply_free(&r);

    const char *const unknown[] = {"/nope", "/", "/hello/world", "/hellox", "/echo2"};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        http_do(f->port, "GET", unknown[i], NULL, 0, NULL, &r);
        assert_int_equal(r.status, 404);
        assert_string_equal(r.body, "{\"error\":\"not found\"}");
        assert_string_equal(http_reply_header(&r, "Content-Type", hdr, sizeof(hdr)),
                            "application/json");
        http_reply_free(&r);
    }
    http_do(f->port, "POST", "/nope", "body", 4, NULL, &r);
    assert_int_equal(r.status, 404);
    http_reply_free(&r);
}

static void test_headers(void **state)
{
    fixture *f = *state;
    http_reply r;
    const char *hdrs[] = {"X-Test: one", "X-Dup: a", "x-dup: b", NULL};
    http_do(f->port, "GET", "/headers", NULL, 0, hdrs, &r);
    assert_int_equal(r.status, 200);
    /* case-insensitive names; a repeated header reads as its values joined by ", " */
    assert_string_equal(r.body, "one|a, b|(null)");
    http_reply_free(&r);
}

typedef struct slow_call {
    int port;
    http_reply r;
} slow_call;

static void *do_slow(void *arg)
{
    slow_call *c = arg;
    http_do(c->port, "POST", "/slow", "later", 5, NULL, &c->r);
    return NULL;
}

static void test_async_response(void **state)
{
    fixture *f = *state;
    slow_call slow = {.port = f->port};
    pthread_t t;
    double t0 = now_ms();
    assert_int_equal(pthread_create(&t, NULL, do_slow, &slow), 0);
    sleep_ms(100); /* the slow request is now waiting for its answer */

    http_reply r;
    http_do(f->port, "GET", "/hello", NULL, 0, NULL, &r);
    double fast_done = now_ms() - t0;
    assert_int_equal(r.status, 200);
    http_reply_free(&r);
    assert_true(fast_done < 450); /* served while /slow still waits for its 500 ms answer */

    pthread_join(t, NULL);
    assert_int_equal(slow.r.status, 202);
    assert_string_equal(slow.r.body, "later");
    assert_true(slow.r.seconds >= 0.45);
    http_reply_free(&slow.r);
}

static void test_keepalive(void **state)
{
    fixture *f = *state;
    CURL *curl = curl_easy_init();
    http_reply r;
    for (int i = 0; i < 6; i++) {
        switch (i % 3) {
        case 0:
            http_do_on(curl, f->port, "GET", "/hello", NULL, 0, NULL, &r);
            assert_int_equal(r.status, 200);
            break;
        case 1:
            http_do_on(curl, f->port, "POST", "/async", "abc", 3, NULL, &r);
            assert_int_equal(r.status, 200);
            assert_string_equal(r.body, "abc");
            break;
        default:
            http_do_on(curl, f->port, "GET", "/missing", NULL, 0, NULL, &r);
            assert_int_equal(r.status, 404); /* an error answer keeps the connection */
            break;
        }
        assert_int_equal(r.connects, i == 0 ? 1 : 0);
        http_reply_free(&r);
    }
    curl_easy_cleanup(curl);
}

enum { PAR_THREADS = 16, PAR_REQUESTS = 40 };

typedef struct par_arg {
    int port;
    int id;
    int ok;
} par_arg;

static void *par_client(void *arg)
{
    par_arg *a = arg;
    CURL *curl = curl_easy_init();
    for (int i = 0; i < PAR_REQUESTS; i++) {
        char body[64];
        http_reply r;
        snprintf(body, sizeof(body), "client %d request %d", a->id, i);
        http_do_on(curl, a->port, "POST", "/async", body, strlen(body), NULL, &r);
        if (r.status == 200 && strcmp(r.body, body) == 0)
            a->ok++;
        http_reply_free(&r);
    }
    curl_easy_cleanup(curl);
    return NULL;
}

static void test_parallel(void **state)
{
    fixture *f = *state;
    pthread_t t[PAR_THREADS];
    par_arg args[PAR_THREADS];
    for (int i = 0; i < PAR_THREADS; i++) {
        args[i] = (par_arg){.port = f->port, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, par_client, &args[i]), 0);
    }
    for (int i = 0; i < PAR_THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(args[i].ok, PAR_REQUESTS);
    }
}

static void test_health_and_metrics(void **state)
{
    fixture *f = *state;
    http_reply r;
    char hdr[128];

    http_do(f->port, "GET", "/healthz", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"ok\"}");
    http_reply_free(&r);
    atomic_store(&f->healthy, false);
    http_do(f->port, "GET", "/healthz", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "{\"status\":\"unhealthy\",\"reason\":\"kafka \\\"down\\\"\"}");
    http_reply_free(&r);

    for (int i = 0; i < 3; i++) {
        http_do(f->port, "GET", "/hello", NULL, 0, NULL, &r);
        http_reply_free(&r);
    }
    http_do(f->port, "GET", "/nowhere", NULL, 0, NULL, &r);
    http_reply_free(&r);

    http_do(f->port, "GET", "/metrics", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(http_reply_header(&r, "Content-Type", hdr, sizeof(hdr)),
                        "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(r.body, "# TYPE pharos_http_requests_total counter\n"));
    assert_non_null(strstr(
        r.body, "pharos_http_requests_total{route=\"/hello\",method=\"GET\",code=\"200\"} 3\n"));
    assert_non_null(strstr(
        r.body, "pharos_http_requests_total{route=\"/healthz\",method=\"GET\",code=\"503\"} 1\n"));
    assert_non_null(
        strstr(r.body, "pharos_http_requests_total{route=\"other\",method=\"\",code=\"404\"} 1\n"));
    assert_non_null(strstr(r.body, "pharos_http_request_duration_seconds_count{route=\"/hello\","
                                   "method=\"GET\"} 3\n"));
    /* the /metrics request itself is in flight while rendering */
    assert_non_null(strstr(r.body, "pharos_http_requests_in_flight 1\n"));
    http_reply_free(&r);
}

static void test_stop_with_pending(void **state)
{
    fixture *f = *state;
    char req[] = "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nheld";
    int fd = raw_connect(f->port);
    assert_true(fd >= 0);
    assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    ph_http_request *held = wait_held(f, 1);
    assert_non_null(held);
    const char *host = ph_http_request_header(held, "Host"); /* a copy, read before the stop */

    ph_http_server_stop(f->srv);
    ph_http_server_stop(f->srv); /* idempotent */
    /* the connection is closed without an answer, but the request stays usable */
    char buf[64];
    assert_true(recv(fd, buf, sizeof(buf), 0) <= 0);
    close(fd);
    size_t len;
    assert_memory_equal(ph_http_request_body(held, &len), "held", 4);
    assert_string_equal(ph_http_request_path(held), "/hold");
    assert_string_equal(host, "x");
    assert_null(ph_http_request_header(held, "Host")); /* nng's request is gone */
    ph_http_respond_json(held, 200, "{}");             /* dropped, freed */

    /* no new connections */
    bool closed;
    char *out =
        raw_exchange(f->port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32, 0, 0, 300, &closed);
    assert_null(strstr(out, "200"));
    free(out);
}

static void test_client_gone_pending(void **state)
{
    fixture *f = *state;
    char req[] = "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi";
    int fd = raw_connect(f->port);
    assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    ph_http_request *held = wait_held(f, 1);
    assert_non_null(held);
    close(fd);
    sleep_ms(100); /* nng notices the closed connection */

    http_reply r; /* other clients are still served meanwhile */
    http_do(f->port, "GET", "/hello", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    http_reply_free(&r);

    size_t len;
    assert_memory_equal(ph_http_request_body(held, &len), "hi", 2);
    ph_http_respond_json(held, 200, "{}");
}

static void test_stop_during_body(void **state)
{
    fixture *f = *state;
    /* the body never completes: the request is being read when the server stops */
    char req[] = "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten..";
    int fd = raw_connect(f->port);
    assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    sleep_ms(100);
    double t0 = now_ms();
    ph_http_server_stop(f->srv);
    assert_true(now_ms() - t0 < 1000); /* nng's stop does not wait for the body */
    char buf[64];
    assert_true(recv(fd, buf, sizeof(buf), 0) <= 0);
    close(fd);
    assert_int_equal(f->nheld, 0); /* the handler never saw it */
}

static void test_stop_waits_for_handlers(void **state)
{
    fixture *f = *state;
    /* with a body, so that the handler runs from the body read, not from nng's own callback */
    char req[] = "POST /block HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
    int fd = raw_connect(f->port);
    assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    double deadline = now_ms() + 5000;
    while (atomic_load(&f->blocking) == 0 && now_ms() < deadline)
        sleep_ms(5);
    assert_int_equal(atomic_load(&f->blocking), 1);
    ph_http_server_stop(f->srv);
    assert_int_equal(atomic_load(&f->blocking), 2); /* the handler had returned */
    close(fd);
}

typedef struct late_answer {
    ph_http_request *req;
    int delay_ms;
} late_answer;

static void *answer_late(void *arg)
{
    late_answer *a = arg;
    sleep_ms(a->delay_ms);
    ph_http_respond_json(a->req, 200, "{}");
    return NULL;
}

static void test_destroy_waits_for_answers(void **state)
{
    fixture *f = *state;
    char req[] = "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx";
    int fd = raw_connect(f->port);
    assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    late_answer a = {.req = wait_held(f, 1), .delay_ms = 300};
    assert_non_null(a.req);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, answer_late, &a), 0);
    double t0 = now_ms();
    ph_http_server_destroy(f->srv); /* stops at once, then waits for the answer */
    f->srv = NULL;
    assert_true(now_ms() - t0 >= 250);
    pthread_join(t, NULL);
    close(fd);
}

typedef struct drain_call {
    ph_http_server *srv;
    int rv;
} drain_call;

static void *do_drain(void *arg)
{
    drain_call *c = arg;
    c->rv = ph_http_server_drain(c->srv, 5000);
    return NULL;
}

static void test_drain(void **state)
{
    fixture *f = *state;
    char req[] = "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx";
    int fd = raw_connect(f->port);
    assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    ph_http_request *held = wait_held(f, 1);
    assert_non_null(held);

    /* nothing answers: drain times out */
    assert_int_equal(ph_http_server_drain(f->srv, 50), PH_ETIMEDOUT);

    drain_call c = {.srv = f->srv, .rv = 1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, do_drain, &c), 0);
    sleep_ms(50);

    http_reply r; /* new requests are refused while draining */
    char hdr[64];
    http_do(f->port, "GET", "/hello", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(http_reply_header(&r, "Connection", hdr, sizeof(hdr)), "close");
    http_reply_free(&r);

    ph_http_respond_json(held, 201, "{\"done\":true}"); /* the in-flight one still completes */
    pthread_join(t, NULL);
    assert_int_equal(c.rv, 0);
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "HTTP/1.1 201"));
    assert_non_null(strstr(buf, "{\"done\":true}"));
    close(fd);
    ph_http_server_stop(f->srv);
}

static void test_api_errors(void **state)
{
    fixture *f = *state;
    char err[PH_ERRSTR_SIZE];
    ph_http_server *srv = NULL;
    ph_http_server_destroy(NULL);
    assert_int_equal(ph_http_server_new(&srv, "tcp://127.0.0.1:0", err, sizeof(err)), PH_EINVAL);
    assert_int_equal(ph_http_server_new(&srv, "not a url", err, sizeof(err)), PH_EINVAL);
    assert_null(srv);
    assert_int_equal(ph_http_server_route(f->srv, "GET", "/late", 0, on_hello, f, err, sizeof(err)),
                     PH_ESTATE);
    assert_int_equal(ph_http_server_set_metrics(f->srv, f->m), PH_ESTATE);

    assert_int_equal(ph_http_server_new(&srv, "http://127.0.0.1:0", err, sizeof(err)), 0);
    assert_int_equal(ph_http_server_route(srv, "GET", "/a", 0, on_hello, f, err, sizeof(err)), 0);
    assert_int_equal(ph_http_server_route(srv, "GET", "/a/", 0, on_hello, f, err, sizeof(err)),
                     PH_EEXIST);
    assert_int_equal(ph_http_server_route(srv, "HEAD", "/a", 0, on_hello, f, err, sizeof(err)),
                     PH_EINVAL);
    assert_int_equal(ph_http_server_route(srv, "GET", "a", 0, on_hello, f, err, sizeof(err)),
                     PH_EINVAL);
    ph_http_server_destroy(srv); /* never started */

    /* the same address twice in one process: nng would share the server */
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", f->port);
    srv = NULL;
    int rv = ph_http_server_new(&srv, url, err, sizeof(err));
    if (rv == 0) { /* nng gave us a new server: then listening must fail */
        assert_int_not_equal(ph_http_server_start(srv, err, sizeof(err)), 0);
        ph_http_server_destroy(srv);
    } else {
        assert_int_equal(rv, PH_EEXIST);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    ph_log_set_level(PH_LOG_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_routing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_and_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_with_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_gone_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_during_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_waits_for_handlers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_waits_for_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_errors, setup, teardown),
    };
    int rv = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rv;
}
