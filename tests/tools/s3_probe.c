/* s3_probe - drives src/archive/s3.c from the command line for the integration tests.
 *
 *   s3_probe --endpoint URL --bucket B [--region R] [--part-bytes N]
 *            [--timeout-ms N] check | head KEY | put KEY FILE
 *
 * Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and
 * AWS_SESSION_TOKEN). On success prints one line on stdout ("ok",
 * "size=N etag=E"); on failure the error text on stderr. Exit codes say how the
 * call failed: 0 ok, 1 retryable (ERR_IO), 3 not found (ERR_NOTFOUND),
 * 4 refused (ERR_INVAL), 2 usage. Not a general S3 tool. */
#include "errors.h"
#include "s3.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int usage(void)
{
    fprintf(stderr, "usage: s3_probe --endpoint URL --bucket B [--region R] "
                    "[--part-bytes N] [--timeout-ms N] check | head KEY | put KEY FILE\n");
    return 2;
}

static int exit_code(int rc)
{
    switch (rc) {
    case 0: return 0;
    case ERR_IO: return 1;
    case ERR_NOTFOUND: return 3;
    case ERR_INVAL: return 4;
    default: return 5;
    }
}

int main(int argc, char **argv)
{
    struct s3_config cfg = {0};
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (i + 1 >= argc)
            return usage();
        const char *v = argv[i + 1];
        if (strcmp(argv[i], "--endpoint") == 0)
            cfg.endpoint = v;
        else if (strcmp(argv[i], "--bucket") == 0)
            cfg.bucket = v;
        else if (strcmp(argv[i], "--region") == 0)
            cfg.region = v;
        else if (strcmp(argv[i], "--part-bytes") == 0)
            cfg.part_bytes = strtoull(v, NULL, 10);
        else if (strcmp(argv[i], "--timeout-ms") == 0)
            cfg.timeout_ms = strtol(v, NULL, 10);
        else
            return usage();
    }
    if (i >= argc)
        return usage();
    const char *cmd = argv[i++];
    int nargs = argc - i;
    if (!((strcmp(cmd, "check") == 0 && nargs == 0) ||
          (strcmp(cmd, "head") == 0 && nargs == 1) ||
          (strcmp(cmd, "put") == 0 && nargs == 2)))
        return usage();

    char err[1024] = "";
    struct s3 *s = NULL;
    int rc = s3_new(&s, &cfg, err, sizeof(err));
    if (rc)
        goto out;
    if (strcmp(cmd, "check") == 0) {
        rc = s3_check(s, err, sizeof(err));
        if (rc == 0)
            printf("ok\n");
    } else if (strcmp(cmd, "head") == 0) {
        uint64_t size = 0;
        char etag[128] = "";
        rc = s3_head(s, argv[i], &size, etag, sizeof(etag), err, sizeof(err));
        if (rc == 0)
            printf("size=%llu etag=%s\n", (unsigned long long)size, etag);
    } else {
        int fd = open(argv[i + 1], O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            snprintf(err, sizeof(err), "s3_probe: %s: %s", argv[i + 1], strerror(errno));
            if (fd >= 0)
                close(fd);
            rc = ERR_IO;
            goto out;
        }
        rc = s3_put_file(s, argv[i], fd, (uint64_t)st.st_size,
                         "application/octet-stream", err, sizeof(err));
        close(fd);
        if (rc == 0)
            printf("ok\n");
    }
out:
    s3_free(s);
    if (rc)
        fprintf(stderr, "%s\n", err);
    return exit_code(rc);
}
