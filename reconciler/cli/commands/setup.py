"""First steps, without an exchange: `validate`, `schema`, `paper-exchange`, `keygen`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from reconciler.cli import output as out
from reconciler.cli.settings import Settings, SettingsError
from reconciler.cli.wiring import address_of, throwaway_key
from reconciler.engine import validate_directory
from reconciler.spec import json_schema


def validate(args: argparse.Namespace, settings: Settings) -> int:
    directory = Path(args.dir) if args.dir else settings.desired_dir
    return validate_directory(directory, sys.stdout)


def schema(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(json_schema(), indent=2, sort_keys=True))
    return 0


def paper_exchange(args: argparse.Namespace, settings: Settings) -> int:
    """Run paperclob with its own options; `--help` shows them (under this command's name)."""
    from paperclob import main as paper_main
    from paperclob.cli import build_parser as paper_parser

    rest = list(args.paper_args)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    if any(a in ("-h", "--help") for a in rest):
        parser = paper_parser()
        parser.prog = "reconciler paper-exchange"
        parser.parse_args(["--help"])  # prints paperclob's flags and exits 0
    return int(paper_main(rest) or 0)


def keygen(args: argparse.Namespace, settings: Settings) -> int:
    """A new private key on stdout (or in `--out FILE`, created 0600); its address on stderr.
    Refused on a terminal: a key on the screen stays in the scrollback."""
    key = throwaway_key()
    address = address_of(key)
    if args.out:
        path = Path(args.out)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise SettingsError(f"{path} exists; keygen never overwrites a key file") from None
        except OSError as exc:
            raise SettingsError(f"cannot create {path}: {exc.strerror}") from None
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
        print(f"wrote a new private key to {path} (mode 0600); its address is {address}",
              file=sys.stderr)
        return 0
    if out.is_terminal():
        raise SettingsError("keygen prints a private key: send it to a file, not the screen: "
                            "`reconciler keygen > key && chmod 600 key`, or `reconciler keygen "
                            "--out key`")
    print(key)
    print(f"reconciler keygen: a new private key (address {address}); keep the file private: "
          "chmod 600 it. Use it on a paper exchange, or fund it knowingly.", file=sys.stderr)
    return 0
