"""Learning from what happens to offers: outcomes, attribution, experiments, the team.

Core library only (no Redis, no web): ``serving`` records, ``training`` reports.
"""

from recsys.feedback.attribution import attribute, shown_items
from recsys.feedback.experiments import (
    Arm,
    Experiment,
    Experiments,
    bucket,
    load_experiments,
)
from recsys.feedback.outcomes import Outcome, OutcomeBook
from recsys.feedback.report import (
    accepted_offers,
    arm_report,
    experiment_report,
    public,
    source_report,
    two_proportions,
    wilson,
)
from recsys.feedback.team import team_report

__all__ = [
    "Arm",
    "Experiment",
    "Experiments",
    "Outcome",
    "OutcomeBook",
    "accepted_offers",
    "arm_report",
    "attribute",
    "bucket",
    "experiment_report",
    "load_experiments",
    "public",
    "shown_items",
    "source_report",
    "team_report",
    "two_proportions",
    "wilson",
]
