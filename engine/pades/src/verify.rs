//! Verification of the signatures in a PDF (owned by the verification work; see the module
//! docs once written).
