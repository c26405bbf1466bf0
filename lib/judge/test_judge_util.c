#include "test_judge_util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ph_error.h"
#include "ph_util.h"

int jsrv_start(jsrv *s, int delay_ms)
{
    const char *python = getenv("PHAROS_PYTHON");
    const char *src = getenv("PHAROS_SOURCE_DIR");
    char script[1024], delay[32];
    int fds[2];
    memset(s, 0, sizeof(*s));
    snprintf(script, sizeof(script), "%s/tests/judge_server.py", src ? src : ".");
    snprintf(delay, sizeof(delay), "%d", delay_ms);
    if (pipe(fds) != 0)
        return -1;
    pid_t ppid = getpid();
    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        /* Never outlive the test, even when it is killed by CTest's timeout. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != ppid)
            _exit(1);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execlp(python ? python : "python3", python ? python : "python3", script, "--port", "0",
               "--delay-ms", delay, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char line[64] = {0};
    size_t got = 0;
    int64_t deadline = ph_mono_ms() + 15000;
    while (got < sizeof(line) - 1 && !strchr(line, '\n') && ph_mono_ms() < deadline) {
        struct pollfd p = {fds[0], POLLIN, 0};
        if (poll(&p, 1, 200) <= 0)
            continue;
        ssize_t n = read(fds[0], line + got, sizeof(line) - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    if (sscanf(line, "PORT %d", &s->port) != 1) {
        fprintf(stderr, "judge_server.py did not start (%s)\n", script);
        jsrv_stop(s);
        return -1;
    }
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d/v1", s->port);
    return 0;
}

void jsrv_stop(jsrv *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    s->pid = 0;
}

typedef struct body {
    char *s;
    size_t n;
} body;

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    body *b = userp;
    char *grown = realloc(b->s, b->n + size * nmemb + 1);
    if (!grown)
        return 0;
    b->s = grown;
    memcpy(b->s + b->n, data, size * nmemb);
    b->n += size * nmemb;
    b->s[b->n] = '\0';
    return size * nmemb;
}

static json_t *call(const jsrv *s, const char *path, const char *post)
{
    char url[128];
    body b = {NULL, 0};
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, path);
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    if (post)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post);
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_cleanup(curl);
    assert_int_equal(rc, CURLE_OK);
    json_error_t e;
    json_t *root = json_loads(b.s ? b.s : "", 0, &e);
    free(b.s);
    assert_non_null(root);
    return root;
}

json_t *jsrv_stats(const jsrv *s)
{
    return call(s, "/stats", NULL);
}

int jsrv_count(const jsrv *s, const char *id)
{
    json_t *st = jsrv_stats(s);
    int n = (int)json_integer_value(json_object_get(json_object_get(st, "ids"), id));
    json_decref(st);
    return n;
}

int jsrv_max_inflight(const jsrv *s)
{
    json_t *st = jsrv_stats(s);
    int n = (int)json_integer_value(json_object_get(st, "max_inflight"));
    json_decref(st);
    return n;
}

void jsrv_control(const jsrv *s, int delay_ms, const char *marker)
{
    json_t *req = json_pack("{s:i, s:s}", "delay_ms", delay_ms, "marker", marker ? marker : "");
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(call(s, "/control", text));
    free(text);
    json_decref(req);
}

void jsrv_reset(const jsrv *s)
{
    json_decref(call(s, "/reset", "{}"));
}

ph_str tstr(const char *s)
{
    ph_str str = {s ? s : "", s ? strlen(s) : 0};
    return str;
}

void trec_init(trec *t, const char *id, const char *input, const char *output, const char *context)
{
    memset(t, 0, sizeof(*t));
    t->msgs[0].role = tstr("system");
    t->msgs[0].content = tstr("You are a helpful assistant.");
    t->msgs[1].role = tstr("user");
    t->msgs[1].content = tstr(input);
    t->ctx[0].id = tstr("doc1");
    t->ctx[0].content = tstr(context);
    ph_eval_record *r = &t->rec;
    r->record_id = tstr(id);
    r->session_id = tstr(NULL);
    r->trace_id = tstr(id);
    r->app = tstr("support-bot");
    r->environment = tstr("production");
    r->model = tstr("gpt-4o-mini");
    r->route = tstr(NULL);
    r->messages = t->msgs;
    r->nmessages = 2;
    r->output = tstr(output);
    r->context = t->ctx;
    r->ncontext = context ? 1 : 0;
}

void collect(void *opaque, const ph_eval_result *result, void *arg)
{
    collector *c = arg;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->items = realloc(c->items, c->cap * sizeof(*c->items));
        assert_non_null(c->items);
    }
    c->items[c->n].id = (intptr_t)opaque;
    c->items[c->n].r = *result;
    c->n++;
}

void collector_free(collector *c)
{
    free(c->items);
    memset(c, 0, sizeof(*c));
}

size_t collector_count(const collector *c, intptr_t id)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += c->items[i].id == id;
    return n;
}

const ph_eval_result *collector_find(const collector *c, intptr_t id, const char *evaluator)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->items[i].id == id && (!evaluator || !strcmp(c->items[i].r.evaluator, evaluator)))
            return &c->items[i].r;
    return NULL;
}

int64_t drain(ph_judge *j, collector *c, int timeout_ms)
{
    int64_t start = ph_mono_ms();
    while (ph_judge_pending(j) > 0 && ph_mono_ms() - start < timeout_ms)
        ph_judge_poll(j, 50, collect, c);
    return ph_mono_ms() - start;
}

ph_judge *judge_from(const char *config_fmt, const char *url)
{
    char text[4096], errstr[PH_ERRSTR_SIZE] = "";
    snprintf(text, sizeof(text), config_fmt, url);
    json_error_t e;
    json_t *config = json_loads(text, 0, &e);
    if (!config)
        fail_msg("bad test config: %s: %s", e.text, text);
    ph_judge *j = NULL;
    int rc = ph_judge_new(&j, config, errstr, sizeof(errstr));
    json_decref(config);
    if (rc != PH_OK)
        fail_msg("ph_judge_new: %s", errstr);
    return j;
}
