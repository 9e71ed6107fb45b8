/* thrift_read.c - the Thrift compact protocol decoder (see thrift_read.h). */
#include "thrift_read.h"

#include <stdio.h>

#include "errors.h"

void thrift_read_init(struct thrift_read *r, const void *p, size_t n)
{
    r->p = p;
    r->end = r->p + n;
    r->depth = 0;
}

static int corrupt(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "thrift: %s", what);
    return ERR_CORRUPT;
}

static size_t left(const struct thrift_read *r)
{
    return (size_t)(r->end - r->p);
}

int thrift_read_varint(struct thrift_read *r, uint64_t *v, char *err,
                       size_t errlen)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return corrupt(err, errlen, "truncated varint");
        uint8_t b = *r->p++;
        if (shift == 63 && (b & 0x7e))
            return corrupt(err, errlen, "varint longer than 64 bits");
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return corrupt(err, errlen, "varint longer than 10 bytes");
}

static int64_t unzigzag(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

int thrift_read_i64(struct thrift_read *r, int64_t *v, char *err, size_t errlen)
{
    uint64_t u;
    int rc = thrift_read_varint(r, &u, err, errlen);
    if (rc == 0)
        *v = unzigzag(u);
    return rc;
}

int thrift_read_i32(struct thrift_read *r, int32_t *v, char *err, size_t errlen)
{
    int64_t x;
    int rc = thrift_read_i64(r, &x, err, errlen);
    if (rc)
        return rc;
    if (x < INT32_MIN || x > INT32_MAX)
        return corrupt(err, errlen, "i32 out of range");
    *v = (int32_t)x;
    return 0;
}

int thrift_read_binary(struct thrift_read *r, const uint8_t **p, size_t *n,
                       char *err, size_t errlen)
{
    uint64_t len;
    int rc = thrift_read_varint(r, &len, err, errlen);
    if (rc)
        return rc;
    if (len > left(r))
        return corrupt(err, errlen, "binary longer than the bytes left");
    *p = r->p;
    *n = (size_t)len;
    r->p += len;
    return 0;
}

int thrift_read_field(struct thrift_read *r, struct thrift_struct *s,
                      int16_t *id, int *type, char *err, size_t errlen)
{
    if (r->p >= r->end)
        return corrupt(err, errlen, "truncated struct (no STOP)");
    uint8_t b = *r->p++;
    int t = b & 0x0f, delta = b >> 4;
    if (t == THRIFT_STOP) {
        if (delta)
            return corrupt(err, errlen, "bad STOP byte");
        return 1;
    }
    if (t > THRIFT_STRUCT)
        return corrupt(err, errlen, "unknown field type");
    if (delta) {
        int nid = s->last_id + delta;
        if (nid > INT16_MAX)
            return corrupt(err, errlen, "field id out of range");
        *id = (int16_t)nid;
    } else {
        int64_t x;
        int rc = thrift_read_i64(r, &x, err, errlen);
        if (rc)
            return rc;
        if (x < INT16_MIN || x > INT16_MAX)
            return corrupt(err, errlen, "field id out of range");
        *id = (int16_t)x;
    }
    s->last_id = *id;
    *type = t;
    return 0;
}

int thrift_read_list(struct thrift_read *r, int *elem_type, size_t *count,
                     char *err, size_t errlen)
{
    if (r->p >= r->end)
        return corrupt(err, errlen, "truncated list header");
    uint8_t b = *r->p++;
    uint64_t n = b >> 4;
    if (n == 15) {
        int rc = thrift_read_varint(r, &n, err, errlen);
        if (rc)
            return rc;
    }
    int t = b & 0x0f;
    if (t == THRIFT_STOP || t > THRIFT_STRUCT)
        return corrupt(err, errlen, "unknown list element type");
    if (n > left(r))
        return corrupt(err, errlen, "list longer than the bytes left");
    *elem_type = t;
    *count = (size_t)n;
    return 0;
}

int thrift_read_long_field(struct thrift_read *r, int type, int64_t *v,
                           char *err, size_t errlen)
{
    if (type == THRIFT_I8) {
        if (r->p >= r->end)
            return corrupt(err, errlen, "truncated i8");
        *v = (int8_t)*r->p++;
        return 0;
    }
    if (type == THRIFT_I16 || type == THRIFT_I32 || type == THRIFT_I64)
        return thrift_read_i64(r, v, err, errlen);
    return corrupt(err, errlen, "integer field of a non-integer type");
}

int thrift_read_int_field(struct thrift_read *r, int type, int32_t *v,
                          char *err, size_t errlen)
{
    if (type == THRIFT_I64)
        return corrupt(err, errlen, "i32 field sent as i64");
    int64_t x;
    int rc = thrift_read_long_field(r, type, &x, err, errlen);
    if (rc)
        return rc;
    if (x < INT32_MIN || x > INT32_MAX)
        return corrupt(err, errlen, "i32 out of range");
    *v = (int32_t)x;
    return 0;
}

int thrift_read_enter(struct thrift_read *r, char *err, size_t errlen)
{
    if (r->depth >= THRIFT_READ_MAX_DEPTH)
        return corrupt(err, errlen, "nested too deeply");
    r->depth++;
    return 0;
}

void thrift_read_leave(struct thrift_read *r)
{
    if (r->depth > 0)
        r->depth--;
}

static int skip_bytes(struct thrift_read *r, size_t n, char *err, size_t errlen)
{
    if (n > left(r))
        return corrupt(err, errlen, "truncated value");
    r->p += n;
    return 0;
}

int thrift_read_skip(struct thrift_read *r, int type, char *err, size_t errlen)
{
    uint64_t u;
    int rc = 0;
    switch (type) {
    case THRIFT_TRUE:
    case THRIFT_FALSE:
        /* A bool field carries its value in the header; a list element is one
         * byte. Callers skipping a field pass the field's type, so only list
         * elements come here with a byte to skip: see skip_container(). */
        return 0;
    case THRIFT_I8:
        return skip_bytes(r, 1, err, errlen);
    case THRIFT_I16:
    case THRIFT_I32:
    case THRIFT_I64:
        return thrift_read_varint(r, &u, err, errlen);
    case THRIFT_DOUBLE:
        return skip_bytes(r, 8, err, errlen);
    case THRIFT_BINARY: {
        const uint8_t *p;
        size_t n;
        return thrift_read_binary(r, &p, &n, err, errlen);
    }
    case THRIFT_LIST:
    case THRIFT_SET: {
        int et;
        size_t n;
        if ((rc = thrift_read_list(r, &et, &n, err, errlen)) != 0)
            return rc;
        if ((rc = thrift_read_enter(r, err, errlen)) != 0)
            return rc;
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (et == THRIFT_TRUE || et == THRIFT_FALSE)
                rc = skip_bytes(r, 1, err, errlen);
            else
                rc = thrift_read_skip(r, et, err, errlen);
        }
        thrift_read_leave(r);
        return rc;
    }
    case THRIFT_MAP: {
        if ((rc = thrift_read_varint(r, &u, err, errlen)) != 0)
            return rc;
        if (u == 0)
            return 0;
        if (u > left(r) / 2)
            return corrupt(err, errlen, "map longer than the bytes left");
        if (r->p >= r->end)
            return corrupt(err, errlen, "truncated map header");
        uint8_t kv = *r->p++;
        int kt = kv >> 4, vt = kv & 0x0f;
        if (kt == THRIFT_STOP || kt > THRIFT_STRUCT || vt == THRIFT_STOP ||
            vt > THRIFT_STRUCT)
            return corrupt(err, errlen, "unknown map key/value type");
        if ((rc = thrift_read_enter(r, err, errlen)) != 0)
            return rc;
        for (uint64_t i = 0; i < u && rc == 0; i++) {
            for (int k = 0; k < 2 && rc == 0; k++) {
                int t = k ? vt : kt;
                if (t == THRIFT_TRUE || t == THRIFT_FALSE)
                    rc = skip_bytes(r, 1, err, errlen);
                else
                    rc = thrift_read_skip(r, t, err, errlen);
            }
        }
        thrift_read_leave(r);
        return rc;
    }
    case THRIFT_STRUCT: {
        struct thrift_struct s = {0};
        int16_t id;
        int ft;
        if ((rc = thrift_read_enter(r, err, errlen)) != 0)
            return rc;
        while ((rc = thrift_read_field(r, &s, &id, &ft, err, errlen)) == 0)
            if ((rc = thrift_read_skip(r, ft, err, errlen)) != 0)
                break;
        thrift_read_leave(r);
        return rc == 1 ? 0 : rc;
    }
    default:
        return corrupt(err, errlen, "unknown type");
    }
}
