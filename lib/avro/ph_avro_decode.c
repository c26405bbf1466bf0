/* Per-thread decoder of single-object encoded messages.
 *
 * A message goes by one of three routes, chosen once per (writer fingerprint, reader) pair and
 * cached in the decoder:
 *   DIRECT    the writer is the reader schema: avro-c reads straight into the output value;
 *   RESOLVED  the schemas differ only by extra writer fields and field order: avro-c's
 *             resolved writer reads writer data straight into the reader value, skipping the
 *             extra fields;
 *   COPY      any other difference (reader fields the writer lacks, promotions, enum or union
 *             changes), which avro-c either cannot resolve or crashes on: read a writer value,
 *             then ph_avro_resolve_copy() into the reader value, filling defaults.
 * Every body is checked by ph_avro_scan() first, so avro-c only ever reads well-formed input. */
#include "ph_avro_internal.h"

#include "ph_error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum route_mode { ROUTE_DIRECT, ROUTE_RESOLVED, ROUTE_COPY };

struct route {
    uint64_t fp;
    ph_schema_id reader;
    enum route_mode mode;
    avro_schema_t wschema;     /* borrowed from the codec's registry */
    avro_value_iface_t *iface; /* RESOLVED: the resolver; COPY: the writer's generic class */
    avro_value_t value;        /* RESOLVED: wraps the output value; COPY: the writer value */
};

struct ph_avro_decoder {
    ph_codec *codec;
    avro_reader_t reader;
    avro_value_t out[PH_SCHEMA_COUNT]; /* created on first use */
    struct route *routes;
    size_t route_count, route_cap, last;
};

int ph_avro_decoder_new(ph_avro_decoder **out, ph_codec *codec, char *errstr, size_t errstr_size)
{
    ph_avro_decoder *dec;

    if (!out || !codec)
        return ph_err(errstr, errstr_size, PH_EINVAL, "no codec");
    if (!(dec = calloc(1, sizeof(*dec))))
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    dec->codec = codec;
    /* The source is set per message; avro-c wants something to start with. */
    if (!(dec->reader = avro_reader_memory("", 0))) {
        free(dec);
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    }
    *out = dec;
    return 0;
}

void ph_avro_decoder_destroy(ph_avro_decoder *dec)
{
    if (!dec)
        return;
    for (size_t i = 0; i < dec->route_count; i++) {
        struct route *r = &dec->routes[i];
        if (r->value.self)
            avro_value_decref(&r->value);
        if (r->iface)
            avro_value_iface_decref(r->iface);
    }
    free(dec->routes);
    for (int id = 0; id < PH_SCHEMA_COUNT; id++)
        if (dec->out[id].self)
            avro_value_decref(&dec->out[id]);
    if (dec->reader)
        avro_reader_free(dec->reader);
    free(dec);
}

bool ph_avro_is_single_object(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    return p && len >= PH_AVRO_HEADER_SIZE && p[0] == 0xC3 && p[1] == 0x01;
}

int ph_avro_peek_fingerprint(const void *buf, size_t len, uint64_t *fp_out)
{
    const unsigned char *p = buf;
    uint64_t fp = 0;

    if (!ph_avro_is_single_object(buf, len))
        return PH_EINVAL;
    for (int i = 7; i >= 0; i--) /* little-endian */
        fp = (fp << 8) | p[2 + i];
    *fp_out = fp;
    return 0;
}

static int output_value(ph_avro_decoder *dec, ph_schema_id id, avro_value_t **v)
{
    if (!dec->out[id].self &&
        avro_generic_value_new(ph_codec_iface(dec->codec, id), &dec->out[id]) != 0)
        return PH_ENOMEM;
    *v = &dec->out[id];
    return 0;
}

static void route_release(struct route *r)
{
    if (r->value.self)
        avro_value_decref(&r->value);
    if (r->iface)
        avro_value_iface_decref(r->iface);
}

static int route_new(ph_avro_decoder *dec, uint64_t fp, ph_schema_id reader, struct route **out,
                     char *errstr, size_t errstr_size)
{
    const struct ph_writer_entry *w = ph_codec_find_writer(dec->codec, fp);
    avro_schema_t rschema = ph_codec_schema(dec->codec, reader);
    struct route r = {.fp = fp, .reader = reader, .mode = ROUTE_DIRECT};
    avro_value_t *outv;
    int rc;

    if (!w)
        return ph_err(errstr, errstr_size, PH_ENOENT,
                      "unknown writer schema fingerprint 0x%016" PRIx64, fp);
    r.wschema = w->schema;
    if ((rc = output_value(dec, reader, &outv)) != 0)
        return ph_err(errstr, errstr_size, rc, "out of memory");

    if (fp != ph_codec_fingerprint(dec->codec, reader)) {
        if (!is_avro_record(w->schema) ||
            strcmp(avro_schema_name(w->schema), avro_schema_name(rschema)) != 0) {
            char full[256];
            ph_avro_fullname(w->schema, full, sizeof(full));
            return ph_err(errstr, errstr_size, PH_EAVRO,
                          "message written as %s (schema 0x%016" PRIx64 "), not a %s",
                          is_avro_record(w->schema) ? full : avro_schema_type_name(w->schema), fp,
                          ph_schema_name(reader));
        }
        if (ph_avro_same_shape(w->schema, rschema)) {
            r.mode = ROUTE_RESOLVED;
            if (!(r.iface = avro_resolved_writer_new(w->schema, rschema)))
                return ph_err(errstr, errstr_size, PH_EAVRO, "avro-c cannot resolve %s: %s",
                              ph_schema_name(reader), avro_strerror());
            if (avro_resolved_writer_new_value(r.iface, &r.value) != 0)
                goto nomem;
            avro_resolved_writer_set_dest(&r.value, outv);
        } else {
            r.mode = ROUTE_COPY;
            if (!(r.iface = avro_generic_class_from_schema(w->schema)) ||
                avro_generic_value_new(r.iface, &r.value) != 0)
                goto nomem;
        }
    }

    if (dec->route_count == dec->route_cap) {
        size_t cap = dec->route_cap ? 2 * dec->route_cap : 4;
        struct route *routes = realloc(dec->routes, cap * sizeof(*routes));
        if (!routes)
            goto nomem;
        dec->routes = routes;
        dec->route_cap = cap;
    }
    dec->routes[dec->route_count] = r;
    *out = &dec->routes[dec->route_count++];
    return 0;
nomem:
    route_release(&r);
    return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
}

static int route_get(ph_avro_decoder *dec, uint64_t fp, ph_schema_id reader, struct route **out,
                     char *errstr, size_t errstr_size)
{
    if (dec->last < dec->route_count && dec->routes[dec->last].fp == fp &&
        dec->routes[dec->last].reader == reader) {
        *out = &dec->routes[dec->last];
        return 0;
    }
    for (size_t i = 0; i < dec->route_count; i++) {
        if (dec->routes[i].fp == fp && dec->routes[i].reader == reader) {
            dec->last = i;
            *out = &dec->routes[i];
            return 0;
        }
    }
    int rc = route_new(dec, fp, reader, out, errstr, errstr_size);
    if (rc == 0)
        dec->last = dec->route_count - 1;
    return rc;
}

int ph_avro_decode(ph_avro_decoder *dec, ph_schema_id reader, const void *buf, size_t len,
                   avro_value_t **value_out, char *errstr, size_t errstr_size)
{
    const char *body = (const char *)buf + PH_AVRO_HEADER_SIZE;
    struct route *r = NULL;
    avro_value_t *outv;
    uint64_t fp;
    char why[PH_ERRSTR_SIZE];
    int rc;

    if (!dec || !value_out || (unsigned)reader >= PH_SCHEMA_COUNT)
        return ph_err(errstr, errstr_size, PH_EINVAL, "bad arguments to ph_avro_decode");
    if (ph_avro_peek_fingerprint(buf, len, &fp) != 0) {
        const unsigned char *p = buf;
        if (p && len >= 2 && p[0] == 0xC3 && p[1] == 0x01)
            return ph_err(errstr, errstr_size, PH_EINVAL,
                          "not single-object encoded: %zu bytes, too short for the header", len);
        return ph_err(errstr, errstr_size, PH_EINVAL,
                      "not single-object encoded (no C3 01 magic, %zu bytes)", len);
    }
    if ((rc = route_get(dec, fp, reader, &r, errstr, errstr_size)) != 0)
        return rc;
    if ((rc = ph_avro_scan(r->wschema, body, len - PH_AVRO_HEADER_SIZE, why, sizeof(why))) != 0)
        return ph_err(errstr, errstr_size, rc, "%s (schema 0x%016" PRIx64 ")", why, fp);

    outv = &dec->out[reader];
    avro_reader_memory_set_source(dec->reader, body, (int64_t)(len - PH_AVRO_HEADER_SIZE));
    avro_value_reset(outv);
    switch (r->mode) {
    case ROUTE_DIRECT:
        rc = avro_value_read(dec->reader, outv);
        break;
    case ROUTE_RESOLVED:
        rc = avro_value_read(dec->reader, &r->value);
        break;
    case ROUTE_COPY:
        avro_value_reset(&r->value);
        if ((rc = avro_value_read(dec->reader, &r->value)) != 0)
            break;
        if ((rc = ph_avro_resolve_copy(&r->value, outv, dec->codec->s[reader].records, why,
                                       sizeof(why))) != 0)
            return ph_err(errstr, errstr_size, rc,
                          "cannot resolve writer schema 0x%016" PRIx64 " to %s: %s", fp,
                          ph_schema_name(reader), why);
        break;
    }
    if (rc != 0)
        return ph_err(errstr, errstr_size, rc == ENOMEM ? PH_ENOMEM : PH_EAVRO,
                      "cannot read body (schema 0x%016" PRIx64 " as %s): %s", fp,
                      ph_schema_name(reader), avro_strerror());
    *value_out = outv;
    return 0;
}
