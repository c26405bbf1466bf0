/* pii: every detector on positive, negative and edge cases, sides and config, odd content, and a
 * run over every record of the shared llm_logs.jsonl (what is flagged, by type and side, and the
 * CPU cost). PHAROS_EVAL_PASSES=N repeats the timed pass N times (default 1). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval_test_util.h"
#include "ph_error.h"
#include "ph_eval.h"

extern const ph_evaluator_kind ph_eval_kind_pii;
#define KIND ph_eval_kind_pii

static void *make(const char *json)
{
    return eval_test_make(&KIND, json);
}

/* create() must refuse json; err gets the reason. */
static void refuses(const char *json, const char *why)
{
    eval_test_refuses(&KIND, json, why);
}

static const ph_eval_result *scan(const void *st, const ph_eval_record *rec, ph_eval_sink *sink)
{
    char err[PH_ERRSTR_SIZE];
    ph_eval_sink_reset(sink);
    sink->current_name = "pii";
    sink->current_version = "1.test";
    assert_int_equal(KIND.evaluate(st, rec, sink, err, sizeof(err)), 0);
    assert_int_equal(sink->n, 1);
    assert_int_equal(sink->results[0].status, PH_EVAL_OK);
    return sink->results;
}

/* How many of `type` the output holds; also checks the explanation does not quote it. */
static int count_in(const void *st, const char *output, const char *type, ph_eval_sink *sink)
{
    ph_eval_record rec = record(NULL, 0, output);
    const ph_eval_result *r = scan(st, &rec, sink);
    char name[64];
    snprintf(name, sizeof(name), "output.%s", type);
    for (const char *w = output; *w; w++)
        if (*w >= '0' && *w <= '9' && w[1] >= '0' && w[1] <= '9' && w[2] >= '0' && w[2] <= '9' &&
            w[3] >= '0' && w[3] <= '9')
            assert_null(strstr(r->explanation, (char[5]){w[0], w[1], w[2], w[3], 0}));
    assert_null(strchr(r->explanation, '@'));
    return (int)value(r, name);
}

#define FOUND(text, type, n) assert_int_equal(count_in(st, text, type, &sink), n)

static void test_emails(void **unused)
{
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    void *st = make("{}");
    FOUND("Write to jane.doe+tag@mail.co.uk today.", "email", 1);
    FOUND("a@b.io, c_d@e-f.com and g@h.museum", "email", 3);
    FOUND("user@example.com or admin@test.example.org", "email", 0); /* reserved examples */
    FOUND("@mention me, or write to a@b, or x@y.z", "email", 0);
    FOUND("logo@2x.png", "email", 0);
    FOUND("\xff\xfejane@mail.com\xc3", "email", 1); /* invalid UTF-8 around it */
    FOUND("\xc3\xa9l\xc3\xa8ve: jane@mail.com \xf0\x9f\x98\x80", "email", 1);
    KIND.destroy(st);
    st = make("{\"count_placeholders\": true}");
    FOUND("user@example.com", "email", 1);
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
}

static void test_phones(void **unused)
{
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    void *st = make("{}");
    FOUND("Call +44 20 7946 0958 now", "phone", 1);
    FOUND("Call +44 (0)20 7946 0958 now", "phone", 1);
    FOUND("Call +1 (555) 123-4567.", "phone", 1); /* once, not also as a US number */
    FOUND("Call (555) 234-5678 or 555-987-6543 or 555.222.3333", "phone", 3);
    /* an exchange cannot start with 0 or 1 in the NANP: not a US number */
    FOUND("555-123-4567 and (555) 012-3456", "phone", 0);
    FOUND("Toll free: 1-800-555-1234.", "phone", 1);
    FOUND("+8613812345678", "phone", 1);
    FOUND("UK: 020 7946 0958, NL: 06-12345678, FR: 01 23 45 67 89", "phone", 3);
    /* not phones: dates, times, versions, plain and grouped numbers, arithmetic, ISBNs */
    FOUND("On 2023-10-12 at 12:30:45, v2.10.3 and 1.2.3.4.5 shipped", "phone", 0);
    FOUND("12/10/2023, 10.12.2023, 5551234567, 123456789012, 1,234,567", "phone", 0);
    FOUND("2 + 3 = 5, +1 2 3, x +12345", "phone", 0);
    FOUND("ISBN 978-3-16-148410-0, part no. 100-200-3000", "phone", 0);
    FOUND("in 2023 10 12 people", "phone", 0);
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
}

static void test_cards_ibans_ssns(void **unused)
{
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    void *st = make("{}");
    FOUND("card 4111 1111 1111 1111 exp 12/26", "card", 1);
    FOUND("4111-1111-1111-1111, 4111111111111111", "card", 2);
    FOUND("Amex 3782 822463 10005, MC 5555555555554444", "card", 2);
    FOUND("4111 1111 1111 1112", "card", 0);                          /* Luhn fails */
    FOUND("order 1234567890123452, id 79927398713000000", "card", 0); /* no issuer prefix */
    FOUND("41111111111111111111111", "card", 0);                      /* too long */
    FOUND("pay to DE89 3704 0044 0532 0130 00 please", "iban", 1);
    FOUND("GB82WEST12345698765432 and GB29 NWBK 6016 1331 9268 19", "iban", 2);
    FOUND("DE88 3704 0044 0532 0130 00", "iban", 0); /* check digits wrong */
    FOUND("DE89 3704 0044 0532 0130", "iban", 0);    /* too short for DE */
    FOUND("XX89 3704 0044 0532 0130 00", "iban", 0); /* no such country */
    /* the IBAN's digits are not also a phone number */
    FOUND("DE89 3704 0044 0532 0130 00", "phone", 0);
    FOUND("SSN 123-45-6788, or 219 09 9998.", "ssn", 2);
    FOUND("000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000", "ssn", 0);
    FOUND("123-45 6788 and 1234-56-7890", "ssn", 0);
    FOUND("078-05-1120 and 123-45-6789", "ssn", 0); /* published samples */
    KIND.destroy(st);
    st = make("{\"count_placeholders\": true}");
    FOUND("078-05-1120 and 123-45-6789", "ssn", 2);
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
}

static void test_ip_addresses(void **unused)
{
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    void *st = make("{}");
    FOUND("DNS 8.8.8.8 and 1.1.1.1.", "ipv4", 2);
    FOUND("192.168.1.1 10.0.0.1 127.0.0.1 172.16.0.5 203.0.113.5 255.255.255.0 0.0.0.0", "ipv4", 0);
    FOUND("256.1.1.1, 1.2.3, 01.02.03.04, 1.2.3.4.5", "ipv4", 0);
    FOUND("2606:4700:4700::1111 and 2a00:1450:4001:81b::200e", "ipv6", 2);
    FOUND("2001:db8::1 fe80::1 ::1 fd00::5", "ipv6", 0);
    FOUND("std::vector, 12:30:45, 00:1A:2B:3C:4D:5E, a::b, dead:beef", "ipv6", 0);
    KIND.destroy(st);
    st = make("{\"count_private_ips\": true}");
    FOUND("192.168.1.1 and 10.0.0.1", "ipv4", 2);
    FOUND("fe80::1 and 2001:db8::1", "ipv6", 2);
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
}

static void test_secrets(void **unused)
{
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    void *st = make("{}");
    FOUND("OPENAI_API_KEY=sk-proj-abc123DEF456ghi789JKL012mno", "secret", 1);
    FOUND("aws AKIA2OGYBAH6STMMNXNN and sk_live_4eC39HqLyjWDarjtT1zdp7dc", "secret", 2);
    FOUND("ghp_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R and xoxb-1234567890-abcdefghij", "secret", 2);
    FOUND("key AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "secret", 1);
    FOUND("-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n-----BEGIN PRIVATE KEY-----", "secret", 2);
    FOUND("-----BEGIN PUBLIC KEY-----", "secret", 0);
    FOUND("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVm",
          "secret", 1);
    FOUND("api_key = 'Zx8Qw3Lm9Tr2Vb7N'", "secret", 1);
    FOUND("my token is 3f786850e387550fdab836ed7e6dc881de23001b", "secret", 1);
    FOUND("\"password\": \"Tr0ub4dor3xyzXYZ77\"", "secret", 1);
    FOUND("\"password\": \"Tr0ub4dor&3xyzXYZ77\"", "secret", 0); /* symbols cut tokens */
    FOUND("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ3MPLEKEY", "secret", 1);
    /* not secrets: placeholders, low entropy, no context, short, prose */
    FOUND("AKIAIOSFODNN7EXAMPLE sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxx api_key=your_api_key_here12",
          "secret", 0);
    FOUND("password: correcthorsebatterystaple", "secret", 0);
    FOUND("commit 3f786850e387550fdab836ed7e6dc881de23001b", "secret", 0);
    FOUND("token: abc123", "secret", 0);
    FOUND("The internationalization-of-everything approach, sk-learn, task-management", "secret",
          0);
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
}

static void test_sides_and_results(void **unused)
{
#define MSG(role, text)                                                                            \
    {                                                                                              \
        {role, sizeof(role) - 1},                                                                  \
        {                                                                                          \
            text, sizeof(text) - 1                                                                 \
        }                                                                                          \
    }
    ph_eval_message msgs[] = {
        MSG("system", "Support line: 555-234-5678"),
        MSG("user", "My card is 4111 1111 1111 1111, mail me at jo@mail.com"),
        MSG("assistant", "Noted."),
        MSG("user", "Also call me at (555) 987-6543."),
    };
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    void *st = make("{}");
    ph_eval_record rec = record(msgs, 4, "Sure, I will email jo@mail.com and ann@corp.io.");
    const ph_eval_result *r = scan(st, &rec, &sink);
    assert_string_equal(r->evaluator, "pii");
    assert_int_equal(value(r, "output.email"), 2);
    assert_int_equal(value(r, "output.total"), 2);
    assert_int_equal(value(r, "input.phone"), 1); /* the last user message only */
    assert_int_equal(value(r, "input.card"), 0);
    assert_int_equal(value(r, "input.total"), 1);
    assert_string_equal(r->label, "email");
    assert_int_equal(r->passed, 0);
    assert_string_equal(r->explanation, "output: email 2; input: phone 1");
    assert_int_equal(r->nvalues, 18);
    assert_false(r->has_score);
    KIND.destroy(st);

    st = make("{\"input_scope\": \"all\", \"fail_on\": [\"input\"], \"fail_types\": [\"card\","
              " \"phone\"]}");
    r = scan(st, &rec, &sink);
    assert_int_equal(value(r, "input.phone"), 2);
    assert_int_equal(value(r, "input.card"), 1);
    assert_int_equal(value(r, "input.email"), 1);
    assert_string_equal(r->label, "phone+card");
    assert_string_equal(r->explanation, "output: email 2; input: email 1, phone 2, card 1");
    KIND.destroy(st);

    st = make("{\"types\": [\"email\"], \"scan_input\": false}");
    r = scan(st, &rec, &sink);
    assert_int_equal(r->nvalues, 2); /* output.email, output.total */
    assert_string_equal(r->label, "email");
    KIND.destroy(st);

    st = make("{\"fail_on\": []}");
    r = scan(st, &rec, &sink);
    assert_string_equal(r->label, "none");
    assert_int_equal(r->passed, 1);
    KIND.destroy(st);

    /* nothing at all, no user message, empty output */
    st = make("{}");
    rec = record(NULL, 0, "");
    r = scan(st, &rec, &sink);
    assert_string_equal(r->label, "none");
    assert_int_equal(r->passed, 1);
    assert_string_equal(r->explanation, "no PII found");
    assert_int_equal(value(r, "input.total"), 0);

    /* a huge output: 16 MiB of mixed text with one of each type at the end */
    const char *tail = " jane@mail.com +44 20 7946 0958 4111 1111 1111 1111 "
                       "DE89 3704 0044 0532 0130 00 123-45-6788 8.8.8.8 2606:4700::1111 "
                       "AKIA2OGYBAH6STMMNXNN";
    size_t n = 16u << 20, tl = strlen(tail);
    char *huge = malloc(n + tl + 1);
    assert_non_null(huge);
    static const char filler[] = "Numbers 12.5 and 2023-10-12, code a::b; ok: 42 @ x. ";
    for (size_t i = 0; i < n; i++)
        huge[i] = filler[i % (sizeof(filler) - 1)];
    memcpy(huge + n, tail, tl + 1);
    rec = record(NULL, 0, huge);
    clock_t t0 = clock();
    r = scan(st, &rec, &sink);
    print_message("16 MiB output scanned in %.2f s\n", (double)(clock() - t0) / CLOCKS_PER_SEC);
    assert_string_equal(r->label, "email+phone+card+iban+ssn+ipv4+ipv6+secret");
    assert_int_equal(value(r, "output.total"), 8);
    free(huge);
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
}

static void test_bad_configs(void **unused)
{
    refuses("{\"types\": [\"email\", \"dna\"]}", "types[1]: unknown type");
    refuses("{\"types\": \"email\"}", "types: must be an array");
    refuses("{\"types\": [\"email\"], \"fail_types\": [\"card\"]}",
            "fail_types: lists a type that \"types\" leaves out");
    refuses("{\"fail_on\": [\"context\"]}", "fail_on[0]: must be");
    refuses("{\"fail_on\": \"output\"}", "fail_on: must be an array");
    refuses("{\"fail_on\": [\"input\"], \"scan_input\": false}", "needs scan_input true");
    refuses("{\"input_scope\": \"first\"}", "input_scope: must be");
    refuses("{\"count_private_ips\": \"yes\"}", "count_private_ips: must be true or false");
    refuses("{\"emails\": true}", "unknown key \"emails\"");
    refuses("[]", "config must be an object");
    KIND.destroy(NULL);
}

static void test_shared_data(void **unused)
{
    data_set ds;
    if (!data_load(&ds)) {
        print_message("llm_logs.jsonl not found: skipped\n");
        skip();
    }
    static const char *const types[] = {"email", "phone", "card", "iban",
                                        "ssn",   "ipv4",  "ipv6", "secret"};
    void *st = make("{}");
    ph_eval_sink sink;
    ph_eval_sink_init(&sink);
    sink.current_name = "pii";
    sink.current_version = "1.test";
    size_t records[2][8] = {{0}}, items[2][8] = {{0}}, failed = 0;
    for (size_t i = 0; i < ds.n; i++) {
        char err[PH_ERRSTR_SIZE], name[32];
        ph_eval_sink_reset(&sink);
        assert_int_equal(KIND.evaluate(st, &ds.recs[i], &sink, err, sizeof(err)), 0);
        const ph_eval_result *r = &sink.results[0];
        assert_int_equal(r->status, PH_EVAL_OK);
        failed += r->passed == 0;
        for (int side = 0; side < 2; side++)
            for (int t = 0; t < 8; t++) {
                snprintf(name, sizeof(name), "%s.%s", side ? "input" : "output", types[t]);
                size_t c = (size_t)value(r, name);
                records[side][t] += c > 0;
                items[side][t] += c;
            }
    }
    print_message("pii: %zu of %zu records fail (PII in the output)\n", failed, ds.n);
    for (int side = 0; side < 2; side++)
        for (int t = 0; t < 8; t++)
            print_message("pii %s.%s: %zu records, %zu items\n", side ? "input" : "output",
                          types[t], records[side][t], items[side][t]);
    data_time(&KIND, st, &ds, "pii (all types, both sides)");
    KIND.destroy(st);
    ph_eval_sink_free(&sink);
    data_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emails),           cmocka_unit_test(test_phones),
        cmocka_unit_test(test_cards_ibans_ssns), cmocka_unit_test(test_ip_addresses),
        cmocka_unit_test(test_secrets),          cmocka_unit_test(test_sides_and_results),
        cmocka_unit_test(test_bad_configs),      cmocka_unit_test(test_shared_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
