"""The pipeline's calibration stage: calibrated probabilities for every model of a run (issue 16).

For the fused model, each branch's own classifier and the baseline, :func:`calibrate_layout`

1. reads the model's saved **validation** logits (``RUN/predictions/val[_<who>].csv``),
2. fits a :class:`~protoecg_lib.evaluation.calibration.Calibration` on them with the class weights
   that model was trained with (the prior correction ``logit - log w_c``, then Platt scaling per
   label shrunk to a pooled fit, and the operating point),
3. writes ``RUN/calibration[_<who>].json`` (:meth:`RunLayout.calibration`) and rewrites the
   ``prob_<code>`` columns of the model's val and test CSVs with calibrated probabilities; the
   ``logit_<code>`` columns stay as they were, so rankings and AUROCs do not change; the run's
   manifest records the rewritten files' new SHA-256 under the predictions stage that declares them.

Nothing is fitted on the test fold. :func:`calibrate_run` does the same for a finished run
(``protoecg calibrate --run RUN``), e.g. one written before the stage existed.
"""
from __future__ import annotations

from ..data.dataset import PTBXL
from ..evaluation.calibration import Calibration, fit_calibration
from ..labels import BRANCHES
from ..runs import Run, RunLayout, read_predictions, record_files, write_predictions
from ..runs.manifest import manifest_entry
from .config import DEFAULT_CALIBRATION, PipelineConfig, stage_config

__all__ = ["CALIBRATED_MODELS", "calibrate_layout", "calibrate_run"]

#: Who gets a calibration, and the training stage whose class weights shaped its logits.
CALIBRATED_MODELS = {"fusion": "fusion", **{b: "classifier" for b in BRANCHES}, "baseline": "feature_extractor"}


def calibrate_layout(layout: RunLayout, data: PTBXL, config: PipelineConfig, settings: dict | None = None,
                     *, rewrite_predictions: bool = True) -> dict[str, Calibration]:
    """Calibrate every model of the run in ``layout`` that has validation predictions.

    Parameters
    ----------
    layout : RunLayout
    data : PTBXL
        The run's data (its training split gives the class weights).
    config : PipelineConfig
        The run's settings: which class-weight formula each model was trained with.
    settings : dict, optional
        ``method``, ``shrinkage``, ``operating_point`` of :func:`fit_calibration`; default
        ``config.calibration``, else :data:`~protoecg_lib.training.config.DEFAULT_CALIBRATION`.
    rewrite_predictions : bool
        Store calibrated probabilities in the ``prob_`` columns of the val and test CSVs.

    Returns
    -------
    dict who -> Calibration
    """
    settings = {**DEFAULT_CALIBRATION, **(settings or config.calibration or {})}
    out, rewritten = {}, []
    for who, stage in CALIBRATED_MODELS.items():
        val_path = layout.predictions("val", who)
        if not val_path.is_file():
            continue
        val = read_predictions(val_path)
        if val.y_logit is None:
            raise ValueError(f"{val_path} has no logit_ columns; re-run its predictions stage before calibrating")
        label_set = "all" if who in ("fusion", "baseline") else who
        formula = stage_config(config.train, stage, None if who in ("fusion", "baseline") else who).class_weights
        pos_weight = data.split("train", label_set).class_weights(formula)                 # (C,)
        cal = fit_calibration(val.y_logit, val.y_true, pos_weight, labels=val.labels, method=settings["method"],
                              shrinkage=float(settings["shrinkage"]), operating_point=settings["operating_point"])
        cal.info["class_weights"] = formula
        cal.save(layout.calibration(who))
        if rewrite_predictions:
            for split in ("val", "test"):
                path = layout.predictions(split, who)
                if not path.is_file():
                    continue
                p = read_predictions(path)
                write_predictions(path, p.ecg_id, p.patient_id, p.labels, p.y_true, p.y_logit, cal.apply(p.y_logit))
                rewritten.append(path)
        out[who] = cal
    if rewritten and layout.manifest.is_file():      # the run's manifest now vouches for the calibrated files,
        for path in rewritten:                         # still under the stage that declares them
            entry = manifest_entry(layout, path)
            record_files(layout, [path], entry["stage"] if entry else "calibration")
    return out


def calibrate_run(run, data: PTBXL | None = None, *, method: str | None = None, shrinkage: float | None = None,
                  operating_point: str | None = None) -> dict[str, Calibration]:
    """(Re)fit the calibration of every model of a finished run from its saved validation predictions.

    Settings not given come from the run's config (or the defaults for a run that has none). The
    run's ``config.json`` records the settings used. Returns ``{who: Calibration}``.
    """
    import json

    from ..files import atomic_write_json

    run = run if isinstance(run, Run) else Run(run)
    meta = json.loads(run.layout.config.read_text())
    config = PipelineConfig.from_dict(meta["pipeline"])
    settings = dict(config.calibration or DEFAULT_CALIBRATION)
    for key, value in (("method", method), ("shrinkage", shrinkage), ("operating_point", operating_point)):
        if value is not None:
            settings[key] = value
    data = data if data is not None else run.load_data()
    cals = calibrate_layout(run.layout, data, config, settings)
    if not cals:
        raise FileNotFoundError(f"{run.path / 'predictions'} holds no validation predictions to calibrate on; "
                                "finish the run first (`protoecg pipeline --out RUN`)")
    meta["pipeline"]["calibration"] = settings
    atomic_write_json(run.layout.config, meta)
    return cals
