# A bare boolean decision: the decision path names the rule `allow` (rule path, value true or
# false). Rego v1: `some ... in`, `every`, a function with several bodies. Written for
# sloguard's tests.
package simple.authz

import rego.v1

default allow := false

read_prefixes := ["get_", "list_", "search_"]

# Viewers may call read-only tools, on any server.
allow if {
	input.action == "gateway:tool:invoke"
	"viewer" in input.user.roles
	some prefix in read_prefixes
	startswith(input.tool_name, prefix)
}

# Anyone with a role may list servers and read server information.
allow if {
	input.action in {"gateway:server:list", "gateway:server:info"}
	count(input.user.roles) > 0
}

# Operators may call any tool whose parameters are all plain: no key starting with "_", and
# every value a number or a string of at most 20 characters.
allow if {
	input.action == "gateway:tool:invoke"
	"operator" in input.user.roles
	every key, value in input.parameters {
		not startswith(key, "_")
		plain(value)
	}
}

plain(value) if is_number(value)

plain(value) if {
	is_string(value)
	count(value) <= 20
}
