"""Honours: pages."""

from flask import Blueprint

bp = Blueprint("honours", __name__)
