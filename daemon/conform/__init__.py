"""Conform: an editor's timeline (EDL, OTIO, FCP XML, FCPXML, AAF) read into events."""
