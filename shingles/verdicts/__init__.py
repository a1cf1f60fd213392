"""Verdicts: how a mailing travels decides what a message is.

Modules: judge (the rules, pure policy, reasons as data), spf (live SPF), social
(allowlists from the social graph), engine (the stages wired for library users),
feedback (complaints, corrections and ARF reports counted on mailings).
"""
