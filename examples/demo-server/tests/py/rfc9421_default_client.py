"""RFC 9421 with PyPI `http-message-signatures` as it comes: `HTTPMessageSigner.sign` with its
DEFAULT covered components (`@method`, `@authority`, `@target-uri`, and `content-digest` when a
body is given), label and parameters, signing `requests` requests (issue 31).

    rfc9421_default_client.py KEY_ID SECRET_BASE64 CASES_JSON

CASES_JSON: a list of {"name", "method", "sign_url", "send_url", "headers", "body", "send_twice"}.
Each request is signed for `sign_url` (the URL a client would use: `https://host:443/…`, another
host) and sent to `send_url` (the test's server) with `headers` (a `Host` naming the signed
host). Prints one JSON object: per case, the status, body and `Signature-Input` (and, with
`send_twice`, the same request's second answer under `<name>_again`).
"""

import base64
import json
import sys

import requests
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms

key_id, secret_b64, cases = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
key = base64.b64decode(secret_b64)
signer = HTTPMessageSigner(
    signature_algorithm=algorithms.HMAC_SHA256,
    key_resolver=MappingKeyResolver(public_keys={key_id: key}, private_keys={key_id: key}),
)
session = requests.Session()
out = {}

for case in cases:
    body = case.get("body")
    body = body.encode() if body is not None else None
    prepared = requests.Request(case["method"], case["sign_url"], data=body).prepare()
    # The library's defaults: no covered_component_ids, label, nonce, tag or created given.
    if body is None:
        signer.sign(prepared, key_id=key_id)
    else:
        signer.sign(prepared, key_id=key_id, body=body)
    signed_url = prepared.url
    prepared.url = case["send_url"]
    for name, value in case.get("headers", {}).items():
        prepared.headers[name] = value
    answers = [case["name"]] + ([case["name"] + "_again"] if case.get("send_twice") else [])
    for name in answers:
        response = session.send(prepared)
        out[name] = {
            "status": response.status_code,
            "body": response.text,
            "signature_input": prepared.headers["Signature-Input"],
            "signed_url": signed_url,
        }

print(json.dumps(out))
