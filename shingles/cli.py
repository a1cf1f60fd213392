"""The ``shingles`` command: argument parsing and output only; the work is the library's.

Exit status: 0 all inputs done; 1 some inputs failed (each has an "error" record
on stdout, the rest went on); 2 bad usage or an unusable option file.
"""

from __future__ import annotations

import argparse
import json
import mailbox
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from shingles import _backend
from shingles.errors import ShinglesError
from shingles.fingerprint import fingerprint
from shingles.lexicon import Lexicon, LexiconSettings
from shingles.parse import visible_text
from shingles.scheme import DEFAULT_SCHEME, Scheme

EXIT_OK, EXIT_INPUT_ERRORS, EXIT_USAGE = 0, 1, 2


def die(message: str, status: int = EXIT_USAGE) -> int:
    """Print "shingles: message" to stderr and return the exit status to use."""
    print(f"shingles: {message}", file=sys.stderr)
    return status


def _emit(record: dict[str, Any], out: TextIO) -> None:
    out.write(json.dumps(record, ensure_ascii=False) + "\n")


def _read_inputs(paths: Sequence[str]) -> Iterator[tuple[str, bytes | OSError]]:
    """Yield (source name, bytes or the OSError that stopped reading it) per message."""
    for path in paths:
        if path == "-":
            yield "<stdin>", sys.stdin.buffer.read()
            continue
        try:
            with open(path, "rb") as f:
                data = f.read()
            if not data.startswith(b"From "):
                yield path, data
                continue
            box = mailbox.mbox(path, create=False)
            for key in box.iterkeys():
                yield f"{path}:{key}", box.get_bytes(key)
        except OSError as exc:
            yield path, exc


def _scheme(args: argparse.Namespace) -> Scheme:
    return Scheme(window=args.window, min_shingles=args.min_shingles, digits=args.digits)


def cmd_fingerprint(args: argparse.Namespace) -> int:
    lexicon = Lexicon.load(args.lexicon) if args.lexicon else None
    scheme = _scheme(args)
    status = EXIT_OK
    for source, data in _read_inputs(args.paths):
        if isinstance(data, OSError):
            _emit({"source": source, "message_id": None, "error": str(data)}, sys.stdout)
            status = EXIT_INPUT_ERRORS
            continue
        text, message_id = visible_text(data)
        fp = fingerprint(text, scheme, lexicon, backend=args.backend)
        _emit({"source": source, "message_id": message_id, "backend": _backend.BACKEND
               if args.backend == "auto" else args.backend, **fp.to_json()}, sys.stdout)
    return status


def cmd_lexicon_build(args: argparse.Namespace) -> int:
    texts = []
    for source, data in _read_inputs(args.paths):
        if isinstance(data, OSError):
            return die(f"cannot read {source}: {data}")
        texts.append(visible_text(data)[0])
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
    p.add_argument("paths", nargs="+", metavar="FILE|-", help="plain text or .eml; - is stdin")
    p.add_argument("--lexicon", metavar="FILE", help="lexicon for I-Match signatures")
    p.add_argument("--backend", choices=("auto", "cython", "python"), default="auto")
    _add_scheme_options(p)
    p.set_defaults(run=cmd_fingerprint)

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
