"""Can a backbone *see* the defects at a resolution? A training-free probe, independent of the SuperSimpleNet recipe.

Every test position's distance to its nearest neighbour among (up to 30,000) good training positions of the same
standardised, 3x3-pooled backbone features; image score = max over the image; prints the image AUROC. If this is
high and a trained model is low, the recipe loses information; if this is low too, change resolution or layers.

    .venv/bin/python benchmarks/feature_knn.py data/bench/parts efficientnet_lite0 stage3,stage5 256
    .venv/bin/python benchmarks/feature_knn.py data/bench/parts efficientnet_lite0 stage3,stage5 512 --train 100
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml.backbones import build_extractor  # noqa: E402
from ml.data import image_to_tensor, read_dataset  # noqa: E402
from ml.metrics import auroc  # noqa: E402


def features(extractor, samples, size: int) -> torch.Tensor:
    out = []
    with torch.no_grad():
        for i in range(0, len(samples), 16):
            x = torch.stack([image_to_tensor(s.image_path, size) for s in samples[i : i + 16]])
            maps = extractor(x)
            h, w = maps[0].shape[-2:]
            f = torch.cat([F.interpolate(t, size=(h, w), mode="bilinear", align_corners=True) for t in maps], 1)
            out.append(F.avg_pool2d(f, 3, 1, 1))
    return torch.cat(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("backbone")
    parser.add_argument("layers", help="comma-separated, e.g. stage3,stage5")
    parser.add_argument("size", type=int)
    parser.add_argument("--train", type=int, default=100, help="good training images (every 3rd, up to this many)")
    parser.add_argument("--bank", type=int, default=30000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    extractor = build_extractor(args.backbone, tuple(args.layers.split(",")))
    train = read_dataset(args.data, "train", "unsupervised")[::3][: args.train]
    test = read_dataset(args.data, "test", "unsupervised")
    good, query = features(extractor, train, args.size), features(extractor, test, args.size)
    channels = good.shape[1]
    mean, std = good.mean((0, 2, 3), keepdim=True), good.std((0, 2, 3), keepdim=True) + 1e-6
    bank = ((good - mean) / std).permute(0, 2, 3, 1).reshape(-1, channels)
    bank = bank[torch.randperm(len(bank), generator=torch.Generator().manual_seed(0))[: args.bank]]
    scores = []
    for x in query:
        q = ((x[None] - mean) / std)[0].permute(1, 2, 0).reshape(-1, channels)
        scores.append(float(torch.cdist(q, bank).min(1).values.max()))
    value = auroc(scores, [s.label for s in test])
    print(
        f"{args.backbone} {args.layers} {args.size}: {channels} channels, map {tuple(good.shape[-2:])}, "
        f"kNN image AUROC {value:.3f} ({time.perf_counter() - started:.0f} s)"
    )


if __name__ == "__main__":
    main()
