import uuid

# Ten names in the order of their random keys: two runs put them alike once in 10! (3.6 million).
items = {str(uuid.uuid4()): name for name in ["conv", "dense", "norm", "head", "emb", "attn", "pool", "drop", "gate", "proj"]}
print([items[k] for k in sorted(items)])
