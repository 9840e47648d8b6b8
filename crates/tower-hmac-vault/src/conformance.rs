//! The suite every [`VaultStore`] passes (feature `conformance`): run it on your own store.
//!
//! ```
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use tower_hmac_vault::{conformance, store::MemoryVaultStore};
//!
//! conformance::run(Arc::new(MemoryVaultStore::new())).await;
//! # });
//! ```
//!
//! Give it an **empty store of its own** (a fresh key prefix, a fresh schema): it counts what
//! `expiring` and `sealed_under_other` answer, which other records would change. Each check
//! deletes what it wrote. Panics on a violated property.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

use std::sync::Arc;
use std::time::Duration;

use tower_hmac_core::SecretKey;
use tower_hmac_core::keyring::{Keyring, MasterKey};

use crate::store::{Expiring, SealedRecord, VaultStore};
use crate::{DelegatedTokens, UserHash, Vault};

/// A user hash of its own for `n` (the store never needs a real one).
fn user(n: u8) -> UserHash {
    UserHash::from_hex(&format!("{n:02x}").repeat(32)).unwrap()
}

fn record(user: &UserHash, upstream: &str, master: &str, expires_at: u64) -> SealedRecord {
    SealedRecord {
        user: user.clone(),
        upstream: upstream.to_owned(),
        master_key: master.to_owned(),
        nonce: [7; 12],
        ciphertext: vec![0, 1, 2, 0xff, 0, 0x80],
        expires_at,
        version: 1,
    }
}

/// Runs every check against `store` (empty, and nobody else's meanwhile).
pub async fn run(store: Arc<dyn VaultStore>) {
    store.ping().await.unwrap();
    get_returns_what_put_wrote(&*store).await;
    put_is_compare_and_set(&*store).await;
    one_of_twenty_concurrent_puts_wins(Arc::clone(&store)).await;
    delete_deletes_one_record(&*store).await;
    delete_user_deletes_only_that_users_records(&*store).await;
    expiring_answers_soonest_first_within_limit_and_bound(&*store).await;
    expiring_pages_after_a_record(&*store).await;
    sealed_under_other_answers_records_of_other_master_keys(&*store).await;
    a_vault_over_the_store_seals_replaces_and_revokes(Arc::clone(&store)).await;
    a_vault_over_the_store_reencrypts_after_a_rotation(store).await;
}

async fn get_returns_what_put_wrote(store: &dyn VaultStore) {
    let (u, other) = (user(1), user(2));
    assert_eq!(
        store.get(&u, "up").await.unwrap(),
        None,
        "nothing stored yet"
    );
    let mut r = record(&u, "up", "k1", 1_900_000_000);
    // Every byte value survives, the nonce and the ciphertext are binary.
    r.nonce = [0, 0xff, 1, 0x80, b'{', b'}', b':', 0, 0, 0, 0, 0];
    r.ciphertext = (0..=255).collect();
    assert!(store.put(&r, None).await.unwrap());
    assert_eq!(store.get(&u, "up").await.unwrap(), Some(r.clone()));
    assert_eq!(
        store.get(&u, "other").await.unwrap(),
        None,
        "another upstream"
    );
    assert_eq!(store.get(&other, "up").await.unwrap(), None, "another user");
    assert!(store.delete(&u, "up").await.unwrap());
}

async fn put_is_compare_and_set(store: &dyn VaultStore) {
    let u = user(3);
    let first = record(&u, "up", "k1", 100);
    assert!(store.put(&first, None).await.unwrap());
    let mut second = record(&u, "up", "k1", 200);
    second.version = 2;
    assert!(
        !store.put(&second, None).await.unwrap(),
        "None when a record exists"
    );
    assert!(
        !store.put(&second, Some(7)).await.unwrap(),
        "another version"
    );
    assert_eq!(store.get(&u, "up").await.unwrap(), Some(first));
    assert!(store.put(&second, Some(1)).await.unwrap());
    assert!(
        !store.put(&second, Some(1)).await.unwrap(),
        "version 1 is gone"
    );
    assert_eq!(store.get(&u, "up").await.unwrap(), Some(second));
    let mut absent = record(&u, "absent", "k1", 100);
    absent.version = 5;
    assert!(
        !store.put(&absent, Some(4)).await.unwrap(),
        "Some when nothing is there"
    );
    assert_eq!(store.get(&u, "absent").await.unwrap(), None);
    assert!(store.delete(&u, "up").await.unwrap());
}

async fn one_of_twenty_concurrent_puts_wins(store: Arc<dyn VaultStore>) {
    let u = user(4);
    assert!(store.put(&record(&u, "up", "k1", 100), None).await.unwrap());
    let tasks: Vec<_> = (0..20u8)
        .map(|i| {
            let store = Arc::clone(&store);
            let u = u.clone();
            tokio::spawn(async move {
                let mut r = record(&u, "up", "k1", 100);
                r.version = 2;
                r.ciphertext = vec![i];
                (i, store.put(&r, Some(1)).await.unwrap())
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (i, won) = task.await.unwrap();
        if won {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one of 20 concurrent puts wins");
    let stored = store.get(&u, "up").await.unwrap().unwrap();
    assert_eq!((stored.version, stored.ciphertext), (2, vec![winners[0]]));
    assert!(store.delete(&u, "up").await.unwrap());
}

async fn delete_deletes_one_record(store: &dyn VaultStore) {
    let u = user(5);
    assert!(!store.delete(&u, "up").await.unwrap(), "nothing to delete");
    for upstream in ["up", "other"] {
        assert!(
            store
                .put(&record(&u, upstream, "k1", 100), None)
                .await
                .unwrap()
        );
    }
    assert!(store.delete(&u, "up").await.unwrap());
    assert!(!store.delete(&u, "up").await.unwrap(), "deleted once");
    assert_eq!(store.get(&u, "up").await.unwrap(), None);
    assert!(store.get(&u, "other").await.unwrap().is_some());
    // A deleted record can be written again from nothing.
    assert!(store.put(&record(&u, "up", "k1", 100), None).await.unwrap());
    assert_eq!(store.delete_user(&u).await.unwrap(), 2);
}

async fn delete_user_deletes_only_that_users_records(store: &dyn VaultStore) {
    let (u, other) = (user(6), user(7));
    for upstream in ["a", "b", "c"] {
        assert!(
            store
                .put(&record(&u, upstream, "k1", 100), None)
                .await
                .unwrap()
        );
    }
    assert!(
        store
            .put(&record(&other, "a", "k1", 100), None)
            .await
            .unwrap()
    );
    assert_eq!(store.delete_user(&u).await.unwrap(), 3);
    for upstream in ["a", "b", "c"] {
        assert_eq!(store.get(&u, upstream).await.unwrap(), None);
    }
    assert!(
        store.get(&other, "a").await.unwrap().is_some(),
        "another user's record stays"
    );
    assert_eq!(store.delete_user(&u).await.unwrap(), 0, "nothing left");
    assert_eq!(
        due(store, u64::MAX, 10).await,
        vec![(other.clone(), "a".into())]
    );
    assert_eq!(store.delete_user(&other).await.unwrap(), 1);
    assert_eq!(
        due(store, u64::MAX, 10).await,
        vec![],
        "nothing listed after deletes"
    );
}

/// `expiring`'s first page, as (user, upstream).
async fn due(store: &dyn VaultStore, before: u64, limit: usize) -> Vec<(UserHash, String)> {
    let page = store.expiring(before, None, limit).await.unwrap();
    page.into_iter().map(|e| (e.user, e.upstream)).collect()
}

/// Paged with the last record of each page, `expiring` lists every due record once, in
/// `Expiring`'s order — records of the same second by user, then upstream as bytes (`a-c`
/// before `ab`, which a language's collation puts the other way), across the buckets of a
/// store that splits its index; after a record that is gone, from where it was.
async fn expiring_pages_after_a_record(store: &dyn VaultStore) {
    let mut records = Vec::new();
    for (i, first) in [0x31_u8, 0xc4, 0x75, 0x0e, 0xb9].into_iter().enumerate() {
        for upstream in ["ab", "a-c"] {
            let expires_at = if i < 4 { 700 } else { 650 };
            records.push(Expiring {
                expires_at,
                user: user(first),
                upstream: upstream.to_owned(),
            });
        }
    }
    for e in &records {
        assert!(
            store
                .put(&record(&e.user, &e.upstream, "k1", e.expires_at), None)
                .await
                .unwrap()
        );
    }
    records.sort();
    for limit in [1, 3, 4, 10, 11] {
        let mut listed: Vec<Expiring> = Vec::new();
        loop {
            let page = store.expiring(1_000, listed.last(), limit).await.unwrap();
            assert!(page.len() <= limit);
            let last = page.len() < limit;
            listed.extend(page);
            if last {
                break;
            }
        }
        assert_eq!(listed, records, "pages of {limit}");
    }
    let middle = records[4].clone();
    assert_eq!(
        store.expiring(1_000, Some(&middle), 100).await.unwrap(),
        records[5..],
        "after a record of the same second"
    );
    assert!(store.delete(&middle.user, &middle.upstream).await.unwrap());
    assert_eq!(
        store.expiring(1_000, Some(&middle), 3).await.unwrap(),
        records[5..8],
        "after a record that is gone"
    );
    records.remove(4);
    assert_eq!(
        store.expiring(700, Some(&records[0]), 100).await.unwrap(),
        records[1..2],
        "before is still exclusive"
    );
    for e in &records {
        assert!(store.delete(&e.user, &e.upstream).await.unwrap());
    }
}

async fn expiring_answers_soonest_first_within_limit_and_bound(store: &dyn VaultStore) {
    // Users in several buckets of a store that splits its index.
    let records = [
        (user(0x11), "a", 500),
        (user(0xa2), "b", 300),
        (user(0x53), "c", 400),
    ];
    for (u, upstream, expires_at) in &records {
        assert!(
            store
                .put(&record(u, upstream, "k1", *expires_at), None)
                .await
                .unwrap()
        );
    }
    let pair = |i: usize| (records[i].0.clone(), records[i].1.to_owned());
    assert_eq!(
        due(store, 1_000, 10).await,
        vec![pair(1), pair(2), pair(0)],
        "soonest first"
    );
    assert_eq!(due(store, 1_000, 2).await, vec![pair(1), pair(2)], "limit");
    assert_eq!(
        due(store, 400, 10).await,
        vec![pair(1)],
        "before is exclusive"
    );
    assert_eq!(due(store, 300, 10).await, vec![]);
    assert_eq!(due(store, 1_000, 0).await, vec![]);
    // A refresh moves a record later: it is no longer due.
    let mut later = record(&records[1].0, "b", "k1", 900);
    later.version = 2;
    assert!(store.put(&later, Some(1)).await.unwrap());
    assert_eq!(due(store, 500, 10).await, vec![pair(2)]);
    assert_eq!(due(store, 1_000, 1).await, vec![pair(2)]);
    // Deleted records are not due.
    for (u, upstream, _) in &records {
        assert!(store.delete(u, upstream).await.unwrap());
    }
    assert_eq!(due(store, u64::MAX, 10).await, vec![]);
}

async fn sealed_under_other_answers_records_of_other_master_keys(store: &dyn VaultStore) {
    let records = [
        (user(0x21), "a", "old"),
        (user(0x92), "b", "current"),
        (user(0xc3), "c", "older"),
        (user(0x24), "d", "current-but-longer"),
    ];
    for (u, upstream, master) in &records {
        assert!(
            store
                .put(&record(u, upstream, master, 100), None)
                .await
                .unwrap()
        );
    }
    let sorted = |mut v: Vec<(UserHash, String)>| {
        v.sort();
        v
    };
    let others = sorted(store.sealed_under_other("current", 10).await.unwrap());
    let mut expected: Vec<_> = [0, 2, 3]
        .map(|i| (records[i].0.clone(), records[i].1.to_owned()))
        .into();
    expected.sort();
    assert_eq!(others, expected);
    assert_eq!(
        store.sealed_under_other("current", 2).await.unwrap().len(),
        2,
        "limit"
    );
    assert_eq!(
        store.sealed_under_other("current", 0).await.unwrap(),
        vec![]
    );
    // Re-sealed under the current key: no longer listed.
    let mut resealed = record(&records[0].0, "a", "current", 100);
    resealed.version = 2;
    assert!(store.put(&resealed, Some(1)).await.unwrap());
    assert_eq!(
        store.sealed_under_other("current", 10).await.unwrap().len(),
        2
    );
    for (u, upstream, _) in &records {
        assert!(store.delete(u, upstream).await.unwrap());
    }
    assert_eq!(
        store.sealed_under_other("current", 10).await.unwrap(),
        vec![]
    );
}

fn tokens(access: &str, expires_at: u64) -> DelegatedTokens {
    DelegatedTokens::new(
        access,
        Some(format!("refresh-of-{access}")),
        expires_at,
        vec!["read".into()],
    )
}

async fn a_vault_over_the_store_seals_replaces_and_revokes(store: Arc<dyn VaultStore>) {
    let vault = Vault::with_shared_store(
        store,
        Keyring::new(MasterKey::generate().unwrap()),
        SecretKey::generate().unwrap(),
    );
    assert!(vault.get("alice", "github").await.unwrap().is_none());
    vault
        .put("alice", "github", &tokens("a1", 1_000))
        .await
        .unwrap();
    vault
        .put("alice", "gitlab", &tokens("a2", 2_000))
        .await
        .unwrap();
    vault
        .put("bob", "github", &tokens("b1", 3_000))
        .await
        .unwrap();
    let entry = vault.get("alice", "github").await.unwrap().unwrap();
    assert_eq!(entry.tokens.access_token(), "a1");
    assert_eq!(entry.tokens.refresh_token(), Some("refresh-of-a1"));
    assert_eq!(entry.tokens.expires_at(), 1_000);
    assert_eq!(entry.tokens.scopes(), ["read".to_owned()]);
    // A link again replaces the record.
    vault
        .put("alice", "github", &tokens("a1b", 1_500))
        .await
        .unwrap();
    let entry = vault.get("alice", "github").await.unwrap().unwrap();
    assert_eq!(entry.tokens.access_token(), "a1b");
    // A refresh replaces it if nobody else did first.
    let alice = vault.user_hash("alice").unwrap();
    assert!(
        vault
            .replace(&alice, "github", entry.version, &tokens("a1c", 9_000))
            .await
            .unwrap()
    );
    assert!(
        !vault
            .replace(&alice, "github", entry.version, &tokens("a1d", 9_000))
            .await
            .unwrap()
    );
    let entry = vault.get_hashed(&alice, "github").await.unwrap().unwrap();
    assert_eq!(entry.tokens.access_token(), "a1c");
    assert_eq!(
        due(&**vault.store(), 5_000, 10).await,
        vec![
            (alice.clone(), "gitlab".to_owned()),
            (vault.user_hash("bob").unwrap(), "github".into())
        ]
    );
    assert!(vault.revoke("alice", "gitlab").await.unwrap());
    assert!(!vault.revoke("alice", "gitlab").await.unwrap());
    assert_eq!(vault.revoke_user("alice").await.unwrap(), 1);
    assert!(vault.get("alice", "github").await.unwrap().is_none());
    assert_eq!(
        vault
            .get("bob", "github")
            .await
            .unwrap()
            .unwrap()
            .tokens
            .access_token(),
        "b1"
    );
    assert_eq!(vault.revoke_user("bob").await.unwrap(), 1);
    assert_eq!(
        vault
            .expiring(Duration::from_secs(u64::MAX), None, 10)
            .await
            .unwrap(),
        vec![]
    );
}

async fn a_vault_over_the_store_reencrypts_after_a_rotation(store: Arc<dyn VaultStore>) {
    let old = MasterKey::generate().unwrap();
    let vault = Vault::with_shared_store(
        store,
        Keyring::new(old.clone()),
        SecretKey::generate().unwrap(),
    );
    let users = ["carol", "dave", "erin"];
    for user in users {
        vault.put(user, "up", &tokens(user, 100)).await.unwrap();
    }
    let new = MasterKey::generate().unwrap();
    vault.set_keyring(Keyring::new(new.clone()).with_previous(old));
    assert_eq!(vault.reencrypt(2).await.unwrap(), 2);
    assert_eq!(vault.reencrypt(10).await.unwrap(), 1);
    assert_eq!(vault.reencrypt(10).await.unwrap(), 0);
    assert_eq!(
        vault
            .store()
            .sealed_under_other(new.id(), 10)
            .await
            .unwrap(),
        vec![]
    );
    // The previous key dropped: every record still opens.
    vault.set_keyring(Keyring::new(new));
    for user in users {
        let entry = vault.get(user, "up").await.unwrap().unwrap();
        assert_eq!(entry.tokens.access_token(), user);
        assert_eq!(vault.revoke_user(user).await.unwrap(), 1);
    }
}
