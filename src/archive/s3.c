#include "s3.h"

#include "common.h"
#include "errors.h"
#include "log.h"
#include "sbuf.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define S3_DEFAULT_REGION "us-east-1"
#define S3_DEFAULT_PART (8u << 20)          /* bytes */
#define S3_MIN_PART (5u << 20)              /* bytes; S3 refuses smaller parts */
#define S3_MAX_PARTS 10000                  /* S3's limit per upload */
#define S3_DEFAULT_TIMEOUT 60000L           /* ms */
#define S3_CONNECT_TIMEOUT 10000L           /* ms, at most */
#define S3_RESP_MAX (1u << 20)              /* bytes of response body kept */
#define S3_RETRIES 3                        /* retries after the first try */
#define S3_BACKOFF_FIRST 100                /* ms; x4 per retry: 100, 400, 1600 */
#define S3_ETAG_MAX 128                     /* bytes, with quotes */
#define S3_KEY_MAX 1024                     /* bytes; S3's limit for a key */
#define S3_WHAT_MAX (S3_KEY_MAX + 128)      /* bytes of context in messages */

/* SHA-256 of the empty body: what GET/HEAD/DELETE sign as their payload. */
#define S3_EMPTY_SHA256 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct s3 {
    CURL *curl;              /* one easy handle: keeps the connection alive */
    char *base;              /* URL of the bucket, no trailing '/' */
    bool vhost;              /* base is https://bucket.host, path is only key */
    char *bucket;
    char *userpwd;           /* "access:secret" for CURLOPT_USERPWD */
    char *sigv4;             /* "aws:amz:<region>:s3" */
    char *token_hdr;         /* "x-amz-security-token: ..." or NULL */
    uint64_t part_bytes;     /* bytes per part, and the multipart threshold */
    long timeout_ms;         /* ms, per request */
    const atomic_int *cancel; /* see struct s3_config */
    char curl_err[CURL_ERROR_SIZE]; /* libcurl's detail for the last failure */
};

/* One HTTP exchange: what to send, and what came back. */
struct req {
    const char *method;      /* "GET" "HEAD" "PUT" "POST" "DELETE" */
    const char *key;         /* object key, NULL for the bucket itself */
    const char *query;       /* canonical query (sorted, encoded) or NULL */
    const void *body;        /* PUT/POST body */
    size_t body_len;         /* bytes */
    const char *content_type; /* NULL = none sent */
    const char *what;        /* context for messages ("PUT key (part 2/3)") */
    /* results */
    long status;             /* HTTP status, 0 if none arrived */
    struct sbuf resp;        /* response body, at most S3_RESP_MAX bytes */
    char etag[S3_ETAG_MAX];  /* ETag response header as sent (quoted) */
    size_t sent;             /* bytes of body handed to libcurl so far */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Characters S3 (RFC 3986) leaves unencoded in a canonical URI / query. */
static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Appends s URI-encoded the way SigV4 canonicalises it. libcurl 7.88 signs the
 * path and query exactly as they appear in the URL, so the URL must already be
 * in canonical form: '=' becomes %3D, '/' is kept only when keep_slash. */
static void add_encoded(struct sbuf *b, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (unreserved(*p) || (keep_slash && *p == '/')) {
            sbuf_addc(b, (char)*p);
        } else {
            sbuf_addc(b, '%');
            sbuf_addc(b, hex[*p >> 4]);
            sbuf_addc(b, hex[*p & 15]);
        }
    }
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        /* Only fails when OpenSSL itself is broken (no SHA-256 provider). */
        log_error("s3: SHA-256 unavailable from libcrypto");
        abort();
    }
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

/* Decodes the five XML entities in place (enough for S3's replies). */
static void xml_unescape(char *s)
{
    static const struct { const char *ent; char ch; } ents[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''},
    };
    char *w = s;
    for (const char *r = s; *r;) {
        bool done = false;
        if (*r == '&') {
            for (size_t i = 0; i < ARRAY_LEN(ents); i++) {
                size_t n = strlen(ents[i].ent);
                if (strncmp(r, ents[i].ent, n) == 0) {
                    *w++ = ents[i].ch;
                    r += n;
                    done = true;
                    break;
                }
            }
        }
        if (!done)
            *w++ = *r++;
    }
    *w = '\0';
}

/* Copies the text of the first <tag>...</tag> in xml into out (unescaped).
 * S3's replies are flat enough that this is all the XML we need.
 * true if found (possibly truncated to outlen). */
static bool xml_text(const char *xml, const char *tag, char *out, size_t outlen)
{
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    const char *a = xml ? strstr(xml, open) : NULL;
    if (!a)
        return false;
    a += strlen(open);
    const char *z = strstr(a, close);
    if (!z)
        return false;
    size_t n = (size_t)(z - a);
    if (outlen == 0)
        return true;
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, a, n);
    out[n] = '\0';
    xml_unescape(out);
    return true;
}

static void xml_add_escaped(struct sbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': sbuf_adds(b, "&amp;"); break;
        case '<': sbuf_adds(b, "&lt;"); break;
        case '>': sbuf_adds(b, "&gt;"); break;
        default: sbuf_addc(b, *s); break;
        }
    }
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct req *r = arg;
    size_t len = size * n;
    if (r->resp.len < S3_RESP_MAX) {
        size_t room = S3_RESP_MAX - r->resp.len;
        sbuf_add(&r->resp, p, len < room ? len : room);
    }
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct req *r = arg;
    size_t len = size * n;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        r->etag[0] = '\0'; /* a new response (after 100 Continue) */
    } else if (len > 5 && strncasecmp(p, "etag:", 5) == 0) {
        const char *v = p + 5, *end = p + len;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
            end--;
        size_t vn = (size_t)(end - v);
        if (vn < sizeof(r->etag)) {
            memcpy(r->etag, v, vn);
            r->etag[vn] = '\0';
        }
    }
    return len;
}

static size_t on_read(char *p, size_t size, size_t n, void *arg)
{
    struct req *r = arg;
    size_t room = size * n, left = r->body_len - r->sent;
    size_t take = left < room ? left : room;
    memcpy(p, (const char *)r->body + r->sent, take);
    r->sent += take;
    return take;
}

/* libcurl asks to rewind when it must send the body again (a redirect or an
 * auth round trip on a reused connection). */
static int on_seek(void *arg, curl_off_t off, int origin)
{
    struct req *r = arg;
    if (origin != SEEK_SET || off < 0 || (size_t)off > r->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    r->sent = (size_t)off;
    return CURL_SEEKFUNC_OK;
}

/* libcurl failures that trying again cannot fix. */
static bool curl_for_good(CURLcode cc)
{
    switch (cc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_LOGIN_DENIED:
        return true;
    default:
        return false;
    }
}

/* The class of an S3 error reply (see s3.h). code may be "" (HEAD replies
 * carry no body). */
static int classify(long status, const char *code)
{
    if (status == 404)
        return strcmp(code, "NoSuchUpload") == 0 ? ERR_IO : ERR_NOTFOUND;
    if (status == 408 || status == 429 || status >= 500)
        return ERR_IO;
    if (strcmp(code, "RequestTimeout") == 0 || strcmp(code, "OperationAborted") == 0 ||
        strcmp(code, "SlowDown") == 0 || strcmp(code, "InternalError") == 0)
        return ERR_IO;
    return ERR_INVAL;
}

/* Builds "s3: <what>: <status> <Code>: <Message>" from the reply in r. */
static int reply_error(struct req *r, char *err, size_t errlen)
{
    char code[128] = "", msg[512] = "";
    if (r->resp.len) {
        xml_text(r->resp.data, "Code", code, sizeof(code));
        xml_text(r->resp.data, "Message", msg, sizeof(msg));
    }
    int rc = classify(r->status, code);
    if (code[0] && msg[0])
        snprintf(err, errlen, "s3: %s: %ld %s: %s", r->what, r->status, code, msg);
    else if (code[0])
        snprintf(err, errlen, "s3: %s: %ld %s", r->what, r->status, code);
    else if (r->status == 404)
        snprintf(err, errlen, "s3: %s: 404 not found", r->what);
    else
        snprintf(err, errlen, "s3: %s: HTTP %ld", r->what, r->status);
    return rc;
}

/* libcurl calls this about once a second, and more often while data moves;
 * non-zero aborts the transfer. */
static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    const struct s3 *s = ctx;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return s->cancel && atomic_load(s->cancel);
}

/* One request, no retries. 0 on a 2xx reply (r->status, r->resp, r->etag
 * filled), else a classified error with detail in err. Blocks. */
static int send_once(struct s3 *s, struct req *r, char *err, size_t errlen)
{
    CURL *c = s->curl;
    struct curl_slist *hdrs = NULL, *tmp;
    struct sbuf url, line;
    char hash[65];
    int rc = 0;

    sbuf_init(&url);
    sbuf_init(&line);
    sbuf_clear(&r->resp);
    r->status = 0;
    r->etag[0] = '\0';
    r->sent = 0;
    s->curl_err[0] = '\0';

    sbuf_adds(&url, s->base);
    if (r->key) {
        sbuf_addc(&url, '/');
        add_encoded(&url, r->key, true);
    } else if (s->vhost) {
        sbuf_addc(&url, '/');  /* the bucket is the host: its path is "/" */
    }
    if (r->query) {
        sbuf_addc(&url, '?');
        sbuf_adds(&url, r->query);
    }

    /* libcurl 7.88 signs whatever x-amz-content-sha256 says (and only hashes
     * CURLOPT_POSTFIELDS itself, never an upload), and S3 refuses SigV4
     * requests without the header: so it is always sent, with the real hash. */
    if (r->body_len)
        sha256_hex(r->body, r->body_len, hash);
    else
        memcpy(hash, S3_EMPTY_SHA256, sizeof(hash));
    sbuf_addf(&line, "x-amz-content-sha256: %s", hash);
    /* Every header in the list is signed; a value-less "Name:" (a removal) must
     * never be listed, or the signature covers a header that is not sent. */
    if (!(tmp = curl_slist_append(hdrs, line.data)))
        goto err_oom;
    hdrs = tmp;
    if (s->token_hdr) {
        if (!(tmp = curl_slist_append(hdrs, s->token_hdr)))
            goto err_oom;
        hdrs = tmp;
    }
    if (r->content_type) {
        sbuf_clear(&line);
        sbuf_addf(&line, "Content-Type: %s", r->content_type);
        if (!(tmp = curl_slist_append(hdrs, line.data)))
            goto err_oom;
        hdrs = tmp;
    }

    /* Reset keeps the live connection, so the next request reuses it. */
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url.data);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->curl_err);
    curl_easy_setopt(c, CURLOPT_USERPWD, s->userpwd);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     s->timeout_ms < S3_CONNECT_TIMEOUT ? s->timeout_ms
                                                        : S3_CONNECT_TIMEOUT);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, r);
        curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(c, CURLOPT_SEEKDATA, r);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body_len ? r->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    }

    if (s->cancel) {
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    }

    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_ABORTED_BY_CALLBACK) {
        snprintf(err, errlen, "s3: %s: cancelled", r->what);
        rc = ERR_IO;
        goto out;
    }
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "s3: %s: %s", r->what,
                 s->curl_err[0] ? s->curl_err : curl_easy_strerror(cc));
        rc = curl_for_good(cc) ? ERR_INVAL : ERR_IO;
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->status < 200 || r->status > 299)
        rc = reply_error(r, err, errlen);
    goto out;

err_oom:
    snprintf(err, errlen, "s3: %s: out of memory building headers", r->what);
    rc = ERR_IO;
out:
    /* The handle still points at hdrs and url until the next reset. */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    sbuf_deinit(&line);
    sbuf_deinit(&url);
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* send_once, tried again after 100 ms, 400 ms and 1.6 s while the failure is
 * retryable (ERR_IO). Only for requests that are safe to repeat. */
static int send_retry(struct s3 *s, struct req *r, char *err, size_t errlen)
{
    long delay = S3_BACKOFF_FIRST;
    for (int attempt = 0;; attempt++) {
        int rc = send_once(s, r, err, errlen);
        if (rc != ERR_IO || attempt == S3_RETRIES ||
            (s->cancel && atomic_load(s->cancel)))
            return rc;
        log_warn("%s (retrying in %ld ms)", err, delay);
        sleep_ms(delay);
        delay *= 4;
    }
}

static void req_init(struct req *r, const char *method, const char *key,
                     const char *what)
{
    memset(r, 0, sizeof(*r));
    r->method = method;
    r->key = key;
    r->what = what;
    sbuf_init(&r->resp);
}

/* S3 keys are 1 to 1024 bytes; an empty one would address the bucket. */
static int check_key(const char *key, char *err, size_t errlen)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > S3_KEY_MAX) {
        snprintf(err, errlen, "s3: object key must be 1 to %d bytes (got %zu)",
                 S3_KEY_MAX, n);
        return ERR_INVAL;
    }
    return 0;
}

int s3_url_parse(const char *url, char *bucket, size_t bucket_len, char *prefix,
                 size_t prefix_len, char *err, size_t errlen)
{
    static const char scheme[] = "s3://";
    if (!url || strncmp(url, scheme, sizeof(scheme) - 1) != 0)
        goto err_shape;
    const char *b = url + sizeof(scheme) - 1;
    size_t bn = strcspn(b, "/");
    if (bn == 0 || bn >= bucket_len)
        goto err_shape;
    const char *p = b + bn;
    while (*p == '/')
        p++;
    size_t pn = strlen(p);
    while (pn > 0 && p[pn - 1] == '/')
        pn--;
    if (pn >= prefix_len)
        goto err_shape;
    memcpy(bucket, b, bn);
    bucket[bn] = '\0';
    memcpy(prefix, p, pn);
    prefix[pn] = '\0';
    return 0;

err_shape:
    snprintf(err, errlen, "archive URL must look like s3://bucket/prefix (got \"%s\")",
             url ? url : "");
    return ERR_INVAL;
}

static const char *or_env(const char *v, const char *name)
{
    if (v && *v)
        return v;
    v = getenv(name);
    return v && *v ? v : NULL;
}

int s3_new(struct s3 **out, const struct s3_config *cfg, char *err, size_t errlen)
{
    *out = NULL;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        snprintf(err, errlen, "s3: libcurl initialisation failed: %s",
                 curl_easy_strerror(global_rc));
        return ERR_IO;
    }
    if (!cfg->bucket || !*cfg->bucket) {
        snprintf(err, errlen, "s3: no bucket given");
        return ERR_INVAL;
    }
    const char *access = or_env(cfg->access_key, "AWS_ACCESS_KEY_ID");
    const char *secret = or_env(cfg->secret_key, "AWS_SECRET_ACCESS_KEY");
    const char *token = or_env(cfg->session_token, "AWS_SESSION_TOKEN");
    if (!access || !secret) {
        snprintf(err, errlen, "s3: no credentials (set AWS_ACCESS_KEY_ID and "
                              "AWS_SECRET_ACCESS_KEY)");
        return ERR_INVAL;
    }
    if (strchr(access, ':')) {
        snprintf(err, errlen, "s3: access key must not contain ':'");
        return ERR_INVAL;
    }
    const char *region = cfg->region && *cfg->region ? cfg->region : S3_DEFAULT_REGION;
    if (strchr(region, ':') || strlen(region) > 64) {
        snprintf(err, errlen, "s3: bad region \"%s\"", region);
        return ERR_INVAL;
    }
    if (cfg->part_bytes && cfg->part_bytes < S3_MIN_PART) {
        snprintf(err, errlen, "s3: part size %llu is below S3's minimum of 5 MiB",
                 (unsigned long long)cfg->part_bytes);
        return ERR_INVAL;
    }

    struct s3 *s = xcalloc(1, sizeof(*s));
    struct sbuf b;
    sbuf_init(&b);
    s->curl = curl_easy_init();
    if (!s->curl) {
        snprintf(err, errlen, "s3: curl_easy_init failed");
        sbuf_deinit(&b);
        free(s);
        return ERR_IO;
    }
    if (cfg->endpoint && *cfg->endpoint) {
        /* path-style: endpoint/bucket/key */
        size_t n = strlen(cfg->endpoint);
        while (n > 0 && cfg->endpoint[n - 1] == '/')
            n--;
        sbuf_add(&b, cfg->endpoint, n);
        sbuf_addc(&b, '/');
        add_encoded(&b, cfg->bucket, false);
    } else if (strchr(cfg->bucket, '.')) {
        /* a dotted bucket breaks the wildcard certificate of vhost names */
        sbuf_addf(&b, "https://s3.%s.amazonaws.com/", region);
        add_encoded(&b, cfg->bucket, false);
    } else {
        sbuf_addf(&b, "https://%s.s3.%s.amazonaws.com", cfg->bucket, region);
        s->vhost = true;
    }
    s->base = xstrdup(b.data);
    sbuf_clear(&b);
    sbuf_addf(&b, "%s:%s", access, secret);
    s->userpwd = xstrdup(b.data);
    sbuf_clear(&b);
    sbuf_addf(&b, "aws:amz:%s:s3", region);
    s->sigv4 = xstrdup(b.data);
    if (token) {
        sbuf_clear(&b);
        sbuf_addf(&b, "x-amz-security-token: %s", token);
        s->token_hdr = xstrdup(b.data);
    }
    sbuf_deinit(&b);
    s->bucket = xstrdup(cfg->bucket);
    s->part_bytes = cfg->part_bytes ? cfg->part_bytes : S3_DEFAULT_PART;
    s->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : S3_DEFAULT_TIMEOUT;
    s->cancel = cfg->cancel;
    *out = s;
    return 0;
}

void s3_free(struct s3 *s)
{
    if (!s)
        return;
    curl_easy_cleanup(s->curl);
    free(s->base);
    free(s->bucket);
    if (s->userpwd) {
        /* the secret does not linger in freed memory */
        memset(s->userpwd, 0, strlen(s->userpwd));
        free(s->userpwd);
    }
    free(s->sigv4);
    free(s->token_hdr);
    free(s);
}

int s3_check(struct s3 *s, char *err, size_t errlen)
{
    /* A zero-key listing rather than HEAD: it needs the same permission
     * (s3:ListBucket) but its error replies have a body, so a refusal says
     * why (SignatureDoesNotMatch, AccessDenied, NoSuchBucket). */
    char what[256];
    struct req r;
    snprintf(what, sizeof(what), "check bucket %s", s->bucket);
    req_init(&r, "GET", NULL, what);
    r.query = "list-type=2&max-keys=0";
    int rc = send_once(s, &r, err, errlen);
    sbuf_deinit(&r.resp);
    return rc;
}

int s3_head(struct s3 *s, const char *key, uint64_t *size, char *etag, size_t etaglen,
            char *err, size_t errlen)
{
    char what[S3_WHAT_MAX];
    struct req r;
    int rc = check_key(key, err, errlen);
    if (rc)
        return rc;
    snprintf(what, sizeof(what), "HEAD %s", key);
    req_init(&r, "HEAD", key, what);
    rc = send_once(s, &r, err, errlen);
    if (rc == 0) {
        curl_off_t len = -1;
        curl_easy_getinfo(s->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
        if (len < 0) {
            snprintf(err, errlen, "s3: %s: reply has no Content-Length", what);
            rc = ERR_IO;
            goto out;
        }
        *size = (uint64_t)len;
        if (etag && etaglen) {
            const char *e = r.etag;
            size_t n = strlen(e);
            if (n >= 2 && e[0] == '"' && e[n - 1] == '"') {
                e++;
                n -= 2;
            }
            if (n >= etaglen)
                n = etaglen - 1;
            memcpy(etag, e, n);
            etag[n] = '\0';
        }
    }
out:
    sbuf_deinit(&r.resp);
    return rc;
}

int s3_put(struct s3 *s, const char *key, const void *p, size_t n,
           const char *content_type, char *err, size_t errlen)
{
    char what[S3_WHAT_MAX];
    struct req r;
    int rc = check_key(key, err, errlen);
    if (rc)
        return rc;
    snprintf(what, sizeof(what), "PUT %s", key);
    req_init(&r, "PUT", key, what);
    r.body = p;
    r.body_len = n;
    r.content_type = content_type;
    rc = send_retry(s, &r, err, errlen);
    sbuf_deinit(&r.resp);
    return rc;
}

/* Reads exactly n bytes at off. 0, or ERR_IO with err. */
static int read_at(int fd, void *buf, size_t n, uint64_t off, const char *key,
                   char *err, size_t errlen)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            snprintf(err, errlen, "s3: PUT %s: read at offset %llu: %s", key,
                     (unsigned long long)(off + got), strerror(errno));
            return ERR_IO;
        }
        if (k == 0) {
            snprintf(err, errlen, "s3: PUT %s: file ends at %llu, before its size",
                     key, (unsigned long long)(off + got));
            return ERR_IO;
        }
        got += (size_t)k;
    }
    return 0;
}

/* Best effort: the parts of a failed upload cost storage until aborted. */
static void abort_upload(struct s3 *s, const char *key, const char *query)
{
    char what[S3_WHAT_MAX], err[S3_WHAT_MAX + 512];
    struct req r;
    snprintf(what, sizeof(what), "abort upload of %s", key);
    req_init(&r, "DELETE", key, what);
    r.query = query;
    if (send_once(s, &r, err, sizeof(err)) != 0)
        log_warn("%s (parts stay until the bucket's lifecycle rule removes them)", err);
    sbuf_deinit(&r.resp);
}

static int put_multipart(struct s3 *s, const char *key, int fd, uint64_t size,
                         const char *content_type, char *err, size_t errlen)
{
    char what[S3_WHAT_MAX], upload_id[512];
    struct sbuf query, xml;
    struct req r;
    char (*etags)[S3_ETAG_MAX] = NULL; /* quoted ETag of each part */
    char *buf = NULL;                  /* one part's bytes */
    int rc;

    /* Grow the part when S3's 10,000 parts would not hold the file. */
    uint64_t part = s->part_bytes;
    if ((size + part - 1) / part > S3_MAX_PARTS)
        part = (size + S3_MAX_PARTS - 1) / S3_MAX_PARTS;
    uint64_t nparts = (size + part - 1) / part;
    if ((uint64_t)(size_t)part != part) {
        snprintf(err, errlen, "s3: PUT %s: part of %llu bytes too large", key,
                 (unsigned long long)part);
        return ERR_INVAL;
    }

    sbuf_init(&query);
    sbuf_init(&xml);
    snprintf(what, sizeof(what), "PUT %s (create multipart upload)", key);
    req_init(&r, "POST", key, what);
    r.query = "uploads=";  /* SigV4 canonical form of "?uploads" */
    r.content_type = content_type;
    rc = send_retry(s, &r, err, errlen);
    if (rc)
        goto err_free;
    if (!xml_text(r.resp.data, "UploadId", upload_id, sizeof(upload_id)) ||
        !upload_id[0]) {
        snprintf(err, errlen, "s3: %s: no UploadId in the reply", what);
        rc = ERR_IO;
        goto err_free;
    }

    etags = xcalloc(nparts, sizeof(*etags));
    buf = xmalloc((size_t)part);

    for (uint64_t i = 0; i < nparts; i++) {
        uint64_t off = i * part;
        size_t n = (size_t)(size - off < part ? size - off : part);
        rc = read_at(fd, buf, n, off, key, err, errlen);
        if (rc)
            goto err_abort;
        /* SigV4 wants the query sorted by name: partNumber < uploadId */
        sbuf_clear(&query);
        sbuf_addf(&query, "partNumber=%llu&uploadId=", (unsigned long long)(i + 1));
        add_encoded(&query, upload_id, false);
        snprintf(what, sizeof(what), "PUT %s (part %llu of %llu)", key,
                 (unsigned long long)(i + 1), (unsigned long long)nparts);
        sbuf_deinit(&r.resp);
        req_init(&r, "PUT", key, what);
        r.query = query.data;
        r.body = buf;
        r.body_len = n;
        rc = send_retry(s, &r, err, errlen);
        if (rc)
            goto err_abort;
        if (!r.etag[0]) {
            snprintf(err, errlen, "s3: %s: no ETag in the reply", what);
            rc = ERR_IO;
            goto err_abort;
        }
        memcpy(etags[i], r.etag, sizeof(r.etag));
    }

    sbuf_adds(&xml, "<CompleteMultipartUpload>");
    for (uint64_t i = 0; i < nparts; i++) {
        sbuf_addf(&xml, "<Part><PartNumber>%llu</PartNumber><ETag>",
                  (unsigned long long)(i + 1));
        xml_add_escaped(&xml, etags[i]);
        sbuf_adds(&xml, "</ETag></Part>");
    }
    sbuf_adds(&xml, "</CompleteMultipartUpload>");
    sbuf_clear(&query);
    sbuf_addf(&query, "uploadId=");
    add_encoded(&query, upload_id, false);
    snprintf(what, sizeof(what), "PUT %s (complete multipart upload)", key);
    sbuf_deinit(&r.resp);
    req_init(&r, "POST", key, what);
    r.query = query.data;
    r.body = xml.data;
    r.body_len = xml.len;
    r.content_type = "application/xml";
    rc = send_once(s, &r, err, errlen);
    if (rc == 0 && !strstr(r.resp.data, "<CompleteMultipartUploadResult")) {
        /* S3 may answer 200 and still fail the completion: the body says so
         * (InternalError and the like), and trying later can help. */
        char code[128] = "", msg[512] = "";
        xml_text(r.resp.data, "Code", code, sizeof(code));
        xml_text(r.resp.data, "Message", msg, sizeof(msg));
        snprintf(err, errlen, "s3: %s: %ld %s%s%s", what, r.status,
                 code[0] ? code : "without a CompleteMultipartUploadResult",
                 msg[0] ? ": " : "", msg);
        rc = ERR_IO;
    }
    if (rc)
        goto err_abort;
    goto out;

err_abort:
    sbuf_clear(&query);
    sbuf_addf(&query, "uploadId=");
    add_encoded(&query, upload_id, false);
    abort_upload(s, key, query.data);
out:
    free(buf);
    free(etags);
err_free:
    sbuf_deinit(&r.resp);
    sbuf_deinit(&xml);
    sbuf_deinit(&query);
    return rc;
}

int s3_put_file(struct s3 *s, const char *key, int fd, uint64_t size,
                const char *content_type, char *err, size_t errlen)
{
    int rc = check_key(key, err, errlen);
    if (rc)
        return rc;
    if (size > s->part_bytes)
        return put_multipart(s, key, fd, size, content_type, err, errlen);
    if ((uint64_t)(size_t)size != size) {
        snprintf(err, errlen, "s3: PUT %s: file too large", key);
        return ERR_INVAL;
    }
    char *buf = xmalloc((size_t)size);
    rc = read_at(fd, buf, (size_t)size, 0, key, err, errlen);
    if (rc == 0)
        rc = s3_put(s, key, buf, (size_t)size, content_type, err, errlen);
    free(buf);
    return rc;
}
