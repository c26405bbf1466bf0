/* Thousands of random and mutated inputs derived from real records, through the fuzz harness
 * (fuzz_record.c) and through the Avro check. Deterministic: the seed is printed and can be set
 * with PH_FUZZ_SEED; PH_FUZZ_ITERATIONS sets the number of inputs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ph_error.h"
#include "ph_record.h"
#include "test_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void ph_fuzz_record_cleanup(void);
void ph_fuzz_record_stats(size_t *valid, size_t *invalid);

/* ---- randomness -------------------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: deterministic, good enough to pick mutations */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 0) : dflt;
}

/* ---- seeds ------------------------------------------------------------------------------- */

/* Shapes the shared data does not have, so that mutations reach every mapping path. */
static const char *const builtin_seeds[] = {
    "{\"record_id\":\"r-1\",\"trace_id\":\"4bf92f35\",\"span_id\":\"00f0\",\"parent_span_id\":"
    "\"a3\","
    "\"session_id\":\"s\",\"turn\":3,\"user_id\":\"u\",\"app\":\"a\",\"environment\":\"prod\","
    "\"route\":\"/c\",\"model\":\"m\",\"provider\":\"p\",\"start_time\":\"2025-12-31T23:59:58.5Z\","
    "\"end_time\":1767225600000,\"latency_ms\":12.5,\"status\":\"ok\",\"input_messages\":[{"
    "\"role\":"
    "\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
    "\"q\"},"
    "{\"type\":\"image_url\",\"image_url\":{\"url\":\"u\"}}],\"name\":\"n\"}],\"output\":\"o\","
    "\"finish_reason\":\"stop\",\"context\":[\"c\",{\"id\":1,\"text\":\"t\",\"score\":0.5,"
    "\"source\":"
    "\"s\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7},\"cost\":0."
    "1,"
    "\"metadata\":{\"k\":\"v\",\"n\":[1,{\"x\":null}]},\"tags\":[\"t\"],\"extra\":{\"a\":1}}",
    "{\"id\":5,\"env\":\"dev\",\"prompt\":\"p\",\"completion\":\"c\",\"input_tokens\":1,"
    "\"output_tokens\":2,\"cost_usd\":0.5,\"status\":\"FAILED\",\"error\":{\"type\":\"t\","
    "\"message\":"
    "\"m\",\"code\":429}}",
    "{\"input\":\"hi\",\"response\":[\"a\",{\"type\":\"output_text\",\"text\":\"b\"}],\"error\":"
    "\"e\"}",
    "{\"feedback_id\":\"f\",\"record_id\":\"r\",\"trace_id\":\"t\",\"session_id\":\"s\",\"source\":"
    "\"reviewer\",\"reviewer_id\":\"r\",\"thumbs\":\"up\",\"score\":1,\"label\":\"l\",\"comment\":"
    "\"c\",\"corrected_output\":\"x\",\"time\":\"2025-01-01T00:00:00+01:00\",\"metadata\":{}}",
    "{\"messages\":[{\"role\":\"user\",\"content\":\"\\u0000\\ud83d\\ude00\\n\"}],\"output\":"
    "\"\\\"\"}",
};

typedef struct seeds {
    char **v;
    size_t *len;
    size_t n;
} seeds;

static void seeds_add(seeds *s, const char *p, size_t len)
{
    s->v = realloc(s->v, (s->n + 1) * sizeof(*s->v));
    s->len = realloc(s->len, (s->n + 1) * sizeof(*s->len));
    assert_non_null(s->v);
    assert_non_null(s->len);
    s->v[s->n] = malloc(len + 1);
    assert_non_null(s->v[s->n]);
    memcpy(s->v[s->n], p, len);
    s->v[s->n][len] = '\0';
    s->len[s->n++] = len;
}

/* Every 10th line of the shared data (when present) plus the built-in shapes. */
static void seeds_load(seeds *s)
{
    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < sizeof(builtin_seeds) / sizeof(builtin_seeds[0]); i++)
        seeds_add(s, builtin_seeds[i], strlen(builtin_seeds[i]));
    char *path = ts_data_path("llm_logs.jsonl");
    size_t len = 0;
    char *data = path ? ts_read_file(path, &len) : NULL;
    free(path);
    if (!data) {
        fprintf(stderr, "shared data not found: built-in seeds only\n");
        return;
    }
    size_t line = 0;
    for (char *p = data; p < data + len; line++) {
        char *nl = memchr(p, '\n', (size_t)(data + len - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(data + len - p);
        if (line % 10 == 0 && n)
            seeds_add(s, p, n);
        p += n + 1;
    }
    free(data);
}

static void seeds_free(seeds *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    free(s->len);
}

/* ---- mutations --------------------------------------------------------------------------- */

static const char *const keys[] = {"record_id",
                                   "id",
                                   "trace_id",
                                   "span_id",
                                   "parent_span_id",
                                   "session_id",
                                   "turn",
                                   "user_id",
                                   "app",
                                   "environment",
                                   "env",
                                   "route",
                                   "model",
                                   "provider",
                                   "start_time",
                                   "end_time",
                                   "latency_ms",
                                   "status",
                                   "error",
                                   "messages",
                                   "input_messages",
                                   "input",
                                   "prompt",
                                   "output",
                                   "response",
                                   "completion",
                                   "finish_reason",
                                   "context",
                                   "usage",
                                   "input_tokens",
                                   "output_tokens",
                                   "cost",
                                   "cost_usd",
                                   "metadata",
                                   "tags",
                                   "role",
                                   "content",
                                   "text",
                                   "type",
                                   "name",
                                   "score",
                                   "source",
                                   "prompt_tokens",
                                   "completion_tokens",
                                   "feedback_id",
                                   "thumbs",
                                   "label",
                                   "comment",
                                   "time",
                                   "reviewer_id",
                                   "x"};

static const unsigned char odd_bytes[] = {0x00, 0x01, 0x7F, 0x80, 0xBF, 0xC0, 0xC3, 0xE2, 0xED,
                                          0xF0, 0xF4, 0xF5, 0xFF, '"',  '\\', '{',  '}',  '[',
                                          ']',  ',',  ':',  'u',  '0',  '-',  'e',  '.'};

static void random_bytes(char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(rnd() % 4 ? odd_bytes[below(sizeof(odd_bytes))] : (int)(rnd() & 0xFF));
}

static json_t *random_json(int depth);

static json_t *random_string(void)
{
    static const char *const samples[] = {"",
                                          " ",
                                          "user",
                                          "assistant",
                                          "USER",
                                          "human",
                                          "ok",
                                          "error",
                                          "Success",
                                          "up",
                                          "down",
                                          "text",
                                          "image_url",
                                          "2025-06-01T12:00:00Z",
                                          "2025-06-01T12:00:00",
                                          "1999-01-01",
                                          "2026-01-01T23:59:59.999+00:00",
                                          "9999-12-31T23:59:59Z",
                                          "\xC3\xA9\xF0\x9F\x98\x80",
                                          "a\nb\tc"};
    if (rnd() % 4)
        return json_string(samples[below(sizeof(samples) / sizeof(samples[0]))]);
    size_t n = below(rnd() % 8 ? 40 : 3000);
    char *buf = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)(rnd() % 8 ? 'a' + (int)below(26) : 0); /* some U+0000 */
    json_t *s = json_stringn(buf, n);
    free(buf);
    return s;
}

static json_t *random_json(int depth)
{
    static const double reals[] = {0.0, -0.5, 1e300, -1e300, 2.0, 0.25, 86400001.0, 1.7e12, -1};
    static const json_int_t ints[] = {0,           1,
                                      -1,          2,
                                      100000001,   INT64_MAX,
                                      INT64_MIN,   1767225600000LL,
                                      1767225600,  4294967296LL,
                                      2147483648LL};
    switch (below(depth > 3 ? 6 : 9)) {
    case 0:
        return json_null();
    case 1:
        return json_boolean(rnd() & 1);
    case 2:
        return json_integer(ints[below(sizeof(ints) / sizeof(ints[0]))]);
    case 3:
        return json_real(reals[below(sizeof(reals) / sizeof(reals[0]))]);
    case 4:
    case 5:
        return random_string();
    case 6:
    case 7: {
        json_t *a = json_array();
        /* now and then a long array (too many messages), but only of small items */
        size_t n = depth == 0 && rnd() % 8 == 0 ? 1200 : below(5);
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, random_json(n > 5 ? 4 : depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        size_t n = below(6);
        for (size_t i = 0; i < n; i++)
            json_object_set_new(o, keys[below(sizeof(keys) / sizeof(keys[0]))],
                                random_json(depth + 1));
        return o;
    }
    }
}

/* A JSON-aware mutation: set, replace or delete a key at the top or one level down. */
static char *mutate_json(const char *seed, size_t len, size_t *out_len)
{
    json_t *root = json_loadb(seed, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    for (size_t k = 1 + below(3); k > 0; k--) {
        json_t *target = root;
        /* sometimes descend into a message or a nested object */
        json_t *msgs = json_object_get(root, "messages");
        if (rnd() % 3 == 0 && json_array_size(msgs))
            target = json_array_get(msgs, below(json_array_size(msgs)));
        if (!json_is_object(target))
            target = root;
        const char *key = keys[below(sizeof(keys) / sizeof(keys[0]))];
        if (rnd() % 5 == 0)
            json_object_del(target, key);
        else
            json_object_set_new(target, key, random_json(0));
    }
    char *text = json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(root);
    if (text)
        *out_len = strlen(text);
    return text;
}

/* Byte-level mutations on a copy of the seed (the buffer may grow). */
static char *mutate_bytes(const char *seed, size_t len, size_t *out_len)
{
    size_t cap = len * 2 + 64;
    char *p = malloc(cap);
    memcpy(p, seed, len);
    size_t n = len;
    for (size_t k = 1 + below(4); k > 0; k--) {
        switch (below(6)) {
        case 0: /* flip bits */
            if (n)
                p[below(n)] ^= (char)(1u << below(8));
            break;
        case 1: /* truncate */
            n = below(n + 1);
            break;
        case 2: { /* insert odd bytes */
            size_t at = below(n + 1), m = 1 + below(8);
            if (n + m > cap)
                break;
            memmove(p + at + m, p + at, n - at);
            random_bytes(p + at, m);
            n += m;
            break;
        }
        case 3: { /* delete a chunk */
            size_t at = below(n + 1), m = below(n - at + 1);
            memmove(p + at, p + at + m, n - at - m);
            n -= m;
            break;
        }
        case 4: { /* duplicate a chunk (duplicate keys, nesting) */
            size_t at = below(n + 1), m = below(n - at + 1);
            if (n + m > cap)
                break;
            memmove(p + at + m, p + at, n - at);
            n += m;
            break;
        }
        default: /* overwrite a byte with an odd one */
            if (n)
                p[below(n)] = (char)odd_bytes[below(sizeof(odd_bytes))];
        }
    }
    *out_len = n;
    return p;
}

static void test_fuzz_json(void **state)
{
    (void)state;
    seeds s;
    seeds_load(&s);
    uint64_t seed = env_u64("PH_FUZZ_SEED", 20240601);
    size_t iterations = (size_t)env_u64("PH_FUZZ_ITERATIONS", 12000);
    rng_state = seed ? seed : 1;
    printf("fuzz: seed %llu, %zu inputs from %zu seeds\n", (unsigned long long)seed, iterations,
           s.n);
    for (size_t i = 0; i < s.n; i++) /* the seeds themselves */
        LLVMFuzzerTestOneInput((const uint8_t *)s.v[i], s.len[i]);
    for (size_t i = 0; i < iterations; i++) {
        size_t which = below(s.n), len = 0;
        char *input = NULL;
        switch (below(4)) {
        case 0:
        case 1:
            input = mutate_json(s.v[which], s.len[which], &len);
            break;
        case 2:
            input = mutate_bytes(s.v[which], s.len[which], &len);
            break;
        default: { /* JSON mutation, then byte damage */
            size_t mid = 0;
            char *j = mutate_json(s.v[which], s.len[which], &mid);
            if (j) {
                input = mutate_bytes(j, mid, &len);
                free(j);
            }
        }
        }
        if (!input) { /* the seed was damaged beyond JSON: feed pure noise */
            len = below(64);
            input = malloc(len + 1);
            random_bytes(input, len);
        }
        LLVMFuzzerTestOneInput((const uint8_t *)input, len);
        free(input);
    }
    /* and pure generated objects */
    for (size_t i = 0; i < iterations / 10; i++) {
        json_t *o = random_json(3);
        char *text = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text) {
            LLVMFuzzerTestOneInput((const uint8_t *)text, strlen(text));
            free(text);
        }
        json_decref(o);
    }
    size_t valid, invalid;
    ph_fuzz_record_stats(&valid, &invalid);
    printf("fuzz: %zu judgements valid, %zu invalid (three rule sets per input)\n", valid, invalid);
    assert_true(valid > 0 && invalid > 0);
    seeds_free(&s);
    ph_fuzz_record_cleanup();
}

/* ---- the Avro path ----------------------------------------------------------------------- */

/* Damages one random leaf of a record: strings get odd bytes, numbers extremes. */
static void damage(avro_value_t *v, int depth)
{
    avro_value_t child, b;
    size_t n = 0;
    switch (avro_value_get_type(v)) {
    case AVRO_RECORD:
    case AVRO_ARRAY:
    case AVRO_MAP:
        if (avro_value_get_size(v, &n) == 0 && n > 0 &&
            avro_value_get_by_index(v, below(n), &child, NULL) == 0)
            damage(&child, depth + 1);
        else if (avro_value_get_type(v) == AVRO_ARRAY && rnd() % 2 &&
                 avro_value_append(v, &child, NULL) == 0)
            damage(&child, depth + 1); /* a fresh element, partly unset */
        break;
    case AVRO_UNION:
        if (avro_value_set_branch(v, (int)(rnd() % 2), &b) == 0)
            damage(&b, depth + 1);
        break;
    case AVRO_STRING: {
        size_t len = below(rnd() % 10 ? 12 : 300000);
        char *buf = malloc(len + 1);
        random_bytes(buf, len);
        buf[len] = '\0';
        avro_value_set_string_len(v, buf, len + 1);
        free(buf);
        break;
    }
    case AVRO_INT32:
        avro_value_set_int(v, (int32_t)rnd());
        break;
    case AVRO_INT64: {
        static const int64_t x[] = {-1, 0, INT64_MIN, INT64_MAX, 1767225600000LL, 200000000};
        avro_value_set_long(v, rnd() % 2 ? (int64_t)rnd() : x[below(6)]);
        break;
    }
    case AVRO_DOUBLE: {
        static const double x[] = {-1, 0, NAN, INFINITY, -INFINITY, 1e300, 86400001};
        avro_value_set_double(v, x[below(7)]);
        break;
    }
    case AVRO_ENUM:
        avro_value_set_enum(v, (int)(rnd() % 2));
        break;
    case AVRO_NULL:
        avro_value_set_null(v);
        break;
    default:
        break;
    }
}

static int may_stay(const char *code)
{
    return strcmp(code, "unknown_role") == 0 || strcmp(code, "impossible_value") == 0 ||
           strcmp(code, "missing_field") == 0 || strcmp(code, "empty_field") == 0;
}

static void test_fuzz_avro(void **state)
{
    (void)state;
    seeds s;
    seeds_load(&s);
    ts_fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    ph_rules_config cfg = {.max_field_bytes = 4096, .max_messages = 4, .max_context = 2};
    assert_int_equal(ts_fx_init(f, "llm_log", &cfg), 0);
    rng_state = env_u64("PH_FUZZ_SEED", 20240601) + 1;
    size_t iterations = (size_t)env_u64("PH_FUZZ_ITERATIONS", 12000) / 4;
    size_t checked = 0;
    for (size_t i = 0; i < iterations; i++) {
        size_t which = below(s.n);
        if (ts_judge_len(f, s.v[which], s.len[which]) != 0)
            continue;
        for (size_t k = 1 + below(4); k > 0; k--)
            damage(&f->rec, 0);
        ph_issues_clear(&f->fatal);
        ph_issues_clear(&f->warn);
        int rc = ph_record_check_avro(f->rules, &f->rec, &f->meta, &f->fatal, &f->warn);
        if (rc != 0 && rc != PH_EINVAL)
            fail_msg("check failed as a process: %d", rc);
        if ((rc == PH_EINVAL) != (f->fatal.n > 0))
            fail_msg("result and reasons disagree");
        /* repaired in place: always encodable, and a second look finds only what cannot be
         * repaired */
        assert_int_equal(ts_roundtrip(f->s.iface, &f->rec), 0);
        ph_issues_clear(&f->fatal);
        ph_issues_clear(&f->warn);
        ph_record_check_avro(f->rules, &f->rec, &f->meta, &f->fatal, &f->warn);
        for (size_t j = 0; j < f->fatal.n; j++)
            if (!may_stay(f->fatal.v[j].code)) {
                ts_dump(f);
                fail_msg("second look still fatal: %s", f->fatal.v[j].code);
            }
        for (size_t j = 0; j < f->warn.n; j++)
            if (!may_stay(f->warn.v[j].code)) {
                ts_dump(f);
                fail_msg("second look repaired again: %s", f->warn.v[j].code);
            }
        checked++;
    }
    printf("fuzz avro: %zu damaged records checked\n", checked);
    assert_true(checked > iterations / 2);
    ts_fx_free(f);
    free(f);
    seeds_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fuzz_json),
        cmocka_unit_test(test_fuzz_avro),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
