"""Pages: teams (being built)."""

from flask import Blueprint

bp = Blueprint("teams", __name__)
