/* The evaluator set: the config file format, overrides, versions, errors with their paths, and
 * running a record. The kinds are defined here, so the test holds whatever kinds are built. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "ph_error.h"
#include "ph_eval.h"
#include "ph_eval_config.h"

/* ---- test kinds ---------------------------------------------------------------------------- */

static atomic_int creates;

/* t_len: scores the output length; passed when it is at most "max" (default 100). */
typedef struct t_len {
    long long max;
} t_len;

static int len_create(void **state, const json_t *config, char *errstr, size_t errstr_size)
{
    const char *key;
    json_t *val;
    t_len *s = calloc(1, sizeof(*s));
    s->max = 100;
    json_object_foreach((json_t *)config, key, val)
    {
        if (strcmp(key, "max") == 0 && json_is_integer(val)) {
            s->max = json_integer_value(val);
        } else {
            snprintf(errstr, errstr_size, "%s: %s", key,
                     strcmp(key, "max") == 0 ? "must be an integer" : "unknown key");
            free(s);
            return -1;
        }
    }
    atomic_fetch_add(&creates, 1);
    *state = s;
    return 0;
}

static int len_evaluate(const void *state, const ph_eval_record *rec, ph_eval_sink *sink,
                        char *errstr, size_t errstr_size)
{
    const t_len *s = state;
    ph_eval_result *r = ph_eval_emit(sink, NULL);
    if (!r)
        return -1;
    ph_eval_set_score(r, (double)rec->output.len);
    ph_eval_set_passed(r, (long long)rec->output.len <= s->max);
    ph_eval_add_value(r, "max", (double)s->max);
    return 0;
}

static const ph_evaluator_kind kind_len = {
    .name = "t_len",
    .code_version = "3",
    .summary = "output length",
    .create = len_create,
    .destroy = free,
    .evaluate = len_evaluate,
};

/* t_fail: emits two results, then fails when the output says "boom". */
static int fail_create(void **state, const json_t *config, char *errstr, size_t errstr_size)
{
    if (json_object_size(config)) {
        snprintf(errstr, errstr_size, "takes no configuration");
        return -1;
    }
    *state = NULL;
    return 0;
}

static int fail_evaluate(const void *state, const ph_eval_record *rec, ph_eval_sink *sink,
                         char *errstr, size_t errstr_size)
{
    ph_eval_set_label(ph_eval_emit(sink, "a"), "first");
    ph_eval_set_label(ph_eval_emit(sink, "b"), "second");
    if (rec->output.len && strstr(rec->output.s, "boom")) {
        snprintf(errstr, errstr_size, "exploded on purpose");
        return -1;
    }
    return 0;
}

static const ph_evaluator_kind kind_fail = {
    .name = "t_fail",
    .code_version = "1",
    .summary = "fails on boom",
    .create = fail_create,
    .destroy = NULL,
    .evaluate = fail_evaluate,
};

/* t_needs: refuses {}; wants {"patterns": [{"pattern": "<string>"}, ...]}. */
static int needs_create(void **state, const json_t *config, char *errstr, size_t errstr_size)
{
    const json_t *p = json_object_get(config, "patterns");
    if (!json_is_array(p) || json_array_size(p) == 0) {
        snprintf(errstr, errstr_size, "patterns: required, a non-empty array");
        return -1;
    }
    size_t i;
    json_t *item;
    json_array_foreach(p, i, item)
    {
        if (!json_is_string(json_object_get(item, "pattern"))) {
            snprintf(errstr, errstr_size, "patterns[%zu].pattern: must be a string", i);
            return -1;
        }
    }
    *state = strdup(json_string_value(json_object_get(json_array_get(p, 0), "pattern")));
    return 0;
}

static int needs_evaluate(const void *state, const ph_eval_record *rec, ph_eval_sink *sink,
                          char *errstr, size_t errstr_size)
{
    ph_eval_result *r = ph_eval_emit(sink, NULL);
    if (!r)
        return -1;
    ph_eval_set_passed(r, rec->output.len == 0 || !strstr(rec->output.s, state));
    return 0;
}

static const ph_evaluator_kind kind_needs = {
    .name = "t_needs",
    .code_version = "2",
    .summary = "needs a config",
    .create = needs_create,
    .destroy = free,
    .evaluate = needs_evaluate,
};

/* t_opt: t_len's code, but opt-in: never in the default set. */
static const ph_evaluator_kind kind_opt = {
    .name = "t_opt",
    .code_version = "1",
    .summary = "opt-in output length",
    .create = len_create,
    .destroy = free,
    .evaluate = len_evaluate,
    .opt_in = true,
};

static const ph_evaluator_kind *const kinds[] = {&kind_len, &kind_fail, &kind_needs, &kind_opt,
                                                 NULL};

/* ---- helpers ------------------------------------------------------------------------------- */

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &e);
    if (!j)
        fail_msg("bad test JSON: %s: %s", e.text, text);
    return j;
}

static ph_eval_set *load_ok(const char *text)
{
    char errstr[PH_ERRSTR_SIZE] = "";
    ph_eval_set *set = NULL;
    json_t *j = text ? parse(text) : NULL;
    int rc = ph_eval_set_from_json(&set, j, kinds, errstr, sizeof(errstr));
    json_decref(j);
    if (rc)
        fail_msg("load failed: %s", errstr);
    return set;
}

/* Loads text that must fail; returns the message in a static buffer. */
static const char *load_err(const char *text)
{
    static char errstr[PH_ERRSTR_SIZE];
    ph_eval_set *set = NULL;
    json_t *j = parse(text);
    int rc = ph_eval_set_from_json(&set, j, kinds, errstr, sizeof(errstr));
    json_decref(j);
    assert_int_equal(rc, PH_EINVAL);
    assert_null(set);
    return errstr;
}

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (!strstr((hay), (needle)))                                                              \
            fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle));                           \
    } while (0)

static ph_str S(const char *s)
{
    return (ph_str){s, strlen(s)};
}

static ph_eval_record record(const char *app, const char *env, const char *output)
{
    ph_eval_record r;
    memset(&r, 0, sizeof(r));
    r.record_id = S("r1");
    r.session_id = S("");
    r.trace_id = S("");
    r.app = S(app);
    r.environment = S(env);
    r.model = S("");
    r.route = S("");
    r.output = S(output);
    return r;
}

static const ph_eval_result *find(const ph_eval_sink *sink, const char *name)
{
    for (size_t i = 0; i < sink->n; i++)
        if (strcmp(sink->results[i].evaluator, name) == 0)
            return &sink->results[i];
    return NULL;
}

static const char *version_of(const ph_eval_set *set, const char *name)
{
    ph_eval_instance_info info;
    for (size_t i = 0; ph_eval_set_entry(set, i, &info) == 0; i++)
        if (strcmp(info.name, name) == 0 && !info.match_app && !info.match_environment)
            return info.version;
    return NULL;
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_default_set(void **state)
{
    ph_eval_set *set = load_ok(NULL);
    /* every kind with {}, except the one that needs a config */
    assert_int_equal(ph_eval_set_size(set), 2);
    ph_eval_instance_info info;
    assert_int_equal(ph_eval_set_entry(set, 0, &info), 0);
    assert_string_equal(info.name, "t_len");
    assert_string_equal(info.kind, "t_len");
    assert_string_equal(info.summary, "output length");
    assert_null(info.match_app);
    assert_int_equal(json_object_size(info.config), 0);
    char want[PH_EVAL_VERSION_MAX];
    json_t *empty = json_object();
    assert_int_equal(ph_eval_version("3", empty, want, sizeof(want)), 0);
    json_decref(empty);
    assert_string_equal(info.version, want);
    assert_int_equal(strlen(info.version), 2 + 8);
    assert_memory_equal(info.version, "3.", 2);
    assert_int_equal(ph_eval_set_entry(set, 1, &info), 0);
    assert_string_equal(info.name, "t_fail");
    assert_int_equal(ph_eval_set_entry(set, 2, &info), PH_ENOENT); /* t_opt is opt-in */
    assert_null(ph_eval_set_judge(set));
    assert_null(ph_eval_set_sessions(set));

    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    ph_eval_record rec = record("", "", "hello");
    assert_int_equal(ph_eval_set_run(set, &rec, &sink), 0);
    assert_int_equal(sink.n, 3); /* t_len, t_fail.a, t_fail.b */
    assert_string_equal(sink.results[0].evaluator, "t_len");
    assert_string_equal(sink.results[0].version, want);
    assert_true(sink.results[0].has_score);
    assert_true(sink.results[0].score == 5.0);
    assert_string_equal(sink.results[1].evaluator, "t_fail.a");
    assert_string_equal(sink.results[2].evaluator, "t_fail.b");
    assert_null(sink.current_name);
    ph_eval_sink_free(&sink);
    ph_eval_set_destroy(set);
    /* an "evaluators"-less file is the default set too, with its judge and sessions */
    set = load_ok("{\"judge\": {\"model\": \"m\"}, \"sessions\": {\"idle\": 1}}");
    assert_int_equal(ph_eval_set_size(set), 2);
    assert_string_equal(json_string_value(json_object_get(ph_eval_set_judge(set), "model")), "m");
    assert_int_equal(json_integer_value(json_object_get(ph_eval_set_sessions(set), "idle")), 1);
    ph_eval_set_destroy(set);
}

static void test_instances(void **state)
{
    ph_eval_set *set = load_ok("{\"evaluators\": {"
                               "  \"short\": {\"kind\": \"t_len\", \"max\": 3},"
                               "  \"t_len\": {},"
                               "  \"t_fail\": false,"
                               "  \"no_sql\": {\"kind\": \"t_needs\", \"patterns\": "
                               "              [{\"pattern\": \"SELECT\"}]}}}");
    assert_int_equal(ph_eval_set_size(set), 3);
    ph_eval_instance_info info;
    assert_int_equal(ph_eval_set_entry(set, 0, &info), 0);
    assert_string_equal(info.name, "short"); /* file order */
    assert_string_equal(info.kind, "t_len");
    assert_null(json_object_get(info.config, "kind")); /* create() never sees "kind" */
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    ph_eval_record rec = record("", "", "SELECT 1");
    assert_int_equal(ph_eval_set_run(set, &rec, &sink), 0);
    assert_int_equal(sink.n, 3);
    assert_int_equal(find(&sink, "short")->passed, 0);
    assert_int_equal(find(&sink, "t_len")->passed, 1);
    assert_int_equal(find(&sink, "no_sql")->passed, 0);
    assert_null(find(&sink, "t_fail.a"));
    /* instances of one kind with different configs have different versions */
    assert_string_not_equal(find(&sink, "short")->version, find(&sink, "t_len")->version);
    ph_eval_sink_free(&sink);
    ph_eval_set_destroy(set);
    /* true is {} */
    set = load_ok("{\"evaluators\": {\"t_len\": true}}");
    assert_int_equal(ph_eval_set_size(set), 1);
    ph_eval_set_destroy(set);
    /* an opt-in kind runs when a file names it */
    set = load_ok("{\"evaluators\": {\"t_opt\": {}}}");
    assert_int_equal(ph_eval_set_size(set), 1);
    assert_int_equal(ph_eval_set_entry(set, 0, &info), 0);
    assert_string_equal(info.kind, "t_opt");
    ph_eval_set_destroy(set);
}

static void test_errors(void **state)
{
    assert_contains(load_err("{\"evaluators\": {\"foo\": {}}}"),
                    "evaluators.foo: unknown evaluator kind \"foo\" (known: t_len, t_fail, "
                    "t_needs, t_opt)");
    assert_contains(load_err("{\"evaluators\": {\"x\": {\"kind\": \"nope\"}}}"),
                    "evaluators.x.kind: unknown evaluator kind \"nope\"");
    assert_contains(load_err("{\"evaluators\": {\"x\": {\"kind\": 3}}}"),
                    "evaluators.x.kind: must be a string");
    /* a kind's field path extends the instance's path */
    assert_string_equal(load_err("{\"evaluators\": {\"no_sql\": {\"kind\": \"t_needs\", "
                                 "\"patterns\": [{\"pattern\": 1}]}}}"),
                        "evaluators.no_sql.patterns[0].pattern: must be a string");
    assert_string_equal(load_err("{\"evaluators\": {\"t_len\": {\"maxx\": 1}}}"),
                        "evaluators.t_len.maxx: unknown key");
    assert_string_equal(load_err("{\"evaluators\": {\"t_fail\": {\"a\": 1}}}"),
                        "evaluators.t_fail: takes no configuration");
    /* a kind that needs a config is an error when named, not silently left out */
    assert_contains(load_err("{\"evaluators\": {\"t_needs\": {}}}"),
                    "evaluators.t_needs.patterns: required");
    assert_contains(load_err("{\"evaluators\": {\"t_len\": 5}}"),
                    "evaluators.t_len: must be an object");
    assert_contains(load_err("{\"evaluators\": {\"bad name\": {\"kind\": \"t_len\"}}}"),
                    "evaluators.bad name: instance names");
    assert_contains(load_err("{\"evaluator\": {}}"), "evaluator: unknown key");
    assert_contains(load_err("{\"evaluators\": []}"), "evaluators: must be an object");
    assert_contains(load_err("[]"), "must be a JSON object");
    assert_contains(load_err("{\"judge\": 1}"), "judge: must be an object");
    assert_contains(load_err("{\"overrides\": {}}"), "overrides: must be an array");
    assert_contains(load_err("{\"overrides\": [{\"evaluators\": {}}]}"),
                    "overrides[0].match: required");
    assert_contains(load_err("{\"overrides\": [{\"match\": {}}]}"),
                    "overrides[0].match: app and environment are strings, and at least one");
    assert_contains(load_err("{\"overrides\": [{\"match\": {\"ap\": \"x\"}}]}"),
                    "overrides[0].match.ap: unknown key");
    assert_contains(load_err("{\"overrides\": [{\"match\": {\"app\": \"x\"}, \"when\": 1}]}"),
                    "overrides[0].when: unknown key");
    assert_contains(load_err("{\"overrides\": [{\"match\": {\"app\": \"x\"}},"
                             "                 {\"match\": {\"app\": \"x\"}}]}"),
                    "overrides[1].match: the same as overrides[0].match");
    assert_string_equal(load_err("{\"overrides\": [{\"match\": {\"app\": \"x\"}, \"evaluators\": "
                                 "{\"t_len\": {\"max\": \"ten\"}}}]}"),
                        "overrides[0].evaluators.t_len.max: must be an integer");
    assert_contains(load_err("{\"overrides\": [{\"match\": {\"app\": \"x\"}, \"evaluators\": "
                             "{\"zzz\": {}}}]}"),
                    "overrides[0].evaluators.zzz: unknown evaluator kind");
}

static void test_overrides(void **state)
{
    int before = atomic_load(&creates);
    ph_eval_set *set = load_ok(
        "{\"evaluators\": {\"t_len\": {\"max\": 100}, \"t_fail\": {}},"
        " \"overrides\": ["
        "  {\"match\": {\"app\": \"A\", \"environment\": \"prod\"},"
        "   \"evaluators\": {\"t_len\": {\"max\": 7}}},"
        "  {\"match\": {\"environment\": \"prod\"}, \"evaluators\": {\"t_len\": {\"max\": 50},"
        "   \"t_fail\": false, \"short\": {\"kind\": \"t_len\", \"max\": 1}}},"
        "  {\"match\": {\"app\": \"A\"}, \"evaluators\": {\"t_len\": {\"max\": 5}}},"
        "  {\"match\": {\"app\": \"C\"}, \"evaluators\": {\"t_len\": {\"max\": 100}}}"
        "]}");
    /* t_len with max 100 is built once although three variants use it; 7, 50, 1 and 5 once each */
    assert_int_equal(atomic_load(&creates) - before, 5);
    struct {
        const char *app, *env;
        double max;
        bool has_fail, has_short;
    } cases[] = {
        {"A", "prod", 7, true, false},   {"A", "dev", 5, true, false},
        {"B", "prod", 50, false, true},  {"B", "dev", 100, true, false},
        {"", "", 100, true, false},      {"C", "prod", 100, true, false}, /* app beats env */
        {"AA", "prod", 50, false, true},                                  /* exact match only */
    };
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    const char *v100 = version_of(set, "t_len");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ph_eval_sink_reset(&sink);
        ph_eval_record rec = record(cases[i].app, cases[i].env, "0123456");
        assert_int_equal(ph_eval_set_run(set, &rec, &sink), 0);
        const ph_eval_result *r = find(&sink, "t_len");
        assert_non_null(r);
        assert_true(r->values[0].value == cases[i].max);
        assert_int_equal(r->passed, 7 <= cases[i].max);
        /* the version follows the effective config */
        if (cases[i].max == 100)
            assert_string_equal(r->version, v100);
        else
            assert_string_not_equal(r->version, v100);
        assert_int_equal(find(&sink, "t_fail.a") != NULL, cases[i].has_fail);
        assert_int_equal(find(&sink, "short") != NULL, cases[i].has_short);
    }
    /* the listing names every variant */
    ph_eval_instance_info info;
    size_t n = ph_eval_set_size(set);
    assert_int_equal(n, 2 + 2 + 2 + 2 + 2);
    assert_int_equal(ph_eval_set_entry(set, 2, &info), 0);
    assert_string_equal(info.match_app, "A");
    assert_string_equal(info.match_environment, "prod");
    assert_int_equal(ph_eval_set_entry(set, 4, &info), 0);
    assert_null(info.match_app);
    assert_string_equal(info.match_environment, "prod");
    ph_eval_sink_free(&sink);
    ph_eval_set_destroy(set);

    /* deep merge: an override changes one key of a nested object and keeps the others */
    set = load_ok("{\"evaluators\": {\"n\": {\"kind\": \"t_needs\", \"patterns\": "
                  "[{\"pattern\": \"x\"}], \"extra\": {\"a\": 1, \"b\": 2}}},"
                  " \"overrides\": [{\"match\": {\"app\": \"A\"}, \"evaluators\": "
                  "{\"n\": {\"extra\": {\"b\": 3}}}}]}");
    assert_int_equal(ph_eval_set_entry(set, 1, &info), 0);
    const json_t *extra = json_object_get(info.config, "extra");
    assert_int_equal(json_integer_value(json_object_get(extra, "a")), 1);
    assert_int_equal(json_integer_value(json_object_get(extra, "b")), 3);
    assert_non_null(json_object_get(info.config, "patterns"));
    ph_eval_set_destroy(set);
    /* overrides apply to the default set too */
    set = load_ok("{\"overrides\": [{\"match\": {\"app\": \"A\"}, \"evaluators\": "
                  "{\"t_fail\": false}}]}");
    assert_int_equal(ph_eval_set_size(set), 2 + 1);
    ph_eval_set_destroy(set);
}

static void test_versions(void **state)
{
    char a[PH_EVAL_VERSION_MAX], b[PH_EVAL_VERSION_MAX];
    json_t *x = parse("{\"max\": 3, \"words\": [\"a\", \"b\"], \"o\": {\"z\": 1, \"y\": 2}}");
    json_t *y = parse("{\"o\": {\"y\": 2, \"z\": 1}, \"kind\": \"t_len\", \"words\": [\"a\", "
                      "\"b\"],   \"max\": 3}");
    assert_int_equal(ph_eval_version("3", x, a, sizeof(a)), 0);
    assert_int_equal(ph_eval_version("3", y, b, sizeof(b)), 0);
    assert_string_equal(a, b); /* key order, spacing and "kind" do not matter */
    assert_int_equal(ph_eval_version("4", x, b, sizeof(b)), 0);
    assert_string_not_equal(a, b); /* the code version does */
    assert_string_equal(a + 2, b + 2);
    json_object_set_new(y, "max", json_integer(4));
    assert_int_equal(ph_eval_version("3", y, b, sizeof(b)), 0);
    assert_string_not_equal(a, b); /* and so does any config value */
    /* a revision re-versions the same config; create() does not see it */
    json_object_set_new(x, "revision", json_integer(2));
    assert_int_equal(ph_eval_version("3", x, b, sizeof(b)), 0);
    assert_string_not_equal(a, b);
    json_object_del(x, "revision");
    ph_eval_set *set = load_ok("{\"evaluators\": {\"t_len\": {\"max\": 3, \"revision\": \"r2\"},"
                               " \"t2\": {\"kind\": \"t_len\", \"max\": 3}}}");
    ph_eval_instance_info i1, i2;
    assert_int_equal(ph_eval_set_entry(set, 0, &i1), 0);
    assert_int_equal(ph_eval_set_entry(set, 1, &i2), 0);
    assert_null(json_object_get(i1.config, "revision"));
    assert_string_not_equal(i1.version, i2.version);
    ph_eval_set_destroy(set);
    assert_contains(load_err("{\"evaluators\": {\"t_len\": {\"revision\": [1]}}}"),
                    "evaluators.t_len.revision: must be a string or an integer");
    assert_int_equal(ph_eval_version("1234567890123456789012345", x, b, sizeof(b)), PH_ERANGE);
    json_decref(x);
    json_decref(y);
    /* the hash is XXH3-64 of the canonical JSON: fixed here so that it never changes by
     * accident (a change would re-version every evaluator) */
    json_t *e = json_object();
    assert_int_equal(ph_eval_version("1", e, a, sizeof(a)), 0);
    json_decref(e);
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)XXH3_64bits("{}", 2));
    snprintf(b, sizeof(b), "1.%.8s", hex);
    assert_string_equal(a, b);
}

static void test_evaluate_error(void **state)
{
    ph_eval_set *set = load_ok("{\"evaluators\": {\"t_fail\": {}, \"t_len\": {}}}");
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    ph_eval_record rec = record("", "", "it goes boom");
    assert_int_equal(ph_eval_set_run(set, &rec, &sink), 0);
    /* what the failed run appended is replaced by one ERROR result; the next instance runs */
    assert_int_equal(sink.n, 2);
    assert_string_equal(sink.results[0].evaluator, "t_fail");
    assert_int_equal(sink.results[0].status, PH_EVAL_ERROR);
    assert_string_equal(sink.results[0].explanation, "exploded on purpose");
    assert_string_equal(sink.results[0].version, version_of(set, "t_fail"));
    assert_int_equal(sink.results[0].passed, -1);
    assert_string_equal(sink.results[1].evaluator, "t_len");
    assert_int_equal(sink.results[1].status, PH_EVAL_OK);
    ph_eval_sink_free(&sink);
    ph_eval_set_destroy(set);
}

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/pharos-evalcfg-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_file(void **state)
{
    char errstr[PH_ERRSTR_SIZE];
    ph_eval_set *set = NULL;
    assert_int_equal(ph_eval_set_load(&set, "/nonexistent/evaluators.json", errstr, sizeof(errstr)),
                     PH_EIO);
    assert_contains(errstr, "/nonexistent/evaluators.json");
    char *path = write_tmp("{\"evaluators\": {\n  \"x\": {},\n  \"x\": {}\n}}\n");
    assert_int_equal(ph_eval_set_load(&set, path, errstr, sizeof(errstr)), PH_EINVAL);
    assert_contains(errstr, path);
    assert_contains(errstr, ":3:"); /* the line of the duplicate key */
    assert_contains(errstr, "duplicate");
    unlink(path);
    free(path);
    /* the registry's kinds: whatever is built, "evaluators": {} runs nothing */
    path = write_tmp("{\"evaluators\": {}, \"sessions\": {}}");
    assert_int_equal(ph_eval_set_load(&set, path, errstr, sizeof(errstr)), 0);
    assert_int_equal(ph_eval_set_size(set), 0);
    assert_non_null(ph_eval_set_sessions(set));
    ph_eval_set_destroy(set);
    unlink(path);
    free(path);
    path = write_tmp("{\"evaluators\": {\"surely_not_a_kind\": {}}}");
    assert_int_equal(ph_eval_set_load(&set, path, errstr, sizeof(errstr)), PH_EINVAL);
    assert_contains(errstr, "evaluators.surely_not_a_kind: unknown evaluator kind");
    unlink(path);
    free(path);
    /* no file: every registry kind (which kinds exist depends on the build) */
    assert_int_equal(ph_eval_set_load(&set, NULL, errstr, sizeof(errstr)), 0);
    assert_true(ph_eval_set_size(set) <= 64);
    ph_eval_set_destroy(set);
    ph_eval_set_destroy(NULL);
}

typedef struct run_arg {
    const ph_eval_set *set;
    int failures;
} run_arg;

static void *runner(void *p)
{
    run_arg *a = p;
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    for (int i = 0; i < 2000; i++) {
        ph_eval_sink_reset(&sink);
        ph_eval_record rec = record(i % 2 ? "A" : "B", "prod", i % 3 ? "abc" : "boom");
        if (ph_eval_set_run(a->set, &rec, &sink) || sink.n != (i % 2 ? 3u : 1u))
            a->failures++;
    }
    ph_eval_sink_free(&sink);
    return NULL;
}

static void test_threads(void **state)
{
    /* A runs t_len and t_fail (3 results, or 2 when it fails); B only t_len */
    ph_eval_set *set = load_ok("{\"evaluators\": {\"t_len\": {}},"
                               " \"overrides\": [{\"match\": {\"app\": \"A\"}, \"evaluators\": "
                               "{\"t_fail\": {}}}]}");
    pthread_t th[4];
    run_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (run_arg){set, 0};
        pthread_create(&th[i], NULL, runner, &args[i]);
    }
    int failures = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        failures += args[i].failures;
    }
    /* every third record of A fails t_fail: 2 results instead of 3 */
    assert_int_equal(failures, 4 * 333);
    ph_eval_set_destroy(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_set), cmocka_unit_test(test_instances),
        cmocka_unit_test(test_errors),      cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_versions),    cmocka_unit_test(test_evaluate_error),
        cmocka_unit_test(test_file),        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
