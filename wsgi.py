"""WSGI entry point: ``gunicorn wsgi:application`` (README: "Monitoring and logs" for the metrics
directory several workers need)."""

from eproc.web import wsgi_application

application = wsgi_application()
