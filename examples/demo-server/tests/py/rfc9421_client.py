"""An RFC 9421 client nobody here wrote: PyPI `http-message-signatures` signing `requests`
requests, sent to a running demo server. Prints one JSON object of what each request got."""

import base64
import json
import sys

import requests
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms

base, key_id, secret_b64, run = sys.argv[1:5]
key = base64.b64decode(secret_b64)
signer = HTTPMessageSigner(
    signature_algorithm=algorithms.HMAC_SHA256,
    key_resolver=MappingKeyResolver(public_keys={key_id: key}, private_keys={key_id: key}),
)
session = requests.Session()
out = {}


def send(name, prepared):
    response = session.send(prepared)
    out[name] = {"status": response.status_code, "body": response.text}


# GET with a query: @method, @authority, @path, @query.
get = requests.Request("GET", base + "/whoami?lang=en&x=a%20b").prepare()
signer.sign(
    get,
    key_id=key_id,
    nonce=f"py-get-{run}",
    covered_component_ids=("@method", "@authority", "@path", "@query"),
)
send("get", get)
send("get_again", get)

# POST with a JSON body: the library adds Content-Digest and covers it.
post = requests.Request(
    "POST", base + "/echo", data=b'{"hello":"world"}', headers={"Content-Type": "application/json"}
).prepare()
signer.sign(
    post,
    key_id=key_id,
    nonce=f"py-post-{run}",
    covered_component_ids=("@method", "@authority", "@path", "content-type"),
    body=post.body,
)
out["post_signature_input"] = post.headers["Signature-Input"]
send("post", post)

# The same signature over another body (same length): the digest no longer matches.
tampered = requests.Request(
    "POST", base + "/echo", data=b'{"hello":"World"}', headers={"Content-Type": "application/json"}
).prepare()
for name in ("Content-Digest", "Signature-Input", "Signature"):
    tampered.headers[name] = post.headers[name]
send("post_tampered", tampered)

# The library's default coverage (@method, @authority, @target-uri): @target-uri holds the path.
default = requests.Request("GET", base + "/whoami").prepare()
signer.sign(default, key_id=key_id, nonce=f"py-default-{run}")
send("default_coverage", default)

print(json.dumps(out))
