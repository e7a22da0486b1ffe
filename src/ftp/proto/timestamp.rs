//! FTP time values: RFC 3659 §2.3 (`YYYYMMDDHHMMSS[.sss]`, always UTC), as used by MDTM
//! (RFC 3659 §3), MFMT (draft-somers-ftp-mfxx §3) and MLST's `modify` fact (RFC 3659 §7.5.3).
//!
//! Calendar arithmetic is done here by hand (proleptic Gregorian, days from 1970-01-01) so the
//! `proto` layer needs no date crate.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECONDS_PER_DAY: i64 = 86_400;

/// Why a time value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// Not of the form `YYYYMMDDHHMMSS[.fraction]`.
    #[error("time value must be YYYYMMDDHHMMSS[.sss]")]
    Malformed,
    /// A field is out of range (month 13, February 30, …) or the time cannot be represented.
    #[error("time value out of range")]
    OutOfRange,
}

/// A UTC instant with millisecond precision between years 1 and 9999.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    millis: u16,
}

impl Timestamp {
    /// Parses `YYYYMMDDHHMMSS` with an optional `.` and 1 to 9 fraction digits (milliseconds
    /// are kept, finer digits truncated). Second 60 is accepted for leap seconds.
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (text, None),
        };
        if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TimestampError::Malformed);
        }
        let millis = match fraction {
            None => 0,
            Some(digits) => parse_fraction(digits)?,
        };
        let field = |range: std::ops::Range<usize>| {
            whole.as_bytes().get(range).map_or(0, |d| {
                d.iter().fold(0u16, |n, b| n * 10 + u16::from(b - b'0'))
            })
        };
        let narrow = |value: u16| u8::try_from(value).map_err(|_| TimestampError::OutOfRange);
        let timestamp = Self {
            year: field(0..4),
            month: narrow(field(4..6))?,
            day: narrow(field(6..8))?,
            hour: narrow(field(8..10))?,
            minute: narrow(field(10..12))?,
            second: narrow(field(12..14))?,
            millis,
        };
        timestamp.validate()
    }

    /// The UTC calendar time of `time`, truncated to milliseconds.
    pub fn from_system_time(time: SystemTime) -> Result<Self, TimestampError> {
        let millis_since_epoch: i128 = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => {
                i128::try_from(after.as_millis()).map_err(|_| TimestampError::OutOfRange)?
            }
            // Round towards the past so 1969-12-31T23:59:59.500 keeps its 500 ms.
            Err(before) => -i128::try_from(before.duration().as_nanos().div_ceil(1_000_000))
                .map_err(|_| TimestampError::OutOfRange)?,
        };
        let seconds = i64::try_from(millis_since_epoch.div_euclid(1000))
            .map_err(|_| TimestampError::OutOfRange)?;
        let millis = millis_since_epoch.rem_euclid(1000) as u16;
        let days = seconds.div_euclid(SECONDS_PER_DAY);
        let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let year = u16::try_from(year)
            .ok()
            .filter(|y| (1..=9999).contains(y))
            .ok_or(TimestampError::OutOfRange)?;
        Ok(Self {
            year,
            month,
            day,
            hour: (second_of_day / 3600) as u8,
            minute: (second_of_day % 3600 / 60) as u8,
            second: (second_of_day % 60) as u8,
            millis,
        })
    }

    /// The instant this names; fails only where `SystemTime` cannot represent it.
    pub fn to_system_time(&self) -> Result<SystemTime, TimestampError> {
        let days = days_from_civil(i64::from(self.year), self.month, self.day);
        let seconds = days * SECONDS_PER_DAY
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        let millis = u64::from(self.millis);
        let instant = if seconds >= 0 {
            UNIX_EPOCH.checked_add(Duration::from_secs(seconds.unsigned_abs()))
        } else {
            UNIX_EPOCH.checked_sub(Duration::from_secs(seconds.unsigned_abs()))
        };
        instant
            .and_then(|t| t.checked_add(Duration::from_millis(millis)))
            .ok_or(TimestampError::OutOfRange)
    }

    /// `YYYYMMDDHHMMSS.sss`, for MLST `modify` facts that carry milliseconds.
    pub fn format_with_millis(&self) -> String {
        format!("{self}.{:03}", self.millis)
    }

    fn validate(self) -> Result<Self, TimestampError> {
        let valid = (1..=9999).contains(&self.year)
            && (1..=12).contains(&self.month)
            && (1..=days_in_month(self.year, self.month)).contains(&self.day)
            && self.hour <= 23
            && self.minute <= 59
            && self.second <= 60;
        if valid {
            Ok(self)
        } else {
            Err(TimestampError::OutOfRange)
        }
    }
}

/// `YYYYMMDDHHMMSS`, the MDTM reply form (RFC 3659 §3.2).
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// `20240102030405.000`: compact, so commands holding a time stay one log line.
impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format_with_millis())
    }
}

fn parse_fraction(digits: &str) -> Result<u16, TimestampError> {
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TimestampError::Malformed);
    }
    Ok(digits
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u16, |n, b| n * 10 + u16::from(b - b'0')))
}

fn is_leap_year(year: u16) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
///
/// Counting years from March makes the leap day the last day of the year, so the day of the year
/// follows from the month by one linear formula; 400-year eras repeat exactly (146 097 days).
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = (i64::from(month) + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719 468 days separate 0000-03-01 (start of era 0) from 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// Inverse of [`days_from_civil`]: `(year, month, day)`.
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u8;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let month = month as u8;
    let year = era * 400 + year_of_era + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `input`; on success checks both text forms, the milliseconds since the epoch and
    /// that converting back from `SystemTime` gives the same value.
    /// MDTM form, millisecond form, milliseconds since the epoch.
    type Expected<'a> = Result<(&'a str, &'a str, i64), TimestampError>;

    fn check(input: &str, expected: Expected<'_>) {
        match (Timestamp::parse(input), expected) {
            (Ok(parsed), Ok((display, with_millis, epoch_millis))) => {
                assert_eq!(parsed.to_string(), display);
                assert_eq!(parsed.format_with_millis(), with_millis);
                let time = parsed.to_system_time().unwrap();
                let millis = match time.duration_since(UNIX_EPOCH) {
                    Ok(after) => after.as_millis() as i64,
                    Err(before) => -(before.duration().as_millis() as i64),
                };
                assert_eq!(millis, epoch_millis, "{input}");
                assert_eq!(Timestamp::from_system_time(time), Ok(parsed));
            }
            (got, want) => assert_eq!(got.map(|_| ()), want.map(|_| ()), "{input}"),
        }
    }

    #[test]
    fn parse_cases() {
        let cases: &[(&str, Expected<'_>)] = &[
            (
                "19700101000000",
                Ok(("19700101000000", "19700101000000.000", 0)),
            ),
            (
                "20240102030405",
                Ok(("20240102030405", "20240102030405.000", 1_704_164_645_000)),
            ),
            (
                "20240229235959.5",
                Ok(("20240229235959", "20240229235959.500", 1_709_251_199_500)),
            ),
            (
                "20000229000000.123456",
                Ok(("20000229000000", "20000229000000.123", 951_782_400_123)),
            ),
            (
                "19691231235959.250",
                Ok(("19691231235959", "19691231235959.250", -750)),
            ),
            (
                "16010101000000",
                Ok(("16010101000000", "16010101000000.000", -11_644_473_600_000)),
            ),
            (
                "99991231235959",
                Ok(("99991231235959", "99991231235959.000", 253_402_300_799_000)),
            ),
            ("2024010203040", Err(TimestampError::Malformed)),
            ("202401020304056", Err(TimestampError::Malformed)),
            ("2024010203040a", Err(TimestampError::Malformed)),
            ("+2024010203040", Err(TimestampError::Malformed)),
            ("20240102030405.", Err(TimestampError::Malformed)),
            ("20240102030405.1234567890", Err(TimestampError::Malformed)),
            ("20240102030405.1.2", Err(TimestampError::Malformed)),
            ("", Err(TimestampError::Malformed)),
            ("00000101000000", Err(TimestampError::OutOfRange)),
            ("20241301000000", Err(TimestampError::OutOfRange)),
            ("20240001000000", Err(TimestampError::OutOfRange)),
            ("20230229000000", Err(TimestampError::OutOfRange)),
            ("19000229000000", Err(TimestampError::OutOfRange)),
            ("20240431000000", Err(TimestampError::OutOfRange)),
            ("20240102240000", Err(TimestampError::OutOfRange)),
            ("20240102236000", Err(TimestampError::OutOfRange)),
            ("20240102235961", Err(TimestampError::OutOfRange)),
        ];
        for (input, expected) in cases {
            check(input, *expected);
        }
    }

    #[test]
    fn system_time_conversions() {
        let leap = Timestamp::parse("20161231235960").unwrap();
        assert_eq!(leap.to_string(), "20161231235960");
        let next = Timestamp::from_system_time(leap.to_system_time().unwrap()).unwrap();
        assert_eq!(next.to_string(), "20170101000000");
        let far = UNIX_EPOCH + Duration::from_secs(300_000_000_000);
        assert_eq!(
            Timestamp::from_system_time(far),
            Err(TimestampError::OutOfRange)
        );
        let nanos = UNIX_EPOCH + Duration::from_nanos(1_999_999_999);
        let truncated = Timestamp::from_system_time(nanos).unwrap();
        assert_eq!(truncated.format_with_millis(), "19700101000001.999");
    }
}
