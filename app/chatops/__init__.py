"""Chat front-ends and the Alertmanager API, the I/O part of responding from chat: request
checks and parsing for Telegram updates and Slack interactions, and the silences client.

    slack_signing.py       v0 request signatures (300 s window, constant time, raw body)
    slack_interactions.py  block_actions payloads → `SlackInteraction`
    telegram_updates.py    webhook secret header check; updates → `CallbackTap` / `TextMessage`
    silences.py            Alertmanager API v2 silences: create, expire, list
"""
