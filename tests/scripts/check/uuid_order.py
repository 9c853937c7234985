import uuid

items = {str(uuid.uuid4()): name for name in ["conv", "dense", "norm", "head", "emb"]}
print([items[k] for k in sorted(items)])
