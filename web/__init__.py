"""assemblyd's web app: job status, cancellation, live progress and a dashboard."""
