"""The one Decimal converter of `clob/`, and the one secp256k1 constant.

Money never passes through a float (STYLE 9): JSON is parsed with `parse_float=Decimal`, and a
float handed in by a caller is refused, not converted. What differs between the callers is only
what a bad value is: for an answer of the exchange it is a `ProtocolError` (nothing read is
trusted), for a caller's argument a `ValueError`-family error. So the converter takes the error
class to raise instead of being written four times.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

#: secp256k1 group order: a private key is in [1, n); a signature's s must be <= n/2.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def exact_decimal(
    value: object,
    what: str,
    *,
    invalid: type[Exception],
    wrong_type: type[Exception] = TypeError,
    non_negative: bool = False,
) -> Decimal:
    """`value` (a Decimal, an int or a decimal string) as a finite Decimal.

    A float, a bool or any other type raises `wrong_type`; text that is not a number, a NaN or
    an infinity (or a negative number when `non_negative`) raises `invalid`. Messages name
    `what` and quote the value, which is never a secret here (amounts, prices, ticks).
    """
    if isinstance(value, float):
        raise wrong_type(f"{what} must be a Decimal, int or decimal string, never float: {value!r}")
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise wrong_type(f"{what}: expected a decimal, got {value!r}")
    try:
        result = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        raise invalid(f"{what}: not a decimal: {value!r}") from None
    if not result.is_finite():
        raise invalid(f"{what}: not a finite decimal: {value!r}")
    if non_negative and result < 0:
        raise invalid(f"{what}: must not be negative, got {value!r}")
    return result
