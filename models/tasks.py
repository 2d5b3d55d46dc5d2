"""Residents' needs and the tasks heads and teams claim (点单/接单); notifications in the site."""
