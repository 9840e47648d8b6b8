//! Incoming webhooks (feature `webhooks`): GitHub's, Stripe's and Slack's signatures as schemes,
//! each mounted on the route that receives them.
//!
//! A provider sends no key id: each scheme is made with the registry key id whose secret it
//! verifies with — the provider's secret as issued, `secret_text` in the registry (the key's
//! [`text_form`], used as bytes). The time is the layer's window (300 s by
//! default, as the providers' SDKs use) and a second delivery of the same signed event within it
//! is refused: the signature is the replay key.
//!
//! ```
//! use tower_hmac_core::webhooks::{Slack, Stripe};
//!
//! let stripe = Stripe::new("stripe-webhooks");
//! let slack = Slack::new("slack-signing");
//! # let _ = (stripe, slack);
//! ```
//!
//! [`text_form`]: crate::SecretKey::text_form

mod github;
mod shared;
mod slack;
mod stripe;
#[cfg(test)]
mod testing;

pub use github::{DEFAULT_GITHUB_WINDOW, GitHub, github_signature};
pub use shared::{WebhookCredentials, WebhookPending};
pub use slack::{Slack, slack_signature};
pub use stripe::{Stripe, stripe_signature};
