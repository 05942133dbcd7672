# SARK gateway authorization policy (reference bundle of sloguard's demo service).
# Modelled on SARK's gateway policy: default deny, tenant isolation, role grants per
# server and tool, destructive SQL denied for everyone, cache TTL by server sensitivity.
# Rego v1 syntax; `import rego.v1` keeps it loadable by OPA 0.59+ as well as OPA 1.x.
package sark.gateway

import rego.v1

# Rules read data.sark.servers directly: an alias rule copies the document on every evaluation.
server := data.sark.servers[input.server_name]

roles := input.user.roles

invoke if input.action == "gateway:tool:invoke"

tenant_ok if server.tenant == input.user.tenant

# Parameter keys whose string values are treated as SQL.
sql_keys := {"query", "sql", "statement"}

destructive_sql if {
	some key in sql_keys
	text := input.parameters[key]
	is_string(text)
	regex.match(`(?i)\b(DROP|DELETE|TRUNCATE)\b`, text)
}

# Read-only means a single SELECT with no write keyword anywhere in it.
read_only_sql if {
	text := input.parameters.query
	is_string(text)
	regex.match(`(?i)^\s*SELECT\b`, text)
	not regex.match(`(?i)\b(INSERT|UPDATE|DELETE|DROP|TRUNCATE|ALTER|CREATE|GRANT|REVOKE|MERGE)\b`, text)
}

grants contains "admin may invoke any tool of its tenant" if {
	invoke
	"admin" in roles
	tenant_ok
}

grants contains "analyst may run read-only SQL" if {
	invoke
	"analyst" in roles
	input.server_name == "postgres-mcp"
	input.tool_name == "execute_query"
	read_only_sql
	tenant_ok
}

grants contains "analyst may list and describe tables" if {
	invoke
	"analyst" in roles
	input.server_name == "postgres-mcp"
	input.tool_name in {"list_tables", "describe_table"}
	tenant_ok
}

grants contains "developer may read files and create issues" if {
	invoke
	"developer" in roles
	input.server_name == "github-mcp"
	input.tool_name in {"get_file", "list_issues", "create_issue"}
	tenant_ok
}

grants contains "any member may list servers" if {
	input.action == "gateway:server:list"
	count(roles) > 0
}

grants contains "members may inspect servers of their tenant" if {
	input.action in {"gateway:server:info", "gateway:tool:discover"}
	count(roles) > 0
	tenant_ok
}

denies contains "destructive SQL is denied for everyone" if destructive_sql

denies contains "server belongs to another tenant" if {
	server
	not tenant_ok
}

denies contains "unknown server" if {
	input.action != "gateway:server:list"
	not data.sark.servers[input.server_name]
}

default allow := false

allow if {
	count(denies) == 0
	count(grants) > 0
}

reason := concat("; ", sort(denies)) if count(denies) > 0
else := concat("; ", sort(grants)) if count(grants) > 0
else := "default deny: no rule grants this request"

# Cache TTL in seconds by the server's sensitivity; critical decisions are never cached.
ttl_by_sensitivity := {"critical": 0, "high": 60, "medium": 300, "low": 1800}

sensitivity := server.sensitivity if server
else := "medium" if input.action == "gateway:server:list"
else := "high"

cache_ttl := object.get(ttl_by_sensitivity, sensitivity, 0)

# Secrets never travel to the tool, even when the call is allowed.
secret_keys := {"password", "secret", "token", "api_key", "credentials"}

filtered_parameters := {k: v | some k, v in input.parameters; not lower(k) in secret_keys} if allow
else := {}

decision := {
	"allow": allow,
	"reason": reason,
	"filtered_parameters": filtered_parameters,
	"cache_ttl": cache_ttl,
}
