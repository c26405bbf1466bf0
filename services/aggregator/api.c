/* The aggregator's HTTP side (docs/api.md): GET /api/v1/metrics and /api/v1/summary from the
 * store, through a read-only lib/agg reader, and the dashboard's files (web_assets.c).
 *
 * Handlers run on nng's worker threads; the reader (its own SQLite connection: WAL lets it read
 * while the main loop commits, and it sees committed data only) is shared under a mutex, which
 * is simple and enough for a dashboard's few requests per second. JSON is written with yajl's
 * generator, streaming: a week of points for many groups never becomes a tree in memory. */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "aggregator_int.h"
#include "ph_error.h"
#include "ph_http.h"
#include "ph_log.h"
#include "ph_util.h"
#include "web_assets.h"

#define MAX_METRIC_FILTERS 64
#define DEFAULT_RANGE_MS   3600000LL
#define MAX_POINTS_DEFAULT 300

struct ph_api {
    char *db_path;
    int64_t window_ms;
    pthread_mutex_t lock;
    ph_agg_reader *reader; /* opened at the first query */
};

/* ---- parameters -------------------------------------------------------------------------------
 */

typedef struct params {
    char buf[4096]; /* decoded values, NUL-separated */
    const char *from, *to, *step, *app, *environment, *model, *group_by, *metrics;
} params;

static int hexval(char c)
{
    return isdigit((unsigned char)c) ? c - '0'
           : (c >= 'a' && c <= 'f')  ? c - 'a' + 10
           : (c >= 'A' && c <= 'F')  ? c - 'A' + 10
                                     : -1;
}

/* Splits and percent-decodes the query string into p (unknown keys are refused: a typo in a
 * filter must not silently widen the answer). */
static int parse_query(const char *q, params *p, char *errstr, size_t errstr_size)
{
    memset(p, 0, sizeof(*p));
    size_t o = 0;
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', n);
        size_t klen = eq ? (size_t)(eq - q) : n;
        char key[32];
        if (klen == 0 || klen >= sizeof(key)) {
            q += n + (amp != NULL);
            continue;
        }
        memcpy(key, q, klen);
        key[klen] = '\0';
        const char *val = p->buf + o;
        for (size_t i = eq ? klen + 1 : n; i < n; i++) {
            char c = q[i];
            if (c == '+') {
                c = ' ';
            } else if (c == '%' && i + 2 < n + 1 && hexval(q[i + 1]) >= 0 &&
                       hexval(q[i + 2]) >= 0) {
                c = (char)(hexval(q[i + 1]) * 16 + hexval(q[i + 2]));
                i += 2;
            }
            if (o + 2 >= sizeof(p->buf))
                return ph_err(errstr, errstr_size, PH_EINVAL, "query string too long");
            p->buf[o++] = c;
        }
        p->buf[o++] = '\0';
        const char **slot = strcmp(key, "from") == 0          ? &p->from
                            : strcmp(key, "to") == 0          ? &p->to
                            : strcmp(key, "step") == 0        ? &p->step
                            : strcmp(key, "app") == 0         ? &p->app
                            : strcmp(key, "environment") == 0 ? &p->environment
                            : strcmp(key, "model") == 0       ? &p->model
                            : strcmp(key, "group_by") == 0    ? &p->group_by
                            : strcmp(key, "metrics") == 0     ? &p->metrics
                                                              : NULL;
        if (!slot)
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "unknown parameter \"%s\" (known: from, to, step, app, environment, "
                          "model, group_by, metrics)",
                          key);
        *slot = val;
        q += n + (amp != NULL);
    }
    return PH_OK;
}

static int parse_step(const char *s, int64_t *ms)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (!end || end == s || v <= 0)
        return PH_EINVAL;
    long long unit = strcmp(end, "") == 0     ? 1
                     : strcmp(end, "ms") == 0 ? 1
                     : strcmp(end, "s") == 0  ? 1000
                     : strcmp(end, "m") == 0  ? 60000
                     : strcmp(end, "h") == 0  ? 3600000
                     : strcmp(end, "d") == 0  ? 86400000
                                              : 0;
    if (!unit || v > INT64_MAX / unit)
        return PH_EINVAL;
    *ms = v * unit;
    return PH_OK;
}

typedef struct request {
    int64_t from, to, step;
    ph_agg_filter filter;
    unsigned group_by;
    const char *metric[MAX_METRIC_FILTERS];
    size_t metric_len[MAX_METRIC_FILTERS];
    bool metric_prefix[MAX_METRIC_FILTERS];
    size_t nmetrics;
    char metrics_buf[1024];
} request;

/* "-" selects the records without that dimension (lib/agg: ""). */
static const char *dim_filter(const char *v)
{
    return !v || !*v ? NULL : strcmp(v, "-") == 0 ? "" : v;
}

static int build_request(const params *p, int64_t window_ms, bool want_step, request *r,
                         char *errstr, size_t errstr_size)
{
    memset(r, 0, sizeof(*r));
    int64_t now = ph_now_ms();
    r->to = (now / 60000 + 1) * 60000;
    if (p->to && ph_parse_user_time(p->to, &r->to))
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "to: not an RFC 3339 time with a zone or epoch milliseconds");
    r->from = r->to - DEFAULT_RANGE_MS;
    if (p->from && ph_parse_user_time(p->from, &r->from))
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "from: not an RFC 3339 time with a zone or epoch milliseconds");
    if (r->from >= r->to)
        return ph_err(errstr, errstr_size, PH_EINVAL, "from must be before to");
    if (want_step) {
        if (p->step) {
            if (parse_step(p->step, &r->step) || r->step % window_ms != 0)
                return ph_err(errstr, errstr_size, PH_EINVAL,
                              "step: a multiple of the window (%" PRId64
                              " ms), e.g. 1m, 5m, 1h, 1d",
                              window_ms);
        } else {
            static const int64_t steps[] = {60000,    300000,   900000,   3600000,
                                            21600000, 86400000, 604800000};
            r->step = steps[sizeof(steps) / sizeof(steps[0]) - 1];
            for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
                if (steps[i] % window_ms == 0 &&
                    (r->to - r->from) / steps[i] <= MAX_POINTS_DEFAULT) {
                    r->step = steps[i];
                    break;
                }
        }
    }
    r->filter.app = dim_filter(p->app);
    r->filter.environment = dim_filter(p->environment);
    r->filter.model = dim_filter(p->model);
    if (p->group_by && *p->group_by) {
        char gb[128];
        snprintf(gb, sizeof(gb), "%s", p->group_by);
        char *save = NULL;
        for (char *t = strtok_r(gb, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (strcmp(t, "app") == 0)
                r->group_by |= PH_AGG_BY_APP;
            else if (strcmp(t, "environment") == 0)
                r->group_by |= PH_AGG_BY_ENVIRONMENT;
            else if (strcmp(t, "model") == 0)
                r->group_by |= PH_AGG_BY_MODEL;
            else
                return ph_err(errstr, errstr_size, PH_EINVAL,
                              "group_by: \"%s\" (known: app, environment, model)", t);
        }
    }
    if (p->metrics && *p->metrics) {
        snprintf(r->metrics_buf, sizeof(r->metrics_buf), "%s", p->metrics);
        char *save = NULL;
        for (char *t = strtok_r(r->metrics_buf, ",", &save); t && r->nmetrics < MAX_METRIC_FILTERS;
             t = strtok_r(NULL, ",", &save)) {
            size_t n = strlen(t);
            r->metric_prefix[r->nmetrics] = n > 0 && t[n - 1] == '*';
            r->metric_len[r->nmetrics] = r->metric_prefix[r->nmetrics] ? n - 1 : n;
            r->metric[r->nmetrics++] = t;
        }
    }
    return PH_OK;
}

static bool wanted(const request *r, const char *name)
{
    if (r->nmetrics == 0)
        return true;
    for (size_t i = 0; i < r->nmetrics; i++) {
        if (r->metric_prefix[i] ? strncmp(name, r->metric[i], r->metric_len[i]) == 0
                                : strcmp(name, r->metric[i]) == 0)
            return true;
    }
    return false;
}

/* ---- JSON ---------------------------------------------------------------------------------------
 */

static void gen_str(yajl_gen g, const char *s)
{
    yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

/* Writes the metrics of a point or a summary; only the wanted ones when filter (the library
 * already selected a query's metrics). */
static void gen_metrics(yajl_gen g, const request *r, bool filter, size_t n,
                        const char *const *names, const double *values)
{
    for (size_t i = 0; i < n; i++) {
        if (filter && !wanted(r, names[i]))
            continue;
        gen_str(g, names[i]);
        /* integral values print as integers: counts read naturally in JSON */
        double v = values[i];
        if (!isfinite(v)) {
            yajl_gen_null(g); /* not a JSON number (yajl would write nothing: broken JSON) */
        } else if (v == (double)(long long)v && v > -9e15 && v < 9e15) {
            yajl_gen_integer(g, (long long)v);
        } else {
            /* 17 significant digits read back as the same double; yajl's own 20 print noise
             * (0.10000000000000000555) and cost more */
            char buf[32];
            int len = snprintf(buf, sizeof(buf), "%.17g", v);
            yajl_gen_number(g, buf, (size_t)len);
        }
    }
}

static void gen_dim(yajl_gen g, const char *key, const char *v)
{
    gen_str(g, key);
    if (v && *v)
        gen_str(g, v);
    else
        yajl_gen_null(g);
}

typedef struct series_ctx {
    yajl_gen g;
    const request *r;
    bool open;
    char app[256], environment[256], model[256];
} series_ctx;

static bool same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static void remember(char *dst, size_t size, const char *s)
{
    snprintf(dst, size, "%s", s ? s : "");
}

static int on_point(void *arg, const ph_agg_point *pt)
{
    series_ctx *c = arg;
    yajl_gen g = c->g;
    if (!c->open || !same(c->app, pt->app) || !same(c->environment, pt->environment) ||
        !same(c->model, pt->model)) {
        if (c->open) {
            yajl_gen_array_close(g);
            yajl_gen_map_close(g);
        }
        yajl_gen_map_open(g);
        gen_str(g, "group");
        yajl_gen_map_open(g);
        if (pt->group_by & PH_AGG_BY_APP)
            gen_dim(g, "app", pt->app);
        if (pt->group_by & PH_AGG_BY_ENVIRONMENT)
            gen_dim(g, "environment", pt->environment);
        if (pt->group_by & PH_AGG_BY_MODEL)
            gen_dim(g, "model", pt->model);
        yajl_gen_map_close(g);
        gen_str(g, "points");
        yajl_gen_array_open(g);
        c->open = true;
        remember(c->app, sizeof(c->app), pt->app);
        remember(c->environment, sizeof(c->environment), pt->environment);
        remember(c->model, sizeof(c->model), pt->model);
    }
    yajl_gen_map_open(g);
    gen_str(g, "t");
    yajl_gen_integer(g, pt->t_ms);
    gen_metrics(g, c->r, false, pt->n_metrics, pt->names, pt->values);
    yajl_gen_map_close(g);
    return 0;
}

/* The store level a step reads (lib/agg: the coarsest whose size divides the step). */
static const char *level_name(int64_t step_ms)
{
    return step_ms % 86400000 == 0 ? "1d" : step_ms % 3600000 == 0 ? "1h" : "1m";
}

static int query_metrics(ph_api *api, const request *r, yajl_gen g, char *errstr,
                         size_t errstr_size)
{
    series_ctx c = {.g = g, .r = r};
    yajl_gen_map_open(g);
    gen_str(g, "from");
    yajl_gen_integer(g, r->from);
    gen_str(g, "to");
    yajl_gen_integer(g, r->to);
    gen_str(g, "step_ms");
    yajl_gen_integer(g, r->step);
    gen_str(g, "level");
    gen_str(g, level_name(r->step));
    gen_str(g, "series");
    yajl_gen_array_open(g);
    int rc = ph_agg_query(api->reader, r->from, r->to, r->step, &r->filter, r->group_by,
                          (const char *const *)r->metric, r->nmetrics, on_point, &c, errstr,
                          errstr_size);
    if (c.open) {
        yajl_gen_array_close(g);
        yajl_gen_map_close(g);
    }
    yajl_gen_array_close(g);
    yajl_gen_map_close(g);
    return rc;
}

typedef struct summary_ctx {
    yajl_gen g;
    const request *r;
} summary_ctx;

static void gen_list(yajl_gen g, const char *key, size_t n, const char *const *v)
{
    gen_str(g, key);
    yajl_gen_array_open(g);
    for (size_t i = 0; i < n; i++)
        if (v[i] && *v[i])
            gen_str(g, v[i]);
    yajl_gen_array_close(g);
}

static int on_summary(void *arg, const ph_agg_summary_result *res)
{
    summary_ctx *c = arg;
    yajl_gen g = c->g;
    yajl_gen_map_open(g);
    gen_str(g, "from");
    yajl_gen_integer(g, res->from_ms);
    gen_str(g, "to");
    yajl_gen_integer(g, res->to_ms);
    gen_str(g, "totals");
    yajl_gen_map_open(g);
    gen_metrics(g, c->r, true, res->n_metrics, res->names, res->values);
    yajl_gen_map_close(g);
    gen_str(g, "dimensions");
    yajl_gen_map_open(g);
    gen_list(g, "app", res->n_apps, res->apps);
    gen_list(g, "environment", res->n_environments, res->environments);
    gen_list(g, "model", res->n_models, res->models);
    yajl_gen_map_close(g);
    /* Evaluator names, from the eval.<name>.count totals. */
    gen_str(g, "evaluators");
    yajl_gen_array_open(g);
    for (size_t i = 0; i < res->n_metrics; i++) {
        const char *n = res->names[i];
        size_t len = strlen(n);
        if (strncmp(n, "eval.", 5) == 0 && len > 11 && strcmp(n + len - 6, ".count") == 0)
            yajl_gen_string(g, (const unsigned char *)n + 5, len - 11);
    }
    yajl_gen_array_close(g);
    gen_str(g, "alerts");
    yajl_gen_array_open(g);
    yajl_gen_array_close(g);
    yajl_gen_map_close(g);
    return 0;
}

/* ---- handlers -----------------------------------------------------------------------------------
 */

static void serve_query(ph_http_request *req, ph_api *api, bool summary)
{
    char errstr[PH_ERRSTR_SIZE];
    params p;
    request r;
    if (parse_query(ph_http_request_query(req), &p, errstr, sizeof(errstr)) ||
        build_request(&p, api->window_ms, !summary, &r, errstr, sizeof(errstr))) {
        ph_http_respond_error(req, 400, errstr);
        return;
    }
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g) {
        ph_http_respond_error(req, 503, "out of memory");
        return;
    }
    pthread_mutex_lock(&api->lock);
    int rc = PH_OK;
    if (!api->reader)
        rc = ph_agg_reader_new(&api->reader, api->db_path, errstr, sizeof(errstr));
    if (rc == PH_OK && !summary) {
        rc = query_metrics(api, &r, g, errstr, sizeof(errstr));
    } else if (rc == PH_OK) {
        summary_ctx c = {g, &r};
        rc = ph_agg_summary(api->reader, r.from, r.to, &r.filter, on_summary, &c, errstr,
                            sizeof(errstr));
    }
    if (rc == PH_EIO) { /* a broken connection is reopened by the next request */
        ph_agg_reader_destroy(api->reader);
        api->reader = NULL;
    }
    pthread_mutex_unlock(&api->lock);
    const unsigned char *body;
    size_t len;
    if (rc == PH_EINVAL || rc == PH_ERANGE)
        ph_http_respond_error(req, 400, errstr);
    else if (rc)
        ph_http_respond_error(req, 503, errstr);
    else if (yajl_gen_get_buf(g, &body, &len) != yajl_gen_status_ok)
        ph_http_respond_error(req, 503, "cannot write the answer");
    else
        ph_http_respond(req, 200, "application/json", body, len, NULL);
    yajl_gen_free(g);
}

static void on_metrics(ph_http_request *req, void *arg)
{
    serve_query(req, arg, false);
}

static void on_summary_req(ph_http_request *req, void *arg)
{
    serve_query(req, arg, true);
}

static void on_asset(ph_http_request *req, void *arg)
{
    const ph_web_asset *a = arg;
    static const char *const headers[] = {"Cache-Control", "no-cache", NULL};
    ph_http_respond(req, 200, a->content_type, a->data, a->len, headers);
}

int ph_api_new(ph_api **out, ph_http_server *http, const char *db_path, int64_t window_ms,
               char *errstr, size_t errstr_size)
{
    int rc;
    ph_api *api = calloc(1, sizeof(*api));
    if (!api || !(api->db_path = strdup(db_path))) {
        free(api);
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    }
    api->window_ms = window_ms;
    pthread_mutex_init(&api->lock, NULL);
    *out = api;
    if ((rc = ph_http_server_route(http, "GET", "/api/v1/metrics", 0, on_metrics, api, errstr,
                                   errstr_size)) ||
        (rc = ph_http_server_route(http, "GET", "/api/v1/summary", 0, on_summary_req, api, errstr,
                                   errstr_size)))
        return rc;
    for (const ph_web_asset *a = ph_web_assets; a->path; a++) {
        if ((rc = ph_http_server_route(http, "GET", a->path, 0, on_asset, (void *)a, errstr,
                                       errstr_size)))
            return rc;
        if (strcmp(a->path, "/index.html") == 0 &&
            (rc = ph_http_server_route(http, "GET", "/", 0, on_asset, (void *)a, errstr,
                                       errstr_size)))
            return rc;
    }
    return PH_OK;
}

void ph_api_destroy(ph_api *api)
{
    if (!api)
        return;
    ph_agg_reader_destroy(api->reader);
    pthread_mutex_destroy(&api->lock);
    free(api->db_path);
    free(api);
}
