from tests.pack.conftest import small_data  # noqa: F401  (the short copy of the mini data)
