//! The delegating client as a Tower layer, over the fake upstream's router in memory (the refresh
//! itself goes over TCP to its token endpoint).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use http::{Request, Response, header};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_hmac_vault::client::{DelegationError, DelegationLayer, OnBehalfOf};

use crate::client_fake_upstream::{HOUR, Setup};

/// The fake's router, recording whether each request's `Authorization` was marked sensitive.
fn upstream_service(
    router: axum::Router,
    sensitive: Arc<Mutex<Vec<bool>>>,
) -> impl Service<Request<String>, Response = Response<Body>, Error = Infallible, Future = impl Send>
+ Clone
+ Send
+ 'static {
    tower::service_fn(move |req: Request<String>| {
        if let Some(value) = req.headers().get(header::AUTHORIZATION) {
            sensitive.lock().unwrap().push(value.is_sensitive());
        }
        router.clone().oneshot(req)
    })
}

fn me(setup: &Setup, scopes: &[&str]) -> Request<String> {
    let mut req = Request::get(setup.up.api("me"))
        .body(String::new())
        .unwrap();
    req.extensions_mut()
        .insert(OnBehalfOf::new("alice", "fake", scopes.iter().copied()));
    req
}

#[tokio::test]
async fn the_layer_refreshes_on_401_and_retries_once() {
    let setup = Setup::new().await;
    setup.link("alice", HOUR, &["profile"]).await;
    setup.up.expire_all();
    let sensitive = Arc::new(Mutex::new(Vec::new()));
    let service = ServiceBuilder::new()
        .layer(DelegationLayer::new(setup.delegation.clone()))
        .service(upstream_service(
            setup.up.router.clone(),
            Arc::clone(&sensitive),
        ));

    let res = service.oneshot(me(&setup, &["profile"])).await.unwrap();

    assert_eq!(res.status(), 200);
    assert_eq!(setup.up.refreshes(), 1);
    assert_eq!(setup.up.state.stale.load(Ordering::SeqCst), 1);
    assert_eq!(
        setup.up.state.me_calls.load(Ordering::SeqCst),
        2,
        "one retry"
    );
    assert_eq!(*sensitive.lock().unwrap(), [true, true]);
}

#[tokio::test]
async fn the_layer_refuses_a_missing_scope_and_a_relative_uri_before_sending() {
    let setup = Setup::new().await;
    setup.link("alice", HOUR, &["profile"]).await;
    let sensitive = Arc::new(Mutex::new(Vec::new()));
    let service = ServiceBuilder::new()
        .layer(DelegationLayer::new(setup.delegation.clone()))
        .service(upstream_service(
            setup.up.router.clone(),
            Arc::clone(&sensitive),
        ));

    let err = service
        .clone()
        .oneshot(me(&setup, &["admin"]))
        .await
        .unwrap_err();
    assert_eq!(
        DelegationError::from_boxed(&*err).unwrap().code(),
        "insufficient_scope"
    );

    let mut relative = Request::get("/api/me").body(String::new()).unwrap();
    relative
        .extensions_mut()
        .insert(OnBehalfOf::new("alice", "fake", ["profile"]));
    let err = service.oneshot(relative).await.unwrap_err();
    assert_eq!(
        DelegationError::from_boxed(&*err).unwrap().code(),
        "insecure_destination"
    );

    assert_eq!(setup.up.state.me_calls.load(Ordering::SeqCst), 0);
}
