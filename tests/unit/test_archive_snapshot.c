/* test_archive_snapshot.c - snapshot batches (archive.h): one Parquet file
 * per snapshot, named by the snapshot's name, its position and the SHA-256 of
 * its bytes, with the event columns plus version, read back with the CLI's
 * Parquet reader. */
#include "archive.h"

#include <dirent.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include "errors.h"
#include "parquet_read.h"
#include "test.h"

static char root_[300];

static const char *root(void)
{
    snprintf(root_, sizeof(root_), "%s/arch", test_dir());
    return root_;
}

static struct archive_target *open_target(void)
{
    struct archive_target_config tc = {0};
    tc.url = root();
    tc.staging_name = ".staging/snapshots";
    struct archive_target *t = NULL;
    char err[600] = "";
    int rc = archive_target_open(&t, &tc, err, sizeof(err));
    if (rc)
        fprintf(stderr, "  open: %s\n", err);
    ASSERT_EQ_INT(0, rc);
    return t;
}

/* A keyed event at pos with version v (0 = none, and then no key). */
static struct segment_record event(uint64_t pos, uint64_t v, const char *key,
                                   const char *payload)
{
    struct segment_record r = {0};
    r.position = pos;
    r.time_ms = 1700000000000ull + pos;
    r.type = "acct.opened";
    r.type_len = strlen(r.type);
    r.key = v ? key : NULL;
    r.key_len = v ? strlen(key) : 0;
    r.payload = payload;
    r.payload_len = strlen(payload);
    r.version = v;
    return r;
}

/* Writes a snapshot of name at p holding recs[0..n), puts it in place. */
static void export(struct archive_target *t, const char *name, uint64_t p,
                   const struct segment_record *recs, size_t n,
                   struct archive_batch_stats *st)
{
    struct archive_batch *b = NULL;
    char err[600] = "";
    int rc = archive_batch_new_snapshot(&b, t, NULL, name, strlen(name), p, err,
                                        sizeof(err));
    for (size_t i = 0; !rc && i < n; i++)
        rc = archive_batch_add(b, &recs[i], err, sizeof(err));
    if (!rc)
        rc = archive_batch_finish(b, err, sizeof(err));
    if (!rc)
        rc = archive_batch_commit(b, err, sizeof(err));
    if (rc)
        fprintf(stderr, "  export: %s\n", err);
    ASSERT_EQ_INT(0, rc);
    archive_batch_stats(b, st);
    archive_batch_free(b);
}

/* The one file in root/snapshots/name=<name>/: its name into out. */
static void only_file(const char *name, char *out, size_t outlen)
{
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/snapshots/name=%s", root(), name);
    DIR *d = opendir(dir);
    ASSERT_TRUE(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(out, outlen, "%s/%s", dir, e->d_name);
            n++;
        }
    closedir(d);
    ASSERT_EQ_INT(1, n);
}

/* The first 16 hex digits of the SHA-256 of the file at path. */
static void file_hash(const char *path, char hex[17])
{
    FILE *f = fopen(path, "rb");
    ASSERT_TRUE(f != NULL);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    unsigned char buf[4096], out[EVP_MAX_MD_SIZE];
    size_t k;
    while ((k = fread(buf, 1, sizeof(buf), f)) > 0)
        EVP_DigestUpdate(md, buf, k);
    fclose(f);
    unsigned len = 0;
    EVP_DigestFinal_ex(md, out, &len);
    EVP_MD_CTX_free(md);
    for (int i = 0; i < 8; i++)
        snprintf(hex + 2 * i, 3, "%02x", out[i]);
}

static void read_col(const char *path, const char *col,
                     struct parquet_read_result *res)
{
    char err[600] = "";
    int rc = parquet_read_column(path, col, res, err, sizeof(err));
    if (rc)
        fprintf(stderr, "  read %s: %s\n", col, err);
    ASSERT_EQ_INT(0, rc);
}

TEST(one_file_named_by_position_and_hash_with_versions)
{
    struct archive_target *t = open_target();
    struct segment_record recs[] = {
        event(3, 2, "a", "{\"n\":1}"),
        event(7, 1, "b", "{\"n\":2}"),
        event(12, 5, "c", "{\"n\":3}"),
    };
    struct archive_batch_stats st;
    export(t, "acct.v1:daily-x", 15, recs, 3, &st);
    ASSERT_EQ_U64(3, st.events);
    ASSERT_EQ_U64(1, st.committed_files);
    char path[1200], hex[17], want[1200];
    only_file("acct.v1:daily-x", path, sizeof(path));
    file_hash(path, hex);
    snprintf(want, sizeof(want),
             "%s/snapshots/name=acct.v1:daily-x/"
             "snapshot-00000000000000000015-%s.parquet",
             root(), hex);
    ASSERT_EQ_MEM(want, strlen(want), path, strlen(path));
    struct parquet_read_result res = {0};
    read_col(path, "position", &res);
    ASSERT_EQ_U64(3, res.count);
    ASSERT_EQ_INT(3, res.values[0]);
    ASSERT_EQ_INT(7, res.values[1]);
    ASSERT_EQ_INT(12, res.values[2]);
    parquet_read_result_free(&res);
    read_col(path, "version", &res);
    ASSERT_EQ_U64(3, res.count);
    ASSERT_EQ_INT(2, res.values[0]);
    ASSERT_EQ_INT(1, res.values[1]);
    ASSERT_EQ_INT(5, res.values[2]);
    parquet_read_result_free(&res);
    archive_target_free(t);
}

TEST(same_snapshot_again_is_the_same_file_and_is_skipped)
{
    struct archive_target *t = open_target();
    struct segment_record recs[] = {event(1, 1, "k", "x"),
                                    event(2, 4, "j", "y")};
    struct archive_batch_stats st;
    export(t, "s", 2, recs, 2, &st);
    ASSERT_EQ_U64(0, st.skipped_files);
    export(t, "s", 2, recs, 2, &st);
    ASSERT_EQ_U64(1, st.skipped_files);
    char path[1200];
    only_file("s", path, sizeof(path));
    archive_target_free(t);
}

TEST(no_keys_is_a_file_of_no_rows)
{
    struct archive_target *t = open_target();
    struct archive_batch_stats st;
    export(t, "empty", 40, NULL, 0, &st);
    ASSERT_EQ_U64(0, st.events);
    ASSERT_EQ_U64(1, st.committed_files);
    char path[1200];
    only_file("empty", path, sizeof(path));
    ASSERT_TRUE(strstr(path, "snapshot-00000000000000000040-") != NULL);
    struct parquet_read_result res = {0};
    read_col(path, "version", &res);
    ASSERT_EQ_U64(0, res.count);
    parquet_read_result_free(&res);
    archive_target_free(t);
}

TEST(an_event_without_version_has_a_null_version)
{
    struct archive_target *t = open_target();
    struct segment_record recs[] = {event(5, 0, "", "unkeyed")};
    struct archive_batch_stats st;
    export(t, "nulls", 5, recs, 1, &st);
    char path[1200], err[600] = "";
    only_file("nulls", path, sizeof(path));
    struct parquet_read_result res = {0};
    /* the reader refuses nulls, naming the row: the value is null */
    ASSERT_EQ_INT(ERR_INVAL,
                  parquet_read_column(path, "version", &res, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "null") != NULL);
    read_col(path, "position", &res);
    ASSERT_EQ_U64(1, res.count);
    parquet_read_result_free(&res);
    archive_target_free(t);
}

TEST(event_batches_keep_their_columns_and_names)
{
    /* an event batch beside a snapshot: no version column, Hive layout */
    struct archive_target *t = open_target();
    struct archive_batch *b = NULL;
    char err[600] = "";
    ASSERT_EQ_INT(0, archive_batch_new(&b, t, NULL, NULL, err, sizeof(err)));
    struct segment_record r = event(9, 3, "k", "p");
    ASSERT_EQ_INT(0, archive_batch_add(b, &r, err, sizeof(err)));
    ASSERT_EQ_INT(0, archive_batch_finish(b, err, sizeof(err)));
    ASSERT_EQ_INT(0, archive_batch_commit(b, err, sizeof(err)));
    archive_batch_free(b);
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/events/date=2023-11-14/type=acct.opened",
             root());
    DIR *d = opendir(dir);
    ASSERT_TRUE(d != NULL);
    struct dirent *e;
    char path[1200] = "";
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    closedir(d);
    struct parquet_read_result res = {0};
    ASSERT_EQ_INT(ERR_NOTFOUND,
                  parquet_read_column(path, "version", &res, err, sizeof(err)));
    read_col(path, "position", &res);
    ASSERT_EQ_U64(1, res.count);
    parquet_read_result_free(&res);
    archive_target_free(t);
}

int main(int argc, char **argv)
{
    return test_main(
        argc, argv,
        (struct test[]){T(one_file_named_by_position_and_hash_with_versions),
                        T(same_snapshot_again_is_the_same_file_and_is_skipped),
                        T(no_keys_is_a_file_of_no_rows),
                        T(an_event_without_version_has_a_null_version),
                        T(event_batches_keep_their_columns_and_names),
                        {0}});
}
