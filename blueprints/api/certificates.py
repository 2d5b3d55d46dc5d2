"""Public verification of volunteer service certificates by their number: no sign-in, no personal data."""

from __future__ import annotations

from decimal import Decimal

from flask.views import MethodView
from marshmallow import Schema, fields

from blueprints.api.core import Blueprint
from blueprints.api.schemas import Hours
from blueprints.ext import verify_limited
from domain import certificates

blp = Blueprint("api_certificates", __name__, description="Service certificates")


class CertificateCheckOut(Schema):
    number = fields.String()
    valid = fields.Boolean(metadata={"description": "false once the certificate has been revoked"})
    name = fields.String(metadata={"description": "masked: the first character, then one * per character"})
    hours = Hours(metadata={"description": "certified hours, e.g. \"12.5\""})
    period_from = fields.Date()
    period_to = fields.Date()
    issuer = fields.String(metadata={"description": "the issuing community"})
    issued_at = fields.DateTime()


@blp.route("/certificates/<string:number>")
class CertificateCheck(MethodView):
    decorators = [verify_limited()]

    @blp.doc(security=[])
    @blp.response(200, CertificateCheckOut)
    def get(self, number):
        """Verify a certificate by its number; 404 for a number never issued."""
        facts = certificates.verification(certificates.by_number(number))
        return {**facts, "hours": Decimal(facts["hours"])}
