/* Bearer tokens map to apps; unknown or malformed credentials are refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "ph_error.h"

static void test_tokens(void **state)
{
    char err[PH_ERRSTR_SIZE];
    ph_auth *a = NULL;
    assert_int_equal(ph_auth_new(&a, "chat:tok1, rag : tok2", NULL, err, sizeof(err)), 0);
    assert_non_null(a);
    assert_string_equal(ph_auth_check(a, "Bearer tok1"), "chat");
    assert_string_equal(ph_auth_check(a, "bearer  tok2"), "rag");
    assert_null(ph_auth_check(a, "Bearer tok"));
    assert_null(ph_auth_check(a, "Bearer tok12"));
    assert_null(ph_auth_check(a, "Basic dG9rMQ=="));
    assert_null(ph_auth_check(a, NULL));
    assert_null(ph_auth_check(a, "Bearer "));
    ph_auth_destroy(a);
}

static void test_off_and_errors(void **state)
{
    char err[PH_ERRSTR_SIZE];
    ph_auth *a = (ph_auth *)1;
    assert_int_equal(ph_auth_new(&a, NULL, NULL, err, sizeof(err)), 0);
    assert_null(a); /* no tokens: auth off */
    assert_int_equal(ph_auth_new(&a, "notoken", NULL, err, sizeof(err)), PH_EINVAL);
    assert_non_null(strstr(err, "app:token"));
    assert_int_equal(ph_auth_new(&a, NULL, "/nonexistent/tokens", err, sizeof(err)), PH_EIO);
}

static void test_file(void **state)
{
    char err[PH_ERRSTR_SIZE];
    char path[] = "/tmp/ph_auth_XXXXXX";
    int fd = mkstemp(path);
    const char *text = "# tokens\nchat:abc\n\nops:def\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    ph_auth *a = NULL;
    assert_int_equal(ph_auth_new(&a, "x:y", path, err, sizeof(err)), 0);
    assert_string_equal(ph_auth_check(a, "Bearer def"), "ops");
    assert_string_equal(ph_auth_check(a, "Bearer y"), "x");
    ph_auth_destroy(a);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_off_and_errors),
        cmocka_unit_test(test_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
