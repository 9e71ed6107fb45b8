/* webassets.h - the web console's files (web/), compiled into the server.
 *
 * The Makefile runs tools/webembed over the web/ files into
 * $(BUILD)/gen/webassets.c, which defines the two symbols below. Read-only
 * data; console.c serves it. It is not a file system: no directories, no file
 * changes after the build. */
#ifndef TINCAN_WEBASSETS_H
#define TINCAN_WEBASSETS_H

#include <stddef.h>

struct web_asset {
    const char *name;          /* base name under web/: "console.html" */
    const unsigned char *data; /* the file's bytes, then a NUL */
    size_t len;                /* bytes, the NUL not counted */
};

extern const struct web_asset web_assets[];
extern const size_t web_nassets;

#endif
