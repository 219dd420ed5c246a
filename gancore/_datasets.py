"""Data given as a Python object: ``create_run(..., data=...)`` takes a ``gancore.Dataset``
as it is, or a map-style ``torch.utils.data.Dataset`` whose items are samples (an image
tensor C x H x W, or a point) or (sample, label) pairs, read once into one tensor per
field: uint8 images stay uint8, anything else becomes float32.

The first item is checked before the rest are read, so a dataset of the wrong form fails
at once with one line, not after minutes of loading.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._errors import GancoreError
from ._parts import Dataset


class AbsentData:
    """Stands in for the Python dataset of a run loaded without it: enough to sample from
    the checkpoint, and one line when something needs the data itself."""

    def __init__(self, class_name: str) -> None:
        self.class_name = class_name

    def __repr__(self) -> str:
        return f"AbsentData({self.class_name!r})"


def build_dataset(recipe: Any, registry: Any) -> Dataset:
    """A recipe's training data: its Python object, or its ``[data]`` part built."""
    if "data" in recipe.objects:
        return dataset_from(recipe.objects["data"])
    _, name, params = recipe.data
    data = registry.build("dataset", name, params)
    if not isinstance(data, Dataset):
        raise TypeError(f"dataset {name!r} did not build a gancore.Dataset")
    return data


def dataset_from(obj: Any) -> Dataset:
    """``obj`` as a ``gancore.Dataset`` (see the module's docstring)."""
    if isinstance(obj, AbsentData):
        raise GancoreError(f"this run's data was a Python object ({obj.class_name}); to train or to measure against "
                           "real data, pass it again: load_run(path, data=...)")
    if isinstance(obj, Dataset):
        return obj
    if not (hasattr(obj, "__getitem__") and hasattr(obj, "__len__")):
        raise GancoreError(f"data=...: a {type(obj).__name__} is neither a gancore.Dataset nor a map-style "
                           "torch.utils.data.Dataset (with __getitem__ and __len__)")
    size = len(obj)
    if size < 1:
        raise GancoreError("data=...: the dataset is empty")
    sample, label = _item(obj[0], 0)
    xs = torch.empty((size, *sample.shape), dtype=sample.dtype)
    labels = torch.empty(size, dtype=torch.int64) if label is not None else None
    for i in range(size):  # once, when the run first needs its data; batches then index tensors
        x, y = _item(obj[i], i) if i else (sample, label)
        if x.shape != sample.shape:
            raise GancoreError(f"data=...: item {i} has shape {tuple(x.shape)}, item 0 {tuple(sample.shape)}; "
                               "every sample must have the same shape")
        xs[i] = x
        if labels is not None:
            if y is None:
                raise GancoreError(f"data=...: item {i} has no label, item 0 has one")
            labels[i] = y
    tensors = {"x": xs} | ({"label": labels} if labels is not None else {})
    if sample.dim() == 3 and sample.dtype != torch.uint8:
        low, high = float(xs.min()), float(xs.max())
        if low < -1 - 1e-6 or high > 1 + 1e-6:
            raise GancoreError(f"data=...: floating images must lie in [-1, 1] (these span [{low:.3g}, {high:.3g}]); "
                               "give uint8 images (0..255) or scale them")
    num_classes = int(labels.max()) + 1 if labels is not None else None
    if labels is not None and int(labels.min()) < 0:
        raise GancoreError("data=...: labels must be non-negative integers")
    return Dataset(tensors, num_classes=num_classes)


def _item(item: Any, index: int) -> tuple[Tensor, int | None]:
    """A sample tensor (uint8 kept, other types as float32) and its label, or None."""
    label = None
    if isinstance(item, (tuple, list)):
        if len(item) != 2:
            raise GancoreError(f"data=...: item {index} is a sequence of {len(item)}; items are a sample or (sample, label)")
        item, label = item
        label = _label(label, index)
    if not isinstance(item, Tensor):
        raise GancoreError(f"data=...: item {index} is a {type(item).__name__}, not a tensor "
                           "(convert images with torchvision's PILToTensor, or torch.from_numpy)")
    if item.dim() not in (1, 3):
        raise GancoreError(f"data=...: item {index} has shape {tuple(item.shape)}; a sample is an image C x H x W or a point D")
    return (item if item.dtype == torch.uint8 else item.float()), label


def _label(value: Any, index: int) -> int:
    if isinstance(value, Tensor) and value.numel() == 1 and not value.is_floating_point():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise GancoreError(f"data=...: item {index}'s label is {value!r}; labels are integers")
