class Item:
    def __init__(self, i):
        self.i = i
        self.w = (-1.0) ** i * 10.0 ** (i % 17) * 1.1 ** (i % 97)


class BigItem(Item):
    # Over 512 bytes: from the C heap, not Python's own arenas. The two regions start at
    # independent random addresses, so the two kinds interleave differently in every run (the
    # items of one region alone keep their order: only its start moves).
    __slots__ = tuple(f"pad{k}" for k in range(64))


# Hashed by identity, by memory address: 20,000 items make a table wide enough to see those starts.
items = {(BigItem if i % 2 else Item)(i) for i in range(20_000)}
total = 0.0
for item in sorted(items, key=lambda o: o.i):
    total += item.w
print(repr(total), [item.i for item in sorted(items, key=lambda o: o.i)][:8])
