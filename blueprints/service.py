"""Pages: service (being built)."""

from flask import Blueprint

bp = Blueprint("service", __name__)
