"""Prometheus exposition (`--metrics`) of the numbers the dashboard and `status` read.

The pure modules here (labels, histogram, sample) are imported by the live client on
every run and import nothing heavy. Only `collector` and `endpoint` import
prometheus_client, and only commands given `--metrics` import them, so start-up
without the flag stays as fast as before.
"""
