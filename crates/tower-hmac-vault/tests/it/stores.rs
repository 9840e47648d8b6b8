//! The vault stores' conformance suite (`tower_hmac_vault::conformance::run`) on every store: in
//! memory, on the machine's Redis (a prefix of this run's own), on a Redis Cluster of the test's
//! own (three nodes: every script's keys in one slot, or `CROSSSLOT` fails it), and on
//! PostgreSQL (a schema of this run's own). Each leaves nothing behind: the Redis tests check
//! that the suite's deletes removed every key, index entries included.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use tower_hmac_integration::cluster::Cluster;
use tower_hmac_integration::wait::PATIENCE;
use tower_hmac_vault::UserHash;
use tower_hmac_vault::conformance;
use tower_hmac_vault::store::{MemoryVaultStore, RedisVaultStore, SealedRecord, VaultStore as _};

use crate::store_support::{
    postgres_cleanup, postgres_store, redis_cleanup, redis_keys, redis_store,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_memory_store_conforms() {
    conformance::run(Arc::new(MemoryVaultStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_redis_store_conforms_and_leaves_no_key_behind() {
    let (store, prefix) = redis_store("vault-conformance").await;
    conformance::run(Arc::new(store)).await;
    let left = redis_keys(&prefix).await;
    redis_cleanup(&prefix).await;
    assert_eq!(
        left,
        Vec::<String>::new(),
        "every record and index entry deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_postgres_store_conforms() {
    let (store, schema) = postgres_store("conformance").await;
    conformance::run(Arc::new(store.clone())).await;
    postgres_cleanup(&store, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_redis_store_conforms_on_a_cluster_with_each_users_keys_in_one_slot() {
    let cluster = Cluster::start().await;
    let prefix = tower_hmac_integration::unique_prefix("vault-cluster");
    let store = RedisVaultStore::from_connection(cluster.connection().await, &prefix)
        .unwrap()
        .with_timeout(PATIENCE);
    conformance::run(Arc::new(store.clone())).await;

    // A user's records and upstream set share one slot; users spread over the nodes.
    let mut nodes = BTreeSet::new();
    for n in 0..32u8 {
        let user = UserHash::from_hex(&format!("{:02x}", n.wrapping_mul(37)).repeat(32)).unwrap();
        let mut slots = BTreeSet::new();
        for upstream in ["github", "gitlab", "x.y-z_1"] {
            let record = SealedRecord {
                user: user.clone(),
                upstream: upstream.into(),
                master_key: "k1".into(),
                nonce: [1; 12],
                ciphertext: vec![2; 40],
                expires_at: 1_900_000_000,
                version: 1,
            };
            assert!(store.put(&record, None).await.unwrap());
            slots.insert(cluster.slot_of(&store.record_key(&user, upstream)).await);
        }
        slots.insert(cluster.slot_of(&store.user_key(&user)).await);
        assert_eq!(slots.len(), 1, "one slot per user");
        nodes.insert(Cluster::node_of_slot(*slots.first().unwrap()));
        assert_eq!(store.delete_user(&user).await.unwrap(), 3);
    }
    assert_eq!(nodes.len(), 3, "users spread over every node");
    assert_eq!(store.expiring(u64::MAX, None, 10).await.unwrap(), vec![]);
    assert_eq!(cluster.keys_per_node().await, vec![0, 0, 0], "nothing left");
}
