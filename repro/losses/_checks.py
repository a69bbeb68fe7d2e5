"""Input checks shared by the loss functions. Each error names the argument and its value."""

from __future__ import annotations

import math

import torch


def check_positive_finite(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def check_float_tensor(name: str, tensor: object, ndim: int) -> torch.Tensor:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(tensor.shape)}")
    if not tensor.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {tensor.dtype}")
    return tensor


def as_bool_mask(mask_BT: object, shape: torch.Size | None = None) -> torch.Tensor:
    """Return ``mask_BT`` as a bool tensor after checking that it is 2-D and contains only 0 and 1.

    With ``shape`` given, the mask must have exactly that shape.
    """
    if not isinstance(mask_BT, torch.Tensor):
        raise TypeError(f"mask_BT must be a torch.Tensor, got {type(mask_BT).__name__}")
    if mask_BT.dim() != 2:
        raise ValueError(f"mask_BT must have shape (B, T), got shape {tuple(mask_BT.shape)}")
    if shape is not None and mask_BT.shape != shape:
        raise ValueError(
            f"mask_BT has shape {tuple(mask_BT.shape)} but the per-token values have shape "
            f"{tuple(shape)}; every per-token tensor must have the same (B, T) shape"
        )
    if mask_BT.dtype == torch.bool:
        return mask_BT
    binary = (mask_BT == 0) | (mask_BT == 1)
    if not bool(binary.all()):
        bad = mask_BT[~binary][0].item()
        raise ValueError(
            f"mask_BT must contain only 0 and 1 (or be a bool tensor), found {bad!r}; "
            "put per-token weights into the advantages or the loss, not into the mask"
        )
    return mask_BT != 0


def check_same_shape(reference_name: str, reference: torch.Tensor, **others: torch.Tensor) -> None:
    for name, tensor in others.items():
        if tensor.shape != reference.shape:
            raise ValueError(
                f"{name} has shape {tuple(tensor.shape)} but {reference_name} has shape "
                f"{tuple(reference.shape)}; every per-token tensor must have the same (B, T) shape"
            )
