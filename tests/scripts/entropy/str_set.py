names = {"conv", "dense", "norm", "head", "emb", "pool", "drop", "act"}
print(list(names))  # str hashes: the order changes with PYTHONHASHSEED
