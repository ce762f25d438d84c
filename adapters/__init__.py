"""Chat platforms: each turns its events into `bot.message.Message` and renders the `Reply`."""
