/* test_strmm.c - TAP tests for the string min/max state (agg/strmm.h) and
 * its life in the group table: bytewise order, merges that are associative
 * and commutative byte for byte, empty and NULL-only groups, strings at
 * the cap and past it, invalid UTF-8, and packing round trips (what ranks
 * exchange and checkpoints hold) against a table built in one pass. */
#include "agg/group.h"
#include "agg/strmm.h"

#include "tap.h"

#include <stdint.h>
#include <stdlib.h>

static uint64_t rng_state = UINT64_C(0x9E3779B97F4A7C15);

static uint64_t rnd(void)    /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

/* A random string of 0..maxlen bytes from a small alphabet (prefixes and
 * ties are frequent) with a two-byte UTF-8 letter now and then. */
static size_t rnd_str(char *out, size_t maxlen)
{
    static const char *const parts[] = {"a", "b", "ab", "", "z", "\xc3\xa9", " ", ",", "\""};
    size_t len = 0, n = (size_t)(rnd() % (maxlen + 1));

    while (len < n) {
        const char *p = parts[rnd() % MB_ARRAY_LEN(parts)];
        size_t l = strlen(p);
        if (len + l > maxlen)
            break;
        memcpy(out + len, p, l);
        len += l;
    }
    return len;
}

static int same(const mb_strmm *a, const mb_strmm *b)
{
    if (mb_strmm_has(a) != mb_strmm_has(b))
        return 0;
    return !mb_strmm_has(a) ||
           (a->minlen == b->minlen && a->maxlen == b->maxlen &&
            memcmp(a->min, b->min, a->minlen) == 0 && memcmp(a->max, b->max, a->maxlen) == 0);
}

static void test_order(void)
{
    ok(mb_strmm_cmp("a", 1, "b", 1) < 0 && mb_strmm_cmp("b", 1, "a", 1) > 0, "bytewise");
    ok(mb_strmm_cmp("ab", 2, "abc", 3) < 0 && mb_strmm_cmp("", 0, "a", 1) < 0,
       "a prefix (and the empty string) comes first");
    ok(mb_strmm_cmp("Z", 1, "a", 1) < 0 && mb_strmm_cmp("z", 1, "\xc3\xa9", 2) < 0,
       "upper case before lower case, ASCII before UTF-8 multi-byte (code point order)");
    ok(mb_strmm_cmp("\xc3\xa9", 2, "\xc3\xa9", 2) == 0, "equal strings");
}

static void test_state(void)
{
    mb_strmm s, t, u;
    mb_err e = {0};
    size_t grew = 0;

    memset(&s, 0, sizeof s);
    memset(&t, 0, sizeof t);
    memset(&u, 0, sizeof u);
    ok(!mb_strmm_has(&s), "a new state is empty");
    ok(mb_strmm_merge(&s, &t, NULL, &e) == MB_OK && !mb_strmm_has(&s),
       "empty (+) empty is empty");
    ok(mb_strmm_add(&s, "", 0, &grew, &e) == MB_OK && mb_strmm_has(&s) && s.minlen == 0 &&
           s.maxlen == 0 && grew > 0,
       "the empty string is a value, not NULL");
    ok(mb_strmm_add(&s, "m", 1, &grew, &e) == MB_OK && s.minlen == 0 && s.maxlen == 1,
       "min '' max 'm'");
    ok(mb_strmm_merge(&t, &s, NULL, &e) == MB_OK && same(&t, &s), "empty (+) s is s");
    ok(mb_strmm_merge(&s, &u, NULL, &e) == MB_OK && same(&t, &s), "s (+) empty is s");
    ok(mb_strmm_add(&s, "z\xff", 2, NULL, &e) == MB_EDATA && strstr(e.msg, "UTF-8") &&
           s.maxlen == 1,
       "a new max that is not UTF-8 is refused, the state unchanged (%s)", e.msg);
    ok(mb_strmm_add(&s, "z\0b", 3, NULL, &e) == MB_EDATA, "a NUL byte is refused");
    ok(mb_strmm_add(&s, "c\xff", 2, NULL, &e) == MB_OK,
       "a value that is neither min nor max is only compared");
    mb_strmm_fini(&s);
    mb_strmm_fini(&t);
    mb_strmm_fini(NULL);
    ok(!mb_strmm_has(&s), "fini leaves an empty state; fini(NULL) is fine");
}

/* Random values split into three parts: ((a+b)+c), (a+(b+c)), (c+(b+a))
 * and one pass over all values give the same bytes. */
static void test_merge_laws(void)
{
    int fails = 0;
    mb_err e = {0};

    for (int round = 0; round < 300; round++) {
        mb_strmm part[3], all, x, y, z, w;
        memset(part, 0, sizeof part);
        memset(&all, 0, sizeof all);
        memset(&x, 0, sizeof x);
        memset(&y, 0, sizeof y);
        memset(&z, 0, sizeof z);
        memset(&w, 0, sizeof w);
        int n = (int)(rnd() % 12);
        for (int i = 0; i < n; i++) {
            char buf[40];
            size_t len = rnd_str(buf, sizeof buf);
            fails += mb_strmm_add(&part[rnd() % 3], buf, len, NULL, &e) != MB_OK;
            fails += mb_strmm_add(&all, buf, len, NULL, &e) != MB_OK;
        }
        /* x = (a + b) + c */
        mb_strmm_merge(&x, &part[0], NULL, &e);
        mb_strmm_merge(&x, &part[1], NULL, &e);
        mb_strmm_merge(&x, &part[2], NULL, &e);
        /* y = a + (b + c) */
        mb_strmm_merge(&z, &part[1], NULL, &e);
        mb_strmm_merge(&z, &part[2], NULL, &e);
        mb_strmm_merge(&y, &part[0], NULL, &e);
        mb_strmm_merge(&y, &z, NULL, &e);
        /* w = c + (b + a) */
        mb_strmm_merge(&w, &part[2], NULL, &e);
        mb_strmm_merge(&w, &part[1], NULL, &e);
        mb_strmm_merge(&w, &part[0], NULL, &e);
        fails += !same(&x, &all) || !same(&y, &all) || !same(&w, &all);
        fails += n == 0 && mb_strmm_has(&all);
        for (int i = 0; i < 3; i++)
            mb_strmm_fini(&part[i]);
        mb_strmm_fini(&all);
        mb_strmm_fini(&x);
        mb_strmm_fini(&y);
        mb_strmm_fini(&z);
        mb_strmm_fini(&w);
    }
    ok(fails == 0, "300 random splits: merges are associative and commutative and equal one "
       "pass (%d failures)", fails);
}

static void test_cap(void)
{
    char *big = malloc(MB_STRMM_MAX + 1);
    mb_strmm s;
    mb_err e = {0};

    memset(&s, 0, sizeof s);
    if (!big) {
        ok(0, "memory for the cap test");
        return;
    }
    memset(big, 'q', MB_STRMM_MAX + 1);
    ok(mb_strmm_add(&s, big, MB_STRMM_MAX, NULL, &e) == MB_OK && s.maxlen == MB_STRMM_MAX,
       "a string of exactly MB_STRMM_MAX bytes is kept whole");
    big[0] = 'r';
    ok(mb_strmm_add(&s, big, MB_STRMM_MAX + 1, NULL, &e) == MB_ELIMIT && strstr(e.msg, "cap") &&
           s.maxlen == MB_STRMM_MAX && s.max[0] == 'q',
       "one byte more is refused, not cut (%s)", e.msg);
    mb_strmm_fini(&s);
    free(big);
}

/* Group tables with a string accumulator between numeric ones. */
#define NACC 3
static const unsigned needs[NACC] = {MB_NEED_SUM, MB_NEED_STR, MB_NEED_STR};

static int add_row(mb_groups *g, const char *key, const char *s, size_t len, int null)
{
    size_t gi;
    mb_err e = {0};
    mb_dec d = {1, 0, 0};
    if (mb_groups_get(g, key, strlen(key), mb_groups_hash(key, strlen(key)), &gi, &e) != MB_OK)
        return -1;
    mb_groups_rec(g, gi)->rows++;
    if (mb_groups_add(g, gi, 0, &d, &e) != MB_OK)
        return -1;
    if (!null && mb_groups_add_str(g, gi, 1, s, len, &e) != MB_OK)
        return -1;
    return 0;                     /* accumulator 2 stays NULL-only */
}

/* Whether two tables hold the same groups with the same states. */
static int tables_equal(const mb_groups *a, const mb_groups *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        const char *k = mb_groups_key(a, i);
        size_t kl = mb_groups_klen(a, i), j;
        mb_err e = {0};
        mb_numstate x, y;
        if (mb_groups_get((mb_groups *)b, k, kl, mb_groups_hash(k, kl), &j, &e) != MB_OK ||
            b->n != a->n || mb_groups_rec(a, i)->rows != mb_groups_rec(b, j)->rows)
            return 0;
        for (size_t c = 0; c < NACC; c++) {
            const mb_strmm *s = mb_groups_str(a, i, c), *t = mb_groups_str(b, j, c);
            mb_groups_state(a, i, c, &x);
            mb_groups_state(b, j, c, &y);
            if (x.n != y.n || memcmp(&x.sum, &y.sum, sizeof x.sum) != 0)
                return 0;
            if ((needs[c] & MB_NEED_STR) && !((!s && !t) || (s && t && same(s, t))))
                return 0;
        }
    }
    return 1;
}

static void test_groups(void)
{
    mb_groups one, part[4], merged;
    mb_buf b;
    mb_err e = {0};
    int bad = 0;
    char *big = malloc(70000);

    mb_groups_init(&one, needs, NACC, SIZE_MAX);
    mb_groups_init(&merged, needs, NACC, SIZE_MAX);
    for (int i = 0; i < 4; i++)
        mb_groups_init(&part[i], needs, NACC, SIZE_MAX);
    memset(big, 'x', 70000);
    for (int i = 0; i < 2000; i++) {
        char key[8], s[40];
        int null = rnd() % 5 == 0;
        size_t len = rnd_str(s, sizeof s);
        const char *p = s;
        snprintf(key, sizeof key, "k%d", (int)(rnd() % 37));
        if (i % 500 == 7) {
            p = big;
            len = 70000;          /* long strings pass the u16 range and the inline key */
        }
        if (strcmp(key, "k0") == 0)
            null = 1;             /* one group sees only NULLs */
        bad += add_row(&one, key, p, len, null) != 0;
        bad += add_row(&part[rnd() % 4], key, p, len, null) != 0;
    }
    /* a group with a single value (and one with the empty string) */
    bad += add_row(&one, "single", "only", 4, 0) != 0;
    bad += add_row(&part[2], "single", "only", 4, 0) != 0;
    bad += add_row(&one, "empty", "", 0, 0) != 0;
    bad += add_row(&part[1], "empty", "", 0, 0) != 0;
    ok(bad == 0, "2000 rows into one table and into four");
    {
        size_t gi;
        int found = mb_groups_get(&one, "k0", 2, mb_groups_hash("k0", 2), &gi, &e) == MB_OK;
        mb_numstate ns;
        mb_groups_state(&one, gi, 1, &ns);
        ok(found && !mb_groups_str(&one, gi, 1) && ns.n == 0 && !mb_groups_str(&one, gi, 2),
           "a NULL-only group has no strings and n 0");
    }
    /* the four parts packed, unpacked and merged in two orders */
    mb_buf_init(&b, (size_t)1 << 30);
    for (int i = 3; i >= 0; i--)
        for (size_t gi = 0; gi < part[i].n; gi++)
            bad += mb_groups_pack(&part[i], gi, &b) != MB_OK;
    bad += mb_groups_unpack_merge(&merged, b.p, b.len, &e) != MB_OK;
    ok(bad == 0 && tables_equal(&one, &merged) && tables_equal(&merged, &one),
       "pack, unpack and merge of four parts equals one pass (%s)", e.msg);
    /* a packed table read back into an empty one is the same table */
    {
        mb_groups again;
        mb_buf b2;
        mb_groups_init(&again, needs, NACC, SIZE_MAX);
        mb_buf_init(&b2, (size_t)1 << 30);
        for (size_t gi = 0; gi < one.n; gi++)
            mb_groups_pack(&one, gi, &b2);
        ok(mb_groups_unpack_merge(&again, b2.p, b2.len, &e) == MB_OK &&
               tables_equal(&one, &again),
           "packing round trip");
        ok(mb_groups_unpack_merge(&again, b2.p, b2.len - 1, &e) == MB_EDATA,
           "a packed table cut short is malformed");
        mb_buf_fini(&b2);
        mb_groups_fini(&again);
    }
    /* merge_one, as results --merge does it */
    {
        mb_groups m;
        mb_numstate src[NACC];
        mb_strmm ss[NACC];
        size_t gi;
        memset(src, 0, sizeof src);
        memset(ss, 0, sizeof ss);
        mb_groups_init(&m, needs, NACC, SIZE_MAX);
        src[1].n = 2;
        mb_strmm_add(&ss[1], "b", 1, NULL, &e);
        mb_strmm_add(&ss[1], "d", 1, NULL, &e);
        ok(mb_groups_merge_one(&m, "k", 1, 2, src, ss, NULL, &e) == MB_OK &&
               mb_groups_merge_one(&m, "k", 1, 2, src, ss, NULL, &e) == MB_OK &&
               mb_groups_get(&m, "k", 1, mb_groups_hash("k", 1), &gi, &e) == MB_OK &&
               mb_groups_acc(&m, gi, 1)->n == 4 && mb_groups_str(&m, gi, 1)->minlen == 1 &&
               !mb_groups_str(&m, gi, 2),
           "merge_one adds counts and keeps the strings");
        src[2].n = 1;             /* a count without strings */
        ok(mb_groups_merge_one(&m, "k", 1, 1, src, ss, NULL, &e) == MB_EDATA,
           "a state whose count and strings disagree is refused (%s)", e.msg);
        mb_strmm_fini(&ss[1]);
        mb_groups_fini(&m);
    }
    /* the memory cap counts the strings */
    {
        mb_groups small;
        size_t gi;
        mb_status st = MB_OK;
        mb_groups_init(&small, needs, NACC, (size_t)1 << 20);
        for (int i = 0; i < 64 && st == MB_OK; i++) {
            char key[8];
            snprintf(key, sizeof key, "g%d", i);
            st = mb_groups_get(&small, key, strlen(key), mb_groups_hash(key, strlen(key)), &gi,
                               &e);
            big[0] = (char)('a' + i % 26);
            if (st == MB_OK)
                st = mb_groups_add_str(&small, gi, 1, big, 70000, &e);
        }
        ok(st == MB_ELIMIT && strstr(e.msg, "memory cap"), "strings count against the table's "
           "memory cap (%s)", e.msg);
        mb_groups_fini(&small);
    }
    mb_buf_fini(&b);
    free(big);
    mb_groups_fini(&one);
    mb_groups_fini(&merged);
    for (int i = 0; i < 4; i++)
        mb_groups_fini(&part[i]);
}

int main(void)
{
    test_order();
    test_state();
    test_merge_laws();
    test_cap();
    test_groups();
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}
