"""Schemas the pages and the API share: what a scanner sends, from the staff scanner page and from the API alike."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from blueprints import bounds
from domain import events

NONCE = bounds.Line(load_default=None, validate=validate.Length(min=1, max=events.NONCE_MAX),
                    metadata={"description": "the scanner's id for this scan: a retry with it counts once"})
TOKEN = bounds.Line(required=True, validate=validate.Length(min=1, max=512))


class ScanIn(Schema):
    token = TOKEN
    nonce = NONCE
    action = fields.String(load_default="in", validate=validate.OneOf(["in", "out"]))


class OfflineScanIn(ScanIn):
    scanned_at = bounds.When(bounds.PAST, required=True)


class BatchIn(Schema):
    scans = fields.List(fields.Nested(OfflineScanIn), required=True, validate=validate.Length(min=1, max=500))
