"""protoecg_lib: ProtoECGNet (Sethi et al., MLHC 2025) for 12-lead ECGs on PTB-XL.

The core, bottom up: :mod:`labels`, :mod:`settings`, :mod:`device`, :mod:`files`, :mod:`cooccurrence`;
:mod:`data` (PTB-XL on disk) and :mod:`synthetic` (a PTB-XL with known evidence); :mod:`models`;
:mod:`training` (losses, stages, projection, the pipeline); :mod:`runs` (the run directory);
:mod:`evaluation` (metrics, evaluation of a run, explanations and their quality). On top:
:mod:`plotting` (every figure), :mod:`widgets`, :mod:`teaching` (the book's helpers) and :mod:`cli`.
DEVELOPING.md in the repository draws the map.
"""
__version__ = "0.2.0"
