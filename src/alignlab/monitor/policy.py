"""Policies in YAML: which checks run on the input and the output, and what each does.

    window_chars: 48          # streaming: check the output every this many characters
    holdback_chars: 64        # streaming: never release the last N checked characters
    checks:
      - name: weapons         # unique; shows up in verdicts, journal and dashboard
        kind: keyword         # one of checks.CHECK_KINDS
        words: [pipe bomb, nerve agent]
        stages: [input, output]  # default: both
        action: block         # allow | flag | redact | block
      - name: harm
        kind: classifier
        label: harmful
        threshold: 0.6        # score >= threshold fires the action
        near: 0.15            # |score - threshold| < near puts the exchange in the audit sample
        timeout_ms: 150
        on_error: open        # open: a timeout or crash allows; closed: it blocks
        action: block
      - name: judge
        kind: judge
        target: mock:judge.yaml  # a model asked for 'safe' / 'unsafe'
        mode: shadow          # after the response; logged; may trip the kill switch
        trip_kill_switch: true
      - name: harm
        kind: harm_judge      # the red-team harm judge on (request, response)
        stages: output

`holdback_chars` is what makes streaming safe: a blocked phrase shorter than it can never
be half-released, because the last `holdback_chars` characters wait for the next check.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alignlab.monitor.checks import CHECK_KINDS, FAST_KINDS, JUDGE_KINDS, CheckFn, Finding

ACTIONS = ("allow", "flag", "redact", "block")
RANK = {a: i for i, a in enumerate(ACTIONS)}
STAGES = ("input", "output")
BUILT_IN = Path(__file__).parent / "policies"


@dataclass(frozen=True)
class Check:
    name: str
    kind: str
    fn: CheckFn
    stages: tuple[str, ...] = STAGES
    action: str = "block"
    threshold: float = 0.5
    near: float = 0.0
    timeout_s: float = 0.2
    fail_closed: bool = False
    shadow: bool = False
    trip_kill_switch: bool = False

    @property
    def inline(self) -> bool:
        return self.kind in FAST_KINDS


@dataclass(frozen=True)
class Verdict:
    check: str
    stage: str
    action: str
    """What this check decided: allow, flag, redact or block."""
    score: float = 0.0
    detail: str = ""
    error: str = ""
    """'timeout' or an exception message when the check failed (then on_error decided)."""
    near: bool = False
    """Score within `near` of the threshold: a candidate for human audit."""
    ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = {"check": self.check, "stage": self.stage, "action": self.action,
             "score": round(self.score, 4)}
        d.update({k: v for k, v in (("detail", self.detail), ("error", self.error),
                                    ("near", self.near)) if v})
        return d


@dataclass
class StageResult:
    text: str
    """The text after redaction (unchanged when nothing was redacted)."""
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def action(self) -> str:
        return max((v.action for v in self.verdicts), key=RANK.__getitem__, default="allow")

    @property
    def blocked_by(self) -> list[str]:
        return [v.check for v in self.verdicts if v.action == "block"]


@dataclass(frozen=True)
class Policy:
    checks: tuple[Check, ...] = ()
    window_chars: int = 48
    holdback_chars: int = 64
    name: str = "policy"

    def enforced(self, stage: str) -> list[Check]:
        return [c for c in self.checks if stage in c.stages and not c.shadow]

    def shadow(self, stage: str) -> list[Check]:
        return [c for c in self.checks if stage in c.stages and c.shadow]


def _check_from_entry(entry: Any, where: str, factories: dict[str, Callable[..., CheckFn]],
                      ) -> Check:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: each check must be a mapping")
    name, kind = entry.get("name"), entry.get("kind")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: a check needs a 'name'")
    if kind not in factories:
        raise ValueError(f"{where}: unknown kind {kind!r}; known: {sorted(factories)}")
    action = entry.get("action", "block")
    if action not in ACTIONS:
        raise ValueError(f"{where}: action must be one of {ACTIONS}, got {action!r}")
    if True in entry:  # YAML 1.1 reads a bare `on:` key as the boolean true
        raise ValueError(f"{where}: write 'stages:' (YAML reads a bare 'on:' as true)")
    stages = entry.get("stages", list(STAGES))
    stages = [stages] if isinstance(stages, str) else stages
    if not isinstance(stages, list) or not stages or any(s not in STAGES for s in stages):
        raise ValueError(f"{where}: 'stages' must list stages from {STAGES}, got {stages!r}")
    on_error = entry.get("on_error", "open")
    if on_error not in ("open", "closed"):
        raise ValueError(f"{where}: on_error must be 'open' or 'closed', got {on_error!r}")
    mode = entry.get("mode", "shadow" if kind in JUDGE_KINDS else "enforce")
    if kind in JUDGE_KINDS and mode != "shadow":
        raise ValueError(f"{where}: {kind} checks run in shadow mode only")
    return Check(name=name, kind=kind, fn=factories[kind](entry, where), stages=tuple(stages),
                 action=action, threshold=float(entry.get("threshold", 0.5)),
                 near=float(entry.get("near", 0.0)),
                 timeout_s=float(entry.get("timeout_ms", 30_000 if kind in JUDGE_KINDS else 200))
                 / 1000,
                 fail_closed=on_error == "closed", shadow=mode == "shadow",
                 trip_kill_switch=bool(entry.get("trip_kill_switch", False)))


def policy_from_dict(data: Any, where: str = "policy",
                     factories: dict[str, Callable[..., CheckFn]] | None = None) -> Policy:
    """Build a policy from parsed YAML; errors name `where` and the check."""
    factories = factories or dict(CHECK_KINDS)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{where}: a policy is a mapping with a 'checks' list")
    entries = data.get("checks") or []
    if not isinstance(entries, list):
        raise ValueError(f"{where}: 'checks' must be a list")
    checks = tuple(_check_from_entry(e, f"{where}: check {i + 1}", factories)
                   for i, e in enumerate(entries))
    names = [c.name for c in checks]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: check names must be unique, got {names}")
    policy = Policy(checks, int(data.get("window_chars", 48)),
                    int(data.get("holdback_chars", 64)), str(data.get("name", where)))
    if policy.window_chars < 1 or policy.holdback_chars < 0:
        raise ValueError(f"{where}: window_chars must be >= 1 and holdback_chars >= 0")
    return policy


def load_policy(path: str | Path | None) -> Policy:
    """Read a YAML policy file or a built-in one by name (`default`, `strict`); None gives
    the empty policy (a bare proxy that only journals)."""
    if path is None:
        return Policy(name="none")
    path = Path(path)
    if not path.exists() and (BUILT_IN / f"{path}.yaml").exists():
        path = BUILT_IN / f"{path}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"policy file not found: {path} (built-in policies: "
                                f"{', '.join(sorted(p.stem for p in BUILT_IN.glob('*.yaml')))})")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {err}") from None
    return policy_from_dict(data, str(path))


def decide(check: Check, stage: str, finding: Finding, ms: float) -> Verdict:
    fired = finding.score >= check.threshold
    near = check.near > 0 and abs(finding.score - check.threshold) < check.near
    return Verdict(check.name, stage, check.action if fired else "allow", finding.score,
                   finding.detail if fired or near else "", near=near, ms=ms)


def failed(check: Check, stage: str, error: str, ms: float) -> Verdict:
    return Verdict(check.name, stage, "block" if check.fail_closed else "allow", 0.0,
                   error=error, ms=ms)


async def run_check(check: Check, stage: str, text: str, context: str = "",
                    ) -> tuple[Verdict, Finding]:
    """One check with its timeout; a timeout or exception fails open or closed as configured.
    Judges also get `context`: the request, when `text` is the response."""
    start = time.perf_counter()
    args = (text, context) if check.kind in JUDGE_KINDS else (text,)
    try:
        if check.inline:
            finding = check.fn(text)
        else:
            finding = await asyncio.wait_for(asyncio.to_thread(check.fn, *args), check.timeout_s)
    except TimeoutError:
        return failed(check, stage, "timeout", _ms(start)), Finding(0.0)
    except Exception as err:  # a broken check must not take the proxy down
        return failed(check, stage, f"{type(err).__name__}: {err}", _ms(start)), Finding(0.0)
    return decide(check, stage, finding, _ms(start)), finding


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def redact(text: str, spans: list[tuple[int, int, str]]) -> str:
    """Replace each span with [REDACTED:LABEL] (an empty label deletes the span)."""
    out, pos = [], 0
    for start, end, label in sorted(spans):
        if start < pos:  # overlapping: the earlier span already covers this start
            start = pos
            if start >= end:
                continue
        out.append(text[pos:start])
        out.append(f"[REDACTED:{label}]" if label else "")
        pos = end
    out.append(text[pos:])
    return "".join(out)


async def run_stage(policy: Policy, stage: str, text: str) -> StageResult:
    """All enforced checks of one stage; redactions are applied to the returned text."""
    checks = policy.enforced(stage)
    if not checks:
        return StageResult(text)
    inline = [await run_check(c, stage, text) for c in checks if c.inline]
    threaded = [run_check(c, stage, text) for c in checks if not c.inline]
    results = inline + list(await asyncio.gather(*threaded))
    spans = [(s, e, label) for v, f in results if v.action == "redact"
             for (s, e), label in zip(f.spans, f.labels or ("",) * len(f.spans), strict=True)]
    return StageResult(redact(text, spans) if spans else text, [v for v, _ in results])
