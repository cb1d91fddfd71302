//go:build !e2e

package server

import "testing"

func runTests(m *testing.M) int { return m.Run() }
