"""Assemble the parts a command needs from `Settings`: wallet, client, builder, reconciler.

This is the one place that turns configuration into live objects, so the CLI stays a thin layer
of argument parsing and printing, and tests can build exactly what `reconciler run` builds.

`--paper` starts an embedded paper exchange (a real HTTP server on 127.0.0.1, in a thread of
this process) and signs with a throwaway key generated here, so a first run needs no account,
no key and no network, and can never touch real money. A real key from the environment is
deliberately NOT used with `--paper`.
"""

from __future__ import annotations

import logging
import secrets as random_secrets
import time
from dataclasses import dataclass, field
from typing import Any

from reconciler.cli.logs import add_secrets
from reconciler.cli.settings import SECP256K1_N, Settings, SettingsError
from reconciler.clob import (
    ApiCreds,
    AuthenticationFailed,
    ClobClient,
    ClobError,
    ExchangeRejected,
    OrderBuilder,
    Wallet,
    market_connection,
    user_connection,
    ws_base_url,
)
from reconciler.daemon import StreamOpeners, StreamSetup, StreamState, git_commit_of
from reconciler.engine import Reconciler, apply_plan, default_landing_window
from reconciler.model import Cancel, CancelReason, Plan, ShutdownOutcome
from reconciler.store import PAPER_FUNDER, StateFileError, StateIdentity, Store

log = logging.getLogger(__name__)



def throwaway_key() -> str:
    """A fresh random private key for the paper exchange; never stored, never printed."""
    while True:
        candidate = int.from_bytes(random_secrets.token_bytes(32), "big")
        if 0 < candidate < SECP256K1_N:
            return f"0x{candidate:064x}"


def address_of(key: str) -> str:
    """The EOA address of a private key (not secret)."""
    return Wallet.from_private_key(key).address


@dataclass
class Connection:
    """A configured client and signer, plus the embedded paper exchange when `--paper`."""

    settings: Settings
    client: ClobClient
    wallet: Wallet
    builder: OrderBuilder
    paper: Any = None  # paperclob.PaperExchange when --paper
    closed: bool = field(default=False, repr=False)

    @property
    def host(self) -> str:
        return self.client.host

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.paper is not None:
            self.paper.stop()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(settings: Settings, *, l2: bool = True, derive_first: bool = False) -> Connection:
    """Build the client for `settings`; with `l2`, derive API credentials when none are given.
    `derive_first`: ask for the existing key (a read) before creating one (a write), for the
    commands that must not write to the exchange (`plan`).

    Raises SettingsError when no exchange or key is configured (the message mentions --paper).
    """
    settings.require_exchange()
    paper = None
    if settings.paper:
        paper, host, key = _start_paper(settings)
        creds: ApiCreds | None = None
        signature_type, funder = 0, None
    else:
        if settings.host is None or settings.private_key is None:
            raise SettingsError("no exchange host or private key")  # require_exchange said so
        host, key = settings.host, settings.private_key.reveal()
        creds = _creds_from(settings)
        signature_type, funder = settings.signature_type, settings.funder
    try:
        wallet = Wallet.from_private_key(key, signature_type=signature_type, funder=funder)
        client = ClobClient(
            host, chain_id=settings.chain_id, wallet=wallet, creds=creds,
            timeout=settings.request_timeout_seconds,
        )
        if l2 and creds is None:
            try:
                creds = _derive_then_create(client) if derive_first else \
                    client.create_or_derive_api_key()
            except AuthenticationFailed:
                _refuse_if_another_chain(host, wallet, settings)
                raise
            client.creds = creds
        if creds is not None:
            add_secrets([creds.secret, creds.passphrase])
        builder = OrderBuilder(wallet, chain_id=settings.chain_id, profile=client.profile)
    except BaseException:
        if paper is not None:
            paper.stop()
        raise
    return Connection(settings=settings, client=client, wallet=wallet, builder=builder,
                      paper=paper)


#: Chains a CLOB host may sign for: Polygon, and the Amoy test network.
KNOWN_CHAINS = (137, 80002)


def _refuse_if_another_chain(host: str, wallet: Wallet, settings: Settings) -> None:
    """The exchange refused our L1 signature: when it accepts the same key's signature for
    another known chain, the cause is CHAIN_ID, not the key; say so instead of a 401."""
    for chain in KNOWN_CHAINS:
        if chain == settings.chain_id:
            continue
        probe = ClobClient(host, chain_id=chain, wallet=wallet,
                           timeout=settings.request_timeout_seconds)
        try:
            probe.derive_api_key()
        except AuthenticationFailed:
            continue
        except ExchangeRejected:
            pass  # the signature was taken (the key may simply not exist): the chain is right
        except ClobError:
            return
        raise SettingsError(f"chain id mismatch: the exchange at {host} signs for chain "
                            f"{chain}, not CHAIN_ID {settings.chain_id}; set CHAIN_ID={chain} "
                            f"(--chain-id {chain}) if that is the network you mean")


def _derive_then_create(client: ClobClient) -> ApiCreds:
    try:
        return client.derive_api_key()
    except ExchangeRejected as exc:
        if exc.status in (401, 403):
            raise
    return client.create_api_key()  # no key yet: nothing has traded with this wallet


def _start_paper(settings: Settings) -> tuple[Any, str, str]:
    from paperclob import PaperConfig, PaperExchange  # only --paper needs the paper exchange

    paper = PaperExchange(PaperConfig(chain_id=settings.chain_id))
    url = paper.start()
    key = throwaway_key()
    add_secrets([key])
    log.info("paper exchange running at %s with a throwaway key", url)
    return paper, url, key


def _creds_from(settings: Settings) -> ApiCreds | None:
    if settings.api_key is None or settings.api_secret is None or settings.passphrase is None:
        return None
    return ApiCreds(
        api_key=str(settings.api_key),
        secret=settings.api_secret.reveal(),
        passphrase=settings.passphrase.reveal(),
    )


def state_identity(settings: Settings, conn: Connection) -> StateIdentity:
    """The account a state file must belong to: the chain and the funder of the orders (the
    paper exchange's throwaway keys are one account, "paper", that no real account shares)."""
    funder = PAPER_FUNDER if settings.paper else conn.wallet.maker
    return StateIdentity(chain_id=settings.chain_id, funder=funder)


def open_store(settings: Settings, conn: Connection) -> Store:
    """The state file, refused unless it is ours and this account's (StateFileError)."""
    return Store.open(settings.state_path, identity=state_identity(settings, conn))


def open_store_read_only(settings: Settings, conn: Connection) -> Store:
    """The state file opened `mode=ro` (beside a running daemon), refused unless it is this
    account's; an empty state in memory when nothing has run with it yet. Never written."""
    if not settings.state_path.exists():
        return Store.scratch(settings.state_path)
    store = Store.open(settings.state_path, read_only=True)
    recorded, wanted = store.identity(), state_identity(settings, conn)
    if recorded is not None and not recorded.same_account(wanted):
        store.close()
        raise StateFileError(f"{settings.state_path} belongs to {recorded.describe()}, not to "
                             f"{wanted.describe()}; use that account's state file, or another "
                             "--state for this one")
    return store


def make_reconciler(conn: Connection, store: Store) -> Reconciler:
    settings = conn.settings
    window = settings.landing_window_seconds
    return Reconciler(
        client=conn.client, store=store, desired_dir=settings.desired_dir,
        builder=conn.builder, clock=time.time, git_commit_of=git_commit_of,
        landing_window=(default_landing_window(settings.request_timeout_seconds)
                        if window is None else window),
    )


def stream_setup(conn: Connection, reconciler: Reconciler) -> StreamSetup | None:
    """The WebSocket channels for `reconciler run` (None with --no-stream): the user channel
    with this key's credentials (read at each connect: a re-derived key is used), the market
    channel for the tokens in force; each pass's summary carries the stream's state, which
    `status` shows."""
    settings = conn.settings
    if not settings.stream:
        return None
    base = ws_base_url(conn.host, settings.ws_url)
    state = StreamState(("user", "market"))
    reconciler.annotate = lambda: {"stream": state.snapshot()}

    def user() -> Any:
        creds = conn.client.creds
        if creds is None:  # connect() derives them before the daemon starts
            raise SettingsError("the user stream needs API credentials")
        return user_connection(base, creds)

    log.info("stream: %s/user and %s/market", base, base)
    return StreamSetup(
        openers=StreamOpeners(user=user, market=lambda tokens: market_connection(base, tokens)),
        managed=lambda: reconciler.managed_tokens,
        state=state,
    )


def cancel_managed_orders(*, conn: Connection, store: Store) -> str:
    """`on_shutdown: cancel`: cancel every order in our inventory, journaled like any apply:
    through the client's splitting and pacing, with what a call did part way recorded."""
    inventory = store.inventory()
    if not inventory:
        return "no managed orders to cancel"
    cancels = tuple(
        Cancel(order_id=o.order_id, key=o.key, remaining=o.size, reason=CancelReason.SHUTDOWN)
        for o in inventory
    )
    run_id = store.start_run(None)
    result = apply_plan(Plan(cancels=cancels), client=conn.client, signer=conn.builder,
                        store=store, run_id=run_id, revision_id=None)
    done = result.error is None and not result.not_cancelled
    outcome = ShutdownOutcome.OK if done else ShutdownOutcome.PARTIAL
    store.finish_run(run_id, outcome=outcome, summary=result.run_summary(), error=result.error)
    text = f"cancelled {len(result.cancelled)} of {len(cancels)} managed orders"
    if result.error:
        text += f" ({result.error})"
    elif result.restriction is not None:
        text += (f" (the exchange refused in its {result.restriction.value} mode; cancel the "
                 "rest by hand once it trades again)")
    return text


def heartbeat_sender(conn: Connection) -> Any:
    """A `previous id -> next id` function for the daemon's heartbeat pulse."""

    def send(previous: str) -> str:
        return conn.client.post_heartbeat(previous).heartbeat_id

    return send
