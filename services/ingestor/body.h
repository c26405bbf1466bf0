/* Splitting an ingest request body into records: one JSON object, a JSON array of objects, or
 * NDJSON (one object per line). Pure functions, no I/O: unit-tested in test_body.c. */
#ifndef PH_INGEST_BODY_H
#define PH_INGEST_BODY_H

#include <jansson.h>
#include <stddef.h>

typedef struct ph_body_item {
    json_t *obj;     /* owned by the ph_body */
    const char *raw; /* the record's JSON text: borrowed from the body, or owned (arrays) */
    size_t rawlen;
    int line; /* 1-based line (NDJSON) or item index (array); 1 for a single object */
} ph_body_item;

typedef struct ph_body {
    ph_body_item *items;
    size_t n;
    char **owned; /* texts we had to serialise (array items), freed with the body */
    size_t nowned;
} ph_body;

/* Why a body was refused; `line` (0 when not applicable) names the line or array item. */
typedef struct ph_body_error {
    int status; /* 400 or 413 */
    int line;
    int column;
    char message[256];
} ph_body_error;

/* Parses body. Returns 0 with *out filled, or PH_EINVAL with *err filled (status 400: cannot be
 * parsed, names the first bad line; 413: a record exceeds max_record_bytes). The whole request is
 * refused if any record is bad, so a client can fix and resend it without duplicates. Duplicate
 * keys inside an object are refused (ambiguous input). */
int ph_body_parse(const char *body, size_t len, size_t max_record_bytes, ph_body *out,
                  ph_body_error *err);

/* Frees everything parse allocated. A zeroed body is fine. */
void ph_body_free(ph_body *b);

#endif
