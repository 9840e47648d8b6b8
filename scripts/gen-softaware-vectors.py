#!/usr/bin/env python3
"""Independent reference of softaware.Authentication.Hmac's signature (the ASP.NET `Hmac`
scheme, docs/PROTOCOL.md §5c), in Python's standard library only.

Writes crates/tower-hmac-core/testdata/softaware.json, which the Rust tests load.

    python3 scripts/gen-softaware-vectors.py
"""
import base64
import hashlib
import hmac
import json
import pathlib

KEY_B64 = base64.b64encode(bytes(range(32))).decode()  # a test key, never use it
KEY2_B64 = base64.b64encode(b"softaware test key #2 -- not a secret!!").decode()

HMACS = {"HMACMD5": hashlib.md5, "HMACSHA1": hashlib.sha1, "HMACSHA256": hashlib.sha256,
         "HMACSHA384": hashlib.sha384, "HMACSHA512": hashlib.sha512}
BODIES = {"MD5": hashlib.md5, "SHA1": hashlib.sha1, "SHA256": hashlib.sha256,
          "SHA384": hashlib.sha384, "SHA512": hashlib.sha512}


def dotnet_url_encode(text):
    """System.Net.WebUtility.UrlEncode: A-Z a-z 0-9 - _ . ! * ( ) kept, space -> '+',
    every other UTF-8 byte %XX with upper-case hex."""
    out = []
    for b in text.encode("utf-8"):
        c = chr(b)
        if c.isascii() and (c.isalnum() or c in "-_.!*()"):
            out.append(c)
        elif c == " ":
            out.append("+")
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def ascii_lower(text):
    return "".join(c.lower() if c.isascii() else c for c in text)


def vector(name, description, method, scheme, host, target, body=b"", hmac_alg="HMACSHA256",
           body_alg="SHA256", app_id="backoffice-2026", nonce="9b2f6a3c1d4e4f5a8b7c6d5e4f3a2b1c",
           ts="1700000000", key=KEY_B64, legacy=False):
    absolute = f"{scheme}://{host}{target}"
    body_hash = base64.b64encode(BODIES[body_alg](body).digest()).decode() if body else ""
    content = app_id + method + dotnet_url_encode(ascii_lower(absolute)) + ts + nonce + body_hash
    sig = base64.b64encode(hmac.new(base64.b64decode(key), content.encode("utf-8"),
                                    HMACS[hmac_alg]).digest()).decode()
    if legacy:
        auth = f"Hmac {app_id}:{sig}:{nonce}:{ts}"
    else:
        auth = f"Hmac {hmac_alg}:{body_alg}:{app_id}:{sig}:{nonce}:{ts}"
    return {
        "name": name, "description": description, "key_base64": key, "method": method,
        "scheme": scheme, "host": host, "target": target,
        "body_base64": base64.b64encode(body).decode(), "legacy": legacy,
        "signed_content": content, "authorization": auth,
    }


VECTORS = [
    vector("get-without-body", "GET, no body: the body-hash part is empty",
           "GET", "https", "api.example.com", "/orders"),
    vector("post-json", "POST with a JSON body, SHA256 body hash",
           "POST", "https", "api.example.com", "/payments",
           body=b'{"amount":7,"currency":"EUR"}'),
    vector("legacy-four-field", "the older four-field form: HMACSHA256 with an MD5 body hash",
           "POST", "https", "api.example.com", "/payments", body=b'{"amount":7}',
           body_alg="MD5", legacy=True),
    vector("hmacsha512-sha512", "HMACSHA512 with a SHA512 body hash, another key",
           "PUT", "https", "Files.Example.NET:8443", "/upload?part=1", body=bytes(range(256)),
           hmac_alg="HMACSHA512", body_alg="SHA512", key=KEY2_B64, app_id="uploader.v2"),
    vector("reserved-query-and-non-ascii-path",
           "a query with reserved characters and a non-ASCII path (percent-encoded on the wire)",
           "GET", "https", "api.example.com",
           "/caf%C3%A9/R%C3%A9sum%C3%A9?q=a+b&r=x%2Fy&s=(1)!*&t=%E2%82%AC"),
    vector("http-and-port", "plain http on a non-default port",
           "DELETE", "http", "localhost:8080", "/items/42"),
]

out = pathlib.Path(__file__).resolve().parent.parent / "crates/tower-hmac-core/testdata/softaware.json"
out.write_text(json.dumps({"vectors": VECTORS}, indent=2, ensure_ascii=False) + "\n")
print(f"wrote {len(VECTORS)} vectors to {out}")
