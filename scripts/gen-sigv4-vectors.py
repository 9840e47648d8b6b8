#!/usr/bin/env python3
"""AWS's published SigV4 test suite (the `get-vanilla` … `post-x-www-form-urlencoded` family), as
shipped in botocore's source distribution (tests/unit/auth/aws4_testsuite, Apache-2.0), turned
into crates/tower-hmac-core/testdata/sigv4.json for the known-answer tests.

    .ci/venv/bin/python scripts/gen-sigv4-vectors.py

Each case keeps the signed request (`.sreq`), the canonical request (`.creq`), the string to
sign (`.sts`) and the Authorization header (`.authz`). The suite writes paths unencoded
(`/ሴ`, `/example space/`); a real request carries them percent-encoded once, which is what the
suite's canonical URI is: such cases are signed "as sent", the S3 path rule (`path_rule`).
"""

import json
import pathlib
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/tower-hmac-core/testdata/sigv4.json"
EXCLUDED = {
    "get-header-value-multiline": "obs-fold line continuations: not valid HTTP/1.1 (RFC 9112 §5.2), "
    "refused by hyper and not representable in the http crate",
}


def parse_sreq(text):
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    method, rest = lines[0].split(" ", 1)
    target = rest.rsplit(" ", 1)[0]
    headers = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            return None
        name, _, value = line.partition(":")
        headers.append([name, value])
    return method, target, headers, body


def main():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
             "botocore", "-d", tmp],
            check=True,
        )
        sdist = next(pathlib.Path(tmp).glob("botocore-*.tar.gz"))
        version = sdist.name[len("botocore-"):-len(".tar.gz")]
        with tarfile.open(sdist) as tar:
            members = [m for m in tar.getmembers() if "/aws4_testsuite/" in m.name and m.isfile()]
            files = {m.name.split("/aws4_testsuite/", 1)[1]: tar.extractfile(m).read().decode("utf-8")
                     for m in members}
    cases = []
    for name in sorted(f for f in files if f.endswith(".sreq")):
        case = name[: -len(".sreq")]
        short = case.rsplit("/", 1)[1]
        if short in EXCLUDED:
            continue
        parsed = parse_sreq(files[name])
        if parsed is None:
            raise SystemExit(f"{short}: unexpected continuation line")
        method, target, headers, body = parsed
        path, _, query = target.partition("?")
        wire_path = urllib.parse.quote(path, safe="/~!$&'()*+,;=:@-._")
        wire_query = "&".join(
            "=".join(urllib.parse.quote(p, safe="~!$'()*+,;:@/?-._%") for p in pair.split("=", 1))
            for pair in query.split("&")
        ) if query else ""
        authz = files[case + ".authz"]
        note = None
        for header in headers:
            if header[0].lower() == "authorization":
                header[1] = header[1].strip()
                if header[1] != authz:
                    # The suite's .sreq of this case carries another case's signature; its
                    # .authz is the one computed from its .sts.
                    note = "the suite's .sreq carries another signature; the .authz is used"
                    header[1] = authz
        entry = {
            "name": short,
            "method": method,
            "path": wire_path,
            "query": wire_query,
            "path_rule": "s3" if wire_path != path else "generic",
            "headers": headers,
            "body": body,
            "canonical_request": files[case + ".creq"],
            "string_to_sign": files[case + ".sts"],
            "authorization": authz,
        }
        if note:
            entry["note"] = note
        cases.append(entry)
    data = {
        "source": f"botocore {version} sdist, tests/unit/auth/aws4_testsuite (AWS's SigV4 test suite, Apache-2.0)",
        "access_key_id": "AKIDEXAMPLE",
        "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "region": "us-east-1",
        "service": "service",
        "excluded": [{"name": k, "why": v} for k, v in EXCLUDED.items()],
        "cases": cases,
    }
    OUT.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    print(f"{len(cases)} cases -> {OUT}")


if __name__ == "__main__":
    main()
