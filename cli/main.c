/* main.c - the tincan command-line tool: dispatches to its subcommands
 * (cli.h). Nothing else lives here. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: tincan <command> [options]   (tincan <command> --help for each)\n"
    "  export    a data directory's events as Parquet files, to a directory or "
    "S3\n"
    "  inspect   segments, indexes, counts per type, time span; verifies "
    "checksums\n"
    "  replay    replays the positions in a CSV or Parquet file into a "
    "subscription\n"
    "  tail      follows the events of topic patterns live (a running server)\n"
    "  pub       publishes an event, or one per line of the standard input\n"
    "  top       a refreshing view of rates, lag, queues, locks and rings\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "export"))
        return cli_export(argc - 1, argv + 1);
    if (!strcmp(argv[1], "inspect"))
        return cli_inspect(argc - 1, argv + 1);
    if (!strcmp(argv[1], "replay"))
        return cli_replay(argc - 1, argv + 1);
    if (!strcmp(argv[1], "tail"))
        return cli_tail(argc - 1, argv + 1);
    if (!strcmp(argv[1], "pub"))
        return cli_pub(argc - 1, argv + 1);
    if (!strcmp(argv[1], "top"))
        return cli_top(argc - 1, argv + 1);
    fprintf(stderr, "tincan: unknown command '%s'\n%s", argv[1], usage);
    return 2;
}
