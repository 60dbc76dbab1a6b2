"""The render stage: strategies (copy, normalize, MoviePy), the segment cache, the join
and the soundtrack. Given a plan, it writes one file."""
