"""The reference zoo: families of tiny models with a known family tree (truth.json), built by hubindex itself."""
