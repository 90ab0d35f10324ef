"""Latency the guard proxy adds, against a local mock upstream, in one run.

Targets, timed interleaved (request i goes to every target in turn, so machine noise
hits all of them alike), each a separate server process on 127.0.0.1:
  direct        the mock OpenAI-compatible upstream itself
  proxy bare    `alignlab monitor serve`, no policy (journal only)
  proxy fast    with the fast checks (keywords, regex, secrets, PII, invisible characters)
                on input and output
  proxy +clf    (--classifier) also the MiniLM embedding classifier on the input
  litellm       LiteLLM's proxy, when its `litellm` command is found (--litellm-bin)
Prints p50/p99 per target and the latency added over direct. Goals on 2 CPU cores:
added p50 <= 3 ms bare and <= 15 ms with the fast checks.

Then the kill switch: three proxy processes share one journal; the switch is thrown in
the journal and timed until every worker refuses (goal: within 1 s), then released.

    python benchmarks/monitor_latency.py [--requests 400] [--stream] [--classifier]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPLY = ("Paris is the capital of France. It lies on the Seine, has about two million "
         "inhabitants in the city proper, and is known for its museums, cafés and the Eiffel "
         "Tower. Contact the tourist office for opening hours.")

MOCK_UPSTREAM = '''
import json, sys, time
from starlette.applications import Starlette
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route
import uvicorn
REPLY = sys.argv[2]
def body(model):
    return {"id": "x", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": REPLY}}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 50, "total_tokens": 90}}
async def events(model):
    for i in range(0, len(REPLY), 12):
        chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": model,
                 "choices": [{"index": 0, "delta": {"content": REPLY[i:i + 12]},
                              "finish_reason": None}]}
        yield "data: " + json.dumps(chunk) + "\\n\\n"
    yield "data: [DONE]\\n\\n"
async def chat(request):
    req = await request.json()
    if req.get("stream"):
        return StreamingResponse(events(req["model"]), media_type="text/event-stream")
    return JSONResponse(body(req["model"]))
async def models(request):
    return JSONResponse({"object": "list", "data": [{"id": "mock", "object": "model"}]})
app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                        Route("/v1/models", models)])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
'''

FAST_POLICY = """
name: fast
checks:
  - {name: weapons, kind: keyword, words: [pipe bomb, nerve agent, ricin, thermite], action: block}
  - {name: injection, kind: regex, action: block, patterns:
      ["ignore (all )?(previous|prior) instructions", "reveal (your )?system prompt"]}
  - {name: secrets, kind: secrets, action: redact}
  - {name: pii, kind: pii, action: redact}
  - {name: invisible, kind: invisible, action: block}
"""
CLASSIFIER = """  - {name: harm, kind: classifier, label: harmful, threshold: 0.7, stages: input,
     timeout_ms: 500, action: block}
"""

MESSAGES = [{"role": "system", "content": "You are a concise travel assistant."},
            {"role": "user", "content": "What is the capital of France, and what is it known "
                                        "for? Please keep the answer short; my email is not "
                                        "needed."}]


# Sent with every request: LiteLLM refuses to start without a master key; the alignlab
# proxies run with --no-auth and ignore it.
BENCH_KEY = "sk-bench-" + os.urandom(16).hex()
HEADERS = {"Authorization": f"Bearer {BENCH_KEY}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], name: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
        try:
            r = httpx.post(f"{url}/chat/completions", timeout=5, headers=HEADERS,
                           json={"model": "mock", "messages": MESSAGES})
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not answer within {timeout:.0f} s")


def start(cmd: list[str], env: dict[str, str] | None = None, log: Path | None = None,
          ) -> subprocess.Popen[bytes]:
    err = log.open("wb") if log else subprocess.DEVNULL
    return subprocess.Popen(cmd, stdout=err, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})})


def alignlab_proxy(upstream: str, policy: str | None, tmp: Path, name: str,
                   ) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    cmd = [sys.executable, "-m", "alignlab.cli", "monitor", "serve", "--upstream", upstream,
           "--db", str(tmp / f"{name}.db"), "--port", str(port), "--no-auth"]
    if policy:
        cmd += ["--policy", policy]
    return f"http://127.0.0.1:{port}/v1", start(cmd, {"HF_HUB_OFFLINE": "1"})


def litellm_proxy(binary: str, upstream_url: str, tmp: Path,
                  ) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    config = tmp / "litellm.yaml"
    config.write_text(json.dumps({"model_list": [{"model_name": "mock", "litellm_params": {
        "model": "openai/mock", "api_base": upstream_url, "api_key": "unused"}}]}))
    # A local cost map and no telemetry: LiteLLM must not reach beyond loopback.
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False",
           "DISABLE_SCHEMA_UPDATE": "True", "LITELLM_MASTER_KEY": BENCH_KEY}
    cmd = [binary, "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
           "--telemetry", "False", "--num_workers", "1"]
    return f"http://127.0.0.1:{port}", start(cmd, env, tmp / "litellm.log")


def until_all(client: httpx.Client, urls: list[str], status: int, timeout: float = 30) -> None:
    """Return once every url has answered a chat request with `status`."""
    left, deadline = set(urls), time.monotonic() + timeout
    body = {"model": "mock", "messages": MESSAGES}
    while left:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(left)} workers never answered {status}")
        for url in list(left):
            if client.post(f"{url}/chat/completions", json=body).status_code == status:
                left.discard(url)


def kill_switch_seconds(upstream: str, tmp: Path, rounds: int,
                        procs: list[subprocess.Popen[bytes]], workers: int = 3) -> list[float]:
    """Seconds from throwing the switch in the shared journal to every worker refusing
    (the workers join `procs`, so the caller stops them)."""
    from alignlab.monitor.journal import Journal

    started = [alignlab_proxy(upstream, None, tmp, "kill") for _ in range(workers)]
    procs += [p for _, p in started]
    urls = [u for u, _ in started]
    for url, proc in started:
        wait_ready(url, proc, "kill-switch worker")
    journal, seconds = Journal(str(tmp / "kill.db")), []
    with httpx.Client(timeout=30, headers=HEADERS) as client:
        for _ in range(rounds):
            journal.set_kill("global", True, "benchmark")
            t0 = time.perf_counter()
            until_all(client, urls, 503)
            seconds.append(time.perf_counter() - t0)
            journal.set_kill("global", False)
            until_all(client, urls, 200)
    return seconds


def timed(client: httpx.Client, url: str, stream: bool) -> float:
    body = {"model": "mock", "messages": MESSAGES, "stream": stream}
    t0 = time.perf_counter()
    if stream:
        with client.stream("POST", f"{url}/chat/completions", json=body) as r:
            text = "".join(r.iter_text())
            assert r.status_code == 200 and "[DONE]" in text, text[-200:]
    else:
        r = client.post(f"{url}/chat/completions", json=body)
        assert r.status_code == 200, r.text[:300]
    return (time.perf_counter() - t0) * 1000


def cpu_ms(pid: int) -> float:
    """CPU time (user + system) a process has used so far, in ms (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="timed requests per target")
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--stream", action="store_true", help="streamed requests")
    parser.add_argument("--classifier", action="store_true", help="add proxy +clf")
    parser.add_argument("--kill-rounds", type=int, default=5,
                        help="times the kill switch is thrown across 3 workers (0: skip)")
    parser.add_argument("--litellm-bin", default=shutil.which("litellm"),
                        help="LiteLLM's `litellm` command (default: from PATH)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="alignlab-bench-"))
    procs = []
    try:
        up_port = free_port()
        (tmp / "upstream.py").write_text(MOCK_UPSTREAM)
        procs.append(start([sys.executable, str(tmp / "upstream.py"), str(up_port), REPLY]))
        direct = f"http://127.0.0.1:{up_port}/v1"
        upstream = f"openai:{direct}#mock"
        (tmp / "fast.yaml").write_text(FAST_POLICY)
        (tmp / "clf.yaml").write_text(FAST_POLICY + CLASSIFIER)
        targets = {"direct": direct}
        for name, policy in [("proxy bare", None), ("proxy fast", str(tmp / "fast.yaml"))] + (
                [("proxy +clf", str(tmp / "clf.yaml"))] if args.classifier else []):
            url, proc = alignlab_proxy(upstream, policy, tmp, name.replace(" ", "_"))
            targets[name] = url
            procs.append(proc)
        if args.litellm_bin:
            url, proc = litellm_proxy(args.litellm_bin, direct, tmp)
            targets["litellm"] = url
            procs.append(proc)
        for (name, url), proc in zip(list(targets.items()), procs, strict=True):
            try:
                wait_ready(url, proc, name)
            except RuntimeError as err:
                if name != "litellm":
                    raise
                log = (tmp / "litellm.log").read_text(errors="replace")[-1500:]
                print(f"litellm: not timed, it did not start ({err}):\n{log}")
                del targets["litellm"]

        lat: dict[str, list[float]] = {name: [] for name in targets}
        pids = dict(zip(targets, (p.pid for p in procs), strict=False))
        cpu: dict[str, float] = {}
        with httpx.Client(timeout=60, headers=HEADERS) as client:
            for i in range(args.warmup + args.requests):
                if i == args.warmup:
                    cpu = {name: cpu_ms(pid) for name, pid in pids.items()}
                for name, url in targets.items():
                    ms = timed(client, url, args.stream)
                    if i >= args.warmup:
                        lat[name].append(ms)
        cpu = {name: (cpu_ms(pid) - cpu[name]) / args.requests for name, pid in pids.items()}
        report(lat, cpu, args)
        if args.kill_rounds:
            seconds = kill_switch_seconds(upstream, tmp, args.kill_rounds, procs)
            worst = max(seconds)
            print(f"kill switch, 3 workers sharing one journal: took effect on all in median "
                  f"{statistics.median(seconds) * 1000:.0f} ms, worst {worst * 1000:.0f} ms over "
                  f"{len(seconds)} rounds; goal <= 1000 ms: {'met' if worst <= 1 else 'NOT met'}")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def report(lat: dict[str, list[float]], cpu: dict[str, float], args: argparse.Namespace,
           ) -> None:
    base50, base99 = pct(lat["direct"], 0.5), pct(lat["direct"], 0.99)
    mode = "streamed" if args.stream else "non-streamed"
    print(f"\n{args.requests} {mode} requests per target, interleaved, 127.0.0.1, "
          f"{os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f})")
    # CPU ms/request is the server process's own CPU time per request: on a busy machine
    # the wall-clock figures include waiting for a core, the CPU figure does not.
    print(f"{'target':<12} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} "
          f"{'added p50':>10} {'added p99':>10} {'CPU ms/req':>11}")
    for name, xs in lat.items():
        p50, p99 = pct(xs, 0.5), pct(xs, 0.99)
        print(f"{name:<12} {p50:8.2f} {p99:8.2f} {statistics.mean(xs):8.2f} "
              f"{p50 - base50:10.2f} {p99 - base99:10.2f} {cpu.get(name, float('nan')):11.2f}")
    if "litellm" not in lat:
        print("litellm: not timed (no `litellm` command; pip install 'litellm[proxy]')")
    goals = {"proxy bare": 3.0, "proxy fast": 15.0}
    for name, goal in goals.items():
        added = pct(lat[name], 0.5) - base50
        print(f"goal {name}: added p50 {added:.2f} ms <= {goal:.0f} ms: "
              f"{'met' if added <= goal else 'NOT met'}")


if __name__ == "__main__":
    main()
