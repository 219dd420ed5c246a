"""The fixed boxes TP-GAN's local pathways look at, for a digit instead of a face.

TP-GAN crops patches around detected facial landmarks (eyes, nose, mouth). Digits have
no landmarks, so the boxes are fixed regions of the image, worked out from its size:

- ``quadrants``: four overlapping boxes a little over half the side, one per corner
  (16 x 16 at rows/columns 0 and 12 on a 28 x 28 image);
- ``bands``: top, middle and bottom full-width bands of about three sevenths of the
  height (12 rows on 28: rows 0-11, 8-19, 16-27).

Both layouts cover every pixel, so the fused local map has no holes.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

PatchLayout = Literal["quadrants", "bands", "none"]


class Box(NamedTuple):
    top: int
    left: int
    height: int
    width: int

    def pad_to(self, height: int, width: int) -> tuple[int, int, int, int]:
        """F.pad widths (left, right, top, bottom) that put this box's map at its place."""
        return (self.left, width - self.left - self.width, self.top, height - self.top - self.height)


def _even(n: int) -> int:
    return n - n % 2


def patch_boxes(layout: PatchLayout, height: int, width: int) -> list[Box]:
    """The boxes of ``layout`` on a ``height`` x ``width`` image (empty for ``none``)."""
    if layout == "none":
        return []
    if layout == "quadrants":
        h, w = _even(height // 2 + height // 8), _even(width // 2 + width // 8)
        return [Box(top, left, h, w) for top in (0, height - h) for left in (0, width - w)]
    band = _even(3 * height // 7)
    return [Box(top, 0, band, width) for top in (0, (height - band) // 2, height - band)]
