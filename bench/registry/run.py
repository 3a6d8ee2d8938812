#!/usr/bin/env python3
"""The npm registry, side by side with Verdaccio 6, on this machine.

Both run on loopback with local storage and are seeded through their publish endpoints with the
same packages: a real dependency tree (219 packages of express, eslint, axios and friends; the
tarballs from the npm registry) and one synthetic package with 2,000 versions. Then, for each:
packument and tarball GETs and 304 revalidations under wrk (50 connections, 2 threads),
`npm ci` of the tree with a cold client cache, 20 concurrent publishes of one package, and peak
resident memory. Writes bench/results/registry.md.

usage: bench/registry/run.sh [--seconds N] [--big-versions N]
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURE = os.path.join(ROOT, "bench/registry/fixture")
PACKAGES = os.path.join(ROOT, "target/bench-packages")
VEXTRUS = os.path.join(ROOT, "target/release/vextrus")
VERDACCIO = os.path.join(ROOT, "target/verdaccio/node_modules/.bin/verdaccio")
PASSWORD = "Shapla-Bazar-2026"


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(base, method, path, body=None, headers=None, timeout=120):
    """One HTTP request; answers (status, headers, body bytes)."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    all_headers = {"content-type": "application/json"} if data is not None else {}
    all_headers.update(headers or {})
    conn.request(method, url.path.rstrip("/") + path, body=data, headers=all_headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), payload


def wait_until_up(base, path, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if request(base, "GET", path, timeout=2)[0] < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"{base}{path} did not come up")


class Registry:
    """A running registry: its name, npm URL, token, process."""

    def __init__(self, label, url, token, process, extra_pids=lambda: []):
        self.label, self.url, self.token, self.process, self.extra_pids = label, url, token, process, extra_pids

    def auth(self):
        return {"authorization": f"Bearer {self.token}"}

    def path_of(self, name):
        return "/" + name.replace("/", "%2f")

    def publish(self, manifest, tgz):
        name, version = manifest["name"], manifest["version"]
        manifest = dict(manifest)
        manifest["dist"] = {
            "integrity": "sha512-" + base64.b64encode(hashlib.sha512(tgz).digest()).decode(),
            "shasum": hashlib.sha1(tgz).hexdigest(),
            # What npm sends (Verdaccio builds its own URLs from it; vextrus from its public URL).
            "tarball": f"{self.url}/{name}/-/{name.rsplit('/', 1)[-1]}-{version}.tgz",
        }
        doc = {
            "_id": name, "name": name, "dist-tags": {"latest": version}, "versions": {version: manifest},
            "_attachments": {f"{name}-{version}.tgz": {
                "content_type": "application/octet-stream", "data": base64.b64encode(tgz).decode(), "length": len(tgz)}},
        }
        status, _, body = request(self.url, "PUT", self.path_of(name), doc, self.auth())
        return status, body

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_vextrus(work):
    port = free_port()
    env = dict(os.environ)
    env.update({
        "VEXTRUS_REGISTRY_ALLOW_UNSCOPED": "true",
        "VEXTRUS_LOG_LEVEL": "warn",
        "VEXTRUS_LISTEN": f"127.0.0.1:{port}",
        "VEXTRUS_PUBLIC_URL": f"http://127.0.0.1:{port}",
    })
    env.pop("DATABASE_URL", None)
    log = open(os.path.join(work, "vextrus.log"), "w")
    process = subprocess.Popen([VEXTRUS, "serve", "--data-dir", os.path.join(work, "vextrus-data")],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_until_up(base, "/readyz", 120)
    signup = {"org": {"slug": "bench", "name": "Bench"},
              "user": {"email": "bench@example.com", "username": "bench", "password": PASSWORD, "name": "Bench"}}
    assert request(base, "POST", "/v1/signup", signup)[0] == 202
    # The sign-up completes with the code mailed to the address (the dev mailbox, read as operator).
    with open(os.path.join(work, "vextrus-data", "admin-token")) as f:
        operator = {"authorization": f"Bearer {f.read().strip()}"}
    deadline = time.time() + 30
    code = None
    while code is None:
        assert time.time() < deadline, "no sign-up mail"
        status, _, body = request(base, "GET", "/v1/dev/mailbox?to=bench@example.com", None, operator)
        mails = json.loads(body) if status == 200 else []
        lines = [line.strip() for m in mails for line in m["body"].splitlines()]
        code = next((line for line in lines if len(line) >= 40 and " " not in line), None)
        time.sleep(0.1)
    status, _, body = request(base, "POST", "/v1/signup/verify", {"token": code, "password": PASSWORD})
    assert status == 201, body
    form = urllib.parse.urlencode({"grant_type": "password", "username": "bench", "password": PASSWORD}).encode()
    status, _, body = request(base, "POST", "/oauth/token", form, {"content-type": "application/x-www-form-urlencoded"})
    access = json.loads(body)["access_token"]
    key = {"name": "npm", "permissions": ["registry.packages.read", "registry.packages.publish", "registry.packages.manage"]}
    status, _, body = request(base, "POST", "/v1/me/api-keys", key, {"authorization": f"Bearer {access}"})
    assert status == 201, body

    def postgres_pids():
        found = subprocess.run(["pgrep", "-f", os.path.join(work, "vextrus-data")], capture_output=True, text=True)
        return [int(p) for p in found.stdout.split() if int(p) != process.pid]

    registry = Registry("vextrus", f"{base}/npm", json.loads(body)["secret"], process, postgres_pids)
    registry.access = access
    registry.base = base
    return registry


def start_verdaccio(work):
    port = free_port()
    directory = os.path.join(work, "verdaccio")
    os.makedirs(directory)
    with open(os.path.join(directory, "config.yaml"), "w") as f:
        f.write("storage: ./storage\nauth:\n  htpasswd:\n    file: ./htpasswd\nuplinks: {}\n"
                "max_body_size: 200mb\npackages:\n"
                "  '@*/*': {access: $authenticated, publish: $authenticated, unpublish: $authenticated}\n"
                "  '**': {access: $authenticated, publish: $authenticated, unpublish: $authenticated}\n"
                "log: {type: stdout, format: pretty, level: warn}\n"
                # JWT tokens (verified with an HMAC); its default "legacy" tokens cost a bcrypt check
                # on every request (about 13 requests per second here).
                "security: {api: {jwt: {sign: {expiresIn: 60d}}}, web: {sign: {expiresIn: 7d}}}\n")
    log = open(os.path.join(work, "verdaccio.log"), "w")
    process = subprocess.Popen([VERDACCIO, "--config", "./config.yaml", "--listen", f"127.0.0.1:{port}"],
                               cwd=directory, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_until_up(base, "/-/ping")
    status, _, body = request(base, "PUT", "/-/user/org.couchdb.user:bench", {"name": "bench", "password": PASSWORD})
    assert status == 201, body
    return Registry("Verdaccio 6", base, json.loads(body)["token"], process)


def tree():
    """(manifest, tarball bytes) of every package of the fixture, oldest version of a name first."""
    found = []
    for file in sorted(os.listdir(PACKAGES)):
        path = os.path.join(PACKAGES, file)
        with tarfile.open(path) as archive:
            # npm's root directory is `package/`, but not every package's (`@types/*`).
            member = next(m for m in archive.getmembers() if m.name.count("/") == 1 and m.name.endswith("/package.json"))
            manifest = json.load(archive.extractfile(member))
        found.append((manifest, open(path, "rb").read()))

    def order(item):
        return item[0]["name"], [int(p) if p.isdigit() else 0 for p in re.split(r"[.+-]", item[0]["version"])[:3]]

    return sorted(found, key=order)


def tiny_tarball(name, version):
    directory = tempfile.mkdtemp()
    os.makedirs(os.path.join(directory, "package"))
    with open(os.path.join(directory, "package", "package.json"), "w") as f:
        json.dump({"name": name, "version": version, "description": f"version {version} of a long-lived package",
                   "dependencies": {"left-pad": "^1.3.0"}, "license": "MIT"}, f)
    data = subprocess.run(["tar", "-czf", "-", "package"], cwd=directory, capture_output=True, check=True).stdout
    shutil.rmtree(directory)
    return data


def seed(registry, packages, big_versions):
    started = time.time()
    for manifest, tgz in packages:
        scope = manifest["name"][1:].split("/")[0] if manifest["name"].startswith("@") else None
        if scope and registry.label == "vextrus" and scope not in registry.__dict__.setdefault("scopes", set()):
            status, _, body = request(registry.base, "POST", "/v1/registry/scopes", {"scope": scope},
                                      {"authorization": f"Bearer {registry.access}"})
            assert status in (201, 409), body
            registry.scopes.add(scope)
        status, body = registry.publish(manifest, tgz)
        assert status in (200, 201), f"{registry.label}: {manifest['name']}@{manifest['version']}: {status} {body[:200]}"
    tree_seconds = time.time() - started
    started = time.time()
    for i in range(big_versions):
        version = f"1.{i // 100}.{i % 100}"
        status, body = registry.publish({"name": "big-pkg", "version": version, "license": "MIT"},
                                        tiny_tarball("big-pkg", version))
        assert status in (200, 201), f"{registry.label}: big-pkg@{version}: {status} {body[:200]}"
    return tree_seconds, time.time() - started


def concurrent_publishes(registry, count=20):
    results = [None] * count

    def one(i):
        version = f"1.0.{i}"
        results[i] = registry.publish({"name": "race-pkg", "version": version, "license": "MIT"},
                                      tiny_tarball("race-pkg", version))[0]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    status, _, body = request(registry.url, "GET", "/race-pkg", headers=registry.auth())
    kept = len(json.loads(body).get("versions", {})) if status == 200 else 0
    return sum(1 for s in results if s in (200, 201)), kept


def wrk(url, headers, seconds):
    args = ["wrk", "-t2", "-c50", f"-d{seconds}s", "--latency", url]
    for name, value in headers.items():
        args[1:1] = ["-H", f"{name}: {value}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(label):
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50": ms("50"), "p99": ms("99"),
            "errors": int(errors.group(1)) if errors else 0, "socket": socket_errors.group(1) if socket_errors else ""}


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) / 1024


def pss_mb(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += int(re.search(r"^Pss:\s+(\d+) kB", f.read(), re.M).group(1))
        except OSError:
            pass
    return total / 1024


def npm_ci(registry, work, runs=3):
    """`npm ci` of the fixture tree with an empty cache, `runs` times: the median in seconds."""
    project = os.path.join(work, f"ci-{registry.label.split()[0]}")
    os.makedirs(project)
    shutil.copy(os.path.join(FIXTURE, "package.json"), project)
    host = urllib.parse.urlsplit(registry.url)
    npmrc = os.path.join(project, ".npmrc")
    with open(npmrc, "w") as f:
        f.write(f"registry={registry.url}/\n//{host.netloc}{host.path}/:_authToken={registry.token}\n"
                "audit=false\nfund=false\nupdate-notifier=false\nignore-scripts=true\n")
    env = dict(os.environ, npm_config_userconfig=npmrc, npm_config_cache=os.path.join(project, "cache"))
    subprocess.run(["npm", "install", "--package-lock-only", "--loglevel=error"], cwd=project, env=env, check=True)
    times = []
    for _ in range(runs):
        shutil.rmtree(os.path.join(project, "cache"), ignore_errors=True)
        shutil.rmtree(os.path.join(project, "node_modules"), ignore_errors=True)
        started = time.time()
        subprocess.run(["npm", "ci", "--loglevel=error"], cwd=project, env=env, check=True, stdout=subprocess.DEVNULL)
        times.append(time.time() - started)
    installed = len([d for d in os.listdir(os.path.join(project, "node_modules")) if not d.startswith(".")])
    return sorted(times)[len(times) // 2], installed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--big-versions", type=int, default=2000)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench/results/registry.md"))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="vextrus-bench-registry-")
    os.chmod(work, 0o755)  # the embedded PostgreSQL runs as its own system user
    packages = tree()
    print(f"{len(packages)} package versions in the tree; working in {work}", file=sys.stderr)
    registries = [start_vextrus(work), start_verdaccio(work)]
    results = {}
    try:
        for registry in registries:
            r = results[registry.label] = {}
            print(f"seeding {registry.label}", file=sys.stderr)
            r["seed_tree"], r["seed_big"] = seed(registry, packages, args.big_versions)
            r["publishes_ok"], r["publishes_kept"] = concurrent_publishes(registry)
            print(f"{registry.label}: seeded (peak resident so far {peak_rss_mb(registry.process.pid):.0f} MiB)",
                  file=sys.stderr)
        for registry in registries:
            r = results[registry.label]
            auth = registry.auth()
            abbreviated = {"accept": "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"}
            status, headers, body = request(registry.url, "GET", "/express", headers={**auth, **abbreviated})
            assert status == 200, body
            etag = {k.lower(): v for k, v in headers.items()}.get("etag")
            tarball = json.loads(body)["versions"][json.loads(body)["dist-tags"]["latest"]]["dist"]["tarball"]
            status, _, tar_body = request(registry.url, "GET", urllib.parse.urlsplit(tarball).path[len(urllib.parse.urlsplit(registry.url).path):], headers=auth)
            assert status == 200
            r["tarball_kb"] = len(tar_body) / 1024
            status, _, big = request(registry.url, "GET", "/big-pkg", headers=auth)
            r["big_versions"] = len(json.loads(big)["versions"])
            r["big_kb"] = len(big) / 1024
            cases = [
                ("abbreviated packument (express)", f"{registry.url}/express", {**auth, **abbreviated}),
                ("full packument (express)", f"{registry.url}/express", {**auth, "accept": "application/json"}),
                ("tarball (express, %.0f KiB)" % r["tarball_kb"], tarball, auth),
                ("304 revalidation (express, abbreviated)", f"{registry.url}/express",
                 {**auth, **abbreviated, **({"if-none-match": etag} if etag else {})}),
                (f"large packument ({r['big_versions']} versions, full)", f"{registry.url}/big-pkg",
                 {**auth, "accept": "application/json"}),
            ]
            r["etag"] = bool(etag)
            r["load"] = {}
            for label, url, headers in cases:
                print(f"{registry.label}: {label} (peak resident so far {peak_rss_mb(registry.process.pid):.0f} MiB)",
                      file=sys.stderr)
                r["load"][label] = wrk(url, headers, args.seconds)
            r["rss"] = peak_rss_mb(registry.process.pid)
            r["db_pss"] = pss_mb(registry.extra_pids())
            print(f"{registry.label}: npm ci", file=sys.stderr)
            r["npm_ci"], r["installed"] = npm_ci(registry, work)
    finally:
        for registry in registries:
            registry.stop()
    write(args, results, len(packages))
    shutil.rmtree(work, ignore_errors=True)


def write(args, results, tree_size):
    ours, theirs = results["vextrus"], results["Verdaccio 6"]
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True,
                         text=True).stdout.strip()
    lines = [
        "# npm registry: vextrus vs Verdaccio 6",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `bash bench/registry/run.sh` on this machine ({os.cpu_count()} cores,"
        f" {cpu}); both registries on loopback with local storage, the load generator (wrk, 2 threads, 50"
        f" connections, {args.seconds} s per case) on the same cores. Every request carries the registry's token"
        " (vextrus: an API key limited to the registry's permissions; Verdaccio: its login token — a JWT, its"
        " fastest kind — with packages `$authenticated`). vextrus runs `serve` on its embedded defaults (its own PostgreSQL).",
        "",
        f"Seeded through each registry's publish endpoint: {tree_size} package versions (a real tree: express,"
        f" eslint, axios, lodash and their dependencies; tarballs from the npm registry) and `big-pkg` with"
        f" {args.big_versions} versions.",
        "",
        "| requests per second (p50 / p99 latency) | vextrus | Verdaccio 6 | ratio |",
        "|---|---:|---:|---:|",
    ]
    for label in ours["load"]:
        a, b = ours["load"][label], theirs["load"][label]
        def cell(m):
            errors = f", {m['errors']} errors" if m["errors"] else ""
            return f"{m['rps']:,.0f} ({m['p50']:.2f} / {m['p99']:.2f} ms{errors})"
        lines.append(f"| {label} | {cell(a)} | {cell(b)} | {a['rps'] / max(b['rps'], 0.001):.1f}× |")
    lines += [
        "",
        "| other | vextrus | Verdaccio 6 | ratio |",
        "|---|---:|---:|---:|",
        f"| `npm ci` of the tree, cold client cache (median of 3; {ours['installed']} / {theirs['installed']} top-level"
        f" entries installed) | {ours['npm_ci']:.1f} s | {theirs['npm_ci']:.1f} s |"
        f" {theirs['npm_ci'] / ours['npm_ci']:.2f}× faster |",
        f"| 20 concurrent publishes of one package: accepted / versions kept | {ours['publishes_ok']} / "
        f"{ours['publishes_kept']} | {theirs['publishes_ok']} / {theirs['publishes_kept']} | |",
        f"| peak resident memory of the registry process (after all the load) | {ours['rss']:.0f} MiB |"
        f" {theirs['rss']:.0f} MiB | {ours['rss'] / theirs['rss']:.2f} |",
        f"| … plus its PostgreSQL (PSS of the embedded cluster's processes) | {ours['rss'] + ours['db_pss']:.0f} MiB |"
        f" {theirs['rss']:.0f} MiB | {(ours['rss'] + ours['db_pss']) / theirs['rss']:.2f} |",
        f"| seeding the tree through publish ({tree_size} versions) | {ours['seed_tree']:.1f} s |"
        f" {theirs['seed_tree']:.1f} s | |",
        f"| seeding `big-pkg` ({args.big_versions} sequential publishes) | {ours['seed_big']:.1f} s |"
        f" {theirs['seed_big']:.1f} s | |",
        f"| size of the large packument (full) | {ours['big_kb']:.0f} KiB | {theirs['big_kb']:.0f} KiB | |",
        "",
        f"Verdaccio sends an ETag on packuments: {'yes' if theirs['etag'] else 'no (its 304 row is plain 200s)'}.",
        "",
    ]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
