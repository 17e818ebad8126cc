"""Where a gallery lives and how it is sealed: the home folder and its lock, the master and data
keys, AES-GCM sealing of values and files."""
