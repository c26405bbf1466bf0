/* Internals of the record module shared by its .c files: the rule table, the per-call rule
 * context, the checks both the JSON and the Avro path apply, and thin Avro value helpers.
 * Nothing here is part of the public API. */
#ifndef PH_RECORD_INT_H
#define PH_RECORD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <avro.h>

#include "ph_record.h"
#include "ph_record_jdoc.h"

/* Rule codes, in the order of the table in ph_rules.c (and of docs/validation.md). */
enum {
    PH_R_INVALID_JSON = 0,
    PH_R_INVALID_UTF8,
    PH_R_DUPLICATE_KEY,
    PH_R_NOT_OBJECT,
    PH_R_OVERSIZED_RECORD,
    PH_R_MISSING_FIELD,
    PH_R_EMPTY_FIELD,
    PH_R_WRONG_TYPE,
    PH_R_INVALID_VALUE,
    PH_R_BAD_TIMESTAMP,
    PH_R_TIMESTAMP_NO_OFFSET,
    PH_R_NEGATIVE_VALUE,
    PH_R_IMPOSSIBLE_VALUE,
    PH_R_UNKNOWN_ROLE,
    PH_R_UNSUPPORTED_CONTENT,
    PH_R_OVERSIZED_FIELD,
    PH_R_NUL_CHARACTER,
    PH_R_TOO_MANY_MESSAGES,
    PH_R_TOO_MANY_CONTEXT,
    PH_R_CONFLICTING_ALIAS,
    PH_R_COUNT
};

/* Severities. A call site reports with its natural severity (FATAL for required fields, WARN
 * for optional ones); an override in the rule set, when present, replaces it. */
enum { PH_SEV_DEFAULT = 0, PH_SEV_FATAL, PH_SEV_WARN, PH_SEV_OFF };

/* Limits that are not configurable (documented in docs/validation.md). */
#define PH_MAX_TOKENS     100000000LL    /* no call bills 100M tokens */
#define PH_MAX_LATENCY_MS 86400000.0     /* 24 h */
#define PH_MIN_TIME_MS    946684800000LL /* 2000-01-01T00:00:00Z: older means seconds */
#define PH_QUOTE_BYTES    64             /* how much of a bad value a message quotes */

struct ph_rules {
    size_t max_record_bytes;
    size_t max_field_bytes;
    size_t max_messages;
    size_t max_context;
    int64_t max_clock_skew_ms;
    char **roles; /* lower case */
    size_t nroles;
    unsigned char sev[PH_R_COUNT];
};

/* The static name of a rule code. */
const char *ph_rule_code(int rule);

/* A growable byte buffer, always NUL-terminated once used. */
typedef struct ph_buf {
    char *p;
    size_t len;
    size_t cap;
} ph_buf;

int ph_buf_reserve(ph_buf *b, size_t cap);
int ph_buf_append(ph_buf *b, const void *src, size_t n);
void ph_buf_free(ph_buf *b);

/* Per-call state of one judgement. */
typedef struct ph_rctx {
    const ph_rules *rules;
    ph_issues *fatal;
    ph_issues *warnings;
    size_t warnings0; /* warnings->n at the start: the ones this call added follow */
    int64_t now_ms;   /* ingest time: the reference for clock skew */
    int err;          /* first failure of the process (PH_ENOMEM, PH_EAVRO); sticky */
    int nfatal;       /* fatal issues reported by this call */
    ph_buf fix;       /* repaired text */
    ph_buf join;      /* joined multi-part text */
} ph_rctx;

void ph_rctx_init(ph_rctx *c, const ph_rules *rules, ph_issues *fatal, ph_issues *warnings,
                  int64_t now_ms);
void ph_rctx_done(ph_rctx *c);

/* Reports rule `rule` with its natural severity; returns the effective one (PH_SEV_FATAL,
 * PH_SEV_WARN or PH_SEV_OFF). The repair is the caller's and does not depend on it. */
int ph_report(ph_rctx *c, int rule, int natural, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Writes at most PH_QUOTE_BYTES of s (cut at a UTF-8 boundary, "..." appended when cut) into
 * out, for quoting a bad value in a message. s must be valid UTF-8. Returns out. */
const char *ph_quote(char out[PH_QUOTE_BYTES + 4], const char *s, size_t len);

/* ---- UTF-8 and text ---------------------------------------------------------------------- */

/* True when s[0..len) is valid UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF), the same acceptance as jansson's parser. */
bool ph_utf8_valid(const char *s, size_t len);

/* The offset of the first byte of s[0..len) that does not start a valid UTF-8 sequence (by
 * the same rules), or len. */
size_t ph_utf8_first_invalid(const char *s, size_t len);

/* Appends s to b with every invalid byte replaced by U+FFFD. */
int ph_utf8_repair(ph_buf *b, const char *s, size_t len);

/* The largest n <= max such that s[0..n) ends on a UTF-8 character boundary. */
size_t ph_utf8_cut(const char *s, size_t len, size_t max);

/* Field paths of issues: "<base>.<name>" (or just base when name is NULL) and "<base>[i]",
 * written into buf and cut to size like snprintf. They are built for every message and
 * passage, where snprintf was a tenth of the mapping's time. Return buf. */
const char *ph_path(char *buf, size_t size, const char *base, const char *name);
const char *ph_path_index(char *buf, size_t size, const char *base, size_t i);

/* True when s[0..len) is empty or only whitespace. */
bool ph_blank(const char *s, size_t len);

#define PH_TEXT_UTF8 1 /* validate (and repair) UTF-8: text the JSON parser did not read */
#define PH_TEXT_META 2 /* transport metadata (headers): problems are warnings, not fatal */

/* Checks a string bound for an Avro string and repairs it: invalid UTF-8 (with PH_TEXT_UTF8:
 * replaced by U+FFFD), NUL characters (removed), more than max_field_bytes (cut at a character
 * boundary). s must be NUL-terminated at len. out and out_len get the text to store, also
 * NUL-terminated: s itself, or c->fix (valid until the next call). Returns true if changed. */
bool ph_text_check(ph_rctx *c, const char *s, size_t len, const char *field, int flags,
                   const char **out, size_t *out_len);

/* ---- Times and numbers ------------------------------------------------------------------- */

/* Parses an RFC 3339 date-time into epoch milliseconds (fraction truncated). *no_offset is set
 * when the string has no Z or offset (then UTC is assumed). Returns false when unparseable. */
bool ph_time_parse(const char *s, size_t len, int64_t *ms, bool *no_offset);

/* Range checks shared by both paths. Each reports the problem and returns false when the value
 * must be dropped. */
bool ph_check_turn(ph_rctx *c, int64_t turn, const char *field);
bool ph_check_tokens(ph_rctx *c, int64_t n, const char *field);
bool ph_check_latency(ph_rctx *c, double ms, const char *field);
bool ph_check_cost(ph_rctx *c, double usd, const char *field);
bool ph_check_score(ph_rctx *c, double score, const char *field);
/* `numeric` says the value was given as a number (negative numbers are negative_value). */
bool ph_check_time(ph_rctx *c, int64_t ms, bool numeric, const char *field);

/* Matches a role against the configured ones ignoring case; returns the canonical (lower case)
 * spelling or NULL. */
const char *ph_role_match(const ph_rules *r, const char *role, size_t len);

/* Status words: 1 OK, 2 ERROR, 0 unknown. */
int ph_status_parse(const char *s, size_t len);

/* ---- Avro value helpers ------------------------------------------------------------------ */
/* Each records a failure in c->err and leaves an unusable out value (iface NULL) that the other
 * helpers ignore, so mapping code can run straight through and check c->err once. */

bool ph_av_get(ph_rctx *c, avro_value_t *rec, const char *name, avro_value_t *out);
void ph_av_null(ph_rctx *c, avro_value_t *v);                               /* union: null branch */
void ph_av_str(ph_rctx *c, avro_value_t *v, const char *s, size_t len);     /* plain string */
void ph_av_opt_str(ph_rctx *c, avro_value_t *v, const char *s, size_t len); /* union string */
void ph_av_opt_int(ph_rctx *c, avro_value_t *v, int32_t x);
void ph_av_opt_long(ph_rctx *c, avro_value_t *v, int64_t x);
void ph_av_opt_double(ph_rctx *c, avro_value_t *v, double x);
void ph_av_opt_bool(ph_rctx *c, avro_value_t *v, bool x);
void ph_av_long(ph_rctx *c, avro_value_t *v, int64_t x);
void ph_av_enum(ph_rctx *c, avro_value_t *v, int x);
bool ph_av_append(ph_rctx *c, avro_value_t *array, avro_value_t *elem);
bool ph_av_add(ph_rctx *c, avro_value_t *map, const char *key, avro_value_t *elem);
/* Sets every ["null", ...] union field of a record to null (after avro_value_reset unions keep
 * their branch, and an unset union cannot be encoded). */
void ph_av_null_unions(ph_rctx *c, avro_value_t *rec);
/* The branch of a union that is not null, or false (also when unset). */
bool ph_av_branch(ph_rctx *c, avro_value_t *u, avro_value_t *branch);
/* Reads a string value: *s is never NULL, *len excludes the terminating NUL. */
bool ph_av_get_str(ph_rctx *c, avro_value_t *v, const char **s, size_t *len);

/* Sets a map entry key -> text, key and text checked (field "<prefix>.<key>", or "<key>" when
 * prefix is NULL). */
void ph_meta_put(ph_rctx *c, avro_value_t *map, const char *prefix, const char *key, size_t key_len,
                 const char *val, size_t val_len, int flags);

/* Copies the warnings this call added into the record's quality_warnings (reset first). */
void ph_av_quality(ph_rctx *c, avro_value_t *llmlog);

/* Sets a record's array of {code, field, message} from a list (InvalidRecord reasons). */
void ph_av_issue_array(ph_rctx *c, avro_value_t *array, const ph_issues *list, size_t from);

/* ---- JSON field readers (ph_record_jfield.c), shared by log and feedback mapping ---------- */

/* An integer-valued JSON number: an integer, or a real without fraction. */
bool ph_jv_int(const ph_jv *v, int64_t *out);

/* An id: a string (checked; empty is empty_field), or an integer written in decimal. Any other
 * type is wrong_type. `natural` is the severity of those problems. Returns true if set. */
bool ph_j_id(ph_rctx *c, const ph_jv *v, const char *key, avro_value_t *field, int natural);

/* An optional text field (union): a string, checked; empty strings are empty_field and
 * dropped, other types wrong_type and dropped (warnings). Returns true if set. */
bool ph_j_text(ph_rctx *c, const ph_jv *v, const char *key, avro_value_t *field);

/* A time: epoch milliseconds (integer or real) or an RFC 3339 string, range-checked. Returns
 * true and sets *ms when usable. */
bool ph_j_time(ph_rctx *c, const ph_jv *v, const char *key, int64_t *ms);

/* Puts one JSON value into a string map under `key`: strings as they are, anything else as its
 * compact JSON text; null is skipped. Issues name the field "<prefix>.<key>" (or "<key>"). With
 * if_absent, an existing key is kept and the new value reported as conflicting_alias. */
void ph_j_meta_value(ph_rctx *c, avro_value_t *map, const char *prefix, const char *key,
                     size_t key_len, const ph_jv *v, bool if_absent);

/* Maps a "metadata" JSON object into the map (wrong_type and dropped when not an object). */
void ph_j_metadata(ph_rctx *c, const ph_jv *obj, const char *key, avro_value_t *map);

#endif
