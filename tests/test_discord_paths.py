"""The Discord adapter's settings that change where it answers, or whether: support_threads:
false, ignore_channels and direct_messages: false; real discord.py against the fake Discord.

The stand-in engine of engines.py answers, so that these test the adapter and not the model's
speed."""

from __future__ import annotations

from fake_discord import (BOT_ID, DM_CHANNEL, GENERAL, GUILD, SUPPORT, mention, message_create,
                          snowflake, thread_create)
# a core and a connected adapter, as the main Discord tests set them up
from test_discord import (WAIT, connected, discord_core, finished, posts,  # noqa: F401
                          settle)

from bot.history import ConversationKey

THREADS = r"/channels/\d+(/messages/\d+)?/threads"


def spoken_in(fake):
    """The channels the bot wrote, typed or opened a thread in."""
    return {c.path.split("/")[2] for c in fake.calls if c.method in ("POST", "PATCH")
            and c.path.startswith("/channels/")}


async def test_without_support_threads_the_answer_replies_in_the_channel(discord_fake,
                                                                        discord_core,
                                                                        scripted):
    fake = discord_fake
    adapter = await connected(discord_core, support_threads=False)
    try:
        question = message_create("How long does delivery take?", SUPPORT)
        await fake.dispatch("MESSAGE_CREATE", question)
        await fake.wait_for(lambda: finished(fake, SUPPORT), timeout=WAIT)
        follow_up = message_create("And how much is express delivery?", SUPPORT)
        await fake.dispatch("MESSAGE_CREATE", follow_up)
        await fake.wait_for(lambda: len(finished(fake, SUPPORT)) == 2, timeout=WAIT)
        await settle(fake, adapter)
    finally:
        await adapter.stop()
    assert not fake.calls_to("POST", THREADS)  # no thread was opened
    assert spoken_in(fake) == {str(SUPPORT)}
    # Each answer replies to its question, in the channel itself.
    replies = [c for c in posts(fake, SUPPORT) if c.json.get("message_reference")]
    assert [str(r.json["message_reference"]["message_id"]) for r in replies] == \
        [question["id"], follow_up["id"]]
    assert [c.status for c in posts(fake, SUPPORT)] == [200] * len(posts(fake, SUPPORT))
    # Without threads the channel is one conversation: the follow-up knew the first answer.
    key = ConversationKey("discord", str(GUILD), str(SUPPORT), "")
    assert discord_core.history.count(key) == 4
    assert [m["role"] for m in scripted.calls[-1][1]] == ["system", "user", "assistant", "user"]


async def test_ignored_channels_get_no_answer_even_to_a_mention(discord_fake, discord_core,
                                                               scripted):
    fake = discord_fake
    adapter = await connected(discord_core, ignore_channels=[str(GENERAL), str(SUPPORT)])
    try:
        thread = snowflake()
        await fake.dispatch("THREAD_CREATE", {**thread_create("Refund?", GENERAL,
                                                              thread_id=thread),
                                              "guild_id": str(GUILD)})
        quiet = [
            message_create(f"{mention(BOT_ID)} How do I get a refund?", GENERAL,
                           mentions=[BOT_ID]),
            # in a thread of an ignored channel
            message_create(f"{mention(BOT_ID)} How do I get a refund?", thread,
                           mentions=[BOT_ID], channel_type=11),
            # a support channel that is also ignored: ignoring wins
            message_create("How do I get a refund?", SUPPORT),
        ]
        for event in quiet:
            await fake.dispatch("MESSAGE_CREATE", event)
        # A DM is still answered: the bot is up, it only keeps out of those channels.
        await fake.dispatch("MESSAGE_CREATE", message_create(
            "How do I get a refund?", DM_CHANNEL, guild_id=None))
        await fake.wait_for(lambda: finished(fake, DM_CHANNEL), timeout=WAIT)
        await settle(fake, adapter)
    finally:
        await adapter.stop()
    assert spoken_in(fake) == {str(DM_CHANNEL)}
    assert len(scripted.calls) == 1


async def test_direct_messages_off_leaves_dms_unanswered(discord_fake, discord_core, scripted):
    fake = discord_fake
    adapter = await connected(discord_core, direct_messages=False)
    try:
        for text in ("How do I get a refund?", f"{mention(BOT_ID)} How do I get a refund?"):
            await fake.dispatch("MESSAGE_CREATE", message_create(
                text, DM_CHANNEL, guild_id=None, mentions=[BOT_ID] if "<@" in text else []))
        # A mention in a server channel is still answered.
        await fake.dispatch("MESSAGE_CREATE", message_create(
            f"{mention(BOT_ID)} How do I get a refund?", GENERAL, mentions=[BOT_ID]))
        await fake.wait_for(lambda: finished(fake, GENERAL), timeout=WAIT)
        await settle(fake, adapter)
    finally:
        await adapter.stop()
    assert spoken_in(fake) == {str(GENERAL)}
    assert len(scripted.calls) == 1
