"""Two small ipywidgets apps: the explanation explorer and the clinicians' prototype review (method §7, §8.3).

Each app is a thin view over a plain Python state object that tests (and scripts) drive without a
display: :class:`ExplorerState` and :class:`ReviewSession`. Only standard ipywidgets are used
(Dropdown, Button, RadioButtons, ToggleButton, Textarea, Text, HTML, Output, VBox/HBox), which exist
in ipywidgets 7 (Colab) and 8 (Jupyter). Figures are put into ``widgets.Output`` as PNG display data
at construction time, so the first state of an app renders in a static page too.
"""
from .display import figure_output
from .explorer import ExplorerState, explanation_explorer
from .review import prototype_review
from .reviews import LIKERT, QUESTIONS, REVIEW_COLUMNS, Rating, ReviewSession, read_reviews, summarize_reviews

__all__ = [
    "LIKERT", "QUESTIONS", "REVIEW_COLUMNS", "Rating", "ReviewSession", "read_reviews", "summarize_reviews",
    "ExplorerState", "explanation_explorer", "prototype_review", "figure_output",
]
