"""``kazoe-sim``: the simulator's command line (scene, record, broker)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from simulator.broker import add_broker_arguments, run_broker
from simulator.record import add_record_arguments, run_record


def _scene(rest: list[str]) -> int:
    # Imported lazily: scene generation pulls in numpy/OpenCV and is written separately.
    try:
        from simulator.scene import scene_main
    except ImportError as exc:
        print(f"kazoe-sim scene: not available: {exc}", file=sys.stderr)
        return 2
    result: int = scene_main(rest)
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kazoe-sim", description="Kazoe simulator: scenes, recordings, a dev broker."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "scene",
        help="generate or replay a synthetic scene (see 'kazoe-sim scene --help')",
        add_help=False,
    )
    add_record_arguments(sub.add_parser("record", help="record published counts to JSON Lines"))
    add_broker_arguments(
        sub.add_parser("broker", help="run a development broker in the foreground")
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # `scene` owns its whole argument list, --help included.
    known, rest = parser.parse_known_args(args_list)
    logging.basicConfig(
        level=logging.DEBUG if known.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if known.command == "scene":
        return _scene(args_list[args_list.index("scene") + 1 :])
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if known.command == "record":
        return run_record(known)
    return run_broker(known)


if __name__ == "__main__":
    sys.exit(main())
