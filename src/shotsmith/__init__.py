"""shotsmith: a self-hosted video-creation agent built on CogVideoX-family models."""

__version__ = "0.1.0"
