# Decisions the policy does not always make. Only tool invocations are decided by the rule
# `decision`: anything else leaves it undefined; a server under maintenance gets an object
# without `allow`; other invocations get {"allow": allow, ...}, itself undefined where `allow`
# is, since `allow` has no default. Read as a package, the value has no `allow` for a user it
# does not grant. Rego v1. Written for sloguard's tests.
package maint.gateway

import rego.v1

maintenance := {"legacy-mcp", "reports-mcp"}

invoke if input.action == "gateway:tool:invoke"

allow if "operator" in input.user.roles

allow if {
	invoke
	"member" in input.user.roles
	input.tool_name in {"status", "ping"}
}

decision := {"reason": "server under maintenance", "cache_ttl": 0} if {
	invoke
	input.server_name in maintenance
}

decision := {"allow": allow, "reason": "decided by role"} if {
	invoke
	not input.server_name in maintenance
}
