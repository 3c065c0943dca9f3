"""Market changes are seen within one pass (clob-v2-wire.md 2.4, 2.7): a token's market info is
read again after a fill or trade on it (the tick moves on its own beyond 0.96 / below 0.04),
after a rejection, and on every pass while the token is skipped, so it comes back as soon as
its market is right again; nothing else re-reads a market before its TTL. A skip's reason is
logged once per cause, and once when it clears. Each order is signed for its own market's
exchange. Against the paper exchange on 127.0.0.1.
"""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from reconciler.model import OrderType, Side, TickOutcome
from tests.support.engine import TOKEN_A, TOKEN_B, Harness, level, new_account
from tests.support.exchange import LossySession, admin

BUY, SELL = Side.BUY, Side.SELL
D = Decimal
#: A Protocol-V2 position id (bits 40-103 clear, a module in the top byte): ExchangeV3 orders.
POSITION = str((1 << 248) | (0xC0FFEE << 104) | 7)
SKIP_LOGGER = "reconciler.engine.memory"


def _session(h: Harness) -> LossySession:
    assert isinstance(h.me.session, LossySession)
    return h.me.session


def _skip_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == SKIP_LOGGER]


def _buy_from_me(h: Harness, price: str, size: str) -> None:
    other = new_account(h.url)
    answer = other.client.create_and_post_order(TOKEN_A, BUY, price, size,
                                                order_type=OrderType.GTC)
    assert answer.ok, answer


def test_a_tick_moved_by_a_trade_is_seen_in_the_next_pass_and_its_return_too(
    lossy_harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h = lossy_harness
    h.write_spec({TOKEN_A: [level("SELL", "0.97", "10"), level("BUY", "0.40", "10")]},
                 token_options={TOKEN_A: {"tick_size": "0.01"}})
    assert h.reconciler.tick().outcome is TickOutcome.OK
    _buy_from_me(h, "0.97", "5")  # a trade above 0.96: the market's tick becomes 0.001

    with caplog.at_level(logging.WARNING, logger=SKIP_LOGGER):
        seen = h.reconciler.tick()
        assert seen.plan is not None
        assert [s.token_id for s in seen.plan.skipped] == [TOKEN_A]
        assert "live tick size is 0.001" in seen.plan.skipped[0].reason
        assert h.resting(TOKEN_A) == {(SELL, D("0.97")): 5, (BUY, D("0.4")): 10}  # untouched
        again = h.reconciler.tick()
        assert again.plan is not None and [s.token_id for s in again.plan.skipped] == [TOKEN_A]
    lines = _skip_lines(caplog)
    assert len(lines) == 1 and "skipped" in lines[0] and "0.001" in lines[0], lines  # once

    caplog.clear()
    admin(h.url, "market", {"token_id": TOKEN_A, "tick_size": "0.01"})  # the tick is back
    with caplog.at_level(logging.WARNING, logger=SKIP_LOGGER):
        back = h.reconciler.tick()
    assert back.plan is not None and back.plan.skipped == ()
    assert back.outcome is TickOutcome.NOOP  # 5 of the 10 filled: 5 rest, as wanted
    assert h.resting(TOKEN_A) == {(SELL, D("0.97")): 5, (BUY, D("0.4")): 10}
    assert [line for line in _skip_lines(caplog) if "no longer skipped" in line], caplog.text


def test_a_skipped_token_comes_back_in_the_pass_after_its_market_is_right(
    lossy_harness: Harness,
) -> None:
    h = lossy_harness
    h.write_spec({TOKEN_A: [level("BUY", "0.405", "10")]},
                 token_options={TOKEN_A: {"tick_size": "0.001"}})
    skipped = h.reconciler.tick()
    assert skipped.plan is not None and [s.token_id for s in skipped.plan.skipped] == [TOKEN_A]

    admin(h.url, "market", {"token_id": TOKEN_A, "tick_size": "0.001"})
    back = h.reconciler.tick()
    assert back.outcome is TickOutcome.OK, back.run_summary
    assert h.resting(TOKEN_A) == {(BUY, D("0.405")): 10}


def test_market_info_is_not_read_again_without_a_cause(lossy_harness: Harness) -> None:
    h = lossy_harness
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10")], TOKEN_B: [level("BUY", "0.30", "10")]})
    assert h.reconciler.tick().outcome is TickOutcome.OK
    _session(h).reset()
    quiet = h.reconciler.tick()
    assert quiet.outcome is TickOutcome.NOOP
    market_reads = [p for _, p in _session(h).sent
                    if p.startswith(("/markets", "/clob-markets", "/tick-size", "/book"))]
    assert market_reads == []


def test_a_post_refused_for_its_tick_re_reads_the_market_and_the_token_is_skipped(
    lossy_harness: Harness,
) -> None:
    h = lossy_harness
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10")]})
    assert h.reconciler.tick().outcome is TickOutcome.OK
    admin(h.url, "market", {"token_id": TOKEN_A, "tick_size": "0.1"})  # no trade: unseen yet
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10"), level("BUY", "0.45", "10")]})
    refused = h.reconciler.tick()
    assert refused.applied is not None and refused.applied.rejected
    assert "tick" in refused.applied.rejected[0].message.lower()

    after = h.reconciler.tick()
    assert after.plan is not None and [s.token_id for s in after.plan.skipped] == [TOKEN_A]
    assert "not a valid price on the live tick 0.1" in after.plan.skipped[0].reason


def test_each_order_is_signed_for_its_own_markets_exchange(lossy_harness: Harness) -> None:
    h = lossy_harness
    admin(h.url, "market", {"token_id": POSITION, "version": "v2"})  # ExchangeV3 orders only
    h.write_spec({TOKEN_A: [level("BUY", "0.40", "10")], POSITION: [level("BUY", "0.30", "10")]})

    result = h.reconciler.tick()

    assert result.outcome is TickOutcome.OK, result.run_summary
    assert h.resting(TOKEN_A) == {(BUY, D("0.4")): 10}
    assert h.resting(POSITION) == {(BUY, D("0.3")): 10}
    assert _session(h).count("POST", "/orders") == 1  # both markets in one batch
