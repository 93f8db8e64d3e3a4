//go:build unix

package gitea

import (
	"os/exec"
	"syscall"
)

// ownGroup puts Gitea in its own process group so killGroup also stops the
// git processes it spawns, which would otherwise hold the temp dir open.
func ownGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
