# Code-review gateway. The decision is the package: an object with `allow`, a `deny` set that
# here does feed allow (this policy's own choice), `reason` as a set of messages, and a
# constant `cache_ttl`. Rego v1. Written for sloguard's tests.
package review.gateway

import rego.v1

cache_ttl := 45

invoke if {
	input.action == "gateway:tool:invoke"
	input.server_name == "review-mcp"
}

read_tools := {"get_pr", "list_prs", "get_diff"}

grants contains "reviewers may read pull requests" if {
	invoke
	"reviewer" in input.user.roles
	input.tool_name in read_tools
}

grants contains "reviewers may approve" if {
	invoke
	"reviewer" in input.user.roles
	input.tool_name == "approve_pr"
}

grants contains "maintainers may merge and read" if {
	invoke
	"maintainer" in input.user.roles
	input.tool_name in (read_tools | {"merge_pr"})
}

approvals := object.get(input.parameters, "approvals", 0)

deny contains "merging needs two approvals" if {
	input.tool_name == "merge_pr"
	approvals < 2
}

deny contains "authors may not merge their own pull request" if {
	input.tool_name == "merge_pr"
	input.parameters.author == input.user.id
}

deny contains "authors may not approve their own pull request" if {
	input.tool_name == "approve_pr"
	input.parameters.author == input.user.id
}

default allow := false

allow if {
	count(grants) > 0
	count(deny) == 0
}

reason contains message if some message in deny

reason contains message if {
	count(deny) == 0
	some message in grants
}

reason contains "no rule grants this request" if {
	count(deny) == 0
	count(grants) == 0
}
