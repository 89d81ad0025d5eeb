"""Writes fixture.json: the schema filter config and the 1 KB / 64 KB order
bodies exactly as benches/load.py sends them (same schema, same bodies)."""
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import load  # noqa: E402

cfg = {"routes": [{"name": "orders", "match": {"path": "/orders", "methods": ["POST"]},
                   "contract": {"body": {"schema": load.BENCH_ORDER_SCHEMA, "max_bytes": 131072}}}]}
out = {"config": cfg, "bodies": {"1 KB": load.order_body(1024).decode(),
                                 "64 KB": load.order_body(65536).decode()}}
text = json.dumps(out)
path = HERE / "fixture.json"
if not path.exists() or path.read_text() != text:
    path.write_text(text)
