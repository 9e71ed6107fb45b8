/* positions.c - loading a positions file (see positions.h). */
#include "positions.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common.h"
#include "errors.h"
#include "parquet_read.h"

#define MAX_VALUES PARQUET_READ_MAX_VALUES
#define MAX_FILE   (UINT64_C(1) << 34) /* bytes of a (decompressed) CSV file */

/* A growable text buffer for one field's unquoted text. */
struct field {
    char *s;         /* NUL-terminated text, len bytes, cap allocated */
    size_t len, cap; /* bytes */
    int quoted;      /* the field was in double quotes */
};

static void field_put(struct field *f, char c)
{
    if (f->len + 1 >= f->cap) {
        f->cap = f->cap ? f->cap * 2 : 64;
        f->s = xrealloc(f->s, f->cap);
    }
    f->s[f->len++] = c;
    f->s[f->len] = '\0';
}

struct csv {
    const char *p, *end; /* the next byte, one past the last */
    size_t line;         /* line of p, 1-based */
};

/* Reads one field at c->p into f (if keep; else skips it). Returns ',' when
 * another field of the record follows, '\n' at the end of the record (or of
 * the input), or -1 for an unterminated quote. */
static int read_field(struct csv *c, struct field *f, int keep)
{
    f->len = 0;
    f->quoted = 0;
    if (keep) { /* an empty field still reads as "" */
        if (!f->s)
            field_put(f, '\0');
        f->len = 0;
        f->s[0] = '\0';
    }
    const char *p = c->p;
    while (p < c->end && (*p == ' ' || *p == '\t'))
        p++;
    if (p < c->end && *p == '"') {
        f->quoted = 1;
        p++;
        for (;;) {
            if (p >= c->end) {
                c->p = p;
                return -1;
            }
            if (*p == '"') {
                if (p + 1 < c->end && p[1] == '"') {
                    if (keep)
                        field_put(f, '"');
                    p += 2;
                    continue;
                }
                p++;
                break;
            }
            if (*p == '\n')
                c->line++;
            if (keep)
                field_put(f, *p);
            p++;
        }
        while (p < c->end && (*p == ' ' || *p == '\t' || *p == '\r'))
            p++;
        /* text after the closing quote up to the delimiter is kept as is
         * (lenient, like most readers); it makes a bad value below */
    }
    while (p < c->end && *p != ',' && *p != '\n') {
        if (keep && !(*p == '\r' && (p + 1 == c->end || p[1] == '\n')))
            field_put(f, *p);
        p++;
    }
    if (p < c->end && *p == ',') {
        c->p = p + 1;
        return ',';
    }
    if (p < c->end) { /* '\n' */
        c->line++;
        p++;
    }
    c->p = p;
    return '\n';
}

/* Trims spaces; parses a positive integer. 0, or -1 (not a number), -2 (0 or
 * negative), -3 (too large), -4 (empty). */
static int parse_position(const char *s, size_t len, uint64_t *v)
{
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len &&
           (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
        len--;
    if (len == 0)
        return -4;
    int neg = 0;
    if (*s == '+' || *s == '-') {
        neg = *s == '-';
        s++, len--;
        if (len == 0)
            return -1;
    }
    uint64_t x = 0;
    int big = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (x > (UINT64_C(1) << 63) / 10)
            big = 1;
        else
            x = x * 10 + (uint64_t)(s[i] - '0');
    }
    if (neg && (x > 0 || big))
        return -2;
    if (big || x > (uint64_t)INT64_MAX)
        return -3;
    if (x == 0)
        return -2;
    *v = x;
    return 0;
}

static int bad_value(char *err, size_t errlen, size_t line, const char *column,
                     const struct field *f, int why)
{
    static const char *const whys[] = {"", "not an integer", "not positive",
                                       "too large", "empty (a null?)"};
    snprintf(err, errlen, "line %zu: %s value '%.40s%s' is %s", line, column,
             f->s ? f->s : "", f->len > 40 ? "..." : "", whys[-why]);
    return ERR_INVAL;
}

int positions_parse_csv(const char *buf, size_t len, const char *column,
                        uint64_t **out, size_t *n, char *err, size_t errlen)
{
    struct csv c = {buf, buf + len, 1};
    struct field f = {0}, skip = {0};
    uint64_t *v = NULL;
    size_t nv = 0, cap = 0, col = 0;
    int decided = 0, rc = 0;
    *out = NULL;
    *n = 0;
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) /* UTF-8 BOM */
        c.p += 3;
    while (c.p < c.end) {
        /* blank lines (nothing but spaces, tabs, \r) are ignored */
        const char *q = c.p;
        while (q < c.end && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        if (q == c.end)
            break;
        if (*q == '\n') {
            c.p = q + 1;
            c.line++;
            continue;
        }
        size_t line = c.line;
        const char *rec = c.p;
        if (!decided) {
            /* The first record: a header, or a lone number. Keep its fields. */
            char *names = NULL;
            size_t names_len = 0, nfields = 0, found = SIZE_MAX,
                   found_ci = SIZE_MAX, ci_count = 0;
            int t;
            uint64_t first;
            int first_rc = -1;
            do {
                t = read_field(&c, &f, 1);
                if (t < 0) {
                    free(names);
                    rc = ERR_INVAL;
                    snprintf(err, errlen, "line %zu: unterminated quote", line);
                    goto cleanup;
                }
                if (nfields == 0)
                    first_rc = parse_position(f.s ? f.s : "", f.len, &first);
                if (f.s && strcmp(f.s, column) == 0 && found == SIZE_MAX)
                    found = nfields;
                if (f.s && strcasecmp(f.s, column) == 0) {
                    if (found_ci == SIZE_MAX)
                        found_ci = nfields;
                    ci_count++;
                }
                size_t add = f.len + 2;
                names = xrealloc(names, names_len + add + 1);
                names_len +=
                    (size_t)snprintf(names + names_len, add + 1, "%s%s",
                                     nfields ? ", " : "", f.s ? f.s : "");
                nfields++;
            } while (t == ',');
            decided = 1;
            if (nfields == 1 && first_rc == 0) {
                col = 0; /* no header: a single column of numbers */
                c.p = rec;
                c.line = line;
                free(names);
                continue;
            }
            if (found == SIZE_MAX && ci_count == 1)
                found = found_ci;
            if (found == SIZE_MAX) {
                if (nfields == 1 && first_rc != -1 && first_rc != -4) {
                    snprintf(err, errlen, "line %zu: %s value '%.40s' is %s",
                             line, column, f.s,
                             first_rc == -2 ? "not positive" : "too large");
                    rc = ERR_INVAL;
                } else {
                    snprintf(err, errlen,
                             "line %zu: no column '%s' in the header (columns: "
                             "%.300s)",
                             line, column, names);
                    rc = ERR_NOTFOUND;
                }
                free(names);
                goto cleanup;
            }
            col = found;
            free(names);
            continue;
        }
        /* A data record: keep field col only. */
        size_t i = 0;
        int t, got = 0;
        uint64_t x = 0;
        int prc = 0;
        do {
            t = read_field(&c, i == col ? &f : &skip, i == col);
            if (t < 0) {
                rc = ERR_INVAL;
                snprintf(err, errlen, "line %zu: unterminated quote", line);
                goto cleanup;
            }
            if (i == col) {
                got = 1;
                prc = parse_position(f.s ? f.s : "", f.len, &x);
            }
            i++;
        } while (t == ',');
        if (!got) {
            snprintf(err, errlen,
                     "line %zu: no %s value (%zu field%s, the column is "
                     "field %zu)",
                     line, column, i, i == 1 ? "" : "s", col + 1);
            rc = ERR_INVAL;
            goto cleanup;
        }
        if (prc) {
            rc = bad_value(err, errlen, line, column, &f, prc);
            goto cleanup;
        }
        if (nv == cap) {
            if (nv >= MAX_VALUES) {
                snprintf(err, errlen, "line %zu: more than %llu positions",
                         line, (unsigned long long)MAX_VALUES);
                rc = ERR_LIMIT;
                goto cleanup;
            }
            cap = cap ? cap * 2 : 1024;
            v = xrealloc(v, cap * sizeof(*v));
        }
        v[nv++] = x;
    }
    *out = v;
    *n = nv;
    v = NULL;
cleanup:
    free(v);
    free(f.s);
    return rc;
}

/* LSD radix sort, 16-bit digits (4 passes at most; a pass whose digit is the
 * same in every key is skipped): linear, where qsort on 10^7 positions takes
 * seconds. */
static void radix_sort(uint64_t *v, size_t n)
{
    uint64_t *tmp = xmalloc(n * sizeof(*tmp));
    size_t *count = xmalloc(65536 * sizeof(*count));
    uint64_t *src = v, *dst = tmp;
    for (int shift = 0; shift < 64; shift += 16) {
        memset(count, 0, 65536 * sizeof(*count));
        for (size_t i = 0; i < n; i++)
            count[(src[i] >> shift) & 0xffff]++;
        if (count[(src[0] >> shift) & 0xffff] == n)
            continue; /* one digit value: the order stays */
        size_t sum = 0;
        for (size_t d = 0; d < 65536; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & 0xffff]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != v)
        memcpy(v, src, n * sizeof(*v));
    free(count);
    free(tmp);
}

void positions_sort_unique(uint64_t *v, size_t *n)
{
    if (*n < 2)
        return;
    int sorted = 1;
    for (size_t i = 1; i < *n && sorted; i++)
        sorted = v[i - 1] <= v[i];
    if (!sorted)
        radix_sort(v, *n);
    size_t o = 1;
    for (size_t i = 1; i < *n; i++)
        if (v[i] != v[o - 1])
            v[o++] = v[i];
    *n = o;
}

/* Reads fd to its end (a file or a pipe) into *buf (NUL-terminated, caller
 * frees), at most MAX_FILE bytes. name is for messages. */
static int read_fd(int fd, const char *name, char **buf, size_t *len, char *err,
                   size_t errlen)
{
    struct stat st;
    size_t cap = 65536, n = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        (uint64_t)st.st_size < MAX_FILE)
        cap = (size_t)st.st_size + 1;
    char *b = xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_FILE) {
                free(b);
                snprintf(err, errlen, "%s: larger than %llu bytes", name,
                         (unsigned long long)MAX_FILE);
                return ERR_LIMIT;
            }
            cap *= 2;
            b = xrealloc(b, cap + 1);
        }
        ssize_t k = read(fd, b + n, cap - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            snprintf(err, errlen, "%s: read: %s", name, strerror(errno));
            free(b);
            return ERR_IO;
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

static int is_gzip(const char *b, size_t n)
{
    return n >= 2 && (unsigned char)b[0] == 0x1f && (unsigned char)b[1] == 0x8b;
}

/* Inflates the gzip data in *buf (members one after the other), replacing
 * it; the new buffer grows with the text really produced, at most MAX_FILE
 * bytes. */
static int gunzip(const char *name, char **buf, size_t *len, char *err,
                  size_t errlen)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 15 + 16) != Z_OK) {
        snprintf(err, errlen, "%s: zlib init failed", name);
        return ERR_IO;
    }
    size_t cap = *len * 4 + 1024, got = 0, in_left = *len;
    char *t = xmalloc(cap + 1);
    const unsigned char *in = (const unsigned char *)*buf;
    int zr;
    for (;;) {
        if (got == cap) {
            if (cap >= MAX_FILE) {
                zr = Z_MEM_ERROR;
                break;
            }
            cap *= 2;
            t = xrealloc(t, cap + 1);
        }
        uInt in_now = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
        uInt out_now = cap - got > (1u << 30) ? (1u << 30) : (uInt)(cap - got);
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = in_now;
        z.next_out = (Bytef *)t + got;
        z.avail_out = out_now;
        zr = inflate(&z, Z_NO_FLUSH);
        size_t used = in_now - z.avail_in, made = out_now - z.avail_out;
        in += used, in_left -= used, got += made;
        if (zr == Z_STREAM_END) {
            if (in_left == 0)
                break;
            if (inflateReset(&z) != Z_OK) /* then the next gzip member */
                break;
            continue;
        }
        if ((zr != Z_OK && zr != Z_BUF_ERROR) || (used == 0 && made == 0))
            break;
    }
    inflateEnd(&z);
    if (zr != Z_STREAM_END) {
        free(t);
        snprintf(err, errlen, "%s: bad gzip data%s", name,
                 zr == Z_MEM_ERROR ? " (too large)" : "");
        return ERR_INVAL;
    }
    t[got] = '\0';
    free(*buf);
    *buf = t;
    *len = got;
    return 0;
}

static int peek_magic(const char *path, int *parquet, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return ERR_IO;
    }
    char m[4];
    ssize_t k = pread(fd, m, sizeof(m), 0);
    close(fd);
    *parquet = k == 4 && parquet_read_is_parquet(m, 4);
    return 0;
}

/* What loading gathered so far, over one file or a directory's files. */
struct load {
    const char *column; /* the column's name */
    uint64_t *v;        /* n values in file order, cap allocated */
    size_t n, cap;
    size_t files, parquet_files, csv_files, gz_files; /* read so far */
    size_t row_groups, pages, pages_v2, dict_pages;   /* of the Parquet ones */
};

static void append(struct load *l, const uint64_t *v, size_t n)
{
    if (l->n + n > l->cap) {
        size_t cap = l->cap ? l->cap : 1024;
        while (cap < l->n + n)
            cap *= 2;
        l->v = xrealloc(l->v, cap * sizeof(*l->v));
        l->cap = cap;
    }
    if (n)
        memcpy(l->v + l->n, v, n * sizeof(*v));
    l->n += n;
}

static int too_many(const char *name, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: more than %llu positions", name,
             (unsigned long long)MAX_VALUES);
    return ERR_LIMIT;
}

/* Takes the values of a Parquet file (res, freed here). */
static int add_parquet(struct load *l, const char *name,
                       struct parquet_read_result *res, char *err,
                       size_t errlen)
{
    int rc = 0;
    for (size_t i = 0; i < res->count && rc == 0; i++) {
        if (res->values[i] <= 0) {
            snprintf(err, errlen, "%s: row %zu: %s value %lld is not positive",
                     name, i + 1, l->column, (long long)res->values[i]);
            rc = ERR_INVAL;
        }
    }
    if (rc == 0 && l->n + res->count > MAX_VALUES)
        rc = too_many(name, err, errlen);
    if (rc == 0) {
        if (l->n == 0 && !l->v) { /* int64 > 0 and uint64 share their bytes */
            l->v = (uint64_t *)(void *)res->values;
            l->n = l->cap = res->count;
            res->values = NULL;
        } else {
            append(l, (const uint64_t *)(const void *)res->values, res->count);
        }
        l->parquet_files++;
        l->row_groups += res->row_groups;
        l->pages += res->pages;
        l->pages_v2 += res->pages_v2;
        l->dict_pages += res->dict_pages;
    }
    parquet_read_result_free(res);
    return rc;
}

/* Parses CSV text (buf, freed here; inflated first when gzip'ed). */
static int add_csv(struct load *l, const char *name, char *buf, size_t len,
                   char *err, size_t errlen)
{
    int gz = is_gzip(buf, len), rc;
    if (gz && (rc = gunzip(name, &buf, &len, err, errlen)) != 0) {
        free(buf);
        return rc;
    }
    char e[512] = "";
    uint64_t *v;
    size_t n;
    rc = positions_parse_csv(buf, len, l->column, &v, &n, e, sizeof(e));
    free(buf);
    if (rc) {
        snprintf(err, errlen, "%s: %s", name, e);
        return rc;
    }
    if (l->n + n > MAX_VALUES) {
        free(v);
        return too_many(name, err, errlen);
    }
    append(l, v, n);
    free(v);
    l->csv_files++;
    l->gz_files += gz != 0;
    return 0;
}

/* One file; "-" is the standard input (read whole, Parquet or CSV). */
static int load_file(struct load *l, const char *path, char *err, size_t errlen)
{
    struct parquet_read_result res;
    char *buf;
    size_t len;
    int parquet, rc;
    l->files++;
    if (strcmp(path, "-") == 0) {
        const char *name = "(standard input)";
        if ((rc = read_fd(0, name, &buf, &len, err, errlen)) != 0)
            return rc;
        if (!parquet_read_is_parquet(buf, len))
            return add_csv(l, name, buf, len, err, errlen);
        char e[512] = "";
        rc = parquet_read_column_mem((const uint8_t *)buf, len, l->column, &res,
                                     e, sizeof(e));
        free(buf);
        if (rc) {
            snprintf(err, errlen, "%s: %s", name, e);
            return rc;
        }
        return add_parquet(l, name, &res, err, errlen);
    }
    if ((rc = peek_magic(path, &parquet, err, errlen)) != 0)
        return rc;
    if (parquet) {
        if ((rc = parquet_read_column(path, l->column, &res, err, errlen)) != 0)
            return rc;
        return add_parquet(l, path, &res, err, errlen);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return ERR_IO;
    }
    rc = read_fd(fd, path, &buf, &len, err, errlen);
    close(fd);
    if (rc)
        return rc;
    return add_csv(l, path, buf, len, err, errlen);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file under dir, in name order, depth first; names starting
 * with '.' or '_' (Spark's _SUCCESS and .crc files, hidden files) skipped. */
static int load_dir(struct load *l, const char *dir, int depth, char *err,
                    size_t errlen)
{
    if (depth > 16) {
        snprintf(err, errlen, "%s: directories nested too deeply", dir);
        return ERR_LIMIT;
    }
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return ERR_IO;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || de->d_name[0] == '_')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = xrealloc(names, cap * sizeof(*names));
        }
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        names[n] = xmalloc(len);
        snprintf(names[n], len, "%s/%s", dir, de->d_name);
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), by_name);
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct stat st;
        if (stat(names[i], &st) != 0) {
            snprintf(err, errlen, "%s: %s", names[i], strerror(errno));
            rc = ERR_IO;
        } else if (S_ISDIR(st.st_mode)) {
            rc = load_dir(l, names[i], depth + 1, err, errlen);
        } else if (S_ISREG(st.st_mode)) {
            rc = load_file(l, names[i], err, errlen);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int positions_load(const char *path, const char *column, struct positions *out,
                   char *err, size_t errlen)
{
    struct load l = {.column = column ? column : "position"};
    struct stat st;
    int rc;
    memset(out, 0, sizeof(*out));
    if (strcmp(path, "-") == 0) {
        st.st_mode = S_IFREG; /* the standard input: one file */
    } else if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return ERR_IO;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = load_dir(&l, path, 0, err, errlen);
        if (rc == 0 && l.files == 0) {
            snprintf(err, errlen, "%s: no files in the directory", path);
            rc = ERR_NOTFOUND;
        }
    } else {
        rc = load_file(&l, path, err, errlen);
    }
    if (rc) {
        free(l.v);
        return rc;
    }
    out->v = l.v;
    out->n = out->rows = l.n;
    out->files = l.files;
    out->format = l.parquet_files == l.files ? "parquet"
                  : l.csv_files < l.files    ? "parquet+csv"
                  : l.gz_files == l.files    ? "csv.gz"
                                             : "csv";
    size_t o = 0;
    if (l.files > 1)
        o = (size_t)snprintf(out->detail, sizeof(out->detail), "%zu files",
                             l.files);
    if (l.parquet_files && o < sizeof(out->detail))
        snprintf(out->detail + o, sizeof(out->detail) - o,
                 "%s%zu row group%s, %zu data page%s (%zu v2), %zu dictionary "
                 "page%s",
                 o ? ", " : "", l.row_groups, l.row_groups == 1 ? "" : "s",
                 l.pages, l.pages == 1 ? "" : "s", l.pages_v2, l.dict_pages,
                 l.dict_pages == 1 ? "" : "s");
    positions_sort_unique(out->v, &out->n);
    return 0;
}

void positions_free(struct positions *p)
{
    free(p->v);
    memset(p, 0, sizeof(*p));
}
