"""Composition root: the Chalice app, its routes blueprint, schedules and queue handlers."""

from chalice import Chalice

from chalicelib.api.routes import blueprint
from chalicelib.observability import observe

app = Chalice(app_name="loyalty", configure_logs=False)
app.register_middleware(observe, "all")
app.register_blueprint(blueprint)
