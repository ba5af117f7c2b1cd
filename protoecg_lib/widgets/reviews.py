"""The clinicians' prototype review as plain state (method §8.3): :class:`ReviewSession` pages through
a class's prototypes, keeps one :class:`Rating` draft per prototype and saves them to a CSV that
:func:`read_reviews` and :func:`summarize_reviews` read. Tests and scripts drive it without a display;
:func:`protoecg_lib.widgets.prototype_review` is the widget over it.

Review CSV (one row per reviewer and prototype; saving again updates the row)::

    reviewer, branch, class, prototype_index, source_ecg_id, representativeness, clarity,
    best, bad, comment, timestamp

Likert scales (method §8.3): 1 strongly disagree ... 5 strongly agree, with the paper's questions.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..files import atomic_write_text
from ..labels import BRANCHES, LABEL_SETS, branch_of

__all__ = ["LIKERT", "QUESTIONS", "REVIEW_COLUMNS", "Rating", "ReviewSession", "read_reviews", "summarize_reviews"]


#: The 5-point Likert scale of the review (method §8.3).
LIKERT = {1: "strongly disagree", 2: "disagree", 3: "neither agree nor disagree", 4: "agree", 5: "strongly agree"}
#: The paper's two review questions (method §8.3).
QUESTIONS = {
    "representativeness": "To what extent does the prototype reflect a typical/defining presentation of the target "
                          "diagnostic class?",
    "clarity": "Is the signal in the prototype interpretable and clear, or does it contain a lot of noise/artifacts?",
}
REVIEW_COLUMNS = ("reviewer", "branch", "class", "prototype_index", "source_ecg_id", "representativeness", "clarity",
                  "best", "bad", "comment", "timestamp")


@dataclass(frozen=True)
class Rating:
    """One reviewer's rating of one prototype (method §8.3). ``None`` = not rated yet."""

    representativeness: int | None = None
    clarity: int | None = None
    best: bool = False
    bad: bool = False
    comment: str = ""
    saved: bool = False


def _likert(value, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or int(value) != value or not 1 <= int(value) <= 5:
        raise ValueError(f"{name} must be a Likert score 1-5 (1 {LIKERT[1]} ... 5 {LIKERT[5]}); got {value!r}")
    return int(value)


def read_reviews(csv_path: str | Path) -> pd.DataFrame:
    """Read a review CSV (empty DataFrame with the review columns when the file does not exist)."""
    path = Path(csv_path)
    if not path.is_file():
        return pd.DataFrame(columns=list(REVIEW_COLUMNS))
    df = pd.read_csv(path, dtype={"reviewer": str, "branch": str, "class": str, "comment": str},
                     keep_default_na=False, na_values={"representativeness": [""], "clarity": [""],
                                                       "source_ecg_id": [""]})
    missing = [c for c in REVIEW_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path} is not a prototype review file: columns {missing} are missing "
                         f"(expected {list(REVIEW_COLUMNS)})")
    for col in ("best", "bad"):
        df[col] = df[col].map(lambda v: str(v).strip().lower() in ("true", "1", "yes"))
    return df[list(REVIEW_COLUMNS)]


def _write_reviews(df: pd.DataFrame, path: Path) -> None:
    atomic_write_text(path, df[list(REVIEW_COLUMNS)].to_csv(index=False))


class ReviewSession:
    """The prototype review as plain state: choose a class, page through its prototypes, rate, save.

    Parameters
    ----------
    sources : dict branch -> list of PrototypeSource, or Run
        Where the three branches' prototypes were projected (only projected prototypes can be reviewed).
    reviewer : str
        Name written into every saved row (needed to save).
    csv_path : path
        The review file; ratings this reviewer saved before are loaded, so a session can resume.

    Notes
    -----
    Every prototype has one :class:`Rating` draft; :meth:`rate`, :meth:`flag` and :meth:`set_comment`
    edit the draft of the current prototype and :meth:`save` writes it to the CSV (adding or
    replacing the row of this reviewer and prototype). One "best prototype" per class and reviewer:
    saving a prototype as best clears the flag on the other prototypes of its class.
    """

    def __init__(self, sources, reviewer: str = "", csv_path: str | Path | None = None):
        from ..runs import PrototypeSource, Run

        if isinstance(sources, Run):
            run = sources
            sources = run.all_prototype_sources()
            csv_path = csv_path or run.path / "prototype_reviews.csv"
        if csv_path is None:
            raise ValueError("ReviewSession needs csv_path (where ratings are saved)")
        self.csv_path = Path(csv_path)
        self.reviewer = str(reviewer).strip()
        self.by_class: dict[str, list[PrototypeSource]] = {}
        self.unprojected: dict[str, int] = {}
        for name in BRANCHES:
            for rec in sources.get(name, []):
                rec = rec if isinstance(rec, PrototypeSource) else PrototypeSource.from_dict(rec)
                if rec.projected:
                    self.by_class.setdefault(rec.label, []).append(rec)
                else:
                    self.unprojected[rec.label] = self.unprojected.get(rec.label, 0) + 1
        order = {c: i for i, c in enumerate(LABEL_SETS["all"])}
        self.classes = sorted(self.by_class, key=lambda c: (BRANCHES.index(branch_of(c)), order.get(c, 0)))
        if not self.classes:
            raise ValueError("no projected prototype to review (every prototype's class lacked a training positive)")
        self.class_code = self.classes[0]
        self.position = 0
        self._drafts: dict[tuple[str, int], Rating] = {}
        self.load()

    # -- navigation -----------------------------------------------------------------------------
    @property
    def prototypes(self) -> list:
        """Prototype sources of the current class, in prototype order."""
        return self.by_class[self.class_code]

    @property
    def current(self):
        """The :class:`~protoecg_lib.runs.records.PrototypeSource` on screen."""
        return self.prototypes[self.position]

    @property
    def key(self) -> tuple[str, int]:
        return self.current.branch, int(self.current.index)

    @property
    def page(self) -> str:
        """``"k/N"`` (1-based) within the current class."""
        return f"{self.position + 1}/{len(self.prototypes)}"

    def select(self, class_code: str) -> "ReviewSession":
        if class_code not in self.by_class:
            why = (f"its {self.unprojected[class_code]} prototype(s) were not projected" if class_code in self.unprojected
                   else "it is not a class of these prototypes")
            raise KeyError(f"cannot review class {class_code!r}: {why}; classes to review: {self.classes}")
        self.class_code, self.position = class_code, 0
        return self

    def next(self) -> "ReviewSession":
        self.position = min(self.position + 1, len(self.prototypes) - 1)
        return self

    def prev(self) -> "ReviewSession":
        self.position = max(self.position - 1, 0)
        return self

    def go(self, position: int) -> "ReviewSession":
        if not 0 <= position < len(self.prototypes):
            raise IndexError(f"class {self.class_code} has {len(self.prototypes)} prototypes; got position {position}")
        self.position = int(position)
        return self

    # -- editing ----------------------------------------------------------------------------------
    @property
    def rating(self) -> Rating:
        """The current prototype's rating (saved or draft)."""
        return self._drafts.get(self.key, Rating())

    def _edit(self, **changes) -> Rating:
        r = replace(self.rating, saved=False, **changes)
        self._drafts[self.key] = r
        return r

    def rate(self, representativeness: int | None = None, clarity: int | None = None) -> Rating:
        """Set one or both Likert scores (1-5) of the current prototype."""
        changes = {}
        if representativeness is not None:
            changes["representativeness"] = _likert(representativeness, "representativeness")
        if clarity is not None:
            changes["clarity"] = _likert(clarity, "clarity")
        return self._edit(**changes)

    def flag(self, best: bool | None = None, bad: bool | None = None) -> Rating:
        """Mark the current prototype as the best of its class and/or as bad (one excludes the other)."""
        if best and bad:
            raise ValueError("a prototype cannot be both the best and a bad prototype")
        changes = {}
        if best is not None:
            changes["best"] = bool(best)
            if best:
                changes["bad"] = False
        if bad is not None:
            changes["bad"] = bool(bad)
            if bad:
                changes["best"] = False
        return self._edit(**changes)

    def set_comment(self, text: str) -> Rating:
        return self._edit(comment=str(text or ""))

    # -- persistence ------------------------------------------------------------------------------
    def load(self) -> None:
        """Read this reviewer's saved ratings from the CSV into the drafts."""
        if not self.reviewer:
            return
        df = read_reviews(self.csv_path)
        for _, row in df[df["reviewer"] == self.reviewer].iterrows():
            key = (row["branch"], int(row["prototype_index"]))
            self._drafts[key] = Rating(
                representativeness=None if pd.isna(row["representativeness"]) else int(row["representativeness"]),
                clarity=None if pd.isna(row["clarity"]) else int(row["clarity"]), best=bool(row["best"]),
                bad=bool(row["bad"]), comment=str(row["comment"] or ""), saved=True)

    def set_reviewer(self, name: str) -> None:
        """Change the reviewer (their saved ratings are loaded; unsaved drafts are dropped)."""
        self.reviewer = str(name).strip()
        self._drafts = {}
        self.load()

    def save(self) -> Path:
        """Write the current prototype's rating to the CSV (add or replace the reviewer's row)."""
        if not self.reviewer:
            raise ValueError("enter the reviewer's name before saving (ReviewSession(reviewer=...) or set_reviewer)")
        r = self.rating
        if r.representativeness is None or r.clarity is None:
            raise ValueError(f"rate both representativeness and clarity (1-5) of {self.class_code} prototype "
                             f"{self.current.index} before saving")
        rec = self.current
        df = read_reviews(self.csv_path)
        same = (df["reviewer"] == self.reviewer) & (df["branch"] == rec.branch) & \
               (df["prototype_index"].astype(int) == int(rec.index))
        df = df[~same]
        if r.best:  # one best prototype per class and reviewer
            others = (df["reviewer"] == self.reviewer) & (df["class"] == rec.label) & df["best"]
            df.loc[others, "best"] = False
            for key, d in list(self._drafts.items()):
                if key != self.key and d.best and any(p.branch == key[0] and int(p.index) == key[1]
                                                      for p in self.by_class[rec.label]):
                    self._drafts[key] = replace(d, best=False)
        row = {"reviewer": self.reviewer, "branch": rec.branch, "class": rec.label,
               "prototype_index": int(rec.index), "source_ecg_id": rec.ecg_id,
               "representativeness": r.representativeness, "clarity": r.clarity, "best": bool(r.best),
               "bad": bool(r.bad), "comment": r.comment,
               "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        df = pd.concat([df, pd.DataFrame([row])], ignore_index=True) if len(df) else pd.DataFrame([row])
        _write_reviews(df, self.csv_path)
        self._drafts[self.key] = replace(r, saved=True)
        return self.csv_path

    def progress(self) -> dict:
        """Prototypes of the current class saved by this reviewer, and in total."""
        saved = {k for k, r in self._drafts.items() if r.saved}
        in_class = sum((p.branch, int(p.index)) in saved for p in self.prototypes)
        total = sum(len(v) for v in self.by_class.values())
        return {"class": self.class_code, "saved_in_class": in_class, "in_class": len(self.prototypes),
                "saved": len(saved), "total": total}


def summarize_reviews(csv_path, by: str = "branch") -> pd.DataFrame:
    """Review results per branch (or per class): mean and SD of both scales, counts, best/bad flags.

    Parameters
    ----------
    csv_path : path or DataFrame
        A review CSV (or :func:`read_reviews`'s frame).
    by : {'branch', 'class'}

    Returns
    -------
    DataFrame
        Indexed by branch (or class) plus an ``all`` row; columns ``ratings``, ``prototypes``,
        ``reviewers``, ``representativeness_mean``, ``representativeness_sd``, ``clarity_mean``,
        ``clarity_sd`` (sample SD, NaN for a single rating), ``best``, ``bad``.
    """
    if by not in ("branch", "class"):
        raise ValueError(f"by must be 'branch' or 'class'; got {by!r}")
    df = csv_path if isinstance(csv_path, pd.DataFrame) else read_reviews(csv_path)
    cols = ["ratings", "prototypes", "reviewers", "representativeness_mean", "representativeness_sd", "clarity_mean",
            "clarity_sd", "best", "bad"]
    if df.empty:
        return pd.DataFrame(columns=cols).rename_axis(by)

    def stats(g: pd.DataFrame) -> dict:
        rep, cla = g["representativeness"].astype(float), g["clarity"].astype(float)
        return {"ratings": len(g), "prototypes": g[["branch", "prototype_index"]].drop_duplicates().shape[0],
                "reviewers": g["reviewer"].nunique(), "representativeness_mean": rep.mean(),
                "representativeness_sd": rep.std(ddof=1), "clarity_mean": cla.mean(), "clarity_sd": cla.std(ddof=1),
                "best": int(g["best"].sum()), "bad": int(g["bad"].sum())}

    order = list(BRANCHES) if by == "branch" else list(LABEL_SETS["all"])
    keys = sorted(df[by].unique(), key=lambda k: order.index(k) if k in order else len(order))
    rows = {k: stats(df[df[by] == k]) for k in keys}
    rows["all"] = stats(df)
    return pd.DataFrame.from_dict(rows, orient="index")[cols].rename_axis(by)


