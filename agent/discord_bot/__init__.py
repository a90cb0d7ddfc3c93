"""The Discord transport: a discord.py bot over the same Router as the terminal."""

from agent.discord_bot.bot import SelftuneBot, run_bot
from agent.discord_bot.services import BotServices

__all__ = ["SelftuneBot", "BotServices", "run_bot"]
