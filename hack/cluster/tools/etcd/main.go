// Command etcd is the etcd server of the local test cluster, built from the
// Go module proxy so that no system package is needed.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
