/* cmd_archive.h - what the archive module (cmd_archive.c: --archive-to, the
 * continuous archiver, ARCHIVE.*) offers other modules: its target settings.
 * Not the archiver itself (it runs on its own) and not the file format
 * (archive.h). */
#ifndef TINCAN_CMD_ARCHIVE_H
#define TINCAN_CMD_ARCHIVE_H

#include "archive.h"

/* Fills out with the --archive-* settings (url, endpoint, region, keys; the
 * strings stay owned by the config; staging, cancel and staging_name are
 * left NULL for the caller). 1 when --archive-to is set, 0 when the archive
 * is off (out zeroed). */
int archive_config_target(struct archive_target_config *out);

#endif
