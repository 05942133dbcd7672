# Bulk exports through an export server. Rego v1 (`import rego.v1`): `every`, `some ... in`,
# `contains`, `if`, `else`; the decision is one rule whose value is an object, and whose
# reason is a set of problems when there are any. Written for sloguard's tests.
package batch.export

import rego.v1

max_items := 5

formats := {"csv", "json", "parquet"}

exporting if {
	input.action == "gateway:tool:invoke"
	input.server_name == "export-mcp"
	input.tool_name == "export_rows"
}

items := object.get(input.parameters, "items", [])

problems contains "nothing to export" if count(items) == 0

problems contains "too many items in one export" if count(items) > max_items

# object.get, not item.format: under `not`, OPA makes a body with an undefined nested term
# undefined (open-policy-agent/opa#1877) where regorus makes the negation true.
problems contains sprintf("item %d: unsupported format", [i]) if {
	some i, item in items
	not object.get(item, "format", null) in formats
}

# An empty list owns nothing and is caught by "nothing to export" above.
own_tenant_only if {
	every item in items {
		item.tenant == input.user.tenant
	}
}

may_export if "exporter" in input.user.roles

may_export if {
	"analyst" in input.user.roles
	every item in items {
		item.format == "csv"
	}
}

decision := {"allow": false, "reason": "only export_rows on export-mcp is decided here", "cache_ttl": 0} if {
	not exporting
} else := {"allow": false, "reason": problems, "cache_ttl": 0} if {
	count(problems) > 0
} else := {"allow": false, "reason": "an item belongs to another tenant", "cache_ttl": 0} if {
	not own_tenant_only
} else := {"allow": false, "reason": "exporting needs the exporter role, or analyst for csv only", "cache_ttl": 0} if {
	not may_export
} else := {"allow": true, "reason": sprintf("export of %d items granted", [count(items)]), "cache_ttl": 15}
