"""The ``losslab`` command line.

Usage::

    losslab --help
    losslab surfaces      # list the surfaces with their parameters
    losslab optimizers    # list the optimizers with torch.optim's defaults
"""

from __future__ import annotations

import argparse
import sys

from . import __version__


def _list_surfaces(_: argparse.Namespace) -> int:
    import landscapes

    for name in landscapes.names():
        params = ", ".join(p.describe() for p in landscapes.parameters(name))
        print(f"{name:16s} {params}")
    return 0


def _list_optimizers(_: argparse.Namespace) -> int:
    import optimizers

    for name in optimizers.names():
        params = ", ".join(f"{k}={v!r}" for k, v in optimizers.defaults(name).items())
        print(f"{name:10s} {params}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="losslab",
        description="Loss Landscape Lab: optimizers racing across loss surfaces.",
        epilog="examples:\n  losslab surfaces\n  losslab optimizers",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"losslab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("surfaces", help="list the surfaces and their parameters").set_defaults(handler=_list_surfaces)
    commands.add_parser("optimizers", help="list the optimizers and their defaults").set_defaults(
        handler=_list_optimizers
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
