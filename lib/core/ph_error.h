/* Error codes shared by every Pharos module.
 *
 * Convention: a fallible function returns 0 or a
 * negative PH_E* code, writes its results through out-parameters only on success, and fills a
 * caller-provided errstr buffer (may be NULL) when a human needs the reason. errno is never
 * used to signal errors out of our own APIs. */
#ifndef PH_ERROR_H
#define PH_ERROR_H

#include <stddef.h>

enum {
    PH_OK = 0,
    PH_EINVAL = -1,     /* bad argument or malformed input */
    PH_ENOMEM = -2,     /* allocation failed */
    PH_EIO = -3,        /* I/O or system call failed */
    PH_ENOENT = -4,     /* no such key, file, topic or schema */
    PH_ERANGE = -5,     /* value out of range or too large */
    PH_EKAFKA = -6,     /* librdkafka reported an error */
    PH_EAVRO = -7,      /* avro-c reported an error */
    PH_EQUEUEFULL = -8, /* a bounded queue is full: push back on the caller */
    PH_ETIMEDOUT = -9,  /* a deadline passed */
    PH_EFATAL = -10,    /* unrecoverable: the service must shut down */
    PH_EHTTP = -11,     /* the HTTP layer (nng) reported an error */
    PH_EEXIST = -12,    /* already exists */
    PH_ESTATE = -13,    /* call not valid in the object's current state */
};

/* Size of every errstr buffer passed around; long enough for a librdkafka message and context. */
#define PH_ERRSTR_SIZE 512

/* Returns a static, human-readable name for a PH_E* code. Never NULL. */
const char *ph_strerror(int err);

/* Formats into errstr (if not NULL) and returns err, so callers can write
 *   return ph_err(errstr, errstr_size, PH_EINVAL, "bad %s", key);                           */
int ph_err(char *errstr, size_t errstr_size, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
