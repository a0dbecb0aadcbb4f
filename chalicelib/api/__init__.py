"""HTTP layer: request models, auth, error mapping and the routes blueprint."""
