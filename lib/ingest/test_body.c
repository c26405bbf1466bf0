/* Request-body parsing: the shapes the ingestor accepts and the clear errors it gives. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ph_body.h"
#include "ph_error.h"

static int parse(const char *text, size_t max, ph_body *b, ph_body_error *e)
{
    return ph_body_parse(text, strlen(text), max, b, e);
}

static void test_single_object(void **state)
{
    ph_body b;
    ph_body_error e;
    const char *t =
        "  {\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\n \"response\":\"yo\",\n"
        "  \"session_id\": \"s1\"}\n";
    assert_int_equal(parse(t, 1 << 20, &b, &e), 0);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.items[0].line, 1);
    assert_true(b.items[0].raw[0] == '{' && b.items[0].raw[b.items[0].rawlen - 1] == '}');
    assert_string_equal(b.items[0].key, "s1");
    ph_body_free(&b);
}

static void test_array_and_ndjson(void **state)
{
    ph_body b;
    ph_body_error e;
    assert_int_equal(parse("[{\"a\":\"]}\\\"\"},{\"b\":[\"x\",{}]}, {}]", 1 << 20, &b, &e), 0);
    assert_int_equal(b.n, 3);
    assert_int_equal(b.items[0].rawlen, strlen("{\"a\":\"]}\\\"\"}"));
    assert_memory_equal(b.items[1].raw, "{\"b\":[\"x\",{}]}", b.items[1].rawlen);
    assert_int_equal(b.items[2].line, 3);
    ph_body_free(&b);

    assert_int_equal(parse("{\"a\":1}\n\n  {\"a\":2}\r\n{\"a\":3}", 1 << 20, &b, &e), 0);
    assert_int_equal(b.n, 3);
    assert_int_equal(b.items[1].line, 3); /* blank lines still count */
    assert_memory_equal(b.items[1].raw, "{\"a\":2}", b.items[1].rawlen);
    assert_int_equal(b.items[1].rawlen, 7);
    ph_body_free(&b);
}

static void test_duplicates_are_records_not_errors(void **state)
{
    /* The same record twice is two records: each gets its own id (line in the hash). */
    ph_body b;
    ph_body_error e;
    assert_int_equal(parse("{\"a\":1}\n{\"a\":1}\n", 1 << 20, &b, &e), 0);
    assert_int_equal(b.n, 2);
    ph_body_free(&b);
    /* Duplicate keys parse: the validator rejects them with duplicate_key and keeps the bytes. */
    assert_int_equal(parse("{\"a\":1,\"a\":2}", 1 << 20, &b, &e), 0);
    assert_int_equal(b.n, 1);
    ph_body_free(&b);
}

static void test_key_and_id(void **state)
{
    ph_body b;
    ph_body_error e;
    const char *t = "{\"session_id\":\"s1\",\"trace_id\":\"t1\",\"record_id\":\"r1\"}\n"
                    "{\"trace_id\":\"t2\",\"id\":\"i2\",\"x\":{\"session_id\":\"nested\"}}\n"
                    "{\"session_id\":42,\"id\":7,\"feedback_id\":\"f3\"}\n"
                    "{\"id\":\"i4\",\"record_id\":\"r4\",\"session_id\":\"s\\u00e94\"}\n";
    assert_int_equal(parse(t, 1 << 20, &b, &e), 0);
    assert_int_equal(b.n, 4);
    assert_string_equal(b.items[0].key, "s1");
    assert_string_equal(b.items[0].id, "r1");
    assert_string_equal(b.items[1].key, "t2"); /* nested session_id is not the record's */
    assert_string_equal(b.items[1].id, "i2");
    assert_null(b.items[2].key); /* numbers are not keys */
    assert_null(b.items[2].id);
    assert_string_equal(b.items[2].feedback_id, "f3");
    assert_string_equal(b.items[3].id, "r4"); /* record_id wins over id */
    assert_string_equal(b.items[3].key, "s\xc3\xa9"
                                        "4"); /* escapes decoded */
    ph_body_free(&b);
}

static void test_errors_name_the_line(void **state)
{
    ph_body b;
    ph_body_error e;
    assert_int_equal(parse("", 1 << 20, &b, &e), PH_EINVAL);
    assert_int_equal(e.status, 400);
    assert_non_null(strstr(e.message, "empty body"));

    assert_int_equal(parse(" \n\t\n", 1 << 20, &b, &e), PH_EINVAL);
    assert_int_equal(e.status, 400);

    assert_int_equal(parse("{\"a\":1}\n{\"a\":\n{\"a\":3}", 1 << 20, &b, &e), PH_EINVAL);
    assert_int_equal(e.status, 400);
    assert_int_equal(e.line, 2);
    assert_non_null(strstr(e.message, "invalid JSON"));

    assert_int_equal(parse("{\"a\":1}\n[1,2]\n", 1 << 20, &b, &e), PH_EINVAL);
    assert_int_equal(e.line, 2);
    assert_non_null(strstr(e.message, "not a JSON object"));

    assert_int_equal(parse("42", 1 << 20, &b, &e), PH_EINVAL);
    assert_int_equal(e.line, 1);

    assert_int_equal(parse("[{\"a\":1}, 3]", 1 << 20, &b, &e), PH_EINVAL);
    assert_int_equal(e.line, 2);

    assert_int_equal(parse("[]", 1 << 20, &b, &e), PH_EINVAL);
    assert_non_null(strstr(e.message, "empty array"));

    assert_int_equal(parse("[{\"a\":1}", 1 << 20, &b, &e), PH_EINVAL);
    assert_int_equal(e.status, 400);

    /* huge numbers are fine for the syntax check */
    assert_int_equal(parse("{\"n\":123456789012345678901234567890}", 1 << 20, &b, &e), 0);
    ph_body_free(&b);

    /* trailing garbage after an object on one line */
    assert_int_equal(parse("{\"a\":1} x", 1 << 20, &b, &e), PH_EINVAL);
    assert_int_equal(e.line, 1);

    /* an array with a broken item: the position is reported */
    assert_int_equal(parse("[{\"a\":1}, {\"a\" 2}]", 1 << 20, &b, &e), PH_EINVAL);
    assert_true(e.column > 1);

    /* invalid UTF-8 */
    assert_int_equal(parse("{\"a\":\"\xff\xfe\"}", 1 << 20, &b, &e), PH_EINVAL);
    assert_int_equal(e.status, 400);

    /* an embedded NUL byte ends nothing silently */
    const char nul[] = "{\"a\":\"x\0y\"}";
    assert_int_equal(ph_body_parse(nul, sizeof(nul) - 1, 1 << 20, &b, &e), PH_EINVAL);
}

static void test_oversized_record(void **state)
{
    ph_body b;
    ph_body_error e;
    assert_int_equal(parse("{\"a\":1}\n{\"a\":\"0123456789012345678901234567890\"}", 20, &b, &e),
                     PH_EINVAL);
    assert_int_equal(e.status, 413);
    assert_int_equal(e.line, 2);
    assert_int_equal(parse("[{\"a\":\"0123456789012345678901234567890\"}]", 20, &b, &e), PH_EINVAL);
    assert_int_equal(e.status, 413);
    assert_int_equal(e.line, 1);
}

static void test_large_ndjson(void **state)
{
    size_t n = 10000;
    char *buf = malloc(n * 32);
    size_t off = 0;
    for (size_t i = 0; i < n; i++)
        off += (size_t)sprintf(buf + off, "{\"i\":%zu}\n", i);
    ph_body b;
    ph_body_error e;
    assert_int_equal(ph_body_parse(buf, off, 1 << 20, &b, &e), 0);
    assert_int_equal(b.n, n);
    ph_body_free(&b);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_object),
        cmocka_unit_test(test_array_and_ndjson),
        cmocka_unit_test(test_duplicates_are_records_not_errors),
        cmocka_unit_test(test_key_and_id),
        cmocka_unit_test(test_errors_name_the_line),
        cmocka_unit_test(test_oversized_record),
        cmocka_unit_test(test_large_ndjson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
