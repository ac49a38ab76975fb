"""Comment moderation service for news sites."""
