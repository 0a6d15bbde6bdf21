"""The marketplace service: HTTP API, auth, configuration, CLI and jobs."""
