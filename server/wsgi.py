"""The WSGI application for gunicorn (`gunicorn server.wsgi:app`); settings from $ARCHIVE_CONFIG or config.toml."""

from server import create_app

app = create_app()
