"""The magnetic-tile data set written as the cameras of a production line store it: 8-bit, 12-bit in a 16-bit
container, and full 16-bit PNGs (same pixels, same splits), each with a manifest.csv that benchmarks/ml_quality.py
reads. A model must score the three alike: what the model sees of a 16-bit image is the 8-bit image it came from
(ml.pixels), never a white or black picture.

    .venv/bin/python benchmarks/make_depth_datasets.py --out data/depth
    .venv/bin/python benchmarks/ml_quality.py data/depth/{8bit,12bit,16bit}/manifest.csv --image-sizes 128

The folders (about 30 MB each) are not committed; ``data/`` is git-ignored.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

SOURCE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "magnetic_tile"
# name -> how an 8-bit value v is stored (16-bit containers: Pillow writes mode I;16)
DEPTHS = {
    "8bit": lambda v: v.astype(np.uint8),
    "12bit": lambda v: ((v.astype(np.uint32) * 4095 + 127) // 255).astype(np.uint16),  # 0..4095, as a 12-bit camera
    "16bit": lambda v: v.astype(np.uint16) * 257,  # 0..65535
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=str(SOURCE), help="an MVTec-layout folder with manifest.csv")
    parser.add_argument("--out", required=True)
    parser.add_argument("--variants", nargs="+", default=list(DEPTHS), choices=list(DEPTHS))
    args = parser.parse_args()
    source, out = Path(args.source), Path(args.out)
    with open(source / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for name in args.variants:
        store = DEPTHS[name]
        folder = out / name
        written = []
        for row in tqdm(rows, desc=name, unit="image"):
            target = folder / Path(row["image"]).with_suffix(".png")
            target.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(source / row["image"]) as opened:
                values = np.asarray(opened.convert("L"))
            Image.fromarray(store(values)).save(target)
            mask = str((source / row["mask"]).resolve()) if row["mask"] else ""
            written.append({**row, "image": str(target.relative_to(folder)), "mask": mask})
        with open(folder / "manifest.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(written)
        with Image.open(folder / written[0]["image"]) as check:
            print(f"{name}: {len(written)} images, mode {check.mode}, in {folder}")


if __name__ == "__main__":
    main()
