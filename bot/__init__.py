"""babeldesk's conversation core. Nothing here imports a chat platform's library."""

__version__ = "0.1.0"
