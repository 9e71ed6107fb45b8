/* main.c - the tincan command-line tool: dispatches to its subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        printf("usage: tincan <export|inspect|replay> ...\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "replay"))
        return cli_replay(argc - 1, argv + 1);
    fprintf(stderr, "tincan: unknown command '%s'\n", argv[1]);
    return 2;
}
