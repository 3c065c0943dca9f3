"""Helpers for the test suite: no tests and no fixtures here (the fixtures are in
tests/conftest.py). Test modules import from these modules, never from one another.

- `accounts`: fresh private keys, wallets and API-keyed clients, generated at test time.
- `clock`: `ManualClock`, unix seconds that move only when a test says so.
- `daemon`: a scripted ticker and a daemon running in a thread, for the daemon loop's tests.
- `hostile_http`: a hostile HTTP server on 127.0.0.1 for the client's boundary tests.
- `engine`: the in-process engine harness (a reconciler on a real paper exchange and a real state
  file, with a session that counts what is sent), desired-file writers, plan builders, and
  switches for the paper exchange's fault injection.
- `loopback`: a scripted HTTP server on 127.0.0.1 for the client's transport tests.
- `amounts_model`: an independent (Fraction) model of the order amounts and the official SDKs'
  values, with the float artefacts that explain every difference.
- `paper`: the tokens the paper exchange tests trade and a raw-HTTP trader that can tamper.
- `exchange`: the 2026 exchange's switches (admin routes over HTTP), a session that loses or
  refuses chosen requests, and a clock a test moves forward.
- `processes`: the end-to-end harness (the exchange and the daemon as real processes, a
  counting proxy); the latency bench uses it too.
- `suite_shape`: the check that no module under tests/ imports a test module (run by conftest).
"""
