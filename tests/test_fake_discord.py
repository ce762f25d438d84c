"""The fake Discord against the real discord.py client: login, gateway, messages, threads, rate
limits, components, reconnects and rejected tokens, with no mocks."""

from __future__ import annotations

import asyncio
import contextlib
import re

import aiohttp
import discord
import discord.gateway
import discord.http
import pytest
from fake_discord import (APP_ID, BOT_ID, CUSTOMER, DM_CHANNEL, GENERAL, GUILD,
                          MESSAGE_CONTENT_INTENT, SUPPORT, SUPPORT_ROLE,
                          interaction_create, mention, message_create)

TOKEN = "MTA4NTEzMTkzMjkzODkyODEyOA.GfAkEz.fake-token-for-tests-only_0123456789abc"
INTENTS = discord.Intents(guilds=True, guild_messages=True, dm_messages=True,
                          message_content=True)


class Recorder(discord.Client):
    """A plain client that keeps what it receives."""

    def __init__(self, **options):
        super().__init__(intents=INTENTS, guild_ready_timeout=0.1, **options)
        self.received: list[discord.Message] = []
        self.events: list[str] = []

    async def on_message(self, message: discord.Message) -> None:
        self.received.append(message)

    async def on_resumed(self) -> None:
        self.events.append("resumed")

    async def on_thread_create(self, thread: discord.Thread) -> None:
        self.events.append(f"thread_create:{thread.id}")


@contextlib.asynccontextmanager
async def running(client: discord.Client):
    await client.login(TOKEN)
    task = asyncio.create_task(client.connect())
    try:
        await asyncio.wait_for(client.wait_until_ready(), 5)
        yield client
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)


async def received(fake, client, count=1):
    await fake.wait_for(lambda: len(client.received) >= count, timeout=5)
    return client.received[count - 1]


async def test_login_and_ready(discord_fake):
    fake = discord_fake
    client = Recorder()
    ready = asyncio.Event()

    @client.event
    async def on_ready():
        ready.set()

    async with running(client):
        await asyncio.wait_for(ready.wait(), 5)
        assert client.user.id == BOT_ID and client.user.bot
        assert client.application_id == APP_ID
        guild = client.get_guild(GUILD)
        assert guild is not None and guild.name == "Kettlebird" and not guild.unavailable
        assert {c.name for c in guild.text_channels} == {"general", "support"}
        assert isinstance(client.get_channel(SUPPORT), discord.TextChannel)
        assert guild.get_role(SUPPORT_ROLE).name == "Support"
        assert guild.default_role.id == GUILD
        assert guild.me is not None and guild.me.id == BOT_ID
        identify = await fake.wait_for_identify()
        assert identify["token"] == TOKEN
        assert identify["intents"] & MESSAGE_CONTENT_INTENT
        assert identify["intents"] == INTENTS.value
        conn = fake.connections[0]
        assert conn.query == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
        assert conn.compress  # the payloads went out as zlib-stream binary frames
        assert [p.get("t") for p in conn.sent if p["op"] == 0] == ["READY", "GUILD_CREATE"]
        await fake.wait_for(lambda: fake.heartbeats >= 1)  # sent right after HELLO
    assert [(c.method, c.path, c.status) for c in fake.calls] == [
        ("GET", "/users/@me", 200), ("GET", "/oauth2/applications/@me", 200)]
    assert fake.calls[0].headers["Authorization"] == f"Bot {TOKEN}"


async def test_guild_and_dm_messages(discord_fake):
    fake = discord_fake
    client = Recorder()
    async with running(client):
        await fake.dispatch("MESSAGE_CREATE", message_create(
            f"{mention(BOT_ID)} Wie setze ich mein Passwort zurück?", SUPPORT,
            mentions=[BOT_ID]))
        message = await received(fake, client)
        assert message.content.endswith("Passwort zurück?")
        assert message.author.id == CUSTOMER and isinstance(message.author, discord.Member)
        assert message.author.display_name == "Marta K."
        assert client.user.mentioned_in(message)
        assert [m.id for m in message.mentions] == [BOT_ID]
        assert message.guild is not None and message.guild.id == GUILD
        assert message.channel.id == SUPPORT and isinstance(message.channel, discord.TextChannel)

        await fake.dispatch("MESSAGE_CREATE", message_create(
            "Hallo, ich brauche Hilfe", DM_CHANNEL, guild_id=None))
        dm = await received(fake, client, 2)
        assert isinstance(dm.channel, discord.DMChannel)
        assert dm.guild is None and dm.content == "Hallo, ich brauche Hilfe"
        assert isinstance(dm.author, discord.User) and dm.author.id == CUSTOMER
        reply = await dm.channel.send("Gern!")
        assert reply.channel.id == DM_CHANNEL
        dm_post = fake.calls_to("POST", rf"/channels/{DM_CHANNEL}/messages")[0]
        assert dm_post.json["content"] == "Gern!"

        await fake.dispatch("MESSAGE_CREATE", message_create("beep", GENERAL, bot=True))
        other = await received(fake, client, 3)
        assert other.author.bot and other.channel.id == GENERAL


async def test_typing_send_edit_thread(discord_fake):
    fake = discord_fake
    client = Recorder()
    done: asyncio.Future = asyncio.get_running_loop().create_future()

    async def answer(message: discord.Message):
        client.received.append(message)
        if done.done():
            return
        try:
            async with message.channel.typing():
                sent = await message.channel.send("Einen Moment…", reference=message)
            edited = await sent.edit(content="Unter Einstellungen → Passwort.",
                                     embed=discord.Embed(title="Quelle", description="FAQ"))
            thread = await message.create_thread(name="Passwort zurücksetzen")
            in_thread = await thread.send("Weitere Fragen hier.")
            done.set_result((sent, edited, thread, in_thread))
        except Exception as exc:  # surface it in the test instead of discord.py's log
            done.set_exception(exc)

    client.on_message = answer  # type: ignore[method-assign]
    async with running(client):
        question = message_create(f"{mention(BOT_ID)} Passwort?", SUPPORT, mentions=[BOT_ID])
        await fake.dispatch("MESSAGE_CREATE", question)
        sent, edited, thread, in_thread = await asyncio.wait_for(done, 5)

        assert fake.calls_to("POST", rf"/channels/{SUPPORT}/typing")[0].status == 204
        post = fake.calls_to("POST", rf"/channels/{SUPPORT}/messages")[0]
        assert post.json["content"] == "Einen Moment…"
        assert post.json["message_reference"]["message_id"] == int(question["id"])
        assert sent.reference.message_id == int(question["id"])
        assert sent.author.id == BOT_ID and sent.channel.id == SUPPORT

        patch = fake.calls_to("PATCH", rf"/channels/{SUPPORT}/messages/{sent.id}")[0]
        assert patch.json["content"] == "Unter Einstellungen → Passwort."
        assert patch.json["embeds"][0]["title"] == "Quelle"
        assert edited.content == "Unter Einstellungen → Passwort." and edited.edited_at
        assert edited.embeds[0].description == "FAQ"

        create = fake.calls_to("POST", rf"/channels/{SUPPORT}/messages/{question['id']}/threads")[0]
        assert create.json["name"] == "Passwort zurücksetzen"
        assert create.status == 201
        assert isinstance(thread, discord.Thread) and thread.parent_id == SUPPORT
        assert thread.id == int(question["id"])  # as on Discord: the starter message's id
        await fake.wait_for(lambda: f"thread_create:{thread.id}" in client.events)
        assert client.get_channel(thread.id) is not None  # THREAD_CREATE put it in the cache

        assert in_thread.channel.id == thread.id
        assert fake.calls_to("POST", rf"/channels/{thread.id}/messages")[0].json["content"] == \
            "Weitere Fragen hier."
        assert [m["content"] for m in fake.bot_messages()] == [
            "Unter Einstellungen → Passwort.", "Weitere Fragen hier."]

        # a customer message in the thread resolves to the cached Thread
        await fake.dispatch("MESSAGE_CREATE", message_create("Danke", thread.id))
        follow = await received(fake, client, 2)
        assert isinstance(follow.channel, discord.Thread) and follow.channel.id == thread.id

        # Discord's own rules: no empty messages, at most 2000 characters, one thread per message
        with pytest.raises(discord.HTTPException) as empty:
            await sent.channel.send(embeds=[])
        assert empty.value.code == 50006
        with pytest.raises(discord.HTTPException) as long:
            await sent.channel.send("x" * 2001)
        assert long.value.code == 50035 and "2000" in str(long.value)
        with pytest.raises(discord.HTTPException) as again:
            await client.received[0].create_thread(name="nochmal")
        assert again.value.code == 160004


async def test_rate_limited_post_is_retried(discord_fake):
    fake = discord_fake
    client = Recorder()
    async with running(client):
        fake.rate_limit("POST", rf"/channels/{SUPPORT}/messages", 1, retry_after=0.3)
        message = await client.get_channel(SUPPORT).send("nach dem Limit")
        calls = fake.calls_to("POST", rf"/channels/{SUPPORT}/messages")
        assert [c.status for c in calls] == [429, 200]
        assert calls[1].at - calls[0].at >= 0.29
        assert calls[0].response["retry_after"] == 0.3
        assert message.content == "nach dem Limit"
        assert fake.bot_messages(SUPPORT)[-1]["id"] == str(message.id)


async def test_own_messages_are_echoed_when_asked(discord_fake):
    fake = discord_fake
    fake.echo_own_messages = True  # as on Discord: the bot gets MESSAGE_CREATE for its own
    client = Recorder()
    async with running(client):
        sent = await client.get_channel(SUPPORT).send("Hallo")
        echo = await received(fake, client)
        assert echo.id == sent.id and echo.author == client.user and echo.guild.id == GUILD
        assert "guild_id" not in fake.messages[sent.id]  # the REST copy is kept


async def test_unknown_route_is_recorded(discord_fake):
    fake = discord_fake
    client = Recorder()
    async with running(client):
        with pytest.raises(discord.NotFound):
            await client.http.request(discord.http.Route(
                "GET", "/guilds/{guild_id}/audit-logs", guild_id=GUILD))
        call = fake.calls_to("GET", rf"/guilds/{GUILD}/audit-logs")[0]
        assert call.status == 404 and call.response == {"message": "Unknown", "code": 0}


class Feedback(discord.ui.View):
    def __init__(self, clicks: list):
        super().__init__(timeout=None)
        self.clicks = clicks

    @discord.ui.button(label="Hilfreich", custom_id="babeldesk:helpful",
                       style=discord.ButtonStyle.success)
    async def helpful(self, interaction: discord.Interaction, button: discord.ui.Button):
        await interaction.response.defer()
        self.clicks.append(interaction)
        await interaction.followup.send("Danke für das Feedback!", ephemeral=True)


class CloseTicket(discord.ui.DynamicItem[discord.ui.Button], template=r"ticket:close:(?P<id>\d+)"):
    def __init__(self, ticket: int):
        super().__init__(discord.ui.Button(label="Schließen", custom_id=f"ticket:close:{ticket}"))
        self.ticket = ticket

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match):
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction):
        await interaction.response.send_message(f"Ticket {self.ticket} geschlossen.",
                                                ephemeral=True)
        interaction.client.closed.append(self.ticket)  # type: ignore[attr-defined]


async def test_button_clicks_answer_the_interaction(discord_fake):
    fake = discord_fake
    client = Recorder()
    clicks: list = []
    client.closed = []  # type: ignore[attr-defined]
    client.add_view(Feedback(clicks))
    client.add_dynamic_items(CloseTicket)
    async with running(client):
        view = discord.ui.View(timeout=None)
        view.add_item(CloseTicket(42))
        sent = await client.get_channel(SUPPORT).send("Antwort", view=Feedback(clicks))
        ticket = await client.get_channel(SUPPORT).send("Ticket 42", view=view)
        assert fake.messages[sent.id]["components"][0]["components"][0]["custom_id"] == \
            "babeldesk:helpful"

        click = interaction_create("babeldesk:helpful", fake.messages[sent.id])
        await fake.dispatch("INTERACTION_CREATE", click)
        callback = rf"/interactions/{click['id']}/{click['token']}/callback"
        await fake.wait_for(lambda: fake.calls_to("POST", r"/webhooks/.*"))
        ack = fake.calls_to("POST", callback)[0]
        assert ack.json == {"type": 6} and ack.status == 200
        assert ack.query == {"with_response": "1"}
        followup = fake.calls_to("POST", rf"/webhooks/{APP_ID}/{click['token']}")[0]
        assert followup.status == 200 and followup.json["flags"] == 64
        assert followup.json["content"] == "Danke für das Feedback!"
        assert clicks[0].user.id == CUSTOMER and clicks[0].message.id == sent.id

        close = interaction_create("ticket:close:42", fake.messages[ticket.id])
        await fake.dispatch("INTERACTION_CREATE", close)
        await fake.wait_for(lambda: client.closed)
        answer = fake.calls_to("POST", rf"/interactions/{close['id']}/{close['token']}/callback")[0]
        assert answer.json["type"] == 4
        assert answer.json["data"]["content"] == "Ticket 42 geschlossen."
        assert answer.json["data"]["flags"] == 64
        assert client.closed == [42]

        # a second acknowledgement is refused, as on Discord
        async with aiohttp.ClientSession() as session:
            async with session.post(fake.api_base + callback, json={"type": 6}) as response:
                assert response.status == 400
                assert response.headers["Content-Type"] == "application/json"
                assert (await response.json())["code"] == 40060


class Slow(discord.ui.DynamicItem[discord.ui.Button], template=r"slow:(?P<step>\w+)"):
    def __init__(self, step: str):
        super().__init__(discord.ui.Button(label="Langsam", custom_id=f"slow:{step}"))
        self.step = step

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match):
        return cls(match["step"])

    async def callback(self, interaction: discord.Interaction):
        outcome = interaction.client.outcome  # type: ignore[attr-defined]
        try:
            if self.step == "late":
                await asyncio.sleep(0.2)
                await interaction.response.defer()
            else:
                await interaction.response.defer(thinking=True)
                message = await interaction.edit_original_response(content="Fertig.")
                outcome.set_result(message)
                return
        except discord.HTTPException as exc:
            outcome.set_result(exc)


async def test_deferred_thinking_and_late_acknowledgement(discord_fake):
    fake = discord_fake
    client = Recorder()
    client.add_dynamic_items(Slow)
    async with running(client):
        view = discord.ui.View(timeout=None)
        view.add_item(Slow("think"))
        view.add_item(Slow("late"))  # discord.py ignores a click on a button not on the message
        sent = await client.get_channel(SUPPORT).send("Frage", view=view)

        client.outcome = asyncio.get_running_loop().create_future()  # type: ignore[attr-defined]
        click = interaction_create("slow:think", fake.messages[sent.id])
        await fake.dispatch("INTERACTION_CREATE", click)
        message = await asyncio.wait_for(client.outcome, 5)  # type: ignore[attr-defined]
        assert fake.calls_to("POST", r"/interactions/\d+/[^/]+/callback")[0].json == {"type": 5}
        original = rf"/webhooks/{APP_ID}/{click['token']}/messages/@original"
        patch = fake.calls_to("PATCH", original)[0]
        assert patch.status == 200 and patch.json["content"] == "Fertig."
        assert isinstance(message, discord.InteractionMessage) and message.content == "Fertig."
        assert not message.flags.loading

        fake.interaction_deadline = 0.1  # Discord allows 3 s
        client.outcome = asyncio.get_running_loop().create_future()  # type: ignore[attr-defined]
        late = interaction_create("slow:late", fake.messages[sent.id])
        await fake.dispatch("INTERACTION_CREATE", late)
        error = await asyncio.wait_for(client.outcome, 5)  # type: ignore[attr-defined]
        assert isinstance(error, discord.NotFound) and error.code == 10062


async def test_without_message_content_intent_content_is_empty(discord_fake):
    fake = discord_fake
    intents = discord.Intents(guilds=True, guild_messages=True, dm_messages=True)
    client = discord.Client(intents=intents, guild_ready_timeout=0.1)
    received: list[discord.Message] = []

    @client.event
    async def on_message(message):
        received.append(message)

    async with running(client):
        assert not (await fake.wait_for_identify())["intents"] & MESSAGE_CONTENT_INTENT
        await fake.dispatch("MESSAGE_CREATE", message_create("geheim", SUPPORT))
        await fake.dispatch("MESSAGE_CREATE", message_create(
            f"{mention(BOT_ID)} sichtbar", SUPPORT, mentions=[BOT_ID]))
        await fake.dispatch("MESSAGE_CREATE", message_create("auch sichtbar", DM_CHANNEL,
                                                             guild_id=None))
        await fake.wait_for(lambda: len(received) == 3)
        assert [m.content for m in received] == ["", f"{mention(BOT_ID)} sichtbar", "auch sichtbar"]


async def test_reconnect_resumes_and_keeps_receiving(discord_fake):
    fake = discord_fake
    client = Recorder()
    async with running(client):
        session = fake.session_id
        await fake.disconnect(4000)
        conn = await fake.wait_for_connections(2)
        assert conn.path == "/resume-gateway"  # discord.py used READY's resume_gateway_url
        assert fake.resumes[0]["session_id"] == session and fake.resumes[0]["seq"] == 2
        assert len(fake.identifies) == 1
        await fake.wait_for(lambda: "resumed" in client.events)
        await fake.dispatch("MESSAGE_CREATE", message_create("nach dem Reconnect", SUPPORT))
        message = await received(fake, client)
        assert message.content == "nach dem Reconnect" and message.guild.id == GUILD
        assert fake.connections[0].close_code == 4000

        await fake.request_reconnect()  # op 7: discord.py closes and resumes again
        await fake.wait_for_connections(3)
        assert len(fake.resumes) == 2 and len(fake.identifies) == 1
        await fake.dispatch("MESSAGE_CREATE", message_create("noch einmal", SUPPORT))
        assert (await received(fake, client, 2)).content == "noch einmal"


async def test_missed_events_are_replayed_on_resume(discord_fake):
    fake = discord_fake
    client = Recorder()
    async with running(client):
        await fake.disconnect(4000)
        await fake.dispatch("MESSAGE_CREATE", message_create("verpasst", SUPPORT))
        await fake.wait_for_connections(2)
        message = await received(fake, client)
        assert message.content == "verpasst"


async def test_rejected_token_fails_login(discord_fake):
    fake = discord_fake
    fake.rejected_tokens.add(TOKEN)
    client = Recorder()
    try:
        with pytest.raises(discord.LoginFailure):
            await client.login(TOKEN)
    finally:
        await client.close()
    call = fake.calls_to("GET", "/users/@me")[0]
    assert call.status == 401 and call.response == {"message": "401: Unauthorized", "code": 0}
    assert not fake.connections
