/* The rule table, the rule configuration and the per-call reporting of issues. */
#include "ph_record_int.h"

#include "ph_error.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One row per rule code; docs/validation.md is the long form of this table (a test checks that
 * every code is documented there). */
static const struct rule_def {
    const char *code;
    const char *default_severity;
    bool fixed; /* severity cannot be overridden: nothing can be made of such input */
    const char *summary;
} rule_defs[PH_R_COUNT] = {
    [PH_R_INVALID_JSON] = {"invalid_json", "fatal", true,
                           "the value is not one JSON document (syntax error, truncated input, "
                           "number beyond int64/double)"},
    [PH_R_INVALID_UTF8] = {"invalid_utf8", "fatal", false,
                           "bytes that are not UTF-8 (repaired with U+FFFD when not fatal)"},
    [PH_R_DUPLICATE_KEY] = {"duplicate_key", "fatal", false,
                            "an object holds the same key twice (the last wins when not fatal)"},
    [PH_R_NOT_OBJECT] = {"not_object", "fatal", true, "the JSON value is not an object"},
    [PH_R_OVERSIZED_RECORD] = {"oversized_record", "fatal", false,
                               "the raw record is larger than max_record_bytes"},
    [PH_R_MISSING_FIELD] = {"missing_field", "fatal|warn", false,
                            "a required field is absent (input, output of an OK call); an "
                            "optional part lacks what it needs (dropped)"},
    [PH_R_EMPTY_FIELD] = {"empty_field", "fatal|warn", false,
                          "a required field is empty or blank; an optional string is empty "
                          "(dropped)"},
    [PH_R_WRONG_TYPE] = {"wrong_type", "fatal|warn", false,
                         "a value of the wrong JSON type: fatal for required fields, dropped "
                         "for optional ones"},
    [PH_R_INVALID_VALUE] = {"invalid_value", "warn", false,
                            "a value outside its vocabulary (status word): dropped"},
    [PH_R_BAD_TIMESTAMP] = {"bad_timestamp", "warn", false,
                            "a time that is neither RFC 3339 nor epoch milliseconds: dropped"},
    [PH_R_TIMESTAMP_NO_OFFSET] = {"timestamp_no_offset", "warn", false,
                                  "an RFC 3339 time without Z or offset: read as UTC"},
    [PH_R_NEGATIVE_VALUE] = {"negative_value", "warn", false,
                             "negative tokens, latency, cost or time, turn below 1: dropped"},
    [PH_R_IMPOSSIBLE_VALUE] = {"impossible_value", "warn", false,
                               "token count, latency or time out of any sane range, end before "
                               "start, non-finite number: dropped"},
    [PH_R_UNKNOWN_ROLE] = {"unknown_role", "warn", false,
                           "a message role outside the configured roles: kept"},
    [PH_R_UNSUPPORTED_CONTENT] = {"unsupported_content", "warn", false,
                                  "a non-text content part (image, audio, file): dropped"},
    [PH_R_OVERSIZED_FIELD] = {"oversized_field", "warn", false,
                              "a string longer than max_field_bytes: cut at a UTF-8 boundary"},
    [PH_R_NUL_CHARACTER] = {"nul_character", "warn", false,
                            "a string holds U+0000: the NUL characters are removed"},
    [PH_R_TOO_MANY_MESSAGES] = {"too_many_messages", "warn", false,
                                "more than max_messages input messages: the last ones are kept"},
    [PH_R_TOO_MANY_CONTEXT] = {"too_many_context", "warn", false,
                               "more than max_context passages: the last ones are kept"},
    [PH_R_CONFLICTING_ALIAS] = {"conflicting_alias", "warn", false,
                                "two spellings of one field with different values: the "
                                "preferred one is kept"},
};

const char *ph_rule_code(int rule)
{
    return rule_defs[rule].code;
}

int ph_rule_info(size_t i, const char **code, const char **default_severity, const char **summary)
{
    if (i >= PH_R_COUNT)
        return PH_ENOENT;
    if (code)
        *code = rule_defs[i].code;
    if (default_severity)
        *default_severity = rule_defs[i].default_severity;
    if (summary)
        *summary = rule_defs[i].summary;
    return 0;
}

static int find_rule(const char *code, size_t len)
{
    for (int i = 0; i < PH_R_COUNT; i++)
        if (strlen(rule_defs[i].code) == len && memcmp(rule_defs[i].code, code, len) == 0)
            return i;
    return -1;
}

static void trim(const char **s, size_t *len)
{
    while (*len && isspace((unsigned char)**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len && isspace((unsigned char)(*s)[*len - 1]))
        (*len)--;
}

/* "code=sev,code=sev": every item is checked, the first bad one is reported. */
static int parse_severity(ph_rules *r, const char *spec, char *errstr, size_t errstr_size)
{
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *item = p;
        p += n + (end ? 1 : 0);
        trim(&item, &n);
        if (n == 0)
            continue;
        const char *eq = memchr(item, '=', n);
        if (!eq)
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "severity override '%.*s': expected code=fatal|warn|off", (int)n, item);
        const char *code = item;
        size_t clen = (size_t)(eq - item);
        const char *sev = eq + 1;
        size_t slen = n - clen - 1;
        trim(&code, &clen);
        trim(&sev, &slen);
        int rule = find_rule(code, clen);
        if (rule < 0)
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "severity override: unknown rule code '%.*s' (see docs/validation.md)",
                          (int)clen, code);
        int level;
        if (slen == 5 && strncasecmp(sev, "fatal", 5) == 0)
            level = PH_SEV_FATAL;
        else if ((slen == 4 && strncasecmp(sev, "warn", 4) == 0) ||
                 (slen == 7 && strncasecmp(sev, "warning", 7) == 0))
            level = PH_SEV_WARN;
        else if (slen == 3 && strncasecmp(sev, "off", 3) == 0)
            level = PH_SEV_OFF;
        else
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "severity override for '%s': unknown severity '%.*s' (fatal, warn or "
                          "off)",
                          rule_defs[rule].code, (int)slen, sev);
        if (rule_defs[rule].fixed && level != PH_SEV_FATAL)
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "severity override: rule '%s' is always fatal", rule_defs[rule].code);
        r->sev[rule] = (unsigned char)level;
    }
    return 0;
}

static int parse_roles(ph_rules *r, const char *list, char *errstr, size_t errstr_size)
{
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *item = p;
        p += n + (end ? 1 : 0);
        trim(&item, &n);
        if (n == 0)
            continue;
        char **roles = realloc(r->roles, (r->nroles + 1) * sizeof(*roles));
        if (!roles)
            return PH_ENOMEM;
        r->roles = roles;
        char *role = strndup(item, n);
        if (!role)
            return PH_ENOMEM;
        for (char *q = role; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        r->roles[r->nroles++] = role;
    }
    if (r->nroles == 0)
        return ph_err(errstr, errstr_size, PH_EINVAL, "roles: the list of roles is empty");
    return 0;
}

static int limit(int64_t v, int64_t def, int64_t min, const char *name, int64_t *out, char *errstr,
                 size_t errstr_size)
{
    if (v == 0)
        v = def;
    if (v < min)
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s: %lld is below the minimum %lld", name,
                      (long long)v, (long long)min);
    *out = v;
    return 0;
}

int ph_rules_new(ph_rules **rules, const ph_rules_config *cfg, char *errstr, size_t errstr_size)
{
    static const ph_rules_config defaults = {0};
    if (!rules)
        return ph_err(errstr, errstr_size, PH_EINVAL, "ph_rules_new: rules is NULL");
    if (!cfg)
        cfg = &defaults;
    ph_rules *r = calloc(1, sizeof(*r));
    if (!r)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    int64_t v;
    int rc;
    /* A field must hold at least one character of any size and the "..." of a quote. */
    if ((rc = limit(cfg->max_record_bytes, PH_RULES_DEFAULT_MAX_RECORD_BYTES, 2, "max_record_bytes",
                    &v, errstr, errstr_size)))
        goto out;
    r->max_record_bytes = (size_t)v;
    if ((rc = limit(cfg->max_field_bytes, PH_RULES_DEFAULT_MAX_FIELD_BYTES, 16, "max_field_bytes",
                    &v, errstr, errstr_size)))
        goto out;
    r->max_field_bytes = (size_t)v;
    if ((rc = limit(cfg->max_messages, PH_RULES_DEFAULT_MAX_MESSAGES, 1, "max_messages", &v, errstr,
                    errstr_size)))
        goto out;
    r->max_messages = (size_t)v;
    if ((rc = limit(cfg->max_context, PH_RULES_DEFAULT_MAX_CONTEXT, 1, "max_context", &v, errstr,
                    errstr_size)))
        goto out;
    r->max_context = (size_t)v;
    if ((rc = limit(cfg->max_clock_skew_ms, PH_RULES_DEFAULT_MAX_CLOCK_SKEW_MS, 1,
                    "max_clock_skew_ms", &v, errstr, errstr_size)))
        goto out;
    r->max_clock_skew_ms = v;
    rc = parse_roles(r, cfg->roles ? cfg->roles : PH_RULES_DEFAULT_ROLES, errstr, errstr_size);
    if (rc == PH_ENOMEM)
        ph_err(errstr, errstr_size, rc, "out of memory");
    if (rc)
        goto out;
    if (cfg->severity && (rc = parse_severity(r, cfg->severity, errstr, errstr_size)))
        goto out;
    *rules = r;
    r = NULL;
out:
    ph_rules_destroy(r);
    return rc;
}

void ph_rules_destroy(ph_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nroles; i++)
        free(r->roles[i]);
    free(r->roles);
    free(r);
}

const char *ph_role_match(const ph_rules *r, const char *role, size_t len)
{
    for (size_t i = 0; i < r->nroles; i++)
        if (strlen(r->roles[i]) == len && strncasecmp(r->roles[i], role, len) == 0)
            return r->roles[i];
    return NULL;
}

void ph_rctx_init(ph_rctx *c, const ph_rules *rules, ph_issues *fatal, ph_issues *warnings,
                  int64_t now_ms)
{
    memset(c, 0, sizeof(*c));
    c->rules = rules;
    c->fatal = fatal;
    c->warnings = warnings;
    c->warnings0 = warnings->n;
    c->now_ms = now_ms;
}

void ph_rctx_done(ph_rctx *c)
{
    ph_buf_free(&c->fix);
    ph_buf_free(&c->join);
}

int ph_report(ph_rctx *c, int rule, int natural, const char *field, const char *fmt, ...)
{
    int sev = c->rules->sev[rule] ? c->rules->sev[rule] : natural;
    if (sev == PH_SEV_OFF)
        return sev;
    ph_issues *list = sev == PH_SEV_FATAL ? c->fatal : c->warnings;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(msg)) /* never leave half a character behind */
        msg[ph_utf8_cut(msg, sizeof(msg) - 1, sizeof(msg) - 1)] = '\0';
    if (ph_issues_add(list, rule_defs[rule].code, field, "%s", msg) && !c->err)
        c->err = PH_ENOMEM;
    if (sev == PH_SEV_FATAL)
        c->nfatal++;
    return sev;
}
