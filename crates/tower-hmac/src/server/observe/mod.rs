//! What the layer tells its operators: one event and one metric per decision, the risk level of
//! each, and the record of a refusal they are made from.

#[cfg(feature = "metrics")]
mod catalog;
mod events;
mod failure;
mod risk;

pub use events::TRACING_TARGET;
pub(crate) use events::{AuditMeta, log_accepted, log_refusal_outside_layer, log_rejected};
pub(crate) use failure::Failure;
pub use risk::{RiskLevel, Signal, Signals};
