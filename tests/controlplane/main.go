// Command controlplane is a Kubernetes control plane for jupyter-cloudtty's tests, built from the
// Go modules of one Kubernetes release: etcd, kube-apiserver and kube-controller-manager in one
// binary, chosen by its first argument (as busybox does), so one link serves all three.
//
//	controlplane etcd --data-dir=...
//	controlplane kube-apiserver --etcd-servers=...
//	controlplane kube-controller-manager --kubeconfig=...
//	controlplane version
package main

import (
	"fmt"
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

// release is the Kubernetes release this binary is built from (go.mod pins every k8s.io module to it).
const release = "v1.37.2"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: controlplane etcd|kube-apiserver|kube-controller-manager|version [flags]")
		os.Exit(2)
	}
	program, args := os.Args[1], os.Args[2:]
	switch program {
	case "etcd":
		etcdmain.Main(append([]string{"etcd"}, args...))
	case "kube-apiserver":
		command := apiserver.NewAPIServerCommand()
		command.SetArgs(args)
		os.Exit(cli.Run(command))
	case "kube-controller-manager":
		command := controllermanager.NewControllerManagerCommand()
		command.SetArgs(args)
		os.Exit(cli.Run(command))
	case "version":
		fmt.Println(release)
	default:
		fmt.Fprintf(os.Stderr, "controlplane: unknown program %q\n", program)
		os.Exit(2)
	}
}
