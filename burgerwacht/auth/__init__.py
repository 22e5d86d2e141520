"""Staff access: users with a role and a scope of municipalities, bearer tokens."""
