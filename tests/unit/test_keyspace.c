/* test_keyspace.c - Redis glob patterns, SCAN's cursor, and WATCH through the
 * command table, over an in-memory fake key class (no streams needed). */
#include "keyspace.h"

#include "client.h"
#include "command.h"
#include "config.h"
#include "glob.h"
#include "multi.h"
#include "test.h"

/* ---- glob ---- */

struct glob_case {
    const char *pat, *s;
    int nocase, want;
};

TEST(glob_redis_semantics)
{
    static const struct glob_case cases[] = {
        {"", "", 0, 1},
        {"*", "", 0, 0}, /* Redis: an empty subject only matches "" */
        {"", "a", 0, 0},
        {"?", "", 0, 0},
        {"*", "abc", 0, 1},
        {"a*c", "abc", 0, 1},
        {"a*c", "ab", 0, 0},
        {"a*b*c", "aXbYc", 0, 1},
        {"*a", "bbba", 0, 1},
        {"*a", "bbbb", 0, 0},
        {"a**", "a", 0, 1},
        {"h?llo", "hello", 0, 1},
        {"h?llo", "hllo", 0, 0},
        {"h[ae]llo", "hallo", 0, 1},
        {"h[ae]llo", "hillo", 0, 0},
        {"h[^e]llo", "hallo", 0, 1},
        {"h[^e]llo", "hello", 0, 0},
        {"h[a-b]llo", "hbllo", 0, 1},
        {"h[b-a]llo", "hallo", 0, 1}, /* ends in either order */
        {"h[a-c]llo", "hdllo", 0, 0},
        {"h\\*llo", "h*llo", 0, 1},
        {"h\\*llo", "hello", 0, 0},
        {"[\\]]", "]", 0, 1},
        {"[]", "a", 0, 0},
        {"[^]", "a", 0, 1},
        {"[", "[", 0, 0},
        {"[abc", "b", 0, 1}, /* an open set runs to the end */
        {"[abc", "d", 0, 0},
        {"x[ab", "xa", 0, 1},
        {"[a-]", "^", 0, 1}, /* Redis: the range a..] */
        {"[a-]", "-", 0, 0},
        {"a\\", "a\\", 0, 1}, /* a trailing backslash is literal */
        {"HELLO", "hello", 0, 0},
        {"HELLO", "hello", 1, 1},
        {"[A-Z]", "q", 1, 1},
        {"[\\A]", "a", 1, 0}, /* Redis: an escape in a set is exact */
        {"\\A", "a", 1, 1},
        {"user:*:name", "user:42:name", 0, 1},
        {"user:*:name", "user:42:age", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct glob_case *g = &cases[i];
        int got = glob_match(g->pat, strlen(g->pat), g->s, strlen(g->s),
                             g->nocase);
        if (got != g->want)
            fprintf(stderr, "  pattern '%s' subject '%s' nocase %d\n", g->pat,
                    g->s, g->nocase);
        ASSERT_EQ_INT(g->want, got);
    }
    /* binary: NUL bytes are ordinary */
    ASSERT_EQ_INT(1, glob_match("a?b", 3, "a\0b", 3, 0));
    ASSERT_EQ_INT(1, glob_match("a\0*", 3, "a\0xyz", 5, 0));
    /* no exponential time on a hostile pattern */
    char pat[201], s[2001];
    for (int i = 0; i < 200; i += 2) {
        pat[i] = 'a';
        pat[i + 1] = '*';
    }
    memset(s, 'a', 2000);
    ASSERT_EQ_INT(0, glob_match(pat, 200, s, 2000, 0) &&
                         glob_match("*b", 2, s, 2000, 0));
}

/* ---- a fake key class: keys in memory, per db ---- */

#define FAKE_MAX 4096

static struct {
    char *key[KEYSPACE_DBS][FAKE_MAX];
    size_t n[KEYSPACE_DBS];
    int dels, flushes;
} fake;

static int find_key(int db, const char *key, size_t n)
{
    for (size_t i = 0; i < fake.n[db]; i++)
        if (strlen(fake.key[db][i]) == n && !memcmp(fake.key[db][i], key, n))
            return (int)i;
    return -1;
}

static void fake_add(int db, const char *key)
{
    if (find_key(db, key, strlen(key)) >= 0)
        return;
    ASSERT_TRUE(fake.n[db] < FAKE_MAX);
    fake.key[db][fake.n[db]++] = strdup(key);
    keyspace_touch(db, key, strlen(key));
}

static int fake_exists(int db, const char *key, size_t n)
{
    return find_key(db, key, n) >= 0;
}

static int fake_del(struct client *c, int db, const char *key, size_t n)
{
    (void)c;
    int i = find_key(db, key, n);
    if (i < 0)
        return 0;
    free(fake.key[db][i]);
    fake.key[db][i] = fake.key[db][--fake.n[db]];
    fake.dels++;
    return 1;
}

static void fake_foreach(int db, keyspace_key_fn *fn, void *ctx)
{
    for (size_t i = 0; i < fake.n[db]; i++)
        fn(ctx, fake.key[db][i], strlen(fake.key[db][i]));
}

static uint64_t fake_count(int db)
{
    return fake.n[db];
}

static void fake_flush(struct client *c, int db)
{
    (void)c;
    fake.flushes++;
    for (int d = 0; d < KEYSPACE_DBS; d++) {
        if (db >= 0 && d != db)
            continue;
        for (size_t i = 0; i < fake.n[d]; i++)
            free(fake.key[d][i]);
        fake.n[d] = 0;
    }
    keyspace_touch(db, NULL, 0); /* ignored: keyspace_flush did it */
}

static const struct keyspace_class fake_class = {
    "fake", fake_exists, fake_del, fake_foreach, fake_count, fake_flush,
};

static void fake_reset(void)
{
    fake_flush(NULL, -1);
    fake.dels = fake.flushes = 0;
    keyspace_register(&fake_class);
}

/* ---- SCAN ---- */

struct seen {
    int count[FAKE_MAX]; /* by key number */
    uint64_t last_hash;
    int ordered;
    size_t step;
};

static void seen_key(void *ctx, const struct keyspace_class *k,
                     const char *key, size_t n)
{
    struct seen *s = ctx;
    ASSERT_TRUE(k == &fake_class);
    uint64_t h = keyspace_hash(key, n);
    if (s->step && h < s->last_hash)
        s->ordered = 0;
    s->last_hash = h;
    s->step++;
    int num = atoi(key + 2);
    ASSERT_TRUE(num >= 0 && num < FAKE_MAX);
    s->count[num]++;
}

static void add_num(int db, int i)
{
    char k[32];
    snprintf(k, sizeof(k), "k:%d", i);
    fake_add(db, k);
}

TEST(scan_returns_each_key_once_in_hash_order)
{
    fake_reset();
    for (int i = 0; i < 1000; i++)
        add_num(0, i);
    struct seen s = {.ordered = 1};
    uint64_t cursor = 0, prev = 0;
    int steps = 0;
    do {
        size_t before = s.step;
        cursor = keyspace_scan(0, cursor, 7, seen_key, &s);
        /* no equal hashes among 1000 keys: exactly count per step but the
         * last */
        ASSERT_TRUE(s.step - before <= 7);
        if (cursor)
            ASSERT_EQ_U64(7, s.step - before);
        ASSERT_TRUE(cursor == 0 || cursor > prev);
        prev = cursor;
        steps++;
    } while (cursor != 0 && steps < 1000);
    ASSERT_EQ_U64(0, cursor);
    ASSERT_EQ_INT((1000 + 6) / 7, steps);
    ASSERT_TRUE(s.ordered);
    for (int i = 0; i < 1000; i++)
        ASSERT_EQ_INT(1, s.count[i]);
    /* other dbs are empty; a cursor past the hash space ends at once */
    struct seen e = {.ordered = 1};
    ASSERT_EQ_U64(0, keyspace_scan(1, 0, 10, seen_key, &e));
    ASSERT_EQ_U64(0, e.step);
    ASSERT_EQ_U64(0, keyspace_scan(0, KEYSPACE_HASH_MAX + 1, 10, seen_key, &e));
    ASSERT_EQ_U64(0, e.step);
    /* a big COUNT takes everything in one step */
    struct seen all = {.ordered = 1};
    ASSERT_EQ_U64(0, keyspace_scan(0, 0, UINT64_MAX, seen_key, &all));
    ASSERT_EQ_U64(1000, all.step);
}

TEST(scan_keeps_its_guarantee_while_keys_change)
{
    fake_reset();
    for (int i = 0; i < 600; i++)
        add_num(0, i);
    struct seen s = {.ordered = 1};
    uint64_t cursor = 0;
    int steps = 0;
    do {
        cursor = keyspace_scan(0, cursor, 5, seen_key, &s);
        /* between steps: delete some of 300..599, add 600.. */
        char k[32];
        snprintf(k, sizeof(k), "k:%d", 300 + steps);
        fake_del(NULL, 0, k, strlen(k));
        add_num(0, 600 + steps);
        steps++;
    } while (cursor != 0 && steps < 2000);
    ASSERT_EQ_U64(0, cursor);
    for (int i = 0; i < 300 + steps && i < FAKE_MAX; i++) {
        if (i < 300 || (i >= 300 + steps && i < 600))
            ASSERT_EQ_INT(1, s.count[i]); /* there the whole time */
        else
            ASSERT_TRUE(s.count[i] <= 1); /* came or went: at most once */
    }
}

/* ---- WATCH / EXEC through the command table ---- */

static struct client *fake_client(uint64_t id)
{
    struct client *c = calloc(1, sizeof(*c));
    c->id = id;
    c->resp = 2;
    c->authenticated = 1;
    sbuf_init(&c->out);
    return c;
}

static void free_client(struct client *c)
{
    multi_reset(c);
    sbuf_deinit(&c->out);
    free(c);
}

/* Runs one command (words split at spaces) and returns its reply. */
static const char *run(struct client *c, const char *line)
{
    static char out[4096];
    char buf[512];
    struct arg argv[16];
    int argc = 0;
    snprintf(buf, sizeof(buf), "%s", line);
    for (char *p = strtok(buf, " "); p && argc < 16; p = strtok(NULL, " "))
        argv[argc++] = (struct arg){p, strlen(p)};
    size_t start = c->out.len;
    command_execute(c, argc, argv);
    size_t n = c->out.len - start;
    if (n >= sizeof(out))
        n = sizeof(out) - 1;
    memcpy(out, c->out.data + start, n);
    out[n] = '\0';
    return out;
}

TEST(watch_ends_on_a_write_delete_or_flush_of_an_existing_key)
{
    command_table_init();
    fake_reset();
    config_client_query_buffer_limit = 1 << 20;
    config_requirepass = (char *)""; /* no config loaded here */
    struct client *a = fake_client(1), *b = fake_client(2);

    /* a write by anyone */
    ASSERT_EQ_STR("+OK\r\n", run(a, "WATCH x"));
    fake_add(0, "x");
    ASSERT_EQ_STR("+OK\r\n", run(a, "MULTI"));
    ASSERT_EQ_STR("+QUEUED\r\n", run(a, "PING"));
    ASSERT_EQ_STR("*-1\r\n", run(a, "EXEC"));
    ASSERT_TRUE(!multi_watching()); /* EXEC unwatched */

    /* untouched: runs */
    ASSERT_EQ_STR("+OK\r\n", run(a, "WATCH x"));
    ASSERT_EQ_STR("+OK\r\n", run(a, "MULTI"));
    ASSERT_EQ_STR("+QUEUED\r\n", run(a, "ECHO hi"));
    ASSERT_EQ_STR("*1\r\n$2\r\nhi\r\n", run(a, "EXEC"));

    /* DEL from another client; RESP3 null */
    run(a, "HELLO 3");
    ASSERT_EQ_STR("+OK\r\n", run(a, "WATCH x"));
    ASSERT_EQ_STR(":1\r\n", run(b, "DEL x x"));
    ASSERT_EQ_INT(1, fake.dels);
    ASSERT_EQ_STR("+OK\r\n", run(a, "MULTI"));
    ASSERT_EQ_STR("+QUEUED\r\n", run(a, "PING"));
    ASSERT_EQ_STR("_\r\n", run(a, "EXEC"));
    run(a, "HELLO 2");

    /* a flush ends watches on keys that exist, not on missing ones */
    fake_add(0, "x");
    ASSERT_EQ_STR("+OK\r\n", run(a, "WATCH x missing"));
    ASSERT_EQ_STR("+OK\r\n", run(b, "FLUSHALL"));
    ASSERT_EQ_STR("+OK\r\n", run(a, "MULTI"));
    ASSERT_EQ_STR("*-1\r\n", run(a, "EXEC"));
    ASSERT_EQ_STR("+OK\r\n", run(a, "WATCH missing"));
    ASSERT_EQ_STR("+OK\r\n", run(b, "FLUSHALL"));
    ASSERT_EQ_STR("+OK\r\n", run(b, "FLUSHDB"));
    ASSERT_EQ_STR("+OK\r\n", run(a, "MULTI"));
    ASSERT_EQ_STR("*0\r\n", run(a, "EXEC"));

    /* FLUSHDB of another db leaves db 0's watch alone; SELECT is per db */
    fake_add(0, "x");
    fake_add(3, "x");
    ASSERT_EQ_STR("+OK\r\n", run(a, "WATCH x"));
    ASSERT_EQ_STR("+OK\r\n", run(b, "SELECT 3"));
    ASSERT_EQ_STR("+OK\r\n", run(b, "FLUSHDB"));
    ASSERT_EQ_INT(1, fake_exists(0, "x", 1));
    ASSERT_EQ_STR("+OK\r\n", run(a, "MULTI"));
    ASSERT_EQ_STR("*0\r\n", run(a, "EXEC"));

    /* UNWATCH forgets a touch; DISCARD unwatches */
    ASSERT_EQ_STR("+OK\r\n", run(a, "WATCH x"));
    fake_add(0, "x2");
    keyspace_touch(0, "x", 1);
    ASSERT_EQ_STR("+OK\r\n", run(a, "UNWATCH"));
    ASSERT_EQ_STR("+OK\r\n", run(a, "MULTI"));
    ASSERT_EQ_STR("*0\r\n", run(a, "EXEC"));
    ASSERT_EQ_STR("+OK\r\n", run(a, "WATCH x"));
    ASSERT_EQ_STR("+OK\r\n", run(a, "MULTI"));
    ASSERT_EQ_STR("+OK\r\n", run(a, "DISCARD"));
    ASSERT_TRUE(!multi_watching());

    /* a whole-db touch outside a flush ends every watch of that db */
    ASSERT_EQ_STR("+OK\r\n", run(a, "WATCH nothing-here"));
    keyspace_touch(0, NULL, 0);
    ASSERT_EQ_STR("+OK\r\n", run(a, "MULTI"));
    ASSERT_EQ_STR("*-1\r\n", run(a, "EXEC"));

    /* two watchers of one key, one leaves */
    ASSERT_EQ_STR("+OK\r\n", run(a, "WATCH x"));
    ASSERT_EQ_STR("+OK\r\n", run(b, "WATCH x"));
    ASSERT_EQ_STR("+OK\r\n", run(b, "UNWATCH"));
    keyspace_touch(0, "x", 1);
    ASSERT_EQ_STR("+OK\r\n", run(b, "MULTI"));
    ASSERT_EQ_STR("*0\r\n", run(b, "EXEC"));
    ASSERT_EQ_STR("+OK\r\n", run(a, "MULTI"));
    ASSERT_EQ_STR("*-1\r\n", run(a, "EXEC"));

    /* the key commands see the class */
    fake_reset();
    fake_add(0, "a1");
    fake_add(0, "b1");
    ASSERT_EQ_STR(":2\r\n", run(a, "DBSIZE"));
    ASSERT_EQ_STR(":3\r\n", run(a, "EXISTS a1 a1 b1 zz"));
    ASSERT_EQ_STR("+fake\r\n", run(a, "TYPE a1"));
    ASSERT_EQ_STR("+none\r\n", run(a, "TYPE zz"));
    ASSERT_EQ_STR("*1\r\n$2\r\na1\r\n", run(a, "KEYS a*"));
    ASSERT_EQ_STR("*2\r\n$1\r\n0\r\n*1\r\n$2\r\nb1\r\n",
                  run(a, "SCAN 0 MATCH b? COUNT 100 TYPE FAKE"));
    ASSERT_EQ_STR("*2\r\n$1\r\n0\r\n*0\r\n", run(a, "SCAN 0 TYPE stream"));

    /* queue-time errors abort EXEC; nesting and WATCH inside do not */
    ASSERT_EQ_STR("+OK\r\n", run(a, "MULTI"));
    ASSERT_EQ_STR("-ERR MULTI calls can not be nested\r\n", run(a, "MULTI"));
    ASSERT_EQ_STR("-ERR WATCH inside MULTI is not allowed\r\n",
                  run(a, "WATCH x"));
    ASSERT_EQ_STR("+QUEUED\r\n", run(a, "DBSIZE"));
    ASSERT_EQ_STR("*1\r\n:2\r\n", run(a, "EXEC"));
    ASSERT_EQ_STR("+OK\r\n", run(a, "MULTI"));
    run(a, "NOSUCHCOMMAND");
    run(a, "ECHO");
    ASSERT_EQ_STR("+QUEUED\r\n", run(a, "PING"));
    ASSERT_EQ_STR("-EXECABORT Transaction discarded because of previous "
                  "errors.\r\n", run(a, "EXEC"));
    ASSERT_EQ_STR("-ERR EXEC without MULTI\r\n", run(a, "EXEC"));
    ASSERT_EQ_STR("-ERR DISCARD without MULTI\r\n", run(a, "DISCARD"));

    /* the queue's byte bound dooms the transaction, never half runs it */
    config_client_query_buffer_limit = 4096;
    ASSERT_EQ_STR("+OK\r\n", run(a, "MULTI"));
    const char *r = "";
    int queued = 0;
    for (int i = 0; i < 1000; i++) {
        r = run(a, "ECHO 0123456789012345678901234567890123456789");
        if (strcmp(r, "+QUEUED\r\n") != 0)
            break;
        queued++;
    }
    ASSERT_TRUE(queued > 10 && queued < 1000);
    ASSERT_TRUE(strstr(r, "client-query-buffer-limit (4096 bytes)") != NULL);
    ASSERT_EQ_STR("+QUEUED\r\n", run(a, "PING")); /* still in MULTI */
    ASSERT_EQ_STR("-EXECABORT Transaction discarded because of previous "
                  "errors.\r\n", run(a, "EXEC"));
    config_client_query_buffer_limit = 1 << 20;

    /* RESET leaves MULTI and forgets watches */
    ASSERT_EQ_STR("+OK\r\n", run(a, "WATCH x"));
    ASSERT_EQ_STR("+OK\r\n", run(a, "MULTI"));
    ASSERT_EQ_STR("+RESET\r\n", run(a, "RESET"));
    ASSERT_TRUE(!multi_watching());
    ASSERT_EQ_STR("-ERR EXEC without MULTI\r\n", run(a, "EXEC"));

    free_client(a);
    free_client(b);
    fake_reset();
    keyspace_unregister(&fake_class);
    command_table_free();
}

int main(int argc, char **argv)
{
    return test_main(argc, argv,
                     (struct test[]){T(glob_redis_semantics),
                                     T(scan_returns_each_key_once_in_hash_order),
                                     T(scan_keeps_its_guarantee_while_keys_change),
                                     T(watch_ends_on_a_write_delete_or_flush_of_an_existing_key),
                                     {0}});
}
