//! The security-incident path: every delegated token and every session of a user, in one call.

use async_trait::async_trait;
use tower_hmac_core::audit::{AuditEvent, AuditKind};

use crate::{Vault, VaultError};

/// Something else that holds a user's credentials and can revoke them all: the sessions
/// (`tower_hmac_sessions::Sessions`, whose denylist Redis shares between instances, with the
/// feature `sessions`), an API key table, …
#[async_trait]
pub trait SubjectRevoker: Send + Sync {
    /// Revokes everything of `subject`; how many.
    async fn revoke_subject(
        &self,
        subject: &str,
    ) -> Result<usize, Box<dyn std::error::Error + Send + Sync>>;
}

#[cfg(feature = "sessions")]
#[async_trait]
impl SubjectRevoker for tower_hmac_sessions::Sessions {
    async fn revoke_subject(
        &self,
        subject: &str,
    ) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
        // The incident's one event is `revoke_all`'s, with the user hashed: not a second one
        // naming them in clear.
        Ok(self.end_subject_sessions(subject).await?)
    }
}

/// What [`revoke_all`] revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevokedAll {
    /// Delegated token records deleted from the vault.
    pub tokens: usize,
    /// What the other revokers revoked (sessions, …).
    pub others: usize,
}

/// Revokes every upstream's tokens of `user` in `vault` and everything `others` hold of them
/// (their sessions): one `ALL_TOKENS_REVOKED` event (high risk) with the total. Every revoker
/// is tried even when one fails; the first failure is then returned (the event says
/// `reason = "partial"`).
pub async fn revoke_all(
    vault: &Vault,
    user: &str,
    others: &[&dyn SubjectRevoker],
) -> Result<RevokedAll, VaultError> {
    let hash = vault.user_hash(user)?;
    let mut failure = None;
    let tokens = match vault.store().delete_user(&hash).await {
        Ok(count) => count,
        Err(e) => {
            failure = Some(VaultError::Store(e));
            0
        }
    };
    let mut revoked = 0;
    let mut partial = failure.is_some();
    for other in others {
        match other.revoke_subject(user).await {
            Ok(count) => revoked += count,
            Err(e) => {
                partial = true;
                failure.get_or_insert(VaultError::Store(crate::store::VaultStoreError::new(e)));
            }
        }
    }
    vault.audit().emit(
        AuditEvent::new(AuditKind::AllTokensRevoked, vault.clock().now())
            .subject(hash.as_str())
            .reason(if partial {
                "partial"
            } else {
                "security_incident"
            })
            .count((tokens + revoked) as u64),
    );
    match failure {
        Some(e) => Err(e),
        None => Ok(RevokedAll {
            tokens,
            others: revoked,
        }),
    }
}
