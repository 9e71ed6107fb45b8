/* inspect.h - the facts `tincan inspect` gathers about a data directory, and
 * the two ways it prints them (inspect_report.c).
 *
 * inspect.c fills a struct inspect by reading DATA/events read-only (headers,
 * indexes, records through scan); inspect_report.c only formats it, as an
 * aligned text report or one JSON document. Neither writes to DATA. This is
 * not a library for the server: the store has its own, writable view. */
#ifndef TINCAN_CLI_INSPECT_H
#define TINCAN_CLI_INSPECT_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "index.h"

/* Statistics of one event type (in a segment, or over the store). */
struct inspect_type {
    char name[256];                 /* NUL-terminated */
    uint8_t len;
    uint64_t count;                 /* events */
    uint64_t first_pos, last_pos;
    uint64_t first_time, last_time; /* ms since epoch */
};

/* A set of types, in first-seen order, with a hash for lookups. */
struct inspect_types {
    struct inspect_type *v;
    size_t n, cap;
    uint32_t *hash; /* open addressing: index + 1, 0 = empty */
    size_t hcap;    /* power of two */
};

enum inspect_index {
    INSPECT_IX_NONE,    /* open segment: indexed in the server's memory, no file */
    INSPECT_IX_OK,
    INSPECT_IX_MISSING,
    INSPECT_IX_STALE,   /* covers fewer (or other) bytes or events than the segment */
    INSPECT_IX_BAD,     /* does not load: why says index_decode's reason */
    INSPECT_IX_WRONG,   /* loads, but disagrees with the records (full scan only) */
};

enum inspect_severity { INSPECT_NOTE, INSPECT_WARN, INSPECT_CORRUPT };

struct inspect_problem {
    enum inspect_severity sev;
    uint64_t segment;  /* base, or 0 when not about one segment */
    int has_offset;
    uint64_t offset;   /* bytes from the segment start */
    char text[1024];
};

struct inspect_segment {
    uint64_t base;     /* first position it may hold (its name) */
    uint64_t bytes;    /* file size when inspected */
    int is_open;       /* the last segment: the one the server appends to */
    int header_bad;    /* 1 bad or unreadable; 2 torn (open segment) */
    int want_scan;     /* read record by record in this run */
    int scanned;       /* the scan finished it */
    int scan_failed;   /* the scan stopped inside it */
    int from_index;    /* events/positions/times/types come from the index */
    uint64_t end;      /* bytes: end of the last good record (scanned) */
    uint64_t nbad;     /* bad ranges found (quarantined ones included) */
    uint64_t ncorrupt; /* ... of which not quarantined */
    uint64_t torn;     /* open segment: non-zero bytes after the last record */
    uint64_t zeros;    /* open segment: zero bytes after them (written ahead) */
    uint64_t events;
    uint64_t first_pos, last_pos;   /* 0 when no events */
    uint64_t first_time, last_time; /* ms */
    uint64_t gaps;     /* positions skipped inside the segment: places */
    uint64_t missing;  /* ... and positions */
    int gaps_exact;    /* 0: from an index, at least this many */
    struct inspect_types types;
    enum inspect_index ix_status;
    char ix_why[480];  /* why the index is not ok */
    struct index ix;   /* loaded index (ix_loaded), sparse entries dropped */
    int ix_loaded;
    uint64_t done_before; /* bytes of scanned segments before it (progress) */
};

struct inspect_quarantined {
    char name[300];   /* <segment>.seg.bad-<offset> */
    uint64_t segment; /* base */
    uint64_t offset;  /* where the bad range started in the segment */
    uint64_t bytes;   /* of the quarantine file */
};

struct inspect_other {
    char name[300];
    int is_dir;
    uint64_t bytes; /* its size; a directory's: of the files directly inside */
    uint64_t files; /* 1 for a file */
};

/* One run of tincan inspect: its options and everything it found. */
struct inspect {
    const char *data;              /* DATA as given */
    char evdir[4096];              /* DATA/events */
    int json, quick;               /* the flags */
    int progress;                  /* stderr is a terminal: show progress */
    int unreadable;                /* DATA or its events could not be read */
    char unreadable_why[1400];
    struct inspect_segment *segs;  /* ascending by base; the last is open */
    size_t nsegs;
    struct inspect_problem *probs; /* in the order found */
    size_t nprobs, capprobs;
    struct inspect_quarantined *quar; /* by segment, offset */
    size_t nquar, capquar;
    struct inspect_other *others;  /* DATA's entries besides events/, by name */
    size_t nothers, capothers;
    struct inspect_types types;    /* over all segments */
    uint64_t records;              /* records decoded and checksummed */
    uint64_t scanned_bytes;        /* bytes of those records */
    uint64_t scan_total;           /* bytes of the segments to scan */
    uint64_t t0, tlast;            /* ms, monotonic: scan start, last progress */
    unsigned tick;                 /* records since the clock was last read */
    int progress_shown;            /* a progress line is on the terminal */
};

/* Totals over the segments, and the problems by severity. */
struct inspect_totals {
    uint64_t segments, events, bytes, sealed;
    uint64_t first_pos, last_pos, first_time, last_time;
    uint64_t gaps, missing;       /* places, positions */
    int gaps_exact;               /* 0: at least (some facts from indexes) */
    uint64_t corrupt, warnings, notes; /* problems */
};

/* The segment file name of base, without ".seg" (20 digits). */
static inline void inspect_segment_name(char out[32], uint64_t base)
{
    snprintf(out, 32, "%020" PRIu64, base);
}

/* "ok", "missing", ...: static storage. */
const char *inspect_index_name(enum inspect_index s);
/* "note", "warning", "corrupt": static storage. */
const char *inspect_severity_name(enum inspect_severity s);

/* The report as aligned plain text, to f. */
void inspect_print_text(const struct inspect *in, const struct inspect_totals *t,
                        FILE *f);
/* The report as one JSON document, to f; when in->unreadable, a short one
 * with the error. */
void inspect_print_json(const struct inspect *in, const struct inspect_totals *t,
                        FILE *f);

#endif
