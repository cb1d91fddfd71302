//go:build unix

package install

import (
	"errors"
	"syscall"
)

// processAlive tells whether a process of this host runs (signal 0 checks
// without signalling). EPERM means it runs as someone else.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
