"""The Discord adapter: real discord.py against a fake Discord on 127.0.0.1.

The stand-in engine of engines.py answers in most tests, so that they test the adapter and not
the model's speed; one test has the real model answer a mention end to end."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from fake_discord import (AGENT, APP_ID, BOT_ID, CUSTOMER, DM_CHANNEL, GENERAL, GUILD, OTHER_BOT,
                          SUPPORT, SUPPORT_ROLE, action_row, button, interaction_create, mention,
                          app_command, message_create, text_channel, thread_create)

from adapters import settings
from adapters.discord import TYPING, DiscordAdapter, DiscordOutbox
from bot.core import open_core
from bot.errors import AdapterError
from bot.history import ConversationKey, Turn
from bot.message import Answer
from bot.texts import TEXTS

TOKEN = "MTA4NTEzMTkzMjkzODkyODEyOA.GfAkEz.fake-token-for-tests-only_0123456789abc"
#: deadlines, not expectations: a loaded machine is slow, and an idle one passes at once
WAIT = 120
MODEL_WAIT = 600


def open_discord_core(write_config, engine, max_tokens):
    config = write_config(model={"max_tokens": max_tokens}, adapters={"discord": {
        "support_channels": [str(SUPPORT)], "handoff_role": str(SUPPORT_ROLE)}})
    return open_core(config, engine=engine, watch=False)


@pytest.fixture
def discord_core(write_config, scripted):
    core = open_discord_core(write_config, scripted, max_tokens=400)
    yield core
    core.close()


async def connected(core, **changes):
    config = dataclasses.replace(settings(core.config, DiscordAdapter), **changes)
    adapter = DiscordAdapter(core.pipeline, config, TOKEN, guild_ready_timeout=0.1)
    await adapter.start()
    await asyncio.wait_for(adapter.wait_until_ready(), WAIT)
    return adapter


@pytest.fixture
async def adapter(discord_fake, discord_core):
    adapter = await connected(discord_core)
    yield adapter
    await adapter.stop()


def posts(fake, channel):
    return fake.calls_to("POST", f"/channels/{channel}/messages")


def edits(fake, channel):
    return fake.calls_to("PATCH", rf"/channels/{channel}/messages/\d+")


def finished(fake, channel):
    """Calls that carried the answer's buttons and went through: the answer is complete."""
    return [c for c in posts(fake, channel) + edits(fake, channel)
            if (c.json or {}).get("components") and c.status == 200]


def custom_ids(call):
    return [b["custom_id"] for row in call.json["components"] for b in row["components"]]


async def settle(fake, adapter):
    """Wait until discord.py read every event sent so far and the adapter's message handlers
    finished: all that these events make the bot do has been done by then."""
    await fake.wait_until_read(timeout=WAIT)
    await fake.wait_for(lambda: not adapter.handlers.tasks, timeout=WAIT)


def check_reply(fake, core, asked):
    """The reply to `asked` in GENERAL, edited at most once a second, with sources and
    buttons; returns its changes."""
    assert fake.calls_to("POST", f"/channels/{GENERAL}/typing")
    first = posts(fake, GENERAL)[0]
    assert str(first.json["message_reference"]["message_id"]) == asked["id"]
    changes = [first] + edits(fake, GENERAL)
    gaps = [b.at - a.at for a, b in zip(changes, changes[1:])]
    assert not gaps or min(gaps) >= 0.95, gaps  # at most one edit per second
    assert all(len(c.json.get("content") or "") <= 2000 for c in changes)
    final = finished(fake, GENERAL)[-1]
    assert final is changes[-1]
    assert final.json["embeds"][0]["description"].startswith("📄 en/")
    ids = custom_ids(final)
    assert [i.rsplit(":", 1)[0] for i in ids] == ["babeldesk:up", "babeldesk:down",
                                                   "babeldesk:human"]
    turn = core.history.turn(int(ids[0].rsplit(":", 1)[1]))
    assert turn.role == "assistant" and turn.text.strip()
    # Outside threads, the conversation is the channel: guild + channel.
    assert core.history.count(ConversationKey("discord", str(GUILD), str(GENERAL), "")) == 2
    return changes, turn


@pytest.mark.model
async def test_the_model_answers_a_mention(discord_fake, write_config, engine):
    fake = discord_fake
    core = open_discord_core(write_config, engine, max_tokens=48)
    adapter = await connected(core)
    try:
        asked = message_create(f"{mention(BOT_ID)} How do I descale my kettle?", GENERAL,
                               mentions=[BOT_ID])
        await fake.dispatch("MESSAGE_CREATE", asked)
        await fake.wait_for(lambda: finished(fake, GENERAL), timeout=MODEL_WAIT)
        _, turn = check_reply(fake, core, asked)
        assert core.pipeline.detector.detect_document(turn.text) == "en", turn.text
    finally:
        await adapter.stop()
        core.close()


async def test_a_mention_gets_a_streamed_reply_with_sources_and_buttons(discord_fake, adapter,
                                                                       discord_core,
                                                                       scripted):
    fake = discord_fake
    # The answer goes on slowly until its first part was posted, then ends.
    scripted.hold(lambda: posts(fake, GENERAL), pace=0.2)
    asked = message_create(f"{mention(BOT_ID)} How do I descale my kettle? Please explain "
                           "every step.",
                           GENERAL, mentions=[BOT_ID])
    await fake.dispatch("MESSAGE_CREATE", asked)
    await fake.wait_for(lambda: finished(fake, GENERAL), timeout=WAIT)

    assert scripted.released == [True]
    changes, _ = check_reply(fake, discord_core, asked)
    assert len(changes) >= 2, "expected the reply to be edited as the model writes"
    streamed = changes[0].json["content"]
    assert streamed.endswith(f" {TYPING}") and not changes[0].json.get("components")
    assert changes[-1].json["content"].startswith(streamed.removesuffix(f" {TYPING}"))


async def test_an_answer_failing_the_check_is_replaced_by_the_articles_words(discord_fake,
                                                                             adapter,
                                                                             scripted):
    fake = discord_fake
    # The first sentence is the article's; the second makes a number up.
    scripted.answer = ("Fill the kettle with a mix of half water and half white vinegar, and "
                       "boil it. Then leave the mixture in the kettle for 45 minutes.")
    scripted.hold(lambda: posts(fake, GENERAL), pace=0.2)
    asked = message_create(f"{mention(BOT_ID)} How do I descale my kettle?", GENERAL,
                           mentions=[BOT_ID])
    await fake.dispatch("MESSAGE_CREATE", asked)
    await fake.wait_for(lambda: finished(fake, GENERAL), timeout=WAIT)
    changes = posts(fake, GENERAL) + edits(fake, GENERAL)
    assert "half white vinegar" in changes[0].json["content"]
    assert not any("45" in (c.json or {}).get("content", "") for c in changes)
    final = finished(fake, GENERAL)[-1].json["content"]
    assert final.startswith(TEXTS["en"]["quote_intro"] + "\n\n> ")
    assert "30 minutes" in final


async def test_support_channel_opens_a_thread_and_follows_up_there(discord_fake, adapter,
                                                                  discord_core, scripted):
    fake = discord_fake
    question = message_create("How long does delivery take?", SUPPORT)
    await fake.dispatch("MESSAGE_CREATE", question)
    threads = lambda: fake.calls_to("POST", rf"/channels/{SUPPORT}/messages/\d+/threads")  # noqa
    await fake.wait_for(threads, timeout=WAIT)
    thread_id = int(question["id"])  # a thread started from a message takes its id
    assert threads()[0].json["name"] == "How long does delivery take?"
    await fake.wait_for(lambda: finished(fake, thread_id), timeout=WAIT)
    assert posts(fake, SUPPORT) == []  # the answer went into the thread

    follow_up = message_create("And how much is express delivery?", thread_id)
    await fake.dispatch("MESSAGE_CREATE", follow_up)
    await fake.wait_for(lambda: len(finished(fake, thread_id)) == 2, timeout=WAIT)
    key = ConversationKey("discord", str(GUILD), str(SUPPORT), str(thread_id))
    assert discord_core.history.count(key) == 4
    # The follow-up was written knowing the first exchange.
    assert [m["role"] for m in scripted.calls[-1][1]] == ["system", "user", "assistant", "user"]


async def test_bots_webhooks_system_messages_and_chatter_are_ignored(discord_fake, adapter,
                                                                    scripted):
    fake = discord_fake
    noise = [
        message_create(f"{mention(BOT_ID)} How do I reset my password?", GENERAL, bot=True,
                       mentions=[BOT_ID]),
        message_create(f"{mention(BOT_ID)} How do I reset my password?", GENERAL,
                       webhook_id=OTHER_BOT + 1, mentions=[BOT_ID]),
        message_create(f"{mention(BOT_ID)} How do I reset my password?", GENERAL,
                       author=BOT_ID, mentions=[BOT_ID]),
        message_create("", GENERAL, type=7),  # "a user joined"
        message_create("How do I reset my password?", GENERAL),  # not addressed to the bot
    ]
    for event in noise:
        await fake.dispatch("MESSAGE_CREATE", event)
    await settle(fake, adapter)
    assert [c for c in fake.calls if c.method != "GET" and "/commands" not in c.path] == []
    assert scripted.calls == []


async def test_a_dm_after_a_reconnect_and_a_rate_limit(discord_fake, adapter):
    fake = discord_fake
    await fake.disconnect()
    await fake.wait_for_connections(2, timeout=WAIT)
    fake.rate_limit("POST", rf"/channels/{DM_CHANNEL}/messages", count=1)
    await fake.dispatch("MESSAGE_CREATE", message_create("¿Cuánto tarda el envío?", DM_CHANNEL,
                                                         guild_id=None))
    await fake.wait_for(lambda: finished(fake, DM_CHANNEL), timeout=WAIT)
    statuses = [c.status for c in posts(fake, DM_CHANNEL)]
    assert statuses[0] == 429 and 200 in statuses[1:]  # discord.py's limiter retried
    assert finished(fake, DM_CHANNEL)[-1].json["embeds"][0]["title"] == "Fuentes"


async def test_a_failing_channel_does_not_stop_the_bot(discord_fake, adapter):
    fake = discord_fake
    fake.failing_channels.add(GENERAL)
    await fake.dispatch("MESSAGE_CREATE", message_create(
        f"{mention(BOT_ID)} How do I reset my password?", GENERAL, mentions=[BOT_ID]))
    await fake.wait_for(lambda: posts(fake, GENERAL), timeout=WAIT)
    await fake.dispatch("MESSAGE_CREATE", message_create(
        "How do I reset my password?", DM_CHANNEL, guild_id=None))
    await fake.wait_for(lambda: finished(fake, DM_CHANNEL), timeout=WAIT)


async def test_buttons_store_feedback_hand_off_and_release(discord_fake, adapter, discord_core):
    fake = discord_fake
    question = message_create("How do I get a refund?", SUPPORT)
    await fake.dispatch("MESSAGE_CREATE", question)
    thread = int(question["id"])
    await fake.wait_for(lambda: finished(fake, thread), timeout=WAIT)
    final = finished(fake, thread)[-1]
    answer_message = fake.messages[int(final.response["id"])]
    up, down, human = custom_ids(final)
    turn = int(up.rsplit(":", 1)[1])

    await fake.dispatch("INTERACTION_CREATE", interaction_create(down, answer_message))
    await fake.wait_for(lambda: discord_core.history.feedback(turn) == {str(CUSTOMER): -1},
                        timeout=WAIT)
    callbacks = fake.calls_to("POST", r"/interactions/\d+/[^/]+/callback")
    assert callbacks[-1].json["type"] == 6

    await fake.dispatch("INTERACTION_CREATE", interaction_create(human, answer_message))
    await fake.wait_for(lambda: len(fake.calls_to(
        "POST", r"/interactions/\d+/[^/]+/callback")) == 2, timeout=WAIT)
    handoff = fake.calls_to("POST", r"/interactions/\d+/[^/]+/callback")[-1].json
    assert handoff["type"] == 4
    assert handoff["data"]["content"].startswith(f"<@&{SUPPORT_ROLE}> ")
    release_id = handoff["data"]["components"][0]["components"][0]["custom_id"]

    await settle(fake, adapter)
    calls = len(fake.calls)
    await fake.dispatch("MESSAGE_CREATE", message_create("Hello? Anyone there?", thread))
    await fake.dispatch("MESSAGE_CREATE", message_create(
        f"{mention(BOT_ID)} How do I get a refund?", thread, mentions=[BOT_ID]))
    await settle(fake, adapter)
    assert len(fake.calls) == calls  # silent while people handle the thread

    handoff_message = message_create("handoff", thread, author=BOT_ID, components=[
        action_row(button(release_id, "Let the bot answer again"))])
    # The customer may not give the thread back to the bot; the agent (Support role) may.
    await fake.dispatch("INTERACTION_CREATE", interaction_create(release_id, handoff_message))
    await fake.wait_for(lambda: fake.calls_to("POST", r"/interactions/\d+/[^/]+/callback")[-1]
                        .json["data"].get("flags") == 64, timeout=WAIT)
    refused = fake.calls_to("POST", r"/interactions/\d+/[^/]+/callback")[-1].json["data"]
    assert refused["content"] == TEXTS["en"]["only_staff"]
    assert discord_core.history.is_handed_off(
        ConversationKey("discord", str(GUILD), str(SUPPORT), str(thread)))
    await fake.dispatch("INTERACTION_CREATE", interaction_create(release_id, handoff_message,
                                                                 user=AGENT))
    released = discord_core.pipeline.texts.get("released", "en")
    await fake.wait_for(lambda: fake.calls_to("POST", r"/interactions/\d+/[^/]+/callback")[-1]
                        .json["data"].get("content") == released, timeout=WAIT)
    await fake.dispatch("MESSAGE_CREATE", message_create("And how long does it take?", thread))
    await fake.wait_for(lambda: len(finished(fake, thread)) == 2, timeout=WAIT)


async def test_buttons_posted_before_a_restart_still_work(discord_fake, discord_core):
    key = ConversationKey("discord", str(GUILD), str(GENERAL), "")
    turn = discord_core.history.add_exchange(key, Turn("user", "q", str(CUSTOMER)),
                                             Turn("assistant", "a", str(CUSTOMER)))
    old_answer = message_create("a", GENERAL, author=BOT_ID, components=[action_row(
        button(f"babeldesk:up:{turn}", "👍"), button(f"babeldesk:down:{turn}", "👎"))])
    adapter = await connected(discord_core)  # a fresh process: nothing in memory about it
    try:
        await discord_fake.dispatch("INTERACTION_CREATE",
                                    interaction_create(f"babeldesk:up:{turn}", old_answer))
        await discord_fake.wait_for(
            lambda: discord_core.history.feedback(turn) == {str(CUSTOMER): 1}, timeout=WAIT)
    finally:
        await adapter.stop()


async def test_a_long_answer_is_split_at_2000_characters(discord_fake, adapter, discord_core):
    code = "```python\n" + "\n".join(f"kettle.boil({i})  # step {i}" for i in range(150)) + \
        "\n```"
    text = ("Descaling takes a few steps. " * 40 + "\n\n" + code +
            "\n\nRinse twice before the next boil.")
    answer = Answer(text, "en", kind="answer", turn_id=1)
    channel = adapter.client.get_channel(GENERAL)
    await adapter.replies.post(DiscordOutbox(channel, None, adapter), answer)
    sent = posts(discord_fake, GENERAL)
    assert len(sent) >= 3
    contents = [c.json["content"] for c in sent]
    assert all(len(c) <= 2000 for c in contents)
    assert all(c.count("```") % 2 == 0 for c in contents)
    assert contents[-1].endswith("Rinse twice before the next boil.")
    assert sent[-1].json["components"] and not sent[0].json.get("components")
    assert not sent[0].json.get("embeds")


async def test_a_missing_or_rejected_token_is_one_clear_line(discord_fake, discord_core,
                                                            monkeypatch):
    monkeypatch.delenv("DISCORD_BOT_TOKEN", raising=False)
    with pytest.raises(AdapterError, match="set DISCORD_BOT_TOKEN"):
        DiscordAdapter.from_config(discord_core.config, discord_core.pipeline)
    discord_fake.rejected_tokens.add(TOKEN)
    adapter = DiscordAdapter(discord_core.pipeline, settings(discord_core.config, DiscordAdapter),
                             TOKEN)
    with pytest.raises(AdapterError, match="rejected the bot token in DISCORD_BOT_TOKEN"):
        await adapter.start()



async def test_only_the_asker_calls_a_person(discord_fake, adapter, discord_core):
    fake = discord_fake
    question = message_create(f"{mention(BOT_ID)} How do I get a refund?", GENERAL,
                              mentions=[BOT_ID])
    await fake.dispatch("MESSAGE_CREATE", question)
    await fake.wait_for(lambda: finished(fake, GENERAL), timeout=WAIT)
    final = finished(fake, GENERAL)[-1]
    human = custom_ids(final)[-1]
    answer_message = fake.messages[int(final.response["id"])]
    await fake.dispatch("INTERACTION_CREATE", interaction_create(human, answer_message,
                                                                 user=OTHER_BOT + 7))
    callbacks = lambda: fake.calls_to("POST", r"/interactions/\d+/[^/]+/callback")  # noqa
    await fake.wait_for(callbacks, timeout=WAIT)
    told = callbacks()[-1].json
    assert told["data"]["flags"] == 64 and told["data"]["content"] == TEXTS["en"]["only_asker"]
    assert not discord_core.history.is_handed_off(
        ConversationKey("discord", str(GUILD), str(GENERAL), ""))


FORUM = 932938302250690001
LONG = "Fill the kettle with a mix of half water and half white vinegar, and boil it. " * 40


def forum_channel(channel_id: int, name: str) -> dict:
    return {**text_channel(channel_id, name, position=3), "type": 15, "available_tags": [],
            "default_reaction_emoji": None, "default_sort_order": None,
            "default_forum_layout": 0, "default_thread_rate_limit_per_user": 0}


async def test_a_post_in_a_listed_forum_is_answered_without_a_mention(discord_fake,
                                                                     discord_core):
    fake = discord_fake
    fake.add_channel(forum_channel(FORUM, "help"))
    fake.add_channel(forum_channel(FORUM + 1, "ideas"))  # not listed
    adapter = await connected(discord_core, support_channels=[str(SUPPORT), str(FORUM)])
    try:
        for forum, post in ((FORUM + 1, FORUM + 11), (FORUM, FORUM + 10)):
            await fake.dispatch("THREAD_CREATE", {**thread_create(
                "Refund?", forum, thread_id=post), "guild_id": str(GUILD)})
            # A forum post's first message has the post's (the thread's) id.
            await fake.dispatch("MESSAGE_CREATE", message_create(
                "How do I get a refund? I ordered last week.", post, message_id=post,
                channel_type=11))
        await fake.wait_for(lambda: finished(fake, FORUM + 10), timeout=WAIT)
        await settle(fake, adapter)
        assert posts(fake, FORUM + 11) == []  # a forum nobody listed
        assert not fake.calls_to("POST", r"/channels/\d+/messages/\d+/threads")  # no new thread
        key = ConversationKey("discord", str(GUILD), str(FORUM), str(FORUM + 10))
        assert discord_core.history.count(key) == 2
    finally:
        await adapter.stop()


async def test_a_deleted_reply_stops_the_answer_and_stores_nothing(discord_fake, adapter,
                                                                   discord_core, scripted):
    fake = discord_fake
    scripted.answer = LONG
    scripted.hold(lambda: False, after=1, pace=0.3)
    await fake.dispatch("MESSAGE_CREATE", message_create(
        f"{mention(BOT_ID)} How do I descale my kettle?", GENERAL, mentions=[BOT_ID]))
    await fake.wait_for(lambda: [c for c in posts(fake, GENERAL) if c.status == 200],
                        timeout=WAIT)
    # A moderator deletes the answer while it is being written.
    fake.messages.pop(int(posts(fake, GENERAL)[0].response["id"]))
    await fake.wait_for(lambda: edits(fake, GENERAL), timeout=WAIT)
    await fake.wait_for(lambda: discord_core.pipeline.in_progress == 0
                        and not adapter.handlers.tasks, timeout=WAIT)
    assert [c.status for c in edits(fake, GENERAL)] == [404]  # nothing more was tried
    assert len(posts(fake, GENERAL)) == 1
    assert discord_core.history.db.execute("SELECT count(*) FROM turns").fetchone() == (0,)
    generated = discord_core.pipeline.metrics.registry.get_sample_value(
        "babeldesk_generated_tokens_total")
    assert generated < 300, generated


def interaction_callbacks(fake):
    return fake.calls_to("POST", r"/interactions/\d+/[^/]+/callback")


async def test_a_dm_offers_a_person_only_where_the_team_is_told(discord_fake, adapter):
    fake = discord_fake
    await fake.dispatch("MESSAGE_CREATE", message_create("How do I get a refund?", DM_CHANNEL,
                                                         guild_id=None))
    await fake.wait_for(lambda: finished(fake, DM_CHANNEL), timeout=WAIT)
    ids = custom_ids(finished(fake, DM_CHANNEL)[-1])
    # Staff cannot join a DM with the bot, and no handoff channel is set: no false promise.
    assert [i.split(":")[1] for i in ids] == ["up", "down"]


async def test_a_dm_handoff_reaches_the_team_who_claim_and_release_it(discord_fake,
                                                                     discord_core):
    fake = discord_fake
    adapter = await connected(discord_core, handoff_channel=str(GENERAL))
    try:
        await fake.dispatch("MESSAGE_CREATE", message_create(
            "¿Cómo consigo un reembolso?", DM_CHANNEL, guild_id=None))
        await fake.wait_for(lambda: finished(fake, DM_CHANNEL), timeout=WAIT)
        final = finished(fake, DM_CHANNEL)[-1]
        human = custom_ids(final)[-1]
        answer_message = fake.messages[int(final.response["id"])]
        await fake.dispatch("INTERACTION_CREATE", interaction_create(human, answer_message,
                                                                     guild_id=None))
        await fake.wait_for(lambda: [c for c in posts(fake, GENERAL) if c.status == 200],
                            timeout=WAIT)
        told = interaction_callbacks(fake)[-1].json["data"]
        # The customer is told the truth, in their language; no role is pinged in a DM.
        assert told["content"] == TEXTS["es"]["handoff_done_direct"]
        notice = posts(fake, GENERAL)[-1].json
        assert notice["content"].startswith(f"<@&{SUPPORT_ROLE}> ")
        assert f"<@{CUSTOMER}>" in notice["content"] and "español" in notice["content"]
        assert "> ¿Cómo consigo un reembolso?" in notice["embeds"][0]["description"]
        claim, release = custom_ids(posts(fake, GENERAL)[-1])
        key = ConversationKey("discord", "", str(DM_CHANNEL), "")
        assert claim == f"babeldesk:claim:{key.id}" and release == f"babeldesk:release:{key.id}"
        notice_message = fake.messages[int(posts(fake, GENERAL)[-1].response["id"])]

        # A customer cannot claim; the agent (Support role) can: the customer hears who.
        await fake.dispatch("INTERACTION_CREATE", interaction_create(claim, notice_message))
        await fake.wait_for(lambda: interaction_callbacks(fake)[-1].json["data"].get("flags")
                            == 64, timeout=WAIT)
        await fake.dispatch("INTERACTION_CREATE", interaction_create(claim, notice_message,
                                                                     user=AGENT))
        claimed = TEXTS["es"]["claimed"].format(agent=f"<@{AGENT}>")
        await fake.wait_for(lambda: posts(fake, DM_CHANNEL)[-1].json["content"] == claimed,
                            timeout=WAIT)
        assert interaction_callbacks(fake)[-1].json["type"] == 7  # the notice, updated
        assert discord_core.history.is_handed_off(key)
        await fake.dispatch("INTERACTION_CREATE", interaction_create(release, notice_message,
                                                                     user=AGENT))
        await fake.wait_for(lambda: not discord_core.history.is_handed_off(key), timeout=WAIT)
        await fake.wait_for(lambda: posts(fake, DM_CHANNEL)[-1].json["content"]
                            == TEXTS["es"]["released"], timeout=WAIT)
    finally:
        await adapter.stop()


async def test_allowed_roles_and_a_rate_per_person(discord_fake, discord_core):
    fake = discord_fake
    adapter = await connected(discord_core, allow_roles=[str(SUPPORT_ROLE)], user_rate=1)
    try:
        # Only members with the allowed role are answered: the customer is not.
        await fake.dispatch("MESSAGE_CREATE", message_create(
            f"{mention(BOT_ID)} How do I get a refund?", GENERAL, mentions=[BOT_ID]))
        await settle(fake, adapter)
        assert posts(fake, GENERAL) == []
        for text in ("How do I get a refund?", "How long does delivery take?",
                     "Do you ship abroad?"):
            await fake.dispatch("MESSAGE_CREATE", message_create(
                f"{mention(BOT_ID)} {text}", GENERAL, author=AGENT, mentions=[BOT_ID]))
            await settle(fake, adapter)
        contents = [c.json["content"] for c in posts(fake, GENERAL)]
        # One answer, then one notice to wait, then silence for the rest of the minute.
        assert contents.count(TEXTS["en"]["slow_down"]) == 1
        assert len(finished(fake, GENERAL)) == 1 and len(contents) == 2
    finally:
        await adapter.stop()


def followups(fake):
    return fake.calls_to("POST", rf"/webhooks/{APP_ID}/[^/]+") + \
        fake.calls_to("PATCH", rf"/webhooks/{APP_ID}/[^/]+/messages/\w+")


async def test_commands_are_registered_once_and_answer_without_reading_messages(
        discord_fake, adapter, discord_core):
    fake = discord_fake
    registered = fake.commands["global"]
    assert {(c["name"], c["type"]) for c in registered} == {
        ("ask", 1), ("help", 1), ("Ask babeldesk", 3)}
    ask = next(c for c in registered if c["name"] == "ask")
    assert [(o["name"], o["required"]) for o in ask["options"]] == [("question", True),
                                                                  ("private", False)]
    assert len(fake.calls_to("PUT", r"/applications/\d+/commands")) == 1

    # /help, in the user's Discord language
    await fake.dispatch("INTERACTION_CREATE", app_command("help", locale="de"))
    await fake.wait_for(lambda: interaction_callbacks(fake), timeout=WAIT)
    shown = interaction_callbacks(fake)[-1].json
    assert shown["type"] == 4 and shown["data"]["flags"] == 64
    assert shown["data"]["content"] == TEXTS["de"]["help"]

    # /ask private: acknowledged at once ("thinking…", only for the asker), then answered
    await fake.dispatch("INTERACTION_CREATE", app_command(
        "ask", {"question": "How do I get a refund?", "private": True}))
    await fake.wait_for(lambda: [c for c in followups(fake)
                                 if (c.json or {}).get("components")], timeout=WAIT)
    deferred = interaction_callbacks(fake)[-1].json
    assert deferred["type"] == 5 and deferred["data"]["flags"] == 64
    final = [c for c in followups(fake) if (c.json or {}).get("components")][-1]
    assert [i.split(":")[1] for i in custom_ids(final)] == ["up", "down"]  # private: no handoff
    key = ConversationKey("discord", str(GUILD), str(GENERAL), f"private-{CUSTOMER}")
    assert discord_core.history.count(key) == 2
    up = custom_ids(final)[0]
    await fake.dispatch("INTERACTION_CREATE", interaction_create(
        up, fake.messages[int(final.response["id"])]))
    await fake.wait_for(lambda: discord_core.history.feedback(int(up.rsplit(":", 1)[1]))
                        == {str(CUSTOMER): 1}, timeout=WAIT)
    assert posts(fake, GENERAL) == []  # nothing in the channel for everyone


async def test_the_message_menu_answers_a_customers_message_for_them(discord_fake, adapter,
                                                                    discord_core):
    fake = discord_fake
    question = message_create("How long does delivery take?", GENERAL)
    await fake.dispatch("MESSAGE_CREATE", question)  # not addressed to the bot: no answer
    await settle(fake, adapter)
    await fake.dispatch("INTERACTION_CREATE", app_command("Ask babeldesk", user=AGENT,
                                                          target=question))
    await fake.wait_for(lambda: [c for c in followups(fake)
                                 if (c.json or {}).get("components")], timeout=WAIT)
    assert interaction_callbacks(fake)[-1].json == {"type": 5}  # public
    final = [c for c in followups(fake) if (c.json or {}).get("components")][-1]
    ids = custom_ids(final)
    assert [i.split(":")[1] for i in ids] == ["up", "down", "human"]
    # The customer asked: they may call in a person under it, the agent's click was a favour.
    assert discord_core.history.turn(int(ids[0].rsplit(":", 1)[1])).author == str(CUSTOMER)


async def test_commands_are_not_registered_again_when_unchanged(discord_fake, discord_core):
    first = await connected(discord_core)
    await first.stop()
    second = await connected(discord_core)
    try:
        assert len(discord_fake.calls_to("PUT", r"/applications/\d+/commands")) == 1
    finally:
        await second.stop()


async def test_without_the_message_content_intent_commands_still_answer(discord_fake,
                                                                       discord_core):
    from fake_discord import MESSAGE_CONTENT_INTENT

    fake = discord_fake
    fake.disallowed_intents = MESSAGE_CONTENT_INTENT  # the team left the intent off
    adapter = await connected(discord_core, message_content=False)
    try:
        assert not fake.identifies[-1]["intents"] & MESSAGE_CONTENT_INTENT
        await fake.dispatch("INTERACTION_CREATE", app_command(
            "ask", {"question": "How do I get a refund?"}, locale="en-US"))
        await fake.wait_for(lambda: [c for c in followups(fake)
                                     if (c.json or {}).get("components")], timeout=WAIT)
    finally:
        await adapter.stop()


async def test_a_command_too_short_to_tell_follows_the_users_discord_language(discord_fake,
                                                                            adapter,
                                                                            discord_core):
    fake = discord_fake
    await fake.dispatch("INTERACTION_CREATE", app_command("ask", {"question": "ok danke"},
                                                          locale="de"))
    await fake.wait_for(lambda: [c for c in followups(fake) if c.status == 200], timeout=WAIT)
    await settle(fake, adapter)
    key = ConversationKey("discord", str(GUILD), str(GENERAL), "")
    assert discord_core.history.language(key) == "de"
