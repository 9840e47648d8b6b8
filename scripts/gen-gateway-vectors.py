#!/usr/bin/env python3
"""Known-answer vectors for the Kong and APISIX `hmac-auth` schemes (testdata/gateways.json).

Each case is a request exactly as one of the gateways' own tests (or documentation) signs it:
the signing string below transcribes the test's own formula (cited in `source`), with a fixed
date instead of `os.date()` / `ngx.http_time(ngx.time())`, and the HMAC is computed here with
Python's `hmac` — nothing of tower-hmac's code. (The gateways' tests compute their signatures
at run time, so the formula is what they fix. APISIX's documentation prints two signatures
(`docs_signature`); they do not reproduce under the plugin's own signing string — nor under
the variants tried: lower-case method, `@request-target:` prefix, no trailing newline, other
algorithms — so they are kept for the record only, and its Digest, which does reproduce, is
checked.)

The gateways' test secrets ("secret", "my-secret-key", "john-secret-key") are shorter than the
16 bytes tower-hmac's registry accepts, so every case is also signed with VECTOR_SECRET
(`signature_registered`), which an end-to-end test registers; the test's own signature is kept
(`signature`) and checked with the raw MAC.

`expect` is what tower-hmac answers: "accept", or the code of its refusal, with `why` when it
differs from the gateway's own answer (`gateway`).
"""

import base64
import calendar
import email.utils
import hashlib
import hmac
import json
import sys

VECTOR_SECRET = "gateway-vector-secret-0123456789"
DATE = "Tue, 15 Sep 2026 10:00:00 GMT"
KONG = "Kong/kong spec/03-plugins/19-hmac-auth/03-access_spec.lua"
APISIX_BODY = "apache/apisix t/plugin/hmac-auth (3.11+, validate_request_body)"
APISIX_DOCS = "apache/apisix docs/en/latest/plugins/hmac-auth.md"

HASHES = {
    "hmac-sha1": hashlib.sha1,
    "hmac-sha256": hashlib.sha256,
    "hmac-sha384": hashlib.sha384,
    "hmac-sha512": hashlib.sha512,
}


def mac(algorithm, secret, text):
    return base64.b64encode(
        hmac.new(secret.encode(), text.encode(), HASHES[algorithm]).digest()
    ).decode()


def sha256_digest(body):
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()


def unix(date):
    return calendar.timegm(email.utils.parsedate(date))


cases = []


def case(id, source, scheme, method, target, headers, signing_string, algorithm, key_id,
         secret, auth, body="", version="HTTP/1.1", expect="accept", gateway="accept",
         why=None, needs=(), date=DATE, proxy=False, expected_signature=None,
         server_signing_string=None):
    """`auth` is the Authorization value with `{sig}` where the signature goes."""
    signature = mac(algorithm, secret, signing_string)
    registered = mac(algorithm, VECTOR_SECRET, signing_string)
    entry = {
        "id": id,
        "source": source,
        "scheme": scheme,
        "method": method,
        "target": target,
        "version": version,
        "headers": headers,
        "body": body,
        "key_id": key_id,
        "secret": secret,
        "algorithm": algorithm,
        "signing_string": signing_string,
        "signature": signature,
        "authorization": auth.format(sig=signature),
        "signature_registered": registered,
        "authorization_registered": auth.format(sig=registered),
        "header": "proxy-authorization" if proxy else "authorization",
        "now": unix(date),
        "expect": expect,
        "gateway": gateway,
        "needs": list(needs),
    }
    if why:
        entry["why"] = why
    if expected_signature is not None:
        entry["docs_signature"] = expected_signature
    if server_signing_string is not None:
        # What tower-hmac signs for this request, where the client signed something else.
        entry["server_signing_string"] = server_signing_string
    cases.append(entry)


def kong_auth(headers, algorithm="hmac-sha1", sep=",", prefix="hmac "):
    return (prefix + f'username="bob"{sep}algorithm="{algorithm}"{sep}'
            f'headers="{headers}"{sep}signature="{{sig}}"')


# --- Kong: 03-access_spec.lua, each `it(...)` that signs a request -------------------------

case("kong-get-date", f"{KONG}: it('should pass with GET')", "kong", "GET", "/request",
     [["date", DATE]], f"date: {DATE}", "hmac-sha1", "bob", "secret", kong_auth("date"),
     needs=["sha1"])
case("kong-get-proxy-authorization",
     f"{KONG}: it('should pass with GET and proxy-authorization')", "kong", "GET", "/request",
     [["date", DATE]], f"date: {DATE}", "hmac-sha1", "bob", "secret", kong_auth("date"),
     needs=["sha1"], proxy=True)
case("kong-post-date", f"{KONG}: it('should pass with POST')", "kong", "POST", "/request",
     [["date", DATE]], f"date: {DATE}", "hmac-sha1", "bob", "secret", kong_auth("date"),
     needs=["sha1"])
case("kong-content-md5", f"{KONG}: it('should pass with GET with content-md5 header')",
     "kong", "GET", "/request", [["date", DATE], ["content-md5", "md5"]],
     f"date: {DATE}\ncontent-md5: md5", "hmac-sha1", "bob", "secret",
     kong_auth("date content-md5"), needs=["sha1"], proxy=True)
RL = f"date: {DATE}\ncontent-md5: md5\nGET /request HTTP/1.1"
case("kong-request-line", f"{KONG}: it('should pass with GET with request-line')", "kong",
     "GET", "/request", [["date", DATE], ["content-md5", "md5"]], RL, "hmac-sha1", "bob",
     "secret", 'hmac username="bob",  algorithm="hmac-sha1", '
     'headers="date content-md5 request-line", signature="{sig}"', needs=["sha1"], proxy=True)
case("kong-http-1.0", f"{KONG}: it('should encode http-1 requests as http/1.0')", "kong",
     "GET", "/request", [["date", DATE], ["content-md5", "md5"]],
     f"date: {DATE}\ncontent-md5: md5\nGET /request HTTP/1.0", "hmac-sha1", "bob", "secret",
     'hmac username="bob",  algorithm="hmac-sha1", '
     'headers="date content-md5 request-line", signature="{sig}"', version="HTTP/1.0",
     needs=["sha1"], proxy=True)
case("kong-spaces-between-fields",
     f"{KONG}: it('should pass with GET with no space or space between hmac signatures fields')",
     "kong", "GET", "/request", [["date", DATE], ["content-md5", "md5"]], RL, "hmac-sha1",
     "bob", "secret", 'hmac username="bob",algorithm="hmac-sha1",'
     '  headers="date content-md5 request-line",signature="{sig}"', needs=["sha1"], proxy=True)
case("kong-sha256", f"{KONG}: it('should pass the right headers to the upstream server')",
     "kong", "GET", "/request", [["date", DATE], ["content-md5", "md5"]], RL, "hmac-sha256",
     "bob", "secret", 'hmac username="bob",algorithm="hmac-sha256",'
     '  headers="date content-md5 request-line",signature="{sig}"', proxy=True)
case("kong-x-date", f"{KONG}: it('should pass with GET with x-date header')", "kong", "GET",
     "/request", [["x-date", DATE], ["content-md5", "md5"]],
     f"x-date: {DATE}\ncontent-md5: md5\nGET /request HTTP/1.1", "hmac-sha1", "bob", "secret",
     'hmac username="bob",algorithm="hmac-sha1",'
     '  headers="x-date content-md5 request-line",signature="{sig}"', needs=["sha1"])
case("kong-x-date-malformed-date-signed",
     f"{KONG}: it('should pass with x-date malformed but date correct and used for signature')",
     "kong", "GET", "/request",
     [["x-date", "wrong date"], ["date", DATE], ["content-md5", "md5"]], RL, "hmac-sha1",
     "bob", "secret", 'hmac username="bob",algorithm="hmac-sha1",'
     '  headers="date content-md5 request-line",signature="{sig}"', needs=["sha1"])
case("kong-date-unsigned",
     f"{KONG}: it('should pass with GET with x-date malformed but date correct')", "kong",
     "GET", "/request", [["x-date", "wrong date"], ["date", DATE], ["content-md5", "md5"]],
     "content-md5: md5\nGET /request HTTP/1.1", "hmac-sha1", "bob", "secret",
     'hmac username="bob",algorithm="hmac-sha1",'
     '  headers="content-md5 request-line",signature="{sig}"', needs=["sha1"],
     expect="missing_covered_component",
     why="the Date that dates the request is not signed: anyone may change it")
case("kong-signed-time-malformed",
     f"{KONG}: it('should with x-date malformed and used for signature but skew test pass')",
     "kong", "GET", "/request",
     [["x-date", "wrong date"], ["date", DATE], ["content-md5", "md5"]],
     "x-date: wrong date\ncontent-md5: md5\nGET /request HTTP/1.1", "hmac-sha1", "bob",
     "secret", 'hmac username="bob",algorithm="hmac-sha1",'
     '  headers="x-date content-md5 request-line",signature="{sig}"', needs=["sha1"],
     expect="missing_covered_component",
     why="the signed X-Date is not a date; the Date that dates the request is not signed")
EMPTY_DIGEST = sha256_digest("")
case("kong-digest-no-body",
     f"{KONG}: it('should return 200 when body validation enabled and no body and an digest "
     "header is present')", "kong", "GET", "/request", [["date", DATE], ["digest", EMPTY_DIGEST]],
     f"date: {DATE}\ndigest: {EMPTY_DIGEST}", "hmac-sha1", "bob", "secret",
     kong_auth("date digest", prefix='"hmac '), needs=["sha1"])
POST_BODY = '{"a":"apple","b":"ball"}'
POST_DIGEST = sha256_digest(POST_BODY)
case("kong-digest-body",
     f"{KONG}: it('should pass with POST when body validation enabled and digest header present')",
     "kong", "POST", "/request", [["date", DATE], ["digest", POST_DIGEST]],
     f"date: {DATE}\ndigest: {POST_DIGEST}", "hmac-sha1", "bob", "secret",
     kong_auth("date digest", prefix='"hmac '), body=POST_BODY, needs=["sha1"])
case("kong-body-without-digest",
     f"{KONG}: it('should return 401 when body validation enabled and no digest header is present')",
     "kong", "POST", "/request", [["date", DATE]], f"date: {DATE}", "hmac-sha1", "bob",
     "secret", kong_auth("date", prefix='"hmac '), body=POST_BODY, needs=["sha1"],
     expect="missing_covered_component", gateway="401",
     why="a body needs a signed Digest (Kong refuses it only with validate_request_body)")
case("kong-body-tampered",
     f"{KONG}: it('should not pass with POST when body validation enabled and postBody is tampered')",
     "kong", "POST", "/request", [["date", DATE], ["digest", POST_DIGEST]],
     f"date: {DATE}\ndigest: {POST_DIGEST}", "hmac-sha1", "bob", "secret",
     kong_auth("date digest", prefix='"hmac '), body="abc", needs=["sha1"],
     expect="invalid_signature", gateway="401")
case("kong-wrong-algorithm", f"{KONG}: it('should not pass with GET with wrong algorithm')",
     "kong", "GET", "/request", [["date", DATE], ["content-md5", "md5"]], RL, "hmac-sha256",
     "bob", "secret", 'hmac username="bob",algorithm="hmac-sha",'
     '  headers="date content-md5 request-line",signature="{sig}"',
     expect="malformed_authorization", gateway="401")
case("kong-query-unsigned",
     f"{KONG}: it('should pass with GET with request-line having query param but signed "
     "without query param') (Kong #3672)", "kong", "GET", "/request?name=foo",
     [["date", DATE], ["content-md5", "md5"]], RL, "hmac-sha1", "bob", "secret",
     'hmac username="bob",  algorithm="hmac-sha1", '
     'headers="date content-md5 request-line", signature="{sig}"', needs=["sha1"], proxy=True,
     expect="invalid_signature",
     server_signing_string=f"date: {DATE}\ncontent-md5: md5\nGET /request?name=foo HTTP/1.1",
     why="Kong's deprecated fallback drops the query from the request line: the query would "
         "not be signed")
case("kong-request-target", "Kong/kong issue #10700 (the code's @request-target form)",
     "kong", "GET", "/provider?x=1", [["date", DATE]],
     f"@request-target: get /provider?x=1\ndate: {DATE}", "hmac-sha256", "kong_demo", "hmac",
     'hmac username="kong_demo", algorithm="hmac-sha256", '
     'headers="@request-target date", signature="{sig}"')
case("kong-absent-header", "Kong/kong kong/plugins/hmac-auth/access.lua create_hash: a listed "
     "header the request lacks is signed as `name:`", "kong", "GET", "/request",
     [["date", DATE]], f"date: {DATE}\nx-absent:", "hmac-sha512", "bob", "secret",
     kong_auth("date x-absent", algorithm="hmac-sha512"))

# --- APISIX (3.11+) ----------------------------------------------------------------------

case("apisix-docs-get", f"{APISIX_DOCS}: Implement HMAC Authentication on a Route", "apisix",
     "GET", "/get", [["date", "Fri, 06 Sep 2024 06:41:29 GMT"]],
     "john-key\nGET /get\ndate: Fri, 06 Sep 2024 06:41:29 GMT\n", "hmac-sha256", "john-key",
     "john-secret-key", 'Signature keyId="john-key",algorithm="hmac-sha256",'
     'headers="@request-target date",signature="{sig}"', date="Fri, 06 Sep 2024 06:41:29 GMT",
     expected_signature="wWfKQvPDr0wHQ4IHdluB4IzeNZcj0bGJs2wvoCOT5rM=")
DOCS_BODY = '{"name": "world"}'
DOCS_DIGEST = sha256_digest(DOCS_BODY)
assert DOCS_DIGEST == "SHA-256=78qzJuLwSpZ8HacsTdFCQJWxzPMOf8bYctRk2ySLpS8=", DOCS_DIGEST
case("apisix-docs-body-digest-unsigned", f"{APISIX_DOCS}: Enable Body Validation", "apisix",
     "POST", "/post", [["date", "Fri, 06 Sep 2024 09:16:16 GMT"], ["digest", DOCS_DIGEST]],
     "john-key\nPOST /post\ndate: Fri, 06 Sep 2024 09:16:16 GMT\n", "hmac-sha256", "john-key",
     "john-secret-key", 'Signature keyId="john-key",algorithm="hmac-sha256",'
     'headers="@request-target date",signature="{sig}"', body=DOCS_BODY,
     date="Fri, 06 Sep 2024 09:16:16 GMT",
     expected_signature="rjS6NxOBKmzS8CZL05uLiAfE16hXdIpMD/L/HukOTYE=",
     expect="missing_covered_component",
     why="the Digest is not signed: anyone may replace the body and its Digest together")
CUSTOM = [["x-custom-header-a", "asld$%dfasf"], ["x-custom-header-b", "23879fmsldfk"]]
SS = (f"my-access-key\nPOST /hello\ndate: {DATE}\nx-custom-header-a: asld$%dfasf\n"
      "x-custom-header-b: 23879fmsldfk\n")
AUTH = ('Signature keyId="my-access-key",algorithm="hmac-sha256",headers="@request-target date '
        'x-custom-header-a x-custom-header-b",signature="{sig}"')
case("apisix-body-digest-ok", f"{APISIX_BODY}: TEST 5: verify body digest: ok", "apisix",
     "POST", "/hello", [["date", DATE], ["digest", DOCS_DIGEST]] + CUSTOM, SS, "hmac-sha256",
     "my-access-key", "my-secret-key", AUTH, body=DOCS_BODY, expect="missing_covered_component",
     why="the Digest is not signed: anyone may replace the body and its Digest together")
case("apisix-body-digest-missing",
     f"{APISIX_BODY}: TEST 3: missing body digest when validate_request_body is enabled",
     "apisix", "POST", "/hello", [["date", DATE]] + CUSTOM, SS, "hmac-sha256", "my-access-key",
     "my-secret-key", AUTH, body=DOCS_BODY, expect="missing_covered_component", gateway="401")
SIGNED_DIGEST_SS = (f"my-access-key\nPOST /hello\ndate: {DATE}\ndigest: {DOCS_DIGEST}\n"
                    "x-custom-header-a: asld$%dfasf\nx-custom-header-b: 23879fmsldfk\n")
case("apisix-body-digest-signed",
     f"{APISIX_BODY}: TEST 5 with `digest` added to `headers` (the one change a client makes)",
     "apisix", "POST", "/hello", [["date", DATE], ["digest", DOCS_DIGEST]] + CUSTOM,
     SIGNED_DIGEST_SS, "hmac-sha256", "my-access-key", "my-secret-key",
     'Signature keyId="my-access-key",algorithm="hmac-sha256",headers="@request-target date '
     'digest x-custom-header-a x-custom-header-b",signature="{sig}"', body=DOCS_BODY)
case("apisix-get-query", "apache/apisix apisix/plugins/hmac-auth.lua generate_signature: "
     "@request-target is `METHOD request_uri`, the query as sent", "apisix", "GET",
     "/hello?b=2&a=1", [["date", DATE]] + CUSTOM,
     f"my-access-key\nGET /hello?b=2&a=1\ndate: {DATE}\nx-custom-header-a: asld$%dfasf\n"
     "x-custom-header-b: 23879fmsldfk\n", "hmac-sha512", "my-access-key", "my-secret-key",
     'Signature keyId="my-access-key",algorithm="hmac-sha512",headers="@request-target date '
     'x-custom-header-a x-custom-header-b",signature="{sig}"')
case("apisix-absent-header-skipped", "apache/apisix apisix/plugins/hmac-auth.lua "
     "generate_signature: a listed header the request lacks adds no line", "apisix", "GET",
     "/hello", [["date", DATE]], f"my-access-key\nGET /hello\ndate: {DATE}\n", "hmac-sha256",
     "my-access-key", "my-secret-key", 'Signature keyId="my-access-key",algorithm="hmac-sha256",'
     'headers="@request-target date x-absent",signature="{sig}"')
case("apisix-x-date", "apache/apisix apisix/plugins/hmac-auth.lua retrieve_hmac_fields: X-Date "
     "when there is no Date", "apisix", "GET", "/hello", [["x-date", DATE]],
     f"my-access-key\nGET /hello\nx-date: {DATE}\n", "hmac-sha1", "my-access-key",
     "my-secret-key", 'Signature keyId="my-access-key",algorithm="hmac-sha1",'
     'headers="@request-target x-date",signature="{sig}"', needs=["sha1"])

json.dump({"vector_secret": VECTOR_SECRET, "cases": cases}, sys.stdout, indent=2,
          ensure_ascii=False)
sys.stdout.write("\n")
