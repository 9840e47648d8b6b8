//! What a reload changes, key by key, and its audit trail (tracing events, never a secret).

use std::path::Path;

use tower_hmac_core::KeyRecord;

use super::{InMemoryRegistry, RELOAD_TRACING_TARGET, ReloadSummary};

pub(super) fn audit(path: &Path, summary: &ReloadSummary) {
    tracing::info!(
        target: RELOAD_TRACING_TARGET,
        file = %path.display(),
        added = summary.added.len(),
        removed = summary.removed.len(),
        updated = summary.updated.len(),
        "registry file reloaded"
    );
}

/// The audit event of one key's change: what changed, the state before and after (never a
/// secret).
fn audit_key(path: &Path, key_id: &str, old: Option<&KeyRecord>, new: Option<&KeyRecord>) {
    let state = |r: Option<&KeyRecord>| match r.map(KeyRecord::state) {
        None => "absent",
        Some(tower_hmac_core::KeyState::Active) => "active",
        Some(_) => "revoked",
    };
    let mut what = Vec::new();
    if let (Some(old), Some(new)) = (old, new) {
        if old.state() != new.state() {
            what.push("state");
        }
        if !same_secret(old, new) {
            what.push("secret");
        }
        if old.not_before() != new.not_before() || old.not_after() != new.not_after() {
            what.push("validity");
        }
        if old.schemes() != new.schemes() {
            what.push("schemes");
        }
        if old.app_id() != new.app_id() {
            what.push("app");
        }
    }
    let change = match (old, new) {
        (None, _) => "added",
        (_, None) => "removed",
        _ => "updated",
    };
    tracing::info!(
        target: RELOAD_TRACING_TARGET,
        file = %path.display(),
        key_id = %key_id,
        change,
        changed = %what.join(","),
        old_state = state(old),
        new_state = state(new),
        app_id = new.or(old).map(KeyRecord::app_id).unwrap_or_default(),
        "registry key {change}"
    );
}

/// Puts `next`'s keys in force in `keys` (one swap under the lock) and says what changed.
pub(super) fn swap(path: &Path, keys: &InMemoryRegistry, next: &InMemoryRegistry) -> ReloadSummary {
    let new = next.snapshot();
    let old = keys.replace_all(new.clone());
    let mut summary = ReloadSummary {
        changed: true,
        ..ReloadSummary::default()
    };
    for (id, record) in &new {
        match old.get(id) {
            None => {
                audit_key(path, id, None, Some(record));
                summary.added.push(id.to_string());
            }
            Some(before) if record_changed(before, record) => {
                audit_key(path, id, Some(before), Some(record));
                summary.updated.push(id.to_string());
            }
            Some(_) => {}
        }
    }
    for (id, record) in &old {
        if !new.contains_key(id) {
            audit_key(path, id, Some(record), None);
            summary.removed.push(id.to_string());
        }
    }
    for ids in [
        &mut summary.added,
        &mut summary.removed,
        &mut summary.updated,
    ] {
        ids.sort_unstable();
    }
    summary
}

/// Whether two records differ in anything that changes what they accept.
fn record_changed(old: &KeyRecord, new: &KeyRecord) -> bool {
    old.app_id() != new.app_id()
        || old.state() != new.state()
        || old.schemes() != new.schemes()
        || old.not_before() != new.not_before()
        || old.not_after() != new.not_after()
        || !same_secret(old, new)
}

fn same_secret(old: &KeyRecord, new: &KeyRecord) -> bool {
    use subtle::ConstantTimeEq as _;
    // The text form too: the same bytes given as text or as Base64 sign differently for SigV4.
    old.secret().text_form().len() == new.secret().text_form().len()
        && bool::from(
            old.secret()
                .expose_secret()
                .ct_eq(new.secret().expose_secret()),
        )
}
