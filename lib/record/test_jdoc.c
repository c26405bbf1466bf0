/* The record parser (yajl plus the checks of ph_record_jdoc.c) against jansson, which parsed
 * records before and whose acceptance is the documented one: on hand-written edge cases and on
 * thousands of mutated records, both must accept the same inputs, refuse the others for the
 * same reason (invalid_json, invalid_utf8, duplicate_key: the first problem in reading order),
 * and build the same values, member order included. Also: the value operations against their
 * jansson counterparts, and objects large enough that a quadratic algorithm would show.
 * PH_FUZZ_SEED and PH_FUZZ_ITERATIONS change the mutations (deterministic by default). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"
#include "ph_record_int.h"
#include "test_support.h"

/* ---- the oracle -------------------------------------------------------------------------- */

/* jansson's verdict with the flags the record path used. */
static int jansson_parse(const char *buf, size_t len, bool dups_ok, json_t **root)
{
    json_error_t jerr;
    size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL | (dups_ok ? 0 : JSON_REJECT_DUPLICATES);
    *root = json_loadb(buf, len, flags, &jerr);
    if (*root)
        return PH_JPARSE_OK;
    switch (json_error_code(&jerr)) {
    case json_error_invalid_utf8:
        return PH_JPARSE_UTF8;
    case json_error_duplicate_key:
        return PH_JPARSE_DUPLICATE;
    case json_error_out_of_memory:
        return PH_JPARSE_NOMEM;
    default:
        return PH_JPARSE_SYNTAX;
    }
}

/* Exactly the same tree: types, order of members, bytes of strings. */
static bool same_tree(const ph_jv *a, const ph_jv *b)
{
    if (a->type != b->type || a->n != b->n)
        return false;
    switch (a->type) {
    case PH_JV_INT:
        return a->u.i == b->u.i;
    case PH_JV_REAL:
        return memcmp(&a->u.d, &b->u.d, sizeof(double)) == 0;
    case PH_JV_STRING:
        return memcmp(a->u.s, b->u.s, a->n) == 0 && a->u.s[a->n] == '\0';
    case PH_JV_ARRAY:
        for (size_t i = 0; i < a->n; i++)
            if (!same_tree(&a->u.items[i], &b->u.items[i]))
                return false;
        return true;
    case PH_JV_OBJECT:
        for (size_t i = 0; i < a->n; i++) {
            const ph_jmember *x = &a->u.members[i], *y = &b->u.members[i];
            if (x->klen != y->klen || memcmp(x->key, y->key, x->klen) != 0 ||
                !same_tree(&x->v, &y->v))
                return false;
        }
        return true;
    default:
        return true;
    }
}

static void print_input(const char *buf, size_t len)
{
    fprintf(stderr, "input (%zu bytes): ", len);
    for (size_t i = 0; i < len && i < 300; i++)
        fprintf(stderr,
                (unsigned char)buf[i] >= 0x20 && (unsigned char)buf[i] < 0x7F ? "%c" : "\\x%02x",
                (unsigned char)buf[i]);
    fprintf(stderr, "\n");
}

/* jansson's one known fault: it reads a byte past a number or a literal and puts it back, and
 * a NUL byte put back is taken for an empty buffer and skipped, so "[1\0]" was accepted. The
 * parser refuses every raw NUL byte; for such inputs jansson is no oracle. */
static bool nul_after_token(const char *buf, size_t len)
{
    for (size_t i = 1; i < len; i++)
        if (buf[i] == '\0' &&
            ((buf[i - 1] >= '0' && buf[i - 1] <= '9') || (buf[i - 1] >= 'a' && buf[i - 1] <= 'z') ||
             (buf[i - 1] >= 'A' && buf[i - 1] <= 'Z')))
            return true;
    return false;
}

/* One input, both ways (duplicates refused, then tolerated). */
static void check_same(const char *buf, size_t len)
{
    for (int dups_ok = 0; dups_ok < 2; dups_ok++) {
        json_t *jroot = NULL, *strict = NULL;
        int expect = jansson_parse(buf, len, dups_ok, &jroot);
        ph_jdoc doc, copy;
        const ph_jv *root = NULL;
        ph_jproblem pr, dup;
        ph_jdoc_init(&doc);
        ph_jdoc_init(&copy);
        int got = ph_jdoc_parse(&doc, buf, len, dups_ok, &root, &pr, &dup);
        if (nul_after_token(buf, len)) { /* refused, whatever jansson says */
            if (got != PH_JPARSE_SYNTAX && got != PH_JPARSE_UTF8 && got != PH_JPARSE_DUPLICATE) {
                print_input(buf, len);
                fail_msg("a NUL byte was accepted");
            }
            json_decref(jroot);
            ph_jdoc_free(&doc);
            ph_jdoc_free(&copy);
            continue;
        }
        bool ok = got == expect;
        if (ok && got == PH_JPARSE_OK) {
            const ph_jv *j = ph_jdoc_from_jansson(&copy, jroot);
            ok = j && same_tree(root, j) && ph_jv_equal(root, j);
        }
        /* a tolerated duplicate is noted exactly when the strict reading stopped at it */
        if (ok && dups_ok)
            ok = (dup.code == PH_JPARSE_DUPLICATE) ==
                 (jansson_parse(buf, len, false, &strict) == PH_JPARSE_DUPLICATE);
        if (!ok) {
            print_input(buf, len);
            fail_msg("dups_ok=%d: jansson says %d, the parser %d (%s at %zu)", dups_ok, expect, got,
                     got ? pr.text : "ok", got ? pr.offset : 0);
        }
        json_decref(jroot);
        json_decref(strict);
        ph_jdoc_free(&doc);
        ph_jdoc_free(&copy);
    }
}

#define SAME(lit) check_same(lit, sizeof(lit) - 1)

/* ---- edge cases -------------------------------------------------------------------------- */

static void test_syntax(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "",
        " ",
        "{}",
        "[]",
        "42",
        "-0",
        "\"x\"",
        "null",
        "true",
        "{} ",
        "{}\n",
        " {\"a\":1}\r\n",
        "{",
        "}",
        "{\"a\":",
        "{\"a\":1,}",
        "[1,]",
        "{'a':1}",
        "{} x",
        "{}{}",
        "{\"a\" \"b\"}",
        "{\"a\":1]",
        "[1}",
        "[1 2]",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":-}",
        "{\"a\":+1}",
        "{\"a\":1e}",
        "{\"a\":1e+}",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
        "{\"a\":tru}",
        "{\"a\":trueish}",
        "{\"a\":nul}",
        "{\"a\":x}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\u12G4\"}",
        "{\"a\":\"line\nbreak\"}",
        "{\"a\"\r\n:\t1}",
        "{12:1}",
        "{\"a\":}",
        "[\"a\":1]",
        "[06]",
        "[-06]",
        "[0x1]",
        "[1.5.3]",
        "[1e5e3]",
        "{\"a\":06-0\x80}",
        /* yajl takes an unterminated string after the root for the end of the input */
        "{}\"",
        "{}\"abc",
        "4\"",
        "true\"",
        "\"a\"\"",
        /* yajl takes \v and \f for white space */
        "{}\v",
        "\f{}",
        "{\"a\":1,\v\"b\":2}",
        "{\"a\":\"x\vy\"}",
        "[1\f]",
        /* numbers: int64 and double edges */
        "[9223372036854775807,-9223372036854775808]",
        "[9223372036854775808]",
        "[-9223372036854775809]",
        "[99999999999999999999]",
        "[1e308,1.7976931348623157e308]",
        "[1e309]",
        "[-1e400]",
        "[1e-999,4.9e-324,2.0,1E2,0.1e1,-1.5e-3]",
        /* escapes */
        "[\"\\ud83d\\ude00 \\u00e9 \\u0041 \\/\\b\\f\\n\\r\\t\\\"\\\\\"]",
        "[\"\\uD800\"]",
        "[\"\\uDC00x\"]",
        "[\"\\uD800\\u0041\"]",
        "[\"\\uD800\\uD800\"]",
        "[\"\\uDBFF\\uDFFF\"]",
        "[\"\\\\uD800\"]",
        "[\"x\\u0000y\"]",
        "{\"k\\u0000\":1}",
        "{\"\\u00e9\":1}",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_same(cases[i], strlen(cases[i]));
    SAME("{\"a\":\"\0\"}"); /* a raw NUL byte: a control character */
    SAME("{\"a\":1}\0");
    SAME("{\"a\":1 \0}");
}

static void test_utf8(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "[\"h\xC3\xA9llo \xE2\x9C\x93 \xF0\x9F\x98\x80\"]",
        "[\"a\x80z\"]",                 /* a lone continuation byte */
        "[\"\xC0\xAF\"]",               /* overlong: yajl lets it through */
        "[\"\xE0\x80\xAF\"]",           /* overlong */
        "[\"\xED\xA0\x80\"]",           /* a surrogate: yajl lets it through */
        "[\"\xF4\x90\x80\x80\"]",       /* above U+10FFFF: yajl lets it through */
        "[\"\xF5\x80\x80\x80\"]",       /* never a lead byte */
        "[\"\xE2\x82\"]",               /* truncated */
        "[\"x\xE2\x82",                 /* truncated at the end of the input */
        "{\"\xC0\xAF\":1}",             /* in a key */
        "{\"a\":1}\x80",                /* between tokens */
        "{\"a\":\xC3\xA9}",             /* a valid character where a value belongs: syntax */
        "\xEF\xBB\xBF{}",               /* a byte order mark: syntax, as jansson */
        "[\"\x80\x01\"]",               /* bad byte, then a control character */
        "[\"\x01\x80\"]",               /* control character first */
        "[\"\xC0\xAF\x01\"]",           /* overlong, then a control character */
        "[\"\\uD800\x80\"]",            /* a bad escape, and a bad byte in the same string */
        "{\"a\":tru\x80}",              /* a broken literal */
        "{\"a\":trux\x80}",             /* jansson reads the letters whole */
        "{\"a\":1\x80}",                /* the byte after a number */
        "{\"a\":1 \"b\xC0\xAF\"}",      /* in the token that breaks the syntax */
        "{\"a\":1.\x80}",               /* where a digit belongs */
        "[\"\\u00\x80\"]",              /* where a hex digit belongs */
        "{\"a\":\"\\uD83D\\uDx\xCD\"}", /* after a bad escape: syntax */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_same(cases[i], strlen(cases[i]));
}

static void test_duplicates(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "{\"a\":1,\"a\":2}",
        "{\"a\":1,\"b\":{\"c\":1,\"c\":[1,{\"d\":0,\"d\":1}]},\"a\":3}",
        "[{\"r\":1,\"r\":2},{\"r\":1}]",
        "{\"a\":1,\"b\":2,\"a\":3,\"b\":4,\"a\":5}", /* first position, last value */
        "{\"\\u00e9\":1,\"\xC3\xA9\":2}",            /* the same key, escaped or not */
        "{\"a\":1,\"A\":2}",
        "{\"a\":1,\"a\":2,\"b\":\"\x80\"}", /* the duplicate comes first */
        "{\"b\":\"\x80\",\"a\":1,\"a\":2}", /* the bad byte comes first */
        "{\"a\":1,\"a\":[1,2",              /* inside the duplicate's value: it comes first */
        "{\"a\":1,\"a\"",
        "{\"a\":1,\"a\":}",
        "{\"a\":1,\"a\"\x80",
        "{\"a\":1,\"b\" 2,\"a\":3}",       /* a syntax error before the duplicate */
        "{\"a\":{\"x\":1,\"x\":2} \"y\"}", /* a closed duplicate, then an error */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_same(cases[i], strlen(cases[i]));
}

/* Objects of more than 16 members are checked for duplicates by sorting. */
static void test_large_objects(void **state)
{
    (void)state;
    static const size_t sizes[] = {15, 16, 17, 40, 5000};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = sizes[k];
        char *buf = malloc(n * 24 + 64);
        for (int variant = 0; variant < 4; variant++) {
            size_t len = 0;
            len += (size_t)sprintf(buf + len, "{");
            for (size_t i = 0; i < n; i++)
                len += (size_t)sprintf(buf + len, "%s\"k%zu\":%zu", i ? "," : "",
                                       variant == 1 && i == n - 1 ? n / 2 : i, i);
            if (variant == 2) /* a repeat of the first key at the end */
                len += (size_t)sprintf(buf + len, ",\"k0\":\"again\"");
            if (variant == 3) /* two repeats, the later one first in the object */
                len += (size_t)sprintf(buf + len, ",\"k%zu\":1,\"k1\":2", n - 1);
            len += (size_t)sprintf(buf + len, "}");
            check_same(buf, len);
        }
        free(buf);
    }
}

static void test_depth(void **state)
{
    (void)state;
    static const size_t depths[] = {2047, 2048, 2049, 3000};
    for (size_t k = 0; k < sizeof(depths) / sizeof(depths[0]); k++) {
        size_t d = depths[k];
        char *buf = malloc(8 * d + 64);
        size_t len = 0;
        for (size_t i = 0; i < d; i++)
            buf[len++] = '[';
        for (size_t i = 0; i < d; i++)
            buf[len++] = ']';
        check_same(buf, len);
        /* one level more: a scalar inside */
        len = 0;
        for (size_t i = 0; i + 1 < d; i++)
            buf[len++] = '[';
        memcpy(buf + len, "\"s\"", 3);
        len += 3;
        for (size_t i = 0; i + 1 < d; i++)
            buf[len++] = ']';
        check_same(buf, len);
        len = 0;
        for (size_t i = 0; i < d; i++)
            len += (size_t)sprintf(buf + len, "{\"a\":");
        buf[len++] = '1';
        for (size_t i = 0; i < d; i++)
            buf[len++] = '}';
        check_same(buf, len);
        free(buf);
    }
}

/* ---- mutated records --------------------------------------------------------------------- */

static uint64_t rng = 88172645463325252ULL;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

static const char *const tokens[] = {"\\uD800",
                                     "\\uDC00",
                                     "\\uD83D\\uDE00",
                                     "\\u0000",
                                     "\x80",
                                     "\xC0\xAF",
                                     "\xED\xA0\x80",
                                     "\xF4\x90\x80\x80",
                                     "\xE2\x82",
                                     "\v",
                                     "\f",
                                     "\x01",
                                     "\"",
                                     ",",
                                     ":",
                                     "{",
                                     "}",
                                     "[",
                                     "]",
                                     "\\",
                                     "99999999999999999999",
                                     "1e999",
                                     "1e-999",
                                     "2.0",
                                     "tru",
                                     " ",
                                     "\n",
                                     "null",
                                     "\"\"",
                                     "\xC3\xA9",
                                     "\\\"",
                                     "\\u00",
                                     "\"x\":1,",
                                     "\"role\":\"user\",",
                                     "\"model\":\"m\","};

static size_t mutate(char *p, size_t n, size_t cap)
{
    for (size_t k = 1 + below(3); k > 0; k--) {
        size_t at = below(n + 1);
        switch (below(6)) {
        case 0:
        case 1: { /* insert a token */
            const char *t = tokens[below(sizeof(tokens) / sizeof(tokens[0]))];
            size_t m = strlen(t);
            if (n + m > cap)
                break;
            memmove(p + at + m, p + at, n - at);
            memcpy(p + at, t, m);
            n += m;
            break;
        }
        case 2: { /* delete a few bytes */
            size_t m = below(9);
            m = m > n - at ? n - at : m;
            memmove(p + at, p + at + m, n - at - m);
            n -= m;
            break;
        }
        case 3: /* truncate */
            if (rnd() % 4 == 0)
                n = at;
            break;
        case 4: { /* repeat a "key":value, segment: duplicate keys */
            char *q = memchr(p + at, '"', n - at);
            char *e = q ? memchr(q, ',', (size_t)(p + n - q)) : NULL;
            size_t m = e ? (size_t)(e - q) + 1 : 0;
            if (!m || n + m > cap)
                break;
            memmove(q + m, q, (size_t)(p + n - q));
            n += m;
            break;
        }
        default: /* any byte */
            if (n)
                p[below(n)] = (char)rnd();
        }
    }
    return n;
}

static void test_mutations(void **state)
{
    (void)state;
    static const char *const builtin[] = {
        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"output\":\"hello\"}",
        "{\"prompt\":\"p\",\"response\":\"r\",\"metadata\":{\"a\":{\"b\":[1,2.5,{\"c\":null}]}},"
        "\"usage\":{\"prompt_tokens\":3},\"tags\":[\"x\"],\"s\":\"\\u00e9\\n\\\"q\\\"\"}",
        "{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"}]}],"
        "\"output\":\"o\",\"start_time\":\"2025-06-01T12:00:00Z\",\"cost\":1e-3,\"turn\":2}",
    };
    size_t len = 0, nseeds = 0;
    char *path = ts_data_path("llm_logs.jsonl");
    char *data = path ? ts_read_file(path, &len) : NULL;
    const char *seeds[600];
    size_t seed_len[600];
    for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
        seeds[nseeds] = builtin[i];
        seed_len[nseeds++] = strlen(builtin[i]);
    }
    for (char *line = data; line && line < data + len && nseeds < 600;) {
        char *nl = memchr(line, '\n', (size_t)(data + len - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(data + len - line);
        if (n && n < 4000) {
            seeds[nseeds] = line;
            seed_len[nseeds++] = n;
        }
        line += n + 1;
    }
    const char *env_seed = getenv("PH_FUZZ_SEED"), *env_n = getenv("PH_FUZZ_ITERATIONS");
    size_t iterations = env_n && *env_n ? strtoul(env_n, NULL, 0) : 15000, cap = 8192;
    char *buf = malloc(cap);
    if (env_seed && *env_seed && strtoull(env_seed, NULL, 0))
        rng = strtoull(env_seed, NULL, 0);
    for (size_t i = 0; i < iterations; i++) {
        /* small records most of the time: errors then sit close together */
        size_t s = rnd() % 2 ? below(sizeof(builtin) / sizeof(builtin[0])) : below(nseeds);
        memcpy(buf, seeds[s], seed_len[s]);
        size_t n = mutate(buf, seed_len[s], cap);
        check_same(buf, n);
    }
    printf("jdoc: %zu mutated inputs from %zu seeds agree with jansson\n", iterations, nseeds);
    free(buf);
    free(data);
    free(path);
}

/* ---- value operations -------------------------------------------------------------------- */

static json_t *random_value(int depth)
{
    static const char *const strs[] = {"", "a", "b", "x\ny", "\xC3\xA9", "\xF0\x9F\x98\x80"};
    switch (below(depth > 2 ? 6 : 8)) {
    case 0:
        return json_null();
    case 1:
        return json_boolean(rnd() & 1);
    case 2:
        return json_integer((json_int_t)below(3) - 1);
    case 3:
        return json_real(below(2) ? 0.7 : 1e-7 * (double)below(3));
    case 4:
        return json_stringn("a\0b", 3); /* U+0000 inside */
    case 5:
        return json_string(strs[below(6)]);
    case 6: {
        json_t *a = json_array();
        for (size_t i = below(3); i > 0; i--)
            json_array_append_new(a, random_value(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (size_t i = below(4); i > 0; i--)
            json_object_set_new(o, strs[1 + below(2)], random_value(depth + 1));
        return o;
    }
    }
}

/* ph_jv_equal is json_equal, and ph_jv_dump prints what json_dumps printed. */
static void test_values_like_jansson(void **state)
{
    (void)state;
    for (int i = 0; i < 20000; i++) {
        json_t *a = random_value(0), *b = rnd() % 4 ? random_value(0) : json_deep_copy(a);
        ph_jdoc doc;
        ph_jdoc_init(&doc);
        const ph_jv *x = ph_jdoc_from_jansson(&doc, a), *y = ph_jdoc_from_jansson(&doc, b);
        assert_non_null(x);
        assert_non_null(y);
        assert_int_equal(ph_jv_equal(x, y), json_equal(a, b));
        char *mine = ph_jv_dump(x);
        char *theirs = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
        assert_string_equal(mine, theirs);
        free(mine);
        free(theirs);
        ph_jdoc_free(&doc);
        json_decref(a);
        json_decref(b);
    }
    assert_null(ph_jv_get(NULL, "a"));
    assert_false(ph_jv_equal(NULL, NULL));
    assert_string_equal(ph_jv_type_name(NULL), "null");
    assert_int_equal(ph_jv_size(NULL), 0);
    ph_jdoc_free(NULL);
}

/* Two aliases holding huge equal objects in different orders: compared in n log n. */
static void test_large_equality(void **state)
{
    (void)state;
    size_t n = 50000, len = 0;
    char *buf = malloc(n * 40 + 64);
    len += (size_t)sprintf(buf + len, "{\"a\":{");
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(buf + len, "%s\"k%zu\":%zu", i ? "," : "", i, i);
    len += (size_t)sprintf(buf + len, "},\"b\":{");
    for (size_t i = n; i-- > 0;)
        len += (size_t)sprintf(buf + len, "\"k%zu\":%zu%s", i, i, i ? "," : "");
    len += (size_t)sprintf(buf + len, "}}");
    ph_jdoc doc;
    const ph_jv *root;
    ph_jproblem pr, dup;
    ph_jdoc_init(&doc);
    assert_int_equal(ph_jdoc_parse(&doc, buf, len, false, &root, &pr, &dup), PH_JPARSE_OK);
    const ph_jv *a = ph_jv_get(root, "a"), *b = ph_jv_get(root, "b");
    assert_int_equal(ph_jv_size(a), n);
    assert_true(ph_jv_equal(a, b));
    ((ph_jmember *)b->u.members)[7].v.u.i = -1; /* one value differs */
    assert_false(ph_jv_equal(a, b));
    ph_jdoc_free(&doc);
    free(buf);
}

/* ---- through ph_record_from_json --------------------------------------------------------- */

#define REC(extra)                                                                                 \
    "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"output\":\"hello\"" extra "}"

static ts_fx *fx_with(const char *severity)
{
    ph_rules_config cfg = {.severity = severity};
    ts_fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(ts_fx_init(f, "llm_log", &cfg), 0);
    return f;
}

static void fx_done(ts_fx *f)
{
    ts_fx_free(f);
    free(f);
}

static void judge(ts_fx *f, const char *buf, size_t len, int expect)
{
    int rc = ts_judge_len(f, buf, len);
    if (rc != expect) {
        ts_dump(f);
        print_input(buf, len);
        fail_msg("expected %d, got %d", expect, rc);
    }
}

/* What yajl accepts and jansson refused is refused, with the same single reason. */
static void test_record_refused(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *code;
    } bad[] = {
        {REC("") "\"", "invalid_json"}, /* an unterminated string after the record */
        {REC("") "\"x", "invalid_json"},
        {REC("") "\v", "invalid_json"}, /* \v and \f are not white space */
        {"\f" REC(""), "invalid_json"},
        {REC(",\"model\":\"\\uDC00\""), "invalid_json"}, /* lone and mismatched surrogates */
        {REC(",\"model\":\"\\uD800\\u0041\""), "invalid_json"},
        {REC(",\"turn\":-9223372036854775809"), "invalid_json"},
        {REC(",\"latency_ms\":-1e400"), "invalid_json"},
        {REC(",\"turn\":06"), "invalid_json"},
        {REC(",\"model\":\"\xF4\x90\x80\x80\""), "invalid_utf8"}, /* above U+10FFFF */
        {REC(",\"model\":\"\xF5\x80\x80\x80\""), "invalid_utf8"},
        {REC(",\"k\xC0\xAF\":1"), "invalid_utf8"},                       /* in a key */
        {REC("") "\x80", "invalid_utf8"},                                /* after the record */
        {REC(",\"model\":\"a\",\"model\":\"b\"") " x", "duplicate_key"}, /* the first problem */
        {REC(",\"model\":\"a\",\"model\":\"b\",\"x\":\"\x80\""), "duplicate_key"},
        {REC(",\"x\":\"\x80\",\"model\":\"a\",\"model\":\"b\""), "invalid_utf8"},
        {REC(",\"x\":1 \"model\":\"a\",\"model\":\"b\""), "invalid_json"},
    };
    /* A raw NUL byte is never JSON. jansson skipped one right after a number or a literal
     * (see nul_after_token) and accepted these; they are refused now. */
    static const char nul_after_number[] = REC(",\"turn\":2\0");
    static const char nul_after_literal[] = REC(",\"x\":true\0");
    static const char nul_between[] = REC(",\"turn\":2 \0");
    ts_fx *f = fx_with(NULL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        judge(f, bad[i].json, strlen(bad[i].json), PH_EINVAL);
        if (f->fatal.n != 1 || strcmp(f->fatal.v[0].code, bad[i].code) != 0 ||
            f->fatal.v[0].field) {
            ts_dump(f);
            fail_msg("case %zu: expected only %s", i, bad[i].code);
        }
        assert_string_equal(ts_str(&f->rec, "record_id"), "raw-test-0-7");
    }
    const char *const nul[] = {nul_after_number, nul_after_literal, nul_between};
    const size_t nul_len[] = {sizeof(nul_after_number) - 1, sizeof(nul_after_literal) - 1,
                              sizeof(nul_between) - 1};
    for (size_t i = 0; i < 3; i++) {
        judge(f, nul[i], nul_len[i], PH_EINVAL);
        assert_int_equal(f->fatal.n, 1);
        assert_string_equal(f->fatal.v[0].code, "invalid_json");
    }
    fx_done(f);
}

/* Values at the edges of what is accepted. */
static void test_record_edges(void **state)
{
    (void)state;
    ts_fx *f = fx_with(NULL);
    const char *ok = REC(",\"model\":\"\\ud83d\\ude00 \\\"q\\\" \\u00e9\",\"pro\\u0076ider\":\"x\","
                         "\"i\":9223372036854775807,\"j\":-9223372036854775808,\"t\":1e-999,"
                         "\"n\":[0.5,-0,1E2]");
    judge(f, ok, strlen(ok), 0);
    assert_string_equal(ts_str(&f->rec, "model"), "\xF0\x9F\x98\x80 \"q\" \xC3\xA9");
    assert_string_equal(ts_str(&f->rec, "provider"), "x"); /* a key is read decoded */
    assert_string_equal(ts_str(&f->rec, "metadata{i}"), "9223372036854775807");
    assert_string_equal(ts_str(&f->rec, "metadata{j}"), "-9223372036854775808");
    assert_string_equal(ts_str(&f->rec, "metadata{t}"), "0.0");
    assert_string_equal(ts_str(&f->rec, "metadata{n}"), "[0.5,0,100.0]");
    /* and so is the key of a duplicate */
    const char *dup = REC(",\"model\":\"a\",\"mo\\u0064el\":\"b\"");
    judge(f, dup, strlen(dup), PH_EINVAL);
    assert_non_null(ts_find(&f->fatal, "duplicate_key", NULL));
    fx_done(f);
}

/* A metadata value nested to the limit is kept; one level more and the record is not JSON. */
static void test_record_depth(void **state)
{
    (void)state;
    ts_fx *f = fx_with(NULL);
    for (size_t extra = 0; extra < 2; extra++) {
        size_t levels = 2047 + extra, len = 0; /* the record is level 1 */
        char *buf = malloc(2 * levels + 128);
        len += (size_t)sprintf(buf, "{\"prompt\":\"p\",\"output\":\"o\",\"deep\":");
        for (size_t i = 0; i < levels; i++)
            buf[len++] = '[';
        for (size_t i = 0; i < levels; i++)
            buf[len++] = ']';
        buf[len++] = '}';
        judge(f, buf, len, extra ? PH_EINVAL : 0);
        if (extra)
            assert_non_null(ts_find(&f->fatal, "invalid_json", NULL));
        else
            assert_int_equal(strlen(ts_str(&f->rec, "metadata{deep}")), 2 * levels);
        free(buf);
    }
    fx_done(f);
}

/* Duplicates in a large object (found by sorting) and in nested ones; when tolerated the last
 * value wins at the place of the first, and the problems are listed in reading order. */
static void test_record_duplicates(void **state)
{
    (void)state;
    char buf[2048];
    size_t len = (size_t)sprintf(buf, "{\"prompt\":\"p\",\"output\":\"o\",\"metadata\":{");
    for (int i = 0; i < 40; i++)
        len += (size_t)sprintf(buf + len, "%s\"k%d\":%d", i ? "," : "", i, i);
    len += (size_t)sprintf(buf + len, ",\"k3\":\"last\"},\"z\":1}");
    ts_fx *f = fx_with(NULL);
    judge(f, buf, len, PH_EINVAL);
    assert_non_null(ts_find(&f->fatal, "duplicate_key", NULL));
    const char *nested = REC(",\"context\":[{\"content\":\"c\",\"id\":1,\"id\":2}]");
    judge(f, nested, strlen(nested), PH_EINVAL);
    assert_non_null(ts_find(&f->fatal, "duplicate_key", NULL));
    fx_done(f);

    f = fx_with("duplicate_key=warn,invalid_utf8=warn");
    judge(f, buf, len, 0);
    assert_string_equal(ts_str(&f->rec, "metadata{k3}"), "last");
    assert_int_equal(ts_size(&f->rec, "metadata"), 41);
    judge(f, nested, strlen(nested), 0);
    assert_string_equal(ts_str(&f->rec, "context[0].id"), "2");
    /* reading order: the duplicate, then the bad byte; and the other way round */
    const char *dup_first = REC(",\"model\":\"a\",\"model\":\"b\",\"x\":\"\x80\"");
    judge(f, dup_first, strlen(dup_first), 0);
    assert_int_equal(f->warn.n, 2);
    assert_string_equal(f->warn.v[0].code, "duplicate_key");
    assert_string_equal(f->warn.v[1].code, "invalid_utf8");
    assert_string_equal(ts_str(&f->rec, "model"), "b");
    const char *bad_first = REC(",\"x\":\"\x80\",\"model\":\"a\",\"model\":\"b\"");
    judge(f, bad_first, strlen(bad_first), 0);
    assert_int_equal(f->warn.n, 2);
    assert_string_equal(f->warn.v[0].code, "invalid_utf8");
    assert_string_equal(f->warn.v[1].code, "duplicate_key");
    assert_string_equal(ts_str(&f->rec, "metadata{x}"), "\xEF\xBF\xBD");
    /* tolerated, then a syntax error: both are listed */
    const char *then_bad = REC(",\"model\":\"a\",\"model\":\"b\"") "x";
    judge(f, then_bad, strlen(then_bad), PH_EINVAL);
    assert_non_null(ts_find(&f->warn, "duplicate_key", NULL));
    assert_non_null(ts_find(&f->fatal, "invalid_json", NULL));
    fx_done(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_large_objects),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_values_like_jansson),
        cmocka_unit_test(test_large_equality),
        cmocka_unit_test(test_record_refused),
        cmocka_unit_test(test_record_edges),
        cmocka_unit_test(test_record_depth),
        cmocka_unit_test(test_record_duplicates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
