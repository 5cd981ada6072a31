//! BankID's recommended user messages (the RFA texts), in Swedish and English, and which one
//! to show for each hint code and error code.

use blankett_core::eid::UserMessage;

use super::api::{ErrorCode, HintCode};

/// A recommended user message, named as in BankID's documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rfa {
    Rfa1,
    Rfa2,
    Rfa3,
    Rfa4,
    Rfa5,
    Rfa6,
    Rfa8,
    Rfa9,
    Rfa13,
    Rfa14A,
    Rfa14B,
    Rfa15A,
    Rfa15B,
    Rfa16,
    Rfa17A,
    Rfa17B,
    Rfa21,
    Rfa22,
    Rfa23,
}

impl Rfa {
    pub const ALL: &'static [Rfa] = &[
        Rfa::Rfa1,
        Rfa::Rfa2,
        Rfa::Rfa3,
        Rfa::Rfa4,
        Rfa::Rfa5,
        Rfa::Rfa6,
        Rfa::Rfa8,
        Rfa::Rfa9,
        Rfa::Rfa13,
        Rfa::Rfa14A,
        Rfa::Rfa14B,
        Rfa::Rfa15A,
        Rfa::Rfa15B,
        Rfa::Rfa16,
        Rfa::Rfa17A,
        Rfa::Rfa17B,
        Rfa::Rfa21,
        Rfa::Rfa22,
        Rfa::Rfa23,
    ];

    /// (Swedish, English).
    pub fn texts(self) -> (&'static str, &'static str) {
        match self {
            Rfa::Rfa1 => ("Starta BankID-appen.", "Start your BankID app."),
            Rfa::Rfa2 => (
                "Du har inte BankID-appen installerad. Kontakta din bank.",
                "The BankID app is not installed. Please contact your bank.",
            ),
            Rfa::Rfa3 => (
                "Åtgärden avbruten. Försök igen.",
                "Action cancelled. Please try again.",
            ),
            Rfa::Rfa4 => (
                "En identifiering eller underskrift för det här personnumret är redan påbörjad. Försök igen.",
                "An identification or signing for this personal number is already started. Please try again.",
            ),
            Rfa::Rfa5 => (
                "Internt tekniskt fel. Försök igen.",
                "Internal error. Please try again.",
            ),
            Rfa::Rfa6 => ("Åtgärden avbruten.", "Action cancelled."),
            Rfa::Rfa8 => (
                "BankID-appen svarar inte. Kontrollera att den är startad och att du har internetanslutning. Om du inte har något giltigt BankID kan du skaffa ett hos din bank. Försök sedan igen.",
                "The BankID app is not responding. Please check that it's started and that you have internet access. If you don't have a valid BankID you can get one from your bank. Try again.",
            ),
            Rfa::Rfa9 => (
                "Skriv in din säkerhetskod i BankID-appen och välj Identifiera eller Skriv under.",
                "Enter your security code in the BankID app and select Identify or Sign.",
            ),
            Rfa::Rfa13 => (
                "Försöker starta BankID-appen.",
                "Trying to start your BankID app.",
            ),
            Rfa::Rfa14A => (
                "Söker efter BankID, det kan ta en liten stund … Om det har gått några sekunder och inget BankID har hittats har du sannolikt inget BankID som går att använda för den aktuella identifieringen/underskriften i den här datorn. Om du har ett BankID-kort, sätt in det i kortläsaren. Om du inte har något BankID kan du skaffa ett hos din bank. Om du har ett BankID på en annan enhet kan du starta din BankID-app där.",
                "Searching for BankID, it may take a little while … If a few seconds have passed and still no BankID has been found, you probably don't have a BankID which can be used for this identification/signing on this computer. If you have a BankID card, please insert it into your card reader. If you don't have a BankID you can get one from your bank. If you have a BankID on another device you can start the BankID app on that device.",
            ),
            Rfa::Rfa14B => (
                "Söker efter BankID, det kan ta en liten stund … Om det har gått några sekunder och inget BankID har hittats har du sannolikt inget BankID som går att använda för den aktuella identifieringen/underskriften i den här enheten. Om du inte har något BankID kan du skaffa ett hos din bank. Om du har ett BankID på en annan enhet kan du starta din BankID-app där.",
                "Searching for BankID, it may take a little while … If a few seconds have passed and still no BankID has been found, you probably don't have a BankID which can be used for this identification/signing on this device. If you don't have a BankID you can get one from your bank. If you have a BankID on another device you can start the BankID app on that device.",
            ),
            Rfa::Rfa15A => (
                "Söker efter BankID:n, det kan ta en liten stund … Om det har gått några sekunder och inget BankID har hittats har du sannolikt inget BankID som går att använda för den aktuella identifieringen/underskriften i den här datorn. Om du har ett BankID-kort, sätt in det i kortläsaren. Om du inte har något BankID kan du skaffa ett hos din bank.",
                "Searching for BankID:s, it may take a little while … If a few seconds have passed and still no BankID has been found, you probably don't have a BankID which can be used for this identification/signing on this computer. If you have a BankID card, please insert it into your card reader. If you don't have a BankID you can get one from your bank.",
            ),
            Rfa::Rfa15B => (
                "Söker efter BankID, det kan ta en liten stund … Om det har gått några sekunder och inget BankID har hittats har du sannolikt inget BankID som går att använda för den aktuella identifieringen/underskriften i den här enheten. Om du inte har något BankID kan du skaffa ett hos din bank.",
                "Searching for BankID, it may take a little while … If a few seconds have passed and still no BankID has been found, you probably don't have a BankID which can be used for this identification/signing on this device. If you don't have a BankID you can get one from your bank.",
            ),
            Rfa::Rfa16 => (
                "Det BankID du försöker använda är för gammalt eller spärrat. Använd ett annat BankID eller skaffa ett nytt hos din bank.",
                "The BankID you are trying to use is blocked or too old. Please use another BankID or get a new one from your bank.",
            ),
            Rfa::Rfa17A => (
                "BankID-appen verkar inte finnas i din dator eller telefon. Installera den och skaffa ett BankID hos din bank. Installera appen från din appbutik eller https://install.bankid.com.",
                "The BankID app couldn't be found on your computer or mobile device. Please install it and get a BankID from your bank. Install the app from your app store or https://install.bankid.com.",
            ),
            Rfa::Rfa17B => (
                "Misslyckades att läsa av QR-koden. Starta BankID-appen och läs av QR-koden. Kontrollera att BankID-appen är uppdaterad. Om du inte har BankID-appen måste du installera den och skaffa ett BankID hos din bank. Installera appen från din appbutik eller https://install.bankid.com.",
                "Failed to scan the QR code. Start the BankID app and scan the QR code. Check that the BankID app is updated. If you don't have the BankID app, you need to install it and get a BankID from your bank. Install the app from your app store or https://install.bankid.com.",
            ),
            Rfa::Rfa21 => (
                "Identifiering eller underskrift pågår.",
                "Identification or signing in progress.",
            ),
            Rfa::Rfa22 => (
                "Okänt fel. Försök igen.",
                "Unknown error. Please try again.",
            ),
            Rfa::Rfa23 => (
                "Fotografera och läs av din ID-handling med BankID-appen.",
                "Process your machine readable travel document using the BankID app.",
            ),
        }
    }

    pub fn message(self) -> UserMessage {
        let (sv, en) = self.texts();
        UserMessage {
            sv: sv.to_owned(),
            en: en.to_owned(),
        }
    }
}

/// How the user was sent to the app: it changes which message fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMethod {
    /// The app was started on this device with the autostart link.
    AutoStart,
    /// The user scans a QR code with another device.
    QrCode,
    /// A phone order (the user is on the phone with the RP).
    Phone,
}

/// The message for a pending or failed order.
pub fn for_hint(hint: &HintCode, method: StartMethod) -> Rfa {
    match hint {
        HintCode::OutstandingTransaction | HintCode::NoClient => match method {
            StartMethod::AutoStart => Rfa::Rfa13,
            StartMethod::QrCode | StartMethod::Phone => Rfa::Rfa1,
        },
        HintCode::Started => match method {
            StartMethod::AutoStart => Rfa::Rfa14B,
            StartMethod::QrCode | StartMethod::Phone => Rfa::Rfa15B,
        },
        HintCode::UserSign | HintCode::UserCallConfirm => Rfa::Rfa9,
        HintCode::UserMrtd => Rfa::Rfa23,
        HintCode::ExpiredTransaction => Rfa::Rfa8,
        HintCode::CertificateErr | HintCode::NotSupportedByUserApp => Rfa::Rfa16,
        HintCode::UserCancel | HintCode::UserDeclinedCall => Rfa::Rfa6,
        HintCode::Cancelled => Rfa::Rfa3,
        HintCode::StartFailed => match method {
            StartMethod::QrCode => Rfa::Rfa17B,
            StartMethod::AutoStart | StartMethod::Phone => Rfa::Rfa17A,
        },
        HintCode::TransactionRiskBlocked => Rfa::Rfa22,
        // An unknown code of a pending order still means "in progress".
        HintCode::Unknown(_) => Rfa::Rfa21,
    }
}

/// The message for an unknown code of a failed order.
pub fn for_unknown_failure() -> Rfa {
    Rfa::Rfa22
}

/// The message for an error answer.
pub fn for_error(code: &ErrorCode) -> Rfa {
    match code {
        ErrorCode::AlreadyInProgress => Rfa::Rfa4,
        ErrorCode::RequestTimeout | ErrorCode::InternalError | ErrorCode::Maintenance => Rfa::Rfa5,
        ErrorCode::InvalidParameters
        | ErrorCode::Unauthorized
        | ErrorCode::NotFound
        | ErrorCode::MethodNotAllowed
        | ErrorCode::UnsupportedMediaType
        | ErrorCode::Unknown(_) => Rfa::Rfa22,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_both_languages_and_they_differ() {
        for rfa in Rfa::ALL {
            let (sv, en) = rfa.texts();
            assert!(!sv.is_empty() && !en.is_empty(), "{rfa:?}");
            assert_ne!(sv, en, "{rfa:?}");
        }
    }

    #[test]
    fn every_code_has_a_message() {
        for hint in HintCode::ALL {
            for m in [
                StartMethod::AutoStart,
                StartMethod::QrCode,
                StartMethod::Phone,
            ] {
                let _ = for_hint(hint, m).texts();
            }
        }
        assert_eq!(
            for_hint(&HintCode::StartFailed, StartMethod::QrCode),
            Rfa::Rfa17B
        );
        assert_eq!(
            for_hint(&HintCode::OutstandingTransaction, StartMethod::AutoStart),
            Rfa::Rfa13
        );
        assert_eq!(
            for_hint(&HintCode::UserSign, StartMethod::QrCode),
            Rfa::Rfa9
        );
        assert_eq!(
            for_hint(&HintCode::Unknown("new".into()), StartMethod::QrCode),
            Rfa::Rfa21
        );
        assert_eq!(for_error(&ErrorCode::AlreadyInProgress), Rfa::Rfa4);
        assert_eq!(for_error(&ErrorCode::Maintenance), Rfa::Rfa5);
        assert_eq!(for_error(&ErrorCode::Unknown("x".into())), Rfa::Rfa22);
        assert!(Rfa::Rfa6.message().sv.starts_with("Åtgärden avbruten"));
    }
}
