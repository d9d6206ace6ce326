import sys
from pathlib import Path

# The tests' own helpers (drawn pages, the fake IMSLP server) are imported as modules.
sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parent.parent
