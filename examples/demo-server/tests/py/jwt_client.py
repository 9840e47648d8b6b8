"""The demo's sessions driven by a client nobody here wrote: PyJWT verifies the access tokens the
server issues, forges the ones it must refuse, and the flow runs login → call → refresh →
reuse → logout → logout-all over TCP. Exits non-zero (with the failed step) on any mismatch.

Usage: jwt_client.py BASE_URL JWT_SECRET_BASE64
"""

import base64
import sys
import time

import jwt
import requests

BASE, SECRET = sys.argv[1], base64.b64decode(sys.argv[2])
ISS = AUD = "tower-hmac-demo"


def check(ok, what):
    if not ok:
        sys.exit(f"FAILED: {what}")


def post(path, json=None, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(BASE + path, json=json, headers=headers, timeout=10)


def me(token):
    return requests.get(BASE + "/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def code(response):
    return response.json().get("code")


def login():
    r = post("/auth/login", {"username": "demo", "password": "demo-password"})
    check(r.status_code == 200, f"login: {r.status_code} {r.text}")
    pair = r.json()
    check(pair["token_type"] == "Bearer" and pair["expires_in"] == 900, f"pair: {pair}")
    return pair


r = post("/auth/login", {"username": "demo", "password": "wrong"})
check(r.status_code == 401 and code(r) == "invalid_credentials", f"wrong password: {r.text}")

pair = login()
# PyJWT verifies what the server issued: HS256 with the key, issuer, audience, times.
claims = jwt.decode(pair["access_token"], SECRET, algorithms=["HS256"], audience=AUD, issuer=ISS,
                    options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]})
header = jwt.get_unverified_header(pair["access_token"])
check(claims["sub"] == "demo" and claims["token_use"] == "access", f"claims: {claims}")
check(header["alg"] == "HS256" and header["kid"] == "demo-1", f"header: {header}")
check(claims["exp"] - claims["iat"] == 900, "15 minutes")
r = me(pair["access_token"])
check(r.status_code == 200 and r.json()["sub"] == "demo", f"/me: {r.text}")

# Tokens PyJWT forges: another key, alg none, expired, another audience, a refresh token.
now = int(time.time())
base = dict(claims)
forged = {
    "wrong key": jwt.encode(base, b"another-key-another-key-another-key!", algorithm="HS256",
                            headers={"kid": "demo-1"}),
    "alg none": jwt.encode(base, None, algorithm="none", headers={"kid": "demo-1"}),
    "expired": jwt.encode({**base, "exp": now - 3600, "iat": now - 4500, "nbf": now - 4500},
                          SECRET, algorithm="HS256", headers={"kid": "demo-1"}),
    "other audience": jwt.encode({**base, "aud": "billing"}, SECRET, algorithm="HS256",
                                 headers={"kid": "demo-1"}),
    "refresh token as access token": pair["refresh_token"],
}
for what, token in forged.items():
    r = me(token)
    expected = "token_expired" if what == "expired" else "invalid_token"
    check(r.status_code == 401 and code(r) == expected, f"{what}: {r.status_code} {r.text}")
    check(r.headers.get("WWW-Authenticate", "").startswith("Bearer"), f"{what}: challenge")

# Refresh: a new pair; the old refresh token again is a reuse that ends the session.
r = post("/auth/refresh", {"refresh_token": pair["refresh_token"]})
check(r.status_code == 200, f"refresh: {r.text}")
second = r.json()
check(second["refresh_token"] != pair["refresh_token"], "a new refresh token")
check(me(second["access_token"]).status_code == 200, "the new access token works")
r = post("/auth/refresh", {"refresh_token": pair["refresh_token"]})
check(r.status_code == 400 and code(r) == "refresh_token_reused", f"reuse: {r.text}")
r = post("/auth/refresh", {"refresh_token": second["refresh_token"]})
check(r.status_code == 400 and code(r) == "session_revoked", f"after reuse: {r.text}")
for token in (pair["access_token"], second["access_token"]):
    r = me(token)
    check(r.status_code == 401 and code(r) == "token_revoked", f"access after reuse: {r.text}")

# Logout with the access token and the refresh token.
third = login()
r = post("/auth/logout", {"refresh_token": third["refresh_token"]}, token=third["access_token"])
check(r.status_code == 200 and r.json()["revoked"], f"logout: {r.text}")
check(code(me(third["access_token"])) == "token_revoked", "access after logout")
r = post("/auth/refresh", {"refresh_token": third["refresh_token"]})
check(r.status_code == 400 and code(r) == "session_revoked", f"refresh after logout: {r.text}")

# Every session of the subject (a password change).
laptop, phone = login(), login()
r = post("/auth/logout-all", token=laptop["access_token"])
check(r.status_code == 200 and r.json()["revoked_sessions"] == 2, f"logout-all: {r.text}")
for device in (laptop, phone):
    check(code(me(device["access_token"])) == "token_revoked", "access after logout-all")
    r = post("/auth/refresh", {"refresh_token": device["refresh_token"]})
    check(code(r) == "session_revoked", f"refresh after logout-all: {r.text}")
print("OK")
