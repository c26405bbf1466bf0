/* PCRE2 as the evaluators use it (words, regex, pii): patterns compiled once at create() in the
 * same UTF mode, JIT-compiled when the library has a JIT, matched under per-instance limits.
 *
 * Why PCRE2_MATCH_INVALID_UTF: record content is UTF-8 as far as the validator can tell, but an
 * evaluator must never fail on bytes that are not. In this mode an invalid sequence simply never
 * matches (it splits the subject into valid fragments), and pcre2_match skips its up-front UTF
 * check, which would otherwise re-read the whole subject on every call of every pattern.
 *
 * Threads: a compiled pattern and a match context are read-only after creation and shared by
 * every thread running the instance; a pcre2_match_data belongs to one call (create it per
 * evaluate() with ph_pcre_match_data_new and free it before returning: it is one malloc). */
#ifndef PH_PCRE_H
#define PH_PCRE_H

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Options every pattern gets: PCRE2_UTF | PCRE2_MATCH_INVALID_UTF. */
#define PH_PCRE_BASE_OPTIONS (PCRE2_UTF | PCRE2_MATCH_INVALID_UTF)

/* Default limit on pcre2's internal backtracking counter per match call (pcre2's own default is
 * 10,000,000, i.e. seconds of CPU on a pathological pattern). */
#define PH_PCRE_DEFAULT_MATCH_LIMIT 1000000u

/* Compiles a NUL-terminated pattern with PH_PCRE_BASE_OPTIONS | options and JIT-compiles it when
 * JIT is available (falls back to the interpreter otherwise). `what` names the pattern in the
 * error message, e.g. "patterns[1].pattern: missing closing parenthesis at offset 4".
 * On success *code is the caller's (free with pcre2_code_free). */
int ph_pcre_compile(pcre2_code **code, const char *pattern, uint32_t options, const char *what,
                    char *errstr, size_t errstr_size);

/* A match context limiting every match call to match_limit backtracking steps (and the
 * interpreter's heap to 20 MiB): the guard against catastrophic backtracking. The caller owns
 * it (pcre2_match_context_free). Returns NULL when out of memory. */
pcre2_match_context *ph_pcre_mcontext_new(uint32_t match_limit);

/* Match data able to hold the captures of every listed pattern (NULL entries skipped). Owned by
 * the caller (pcre2_match_data_free); NULL when out of memory. */
pcre2_match_data *ph_pcre_match_data_new(const pcre2_code *const *codes, size_t ncodes);

/* One search of s[0..len) from byte offset start. Returns 1 and the match's byte span (group 0)
 * in *mstart / *mend, 0 when there is no match, PH_ERANGE when the match, heap or depth limit was
 * hit (the answer is unknown), PH_EINVAL on any other pcre2 error. A search that outgrows the JIT
 * stack is run again by the interpreter. */
int ph_pcre_find(const pcre2_code *code, const char *s, size_t len, size_t start,
                 pcre2_match_data *md, pcre2_match_context *mc, size_t *mstart, size_t *mend);

/* Counts non-overlapping matches in s, stopping at max (max == 0: no cap). An empty match
 * advances by one character. Returns 0 and *count, or a ph_pcre_find error (then *count holds the
 * matches counted before it). */
int ph_pcre_count(const pcre2_code *code, const char *s, size_t len, pcre2_match_data *md,
                  pcre2_match_context *mc, size_t max, size_t *count);

/* Appends `text` (len bytes) to the pattern buffer as a literal: ASCII punctuation is escaped,
 * every run of whitespace becomes \s+ when spaces_flexible (so a phrase matches across line
 * breaks and repeated spaces). Returns false when buf (size bytes) is too small. *pos is the
 * current length and is advanced; buf stays NUL-terminated. */
bool ph_pcre_append_literal(char *buf, size_t size, size_t *pos, const char *text, size_t len,
                            bool spaces_flexible);

#endif
