/* cmd_entity.h - what other modules ask of the entity module (cmd_entity.c):
 * the snapshots, for EV.SUB ... FROM SNAPSHOT and the schedules. */
#ifndef TINCAN_CMD_ENTITY_H
#define TINCAN_CMD_ENTITY_H

#include <stddef.h>

struct snap;

/* The snapshot named name, or NULL. Valid until the next snapshot command. */
const struct snap *entity_snapshot_find(const char *name, size_t len);
/* Takes snapshot name of pattern now (replacing one of that name), durably.
 * 0 with *out, or a negative code with why in err. Blocks for the walk and
 * the file write. */
int entity_snapshot_take(const char *name, size_t nlen, const char *pat,
                         size_t plen, int state, const struct snap **out,
                         char *err, size_t errlen);

#endif
