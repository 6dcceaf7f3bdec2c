"""Who may read the lake: users, roles, API tokens, sign-in sessions and the audit log.

Everything lives in the state database (`Store.state()`); tokens, passwords and session ids
are stored hashed, never as given.
"""
