"""Celery workers: scoring comments and the periodic sweep and retraining."""
