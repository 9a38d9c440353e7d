"""``kazoe-sim``: the simulator's command line.

``record`` and ``broker`` are parsed here; every other command owns its whole argument
list (``--help`` included) and is imported only when used, so a command that needs OpenCV
or the models costs nothing to the others.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from simulator.brokers.dev import add_broker_arguments, run_broker
from simulator.scoring.record import add_record_arguments, run_record

# command -> (module, function, one-line help)
OWN_ARGS: dict[str, tuple[str, str, str]] = {
    "scene": (
        "simulator.scenes.scene",
        "scene_main",
        "write a synthetic street video and its ground truth",
    ),
    "truth": (
        "simulator.scenes.truth_cli",
        "truth_main",
        "a truth file for your own video, from a list of exit times",
    ),
    "score": (
        "simulator.scoring.cli",
        "score_main",
        "compare recorded counts with a scene's ground truth",
    ),
    "track-score": (
        "simulator.scoring.track_cli",
        "track_score_main",
        "MOTA, IDF1, ID switches of the tracker on a scene's per-frame truth boxes",
    ),
    "count-clips": (
        "simulator.scoring.track_cli",
        "count_clips_main",
        "people counted vs truth on recorded clips (clip.mp4 + people.csv folders)",
    ),
    "replay": (
        "simulator.replay",
        "replay_main",
        "run the node over a folder of video files, in order",
    ),
    "fleet": (
        "simulator.fleet.cli",
        "fleet_main",
        "run many virtual nodes publishing synthetic counts",
    ),
    "faults": (
        "simulator.faults.cli",
        "faults_main",
        "a TCP proxy that stalls, drops or cuts node connections",
    ),
    "soak": (
        "simulator.faults.soak",
        "soak_main",
        "a long run of a real node while the broker and the node are SIGKILLed",
    ),
    "accuracy": (
        "simulator.scoring.accuracy",
        "accuracy_main",
        "per-face age and gender accuracy on a labelled face folder (FairFace)",
    ),
    "fit-attributes": (
        "simulator.scoring.fit_attributes",
        "fit_attributes_main",
        "fit the gender fusion and age line on a labelled face folder, with held-out figures",
    ),
    "facecheck": (
        "simulator.scenes.facecheck",
        "facecheck_main",
        "how many pasted faces of a face folder the node's detector finds",
    ),
}


def _own(command: str, rest: list[str]) -> int:
    module_name, function, _ = OWN_ARGS[command]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        print(f"kazoe-sim {command}: not available: {exc}", file=sys.stderr)
        return 2
    main: Callable[[list[str]], int] = getattr(module, function)
    return main(rest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kazoe-sim",
        description="Kazoe simulator: scenes, replay, scoring, fleets, faults, a dev broker.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command, (_, _, text) in OWN_ARGS.items():
        sub.add_parser(command, help=f"{text} (see 'kazoe-sim {command} --help')", add_help=False)
    add_record_arguments(sub.add_parser("record", help="record published counts to JSON Lines"))
    add_broker_arguments(
        sub.add_parser("broker", help="run a development broker in the foreground")
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # Commands in OWN_ARGS take their whole argument list, --help included.
    known, rest = parser.parse_known_args(args_list)
    logging.basicConfig(
        level=logging.DEBUG if known.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kazoe.mqtt.paho").setLevel(logging.WARNING)
    if known.command in OWN_ARGS:
        return _own(known.command, args_list[args_list.index(known.command) + 1 :])
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if known.command == "record":
        return run_record(known)
    return run_broker(known)


if __name__ == "__main__":
    sys.exit(main())
