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
        if len(values) != 1:
            raise ValueError(f"signed header {name} must appear exactly once")
        joined = values[0]
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
    vector("header-value-trimmed", "a signed header's value is trimmed of spaces and tabs",
           "PUT", "/items/42",
           [["Host", "api.example.com"], ["X-Tag", "  beta\t"],
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
    # Revision 2: one time, one spelling.
    ["HMAC-SHA256 Credential=k, Timestamp=01700000000, Nonce=AAAAAAAAAAAAAAAA, SignedHeaders=host, Signature=" + "0" * 64, "malformed_authorization"],
]

# Revision 2: request heads a server must refuse whatever the signature, with the code.
REQUEST_REJECTIONS = [
    {
        "name": "two-values-of-one-header",
        "description": "a signed header on two field lines is refused (the handler would read one of them)",
        "method": "PUT", "target": "/items/42",
        "headers": [["Host", "api.example.com"], ["X-Tag", "alpha"], ["X-Tag", "beta"]],
        "signed_headers": "host;x-tag",
        "code": "duplicate_signed_header",
    },
]


def time_mac(key_b64, ts, nonce):
    """Revision 2: the server's time is MACed together with the nonce of the request it answers."""
    msg = f"HMAC-SHA256-TIME-2\n{ts}\n{nonce}".encode()
    return hmac.new(base64.b64decode(key_b64), msg, hashlib.sha256).hexdigest()


TIME_MACS = [
    {"key_base64": KEY_B64, "ts": "1700000400", "nonce": "9b2Zr0Vq3kYH1xQmU5aWcA",
     "tsm": time_mac(KEY_B64, "1700000400", "9b2Zr0Vq3kYH1xQmU5aWcA")},
]


def line_digests(key_b64, sts):
    """Revision 2: the diagnostics are keyed with the key being verified."""
    key = base64.b64decode(key_b64)
    return [hmac.new(key, b"HMAC-SHA256-LINE\n" + line, hashlib.sha256).hexdigest()[:16]
            for line in sts.split(b"\n")]


LINE_DIGESTS = [
    {"vector": v["name"], "key_base64": v["key_base64"],
     "digests": line_digests(v["key_base64"], v["string_to_sign"].encode("latin-1"))}
    for v in VECTORS[:2]
]

out = pathlib.Path(__file__).resolve().parent.parent / "crates/tower-hmac-core/testdata/vectors.json"
out.write_text(json.dumps({
    "version": 1, "revision": 2, "vectors": VECTORS, "rejections": REJECTIONS,
    "request_rejections": REQUEST_REJECTIONS, "time_macs": TIME_MACS, "line_digests": LINE_DIGESTS,
}, indent=2) + "\n")
print(f"wrote {len(VECTORS)} vectors, {len(REJECTIONS)} rejections, "
      f"{len(REQUEST_REJECTIONS)} request rejections, {len(TIME_MACS)} time MACs and "
      f"{len(LINE_DIGESTS)} line-digest sets to {out}")
