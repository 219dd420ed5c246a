"""The screenshot in docs/results/report.png: a report page opened in headless Chromium,
checked as tests/test_report.py checks it, its top pictured, its colours reduced to a
palette so that the PNG stays small.

    gancore train dcgan-mnist --set train.steps=600 --set train.sample_every=100 \\
        --set eval.every=200 --set eval.num_samples=1000 --out runs/dcgan-mnist
    gancore train dcgan-mnist-sn ... --out runs/dcgan-mnist-sn     (the same settings)
    gancore report runs/dcgan-mnist runs/dcgan-mnist-sn --out report.html
    python scripts/report_screenshot.py report.html docs/results/report.png [--height 1900]
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests._browser import find_chromium, open_page  # noqa: E402
from tests.test_report import CHECKS  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--height", type=int, default=1900)
    parser.add_argument("--width", type=int, default=1300)
    args = parser.parse_args()
    browser = find_chromium()
    if browser is None:
        print("needs Chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    load = open_page(browser, args.page, CHECKS, width=args.width, screenshot=args.height)
    seen = load.values
    problems = [f"failed request {f}" for f in load.failures]
    problems += [f"request {u}" for u in load.requests[1:] if not u.startswith("data:")]
    problems += [f"picture not decoded: {alt}" for alt in seen["undecoded"]]
    if seen["drawn"] != seen["charts"]:
        problems.append(f"{seen['charts'] - seen['drawn']} charts without lines")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    assert load.screenshot is not None
    picture = Image.open(io.BytesIO(load.screenshot)).convert("RGB").quantize(colors=128)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    picture.save(args.out, format="PNG", optimize=True)
    size = args.page.stat().st_size
    print(f"{args.page}: {size / 1e3:.1f} kB, {seen['images']} pictures decoded, {seen['charts']} charts drawn, "
          f"{len(load.requests) - 1} data: requests and no other; wrote {args.out} "
          f"({args.out.stat().st_size / 1e3:.1f} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
