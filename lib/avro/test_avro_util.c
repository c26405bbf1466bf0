#include "test_avro_util.h"

#include "ph_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

ph_codec *tu_codec(void)
{
    char errstr[PH_ERRSTR_SIZE] = "";
    ph_codec *codec = NULL;
    int rc = ph_codec_new(&codec, errstr, sizeof(errstr));
    if (rc != 0)
        fail_msg("ph_codec_new: %s", errstr);
    return codec;
}

static void fill(avro_value_t *v, unsigned *seed, int depth)
{
    unsigned s = (*seed)++;
    avro_schema_t schema = avro_value_get_schema(v);
    while (is_avro_link(schema))
        schema = avro_schema_link_target(schema);

    switch (avro_value_get_type(v)) {
    case AVRO_NULL:
        assert_int_equal(avro_value_set_null(v), 0);
        break;
    case AVRO_BOOLEAN:
        assert_int_equal(avro_value_set_boolean(v, (int)(s & 1)), 0);
        break;
    case AVRO_INT32:
        assert_int_equal(avro_value_set_int(v, (int32_t)(s * 7) - 100), 0);
        break;
    case AVRO_INT64:
        assert_int_equal(avro_value_set_long(v, 1700000000000LL + s), 0);
        break;
    case AVRO_FLOAT:
        assert_int_equal(avro_value_set_float(v, 1.5f * (float)s), 0);
        break;
    case AVRO_DOUBLE:
        assert_int_equal(avro_value_set_double(v, 0.25 * s - 3), 0);
        break;
    case AVRO_STRING: {
        char buf[64];
        snprintf(buf, sizeof(buf), "s%u-\xc3\xa9t\xc3\xa9 \xe2\x9c\x93", s);
        assert_int_equal(avro_value_set_string(v, buf), 0);
        break;
    }
    case AVRO_BYTES: {
        unsigned char b[4] = {0x00, 0xff, (unsigned char)s, 0x7f};
        assert_int_equal(avro_value_set_bytes(v, b, sizeof(b)), 0);
        break;
    }
    case AVRO_FIXED: {
        size_t n = (size_t)avro_schema_fixed_size(schema);
        unsigned char *b = calloc(1, n + 1);
        memset(b, (int)s, n);
        assert_int_equal(avro_value_set_fixed(v, b, n), 0);
        free(b);
        break;
    }
    case AVRO_ENUM:
        assert_int_equal(avro_value_set_enum(v, avro_schema_enum_number_of_symbols(schema) - 1), 0);
        break;
    case AVRO_UNION: {
        avro_value_t branch;
        int last = (int)avro_schema_union_size(schema) - 1;
        assert_int_equal(avro_value_set_branch(v, depth > 6 ? 0 : last, &branch), 0);
        fill(&branch, seed, depth + 1);
        break;
    }
    case AVRO_RECORD: {
        size_t n = 0;
        avro_value_get_size(v, &n);
        for (size_t i = 0; i < n; i++) {
            avro_value_t field;
            assert_int_equal(avro_value_get_by_index(v, i, &field, NULL), 0);
            fill(&field, seed, depth + 1);
        }
        break;
    }
    case AVRO_ARRAY:
        for (int i = 0; i < (depth > 6 ? 0 : 2); i++) {
            avro_value_t item;
            assert_int_equal(avro_value_append(v, &item, NULL), 0);
            fill(&item, seed, depth + 1);
        }
        break;
    case AVRO_MAP:
        for (int i = 0; i < (depth > 6 ? 0 : 2); i++) {
            avro_value_t item;
            char key[32];
            snprintf(key, sizeof(key), "k%u.%d", s, i);
            assert_int_equal(avro_value_add(v, key, &item, NULL, NULL), 0);
            fill(&item, seed, depth + 1);
        }
        break;
    default:
        fail_msg("unexpected type %d", (int)avro_value_get_type(v));
    }
}

void tu_fill(avro_value_t *value, unsigned seed)
{
    fill(value, &seed, 0);
}

void tu_fill_llm_log(avro_value_t *v, unsigned seed)
{
    avro_value_t m, c, q;
    char id[33];

    snprintf(id, sizeof(id), "%032x", seed);
    assert_int_equal(ph_avro_set_string(v, "record_id", id), 0);
    assert_int_equal(ph_avro_set_string(v, "trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"), 0);
    assert_int_equal(ph_avro_set_string(v, "span_id", "00f067aa0ba902b7"), 0);
    assert_int_equal(ph_avro_set_string(v, "parent_span_id", "a3ce929d0e0e4736"), 0);
    assert_int_equal(ph_avro_set_string(v, "session_id", "sess-2024-05-13-000042"), 0);
    assert_int_equal(ph_avro_set_long(v, "turn", 3), 0);
    assert_int_equal(ph_avro_set_string(v, "user_id", "u-8f14e45fceea167a"), 0);
    assert_int_equal(ph_avro_set_string(v, "app", "support-bot"), 0);
    assert_int_equal(ph_avro_set_string(v, "environment", "production"), 0);
    avro_value_t tmp; /* older LlmLog versions in the evolution tests have no route */
    if (avro_value_get_by_name(v, "route", &tmp, NULL) == 0)
        assert_int_equal(ph_avro_set_string(v, "route", "answer_question"), 0);
    assert_int_equal(ph_avro_set_string(v, "model", "gpt-4o-2024-05-13"), 0);
    assert_int_equal(ph_avro_set_string(v, "provider", "openai"), 0);
    assert_int_equal(ph_avro_set_long(v, "start_time", 1715600000000LL + seed), 0);
    assert_int_equal(ph_avro_set_long(v, "end_time", 1715600001234LL + seed), 0);
    assert_int_equal(ph_avro_set_double(v, "latency_ms", 1234.5), 0);
    assert_int_equal(ph_avro_set_enum(v, "status", "OK"), 0);
    assert_int_equal(ph_avro_set_null(v, "error"), 0);

    assert_int_equal(ph_avro_append(v, "input_messages", &m), 0);
    assert_int_equal(ph_avro_set_string(&m, "role", "system"), 0);
    assert_int_equal(
        ph_avro_set_string(&m, "content",
                           "You are a helpful support assistant for ACME routers. Answer "
                           "briefly, cite the knowledge base when you use it, and never reveal "
                           "internal ticket numbers or customer data."),
        0);
    assert_int_equal(ph_avro_set_null(&m, "name"), 0);
    assert_int_equal(ph_avro_append(v, "input_messages", &m), 0);
    assert_int_equal(ph_avro_set_string(&m, "role", "user"), 0);
    assert_int_equal(
        ph_avro_set_string(&m, "content",
                           "My router keeps dropping the 5 GHz network every evening around "
                           "8pm, the 2.4 GHz one stays up. I already rebooted it twice and "
                           "updated the firmware last week. What else can I try?"),
        0);
    assert_int_equal(ph_avro_set_string(&m, "name", "customer"), 0);

    assert_int_equal(
        ph_avro_set_string(v, "output",
                           "Evening drops on 5 GHz only usually come from DFS channel changes "
                           "when radar or a busy neighbour is detected. Try fixing the 5 GHz "
                           "channel to 36, 40, 44 or 48 (non-DFS) in Settings > Wireless > "
                           "Advanced, and set the channel width to 80 MHz. If it still drops, "
                           "send us the system log from Settings > Diagnostics right after it "
                           "happens."),
        0);
    assert_int_equal(ph_avro_set_string(v, "finish_reason", "stop"), 0);

    assert_int_equal(ph_avro_append(v, "context", &c), 0);
    assert_int_equal(ph_avro_set_string(&c, "id", "kb-1042#3"), 0);
    assert_int_equal(
        ph_avro_set_string(&c, "content",
                           "Dynamic Frequency Selection (DFS) channels 52-144 must be vacated "
                           "when radar is detected; the router then moves to another channel, "
                           "which disconnects clients for up to a minute."),
        0);
    assert_int_equal(ph_avro_set_double(&c, "score", 0.83), 0);
    assert_int_equal(ph_avro_set_string(&c, "source", "kb://routers/wifi/dfs"), 0);

    assert_int_equal(ph_avro_set_long(v, "input_tokens", 312), 0);
    assert_int_equal(ph_avro_set_long(v, "output_tokens", 96), 0);
    assert_int_equal(ph_avro_set_double(v, "cost_usd", 0.002465), 0);
    assert_int_equal(ph_avro_map_put_string(v, "metadata", "region", "eu-west-1"), 0);
    assert_int_equal(ph_avro_map_put_string(v, "metadata", "client", "web-2.14.1"), 0);
    assert_int_equal(ph_avro_map_put_string(v, "metadata", "source", "helpdesk"), 0);
    assert_int_equal(ph_avro_append_string(v, "tags", "wifi"), 0);
    assert_int_equal(ph_avro_append_string(v, "tags", "tier-2"), 0);
    assert_int_equal(ph_avro_set_long(v, "ingest_time", 1715600001300LL + seed), 0);
    assert_int_equal(ph_avro_set_string(v, "ingest_source", "http"), 0);
    assert_int_equal(ph_avro_append(v, "quality_warnings", &q), 0);
    assert_int_equal(ph_avro_set_string(&q, "code", "bad_timestamp"), 0);
    assert_int_equal(ph_avro_set_string(&q, "field", "end_time"), 0);
    assert_int_equal(ph_avro_set_string(&q, "message", "end_time had no zone; UTC assumed"), 0);
}

json_t *tu_schema_load(ph_schema_id id)
{
    size_t len = 0;
    const char *text = ph_schema_json(id, &len);
    json_error_t jerr;
    assert_non_null(text);
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (!root)
        fail_msg("schema %s: %s", ph_schema_file(id), jerr.text);
    return root;
}

char *tu_schema_dump(const json_t *schema)
{
    char *s = json_dumps(schema, JSON_COMPACT);
    assert_non_null(s);
    return s;
}

json_t *tu_fields(json_t *record)
{
    json_t *f = json_object_get(record, "fields");
    assert_true(json_is_array(f));
    return f;
}

int tu_field_index(json_t *record, const char *name)
{
    json_t *fields = tu_fields(record);
    for (size_t i = 0; i < json_array_size(fields); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(fields, i), "name")), name) ==
            0)
            return (int)i;
    return -1;
}
