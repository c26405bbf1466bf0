/* The evaluator set: the evaluator configuration file, its overrides, instance versions, and
 * running the right variant on a record. See ph_eval_config.h and docs/evaluators.md. */
#include "ph_eval_config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "ph_error.h"
#include "ph_log.h"

#define COMPONENT "eval"

/* Evaluation names are "<instance>[.<sub>]" in PH_EVAL_NAME_MAX bytes: leave room for a sub. */
#define NAME_MAX_LEN 40

/* One created evaluator (kind + state), shared by every variant whose effective config for it
 * is the same. */
typedef struct built {
    const ph_evaluator_kind *kind;
    void *state;
    json_t *config; /* effective config without "kind" */
    char *canon;    /* its canonical JSON */
    char version[PH_EVAL_VERSION_MAX];
} built;

typedef struct slot {
    char *name;
    built *b; /* owned by the set's built list */
} slot;

/* The instances run for one (app, environment) match; variant 0 is the global set. */
typedef struct variant {
    char *app; /* NULL: any */
    char *environment;
    int specificity; /* app+environment 3 > app 2 > environment 1 > global 0 */
    slot *slots;
    size_t n;
} variant;

struct ph_eval_set {
    variant *variants;
    size_t nvariants;
    built **built;
    size_t nbuilt;
    json_t *judge;
    json_t *sessions;
};

/* Load-time context. */
typedef struct loader {
    ph_eval_set *set;
    const ph_evaluator_kind *const *kinds; /* NULL: the registry */
    bool defaults;                         /* no "evaluators" object: every kind with {} */
    char *errstr;
    size_t errstr_size;
} loader;

/* ---- versions ---------------------------------------------------------------------------- */

static char *canonical(const json_t *config)
{
    /* The "kind" member names the code, not its configuration: it is not part of the hash. */
    json_t *copy = json_deep_copy(config);
    if (!copy)
        return NULL;
    json_object_del(copy, "kind");
    char *s = json_dumps(copy, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(copy);
    return s;
}

static int version_of(const char *code_version, const char *canon, char *out, size_t size)
{
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)XXH3_64bits(canon, strlen(canon)));
    int n = snprintf(out, size, "%s.%.8s", code_version ? code_version : "0", hex);
    return n < 0 || (size_t)n >= size ? PH_ERANGE : PH_OK;
}

int ph_eval_version(const char *code_version, const json_t *config, char *out, size_t size)
{
    char *canon = canonical(config);
    if (!canon)
        return PH_ENOMEM;
    int rc = version_of(code_version, canon, out, size);
    free(canon);
    return rc;
}

/* ---- kinds --------------------------------------------------------------------------------- */

static const ph_evaluator_kind *kind_at(const loader *ld, size_t i)
{
    if (!ld->kinds)
        return ph_eval_kind_at(i);
    for (size_t k = 0; ld->kinds[k]; k++)
        if (k == i)
            return ld->kinds[k];
    return NULL;
}

static const ph_evaluator_kind *kind_find(const loader *ld, const char *name)
{
    const ph_evaluator_kind *k;
    for (size_t i = 0; (k = kind_at(ld, i)); i++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

static void known_kinds(const loader *ld, char *buf, size_t size)
{
    const ph_evaluator_kind *k;
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; (k = kind_at(ld, i)) && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", k->name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    if (!buf[0])
        snprintf(buf, size, "none built");
}

/* ---- building instances ------------------------------------------------------------------ */

static void built_free(built *b)
{
    if (!b)
        return;
    if (b->kind && b->kind->destroy && b->state)
        b->kind->destroy(b->state);
    json_decref(b->config);
    free(b->canon);
    free(b);
}

/* True when a kind's message starts with a field path ("patterns[0].pattern: ..."), which then
 * extends the instance's path; any other message follows the path after ": ". */
static bool starts_with_path(const char *msg)
{
    const char *p = msg;
    while (*p && (isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '[' || *p == ']'))
        p++;
    return p > msg && p[0] == ':' && p[1] == ' ';
}

/* Finds or creates the evaluator for (kind, config). Returns 0, PH_ENOENT (create() refused
 * the config: errstr says why) or PH_ENOMEM. */
static int build(loader *ld, const ph_evaluator_kind *kind, const json_t *config, const char *path,
                 built **out)
{
    char kerr[PH_ERRSTR_SIZE];
    int rc = PH_OK;
    char *canon = canonical(config);
    if (!canon)
        return ph_err(ld->errstr, ld->errstr_size, PH_ENOMEM, "out of memory");
    for (size_t i = 0; i < ld->set->nbuilt; i++) {
        built *b = ld->set->built[i];
        if (b->kind == kind && strcmp(b->canon, canon) == 0) {
            free(canon);
            *out = b;
            return PH_OK;
        }
    }
    built **grown = realloc(ld->set->built, (ld->set->nbuilt + 1) * sizeof(*grown));
    built *b = calloc(1, sizeof(*b));
    if (grown)
        ld->set->built = grown;
    if (!grown || !b) {
        free(b);
        free(canon);
        return ph_err(ld->errstr, ld->errstr_size, PH_ENOMEM, "out of memory");
    }
    b->kind = kind;
    b->canon = canon;
    b->config = json_deep_copy(config);
    if (!b->config) {
        rc = ph_err(ld->errstr, ld->errstr_size, PH_ENOMEM, "out of memory");
        goto out;
    }
    /* The framework's members: create() never sees them. */
    json_object_del(b->config, "kind");
    json_object_del(b->config, "revision");
    if ((rc = version_of(kind->code_version, canon, b->version, sizeof(b->version)))) {
        rc = ph_err(ld->errstr, ld->errstr_size, PH_EINVAL, "%s: code_version of kind %s too long",
                    path, kind->name);
        goto out;
    }
    kerr[0] = '\0';
    if (kind->create(&b->state, b->config, kerr, sizeof(kerr))) {
        b->state = NULL;
        const char *why = kerr[0] ? kerr : "invalid configuration";
        rc = ph_err(ld->errstr, ld->errstr_size, PH_ENOENT, "%s%s%s", path,
                    starts_with_path(why) ? "." : ": ", why);
        goto out;
    }
out:
    if (rc) {
        built_free(b);
        return rc;
    }
    ld->set->built[ld->set->nbuilt++] = b;
    *out = b;
    return PH_OK;
}

static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > NAME_MAX_LEN)
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            return false;
    return true;
}

/* Adds the instance `name` (its effective entry `val`) to variant v. */
static int add_instance(loader *ld, variant *v, const char *where, const char *name,
                        const json_t *val)
{
    char path[512], known[512];
    snprintf(path, sizeof(path), "%s.%s", where, name);
    if (json_is_false(val))
        return PH_OK;
    if (!json_is_object(val) && !json_is_true(val))
        return ph_err(ld->errstr, ld->errstr_size, PH_EINVAL,
                      "%s: must be an object (its config), true or false", path);
    if (!valid_name(name))
        return ph_err(ld->errstr, ld->errstr_size, PH_EINVAL,
                      "%s: instance names are 1 to %d letters, digits, '_' or '-'", path,
                      NAME_MAX_LEN);
    const char *kind_name = name;
    const json_t *k = json_is_object(val) ? json_object_get(val, "kind") : NULL;
    if (k && !json_is_string(k))
        return ph_err(ld->errstr, ld->errstr_size, PH_EINVAL, "%s.kind: must be a string", path);
    if (k)
        kind_name = json_string_value(k);
    const json_t *revision = json_is_object(val) ? json_object_get(val, "revision") : NULL;
    if (revision && !json_is_string(revision) && !json_is_integer(revision))
        return ph_err(ld->errstr, ld->errstr_size, PH_EINVAL,
                      "%s.revision: must be a string or an integer", path);
    const ph_evaluator_kind *kind = kind_find(ld, kind_name);
    if (!kind) {
        known_kinds(ld, known, sizeof(known));
        return ph_err(ld->errstr, ld->errstr_size, PH_EINVAL,
                      "%s%s: unknown evaluator kind \"%s\" (known: %s)", path, k ? ".kind" : "",
                      kind_name, known);
    }
    json_t *empty = NULL;
    if (json_is_true(val) && !(empty = json_object()))
        return ph_err(ld->errstr, ld->errstr_size, PH_ENOMEM, "out of memory");
    const json_t *config = empty ? empty : val;
    built *b = NULL;
    int rc = build(ld, kind, config, path, &b);
    bool is_default = ld->defaults && json_object_size(config) == 0;
    json_decref(empty);
    if (rc == PH_ENOENT && is_default) {
        /* The default set enables every kind; one that needs a config is left out. */
        ph_log_info(COMPONENT, "%s (left out of the default set: it needs a config)", ld->errstr);
        return PH_OK;
    }
    if (rc)
        return rc == PH_ENOENT ? PH_EINVAL : rc;
    slot *grown = realloc(v->slots, (v->n + 1) * sizeof(*grown));
    if (!grown)
        return ph_err(ld->errstr, ld->errstr_size, PH_ENOMEM, "out of memory");
    v->slots = grown;
    if (!(v->slots[v->n].name = strdup(name)))
        return ph_err(ld->errstr, ld->errstr_size, PH_ENOMEM, "out of memory");
    v->slots[v->n++].b = b;
    return PH_OK;
}

static int build_variant(loader *ld, variant *v, const json_t *evaluators, const char *where)
{
    const char *name;
    json_t *val;
    json_object_foreach((json_t *)evaluators, name, val)
    {
        int rc = add_instance(ld, v, where, name, val);
        if (rc)
            return rc;
    }
    return PH_OK;
}

/* ---- the file ----------------------------------------------------------------------------- */

/* Merges src into dst: objects key by key, anything else replaces. */
static int deep_merge(json_t *dst, const json_t *src)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)src, key, val)
    {
        json_t *cur = json_object_get(dst, key);
        if (json_is_object(cur) && json_is_object(val)) {
            if (deep_merge(cur, val))
                return PH_ENOMEM;
        } else if (json_object_set_new(dst, key, json_deep_copy(val))) {
            return PH_ENOMEM;
        }
    }
    return PH_OK;
}

static int check_keys(loader *ld, const json_t *obj, const char *path, const char *const *allowed)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(allowed[i], key) == 0;
        if (!ok)
            return ph_err(ld->errstr, ld->errstr_size, PH_EINVAL, "%s%s%s: unknown key", path,
                          *path ? "." : "", key);
    }
    return PH_OK;
}

/* The global "evaluators" object, or the default one (every kind with {}). New reference. */
static json_t *global_evaluators(loader *ld, const json_t *root)
{
    const json_t *ev = root ? json_object_get(root, "evaluators") : NULL;
    if (ev)
        return json_deep_copy(ev);
    ld->defaults = true;
    json_t *all = json_object();
    const ph_evaluator_kind *k;
    for (size_t i = 0; all && (k = kind_at(ld, i)); i++) {
        if (k->opt_in)
            ph_log_info(COMPONENT,
                        "%s: left out of the default set (opt-in: name it in a config "
                        "file to run it)",
                        k->name);
        else
            json_object_set_new(all, k->name, json_object());
    }
    return all;
}

static int parse_match(loader *ld, const json_t *ov, const char *path, variant *v)
{
    static const char *const keys[] = {"app", "environment", NULL};
    char p[128];
    const json_t *match = json_object_get(ov, "match");
    snprintf(p, sizeof(p), "%s.match", path);
    if (!json_is_object(match))
        return ph_err(ld->errstr, ld->errstr_size, PH_EINVAL,
                      "%s: required, an object with app and/or environment", p);
    int rc = check_keys(ld, match, p, keys);
    if (rc)
        return rc;
    const json_t *app = json_object_get(match, "app");
    const json_t *env = json_object_get(match, "environment");
    if ((app && !json_is_string(app)) || (env && !json_is_string(env)) || (!app && !env))
        return ph_err(ld->errstr, ld->errstr_size, PH_EINVAL,
                      "%s: app and environment are strings, and at least one is given", p);
    if ((app && !(v->app = strdup(json_string_value(app)))) ||
        (env && !(v->environment = strdup(json_string_value(env)))))
        return ph_err(ld->errstr, ld->errstr_size, PH_ENOMEM, "out of memory");
    v->specificity = (app ? 2 : 0) + (env ? 1 : 0);
    return PH_OK;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int load_overrides(loader *ld, const json_t *root, const json_t *global)
{
    static const char *const keys[] = {"match", "evaluators", NULL};
    const json_t *ovs = root ? json_object_get(root, "overrides") : NULL;
    char path[64], where[96];
    if (!ovs)
        return PH_OK;
    if (!json_is_array(ovs))
        return ph_err(ld->errstr, ld->errstr_size, PH_EINVAL, "overrides: must be an array");
    size_t i;
    const json_t *ov;
    json_array_foreach(ovs, i, ov)
    {
        int rc;
        snprintf(path, sizeof(path), "overrides[%zu]", i);
        if (!json_is_object(ov))
            return ph_err(ld->errstr, ld->errstr_size, PH_EINVAL, "%s: must be an object", path);
        if ((rc = check_keys(ld, ov, path, keys)))
            return rc;
        variant *v = &ld->set->variants[ld->set->nvariants++];
        if ((rc = parse_match(ld, ov, path, v)))
            return rc;
        for (size_t j = 1; j + 1 < ld->set->nvariants; j++)
            if (same_str(ld->set->variants[j].app, v->app) &&
                same_str(ld->set->variants[j].environment, v->environment))
                return ph_err(ld->errstr, ld->errstr_size, PH_EINVAL,
                              "%s.match: the same as overrides[%zu].match", path, j - 1);
        const json_t *ev = json_object_get(ov, "evaluators");
        if (ev && !json_is_object(ev))
            return ph_err(ld->errstr, ld->errstr_size, PH_EINVAL,
                          "%s.evaluators: must be an object", path);
        json_t *merged = json_deep_copy(global);
        if (!merged || (ev && deep_merge(merged, ev))) {
            json_decref(merged);
            return ph_err(ld->errstr, ld->errstr_size, PH_ENOMEM, "out of memory");
        }
        snprintf(where, sizeof(where), "%s.evaluators", path);
        rc = build_variant(ld, v, merged, where);
        json_decref(merged);
        if (rc)
            return rc;
    }
    return PH_OK;
}

static int take_object(loader *ld, const json_t *root, const char *key, json_t **out)
{
    const json_t *o = root ? json_object_get(root, key) : NULL;
    if (!o)
        return PH_OK;
    if (!json_is_object(o))
        return ph_err(ld->errstr, ld->errstr_size, PH_EINVAL, "%s: must be an object", key);
    *out = json_deep_copy(o);
    return *out ? PH_OK : ph_err(ld->errstr, ld->errstr_size, PH_ENOMEM, "out of memory");
}

int ph_eval_set_from_json(ph_eval_set **out, const json_t *root,
                          const ph_evaluator_kind *const *kinds, char *errstr, size_t errstr_size)
{
    static const char *const top[] = {"evaluators", "overrides", "judge", "sessions", NULL};
    json_t *global = NULL;
    int rc;
    ph_eval_set *set = calloc(1, sizeof(*set));
    loader ld = {.set = set, .kinds = kinds, .errstr = errstr, .errstr_size = errstr_size};
    if (!set)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    if (root && !json_is_object(root)) {
        rc = ph_err(errstr, errstr_size, PH_EINVAL, "the evaluator config must be a JSON object");
        goto out;
    }
    if (root && (rc = check_keys(&ld, root, "", top)))
        goto out;
    const json_t *ev = root ? json_object_get(root, "evaluators") : NULL;
    if (ev && !json_is_object(ev)) {
        rc = ph_err(errstr, errstr_size, PH_EINVAL, "evaluators: must be an object");
        goto out;
    }
    const json_t *ovs = root ? json_object_get(root, "overrides") : NULL;
    size_t nvariants = 1 + (json_is_array(ovs) ? json_array_size(ovs) : 0);
    if (!(set->variants = calloc(nvariants, sizeof(*set->variants))) ||
        !(global = global_evaluators(&ld, root))) {
        rc = ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
        goto out;
    }
    set->nvariants = 1;
    if ((rc = build_variant(&ld, &set->variants[0], global, "evaluators")) ||
        (rc = load_overrides(&ld, root, global)) ||
        (rc = take_object(&ld, root, "judge", &set->judge)) ||
        (rc = take_object(&ld, root, "sessions", &set->sessions)))
        goto out;
out:
    json_decref(global);
    if (rc) {
        ph_eval_set_destroy(set);
        return rc;
    }
    *out = set;
    return PH_OK;
}

int ph_eval_set_load(ph_eval_set **out, const char *path, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    if (!path || !*path)
        return ph_eval_set_from_json(out, NULL, NULL, errstr, errstr_size);
    FILE *f = fopen(path, "r");
    if (!f)
        return ph_err(errstr, errstr_size, PH_EIO, "%s: cannot open", path);
    json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    fclose(f);
    if (!root)
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s:%d:%d: %s", path, jerr.line, jerr.column,
                      jerr.text);
    char why[PH_ERRSTR_SIZE];
    int rc = ph_eval_set_from_json(out, root, NULL, why, sizeof(why));
    json_decref(root);
    if (rc)
        ph_err(errstr, errstr_size, rc, "%s: %s", path, why);
    return rc;
}

void ph_eval_set_destroy(ph_eval_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->nvariants; i++) {
        variant *v = &set->variants[i];
        for (size_t j = 0; j < v->n; j++)
            free(v->slots[j].name);
        free(v->slots);
        free(v->app);
        free(v->environment);
    }
    free(set->variants);
    for (size_t i = 0; i < set->nbuilt; i++)
        built_free(set->built[i]);
    free(set->built);
    json_decref(set->judge);
    json_decref(set->sessions);
    free(set);
}

/* ---- running --------------------------------------------------------------------------- */

static bool str_is(ph_str s, const char *want)
{
    size_t n = strlen(want);
    return s.len == n && s.s && memcmp(s.s, want, n) == 0;
}

static const variant *pick(const ph_eval_set *set, const ph_eval_record *rec)
{
    const variant *best = &set->variants[0];
    for (size_t i = 1; i < set->nvariants; i++) {
        const variant *v = &set->variants[i];
        if (v->specificity > best->specificity && (!v->app || str_is(rec->app, v->app)) &&
            (!v->environment || str_is(rec->environment, v->environment)))
            best = v;
    }
    return best;
}

int ph_eval_set_run(const ph_eval_set *set, const ph_eval_record *rec, ph_eval_sink *sink)
{
    char errstr[PH_EVAL_EXPLANATION_MAX];
    int rc = PH_OK;
    const variant *v = pick(set, rec);
    for (size_t i = 0; i < v->n; i++) {
        const built *b = v->slots[i].b;
        size_t before = sink->n;
        sink->current_name = v->slots[i].name;
        sink->current_version = b->version;
        errstr[0] = '\0';
        if (b->kind->evaluate(b->state, rec, sink, errstr, sizeof(errstr)) == 0)
            continue;
        /* One ERROR result in place of whatever the failed run appended. */
        sink->n = before;
        ph_eval_result *r = ph_eval_emit(sink, NULL);
        if (!r) {
            rc = PH_ENOMEM;
            break;
        }
        r->status = PH_EVAL_ERROR;
        ph_eval_explain(r, "%s", errstr[0] ? errstr : "the evaluator failed");
    }
    sink->current_name = NULL;
    sink->current_version = NULL;
    return rc;
}

/* ---- accessors ----------------------------------------------------------------------------- */

const json_t *ph_eval_set_judge(const ph_eval_set *set)
{
    return set->judge;
}

const json_t *ph_eval_set_sessions(const ph_eval_set *set)
{
    return set->sessions;
}

size_t ph_eval_set_size(const ph_eval_set *set)
{
    size_t n = 0;
    for (size_t i = 0; i < set->nvariants; i++)
        n += set->variants[i].n;
    return n;
}

int ph_eval_set_entry(const ph_eval_set *set, size_t i, ph_eval_instance_info *info)
{
    for (size_t vi = 0; vi < set->nvariants; vi++) {
        const variant *v = &set->variants[vi];
        if (i >= v->n) {
            i -= v->n;
            continue;
        }
        const built *b = v->slots[i].b;
        info->name = v->slots[i].name;
        info->kind = b->kind->name;
        info->version = b->version;
        info->summary = b->kind->summary ? b->kind->summary : "";
        info->config = b->config;
        info->match_app = v->app;
        info->match_environment = v->environment;
        return PH_OK;
    }
    return PH_ENOENT;
}
