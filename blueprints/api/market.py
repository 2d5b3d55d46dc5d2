"""The points market for other clients."""

from blueprints.api import Blueprint

blp = Blueprint("api_market", __name__, description="The points market")
