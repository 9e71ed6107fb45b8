/* Entity keys: the key table and its checkpoint, versions in records, EXPECT,
 * and versions that continue after reopening with and without a checkpoint. */
#include "test.h"

#include "errors.h"
#include "keytab.h"
#include "segment.h"
#include "store.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char dir_[300];

static const char *sdir(void)
{
    snprintf(dir_, sizeof(dir_), "%s/ev", test_dir());
    return dir_;
}

static struct store *open_store(uint64_t segsize)
{
    struct store_config cfg = {sdir(), segsize, 600000, 0, STORE_PREALLOC_DEFAULT};
    struct store *s = NULL;
    char err[256] = "";
    int rc = store_open(&s, &cfg, 6000, err, sizeof(err));
    if (rc)
        fprintf(stderr, "  open: %s\n", err);
    ASSERT_EQ_INT(0, rc);
    return s;
}

/* Publishes a keyed event; returns the store's code, *pos its position. */
static int pub(struct store *s, const char *type, const char *key, const char *id,
               int expect, uint64_t *pos, char *err, size_t errlen)
{
    struct store_pub p = {.type = type,
                          .type_len = strlen(type),
                          .id = id,
                          .id_len = id ? strlen(id) : 0,
                          .key = key,
                          .key_len = key ? strlen(key) : 0,
                          .payload = "payload",
                          .payload_len = 7,
                          .expect_set = expect >= 0,
                          .expect = expect >= 0 ? (uint64_t)expect : 0};
    int dup;
    return store_append(s, &p, 7000, pos, &dup, err, errlen);
}

static uint64_t version_of(struct store *s, const char *key)
{
    struct store_key k;
    return store_key(s, key, strlen(key), &k) ? k.version : 0;
}

static const char *tname(void *ctx, uint32_t id, size_t *len)
{
    (void)ctx;
    static const char *names[] = {"a.b", "c.d"};
    *len = strlen(names[id]);
    return names[id];
}

static uint32_t tid(void *ctx, const char *name, size_t len)
{
    (void)ctx;
    return len == 3 && memcmp(name, "c.d", 3) == 0;
}

static void table_round_trip(void)
{
    struct keytab *kt = keytab_new();
    char key[32];
    for (int i = 0; i < 50000; i++) {
        int n = snprintf(key, sizeof(key), "key-%d", i % 20000);
        const struct keytab_ent *e = keytab_find(kt, key, (size_t)n);
        keytab_put(kt, key, (size_t)n, e ? e->version + 1 : 1, (uint64_t)i + 1,
                   (uint32_t)(i & 1));
    }
    ASSERT_EQ_U64(20000, keytab_count(kt));
    ASSERT_EQ_U64(3, keytab_find(kt, "key-7", 5)->version); /* 7, 20007, 40007 */
    ASSERT_EQ_U64(40008, keytab_find(kt, "key-7", 5)->pos);
    ASSERT_TRUE(keytab_find(kt, "key-20000", 9) == NULL);
    char path[400], err[300];
    snprintf(path, sizeof(path), "%s/keys.ckpt", test_dir());
    ASSERT_EQ_INT(0, keytab_save(kt, 50000, test_dir(), path, tname, NULL, err,
                                 sizeof(err)));
    struct keytab *back = keytab_new();
    uint64_t upto = 0;
    ASSERT_EQ_INT(0, keytab_load(back, path, &upto, tid, NULL, err, sizeof(err)));
    ASSERT_EQ_U64(50000, upto);
    ASSERT_EQ_U64(20000, keytab_count(back));
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(key, sizeof(key), "key-%d", i);
        const struct keytab_ent *a = keytab_find(kt, key, (size_t)n);
        const struct keytab_ent *b = keytab_find(back, key, (size_t)n);
        ASSERT_TRUE(b != NULL);
        ASSERT_EQ_U64(a->version, b->version);
        ASSERT_EQ_U64(a->pos, b->pos);
        ASSERT_EQ_INT((int)a->type, (int)b->type);
    }
    /* one flipped byte anywhere is refused, and leaves the table empty */
    int fd = open(path, O_RDWR);
    off_t size = lseek(fd, 0, SEEK_END);
    for (off_t at = 0; at < size; at += size / 7 + 1) {
        uint8_t b;
        ASSERT_EQ_INT(1, (int)pread(fd, &b, 1, at));
        b ^= 0x10;
        ASSERT_EQ_INT(1, (int)pwrite(fd, &b, 1, at));
        ASSERT_EQ_INT(ERR_CORRUPT,
                      keytab_load(back, path, &upto, tid, NULL, err, sizeof(err)));
        ASSERT_EQ_U64(0, keytab_count(back));
        b ^= 0x10;
        ASSERT_EQ_INT(1, (int)pwrite(fd, &b, 1, at));
    }
    ASSERT_EQ_INT(0, ftruncate(fd, size - 1));
    close(fd);
    ASSERT_EQ_INT(ERR_CORRUPT, keytab_load(back, path, &upto, tid, NULL, err, sizeof(err)));
    unlink(path);
    ASSERT_EQ_INT(ERR_NOTFOUND, keytab_load(back, path, &upto, tid, NULL, err, sizeof(err)));
    keytab_free(back);
    keytab_free(kt);
}

static void record_version_round_trip(void)
{
    struct segment_record r = {.position = 9, .time_ms = 5, .entry_ms = 5,
                               .type = "t", .type_len = 1, .key = "k", .key_len = 1,
                               .version = 3, .prev = 4, .payload = "x",
                               .payload_len = 1};
    uint8_t buf[128];
    size_t size = segment_record_size(&r);
    ASSERT_TRUE(size <= sizeof(buf));
    segment_record_encode(&r, buf);
    struct segment_record d;
    size_t used;
    ASSERT_EQ_INT(0, segment_record_decode(buf, size, &d, &used));
    ASSERT_EQ_U64(3, d.version);
    ASSERT_EQ_U64(4, d.prev);
    ASSERT_EQ_MEM("k", 1, d.key, d.key_len);
    /* a previous position at or past the event's own is never written */
    r.prev = 9;
    segment_record_encode(&r, buf);
    ASSERT_EQ_INT(ERR_CORRUPT, segment_record_decode(buf, size, &d, &used));
    /* version 1 has no previous event */
    r.version = 1;
    r.prev = 4;
    segment_record_encode(&r, buf);
    ASSERT_EQ_INT(ERR_CORRUPT, segment_record_decode(buf, size, &d, &used));
    /* no key, no version */
    r.version = 0;
    r.key_len = 0;
    size = segment_record_size(&r);
    segment_record_encode(&r, buf);
    ASSERT_EQ_INT(0, segment_record_decode(buf, size, &d, &used));
    ASSERT_EQ_U64(0, d.version);
}

static void expect_and_dedup(void)
{
    struct store *s = open_store(1u << 20);
    char err[200];
    uint64_t pos, first;
    ASSERT_EQ_INT(0, pub(s, "a.b", "k", "id-1", 0, &first, err, sizeof(err)));
    ASSERT_EQ_INT(ERR_CONFLICT, pub(s, "a.b", "k", NULL, 0, &pos, err, sizeof(err)));
    ASSERT_EQ_STR("expected 0, key is at 1", err);
    ASSERT_EQ_INT(ERR_CONFLICT, pub(s, "a.b", "new", NULL, 4, &pos, err, sizeof(err)));
    ASSERT_EQ_STR("expected 4, key is at 0", err);
    /* a retry of the accepted publish is answered from dedup, EXPECT aside */
    ASSERT_EQ_INT(0, pub(s, "a.b", "k", "id-1", 0, &pos, err, sizeof(err)));
    ASSERT_EQ_U64(first, pos);
    ASSERT_EQ_INT(0, pub(s, "c.d", "k", NULL, 1, &pos, err, sizeof(err)));
    ASSERT_EQ_U64(2, version_of(s, "k"));
    ASSERT_EQ_U64(0, version_of(s, "new"));
    uint8_t *buf = NULL;
    size_t cap = 0;
    struct segment_record r;
    ASSERT_EQ_INT(0, store_get(s, pos, &r, &buf, &cap));
    ASSERT_EQ_U64(2, r.version);
    ASSERT_EQ_U64(first, r.prev);
    /* no key: no version */
    ASSERT_EQ_INT(0, pub(s, "a.b", NULL, NULL, -1, &pos, err, sizeof(err)));
    ASSERT_EQ_INT(0, store_get(s, pos, &r, &buf, &cap));
    ASSERT_EQ_U64(0, r.version);
    free(buf);
    store_close(s);
}

/* Small segments: many seals, each checkpointing the table; versions go on
 * after reopening, from the checkpoint and, with it removed, from the
 * records alone. */
static void versions_survive_reopen(void)
{
    struct store *s = open_store(4096);
    char err[200], key[16];
    uint64_t pos;
    for (int i = 0; i < 600; i++) {
        snprintf(key, sizeof(key), "k%d", i % 13);
        ASSERT_EQ_INT(0, pub(s, i % 3 ? "a.b" : "c.d", key, NULL, i / 13, &pos, err,
                             sizeof(err)));
    }
    store_close(s);
    char ckpt[400];
    snprintf(ckpt, sizeof(ckpt), "%s/keys.ckpt", sdir());
    ASSERT_EQ_INT(0, access(ckpt, F_OK));
    for (int round = 0; round < 2; round++) {
        s = open_store(4096);
        for (int k = 0; k < 13; k++) {
            snprintf(key, sizeof(key), "k%d", k);
            uint64_t want = (uint64_t)(600 / 13 + (k < 600 % 13) + round);
            ASSERT_EQ_U64(want, version_of(s, key));
            ASSERT_EQ_INT(0, pub(s, "a.b", key, NULL, (int)want, &pos, err,
                                 sizeof(err)));
        }
        store_close(s);
        unlink(ckpt); /* the second round rebuilds from the records */
    }
}

int main(int argc, char **argv)
{
    return test_main(argc, argv,
                     (struct test[]){T(table_round_trip), T(record_version_round_trip),
                                     T(expect_and_dedup), T(versions_survive_reopen),
                                     {0}});
}
