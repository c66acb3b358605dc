"""Backbones by configuration: one encoder per modality = input adapter + any network factory.

A spec names the factory and its keyword arguments (YAML/TOML `encoders:` in a `climb train` config):

    encoders:
      image:  {factory: "monai:DenseNet121", kwargs: {norm: [group, {num_groups: 32}]}, adapter: {size: 320}}
      signal: {factory: "climb:resnet1d", kwargs: {width: 32, blocks: [2, 2, 2, 2]}}
      volume: {factory: "mypackage.nets:make_unet_encoder", kwargs: {depth: 4}, out: "features"}

Factories:
    climb:<name>         climb's own (CLIMB_FACTORIES below)
    monai:<network>      any class or function of monai.networks.nets (MONAI 1.6)
    <module>:<callable>  anything importable that returns an nn.Module mapping the adapted input to [B, dim]

The embedding size goes to the factory's output keyword: `out` when given, else the first of dim,
out_channels, num_classes, out_features that it takes (MONAI's ResNet functions take num_classes).
Input channels and MONAI's spatial_dims are filled in from the adapter when the factory takes them and
the spec does not set them. `resolve` turns a spec into the fully explicit record stored in encoder
files (factory as module:qualname, every keyword, every adapter argument), so a file rebuilds the same
network with nothing but an import, also after climb's presets change.

Presets size the defaults: "base" (the reference: DenseNet121 for 2D, a 1D ResNet-18-like for
signals, a 3D ResNet-18 on three HU windows for CT, an R(2+1)D for video), "small" (the same families,
narrower, for CPU runs) and "tiny" (tests and the demo's few steps).
"""

from __future__ import annotations

import copy
import importlib
import inspect
from typing import Any, Callable, Mapping

import torch
from torch import nn

from climb.trainer.adapters import ADAPTERS

CLIMB_FACTORIES = {
    "resnet1d": "climb.trainer.networks:ResNet1d",
    "r2plus1d": "climb.trainer.networks:R2Plus1d",
    "graph": "climb.trainer.encoders:GraphEncoder",
    "tabular": "climb.trainer.encoders:TabularEncoder",
    "text": "climb.trainer.encoders:TextEncoder",
}
MODALITIES = ("image", "signal", "video", "volume", "graph", "tabular", "text")
SPATIAL_DIMS = {"signal": 1, "image": 2, "volume": 3, "video": 3}
OUT_KEYWORDS = ("dim", "out_channels", "num_classes", "out_features")
IN_KEYWORDS = ("in_channels", "n_input_channels")
_SPEC_KEYS = {"factory", "kwargs", "adapter", "out"}

_GN32 = ["group", {"num_groups": 32}]
_GN8 = ["group", {"num_groups": 8}]
_GN4 = ["group", {"num_groups": 4}]
_COMMON = {"graph": {"factory": "climb:graph"}, "tabular": {"factory": "climb:tabular"}, "text": {"factory": "climb:text"}}
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "base": {
        "image": {"factory": "monai:DenseNet121", "kwargs": {"norm": _GN32}, "adapter": {"size": 224}},
        "signal": {"factory": "climb:resnet1d", "kwargs": {"width": 64, "blocks": [2, 2, 2, 2]}, "adapter": {"channels": 32}},
        "volume": {"factory": "monai:resnet18", "kwargs": {"norm": _GN32, "conv1_t_stride": 2}},
        "video": {"factory": "climb:r2plus1d", "kwargs": {"width": 32, "blocks": [1, 1, 1, 1]}, "adapter": {"size": 112}},
        **_COMMON,
    },
    "small": {
        "image": {"factory": "monai:DenseNet", "adapter": {"size": 128},
                  "kwargs": {"init_features": 32, "growth_rate": 16, "block_config": [2, 4, 8, 6], "norm": _GN8}},
        "signal": {"factory": "climb:resnet1d", "kwargs": {"width": 32, "blocks": [1, 1, 1, 1]}, "adapter": {"channels": 32}},
        "volume": {"factory": "monai:ResNet", "kwargs": {"block": "basic", "layers": [1, 1, 1, 1],
                                                         "block_inplanes": [16, 32, 64, 128], "norm": _GN8, "conv1_t_stride": 2,
                                                         "conv1_t_size": 3}},
        "video": {"factory": "climb:r2plus1d", "kwargs": {"width": 16, "blocks": [1, 1, 1]}, "adapter": {"size": 64}},
        **_COMMON,
    },
    "tiny": {
        "image": {"factory": "monai:DenseNet", "adapter": {"size": 32},
                  "kwargs": {"init_features": 8, "growth_rate": 8, "block_config": [1, 1], "norm": _GN4}},
        "signal": {"factory": "climb:resnet1d", "kwargs": {"width": 8, "blocks": [1, 1], "groups": 4}, "adapter": {"channels": 32}},
        "volume": {"factory": "monai:ResNet", "kwargs": {"block": "basic", "layers": [1, 1, 1, 1],
                                                         "block_inplanes": [4, 8, 8, 8], "norm": _GN4, "conv1_t_stride": 2,
                                                         "conv1_t_size": 3}},
        "video": {"factory": "climb:r2plus1d", "kwargs": {"width": 4, "blocks": [1, 1], "groups": 4}, "adapter": {"size": 16}},
        "graph": {"factory": "climb:graph", "kwargs": {"node_dim": 16, "layers": 2}},
        "tabular": {"factory": "climb:tabular", "kwargs": {"buckets": 32, "hidden": 32}},
        "text": {"factory": "climb:text", "kwargs": {"vocab": 1024, "max_tokens": 64}},
    },
}


def factory_path(name: str) -> str:
    """`climb:<name>`, `monai:<network>` or `module:callable` -> the importable `module:callable`."""
    prefix, sep, rest = name.partition(":")
    if not sep or not rest:
        raise ValueError(f"encoder factory {name!r} is not climb:<name>, monai:<network> or module:callable")
    if prefix == "climb":
        if rest not in CLIMB_FACTORIES:
            raise ValueError(f"climb has no backbone {rest!r}; it has {sorted(CLIMB_FACTORIES)}")
        return CLIMB_FACTORIES[rest]
    if prefix == "monai":
        return f"monai.networks.nets:{rest}"
    return name


def import_factory(path: str) -> Callable[..., nn.Module]:
    """The callable named by `module:qualname` (ValueError saying what is missing)."""
    module_name, _, qualname = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"encoder factory {path!r} cannot be imported: {exc}") from None
    if not callable(obj):
        raise ValueError(f"encoder factory {path!r} is not callable")
    return obj


def _parameters(factory: Callable[..., Any]) -> set[str]:
    """Keyword names the factory declares (a class: its __init__)."""
    try:
        return set(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        return set()


def _is_monai_resnet(path: str) -> bool:
    """MONAI's resnet10..resnet200 functions take only **kwargs, passed on to monai's ResNet."""
    module, _, name = path.partition(":")
    return module.startswith("monai.") and name.lower().startswith("resnet") and name != "ResNet"


def spec_for(modality: str, preset: str = "base", override: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The spec of `modality`: the preset's, with `override` (a spec) replacing it where given.

    An override with the same factory as the preset merges its kwargs and adapter into the preset's;
    one with another factory starts from that factory's own defaults.
    """
    if preset not in PRESETS:
        raise ValueError(f"encoder preset {preset!r} is not one of {sorted(PRESETS)}")
    if modality not in PRESETS[preset]:
        raise ValueError(f"no encoder for modality {modality!r}; modalities are {list(MODALITIES)}")
    base = copy.deepcopy(PRESETS[preset][modality])
    if not override:
        return base
    unknown = set(override) - _SPEC_KEYS
    if unknown:
        raise ValueError(f"encoder spec for {modality} has unknown keys {sorted(unknown)}; keys are {sorted(_SPEC_KEYS)}")
    if "factory" in override and override["factory"] != base["factory"]:
        base = {"factory": override["factory"]}
    for key in ("kwargs", "adapter"):
        if key in override:
            base[key] = {**base.get(key, {}), **dict(override[key])}
    if "out" in override:
        base["out"] = override["out"]
    return base


def resolve(modality: str, spec: Mapping[str, Any], dim: int, channels_last: bool = False) -> dict[str, Any]:
    """The explicit, JSON-like record of an encoder: {factory: module:qualname, kwargs, adapter, dim}."""
    path = factory_path(spec["factory"])
    factory = import_factory(path)
    params = _parameters(factory)
    monai_resnet = _is_monai_resnet(path)
    kwargs = copy.deepcopy(dict(spec.get("kwargs", {})))
    adapter_cls = ADAPTERS.get(modality)
    adapter: dict[str, Any] = {}
    if adapter_cls is not None:
        bound = inspect.signature(adapter_cls).bind(**dict(spec.get("adapter", {})))
        bound.apply_defaults()
        adapter = {k: (list(map(list, v)) if k == "windows" else v) for k, v in bound.arguments.items()}
        if modality == "image":
            adapter["channels_last"] = channels_last
    elif spec.get("adapter"):
        raise ValueError(f"modality {modality} takes no input adapter")
    out = spec.get("out") or ("num_classes" if monai_resnet else next((k for k in OUT_KEYWORDS if k in params), None))
    if out is None:
        raise ValueError(f"cannot tell which keyword of {path} sets the output size; give `out` in the encoder spec")
    kwargs[out] = dim
    if adapter_cls is not None:
        channels = len(adapter["windows"]) if modality == "volume" else adapter["channels"]
        key = "n_input_channels" if monai_resnet else next((k for k in IN_KEYWORDS if k in params), None)
        if key and key not in kwargs:
            kwargs[key] = channels
        if path.startswith("monai.") and (monai_resnet or "spatial_dims" in params) and "spatial_dims" not in kwargs:
            kwargs["spatial_dims"] = SPATIAL_DIMS[modality]
    return {"factory": path, "kwargs": kwargs, "adapter": adapter, "dim": dim}


class Encoder(nn.Module):
    """Input adapter -> backbone for one modality; maps a batch field to embeddings [B, dim].

    Called as the batch holds the field: image(x, mask), signal(x, mask), video(x, mask), volume(patches),
    graph(x, edge_index, edge_attr, batch, num_graphs), text(list), tabular(list). The mask reaches
    backbones whose forward takes `mask` (climb's resnet1d and r2plus1d), which makes their embeddings
    independent of padding; other backbones get the adapted tensor alone. For those, a signal or video
    batch padded in time is refused unless the adapter fixes the length (adapters.py, `length`): the
    padding to the longest batch mate would otherwise change what a sample embeds to.
    """

    def __init__(self, modality: str, record: Mapping[str, Any]) -> None:
        super().__init__()
        self.modality, self.record = modality, dict(record)
        self.dim = int(record["dim"])
        self.adapter = ADAPTERS[modality](**record["adapter"]) if modality in ADAPTERS else None
        self.net = import_factory(record["factory"])(**copy.deepcopy(record["kwargs"]))
        self.takes_mask = "mask" in _parameters(self.net.forward)

    def forward(self, *inputs: Any) -> torch.Tensor:
        if self.adapter is None:
            out = self.net(*inputs)
        elif self.modality == "volume":
            b, k = inputs[0].shape[:2]
            out = self.net(self.adapter(*inputs)).reshape(b, k, -1).mean(1)  # [B*K, D] -> [B, K, D] -> [B, D]
        else:
            adapted = self.adapter(*inputs)
            x, mask = adapted if isinstance(adapted, tuple) else (adapted, None)
            if not self.takes_mask:
                self._refuse_padding(inputs[1] if len(inputs) > 1 else None)
            out = self.net(x, mask) if self.takes_mask else self.net(x)
        if out.dim() != 2 or out.shape[1] != self.dim:
            raise ValueError(f"{self.modality} backbone {self.record['factory']} returned {tuple(out.shape)}, "
                             f"expected [B, {self.dim}]; check its output keyword (`out` in the spec)")
        return out

    def _refuse_padding(self, mask: torch.Tensor | None) -> None:
        """ValueError when a mask-less backbone would see time padding that depends on the batch."""
        if self.modality not in ("signal", "video") or self.adapter.length or mask is None or bool(mask.all()):
            return
        lengths = mask.sum(1)
        raise ValueError(
            f"{self.modality} backbone {self.record['factory']} takes no mask, and this batch pads "
            f"{self.modality}s of {int(lengths.min())} to {int(lengths.max())} steps to one length, so an "
            f"embedding would depend on its batch mates; give every sample one fixed length with the adapter "
            f"option `length` (config: encoders: {{{self.modality}: {{factory: ..., adapter: {{length: "
            f"{int(lengths.max())}}}}}}})")


def build(modality: str, dim: int, preset: str = "base", override: Mapping[str, Any] | None = None,
          channels_last: bool = False) -> Encoder:
    """A freshly initialised encoder for `modality` from a preset and an optional spec override."""
    return Encoder(modality, resolve(modality, spec_for(modality, preset, override), dim, channels_last))
