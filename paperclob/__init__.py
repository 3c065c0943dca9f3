"""A local paper exchange that speaks the CLOB's wire protocol, for tests, demos and first runs."""
