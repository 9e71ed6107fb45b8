/* s3.h - a small S3 client for the archive: put objects, ask about them.
 *
 * Talks to AWS S3 or any S3-compatible server (MinIO, s3rver, ...) over HTTP(S)
 * through libcurl, which signs every request (CURLOPT_AWS_SIGV4). Objects are
 * addressed path-style (endpoint/bucket/key) when an endpoint is given, and
 * virtual-hosted-style on AWS. A file up to part_bytes is one PUT; a larger one
 * is a multipart upload (create, parts, complete; aborted on failure), each
 * part retried a few times with backoff before the call gives up.
 *
 * Errors come back as negative codes with the server's words in err:
 *   ERR_IO        retryable: connection refused/reset, timeout, HTTP 5xx, 429
 *   ERR_NOTFOUND  the key (s3_head) or the bucket (NoSuchBucket) is missing
 *   ERR_INVAL     refused for good: bad credentials (403 InvalidAccessKeyId,
 *                 SignatureDoesNotMatch, AccessDenied), other 4xx
 * so a caller knows whether trying again later can help.
 *
 * Every call blocks (it is for the archive's own thread, or the CLI). A handle
 * is used by one thread at a time. Not a general S3 SDK: no reads of object
 * bodies beyond what tests need, no listing, no deletes. */
#ifndef TINCAN_S3_H
#define TINCAN_S3_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct s3_config {
    const char *endpoint;   /* "http://127.0.0.1:4568"; NULL = AWS
                               (https://s3.<region>.amazonaws.com) */
    const char *region;     /* NULL = "us-east-1" */
    const char *bucket;     /* required */
    const char *access_key; /* NULL = $AWS_ACCESS_KEY_ID */
    const char *secret_key; /* NULL = $AWS_SECRET_ACCESS_KEY */
    const char *session_token; /* NULL = $AWS_SESSION_TOKEN (may be unset) */
    uint64_t part_bytes;    /* multipart above this and per part; 0 = 8 MiB
                               (S3's minimum part is 5 MiB) */
    long timeout_ms;        /* per request; 0 = 60000 */
    const atomic_int *cancel; /* non-NULL: once *cancel is non-zero, the
                                   request under way stops within about a second and
                                   no retry starts (ERR_IO "cancelled") */
};

/* Splits "s3://bucket/some/prefix" into bucket and prefix (without leading or
 * trailing slashes; "" when absent), written into the caller's buffers.
 * 0, or ERR_INVAL with err ("archive URL must look like s3://bucket/prefix"). */
int s3_url_parse(const char *url, char *bucket, size_t bucket_len, char *prefix,
                 size_t prefix_len, char *err, size_t errlen);

struct s3;

/* A handle (copies cfg's strings; no request is made). 0 with *out, or
 * ERR_INVAL with err (no bucket, no credentials in cfg or the environment). */
int s3_new(struct s3 **out, const struct s3_config *cfg, char *err, size_t errlen);
void s3_free(struct s3 *s);

/* Asks whether the bucket exists and the credentials may use it (a listing of
 * zero keys rather than HEAD: the same s3:ListBucket permission, but a refusal
 * has a body that says why). 0, or ERR_NOTFOUND (no such bucket), ERR_INVAL
 * (refused), ERR_IO (unreachable). */
int s3_check(struct s3 *s, char *err, size_t errlen);

/* HEAD of key: 0 with *size (and the ETag without quotes in etag, if etag is
 * not NULL), ERR_NOTFOUND if there is no such object, or another code. */
int s3_head(struct s3 *s, const char *key, uint64_t *size, char *etag, size_t etaglen,
            char *err, size_t errlen);

/* Uploads size bytes of the open file fd (read with pread from offset 0) as
 * key. 0 once the object is complete on the server. Blocks. */
int s3_put_file(struct s3 *s, const char *key, int fd, uint64_t size,
                const char *content_type, char *err, size_t errlen);

/* Uploads n bytes from memory as key (one PUT). */
int s3_put(struct s3 *s, const char *key, const void *p, size_t n,
           const char *content_type, char *err, size_t errlen);

#endif
