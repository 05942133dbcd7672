# Support-desk gateway. The shape of SARK's gateway policy (a package decision, a default-deny
# `allow` with several bodies, a `deny` set that shapes the reason, `reason`,
# `filtered_parameters` and `cache_ttl`), with rules of its own. Written for sloguard's tests.
package helpdesk.gateway

import future.keywords.contains
import future.keywords.if
import future.keywords.in

default allow := false

invoke if input.action == "gateway:tool:invoke"

secret_keys := {"password", "api_key", "token"}

has_resolution if {
	is_string(input.parameters.resolution)
	count(trim_space(input.parameters.resolution)) > 0
}

# Leads may run any tool of the ticket and knowledge-base servers.
allow if {
	invoke
	input.user.roles[_] == "lead"
	input.server_name in ["tickets-mcp", "kb-mcp"]
}

# Agents may read tickets and comment on them.
allow if {
	invoke
	input.user.roles[_] == "agent"
	input.server_name == "tickets-mcp"
	input.tool_name in ["get_ticket", "search_tickets", "add_comment"]
}

# Agents may close a ticket when they say how it was resolved.
allow if {
	invoke
	input.user.roles[_] == "agent"
	input.server_name == "tickets-mcp"
	input.tool_name == "close_ticket"
	has_resolution
}

# Anyone with a role may search the knowledge base.
allow if {
	invoke
	count(input.user.roles) > 0
	input.server_name == "kb-mcp"
	input.tool_name == "search_articles"
}

# Auditors may read billing records.
allow if {
	invoke
	input.user.roles[_] == "auditor"
	input.server_name == "billing-mcp"
	startswith(input.tool_name, "get_")
}

# Listing servers needs a role, any role.
allow if {
	input.action == "gateway:server:list"
	count(input.user.roles) > 0
}

# The deny set explains a denial; it does not decide one (as in SARK's policy).
deny contains "refunds are made by the billing team, not through the gateway" if {
	invoke
	input.server_name == "billing-mcp"
	input.tool_name == "refund"
}

deny contains "a ticket is closed with a resolution note" if {
	invoke
	input.tool_name == "close_ticket"
	not has_resolution
}

deny contains msg if {
	invoke
	some key, _ in input.parameters
	lower(key) in secret_keys
	msg := sprintf("parameter '%s' looks like a secret", [key])
}

reason := sprintf("allowed for %s", [concat(",", input.user.roles)]) if allow

reason := concat("; ", deny) if {
	not allow
	count(deny) > 0
}

reason := "denied: no rule grants this request" if {
	not allow
	count(deny) == 0
}

# Secrets never reach the tool, whatever their case.
filtered_parameters := {key: value |
	some key, value in input.parameters
	not lower(key) in secret_keys
} if allow

filtered_parameters := {} if not allow

cache_ttl := 120 if {
	allow
	input.server_name == "kb-mcp"
}

cache_ttl := 30 if {
	allow
	input.server_name != "kb-mcp"
}

cache_ttl := 0 if not allow
