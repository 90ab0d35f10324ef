"""`alignlab models list|info`, `alignlab generate`, `alignlab chat`."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from alignlab.commands import add_command
from alignlab.models import FORMS, SamplingParams, load_target

DEFAULT_TARGET = "embedded"


def add_target_arg(parser: argparse.ArgumentParser, default: str = DEFAULT_TARGET) -> None:
    parser.add_argument("--target", default=default,
                        help=f"target spec: {', '.join(FORMS)} (default: {default})")


def register(sub: argparse._SubParsersAction) -> None:
    models = add_command(sub, "models")
    msub = models.add_subparsers(dest="action", required=True)
    msub.add_parser("list", help="the valid target spec forms").set_defaults(func=cmd_list)
    info = msub.add_parser("info", help="load a target and print what it is")
    add_target_arg(info)
    info.set_defaults(func=cmd_info)

    gen = add_command(sub, "generate")
    add_target_arg(gen)
    gen.add_argument("--prompt", required=True, help="the user message")
    gen.add_argument("--n", type=int, default=1, help="completions to sample")
    gen.add_argument("--max-new-tokens", type=int, default=128)
    gen.add_argument("--temperature", type=float, default=None,
                     help="0 = greedy (default: 0 for n=1, 0.8 otherwise)")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--json", action="store_true", help="print completions as JSON lines")
    gen.set_defaults(func=cmd_generate)

    chat = add_command(sub, "chat")
    add_target_arg(chat)
    chat.add_argument("--max-new-tokens", type=int, default=256)
    chat.set_defaults(func=cmd_chat)


def cmd_list(args: argparse.Namespace) -> int:
    table = Table("target spec", "what it is", title="alignlab targets")
    for form, what in FORMS.items():
        table.add_row(form, what)
    Console().print(table)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    lm = load_target(args.target)
    info = {"name": lm.name, "backend": type(lm).__name__}
    if hasattr(lm, "n_params"):
        info["parameters"] = lm.n_params
        info["chat_template"] = lm.chat
        info["vocab_size"] = len(lm.tokenizer)
    print(json.dumps(info, indent=2))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    lm = load_target(args.target)
    temperature = args.temperature if args.temperature is not None else (
        0.0 if args.n == 1 else 0.8)
    params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=temperature,
                            n=args.n, seed=args.seed)
    for c in lm.generate([args.prompt], params):
        if args.json:
            print(json.dumps({"text": c.text, "finish_reason": c.finish_reason,
                              "tokens": len(c.token_ids)}))
        else:
            print(c.text)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    lm = load_target(args.target)
    history: list[dict[str, str]] = []
    console = Console()
    console.print(f"[bold]{lm.name}[/bold] — empty line or Ctrl-D to quit")
    while True:
        try:
            user = console.input("[bold green]you> [/bold green]")
        except EOFError:
            break
        if not user.strip():
            break
        history.append({"role": "user", "content": user})
        reply = lm.generate([history], SamplingParams(max_new_tokens=args.max_new_tokens))[0]
        history.append({"role": "assistant", "content": reply.text})
        console.print(f"[bold blue]model>[/bold blue] {reply.text}")
    return 0
