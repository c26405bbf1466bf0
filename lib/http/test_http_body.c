/* Request bodies and malformed requests: Content-Length limits (413 without reading the body),
 * chunked bodies (411), bad Content-Length (400), empty bodies, 100-continue, bodies arriving in
 * pieces, pipelining, and garbage that must neither crash the server nor stop it serving. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ph_error.h"
#include "ph_http.h"
#include "ph_log.h"
#include "test_http_util.h"

#define ECHO_MAX 1024

typedef struct fixture {
    ph_http_server *srv;
    int port;
    int calls; /* handler calls, only read after the requests completed */
} fixture;

static void on_echo(ph_http_request *req, void *arg)
{
    fixture *f = arg;
    size_t len;
    const char *body = ph_http_request_body(req, &len);
    char hdr[32];
    f->calls++;
    assert_int_equal(body[len], '\0'); /* bodies are NUL-terminated for in-place parsing */
    snprintf(hdr, sizeof(hdr), "%zu", len);
    const char *hdrs[] = {"X-Body-Length", hdr, NULL};
    ph_http_respond(req, 200, "application/octet-stream", body, len, hdrs);
}

static void on_hello(ph_http_request *req, void *arg)
{
    ph_http_respond_json(req, 200, "{\"hello\":true}");
}

static int setup(void **state)
{
    char err[PH_ERRSTR_SIZE];
    fixture *f = calloc(1, sizeof(*f));
    assert_int_equal(ph_http_server_new(&f->srv, "http://127.0.0.1:0", err, sizeof(err)), 0);
    assert_int_equal(
        ph_http_server_route(f->srv, "POST", "/echo", ECHO_MAX, on_echo, f, err, sizeof(err)), 0);
    assert_int_equal(
        ph_http_server_route(f->srv, "POST", "/big", 4 << 20, on_echo, f, err, sizeof(err)), 0);
    assert_int_equal(
        ph_http_server_route(f->srv, "GET", "/hello", 0, on_hello, f, err, sizeof(err)), 0);
    assert_int_equal(ph_http_server_start(f->srv, err, sizeof(err)), 0);
    f->port = ph_http_server_port(f->srv);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ph_http_server_destroy(f->srv);
    free(f);
    return 0;
}

/* The server still answers a normal request. */
static void assert_alive(fixture *f)
{
    http_reply r;
    http_do(f->port, "GET", "/hello", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    http_reply_free(&r);
}

static char *raw(fixture *f, const char *text, bool *closed)
{
    return raw_exchange(f->port, text, strlen(text), 0, 0, 1000, closed);
}

static void test_empty_body(void **state)
{
    fixture *f = *state;
    http_reply r;
    char hdr[32];
    http_do(f->port, "POST", "/echo", "", 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    assert_string_equal(http_reply_header(&r, "X-Body-Length", hdr, sizeof(hdr)), "0");
    http_reply_free(&r);

    bool closed; /* no Content-Length at all: an empty body too */
    char *out = raw(f, "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &closed);
    assert_non_null(strstr(out, "HTTP/1.1 200"));
    assert_non_null(strstr(out, "X-Body-Length: 0"));
    free(out);
}

static void test_body_limit(void **state)
{
    fixture *f = *state;
    http_reply r;
    char *body = malloc(ECHO_MAX + 1);
    memset(body, 'a', ECHO_MAX + 1);

    http_do(f->port, "POST", "/echo", body, ECHO_MAX, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, ECHO_MAX);
    http_reply_free(&r);

    int before = f->calls;
    http_do(f->port, "POST", "/echo", body, ECHO_MAX + 1, NULL, &r);
    assert_int_equal(r.status, 413);
    assert_string_equal(r.body, "{\"error\":\"request body larger than 1024 bytes\"}");
    http_reply_free(&r);
    assert_int_equal(f->calls, before); /* the handler never saw it */
    free(body);

    /* A huge announced body is refused at once, without waiting for (or reading) it. */
    bool closed;
    double t0 = now_ms();
    char *out = raw(f,
                    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000\r\n\r\n"
                    "only a few bytes",
                    &closed);
    assert_non_null(strstr(out, "HTTP/1.1 413"));
    assert_non_null(strstr(out, "Connection: close"));
    assert_true(closed);
    assert_true(now_ms() - t0 < 900);
    free(out);
    assert_alive(f);
}

static void test_large_body(void **state)
{
    fixture *f = *state;
    size_t n = 3 << 20;
    char *body = malloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)('a' + i % 26);
    http_reply r;
    http_do(f->port, "POST", "/big", body, n, (const char *[]){"Expect:", NULL}, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, n);
    assert_memory_equal(r.body, body, n);
    http_reply_free(&r);
    free(body);
}

static void test_expect_continue(void **state)
{
    fixture *f = *state;
    http_reply r;
    /* curl waits up to 1 s for "100 Continue" before sending the body anyway */
    http_do(f->port, "POST", "/echo", "hello", 5, (const char *[]){"Expect: 100-continue", NULL},
            &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello");
    assert_true(r.seconds < 0.5);
    http_reply_free(&r);

    /* Too large: the final answer comes instead of 100 Continue. */
    char big[2048];
    memset(big, 'b', sizeof(big));
    http_do(f->port, "POST", "/echo", big, sizeof(big),
            (const char *[]){"Expect: 100-continue", NULL}, &r);
    assert_int_equal(r.status, 413);
    http_reply_free(&r);
}

static void test_chunked(void **state)
{
    fixture *f = *state;
    bool closed;
    int before = f->calls;
    char *out = raw(f,
                    "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhello\r\n0\r\n\r\n",
                    &closed);
    assert_non_null(strstr(out, "HTTP/1.1 411"));
    assert_non_null(strstr(out, "Content-Type: application/json"));
    assert_non_null(strstr(out, "{\"error\":\"chunked request bodies are not supported"));
    assert_true(closed);
    free(out);

    /* TE wins over Content-Length (RFC 9112 6.3): still refused. */
    out = raw(f,
              "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
              "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
              &closed);
    assert_non_null(strstr(out, "HTTP/1.1 411"));
    free(out);
    assert_int_equal(f->calls, before);

    /* The same through libcurl (it sends chunked when told to). */
    http_reply r;
    http_do(f->port, "POST", "/echo", "hello", 5,
            (const char *[]){"Transfer-Encoding: chunked", NULL}, &r);
    assert_int_equal(r.status, 411);
    http_reply_free(&r);
    assert_alive(f);
}

static void test_bad_content_length(void **state)
{
    fixture *f = *state;
    const char *const values[] = {
        "abc",
        "-1",
        "+5",
        "1 2",
        "",
        "0x10",
        "99999999999999999999999",
        "5\r\nContent-Length: 5",
        "5\r\nContent-Length: 6",
    };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char req[256];
        bool closed;
        snprintf(req, sizeof(req),
                 "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %s\r\n\r\nhello", values[i]);
        char *out = raw(f, req, &closed);
        /* "" may be dropped by nng's parser instead; anything else must be our 400 */
        if (values[i][0] != '\0' || out[0] != '\0') {
            assert_non_null(strstr(out, "HTTP/1.1 400"));
            assert_non_null(strstr(out, "invalid Content-Length"));
        }
        assert_true(closed);
        free(out);
    }
    assert_int_equal(f->calls, 0);
    assert_alive(f);
}

static void test_body_in_pieces(void **state)
{
    fixture *f = *state;
    const char req[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
                       "Connection: close\r\n\r\n0123456789";
    bool closed;
    /* headers and part of the body, a pause, then the rest */
    size_t split = strlen(req) - 6;
    char *out = raw_exchange(f->port, req, strlen(req), split, 200, 1000, &closed);
    assert_non_null(strstr(out, "HTTP/1.1 200"));
    assert_non_null(strstr(out, "\r\n\r\n0123456789"));
    free(out);
    /* split inside the headers */
    out = raw_exchange(f->port, req, strlen(req), 20, 100, 1000, &closed);
    assert_non_null(strstr(out, "\r\n\r\n0123456789"));
    free(out);
}

static void test_pipelined(void **state)
{
    fixture *f = *state;
    bool closed;
    char *out = raw(f,
                    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none"
                    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ntwo"
                    "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                    &closed);
    char *one = strstr(out, "\r\n\r\none");
    char *two = strstr(out, "\r\n\r\ntwo");
    char *three = strstr(out, "{\"hello\":true}");
    assert_non_null(one);
    assert_non_null(two);
    assert_non_null(three);
    assert_true(one < two && two < three);
    assert_true(closed);
    free(out);
}

static void test_malformed(void **state)
{
    fixture *f = *state;
    bool closed;
    char *out;
    static const char *const garbage[] = {
        "GARBAGE\r\n\r\n",
        "\x01\x02\x03\x04\r\n\r\n",
        "GET\r\n\r\n",
        "GET /hello\r\n\r\n",
        "GET /hello HTTP/1.1\r\nNo colon here\r\n\r\n",
        "GET /hello HTTP/1.1\r\nHost: x\r\n\x7f\x01"
        "bad\r\n\r\n",
        "\r\n\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        out = raw(f, garbage[i], &closed);
        /* either an error answer or a dropped connection; never a success, never a hang */
        assert_null(strstr(out, "HTTP/1.1 200"));
        free(out);
    }

    out = raw(f, "GET /hello HTTP/2.0\r\nHost: x\r\n\r\n", &closed);
    assert_non_null(strstr(out, "HTTP/1.1 505"));
    free(out);
    out = raw(f, "GET /hello HTTP/1.1\r\n\r\n", &closed); /* HTTP/1.1 without Host */
    assert_non_null(strstr(out, "HTTP/1.1 400"));
    assert_non_null(strstr(out, "{\"error\":\"bad request\"}"));
    free(out);

    /* truncated headers, then the client half-closes */
    int fd = raw_connect(f->port);
    const char partial[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Le";
    assert_int_equal(send(fd, partial, strlen(partial), 0), (ssize_t)strlen(partial));
    shutdown(fd, SHUT_WR);
    char buf[256];
    assert_true(recv(fd, buf, sizeof(buf), 0) <= 0);
    close(fd);

    /* a body cut short by the client closing */
    fd = raw_connect(f->port);
    const char cut[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten..";
    assert_int_equal(send(fd, cut, strlen(cut), 0), (ssize_t)strlen(cut));
    sleep_ms(50);
    close(fd);

    /* headers larger than nng's 8 KiB buffer */
    size_t big = 16384;
    char *huge = malloc(big + 64);
    int n = snprintf(huge, big + 64, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(huge + n, 'x', big);
    memcpy(huge + n + big, "\r\n\r\n", 5);
    out = raw(f, huge, &closed);
    assert_null(strstr(out, "HTTP/1.1 200"));
    free(out);
    free(huge);

    sleep_ms(100);
    assert_int_equal(f->calls, 0);
    assert_alive(f);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    ph_log_set_level(PH_LOG_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expect_continue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_content_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_in_pieces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
    };
    int rv = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rv;
}
