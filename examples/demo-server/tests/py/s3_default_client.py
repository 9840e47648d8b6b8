"""botocore's S3 client with its defaults, against a running demo server: the presigned URL
`generate_presigned_url` makes without `signature_version="s3v4"` (SigV2: `AWSAccessKeyId`,
`Signature`, `Expires`), botocore's SigV2 `Authorization: AWS <id>:<signature>` header
(HmacV1Auth), and the same presigned URL with `Config(signature_version="s3v4")`. boto3's
`generate_presigned_url` is this client's. Prints one JSON object of what each request got.

    python s3_default_client.py <base url> <access key id> <secret access key>
"""

import json
import sys

import botocore.session
import requests
from botocore.auth import HmacV1Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

base, key_id, secret = sys.argv[1:4]
session = botocore.session.get_session()
out = {}


def client(config=None):
    return session.create_client(
        "s3",
        endpoint_url=base,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=config,
    )


def get(name, url, headers=None):
    response = requests.get(url, headers=headers or {})
    out[name] = {"url": url, "status": response.status_code, "body": response.text}


params = {"Bucket": "objects", "Key": "report.txt"}
# The defaults, unmodified: a SigV2 presigned URL.
get("default_presigned", client().generate_presigned_url("get_object", Params=params, ExpiresIn=300))
# The fix the refusal names.
s3v4 = client(Config(signature_version="s3v4"))
get("s3v4_presigned", s3v4.generate_presigned_url("get_object", Params=params, ExpiresIn=300))
# SigV2's header form.
request = AWSRequest(method="GET", url=base + "/objects/report.txt")
HmacV1Auth(Credentials(key_id, secret)).add_auth(request)
prepared = request.prepare()
get("sigv2_header", prepared.url, dict(prepared.headers.items()))
out["sigv2_authorization"] = prepared.headers["Authorization"].split(":")[0]

print(json.dumps(out))
