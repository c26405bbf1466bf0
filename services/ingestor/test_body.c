/* Request-body parsing: the shapes the ingestor accepts and the clear errors it gives. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "body.h"
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
        "  {\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\n \"response\":\"yo\"}\n";
    assert_int_equal(parse(t, 1 << 20, &b, &e), 0);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.items[0].line, 1);
    assert_true(b.items[0].raw[0] == '{' && b.items[0].raw[b.items[0].rawlen - 1] == '}');
    ph_body_free(&b);
}

static void test_array_and_ndjson(void **state)
{
    ph_body b;
    ph_body_error e;
    assert_int_equal(parse("[{\"a\":1},{\"b\":\"x\"}, {}]", 1 << 20, &b, &e), 0);
    assert_int_equal(b.n, 3);
    assert_memory_equal(b.items[1].raw, "{\"b\":\"x\"}", b.items[1].rawlen);
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

    /* duplicate keys are ambiguous: refused */
    assert_int_equal(parse("{\"a\":1,\"a\":2}", 1 << 20, &b, &e), PH_EINVAL);
    assert_non_null(strstr(e.message, "duplicate"));

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
        cmocka_unit_test(test_errors_name_the_line),
        cmocka_unit_test(test_oversized_record),
        cmocka_unit_test(test_large_ndjson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
