"""The service's pages: the reader widget, the demo news page and the moderator desk."""
