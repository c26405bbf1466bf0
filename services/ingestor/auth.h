/* Bearer-token authentication: each token is bound to one app, and the ingestor stamps that app
 * on every record sent with it (a client cannot write into another app's data). */
#ifndef PH_INGEST_AUTH_H
#define PH_INGEST_AUTH_H

#include <stddef.h>

typedef struct ph_auth ph_auth;

/* Builds the token table from "app:token,app2:token2" (may be NULL) and a file of one
 * "app:token" per line ('#' comments; may be NULL). *out is NULL when neither names a token:
 * authentication is then off. Returns 0 or PH_EINVAL/PH_EIO with errstr. */
int ph_auth_new(ph_auth **out, const char *tokens, const char *file, char *errstr,
                size_t errstr_size);
void ph_auth_destroy(ph_auth *a);

/* Checks an Authorization header value ("Bearer <token>"). Returns the app (borrowed from a) or
 * NULL when the header is missing or the token unknown. */
const char *ph_auth_check(const ph_auth *a, const char *authorization);

#endif
