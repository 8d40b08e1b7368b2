"""Learning from what happens to offers: outcomes, attribution, experiments.

Core library only (no Redis, no web): ``serving`` records, ``training`` reports.
"""

from recsys.feedback.outcomes import Outcome, OutcomeBook

__all__ = ["Outcome", "OutcomeBook"]
