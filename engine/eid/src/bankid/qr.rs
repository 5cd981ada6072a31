//! Animated QR codes and the autostart link.
//!
//! The QR data is `bankid.<qrStartToken>.<seconds>.<qrAuthCode>`, where `seconds` is the whole
//! number of seconds since the order was started and `qrAuthCode` is
//! HMAC-SHA256(key = qrStartSecret, message = seconds as decimal text), lowercase hex. The
//! secret stays on the server; the browser only ever sees the derived data, refreshed every
//! second.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `qrAuthCode` for `seconds` since the start.
pub fn qr_auth_code(qr_start_secret: &str, seconds: u64) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(qr_start_secret.as_bytes()) else {
        return String::new();
    };
    mac.update(seconds.to_string().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The QR data for `seconds` since the start.
pub fn qr_data(qr_start_token: &str, qr_start_secret: &str, seconds: u64) -> String {
    format!(
        "bankid.{qr_start_token}.{seconds}.{}",
        qr_auth_code(qr_start_secret, seconds)
    )
}

/// Whole seconds from `started_at` to `now` (0 if the clock went backwards).
pub fn seconds_since(started_at: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    u64::try_from((now - started_at).num_seconds()).unwrap_or(0)
}

/// The universal link that starts the BankID app on this device. With API v6 the return
/// address travels in the order (`returnUrl`), so `redirect` is `null`.
pub fn autostart_url(auto_start_token: &str) -> String {
    format!("https://app.bankid.com/?autostarttoken={auto_start_token}&redirect=null")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in BankID's documentation ("QR codes").
    #[test]
    fn documented_test_vector() {
        let secret = "d28db9a7-4cde-429e-a983-359be676944c";
        assert_eq!(
            qr_auth_code(secret, 0),
            "dc69358e712458a66a7525beef148ae8526b1c71610eff2c16cdffb4cdac9bf8"
        );
        assert_eq!(
            qr_auth_code(secret, 1),
            "949d559bf23403952a94d103e67743126381eda00f0b3cbddbf7c96b1adcbce2"
        );
        assert_eq!(
            qr_auth_code(secret, 2),
            "a9e5ec59cb4eee4ef4117150abc58fad7a85439a6a96ccbecc3668b41795b3f3"
        );
        assert_eq!(
            qr_data("67df3917-fa0d-44e5-b327-edcc928297f8", secret, 1),
            "bankid.67df3917-fa0d-44e5-b327-edcc928297f8.1.949d559bf23403952a94d103e67743126381eda00f0b3cbddbf7c96b1adcbce2"
        );
    }

    #[test]
    fn seconds_count_from_the_start_and_never_go_negative() {
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let later = t0 + chrono::Duration::milliseconds(2_900);
        assert_eq!(seconds_since(t0, later), 2);
        assert_eq!(seconds_since(later, t0), 0);
    }

    #[test]
    fn autostart_link() {
        assert_eq!(
            autostart_url("46f6aa68-2f67-4d31-a4f1-8cdd3f2bb8a2"),
            "https://app.bankid.com/?autostarttoken=46f6aa68-2f67-4d31-a4f1-8cdd3f2bb8a2&redirect=null"
        );
    }
}
