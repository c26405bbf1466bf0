/* Config precedence: default < file < env < flag, kafka.* pass-through, unknown keys rejected. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ph_config.h"
#include "ph_error.h"

typedef struct conf {
    char *name;
    int64_t port;
    bool verbose;
    double ratio;
} conf;

static const ph_config_entry table[] = {
    {"name", PH_CFG_STR, "dflt", offsetof(conf, name), "a name"},
    {"port", PH_CFG_INT, "8080", offsetof(conf, port), "a port"},
    {"verbose", PH_CFG_BOOL, "false", offsetof(conf, verbose), "chatty"},
    {"ratio", PH_CFG_DOUBLE, "0.5", offsetof(conf, ratio), "a ratio"},
};

static char *write_file(const char *text)
{
    char *path = strdup("/tmp/ph_config_test_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static ph_config *make(conf *c)
{
    char err[PH_ERRSTR_SIZE];
    ph_config *cfg = ph_config_new("testsvc");
    assert_non_null(cfg);
    memset(c, 0, sizeof(*c));
    assert_int_equal(ph_config_add_table(cfg, table, 4, c, err, sizeof(err)), 0);
    return cfg;
}

static void test_defaults(void **state)
{
    conf c;
    ph_config *cfg = make(&c);
    assert_string_equal(c.name, "dflt");
    assert_int_equal(c.port, 8080);
    assert_false(c.verbose);
    assert_true(c.ratio == 0.5);
    ph_config_destroy(cfg);
}

static void test_precedence(void **state)
{
    char err[PH_ERRSTR_SIZE];
    conf c;
    char *path = write_file("# comment\nname = fromfile\nport=1\nverbose = yes\nratio=0.25\n"
                            "kafka.linger.ms = 7\n");
    setenv("PHAROS_TESTSVC_PORT", "2", 1);
    setenv("PHAROS_TESTSVC_RATIO", "0.75", 1);
    setenv("PHAROS_TESTSVC_KAFKA_BATCH_SIZE", "1000", 1);
    ph_config *cfg = make(&c);
    char arg0[] = "prog", a1[128], a2[] = "--ratio=1.5", a3[] = "positional",
         a4[] = "--dump-config", a5[] = "--kafka.linger.ms=9";
    snprintf(a1, sizeof(a1), "--config=%s", path);
    char *argv[] = {arg0, a1, a2, a3, a4, a5, NULL};
    int argc = 6;
    const char *pass[] = {"--dump-config", NULL};
    assert_int_equal(ph_config_load(cfg, &argc, argv, pass, err, sizeof(err)), 0);
    assert_string_equal(c.name, "fromfile"); /* file beats default */
    assert_int_equal(c.port, 2);             /* env beats file */
    assert_true(c.verbose);
    assert_true(c.ratio == 1.5); /* flag beats env */
    assert_int_equal(argc, 3);   /* argv[0], positional, --dump-config remain */
    assert_string_equal(argv[1], "positional");
    assert_string_equal(argv[2], "--dump-config");
    /* kafka.* in application order: file, env, flag (later wins in librdkafka). */
    const ph_config_kv *kv = ph_config_kafka(cfg);
    assert_string_equal(kv->key, "linger.ms");
    assert_string_equal(kv->value, "7");
    kv = kv->next;
    assert_string_equal(kv->key, "batch.size");
    kv = kv->next;
    assert_string_equal(kv->key, "linger.ms");
    assert_string_equal(kv->value, "9");
    assert_null(kv->next);
    ph_config_destroy(cfg);
    unsetenv("PHAROS_TESTSVC_PORT");
    unsetenv("PHAROS_TESTSVC_RATIO");
    unsetenv("PHAROS_TESTSVC_KAFKA_BATCH_SIZE");
    unlink(path);
    free(path);
}

static void test_errors(void **state)
{
    char err[PH_ERRSTR_SIZE];
    conf c;
    ph_config *cfg = make(&c);
    assert_int_equal(ph_config_set(cfg, "nope", "1", err, sizeof(err)), PH_EINVAL);
    assert_non_null(strstr(err, "unknown configuration key 'nope'"));
    assert_int_equal(ph_config_set(cfg, "port", "12x", err, sizeof(err)), PH_EINVAL);
    assert_non_null(strstr(err, "not an integer"));
    assert_int_equal(c.port, 8080); /* untouched on failure */
    assert_int_equal(ph_config_set(cfg, "verbose", "maybe", err, sizeof(err)), PH_EINVAL);
    assert_int_equal(ph_config_set(cfg, "ratio", "nan", err, sizeof(err)), PH_EINVAL);

    char arg0[] = "prog", a1[] = "--port", a0[] = "--verbose";
    char *argv0[] = {arg0, a0, NULL};
    int argc0 = 2;
    assert_int_equal(ph_config_load(cfg, &argc0, argv0, NULL, err, sizeof(err)), 0);
    assert_true(c.verbose); /* a bare boolean flag means true */
    char *argv[] = {arg0, a1, NULL};
    int argc = 2;
    assert_int_equal(ph_config_load(cfg, &argc, argv, NULL, err, sizeof(err)), PH_EINVAL);
    assert_non_null(strstr(err, "expected --key=value"));

    char *path = write_file("port 12\n");
    assert_int_equal(ph_config_load_file(cfg, path, err, sizeof(err)), PH_EINVAL);
    assert_non_null(strstr(err, ":1: expected 'key = value'"));
    unlink(path);
    free(path);
    assert_int_equal(ph_config_load_file(cfg, "/nonexistent/x.conf", err, sizeof(err)), PH_EIO);

    setenv("PHAROS_TESTSVC_PORT", "abc", 1);
    argc = 1;
    assert_int_equal(ph_config_load(cfg, &argc, argv, NULL, err, sizeof(err)), PH_EINVAL);
    assert_non_null(strstr(err, "PHAROS_TESTSVC_PORT"));
    unsetenv("PHAROS_TESTSVC_PORT");
    ph_config_destroy(cfg);
}

static void test_dump_masks_secrets(void **state)
{
    static const ph_config_entry t2[] = {
        {"auth_token", PH_CFG_STR, "s3cr3t", 0, "a secret"},
    };
    char err[PH_ERRSTR_SIZE];
    struct {
        char *tok;
    } s = {0};
    conf c;
    ph_config *cfg = make(&c);
    assert_int_equal(ph_config_add_table(cfg, t2, 1, &s, err, sizeof(err)), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ph_config_dump(cfg, f);
    fclose(f);
    assert_non_null(strstr(buf, "name = dflt"));
    assert_non_null(strstr(buf, "port = 8080"));
    assert_null(strstr(buf, "s3cr3t"));
    free(buf);
    ph_config_destroy(cfg);
    ph_config_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_dump_masks_secrets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
