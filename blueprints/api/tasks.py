"""Needs and tasks for other clients."""

from blueprints.api import Blueprint

blp = Blueprint("api_tasks", __name__, description="Needs and tasks")
