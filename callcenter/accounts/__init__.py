"""Staff accounts: operators, interpreters, supervisors; passwords (argon2) and sessions."""
