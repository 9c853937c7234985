class Item:
    def __init__(self, i):
        self.i = i
        self.w = (-1.0) ** i * 10.0 ** (i % 17) * 1.1**i


items = {Item(i) for i in range(40)}  # hashed by identity: by memory address
total = 0.0
for item in sorted(items, key=lambda o: o.i):
    total += item.w
print(repr(total), [item.i for item in sorted(items, key=lambda o: o.i)][:8])
