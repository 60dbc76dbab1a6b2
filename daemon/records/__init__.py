"""What a job leaves on disk for people and other tools: the status file beside each
request and the project's ``project.json``, both updated atomically."""
