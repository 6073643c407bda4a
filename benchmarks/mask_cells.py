"""How much of each defect survives on the feature grid: the training masks of ``fit`` under both ``mask_cells`` rules.

For every defective training image of a dataset (MVTec folder or manifest) at each working resolution it brings
the mask to the stride-8 grid with the paper's rule (``area``: a cell is defective when about half of it is) and
with ``any`` (any defect pixel), and prints how many masks end up empty and which share of the cells a defect
touches stays defective. An empty mask on a defective image teaches the segmentation head that the defect is
normal (docs/ml.md, "Hard data").

    .venv/bin/python benchmarks/mask_cells.py data/bench/strips --sizes 256 816x320
    .venv/bin/python benchmarks/mask_cells.py ../shared/data/magnetic_tile/manifest.csv --sizes 256 272x304
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml.data import downsample_mask, load_mask, read_dataset  # noqa: E402
from ml.geometry import format_size, parse_size  # noqa: E402

STRIDE = 8


def survival(samples: list, size: tuple[int, int]) -> dict:
    """Empty masks and kept share of touched cells, per rule, for ``samples`` at ``size`` (height, width)."""
    grid = (size[0] // STRIDE, size[1] // STRIDE)
    empty = {"area": 0, "any": 0}
    kept = 0.0
    for sample in samples:
        mask = load_mask(sample.mask_path, size)[None]
        cells = {rule: downsample_mask(mask, grid, rule) for rule in empty}
        for rule, m in cells.items():
            empty[rule] += int(m.sum() == 0)
        kept += float(cells["area"].sum() / max(1.0, float(cells["any"].sum())))
    return {"masks": len(samples), "empty": empty, "area_share": kept / max(1, len(samples))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="MVTec folder or manifest.csv")
    parser.add_argument("--sizes", nargs="+", default=["256"], help="working resolutions, e.g. 256 816x320")
    parser.add_argument("--split", default="train")
    args = parser.parse_args()
    samples = [s for s in read_dataset(args.dataset, args.split, "supervised") if s.label == 1 and s.mask_path]
    print("| size | masks | empty (area) | empty (any) | touched cells kept by area |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for text in args.sizes:
        size = parse_size(text)
        row = survival(samples, size)
        print(
            f"| {format_size(size)} | {row['masks']} | {row['empty']['area']} | {row['empty']['any']} "
            f"| {100 * row['area_share']:.0f} % |"
        )


if __name__ == "__main__":
    main()
