/* cli.h - the subcommands of the tincan command-line tool.
 *
 * Each takes the arguments after its own name (argv[0] is the subcommand) and
 * returns the process exit status: 0 done, 1 failed (the reason on stderr),
 * 2 bad usage. main.c only dispatches. */
#ifndef TINCAN_CLI_H
#define TINCAN_CLI_H

int cli_export(int argc, char **argv);  /* export.c */
int cli_inspect(int argc, char **argv); /* inspect.c */
int cli_replay(int argc, char **argv);  /* replay.c */
int cli_tail(int argc, char **argv);    /* tail.c */
int cli_pub(int argc, char **argv);     /* pub.c */
int cli_top(int argc, char **argv);     /* top.c */

#endif
