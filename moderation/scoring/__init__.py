"""Scoring: toxicity (detoxify), language detection and spam, as plain functions.

Nothing here knows about Celery or HTTP; the worker task calls these on a batch.
"""
