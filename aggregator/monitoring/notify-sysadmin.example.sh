#!/bin/sh
# Example notify hook for the 2baksa monitor, in the spirit of Box Backup's NotifySysAdmin.sh.
# The monitor runs it (no shell, bounded time) as:
#
#   notify-sysadmin.sh EVENT ACCOUNT_NAME ACCOUNT_NUMBER ALERT_ID RECIPIENT...
#
# EVENT is silent | recovered | error | soft-limit | hard-limit. The recipients are the backup
# administrator and every group administrator of the account. The whole alert is JSON in $BAKSA_ALERT.
# The same ALERT_ID never comes twice from one cluster; a sink fed by several clusters can dedupe on it.
set -eu
event=$1; account=$2; number=$3; alert_id=$4; shift 4
subject="[2baksa] $event: $account ($number)"
body=$(printf '%s\n\nalert id: %s\n%s\n' "$subject" "$alert_id" "${BAKSA_ALERT:-}")
if command -v mail >/dev/null 2>&1; then
  for rcpt in "$@"; do printf '%s\n' "$body" | mail -s "$subject" "$rcpt"; done
else
  logger -t 2baksa-alert -- "$subject alert=$alert_id to=$*"
fi
