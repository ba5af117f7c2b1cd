"""protoecg_lib: ProtoECGNet (Sethi et al., MLHC 2025) for 12-lead ECGs on PTB-XL.

Modules, one idea each: :mod:`labels` (the 71 SCP statements and branch label sets),
:mod:`data` (PTB-XL reading, cache, preprocessing, splits, download, synthetic data),
:mod:`cooccurrence`, :mod:`models`, :mod:`losses`, :mod:`train`, :mod:`push`, :mod:`metrics`,
:mod:`explain`, :mod:`plotting`, :mod:`widgets`, :mod:`checkpoints`, :mod:`cli`.
"""
__version__ = "0.2.0"
