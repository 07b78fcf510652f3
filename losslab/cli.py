"""The ``losslab`` command line (also ``python -m losslab``).

Usage::

    losslab --help
    losslab surfaces      # the surfaces with their parameters, defaults and ranges
    losslab optimizers    # the optimizers with torch.optim's defaults
    losslab lessons       # the lecture presets
    losslab inspect --optimizer adam --step 12   # curvature and what the optimizer sees at one step
    losslab race --surface rosenbrock --optimizers sgd,momentum,rmsprop,adam --lr 1e-3 --lr adam=0.05 \\
        --momentum 0.9 --steps 300 --start=-1.5,2 --out race.gif --out race.png
    losslab race --config saved.json --out race.png
    losslab gallery --surface rastrigin --out gallery.png   # every optimizer at its best ρ
    losslab slice --model pkg.mod:make_model --weights w.pt --data pkg.mod:make_data --out slice.zarr \
        --out slice.png   # your own model's loss on a plane (resumable)

Bad arguments and values (checked by the library's own validation) end with argparse's usage line, one
error line and exit code 2; a file that cannot be written, exit code 1 and no partial file.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from functools import partial
from typing import Any

from . import __version__, overrides

RACE_EXAMPLES = """examples:
  losslab race --surface rosenbrock --optimizers sgd,momentum,rmsprop,adam --lr 1e-3 --lr adam=0.05 \\
      --momentum 0.9 --steps 300 --start=-1.5,2 --out race.gif
  losslab race --out race.png --out race.pdf --out race.csv --out race.json      # the default race
  losslab race --config race.json --out race.mp4 --fps 24 --frames 120           # re-run a saved race
  losslab race --lesson ravine --out ravine.gif                                  # a lecture preset
  losslab race --surface quadratic --param condition=200 --param angle=0 --optimizers momentum,nesterov \\
      --set nesterov.momentum=0.95 --out ravine.png --preset paper --scale 3
  losslab race --optimizers sgd --lr 0.05 --schedule StepLR --schedule-param step_size=100 \\
      --schedule-param gamma=0.5 --noise 0.5 --seed 7 --out noisy.html

The format comes from each --out suffix: .png .svg .pdf .html .gif .mp4 .csv .json.
A plain --lr/--momentum applies to every selected optimizer that uses it (--momentum: momentum and
nesterov, whose defaults are α = 0.9); NAME=VALUE sets one optimizer. --set NAME.KEY=VALUE sets any
keyword (betas as --set adam.betas=0.9,0.99, flags as --set adam.amsgrad=true).
With --config (or --lesson), the saved race is the base and the other options change it."""

GALLERY_EXAMPLES = """examples:
  losslab gallery --surface rastrigin --out gallery.png
  losslab gallery --surface rosenbrock --optimizers sgd,momentum,adam,lion --steps 500 --out gallery.svg
  losslab gallery --surface quadratic --param condition=200 --points 32 --out gallery.html --out gallery.csv

Each optimizer's best ρ is tuned in one batched sweep of --points learning rates, log-spaced over the ρ sliders'
range: the lowest final loss among the runs that did not diverge, ties broken by fewer steps to tolerance; its
other hyper-parameters are the race's defaults. The format comes from each --out suffix: .png .svg .pdf .html
(the figure) or .csv (the table). An optimizer that fails is skipped with a message."""


SLICE_EXAMPLES = """examples:
  losslab slice --model pkg.mod:make_model --weights w.pt --data pkg.mod:make_data --grid 51 --range 1 \\
      --out slice.zarr --out slice.png --out slice.html
  losslab slice --model models.py:make_cnn --data models.py:digits --loss torch.nn.functional:cross_entropy \\
      --out cnn.zarr --race sgd,adam --steps 100 --out cnn.html
  losslab slice --model pkg.mod:make_model --data pkg.mod:make_data --grid 201 --workers 8 --out big.zarr
  losslab slice --model pkg.mod:make_model --data pkg.mod:make_data --address ray://head:10001 --out big.zarr

--model names a function that returns the nn.Module (MODULE:FUNCTION, the module dotted from the current folder
or a .py file); --weights a state_dict (torch.load(weights_only=True)); --data a function that returns a
DataLoader (not shuffled) or (inputs, targets). The loss defaults to cross-entropy for integer targets, mean
squared error otherwise. The slice is the loss at θ* + a·d₁ + b·d₂, a, b ∈ [−range, range], d₁, d₂
filter-normalized random directions drawn by --seed. The .zarr store (one --out) holds `loss` (grid × grid: rows
b, columns a), the axes a and b, the directions and the configuration; it is written tile by tile: after Ctrl-C,
a crash or kill -9 the same command computes only the missing tiles (bit for bit the same result). Other --out
suffixes: .png .svg .pdf (the contour) and .html (contour and 3-D surface); --race draws optimizers on them.
--workers N computes the tiles as Ray tasks on a local cluster of N processes, --address on a running cluster
(pip install 'losslab[distributed]'); this process still writes each tile as it arrives, so resuming is the same.
Bad input ends with one error line and exit status 2."""


def _list_surfaces(_: argparse.Namespace) -> int:
    import landscapes

    for name in landscapes.names():
        params = ", ".join(p.describe() for p in landscapes.parameters(name))
        print(f"{name:16s} {params or '(no parameters)'}")
    return 0


def _list_lessons(_: argparse.Namespace) -> int:
    import textwrap

    from . import lessons

    for name in lessons.names():
        lesson = lessons.get(name)
        print(f"{name:16s} {lesson.title}")
        print(textwrap.indent(textwrap.fill(lesson.caption, 100), " " * 17))
    return 0


def _list_optimizers(_: argparse.Namespace) -> int:
    import optimizers
    from optimizers import catalogue

    from .race import optimizer_defaults

    for group, names in catalogue.GROUPS.items():
        print(f"{group}:")
        for name in names:
            rule = optimizers.RULES[name]
            reference = f"{rule.reference}.{rule.torch_name}" if rule.torch_name else "ours (not in torch.optim)"
            params = ", ".join(f"{k}={v!r}" for k, v in rule.defaults.items())
            if rule.wraps:
                params += ", and the base optimizer's keywords"
            print(f"  {name:10s} {reference}: {params}  (race default lr={optimizer_defaults(name)['lr']!r})")
    print("\nSAM and Lookahead wrap any optimizer above but the wrappers and lbfgs (--set sam.base_optimizer=adam).")
    print("Not here: torch.optim's Muon (2-D matrices only) and SparseAdam (sparse gradients) do not apply to a "
          "length-2 vector parameter.")
    return 0


def _one_line(message: str) -> str:
    """A usage error's message as one line: a line break or other control character that an argument brought in
    (``losslab race --schedule $'a\\nb'``) is written as its escape."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in message)


# --- argument types: each raises ArgumentTypeError (argparse: usage, one line, exit 2) ---------------------


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _count(text: str) -> int:
    value = _finite(text)
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer")
    return int(value)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds > 0 (inf: no budget)")
    return value


def _start(text: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not two numbers x,y (write --start=-1.5,2)")
    return _finite(parts[0]), _finite(parts[1])


def _optimizer_list(text: str) -> list[str]:
    import optimizers

    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in optimizers.names()]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown optimizer {unknown[0] if unknown else text!r} "
                                         f"(valid: {', '.join(optimizers.names())})")
    return list(dict.fromkeys(names))


def _assignment(text: str) -> tuple[str, str]:
    key, sign, value = text.partition("=")
    if not sign or not key.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key.strip(), value.strip()


def _per_optimizer(text: str) -> tuple[str | None, float]:
    """``0.01`` (every optimizer) or ``adam=0.05`` (one)."""
    name, sign, value = text.rpartition("=")
    return (name.strip() or None) if sign else None, _finite(value)


def _race_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that describe a race (shared by ``race`` and ``inspect``)."""
    what = parser.add_argument_group("the race")
    what.add_argument("--config", metavar="FILE", help="a race JSON written by losslab or the app (the base)")
    what.add_argument("--lesson", metavar="NAME", help="a lecture preset as the base (see `losslab lessons`)")
    what.add_argument("--surface", metavar="NAME", help="the surface (see `losslab surfaces`)")
    what.add_argument("--param", metavar="NAME=VALUE", type=_assignment, action="append", default=[],
                      help="a surface parameter, e.g. condition=100 (repeatable)")
    what.add_argument("--optimizers", metavar="A,B,...", type=_optimizer_list,
                      help="comma-separated optimizers (default sgd,momentum,rmsprop,adam)")
    what.add_argument("--lr", metavar="[NAME=]ρ", type=_per_optimizer, action="append", default=[],
                      help="learning rate ρ ≥ 0 for all, or NAME=ρ for one (repeatable)")
    what.add_argument("--momentum", metavar="[NAME=]α", type=_per_optimizer, action="append", default=[],
                      help="momentum α in [0, 1) for momentum and nesterov, or NAME=α for one (repeatable)")
    what.add_argument("--set", metavar="NAME.KEY=VALUE", type=_assignment, action="append", default=[],
                      help="any optimizer keyword, e.g. adam.eps=1e-6 or adam.betas=0.9,0.99 (repeatable)")
    what.add_argument("--steps", type=_count, metavar="N", help="optimizer steps (default 500, at most 5000)")
    what.add_argument("--start", type=_start, metavar="X,Y", help="start point θ₀, e.g. --start=-1.5,2 "
                      "(default: the surface's)")
    what.add_argument("--schedule", metavar="NAME", help="a torch.optim.lr_scheduler name, e.g. StepLR, "
                      "CosineAnnealingLR, or none")
    what.add_argument("--schedule-param", metavar="KEY=VALUE", type=_assignment, action="append", default=[],
                      help="a schedule parameter, e.g. step_size=100 (repeatable)")
    what.add_argument("--constant-lr", metavar="A,B,...", help="optimizers that keep a constant ρ under the schedule, "
                      "e.g. schedulefree_sgd against sgd with --schedule CosineAnnealingLR")
    what.add_argument("--noise", type=_finite, metavar="σ", help="Gaussian gradient noise σ ≥ 0 (default 0)")
    what.add_argument("--seed", type=_count, metavar="N", help="the noise's and minibatches' seed (default 0)")
    what.add_argument("--batch-size", type=_count, metavar="N", help="minibatch size on surfaces with training data "
                      "(network, logistic2); 0: full batch (the default)")
    what.add_argument("--budget", type=_seconds, metavar="SECONDS", help="the compute budget: a race estimated to take "
                      "longer on one core is refused before it starts (default: $LOSSLAB_BUDGET_S or 10; inf: none)")


def _gallery_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that describe a gallery."""
    from .gallery import DEFAULT_POINTS, DEFAULT_STEPS, MAX_POINTS, MAX_STEPS, MIN_POINTS

    what = parser.add_argument_group("the gallery")
    what.add_argument("--surface", metavar="NAME", required=True,
                      help="the surface (see `losslab surfaces`; those with numeric parameters)")
    what.add_argument("--param", metavar="NAME=VALUE", type=_assignment, action="append", default=[],
                      help="a surface parameter, e.g. condition=100 (repeatable)")
    what.add_argument("--optimizers", metavar="A,B,...", type=_optimizer_list,
                      help="comma-separated optimizers (default: every one, see `losslab optimizers`)")
    what.add_argument("--steps", type=_count, metavar="N",
                      help=f"optimizer steps per run (default {DEFAULT_STEPS}, at most {MAX_STEPS})")
    what.add_argument("--points", type=_count, metavar="N", help=f"learning rates ρ tried per optimizer, "
                      f"log-spaced (default {DEFAULT_POINTS}, {MIN_POINTS}–{MAX_POINTS})")
    what.add_argument("--start", type=_start, metavar="X,Y", help="start point θ₀, e.g. --start=-1.5,2 "
                      "(default: the surface's)")
    what.add_argument("--budget", type=_seconds, metavar="SECONDS", help="the compute budget: a gallery estimated to "
                      "take longer on one core is refused before it starts (default: $LOSSLAB_BUDGET_S or 10; inf: "
                      "none)")


def _subcommand(commands: Any, name: str, handler: Any, examples: str, **settings: Any) -> argparse.ArgumentParser:
    """A subcommand whose handler gets its own parser (for its usage errors), with its examples as the epilog."""
    parser = commands.add_parser(name, epilog=examples, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 **settings)
    parser.set_defaults(handler=partial(handler, parser=parser))
    return parser


def build_parser() -> argparse.ArgumentParser:
    from plots.animation import MAX_FPS, MAX_FRAMES
    from plots.static import MAX_SCALE, PRESETS

    from .exports import FORMATS

    parser = argparse.ArgumentParser(
        prog="losslab",
        description="Loss Landscape Lab: optimizers racing across loss surfaces.",
        epilog="examples:\n  losslab surfaces\n  losslab optimizers\n  losslab race --out race.gif\n"
               "  losslab race --help      # every option of a race, with examples",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"losslab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("surfaces", help="list the surfaces, their parameters, defaults and ranges",
                        description="List every surface with its parameters as name=default [low, high].",
                        epilog="example:\n  losslab surfaces", formatter_class=argparse.RawDescriptionHelpFormatter,
                        ).set_defaults(handler=_list_surfaces)
    commands.add_parser("lessons", help="list the lecture presets (races with what to look for)",
                        description="List every lesson: its name (for `losslab race --lesson NAME` and the app's "
                                    "?lesson=NAME), title and what it shows.",
                        epilog="examples:\n  losslab lessons\n  losslab race --lesson ravine --out ravine.gif",
                        formatter_class=argparse.RawDescriptionHelpFormatter).set_defaults(handler=_list_lessons)
    commands.add_parser("optimizers", help="list the optimizers and their defaults",
                        description="List every optimizer with torch.optim's keyword defaults and the learning "
                                    "rate a race starts from.",
                        epilog="example:\n  losslab optimizers", formatter_class=argparse.RawDescriptionHelpFormatter,
                        ).set_defaults(handler=_list_optimizers)

    race = commands.add_parser(
        "race", help="run a race and export it (png, svg, pdf, html, gif, mp4, csv, json)",
        description="Race optimizers across a surface and write the result in the formats the --out suffixes name.",
        epilog=RACE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    race.set_defaults(handler=partial(_race, parser=race))
    _race_arguments(race)
    out = race.add_argument_group("the output")
    out.add_argument("--out", metavar="FILE", action="append", required=True,
                     help=f"output file, format from its suffix ({', '.join(FORMATS)}); repeatable")
    out.add_argument("--preset", choices=list(PRESETS), default="slide",
                     help="image size: " + "; ".join(f"{k}: {p.description}" for k, p in PRESETS.items()))
    out.add_argument("--scale", type=_finite, default=1.0,
                     help=f"pixels per layout pixel, 1–{MAX_SCALE} (PNG; GIF/MP4 up to 1 Mpx per frame)")
    out.add_argument("--frames", type=_count, default=60, help=f"GIF/MP4 frames, 2–{MAX_FRAMES} (default 60)")
    out.add_argument("--fps", type=_finite, default=15.0, help=f"GIF/MP4 frames per second, 1–{MAX_FPS} "
                     "(default 15)")
    out.add_argument("--field", action="store_true",
                     help="draw the negative-gradient field −∇f/‖∇f‖ under the paths (PNG, SVG, PDF, HTML, GIF, MP4)")

    gallery = _subcommand(
        commands, "gallery", _gallery, GALLERY_EXAMPLES,
        help="every optimizer on one surface, each at its best ρ (png, svg, pdf, html, csv)",
        description="Tune each optimizer's learning rate ρ on one surface (one batched sweep each), race it at its "
                    "best ρ and draw the paths as small multiples, one panel per optimizer.")
    _gallery_arguments(gallery)
    shown = gallery.add_argument_group("the output")
    shown.add_argument("--out", metavar="FILE", action="append", required=True,
                       help="output file, format from its suffix (png, svg, pdf, html; csv: the table); repeatable")
    _image_arguments(shown)

    sliced = _subcommand(
        commands, "slice", _slice, SLICE_EXAMPLES,
        help="your own PyTorch model's loss on a plane through its weights (zarr, png, svg, pdf, html)",
        description="Compute the loss of your model on a plane through its parameters, tile by tile into a "
                    "resumable Zarr store, and draw it.")
    sliced.error = partial(_slice_error, sliced)  # one line, no usage block
    _slice_arguments(sliced)

    commands.add_parser(
        "app", help="open the web app in a browser (arguments after `app` go to `streamlit run`)",
        description="Serve the Streamlit app from the installed package, in any folder. Arguments after `app` pass "
                    "through to `streamlit run` (see `streamlit run --help`).",
        epilog="examples:\n  losslab app\n  losslab app --server.port 8600 --server.headless true",
        formatter_class=argparse.RawDescriptionHelpFormatter).set_defaults(handler=_app)

    inspect = commands.add_parser(
        "inspect", help="one optimizer at one step: curvature and what the optimizer sees",
        description="Replay a race and describe step k of one optimizer: θₖ, gₖ, ρₖ, the step θₖ₊₁ − θₖ, the "
                    "Hessian's eigenvalues and local condition number at θₖ, the adaptive methods' per-coordinate "
                    "ρ/(√r̂ + ε), Adam's s, r, ŝ, r̂ (the Explore page's \"inspect a step\" view).",
        epilog="examples:\n  losslab inspect --optimizer adam --step 12\n"
               "  losslab inspect --lesson bias-correction --optimizer adam_nobc --step 0 --out step.png",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    inspect.set_defaults(handler=partial(_inspect, parser=inspect))
    _race_arguments(inspect)
    which = inspect.add_argument_group("the step")
    which.add_argument("--optimizer", metavar="NAME", help="one of the race's optimizers (default: the first)")
    which.add_argument("--step", type=_count, metavar="K", default=0, help="the step k to describe (default 0)")
    which.add_argument("--out", metavar="FILE", action="append", default=[],
                       help="also write the zoomed figure (png, svg, pdf or html; repeatable)")
    return parser


def _inspect(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from landscapes.curvature import curvature
    from plots.step_figure import step_figure, step_rows

    from . import exports
    from .race import run_one, step_at

    try:
        formats = [exports.format_of(path) for path in args.out]
        if any(fmt not in exports.FIGURE_FORMATS for fmt in formats):
            raise ValueError(f"--out: the step figure exports to {', '.join(exports.FIGURE_FORMATS)}")
        config = race_config(args)
        name = args.optimizer or next(iter(config.optimizers))
        if name not in config.optimizers:
            raise ValueError(f"--optimizer: {name!r} is not in the race ({', '.join(config.optimizers)})")
        if not 0 <= args.step < max(config.steps, 1):
            raise ValueError(f"--step: {args.step} (the race has {config.steps} steps: 0 to {config.steps - 1})")
        surface = config.landscape()
        view = step_at(config, name, args.step, surface)
    except ValueError as error:
        parser.error(_one_line(str(error)))
    try:
        local = curvature(surface, view.theta)
    except ValueError:
        local = None
    print(f"{name} at step k = {args.step} on {surface!r}")
    for quantity, value in step_rows(view, local):
        print(f"  {quantity:40s} {value}")
    if formats:
        trajectory = run_one(config, name, surface, budget=args.budget)
        figure = step_figure(surface, view, local, name, list(config.optimizers).index(name), trajectory.points[0])
        for path, fmt in zip(args.out, formats):
            try:
                exports.write_atomic(path, exports.figure_bytes(figure, fmt))
            except (RuntimeError, OSError, ValueError) as error:
                print(f"losslab: error: could not write {path}: {error}", file=sys.stderr)
                return 1
            print(f"wrote {path}")
    return 0


# --- the race command --------------------------------------------------------------------------------------


def _base_config(args: argparse.Namespace) -> Any:
    from .config_io import MAX_JSON_BYTES, read_race_json
    from .race import RaceConfig

    if args.config and args.lesson:
        raise ValueError("--lesson and --config both name a base race: give one")
    if args.lesson:
        from . import lessons

        return lessons.get(args.lesson).config
    if not args.config:
        return RaceConfig()
    try:
        with open(args.config, "rb") as handle:  # at most one byte over the limit: /dev/zero or a pipe never ends
            data = handle.read(MAX_JSON_BYTES + 1)
    except OSError as error:
        raise ValueError(f"--config: cannot read {args.config!r}: {error.strerror}") from None
    if len(data) > MAX_JSON_BYTES:
        raise ValueError(f"--config: {args.config!r} is longer than {MAX_JSON_BYTES} bytes (a race JSON is smaller)")
    try:
        return read_race_json(data)[0]
    except ValueError as error:
        raise ValueError(f"--config {args.config!r}: {error}") from None


def _optimizer_settings(args: argparse.Namespace, base: Any, surface: str, names: list[str]) -> dict[str, dict]:
    from . import race

    chosen = {}
    for name in names:
        keep = name in base.optimizers and surface == base.surface
        chosen[name] = dict(base.optimizers[name]) if keep else race.optimizer_defaults(name, surface)

    def target(option: str, name: str | None) -> list[str]:
        if name is not None and name not in chosen:
            raise ValueError(f"{option}: {name!r} is not among the selected optimizers ({', '.join(chosen)})")
        return [name] if name is not None else list(chosen)

    for key, text in args.set:  # a wrapper's base first: it decides which keywords the others may set
        name, _, keyword = key.partition(".")
        if keyword == "base_optimizer" and name in chosen and "base_optimizer" in chosen[name]:
            try:
                chosen[name] = race.with_base(name, chosen[name], text.strip(), surface)
            except ValueError as error:
                raise ValueError(f"--set {key}={text!r}: {error}") from None
    for name, value in args.lr:
        for each in target("--lr", name):
            chosen[each]["lr"] = value
    for name, value in args.momentum:
        for each in target("--momentum", name):
            if name is not None or each in ("momentum", "nesterov"):
                if "momentum" not in chosen[each]:
                    raise ValueError(f"--momentum: {each} takes no momentum")
                chosen[each]["momentum"] = value
    for key, text in args.set:
        name, dot, keyword = key.partition(".")
        if not dot:
            raise ValueError(f"--set: {key!r} is not NAME.KEY (e.g. adam.eps=1e-6)")
        (each,) = target("--set", name)
        if keyword == "base_optimizer" and keyword in chosen[each]:
            continue  # set above
        if keyword not in chosen[each]:
            raise ValueError(f"--set: {each} takes no keyword {keyword!r} (valid: {', '.join(chosen[each])})")
        try:
            chosen[each][keyword] = overrides.like(text, chosen[each][keyword])
        except ValueError as error:
            raise ValueError(f"--set {key}={text!r}: {error}") from None
    return chosen


def _check_budget(config: Any, args: argparse.Namespace) -> float:
    """The race and, for a figure or an animation, its drawn landscape within the compute budget (``--budget``),
    before the surface is built (a network's training); returns the estimate in seconds."""
    from . import budget

    drawn = any(not path.lower().endswith((".csv", ".json")) for path in getattr(args, "out", None) or [])
    return budget.check(budget.race_view_cost(config, drawn=drawn), args.budget, "This race").seconds


def race_config(args: argparse.Namespace) -> Any:
    """The validated configuration the race options describe (``ValueError`` naming the bad option)."""
    import landscapes
    from optimizers import schedules

    from . import race

    base = _base_config(args)
    surface = args.surface or base.surface
    if surface not in landscapes.names():
        raise ValueError(f"--surface: unknown surface {surface!r} (valid: {', '.join(landscapes.names())})")
    if surface == base.surface:
        params = dict(base.surface_params)
    else:
        params = race.surface_defaults(surface)
    specs = {spec.name: spec for spec in landscapes.parameters(surface)}
    for key, text in args.param:
        if key not in specs:
            raise ValueError(f"--param: {surface} has no parameter {key!r} (valid: {', '.join(sorted(specs)) or '-'})")
        try:  # a number, or a choice / widths in its text form (--param dataset=xor --param hidden=8,8)
            params[key] = overrides.surface_value(specs[key], text)
        except ValueError as error:
            raise ValueError(f"--param {key}={text!r}: {error}") from None
    names = args.optimizers or list(base.optimizers)
    config = replace(base, surface=surface, surface_params=params,
                     optimizers=_optimizer_settings(args, base, surface, names),
                     start=args.start if args.start is not None else (base.start if surface == base.surface else None))
    if args.steps is not None:
        config = replace(config, steps=args.steps)
    if args.noise is not None:
        config = replace(config, noise=args.noise)
    if args.seed is not None:
        if args.seed < 0:
            raise ValueError(f"--seed: {args.seed} (must be >= 0)")
        config = replace(config, seed=args.seed)
    if args.batch_size is not None:
        config = replace(config, batch_size=args.batch_size or None)
    if args.schedule is not None or args.schedule_param:
        name = args.schedule or (config.schedule or {}).get("name")
        if not name:
            raise ValueError("--schedule-param needs --schedule NAME")
        if name.lower() == "none":
            config = replace(config, schedule=None)
        else:
            given = dict(config.schedule or {}) if name == (config.schedule or {}).get("name") else {}
            given.update({key: overrides.schedule_value(text) for key, text in args.schedule_param})
            try:
                config = replace(config, schedule=schedules.from_config({**given, "name": name}).config())
            except (TypeError, ValueError) as error:
                raise ValueError(f"--schedule {name}: {error}") from None
    if args.constant_lr is not None:
        if not config.schedule:
            raise ValueError("--constant-lr needs --schedule NAME (without a schedule every ρ is constant)")
        config = replace(config, constant_lr=tuple(name for name in args.constant_lr.split(",") if name))
    else:
        config = replace(config, constant_lr=tuple(n for n in config.constant_lr if n in config.optimizers))
    _check_budget(config, args)
    return config.validate()


def _race(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from . import exports, live
    from .race import run_race

    try:
        formats = [exports.format_of(path) for path in args.out]
        settings = exports.ExportSettings(preset=args.preset, scale=args.scale, frames=args.frames, fps=args.fps)
        for fmt in formats:
            settings.validate(fmt)
        config = race_config(args)
        live_seconds = live.seconds_left(_check_budget(config, args), args.budget)  # an HTML's live sliders
        trajectories = run_race(config, budget=args.budget)  # a ValueError the checks missed: still a usage error
    except ValueError as error:
        parser.error(_one_line(str(error)))
    return _write(args.out, formats, lambda fmt: exports.export_race(
        config, fmt, settings, trajectories=trajectories, gradient_field=args.field, live_seconds=live_seconds))


def _write(paths: list[str], formats: list[str], render: Any) -> int:
    """Each output file: ``render(fmt)``'s bytes written atomically (``exports.write_atomic``); a failure to
    render or to write is one line on stderr and exit status 1."""
    from . import exports

    for path, fmt in zip(paths, formats):
        try:
            data = render(fmt)
        except (RuntimeError, OSError, ValueError) as error:
            print(f"losslab: error: could not render {path}: {error}", file=sys.stderr)
            return 1
        try:
            exports.write_atomic(path, data)
        except OSError as error:
            print(f"losslab: error: cannot write {path}: {error.strerror or error}", file=sys.stderr)
            return 1
        print(f"wrote {path} ({len(data) / 1e3:.0f} kB)")
    return 0


# --- the gallery command -----------------------------------------------------------------------------------


def gallery_config(args: argparse.Namespace) -> Any:
    """The validated gallery the options describe (``ValueError`` naming the bad option)."""
    import landscapes

    from . import gallery, maps

    valid = maps.surfaces()
    if args.surface not in valid:
        raise ValueError(f"--surface: {args.surface!r} cannot be a gallery's surface (valid: {', '.join(valid)})")
    specs = {spec.name: spec for spec in landscapes.parameters(args.surface)}
    params = {}
    for key, text in args.param:
        if key not in specs:
            raise ValueError(f"--param: {args.surface} has no parameter {key!r} "
                             f"(valid: {', '.join(sorted(specs)) or '-'})")
        try:
            params[key] = overrides.surface_value(specs[key], text)
        except ValueError as error:
            raise ValueError(f"--param {key}={text!r}: {error}") from None
    config = gallery.GalleryConfig(surface=args.surface, surface_params=params, start=args.start,
                                   optimizers=tuple(args.optimizers or ()))
    if args.steps is not None:
        config = replace(config, steps=args.steps)
    if args.points is not None:
        config = replace(config, points=args.points)
    return config.validate()


def _gallery(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from . import exports, gallery

    try:
        formats = [exports.format_of(path) for path in args.out]
        for path, fmt in zip(args.out, formats):
            if fmt not in gallery.FORMATS:
                raise ValueError(f"Invalid output file {path!r}: a gallery exports to "
                                 f"{', '.join('.' + f for f in gallery.FORMATS)}")
        settings = exports.ExportSettings(preset=args.preset, scale=args.scale)
        for fmt in formats:
            settings.validate(fmt)
        config = gallery_config(args)
        shown = gallery.gallery(config, budget=args.budget)  # the budget, then the work
    except ValueError as error:
        parser.error(_one_line(str(error)))
    for name, why in shown.skipped.items():
        print(f"losslab: skipped {name}: {_one_line(why)}", file=sys.stderr)
    print(f"{'optimizer':12s} {'best ρ':>10s} {'final loss':>11s} {'steps to tol':>12s}")
    for row in gallery.rows(shown):
        if row["optimizer"] in shown.results:
            lr = "-" if row["best_lr"] is None else f"{row['best_lr']:.4g}"
            loss = "-" if row["final_loss"] is None else f"{row['final_loss']:.4g}"
            reached = "-" if row["steps_to_tol"] is None else str(row["steps_to_tol"])
            print(f"{row['optimizer']:12s} {lr:>10s} {loss:>11s} {reached:>12s}  {row['note']}".rstrip())
    drawn = gallery.figure(shown) if any(fmt != "csv" for fmt in formats) else None
    return _write(args.out, formats, lambda fmt: gallery.export(shown, fmt, settings, drawn=drawn))


# --- the slice command -------------------------------------------------------------------------------------


def _slice_error(parser: argparse.ArgumentParser, message: str) -> None:
    """A slice's usage error: one line on stderr, exit status 2."""
    parser.exit(2, f"{parser.prog}: error: {_one_line(message)}\n")


def _image_arguments(group: Any) -> None:
    """A still figure's --preset and --scale (gallery, slice)."""
    from plots.static import MAX_SCALE, PRESETS

    group.add_argument("--preset", choices=list(PRESETS), default="slide",
                       help="image size: " + "; ".join(f"{k}: {p.description}" for k, p in PRESETS.items()))
    group.add_argument("--scale", type=_finite, default=1.0, help=f"PNG pixels per layout pixel, 1–{MAX_SCALE}")


def _slice_arguments(parser: argparse.ArgumentParser) -> None:
    from .slice_figure import DEFAULT_STEPS
    from .slice_ray import MAX_WORKERS
    from .slice_run import MAX_GRID, MAX_TILE, Request

    what = parser.add_argument_group("the model and the plane")
    what.add_argument("--model", metavar="MODULE:FUNCTION", required=True,
                      help="a function that returns the torch.nn.Module")
    what.add_argument("--weights", metavar="FILE", help="a state_dict to load into it (torch.load(weights_only=True))")
    what.add_argument("--data", metavar="MODULE:FUNCTION", required=True,
                      help="a function that returns a DataLoader (not shuffled) or (inputs, targets)")
    what.add_argument("--loss", metavar="MODULE:FUNCTION", help="the loss fn(outputs, targets) (default: "
                      "cross-entropy for integer targets, mean squared error otherwise)")
    what.add_argument("--grid", type=_count, default=Request.grid, metavar="N",
                      help=f"points per axis, 2–{MAX_GRID} (default {Request.grid})")
    what.add_argument("--range", type=_finite, default=Request.range, metavar="R",
                      help=f"the plane a, b ∈ [−R, R] (default {Request.range:g})")
    what.add_argument("--seed", type=_count, default=Request.seed, metavar="N",
                      help="the random directions' seed (default 0)")
    what.add_argument("--batch-size", type=_count, metavar="N",
                      help="examples per minibatch (default: as many as fit the memory bounds)")
    what.add_argument("--tile", type=_count, default=Request.tile, metavar="N",
                      help=f"tile side in points, 1–{MAX_TILE}: the unit of work and of resuming (default "
                           f"{Request.tile})")
    ray = parser.add_argument_group("distributed on Ray (pip install 'losslab[distributed]')")
    ray.add_argument("--workers", type=_count, metavar="N",
                     help=f"start a local Ray cluster of N worker processes for this run, 1–{MAX_WORKERS}; the "
                          "tiles are its tasks (bit for bit the one-process result)")
    ray.add_argument("--address", metavar="ADDR",
                     help="join a running Ray cluster instead: ray://HOST:PORT (Ray client), HOST:PORT (its GCS) or "
                          "auto (the one `ray start` began on this machine); your --model/--data modules are "
                          "shipped to its workers")
    race = parser.add_argument_group("races on the slice (drawn on the figures)")
    race.add_argument("--race", metavar="A,B,...", type=_optimizer_list,
                      help="optimizers to race from the start point with the catalogue's defaults")
    race.add_argument("--steps", type=_count, default=DEFAULT_STEPS, metavar="N",
                      help=f"race steps (default {DEFAULT_STEPS})")
    race.add_argument("--start", type=_start, metavar="A,B", help="the races' start (default: (−0.75, 0.75) × range)")
    out = parser.add_argument_group("the output")
    out.add_argument("--out", metavar="FILE", action="append", required=True,
                     help="the store (.zarr, exactly one) and figures (.png, .svg, .pdf, .html); repeatable")
    _image_arguments(out)


def _slice_outputs(paths: list[str]) -> tuple[str, list[str], list[str]]:
    """(the store, the figure paths, their formats) from the --out paths."""
    import os

    from . import exports

    stores = [path for path in paths if path.rstrip("/").lower().endswith(".zarr")]
    figures = [path for path in paths if path not in stores]
    if len(stores) != 1:
        raise ValueError(f"--out: give exactly one .zarr store (got {len(stores)})")
    formats = []
    for path in figures:
        suffix = os.path.splitext(path)[1].lower().lstrip(".")
        if suffix not in exports.FIGURE_FORMATS:
            raise ValueError(f"--out: cannot write {path!r}: a slice writes .zarr (the store), "
                             f"{', '.join('.' + f for f in exports.FIGURE_FORMATS)}")
        formats.append(suffix)
    return stores[0].rstrip("/"), figures, formats


def _slice(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from . import exports, slice_ray, slice_run

    distributed = args.workers is not None or args.address is not None
    try:
        slice_ray.check(args.workers, args.address)  # before any work: ranges, both given, Ray installed
        if args.address is not None:
            slice_ray.reachable(args.address)
        store, paths, formats = _slice_outputs(args.out)
        settings = exports.ExportSettings(preset=args.preset, scale=args.scale)
        for fmt in formats:
            settings.validate(fmt)
        if args.race and not paths:
            raise ValueError("--race draws on a figure: add --out slice.png or slice.html")
        request = slice_run.Request(model=args.model, data=args.data, store=store, weights=args.weights,
                                    loss=args.loss, grid=args.grid, range=args.range, seed=args.seed, tile=args.tile,
                                    batch_size=args.batch_size, race=tuple(args.race or ()), steps=args.steps,
                                    start=args.start)
        job = slice_run.prepare(request)
    except ValueError as error:
        parser.error(str(error))
    except KeyboardInterrupt:
        print("losslab slice: interrupted before any tile was computed", file=sys.stderr)
        return 130
    try:
        if distributed:
            code = slice_run.compute_on_ray(job, workers=args.workers, address=args.address)
        else:
            code = slice_run.compute(job)
    except ValueError as error:  # the cluster could not be started or joined
        parser.error(str(error))
    except KeyboardInterrupt:  # while Ray started or stopped: the tiles saved are kept
        print("losslab slice: interrupted; run the same command to continue", file=sys.stderr)
        return 130
    if code:
        return code
    before = job.total - len(job.todo)
    print(f"{store}: {job.total} tiles of {args.tile}×{args.tile} points: {job.computed} computed now, "
          f"{before} done before")
    if not paths:
        return 0
    try:
        shown, skipped = slice_run.figures(job, formats)
    except ValueError as error:
        parser.error(str(error))
    for name, why in skipped.items():
        print(f"losslab: skipped {name}: {_one_line(why)}", file=sys.stderr)
    return _write(paths, formats, lambda fmt: exports.figure_bytes(shown[fmt], fmt, settings))


def _app(args: argparse.Namespace) -> int:
    """``streamlit run`` on the package's router with the app's settings and the arguments after ``app``; the
    process becomes the server (its signals and exit code are streamlit's)."""
    import os

    from .serve import streamlit_command

    command = streamlit_command(arguments=args.passthrough)
    sys.stdout.flush()
    os.execv(command[0], command)
    return 0  # not reached


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, passthrough = parser.parse_known_args(argv)
    if args.command == "app":
        args.passthrough = passthrough
    elif passthrough:
        parser.error(_one_line(f"unrecognized arguments: {' '.join(passthrough)}"))
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
