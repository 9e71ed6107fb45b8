/* config.h - the one config table.
 *
 * Every setting is a row (struct config_spec); the same rows drive the config
 * file (`name value` lines, # comments), `--name value` flags, CONFIG GET/SET and
 * `--help`. The core rows live in config.c; each module adds its own rows
 * through its struct module (module.h). Values are written straight into the
 * variable a row points at, after validation, so readers just read it.
 *
 * This module does not know what any setting means. */
#ifndef TINCAN_CONFIG_H
#define TINCAN_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum config_type {
    CONFIG_BOOL,   /* int *: yes/no */
    CONFIG_INT,    /* int64_t *: plain integer in [min, max] */
    CONFIG_BYTES,  /* int64_t *: bytes, accepts k/kb/m/mb/g/gb suffixes */
    CONFIG_STRING, /* char **: heap string owned by config ("" allowed) */
    CONFIG_ENUM,   /* int *: index into enum_names */
};

enum config_flag {
    CONFIG_MUTABLE = 1u << 0, /* CONFIG SET allowed */
    CONFIG_SECRET = 1u << 1,  /* not shown by --help defaults */
    CONFIG_APPEND = 1u << 2,  /* STRING: a repeated flag or file line appends
                                 its value after a newline instead of replacing */
};

struct config_spec {
    const char *name;       /* lower-case-with-dashes, e.g. "max-payload" */
    enum config_type type;
    void *ptr;              /* where the value lives, see enum config_type */
    const char *def;        /* default, in the same text form as the file */
    int64_t min, max;       /* bounds for INT and BYTES */
    const char *const *enum_names; /* NULL-terminated, for ENUM */
    unsigned flags;         /* CONFIG_* */
    int nargs;              /* words the flag takes; 0 means 1 (STRING joins with ' ') */
    /* Called after a runtime CONFIG SET stored the new value; returns 0 or -1
     * with err filled (the old value is then restored). May be NULL. */
    int (*apply)(char *err, size_t errlen);
    const char *help;
};

/* Adds rows (the table must outlive the program). Call before config_load. */
void config_register(const struct config_spec *rows, size_t n);
/* Sets every registered row to its default. */
void config_defaults(void);
/* Parses argv: [config-file] [--name value ...], --help, --version. Returns 0,
 * 1 if the program should exit 0 (help printed), -1 with err filled. */
int config_load(int argc, char **argv, char *err, size_t errlen);
/* Sets one value from text; returns 0 or -1 with err ("ERR ..." free text). */
int config_set(const char *name, const char *value, int runtime, char *err,
               size_t errlen);
/* Parses "512mb", "1k", "100" (k/kb/m/mb/g/gb, any case) into bytes, as
 * CONFIG_BYTES rows do: 0 with *out, or -1. */
int config_parse_bytes(const char *s, int64_t *out);
/* Writes the current value of row r as text into buf. */
void config_format(const struct config_spec *r, char *buf, size_t len);
/* Calls fn for every row whose name matches the glob pattern. */
void config_foreach(const char *pattern,
                    void (*fn)(const struct config_spec *, void *), void *ctx);
const struct config_spec *config_find(const char *name);
void config_print_help(void);
/* Redis-style glob match (*, ?, [...], \x); nocase ignores ASCII case. */
int config_glob_match(const char *pat, size_t plen, const char *s, size_t slen,
                      int nocase);

/* ---- core settings (defined in config.c) ---- */
extern char *config_bind;           /* listen address */
extern int64_t config_port;         /* TCP port; 0 = ephemeral */
extern char *config_unixsocket;     /* path or "" */
extern char *config_dir;            /* data directory */
extern char *config_requirepass;    /* "" = no AUTH needed */
extern int64_t config_maxclients;
extern int64_t config_max_bulk_len;       /* bytes of one bulk string */
extern int64_t config_max_multibulk_len;  /* elements of one command */
extern int64_t config_client_query_buffer_limit;  /* bytes */
extern int64_t config_client_output_buffer_limit; /* bytes */
extern int config_enable_debug_command;
extern char *config_logfile;
extern int config_loglevel;         /* enum log_level */
/* When every durable writer (event store, journals) fdatasyncs; one setting
 * for all, like Redis's appendfsync. See docs/durability.md. */
enum config_fsync {
    CONFIG_FSYNC_ALWAYS = 0,   /* a write's reply waits for its fdatasync */
    CONFIG_FSYNC_EVERYSEC = 1, /* one fdatasync a second; replies not held */
    CONFIG_FSYNC_NO = 2,       /* the kernel decides */
};
extern int config_fsync;            /* enum config_fsync */

#endif
