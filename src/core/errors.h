/* errors.h - the one table of error codes.
 *
 * Functions return int: 0 on success or a negative ERR_* code. Each code maps to
 * the upper-case RESP error prefix a client sees and a default text. Detail goes
 * into a caller-owned message buffer, not into this table. */
#ifndef TINCAN_ERRORS_H
#define TINCAN_ERRORS_H

/*        name           value  RESP prefix  default text */
#define ERRORS_TABLE(X)                                                        \
    X(ERR_INVAL,          -1,  "ERR",       "invalid argument")                \
    X(ERR_IO,             -2,  "IOERR",     "i/o error")                       \
    X(ERR_NOSPACE,        -3,  "NOSPACE",   "no space left on device")         \
    X(ERR_READONLY,       -4,  "IOERR",     "store is read-only")              \
    X(ERR_CORRUPT,        -5,  "ERR",       "corrupt data")                    \
    X(ERR_NOTFOUND,       -6,  "ERR",       "not found")                       \
    X(ERR_EXISTS,         -7,  "ERR",       "already exists")                  \
    X(ERR_LIMIT,          -8,  "ERR",       "limit exceeded")                  \
    X(ERR_NOSUB,          -9,  "NOSUB",     "no such subscription")            \
    X(ERR_NOJOB,          -10, "NOJOB",     "no such job")                     \
    X(ERR_LOCKLOST,       -11, "LOCKLOST",  "lock lost")                       \
    X(ERR_BUSY,           -12, "BUSY",      "resource busy")                   \
    X(ERR_PROTO,          -13, "ERR",       "Protocol error")                  \
    X(ERR_NOTYPE,         -14, "NOTYPE",    "event type is not registered")    \
    X(ERR_INVALID,        -15, "INVALID",   "payload does not match its schema") \
    X(ERR_NOPERM,         -16, "NOPERM",    "not allowed to publish this type") \
    X(ERR_CONFLICT,       -17, "CONFLICT",  "the key is not at the expected version")

enum error_code {
#define ERRORS_ENUM(name, value, prefix, text) name = value,
    ERRORS_TABLE(ERRORS_ENUM)
#undef ERRORS_ENUM
};

/* The RESP prefix ("ERR", "IOERR", ...) of code; "ERR" for unknown codes. */
const char *error_prefix(int code);
/* The default text of code; static storage. */
const char *error_text(int code);

#endif
