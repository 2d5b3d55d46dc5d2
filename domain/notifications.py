"""Notifications in the site: the bell and its unread count."""
