"""`reconciler doctor`: a preflight. Each check prints PASS, WARN or FAIL, what it saw, and what
to do; the command exits 1 when any check fails. It only reads (the exchange and the state file,
`mode=ro`), so it runs beside a daemon.

Checks, in order (a check that cannot run because an earlier one failed says so):
1. the exchange answers at the host (GET /version), and accepts an L1 signature for CHAIN_ID
   (when it does not but does for another known chain, that chain is named);
2. the key and the funder agree with the signature type (type 0 signs for the key's own address;
   types 1-3 for a different wallet, the funder);
3. the API credentials work (GET /auth/api-keys), or can be derived from the key;
4. balances and allowances cover the declared buys (price x size, summed) and sells (shares per
   token);
5. the asserted tick sizes and neg-risk flags match the markets, and the markets take orders;
6. the clock: the skew against the exchange's time (GET /time). Signed requests carry this
   machine's time; the reference does not say how much skew the exchange accepts, so more than
   a few seconds is a warning;
7. the rate-limit tier the exchange reports for the signer (GET /v1/user/rate-limit-tier);
8. the state file: ours, and this account's (or not created yet).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from reconciler.cli import output as out
from reconciler.cli.commands.common import paper_note
from reconciler.cli.errors import describe_exchange_error
from reconciler.cli.settings import Settings
from reconciler.cli.wiring import Connection, connect, state_identity
from reconciler.clob import AssetType, ClobError
from reconciler.engine import load_desired
from reconciler.model import Side
from reconciler.spec import DesiredState
from reconciler.store import StateFileError, Store

#: Clock skew (seconds) above which doctor warns.
SKEW_WARN_SECONDS = 5


@dataclass(frozen=True)
class Check:
    name: str
    verdict: str  # PASS | WARN | FAIL
    text: str


def doctor(args: argparse.Namespace, settings: Settings) -> int:
    checks: list[Check] = []
    try:
        conn = connect(settings, derive_first=True)
    except ClobError as exc:
        checks.append(Check("exchange", "FAIL", describe_exchange_error(exc, settings)))
        return _report(checks)
    except Exception as exc:  # a chain id mismatch, a missing key: SettingsError says what to do
        checks.append(Check("exchange", "FAIL", str(exc)))
        return _report(checks)
    with conn:
        paper_note(settings, url=conn.host)
        loaded = load_desired(settings.desired_dir)
        spec = loaded.spec
        for check in (_exchange, _signer, _credentials):
            checks.append(_run(check, conn, settings))
        if spec is None:
            checks.append(Check("desired", "FAIL", f"{settings.desired_dir} does not load ("
                                f"{out.plural(len(loaded.errors), 'error')}); `reconciler "
                                "validate` shows them"))
        else:
            checks.append(_run(lambda c, s: _funds(c, spec), conn, settings))
            checks.append(_run(lambda c, s: _markets(c, spec), conn, settings))
        for check in (_clock, _tier, _state_file):
            checks.append(_run(check, conn, settings))
    return _report(checks)


def _run(check: Callable[[Connection, Settings], Check], conn: Connection,
         settings: Settings) -> Check:
    name = getattr(check, "__name__", "check").strip("_")
    try:
        return check(conn, settings)
    except ClobError as exc:
        return Check(name, "FAIL", describe_exchange_error(exc, settings))


def _report(checks: list[Check]) -> int:
    rows = [(c.verdict, c.name, c.text) for c in checks]
    for verdict, name, text in rows:
        print(f"{verdict:<4}  {name:<12}  {text}")
    failed = sum(1 for c in checks if c.verdict == "FAIL")
    warned = sum(1 for c in checks if c.verdict == "WARN")
    print(f"\n{out.plural(len(checks), 'check')}: {failed} failed, {warned} with a warning")
    return 1 if failed else 0


# --- the checks ------------------------------------------------------------------------------


def _exchange(conn: Connection, settings: Settings) -> Check:
    version = conn.client.get_version()
    return Check("exchange", "PASS", f"{conn.host} answers (order protocol version {version}) "
                 f"and accepts this key's L1 signature for chain {settings.chain_id}")


def _signer(conn: Connection, settings: Settings) -> Check:
    wallet = conn.wallet
    kind = int(wallet.signature_type)
    if settings.paper:
        return Check("signer", "PASS", f"a throwaway key for the paper exchange ({wallet.address})")
    if kind == 0:
        if settings.funder and settings.funder.lower() != wallet.address.lower():
            return Check("signer", "FAIL", f"SIGNATURE_TYPE 0 signs for the key's own address "
                         f"{wallet.address}, but FUNDER_ADDRESS is {settings.funder}: unset "
                         "FUNDER_ADDRESS, or set the SIGNATURE_TYPE of that wallet (1 proxy, "
                         "2 Safe, 3 deposit wallet)")
        return Check("signer", "PASS", f"type 0 (EOA): the key's address {wallet.address} "
                     "holds the funds")
    if wallet.maker.lower() == wallet.address.lower():
        return Check("signer", "FAIL", f"SIGNATURE_TYPE {kind} means a separate wallet holds "
                     f"the funds, but FUNDER_ADDRESS is the key's own address; set it to the "
                     "proxy, Safe or deposit wallet, or use SIGNATURE_TYPE 0")
    return Check("signer", "PASS", f"type {kind}: key {wallet.address} signs for the funder "
                 f"{wallet.maker} (that the funder is this key's wallet is not checked here)")


def _credentials(conn: Connection, settings: Settings) -> Check:
    keys = conn.client.get_api_keys()
    where = "given (API_KEY, SECRET, PASSPHRASE)" if settings.has_api_creds else \
        "derived from the key with an L1 signature"
    return Check("credentials", "PASS", f"the API key {where} works ({out.plural(len(keys), 'key')} "
                 "on this wallet)")


def _funds(conn: Connection, spec: DesiredState) -> Check:
    buys = sum((lv.key.price * lv.size for t in spec.tokens for lv in t.levels
                if lv.key.side is Side.BUY), Decimal(0))
    sells: dict[str, Decimal] = {}
    for token in spec.tokens:
        for level in token.levels:
            if level.key.side is Side.SELL:
                sells[token.token_id] = sells.get(token.token_id, Decimal(0)) + level.size
    collateral = conn.client.get_balance_allowance(AssetType.COLLATERAL)
    problems: list[str] = []
    if collateral.balance_decimal < buys:
        problems.append(f"collateral {out.amount(collateral.balance_decimal)} pUSD is less than "
                        f"the declared buys' {out.amount(buys)}")
    short = [s for s, units in collateral.allowances.items() if Decimal(units) / 10**6 < buys]
    if buys and (not collateral.allowances or len(short) == len(collateral.allowances)):
        problems.append(f"no exchange allowance covers the declared buys' {out.amount(buys)} "
                        "pUSD; approve the exchange contracts (`reconciler balance` lists them)")
    for token_id, size in sorted(sells.items()):
        shares = conn.client.get_balance_allowance(AssetType.CONDITIONAL, token_id)
        if shares.balance_decimal < size:
            problems.append(f"token {out.short_token(token_id)}: {out.amount(shares.balance_decimal)}"
                            f" shares, less than the declared sells' {out.amount(size)}")
    if problems:
        return Check("funds", "FAIL", "; ".join(problems) + " (sells are trimmed to the "
                     "balance, and the exchange refuses buys it cannot fund)")
    return Check("funds", "PASS", f"collateral {out.amount(collateral.balance_decimal)} pUSD "
                 f"covers the declared buys ({out.amount(buys)}); "
                 f"{out.plural(len(sells), 'token')} with sells, each covered by its shares")


def _markets(conn: Connection, spec: DesiredState) -> Check:
    problems: list[str] = []
    for token in spec.tokens:
        conn.client.clear_market_cache(token.token_id)
        info = conn.client.get_market_info(token.token_id)
        name = out.token_cell(token.token_id, spec.labels)
        if not info.accepting_orders:
            problems.append(f"{name}: the market does not take orders (closed or resolved)")
        if token.tick_size is not None and token.tick_size != info.tick_size:
            problems.append(f"{name}: tick_size {token.tick_size} asserted, the market's is "
                            f"{info.tick_size}")
        if token.neg_risk is not None and token.neg_risk != info.neg_risk:
            problems.append(f"{name}: neg_risk {str(token.neg_risk).lower()} asserted, the "
                            f"market's is {str(info.neg_risk).lower()}")
    if problems:
        return Check("markets", "FAIL", "; ".join(problems) + ": those tokens are skipped until "
                     "the spec is updated")
    asserted = sum(1 for t in spec.tokens if t.tick_size is not None or t.neg_risk is not None)
    verb = "takes" if len(spec.tokens) == 1 else "take"
    return Check("markets", "PASS", f"{out.plural(len(spec.tokens), 'token')} {verb} orders; "
                 f"{asserted} with assertions, all matching")


def _clock(conn: Connection, settings: Settings) -> Check:
    before = time.time()
    server = conn.client.get_server_time()
    local = (before + time.time()) / 2
    skew = local - (server / 1000 if server > 10**11 else server)
    text = f"this machine is {abs(skew):.1f} s {'ahead of' if skew >= 0 else 'behind'} the exchange"
    if abs(skew) > SKEW_WARN_SECONDS:
        return Check("clock", "WARN", text + "; signed requests carry this machine's time: "
                     "keep the clock in sync (NTP)")
    return Check("clock", "PASS", text)


def _tier(conn: Connection, settings: Settings) -> Check:
    try:
        answer: Any = conn.client.get_rate_limit_tier()
    except ClobError as exc:
        return Check("rate limits", "WARN", f"the exchange did not report a tier ({exc}); the "
                     f"pacing assumes {conn.client.rate_tier.name}")
    tier = answer.get("tier", answer) if isinstance(answer, dict) else answer
    return Check("rate limits", "PASS", f"the signer's tier: {tier} (refreshed by the exchange "
                 "every 3 h)")


def _state_file(conn: Connection, settings: Settings) -> Check:
    path = settings.state_path
    if not path.exists():
        return Check("state file", "PASS", f"{path} does not exist yet; the first `run` or "
                     "`apply` creates it for this account")
    wanted = state_identity(settings, conn)
    try:
        with Store.open(path, read_only=True) as store:
            recorded = store.identity()
    except StateFileError as exc:
        return Check("state file", "FAIL", str(exc))
    if recorded is None:
        return Check("state file", "WARN", f"{path} is ours but names no account yet; the next "
                     f"`run` binds it to {wanted.describe()}")
    if not recorded.same_account(wanted):
        return Check("state file", "FAIL", f"{path} belongs to {recorded.describe()}, not to "
                     f"{wanted.describe()}: use that account's state file, or another --state")
    return Check("state file", "PASS", f"{path} belongs to {recorded.describe()}")
