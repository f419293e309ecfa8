"""Run by test_crash_safety.py (with src/ and tests/ on PYTHONPATH): a tiny fit() that stops mid-checkpoint.

``python killed_fit_script.py OUT HANG_AT`` trains 3 one-iteration epochs into ``OUT``. The ``HANG_AT``-th
``torch.save`` (1-based: 2 is epoch 1's ``checkpoint_last.pt``) writes half of its bytes into the library's
temporary file, flushes them, creates ``OUT.hanging`` (holding the temporary file's name) and sleeps, so the
test can SIGKILL the process at exactly that moment.
"""

import io
import sys
import time
from pathlib import Path

import torch

from helpers.models import train_model
from helpers.rods import TinyRods
from maskrcnn_custom import fit

FIT_KWARGS = dict(
    epochs=3,
    iters_per_epoch=1,
    batch_size=1,
    lr=0.005,
    warmup_iters=0,
    device="cpu",
    progress=False,
    tensorboard=False,
    save_pretrained=False,
    seed=3,
)


def dataset():
    return TinyRods(n=2, size=64, seed=1)


def main(out: str, hang_at: int) -> None:
    torch.set_num_threads(1)
    real_save, calls = torch.save, []

    def hanging_save(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) < hang_at:
            return real_save(obj, f, *args, **kwargs)
        buffer = io.BytesIO()
        real_save(obj, buffer)
        data = buffer.getvalue()
        f.write(data[: len(data) // 2])
        f.flush()
        Path(f"{out}.hanging").write_text(Path(f.name).name)
        time.sleep(120)  # the test kills the process here
        raise SystemExit("not killed")

    torch.save = hanging_save
    torch.manual_seed(0)
    fit(train_model(), dataset(), output_dir=out, **FIT_KWARGS)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
