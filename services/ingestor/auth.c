#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ph_error.h"

typedef struct entry {
    char *app;
    char *token;
} entry;

struct ph_auth {
    entry *e;
    size_t n;
};

void ph_auth_destroy(ph_auth *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++) {
        free(a->e[i].app);
        free(a->e[i].token);
    }
    free(a->e);
    free(a);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int add(ph_auth *a, char *pair, const char *where, char *errstr, size_t errstr_size)
{
    pair = trim(pair);
    if (!*pair || *pair == '#')
        return PH_OK;
    char *colon = strchr(pair, ':');
    if (!colon || colon == pair || !colon[1])
        return ph_err(errstr, errstr_size, PH_EINVAL, "%s: expected app:token, got '%.40s'", where,
                      pair);
    *colon = '\0';
    entry *e = realloc(a->e, (a->n + 1) * sizeof(*e));
    if (!e)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    a->e = e;
    e[a->n].app = strdup(trim(pair));
    e[a->n].token = strdup(trim(colon + 1));
    if (!e[a->n].app || !e[a->n].token) {
        free(e[a->n].app);
        free(e[a->n].token);
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    }
    a->n++;
    return PH_OK;
}

int ph_auth_new(ph_auth **out, const char *tokens, const char *file, char *errstr,
                size_t errstr_size)
{
    int rc = PH_OK;
    char *copy = NULL;
    FILE *f = NULL;
    ph_auth *a = calloc(1, sizeof(*a));
    if (!a)
        return ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
    if (tokens && *tokens) {
        if (!(copy = strdup(tokens))) {
            rc = ph_err(errstr, errstr_size, PH_ENOMEM, "out of memory");
            goto out;
        }
        char *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            if ((rc = add(a, tok, "auth_tokens", errstr, errstr_size)))
                goto out;
    }
    if (file && *file) {
        char line[1024];
        if (!(f = fopen(file, "r"))) {
            rc = ph_err(errstr, errstr_size, PH_EIO, "auth_tokens_file %s: %s", file,
                        strerror(errno));
            goto out;
        }
        while (fgets(line, sizeof(line), f))
            if ((rc = add(a, line, file, errstr, errstr_size)))
                goto out;
    }
out:
    free(copy);
    if (f)
        fclose(f);
    if (rc || a->n == 0) {
        ph_auth_destroy(a);
        a = NULL;
    }
    if (!rc)
        *out = a;
    return rc;
}

/* Compares in time independent of where the strings differ, so response timing does not leak
 * how much of a guessed token was right. */
static bool token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < lb; i++)
        diff |= (unsigned char)(a[i < la ? i : 0] ^ b[i]);
    return diff == 0;
}

const char *ph_auth_check(const ph_auth *a, const char *authorization)
{
    if (!a || !authorization)
        return NULL;
    while (isspace((unsigned char)*authorization))
        authorization++;
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return NULL;
    const char *token = authorization + 7;
    while (*token == ' ')
        token++;
    const char *app = NULL;
    for (size_t i = 0; i < a->n; i++)
        if (token_equal(token, a->e[i].token) && !app)
            app = a->e[i].app;
    return app;
}
