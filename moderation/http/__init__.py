"""What the API's routes and the desk share: access checks, parameters, bodies, responses."""
