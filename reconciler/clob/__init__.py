"""Everything that talks to the exchange: auth (L1/L2), order building and signing, the REST client."""
