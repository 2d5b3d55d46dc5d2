"""Needs and tasks: pages."""

from flask import Blueprint

bp = Blueprint("tasks", __name__)
