import uuid

records = {uuid.uuid4(): w for w in [1e16, 1.0, -1e16, 1.0, 3.0, 0.5, 2.0, -7.0]}
total = 0.0
for key in sorted(records):  # key order: the uuids' order, new in every run
    total += records[key]
print(repr(total), [records[k] for k in sorted(records)])
