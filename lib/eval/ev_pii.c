/* pii: personal data and secrets in the output and the input, counted by type: emails, phone
 * numbers, payment cards, IBANs, US SSNs, IPv4 and IPv6 addresses, API keys and other secrets.
 * docs/evaluators/pii.md is the reference; nothing found is ever echoed, only types and counts.
 *
 * How, and why so: every record passes through here, and a PCRE2 search per type over the whole
 * text cost 23 us a record on the shared data (patterns that may start at any letter or digit
 * make PCRE2 try nearly every position). So a text is read by a few cheap C passes that find
 * where something could be (an '@', a ':', a cluster of digits, a long token, "-----BEGIN"), and
 * the exact shape is then checked there by a PCRE2 pattern compiled anchored (JIT, one attempt),
 * followed by the checks only code can make: Luhn for cards, mod-97 and the country's length for
 * IBANs, inet_pton for IPv6, digit counts for phones, entropy and context for secrets.
 *
 * Everything is built at create(); evaluate() allocates one pcre2 match data per call. */
#include "ph_error.h"
#include "ph_eval.h"
#include "ph_pcre.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_EMAIL, T_PHONE, T_CARD, T_IBAN, T_SSN, T_IPV4, T_IPV6, T_SECRET, NTYPES };
static const char *const type_names[NTYPES] = {"email", "phone", "card", "iban",
                                               "ssn",   "ipv4",  "ipv6", "secret"};
static const char *const value_names[2][NTYPES + 1] = {
    {"output.email", "output.phone", "output.card", "output.iban", "output.ssn", "output.ipv4",
     "output.ipv6", "output.secret", "output.total"},
    {"input.email", "input.phone", "input.card", "input.iban", "input.ssn", "input.ipv4",
     "input.ipv6", "input.secret", "input.total"},
};
enum { SIDE_OUTPUT, SIDE_INPUT };

/* The candidate shapes. Each is compiled anchored: it is tried at one position found by the C
 * passes, never searched for; but P_SECRET_CONTEXT, searched for just before a token. */
enum {
    P_EMAIL,
    P_PHONE_INTL,
    P_PHONE_NANP,
    P_PHONE_NATIONAL,
    P_CARD,
    P_SSN,
    P_IBAN,
    P_IPV4,
    P_IPV6,
    P_KEY,
    P_PRIVATE_KEY,
    P_SECRET_CONTEXT,
    NPATTERNS
};

static const char *const patterns[NPATTERNS] = {
    [P_EMAIL] = "(?<![\\w.%+-])[A-Za-z0-9._%+-]{1,64}@"
                "(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z]{2,24}(?![\\w-])",
    /* +44 (0)20 7946 0958, +1-555-123-4567, +8613812345678 */
    [P_PHONE_INTL] = "(?<![\\w+])\\+\\d++(?:(?:[ .\\-]?\\(\\d{1,4}\\)[ .\\-]?|[ .\\-])\\d++){0,6}+"
                     "(?!\\w)",
    /* (555) 234-5678, 555-234-5678, 555.234.5678, 1-800-555-1234: separators required, and
     * area code and exchange start with 2-9 as in the NANP */
    [P_PHONE_NANP] = "(?<![\\w+.\\-/])(?:1[ .\\-])?(?:\\([2-9]\\d\\d\\)[ ]?[2-9]\\d\\d[\\-.]|"
                     "[2-9]\\d\\d([\\-.])[2-9]\\d\\d\\1)\\d{4}(?![\\w\\-]|\\.\\d)",
    /* a trunk prefix 0, groups separated alike by spaces or dashes: 020 7946 0958, 06-12345678 */
    [P_PHONE_NATIONAL] = "(?<![\\w+.\\-/:])0[1-9]\\d{0,3}(?:([ \\-])\\d{2,8})(?:\\1\\d{2,8}){0,3}+"
                         "(?!\\w|[.\\-/]\\d)",
    [P_CARD] = "(?<![\\w\\-.])(?:\\d{13,19}|\\d{4}([ \\-])\\d{4,6}\\1\\d{4,5}(?:\\1\\d{1,4}){0,2}+)"
               "(?!\\w|[\\-.]\\d)",
    /* area not 000, 666 or 9xx; group not 00; serial not 0000; same separator twice */
    [P_SSN] = "(?<![\\w\\-.])(?!000|666|9)\\d{3}([\\- ])(?!00)\\d\\d\\1(?!0000)\\d{4}"
              "(?!\\w|[\\-.]\\d)",
    [P_IBAN] = "(?<!\\w)[A-Z]{2}\\d\\d(?: ?[A-Z0-9]{4}){2,7}+(?: ?[A-Z0-9]{1,3})?(?!\\w)",
    [P_IPV4] = "(?<![\\w.\\-:])(?:(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}"
               "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(?!\\w|\\.\\d)",
    [P_IPV6] = "(?<![\\w:.])[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{0,4}){2,7}+(?![\\w:.])",
    /* keys with a well-known prefix (OpenAI/Anthropic, Stripe, AWS, GitHub, Slack, Google,
     * GitLab) and JSON Web Tokens */
    [P_KEY] = "(?<![\\w\\-])(?:sk-(?:proj-|ant-|live-|svcacct-|admin-)?[A-Za-z0-9_\\-]{20,}"
              "|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}|(?:AKIA|ASIA)[A-Z0-9]{16}"
              "|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}"
              "|xox[baprs]-[A-Za-z0-9\\-]{10,}|AIza[A-Za-z0-9_\\-]{35}|glpat-[A-Za-z0-9_\\-]{20,}"
              "|eyJ[A-Za-z0-9_\\-]{10,}\\.eyJ[A-Za-z0-9_\\-]{10,}\\.[A-Za-z0-9_\\-]{10,})"
              "(?![\\w\\-])",
    [P_PRIVATE_KEY] = "-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----",
    [P_SECRET_CONTEXT] =
        "(?i)(?:api[_\\-]?key|secret|token|passw(?:or)?d|pwd|access[_\\-]?key|credentials?|"
        "auth(?:orization)?)[\\w\\-]{0,20}[\"']?\\s{0,3}(?:[:=]|=>|\\bis\\b)\\s{0,3}"
        "(?:bearer\\s+)?[\"']?\\z",
};

typedef struct pii_state {
    pcre2_code *code[NPATTERNS];
    pcre2_match_context *mc;
    unsigned types;      /* detectors that run (bit per type) */
    unsigned fail_types; /* types that make the result fail */
    bool fail_output, fail_input;
    bool scan_input;
    bool input_all; /* every input message, else the last user message */
    bool count_private_ips;
    bool count_placeholders;
} pii_state;

/* Per-text scratch of one evaluate() call. */
#define MAX_SPANS 256
typedef struct finder {
    const pii_state *st;
    const char *s;
    size_t len;
    pcre2_match_data *md;
    unsigned counts[NTYPES];
    size_t spans[MAX_SPANS][2]; /* what was counted, so nothing is counted twice */
    size_t nspans;
    int error; /* a match error: the counts are a lower bound */
} finder;

/* ---- checks only code can make --------------------------------------------------------------- */

static bool luhn_ok(const char *digits, size_t n)
{
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(digits[n - 1 - i] - '0');
        if (i % 2 == 1 && (d *= 2) > 9)
            d -= 9;
        sum += d;
    }
    return sum % 10 == 0;
}

/* Issuer prefixes: Visa 4, Mastercard 51-55 and 2221-2720, Amex 34/37, Diners 30/36/38/39,
 * JCB 35, Discover/UnionPay/Maestro 6x, Maestro 50/56-58. A long number starting otherwise
 * (an order or account number) is not a card even when Luhn happens to hold. */
static bool card_prefix_ok(const char *d)
{
    int two = (d[0] - '0') * 10 + (d[1] - '0');
    int four = two * 100 + (d[2] - '0') * 10 + (d[3] - '0');
    return d[0] == '3' || d[0] == '4' || d[0] == '6' || (two >= 50 && two <= 58) ||
           (four >= 2221 && four <= 2720);
}

/* IBAN lengths by country (the SWIFT IBAN registry). */
static const char iban_lengths[] =
    "AD24AE23AL28AT20AZ28BA20BE16BG22BH22BI27BR29BY28CH21CR22CY28CZ24DE22DJ27DK18DO28EE20EG29"
    "ES24FI18FK18FO18FR27GB22GE22GI23GL18GR27GT28HR21HU28IE22IL23IQ23IS26IT27JO30KW30KZ20LB28"
    "LC32LI21LT20LU20LV21LY25MC27MD24ME22MK19MN20MR27MT31MU30NI28NL18NO15OM23PK24PL28PS29PT25"
    "QA29RO24RS22RU33SA24SC31SD18SE24SI19SK24SM27SO23ST25SV28TL23TN24UA29VA22VG24XK20YE30";

static bool iban_ok(const char *s, size_t n)
{
    char c[40];
    size_t k = 0;
    for (size_t i = 0; i < n && k < sizeof(c); i++)
        if (s[i] != ' ')
            c[k++] = s[i];
    size_t want = 0;
    for (const char *p = iban_lengths; *p; p += 4)
        if (p[0] == c[0] && p[1] == c[1])
            want = (size_t)((p[2] - '0') * 10 + (p[3] - '0'));
    if (want == 0 || k != want)
        return false;
    /* mod 97 of the digits of c[4..] c[0..4], letters as 10..35, read left to right */
    unsigned r = 0;
    for (size_t i = 0; i < k; i++) {
        char ch = c[(i + 4) % k];
        if (ch >= '0' && ch <= '9')
            r = (r * 10 + (unsigned)(ch - '0')) % 97;
        else
            r = (r * 100 + (unsigned)(ch - 'A' + 10)) % 97;
    }
    return r == 1;
}

static size_t count_digits(const char *s, size_t n)
{
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        d += s[i] >= '0' && s[i] <= '9';
    return d;
}

/* Addresses that identify nobody: private, loopback, link-local, shared (CGNAT), documentation,
 * benchmarking, multicast and reserved ranges, and netmasks. */
static bool ipv4_public(const char *s, size_t n)
{
    char buf[16];
    struct in_addr a;
    if (n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, &a) != 1)
        return false;
    uint32_t ip = ntohl(a.s_addr);
    unsigned o1 = ip >> 24, o2 = (ip >> 16) & 0xff, o3 = (ip >> 8) & 0xff;
    return !(o1 == 0 || o1 == 10 || o1 == 127 || o1 >= 224 || (o1 == 169 && o2 == 254) ||
             (o1 == 172 && o2 >= 16 && o2 <= 31) || (o1 == 192 && o2 == 168) ||
             (o1 == 100 && o2 >= 64 && o2 <= 127) || (o1 == 198 && (o2 == 18 || o2 == 19)) ||
             (o1 == 192 && o2 == 0 && (o3 == 0 || o3 == 2)) ||
             (o1 == 198 && o2 == 51 && o3 == 100) || (o1 == 203 && o2 == 0 && o3 == 113));
}

/* 1: a global unicast IPv6 address (2000::/3 but the documentation prefix 2001:db8::/32);
 * 2: another valid address; 0: not an address. */
static int ipv6_kind(const char *s, size_t n)
{
    char buf[48];
    unsigned char a[16];
    if (n >= sizeof(buf))
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET6, buf, a) != 1)
        return 0;
    bool global =
        (a[0] & 0xe0) == 0x20 && !(a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8);
    return global ? 1 : 2;
}

static bool contains_nocase(const char *s, size_t n, const char *lower)
{
    size_t m = strlen(lower);
    for (size_t i = 0; i + m <= n; i++) {
        size_t k = 0;
        while (k < m && (s[i + k] | 0x20) == lower[k])
            k++;
        if (k == m)
            return true;
    }
    return false;
}

/* Template values in documentation and answers: user@example.com, AKIAIOSFODNN7EXAMPLE,
 * sk-xxxxxxxx..., "your_api_key". */
static bool placeholder(const char *s, size_t n)
{
    static const char *const words[] = {"example", "xxxx",   "your",     "placeholder",
                                        "dummy",   "sample", "redacted", "fake"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (contains_nocase(s, n, words[i]))
            return true;
    return false;
}

/* Template addresses: reserved example domains (RFC 2606 / 6761), your.name@..., and the like. */
static bool email_placeholder(const char *s, size_t n)
{
    if (placeholder(s, n) || contains_nocase(s, n, "firstname") ||
        contains_nocase(s, n, "lastname"))
        return true;
    const char *at = memchr(s, '@', n);
    size_t d = at ? (size_t)(at - s) + 1 : n;
    static const char *const ends[] = {"example.com", "example.org", "example.net", ".example",
                                       ".test",       ".invalid",    ".localhost",  "localhost"};
    for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
        size_t m = strlen(ends[i]);
        if (n - d >= m && strncasecmp(s + n - m, ends[i], m) == 0 &&
            (n - d == m || ends[i][0] == '.' || s[n - m - 1] == '.'))
            return true;
    }
    return false;
}

/* An image name at a resolution, "logo@2x.png", looks like an address. */
static bool image_name(const char *s, size_t n)
{
    static const char *const ext[] = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"};
    for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
        size_t m = strlen(ext[i]);
        if (n > m && strncasecmp(s + n - m, ext[i], m) == 0)
            return true;
    }
    return false;
}

/* Shannon entropy of the bytes, in bits per byte. */
static double entropy(const char *s, size_t n)
{
    unsigned counts[256] = {0};
    double h = 0;
    for (size_t i = 0; i < n; i++)
        counts[(unsigned char)s[i]]++;
    for (size_t i = 0; i < 256; i++)
        if (counts[i]) {
            double p = (double)counts[i] / (double)n;
            h -= p * log2(p);
        }
    return h;
}

/* ---- counting -------------------------------------------------------------------------------- */

static bool overlaps(const finder *f, size_t a, size_t b)
{
    for (size_t i = 0; i < f->nspans; i++)
        if (a < f->spans[i][1] && f->spans[i][0] < b)
            return true;
    return false;
}

/* Counts a finding of type t at [a, b), unless something counted already covers it. */
static void found(finder *f, int t, size_t a, size_t b)
{
    if (overlaps(f, a, b))
        return;
    f->counts[t]++;
    if (f->nspans < MAX_SPANS) {
        f->spans[f->nspans][0] = a;
        f->spans[f->nspans][1] = b;
        f->nspans++;
    }
}

/* Tries pattern p anchored at offset `at`; returns the end of the match, or 0. */
static size_t try_at(finder *f, int p, size_t at)
{
    size_t ms, me;
    int rc = ph_pcre_find(f->st->code[p], f->s, f->len, at, f->md, f->st->mc, &ms, &me);
    if (rc < 0)
        f->error = rc;
    return rc > 0 ? me : 0;
}

static bool wanted(const finder *f, int t)
{
    return f->st->types & (1u << t);
}

/* ---- the passes ------------------------------------------------------------------------------ */

enum { C_DIGIT = 1, C_SEP = 2, C_LOCAL = 4, C_HEXCOLON = 8, C_KEY = 16, C_TOKEN = 32, C_WORD = 64 };

/* GNU range designators (GCC and clang) keep the table const and built at compile time. */
static const unsigned char cls[256] = {
    ['0' ... '9'] = C_DIGIT | C_LOCAL | C_HEXCOLON | C_KEY | C_TOKEN | C_WORD,
    ['a' ... 'f'] = C_LOCAL | C_HEXCOLON | C_KEY | C_TOKEN | C_WORD,
    ['g' ... 'z'] = C_LOCAL | C_KEY | C_TOKEN | C_WORD,
    ['A' ... 'F'] = C_LOCAL | C_HEXCOLON | C_KEY | C_TOKEN | C_WORD,
    ['G' ... 'Z'] = C_LOCAL | C_KEY | C_TOKEN | C_WORD,
    ['_'] = C_LOCAL | C_KEY | C_TOKEN | C_WORD,
    ['-'] = C_SEP | C_LOCAL | C_KEY | C_TOKEN,
    ['.'] = C_SEP | C_LOCAL,
    ['+'] = C_SEP | C_LOCAL | C_TOKEN,
    ['%'] = C_LOCAL,
    ['/'] = C_SEP | C_TOKEN,
    [' '] = C_SEP,
    ['('] = C_SEP,
    [')'] = C_SEP,
    [':'] = C_HEXCOLON,
};
#define IS(c, k) (cls[(unsigned char)(c)] & (k))

/* "-----BEGIN ... PRIVATE KEY-----". memchr for '-' then a comparison beat glibc's memmem on
 * short texts by far (its two-way search has a set-up cost per call). */
static void find_private_keys(finder *f)
{
    const char *s = f->s, *p = s, *end = s + f->len;
    while (p < end && (p = memchr(p, '-', (size_t)(end - p)))) {
        size_t at = (size_t)(p - s);
        if (f->len - at > 11 && memcmp(p, "-----BEGIN ", 11) == 0) {
            size_t me = try_at(f, P_PRIVATE_KEY, at);
            if (me)
                found(f, T_SECRET, at, me);
            p += 11;
        } else {
            p++;
        }
    }
}

/* A long token [a, b) of key characters (and + /): a key with a known prefix at the start of one
 * of its parts, else a high-entropy value right after a keyword and ':' or '=' ("api_key: ...",
 * "password = ...", "Authorization: Bearer ..."). */
static void check_token(finder *f, size_t a, size_t b)
{
    const char *s = f->s;
    bool key = false;
    for (size_t j = a; j < b; j++) {
        if (j > a && IS(s[j - 1], C_KEY))
            continue; /* not the start of a part */
        char c = s[j];
        if (c != 's' && c != 'r' && c != 'A' && c != 'g' && c != 'x' && c != 'e')
            continue;
        size_t me = try_at(f, P_KEY, j);
        if (me && (f->st->count_placeholders || !placeholder(s + j, me - j))) {
            found(f, T_SECRET, j, me);
            key = true;
        }
        if (me)
            j = me;
    }
    size_t n = b - a, digits = count_digits(s + a, n), letters = 0;
    if (key || n < 16 || n > 512 || digits == 0)
        return;
    for (size_t i = a; i < b; i++)
        letters += IS(s[i], C_WORD) && !IS(s[i], C_DIGIT) && s[i] != '_';
    if (letters == 0 || entropy(s + a, n) < 3.0 ||
        (!f->st->count_placeholders && placeholder(s + a, n)))
        return;
    /* the keyword context, searched in the 64 bytes before the token (the subject ends there) */
    size_t ms, me;
    int rc = ph_pcre_find(f->st->code[P_SECRET_CONTEXT], s, a, a > 64 ? a - 64 : 0, f->md,
                          f->st->mc, &ms, &me);
    if (rc < 0)
        f->error = rc;
    if (rc > 0)
        found(f, T_SECRET, a, b);
}

/* Runs of at least 15 token characters, found by looking at every 15th byte: a byte outside a
 * token rules out every run through it, and in prose most 15th bytes end a word quickly. */
static void find_tokens(finder *f)
{
    const unsigned char *s = (const unsigned char *)f->s;
    const size_t min = 15;
    size_t i = 0, len = f->len;
    while (i + min <= len) {
        if (!(cls[s[i + min - 1]] & C_TOKEN)) {
            i += min;
            continue;
        }
        size_t a = i + min - 1, b = i + min;
        while (a > i && (cls[s[a - 1]] & C_TOKEN))
            a--;
        while (b < len && (cls[s[b]] & C_TOKEN))
            b++;
        if (b - a >= min)
            check_token(f, a, b);
        i = b + 1;
    }
}

static void find_emails(finder *f)
{
    const char *s = f->s, *p = s, *end = s + f->len;
    while (p < end && (p = memchr(p, '@', (size_t)(end - p)))) {
        size_t at = (size_t)(p - s), start = at;
        while (start > 0 && IS(s[start - 1], C_LOCAL) && at - start < 64)
            start--;
        size_t me = start < at ? try_at(f, P_EMAIL, start) : 0;
        if (me && !image_name(s + start, me - start) &&
            (f->st->count_placeholders || !email_placeholder(s + start, me - start)))
            found(f, T_EMAIL, start, me);
        p = s + (me > at ? me : at + 1);
    }
}

static void find_ipv6(finder *f)
{
    const char *s = f->s, *p = s, *end = s + f->len;
    while (p < end && (p = memchr(p, ':', (size_t)(end - p)))) {
        size_t at = (size_t)(p - s), a = at, b = at, colons = 0;
        while (a > 0 && IS(s[a - 1], C_HEXCOLON) && at - a < 40)
            a--;
        while (b < f->len && IS(s[b], C_HEXCOLON) && b - a < 48)
            colons += s[b++] == ':';
        size_t me = colons >= 2 && s[a] != ':' ? try_at(f, P_IPV6, a) : 0;
        if (me) {
            int kind = ipv6_kind(s + a, me - a);
            if (kind == 1 || (kind == 2 && f->st->count_private_ips))
                found(f, T_IPV6, a, me);
        }
        p = s + (b > at ? b : at + 1);
    }
}

/* Counts a finding and returns its end. */
static size_t take(finder *f, int t, size_t a, size_t b)
{
    found(f, t, a, b);
    return b;
}

/* One group start of a digit cluster: the shapes that can start there, most specific first.
 * Returns the end of what was found, or 0. */
static size_t try_group(finder *f, size_t g, size_t digits, size_t dots)
{
    const pii_state *st = f->st;
    const char *s = f->s;
    size_t me;
    if (s[g] == '+') {
        if (!wanted(f, T_PHONE) || !(me = try_at(f, P_PHONE_INTL, g)))
            return 0;
        /* E.164 numbers have at most 15 digits: when more groups of digits follow ("+44 20 7946
         * 0958 4111 ..."), the number ends at the last group boundary within 15 */
        size_t n = 0, end = 0;
        for (size_t i = g + 1; i < me; i++) {
            n += s[i] >= '0' && s[i] <= '9';
            bool boundary = i + 1 == me || !(s[i + 1] >= '0' && s[i + 1] <= '9');
            if (boundary && s[i] >= '0' && s[i] <= '9' && n >= 8 && n <= 15)
                end = i + 1;
        }
        return end ? take(f, T_PHONE, g, end) : 0;
    }
    if (s[g] != '(' && wanted(f, T_CARD) && digits >= 13 && (me = try_at(f, P_CARD, g))) {
        char d[24];
        size_t n = 0;
        for (size_t i = g; i < me && n < sizeof(d); i++)
            if (s[i] >= '0' && s[i] <= '9')
                d[n++] = s[i];
        if (n >= 13 && n <= 19 && card_prefix_ok(d) && luhn_ok(d, n))
            return take(f, T_CARD, g, me);
    }
    if (s[g] != '(' && wanted(f, T_SSN) && (me = try_at(f, P_SSN, g))) {
        /* the advertising sample 078-05-1120 and the textbook 123-45-6789 are no one's */
        bool sample = (strncmp(s + g, "078", 3) == 0 && strncmp(s + g + 4, "05", 2) == 0 &&
                       strncmp(s + g + 7, "1120", 4) == 0) ||
                      (strncmp(s + g, "123", 3) == 0 && strncmp(s + g + 4, "45", 2) == 0 &&
                       strncmp(s + g + 7, "6789", 4) == 0);
        if (!sample || st->count_placeholders)
            return take(f, T_SSN, g, me);
        return me;
    }
    if (wanted(f, T_PHONE) && (me = try_at(f, P_PHONE_NANP, g)))
        return take(f, T_PHONE, g, me);
    if (s[g] == '0' && wanted(f, T_PHONE) && (me = try_at(f, P_PHONE_NATIONAL, g))) {
        size_t n = count_digits(s + g, me - g);
        if (n >= 9 && n <= 12)
            return take(f, T_PHONE, g, me);
    }
    if (s[g] != '(' && dots >= 3 && wanted(f, T_IPV4) && (me = try_at(f, P_IPV4, g)) &&
        (st->count_private_ips || ipv4_public(s + g, me - g)))
        return take(f, T_IPV4, g, me);
    return 0;
}

/* Whether a byte of w is an ASCII digit (0x30-0x39), without a branch per byte: "hasbetween"
 * from Sean Eron Anderson's Bit Twiddling Hacks; bytes >= 0x80 never count. */
static bool has_digit(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, low7 = ones * 127;
    return ((ones * (127 + 0x3a) - (w & low7)) & ~w & ((w & low7) + ones * (127 - 0x2f)) &
            (ones * 128)) != 0;
}

/* Clusters of digits and separators (" .-()/" and a leading '+'): phones, cards, SSNs, IPv4
 * addresses, and IBANs (two capital letters before the first digits). Prose numbers are short
 * clusters and cost one look each. */
static void find_numbers(finder *f)
{
    const char *s = f->s;
    size_t len = f->len, i = 0;
    while (i < len) {
        /* eight bytes at a time to the next digit: most of a text has none */
        uint64_t w;
        if (i + 8 <= len && (memcpy(&w, s + i, 8), !has_digit(w))) {
            i += 8;
            continue;
        }
        if (!IS(s[i], C_DIGIT)) {
            i++;
            continue;
        }
        size_t d0 = i, cs = i, j = i, digits = 0, dots = 0;
        if (cs > 0 && (s[cs - 1] == '+' || s[cs - 1] == '('))
            cs--;
        while (j < len) {
            if (IS(s[j], C_DIGIT)) {
                digits++;
                j++;
                continue;
            }
            size_t k = j; /* one or two separators, then a digit or '(' */
            while (k < len && k - j < 2 && IS(s[k], C_SEP))
                k++;
            if (k == j || k >= len || !(IS(s[k], C_DIGIT) || s[k] == '('))
                break;
            for (size_t m = j; m < k; m++)
                dots += s[m] == '.';
            j = k;
        }
        size_t next = j;
        if (wanted(f, T_IBAN) && d0 >= 2 && s[d0 - 2] >= 'A' && s[d0 - 2] <= 'Z' &&
            s[d0 - 1] >= 'A' && s[d0 - 1] <= 'Z' && (d0 == 2 || !IS(s[d0 - 3], C_WORD))) {
            size_t me = try_at(f, P_IBAN, d0 - 2);
            if (me && iban_ok(s + d0 - 2, me - d0 + 2)) {
                found(f, T_IBAN, d0 - 2, me);
                next = me > next ? me : next;
            }
        }
        if (digits >= 7 || (dots >= 3 && digits >= 4)) {
            for (size_t g = cs; g < j; g++) {
                bool start = g == cs || (IS(s[g], C_DIGIT) && !IS(s[g - 1], C_DIGIT)) ||
                             (s[g] == '(' && !IS(s[g - 1], C_DIGIT));
                if (!start || overlaps(f, g, g + 1))
                    continue;
                size_t me = try_group(f, g, digits, dots);
                if (me > g)
                    g = me - 1;
            }
        }
        i = next > i ? next : i + 1;
    }
}

static void scan_text(finder *f, const char *s, size_t len)
{
    f->s = s;
    f->len = len;
    f->nspans = 0;
    /* the most specific first: a key's digits are not a phone number */
    if (wanted(f, T_SECRET)) {
        find_private_keys(f);
        find_tokens(f);
    }
    if (wanted(f, T_EMAIL) && memchr(s, '@', len))
        find_emails(f);
    if (wanted(f, T_IPV6))
        find_ipv6(f);
    if (f->st->types &
        ((1u << T_PHONE) | (1u << T_CARD) | (1u << T_SSN) | (1u << T_IBAN) | (1u << T_IPV4)))
        find_numbers(f);
}

/* ---- create ---------------------------------------------------------------------------------- */

static void pii_destroy(void *state)
{
    pii_state *st = state;
    if (!st)
        return;
    for (size_t i = 0; i < NPATTERNS; i++)
        pcre2_code_free(st->code[i]);
    pcre2_match_context_free(st->mc);
    free(st);
}

/* A list of type names into a bit set. */
static int parse_types(const json_t *j, const char *key, unsigned *out, char *errstr,
                       size_t errstr_size)
{
    unsigned set = 0;
    if (!json_is_array(j))
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "%s: must be an array of email, phone, card, iban, ssn, ipv4, ipv6, secret",
                      key);
    for (size_t i = 0; i < json_array_size(j); i++) {
        const char *name = json_string_value(json_array_get(j, i));
        size_t t = 0;
        while (name && t < NTYPES && strcmp(name, type_names[t]) != 0)
            t++;
        if (!name || t == NTYPES)
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "%s[%zu]: unknown type (known: email, phone, card, iban, ssn, ipv4, "
                          "ipv6, secret)",
                          key, i);
        set |= 1u << t;
    }
    *out = set;
    return 0;
}

static int parse_bool(const json_t *config, const char *key, bool *out, char *errstr,
                      size_t errstr_size)
{
    const json_t *v = json_object_get(config, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s: must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

static int parse_config(pii_state *st, const json_t *config, char *errstr, size_t errstr_size)
{
    static const char *const keys[] = {
        "types",       "fail_on",           "fail_types",         "scan_input",
        "input_scope", "count_private_ips", "count_placeholders", NULL};
    const char *key;
    json_t *v;
    int rc;
    json_object_foreach((json_t *)config, key, v)
    {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], key) != 0)
            i++;
        if (!keys[i])
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "unknown key \"%s\" (known: types, fail_on, fail_types, scan_input, "
                          "input_scope, count_private_ips, count_placeholders)",
                          key);
    }
    st->types = (1u << NTYPES) - 1;
    st->fail_output = true;
    st->scan_input = true;
    if ((v = json_object_get(config, "types")) &&
        (rc = parse_types(v, "types", &st->types, errstr, errstr_size)))
        return rc;
    st->fail_types = st->types;
    if ((v = json_object_get(config, "fail_types"))) {
        if ((rc = parse_types(v, "fail_types", &st->fail_types, errstr, errstr_size)))
            return rc;
        if (st->fail_types & ~st->types)
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "fail_types: lists a type that \"types\" leaves out");
    }
    if ((v = json_object_get(config, "fail_on"))) {
        st->fail_output = false;
        for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++) {
            const char *side = json_string_value(json_array_get(v, i));
            if (side && strcmp(side, "output") == 0)
                st->fail_output = true;
            else if (side && strcmp(side, "input") == 0)
                st->fail_input = true;
            else
                return ph_err(errstr, errstr_size, PH_EINVAL,
                              "fail_on[%zu]: must be \"output\" or \"input\"", i);
        }
        if (!json_is_array(v))
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "fail_on: must be an array of \"output\" and/or \"input\"");
    }
    if ((rc = parse_bool(config, "scan_input", &st->scan_input, errstr, errstr_size)) ||
        (rc = parse_bool(config, "count_private_ips", &st->count_private_ips, errstr,
                         errstr_size)) ||
        (rc = parse_bool(config, "count_placeholders", &st->count_placeholders, errstr,
                         errstr_size)))
        return rc;
    if (st->fail_input && !st->scan_input)
        return ph_err(errstr, errstr_size, PH_EINVAL, "fail_on: \"input\" needs scan_input true");
    if ((v = json_object_get(config, "input_scope"))) {
        const char *scope = json_string_value(v);
        if (!scope || (strcmp(scope, "last_user") != 0 && strcmp(scope, "all") != 0))
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "input_scope: must be \"last_user\" or \"all\"");
        st->input_all = strcmp(scope, "all") == 0;
    }
    return 0;
}

static int pii_create(void **state, const json_t *config, char *errstr, size_t errstr_size)
{
    int rc;
    if (!json_is_object(config))
        return ph_err(errstr, errstr_size, PH_EINVAL, "config must be an object");
    pii_state *st = calloc(1, sizeof(*st));
    if (!st)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    if ((rc = parse_config(st, config, errstr, errstr_size)))
        goto out;
    if (!(st->mc = ph_pcre_mcontext_new(PH_PCRE_DEFAULT_MATCH_LIMIT))) {
        rc = ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < NPATTERNS; i++) {
        char what[32];
        snprintf(what, sizeof(what), "built-in pattern %zu", i);
        if ((rc = ph_pcre_compile(&st->code[i], patterns[i],
                                  i == P_SECRET_CONTEXT ? 0 : PCRE2_ANCHORED, what, errstr,
                                  errstr_size)))
            goto out;
    }
    *state = st;
    st = NULL;
out:
    pii_destroy(st);
    return rc;
}

/* ---- evaluate -------------------------------------------------------------------------------- */

static void scan_side(finder *f, const ph_eval_record *rec, int side)
{
    if (side == SIDE_OUTPUT) {
        if (rec->output.s)
            scan_text(f, rec->output.s, rec->output.len);
        return;
    }
    if (f->st->input_all) {
        for (size_t i = 0; i < rec->nmessages; i++)
            if (rec->messages[i].content.s)
                scan_text(f, rec->messages[i].content.s, rec->messages[i].content.len);
        return;
    }
    const ph_eval_message *m = ph_eval_last_user(rec);
    if (m && m->content.s)
        scan_text(f, m->content.s, m->content.len);
}

/* Result fields written directly: the framework's setters format with snprintf (and
 * ph_eval_add_value looks for the name among the values already there), which on the every-record
 * path cost as much as the matching itself. Names are known to be new. */
/* "output: email 2, phone 1; input: card 1": types and counts, never what was found. */
static void explain(ph_eval_result *r, unsigned counts[2][NTYPES], const bool scanned[2])
{
    static const char *const sides[] = {"output", "input"};
    char buf[PH_EVAL_EXPLANATION_MAX] = "";
    size_t n = 0;
    for (int side = 0; side < 2; side++) {
        bool any = false;
        for (int t = 0; scanned[side] && t < NTYPES && n < sizeof(buf); t++) {
            if (!counts[side][t])
                continue;
            int w =
                any ? snprintf(buf + n, sizeof(buf) - n, ", %s %u", type_names[t], counts[side][t])
                    : snprintf(buf + n, sizeof(buf) - n, "%s%s: %s %u", n ? "; " : "", sides[side],
                               type_names[t], counts[side][t]);
            n += w > 0 ? (size_t)w : 0;
            any = true;
        }
    }
    ph_eval_set_explanation(r, n ? buf : "no PII found");
}

static int pii_evaluate(const void *state, const ph_eval_record *rec, ph_eval_sink *sink,
                        char *errstr, size_t errstr_size)
{
    const pii_state *st = state;
    unsigned counts[2][NTYPES] = {{0}};
    const bool scanned[2] = {true, st->scan_input};
    ph_eval_result *r = ph_eval_emit(sink, NULL);
    finder f;
    f.st = st;
    f.error = 0;
    f.md = ph_pcre_match_data_new((const pcre2_code *const *)st->code, NPATTERNS);
    if (!r || !f.md) {
        pcre2_match_data_free(f.md);
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    }
    for (int side = 0; side < 2; side++) {
        if (!scanned[side])
            continue;
        memset(f.counts, 0, sizeof(f.counts));
        scan_side(&f, rec, side);
        memcpy(counts[side], f.counts, sizeof(f.counts));
    }
    pcre2_match_data_free(f.md);

    char label[PH_EVAL_LABEL_MAX] = "";
    for (int side = 0; side < 2; side++) {
        unsigned total = 0;
        for (int t = 0; scanned[side] && t < NTYPES; t++) {
            if (!(st->types & (1u << t)))
                continue;
            ph_eval_append_value(r, value_names[side][t], counts[side][t]);
            total += counts[side][t];
        }
        if (scanned[side])
            ph_eval_append_value(r, value_names[side][NTYPES], total);
    }
    for (int t = 0; t < NTYPES; t++)
        if ((st->fail_types & (1u << t)) && ((st->fail_output && counts[SIDE_OUTPUT][t]) ||
                                             (st->fail_input && counts[SIDE_INPUT][t])))
            snprintf(label + strlen(label), sizeof(label) - strlen(label), "%s%s",
                     label[0] ? "+" : "", type_names[t]);
    ph_eval_set_label(r, label[0] ? label : "none");
    ph_eval_set_passed(r, label[0] == '\0');
    explain(r, counts, scanned);
    if (f.error) {
        /* only a pathological text can get here: the shapes are tried anchored */
        size_t n = strlen(r->explanation);
        snprintf(r->explanation + n, sizeof(r->explanation) - n,
                 " (match limit hit: counts are a lower bound)");
    }
    return 0;
}

const ph_evaluator_kind ph_eval_kind_pii = {
    .name = "pii",
    .code_version = "1",
    .summary = "emails, phones, cards, IBANs, SSNs, IP addresses and secrets in output and "
               "input, counted by type (never echoed)",
    .create = pii_create,
    .destroy = pii_destroy,
    .evaluate = pii_evaluate,
};
