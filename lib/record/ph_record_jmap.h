/* Internals of the JSON log mapping, shared by ph_record_json.c (parsing, top-level fields)
 * and ph_record_jcontent.c (messages, output, context). */
#ifndef PH_RECORD_JMAP_H
#define PH_RECORD_JMAP_H

#include "ph_record_int.h"

/* Known top-level fields and their spellings, most preferred first. */
enum {
    S_RECORD_ID,
    S_TRACE_ID,
    S_SPAN_ID,
    S_PARENT_SPAN_ID,
    S_SESSION_ID,
    S_TURN,
    S_USER_ID,
    S_APP,
    S_ENVIRONMENT,
    S_ROUTE,
    S_MODEL,
    S_PROVIDER,
    S_START_TIME,
    S_END_TIME,
    S_LATENCY,
    S_STATUS,
    S_ERROR,
    S_MESSAGES,
    S_OUTPUT,
    S_FINISH_REASON,
    S_CONTEXT,
    S_USAGE,
    S_INPUT_TOKENS,
    S_OUTPUT_TOKENS,
    S_COST,
    S_METADATA,
    S_TAGS,
    S_COUNT
};

#define MAX_ALIASES 4

/* Spellings of each field, most preferred first (ph_record_json.c), with their lengths: every
 * top-level key of every record is looked up here. */
typedef struct ph_jalias {
    const char *name;
    size_t len;
} ph_jalias;

extern const ph_jalias ph_jmap_aliases[S_COUNT][MAX_ALIASES];

/* The state of one mapping. */
typedef struct jmap {
    ph_rctx *c;
    avro_value_t *rec;
    avro_value_t meta; /* the metadata map */
    const ph_jv *slot[S_COUNT][MAX_ALIASES];
    uint64_t known;       /* bit i: top-level member i (of the first 64) is a known field */
    int status;           /* 1 OK, 2 ERROR */
    bool input_ok;        /* a message with non-blank content was kept */
    bool output_set;      /* an output string was stored */
    bool output_blank;    /* ... and it is empty or blank */
    bool input_reported;  /* a fatal problem of the input was already reported */
    bool output_reported; /* a fatal problem of the output was already reported */
} jmap;

/* The preferred spelling present (not null) of a field; every other spelling present with a
 * different value is reported (conflicting_alias). *key gets the spelling used. */
const ph_jv *ph_jmap_pick(jmap *m, int s, const char **key);

/* ph_record_jcontent.c */
void ph_jmap_input(jmap *m);        /* messages | input_messages | input | prompt */
void ph_jmap_output(jmap *m);       /* output | response | completion (after the status) */
void ph_jmap_check_output(jmap *m); /* required output of an OK call */
void ph_jmap_context(jmap *m);

#endif
