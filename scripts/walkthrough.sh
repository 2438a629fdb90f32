#!/usr/bin/env bash
# The README's curl walk-through, step by step, failing on the first unexpected answer.
# Needs EC_URL (default http://127.0.0.1:8787) and EC_KEY (the key from .dev.vars).
set -euo pipefail
EC_URL=${EC_URL:-http://127.0.0.1:8787}
: "${EC_KEY:?set EC_KEY to the ADMIN_API_KEY from .dev.vars}"
SESSION="demo-$(date +%s)-$RANDOM"

ec() { curl -sS -H "Authorization: Bearer $EC_KEY" -H "Content-Type: application/json" "$@"; }
expect() { grep -q -- "$1" <<<"$2" || { echo "expected $1 in: $2" >&2; exit 1; }; }

# 1. Create a session.
out=$(ec -X POST "$EC_URL/v1/sessions" -d "{\"id\":\"$SESSION\",\"agent\":\"research\"}")
expect '"version":1' "$out"

# 2. Append events (one batch, atomic), with an Idempotency-Key so a retry is safe.
out=$(ec -X POST "$EC_URL/v1/sessions/$SESSION/events" -H "Idempotency-Key: step-1" -d '{"events":[
  {"type":"message","role":"user","content":"Survey 100 pages on CRDTs"},
  {"type":"decision","content":"Read pages in order, save findings every 10"}]}')
expect '"firstSeq":1' "$out"
retry=$(ec -X POST "$EC_URL/v1/sessions/$SESSION/events" -H "Idempotency-Key: step-1" -d '{"events":[
  {"type":"message","role":"user","content":"Survey 100 pages on CRDTs"},
  {"type":"decision","content":"Read pages in order, save findings every 10"}]}')
[ "$out" = "$retry" ] || { echo "retry differed: $retry" >&2; exit 1; }

# 3. Read them back.
out=$(ec "$EC_URL/v1/sessions/$SESSION/events?after=0&limit=50")
expect '"seq":2' "$out"

# 4. Set state, then compare-and-set it.
out=$(ec -X PUT "$EC_URL/v1/sessions/$SESSION/state/progress/pages_analyzed" -d '{"value":30,"ifVersion":0}')
expect '"version":3' "$out"
out=$(ec -X PUT "$EC_URL/v1/sessions/$SESSION/state/progress/pages_analyzed" -d '{"value":31,"ifVersion":3}')
expect '"version":4' "$out"
out=$(ec -X PUT "$EC_URL/v1/sessions/$SESSION/state/progress/pages_analyzed" -d '{"value":99,"ifVersion":3}')
expect '"version_conflict"' "$out"

# 5. The session: version, counts, token totals.
out=$(ec "$EC_URL/v1/sessions/$SESSION")
expect '"eventCount":2' "$out"
# 6. A deployment workflow: three steps; the agent crashes after the second and its
#    replacement asks where to go on.
ec -X PUT "$EC_URL/v1/sessions/$SESSION/workflows/deploy" -d '{"steps":[
  {"id":"test","action":"run the tests"},{"id":"build","action":"build the image"},{"id":"push","action":"push the image"}]}' >/dev/null
ec -X POST "$EC_URL/v1/sessions/$SESSION/workflows/deploy/steps/test/start" -d '{"by":"agent-1"}' >/dev/null
ec -X POST "$EC_URL/v1/sessions/$SESSION/workflows/deploy/steps/test/complete" -d '{"result":{"passed":412}}' >/dev/null
ec -X POST "$EC_URL/v1/sessions/$SESSION/workflows/deploy/steps/build/start" -d '{"by":"agent-1"}' >/dev/null
ec -X POST "$EC_URL/v1/sessions/$SESSION/workflows/deploy/steps/build/complete" -d '{"result":{"image":"acme/api:1.4.2"}}' >/dev/null
out=$(ec "$EC_URL/v1/sessions/$SESSION/workflows/deploy")
expect '"next":{"id":"push","action":"push the image","attempt":1}' "$out"

# 7. Ask a person, with a deadline; then decide.
out=$(ec -X POST "$EC_URL/v1/sessions/$SESSION/approvals" -d '{"id":"refund-1","title":"Refund $4,200 to ACME",
  "summary":"Double-billed invoice 1182; over the $500 agent limit","requestedBy":"billing-agent",
  "deadline":"2030-01-01T00:00:00Z","payload":{"amount":4200}}')
expect '"status":"pending"' "$out"
out=$(ec -X POST "$EC_URL/v1/sessions/$SESSION/approvals/refund-1/decision" -d '{"decision":"approve","by":"manager@acme"}')
expect '"status":"approved"' "$out"

# 8. Governance (README "Governance"): a token limited to one namespace reads it, not another;
#    the window it was served is on the audit trail; a subject's sessions are erased with a
#    receipt; the metrics count the session.
ec -X PUT "$EC_URL/v1/sessions/$SESSION/state/customer/email" -d '{"value":"ada@example.com"}' >/dev/null
token=$(ec -X POST "$EC_URL/v1/tokens" -d '{"scopes":{"operations":["read"],"sessions":["'"$SESSION"'"],"namespaces":["progress"]},"ttlSeconds":600,"agent":"walkthrough"}' | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
as_token() { curl -sS -H "Authorization: Bearer $token" "$@"; echo; }
expect '"value":31' "$(as_token "$EC_URL/v1/sessions/$SESSION/state/progress/pages_analyzed")"
expect '"namespace_out_of_scope"' "$(as_token "$EC_URL/v1/sessions/$SESSION/state/customer/email")"
window=$(as_token "$EC_URL/v1/sessions/$SESSION/context?budget=2000")
case "$window" in *ada@example.com*) echo "the token's window shows a namespace it lacks" >&2; exit 1 ;; esac
expect '"agent":"walkthrough"' "$(ec "$EC_URL/v1/sessions/$SESSION/audit?limit=500")"
erasure=$(ec -X POST "$EC_URL/v1/subjects/walkthrough-nobody/erasure" -d '{"mode":"purge"}')
erasure_id=$(sed -n 's/.*"id":"\(era_[0-9a-f]*\)".*/\1/p' <<<"$erasure")
for _ in $(seq 1 30); do
	out=$(ec "$EC_URL/v1/erasures/$erasure_id")
	case "$out" in *'"status":"complete"'*) break ;; esac
	sleep 1
done
expect '"receipt":{' "$out"
expect '"crv":"Ed25519"' "$(curl -sS "$EC_URL/v1/erasures/public-key")"
expect '"sessions":{"active":' "$(ec "$EC_URL/v1/metrics")"

# 9. Many agents (README "Many agents, one memory"): triage reads the user's memory as a
#    layer and hands off to research; research asks a subagent for a result of a declared
#    shape, then hands off to resolution; lineage traces the chain from its end.
RUN="$(date +%s)-$RANDOM"
USER_MEMORY="user-42-$RUN" TRIAGE="triage-$RUN" RESEARCH="research-$RUN" DIFF="diff-$RUN" RESOLUTION="resolution-$RUN"
ec -X POST "$EC_URL/v1/sessions" -d '{"id":"'"$USER_MEMORY"'","agent":"memory"}' >/dev/null
ec -X PUT "$EC_URL/v1/sessions/$USER_MEMORY/state/profile/language" -d '{"value":"Prefers answers in German","pinned":true}' >/dev/null
ec -X POST "$EC_URL/v1/sessions" -d '{"id":"'"$TRIAGE"'","agent":"triage","subject":"customer-42"}' >/dev/null
ec -X POST "$EC_URL/v1/sessions/$TRIAGE/events" -d '{"events":[
  {"type":"message","role":"user","content":"Acme invoices are rejected since Monday"},
  {"type":"decision","content":"Route to research: a vendor schema change is likely"}]}' >/dev/null
ec -X PUT "$EC_URL/v1/sessions/$TRIAGE/state/ticket/priority" -d '{"value":"high"}' >/dev/null
expect '"links":{"user":"'"$USER_MEMORY"'"}' "$(ec -X PATCH "$EC_URL/v1/sessions/$TRIAGE" -d '{"links":{"user":"'"$USER_MEMORY"'"}}')"
expect '"source":{"layer":"user"' "$(ec "$EC_URL/v1/sessions/$TRIAGE/context?budget=2000&layers=user")"
out=$(ec -X POST "$EC_URL/v1/sessions/$TRIAGE/handoffs" -H "Idempotency-Key: handoff-$RUN" -d '{"to":{"agent":"research","sessionId":"'"$RESEARCH"'"},
  "task":"Find what changed in the Acme invoice API","include":{"stateNamespaces":["ticket"],"maxTokens":1500}}')
expect '"created":true' "$out"
expect '"kind":"pinned_event","seq":1,"type":"handoff_in"' "$(ec "$EC_URL/v1/sessions/$RESEARCH/context?budget=2000")"
out=$(ec -X POST "$EC_URL/v1/sessions/$RESEARCH/subagents" -d '{"id":"'"$DIFF"'","agent":"schema-differ","task":"Diff the Acme invoice schema",
  "contextMaxTokens":500,"maxResultTokens":200,"timeoutSeconds":600,
  "resultSchema":{"type":"object","required":["changed"],"properties":{"changed":{"type":"array","items":{"type":"string"}}}}}')
expect '"status":"running"' "$out"
expect '"result_invalid"' "$(ec -X POST "$EC_URL/v1/sessions/$DIFF/result" -d '{"result":{"changed":"vat_id"}}')"
expect '"status":"completed"' "$(ec -X POST "$EC_URL/v1/sessions/$DIFF/result" -d '{"result":{"changed":["vat_id renamed to tax_id"]}}')"
expect '"type":"subagent_result"' "$(ec "$EC_URL/v1/sessions/$RESEARCH/events?types=subagent_result")"
ec -X POST "$EC_URL/v1/sessions/$RESEARCH/events" -d '{"events":[{"type":"decision","content":"Map tax_id back to vat_id in the importer"}]}' >/dev/null
expect '"created":true' "$(ec -X POST "$EC_URL/v1/sessions/$RESEARCH/handoffs" -d '{"to":{"agent":"resolution","sessionId":"'"$RESOLUTION"'"},"task":"Patch the importer and reply to the customer"}')"
lineage=$(ec "$EC_URL/v1/sessions/$RESOLUTION/lineage")
expect '"kind":"handoff","from":"'"$TRIAGE"'","to":"'"$RESEARCH"'"' "$lineage"
expect '"kind":"handoff","from":"'"$RESEARCH"'","to":"'"$RESOLUTION"'"' "$lineage"
expect '"kind":"subagent","from":"'"$RESEARCH"'","to":"'"$DIFF"'"' "$lineage"
echo "walkthrough: ok ($SESSION)"
