#include "ph_pcre.h"

#include "ph_error.h"

#include <stdio.h>
#include <string.h>

int ph_pcre_compile(pcre2_code **code, const char *pattern, uint32_t options, const char *what,
                    char *errstr, size_t errstr_size)
{
    int errcode = 0;
    PCRE2_SIZE erroffset = 0;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PH_PCRE_BASE_OPTIONS | options, &errcode, &erroffset, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        if (pcre2_get_error_message(errcode, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", errcode);
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s: %s at offset %zu", what,
                      (const char *)msg, (size_t)erroffset);
    }
    /* A JIT failure (no JIT on this platform, or out of executable memory) is not an error:
     * pcre2_match then interprets the pattern, with the same results, only slower. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    *code = re;
    return 0;
}

pcre2_match_context *ph_pcre_mcontext_new(uint32_t match_limit)
{
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    if (!mc)
        return NULL;
    pcre2_set_match_limit(mc, match_limit);
    /* The interpreter's backtracking memory (KiB); JIT uses its 32 KiB machine stack instead. */
    pcre2_set_heap_limit(mc, 20 * 1024);
    return mc;
}

pcre2_match_data *ph_pcre_match_data_new(const pcre2_code *const *codes, size_t ncodes)
{
    uint32_t pairs = 1;
    for (size_t i = 0; i < ncodes; i++) {
        uint32_t n = 0;
        if (codes[i] && pcre2_pattern_info(codes[i], PCRE2_INFO_CAPTURECOUNT, &n) == 0 &&
            n + 1 > pairs)
            pairs = n + 1;
    }
    return pcre2_match_data_create(pairs, NULL);
}

int ph_pcre_find(const pcre2_code *code, const char *s, size_t len, size_t start,
                 pcre2_match_data *md, pcre2_match_context *mc, size_t *mstart, size_t *mend)
{
    int rc = pcre2_match(code, (PCRE2_SPTR)s, len, start, 0, md, mc);
    /* JIT code backtracks on a 32 KiB machine stack, which a legitimate pattern such as
     * ^(\w+\s?)*$ outgrows on a long text. A JIT stack of our own would have to be per thread;
     * the interpreter instead keeps its frames on the heap (within the heap limit), so a retry
     * there gives the answer, under the same match limit. */
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(code, (PCRE2_SPTR)s, len, start, PCRE2_NO_JIT, md, mc);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
        rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_NOMEMORY)
        return PH_ERANGE;
    if (rc < 0)
        return PH_EINVAL;
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    *mstart = ov[0];
    *mend = ov[1];
    return 1;
}

int ph_pcre_count(const pcre2_code *code, const char *s, size_t len, pcre2_match_data *md,
                  pcre2_match_context *mc, size_t max, size_t *count)
{
    size_t n = 0, off = 0, ms, me;
    int rc = 0;
    while (off <= len && (max == 0 || n < max)) {
        rc = ph_pcre_find(code, s, len, off, md, mc, &ms, &me);
        if (rc <= 0)
            break;
        n++;
        if (me > ms) {
            off = me;
        } else {
            /* an empty match: step over one whole UTF-8 character */
            off = me + 1;
            while (off < len && ((unsigned char)s[off] & 0xc0) == 0x80)
                off++;
        }
    }
    *count = n;
    return rc < 0 ? rc : 0;
}

bool ph_pcre_append_literal(char *buf, size_t size, size_t *pos, const char *text, size_t len,
                            bool spaces_flexible)
{
    size_t p = *pos;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
        if (space && spaces_flexible) {
            while (i + 1 < len && (text[i + 1] == ' ' || text[i + 1] == '\t' ||
                                   text[i + 1] == '\n' || text[i + 1] == '\r'))
                i++;
            if (p + 3 >= size)
                return false;
            memcpy(buf + p, "\\s+", 3);
            p += 3;
            continue;
        }
        /* ASCII punctuation and spaces are escaped; letters, digits and UTF-8 bytes stand for
         * themselves (a backslash before a letter or digit would change its meaning). */
        bool escape = c < 0x80 && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
                      !(c >= '0' && c <= '9');
        if (c < 0x20) {
            /* control characters: \x{hh}, so the pattern stays printable */
            if (p + 6 >= size)
                return false;
            p += (size_t)snprintf(buf + p, size - p, "\\x{%02x}", c);
            continue;
        }
        if (p + (escape ? 2 : 1) >= size)
            return false;
        if (escape)
            buf[p++] = '\\';
        buf[p++] = (char)c;
    }
    buf[p] = '\0';
    *pos = p;
    return true;
}
