"""``shingles serve``: one long-lived process that owns the store and judges mail inline.

Front ends (``http``, ``milter``) hand messages to the single ``writer``, which
judges them in groups with one commit each; ``server`` wires them together with
the rescan clock, signals, metrics and the log line per message.
"""
