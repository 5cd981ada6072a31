//! Notifications and webhooks: the outbox itself (what a case write causes, written in the same
//! transaction) is `blankett_app::outbox`; here are its delivery worker and its pages.

pub use blankett_app::outbox::*;
pub mod pages;
pub mod worker;
