"""The ``assemblyd`` command."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from .errors import AssemblyError, Canceled, ValidationFailed, describe
from .settings import Settings, load_settings

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_CANCELED = 0, 1, 2, 130


def _settings(args: argparse.Namespace) -> Settings:
    if args.config:
        os.environ["ASSEMBLYD_CONFIG"] = str(args.config)
        if not Path(args.config).is_file():
            raise SystemExit(f"assemblyd: config file not found: {args.config}")
    overrides: dict[str, Any] = {
        "log_level": args.log_level,
        "ffmpeg_threads": getattr(args, "threads", None),
        "decode_check": getattr(args, "decode_check", None),
    }
    settings = load_settings(**overrides)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return settings


def _stop_on_sigterm() -> None:
    """SIGTERM cancels an in-process render the same way Ctrl-C does."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def cmd_validate(args: argparse.Namespace) -> int:
    from .pipeline import check
    from .plan import make_plan

    settings = _settings(args)
    validated = check(args.request, settings)
    plan = make_plan(validated, settings)
    out = validated.request.output
    print(
        f"{args.request}: OK, {len(plan.segments)} shot(s), {plan.duration:.2f} s "
        f"({plan.total_frames} frames) -> {out.output_format} {out.resolution} "
        f"@ {out.fps} fps, {out.quality_preset}"
    )
    return EXIT_OK


def cmd_render(args: argparse.Namespace) -> int:
    from .pipeline import assemble
    from .progress import Progress, TerminalBar

    settings = _settings(args)
    _stop_on_sigterm()
    bar = None if args.quiet else TerminalBar(file=sys.stderr)
    progress = Progress(*([bar] if bar else []))
    try:
        result = assemble(args.request, settings, progress)
    finally:
        if bar:
            bar.close()
    print(result.export)
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from .request import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if args.write:
        Path(args.write).write_text(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from .samples import write_demo_project

    settings = _settings(args)
    print(f"Generating a sample project in {args.dir} ...", file=sys.stderr)
    request = write_demo_project(Path(args.dir), shots=args.shots)
    if args.no_render:
        print(request)
        return EXIT_OK
    from .pipeline import assemble
    from .progress import Progress, TerminalBar

    _stop_on_sigterm()
    bar = TerminalBar(file=sys.stderr)
    try:
        result = assemble(request, settings, Progress(bar))
    finally:
        bar.close()
    print(result.export)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assemblyd",
        description="Assemble shot lists (assembly.json) into verified video exports.",
    )
    parser.add_argument("--config", type=Path, help="TOML settings file (default: see README)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = add("validate", cmd_validate, "Check a request and every shot without rendering.")
    p.add_argument("request", type=Path)
    p.add_argument("--decode-check", choices=["keyframes", "full"])

    p = add("render", cmd_render, "Validate, render and publish a request in this process.")
    p.add_argument("request", type=Path)
    p.add_argument("--threads", type=int, help="ffmpeg encoder threads (0 = all cores)")
    p.add_argument("--decode-check", choices=["keyframes", "full"])
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    p = add("schema", cmd_schema, "Print the JSON Schema of assembly.json.")
    p.add_argument("--write", type=Path, help="write it to this file instead")

    p = add("demo", cmd_demo, "Generate a sample project with 10 shots and render it.")
    p.add_argument("dir", nargs="?", default="assemblyd-demo", type=Path)
    p.add_argument("--shots", type=int, default=10)
    p.add_argument("--no-render", action="store_true", help="only write the project")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ValidationFailed as exc:
        print(describe(exc), file=sys.stderr)
        return EXIT_INVALID
    except (Canceled, KeyboardInterrupt):
        print("assemblyd: canceled; nothing was published", file=sys.stderr)
        return EXIT_CANCELED
    except AssemblyError as exc:
        print(f"assemblyd: {describe(exc)}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
