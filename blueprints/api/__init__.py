"""The JSON API v1 (docs/api.md; the OpenAPI document it serves is the contract): flask-smorest blueprints, bearer
tokens, one error shape (blueprints/api/core.py)."""

from __future__ import annotations

from flask import Flask

from blueprints.api.core import Api


def init_app(app: Flask) -> None:
    # Here, not at the top: importing blueprints.api.core (as blueprints.ext does) runs this package first.
    from blueprints.api import (
        areas,
        auth,
        certificates,
        events,
        health,
        honours,
        households,
        insight,
        market,
        people,
        service,
        sync,
        tasks,
        teams,
        webhooks,
    )
    from blueprints.ext import csrf, limiter

    app.config.setdefault("API_SPEC_OPTIONS", {
        "security": [{"bearerAuth": []}],
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
    })
    api = Api(app, spec_kwargs={"limiter": limiter})
    for module in (auth, health, areas, people, households, service, certificates, events, tasks, market, honours,
                   insight, teams, webhooks, sync):
        csrf.exempt(module.blp)
        api.register_blueprint(module.blp, url_prefix="/api/v1")
