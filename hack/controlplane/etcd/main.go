// Command etcd is a minimal wrapper around the upstream etcd server entry point,
// so the test control plane can build etcd from its pinned Go module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
