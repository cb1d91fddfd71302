//go:build e2e

// Package e2e holds tests that need the real local cluster and span more than
// one meshctl package. Tests of a single package live beside it.
package e2e

import (
	"os"
	"testing"

	"github.com/meshctl/meshctl/internal/testcluster"
)

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }
