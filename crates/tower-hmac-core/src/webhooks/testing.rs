//! Helpers for the providers' tests.

use http::request::Parts;

use crate::key::SecretKey;
use crate::rejection::Rejection;
use crate::scheme::{Scheme, Verified};

pub(super) fn secret() -> SecretKey {
    SecretKey::from_text("whsec_demo_secret_not_a_real_one_0001").unwrap()
}

pub(super) fn parts(headers: &[(&str, &str)]) -> Parts {
    let mut b = http::Request::post("/hook");
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(()).unwrap().into_parts().0
}

pub(super) fn run<S: Scheme>(scheme: &S, p: &Parts, body: &[u8]) -> Result<Verified, Rejection> {
    let creds = scheme.parse(p, 4096)?;
    let mut pending = scheme.prepare(&creds, p, &secret())?;
    scheme.update(&mut pending, &body[..body.len() / 2]);
    scheme.update(&mut pending, &body[body.len() / 2..]);
    scheme.verify(&creds, pending, &secret())
}
