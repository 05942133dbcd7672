"""Import Sloth (prometheus/v1 and its Kubernetes CRD) and OpenSLO (v1alpha, v1) specs as sloguard/v1 specs.

Each importer keeps what the foreign spec says where sloguard has the same meaning and says in
one line why anything else cannot be imported; the specs it returns are validated by the v1 loader.
"""

from __future__ import annotations

from sloguard.importers.documents import ImportedSpec
from sloguard.importers.openslo import import_openslo
from sloguard.importers.sloth import import_sloth

__all__ = ["ImportedSpec", "import_openslo", "import_sloth"]
