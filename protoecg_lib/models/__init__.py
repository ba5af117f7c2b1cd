"""ProtoECGNet models: backbones, prototype layer, branches, the fused model and its configs.

>>> from protoecg_lib.models import ProtoECGNet, get_preset
>>> model = ProtoECGNet(get_preset("fast"))
>>> out = model(signals)           # signals (B, 12, 1000) float32 in mV
>>> out.logits.shape               # (B, 71), LABEL_SETS['all'] order
>>> out.branches["morphology"].window_similarity.shape   # (B, P, 30)
"""
from .backbones import BasicBlock, ResNet18_1D, ResNet18_2D, imagenet_key_map, load_imagenet_resnet18
from .rows import RowConv2d, fast_paths_enabled, set_fast_paths, set_row_shortcut
from .beats import BeatEncoder
from .branch import BranchOutput, LatentCentering, ProtoBranch, make_add_on
from .config import (PRESET_NAMES, BranchConfig, ModelConfig, fast_config, get_preset, latent_length,
                     paper_config, scaled_cosine_scale)
from .fusion import ModelOutput, ProtoECGNet, fusion_class_identity
from .prototypes import (COSINE_EPS, SCALED_COSINE_EPS, PrototypeLayer, class_identity,
                         cosine_similarity, last_layer_weights, pool_windows, scaled_cosine_similarity)

__all__ = [
    "BranchConfig", "ModelConfig", "get_preset", "paper_config", "fast_config", "PRESET_NAMES",
    "latent_length", "scaled_cosine_scale",
    "ResNet18_1D", "ResNet18_2D", "BasicBlock", "RowConv2d", "set_row_shortcut", "set_fast_paths", "fast_paths_enabled",
    "imagenet_key_map", "load_imagenet_resnet18",
    "PrototypeLayer", "cosine_similarity", "scaled_cosine_similarity", "pool_windows",
    "class_identity", "last_layer_weights", "COSINE_EPS", "SCALED_COSINE_EPS",
    "ProtoBranch", "BranchOutput", "make_add_on", "LatentCentering", "BeatEncoder",
    "ProtoECGNet", "ModelOutput", "fusion_class_identity",
]
