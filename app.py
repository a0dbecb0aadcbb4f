"""Composition root: the Chalice app, its routes blueprint, schedules and queue handlers."""

from chalice import Chalice

from chalicelib.api.routes import blueprint

app = Chalice(app_name="loyalty", configure_logs=False)
app.register_blueprint(blueprint)
