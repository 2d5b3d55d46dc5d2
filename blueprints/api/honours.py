"""Honours for other clients."""

from blueprints.api import Blueprint

blp = Blueprint("api_honours", __name__, description="Honours")
