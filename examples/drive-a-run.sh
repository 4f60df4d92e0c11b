#!/usr/bin/env bash
# Drives one agent run end to end with nothing but `pplane` commands:
# a tenant, a signal, a run with two steps, tool calls, a failure and its
# retry, a checkpoint, an effect request to a webhook destination, and
# completion. Every command prints JSON; `field` picks a top-level string
# out of it without jq.
#
#   PPLANE=target/release/pplane examples/drive-a-run.sh
#
# Uses DATABASE_URL when set, otherwise the embedded cluster.
set -euo pipefail
pplane=${PPLANE:-pplane}
field() { sed -n "s/^  \"$1\": \"\([^\"]*\)\".*/\1/p" | head -n 1; }

tenant_json=$($pplane tenant create "Acme Support" --json)
tenant=$(field tenant_id <<<"$tenant_json")
user=$(field user_id <<<"$tenant_json")
as=(--tenant "$tenant" --user "$user")
agent=(--actor agent:support-bot)

signal=$($pplane signal ingest "${as[@]}" --actor external:zendesk --channel zendesk \
    --source-id "ticket-$RANDOM-$$" --payload '{"subject":"Refund please","order":"O-1001"}' \
    --refs '{"order":"O-1001","customer":"C-77"}')
run=$(field run_id <<<"$signal")
correlation=$(field correlation_id <<<"$signal")

$pplane run start "$run" "${as[@]}" "${agent[@]}" >/dev/null
# Where the refund mail goes: a signed webhook (its secret is printed once).
$pplane destination add mailer --webhook https://mail.example.com/hooks/refunds "${as[@]}" >/dev/null

lookup=$($pplane run step add "$run" --type lookup-order --input '{"order":"O-1001"}' "${as[@]}" "${agent[@]}" | field id)
$pplane run step start "$lookup" "${as[@]}" "${agent[@]}" >/dev/null
call=$($pplane run tool start "$lookup" --name orders.get --args '{"id":"O-1001"}' "${as[@]}" "${agent[@]}" | field id)
$pplane run tool finish "$call" --error '{"status":503,"message":"orders service unavailable"}' "${as[@]}" "${agent[@]}" >/dev/null
$pplane run step fail "$lookup" --error '{"reason":"orders service unavailable"}' "${as[@]}" "${agent[@]}" >/dev/null
$pplane run step retry "$lookup" --base-delay-ms 0 "${as[@]}" "${agent[@]}" >/dev/null
$pplane run step start "$lookup" "${as[@]}" "${agent[@]}" >/dev/null
call=$($pplane run tool start "$lookup" --name orders.get --args '{"id":"O-1001"}' "${as[@]}" "${agent[@]}" | field id)
$pplane run tool finish "$call" --result '{"total":42.5,"refundable":true}' "${as[@]}" "${agent[@]}" >/dev/null
$pplane run step complete "$lookup" --output '{"refundable":true}' "${as[@]}" "${agent[@]}" >/dev/null
$pplane run checkpoint save "$run" --state '{"refundable":true,"amount":42.5}' --last-step 0 "${as[@]}" "${agent[@]}" >/dev/null

refund=$($pplane run step add "$run" --type issue-refund "${as[@]}" "${agent[@]}" | field id)
$pplane run step start "$refund" "${as[@]}" "${agent[@]}" >/dev/null
$pplane run effect "$run" --step "$refund" --type SEND_EMAIL --key "refund-mail-$run" \
    --destination mailer --spec '{"to":"c77@example.com","template":"refund-issued"}' \
    "${as[@]}" "${agent[@]}" >/dev/null
$pplane run step complete "$refund" --output '{"refund":"R-1"}' "${as[@]}" "${agent[@]}" >/dev/null
$pplane run complete "$run" "${as[@]}" "${agent[@]}" >/dev/null

echo "tenant=$tenant user=$user run=$run correlation=$correlation"
