"""AI Bubble Tracker: the collection engine.

This package collects headlines, cleans, tags and scores them, stores them and computes their time series.
It imports no web framework: the web layer lives in ``dashboards``.
"""

__version__ = "0.1.0"
