"""Threshold alerts: rules and their pure state machine (``rules``), evaluation over the store (``evaluate``),
and the outbox with its webhook / e-mail / apprise senders (``notify``).

The pipeline calls ``evaluate_all`` then ``deliver_pending`` after each collection cycle; neither ever raises.
"""
