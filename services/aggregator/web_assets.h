/* The dashboard's static files, compiled into pharos-aggregator (embed_web.cmake). */
#ifndef PH_WEB_ASSETS_H
#define PH_WEB_ASSETS_H

#include <stddef.h>

typedef struct ph_web_asset {
    const char *path;         /* "/index.html" */
    const char *content_type; /* by extension */
    const unsigned char *data;
    size_t len;
} ph_web_asset;

/* Terminated by an entry whose path is NULL. */
extern const ph_web_asset ph_web_assets[];

#endif
