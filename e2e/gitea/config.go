package gitea

import (
	"fmt"
	"os"
)

// appINI is a minimal single-process configuration: sqlite, loopback only,
// no SSH, no outgoing network, in-memory queues and caches, and nothing
// optional (Actions, packages, OAuth2, LFS, bleve) that slows the start.
func appINI(dir, static string, port int, o options) string {
	root := ""
	if os.Geteuid() == 0 {
		// Gitea refuses root; CI containers and this sandbox run as root.
		root = "I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true\n"
	}
	return fmt.Sprintf(`APP_NAME = ferry test Gitea
RUN_MODE = prod
WORK_PATH = %[1]s
%[4]s
[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[3]d
ROOT_URL = http://127.0.0.1:%[3]d/
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false
APP_DATA_PATH = %[1]s/data
STATIC_ROOT_PATH = %[2]s

[database]
DB_TYPE = sqlite3
PATH = %[1]s/data/gitea.db

[repository]
ROOT = %[1]s/repos
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true

[service]
DISABLE_REGISTRATION = true

[log]
MODE = console
LEVEL = warn
ROOT_PATH = %[1]s/log

[webhook]
ALLOWED_HOST_LIST = loopback

[queue]
TYPE = channel

[indexer]
ISSUE_INDEXER_TYPE = db

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[mailer]
ENABLED = false

[oauth2]
ENABLED = %[5]t

[actions]
ENABLED = false

[packages]
ENABLED = false

[cron.update_checker]
ENABLED = false
`, dir, static, port, root, o.oauth2)
}
