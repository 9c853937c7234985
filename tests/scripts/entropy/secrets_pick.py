import secrets

print([secrets.randbelow(1000) for _ in range(4)])
