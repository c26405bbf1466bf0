/* Per-thread encoder: single-object encoding into a reused, growing buffer. */
#include "ph_avro_internal.h"

#include "ph_error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENCODER_INITIAL_SIZE 4096

struct ph_avro_encoder {
    ph_codec *codec;
    avro_writer_t writer;
    char *buf;
    size_t cap;
};

int ph_avro_encoder_new(ph_avro_encoder **out, ph_codec *codec, char *errstr, size_t errstr_size)
{
    ph_avro_encoder *enc;

    if (!out || !codec)
        return ph_err(errstr, errstr_size, PH_EINVAL, "no codec");
    if (!(enc = calloc(1, sizeof(*enc))))
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    enc->codec = codec;
    enc->cap = ENCODER_INITIAL_SIZE;
    if (!(enc->buf = calloc(1, enc->cap)) ||
        !(enc->writer = avro_writer_memory(enc->buf + PH_AVRO_HEADER_SIZE,
                                           (int64_t)(enc->cap - PH_AVRO_HEADER_SIZE)))) {
        ph_avro_encoder_destroy(enc);
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    }
    *out = enc;
    return 0;
}

void ph_avro_encoder_destroy(ph_avro_encoder *enc)
{
    if (!enc)
        return;
    if (enc->writer)
        avro_writer_free(enc->writer);
    free(enc->buf);
    free(enc);
}

static int grow(ph_avro_encoder *enc, size_t need)
{
    size_t cap = enc->cap;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return PH_ENOMEM;
        cap *= 2;
    }
    char *buf = realloc(enc->buf, cap);
    if (!buf)
        return PH_ENOMEM;
    enc->buf = buf;
    enc->cap = cap;
    return 0;
}

/* Rewrites the path from byte `mark` on, e.g. with ".name", "[3]" or "[key]". */
static void path_at(char *path, size_t size, size_t mark, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void path_at(char *path, size_t size, size_t mark, const char *fmt, ...)
{
    va_list ap;
    if (mark >= size)
        return;
    va_start(ap, fmt);
    vsnprintf(path + mark, size - mark, fmt, ap);
    va_end(ap);
}

/* Finds what avro-c refuses to write: a string cleared by avro_value_reset() and not set again
 * (its length is 0, not even the NUL), or a union without a selected branch. */
static const char *find_incomplete(const avro_value_t *v, char *path, size_t size)
{
    size_t mark = strlen(path), n = 0;
    const char *why = NULL;

    switch (avro_value_get_type(v)) {
    case AVRO_STRING: {
        const char *s;
        if (avro_value_get_string(v, &s, &n) == 0 && n == 0)
            return "string not set (after avro_value_reset)";
        return NULL;
    }
    case AVRO_UNION: {
        avro_value_t branch;
        int disc = -1;
        avro_value_get_discriminant(v, &disc);
        if (disc < 0)
            return "union without a selected branch";
        if (avro_value_get_current_branch(v, &branch) == 0)
            return find_incomplete(&branch, path, size);
        return NULL;
    }
    case AVRO_RECORD:
    case AVRO_ARRAY:
    case AVRO_MAP: {
        bool record = avro_value_get_type(v) == AVRO_RECORD;
        avro_value_get_size(v, &n);
        for (size_t i = 0; i < n && !why; i++) {
            avro_value_t child;
            const char *name = NULL;
            if (avro_value_get_by_index(v, i, &child, &name) != 0)
                break;
            if (record)
                path_at(path, size, mark, mark ? ".%s" : "%s", name);
            else if (name)
                path_at(path, size, mark, "[%s]", name);
            else
                path_at(path, size, mark, "[%zu]", i);
            why = find_incomplete(&child, path, size);
        }
        if (!why)
            path[mark] = '\0';
        return why;
    }
    default:
        return NULL;
    }
}

static int encode_failed(ph_schema_id id, const avro_value_t *value, int rc, char *errstr,
                         size_t errstr_size)
{
    char path[256] = "";
    const char *why;

    if (rc == ENOMEM)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory encoding %s",
                      ph_schema_name(id));
    if ((why = find_incomplete(value, path, sizeof(path))) != NULL)
        return ph_err(errstr, errstr_size, PH_EINVAL, "cannot encode %s: field %s: %s",
                      ph_schema_name(id), path[0] ? path : "(top)", why);
    return ph_err(errstr, errstr_size, PH_EAVRO, "cannot encode %s: %s", ph_schema_name(id),
                  avro_strerror());
}

int ph_avro_encode(ph_avro_encoder *enc, ph_schema_id id, const avro_value_t *value,
                   const void **buf, size_t *len, char *errstr, size_t errstr_size)
{
    avro_schema_t schema, vschema;
    uint64_t fp;
    int rc;

    if (!enc || !value || !buf || !len || !(schema = ph_codec_schema(enc->codec, id)))
        return ph_err(errstr, errstr_size, PH_EINVAL, "bad arguments to ph_avro_encode");
    vschema = avro_value_get_schema(value);
    if (vschema != schema && (!vschema || !avro_schema_equal(vschema, schema)))
        return ph_err(errstr, errstr_size, PH_EINVAL, "value is not a %s", ph_schema_name(id));

    fp = ph_codec_fingerprint(enc->codec, id);
    for (;;) {
        avro_writer_memory_set_dest(enc->writer, enc->buf + PH_AVRO_HEADER_SIZE,
                                    (int64_t)(enc->cap - PH_AVRO_HEADER_SIZE));
        rc = avro_value_write(enc->writer, (avro_value_t *)value);
        if (rc != ENOSPC)
            break;
        /* Size the buffer from the value, then retry; doubling covers any misestimate. */
        size_t need = 0;
        if (avro_value_sizeof((avro_value_t *)value, &need) != 0 ||
            need + PH_AVRO_HEADER_SIZE <= enc->cap)
            need = enc->cap * 2;
        else
            need += PH_AVRO_HEADER_SIZE;
        if (grow(enc, need) != 0)
            return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory encoding %s",
                          ph_schema_name(id));
    }
    if (rc != 0)
        return encode_failed(id, value, rc, errstr, errstr_size);

    enc->buf[0] = (char)0xC3;
    enc->buf[1] = 0x01;
    for (int i = 0; i < 8; i++) /* little-endian */
        enc->buf[2 + i] = (char)(fp >> (8 * i));
    *buf = enc->buf;
    *len = PH_AVRO_HEADER_SIZE + (size_t)avro_writer_tell(enc->writer);
    return 0;
}
