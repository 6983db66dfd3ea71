"""Report Archive's web server (Flask)."""
