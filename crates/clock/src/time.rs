//! Twelve-hour dial times and their mirror image.

use std::{fmt, str::FromStr};

/// Minutes in a twelve-hour dial turn.
const TURN: u16 = 12 * 60;

/// A time on a twelve-hour dial: hour `1..=12`, minute `0..=59`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DialTime {
    hour: u8,
    minute: u8,
}

/// Why a string is not a dial time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a valid time: expected the form HH:MM, 1 <= HH < 13 and 0 <= MM < 60")]
pub struct InvalidTime {
    /// The rejected input (truncated to 32 characters).
    pub input: String,
}

impl DialTime {
    /// A dial time, or `None` when out of range.
    pub fn new(hour: u8, minute: u8) -> Option<Self> {
        ((1..=12).contains(&hour) && minute < 60).then_some(Self { hour, minute })
    }

    /// The hour, `1..=12`.
    pub fn hour(self) -> u8 {
        self.hour
    }

    /// The minute, `0..=59`.
    pub fn minute(self) -> u8 {
        self.minute
    }

    /// Minutes past twelve o'clock, `0..720`.
    fn minutes_past_twelve(self) -> u16 {
        u16::from(self.hour % 12) * 60 + u16::from(self.minute)
    }

    fn from_minutes_past_twelve(total: u16) -> Self {
        let total = total % TURN;
        let hour = u8::try_from(total / 60).expect("below 12");
        let minute = u8::try_from(total % 60).expect("below 60");
        Self {
            hour: if hour == 0 { 12 } else { hour },
            minute,
        }
    }

    /// The time the dial really shows when `self` is what its mirror image shows (and
    /// the other way round: the mapping is its own inverse).
    #[must_use]
    pub fn mirrored(self) -> Self {
        Self::from_minutes_past_twelve((TURN - self.minutes_past_twelve()) % TURN)
    }

    /// Every valid dial time, in order from 12:00.
    pub fn all() -> impl Iterator<Item = Self> {
        (0..TURN).map(Self::from_minutes_past_twelve)
    }
}

impl FromStr for DialTime {
    type Err = InvalidTime;

    /// Parses `H:MM` or `HH:MM`: one or two hour digits, exactly two minute digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidTime {
            input: s.chars().take(32).collect(),
        };
        let (h, m) = s.split_once(':').ok_or_else(invalid)?;
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if !(1..=2).contains(&h.len()) || m.len() != 2 || !digits(h) || !digits(m) {
            return Err(invalid());
        }
        let hour = h.parse().map_err(|_| invalid())?;
        let minute = m.parse().map_err(|_| invalid())?;
        Self::new(hour, minute).ok_or_else(invalid)
    }
}

impl fmt::Display for DialTime {
    /// Always two hour digits: `02:11`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mirror(s: &str) -> String {
        s.parse::<DialTime>().unwrap().mirrored().to_string()
    }

    #[test]
    fn the_originals_examples() {
        assert_eq!(mirror("12:22"), "11:38");
        assert_eq!(mirror("05:25"), "06:35");
        assert_eq!(mirror("01:50"), "10:10");
        assert_eq!(mirror("11:58"), "12:02");
        assert_eq!(mirror("12:01"), "11:59");
    }

    #[test]
    fn the_axis_and_the_quarter_hours() {
        assert_eq!(mirror("12:00"), "12:00");
        assert_eq!(mirror("06:00"), "06:00");
        assert_eq!(mirror("03:00"), "09:00");
        assert_eq!(mirror("09:00"), "03:00");
    }

    #[test]
    fn one_digit_hour_gains_its_zero() {
        let t: DialTime = "2:11".parse().unwrap();
        assert_eq!(t.to_string(), "02:11");
        assert_eq!(t.mirrored().to_string(), "09:49");
    }

    #[test]
    fn rejects_what_is_not_hh_mm() {
        for bad in [
            "00:20", "13:20", "12:60", "ab:cd", "1230", "", ":", "1:5", "001:30", "12:300",
            " 1:30", "1:30 ", "+1:30", "-1:30", "12:-1", "１2:00", "12:00:00", "99:99",
        ] {
            let err = bad.parse::<DialTime>().unwrap_err();
            assert!(
                err.to_string().contains("HH:MM, 1 <= HH < 13"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn all_lists_720_distinct_times() {
        let all: std::collections::HashSet<_> = DialTime::all().collect();
        assert_eq!(all.len(), 720);
    }

    #[test]
    fn mirroring_twice_is_the_identity_for_every_valid_time() {
        for t in DialTime::all() {
            assert_eq!(t.mirrored().mirrored(), t, "{t}");
            assert_eq!(t.to_string().parse::<DialTime>().unwrap(), t);
        }
    }

    proptest! {
        #[test]
        fn mirror_is_an_involution(hour in 1u8..=12, minute in 0u8..60) {
            let t = DialTime::new(hour, minute).unwrap();
            prop_assert_eq!(t.mirrored().mirrored(), t);
        }

        #[test]
        fn mirror_sums_to_a_full_turn(hour in 1u8..=12, minute in 0u8..60) {
            let t = DialTime::new(hour, minute).unwrap();
            let sum = t.minutes_past_twelve() + t.mirrored().minutes_past_twelve();
            prop_assert!(sum == 0 || sum == TURN);
        }

        #[test]
        fn arbitrary_strings_never_panic_and_valid_ones_round_trip(s in "\\PC{0,8}") {
            if let Ok(t) = s.parse::<DialTime>() {
                prop_assert!((1..=12).contains(&t.hour()) && t.minute() < 60);
            }
        }
    }
}
