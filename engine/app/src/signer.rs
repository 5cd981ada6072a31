//! The signing port over `engine/pades`: PAdES signatures, the last one sealed for the long
//! term (B-LTA).

use blankett_core::document::{DocumentSigner, SignFailure, SignatureOrder};
use blankett_pades::{Pades, Placement, SignatureRequest, SignerIdentity};

/// [`DocumentSigner`] by PAdES.
pub struct PadesSigner(pub Pades);

impl DocumentSigner for PadesSigner {
    fn sign(&self, pdf: &[u8], order: &SignatureOrder<'_>) -> Result<Vec<u8>, SignFailure> {
        let identity = SignerIdentity {
            given_name: order.identity.given_name.clone(),
            surname: order.identity.surname.clone(),
            full_name: order.identity.full_name.clone(),
            personnummer: Some(order.identity.personnummer.as_str().to_owned()),
        };
        let request = SignatureRequest {
            field: order.field,
            placement: order.placement.as_ref().map(|p| Placement {
                page: p.page as usize,
                rect: p.rect,
            }),
            identity: &identity,
            role: order.role,
            method: order.method,
            time: order.time,
            note: order.note,
        };
        let fail = |e: blankett_pades::SignError| SignFailure(e.to_string());
        let signed = self.0.sign(pdf, &request).map_err(fail)?;
        if order.seal {
            self.0.seal_long_term(&signed, order.time).map_err(fail)
        } else {
            Ok(signed)
        }
    }
}
