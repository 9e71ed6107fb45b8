#include "cmd_journal.h"

#include "command.h"
#include "errors.h"
#include "log.h"
#include "metrics.h"
#include "net.h"

#include <stdio.h>
#include <string.h>

void cmd_journal_append(struct cmd_journal *m, uint8_t type, const void *p,
                        size_t n)
{
    char err[256];
    if (journal_append(m->j, type, p, n, err, sizeof(err)) < 0) {
        m->hook_err = journal_error(m->j) ? journal_error(m->j) : ERR_IO;
        log_ratelimited(LOG_ERROR, "%s journal: %s", m->what, err);
    }
}

void cmd_journal_hold(struct cmd_journal *m, struct client *c)
{
    uint64_t seq = journal_commit(m->j, 0);
    if (seq)
        client_hold(c, journal_source(m->j), seq);
}

void cmd_journal_reply_error(struct cmd_journal *m, struct client *c)
{
    int code = journal_error(m->j) ? journal_error(m->j) : ERR_IO;
    char msg[128];
    snprintf(msg, sizeof(msg),
             "%s journal is read-only after an i/o error; restart the server",
             m->what);
    reply_error_code(c, code == ERR_IO ? ERR_READONLY : code, msg);
}

int cmd_journal_writable(struct cmd_journal *m, struct client *c)
{
    if (!journal_error(m->j))
        return 0;
    cmd_journal_reply_error(m, c);
    return -1;
}

int cmd_journal_check(struct cmd_journal *m, struct client *c)
{
    if (!m->hook_err)
        return 0;
    m->hook_err = 0;
    cmd_journal_reply_error(m, c);
    return -1;
}

int cmd_journal_emit(void *ctx, uint8_t type, const uint8_t *p, size_t n)
{
    return journal_ckpt_add(ctx, type, p, n);
}

int cmd_journal_checkpoint(struct cmd_journal *m, char *err, size_t errlen)
{
    int rc = journal_checkpoint(m->j, m->walk, NULL, err, errlen);
    if (rc == 0)
        m->checkpoints++;
    return rc;
}

void cmd_journal_maybe_checkpoint(struct cmd_journal *m)
{
    if (!journal_should_checkpoint(m->j))
        return;
    char err[256];
    if (cmd_journal_checkpoint(m, err, sizeof(err)) < 0)
        log_error("%s journal: checkpoint failed: %s", m->what, err);
}

void cmd_journal_metrics(struct metrics *m, const struct cmd_journal *jm)
{
    if (!jm->j)
        return;
    struct metrics_label l = {"journal", jm->what, strlen(jm->what)};
    metrics_sample(metrics_family(m, "tincan_journal_log_bytes", METRICS_GAUGE,
                                  "Bytes of the journal's log since its last "
                                  "checkpoint."),
                   &l, 1, (double)journal_log_bytes(jm->j));
    metrics_sample(metrics_family(m, "tincan_journal_checkpoint_bytes",
                                  METRICS_GAUGE, "Bytes of the last checkpoint."),
                   &l, 1, (double)journal_ckpt_bytes(jm->j));
    metrics_sample(metrics_family(m, "tincan_journal_checkpoints_total",
                                  METRICS_COUNTER,
                                  "Checkpoints written since start."),
                   &l, 1, (double)jm->checkpoints);
    metrics_sample(metrics_family(m, "tincan_journal_failed", METRICS_GAUGE,
                                  "1 after an I/O error turned the journal "
                                  "read-only (until restart)."),
                   &l, 1, journal_error(jm->j) != 0);
}
