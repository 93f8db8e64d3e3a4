// Command gitserver serves the bare repositories under -root over Git
// smart-HTTP (git http-backend) and prints the base URL on stdout, for
// scripts and benchmarks that need a git server as a separate process.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ferry-dev/ferry/e2e/gitserver"
)

func main() {
	root := flag.String("root", "", "directory holding the bare repositories (required)")
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	if *root == "" {
		fmt.Fprintln(os.Stderr, "gitserver: -root is required")
		os.Exit(2)
	}
	srv, err := gitserver.Start(*root, gitserver.WithAddr(*addr))
	if err != nil {
		slog.Error("start", "err", err)
		os.Exit(1)
	}
	fmt.Println(srv.URL())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	srv.Close()
}
