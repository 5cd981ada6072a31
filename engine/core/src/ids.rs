//! Swedish identity numbers, parsed once at the edge.
//!
//! `Personnummer` accepts personal identity numbers and coordination numbers
//! (samordningsnummer, day + 60), checks the date and the Luhn check digit, and is always kept
//! in the 12-digit form `YYYYMMDDNNNC`. Its `Debug` is redacted so it never reaches a log.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Why an identity number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must be 12 digits: YYYYMMDDNNNN")]
    Format,
    #[error("the date part is not a valid date")]
    Date,
    #[error("the check digit does not match")]
    Checksum,
    #[error("must be 10 digits: NNNNNN-NNNN")]
    OrgFormat,
    #[error("the third digit of an organisation number is 2 or more")]
    OrgGroup,
}

/// Luhn check over a string of digits (the last digit is the check digit).
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, c) in digits.chars().rev().enumerate() {
        let Some(d) = c.to_digit(10) else {
            return false;
        };
        sum += if i % 2 == 1 {
            let x = d * 2;
            if x > 9 { x - 9 } else { x }
        } else {
            d
        };
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

fn only_digits(input: &str, allowed_sep: &[char]) -> Option<String> {
    let trimmed = input.trim();
    let mut out = String::with_capacity(12);
    for c in trimmed.chars() {
        if c.is_ascii_digit() {
            out.push(c);
        } else if !allowed_sep.contains(&c) {
            return None;
        }
    }
    Some(out)
}

/// A Swedish personal identity number or coordination number, 12 digits.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Personnummer(String);

impl Personnummer {
    /// Parses `YYYYMMDDNNNC` or `YYYYMMDD-NNNC` (spaces around are ignored).
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let digits = only_digits(input, &['-', '+']).ok_or(IdError::Format)?;
        if digits.len() != 12 {
            return Err(IdError::Format);
        }
        let num = |r: std::ops::Range<usize>| digits[r].parse::<u32>().map_err(|_| IdError::Format);
        let year = num(0..4)? as i32;
        let month = num(4..6)?;
        let mut day = num(6..8)?;
        if day > 60 {
            day -= 60; // samordningsnummer
        }
        NaiveDate::from_ymd_opt(year, month, day).ok_or(IdError::Date)?;
        if !luhn_valid(&digits[2..]) {
            return Err(IdError::Checksum);
        }
        Ok(Self(digits))
    }

    /// The 12 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a coordination number (samordningsnummer).
    pub fn is_samordningsnummer(&self) -> bool {
        self.0[6..8].parse::<u32>().map(|d| d > 60).unwrap_or(false)
    }

    /// The date of birth encoded in the number.
    pub fn birth_date(&self) -> Option<NaiveDate> {
        let y = self.0[0..4].parse().ok()?;
        let m = self.0[4..6].parse().ok()?;
        let mut d: u32 = self.0[6..8].parse().ok()?;
        if d > 60 {
            d -= 60;
        }
        NaiveDate::from_ymd_opt(y, m, d)
    }

    /// ETSI EN 319 412-1 semantics identifier form, `PNOSE-YYYYMMDDNNNC`.
    pub fn etsi_serial(&self) -> String {
        format!("PNOSE-{}", self.0)
    }
}

impl TryFrom<String> for Personnummer {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Personnummer> for String {
    fn from(p: Personnummer) -> String {
        p.0
    }
}

impl fmt::Debug for Personnummer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Personnummer(<redacted>)")
    }
}

/// A Swedish organisation number (organisationsnummer), kept as `NNNNNN-NNNN`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Organisationsnummer(String);

impl Organisationsnummer {
    /// Parses `NNNNNNNNNN`, `NNNNNN-NNNN` or the 12-digit form with the `16` prefix.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let mut digits = only_digits(input, &['-']).ok_or(IdError::OrgFormat)?;
        if digits.len() == 12 && digits.starts_with("16") {
            digits.drain(..2);
        }
        if digits.len() != 10 {
            return Err(IdError::OrgFormat);
        }
        if digits[2..3]
            .parse::<u32>()
            .map_err(|_| IdError::OrgFormat)?
            < 2
        {
            return Err(IdError::OrgGroup);
        }
        if !luhn_valid(&digits) {
            return Err(IdError::Checksum);
        }
        Ok(Self(format!("{}-{}", &digits[..6], &digits[6..])))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Organisationsnummer {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Organisationsnummer> for String {
    fn from(p: Organisationsnummer) -> String {
        p.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skatteverket_test_numbers_are_accepted() {
        for n in [
            "197701172392",
            "189001019802",
            "19770117-2392",
            " 201212121212 ",
        ] {
            assert!(Personnummer::parse(n).is_ok(), "{n}");
        }
        assert_eq!(
            Personnummer::parse("19770117-2392").map(|p| p.as_str().to_owned()),
            Ok("197701172392".to_owned())
        );
    }

    #[test]
    fn wrong_check_digit_date_and_format_are_refused() {
        assert_eq!(Personnummer::parse("197701172393"), Err(IdError::Checksum));
        assert_eq!(Personnummer::parse("197713172392"), Err(IdError::Date));
        assert_eq!(Personnummer::parse("7701172392"), Err(IdError::Format));
        assert_eq!(Personnummer::parse("19770117239x"), Err(IdError::Format));
        assert_eq!(Personnummer::parse(""), Err(IdError::Format));
    }

    #[test]
    fn samordningsnummer_is_accepted_and_recognised() {
        // day 17 + 60 = 77; check digit recomputed for the coordination form
        let base = "7701772392";
        let mut found = None;
        for c in 0..10 {
            let candidate = format!("19{}{}", &base[..9], c);
            if let Ok(p) = Personnummer::parse(&candidate) {
                found = Some(p);
            }
        }
        let p = found.unwrap_or_else(|| unreachable!("one check digit fits"));
        assert!(p.is_samordningsnummer());
        assert_eq!(p.birth_date(), NaiveDate::from_ymd_opt(1977, 1, 17));
        assert_eq!(
            Personnummer::parse("197702912392").err(),
            Some(IdError::Date)
        );
    }

    #[test]
    fn debug_never_shows_the_number() {
        let p = Personnummer::parse("197701172392").unwrap_or_else(|_| unreachable!());
        assert!(!format!("{p:?}").contains("1977"));
        assert_eq!(p.etsi_serial(), "PNOSE-197701172392");
    }

    #[test]
    fn organisation_numbers() {
        // Skatteverket 202100-5489, Stockholms kommun 212000-0142
        assert_eq!(
            Organisationsnummer::parse("2021005489").map(|o| o.as_str().to_owned()),
            Ok("202100-5489".to_owned())
        );
        assert!(Organisationsnummer::parse("212000-0142").is_ok());
        assert!(Organisationsnummer::parse("16212000-0142").is_ok());
        assert_eq!(
            Organisationsnummer::parse("212000-0143"),
            Err(IdError::Checksum)
        );
        assert_eq!(
            Organisationsnummer::parse("201000-0142"),
            Err(IdError::OrgGroup)
        );
        assert_eq!(
            Organisationsnummer::parse("2120000"),
            Err(IdError::OrgFormat)
        );
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("7701172392"));
        assert!(!luhn_valid("7701172393"));
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("12a4"));
    }
}

/// A newtype over text that is stored and sent as that text: derefs to `str`, compares with
/// strings, and (de)serializes transparently.
macro_rules! text_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> $name {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> $name {
                $name(s.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

text_newtype!(
    /// A case's id: a random UUID made when the case starts (never personal data, so it may
    /// appear in URLs and logs).
    CaseId
);

text_newtype!(
    /// The SHA-256 of a document's bytes, as 64 lowercase hex digits: what approval locks and
    /// each signature records.
    Sha256Hex
);

text_newtype!(
    /// A flow version's content hash (SHA-256 over every file of the flow folder and every
    /// form-def it uses): what a case is pinned to.
    FlowHash
);
