/* scan.c - reads a store directory's events in order, read-only (scan.h). */
#include "scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "errors.h"

#define SCAN_WINDOW (4u << 20) /* bytes per pread */

struct scan {
    char *dir;
    unsigned flags;
    uint64_t from;   /* first position wanted */
    uint64_t limit;  /* last position returned */
    uint64_t *bases; /* known segments, ascending */
    size_t nbases;
    size_t cur;   /* index into bases of the open file */
    int fd;       /* bases[cur], or -1 */
    uint64_t off; /* next record's offset in fd */
    uint8_t *buf; /* window of fd's bytes */
    size_t cap;
    uint64_t buf_off; /* file offset of buf[0] */
    size_t buf_len;   /* valid bytes in buf */
    uint64_t last;    /* position of the last record returned (or skipped) */
    uint64_t read;    /* bytes of records read */
    uint64_t skipped; /* bytes stepped over as corrupt */
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int scan_list_segments(const char *dir, uint64_t **bases, size_t *n, char *err,
                       size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "opendir %s: %s", dir, strerror(errno));
        return ERR_IO;
    }
    size_t cap = 16;
    *bases = xmalloc(cap * sizeof(**bases));
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strlen(e->d_name) != 24 || strcmp(e->d_name + 20, ".seg") != 0)
            continue;
        char *end;
        uint64_t b = strtoull(e->d_name, &end, 10);
        if (end != e->d_name + 20 || b == 0)
            continue;
        if (*n == cap) {
            cap *= 2;
            *bases = xrealloc(*bases, cap * sizeof(**bases));
        }
        (*bases)[(*n)++] = b;
    }
    closedir(d);
    qsort(*bases, *n, sizeof(**bases), cmp_u64);
    return 0;
}

int scan_open(struct scan **out, const char *dir, uint64_t from, unsigned flags,
              char *err, size_t errlen)
{
    struct scan *sc = xcalloc(1, sizeof(*sc));
    sc->dir = xstrdup(dir);
    sc->flags = flags;
    sc->from = from;
    sc->limit = UINT64_MAX;
    sc->fd = -1;
    sc->last = from ? from - 1 : 0;
    int rc = scan_list_segments(dir, &sc->bases, &sc->nbases, err, errlen);
    if (rc) {
        scan_close(sc);
        return rc;
    }
    /* start in the last segment whose base is <= from */
    while (sc->cur + 1 < sc->nbases && sc->bases[sc->cur + 1] <= from)
        sc->cur++;
    *out = sc;
    return 0;
}

void scan_close(struct scan *sc)
{
    if (!sc)
        return;
    if (sc->fd >= 0)
        close(sc->fd);
    free(sc->bases);
    free(sc->buf);
    free(sc->dir);
    free(sc);
}

void scan_set_limit(struct scan *sc, uint64_t limit)
{
    sc->limit = limit;
}

int scan_sync(struct scan *sc, char *err, size_t errlen)
{
    if (sc->fd < 0 || fdatasync(sc->fd) == 0)
        return 0;
    snprintf(err, errlen, "segment %020" PRIu64 ": fdatasync: %s",
             sc->bases[sc->cur], strerror(errno));
    return ERR_IO;
}

uint64_t scan_bytes_read(const struct scan *sc)
{
    return sc->read;
}

uint64_t scan_bytes_skipped(const struct scan *sc)
{
    return sc->skipped;
}

/* Makes buf hold [off, off + want) if the file has it. Returns the bytes
 * available from off (less than want at the end of the file), or ERR_IO. */
static int64_t fill(struct scan *sc, uint64_t off, size_t want, char *err,
                    size_t errlen)
{
    if (off >= sc->buf_off && off + want <= sc->buf_off + sc->buf_len)
        return (int64_t)(sc->buf_off + sc->buf_len - off);
    size_t n = want > SCAN_WINDOW ? want : SCAN_WINDOW;
    if (sc->cap < n) {
        sc->buf = xrealloc(sc->buf, n);
        sc->cap = n;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(sc->fd, sc->buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen,
                     "segment %020" PRIu64 ": read at %" PRIu64 ": %s",
                     sc->bases[sc->cur], off + got, strerror(errno));
            sc->buf_len = 0;
            return ERR_IO;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    sc->buf_off = off;
    sc->buf_len = got;
    return (int64_t)got;
}

static void close_file(struct scan *sc)
{
    if (sc->fd >= 0)
        close(sc->fd);
    sc->fd = -1;
    sc->buf_len = 0;
}

/* Opens bases[cur] and checks its header. 1 opened; 0 when its header is not
 * all there yet (a segment just created); negative on error. */
static int open_file(struct scan *sc, char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%020" PRIu64 ".seg", sc->dir,
             sc->bases[sc->cur]);
    sc->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (sc->fd < 0) {
        snprintf(err, errlen, "open %s: %s", path, strerror(errno));
        return ERR_IO;
    }
    sc->buf_len = 0;
    int64_t got = fill(sc, 0, SEGMENT_HEADER_SIZE, err, errlen);
    if (got < 0)
        return (int)got;
    uint64_t base;
    if (got < SEGMENT_HEADER_SIZE) {
        close_file(sc);
        return 0;
    }
    if (segment_header_decode(sc->buf, SEGMENT_HEADER_SIZE, &base) ||
        base != sc->bases[sc->cur]) {
        snprintf(err, errlen, "segment %020" PRIu64 ": bad header",
                 sc->bases[sc->cur]);
        close_file(sc);
        return ERR_CORRUPT;
    }
    sc->off = SEGMENT_HEADER_SIZE;
    return 1;
}

/* Is there a segment after the current one? Lists the directory again when
 * the known list ends. */
static int has_next_segment(struct scan *sc, char *err, size_t errlen)
{
    if (sc->cur + 1 < sc->nbases)
        return 1;
    uint64_t *b;
    size_t n;
    int rc = scan_list_segments(sc->dir, &b, &n, err, errlen);
    if (rc)
        return rc;
    free(sc->bases);
    sc->bases = b;
    sc->nbases = n;
    return sc->cur + 1 < sc->nbases;
}

/* Decodes the record at off: 0 with *r and *used, 1 when the bytes there are
 * not a record (zeros, short, bad), negative on I/O error. */
static int decode_at(struct scan *sc, uint64_t off, struct segment_record *r,
                     size_t *used, char *err, size_t errlen)
{
    int64_t got = fill(sc, off, SEGMENT_FRAME_SIZE, err, errlen);
    if (got < 0)
        return (int)got;
    if (got < SEGMENT_FRAME_SIZE)
        return 1;
    const uint8_t *p = sc->buf + (off - sc->buf_off);
    uint32_t len = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                   (uint32_t)p[3] << 24;
    if (len == 0 || len > SEGMENT_MAX_BODY)
        return 1;
    size_t need = SEGMENT_FRAME_SIZE + (size_t)len;
    got = fill(sc, off, need, err, errlen);
    if (got < 0)
        return (int)got;
    if ((uint64_t)got < need)
        return 1;
    p = sc->buf + (off - sc->buf_off);
    return segment_record_decode(p, need, r, used) ? 1 : 0;
}

/* The offset of the next record after a bad one at bad that decodes and
 * comes after the last position, or 0 if none does before the file's end. */
static int resync(struct scan *sc, uint64_t bad, uint64_t *next, char *err,
                  size_t errlen)
{
    struct segment_record r;
    size_t used;
    for (uint64_t o = bad + 1;; o++) {
        int64_t got = fill(sc, o, SEGMENT_FRAME_SIZE, err, errlen);
        if (got < 0)
            return (int)got;
        if (got < SEGMENT_FRAME_SIZE)
            break;
        /* A frame starts with a non-zero length: jump over zeros (the
         * store writes them ahead of the open segment's end). */
        const uint8_t *p = sc->buf + (o - sc->buf_off);
        size_t k = 0;
        while (k < (size_t)got && p[k] == 0)
            k++;
        if (k == (size_t)got) {
            o += k > 4 ? k - 4 : 0;
            continue;
        }
        if (k > 3) {
            o += k - 3;
            continue;
        }
        int rc = decode_at(sc, o, &r, &used, err, errlen);
        if (rc < 0)
            return rc;
        if (rc == 0 && r.position > sc->last) {
            *next = o;
            return 1;
        }
    }
    *next = 0;
    return 0;
}

/* 1 if the file holds only zeros from off to its end, 0 if not, or ERR_IO. */
static int tail_clean(struct scan *sc, uint64_t off, char *err, size_t errlen)
{
    for (;;) {
        int64_t got = fill(sc, off, 1, err, errlen);
        if (got < 0)
            return (int)got;
        if (got == 0)
            return 1;
        const uint8_t *p = sc->buf + (off - sc->buf_off);
        for (int64_t i = 0; i < got; i++)
            if (p[i])
                return 0;
        off += (uint64_t)got;
    }
}

/* Bytes from off to the end of the open file. */
static uint64_t tail_len(struct scan *sc, uint64_t off)
{
    struct stat st;
    if (fstat(sc->fd, &st) != 0 || (uint64_t)st.st_size < off)
        return 0;
    return (uint64_t)st.st_size - off;
}

int scan_next(struct scan *sc, struct segment_record *r,
              struct scan_where *where, char *err, size_t errlen)
{
    for (;;) {
        if (sc->fd < 0) {
            if (sc->cur >= sc->nbases) {
                int rc = has_next_segment(sc, err, errlen);
                if (rc <= 0)
                    return rc;
            }
            int rc = open_file(sc, err, errlen);
            if (rc <= 0)
                return rc;
        }
        size_t used;
        int rc = decode_at(sc, sc->off, r, &used, err, errlen);
        if (rc == 1 && sc->buf_len) {
            /* The window may predate the writes the caller's limit counts
             * (a record half there, zeros): judge only fresh bytes. */
            sc->buf_len = 0;
            rc = decode_at(sc, sc->off, r, &used, err, errlen);
        }
        if (rc < 0)
            return rc;
        if (rc == 0 && r->position <= sc->last) {
            /* before from: step over (positions rise within a file) */
            if (r->position < sc->from) {
                sc->off += used;
                continue;
            }
            snprintf(err, errlen,
                     "segment %020" PRIu64 ": position %" PRIu64
                     " at offset %" PRIu64 " does not follow %" PRIu64,
                     sc->bases[sc->cur], r->position, sc->off, sc->last);
            return ERR_CORRUPT;
        }
        if (rc == 0) {
            if (r->position > sc->limit)
                return 0;
            if (where) {
                where->segment = sc->bases[sc->cur];
                where->offset = sc->off;
                where->size = used;
            }
            sc->off += used;
            sc->last = r->position;
            sc->read += used;
            return 1;
        }
        /* Not a record at off: the end of this segment, a tail still being
         * written or torn, or corruption. A record that decodes further on
         * says corruption; nothing further means the end. */
        uint64_t next = 0;
        int more = resync(sc, sc->off, &next, err, errlen);
        if (more < 0)
            return more;
        if (more) {
            if (!(sc->flags & SCAN_SKIP_CORRUPT)) {
                snprintf(err, errlen,
                         "segment %020" PRIu64 ": bad record at offset %" PRIu64
                         " (crc mismatch or bad frame)",
                         sc->bases[sc->cur], sc->off);
                return ERR_CORRUPT;
            }
            sc->skipped += next - sc->off;
            sc->off = next;
            continue;
        }
        int later = has_next_segment(sc, err, errlen);
        if (later < 0)
            return later;
        if (!later)
            return 0; /* the open segment's end, for now */
        /* A later segment exists, so this one was sealed before it was
         * created: its bytes are final. Look once more at off (records may
         * have landed between our read and the seal), then move on. */
        sc->buf_len = 0;
        rc = decode_at(sc, sc->off, r, &used, err, errlen);
        if (rc < 0)
            return rc;
        if (rc == 0)
            continue;
        /* A sealed segment ends at its last record (or in zeros): bytes
         * there that are not a record are a damaged end. */
        int clean = tail_clean(sc, sc->off, err, errlen);
        if (clean < 0)
            return clean;
        if (!clean && !(sc->flags & SCAN_SKIP_CORRUPT)) {
            snprintf(err, errlen,
                     "segment %020" PRIu64 ": bad record at offset %" PRIu64
                     " (the sealed segment's end is damaged)",
                     sc->bases[sc->cur], sc->off);
            return ERR_CORRUPT;
        }
        if (!clean)
            sc->skipped += tail_len(sc, sc->off);
        close_file(sc);
        sc->cur++;
    }
}
