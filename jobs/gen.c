/* gen.c - seeded generator of sample CSV data for the demo, the tests and
 * the benchmark. The same seed gives the same bytes on every machine (its
 * own PRNG, integer arithmetic only). Writes to stdout; knows nothing of
 * mpibatch itself.
 *
 * Profiles:
 *   flights  realistic flight records: carrier, origin, delays with NULLs,
 *            distance, air time (one decimal), quoted remarks that hold
 *            commas, doubled quotes and newlines
 *   stress   edge cases for exactness: text keys with commas, quotes and
 *            newlines, many integer keys, NULLs, negative and huge integers
 *            (sums past 64 bits), decimals of mixed scale and exponents
 *   groupby  a db-benchmark-like table: id1..id6 keys, v1..v3 values
 *   groupby-quoted  the same keys and values, some keys quoted, plus a
 *            quoted note column holding commas, doubled quotes and newlines
 *   groupby-wide  a 40-column table: id1, id2, id3, v1, v3 as in groupby,
 *            scattered among 35 filler columns (integers, decimals, text) */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t n)
{
    return n ? rnd() % n : 0;
}

static const char *const airports[] = {
    "ATL", "LAX", "ORD", "DFW", "DEN", "JFK", "SFO", "SEA", "LAS", "MCO", "EWR", "CLT",
    "PHX", "IAH", "MIA", "BOS", "MSP", "FLL", "DTW", "PHL", "LGA", "BWI", "SLC", "SAN",
    "IAD", "DCA", "MDW", "TPA", "PDX", "HNL", "STL", "BNA", "AUS", "OAK", "MSY", "RDU",
    "SJC", "SMF", "SNA", "DAL", "HOU", "MCI", "SAT", "RSW", "CLE", "IND", "PIT", "CMH",
    "CVG", "JAX", "OGG", "ANC", "BDL", "ONT", "BUR", "ABQ", "BUF", "OMA", "RIC", "ELP"};
static const char *const carriers[] = {"AA", "DL", "UA", "WN", "B6", "AS", "NK",
                                       "F9", "HA", "G4", "SY", "MQ"};
static const char *const remarks[] = {
    "", "", "", "", "", "", "\"Late inbound aircraft\"", "\"Weather, ground stop\"",
    "\"Crew said \"\"on time\"\"\"", "\"Gate change\nsee board\"", "\"Maintenance, \"\"minor\"\"\"",
    "ATC hold", "\"Diverted, then\r\nreturned\""};

static void gen_flights(uint64_t rows)
{
    uint64_t i;
    puts("date,carrier,flight,origin,dest,dep_delay,arr_delay,distance,air_time,remarks");
    for (i = 0; i < rows; i++) {
        unsigned o = (unsigned)below(60), d = (unsigned)below(60);
        int64_t dep = (int64_t)below(100) < 70 ? (int64_t)below(25) - 10
                                                : (int64_t)below(400) - 20;
        int64_t arr = dep + (int64_t)below(41) - 20;
        uint64_t dist = 150 + below(2800);
        printf("2026-%02u-%02u,%s,%u,%s,%s,", (unsigned)(1 + below(12)),
               (unsigned)(1 + below(28)), carriers[below(12)], (unsigned)(100 + below(9000)),
               airports[o], airports[d == o ? (d + 1) % 60 : d]);
        if (below(100) < 3)
            fputs(",", stdout);
        else
            printf("%" PRId64 ",", dep);
        if (below(100) < 4)
            fputs(",", stdout);
        else
            printf("%" PRId64 ",", arr);
        printf("%" PRIu64 ",%" PRIu64 ".%u,%s\n", dist, dist / 8 + 20 + below(30),
               (unsigned)below(10), remarks[below(LEN(remarks))]);
    }
}

static const char *const text_keys[] = {
    "alpha", "beta", "", "\"with, comma\"", "\"say \"\"hi\"\"\"", "\"two\nlines\"",
    "\"crlf\r\ninside\"", "caf\xc3\xa9", "gamma", "x\"y", "\" lead space\"", "ZETA"};

/* A decimal with 0..6 places, sometimes in exponent form. */
static void put_decimal(void)
{
    int64_t m = (int64_t)below(2000000001) - 1000000000;
    unsigned scale = (unsigned)below(7);
    uint64_t a = (uint64_t)(m < 0 ? -m : m), p = 1;
    unsigned k;

    for (k = 0; k < scale; k++)
        p *= 10;
    if (below(20) == 0) {
        printf("%s%" PRIu64 "e-%u", m < 0 ? "-" : "", a, scale + 2);
        return;
    }
    if (scale == 0)
        printf("%s%" PRIu64 ".0", m < 0 ? "-" : "", a);
    else
        printf("%s%" PRIu64 ".%0*" PRIu64, m < 0 ? "-" : "", a / p, (int)scale, a % p);
}

static void gen_stress(uint64_t rows, uint64_t groups)
{
    uint64_t i;
    puts("k1,k2,i,f,big,note");
    for (i = 0; i < rows; i++) {
        printf("%s,%" PRIu64 ",", text_keys[below(LEN(text_keys))], below(groups));
        if (below(10) == 0)
            fputs(",", stdout);
        else
            printf("%" PRId64 ",", (int64_t)below(2000001) - 1000000);
        if (below(10) == 0)
            fputs("", stdout);
        else
            put_decimal();
        fputs(",", stdout);
        if (below(8) == 0)
            fputs(",", stdout);
        else
            printf("%s%" PRIu64 ",", below(2) ? "-" : "", (uint64_t)(4000000000000000000ull + below(1000000)));
        puts(below(5) == 0 ? "\"free text, \"\"quoted\"\"\nacross lines\"" : "plain");
    }
}

/* Cardinality of id3 and id6: --high N, else rows / K as in db-benchmark. */
static uint64_t high_card;

static uint64_t high_of(uint64_t rows, uint64_t k)
{
    if (high_card)
        return high_card;
    return rows / k ? rows / k : 1;
}

static void gen_groupby(uint64_t rows, uint64_t k)
{
    uint64_t i, n3 = high_of(rows, k);
    puts("id1,id2,id3,id4,id5,id6,v1,v2,v3");
    for (i = 0; i < rows; i++) {
        uint64_t v3 = below(10000000);
        printf("id%03" PRIu64 ",id%03" PRIu64 ",id%010" PRIu64 ",%" PRIu64 ",%" PRIu64
               ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ".%06" PRIu64 "\n",
               1 + below(k), 1 + below(k), 1 + below(n3), 1 + below(k),
               1 + below(k), 1 + below(n3), 1 + below(5), 1 + below(15),
               v3 / 100000, (v3 % 100000) * 10);
    }
}

static const char *const notes[] = {
    "plain", "\"late, then early\"", "\"two\nlines, one comma\"", "\"say \"\"hi\"\", twice\"",
    "\"crlf\r\ninside, too\"", "\"a,b,c\nd,e\"", "\"\"", "short"};

/* One key field "id%0*u", quoted in about half the rows (same value). */
static void put_key(unsigned width, uint64_t v, const char *sep)
{
    if (below(2))
        printf("\"id%0*" PRIu64 "\"%s", (int)width, v, sep);
    else
        printf("id%0*" PRIu64 "%s", (int)width, v, sep);
}

/* groupby's columns and value distributions, with quoting that a parser
 * splitting on commas and newlines gets wrong. */
static void gen_groupby_quoted(uint64_t rows, uint64_t k)
{
    uint64_t i, n3 = high_of(rows, k);
    puts("id1,id2,id3,id4,id5,id6,note,v1,v2,v3");
    for (i = 0; i < rows; i++) {
        uint64_t v3 = below(10000000);
        put_key(3, 1 + below(k), ",");
        put_key(3, 1 + below(k), ",");
        put_key(10, 1 + below(n3), ",");
        printf("%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64
               ".%06" PRIu64 "\n",
               1 + below(k), 1 + below(k), 1 + below(n3), notes[below(LEN(notes))],
               1 + below(5), 1 + below(15), v3 / 100000, (v3 % 100000) * 10);
    }
}

#define WIDE_COLS 40

/* Column numbers (1-based) of the columns the benchmark queries use. */
enum { WIDE_ID1 = 3, WIDE_ID2 = 11, WIDE_ID3 = 17, WIDE_V1 = 24, WIDE_V3 = 35 };

static void put_wide_filler(unsigned c)
{
    switch (c % 4) {
    case 0:
        printf("%" PRIu64, below(100000));
        break;
    case 1:
        printf("%" PRIu64 ".%02" PRIu64, below(1000), below(100));
        break;
    case 2:
        printf("%s", airports[below(LEN(airports))]);
        break;
    default:
        printf("%" PRId64, (int64_t)below(2001) - 1000);
        break;
    }
}

static void gen_groupby_wide(uint64_t rows, uint64_t k)
{
    uint64_t i, n3 = high_of(rows, k);
    unsigned c;
    for (c = 1; c <= WIDE_COLS; c++) {
        const char *name = c == WIDE_ID1 ? "id1" : c == WIDE_ID2 ? "id2" : c == WIDE_ID3 ? "id3"
                         : c == WIDE_V1  ? "v1"  : c == WIDE_V3  ? "v3"  : NULL;
        if (name)
            printf("%s%s", name, c < WIDE_COLS ? "," : "\n");
        else
            printf("c%02u%s", c, c < WIDE_COLS ? "," : "\n");
    }
    for (i = 0; i < rows; i++) {
        for (c = 1; c <= WIDE_COLS; c++) {
            uint64_t v3;
            switch (c) {
            case WIDE_ID1:
            case WIDE_ID2:
                printf("id%03" PRIu64, 1 + below(k));
                break;
            case WIDE_ID3:
                printf("id%010" PRIu64, 1 + below(n3));
                break;
            case WIDE_V1:
                printf("%" PRIu64, 1 + below(5));
                break;
            case WIDE_V3:
                v3 = below(10000000);
                printf("%" PRIu64 ".%06" PRIu64, v3 / 100000, (v3 % 100000) * 10);
                break;
            default:
                put_wide_filler(c);
                break;
            }
            putchar(c < WIDE_COLS ? ',' : '\n');
        }
    }
}

static int usage(void)
{
    fputs("usage: mpibatch-gen [--profile flights|stress|groupby|groupby-quoted|groupby-wide]\n"
          "                    [--rows N] [--seed S] [--groups K] [--bytes N] [--high N]\n"
          "Writes seeded CSV data to stdout. --bytes N (groupby*) sets rows from a target\n"
          "size (about 45, 66 and 223 bytes a row); --groups sets the key cardinality;\n"
          "--high N (groupby*) the cardinality of id3 and id6 (default rows / K).\n",
          stderr);
    return 64;
}

static int num_arg(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (!s || *s < '0' || *s > '9')
        return -1;
    v = strtoull(s, &end, 10);
    if (*end)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    const char *profile = "flights";
    uint64_t rows = 1000, seed = 1, groups = 100, bytes = 0;
    int i;

    for (i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--profile") && v)
            profile = v;
        else if (!strcmp(argv[i], "--rows") && num_arg(v, &rows) == 0)
            ;
        else if (!strcmp(argv[i], "--seed") && num_arg(v, &seed) == 0)
            ;
        else if (!strcmp(argv[i], "--groups") && num_arg(v, &groups) == 0 && groups > 0)
            ;
        else if (!strcmp(argv[i], "--bytes") && num_arg(v, &bytes) == 0)
            ;
        else if (!strcmp(argv[i], "--high") && num_arg(v, &high_card) == 0 && high_card > 0)
            ;
        else
            return usage();
        i++;
    }
    rng_state = seed * 0x2545f4914f6cdd1dull + 1;
    if (!strcmp(profile, "flights"))
        gen_flights(rows);
    else if (!strcmp(profile, "stress"))
        gen_stress(rows, groups);
    else if (!strcmp(profile, "groupby"))
        gen_groupby(bytes ? bytes / 45 : rows, groups);
    else if (!strcmp(profile, "groupby-quoted"))
        gen_groupby_quoted(bytes ? bytes / 66 : rows, groups);
    else if (!strcmp(profile, "groupby-wide"))
        gen_groupby_wide(bytes ? bytes / 223 : rows, groups);
    else
        return usage();
    return fflush(stdout) == 0 ? 0 : 74;
}
