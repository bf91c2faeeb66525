#!/usr/bin/env python3
"""Time and memory of the relay example per scrape, against the upstream's size.

For each size, an upstream on loopback serves a generated text 0.0.4 body and a
fresh relay process relays it; the script scrapes the relay (OpenMetrics, as
Prometheus asks) and reads from /proc the relay's resident memory before the
first scrape and its peak (VmHWM) after the scrapes. Loopback only; every
request has a timeout, so a run is bounded in time.

    cargo build --release --features axum --example relay
    scripts/relay_table.py                          # realistic, 1k to 1M series
    scripts/relay_table.py --shape tiny --sizes 1000000
    scripts/relay_table.py --shape labels --sizes 25000,100000
    scripts/relay_table.py --concurrency 16         # 16 scrapes at once
    scripts/relay_table.py --silent 64 --rounds 1   # 64 scrapers that never read first
    scripts/relay_table.py --relay /tmp/relay-old   # another build, to compare

Shapes:
  realistic  counters with four labels, 100 series per family, HELP and TYPE
             (about 110 bytes per series)
  tiny       one gauge family of N series `m{i="N"} 1` (about 16 bytes each)
  labels     one sample with N distinct labels
  families   N families of one sample each, no metadata (`fN 1`)

Linux only (/proc). Prints a Markdown table.
"""

import argparse
import http.server
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request

ACCEPT = ("application/openmetrics-text;version=1.0.0,"
          "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


def body_of(shape, n):
    if shape == "realistic":
        out = []
        per = 100
        for f in range((n + per - 1) // per):
            name = f"app_requests_{f}_total"
            out.append(f"# HELP {name} Requests handled by the app, by route.\n")
            out.append(f"# TYPE {name} counter\n")
            for i in range(min(per, n - f * per)):
                out.append(
                    f'{name}{{method="GET",route="/api/v1/items/{i}",'
                    f'status="{200 + i % 5}",instance="10.0.{f % 256}.{i}:8080"}} '
                    f"{f * 1000 + i}\n")
        return "".join(out)
    if shape == "tiny":
        return "".join(f'm{{i="{i}"}} 1\n' for i in range(n))
    if shape == "labels":
        labels = ",".join(f'l{i}="v"' for i in range(n))
        return f"one{{{labels}}} 1\n"
    if shape == "families":
        return "".join(f"f{i} 1\n" for i in range(n))
    raise SystemExit(f"unknown shape {shape}")


class Upstream(http.server.ThreadingHTTPServer):
    daemon_threads = True


def start_upstream(body):
    data = body.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = Upstream(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def scrape(addr, timeout):
    t0 = time.monotonic()
    req = urllib.request.Request(f"http://{addr}/metrics", headers={"Accept": ACCEPT})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            text = res.read().decode()
    except Exception as e:  # a refusal or a timeout is a row, not a crash
        return time.monotonic() - t0, None, str(e)
    took = time.monotonic() - t0
    return took, text, None


def silent_clients(addr, n, hold):
    """N scrapes whose clients never read their answers, held open for `hold`
    seconds, then closed."""
    host, port = addr.rsplit(":", 1)
    clients = []
    for _ in range(n):
        c = socket.create_connection((host, int(port)), timeout=10)
        c.sendall(f"GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAccept: {ACCEPT}\r\n\r\n".encode())
        clients.append(c)
    time.sleep(hold)
    for c in clients:
        c.close()


def value(text, name):
    m = re.search(rf"^{name}\{{[^}}]*\}} (\S+)$", text, re.M)
    return float(m.group(1)) if m else float("nan")


def run(args, n):
    body = body_of(args.shape, n)
    upstream = start_upstream(body)
    url = f"http://127.0.0.1:{upstream.server_address[1]}/metrics"
    cmd = [args.relay, "--service", "bench", "--url", url, "--port", "0",
           "--timeout", str(args.timeout)] + args.relay_arg
    relay = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             env={**os.environ, "RUST_LOG": "error"}, text=True)
    try:
        line = relay.stdout.readline()
        addr = re.search(r"http://([^/]+)/", line).group(1)
        base = status_kib(relay.pid, "VmRSS")
        times, durations, ups, answer, errors = [], [], [], 0, []
        if args.silent:
            silent_clients(addr, args.silent, args.hold)
        for _ in range(args.rounds):
            results = [None] * args.concurrency

            def one(i):
                results[i] = scrape(addr, args.timeout + 60)

            threads = [threading.Thread(target=one, args=(i,)) for i in range(args.concurrency)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for took, text, err in results:
                times.append(took)
                if text is None:
                    errors.append(err)
                    continue
                answer = max(answer, len(text.encode()))
                durations.append(value(text, "relay_scrape_duration_seconds"))
                ups.append(value(text, "relay_upstream_up"))
        peak = status_kib(relay.pid, "VmHWM")
    finally:
        relay.kill()
        relay.wait()
        upstream.shutdown()
    times.sort()
    durations.sort()
    return {
        "series": n,
        "body": len(body.encode()),
        "answer": answer,
        "time": times[len(times) // 2],
        "duration": durations[len(durations) // 2] if durations else float("nan"),
        "up": min(ups) if ups else float("nan"),
        "base": base * 1024,
        "peak": peak * 1024,
        "errors": errors,
    }


def mb(n):
    return f"{n / 1e6:.1f}"


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--relay", default="target/release/examples/relay")
    p.add_argument("--shape", default="realistic",
                   choices=["realistic", "tiny", "labels", "families"])
    p.add_argument("--sizes", default="1000,10000,100000,1000000")
    p.add_argument("--rounds", type=int, default=3, help="scrapes (or batches) per size")
    p.add_argument("--concurrency", type=int, default=1, help="scrapes at once")
    p.add_argument("--timeout", type=float, default=30.0, help="the relay's --timeout")
    p.add_argument("--silent", type=int, default=0,
                   help="first open this many scrapes that never read their answer")
    p.add_argument("--hold", type=float, default=10.0,
                   help="how long the silent scrapes are held open, in seconds")
    p.add_argument("--relay-arg", action="append", default=[],
                   help="an extra argument for the relay (repeatable)")
    args = p.parse_args()
    silent = f", after {args.silent} silent scrapers held {args.hold:g} s" if args.silent else ""
    print(f"relay {args.relay}, shape {args.shape}, {args.rounds} rounds of "
          f"{args.concurrency} scrape(s){silent}\n")
    print("| series | upstream MB | answer MB | scrape s (median) | relay_scrape_duration_seconds "
          "| up | RSS before MB | peak RSS MB | (peak - before) / upstream |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in [int(s) for s in args.sizes.split(",")]:
        r = run(args, n)
        ratio = (r["peak"] - r["base"]) / r["body"]
        print(f"| {n:,} | {mb(r['body'])} | {mb(r['answer'])} | {r['time']:.3f} | "
              f"{r['duration']:.3f} | {r['up']:g} | {mb(r['base'])} | {mb(r['peak'])} | "
              f"{ratio:.1f} |", flush=True)
        for e in sorted(set(r["errors"])):
            print(f"  ({r['errors'].count(e)} scrape(s) failed: {e})", file=sys.stderr)


if __name__ == "__main__":
    main()
