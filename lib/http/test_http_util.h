/* Helpers for the HTTP tests: a libcurl client, a raw-socket client and a deferred responder
 * thread that answers requests later, from another thread, as the ingestor does. */
#ifndef PH_TEST_HTTP_UTIL_H
#define PH_TEST_HTTP_UTIL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "ph_http.h"

typedef struct http_reply {
    long status;   /* 0 when the transfer failed */
    CURLcode code; /* curl's result */
    char *body;    /* NUL-terminated */
    size_t len;
    char *headers;  /* raw response header block(s), NUL-terminated */
    long connects;  /* new connections curl opened for this transfer */
    double seconds; /* total time */
} http_reply;

/* One request on a new connection. headers is a NULL-terminated list of "Name: value" lines. */
void http_do(int port, const char *method, const char *path, const char *body, size_t len,
             const char *const *headers, http_reply *out);

/* The same on an existing handle, so that connections are reused (keep-alive). */
void http_do_on(CURL *curl, int port, const char *method, const char *path, const char *body,
                size_t len, const char *const *headers, http_reply *out);

void http_reply_free(http_reply *r);

/* Value of response header `name` (case-insensitive) copied into buf, or NULL. */
const char *http_reply_header(const http_reply *r, const char *name, char *buf, size_t size);

/* Raw socket exchange: connects, sends len bytes (after `delay_ms` between two halves when
 * split > 0), then reads until the peer closes or timeout_ms of silence. Returns what was read
 * (malloc'ed, NUL-terminated); *closed tells whether the server closed the connection. */
char *raw_exchange(int port, const void *data, size_t len, size_t split, int delay_ms,
                   int timeout_ms, bool *closed);

/* Opens a connected TCP socket to 127.0.0.1:port. */
int raw_connect(int port);

/* Deferred responder: answers requests on its own thread after a delay. */
typedef struct deferred deferred;
deferred *deferred_start(void);
/* Echoes the request body back with `status` after delay_ms (status 0: 200). */
void deferred_echo(deferred *d, ph_http_request *req, int delay_ms, int status);
/* Waits until every queued request was answered, then stops the thread. */
void deferred_stop(deferred *d);

/* Monotonic milliseconds. */
double now_ms(void);
void sleep_ms(int ms);

#endif
