"""Mail reading: raw bytes from mbox, maildir, .eml and stdin become ``Mail`` records.

    from shingles.mail.read import read     # Mail or MailError records, streamed
    from shingles.mail.parse import parse   # parse(raw_bytes) -> Mail

Modules, in the order a message passes them: read (sources and splitting), parse
(the Mail record), headers (header values), senders (Received walk, trusted zone,
authentication results), identity (whose domain authenticated), html (visible
text), quoting (new text against quoted replies, signatures and footers).
This stage imports neither LMDB nor numpy: the Spark job and the server run it alone.
"""

from shingles.mail.records import Attachment, Hop, Mail, MailError

__all__ = ["Attachment", "Hop", "Mail", "MailError"]
