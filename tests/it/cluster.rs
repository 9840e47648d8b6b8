//! The three-node Redis Cluster of the tests that need one: the integration library's
//! (`tower_hmac_integration::cluster`), shared with the demo's multi-instance test.

pub(crate) use tower_hmac_integration::cluster::{Cluster, NODES, node};
