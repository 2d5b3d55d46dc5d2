"""The points market: pages."""

from flask import Blueprint

bp = Blueprint("market", __name__)
