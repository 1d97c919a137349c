"""midway-plugin: Midway Network (Hoang & Ren, ICLR 2026) for Lightly, MMSegmentation and MMFlow."""

__version__ = "0.1.0"
