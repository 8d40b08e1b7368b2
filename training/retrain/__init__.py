"""Scheduled retraining behind a quality gate (``recsys retrain``).

One run reads the history and the service's events since, trains a candidate with
production's configuration, backtests both on the newest days, checks the data, and
promotes the candidate only when the gate passes: :mod:`training.retrain.job` runs
the steps; :mod:`~training.retrain.production`, :mod:`~training.retrain.sources`,
:mod:`~training.retrain.backtest`, :mod:`~training.retrain.checks`,
:mod:`~training.retrain.gate` and :mod:`~training.retrain.publish` are the parts.
"""
