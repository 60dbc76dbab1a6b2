"""assemblyd: turn a shot list dropped into a project folder into one verified export."""

__version__ = "0.1.0"
