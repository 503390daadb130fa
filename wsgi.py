"""WSGI entry point: ``gunicorn wsgi:application``."""

from eproc.web import create_app

application = create_app()
