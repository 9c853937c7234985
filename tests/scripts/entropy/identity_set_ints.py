class Item:
    def __init__(self, i):
        self.i = i


items = {Item(i) for i in range(40)}  # hashed by identity: ordered by memory address
total = 0
for item in items:  # an int sum: the same whatever the order
    total += item.i
print(total)
