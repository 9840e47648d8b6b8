"""AWS SigV4 clients nobody here wrote: botocore's SigV4Auth, S3SigV4Auth, SigV4QueryAuth and
S3SigV4QueryAuth signing requests that `requests` sends to a running demo server. Prints one JSON
object of what each request got.

    python sigv4_client.py <base url> <access key id> <secret access key>
"""

import json
import sys

import requests
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

base, key_id, secret = sys.argv[1:4]
creds = Credentials(key_id, secret)
session = requests.Session()
out = {}


def signed(auth, method, path, body=b"", headers=None):
    request = AWSRequest(method=method, url=base + path, data=body, headers=headers or {})
    auth.add_auth(request)
    return request.prepare()


def send(name, prepared, body=None, method=None, url=None):
    response = session.request(
        method or prepared.method,
        url or prepared.url,
        headers=dict(prepared.headers.items()),
        data=prepared.body if body is None else body,
    )
    out[name] = {"status": response.status_code, "body": response.text}


generic = SigV4Auth(creds, "demo", "us-east-1")
s3 = S3SigV4Auth(creds, "s3", "us-east-1")

# Header form, generic service: a GET with a query (botocore sorts it), then the same again.
get = signed(generic, "GET", "/whoami?b=2&a=x%20y&c=%E1%88%B4")
out["get_authorization"] = get.headers["Authorization"]
send("get", get)
send("get_again", get)

# A POST with a body: botocore signs the body's hash without sending it.
post = signed(generic, "POST", "/echo", b'{"hello":"botocore"}', {"Content-Type": "application/json"})
send("post", post)
# Signed again (another signature than the first one's, which may be of the same second: a copy
# of it would be a replay), then sent with another body.
post2 = signed(
    generic,
    "POST",
    "/echo",
    b'{"hello":"botocore"}',
    {"Content-Type": "application/json", "X-Copy": "2"},
)
send("post_tampered", post2, body=b'{"hello":"mallory!"}')

# S3 form: X-Amz-Content-Sha256 sent and signed, S3's path rule.
put = signed(s3, "PUT", "/echo", b"object bytes", {"Content-Type": "text/plain"})
out["put_content_sha256"] = put.headers.get("X-Amz-Content-Sha256")
send("s3_put", put)
put2 = signed(s3, "PUT", "/echo", b"object bytes", {"Content-Type": "text/plain", "X-Copy": "2"})
send("s3_put_tampered", put2, body=b"other bytes!")
# S3's path rule with a non-ASCII, space-holding key.
key = signed(s3, "GET", "/objects/caf%C3%A9%20menu.txt")
send("s3_key", key)
# The generic rule with the same path (each segment encoded twice).
generic_key = signed(generic, "GET", "/objects/caf%C3%A9%20menu.txt")
send("generic_key", generic_key)

# Presigned URLs: a GET (generic, body hash of the empty body) usable twice (a bearer link),
# and a PUT (S3, UNSIGNED-PAYLOAD) with any body.
presigned_get = signed(SigV4QueryAuth(creds, "demo", "us-east-1", expires=300), "GET", "/whoami")
out["presigned_get_url"] = presigned_get.url
send("presigned_get", presigned_get)
send("presigned_get_again", presigned_get)
presigned_put = signed(
    S3SigV4QueryAuth(creds, "s3", "us-east-1", expires=300), "PUT", "/objects/upload.txt"
)
send("presigned_put", presigned_put, body=b"uploaded through a presigned URL")
# The same upload to a route that is not an S3 route: its body is not signed, so it is refused.
presigned_put_elsewhere = signed(
    S3SigV4QueryAuth(creds, "s3", "us-east-1", expires=300), "PUT", "/echo"
)
send("presigned_put_elsewhere", presigned_put_elsewhere, body=b"uploaded through a presigned URL")
# A presigned URL used for another path or another method.
send("presigned_other_path", presigned_get, url=presigned_get.url.replace("/whoami", "/echo"))
send("presigned_other_method", presigned_get, method="PUT")

# Wrong region, wrong service, wrong secret.
send("wrong_region", signed(SigV4Auth(creds, "demo", "eu-west-1"), "GET", "/whoami?r=1"))
send("wrong_service", signed(SigV4Auth(creds, "iam", "us-east-1"), "GET", "/whoami?r=2"))
bad = Credentials(key_id, secret[:-2] + ("A=" if secret[-2] != "A" else "B="))
send("wrong_secret", signed(SigV4Auth(bad, "demo", "us-east-1"), "GET", "/whoami?r=3"))

print(json.dumps(out))
