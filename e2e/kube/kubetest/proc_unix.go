//go:build unix

package kubetest

import (
	"os/exec"
	"syscall"
)

// ownGroup puts a server in its own process group so killGroup also stops
// whatever it spawns.
func ownGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
