"""Pages: certificates (being built)."""

from flask import Blueprint

bp = Blueprint("certificates", __name__)
