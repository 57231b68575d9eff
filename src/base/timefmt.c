/* timefmt.c - HTTP (IMF-fixdate) and ISO 8601 UTC timestamps parsed and
 * formatted by calendar arithmetic. Knows no time zones, locales or leap
 * second tables, and does no I/O; every field is read by exact-width
 * checked code, so no text makes it read past its terminating NUL. */
#include "base/timefmt.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#define YEAR_MIN 1970
#define YEAR_MAX 9999
#define DAY_S 86400

static const char DAY_NAMES[] = "SunMonTueWedThuFriSat";
static const char MONTH_NAMES[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

/* A broken-down UTC time, as read or about to be written. */
typedef struct civil {
    int64_t year;
    int mon, day, hour, min, sec;
} civil;

int mb_time_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int mb_time_days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (m < 1 || m > 12)
        return 0;
    return m == 2 && mb_time_is_leap(y) ? 29 : days[m - 1];
}

/* Hinnant's days_from_civil: eras of 400 years (146097 days) that start
 * on 1 March, so that the leap day ends the year. */
int64_t mb_time_days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    assert(m >= 1 && m <= 12 && d >= 1 && d <= 31);
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The inverse (Hinnant's civil_from_days), for any day count. */
void mb_time_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static void civil_from_days(int64_t z, civil *c)
{
    assert(z >= 0);
    mb_time_civil_from_days(z, &c->year, &c->mon, &c->day);
}

/* ---- parsing ------------------------------------------------------------- */

/* Reads exactly n digits; a NUL is not a digit, so this never reads past
 * the end of the text. */
static int digits(const char **p, int n, int *out)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int expect(const char **p, const char *lit)
{
    size_t n = strlen(lit);

    if (strncmp(*p, lit, n) != 0)
        return -1;
    *p += n;
    return 0;
}

/* Finds a three-letter name in a table of them; returns its index or -1. */
static int name_index(const char **p, const char *names, int count)
{
    int i;

    for (i = 0; i < count; i++)
        if (strncmp(*p, names + 3 * i, 3) == 0) {
            *p += 3;
            return i;
        }
    return -1;
}

/* The range checks both forms share, then the arithmetic. */
static mb_status to_epoch(const civil *c, int64_t *out)
{
    if (c->year < YEAR_MIN || c->year > YEAR_MAX || c->mon < 1 || c->mon > 12 || c->day < 1 ||
        c->day > mb_time_days_in_month(c->year, c->mon) || c->hour > 23 || c->min > 59 ||
        c->sec > 60)
        return MB_EDATA;
    *out = mb_time_days_from_civil(c->year, c->mon, c->day) * DAY_S + c->hour * 3600 +
           c->min * 60 + c->sec;
    return MB_OK;
}

/* "HH:MM:SS" */
static int clock_part(const char **p, civil *c)
{
    return digits(p, 2, &c->hour) || expect(p, ":") || digits(p, 2, &c->min) ||
           expect(p, ":") || digits(p, 2, &c->sec);
}

mb_status mb_time_parse_http(const char *s, int64_t *out)
{
    const char *p = s;
    civil c;
    int year;

    if (!s || !out || name_index(&p, DAY_NAMES, 7) < 0 || expect(&p, ", "))
        return MB_EDATA;
    if (digits(&p, 2, &c.day) && digits(&p, 1, &c.day))
        return MB_EDATA;
    if (expect(&p, " ") || (c.mon = name_index(&p, MONTH_NAMES, 12) + 1) == 0 ||
        expect(&p, " ") || digits(&p, 4, &year) || expect(&p, " ") || clock_part(&p, &c) ||
        expect(&p, " GMT") || *p != '\0')
        return MB_EDATA;
    c.year = year;
    return to_epoch(&c, out);
}

mb_status mb_time_parse_iso(const char *s, int64_t *out)
{
    const char *p = s;
    civil c;
    int year;

    if (!s || !out || digits(&p, 4, &year) || expect(&p, "-") || digits(&p, 2, &c.mon) ||
        expect(&p, "-") || digits(&p, 2, &c.day) || expect(&p, "T") || clock_part(&p, &c) ||
        expect(&p, "Z") || *p != '\0')
        return MB_EDATA;
    c.year = year;
    return to_epoch(&c, out);
}

/* ---- formatting ---------------------------------------------------------- */

/* Splits t (checked to be in range) into its fields; returns the weekday,
 * 0 for Sunday (1970-01-01 was a Thursday). */
static int split(int64_t t, civil *c)
{
    int64_t days = t / DAY_S, rest = t % DAY_S;

    civil_from_days(days, c);
    c->hour = (int)(rest / 3600);
    c->min = (int)(rest / 60 % 60);
    c->sec = (int)(rest % 60);
    return (int)((days + 4) % 7);
}

mb_status mb_time_format_http(int64_t t, char out[MB_TIME_HTTP_LEN])
{
    mb_status st = MB_OK;
    civil c;
    int wday;

    if (t < 0 || t > MB_TIME_MAX) {
        t = 0;
        st = MB_ERANGE;
    }
    wday = split(t, &c);
    snprintf(out, MB_TIME_HTTP_LEN, "%.3s, %02d %.3s %04d %02d:%02d:%02d GMT",
             DAY_NAMES + 3 * wday, c.day, MONTH_NAMES + 3 * (c.mon - 1), (int)c.year, c.hour,
             c.min, c.sec);
    return st;
}

mb_status mb_time_format_iso(int64_t t, char out[MB_TIME_ISO_LEN])
{
    mb_status st = MB_OK;
    civil c;

    if (t < 0 || t > MB_TIME_MAX) {
        t = 0;
        st = MB_ERANGE;
    }
    split(t, &c);
    snprintf(out, MB_TIME_ISO_LEN, "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)c.year, c.mon, c.day,
             c.hour, c.min, c.sec);
    return st;
}
