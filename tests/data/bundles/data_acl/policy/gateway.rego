# Access lists as data: data.json says which roles may use which tool of which server, who
# owns each server and how long a decision may be cached. The decision is one rule (an
# object) built with `else` and a function. Rego v1. Written for sloguard's tests.
package acl.gateway

import rego.v1

server := data.acl.servers[input.server_name]

blocked if input.user.id in data.acl.blocked_users

own_server if server.owner == input.user.tenant

tool_roles := server.tools[input.tool_name]

# "*" opens a tool to everyone, with or without a role.
on_access_list if "*" in tool_roles

on_access_list if {
	some role in input.user.roles
	role in tool_roles
}

ttl := object.get(data.acl.ttl_by_tier, server.tier, 0)

denied(message) := {"allow": false, "reason": message, "cache_ttl": 0}

granted(message) := {"allow": true, "reason": message, "cache_ttl": ttl}

decision := denied("user is blocked") if {
	blocked
} else := {"allow": true, "reason": "any user may list servers", "cache_ttl": 60} if {
	input.action == "gateway:server:list"
} else := denied("unknown server") if {
	not server
} else := denied(sprintf("%s belongs to another tenant", [input.server_name])) if {
	not own_server
} else := granted("server information is open to the owner tenant") if {
	input.action in {"gateway:server:info", "gateway:tool:discover"}
} else := denied(sprintf("%s has no tool %s", [input.server_name, input.tool_name])) if {
	not tool_roles
} else := granted("granted by the tool's access list") if {
	on_access_list
} else := denied("no role of the user is on the tool's access list")
