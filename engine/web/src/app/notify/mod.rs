//! Notifications and webhooks: the outbox (what a case write causes, written in the same
//! transaction) and its delivery worker are `blankett_app::outbox`; here are its pages.

pub use blankett_app::outbox::deliver as worker;
pub use blankett_app::outbox::*;
pub mod pages;
