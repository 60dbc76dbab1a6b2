"""Media files: running ffmpeg, probing sources, and generating sample clips."""
