/* InvalidRecord: a rejected raw message, kept whole with every reason. */
#include "ph_record_int.h"

#include "ph_error.h"
#include "ph_util.h"

#include <string.h>

/* Strings from the outside (topic, record id header) are made valid UTF-8: Avro strings must
 * be, and the dead-letter topic must accept anything. */
static void put_text(ph_rctx *c, avro_value_t *rec, const char *name, bool optional, const char *s)
{
    avro_value_t f;
    ph_buf b = {0};
    ph_av_get(c, rec, name, &f);
    if (!s) {
        if (optional)
            ph_av_null(c, &f);
        else
            ph_av_str(c, &f, "", 0);
        return;
    }
    size_t len = strlen(s);
    if (!ph_utf8_valid(s, len)) {
        if (ph_utf8_repair(&b, s, len)) {
            c->err = PH_ENOMEM;
            ph_buf_free(&b);
            return;
        }
        s = b.p;
        len = b.len;
    }
    if (optional)
        ph_av_opt_str(c, &f, s, len);
    else
        ph_av_str(c, &f, s, len);
    ph_buf_free(&b);
}

int ph_invalid_record_fill(avro_value_t *invalid, const char *topic, int32_t partition,
                           int64_t offset, int64_t kafka_ts_ms, const char *content_type,
                           const void *original, size_t len, size_t max_original_bytes,
                           const char *record_id_or_null, const char *ingest_source,
                           const ph_issues *fatal, const ph_issues *warnings,
                           const char *validator_version)
{
    if (!invalid || !invalid->iface || (!original && len))
        return PH_EINVAL;
    ph_rctx ctx;
    ph_rctx *c = &ctx;
    avro_value_t f;
    memset(c, 0, sizeof(*c));
    if (avro_value_reset(invalid))
        return PH_EAVRO;
    ph_av_null_unions(c, invalid);
    put_text(c, invalid, "record_id", true,
             record_id_or_null && *record_id_or_null ? record_id_or_null : NULL);
    put_text(c, invalid, "source_topic", false, topic ? topic : "");
    ph_av_get(c, invalid, "source_partition", &f);
    if (f.iface && avro_value_set_int(&f, partition))
        c->err = PH_EAVRO;
    ph_av_get(c, invalid, "source_offset", &f);
    ph_av_long(c, &f, offset);
    ph_av_get(c, invalid, "source_timestamp", &f);
    if (kafka_ts_ms >= 0)
        ph_av_opt_long(c, &f, kafka_ts_ms);
    put_text(c, invalid, "content_type", false, content_type ? content_type : "unknown");
    size_t keep = max_original_bytes && len > max_original_bytes ? max_original_bytes : len;
    ph_av_get(c, invalid, "original", &f);
    /* avro-c copies the bytes; a zero-length value still needs a valid pointer. */
    if (f.iface && avro_value_set_bytes(&f, (void *)(keep ? original : ""), keep))
        c->err = PH_EAVRO;
    ph_av_get(c, invalid, "original_truncated", &f);
    if (f.iface && avro_value_set_boolean(&f, keep < len))
        c->err = PH_EAVRO;
    ph_av_get(c, invalid, "original_size", &f);
    ph_av_long(c, &f, (int64_t)len);
    ph_av_get(c, invalid, "reasons", &f);
    ph_av_issue_array(c, &f, fatal, 0);
    ph_av_get(c, invalid, "warnings", &f);
    ph_av_issue_array(c, &f, warnings, 0);
    put_text(c, invalid, "ingest_source", true,
             ingest_source && *ingest_source ? ingest_source : NULL);
    ph_av_get(c, invalid, "validated_time", &f);
    ph_av_long(c, &f, ph_now_ms());
    put_text(c, invalid, "validator_version", false,
             validator_version ? validator_version : "unknown");
    return c->err;
}
