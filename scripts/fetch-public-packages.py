#!/usr/bin/env python3
"""Downloads the public packages of a lockfile (their exact tarballs, integrity checked) into a
directory, once: the registry proxy's tests seed an upstream registry with them.

usage: fetch-public-packages.py LOCKFILE DIR
"""
import base64, hashlib, json, os, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor

REGISTRY = "https://registry.npmjs.org/"
lockfile, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
packages = json.load(open(lockfile))["packages"]
wanted = [(path.rsplit("node_modules/", 1)[1], meta) for path, meta in packages.items() if path]


def fetch(item):
    name, meta = item
    target = os.path.join(out, f"{name.replace('/', '+')}-{meta['version']}.tgz")
    algorithm, digest = meta["integrity"].split("-", 1)
    if os.path.exists(target):
        return
    # npm leaves `resolved` out where it is the public registry's usual address.
    url = meta.get("resolved") or f"{REGISTRY}{name}/-/{name.rsplit('/', 1)[-1]}-{meta['version']}.tgz"
    with urllib.request.urlopen(url, timeout=60) as response:
        data = response.read()
    if base64.b64encode(hashlib.new(algorithm, data).digest()).decode() != digest:
        sys.exit(f"{name}@{meta['version']}: the download does not match its integrity")
    with open(target + ".part", "wb") as f:
        f.write(data)
    os.replace(target + ".part", target)


with ThreadPoolExecutor(8) as pool:
    list(pool.map(fetch, wanted))
