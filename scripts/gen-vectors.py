#!/usr/bin/env python3
"""Independent reference implementation of protocol v1's string to sign (docs/PROTOCOL.md).

Writes crates/tower-hmac-core/testdata/vectors.json. It uses only Python's standard library, so the
Rust tests that load the file check the Rust code against a second implementation, and the file
shows a client author in any language what to produce.

    python3 scripts/gen-vectors.py
"""
import base64
import hashlib
import hmac
import json
import pathlib

KEY_B64 = base64.b64encode(bytes(range(32))).decode()  # 000102...1f: a test key, never use it
KEY2_B64 = base64.b64encode(b"tower-hmac test vector key #2 -- not secret").decode()


def string_to_sign(v):
    key_id, ts, nonce = v["key_id"], v["timestamp"], v["nonce"]
    target = v["target"]
    path, _, query = target.partition("?")
    signed = v["signed_headers"].split(";")
    lines = ["HMAC-SHA256", ts, nonce, key_id, v["method"], path or "/", query, v["signed_headers"]]
    for name in signed:
        values = [val.strip(" \t") for (n, val) in v["headers"] if n.lower() == name]
        joined = ",".join(values)
        if name == "host":
            joined = joined.lower()
        lines.append(f"{name}:{joined}")
    body = base64.b64decode(v["body_base64"])
    lines.append(hashlib.sha256(body).hexdigest())
    return "\n".join(lines).encode("latin-1")


def vector(name, description, method, target, headers, body=b"", signed="host",
           key=KEY_B64, key_id="backoffice-2026", ts="1700000000", nonce="9b2Zr0Vq3kYH1xQmU5aWcA"):
    v = {
        "name": name,
        "description": description,
        "key_base64": key,
        "key_id": key_id,
        "timestamp": ts,
        "nonce": nonce,
        "method": method,
        "target": target,
        "headers": headers,
        "body_base64": base64.b64encode(body).decode(),
        "signed_headers": signed,
    }
    sts = string_to_sign(v)
    sig = hmac.new(base64.b64decode(key), sts, hashlib.sha256).hexdigest()
    v["body_sha256"] = hashlib.sha256(body).hexdigest()
    v["string_to_sign"] = sts.decode("latin-1")
    v["signature"] = sig
    v["authorization"] = (f"HMAC-SHA256 Credential={key_id}, Timestamp={ts}, Nonce={nonce}, "
                          f"SignedHeaders={signed}, Signature={sig}")
    return v


VECTORS = [
    vector("get-without-body", "GET with no body: the body hash is SHA-256 of nothing",
           "GET", "/orders", [["Host", "api.example.com"]]),
    vector("post-json-content-type-signed", "POST with a JSON body, content-type signed",
           "POST", "/payments",
           [["Host", "api.example.com"], ["Content-Type", "application/json"]],
           body=b'{"amount":7,"currency":"EUR"}', signed="content-type;host"),
    vector("query-string", "a query string is signed exactly as received, without the '?'",
           "GET", "/search?q=hello%20world&tag=b&tag=a&empty=",
           [["Host", "api.example.com"]]),
    vector("percent-encoded-path", "percent-encoding in the path is left untouched",
           "DELETE", "/files/My%20Report%2Fv2.pdf",
           [["Host", "api.example.com"]]),
    vector("two-values-of-one-header", "two field lines of one header: each trimmed, joined with ','",
           "PUT", "/items/42",
           [["Host", "api.example.com"], ["X-Tag", "alpha"], ["X-Tag", "  beta\t"],
            ["Content-Type", "text/plain"]],
           body=b"new value", signed="content-type;host;x-tag"),
    vector("host-with-port-lowercased", "the host keeps its port and is lower-cased",
           "GET", "/", [["Host", "API.Example.com:8443"]]),
    vector("binary-body-other-key", "a binary body and a longer key",
           "POST", "/upload?part=1",
           [["Host", "files.example.net"], ["Content-Type", "application/octet-stream"]],
           body=bytes(range(256)) * 4, signed="content-type;host",
           key=KEY2_B64, key_id="uploader.v2", ts="1732420000",
           nonce="AbCdEfGhIjKlMnOpQrStUvWx_-0123"),
]

# Header values and the code a server must answer with (401 unless noted).
REJECTIONS = [
    ["Bearer abc", "unsupported_scheme"],
    ["HMAC-SHA256", "malformed_authorization"],
    ["HMAC-SHA256 Credential=k, Timestamp=1, Nonce=AAAAAAAAAAAAAAAA, SignedHeaders=host", "malformed_authorization"],
    ["HMAC-SHA256 Credential=k, Credential=k, Timestamp=1, Nonce=AAAAAAAAAAAAAAAA, SignedHeaders=host, Signature=" + "0" * 64, "malformed_authorization"],
    ["HMAC-SHA256 Credential=k, Timestamp=1, Nonce=AAAAAAAAAAAAAAAA, SignedHeaders=host, Signature=" + "0" * 64 + ", Extra=1", "malformed_authorization"],
    ["HMAC-SHA256 Credential=k, Timestamp=1, Nonce=AAAAAAAAAAAAAAA, SignedHeaders=host, Signature=" + "0" * 64, "malformed_authorization"],
    ["HMAC-SHA256 Credential=k, Timestamp=1, Nonce=AAAAAAAAAAAAAAAA, SignedHeaders=x-a, Signature=" + "0" * 64, "malformed_authorization"],
    ["HMAC-SHA256 Credential=k, Timestamp=1, Nonce=AAAAAAAAAAAAAAAA, SignedHeaders=host;content-type, Signature=" + "0" * 64, "malformed_authorization"],
    ["HMAC-SHA256 Credential=k, Timestamp=1, Nonce=AAAAAAAAAAAAAAAA, SignedHeaders=authorization;host, Signature=" + "0" * 64, "malformed_authorization"],
    ["HMAC-SHA256 Credential=k, Timestamp=1, Nonce=AAAAAAAAAAAAAAAA, SignedHeaders=host, Signature=" + "A" * 64, "malformed_authorization"],
    ["HMAC-SHA256 Credential=k, Timestamp=-1, Nonce=AAAAAAAAAAAAAAAA, SignedHeaders=host, Signature=" + "0" * 64, "malformed_authorization"],
    ["HMAC-SHA256 Credential=k, Timestamp=1234567890123, Nonce=AAAAAAAAAAAAAAAA, SignedHeaders=host, Signature=" + "0" * 64, "malformed_authorization"],
]

out = pathlib.Path(__file__).resolve().parent.parent / "crates/tower-hmac-core/testdata/vectors.json"
out.write_text(json.dumps({"version": 1, "vectors": VECTORS, "rejections": REJECTIONS}, indent=2) + "\n")
print(f"wrote {len(VECTORS)} vectors and {len(REJECTIONS)} rejections to {out}")
