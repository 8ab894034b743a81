"""File input and output for the CLI: sources (BestSource / PyAV), encoders (PyAV / ffmpeg), audio remux."""
