"""`alignlab monitor serve|keys|kill|review|stats|check`: the guard proxy and its controls."""

from __future__ import annotations

import argparse
import asyncio
import json

from rich.console import Console
from rich.table import Table

from alignlab.commands import add_command
from alignlab.config import add_config_args, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    from alignlab.monitor.server import ServeConfig

    mon = add_command(sub, "monitor")
    msub = mon.add_subparsers(dest="action", required=True)
    serve = msub.add_parser("serve", help="run the OpenAI-compatible guard proxy")
    add_config_args(serve, ServeConfig)
    serve.set_defaults(func=cmd_serve)

    keys = msub.add_parser("keys", help="create, list or remove API keys (stored hashed)")
    keys.add_argument("what", choices=["add", "list", "remove"])
    keys.add_argument("name", nargs="?", help="key name (add, remove)")
    keys.add_argument("--rpm", type=int, default=60, help="requests per minute (default 60)")
    keys.add_argument("--tpm", type=int, default=100_000, help="tokens per minute")
    keys.set_defaults(func=cmd_keys)

    kill = msub.add_parser("kill", help="switch the proxy off (or back on with --off)")
    kill.add_argument("--key", help="only this key's requests (default: everything)")
    kill.add_argument("--off", action="store_true", help="switch back on")
    kill.add_argument("--reason", default="", help="shown to clients and on the dashboard")
    kill.set_defaults(func=cmd_kill)

    review = msub.add_parser("review", help="go through the audit queue in the terminal")
    review.add_argument("--limit", type=int, default=20, help="items to show at most")
    review.set_defaults(func=cmd_review)

    stats = msub.add_parser("stats", help="counts, kill switch and drift alerts")
    stats.set_defaults(func=cmd_stats)

    check = msub.add_parser("check", help="run a policy's checks on a text")
    check.add_argument("--policy", required=True, help="YAML policy file")
    check.add_argument("--stage", choices=["input", "output"], default="input")
    check.add_argument("text", help="the text to check")
    check.set_defaults(func=cmd_check)
    for p in (keys, kill, review, stats):
        p.add_argument("--db", default="monitor.db",
                       help="journal: SQLite path or postgresql:// URL")


def cmd_serve(args: argparse.Namespace) -> int:
    from alignlab.monitor.server import ServeConfig, serve

    cfg = config_from_args(ServeConfig, args)
    if cfg.auth:
        from alignlab.monitor.journal import Journal

        if not Journal(cfg.db).keys():
            print(f"note: no API keys in {cfg.db}; create one with "
                  f"`alignlab monitor keys add NAME --db {cfg.db}` (or serve with --no-auth)")
    print(f"guard proxy on http://{cfg.host}:{cfg.port}/v1 -> {cfg.upstream}; "
          f"dashboard at http://{cfg.host}:{cfg.port}/dashboard")
    serve(cfg)
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from alignlab.monitor.journal import Journal

    journal = Journal(args.db)
    if args.what != "list" and not args.name:
        raise ValueError(f"`keys {args.what}` needs a key name")
    if args.what == "add":
        key = journal.add_key(args.name, args.rpm, args.tpm)
        print(f"API key for {args.name} (shown once, only its hash is stored):\n{key}")
    elif args.what == "remove":
        if not journal.remove_key(args.name):
            raise ValueError(f"no API key named {args.name!r}")
        print(f"removed {args.name}")
    else:
        table = Table("name", "requests/min", "tokens/min")
        for entry in sorted(journal.keys().values(), key=lambda e: e["name"]):
            table.add_row(entry["name"], str(entry["rpm"]), str(entry["tpm"]))
        Console().print(table)
    return 0


def cmd_kill(args: argparse.Namespace) -> int:
    from alignlab.monitor.journal import Journal

    scope = f"key:{args.key}" if args.key else "global"
    Journal(args.db).set_kill(scope, not args.off, args.reason)
    print(f"{scope}: {'serving again' if args.off else 'switched off'} "
          "(every worker follows within a second)")
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from alignlab.monitor.journal import Journal

    journal, console = Journal(args.db), Console()
    items = journal.review_queue("pending", args.limit)
    if not items:
        console.print("the review queue is empty")
        return 0
    choices = {"u": "upheld", "o": "overturned"}
    for i, item in enumerate(items, 1):
        fired = [f"{v['check']}={v['action']}" for v in item["verdicts"] or []
                 if v["action"] != "allow" or v.get("near")]
        console.rule(f"{i}/{len(items)} {item['request_id']} · {item['reason']} · "
                     f"{item['action']}", style="dim")
        for msg in item["request"] or []:
            console.print(f"{msg['role']}> {msg['content']}", markup=False, style="bold")
        console.print(f"assistant> {item['response'] or '(nothing released)'}", markup=False)
        console.print(f"checks: {', '.join(fired) or 'none fired'}", markup=False)
        try:
            answer = console.input("(u)phold, (o)verturn, (s)kip, (q)uit? ").strip().lower()
        except EOFError:
            break
        if answer.startswith("q"):
            break
        if answer[:1] in choices:
            note = console.input("note (optional): ").strip()
            journal.review(item["request_id"], choices[answer[:1]], note)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from alignlab.monitor.audit import AuditConfig, drift_alerts
    from alignlab.monitor.journal import Journal

    journal, cfg = Journal(args.db), AuditConfig()
    out = {"counts": journal.counts(), "killed": journal.kill_state(),
           "pending_reviews": len(journal.review_queue("pending", 10_000)),
           "drift": drift_alerts(journal.verdict_history(cfg.baseline + cfg.window), cfg)}
    print(json.dumps(out, indent=2))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from alignlab.monitor.policy import load_policy, run_stage

    result = asyncio.run(run_stage(load_policy(args.policy), args.stage, args.text))
    print(json.dumps({"action": result.action, "text": result.text,
                      "verdicts": [v.to_dict() for v in result.verdicts]}, indent=2))
    return 0
