/* Parsing Canonical Form and CRC-64-AVRO against the Avro project's own vectors, and the codec's
 * use of them. */
#include "test_avro_util.h"

#include "ph_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* From apache/avro share/test/data/schema-tests.txt (cases 000-033): input, canonical form and
 * fingerprint (a signed 64-bit decimal there; 0 where the file gives none). */
static const struct {
    const char *input, *canonical;
    int64_t fp;
} vectors[] = {
    {"\"null\"", "\"null\"", 7195948357588979594LL},
    {"{\"type\":\"null\"}", "\"null\"", 0},
    {"\"boolean\"", "\"boolean\"", -6970731678124411036LL},
    {"\"int\"", "\"int\"", 8247732601305521295LL},
    {"{\"type\":\"int\"}", "\"int\"", 0},
    {"\"long\"", "\"long\"", -3434872931120570953LL},
    {"\"float\"", "\"float\"", 5583340709985441680LL},
    {"\"double\"", "\"double\"", -8181574048448539266LL},
    {"\"bytes\"", "\"bytes\"", 5746618253357095269LL},
    {"\"string\"", "\"string\"", -8142146995180207161LL},
    {"[  ]", "[]", -1241056759729112623LL},
    {"[ \"int\"  ]", "[\"int\"]", -5232228896498058493LL},
    {"[ \"int\" , {\"type\":\"boolean\"} ]", "[\"int\",\"boolean\"]", 5392556393470105090LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}", -4824392279771201922LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", \"namespace\":\"x.y\"}",
     "{\"name\":\"x.y.foo\",\"type\":\"record\",\"fields\":[]}", 5916914534497305771LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"a.b.foo\", \"namespace\":\"x.y\"}",
     "{\"name\":\"a.b.foo\",\"type\":\"record\",\"fields\":[]}", -4616218487480524110LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", \"doc\":\"foo\", "
     "\"aliases\":[\"foo\",\"bar\"]}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}", -4824392279771201922LL},
    {"{\"fields\":[{\"type\":{\"type\":\"boolean\"}, \"name\":\"f1\"}], \"type\":\"record\", "
     "\"name\":\"foo\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\",\"type\":\"boolean\"}]}",
     7843277075252814651LL},
    {"{ \"fields\":[{\"type\":\"boolean\", \"aliases\":[], \"name\":\"f1\", "
     "\"default\":\"true\"},\n"
     "            {\"order\":\"descending\",\"name\":\"f2\",\"doc\":\"Hello\",\"type\":\"int\"}],\n"
     "  \"type\":\"record\", \"name\":\"foo\"\n}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\",\"type\":\"boolean\"},"
     "{\"name\":\"f2\",\"type\":\"int\"}]}",
     -4860222112080293046LL},
    {"{\"type\":\"enum\", \"name\":\"foo\", \"symbols\":[\"A1\"]}",
     "{\"name\":\"foo\",\"type\":\"enum\",\"symbols\":[\"A1\"]}", -6342190197741309591LL},
    {"{\"namespace\":\"x.y.z\", \"type\":\"enum\", \"name\":\"foo\", \"doc\":\"foo bar\", "
     "\"symbols\":[\"A1\", \"A2\"]}",
     "{\"name\":\"x.y.z.foo\",\"type\":\"enum\",\"symbols\":[\"A1\",\"A2\"]}",
     -4448647247586288245LL},
    {"{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}",
     "{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}", 1756455273707447556LL},
    {"{\"namespace\":\"x.y.z\", \"type\":\"fixed\", \"name\":\"foo\", \"doc\":\"foo bar\", "
     "\"size\":32}",
     "{\"name\":\"x.y.z.foo\",\"type\":\"fixed\",\"size\":32}", -3064184465700546786LL},
    {"{ \"items\":{\"type\":\"null\"}, \"type\":\"array\"}",
     "{\"type\":\"array\",\"items\":\"null\"}", -589620603366471059LL},
    {"{ \"values\":\"string\", \"type\":\"map\"}", "{\"type\":\"map\",\"values\":\"string\"}",
     -8732877298790414990LL},
    {"  {\"name\":\"PigValue\",\"type\":\"record\",\n"
     "   \"fields\":[{\"name\":\"value\", \"type\":[\"null\", \"int\", \"long\", \"PigValue\"]}]}",
     "{\"name\":\"PigValue\",\"type\":\"record\",\"fields\":[{\"name\":\"value\",\"type\":["
     "\"null\","
     "\"int\",\"long\",\"PigValue\"]}]}",
     -1759257747318642341LL},
};

static void test_crc64_empty(void **state)
{
    /* The specification's fingerprint of the empty string is its EMPTY constant. */
    assert_true(ph_avro_crc64("", 0) == 0xc15d213aa4d7a795ULL);
}

static void test_vectors(void **state)
{
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        char errstr[PH_ERRSTR_SIZE] = "";
        char *pcf = NULL;
        uint64_t fp = 0;
        int rc = ph_schema_fingerprint(vectors[i].input, strlen(vectors[i].input), &fp, &pcf,
                                       errstr, sizeof(errstr));
        if (rc != 0)
            fail_msg("vector %zu: %s", i, errstr);
        assert_string_equal(pcf, vectors[i].canonical);
        if (vectors[i].fp != 0 && fp != (uint64_t)vectors[i].fp)
            fail_msg("vector %zu: fingerprint %lld, expected %lld", i, (long long)fp,
                     (long long)vectors[i].fp);
        /* The fingerprint is that of the canonical form itself. */
        assert_true(fp == ph_avro_crc64(pcf, strlen(pcf)));
        free(pcf);
    }
}

/* Rules the Pharos schemas depend on: inherited namespaces, references by short name, attributes
 * of primitives (logicalType) dropped, quoted sizes. */
static void test_pharos_rules(void **state)
{
    const char *in =
        "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"a.b\",\"doc\":\"x\",\"fields\":["
        "{\"name\":\"t\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
        "{\"name\":\"s\",\"type\":{\"type\":\"record\",\"name\":\"S\",\"fields\":["
        "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"c.E\",\"symbols\":[\"X\"]}}]}},"
        "{\"name\":\"l\",\"type\":{\"type\":\"array\",\"items\":\"S\"},\"default\":[]},"
        "{\"name\":\"m\",\"type\":[\"null\",\"a.b.S\",\"c.E\"]},"
        "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":\"016\"}}]}";
    const char *want =
        "{\"name\":\"a.b.R\",\"type\":\"record\",\"fields\":["
        "{\"name\":\"t\",\"type\":\"long\"},"
        "{\"name\":\"s\",\"type\":{\"name\":\"a.b.S\",\"type\":\"record\",\"fields\":["
        "{\"name\":\"e\",\"type\":{\"name\":\"c.E\",\"type\":\"enum\",\"symbols\":[\"X\"]}}]}},"
        "{\"name\":\"l\",\"type\":{\"type\":\"array\",\"items\":\"a.b.S\"}},"
        "{\"name\":\"m\",\"type\":[\"null\",\"a.b.S\",\"c.E\"]},"
        "{\"name\":\"f\",\"type\":{\"name\":\"a.b.F\",\"type\":\"fixed\",\"size\":16}}]}";
    char errstr[PH_ERRSTR_SIZE] = "";
    char *pcf = NULL;

    if (ph_schema_fingerprint(in, strlen(in), NULL, &pcf, errstr, sizeof(errstr)) != 0)
        fail_msg("%s", errstr);
    assert_string_equal(pcf, want);
    free(pcf);
}

static void test_bad_schemas(void **state)
{
    static const char *const bad[] = {
        "",
        "{",
        "42",
        "{\"type\":\"record\",\"fields\":[]}",
        "{\"type\":\"record\",\"name\":\"R\"}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\"}]}",
        "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[1]}",
        "{\"type\":\"fixed\",\"name\":\"F\"}",
        "{\"type\":\"array\"}",
        "{\"name\":\"x\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char errstr[PH_ERRSTR_SIZE] = "";
        uint64_t fp = 42;
        int rc = ph_schema_fingerprint(bad[i], strlen(bad[i]), &fp, NULL, errstr, sizeof(errstr));
        if (rc != PH_EINVAL)
            fail_msg("schema %zu (%s) accepted", i, bad[i]);
        assert_true(errstr[0] != '\0');
        assert_true(fp == 42); /* outputs untouched on error */
    }
}

/* The codec's fingerprints are those of the embedded text, the embedded forms are canonical as
 * the spec says (no doc, no logicalType, full names everywhere), and all differ. */
static void test_codec_fingerprints(void **state)
{
    ph_codec *codec = tu_codec();
    for (int id = 0; id < PH_SCHEMA_COUNT; id++) {
        size_t len;
        const char *json = ph_schema_json((ph_schema_id)id, &len);
        char *pcf = NULL, errstr[PH_ERRSTR_SIZE];
        uint64_t fp;
        assert_non_null(json);
        assert_int_equal(ph_schema_fingerprint(json, len, &fp, &pcf, errstr, sizeof(errstr)), 0);
        assert_true(fp == ph_codec_fingerprint(codec, (ph_schema_id)id));
        assert_null(strstr(pcf, "\"doc\""));
        assert_null(strstr(pcf, "logicalType"));
        assert_null(strstr(pcf, "default"));
        assert_null(strstr(pcf, " "));
        char prefix[128];
        snprintf(prefix, sizeof(prefix), "{\"name\":\"%s\",\"type\":\"record\",\"fields\":[",
                 ph_schema_name((ph_schema_id)id));
        assert_memory_equal(pcf, prefix, strlen(prefix));
        if (id == PH_SCHEMA_INVALID_RECORD)
            assert_non_null(strstr(pcf, "\"items\":\"dev.pharos.InvalidReason\""));
        if (id == PH_SCHEMA_LLM_LOG)
            assert_non_null(strstr(pcf, "{\"name\":\"dev.pharos.Message\",\"type\":\"record\""));
        for (int other = 0; other < id; other++)
            assert_true(ph_codec_fingerprint(codec, (ph_schema_id)other) != fp);
        free(pcf);
    }
    ph_codec_destroy(codec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc64_empty),        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_pharos_rules),       cmocka_unit_test(test_bad_schemas),
        cmocka_unit_test(test_codec_fingerprints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
