/* test_timefmt.c - base/timefmt: HTTP (IMF-fixdate) and ISO 8601 dates
 * parsed and formatted without timegm: known answers, leap years, the
 * 1970..9999 bounds, every malformed form the parsers refuse (including
 * each truncation of a valid date, in a buffer of exactly its size so that
 * a sanitizer sees any read past the end), every day of the range against
 * the calendar, and a sweep checked against the C library's gmtime_r. */
#include "base/timefmt.h"

#include "tap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef mb_status (*parser)(const char *, int64_t *);

/* Parsed to `want`; with want < 0, refused and the result left as it was. */
static void parses(parser f, const char *form, const char *s, int64_t want, const char *what)
{
    int64_t t = -7;
    mb_status st = f(s, &t);
    int pass = want >= 0 ? st == MB_OK && t == want : st == MB_EDATA && t == -7;

    if (!ok(pass, "%s %s%s", form, want >= 0 ? "takes " : "refuses ", what))
        printf("#   '%s': status %d, got %lld, want %lld\n", s ? s : "(null)", (int)st,
               (long long)t, (long long)want);
}

#define http_is(s, want, what) parses(mb_time_parse_http, "http", s, want, what)
#define iso_is(s, want, what) parses(mb_time_parse_iso, "iso", s, want, what)
#define http_bad(s, what) parses(mb_time_parse_http, "http", s, -1, what)
#define iso_bad(s, what) parses(mb_time_parse_iso, "iso", s, -1, what)

static void test_http_valid(void)
{
    http_is("Thu, 01 Jan 1970 00:00:00 GMT", 0, "the epoch");
    http_is("Sun, 06 Nov 1994 08:49:37 GMT", 784111777, "RFC 7231's example");
    http_is("Sun, 6 Nov 1994 08:49:37 GMT", 784111777, "a one-digit day");
    http_is("Mon, 19 Sep 2016 18:29:47 GMT", 1474309787, "Microsoft's Scheduled Events example");
    http_is("Thu, 29 Feb 2024 12:00:00 GMT", 1709208000, "29 February of a leap year");
    http_is("Tue, 29 Feb 2000 00:00:00 GMT", 951782400, "29 February 2000 (divisible by 400)");
    http_is("Sat, 31 Dec 2016 23:59:60 GMT", 1483228800, "a leap second counts as the next");
    http_is("Fri, 31 Dec 9999 23:59:59 GMT", MB_TIME_MAX, "the last second of 9999");
    http_is("Mon, 01 Jan 1970 00:00:00 GMT", 0, "a day name that does not match is not checked");
}

static void test_http_malformed(void)
{
    http_bad(NULL, "NULL");
    http_bad("", "the empty string");
    http_bad("Sun 06 Nov 1994 08:49:37 GMT", "no comma");
    http_bad("Sun,06 Nov 1994 08:49:37 GMT", "no blank after the comma");
    http_bad("sun, 06 Nov 1994 08:49:37 GMT", "a lower-case day name");
    http_bad("Sunday, 06-Nov-94 08:49:37 GMT", "the obsolete RFC 850 form");
    http_bad("Sun Nov  6 08:49:37 1994", "the obsolete asctime form");
    http_bad("Xyz, 06 Nov 1994 08:49:37 GMT", "an unknown day name");
    http_bad("Sun, 006 Nov 1994 08:49:37 GMT", "a three-digit day");
    http_bad("Sun,  6 Nov 1994 08:49:37 GMT", "a day padded with a blank");
    http_bad("Sun, +6 Nov 1994 08:49:37 GMT", "a signed day");
    http_bad("Sun, 00 Nov 1994 08:49:37 GMT", "day 0");
    http_bad("Sun, 31 Nov 1994 08:49:37 GMT", "31 November");
    http_bad("Fri, 30 Feb 2024 00:00:00 GMT", "30 February");
    http_bad("Wed, 29 Feb 2023 00:00:00 GMT", "29 February of a common year");
    http_bad("Mon, 29 Feb 2100 00:00:00 GMT", "29 February 2100 (a century, not a leap year)");
    http_bad("Sun, 06 nov 1994 08:49:37 GMT", "a lower-case month");
    http_bad("Sun, 06 Nox 1994 08:49:37 GMT", "an unknown month");
    http_bad("Sun, 06 November 1994 08:49:37 GMT", "a month's full name");
    http_bad("Sun, 06 Nov 94 08:49:37 GMT", "a two-digit year");
    http_bad("Sun, 06 Nov 19945 08:49:37 GMT", "a five-digit year");
    http_bad("Wed, 31 Dec 1969 23:59:59 GMT", "a year before 1970");
    http_bad("Sun, 06 Nov 1994 24:00:00 GMT", "hour 24");
    http_bad("Sun, 06 Nov 1994 08:60:37 GMT", "minute 60");
    http_bad("Sun, 06 Nov 1994 08:49:61 GMT", "second 61");
    http_bad("Sun, 06 Nov 1994 8:49:37 GMT", "a one-digit hour");
    http_bad("Sun, 06 Nov 1994 08:49 GMT", "no seconds");
    http_bad("Sun, 06 Nov 1994 08.49.37 GMT", "dots between the clock fields");
    http_bad("Sun, 06 Nov 1994 08:49:37 UTC", "UTC for GMT");
    http_bad("Sun, 06 Nov 1994 08:49:37 +0000", "a numeric zone");
    http_bad("Sun, 06 Nov 1994 08:49:37", "no zone");
    http_bad("Sun, 06 Nov 1994 08:49:37 GMT ", "a trailing blank");
    http_bad("Sun, 06 Nov 1994 08:49:37 GMTX", "trailing text");
    http_bad(" Sun, 06 Nov 1994 08:49:37 GMT", "a leading blank");
    http_bad("1994-11-06T08:49:37Z", "an ISO date");
    ok(mb_time_parse_http("Sun, 06 Nov 1994 08:49:37 GMT", NULL) == MB_EDATA,
       "http: a NULL result is refused, not written");
}

static void test_iso(void)
{
    iso_is("1970-01-01T00:00:00Z", 0, "the epoch");
    iso_is("1994-11-06T08:49:37Z", 784111777, "RFC 7231's example instant");
    iso_is("2026-12-02T18:37:38Z", 1796236658, "a status file's time");
    iso_is("2024-02-29T12:00:00Z", 1709208000, "29 February of a leap year");
    iso_is("9999-12-31T23:59:59Z", MB_TIME_MAX, "the last second of 9999");
    iso_bad(NULL, "NULL");
    iso_bad("", "the empty string");
    iso_bad("1969-12-31T23:59:59Z", "a year before 1970");
    iso_bad("2023-02-29T00:00:00Z", "29 February of a common year");
    iso_bad("2026-13-01T00:00:00Z", "month 13");
    iso_bad("2026-00-01T00:00:00Z", "month 0");
    iso_bad("2026-04-31T00:00:00Z", "31 April");
    iso_bad("2026-12-00T00:00:00Z", "day 0");
    iso_bad("2026-12-2T18:37:38Z", "a one-digit day");
    iso_bad("2026-12-02 18:37:38Z", "a blank for T");
    iso_bad("2026-12-02t18:37:38z", "lower-case t and z");
    iso_bad("2026-12-02T18:37:38", "no Z");
    iso_bad("2026-12-02T18:37:38+00:00", "a numeric offset");
    iso_bad("2026-12-02T18:37:38.5Z", "a fraction of a second");
    iso_bad("2026-12-02T24:00:00Z", "hour 24");
    iso_bad("2026-12-02T18:37:38Z\n", "a trailing newline");
    iso_bad("+2026-12-02T18:37:38Z", "a signed year");
    iso_bad("20261202T183738Z", "the basic form without separators");
    iso_bad("Wed, 02 Dec 2026 18:37:38 GMT", "an HTTP date");
}

/* Every prefix of a valid date is refused, read from a buffer of exactly
 * its size: a parser that looked past the NUL would be caught by ASan. */
static int prefixes_refused(parser f, const char *valid)
{
    size_t n;
    int64_t t;
    int all = 1;

    for (n = 0; n < strlen(valid); n++) {
        char *p = malloc(n + 1);
        if (!p)
            return 0;
        memcpy(p, valid, n);
        p[n] = '\0';
        if (f(p, &t) != MB_EDATA)
            all = 0;
        free(p);
    }
    return all;
}

static void test_truncations(void)
{
    ok(prefixes_refused(mb_time_parse_http, "Sun, 06 Nov 1994 08:49:37 GMT"),
       "http: every truncation of a valid date is refused");
    ok(prefixes_refused(mb_time_parse_iso, "1994-11-06T08:49:37Z"),
       "iso: every truncation of a valid instant is refused");
}

static void test_calendar(void)
{
    int64_t y, expect_day = 0;
    int m, d, leaps = 0, steady = 1;

    ok(mb_time_is_leap(2024) && mb_time_is_leap(2000) && !mb_time_is_leap(1900) &&
           !mb_time_is_leap(2100) && !mb_time_is_leap(2023),
       "leap years: by 4, not by 100, but by 400");
    ok(mb_time_days_in_month(2024, 2) == 29 && mb_time_days_in_month(2023, 2) == 28 &&
           mb_time_days_in_month(2023, 4) == 30 && mb_time_days_in_month(2023, 12) == 31 &&
           mb_time_days_in_month(2023, 0) == 0 && mb_time_days_in_month(2023, 13) == 0,
       "days in month, and 0 for a month that is not one");
    ok(mb_time_days_from_civil(2000, 3, 1) == 11017 && mb_time_days_from_civil(1969, 12, 31) == -1,
       "days_from_civil: known answers, also before the epoch");
    /* Every day from 1970 to 9999 is the day after the one before. */
    for (y = 1970; y <= 9999; y++) {
        leaps += mb_time_is_leap(y);
        for (m = 1; m <= 12; m++)
            for (d = 1; d <= mb_time_days_in_month(y, m); d++)
                if (mb_time_days_from_civil(y, m, d) != expect_day++)
                    steady = 0;
    }
    ok(steady, "days_from_civil counts every day of 1970..9999 once, in order");
    ok(expect_day == MB_TIME_MAX / 86400 + 1 && leaps == 1947,
       "8030 years, 1947 of them leap years, end on MB_TIME_MAX");
}

static void test_format(void)
{
    char h[MB_TIME_HTTP_LEN], i[MB_TIME_ISO_LEN];

    ok(mb_time_format_http(0, h) == MB_OK, "format: the epoch");
    is_str(h, "Thu, 01 Jan 1970 00:00:00 GMT", "format http: the epoch");
    mb_time_format_http(784111777, h);
    is_str(h, "Sun, 06 Nov 1994 08:49:37 GMT", "format http: RFC 7231's example");
    mb_time_format_http(1709208000, h);
    is_str(h, "Thu, 29 Feb 2024 12:00:00 GMT", "format http: a leap day");
    mb_time_format_http(MB_TIME_MAX, h);
    is_str(h, "Fri, 31 Dec 9999 23:59:59 GMT", "format http: the last second");
    mb_time_format_iso(1796236658, i);
    is_str(i, "2026-12-02T18:37:38Z", "format iso: a status file's time");
    mb_time_format_iso(MB_TIME_MAX, i);
    is_str(i, "9999-12-31T23:59:59Z", "format iso: the last second");
    ok(mb_time_format_http(-1, h) == MB_ERANGE && strcmp(h, "Thu, 01 Jan 1970 00:00:00 GMT") == 0,
       "format http: before 1970 is MB_ERANGE, and the epoch is written");
    ok(mb_time_format_iso(MB_TIME_MAX + 1, i) == MB_ERANGE &&
           strcmp(i, "1970-01-01T00:00:00Z") == 0,
       "format iso: after 9999 is MB_ERANGE, and the epoch is written");
}

/* Formats a sweep of times, checks each against gmtime_r field by field
 * (through strftime in the C locale, an independent implementation) and
 * parses it back. */
static void test_sweep(void)
{
    char h[MB_TIME_HTTP_LEN], i[MB_TIME_ISO_LEN], ref[64];
    int64_t t, back;
    int same = 1, round = 1, n = 0;
    struct tm tm;
    time_t tt;

    for (t = 0; t <= MB_TIME_MAX; t += 9876543 + (t % 7)) {
        tt = (time_t)t;
        n++;
        mb_time_format_http(t, h);
        mb_time_format_iso(t, i);
        if (!gmtime_r(&tt, &tm) ||
            !strftime(ref, sizeof ref, "%a, %d %b %Y %H:%M:%S GMT", &tm) || strcmp(ref, h) != 0 ||
            !strftime(ref, sizeof ref, "%Y-%m-%dT%H:%M:%SZ", &tm) || strcmp(ref, i) != 0) {
            if (same)
                printf("#   %lld: '%s' / '%s', gmtime '%s'\n", (long long)t, h, i, ref);
            same = 0;
        }
        if (mb_time_parse_http(h, &back) != MB_OK || back != t ||
            mb_time_parse_iso(i, &back) != MB_OK || back != t)
            round = 0;
    }
    ok(same, "format agrees with gmtime_r at %d times from 1970 to 9999", n);
    ok(round, "parse(format(t)) == t at the same %d times, both forms", n);
}

int main(void)
{
    test_http_valid();
    test_http_malformed();
    test_iso();
    test_truncations();
    test_calendar();
    test_format();
    test_sweep();
    return tap_done();
}
