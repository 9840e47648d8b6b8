//! The vault: its stores, the delegating client, the incident path.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod at_rest;
mod client;
mod client_config;
mod client_fake_upstream;
mod client_hostile_upstream;
mod client_refresher;
mod client_tower;
mod incident;
mod postgres_store;
mod redis_store;
mod store_support;
mod stores;
mod tokens;
