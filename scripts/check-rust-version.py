#!/usr/bin/env python3
"""Each workspace package's `rust-version` is at least the highest `rust-version` among the
locked dependencies it can build with (normal and build dependencies, every feature): a user on
the declared version gets a build, not an error from a dependency.

    python3 scripts/check-rust-version.py
"""
import json
import subprocess
import sys


def version(text):
    return tuple(int(part) for part in text.split("."))


def main():
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--all-features", "--locked"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    packages = {p["id"]: p for p in metadata["packages"]}
    nodes = {n["id"]: n for n in metadata["resolve"]["nodes"]}
    failures = []
    for member in metadata["workspace_members"]:
        declared = packages[member].get("rust_version")
        # Everything a build of this package compiles (its dev-dependencies excepted).
        seen, stack = set(), [member]
        while stack:
            for dep in nodes[stack.pop()]["deps"]:
                kinds = {k["kind"] for k in dep["dep_kinds"]}
                if kinds <= {"dev"} or dep["pkg"] in seen:
                    continue
                seen.add(dep["pkg"])
                stack.append(dep["pkg"])
        needed = max(
            (
                (version(packages[d]["rust_version"]), packages[d]["name"])
                for d in seen
                if packages[d].get("rust_version") and d not in metadata["workspace_members"]
            ),
            default=((0,), None),
        )
        name = packages[member]["name"]
        if declared is None:
            failures.append(f"{name}: no rust-version (its dependencies need {needed})")
        elif version(declared) < needed[0]:
            failures.append(
                f"{name}: rust-version {declared}, but {needed[1]} needs "
                + ".".join(map(str, needed[0]))
            )
        else:
            print(f"{name}: rust-version {declared} (highest dependency: {needed[1]} "
                  + ".".join(map(str, needed[0])) + ")")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)


main()
