"""Responding from chat, the pure part: who may do what, what a button or command says, which
silence covers a group, when to escalate, and what a message shows. No I/O.

    actions.py      the verbs and the actor (who acted, from which chat)
    permissions.py  `permissions:` rules and the fail-closed check
    callbacks.py    Telegram callback_data / Slack action values: short, tamper-evident tokens
    commands.py     Telegram text commands (/ack, /silence 2h ...) with errors naming the argument
    silences.py     Alertmanager silence matchers covering exactly one alert group
    escalation.py   escalation policy stepping (which receiver when)
    message.py      the state line and buttons a group's message shows
"""
