#!/usr/bin/env python3
"""Worked RFC 9421 examples for docs/PROTOCOL.md §5d, computed by PyPI `http-message-signatures`
(an implementation nobody here wrote), merged into crates/tower-hmac-core/testdata/rfc9421.json.

    .ci/venv/bin/python scripts/gen-rfc9421-vectors.py
"""

import base64
import datetime
import json
import pathlib

import requests
import urllib3
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms

KEY = bytes(range(32))
KEY_ID = "app-2026"
CREATED = datetime.datetime.fromtimestamp(1_700_000_000, tz=datetime.timezone.utc)
signer = HTTPMessageSigner(
    signature_algorithm=algorithms.HMAC_SHA256,
    key_resolver=MappingKeyResolver(public_keys={KEY_ID: KEY}, private_keys={KEY_ID: KEY}),
)


def worked(name, method, url, headers, body, components, nonce):
    prepared = requests.Request(method, url, headers=headers, data=body).prepare()
    signer.sign(
        prepared,
        key_id=KEY_ID,
        created=CREATED,
        nonce=nonce,
        label="sig1",
        covered_component_ids=components,
        body=prepared.body if body else None,
    )
    parsed = urllib3.util.parse_url(prepared.url)
    default = {"https": 443, "http": 80}[parsed.scheme]
    return {
        "name": name,
        # The Host header urllib3 sends for this URL (requests adds it when sending).
        "host": parsed.host + ("" if parsed.port in (None, default) else f":{parsed.port}"),
        "method": method,
        "target": prepared.path_url,
        "headers": [[k, v] for k, v in prepared.headers.items()],
        "body": body.decode() if body else "",
    }


path = pathlib.Path(__file__).resolve().parent.parent / "crates/tower-hmac-core/testdata/rfc9421.json"
data = json.loads(path.read_text())
data["worked"] = {
    "source": "scripts/gen-rfc9421-vectors.py (PyPI http-message-signatures), scheme https",
    "key_id": KEY_ID,
    "key_base64": base64.b64encode(KEY).decode(),
    "created": 1_700_000_000,
    "examples": [
        worked(
            "get-with-query",
            "GET",
            "https://api.example.com/orders?id=7&note=a%20b",
            {},
            None,
            ("@method", "@authority", "@path", "@query"),
            "nonce-get-1",
        ),
        worked(
            "post-json-content-digest",
            "POST",
            "https://api.example.com/orders",
            {"Content-Type": "application/json"},
            b'{"item":"book","qty":2}',
            ("@method", "@authority", "@path", "content-type"),
            "nonce-post-1",
        ),
        worked(
            "every-derived-component",
            "GET",
            "https://API.Example.com:8443/a/b?x=1&y=two%20words",
            {"X-Request-Id": "r-1"},
            None,
            (
                "@method",
                "@authority",
                "@scheme",
                "@target-uri",
                "@request-target",
                "@path",
                "@query",
                '"@query-param";name="y"',
                "x-request-id",
            ),
            "nonce-all-1",
        ),
    ],
}


def default_signed(name, scheme, host, method, url, headers=None, body=None):
    """A request signed with the library's DEFAULT covered components (issue 31): only the key
    id, the fixed time and (for a body) the body given; with the library's signature base."""

    def prepared():
        return requests.Request(method, url, headers=headers or {}, data=body).prepare()

    signed = prepared()
    signer.sign(signed, key_id=KEY_ID, created=CREATED, body=body)
    base = signer.prepare(prepared(), key_id=KEY_ID, created=CREATED, body=body).signature_base
    return {
        "name": name,
        "scheme": scheme,
        "url": url,
        "host": host,
        "method": method,
        "target": signed.path_url,
        "headers": [[k, v] for k, v in signed.headers.items()],
        "body": body.decode() if body else "",
        "signature_base": base.decode(),
    }


data["target_uri"] = {
    "source": "PyPI http-message-signatures 3.0.0, HTTPMessageSigner.sign with its default covered components",
    "key_id": KEY_ID,
    "key_base64": base64.b64encode(KEY).decode(),
    "created": 1_700_000_000,
    "examples": [
        default_signed("get-with-query", "https", "api.example.com", "GET",
                       "https://api.example.com/orders?id=7&note=a%20b"),
        default_signed("explicit-https-default-port", "https", "api.example.com", "GET",
                       "https://api.example.com:443/orders?id=7"),
        default_signed("explicit-http-default-port", "http", "api.example.com", "GET",
                       "http://api.example.com:80/"),
        default_signed("other-port", "https", "api.example.com:8443", "GET",
                       "https://api.example.com:8443/a/b"),
        default_signed("post-with-body", "https", "api.example.com", "POST",
                       "https://api.example.com/orders", {"Content-Type": "application/json"},
                       b'{"item":"book","qty":2}'),
    ],
}
path.write_text(json.dumps(data, indent=2) + "\n")
print(f"wrote {path}")
