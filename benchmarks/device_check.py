"""Whether gancore's CUDA paths work on this machine, found out in one run of a few minutes.

Checks, each in its own process with a time limit, so that one failure does not stop the
rest: every built-in recipe trained a few steps on the GPU in fp32, bf16 (where the GPU
has it natively) and fp16, each ending with a sample grid and a checkpoint; the default
recipe with ``train.compile = true``; DDP over nccl in one process per GPU (with
``train.sync_batchnorm`` too); the default recipe's CUDA checkpoints sampled on the CPU,
with CUDA hidden, the samples checked finite; the default recipe's steps per second on the
GPU against the hand-written loop of benchmarks/speed.py, in alternating rounds, in fp32
and bf16 (where the GPU has it), each also in channels-last memory format; and the
``inception`` features on the GPU (random weights in the published layout): the same as
on the CPU, and their images/s.

The run keeps to a time budget (--minutes): each check's limit is cut to what is left of
it, and a check that cannot start in time is reported as skipped. Writes report.md (a
table: check, result, seconds, note) and report.json into --out, prints the table, and
exits 0 when no check failed, 1 otherwise. On a machine without CUDA it prints one line
and exits 0.

    python benchmarks/device_check.py [--out runs/device-check] [--steps 10] [--rounds 5] [--skip-recipes]
                                      [--minutes 5] [--jobs N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gancore  # noqa: E402
from _report import stamp, write_atomically  # noqa: E402
from gancore._documents import read_document  # noqa: E402
from gancore._recipe import DEFAULT_RECIPE  # noqa: E402
from gancore._registry import RecipeEntry  # noqa: E402

BENCHMARKS = Path(__file__).resolve().parent
DEVICE = "cuda"
PRECISIONS = {"fp32": "off", "bf16": "bf16", "fp16": "fp16"}  # label: train.amp
# Time limits, in seconds, well above what each takes on a working machine: a check that
# hangs fails on its own and the rest still run. Each is also cut to what is left of the
# run's time budget (--minutes), so that the report is written in time whatever hangs.
TRAIN_LIMIT = 180
COMPILE_LIMIT = 240  # compiling the networks takes most of it
SAMPLE_LIMIT = 60
SPEED_LIMIT = 120
INCEPTION_LIMIT = 180
INCEPTION_NAME = "inception features on the GPU"
STREAM_LIMIT = 180
STREAM_NAME = "batches streamed from the image cache onto the GPU"
AFTER_TRAINING = 90  # of the budget, kept for the checks that follow the training ones
TOO_LATE = 15  # a check with less of the budget left than this is not started
SPEED_CASE = "dcgan-mnist"  # speed.py's case: the default recipe, on the hand-written loop's loss
SPEED_STEPS = 100  # steps of each side in each round of the speed comparison
SPEED_NAME = f"speed {SPEED_CASE} against the hand-written loop"
STOP_GRACE = 15  # seconds a timed-out check gets to stop on SIGTERM before it is killed
OUTPUT_LINES = 3  # last lines of a failed check's output kept in its note


@dataclass
class Check:
    name: str
    result: str  # "pass", "fail" or "skipped"
    seconds: float = 0.0
    note: str = ""
    output: list[str] = field(default_factory=list)  # the last lines of a failed check's output
    measured: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.name}: {self.result} ({self.seconds:.0f} s){' - ' + self.note if self.note else ''}"


# What a check's command must leave behind, given its standard output: (passed, note).
Verdict = Callable[[str], tuple[bool, str]]


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: give 1 or more")
    return value


def minutes(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text}: give a number of minutes above 0")
    return value


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/device-check"),
                        help="folder for report.md and report.json (default %(default)s; the runs themselves are "
                             "temporary)")
    parser.add_argument("--steps", type=positive, default=10,
                        help="training steps of each training check (default %(default)s)")
    parser.add_argument("--rounds", type=positive, default=5,
                        help=f"alternating rounds of {SPEED_STEPS} steps each in the speed comparison "
                             "(default %(default)s)")
    parser.add_argument("--skip-recipes", action="store_true",
                        help="train only the default recipe, not every built-in one (a quick look)")
    parser.add_argument("--minutes", type=minutes, default=5.0,
                        help="time budget of the whole run (default %(default)s): checks that cannot start within it "
                             "are reported as skipped")
    parser.add_argument("--jobs", type=positive, default=min(8, max(1, (os.cpu_count() or 2) // 2)),
                        help="training checks run at once (default %(default)s, half the cores up to 8; they share "
                             "the GPU, and the speed comparison runs alone)")
    return parser.parse_args()


def child_environment(**extra: str) -> dict[str, str]:
    """This process's environment for a check, without the variables of a torchrun job this
    script might have been started in (a check would take itself for one of its processes),
    and unbuffered, so that a check stopped at its time limit still leaves its last lines."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return env | {"PYTHONUNBUFFERED": "1"} | extra


def run_process(command: list[str], limit: float, env: dict[str, str]) -> tuple[int | None, str, str]:
    """Exit code (None when it ran past ``limit`` seconds), standard output and error.

    A process past its limit gets SIGTERM, which gancore answers by finishing the step and
    stopping (and `--nproc` passes on to its processes), then SIGKILL if it is still there.
    Processes it started itself (torchrun's) may hold its output open even then, so the
    reading stops after a while too."""
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          errors="replace") as proc:
        try:
            out, err = proc.communicate(timeout=limit)
            return proc.returncode, out, err
        except subprocess.TimeoutExpired:
            pass
        for stop in (proc.terminate, proc.kill):
            stop()
            try:
                out, err = proc.communicate(timeout=STOP_GRACE)
                return None, out, err
            except subprocess.TimeoutExpired:
                continue
        return None, "", "it did not stop; processes it started may still be running"


def last_lines(text: str) -> list[str]:
    lines = [line.rstrip()[:300] for line in text.splitlines() if line.strip()]
    return lines[-OUTPUT_LINES:]


def run_check(name: str, command: list[str], limit: float, verdict: Verdict, env: dict[str, str] | None = None) -> Check:
    """Run ``command`` and judge it: it must exit 0 within ``limit`` seconds and ``verdict``
    must accept its output."""
    start = time.perf_counter()
    code, out, err = run_process(command, limit, env or child_environment())
    seconds = round(time.perf_counter() - start, 1)
    tail = last_lines(err) or last_lines(out)
    if code is None:
        return Check(name, "fail", seconds, f"still running after {limit:.0f} s: stopped", tail)
    if code != 0:
        return Check(name, "fail", seconds, f"exit code {code}", tail)
    try:
        passed, note = verdict(out)
    except Exception as exc:  # a verdict that cannot read what the check left is that check's failure
        passed, note = False, f"{type(exc).__name__}: {exc}"
    return Check(name, "pass" if passed else "fail", seconds, note, [] if passed else tail)


def in_time(end: float, name: str, limit: float, start: Callable[[float], Check]) -> Check:
    """``start(limit)``, the limit cut to the time left before ``end`` (a ``time.monotonic``
    time); skipped when too little is left."""
    left = end - time.monotonic()
    if left < TOO_LATE:
        return Check(name, "skipped", note="not started: the time budget (--minutes) was spent")
    return start(min(limit, left))


def train_name(recipe: str, label: str) -> str:
    return f"train {recipe} {label}"


def run_folder(work: Path, check: str) -> Path:
    return work / check.replace(" ", "-")


def train_command(recipe: str, out: Path, steps: int, amp: str, extra: list[str]) -> list[str]:
    """``gancore train`` for a few steps on the GPU, with one sample grid and one checkpoint, at the end."""
    sets = [f"train.steps={steps}", f"train.device={DEVICE}", f"train.amp={amp}", f"train.log_every={steps}",
            "train.sample_every=0", "train.checkpoint_every=0", *extra]
    command = [sys.executable, "-m", "gancore", "train", recipe, "--out", str(out)]
    for setting in sets:
        command += ["--set", setting]
    return command


def trained(run: Path) -> Verdict:
    """A finished run has a checkpoint and a sample grid; fp16 may skip a few updates while
    its loss scale settles, which the note counts."""

    def verdict(_: str) -> tuple[bool, str]:
        if not any((run / "checkpoints").glob("*.pt")) or not any((run / "samples").glob("*")):
            return False, "exited 0 but wrote no checkpoint or no sample grid"
        last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
        skipped = last.get("skipped_updates", 0)
        return True, f"{skipped} update(s) skipped by fp16 loss scaling" if skipped else ""

    return verdict


def finite_samples(path: Path, count: int) -> Verdict:
    def verdict(_: str) -> tuple[bool, str]:
        samples = np.load(path)["samples"]
        if len(samples) != count:
            return False, f"{len(samples)} samples, not {count}"
        if not np.isfinite(samples).all():
            return False, "samples are not finite"
        return True, f"{count} finite samples, shape {tuple(samples.shape)}"

    return verdict


def speed_variants(bf16: bool) -> list[str]:
    """speed.py's variants the comparison measures: fp32 and, where the GPU has it natively,
    bf16, each also in channels-last format (whether train.channels_last wins on CUDA)."""
    return ["fp32", "channels_last", *(["bf16", "bf16+channels_last"] if bf16 else [])]


def speed_ratio(rounds: int, measured: dict[str, float]) -> Verdict:
    """The speeds speed.measure printed, kept in ``measured``, and their ratios."""

    def verdict(out: str) -> tuple[bool, str]:
        measured.update(json.loads(out.splitlines()[-1]))
        gancore_speed, hand = measured["fp32"], measured["hand"]
        note = (f"gancore {gancore_speed:.1f} steps/s, hand-written loop {hand:.1f} steps/s: ratio "
                f"{gancore_speed / hand:.2f} (medians of {rounds} rounds of {SPEED_STEPS} steps; speed.py's "
                f"{SPEED_CASE} case)")
        if "channels_last" in measured:
            note += (f"; channels_last {measured['channels_last']:.1f} steps/s, "
                     f"{measured['channels_last'] / gancore_speed:.2f}x fp32 (hand-written loop in channels_last "
                     f"{measured['hand channels_last']:.1f})")
        if "bf16+channels_last" in measured:
            note += (f"; bf16 {measured['bf16']:.1f}, bf16+channels_last {measured['bf16+channels_last']:.1f} steps/s, "
                     f"{measured['bf16+channels_last'] / measured['bf16']:.2f}x bf16")
        return True, note

    return verdict


def needs_images(recipe: RecipeEntry) -> bool:
    """Whether the recipe trains on a folder of the user's images that it does not name."""
    data = read_document(recipe.path).get("data", {})
    return data.get("name") == "image-folder" and "root" not in data


def example_root(recipe: RecipeEntry) -> str | None:
    """For a recipe whose dataset would download its files (CIFAR-10), the folder of the
    dataset's own small example in the published layout: the check has no network."""
    data = read_document(recipe.path).get("data", {})
    if "root" in data or ("dataset", data.get("name")) not in gancore.registry().parts:
        return None
    given = getattr(gancore.registry().get("dataset", data["name"]).factory, "examples", None)
    tables = (given() if callable(given) else given) or []
    return str(tables[0]["root"]) if tables and "root" in tables[0] else None


def make_image_folder(folder: Path, count: int = 64, size: int = 32) -> None:
    """``count`` noise images, enough for a recipe that trains on a folder of images to run."""
    folder.mkdir(parents=True)
    pixels = np.random.default_rng(0).integers(0, 256, size=(count, size, size, 3), dtype=np.uint8)
    for i, image in enumerate(pixels):
        Image.fromarray(image).save(folder / f"{i:03d}.png")


def gpu_facts() -> dict[str, object]:
    count = torch.cuda.device_count()
    return {
        "gpus": [torch.cuda.get_device_name(i) for i in range(count)],
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "bf16": torch.cuda.is_bf16_supported(including_emulation=False),
        "nccl": torch.distributed.is_available() and torch.distributed.is_nccl_available(),
    }


def training_checks(args: argparse.Namespace, facts: dict[str, object], work: Path,
                    end: float) -> list[Callable[[], Check]]:
    """The checks that train, each to be started before ``end``, and those this machine
    cannot run, as skipped; the slowest first, so that it overlaps the many short ones."""
    checks: list[Callable[[], Check]] = []

    def train(name: str, recipe: str, amp: str, extra: list[str], limit: float, launch: tuple[str, ...] = ()) -> None:
        run = run_folder(work, name)
        command = train_command(recipe, run, args.steps, amp, extra) + list(launch)
        checks.append(partial(in_time, end, name, limit, lambda cut: run_check(name, command, cut, trained(run))))

    def skip(name: str, why: str) -> None:
        checks.append(partial(Check, name, "skipped", 0.0, why))

    train(f"train {DEFAULT_RECIPE} compiled", DEFAULT_RECIPE, "off", ["train.compile=true"], COMPILE_LIMIT)
    gpus = len(facts["gpus"])
    if gpus >= 2:
        # The global batch must divide evenly among the processes.
        ddp = [f"train.batch_size={32 * gpus}", "train.backend=nccl"]
        launch = ("--nproc", str(gpus))
        train(f"ddp nccl {gpus} processes", DEFAULT_RECIPE, "off", ddp, TRAIN_LIMIT, launch)
        train(f"ddp nccl {gpus} processes sync_batchnorm", DEFAULT_RECIPE, "off", [*ddp, "train.sync_batchnorm=true"],
              TRAIN_LIMIT, launch)
    else:
        skip("ddp nccl", "one GPU: gancore trains one process per GPU and refuses two on one device "
                         "(docs/distributed.md), so DDP over nccl needs a machine with 2 or more")
    recipes = gancore.registry().recipes
    for recipe in [DEFAULT_RECIPE] if args.skip_recipes else sorted(recipes):
        extra = []
        if needs_images(recipes[recipe]):
            images = work / "images"
            if not images.exists():
                make_image_folder(images)
            extra = [f"data.root={images}"]
        elif (example := example_root(recipes[recipe])) is not None:
            # The example holds few images; and no evaluation, whose Inception weights it cannot download.
            extra = [f"data.root={example}", "train.batch_size=16", "eval.every=0"]
        for label, amp in PRECISIONS.items():
            if label == "bf16" and not facts["bf16"]:
                skip(train_name(recipe, label), "this GPU has no native bf16")
            else:
                train(train_name(recipe, label), recipe, amp, extra, TRAIN_LIMIT)
    return checks


def cpu_load_check(name: str, run: Path, work: Path, limit: float) -> Check:
    """A CUDA run's checkpoint sampled where no CUDA device is visible."""
    samples = work / f"{run.name}-cpu.npz"
    command = [sys.executable, "-m", "gancore", "sample", str(run), "--num", "8", "--out", str(samples)]
    return run_check(name, command, limit, finite_samples(samples, 8), child_environment(CUDA_VISIBLE_DEVICES=""))


def speed_check(rounds: int, bf16: bool, limit: float) -> Check:
    """speed.py's own comparison on the GPU, in a process of its own."""
    code = (f"import json, speed; print(json.dumps(speed.measure({SPEED_CASE!r}, {speed_variants(bf16)!r}, {rounds}, "
            f"{SPEED_STEPS}, {DEVICE!r})))")
    path = os.pathsep.join([str(BENCHMARKS), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    measured: dict[str, float] = {}
    check = run_check(SPEED_NAME, [sys.executable, "-c", code], limit, speed_ratio(rounds, measured),
                      child_environment(PYTHONPATH=path))
    check.measured = measured
    return check


# The child of the inception check: random weights in the published layout, the same
# uint8 images through the features on the CPU and on the GPU (TF32 off, so the two should
# agree to float rounding), then the GPU's images/s over several batches.
INCEPTION_CODE = """
import json, sys, tempfile, time, warnings
from pathlib import Path
import torch
sys.path.insert(0, {tests!r})
from inception_reference import write_weights
from gancore_metrics.inception import InceptionFeatures
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False
warnings.simplefilter("ignore")
weights = write_weights(Path(tempfile.mkdtemp()) / "w.pth")
space = InceptionFeatures(str(weights), batch_size=250)
x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
diff = (space.features(x) - space.features(x.cuda()).cpu()).abs().max().item()
many = torch.randint(0, 256, (2000, 3, 32, 32), dtype=torch.uint8, device="cuda")
space.features(many[:250]); torch.cuda.synchronize()
start = time.perf_counter(); space.features(many); torch.cuda.synchronize()
print(json.dumps({{"diff": diff, "images_per_s": len(many) / (time.perf_counter() - start)}}))
"""


def inception_verdict(out: str) -> tuple[bool, str]:
    found = json.loads(out.splitlines()[-1])
    note = (f"pool3 features on the GPU and the CPU differ by at most {found['diff']:.2e}; "
            f"{found['images_per_s']:.0f} images/s on the GPU (2000 images, batches of 250)")
    return found["diff"] <= 1e-3, note


def inception_check(limit: float) -> Check:
    code = INCEPTION_CODE.format(tests=str(BENCHMARKS.parent / "tests"))
    return run_check(INCEPTION_NAME, [sys.executable, "-c", code], limit, inception_verdict)


# A set past data.memory_limit on the GPU: batches gathered on the host from the
# memory-mapped cache, pinned and copied ahead of the step, must be exactly the CPU's
# batches; then their rate at 256 x 256.
STREAM_CODE = """
import json, os, tempfile, time
import numpy as np, torch
os.environ["GANCORE_CACHE"] = tempfile.mkdtemp()
import gancore
from gancore._batches import StreamedBatches, batches_for
def fill(out, advance):
    out[:] = np.random.default_rng(0).integers(0, 256, out.shape, dtype=np.uint8)
    return len(out), {{}}
x, _ = gancore.stored_images((2000, 3, 256, 256), fill, key={{"device-check": 1}}, memory_limit=0)
gpu = batches_for({{"x": x}}, torch.device("cuda"), 64, seed=3)
cpu = StreamedBatches({{"x": x}}, 64, seed=3)
same = all(torch.equal(gpu.next()["x"].cpu(), cpu.next()["x"]) for _ in range(40))
torch.cuda.synchronize(); start = time.perf_counter()
for _ in range(100):
    batch = gpu.next()
torch.cuda.synchronize()
print(json.dumps({{"kind": type(gpu).__name__, "same": same, "batches_per_s": 100 / (time.perf_counter() - start)}}))
"""


def stream_verdict(out: str) -> tuple[bool, str]:
    found = json.loads(out.splitlines()[-1])
    note = (f"{found['kind']}: 40 batches {'equal to' if found['same'] else 'DIFFERENT from'} the CPU's; "
            f"{found['batches_per_s']:.0f} batches of 64 x 3 x 256 x 256 a second onto the GPU")
    return found["same"] and found["kind"] == "StreamedBatches", note


def stream_check(limit: float) -> Check:
    return run_check(STREAM_NAME, [sys.executable, "-c", STREAM_CODE.format()], limit, stream_verdict)


def table(checks: list[Check]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = ["| check | result | seconds | note |", "| --- | --- | ---: | --- |"]
    for c in checks:
        note = " / ".join([c.note, *c.output]) if c.note else " / ".join(c.output)
        rows.append(f"| {cell(c.name)} | {c.result} | {c.seconds:.1f} | {cell(note)} |")
    return "\n".join(rows)


def write_report(checks: list[Check], facts: dict[str, object], args: argparse.Namespace) -> str:
    """report.md and report.json in ``args.out``; returns the markdown."""
    counts = {r: sum(c.result == r for c in checks) for r in ("pass", "fail", "skipped")}
    gpus = facts["gpus"]
    summary = (f"{counts['pass']} passed, {counts['fail']} failed, {counts['skipped']} skipped. GPUs: "
               f"{len(gpus)} x {', '.join(sorted(set(gpus)))}; CUDA {facts['cuda']}; native bf16: "
               f"{'yes' if facts['bf16'] else 'no'}; nccl: {'yes' if facts['nccl'] else 'no'}. Training checks: "
               f"{args.steps} steps each, {args.jobs} at a time (their seconds include waiting for the shared GPU).")
    markdown = f"# Device check\n\n{table(checks)}\n\n{summary}  \n{stamp()}\n"
    document = {"facts": facts, "steps": args.steps, "rounds": args.rounds, "jobs": args.jobs, "minutes": args.minutes,
                "counts": counts, "checks": [asdict(c) for c in checks]}
    write_atomically(args.out / "report.md", markdown)
    write_atomically(args.out / "report.json", json.dumps(document, indent=2) + "\n")
    return markdown


def run_all(args: argparse.Namespace, facts: dict[str, object], work: Path) -> list[Check]:
    def show(check: Check) -> Check:
        print(check.line(), flush=True)
        return check

    end = time.monotonic() + args.minutes * 60
    pool = ThreadPoolExecutor(args.jobs)
    try:
        futures = [pool.submit(task) for task in training_checks(args, facts, work, end - AFTER_TRAINING)]
        for done in as_completed(futures):
            show(done.result())
    finally:
        pool.shutdown(cancel_futures=True)  # after Ctrl-C, start no more
    checks = [f.result() for f in futures]
    results = {c.name: c.result for c in checks}
    for label in PRECISIONS:
        trained_check = train_name(DEFAULT_RECIPE, label)
        name = f"load the {DEFAULT_RECIPE} {label} checkpoint on the CPU"
        if results[trained_check] == "pass":
            run = run_folder(work, trained_check)
            checks.append(show(in_time(end, name, SAMPLE_LIMIT, partial(cpu_load_check, name, run, work))))
        else:
            checks.append(show(Check(name, "skipped", note=f"`{trained_check}` did not pass")))
    # Alone on the GPU, after everything else.
    checks.append(show(in_time(end, SPEED_NAME, SPEED_LIMIT, partial(speed_check, args.rounds, bool(facts["bf16"])))))
    checks.append(show(in_time(end, INCEPTION_NAME, INCEPTION_LIMIT, inception_check)))
    checks.append(show(in_time(end, STREAM_NAME, STREAM_LIMIT, stream_check)))
    return checks


def main() -> None:
    args = parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device here (torch.cuda.is_available() is false): nothing to check")
        return
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SystemExit(f"error: --out {args.out}: {exc.strerror}") from None
    facts = gpu_facts()
    print(f"checking {len(facts['gpus'])} GPU(s): {', '.join(facts['gpus'])}", flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="device-check-") as tmp:
            checks = run_all(args, facts, Path(tmp))
    except KeyboardInterrupt:
        raise SystemExit("interrupted: no report written") from None
    try:
        print(write_report(checks, facts, args))
    except OSError as exc:
        raise SystemExit(f"error: cannot write the report into {args.out}: {exc.strerror}") from None
    print(f"wrote {args.out / 'report.md'} and {args.out / 'report.json'}")
    sys.exit(1 if any(c.result == "fail" for c in checks) else 0)


if __name__ == "__main__":
    main()
