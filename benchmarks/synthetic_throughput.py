"""Throughput of the synthetic data generator on one CPU core.

Prints JSON: images/s of SyntheticElongatedDataset at the given size (raw, and with the default training
transforms), against a baseline measured in the same run: the cost of only allocating and filling the
outputs (image noise + masks), which no generator can beat.

    python benchmarks/synthetic_throughput.py            # 256 px, 500 images
    python benchmarks/synthetic_throughput.py --quick    # 100 images
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from maskrcnn_custom.data import SyntheticElongatedDataset, train_transforms


def _rate(fn, n: int) -> float:
    fn(0)  # warm up
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--num-images", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="100 images only")
    args = parser.parse_args()
    n = 100 if args.quick else args.num_images
    torch.set_num_threads(1)
    size = args.image_size

    ds = SyntheticElongatedDataset(n + 1, image_size=size, seed=0)
    ds_tf = SyntheticElongatedDataset(n + 1, image_size=size, seed=0, transforms=train_transforms())
    instances = sum(len(ds[i][1]["labels"]) for i in range(min(n, 100))) / min(n, 100)

    def floor(i: int) -> None:
        rng = np.random.default_rng([0, i])
        img = np.empty((3, size, size), np.float32)
        img[:] = rng.random((size, size), dtype=np.float32)
        masks = np.zeros((round(instances), size, size), np.uint8)
        torch.from_numpy(img), torch.from_numpy(masks)

    floor_rate = _rate(floor, n)
    raw = _rate(ds.__getitem__, n)
    with_tf = _rate(ds_tf.__getitem__, n)
    print(
        json.dumps(
            {
                "benchmark": "synthetic_throughput",
                "image_size": size,
                "num_images": n,
                "threads": torch.get_num_threads(),
                "mean_instances_per_image": round(instances, 2),
                "images_per_s": round(raw, 1),
                "images_per_s_with_train_transforms": round(with_tf, 1),
                "baseline_alloc_only_images_per_s": round(floor_rate, 1),
                "ratio_to_alloc_baseline": round(raw / floor_rate, 3),
                "target_images_per_s": 200,
                "meets_target": raw > 200,
                "python": platform.python_version(),
                "numpy": np.__version__,
                "torch": torch.__version__,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
