"""The vocabulary of the foreign formats sloguard reads and writes: Sloth's two spec forms and OpenSLO.

Nothing else spells these names: the importers and sloguard.exporters take them from here.
"""

from __future__ import annotations

import re

# Sloth's plain spec (github.com/slok/sloth, pkg/prometheus/api/v1) and its Kubernetes CRD
# (pkg/kubernetes/api/sloth/v1): the same fields, snake_case in one and camelCase in the other.
SLOTH_VERSION = "prometheus/v1"
SLOTH_K8S_API_VERSION = "sloth.slok.dev/v1"
SLOTH_K8S_KIND = "PrometheusServiceLevel"
# The CRD's spelling of each field whose plain-spec name has an underscore.
SLOTH_K8S_KEYS = {
    "errorQuery": "error_query",
    "totalQuery": "total_query",
    "errorRatioQuery": "error_ratio_query",
    "pageAlert": "page_alert",
    "ticketAlert": "ticket_alert",
    "sloPlugins": "slo_plugins",
}
# Sloth's window variable in an SLI query, as its own validation matches it (`{{ *\.window *}}`).
SLOTH_WINDOW = "{{.window}}"
SLOTH_WINDOW_PATTERN = re.compile(r"\{\{ *\.window *\}\}")
# Sloth's SLO period: fixed at 30 days unless its command line says otherwise.
SLOTH_PERIOD_DAYS = 30

# OpenSLO: v1alpha as Sloth reads it, and v1.
OPENSLO_V1ALPHA = "openslo/v1alpha"
OPENSLO_V1 = "openslo/v1"
OPENSLO_SLO = "SLO"
OPENSLO_SLI = "SLI"
OPENSLO_SERVICE = "Service"
OPENSLO_DATA_SOURCE = "DataSource"
OPENSLO_PROMETHEUS = "prometheus"  # a metric source's type, compared lowercased
OPENSLO_PROMQL = "promql"  # v1alpha's queryType
OPENSLO_OCCURRENCES = "Occurrences"
OPENSLO_ROLLING_DAYS = "30d"
