//! Parsing, the string to sign, signing, verifying, and body hashing, each next to its baseline.

#![allow(missing_docs)] // criterion_group! makes undocumented functions
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark set-up

use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, Method, Uri, header};
use sha2::{Digest, Sha256};
use tower_hmac::protocol::{
    Authorization, BodyHasher, CanonicalRequest, DEFAULT_MAX_HEADER_LEN, body_sha256,
};
use tower_hmac_benches::{authorization, key, signer};

fn head() -> (Method, Uri, HeaderMap) {
    let mut headers = HeaderMap::new();
    headers.insert(header::HOST, "api.example.com".parse().unwrap());
    headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    (
        Method::GET,
        "/orders?id=7&expand=items".parse().unwrap(),
        headers,
    )
}

fn protocol(c: &mut Criterion) {
    let (method, uri, headers) = head();
    let value = authorization(&method, "api.example.com", "/orders?id=7&expand=items", b"");
    let auth = Authorization::parse(value.as_bytes(), DEFAULT_MAX_HEADER_LEN).unwrap();
    let canonical = CanonicalRequest::new(&auth, &method, &uri, &headers).unwrap();
    let hash = body_sha256(b"");
    let key = key();
    let signer = signer();
    let string_to_sign = canonical.string_to_sign(&hash);

    let mut g = c.benchmark_group("protocol");
    g.bench_function("parse Authorization", |b| {
        b.iter(|| Authorization::parse(black_box(value.as_bytes()), DEFAULT_MAX_HEADER_LEN))
    });
    g.bench_function("canonical request (head)", |b| {
        b.iter(|| CanonicalRequest::new(black_box(&auth), &method, &uri, &headers))
    });
    g.bench_function("sign (Signer::sign)", |b| {
        b.iter(|| {
            signer.sign(
                &(&method, &uri, &headers),
                &hash,
                &tower_hmac::protocol::SignParams::new(1_700_000_000, "9b2Zr0Vq3kYH1xQmU5aWcA"),
            )
        })
    });
    g.bench_function("verify (constant-time MAC check)", |b| {
        b.iter(|| canonical.verify(&key, black_box(&hash), auth.signature()))
    });
    g.bench_function(
        format!(
            "baseline: raw HMAC-SHA256 of the {} B string",
            string_to_sign.len()
        ),
        |b| {
            b.iter(|| {
                let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&[0x5a; 32]).unwrap();
                mac.update(black_box(&string_to_sign));
                mac.finalize()
            })
        },
    );
    g.finish();
}

fn bodies(c: &mut Criterion) {
    let mut g = c.benchmark_group("body hashing");
    for size in [1024usize, 64 * 1024, 1024 * 1024] {
        let body = vec![0xabu8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(
            BenchmarkId::new("baseline: sha2 one shot", size),
            &body,
            |b, body| b.iter(|| Sha256::digest(black_box(body))),
        );
        g.bench_with_input(BenchmarkId::new("body_sha256", size), &body, |b, body| {
            b.iter(|| body_sha256(black_box(body)))
        });
        g.bench_with_input(
            BenchmarkId::new("BodyHasher, 16 KiB chunks", size),
            &body,
            |b, body| {
                b.iter(|| {
                    let mut h = BodyHasher::new();
                    for chunk in body.chunks(16 * 1024) {
                        h.update(black_box(chunk));
                    }
                    h.finish()
                })
            },
        );
    }
    g.bench_function("body_sha256 of the empty body (constant)", |b| {
        b.iter(|| body_sha256(black_box(b"")))
    });
    g.finish();
}

criterion_group!(benches, protocol, bodies);
criterion_main!(benches);
