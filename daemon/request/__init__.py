"""The request document: its models, how it is read, and its JSON Schema."""
