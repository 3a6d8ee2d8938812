#!/usr/bin/env python3
"""Files: upload and download throughput on this machine, next to the raw ceiling measured in
the same run.

The real `vextrus serve` (release build, embedded PostgreSQL, clamd with an EICAR-only database
scanning every file under 25 MiB), first on the local backend, then on S3 (moto's server on
loopback). For each: one large file (1 GiB by default) uploaded with curl as a streamed raw
body and downloaded back; 1,000 files of 64 KiB uploaded by hey with 16 connections, and one of
them downloaded 5,000 times; the server's peak resident memory while the large file streams in
(sampled every 10 ms; and for a file a quarter the size, to show it does not grow with size).
Ceilings, same disk, same run: `dd … conv=fsync` and `cp` + `sync` of the large file, reading it
back with `dd`, and 1,000 small files written and fsynced by 16 threads; on S3, the same bytes
PUT and GET directly against moto with boto3. Writes bench/results/files.md.

usage: bench/files/run.sh [--large-mib N] [--small N]
"""

import argparse
import concurrent.futures
import datetime
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VEXTRUS = os.path.join(ROOT, "target/release/vextrus")
PASSWORD = "Shapla-Bazar-2026"
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

# The registry bench's HTTP helpers (one request, a free port, waiting for a server).
_spec = importlib.util.spec_from_file_location("registry_bench", os.path.join(ROOT, "bench/registry/run.py"))
registry_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(registry_bench)
request, free_port, wait_until_up = registry_bench.request, registry_bench.free_port, registry_bench.wait_until_up


def mib_s(nbytes, seconds):
    return nbytes / (1 << 20) / seconds


def timed(command, **kw):
    start = time.perf_counter()
    subprocess.run(command, check=True, **kw)
    return time.perf_counter() - start


def start_clamd(work):
    directory = os.path.join(work, "clamd")
    os.makedirs(os.path.join(directory, "db"))
    import hashlib
    with open(os.path.join(directory, "db", "eicar.hdb"), "w") as f:
        f.write(f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:Eicar-Test\n")
    socket = os.path.join(directory, "clamd.sock")
    conf = os.path.join(directory, "clamd.conf")
    with open(conf, "w") as f:
        f.write(f"LocalSocket {socket}\nDatabaseDirectory {directory}/db\nForeground yes\n"
                f"LogFile {directory}/clamd.log\nStreamMaxLength 25M\n")
    process = subprocess.Popen(["/usr/sbin/clamd", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    import socket as sockets
    while True:
        try:
            with sockets.socket(sockets.AF_UNIX) as s:
                s.connect(socket)
                s.sendall(b"zPING\0")
                if s.recv(16).startswith(b"PONG"):
                    break
        except OSError:
            pass
        if time.time() > deadline:
            sys.exit("clamd did not answer")
        time.sleep(0.1)
    return process, socket


def start_moto(work):
    port = free_port()
    log = open(os.path.join(work, "moto.log"), "w")
    process = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    wait_until_up(endpoint, "/moto-api/", 60)
    import boto3
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="bench", aws_secret_access_key="bench-secret")
    s3.create_bucket(Bucket="vextrus")
    s3.create_bucket(Bucket="ceiling")
    return process, endpoint, s3


def start_vextrus(work, name, extra_env):
    port = free_port()
    env = dict(os.environ)
    env.update({"VEXTRUS_LOG_LEVEL": "warn", "VEXTRUS_LISTEN": f"127.0.0.1:{port}"})
    env.update(extra_env)
    env.pop("DATABASE_URL", None)
    data = os.path.join(work, name)
    log = open(os.path.join(work, f"{name}.log"), "w")
    process = subprocess.Popen([VEXTRUS, "serve", "--data-dir", data], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_until_up(base, "/readyz", 120)
    signup = {"org": {"slug": "bench", "name": "Bench"},
              "user": {"email": "bench@example.com", "username": "bench", "password": PASSWORD, "name": "Bench"}}
    assert request(base, "POST", "/v1/signup", signup)[0] == 202
    with open(os.path.join(data, "admin-token")) as f:
        operator = {"authorization": f"Bearer {f.read().strip()}"}
    deadline, code = time.time() + 30, None
    while code is None:
        assert time.time() < deadline, "no sign-up mail"
        status, _, body = request(base, "GET", "/v1/dev/mailbox?to=bench@example.com", None, operator)
        mails = json.loads(body) if status == 200 else []
        lines = [line.strip() for m in mails for line in m["body"].splitlines()]
        code = next((line for line in lines if len(line) >= 40 and " " not in line), None)
        time.sleep(0.1)
    status, _, body = request(base, "POST", "/v1/signup/verify", {"token": code, "password": PASSWORD})
    assert status == 201, body
    # Room for the run: an operator's plan with 50 GiB.
    plan = {"storage_bytes": 50 << 30, "members": 10, "api_keys": 10, "sms_per_month": 0}
    assert request(base, "PUT", "/v1/platform/plans/bench", plan, operator)[0] in (200, 201)
    assert request(base, "PUT", "/v1/orgs/bench/plan", {"plan": "bench"}, operator)[0] == 200
    form = urllib.parse.urlencode({"grant_type": "password", "username": "bench", "password": PASSWORD}).encode()
    status, _, body = request(base, "POST", "/oauth/token", form, {"content-type": "application/x-www-form-urlencoded"})
    token = json.loads(body)["access_token"]
    bucket = {"name": "bench", "max_size": 2 << 30, "unscanned_readable": True}
    status, _, body = request(base, "POST", "/v1/files/buckets", bucket, {"authorization": f"Bearer {token}"})
    assert status == 201, body
    return process, base, token


class Peak:
    """The peak VmRSS of a process while the block runs, sampled every 10 ms."""

    def __init__(self, pid):
        self.pid, self.peak, self.running = pid, 0, True

    def __enter__(self):
        def sample():
            while self.running:
                with open(f"/proc/{self.pid}/status") as f:
                    rss = int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))
                self.peak = max(self.peak, rss)
                time.sleep(0.01)
        self.thread = threading.Thread(target=sample)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()

    def mib(self):
        return self.peak / 1024


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) / 1024


def curl_upload(base, token, path, name):
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/stderr", "-w", "%{http_code} %{time_total}", "-X", "POST", "-T", path,
         "-H", f"authorization: Bearer {token}", "-H", "content-type: application/octet-stream",
         f"{base}/v1/files/buckets/bench/files?filename={name}"],
        check=True, capture_output=True, text=True)
    status, seconds = out.stdout.split()
    assert status == "201", out.stderr
    return json.loads(out.stderr), float(seconds)


def curl_download(base, token, file_id):
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total} %{size_download}",
                          "-H", f"authorization: Bearer {token}", f"{base}/v1/files/{file_id}/content"],
                         check=True, capture_output=True, text=True)
    status, seconds, size = out.stdout.split()
    assert status == "200", out
    return float(seconds), int(size)


def hey(args):
    out = subprocess.run(["hey"] + args, check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    codes = dict((int(c), int(n)) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out))
    p99 = re.search(r"99%% in ([\d.]+) secs".replace("%%", "%"), out)
    return rate, codes, float(p99.group(1)) * 1000 if p99 else None


def small_uploads(base, token, small, count, concurrency):
    rate, codes, p99 = hey(["-n", str(count), "-c", str(concurrency), "-m", "POST", "-D", small,
                            "-T", "application/octet-stream", "-H", f"Authorization: Bearer {token}",
                            f"{base}/v1/files/buckets/bench/files?filename=small.bin"])
    # (hey sends n rounded down to a multiple of the connections.)
    assert list(codes) == [201] and codes[201] >= count - concurrency, codes
    return rate, p99


def small_downloads(base, token, file_id, count, concurrency):
    rate, codes, p99 = hey(["-n", str(count), "-c", str(concurrency), "-H", f"Authorization: Bearer {token}",
                            f"{base}/v1/files/{file_id}/content"])
    assert list(codes) == [200] and codes[200] >= count - concurrency, codes
    return rate, p99


def measure_platform(label, process, base, token, large, quarter, small, args):
    results = {}
    with Peak(process.pid) as peak:
        file, seconds = curl_upload(base, token, large, "large.bin")
    assert file["current"]["size"] == os.path.getsize(large), file
    results["large_up"] = mib_s(os.path.getsize(large), seconds)
    results["rss_large"] = peak.mib()
    with Peak(process.pid) as peak:
        curl_upload(base, token, quarter, "quarter.bin")
    results["rss_quarter"] = peak.mib()
    seconds, size = curl_download(base, token, file["id"])
    assert size == os.path.getsize(large)
    results["large_down"] = mib_s(size, seconds)
    results["small_up"], results["small_up_p99"] = small_uploads(base, token, small, args.small, args.concurrency)
    one, _ = curl_upload(base, token, small, "one-small.bin")
    results["small_down"], results["small_down_p99"] = small_downloads(base, token, one["id"], 5 * args.small, args.concurrency)
    results["scan"] = one["current"]["scan"]
    results["large_scan"] = file["current"]["scan"]
    results["rss_after"] = rss_mib(process.pid)
    print(label, json.dumps(results), flush=True)
    return results


def local_ceilings(work, large, small, count, concurrency):
    size = os.path.getsize(large)
    target = os.path.join(work, "ceiling.bin")
    dd = timed(["dd", f"if={large}", f"of={target}", "bs=1M", "conv=fsync", "status=none"])
    os.remove(target)
    cp = timed(["sh", "-c", f"cp {large} {target} && sync {target}"])
    read = timed(["dd", f"if={target}", "of=/dev/null", "bs=1M", "status=none"])
    os.remove(target)
    data = open(small, "rb").read()
    directory = os.path.join(work, "ceiling-small")
    os.makedirs(directory)

    def write(i):
        with open(os.path.join(directory, f"{i}.bin"), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(write, range(count)))
    small_rate = count / (time.perf_counter() - start)
    shutil.rmtree(directory)
    return {"dd": mib_s(size, dd), "cp": mib_s(size, cp), "read": mib_s(size, read), "small": small_rate}


def s3_ceilings(s3, large, small, count, concurrency):
    from boto3.s3.transfer import TransferConfig
    size = os.path.getsize(large)
    config = TransferConfig(multipart_chunksize=10 << 20, max_concurrency=4)
    start = time.perf_counter()
    s3.upload_file(large, "ceiling", "large.bin", Config=config)
    up = time.perf_counter() - start
    start = time.perf_counter()
    body = s3.get_object(Bucket="ceiling", Key="large.bin")["Body"]
    got = 0
    for chunk in iter(lambda: body.read(1 << 20), b""):
        got += len(chunk)
    down = time.perf_counter() - start
    assert got == size
    s3.delete_object(Bucket="ceiling", Key="large.bin")
    data = open(small, "rb").read()
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda i: s3.put_object(Bucket="ceiling", Key=f"small/{i}", Body=data), range(count)))
    small_up = count / (time.perf_counter() - start)
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda i: s3.get_object(Bucket="ceiling", Key=f"small/{i % count}")["Body"].read(), range(count)))
    small_down = count / (time.perf_counter() - start)
    return {"up": mib_s(size, up), "down": mib_s(size, down), "small_up": small_up, "small_down": small_down}


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--small-kib", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench/results/files.md"))
    parser.add_argument("--skip-s3", action="store_true")
    args = parser.parse_args()
    os.makedirs(os.path.join(ROOT, "target"), exist_ok=True)
    work = tempfile.mkdtemp(prefix="bench-files-", dir=os.path.join(ROOT, "target"))
    # The embedded cluster runs as its own OS user when we are root: it must reach its data dir.
    os.chmod(work, 0o711)
    large, quarter, small = (os.path.join(work, n) for n in ("large.bin", "quarter.bin", "small.bin"))
    for path, mib in ((large, args.large_mib), (quarter, args.large_mib // 4)):
        with open(path, "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(1 << 20))
    with open(small, "wb") as f:
        f.write(os.urandom(args.small_kib << 10))
    processes = []
    try:
        clamd, socket = start_clamd(work)
        processes.append(clamd)
        ceilings = {"local": local_ceilings(work, large, small, args.small, args.concurrency)}
        print("local ceilings", json.dumps(ceilings["local"]), flush=True)
        env = {"VEXTRUS_FILES_CLAMD": socket}
        process, base, token = start_vextrus(work, "local", env)
        processes.append(process)
        results = {"local": measure_platform("local", process, base, token, large, quarter, small, args)}
        stop(process)
        if not args.skip_s3:
            moto, endpoint, s3 = start_moto(work)
            processes.append(moto)
            ceilings["s3"] = s3_ceilings(s3, large, small, args.small, args.concurrency)
            print("s3 ceilings", json.dumps(ceilings["s3"]), flush=True)
            env.update({"VEXTRUS_STORAGE_BACKEND": "s3", "VEXTRUS_STORAGE_S3_BUCKET": "vextrus",
                        "VEXTRUS_STORAGE_S3_ENDPOINT": endpoint, "VEXTRUS_STORAGE_S3_ACCESS_KEY_ID": "bench",
                        "VEXTRUS_STORAGE_S3_SECRET_ACCESS_KEY": "bench-secret", "VEXTRUS_STORAGE_S3_ALLOW_HTTP": "true"})
            process, base, token = start_vextrus(work, "s3", env)
            processes.append(process)
            results["s3"] = measure_platform("s3", process, base, token, large, quarter, small, args)
    finally:
        for p in processes:
            stop(p)
        shutil.rmtree(work, ignore_errors=True)
    write(args, ceilings, results)


def write(args, ceilings, results):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    large = f"{args.large_mib} MiB" if args.large_mib != 1024 else "1 GiB"
    local, lc = results["local"], ceilings["local"]
    lines = [
        "# Files: upload and download throughput",
        "",
        f"Measured {now} by `bash bench/files/run.sh` on this machine ({os.cpu_count()} cores, {cpu}). "
        "The real `vextrus serve` (release build, embedded PostgreSQL, `warn` logs) with clamd scanning "
        "every file up to 25 MiB (an EICAR-only database; larger files are `unscanned` without being sent). "
        f"Large file: {large} of random bytes, a streamed raw `POST` by curl (`-T`), downloaded back by curl. "
        f"Small files: {args.small} × {args.small_kib} KiB uploaded by hey with {args.concurrency} connections; "
        f"one of them downloaded {5 * args.small} times. Client, server, PostgreSQL and clamd share the two cores.",
        "",
        "## Local backend (same disk)",
        "",
        "| | vextrus | ceiling (same run) | share |",
        "|---|---:|---:|---:|",
        f"| {large} upload (MiB/s) | {local['large_up']:,.0f} | {lc['dd']:,.0f} (`dd conv=fsync`); {lc['cp']:,.0f} (`cp` + `sync`) | {local['large_up'] / max(lc['dd'], lc['cp']):.0%} of the better |",
        f"| {large} download (MiB/s) | {local['large_down']:,.0f} | {lc['read']:,.0f} (`dd` read, page cache) | {local['large_down'] / lc['read']:.0%} |",
        f"| {args.small_kib} KiB uploads (files/s; p99) | {local['small_up']:,.0f} ({local['small_up_p99']:.0f} ms) | {lc['small']:,.0f} (written + fsynced, {args.concurrency} threads) | {local['small_up'] / lc['small']:.0%} |",
        f"| {args.small_kib} KiB downloads (requests/s; p99) | {local['small_down']:,.0f} ({local['small_down_p99']:.0f} ms) | | |",
        f"| server peak RSS during the {large} upload | {local['rss_large']:.0f} MiB | during a {args.large_mib // 4} MiB upload: {local['rss_quarter']:.0f} MiB | |",
        "",
        f"Scan results: small files `{local['scan']}`, the large file `{local['large_scan']}`.",
    ]
    if "s3" in results:
        s3, sc = results["s3"], ceilings["s3"]
        lines += [
            "",
            "## S3 backend (moto's server on loopback)",
            "",
            "| | vextrus | ceiling: direct to moto (boto3) | share |",
            "|---|---:|---:|---:|",
            f"| {large} upload (MiB/s) | {s3['large_up']:,.0f} | {sc['up']:,.0f} (multipart, 10 MiB parts) | {s3['large_up'] / sc['up']:.0%} |",
            f"| {large} download (MiB/s) | {s3['large_down']:,.0f} | {sc['down']:,.0f} | {s3['large_down'] / sc['down']:.0%} |",
            f"| {args.small_kib} KiB uploads (files/s; p99) | {s3['small_up']:,.0f} ({s3['small_up_p99']:.0f} ms) | {sc['small_up']:,.0f} (PUT, {args.concurrency} threads) | {s3['small_up'] / sc['small_up']:.0%} |",
            f"| {args.small_kib} KiB downloads (requests/s; p99) | {s3['small_down']:,.0f} ({s3['small_down_p99']:.0f} ms) | {sc['small_down']:,.0f} (GET) | {s3['small_down'] / sc['small_down']:.0%} |",
            f"| server peak RSS during the {large} upload | {s3['rss_large']:.0f} MiB | during a {args.large_mib // 4} MiB upload: {s3['rss_quarter']:.0f} MiB | |",
        ]
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
