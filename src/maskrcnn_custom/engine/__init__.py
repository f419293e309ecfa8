"""Training and evaluation: :func:`train_one_epoch`, :func:`evaluate`, :func:`fit`, checkpoints, torchrun."""

from .amp import resolve_amp_dtype
from .checkpoint import atomic_torch_save, checkpoint_recipe, get_rng_state, load_checkpoint, set_rng_state
from .coco import STAT_NAMES, predictions_to_coco, target_to_coco
from .distributed import DistributedInfo, init_distributed, is_main_process
from .elongation import DEFAULT_ELONGATION_EDGES, elongation_metrics, mask_elongation
from .evaluate import coco_metrics, evaluate
from .fit import RUN_FILES, FitResult, check_run_folder, fit, seed_everything
from .metrics_log import MetricsLog
from .optim import OPTIMIZERS, make_optimizer
from .sampling import InfiniteSampler
from .thin_metrics import boundary_iou, boundary_metrics, cl_dice, skeleton_metrics, thin_structure_metrics
from .train import train_one_epoch

__all__ = [
    "DEFAULT_ELONGATION_EDGES",
    "STAT_NAMES",
    "OPTIMIZERS",
    "RUN_FILES",
    "DistributedInfo",
    "FitResult",
    "InfiniteSampler",
    "MetricsLog",
    "atomic_torch_save",
    "boundary_iou",
    "boundary_metrics",
    "cl_dice",
    "check_run_folder",
    "checkpoint_recipe",
    "coco_metrics",
    "elongation_metrics",
    "evaluate",
    "fit",
    "get_rng_state",
    "init_distributed",
    "is_main_process",
    "load_checkpoint",
    "make_optimizer",
    "mask_elongation",
    "predictions_to_coco",
    "resolve_amp_dtype",
    "seed_everything",
    "set_rng_state",
    "skeleton_metrics",
    "target_to_coco",
    "thin_structure_metrics",
    "train_one_epoch",
]
