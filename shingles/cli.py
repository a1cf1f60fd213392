"""The ``shingles`` command: argument parsing and output only; the work is the library's.

Exit status: 0 all inputs done; 1 some inputs failed (each has an "error" record
on stdout, the rest went on); 2 bad usage or an unusable option file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from shingles import _backend
from shingles.config import Config, load_config
from shingles.errors import ShinglesError
from shingles.fingerprint import fingerprint
from shingles.headers import decode_bytes
from shingles.lexicon import Lexicon, LexiconSettings
from shingles.mail import Mail, MailError
from shingles.mailio import parse_record, read, read_raw
from shingles.parse import looks_like_mail
from shingles.scheme import DEFAULT_SCHEME, Scheme

EXIT_OK, EXIT_INPUT_ERRORS, EXIT_USAGE = 0, 1, 2
_MAIL_FIELDS = [f.name for f in dataclasses.fields(Mail)]


def die(message: str, status: int = EXIT_USAGE) -> int:
    """Print "shingles: message" to stderr and return the exit status to use."""
    print(f"shingles: {message}", file=sys.stderr)
    return status


def _emit(record: dict[str, Any], out: TextIO) -> None:
    out.write(json.dumps(record, ensure_ascii=False) + "\n")


def _read_inputs(paths: Sequence[str], config: Config | None = None,
                 ) -> Iterator[tuple[str, str | None, str | MailError]]:
    """Yield (source, Message-ID, visible text or the MailError) per message or text file.

    A whole file (or stdin) that is not mail is taken as plain text.
    """
    config = config or Config()
    for item in read_raw(paths, config.limits):
        if isinstance(item, MailError):
            yield item.source, None, item
        elif item.whole_file and not looks_like_mail(item.data):
            yield item.source, None, decode_bytes(item.data)
        else:
            mail = parse_record(item, config)
            if isinstance(mail, MailError):
                yield item.source, None, mail
            else:
                yield mail.source, mail.message_id, mail.text


def _scheme(args: argparse.Namespace) -> Scheme:
    return Scheme(window=args.window, min_shingles=args.min_shingles, digits=args.digits)


def cmd_fingerprint(args: argparse.Namespace) -> int:
    lexicon = Lexicon.load(args.lexicon) if args.lexicon else None
    scheme = _scheme(args)
    status = EXIT_OK
    for source, message_id, text in _read_inputs(args.paths, load_config(args.config)):
        if isinstance(text, MailError):
            _emit(text.to_json(), sys.stdout)
            status = EXIT_INPUT_ERRORS
            continue
        fp = fingerprint(text, scheme, lexicon, backend=args.backend)
        _emit({"source": source, "message_id": message_id, "backend": _backend.BACKEND
               if args.backend == "auto" else args.backend, **fp.to_json()}, sys.stdout)
    return status


def cmd_parse(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    status = EXIT_OK
    for record in read(args.paths, config):
        out = record.to_json()
        if isinstance(record, MailError):
            status = EXIT_INPUT_ERRORS
        elif args.fields:
            out = {key: out[key] for key in ["source", "message_id", *args.fields]}
        _emit(out, sys.stdout)
    return status


def cmd_lexicon_build(args: argparse.Namespace) -> int:
    texts = []
    for source, _, text in _read_inputs(args.paths):
        if isinstance(text, MailError):
            return die(f"cannot read {source}: {text.error}")
        texts.append(text)
    settings = LexiconSettings(min_df=args.min_df, max_df=args.max_df,
                               sub_lexicons=args.sub_lexicons, min_terms=args.min_terms)
    lexicon = Lexicon.build(texts, _scheme(args), settings)
    lexicon.save(args.out)
    _emit(_lexicon_summary(lexicon), sys.stdout)
    return EXIT_OK


def cmd_lexicon_info(args: argparse.Namespace) -> int:
    _emit(_lexicon_summary(Lexicon.load(args.file)), sys.stdout)
    return EXIT_OK


def _lexicon_summary(lexicon: Lexicon) -> dict[str, Any]:
    return {"lexicon": lexicon.id, "token_id": lexicon.token_id, "terms": len(lexicon),
            "documents": lexicon.documents, "signatures": lexicon.signatures,
            "sub_fraction": lexicon.sub_fraction, "min_terms": lexicon.min_terms}


def _add_scheme_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("fingerprint scheme")
    group.add_argument("--window", type=int, default=DEFAULT_SCHEME.window,
                       help="words per shingle (default %(default)s)")
    group.add_argument("--min-shingles", type=int, default=DEFAULT_SCHEME.min_shingles,
                       help="fewest distinct shingles for a signature (default %(default)s)")
    group.add_argument("--digits", choices=("fold", "keep"), default=DEFAULT_SCHEME.digits,
                       help="fold digit runs to one token, or keep them (default %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the shingles command."""
    parser = argparse.ArgumentParser(prog="shingles", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = verbs.add_parser("fingerprint", help="print the fingerprint of texts or messages as JSON")
    p.add_argument("paths", nargs="+", metavar="PATH|-",
                   help="mbox (.gz/.bz2/.xz too), maildir, folder, .eml or plain text; - is stdin")
    p.add_argument("--lexicon", metavar="FILE", help="lexicon for I-Match signatures")
    p.add_argument("--config", metavar="FILE", help="TOML config (trusted zone, limits)")
    p.add_argument("--backend", choices=("auto", "cython", "python"), default="auto")
    _add_scheme_options(p)
    p.set_defaults(run=cmd_fingerprint)

    p = verbs.add_parser("parse", help="print each message's parsed fields as JSON Lines")
    p.add_argument("paths", nargs="+", metavar="PATH|-",
                   help="mbox (.gz/.bz2/.xz too), maildir, folder or .eml; - is stdin")
    p.add_argument("--config", metavar="FILE", help="TOML config (trusted zone, limits)")
    p.add_argument("--fields", nargs="+", metavar="NAME", choices=sorted(_MAIL_FIELDS),
                   help="print only these fields (besides source and message_id)")
    p.set_defaults(run=cmd_parse)

    lexicon = verbs.add_parser("lexicon", help="build or inspect an I-Match lexicon")
    lexicon_verbs = lexicon.add_subparsers(dest="lexicon_verb", required=True, metavar="ACTION")
    p = lexicon_verbs.add_parser("build", help="choose a lexicon from documents")
    p.add_argument("paths", nargs="+", metavar="FILE|-", help="one document per file")
    p.add_argument("--out", required=True, metavar="FILE", help="where to write the lexicon")
    defaults = LexiconSettings()
    p.add_argument("--min-df", type=int, default=defaults.min_df)
    p.add_argument("--max-df", type=float, default=defaults.max_df)
    p.add_argument("--sub-lexicons", type=int, default=defaults.sub_lexicons)
    p.add_argument("--min-terms", type=int, default=defaults.min_terms)
    _add_scheme_options(p)
    p.set_defaults(run=cmd_lexicon_build)
    p = lexicon_verbs.add_parser("info", help="print a lexicon's summary as JSON")
    p.add_argument("file")
    p.set_defaults(run=cmd_lexicon_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the shingles command with argv (default: sys.argv[1:]); return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except BrokenPipeError:  # e.g. `shingles fingerprint x | head`
        return EXIT_OK
    except (ShinglesError, ValueError, OSError) as exc:
        return die(str(exc))
