#include "errors.h"

struct error_row {
    int code;
    const char *prefix;
    const char *text;
};

static const struct error_row rows[] = {
#define ERRORS_ROW(name, value, prefix, text) {value, prefix, text},
    ERRORS_TABLE(ERRORS_ROW)
#undef ERRORS_ROW
};

static const struct error_row *find(int code)
{
    for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (rows[i].code == code)
            return &rows[i];
    return 0;
}

const char *error_prefix(int code)
{
    const struct error_row *r = find(code);
    return r ? r->prefix : "ERR";
}

const char *error_text(int code)
{
    const struct error_row *r = find(code);
    return r ? r->text : "unknown error";
}
