"""The referee: assemble record folders (`pgolf submit`), check anyone's (`pgolf check`), the
significance statistics (`pgolf stats`) and the table of records (`pgolf leaderboard`)."""
