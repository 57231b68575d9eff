/* timefmt.h - UTC timestamps as text: HTTP dates (RFC 7231 IMF-fixdate,
 * "Sun, 06 Nov 1994 08:49:37 GMT") and ISO 8601 instants
 * ("1994-11-06T08:49:37Z"), parsed and formatted by calendar arithmetic
 * (Hinnant's days_from_civil), never through timegm(), gmtime() or the
 * time zone. Depends on nothing but the C library.
 *
 * Only the years 1970 to 9999 are taken and given: every date the program
 * meets (Azure's headers and XML, Scheduled Events, status files) lies
 * there, and four-digit years are what both formats have room for. */
#ifndef MB_TIMEFMT_H
#define MB_TIMEFMT_H

#include "base/mb.h"

#include <stdint.h>

#define MB_TIME_HTTP_LEN 30     /* "Sun, 06 Nov 1994 08:49:37 GMT" and NUL */
#define MB_TIME_ISO_LEN 21      /* "1994-11-06T08:49:37Z" and NUL */
#define MB_TIME_MAX INT64_C(253402300799)   /* 9999-12-31T23:59:59Z */

/* Days since 1970-01-01 of a proleptic Gregorian date; m is 1..12, d is
 * 1..31 (not checked against the month: callers check first). */
int64_t mb_time_days_from_civil(int64_t y, int m, int d);

/* The date of day z since 1970-01-01 (any z, also before 1970). */
void mb_time_civil_from_days(int64_t z, int64_t *y, int *m, int *d);

/* 1 when y is a Gregorian leap year, else 0. */
int mb_time_is_leap(int64_t y);

/* Days in month m (1..12) of year y; 0 for a month outside 1..12. */
int mb_time_days_in_month(int64_t y, int m);

/* Parses an HTTP date in the IMF-fixdate form of RFC 7231 7.1.1.1:
 * "Mon, 19 Sep 2016 18:29:47 GMT", exactly, with nothing around it. The
 * day name must be one of the seven (it is not checked against the date);
 * a one-digit day ("Mon, 5 Sep ...") is taken, as some senders write it.
 * Seconds may be 60 (a leap second, counted as the next second). Returns
 * MB_OK with *out in seconds since the epoch, or MB_EDATA (out untouched)
 * for any other text, including NULL, an impossible date (30 Feb) and a
 * year before 1970. The obsolete RFC 850 and asctime forms are not taken:
 * nothing this program talks to sends them. */
mb_status mb_time_parse_http(const char *s, int64_t *out);

/* Parses "2026-12-02T18:37:38Z" (ISO 8601 / RFC 3339, UTC, whole
 * seconds), exactly as mb_time_format_iso writes it; as above otherwise. */
mb_status mb_time_parse_iso(const char *s, int64_t *out);

/* Writes t as an IMF-fixdate / ISO 8601 instant with English names (not
 * the locale's, as strftime would). For t outside 0..MB_TIME_MAX writes
 * the epoch and returns MB_ERANGE; else MB_OK. */
mb_status mb_time_format_http(int64_t t, char out[MB_TIME_HTTP_LEN]);
mb_status mb_time_format_iso(int64_t t, char out[MB_TIME_ISO_LEN]);

#endif
