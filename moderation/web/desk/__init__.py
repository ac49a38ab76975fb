"""The moderator desk: pages, their JSON routes, sessions and forms."""
