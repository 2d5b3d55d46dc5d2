"""gunicorn's settings for `make serve`: gunicorn reads ./gunicorn.conf.py of the folder it starts in."""

import os
import sys
from pathlib import Path

#: Forwarded headers are believed by the app alone, as TRUSTED_PROXIES says (werkzeug's ProxyFix, app.py). gunicorn's
#: own default believes X-Forwarded-Proto from 127.0.0.1, which would mark a request HTTPS (and its session cookie
#: Secure) with TRUSTED_PROXIES=0, whatever sent it.
forwarded_allow_ips = ""


def on_starting(server):
    """Without a secret, one line and stop, before any worker starts: each worker would fail in create_app with a
    traceback of its own."""
    from app import MissingSecret, instance_secret

    instance = Path(__file__).resolve().parent / "instance"
    if not os.environ.get("SECRET_KEY") and not instance_secret(instance):
        sys.exit(f"Error: {MissingSecret(instance).message}")
