"""The errors babeldesk shows to people, as opposed to bugs, which are logged with a traceback."""


class BabeldeskError(Exception):
    """An error whose message is meant for the person running babeldesk."""


class ConfigError(BabeldeskError):
    """The configuration is invalid; the message names the key and the problem."""

    def __init__(self, key: str, problem: str):
        self.key = key
        self.problem = problem
        super().__init__(f"config: {key}: {problem}" if key else f"config: {problem}")


class ModelError(BabeldeskError):
    """The model cannot be found, fetched, verified or loaded."""


class AdapterError(BabeldeskError):
    """A chat platform cannot be started: a missing or rejected credential, a busy port."""
